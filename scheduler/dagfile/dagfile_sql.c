/* dagfile_sql: the SQL operators of airflow.providers.common.sql in a DAG file -> struct
 * dag_sql (docs/dag-files.md, "SQL operators").
 *
 * Everything Airflow would reject when it builds the operator is a load error here, at the
 * value: a missing sql or conn_id, a malformed column_mapping or checks (Airflow's own
 * validation rules), a `.sql` template file that is not found, a Python-only argument
 * (handler, success, failure, selector, output_processor), a partition_clause with ';'.
 * Template syntax of every templated field (each operator's template_fields in Airflow) is
 * checked like any other template. The runner renders them per try; nothing here runs SQL.
 *
 * The values Airflow validates (column_mapping, checks, placeholders against parameters,
 * branch follow ids) are checked in dagfile_sqlcheck.c.
 *
 * Invariant: t->sql is allocated before anything is read, so a half-read task frees. */
#include "dagfile_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn.h"
#include "template/template.h"

#define SQL_FILE_MAX (1L << 20) /* a template file larger than this is refused */

static const struct {
    const char *cls;
    enum op_kind op;
} sql_classes[] = {
    {"SQLExecuteQueryOperator", OP_SQL_EXECUTE},
    {"PostgresOperator", OP_SQL_EXECUTE},
    {"SQLCheckOperator", OP_SQL_CHECK},
    {"SQLValueCheckOperator", OP_SQL_VALUE_CHECK},
    {"SQLThresholdCheckOperator", OP_SQL_THRESHOLD_CHECK},
    {"SQLColumnCheckOperator", OP_SQL_COLUMN_CHECK},
    {"SQLTableCheckOperator", OP_SQL_TABLE_CHECK},
    {"BranchSQLOperator", OP_SQL_BRANCH},
    {"SqlSensor", OP_SQL_SENSOR},
};

int
dagfile_sql_op(const char *cls, enum op_kind *op)
{
    for (size_t i = 0; i < sizeof(sql_classes) / sizeof(sql_classes[0]); i++)
        if (strcmp(cls, sql_classes[i].cls) == 0) {
            *op = sql_classes[i].op;
            return 0;
        }
    return -1;
}

void
dagfile_sql_free(struct dag_sql *q)
{
    if (q == NULL)
        return;
    free(q->conn_id);
    free(q->database);
    dagfile_str_list_free(q->sql, q->n_sql);
    dagfile_str_list_free(q->sql_file, q->n_sql);
    free(q->parameters_json);
    free(q->pass_value);
    free(q->min_threshold);
    free(q->max_threshold);
    free(q->table);
    free(q->column_mapping_json);
    free(q->checks_json);
    free(q->partition_clause);
    dagfile_str_list_free(q->follow_true, q->n_follow_true);
    dagfile_str_list_free(q->follow_false, q->n_follow_false);
    free(q);
}

/* What one SQL task is being read with. */
struct sqlctx {
    struct loadctx *c;
    const struct chain *ch;
    struct dag_task *t;
    struct dag_sql *q;
    const char *sid;
    const struct dag *dag;
};

static const struct ynode *
arg(const struct sqlctx *x, const char *key)
{
    const struct ynode *n = dagfile_oget(x->ch, x->t->op, key);

    return n && ynode_is_null(n) ? NULL : n;
}

/* A required argument: 0 when the task has key, else the error "<Operator> needs key<hint>"
 * at the task's mapping and -1. */
static int
require(struct sqlctx *x, const char *key, const char *hint)
{
    if (arg(x, key) != NULL || dagfile_task_maps(x->t, key))
        return 0;
    dagfile_error(x->c, x->ch->maps[0], "task '%s': %s needs %s%s", x->sid, op_kind_name(x->t->op),
                  key, hint);
    return -1;
}

static int
read_tribool(struct sqlctx *x, const char *key, int *out)
{
    bool b;
    const struct ynode *n = arg(x, key);

    if (n == NULL)
        return 0;
    if (dagfile_read_bool(x->c, n, key, &b) < 0)
        return -1;
    *out = b;
    return 0;
}

/* A scalar (string or number) as text: pass_value, thresholds. */
static int
read_scalar(struct sqlctx *x, const char *key, char **out)
{
    const struct ynode *n = arg(x, key);

    if (n != NULL && n->kind != YN_SCALAR) {
        dagfile_error(x->c, n, "task '%s': %s must be a string or a number, not %s", x->sid, key,
                      ynode_what(n));
        return -1;
    }
    return dagfile_read_str(x->c, n, key, out);
}

static int
check_tmpl(struct sqlctx *x, const char *key)
{
    return dagfile_check_template(x->c, x->ch, arg(x, key), key, x->dag->params_json);
}

/* Arguments gust cannot honour with some values (the ones it never honours, such as the
 * Python callables and hook_params, are refused by the key table, dagfile_keys.c). */
static int
refuse_args(struct sqlctx *x)
{
    const struct ynode *n;
    bool b = true;
    int bad = 0;

    if ((n = arg(x, "retry_on_failure")) != NULL &&
        (dagfile_read_bool(x->c, n, "retry_on_failure", &b) < 0 || !b)) {
        if (!b)
            dagfile_error(x->c, n,
                          "task '%s': retry_on_failure: false is not supported (a failed check "
                          "is retried while retries remain; set retries: 0 instead)",
                          x->sid);
        bad = -1;
    }
    if ((n = arg(x, "accept_none")) != NULL &&
        (dagfile_read_bool(x->c, n, "accept_none", &b) < 0 || !b)) {
        if (!b)
            dagfile_error(x->c, n,
                          "task '%s': accept_none: false is not supported (a NULL result counts "
                          "as 0, Airflow's default)",
                          x->sid);
        bad = -1;
    }
    return bad;
}

/* ---- sql: inline text or template files ---- */

static const char *
dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return "";
    snprintf(buf, size, "%.*s", (int)(slash - path), path);
    return buf[0] ? buf : "/";
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether s names a template file for this operator (Airflow's template_ext). */
static bool
is_template_file(enum op_kind op, const char *s)
{
    if (ends_with(s, ".sql"))
        return true;
    if (op == OP_SQL_EXECUTE)
        return ends_with(s, ".json");
    return op != OP_SQL_BRANCH && ends_with(s, ".hql");
}

/* folder + "/" + rel, or rel alone when folder is "" (the working directory). */
static char *
join(const char *folder, const char *rel)
{
    char *p;

    if (folder[0] == '\0')
        return strdup(rel);
    return asprintf(&p, "%s%s%s", folder, ends_with(folder, "/") ? "" : "/", rel) < 0 ? NULL : p;
}

/* The searchpath of the DAG's template files: its own folder, then template_searchpath
 * (relative entries taken from the DAG file's folder). */
static char *
candidate(const struct dag *dag, size_t i, const char *rel)
{
    char buf[4096], *folder, *p;
    const char *home = dir_of(dag->fileloc, buf, sizeof(buf));

    if (i == 0)
        return join(home, rel);
    const char *sp = dag->template_searchpath[i - 1];
    if ((folder = sp[0] == '/' ? strdup(sp) : join(home, sp)) == NULL)
        return NULL;
    p = join(folder, rel);
    free(folder);
    return p;
}

/* Read a template file whole (at most SQL_FILE_MAX bytes). */
static char *
slurp(const char *path, char *why, size_t size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len;

    if (f == NULL) {
        snprintf(why, size, "%s", strerror(errno));
        return NULL;
    }
    if ((buf = malloc(SQL_FILE_MAX + 1)) == NULL)
        snprintf(why, size, "out of memory");
    else if ((len = fread(buf, 1, SQL_FILE_MAX + 1, f)) > SQL_FILE_MAX || ferror(f)) {
        snprintf(why, size, ferror(f) ? "read error" : "larger than %ld bytes", SQL_FILE_MAX);
        free(buf);
        buf = NULL;
    } else {
        buf[len] = '\0';
    }
    fclose(f);
    return buf;
}

/* The line and column (1-based) of byte off in text. */
static void
text_place(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

/* Find rel along the searchpath, check that it reads and that its template is valid. */
static int
find_template(struct sqlctx *x, const struct ynode *at, const char *rel, char **found)
{
    char why[256], tried[1024] = "";
    size_t used = 0, off = 0;
    struct err e = {0};
    struct stat st;
    char *text;

    if (rel[0] == '/' || strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0 ||
        strstr(rel, "/../") != NULL || ends_with(rel, "/..")) {
        dagfile_error(x->c, at,
                      "task '%s': template file '%s' must be a path inside the DAG file's folder "
                      "or a template_searchpath folder (no leading '/', no '..'), as Airflow's "
                      "template loader requires",
                      x->sid, rel);
        return -1;
    }
    for (size_t i = 0; i <= x->dag->n_template_searchpath; i++) {
        char *p = candidate(x->dag, i, rel);
        if (p == NULL) {
            dagfile_error(x->c, at, "out of memory");
            return -1;
        }
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            *found = p;
            break;
        }
        used += (size_t)snprintf(tried + used, used < sizeof(tried) ? sizeof(tried) - used : 0,
                                 "%s%s", i ? ", " : "", p);
        free(p);
    }
    if (*found == NULL) {
        dagfile_error(x->c, at, "task '%s': template file '%s' not found (looked for %s)", x->sid,
                      rel, tried);
        return -1;
    }
    if ((text = slurp(*found, why, sizeof(why))) == NULL) {
        dagfile_error(x->c, at, "task '%s': template file %s: %s", x->sid, *found, why);
        return -1;
    }
    if (tmpl_has_syntax(text) && tmpl_check(text, x->dag->params_json, &off, &e) < 0) {
        int line, col;
        text_place(text, off, &line, &col);
        dagfile_error(x->c, at, "task '%s': template error in %s:%d:%d: %s", x->sid, *found, line,
                      col, e.msg);
        free(text);
        return -1;
    }
    free(text);
    return 0;
}

static int
read_sql(struct sqlctx *x)
{
    const struct ynode *n = arg(x, "sql");
    struct dag_sql *q = x->q;
    int bad = 0;

    if (n == NULL) {
        if (x->t->op != OP_SQL_COLUMN_CHECK && x->t->op != OP_SQL_TABLE_CHECK)
            return require(x, "sql", "");
        return 0;
    }
    if (n->kind == YN_SEQ && x->t->op != OP_SQL_EXECUTE) {
        dagfile_error(x->c, n, "task '%s': %s takes sql as one string, not a list", x->sid,
                      op_kind_name(x->t->op));
        return -1;
    }
    if (n->kind == YN_SCALAR) {
        q->sql = calloc(2, sizeof(char *));
        if (q->sql == NULL || (q->sql[0] = strdup(n->str)) == NULL) {
            dagfile_error(x->c, n, "out of memory");
            return -1;
        }
        q->n_sql = 1;
    } else if (dagfile_read_str_list(x->c, n, "sql", &q->sql, &q->n_sql) < 0) {
        return -1;
    }
    q->sql_is_list = n->kind == YN_SEQ;
    if ((q->sql_file = calloc(q->n_sql + 1, sizeof(char *))) == NULL) {
        dagfile_error(x->c, n, "out of memory");
        return -1;
    }
    if (q->n_sql == 0) {
        dagfile_error(x->c, n, "task '%s': sql is an empty list", x->sid);
        return -1;
    }
    for (size_t i = 0; i < q->n_sql; i++) {
        const struct ynode *at = n->kind == YN_SEQ ? n->items[i] : n;
        char field[32];
        snprintf(field, sizeof(field), n->kind == YN_SEQ ? "sql[%zu]" : "sql", i);
        if (q->sql[i][strspn(q->sql[i], " \t\r\n")] == '\0') {
            dagfile_error(x->c, at, "task '%s': %s is empty", x->sid, field);
            bad = -1;
        } else if (is_template_file(x->t->op, q->sql[i])) {
            bad |= find_template(x, at, q->sql[i], &q->sql_file[i]);
        } else {
            bad |= dagfile_check_template(x->c, x->ch, at, field, x->dag->params_json);
        }
    }
    return bad;
}

/* ---- parameters ---- */

/* Every string in a parameters value: checked as a template (templated), or a warning that
 * its template syntax is passed as written (Airflow does not render it there). */
static int
param_templates(struct sqlctx *x, const struct ynode *n, const char *path, bool *warned)
{
    char sub[256];
    int bad = 0;

    if (n->kind == YN_SCALAR) {
        if (x->q->parameters_templated)
            return dagfile_check_template(x->c, x->ch, n, path, x->dag->params_json);
        if (!*warned && tmpl_has_syntax(n->str)) {
            dagfile_warn(x->c, n,
                         "task '%s': %s is not templated by %s (as in Airflow): its text is "
                         "bound as written",
                         x->sid, path, op_kind_name(x->t->op));
            *warned = true;
        }
        return 0;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YN_SEQ)
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        else
            snprintf(sub, sizeof(sub), "%s.%s", path,
                     ymap_key(n, i)->kind == YN_SCALAR ? ymap_key(n, i)->str : "?");
        bad |= param_templates(x, n->kind == YN_SEQ ? n->items[i] : ymap_val(n, i), sub, warned);
    }
    return bad;
}

static int
read_parameters(struct sqlctx *x)
{
    const struct ynode *n = arg(x, "parameters");
    bool warned = false;

    if (n == NULL)
        return 0;
    if (n->kind == YN_SCALAR) {
        dagfile_error(x->c, n,
                      "task '%s': parameters must be a list (for %%s placeholders) or a mapping "
                      "(for %%(name)s placeholders), not %s",
                      x->sid, ynode_what(n));
        return -1;
    }
    if ((x->q->parameters_json = ynode_to_json(n)) == NULL) {
        dagfile_error(x->c, n, "out of memory");
        return -1;
    }
    x->q->parameters_templated = x->t->op == OP_SQL_EXECUTE || x->t->op == OP_SQL_SENSOR;
    return param_templates(x, n, "parameters", &warned);
}

/* Each statement written out (inline or in a file without template syntax) must match the
 * parameters exactly, as psycopg2 requires; a template or split_statements: true leaves the
 * final text to the run (sql_task checks it then). Without parameters nothing is checked:
 * psycopg2 reads '%' only when parameters are given. */
static int
check_placeholders(struct sqlctx *x)
{
    const struct ynode *p = arg(x, "parameters"), *s = arg(x, "sql");
    int bad = 0;

    if (p == NULL || p->n == 0 || s == NULL || x->q->split_statements == 1)
        return 0;
    for (size_t i = 0; i < x->q->n_sql; i++) {
        const struct ynode *at = s->kind == YN_SEQ ? s->items[i] : s;
        char why[256], field[300],
            *text = x->q->sql_file[i] ? slurp(x->q->sql_file[i], why, sizeof(why))
                                      : strdup(x->q->sql[i]);
        if (text == NULL)
            continue; /* read at load already; a problem now shows at run time */
        if (x->q->sql_file[i])
            snprintf(field, sizeof(field), "%s", x->q->sql_file[i]);
        else
            snprintf(field, sizeof(field), s->kind == YN_SEQ ? "sql[%zu]" : "sql", i);
        if (!tmpl_has_syntax(text))
            bad |= dagfile_sql_placeholders(x->c, x->sid, at, text, field, p);
        free(text);
    }
    return bad;
}

/* ---- column_mapping and checks ---- */

/* A mapping validated by validate (dagfile_sqlcheck.c), kept as JSON text in *out. */
static int
read_checked(struct sqlctx *x, const char *key,
             int (*validate)(struct loadctx *, const char *, const struct ynode *), char **out)
{
    const struct ynode *n = arg(x, key);

    if (n == NULL)
        return require(x, key, "");
    if (validate(x->c, x->sid, n) < 0)
        return -1;
    if ((*out = ynode_to_json(n)) == NULL) {
        dagfile_error(x->c, n, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- per operator ---- */

/* A connection known now (AIRFLOW_CONN_<ID> in the environment of the process that loads
 * the DAGs, which is the one its tasks get) must parse and be a postgres one; a connection
 * only in the metadata database, or a templated conn_id, is checked by sql_task at run. */
static int
check_env_conn(struct sqlctx *x, const struct ynode *at)
{
    struct conn c = {0};
    struct err e = {0};
    int bad = 0;

    if (tmpl_has_syntax(x->q->conn_id))
        return 0;
    if (conn_lookup(x->q->conn_id, NULL, &c, &e) < 0) {
        if (e.code != ERR_NOTFOUND) {
            dagfile_error(x->c, at, "task '%s': %s", x->sid, e.msg);
            bad = -1;
        }
    } else if (c.conn_type == NULL ||
               (strcmp(c.conn_type, "postgres") != 0 && strcmp(c.conn_type, "postgresql") != 0)) {
        dagfile_error(x->c, at,
                      "task '%s': connection '%s' (from the environment) is of type '%s': gust's "
                      "SQL operators run on postgres connections only",
                      x->sid, x->q->conn_id, c.conn_type ? c.conn_type : "(none)");
        bad = -1;
    }
    conn_clear(&c);
    return bad;
}

static int
read_conn(struct sqlctx *x)
{
    const struct ynode *cid = arg(x, "conn_id"), *pg = arg(x, "postgres_conn_id");
    const char *cls = strrchr(x->t->operator_path, '.');
    bool pgop = strcmp(cls ? cls + 1 : x->t->operator_path, "PostgresOperator") == 0;
    int bad = 0;

    if (pgop && cid != NULL && ymap_get(x->ch->maps[0], "conn_id") != NULL) {
        dagfile_error(x->c, cid, "task '%s': PostgresOperator takes postgres_conn_id, not conn_id",
                      x->sid);
        return -1;
    }
    if (!pgop && pg != NULL) {
        dagfile_error(x->c, pg,
                      "task '%s': postgres_conn_id is PostgresOperator's; %s takes conn_id", x->sid,
                      op_kind_name(x->t->op));
        return -1;
    }
    if (pgop)
        cid = pg,
        bad |= dagfile_check_template(x->c, x->ch, pg, "postgres_conn_id", x->dag->params_json);
    else
        bad |= check_tmpl(x, "conn_id");
    if (dagfile_read_str(x->c, cid, pgop ? "postgres_conn_id" : "conn_id", &x->q->conn_id) < 0)
        return -1;
    /* Airflow's defaults: PostgresOperator's postgres_default, BranchSQLOperator's
     * "default_conn_id"; the others have none */
    if (x->q->conn_id == NULL && (pgop || x->t->op == OP_SQL_BRANCH))
        x->q->conn_id = strdup(pgop ? "postgres_default" : "default_conn_id");
    if (x->q->conn_id == NULL && dagfile_task_maps(x->t, "conn_id"))
        return bad; /* each instance's, checked by sql_task when it runs */
    if (x->q->conn_id == NULL || x->q->conn_id[0] == '\0') {
        dagfile_error(x->c, cid ? cid : x->ch->maps[0], "task '%s': %s needs conn_id", x->sid,
                      op_kind_name(x->t->op));
        return -1;
    }
    return bad | check_env_conn(x, cid ? cid : x->ch->maps[0]);
}

static int
read_follow(struct sqlctx *x, const char *key, char ***out, size_t *n_out)
{
    const struct ynode *n = arg(x, key);

    if (n == NULL)
        return require(x, key, "");
    if (n->kind == YN_SCALAR) {
        if ((*out = calloc(2, sizeof(char *))) == NULL || ((*out)[0] = strdup(n->str)) == NULL) {
            dagfile_error(x->c, n, "out of memory");
            return -1;
        }
        *n_out = 1;
        return 0;
    }
    return dagfile_read_str_list(x->c, n, key, out, n_out);
}

/* SqlSensor's own argument; the common sensor ones are read by dagfile_sensor.c. */
static int
read_sensor(struct sqlctx *x)
{
    return read_tribool(x, "fail_on_empty", &x->q->fail_on_empty);
}

static int
read_value_check(struct sqlctx *x)
{
    const struct ynode *n = arg(x, "tolerance");
    struct dag_sql *q = x->q;
    int bad = 0;

    bad |= require(x, "pass_value", "");
    bad |= read_scalar(x, "pass_value", &q->pass_value) | check_tmpl(x, "pass_value");
    if (n != NULL && (n->kind != YN_SCALAR || ynode_double(n, &q->tolerance) < 0 ||
                      !isfinite(q->tolerance) || q->tolerance < 0))
        dagfile_error(x->c, n, "task '%s': tolerance must be a number >= 0, not %s", x->sid,
                      ynode_what(n)),
            bad = -1;
    return bad;
}

static int
read_thresholds(struct sqlctx *x)
{
    int bad = 0;

    for (int i = 0; i < 2; i++) {
        const char *key = i ? "max_threshold" : "min_threshold";
        bad |= require(x, key, " (a number or SQL)");
        bad |= read_scalar(x, key, i ? &x->q->max_threshold : &x->q->min_threshold);
        bad |= check_tmpl(x, key);
    }
    return bad;
}

/* The column and table checks: table, partition_clause, column_mapping or checks. */
static int
read_table_check(struct sqlctx *x)
{
    const struct ynode *pc = arg(x, "partition_clause");
    struct dag_sql *q = x->q;
    int bad = 0;

    bad |= require(x, "table", "");
    bad |= dagfile_read_str(x->c, arg(x, "table"), "table", &q->table) | check_tmpl(x, "table");
    if (pc != NULL) {
        bad |= dagfile_sql_partition_ok(x->c, x->sid, pc, "partition_clause");
        bad |= dagfile_read_str(x->c, pc, "partition_clause", &q->partition_clause);
        bad |= check_tmpl(x, "partition_clause");
    }
    if (x->t->op == OP_SQL_COLUMN_CHECK)
        return bad | read_checked(x, "column_mapping", dagfile_sql_column_mapping,
                                  &q->column_mapping_json);
    return bad | read_checked(x, "checks", dagfile_sql_checks, &q->checks_json);
}

static int
read_op_args(struct sqlctx *x)
{
    struct dag_sql *q = x->q;
    int bad = 0;

    switch (x->t->op) {
    case OP_SQL_EXECUTE:
        bad |= read_tribool(x, "autocommit", &q->autocommit);
        bad |= read_tribool(x, "split_statements", &q->split_statements);
        bad |= read_tribool(x, "return_last", &q->return_last);
        bad |= read_tribool(x, "show_return_value_in_logs", &q->show_return_value_in_logs);
        return bad;
    case OP_SQL_VALUE_CHECK:
        return read_value_check(x);
    case OP_SQL_THRESHOLD_CHECK:
        return read_thresholds(x);
    case OP_SQL_COLUMN_CHECK:
    case OP_SQL_TABLE_CHECK:
        return read_table_check(x);
    case OP_SQL_BRANCH:
        bad |= read_follow(x, "follow_task_ids_if_true", &q->follow_true, &q->n_follow_true);
        bad |= read_follow(x, "follow_task_ids_if_false", &q->follow_false, &q->n_follow_false);
        return bad;
    case OP_SQL_SENSOR:
        return read_sensor(x);
    default:
        return 0;
    }
}

int
dagfile_sql_args(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid,
                 const struct dag *dag)
{
    struct dag_sql *q = calloc(1, sizeof(*q));
    struct sqlctx x = {c, ch, t, q, sid, dag};
    int bad = 0;

    if ((t->sql = q) == NULL) {
        dagfile_error(c, ch->maps[0], "out of memory");
        return -1;
    }
    q->autocommit = q->split_statements = q->return_last = q->show_return_value_in_logs = -1;
    q->fail_on_empty = -1;
    q->tolerance = NAN;
    bad |= refuse_args(&x);
    bad |= read_conn(&x);
    bad |= dagfile_read_str(c, arg(&x, "database"), "database", &q->database);
    bad |= check_tmpl(&x, "database");
    bad |= read_sql(&x);
    bad |= read_parameters(&x);
    bad |= read_op_args(&x); /* split_statements first: check_placeholders reads it */
    if (!bad)
        bad |= check_placeholders(&x);
    return bad ? -1 : 0;
}

/* runner_sql: a SQL operator's try (docs/dag-files.md, "SQL operators"). The runner renders
 * every templated field of the operator (Airflow's template_fields of each class), reads the
 * `.sql` template files, and writes the spec file that the sql_task executable runs
 * (`sql_task --spec FILE`; `sql` is a string when the DAG file wrote one, else a list, so
 * sql_task can tell the two apart as Airflow does); for BranchSQLOperator it reads back the task
 * ids sql_task chose to follow and turns them into the downstream tasks to skip (Airflow's
 * skip_all_except).
 *
 * Invariant: values from the run (dag_run.conf, params, XCom) reach the SQL only as data in
 * the spec's `parameters` (bound by sql_task), never pasted into a statement by the runner;
 * only fields that Airflow itself pastes (sql, table, partition_clause, thresholds given as
 * SQL) are rendered as text. The spec holds no secret (connection ids, not connections) and
 * is written 0600 beside the try's log. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "runner_int.h"

#define SQL_FILE_MAX (1L << 20)
#define BRANCH_FILE_MAX (64L << 10)

static const char *
spec_operator(enum op_kind op)
{
    switch (op) {
    case OP_SQL_EXECUTE:
        return "execute";
    case OP_SQL_CHECK:
        return "check";
    case OP_SQL_VALUE_CHECK:
        return "value_check";
    case OP_SQL_THRESHOLD_CHECK:
        return "threshold_check";
    case OP_SQL_COLUMN_CHECK:
        return "column_check";
    case OP_SQL_TABLE_CHECK:
        return "table_check";
    case OP_SQL_BRANCH:
        return "branch";
    case OP_SQL_SENSOR:
        return "sensor";
    default:
        return NULL;
    }
}

int
runner_sql_paths(const char *xcom_path, char **spec_path, char **branch_path)
{
    static const char suffix[] = ".return.json";
    size_t n = strlen(xcom_path), m = sizeof(suffix) - 1;
    int base = (int)(n >= m && strcmp(xcom_path + n - m, suffix) == 0 ? n - m : n);

    *spec_path = *branch_path = NULL;
    if (asprintf(spec_path, "%.*s.sql.json", base, xcom_path) < 0) {
        *spec_path = NULL;
        return -1;
    }
    if (asprintf(branch_path, "%.*s.branch.json", base, xcom_path) < 0) {
        free(*spec_path);
        *spec_path = *branch_path = NULL;
        return -1;
    }
    return 0;
}

/* ---- rendering ---- */

static char *
read_text(const char *path, struct err *e)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;

    if (f == NULL) {
        err_set(e, ERR_USAGE, "cannot read template file %s: %s", path, strerror(errno));
        return NULL;
    }
    if ((buf = malloc(SQL_FILE_MAX + 1)) == NULL) {
        fclose(f);
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    len = fread(buf, 1, SQL_FILE_MAX + 1, f);
    fclose(f);
    if (len > SQL_FILE_MAX) {
        free(buf);
        err_set(e, ERR_USAGE, "template file %s is larger than %ld bytes", path, SQL_FILE_MAX);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Render src and set it as key of o (src NULL: nothing). */
static int
set_rendered(struct store *s, const struct ti_try *t, json_t *o, const char *key, const char *src,
             struct err *e)
{
    char *out = NULL;
    json_t *v;

    if (src == NULL)
        return 0;
    if (runner_render(s, t, src, &out, e) < 0)
        return err_prefix(e, "template error in %s", key);
    v = json_string(out);
    free(out);
    if (v == NULL)
        return err_set(e, ERR_USAGE, "%s is not valid UTF-8 after rendering", key);
    return json_object_set_new(o, key, v) == 0 ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

/* The statements: each inline text or template file, rendered. */
static int
set_sql(struct store *s, const struct ti_try *t, const struct dag_sql *q, json_t *o, struct err *e)
{
    json_t *list = json_array();
    char *text = NULL, *out = NULL, field[32];

    if (list == NULL || json_object_set_new(o, "sql", list) != 0)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < q->n_sql; i++) {
        snprintf(field, sizeof(field), q->sql_is_list ? "sql[%zu]" : "sql", i);
        if (q->sql_file[i] && (text = read_text(q->sql_file[i], e)) == NULL)
            return err_prefix(e, "%s", field);
        int rc = runner_render(s, t, text ? text : q->sql[i], &out, e);
        free(text);
        text = NULL;
        if (rc < 0)
            return err_prefix(e, "template error in %s%s%s", field, q->sql_file[i] ? " file " : "",
                              q->sql_file[i] ? q->sql_file[i] : "");
        json_t *v = json_string(out);
        free(out);
        if (v == NULL)
            return err_set(e, ERR_USAGE, "%s is not valid UTF-8 after rendering", field);
        json_array_append_new(list, v);
    }
    /* Airflow splits (split_statements) and shapes the XCom of a string sql differently from
     * a list's: a string in the DAG file stays a string (sql_task takes both forms) */
    if (!q->sql_is_list && json_array_size(list) == 1)
        json_object_set(o, "sql", json_array_get(list, 0));
    return json_object_set_new(o, "sql_is_list", json_boolean(q->sql_is_list)) == 0
               ? 0
               : err_set(e, ERR_FAIL, "out of memory");
}

static int
set_json(json_t *o, const char *key, const char *text, struct err *e)
{
    json_t *v;

    if (text == NULL)
        return 0;
    if ((v = json_loads(text, JSON_DECODE_ANY, NULL)) == NULL)
        return err_set(e, ERR_USAGE, "%s is not valid JSON", key);
    return json_object_set_new(o, key, v) == 0 ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

static int
set_parameters(struct store *s, const struct ti_try *t, const struct dag_sql *q, json_t *o,
               struct err *e)
{
    json_t *v;

    if (set_json(o, "parameters", q->parameters_json, e) < 0)
        return -1;
    if (!q->parameters_templated || (v = json_object_get(o, "parameters")) == NULL)
        return 0;
    return runner_render_json(s, t, v, e) < 0 ? err_prefix(e, "template error in parameters") : 0;
}

/* A threshold: a number when it reads as one after rendering (Python's float()), else SQL. */
static int
set_threshold(struct store *s, const struct ti_try *t, json_t *o, const char *key, const char *src,
              struct err *e)
{
    const char *text;
    char *end;
    double d;

    if (src == NULL || set_rendered(s, t, o, key, src, e) < 0)
        return src == NULL ? 0 : -1;
    text = json_string_value(json_object_get(o, key));
    errno = 0;
    d = strtod(text, &end);
    while (end != text && (*end == ' ' || *end == '\t' || *end == '\n'))
        end++;
    if (end != text && *end == '\0' && errno == 0 && isfinite(d))
        json_object_set_new(o, key, json_real(d));
    return 0;
}

static int
set_bool(json_t *o, const char *key, int v)
{
    return v < 0 ? 0 : json_object_set_new(o, key, json_boolean(v));
}

static int
set_list(json_t *o, const char *key, char *const *ids, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(ids[i]));
    return a ? json_object_set_new(o, key, a) : -1;
}

static int
set_op_fields(struct store *s, const struct ti_try *t, const struct dag_sql *q, json_t *o,
              struct err *e)
{
    const char *pc;

    set_bool(o, "autocommit", q->autocommit);
    set_bool(o, "split_statements", q->split_statements);
    set_bool(o, "return_last", q->return_last);
    set_bool(o, "show_return_value_in_logs", q->show_return_value_in_logs);
    set_bool(o, "fail_on_empty", q->fail_on_empty);
    if (!isnan(q->tolerance))
        json_object_set_new(o, "tolerance", json_real(q->tolerance));
    if (q->n_follow_true || q->n_follow_false)
        if (set_list(o, "follow_task_ids_if_true", q->follow_true, q->n_follow_true) < 0 ||
            set_list(o, "follow_task_ids_if_false", q->follow_false, q->n_follow_false) < 0)
            return err_set(e, ERR_FAIL, "out of memory");
    if (set_rendered(s, t, o, "pass_value", q->pass_value, e) < 0 ||
        set_threshold(s, t, o, "min_threshold", q->min_threshold, e) < 0 ||
        set_threshold(s, t, o, "max_threshold", q->max_threshold, e) < 0 ||
        set_rendered(s, t, o, "table", q->table, e) < 0 ||
        set_rendered(s, t, o, "partition_clause", q->partition_clause, e) < 0 ||
        set_json(o, "column_mapping", q->column_mapping_json, e) < 0 ||
        set_json(o, "checks", q->checks_json, e) < 0)
        return -1;
    /* Airflow refuses ';' in partition_clause as written; a value rendered into it gets the
     * same rule, so a run's conf cannot end the statement there */
    pc = json_string_value(json_object_get(o, "partition_clause"));
    if (pc && strchr(pc, ';'))
        return err_set(e, ERR_USAGE, "partition_clause has a ';' after rendering: refused");
    return 0;
}

static json_t *
build_spec(struct store *s, const struct ti_try *t, struct err *e)
{
    const struct active_run *run = t->run;
    const struct dag_task *task = ti_task(t);
    const struct dag_sql *q = task->sql;
    json_t *o = json_object();

    if (o == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    if (json_object_set_new(o, "operator", json_string(spec_operator(task->op))) != 0 ||
        json_object_set_new(o, "dag_id", json_string(run->dag_id)) != 0 ||
        json_object_set_new(o, "task_id", json_string(task->task_id)) != 0 ||
        json_object_set_new(o, "run_id", json_string(run->run_id)) != 0) {
        err_set(e, ERR_FAIL, "out of memory");
        goto fail;
    }
    if (set_rendered(s, t, o, "conn_id", q->conn_id, e) < 0 ||
        set_rendered(s, t, o, "database", q->database, e) < 0 ||
        (q->n_sql > 0 && set_sql(s, t, q, o, e) < 0) || set_parameters(s, t, q, o, e) < 0 ||
        set_op_fields(s, t, q, o, e) < 0)
        goto fail;
    if (runner_sensor_fields(t, o) < 0) { /* SqlSensor: mode, timeout, first_poke... */
        err_set(e, ERR_FAIL, "out of memory");
        goto fail;
    }
    if (task->execution_timeout > 0)
        json_object_set_new(o, "execution_timeout", json_real(task->execution_timeout));
    /* without XCom, Airflow's execute fetches no rows (its handler is None) */
    json_object_set_new(o, "do_xcom_push", json_boolean(task->do_xcom_push));
    json_object_set_new(o, "try_number", json_integer(t->try_number));
    return o;
fail:
    json_decref(o);
    return NULL;
}

int
runner_write_spec(const json_t *spec, const char *path, const char *what, struct err *e)
{
    char *text = json_dumps(spec, JSON_INDENT(2) | JSON_SORT_KEYS);
    size_t len;
    int fd, rc = 0;

    if (text == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    len = strlen(text);
    unlink(path); /* created anew, so its mode is 0600 whatever was there */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        rc =
            err_set(e, ERR_IO, "cannot write the %s spec file %s: %s", what, path, strerror(errno));
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc =
            err_set(e, ERR_IO, "cannot write the %s spec file %s: %s", what, path, strerror(errno));
    free(text);
    return rc;
}

int
runner_sql_write_spec(struct store *s, const struct ti_try *t, const char *spec_path, struct err *e)
{
    json_t *spec;
    int rc;

    if (ti_task(t)->sql == NULL)
        return err_set(e, ERR_USAGE, "task '%s' has no SQL arguments", ti_task(t)->task_id);
    if ((spec = build_spec(s, t, e)) == NULL)
        return -1;
    rc = runner_write_spec(spec, spec_path, "SQL", e);
    json_decref(spec);
    return rc;
}

/* ---- branching ---- */

/* Whether task index k is directly downstream of task b. */
static bool
is_direct(const struct dag_task *b, long k)
{
    for (size_t d = 0; k >= 0 && d < b->n_downstream; d++)
        if (b->downstream_idx[d] == (size_t)k)
            return true;
    return false;
}

/* The branch file as a JSON array of ids (a single string id is taken as a list of one). */
static json_t *
read_branch_file(const char *task_id, const char *branch_path, struct err *e)
{
    json_error_t je;
    json_t *v = json_load_file(branch_path, JSON_DECODE_ANY, &je), *a;

    if (v == NULL && access(branch_path, F_OK) != 0) {
        err_set(e, ERR_USAGE,
                "branch task '%s' exited 0 but wrote no $GUST_BRANCH_FILE (the task ids to "
                "follow)",
                task_id);
        return NULL;
    }
    if (v == NULL) {
        err_set(e, ERR_USAGE, "branch task '%s': $GUST_BRANCH_FILE is not JSON: line %d: %s",
                task_id, je.line, je.text);
        return NULL;
    }
    if (json_is_string(v)) { /* a single id, as Airflow's branch callables may return */
        if ((a = json_array()) != NULL)
            json_array_append(a, v);
        json_decref(v);
        v = a;
    }
    if (!json_is_array(v)) {
        err_set(e, ERR_USAGE,
                "branch task '%s': $GUST_BRANCH_FILE must hold a JSON array of "
                "task ids",
                task_id);
        json_decref(v);
        return NULL;
    }
    return v;
}

int
runner_sql_branch_skips(const struct ti_try *t, const char *branch_path, char **skip_json,
                        struct err *e)
{
    const struct dag *dag = t->run->dag;
    const struct dag_task *b = &dag->tasks[t->task];
    bool *follow = calloc(dag->n_tasks + 1, sizeof(bool));
    json_t *v = NULL, *item, *skip = NULL;
    size_t i;
    int rc = -1;

    *skip_json = NULL;
    if (follow == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if ((v = read_branch_file(b->task_id, branch_path, e)) == NULL)
        goto out;
    json_array_foreach(v, i, item)
    {
        long k = json_is_string(item) ? dag_task_index(dag, json_string_value(item)) : -1;
        if (!is_direct(b, k)) {
            err_set(e, ERR_USAGE,
                    "branch task '%s' chose to follow %s%s%s, which is not a task directly "
                    "downstream of it",
                    b->task_id, json_is_string(item) ? "'" : "",
                    json_is_string(item) ? json_string_value(item) : "a value that is not a string",
                    json_is_string(item) ? "'" : "");
            goto out;
        }
        follow[k] = true;
    }
    /* Airflow's skip_all_except: every direct downstream task not followed is skipped */
    if ((skip = json_array()) == NULL)
        goto oom;
    for (size_t d = 0; d < b->n_downstream; d++)
        if (!follow[b->downstream_idx[d]] &&
            json_array_append_new(skip, json_string(dag->tasks[b->downstream_idx[d]].task_id)))
            goto oom;
    if ((*skip_json = json_dumps(skip, JSON_COMPACT)) == NULL)
        goto oom;
    rc = 0;
    goto out;
oom:
    err_set(e, ERR_FAIL, "out of memory");
out:
    json_decref(v);
    json_decref(skip);
    free(follow);
    return rc;
}

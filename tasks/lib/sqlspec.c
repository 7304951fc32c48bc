/* sqlspec: reading a SQL task's spec file (see sqlspec.h).
 *
 * The only tasks/lib file that sees jansson nodes of the spec: everything leaves as plain
 * structs whose strings point into the parsed document, which the spec keeps until
 * sqlspec_clear. Key invariant: a spec that loads is complete for its operator, so the
 * executable never meets a missing key halfway through a run. */
#include "sqlspec.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *const op_names[] = {
    [SQL_EXECUTE] = "execute",
    [SQL_CHECK] = "check",
    [SQL_VALUE_CHECK] = "value_check",
    [SQL_THRESHOLD_CHECK] = "threshold_check",
    [SQL_COLUMN_CHECK] = "column_check",
    [SQL_TABLE_CHECK] = "table_check",
    [SQL_BRANCH] = "branch",
    [SQL_SENSOR] = "sensor",
};
#define N_OPS (sizeof(op_names) / sizeof(op_names[0]))

static const char *const known_keys[] = {
    "operator",
    "dag_id",
    "task_id",
    "run_id",
    "conn_id",
    "database",
    "sql",
    "split_statements",
    "autocommit",
    "return_last",
    "show_return_value_in_logs",
    "do_xcom_push",
    "parameters",
    "execution_timeout",
    "pass_value",
    "tolerance",
    "min_threshold",
    "max_threshold",
    "table",
    "column_mapping",
    "partition_clause",
    "accept_none",
    "checks",
    "follow_task_ids_if_true",
    "follow_task_ids_if_false",
    "poke_interval",
    "timeout",
    "fail_on_empty",
    "soft_fail",
    "mode",
    "exponential_backoff",
    "max_wait",
    "first_poke",
    "poke_count",
    "map_index",
    "try_number",
    "sql_is_list",
    NULL,
};

/* ---- typed getters: -1 with "<key>: want ..." when present with the wrong type ---------- */

static int
get_str(json_t *o, const char *key, const char **out, bool required, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        *out = NULL;
        return required ? err_set(e, ERR_USAGE, "%s: missing (required)", key) : 0;
    }
    if (!json_is_string(v))
        return err_set(e, ERR_USAGE, "%s: want a string", key);
    *out = json_string_value(v);
    return 0;
}

static int
get_bool(json_t *o, const char *key, bool dflt, bool *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(e, ERR_USAGE, "%s: want true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int
get_num(json_t *o, const char *key, double dflt, double *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
        return err_set(e, ERR_USAGE, "%s: want a number of seconds >= 0", key);
    *out = json_number_value(v);
    return 0;
}

/* A string or a list of strings (the provider accepts both). */
static int
get_strs(json_t *o, const char *key, const char ***out, size_t *n, bool required, struct err *e)
{
    json_t *v = json_object_get(o, key), *it;
    size_t i;

    *out = NULL;
    *n = 0;
    if (v == NULL || json_is_null(v))
        return required ? err_set(e, ERR_USAGE, "%s: missing (required)", key) : 0;
    if (json_is_string(v)) {
        if ((*out = calloc(2, sizeof(**out))) == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        (*out)[0] = json_string_value(v);
        *n = 1;
        return 0;
    }
    if (!json_is_array(v))
        return err_set(e, ERR_USAGE, "%s: want a string or a list of strings", key);
    if ((*out = calloc(json_array_size(v) + 1, sizeof(**out))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it))
            return err_set(e, ERR_USAGE, "%s[%zu]: want a string", key, i);
        (*out)[(*n)++] = json_string_value(it);
    }
    return 0;
}

/* Python's str() of a JSON scalar: new string, NULL for a list or an object. */
static char *
py_str(json_t *v)
{
    char buf[64];

    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        sqlcheck_float_repr(json_real_value(v), buf, sizeof(buf));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "True" : "False");
    else if (json_is_null(v))
        snprintf(buf, sizeof(buf), "None");
    else
        return NULL;
    return strdup(buf);
}

/* ---- parameters ------------------------------------------------------------------------- */

static int
param_from_json(json_t *v, struct sql_param *p, const char *where, struct err *e)
{
    char buf[64];

    p->type = SQLP_UNKNOWN;
    p->value = NULL;
    if (json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        p->type = i >= INT32_MIN && i <= INT32_MAX ? SQLP_INT4 : SQLP_INT8;
    } else if (json_is_real(v)) {
        p->type = SQLP_NUMERIC;
    } else if (json_is_boolean(v)) {
        p->type = SQLP_BOOL;
    }
    if (json_is_string(v))
        p->value = strdup(json_string_value(v));
    else if (json_is_boolean(v))
        p->value = strdup(json_is_true(v) ? "true" : "false");
    else if (json_is_real(v)) {
        sqlcheck_float_repr(json_real_value(v), buf, sizeof(buf));
        if (!isfinite(json_real_value(v)))
            snprintf(buf, sizeof(buf), "%s", json_real_value(v) > 0 ? "Infinity" : "-Infinity");
        p->value = strdup(buf);
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        p->value = strdup(buf);
    } else {
        p->value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    return p->value ? 0 : err_set(e, ERR_FAIL, "%s: out of memory", where);
}

static int
load_params(json_t *o, struct sql_spec *s, struct err *e)
{
    json_t *v = json_object_get(o, "parameters"), *it;
    const char *key;
    size_t i = 0, n;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) && !json_is_object(v))
        return err_set(e, ERR_USAGE,
                       "parameters: want a list (for %%s) or a mapping (for "
                       "%%(name)s)");
    n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
    s->params_named = json_is_object(v);
    s->has_params = n > 0; /* psycopg2 formats the text only when parameters are truthy */
    s->params = calloc(n + 1, sizeof(*s->params));
    s->param_names = calloc(n + 1, sizeof(*s->param_names));
    if (s->params == NULL || s->param_names == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if (json_is_array(v)) {
        json_array_foreach(v, i, it)
        {
            if (param_from_json(it, &s->params[i], "parameters", e) < 0)
                return -1;
            s->nparams++;
        }
        return 0;
    }
    json_object_foreach(v, key, it)
    {
        s->params[i].name = s->param_names[i] = key;
        if (param_from_json(it, &s->params[i], "parameters", e) < 0)
            return -1;
        s->nparams = ++i;
    }
    return 0;
}

/* ---- checks ----------------------------------------------------------------------------- */

static int
load_bound(json_t *v, const char *col, const char *chk, const char *opt, struct sqlbound *b,
           struct err *e)
{
    b->set = true;
    if (json_is_number(v)) {
        b->is_num = true;
        b->num = json_number_value(v);
    } else if (json_is_boolean(v)) {
        b->is_num = true;
        b->num = json_is_true(v);
    } else if (json_is_string(v)) {
        b->str = json_string_value(v);
    } else {
        return err_set(e, ERR_USAGE, "column_mapping.%s.%s.%s: want a number or a string", col, chk,
                       opt);
    }
    return 0;
}

static int
load_colcheck(const char *col, const char *chk, json_t *opts, struct sqlcolcheck *c, struct err *e)
{
    const char *opt;
    json_t *v;

    c->column = col;
    c->check = chk;
    if (!json_is_object(opts))
        return err_set(e, ERR_USAGE, "column_mapping.%s.%s: want a mapping of options", col, chk);
    json_object_foreach(opts, opt, v)
    {
        struct sqlbound *b = !strcmp(opt, "equal_to")       ? &c->equal_to
                             : !strcmp(opt, "greater_than") ? &c->greater_than
                             : !strcmp(opt, "geq_to")       ? &c->geq_to
                             : !strcmp(opt, "less_than")    ? &c->less_than
                             : !strcmp(opt, "leq_to")       ? &c->leq_to
                                                            : NULL;
        if (b != NULL) {
            if (load_bound(v, col, chk, opt, b, e) < 0)
                return -1;
        } else if (strcmp(opt, "tolerance") == 0) {
            if (!json_is_number(v))
                return err_set(e, ERR_USAGE, "column_mapping.%s.%s.tolerance: want a number", col,
                               chk);
            c->has_tol = true;
            c->tol = json_number_value(v);
        } else if (strcmp(opt, "partition_clause") == 0) {
            if (!json_is_string(v))
                return err_set(e, ERR_USAGE, "column_mapping.%s.%s.partition_clause: want a string",
                               col, chk);
            c->partition_clause = json_string_value(v);
        } else {
            return err_set(e, ERR_USAGE,
                           "column_mapping.%s.%s: unknown option '%s' (equal_to, greater_than, "
                           "geq_to, less_than, leq_to, tolerance, partition_clause)",
                           col, chk, opt);
        }
    }
    return sqlcheck_column_validate(c, e);
}

static int
load_column_mapping(json_t *o, struct sql_spec *s, struct err *e)
{
    json_t *m = json_object_get(o, "column_mapping"), *checks, *opts;
    const char *col, *chk;
    size_t n = 0;

    if (m == NULL || !json_is_object(m) || json_object_size(m) == 0)
        return err_set(e, ERR_USAGE,
                       "column_mapping: want a non-empty mapping of column -> "
                       "{check: {options}}");
    json_object_foreach(m, col, checks)
    {
        if (!json_is_object(checks) || json_object_size(checks) == 0)
            return err_set(e, ERR_USAGE, "column_mapping.%s: want a non-empty mapping of checks",
                           col);
        n += json_object_size(checks);
    }
    if ((s->colchecks = calloc(n, sizeof(*s->colchecks))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    json_object_foreach(m, col, checks)
    {
        json_object_foreach(checks, chk, opts)
        {
            if (load_colcheck(col, chk, opts, &s->colchecks[s->ncolchecks], e) < 0)
                return -1;
            s->ncolchecks++;
        }
    }
    return 0;
}

static int
load_table_checks(json_t *o, struct sql_spec *s, struct err *e)
{
    json_t *m = json_object_get(o, "checks"), *c, *v;
    const char *name, *key;

    if (m == NULL || !json_is_object(m) || json_object_size(m) == 0)
        return err_set(e, ERR_USAGE,
                       "checks: want a non-empty mapping of name -> "
                       "{check_statement: ..., partition_clause: ...}");
    if ((s->tabchecks = calloc(json_object_size(m), sizeof(*s->tabchecks))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    json_object_foreach(m, name, c)
    {
        struct sqltabcheck *t = &s->tabchecks[s->ntabchecks++];
        t->name = name;
        if (!json_is_object(c))
            return err_set(e, ERR_USAGE, "checks.%s: want a mapping with check_statement", name);
        json_object_foreach(c, key, v)
        {
            const char **dst = !strcmp(key, "check_statement")    ? &t->statement
                               : !strcmp(key, "partition_clause") ? &t->partition_clause
                                                                  : NULL;
            if (dst == NULL)
                return err_set(e, ERR_USAGE,
                               "checks.%s: unknown key '%s' (check_statement, partition_clause)",
                               name, key);
            if (!json_is_string(v))
                return err_set(e, ERR_USAGE, "checks.%s.%s: want a string", name, key);
            *dst = json_string_value(v);
        }
        if (t->statement == NULL)
            return err_set(e, ERR_USAGE, "checks.%s.check_statement: missing (required)", name);
        if (sqlcheck_partition_validate(t->partition_clause, e) < 0)
            return err_prefix(e, "checks.%s", name);
    }
    return 0;
}

/* ---- the operators' keys ---------------------------------------------------------------- */

static int
load_threshold(json_t *o, const char *key, struct sql_threshold *t, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v))
        return err_set(e, ERR_USAGE, "%s: missing (required: a number or SQL)", key);
    if (json_is_number(v)) {
        t->num = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, ERR_USAGE, "%s: want a number or SQL text", key);
    /* the provider: a string that float() reads is a number, anything else is SQL */
    if (sqlcheck_parse_float(json_string_value(v), &t->num) == 0)
        return 0;
    t->is_sql = true;
    t->sql = json_string_value(v);
    return 0;
}

static int
load_sql(json_t *o, struct sql_spec *s, struct err *e)
{
    json_t *v = json_object_get(o, "sql");

    if (s->op == SQL_COLUMN_CHECK || s->op == SQL_TABLE_CHECK)
        return 0; /* built from table and the checks */
    if (get_strs(o, "sql", &s->sql, &s->nsql, true, e) < 0)
        return -1;
    if (s->nsql == 0)
        return err_set(e, ERR_USAGE, "sql: the list of SQL statements is empty");
    /* The runner may say whether the DAG file gave a list (sql_is_list); without it a list of
     * one statement is taken for the string form, the common case. */
    json_t *is_list = json_object_get(o, "sql_is_list");
    if (is_list != NULL && !json_is_boolean(is_list))
        return err_set(e, ERR_USAGE, "sql_is_list: want true or false");
    s->sql_is_string =
        json_is_string(v) || (is_list ? json_is_false(is_list) && s->nsql == 1 : s->nsql == 1);
    for (size_t i = 0; i < s->nsql; i++)
        if (sqltext_is_empty(s->sql[i]))
            return s->nsql > 1 ? err_set(e, ERR_USAGE, "sql[%zu]: no statement in it", i)
                               : err_set(e, ERR_USAGE, "sql: no statement in it");
    if (s->op != SQL_EXECUTE && s->nsql != 1)
        return err_set(e, ERR_USAGE, "sql: %s takes one SQL text, not a list of %zu", s->op_name,
                       s->nsql);
    return 0;
}

static int
load_op_keys(json_t *o, struct sql_spec *s, struct err *e)
{
    json_t *v;

    switch (s->op) {
    case SQL_VALUE_CHECK:
        if ((v = json_object_get(o, "pass_value")) == NULL)
            return err_set(e, ERR_USAGE, "pass_value: missing (required)");
        if ((s->pass_value = py_str(v)) == NULL)
            return err_set(e, ERR_USAGE, "pass_value: want a string, number, bool or null");
        v = json_object_get(o, "tolerance");
        if (v && json_is_number(v)) {
            s->has_tolerance = true;
            s->tolerance = json_number_value(v);
        } else if (v && json_is_string(v)) { /* the provider: float() or no tolerance */
            s->has_tolerance = sqlcheck_parse_float(json_string_value(v), &s->tolerance) == 0;
        }
        return 0;
    case SQL_THRESHOLD_CHECK:
        return load_threshold(o, "min_threshold", &s->min_threshold, e) < 0 ||
                       load_threshold(o, "max_threshold", &s->max_threshold, e) < 0
                   ? -1
                   : 0;
    case SQL_COLUMN_CHECK:
    case SQL_TABLE_CHECK:
        if (get_str(o, "table", &s->table, true, e) < 0 ||
            get_str(o, "partition_clause", &s->partition_clause, false, e) < 0 ||
            get_bool(o, "accept_none", true, &s->accept_none, e) < 0)
            return -1;
        if (sqlcheck_partition_validate(s->partition_clause, e) < 0)
            return err_prefix(e, "partition_clause");
        return s->op == SQL_COLUMN_CHECK ? load_column_mapping(o, s, e)
                                         : load_table_checks(o, s, e);
    case SQL_BRANCH:
        return get_strs(o, "follow_task_ids_if_true", &s->follow_true, &s->nfollow_true, true, e) <
                           0 ||
                       get_strs(o, "follow_task_ids_if_false", &s->follow_false, &s->nfollow_false,
                                true, e) < 0
                   ? -1
                   : 0;
    case SQL_SENSOR:
        return get_num(o, "poke_interval", 60, &s->poke_interval, e) < 0 ||
                       get_num(o, "timeout", 604800, &s->timeout, e) < 0 ||
                       get_bool(o, "fail_on_empty", false, &s->fail_on_empty, e) < 0
                   ? -1
                   : 0;
    default:
        return 0;
    }
}

static int
load_common(json_t *o, struct sql_spec *s, struct err *e)
{
    const char *op;
    size_t i;

    if (get_str(o, "operator", &op, true, e) < 0)
        return -1;
    for (i = 0; i < N_OPS && strcmp(op_names[i], op) != 0; i++)
        ;
    if (i == N_OPS)
        return err_set(e, ERR_USAGE,
                       "operator: unknown '%s' (execute, check, value_check, threshold_check, "
                       "column_check, table_check, branch, sensor)",
                       op);
    s->op = (enum sql_op)i;
    s->op_name = op_names[i];
    if (get_str(o, "dag_id", &s->dag_id, false, e) < 0 ||
        get_str(o, "task_id", &s->task_id, false, e) < 0 ||
        get_str(o, "run_id", &s->run_id, false, e) < 0 ||
        get_str(o, "conn_id", &s->conn_id, true, e) < 0 ||
        get_str(o, "database", &s->database, false, e) < 0 ||
        get_bool(o, "split_statements", false, &s->split_statements, e) < 0 ||
        get_bool(o, "autocommit", false, &s->autocommit, e) < 0 ||
        get_bool(o, "return_last", true, &s->return_last, e) < 0 ||
        get_bool(o, "show_return_value_in_logs", false, &s->show_return_value_in_logs, e) < 0 ||
        get_bool(o, "do_xcom_push", true, &s->do_xcom_push, e) < 0 ||
        get_bool(o, "soft_fail", false, &s->soft_fail, e) < 0 ||
        get_num(o, "execution_timeout", 0, &s->execution_timeout, e) < 0)
        return -1;
    if (s->task_id == NULL)
        s->task_id = "?";
    if (s->conn_id[0] == '\0')
        return err_set(e, ERR_USAGE, "conn_id: empty");
    return 0;
}

int
sqlspec_parse(const char *text, const char *where, struct sql_spec *s, struct err *e)
{
    json_error_t je;
    json_t *o;
    const char *key;
    json_t *v;

    memset(s, 0, sizeof(*s));
    if ((o = json_loads(text, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return err_set(e, ERR_USAGE, "%s:%d:%d: %s", where, je.line, je.column, je.text);
    s->doc = o;
    if (!json_is_object(o)) {
        err_set(e, ERR_USAGE, "%s: want a JSON object", where);
        goto fail;
    }
    json_object_foreach(o, key, v)
    {
        size_t i;
        for (i = 0; known_keys[i] && strcmp(known_keys[i], key) != 0; i++)
            ;
        if (known_keys[i] == NULL)
            log_warn("%s: unknown key '%s' ignored", where, key);
    }
    if (load_common(o, s, e) < 0 || load_sql(o, s, e) < 0 || load_params(o, s, e) < 0 ||
        load_op_keys(o, s, e) < 0)
        goto fail;
    return 0;
fail:
    if (s->task_id && strcmp(s->task_id, "?") != 0)
        err_prefix(e, "%s (task %s)", where, s->task_id);
    else
        err_prefix(e, "%s", where);
    sqlspec_clear(s);
    return -1;
}

int
sqlspec_load(const char *path, struct sql_spec *spec, struct err *e)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(spec, 0, sizeof(*spec));
    if (f == NULL)
        return err_set(e, ERR_USAGE, "spec %s: cannot open: %m", path);
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(f);
    if (mem == NULL || fclose(mem) != 0) {
        free(text);
        return err_set(e, ERR_FAIL, "spec %s: out of memory", path);
    }
    rc = sqlspec_parse(text, path, spec, e);
    free(text);
    return rc;
}

void
sqlspec_clear(struct sql_spec *s)
{
    for (size_t i = 0; s->params && i < s->nparams; i++)
        free(s->params[i].value);
    free(s->params);
    free(s->param_names);
    free(s->sql);
    free(s->pass_value);
    free(s->colchecks);
    free(s->tabchecks);
    free(s->follow_true);
    free(s->follow_false);
    json_decref(s->doc);
    memset(s, 0, sizeof(*s));
}

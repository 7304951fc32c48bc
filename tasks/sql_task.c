/* sql_task: one try of a SQL operator of a DAG file (SQLExecuteQueryOperator, the SQL checks,
 * BranchSQLOperator, SqlSensor), run by gust's runner as `sql_task --spec FILE`
 * (docs/sql-task.md), with the semantics of Airflow's common.sql provider.
 *
 * The spec (tasks/lib/sqlspec.h) says everything already rendered: the operator, its
 * connection, its SQL and options. The connection is looked up as Airflow does
 * (AIRFLOW_CONN_<ID>, then the metadata database's connection table). Parameters are always
 * bound (psycopg2's %s and %(name)s become $n; values never enter the SQL text).
 * execution_timeout becomes the server's statement_timeout, shrinking as the try runs, and
 * SIGTERM cancels the running statement on the server before the task exits.
 *
 * Exit codes (the task contract): 0 success; 1 a failed check, an SQL error; 98 a sensor
 * in reschedule mode not met yet; 99 a sensor's timeout (or error) with soft_fail; 100 a
 * sensor's timeout, a bad spec, a missing/malformed/non-postgres connection, parameters that
 * do not match the placeholders; 111 the database is unreachable. SqlSensor pokes as every
 * process sensor does (tasks/lib/sensorloop.h: mode poke in a loop, reschedule once). The return
 * value (rows, per-check results) goes to $GUST_XCOM_FILE as JSON, at most $GUST_XCOM_MAX_BYTES
 * (default 1 MiB) long; a branch's followed task ids go to $GUST_BRANCH_FILE. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdio.h"
#include "sensorloop.h"
#include "sqlcheck.h"
#include "sqldb.h"
#include "sqlspec.h"
#include "sqltext.h"
#include "task.h"

#define USAGE                                                                                      \
    "sql_task --spec FILE\n"                                                                       \
    "Run one SQL operator try (execute, check, value_check, threshold_check, column_check,\n"      \
    "table_check, branch, sensor) described by the JSON spec FILE that gust's runner writes\n"     \
    "(docs/sql-task.md). Connection from AIRFLOW_CONN_<CONN_ID>, else the connection table\n"      \
    "of the metadata database (GUST_DATABASE_URL or PG*). Result JSON to $GUST_XCOM_FILE\n"        \
    "(limit $GUST_XCOM_MAX_BYTES); a branch writes its followed task ids to $GUST_BRANCH_FILE.\n"  \
    "A long statement logs progress every $GUST_SQL_PROGRESS_SECONDS (60).\n"                      \
    "Exit 0 ok, 1 failed check / SQL error, 98 sensor not met yet (reschedule), 99 sensor\n"       \
    "skipped (soft_fail), 100 sensor timeout / bad spec or connection, 111 database unreachable."

#define XCOM_MAX_DEFAULT (1u << 20)

/* One try: the spec, the connection, the clock. */
struct run {
    const struct sql_spec *spec;
    struct sqldb *db;
    double started; /* CLOCK_MONOTONIC seconds */
    size_t xcom_max;
};

/* The progress line of a long statement. */
static void
log_progress(double seconds, void *arg)
{
    (void)arg;
    task_log("progress: the statement has run for %.0fs", seconds);
}

/* ---- running statements ----------------------------------------------------------------- */

/* One statement ready to run: text with $n and its parameters in $n order. */
struct stmt {
    char *sql;
    size_t n;
    const char **values;
    enum sql_ptype *types;
    bool simple; /* no parameters: the whole text in one simple-protocol call */
};

static void
stmts_free(struct stmt *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].sql);
        free(v[i].values);
        free(v[i].types);
    }
    free(v);
}

/* Bind one split statement; list-style parameters continue from *cursor. */
static int
stmt_bind(const struct sql_spec *s, const char *text, size_t *cursor, struct stmt *st,
          struct err *e)
{
    struct sqltext_bound b;

    if (sqltext_bind(text, s->params_named ? SQLTEXT_NAMED : SQLTEXT_LIST, s->nparams,
                     s->param_names, cursor, &b, e) < 0)
        return -1;
    st->sql = b.sql;
    st->n = b.n;
    st->values = calloc(b.n + 1, sizeof(*st->values));
    st->types = calloc(b.n + 1, sizeof(*st->types));
    if (st->values == NULL || st->types == NULL) {
        free(b.map);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    for (size_t k = 0; k < b.n; k++) {
        st->values[k] = s->params[b.map[k]].value;
        st->types[k] = s->params[b.map[k]].type;
    }
    free(b.map);
    return 0;
}

/* Prepare what Airflow hands to one cursor.execute(text, parameters): without parameters the
 * text goes as it is (psycopg2 does not touch it); with them, each statement of the text is
 * bound, and a list's values must all be used. Nothing runs before all of it is bound. */
static int
unit_prepare(const struct sql_spec *s, const char *text, const char *key, struct stmt **out,
             size_t *n, struct err *e)
{
    char **parts = NULL;
    size_t nparts = 0, cursor = 0;

    *out = NULL;
    *n = 0;
    if (!s->has_params) {
        if ((*out = calloc(1, sizeof(**out))) == NULL || ((*out)->sql = strdup(text)) == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        (*out)->simple = true;
        *n = 1;
        return 0;
    }
    if (sqltext_split(text, &parts, &nparts, e) < 0)
        return -1;
    if ((*out = calloc(nparts + 1, sizeof(**out))) == NULL) {
        sqltext_list_free(parts);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    for (size_t i = 0; i < nparts; i++, (*n)++)
        if (stmt_bind(s, parts[i], &cursor, &(*out)[i], e) < 0)
            goto fail;
    if (!s->params_named && cursor != s->nparams) {
        err_set(e, ERR_USAGE,
                "parameters has %zu value(s) but the SQL has %zu %%s placeholder(s) (psycopg2 "
                "needs them equal)",
                s->nparams, cursor);
        goto fail;
    }
    sqltext_list_free(parts);
    return 0;
fail:
    sqltext_list_free(parts);
    stmts_free(*out, *n + 1);
    *out = NULL;
    *n = 0;
    return err_prefix(e, "task %s: %s", s->task_id, key);
}

/* Before each statement: what is left of execution_timeout becomes statement_timeout. */
static int
arm_timeout(struct run *r, struct err *e)
{
    double left;

    if (r->spec->execution_timeout <= 0)
        return 0;
    left = r->spec->execution_timeout - (clock_mono() - r->started);
    if (left <= 0)
        return err_set(e, ERR_FAIL, "execution_timeout of %gs passed", r->spec->execution_timeout);
    return sqldb_set_timeout(r->db, left, e);
}

/* Run the prepared statements of one unit; *last gets the last statement's result. */
static int
unit_run(struct run *r, struct stmt *v, size_t n, const char *key, struct sqlres **last,
         struct err *e)
{
    *last = NULL;
    for (size_t i = 0; i < n; i++) {
        struct sqlres *res = NULL;
        if (task_stopping()) /* between statements: start no new one */
            return err_set(e, ERR_FAIL, "%s: stopped by signal %d before statement %zu", key,
                           task_stop_signal(), i + 1);
        if (n > 1)
            task_log("%s: statement %zu/%zu: %s", key, i + 1, n, v[i].sql);
        if (arm_timeout(r, e) < 0 ||
            sqldb_run(r->db, v[i].sql, v[i].simple, v[i].n, v[i].values, v[i].types, &res, e) < 0) {
            sqlres_free(*last);
            *last = NULL;
            if (strstr(e->msg, "statement timeout") && r->spec->execution_timeout > 0)
                err_prefix(e, "past execution_timeout (%gs), cancelled by the server",
                           r->spec->execution_timeout);
            return err_prefix(e, "%s", key);
        }
        if (sqlres_affected(res) >= 0)
            task_log("%s: rows affected: %lld", key, sqlres_affected(res));
        sqlres_free(*last);
        *last = res;
    }
    return 0;
}

/* Prepare and run one text (the provider's hook.run of a single statement text), with the
 * spec's parameters when bind is true (the operators that take parameters). */
static int
run_text(struct run *r, const char *text, bool bind, const char *key, struct sqlres **last,
         struct err *e)
{
    struct sql_spec unbound = *r->spec;
    struct stmt *v;
    size_t n;
    int rc;

    unbound.has_params = unbound.has_params && bind;
    if (unit_prepare(&unbound, text, key, &v, &n, e) < 0)
        return -1;
    rc = unit_run(r, v, n, key, last, e);
    stmts_free(v, n);
    return rc;
}

/* ---- XCom and logs ---------------------------------------------------------------------- */

/* Rows as a JSON list of lists (fetch_all_handler), or null for a statement without rows;
 * fails when out grows past the XCom limit. */
static int
rows_json(const struct run *r, const struct sqlres *res, struct sqlbuf *out, struct err *e)
{
    if (!sqlres_has_rows(res)) {
        sqlbuf_add(out, "null");
        return 0;
    }
    sqlbuf_add(out, "[");
    for (size_t i = 0; i < sqlres_nrows(res); i++) {
        sqlbuf_add(out, i ? ", [" : "[");
        for (size_t j = 0; j < sqlres_ncols(res); j++) {
            struct sqlval v = sqlres_value(res, i, j);
            if (j)
                sqlbuf_add(out, ", ");
            sqlval_json(out, &v);
        }
        sqlbuf_add(out, "]");
        if (out->len > r->xcom_max)
            return err_set(e, ERR_FAIL,
                           "the return value passed the XCom limit of %zu bytes "
                           "(GUST_XCOM_MAX_BYTES) at row %zu of %zu: not pushed",
                           r->xcom_max, i + 1, sqlres_nrows(res));
    }
    sqlbuf_add(out, "]");
    return out->failed ? err_set(e, ERR_FAIL, "out of memory") : 0;
}

static int
xcom_push(const struct run *r, const struct sqlbuf *json, struct err *e)
{
    if (json->failed)
        return err_set(e, ERR_FAIL, "return value: out of memory");
    if (json->len > r->xcom_max)
        return err_set(e, ERR_FAIL,
                       "the return value is %zu bytes, over the XCom limit of %zu "
                       "(GUST_XCOM_MAX_BYTES): not pushed",
                       json->len, r->xcom_max);
    return task_xcom_write(sqlbuf_str(json), e);
}

/* ---- execute ---------------------------------------------------------------------------- */

/* The texts Airflow runs: each element, or with split_statements each piece of them. */
static int
execute_units(const struct sql_spec *s, char ***units, size_t *n, struct err *e)
{
    size_t cap = 0;

    *units = NULL;
    *n = 0;
    for (size_t i = 0; i < s->nsql; i++) {
        char **parts = NULL;
        size_t np = 0;
        if (s->split_statements) {
            if (sqltext_split(s->sql[i], &parts, &np, e) < 0)
                return -1;
        } else if ((parts = calloc(2, sizeof(*parts))) == NULL ||
                   (parts[0] = strdup(s->sql[i])) == NULL) {
            free(parts);
            return err_set(e, ERR_FAIL, "out of memory");
        } else {
            np = 1;
        }
        char **grown = realloc(*units, (cap = *n + np + 1) * sizeof(**units));
        if (grown == NULL) {
            sqltext_list_free(parts);
            return err_set(e, ERR_FAIL, "out of memory");
        }
        *units = grown;
        memcpy(*units + *n, parts, np * sizeof(*parts));
        *n += np;
        (*units)[*n] = NULL;
        free(parts);
    }
    (void)cap;
    if (*n == 0)
        return err_set(e, ERR_USAGE, "task %s: sql: the list of SQL statements is empty",
                       s->task_id);
    return 0;
}

/* The statements of each unit, all bound before any runs. */
struct prepared {
    struct stmt *v;
    size_t n;
};

static void
prepared_free(struct prepared *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        stmts_free(p[i].v, p[i].n);
    free(p);
}

static int
prepare_all(const struct sql_spec *s, char **units, size_t n, struct prepared **out, struct err *e)
{
    char key[32];

    if ((*out = calloc(n + 1, sizeof(**out))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "sql[%zu]", i);
        if (unit_prepare(s, units[i], key, &(*out)[i].v, &(*out)[i].n, e) < 0)
            return -1;
    }
    return 0;
}

static int
op_execute(struct run *r, struct err *e)
{
    const struct sql_spec *s = r->spec;
    /* the provider's return_single_query_results: the last result alone, or a list */
    bool single = s->sql_is_string && (s->return_last || !s->split_statements);
    struct sqlbuf out = {0};
    struct prepared *p = NULL;
    char **units = NULL, key[32];
    size_t n = 0;
    int rc = -1;
    bool began = false;

    if (execute_units(s, &units, &n, e) < 0 || prepare_all(s, units, n, &p, e) < 0)
        goto out;
    if (!s->autocommit && sqldb_begin(r->db, e) < 0)
        goto out;
    began = !s->autocommit;
    if (!single)
        sqlbuf_add(&out, "[");
    for (size_t i = 0; i < n; i++) {
        struct sqlres *res = NULL;
        snprintf(key, sizeof(key), "sql[%zu]", i);
        task_log("running %s: %s%s", key, units[i], s->has_params ? " (with parameters)" : "");
        if (unit_run(r, p[i].v, p[i].n, key, &res, e) < 0)
            goto out;
        if (single)
            out.len = 0; /* only the last statement's rows are returned */
        else if (i > 0)
            sqlbuf_add(&out, ", ");
        int jr = s->do_xcom_push ? rows_json(r, res, &out, e) : 0;
        sqlres_free(res);
        if (jr < 0)
            goto out;
    }
    if (!single)
        sqlbuf_add(&out, "]");
    if (s->do_xcom_push && out.len > r->xcom_max) {
        xcom_push(r, &out, e); /* says it is too long */
        goto out;
    }
    if (began && sqldb_commit(r->db, e) < 0)
        goto out;
    began = false;
    if (s->show_return_value_in_logs)
        task_log("Operator output is: %s", sqlbuf_str(&out));
    /* None is no XCom in Airflow: a single statement without rows pushes nothing */
    rc = s->do_xcom_push && strcmp(sqlbuf_str(&out), "null") != 0 ? xcom_push(r, &out, e) : 0;
out:
    if (began && !sqldb_lost(r->db)) {
        struct err ignored;
        sqldb_rollback(r->db, &ignored);
    }
    prepared_free(p, n);
    sqlbuf_clear(&out);
    sqltext_list_free(units);
    return rc;
}

/* ---- checks ----------------------------------------------------------------------------- */

/* The provider's get_first: the first row of the text's last statement. *res is NULL (and
 * the function still succeeds) when there is no row. */
static int
get_first(struct run *r, const char *sql, bool bind, const char *key, struct sqlres **res,
          struct err *e)
{
    task_log("executing %s: %s%s", key, sql,
             bind && r->spec->has_params ? " (with parameters)" : "");
    if (run_text(r, sql, bind, key, res, e) < 0)
        return -1;
    if (!sqlres_has_rows(*res) || sqlres_nrows(*res) == 0 || sqlres_ncols(*res) == 0) {
        sqlres_free(*res);
        *res = NULL;
    }
    return 0;
}

/* The first row as a JSON list, for logs and XCom. */
static void
row_json(struct sqlbuf *b, const struct sqlres *res)
{
    sqlbuf_add(b, "[");
    for (size_t j = 0; j < sqlres_ncols(res); j++) {
        struct sqlval v = sqlres_value(res, 0, j);
        sqlbuf_add(b, j ? ", " : "");
        sqlval_json(b, &v);
    }
    sqlbuf_add(b, "]");
}

/* The first row's values in an array (borrowed from res). */
static struct sqlval *
row_values(const struct sqlres *res, struct err *e)
{
    struct sqlval *v = calloc(sqlres_ncols(res) + 1, sizeof(*v));

    if (v == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    for (size_t j = 0; j < sqlres_ncols(res); j++)
        v[j] = sqlres_value(res, 0, j);
    return v;
}

/* check and value_check: the first row, every value truthy / equal to pass_value. */
static int
op_row_check(struct run *r, struct err *e)
{
    const struct sql_spec *s = r->spec;
    struct sqlres *res = NULL;
    struct sqlbuf why = {0}, x = {0};
    struct sqlval *row = NULL;
    int rc = -1;

    if (get_first(r, s->sql[0], true, "sql", &res, e) < 0)
        return -1;
    if (res == NULL)
        return err_set(e, ERR_FAIL, "check failed: the query returned zero rows: %s", s->sql[0]);
    if ((row = row_values(res, e)) == NULL)
        goto out;
    bool ok = s->op == SQL_CHECK ? sqlcheck_row(row, sqlres_ncols(res), &why)
                                 : sqlcheck_value(row, sqlres_ncols(res), s->pass_value,
                                                  s->has_tolerance, s->tolerance, &why);
    sqlbuf_add(&x, "{\"result\": ");
    row_json(&x, res);
    if (s->op == SQL_VALUE_CHECK) {
        sqlbuf_add(&x, ", \"pass_value\": ");
        sqlbuf_json_str(&x, s->pass_value);
        if (s->has_tolerance) {
            sqlbuf_add(&x, ", \"tolerance\": ");
            sqlcheck_json_number(&x, s->tolerance);
        }
    }
    sqlbuf_addf(&x, ", \"success\": %s}", ok ? "true" : "false");
    task_log("record: %s", sqlbuf_str(&x));
    if (xcom_push(r, &x, e) < 0)
        goto out;
    if (!ok) {
        err_set(e, ERR_FAIL, "check failed: %s (query: %s)", sqlbuf_str(&why), s->sql[0]);
        goto out;
    }
    task_log("success: every check passed");
    rc = 0;
out:
    free(row);
    sqlres_free(res);
    sqlbuf_clear(&why);
    sqlbuf_clear(&x);
    return rc;
}

/* A threshold's value: the number, or the first cell of its SQL. */
static int
threshold_value(struct run *r, const struct sql_threshold *t, const char *key, double *out,
                struct err *e)
{
    struct sqlres *res = NULL;
    struct sqlval v;

    if (!t->is_sql) {
        *out = t->num;
        return 0;
    }
    if (get_first(r, t->sql, false, key, &res, e) < 0)
        return -1;
    v = sqlres_value(res, 0, 0);
    int bad = res == NULL || v.kind == SQLV_TEXT || v.kind == SQLV_OTHER || sqlval_float(&v, out);
    sqlres_free(res);
    return bad ? err_set(e, ERR_FAIL, "%s: the query returned %s, not a number", key,
                         res ? "a value that is" : "zero rows and so")
               : 0;
}

static int
op_threshold(struct run *r, struct err *e)
{
    const struct sql_spec *s = r->spec;
    struct sqlres *res = NULL;
    struct sqlbuf x = {0};
    double lo, hi, v = NAN;
    struct sqlval cell;
    int rc = -1;

    if (get_first(r, s->sql[0], false, "sql", &res, e) < 0)
        return -1;
    if (res == NULL)
        return err_set(e, ERR_FAIL, "the query returned zero rows: %s", s->sql[0]);
    cell = sqlres_value(res, 0, 0);
    if (threshold_value(r, &s->min_threshold, "min_threshold", &lo, e) < 0 ||
        threshold_value(r, &s->max_threshold, "max_threshold", &hi, e) < 0)
        goto out;
    bool number = cell.kind != SQLV_TEXT && cell.kind != SQLV_OTHER && sqlval_float(&cell, &v) == 0;
    bool within = number && lo <= v && v <= hi;
    sqlbuf_add(&x, "{\"result\": ");
    sqlval_json(&x, &cell);
    sqlbuf_add(&x, ", \"task_id\": ");
    sqlbuf_json_str(&x, s->task_id);
    sqlbuf_add(&x, ", \"min_threshold\": ");
    sqlcheck_json_number(&x, lo);
    sqlbuf_add(&x, ", \"max_threshold\": ");
    sqlcheck_json_number(&x, hi);
    sqlbuf_addf(&x, ", \"within_threshold\": %s}", within ? "true" : "false");
    task_log("record: %s", sqlbuf_str(&x));
    if (xcom_push(r, &x, e) < 0)
        goto out;
    if (!within) {
        struct sqlbuf val = {0};
        sqlval_pystr(&val, &cell);
        err_set(e, ERR_FAIL, "Threshold Check: \"%s\" failed: result %s is %s thresholds %g and %g",
                s->task_id, sqlbuf_str(&val),
                number ? "not within" : "not a number to compare with", lo, hi);
        sqlbuf_clear(&val);
        goto out;
    }
    task_log("Test %s successful: %g <= %g <= %g", s->task_id, lo, v, hi);
    rc = 0;
out:
    sqlres_free(res);
    sqlbuf_clear(&x);
    return rc;
}

/* Append a bound's option to a JSON object body and to a message. */
static void
bound_out(struct sqlbuf *json, struct sqlbuf *msg, const char *name, const struct sqlbound *b)
{
    if (!b->set)
        return;
    sqlbuf_addf(json, ", \"%s\": ", name);
    sqlbuf_addf(msg, " %s ", name);
    if (b->is_num) {
        sqlcheck_json_number(json, b->num);
        sqlbuf_addf(msg, "%g", b->num);
    } else {
        sqlbuf_json_str(json, b->str);
        sqlbuf_addf(msg, "'%s'", b->str);
    }
}

/* One column check's entry {options..., "result", "success"}; a failure is added to failed. */
static bool
column_result(const struct sql_spec *s, const struct sqlcolcheck *c, const struct sqlval *v,
              struct sqlbuf *x, struct sqlbuf *failed)
{
    struct sqlbuf why = {0}, bounds = {0};
    bool ok = sqlcheck_column_match(c, v, s->accept_none, &why);

    sqlbuf_json_str(x, c->check);
    sqlbuf_add(x, ": {\"result\": ");
    sqlval_json(x, v);
    sqlbuf_addf(x, ", \"success\": %s", ok ? "true" : "false");
    bound_out(x, &bounds, "equal_to", &c->equal_to);
    bound_out(x, &bounds, "greater_than", &c->greater_than);
    bound_out(x, &bounds, "geq_to", &c->geq_to);
    bound_out(x, &bounds, "less_than", &c->less_than);
    bound_out(x, &bounds, "leq_to", &c->leq_to);
    if (c->has_tol) {
        sqlbuf_add(x, ", \"tolerance\": ");
        sqlcheck_json_number(x, c->tol);
        sqlbuf_addf(&bounds, " tolerance %g", c->tol);
    }
    if (c->partition_clause) {
        sqlbuf_add(x, ", \"partition_clause\": ");
        sqlbuf_json_str(x, c->partition_clause);
    }
    sqlbuf_add(x, "}");
    if (!ok) {
        sqlbuf_addf(failed, "%sColumn: %s, Check: %s, result: ", failed->len ? "; " : "", c->column,
                    c->check);
        sqlval_pystr(failed, v);
        sqlbuf_addf(failed, ", bound:%s%s%s", sqlbuf_str(&bounds), why.len ? " - " : "",
                    sqlbuf_str(&why));
    }
    sqlbuf_clear(&why);
    sqlbuf_clear(&bounds);
    return ok;
}

/* A table check's entry; result 1/0 read with the provider's _parse_boolean(str(result)). */
static bool
table_result(const struct sqltabcheck *c, const struct sqlval *v, struct sqlbuf *x,
             struct sqlbuf *failed)
{
    struct sqlbuf str = {0};

    sqlval_pystr(&str, v);
    bool ok = sqlcheck_parse_boolean(sqlbuf_str(&str)) == 1;
    sqlbuf_json_str(x, c->name);
    sqlbuf_add(x, ": {\"check_statement\": ");
    sqlbuf_json_str(x, c->statement);
    if (c->partition_clause) {
        sqlbuf_add(x, ", \"partition_clause\": ");
        sqlbuf_json_str(x, c->partition_clause);
    }
    sqlbuf_add(x, ", \"result\": ");
    sqlval_json(x, v);
    sqlbuf_addf(x, ", \"success\": %s}", ok ? "true" : "false");
    if (!ok)
        sqlbuf_addf(failed, "%sCheck: %s, check_statement: %s, result: %s%s",
                    failed->len ? "; " : "", c->name, c->statement, sqlbuf_str(&str),
                    v->kind == SQLV_NULL ? " (no rows to check)" : "");
    sqlbuf_clear(&str);
    return ok;
}

/* column_check and table_check: one query, one row, one column per check. */
static int
op_multi_check(struct run *r, struct err *e)
{
    const struct sql_spec *s = r->spec;
    bool columns = s->op == SQL_COLUMN_CHECK;
    size_t n = columns ? s->ncolchecks : s->ntabchecks;
    struct sqlbuf sql = {0}, x = {0}, failed = {0};
    struct sqlres *res = NULL;
    int rc = -1;

    if ((columns
             ? sqlcheck_column_sql(s->table, s->colchecks, n, s->partition_clause, &sql, e)
             : sqlcheck_table_sql(s->table, s->tabchecks, n, s->partition_clause, &sql, e)) < 0) {
        err_prefix(e, "task %s", s->task_id);
        goto out;
    }
    if (get_first(r, sqlbuf_str(&sql), false, "checks", &res, e) < 0)
        goto out;
    if (res == NULL || sqlres_ncols(res) != n) {
        err_set(e, ERR_FAIL, "the following query returned zero rows: %s", sqlbuf_str(&sql));
        goto out;
    }
    sqlbuf_add(&x, "{");
    for (size_t i = 0; i < n; i++) {
        struct sqlval v = sqlres_value(res, 0, i);
        if (columns) {
            const struct sqlcolcheck *c = &s->colchecks[i];
            bool first_of_column = i == 0 || strcmp(s->colchecks[i - 1].column, c->column);
            if (first_of_column) {
                sqlbuf_add(&x, i ? "}, " : "");
                sqlbuf_json_str(&x, c->column);
                sqlbuf_add(&x, ": {");
            } else {
                sqlbuf_add(&x, ", ");
            }
            column_result(s, c, &v, &x, &failed);
        } else {
            sqlbuf_add(&x, i ? ", " : "");
            table_result(&s->tabchecks[i], &v, &x, &failed);
        }
    }
    sqlbuf_add(&x, columns ? "}}" : "}");
    task_log("record: %s", sqlbuf_str(&x));
    if (xcom_push(r, &x, e) < 0)
        goto out;
    if (failed.len > 0) {
        err_set(e, ERR_FAIL, "test failed: %s", sqlbuf_str(&failed));
        goto out;
    }
    task_log("all tests have passed");
    rc = 0;
out:
    sqlres_free(res);
    sqlbuf_clear(&sql);
    sqlbuf_clear(&x);
    sqlbuf_clear(&failed);
    return rc;
}

/* ---- branch ----------------------------------------------------------------------------- */

/* Write text to path through a temp file and rename (a reader sees all or nothing). */
static int
write_atomic(const char *path, const char *text, struct err *e)
{
    char tmp[4096];
    int fd;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
        return err_set(e, ERR_IO, "%s: path too long", path);
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        return err_set(e, ERR_IO, "create %s: %s", tmp, strerror(errno));
    if (fd_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
        rename(tmp, path) < 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        return err_set(e, ERR_IO, "write %s: %s", path, strerror(saved));
    }
    return 0;
}

static int
op_branch(struct run *r, struct err *e)
{
    const struct sql_spec *s = r->spec;
    const char *file = task_env("GUST_BRANCH_FILE", NULL);
    struct sqlres *res = NULL;
    struct sqlbuf why = {0}, ids = {0};
    bool yes;
    int rc = -1;

    if (get_first(r, s->sql[0], true, "sql", &res, e) < 0)
        return -1;
    if (res == NULL)
        return err_set(e, ERR_FAIL,
                       "no rows returned from the query: the branch expects a true or false value");
    struct sqlval v = sqlres_value(res, 0, 0);
    if (sqlcheck_branch(&v, &yes, &why) < 0) {
        err_set(e, ERR_FAIL, "%s", sqlbuf_str(&why));
        goto out;
    }
    const char **follow = yes ? s->follow_true : s->follow_false;
    size_t n = yes ? s->nfollow_true : s->nfollow_false;
    sqlbuf_add(&ids, "[");
    for (size_t i = 0; i < n; i++) {
        sqlbuf_add(&ids, i ? ", " : "");
        sqlbuf_json_str(&ids, follow[i]);
    }
    sqlbuf_add(&ids, "]");
    task_log("query returned %s: following %s (follow_task_ids_if_%s)", v.text ? v.text : "None",
             sqlbuf_str(&ids), yes ? "true" : "false");
    if (ids.failed) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    if (file == NULL)
        task_log("warning: GUST_BRANCH_FILE is not set: the followed task ids are only logged");
    else if (write_atomic(file, sqlbuf_str(&ids), e) < 0)
        goto out;
    rc = 0;
out:
    sqlres_free(res);
    sqlbuf_clear(&why);
    sqlbuf_clear(&ids);
    return rc;
}

/* ---- sensor ----------------------------------------------------------------------------- */

/* One poke of SqlSensor: met when the first cell of the first row is truthy (Airflow's
 * default success), an error when there is no row and fail_on_empty. */
static int
sensor_poke(void *arg, int n, struct err *e)
{
    struct run *r = arg;
    struct sqlres *res = NULL;

    if (get_first(r, r->spec->sql[0], true, "poke", &res, e) < 0)
        return -1;
    if (res == NULL && r->spec->fail_on_empty)
        return err_set(e, ERR_FAIL, "no rows returned, raising as per fail_on_empty");
    struct sqlval v = sqlres_value(res, 0, 0);
    bool done = res != NULL && sqlval_truthy(&v);
    task_log("poke %d: first cell %s: %s", n, v.text ? v.text : "None",
             done ? "criteria met" : "not yet");
    sqlres_free(res);
    return done;
}

/* SqlSensor: the poke loop of every process sensor (tasks/lib/sensorloop.h), which decides
 * the exit code itself: 0 met, 98 not yet in reschedule mode, 100 timed out, 99 skipped. */
static int
op_sensor(struct run *r, struct err *e)
{
    struct sensor_common c;

    if (sensorloop_read((json_t *)r->spec->doc, &c, e) < 0)
        return TASK_USAGE;
    return sensorloop_run(&c, sensor_poke, r);
}

/* ---- main ------------------------------------------------------------------------------- */

static int
dispatch(struct run *r, struct err *e)
{
    switch (r->spec->op) {
    case SQL_EXECUTE:
        return op_execute(r, e);
    case SQL_CHECK:
    case SQL_VALUE_CHECK:
        return op_row_check(r, e);
    case SQL_THRESHOLD_CHECK:
        return op_threshold(r, e);
    case SQL_COLUMN_CHECK:
    case SQL_TABLE_CHECK:
        return op_multi_check(r, e);
    case SQL_BRANCH:
        return op_branch(r, e);
    case SQL_SENSOR:
        return -1; /* main runs it: its exit code is the loop's */
    }
    return err_set(e, ERR_USAGE, "unknown operator");
}

static size_t
xcom_limit(void)
{
    const char *v = task_env("GUST_XCOM_MAX_BYTES", NULL);
    char *end;
    double d = v ? strtod(v, &end) : 0;

    return v && *end == '\0' && d >= 1 && d < 1e15 ? (size_t)d : XCOM_MAX_DEFAULT;
}

int
main(int argc, char **argv)
{
    const char *spec_path = NULL;
    struct task_opt opts[] = {
        {"--spec", "GUST_SQL_SPEC", NULL, "the JSON spec file of the try (written by gust)",
         &spec_path, false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct sql_spec spec = {0};
    struct run r = {.spec = &spec, .started = clock_mono(), .xcom_max = xcom_limit()};
    struct err e = {0};
    int rc, code;

    task_set_name("sql_task");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (rc < 0)
        goto fail;
    if (spec_path == NULL || *spec_path == '\0') {
        err_set(&e, ERR_USAGE, "--spec FILE is required (see --help)");
        goto fail;
    }
    if (sqlspec_load(spec_path, &spec, &e) < 0)
        goto fail;
    task_log("dag=%s run=%s task=%s operator=%s conn_id=%s", spec.dag_id ? spec.dag_id : "?",
             spec.run_id ? spec.run_id : "?", spec.task_id, spec.op_name, spec.conn_id);
    if ((r.db = sqldb_open(spec.conn_id, spec.database, &e)) == NULL)
        goto fail;
    task_log("connected to %s", sqldb_describe(r.db));
    sqldb_set_progress(r.db, log_progress, NULL, atof(task_env("GUST_SQL_PROGRESS_SECONDS", "60")));
    if (spec.op == SQL_SENSOR) {
        code = op_sensor(&r, &e);
        if (code == TASK_USAGE && e.code != ERR_OK)
            task_log("error: %s", e.msg);
        sqldb_free(r.db);
        sqlspec_clear(&spec);
        return code;
    }
    rc = dispatch(&r, &e);
    if (rc == 0) {
        task_log("done in %.3fs", clock_mono() - r.started);
        sqldb_free(r.db);
        sqlspec_clear(&spec);
        return TASK_OK;
    }
fail:
    code = task_exit_code(&e);
    task_log("error: %s", e.msg);
    sqldb_free(r.db);
    sqlspec_clear(&spec);
    return code;
}

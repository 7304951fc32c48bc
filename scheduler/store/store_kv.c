/* store_kv: the small named rows of gust's state (docs/architecture.md, "State"): XCom values
 * (JSONB, one per run, task and key), variables, and the audit `log`. The counterpart of
 * store_run.c, split off to keep files small; same rules: parameters only, nothing printed.
 *
 * XCom rows hang off their dag_run (ON DELETE CASCADE) and are looked up by
 * (dag_id, run_id, task_id, map_index, key) of a task instance. JSON comes back in
 * JSONB's normal form (store.h), equal as JSON to what was stored, not byte-for-byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* $1 dag, $2 run, $3 task; map_index the parameter number m */

/* ---- audit log ----------------------------------------------------------------------- */

int
store_log_row(struct store *s, const char *event, const char *dag_id, const char *task_id,
              const char *run_id, const char *owner, const char *extra, time_t now, struct err *e)
{
    char t[32];
    const char *p[] = {event, dag_id, task_id, run_id, owner, extra, now ? t : NULL};

    snprintf(t, sizeof(t), "%lld", (long long)now);
    return store_exec_cmd(s, e,
                          "INSERT INTO log (event, dag_id, task_id, run_id, owner, extra, dttm) "
                          "VALUES ($1, $2, $3, $4, $5, $6, "
                          "coalesce(to_timestamp($7::float8), now()))",
                          7, p);
}

int
store_log_event(struct store *s, const char *event, const char *dag_id, const char *task_id,
                const char *run_id, const char *extra, struct err *e)
{
    if (store_log_row(s, event, dag_id, task_id, run_id, NULL, extra, 0, e) != 0)
        return err_prefix(e, "log event %s", event);
    return 0;
}

/* ---- XCom ---------------------------------------------------------------------------- */

int
store_xcom_set(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
               int map_index, const char *key, const char *json, struct err *e)
{
    struct pbuf m;
    const char *p[] = {dag_id, run_id, task_id, key, json, p_int(&m, map_index)};
    PGresult *res;
    int found;

    if (json == NULL)
        return err_set(e, ERR_USAGE, "xcom %s %s: no value", task_id, key);
    /* lazy: the try's end, committed next, makes it durable (see store_int.h) */
    res = store_exec_lazy(
        s, e,
        "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, "
        "value, timestamp) SELECT id, $3, $6::int, $4, dag_id, run_id, $5::jsonb, now() "
        "FROM dag_run WHERE dag_id = $1 AND run_id = $2 "
        "ON CONFLICT (dag_run_id, task_id, map_index, key) "
        "DO UPDATE SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp "
        "RETURNING 1",
        6, p);
    if (res == NULL)
        return err_prefix(e, "xcom %s %s %s %s", dag_id, run_id, task_id, key);
    found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        return err_set(e, ERR_NOTFOUND, "xcom %s: run '%s' of DAG '%s' not found", key, run_id,
                       dag_id);
    return 0;
}

/* One XCom text from p ($1 dag, $2 run, $3 task, $4 key, then sql's own), NULL when none. */
static int
xcom_text(struct store *s, const char *sql, int n, const char *const *p, char **json, struct err *e)
{
    PGresult *res = store_exec(s, e, sql, n, p);
    int rc = 0;

    *json = NULL;
    if (res == NULL)
        return err_prefix(e, "xcom %s %s %s %s", p[0], p[1], p[2], p[3]);
    if (PQntuples(res) == 1 && (*json = strdup(PQgetvalue(res, 0, 0))) == NULL)
        rc = err_set(e, ERR_FAIL, "xcom %s: out of memory", p[3]);
    PQclear(res);
    return rc;
}

int
store_xcom_get(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
               int map_index, const char *key, char **json, struct err *e)
{
    struct pbuf m;
    const char *p[] = {dag_id, run_id, task_id, key, p_int(&m, map_index)};

    return xcom_text(s,
                     "SELECT value::text FROM xcom WHERE " TI_KEY("5") " AND key = $4 AND value "
                                                                       "IS NOT NULL",
                     5, p, json, e);
}

int
store_xcom_collect(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   const char *key, char **json, struct err *e)
{
    const char *p[] = {dag_id, run_id, task_id, key};

    return xcom_text(s,
                     "SELECT coalesce(jsonb_agg(value ORDER BY map_index), '[]')::text FROM xcom "
                     "WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index >= 0 AND "
                     "key = $4 AND value IS NOT NULL",
                     4, p, json, e);
}

/* The rows store_xcom_if_changed reads ($1 dag, $2 run, $3 task). */
#define RV_ROWS                                                                                    \
    "FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = 'return_value' "       \
    "AND value IS NOT NULL AND "

int
store_xcom_if_changed(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                      bool collect, const char *known, char **json, char *version, struct err *e)
{
    const char *p[] = {dag_id, run_id, task_id, known};
    /* The value is converted (and read from its TOAST) only when the version differs: the
     * CASE evaluates its subquery only then. */
    PGresult *res = store_exec(
        s, e,
        collect ? "WITH v AS (SELECT count(*) || '/' || coalesce(max(timestamp)::text, '') || '/' "
                  "|| coalesce(max(xmin::text::bigint)::text, '') AS v " RV_ROWS "map_index >= 0) "
                  "SELECT v.v, CASE WHEN v.v IS NOT DISTINCT FROM $4 THEN NULL ELSE "
                  "(SELECT coalesce(jsonb_agg(value ORDER BY map_index), '[]')::text " RV_ROWS
                  "map_index >= 0) END FROM v"
                : "SELECT v, CASE WHEN v IS NOT DISTINCT FROM $4 THEN NULL ELSE value::text END "
                  "FROM (SELECT '1/' || timestamp::text || '/' || xmin::text AS v, value " RV_ROWS
                  "map_index = -1) x",
        4, p);
    int rc = 0;

    *json = NULL;
    version[0] = '\0';
    if (res == NULL)
        return err_prefix(e, "xcom %s %s %s return_value", dag_id, run_id, task_id);
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        snprintf(version, STORE_XCOM_VERSION, "%s", PQgetvalue(res, 0, 0));
        if (!PQgetisnull(res, 0, 1) && (*json = strdup(PQgetvalue(res, 0, 1))) == NULL)
            rc = err_set(e, ERR_FAIL, "xcom %s: out of memory", task_id);
    }
    PQclear(res);
    return rc;
}

int
store_xcom_clear(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                 int map_index, struct err *e)
{
    struct pbuf m;
    const char *p[] = {dag_id, run_id, task_id, p_int(&m, map_index)};

    if (store_exec_cmd(s, e, "DELETE FROM xcom WHERE " TI_KEY("4"), 4, p) != 0)
        return err_prefix(e, "clear xcom %s %s %s", dag_id, run_id, task_id);
    return 0;
}

/* ---- variables ----------------------------------------------------------------------- */

int
store_variable_get(struct store *s, const char *key, char **value, struct err *e)
{
    const char *p[] = {key};
    PGresult *res = store_exec(s, e, "SELECT val FROM variable WHERE key = $1", 1, p);
    int rc = 0;

    *value = NULL;
    if (res == NULL)
        return err_prefix(e, "variable %s", key);
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
        (*value = strdup(PQgetvalue(res, 0, 0))) == NULL)
        rc = err_set(e, ERR_FAIL, "variable %s: out of memory", key);
    PQclear(res);
    return rc;
}

int
store_variable_set(struct store *s, const char *key, const char *value, struct err *e)
{
    const char *p[] = {key, value};

    if (store_exec_cmd(s, e,
                       "INSERT INTO variable (key, val) VALUES ($1, $2) "
                       "ON CONFLICT (key) DO UPDATE SET val = EXCLUDED.val",
                       2, p) != 0)
        return err_prefix(e, "set variable %s", key);
    return 0;
}

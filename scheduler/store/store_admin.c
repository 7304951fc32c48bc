/* store_admin: the queries of the maintenance and scripting verbs: `db clean` (retention),
 * `db reset`, `dags delete`, `dags list-runs` filters, a logical date resolved to its run,
 * and DAG ids matching a regex.
 *
 * Key invariants: db clean never touches a queued or running run (nor its task instances or
 * XCom) and keeps each DAG's newest non-manual run, as Airflow's does (the scheduler's
 * catch-up starts from it); every statement of one clean runs in one transaction. db reset
 * drops exactly what the embedded migrations create (tables, schemas, functions, read from
 * their text) and migrates again. Table names in SQL come only from the fixed list below. */
#include <ctype.h>
#include <string.h>

#include "store_int.h"

/* One table db clean knows: Airflow's name and which of its rows are older than $1 (epoch). */
static const struct clean_table {
    const char *name, *where;
} clean_tables[] = {
    {"dag_run", "coalesce(start_date, queued_at, logical_date) < to_timestamp($1::float8) AND "
                "state NOT IN ('queued', 'running') AND id NOT IN (SELECT DISTINCT ON (dag_id) "
                "id FROM dag_run WHERE run_type <> 'manual' ORDER BY dag_id, logical_date DESC "
                "NULLS LAST, id DESC)"},
    {"task_instance", "start_date < to_timestamp($1::float8) AND state IS DISTINCT FROM "
                      "'running' AND (dag_id, run_id) IN (SELECT dag_id, run_id FROM dag_run "
                      "WHERE state IN ('success', 'failed'))"},
    {"task_instance_history", "coalesce(end_date, start_date) < to_timestamp($1::float8)"},
    {"xcom", "timestamp < to_timestamp($1::float8) AND dag_run_id IN (SELECT id FROM dag_run "
             "WHERE state IN ('success', 'failed'))"},
    {"log", "dttm < to_timestamp($1::float8)"},
    {"job", "latest_heartbeat < to_timestamp($1::float8) AND state <> 'running'"},
    {"import_error", "timestamp < to_timestamp($1::float8)"},
    /* a sensor's reschedules: the poke ended before TS (its task instance's first_poke stays) */
    {"task_reschedule", "end_date < to_timestamp($1::float8)"},
    /* asset updates (the links of the runs that consumed them go with them; the queue keeps
     * its own rows, so a pending consumer run is not lost) */
    {"asset_event", "timestamp < to_timestamp($1::float8)"},
};
#define N_CLEAN (sizeof(clean_tables) / sizeof(clean_tables[0]))

const char *
store_clean_table_name(int i)
{
    return i >= 0 && (size_t)i < N_CLEAN ? clean_tables[i].name : NULL;
}

/* dag_run's DELETE: also hands back (dag_id, run_id) of each run removed, for its log files. */
static int
clean_runs(struct store *s, const char *where, const char *const *p, struct store_clean *c,
           struct err *e)
{
    char sql[1024];
    PGresult *res;
    int n;

    snprintf(sql, sizeof(sql), "DELETE FROM dag_run WHERE %s RETURNING dag_id, run_id", where);
    if ((res = store_exec(s, e, sql, 1, p)) == NULL)
        return -1;
    n = PQntuples(res);
    c->runs = calloc((size_t)n * 2 + 1, sizeof(char *));
    for (int i = 0; c->runs && i < n; i++) {
        c->runs[2 * i] = strdup(PQgetvalue(res, i, 0));
        c->runs[2 * i + 1] = strdup(PQgetvalue(res, i, 1));
    }
    c->n_runs = c->runs ? (size_t)n : 0;
    c->counts[0] = n;
    PQclear(res);
    return 0;
}

/* Count (dry run) or delete the old rows of table i. */
static int
clean_one(struct store *s, size_t i, const char *const *p, struct store_clean *c, struct err *e)
{
    char sql[1024];
    PGresult *res;

    if (i == 0 && !c->dry_run)
        return clean_runs(s, clean_tables[i].where, p, c, e);
    snprintf(sql, sizeof(sql),
             c->dry_run ? "SELECT count(*) FROM %s WHERE %s" : "DELETE FROM %s WHERE %s",
             clean_tables[i].name, clean_tables[i].where);
    if ((res = store_exec(s, e, sql, 1, p)) == NULL)
        return -1;
    c->counts[i] = atoll(c->dry_run ? PQgetvalue(res, 0, 0) : PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int
store_db_clean(struct store *s, struct store_clean *c, struct err *e)
{
    struct pbuf t;
    const char *p[] = {p_int(&t, (long long)c->before)};
    int rc = 0;

    c->runs = NULL, c->n_runs = 0;
    memset(c->counts, 0, sizeof(c->counts));
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "db clean");
    for (size_t i = 0; i < N_CLEAN && rc == 0; i++)
        if (c->tables & (1u << i))
            rc = clean_one(s, i, p, c, e);
    if (store_end_tx(s, rc, e) < 0)
        return err_prefix(e, "db clean");
    return 0;
}

void
store_clean_free(struct store_clean *c)
{
    for (size_t i = 0; c->runs && i < 2 * c->n_runs; i++)
        free(c->runs[i]);
    free(c->runs);
    c->runs = NULL, c->n_runs = 0;
}

/* ---- db reset ---------------------------------------------------------------------- */

/* After "CREATE [OR REPLACE] <kind> [IF NOT EXISTS] " at p: the object's name into name
 * (letters, digits, _ and .); 0 when there is none. */
static int
object_name(const char *p, char *name, size_t size)
{
    size_t n = 0;

    p += strspn(p, " \t\n");
    if (strncmp(p, "IF NOT EXISTS", 13) == 0)
        p += 13 + strspn(p + 13, " \t\n");
    while ((isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.') && n + 1 < size)
        n++;
    snprintf(name, size, "%.*s", (int)n, p);
    return n > 0 && p[n] != '.' && name[n - 1] != '.';
}

/* DROP every object of one kind that migration sql creates. */
static int
drop_kind(struct store *s, const char *sql, const char *create, const char *drop, struct err *e)
{
    char name[128], stmt[256];

    for (const char *p = strstr(sql, create); p; p = strstr(p + 1, create)) {
        if (!object_name(p + strlen(create), name, sizeof(name)))
            continue;
        snprintf(stmt, sizeof(stmt), "DROP %s IF EXISTS %s CASCADE", drop, name);
        if (store_exec_cmd(s, e, stmt, 0, NULL) != 0)
            return -1;
    }
    return 0;
}

/* Drop what the migrations create, newest first. */
static int
drop_all(struct store *s, struct err *e)
{
    for (int i = store_n_migrations - 1; i >= 0; i--) {
        const char *sql = store_migrations[i].sql;

        if (drop_kind(s, sql, "CREATE TABLE ", "TABLE", e) != 0 ||
            drop_kind(s, sql, "CREATE OR REPLACE FUNCTION ", "FUNCTION", e) != 0 ||
            drop_kind(s, sql, "CREATE FUNCTION ", "FUNCTION", e) != 0 ||
            drop_kind(s, sql, "CREATE SEQUENCE ", "SEQUENCE", e) != 0 ||
            drop_kind(s, sql, "CREATE OR REPLACE VIEW ", "VIEW", e) != 0 ||
            drop_kind(s, sql, "CREATE VIEW ", "VIEW", e) != 0 ||
            drop_kind(s, sql, "CREATE SCHEMA ", "SCHEMA", e) != 0)
            return -1;
    }
    return store_exec_cmd(s, e, "DROP TABLE IF EXISTS gust_schema_version", 0, NULL);
}

int
store_db_reset(struct store *s, int *applied, struct err *e)
{
    int rc;

    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "db reset");
    rc = drop_all(s, e);
    if (store_end_tx(s, rc, e) < 0)
        return err_prefix(e, "db reset: drop");
    return store_migrate(s, applied, e);
}

/* ---- runs by filter, a logical date's run ------------------------------------------ */

int
store_runs_filter(struct store *s, const struct store_runs_filter *f, struct store_run **out,
                  size_t *n, struct err *e)
{
    struct pbuf a, b, l;
    enum run_state st;
    const char *p[] = {f->dag_id,
                       f->state,
                       p_time(&a, f->start),
                       p_time(&b, f->end),
                       f->no_backfill ? "t" : "f",
                       f->limit > 0 ? p_int(&l, f->limit) : NULL};

    *out = NULL, *n = 0;
    if (f->state && run_state_parse(f->state, &st) != 0)
        return err_set(e, ERR_USAGE, "unknown run state '%s'", f->state);
    if (store_runs_query(s,
                         "SELECT " RUN_COLS " FROM dag_run WHERE dag_id = $1 AND ($2::text IS "
                         "NULL OR state = $2::text) AND ($3::float8 IS NULL OR logical_date >= "
                         "to_timestamp($3::float8)) AND ($4::float8 IS NULL OR logical_date <= "
                         "to_timestamp($4::float8)) AND NOT ($5::bool AND run_type = "
                         "'backfill') ORDER BY logical_date DESC NULLS LAST, id DESC "
                         "LIMIT $6::bigint",
                         6, p, out, n, e) != 0)
        return err_prefix(e, "runs of %s", f->dag_id);
    return 0;
}

int
store_run_at(struct store *s, const char *dag_id, time_t logical, char **run_id, struct err *e)
{
    struct pbuf t;
    const char *p[] = {dag_id, p_int(&t, (long long)logical)};
    PGresult *res = store_exec(s, e,
                               "SELECT run_id FROM dag_run WHERE dag_id = $1 AND "
                               "date_trunc('second', logical_date) = to_timestamp($2::float8) "
                               "ORDER BY id DESC LIMIT 1",
                               2, p);
    int rc = 0;

    *run_id = NULL;
    if (res == NULL)
        return err_prefix(e, "run of %s", dag_id);
    if (PQntuples(res) == 0)
        rc = err_set(e, ERR_NOTFOUND, "no run of %s at that logical date", dag_id);
    else if ((*run_id = strdup(PQgetvalue(res, 0, 0))) == NULL)
        rc = err_set(e, ERR_FAIL, "out of memory");
    PQclear(res);
    return rc;
}

/* ---- DAG rows ---------------------------------------------------------------------- */

int
store_dag_delete(struct store *s, const char *dag_id, long long *removed, struct err *e)
{
    const char *p[] = {dag_id};
    PGresult *res;
    int rc;

    *removed = 0;
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "delete %s", dag_id);
    res = store_exec(s, e,
                     "WITH r AS (DELETE FROM dag_run WHERE dag_id = $1 RETURNING 1), "
                     "d AS (DELETE FROM dag WHERE dag_id = $1 RETURNING 1), "
                     "l AS (INSERT INTO log (event, dag_id, dttm) SELECT 'delete', $1, now() "
                     "FROM d) SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM d)",
                     1, p);
    rc = res ? 0 : -1;
    if (res && atoll(PQgetvalue(res, 0, 1)) == 0 && atoll(PQgetvalue(res, 0, 0)) == 0)
        rc = err_set(e, ERR_NOTFOUND, "Dag id %s not found", dag_id);
    else if (res)
        *removed = atoll(PQgetvalue(res, 0, 0)) + atoll(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (rc < 0) {
        store_rollback(s);
        return e->code == ERR_NOTFOUND ? -1 : err_prefix(e, "delete %s", dag_id);
    }
    return store_end_tx(s, 0, e) < 0 ? err_prefix(e, "delete %s", dag_id) : 0;
}

int
store_dag_ids_matching(struct store *s, const char *regex, char ***ids, size_t *n, struct err *e)
{
    const char *p[] = {regex};
    PGresult *res =
        store_exec(s, e, "SELECT dag_id FROM dag WHERE dag_id ~ $1 ORDER BY dag_id", 1, p);

    *ids = NULL, *n = 0;
    if (res == NULL)
        return err_prefix(e, "DAG ids matching '%s'", regex);
    *ids = calloc((size_t)PQntuples(res) + 1, sizeof(char *));
    for (int i = 0; *ids && i < PQntuples(res); i++)
        (*ids)[(*n)++] = strdup(PQgetvalue(res, i, 0));
    PQclear(res);
    return *ids ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

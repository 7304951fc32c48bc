/* store_sched: what scheduler daemons and workers need from the store when several of them
 * share one database and any of them may be killed at any moment (docs/architecture.md, "State" and
 * "Processes"): job heartbeats, claiming queued task instances, try leases, run promotion and
 * timeouts, integrity of a run against its DAG, pause, variables, LISTEN/NOTIFY and reconnection.
 *
 * Key invariant: nothing here trusts memory over the database. A claim is one statement with
 * FOR UPDATE SKIP LOCKED, so two claimers never start the same row; a lease renewal reports
 * the tries this job no longer owns, so a worker stops what it lost; promotion takes a per-DAG
 * advisory lock, so max_active_runs holds across schedulers. Every state change is one
 * conditional statement (or one transaction) that sends its NOTIFY inside it, so a wake-up is
 * seen only once the change is visible. Times: `now` comes from the caller (epoch seconds,
 * sent as to_timestamp), except job heartbeats, which use the server's clock so that liveness
 * never depends on two machines agreeing on the time. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "store_int.h"

/* pg_advisory_xact_lock(PROMOTE_LOCK_CLASS, hashtext(dag_id)) serializes promotions of one
 * DAG. The two-key form lives apart from the one-key lock of `db migrate`. ("gust") */
#define PROMOTE_LOCK_CLASS "1735750516"

/* ---- reading rows ------------------------------------------------------------------- */

/* A new copy of column c of row i, NULL for SQL NULL; sets *bad when out of memory. */
static char *
dup_col(const PGresult *res, int i, int c, bool *bad)
{
    char *v;

    if (PQgetisnull(res, i, c))
        return NULL;
    if ((v = strdup(PQgetvalue(res, i, c))) == NULL)
        *bad = true;
    return v;
}

static int
int_col(const PGresult *res, int i, int c)
{
    return PQgetisnull(res, i, c) ? 0 : atoi(PQgetvalue(res, i, c));
}

/* ---- jobs ------------------------------------------------------------------------------ */

int
store_job_start(struct store *s, const char *job_type, const char *hostname, int pid,
                long long *job_id, struct err *e)
{
    struct pbuf b;
    const char *p[] = {job_type, hostname, p_int(&b, pid)};
    PGresult *res = store_exec(s, e,
                               "INSERT INTO job (job_type, state, start_date, latest_heartbeat, "
                               "hostname, pid) VALUES ($1, 'running', now(), now(), $2, "
                               "nullif($3::int, 0)) RETURNING id",
                               3, p);

    if (res == NULL)
        return err_prefix(e, "start %s job", job_type);
    *job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    s->job_id = *job_id; /* store_durable writes its heartbeat */
    PQclear(res);
    return 0;
}

int
store_job_heartbeat(struct store *s, long long job_id, struct err *e)
{
    struct pbuf b;
    const char *p[] = {p_int(&b, job_id)};
    int won = store_exec_won(s, e,
                             "UPDATE job SET latest_heartbeat = now() "
                             "WHERE id = $1::bigint AND state = 'running'",
                             1, p);

    return won < 0 ? err_prefix(e, "heartbeat of job %lld", job_id) : won;
}

int
store_job_end(struct store *s, long long job_id, const char *state, struct err *e)
{
    struct pbuf b;
    const char *p[] = {p_int(&b, job_id), state};
    int won;

    if (state == NULL || (strcmp(state, "success") != 0 && strcmp(state, "failed") != 0))
        return err_set(e, ERR_USAGE, "end job %lld: bad state '%s'", job_id,
                       state ? state : "(null)");
    won = store_exec_won(s, e,
                         "UPDATE job SET state = $2, end_date = greatest(now(), start_date) "
                         "WHERE id = $1::bigint AND state = 'running'",
                         2, p);
    return won < 0 ? err_prefix(e, "end job %lld", job_id) : won;
}

int
store_jobs_alive(struct store *s, const char *job_type, double max_age, int *alive, struct err *e)
{
    struct pbuf b;
    const char *p[] = {job_type, p_dbl(&b, max_age)};

    if (store_exec_int(s, e,
                       "SELECT count(*) FROM job WHERE state = 'running' AND "
                       "($1::text IS NULL OR job_type = $1::text) AND "
                       "latest_heartbeat >= now() - make_interval(secs => $2::float8)",
                       2, p, alive) != 0)
        return err_prefix(e, "live jobs");
    return 0;
}

/* ---- claims ---------------------------------------------------------------------------- */

/* The dag_ids filter as a JSON array (jsonb's ? tests membership); NULL when there is none. */
static int
dag_ids_json(const struct store_claim_filter *f, char **text, struct err *e)
{
    json_t *a;

    *text = NULL;
    if (f == NULL || f->n_dag_ids == 0)
        return 0;
    if ((a = json_array()) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < f->n_dag_ids; i++)
        if (json_array_append_new(a, json_string(f->dag_ids[i])) != 0)
            break;
    if (json_array_size(a) == f->n_dag_ids)
        *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return *text ? 0 : err_set(e, ERR_FAIL, "dag ids: out of memory or bad UTF-8");
}

void
store_claims_free(struct store_claim *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].dag_id);
        free(c[i].run_id);
        free(c[i].task_id);
        free(c[i].problem);
    }
    free(c);
}

/* The rows of a claim (dag_id, run_id, task_id, try_number, max_tries, map_index,
 * first_poke, poke_count, problem) into *out. */
static int
read_claims(const PGresult *res, struct store_claim **out, size_t *n, struct err *e)
{
    size_t count = (size_t)PQntuples(res);
    struct store_claim *c;
    bool bad = false;

    if (count == 0)
        return 0;
    if ((c = calloc(count, sizeof(*c))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (int i = 0; i < (int)count; i++) {
        c[i].dag_id = dup_col(res, i, 0, &bad);
        c[i].run_id = dup_col(res, i, 1, &bad);
        c[i].task_id = dup_col(res, i, 2, &bad);
        c[i].try_number = int_col(res, i, 3);
        c[i].max_tries = int_col(res, i, 4);
        c[i].map_index = int_col(res, i, 5);
        c[i].first_poke = PQgetisnull(res, i, 6) ? 0 : atof(PQgetvalue(res, i, 6));
        c[i].poke_count = int_col(res, i, 7);
        if (!PQgetisnull(res, i, 8))
            c[i].problem = dup_col(res, i, 8, &bad);
    }
    if (bad) {
        store_claims_free(c, count);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    *out = c, *n = count;
    return 0;
}

/* $1 dag, $2 run, $3 queues (comma-separated), $4 dag ids (JSON), $5 limit, $6 now, $7 host, $8
 * pid, $9 job, $10 lease end. gust_claim (migration 0014) does the claim in one call: pools, DAG
 * and task limits counted under a lock every claimer takes, the chosen rows locked (skipping rows
 * locked elsewhere), a try started on each and its XCom dropped, all or nothing. */
static const char CLAIM_SQL[] =
    "SELECT dag_id, run_id, task_id, try_number, max_tries, map_index, first_poke, poke_count, "
    "problem FROM gust_claim($1::text, $2::text, $3::text, $4::jsonb, $5::bigint, $6::float8, "
    "$7::text, $8::int, $9::bigint, $10::float8)";

int
store_claim_queued(struct store *s, const struct store_claim_filter *f, int limit,
                   const char *hostname, int pid, long long job_id, double lease_seconds,
                   double now, struct store_claim **out, size_t *n, struct err *e)
{
    struct pbuf b[5];
    char *ids = NULL;
    const char *p[] = {f ? f->dag_id : NULL,
                       f ? f->run_id : NULL,
                       f ? f->queue : NULL,
                       NULL,
                       p_int(&b[0], limit),
                       p_ts(&b[1], now),
                       hostname,
                       p_int(&b[2], pid),
                       p_int(&b[3], job_id),
                       p_dbl(&b[4], now + lease_seconds)};
    PGresult *res;
    int rc;

    *out = NULL, *n = 0;
    if (limit <= 0)
        return 0;
    if (dag_ids_json(f, &ids, e) != 0)
        return err_prefix(e, "claim");
    p[3] = ids;
    res = store_exec(s, e, CLAIM_SQL, 10, p);
    free(ids);
    if (res == NULL)
        return err_prefix(e, "claim");
    rc = read_claims(res, out, n, e);
    if (PQntuples(res) > 0) /* it wrote, and committed synchronously: all WAL before is on disk */
        s->unflushed = false;
    PQclear(res);
    return rc < 0 ? err_prefix(e, "claim") : 0;
}

/* ---- leases ---------------------------------------------------------------------------- */

/* tries as a JSON array of {i, d, r, t, m, n} (index, dag, run, task, map index, try). */
static int
tries_json(const struct store_try_ref *tries, size_t n, char **text, struct err *e)
{
    json_t *a = json_array();

    *text = NULL;
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:i, s:i}", "i", (json_int_t)i,
                                               "d", tries[i].dag_id, "r", tries[i].run_id, "t",
                                               tries[i].task_id, "m", tries[i].map_index, "n",
                                               tries[i].try_number)) != 0)
            break;
    if (a && json_array_size(a) == n)
        *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return *text ? 0 : err_set(e, ERR_FAIL, "tries: out of memory or bad UTF-8");
}

/* $1 job, $2 lease end, $3 now, $4 tries (JSON). u renews the job's running rows and adopts
 * the given running tries that have no job; the SELECT names the given tries u did not
 * renew: lost. */
static const char RENEW_SQL[] =
    "WITH g AS (SELECT * FROM jsonb_to_recordset($4::jsonb) AS g(i int, d text, r text, "
    "t text, m int, n int)), "
    "u AS (UPDATE task_instance ti SET lease_until = to_timestamp($2::float8), "
    "last_heartbeat_at = to_timestamp($3::float8), job_id = $1::bigint "
    "WHERE ti.state = 'running' AND (ti.job_id = $1::bigint OR "
    "(ti.job_id IS NULL AND EXISTS (SELECT 1 FROM g WHERE g.d = ti.dag_id AND "
    "g.r = ti.run_id AND g.t = ti.task_id AND g.m = ti.map_index AND g.n = ti.try_number))) "
    "RETURNING ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number) "
    "SELECT g.i FROM g WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.dag_id = g.d AND "
    "u.run_id = g.r AND u.task_id = g.t AND u.map_index = g.m AND u.try_number = g.n)";

int
store_leases_renew(struct store *s, long long job_id, double lease_seconds, time_t now,
                   const struct store_try_ref *tries, size_t n, int *lost, struct err *e)
{
    struct pbuf b[3];
    char *json;
    const char *p[] = {p_int(&b[0], job_id), p_dbl(&b[1], (double)now + lease_seconds),
                       p_int(&b[2], (long long)now), NULL};
    PGresult *res;

    if (tries_json(tries, n, &json, e) != 0)
        return err_prefix(e, "renew leases of job %lld", job_id);
    p[3] = json;
    res = store_exec(s, e, RENEW_SQL, 4, p);
    free(json);
    if (res == NULL)
        return err_prefix(e, "renew leases of job %lld", job_id);
    for (size_t i = 0; i < n; i++)
        lost[i] = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t i = (size_t)int_col(res, r, 0);

        if (i < n)
            lost[i] = 1;
    }
    PQclear(res);
    return 0;
}

void
store_expired_free(struct store_expired *x, size_t n)
{
    for (size_t i = 0; x && i < n; i++) {
        free(x[i].dag_id);
        free(x[i].run_id);
        free(x[i].task_id);
        free(x[i].hostname);
    }
    free(x);
}

int
store_leases_expired(struct store *s, time_t now, int limit, struct store_expired **out, size_t *n,
                     struct err *e)
{
    struct pbuf b[2];
    const char *p[] = {p_int(&b[0], (long long)now), limit > 0 ? p_int(&b[1], limit) : NULL};
    PGresult *res = store_exec(s, e,
                               "SELECT dag_id, run_id, task_id, hostname, try_number, max_tries, "
                               "pid, map_index FROM task_instance WHERE state = 'running' AND "
                               "lease_until < to_timestamp($1::float8) ORDER BY lease_until, "
                               "dag_id, run_id, task_id, map_index LIMIT $2::bigint",
                               2, p);
    struct store_expired *x = NULL;
    size_t count;
    bool bad = false;

    *out = NULL, *n = 0;
    if (res == NULL)
        return err_prefix(e, "expired leases");
    count = (size_t)PQntuples(res);
    if (count && (x = calloc(count, sizeof(*x))) == NULL)
        bad = true;
    for (int i = 0; x && i < (int)count; i++) {
        x[i].dag_id = dup_col(res, i, 0, &bad);
        x[i].run_id = dup_col(res, i, 1, &bad);
        x[i].task_id = dup_col(res, i, 2, &bad);
        x[i].hostname = dup_col(res, i, 3, &bad);
        x[i].try_number = int_col(res, i, 4);
        x[i].max_tries = int_col(res, i, 5);
        x[i].map_index = int_col(res, i, 7);
        x[i].pid = int_col(res, i, 6);
    }
    PQclear(res);
    if (bad) {
        store_expired_free(x, count);
        return err_set(e, ERR_FAIL, "expired leases: out of memory");
    }
    *out = x, *n = count;
    return 0;
}

/* ---- runs ------------------------------------------------------------------------------ */

int
store_last_scheduled(struct store *s, const char *dag_id, time_t *logical, struct err *e)
{
    const char *p[] = {dag_id};
    PGresult *res = store_exec(s, e,
                               "SELECT extract(epoch FROM max(logical_date))::bigint FROM "
                               "dag_run WHERE dag_id = $1 AND run_type = 'scheduled'",
                               1, p);

    if (res == NULL)
        return err_prefix(e, "last scheduled run of %s", dag_id);
    *logical = PQgetisnull(res, 0, 0) ? 0 : (time_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int
store_last_scheduled_interval(struct store *s, const char *dag_id, time_t *logical, time_t *end,
                              struct err *e)
{
    const char *p[] = {dag_id};
    PGresult *res = store_exec(s, e,
                               "SELECT extract(epoch FROM logical_date)::bigint, "
                               "extract(epoch FROM data_interval_end)::bigint FROM dag_run "
                               "WHERE dag_id = $1 AND run_type = 'scheduled' "
                               "ORDER BY logical_date DESC, data_interval_end DESC LIMIT 1",
                               1, p);

    if (res == NULL)
        return err_prefix(e, "last scheduled run of %s", dag_id);
    *logical = *end = 0;
    if (PQntuples(res) == 1) {
        *logical = (time_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (!PQgetisnull(res, 0, 1))
            *end = (time_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return 0;
}

int
store_dag_active_runs(struct store *s, const char *dag_id, int *n, struct err *e)
{
    const char *p[] = {dag_id};
    PGresult *res = store_exec(s, e,
                               "SELECT count(*) FROM dag_run WHERE dag_id = $1 "
                               "AND state IN ('queued', 'running')",
                               1, p);

    if (res == NULL)
        return err_prefix(e, "active runs of %s", dag_id);
    *n = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

void
store_sched_states_free(struct store_sched_state *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].dag_id);
    free(v);
}

int
store_sched_states(struct store *s, struct store_sched_state **out, size_t *n, struct err *e)
{
    /* the paused DAGs (a scan of the dag table) and the DAGs that
     * have queued or running runs (idx_dag_run_state): nothing for an idle, unpaused bag */
    PGresult *res =
        store_exec(s, e,
                   "SELECT dag_id, bool_or(paused), bool_or(queued), bool_or(active) FROM ("
                   "SELECT dag_id, true AS paused, false AS queued, false AS active FROM dag "
                   "WHERE is_paused UNION ALL "
                   "SELECT dag_id, false, bool_or(state = 'queued'), true FROM dag_run "
                   "WHERE state IN ('queued', 'running') GROUP BY dag_id) x GROUP BY dag_id",
                   0, NULL);
    bool bad = false;
    int rows;

    *out = NULL, *n = 0;
    if (res == NULL)
        return err_prefix(e, "the DAGs' pause state and active runs");
    rows = PQntuples(res);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
        bad = true;
    for (int i = 0; i < rows && !bad; i++) {
        struct store_sched_state *v = &(*out)[(*n)++];

        v->dag_id = dup_col(res, i, 0, &bad);
        v->paused = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        v->queued = strcmp(PQgetvalue(res, i, 2), "t") == 0;
        v->active = strcmp(PQgetvalue(res, i, 3), "t") == 0;
        bad = bad || v->dag_id == NULL;
    }
    PQclear(res);
    if (bad) {
        store_sched_states_free(*out, *n);
        *out = NULL, *n = 0;
        return err_set(e, ERR_FAIL, "out of memory");
    }
    return 0;
}

void
store_last_intervals_free(struct store_last_interval *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].dag_id);
    free(v);
}

int
store_last_scheduled_intervals(struct store *s, const char *const *dag_ids, size_t n_ids,
                               struct store_last_interval **out, size_t *n, struct err *e)
{
    json_t *ids = json_array();
    char *text = NULL;
    PGresult *res = NULL;
    bool bad = ids == NULL;
    int rows;

    *out = NULL, *n = 0;
    for (size_t i = 0; i < n_ids && !bad; i++)
        bad = json_array_append_new(ids, json_string(dag_ids[i])) != 0;
    if (!bad && (text = json_dumps(ids, JSON_COMPACT)) == NULL)
        bad = true;
    json_decref(ids);
    if (bad) {
        free(text);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    /* one index probe per DAG, as store_last_scheduled_interval's; DAGs without one: no row */
    const char *p[] = {text};
    res = store_exec(s, e,
                     "SELECT d, extract(epoch FROM l.logical_date)::bigint, "
                     "extract(epoch FROM l.data_interval_end)::bigint "
                     "FROM jsonb_array_elements_text($1::jsonb) AS d CROSS JOIN LATERAL ("
                     "SELECT logical_date, data_interval_end FROM dag_run WHERE dag_id = d AND "
                     "run_type = 'scheduled' ORDER BY logical_date DESC, data_interval_end DESC "
                     "LIMIT 1) l",
                     1, p);
    free(text);
    if (res == NULL)
        return err_prefix(e, "the last scheduled runs");
    rows = PQntuples(res);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
        bad = true;
    for (int i = 0; i < rows && !bad; i++) {
        struct store_last_interval *v = &(*out)[(*n)++];

        v->dag_id = dup_col(res, i, 0, &bad);
        bad = bad || v->dag_id == NULL;
        v->logical = PQgetisnull(res, i, 1) ? 0 : (time_t)strtoll(PQgetvalue(res, i, 1), NULL, 10);
        v->end = PQgetisnull(res, i, 2) ? 0 : (time_t)strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    if (bad) {
        store_last_intervals_free(*out, *n);
        *out = NULL, *n = 0;
        return err_set(e, ERR_FAIL, "out of memory");
    }
    return 0;
}

/* The promotion: each promoted run's schedule delay (NULL: not a scheduled run never cleared,
 * Airflow's condition for dagrun.schedule_delay), one row per run. */
static const char PROMOTE_SQL[] =
    "WITH c AS (SELECT id FROM dag_run WHERE dag_id = $1 AND state = 'queued' "
    "ORDER BY logical_date NULLS LAST, id LIMIT CASE WHEN $2::int <= 0 THEN NULL ELSE "
    "greatest($2::int - (SELECT count(*) FROM dag_run WHERE dag_id = $1 AND "
    "state = 'running'), 0) END), "
    "u AS (UPDATE dag_run d SET state = 'running', start_date = to_timestamp($3::float8), "
    "end_date = NULL, updated_at = now() FROM c WHERE d.id = c.id AND d.state = 'queued' "
    "RETURNING d.run_type, d.clear_number, d.data_interval_end) "
    "SELECT CASE WHEN run_type = 'scheduled' AND coalesce(clear_number, 0) = 0 THEN "
    "extract(epoch FROM to_timestamp($3::float8) - data_interval_end)::float8 END, "
    "pg_notify('gust', 'run:' || $1) FROM u";

/* Keep the delays of a promotion's result (res) in *delays, *n_delays. */
static int
promote_delays(PGresult *res, double **delays, size_t *n_delays)
{
    int rows = PQntuples(res);

    if (delays == NULL || rows == 0)
        return 0;
    if ((*delays = calloc((size_t)rows, sizeof(**delays))) == NULL)
        return -1;
    for (int i = 0; i < rows; i++)
        if (!PQgetisnull(res, i, 0))
            (*delays)[(*n_delays)++] = atof(PQgetvalue(res, i, 0));
    return 0;
}

int
store_runs_promote_delays(struct store *s, const char *dag_id, int max_active_runs, double now,
                          int *promoted, double **delays, size_t *n_delays, struct err *e)
{
    struct pbuf b[2];
    const char *p[] = {dag_id, p_int(&b[0], max_active_runs), p_dbl(&b[1], now)};
    PGresult *res = NULL;
    int n = 0, rc;

    if (delays)
        *delays = NULL, *n_delays = 0;
    /* The lock is taken by its own statement: the next one gets a snapshot that sees what
     * the previous holder committed, so the count of running runs is current. */
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "promote runs of %s", dag_id);
    rc = store_exec_cmd(s, e, "SELECT pg_advisory_xact_lock(" PROMOTE_LOCK_CLASS ", hashtext($1))",
                        1, p);
    if (rc == 0 && (res = store_exec(s, e, PROMOTE_SQL, 3, p)) == NULL)
        rc = -1;
    if (res) {
        n = PQntuples(res);
        if (promote_delays(res, delays, n_delays) < 0)
            rc = err_set(e, ERR_FAIL, "out of memory");
        PQclear(res);
    }
    if (store_end_tx(s, rc, e) < 0) {
        if (delays) {
            free(*delays);
            *delays = NULL, *n_delays = 0;
        }
        return err_prefix(e, "promote runs of %s", dag_id);
    }
    if (promoted)
        *promoted = n;
    return 0;
}

int
store_runs_promote(struct store *s, const char *dag_id, int max_active_runs, double now,
                   int *promoted, struct err *e)
{
    return store_runs_promote_delays(s, dag_id, max_active_runs, now, promoted, NULL, NULL, e);
}

int
store_runs_active(struct store *s, struct store_run **out, size_t *n, struct err *e)
{
    if (store_runs_query(s,
                         "SELECT " RUN_COLS " FROM dag_run r WHERE state IN ('queued', 'running') "
                         "AND EXISTS (SELECT 1 FROM dag d WHERE d.dag_id = r.dag_id AND "
                         "d.is_active AND NOT d.is_paused) "
                         "ORDER BY logical_date NULLS LAST, id",
                         0, NULL, out, n, e) != 0)
        return err_prefix(e, "active runs");
    return 0;
}

int
store_runs_timeout(struct store *s, const char *dag_id, double timeout, time_t now, int *timed_out,
                   struct err *e)
{
    char **ids = NULL;
    size_t n = 0;

    /* the statement is store_runs_timeout_ids's (store_notify.c) */
    if (store_runs_timeout_ids(s, dag_id, timeout, now, &ids, &n, e) < 0)
        return -1;
    store_strings_free(ids, n);
    if (timed_out)
        *timed_out = (int)n;
    return 0;
}

/* $1 dag, $2 run, $3 the DAG's tasks (store_tis_json). Returns (run exists, added + restored,
 * removed); rm, rs and ins touch disjoint rows, so one snapshot is enough. Whether a row's task
 * is still in the DAG is a key lookup in one JSON object (ids): a NOT EXISTS over the recordset
 * was planned as a nested loop (a CTE has no index), n x n comparisons, half a second for a
 * run of 2,000 tasks. */
static const char SYNC_SQL[] =
    "WITH x AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS " TIS_RECORD "), "
    "ids AS (SELECT coalesce(jsonb_object_agg(x.task_id, 1), '{}') AS o FROM x), "
    "run AS (SELECT 1 FROM dag_run WHERE dag_id = $1 AND run_id = $2), "
    "rm AS (UPDATE task_instance t SET state = 'removed', lease_until = NULL, "
    "updated_at = now() WHERE t.dag_id = $1 AND t.run_id = $2 AND "
    "t.state IS DISTINCT FROM 'removed' AND t.state IS DISTINCT FROM 'running' AND "
    "NOT ((SELECT o FROM ids) ? t.task_id) RETURNING 1), "
    "rs AS (UPDATE task_instance t SET state = NULL, updated_at = now() WHERE t.dag_id = $1 "
    "AND t.run_id = $2 AND t.map_index = -1 AND t.state = 'removed' AND "
    "(SELECT o FROM ids) ? t.task_id RETURNING 1), "
    "ins AS (INSERT INTO task_instance (dag_id, run_id, task_id, state, try_number, " TIS_COLS
    ") SELECT $1, $2, x.task_id, NULL, 0, " TIS_VALUES
    " FROM x WHERE EXISTS (SELECT 1 FROM run) AND "
    "NOT EXISTS (SELECT 1 FROM task_instance t WHERE t.dag_id = $1 AND t.run_id = $2 AND "
    "t.task_id = x.task_id) ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM ins) + (SELECT count(*) FROM rs), "
    "(SELECT count(*) FROM rm)";

int
store_run_sync_tasks(struct store *s, const struct dag *dag, const char *run_id, int *added,
                     int *removed, struct err *e)
{
    char *json = store_tis_json(dag);
    const char *p[] = {dag->dag_id, run_id, json};
    PGresult *res;
    int rc = 0;

    if (json == NULL)
        return err_set(e, ERR_FAIL, "sync tasks of %s: out of memory or bad UTF-8", run_id);
    res = store_exec(s, e, SYNC_SQL, 3, p);
    free(json);
    if (res == NULL)
        return err_prefix(e, "sync tasks of %s %s", dag->dag_id, run_id);
    if (int_col(res, 0, 0) == 0)
        rc = err_set(e, ERR_NOTFOUND, "run '%s' of DAG '%s' not found", run_id, dag->dag_id);
    if (added)
        *added = int_col(res, 0, 1);
    if (removed)
        *removed = int_col(res, 0, 2);
    PQclear(res);
    return rc;
}

int
store_prev_ti_state(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                    bool *found, enum ti_state *state, struct err *e)
{
    const char *p[] = {dag_id, run_id, task_id};
    PGresult *res = store_exec(
        s, e,
        "SELECT t.task_id IS NOT NULL, t.state FROM dag_run c LEFT JOIN LATERAL "
        "(SELECT run_id FROM dag_run p WHERE p.dag_id = c.dag_id AND "
        "p.logical_date < c.logical_date ORDER BY p.logical_date DESC, p.id DESC LIMIT 1) p "
        "ON true LEFT JOIN LATERAL (SELECT task_id, state FROM task_instance t WHERE "
        "t.dag_id = c.dag_id AND t.run_id = p.run_id AND t.task_id = $3 AND "
        "t.state IS DISTINCT FROM 'removed' ORDER BY t.state IN ('success', 'skipped'), "
        "t.map_index LIMIT 1) t ON true WHERE c.dag_id = $1 AND c.run_id = $2",
        3, p);
    int rc = 0;

    /* a mapped task: the first instance that did not succeed, else any: depends_on_past
     * waits until every instance of the previous run succeeded or was skipped */
    *found = false, *state = TI_NONE;
    if (res == NULL)
        return err_prefix(e, "previous try of %s %s %s", dag_id, run_id, task_id);
    if (PQntuples(res) == 0)
        rc = err_set(e, ERR_NOTFOUND, "run '%s' of DAG '%s' not found", run_id, dag_id);
    else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        *found = true;
        if (!PQgetisnull(res, 0, 1) && ti_state_parse(PQgetvalue(res, 0, 1), state) != 0)
            rc = err_set(e, ERR_DB, "previous try of %s: unknown state '%s'", task_id,
                         PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

/* A bigint column as a time (0 when NULL). */
static time_t
col_epoch(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? 0 : (time_t)strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

int
store_tmpl_ctx(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
               struct store_tmpl_ctx *out, struct err *e)
{
    const char *p[] = {dag_id, run_id, task_id};
    PGresult *res = store_exec(
        s, e,
        "SELECT c.run_type, extract(epoch FROM c.start_date)::bigint, p.run_id IS NOT NULL, "
        "extract(epoch FROM p.data_interval_start)::bigint, "
        "extract(epoch FROM p.data_interval_end)::bigint, extract(epoch FROM t.start_date)::bigint "
        "FROM dag_run c LEFT JOIN LATERAL (SELECT run_id, data_interval_start, data_interval_end "
        "FROM dag_run p WHERE p.dag_id = c.dag_id AND p.state = 'success' AND "
        "p.logical_date < c.logical_date ORDER BY p.logical_date DESC, p.id DESC LIMIT 1) p "
        "ON true LEFT JOIN task_instance t ON t.dag_id = c.dag_id AND t.run_id = p.run_id AND "
        "t.task_id = $3 AND t.map_index IN (-1, 0) WHERE c.dag_id = $1 AND c.run_id = $2",
        3, p);
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return err_prefix(e, "template context of %s %s", dag_id, run_id);
    if (PQntuples(res) == 0) {
        rc = err_set(e, ERR_NOTFOUND, "run '%s' of DAG '%s' not found", run_id, dag_id);
    } else if ((out->run_type = strdup(PQgetvalue(res, 0, 0))) == NULL) {
        rc = err_set(e, ERR_FAIL, "out of memory");
    } else {
        out->start_date = col_epoch(res, 1);
        out->prev_found = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
        out->prev_di_start = col_epoch(res, 3);
        out->prev_di_end = col_epoch(res, 4);
        out->prev_ti_start = col_epoch(res, 5);
    }
    PQclear(res);
    return rc;
}

/* ---- pause, variables ------------------------------------------------------------------ */

int
store_dag_set_paused(struct store *s, const char *dag_id, bool paused, struct err *e)
{
    const char *p[] = {dag_id, paused ? "t" : "f", paused ? "pause" : "unpause"};
    PGresult *res = store_exec(s, e,
                               "WITH u AS (UPDATE dag SET is_paused = $2::bool WHERE dag_id = $1 "
                               "RETURNING dag_id), l AS (INSERT INTO log (event, dag_id, dttm) "
                               "SELECT $3, dag_id, now() FROM u) "
                               "SELECT pg_notify('gust', 'pause:' || dag_id) FROM u",
                               3, p);
    int rc = 0;

    if (res == NULL)
        return err_prefix(e, "%s %s", p[2], dag_id);
    if (PQntuples(res) == 0)
        rc = err_set(e, ERR_NOTFOUND, "dag %s: not found", dag_id);
    PQclear(res);
    return rc;
}

void
store_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int
store_variables_list(struct store *s, char ***keys, char ***values, size_t *n, struct err *e)
{
    PGresult *res =
        store_exec(s, e, "SELECT key, val FROM variable ORDER BY key COLLATE \"C\"", 0, NULL);
    size_t count;
    char **k = NULL, **v = NULL;
    bool bad = false;

    *keys = NULL, *values = NULL, *n = 0;
    if (res == NULL)
        return err_prefix(e, "list variables");
    count = (size_t)PQntuples(res);
    if (count &&
        ((k = calloc(count, sizeof(*k))) == NULL || (v = calloc(count, sizeof(*v))) == NULL))
        bad = true;
    for (int i = 0; !bad && i < (int)count; i++) {
        k[i] = dup_col(res, i, 0, &bad);
        v[i] = dup_col(res, i, 1, &bad);
    }
    PQclear(res);
    if (bad) {
        store_strings_free(k, count);
        store_strings_free(v, count);
        return err_set(e, ERR_FAIL, "list variables: out of memory");
    }
    *keys = k, *values = v, *n = count;
    return 0;
}

int
store_variable_delete(struct store *s, const char *key, bool *deleted, struct err *e)
{
    const char *p[] = {key};
    int won = store_exec_won(s, e, "DELETE FROM variable WHERE key = $1", 1, p);

    if (won < 0)
        return err_prefix(e, "delete variable %s", key);
    if (deleted)
        *deleted = won == 1;
    return 0;
}

/* ---- wake-ups and reconnection --------------------------------------------------------- */

int
store_listen(struct store *s, struct err *e)
{
    if (store_exec_cmd(s, e, "LISTEN gust", 0, NULL) != 0)
        return err_prefix(e, "listen");
    s->listening = true;
    return 0;
}

int
store_socket(const struct store *s)
{
    return s && s->conn ? PQsocket(s->conn) : -1;
}

static void
ti_key_clear(struct store_ti_key *key)
{
    free(key->dag_id);
    free(key->run_id);
    free(key->task_id);
}

/* "finished:DAG\tRUN\tTASK\tMAP_INDEX" (a try's end, store_run.c and store_sensor.c) into
 * *key (strings malloc'd); -1 for anything else. Ids hold no tab (dagfile's and runid_check's
 * rules). */
static int
parse_ended(const char *payload, struct store_ti_key *key)
{
    const char *f[4], *p;
    char *end;
    long m;

    if (strncmp(payload, "finished:", 9) != 0)
        return -1;
    f[0] = payload + 9;
    for (int i = 1; i < 4; i++) {
        if ((p = strchr(f[i - 1], '\t')) == NULL)
            return -1;
        f[i] = p + 1;
    }
    m = strtol(f[3], &end, 10);
    if (*f[3] == '\0' || *end != '\0' || m < -1 || m > INT_MAX || f[1] == f[0] + 1 ||
        f[2] == f[1] + 1 || f[3] == f[2] + 1)
        return -1;
    *key = (struct store_ti_key){strndup(f[0], (size_t)(f[1] - f[0] - 1)),
                                 strndup(f[1], (size_t)(f[2] - f[1] - 1)),
                                 strndup(f[2], (size_t)(f[3] - f[2] - 1)), (int)m};
    if (key->dag_id && key->run_id && key->task_id)
        return 0;
    ti_key_clear(key);
    return -1;
}

/* The DAG id of a notification about some of its runs' rows ("run:DAG", "queued:DAG",
 * "ended:DAG", "pause:DAG", "asset:DAG"), or NULL. */
static const char *
dag_of_note(const char *payload)
{
    static const char *const kinds[] = {"run:", "queued:", "ended:", "pause:", "asset:"};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i]);

        if (strncmp(payload, kinds[i], n) == 0)
            return payload[n] != '\0' ? payload + n : NULL;
    }
    return NULL;
}

void
store_notes_clear(struct store_notes *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n_ended; i++)
        ti_key_clear(&n->ended[i]);
    free(n->ended);
    for (size_t i = 0; i < n->n_dags; i++)
        free(n->dags[i]);
    free(n->dags);
    *n = (struct store_notes){0};
}

/* A notification of another session into *out: a try's end, or a change to one DAG's runs,
 * kept; anything else `other`. */
static void
note_of(struct store_notes *out, const char *payload)
{
    struct store_ti_key key;
    const char *dag;

    out->count++;
    if (out->other)
        return;
    if ((dag = dag_of_note(payload)) != NULL) {
        if (out->n_dags >= STORE_NOTES_MAX_ENDED ||
            (out->dags == NULL &&
             (out->dags = calloc(STORE_NOTES_MAX_ENDED, sizeof(*out->dags))) == NULL) ||
            (out->dags[out->n_dags] = strdup(dag)) == NULL)
            out->other = true;
        else
            out->n_dags++;
        return;
    }
    if (out->n_ended >= STORE_NOTES_MAX_ENDED || parse_ended(payload, &key) < 0) {
        out->other = true;
        return;
    }
    if (out->ended == NULL &&
        (out->ended = calloc(STORE_NOTES_MAX_ENDED, sizeof(*out->ended))) == NULL) {
        ti_key_clear(&key);
        out->other = true;
        return;
    }
    out->ended[out->n_ended++] = key;
}

/* Read what is there; each notification of another session goes to *notes (NULL: counted
 * only in *count). With dag_id, *run_ended says whether one of them was the end of a run of
 * that DAG ("ended:" and its id, store_run_set_state's). */
static int
drain(struct store *s, int *count, struct store_notes *notes, const char *dag_id, bool *run_ended,
      struct err *e)
{
    PGnotify *n;
    int seen = 0;

    if (run_ended)
        *run_ended = false;
    /* notifications behind a write sent ahead are read after its results: without
     * waiting for them (the socket wakes the poll loop again when they come) */
    store_settle_ready(s);
    /* The socket is non-blocking inside libpq: this reads what is there and returns. */
    if (PQconsumeInput(s->conn) == 0) {
        store_conn_error(s, e);
        return err_prefix(e, "read notifications");
    }
    /* This session's own notifications are news to nobody here: counting them would make
     * a scheduler wake up once more after each of its own writes. */
    while ((n = PQnotifies(s->conn)) != NULL) {
        if (n->be_pid != s->backend_pid) {
            const char *payload = n->extra ? n->extra : "";

            seen++;
            if (notes)
                note_of(notes, payload);
            if (dag_id && strncmp(payload, "ended:", 6) == 0 && strcmp(payload + 6, dag_id) == 0)
                *run_ended = true;
        }
        PQfreemem(n);
    }
    if (count)
        *count = seen;
    return 0;
}

int
store_drain_notifies(struct store *s, int *count, struct err *e)
{
    return drain(s, count, NULL, NULL, NULL, e);
}

int
store_drain_run_ends(struct store *s, const char *dag_id, int *count, bool *ended, struct err *e)
{
    return drain(s, count, NULL, dag_id, ended, e);
}

int
store_take_notifies(struct store *s, struct store_notes *out, struct err *e)
{
    *out = (struct store_notes){0};
    return drain(s, NULL, out, NULL, NULL, e);
}

int
store_reconnect(struct store *s, struct err *e)
{
    /* PQreset reconnects with the parameters of store_open (connect_timeout included); the
     * socket changes, so a poll loop must ask store_socket again. */
    s->ahead = false; /* its results went with the old session */
    PQreset(s->conn);
    if (PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF) /* left in it by a lost connection */
        PQexitPipelineMode(s->conn);
    store_forget_prepared(s);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        store_conn_error(s, e);
        return err_prefix(e, "reconnect to %s", s->where);
    }
    if (store_read_backend_pid(s, e) < 0)
        return err_prefix(e, "reconnect");
    if (s->listening && store_exec_cmd(s, e, "LISTEN gust", 0, NULL) != 0)
        return err_prefix(e, "reconnect to %s: listen", s->where);
    return 0;
}

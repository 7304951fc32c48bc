/* store_run: DAG runs, task instances and their tries in PostgreSQL (docs/architecture.md,
 * "State"): what the run engine, the workers and the CLI read and change. XCom, variables and the
 * audit log are in store_kv.c.
 *
 * Key invariant: every state change is ONE conditional UPDATE whose WHERE names the expected
 * state (and for a try its try_number); the number of rows it changed says whether this process
 * won (1) or another one got there first (0). A try's result is fenced by its try_number, so the
 * late result of a try whose lease expired changes nothing. What must change together (a run and
 * its task instances, a try and its history row, a planner batch, a clear) happens in one
 * transaction or one statement, committed or rolled back before the function returns.
 *
 * Times travel as epoch seconds: sent as to_timestamp($n::float8), read back as
 * extract(epoch FROM x)::bigint, so the session TimeZone never matters. Only unmapped task
 * instances (map_index -1) exist. State strings come from plan.h's name functions and match the
 * CHECK constraints of migrations/0001_metadata.sql; TI_NONE is SQL NULL. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "runid.h"
#include "store_int.h"
#include "timetable/timetable.h"

/* $1..$3 name one task instance in most statements below. */
static int
run_db(enum run_state st, const char **out, struct err *e)
{
    if ((unsigned)st > RUN_FAILED)
        return err_set(e, ERR_USAGE, "bad run state %d", (int)st);
    *out = run_state_name(st);
    return 0;
}

/* ---- reading rows (parameters and statement helpers are in store_int.h) ------------ */

/* One result row being read; a failed copy or an unknown state sets bad. */
struct row {
    const PGresult *res;
    int i;
    bool bad;
};

static char *
col_str(struct row *r, int c)
{
    char *v;

    if (PQgetisnull(r->res, r->i, c))
        return NULL;
    if ((v = strdup(PQgetvalue(r->res, r->i, c))) == NULL)
        r->bad = true;
    return v;
}

static long long
col_ll(struct row *r, int c)
{
    return PQgetisnull(r->res, r->i, c) ? 0 : strtoll(PQgetvalue(r->res, r->i, c), NULL, 10);
}

static double
col_dbl(struct row *r, int c)
{
    return PQgetisnull(r->res, r->i, c) ? -1 : strtod(PQgetvalue(r->res, r->i, c), NULL);
}

static enum ti_state
col_ti_state(struct row *r, int c)
{
    enum ti_state st = TI_NONE;

    if (!PQgetisnull(r->res, r->i, c) && ti_state_parse(PQgetvalue(r->res, r->i, c), &st) != 0)
        r->bad = true;
    return st;
}

/* How to read one struct of a list, and how to free a list of them. */
struct reader {
    size_t size;
    void (*read)(struct row *r, void *item);
    void (*free)(void *items, size_t n);
};

/* Run a query and read every row into a new array *out of *n items (NULL when none). */
static int
fetch_all(struct store *s, const struct reader *rd, const char *sql, int np, const char *const *p,
          void **out, size_t *n, struct err *e)
{
    PGresult *res = store_exec(s, e, sql, np, p);
    struct row r = {res, 0, false};
    char *items = NULL;
    size_t count;

    *out = NULL, *n = 0;
    if (res == NULL)
        return -1;
    count = (size_t)PQntuples(res);
    if (count && (items = calloc(count, rd->size)) == NULL)
        r.bad = true;
    for (; items && !r.bad && r.i < (int)count; r.i++)
        rd->read(&r, items + (size_t)r.i * rd->size);
    PQclear(res);
    if (r.bad) {
        if (items)
            rd->free(items, count);
        return err_set(e, ERR_FAIL, "out of memory or unknown state");
    }
    *out = items, *n = count;
    return 0;
}

/* ---- runs ---------------------------------------------------------------------------- */

static void
read_run(struct row *r, void *item)
{
    struct store_run *out = item;

    out->id = col_ll(r, 0);
    out->dag_id = col_str(r, 1);
    out->run_id = col_str(r, 2);
    out->run_type = col_str(r, 3);
    if (run_state_parse(PQgetvalue(r->res, r->i, 4), &out->state) != 0)
        r->bad = true;
    out->logical_date = (time_t)col_ll(r, 5);
    out->data_interval_start = (time_t)col_ll(r, 6);
    out->data_interval_end = (time_t)col_ll(r, 7);
    out->queued_at = (time_t)col_ll(r, 8);
    out->start_date = (time_t)col_ll(r, 9);
    out->end_date = (time_t)col_ll(r, 10);
    out->conf_json = col_str(r, 11);
    out->triggered_by = col_str(r, 12);
    out->logical_usec = (long)col_ll(r, 13);
    out->clear_number = (int)col_ll(r, 14);
}

void
store_run_clear(struct store_run *r)
{
    if (r == NULL)
        return;
    free(r->dag_id);
    free(r->run_id);
    free(r->run_type);
    free(r->conf_json);
    free(r->triggered_by);
    memset(r, 0, sizeof(*r));
}

void
store_runs_free(struct store_run *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++)
        store_run_clear(&runs[i]);
    free(runs);
}

static void
free_runs(void *items, size_t n)
{
    store_runs_free(items, n);
}

static const struct reader run_reader = {sizeof(struct store_run), read_run, free_runs};

int
store_runs_query(struct store *s, const char *sql, int n, const char *const *p,
                 struct store_run **out, size_t *count, struct err *e)
{
    void *runs;

    if (fetch_all(s, &run_reader, sql, n, p, &runs, count, e) != 0)
        return -1;
    *out = runs;
    return 0;
}

static json_t *
limit_json(int limit)
{
    return limit > 0 ? json_integer(limit) : json_null();
}

/* The task instances of a new run as a JSON array for jsonb_to_recordset (TIS_RECORD). New
 * text or NULL. */
char *
store_tis_json(const struct dag *dag)
{
    json_t *a = json_array(), *o;
    char *text = NULL;

    for (size_t i = 0; a && i < dag->n_tasks; i++) {
        const struct dag_task *t = &dag->tasks[i];

        o = json_pack("{s:s, s:i, s:s, s:s?, s:s?, s:s?, s:i, s:I, s:o, s:o}", "task_id",
                      t->task_id, "max_tries", t->retries < 0 ? 0 : t->retries, "operator",
                      op_kind_name(t->op), "pool", t->pool, "queue", t->queue, "trigger_rule",
                      trigger_rule_name(t->trigger_rule), "pool_slots",
                      t->pool_slots > 0 ? t->pool_slots : 1, "priority_weight",
                      (json_int_t)t->priority, "per_dag", limit_json(t->max_active_tis_per_dag),
                      "per_run", limit_json(t->max_active_tis_per_dagrun));
        if (json_array_append_new(a, o) != 0)
            goto out;
    }
    if (a)
        text = json_dumps(a, JSON_COMPACT);
out:
    json_decref(a);
    return text;
}

/* Inside the transaction: the dag row if missing, then the run (parameters rp, see
 * store_run_create). 1 created, 0 exists. */
static int
insert_run(struct store *s, const struct dag *dag, const char *const *rp, long long *id,
           struct err *e)
{
    struct pbuf tasks, runs;
    const char *dp[] = {dag->dag_id,
                        dag->fileloc,
                        dag->owner ? dag->owner : "airflow",
                        dag->timezone,
                        p_int(&tasks, dag->max_active_tasks),
                        p_int(&runs, dag->max_active_runs),
                        dag->is_paused_upon_creation ? "t" : "f"};
    PGresult *res;
    int created;

    if (store_exec_cmd(s, e,
                       "INSERT INTO dag (dag_id, fileloc, owners, timezone, max_active_tasks, "
                       "max_active_runs, is_paused) VALUES ($1, $2, $3, coalesce($4, 'UTC'), $5, "
                       "$6, $7) ON CONFLICT (dag_id) DO NOTHING",
                       7, dp) != 0)
        return -1;
    res = store_exec(
        s, e,
        "INSERT INTO dag_run (dag_id, run_id, run_type, state, queued_at, "
        "logical_date, data_interval_start, data_interval_end, conf, triggered_by, "
        "external_trigger) VALUES ($1, $2, $3::text, 'queued', to_timestamp($4::float8), "
        "to_timestamp($5::float8), to_timestamp($6::float8), "
        "to_timestamp($7::float8), $8::jsonb, $9, $3::text = 'manual') "
        "ON CONFLICT (dag_id, run_id) DO NOTHING RETURNING id, pg_notify('gust', 'run:' || $1)",
        9, rp);
    if (res == NULL)
        return -1;
    created = PQntuples(res) == 1;
    if (created && id)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return created;
}

/* Inside the transaction: every task instance of the run, in one statement. */
static int
insert_tis(struct store *s, const struct dag *dag, const char *run_id, struct err *e)
{
    char *json = store_tis_json(dag);
    const char *p[] = {dag->dag_id, run_id, json};
    int rc;

    if (json == NULL)
        return err_set(e, ERR_FAIL, "task instances: out of memory or bad UTF-8");
    rc = store_exec_cmd(
        s, e,
        "INSERT INTO task_instance (dag_id, run_id, task_id, state, try_number, " TIS_COLS
        ") SELECT $1, $2, x.task_id, NULL, 0, " TIS_VALUES
        " FROM jsonb_to_recordset($3::jsonb) AS " TIS_RECORD,
        3, p);
    free(json);
    return rc;
}

int
store_run_insert(struct store *s, const struct dag *dag, const char *run_id, const char *run_type,
                 time_t logical_date, time_t di_start, time_t di_end, const char *conf_json,
                 const char *triggered_by, time_t now, long long *id, struct err *e)
{
    struct pbuf t[4];
    const char *rp[] = {dag->dag_id,
                        run_id,
                        run_type,
                        p_time(&t[0], now),
                        p_time(&t[1], logical_date),
                        p_time(&t[2], di_start),
                        p_time(&t[3], di_end),
                        conf_json,
                        triggered_by};
    int rc;

    if (runid_check(run_id, e) < 0) /* the last guard: every way of making a run ends here */
        return err_prefix(e, "create a run of %s", dag->dag_id);
    rc = insert_run(s, dag, rp, id, e);
    if (rc == 1 && insert_tis(s, dag, run_id, e) != 0)
        rc = -1;
    else if (rc == 1 && store_log_row(s, "trigger", dag->dag_id, NULL, run_id, triggered_by,
                                      conf_json, now, e))
        rc = -1;
    return rc;
}

int
store_run_create(struct store *s, const struct dag *dag, const char *run_id, const char *run_type,
                 time_t logical_date, time_t di_start, time_t di_end, const char *conf_json,
                 const char *triggered_by, time_t now, long long *id, struct err *e)
{
    int rc;

    if (runid_check(run_id, e) < 0) /* the last guard: every way of making a run ends here */
        return err_prefix(e, "create a run of %s", dag->dag_id);
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "create run %s of %s", run_id, dag->dag_id);
    rc = store_run_insert(s, dag, run_id, run_type, logical_date, di_start, di_end, conf_json,
                          triggered_by, now, id, e);
    if (rc == 0)
        rc = err_set(e, ERR_EXISTS, "run '%s' of DAG '%s' already exists", run_id, dag->dag_id);
    if (store_end_tx(s, rc, e) < 0)
        return e && e->code == ERR_EXISTS ? -1 : err_prefix(e, "create run %s", run_id);
    return 0;
}

/* Attempts at naming a manual run, and the widest step after a clash (2^10 microseconds). */
#define MANUAL_TRIES 100
#define MANUAL_SPREAD_LOG2 10

/* The instant (microseconds) to name the k-th attempt after: the clock, unless it has not
 * moved past the instant that clashed (at); then a random step of up to 2^k microseconds, so
 * that many triggers of one microsecond spread out in a few tries each. */
static long long
manual_instant(int k, long long at, unsigned *seed)
{
    time_t sec;
    long usec;
    long long now;

    runid_clock(&sec, &usec);
    now = (long long)sec * 1000000 + usec;
    if (k == 0 || now > at)
        return now;
    return at + 1 + rand_r(seed) % (1LL << (k < MANUAL_SPREAD_LOG2 ? k : MANUAL_SPREAD_LOG2));
}

int
store_run_create_manual(struct store *s, const struct dag *dag, const char *conf_json,
                        const char *triggered_by, char *run_id, size_t size, long long *id,
                        struct err *e)
{
    struct err my = {0};
    unsigned seed = (unsigned)getpid();
    long long at = 0;

    for (int k = 0; k < MANUAL_TRIES; k++) {
        time_t sec;

        at = manual_instant(k, at, &seed);
        sec = (time_t)(at / 1000000);
        runid_format("manual", sec, (long)(at % 1000000), run_id, size);
        err_clear(&my);
        /* the logical date is the second the id names, as for every manual run; the data
         * interval is the timetable's (timetable_manual_interval) */
        time_t di_start, di_end;
        timetable_manual_interval(dag, sec, &di_start, &di_end);
        if (store_run_create(s, dag, run_id, "manual", sec, di_start, di_end, conf_json,
                             triggered_by, time(NULL), id, &my) == 0)
            return 0;
        if (my.code != ERR_EXISTS)
            break;
    }
    if (e)
        *e = my;
    return -1;
}

int
store_run_get(struct store *s, const char *dag_id, const char *run_id, struct store_run *out,
              struct err *e)
{
    const char *p[] = {dag_id, run_id};
    void *runs;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (fetch_all(s, &run_reader,
                  "SELECT " RUN_COLS " FROM dag_run WHERE dag_id = $1 AND run_id = $2", 2, p, &runs,
                  &n, e) != 0)
        return err_prefix(e, "run %s of %s", run_id, dag_id);
    if (n == 0)
        return err_set(e, ERR_NOTFOUND, "run '%s' of DAG '%s' not found", run_id, dag_id);
    *out = *(struct store_run *)runs; /* (dag_id, run_id) is unique: one row */
    free(runs);
    return 0;
}

int
store_runs_list(struct store *s, const char *dag_id, const char *state, int limit,
                struct store_run **out, size_t *n, struct err *e)
{
    enum run_state st;
    struct pbuf l;
    const char *p[] = {dag_id, state, limit > 0 ? p_int(&l, limit) : NULL};
    void *runs;

    *out = NULL, *n = 0;
    if (state && run_state_parse(state, &st) != 0)
        return err_set(e, ERR_USAGE, "unknown run state '%s'", state);
    if (fetch_all(s, &run_reader,
                  "SELECT " RUN_COLS " FROM dag_run WHERE dag_id = $1 AND ($2::text IS NULL OR "
                  "state = $2::text) ORDER BY logical_date DESC NULLS LAST, id DESC "
                  "LIMIT $3::bigint",
                  3, p, &runs, n, e) != 0)
        return err_prefix(e, "runs of %s", dag_id);
    *out = runs;
    return 0;
}

int
store_run_set_state(struct store *s, const char *dag_id, const char *run_id, enum run_state from,
                    enum run_state to, double now, struct err *e)
{
    struct pbuf t;
    const char *p[] = {dag_id, run_id, NULL, NULL, p_dbl(&t, now)};
    int won;

    if (run_db(from, &p[2], e) != 0 || run_db(to, &p[3], e) != 0)
        return err_prefix(e, "run %s state", run_id);
    /* end_date is never before start_date (a CHECK): two machines' clocks may disagree. */
    won = store_exec_won(
        s, e,
        "UPDATE dag_run SET state = $4::text, queued_at = CASE WHEN $4::text = "
        "'queued' THEN to_timestamp($5::float8) ELSE queued_at END, "
        "start_date = CASE $4::text WHEN 'running' THEN to_timestamp($5::float8) "
        "WHEN 'queued' THEN NULL ELSE start_date END, "
        "end_date = CASE WHEN $4::text IN ('success', 'failed') "
        "THEN greatest(to_timestamp($5::float8), start_date) END, updated_at = now() "
        "WHERE dag_id = $1 AND run_id = $2 AND state = $3::text RETURNING CASE WHEN $4::text "
        "IN ('success', 'failed') THEN pg_notify('gust', 'ended:' || $1) END",
        5, p);
    return won < 0 ? err_prefix(e, "run %s of %s: set state", run_id, dag_id) : won;
}

/* ---- task instances ------------------------------------------------------------------ */

void
store_tis_free(struct store_ti *tis, size_t n)
{
    for (size_t i = 0; tis && i < n; i++)
        store_ti_clear(&tis[i]);
    free(tis);
}

void
store_ti_clear(struct store_ti *ti)
{
    free(ti->task_id);
    free(ti->operator);
    free(ti->hostname);
    free(ti->map_name);
    ti->task_id = ti->operator= ti->hostname = ti->map_name = NULL;
}

static void
free_tis(void *items, size_t n)
{
    store_tis_free(items, n);
}

static void
read_ti(struct row *r, void *item)
{
    struct store_ti *ti = item;

    ti->task_id = col_str(r, 0);
    ti->map_index = (int)col_ll(r, 14);
    ti->map_name = col_str(r, 15);
    ti->operator= col_str(r, 1); /* (spacing: clang-format 14 reads C++ "operator=") */
    ti->hostname = col_str(r, 2);
    ti->state = col_ti_state(r, 3);
    ti->try_number = (int)col_ll(r, 4);
    ti->max_tries = (int)col_ll(r, 5);
    ti->pid = (int)col_ll(r, 6);
    ti->start_date = (time_t)col_ll(r, 7);
    ti->end_date = (time_t)col_ll(r, 8);
    ti->queued_dttm = (time_t)col_ll(r, 9);
    ti->next_retry_at = (time_t)col_ll(r, 10);
    ti->duration = col_dbl(r, 11);
    ti->has_exit_code = !PQgetisnull(r->res, r->i, 12);
    ti->exit_code = (int)col_ll(r, 12);
    ti->term_signal = (int)col_ll(r, 13);
}

/* The columns read_ti reads. */
#define TI_READ_COLS                                                                               \
    "SELECT task_id, operator, hostname, state, try_number, max_tries, pid, "                      \
    "extract(epoch FROM start_date)::bigint, extract(epoch FROM end_date)::bigint, "               \
    "extract(epoch FROM queued_dttm)::bigint, "                                                    \
    "ceil(extract(epoch FROM CASE WHEN state = 'up_for_reschedule' THEN reschedule_date "          \
    "ELSE next_retry_at END))::bigint, duration, exit_code, term_signal, "                         \
    "map_index, rendered_map_index FROM task_instance "

static const struct reader ti_reader = {sizeof(struct store_ti), read_ti, free_tis};

int
store_tis_get(struct store *s, const char *dag_id, const char *run_id, struct store_ti **out,
              size_t *n, struct err *e)
{
    const char *p[] = {dag_id, run_id};
    void *tis;

    *out = NULL;
    if (fetch_all(s, &ti_reader,
                  TI_READ_COLS "WHERE dag_id = $1 AND run_id = $2 "
                               "ORDER BY task_id COLLATE \"C\", map_index",
                  2, p, &tis, n, e) != 0)
        return err_prefix(e, "task instances of %s %s", dag_id, run_id);
    *out = tis;
    return 0;
}

int
store_ti_get(struct store *s, const struct store_ti_key *key, struct store_ti *out, bool *found,
             struct err *e)
{
    struct pbuf m;
    const char *p[] = {key->dag_id, key->run_id, key->task_id, p_int(&m, key->map_index)};
    void *tis;
    size_t n = 0;

    *found = false;
    if (fetch_all(s, &ti_reader, TI_READ_COLS "WHERE " TI_KEY("4"), 4, p, &tis, &n, e) != 0)
        return err_prefix(e, "task instance %s of %s %s", key->task_id, key->dag_id, key->run_id);
    if (n == 1) {
        *out = *(struct store_ti *)tis;
        *found = true;
        free(tis); /* the strings are *out's now */
    } else {
        store_tis_free(tis, n);
    }
    return 0;
}

/* The changes as a JSON array of {i, t, m, f, s} (index, task, map index, from, to; none is
 * null), or NULL with e set (a state that is not one, out of memory). */
static char *
changes_json(const struct store_ti_change *changes, size_t n, struct err *e)
{
    json_t *a = json_array();
    char *text = NULL;
    size_t i;

    for (i = 0; a && i < n; i++) {
        const char *from = NULL, *to = NULL;

        if (ti_db(changes[i].from, &from, e) != 0 || ti_db(changes[i].to, &to, e) != 0) {
            err_prefix(e, "task %s", changes[i].task_id);
            break;
        }
        if (json_array_append_new(a, json_pack("{s:I, s:s, s:i, s:s?, s:s?}", "i", (json_int_t)i,
                                               "t", changes[i].task_id, "m", changes[i].map_index,
                                               "f", from, "s", to)) != 0) {
            err_set(e, ERR_FAIL, "changes: out of memory or bad UTF-8");
            break;
        }
    }
    if (a && i == n && (text = json_dumps(a, JSON_COMPACT)) == NULL)
        err_set(e, ERR_FAIL, "changes: out of memory");
    if (a == NULL)
        err_set(e, ERR_FAIL, "changes: out of memory");
    json_decref(a);
    return text;
}

/* Every change in one call of gust_apply_changes (migration 0017): one round trip for a
 * planning step that queues thousands of instances, each row updated by its key. */
int
store_tis_apply(struct store *s, const char *dag_id, const char *run_id,
                const struct store_ti_change *changes, size_t n, time_t now, int *applied,
                struct err *e)
{
    struct pbuf t;
    char *json;
    PGresult *res;

    if (n == 0)
        return 0;
    memset(applied, 0, n * sizeof(*applied)); /* on error: nothing applied */
    if ((json = changes_json(changes, n, e)) == NULL)
        return err_prefix(e, "apply to %s %s", dag_id, run_id);
    const char *p[] = {dag_id, run_id, json, p_int(&t, now)};

    /* lazy (store_int.h): a lost change is planned again; a claim's commit makes it durable */
    res = store_exec_lazy(s, e, "SELECT gust_apply_changes($1, $2, $3::jsonb, $4::float8)", 4, p);
    free(json);
    if (res == NULL)
        return err_prefix(e, "apply to %s %s", dag_id, run_id);
    for (int r = 0; r < PQntuples(res); r++) {
        long i = atol(PQgetvalue(res, r, 0));

        if (i >= 0 && (size_t)i < n)
            applied[i] = 1;
    }
    PQclear(res);
    return 0;
}

int
store_ti_start(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
               int map_index, const char *hostname, int pid, double now, double lease_seconds,
               int *try_number, struct err *e)
{
    struct pbuf a, b, c, m;
    const char *p[] = {dag_id,   run_id,         task_id,       p_int(&m, map_index),
                       hostname, p_int(&a, pid), p_ts(&b, now), p_dbl(&c, now + lease_seconds)};
    PGresult *res;
    int won = -1;

    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "start %s %s %s", dag_id, run_id, task_id);
    res = store_exec(
        s, e,
        "UPDATE task_instance SET state = 'running', try_number = try_number + 1, "
        "start_date = to_timestamp($7::float8), end_date = NULL, duration = NULL, "
        "exit_code = NULL, term_signal = NULL, next_retry_at = NULL, hostname = $5, "
        "pid = nullif($6::int, 0), last_heartbeat_at = to_timestamp($7::float8), "
        "lease_until = to_timestamp($8::float8), updated_at = now() "
        "WHERE " TI_KEY("4") " AND state IS NOT DISTINCT FROM 'queued' RETURNING try_number",
        8, p);
    if (res && (won = PQntuples(res) == 1) && try_number)
        *try_number = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    /* A new try starts without the XCom of the previous one (as in Airflow). */
    if (won == 1 && store_exec_cmd(s, e, "DELETE FROM xcom WHERE " TI_KEY("4"), 4, p) != 0)
        won = -1;
    if (store_end_tx(s, won, e) < 0)
        return err_prefix(e, "start %s %s %s", dag_id, run_id, task_id);
    return won;
}

int
store_ti_set_pid(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                 int map_index, int try_number, int pid, struct err *e)
{
    struct pbuf a, b, m;
    const char *p[] = {
        dag_id, run_id, task_id, p_int(&a, try_number), p_int(&b, pid), p_int(&m, map_index)};
    /* lazy (store_int.h), and sent ahead: the pid only helps to stop a try whose lease
     * expired, and the try runs meanwhile */
    if (store_send_lazy(s, e,
                        "UPDATE task_instance SET pid = nullif($5::int, 0), updated_at = now() "
                        "WHERE " TI_KEY("6") " AND try_number = $4::int "
                                             "AND state IS NOT DISTINCT FROM 'running'",
                        6, p) < 0)
        return err_prefix(e, "set pid %s %s %s", dag_id, run_id, task_id);
    return 0;
}

/* The columns a history row copies from task_instance. */
#define HIST_COLS                                                                                  \
    "task_id, dag_id, run_id, map_index, try_number, start_date, end_date, duration, state, "      \
    "max_tries, hostname, unixname, job_id, pool, pool_slots, queue, priority_weight, operator, "  \
    "queued_dttm, pid, executor, trigger_rule, exit_code, term_signal, rendered_map_index"

/* long: one statement, whose SQL text is most of it */
int
store_ti_finish(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                int map_index, const struct store_try_end *end, struct err *e)
{
    struct pbuf b[8];
    enum ti_state to = end->state;
    int try_number = end->try_number;
    const char *p[] = {dag_id,
                       run_id,
                       task_id,
                       p_int(&b[0], try_number),
                       NULL,
                       p_ts(&b[1], end->start),
                       p_ts(&b[2], end->end),
                       end->duration < 0 ? NULL : p_dbl(&b[3], end->duration),
                       end->has_exit_code ? p_int(&b[4], end->exit_code) : NULL,
                       end->term_signal ? p_int(&b[5], end->term_signal) : NULL,
                       p_ts(&b[6], end->next_retry_at),
                       end->xcom_json,
                       end->skip_json,
                       p_int(&b[7], map_index),
                       NULL};
    char *outlets = NULL;
    PGresult *res;
    int won;

    if (to != TI_SUCCESS && to != TI_FAILED && to != TI_UP_FOR_RETRY && to != TI_SKIPPED)
        return err_set(e, ERR_USAGE, "finish %s: a try cannot end in state %d", task_id, (int)to);
    p[4] = ti_state_name(to);
    /* a success's asset events (store_asset.c): $15 the outlets' URIs, NULL when none */
    if (to == TI_SUCCESS && end->n_outlets > 0 &&
        (p[14] = outlets = store_asset_uris_param(end->outlets, end->n_outlets)) == NULL)
        return err_set(e, ERR_FAIL, "finish %s: out of memory", task_id);
    /* One statement: the fenced UPDATE, the history row of exactly the try it ended, and the
     * try's XCom only if the UPDATE won (a late result stores nothing). A result kept in
     * memory through a database outage is thus recorded whole or not at all. Lazy when this
     * session has a job row: the runner makes it durable before it waits again
     * (store_durable, store_int.h); synchronous otherwise. */
    res = (s->job_id > 0 ? store_exec_lazy : store_exec)(
        s, e,
        "WITH u AS (UPDATE task_instance SET state = $5::text, "
        "start_date = coalesce(to_timestamp($6::float8), start_date), "
        "end_date = to_timestamp($7::float8), duration = $8::float8, "
        "exit_code = $9::int, term_signal = $10::int, "
        "next_retry_at = to_timestamp($11::float8), lease_until = NULL, "
        "updated_at = now() WHERE " TI_KEY(
            "14") " AND state IS NOT DISTINCT FROM 'running' "
                  "AND try_number = $4::int RETURNING " HIST_COLS
                  /* who ended (store_take_notifies); a branch's skips change more */
                  ", pg_notify('gust', CASE WHEN $13::jsonb IS NULL THEN 'finished:' || $1 || "
                  "chr(9) || $2 || chr(9) || $3 || chr(9) || $14::int ELSE 'run:' || $1 END)), "
                  "x AS (INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, "
                  "value, "
                  "timestamp) SELECT r.id, $3, $14::int, 'return_value', r.dag_id, r.run_id, "
                  "$12::jsonb, now() "
                  "FROM dag_run r WHERE r.dag_id = $1 AND r.run_id = $2 AND $12::text IS NOT NULL "
                  "AND EXISTS (SELECT 1 FROM u) "
                  "ON CONFLICT (dag_run_id, task_id, map_index, key) "
                  "DO UPDATE SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp), "
                  /* a branch's skips: only if the end won, only tasks that have not started */
                  "k AS (UPDATE task_instance SET state = 'skipped', start_date = "
                  "coalesce(start_date, "
                  "to_timestamp($7::float8)), end_date = to_timestamp($7::float8), updated_at = "
                  "now() "
                  "WHERE dag_id = $1 AND run_id = $2 AND $13::jsonb IS NOT NULL "
                  "AND task_id IN (SELECT jsonb_array_elements_text($13::jsonb)) "
                  "AND (state IS NULL OR state IN ('none', 'scheduled')) AND EXISTS (SELECT 1 FROM "
                  "u)), " STORE_ASSET_FINISH_CTES "INSERT INTO task_instance_history (" HIST_COLS
                  ") SELECT " HIST_COLS " FROM u",
        15, p);
    free(outlets);
    if (res == NULL)
        return err_prefix(e, "finish %s %s %s try %d", dag_id, run_id, task_id, try_number);
    won = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    s->unflushed = s->unflushed || (won && s->job_id > 0);
    return won;
}

/* ---- tries --------------------------------------------------------------------------- */

void
store_tries_free(struct store_try *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].task_id);
        free(t[i].hostname);
    }
    free(t);
}

static void
free_tries(void *items, size_t n)
{
    store_tries_free(items, n);
}

static void
read_try(struct row *r, void *item)
{
    struct store_try *t = item;

    t->task_id = col_str(r, 0);
    t->hostname = col_str(r, 1);
    t->try_number = (int)col_ll(r, 2);
    t->state = col_ti_state(r, 3);
    t->start_date = (time_t)col_ll(r, 4);
    t->end_date = (time_t)col_ll(r, 5);
    t->duration = col_dbl(r, 6);
    t->pid = (int)col_ll(r, 7);
    t->has_exit_code = !PQgetisnull(r->res, r->i, 8);
    t->exit_code = (int)col_ll(r, 8);
    t->term_signal = (int)col_ll(r, 9);
    t->map_index = (int)col_ll(r, 10);
}

#define TRY_COLS                                                                                   \
    "task_id, hostname, try_number, state, start_date, end_date, duration, pid, exit_code, "       \
    "term_signal, map_index"

int
store_tries_get(struct store *s, const char *dag_id, const char *run_id, struct store_try **out,
                size_t *n, struct err *e)
{
    static const struct reader rd = {sizeof(struct store_try), read_try, free_tries};
    const char *p[] = {dag_id, run_id};
    void *tries;

    *out = NULL;
    /* A finished try has its history row; the current row adds only a try without one (still
     * running, or ended some other way than store_ti_finish). */
    if (fetch_all(s, &rd,
                  "SELECT task_id, hostname, try_number, state, "
                  "extract(epoch FROM start_date)::bigint, extract(epoch FROM end_date)::bigint, "
                  "duration, pid, exit_code, term_signal, map_index FROM (SELECT " TRY_COLS
                  " FROM task_instance_history WHERE dag_id = $1 AND run_id = $2 "
                  "UNION ALL SELECT " TRY_COLS " FROM task_instance t "
                  "WHERE dag_id = $1 AND run_id = $2 AND try_number > 0 "
                  "AND NOT EXISTS (SELECT 1 FROM task_instance_history h WHERE "
                  "h.dag_id = t.dag_id AND h.run_id = t.run_id AND h.task_id = t.task_id AND "
                  "h.map_index = t.map_index AND h.try_number = t.try_number)) x "
                  "ORDER BY task_id COLLATE \"C\", map_index, try_number",
                  2, p, &tries, n, e) != 0)
        return err_prefix(e, "tries of %s %s", dag_id, run_id);
    *out = tries;
    return 0;
}

/* ---- clear --------------------------------------------------------------------------- */

/* {"task_id": retries, ...} of dag as new text in *text; NULL for no dag. */
static int
retries_json(const struct dag *dag, char **text, struct err *e)
{
    json_t *o;

    *text = NULL;
    if (dag == NULL)
        return 0;
    if ((o = json_object()) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < dag->n_tasks; i++)
        if (json_object_set_new(o, dag->tasks[i].task_id, json_integer(dag->tasks[i].retries)))
            break;
    if (json_object_size(o) == dag->n_tasks)
        *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *text ? 0 : err_set(e, ERR_FAIL, "out of memory or bad UTF-8");
}

/* The task instances a clear matches: $1 dag, $2 run or NULL, $3 regex or NULL, $5 task ids
 * or NULL, $6 $7 logical date range or NULL, $8 map_index or NULL (every instance). */
#define CLEAR_MATCH                                                                                \
    "dag_id = $1 AND ($2::text IS NULL OR run_id = $2::text) AND "                                 \
    "($8::int IS NULL OR map_index = $8::int) AND "                                                \
    "($3::text IS NULL OR task_id ~ $3::text) AND ($5::jsonb IS NULL OR $5::jsonb ? task_id) AND " \
    "(($6::float8 IS NULL AND $7::float8 IS NULL) OR run_id IN (SELECT run_id FROM dag_run WHERE " \
    "dag_id = $1 AND ($6::float8 IS NULL OR logical_date >= to_timestamp($6::float8)) AND "        \
    "($7::float8 IS NULL OR logical_date <= to_timestamp($7::float8))))"

/* Inside the clear's transaction: count the running matches, clear the others ($4 only
 * failed, $9 retries JSON, $11 only running: none) and queue their runs again ($10 now). */
static int
clear_rows(struct store *s, const char *const *p, int *cleared, int *running, struct err *e)
{
    if (store_exec_int(s, e,
                       "SELECT count(*) FROM task_instance WHERE " CLEAR_MATCH
                       " AND state = 'running' AND NOT $4::bool",
                       8, p, running) != 0)
        return -1;
    /* Airflow's rule: a cleared TI gets its task's retries again on top of the tries it used
     * (a task no longer in the DAG keeps max_tries >= try_number). */
    return store_exec_int(
        s, e,
        "WITH c AS (UPDATE task_instance SET state = NULL, max_tries = coalesce(try_number + "
        "($9::jsonb ->> task_id)::int, greatest(max_tries, try_number)), next_retry_at = NULL, "
        "reschedule_date = NULL, first_poke = NULL, poke_count = 0, "
        "lease_until = NULL, updated_at = now() WHERE " CLEAR_MATCH " AND state IS DISTINCT FROM "
        "'running' AND NOT $11::bool AND (NOT $4::bool OR state IN ('failed', 'upstream_failed')) "
        "RETURNING run_id), "
        "r AS (UPDATE dag_run SET state = 'queued', queued_at = to_timestamp($10::float8), "
        "start_date = NULL, end_date = NULL, last_scheduling_decision = NULL, "
        "clear_number = clear_number + 1, updated_at = now() "
        "WHERE dag_id = $1 AND run_id IN (SELECT run_id FROM c)) "
        "SELECT count(*), CASE WHEN count(*) > 0 THEN pg_notify('gust', 'run:' || $1) END FROM c",
        11, p, cleared);
}

int
store_tis_clear(struct store *s, const char *dag_id, const struct dag *dag, const char *run_id,
                const char *task_regex, bool only_failed, time_t now, int *cleared, int *running,
                struct err *e)
{
    struct store_clear_filter f = {
        .run_id = run_id, .task_regex = task_regex, .only_failed = only_failed};

    return store_tis_clear_filter(s, dag_id, dag, &f, now, cleared, running, e);
}

int
store_tis_clear_filter(struct store *s, const char *dag_id, const struct dag *dag,
                       const struct store_clear_filter *f, time_t now, int *cleared, int *running,
                       struct err *e)
{
    struct pbuf t, a, b, m;
    char *retries = NULL, extra[512];
    const char *p[] = {dag_id,
                       f->run_id,
                       f->task_regex,
                       f->only_failed ? "t" : "f",
                       f->task_ids_json,
                       p_time(&a, f->start),
                       p_time(&b, f->end),
                       f->by_map_index ? p_int(&m, f->map_index) : NULL,
                       NULL,
                       p_int(&t, now),
                       f->only_running ? "t" : "f"};
    int n = 0, busy = 0, rc;

    if (dag && strcmp(dag->dag_id, dag_id) != 0)
        return err_set(e, ERR_USAGE, "clear %s: the DAG given is %s", dag_id, dag->dag_id);
    if (retries_json(dag, &retries, e) != 0)
        return err_prefix(e, "clear %s", dag_id);
    p[8] = retries;
    rc = store_exec_cmd(s, e, "BEGIN", 0, NULL);
    if (rc == 0)
        rc = clear_rows(s, p, &n, &busy, e);
    snprintf(extra, sizeof(extra), "task_regex=%s only_failed=%s cleared=%d running=%d",
             f->task_regex ? f->task_regex : "", f->only_failed ? "true" : "false", n, busy);
    if (rc == 0)
        rc = store_log_row(s, "clear", dag_id, NULL, f->run_id, NULL, extra, now, e);
    free(retries);
    if (store_end_tx(s, rc, e) < 0)
        return err_prefix(e, "clear %s", dag_id);
    *cleared = n;
    if (running)
        *running = busy;
    return 0;
}

/* ---- counts ---------------------------------------------------------------------- */

int
store_count_active_by_task(struct store *s, const struct dag *dag, int *counts, struct err *e)
{
    const char *p[] = {dag->dag_id};
    PGresult *res = store_exec(s, e,
                               "SELECT task_id, count(*) FROM task_instance WHERE dag_id = $1 "
                               "AND state IN ('queued', 'running') GROUP BY task_id",
                               1, p);

    if (res == NULL)
        return err_prefix(e, "count active instances of %s", dag->dag_id);
    memset(counts, 0, dag->n_tasks * sizeof(*counts));
    for (int i = 0; i < PQntuples(res); i++) {
        long k = dag_task_index(dag, PQgetvalue(res, i, 0));
        if (k >= 0)
            counts[k] = atoi(PQgetvalue(res, i, 1));
    }
    PQclear(res);
    return 0;
}

/* The active rows of DAG $1 whose run_id is on one side of $3 (ti_active, migration 0020),
 * at most $2. */
#define ACTIVE_RANGE(op)                                                                           \
    "(SELECT count(*) FROM (SELECT 1 FROM task_instance WHERE dag_id = $1 AND run_id " op " $3 "   \
    "AND state IN ('queued', 'running') LIMIT $2) x)"

int
store_count_active(struct store *s, const char *dag_id, const char *except_run, int cap,
                   int *in_dag, struct err *e)
{
    struct pbuf b;
    const char *p[] = {dag_id, p_int(&b, cap), except_run};
    /* two ranges of the index on either side of except_run: none of its rows */
    PGresult *res = store_exec(s, e, "SELECT " ACTIVE_RANGE("<") " + " ACTIVE_RANGE(">"), 3, p);

    if (res == NULL)
        return err_prefix(e, "count active tasks");
    *in_dag = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

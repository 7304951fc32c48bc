/* store_int: what the store_*.c files share. Includes libpq, so only store*.c may include it
 * (docs/architecture.md, "Rules"); nothing here is part of the public API in store.h. */
#ifndef GUST_STORE_INT_H
#define GUST_STORE_INT_H

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "store/store.h"

/* Reading the results of a lazy transaction sent in pipeline mode (store.c): the setting,
 * the statement, then the sync. q counts the statements whose results ended; res is the
 * statement's own result. */
#define LAZY_SENT 2
struct lazy_read {
    int q;
    bool failed, synced;
    PGresult *res;
};

/* One connection. listening: LISTEN gust was sent (store_listen), so store_reconnect sends it
 * again on the new session. */
struct store {
    PGconn *conn;
    char where[200]; /* "host=... port=... dbname=... user=...", never a password */
    bool listening;
    int backend_pid; /* the server process's, from pg_backend_pid(): a pooler's differs */
    /* Statements prepared on this session (store.c): sql text -> name "gN". */
    struct prepared *prepared;
    size_t n_prepared;
    /* The job row this session registered (store_job_start), 0 when none: store_durable
     * writes its heartbeat to flush the WAL, and without one a try's end commits
     * synchronously. */
    long long job_id;
    /* A try's end committed lazily and not yet made durable by a synchronous commit:
     * store_durable flushes it (see "lazy commits" below). */
    bool unflushed;
    /* A lazy write sent ahead whose results are not read yet (store_send_lazy): every
     * other use of the connection reads them first (store_settle). */
    bool ahead;
    struct lazy_read ahead_read; /* its results read so far (store_settle_ready) */
};

/* Read the server process's pid into s->backend_pid (after a connect or a reset). */
int store_read_backend_pid(struct store *s, struct err *e);

/* Forget the prepared statements (a new session has none): after PQreset. */
void store_forget_prepared(struct store *s);

/* Run one statement with n text parameters (NULL = SQL NULL). Returns the result (caller
 * PQclears) when it succeeded, else NULL with e set (ERR_DB, temporary when retrying may
 * help). */
PGresult *store_exec(struct store *s, struct err *e, const char *sql, int n,
                     const char *const *params);

/* store_exec for a statement whose result is not needed: 0 / -1. */
int store_exec_cmd(struct store *s, struct err *e, const char *sql, int n,
                   const char *const *params);

/* Roll back the open transaction, ignoring errors (the caller already has one to report). */
void store_rollback(struct store *s);

/* Set e from the connection's last error (ERR_DB; temporary when the connection is lost or
 * the server unreachable). Always returns -1. */
int store_conn_error(struct store *s, struct err *e);

/* Write one audit `log` row (store_kv.c); dttm = now, or the server's clock when now is 0. */
int store_log_row(struct store *s, const char *event, const char *dag_id, const char *task_id,
                  const char *run_id, const char *owner, const char *extra, time_t now,
                  struct err *e);

/* ---- parameters ---------------------------------------------------------------------- */

/* Text of a number parameter; p_time and p_ts give NULL (SQL NULL) for 0. */
struct pbuf {
    char b[32];
};

static inline const char *
p_int(struct pbuf *p, long long v)
{
    snprintf(p->b, sizeof(p->b), "%lld", v);
    return p->b;
}

static inline const char *
p_time(struct pbuf *p, time_t t)
{
    return t == 0 ? NULL : p_int(p, (long long)t);
}

static inline const char *
p_dbl(struct pbuf *p, double v)
{
    snprintf(p->b, sizeof(p->b), "%.17g", v);
    return p->b;
}

/* An instant in epoch seconds with a fraction (microseconds, timestamptz's precision); NULL
 * (SQL NULL) for 0. */
static inline const char *
p_ts(struct pbuf *p, double t)
{
    if (t == 0)
        return NULL;
    snprintf(p->b, sizeof(p->b), "%.6f", t);
    return p->b;
}

/* The key of one task instance: $1 dag, $2 run, $3 task, map_index the parameter number m. */
#define TI_KEY(m) "dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $" m "::int"

/* The state a row looked up by TI_KEY must still have is written "state IS NOT DISTINCT FROM
 * 'running'", not "state = 'running'": an equality lets the partial indexes of that state
 * (ti_running, ti_lease, ti_active, ti_claim_order) serve the lookup, and with the statistics
 * of a table whose states change by thousands a second (last analyzed when few rows had that
 * state) the planner rates them as nearly empty and takes one over the key, then reads every
 * row of that state of the DAG or task: a mapped task's try read all its running siblings
 * ("Rows Removed by Filter: 999" in auto_explain of a 1,000-instance fan-out). */

/* The database form of a state: its name, NULL for TI_NONE; -1 for a value out of range. */
static inline int
ti_db(enum ti_state st, const char **out, struct err *e)
{
    if ((unsigned)st >= TI_N_STATES)
        return err_set(e, ERR_USAGE, "bad task state %d", (int)st);
    *out = st == TI_NONE ? NULL : ti_state_name(st);
    return 0;
}

/* ---- statements and transactions -------------------------------------------------- */

/* Commit when rc >= 0, else roll back. Returns rc, or -1 when the commit failed. */
static inline int
store_end_tx(struct store *s, int rc, struct err *e)
{
    if (rc < 0) {
        store_rollback(s);
        return -1;
    }
    return store_exec_cmd(s, e, "COMMIT", 0, NULL) == 0 ? rc : -1;
}

/* Lazy commits. Only the commits that hand work to the outside world wait for the disk: a
 * claim (a process is about to start) and a run's creation. The writes that lead to them
 * commit with synchronous_commit off: WAL is written in order, so the next synchronous commit
 * of this session makes them durable too, and a server crash that loses one only makes the
 * scheduler plan or push it again.
 *
 * A try's end (store_ti_finish) commits lazily as well, and the runner makes it durable
 * before it waits for the next event (store_durable): a claim in the same loop turn flushes
 * it with no disk wait of its own (group commit: one flush serves every end of the turn and
 * the claims they lead to), else the job's heartbeat, committed synchronously, does (a
 * commit waits for the disk only when its transaction wrote something). Until then
 * the end is in the server's memory only: a crash of the server (not of gust) in that window
 * loses it, and the try is retried when its lease expires, as when gust dies before recording
 * an end. Whatever acts on an end with a synchronous commit (the claim of a downstream task,
 * a callback's record) makes it durable first. This keeps about one disk flush per task. */

/* BEGIN a transaction whose commit will not wait for the disk (one round trip). 0 / -1. */
int store_begin_lazy(struct store *s, struct err *e);

/* store_exec of one statement in a lazy transaction: the result (caller PQclears) or NULL.
 * The setting and the statement go in one round trip, one implicit transaction up to the
 * sync (libpq's pipeline mode, store.c send_lazy). */
PGresult *store_exec_lazy(struct store *s, struct err *e, const char *sql, int n,
                          const char *const *p);

/* store_exec_lazy without waiting: the transaction is sent and its results are read by the
 * next use of the connection (store_settle), so the server runs it while this process goes
 * on (a try's pid, written while the try starts). Its outcome is not known: only for writes
 * whose failure loses a hint, never a fact. 0, or -1 when it could not be sent. */
int store_send_lazy(struct store *s, struct err *e, const char *sql, int n,
                    const char *const *params);

/* Read the results of a write sent ahead, if any, waiting for them (a failure is logged at
 * debug level). */
void store_settle(struct store *s);

/* The same without waiting: reads what has come; true once nothing is left ahead. A poll
 * loop calls it when the socket is readable (the results come after the notifications
 * sent before them, and the ones after them wait behind them). */
bool store_settle_ready(struct store *s);

/* Run a conditional statement: 1 when it changed a row, 0 when none, -1 on error. */
static inline int
store_exec_won(struct store *s, struct err *e, const char *sql, int n, const char *const *p)
{
    PGresult *res = store_exec(s, e, sql, n, p);
    int won;

    if (res == NULL)
        return -1;
    won = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    return won;
}

/* Run a query whose first row's first column is a count (or another integer). */
static inline int
store_exec_int(struct store *s, struct err *e, const char *sql, int n, const char *const *p,
               int *out)
{
    PGresult *res = store_exec(s, e, sql, n, p);

    if (res == NULL)
        return -1;
    *out = PQntuples(res) ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return 0;
}

/* The columns store_runs_query reads, in its order (store_run.c); the run's dates, stored
 * with microseconds, are read as whole seconds rounded down. */
#define RUN_COLS                                                                                   \
    "id, dag_id, run_id, run_type, state, floor(extract(epoch FROM logical_date))::bigint, "       \
    "extract(epoch FROM data_interval_start)::bigint, "                                            \
    "extract(epoch FROM data_interval_end)::bigint, floor(extract(epoch FROM "                     \
    "queued_at))::bigint, "                                                                        \
    "floor(extract(epoch FROM start_date))::bigint, floor(extract(epoch FROM end_date))::bigint, " \
    "coalesce(conf::text, '{}'), triggered_by, "                                                   \
    "extract(microseconds FROM logical_date)::bigint % 1000000, clear_number"

/* Run a query selecting RUN_COLS into a new array of runs (free with store_runs_free). */
int store_runs_query(struct store *s, const char *sql, int n, const char *const *p,
                     struct store_run **out, size_t *count, struct err *e);

/* What a new task instance gets from its task, the same wherever rows are made: the columns
 * (TIS_COLS), their values from a row x of store_tis_json's recordset (TIS_VALUES) and that
 * recordset's column types (TIS_RECORD). */
#define TIS_COLS                                                                                   \
    "max_tries, operator, pool, queue, trigger_rule, pool_slots, priority_weight, "                \
    "max_active_tis_per_dag, max_active_tis_per_dagrun"
#define TIS_VALUES                                                                                 \
    "x.max_tries, x.operator, coalesce(x.pool, 'default_pool'), coalesce(x.queue, 'default'), "    \
    "coalesce(x.trigger_rule, 'all_success'), coalesce(x.pool_slots, 1), "                         \
    "coalesce(x.priority_weight, 1), x.per_dag, x.per_run"
#define TIS_RECORD                                                                                 \
    "x(task_id text, max_tries int, operator text, pool text, queue text, trigger_rule text, "     \
    "pool_slots int, priority_weight int, per_dag int, per_run int)"
/* The task instances of dag as a JSON array (task_id, max_tries, operator, pool, queue,
 * trigger_rule) for jsonb_to_recordset; new text, or NULL (out of memory, bad UTF-8). */
char *store_tis_json(const struct dag *dag);

/* Inside an open transaction: the run and its task instances as store_run_create makes them
 * (with its `log` row and NOTIFY). 1 created, 0 the run id exists (nothing written), -1. */
int store_run_insert(struct store *s, const struct dag *dag, const char *run_id,
                     const char *run_type, time_t logical_date, time_t di_start, time_t di_end,
                     const char *conf_json, const char *triggered_by, time_t now, long long *id,
                     struct err *e);

/* ---- assets (store_asset.c) -------------------------------------------------------- */

/* Inside store_sync_dagbag's transaction, after the dag rows: upsert the bag's assets and
 * rewrite the reference tables of its DAGs (schedule, outlets, inlets). */
int store_asset_sync(struct store *s, const struct dagbag *bag, struct err *e);

/* The URIs of n assets as a PostgreSQL text[] literal (a parameter value, never SQL text):
 * new text, NULL when out of memory. */
char *store_asset_uris_param(const struct dag_asset *a, size_t n);

/* What store_ti_finish adds for a success's outlets ($15: their URIs as text[], NULL when
 * none; u: the fenced UPDATE, so a refused end records nothing): the assets (created if a
 * DAG load has not yet), one event each, and the consumers' queue rows. DO UPDATE on the
 * queue, not DO NOTHING: it waits for a scheduler that holds the row locked while creating
 * the consumer's run and deletes it, then inserts it again, so no update is lost. Rows are
 * taken in key order, as the scheduler takes them, so two ends never deadlock. */
#define STORE_ASSET_FINISH_CTES                                                                    \
    "fa AS (INSERT INTO asset (uri, name) SELECT DISTINCT o, o FROM unnest($15::text[]) o "        \
    "WHERE EXISTS (SELECT 1 FROM u) ORDER BY 1 "                                                   \
    "ON CONFLICT (uri) DO UPDATE SET uri = EXCLUDED.uri RETURNING id), "                           \
    "fe AS (INSERT INTO asset_event (asset_id, extra, source_task_id, source_dag_id, "             \
    "source_run_id, source_map_index, timestamp) SELECT id, '{}', $3, $1, $2, $14::int, now() "    \
    "FROM fa), "                                                                                   \
    "fq AS (INSERT INTO asset_dag_run_queue (asset_id, target_dag_id, created_at) "                \
    "SELECT r.asset_id, r.dag_id, now() FROM fa JOIN dag_schedule_asset_reference r ON "           \
    "r.asset_id = fa.id JOIN dag d ON d.dag_id = r.dag_id AND d.is_active AND NOT d.is_paused "    \
    "ORDER BY r.asset_id, r.dag_id ON CONFLICT (asset_id, target_dag_id) DO UPDATE SET "           \
    "created_at = asset_dag_run_queue.created_at) "

#endif

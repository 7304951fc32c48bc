/* store_int: what the store_*.c files share. Includes libpq, so only store*.c may include it
 * (docs/architecture.md, "Rules"); nothing here is part of the public API in store.h. */
#ifndef GUST_STORE_INT_H
#define GUST_STORE_INT_H

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "store/store.h"

/* One connection. listening: LISTEN gust was sent (store_listen), so store_reconnect sends it
 * again on the new session. */
struct store {
    PGconn *conn;
    char where[200]; /* "host=... port=... dbname=... user=...", never a password */
    bool listening;
    /* Statements prepared on this session (store.c): sql text -> name "gN". */
    struct prepared *prepared;
    size_t n_prepared;
};

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
 * claim (a process is about to start), a try's end (the runner then forgets it), a run's
 * creation. The writes that lead to them commit with synchronous_commit off: WAL is written
 * in order, so the next synchronous commit of this session makes them durable too, and a
 * server crash that loses one only makes the scheduler plan or push it again. This keeps one
 * disk flush per step of a task instead of one per statement. */

/* BEGIN a transaction whose commit will not wait for the disk. 0 / -1. */
static inline int
store_begin_lazy(struct store *s, struct err *e)
{
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return -1;
    if (store_exec_cmd(s, e, "SET LOCAL synchronous_commit TO off", 0, NULL) != 0) {
        store_rollback(s);
        return -1;
    }
    return 0;
}

/* store_exec of one statement in a lazy transaction: the result (caller PQclears) or NULL. */
static inline PGresult *
store_exec_lazy(struct store *s, struct err *e, const char *sql, int n, const char *const *p)
{
    PGresult *res;

    if (store_begin_lazy(s, e) != 0)
        return NULL;
    if ((res = store_exec(s, e, sql, n, p)) == NULL) {
        store_rollback(s);
        return NULL;
    }
    if (store_exec_cmd(s, e, "COMMIT", 0, NULL) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

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

/* The columns store_runs_query reads, in its order (store_run.c). */
#define RUN_COLS                                                                                   \
    "id, dag_id, run_id, run_type, state, floor(extract(epoch FROM logical_date))::bigint, "       \
    "extract(epoch FROM data_interval_start)::bigint, "                                            \
    "extract(epoch FROM data_interval_end)::bigint, extract(epoch FROM queued_at)::bigint, "       \
    "extract(epoch FROM start_date)::bigint, extract(epoch FROM end_date)::bigint, "               \
    "coalesce(conf::text, '{}'), triggered_by, "                                                   \
    "extract(microseconds FROM logical_date)::bigint % 1000000"

/* Run a query selecting RUN_COLS into a new array of runs (free with store_runs_free). */
int store_runs_query(struct store *s, const char *sql, int n, const char *const *p,
                     struct store_run **out, size_t *count, struct err *e);

/* The task instances of dag as a JSON array (task_id, max_tries, operator, pool, queue,
 * trigger_rule) for jsonb_to_recordset; new text, or NULL (out of memory, bad UTF-8). */
char *store_tis_json(const struct dag *dag);

#endif

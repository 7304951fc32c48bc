/* store: gust's state in PostgreSQL (DESIGN.md section 6). The only module that sees libpq.
 *
 * A struct store is one connection. Every call returns 0 / -1 and fills an optional struct
 * err; connection failures set err.temporary. Messages never contain a password. */
#ifndef GUST_STORE_H
#define GUST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"
#include "plan.h" /* enum ti_state, enum run_state */

struct store;
struct dagbag;
struct dag;

/* One embedded migration: migrations/NNNN_name.sql compiled into the binary. */
struct store_migration {
    int version; /* NNNN: 1, 2, 3... */
    const char *name;
    const char *sql;
};

/* Generated from the migrations folder at build time (scripts/embed_migrations.sh), in version
 * order, ended by a {0, NULL, NULL} entry. */
extern const struct store_migration store_migrations[];
extern const int store_n_migrations;

/* Connect. conninfo is a libpq key=value string or a postgresql:// URI; NULL means
 * $GUST_DATABASE_URL, and when that is unset too, libpq's defaults (PG* variables).
 * Returns a new store (free with store_free) or NULL with e set. */
struct store *store_open(const char *conninfo, struct err *e);

/* Close the connection and free the store; NULL is a no-op. */
void store_free(struct store *s);

/* Where the store is connected, for messages: "host=... port=... dbname=... user=...". */
const char *store_where(const struct store *s);

/* Copy conninfo into buf with any password replaced by "***" (key=value and URI forms). */
void store_mask_conninfo(const char *conninfo, char *buf, size_t size);

/* Apply the embedded migrations the database lacks, each in its own transaction, under an
 * advisory lock (concurrent callers wait, then find nothing to do). Sets *applied (may be
 * NULL) to the number applied. Refuses (ERR_VERSION) a database newer than this binary. */
int store_migrate(struct store *s, int *applied, struct err *e);

/* store_migrate with another list (versions 1..n in order): for tests and tools. */
int store_migrate_list(struct store *s, const struct store_migration *list, int n, int *applied,
                       struct err *e);

/* The database's schema version (0: never migrated) and the newest this binary knows. */
int store_schema_version(struct store *s, int *db_version, int *binary_version, struct err *e);

/* Record a loaded DAG folder: upsert one `dag` row per DAG (new DAGs start paused when
 * is_paused_upon_creation; is_paused of known DAGs is kept), mark DAGs no longer in the bag
 * inactive (unless their file failed to load), set has_import_errors per file, and replace
 * the `import_error` rows with the bag's errors (one row per file). One transaction. */
int store_sync_dagbag(struct store *s, const struct dagbag *bag, time_t now, struct err *e);

/* Whether dag_id is paused. ERR_NOTFOUND when the DAG has no row. */
int store_dag_is_paused(struct store *s, const char *dag_id, bool *paused, struct err *e);

/* ---- runs, task instances, tries (store_run.c); XCom, variables, audit log (store_kv.c)
 *
 * Keys are (dag_id, run_id[, task_id]); only unmapped task instances (map_index -1) exist.
 * Times are time_t seconds, 0 meaning SQL NULL. Every state change is one conditional UPDATE:
 * functions that change a state return 1 when they won, 0 when the row was not in the expected
 * state (another process won the race, or the result is late), -1 on error. */

/* One DAG run (dag_run). Strings are owned; free with store_run_clear / store_runs_free. */
struct store_run {
    long long id;
    char *dag_id, *run_id, *run_type;
    enum run_state state;
    time_t logical_date, data_interval_start, data_interval_end;
    time_t queued_at, start_date, end_date; /* 0 = NULL */
    char *conf_json;                        /* "{}" when NULL */
    char *triggered_by;                     /* may be NULL */
};

/* The current try of one task instance (task_instance). Strings are owned. */
struct store_ti {
    char *task_id;
    char *operator; /* "BashOperator"...; may be NULL */
    char *hostname; /* of the current try; may be NULL */
    enum ti_state state;
    int try_number, max_tries, pid;                          /* pid 0 = NULL */
    time_t start_date, end_date, queued_dttm, next_retry_at; /* 0 = NULL */
    double duration;                                         /* < 0 = NULL */
    bool has_exit_code;
    int exit_code;
    int term_signal; /* 0 = NULL */
};

/* One try: a finished one (task_instance_history) or the current one of a started TI. */
struct store_try {
    char *task_id, *hostname; /* owned; hostname may be NULL */
    int try_number;
    enum ti_state state;
    time_t start_date, end_date; /* 0 = NULL */
    double duration;             /* < 0 = NULL */
    int pid;                     /* 0 = NULL */
    bool has_exit_code;
    int exit_code;
    int term_signal; /* 0 = NULL */
};

/* One planner transition for store_tis_apply. */
struct store_ti_change {
    const char *task_id;
    enum ti_state from, to;
};

/* Create a queued run and its task instances (state NULL, max_tries = the task's retries;
 * operator, pool, queue, trigger_rule from the task) in one transaction, with a `log` row
 * "trigger" and a minimal `dag` row when the DAG has none. An existing (dag_id, run_id) is
 * ERR_EXISTS and nothing is written. conf_json NULL stores NULL. Sets *id (may be NULL). */
int store_run_create(struct store *s, const struct dag *dag, const char *run_id,
                     const char *run_type, time_t logical_date, time_t di_start, time_t di_end,
                     const char *conf_json, const char *triggered_by, time_t now, long long *id,
                     struct err *e);

/* One run into *out (free with store_run_clear). ERR_NOTFOUND when it does not exist. */
int store_run_get(struct store *s, const char *dag_id, const char *run_id, struct store_run *out,
                  struct err *e);

/* Free what a store_run owns and zero it; NULL is a no-op. */
void store_run_clear(struct store_run *r);

/* Runs of a DAG, newest logical_date first (then newest id); state NULL = any (an unknown
 * state name is ERR_USAGE); limit <= 0 = all. *out is NULL when *n is 0. */
int store_runs_list(struct store *s, const char *dag_id, const char *state, int limit,
                    struct store_run **out, size_t *n, struct err *e);

/* Free an array from store_runs_list; NULL is a no-op. */
void store_runs_free(struct store_run *runs, size_t n);

/* Conditional run transition from -> to. Entering running sets start_date = now and clears
 * end_date; entering success/failed sets end_date = now (never before start_date); entering
 * queued sets queued_at = now and clears start_date and end_date. 1 won, 0 lost, -1 error. */
int store_run_set_state(struct store *s, const char *dag_id, const char *run_id,
                        enum run_state from, enum run_state to, time_t now, struct err *e);

/* Task instances of a run, in task_id order (bytewise). *out is NULL when *n is 0. */
int store_tis_get(struct store *s, const char *dag_id, const char *run_id, struct store_ti **out,
                  size_t *n, struct err *e);

/* Free an array from store_tis_get; NULL is a no-op. */
void store_tis_free(struct store_ti *tis, size_t n);

/* Apply planner transitions in ONE transaction, each a conditional UPDATE (state IS NOT
 * DISTINCT FROM from); applied[i] (n entries) = 1 won / 0 lost; on error nothing is applied
 * and every applied[i] is 0. Entering queued sets queued_dttm = now. */
int store_tis_apply(struct store *s, const char *dag_id, const char *run_id,
                    const struct store_ti_change *changes, size_t n, time_t now, int *applied,
                    struct err *e);

/* Start a try: queued -> running, try_number + 1, start_date = now, hostname, pid (0 = NULL,
 * set later with store_ti_set_pid), lease_until = now + lease_seconds, end result fields
 * cleared; the task instance's XCom is deleted in the same transaction (Airflow clears it
 * when a try starts). 1 with *try_number = the new try, 0 when the TI was not queued. */
int store_ti_start(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   const char *hostname, int pid, time_t now, double lease_seconds, int *try_number,
                   struct err *e);

/* Set the pid of the running try try_number. 1 set, 0 not running that try. */
int store_ti_set_pid(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                     int try_number, int pid, struct err *e);

/* Finish a try: running with this try_number -> to (success, failed, up_for_retry, skipped),
 * with start (0: keep the recorded start_date), end, duration (< 0: NULL), exit_code when
 * has_exit_code, term_signal (0: NULL), next_retry_at (0: NULL); the lease is cleared and a
 * task_instance_history row for the try is written in the same transaction. 1 won, 0 refused
 * (state or try_number changed: a late result; nothing written). */
int store_ti_finish(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                    int try_number, enum ti_state to, bool has_exit_code, int exit_code,
                    int term_signal, time_t start, time_t end, double duration,
                    time_t next_retry_at, struct err *e);

/* Every try of a run: history rows, plus the current try of each started TI that has no
 * history row yet (a running try), ordered by task_id (bytewise) then try_number. */
int store_tries_get(struct store *s, const char *dag_id, const char *run_id, struct store_try **out,
                    size_t *n, struct err *e);

/* Free an array from store_tries_get; NULL is a no-op. */
void store_tries_free(struct store_try *t, size_t n);

/* Upsert XCom (run, task, key) = json (JSON text, stored as JSONB). ERR_NOTFOUND when the run
 * does not exist; invalid JSON is ERR_DB. */
int store_xcom_set(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   const char *key, const char *json, struct err *e);

/* *json = the value as new JSON text, or NULL when absent (not an error). The text is JSONB's
 * normal form, equal as JSON to what was set: keys in JSONB's order (shorter first), ": " and
 * ", " between items, \uXXXX escapes of non-ASCII decoded to UTF-8. */
int store_xcom_get(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   const char *key, char **json, struct err *e);

/* Delete every XCom key of a task instance. */
int store_xcom_clear(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                     struct err *e);

/* Airflow's clear. Matching TIs (task_id matches the POSIX regex task_regex with PostgreSQL's
 * ~, NULL = all; run_id NULL = every run of the DAG; only_failed = failed and upstream_failed
 * only) go back to state NULL with max_tries = try_number + the task's retries in dag (the
 * DAG as loaded now; NULL, or a task no longer in it: max_tries kept >= try_number), and
 * their runs back to queued (start_date, end_date NULL, clear_number + 1). Running TIs are not
 * touched: *running (may be NULL) counts those that matched. One transaction with a `log`
 * row "clear"; *cleared = TIs cleared. A bad regex is ERR_DB. */
int store_tis_clear(struct store *s, const char *dag_id, const struct dag *dag, const char *run_id,
                    const char *task_regex, bool only_failed, time_t now, int *cleared,
                    int *running, struct err *e);

/* Queued + running TIs of dag_id over all its runs (max_active_tasks; dag_id NULL: 0), and of
 * every DAG (parallelism). */
int store_count_active(struct store *s, const char *dag_id, int *in_dag, int *total, struct err *e);

/* *value = new copy of variable key, NULL (not an error) when unset. */
int store_variable_get(struct store *s, const char *key, char **value, struct err *e);

/* Set (insert or replace) variable key. */
int store_variable_set(struct store *s, const char *key, const char *value, struct err *e);

/* Write one audit `log` row; every argument but event may be NULL. */
int store_log_event(struct store *s, const char *event, const char *dag_id, const char *task_id,
                    const char *run_id, const char *extra, struct err *e);

#endif

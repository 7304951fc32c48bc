/* store: gust's state in PostgreSQL (docs/architecture.md, "State"). The only module that sees
 * libpq.
 *
 * A struct store is one connection. Every call returns 0 / -1 and fills an optional struct
 * err; connection failures set err.temporary. Messages never contain a password. */
#ifndef GUST_STORE_H
#define GUST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"
#include "state/state.h"

struct store;
struct dagbag;
struct dag;
struct dag_asset;

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
 * inactive (unless their file, or a folder holding it, failed to load), set has_import_errors per
 * file, and replace the `import_error` rows with the bag's errors and the `import_warning` rows
 * with its warnings (one row per file each), and record the DAGs' assets and their
 * references (store_asset.c). One transaction. scope: NULL when the bag is the whole DAG
 * folder, else the file or folder it was loaded from (`dags reserialize -S`, as the DAG
 * files' paths begin): only DAGs and import errors of files there can be found gone. */
int store_sync_dagbag(struct store *s, const struct dagbag *bag, const char *scope, time_t now,
                      struct err *e);

/* Append a line to the import_error row of file (store_sync_dagbag wrote it): what the
 * scheduler does about the error, such as keeping the last good version of its DAGs. */
int store_import_error_note(struct store *s, const char *file, const char *note, struct err *e);

/* Whether dag_id is paused. ERR_NOTFOUND when the DAG has no row. */
int store_dag_is_paused(struct store *s, const char *dag_id, bool *paused, struct err *e);

/* ---- runs, task instances, tries (store_run.c); XCom, variables, audit log (store_kv.c)
 *
 * Keys are (dag_id, run_id[, task_id, map_index]): map_index is Airflow's, -1 for an unmapped
 * task (and for a mapped one until it is expanded), 0.. for a mapped task's instances.
 * Times are time_t seconds, 0 meaning SQL NULL. Every state change is one conditional UPDATE:
 * functions that change a state return 1 when they won, 0 when the row was not in the expected
 * state (another process won the race, or the result is late), -1 on error. */

/* One DAG run (dag_run). Strings are owned; free with store_run_clear / store_runs_free. */
struct store_run {
    long long id;
    char *dag_id, *run_id, *run_type;
    enum run_state state;
    time_t logical_date, data_interval_start, data_interval_end;
    long logical_usec; /* the microseconds of logical_date (gust writes whole seconds) */
    time_t queued_at, start_date, end_date; /* 0 = NULL */
    char *conf_json;                        /* "{}" when NULL */
    char *triggered_by;                     /* may be NULL */
    int clear_number;                       /* times the run was cleared (Airflow 3's) */
};

/* The current try of one task instance (task_instance). Strings are owned. */
struct store_ti {
    char *task_id;
    int map_index;
    char *map_name; /* rendered_map_index (map_index_template); may be NULL */
    char *operator; /* "BashOperator"...; may be NULL */
    char *hostname; /* of the current try; may be NULL */
    enum ti_state state;
    int try_number, max_tries, pid;           /* pid 0 = NULL */
    time_t start_date, end_date, queued_dttm; /* 0 = NULL */
    time_t next_retry_at; /* 0 = NULL; rounded up: a retry never looks due early;
                           * up_for_reschedule: the sensor's next poke (reschedule_date) */
    double duration;      /* < 0 = NULL */
    bool has_exit_code;
    int exit_code;
    int term_signal; /* 0 = NULL */
};

/* A sensor's poke (store_sensor.c). In reschedule mode, a poke whose condition is unmet
 * leaves the instance up_for_reschedule until reschedule_at; first_poke and poke_count are
 * kept in the row (the timeout counts from the first poke). */
struct store_poke {
    enum ti_state to;     /* TI_UP_FOR_RESCHEDULE, or (try_number 0 only) success, failed or
                           * skipped: the scheduler's own poke ended the sensor */
    int try_number;       /* > 0: the running try that poked (fenced as store_ti_finish; its
                           * try number goes back down: a reschedule is not a new try) */
    enum ti_state from;   /* try_number 0: the state the instance must still be in */
    double start, end;    /* the poke's times, epoch s */
    double reschedule_at; /* TI_UP_FOR_RESCHEDULE: the next poke */
    const char *hostname; /* the scheduler that poked (ends only); may be NULL */
};

/* Record a poke: 1 won, 0 the instance was no longer as expected (recorded nothing), -1. */
int store_ti_poked(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   int map_index, const struct store_poke *pk, struct err *e);

/* How many times an instance was rescheduled since its last clear (task_reschedule rows). */
int store_pokes_count(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                      int map_index, int *n, struct err *e);

/* What a poke the scheduler makes itself needs: the first poke (0: none yet), the pokes so
 * far and the try number of the instance (all 0 when it has no row). */
int store_ti_poke_info(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                       int map_index, double *first_poke, int *poke_count, int *try_number,
                       struct err *e);

/* ExternalTaskSensor: the states (names, NULL for none) of the task instances of dag_id's run
 * at logical_date whose task is in task_ids_json (a JSON array) or in task group group_id
 * (NULL: neither), removed instances left out; with neither, the state of that run itself (no
 * row: no run yet). Free with store_states_free. */
int store_external_states(struct store *s, const char *dag_id, time_t logical_date,
                          const char *task_ids_json, const char *group_id, char ***states,
                          size_t *n, struct err *e);
void store_states_free(char **states, size_t n);

/* One try: a finished one (task_instance_history) or the current one of a started TI. */
struct store_try {
    char *task_id, *hostname; /* owned; hostname may be NULL */
    int map_index;
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
    int map_index;
    enum ti_state from, to;
};

/* Create a queued run and its task instances (state NULL, max_tries = the task's retries;
 * operator, pool, queue, trigger_rule from the task) in one transaction, with a `log` row
 * "trigger" and a minimal `dag` row when the DAG has none. An existing (dag_id, run_id) is
 * ERR_EXISTS and nothing is written, and so is a run id that breaks runid_check (ERR_USAGE).
 * conf_json NULL stores NULL. Sets *id (may be NULL). */
int store_run_create(struct store *s, const struct dag *dag, const char *run_id,
                     const char *run_type, time_t logical_date, time_t di_start, time_t di_end,
                     const char *conf_json, const char *triggered_by, time_t now, long long *id,
                     struct err *e);

/* Create a manual run as store_run_create, named manual__<now to the microsecond> (runid_clock)
 * into run_id (RUNID_SIZE bytes), its logical date the second of that instant. Another run
 * named after the same microsecond (concurrent triggers) moves this one to a later free
 * microsecond (the clock's, else a random step of at most 1,024); only after 100 clashes is
 * it ERR_EXISTS. */
int store_run_create_manual(struct store *s, const struct dag *dag, const char *conf_json,
                            const char *triggered_by, char *run_id, size_t size, long long *id,
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

/* Conditional run transition from -> to (now: epoch seconds, microseconds kept as
 * task_instance's). Entering running sets start_date = now and clears
 * end_date; entering success/failed sets end_date = now (never before start_date); entering
 * queued sets queued_at = now and clears start_date and end_date. 1 won, 0 lost, -1 error. */
int store_run_set_state(struct store *s, const char *dag_id, const char *run_id,
                        enum run_state from, enum run_state to, double now, struct err *e);

/* Task instances of a run, in task_id order (bytewise), then map_index. *out is NULL when *n
 * is 0. */
int store_tis_get(struct store *s, const char *dag_id, const char *run_id, struct store_ti **out,
                  size_t *n, struct err *e);

/* Free an array from store_tis_get; NULL is a no-op. */
void store_tis_free(struct store_ti *tis, size_t n);

/* Apply planner transitions in ONE transaction and one round trip (the SQL function
 * gust_apply_changes), in order, each conditional (state IS NOT DISTINCT FROM from): a later
 * change of the same instance sees the earlier one. applied[i] (n entries) = 1 won / 0 lost;
 * on error nothing is applied and every applied[i] is 0. Entering queued sets queued_dttm =
 * now; a batch that queued anything notifies "queued:DAG" once. */
int store_tis_apply(struct store *s, const char *dag_id, const char *run_id,
                    const struct store_ti_change *changes, size_t n, time_t now, int *applied,
                    struct err *e);

/* Start a try: queued -> running, try_number + 1, start_date = now, hostname, pid (0 = NULL,
 * set later with store_ti_set_pid), lease_until = now + lease_seconds, end result fields
 * cleared; the task instance's XCom is deleted in the same transaction (Airflow clears it
 * when a try starts). 1 with *try_number = the new try, 0 when the TI was not queued. */
int store_ti_start(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   int map_index, const char *hostname, int pid, double now, double lease_seconds,
                   int *try_number, struct err *e);

/* Set the pid of the running try try_number (nothing when that try is not running). Sent
 * ahead, not waited for: it is in the database before the next statement of s returns, and
 * its failure is only logged (the pid is a hint for stopping a try whose lease expired).
 * 0 sent, -1 when it could not be sent. */
int store_ti_set_pid(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                     int map_index, int try_number, int pid, struct err *e);

/* How one try ended, as store_ti_finish records it. Instants are epoch seconds with a
 * fraction (timestamptz keeps microseconds). */
struct store_try_end {
    int try_number;        /* the fence: the try that ended */
    enum ti_state state;   /* success, failed, up_for_retry or skipped */
    double start;          /* 0: keep the recorded start_date */
    double end;            /* end_date */
    double duration;       /* seconds; < 0: NULL */
    bool has_exit_code;    /* exit_code is NULL otherwise */
    int exit_code;         /* when has_exit_code */
    int term_signal;       /* 0: NULL */
    double next_retry_at;  /* up_for_retry: when the next try is due; 0: NULL */
    const char *xcom_json; /* the try's XCom return_value (JSON text), or NULL: none */
    const char *skip_json; /* a branch's end: JSON array of task ids of the run to set skipped
                            * (those not started: state none or scheduled), or NULL */
    const struct dag_asset *outlets; /* the task's outlets: a success records their events */
    size_t n_outlets;
};

/* Finish a try: running with end->try_number -> end->state, with the rest of end recorded;
 * the lease is cleared, and a task_instance_history row for the try and its XCom
 * return_value (end->xcom_json) are written in the same statement, and so are a branch's
 * skips (end->skip_json: Airflow's skip_all_except) and, for a success, one asset_event per
 * outlet with an asset_dag_run_queue row for each active, unpaused DAG scheduled on it.
 * 1 won, 0 refused (state or try_number changed: a late result; nothing written, its XCom,
 * skips and asset events neither). */
int store_ti_finish(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                    int map_index, const struct store_try_end *end, struct err *e);

/* Every try of a run: history rows, plus the current try of each started TI that has no
 * history row yet (a running try), ordered by task_id (bytewise), map_index, try_number. */
int store_tries_get(struct store *s, const char *dag_id, const char *run_id, struct store_try **out,
                    size_t *n, struct err *e);

/* Free an array from store_tries_get; NULL is a no-op. */
void store_tries_free(struct store_try *t, size_t n);

/* Upsert XCom (run, task, map_index, key) = json (JSON text, stored as JSONB). ERR_NOTFOUND when
 * the run does not exist; invalid JSON is ERR_DB. */
int store_xcom_set(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   int map_index, const char *key, const char *json, struct err *e);

/* *json = the value as new JSON text, or NULL when absent (not an error). The text is JSONB's
 * normal form, equal as JSON to what was set: keys in JSONB's order (shorter first), ": " and
 * ", " between items, \uXXXX escapes of non-ASCII decoded to UTF-8. */
int store_xcom_get(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   int map_index, const char *key, char **json, struct err *e);

/* A mapped task's values of key: *json = a JSON array of every instance's value (map_index >=
 * 0) in map_index order, instances without one left out (Airflow's lazy sequence), "[]" when
 * none has one. */
int store_xcom_collect(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                       const char *key, char **json, struct err *e);

/* The return_value a mapped task maps over, read only when it changed since the caller's
 * copy: task_id's own (map_index -1), or with collect its instances' values as
 * store_xcom_collect gives them. version (STORE_XCOM_VERSION bytes) receives a token that any
 * write or delete of those rows changes (their count, newest timestamp and newest xmin); ""
 * when there is no value. When known (NULL: none) equals the new token, *json is NULL and the
 * caller's copy stands; else *json is the value as new JSON text (NULL when absent). */
#define STORE_XCOM_VERSION 96
int store_xcom_if_changed(struct store *s, const char *dag_id, const char *run_id,
                          const char *task_id, bool collect, const char *known, char **json,
                          char *version, struct err *e);

/* Delete every XCom key of a task instance. */
int store_xcom_clear(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                     int map_index, struct err *e);

/* Expand a mapped task of a run to n instances (Airflow's expand_mapped_task and
 * _revise_map_indexes_if_mapped), in one transaction, only while the task has an instance in
 * state none (else 0: another process expanded it first): n > 0: its -1 row becomes index 0,
 * missing indexes < n are added, indexes >= n become removed, and every instance in state none
 * becomes scheduled; n == 0: the -1 row, or every instance, becomes skipped (removed for
 * instances of an earlier expansion). fail_msg non-NULL: the task cannot expand: its none
 * instances become failed, and fail_msg goes to the audit log. A `log` row records the
 * expansion. 1 done, 0 nothing to do, -1 error. */
int store_ti_expand(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                    int n, const char *fail_msg, struct err *e);

/* Airflow's rendered_map_index: the instance's name from map_index_template. */
int store_ti_set_map_name(struct store *s, const char *dag_id, const char *run_id,
                          const char *task_id, int map_index, const char *name, struct err *e);

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

/* store_tis_clear with more filters (Airflow's tasks clear -s -e --upstream --downstream):
 * task_ids_json a JSON array of task ids (NULL: any), start/end bound the runs' logical dates
 * (0: open); running TIs are never cleared (only counted), whatever the filter. */
struct store_clear_filter {
    const char *run_id, *task_regex, *task_ids_json;
    bool only_failed;
    bool only_running; /* Airflow's --only-running: running TIs only, so only counted */
    bool by_map_index; /* only the instance map_index (Airflow's --map-index) */
    int map_index;
    time_t start, end;
};
int store_tis_clear_filter(struct store *s, const char *dag_id, const struct dag *dag,
                           const struct store_clear_filter *f, time_t now, int *cleared,
                           int *running, struct err *e);

/* Queued + running TIs of dag_id over all its runs but except_run, counted up to
 * cap (max_active_tasks: the planner needs no more, and a run that queues thousands at once
 * made a full count cost O(queued) per planning step). The planner knows its own run's. */
int store_count_active(struct store *s, const char *dag_id, const char *except_run, int cap,
                       int *in_dag, struct err *e);

/* counts[i] = queued + running instances of dag->tasks[i] over every run of the DAG
 * (max_active_tis_per_dag); counts has dag->n_tasks entries. */
int store_count_active_by_task(struct store *s, const struct dag *dag, int *counts, struct err *e);

/* *value = new copy of variable key, NULL (not an error) when unset. */
int store_variable_get(struct store *s, const char *key, char **value, struct err *e);

/* Set (insert or replace) variable key. */
int store_variable_set(struct store *s, const char *key, const char *value, struct err *e);

/* ---- connections (store_conn.c): Airflow's `connection` table ---------------------- */

struct conn;
struct fernet;

/* Airflow's lookup on this store's session: AIRFLOW_CONN_<ID> first, then the table (s may
 * be NULL: environment only). See conn_lookup in common/conn.h. */
int store_conn_lookup(struct store *s, const char *conn_id, struct conn *out, struct err *e);

/* The table's row of conn_id only, decrypted (ERR_NOTFOUND when there is none). */
int store_conn_get(struct store *s, const char *conn_id, struct conn *out, struct err *e);

/* Insert c (conn_id and conn_type set); an existing conn_id is replaced when overwrite,
 * else ERR_EXISTS. password and extra are encrypted with f's first key when f has one
 * (is_encrypted / is_extra_encrypted true), else stored in plain text. */
int store_conn_put(struct store *s, const struct conn *c, bool overwrite, const struct fernet *f,
                   time_t now, struct err *e);

/* Delete a connection; *deleted false when there was none. */
int store_conn_delete(struct store *s, const char *conn_id, bool *deleted, struct err *e);

/* Every conn_id of the table, sorted: a new array of *n new strings (free each, then it). */
int store_conn_ids(struct store *s, char ***ids, size_t *n, struct err *e);

/* Airflow's rotate-fernet-key: every encrypted password and extra decrypted with any key of
 * f and encrypted again with its first, in one transaction; *rotated = connections changed. */
int store_conn_rotate(struct store *s, const struct fernet *f, int *rotated, struct err *e);

/* Write one audit `log` row; every argument but event may be NULL. */
int store_log_event(struct store *s, const char *event, const char *dag_id, const char *task_id,
                    const char *run_id, const char *extra, struct err *e);

/* ---- scheduler daemons and workers (store_sched.c)
 *
 * Several schedulers and workers share one database and any of them may die at any moment:
 * each process is a `job` row kept alive by its heartbeat; a worker claims queued task
 * instances with FOR UPDATE SKIP LOCKED and holds a lease on each running try; a scheduler
 * fails the tries whose lease expired (store_ti_finish, fenced by try_number). Wake-ups are
 * NOTIFYs on channel "gust" with payload "<kind>:<dag_id>": run (a run was created, cleared,
 * promoted or timed out), queued (a task instance became queued), finished (a try ended),
 * pause (a DAG was paused or unpaused). They are sent in the changing transaction, so they
 * arrive only when it committed. */

/* Start a job: a `job` row (job_type "SchedulerJob", "WorkerJob"...; state running,
 * latest_heartbeat now); *job_id = its id. */
int store_job_start(struct store *s, const char *job_type, const char *hostname, int pid,
                    long long *job_id, struct err *e);

/* latest_heartbeat = now (server clock). 1 done, 0 the job is no longer running (ended, or
 * declared dead by someone else): stop working for it. */
int store_job_heartbeat(struct store *s, long long job_id, struct err *e);

/* End a running job: state (success, failed), end_date = now. 1 done, 0 not running. */
int store_job_end(struct store *s, long long job_id, const char *state, struct err *e);

/* *alive = running jobs of job_type (NULL: any) whose heartbeat is at most max_age seconds
 * old (server clock). */
int store_jobs_alive(struct store *s, const char *job_type, double max_age, int *alive,
                     struct err *e);

/* One claimed try (owned strings; free an array with store_claims_free). */
struct store_claim {
    char *dag_id, *run_id, *task_id;
    int map_index, try_number, max_tries;
    double first_poke; /* a sensor's first poke, epoch s (0: none yet) */
    int poke_count;    /* a sensor's pokes so far */
    char *problem;     /* why it cannot run (its pool does not exist): the caller fails the
                        * try with it; NULL: none */
};

/* Which queued task instances to claim; NULL / 0 fields match any. */
struct store_claim_filter {
    const char *dag_id, *run_id, *queue;
    const char *const *dag_ids; /* dag_id must be one of these (n_dag_ids > 0) */
    size_t n_dag_ids;
};

/* Claim up to limit queued task instances (f NULL: any), highest priority_weight first, then
 * oldest queued_dttm, skipping rows another transaction has locked, and start a try on each in
 * ONE statement: running, try_number + 1, start_date = now, hostname, pid (0: NULL, set later
 * with store_ti_set_pid), job_id (0: NULL), lease_until = now + lease_seconds,
 * last_heartbeat_at = now, end results cleared; their XCom is deleted in the same statement.
 * Two claimers never get the same row. *out (NULL when *n is 0) in claim order. */
int store_claim_queued(struct store *s, const struct store_claim_filter *f, int limit,
                       const char *hostname, int pid, long long job_id, double lease_seconds,
                       double now, struct store_claim **out, size_t *n, struct err *e);

/* Free an array from store_claim_queued; NULL is a no-op. */
void store_claims_free(struct store_claim *c, size_t n);

/* One try a job believes it runs (borrowed strings). */
struct store_try_ref {
    const char *dag_id, *run_id, *task_id;
    int map_index, try_number;
};

/* Renew the leases of everything job_id runs, in one statement: lease_until = now +
 * lease_seconds, last_heartbeat_at = now for its running task instances (and for the given
 * tries that are running with no job yet, e.g. started by store_ti_start: they are adopted,
 * job_id = this job). lost[i] (n entries) = 1 when tries[i] is no longer running under this
 * job with that try number (finished or failed by someone else, cleared, retried: its lease
 * was lost, the process should be stopped and its result will be refused), else 0. */
int store_leases_renew(struct store *s, long long job_id, double lease_seconds, time_t now,
                       const struct store_try_ref *tries, size_t n, int *lost, struct err *e);

/* A running try whose lease expired (owned strings; hostname may be NULL, pid 0 = NULL). */
struct store_expired {
    char *dag_id, *run_id, *task_id, *hostname;
    int map_index, try_number, max_tries, pid;
};

/* Running tries whose lease_until is before now, oldest lease first, at most limit (<= 0:
 * all). The caller fails or retries each with store_ti_finish (fenced by try_number). */
int store_leases_expired(struct store *s, time_t now, int limit, struct store_expired **out,
                         size_t *n, struct err *e);

/* Free an array from store_leases_expired; NULL is a no-op. */
void store_expired_free(struct store_expired *x, size_t n);

/* *logical = the latest logical date of dag_id's runs of run_type 'scheduled' (0: none). */
int store_last_scheduled(struct store *s, const char *dag_id, time_t *logical, struct err *e);

/* The latest scheduled run of dag_id: its logical date and data interval end (0, 0: none). */
int store_last_scheduled_interval(struct store *s, const char *dag_id, time_t *logical, time_t *end,
                                  struct err *e);

/* What the scheduler's tick needs of every DAG at once, in one statement: the DAGs that are
 * paused or have runs queued or running (a DAG not listed is unpaused, or unknown, and has no
 * active run). */
struct store_sched_state {
    char *dag_id;
    bool paused, queued, active; /* active: some run queued or running */
};
int store_sched_states(struct store *s, struct store_sched_state **out, size_t *n, struct err *e);
void store_sched_states_free(struct store_sched_state *v, size_t n);

/* store_last_scheduled_interval for the n_ids DAGs of dag_ids in one statement: one row per
 * DAG that has a scheduled run (a DAG without is left out). */
struct store_last_interval {
    char *dag_id;
    time_t logical, end;
};
int store_last_scheduled_intervals(struct store *s, const char *const *dag_ids, size_t n_ids,
                                   struct store_last_interval **out, size_t *n, struct err *e);
void store_last_intervals_free(struct store_last_interval *v, size_t n);

/* *n = runs of dag_id that are queued or running. */
int store_dag_active_runs(struct store *s, const char *dag_id, int *n, struct err *e);

/* Promote queued runs of dag_id to running (start_date = now), oldest logical date first,
 * while fewer than max_active_runs (<= 0: unlimited) are running. Serialized per DAG by a
 * transaction-level advisory lock, so concurrent schedulers never exceed the limit.
 * *promoted (may be NULL) = runs promoted. */
int store_runs_promote(struct store *s, const char *dag_id, int max_active_runs, double now,
                       int *promoted, struct err *e);

/* As store_runs_promote, also how late each promoted run started (Airflow's
 * dagrun.schedule_delay: its start_date minus its data interval's end, in seconds) for the
 * runs of type scheduled never cleared: *delays (a new array, NULL when none) holds
 * *n_delays of them. delays may be NULL. */
int store_runs_promote_delays(struct store *s, const char *dag_id, int max_active_runs, double now,
                              int *promoted, double **delays, size_t *n_delays, struct err *e);

/* Queued and running runs of active, unpaused DAGs, oldest logical date first (then id).
 * Free with store_runs_free; *out is NULL when *n is 0. */
int store_runs_active(struct store *s, struct store_run **out, size_t *n, struct err *e);

/* dagrun_timeout: running runs of dag_id started before now - timeout become failed
 * (end_date now) and their task instances not yet finished and not running become skipped
 * (running tries are left to finish or lose their lease), in one statement.
 * *timed_out (may be NULL) = runs failed. timeout < 0: nothing. */
int store_runs_timeout(struct store *s, const char *dag_id, double timeout, time_t now,
                       int *timed_out, struct err *e);

/* Airflow's verify_integrity for one run of dag, in one statement: task instances whose task
 * is no longer in dag become removed (any state but running), removed ones whose task is back
 * return to state NULL, and tasks with no task instance get one (state NULL). *added = created
 * + restored, *removed = removed (both may be NULL). ERR_NOTFOUND when the run does not
 * exist. */
int store_run_sync_tasks(struct store *s, const struct dag *dag, const char *run_id, int *added,
                         int *removed, struct err *e);

/* depends_on_past: *state = the state of task_id in the run of dag_id with the greatest
 * logical_date before this run's. *found = false (and TI_NONE) when there is no such run or
 * it has no task instance of task_id: Airflow then counts the dependency as met. */
int store_prev_ti_state(struct store *s, const char *dag_id, const char *run_id,
                        const char *task_id, bool *found, enum ti_state *state, struct err *e);

/* What a template's context needs of the store beyond the run itself: the run's run_type
 * (owned) and start_date, and the last successful run of dag_id before it (by logical date):
 * its data interval and the start of task_id's try in it. Times are 0 when NULL or absent
 * (prev_found false: no earlier successful run). ERR_NOTFOUND when the run does not exist. */
struct store_tmpl_ctx {
    char *run_type;
    time_t start_date;
    bool prev_found;
    time_t prev_di_start, prev_di_end, prev_ti_start;
};
int store_tmpl_ctx(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   struct store_tmpl_ctx *out, struct err *e);

/* Pause or unpause dag_id, with a `log` row "pause" / "unpause" and a NOTIFY, in one
 * statement. ERR_NOTFOUND when the DAG has no row. */
int store_dag_set_paused(struct store *s, const char *dag_id, bool paused, struct err *e);

/* Every variable, by key (bytewise): new arrays of n new strings (a NULL value stays NULL);
 * free each with store_strings_free. */
int store_variables_list(struct store *s, char ***keys, char ***values, size_t *n, struct err *e);

/* Free n strings and their array; NULL is a no-op. */
void store_strings_free(char **v, size_t n);

/* Delete variable key; *deleted (may be NULL) = whether it existed. */
int store_variable_delete(struct store *s, const char *key, bool *deleted, struct err *e);

/* LISTEN on channel "gust" (again after store_reconnect). */
int store_listen(struct store *s, struct err *e);

/* The connection's socket, for poll() (readable: call store_drain_notifies); -1 when none.
 * It changes with store_reconnect. */
int store_socket(const struct store *s);

/* Read what the server sent without blocking and drop the notifications received so far;
 * *count (may be NULL) = how many came from other sessions (this session's own are not
 * counted). A lost connection is a temporary error. */
int store_drain_notifies(struct store *s, int *count, struct err *e);

/* store_drain_notifies, and *ended = whether one of the notifications said that a run of
 * dag_id ended (a watcher reads the run at once then, not at its next turn). */
int store_drain_run_ends(struct store *s, const char *dag_id, int *count, bool *ended,
                         struct err *e);

/* A task instance whose try another session ended (store_ti_finish and the sensor's ends
 * say which in their notification). */
struct store_ti_key {
    char *dag_id, *run_id, *task_id;
    int map_index;
};

/* What the notifications of other sessions said (store_take_notifies). */
struct store_notes {
    int count;                  /* how many came from other sessions */
    bool other;                 /* one of them said something else, or too many came: any
                                 * row may have changed */
    struct store_ti_key *ended; /* else: the task instances whose try ended, the only rows
                                 * that changed (one entry per notification) */
    size_t n_ended;
    char **dags; /* and the DAGs some of whose runs' rows changed otherwise ("run:", "queued:",
                  * "ended:", "pause:", "asset:" and the DAG id; one entry per notification) */
    size_t n_dags;
};
#define STORE_NOTES_MAX_ENDED 256 /* more at once: `other` (reading every row is cheaper) */

/* store_drain_notifies, keeping what the notifications say. Clear *out with
 * store_notes_clear. */
int store_take_notifies(struct store *s, struct store_notes *out, struct err *e);
void store_notes_clear(struct store_notes *n);

/* The task instance (dag_id, run_id, task_id, map_index) as store_tis_get reads it; *found
 * false when there is no such row. Free *out's strings with store_ti_clear when found. */
int store_ti_get(struct store *s, const struct store_ti_key *key, struct store_ti *out, bool *found,
                 struct err *e);
void store_ti_clear(struct store_ti *ti);

/* Make the tries' ends this session recorded durable, if a synchronous commit has not done
 * it yet (store_int.h, "lazy commits"): the runner calls it before it waits for events.
 * 0, or -1 with e set (the ends stay committed; only their flush to disk is in doubt). */
int store_durable(struct store *s, struct err *e);

/* After a temporary error (server restarted, connection lost): connect again with the same
 * parameters and LISTEN again if store_listen was called. 0 when the connection works. */
int store_reconnect(struct store *s, struct err *e);

/* ---- assets (store_asset.c; docs/dag-files.md, "Assets") ----------------------------
 *
 * Airflow 3's tables: `asset`, `asset_event`, `asset_dag_run_queue` (the consumers' pending
 * runs), `dag_schedule_asset_reference`, `task_outlet_asset_reference`, `dagrun_asset_event`.
 * A success records its outlets' events in store_ti_finish; store_sync_dagbag records the
 * assets and references of the DAG files. */

/* The DAGs that have queue rows (active and unpaused ones only), each with the URIs queued
 * for it: one query. Owned strings; free with store_asset_queues_free. */
struct store_asset_queue {
    char *dag_id;
    char **uris;
    size_t n_uris;
};
int store_asset_queues(struct store *s, struct store_asset_queue **out, size_t *n, struct err *e);
void store_asset_queues_free(struct store_asset_queue *q, size_t n);

/* Create dag's asset-triggered run if its condition holds, in one transaction: lock the DAG's
 * queue rows (FOR UPDATE), evaluate dag->asset_schedule with asset_cond_eval (an asset is
 * pending when it has a row), create the run (run type asset_triggered, run id
 * asset_triggered__<now to the microsecond>, logical date that second, queued), link the
 * events of its assets not yet consumed by an earlier run of the DAG (dagrun_asset_event) and
 * delete the rows it locked. A paused DAG keeps its rows and gets no run. Two schedulers
 * racing: the second waits for the lock and then finds no rows. 1 created (run_id, *id set),
 * 0 not ready, -1 error. */
int store_asset_trigger(struct store *s, const struct dag *dag, time_t now, char *run_id,
                        size_t size, long long *id, struct err *e);

/* Queue dag for n assets (outlets that just succeeded and that dag is scheduled on) without
 * the references a DAG folder sync records:
 * for runs driven in one process (`dags trigger --local`), where no scheduler may have
 * recorded the folder. The dag row is made if missing (as store_run_create does); a paused or
 * inactive DAG is not queued. */
int store_asset_queue_dag(struct store *s, const struct dag *dag, const struct dag_asset *assets,
                          size_t n, struct err *e);

/* Record an event of the asset uri from outside (Airflow's POST /assets/events): no source
 * task, extra_json (a JSON object, NULL: {}), and queue rows for its active, unpaused
 * consumers with a NOTIFY each. ERR_NOTFOUND when no asset has that URI. *event_id and
 * *queued (consumers queued) may be NULL. */
int store_asset_event_add(struct store *s, const char *uri, const char *extra_json,
                          long long *event_id, int *queued, struct err *e);

/* Every asset as a JSON array of objects (uri, name, group, extra, producers, consumers,
 * events, last_event), by URI: new text in *json. */
int store_assets_json(struct store *s, char **json, struct err *e);

/* One asset as a JSON object: its row, producers [{dag_id, task_id}], consumers [{dag_id,
 * is_paused, queued}] and its newest events (at most limit). ERR_NOTFOUND when no asset has
 * that URI. New text in *json. */
int store_asset_details_json(struct store *s, const char *uri, int limit, char **json,
                             struct err *e);

/* The events run_id of dag_id consumed, as templates' triggering_asset_events: a JSON object
 * {uri: [{uri, extra, timestamp, source_dag_id, source_task_id, source_run_id,
 * source_map_index}]}, oldest first; "{}" when none. New text in *json. */
int store_asset_triggering_json(struct store *s, const char *dag_id, const char *run_id,
                                char **json, struct err *e);

/* ---- maintenance and scripting queries (store_admin.c) ----------------------------- */

/* `db clean`: rows older than before in the tables of the mask (bit i: store_clean_table_name
 * (i)). dag_run never loses a queued or running run nor each DAG's newest non-manual run; its
 * task instances, history and XCom go with it. dry_run counts instead of deleting. */
#define STORE_CLEAN_MAX 12
struct store_clean {
    time_t before;
    unsigned tables;
    bool dry_run;
    long long counts[STORE_CLEAN_MAX]; /* out: rows per table (to delete, or deleted) */
    char **runs;                       /* out: dag_id, run_id pairs of the runs deleted */
    size_t n_runs;
};

/* Airflow's name of db clean's table i ("dag_run", "xcom"...); NULL past the last. */
const char *store_clean_table_name(int i);

/* Run db clean in one transaction; free c's output with store_clean_free. */
int store_db_clean(struct store *s, struct store_clean *c, struct err *e);
void store_clean_free(struct store_clean *c);

/* `db reset`: drop every table, function, sequence, view and schema the embedded migrations
 * create (one transaction), then migrate again; *applied = migrations applied. */
int store_db_reset(struct store *s, int *applied, struct err *e);

/* `dags list-runs` filters; NULL / 0 = no filter. start/end bound logical_date (inclusive). */
struct store_runs_filter {
    const char *dag_id, *state;
    time_t start, end;
    bool no_backfill;
    int limit;
};

/* Runs of f->dag_id matching f, newest logical_date first (an unknown state is ERR_USAGE). */
int store_runs_filter(struct store *s, const struct store_runs_filter *f, struct store_run **out,
                      size_t *n, struct err *e);

/* The run of dag_id whose logical date is logical (to the second): *run_id new text;
 * ERR_NOTFOUND when there is none. */
int store_run_at(struct store *s, const char *dag_id, time_t logical, char **run_id, struct err *e);

/* Delete a DAG's row and all its runs (task instances, tries, XCom with them); *removed =
 * rows removed. ERR_NOTFOUND when the DAG has neither. */
int store_dag_delete(struct store *s, const char *dag_id, long long *removed, struct err *e);

/* The recorded DAG ids matching the POSIX regex (PostgreSQL's ~), sorted; free with
 * store_strings_free. A bad regex is ERR_DB. */
int store_dag_ids_matching(struct store *s, const char *regex, char ***ids, size_t *n,
                           struct err *e);

/* ---- pools (store_pool.c) ---------------------------------------------------------- */

/* One row of slot_pool (Airflow's pools) and what it holds now. */
struct store_pool {
    char *pool;
    int slots;               /* -1: unlimited (Airflow's) */
    char *description;       /* NULL: none */
    bool include_deferred;   /* kept for Airflow's JSON; gust has no deferred state */
    long long running_slots; /* out: pool_slots of its running task instances */
    long long queued_slots;  /* out: pool_slots of its queued ones (they hold no slot yet) */
};

/* The pool named name (NULL: every pool), oldest first, into a new array (free it with
 * store_pools_free); *n = 0 when there is none. */
int store_pools_get(struct store *s, const char *name, struct store_pool **out, size_t *n,
                    struct err *e);
void store_pools_free(struct store_pool *p, size_t n);

/* Create each of n pools, or update the pool of its name (slots, description,
 * include_deferred), in one transaction: all or none. slots below -1 is ERR_USAGE. */
int store_pools_set(struct store *s, const struct store_pool *pools, size_t n, struct err *e);

/* Delete a pool: ERR_NOTFOUND when there is none, ERR_USAGE for default_pool. */
int store_pool_delete(struct store *s, const char *name, struct err *e);

/* ---- callbacks (store_notify.c; docs/operations.md, "Notifications") -----------------
 * One row of callback_request per notifier run for a state change. */

struct store_callback {
    const char *dag_id, *run_id;
    const char *task_id; /* NULL or "": the DAG run's own callback */
    int map_index;       /* -1: unmapped (and for a run) */
    int try_number;      /* the try whose change it is (a run: see runner_notify.c) */
    const char *event;   /* "on_failure_callback"... */
    int notifier;        /* its position in the event's list */
    const char *callback;
    const char *hostname;
};

/* Insert the row (state running) unless one for the same change is there: 1 inserted (*id
 * its id: run the notifier), 0 already there (another process runs it; *id 0), -1 error. */
int store_callback_begin(struct store *s, const struct store_callback *cb, long long *id,
                         struct err *e);

/* store_runs_timeout, and the ids of the runs it failed (*run_ids: free with
 * store_strings_free): this process's change, whose DAG callbacks it runs. */
int store_runs_timeout_ids(struct store *s, const char *dag_id, double timeout, time_t now,
                           char ***run_ids, size_t *n, struct err *e);

/* Record how callback id ended: success or failed, ended_at now, message (may be NULL). */
int store_callback_end(struct store *s, long long id, bool ok, const char *message, struct err *e);

#endif

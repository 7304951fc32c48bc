/* runner: the engine that drives DAG runs in this process: asks plan what changes, records
 * it in the store, claims queued task instances and starts their tries with the executor,
 * records how they ended. One single-threaded poll() loop; wake-ups are events (a child's
 * output or exit, a signal, a NOTIFY from the database) or the nearest deadline (a task
 * timeout, a retry coming due, a lease to renew, the caller's own tick), never a polling
 * sleep.
 *
 * Three modes share it: `gust dags trigger --local` (drive the runs added, like `airflow
 * dags test`), `gust scheduler` (plan every active run; the caller's tick creates and
 * promotes runs) and `gust worker` (no planning: claim queued task instances and run them).
 *
 * Durability: every running try holds a lease (renewed every lease/3 s through the job's
 * heartbeat); a try whose lease was taken away is stopped. When the database goes away, tries
 * keep running, their ends are kept in memory and recorded once it is back; no new work starts
 * meanwhile.
 *
 * The runner is the daemon's engine: what goes wrong in the loop and belongs to no try (the
 * database going away and coming back, a store call that failed) it logs itself with
 * common/log.h; what happens to runs and tries goes to on_event and to the tries' logs. */
#ifndef GUST_RUNNER_H
#define GUST_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "err.h"
#include "state/state.h"

struct store;
struct dag;
struct dagbag;
struct runner;
struct statsd;

/* What happened, for progress displays. task_id NULL: the run itself changed state. */
struct runner_event {
    const char *dag_id;
    const char *run_id;
    const char *task_id;
    enum ti_state ti_state;   /* when task_id is set */
    enum run_state run_state; /* when task_id is NULL */
    int try_number;
    const char *detail; /* "exit 1", "timed out after 30 s", ... or NULL */
};

enum runner_mode {
    RUNNER_LOCAL,     /* drive the runs added with runner_add, then return */
    RUNNER_SCHEDULER, /* plan every running run; run tries unless no_executor */
    RUNNER_WORKER,    /* claim and run queued task instances only */
};

struct runner_opts {
    enum runner_mode mode;
    bool no_executor;        /* scheduler: leave every try to workers */
    const char *queue;       /* worker: claim only these queues, comma-separated (NULL: any) */
    const char *logs_folder; /* default $GUST_LOGS_FOLDER, else ./logs */
    int parallelism;         /* tries running at once; default $GUST_PARALLELISM, else 32 */
    double kill_grace;       /* SIGTERM -> SIGKILL on timeout; default 10 s */
    double lease_seconds;    /* default $GUST_LEASE_SECONDS, else 30 */
    double shutdown_grace;   /* on SIGTERM, wait this long for tries; default 30 s */
    size_t xcom_max_bytes;   /* default $GUST_XCOM_MAX_BYTES, else 1 MiB */
    size_t log_max_bytes;    /* a try's log cap; default $GUST_TASK_LOG_MAX_BYTES, else 100 MiB */
    void (*on_event)(void *arg, const struct runner_event *ev);
    void *arg;
    /* Called once per loop turn while the database is up (scheduler: create, promote and
     * discover runs; fail expired leases). Sets *next to when it wants to run again (0: no
     * wish). A negative return stops the runner with e's error. */
    int (*tick)(void *arg, struct runner *r, time_t now, time_t *next, struct err *e);
    void *tick_arg;
    /* RUNNER_SCHEDULER/WORKER: return when there is nothing left to do (no active run, no
     * try running) instead of waiting for more: `gust scheduler --once`. */
    bool stop_when_idle;
    /* Airflow's StatsD metrics of what this process does (borrowed; NULL: none): see
     * docs/operations.md, "Metrics". */
    struct statsd *statsd;
};

/* New runner over a store and a loaded DAG bag (the bag is borrowed until runner_set_bag
 * replaces it; the store is borrowed). */
struct runner *runner_new(struct store *s, const struct dagbag *bag, const struct runner_opts *opts,
                          struct err *e);
void runner_free(struct runner *r);

/* Use a newly loaded DAG bag from now on. Runs in memory move to it as soon as none of their
 * tries is in flight; the old bag is freed by the runner once nothing uses it (the runner
 * takes ownership of bags given here, not of the one given to runner_new). */
void runner_set_bag(struct runner *r, struct dagbag *bag);
const struct dagbag *runner_bag(const struct runner *r);

/* Take charge of an existing run (queued or running). In RUNNER_LOCAL, runs created by its
 * TriggerDagRunOperator tasks are added automatically. Adding a run already in charge is a
 * no-op. */
int runner_add(struct runner *r, const char *dag_id, const char *run_id, struct err *e);

/* Run until done (RUNNER_LOCAL: every run in charge finished; otherwise SIGTERM/SIGINT, or
 * idle with stop_when_idle). On SIGTERM/SIGINT no new work starts; running tries get
 * shutdown_grace to finish (RUNNER_LOCAL: none), then are stopped and their ends recorded;
 * RUNNER_LOCAL also marks its unfinished runs failed and returns -1 ("interrupted"). */
int runner_run(struct runner *r, struct err *e);

/* The final state of a run in charge (RUN_RUNNING if it has not finished). */
enum run_state runner_run_state(const struct runner *r, const char *dag_id, const char *run_id);

/* Whether the database connection is currently up (the tick is only called then). */
bool runner_db_up(const struct runner *r);

/* Stop as if SIGTERM arrived (for ticks that decide the work is done). */
void runner_stop(struct runner *r);

/* The tick changed the store: the next turn plans and claims as after a notification. This
 * process's own notifications are not delivered back to it (store_drain_notifies), so this
 * says it. runner_poke when what changed is not known: every run's states are read again;
 * runner_poke_dag when only one DAG's rows changed (a try of it failed for an expired lease,
 * a run of it was created, promoted or timed out): only its runs' states are. */
void runner_poke(struct runner *r);
void runner_poke_dag(struct runner *r, const char *dag_id);

/* When the database connection was (re)established (0 while it is down): leases are judged
 * expired only after a full lease period of being connected, so tries whose holders were cut
 * off by the same outage get the time to renew. */
time_t runner_connected_since(const struct runner *r);

/* How this runner's tries are contained (executor_containment). */
const char *runner_containment(const struct runner *r);

/* dagrun_timeout: fail the running runs of dag started more than its dagrun_timeout ago
 * (store_runs_timeout) and run the DAG's on_failure callbacks of each with reason
 * "timed_out". *timed_out: how many. */
int runner_time_out_runs(struct runner *r, const struct dag *dag, time_t now, int *timed_out,
                         struct err *e);

/* The metrics client of the runner's options (NULL: metrics off). */
struct statsd *runner_statsd(const struct runner *r);

/* Whether pid is one of this runner's tries. */
bool runner_owns_pid(const struct runner *r, pid_t pid);

/* Whether SIGHUP arrived since the last call (then the tick reloads the DAG folder). */
bool runner_take_hup(struct runner *r);

/* Runs in memory that have not finished. */
size_t runner_active_runs(const struct runner *r);

/* Whether run dag_id/run_id is in memory. */
bool runner_has_run(const struct runner *r, const char *dag_id, const char *run_id);

/* The runs the store lists as active for unpaused DAGs (runs[], n): every run in memory not
 * among them is set aside (its DAG was paused, as Airflow examines no run of a paused DAG: no
 * task is scheduled, no sensor pokes, the tries already running finish and are recorded); one
 * listed again is planned again. */
struct store_run;
void runner_set_aside_unlisted(struct runner *r, const struct store_run *runs, size_t n);

/* A store call of the caller's tick failed: a lost connection takes the runner into
 * "database down" (it reconnects, and the tick runs again once it is back); any other error
 * is logged with what. */
void runner_db_error(struct runner *r, const struct err *e, const char *what);

/* Fail try try_number of a task instance this process does not run (its lease expired: its
 * holder died), fenced by that try number. Its next state and retry time are decided as for
 * any try's end (plan_try_end, with the task of the runner's DAG bag); why is noted in the
 * try's log when that is on this host. 1 recorded, 0 refused (it moved on), -1 error. */
int runner_fail_try(struct runner *r, const char *dag_id, const char *run_id, const char *task_id,
                    int map_index, int try_number, int max_tries, const char *why, struct err *e);

/* Kill what is left of try try_number of a task instance that another process (alive or
 * dead) ran on this host: SIGKILL to its process group pid (when > 1 and not us) and to its
 * cgroup, found by name (cgroups: see docs/operations.md). Before a retry may start. */
void runner_kill_old_try(struct runner *r, const char *dag_id, const char *run_id,
                         const char *task_id, int map_index, int try_number, pid_t pid);

/* The log and XCom result paths of a try:
 * <logs_folder>/dag_id=D/run_id=R/task_id=T/attempt=N.log and attempt=N.return.json, each id
 * as it is; an instance of a mapped task (map_index >= 0) has its own folder below the task's,
 * map_index=M (Airflow's layout). An id that is not one folder name (empty, a '/', too long) or a
 * path longer than PATH_MAX is an error (e), never cut or rewritten, so two tries never share a
 * file. Computes the names only: creates and removes nothing. */
int runner_try_paths(const char *logs_folder, const char *dag_id, const char *run_id,
                     const char *task_id, int map_index, int try_number, char **log_path,
                     char **xcom_path, struct err *e);

/* The files of a SQL operator's try beside its result file xcom_path ("X.return.json", or any
 * name X): the spec sql_task runs (X.sql.json) and, for a branch, where sql_task writes the
 * task ids it follows (X.branch.json, $GUST_BRANCH_FILE). New strings; -1: out of memory. */
int runner_sql_paths(const char *xcom_path, char **spec_path, char **branch_path);

/* A try's command line and environment ("KEY=value"), both NULL-terminated and owned. */
struct runner_cmd {
    char **argv;
    char **envp;
    bool direct; /* a bash_command run without bash: start it with exec_spec.shell_errors */
};

/* The command try 1 of dag->tasks[task] runs, outside any run (`gust tasks test`): the run
 * context is run_id, logical_date (also both ends of the data interval) and conf_json; the
 * templates are rendered (xcom_pull and var.value read s; s NULL: they find nothing) and
 * the task's result file is xcom_path. A mapped task's instance map_index (>= 0) is bound
 * to its arguments (an upstream's XCom read from s); -1 for an unmapped task. ERR_USAGE: the
 * task cannot run as written (a mapped task without an instance, too). */
int runner_task_command(struct store *s, const struct dag *dag, size_t task, int map_index,
                        const char *run_id, time_t logical_date, const char *conf_json,
                        const char *xcom_path, struct runner_cmd *cmd, struct err *e);

/* Free a command's argv and environment and empty it. */
void runner_cmd_clear(struct runner_cmd *cmd);

#endif

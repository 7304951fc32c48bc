/* runner_int: what the runner*.c files share (runs and tries in memory, the runner's state).
 * Nothing outside scheduler/runner/ includes it: the rest of gust uses runner.h. */
#ifndef GUST_RUNNER_INT_H
#define GUST_RUNNER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <limits.h>
#include <signal.h>
#include <sys/types.h>

#include "clock.h"
#include "err.h"
#include "iso8601.h"
#include "plan/plan.h"
#include "runner/runner.h"
#include "dagfile/dagfile.h"
#include "store/store.h"

struct dag;
struct dag_sensor;
struct dagbag;
struct store;
struct executor;
struct exec_result;
struct runner;

/* A DAG bag and how many runs in memory still use it (owned: freed at zero). */
struct bagref {
    struct dagbag *bag;
    int refs;
    bool owned;
};

/* A run this process drives. */
struct active_run {
    char *dag_id, *run_id;
    const struct dag *dag; /* borrowed from the bag */
    enum run_state state;
    time_t logical_date, di_start, di_end;
    time_t start_date;    /* when it became running (0: unknown): dagrun.duration.<state> */
    char logical_str[40]; /* logical date as Python prints it, for the retry jitter */
    char *conf_json;      /* the run's conf */
    char *params_json;    /* DAG params with the conf over them */
    bool dirty;           /* something changed: plan again */
    bool aside;           /* its DAG is paused: not planned (runner_set_aside_unlisted) */
    bool finished;
    time_t wakeup;         /* a retry comes due then (0: none) */
    time_t refill_held;    /* since when its steps hold back a small refill at max_active_tasks
                            * (runner_task.c, fill_limits; 0: not holding) */
    int others_active;     /* the DAG's other runs' queued and running instances, last read */
    int *max_tries;        /* per task, from the store: retries, or more after a clear */
    bool per_task_limit;   /* a task of its DAG has max_active_tis_per_dag */
    struct bagref *bagref; /* the bag dag points into */
    int inflight;          /* tries of this run started and not yet recorded */
    bool synced;           /* task instances checked against the DAG (integrity) */
    /* The run's planning state (plan.h): the task instances' states as last read, plus this
     * process's own changes since, which spares a read of every row of the run at each step
     * and makes a step cost what changed (see runner_task.c). NULL: read them. known_at:
     * CLOCK_MONOTONIC time of the read. */
    struct plan_state *known;
    double known_at;

    char *asset_events_json; /* triggering_asset_events, read once (NULL: not yet) */
    /* The upstream XComs its mapped tasks map over, as last read (runner_map.c) */
    struct map_source *map_sources;
};

/* A callback's additions to the template context (runner_notify.c; template.h): NULL
 * strings render None. */
struct notify_ctx {
    const char *state;     /* ti.state: the state the change led to */
    const char *log_url;   /* ti.log_url: the try's log file */
    const char *exception; /* exception: the failure's detail line */
    const char *reason;    /* reason: a run's callback ("success", "task_failure"...) */
};

/* One try in flight: an executor job, or a trigger waiting for its run. */
struct ti_try {
    struct active_run *run;
    size_t task;            /* index in run->dag->tasks */
    int map_index;          /* Airflow's: -1 unmapped, else the mapped task's instance */
    struct dag_task *bound; /* an instance of a mapped task: its task with its arguments
                             * (dag_task_bind; owned); NULL: run->dag->tasks[task] */
    int try_number;
    int max_tries;     /* tries after the first one this task instance may have */
    double first_poke; /* a sensor: epoch s of its first poke, timeouts count from it (0: none,
                        * this is the first) */
    int poke_count;    /* a sensor: its pokes before this one */
    char *log_path;
    char *xcom_path;                /* borrowed when the try is runner_task_command's */
    pid_t pid;                      /* executor tries */
    bool lost;                      /* its lease was taken away: its end is not recorded */
    struct active_run *waiting_for; /* TriggerDagRunOperator, RUNNER_LOCAL */
    char *wait_dag, *wait_run;      /* TriggerDagRunOperator waiting on this run */
    bool is_wait;
    const struct notify_ctx *notify; /* set while a callback's arguments render with it */
    struct ti_try *next;             /* the runner's list of tries in flight */
};

/* How a try ended: what the store records (state and next_retry_at are decided when it is
 * recorded, by plan_try_end) and a line for the log. */
struct try_end {
    enum try_outcome outcome;
    struct store_try_end rec;
    char detail[300];
    char *xcom_json; /* owned: the XCom recorded with the end (NULL: none) */
    char *skip_json; /* owned: a branch's direct downstream task ids to skip with the end */
};

/* A try's end the database could not take yet (it was down): recorded once it is back. */
struct pending_end {
    struct ti_try *t;
    struct try_end end;
    struct pending_end *next;
};

struct runner {
    struct store *store;
    struct bagref *cur;
    struct runner_opts opts;
    struct executor *x;
    struct active_run **runs;
    size_t n_runs;
    struct ti_try *inflight; /* every try started and not yet recorded */
    size_t n_waits;          /* of which TriggerDagRunOperator waits */
    struct pending_end *pending;
    int sigfd;
    sigset_t old_mask;
    bool stopping, terminated, interrupted;
    double stop_at; /* monotonic: stop the tries still running then */
    bool db_down;
    time_t reconnect_at, connected_since, next_heartbeat, tick_next, next_wait_check;
    double reconnect_delay;
    bool listening, notified, hup, poked;
    /* notified: another session wrote (or the tick did). stale: what it changed is not known
     * by DAG or row, so every run's planning state is forgotten; a try another session ended
     * is read back alone instead (runner.c, know_ended), a change named by DAG forgets that
     * DAG's runs' states (runner_forget_dag). */
    bool stale;
    /* A worker claims only when something may have changed (runner.c, claim_all): one of
     * its tries ended, another session notified, its last claim filled every slot it asked
     * for, or claim_at (a fallback every few seconds) has come. */
    bool claim_due;
    time_t claim_at;
    long long job_id;
    struct callback_job *callbacks; /* notifiers running (runner_notify.c) */
    size_t n_callbacks;
    double callback_timeout; /* GUST_CALLBACK_TIMEOUT */
    char hostname[256];
    char bindir[PATH_MAX];
    double next_gauges; /* monotonic: the executor's gauges are due (runner_metrics.c) */
};

/* runner.c */
void runner_emit(struct runner *r, const struct active_run *run, const char *task_id,
                 enum ti_state ts, int try_number, const char *detail);
void runner_emit_ti(struct runner *r, const struct active_run *run, const char *task_id,
                    int map_index, enum ti_state ts, int try_number, const char *detail);
struct active_run *runner_find_run(const struct runner *r, const char *dag_id, const char *run_id);
/* A try of the DAG ended: plan each of its runs again (a slot of max_active_tasks or
 * max_active_tis_per_dag may have freed for another run). */
void runner_dirty_dag(struct runner *r, const char *dag_id);
/* Another process changed rows of the DAG's runs: read their states again and plan them. */
void runner_forget_dag(struct runner *r, const char *dag_id);

/* runner_try.c */
void runner_start_claimed(struct runner *r, struct active_run *run, size_t idx,
                          const struct store_claim *c);
void runner_finish_exec(struct runner *r, struct exec_result *res);
void runner_check_waits(struct runner *r, time_t now);
void runner_flush_pending(struct runner *r);
void runner_abandon_waits(struct runner *r);
void ti_try_free(struct ti_try *t);
/* Append one "[gust] ..." line to a try's log (path NULL: nowhere). */
void runner_log_line(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* runner_poke.c: when a sensor pokes next (now + its interval, Airflow's backoff with
 * sensor_poke_interval, never past its timeout; first_poke 0: this poke is the first), and
 * the poke the scheduler makes itself for a sensor that runs no process
 * (SENSOR_IN_SCHEDULER), in place of queueing it: c->to becomes the state it left the
 * instance in, *wake (when rescheduled) the next poke. 1 recorded, 0 another process changed
 * the instance first, -1 a database error. */
double runner_next_poke(const struct dag_task *task, const char *dag_id, double first_poke,
                        int poke_count, double now);
int runner_poke_here(struct runner *r, struct store *st, struct active_run *run,
                     struct plan_change *c, time_t *wake, struct err *e);

/* runner_asset.c: a try of task that has outlets succeeded (its asset events are recorded):
 * wake the scheduler's tick, or in RUNNER_LOCAL create and add the consumers' runs. */
void runner_assets_updated(struct runner *r, const struct dag_task *task);

/* The known states of a run (or of every run): forget them, the next step reads the store;
 * set one task instance's state after this process changed it. */
void runner_forget_states(struct runner *r);
void run_forget_states(struct active_run *run);
void run_know_state(struct active_run *run, size_t task, int map_index, enum ti_state state,
                    double next_retry_at);

/* runner_notify.c: the callbacks of a state change this process won (docs/operations.md,
 * "Notifications"). A try's event (st: the state it led to, detail: the failure's line or
 * NULL); a run's end (reason: "success", "task_failure", "timed_out"). runner_notify_done:
 * whether an executor result is a callback's (then its end is recorded), not a try's. */
struct notify_ctx;
double runner_callback_timeout(void);
void runner_notify_ti(struct runner *r, struct ti_try *t, enum notify_event ev, enum ti_state st,
                      const char *detail);
void runner_notify_run(struct runner *r, struct active_run *run, enum notify_event ev,
                       const char *reason);
bool runner_notify_done(struct runner *r, const struct exec_result *res);
void runner_notify_free(struct runner *r);

/* runner_metrics.c: Airflow's StatsD metrics (no-ops when metrics are off). A try claimed
 * (ti.start); a try's end this process recorded, st the state it led to, duration in s (< 0:
 * none), task NULL when the DAG bag does not have it (ti.finish, ti_successes, ti_failures,
 * operator_*, dag.<dag>.<task>.duration); a run this process finished at end
 * (dagrun.duration.<state>); the executor's gauges, at most every few seconds. */
void runner_metric_ti_start(struct runner *r, const struct active_run *run,
                            const struct dag_task *task);
void runner_metric_ti_end(struct runner *r, const char *dag_id, const char *task_id,
                          const struct dag_task *task, enum ti_state st, double duration);
void runner_metric_run_end(struct runner *r, const struct active_run *run, enum run_state st,
                           time_t end);
void runner_metric_gauges(struct runner *r);
/* Slots free for tries: parallelism minus the tries running (callbacks take none). */
int runner_free_slots(const struct runner *r);

/* The task a try runs: an instance's bound task, else the DAG's. */
const struct dag_task *ti_task(const struct ti_try *t);

static inline double
runner_epoch(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

/* A run in memory only (gust tasks test); active_run_load reads one from the store. */
struct active_run *active_run_new(const struct dag *dag, const char *run_id, time_t logical_date,
                                  long logical_usec, time_t di_start, time_t di_end,
                                  const char *conf_json, struct err *e);
struct active_run *active_run_load(struct store *s, const struct dag *dag, const char *run_id,
                                   struct err *e);
void active_run_free(struct active_run *run);

/* Re-read the run's task instances, plan, record the changes. *queued (malloc'd) lists the
 * task indices that this step moved to queued: the caller starts them. */
typedef bool (*runner_past_fn)(struct runner *r, struct active_run *run, size_t idx);
int runner_plan_step(struct store *s, struct active_run *run, runner_past_fn past, struct runner *r,
                     struct plan_result *res, size_t **queued, size_t *n_queued, struct err *e);

/* Make the folder of a try's files and remove a result file an earlier process left there
 * (it must not pass for this try's): only the runner starting the try does this. */
int runner_try_prepare(const char *log_path, const char *xcom_path, struct err *e);

/* Render the task's templates and build its argv and environment. ERR_USAGE: a permanent
 * problem (the task cannot run as written). */
int runner_build_command(struct store *s, const struct ti_try *t, char **parent_env,
                         const char *bindir, struct runner_cmd *cmd, struct err *e);

/* The try's XCom return_value as JSON text (*json, malloc'd): Bash's last stdout line as a
 * string (exact: last_line NULL with last_line_len > 0 means the executor could not keep it,
 * and the push fails), a KubernetesPodOperator's return.json parsed (read now: the file may
 * be gone by the time the end is recorded). Touches no database: the value is stored with the
 * try's end (store_ti_finish), after an outage too. */
int runner_try_xcom(const struct ti_try *t, const char *last_line, size_t last_line_len,
                    size_t max_bytes, char **json, struct err *e);

/* TriggerDagRunOperator: render, create the run of the target DAG, push trigger_run_id. */
int runner_trigger_run(struct store *s, const struct dagbag *bag, const struct ti_try *t,
                       char *dag_out, size_t dag_size, char *run_out, size_t run_size,
                       struct err *e);

/* Render one template string of a try (the rendering context of its run). */
int runner_render(struct store *s, const struct ti_try *t, const char *src, char **out,
                  struct err *e);

/* Every string inside a JSON value rendered in place, as runner_render (runner_cmd.c). */
struct json_t;
int runner_render_json(struct store *s, const struct ti_try *t, struct json_t *v, struct err *e);

/* runner_map.c: dynamic task mapping (see there). Expand mapped task `task` of run: 1 done,
 * 0 another process did it first, -1 a database error. Bind t's arguments (an instance of a
 * mapped task) into t->bound: 0 (also for a try that is not an instance), -1 with e
 * (ERR_USAGE: the instance cannot run: its values do not fit the task). */
int runner_expand(struct store *s, struct active_run *run, size_t task, struct err *e);
int runner_bind(struct store *s, struct ti_try *t, struct err *e);
/* Free a run's map_sources (active_run_free). */
void runner_map_sources_free(struct active_run *run);

/* Write a try's spec file (JSON, 0600, made anew) at path; what names it in errors ("SQL",
 * "sensor", "callback"). */
int runner_write_spec(const struct json_t *spec, const char *path, const char *what, struct err *e);
/* runner_sql.c: a SQL operator's try (runner_sql_paths is in runner.h).
 * Render the task's templated fields and write the spec sql_task runs (mode 0600).
 * ERR_USAGE: the task cannot run as written (a template error, a template file gone). */
int runner_sql_write_spec(struct store *s, const struct ti_try *t, const char *spec_path,
                          struct err *e);
/* After a branch task's try exited 0: the ids it chose to follow (branch_path) -> *skip_json,
 * the JSON array of its direct downstream task ids that are not followed. ERR_USAGE: the
 * file is missing or malformed, or names a task that is not directly downstream. */
int runner_sql_branch_skips(const struct ti_try *t, const char *branch_path, char **skip_json,
                            struct err *e);

/* runner_sensor.c: a sensor that runs as a process (FileSensor, HttpSensor, BashSensor):
 * render its templated fields, write the spec sensor_task runs (mode 0600, beside the try's
 * XCom file) and set cmd->argv to `sensor_task --spec FILE`. ERR_USAGE: the task cannot run
 * as written (a template error, or a sensor the scheduler evaluates). */
int runner_sensor_command(struct store *s, const struct ti_try *t, struct runner_cmd *cmd,
                          struct err *e);
/* The common sensor fields of a try's spec (mode, poke_interval, timeout, soft_fail,
 * exponential_backoff, max_wait, first_poke, poke_count) into o; nothing for a task that is
 * not a sensor. -1: out of memory. */
int runner_sensor_fields(const struct ti_try *t, struct json_t *o);

/* The folder of the running binary (task executables live beside gust). */
void runner_bindir(char out[4096]);

#endif

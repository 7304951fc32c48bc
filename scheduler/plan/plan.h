/* plan: the pure state machine of a DAG run (docs/architecture.md, "Semantics"). Given the task
 * instances of one run, it decides which change state next: trigger rules with Airflow's automatic
 * skipped / upstream_failed propagation, retries coming due, concurrency limits, and the
 * run's outcome (leaf rule, deadlock rule). No I/O, no clock: `now` is an input. */
#ifndef GUST_PLAN_H
#define GUST_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"
#include "state/state.h"

struct dag;
struct dag_task;

/* One task instance as the planner sees it. plan_run takes one per task (index = task index in
 * dag->tasks, map_index -1); plan_run_units takes a mapped task's instances one by one. */
struct plan_ti {
    enum ti_state state;
    time_t next_retry_at; /* TI_UP_FOR_RETRY: due at or after this time; TI_UP_FOR_RESCHEDULE:
                           * the sensor's next poke (scheduled again then) */
    bool wait_past;       /* depends_on_past and the previous run's try did not succeed: the
                           * task waits even when its trigger rule is met (and, as in Airflow,
                           * such a run is never declared deadlocked) */
    size_t task;          /* plan_run_units: index in dag->tasks */
    int map_index;        /* plan_run_units: -1 unmapped, or a mapped task not expanded yet */
};

struct plan_limits {
    int max_active_tasks; /* of this DAG, over all its runs (<= 0: unlimited) */
    int active_in_dag;    /* queued + running task instances of this DAG now, all runs: the
                           * runner counts them only up to max_active_tasks (all it needs) */
    int free_slots;       /* executor slots free now (parallelism - running); < 0: unlimited */
    /* queued + running instances of each task (index in dag->tasks) over every run of the
     * DAG, for max_active_tis_per_dag; NULL: this run's own only */
    const int *active_per_task;
    /* When set: called once per step before the first scheduled instance is looked at, to
     * fill active_in_dag and active_per_task (the caller's database counts), so that a step
     * with nothing to queue costs no count. An error fails the step. */
    int (*fill)(void *arg, struct plan_limits *lim, struct err *e);
    void *fill_arg;
};

/* One decided transition. expand: a mapped task (dag_task.map) whose trigger rule is met and
 * that has instances in state none: the caller expands it (computes its length, revises its
 * instances and schedules them, store_ti_expand) instead of a plain state change; unit is its
 * first instance in state none, to is TI_SCHEDULED. */
struct plan_change {
    size_t task;
    enum ti_state from, to;
    size_t unit;   /* index in the units given (plan_run: = task) */
    int map_index; /* of that unit */
    bool expand;
};

struct plan_result {
    struct plan_change
        *changes; /* in the order to apply them; owned, free with plan_result_clear */
    size_t n_changes;
    enum run_state run_state; /* the run's state after the changes (RUN_RUNNING if unfinished) */
    time_t next_wakeup;       /* earliest future time something becomes due (0: none) */
};

/* Decide the next transitions of one run. Applies Airflow's rules in passes until nothing
 * changes (a skip can cascade through a chain in one call): none tasks whose trigger rule
 * is met become scheduled, those whose rule can never be met become skipped or
 * upstream_failed; up_for_retry tasks that are due (next_retry_at <= now) and whose rule is
 * met become scheduled (like Airflow, an up_for_retry task can also be flagged skipped or
 * upstream_failed; a scheduled one is left alone); then scheduled tasks become queued while
 * limits allow, in task order. lim NULL means no limits. dag must be indexed (dag_index:
 * the loader does it), so the rules and upstream indices are read, never parsed or looked up. Each
 * task appears at most once in out->changes, from its state in tis[] to its final state (none ->
 * queued when it is both scheduled and given a slot). tis[] is not modified. */
int plan_run(const struct dag *dag, const struct plan_ti *tis, const struct plan_limits *lim,
             time_t now, struct plan_result *out, struct err *e);

/* plan_run over task instances one by one (dynamic task mapping): units[] sorted by task, then
 * map_index, every task of the DAG present at least once. Trigger rules count every instance
 * of an upstream task (Airflow counts task instances, not tasks), except the removed
 * instances of a mapped upstream: left over from a longer expansion, they are not part of the
 * run any more. A mapped task's trigger rule decides for each of its instances; when it is met
 * and some are in state none, the task gets one expand change (see struct plan_change) and its
 * instances are not queued in this call. Each unit appears at most once in out->changes. */
int plan_run_units(const struct dag *dag, const struct plan_ti *units, size_t n_units,
                   const struct plan_limits *lim, time_t now, struct plan_result *out,
                   struct err *e);
void plan_result_clear(struct plan_result *r);

/* ---- a run's planning state, kept between steps ----
 * plan_run_units reads every instance of the run; a scheduler that plans after every try's
 * end would make a run of n tasks cost n^2. A plan_state is built once from the run's units,
 * then told of each change made elsewhere (plan_state_set: a try's end, a claim) and asked
 * for the next transitions (plan_state_step), which cost what changed since the last step,
 * not the run's size. Its decisions are the same as plan_run_units' on the same states (the
 * latter is a state built for one step). */
struct plan_state;

/* Whether a task's instances in state none wait on their past (depends_on_past): asked only
 * of a task whose trigger rule is met, at most once per task and step, and of every task
 * with an instance in state none before a run is declared deadlocked. */
typedef bool (*plan_past_fn)(void *arg, size_t task);

/* A state of the given units (as plan_run_units takes them; copied). */
int plan_state_new(const struct dag *dag, const struct plan_ti *units, size_t n_units,
                   struct plan_state **out, struct err *e);
void plan_state_free(struct plan_state *p);

/* The unit (task, map_index) is now in state (next_retry_at: as plan_ti's). -1 when the state
 * has no such unit: build a new state from the store's rows. */
int plan_state_set(struct plan_state *p, size_t task, int map_index, enum ti_state state,
                   time_t next_retry_at);

/* The next transitions, as plan_run_units gives them, applied to the state: the caller makes
 * them (store_tis_apply) and, if any is not made as decided (lost to another process, an
 * expansion, a sensor poked in place), drops the state and builds a new one from the store.
 * past may be NULL (only plan_ti.wait_past then); lim->fill, when set, is called as said
 * above. */
int plan_state_step(struct plan_state *p, struct plan_limits *lim, time_t now, plan_past_fn past,
                    void *arg, struct plan_result *out, struct err *e);

/* The units as they stand (sorted as given); their count. */
size_t plan_state_units(const struct plan_state *p, const struct plan_ti **units);

/* How many units are queued or running now (the run's share of plan_limits.active_in_dag;
 * within a step's fill, before the step queues any). */
long plan_state_active(const struct plan_state *p);
/* How many of them are queued. */
long plan_state_queued(const struct plan_state *p);

/* How a finished try ends, from its exit. */
enum try_outcome {
    TRY_SUCCESS,    /* exit 0 */
    TRY_SKIPPED,    /* exit code in skip_on_exit_code (99 by default) */
    TRY_FAILED,     /* anything else: retried while tries remain */
    TRY_PERMANENT,  /* exit 100: failed, never retried */
    TRY_RESCHEDULE, /* a sensor in reschedule mode, exit 98: its condition is not met yet */
};

/* The state a finished try leads to: success, skipped, up_for_retry (tries left) or failed.
 * try_number counts tries started so far, including this one (Airflow 2.10+ counting, first
 * try is 1); retries is the task's retries setting. */
enum ti_state plan_after_try(enum try_outcome outcome, int try_number, int retries);

/* Airflow's retry delay in seconds for the try that just failed (try_number as above):
 * retry_delay, or with exponential backoff ceil(delay * 2^(try_number-1)) plus a
 * deterministic sha1 jitter of dag_id#task_id#logical_date#try_number, capped by 24 hours
 * and by max_retry_delay (<= 0: none, as Airflow reads a zero timedelta as unset). As in
 * Airflow, the caps apply to the backoff only: without it the result is retry_delay.
 * logical_date is the text Airflow hashes (str() of the date); NULL hashes as "None". */
double plan_retry_delay(double retry_delay, bool exponential, double max_retry_delay,
                        const char *dag_id, const char *task_id, const char *logical_date,
                        int try_number);

/* Python's str() of a UTC logical date, the text Airflow hashes for the retry jitter:
 * "2026-01-01 00:00:00+00:00", or "2026-01-01 00:00:00.123456+00:00" when usec is not 0. */
void plan_logical_str(time_t logical_date, long usec, char out[40]);

/* The one rule for a try's end: the state it leads to (plan_after_try with max_tries, which a
 * clear may have raised above the task's retries) and, for up_for_retry, when the next try is
 * due: the exact end plus the task's retry delay (Airflow's next_retry_datetime; task NULL,
 * a task gone from the DAG: no delay). *next_retry_at is 0 for any other state. */
enum ti_state plan_try_end(const struct dag_task *task, const char *dag_id, const char *logical_str,
                           enum try_outcome outcome, int try_number, int max_tries, double end,
                           double *next_retry_at);

#endif

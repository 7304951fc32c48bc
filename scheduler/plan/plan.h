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

struct dag;

/* Task instance states, with Airflow's strings (ti_state_name). TI_NONE is SQL NULL. */
enum ti_state {
    TI_NONE,            /* created, not yet considered */
    TI_SCHEDULED,       /* dependencies met, waiting for a slot */
    TI_QUEUED,          /* given a slot, waiting for an executor to start it */
    TI_RUNNING,         /* a try is running */
    TI_SUCCESS,         /* finished: exit 0 */
    TI_FAILED,          /* finished: failed with no try left (or exit 100) */
    TI_UP_FOR_RETRY,    /* failed, another try comes at next_retry_at */
    TI_UPSTREAM_FAILED, /* never ran: its trigger rule can no longer be met because of failures */
    TI_SKIPPED,         /* skipped by itself (exit 99) or by propagation */
    TI_REMOVED,         /* the task left the DAG after the run was created */
};
#define TI_N_STATES 10

enum run_state {
    RUN_QUEUED,  /* created, waiting for max_active_runs */
    RUN_RUNNING, /* tasks being scheduled */
    RUN_SUCCESS, /* every leaf succeeded or was skipped */
    RUN_FAILED,  /* a leaf failed, or no task can make progress (deadlock) */
};

/* Airflow's 13 trigger rules. */
enum trigger_rule {
    TR_ALL_SUCCESS,
    TR_ALL_FAILED,
    TR_ALL_DONE,
    TR_ALL_DONE_MIN_ONE_SUCCESS,
    TR_ALL_SKIPPED,
    TR_ONE_SUCCESS,
    TR_ONE_FAILED,
    TR_ONE_DONE,
    TR_NONE_FAILED,
    TR_NONE_FAILED_MIN_ONE_SUCCESS,
    TR_NONE_SKIPPED,
    TR_ALWAYS,
    TR_ALL_DONE_SETUP_SUCCESS, /* Airflow's setup/teardown rule; treated as all_done here */
};

const char *ti_state_name(enum ti_state s);            /* "none", "scheduled", ... */
int ti_state_parse(const char *s, enum ti_state *out); /* NULL or "none" -> TI_NONE */
const char *run_state_name(enum run_state s);
int run_state_parse(const char *s, enum run_state *out);
const char *trigger_rule_name(enum trigger_rule r);
int trigger_rule_parse(const char *s, enum trigger_rule *out); /* also none_failed_or_skipped */
bool ti_state_finished(enum ti_state s); /* success failed upstream_failed skipped removed */

/* The shape of a DAG the planner needs: task i's upstream tasks are
 * up_idx[up_off[i] .. up_off[i+1]-1]. Built once per DAG with plan_graph_new. */
struct plan_graph {
    size_t n;
    enum trigger_rule *rule;
    size_t *up_off; /* n + 1 entries */
    size_t *up_idx;
    bool *is_leaf; /* no downstream task */
};

/* Build the graph of dag (tasks in dag->tasks order). NULL with e set on bad input. */
struct plan_graph *plan_graph_new(const struct dag *dag, struct err *e);
void plan_graph_free(struct plan_graph *g);

/* One task instance as the planner sees it (index = task index in the graph). */
struct plan_ti {
    enum ti_state state;
    time_t next_retry_at; /* TI_UP_FOR_RETRY: due at or after this time */
    bool wait_past;       /* depends_on_past and the previous run's try did not succeed: the
                           * task waits even when its trigger rule is met (and, as in Airflow,
                           * such a run is never declared deadlocked) */
};

struct plan_limits {
    int max_active_tasks; /* of this DAG, over all its runs (<= 0: unlimited) */
    int active_in_dag;    /* queued + running task instances of this DAG now, all runs */
    int free_slots;       /* executor slots free now (parallelism - running); < 0: unlimited */
};

struct plan_change {
    size_t task;
    enum ti_state from, to;
};

struct plan_result {
    struct plan_change *changes; /* in the order to apply them; owned, free with plan_result_free */
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
 * limits allow, in task order. lim NULL means no limits. Each task appears at most once in
 * out->changes, from its state in tis[] to its final state (none -> queued when it is both
 * scheduled and given a slot). tis[] is not modified. */
int plan_run(const struct plan_graph *g, const struct plan_ti *tis, const struct plan_limits *lim,
             time_t now, struct plan_result *out, struct err *e);
void plan_result_free(struct plan_result *r);

/* How a finished try ends, from its exit. */
enum try_outcome {
    TRY_SUCCESS,   /* exit 0 */
    TRY_SKIPPED,   /* exit code in skip_on_exit_code (99 by default) */
    TRY_FAILED,    /* anything else: retried while tries remain */
    TRY_PERMANENT, /* exit 100: failed, never retried */
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

#endif

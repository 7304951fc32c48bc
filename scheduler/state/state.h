/* state: the states of task instances and DAG runs and the trigger rules, with Airflow's
 * names. The vocabulary the DAG loader, the planner, the store, the runner and the CLI share;
 * no logic beyond naming and parsing lives here. */
#ifndef GUST_STATE_H
#define GUST_STATE_H

#include <stdbool.h>

/* Task instance states, with Airflow's strings (ti_state_name). TI_NONE is SQL NULL. */
enum ti_state {
    TI_NONE,              /* created, not yet considered */
    TI_SCHEDULED,         /* dependencies met, waiting for a slot */
    TI_QUEUED,            /* given a slot, waiting for an executor to start it */
    TI_RUNNING,           /* a try is running */
    TI_SUCCESS,           /* finished: exit 0 */
    TI_FAILED,            /* finished: failed with no try left (or exit 100) */
    TI_UP_FOR_RETRY,      /* failed, another try comes at next_retry_at */
    TI_UPSTREAM_FAILED,   /* never ran: its trigger rule can no longer be met because of failures */
    TI_SKIPPED,           /* skipped by itself (exit 99) or by propagation */
    TI_REMOVED,           /* the task left the DAG after the run was created */
    TI_UP_FOR_RESCHEDULE, /* a sensor in reschedule mode between pokes: its slot is free, its
                           * next poke is due at reschedule_date (Airflow's state) */
};
#define TI_N_STATES 11

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

#endif

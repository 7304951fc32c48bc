/* state: names and parsing of task instance states, run states and trigger rules (see
 * state.h). Invariant: the name tables are indexed by the enums, in declaration order. */
#include "state/state.h"

#include <stddef.h>
#include <string.h>

static const char *const ti_names[TI_N_STATES] = {
    "none",         "scheduled",       "queued",  "running", "success",           "failed",
    "up_for_retry", "upstream_failed", "skipped", "removed", "up_for_reschedule",
};

static const char *const run_names[] = {"queued", "running", "success", "failed"};
#define N_RUN_STATES (sizeof(run_names) / sizeof(run_names[0]))

static const char *const rule_names[] = {
    "all_success",
    "all_failed",
    "all_done",
    "all_done_min_one_success",
    "all_skipped",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "always",
    "all_done_setup_success",
};
#define N_RULES (sizeof(rule_names) / sizeof(rule_names[0]))

static int
find_name(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* Airflow's string for a task instance state ("none" for TI_NONE). */
const char *
ti_state_name(enum ti_state s)
{
    return (unsigned)s < TI_N_STATES ? ti_names[s] : "invalid";
}

/* Parse a task instance state; NULL (SQL NULL) and "none" are TI_NONE. */
int
ti_state_parse(const char *s, enum ti_state *out)
{
    int i = s == NULL ? TI_NONE : find_name(ti_names, TI_N_STATES, s);

    if (i < 0)
        return -1;
    *out = (enum ti_state)i;
    return 0;
}

/* Airflow's string for a DAG run state. */
const char *
run_state_name(enum run_state s)
{
    return (unsigned)s < N_RUN_STATES ? run_names[s] : "invalid";
}

/* Parse a DAG run state. */
int
run_state_parse(const char *s, enum run_state *out)
{
    int i = s == NULL ? -1 : find_name(run_names, N_RUN_STATES, s);

    if (i < 0)
        return -1;
    *out = (enum run_state)i;
    return 0;
}

/* Airflow's string for a trigger rule. */
const char *
trigger_rule_name(enum trigger_rule r)
{
    return (unsigned)r < N_RULES ? rule_names[r] : "invalid";
}

/* Parse a trigger rule; none_failed_or_skipped is Airflow 2's old name of
 * none_failed_min_one_success. */
int
trigger_rule_parse(const char *s, enum trigger_rule *out)
{
    int i;

    if (s == NULL)
        return -1;
    if (strcmp(s, "none_failed_or_skipped") == 0)
        s = "none_failed_min_one_success";
    i = find_name(rule_names, N_RULES, s);
    if (i < 0)
        return -1;
    *out = (enum trigger_rule)i;
    return 0;
}

/* Airflow's State.finished. */
bool
ti_state_finished(enum ti_state s)
{
    return s == TI_SUCCESS || s == TI_FAILED || s == TI_UPSTREAM_FAILED || s == TI_SKIPPED ||
           s == TI_REMOVED;
}

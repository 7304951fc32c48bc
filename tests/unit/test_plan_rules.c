/* Unit tests for plan's trigger rules: every one of the 13 rules against every pair of
 * upstream states (10 x 10), checking what plan_run decides for the downstream task: it
 * stays none, becomes scheduled, skipped or upstream_failed. The expected table is written
 * here independently, pair by pair, from Airflow's TriggerRuleDep
 * (airflow/ti_deps/deps/trigger_rule_dep.py, _evaluate_direct_relatives: the
 * flag_upstream_failed branch first, then the passing condition), not with plan.c's code.
 * Then hand-written spot checks taken from Airflow's trigger rule documentation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "plan/plan.h"

#define NOW ((time_t)1700000000)

static const enum ti_state all_states[TI_N_STATES] = {
    TI_NONE,         TI_SCHEDULED,       TI_QUEUED,  TI_RUNNING, TI_SUCCESS,           TI_FAILED,
    TI_UP_FOR_RETRY, TI_UPSTREAM_FAILED, TI_SKIPPED, TI_REMOVED, TI_UP_FOR_RESCHEDULE,
};

/* The graph a -> c <- b with c's trigger rule given as text, indexed (dag_index). */
struct jdag {
    struct dag dag;
    struct dag_task tasks[3];
    char *up[2];
};

static struct dag *
join_graph(const char *rule)
{
    struct jdag *j = calloc(1, sizeof(*j));
    struct err e = {0};

    assert_non_null(j);
    j->up[0] = "a";
    j->up[1] = "b";
    j->tasks[0].task_id = "a";
    j->tasks[1].task_id = "b";
    j->tasks[2] = (struct dag_task){.task_id = "c", .upstream = j->up, .n_upstream = 2};
    assert_int_equal(trigger_rule_parse(rule, &j->tasks[2].trigger_rule), 0);
    j->dag = (struct dag){.dag_id = "rules", .tasks = j->tasks, .n_tasks = 3};
    if (dag_index(&j->dag, &e) < 0)
        fail_msg("dag_index: %s", e.msg);
    return &j->dag;
}

static void
graph_free(struct dag *g)
{
    dag_index_clear(g);
    free(g); /* the struct jdag it starts */
}

/* c's state after one plan_run with upstream states sa and sb and no free slot (so that a
 * decision to run shows as scheduled, not queued). */
static enum ti_state
decide(const struct dag *g, enum ti_state sa, enum ti_state sb)
{
    struct plan_ti tis[3] = {{.state = sa, .next_retry_at = NOW + 100},
                             {.state = sb, .next_retry_at = NOW + 100},
                             {.state = TI_NONE}};
    struct plan_limits lim = {.max_active_tasks = 0, .active_in_dag = 0, .free_slots = 0};
    struct plan_result r;
    struct err e = {0};
    enum ti_state c = TI_NONE;

    if (plan_run(g, tis, &lim, NOW, &r, &e) < 0)
        fail_msg("plan_run: %s", e.msg);
    for (size_t k = 0; k < r.n_changes; k++) {
        if (r.changes[k].task == 2) {
            assert_int_equal(r.changes[k].from, TI_NONE);
            c = r.changes[k].to;
        } else {
            /* the upstreams only move none -> scheduled (roots, no slot) */
            assert_int_equal(r.changes[k].from, TI_NONE);
            assert_int_equal(r.changes[k].to, TI_SCHEDULED);
        }
    }
    plan_result_clear(&r);
    return c;
}

/* ---- the expected table, from Airflow's rules ---- */

struct pair {
    enum ti_state a, b;
};

static bool
any(struct pair p, enum ti_state s)
{
    return p.a == s || p.b == s;
}

static bool
finished(enum ti_state s)
{
    switch (s) {
    case TI_SUCCESS:
    case TI_FAILED:
    case TI_SKIPPED:
    case TI_UPSTREAM_FAILED:
    case TI_REMOVED:
        return true;
    default:
        return false;
    }
}

static bool
all_done(struct pair p)
{
    return finished(p.a) && finished(p.b);
}

static bool
all_in(struct pair p, enum ti_state s1, enum ti_state s2)
{
    return (p.a == s1 || p.a == s2) && (p.b == s1 || p.b == s2);
}

static bool
any_failure(struct pair p)
{
    return any(p, TI_FAILED) || any(p, TI_UPSTREAM_FAILED);
}

/* TI_NONE means "waits", TI_SCHEDULED "runs". */
static enum ti_state
expected(enum trigger_rule r, struct pair p)
{
    switch (r) {
    case TR_ALL_SUCCESS:
        if (any_failure(p))
            return TI_UPSTREAM_FAILED;
        if (any(p, TI_SKIPPED))
            return TI_SKIPPED;
        return all_in(p, TI_SUCCESS, TI_SUCCESS) ? TI_SCHEDULED : TI_NONE;
    case TR_ALL_FAILED:
        if (any(p, TI_SUCCESS) || any(p, TI_SKIPPED))
            return TI_SKIPPED;
        return all_in(p, TI_FAILED, TI_UPSTREAM_FAILED) ? TI_SCHEDULED : TI_NONE;
    case TR_ALL_DONE:
    case TR_ALL_DONE_SETUP_SUCCESS: /* no setup tasks in gust */
        return all_done(p) ? TI_SCHEDULED : TI_NONE;
    case TR_ALL_DONE_MIN_ONE_SUCCESS:
        if (any(p, TI_SKIPPED)) /* at once, even while the other one runs */
            return TI_SKIPPED;
        if (!all_done(p))
            return TI_NONE;
        return any(p, TI_SUCCESS) ? TI_SCHEDULED : TI_UPSTREAM_FAILED;
    case TR_ALL_SKIPPED:
        if (any(p, TI_SUCCESS) || any_failure(p))
            return TI_SKIPPED;
        return all_in(p, TI_SKIPPED, TI_SKIPPED) ? TI_SCHEDULED : TI_NONE;
    case TR_ONE_SUCCESS:
        if (any(p, TI_SUCCESS))
            return TI_SCHEDULED;
        if (!all_done(p))
            return TI_NONE;
        return all_in(p, TI_SKIPPED, TI_SKIPPED) ? TI_SKIPPED : TI_UPSTREAM_FAILED;
    case TR_ONE_FAILED:
        if (any_failure(p))
            return TI_SCHEDULED;
        return all_done(p) ? TI_SKIPPED : TI_NONE;
    case TR_ONE_DONE:
        if (any(p, TI_SUCCESS) || any(p, TI_FAILED))
            return TI_SCHEDULED;
        return all_done(p) ? TI_SKIPPED : TI_NONE;
    case TR_NONE_FAILED:
        if (any_failure(p))
            return TI_UPSTREAM_FAILED;
        return all_in(p, TI_SUCCESS, TI_SKIPPED) ? TI_SCHEDULED : TI_NONE;
    case TR_NONE_FAILED_MIN_ONE_SUCCESS:
        if (any_failure(p))
            return TI_UPSTREAM_FAILED;
        if (all_in(p, TI_SKIPPED, TI_SKIPPED))
            return TI_SKIPPED;
        return all_in(p, TI_SUCCESS, TI_SKIPPED) ? TI_SCHEDULED : TI_NONE;
    case TR_NONE_SKIPPED:
        if (any(p, TI_SKIPPED))
            return TI_SKIPPED;
        return all_done(p) ? TI_SCHEDULED : TI_NONE;
    case TR_ALWAYS:
        return TI_SCHEDULED;
    }
    fail_msg("unknown rule %d", (int)r);
    return TI_NONE;
}

static const char *const rule_texts[] = {
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

/* One rule against all 100 pairs; initial state = the rule's index in rule_texts. */
static void
test_rule_table(void **state)
{
    enum trigger_rule r = *(const enum trigger_rule *)*state;
    struct dag *g = join_graph(rule_texts[r]);
    int wrong = 0;

    assert_int_equal(g->tasks[2].trigger_rule, r);
    for (int i = 0; i < TI_N_STATES; i++) {
        for (int j = 0; j < TI_N_STATES; j++) {
            struct pair p = {all_states[i], all_states[j]};
            enum ti_state want = expected(r, p), got = decide(g, p.a, p.b);
            if (want != got) {
                print_error("%s(%s, %s): want %s, got %s\n", rule_texts[r], ti_state_name(p.a),
                            ti_state_name(p.b), ti_state_name(want), ti_state_name(got));
                wrong++;
            }
        }
    }
    graph_free(g);
    assert_int_equal(wrong, 0);
}

/* Hand-written cases from Airflow's docs ("Trigger Rules" in core-concepts/dags). */
static void
test_spot_checks(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        enum ti_state a, b, want;
    } cases[] = {
        /* one_failed fires as soon as one upstream failed, it does not wait for the rest */
        {"one_failed", TI_FAILED, TI_RUNNING, TI_SCHEDULED},
        {"one_failed", TI_UPSTREAM_FAILED, TI_QUEUED, TI_SCHEDULED},
        {"one_failed", TI_SUCCESS, TI_SKIPPED, TI_SKIPPED},
        /* one_success fires as soon as one upstream succeeded */
        {"one_success", TI_SUCCESS, TI_RUNNING, TI_SCHEDULED},
        {"one_success", TI_FAILED, TI_FAILED, TI_UPSTREAM_FAILED},
        {"one_success", TI_SKIPPED, TI_SKIPPED, TI_SKIPPED},
        {"one_success", TI_FAILED, TI_RUNNING, TI_NONE},
        /* none_failed_min_one_success: the join after a branch */
        {"none_failed_min_one_success", TI_SKIPPED, TI_SKIPPED, TI_SKIPPED},
        {"none_failed_min_one_success", TI_SUCCESS, TI_SKIPPED, TI_SCHEDULED},
        {"none_failed_min_one_success", TI_UPSTREAM_FAILED, TI_SUCCESS, TI_UPSTREAM_FAILED},
        {"none_failed_or_skipped", TI_SKIPPED, TI_SKIPPED, TI_SKIPPED},
        /* the default: a skip or a failure propagates at once */
        {"all_success", TI_SUCCESS, TI_SKIPPED, TI_SKIPPED},
        {"all_success", TI_FAILED, TI_RUNNING, TI_UPSTREAM_FAILED},
        {"all_success", TI_SUCCESS, TI_UP_FOR_RETRY, TI_NONE},
        {"all_success", TI_SUCCESS, TI_SUCCESS, TI_SCHEDULED},
        /* all_done runs whatever the outcome */
        {"all_done", TI_FAILED, TI_SKIPPED, TI_SCHEDULED},
        {"all_done", TI_FAILED, TI_RUNNING, TI_NONE},
        {"all_failed", TI_FAILED, TI_UPSTREAM_FAILED, TI_SCHEDULED},
        {"all_failed", TI_SUCCESS, TI_RUNNING, TI_SKIPPED},
        {"all_skipped", TI_SKIPPED, TI_SKIPPED, TI_SCHEDULED},
        {"all_skipped", TI_SKIPPED, TI_FAILED, TI_SKIPPED},
        {"none_failed", TI_SKIPPED, TI_SKIPPED, TI_SCHEDULED},
        {"none_failed", TI_FAILED, TI_SUCCESS, TI_UPSTREAM_FAILED},
        {"none_skipped", TI_SUCCESS, TI_FAILED, TI_SCHEDULED},
        {"none_skipped", TI_SKIPPED, TI_RUNNING, TI_SKIPPED},
        {"one_done", TI_FAILED, TI_RUNNING, TI_SCHEDULED},
        {"one_done", TI_SKIPPED, TI_SKIPPED, TI_SKIPPED},
        {"all_done_min_one_success", TI_SUCCESS, TI_FAILED, TI_SCHEDULED},
        {"all_done_min_one_success", TI_FAILED, TI_UPSTREAM_FAILED, TI_UPSTREAM_FAILED},
        {"always", TI_RUNNING, TI_NONE, TI_SCHEDULED},
        /* removed upstreams count as done, never as success */
        {"all_done", TI_REMOVED, TI_SUCCESS, TI_SCHEDULED},
        {"one_success", TI_REMOVED, TI_REMOVED, TI_UPSTREAM_FAILED},
        {"all_success", TI_REMOVED, TI_SUCCESS, TI_NONE},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dag *g = join_graph(cases[i].rule);
        enum ti_state got = decide(g, cases[i].a, cases[i].b);
        if (got != cases[i].want)
            fail_msg("%s(%s, %s): want %s, got %s", cases[i].rule, ti_state_name(cases[i].a),
                     ti_state_name(cases[i].b), ti_state_name(cases[i].want), ti_state_name(got));
        graph_free(g);
    }
}

static const enum trigger_rule rule_ids[] = {
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
    TR_ALL_DONE_SETUP_SUCCESS,
};

#define RULE_TEST(r)                                                                               \
    {                                                                                              \
        "rule_table_" #r, test_rule_table, NULL, NULL, (void *)&rule_ids[r]                        \
    }

int
main(void)
{
    const struct CMUnitTest tests[] = {
        RULE_TEST(TR_ALL_SUCCESS),
        RULE_TEST(TR_ALL_FAILED),
        RULE_TEST(TR_ALL_DONE),
        RULE_TEST(TR_ALL_DONE_MIN_ONE_SUCCESS),
        RULE_TEST(TR_ALL_SKIPPED),
        RULE_TEST(TR_ONE_SUCCESS),
        RULE_TEST(TR_ONE_FAILED),
        RULE_TEST(TR_ONE_DONE),
        RULE_TEST(TR_NONE_FAILED),
        RULE_TEST(TR_NONE_FAILED_MIN_ONE_SUCCESS),
        RULE_TEST(TR_NONE_SKIPPED),
        RULE_TEST(TR_ALWAYS),
        RULE_TEST(TR_ALL_DONE_SETUP_SUCCESS),
        cmocka_unit_test(test_spot_checks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for plan: state and rule names, the graph built from a struct dag, plan_run on
 * whole runs (skip and failure cascades through a 50-task chain in one call, retries due
 * and not due, max_active_tasks and free slots, the leaf rule, deadlocks, the empty DAG,
 * inputs left untouched), plan_after_try, and plan_retry_delay against values computed with
 * Python's hashlib from Airflow's next_retry_datetime formula (plan_try_end: the logical date
 * as str() prints it, the exact end plus the delay). The trigger-rule table is in
 * test_plan_rules.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "plan/plan.h"

#define NOW ((time_t)1700000000)
#define MAXT 64

/* A DAG for tests: ids[i] with rules[i] (NULL: default) and edges "up>down", indexed as the
 * loader indexes a DAG (dag_index). The struct dag comes first: a struct dag * is a tdag. */
struct tdag {
    struct dag dag;
    struct dag_task tasks[MAXT];
    char *ups[MAXT][MAXT];
    char names[MAXT][32];
};

static void
graph_free(struct dag *g)
{
    struct tdag *t = (struct tdag *)g;

    if (t == NULL)
        return;
    dag_index_clear(&t->dag);
    for (size_t i = 0; i < t->dag.n_tasks; i++)
        for (size_t j = 0; j < t->tasks[i].n_upstream; j++)
            free(t->tasks[i].upstream[j]);
    free(t);
}

static struct dag *
graph_of(size_t n, const char *const *ids, const char *const *rules, const char *const *edges,
         size_t n_edges)
{
    struct tdag *t = calloc(1, sizeof(*t));
    struct err e = {0};

    assert_non_null(t);
    assert_true(n <= MAXT);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(ids[i]) < sizeof(t->names[i]));
        snprintf(t->names[i], sizeof(t->names[i]), "%s", ids[i]);
        t->tasks[i].task_id = t->names[i];
        if (rules && rules[i])
            assert_int_equal(trigger_rule_parse(rules[i], &t->tasks[i].trigger_rule), 0);
        t->tasks[i].upstream = t->ups[i];
    }
    for (size_t k = 0; k < n_edges; k++) {
        const char *gt = strchr(edges[k], '>');
        assert_non_null(gt);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(ids[i], gt + 1) != 0)
                continue;
            struct dag_task *d = &t->tasks[i];
            d->upstream[d->n_upstream] = strndup(edges[k], (size_t)(gt - edges[k]));
            d->n_upstream++;
        }
    }
    t->dag.dag_id = "test";
    t->dag.tasks = t->tasks;
    t->dag.n_tasks = n;
    if (dag_index(&t->dag, &e) < 0)
        fail_msg("dag_index: %s", e.msg);
    return &t->dag;
}

/* A chain t0 -> t1 -> ... -> t(n-1), listed in reverse file order when reversed. */
static struct dag *
chain(size_t n, bool reversed)
{
    char ids[MAXT][24], edges[MAXT][48]; /* room for any size_t, or -Wformat-truncation */
    const char *idp[MAXT], *edp[MAXT];

    for (size_t i = 0; i < n; i++) {
        size_t k = reversed ? n - 1 - i : i;
        snprintf(ids[i], sizeof(ids[i]), "t%zu", k);
        idp[i] = ids[i];
    }
    for (size_t i = 0; i + 1 < n; i++) {
        snprintf(edges[i], sizeof(edges[i]), "t%zu>t%zu", i, i + 1);
        edp[i] = edges[i];
    }
    return graph_of(n, idp, NULL, edp, n - 1);
}

/* plan_run with fresh instances in the given states (no retry times). */
static void
run(const struct dag *g, const enum ti_state *states, const struct plan_limits *lim,
    struct plan_result *r)
{
    struct plan_ti tis[MAXT] = {{0}};
    struct err e = {0};

    for (size_t i = 0; i < g->n_tasks; i++)
        tis[i].state = states[i];
    if (plan_run(g, tis, lim, NOW, r, &e) < 0)
        fail_msg("plan_run: %s", e.msg);
}

/* Final state of task i: its change's target, or before when it has no change. */
static enum ti_state
after(const struct plan_result *r, size_t i, enum ti_state before)
{
    for (size_t k = 0; k < r->n_changes; k++)
        if (r->changes[k].task == i)
            return r->changes[k].to;
    return before;
}

static void
test_names(void **state)
{
    (void)state;
    enum ti_state s;
    enum run_state rs;
    enum trigger_rule tr;

    for (int i = 0; i < TI_N_STATES; i++) {
        assert_int_equal(ti_state_parse(ti_state_name((enum ti_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(ti_state_name(TI_NONE), "none");
    assert_string_equal(ti_state_name(TI_UP_FOR_RETRY), "up_for_retry");
    assert_string_equal(ti_state_name(TI_UPSTREAM_FAILED), "upstream_failed");
    s = TI_FAILED;
    assert_int_equal(ti_state_parse(NULL, &s), 0);
    assert_int_equal(s, TI_NONE);
    assert_int_equal(ti_state_parse("deferred", &s), -1);
    assert_int_equal(ti_state_parse("", &s), -1);

    for (int i = RUN_QUEUED; i <= RUN_FAILED; i++) {
        assert_int_equal(run_state_parse(run_state_name((enum run_state)i), &rs), 0);
        assert_int_equal(rs, i);
    }
    assert_string_equal(run_state_name(RUN_RUNNING), "running");
    assert_int_equal(run_state_parse("none", &rs), -1);
    assert_int_equal(run_state_parse(NULL, &rs), -1);

    for (int i = TR_ALL_SUCCESS; i <= TR_ALL_DONE_SETUP_SUCCESS; i++) {
        assert_int_equal(trigger_rule_parse(trigger_rule_name((enum trigger_rule)i), &tr), 0);
        assert_int_equal(tr, i);
    }
    assert_string_equal(trigger_rule_name(TR_NONE_FAILED_MIN_ONE_SUCCESS),
                        "none_failed_min_one_success");
    assert_string_equal(trigger_rule_name(TR_ALL_DONE_SETUP_SUCCESS), "all_done_setup_success");
    assert_int_equal(trigger_rule_parse("none_failed_or_skipped", &tr), 0);
    assert_int_equal(tr, TR_NONE_FAILED_MIN_ONE_SUCCESS);
    assert_int_equal(trigger_rule_parse("dummy", &tr), -1);
    assert_int_equal(trigger_rule_parse(NULL, &tr), -1);
}

static void
test_finished(void **state)
{
    (void)state;
    static const bool want[TI_N_STATES] = {
        [TI_SUCCESS] = true, [TI_FAILED] = true,  [TI_UPSTREAM_FAILED] = true,
        [TI_SKIPPED] = true, [TI_REMOVED] = true,
    };

    for (int i = 0; i < TI_N_STATES; i++)
        assert_int_equal(ti_state_finished((enum ti_state)i), want[i]);
}

/* dag_index: the rules are typed, upstream ids become indices, downstream lists and the
 * leaves follow from them. */
static void
test_graph(void **state)
{
    (void)state;
    const char *ids[] = {"extract", "grp.a", "grp.b", "load"};
    const char *rules[] = {NULL, "one_failed", "none_failed_or_skipped", "all_done"};
    const char *edges[] = {"extract>grp.a", "extract>grp.b", "grp.a>load", "grp.b>load"};
    struct dag *g = graph_of(4, ids, rules, edges, 4);

    assert_int_equal(g->n_tasks, 4);
    assert_int_equal(g->tasks[0].trigger_rule, TR_ALL_SUCCESS);
    assert_int_equal(g->tasks[1].trigger_rule, TR_ONE_FAILED);
    assert_int_equal(g->tasks[2].trigger_rule, TR_NONE_FAILED_MIN_ONE_SUCCESS);
    assert_int_equal(g->tasks[3].trigger_rule, TR_ALL_DONE);
    assert_int_equal(g->tasks[0].n_upstream, 0);
    assert_int_equal(g->tasks[1].upstream_idx[0], 0);
    assert_int_equal(g->tasks[2].upstream_idx[0], 0);
    assert_int_equal(g->tasks[3].upstream_idx[0], 1);
    assert_int_equal(g->tasks[3].upstream_idx[1], 2);
    assert_int_equal(g->tasks[0].n_downstream, 2);
    assert_int_equal(g->tasks[0].downstream_idx[0], 1);
    assert_int_equal(g->tasks[0].downstream_idx[1], 2);
    assert_int_equal(g->tasks[1].downstream_idx[0], 3);
    assert_int_equal(g->tasks[3].n_downstream, 0); /* the leaf */
    assert_int_equal(dag_task_index(g, "grp.b"), 2);
    assert_int_equal(dag_task_index(g, "load"), 3);
    assert_int_equal(dag_task_index(g, "nope"), -1);
    assert_ptr_equal(dag_find_task(g, "extract"), &g->tasks[0]);
    graph_free(g);
}

static void
test_graph_errors(void **state)
{
    (void)state;
    char *bad_up[] = {"nope"};
    struct dag_task tasks[2] = {{.task_id = "a"},
                                {.task_id = "b", .upstream = bad_up, .n_upstream = 1}};
    struct dag dag = {.dag_id = "d", .tasks = tasks, .n_tasks = 2};
    struct plan_result r;
    struct plan_ti tis[2] = {{0}};
    struct err e = {0};

    assert_int_equal(dag_index(&dag, &e), -1);
    assert_string_equal(e.msg, "DAG 'd': task 'b': unknown upstream task 'nope'");
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_null(dag.by_id);
    /* the planner refuses a DAG that was not indexed */
    assert_int_equal(plan_run(&dag, tis, NULL, NOW, &r, &e), -1);

    tasks[1].n_upstream = 0;
    tasks[1].task_id = "a";
    assert_int_equal(dag_index(&dag, &e), -1);
    assert_string_equal(e.msg, "DAG 'd': duplicate task id 'a'");
    dag_index_clear(&dag);
}

/* One failure at the head of a 50-task chain reaches its end in one call, whatever the
 * order the tasks are listed in; the changes come upstream first. */
static void
test_chain_failure_cascade(void **state)
{
    (void)state;
    for (int rev = 0; rev < 2; rev++) {
        struct dag *g = chain(50, rev);
        enum ti_state st[MAXT] = {TI_NONE};
        size_t head = rev ? 49 : 0;
        struct plan_result r;

        st[head] = TI_FAILED;
        run(g, st, NULL, &r);
        assert_int_equal(r.n_changes, 49);
        for (size_t k = 0; k < 49; k++) {
            /* task t(k+1) sits at index k+1, or 48-k when listed in reverse */
            size_t want = rev ? 48 - k : k + 1;
            assert_int_equal(r.changes[k].task, want);
            assert_int_equal(r.changes[k].from, TI_NONE);
            assert_int_equal(r.changes[k].to, TI_UPSTREAM_FAILED);
        }
        assert_int_equal(r.run_state, RUN_FAILED);
        assert_int_equal(r.next_wakeup, 0);
        plan_result_clear(&r);
        graph_free(g);
    }
}

/* A skip cascades too, and a run whose leaves are skipped succeeded. */
static void
test_chain_skip_cascade(void **state)
{
    (void)state;
    struct dag *g = chain(50, true);
    enum ti_state st[MAXT] = {TI_NONE};
    struct plan_result r;

    st[49] = TI_SKIPPED; /* t0 */
    run(g, st, NULL, &r);
    assert_int_equal(r.n_changes, 49);
    for (size_t i = 0; i < 49; i++)
        assert_int_equal(after(&r, i, st[i]), TI_SKIPPED);
    assert_int_equal(r.run_state, RUN_SUCCESS);
    plan_result_clear(&r);

    /* the middle of the chain running: everything after it waits */
    for (size_t i = 0; i < 50; i++)
        st[i] = i >= 25 ? TI_SUCCESS : TI_NONE; /* t0..t24 succeeded */
    st[24] = TI_RUNNING;                        /* t25 */
    run(g, st, NULL, &r);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);
    graph_free(g);
}

/* What the planner does after a branch's end: the branch succeeded and its direct downstream
 * tasks not followed were set skipped with it (skip_all_except, store_ti_finish). The followed
 * task is scheduled; the skip cascades below the skipped one; a join with
 * none_failed_min_one_success waits for the followed path, one with all_success is skipped. */
static void
test_branch_skips(void **state)
{
    (void)state;
    const char *ids[] = {"branch", "yes", "no", "after_no", "join", "strict_join"};
    const char *rules[] = {NULL, NULL, NULL, NULL, "none_failed_min_one_success", NULL};
    const char *edges[] = {"branch>yes", "branch>no",       "no>after_no",   "yes>join",
                           "no>join",    "yes>strict_join", "no>strict_join"};
    struct dag *g = graph_of(6, ids, rules, edges, 7);
    enum ti_state st[MAXT] = {TI_SUCCESS, TI_NONE, TI_SKIPPED, TI_NONE, TI_NONE, TI_NONE};
    struct plan_result r;

    run(g, st, NULL, &r);
    assert_int_equal(after(&r, 1, st[1]), TI_QUEUED);
    assert_int_equal(after(&r, 3, st[3]), TI_SKIPPED);
    assert_int_equal(after(&r, 4, st[4]), TI_NONE);
    assert_int_equal(after(&r, 5, st[5]), TI_SKIPPED);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);

    st[1] = TI_SUCCESS; /* the followed task done: the join runs, the run is not done yet */
    st[3] = st[5] = TI_SKIPPED;
    run(g, st, NULL, &r);
    assert_int_equal(after(&r, 4, st[4]), TI_QUEUED);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);
    graph_free(g);
}

/* A retry that is due is scheduled (and queued); one that is not due sets next_wakeup to
 * the earliest retry time, and keeps the run running. */
static void
test_retries(void **state)
{
    (void)state;
    const char *ids[] = {"a", "b", "c", "d", "after_b"};
    const char *edges[] = {"b>after_b"};
    struct dag *g = graph_of(5, ids, NULL, edges, 1);
    struct plan_ti tis[5] = {
        {.state = TI_UP_FOR_RETRY, .next_retry_at = NOW},      /* due exactly now */
        {.state = TI_UP_FOR_RETRY, .next_retry_at = NOW + 60}, /* not due */
        {.state = TI_UP_FOR_RETRY, .next_retry_at = NOW + 30}, /* not due, earliest */
        {.state = TI_UP_FOR_RETRY, .next_retry_at = NOW - 5},  /* overdue */
        {.state = TI_NONE, .next_retry_at = 0},
    };
    struct plan_limits lim = {.max_active_tasks = 0, .free_slots = 1};
    struct plan_result r;
    struct err e = {0};

    assert_int_equal(plan_run(g, tis, &lim, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 2);
    assert_int_equal(r.changes[0].task, 0);
    assert_int_equal(r.changes[0].from, TI_UP_FOR_RETRY);
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    assert_int_equal(r.changes[1].task, 3);
    assert_int_equal(r.changes[1].to, TI_SCHEDULED); /* one slot only */
    assert_int_equal(r.next_wakeup, NOW + 30);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);

    /* nothing but retries waiting: still running, not a deadlock */
    tis[0].state = tis[3].state = TI_SUCCESS;
    assert_int_equal(plan_run(g, tis, NULL, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.next_wakeup, NOW + 30);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);

    /* at NOW + 30, c is due; b still waits */
    assert_int_equal(plan_run(g, tis, NULL, NOW + 30, &r, &e), 0);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(r.changes[0].task, 2);
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    assert_int_equal(r.next_wakeup, NOW + 60);
    plan_result_clear(&r);
    graph_free(g);
}

/* A sensor waiting in up_for_reschedule: its next poke wakes the run; when due it is scheduled
 * again (its trigger rule is not evaluated again); waiting is progress, not a deadlock. */
static void
test_reschedule(void **state)
{
    (void)state;
    const char *ids[] = {"sensor", "after", "other"};
    const char *edges[] = {"sensor>after"};
    struct dag *g = graph_of(3, ids, NULL, edges, 1);
    struct plan_ti tis[3] = {
        {.state = TI_UP_FOR_RESCHEDULE, .next_retry_at = NOW + 60},
        {.state = TI_NONE},
        {.state = TI_SUCCESS},
    };
    struct plan_result r;
    struct err e = {0};

    assert_int_equal(plan_run(g, tis, NULL, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.next_wakeup, NOW + 60);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);

    assert_int_equal(plan_run(g, tis, NULL, NOW + 60, &r, &e), 0);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(r.changes[0].task, 0);
    assert_int_equal(r.changes[0].from, TI_UP_FOR_RESCHEDULE);
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    assert_int_equal(r.next_wakeup, 0);
    plan_result_clear(&r);

    /* no free slot: scheduled, waiting for one */
    struct plan_limits lim = {.free_slots = 0};
    assert_int_equal(plan_run(g, tis, &lim, NOW + 61, &r, &e), 0);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(r.changes[0].to, TI_SCHEDULED);
    plan_result_clear(&r);
    assert_int_equal(plan_after_try(TRY_RESCHEDULE, 1, 0), TI_UP_FOR_RESCHEDULE);
    graph_free(g);
}

/* max_active_tasks counts active_in_dag plus this call's queued; free_slots likewise. */
static void
test_limits(void **state)
{
    (void)state;
    const char *ids[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
    struct dag *g = graph_of(6, ids, NULL, NULL, 0);
    enum ti_state st[6] = {TI_NONE, TI_NONE, TI_NONE, TI_NONE, TI_NONE, TI_NONE};
    static const struct {
        struct plan_limits lim;
        size_t queued;
    } cases[] = {
        {{.max_active_tasks = 4, .active_in_dag = 1, .free_slots = -1}, 3},
        {{.max_active_tasks = 0, .active_in_dag = 9, .free_slots = 2}, 2},
        {{.max_active_tasks = 16, .active_in_dag = 3, .free_slots = 1}, 1},
        {{.max_active_tasks = 4, .active_in_dag = 4, .free_slots = -1}, 0},
        {{.max_active_tasks = 2, .active_in_dag = 5, .free_slots = 10}, 0},
        {{.max_active_tasks = -1, .active_in_dag = 0, .free_slots = -1}, 6},
        {{.max_active_tasks = 0, .active_in_dag = 0, .free_slots = 0}, 0},
    };
    struct plan_result r;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        run(g, st, &cases[c].lim, &r);
        assert_int_equal(r.n_changes, 6);
        for (size_t i = 0; i < 6; i++)
            assert_int_equal(after(&r, i, TI_NONE), i < cases[c].queued ? TI_QUEUED : TI_SCHEDULED);
        assert_int_equal(r.run_state, RUN_RUNNING);
        plan_result_clear(&r);
    }
    run(g, st, NULL, &r); /* no limits at all */
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(after(&r, i, TI_NONE), TI_QUEUED);
    plan_result_clear(&r);

    /* tasks already scheduled are queued in task order with the new ones */
    enum ti_state mixed[6] = {TI_NONE, TI_SCHEDULED, TI_RUNNING, TI_SCHEDULED, TI_NONE, TI_NONE};
    struct plan_limits two = {.max_active_tasks = 0, .free_slots = 2};
    run(g, mixed, &two, &r);
    assert_int_equal(r.n_changes, 4);
    assert_int_equal(r.changes[0].task, 0); /* propagation first: r0 none -> queued */
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    assert_int_equal(r.changes[1].task, 4);
    assert_int_equal(r.changes[1].to, TI_SCHEDULED);
    assert_int_equal(r.changes[2].task, 5);
    assert_int_equal(r.changes[2].to, TI_SCHEDULED);
    assert_int_equal(r.changes[3].task, 1); /* then scheduled -> queued */
    assert_int_equal(r.changes[3].from, TI_SCHEDULED);
    assert_int_equal(r.changes[3].to, TI_QUEUED);
    plan_result_clear(&r);
    graph_free(g);
}

/* The leaf rule: only leaves decide a finished run's outcome; removed leaves are ignored. */
static void
test_leaf_rule(void **state)
{
    (void)state;
    const char *ids[] = {"a", "b", "c"};
    const char *rules_done[] = {NULL, NULL, "all_done"};
    const char *edges[] = {"a>b", "b>c"};
    struct dag *g = graph_of(3, ids, rules_done, edges, 2);
    struct plan_result r;

    run(g, (enum ti_state[]){TI_SUCCESS, TI_FAILED, TI_NONE}, NULL, &r);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(after(&r, 2, TI_NONE), TI_QUEUED); /* all_done runs after a failure */
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);

    run(g, (enum ti_state[]){TI_SUCCESS, TI_FAILED, TI_SUCCESS}, NULL, &r);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.run_state, RUN_SUCCESS); /* middle failed, leaf succeeded */
    plan_result_clear(&r);
    graph_free(g);

    g = graph_of(3, ids, NULL, edges, 2);
    run(g, (enum ti_state[]){TI_SUCCESS, TI_FAILED, TI_NONE}, NULL, &r);
    assert_int_equal(after(&r, 2, TI_NONE), TI_UPSTREAM_FAILED);
    assert_int_equal(r.run_state, RUN_FAILED); /* leaf upstream_failed */
    plan_result_clear(&r);
    run(g, (enum ti_state[]){TI_SUCCESS, TI_SUCCESS, TI_FAILED}, NULL, &r);
    assert_int_equal(r.run_state, RUN_FAILED);
    plan_result_clear(&r);
    run(g, (enum ti_state[]){TI_SUCCESS, TI_SKIPPED, TI_SKIPPED}, NULL, &r);
    assert_int_equal(r.run_state, RUN_SUCCESS);
    plan_result_clear(&r);
    run(g, (enum ti_state[]){TI_SUCCESS, TI_SUCCESS, TI_REMOVED}, NULL, &r);
    assert_int_equal(r.run_state, RUN_SUCCESS); /* removed leaf ignored, b is not a leaf */
    plan_result_clear(&r);
    run(g, (enum ti_state[]){TI_SUCCESS, TI_SUCCESS, TI_RUNNING}, NULL, &r);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);
    graph_free(g);
}

/* Unfinished tasks that nothing can ever move: the run failed. */
static void
test_deadlock(void **state)
{
    (void)state;
    const char *ids[] = {"a", "b", "c"};
    const char *edges[] = {"a>c", "b>c"};
    struct dag *g = graph_of(3, ids, NULL, edges, 2);
    struct plan_result r;

    /* all_success never passes with a removed upstream (removed is done, not success) */
    run(g, (enum ti_state[]){TI_SUCCESS, TI_REMOVED, TI_NONE}, NULL, &r);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.run_state, RUN_FAILED);
    plan_result_clear(&r);
    /* ... but while a is still running the run is not stuck */
    run(g, (enum ti_state[]){TI_RUNNING, TI_REMOVED, TI_NONE}, NULL, &r);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);
    graph_free(g);

    /* a cycle (the loader rejects it; the planner must still terminate and say failed) */
    const char *cyc[] = {"a>b", "b>a"};
    g = graph_of(2, ids, NULL, cyc, 2);
    run(g, (enum ti_state[]){TI_NONE, TI_NONE}, NULL, &r);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.run_state, RUN_FAILED);
    plan_result_clear(&r);
    graph_free(g);

    /* no topological order exists: the passes still reach the fixed point (a is skipped
     * because of s, then b because of a, though b comes first in the order) */
    const char *cyc_ids[] = {"a", "b", "s"};
    const char *cyc_skip[] = {"b>a", "s>a", "a>b"};
    g = graph_of(3, cyc_ids, NULL, cyc_skip, 3);
    run(g, (enum ti_state[]){TI_NONE, TI_NONE, TI_SKIPPED}, NULL, &r);
    assert_int_equal(r.n_changes, 2);
    assert_int_equal(after(&r, 0, TI_NONE), TI_SKIPPED);
    assert_int_equal(after(&r, 1, TI_NONE), TI_SKIPPED);
    plan_result_clear(&r);
    graph_free(g);
}

static void
test_empty_dag(void **state)
{
    (void)state;
    struct dag dag = {.dag_id = "empty"};
    struct err e = {0};
    struct dag *g = &dag;
    struct plan_result r;

    assert_int_equal(dag_index(g, &e), 0);
    assert_int_equal(g->n_tasks, 0);
    assert_int_equal(plan_run(g, NULL, NULL, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(r.run_state, RUN_SUCCESS);
    assert_int_equal(r.next_wakeup, 0);
    plan_result_clear(&r);
    plan_result_clear(NULL);
    dag_index_clear(g);
}

/* plan_run reads tis[] only, and rejects bad input. */
static void
test_inputs_untouched(void **state)
{
    (void)state;
    const char *ids[] = {"a", "b", "c", "d"};
    const char *edges[] = {"a>b", "b>c", "b>d"};
    struct dag *g = graph_of(4, ids, NULL, edges, 3);
    struct plan_ti tis[4] = {{.state = TI_SKIPPED, .next_retry_at = 0},
                             {.state = TI_NONE, .next_retry_at = 0},
                             {.state = TI_UP_FOR_RETRY, .next_retry_at = NOW},
                             {.state = TI_NONE, .next_retry_at = 0}};
    struct plan_ti copy[4];
    struct plan_result r;
    struct err e = {0};

    memcpy(copy, tis, sizeof(tis));
    assert_int_equal(plan_run(g, tis, NULL, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 3);
    for (size_t i = 0; i < 4; i++) { /* field by field: the struct has padding */
        assert_int_equal(tis[i].state, copy[i].state);
        assert_int_equal(tis[i].next_retry_at, copy[i].next_retry_at);
    }
    assert_int_equal(after(&r, 2, TI_UP_FOR_RETRY), TI_SKIPPED); /* flagged like Airflow */
    assert_int_equal(r.run_state, RUN_SUCCESS);
    plan_result_clear(&r);

    tis[1].state = (enum ti_state)42;
    assert_int_equal(plan_run(g, tis, NULL, NOW, &r, &e), -1);
    assert_string_equal(e.msg, "plan: task instance 1 has invalid state 42");
    assert_null(r.changes);
    assert_int_equal(plan_run(NULL, tis, NULL, NOW, &r, &e), -1);
    assert_int_equal(plan_run(g, tis, NULL, NOW, NULL, &e), -1);
    graph_free(g);
}

static void
test_after_try(void **state)
{
    (void)state;
    static const struct {
        enum try_outcome o;
        int try_number, retries;
        enum ti_state want;
    } cases[] = {
        {TRY_SUCCESS, 1, 0, TI_SUCCESS},     {TRY_SUCCESS, 3, 2, TI_SUCCESS},
        {TRY_SKIPPED, 1, 3, TI_SKIPPED},     {TRY_SKIPPED, 4, 3, TI_SKIPPED},
        {TRY_FAILED, 1, 0, TI_FAILED},       {TRY_FAILED, 1, 2, TI_UP_FOR_RETRY},
        {TRY_FAILED, 2, 2, TI_UP_FOR_RETRY}, {TRY_FAILED, 3, 2, TI_FAILED},
        {TRY_FAILED, 4, 2, TI_FAILED},       {TRY_FAILED, 1, -1, TI_FAILED},
        {TRY_PERMANENT, 1, 5, TI_FAILED},    {TRY_PERMANENT, 6, 5, TI_FAILED},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (plan_after_try(cases[i].o, cases[i].try_number, cases[i].retries) != cases[i].want)
            fail_msg("case %zu: want %s", i, ti_state_name(cases[i].want));
}

/* Expected values from Airflow's formula run with /usr/bin/python3 and hashlib:
 *   mb = max(1, ceil(delay * 2 ** (try - 1)))
 *   h = int(sha1(f"{dag}#{task}#{ld}#{try}".encode()).hexdigest(), 16)
 *   d = min(mb + h % mb, 86400); d = min(max_retry_delay, d) if max_retry_delay else d */
static void
test_retry_delay(void **state)
{
    (void)state;
    static const struct {
        double delay;
        bool exp;
        double max;
        const char *dag, *task, *ld;
        int try_number;
        double want;
    } cases[] = {
        {300, true, -1, "dvc_flow", "crawl", "2024-01-01T00:00:00+00:00", 1, 574},
        {300, true, -1, "dvc_flow", "crawl", "2024-01-01T00:00:00+00:00", 2, 616},
        {300, true, -1, "dvc_flow", "crawl", "2024-01-01T00:00:00+00:00", 3, 2308},
        {300, true, -1, "dvc_flow", "crawl", "2024-01-01T00:00:00+00:00", 9, 86400},
        {300, true, 600, "dvc_flow", "crawl", "2024-01-01T00:00:00+00:00", 2, 600},
        {300, true, 0, "dvc_flow", "crawl", "2024-01-01T00:00:00+00:00", 2, 616},
        {0.5, true, -1, "wiki_data_dag", "fetch", "2024-06-30T12:00:00+00:00", 1, 1},
        {0, true, -1, "wiki_data_dag", "fetch", "2024-06-30T12:00:00+00:00", 1, 1},
        {10.5, true, -1, "user_automation", "stream_to_kafka", "2025-03-01 00:00:00+00:00", 4, 84},
        {60, true, -1, "user_automation", "stream_to_kafka", "2025-03-01 00:00:00+00:00", 11,
         86400},
        {40000.25, true, -1, "github_events_pipeline", "collect", "2024-02-29T23:59:59+00:00", 1,
         77528},
        {21600, true, -1, "pharmaceutical_upsert_dag", "upsert", "2024-12-31T00:00:00+00:00", 2,
         69309},
        {7.3, true, 9.5, "pharmaceutical_upsert_dag", "upsert", "2024-12-31T00:00:00+00:00", 1,
         9.5},
        {3, true, -1, "d", "t", "2024-01-01T00:00:00+00:00", 0, 2},
        {1, true, -1, "d", "t", "x", 2000, 86400}, /* 2**1999 overflows a double */
        {300, false, 10, "d", "t", "x", 5, 300},   /* no backoff: no caps either */
        {90000, false, -1, "d", "t", "x", 1, 90000},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = plan_retry_delay(cases[i].delay, cases[i].exp, cases[i].max, cases[i].dag,
                                      cases[i].task, cases[i].ld, cases[i].try_number);
        if (got != cases[i].want)
            fail_msg("case %zu: want %g, got %g", i, cases[i].want, got);
    }
    /* a 699-character task id goes through the heap path (python: 543) */
    char longid[700];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_true(plan_retry_delay(300, true, -1, "d", longid, "2024-01-01", 1) == 543);
}

/* The text Airflow hashes is str(logical_date): microseconds only when there are some. With
 * /usr/bin/python3 (hashlib, the formula above, delay 300, dvc_flow/crawl), try 1..3:
 *   str(datetime(2026,1,1,0,0,0,123456,utc)) = "2026-01-01 00:00:00.123456+00:00": 497 625 1890
 *   str(datetime(2026,1,1,0,0,0,utc))        = "2026-01-01 00:00:00+00:00":        521 1024 2107
 *   str(datetime(2024,2,29,23,59,59,5,utc))  = "2024-02-29 23:59:59.000005+00:00": 386 725 1962
 * and the next try is due at the try's exact end plus that delay. */
static void
test_try_end(void **state)
{
    (void)state;
    static const struct {
        time_t sec;
        long usec;
        const char *text;
        double want[3];
    } cases[] = {
        {1767225600, 123456, "2026-01-01 00:00:00.123456+00:00", {497, 625, 1890}},
        {1767225600, 0, "2026-01-01 00:00:00+00:00", {521, 1024, 2107}},
        {1709251199, 5, "2024-02-29 23:59:59.000005+00:00", {386, 725, 1962}},
    };
    struct dag_task task = {.task_id = "crawl",
                            .retry_delay = 300,
                            .retry_exponential_backoff = true,
                            .max_retry_delay = -1};
    double next;
    char text[40];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        plan_logical_str(cases[i].sec, cases[i].usec, text);
        assert_string_equal(text, cases[i].text);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(
                plan_try_end(&task, "dvc_flow", text, TRY_FAILED, k + 1, 3, 1000.25, &next),
                TI_UP_FOR_RETRY);
            assert_true(next == 1000.25 + cases[i].want[k]); /* not rounded to the second */
        }
    }
    /* no tries left, success, a task gone from the DAG */
    assert_int_equal(plan_try_end(&task, "d", text, TRY_FAILED, 4, 3, 1000.25, &next), TI_FAILED);
    assert_true(next == 0);
    assert_int_equal(plan_try_end(&task, "d", text, TRY_SUCCESS, 1, 3, 1000.25, &next), TI_SUCCESS);
    assert_true(next == 0);
    assert_int_equal(plan_try_end(NULL, "d", text, TRY_FAILED, 1, 3, 1000.25, &next),
                     TI_UP_FOR_RETRY);
    assert_true(next == 1000.25);
    task.retry_exponential_backoff = false;
    assert_int_equal(plan_try_end(&task, "d", text, TRY_FAILED, 1, 3, 1000.5, &next),
                     TI_UP_FOR_RETRY);
    assert_true(next == 1300.5);
}

/* Dynamic task mapping: up -> m (mapped) -> down (all_success), down2 (all_done). Units
 * are the instances: m's trigger rule is judged once for all of them; a downstream counts
 * every instance; the removed instances of an earlier, longer expansion do not count. */
static void
units_run(const struct dag *g, const struct plan_ti *u, size_t n, struct plan_result *r)
{
    struct err e = {0};

    if (plan_run_units(g, u, n, NULL, NOW, r, &e) < 0)
        fail_msg("plan_run_units: %s", e.msg);
}

static void
test_mapped_units(void **state)
{
    (void)state;
    const char *ids[] = {"up", "m", "down", "down2"};
    const char *rules[] = {NULL, NULL, NULL, "all_done"};
    const char *edges[] = {"up>m", "m>down", "m>down2"};
    struct dag *g = graph_of(4, ids, rules, edges, 3);
    struct dag_map map = {0};
    struct plan_result r;
    struct err e = {0};

    g->tasks[1].map = &map;
    /* not expanded yet; up done: one expand change for m, nothing queued for it */
    struct plan_ti a[] = {{.state = TI_SUCCESS, .task = 0, .map_index = -1},
                          {.state = TI_NONE, .task = 1, .map_index = -1},
                          {.state = TI_NONE, .task = 2, .map_index = -1},
                          {.state = TI_NONE, .task = 3, .map_index = -1}};
    units_run(g, a, 4, &r);
    assert_int_equal(r.n_changes, 1);
    assert_true(r.changes[0].expand);
    assert_int_equal(r.changes[0].task, 1);
    assert_int_equal(r.changes[0].map_index, -1);
    assert_int_equal(r.changes[0].to, TI_SCHEDULED);
    assert_int_equal(r.run_state, RUN_RUNNING);
    plan_result_clear(&r);

    /* expanded to 3 (one failed, one running, one scheduled): down is upstream_failed at
     * once (Airflow's all_success), down2 waits for all; the scheduled one is queued */
    struct plan_ti b[] = {{.state = TI_SUCCESS, .task = 0, .map_index = -1},
                          {.state = TI_FAILED, .task = 1, .map_index = 0},
                          {.state = TI_RUNNING, .task = 1, .map_index = 1},
                          {.state = TI_SCHEDULED, .task = 1, .map_index = 2},
                          {.state = TI_REMOVED, .task = 1, .map_index = 3},
                          {.state = TI_NONE, .task = 2, .map_index = -1},
                          {.state = TI_NONE, .task = 3, .map_index = -1}};
    units_run(g, b, 7, &r);
    assert_int_equal(r.n_changes, 2);
    assert_int_equal(r.changes[0].task, 2);
    assert_int_equal(r.changes[0].to, TI_UPSTREAM_FAILED);
    assert_int_equal(r.changes[1].unit, 3);
    assert_int_equal(r.changes[1].map_index, 2);
    assert_int_equal(r.changes[1].to, TI_QUEUED);
    assert_false(r.changes[1].expand);
    plan_result_clear(&r);

    /* all three succeeded (index 3 removed): down and down2 run; a removed instance of a
     * mapped upstream is not a missing success */
    b[1].state = b[2].state = b[3].state = TI_SUCCESS;
    units_run(g, b, 7, &r);
    assert_int_equal(r.n_changes, 2);
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    assert_int_equal(r.changes[1].to, TI_QUEUED);
    plan_result_clear(&r);

    /* zero items: m's -1 instance skipped; down skipped, down2 (all_done) runs */
    a[1].state = TI_SKIPPED;
    units_run(g, a, 4, &r);
    assert_int_equal(r.n_changes, 2);
    assert_int_equal(r.changes[0].to, TI_SKIPPED);
    assert_int_equal(r.changes[1].to, TI_QUEUED);
    plan_result_clear(&r);

    /* an instance waiting for its retry is scheduled alone when due */
    b[1].state = TI_UP_FOR_RETRY;
    b[1].next_retry_at = NOW - 1;
    units_run(g, b, 7, &r);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(r.changes[0].map_index, 0);
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    plan_result_clear(&r);

    /* max_active_tis_per_dagrun 2 with one running: one more is queued; per_dag 2 with one
     * queued in another run: none is */
    struct plan_ti c[] = {{.state = TI_SUCCESS, .task = 0, .map_index = -1},
                          {.state = TI_RUNNING, .task = 1, .map_index = 0},
                          {.state = TI_SCHEDULED, .task = 1, .map_index = 1},
                          {.state = TI_SCHEDULED, .task = 1, .map_index = 2},
                          {.state = TI_NONE, .task = 2, .map_index = -1},
                          {.state = TI_NONE, .task = 3, .map_index = -1}};
    g->tasks[1].max_active_tis_per_dagrun = 2;
    units_run(g, c, 6, &r);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(r.changes[0].map_index, 1);
    plan_result_clear(&r);
    int active[4] = {0, 2, 0, 0};
    struct plan_limits lim = {.free_slots = -1, .active_per_task = active};
    g->tasks[1].max_active_tis_per_dagrun = 0;
    g->tasks[1].max_active_tis_per_dag = 2;
    assert_int_equal(plan_run_units(g, c, 6, &lim, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 0);
    plan_result_clear(&r);
    active[1] = 1;
    assert_int_equal(plan_run_units(g, c, 6, &lim, NOW, &r, &e), 0);
    assert_int_equal(r.n_changes, 1);
    plan_result_clear(&r);
    g->tasks[1].max_active_tis_per_dag = 0;

    /* out of order, or a task without an instance: refused */
    struct plan_ti bad[] = {b[0], b[2], b[1], b[5], b[6]};
    assert_int_equal(plan_run_units(g, bad, 5, NULL, NOW, &r, &e), -1);
    assert_int_equal(plan_run_units(g, b, 1, NULL, NOW, &r, &e), -1);
    assert_non_null(strstr(e.msg, "no task instance"));
    graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_finished),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_chain_failure_cascade),
        cmocka_unit_test(test_chain_skip_cascade),
        cmocka_unit_test(test_branch_skips),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_reschedule),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_leaf_rule),
        cmocka_unit_test(test_deadlock),
        cmocka_unit_test(test_empty_dag),
        cmocka_unit_test(test_inputs_untouched),
        cmocka_unit_test(test_after_try),
        cmocka_unit_test(test_retry_delay),
        cmocka_unit_test(test_try_end),
        cmocka_unit_test(test_mapped_units),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for plan_state, the planning state a scheduler keeps between the steps of a run:
 * over random DAGs (every trigger rule, mapped tasks, per-task limits, cycles excluded) and
 * random histories (tries ending in every state, retries and sensor pokes coming due, tasks
 * waiting on their past, limits changing from step to step), a state kept across steps and
 * told of each outside change must decide exactly what plan_run_units decides from scratch
 * on the same instances (changes in the same order, run state, next wake-up), and after its
 * own step hold exactly the states its changes name. Then the unit lookup of
 * plan_state_set, and the limits read only by a step that has something to queue. */
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
#define MAXT 24
#define MAXU 96

/* xorshift64: a reproducible stream per seed */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t
pick(uint64_t *s, size_t n)
{
    return (size_t)(rnd(s) % n);
}

/* A random DAG: edges only from lower to higher index (acyclic), task ids t0..tN. */
struct rdag {
    struct dag dag;
    struct dag_task tasks[MAXT];
    char *ups[MAXT][MAXT];
    char names[MAXT][8];
    struct dag_map map; /* shared by the mapped tasks: plan only asks whether there is one */
};

static struct rdag *
random_dag(uint64_t *s)
{
    struct rdag *d = calloc(1, sizeof(*d));
    size_t n = 2 + pick(s, MAXT - 1);
    struct err e = {0};

    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        struct dag_task *t = &d->tasks[i];
        snprintf(d->names[i], sizeof(d->names[i]), "t%zu", i);
        t->task_id = d->names[i];
        t->upstream = d->ups[i];
        /* mostly all_success, as in real DAGs; every rule now and then */
        t->trigger_rule = pick(s, 3) == 0
                              ? (enum trigger_rule)pick(s, TR_ALL_DONE_SETUP_SUCCESS + 1)
                              : TR_ALL_SUCCESS;
        if (pick(s, 5) == 0)
            t->map = &d->map;
        if (pick(s, 8) == 0)
            t->max_active_tis_per_dagrun = 1 + (int)pick(s, 2);
        if (pick(s, 8) == 0)
            t->max_active_tis_per_dag = 1 + (int)pick(s, 3);
        for (size_t j = 0; j < i; j++)
            if (pick(s, i < 4 ? 2 : 5) == 0)
                t->upstream[t->n_upstream++] = d->names[j];
    }
    d->dag.dag_id = "random";
    d->dag.tasks = d->tasks;
    d->dag.n_tasks = n;
    if (dag_index(&d->dag, &e) < 0)
        fail_msg("dag_index: %s", e.msg);
    return d;
}

static enum ti_state
random_state(uint64_t *s)
{
    /* none and the finished states more often: they are what rules read */
    static const enum ti_state pool[] = {
        TI_NONE,    TI_NONE,    TI_SUCCESS,      TI_SUCCESS,           TI_SUCCESS,
        TI_FAILED,  TI_SKIPPED, TI_UP_FOR_RETRY, TI_UPSTREAM_FAILED,   TI_REMOVED,
        TI_RUNNING, TI_QUEUED,  TI_SCHEDULED,    TI_UP_FOR_RESCHEDULE,
    };
    return pool[pick(s, sizeof(pool) / sizeof(pool[0]))];
}

/* The units of a random run: one per task, or 1 to 6 instances (map_index 0..) of a mapped
 * one (or its single unexpanded -1), in random states. */
static size_t
random_units(uint64_t *s, const struct dag *g, struct plan_ti *u)
{
    size_t n = 0;

    for (size_t t = 0; t < g->n_tasks; t++) {
        size_t k = g->tasks[t].map && pick(s, 4) != 0 ? 1 + pick(s, 6) : 1;
        for (size_t i = 0; i < k; i++)
            u[n++] = (struct plan_ti){.state = pick(s, 2) ? TI_NONE : random_state(s),
                                      .next_retry_at = NOW + (time_t)pick(s, 40),
                                      .wait_past = pick(s, 40) == 0,
                                      .task = t,
                                      .map_index = k > 1 || g->tasks[t].map ? (int)i : -1};
        if (k == 1 && g->tasks[t].map && pick(s, 2) == 0)
            u[n - 1].map_index = -1;
    }
    return n;
}

/* depends_on_past, as the test decides it: a function of the task and the step. */
struct past {
    uint64_t seed;
    int step;
    int asked;
};

static bool
past_of(void *arg, size_t task)
{
    struct past *p = arg;
    uint64_t h = p->seed * 31 + task * 7 + (uint64_t)p->step * 13;

    p->asked++;
    return h % 11 == 0;
}

static void
assert_same(const struct plan_result *want, const struct plan_result *got, uint64_t seed, int step)
{
    if (want->n_changes != got->n_changes || want->run_state != got->run_state ||
        want->next_wakeup != got->next_wakeup)
        fail_msg("seed %llu step %d: %zu changes, run %d, wake %ld from scratch; %zu, %d, %ld "
                 "kept",
                 (unsigned long long)seed, step, want->n_changes, (int)want->run_state,
                 (long)want->next_wakeup, got->n_changes, (int)got->run_state,
                 (long)got->next_wakeup);
    for (size_t k = 0; k < want->n_changes; k++) {
        const struct plan_change *a = &want->changes[k], *b = &got->changes[k];
        if (a->task != b->task || a->from != b->from || a->to != b->to || a->unit != b->unit ||
            a->map_index != b->map_index || a->expand != b->expand)
            fail_msg("seed %llu step %d change %zu: task %zu %d->%d unit %zu expand %d from "
                     "scratch; task %zu %d->%d unit %zu expand %d kept",
                     (unsigned long long)seed, step, k, a->task, (int)a->from, (int)a->to, a->unit,
                     a->expand, b->task, (int)b->from, (int)b->to, b->unit, b->expand);
    }
}

/* The changes of a step applied to units by hand. An expansion's instances are the caller's
 * to revise (store_ti_expand), so they are marked in expanded[] and not compared. */
static void
apply(struct plan_ti *u, const struct plan_result *r, bool *expanded)
{
    for (size_t k = 0; k < r->n_changes; k++) {
        const struct plan_change *c = &r->changes[k];
        if (c->expand)
            expanded[c->task] = true;
        else
            u[c->unit].state = c->to;
    }
}

static void
one_history(uint64_t seed)
{
    uint64_t s = seed;
    struct rdag *d = random_dag(&s);
    const struct dag *g = &d->dag;
    struct plan_ti u[MAXU], ref[MAXU];
    size_t n = random_units(&s, g, u);
    struct plan_state *p = NULL;
    struct past past = {.seed = seed};
    struct err e = {0};
    int active[MAXT] = {0};

    if (plan_state_new(g, u, n, &p, &e) < 0)
        fail_msg("plan_state_new: %s", e.msg);
    for (int step = 0; step < 40; step++) {
        time_t now = NOW + step * 3;
        struct plan_limits lim = {.free_slots = -1};
        struct plan_result want, got;

        past.step = step;
        /* outside changes (tries ending, claims, clears), told to the state */
        for (size_t k = pick(&s, 4); k > 0; k--) {
            size_t x = pick(&s, n);
            u[x].state = random_state(&s);
            u[x].next_retry_at = now + (time_t)pick(&s, 12);
            assert_int_equal(
                plan_state_set(p, u[x].task, u[x].map_index, u[x].state, u[x].next_retry_at), 0);
        }
        /* the limits of this step */
        if (pick(&s, 3) == 0)
            lim.max_active_tasks = 1 + (int)pick(&s, 6), lim.active_in_dag = (int)pick(&s, 4);
        if (pick(&s, 3) == 0)
            lim.free_slots = (int)pick(&s, 4);
        if (pick(&s, 4) == 0) {
            for (size_t t = 0; t < g->n_tasks; t++)
                active[t] = (int)pick(&s, 3);
            lim.active_per_task = active;
        }
        /* from scratch, past() asked of every instance in state none, as a scheduler would */
        memcpy(ref, u, n * sizeof(*u));
        for (size_t x = 0; x < n; x++)
            ref[x].wait_past |= ref[x].state == TI_NONE && past_of(&past, ref[x].task);
        if (plan_run_units(g, ref, n, &lim, now, &want, &e) < 0)
            fail_msg("plan_run_units: %s", e.msg);
        if (plan_state_step(p, &lim, now, past_of, &past, &got, &e) < 0)
            fail_msg("plan_state_step: %s", e.msg);
        assert_same(&want, &got, seed, step);
        /* the state holds what its changes say */
        bool expanded[MAXT] = {false}, any = false;
        const struct plan_ti *held;
        apply(u, &got, expanded);
        assert_int_equal(plan_state_units(p, &held), n);
        long n_active = 0, n_queued = 0;
        for (size_t x = 0; x < n; x++) {
            any |= expanded[u[x].task];
            if (expanded[u[x].task])
                u[x].state = held[x].state;
            else if (held[x].state != u[x].state)
                fail_msg("seed %llu step %d: unit %zu is %d in the state, %d by its changes",
                         (unsigned long long)seed, step, x, (int)held[x].state, (int)u[x].state);
            n_active += held[x].state == TI_QUEUED || held[x].state == TI_RUNNING;
            n_queued += held[x].state == TI_QUEUED;
        }
        assert_int_equal(plan_state_active(p), n_active); /* the runner's counts of the run */
        assert_int_equal(plan_state_queued(p), n_queued);
        plan_result_clear(&want);
        plan_result_clear(&got);
        /* an expansion, or now and then a change lost to another process: a new state */
        if (any || pick(&s, 10) == 0) {
            plan_state_free(p);
            if (plan_state_new(g, u, n, &p, &e) < 0)
                fail_msg("plan_state_new: %s", e.msg);
        }
    }
    plan_state_free(p);
    dag_index_clear(&d->dag);
    free(d);
}

static void
test_same_as_from_scratch(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3000; seed++)
        one_history(seed * 0x9E3779B97F4A7C15ULL);
}

/* A fan-out whose end waits on 200 upstreams: each end of one of them changes the end's
 * counts, and the end runs once the last one ends, after 200 steps of no change. */
static void
test_fan_in(void **state)
{
    (void)state;
    static struct dag_task tasks[202];
    static char names[202][8], *ups[200];
    struct dag g = {.dag_id = "fan", .tasks = tasks, .n_tasks = 202};
    struct plan_ti u[202] = {{0}};
    struct plan_state *p = NULL;
    struct plan_result r;
    struct err e = {0};

    for (size_t i = 0; i < 202; i++) {
        snprintf(names[i], sizeof(names[i]), "t%zu", i);
        tasks[i] = (struct dag_task){.task_id = names[i]};
        u[i] =
            (struct plan_ti){.state = i < 201 ? TI_RUNNING : TI_NONE, .task = i, .map_index = -1};
    }
    for (size_t i = 0; i < 200; i++)
        ups[i] = names[1 + i];
    tasks[201].upstream = ups;
    tasks[201].n_upstream = 200;
    u[0].state = TI_SUCCESS;
    if (dag_index(&g, &e) < 0)
        fail_msg("dag_index: %s", e.msg);
    assert_int_equal(plan_state_new(&g, u, 202, &p, &e), 0);
    for (size_t i = 1; i <= 200; i++) {
        assert_int_equal(plan_state_set(p, i, -1, i == 100 ? TI_SKIPPED : TI_SUCCESS, 0), 0);
        assert_int_equal(plan_state_step(p, NULL, NOW, NULL, NULL, &r, &e), 0);
        if (i < 100) {
            assert_int_equal(r.n_changes, 0);
            assert_int_equal(r.run_state, RUN_RUNNING);
        } else if (i == 100) { /* all_success: one skip skips the end at once */
            assert_int_equal(r.n_changes, 1);
            assert_int_equal(r.changes[0].task, 201);
            assert_int_equal(r.changes[0].to, TI_SKIPPED);
        } else {
            assert_int_equal(r.n_changes, 0);
            assert_int_equal(r.run_state, i < 200 ? RUN_RUNNING : RUN_SUCCESS);
        }
        plan_result_clear(&r);
    }
    plan_state_free(p);
    dag_index_clear(&g);
}

/* plan_state_set finds a unit by task and map_index, and says when there is none. */
static void
test_set_lookup(void **state)
{
    (void)state;
    static struct dag_map map;
    static struct dag_task tasks[2] = {{.task_id = "a"}, {.task_id = "m", .map = &map}};
    struct dag g = {.dag_id = "m", .tasks = tasks, .n_tasks = 2};
    struct plan_ti u[4] = {{.task = 0, .map_index = -1, .state = TI_SUCCESS},
                           {.task = 1, .map_index = 0, .state = TI_RUNNING},
                           {.task = 1, .map_index = 2, .state = TI_RUNNING},
                           {.task = 1, .map_index = 5, .state = TI_RUNNING}};
    const struct plan_ti *held;
    struct plan_state *p = NULL;
    struct err e = {0};

    assert_int_equal(dag_index(&g, &e), 0);
    assert_int_equal(plan_state_new(&g, u, 4, &p, &e), 0);
    assert_int_equal(plan_state_set(p, 1, 5, TI_SUCCESS, 0), 0);
    assert_int_equal(plan_state_set(p, 1, 2, TI_FAILED, 0), 0);
    assert_int_equal(plan_state_set(p, 1, 1, TI_FAILED, 0), -1);
    assert_int_equal(plan_state_set(p, 1, -1, TI_FAILED, 0), -1);
    assert_int_equal(plan_state_set(p, 2, -1, TI_FAILED, 0), -1);
    assert_int_equal(plan_state_set(p, 0, -1, TI_N_STATES, 0), -1);
    assert_int_equal(plan_state_units(p, &held), 4);
    assert_int_equal(held[0].state, TI_SUCCESS);
    assert_int_equal(held[1].state, TI_RUNNING);
    assert_int_equal(held[2].state, TI_FAILED);
    assert_int_equal(held[3].state, TI_SUCCESS);
    plan_state_free(p);
    dag_index_clear(&g);
}

/* plan_limits.fill: asked once per step that has an instance to queue, never otherwise;
 * what it fills is what the step queues by; its error fails the step. */
struct fill {
    int calls, active, fail;
};

static int
fill_of(void *arg, struct plan_limits *lim, struct err *e)
{
    struct fill *f = arg;

    f->calls++;
    lim->active_in_dag = f->active;
    return f->fail ? err_set(e, ERR_FAIL, "count failed") : 0;
}

static void
test_fill_lazily(void **state)
{
    (void)state;
    static char *up[] = {"a"};
    static struct dag_task tasks[2] = {{.task_id = "a"},
                                       {.task_id = "b", .upstream = up, .n_upstream = 1}};
    struct dag g = {.dag_id = "lazy", .tasks = tasks, .n_tasks = 2};
    struct plan_ti u[2] = {{.task = 0, .map_index = -1, .state = TI_RUNNING},
                           {.task = 1, .map_index = -1, .state = TI_NONE}};
    struct fill f = {.active = 1};
    struct plan_limits lim = {
        .max_active_tasks = 1, .free_slots = -1, .fill = fill_of, .fill_arg = &f};
    struct plan_state *p = NULL;
    struct plan_result r;
    struct err e = {0};

    assert_int_equal(dag_index(&g, &e), 0);
    assert_int_equal(plan_state_new(&g, u, 2, &p, &e), 0);
    assert_int_equal(plan_state_step(p, &lim, NOW, NULL, NULL, &r, &e), 0);
    assert_int_equal(r.n_changes, 0);
    assert_int_equal(f.calls, 0); /* nothing to queue: no count */
    plan_result_clear(&r);
    assert_int_equal(plan_state_set(p, 0, -1, TI_SUCCESS, 0), 0);
    assert_int_equal(plan_state_step(p, &lim, NOW, NULL, NULL, &r, &e), 0);
    assert_int_equal(f.calls, 1);
    assert_int_equal(r.n_changes, 1); /* the DAG is full: scheduled, not queued */
    assert_int_equal(r.changes[0].to, TI_SCHEDULED);
    plan_result_clear(&r);
    f.active = 0;
    assert_int_equal(plan_state_step(p, &lim, NOW, NULL, NULL, &r, &e), 0);
    assert_int_equal(f.calls, 2);
    assert_int_equal(r.n_changes, 1);
    assert_int_equal(r.changes[0].from, TI_SCHEDULED);
    assert_int_equal(r.changes[0].to, TI_QUEUED);
    plan_result_clear(&r);
    plan_state_free(p);

    u[0].state = TI_SUCCESS;
    f.fail = 1;
    assert_int_equal(plan_state_new(&g, u, 2, &p, &e), 0);
    assert_int_equal(plan_state_step(p, &lim, NOW, NULL, NULL, &r, &e), -1);
    assert_string_equal(e.msg, "count failed");
    assert_int_equal(r.n_changes, 0);
    plan_state_free(p);
    dag_index_clear(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_from_scratch),
        cmocka_unit_test(test_fan_in),
        cmocka_unit_test(test_set_lookup),
        cmocka_unit_test(test_fill_lazily),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

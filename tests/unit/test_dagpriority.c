/* test_dagpriority: the effective priority of each task (dagfile_priorities, run by dag_index)
 * against Airflow's priority_weight_total: downstream = the task's weight plus the weight of
 * every task downstream of it, each counted once (a diamond's far end once); upstream the
 * same upwards; absolute its own weight; the sum clamped to a 32-bit integer
 * (db_safe_priority). DAGs are built by hand, checked on known answers, and random DAGs
 * against a plain per-task walk, with reachability blocks of 1, 2 and the automatic number
 * of words so that a DAG spans many blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile_int.h"

/* A DAG of n tasks named t00000, t00001, ... with no dependencies yet. */
static struct dag *
dag_make(size_t n)
{
    struct dag *d = calloc(1, sizeof(*d));

    assert_non_null(d);
    d->dag_id = strdup("p");
    d->tasks = calloc(n + 1, sizeof(*d->tasks));
    assert_non_null(d->tasks);
    d->n_tasks = n;
    for (size_t i = 0; i < n; i++) {
        assert_true(asprintf(&d->tasks[i].task_id, "t%05zu", i) > 0);
        d->tasks[i].priority_weight = 1;
    }
    return d;
}

/* tasks[to] depends on tasks[from]. */
static void
dep(struct dag *d, size_t from, size_t to)
{
    struct dag_task *t = &d->tasks[to];
    char **grown = realloc(t->upstream, (t->n_upstream + 1) * sizeof(char *));

    assert_non_null(grown);
    t->upstream = grown;
    t->upstream[t->n_upstream++] = strdup(d->tasks[from].task_id);
}

static void
index_ok(struct dag *d)
{
    struct err e = {0};

    if (dag_index(d, &e) < 0)
        fail_msg("dag_index: %s", e.msg);
}

static void
dag_drop(struct dag *d)
{
    dag_free(d);
}

/* Airflow's rule by a walk from each task (each reached task once). */
static long long
walk_priority(const struct dag *d, size_t t, unsigned char *seen, size_t *stack)
{
    const struct dag_task *task = &d->tasks[t];
    bool down = task->weight_rule == WEIGHT_DOWNSTREAM;
    long long sum = task->priority_weight;
    size_t top = 0;

    if (task->weight_rule == WEIGHT_ABSOLUTE)
        return sum;
    memset(seen, 0, d->n_tasks);
    stack[top++] = t;
    seen[t] = 1;
    while (top > 0) {
        const struct dag_task *u = &d->tasks[stack[--top]];
        const size_t *rel = down ? u->downstream_idx : u->upstream_idx;
        size_t nrel = down ? u->n_downstream : u->n_upstream;
        for (size_t r = 0; r < nrel; r++)
            if (!seen[rel[r]]) {
                seen[rel[r]] = 1;
                stack[top++] = rel[r];
                sum += d->tasks[rel[r]].priority_weight;
            }
    }
    return sum < INT32_MIN ? INT32_MIN : sum > INT32_MAX ? INT32_MAX : sum;
}

static void
diamond(void **state)
{
    struct dag *d = dag_make(5); /* 0 -> {1, 2} -> 3 -> 4 */

    (void)state;
    dep(d, 0, 1), dep(d, 0, 2), dep(d, 1, 3), dep(d, 2, 3), dep(d, 3, 4);
    index_ok(d);
    assert_int_equal(d->tasks[0].priority, 5); /* not 7: 3 and 4 count once */
    assert_int_equal(d->tasks[1].priority, 3);
    assert_int_equal(d->tasks[2].priority, 3);
    assert_int_equal(d->tasks[3].priority, 2);
    assert_int_equal(d->tasks[4].priority, 1);
    for (size_t i = 0; i < 5; i++)
        d->tasks[i].weight_rule = WEIGHT_UPSTREAM;
    index_ok(d);
    assert_int_equal(d->tasks[4].priority, 5); /* 0 once, though two paths reach it */
    assert_int_equal(d->tasks[3].priority, 4);
    assert_int_equal(d->tasks[0].priority, 1);
    dag_drop(d);
}

static void
rules_and_weights(void **state)
{
    struct dag *d = dag_make(4); /* 0 -> 1 -> 2, 0 -> 3 */

    (void)state;
    dep(d, 0, 1), dep(d, 1, 2), dep(d, 0, 3);
    d->tasks[0].priority_weight = 10;
    d->tasks[1].priority_weight = -3;
    d->tasks[2].priority_weight = 7;
    d->tasks[3].priority_weight = 2;
    d->tasks[1].weight_rule = WEIGHT_ABSOLUTE;
    d->tasks[2].weight_rule = WEIGHT_UPSTREAM;
    index_ok(d);
    assert_int_equal(d->tasks[0].priority, 10 - 3 + 7 + 2);
    assert_int_equal(d->tasks[1].priority, -3);
    assert_int_equal(d->tasks[2].priority, 7 - 3 + 10);
    assert_int_equal(d->tasks[3].priority, 2);
    dag_drop(d);
}

static void
clamped_to_32_bits(void **state)
{
    struct dag *d = dag_make(4); /* 0 -> 1, 2 -> 3 */

    (void)state;
    dep(d, 0, 1), dep(d, 2, 3);
    d->tasks[0].priority_weight = d->tasks[1].priority_weight = INT32_MAX;
    d->tasks[2].priority_weight = d->tasks[3].priority_weight = INT32_MIN;
    index_ok(d);
    assert_int_equal(d->tasks[0].priority, INT32_MAX);
    assert_int_equal(d->tasks[1].priority, INT32_MAX);
    assert_true(d->tasks[2].priority == INT32_MIN);
    dag_drop(d);
}

/* The loader refuses cycles; a DAG built with one still indexes (the planner's tests do),
 * each task with its own weight. */
static void
cycle_own_weights(void **state)
{
    struct dag *d = dag_make(3);

    (void)state;
    dep(d, 0, 1), dep(d, 1, 2), dep(d, 2, 1);
    d->tasks[1].priority_weight = 7;
    index_ok(d);
    assert_int_equal(d->tasks[0].priority, 1);
    assert_int_equal(d->tasks[1].priority, 7);
    dag_drop(d);
}

/* A random DAG: edges only from a lower to a higher index, several in-edges per task. */
static struct dag *
random_dag(size_t n, unsigned *seed)
{
    struct dag *d = dag_make(n);

    for (size_t to = 1; to < n; to++) {
        size_t k = (size_t)(rand_r(seed) % 4);
        for (size_t j = 0; j < k; j++) {
            size_t from = (size_t)rand_r(seed) % to;
            bool have = false;
            for (size_t u = 0; u < d->tasks[to].n_upstream; u++)
                have |= strcmp(d->tasks[to].upstream[u], d->tasks[from].task_id) == 0;
            if (!have)
                dep(d, from, to);
        }
        d->tasks[to].priority_weight = rand_r(seed) % 26 - 5;
        d->tasks[to].weight_rule = (enum weight_rule)(rand_r(seed) % 3);
    }
    return d;
}

static void
random_dags_match_a_walk(void **state)
{
    static const size_t words[] = {1, 2, 0};
    unsigned seed = 20261203;

    (void)state;
    for (int round = 0; round < 6; round++) {
        struct dag *d = random_dag(150 + 70 * (size_t)round, &seed);
        unsigned char *seen = malloc(d->n_tasks);
        size_t *stack = malloc(d->n_tasks * sizeof(size_t));
        struct err e = {0};
        assert_non_null(seen), assert_non_null(stack);
        index_ok(d);
        for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
            for (size_t i = 0; i < d->n_tasks; i++)
                d->tasks[i].priority = 0;
            assert_int_equal(dagfile_priorities(d, words[w], &e), 0);
            for (size_t i = 0; i < d->n_tasks; i++)
                if (d->tasks[i].priority != walk_priority(d, i, seen, stack))
                    fail_msg("round %d, words %zu, task %zu: %lld, the walk says %lld", round,
                             words[w], i, d->tasks[i].priority, walk_priority(d, i, seen, stack));
        }
        free(seen);
        free(stack);
        dag_drop(d);
    }
}

/* The size the loader must handle: a chain of 20,000 tasks (the worst case of a per-task
 * walk) and a fan of 20,000 tasks under one root. */
static void
twenty_thousand(void **state)
{
    size_t n = 20000;
    struct dag *d = dag_make(n);

    (void)state;
    for (size_t i = 1; i < n; i++)
        dep(d, i - 1, i);
    d->tasks[n - 1].weight_rule = WEIGHT_UPSTREAM;
    index_ok(d);
    assert_int_equal(d->tasks[0].priority, (long long)n);
    assert_int_equal(d->tasks[n / 2].priority, (long long)(n - n / 2));
    assert_int_equal(d->tasks[n - 1].priority, (long long)n);
    dag_drop(d);
    d = dag_make(n);
    for (size_t i = 1; i < n; i++)
        dep(d, 0, i);
    index_ok(d);
    assert_int_equal(d->tasks[0].priority, (long long)n);
    assert_int_equal(d->tasks[n - 1].priority, 1);
    dag_drop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diamond),
        cmocka_unit_test(rules_and_weights),
        cmocka_unit_test(clamped_to_32_bits),
        cmocka_unit_test(cycle_own_weights),
        cmocka_unit_test(random_dags_match_a_walk),
        cmocka_unit_test(twenty_thousand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

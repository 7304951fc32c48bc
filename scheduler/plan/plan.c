/* plan: the pure state machine of a DAG run (see plan.h), a C transcription of Airflow's
 * TriggerRuleDep._evaluate_direct_relatives (airflow/ti_deps/deps/trigger_rule_dep.py),
 * DagRun.update_state (airflow/models/dagrun.py) and TaskInstance.next_retry_datetime
 * (airflow/models/taskinstance.py), as of Airflow 2.10 / 3.x.
 *
 * Invariant: plan_run and plan_run_units never write to their inputs: they plan on a
 * plan_state built for the call. In a step every unit changes at most once in the
 * propagation (none or up_for_retry -> scheduled, skipped or upstream_failed; up_for_reschedule
 * -> scheduled), then at most once more (scheduled -> queued). Tasks are evaluated in
 * topological order, so what Airflow spreads over several scheduler loops (a skip reaching
 * the end of a chain) happens in one step. A kept plan_state's step decides what
 * plan_run_units decides on the same states (tests/unit/test_plan_state.c checks it over
 * random DAGs and histories). */
#include "plan/plan.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitter.h"

#include "dagfile/dagfile.h"

/* Airflow's [core] max_task_retry_delay default (abstractoperator.MAX_RETRY_DELAY). */
#define MAX_RETRY_DELAY 86400.0

/* ---- trigger rules (TriggerRuleDep._evaluate_direct_relatives) ---- */

enum verdict {
    V_WAIT,            /* not met yet, may still be met */
    V_RUN,             /* met: the task can be scheduled */
    V_SKIP,            /* can never be met: skipped */
    V_UPSTREAM_FAILED, /* can never be met: upstream_failed */
};

/* Airflow's _UpstreamTIStates: counts over the *finished* upstream task instances only;
 * `upstream` is how many there are in all (every instance of a mapped upstream). Removed
 * instances count as done but are neither success nor failure; the removed instances of a
 * mapped upstream are not counted at all (see plan_run_units). */
struct up_counts {
    long upstream, success, skipped, failed, upstream_failed, removed, done;
};

/* The flag_upstream_failed branch: the state a task is moved to when its rule can no longer
 * be met, or V_WAIT when there is none. */
static enum verdict
rule_dead_end(enum trigger_rule r, const struct up_counts *c)
{
    bool all_done = c->done >= c->upstream;
    bool any_fail = c->failed || c->upstream_failed;

    switch (r) {
    case TR_ALL_SUCCESS:
        return any_fail ? V_UPSTREAM_FAILED : c->skipped ? V_SKIP : V_WAIT;
    case TR_ALL_FAILED:
        return c->success || c->skipped ? V_SKIP : V_WAIT;
    case TR_ONE_SUCCESS:
        if (all_done && c->done == c->skipped)
            return V_SKIP;
        return all_done && c->success <= 0 ? V_UPSTREAM_FAILED : V_WAIT;
    case TR_ONE_FAILED:
        return all_done && !any_fail ? V_SKIP : V_WAIT;
    case TR_ONE_DONE:
        return all_done && !(c->failed || c->success) ? V_SKIP : V_WAIT;
    case TR_NONE_FAILED:
        return any_fail ? V_UPSTREAM_FAILED : V_WAIT;
    case TR_NONE_FAILED_MIN_ONE_SUCCESS:
        return any_fail ? V_UPSTREAM_FAILED : c->skipped == c->upstream ? V_SKIP : V_WAIT;
    case TR_NONE_SKIPPED:
        return c->skipped ? V_SKIP : V_WAIT;
    case TR_ALL_SKIPPED:
        return c->success || any_fail ? V_SKIP : V_WAIT;
    case TR_ALL_DONE_MIN_ONE_SUCCESS:
        /* Airflow skips as soon as one upstream is skipped, without waiting for the rest. */
        if (c->skipped > 0)
            return V_SKIP;
        return c->success + c->failed + c->upstream_failed + c->removed >= c->upstream &&
                       c->success == 0
                   ? V_UPSTREAM_FAILED
                   : V_WAIT;
    case TR_ALL_DONE:
    case TR_ALWAYS:
    case TR_ALL_DONE_SETUP_SUCCESS: /* without setup tasks: never skipped nor failed */
        return V_WAIT;
    }
    return V_WAIT;
}

/* The passing condition of each rule (the failing statuses of _evaluate_direct_relatives). */
static bool
rule_met(enum trigger_rule r, const struct up_counts *c)
{
    bool all_done = c->done >= c->upstream;

    switch (r) {
    case TR_ALL_SUCCESS:
        return c->upstream - c->success <= 0;
    case TR_ALL_FAILED:
        return c->upstream - c->failed - c->upstream_failed <= 0;
    case TR_ALL_DONE:
    case TR_ALL_DONE_SETUP_SUCCESS:
        return all_done;
    case TR_ALL_DONE_MIN_ONE_SUCCESS:
        return c->skipped == 0 &&
               c->success + c->failed + c->upstream_failed + c->removed >= c->upstream &&
               c->success > 0;
    case TR_ALL_SKIPPED:
        return c->upstream - c->skipped <= 0;
    case TR_ONE_SUCCESS:
        return c->success > 0;
    case TR_ONE_FAILED:
        return c->failed || c->upstream_failed;
    case TR_ONE_DONE:
        return c->success + c->failed > 0;
    case TR_NONE_FAILED:
    case TR_NONE_FAILED_MIN_ONE_SUCCESS:
        return c->upstream - c->success - c->skipped <= 0;
    case TR_NONE_SKIPPED:
        return all_done && c->skipped == 0;
    case TR_ALWAYS:
        return true;
    }
    return false;
}

/* ---- the state of one run (struct plan_state) ----
 *
 * A run's planning state is kept between steps, so that a step costs what changed, not the
 * size of the run: per task, the counts of its upstream instances by state (what the trigger
 * rules read) and of its own instances to evaluate (none, up_for_retry) or active (queued,
 * running); the run's outcome as counts; bit sets of the scheduled instances (what may be
 * queued) and of those waiting for a time (retries, sensor pokes); and the tasks whose inputs
 * changed since they were last evaluated ("dirty"), by topological rank. Every change of an
 * instance's state goes through set_unit, which keeps all of them in step. A step evaluates
 * only the dirty tasks, in topological order (an upstream before its downstream tasks, so a
 * skip reaches the end of a chain in one step), then queues scheduled instances in instance
 * order while the limits allow. A task whose rule is met but that still waits (a retry not
 * due yet, depends_on_past) stays dirty for the next step. */

/* Bit sets over units, tasks or ranks: 64 per word, so finding the next scheduled instance
 * of a 20,000-task run reads at most about 300 words. */
static bool
bit_get(const uint64_t *b, size_t i)
{
    return b[i / 64] >> (i % 64) & 1;
}

static void
bit_set(uint64_t *b, size_t i)
{
    b[i / 64] |= (uint64_t)1 << (i % 64);
}

static void
bit_clear(uint64_t *b, size_t i)
{
    b[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* The first set bit at or after i, or n when there is none below n. */
static size_t
bit_next(const uint64_t *b, size_t i, size_t n)
{
    while (i < n) {
        uint64_t w = b[i / 64] >> (i % 64);
        if (w != 0) {
            i += (size_t)__builtin_ctzll(w);
            return i < n ? i : n;
        }
        i = (i / 64 + 1) * 64;
    }
    return n;
}

/* One change of a step: the unit and its state before the step. */
struct step_change {
    size_t unit;
    enum ti_state from;
};

struct plan_state {
    const struct dag *g;
    struct plan_ti *u; /* the units (owned), sorted by task then map_index */
    size_t n;
    size_t *first, *count; /* per task: its range in u[] */
    size_t *order, *rank;  /* tasks in topological order; each task's place in it */
    struct up_counts *up;  /* per task: over its upstream units, as they stand */
    long *todo, *active;   /* per task: units in none or up_for_retry; queued or running */
    uint64_t *dirty;       /* by rank: tasks to evaluate at the next step */
    size_t cursor;         /* during propagate: the rank being evaluated (else SIZE_MAX) */
    bool behind;           /* a task at or before the cursor became dirty (only in a cycle) */
    uint64_t *sched;       /* by unit: scheduled */
    uint64_t *timed;       /* by unit: up_for_retry or up_for_reschedule */
    long unfinished;       /* units not finished */
    long progress;         /* units scheduled, queued, running, up_for_retry, up_for_reschedule */
    long flagged;          /* unfinished units whose plan_ti.wait_past is set */
    long leaf_failed;      /* units of leaf tasks failed or upstream_failed */
    long active_units;     /* units queued or running */
    long queued_units;     /* units queued */
    /* one step's work space: its changes (the propagation's first, then the queued ones),
     * the units among the first, the tasks being expanded, those to evaluate again */
    struct step_change *seq;
    size_t n_seq, n_all;
    uint64_t *changed;
    bool *expand;
    uint64_t *told; /* by task: its expand change is in the result */
    size_t *again;
    size_t n_again;
};

static bool
is_todo(enum ti_state s)
{
    return s == TI_NONE || s == TI_UP_FOR_RETRY;
}

static bool
is_timed(enum ti_state s)
{
    return s == TI_UP_FOR_RETRY || s == TI_UP_FOR_RESCHEDULE;
}

static void
mark_dirty(struct plan_state *p, size_t task)
{
    size_t r = p->rank[task];

    bit_set(p->dirty, r);
    p->behind |= p->cursor != SIZE_MAX && r <= p->cursor;
}

/* Add (sign 1) or remove (-1) unit x in state s to the counts of a downstream task. The
 * removed instances of a mapped upstream are not counted at all (see plan_run_units). */
static void
count_unit(const struct plan_state *p, struct up_counts *k, size_t x, enum ti_state s, long sign)
{
    if (s == TI_REMOVED && p->u[x].map_index >= 0 && p->g->tasks[p->u[x].task].map != NULL)
        return;
    k->upstream += sign;
    k->success += sign * (s == TI_SUCCESS);
    k->skipped += sign * (s == TI_SKIPPED);
    k->failed += sign * (s == TI_FAILED);
    k->upstream_failed += sign * (s == TI_UPSTREAM_FAILED);
    k->removed += sign * (s == TI_REMOVED);
    k->done += sign * ti_state_finished(s);
}

/* Add or remove unit x in state s to the run's and its task's own counts and bit sets. */
static void
account(struct plan_state *p, size_t x, enum ti_state s, long sign)
{
    size_t t = p->u[x].task;
    bool fin = ti_state_finished(s);

    p->todo[t] += sign * is_todo(s);
    p->active[t] += sign * (s == TI_QUEUED || s == TI_RUNNING);
    p->active_units += sign * (s == TI_QUEUED || s == TI_RUNNING);
    p->queued_units += sign * (s == TI_QUEUED);
    p->unfinished += sign * !fin;
    p->progress += sign * (s == TI_SCHEDULED || s == TI_QUEUED || s == TI_RUNNING || is_timed(s));
    p->flagged += sign * (!fin && p->u[x].wait_past);
    p->leaf_failed +=
        sign * (p->g->tasks[t].n_downstream == 0 && (s == TI_FAILED || s == TI_UPSTREAM_FAILED));
    if (s == TI_SCHEDULED)
        (sign > 0 ? bit_set : bit_clear)(p->sched, x);
    if (is_timed(s))
        (sign > 0 ? bit_set : bit_clear)(p->timed, x);
}

/* The one way a unit's state changes: every count and set follows, and the tasks whose
 * evaluation it may change (its downstream tasks; itself when it has to be evaluated again)
 * become dirty. */
static void
set_unit(struct plan_state *p, size_t x, enum ti_state to, time_t next_retry_at)
{
    enum ti_state from = p->u[x].state;
    const struct dag_task *t = &p->g->tasks[p->u[x].task];

    p->u[x].next_retry_at = next_retry_at;
    if (from == to)
        return;
    for (size_t j = 0; j < t->n_downstream; j++) {
        size_t d = t->downstream_idx[j];
        count_unit(p, &p->up[d], x, from, -1);
        count_unit(p, &p->up[d], x, to, 1);
        mark_dirty(p, d);
    }
    account(p, x, from, -1);
    p->u[x].state = to;
    account(p, x, to, 1);
    if (is_todo(to))
        mark_dirty(p, p->u[x].task);
}

static enum verdict
evaluate(const struct plan_state *p, size_t i)
{
    const struct dag_task *t = &p->g->tasks[i];
    enum verdict v;

    if (t->n_upstream == 0 || t->trigger_rule == TR_ALWAYS)
        return V_RUN;
    v = rule_dead_end(t->trigger_rule, &p->up[i]);
    if (v != V_WAIT)
        return v;
    return rule_met(t->trigger_rule, &p->up[i]) ? V_RUN : V_WAIT;
}

/* Depth-first post-order over upstream edges: a topological order (a cycle, which the DAG
 * loader rejects anyway, is simply cut). Uses an explicit stack: chains can be long. */
static int
topo_order(const struct dag *g, size_t *order)
{
    size_t n = g->n_tasks, k = 0, sp = 0;
    unsigned char *mark = calloc(n + 1, 1);
    size_t *stack = calloc(n + 1, sizeof(*stack));
    size_t *next = calloc(n + 1, sizeof(*next));

    if (mark == NULL || stack == NULL || next == NULL) {
        free(mark);
        free(stack);
        free(next);
        return -1;
    }
    for (size_t r = 0; r < n; r++) {
        if (mark[r])
            continue;
        mark[r] = 1;
        next[r] = 0;
        stack[sp++] = r;
        while (sp > 0) {
            size_t v = stack[sp - 1];
            if (next[v] < g->tasks[v].n_upstream) {
                size_t u = g->tasks[v].upstream_idx[next[v]++];
                if (!mark[u]) {
                    mark[u] = 1;
                    next[u] = 0;
                    stack[sp++] = u;
                }
            } else {
                sp--;
                order[k++] = v;
            }
        }
    }
    free(mark);
    free(stack);
    free(next);
    return 0;
}

/* Unit x changes in the propagation (at most once in a step: it leaves none, up_for_retry
 * or up_for_reschedule, and nothing moves a unit back there within a step). */
static void
step_set(struct plan_state *p, size_t x, enum ti_state to)
{
    p->seq[p->n_seq++] = (struct step_change){x, p->u[x].state};
    bit_set(p->changed, x);
    set_unit(p, x, to, p->u[x].next_retry_at);
}

/* A sensor waiting in up_for_reschedule whose next poke is due is scheduled again, as
 * Airflow's scheduler does once its reschedule_date has passed: its trigger rule was met
 * when it first ran and is not evaluated again. */
static void
reschedule_due(struct plan_state *p, time_t now)
{
    for (size_t x = bit_next(p->timed, 0, p->n); x < p->n; x = bit_next(p->timed, x + 1, p->n))
        if (p->u[x].state == TI_UP_FOR_RESCHEDULE && p->u[x].next_retry_at <= now)
            step_set(p, x, TI_SCHEDULED);
}

/* One step of task i: its verdict, evaluated once, applied to each of its instances. Airflow
 * evaluates only none and up_for_retry task instances (SCHEDULEABLE_STATES); an up_for_retry
 * one is scheduled only once its retry is due, but is flagged skipped / upstream_failed like
 * any other. A mapped task's none instances are scheduled by its expansion (the caller's).
 * An instance that waits on its past (plan_ti.wait_past, or past() for one in state none,
 * asked at most once per task and step) is left as it is. */
static void
step_task(struct plan_state *p, size_t i, time_t now, plan_past_fn past, void *arg)
{
    bool mapped = p->g->tasks[i].map != NULL, waits = false;
    int past_says = -1; /* not asked yet */
    enum verdict v;

    if (p->todo[i] == 0)
        return;
    v = evaluate(p, i);
    if (v == V_WAIT)
        return;
    for (size_t x = p->first[i]; x < p->first[i] + p->count[i]; x++) {
        enum ti_state s = p->u[x].state;
        if (!is_todo(s))
            continue;
        if (v == V_SKIP) {
            step_set(p, x, TI_SKIPPED);
            continue;
        }
        if (v == V_UPSTREAM_FAILED) {
            step_set(p, x, TI_UPSTREAM_FAILED);
            continue;
        }
        if (s == TI_NONE && !p->u[x].wait_past && past != NULL && past_says < 0)
            past_says = past(arg, i);
        if (p->u[x].wait_past || (s == TI_NONE && past_says > 0) ||
            (s == TI_UP_FOR_RETRY && p->u[x].next_retry_at > now)) {
            waits = true;
            continue;
        }
        if (s == TI_NONE && mapped)
            p->expand[i] = true;
        step_set(p, x, TI_SCHEDULED);
    }
    if (waits)
        p->again[p->n_again++] = i;
}

/* The dirty tasks in topological order: an upstream's change is seen by its downstream tasks
 * in the same pass (their rank is higher). Only a cycle, which the loader rejects, can make a
 * task dirty behind the pass: then passes repeat until nothing moves (each unit changes at
 * most once in a step, so that ends). */
static void
propagate(struct plan_state *p, time_t now, plan_past_fn past, void *arg)
{
    size_t nt = p->g->n_tasks;

    do {
        p->behind = false;
        for (size_t r = bit_next(p->dirty, 0, nt); r < nt; r = bit_next(p->dirty, r + 1, nt)) {
            bit_clear(p->dirty, r);
            p->cursor = r;
            step_task(p, p->order[r], now, past, arg);
        }
        p->cursor = SIZE_MAX;
    } while (p->behind);
}

/* Whether task t may have one more queued instance: its max_active_tis_per_dagrun (its
 * queued and running instances in this run, counted as they are decided) and
 * max_active_tis_per_dag (those of every run, lim->active_per_task, plus this step's). Once
 * false for a task, it stays false for the rest of the step (the counts only grow). */
static bool
task_has_room(const struct plan_state *p, const struct plan_limits *lim, size_t t, long added)
{
    const struct dag_task *task = &p->g->tasks[t];
    long in_run = p->active[t], in_dag;

    if (task->max_active_tis_per_dag <= 0 && task->max_active_tis_per_dagrun <= 0)
        return true;
    in_dag = lim && lim->active_per_task ? lim->active_per_task[t] + added : in_run;
    return (task->max_active_tis_per_dagrun <= 0 || in_run < task->max_active_tis_per_dagrun) &&
           (task->max_active_tis_per_dag <= 0 || in_dag < task->max_active_tis_per_dag);
}

/* scheduled -> queued in unit order while max_active_tasks, the per-task limits and free slots
 * allow; the instances of a task being expanded wait for their expansion. A task that has no
 * room left is passed over whole. */
static int
queue_scheduled(struct plan_state *p, struct plan_limits *lim, struct err *e)
{
    long cap = LONG_MAX, queued = 0, task_queued = 0;
    size_t cur = (size_t)-1, x = bit_next(p->sched, 0, p->n);

    if (x >= p->n)
        return 0; /* nothing scheduled: no limit to read */
    if (lim != NULL && lim->fill != NULL && lim->fill(lim->fill_arg, lim, e) < 0)
        return -1;
    if (lim != NULL && lim->max_active_tasks > 0)
        cap = (long)lim->max_active_tasks - lim->active_in_dag;
    if (lim != NULL && lim->free_slots >= 0 && lim->free_slots < cap)
        cap = lim->free_slots;
    while (x < p->n && queued < cap) {
        size_t t = p->u[x].task;
        if (t != cur)
            cur = t, task_queued = 0;
        if (p->expand[t] || !task_has_room(p, lim, t, task_queued)) {
            x = bit_next(p->sched, p->first[t] + p->count[t], p->n);
            continue;
        }
        if (!bit_get(p->changed, x)) /* scheduled before the step: a change of its own */
            p->seq[p->n_all++] = (struct step_change){x, TI_SCHEDULED};
        set_unit(p, x, TI_QUEUED, p->u[x].next_retry_at);
        queued++;
        task_queued++;
        x = bit_next(p->sched, x + 1, p->n);
    }
    return 0;
}

/* DagRun.update_state: finished -> the leaves decide (removed leaves ignored); unfinished
 * with nothing scheduled, queued, running, waiting for a retry or waiting on its past ->
 * deadlock -> failed. Only then is past() asked of every instance in state none. */
static enum run_state
run_outcome(const struct plan_state *p, plan_past_fn past, void *arg)
{
    if (p->unfinished == 0)
        return p->leaf_failed ? RUN_FAILED : RUN_SUCCESS;
    if (p->progress > 0 || p->flagged > 0)
        return RUN_RUNNING;
    for (size_t i = 0; past != NULL && i < p->g->n_tasks; i++) {
        bool none = false;
        for (size_t x = p->first[i]; x < p->first[i] + p->count[i] && !none; x++)
            none = p->u[x].state == TI_NONE;
        if (none && past(arg, i))
            return RUN_RUNNING;
    }
    return RUN_FAILED;
}

static time_t
next_wakeup(const struct plan_state *p, time_t now)
{
    time_t w = 0;

    for (size_t x = bit_next(p->timed, 0, p->n); x < p->n; x = bit_next(p->timed, x + 1, p->n)) {
        time_t t = p->u[x].next_retry_at;
        if (t > now && (w == 0 || t < w))
            w = t;
    }
    return w;
}

/* The step's changes, from each unit's state before the step to its state now: the
 * propagation's in the order they happened, then the units that were already scheduled and
 * got a slot. An expanded task gives one change only, its first unit in state none. */
static int
collect_changes(struct plan_state *p, struct plan_result *out)
{
    size_t n = 0;

    if ((out->changes = calloc(p->n_all + 1, sizeof(*out->changes))) == NULL)
        return -1;
    for (size_t k = 0; k < p->n_all; k++) {
        size_t x = p->seq[k].unit, t = p->u[x].task;
        bool expand = k < p->n_seq && p->expand[t] && p->seq[k].from == TI_NONE;
        if (expand && bit_get(p->told, t))
            continue;
        if (expand)
            bit_set(p->told, t);
        out->changes[n++] = (struct plan_change){.task = t,
                                                 .from = p->seq[k].from,
                                                 .to = p->u[x].state,
                                                 .unit = x,
                                                 .map_index = p->u[x].map_index,
                                                 .expand = expand};
    }
    out->n_changes = n;
    return 0;
}

/* The step's work space back to empty; the tasks that still wait are evaluated next time. */
static void
step_done(struct plan_state *p)
{
    for (size_t k = 0; k < p->n_seq; k++) {
        size_t t = p->u[p->seq[k].unit].task;
        bit_clear(p->changed, p->seq[k].unit);
        bit_clear(p->told, t);
        p->expand[t] = false;
    }
    for (size_t k = 0; k < p->n_again; k++)
        bit_set(p->dirty, p->rank[p->again[k]]);
    p->n_seq = p->n_all = p->n_again = 0;
}

static int
check_input(const struct dag *g, const struct plan_ti *tis, size_t n, struct err *e)
{
    if (g == NULL || (g->n_tasks > 0 && (tis == NULL || g->tasks == NULL)))
        return err_set(e, ERR_FAIL, "plan: missing DAG, task instances or result");
    for (size_t i = 0; i < g->n_tasks; i++)
        if ((g->tasks[i].n_upstream > 0 && g->tasks[i].upstream_idx == NULL) ||
            (g->tasks[i].n_downstream > 0 && g->tasks[i].downstream_idx == NULL))
            return err_set(e, ERR_FAIL, "plan: DAG '%s' is not indexed (dag_index)",
                           g->dag_id ? g->dag_id : "?");
    for (size_t x = 0; x < n; x++) {
        if ((unsigned)tis[x].state >= TI_N_STATES)
            return err_set(e, ERR_FAIL, "plan: task instance %zu has invalid state %d", x,
                           (int)tis[x].state);
        if (tis[x].task >= g->n_tasks || (x > 0 && (tis[x].task < tis[x - 1].task ||
                                                    (tis[x].task == tis[x - 1].task &&
                                                     tis[x].map_index <= tis[x - 1].map_index))))
            return err_set(e, ERR_FAIL, "plan: task instance %zu is out of order or of no task", x);
    }
    return 0;
}

long
plan_state_active(const struct plan_state *p)
{
    return p->active_units;
}

long
plan_state_queued(const struct plan_state *p)
{
    return p->queued_units;
}

void
plan_state_free(struct plan_state *p)
{
    if (p == NULL)
        return;
    free(p->u);
    free(p->first);
    free(p->count);
    free(p->order);
    free(p->rank);
    free(p->up);
    free(p->todo);
    free(p->active);
    free(p->dirty);
    free(p->sched);
    free(p->timed);
    free(p->seq);
    free(p->changed);
    free(p->expand);
    free(p->told);
    free(p->again);
    free(p);
}

/* The counts and sets of a state just filled with its units; every task dirty. */
static int
state_index(struct plan_state *p, struct err *e)
{
    const struct dag *g = p->g;

    for (size_t x = 0; x < p->n; x++) {
        size_t t = p->u[x].task;
        if (p->count[t]++ == 0)
            p->first[t] = x;
    }
    for (size_t t = 0; t < g->n_tasks; t++)
        if (p->count[t] == 0)
            return err_set(e, ERR_FAIL, "plan: task '%s' has no task instance",
                           g->tasks[t].task_id ? g->tasks[t].task_id : "?");
    for (size_t k = 0; k < g->n_tasks; k++) {
        p->rank[p->order[k]] = k;
        bit_set(p->dirty, k);
    }
    for (size_t x = 0; x < p->n; x++)
        account(p, x, p->u[x].state, 1);
    for (size_t t = 0; t < g->n_tasks; t++)
        for (size_t j = 0; j < g->tasks[t].n_upstream; j++) {
            size_t up = g->tasks[t].upstream_idx[j];
            for (size_t x = p->first[up]; x < p->first[up] + p->count[up]; x++)
                count_unit(p, &p->up[t], x, p->u[x].state, 1);
        }
    return 0;
}

/* A run's planning state from its units (see plan.h). */
int
plan_state_new(const struct dag *g, const struct plan_ti *units, size_t n, struct plan_state **out,
               struct err *e)
{
    struct plan_state *p;
    size_t nt = g ? g->n_tasks : 0, wu = n / 64 + 1, wt = nt / 64 + 1;

    *out = NULL;
    if (check_input(g, units, n, e) < 0)
        return -1;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return err_set(e, ERR_FAIL, "plan: out of memory");
    p->g = g;
    p->n = n;
    p->cursor = SIZE_MAX;
    p->u = calloc(n + 1, sizeof(*p->u));
    p->first = calloc(nt + 1, sizeof(*p->first));
    p->count = calloc(nt + 1, sizeof(*p->count));
    p->order = calloc(nt + 1, sizeof(*p->order));
    p->rank = calloc(nt + 1, sizeof(*p->rank));
    p->up = calloc(nt + 1, sizeof(*p->up));
    p->todo = calloc(nt + 1, sizeof(*p->todo));
    p->active = calloc(nt + 1, sizeof(*p->active));
    p->dirty = calloc(wt, sizeof(*p->dirty));
    p->sched = calloc(wu, sizeof(*p->sched));
    p->timed = calloc(wu, sizeof(*p->timed));
    p->seq = calloc(n + 1, sizeof(*p->seq));
    p->changed = calloc(wu, sizeof(*p->changed));
    p->expand = calloc(nt + 1, sizeof(*p->expand));
    p->told = calloc(wt, sizeof(*p->told));
    p->again = calloc(nt + 1, sizeof(*p->again));
    if (p->u == NULL || p->first == NULL || p->count == NULL || p->order == NULL ||
        p->rank == NULL || p->up == NULL || p->todo == NULL || p->active == NULL ||
        p->dirty == NULL || p->sched == NULL || p->timed == NULL || p->seq == NULL ||
        p->changed == NULL || p->expand == NULL || p->told == NULL || p->again == NULL ||
        topo_order(g, p->order) < 0) {
        plan_state_free(p);
        return err_set(e, ERR_FAIL, "plan: out of memory");
    }
    if (n > 0)
        memcpy(p->u, units, n * sizeof(*units));
    if (state_index(p, e) < 0) {
        plan_state_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

/* A change of one unit decided elsewhere (see plan.h). */
int
plan_state_set(struct plan_state *p, size_t task, int map_index, enum ti_state state,
               time_t next_retry_at)
{
    size_t lo, hi;

    if (p == NULL || task >= p->g->n_tasks || (unsigned)state >= TI_N_STATES)
        return -1;
    lo = p->first[task];
    hi = lo + p->count[task];
    while (lo < hi) { /* the task's units are sorted by map_index */
        size_t mid = lo + (hi - lo) / 2;
        if (p->u[mid].map_index < map_index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= p->first[task] + p->count[task] || p->u[lo].map_index != map_index)
        return -1;
    set_unit(p, lo, state, next_retry_at);
    return 0;
}

/* Decide the next transitions from the state and apply them to it (see plan.h). */
int
plan_state_step(struct plan_state *p, struct plan_limits *lim, time_t now, plan_past_fn past,
                void *arg, struct plan_result *out, struct err *e)
{
    if (out != NULL)
        *out = (struct plan_result){0};
    if (p == NULL || out == NULL)
        return err_set(e, ERR_FAIL, "plan: missing state or result");
    reschedule_due(p, now);
    propagate(p, now, past, arg);
    p->n_all = p->n_seq;
    if (queue_scheduled(p, lim, e) < 0) {
        step_done(p);
        return -1;
    }
    if (collect_changes(p, out) < 0) {
        step_done(p);
        return err_set(e, ERR_FAIL, "plan: out of memory");
    }
    out->run_state = run_outcome(p, past, arg);
    out->next_wakeup = next_wakeup(p, now);
    step_done(p);
    return 0;
}

size_t
plan_state_units(const struct plan_state *p, const struct plan_ti **units)
{
    *units = p ? p->u : NULL;
    return p ? p->n : 0;
}

/* Decide the next transitions of one run, instance by instance (see plan.h): a state built
 * for this call only. */
int
plan_run_units(const struct dag *g, const struct plan_ti *tis, size_t n,
               const struct plan_limits *lim, time_t now, struct plan_result *out, struct err *e)
{
    struct plan_state *p = NULL;
    struct plan_limits l;
    int rc;

    if (out != NULL)
        *out = (struct plan_result){0};
    if (out == NULL)
        return err_set(e, ERR_FAIL, "plan: missing DAG, task instances or result");
    if (plan_state_new(g, tis, n, &p, e) < 0)
        return -1;
    if (lim != NULL)
        l = *lim;
    rc = plan_state_step(p, lim ? &l : NULL, now, NULL, NULL, out, e);
    plan_state_free(p);
    return rc;
}

/* One task instance per task (see plan.h): plan_run_units with tis[i] as task i's. */
int
plan_run(const struct dag *g, const struct plan_ti *tis, const struct plan_limits *lim, time_t now,
         struct plan_result *out, struct err *e)
{
    size_t n = g ? g->n_tasks : 0;
    struct plan_ti *u = calloc(n + 1, sizeof(*u));
    int rc;

    if (u == NULL)
        return err_set(e, ERR_FAIL, "plan: out of memory");
    for (size_t i = 0; tis && i < n; i++) {
        u[i] = tis[i];
        u[i].task = i;
        u[i].map_index = -1;
    }
    rc = plan_run_units(g, tis ? u : NULL, n, lim, now, out, e);
    free(u);
    return rc;
}

/* Free the changes of a result; the struct itself is the caller's. */
void
plan_result_clear(struct plan_result *r)
{
    if (r == NULL)
        return;
    free(r->changes);
    r->changes = NULL;
    r->n_changes = 0;
}

/* ---- tries ---- */

/* Airflow's TaskInstance.is_eligible_to_retry: retries set and try_number <= max_tries. */
enum ti_state
plan_after_try(enum try_outcome outcome, int try_number, int retries)
{
    switch (outcome) {
    case TRY_SUCCESS:
        return TI_SUCCESS;
    case TRY_SKIPPED:
        return TI_SKIPPED;
    case TRY_FAILED:
        return retries > 0 && try_number <= retries ? TI_UP_FOR_RETRY : TI_FAILED;
    case TRY_PERMANENT:
        return TI_FAILED;
    case TRY_RESCHEDULE:
        return TI_UP_FOR_RESCHEDULE;
    }
    return TI_FAILED;
}

/* Airflow's next_retry_datetime, as a delay after the try's end (see plan.h). */
double
plan_retry_delay(double retry_delay, bool exponential, double max_retry_delay, const char *dag_id,
                 const char *task_id, const char *logical_date, int try_number)
{
    double backoff, delay;

    if (!exponential)
        return retry_delay;
    backoff = ceil(ldexp(retry_delay, try_number == INT_MIN ? INT_MIN : try_number - 1));
    if (!(backoff < MAX_RETRY_DELAY)) {
        /* modded_hash >= min_backoff >= the cap (overflow or infinity included) */
        delay = MAX_RETRY_DELAY;
    } else {
        uint64_t m = backoff < 1 ? 1 : (uint64_t)backoff;
        delay = (double)(m + jitter_sha1_mod(dag_id, task_id, logical_date, try_number, m));
        if (delay > MAX_RETRY_DELAY)
            delay = MAX_RETRY_DELAY;
    }
    if (max_retry_delay > 0 && max_retry_delay < delay)
        delay = max_retry_delay;
    return delay;
}

/* str(datetime) of an aware UTC datetime (see plan.h). */
void
plan_logical_str(time_t logical_date, long usec, char out[40])
{
    struct tm tm;
    char frac[8] = "";

    gmtime_r(&logical_date, &tm);
    if (usec > 0 && usec < 1000000)
        snprintf(frac, sizeof(frac), ".%06ld", usec);
    snprintf(out, 40, "%04d-%02d-%02d %02d:%02d:%02d%s+00:00", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, frac);
}

/* A try's end -> next state and retry time (see plan.h). */
enum ti_state
plan_try_end(const struct dag_task *task, const char *dag_id, const char *logical_str,
             enum try_outcome outcome, int try_number, int max_tries, double end,
             double *next_retry_at)
{
    enum ti_state to = plan_after_try(outcome, try_number, max_tries);

    *next_retry_at = 0;
    if (to != TI_UP_FOR_RETRY)
        return to;
    *next_retry_at = end;
    if (task != NULL)
        *next_retry_at +=
            plan_retry_delay(task->retry_delay, task->retry_exponential_backoff,
                             task->max_retry_delay, dag_id, task->task_id, logical_str, try_number);
    return to;
}

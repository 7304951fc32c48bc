/* plan: the pure state machine of a DAG run (see plan.h), a C transcription of Airflow's
 * TriggerRuleDep._evaluate_direct_relatives (airflow/ti_deps/deps/trigger_rule_dep.py),
 * DagRun.update_state (airflow/models/dagrun.py) and TaskInstance.next_retry_datetime
 * (airflow/models/taskinstance.py), as of Airflow 2.10 / 3.x.
 *
 * Invariant: plan_run never writes to its inputs. It works on a private copy of the states,
 * and every task changes at most once in a call (none or up_for_retry -> scheduled, skipped
 * or upstream_failed; scheduled -> queued), so the passes over the tasks reach a fixed point
 * after at most n + 1 passes; visiting tasks in topological order makes that one pass plus
 * one that confirms nothing moved. What Airflow spreads over several scheduler loops (a skip
 * reaching the end of a chain) therefore happens in one call. */
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

/* ---- plan_run ---- */

/* Work space of one plan_run_units call. Units are task instances: first[t] and count[t] give
 * task t's range in tis[] and st[]. */
struct run_ctx {
    const struct dag *g;
    const struct plan_ti *tis;
    size_t n;
    time_t now;
    enum ti_state *st; /* the states as decided so far, per unit */
    size_t *first, *count;
    bool *expand;  /* per task: to be expanded by the caller */
    size_t *order; /* tasks, upstream before downstream where the graph allows */
    size_t *seq;   /* units in the order they changed */
    size_t n_seq;
};

static struct up_counts
count_upstream(const struct run_ctx *c, const struct dag_task *t)
{
    struct up_counts k = {0};

    for (size_t j = 0; j < t->n_upstream; j++) {
        size_t u = t->upstream_idx[j];
        bool mapped = c->g->tasks[u].map != NULL;
        for (size_t x = c->first[u]; x < c->first[u] + c->count[u]; x++) {
            enum ti_state s = c->st[x];
            if (mapped && s == TI_REMOVED && c->tis[x].map_index >= 0)
                continue;
            k.upstream++;
            k.success += s == TI_SUCCESS;
            k.skipped += s == TI_SKIPPED;
            k.failed += s == TI_FAILED;
            k.upstream_failed += s == TI_UPSTREAM_FAILED;
            k.removed += s == TI_REMOVED;
            k.done += ti_state_finished(s);
        }
    }
    return k;
}

static enum verdict
evaluate(const struct run_ctx *c, const struct dag_task *t)
{
    struct up_counts k;
    enum verdict v;

    if (t->n_upstream == 0 || t->trigger_rule == TR_ALWAYS)
        return V_RUN;
    k = count_upstream(c, t);
    v = rule_dead_end(t->trigger_rule, &k);
    if (v != V_WAIT)
        return v;
    return rule_met(t->trigger_rule, &k) ? V_RUN : V_WAIT;
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

/* One unit's step under its task's verdict v: Airflow evaluates only none and up_for_retry task
 * instances (SCHEDULEABLE_STATES); an up_for_retry one is scheduled only once its retry is
 * due, but is flagged skipped / upstream_failed like any other. A mapped task's none
 * instances are scheduled by its expansion (the caller's), not here. */
static bool
step_unit(struct run_ctx *c, size_t x, enum verdict v, bool mapped)
{
    enum ti_state s = c->st[x];

    if (s != TI_NONE && s != TI_UP_FOR_RETRY)
        return false;
    if (v == V_SKIP)
        c->st[x] = TI_SKIPPED;
    else if (v == V_UPSTREAM_FAILED)
        c->st[x] = TI_UPSTREAM_FAILED;
    else if (v == V_RUN && c->tis[x].wait_past)
        return false;
    else if (v == V_RUN && s == TI_NONE && mapped) {
        c->expand[c->tis[x].task] = true;
        c->st[x] = TI_SCHEDULED;
    } else if (v == V_RUN && (s == TI_NONE || c->tis[x].next_retry_at <= c->now))
        c->st[x] = TI_SCHEDULED;
    else
        return false;
    c->seq[c->n_seq++] = x;
    return true;
}

/* One step of task i: its verdict, evaluated once, applied to each of its instances. */
static bool
step(struct run_ctx *c, size_t i)
{
    bool changed = false, todo = false;
    enum verdict v;

    for (size_t x = c->first[i]; x < c->first[i] + c->count[i] && !todo; x++)
        todo = c->st[x] == TI_NONE || c->st[x] == TI_UP_FOR_RETRY;
    if (!todo)
        return false;
    v = evaluate(c, &c->g->tasks[i]);
    for (size_t x = c->first[i]; x < c->first[i] + c->count[i]; x++)
        changed |= step_unit(c, x, v, c->g->tasks[i].map != NULL);
    return changed;
}

/* A sensor waiting in up_for_reschedule whose next poke is due is scheduled again, as
 * Airflow's scheduler does once its reschedule_date has passed: its trigger rule was met
 * when it first ran and is not evaluated again. */
static void
reschedule_due(struct run_ctx *c)
{
    for (size_t x = 0; x < c->n; x++)
        if (c->st[x] == TI_UP_FOR_RESCHEDULE && c->tis[x].next_retry_at <= c->now) {
            c->st[x] = TI_SCHEDULED;
            c->seq[c->n_seq++] = x;
        }
}

static void
propagate(struct run_ctx *c)
{
    bool changed;

    do {
        changed = false;
        for (size_t k = 0; k < c->g->n_tasks; k++)
            changed |= step(c, c->order[k]);
    } while (changed);
}

/* Whether task t may have one more queued instance: its max_active_tis_per_dagrun (its
 * queued and running instances in this run, counted as they are decided) and
 * max_active_tis_per_dag (those of every run, lim->active_per_task, plus this call's). */
static bool
task_has_room(const struct run_ctx *c, const struct plan_limits *lim, size_t t, long added)
{
    const struct dag_task *task = &c->g->tasks[t];
    long in_run = 0, in_dag;

    if (task->max_active_tis_per_dag <= 0 && task->max_active_tis_per_dagrun <= 0)
        return true;
    for (size_t x = c->first[t]; x < c->first[t] + c->count[t]; x++)
        in_run += c->st[x] == TI_QUEUED || c->st[x] == TI_RUNNING;
    in_dag = lim && lim->active_per_task ? lim->active_per_task[t] + added : in_run;
    return (task->max_active_tis_per_dagrun <= 0 || in_run < task->max_active_tis_per_dagrun) &&
           (task->max_active_tis_per_dag <= 0 || in_dag < task->max_active_tis_per_dag);
}

/* scheduled -> queued in unit order while max_active_tasks, the per-task limits and free slots
 * allow; the instances of a task being expanded wait for their expansion. */
static void
queue_scheduled(struct run_ctx *c, const struct plan_limits *lim)
{
    long cap_dag = LONG_MAX, cap_slots = LONG_MAX, queued = 0, task_queued = 0;
    size_t cur = (size_t)-1;

    if (lim != NULL && lim->max_active_tasks > 0)
        cap_dag = (long)lim->max_active_tasks - lim->active_in_dag;
    if (lim != NULL && lim->free_slots >= 0)
        cap_slots = lim->free_slots;
    for (size_t x = 0; x < c->n; x++) {
        size_t t = c->tis[x].task;
        if (t != cur)
            cur = t, task_queued = 0;
        if (c->st[x] != TI_SCHEDULED || c->expand[t] || queued >= cap_dag || queued >= cap_slots ||
            !task_has_room(c, lim, t, task_queued))
            continue;
        c->st[x] = TI_QUEUED;
        queued++;
        task_queued++;
    }
}

/* DagRun.update_state: finished -> the leaves decide (removed leaves ignored); unfinished
 * with nothing scheduled, queued, running or waiting for a retry -> deadlock -> failed. */
static enum run_state
run_outcome(const struct run_ctx *c)
{
    bool unfinished = false, progress = false, leaf_failed = false;

    for (size_t x = 0; x < c->n; x++) {
        enum ti_state s = c->st[x];
        if (!ti_state_finished(s)) {
            unfinished = true;
            progress |= s == TI_SCHEDULED || s == TI_QUEUED || s == TI_RUNNING ||
                        s == TI_UP_FOR_RETRY || s == TI_UP_FOR_RESCHEDULE || c->tis[x].wait_past;
        } else if (c->g->tasks[c->tis[x].task].n_downstream == 0 &&
                   (s == TI_FAILED || s == TI_UPSTREAM_FAILED)) {
            leaf_failed = true;
        }
    }
    if (!unfinished)
        return leaf_failed ? RUN_FAILED : RUN_SUCCESS;
    return progress ? RUN_RUNNING : RUN_FAILED;
}

static struct plan_change
change_of(const struct run_ctx *c, size_t x, enum ti_state from, enum ti_state to)
{
    return (struct plan_change){.task = c->tis[x].task,
                                .from = from,
                                .to = to,
                                .unit = x,
                                .map_index = c->tis[x].map_index,
                                .expand = c->expand[c->tis[x].task] && from == TI_NONE};
}

/* Every unit whose final state differs from tis[]: propagation order first, then the units
 * that were already scheduled and got a slot. An expanded task gives one change only. */
static int
collect_changes(const struct run_ctx *c, struct plan_result *out)
{
    bool *told = calloc(c->g->n_tasks + 1, sizeof(*told));
    size_t n = 0;

    out->changes = calloc(c->n + 1, sizeof(*out->changes));
    if (out->changes == NULL || told == NULL) {
        free(told);
        return -1;
    }
    for (size_t k = 0; k < c->n_seq; k++) {
        size_t x = c->seq[k], t = c->tis[x].task;
        struct plan_change ch = change_of(c, x, c->tis[x].state, c->st[x]);
        if (ch.expand && told[t])
            continue;
        told[t] |= ch.expand;
        out->changes[n++] = ch;
    }
    for (size_t x = 0; x < c->n; x++)
        if (c->tis[x].state == TI_SCHEDULED && c->st[x] == TI_QUEUED)
            out->changes[n++] = change_of(c, x, TI_SCHEDULED, TI_QUEUED);
    out->n_changes = n;
    free(told);
    return 0;
}

static time_t
next_wakeup(const struct run_ctx *c)
{
    time_t w = 0;

    for (size_t x = 0; x < c->n; x++) {
        time_t t = c->tis[x].next_retry_at;
        if ((c->st[x] == TI_UP_FOR_RETRY || c->st[x] == TI_UP_FOR_RESCHEDULE) && t > c->now &&
            (w == 0 || t < w))
            w = t;
    }
    return w;
}

static int
check_input(const struct dag *g, const struct plan_ti *tis, size_t n, struct plan_result *out,
            struct err *e)
{
    if (g == NULL || out == NULL || (g->n_tasks > 0 && (tis == NULL || g->tasks == NULL)))
        return err_set(e, ERR_FAIL, "plan: missing DAG, task instances or result");
    for (size_t i = 0; i < g->n_tasks; i++)
        if (g->tasks[i].n_upstream > 0 && g->tasks[i].upstream_idx == NULL)
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

/* The ranges of each task's units; -1 when a task has none. */
static int
unit_ranges(struct run_ctx *c, struct err *e)
{
    for (size_t x = 0; x < c->n; x++) {
        size_t t = c->tis[x].task;
        if (c->count[t]++ == 0)
            c->first[t] = x;
    }
    for (size_t t = 0; t < c->g->n_tasks; t++)
        if (c->count[t] == 0)
            return err_set(e, ERR_FAIL, "plan: task '%s' has no task instance",
                           c->g->tasks[t].task_id ? c->g->tasks[t].task_id : "?");
    return 0;
}

static void
ctx_free(struct run_ctx *c)
{
    free(c->st);
    free(c->first);
    free(c->count);
    free(c->expand);
    free(c->order);
    free(c->seq);
}

/* Decide the next transitions of one run, instance by instance (see plan.h). */
int
plan_run_units(const struct dag *g, const struct plan_ti *tis, size_t n,
               const struct plan_limits *lim, time_t now, struct plan_result *out, struct err *e)
{
    struct run_ctx c = {.g = g, .tis = tis, .n = n, .now = now};
    int rc = -1;

    if (out != NULL)
        *out = (struct plan_result){0};
    if (check_input(g, tis, n, out, e) < 0)
        return -1;
    c.st = calloc(n + 1, sizeof(*c.st));
    c.first = calloc(g->n_tasks + 1, sizeof(*c.first));
    c.count = calloc(g->n_tasks + 1, sizeof(*c.count));
    c.expand = calloc(g->n_tasks + 1, sizeof(*c.expand));
    c.order = calloc(g->n_tasks + 1, sizeof(*c.order));
    c.seq = calloc(n + 1, sizeof(*c.seq));
    if (c.st == NULL || c.first == NULL || c.count == NULL || c.expand == NULL || c.order == NULL ||
        c.seq == NULL || topo_order(g, c.order) < 0) {
        err_set(e, ERR_FAIL, "plan: out of memory");
        goto out;
    }
    if (unit_ranges(&c, e) < 0)
        goto out;
    for (size_t x = 0; x < n; x++)
        c.st[x] = tis[x].state;
    reschedule_due(&c);
    propagate(&c);
    queue_scheduled(&c, lim);
    if (collect_changes(&c, out) < 0) {
        err_set(e, ERR_FAIL, "plan: out of memory");
        goto out;
    }
    out->run_state = run_outcome(&c);
    out->next_wakeup = next_wakeup(&c);
    rc = 0;
out:
    ctx_free(&c);
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

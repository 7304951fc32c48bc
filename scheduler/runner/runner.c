/* runner: the engine's loop (see runner.h).
 *
 * One turn: reconnect if the database is down; heartbeat the job and renew the leases of
 * our tries when due; let the caller's tick run (the scheduler creates, promotes and finds
 * runs there); plan every run that changed (plan -> store); claim queued task instances
 * while slots are free and start them; then poll() on the executor's descriptors, a
 * signalfd and the database socket (NOTIFY) until the nearest deadline.
 *
 * Invariants: a try is started only for a task instance this process claimed (moved from
 * queued to running with a new try number, SELECT ... FOR UPDATE SKIP LOCKED); its end is
 * recorded only with that try number (a late end is refused by the store). A run in memory
 * keeps the DAG bag it was loaded with until none of its tries is in flight. */
#include "runner/runner.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "log.h"
#include "runner_int.h"
#include "statsd.h"
#include "store/store.h"

#define MAX_POLLFDS 1024

void
runner_emit(struct runner *r, const struct active_run *run, const char *task_id, enum ti_state ts,
            int try_number, const char *detail)
{
    struct runner_event ev = {run->dag_id, run->run_id, task_id, ts,
                              run->state,  try_number,  detail};

    if (r->opts.on_event)
        r->opts.on_event(r->opts.arg, &ev);
}

/* runner_emit for one task instance: a mapped task's instance is named "task_id[map_index]". */
void
runner_emit_ti(struct runner *r, const struct active_run *run, const char *task_id, int map_index,
               enum ti_state ts, int try_number, const char *detail)
{
    char label[300];

    if (map_index < 0) {
        runner_emit(r, run, task_id, ts, try_number, detail);
        return;
    }
    snprintf(label, sizeof(label), "%s[%d]", task_id, map_index);
    runner_emit(r, run, label, ts, try_number, detail);
}

static double
env_double(const char *name, double dflt)
{
    const char *s = getenv(name);

    return s && atof(s) > 0 ? atof(s) : dflt;
}

static void
set_defaults(struct runner_opts *o)
{
    const char *s;

    if (o->logs_folder == NULL)
        o->logs_folder = (s = getenv("GUST_LOGS_FOLDER")) && *s ? s : "./logs";
    if (o->parallelism <= 0)
        o->parallelism = (int)env_double("GUST_PARALLELISM", 32);
    if (o->kill_grace <= 0)
        o->kill_grace = 10;
    if (o->lease_seconds <= 0)
        o->lease_seconds = env_double("GUST_LEASE_SECONDS", 30);
    if (o->shutdown_grace < 0 || (o->shutdown_grace == 0 && o->mode != RUNNER_LOCAL))
        o->shutdown_grace = 30;
    if (o->xcom_max_bytes == 0)
        o->xcom_max_bytes = (size_t)env_double("GUST_XCOM_MAX_BYTES", 1u << 20);
    if (o->log_max_bytes == 0) /* 0 in the environment: no cap */
        o->log_max_bytes = (size_t)env_double("GUST_TASK_LOG_MAX_BYTES", 100u << 20);
}

struct runner *
runner_new(struct store *s, const struct dagbag *bag, const struct runner_opts *opts, struct err *e)
{
    struct runner *r = calloc(1, sizeof(*r));
    sigset_t mask;

    if (r == NULL || (r->cur = calloc(1, sizeof(*r->cur))) == NULL) {
        free(r);
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    r->store = s;
    r->cur->bag = (struct dagbag *)bag;
    r->cur->refs = 1; /* the runner's own reference to its current bag */
    r->opts = opts ? *opts : (struct runner_opts){0};
    set_defaults(&r->opts);
    r->sigfd = -1;
    r->reconnect_delay = 0.5;
    r->callback_timeout = runner_callback_timeout();
    if (gethostname(r->hostname, sizeof(r->hostname) - 1) < 0)
        snprintf(r->hostname, sizeof(r->hostname), "localhost");
    runner_bindir(r->bindir);
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &r->old_mask);
    r->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r->sigfd < 0 || (r->x = executor_new(e)) == NULL) {
        if (r->sigfd < 0)
            err_set(e, ERR_FAIL, "signalfd: %s", strerror(errno));
        runner_free(r);
        return NULL;
    }
    return r;
}

static void
bag_unref(struct bagref *b)
{
    if (b && --b->refs == 0) {
        if (b->owned)
            dagbag_free(b->bag);
        free(b);
    }
}

static void
run_release(struct active_run *run)
{
    if (run == NULL)
        return;
    bag_unref(run->bagref);
    active_run_free(run);
}

void
runner_free(struct runner *r)
{
    if (r == NULL)
        return;
    executor_free(r->x);
    runner_notify_free(r);
    while (r->pending) {
        struct pending_end *p = r->pending;

        r->pending = p->next;
        free(p->end.xcom_json);
        free(p); /* its try is still in r->inflight */
    }
    while (r->inflight) {
        struct ti_try *t = r->inflight;

        r->inflight = t->next;
        ti_try_free(t);
    }
    for (size_t i = 0; i < r->n_runs; i++)
        run_release(r->runs[i]);
    free(r->runs);
    bag_unref(r->cur);
    if (r->sigfd >= 0)
        close(r->sigfd);
    sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
    free(r);
}

void
runner_set_bag(struct runner *r, struct dagbag *bag)
{
    struct bagref *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        dagbag_free(bag);
        return;
    }
    b->bag = bag;
    b->refs = 1;
    b->owned = true;
    bag_unref(r->cur);
    r->cur = b;
    for (size_t i = 0; i < r->n_runs; i++)
        r->runs[i]->dirty = true;
}

const struct dagbag *
runner_bag(const struct runner *r)
{
    return r->cur->bag;
}

struct active_run *
runner_find_run(const struct runner *r, const char *dag_id, const char *run_id)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (strcmp(r->runs[i]->dag_id, dag_id) == 0 && strcmp(r->runs[i]->run_id, run_id) == 0)
            return r->runs[i];
    return NULL;
}

time_t
runner_connected_since(const struct runner *r)
{
    return r->db_down ? 0 : r->connected_since;
}

bool
runner_owns_pid(const struct runner *r, pid_t pid)
{
    for (const struct ti_try *t = r->inflight; t; t = t->next)
        if (t->pid == pid)
            return true;
    return false;
}

bool
runner_take_hup(struct runner *r)
{
    bool hup = r->hup;

    r->hup = false;
    return hup;
}

size_t
runner_active_runs(const struct runner *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n_runs; i++)
        n += !r->runs[i]->finished;
    return n;
}

/* Plan each run of the DAG again; forget: read its states again first. */
static void
mark_dag(struct runner *r, const char *dag_id, bool forget)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (strcmp(r->runs[i]->dag_id, dag_id) == 0) {
            if (forget)
                run_forget_states(r->runs[i]);
            r->runs[i]->dirty = true;
        }
}

void
runner_dirty_dag(struct runner *r, const char *dag_id)
{
    mark_dag(r, dag_id, false);
}

void
runner_forget_dag(struct runner *r, const char *dag_id)
{
    mark_dag(r, dag_id, true);
}

bool
runner_has_run(const struct runner *r, const char *dag_id, const char *run_id)
{
    return runner_find_run(r, dag_id, run_id) != NULL;
}

void
runner_set_aside_unlisted(struct runner *r, const struct store_run *runs, size_t n)
{
    for (size_t i = 0; i < r->n_runs; i++) {
        struct active_run *run = r->runs[i];
        bool listed = false;

        for (size_t k = 0; k < n && !listed; k++)
            listed = strcmp(runs[k].dag_id, run->dag_id) == 0 &&
                     strcmp(runs[k].run_id, run->run_id) == 0;
        if (run->aside && listed) {
            run->dirty = true;
            run_forget_states(run);
        }
        run->aside = !listed;
    }
}

static struct active_run *
load_run(struct runner *r, const char *dag_id, const char *run_id, struct err *e)
{
    const struct dag *dag = dagbag_find(r->cur->bag, dag_id);
    struct active_run *run;

    if (dag == NULL) {
        err_set(e, ERR_NOTFOUND, "no DAG '%s' in the DAG folder", dag_id);
        return NULL;
    }
    if ((run = active_run_load(r->store, dag, run_id, e)) == NULL)
        return NULL;
    run->bagref = r->cur;
    r->cur->refs++;
    return run;
}

int
runner_add(struct runner *r, const char *dag_id, const char *run_id, struct err *e)
{
    struct active_run *run, **grown;

    if (runner_find_run(r, dag_id, run_id))
        return 0;
    if ((run = load_run(r, dag_id, run_id, e)) == NULL)
        return -1;
    grown = realloc(r->runs, (r->n_runs + 1) * sizeof(*grown));
    if (grown == NULL) {
        run_release(run);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    r->runs = grown;
    r->runs[r->n_runs++] = run;
    return 0;
}

enum run_state
runner_run_state(const struct runner *r, const char *dag_id, const char *run_id)
{
    const struct active_run *run = runner_find_run(r, dag_id, run_id);

    return run ? run->state : RUN_RUNNING;
}

bool
runner_db_up(const struct runner *r)
{
    return !r->db_down;
}

void
runner_poke(struct runner *r)
{
    r->poked = true;
    r->stale = true;
}

void
runner_poke_dag(struct runner *r, const char *dag_id)
{
    r->poked = true;
    runner_forget_dag(r, dag_id);
}

void
runner_stop(struct runner *r)
{
    if (!r->stopping) {
        r->stopping = true;
        r->stop_at = clock_mono() + r->opts.shutdown_grace;
    }
}

/* ---- the database going away and coming back ---- */

void
runner_db_error(struct runner *r, const struct err *e, const char *what)
{
    if (!e->temporary) {
        log_error("%s: %s", what, e->msg);
        return;
    }
    if (!r->db_down)
        log_error("database unreachable (%s: %s); tries keep running, their ends will be "
                  "recorded when it is back",
                  what, e->msg);
    r->db_down = true;
    r->reconnect_at = time(NULL);
}

static void
try_reconnect(struct runner *r, time_t now)
{
    struct err e = {0};

    if (store_reconnect(r->store, &e) < 0) {
        r->reconnect_delay = r->reconnect_delay * 2 > 30 ? 30 : r->reconnect_delay * 2;
        r->reconnect_at = now + (time_t)r->reconnect_delay;
        return;
    }
    log_info("database reachable again");
    r->db_down = false;
    r->reconnect_delay = 0.5;
    r->connected_since = now;
    r->next_heartbeat = 0; /* renew our leases first thing */
    r->claim_due = true;   /* notifications may have been lost meanwhile */
    for (size_t i = 0; i < r->n_runs; i++)
        r->runs[i]->dirty = true;
    runner_forget_states(r);
    runner_flush_pending(r);
}

/* ---- leases ---- */

/* Airflow's job type of a mode (the job row's job_type, the <job>_start metrics). */
static const char *
job_type(enum runner_mode m)
{
    return m == RUNNER_SCHEDULER ? "SchedulerJob"
           : m == RUNNER_WORKER  ? "WorkerJob"
                                 : "LocalTaskJob";
}

static void
heartbeat(struct runner *r, time_t now)
{
    struct store_try_ref *refs;
    struct ti_try **tries;
    int *lost;
    size_t n = 0, cap = 0;
    struct err e = {0};

    if (now < r->next_heartbeat || r->job_id == 0)
        return;
    r->next_heartbeat =
        now + (time_t)(r->opts.lease_seconds / 3 > 1 ? r->opts.lease_seconds / 3 : 1);
    for (struct ti_try *t = r->inflight; t; t = t->next)
        cap++;
    refs = calloc(cap + 1, sizeof(*refs));
    tries = calloc(cap + 1, sizeof(*tries));
    lost = calloc(cap + 1, sizeof(*lost));
    for (struct ti_try *t = r->inflight; refs && tries && lost && t; t = t->next)
        if (!t->lost) {
            tries[n] = t;
            refs[n++] = (struct store_try_ref){t->run->dag_id, t->run->run_id,
                                               t->run->dag->tasks[t->task].task_id, t->map_index,
                                               t->try_number};
        }
    if (refs && tries && lost &&
        (store_job_heartbeat(r->store, r->job_id, &e) < 0 ||
         store_leases_renew(r->store, r->job_id, r->opts.lease_seconds, now, refs, n, lost, &e) <
             0)) {
        statsd_count(r->opts.statsd, 1, "%s_heartbeat_failure", job_type(r->opts.mode));
        runner_db_error(r, &e, "heartbeat");
    } else {
        if (refs && tries && lost && r->opts.mode == RUNNER_SCHEDULER) /* one per heartbeat */
            statsd_count(r->opts.statsd, 1, "scheduler_heartbeat");
        for (size_t i = 0; i < n && lost; i++)
            if (lost[i]) {
                /* Someone failed this try (its lease had expired): it must stop now, so that
                 * no two tries of one task instance run at once. */
                tries[i]->lost = true;
                if (tries[i]->pid > 0)
                    executor_terminate(r->x, tries[i]->pid);
            }
    }
    free(refs);
    free(tries);
    free(lost);
}

/* ---- planning and claiming ---- */

static void
finish_run(struct runner *r, struct active_run *run, enum run_state to)
{
    struct err e = {0};
    double now = clock_wall();
    int won = store_run_set_state(r->store, run->dag_id, run->run_id, run->state, to, now, &e);

    if (won < 0) {
        runner_db_error(r, &e, "finish a run");
        return;
    }
    r->poked = true; /* waits on this run, a queued run of the DAG: see runner_poke */
    run->finished = true;
    if (won == 0) /* someone else finished or cleared it: forget our picture of it */
        return;
    run->state = to;
    runner_emit(r, run, NULL, TI_NONE, 0, NULL);
    runner_metric_run_end(r, run, to, (time_t)now);
    /* the DAG's callbacks of this change (docs/operations.md, "Notifications") */
    runner_notify_run(r, run, to == RUN_SUCCESS ? NOTIFY_ON_SUCCESS : NOTIFY_ON_FAILURE,
                      to == RUN_SUCCESS ? "success" : "task_failure");
}

/* Whether depends_on_past holds task idx back (its previous run's try did not succeed). */
static bool
waits_on_past(struct runner *r, struct active_run *run, size_t idx)
{
    enum ti_state st = TI_NONE;
    bool found = false;
    struct err e = {0};

    if (!run->dag->tasks[idx].depends_on_past)
        return false;
    if (store_prev_ti_state(r->store, run->dag_id, run->run_id, run->dag->tasks[idx].task_id,
                            &found, &st, &e) < 0)
        return true;
    return found && st != TI_SUCCESS && st != TI_SKIPPED;
}

static int
step_run(struct runner *r, struct active_run *run, struct err *e)
{
    struct plan_result res = {0};
    size_t *queued = NULL, n_queued = 0;
    int added = 0, removed = 0;

    run->dirty = false;
    if (run->state == RUN_QUEUED) {
        if (r->opts.mode != RUNNER_LOCAL)
            return 0; /* the scheduler's tick promotes runs within max_active_runs */
        run->start_date = time(NULL);
        if (store_run_set_state(r->store, run->dag_id, run->run_id, RUN_QUEUED, RUN_RUNNING,
                                run->start_date, e) < 0)
            return -1;
        run->state = RUN_RUNNING;
        runner_emit(r, run, NULL, TI_NONE, 0, NULL);
    }
    if (!run->synced) {
        if (store_run_sync_tasks(r->store, run->dag, run->run_id, &added, &removed, e) < 0)
            return -1;
        run->synced = true;
    }
    if (runner_plan_step(r->store, run, waits_on_past, r, &res, &queued, &n_queued, e) < 0)
        return -1;
    if (n_queued > 0)
        r->claim_due = true;
    for (size_t i = 0; i < res.n_changes; i++)
        if (!res.changes[i].expand) /* an expansion's outcome is read back and logged */
            runner_emit_ti(r, run, run->dag->tasks[res.changes[i].task].task_id,
                           res.changes[i].map_index, res.changes[i].to, 0, NULL);
    run->wakeup = res.next_wakeup;
    if (res.run_state == RUN_SUCCESS || res.run_state == RUN_FAILED)
        finish_run(r, run, res.run_state);
    plan_result_clear(&res);
    free(queued);
    return 0;
}

static void
start_claims(struct runner *r, struct store_claim *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct active_run *run = runner_find_run(r, c[i].dag_id, c[i].run_id);
        struct err e = {0};
        long idx;

        if (run == NULL && runner_add(r, c[i].dag_id, c[i].run_id, &e) == 0)
            run = runner_find_run(r, c[i].dag_id, c[i].run_id);
        idx = run ? dag_task_index(run->dag, c[i].task_id) : -1;
        if (idx < 0) {
            /* claimed but not runnable here (run or task gone): give it back as failed so a
             * retry can happen elsewhere, rather than holding it until the lease expires */
            runner_fail_try(r, c[i].dag_id, c[i].run_id, c[i].task_id, c[i].map_index,
                            c[i].try_number, c[i].max_tries,
                            "claimed but not runnable here (run or task gone)", NULL);
            continue;
        }
        runner_start_claimed(r, run, (size_t)idx, &c[i]);
    }
}

static int
claim(struct runner *r, const struct store_claim_filter *f, int limit)
{
    struct store_claim *c = NULL;
    struct err e = {0};
    size_t n = 0;

    if (limit <= 0)
        return 0;
    if (store_claim_queued(r->store, f, limit, r->hostname, (int)getpid(), r->job_id,
                           r->opts.lease_seconds, clock_wall(), &c, &n, &e) < 0) {
        runner_db_error(r, &e, "claim task instances");
        return -1;
    }
    start_claims(r, c, n);
    store_claims_free(c, n);
    return (int)n;
}

/* How often a worker or scheduler claims with nothing new seen (a notification lost with a
 * connection, a pool made larger). */
#define RECLAIM_SECONDS 2

/* Whether to claim now. A worker hears of queued work by notification, a scheduler also
 * from its own planning steps (step_run) and its tries' ends; claiming at every wake-up
 * (each line a try prints, each end, each write's results) made a worker send dozens of
 * claims per task and a scheduler two per task on a chain, most finding nothing.
 * RUNNER_LOCAL claims at every turn: it has no tick to fall back on. */
static bool
claim_due_now(struct runner *r, time_t now)
{
    return r->opts.mode == RUNNER_LOCAL || r->claim_due || r->notified || now >= r->claim_at;
}

/* Claim what this process may run: its own runs' (local), or any DAG it knows. */
static void
claim_all(struct runner *r)
{
    if (r->opts.mode == RUNNER_LOCAL) {
        for (size_t i = 0; i < r->n_runs && !r->db_down; i++) {
            struct store_claim_filter f = {.dag_id = r->runs[i]->dag_id,
                                           .run_id = r->runs[i]->run_id};

            if (!r->runs[i]->finished)
                claim(r, &f, runner_free_slots(r));
        }
        return;
    }
    const struct dagbag *bag = r->cur->bag;
    int limit = runner_free_slots(r), got = 0;
    time_t now = time(NULL);

    if (!claim_due_now(r, now))
        return;
    const char **ids = calloc(bag->n_dags + 1, sizeof(*ids));
    struct store_claim_filter f = {
        .queue = r->opts.queue, .dag_ids = ids, .n_dag_ids = bag->n_dags};

    if (ids == NULL)
        return; /* out of memory: try again next turn */
    for (size_t i = 0; i < bag->n_dags; i++)
        ids[i] = bag->dags[i]->dag_id;
    if (bag->n_dags > 0)
        got = claim(r, &f, limit);
    free(ids);
    r->claim_due = limit > 0 && got == limit; /* there may be more */
    r->claim_at = now + RECLAIM_SECONDS;
}

/* Runs done with (finished, nothing in flight) leave memory, except in RUNNER_LOCAL where
 * their final state is asked for; runs on an old bag move to the current one. */
static void
tidy_runs(struct runner *r)
{
    size_t k = 0;

    for (size_t i = 0; i < r->n_runs; i++) {
        struct active_run *run = r->runs[i];
        struct err e = {0};

        if (run->inflight == 0 && run->finished && r->opts.mode != RUNNER_LOCAL) {
            run_release(run);
            continue;
        }
        if (run->inflight == 0 && run->bagref != r->cur && !run->finished) {
            struct active_run *fresh = load_run(r, run->dag_id, run->run_id, &e);

            if (fresh) { /* else the DAG is gone from the folder: finish on the old one */
                run_release(run);
                run = fresh;
            }
        }
        r->runs[k++] = run;
    }
    r->n_runs = k;
}

static void
step_all(struct runner *r, time_t now)
{
    struct err e = {0};

    bool stale = r->stale; /* others changed the store, or the tick did (runner_poke) */

    r->stale = false;
    if (stale)
        runner_forget_states(r);
    for (size_t i = 0; i < r->n_runs && !r->db_down; i++) {
        struct active_run *run = r->runs[i];

        if (run->finished || run->aside ||
            !(run->dirty || stale || (run->wakeup && run->wakeup <= now)))
            continue;
        if (step_run(r, run, &e) < 0) {
            if (e.temporary)
                runner_db_error(r, &e, "plan a run");
            else
                log_error("%s", e.msg);
        }
    }
}

/* ---- waiting ---- */

static bool
all_local_done(const struct runner *r)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (!r->runs[i]->finished)
            return false;
    return r->inflight == NULL && r->callbacks == NULL; /* callbacks end too */
}

static int
min_ms(int a, int b)
{
    return a < 0 ? b : (b < 0 || a < b) ? a : b;
}

static int
ms_until(time_t when, time_t now)
{
    return when <= now ? 0 : (int)((when - now) * 1000 > 600000 ? 600000 : (when - now) * 1000);
}

static int
next_timeout(const struct runner *r, time_t now)
{
    int ms = executor_timeout_ms(r->x);

    if (r->db_down)
        return min_ms(ms, ms_until(r->reconnect_at, now));
    for (size_t i = 0; i < r->n_runs; i++) {
        const struct active_run *run = r->runs[i];

        if (run->finished)
            continue;
        if (run->dirty)
            return 0;
        if (run->wakeup)
            ms = min_ms(ms, ms_until(run->wakeup, now));
    }
    if (r->job_id)
        ms = min_ms(ms, ms_until(r->next_heartbeat, now));
    if (r->tick_next)
        ms = min_ms(ms, ms_until(r->tick_next, now));
    if (r->n_waits)
        ms = min_ms(ms, ms_until(r->next_wait_check, now));
    if (r->opts.mode == RUNNER_WORKER && !r->stopping && runner_free_slots(r) > 0)
        ms = min_ms(ms, ms_until(r->claim_at, now));
    if (r->stopping && !r->terminated)
        ms = min_ms(
            ms,
            (int)((r->stop_at - clock_mono()) * 1000 > 0 ? (r->stop_at - clock_mono()) * 1000 : 0));
    if (ms < 0 && r->opts.mode == RUNNER_LOCAL && executor_active(r->x) == 0)
        ms = 1000; /* a stalled local run is planned again (and found deadlocked) */
    return ms;
}

static void
read_signals(struct runner *r)
{
    struct signalfd_siginfo si;

    while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) { /* reload: the tick looks at it at once */
            r->hup = true;
            r->tick_next = time(NULL);
            continue;
        }
        if (r->opts.mode == RUNNER_LOCAL)
            r->interrupted = true;
        runner_stop(r);
    }
}

/* A try another session ended (a worker's): the only row that changed. The runs of its DAG
 * that this process holds are planned again (runner_dirty_dag); its own run's planning state
 * is told of the row, read back alone, rather than forgotten: reading every row of a big run
 * at each of a worker's ends made a run of n tasks read n^2 rows. Any doubt (no such task or
 * row, an error): forget it. */
static void
know_ended(struct runner *r, const struct store_ti_key *k)
{
    struct active_run *run = runner_find_run(r, k->dag_id, k->run_id);
    struct store_ti ti = {0};
    struct err e = {0};
    bool found = false;
    long idx;

    runner_dirty_dag(r, k->dag_id);
    if (run == NULL)
        return;
    if (run->known == NULL || r->db_down)
        return; /* read whole at its next step anyway */
    idx = dag_task_index(run->dag, k->task_id);
    if (idx < 0 || store_ti_get(r->store, k, &ti, &found, &e) < 0 || !found) {
        run_forget_states(run);
        if (e.msg[0])
            runner_db_error(r, &e, "read a task instance");
        return;
    }
    run->max_tries[idx] = ti.max_tries;
    run_know_state(run, (size_t)idx, ti.map_index, ti.state, (double)ti.next_retry_at);
    store_ti_clear(&ti);
}

/* Notifications already read by libpq while it waited for a query's result sit in its queue
 * and will never make the socket readable again: take them before sleeping. A try's end is
 * followed row by row (know_ended), a change to one DAG's rows ("run:", "queued:"...) makes
 * that DAG's runs' states stale, anything else every run's. */
static bool
take_notifies(struct runner *r)
{
    struct store_notes notes;
    struct err e = {0};

    if (!r->listening || r->db_down)
        return false;
    if (store_take_notifies(r->store, &notes, &e) < 0) {
        runner_db_error(r, &e, "read notifications");
        return false;
    }
    int count = notes.count;

    r->stale |= notes.other;
    for (size_t i = 0; !notes.other && i < notes.n_ended; i++)
        know_ended(r, &notes.ended[i]);
    for (size_t i = 0; !notes.other && i < notes.n_dags; i++)
        runner_forget_dag(r, notes.dags[i]);
    store_notes_clear(&notes);
    return count > 0;
}

static void
wait_events(struct runner *r)
{
    struct pollfd fds[MAX_POLLFDS];
    size_t n = 1, dbi = 0;
    struct exec_result res;
    struct err e = {0};
    bool queued = take_notifies(r) || r->poked;

    int sock = r->listening && !r->db_down ? store_socket(r->store) : -1;

    fds[0] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
    if (sock >= 0) {
        dbi = n;
        fds[n++] = (struct pollfd){.fd = sock, .events = POLLIN};
    }
    n += executor_pollfds(r->x, fds + n, MAX_POLLFDS - n);
    if (poll(fds, n, queued ? 0 : next_timeout(r, time(NULL))) < 0 && errno != EINTR)
        return;
    if (fds[0].revents & POLLIN)
        read_signals(r);
    r->poked = false;
    r->notified = queued || (dbi && fds[dbi].revents && take_notifies(r));
    if (executor_process(r->x, &e) < 0)
        log_error("executor: %s", e.msg);
    while (executor_next_result(r->x, &res) == 1) {
        if (!runner_notify_done(r, &res)) { /* a callback's end, else a try's */
            runner_finish_exec(r, &res);
            r->claim_due = true; /* a slot is free */
        }
        exec_result_clear(&res);
    }
}

/* ---- the loop ---- */

static void
begin(struct runner *r)
{
    struct err e = {0};
    time_t now = time(NULL);

    r->connected_since = now;
    if (store_job_start(r->store, job_type(r->opts.mode), r->hostname, (int)getpid(), &r->job_id,
                        &e) < 0) {
        runner_db_error(r, &e, "register the job");
        return;
    }
    statsd_count(r->opts.statsd, 1, "%s_start", job_type(r->opts.mode));
    if (r->opts.mode != RUNNER_LOCAL) {
        if (store_listen(r->store, &e) < 0)
            runner_db_error(r, &e, "listen");
        else
            r->listening = true;
    }
}

/* SIGTERM's grace is over: stop what still runs (its ends are recorded as failures). */
static void
stop_tries(struct runner *r)
{
    if (r->terminated || !r->stopping || clock_mono() < r->stop_at)
        return;
    r->terminated = true;
    executor_terminate_all(r->x);
    runner_abandon_waits(r);
}

static bool
done(struct runner *r)
{
    if (r->stopping) /* running callbacks get the grace too */
        return r->inflight == NULL && r->callbacks == NULL && (r->pending == NULL || r->db_down);
    if (r->opts.mode == RUNNER_LOCAL) /* a tick may still add runs (backfill) */
        return all_local_done(r) && r->tick_next == 0;
    if (r->opts.stop_when_idle && r->inflight == NULL && r->callbacks == NULL && !r->db_down) {
        for (size_t i = 0; i < r->n_runs; i++)
            if (!r->runs[i]->finished)
                return false;
        return r->tick_next == 0 || r->tick_next > time(NULL);
    }
    return false;
}

/* The ends of tries recorded since the last synchronous commit go to disk now: before this
 * process waits, so that one flush serves the whole turn (store_int.h, "lazy commits"). */
static void
make_durable(struct runner *r)
{
    struct err e = {0};

    if (!r->db_down && store_durable(r->store, &e) < 0)
        runner_db_error(r, &e, "flush the ends of tries");
}

static int
turn(struct runner *r, time_t now, struct err *e)
{
    if (r->db_down && now >= r->reconnect_at)
        try_reconnect(r, now);
    if (r->db_down)
        return 0;
    heartbeat(r, now);
    if (!r->stopping && r->opts.tick && !r->db_down &&
        (r->tick_next == 0 || now >= r->tick_next || r->notified)) {
        r->tick_next = 0;
        if (r->opts.tick(r->opts.tick_arg, r, now, &r->tick_next, e) < 0)
            return -1;
    }
    tidy_runs(r);
    if (!r->stopping && r->opts.mode != RUNNER_WORKER)
        step_all(r, now);
    if (!r->stopping && !r->db_down && !(r->opts.mode == RUNNER_SCHEDULER && r->opts.no_executor))
        claim_all(r);
    if (!r->db_down)
        runner_check_waits(r, now);
    runner_metric_gauges(r); /* at most every few seconds */
    return 0;
}

int
runner_run(struct runner *r, struct err *e)
{
    begin(r);
    for (;;) { /* a turn first: a tick may add the runs to drive (backfill) */
        if (turn(r, time(NULL), e) < 0)
            return -1;
        stop_tries(r);
        if (done(r))
            break;
        make_durable(r);
        wait_events(r);
    }
    make_durable(r);
    if (r->interrupted) {
        for (size_t i = 0; i < r->n_runs; i++)
            if (!r->runs[i]->finished && !r->db_down)
                finish_run(r, r->runs[i], RUN_FAILED);
    }
    if (r->job_id && !r->db_down)
        store_job_end(r->store, r->job_id, r->interrupted ? "failed" : "success", NULL);
    if (r->job_id)
        statsd_count(r->opts.statsd, 1, "%s_end", job_type(r->opts.mode));
    if (r->pending)
        log_error("the database is still down: the ends of some tries could not be recorded; "
                  "their leases will expire and they will be retried");
    if (r->interrupted)
        return err_set(e, ERR_FAIL,
                       "interrupted: running tries were stopped and unfinished "
                       "runs marked failed ('gust tasks clear' re-runs them)");
    return 0;
}

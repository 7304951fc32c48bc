/* loop: `gust scheduler` and `gust worker`, the long-running processes.
 *
 * Both are the runner's loop (runner.c) with a tick of their own. The scheduler's tick:
 * reload the DAG folder when it changed (or on SIGHUP) and record it; fail and retry the tries
 * whose lease expired (their holder died); create the asset-triggered runs whose condition
 * holds (loop_asset.c); for every unpaused DAG create the scheduled runs that are due, time out
 * runs past dagrun_timeout and promote queued runs within max_active_runs; take the running
 * runs into the runner. Several schedulers may run against
 * one database: run creation is idempotent (the run id is fixed by the logical date),
 * promotion is serialized per DAG in the store, and every state change is conditional.
 * The worker's tick only reloads the DAG folder; its runner claims and runs queued tries.
 * A DAG whose file now fails to load stays, in its last good version (loop_keep.c).
 *
 * The tick asks to run again at the nearest due time (a run to create, the folder scan, the
 * lease check); NOTIFYs from the database also wake it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dagfile/dagfile.h"
#include "log.h"
#include "loop/loop.h"
#include "iso8601.h"
#include "progress/progress.h"
#include "runid.h"
#include "runner/runner.h"
#include "statsd.h"
#include "timetable/timetable.h"
#include "store/store.h"

#define CATCHUP_PER_TICK 50 /* runs one DAG may create per tick; the rest come next tick */

static time_t
earliest(time_t a, time_t b)
{
    return a == 0 ? b : (b == 0 || a < b) ? a : b;
}

/* ---- the DAG folder ---- */

/* Reload when the folder's fingerprint changed, or on SIGHUP. */
/* One log line per warning of a load (keys that change nothing a run does, deprecations). */
static void
log_load_warnings(const struct dagbag *bag)
{
    char line[1024];

    for (size_t i = 0; i < bag->n_diags; i++)
        if (bag->diags[i].level == DIAG_WARNING) {
            dag_diag_format(&bag->diags[i], line, sizeof(line));
            log_warn("%s", line);
        }
}

static void
maybe_reload(struct loop_ctx *c, struct runner *r, time_t now)
{
    unsigned long long fp;
    struct dagbag *bag;
    struct err e = {0};
    double t0;

    if (!runner_take_hup(r) && now < c->next_scan)
        return;
    c->next_scan = now + c->scan_interval;
    fp = loop_folder_fingerprint(c->folder);
    if (fp == c->fingerprint && c->fingerprint != 0) {
        loop_metric_folder(c, NULL, 0); /* unchanged: the last figures again */
        return;
    }
    t0 = clock_mono();
    if ((bag = loop_load_bag(c->folder, &e)) == NULL) {
        log_error("%s", e.msg);
        return; /* folder unreadable: keep what we have */
    }
    c->fingerprint = fp;
    /* recorded as the files are: a DAG kept below keeps its row as last recorded */
    if (c->mode == RUNNER_SCHEDULER && store_sync_dagbag(c->store, bag, now, &e) < 0)
        log_error("record the DAG folder: %s", e.msg);
    log_info("loaded %zu DAG(s) from %s", bag->n_dags, c->folder);
    loop_metric_folder(c, bag, clock_mono() - t0);
    log_load_warnings(bag);
    loop_keep_last_good(c, r, bag);
    runner_set_bag(r, bag);
}

/* ---- leases ---- */

/* A try whose lease expired: its holder died or lost the database for a whole lease. What is
 * left of it is killed when it ran on this host (its cgroup and process group), and
 * it fails (and is retried) with its try number as the fence. */
static void
expire_one(struct loop_ctx *c, struct runner *r, const struct store_expired *x)
{
    struct err e = {0};

    if (runner_owns_pid(r, x->pid) && x->hostname && strcmp(x->hostname, c->hostname) == 0)
        return; /* ours and alive: our next heartbeat renews it */
    /* nothing of the old try may run beside its retry */
    if (x->hostname && strcmp(x->hostname, c->hostname) == 0)
        runner_kill_old_try(r, x->dag_id, x->run_id, x->task_id, x->map_index, x->try_number,
                            x->pid);
    if (runner_fail_try(r, x->dag_id, x->run_id, x->task_id, x->map_index, x->try_number,
                        x->max_tries,
                        "lease expired: the process running this try stopped heartbeating; "
                        "the try counts as failed",
                        &e) == 1) {
        runner_poke(r);
        statsd_count(c->statsd, 1, "zombies_killed"); /* Airflow's name for such a try */
        log_warn("dag=%s run=%s task=%s try=%d: lease expired (host %s pid %d)", x->dag_id,
                 x->run_id, x->task_id, x->try_number, x->hostname ? x->hostname : "?", x->pid);
    }
}

static time_t
expire_leases(struct loop_ctx *c, struct runner *r, time_t now)
{
    struct store_expired *x = NULL;
    size_t n = 0;
    struct err e = {0};
    time_t since = runner_connected_since(r);

    if (since == 0 || now - since < (time_t)c->lease_seconds)
        return since ? since + (time_t)c->lease_seconds : 0;
    if (store_leases_expired(c->store, now, 200, &x, &n, &e) < 0) {
        runner_db_error(r, &e, "find expired leases");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        expire_one(c, r, &x[i]);
    store_expired_free(x, n);
    return now + (time_t)(c->lease_seconds / 2 > 1 ? c->lease_seconds / 2 : 1);
}

/* ---- runs ---- */

/* @continuous: a new run only once none is active (max_active_runs is 1); the tick that
 * follows the end of a run creates the next one. 1: wait, 0: go on, -1: database error. */
static int
continuous_busy(struct loop_ctx *c, struct runner *r, const struct dag *dag)
{
    int active = 0;
    struct err e = {0};

    if (!timetable_is_continuous(dag))
        return 0;
    if (store_dag_active_runs(c->store, dag->dag_id, &active, &e) < 0) {
        runner_db_error(r, &e, "count the active runs");
        return -1;
    }
    return active > 0;
}

/* Create the due scheduled runs of one DAG; returns when the next one is due (0: never). */
static time_t
create_runs(struct loop_ctx *c, struct runner *r, const struct dag *dag, time_t now)
{
    for (int k = 0; k < CATCHUP_PER_TICK; k++) {
        struct timetable_run next;
        time_t last = 0, last_end = 0;
        long long id;
        char run_id[RUNID_SIZE];
        struct err e = {0};

        if (continuous_busy(c, r, dag) != 0)
            return 0;
        if (store_last_scheduled_interval(c->store, dag->dag_id, &last, &last_end, &e) < 0) {
            runner_db_error(r, &e, "find the last scheduled run");
            return 0;
        }
        if (timetable_next_run_end(dag, c->sem, last, last_end, now, &next, &e) != 1)
            return 0;
        if (next.create_after > now)
            return next.create_after;
        /* a continuous run is named after its end, as Airflow 3 names runs after run_after:
         * its start is the previous run's end, so the logical date may repeat */
        runid_format("scheduled",
                     timetable_is_continuous(dag) ? next.create_after : next.logical_date, -1,
                     run_id, sizeof(run_id));
        if (store_run_create(c->store, dag, run_id, "scheduled", next.logical_date,
                             next.data_interval_start, next.data_interval_end, "{}", "timetable",
                             now, &id, &e) < 0) {
            if (e.code != ERR_EXISTS) {
                runner_db_error(r, &e, "create a scheduled run");
                return 0;
            }
            if (timetable_is_continuous(dag))
                return 0; /* created by another scheduler this very second */
        } else {
            runner_poke(r);
        }
    }
    return now; /* more catchup runs are due: come back at once */
}

static time_t
schedule_dags(struct loop_ctx *c, struct runner *r, time_t now)
{
    const struct dagbag *bag = runner_bag(r);
    time_t next = 0;

    for (size_t i = 0; i < bag->n_dags && runner_db_up(r); i++) {
        const struct dag *dag = bag->dags[i];
        bool paused = false;
        int promoted = 0, timed_out = 0;
        double *delays = NULL;
        size_t n_delays = 0;
        struct err e = {0};

        if (store_dag_is_paused(c->store, dag->dag_id, &paused, &e) < 0 && e.code != ERR_NOTFOUND) {
            runner_db_error(r, &e, "read the pause state");
            break;
        }
        if (paused)
            continue;
        next = earliest(next, create_runs(c, r, dag, now));
        if (dag->dagrun_timeout > 0 &&
            runner_time_out_runs(r, dag, now, &timed_out, &e) < 0) /* and their callbacks */
            runner_db_error(r, &e, "time out runs");
        if (store_runs_promote_delays(c->store, dag->dag_id, dag->max_active_runs, now, &promoted,
                                      c->statsd ? &delays : NULL, &n_delays, &e) < 0)
            runner_db_error(r, &e, "promote runs");
        loop_metric_schedule_delays(c, dag->dag_id, delays, n_delays);
        free(delays);
        if (promoted > 0 || timed_out > 0)
            runner_poke(r);
    }
    return next;
}

/* Take the running runs of DAGs we know into the runner. Returns how many runs are active
 * (queued or running) in the store, -1 when that is unknown. */
static long
discover_runs(struct loop_ctx *c, struct runner *r)
{
    struct store_run *runs = NULL;
    size_t n = 0;
    struct err e = {0};

    if (store_runs_active(c->store, &runs, &n, &e) < 0) {
        runner_db_error(r, &e, "list active runs");
        return -1;
    }
    runner_set_aside_unlisted(r, runs, n);
    for (size_t i = 0; i < n; i++) {
        if (runs[i].state != RUN_RUNNING || runner_has_run(r, runs[i].dag_id, runs[i].run_id) ||
            dagbag_find(runner_bag(r), runs[i].dag_id) == NULL)
            continue;
        if (runner_add(r, runs[i].dag_id, runs[i].run_id, &e) < 0)
            log_error("run %s of %s: %s", runs[i].run_id, runs[i].dag_id, e.msg);
    }
    store_runs_free(runs, n);
    return (long)n;
}

int
loop_tick(void *arg, struct runner *r, time_t now, time_t *next, struct err *e)
{
    struct loop_ctx *c = arg;

    (void)e;
    maybe_reload(c, r, now);
    *next = c->next_scan;
    if (c->mode == RUNNER_SCHEDULER) {
        loop_assets(c, r, now); /* before schedule_dags, which promotes the runs it makes */
        time_t due = schedule_dags(c, r, now);
        long active;

        *next = earliest(*next, expire_leases(c, r, now));
        *next = earliest(*next, due);
        active = discover_runs(c, r);
        loop_metric_pools(c, r);
        c->loops++;
        if (c->num_runs > 0 && c->loops >= c->num_runs)
            runner_stop(r);
        if (c->once) { /* --once: stop when no run is active and none is due now */
            if (active == 0 && runner_active_runs(r) == 0 && (due == 0 || due > now))
                runner_stop(r);
            else
                *next = earliest(*next, now + 1);
        }
    }
    return 0;
}

/* loop: `gust scheduler` and `gust worker`, the long-running processes.
 *
 * Both are the runner's loop (runner.c) with a tick of their own. The scheduler's tick:
 * reload the DAG folder when it changed (or on SIGHUP) and record it; fail and retry the tries
 * whose lease expired (their holder died); create the asset-triggered runs whose condition
 * holds (loop_asset.c); for every unpaused DAG create the scheduled runs that are due, time out
 * runs past dagrun_timeout and promote queued runs within max_active_runs; take the running
 * runs into the runner. An idle tick costs the same few statements whatever the number of
 * DAGs (schedule_dags): what each DAG needs is read for all of them at once, and when its next
 * run is due is kept in memory. Several schedulers may run against
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
#define DUE_REFRESH 600     /* seconds between reads of every DAG's next run time */

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
    c->due_reset = true; /* the DAGs' next run times are read again */
    /* recorded as the files are: a DAG kept below keeps its row as last recorded */
    if (c->mode == RUNNER_SCHEDULER && store_sync_dagbag(c->store, bag, NULL, now, &e) < 0)
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
        runner_poke_dag(r, x->dag_id);
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

/* A DAG's due time when the timetable says it never runs again (until the memory is reset). */
#define DUE_NEVER ((time_t)-1)

/* What the tick read of one DAG (store_sched_states): paused, runs queued, runs active. */
struct dag_flags {
    bool paused, queued, active;
};

/* Create the due scheduled runs of one DAG; returns when the next one is due: a time (now:
 * more catchup runs are due), DUE_NEVER, or 0 when unknown (a database error, or a
 * @continuous run just made: the tick after its end makes the next). *created: a run made. */
static time_t
create_runs(struct loop_ctx *c, struct runner *r, const struct dag *dag, time_t now, bool *created)
{
    for (int k = 0; k < CATCHUP_PER_TICK; k++) {
        struct timetable_run next;
        time_t last = 0, last_end = 0;
        long long id;
        char run_id[RUNID_SIZE];
        struct err e = {0};
        int rc;

        if (store_last_scheduled_interval(c->store, dag->dag_id, &last, &last_end, &e) < 0) {
            runner_db_error(r, &e, "find the last scheduled run");
            return 0;
        }
        if ((rc = timetable_next_run_end(dag, c->sem, last, last_end, now, &next, &e)) != 1)
            return rc == 0 ? DUE_NEVER : 0;
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
            /* made by another scheduler: the next turn reads the last run again */
        } else {
            *created = true;
            runner_poke_dag(r, dag->dag_id);
        }
        if (timetable_is_continuous(dag))
            return 0; /* one active run at a time (max_active_runs is 1) */
    }
    return now; /* more catchup runs are due: come back at once */
}

/* Index of dag_id in bag (sorted by dag_id, dagbag_find's order), -1 when absent. */
static long
bag_index(const struct dagbag *bag, const char *dag_id)
{
    size_t lo = 0, hi = bag->n_dags;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(bag->dags[mid]->dag_id, dag_id);

        if (cmp == 0)
            return (long)mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The pause state and active runs of every DAG of bag into flags (one statement). */
static int
read_flags(struct loop_ctx *c, struct runner *r, const struct dagbag *bag, struct dag_flags *flags)
{
    struct store_sched_state *v = NULL;
    size_t n = 0;
    struct err e = {0};

    if (store_sched_states(c->store, &v, &n, &e) < 0) {
        runner_db_error(r, &e, "read the pause state and active runs");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        long k = bag_index(bag, v[i].dag_id);

        if (k >= 0)
            flags[k] = (struct dag_flags){v[i].paused, v[i].queued, v[i].active};
    }
    store_sched_states_free(v, n);
    return 0;
}

/* Keep c->due for bag, all unknown after a reload and every DUE_REFRESH. -1: out of memory. */
static int
due_for_bag(struct loop_ctx *c, const struct dagbag *bag, time_t now)
{
    if (c->due_bag == bag && c->n_due == bag->n_dags && !c->due_reset && now < c->due_refresh)
        return 0;
    c->due_refresh = now + DUE_REFRESH; /* runs deleted by hand are made again within it */
    free(c->due);
    c->due_bag = NULL, c->n_due = 0;
    if ((c->due = calloc(bag->n_dags ? bag->n_dags : 1, sizeof(*c->due))) == NULL)
        return -1;
    c->due_bag = bag, c->n_due = bag->n_dags, c->due_reset = false;
    return 0;
}

/* The due time of every unpaused, timetable-scheduled DAG whose due time is unknown, from
 * the last scheduled runs of all of them (one statement). Left unknown on error. */
static void
read_due(struct loop_ctx *c, struct runner *r, const struct dagbag *bag,
         const struct dag_flags *flags, time_t now)
{
    size_t size = bag->n_dags ? bag->n_dags : 1, n_ids = 0, n = 0;
    const char **ids = calloc(size, sizeof(*ids));
    time_t(*last)[2] = calloc(size, sizeof(*last)); /* logical date, data interval end */
    struct store_last_interval *rows = NULL;
    struct err e = {0};

    for (size_t i = 0; ids && last && i < bag->n_dags; i++)
        if (!flags[i].paused && c->due[i] == 0 && !timetable_is_continuous(bag->dags[i]))
            ids[n_ids++] = bag->dags[i]->dag_id;
    if (n_ids == 0)
        goto out;
    if (store_last_scheduled_intervals(c->store, ids, n_ids, &rows, &n, &e) < 0) {
        runner_db_error(r, &e, "find the last scheduled runs");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        long i = bag_index(bag, rows[k].dag_id);

        if (i >= 0)
            last[i][0] = rows[k].logical, last[i][1] = rows[k].end;
    }
    for (size_t i = 0; i < bag->n_dags; i++) {
        struct timetable_run next;
        int rc;

        if (flags[i].paused || c->due[i] != 0 || timetable_is_continuous(bag->dags[i]))
            continue;
        rc = timetable_next_run_end(bag->dags[i], c->sem, last[i][0], last[i][1], now, &next, &e);
        c->due[i] = rc == 1 ? next.create_after : rc == 0 ? DUE_NEVER : 0;
        e = (struct err){0}; /* a timetable error: create_runs meets it again, at once */
    }
out:
    store_last_intervals_free(rows, n);
    free(last);
    free(ids);
}

/* Each tick: one statement for the pause state and active runs of all DAGs, one for the last
 * scheduled runs of the DAGs whose next run time is not known (all of them after a reload and
 * every DUE_REFRESH, else only those just unpaused or whose creation failed); then, per DAG, store
 * work only for what is due: creating the runs whose time came (store_run_create's unique key keeps
 * a run single however many schedulers race), timing out the runs of a DAG with active runs,
 * promoting the queued runs of a DAG that has some. Returns when the next run is due. */
static time_t
schedule_dags(struct loop_ctx *c, struct runner *r, time_t now)
{
    const struct dagbag *bag = runner_bag(r);
    struct dag_flags *flags;
    time_t next = 0;

    if (bag->n_dags == 0 || due_for_bag(c, bag, now) < 0 ||
        (flags = calloc(bag->n_dags, sizeof(*flags))) == NULL)
        return 0;
    if (read_flags(c, r, bag, flags) < 0) {
        free(flags);
        return 0;
    }
    read_due(c, r, bag, flags, now);
    for (size_t i = 0; i < bag->n_dags && runner_db_up(r); i++) {
        const struct dag *dag = bag->dags[i];
        bool created = false;
        int promoted = 0, timed_out = 0;
        double *delays = NULL;
        size_t n_delays = 0;
        struct err e = {0};

        if (flags[i].paused) {
            c->due[i] = 0; /* read again once unpaused */
            continue;
        }
        /* @continuous: a new run only once none is active (max_active_runs is 1) */
        if ((!timetable_is_continuous(dag) || !flags[i].active) && c->due[i] != DUE_NEVER &&
            c->due[i] <= now)
            c->due[i] = create_runs(c, r, dag, now, &created);
        if (c->due[i] != DUE_NEVER)
            next = earliest(next, c->due[i]);
        if (dag->dagrun_timeout > 0 && flags[i].active &&
            runner_time_out_runs(r, dag, now, &timed_out, &e) < 0) /* and their callbacks */
            runner_db_error(r, &e, "time out runs");
        if (timed_out > 0)
            runner_poke_dag(r, dag->dag_id);
        if (!flags[i].queued && !created)
            continue;
        if (store_runs_promote_delays(c->store, dag->dag_id, dag->max_active_runs, clock_wall(),
                                      &promoted, c->statsd ? &delays : NULL, &n_delays, &e) < 0)
            runner_db_error(r, &e, "promote runs");
        loop_metric_schedule_delays(c, dag->dag_id, delays, n_delays);
        free(delays);
        if (promoted > 0)
            runner_poke_dag(r, dag->dag_id);
    }
    free(flags);
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

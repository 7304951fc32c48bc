/* timetable: which scheduled runs a DAG should have now, reproducing Airflow's timetables.
 *
 * SEM_TRIGGER follows airflow/timetables/trigger.py (_TriggerTimetable.next_dagrun_info with
 * CronTriggerTimetable / DeltaTriggerTimetable, their `interval` and `run_immediately`, and
 * MultipleCronTriggerTimetable), SEM_INTERVAL follows interval.py
 * (_DataIntervalTimetable.next_dagrun_info, _skip_to_latest), @once, None and @continuous
 * follow simple.py, EventsTimetable events.py. A timetable given by __type__ (dag->tt) fixes
 * its semantics; a plain schedule string takes the scheduler's.
 * Airflow's four primitives (_get_next, _get_prev, _align_to_next, _align_to_prev) are the
 * tick_* functions below; on top of them each next_dagrun_info is transcribed step by step,
 * so the catchup, start_date and end_date rules read like Airflow's.
 *
 * Where gust differs from Airflow on purpose:
 * - timedelta schedules tick on a grid: start_date + k*delta (Airflow's DeltaMixin aligns
 *   nothing, so catchup=False would use "now" itself as a logical date); without start_date
 *   the grid is the last run's (trigger) or the epoch's (interval, Airflow's _round).
 * - @once without start_date runs once at `now` (Airflow never runs it).
 * - SEM_INTERVAL with catchup=True and no start_date behaves as catchup=False (Airflow never
 *   runs it: "nothing to catch up from").
 * - A run is never before start_date, even when start_date moved past the last run.
 *
 * Invariant: every function is pure; `now` is a parameter and never read from the clock. */
#include "timetable/timetable.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dagfile/dagfile.h"
#include "schedule/schedule.h"

/* Airflow's CronTriggerTimetable._calc_first_run: run the previous tick when now is within
 * max(10% of the gap between ticks, 5 minutes) of it, else wait for the next one. */
#define FIRST_RUN_MIN_BUFFER 300

/* The ticks of one schedule: Airflow's CronMixin or DeltaMixin. */
struct tick {
    const struct schedule *s;
    const char *tz;
    bool grid;     /* delta: ticks are anchor + k*delta; false: every instant is a tick */
    time_t anchor; /* delta grid origin */
};

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Airflow's _get_next: the first tick strictly after t. */
static int
tick_next(const struct tick *k, time_t t, time_t *out, struct err *e)
{
    long d = k->s->delta_seconds;

    if (k->s->kind == SCHED_DELTA) {
        *out = k->grid ? k->anchor + (time_t)(floor_div(t - k->anchor, d) + 1) * d : t + d;
        return 0;
    }
    int rc = schedule_next(k->s, k->tz, 0, 0, t, out, e);
    if (rc == 0)
        return err_set(e, ERR_FAIL, "schedule '%.80s': no trigger after %lld", k->s->text,
                       (long long)t);
    return rc < 0 ? -1 : 0;
}

/* Airflow's _get_prev: the last tick strictly before t. */
static int
tick_prev(const struct tick *k, time_t t, time_t *out, struct err *e)
{
    long d = k->s->delta_seconds;

    if (k->s->kind == SCHED_DELTA) {
        *out = k->grid ? k->anchor + (time_t)(-floor_div(k->anchor - t, d) - 1) * d : t - d;
        return 0;
    }
    return schedule_prev(k->s, k->tz, t, false, out, e);
}

/* Airflow's _align_to_next: t when it is a tick, else the next tick. */
static int
tick_align_next(const struct tick *k, time_t t, time_t *out, struct err *e)
{
    long d = k->s->delta_seconds;

    if (k->s->kind == SCHED_DELTA) {
        *out = k->grid ? k->anchor + (time_t)(-floor_div(k->anchor - t, d)) * d : t;
        return 0;
    }
    /* schedule_next aligns `start` itself when after < start (CronMixin._align_to_next) */
    int rc = schedule_next(k->s, k->tz, t, 0, t - 1, out, e);
    if (rc == 0)
        return err_set(e, ERR_FAIL, "schedule '%.80s': no trigger at or after %lld", k->s->text,
                       (long long)t);
    return rc < 0 ? -1 : 0;
}

/* Airflow's _align_to_prev: t when it is a tick, else the previous tick. */
static int
tick_align_prev(const struct tick *k, time_t t, time_t *out, struct err *e)
{
    long d = k->s->delta_seconds;

    if (k->s->kind == SCHED_DELTA) {
        *out = k->grid ? k->anchor + (time_t)floor_div(t - k->anchor, d) * d : t;
        return 0;
    }
    return schedule_prev(k->s, k->tz, t, true, out, e);
}

/* Keep the latest candidate (Airflow's max(start_time_candidates)). */
static void
candidate(time_t *best, bool *have, time_t t)
{
    if (!*have || t > *best)
        *best = t;
    *have = true;
}

/* CronTriggerTimetable._calc_first_run: run_immediately true takes the previous tick, a
 * timedelta is the buffer, false (the default, which Airflow's code treats like None) the
 * 10% buffer; DeltaTriggerTimetable's is _align_to_prev(now). */
static int
trigger_first_run(const struct dag *dag, const struct tick *k, time_t now, time_t *out,
                  struct err *e)
{
    time_t past, next, buffer;

    if (tick_align_prev(k, now, &past, e) < 0)
        return -1;
    if (k->s->kind == SCHED_DELTA || dag->tt.run_immediately == RUN_IMM_TRUE)
        return *out = past, 0;
    if (tick_align_next(k, now, &next, e) < 0)
        return -1;
    buffer = (next - past) / 10;
    if (buffer < FIRST_RUN_MIN_BUFFER)
        buffer = FIRST_RUN_MIN_BUFFER;
    if (dag->tt.run_immediately == RUN_IMM_DELTA)
        buffer = dag->tt.run_immediately_secs;
    *out = now - past <= buffer ? past : next;
    return 0;
}

/* _TriggerTimetable.next_dagrun_info: the next trigger time in *t. */
static int
trigger_next(const struct dag *dag, const struct tick *k, time_t last, time_t now, time_t *t,
             struct err *e)
{
    time_t c;
    bool have = false;

    *t = 0;
    if (!dag->catchup) { /* the most recent tick <= now */
        if (tick_align_prev(k, now, &c, e) < 0)
            return -1;
        candidate(t, &have, c);
    }
    if (last != 0) { /* strictly after the last run, however far back */
        if (tick_next(k, last, &c, e) < 0)
            return -1;
        candidate(t, &have, c);
    } else if (!dag->has_start_date) {
        if (trigger_first_run(dag, k, now, &c, e) < 0)
            return -1;
        candidate(t, &have, c);
    }
    if (dag->has_start_date) { /* start_date itself when it is a tick */
        if (tick_align_next(k, dag->start_date, &c, e) < 0)
            return -1;
        candidate(t, &have, c);
    }
    return 0;
}

/* _DataIntervalTimetable.next_dagrun_info: the next interval's start in *t. */
static int
interval_next(const struct dag *dag, const struct tick *k, time_t last, time_t now, time_t *t,
              struct err *e)
{
    time_t earliest = 0, c;
    bool have = false;

    if (!dag->catchup || !dag->has_start_date) {
        /* _skip_to_latest: the start of the latest interval that has ended by now */
        if (tick_align_prev(k, now, &c, e) < 0 || tick_prev(k, c, &earliest, e) < 0)
            return -1;
        have = true;
    }
    if (dag->has_start_date) { /* the first interval starts at the first tick >= start */
        if (tick_align_next(k, dag->start_date, &c, e) < 0)
            return -1;
        candidate(&earliest, &have, c);
    }
    *t = earliest;
    if (last != 0) { /* the interval after the last one: its end, aligned */
        if (tick_next(k, last, &c, e) < 0 || tick_align_prev(k, c, &c, e) < 0)
            return -1;
        if (c > *t)
            *t = c;
    }
    return 0;
}

/* A run whose data interval is [start, end] and that may be created at end. */
static void
fill(struct timetable_run *out, time_t logical, time_t start, time_t end)
{
    out->logical_date = logical;
    out->data_interval_start = start;
    out->data_interval_end = end;
    out->create_after = end;
}

/* OnceTimetable: one run at start_date (at now without one), none once a run exists. */
static int
once_next(const struct dag *dag, time_t last, time_t now, struct timetable_run *out)
{
    time_t t = dag->has_start_date ? dag->start_date : now;

    if (last != 0 || (dag->has_end_date && t > dag->end_date))
        return 0;
    fill(out, t, t, t);
    return 1;
}

static void
tick_init(struct tick *k, const struct dag *dag, const struct schedule *s,
          enum timetable_semantics sem, time_t last)
{
    k->s = s;
    k->tz = dag->tt.tz ? dag->tt.tz : dag->timezone ? dag->timezone : "UTC";
    k->grid = true;
    k->anchor = 0; /* interval semantics without start_date: the epoch, as Airflow's _round */
    if (dag->has_start_date) {
        k->anchor = dag->start_date;
    } else if (sem == SEM_TRIGGER) { /* the grid of the runs so far, or none before the first */
        k->grid = last != 0;
        k->anchor = last;
    }
}

enum timetable_semantics
timetable_semantics_of(const struct dag *dag, enum timetable_semantics sem)
{
    switch (dag->tt.kind) {
    case TT_CRON_TRIGGER:
    case TT_DELTA_TRIGGER:
    case TT_MULTI_CRON:
        return SEM_TRIGGER;
    case TT_CRON_INTERVAL:
    case TT_DELTA_INTERVAL:
        return SEM_INTERVAL;
    default:
        return sem;
    }
}

/* One cron or delta timetable (_TriggerTimetable or _DataIntervalTimetable.next_dagrun_info).
 * A trigger timetable's data interval is [trigger - interval, trigger] and its logical date
 * the interval's start (DagRunInfo.logical_date); the last run's trigger is its interval end,
 * from which Airflow counts the next one. */
static int
periodic_next(const struct dag *dag, const struct schedule *s, enum timetable_semantics sem,
              time_t last_logical, time_t last_end, time_t now, struct timetable_run *out,
              struct err *e)
{
    struct tick k;
    time_t t, end, iv = sem == SEM_TRIGGER ? (time_t)dag->tt.interval : 0;
    time_t last = last_logical != 0 ? last_logical + iv : 0;

    /* a timetable's last trigger is the stored end of its last data interval (it stays right
     * when `interval` changed since) */
    if (last != 0 && last_end != 0 && sem == SEM_TRIGGER && dag->tt.kind != TT_SCHEDULE)
        last = last_end;

    tick_init(&k, dag, s, sem, last);
    if ((sem == SEM_TRIGGER ? trigger_next(dag, &k, last, now, &t, e)
                            : interval_next(dag, &k, last, now, &t, e)) < 0)
        return err_prefix(e, "dag '%s': next run", dag->dag_id);
    if (dag->has_end_date && t > dag->end_date)
        return 0; /* restriction.latest: no run after end_date */
    if (sem == SEM_TRIGGER) {
        fill(out, t - iv, t - iv, t);
        return 1;
    }
    if (tick_next(&k, t, &end, e) < 0)
        return err_prefix(e, "dag '%s': next run", dag->dag_id);
    fill(out, t, t, end);
    return 1;
}

/* MultipleCronTriggerTimetable._dagrun_info_sort_key_*: with catchup the earliest logical
 * date; without, the latest one that is not in the future, else the earliest future one. */
static double
multi_key(const struct dag *dag, const struct timetable_run *r, time_t now)
{
    double ts = (double)r->logical_date;

    if (dag->catchup || ts > (double)now)
        return ts;
    return -ts;
}

/* MultipleCronTriggerTimetable.next_dagrun_info: each cron's next run, the best by key. */
static int
multi_next(const struct dag *dag, time_t last_logical, time_t last_end, time_t now,
           struct timetable_run *out, struct err *e)
{
    struct timetable_run r;
    bool have = false;
    int rc;

    for (size_t i = 0; i <= dag->tt.n_more; i++) {
        const struct schedule *s = i == 0 ? &dag->schedule : &dag->tt.more[i - 1];
        if ((rc = periodic_next(dag, s, SEM_TRIGGER, last_logical, last_end, now, &r, e)) < 0)
            return -1;
        if (rc == 1 && (!have || multi_key(dag, &r, now) < multi_key(dag, out, now)))
            *out = r, have = true;
    }
    return have ? 1 : 0;
}

/* EventsTimetable.next_dagrun_info: the first listed event not before the earliest allowed
 * time (start_date; without catchup, now when later) and after the last run's. */
static int
events_next(const struct dag *dag, time_t last, time_t now, struct timetable_run *out)
{
    bool has_earliest = dag->has_start_date;
    time_t earliest = dag->start_date;
    size_t i;

    if (!dag->catchup && (!has_earliest || now > earliest))
        earliest = now, has_earliest = true;
    for (i = 0; i < dag->tt.n_events; i++) {
        time_t ev = dag->tt.events[i];
        if ((has_earliest && ev < earliest) || (last != 0 && ev <= last))
            continue;
        break;
    }
    if (i == dag->tt.n_events || (dag->has_end_date && dag->tt.events[i] > dag->end_date))
        return 0;
    fill(out, dag->tt.events[i], dag->tt.events[i], dag->tt.events[i]);
    return 1;
}

/* ContinuousTimetable.next_dagrun_info: the interval from the last run's end to now. Whether a
 * run is still active (max_active_runs is 1) is the caller's business. */
static int
continuous_next(const struct dag *dag, time_t last_start, time_t last_end, time_t now,
                struct timetable_run *out)
{
    time_t first = dag->has_start_date ? dag->start_date : now, start, end;

    if (last_start != 0 && last_end == 0)
        last_end = last_start;
    if (last_start != 0 && last_end > now) { /* start_date moved into the future */
        start = first;
        end = first + (last_end - last_start);
    } else if (last_start != 0) {
        start = last_end;
        end = now;
    } else {
        start = first;
        end = first > now ? first : now;
    }
    if (dag->has_end_date && end > dag->end_date)
        return 0;
    fill(out, start, start, end);
    return 1;
}

int
timetable_next_run(const struct dag *dag, enum timetable_semantics sem, time_t last_logical,
                   time_t now, struct timetable_run *out, struct err *e)
{
    return timetable_next_run_end(dag, sem, last_logical, 0, now, out, e);
}

int
timetable_next_run_end(const struct dag *dag, enum timetable_semantics sem, time_t last_logical,
                       time_t last_end, time_t now, struct timetable_run *out, struct err *e)
{
    switch (dag->schedule.kind) {
    case SCHED_NONE:
        return 0;
    case SCHED_ONCE:
        return once_next(dag, last_logical, now, out);
    case SCHED_CONTINUOUS:
        return continuous_next(dag, last_logical, last_end, now, out);
    case SCHED_EVENTS:
        return events_next(dag, last_logical, now, out);
    case SCHED_CRON:
    case SCHED_DELTA:
        break;
    default:
        return err_set(e, ERR_FAIL, "dag '%s': unknown schedule kind %d", dag->dag_id,
                       (int)dag->schedule.kind);
    }
    if (dag->tt.kind == TT_MULTI_CRON)
        return multi_next(dag, last_logical, last_end, now, out, e);
    return periodic_next(dag, &dag->schedule, timetable_semantics_of(dag, sem), last_logical,
                         last_end, now, out, e);
}

bool
timetable_is_continuous(const struct dag *dag)
{
    return dag->schedule.kind == SCHED_CONTINUOUS;
}

/* Append run to the growing array *v (n used, *cap allocated). */
static int
push(struct timetable_run **v, size_t n, size_t *cap, const struct timetable_run *run,
     struct err *e)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct timetable_run *nv = realloc(*v, ncap * sizeof(**v));
        if (nv == NULL)
            return err_set(e, ERR_FAIL, "backfill: out of memory for %zu runs", ncap);
        *v = nv, *cap = ncap;
    }
    (*v)[n] = *run;
    return 0;
}

/* Airflow's DAG.iter_dagrun_infos_between with TimeRestriction(start, end, catchup=True):
 * the first tick >= start, then each following one while the logical date is <= end. */
static long
backfill_walk(const struct tick *k, enum timetable_semantics sem, time_t start, time_t end,
              size_t max, struct timetable_run **out, struct err *e)
{
    struct timetable_run run;
    size_t n = 0, cap = 0;
    time_t t, next;

    if (tick_align_next(k, start, &t, e) < 0)
        goto fail;
    while (t <= end && n < max) {
        if (tick_next(k, t, &next, e) < 0)
            goto fail;
        if (sem == SEM_TRIGGER)
            fill(&run, t, t, t);
        else
            fill(&run, t, t, next);
        if (push(out, n, &cap, &run, e) < 0)
            goto fail;
        n++;
        t = next;
    }
    return (long)n;
fail:
    free(*out);
    *out = NULL;
    return -1;
}

/* Airflow's DAG.iter_dagrun_infos_between for the timetables given by __type__: next_dagrun_info
 * again and again with the restriction (start, end, catchup=True). */
static long
backfill_timetable(const struct dag *dag, enum timetable_semantics sem, time_t start, time_t end,
                   size_t max, struct timetable_run **out, struct err *e)
{
    struct dag d = *dag;
    struct timetable_run run;
    size_t n = 0, cap = 0;
    time_t last = 0, last_end = 0;
    int rc = 0;

    d.has_start_date = d.has_end_date = d.catchup = true;
    d.start_date = start;
    d.end_date = end;
    while (n < max && (rc = timetable_next_run_end(&d, sem, last, last_end, end, &run, e)) == 1) {
        if (push(out, n, &cap, &run, e) < 0) {
            rc = -1;
            break;
        }
        n++;
        last = run.logical_date, last_end = run.data_interval_end;
    }
    if (rc < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return (long)n;
}

long
timetable_backfill_runs(const struct dag *dag, enum timetable_semantics sem, time_t start,
                        time_t end, size_t max, struct timetable_run **out, struct err *e)
{
    struct tick k;
    long n;

    *out = NULL;
    if (dag->schedule.kind != SCHED_CRON && dag->schedule.kind != SCHED_DELTA &&
        dag->schedule.kind != SCHED_EVENTS)
        return err_set(e, ERR_USAGE,
                       "dag '%s' has a non-periodic schedule (%s) that does not support "
                       "backfills",
                       dag->dag_id,
                       dag->schedule.kind == SCHED_ONCE         ? "@once"
                       : dag->schedule.kind == SCHED_CONTINUOUS ? "@continuous"
                                                                : "None");
    if (start > end)
        return err_set(e, ERR_USAGE, "dag '%s': backfill start is after its end", dag->dag_id);
    if (dag->tt.kind != TT_SCHEDULE) {
        n = backfill_timetable(dag, sem, start, end, max, out, e);
    } else {
        tick_init(&k, dag, &dag->schedule, sem, 0);
        if (!dag->has_start_date) { /* a delta backfill without start_date ticks from its start */
            k.grid = true;
            k.anchor = start;
        }
        n = backfill_walk(&k, sem, start, end, max, out, e);
    }
    if (n < 0)
        return err_prefix(e, "dag '%s': backfill", dag->dag_id);
    return n;
}

/* A plain schedule string: its trigger times after `after` (schedule_next's chain). */
static long
upcoming_plain(const struct dag *dag, time_t after, size_t n, struct timetable_run *out,
               struct err *e)
{
    size_t i;
    time_t t;
    int rc = 1;

    for (i = 0; i < n; i++, after = t) {
        rc = schedule_next(&dag->schedule, dag->timezone, dag->has_start_date ? dag->start_date : 0,
                           dag->has_end_date ? dag->end_date : 0, after, &t, e);
        if (rc <= 0)
            break;
        fill(&out[i], t, t, t);
    }
    return rc < 0 ? -1 : (long)i;
}

long
timetable_upcoming(const struct dag *dag, time_t after, size_t n, struct timetable_run *out,
                   struct err *e)
{
    struct dag d = *dag;
    struct timetable_run r;
    time_t last = 0, last_end = 0;
    size_t i = 0;
    int rc = 1;

    if (dag->tt.kind == TT_SCHEDULE && dag->schedule.kind != SCHED_CONTINUOUS)
        return upcoming_plain(dag, after, n, out, e);
    /* the latest run due by `after` (catchup off), then the runs after it: those whose logical
     * date is after `after` are listed; continuous runs are known one at a time */
    d.catchup = false;
    for (int guard = 0; i < n && guard < 100000; guard++) {
        rc = timetable_next_run_end(&d, SEM_TRIGGER, last, last_end, after, &r, e);
        if (rc <= 0)
            break;
        if (r.logical_date > after || dag->schedule.kind == SCHED_CONTINUOUS)
            out[i++] = r;
        if (dag->schedule.kind == SCHED_CONTINUOUS)
            break;
        last = r.logical_date, last_end = r.data_interval_end;
    }
    return rc < 0 ? -1 : (long)i;
}

/* EventsTimetable.infer_manual_data_interval with restrict_to_events: the latest event at
 * or before run_after, the first one when all are later. */
static time_t
latest_event(const struct dag *dag, time_t run_after)
{
    size_t i = 0;

    while (i + 1 < dag->tt.n_events && dag->tt.events[i + 1] <= run_after)
        i++;
    return dag->tt.events[i];
}

void
timetable_manual_interval(const struct dag *dag, time_t run_after, time_t *start, time_t *end)
{
    struct tick k;
    struct err e = {0};
    time_t t;

    *start = *end = run_after;
    switch (dag->tt.kind) {
    case TT_CRON_TRIGGER:
    case TT_DELTA_TRIGGER:
    case TT_MULTI_CRON:
        *start = run_after - (time_t)dag->tt.interval;
        break;
    case TT_DELTA_INTERVAL:
        *start = run_after - (time_t)dag->schedule.delta_seconds;
        break;
    case TT_CRON_INTERVAL: /* the last complete interval before run_after */
        tick_init(&k, dag, &dag->schedule, SEM_INTERVAL, 0);
        if (tick_align_prev(&k, run_after, &t, &e) == 0 && tick_prev(&k, t, start, &e) == 0)
            *end = t;
        else
            *start = run_after;
        break;
    case TT_EVENTS:
        if (dag->tt.restrict_to_events && dag->tt.n_events > 0)
            *start = *end = latest_event(dag, run_after);
        break;
    default:
        break;
    }
}

void
timetable_summary(const struct dag *dag, char *buf, size_t size)
{
    size_t used;

    /* Airflow 3's AssetTriggeredTimetable and AssetOrTimeSchedule summaries */
    if (dag->asset_schedule != NULL && !dag->asset_or_time) {
        snprintf(buf, size, "Asset");
        return;
    }
    if (dag->asset_schedule != NULL && size > 9) {
        struct dag plain = *dag;
        snprintf(buf, size, "Asset or ");
        plain.asset_schedule = NULL;
        timetable_summary(&plain, buf + 9, size - 9);
        return;
    }

    if (dag->schedule.kind == SCHED_EVENTS) {
        if (dag->tt.description != NULL)
            snprintf(buf, size, "%s", dag->tt.description);
        else
            snprintf(buf, size, "%zu events", dag->tt.n_events);
        return;
    }
    snprintf(buf, size, "%s", dag->schedule.kind == SCHED_NONE ? "None" : dag->schedule.text);
    for (size_t i = 0; i < dag->tt.n_more && (used = strlen(buf)) < size; i++)
        snprintf(buf + used, size - used, ", %s", dag->tt.more[i].text);
}

static const char *
class_name(const struct dag *dag, enum timetable_semantics sem)
{
    static const char *const names[] = {"",
                                        "CronTriggerTimetable",
                                        "CronDataIntervalTimetable",
                                        "DeltaTriggerTimetable",
                                        "DeltaDataIntervalTimetable",
                                        "MultipleCronTriggerTimetable",
                                        "EventsTimetable",
                                        "ContinuousTimetable"};
    bool trigger = timetable_semantics_of(dag, sem) == SEM_TRIGGER;

    if (dag->tt.kind != TT_SCHEDULE)
        return names[dag->tt.kind];
    switch (dag->schedule.kind) {
    case SCHED_NONE:
        return "NullTimetable";
    case SCHED_ONCE:
        return "OnceTimetable";
    case SCHED_CONTINUOUS:
        return "ContinuousTimetable";
    case SCHED_DELTA:
        return trigger ? "DeltaTriggerTimetable" : "DeltaDataIntervalTimetable";
    default:
        return trigger ? "CronTriggerTimetable" : "CronDataIntervalTimetable";
    }
}

void
timetable_describe(const struct dag *dag, char *buf, size_t size)
{
    char sum[200];
    const char *tz = dag->tt.tz ? dag->tt.tz : dag->timezone ? dag->timezone : "UTC";

    timetable_summary(dag, sum, sizeof(sum));
    switch (dag->schedule.kind) {
    case SCHED_NONE:
        snprintf(buf, size, "Never, external triggers only");
        return;
    case SCHED_ONCE:
        snprintf(buf, size, "Once, as soon as possible");
        return;
    case SCHED_CONTINUOUS:
        snprintf(buf, size, "As frequently as possible, but only one run at a time.");
        return;
    case SCHED_EVENTS:
        snprintf(buf, size, "EventsTimetable: %s", sum);
        return;
    default:
        break;
    }
    /* a plain schedule string follows the scheduler's setting: name the Airflow 3 default */
    snprintf(buf, size, "%s: %s in %s%s", class_name(dag, SEM_TRIGGER), sum, tz,
             dag->tt.interval > 0 ? ", with a data interval" : "");
}

int
timetable_semantics_parse(const char *s, enum timetable_semantics *out)
{
    if (s == NULL || strcasecmp(s, "airflow3") == 0 || strcasecmp(s, "trigger") == 0)
        return *out = SEM_TRIGGER, 0;
    if (strcasecmp(s, "airflow2") == 0 || strcasecmp(s, "interval") == 0)
        return *out = SEM_INTERVAL, 0;
    return -1;
}

/* Unit tests for sched: the next scheduled run of a DAG as Airflow's timetables compute it,
 * with injected `now`. Trigger semantics (Airflow 3) and data-interval semantics (Airflow 2)
 * for catchup true and false, first runs with and without start_date, future start dates,
 * end_date, @once, None, timedelta grids, DST in Europe/Berlin and America/New_York,
 * backfill ranges. Every expectation is a concrete instant, worked out by hand from
 * Airflow's next_dagrun_info (airflow/timetables/trigger.py, interval.py, simple.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "timetable/timetable.h"
#include "schedule/tz.h"

static time_t
at(const char *iso)
{
    struct err e = {0};
    time_t t = 0;

    if (iso == NULL)
        return 0;
    if (tz_parse_iso("UTC", iso, &t, &e) < 0)
        fail_msg("bad time in test: %s", e.msg);
    return t;
}

/* t formatted in zone tz, compared with want ("2024-01-01T00:00:00+00:00"). */
static void
check_time_tz(const char *what, time_t t, const char *tz, const char *want)
{
    struct err e = {0};
    char got[32];

    if (tz_format(tz, t, got, &e) < 0)
        fail_msg("%s: format %lld: %s", what, (long long)t, e.msg);
    if (strcmp(got, want) != 0)
        fail_msg("%s: want %s got %s", what, want, got);
}

static void
check_time(const char *what, time_t t, const char *want)
{
    check_time_tz(what, t, "UTC", want);
}

/* The one DAG "d" of a small YAML file. schedule is a YAML value; NULL fields are left out. */
static const struct dag *
load(struct dagbag *bag, const char *schedule, const char *tz, const char *start, const char *end,
     bool catchup)
{
    char text[1024];
    int n = snprintf(text, sizeof(text), "d:\n  catchup: %s\n  tasks: []\n",
                     catchup ? "true" : "false");

    if (schedule)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "  schedule: %s\n", schedule);
    if (tz)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "  timezone: %s\n", tz);
    if (start)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "  start_date: \"%s\"\n", start);
    if (end)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "  end_date: \"%s\"\n", end);
    if (dagbag_load_string(bag, "t.yaml", text, strlen(text)) != 0 || bag->n_dags != 1) {
        char msg[512] = "";
        if (bag->n_diags > 0)
            dag_diag_format(&bag->diags[0], msg, sizeof(msg));
        fail_msg("DAG did not load: %s\n%s", msg, text);
    }
    return bag->dags[0];
}

/* timetable_next_run with ISO times (last NULL: no run yet); fails the test on error. */
static int
next_run(const struct dag *d, enum timetable_semantics sem, const char *last, const char *now,
         struct timetable_run *r)
{
    struct err e = {0};
    int rc;

    memset(r, 0, sizeof(*r));
    rc = timetable_next_run(d, sem, at(last), at(now), r, &e);
    if (rc < 0)
        fail_msg("timetable_next_run: %s", e.msg);
    return rc;
}

/* A trigger run: logical date = both interval ends = create_after = want. */
static void
expect_trigger(const struct dag *d, const char *last, const char *now, const char *want)
{
    struct timetable_run r;

    if (next_run(d, SEM_TRIGGER, last, now, &r) != 1)
        fail_msg("no next run after %s at %s, want %s", last ? last : "(none)", now, want);
    check_time("logical_date", r.logical_date, want);
    check_time("data_interval_start", r.data_interval_start, want);
    check_time("data_interval_end", r.data_interval_end, want);
    check_time("create_after", r.create_after, want);
}

/* An interval run [logical, end), created at end. */
static void
expect_interval(const struct dag *d, const char *last, const char *now, const char *logical,
                const char *end)
{
    struct timetable_run r;

    if (next_run(d, SEM_INTERVAL, last, now, &r) != 1)
        fail_msg("no next run after %s at %s, want %s", last ? last : "(none)", now, logical);
    check_time("logical_date", r.logical_date, logical);
    check_time("data_interval_start", r.data_interval_start, logical);
    check_time("data_interval_end", r.data_interval_end, end);
    check_time("create_after", r.create_after, end);
}

static void
expect_none(const struct dag *d, enum timetable_semantics sem, const char *last, const char *now)
{
    struct timetable_run r;

    if (next_run(d, sem, last, now, &r) != 0)
        fail_msg("want no run, got one at %lld", (long long)r.logical_date);
}

#define UTC0 "+00:00"
#define DELTA_90M "{__type__: datetime.timedelta, hours: 1, minutes: 30}"
#define DELTA_1H "{__type__: datetime.timedelta, hours: 1}"

/* ---- trigger semantics (Airflow 3) ---- */

static void
test_trigger_catchup_first_run(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2024-01-01T00:00:00", NULL, true);

    /* start_date on a tick is itself the first run, however long ago */
    expect_trigger(d, NULL, "2024-03-15T10:30:00Z", "2024-01-01T00:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@daily\"", NULL, "2024-01-01T06:00:00", NULL, true);
    /* off a tick: the first tick after it */
    expect_trigger(d, NULL, "2024-03-15T10:30:00Z", "2024-01-02T00:00:00" UTC0);
    dagbag_free(b);
}

static void
test_trigger_catchup_walks(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2024-01-01", NULL, true);
    const char *now = "2024-03-15T10:30:00Z";

    /* one run per call, each strictly after the previous one, even far in the past */
    expect_trigger(d, NULL, now, "2024-01-01T00:00:00" UTC0);
    expect_trigger(d, "2024-01-01T00:00:00Z", now, "2024-01-02T00:00:00" UTC0);
    expect_trigger(d, "2024-01-02T00:00:00Z", now, "2024-01-03T00:00:00" UTC0);
    /* caught up: the next one lies in the future */
    expect_trigger(d, "2024-03-15T00:00:00Z", now, "2024-03-16T00:00:00" UTC0);
    dagbag_free(b);
}

static void
test_trigger_no_catchup_after_pause(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2024-01-01", NULL, false);

    /* paused for ten weeks: only the latest tick <= now */
    expect_trigger(d, "2024-01-03T00:00:00Z", "2024-03-15T10:30:00Z", "2024-03-15T00:00:00" UTC0);
    /* now exactly on a tick: that tick */
    expect_trigger(d, "2024-01-03T00:00:00Z", "2024-03-15T00:00:00Z", "2024-03-15T00:00:00" UTC0);
    /* the latest tick already ran: the next one, in the future */
    expect_trigger(d, "2024-03-15T00:00:00Z", "2024-03-15T10:30:00Z", "2024-03-16T00:00:00" UTC0);
    /* the clock went back: never before or at the last run */
    expect_trigger(d, "2024-03-20T00:00:00Z", "2024-03-15T10:30:00Z", "2024-03-21T00:00:00" UTC0);
    dagbag_free(b);
}

static void
test_trigger_no_catchup_no_runs(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"0 */6 * * *\"", NULL, "2023-06-01", NULL, false);

    expect_trigger(d, NULL, "2024-03-15T10:30:00Z", "2024-03-15T06:00:00" UTC0);
    dagbag_free(b);
}

static void
test_trigger_without_start_date(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@hourly\"", NULL, NULL, NULL, false);

    /* CronTriggerTimetable._calc_first_run: the past tick only within max(10%, 5 min) */
    expect_trigger(d, NULL, "2024-03-15T10:06:00Z", "2024-03-15T10:00:00" UTC0);
    expect_trigger(d, NULL, "2024-03-15T10:07:00Z", "2024-03-15T11:00:00" UTC0);
    expect_trigger(d, NULL, "2024-03-15T11:00:00Z", "2024-03-15T11:00:00" UTC0);
    /* then the usual rule */
    expect_trigger(d, "2024-03-15T11:00:00Z", "2024-03-15T11:00:05Z", "2024-03-15T12:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@daily\"", NULL, NULL, NULL, true); /* catchup has nothing to start from */
    expect_trigger(d, NULL, "2024-03-15T02:24:00Z", "2024-03-15T00:00:00" UTC0);
    expect_trigger(d, NULL, "2024-03-15T02:25:00Z", "2024-03-16T00:00:00" UTC0);
    dagbag_free(b);
}

static void
test_future_start_date(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2030-01-01T05:00:00", NULL, false);

    expect_trigger(d, NULL, "2024-03-15T10:30:00Z", "2030-01-02T00:00:00" UTC0);
    /* interval semantics: the first interval starts at the first tick >= start_date */
    expect_interval(d, NULL, "2024-03-15T10:30:00Z", "2030-01-02T00:00:00" UTC0,
                    "2030-01-03T00:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@daily\"", NULL, "2030-01-01", NULL, true);
    expect_trigger(d, NULL, "2024-03-15T10:30:00Z", "2030-01-01T00:00:00" UTC0);
    expect_interval(d, NULL, "2024-03-15T10:30:00Z", "2030-01-01T00:00:00" UTC0,
                    "2030-01-02T00:00:00" UTC0);
    dagbag_free(b);
}

static void
test_end_date(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2024-01-01", "2024-01-03T00:00:00", true);
    const char *now = "2024-02-01T00:00:00Z";

    expect_trigger(d, "2024-01-02T00:00:00Z", now, "2024-01-03T00:00:00" UTC0); /* inclusive */
    expect_none(d, SEM_TRIGGER, "2024-01-03T00:00:00Z", now);
    /* interval: the logical date (interval start) is bounded, not the interval end */
    expect_interval(d, "2024-01-02T00:00:00Z", now, "2024-01-03T00:00:00" UTC0,
                    "2024-01-04T00:00:00" UTC0);
    expect_none(d, SEM_INTERVAL, "2024-01-03T00:00:00Z", now);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@daily\"", NULL, "2024-01-01", "2024-01-10", false);
    /* catchup=false jumps to the latest tick, past end_date: nothing more */
    expect_none(d, SEM_TRIGGER, "2024-01-03T00:00:00Z", now);
    expect_none(d, SEM_TRIGGER, NULL, now);
    dagbag_free(b);
}

/* ---- @once and None ---- */

static void
test_once(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@once\"", NULL, "2024-05-01T10:00:00", NULL, false);

    expect_trigger(d, NULL, "2024-06-01T00:00:00Z", "2024-05-01T10:00:00" UTC0);
    expect_none(d, SEM_TRIGGER, "2024-05-01T10:00:00Z", "2024-06-01T00:00:00Z");
    /* the same for interval semantics: an exact interval at start_date */
    expect_interval(d, NULL, "2024-06-01T00:00:00Z", "2024-05-01T10:00:00" UTC0,
                    "2024-05-01T10:00:00" UTC0);
    expect_none(d, SEM_INTERVAL, "2024-05-01T10:00:00Z", "2024-06-01T00:00:00Z");
    /* a future start_date waits */
    expect_trigger(d, NULL, "2024-01-01T00:00:00Z", "2024-05-01T10:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@once\"", NULL, NULL, NULL, true);
    expect_trigger(d, NULL, "2024-06-01T12:34:56Z", "2024-06-01T12:34:56" UTC0);
    expect_none(d, SEM_TRIGGER, "2024-06-01T12:34:56Z", "2024-06-02T00:00:00Z");
    dagbag_free(b);
}

static void
test_none(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"None\"", NULL, "2024-01-01", NULL, true);
    struct timetable_run *runs = (struct timetable_run *)1;
    struct err e = {0};

    expect_none(d, SEM_TRIGGER, NULL, "2024-06-01T00:00:00Z");
    expect_none(d, SEM_INTERVAL, NULL, "2024-06-01T00:00:00Z");
    assert_int_equal(timetable_backfill_runs(d, SEM_TRIGGER, at("2024-01-01T00:00:00Z"),
                                             at("2024-01-05T00:00:00Z"), 100, &runs, &e),
                     -1);
    assert_null(runs);
    assert_int_equal(e.code, ERR_USAGE);
    assert_string_equal(e.msg, "dag 'd' has a non-periodic schedule (None) that does not support "
                               "backfills");
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@once\"", NULL, "2024-01-01", NULL, true);
    assert_int_equal(timetable_backfill_runs(d, SEM_TRIGGER, at("2024-01-01T00:00:00Z"),
                                             at("2024-01-05T00:00:00Z"), 100, &runs, &e),
                     -1);
    assert_string_equal(e.msg, "dag 'd' has a non-periodic schedule (@once) that does not support "
                               "backfills");
    dagbag_free(b);
}

/* ---- timedelta ---- */

static void
test_delta_trigger(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, DELTA_90M, NULL, "2024-01-01", NULL, true);
    const char *now = "2024-01-01T10:00:00Z";

    expect_trigger(d, NULL, now, "2024-01-01T00:00:00" UTC0);
    expect_trigger(d, "2024-01-01T00:00:00Z", now, "2024-01-01T01:30:00" UTC0);
    expect_trigger(d, "2024-01-01T01:30:00Z", now, "2024-01-01T03:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, DELTA_90M, NULL, "2024-01-01", NULL, false);
    /* catchup=false: the latest start + k*delta <= now */
    expect_trigger(d, "2024-01-01T01:30:00Z", now, "2024-01-01T09:00:00" UTC0);
    expect_trigger(d, NULL, now, "2024-01-01T09:00:00" UTC0);
    expect_trigger(d, "2024-01-01T09:00:00Z", now, "2024-01-01T10:30:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, DELTA_90M, NULL, NULL, NULL, false);
    /* no start_date: DeltaTriggerTimetable runs at now, then every delta from there */
    expect_trigger(d, NULL, "2024-01-01T10:17:05Z", "2024-01-01T10:17:05" UTC0);
    expect_trigger(d, "2024-01-01T10:17:05Z", "2024-01-01T10:17:06Z", "2024-01-01T11:47:05" UTC0);
    expect_trigger(d, "2024-01-01T10:17:05Z", "2024-01-01T15:00:00Z", "2024-01-01T14:47:05" UTC0);
    dagbag_free(b);
}

static void
test_delta_interval(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, DELTA_90M, NULL, "2024-01-01", NULL, true);
    const char *now = "2024-01-01T10:00:00Z";

    expect_interval(d, NULL, now, "2024-01-01T00:00:00" UTC0, "2024-01-01T01:30:00" UTC0);
    expect_interval(d, "2024-01-01T00:00:00Z", now, "2024-01-01T01:30:00" UTC0,
                    "2024-01-01T03:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, DELTA_90M, NULL, "2024-01-01", NULL, false);
    /* the latest complete interval [start + k*delta, start + (k+1)*delta) */
    expect_interval(d, NULL, now, "2024-01-01T07:30:00" UTC0, "2024-01-01T09:00:00" UTC0);
    expect_interval(d, "2024-01-01T07:30:00Z", now, "2024-01-01T09:00:00" UTC0,
                    "2024-01-01T10:30:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, DELTA_1H, NULL, NULL, NULL, false);
    /* no start_date: Airflow's _round to a multiple of delta since the epoch */
    expect_interval(d, NULL, "2024-01-01T10:30:00Z", "2024-01-01T09:00:00" UTC0,
                    "2024-01-01T10:00:00" UTC0);
    dagbag_free(b);
}

/* ---- data-interval semantics (Airflow 2) ---- */

static void
test_interval_daily(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2024-01-01", NULL, true);
    const char *now = "2024-03-15T10:30:00Z";

    expect_interval(d, NULL, now, "2024-01-01T00:00:00" UTC0, "2024-01-02T00:00:00" UTC0);
    expect_interval(d, "2024-01-01T00:00:00Z", now, "2024-01-02T00:00:00" UTC0,
                    "2024-01-03T00:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@daily\"", NULL, "2024-01-01T06:00:00", NULL, false);
    /* the latest complete interval: yesterday, created at this midnight */
    expect_interval(d, NULL, now, "2024-03-14T00:00:00" UTC0, "2024-03-15T00:00:00" UTC0);
    expect_interval(d, NULL, "2024-03-15T00:00:00Z", "2024-03-14T00:00:00" UTC0,
                    "2024-03-15T00:00:00" UTC0);
    expect_interval(d, "2024-01-05T00:00:00Z", now, "2024-03-14T00:00:00" UTC0,
                    "2024-03-15T00:00:00" UTC0);
    /* yesterday already ran: today's interval, created at the next midnight */
    expect_interval(d, "2024-03-14T00:00:00Z", now, "2024-03-15T00:00:00" UTC0,
                    "2024-03-16T00:00:00" UTC0);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"@daily\"", "Europe/Berlin", "2024-01-01", NULL, false);
    /* local midnights: 23:00 UTC in winter */
    expect_interval(d, NULL, now, "2024-03-13T23:00:00" UTC0, "2024-03-14T23:00:00" UTC0);
    dagbag_free(b);
}

static void
test_interval_hourly_berlin_dst(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@hourly\"", "Europe/Berlin", "2024-03-30", NULL, true);
    const char *now = "2024-12-01T00:00:00Z";
    const char *tz = "Europe/Berlin";
    struct timetable_run r;
    /* spring forward 2024-03-31 02:00 CET -> 03:00 CEST, then fall back 2024-10-27 03:00 CEST
     * -> 02:00 CET: every real hour is one interval, none skipped, none doubled */
    static const char *const spring[] = {"2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00",
                                         "2024-03-31T04:00:00+02:00"};
    static const char *const autumn[] = {"2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00",
                                         "2024-10-27T03:00:00+01:00", "2024-10-27T04:00:00+01:00"};
    time_t last = at("2024-03-31T00:00:00Z") - 3600; /* 00:00 CET */

    for (int i = 0; i < 3; i++) {
        assert_int_equal(timetable_next_run(d, SEM_INTERVAL, last, at(now), &r, NULL), 1);
        check_time_tz("spring logical", r.logical_date, tz, spring[i]);
        assert_int_equal(r.data_interval_end - r.data_interval_start, 3600);
        assert_int_equal(r.create_after, r.data_interval_end);
        last = r.logical_date;
    }
    last = at("2024-10-26T23:00:00Z"); /* 01:00 CEST */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(timetable_next_run(d, SEM_INTERVAL, last, at(now), &r, NULL), 1);
        check_time_tz("autumn logical", r.logical_date, tz, autumn[i]);
        check_time_tz("autumn end", r.data_interval_end, tz, autumn[i + 1]);
        last = r.logical_date;
    }
    dagbag_free(b);
}

static void
test_trigger_new_york_spring_forward(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"30 2 * * *\"", "America/New_York", "2024-03-08", NULL, true);
    const char *tz = "America/New_York";
    struct timetable_run r;
    /* 2024-03-10 02:30 does not exist (02:00 EST -> 03:00 EDT): Airflow shifts it forward */
    static const char *const want[] = {"2024-03-08T02:30:00-05:00", "2024-03-09T02:30:00-05:00",
                                       "2024-03-10T03:30:00-04:00", "2024-03-11T02:30:00-04:00"};
    time_t last = 0;

    for (int i = 0; i < 4; i++) {
        assert_int_equal(
            timetable_next_run(d, SEM_TRIGGER, last, at("2024-04-01T00:00:00Z"), &r, NULL), 1);
        check_time_tz("logical", r.logical_date, tz, want[i]);
        assert_int_equal(r.create_after, r.logical_date);
        last = r.logical_date;
    }
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, "\"30 2 * * *\"", "America/New_York", "2024-03-01", NULL, false);
    expect_trigger(d, NULL, "2024-03-10T12:00:00Z", "2024-03-10T07:30:00" UTC0);
    expect_trigger(d, "2024-03-10T07:30:00Z", "2024-03-10T12:00:00Z", "2024-03-11T06:30:00" UTC0);
    dagbag_free(b);
}

/* ---- backfill ---- */

static long
backfill(const struct dag *d, enum timetable_semantics sem, const char *start, const char *end,
         size_t max, struct timetable_run **runs)
{
    struct err e = {0};
    long n = timetable_backfill_runs(d, sem, at(start), at(end), max, runs, &e);

    if (n < 0)
        fail_msg("backfill: %s", e.msg);
    return n;
}

static void
test_backfill_trigger(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2023-01-01", NULL, false);
    struct timetable_run *runs = NULL;
    struct err e = {0};
    long n;

    n = backfill(d, SEM_TRIGGER, "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z", 100, &runs);
    assert_int_equal(n, 5); /* both bounds inclusive */
    check_time("first", runs[0].logical_date, "2024-01-01T00:00:00" UTC0);
    check_time("last", runs[4].logical_date, "2024-01-05T00:00:00" UTC0);
    check_time("last create_after", runs[4].create_after, "2024-01-05T00:00:00" UTC0);
    free(runs);

    n = backfill(d, SEM_TRIGGER, "2024-01-01T00:00:01Z", "2024-01-05T23:59:59Z", 100, &runs);
    assert_int_equal(n, 4);
    check_time("first", runs[0].logical_date, "2024-01-02T00:00:00" UTC0);
    free(runs);

    n = backfill(d, SEM_TRIGGER, "2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z", 3, &runs);
    assert_int_equal(n, 3); /* the cap */
    check_time("third", runs[2].logical_date, "2024-01-03T00:00:00" UTC0);
    free(runs);

    n = backfill(d, SEM_TRIGGER, "2024-01-01T01:00:00Z", "2024-01-01T23:00:00Z", 100, &runs);
    assert_int_equal(n, 0);
    free(runs);

    assert_int_equal(timetable_backfill_runs(d, SEM_TRIGGER, at("2024-01-05T00:00:00Z"),
                                             at("2024-01-01T00:00:00Z"), 100, &runs, &e),
                     -1);
    assert_int_equal(e.code, ERR_USAGE);
    dagbag_free(b);
}

static void
test_backfill_interval_and_delta(void **state)
{
    (void)state;
    struct dagbag *b = dagbag_new();
    const struct dag *d = load(b, "\"@daily\"", NULL, "2023-01-01", NULL, false);
    struct timetable_run *runs = NULL;
    long n;

    n = backfill(d, SEM_INTERVAL, "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z", 100, &runs);
    assert_int_equal(n, 3);
    check_time("first", runs[0].logical_date, "2024-01-01T00:00:00" UTC0);
    check_time("first end", runs[0].data_interval_end, "2024-01-02T00:00:00" UTC0);
    check_time("last", runs[2].logical_date, "2024-01-03T00:00:00" UTC0);
    check_time("last create_after", runs[2].create_after, "2024-01-04T00:00:00" UTC0);
    free(runs);
    dagbag_free(b);

    b = dagbag_new();
    d = load(b, DELTA_90M, NULL, "2024-01-01", NULL, false);
    /* on start_date's grid, like the scheduled runs */
    n = backfill(d, SEM_TRIGGER, "2024-01-01T01:00:00Z", "2024-01-01T06:00:00Z", 100, &runs);
    assert_int_equal(n, 4);
    check_time("first", runs[0].logical_date, "2024-01-01T01:30:00" UTC0);
    check_time("last", runs[3].logical_date, "2024-01-01T06:00:00" UTC0);
    free(runs);
    dagbag_free(b);
}

/* ---- semantics names ---- */

static void
test_semantics_parse(void **state)
{
    (void)state;
    enum timetable_semantics s = SEM_INTERVAL;

    assert_int_equal(timetable_semantics_parse(NULL, &s), 0);
    assert_int_equal(s, SEM_TRIGGER);
    assert_int_equal(timetable_semantics_parse("airflow2", &s), 0);
    assert_int_equal(s, SEM_INTERVAL);
    assert_int_equal(timetable_semantics_parse("trigger", &s), 0);
    assert_int_equal(s, SEM_TRIGGER);
    assert_int_equal(timetable_semantics_parse("interval", &s), 0);
    assert_int_equal(s, SEM_INTERVAL);
    assert_int_equal(timetable_semantics_parse("airflow3", &s), 0);
    assert_int_equal(s, SEM_TRIGGER);
    assert_int_equal(timetable_semantics_parse("airflow1", &s), -1);
}

/* The one DAG of YAML text (no checks of its keys beyond loading). */
static const struct dag *
load_text(struct dagbag *bag, const char *text)
{
    if (dagbag_load_string(bag, "t.yaml", text, strlen(text)) != 0 || bag->n_dags != 1) {
        char msg[512] = "";
        if (bag->n_diags > 0)
            dag_diag_format(&bag->diags[0], msg, sizeof(msg));
        fail_msg("DAG did not load: %s\n%s", msg, text);
    }
    return bag->dags[0];
}

static void
check_manual(const char *yaml, const char *run_after, const char *want_start, const char *want_end)
{
    struct dagbag *bag = dagbag_new();
    const struct dag *d = load_text(bag, yaml);
    time_t s, e;

    timetable_manual_interval(d, at(run_after), &s, &e);
    check_time("manual start", s, want_start);
    check_time("manual end", e, want_end);
    dagbag_free(bag);
}

/* Airflow's infer_manual_data_interval for each timetable (trigger.py, interval.py,
 * events.py); a plain schedule keeps [run_after, run_after]. */
static void
test_manual_interval(void **state)
{
    (void)state;
    check_manual("d:\n  schedule: {__type__: airflow.timetables.trigger.CronTriggerTimetable, "
                 "cron: '0 6 * * *', timezone: UTC, interval: {__type__: datetime.timedelta, "
                 "hours: 2}}\n  tasks: []\n",
                 "2024-03-10T07:30:00Z", "2024-03-10T05:30:00+00:00", "2024-03-10T07:30:00+00:00");
    /* CronDataIntervalTimetable: the last complete period before run_after */
    check_manual(
        "d:\n  schedule: {__type__: airflow.timetables.interval.CronDataIntervalTimetable, "
        "__args__: ['@daily', UTC]}\n  tasks: []\n",
        "2024-03-10T05:00:00Z", "2024-03-09T00:00:00+00:00", "2024-03-10T00:00:00+00:00");
    check_manual(
        "d:\n  schedule: {__type__: airflow.timetables.interval.DeltaDataIntervalTimetable, "
        "delta: {__type__: datetime.timedelta, hours: 6}}\n  tasks: []\n",
        "2024-03-10T05:00:00Z", "2024-03-09T23:00:00+00:00", "2024-03-10T05:00:00+00:00");
    /* restrict_to_events: the latest past event, the first one when all are later */
    const char *ev = "d:\n  schedule: {__type__: airflow.timetables.events.EventsTimetable, "
                     "event_dates: ['2024-05-01T00:00:00Z', '2024-01-01T00:00:00Z'], "
                     "restrict_to_events: true}\n  tasks: []\n";
    check_manual(ev, "2024-03-10T05:00:00Z", "2024-01-01T00:00:00+00:00",
                 "2024-01-01T00:00:00+00:00");
    check_manual(ev, "2023-03-10T05:00:00Z", "2024-01-01T00:00:00+00:00",
                 "2024-01-01T00:00:00+00:00");
    check_manual(ev, "2025-03-10T05:00:00Z", "2024-05-01T00:00:00+00:00",
                 "2024-05-01T00:00:00+00:00");
    check_manual("d:\n  schedule: '0 6 * * *'\n  tasks: []\n", "2024-03-10T05:00:00Z",
                 "2024-03-10T05:00:00+00:00", "2024-03-10T05:00:00+00:00");
}

/* ContinuousTimetable.next_dagrun_info: from start_date to now, then from each run's end. */
static void
test_continuous(void **state)
{
    struct dagbag *bag = dagbag_new();
    const struct dag *d = load_text(bag, "d:\n  schedule: '@continuous'\n  max_active_runs: 1\n"
                                         "  start_date: '2024-01-01'\n  end_date: "
                                         "'2024-02-01'\n  tasks: []\n");
    struct timetable_run r;
    struct timetable_run *runs = NULL;
    struct err e = {0};

    (void)state;
    assert_true(timetable_is_continuous(d));
    assert_int_equal(
        timetable_next_run_end(d, SEM_INTERVAL, 0, 0, at("2024-01-05T00:00:00Z"), &r, &e), 1);
    check_time("first start", r.data_interval_start, "2024-01-01T00:00:00+00:00");
    check_time("first end", r.data_interval_end, "2024-01-05T00:00:00+00:00");
    check_time("first run_after", r.create_after, "2024-01-05T00:00:00+00:00");
    assert_int_equal(timetable_next_run_end(d, SEM_TRIGGER, r.logical_date, r.data_interval_end,
                                            at("2024-01-05T00:10:00Z"), &r, &e),
                     1);
    check_time("second logical", r.logical_date, "2024-01-05T00:00:00+00:00");
    check_time("second end", r.data_interval_end, "2024-01-05T00:10:00+00:00");
    /* past end_date: no more runs */
    assert_int_equal(timetable_next_run_end(d, SEM_TRIGGER, r.logical_date, r.data_interval_end,
                                            at("2024-03-01T00:00:00Z"), &r, &e),
                     0);
    /* not periodic: no backfill */
    assert_int_equal(timetable_backfill_runs(d, SEM_TRIGGER, at("2024-01-01T00:00:00Z"),
                                             at("2024-01-03T00:00:00Z"), 10, &runs, &e),
                     -1);
    assert_non_null(strstr(e.msg, "@continuous"));
    dagbag_free(bag);
}

/* A timetable given by __type__ keeps its semantics whatever the scheduler's setting; a
 * backfill of it walks next_dagrun_info (events inside the range, both crons). */
static void
test_explicit_semantics_and_backfill(void **state)
{
    struct dagbag *bag = dagbag_new();
    const struct dag *d = load_text(
        bag, "d:\n  schedule: {__type__: airflow.timetables.trigger.MultipleCronTriggerTimetable, "
             "__args__: ['0 6 * * *', '0 18 * * *'], timezone: UTC}\n  tasks: []\n");
    struct timetable_run *runs = NULL;
    struct err e = {0};
    long n;

    (void)state;
    assert_int_equal(timetable_semantics_of(d, SEM_INTERVAL), SEM_TRIGGER);
    n = timetable_backfill_runs(d, SEM_INTERVAL, at("2024-01-01T00:00:00Z"),
                                at("2024-01-02T12:00:00Z"), 10, &runs, &e);
    assert_int_equal(n, 3);
    check_time("backfill 1", runs[0].logical_date, "2024-01-01T06:00:00+00:00");
    check_time("backfill 2", runs[1].logical_date, "2024-01-01T18:00:00+00:00");
    check_time("backfill 3", runs[2].logical_date, "2024-01-02T06:00:00+00:00");
    free(runs);
    dagbag_free(bag);
    bag = dagbag_new();
    d = load_text(bag, "d:\n  schedule: {__type__: airflow.timetables.events.EventsTimetable, "
                       "event_dates: ['2024-05-01', '2024-01-01', '2025-01-01']}\n  tasks: []\n");
    n = timetable_backfill_runs(d, SEM_TRIGGER, at("2024-01-01T00:00:00Z"),
                                at("2024-12-31T00:00:00Z"), 10, &runs, &e);
    assert_int_equal(n, 2);
    check_time("event 1", runs[0].logical_date, "2024-01-01T00:00:00+00:00");
    check_time("event 2", runs[1].logical_date, "2024-05-01T00:00:00+00:00");
    free(runs);
    dagbag_free(bag);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trigger_catchup_first_run),
        cmocka_unit_test(test_trigger_catchup_walks),
        cmocka_unit_test(test_trigger_no_catchup_after_pause),
        cmocka_unit_test(test_trigger_no_catchup_no_runs),
        cmocka_unit_test(test_trigger_without_start_date),
        cmocka_unit_test(test_future_start_date),
        cmocka_unit_test(test_end_date),
        cmocka_unit_test(test_once),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_delta_trigger),
        cmocka_unit_test(test_delta_interval),
        cmocka_unit_test(test_interval_daily),
        cmocka_unit_test(test_interval_hourly_berlin_dst),
        cmocka_unit_test(test_trigger_new_york_spring_forward),
        cmocka_unit_test(test_backfill_trigger),
        cmocka_unit_test(test_backfill_interval_and_delta),
        cmocka_unit_test(test_semantics_parse),
        cmocka_unit_test(test_manual_interval),
        cmocka_unit_test(test_continuous),
        cmocka_unit_test(test_explicit_semantics_and_backfill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

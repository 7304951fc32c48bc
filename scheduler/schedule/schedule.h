/* schedule: when a DAG runs. Cron expressions (5 fields), presets, "None", @once and
 * fixed intervals (timedelta), evaluated in the DAG's IANA time zone. Pure: no I/O, the
 * current time is always a parameter. */
#ifndef GUST_SCHEDULE_H
#define GUST_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

enum schedule_kind {
    SCHED_NONE,  /* "None", null, absent: manual triggers only */
    SCHED_ONCE,  /* @once: one run at start_date */
    SCHED_CRON,  /* a cron expression or a preset other than @once */
    SCHED_DELTA, /* a fixed interval (datetime.timedelta) from start_date */
    /* Only from a timetable (struct timetable_spec says the rest): */
    SCHED_CONTINUOUS, /* "@continuous": a new run as soon as the previous one ends */
    SCHED_EVENTS,     /* EventsTimetable: runs at listed instants */
};

struct cron {
    uint64_t minute; /* bit n set: minute n (0-59) matches */
    uint32_t hour;   /* 0-23 */
    uint32_t mday;   /* 1-31 */
    uint16_t month;  /* 1-12 */
    uint8_t wday;    /* 0-6, Sunday = 0 (7 is folded into 0) */
    bool mday_star;  /* day-of-month covers 1-31 ('*', '?', "1-31"): not part of the OR rule */
    bool wday_star;  /* day-of-week covers every day (as croniter normalizes to '*') */
};

struct schedule {
    enum schedule_kind kind;
    struct cron cron;   /* SCHED_CRON */
    long delta_seconds; /* SCHED_DELTA, > 0 */
    char text[128];     /* as written, for display ("0 0 * * *", "@daily", "1:00:00") */
};

/* Which of Airflow's timetables a DAG uses (docs/dag-files.md, "Schedules"). TT_SCHEDULE: a
 * plain `schedule:` string or timedelta, whose semantics (trigger or data interval) is the
 * scheduler's setting, as Airflow's create_cron_data_intervals / create_delta_data_intervals
 * options decide it; every other kind fixes its semantics itself. */
enum timetable_kind {
    TT_SCHEDULE,
    TT_CRON_TRIGGER,   /* CronTriggerTimetable */
    TT_CRON_INTERVAL,  /* CronDataIntervalTimetable */
    TT_DELTA_TRIGGER,  /* DeltaTriggerTimetable */
    TT_DELTA_INTERVAL, /* DeltaDataIntervalTimetable */
    TT_MULTI_CRON,     /* MultipleCronTriggerTimetable */
    TT_EVENTS,         /* EventsTimetable */
    TT_CONTINUOUS,     /* ContinuousTimetable, "@continuous" */
};

/* run_immediately of the cron trigger timetables: false (Airflow treats it as None: run the
 * previous tick when now is within 10% of the gap, at least 5 minutes), true, or a timedelta. */
enum run_immediately { RUN_IMM_BUFFER, RUN_IMM_TRUE, RUN_IMM_DELTA };

/* A timetable's arguments beyond struct schedule (which holds the first cron or the delta).
 * Owned strings and arrays; zero-initialised is TT_SCHEDULE. Free with timetable_spec_clear. */
struct timetable_spec {
    enum timetable_kind kind;
    char *type;    /* __type__ as written, NULL for TT_SCHEDULE */
    char *tz;      /* the timetable's own `timezone`, NULL: the DAG's */
    long interval; /* trigger timetables: data interval length, seconds (>= 0) */
    enum run_immediately run_immediately;
    long run_immediately_secs; /* RUN_IMM_DELTA */
    struct schedule *more;     /* TT_MULTI_CRON: the crons after the first */
    size_t n_more;
    time_t *events; /* TT_EVENTS: sorted ascending (unless presorted), UTC */
    size_t n_events;
    bool restrict_to_events;
    char *description; /* EventsTimetable description, NULL: "N events" */
};

void timetable_spec_clear(struct timetable_spec *t);

/* Parse a schedule string: a 5-field cron expression (lists, ranges, steps, month and day
 * names, '?' as '*'), a preset (@once @continuous @hourly @daily @weekly @monthly @quarterly
 * @yearly @annually @midnight), or "None"/"" for no schedule. Refuses, with the field and token in
 * the message, bad tokens, 6-field (seconds) cron, croniter-only syntax (L # H) and
 * expressions that can never match ("0 0 30 2 *"). */
int schedule_parse(struct schedule *out, const char *text, struct err *e);

/* Make a fixed-interval schedule of seconds (> 0). */
int schedule_from_delta(struct schedule *out, long seconds, struct err *e);

/* The first trigger time strictly after `after`, evaluated in zone tz, not before start
 * (0: no start) and not after end (0: no end). Returns 1 and sets *next, 0 when there is no
 * further trigger (None, @once already past, end reached), -1 on error.
 * Airflow 3 semantics (CronTriggerTimetable, logical date = trigger time): when after < start
 * the answer is start itself if start is on the schedule, else the next cron time after it;
 * cron is evaluated on local wall time with Airflow's DST rules (see schedule.c). A delta
 * triggers at start + k*delta (after + delta without start); @once at start. */
int schedule_next(const struct schedule *s, const char *tz, time_t start, time_t end, time_t after,
                  time_t *next, struct err *e);

/* The last cron trigger strictly before `at` (inclusive false: Airflow's CronMixin._get_prev)
 * or at or before it (inclusive true: _align_to_prev, `at` itself when it is a trigger time),
 * with the same DST rules as schedule_next. SCHED_CRON only. Returns 0 or -1. */
int schedule_prev(const struct schedule *s, const char *tz, time_t at, bool inclusive, time_t *prev,
                  struct err *e);

#endif

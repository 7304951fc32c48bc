/* timetable: which scheduled runs a DAG should have now (docs/dag-files.md, "Schedules" and
 * "Timetables"): plain schedules and Airflow's built-in timetables given by __type__.
 * Pure: no I/O, `now` is a parameter, so catchup, DST and clock jumps are tested with
 * injected times.
 *
 * Two semantics, as Airflow offers them:
 * - SEM_TRIGGER (Airflow 3's default, CronTriggerTimetable / DeltaTriggerTimetable): a run's
 *   logical date is its trigger time; data_interval_start = data_interval_end = logical date.
 * - SEM_INTERVAL (Airflow 2, CronDataIntervalTimetable / DeltaDataIntervalTimetable): a run
 *   covers [tick, next tick) and is created when that interval has ended; its logical date is
 *   the interval's start. */
#ifndef GUST_TIMETABLE_H
#define GUST_TIMETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"

struct dag;

enum timetable_semantics { SEM_TRIGGER, SEM_INTERVAL };

struct timetable_run {
    time_t logical_date;
    time_t data_interval_start, data_interval_end;
    time_t create_after; /* the run may be created at or after this time */
};

/* The next run of dag after the last scheduled one. last_logical: logical date of the DAG's
 * latest scheduled run (0: none yet). Honours start_date, end_date, @once, None, and
 * catchup=false (only the latest due run: the most recent tick <= now, Airflow's rule).
 * Returns 1 and fills *out when there is a next run (which may lie in the future: look at
 * create_after), 0 when the DAG will never run again, -1 on error. */
int timetable_next_run(const struct dag *dag, enum timetable_semantics sem, time_t last_logical,
                       time_t now, struct timetable_run *out, struct err *e);

/* As timetable_next_run, also given the last run's data interval end (0: unknown, taken as
 * its logical date): @continuous counts from it. */
int timetable_next_run_end(const struct dag *dag, enum timetable_semantics sem, time_t last_logical,
                           time_t last_end, time_t now, struct timetable_run *out, struct err *e);

/* The semantics dag's runs follow: its timetable's own (CronTriggerTimetable: trigger,
 * CronDataIntervalTimetable: interval...), else sem (a plain `schedule:` string). */
enum timetable_semantics timetable_semantics_of(const struct dag *dag,
                                                enum timetable_semantics sem);

/* Whether dag runs "@continuous": a new run only once no run of it is active. */
bool timetable_is_continuous(const struct dag *dag);

/* Airflow's Timetable.summary of dag into buf ("0 6 * * *", "1:00:00", "@continuous",
 * "3 events", the crons of a MultipleCronTriggerTimetable joined by ", "; "None"). */
void timetable_summary(const struct dag *dag, char *buf, size_t size);

/* A one-line description of dag's timetable into buf (its class and arguments). */
void timetable_describe(const struct dag *dag, char *buf, size_t size);

/* The next n runs as `dags next-execution` lists them: those whose logical date is after
 * `after`, in order (for a plain schedule string, its trigger times after `after`);
 * @continuous gives only its next run. Fills out[0..n-1]; returns the count (0: the DAG
 * never runs again) or -1. */
long timetable_upcoming(const struct dag *dag, time_t after, size_t n, struct timetable_run *out,
                        struct err *e);

/* The data interval of a manual run triggered at run_after (Airflow's
 * infer_manual_data_interval) for a timetable given by __type__: a trigger timetable's
 * [run_after - interval, run_after], CronDataIntervalTimetable's last complete interval,
 * DeltaDataIntervalTimetable's [run_after - delta, run_after], EventsTimetable with
 * restrict_to_events the latest event (the first when all are later). A plain schedule and
 * every other timetable: [run_after, run_after]. */
void timetable_manual_interval(const struct dag *dag, time_t run_after, time_t *start, time_t *end);

/* The runs of a backfill: every run whose logical date lies in [start, end] (inclusive), in
 * order, at most max entries. *out is malloc'd (free it). Returns the count or -1.
 * Errors (ERR_USAGE), as Airflow's: a None or @once schedule ("... has a non-periodic schedule
 * that does not support backfills"), start after end. Unlike Airflow's _get_info_list this
 * keeps runs that are not due yet: the caller drops those with create_after > now. */
long timetable_backfill_runs(const struct dag *dag, enum timetable_semantics sem, time_t start,
                             time_t end, size_t max, struct timetable_run **out, struct err *e);

/* "airflow2"/"interval" -> SEM_INTERVAL, "airflow3"/"trigger"/NULL -> SEM_TRIGGER. */
int timetable_semantics_parse(const char *s, enum timetable_semantics *out);

#endif

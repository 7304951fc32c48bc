/* runid: Airflow's run ids: their rule, and "<type>__<instant in ISO 8601>" (see runid.c). */
#ifndef GUST_RUNID_H
#define GUST_RUNID_H

#include <stddef.h>
#include <time.h>

struct err;

/* The longest run id: Airflow's dag_run.run_id is a String(250), and so is gust's column. */
#define RUNID_MAX 250
/* A buffer that holds any valid run id. */
#define RUNID_SIZE (RUNID_MAX + 1)

/* Airflow's rule for a run id: 1 to RUNID_MAX characters, each a letter, digit or one of
 * "_.~:+-" (its allowed_run_id_pattern, ^[A-Za-z0-9_.~:+-]+$), and no "..". 0 when id keeps
 * it, else -1 with e (ERR_USAGE) naming the first bad character and its position. */
int runid_check(const char *id, struct err *e);

/* "<type>__<t as UTC ISO 8601>" into buf (truncated, always terminated; RUNID_SIZE is ample):
 * with usec < 0 "scheduled__2024-01-01T00:00:00+00:00", else
 * "manual__2024-01-01T00:00:00.123456+00:00". The types are Airflow's run types: scheduled,
 * backfill (named after the logical date), manual and asset_triggered (after the instant the
 * run was made). */
void runid_format(const char *type, time_t t, long usec, char *buf, size_t size);

/* The instant a run made now is named after, to the microsecond: the wall clock, or (for
 * tests only) $GUST_TEST_RUNID_NOW, "<epoch seconds>.<6 digits>", so that a test can make
 * concurrent triggers fall in one microsecond. */
void runid_clock(time_t *sec, long *usec);

#endif

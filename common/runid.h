/* runid: Airflow's run ids, "<type>__<instant in ISO 8601>" (see runid.c). */
#ifndef GUST_RUNID_H
#define GUST_RUNID_H

#include <stddef.h>
#include <time.h>

/* "<type>__<t as UTC ISO 8601>" into buf (truncated, always terminated): with usec < 0
 * "scheduled__2024-01-01T00:00:00+00:00", else "manual__2024-01-01T00:00:00.123456+00:00". */
void runid_format(const char *type, time_t t, long usec, char *buf, size_t size);

/* The run id of something triggered now, with microseconds as Airflow's isoformat() prints
 * them; *now (may be NULL) gets the instant's second, the run's logical date. */
void runid_now(const char *type, char *buf, size_t size, time_t *now);

#endif

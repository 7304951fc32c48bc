/* statsd: Airflow's StatsD metrics over UDP, for the scheduler, the workers and the task
 * executables.
 *
 * Settings come from the environment, Airflow's names first, then gust's:
 * AIRFLOW__METRICS__STATSD_ON / GUST_STATSD_ON (true/1/yes: on; default off),
 * AIRFLOW__METRICS__STATSD_HOST / GUST_STATSD_HOST (default localhost),
 * AIRFLOW__METRICS__STATSD_PORT / GUST_STATSD_PORT (default 8125),
 * AIRFLOW__METRICS__STATSD_PREFIX / GUST_STATSD_PREFIX (default airflow).
 *
 * Never blocking: the socket is non-blocking, a send that fails (no listener, buffer full,
 * network down) is dropped and counted, never retried. Every call on a NULL handle is a
 * no-op, so callers need no "if metrics on" around each metric. A name is formatted
 * printf-style; a name with a character outside [A-Za-z0-9_.-] (as Airflow's stat name
 * validator) is dropped. */
#ifndef GUST_STATSD_H
#define GUST_STATSD_H

#include "err.h"

struct statsd;

/* A client from the environment. NULL with e->code 0 when metrics are off; NULL with e filled
 * when on but unusable: ERR_USAGE for a bad setting (statsd_on not a boolean, a bad port or
 * prefix), ERR_NOTFOUND for a host that does not resolve (temporary set when the resolver
 * said "try again"), ERR_IO when no socket could be made. */
struct statsd *statsd_from_env(struct err *e);

/* "<prefix>.<name>:<by>|c". */
void statsd_count(struct statsd *s, long long by, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<prefix>.<name>:<value>|g". */
void statsd_gauge(struct statsd *s, double value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<prefix>.<name>:<ms>|ms". */
void statsd_timing(struct statsd *s, double ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends dropped so far (a failed send or an invalid name). */
unsigned long long statsd_dropped(const struct statsd *s);

/* Close and free. NULL is a no-op. */
void statsd_free(struct statsd *s);

#endif

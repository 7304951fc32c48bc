/* tz: IANA time zones from the system tz database (/usr/share/zoneinfo, or $TZDIR).
 *
 * All of gust stores UTC; local time only exists to evaluate schedules and print. */
#ifndef GUST_TZ_H
#define GUST_TZ_H

#include <stdbool.h>
#include <time.h>

#include "err.h"

/* Broken-down civil time, no zone attached. month 1-12, mday 1-31. */
struct civil {
    int year, month, mday, hour, minute, second;
};

/* 0 if name is a zone of the system tz database ("UTC", "Asia/Ho_Chi_Minh"), else -1. */
int tz_check(const char *name, struct err *e);

/* Convert local civil time in zone name to UTC seconds. DST rules follow Python's
 * zoneinfo with fold=0 (a naive datetime's default; used for dates written in DAG files):
 * an ambiguous time (autumn) takes
 * the first, daylight-time occurrence; a time in the spring gap is read with the offset
 * from before the gap, so 02:30 in a 02:00->03:00 gap becomes 03:30. */
int tz_to_utc(const char *name, const struct civil *local, time_t *out, struct err *e);

/* Like tz_to_utc, with Python's fold flag: fold=0 is tz_to_utc; fold=1 takes the second,
 * standard-time occurrence of an ambiguous time (gap times are shifted forward either way).
 * Airflow's make_aware() localizes cron results with fold=1. */
int tz_to_utc_fold(const char *name, const struct civil *local, int fold, time_t *out,
                   struct err *e);

/* Convert UTC seconds to local civil time in zone name; *gmtoff gets the UTC offset in
 * seconds (may be NULL). */
int tz_from_utc(const char *name, time_t t, struct civil *local, long *gmtoff, struct err *e);

/* Format t as ISO-8601 with the zone's offset: "2024-03-10T03:00:00-04:00" (or "+00:00").
 * buf must hold 32 bytes. */
int tz_format(const char *name, time_t t, char buf[32], struct err *e);

/* Parse an ISO-8601 date or date-time ("2024-01-01", "2024-01-01 05:00", "2024-01-01T05:00:00Z",
 * "...+07:00", fractional seconds allowed). Without an offset the time is read in zone name.
 * Returns 0 and sets *out, or -1 with a message. */
int tz_parse_iso(const char *name, const char *text, time_t *out, struct err *e);

#endif

/* iso8601: UTC instants <-> ISO 8601 text, and the calendar arithmetic behind them, for both
 * programs (see iso8601.c). Pure code: no I/O, no time zone database (schedule/tz does local
 * time), nothing printed. */
#ifndef GUST_ISO8601_H
#define GUST_ISO8601_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* Buffer size for iso8601_format ("YYYY-MM-DDTHH:MM:SS+HH:MM" and its NUL). */
#define ISO8601_MAX 32

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
int64_t iso8601_days_from_civil(int64_t y, int m, int d);

/* The date of a day count since 1970-01-01 (the inverse of iso8601_days_from_civil). */
void iso8601_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* Days in month m (1-12) of year y. */
int iso8601_days_in_month(int64_t y, int m);

/* Format the instant t at offset seconds east of UTC as "YYYY-MM-DD<sep>HH:MM:SS+HH:MM" (sep
 * 'T' or ' '; offset 0 gives "+00:00", as Python's isoformat() and Airflow print UTC). Years
 * outside 0..9999 are clamped to them. */
void iso8601_format(time_t t, long offset, char sep, char buf[ISO8601_MAX]);

/* Convert an ISO 8601 timestamp with an offset ("2025-12-01T22:00:51.22+07:00": 'T', 't' or
 * ' ' between date and time, seconds required, 1 to 9 fractional digits, Z or +-HH[[:]MM] up
 * to 15 hours) to the same instant in UTC as PostgreSQL timestamptz text
 * ("2025-12-01 15:00:51.22+00"; fractional digits kept as sent). 0, or -1 with ERR_PARSE for
 * anything else (no offset, impossible date, year outside 1..9999). */
int iso8601_to_pg_utc(const char *in, char *out, size_t size, struct err *e);

#endif

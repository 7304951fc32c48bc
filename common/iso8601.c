/* iso8601: UTC instants <-> ISO 8601 text (see iso8601.h).
 *
 * One calendar for both programs: the scheduler formats logical dates, run ids and Airflow's
 * context variables with iso8601_format, the task loaders convert source timestamps with
 * iso8601_to_pg_utc. Key invariant: only explicit offsets are read here (an instant without
 * one is a local time, which is schedule/tz's job), and every text made here is the instant
 * in UTC or at the offset it names. The loaders call iso8601_to_pg_utc once per timestamp of
 * every record, so it writes its digits by hand. */
#include "iso8601.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Exactly n decimal digits at *p, into *out; advances *p. */
static bool
take_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool
take_char(const char **p, const char *set)
{
    for (; *set; set++) /* (strchr costs more on these one- to three-byte sets) */
        if (**p == *set) {
            (*p)++;
            return true;
        }
    return false;
}

int
iso8601_days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int64_t
iso8601_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
iso8601_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* v (0 <= v < 10^n) as exactly n decimal digits at out. */
static void
put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The offset part: Z, or +-HH, +-HHMM, +-HH:MM; *secs east of UTC. */
static bool
take_offset(const char **p, int *secs)
{
    int sign, oh, om = 0;

    if (take_char(p, "Zz")) {
        *secs = 0;
        return true;
    }
    sign = **p == '-' ? -1 : 1;
    if (!take_char(p, "+-") || !take_digits(p, 2, &oh))
        return false;
    if (**p != '\0') {
        take_char(p, ":");
        if (!take_digits(p, 2, &om))
            return false;
    }
    if (oh > 15 || om > 59)
        return false;
    *secs = sign * (oh * 3600 + om * 60);
    return true;
}

int
iso8601_to_pg_utc(const char *in, char *out, size_t size, struct err *e)
{
    const char *p = in, *frac = NULL;
    int y, mo, d, h, mi, s, off, nfrac = 0;
    int64_t y64;

    if (!take_digits(&p, 4, &y) || !take_char(&p, "-") || !take_digits(&p, 2, &mo) ||
        !take_char(&p, "-") || !take_digits(&p, 2, &d) || !take_char(&p, "Tt ") ||
        !take_digits(&p, 2, &h) || !take_char(&p, ":") || !take_digits(&p, 2, &mi) ||
        !take_char(&p, ":") || !take_digits(&p, 2, &s))
        return err_set(e, ERR_PARSE, "not an ISO 8601 date and time");
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        nfrac = (int)(p - frac);
        if (nfrac < 1 || nfrac > 9)
            return err_set(e, ERR_PARSE, "1 to 9 fractional digits expected");
    }
    if (*p == '\0')
        return err_set(e, ERR_PARSE, "no UTC offset");
    if (!take_offset(&p, &off) || *p != '\0')
        return err_set(e, ERR_PARSE, "bad UTC offset");
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > iso8601_days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 59)
        return err_set(e, ERR_PARSE, "no such date or time");
    int64_t t = iso8601_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    int64_t days = (t >= 0 ? t : t - 86399) / 86400, sod = t - days * 86400;
    iso8601_civil_from_days(days, &y64, &mo, &d);
    if (y64 < 1 || y64 > 9999)
        return err_set(e, ERR_PARSE, "year out of range");
    /* "YYYY-MM-DD HH:MM:SS[.f]+00", by hand: snprintf was a tenth of the loader's time */
    size_t n = 19 + (frac ? 1 + (size_t)nfrac : 0) + 3;
    if (n >= size)
        return err_set(e, ERR_FAIL, "timestamp buffer too small");
    put_digits(out, (int)y64, 4);
    out[4] = '-';
    put_digits(out + 5, mo, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = ' ';
    put_digits(out + 11, (int)(sod / 3600), 2);
    out[13] = ':';
    put_digits(out + 14, (int)(sod / 60 % 60), 2);
    out[16] = ':';
    put_digits(out + 17, (int)(sod % 60), 2);
    char *p2 = out + 19;
    if (frac) {
        *p2++ = '.';
        memcpy(p2, frac, (size_t)nfrac);
        p2 += nfrac;
    }
    memcpy(p2, "+00", 4);
    return 0;
}

void
iso8601_format(time_t t, long offset, char sep, char buf[ISO8601_MAX])
{
    int64_t local = (int64_t)t + offset, y;
    int64_t days = (local >= 0 ? local : local - 86399) / 86400, sod = local - days * 86400;
    long off = offset < 0 ? -offset : offset;
    int m, d;

    iso8601_civil_from_days(days, &y, &m, &d);
    y = y < 0 ? 0 : y > 9999 ? 9999 : y;
    /* Unsigned and reduced so the compiler can prove the text fits. */
    snprintf(buf, ISO8601_MAX, "%04u-%02u-%02u%c%02u:%02u:%02u%c%02u:%02u", (unsigned)y % 10000u,
             (unsigned)m % 100u, (unsigned)d % 100u, sep, (unsigned)(sod / 3600) % 100u,
             (unsigned)(sod / 60 % 60) % 100u, (unsigned)(sod % 60) % 100u, offset < 0 ? '-' : '+',
             (unsigned)(off / 3600) % 100u, (unsigned)(off % 3600 / 60) % 100u);
}

/* template_fmt: the formatting half of the template module: Python's str() of a float,
 * the date strings of the template context (ds, ts, str(logical_date) ...), and the date
 * macros (macros.ds_add, macros.ds_format, datetime.strftime).
 *
 * Everything is UTC: the template context only holds UTC instants, as Airflow's does
 * (logical_date is a pendulum DateTime in UTC). No jansson here; template.c owns values. */
#include "template/template.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iso8601.h"

/* Python's repr(float) ("short" style): the fewest digits that read back as d, fixed
 * notation when the exponent is in [-4, 16), else d.ddde+XX. */
void
tmpl_fmt_real(double d, char buf[TMPL_REAL_BUF])
{
    char tmp[40], digits[24];
    int prec, exp10, nd = 0;

    if (isnan(d) || isinf(d)) {
        snprintf(buf, TMPL_REAL_BUF, "%s", isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    const char *p = tmp + (tmp[0] == '-');
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    exp10 = atoi(p + 1);
    char *o = buf, *end = buf + TMPL_REAL_BUF - 1;
    if (signbit(d))
        *o++ = '-';
    if (exp10 < -4 || exp10 >= 16) {
        o += snprintf(o, (size_t)(end - o), "%c%s%s", digits[0], nd > 1 ? "." : "", digits + 1);
        snprintf(o, (size_t)(end - o), "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 < 0) {
        snprintf(o, (size_t)(end - o), "0.%.*s%s", -exp10 - 1, "0000", digits);
    } else {
        for (int i = 0; i <= exp10; i++)
            *o++ = i < nd ? digits[i] : '0';
        snprintf(o, (size_t)(end - o), ".%s", nd > exp10 + 1 ? digits + exp10 + 1 : "0");
    }
}

/* t (UTC) in one of the context's formats. */
void
tmpl_fmt_time(time_t t, enum tmpl_time_fmt f, char buf[TMPL_TIME_BUF])
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    int y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday;
    int h = tm.tm_hour, mi = tm.tm_min, s = tm.tm_sec;
    y = y < 0 ? 0 : y > 9999 ? 9999 : y;
    switch (f) {
    case TMPL_DS:
        snprintf(buf, TMPL_TIME_BUF, "%04d-%02d-%02d", y, mo, d);
        break;
    case TMPL_DS_NODASH:
        snprintf(buf, TMPL_TIME_BUF, "%04d%02d%02d", y, mo, d);
        break;
    case TMPL_TS_NODASH:
        snprintf(buf, TMPL_TIME_BUF, "%04d%02d%02dT%02d%02d%02d", y, mo, d, h, mi, s);
        break;
    case TMPL_TS_NODASH_TZ:
        snprintf(buf, TMPL_TIME_BUF, "%04d%02d%02dT%02d%02d%02d+0000", y, mo, d, h, mi, s);
        break;
    case TMPL_TS:
    case TMPL_STR:
        iso8601_format(t, 0, f == TMPL_TS ? 'T' : ' ', buf);
        break;
    }
}

/* Digits of a strptime field: at least 1, at most max; -1 when none. */
static int
num(const char **p, int max)
{
    int v = 0, n = 0;

    while (n < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++, n++;
    }
    return n ? v : -1;
}

static bool
leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Python's datetime.strptime(ds, "%Y-%m-%d"), to UTC midnight. */
static int
parse_ds(const char *ds, time_t *out, struct err *e)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = ds;
    int y = num(&p, 4), m = *p == '-' ? (p++, num(&p, 2)) : -1;
    int d = (m >= 0 && *p == '-') ? (p++, num(&p, 2)) : -1;

    if (y < 1 || m < 1 || m > 12 || d < 1 || *p != '\0')
        return err_set(e, ERR_PARSE, "time data '%s' does not match format '%%Y-%%m-%%d'", ds);
    if (d > mdays[m - 1] + (m == 2 && leap(y)))
        return err_set(e, ERR_PARSE, "day is out of range for month in '%s'", ds);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    *out = timegm(&tm);
    return 0;
}

/* macros.ds_add(ds, days): ds (YYYY-MM-DD) moved by days (may be fractional). */
int
tmpl_ds_add(const char *ds, double days, char out[TMPL_TIME_BUF], struct err *e)
{
    time_t t = 0;

    if (days == 0) { /* Airflow returns ds untouched, even when it is not a date */
        snprintf(out, TMPL_TIME_BUF, "%s", ds);
        return strlen(ds) < TMPL_TIME_BUF ? 0 : err_set(e, ERR_PARSE, "ds_add: ds too long");
    }
    if (parse_ds(ds, &t, e) < 0)
        return err_prefix(e, "ds_add");
    if (!(fabs(days) < 3660000.0))
        return err_set(e, ERR_PARSE, "ds_add: date value out of range");
    t += (time_t)floor(days * 86400.0);
    if (t < -62135596800LL || t > 253402300799LL)
        return err_set(e, ERR_PARSE, "ds_add: date value out of range");
    tmpl_fmt_time(t, TMPL_DS, out);
    return 0;
}

/* strftime into a new string; "" formats give "". */
static int
format_tm(const struct tm *tm, const char *fmt, char **res, struct err *e)
{
    size_t cap = strlen(fmt) * 8 + 64;

    if (strlen(fmt) > 4096)
        return err_set(e, ERR_PARSE, "format too long");
    if ((*res = malloc(cap)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = strftime(*res, cap, fmt, tm); /* the user's format, as Python passes it */
#pragma GCC diagnostic pop
    if (n == 0)
        (*res)[0] = '\0'; /* empty result (or a format of only %p in C locale...) */
    return 0;
}

/* macros.ds_format(s, in_fmt, out_fmt): Python's strptime then strftime (C library's). */
int
tmpl_ds_format(const char *s, const char *in_fmt, const char *out_fmt, char **res, struct err *e)
{
    struct tm tm = {.tm_mday = 1}; /* Python's defaults: 1900-01-01 */
    const char *end = strptime(s, in_fmt, &tm);

    if (end == NULL)
        return err_set(e, ERR_PARSE, "ds_format: time data '%.60s' does not match format '%.60s'",
                       s, in_fmt);
    if (*end != '\0')
        return err_set(e, ERR_PARSE, "ds_format: unconverted data remains: %.60s", end);
    time_t t = timegm(&tm); /* fills tm_wday and tm_yday for %a, %j ... */
    gmtime_r(&t, &tm);
    return format_tm(&tm, out_fmt, res, e);
}

/* datetime.strftime(fmt) of a UTC instant. */
int
tmpl_strftime(time_t t, const char *fmt, char **res, struct err *e)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return err_set(e, ERR_PARSE, "strftime: date out of range");
    return format_tm(&tm, fmt, res, e);
}

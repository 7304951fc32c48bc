/* template_macros: macros.datetime(...), macros.datetime.utcnow(), macros.timedelta(...),
 * macros.datetime_diff_for_humans(dt, since=None) and range(), with Python's (and pendulum's)
 * meaning; and str() of a timedelta.
 *
 * Limits: datetimes and timedeltas are whole seconds (a microsecond part is an error, not
 * rounded); macros.datetime makes a naive datetime (tzinfo is refused); utcnow() is the only
 * call whose result depends on the clock. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "template_int.h"

/* Bind args to the parameter names (positional first): slot[i] or NULL. */
static int
bind_args(struct tmpl_state *s, const char *fn, const char *const *names, size_t nn,
          struct tmpl_arg *args, size_t n, struct tmpl_val **slot)
{
    for (size_t i = 0; i < nn; i++)
        slot[i] = NULL;
    for (size_t k = 0; k < n; k++) {
        size_t p = k;
        if (args[k].name != NULL)
            for (p = 0; p < nn && strcmp(names[p], args[k].name) != 0; p++)
                ;
        if (p >= nn)
            return tmpl_fail(s, args[k].off, "%s: unexpected argument%s%s", fn,
                             args[k].name ? " " : "", args[k].name ? args[k].name : "");
        if (slot[p] != NULL)
            return tmpl_fail(s, args[k].off, "%s: argument '%s' given twice", fn, names[p]);
        if (tmpl_raise(s, &args[k].v) < 0)
            return -1;
        slot[p] = &args[k].v;
    }
    return 0;
}

/* An argument that must be a number: 1 when any, 0 with *out (dflt when absent). */
static int
num_arg(struct tmpl_state *s, const char *fn, const char *name, const struct tmpl_val *v,
        bool integer, double dflt, double *out, size_t off)
{
    *out = dflt;
    if (v == NULL)
        return 0;
    if (v->k == V_ANY)
        return 1;
    if (v->k != V_JSON ||
        !(json_is_integer(v->j) || json_is_boolean(v->j) || (!integer && json_is_real(v->j))))
        return tmpl_fail(s, off, "%s: %s must be %s", fn, name,
                         integer ? "an integer" : "a number");
    *out = json_is_boolean(v->j) ? json_is_true(v->j) : json_number_value(v->j);
    return 0;
}

static int
days_in(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return d[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* macros.datetime(year, month, day, hour=0, minute=0, second=0, microsecond=0, tzinfo=None). */
static int
mk_datetime(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off, struct tmpl_val *out)
{
    static const char *const names[] = {"year",   "month",  "day",         "hour",
                                        "minute", "second", "microsecond", "tzinfo"};
    static const int lo[] = {1, 1, 1, 0, 0, 0, 0}, hi[] = {9999, 12, 31, 23, 59, 59, 0};
    struct tmpl_val *a[8];
    double f[7];
    int any = 0;

    if (bind_args(s, "datetime", names, 8, args, n, a) < 0)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (a[i] == NULL)
            return tmpl_fail(s, off, "datetime: missing argument '%s'", names[i]);
    if (a[7] != NULL && !(a[7]->k == V_JSON && json_is_null(a[7]->j)))
        return tmpl_fail(s, off, "datetime: tzinfo is not supported (the result is naive UTC)");
    for (size_t i = 0; i < 7; i++) {
        int rc = num_arg(s, "datetime", names[i], a[i], true, 0, &f[i], off);
        if (rc < 0)
            return -1;
        any |= rc;
        if (rc == 0 && a[i] != NULL && (f[i] < lo[i] || f[i] > hi[i]))
            return tmpl_fail(s, off,
                             i == 6 ? "datetime: microseconds are not supported"
                                    : "datetime: %s %.0f is out of range",
                             names[i], f[i]);
    }
    if (any)
        return 0;
    if (f[2] > days_in((int)f[0], (int)f[1]))
        return tmpl_fail(s, off, "datetime: day is out of range for month");
    struct tm tm = {.tm_year = (int)f[0] - 1900,
                    .tm_mon = (int)f[1] - 1,
                    .tm_mday = (int)f[2],
                    .tm_hour = (int)f[3],
                    .tm_min = (int)f[4],
                    .tm_sec = (int)f[5]};
    memset(out, 0, sizeof(*out));
    out->k = V_TIME;
    out->t = timegm(&tm);
    out->naive = true;
    return 0;
}

/* macros.timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks). */
static int
mk_timedelta(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off,
             struct tmpl_val *out)
{
    static const char *const names[] = {"days",    "seconds", "microseconds", "milliseconds",
                                        "minutes", "hours",   "weeks"};
    static const double unit[] = {86400, 1, 1e-6, 1e-3, 60, 3600, 604800};
    struct tmpl_val *a[7];
    double total = 0, f;
    int any = 0;

    if (bind_args(s, "timedelta", names, 7, args, n, a) < 0)
        return -1;
    for (size_t i = 0; i < 7; i++) {
        int rc = num_arg(s, "timedelta", names[i], a[i], false, 0, &f, off);
        if (rc < 0)
            return -1;
        any |= rc;
        total += f * unit[i];
    }
    if (any)
        return 0;
    if (!(fabs(total) < 8.64e13)) /* Python: |days| <= 999999999 */
        return tmpl_fail(s, off, "timedelta: out of range");
    if (fabs(total - round(total)) > 1e-6)
        return tmpl_fail(s, off, "timedelta: parts of a second are not supported");
    memset(out, 0, sizeof(*out));
    out->k = V_DELTA;
    out->t = (time_t)llround(total);
    return 0;
}

/* pendulum's precise difference between a <= b: years, months, days, hours, minutes, secs. */
static void
precise_diff(time_t a, time_t b, int d[6])
{
    struct tm x, y;

    gmtime_r(&a, &x);
    gmtime_r(&b, &y);
    d[0] = y.tm_year - x.tm_year, d[1] = y.tm_mon - x.tm_mon, d[2] = y.tm_mday - x.tm_mday;
    d[3] = y.tm_hour - x.tm_hour, d[4] = y.tm_min - x.tm_min, d[5] = y.tm_sec - x.tm_sec;
    if (d[5] < 0)
        d[5] += 60, d[4]--;
    if (d[4] < 0)
        d[4] += 60, d[3]--;
    if (d[3] < 0)
        d[3] += 24, d[2]--;
    if (d[2] < 0) {
        int year = y.tm_year + 1900, month = y.tm_mon + 1;
        int cur = days_in(year, month), last;
        year -= month == 1, month = month == 1 ? 12 : month - 1;
        last = days_in(year, month);
        if (d[2] < cur - last)
            d[2] += last < x.tm_mday ? x.tm_mday : last;
        else if (d[2] == cur - last)
            d[2] = 0, d[1]++;
        else
            d[2] += last;
        d[1]--;
    }
    if (d[1] < 0)
        d[1] += 12, d[0]--;
}

/* pendulum's diff_for_humans in English: "1 day after", "3 hours ago", "in 2 weeks". */
static void
diff_for_humans(time_t dt, time_t since, bool now, char *buf, size_t cap)
{
    static const char *const units[] = {"year", "month", "week", "day", "hour", "minute", "second"};
    bool future = dt > since;
    int d[6], unit, count;

    precise_diff(future ? since : dt, future ? dt : since, d);
    int weeks = d[2] / 7, rdays = d[2] % 7;
    if (d[0] > 0)
        unit = 0, count = d[0] + (d[1] > 6);
    else if (d[1] == 11 && weeks * 7 + rdays > 15)
        unit = 0, count = 1;
    else if (d[1] > 0)
        unit = 1, count = d[1] + (weeks * 7 + rdays >= 27);
    else if (weeks > 0)
        unit = 2, count = weeks + (rdays > 3);
    else if (rdays > 0)
        unit = 3, count = rdays + (d[3] >= 22);
    else if (d[3] > 0)
        unit = 4, count = d[3];
    else if (d[4] > 0)
        unit = 5, count = d[4];
    else if (d[5] > 10 && d[5] <= 59)
        unit = 6, count = d[5];
    else
        unit = -1, count = 0;
    char what[40];
    if (unit < 0)
        snprintf(what, sizeof(what), "a few seconds");
    else
        snprintf(what, sizeof(what), "%d %s%s", count ? count : 1, units[unit],
                 count > 1 ? "s" : "");
    if (now)
        snprintf(buf, cap, future ? "in %s" : "%s ago", what);
    else
        snprintf(buf, cap, future ? "%s after" : "%s before", what);
}

static int
diff_humans(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off, struct tmpl_val *out)
{
    static const char *const names[] = {"dt", "since"};
    struct tmpl_val *a[2];
    char buf[64];

    if (bind_args(s, "datetime_diff_for_humans", names, 2, args, n, a) < 0)
        return -1;
    if (a[0] == NULL)
        return tmpl_fail(s, off, "datetime_diff_for_humans: missing argument 'dt'");
    for (size_t i = 0; i < 2; i++)
        if (a[i] != NULL && a[i]->k == V_ANY)
            return 0;
    bool none = a[1] == NULL || (a[1]->k == V_JSON && json_is_null(a[1]->j));
    if (a[0]->k != V_TIME || !(none || a[1]->k == V_TIME))
        return tmpl_fail(s, off, "datetime_diff_for_humans: dt and since must be datetimes");
    if (!none && a[1]->naive) /* pendulum makes dt aware, and since stays naive */
        return tmpl_fail(s, off,
                         "datetime_diff_for_humans: can't compare offset-naive and "
                         "offset-aware datetimes (since is naive)");
    diff_for_humans(a[0]->t, none ? time(NULL) : a[1]->t, none, buf, sizeof(buf));
    return tmpl_val_json(s, out, json_string(buf), off);
}

/* range(stop), range(start, stop[, step]): a list of at most TMPL_ITER_MAX integers. */
static int
range(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off, struct tmpl_val *out)
{
    double f[3] = {0, 0, 1};
    int any = 0;

    if (n < 1 || n > 3)
        return tmpl_fail(s, off, "range: expects 1 to 3 arguments");
    for (size_t i = 0; i < n; i++) {
        if (args[i].name != NULL)
            return tmpl_fail(s, args[i].off, "range: takes no keyword arguments");
        int rc = tmpl_raise(s, &args[i].v) < 0 ? -1
                                               : num_arg(s, "range", "each argument", &args[i].v,
                                                         true, 0, &f[n == 1 ? 1 : i], args[i].off);
        if (rc < 0)
            return -1;
        any |= rc;
    }
    if (any)
        return 0;
    if (f[2] == 0)
        return tmpl_fail(s, off, "range: step must not be zero");
    double count = f[2] > 0 ? ceil((f[1] - f[0]) / f[2]) : ceil((f[0] - f[1]) / -f[2]);
    if (count > TMPL_ITER_MAX)
        return tmpl_fail(s, off, "range: more than %d items", TMPL_ITER_MAX);
    json_t *list = json_array();
    for (long long i = 0; list != NULL && i < (long long)count; i++)
        json_array_append_new(list, json_integer((long long)(f[0] + f[2] * (double)i)));
    return tmpl_val_json(s, out, list, off);
}

/* macros.* and range(): fn's result into *out. */
int
tmpl_macro_call(struct tmpl_state *s, int fn, struct tmpl_arg *args, size_t n, size_t off,
                struct tmpl_val *out)
{
    switch (fn) {
    case F_DATETIME:
        return mk_datetime(s, args, n, off, out);
    case F_TIMEDELTA:
        return mk_timedelta(s, args, n, off, out);
    case F_DIFF_HUMANS:
        return diff_humans(s, args, n, off, out);
    case F_RANGE:
        return range(s, args, n, off, out);
    default: /* F_UTCNOW */
        if (n > 0)
            return tmpl_fail(s, off, "utcnow: takes no arguments");
        memset(out, 0, sizeof(*out));
        out->k = V_TIME;
        out->t = time(NULL);
        out->naive = true;
        return 0;
    }
}

/* str() of a timedelta: "0:00:00", "1 day, 2:00:00", "-1 day, 23:00:00". */
void
tmpl_fmt_delta(long long secs, char buf[TMPL_TIME_BUF])
{
    long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400),
              rem = secs - days * 86400;
    int len = 0;

    if (days != 0)
        len =
            snprintf(buf, TMPL_TIME_BUF, "%lld day%s, ", days, days == 1 || days == -1 ? "" : "s");
    snprintf(buf + len, (size_t)(TMPL_TIME_BUF - len), "%lld:%02lld:%02lld", rem / 3600,
             rem / 60 % 60, rem % 60);
}

/* schedule: cron expressions, presets, @once and fixed intervals, evaluated like Airflow 3.
 *
 * Parsing follows croniter (what Airflow uses): 5 fields, lists, ranges, steps ("*" / "5/10"
 * mean min-max and 5-max), JAN-DEC and SUN-SAT, day-of-week 7 = Sunday, and a field whose
 * values cover its whole range counts as '*' (so "0-23" hours "cover every hour", and
 * "1-31" days do not take part in the day-of-month / day-of-week OR rule).
 *
 * Evaluation follows Airflow's CronMixin (timetables/_cron.py) around croniter: the current
 * time is turned into naive local civil time in the DAG's zone, the next (or previous)
 * matching naive minute is found, and then either (a) that naive time is localized with
 * fold=1 (Airflow's make_aware: ambiguous -> second occurrence, gap -> shifted forward), or
 * (b) when the hour field is '*', the naive difference is added to the current instant, so
 * hourly schedules neither skip nor repeat an hour at DST changes.
 *
 * Invariant: naive civil times are int64 seconds since 1970-01-01 of a zone-less calendar
 * (proleptic Gregorian); only get_next/get_prev cross between instants and naive times,
 * and every search is bounded (SEARCH_MONTHS), so no expression can make us spin. */
#include "schedule/schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/tz.h"

/* Any expression accepted by schedule_parse matches within 8 years (Feb 29 across 2100). */
#define SEARCH_MONTHS (12 * 10)

struct field {
    const char *name;
    int min, max;             /* range accepted in the text (day-of-week: 0-7) */
    const char *const *names; /* three-letter names, value = index + name_base */
    int nnames, name_base;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL, 0, 0},          {"hour", 0, 23, NULL, 0, 0},
    {"day-of-month", 1, 31, NULL, 0, 0},    {"month", 1, 12, month_names, 12, 1},
    {"day-of-week", 0, 7, day_names, 7, 0},
};

static const struct {
    const char *name, *expr;
} presets[] = {
    {"@hourly", "0 * * * *"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"}, {"@monthly", "0 0 1 * *"},  {"@quarterly", "0 0 1 */3 *"},
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
};

/* ---- calendar arithmetic (days since 1970-01-01, proleptic Gregorian) ---- */

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int
is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t
naive_from_civil(const struct civil *c)
{
    return days_from_civil(c->year, c->month, c->mday) * 86400 + c->hour * 3600 + c->minute * 60 +
           c->second;
}

static void
civil_from_naive(int64_t t, struct civil *c)
{
    int64_t day = floor_div(t, 86400), y;
    int tod = (int)(t - day * 86400);

    civil_from_days(day, &y, &c->month, &c->mday);
    c->year = (int)y;
    c->hour = tod / 3600;
    c->minute = tod % 3600 / 60;
    c->second = tod % 60;
}

/* ---- parsing ---- */

static int
bad(struct err *e, const char *text, const struct field *f, const char *what, const char *tok,
    size_t n)
{
    return err_set(e, ERR_PARSE, "cron '%.80s': %s: %s '%.*s'", text, f->name, what,
                   (int)(n > 40 ? 40 : n), tok);
}

/* A number (saturating at 100000) or, where the field has them, a three-letter name. */
static int
read_value(const struct field *f, const char *p, size_t n, int *out)
{
    if (n == 0)
        return -1;
    if (isdigit((unsigned char)p[0])) {
        long v = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)p[i]))
                return -1;
            v = v < 100000 ? v * 10 + (p[i] - '0') : v;
        }
        *out = (int)v;
        return 0;
    }
    for (int i = 0; i < f->nnames && n == 3; i++)
        if (strncasecmp(p, f->names[i], 3) == 0)
            return *out = i + f->name_base, 0;
    return -1;
}

static const char *
find_char(const char *p, size_t n, char ch)
{
    return memchr(p, ch, n);
}

/* One comma-separated element: "*", "?", "v", "a-b", with an optional "/step". */
static int
parse_element(const struct field *f, const char *text, const char *p, size_t n, uint64_t *bits,
              struct err *e)
{
    const char *slash = find_char(p, n, '/'), *dash;
    size_t base_n = slash ? (size_t)(slash - p) : n;
    int low, high, step = 1;

    if (slash && read_value(&fields[0], slash + 1, n - base_n - 1, &step) < 0)
        return bad(e, text, f, "bad step in", p, n);
    if (step == 0)
        return bad(e, text, f, "step 0 in", p, n);
    dash = find_char(p, base_n, '-');
    if (base_n == 1 && (p[0] == '*' || p[0] == '?')) {
        low = f->min, high = f->max;
        if (!slash && f->max == 7)
            high = 6; /* plain '*' day-of-week: 0-6 */
    } else if (dash) {
        if (read_value(f, p, (size_t)(dash - p), &low) < 0 ||
            read_value(f, dash + 1, base_n - (size_t)(dash - p) - 1, &high) < 0)
            return bad(e, text, f, "bad range", p, n);
        if (low > high && f->max == 7 && high == 0)
            high = 7; /* "FRI-SUN" */
        if (low > high)
            return bad(e, text, f, "backwards range", p, n);
    } else {
        if (read_value(f, p, base_n, &low) < 0)
            return bad(e, text, f, "bad value", p, n);
        high = slash ? f->max : low;
    }
    if (low < f->min || low > f->max || high > f->max) { /* "91/4" is 91-23/4: refused */
        int v = low < f->min || low > f->max ? low : high;
        char what[64];
        snprintf(what, sizeof(what), "%s %d out of range %d-%d", f->name, v, f->min, f->max);
        return err_set(e, ERR_PARSE, "cron '%.80s': %s", text, what);
    }
    for (int v = low; v <= high; v += step)
        *bits |= 1ULL << (f->max == 7 && v == 7 ? 0 : v);
    return 0;
}

/* croniter's extensions that Airflow users might try: last day "L", "5L", "1#2", hashed "H". */
static int
unsupported(int i, const char *p, size_t n)
{
    int last = tolower((unsigned char)p[n - 1]);

    if (find_char(p, n, '#') || tolower((unsigned char)p[0]) == 'h')
        return 1;
    if (i == 2 && (find_char(p, n, 'L') || find_char(p, n, 'l') || last == 'w'))
        return 1;
    return i == 4 && last == 'l' && isdigit((unsigned char)p[0]);
}

static int
parse_field(int i, const char *text, const char *p, size_t n, uint64_t *bits, struct err *e)
{
    const struct field *f = &fields[i];
    const char *end = p + n;

    *bits = 0;
    for (;;) {
        const char *comma = find_char(p, (size_t)(end - p), ',');
        size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (len == 0)
            return bad(e, text, f, "empty list element in", end - n, n);
        if (unsupported(i, p, len))
            return bad(e, text, f, "unsupported syntax (L, W, #, H)", p, len);
        if (parse_element(f, text, p, len, bits, e) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static uint64_t
full_mask(int min, int max)
{
    return ((max == 63 ? 0 : 1ULL << (max + 1)) - 1) & ~((1ULL << min) - 1);
}

/* croniter raises "failed to find next date" when day-of-month never occurs in the chosen
 * months, even with a day-of-week alternative ("0 0 30 2 MON"): refuse those up front. */
static int
check_possible(const struct cron *c, const char *text, struct err *e)
{
    static const int maxdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (c->mday_star)
        return 0;
    for (int m = 1; m <= 12; m++)
        if ((c->month >> m & 1) && (c->mday & full_mask(1, maxdays[m - 1])))
            return 0;
    return err_set(e, ERR_PARSE,
                   "cron '%.80s': never matches (no chosen day-of-month exists in the chosen "
                   "months)",
                   text);
}

static int
parse_cron(struct cron *c, const char *expr, const char *text, struct err *e)
{
    const char *start[8], *p = expr;
    size_t len[8];
    int n = 0;
    uint64_t bits[5];

    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (n == 8)
            break;
        start[n] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        len[n] = (size_t)(p - start[n]);
        n++;
    }
    if (n == 6)
        return err_set(e, ERR_PARSE,
                       "cron '%.80s': 6 fields (with seconds) are not supported; use 5: minute "
                       "hour day-of-month month day-of-week",
                       text);
    if (n != 5)
        return err_set(e, ERR_PARSE,
                       "cron '%.80s': expected 5 fields (minute hour day-of-month month "
                       "day-of-week), got %s%d",
                       text, n == 8 ? "at least " : "", n);
    for (int i = 0; i < 5; i++)
        if (parse_field(i, text, start[i], len[i], &bits[i], e) < 0)
            return -1;
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->mday = (uint32_t)bits[2];
    c->month = (uint16_t)bits[3];
    c->wday = (uint8_t)bits[4];
    c->mday_star = c->mday == full_mask(1, 31);
    c->wday_star = c->wday == full_mask(0, 6);
    return check_possible(c, text, e);
}

int
schedule_parse(struct schedule *out, const char *text, struct err *e)
{
    const char *p = text ? text : "";
    const char *expr = p;
    char word[16];
    size_t n;

    memset(out, 0, sizeof(*out));
    snprintf(out->text, sizeof(out->text), "%s", text ? text : "None");
    while (isspace((unsigned char)*p))
        p++;
    for (n = strlen(p); n > 0 && isspace((unsigned char)p[n - 1]); n--)
        ;
    if (n == 0 || (n == 4 && strncmp(p, "None", 4) == 0))
        return out->kind = SCHED_NONE, 0;
    if (p[0] == '@') {
        snprintf(word, sizeof(word), "%.*s", (int)(n < 15 ? n : 15), p);
        if (n == 5 && strncasecmp(p, "@once", 5) == 0)
            return out->kind = SCHED_ONCE, 0;
        if (n == 11 && strncasecmp(p, "@continuous", 11) == 0)
            return out->kind = SCHED_CONTINUOUS, 0;
        expr = NULL;
        for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
            if (n == strlen(presets[i].name) && strncasecmp(p, presets[i].name, n) == 0)
                expr = presets[i].expr;
        if (expr == NULL)
            return err_set(
                e, ERR_PARSE,
                "unknown schedule preset '%s' (expected @once, @continuous, @hourly, "
                "@daily, @weekly, @monthly, @quarterly, @yearly, @annually or @midnight)",
                word);
    }
    out->kind = SCHED_CRON;
    return parse_cron(&out->cron, expr, text, e);
}

void
timetable_spec_clear(struct timetable_spec *t)
{
    free(t->type);
    free(t->tz);
    free(t->more);
    free(t->events);
    free(t->description);
    memset(t, 0, sizeof(*t));
}

int
schedule_from_delta(struct schedule *out, long seconds, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (seconds <= 0)
        return err_set(e, ERR_PARSE, "timedelta must be positive (got %ld seconds)", seconds);
    out->kind = SCHED_DELTA;
    out->delta_seconds = seconds;
    snprintf(out->text, sizeof(out->text), "%ld:%02ld:%02ld", seconds / 3600, seconds / 60 % 60,
             seconds % 60);
    return 0;
}

/* ---- naive search ---- */

static int
day_matches(const struct cron *c, int64_t y, int m, int d)
{
    int wd = (int)((days_from_civil(y, m, d) % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int dom = c->mday >> d & 1, dow = c->wday >> wd & 1;

    if (c->mday_star)
        return dow;
    if (c->wday_star)
        return dom;
    return dom || dow; /* cron's (and croniter's day_or=True) rule */
}

/* Earliest hour:minute >= h0:m0 on a matching day; 0 if none. */
static int
first_time(const struct cron *c, int h0, int m0, int *h, int *m)
{
    for (int hh = h0; hh < 24; hh++) {
        uint64_t mask = c->hour >> hh & 1 ? c->minute : 0;
        mask &= ~0ULL << (hh == h0 ? m0 : 0);
        if (mask)
            return *h = hh, *m = __builtin_ctzll(mask), 1;
    }
    return 0;
}

/* Latest hour:minute <= h0:m0 on a matching day; 0 if none. */
static int
last_time(const struct cron *c, int h0, int m0, int *h, int *m)
{
    for (int hh = h0; hh >= 0; hh--) {
        uint64_t mask = c->hour >> hh & 1 ? c->minute : 0;
        mask &= (2ULL << (hh == h0 ? m0 : 59)) - 1;
        if (mask)
            return *h = hh, *m = 63 - __builtin_clzll(mask), 1;
    }
    return 0;
}

/* croniter get_next on a naive time: the first matching minute strictly after t. */
static int
cron_next_naive(const struct cron *c, int64_t t, int64_t *out)
{
    struct civil s;
    int64_t y;
    int h, m;

    civil_from_naive(floor_div(t, 60) * 60 + 60, &s);
    y = s.year;
    for (int i = 0; i < SEARCH_MONTHS; i++) {
        for (; (c->month >> s.month & 1) && s.mday <= days_in_month(y, s.month); s.mday++) {
            if (day_matches(c, y, s.month, s.mday) && first_time(c, s.hour, s.minute, &h, &m)) {
                *out = days_from_civil(y, s.month, s.mday) * 86400 + h * 3600 + m * 60;
                return 0;
            }
            s.hour = s.minute = 0;
        }
        s.mday = 1, s.hour = s.minute = 0;
        if (++s.month > 12)
            s.month = 1, y++;
    }
    return -1;
}

/* croniter get_prev on a naive time: the last matching minute strictly before t. */
static int
cron_prev_naive(const struct cron *c, int64_t t, int64_t *out)
{
    struct civil s;
    int64_t y;
    int h, m;

    civil_from_naive(floor_div(t + 59, 60) * 60 - 60, &s);
    y = s.year;
    for (int i = 0; i < SEARCH_MONTHS; i++) {
        for (; (c->month >> s.month & 1) && s.mday >= 1; s.mday--) {
            if (day_matches(c, y, s.month, s.mday) && last_time(c, s.hour, s.minute, &h, &m)) {
                *out = days_from_civil(y, s.month, s.mday) * 86400 + h * 3600 + m * 60;
                return 0;
            }
            s.hour = 23, s.minute = 59;
        }
        if (--s.month < 1)
            s.month = 12, y--;
        s.mday = days_in_month(y, s.month), s.hour = 23, s.minute = 59;
    }
    return -1;
}

/* ---- Airflow's CronMixin._get_next / _get_prev ---- */

static int
covers_every_hour(const struct cron *c)
{
    return c->hour == full_mask(0, 23);
}

static int
cron_step(const struct cron *c, const char *tz, time_t cur, int forward, time_t *out, struct err *e)
{
    struct civil lc;
    int64_t naive, sched;
    int rc;

    if (tz_from_utc(tz, cur, &lc, NULL, e) < 0)
        return -1;
    if (lc.year < 1 || lc.year > 9990)
        return err_set(e, ERR_FAIL, "time %lld out of the supported range", (long long)cur);
    naive = naive_from_civil(&lc);
    rc = forward ? cron_next_naive(c, naive, &sched) : cron_prev_naive(c, naive, &sched);
    if (rc < 0)
        return err_set(e, ERR_FAIL, "cron never matches within %d years", SEARCH_MONTHS / 12);
    if (covers_every_hour(c)) { /* Airflow: current + naive delta, exact across DST */
        *out = cur + (time_t)(sched - naive);
        return 0;
    }
    civil_from_naive(sched, &lc);
    return tz_to_utc_fold(tz, &lc, 1, out, e);
}

/* Airflow's _align_to_next: start itself when it is on the schedule, else the next time. */
static int
cron_align_next(const struct cron *c, const char *tz, time_t start, time_t *out, struct err *e)
{
    time_t next, prev;

    if (cron_step(c, tz, start, 1, &next, e) < 0 || cron_step(c, tz, next, 0, &prev, e) < 0)
        return -1;
    *out = prev == start ? start : next;
    return 0;
}

static int
cron_next(const struct schedule *s, const char *tz, time_t start, time_t after, time_t *next,
          struct err *e)
{
    time_t cur = after;

    if (start != 0 && after < start)
        return cron_align_next(&s->cron, tz, start, next, e);
    /* The result is always later in theory (gap times move forward, ambiguous ones take the
     * later occurrence); the loop only guards against odd zone histories. */
    for (int i = 0; i < 4; i++) {
        if (cron_step(&s->cron, tz, cur, 1, next, e) < 0)
            return -1;
        if (*next > after)
            return 0;
        cur = *next > cur ? *next : cur + 60;
    }
    return err_set(e, ERR_FAIL, "cron '%.80s': no trigger after %lld", s->text, (long long)after);
}

int
schedule_next(const struct schedule *s, const char *tz, time_t start, time_t end, time_t after,
              time_t *next, struct err *e)
{
    time_t t;

    switch (s->kind) {
    case SCHED_NONE:
    case SCHED_CONTINUOUS: /* no fixed times: a timetable decides (timetable.c) */
    case SCHED_EVENTS:
        return 0;
    case SCHED_ONCE:
        if (start == 0 || start <= after)
            return 0;
        t = start;
        break;
    case SCHED_DELTA:
        if (s->delta_seconds <= 0)
            return err_set(e, ERR_FAIL, "timedelta must be positive");
        if (start == 0)
            t = after + s->delta_seconds;
        else if (after < start)
            t = start;
        else
            t = start + (time_t)(floor_div(after - start, s->delta_seconds) + 1) * s->delta_seconds;
        break;
    case SCHED_CRON:
        if (tz_check(tz, e) < 0)
            return -1;
        if (cron_next(s, tz, start, after, &t, e) < 0)
            return err_prefix(e, "schedule '%.80s'", s->text);
        break;
    default:
        return err_set(e, ERR_FAIL, "unknown schedule kind %d", (int)s->kind);
    }
    if (end != 0 && t > end)
        return 0;
    *next = t;
    return 1;
}

int
schedule_prev(const struct schedule *s, const char *tz, time_t at, bool inclusive, time_t *prev,
              struct err *e)
{
    time_t next;

    if (s->kind != SCHED_CRON)
        return err_set(e, ERR_FAIL, "schedule '%.80s': not a cron schedule", s->text);
    if (tz_check(tz, e) < 0)
        return -1;
    if (cron_step(&s->cron, tz, at, 0, prev, e) < 0)
        return err_prefix(e, "schedule '%.80s'", s->text);
    if (!inclusive)
        return 0;
    /* Airflow's _align_to_prev: `at` itself when the trigger after the previous one is `at` */
    if (cron_step(&s->cron, tz, *prev, 1, &next, e) < 0)
        return err_prefix(e, "schedule '%.80s'", s->text);
    if (next == at)
        *prev = at;
    return 0;
}

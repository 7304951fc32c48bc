/* tz: time zones through the C library, with the TZ variable pointed at one zone at a time.
 *
 * glibc reads IANA zone files itself, so we reuse it rather than parse TZif: we set TZ to
 * ":<name>" and call tzset() when the zone changes (gust is single-threaded; the cached
 * name is the invariant: it always names the zone the C library currently has loaded).
 * glibc silently falls back to UTC for an unknown name, so names are checked against the
 * zone files first. */
#include "schedule/tz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iso8601.h"

static char current_zone[128];

static int
zone_file_ok(const char *name)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    struct stat st;

    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL ||
        strlen(name) >= sizeof(current_zone))
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
            return 0;
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
tz_check(const char *name, struct err *e)
{
    if (name == NULL || !zone_file_ok(name))
        return err_set(e, ERR_NOTFOUND, "unknown time zone '%s' (not in the system tz database)",
                       name ? name : "(null)");
    return 0;
}

static int
use_zone(const char *name, struct err *e)
{
    char tzvar[sizeof(current_zone) + 1];

    if (name != NULL && strcmp(current_zone, name) == 0)
        return 0;
    if (tz_check(name, e) < 0)
        return -1;
    snprintf(tzvar, sizeof(tzvar), ":%s", name);
    setenv("TZ", tzvar, 1);
    tzset();
    snprintf(current_zone, sizeof(current_zone), "%s", name);
    return 0;
}

static long
offset_at(time_t t)
{
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL)
        return 0;
    return tm.tm_gmtoff;
}

static time_t
civil_as_utc(const struct civil *c)
{
    struct tm tm = {
        .tm_year = c->year - 1900,
        .tm_mon = c->month - 1,
        .tm_mday = c->mday,
        .tm_hour = c->hour,
        .tm_min = c->minute,
        .tm_sec = c->second,
    };
    return timegm(&tm);
}

int
tz_to_utc(const char *name, const struct civil *local, time_t *out, struct err *e)
{
    return tz_to_utc_fold(name, local, 0, out, e);
}

int
tz_to_utc_fold(const char *name, const struct civil *local, int fold, time_t *out, struct err *e)
{
    time_t u, a, b;
    long before, after;

    if (use_zone(name, e) < 0)
        return -1;
    u = civil_as_utc(local);
    /* Zone transitions are further apart than a day, so the offsets a day either side are
     * the only candidates. */
    before = offset_at(u - 86400);
    after = offset_at(u + 86400);
    a = u - before;
    b = u - after;
    if (offset_at(a) == before && offset_at(b) == after)
        /* ambiguous (a != b) or no transition (a == b): fold picks the occurrence */
        *out = (a < b) == (fold == 0) ? a : b;
    else if (offset_at(a) == before)
        *out = a;
    else if (offset_at(b) == after)
        *out = b;
    else
        *out = a; /* in the gap: offset from before the transition */
    return 0;
}

int
tz_from_utc(const char *name, time_t t, struct civil *local, long *gmtoff, struct err *e)
{
    struct tm tm;

    if (use_zone(name, e) < 0)
        return -1;
    if (localtime_r(&t, &tm) == NULL)
        return err_set(e, ERR_FAIL, "time %lld out of range", (long long)t);
    local->year = tm.tm_year + 1900;
    local->month = tm.tm_mon + 1;
    local->mday = tm.tm_mday;
    local->hour = tm.tm_hour;
    local->minute = tm.tm_min;
    local->second = tm.tm_sec;
    if (gmtoff)
        *gmtoff = tm.tm_gmtoff;
    return 0;
}

int
tz_format(const char *name, time_t t, char buf[32], struct err *e)
{
    struct civil c;
    long off;

    if (tz_from_utc(name, t, &c, &off, e) < 0)
        return -1;
    if (c.year < 0 || c.year > 9999)
        return err_set(e, ERR_FAIL, "year %d cannot be written as ISO-8601", c.year);
    iso8601_format(t, off, 'T', buf);
    return 0;
}

static int
read_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int
parse_offset(const char *p, long *off)
{
    int h, m = 0, sign;

    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0' ? (*off = 0, 0) : -1;
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p++ == '-' ? -1 : 1;
    if (read_digits(&p, 2, &h) < 0)
        return -1;
    if (*p == ':')
        p++;
    if (*p != '\0' && read_digits(&p, 2, &m) < 0)
        return -1;
    if (*p != '\0' || h > 23 || m > 59)
        return -1;
    *off = sign * (h * 3600L + m * 60L);
    return 0;
}

static int
valid_civil(const struct civil *c)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (c->year % 4 == 0 && c->year % 100 != 0) || c->year % 400 == 0;

    if (c->month < 1 || c->month > 12 || c->mday < 1 || c->mday > mdays[c->month - 1])
        return 0;
    if (c->month == 2 && c->mday == 29 && !leap)
        return 0;
    return c->hour < 24 && c->minute < 60 && c->second < 60;
}

int
tz_parse_iso(const char *name, const char *text, time_t *out, struct err *e)
{
    struct civil c = {0};
    const char *p = text;
    long off = 0;
    int has_off = 0;

    if (read_digits(&p, 4, &c.year) < 0 || *p++ != '-' || read_digits(&p, 2, &c.month) < 0 ||
        *p++ != '-' || read_digits(&p, 2, &c.mday) < 0)
        goto bad;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (read_digits(&p, 2, &c.hour) < 0 || *p++ != ':' || read_digits(&p, 2, &c.minute) < 0)
            goto bad;
        if (*p == ':' && (p++, read_digits(&p, 2, &c.second) < 0))
            goto bad;
        if (*p == '.' || *p == ',') /* fractional seconds: truncated, gust works in seconds */
            for (p++; isdigit((unsigned char)*p); p++)
                ;
    }
    if (*p != '\0') {
        if (parse_offset(p, &off) < 0)
            goto bad;
        has_off = 1;
    }
    if (!valid_civil(&c))
        goto bad;
    if (has_off) {
        *out = civil_as_utc(&c) - off;
        return 0;
    }
    return tz_to_utc(name, &c, out, e);
bad:
    return err_set(e, ERR_PARSE,
                   "invalid date-time '%s' (expected ISO-8601, e.g. 2024-01-31 or "
                   "2024-01-31T05:00:00+07:00)",
                   text);
}

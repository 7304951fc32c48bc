/* dagfile_values: typed reading of DAG file values (strings, integers, booleans, durations,
 * dates, lists, env mappings, JSON objects), each with a precise diagnostic at the value.
 *
 * Invariant: on error *out is left untouched (still the default or a previous value, owned
 * by the caller), so a half-read task can always be freed. */
#include "dagfile_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "schedule/tz.h"

int
dagfile_read_str(struct loadctx *c, const struct ynode *n, const char *what, char **out)
{
    char *s;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind != YN_SCALAR) {
        dagfile_error(c, n, "%s must be a string, not %s", what, ynode_what(n));
        return -1;
    }
    if ((s = strdup(n->str)) == NULL) {
        dagfile_error(c, n, "out of memory");
        return -1;
    }
    free(*out);
    *out = s;
    return 0;
}

int
dagfile_read_int(struct loadctx *c, const struct ynode *n, const char *what, long min, int *out)
{
    long v;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (ynode_long(n, &v) < 0 || v > 1000000000L) {
        dagfile_error(c, n, "%s must be an integer, not %s", what, ynode_what(n));
        return -1;
    }
    if (v < min) {
        dagfile_error(c, n, "%s must be at least %ld, not %ld", what, min, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int
dagfile_read_bool(struct loadctx *c, const struct ynode *n, const char *what, bool *out)
{
    if (n == NULL || ynode_is_null(n))
        return 0;
    if (ynode_bool(n, out) < 0) {
        dagfile_error(c, n, "%s must be true or false, not %s", what, ynode_what(n));
        return -1;
    }
    return 0;
}

static bool
is_type(const struct ynode *map, const char *const *names)
{
    const struct ynode *t = ymap_get(map, "__type__");

    for (; t != NULL && t->kind == YN_SCALAR && *names; names++)
        if (strcmp(t->str, *names) == 0)
            return true;
    return false;
}

/* Keyword (or __args__ positional) fields of a __type__ mapping into vals (NAN: absent). */
static int
typed_fields(struct loadctx *c, const struct ynode *map, const char *type,
             const char *const *fields, size_t n_fields, double *vals)
{
    for (size_t i = 0; i < n_fields; i++)
        vals[i] = NAN;
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = ymap_key(map, i), *v = ymap_val(map, i);
        size_t f = 0;
        if (k->kind == YN_SCALAR && strcmp(k->str, "__type__") == 0)
            continue;
        if (k->kind == YN_SCALAR && strcmp(k->str, "__args__") == 0) {
            if (v->kind != YN_SEQ || v->n > n_fields) {
                dagfile_error(c, v, "%s: __args__ must be a list of at most %zu numbers", type,
                              n_fields);
                return -1;
            }
            for (size_t j = 0; j < v->n; j++)
                if (ynode_double(v->items[j], &vals[j]) < 0) {
                    dagfile_error(c, v->items[j], "%s: expected a number, not %s", type,
                                  ynode_what(v->items[j]));
                    return -1;
                }
            continue;
        }
        while (f < n_fields && (k->kind != YN_SCALAR || strcmp(k->str, fields[f]) != 0))
            f++;
        if (f == n_fields) {
            dagfile_error(c, k, "%s has no field '%s'", type, k->kind == YN_SCALAR ? k->str : "?");
            return -1;
        }
        if (ynode_double(v, &vals[f]) < 0) {
            dagfile_error(c, v, "%s: %s must be a number, not %s", type, fields[f], ynode_what(v));
            return -1;
        }
    }
    return 0;
}

/* A mapping of the wrong type where a `want` is expected: say what it is, not just what is
 * expected. */
static void
wrong_type(struct loadctx *c, const struct ynode *map, const char *what, const char *want)
{
    const struct ynode *t = ymap_get(map, "__type__");

    if (t == NULL || t->kind != YN_SCALAR)
        dagfile_error(c, map, "%s: a mapping here must have __type__: %s", what, want);
    else
        dagfile_error(c, t, "%s: __type__ '%s' is not supported here: expected %s", what, t->str,
                      want);
}

static int
timedelta_seconds(struct loadctx *c, const struct ynode *map, const char *what, double *out)
{
    static const char *const types[] = {"datetime.timedelta", "timedelta", NULL};
    static const char *const fields[] = {"days",    "seconds", "microseconds", "milliseconds",
                                         "minutes", "hours",   "weeks"};
    static const double unit[] = {86400, 1, 1e-6, 1e-3, 60, 3600, 604800};
    double vals[7], total = 0;

    if (!is_type(map, types)) {
        wrong_type(c, map, what, "datetime.timedelta");
        return -1;
    }
    if (typed_fields(c, map, "datetime.timedelta", fields, 7, vals) < 0)
        return -1;
    for (size_t i = 0; i < 7; i++)
        if (!isnan(vals[i]))
            total += vals[i] * unit[i];
    if (!(fabs(total) < 1e12)) {
        dagfile_error(c, map, "%s: timedelta out of range", what);
        return -1;
    }
    *out = total;
    return 0;
}

int
dagfile_read_duration_signed(struct loadctx *c, const struct ynode *n, const char *what,
                             double *out)
{
    double v;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind == YN_MAP) {
        if (timedelta_seconds(c, n, what, &v) < 0)
            return -1;
    } else if (ynode_double(n, &v) < 0 || !(fabs(v) < 1e12)) {
        dagfile_error(c, n, "%s must be a number of seconds or a datetime.timedelta, not %s", what,
                      ynode_what(n));
        return -1;
    }
    *out = v;
    return 0;
}

int
dagfile_read_duration(struct loadctx *c, const struct ynode *n, const char *what, double *out)
{
    double v = 0;

    if (n == NULL)
        return 0;
    if (ynode_is_null(n)) {
        *out = -1;
        return 0;
    }
    if (dagfile_read_duration_signed(c, n, what, &v) < 0)
        return -1;
    if (v < 0) {
        dagfile_error(c, n, "%s must not be negative", what);
        return -1;
    }
    *out = v;
    return 0;
}

static int
datetime_map(struct loadctx *c, const struct ynode *map, const char *what, const char *tz,
             time_t *out)
{
    static const char *const types[] = {"datetime.datetime", "datetime.date", "datetime",
                                        "pendulum.datetime", NULL};
    static const char *const fields[] = {"year", "month", "day", "hour", "minute", "second"};
    static const int lo[] = {1, 1, 1, 0, 0, 0}, hi[] = {9999, 12, 31, 23, 59, 59};
    double v[6];
    int iv[6];
    struct err e = {0};

    if (!is_type(map, types)) {
        wrong_type(c, map, what, "datetime.datetime");
        return -1;
    }
    if (typed_fields(c, map, "datetime.datetime", fields, 6, v) < 0)
        return -1;
    for (size_t i = 0; i < 6; i++) {
        if (isnan(v[i]) && i < 3) {
            dagfile_error(c, map, "%s: datetime.datetime needs %s", what, fields[i]);
            return -1;
        }
        if (isnan(v[i])) {
            iv[i] = 0;
            continue;
        }
        /* the range check comes before the cast: a double outside int's range is UB to convert */
        if (!(v[i] >= lo[i] && v[i] <= hi[i])) {
            dagfile_error(c, map, "%s: %s %g is out of range (%d..%d)", what, fields[i], v[i],
                          lo[i], hi[i]);
            return -1;
        }
        iv[i] = (int)v[i];
        if (iv[i] != v[i]) {
            dagfile_error(c, map, "%s: %s must be a whole number", what, fields[i]);
            return -1;
        }
    }
    struct civil cv = {iv[0], iv[1], iv[2], iv[3], iv[4], iv[5]};
    if (tz_to_utc(tz, &cv, out, &e) < 0) {
        dagfile_error(c, map, "%s: %s", what, e.msg);
        return -1;
    }
    return 0;
}

/* One optional "<digits><spaces><unit>" of dag-factory's relative time at *p (advanced past
 * it when it matches): the value, or -1 when it does not match. */
static long
rel_part(const char **p, const char *unit)
{
    const char *q = *p;
    long v = 0;

    if (!isdigit((unsigned char)*q))
        return -1;
    for (; isdigit((unsigned char)*q); q++)
        if ((v = v * 10 + (*q - '0')) > 1000000000L)
            return -1;
    if (!isspace((unsigned char)*q))
        return -1;
    while (isspace((unsigned char)*q))
        q++;
    if (strncasecmp(q, unit, strlen(unit)) != 0)
        return -1;
    *p = q + strlen(unit);
    return v;
}

/* dag-factory's get_time_delta: re.match of (N hour)?(N minute)?(N second)?(N day)? (case
 * insensitive; what follows is ignored, so "2 days" and "1 hours" read as written); at least
 * one part. The delta in seconds, or -1. */
long long
dagfile_relative_seconds(const char *s)
{
    static const char *const units[] = {"hour", "minute", "second", "day"};
    static const long mult[] = {3600, 60, 1, 86400};
    long long total = 0;
    bool any = false;

    for (size_t i = 0; i < 4; i++) {
        long v = rel_part(&s, units[i]);
        if (v >= 0)
            total += (long long)v * mult[i], any = true;
    }
    return any ? total : -1;
}

/* The start of today in zone tz, minus secs (dag-factory: pendulum.now(tz).start_of("day") -
 * delta). Today is $GUST_TEST_NOW (epoch seconds) in tests, else the clock. */
static int
relative_date(const char *tz, long long secs, time_t *out, struct err *e)
{
    const char *fake = getenv("GUST_TEST_NOW");
    time_t now = fake && *fake ? (time_t)strtoll(fake, NULL, 10) : time(NULL);
    struct civil cv;
    long off;

    if (tz_from_utc(tz, now, &cv, &off, e) < 0)
        return -1;
    cv.hour = cv.minute = cv.second = 0;
    if (tz_to_utc(tz, &cv, out, e) < 0)
        return -1;
    *out -= (time_t)secs;
    return 0;
}

int
dagfile_read_date(struct loadctx *c, const struct ynode *n, const char *what, const char *tz,
                  time_t *out)
{
    long long rel;

    struct err e = {0};

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind == YN_MAP)
        return datetime_map(c, n, what, tz, out);
    if (n->kind != YN_SCALAR) {
        dagfile_error(c, n, "%s must be a date, not %s", what, ynode_what(n));
        return -1;
    }
    if (tz_parse_iso(tz, n->str, out, &e) == 0)
        return 0;
    if ((rel = dagfile_relative_seconds(n->str)) >= 0) {
        struct err e2 = {0};
        if (relative_date(tz, rel, out, &e2) == 0)
            return 0;
        dagfile_error(c, n, "%s: %s", what, e2.msg);
        return -1;
    }
    dagfile_error(c, n,
                  "%s: %s; nor is it a relative time as dag-factory reads it (\"2 days\", "
                  "\"1 hour\": N hour|minute|second|day)",
                  what, e.msg);
    return -1;
}

void
dagfile_str_list_free(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

void
dagfile_env_free(struct kv *env, size_t n)
{
    for (size_t i = 0; env != NULL && i < n; i++) {
        free(env[i].key);
        free(env[i].value);
    }
    free(env);
}

int
dagfile_read_str_list(struct loadctx *c, const struct ynode *n, const char *what, char ***out,
                      size_t *n_out)
{
    char **list;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind != YN_SEQ) {
        dagfile_error(c, n, "%s must be a list of strings, not %s", what, ynode_what(n));
        return -1;
    }
    if ((list = calloc(n->n + 1, sizeof(*list))) == NULL) {
        dagfile_error(c, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *it = n->items[i];
        if (it->kind != YN_SCALAR || ynode_is_null(it)) {
            dagfile_error(c, it, "%s: item %zu must be a string, not %s", what, i + 1,
                          ynode_what(it));
            dagfile_str_list_free(list, i);
            return -1;
        }
        if ((list[i] = strdup(it->str)) == NULL) {
            dagfile_error(c, it, "out of memory");
            dagfile_str_list_free(list, i);
            return -1;
        }
    }
    dagfile_str_list_free(*out, *n_out);
    *out = list;
    *n_out = n->n;
    return 0;
}

/* One name/value pair of an env mapping or env_vars list into env[i]. */
static int
env_pair(struct loadctx *c, const char *what, const struct ynode *k, const struct ynode *v,
         struct kv *kv)
{
    if (k == NULL || k->kind != YN_SCALAR || ynode_is_null(k)) {
        dagfile_error(c, k, "%s: a variable name must be a string", what);
        return -1;
    }
    if (v != NULL && v->kind != YN_SCALAR) {
        dagfile_error(c, v, "%s: %s must be a string, not %s", what, k->str, ynode_what(v));
        return -1;
    }
    kv->key = strdup(k->str);
    kv->value = strdup(v == NULL || ynode_is_null(v) ? "" : v->str);
    if (kv->key == NULL || kv->value == NULL) {
        dagfile_error(c, k, "out of memory");
        return -1;
    }
    return 0;
}

int
dagfile_read_env(struct loadctx *c, const struct ynode *n, const char *what, struct kv **out,
                 size_t *n_out)
{
    struct kv *env;
    size_t i;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind == YN_SCALAR) {
        dagfile_error(c, n, "%s must be a mapping or a list of {name, value}, not %s", what,
                      ynode_what(n));
        return -1;
    }
    if ((env = calloc(n->n + 1, sizeof(*env))) == NULL) {
        dagfile_error(c, n, "out of memory");
        return -1;
    }
    for (i = 0; i < n->n; i++) {
        const struct ynode *k, *v, *it = n->kind == YN_SEQ ? n->items[i] : NULL;
        if (it != NULL && it->kind != YN_MAP) {
            dagfile_error(c, it, "%s: item %zu must be a mapping with name and value", what, i + 1);
            goto fail;
        }
        k = it ? ymap_get(it, "name") : ymap_key(n, i);
        v = it ? ymap_get(it, "value") : ymap_val(n, i);
        if (env_pair(c, what, k ? k : it, v, &env[i]) < 0)
            goto fail;
    }
    dagfile_env_free(*out, *n_out);
    *out = env;
    *n_out = n->n;
    return 0;
fail:
    dagfile_env_free(env, i + 1);
    return -1;
}

int
dagfile_read_exit_codes(struct loadctx *c, const struct ynode *n, const char *what, int **out,
                        size_t *n_out)
{
    size_t count = n == NULL ? 0 : n->kind == YN_SEQ ? n->n : 1;
    int *codes;

    if (n == NULL)
        return 0;
    if (ynode_is_null(n))
        count = 0;
    if ((codes = calloc(count + 1, sizeof(*codes))) == NULL) {
        dagfile_error(c, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const struct ynode *it = n->kind == YN_SEQ ? n->items[i] : n;
        long v;
        if (ynode_long(it, &v) < 0 || v < 0 || v > 255) {
            dagfile_error(c, it, "%s must be an exit code (0-255) or a list of them", what);
            free(codes);
            return -1;
        }
        codes[i] = (int)v;
    }
    free(*out);
    *out = codes;
    *n_out = count;
    return 0;
}

int
dagfile_read_json_object(struct loadctx *c, const struct ynode *n, const char *what, char **out)
{
    char *s;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind != YN_MAP) {
        dagfile_error(c, n, "%s must be a mapping, not %s", what, ynode_what(n));
        return -1;
    }
    if ((s = ynode_to_json(n)) == NULL) {
        dagfile_error(c, n, "out of memory");
        return -1;
    }
    free(*out);
    *out = s;
    return 0;
}

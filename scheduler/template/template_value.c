/* template_value: how template values become text (Python's str() as Jinja prints it, and
 * Jinja's | tojson, which is Python's json.dumps(sort_keys=True) made HTML-safe) and the
 * filters.
 *
 * Deliberate difference: str() of a dict or list is compact JSON here, where Airflow prints
 * a Python repr ({'a': 1, 'b': None}); JSON is what a shell command or a program can read. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

/* One UTF-8 sequence at p (n bytes left): its length and code point, or 0 when invalid. */
static size_t
utf8_dec(const unsigned char *p, size_t n, unsigned *cp)
{
    size_t len = p[0] < 0x80         ? 1
                 : (p[0] >> 5) == 6  ? 2
                 : (p[0] >> 4) == 14 ? 3
                 : (p[0] >> 3) == 30 ? 4
                                     : 0;
    unsigned v = len == 1 ? p[0] : len == 2 ? p[0] & 0x1F : len == 3 ? p[0] & 0x0F : p[0] & 0x07;

    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
        v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* A JSON string. py: Python's ensure_ascii and Jinja's HTML-safe escapes of < > & '. */
static void
dump_str(struct tmpl_sb *b, const char *s, size_t n, bool py)
{
    const unsigned char *p = (const unsigned char *)s;
    char esc[16];

    tmpl_sb_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned cp = p[i];
        size_t len = 1;
        const char *short_esc = strchr("\"\"\\\\\nn\rr\tt\bb\ff", p[i]);
        if (p[i] != 0 && short_esc != NULL && (short_esc - "\"\"\\\\\nn\rr\tt\bb\ff") % 2 == 0) {
            esc[0] = '\\', esc[1] = short_esc[1];
            tmpl_sb_add(b, esc, 2);
        } else if (p[i] < 0x20 || (py && strchr("<>&'", p[i]) != NULL && p[i] != 0)) {
            snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
            tmpl_sb_puts(b, esc);
        } else if (p[i] < 0x80 || !py) {
            tmpl_sb_add(b, s + i, 1);
        } else {
            if ((len = utf8_dec(p + i, n - i, &cp)) == 0)
                len = 1, cp = p[i]; /* not UTF-8: the byte as a code point */
            if (cp >= 0x10000)
                snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
                         0xDC00 + ((cp - 0x10000) & 0x3FF));
            else
                snprintf(esc, sizeof(esc), "\\u%04x", cp);
            tmpl_sb_puts(b, esc);
        }
        i += len;
    }
    tmpl_sb_add(b, "\"", 1);
}

static int
cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* JSON text of j: py is json.dumps(sort_keys=True) + HTML-safe; else compact, file order. */
static void
dump_json(struct tmpl_sb *b, const json_t *j, bool py, int depth)
{
    char num[TMPL_REAL_BUF];

    if (depth > 200) { /* jansson values from text are bounded, but be safe */
        b->oom = true;
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(j), i = 0;
        const char **keys = calloc(n + 1, sizeof(*keys));
        const char *k;
        json_t *v;
        if (keys == NULL) {
            b->oom = true;
            return;
        }
        json_object_foreach((json_t *)j, k, v) keys[i++] = k;
        if (py)
            qsort(keys, n, sizeof(*keys), cmp_keys);
        tmpl_sb_add(b, "{", 1);
        for (i = 0; i < n; i++) {
            tmpl_sb_puts(b, i == 0 ? "" : py ? ", " : ",");
            dump_str(b, keys[i], strlen(keys[i]), py);
            tmpl_sb_puts(b, py ? ": " : ":");
            dump_json(b, json_object_get(j, keys[i]), py, depth + 1);
        }
        tmpl_sb_add(b, "}", 1);
        free(keys);
        break;
    }
    case JSON_ARRAY:
        tmpl_sb_add(b, "[", 1);
        for (size_t i = 0; i < json_array_size(j); i++) {
            tmpl_sb_puts(b, i == 0 ? "" : py ? ", " : ",");
            dump_json(b, json_array_get(j, i), py, depth + 1);
        }
        tmpl_sb_add(b, "]", 1);
        break;
    case JSON_STRING:
        dump_str(b, json_string_value(j), json_string_length(j), py);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(j));
        tmpl_sb_puts(b, num);
        break;
    case JSON_REAL:
        tmpl_fmt_real(json_real_value(j), num);
        tmpl_sb_puts(b, num);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        tmpl_sb_puts(b, json_is_true(j) ? "true" : json_is_false(j) ? "false" : "null");
        break;
    }
}

static const char *const obj_names[] = {"dag",  "task",      "ti",       "macros",
                                        "var",  "var.value", "var.json", "dag_run",
                                        "conn", "conn.<id>", "loop",     "macros.datetime"};

/* str(v) onto out, as Jinja prints a value. */
int
tmpl_val_str(struct tmpl_state *s, const struct tmpl_val *v, struct tmpl_sb *out)
{
    char num[TMPL_REAL_BUF];
    const json_t *j = v->j;

    switch (v->k) {
    case V_ANY:
        return 0;
    case V_UNDEF:
        return tmpl_raise(s, v);
    case V_OBJ:
        return tmpl_fail(s, s->expr, "%s cannot be printed (use one of its attributes)",
                         obj_names[v->id]);
    case V_FN:
        return tmpl_fail(s, s->expr, "a function must be called to be printed");
    case V_TIME:
        tmpl_fmt_time(v->t, TMPL_STR, num);
        if (v->naive)
            num[19] = '\0';
        tmpl_sb_puts(out, num);
        return 0;
    case V_DELTA:
        tmpl_fmt_delta((long long)v->t, num);
        tmpl_sb_puts(out, num);
        return 0;
    case V_JSON:
        break;
    }
    if (out == NULL)
        return 0;
    if (json_is_string(j))
        tmpl_sb_add(out, json_string_value(j), json_string_length(j));
    else if (json_is_object(j) || json_is_array(j))
        dump_json(out, j, false, 0);
    else if (json_is_integer(j) || json_is_real(j))
        dump_json(out, j, false, 0);
    else
        tmpl_sb_puts(out, json_is_true(j) ? "True" : json_is_false(j) ? "False" : "None");
    return out->oom ? tmpl_fail(s, s->tok.off, "out of memory") : 0;
}

/* str(v) as a new C string (NULL for V_ANY). */
int
tmpl_val_to_cstr(struct tmpl_state *s, const struct tmpl_val *v, char **str)
{
    struct tmpl_sb b = {0};

    *str = NULL;
    if (v->k == V_ANY)
        return tmpl_raise(s, v);
    tmpl_sb_add(&b, "", 0);
    if (tmpl_val_str(s, v, &b) < 0 || b.oom) {
        free(b.p);
        return s->failed ? -1 : tmpl_fail(s, s->tok.off, "out of memory");
    }
    *str = b.p;
    return 0;
}

/* Python truthiness of v (undefined is false). */
bool
tmpl_truthy(const struct tmpl_val *v)
{
    const json_t *j = v->j;

    if (v->k == V_UNDEF)
        return false;
    if (v->k == V_DELTA)
        return v->t != 0;
    if (v->k != V_JSON)
        return true;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return json_object_size(j) > 0;
    case JSON_ARRAY:
        return json_array_size(j) > 0;
    case JSON_STRING:
        return json_string_length(j) > 0;
    case JSON_INTEGER:
        return json_integer_value(j) != 0;
    case JSON_REAL:
        return json_real_value(j) != 0;
    case JSON_TRUE:
        return true;
    default:
        return false;
    }
}

/* Jinja's | int: int(x), else int(float(x)); false when neither works (the default). */
static bool
to_int(const struct tmpl_val *v, const char *str, long long *out)
{
    char *end;

    if (v->k == V_JSON && (json_is_integer(v->j) || json_is_boolean(v->j))) {
        *out = json_is_integer(v->j) ? json_integer_value(v->j) : json_is_true(v->j);
        return true;
    }
    if (v->k == V_JSON && json_is_real(v->j)) {
        *out = (long long)json_real_value(v->j);
        return json_real_value(v->j) > -9.2e18 && json_real_value(v->j) < 9.2e18;
    }
    if (str == NULL || !(v->k == V_JSON && json_is_string(v->j)))
        return false;
    while (isspace((unsigned char)*str))
        str++;
    errno = 0;
    *out = strtoll(str, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (end != str && *end == '\0' && errno == 0)
        return true;
    double d = strtod(str, &end);
    while (isspace((unsigned char)*end))
        end++;
    *out = (long long)(d > -9.2e18 && d < 9.2e18 ? d : 0);
    return end != str && *end == '\0' && d > -9.2e18 && d < 9.2e18;
}

/* lower, upper, trim (ASCII only) of str(v). */
static char *
text_filter(const char *name, char *str)
{
    size_t n = strlen(str);

    if (strcmp(name, "trim") == 0) {
        size_t a = 0;
        while (a < n && isspace((unsigned char)str[a]))
            a++;
        while (n > a && isspace((unsigned char)str[n - 1]))
            n--;
        memmove(str, str + a, n - a);
        str[n - a] = '\0';
        return str;
    }
    for (size_t i = 0; i < n; i++)
        str[i] = (char)(name[0] == 'l' ? tolower((unsigned char)str[i])
                                       : toupper((unsigned char)str[i]));
    return str;
}

static int
filter_default(struct tmpl_state *s, struct tmpl_val *v, struct tmpl_arg *args, size_t n,
               size_t off)
{
    struct tmpl_val dflt = {.k = V_JSON};
    bool boolean = false;

    if (n > 2 || (n > 0 && args[0].name != NULL) ||
        (n > 1 && args[1].name != NULL && strcmp(args[1].name, "boolean") != 0))
        return tmpl_fail(s, off, "default: expects (value, boolean=False)");
    if (n > 1) {
        if (tmpl_raise(s, &args[1].v) < 0)
            return -1;
        boolean = tmpl_truthy(&args[1].v);
    }
    if (v->k != V_UNDEF && (!boolean || v->k == V_ANY || tmpl_truthy(v)))
        return 0;
    tmpl_val_clear(v);
    if (n > 0) {
        *v = args[0].v;
        memset(&args[0].v, 0, sizeof(args[0].v));
        return tmpl_raise(s, v);
    }
    dflt.j = json_string("");
    *v = dflt;
    return dflt.j ? 0 : tmpl_fail(s, off, "out of memory");
}

static int
filter_tojson(struct tmpl_state *s, struct tmpl_val *v, size_t off)
{
    struct tmpl_sb b = {0};

    if (v->k == V_TIME || v->k == V_DELTA)
        return tmpl_fail(s, off, "tojson: Object of type %s is not JSON serializable",
                         v->k == V_TIME ? "DateTime" : "timedelta");
    if (v->k != V_JSON)
        return tmpl_fail(s, off, "tojson: this value is not JSON serializable");
    tmpl_sb_add(&b, "", 0);
    dump_json(&b, v->j, true, 0);
    if (b.oom) {
        free(b.p);
        return tmpl_fail(s, off, "out of memory");
    }
    tmpl_val_clear(v);
    int rc = tmpl_val_json(s, v, json_stringn_nocheck(b.p, b.n), off);
    free(b.p);
    return rc;
}

/* Airflow's date filters: ds, ds_nodash, ts, ts_nodash, ts_nodash_with_tz (k 0..4). */
static int
filter_date(struct tmpl_state *s, size_t k, struct tmpl_val *v, size_t off)
{
    static const enum tmpl_time_fmt fmts[] = {TMPL_DS, TMPL_DS_NODASH, TMPL_TS, TMPL_TS_NODASH,
                                              TMPL_TS_NODASH_TZ};
    char buf[TMPL_TIME_BUF];

    if (v->k != V_TIME)
        return tmpl_fail(s, off, "this filter needs a datetime (e.g. data_interval_end)");
    tmpl_fmt_time(v->t, fmts[k], buf);
    if (v->naive && (k == 2 || k == 4))
        buf[k == 2 ? 19 : 15] = '\0';
    tmpl_val_clear(v);
    return tmpl_val_json(s, v, json_string(buf), off);
}

/* A string argument of a filter. */
static int
str_arg(struct tmpl_state *s, const char *filter, struct tmpl_arg *a, char **out)
{
    if (tmpl_raise(s, &a->v) < 0)
        return -1;
    if (a->v.k != V_JSON || !json_is_string(a->v.j))
        return tmpl_fail(s, a->off, "%s: the argument must be a string", filter);
    *out = (char *)json_string_value(a->v.j);
    return 0;
}

/* | replace(old, new[, count]) on str(v). */
static int
filter_replace(struct tmpl_state *s, struct tmpl_val *v, struct tmpl_arg *args, size_t n,
               size_t off)
{
    char *old, *new, *str = NULL;
    long long count = -1;

    if (n < 2 || n > 3)
        return tmpl_fail(s, off, "replace: expects (old, new[, count])");
    if (str_arg(s, "replace", &args[0], &old) < 0 || str_arg(s, "replace", &args[1], &new) < 0)
        return -1;
    if (n == 3 && !(args[2].v.k == V_JSON && json_is_integer(args[2].v.j)))
        return tmpl_fail(s, args[2].off, "replace: count must be an integer");
    if (n == 3)
        count = json_integer_value(args[2].v.j);
    if (v->k == V_ANY || tmpl_val_to_cstr(s, v, &str) < 0)
        return s->failed ? -1 : 0;
    struct tmpl_sb b = {0};
    size_t lo = strlen(old), ln = strlen(new), len = strlen(str);
    tmpl_sb_add(&b, "", 0);
    for (size_t i = 0; i <= len;) {
        if (count != 0 && (lo == 0 || strncmp(str + i, old, lo) == 0) && !(lo && i == len)) {
            tmpl_sb_add(&b, new, ln);
            count -= count > 0;
            if (lo > 0) {
                i += lo;
                continue;
            }
        }
        if (i < len)
            tmpl_sb_add(&b, str + i, 1);
        i++;
        if (b.n > TMPL_SIZE_MAX)
            break;
    }
    free(str);
    int rc = tmpl_size_ok(s, b.n, off) < 0 ? -1 : b.oom ? tmpl_fail(s, off, "out of memory") : 0;
    tmpl_val_clear(v);
    if (rc == 0)
        rc = tmpl_val_json(s, v, json_stringn_nocheck(b.p, b.n), off);
    free(b.p);
    return rc;
}

/* | join(sep='') of a list (each item as str). */
static int
filter_join(struct tmpl_state *s, struct tmpl_val *v, struct tmpl_arg *args, size_t n, size_t off)
{
    char *sep = "";
    size_t i;
    json_t *x;

    if (n > 1 || (n == 1 && args[0].name != NULL && strcmp(args[0].name, "d") != 0))
        return tmpl_fail(s, off, "join: expects (separator)");
    if (n == 1 && str_arg(s, "join", &args[0], &sep) < 0)
        return -1;
    if (v->k == V_ANY)
        return 0;
    if (v->k != V_JSON || !json_is_array(v->j))
        return tmpl_fail(s, off, "join: needs a list");
    struct tmpl_sb b = {0};
    tmpl_sb_add(&b, "", 0);
    json_array_foreach(v->j, i, x)
    {
        struct tmpl_val e = {.k = V_JSON, .j = x};
        if (i > 0)
            tmpl_sb_puts(&b, sep);
        if (tmpl_val_str(s, &e, &b) < 0 || tmpl_size_ok(s, b.n, off) < 0)
            break;
    }
    int rc = s->failed ? -1 : b.oom ? tmpl_fail(s, off, "out of memory") : 0;
    tmpl_val_clear(v);
    if (rc == 0)
        rc = tmpl_val_json(s, v, json_stringn_nocheck(b.p, b.n), off);
    free(b.p);
    return rc;
}

/* | length (| count): items of a list or mapping, characters of a string. */
static int
filter_length(struct tmpl_state *s, struct tmpl_val *v, size_t off)
{
    size_t n = 0;
    const json_t *j = v->j;

    if (v->k != V_JSON || !(json_is_array(j) || json_is_object(j) || json_is_string(j)))
        return tmpl_fail(s, off, "length: needs a list, a mapping or a string");
    if (json_is_string(j)) {
        for (size_t i = 0; i < json_string_length(j); i++)
            n += (((unsigned char)json_string_value(j)[i]) & 0xC0) != 0x80;
    } else {
        n = json_is_array(j) ? json_array_size(j) : json_object_size(j);
    }
    tmpl_val_clear(v);
    return tmpl_val_json(s, v, json_integer((json_int_t)n), off);
}

/* The filters added to the first ones: 1 when name is none of them. */
static int
filter_more(struct tmpl_state *s, const char *name, size_t off, struct tmpl_val *v,
            struct tmpl_arg *args, size_t n)
{
    static const char *const dates[] = {"ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz"};
    size_t k = 0;

    while (k < 5 && strcmp(dates[k], name) != 0)
        k++;
    if (k == 5 && strcmp(name, "replace") != 0 && strcmp(name, "join") != 0 &&
        strcmp(name, "length") != 0 && strcmp(name, "count") != 0)
        return 1;
    if (tmpl_raise(s, v) < 0)
        return -1;
    if (strcmp(name, "replace") == 0)
        return filter_replace(s, v, args, n, off);
    if (strcmp(name, "join") == 0)
        return filter_join(s, v, args, n, off);
    if (n > 0)
        return tmpl_fail(s, off, "%s: too many arguments", name);
    if (v->k == V_ANY)
        return 0;
    return k < 5 ? filter_date(s, k, v, off) : filter_length(s, v, off);
}

/* Apply the filter name (at off) with args to *v. */
int
tmpl_filter(struct tmpl_state *s, const char *name, size_t off, struct tmpl_val *v,
            struct tmpl_arg *args, size_t n)
{
    static const char *const known[] = {"default", "d",     "tojson", "string",
                                        "int",     "lower", "upper",  "trim"};
    size_t k = 0;
    char *str = NULL;

    while (k < 8 && strcmp(known[k], name) != 0)
        k++;
    if (k == 8) {
        int rc = filter_more(s, name, off, v, args, n);
        return rc != 1 ? rc : tmpl_fail(s, off, "unknown filter '%s'", name);
    }
    if (k < 2)
        return filter_default(s, v, args, n, off);
    if (n > (k == 4 ? 1u : 0u))
        return tmpl_fail(s, off, "%s: too many arguments", name);
    if (tmpl_raise(s, v) < 0)
        return -1;
    if (v->k == V_ANY)
        return 0;
    if (k == 2)
        return filter_tojson(s, v, off);
    if (k == 4 && v->k == V_JSON && json_is_integer(v->j))
        return 0;
    if (tmpl_val_to_cstr(s, v, &str) < 0)
        return -1;
    json_t *j = NULL;
    if (k == 4) {
        long long i = 0;
        if (!to_int(v, str, &i))
            i = n == 1 && args[0].v.k == V_JSON && json_is_integer(args[0].v.j)
                    ? json_integer_value(args[0].v.j)
                    : 0;
        j = json_integer(i);
    } else {
        j = json_string_nocheck(k == 3 ? str : text_filter(name, str));
    }
    free(str);
    tmpl_val_clear(v);
    return tmpl_val_json(s, v, j, off);
}

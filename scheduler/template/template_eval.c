/* template_eval: the expression grammar of the template subset, evaluated while parsed,
 * and the Airflow context it reads (names, attributes of context objects, functions).
 *
 *   expr    := or ['if' or ['else' expr]]
 *   or      := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | compare
 *   compare := math1 [('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not' 'in') math1]
 *   math1   := concat (('+' | '-') concat)*
 *   concat  := math2 ('~' math2)*
 *   math2   := filtered (('*' | '/' | '//' | '%') filtered)*
 *   filtered:= unary ('|' NAME ['(' args ')'] | 'is' ['not'] NAME)*
 *   unary   := '-' unary | postfix
 *   postfix := primary ('.' NAME | '[' expr ']' | '(' args ')')*
 *   primary := NAME | STRING | NUMBER | '(' expr ')' | '[' [expr (',' expr)*] ']'
 *
 * Jinja's precedence. `and`, `or` and the inline `if` evaluate lazily, as Python does: the
 * operand not needed is read in skip mode. The inline if's first operand comes before its
 * condition, so it is read in skip mode first and again when the condition holds (only when
 * the template has an `if` at all).
 *
 * Invariant: every function leaves *v a valid value (possibly V_ANY) even on error, so the
 * caller can always tmpl_val_clear it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

static int unary(struct tmpl_state *s, struct tmpl_val *v);

static void
set_any(struct tmpl_val *v)
{
    tmpl_val_clear(v);
}

static int
time_val(struct tmpl_val *v, time_t t)
{
    memset(v, 0, sizeof(*v));
    v->k = V_TIME;
    v->t = t;
    return 0;
}

static int
obj_val(struct tmpl_val *v, enum tmpl_vk k, int id)
{
    memset(v, 0, sizeof(*v));
    v->k = k;
    v->id = id;
    return 0;
}

static int
str_val(struct tmpl_state *s, struct tmpl_val *v, const char *str, size_t off)
{
    return tmpl_val_json(s, v, json_string_nocheck(str ? str : ""), off);
}

/* A string of the context (ids): any when checking, as any id can be used. */
static int
ctx_str(struct tmpl_state *s, struct tmpl_val *v, const char *str, size_t off)
{
    if (s->ctx == NULL)
        return obj_val(v, V_ANY, 0);
    return str_val(s, v, str, off);
}

static int
time_str(struct tmpl_state *s, struct tmpl_val *v, enum tmpl_time_fmt f, size_t off)
{
    char buf[TMPL_TIME_BUF];

    tmpl_fmt_time(s->ctx ? s->ctx->logical_date : 0, f, buf);
    return str_val(s, v, buf, off);
}

/* A time of the context that may be None (0), or any when checking. */
static int
opt_time(struct tmpl_state *s, struct tmpl_val *v, time_t t, size_t off)
{
    if (s->ctx == NULL)
        return obj_val(v, V_ANY, 0);
    return t ? time_val(v, t) : tmpl_val_json(s, v, json_null(), off);
}

/* exception_html: text HTML-escaped, each newline a <br> (Airflow's default mail body). */
static int
html_val(struct tmpl_state *s, struct tmpl_val *v, const char *text, size_t off)
{
    size_t n = 0;
    char *out = malloc(strlen(text) * 6 + 1);

    if (out == NULL)
        return tmpl_fail(s, off, "out of memory");
    for (const char *p = text; *p; p++) {
        const char *rep = *p == '<'    ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '&'  ? "&amp;"
                          : *p == '"'  ? "&quot;"
                          : *p == '\n' ? "<br>"
                                       : NULL;
        if (rep == NULL)
            out[n++] = *p;
        for (; rep && *rep; rep++)
            out[n++] = *rep;
    }
    out[n] = '\0';
    int rc = str_val(s, v, out, off);
    free(out);
    return rc;
}

/* exception, exception_html, reason: a callback's names (template.h); 1 when name is none. */
static int
callback_name(struct tmpl_state *s, const char *name, size_t off, struct tmpl_val *v)
{
    const struct tmpl_ctx *c = s->ctx;
    bool html = strcmp(name, "exception_html") == 0;
    const char *text;

    if (!html && strcmp(name, "exception") != 0 && strcmp(name, "reason") != 0)
        return 1;
    if (c == NULL)
        return obj_val(v, V_ANY, 0);
    if (!c->callback)
        return tmpl_fail(s, off, "'%s' is only known in a callback's arguments", name);
    text = name[0] == 'r' ? c->reason : c->exception;
    if (text == NULL)
        return tmpl_val_json(s, v, json_null(), off);
    return html ? html_val(s, v, text, off) : str_val(s, v, text, off);
}

/* The top-level names added to the first ones: 1 when name is none of them. */
#define IS(o, n) (id == (o) && strcmp(name, (n)) == 0)

static int
ctx_name(struct tmpl_state *s, const char *name, size_t off, struct tmpl_val *v)
{
    const struct tmpl_ctx *c = s->ctx;
    char buf[TMPL_TIME_BUF];

    if (strcmp(name, "prev_ds") == 0 || strcmp(name, "prev_ds_nodash") == 0) {
        if (c == NULL || c->prev_logical_date == 0)
            return opt_time(s, v, 0, off);
        tmpl_fmt_time(c->prev_logical_date, name[7] ? TMPL_DS_NODASH : TMPL_DS, buf);
        return str_val(s, v, buf, off);
    }
    if (strcmp(name, "prev_data_interval_start_success") == 0)
        return opt_time(s, v, c ? c->prev_di_start_success : 0, off);
    if (strcmp(name, "prev_data_interval_end_success") == 0)
        return opt_time(s, v, c ? c->prev_di_end_success : 0, off);
    if (strcmp(name, "prev_start_date_success") == 0)
        return opt_time(s, v, c ? c->prev_start_date_success : 0, off);
    if (strcmp(name, "start_date") == 0)
        return opt_time(s, v, c ? c->start_date : 0, off);
    if (strcmp(name, "task_instance_key_str") == 0) {
        if (c == NULL)
            return obj_val(v, V_ANY, 0);
        tmpl_fmt_time(c->logical_date, TMPL_DS_NODASH, buf);
        char *key = NULL;
        if (asprintf(&key, "%s__%s__%s", c->dag_id ? c->dag_id : "", c->task_id ? c->task_id : "",
                     buf) < 0)
            return tmpl_fail(s, off, "out of memory");
        int rc = str_val(s, v, key, off);
        free(key);
        return rc;
    }
    return callback_name(s, name, off, v);
}

/* Attributes of dag_run, ti and task beyond the ids: 1 when name is none of them. */
static int
ctx_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    const struct tmpl_ctx *c = s->ctx;
    int id = v->id;

    if (IS(O_DAG_RUN, "run_type"))
        return ctx_str(s, v, c && c->run_type ? c->run_type : "manual", off);
    if (IS(O_DAG_RUN, "start_date"))
        return opt_time(s, v, c ? c->start_date : 0, off);
    if (IS(O_TI, "hostname"))
        return ctx_str(s, v, c && c->hostname ? c->hostname : "", off);
    if (IS(O_TI, "map_index"))
        return tmpl_val_json(s, v, json_integer(c && c->mapped ? c->map_index : -1), off);
    if (IS(O_TI, "max_tries"))
        return c ? tmpl_val_json(s, v, json_integer(c->max_tries), off) : obj_val(v, V_ANY, 0);
    if (IS(O_TI, "start_date"))
        return opt_time(s, v, c ? c->ti_start_date : 0, off);
    if (IS(O_TI, "state"))
        return ctx_str(s, v, c && c->ti_state ? c->ti_state : "running", off);
    if (IS(O_TI, "log_url"))
        return c && c->log_url == NULL ? tmpl_val_json(s, v, json_null(), off)
                                       : ctx_str(s, v, c ? c->log_url : "", off);
    if (IS(O_TASK, "owner"))
        return ctx_str(s, v, c && c->owner ? c->owner : "airflow", off);
    if (IS(O_TASK, "retries"))
        return c ? tmpl_val_json(s, v, json_integer(c->retries), off) : obj_val(v, V_ANY, 0);
    return 1;
}

/* loop.index, .index0, .revindex, .revindex0, .first, .last, .length. */
static int
loop_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    static const char *const names[] = {"index", "index0", "revindex", "revindex0",
                                        "first", "last",   "length"};
    long long i = v->loop_i, n = v->loop_n;
    size_t k = 0;

    while (k < 7 && strcmp(names[k], name) != 0)
        k++;
    if (k == 7)
        return tmpl_fail(s, off, "unknown attribute '%s' of loop", name);
    if (n < 0)
        return obj_val(v, V_ANY, 0);
    long long r[] = {i + 1, i, n - i, n - i - 1, 0, 0, n};
    if (k == 4 || k == 5)
        return tmpl_val_json(s, v, json_boolean(k == 4 ? i == 0 : i == n - 1), off);
    return tmpl_val_json(s, v, json_integer(r[k]), off);
}

/* triggering_asset_events: the run's events by URI ({} for a run no asset triggered). */
static int
asset_events(struct tmpl_state *s, struct tmpl_val *v, size_t off)
{
    const char *text = s->ctx ? s->ctx->asset_events_json : NULL;
    json_t *j;

    if (s->ctx == NULL)
        return obj_val(v, V_ANY, 0);
    if ((j = text ? json_loads(text, 0, NULL) : json_object()) == NULL)
        return tmpl_fail(s, off, "triggering_asset_events: not valid JSON");
    return tmpl_val_json(s, v, j, off);
}

/* A top-level name. */
static int
name_val(struct tmpl_state *s, const char *name, size_t off, struct tmpl_val *v)
{
    static const char *const objs[] = {"dag",    "task", "ti",      "task_instance",
                                       "macros", "var",  "dag_run", "conn"};
    static const int obj_ids[] = {O_DAG, O_TASK, O_TI, O_TI, O_MACROS, O_VAR, O_DAG_RUN, O_CONN};
    static const char *const strs[] = {"ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz"};
    static const enum tmpl_time_fmt fmts[] = {TMPL_DS, TMPL_DS_NODASH, TMPL_TS, TMPL_TS_NODASH,
                                              TMPL_TS_NODASH_TZ};
    const struct tmpl_ctx *c = s->ctx;

    for (size_t i = s->nlocals; i-- > 0;)
        if (strcmp(s->locals[i].name, name) == 0)
            return TMPL_SKIPPING(s) && c != NULL ? obj_val(v, V_ANY, 0)
                                                 : tmpl_val_copy(s, &s->locals[i].v, v);
    if (TMPL_SKIPPING(s) && c != NULL)
        return obj_val(v, V_ANY, 0);
    if (strcmp(name, "range") == 0)
        return obj_val(v, V_FN, F_RANGE);
    if (ctx_name(s, name, off, v) != 1)
        return s->failed ? -1 : 0;
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
        if (strcmp(name, objs[i]) == 0)
            return obj_val(v, V_OBJ, obj_ids[i]);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strcmp(name, strs[i]) == 0)
            return time_str(s, v, fmts[i], off);
    if (strcmp(name, "logical_date") == 0 || strcmp(name, "execution_date") == 0)
        return time_val(v, c ? c->logical_date : 0);
    if (strcmp(name, "data_interval_start") == 0)
        return time_val(v, c ? c->data_interval_start : 0);
    if (strcmp(name, "data_interval_end") == 0)
        return time_val(v, c ? c->data_interval_end : 0);
    if (strcmp(name, "run_id") == 0)
        return ctx_str(s, v, c ? c->run_id : "", off);
    if (strcmp(name, "params") == 0) {
        tmpl_val_json(s, v, json_incref(s->params), off);
        v->params = true;
        return 0;
    }
    if (strcmp(name, "triggering_asset_events") == 0 ||
        strcmp(name, "triggering_dataset_events") == 0)
        return asset_events(s, v, off);
    if (strcmp(name, "None") == 0 || strcmp(name, "none") == 0)
        return tmpl_val_json(s, v, json_null(), off);
    if (strcmp(name, "True") == 0 || strcmp(name, "true") == 0)
        return tmpl_val_json(s, v, json_true(), off);
    if (strcmp(name, "False") == 0 || strcmp(name, "false") == 0)
        return tmpl_val_json(s, v, json_false(), off);
    return tmpl_fail(s, off, "unknown name '%s' in template", name);
}

static const char *const obj_names[] = {"dag",  "task",      "ti",       "macros",
                                        "var",  "var.value", "var.json", "dag_run",
                                        "conn", "conn.<id>", "loop",     "macros.datetime"};

/* A variable (var.value.x or var.json.x); missing with no default is an error. */
static int
var_val(struct tmpl_state *s, int obj, const char *key, size_t off, struct tmpl_val *dflt,
        struct tmpl_val *v)
{
    char *text = NULL;
    struct err ce = {0};
    json_t *j;

    if (s->ctx == NULL)
        return 0; /* checking: any */
    if (s->ctx->var_get != NULL && s->ctx->var_get(s->ctx->arg, key, &text, &ce) < 0)
        return tmpl_fail(s, off, "variable '%s': %s", key, ce.msg);
    if (text == NULL && dflt != NULL)
        return *v = *dflt, memset(dflt, 0, sizeof(*dflt)), 0;
    if (text == NULL)
        return tmpl_fail(s, off, "variable '%s' is not set", key);
    if (obj == O_VAR_VALUE)
        j = json_string_nocheck(text);
    else if ((j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) == NULL) {
        free(text);
        return tmpl_fail(s, off, "variable '%s' is not JSON", key);
    }
    free(text);
    return tmpl_val_json(s, v, j, off);
}

/* An attribute of a context object. */
static int
obj_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    const struct tmpl_ctx *c = s->ctx;
    int id = v->id;

    if (IS(O_DAG, "dag_id") || IS(O_TI, "dag_id") || IS(O_DAG_RUN, "dag_id"))
        return ctx_str(s, v, c ? c->dag_id : "", off);
    if (IS(O_TASK, "task_id") || IS(O_TI, "task_id"))
        return ctx_str(s, v, c ? c->task_id : "", off);
    if (IS(O_TI, "run_id") || IS(O_DAG_RUN, "run_id"))
        return ctx_str(s, v, c ? c->run_id : "", off);
    if (IS(O_TI, "try_number"))
        return tmpl_val_json(s, v, json_integer(c ? c->try_number : 1), off);
    if (IS(O_TI, "xcom_pull"))
        return obj_val(v, V_FN, F_XCOM_PULL);
    if (IS(O_MACROS, "ds_add"))
        return obj_val(v, V_FN, F_DS_ADD);
    if (IS(O_MACROS, "ds_format"))
        return obj_val(v, V_FN, F_DS_FORMAT);
    if (IS(O_MACROS, "datetime"))
        return obj_val(v, V_OBJ, O_DATETIME);
    if (IS(O_MACROS, "timedelta"))
        return obj_val(v, V_FN, F_TIMEDELTA);
    if (IS(O_MACROS, "datetime_diff_for_humans"))
        return obj_val(v, V_FN, F_DIFF_HUMANS);
    if (IS(O_DATETIME, "utcnow") || IS(O_DATETIME, "now"))
        return obj_val(v, V_FN, F_UTCNOW);
    if (id == O_LOOP)
        return loop_attr(s, v, name, off);
    if (id <= O_TI || id == O_DAG_RUN) {
        int rc = ctx_attr(s, v, name, off);
        if (rc != 1)
            return rc;
    }
    if (IS(O_VAR, "value"))
        return obj_val(v, V_OBJ, O_VAR_VALUE);
    if (IS(O_VAR, "json"))
        return obj_val(v, V_OBJ, O_VAR_JSON);
    if (IS(O_DAG_RUN, "conf")) {
        if (c == NULL)
            return set_any(v), 0;
        return tmpl_val_json(s, v, json_incref(s->conf), off);
    }
    if (IS(O_DAG_RUN, "logical_date") || IS(O_DAG_RUN, "execution_date"))
        return time_val(v, c ? c->logical_date : 0);
    if (IS(O_DAG_RUN, "data_interval_start"))
        return time_val(v, c ? c->data_interval_start : 0);
    if (IS(O_DAG_RUN, "data_interval_end"))
        return time_val(v, c ? c->data_interval_end : 0);
    if (id == O_CONN || id == O_CONN_ITEM)
        return tmpl_conn_attr(s, v, name, off);
    if (id == O_VAR_VALUE || id == O_VAR_JSON) {
        if (strcmp(name, "get") == 0)
            return obj_val(v, V_FN, id == O_VAR_VALUE ? F_VAR_GET : F_VARJ_GET);
        set_any(v);
        return var_val(s, id, name, off, NULL, v);
    }
    return tmpl_fail(s, off, "unknown attribute '%s' of %s", name, obj_names[id]);
}

/* timedelta.days, .seconds (Python's normalized parts), .total_seconds(). */
static int
delta_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    long long t = (long long)v->t, days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);

    if (strcmp(name, "total_seconds") == 0)
        return v->k = V_FN, v->id = F_TOTAL_SECONDS, 0;
    if (strcmp(name, "days") == 0)
        return tmpl_val_json(s, v, json_integer(days), off);
    if (strcmp(name, "seconds") == 0)
        return tmpl_val_json(s, v, json_integer(t - days * 86400), off);
    if (strcmp(name, "microseconds") == 0)
        return tmpl_val_json(s, v, json_integer(0), off);
    return tmpl_fail(s, off, "unknown attribute '%s' of a timedelta", name);
}

static int
time_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    static const char *const parts[] = {"year", "month", "day", "hour", "minute", "second"};
    struct tm tm;

    if (v->k == V_DELTA)
        return delta_attr(s, v, name, off);
    if (strcmp(name, "strftime") == 0 || strcmp(name, "isoformat") == 0) {
        v->k = V_FN;
        v->id = name[0] == 's' ? F_STRFTIME : F_ISOFORMAT;
        return 0;
    }
    for (size_t i = 0; i < 6; i++)
        if (strcmp(name, parts[i]) == 0 && gmtime_r(&v->t, &tm) != NULL) {
            int f[] = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour,        tm.tm_min,     tm.tm_sec};
            return tmpl_val_json(s, v, json_integer(f[i]), off);
        }
    return tmpl_fail(s, off, "unknown attribute '%s' of a date", name);
}

/* v[key] for JSON v and a string or integer key; misses are undefined. */
static int
json_item(struct tmpl_state *s, struct tmpl_val *v, const json_t *key, size_t off)
{
    json_t *got = NULL;
    bool params = v->params;

    if (json_is_object(v->j) && json_is_string(key))
        got = json_object_getn(v->j, json_string_value(key), json_string_length(key));
    else if (json_is_array(v->j) && json_is_integer(key)) {
        json_int_t i = json_integer_value(key), n = (json_int_t)json_array_size(v->j);
        got = json_array_get(v->j, (size_t)(i < 0 ? i + n : i));
    }
    if (got != NULL && params && s->ctx == NULL) /* checking: the run may override it */
        return set_any(v), 0;
    if (got != NULL) {
        json_incref(got);
        tmpl_val_clear(v);
        return tmpl_val_json(s, v, got, off);
    }
    char what[80];
    if (json_is_string(key))
        snprintf(what, sizeof(what), "'%.60s'", json_string_value(key));
    else if (json_is_integer(key))
        snprintf(what, sizeof(what), "%lld", (long long)json_integer_value(key));
    else
        snprintf(what, sizeof(what), "of this type");
    tmpl_val_clear(v);
    if (params)
        return tmpl_val_undef(s, v, off, "unknown param %s", what);
    return tmpl_val_undef(s, v, off, "key %s not found", what);
}

/* v.name (Jinja: attribute, else item). */
static int
get_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    switch (v->k) {
    case V_ANY:
        return 0;
    case V_UNDEF:
    case V_FN:
        if (tmpl_raise(s, v) < 0)
            return -1;
        return tmpl_fail(s, off, "a function has no attribute '%s'", name);
    case V_OBJ:
        return obj_attr(s, v, name, off);
    case V_TIME:
    case V_DELTA:
        return time_attr(s, v, name, off);
    case V_JSON:
        break;
    }
    if (TMPL_SKIPPING(s))
        return set_any(v), 0;
    if (json_is_object(v->j) && strcmp(name, "get") == 0 && !v->params) {
        v->k = V_FN;
        v->id = F_GET;
        return 0;
    }
    if (json_is_object(v->j) && !v->params) { /* methods win over keys, as in Jinja */
        static const char *const methods[] = {"items", "keys", "values"};
        for (int i = 0; i < 3; i++)
            if (strcmp(name, methods[i]) == 0)
                return v->k = V_FN, v->id = F_ITEMS + i, 0;
    }
    json_t *key = json_string_nocheck(name);
    int rc = key ? json_item(s, v, key, off) : tmpl_fail(s, off, "out of memory");
    json_decref(key);
    return rc;
}

/* v[key]. */
static int
get_item(struct tmpl_state *s, struct tmpl_val *v, struct tmpl_val *key, size_t off)
{
    if (tmpl_raise(s, v) < 0 || tmpl_raise(s, key) < 0)
        return -1;
    if (v->k == V_ANY || TMPL_SKIPPING(s))
        return set_any(v), 0;
    if (key->k == V_ANY) {
        if (v->k == V_JSON || v->k == V_OBJ)
            return set_any(v), 0;
    } else if (key->k == V_JSON && json_is_string(key->j) && v->k == V_OBJ) {
        return get_attr(s, v, json_string_value(key->j), off);
    } else if (key->k == V_JSON && v->k == V_JSON) {
        return json_item(s, v, key->j, off);
    }
    return tmpl_fail(s, off, "this value cannot be subscripted with that key");
}

/* Arguments of a call up to ')': positional then keyword. */
static int
parse_args(struct tmpl_state *s, struct tmpl_arg *args, size_t *n)
{
    *n = 0;
    if (tmpl_next(s) < 0) /* past '(' */
        return -1;
    while (s->tok.k != T_RPAREN) {
        if (*n == TMPL_MAX_ARGS)
            return tmpl_fail(s, s->tok.off, "too many arguments");
        struct tmpl_arg *a = &args[(*n)++];
        a->off = s->tok.off;
        if (s->tok.k == T_NAME && tmpl_peek_assign(s)) {
            a->name = s->tok.str;
            s->tok.str = NULL;
            if (tmpl_next(s) < 0 || tmpl_next(s) < 0)
                return -1;
        } else if (*n > 1 && args[*n - 2].name != NULL) {
            return tmpl_fail(s, a->off, "positional argument after a keyword argument");
        }
        if (tmpl_expr(s, &a->v) < 0)
            return -1;
        if (s->tok.k == T_COMMA) {
            if (tmpl_next(s) < 0)
                return -1;
        } else if (s->tok.k != T_RPAREN) {
            return tmpl_fail(s, s->tok.off, "expected ',' or ')' here");
        }
    }
    return tmpl_next(s);
}

static void
free_args(struct tmpl_arg *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(args[i].name);
        tmpl_val_clear(&args[i].v);
    }
}

static int tcall(struct tmpl_state *s, struct tmpl_val *fn, struct tmpl_arg *args, size_t n,
                 size_t off);

static int
postfix(struct tmpl_state *s, struct tmpl_val *v)
{
    while (!s->failed) {
        size_t off = s->tok.off;
        if (s->tok.k == T_DOT) {
            if (tmpl_next(s) < 0)
                return -1;
            if (s->tok.k != T_NAME)
                return tmpl_fail(s, s->tok.off, "expected a name after '.'");
            off = s->tok.off;
            char *name = s->tok.str;
            s->tok.str = NULL;
            int rc = tmpl_next(s) < 0 ? -1 : get_attr(s, v, name, off);
            free(name);
            if (rc < 0)
                return -1;
        } else if (s->tok.k == T_LBRACK) {
            struct tmpl_val key = {.k = V_ANY};
            int rc = tmpl_next(s) < 0 || tmpl_expr(s, &key) < 0 ? -1 : 0;
            if (rc == 0 && s->tok.k != T_RBRACK)
                rc = tmpl_fail(s, s->tok.off, "expected ']' here");
            if (rc == 0)
                rc = tmpl_next(s) < 0 ? -1 : get_item(s, v, &key, off);
            tmpl_val_clear(&key);
            if (rc < 0)
                return -1;
        } else if (s->tok.k == T_LPAREN) {
            struct tmpl_arg args[TMPL_MAX_ARGS] = {{0}};
            size_t n = 0;
            int rc = parse_args(s, args, &n) < 0 ? -1 : tcall(s, v, args, n, off);
            free_args(args, n);
            if (rc < 0)
                return -1;
        } else {
            return 0;
        }
    }
    return -1;
}

static int
list_literal(struct tmpl_state *s, struct tmpl_val *v)
{
    bool any = false;
    size_t off = s->tok.off;

    if (tmpl_val_json(s, v, json_array(), off) < 0 || tmpl_next(s) < 0)
        return -1;
    while (s->tok.k != T_RBRACK) {
        struct tmpl_val it = {.k = V_ANY};
        int rc = tmpl_expr(s, &it) < 0 || tmpl_raise(s, &it) < 0 ? -1 : 0;
        if (rc == 0 && it.k == V_JSON)
            json_array_append(v->j, it.j);
        else if (rc == 0 && it.k == V_ANY)
            any = true;
        else if (rc == 0)
            rc = tmpl_fail(s, off, "lists may only hold plain values");
        tmpl_val_clear(&it);
        if (rc < 0)
            return -1;
        if (s->tok.k == T_COMMA) {
            if (tmpl_next(s) < 0)
                return -1;
        } else if (s->tok.k != T_RBRACK) {
            return tmpl_fail(s, s->tok.off, "expected ',' or ']' here");
        }
    }
    if (any)
        set_any(v);
    return tmpl_next(s);
}

/* v (a JSON string) followed by p[0..n). */
static int
append_str(struct tmpl_state *s, struct tmpl_val *v, const char *p, size_t n, size_t off)
{
    size_t have = json_string_length(v->j);
    char *buf = malloc(have + n + 1);

    if (buf == NULL)
        return tmpl_fail(s, off, "out of memory");
    memcpy(buf, json_string_value(v->j), have);
    memcpy(buf + have, p, n);
    int rc = json_string_setn_nocheck(v->j, buf, have + n);
    free(buf);
    return rc < 0 ? tmpl_fail(s, off, "out of memory") : 0;
}

static int
primary(struct tmpl_state *s, struct tmpl_val *v)
{
    struct tmpl_tok *t = &s->tok;
    size_t off = t->off;
    int rc;

    switch (t->k) {
    case T_NAME:
        rc = name_val(s, t->str, off, v);
        break;
    case T_STR: /* adjacent literals are one string, as in Jinja and Python */
        rc = tmpl_val_json(s, v, json_stringn_nocheck(t->str, t->slen), off);
        while (rc == 0 && (rc = tmpl_next(s)) == 0 && t->k == T_STR)
            rc = append_str(s, v, t->str, t->slen, off);
        return rc < 0 ? -1 : postfix(s, v);
    case T_INT:
        rc = tmpl_val_json(s, v, json_integer(t->i), off);
        break;
    case T_REAL:
        rc = tmpl_val_json(s, v, json_real(t->d), off);
        break;
    case T_LPAREN:
        if (tmpl_next(s) < 0 || tmpl_expr(s, v) < 0)
            return -1;
        if (t->k != T_RPAREN)
            return tmpl_fail(s, t->off, "expected ')' here");
        rc = 0;
        break;
    case T_LBRACK:
        return list_literal(s, v) < 0 ? -1 : postfix(s, v);
    case T_END:
        return tmpl_fail(s, off, "expected an expression");
    default:
        return tmpl_fail(s, off, "unexpected '%.*s': expected an expression", 1, s->src + off);
    }
    if (rc < 0 || tmpl_next(s) < 0)
        return -1;
    return postfix(s, v);
}

static int
negated(struct tmpl_state *s, struct tmpl_val *v)
{
    size_t off = s->tok.off;

    if (s->tok.k != T_MINUS)
        return primary(s, v);
    if (tmpl_next(s) < 0 || unary(s, v) < 0 || tmpl_raise(s, v) < 0)
        return -1;
    if (v->k == V_ANY || TMPL_SKIPPING(s))
        return set_any(v), 0;
    if (v->k == V_DELTA)
        return v->t = -v->t, 0;
    /* a new value: v->j may be shared (params, a {% set %} variable) */
    if (v->k == V_JSON && json_is_integer(v->j) && json_integer_value(v->j) > LLONG_MIN) {
        json_t *j = json_integer(-json_integer_value(v->j));
        return tmpl_val_clear(v), tmpl_val_json(s, v, j, off);
    }
    if (v->k == V_JSON && json_is_real(v->j)) {
        json_t *j = json_real(-json_real_value(v->j));
        return tmpl_val_clear(v), tmpl_val_json(s, v, j, off);
    }
    return tmpl_fail(s, off, "'-' needs a number");
}

/* Every nesting of an expression passes here: the depth is bounded. */
static int
unary(struct tmpl_state *s, struct tmpl_val *v)
{
    int rc;

    if (s->depth >= TMPL_DEPTH_MAX)
        return tmpl_fail(s, s->tok.off, "expression nested more than %d levels deep",
                         TMPL_DEPTH_MAX);
    s->depth++;
    rc = negated(s, v);
    s->depth--;
    return rc;
}

/* `is [not] defined|undefined|none|number|string|mapping|sequence` (s->tok is "is"). */
static int
is_test(struct tmpl_state *s, struct tmpl_val *v)
{
    static const char *const tests[] = {"defined", "undefined", "none",    "number",
                                        "string",  "mapping",   "sequence"};
    bool neg = false, r = false;
    size_t k = 0, off;

    if (tmpl_next(s) < 0)
        return -1;
    if (s->tok.k == T_NAME && strcmp(s->tok.str, "not") == 0 && (neg = true) && tmpl_next(s) < 0)
        return -1;
    off = s->tok.off;
    while (s->tok.k == T_NAME && k < 7 && strcmp(tests[k], s->tok.str) != 0)
        k++;
    if (s->tok.k != T_NAME || k == 7)
        return tmpl_fail(s, off,
                         "unknown test after 'is' (supported: defined, undefined, none, "
                         "number, string, mapping, sequence)");
    if (tmpl_next(s) < 0)
        return -1;
    if (v->k == V_ANY || TMPL_SKIPPING(s))
        return set_any(v), 0;
    const json_t *j = v->k == V_JSON ? v->j : NULL;
    if (k < 2)
        r = (v->k == V_UNDEF) == (k == 1);
    else if (v->k == V_UNDEF)
        return tmpl_raise(s, v);
    else
        r = k == 2   ? json_is_null(j)
            : k == 3 ? json_is_number(j) || json_is_boolean(j)
            : k == 4 ? json_is_string(j)
            : k == 5 ? json_is_object(j)
                     : json_is_array(j) || json_is_string(j) || json_is_object(j);
    tmpl_val_clear(v);
    return tmpl_val_json(s, v, json_boolean(r != neg), off);
}

static int
filtered(struct tmpl_state *s, struct tmpl_val *v)
{
    if (unary(s, v) < 0)
        return -1;
    while (s->tok.k == T_PIPE || (s->tok.k == T_NAME && strcmp(s->tok.str, "is") == 0)) {
        if (s->tok.k == T_NAME) {
            if (is_test(s, v) < 0)
                return -1;
            continue;
        }
        struct tmpl_arg args[TMPL_MAX_ARGS] = {{0}};
        size_t n = 0;
        if (tmpl_next(s) < 0)
            return -1;
        if (s->tok.k != T_NAME)
            return tmpl_fail(s, s->tok.off, "expected a filter name after '|'");
        char *name = s->tok.str;
        size_t off = s->tok.off;
        s->tok.str = NULL;
        int rc = tmpl_next(s);
        if (rc == 0 && s->tok.k == T_LPAREN)
            rc = parse_args(s, args, &n);
        if (rc == 0 && TMPL_SKIPPING(s))
            set_any(v);
        if (rc == 0)
            rc = tmpl_filter(s, name, off, v, args, n);
        free_args(args, n);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Read the operand parse would read, in skip mode (checked, not evaluated). */
static int
skipped(struct tmpl_state *s, int (*parse)(struct tmpl_state *, struct tmpl_val *))
{
    struct tmpl_val v = {.k = V_ANY};
    int rc;

    s->skip++;
    rc = parse(s, &v);
    s->skip--;
    tmpl_val_clear(&v);
    return rc;
}

/* Binary operators of kinds ops (T_END-terminated) over operands read by parse. */
static int
binary(struct tmpl_state *s, struct tmpl_val *v, const enum tmpl_tk *ops,
       int (*parse)(struct tmpl_state *, struct tmpl_val *))
{
    if (parse(s, v) < 0)
        return -1;
    for (;;) {
        size_t k = 0, off = s->tok.off;
        while (ops[k] != T_END && ops[k] != s->tok.k)
            k++;
        if (ops[k] == T_END)
            return 0;
        struct tmpl_val b = {.k = V_ANY};
        int rc = tmpl_next(s) < 0 || parse(s, &b) < 0 ? -1 : tmpl_binop(s, ops[k], v, &b, off);
        tmpl_val_clear(&b);
        if (rc < 0)
            return -1;
    }
}

static int
math2(struct tmpl_state *s, struct tmpl_val *v)
{
    static const enum tmpl_tk ops[] = {T_STAR, T_SLASH, T_DSLASH, T_PERCENT, T_END};

    return binary(s, v, ops, filtered);
}

static int
concat(struct tmpl_state *s, struct tmpl_val *v)
{
    static const enum tmpl_tk ops[] = {T_TILDE, T_END};

    return binary(s, v, ops, math2);
}

static int
math1(struct tmpl_state *s, struct tmpl_val *v)
{
    static const enum tmpl_tk ops[] = {T_PLUS, T_MINUS, T_END};

    return binary(s, v, ops, concat);
}

/* The comparison operator at s->tok (T_NAME for `in`, T_TILDE for `not in`), or T_END. */
static enum tmpl_tk
compare_op(const struct tmpl_state *s)
{
    if (s->tok.k >= T_EQ && s->tok.k <= T_GE)
        return s->tok.k;
    if (s->tok.k == T_NAME && strcmp(s->tok.str, "in") == 0)
        return T_NAME;
    if (s->tok.k == T_NAME && strcmp(s->tok.str, "not") == 0 && tmpl_peek_word(s, "in"))
        return T_TILDE;
    return T_END;
}

static int
compare(struct tmpl_state *s, struct tmpl_val *v)
{
    enum tmpl_tk op;
    size_t off;

    if (math1(s, v) < 0 || (op = compare_op(s)) == T_END)
        return s->failed ? -1 : 0;
    off = s->tok.off;
    if (op == T_TILDE && tmpl_next(s) < 0)
        return -1;
    struct tmpl_val b = {.k = V_ANY};
    int rc = tmpl_next(s) < 0 || math1(s, &b) < 0 ? -1 : 0;
    if (rc == 0)
        rc = tmpl_binop(s, op == T_TILDE ? T_NAME : (int)op, v, &b, off);
    if (rc == 0 && op == T_TILDE && v->k == V_JSON) {
        bool t = json_is_true(v->j);
        tmpl_val_clear(v);
        rc = tmpl_val_json(s, v, json_boolean(!t), off);
    }
    tmpl_val_clear(&b);
    if (rc == 0 && compare_op(s) != T_END)
        rc = tmpl_fail(s, s->tok.off, "chained comparisons are not supported (use 'and')");
    return rc;
}

/* Whether the current token is the keyword w. */
static bool
keyword(const struct tmpl_state *s, const char *w)
{
    return s->tok.k == T_NAME && strcmp(s->tok.str, w) == 0;
}

static int
not_expr(struct tmpl_state *s, struct tmpl_val *v)
{
    size_t off = s->tok.off;
    int rc;

    if (!keyword(s, "not"))
        return compare(s, v);
    if (s->depth >= TMPL_DEPTH_MAX)
        return tmpl_fail(s, off, "expression nested more than %d levels deep", TMPL_DEPTH_MAX);
    s->depth++;
    rc = tmpl_next(s) < 0 || not_expr(s, v) < 0 || tmpl_raise(s, v) < 0 ? -1 : 0;
    s->depth--;
    if (rc < 0 || v->k == V_ANY || TMPL_SKIPPING(s))
        return rc < 0 ? -1 : (set_any(v), 0);
    bool t = tmpl_truthy(v);
    tmpl_val_clear(v);
    return tmpl_val_json(s, v, json_boolean(!t), off);
}

/* `and` (is_or false) or `or`: Python's, returning an operand, the second read lazily. */
static int
logical(struct tmpl_state *s, struct tmpl_val *v, bool is_or,
        int (*parse)(struct tmpl_state *, struct tmpl_val *))
{
    if (parse(s, v) < 0)
        return -1;
    while (keyword(s, is_or ? "or" : "and")) {
        if (tmpl_raise(s, v) < 0 || tmpl_next(s) < 0)
            return -1;
        if (v->k == V_ANY || tmpl_truthy(v) == is_or) { /* the result is v */
            if (skipped(s, parse) < 0)
                return -1;
            continue;
        }
        tmpl_val_clear(v);
        if (parse(s, v) < 0)
            return -1;
    }
    return 0;
}

static int
and_expr(struct tmpl_state *s, struct tmpl_val *v)
{
    return logical(s, v, false, not_expr);
}

/* or := and ('or' and)*: an expression without the inline if. */
int
tmpl_or_expr(struct tmpl_state *s, struct tmpl_val *v)
{
    return logical(s, v, true, and_expr);
}

/* Read again the operand that starts at offset start, then go back to where we were. */
static int
reread(struct tmpl_state *s, size_t start, struct tmpl_val *v)
{
    size_t after = s->tok.off;

    s->pos = start;
    if (tmpl_next(s) < 0 || tmpl_or_expr(s, v) < 0)
        return -1;
    s->pos = after;
    return tmpl_next(s);
}

/* `a if cond else b` after a (read in skip mode from start): cond and b, then a if needed.
 * When cond is only known when a try starts, or in skip mode, b is only checked and a is not
 * read again: the result is "any". */
static int
inline_if(struct tmpl_state *s, size_t start, struct tmpl_val *v)
{
    struct tmpl_val c = {.k = V_ANY};
    size_t off = s->tok.off;
    bool skip = TMPL_SKIPPING(s);

    tmpl_val_clear(v);
    if (tmpl_next(s) < 0 || tmpl_or_expr(s, &c) < 0 || tmpl_raise(s, &c) < 0)
        return tmpl_val_clear(&c), -1;
    bool any = c.k == V_ANY || skip, take = !any && tmpl_truthy(&c);
    tmpl_val_clear(&c);
    if (keyword(s, "else")) {
        if (tmpl_next(s) < 0)
            return -1;
        if (take || any ? skipped(s, tmpl_expr) < 0 : tmpl_expr(s, v) < 0)
            return -1;
    } else if (!take && !any && tmpl_val_json(s, v, json_string(""), off) < 0) {
        return -1; /* Jinja: an undefined that prints as "" */
    }
    if (take) {
        tmpl_val_clear(v);
        if (reread(s, start, v) < 0)
            return -1;
    }
    if (any)
        set_any(v);
    return 0;
}

/* expr := or ['if' or ['else' expr]]: the whole expression at s->tok into *v. */
int
tmpl_expr(struct tmpl_state *s, struct tmpl_val *v)
{
    size_t start = s->tok.off;
    int rc;

    if (s->depth >= TMPL_DEPTH_MAX)
        return tmpl_fail(s, start, "expression nested more than %d levels deep", TMPL_DEPTH_MAX);
    if (!s->has_if)
        return tmpl_or_expr(s, v);
    s->depth++;
    if (TMPL_SKIPPING(s)) {
        rc = tmpl_or_expr(s, v);
        if (rc == 0 && keyword(s, "if"))
            rc = inline_if(s, start, v);
        s->depth--;
        return rc;
    }
    rc = skipped(s, tmpl_or_expr);
    if (rc == 0 && keyword(s, "if"))
        rc = inline_if(s, start, v);
    else if (rc == 0)
        rc = reread(s, start, v);
    s->depth--;
    return rc;
}
/* ---- calls ---- */

static const char *const fn_names[] = {"xcom_pull",
                                       "ds_add",
                                       "ds_format",
                                       "strftime",
                                       "isoformat",
                                       "get",
                                       "get",
                                       "get",
                                       "datetime",
                                       "timedelta",
                                       "datetime_diff_for_humans",
                                       "utcnow",
                                       "range",
                                       "total_seconds"};

/* Give each argument its parameter: slot[i] is the value for names[i], or NULL. */
static int
bind(struct tmpl_state *s, int fn, const char *const *names, size_t nn, struct tmpl_arg *args,
     size_t n, struct tmpl_val **slot)
{
    for (size_t i = 0; i < nn; i++)
        slot[i] = NULL;
    for (size_t k = 0; k < n; k++) {
        struct tmpl_arg *a = &args[k];
        size_t p = k;
        if (a->name != NULL)
            for (p = 0; p < nn && strcmp(names[p], a->name) != 0; p++)
                ;
        if (p >= nn)
            return a->name
                       ? tmpl_fail(s, a->off, "%s: unexpected argument '%s'", fn_names[fn], a->name)
                       : tmpl_fail(s, a->off, "%s: too many arguments", fn_names[fn]);
        if (slot[p] != NULL)
            return tmpl_fail(s, a->off, "%s: argument '%s' given twice", fn_names[fn], names[p]);
        if (tmpl_raise(s, &a->v) < 0)
            return -1;
        slot[p] = &a->v;
    }
    return 0;
}

/* Where argument v came from (for error offsets). */
static size_t
arg_off(const struct tmpl_arg *args, size_t n, const struct tmpl_val *v, size_t dflt)
{
    for (size_t i = 0; i < n; i++)
        if (&args[i].v == v)
            return args[i].off;
    return dflt;
}

/* A required string argument: 1 when any (checking), 0 with *out, -1 on error. */
static int
arg_str(struct tmpl_state *s, int fn, const char *pname, const struct tmpl_val *v, size_t off,
        const char **out)
{
    if (v == NULL)
        return tmpl_fail(s, off, "%s: missing argument '%s'", fn_names[fn], pname);
    if (v->k == V_ANY)
        return 1;
    if (v->k != V_JSON || !json_is_string(v->j))
        return tmpl_fail(s, off, "%s: %s must be a string", fn_names[fn], pname);
    *out = json_string_value(v->j);
    return 0;
}

/* One XCom value through the context's callback (map_index: see tmpl_ctx.xcom_pull) as a new
 * JSON value (null when absent) in *j. */
static int
xcom_one(struct tmpl_state *s, const char *task, const char *key, int map_index, size_t off,
         json_t **j)
{
    char *text = NULL;
    struct err ce = {0};

    *j = NULL;
    if (s->ctx->xcom_pull(s->ctx->arg, task, key, map_index, &text, &ce) < 0) {
        if (map_index >= 0)
            return tmpl_fail(s, off, "xcom_pull(task_ids='%s', key='%s', map_indexes=%d): %s", task,
                             key, map_index, ce.msg);
        return tmpl_fail(s, off, "xcom_pull(task_ids='%s', key='%s'): %s", task, key, ce.msg);
    }
    if (text == NULL)
        return (*j = json_null()) ? 0 : tmpl_fail(s, off, "out of memory");
    *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(text);
    if (*j == NULL)
        return tmpl_fail(s, off, "xcom_pull: the XCom of task '%s' key '%s' is not JSON", task,
                         key);
    return 0;
}

/* map_indexes: an integer (one value) or a list of integers (the list of their values). */
static int
xcom_indexes(struct tmpl_state *s, const struct tmpl_val *a, size_t off, const char *task,
             const char *key, struct tmpl_val *out)
{
    json_t *j, *list;
    size_t i;
    json_t *m;

    if (a->k == V_ANY || s->ctx == NULL)
        return 0;
    if (a->k == V_JSON && json_is_integer(a->j)) {
        if (xcom_one(s, task, key, (int)json_integer_value(a->j), off, &j) < 0)
            return -1;
        return tmpl_val_json(s, out, j, off);
    }
    if (a->k != V_JSON || !json_is_array(a->j))
        return tmpl_fail(s, off, "xcom_pull: map_indexes must be an integer or a list of them");
    if ((list = json_array()) == NULL)
        return tmpl_fail(s, off, "out of memory");
    json_array_foreach(a->j, i, m)
    {
        if (!json_is_integer(m) ||
            xcom_one(s, task, key, (int)json_integer_value(m), off, &j) < 0) {
            json_decref(list);
            return s->failed
                       ? -1
                       : tmpl_fail(s, off, "xcom_pull: map_indexes[%zu] is not an integer", i);
        }
        json_array_append_new(list, j);
    }
    return tmpl_val_json(s, out, list, off);
}

static int
xcom_pull(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off, struct tmpl_val *out)
{
    static const char *const names[] = {"task_ids", "key", "dag_id", "include_prior_dates",
                                        "map_indexes"};
    struct tmpl_val *a[5];
    const char *task = s->ctx ? s->ctx->task_id : "", *key = "return_value";
    int any = 0;
    json_t *j;

    if (bind(s, F_XCOM_PULL, names, 5, args, n, a) < 0)
        return -1;
    for (size_t i = 2; i < 4; i++)
        if (a[i] != NULL)
            return tmpl_fail(s, arg_off(args, n, a[i], off),
                             "xcom_pull: argument '%s' is not supported", names[i]);
    if (a[0] != NULL && a[0]->k == V_JSON && json_is_array(a[0]->j))
        return tmpl_fail(s, arg_off(args, n, a[0], off), "task_ids lists are not supported");
    if (a[0] != NULL && !(a[0]->k == V_JSON && json_is_null(a[0]->j)))
        any |= arg_str(s, F_XCOM_PULL, "task_ids", a[0], arg_off(args, n, a[0], off), &task);
    if (a[1] != NULL)
        any |= arg_str(s, F_XCOM_PULL, "key", a[1], arg_off(args, n, a[1], off), &key);
    if (s->failed || any || s->ctx == NULL)
        return s->failed ? -1 : 0;
    if (s->ctx->xcom_pull == NULL)
        return tmpl_val_json(s, out, json_null(), off);
    if (a[4] != NULL && !(a[4]->k == V_JSON && json_is_null(a[4]->j)))
        return xcom_indexes(s, a[4], arg_off(args, n, a[4], off), task, key, out);
    if (xcom_one(s, task, key, TMPL_XCOM_DEFAULT, off, &j) < 0)
        return -1;
    return tmpl_val_json(s, out, j, off);
}

static int
ds_add(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off, struct tmpl_val *out)
{
    static const char *const names[] = {"ds", "days"};
    struct tmpl_val *a[2];
    const char *ds = NULL;
    char buf[TMPL_TIME_BUF];
    struct err ce = {0};

    if (bind(s, F_DS_ADD, names, 2, args, n, a) < 0)
        return -1;
    int any = arg_str(s, F_DS_ADD, "ds", a[0], arg_off(args, n, a[0], off), &ds);
    if (any < 0)
        return -1;
    if (a[1] == NULL)
        return tmpl_fail(s, off, "ds_add: missing argument 'days'");
    if (a[1]->k == V_ANY || any)
        return 0;
    if (a[1]->k != V_JSON || !json_is_number(a[1]->j) || json_is_boolean(a[1]->j))
        return tmpl_fail(s, arg_off(args, n, a[1], off), "ds_add: days must be a number");
    if (tmpl_ds_add(ds, json_number_value(a[1]->j), buf, &ce) < 0)
        return tmpl_fail(s, off, "%s", ce.msg);
    return str_val(s, out, buf, off);
}

static int
ds_format(struct tmpl_state *s, struct tmpl_arg *args, size_t n, size_t off, struct tmpl_val *out)
{
    static const char *const names[] = {"ds", "input_format", "output_format"};
    struct tmpl_val *a[3];
    const char *v[3] = {NULL, NULL, NULL};
    char *res = NULL;
    struct err ce = {0};
    int any = 0;

    if (bind(s, F_DS_FORMAT, names, 3, args, n, a) < 0)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if ((any |= arg_str(s, F_DS_FORMAT, names[i], a[i], arg_off(args, n, a[i], off), &v[i])) <
            0)
            return -1;
    if (any)
        return 0;
    if (tmpl_ds_format(v[0], v[1], v[2], &res, &ce) < 0)
        return tmpl_fail(s, off, "%s", ce.msg);
    int rc = str_val(s, out, res, off);
    free(res);
    return rc;
}

/* date.strftime(format) and date.isoformat() of the instant t. */
static int
date_method(struct tmpl_state *s, const struct tmpl_val *f, struct tmpl_arg *args, size_t n,
            size_t off, struct tmpl_val *out)
{
    int fn = f->id;
    time_t t = f->t;
    static const char *const names[] = {"format"};
    struct tmpl_val *a[1];
    const char *fmt = NULL;
    char *res = NULL, buf[TMPL_TIME_BUF];
    struct err ce = {0};

    if (bind(s, fn, names, fn == F_STRFTIME ? 1 : 0, args, n, a) < 0)
        return -1;
    if (fn == F_ISOFORMAT) {
        tmpl_fmt_time(t, TMPL_TS, buf);
        if (f->naive)
            buf[19] = '\0';
        return str_val(s, out, buf, off);
    }
    int any = arg_str(s, fn, "format", a[0], arg_off(args, n, a[0], off), &fmt);
    if (any != 0)
        return any < 0 ? -1 : 0;
    if (tmpl_strftime(t, fmt, &res, &ce) < 0)
        return tmpl_fail(s, off, "%s", ce.msg);
    int rc = str_val(s, out, res, off);
    free(res);
    return rc;
}

/* dict.get(key, default) and var.value.get / var.json.get(key, default_var). */
static int
getter(struct tmpl_state *s, struct tmpl_val *fn, struct tmpl_arg *args, size_t n, size_t off,
       struct tmpl_val *out)
{
    static const char *const names[] = {"key", "default"}, *const vnames[] = {"item",
                                                                              "default_var"};
    struct tmpl_val *a[2], none = {.k = V_JSON};
    const char *key = NULL;

    if (bind(s, fn->id, fn->id == F_GET ? names : vnames, 2, args, n, a) < 0)
        return -1;
    int any = arg_str(s, fn->id, "key", a[0], arg_off(args, n, a[0], off), &key);
    if (any != 0)
        return any < 0 ? -1 : 0;
    if (fn->id != F_GET) {
        if ((none.j = json_null()) == NULL)
            return tmpl_fail(s, off, "out of memory");
        int rc = var_val(s, fn->id == F_VAR_GET ? O_VAR_VALUE : O_VAR_JSON, key, off,
                         a[1] ? a[1] : &none, out);
        tmpl_val_clear(&none);
        return rc;
    }
    json_t *got = json_object_get(fn->j, key);
    if (got != NULL)
        return tmpl_val_json(s, out, json_incref(got), off);
    if (a[1] == NULL)
        return tmpl_val_json(s, out, json_null(), off);
    *out = *a[1];
    memset(a[1], 0, sizeof(*a[1]));
    return 0;
}

/* dict.items() / keys() / values() of the bound mapping, as lists in its order. */
static int
dict_view(struct tmpl_state *s, const struct tmpl_val *fn, size_t n, size_t off,
          struct tmpl_val *out)
{
    json_t *list = json_array(), *x;
    const char *k;

    if (n > 0) {
        json_decref(list);
        return tmpl_fail(s, off, "items/keys/values: take no arguments");
    }
    json_object_foreach(fn->j, k, x)
    {
        json_t *key = json_string(k);
        if (fn->id == F_ITEMS)
            json_array_append_new(list, json_pack("[o, O]", key, x));
        else
            json_array_append_new(list, fn->id == F_KEYS ? key : json_incref(x));
        if (fn->id == F_VALUES)
            json_decref(key);
    }
    return tmpl_val_json(s, out, list, off);
}

/* timedelta.total_seconds(): a float, as in Python. */
static int
total_seconds(struct tmpl_state *s, const struct tmpl_val *fn, size_t n, size_t off,
              struct tmpl_val *out)
{
    if (n > 0)
        return tmpl_fail(s, off, "total_seconds: takes no arguments");
    return tmpl_val_json(s, out, json_real((double)fn->t), off);
}

/* fn(args) into *fn. */
static int
tcall(struct tmpl_state *s, struct tmpl_val *fn, struct tmpl_arg *args, size_t n, size_t off)
{
    struct tmpl_val out = {.k = V_ANY};
    int rc;

    if (tmpl_raise(s, fn) < 0)
        return -1;
    if (fn->k == V_ANY || TMPL_SKIPPING(s))
        return set_any(fn), 0;
    if (fn->k == V_OBJ && fn->id == O_DATETIME)
        fn->k = V_FN, fn->id = F_DATETIME;
    if (fn->k != V_FN)
        return tmpl_fail(s, off, "only the known functions can be called");
    switch (fn->id) {
    case F_XCOM_PULL:
        rc = xcom_pull(s, args, n, off, &out);
        break;
    case F_DS_ADD:
        rc = ds_add(s, args, n, off, &out);
        break;
    case F_DS_FORMAT:
        rc = ds_format(s, args, n, off, &out);
        break;
    case F_STRFTIME:
    case F_ISOFORMAT:
        rc = date_method(s, fn, args, n, off, &out);
        break;
    case F_GET:
    case F_VAR_GET:
    case F_VARJ_GET:
        rc = getter(s, fn, args, n, off, &out);
        break;
    case F_ITEMS:
    case F_KEYS:
    case F_VALUES:
        rc = dict_view(s, fn, n, off, &out);
        break;
    default:
        rc = fn->id == F_TOTAL_SECONDS ? total_seconds(s, fn, n, off, &out)
                                       : tmpl_macro_call(s, fn->id, args, n, off, &out);
        break;
    }
    tmpl_val_clear(fn);
    *fn = out;
    return rc;
}

/* template_eval: the expression grammar of the template subset, evaluated while parsed,
 * and the Airflow context it reads (names, attributes of context objects, functions).
 *
 *   expr    := filtered ('~' filtered)*
 *   filtered:= unary ('|' NAME ['(' args ')'])*
 *   unary   := '-' unary | postfix
 *   postfix := primary ('.' NAME | '[' expr ']' | '(' args ')')*
 *   primary := NAME | STRING | NUMBER | '(' expr ')' | '[' [expr (',' expr)*] ']'
 *
 * Invariant: every function leaves *v a valid value (possibly V_ANY) even on error, so the
 * caller can always tval_free it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

static int unary(struct tst *s, struct tval *v);

static void
set_any(struct tval *v)
{
    tval_free(v);
}

static int
time_val(struct tval *v, time_t t)
{
    memset(v, 0, sizeof(*v));
    v->k = V_TIME;
    v->t = t;
    return 0;
}

static int
obj_val(struct tval *v, enum vk k, int id)
{
    memset(v, 0, sizeof(*v));
    v->k = k;
    v->id = id;
    return 0;
}

static int
str_val(struct tst *s, struct tval *v, const char *str, size_t off)
{
    return tval_json(s, v, json_string_nocheck(str ? str : ""), off);
}

/* A string of the context (ids): any when checking, as any id can be used. */
static int
ctx_str(struct tst *s, struct tval *v, const char *str, size_t off)
{
    if (s->ctx == NULL)
        return obj_val(v, V_ANY, 0);
    return str_val(s, v, str, off);
}

static int
time_str(struct tst *s, struct tval *v, enum tmpl_time_fmt f, size_t off)
{
    char buf[TMPL_TIME_BUF];

    tmpl_fmt_time(s->ctx ? s->ctx->logical_date : 0, f, buf);
    return str_val(s, v, buf, off);
}

/* A top-level name. */
static int
name_val(struct tst *s, const char *name, size_t off, struct tval *v)
{
    static const char *const objs[] = {"dag",    "task", "ti",     "task_instance",
                                       "macros", "var",  "dag_run"};
    static const int obj_ids[] = {O_DAG, O_TASK, O_TI, O_TI, O_MACROS, O_VAR, O_DAG_RUN};
    static const char *const strs[] = {"ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz"};
    static const enum tmpl_time_fmt fmts[] = {TMPL_DS, TMPL_DS_NODASH, TMPL_TS, TMPL_TS_NODASH,
                                              TMPL_TS_NODASH_TZ};
    const struct tmpl_ctx *c = s->ctx;

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
        tval_json(s, v, json_incref(s->params), off);
        v->params = true;
        return 0;
    }
    if (strcmp(name, "None") == 0 || strcmp(name, "none") == 0)
        return tval_json(s, v, json_null(), off);
    if (strcmp(name, "True") == 0 || strcmp(name, "true") == 0)
        return tval_json(s, v, json_true(), off);
    if (strcmp(name, "False") == 0 || strcmp(name, "false") == 0)
        return tval_json(s, v, json_false(), off);
    return tfail(s, off, "unknown name '%s' in template", name);
}

static const char *const obj_names[] = {"dag", "task",      "ti",       "macros",
                                        "var", "var.value", "var.json", "dag_run"};

/* A variable (var.value.x or var.json.x); missing with no default is an error. */
static int
var_val(struct tst *s, int obj, const char *key, size_t off, struct tval *dflt, struct tval *v)
{
    char *text = NULL;
    struct err ce = {0};
    json_t *j;

    if (s->ctx == NULL)
        return 0; /* checking: any */
    if (s->ctx->var_get != NULL && s->ctx->var_get(s->ctx->arg, key, &text, &ce) < 0)
        return tfail(s, off, "variable '%s': %s", key, ce.msg);
    if (text == NULL && dflt != NULL)
        return *v = *dflt, memset(dflt, 0, sizeof(*dflt)), 0;
    if (text == NULL)
        return tfail(s, off, "variable '%s' is not set", key);
    if (obj == O_VAR_VALUE)
        j = json_string_nocheck(text);
    else if ((j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) == NULL) {
        free(text);
        return tfail(s, off, "variable '%s' is not JSON", key);
    }
    free(text);
    return tval_json(s, v, j, off);
}

/* An attribute of a context object. */
static int
obj_attr(struct tst *s, struct tval *v, const char *name, size_t off)
{
    const struct tmpl_ctx *c = s->ctx;
    int id = v->id;

#define IS(o, n) (id == (o) && strcmp(name, (n)) == 0)
    if (IS(O_DAG, "dag_id") || IS(O_TI, "dag_id") || IS(O_DAG_RUN, "dag_id"))
        return ctx_str(s, v, c ? c->dag_id : "", off);
    if (IS(O_TASK, "task_id") || IS(O_TI, "task_id"))
        return ctx_str(s, v, c ? c->task_id : "", off);
    if (IS(O_TI, "run_id") || IS(O_DAG_RUN, "run_id"))
        return ctx_str(s, v, c ? c->run_id : "", off);
    if (IS(O_TI, "try_number"))
        return tval_json(s, v, json_integer(c ? c->try_number : 1), off);
    if (IS(O_TI, "xcom_pull"))
        return obj_val(v, V_FN, F_XCOM_PULL);
    if (IS(O_MACROS, "ds_add"))
        return obj_val(v, V_FN, F_DS_ADD);
    if (IS(O_MACROS, "ds_format"))
        return obj_val(v, V_FN, F_DS_FORMAT);
    if (IS(O_VAR, "value"))
        return obj_val(v, V_OBJ, O_VAR_VALUE);
    if (IS(O_VAR, "json"))
        return obj_val(v, V_OBJ, O_VAR_JSON);
    if (IS(O_DAG_RUN, "conf")) {
        if (c == NULL)
            return set_any(v), 0;
        return tval_json(s, v, json_incref(s->conf), off);
    }
    if (IS(O_DAG_RUN, "logical_date") || IS(O_DAG_RUN, "execution_date"))
        return time_val(v, c ? c->logical_date : 0);
    if (IS(O_DAG_RUN, "data_interval_start"))
        return time_val(v, c ? c->data_interval_start : 0);
    if (IS(O_DAG_RUN, "data_interval_end"))
        return time_val(v, c ? c->data_interval_end : 0);
    if (id == O_VAR_VALUE || id == O_VAR_JSON) {
        if (strcmp(name, "get") == 0)
            return obj_val(v, V_FN, id == O_VAR_VALUE ? F_VAR_GET : F_VARJ_GET);
        set_any(v);
        return var_val(s, id, name, off, NULL, v);
    }
#undef IS
    return tfail(s, off, "unknown attribute '%s' of %s", name, obj_names[id]);
}

static int
time_attr(struct tst *s, struct tval *v, const char *name, size_t off)
{
    static const char *const parts[] = {"year", "month", "day", "hour", "minute", "second"};
    struct tm tm;

    if (strcmp(name, "strftime") == 0 || strcmp(name, "isoformat") == 0) {
        v->k = V_FN;
        v->id = name[0] == 's' ? F_STRFTIME : F_ISOFORMAT;
        return 0;
    }
    for (size_t i = 0; i < 6; i++)
        if (strcmp(name, parts[i]) == 0 && gmtime_r(&v->t, &tm) != NULL) {
            int f[] = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour,        tm.tm_min,     tm.tm_sec};
            return tval_json(s, v, json_integer(f[i]), off);
        }
    return tfail(s, off, "unknown attribute '%s' of a date", name);
}

/* v[key] for JSON v and a string or integer key; misses are undefined. */
static int
json_item(struct tst *s, struct tval *v, const json_t *key, size_t off)
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
        tval_free(v);
        return tval_json(s, v, got, off);
    }
    char what[80];
    if (json_is_string(key))
        snprintf(what, sizeof(what), "'%.60s'", json_string_value(key));
    else if (json_is_integer(key))
        snprintf(what, sizeof(what), "%lld", (long long)json_integer_value(key));
    else
        snprintf(what, sizeof(what), "of this type");
    tval_free(v);
    if (params)
        return tval_undef(s, v, off, "unknown param %s", what);
    return tval_undef(s, v, off, "key %s not found", what);
}

/* v.name (Jinja: attribute, else item). */
static int
get_attr(struct tst *s, struct tval *v, const char *name, size_t off)
{
    switch (v->k) {
    case V_ANY:
        return 0;
    case V_UNDEF:
    case V_FN:
        if (traise(s, v) < 0)
            return -1;
        return tfail(s, off, "a function has no attribute '%s'", name);
    case V_OBJ:
        return obj_attr(s, v, name, off);
    case V_TIME:
        return time_attr(s, v, name, off);
    case V_JSON:
        break;
    }
    if (json_is_object(v->j) && strcmp(name, "get") == 0 && !v->params) {
        v->k = V_FN;
        v->id = F_GET;
        return 0;
    }
    json_t *key = json_string_nocheck(name);
    int rc = key ? json_item(s, v, key, off) : tfail(s, off, "out of memory");
    json_decref(key);
    return rc;
}

/* v[key]. */
static int
get_item(struct tst *s, struct tval *v, struct tval *key, size_t off)
{
    if (traise(s, v) < 0 || traise(s, key) < 0)
        return -1;
    if (v->k == V_ANY)
        return 0;
    if (key->k == V_ANY) {
        if (v->k == V_JSON || v->k == V_OBJ)
            return set_any(v), 0;
    } else if (key->k == V_JSON && json_is_string(key->j) && v->k == V_OBJ) {
        return get_attr(s, v, json_string_value(key->j), off);
    } else if (key->k == V_JSON && v->k == V_JSON) {
        return json_item(s, v, key->j, off);
    }
    return tfail(s, off, "this value cannot be subscripted with that key");
}

/* Arguments of a call up to ')': positional then keyword. */
static int
parse_args(struct tst *s, struct targ *args, size_t *n)
{
    *n = 0;
    if (tnext(s) < 0) /* past '(' */
        return -1;
    while (s->tok.k != T_RPAREN) {
        if (*n == TMAX_ARGS)
            return tfail(s, s->tok.off, "too many arguments");
        struct targ *a = &args[(*n)++];
        a->off = s->tok.off;
        if (s->tok.k == T_NAME && tpeek_assign(s)) {
            a->name = s->tok.str;
            s->tok.str = NULL;
            if (tnext(s) < 0 || tnext(s) < 0)
                return -1;
        } else if (*n > 1 && args[*n - 2].name != NULL) {
            return tfail(s, a->off, "positional argument after a keyword argument");
        }
        if (texpr(s, &a->v) < 0)
            return -1;
        if (s->tok.k == T_COMMA) {
            if (tnext(s) < 0)
                return -1;
        } else if (s->tok.k != T_RPAREN) {
            return tfail(s, s->tok.off, "expected ',' or ')' here");
        }
    }
    return tnext(s);
}

static void
free_args(struct targ *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(args[i].name);
        tval_free(&args[i].v);
    }
}

static int tcall(struct tst *s, struct tval *fn, struct targ *args, size_t n, size_t off);

static int
postfix(struct tst *s, struct tval *v)
{
    while (!s->failed) {
        size_t off = s->tok.off;
        if (s->tok.k == T_DOT) {
            if (tnext(s) < 0)
                return -1;
            if (s->tok.k != T_NAME)
                return tfail(s, s->tok.off, "expected a name after '.'");
            off = s->tok.off;
            char *name = s->tok.str;
            s->tok.str = NULL;
            int rc = tnext(s) < 0 ? -1 : get_attr(s, v, name, off);
            free(name);
            if (rc < 0)
                return -1;
        } else if (s->tok.k == T_LBRACK) {
            struct tval key = {.k = V_ANY};
            int rc = tnext(s) < 0 || texpr(s, &key) < 0 ? -1 : 0;
            if (rc == 0 && s->tok.k != T_RBRACK)
                rc = tfail(s, s->tok.off, "expected ']' here");
            if (rc == 0)
                rc = tnext(s) < 0 ? -1 : get_item(s, v, &key, off);
            tval_free(&key);
            if (rc < 0)
                return -1;
        } else if (s->tok.k == T_LPAREN) {
            struct targ args[TMAX_ARGS] = {{0}};
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
list_literal(struct tst *s, struct tval *v)
{
    bool any = false;
    size_t off = s->tok.off;

    if (tval_json(s, v, json_array(), off) < 0 || tnext(s) < 0)
        return -1;
    while (s->tok.k != T_RBRACK) {
        struct tval it = {.k = V_ANY};
        int rc = texpr(s, &it) < 0 || traise(s, &it) < 0 ? -1 : 0;
        if (rc == 0 && it.k == V_JSON)
            json_array_append(v->j, it.j);
        else if (rc == 0 && it.k == V_ANY)
            any = true;
        else if (rc == 0)
            rc = tfail(s, off, "lists may only hold plain values");
        tval_free(&it);
        if (rc < 0)
            return -1;
        if (s->tok.k == T_COMMA) {
            if (tnext(s) < 0)
                return -1;
        } else if (s->tok.k != T_RBRACK) {
            return tfail(s, s->tok.off, "expected ',' or ']' here");
        }
    }
    if (any)
        set_any(v);
    return tnext(s);
}

/* v (a JSON string) followed by p[0..n). */
static int
append_str(struct tst *s, struct tval *v, const char *p, size_t n, size_t off)
{
    size_t have = json_string_length(v->j);
    char *buf = malloc(have + n + 1);

    if (buf == NULL)
        return tfail(s, off, "out of memory");
    memcpy(buf, json_string_value(v->j), have);
    memcpy(buf + have, p, n);
    int rc = json_string_setn_nocheck(v->j, buf, have + n);
    free(buf);
    return rc < 0 ? tfail(s, off, "out of memory") : 0;
}

static int
primary(struct tst *s, struct tval *v)
{
    struct tok *t = &s->tok;
    size_t off = t->off;
    int rc;

    switch (t->k) {
    case T_NAME:
        rc = name_val(s, t->str, off, v);
        break;
    case T_STR: /* adjacent literals are one string, as in Jinja and Python */
        rc = tval_json(s, v, json_stringn_nocheck(t->str, t->slen), off);
        while (rc == 0 && (rc = tnext(s)) == 0 && t->k == T_STR)
            rc = append_str(s, v, t->str, t->slen, off);
        return rc < 0 ? -1 : postfix(s, v);
    case T_INT:
        rc = tval_json(s, v, json_integer(t->i), off);
        break;
    case T_REAL:
        rc = tval_json(s, v, json_real(t->d), off);
        break;
    case T_LPAREN:
        if (tnext(s) < 0 || texpr(s, v) < 0)
            return -1;
        if (t->k != T_RPAREN)
            return tfail(s, t->off, "expected ')' here");
        rc = 0;
        break;
    case T_LBRACK:
        return list_literal(s, v) < 0 ? -1 : postfix(s, v);
    case T_END:
        return tfail(s, off, "expected an expression");
    default:
        return tfail(s, off, "unexpected '%.*s': expected an expression", 1, s->src + off);
    }
    if (rc < 0 || tnext(s) < 0)
        return -1;
    return postfix(s, v);
}

static int
unary(struct tst *s, struct tval *v)
{
    size_t off = s->tok.off;

    if (s->tok.k != T_MINUS)
        return primary(s, v);
    if (tnext(s) < 0 || unary(s, v) < 0 || traise(s, v) < 0)
        return -1;
    if (v->k == V_ANY)
        return 0;
    if (v->k == V_JSON && json_is_integer(v->j))
        return json_integer_set(v->j, -json_integer_value(v->j)), 0;
    if (v->k == V_JSON && json_is_real(v->j))
        return json_real_set(v->j, -json_real_value(v->j)), 0;
    return tfail(s, off, "'-' needs a number");
}

static int
filtered(struct tst *s, struct tval *v)
{
    if (unary(s, v) < 0)
        return -1;
    while (s->tok.k == T_PIPE) {
        struct targ args[TMAX_ARGS] = {{0}};
        size_t n = 0;
        if (tnext(s) < 0)
            return -1;
        if (s->tok.k != T_NAME)
            return tfail(s, s->tok.off, "expected a filter name after '|'");
        char *name = s->tok.str;
        size_t off = s->tok.off;
        s->tok.str = NULL;
        int rc = tnext(s);
        if (rc == 0 && s->tok.k == T_LPAREN)
            rc = parse_args(s, args, &n);
        if (rc == 0)
            rc = tfilter(s, name, off, v, args, n);
        free_args(args, n);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* expr := filtered ('~' filtered)*: the whole expression at s->tok into *v. */
int
texpr(struct tst *s, struct tval *v)
{
    struct tsb b = {0};
    int rc = 0;

    if (filtered(s, v) < 0)
        return -1;
    if (s->tok.k != T_TILDE)
        return 0;
    tsb_add(&b, "", 0);
    bool any = v->k == V_ANY;
    char *piece = NULL;
    rc = tval_to_cstr(s, v, &piece);
    for (;;) {
        if (rc == 0 && piece != NULL)
            tsb_puts(&b, piece);
        free(piece);
        piece = NULL;
        tval_free(v);
        if (rc < 0 || s->tok.k != T_TILDE)
            break;
        rc = tnext(s) < 0 || filtered(s, v) < 0 ? -1 : tval_to_cstr(s, v, &piece);
        any |= v->k == V_ANY;
    }
    if (rc == 0 && !any)
        rc = b.oom ? tfail(s, s->tok.off, "out of memory")
                   : tval_json(s, v, json_stringn_nocheck(b.p, b.n), s->tok.off);
    free(b.p);
    return rc;
}

/* ---- calls ---- */

static const char *const fn_names[] = {"xcom_pull", "ds_add", "ds_format", "strftime",
                                       "isoformat", "get",    "get",       "get"};

/* Give each argument its parameter: slot[i] is the value for names[i], or NULL. */
static int
bind(struct tst *s, int fn, const char *const *names, size_t nn, struct targ *args, size_t n,
     struct tval **slot)
{
    for (size_t i = 0; i < nn; i++)
        slot[i] = NULL;
    for (size_t k = 0; k < n; k++) {
        struct targ *a = &args[k];
        size_t p = k;
        if (a->name != NULL)
            for (p = 0; p < nn && strcmp(names[p], a->name) != 0; p++)
                ;
        if (p >= nn)
            return a->name ? tfail(s, a->off, "%s: unexpected argument '%s'", fn_names[fn], a->name)
                           : tfail(s, a->off, "%s: too many arguments", fn_names[fn]);
        if (slot[p] != NULL)
            return tfail(s, a->off, "%s: argument '%s' given twice", fn_names[fn], names[p]);
        if (traise(s, &a->v) < 0)
            return -1;
        slot[p] = &a->v;
    }
    return 0;
}

/* Where argument v came from (for error offsets). */
static size_t
arg_off(const struct targ *args, size_t n, const struct tval *v, size_t dflt)
{
    for (size_t i = 0; i < n; i++)
        if (&args[i].v == v)
            return args[i].off;
    return dflt;
}

/* A required string argument: 1 when any (checking), 0 with *out, -1 on error. */
static int
arg_str(struct tst *s, int fn, const char *pname, const struct tval *v, size_t off,
        const char **out)
{
    if (v == NULL)
        return tfail(s, off, "%s: missing argument '%s'", fn_names[fn], pname);
    if (v->k == V_ANY)
        return 1;
    if (v->k != V_JSON || !json_is_string(v->j))
        return tfail(s, off, "%s: %s must be a string", fn_names[fn], pname);
    *out = json_string_value(v->j);
    return 0;
}

static int
xcom_pull(struct tst *s, struct targ *args, size_t n, size_t off, struct tval *out)
{
    static const char *const names[] = {"task_ids", "key", "dag_id", "include_prior_dates",
                                        "map_indexes"};
    struct tval *a[5];
    const char *task = s->ctx ? s->ctx->task_id : "", *key = "return_value";
    int any = 0;

    if (bind(s, F_XCOM_PULL, names, 5, args, n, a) < 0)
        return -1;
    for (size_t i = 2; i < 5; i++)
        if (a[i] != NULL)
            return tfail(s, arg_off(args, n, a[i], off),
                         "xcom_pull: argument '%s' is not supported", names[i]);
    if (a[0] != NULL && a[0]->k == V_JSON && json_is_array(a[0]->j))
        return tfail(s, arg_off(args, n, a[0], off), "task_ids lists are not supported");
    if (a[0] != NULL && !(a[0]->k == V_JSON && json_is_null(a[0]->j)))
        any |= arg_str(s, F_XCOM_PULL, "task_ids", a[0], arg_off(args, n, a[0], off), &task);
    if (a[1] != NULL)
        any |= arg_str(s, F_XCOM_PULL, "key", a[1], arg_off(args, n, a[1], off), &key);
    if (s->failed || any || s->ctx == NULL)
        return s->failed ? -1 : 0;
    char *text = NULL;
    struct err ce = {0};
    json_t *j;
    if (s->ctx->xcom_pull == NULL)
        return tval_json(s, out, json_null(), off);
    if (s->ctx->xcom_pull(s->ctx->arg, task, key, &text, &ce) < 0)
        return tfail(s, off, "xcom_pull(task_ids='%s', key='%s'): %s", task, key, ce.msg);
    if (text == NULL)
        return tval_json(s, out, json_null(), off);
    j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(text);
    if (j == NULL)
        return tfail(s, off, "xcom_pull: the XCom of task '%s' key '%s' is not JSON", task, key);
    return tval_json(s, out, j, off);
}

static int
ds_add(struct tst *s, struct targ *args, size_t n, size_t off, struct tval *out)
{
    static const char *const names[] = {"ds", "days"};
    struct tval *a[2];
    const char *ds = NULL;
    char buf[TMPL_TIME_BUF];
    struct err ce = {0};

    if (bind(s, F_DS_ADD, names, 2, args, n, a) < 0)
        return -1;
    int any = arg_str(s, F_DS_ADD, "ds", a[0], arg_off(args, n, a[0], off), &ds);
    if (any < 0)
        return -1;
    if (a[1] == NULL)
        return tfail(s, off, "ds_add: missing argument 'days'");
    if (a[1]->k == V_ANY || any)
        return 0;
    if (a[1]->k != V_JSON || !json_is_number(a[1]->j) || json_is_boolean(a[1]->j))
        return tfail(s, arg_off(args, n, a[1], off), "ds_add: days must be a number");
    if (tmpl_ds_add(ds, json_number_value(a[1]->j), buf, &ce) < 0)
        return tfail(s, off, "%s", ce.msg);
    return str_val(s, out, buf, off);
}

static int
ds_format(struct tst *s, struct targ *args, size_t n, size_t off, struct tval *out)
{
    static const char *const names[] = {"ds", "input_format", "output_format"};
    struct tval *a[3];
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
        return tfail(s, off, "%s", ce.msg);
    int rc = str_val(s, out, res, off);
    free(res);
    return rc;
}

/* date.strftime(format) and date.isoformat() of the instant t. */
static int
date_method(struct tst *s, int fn, time_t t, struct targ *args, size_t n, size_t off,
            struct tval *out)
{
    static const char *const names[] = {"format"};
    struct tval *a[1];
    const char *fmt = NULL;
    char *res = NULL, buf[TMPL_TIME_BUF];
    struct err ce = {0};

    if (bind(s, fn, names, fn == F_STRFTIME ? 1 : 0, args, n, a) < 0)
        return -1;
    if (fn == F_ISOFORMAT) {
        tmpl_fmt_time(t, TMPL_TS, buf);
        return str_val(s, out, buf, off);
    }
    int any = arg_str(s, fn, "format", a[0], arg_off(args, n, a[0], off), &fmt);
    if (any != 0)
        return any < 0 ? -1 : 0;
    if (tmpl_strftime(t, fmt, &res, &ce) < 0)
        return tfail(s, off, "%s", ce.msg);
    int rc = str_val(s, out, res, off);
    free(res);
    return rc;
}

/* dict.get(key, default) and var.value.get / var.json.get(key, default_var). */
static int
getter(struct tst *s, struct tval *fn, struct targ *args, size_t n, size_t off, struct tval *out)
{
    static const char *const names[] = {"key", "default"}, *const vnames[] = {"item",
                                                                              "default_var"};
    struct tval *a[2], none = {.k = V_JSON};
    const char *key = NULL;

    if (bind(s, fn->id, fn->id == F_GET ? names : vnames, 2, args, n, a) < 0)
        return -1;
    int any = arg_str(s, fn->id, "key", a[0], arg_off(args, n, a[0], off), &key);
    if (any != 0)
        return any < 0 ? -1 : 0;
    if (fn->id != F_GET) {
        if ((none.j = json_null()) == NULL)
            return tfail(s, off, "out of memory");
        int rc = var_val(s, fn->id == F_VAR_GET ? O_VAR_VALUE : O_VAR_JSON, key, off,
                         a[1] ? a[1] : &none, out);
        tval_free(&none);
        return rc;
    }
    json_t *got = json_object_get(fn->j, key);
    if (got != NULL)
        return tval_json(s, out, json_incref(got), off);
    if (a[1] == NULL)
        return tval_json(s, out, json_null(), off);
    *out = *a[1];
    memset(a[1], 0, sizeof(*a[1]));
    return 0;
}

/* fn(args) into *fn. */
static int
tcall(struct tst *s, struct tval *fn, struct targ *args, size_t n, size_t off)
{
    struct tval out = {.k = V_ANY};
    int rc;

    if (traise(s, fn) < 0)
        return -1;
    if (fn->k == V_ANY)
        return 0;
    if (fn->k != V_FN)
        return tfail(s, off, "only the known functions can be called");
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
        rc = date_method(s, fn->id, fn->t, args, n, off, &out);
        break;
    default:
        rc = getter(s, fn, args, n, off, &out);
        break;
    }
    tval_free(fn);
    *fn = out;
    return rc;
}

/* template_ops: the binary operators of the template subset with Python's meaning
 * (+ - * / // % on numbers, strings, lists, datetimes and timedeltas; == != < <= > >= and
 * `in`; `~`), and the names templates bind ({% set %}, loop variables).
 *
 * Python's rules kept: / is always a float, // and % floor, bool counts as an int, 1 == 1.0,
 * a naive datetime (macros.datetime) neither compares with nor subtracts from an aware one.
 * Integers are 64 bits: an overflow is an error, not a big integer. Any operand "any" (only
 * known when a try starts) makes the result "any"; in skip mode nothing is computed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

/* Python's name of v's type, for error messages. */
static const char *
type_name(const struct tmpl_val *v)
{
    static const char *const json_names[] = {"dict",  "list", "str",  "int",
                                             "float", "bool", "bool", "NoneType"};

    switch (v->k) {
    case V_JSON:
        return json_names[json_typeof(v->j)];
    case V_TIME:
        return "datetime";
    case V_DELTA:
        return "timedelta";
    case V_FN:
        return "function";
    default:
        return "object";
    }
}

static bool
is_int(const struct tmpl_val *v, long long *out)
{
    if (v->k != V_JSON || !(json_is_integer(v->j) || json_is_boolean(v->j)))
        return false;
    *out = json_is_integer(v->j) ? json_integer_value(v->j) : json_is_true(v->j);
    return true;
}

static bool
is_num(const struct tmpl_val *v, double *out)
{
    long long i;

    if (is_int(v, &i))
        return *out = (double)i, true;
    if (v->k == V_JSON && json_is_real(v->j))
        return *out = json_real_value(v->j), true;
    return false;
}

/* Check that a built string or list of n bytes/items stays within TMPL_SIZE_MAX. */
int
tmpl_size_ok(struct tmpl_state *s, size_t n, size_t off)
{
    if (n > TMPL_SIZE_MAX)
        return tmpl_fail(s, off, "a value built by the template is larger than %u", TMPL_SIZE_MAX);
    return 0;
}

/* a = r (a new JSON value). */
static int
set_json(struct tmpl_state *s, struct tmpl_val *a, json_t *r, size_t off)
{
    tmpl_val_clear(a);
    return tmpl_val_json(s, a, r, off);
}

/* Integer + - * // % with Python's flooring; overflow is an error. */
static int
int_op(struct tmpl_state *s, int op, long long x, long long y, struct tmpl_val *a, size_t off)
{
    long long r = 0;
    bool over = false;

    if ((op == T_SLASH || op == T_DSLASH || op == T_PERCENT) && y == 0)
        return tmpl_fail(s, off, "division by zero");
    if (op == T_SLASH)
        return set_json(s, a, json_real((double)x / (double)y), off);
    if (op == T_PLUS)
        over = __builtin_add_overflow(x, y, &r);
    else if (op == T_MINUS)
        over = __builtin_sub_overflow(x, y, &r);
    else if (op == T_STAR)
        over = __builtin_mul_overflow(x, y, &r);
    else if ((over = x == -__LONG_LONG_MAX__ - 1 && y == -1) == false) {
        long long q = x / y, m = x % y;
        if (m != 0 && (m < 0) != (y < 0))
            q--, m += y;
        r = op == T_DSLASH ? q : m;
    }
    if (over)
        return tmpl_fail(s, off, "integer overflow (integers are 64 bits here)");
    return set_json(s, a, json_integer(r), off);
}

static int
real_op(struct tmpl_state *s, int op, double x, double y, struct tmpl_val *a, size_t off)
{
    double r;

    if ((op == T_SLASH || op == T_DSLASH || op == T_PERCENT) && y == 0)
        return tmpl_fail(s, off, "float division by zero");
    if (op == T_PLUS)
        r = x + y;
    else if (op == T_MINUS)
        r = x - y;
    else if (op == T_STAR)
        r = x * y;
    else if (op == T_SLASH)
        r = x / y;
    else if (op == T_DSLASH)
        r = floor(x / y);
    else if ((r = fmod(x, y)) != 0 && (r < 0) != (y < 0))
        r += y;
    return set_json(s, a, json_real(r), off);
}

static bool
is_seq(const json_t *j)
{
    return json_is_string(j) || json_is_array(j);
}

static size_t
seq_len(const json_t *j)
{
    return json_is_string(j) ? json_string_length(j) : json_array_size(j);
}

/* str * n, list * n, str + str, list + list: 1 when the operands are none of these. */
static int
seq_op(struct tmpl_state *s, int op, struct tmpl_val *a, struct tmpl_val *b, size_t off)
{
    long long k = 1;
    struct tmpl_val *seq = a, *other = b;

    if (op == T_STAR) {
        if (!is_seq(a->j))
            seq = b, other = a;
        if (!is_seq(seq->j) || !is_int(other, &k))
            return 1;
        k = k < 0 ? 0 : k;
    } else if (json_typeof(a->j) != json_typeof(b->j) || !is_seq(a->j)) {
        return 1;
    }
    size_t one = seq_len(seq->j), extra = op == T_PLUS ? seq_len(b->j) : 0;
    if (one == 0)
        k = 0; /* [] * 10**9 is [] at once, not a billion empty steps (found by fuzzing) */
    if ((one > 0 && (unsigned long long)k > TMPL_SIZE_MAX / one) ||
        tmpl_size_ok(s, one * (size_t)k + extra, off) < 0)
        return tmpl_size_ok(s, TMPL_SIZE_MAX + 1u, off);
    if (json_is_array(seq->j)) {
        json_t *r = json_array();
        for (long long i = 0; r != NULL && i < k; i++)
            json_array_extend(r, seq->j);
        if (r != NULL && op == T_PLUS)
            json_array_extend(r, b->j);
        return set_json(s, a, r, off);
    }
    struct tmpl_sb sb = {0};
    tmpl_sb_add(&sb, "", 0);
    for (long long i = 0; i < k; i++)
        tmpl_sb_add(&sb, json_string_value(seq->j), one);
    if (op == T_PLUS)
        tmpl_sb_add(&sb, json_string_value(b->j), extra);
    int rc = sb.oom ? tmpl_fail(s, off, "out of memory")
                    : set_json(s, a, json_stringn_nocheck(sb.p, sb.n), off);
    free(sb.p);
    return rc;
}

/* Python's datetime range (years 1 to 9999), which timedeltas stay within too. */
#define TIME_MIN (-62135596800LL)
#define TIME_MAX 253402300799LL

/* *r = x op y (+, - or *) for times and timedeltas, within Python's range. */
static int
time_arith(struct tmpl_state *s, int op, long long x, long long y, time_t *r, size_t off)
{
    long long v;
    bool over = op == T_PLUS    ? __builtin_add_overflow(x, y, &v)
                : op == T_MINUS ? __builtin_sub_overflow(x, y, &v)
                                : __builtin_mul_overflow(x, y, &v);

    if (over || v < TIME_MIN || v > TIME_MAX)
        return tmpl_fail(s, off, "date value out of range");
    *r = (time_t)v;
    return 0;
}

/* datetime and timedelta arithmetic: 1 when the operands are not dates. */
static int
date_op(struct tmpl_state *s, int op, struct tmpl_val *a, struct tmpl_val *b, size_t off)
{
    long long k;

    if (op == T_MINUS && a->k == V_TIME && b->k == V_TIME && a->naive != b->naive)
        return tmpl_fail(s, off, "can't subtract offset-naive and offset-aware datetimes");
    if ((op == T_PLUS && a->k == V_DELTA && b->k == V_TIME) ||
        (op == T_STAR && b->k == V_DELTA && is_int(a, &k))) {
        struct tmpl_val t = *b; /* the date operand goes first */
        *b = *a, *a = t;
    }
    if ((op == T_PLUS || op == T_MINUS) && (a->k == V_TIME || a->k == V_DELTA) && b->k == V_DELTA)
        return time_arith(s, op, a->t, b->t, &a->t, off);
    if (op == T_MINUS && a->k == V_TIME && b->k == V_TIME) {
        a->k = V_DELTA, a->naive = false;
        return time_arith(s, op, a->t, b->t, &a->t, off);
    }
    if (op == T_STAR && a->k == V_DELTA && is_int(b, &k))
        return time_arith(s, op, a->t, k, &a->t, off);
    return 1;
}

static int
arith(struct tmpl_state *s, int op, struct tmpl_val *a, struct tmpl_val *b, size_t off)
{
    static const char *const sym[] = {[T_PLUS] = "+",  [T_MINUS] = "-",   [T_STAR] = "*",
                                      [T_SLASH] = "/", [T_DSLASH] = "//", [T_PERCENT] = "%"};
    long long x, y;
    double dx, dy;
    int rc;

    if (is_int(a, &x) && is_int(b, &y))
        return int_op(s, op, x, y, a, off);
    if (is_num(a, &dx) && is_num(b, &dy))
        return real_op(s, op, dx, dy, a, off);
    if ((rc = date_op(s, op, a, b, off)) != 1)
        return rc;
    if ((op == T_PLUS || op == T_STAR) && a->k == V_JSON && b->k == V_JSON &&
        (rc = seq_op(s, op, a, b, off)) != 1)
        return rc;
    return tmpl_fail(s, off, "unsupported operand types for %s: '%s' and '%s'", sym[op],
                     type_name(a), type_name(b));
}

/* a == b with Python's meaning. */
static bool
equal(const struct tmpl_val *a, const struct tmpl_val *b)
{
    double x, y;

    if (is_num(a, &x) && is_num(b, &y))
        return x == y;
    if (a->k == V_JSON && b->k == V_JSON)
        return json_equal(a->j, b->j);
    if ((a->k == V_TIME || a->k == V_DELTA) && a->k == b->k)
        return a->t == b->t && a->naive == b->naive;
    return false;
}

/* a < b etc.: *c is -1, 0 or 1. */
static int
order(struct tmpl_state *s, int op, const struct tmpl_val *a, const struct tmpl_val *b, size_t off,
      int *c)
{
    static const char *const sym[] = {[T_LT] = "<", [T_LE] = "<=", [T_GT] = ">", [T_GE] = ">="};
    double x, y;

    if (is_num(a, &x) && is_num(b, &y))
        return *c = (x > y) - (x < y), 0;
    if (a->k == V_JSON && b->k == V_JSON && json_is_string(a->j) && json_is_string(b->j)) {
        size_t na = json_string_length(a->j), nb = json_string_length(b->j);
        int m = memcmp(json_string_value(a->j), json_string_value(b->j), na < nb ? na : nb);
        return *c = m ? (m > 0) - (m < 0) : (na > nb) - (na < nb), 0;
    }
    if ((a->k == V_TIME || a->k == V_DELTA) && a->k == b->k) {
        if (a->naive != b->naive)
            return tmpl_fail(s, off, "can't compare offset-naive and offset-aware datetimes");
        return *c = (a->t > b->t) - (a->t < b->t), 0;
    }
    return tmpl_fail(s, off, "'%s' not supported between instances of '%s' and '%s'", sym[op],
                     type_name(a), type_name(b));
}

/* a in b. */
static int
contains(struct tmpl_state *s, const struct tmpl_val *a, const struct tmpl_val *b, size_t off,
         bool *r)
{
    const json_t *j = b->k == V_JSON ? b->j : NULL;
    size_t i;
    json_t *x;

    *r = false;
    if (json_is_string(j) && a->k == V_JSON && json_is_string(a->j))
        return *r = memmem(json_string_value(j), json_string_length(j), json_string_value(a->j),
                           json_string_length(a->j)) != NULL,
               0;
    if (json_is_string(j))
        return tmpl_fail(s, off, "'in <string>' requires string as left operand, not %s",
                         type_name(a));
    if (json_is_object(j))
        return *r = a->k == V_JSON && json_is_string(a->j) &&
                    json_object_getn(j, json_string_value(a->j), json_string_length(a->j)),
               0;
    if (!json_is_array(j))
        return tmpl_fail(s, off, "argument of type '%s' is not iterable", type_name(b));
    json_array_foreach(j, i, x)
    {
        struct tmpl_val e = {.k = V_JSON, .j = x};
        if ((*r = equal(a, &e)))
            break;
    }
    return 0;
}

static int
compare_vals(struct tmpl_state *s, int op, struct tmpl_val *a, struct tmpl_val *b, size_t off)
{
    bool r = false;
    int c = 0;

    if (op == T_EQ || op == T_NE)
        r = equal(a, b) == (op == T_EQ);
    else if (op == T_NAME) {
        if (contains(s, a, b, off, &r) < 0)
            return -1;
    } else if (order(s, op, a, b, off, &c) < 0) {
        return -1;
    } else {
        r = op == T_LT ? c < 0 : op == T_LE ? c <= 0 : op == T_GT ? c > 0 : c >= 0;
    }
    return set_json(s, a, json_boolean(r), off);
}

/* a ~ b: both as strings. */
static int
tilde(struct tmpl_state *s, struct tmpl_val *a, struct tmpl_val *b, size_t off)
{
    char *x = NULL, *y = NULL;
    int rc = -1;

    if (tmpl_val_to_cstr(s, a, &x) == 0 && tmpl_val_to_cstr(s, b, &y) == 0 &&
        tmpl_size_ok(s, strlen(x) + strlen(y), off) == 0) {
        struct tmpl_sb sb = {0};
        tmpl_sb_puts(&sb, x);
        tmpl_sb_puts(&sb, y);
        rc = sb.oom ? tmpl_fail(s, off, "out of memory")
                    : set_json(s, a, json_stringn_nocheck(sb.p ? sb.p : "", sb.n), off);
        free(sb.p);
    }
    free(x);
    free(y);
    return rc;
}

/* Binary operator op on a and b into *a. */
int
tmpl_binop(struct tmpl_state *s, int op, struct tmpl_val *a, struct tmpl_val *b, size_t off)
{
    if (tmpl_raise(s, a) < 0 || tmpl_raise(s, b) < 0)
        return -1;
    if (a->k == V_ANY || b->k == V_ANY || TMPL_SKIPPING(s))
        return tmpl_val_clear(a), 0;
    if (op == T_TILDE)
        return tilde(s, a, b, off);
    if ((op >= T_EQ && op <= T_GE) || op == T_NAME)
        return compare_vals(s, op, a, b, off);
    return arith(s, op, a, b, off);
}

/* A copy of v into *out. */
int
tmpl_val_copy(struct tmpl_state *s, const struct tmpl_val *v, struct tmpl_val *out)
{
    *out = *v;
    json_incref(out->j);
    if (v->msg != NULL && (out->msg = strdup(v->msg)) == NULL)
        return out->k = V_ANY, tmpl_fail(s, v->off, "out of memory");
    return 0;
}

/* Bind name to v (stolen) in the innermost scope (replacing a binding made there). */
int
tmpl_local_set(struct tmpl_state *s, const char *name, struct tmpl_val *v, size_t off)
{
    size_t i = s->scope;

    while (i < s->nlocals && strcmp(s->locals[i].name, name) != 0)
        i++;
    if (i == s->nlocals) {
        if (s->nlocals == s->cap_locals) {
            size_t cap = s->cap_locals ? s->cap_locals * 2 : 8;
            struct tmpl_local *l = realloc(s->locals, cap * sizeof(*l));
            if (l == NULL)
                return tmpl_val_clear(v), tmpl_fail(s, off, "out of memory");
            s->locals = l;
            s->cap_locals = cap;
        }
        if ((s->locals[i].name = strdup(name)) == NULL)
            return tmpl_val_clear(v), tmpl_fail(s, off, "out of memory");
        s->locals[i].v.k = V_ANY;
        s->locals[i].v.j = NULL;
        s->locals[i].v.msg = NULL;
        s->nlocals++;
    }
    tmpl_val_clear(&s->locals[i].v);
    s->locals[i].v = *v;
    memset(v, 0, sizeof(*v));
    v->k = V_ANY;
    return 0;
}

/* Drop the locals from index n on. */
void
tmpl_locals_pop(struct tmpl_state *s, size_t n)
{
    while (s->nlocals > n) {
        struct tmpl_local *l = &s->locals[--s->nlocals];
        free(l->name);
        tmpl_val_clear(&l->v);
    }
}

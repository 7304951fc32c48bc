/* template: a small Jinja interpreter for the subset in template.h.
 *
 * One pass, no syntax tree: the text is copied out, and each {{ expression }} is read by a
 * recursive-descent parser that evaluates as it goes (the grammar has no branches or
 * short-circuits, so nothing needs to be evaluated later). Checking (tmpl_check) is the same
 * pass without a context: values only known when a try starts (conf, XComs, variables,
 * params' run values) are "any", on which every operation succeeds; everything else, including
 * unknown names, attributes, filters and functions, fails exactly as it would when rendering.
 *
 * Values are jansson JSON plus a few kinds of our own (dates, context objects, functions,
 * "undefined"). Undefined is Jinja's StrictUndefined, which Airflow uses: a missing key is only
 * an error when it is used, so `| default(...)` can catch it. Invariant: the first error
 * wins; after it every function returns -1 without touching *e again. */
#include "template/template.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

/* ---- output buffer ---- */

/* Append n bytes (kept NUL-terminated). */
void
tmpl_sb_add(struct tmpl_sb *b, const char *p, size_t n)
{
    if (b == NULL || b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* Append a C string. */
void
tmpl_sb_puts(struct tmpl_sb *b, const char *s)
{
    tmpl_sb_add(b, s, strlen(s));
}

/* ---- errors and values ---- */

/* Record the first error at off; always -1. */
int
tmpl_fail(struct tmpl_state *s, size_t off, const char *fmt, ...)
{
    va_list ap;

    if (s->failed)
        return -1;
    s->failed = true;
    s->eoff = off;
    if (s->e != NULL) {
        s->e->code = ERR_PARSE;
        s->e->temporary = false;
        va_start(ap, fmt);
        vsnprintf(s->e->msg, sizeof(s->e->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Empty v (release what it holds): it becomes V_ANY, safe to clear again. */
void
tmpl_val_clear(struct tmpl_val *v)
{
    json_decref(v->j);
    free(v->msg);
    memset(v, 0, sizeof(*v));
    v->k = V_ANY;
}

/* A JSON value (steals j; NULL means out of memory). */
int
tmpl_val_json(struct tmpl_state *s, struct tmpl_val *v, json_t *j, size_t off)
{
    memset(v, 0, sizeof(*v));
    v->k = V_JSON;
    v->j = j;
    return j ? 0 : tmpl_fail(s, off, "out of memory");
}

/* An undefined value: an error raised only if it is used. */
int
tmpl_val_undef(struct tmpl_state *s, struct tmpl_val *v, size_t off, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    memset(v, 0, sizeof(*v));
    v->k = V_UNDEF;
    v->off = off;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    v->msg = msg;
    return msg ? 0 : tmpl_fail(s, off, "out of memory");
}

/* Raise v when it is undefined (any use but `| default`). */
int
tmpl_raise(struct tmpl_state *s, const struct tmpl_val *v)
{
    return v->k == V_UNDEF ? tmpl_fail(s, v->off, "%s", v->msg) : 0;
}

/* ---- lexer ---- */

static void
tok_clear(struct tmpl_tok *t)
{
    free(t->str);
    memset(t, 0, sizeof(*t));
}

static void
put_utf8(struct tmpl_sb *b, unsigned cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    tmpl_sb_add(b, u, n);
}

/* \xNN, \uNNNN, \UNNNNNNNN: the code point, or -1 when the digits are not there. */
static long
hex_escape(const char *p, size_t avail, size_t digits)
{
    long v = 0;

    if (avail < digits)
        return -1;
    for (size_t i = 0; i < digits; i++) {
        if (!isxdigit((unsigned char)p[i]))
            return -1;
        v = v * 16 + (isdigit((unsigned char)p[i]) ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
    }
    return v <= 0x10FFFF ? v : -1;
}

/* A string literal at s->pos (the quote) into t, with Python's escapes. */
static int
lex_string(struct tmpl_state *s, struct tmpl_tok *t)
{
    char q = s->src[s->pos];
    size_t i = s->pos + 1;
    struct tmpl_sb b = {0};

    tmpl_sb_add(&b, "", 0);
    while (i < s->len && s->src[i] != q) {
        char c = s->src[i++];
        if (c != '\\' || i >= s->len) {
            tmpl_sb_add(&b, &c, 1);
            continue;
        }
        c = s->src[i++];
        static const char from[] = "ntrbfva0\\'\"", to[] = "\n\t\r\b\f\v\a\0\\'\"";
        const char *simple = c != '\0' ? strchr(from, c) : NULL;
        size_t nd = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        long cp = nd ? hex_escape(s->src + i, s->len - i, nd) : -1;
        if (simple != NULL)
            tmpl_sb_add(&b, &to[simple - from], 1);
        else if (cp >= 0)
            put_utf8(&b, (unsigned)cp), i += nd;
        else /* Python keeps an unknown escape as written */
            tmpl_sb_add(&b, s->src + i - 2, 2);
    }
    if (i >= s->len) {
        free(b.p);
        return tmpl_fail(s, s->pos, "unterminated string");
    }
    if (b.oom) {
        free(b.p);
        return tmpl_fail(s, s->pos, "out of memory");
    }
    t->k = T_STR;
    t->str = b.p;
    t->slen = b.n;
    s->pos = i + 1;
    return 0;
}

static int
lex_number(struct tmpl_state *s, struct tmpl_tok *t)
{
    const char *p = s->src + s->pos;
    size_t n = 0;
    bool real = false;

    while (s->pos + n < s->len &&
           (isdigit((unsigned char)p[n]) || (p[n] == '.' && !real && s->pos + n + 1 < s->len &&
                                             isdigit((unsigned char)p[n + 1]) && (real = true))))
        n++;
    char buf[64];
    if (n >= sizeof(buf))
        return tmpl_fail(s, s->pos, "number too long");
    memcpy(buf, p, n);
    buf[n] = '\0';
    t->k = real ? T_REAL : T_INT;
    t->d = strtod(buf, NULL);
    t->i = strtoll(buf, NULL, 10);
    if (!real && (t->d > 9.2e18))
        return tmpl_fail(s, s->pos, "integer too large");
    s->pos += n;
    return 0;
}

static int
lex_punct(struct tmpl_state *s, struct tmpl_tok *t)
{
    static const char single[] = ".[]()|~,=-";
    static const enum tmpl_tk kinds[] = {T_DOT,  T_LBRACK, T_RBRACK, T_LPAREN, T_RPAREN,
                                         T_PIPE, T_TILDE,  T_COMMA,  T_ASSIGN, T_MINUS};
    const char *p = s->src + s->pos, *hit;
    size_t left = s->len - s->pos;

    if (left >= 2 && p[0] == '}' && p[1] == '}')
        return t->k = T_END, s->pos += 2, 0;
    if (left >= 3 && p[0] == '-' && p[1] == '}' && p[2] == '}')
        return t->k = T_END, t->strip = true, s->pos += 3, 0;
    if ((hit = strchr(single, *p)) != NULL && *p != '\0' &&
        !(*p == '=' && left >= 2 && p[1] == '=')) {
        t->k = kinds[hit - single];
        s->pos++;
        return 0;
    }
    if (strchr("+*/%<>!=", *p) != NULL && *p != '\0')
        return tmpl_fail(s, s->pos, "operator '%.*s' is not supported",
                         left > 1 && p[1] == '=' ? 2 : 1, p);
    if (isprint((unsigned char)*p))
        return tmpl_fail(s, s->pos, "unexpected character '%c'", *p);
    return tmpl_fail(s, s->pos, "unexpected character \\x%02x", (unsigned char)*p);
}

/* The next token of the expression into s->tok. */
int
tmpl_next(struct tmpl_state *s)
{
    struct tmpl_tok *t = &s->tok;

    tok_clear(t);
    while (s->pos < s->len && isspace((unsigned char)s->src[s->pos]))
        s->pos++;
    t->off = s->pos;
    if (s->pos >= s->len)
        return tmpl_fail(s, s->open, "unclosed '{{' (no matching '}}')");
    char c = s->src[s->pos];
    if (isalpha((unsigned char)c) || c == '_') {
        size_t n = 0;
        while (s->pos + n < s->len &&
               (isalnum((unsigned char)s->src[s->pos + n]) || s->src[s->pos + n] == '_'))
            n++;
        t->k = T_NAME;
        if ((t->str = strndup(s->src + s->pos, n)) == NULL)
            return tmpl_fail(s, s->pos, "out of memory");
        t->slen = n;
        s->pos += n;
        return 0;
    }
    if (isdigit((unsigned char)c))
        return lex_number(s, t);
    if (c == '\'' || c == '"')
        return lex_string(s, t);
    return lex_punct(s, t);
}

/* Whether the name token is followed by '=' (a keyword argument), without consuming. */
bool
tmpl_peek_assign(const struct tmpl_state *s)
{
    size_t p = s->pos;

    while (p < s->len && isspace((unsigned char)s->src[p]))
        p++;
    return p < s->len && s->src[p] == '=' && (p + 1 >= s->len || s->src[p + 1] != '=');
}

/* ---- the template: text, comments, expressions ---- */

/* Template data, with Jinja's newline normalization (\r\n and \r become \n). */
static void
emit_text(struct tmpl_sb *out, const char *p, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\r')
            continue;
        tmpl_sb_add(out, p + start, i - start);
        tmpl_sb_add(out, "\n", 1);
        if (i + 1 < n && p[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    tmpl_sb_add(out, p + start, n - start);
}

/* Offset of the next "{{", "{#" or "{%" at or after i, or len. */
static size_t
next_tag(const char *src, size_t len, size_t i)
{
    for (; i + 1 < len; i++)
        if (src[i] == '{' && (src[i + 1] == '{' || src[i + 1] == '#' || src[i + 1] == '%'))
            return i;
    return len;
}

/* A comment at j ("{#"): returns the offset after "#}" and whether it strips what follows. */
static int
skip_comment(struct tmpl_state *s, size_t j, size_t *after, bool *lstrip)
{
    for (size_t k = j + 2; k + 1 < s->len; k++)
        if (s->src[k] == '#' && s->src[k + 1] == '}') {
            *lstrip = k > j + 2 && s->src[k - 1] == '-';
            *after = k + 2;
            return 0;
        }
    return tmpl_fail(s, j, "unclosed comment ('{#' with no matching '#}')");
}

/* One {{ expression }} at j: evaluate and write it. */
static int
expression(struct tmpl_state *s, size_t j, struct tmpl_sb *out, bool *lstrip)
{
    struct tmpl_val v = {.k = V_ANY};
    int rc = -1;

    s->open = j;
    s->pos = j + 2 + (j + 2 < s->len && s->src[j + 2] == '-');
    if (tmpl_next(s) < 0)
        goto out;
    s->expr = s->tok.off;
    if (tmpl_expr(s, &v) < 0)
        goto out;
    if (s->tok.k != T_END) {
        tmpl_fail(s, s->tok.off, "expected '}}' here");
        goto out;
    }
    *lstrip = s->tok.strip;
    rc = tmpl_val_str(s, &v, out);
out:
    tmpl_val_clear(&v);
    tok_clear(&s->tok);
    return rc;
}

static int
run(struct tmpl_state *s, struct tmpl_sb *out)
{
    size_t i = 0;
    bool lstrip = false;

    while (i <= s->len && !s->failed) {
        size_t j = next_tag(s->src, s->len, i), start = i, end = j;
        if (lstrip)
            while (start < end && isspace((unsigned char)s->src[start]))
                start++;
        if (j < s->len && j + 2 < s->len && s->src[j + 2] == '-')
            while (end > start && isspace((unsigned char)s->src[end - 1]))
                end--;
        emit_text(out, s->src + start, end - start);
        if (j >= s->len)
            break;
        lstrip = false;
        if (s->src[j + 1] == '%')
            return tmpl_fail(s, j, "template blocks ({%% %%}) are not supported");
        if (s->src[j + 1] == '#') {
            if (skip_comment(s, j, &i, &lstrip) < 0)
                return -1;
        } else if (expression(s, j, out, &lstrip) < 0) {
            return -1;
        } else {
            i = s->pos;
        }
    }
    return s->failed ? -1 : 0;
}

/* A JSON object from text (NULL text: {}). */
static json_t *
load_object(const char *text)
{
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : json_object();

    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static void
setup(struct tmpl_state *s, const char *src, struct err *e)
{
    memset(s, 0, sizeof(*s));
    s->src = src;
    s->len = strlen(src);
    s->e = e;
    /* Jinja drops one trailing newline (keep_trailing_newline=False). */
    if (s->len > 0 && src[s->len - 1] == '\n')
        s->len -= 1 + (s->len > 1 && src[s->len - 2] == '\r');
    else if (s->len > 0 && src[s->len - 1] == '\r')
        s->len--;
}

/* Check src with no context (see template.h). */
int
tmpl_check(const char *src, const char *params_json, size_t *offset, struct err *e)
{
    struct tmpl_state s;
    int rc;

    setup(&s, src, e);
    s.params = load_object(params_json);
    if (s.params == NULL)
        rc = err_set(e, ERR_PARSE, "params are not a JSON object");
    else
        rc = run(&s, NULL);
    if (rc < 0 && offset != NULL)
        *offset = s.eoff;
    json_decref(s.params);
    return rc;
}

/* Render src in ctx (see template.h). */
int
tmpl_render(const char *src, const struct tmpl_ctx *ctx, char **out, struct err *e)
{
    struct tmpl_state s;
    struct tmpl_sb b = {0};
    int rc = -1;

    *out = NULL;
    setup(&s, src, e);
    s.ctx = ctx;
    if ((s.params = load_object(ctx->params_json)) == NULL)
        err_set(e, ERR_PARSE, "params are not a JSON object");
    else if ((s.conf = load_object(ctx->conf_json)) == NULL)
        err_set(e, ERR_PARSE, "the run's conf is not a JSON object");
    else if (tmpl_sb_add(&b, "", 0), run(&s, &b) == 0 && !b.oom)
        rc = 0;
    else if (b.oom)
        err_set(e, ERR_FAIL, "out of memory");
    json_decref(s.params);
    json_decref(s.conf);
    if (rc == 0)
        *out = b.p;
    else
        free(b.p);
    return rc;
}

/* Whether src has "{{", "{#" or "{%". */
int
tmpl_has_syntax(const char *src)
{
    return src != NULL && next_tag(src, strlen(src), 0) < strlen(src);
}

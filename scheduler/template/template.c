/* template: a small Jinja interpreter for the subset in template.h.
 *
 * No syntax tree: the text is copied out, and each {{ expression }} is read by a
 * recursive-descent parser that evaluates as it goes; what must not be evaluated (a branch
 * not taken, the lazy side of and/or/if) is read in skip mode, and a for body is read again
 * per item (template_block.c). Checking (tmpl_check) is the same pass without a context:
 * values only known when a try starts (conf, XComs, variables, params' run values) are "any",
 * on which every operation succeeds, and branches that depend on them are read in skip mode;
 * everything else, including unknown names, attributes, filters and functions, fails exactly
 * as it would when rendering.
 *
 * Values are jansson JSON plus a few kinds of our own (dates, timedeltas, context objects,
 * functions, "undefined"). Undefined is Jinja's StrictUndefined, which Airflow uses: a missing key
 * is only an error when it is used, so `| default(...)` can catch it. Invariant: the first error
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

/* Two-character operators first, then single ones. */
static int
lex_op(struct tmpl_state *s, struct tmpl_tok *t, const char *p, size_t left)
{
    static const char *const two[] = {"//", "==", "!=", "<=", ">="};
    static const enum tmpl_tk two_k[] = {T_DSLASH, T_EQ, T_NE, T_LE, T_GE};
    static const char single[] = ".[]()|~,=-+*/%<>";
    static const enum tmpl_tk kinds[] = {T_DOT,   T_LBRACK,  T_RBRACK, T_LPAREN, T_RPAREN, T_PIPE,
                                         T_TILDE, T_COMMA,   T_ASSIGN, T_MINUS,  T_PLUS,   T_STAR,
                                         T_SLASH, T_PERCENT, T_LT,     T_GT};
    const char *hit;

    for (size_t i = 0; left >= 2 && i < sizeof(two) / sizeof(two[0]); i++)
        if (p[0] == two[i][0] && p[1] == two[i][1]) {
            t->k = two_k[i];
            s->pos += 2;
            return 0;
        }
    if (left >= 2 && p[0] == '*' && p[1] == '*')
        return tmpl_fail(s, s->pos, "operator '**' is not supported");
    if (*p != '\0' && (hit = strchr(single, *p)) != NULL) {
        t->k = kinds[hit - single];
        s->pos++;
        return 0;
    }
    if (*p == '!')
        return tmpl_fail(s, s->pos, "operator '!' is not supported (use 'not')");
    if (isprint((unsigned char)*p))
        return tmpl_fail(s, s->pos, "unexpected character '%c'", *p);
    return tmpl_fail(s, s->pos, "unexpected character \\x%02x", (unsigned char)*p);
}

static int
lex_punct(struct tmpl_state *s, struct tmpl_tok *t)
{
    const char *p = s->src + s->pos;
    size_t left = s->len - s->pos;

    if (left >= 2 && (p[0] == '}' || p[0] == '%') && p[1] == '}')
        return t->k = p[0] == '}' ? T_END : T_BEND, s->pos += 2, 0;
    if (left >= 3 && p[0] == '-' && (p[1] == '}' || p[1] == '%') && p[2] == '}')
        return t->k = p[1] == '}' ? T_END : T_BEND, t->strip = true, s->pos += 3, 0;
    return lex_op(s, t, p, left);
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
        return s->src[s->open + 1] == '%'
                   ? tmpl_fail(s, s->open, "unclosed '{%%' (no matching '%%}')")
                   : tmpl_fail(s, s->open, "unclosed '{{' (no matching '}}')");
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

/* Whether the next word in the source (after s->tok) is w. */
bool
tmpl_peek_word(const struct tmpl_state *s, const char *w)
{
    size_t p = s->pos, n = strlen(w);

    while (p < s->len && isspace((unsigned char)s->src[p]))
        p++;
    return p + n <= s->len && memcmp(s->src + p, w, n) == 0 &&
           (p + n == s->len || !(isalnum((unsigned char)s->src[p + n]) || s->src[p + n] == '_'));
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
    for (const char *p = strstr(src, "if"); p != NULL && !s->has_if; p = strstr(p + 1, "if"))
        s->has_if = (p == src || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
                    !(isalnum((unsigned char)p[2]) || p[2] == '_');
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
        rc = tmpl_body(&s, NULL, NULL, NULL);
    if (rc < 0 && offset != NULL)
        *offset = s.eoff;
    tmpl_locals_pop(&s, 0);
    free(s.locals);
    tok_clear(&s.tok);
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
    else if (tmpl_sb_add(&b, "", 0), tmpl_body(&s, &b, NULL, NULL) == 0 && !b.oom)
        rc = 0;
    else if (b.oom)
        err_set(e, ERR_FAIL, "out of memory");
    tmpl_locals_pop(&s, 0);
    free(s.locals);
    tok_clear(&s.tok);
    json_decref(s.params);
    json_decref(s.conf);
    if (rc == 0)
        *out = b.p;
    else
        free(b.p);
    return rc;
}

/* sqltext: splitting SQL text, psycopg2 placeholders to $n, identifier quoting (see
 * sqltext.h).
 *
 * One scanner (skip_region) knows where a string, quoted identifier, comment or dollar
 * quote starts and ends; the splitter and the placeholder rewriter both walk the text with
 * it, so a ';' or a '%s' inside a literal is never taken for syntax. Key invariant: the
 * rewriter never copies a parameter's value into the text, it only renumbers placeholders. */
#include "sqltext.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer ----------------------------------------------------------------------------- */

static bool
buf_reserve(struct sqlbuf *b, size_t extra)
{
    size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 64;
    char *p;

    if (b->failed)
        return false;
    if (need <= b->cap)
        return true;
    while (cap < need)
        cap *= 2;
    if ((p = realloc(b->s, cap)) == NULL) {
        b->failed = true;
        return false;
    }
    b->s = p;
    b->cap = cap;
    return true;
}

void
sqlbuf_addn(struct sqlbuf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void
sqlbuf_add(struct sqlbuf *b, const char *s)
{
    sqlbuf_addn(b, s, strlen(s));
}

void
sqlbuf_addf(struct sqlbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
sqlbuf_json_str(struct sqlbuf *b, const char *s)
{
    sqlbuf_add(b, "\"");
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        size_t plain = strcspn(p, "\"\\\b\f\n\r\t\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f"
                                  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d"
                                  "\x1e\x1f");
        if (plain > 0) {
            sqlbuf_addn(b, p, plain);
            p += plain - 1;
            continue;
        }
        switch (c) {
        case '"':
            sqlbuf_add(b, "\\\"");
            break;
        case '\\':
            sqlbuf_add(b, "\\\\");
            break;
        case '\n':
            sqlbuf_add(b, "\\n");
            break;
        case '\r':
            sqlbuf_add(b, "\\r");
            break;
        case '\t':
            sqlbuf_add(b, "\\t");
            break;
        default:
            sqlbuf_addf(b, "\\u%04x", c);
            break;
        }
    }
    sqlbuf_add(b, "\"");
}

const char *
sqlbuf_str(const struct sqlbuf *b)
{
    return b->s ? b->s : "";
}

void
sqlbuf_clear(struct sqlbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

/* ---- scanner ---------------------------------------------------------------------------- */

static bool
ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static bool
ident_char(char c)
{
    return ident_start(c) || isdigit((unsigned char)c) || c == '$';
}

/* The end of a quoted run opened at s[i] by q ('\'' or '"'); a doubled q is part of it, and
 * with backslashes a backslash escapes the next byte. Unterminated: the end of the text. */
static size_t
skip_quoted(const char *s, size_t i, char q, bool backslashes)
{
    for (i++; s[i]; i++) {
        if (backslashes && s[i] == '\\' && s[i + 1]) {
            i++;
        } else if (s[i] == q) {
            if (s[i + 1] != q)
                return i + 1;
            i++;
        }
    }
    return i;
}

/* The length of a dollar-quote tag "$tag$" at s[i], or 0 when s[i] does not open one. */
static size_t
dollar_tag(const char *s, size_t i)
{
    size_t j = i + 1;

    if (i > 0 && ident_char(s[i - 1])) /* "a$b" is an identifier */
        return 0;
    if (s[j] != '$' && !ident_start(s[j]))
        return 0; /* "$1" is a parameter */
    while (s[j] != '$' && ident_char(s[j]))
        j++;
    return s[j] == '$' ? j + 1 - i : 0;
}

static size_t
skip_block_comment(const char *s, size_t i)
{
    int depth = 0;

    while (s[i]) {
        if (s[i] == '/' && s[i + 1] == '*') {
            depth++;
            i += 2;
        } else if (s[i] == '*' && s[i + 1] == '/') {
            i += 2;
            if (--depth == 0)
                return i;
        } else {
            i++;
        }
    }
    return i;
}

/* If a string, quoted identifier, comment or dollar quote starts at s[i], the index just
 * after it; else i. *comment tells whether it was a comment. */
static size_t
skip_region(const char *s, size_t i, bool *comment)
{
    size_t tag;

    *comment = false;
    if (s[i] == '\'') {
        bool e = i > 0 && (s[i - 1] == 'e' || s[i - 1] == 'E') && (i < 2 || !ident_char(s[i - 2]));
        return skip_quoted(s, i, '\'', e);
    }
    if (s[i] == '"')
        return skip_quoted(s, i, '"', false);
    if (s[i] == '-' && s[i + 1] == '-') {
        *comment = true;
        return i + strcspn(s + i, "\n");
    }
    if (s[i] == '/' && s[i + 1] == '*') {
        *comment = true;
        return skip_block_comment(s, i);
    }
    if (s[i] == '$' && (tag = dollar_tag(s, i)) > 0) {
        const char *end;
        for (end = s + i + tag; (end = strchr(end, '$')) != NULL; end++)
            if (strncmp(end, s + i, tag) == 0)
                return (size_t)(end - s) + tag;
        return strlen(s);
    }
    return i;
}

bool
sqltext_is_empty(const char *text)
{
    bool comment;

    for (size_t i = 0; text[i];) {
        size_t j = skip_region(text, i, &comment);
        if (j != i && comment) {
            i = j;
            continue;
        }
        if (!isspace((unsigned char)text[i]))
            return false;
        i++;
    }
    return true;
}

/* ---- splitting -------------------------------------------------------------------------- */

/* Append text[from, to) trimmed, unless it holds no statement. */
static int
split_push(const char *text, size_t from, size_t to, char ***list, size_t *n, size_t *cap)
{
    while (from < to && isspace((unsigned char)text[from]))
        from++;
    while (to > from && isspace((unsigned char)text[to - 1]))
        to--;
    char *piece = strndup(text + from, to - from);
    if (piece == NULL)
        return -1;
    if (sqltext_is_empty(piece)) {
        free(piece);
        return 0;
    }
    if (*n + 2 > *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **v = realloc(*list, c * sizeof(*v));
        if (v == NULL) {
            free(piece);
            return -1;
        }
        *list = v;
        *cap = c;
    }
    (*list)[(*n)++] = piece;
    (*list)[*n] = NULL;
    return 0;
}

int
sqltext_split(const char *text, char ***out, size_t *n, struct err *e)
{
    char **list = NULL;
    size_t count = 0, cap = 0, start = 0, i = 0;
    bool comment;

    while (text[i]) {
        size_t j = skip_region(text, i, &comment);
        if (j != i) {
            i = j;
            continue;
        }
        if (text[i] == ';') {
            if (split_push(text, start, i, &list, &count, &cap) < 0)
                goto oom;
            start = i + 1;
        }
        i++;
    }
    if (split_push(text, start, i, &list, &count, &cap) < 0)
        goto oom;
    if (list == NULL && (list = calloc(1, sizeof(*list))) == NULL)
        goto oom;
    *out = list;
    *n = count;
    return 0;
oom:
    sqltext_list_free(list);
    return err_set(e, ERR_FAIL, "split statements: out of memory");
}

void
sqltext_list_free(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* ---- placeholders ----------------------------------------------------------------------- */

/* Copy a region (string, comment...) turning "%%" into "%". */
static void
copy_region(struct sqlbuf *b, const char *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        sqlbuf_addn(b, s + i, 1);
        if (s[i] == '%' && s[i + 1] == '%' && i + 1 < to)
            i++;
    }
}

/* The $k of parameter index idx (named style: one $k per name); 0 when out of memory. */
static size_t
bound_slot(struct sqltext_bound *out, size_t idx, bool reuse, struct err *e)
{
    for (size_t k = 0; reuse && k < out->n; k++)
        if (out->map[k] == idx)
            return k + 1;
    size_t *m = realloc(out->map, (out->n + 1) * sizeof(*m));
    if (m == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return 0;
    }
    out->map = m;
    out->map[out->n++] = idx;
    return out->n;
}

/* Handle the '%' at s[i]; *i moves past what it consumed. */
static int
bind_percent(const char *s, size_t *i, enum sqltext_style style, size_t nvalues,
             const char *const *names, size_t *cursor, struct sqltext_bound *out, struct sqlbuf *b,
             struct err *e)
{
    size_t at = *i, idx, k;

    if (s[at + 1] == '%') {
        sqlbuf_add(b, "%");
        *i = at + 2;
        return 0;
    }
    if (s[at + 1] == 's') {
        if (style != SQLTEXT_LIST)
            return err_set(e, ERR_USAGE,
                           "%%s placeholder at offset %zu, but parameters is a mapping "
                           "(use %%(name)s)",
                           at);
        if (*cursor >= nvalues)
            return err_set(e, ERR_USAGE,
                           "more %%s placeholders than the %zu value(s) of parameters "
                           "(offset %zu)",
                           nvalues, at);
        idx = (*cursor)++;
        *i = at + 2;
    } else if (s[at + 1] == '(') {
        const char *close = strchr(s + at + 2, ')');
        if (close == NULL || close[1] != 's')
            return err_set(e, ERR_USAGE, "unterminated %%(name)s placeholder at offset %zu", at);
        size_t len = (size_t)(close - (s + at + 2));
        if (style != SQLTEXT_NAMED)
            return err_set(e, ERR_USAGE,
                           "%%(%.*s)s placeholder at offset %zu, but parameters is a list "
                           "(use %%s)",
                           (int)len, s + at + 2, at);
        for (idx = 0; idx < nvalues; idx++)
            if (strlen(names[idx]) == len && strncmp(names[idx], s + at + 2, len) == 0)
                break;
        if (idx == nvalues)
            return err_set(e, ERR_USAGE, "parameters has no key '%.*s' for %%(%.*s)s at offset %zu",
                           (int)len, s + at + 2, (int)len, s + at + 2, at);
        *i = (size_t)(close - s) + 2;
    } else {
        return err_set(e, ERR_USAGE,
                       "a lone '%%' at offset %zu: with parameters, write %%%% for a literal "
                       "percent (psycopg2's rule)",
                       at);
    }
    if ((k = bound_slot(out, idx, style == SQLTEXT_NAMED, e)) == 0)
        return -1;
    sqlbuf_addf(b, "$%zu", k);
    return 0;
}

int
sqltext_bind(const char *sql, enum sqltext_style style, size_t nvalues, const char *const *names,
             size_t *cursor, struct sqltext_bound *out, struct err *e)
{
    struct sqlbuf b = {0};
    bool comment;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; sql[i];) {
        size_t j = skip_region(sql, i, &comment);
        if (j != i) {
            copy_region(&b, sql, i, j);
            i = j;
        } else if (sql[i] == '%') {
            if (bind_percent(sql, &i, style, nvalues, names, cursor, out, &b, e) < 0)
                goto fail;
        } else {
            size_t plain = strcspn(sql + i + 1, "%'\"-/$") + 1;
            sqlbuf_addn(&b, sql + i, plain);
            i += plain;
        }
    }
    if (b.failed || (b.s == NULL && (b.s = strdup("")) == NULL)) {
        err_set(e, ERR_FAIL, "out of memory");
        goto fail;
    }
    out->sql = b.s;
    return 0;
fail:
    sqlbuf_clear(&b);
    sqltext_bound_clear(out);
    return -1;
}

void
sqltext_bound_clear(struct sqltext_bound *b)
{
    free(b->sql);
    free(b->map);
    memset(b, 0, sizeof(*b));
}

/* ---- identifiers ------------------------------------------------------------------------ */

/* Append the part name[0, len) quoted; returns -1 for an unterminated quote. */
static int
quote_part(struct sqlbuf *b, const char *p, size_t len)
{
    bool plain = ident_start(p[0]);

    for (size_t i = 0; i < len && plain; i++)
        plain = ident_char(p[i]);
    if (p[0] == '"') {
        size_t i = 1;
        while (i < len && (p[i] != '"' || (i + 1 < len && p[i + 1] == '"')))
            i += p[i] == '"' ? 2 : 1;
        if (i != len - 1) /* the closing quote must be the part's last byte */
            return -1;
        sqlbuf_addn(b, p, len);
        return 0;
    }
    sqlbuf_add(b, "\"");
    for (size_t i = 0; i < len; i++) {
        char c = plain ? (char)tolower((unsigned char)p[i]) : p[i];
        sqlbuf_addn(b, &c, 1);
        if (c == '"')
            sqlbuf_add(b, "\"");
    }
    sqlbuf_add(b, "\"");
    return 0;
}

char *
sqltext_quote_ident(const char *name, struct err *e)
{
    struct sqlbuf b = {0};
    size_t i = 0;

    for (;;) {
        size_t len = name[i] == '"' ? skip_quoted(name, i, '"', false) - i : strcspn(name + i, ".");
        if (len == 0 || quote_part(&b, name + i, len) < 0) {
            sqlbuf_clear(&b);
            err_set(e, ERR_USAGE, "'%s' is not a valid name (empty part or unterminated quote)",
                    name);
            return NULL;
        }
        i += len;
        if (name[i] == '\0')
            break;
        if (name[i] != '.') {
            sqlbuf_clear(&b);
            err_set(e, ERR_USAGE, "'%s' is not a valid name (text after a quoted part)", name);
            return NULL;
        }
        sqlbuf_add(&b, ".");
        i++;
    }
    if (b.failed) {
        sqlbuf_clear(&b);
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    return b.s;
}

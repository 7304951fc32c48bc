/* dagfile_asset: assets (Airflow 3; datasets in Airflow 2.4-2.10) as plain structs, and what
 * the scheduler asks of them: the asset checks Airflow makes, the condition tree of an
 * asset-scheduled DAG (asset_cond_eval, asset_cond_text), dag-factory's condition strings
 * ("(a & b) | c") and every asset a DAG names (dag_assets). The YAML forms that produce them
 * are read in dagfile_assetload.c.
 *
 * Invariants: an asset's uri and name are never NULL once set (dagfile_asset_set); a leaf of a
 * condition owns its asset and its `uri` is the asset's uri pointer; an all / any node built
 * here never holds a kid of its own kind (they are flattened, as Airflow's AssetAll & x is). */
#include "dagfile_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_IDENT 1500 /* Airflow's limit on a uri, name or group */
#define MAX_DEPTH 64   /* nested parentheses in a condition string */

const char *
dagfile_asset_invalid(const char *field, const char *v, char *why, size_t size)
{
    size_t n = strlen(v), i, sl;

    if (n == 0)
        return snprintf(why, size, "the asset's %s cannot be empty", field), why;
    if (n > MAX_IDENT)
        return snprintf(why, size, "the asset's %s cannot exceed 1500 characters", field), why;
    for (i = 0; i < n && isspace((unsigned char)v[i]); i++)
        ;
    if (i == n)
        return snprintf(why, size, "the asset's %s cannot be just whitespace", field), why;
    for (i = 0; i < n; i++)
        if ((unsigned char)v[i] >= 0x80)
            return snprintf(why, size, "the asset's %s must only consist of ASCII characters",
                            field),
                   why;
    if (strcmp(field, "name") == 0 && (strcmp(v, "self") == 0 || strcmp(v, "context") == 0))
        return snprintf(why, size, "'%s' is a name Airflow prohibits for an asset", v), why;
    /* the scheme, as Python's urlsplit finds it: letters, digits, + - . before the first ':' */
    sl = isalpha((unsigned char)v[0]) ? strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                                                  "VWXYZ0123456789+-.")
                                      : 0;
    if (strcmp(field, "uri") == 0 && v[sl] == ':' && sl == 7 && strncasecmp(v, "airflow", 7) == 0)
        return "the URI scheme 'airflow' is reserved by Airflow: use another scheme";
    return NULL;
}

int
dagfile_asset_set(struct dag_asset *a, const char *uri, const char *name, const char *group,
                  const char *extra_json)
{
    dagfile_asset_clear(a);
    a->uri = strdup(uri);
    a->name = strdup(name ? name : uri);
    a->group = strdup(group && *group ? group : "asset");
    a->extra_json = dagfile_strdup(extra_json);
    if (a->uri && a->name && a->group && (extra_json == NULL || a->extra_json))
        return 0;
    dagfile_asset_clear(a);
    return -1;
}

void
dagfile_asset_clear(struct dag_asset *a)
{
    free(a->uri);
    free(a->name);
    free(a->group);
    free(a->extra_json);
    memset(a, 0, sizeof(*a));
}

void
dagfile_assets_free(struct dag_asset *a, size_t n)
{
    for (size_t i = 0; a != NULL && i < n; i++)
        dagfile_asset_clear(&a[i]);
    free(a);
}

struct dag_asset *
dagfile_assets_copy(const struct dag_asset *a, size_t n, bool *ok)
{
    struct dag_asset *o;

    if (n == 0 || a == NULL)
        return NULL;
    if ((o = calloc(n, sizeof(*o))) == NULL) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (dagfile_asset_set(&o[i], a[i].uri, a[i].name, a[i].group, a[i].extra_json) < 0)
            *ok = false;
    return o;
}

void
asset_cond_clear(struct asset_cond *c)
{
    if (c == NULL)
        return;
    dagfile_asset_clear(&c->asset);
    for (size_t i = 0; i < c->n_kids; i++)
        asset_cond_clear(&c->kids[i]);
    free(c->kids);
    memset(c, 0, sizeof(*c));
}

void
asset_cond_free(struct asset_cond *c)
{
    asset_cond_clear(c);
    free(c);
}

int
dagfile_cond_add(struct asset_cond *parent, struct asset_cond *kid)
{
    size_t more = kid->kind == parent->kind ? kid->n_kids : 1;
    struct asset_cond *grown = realloc(parent->kids, (parent->n_kids + more) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    parent->kids = grown;
    if (kid->kind == parent->kind) {
        memcpy(&grown[parent->n_kids], kid->kids, more * sizeof(*grown));
        free(kid->kids);
    } else {
        grown[parent->n_kids] = *kid;
    }
    parent->n_kids += more;
    memset(kid, 0, sizeof(*kid));
    return 0;
}

bool
asset_cond_eval(const struct asset_cond *c, bool (*pending)(const char *uri, void *arg), void *arg)
{
    if (c == NULL)
        return false;
    if (c->kind == ASSET_COND_URI)
        return c->uri != NULL && pending(c->uri, arg);
    if (c->n_kids == 0)
        return false;
    for (size_t i = 0; i < c->n_kids; i++) {
        bool v = asset_cond_eval(&c->kids[i], pending, arg);
        if (c->kind == ASSET_COND_ALL && !v)
            return false;
        if (c->kind == ASSET_COND_ANY && v)
            return true;
    }
    return c->kind == ASSET_COND_ALL;
}

static void
put_cond(FILE *out, const struct asset_cond *c, bool top)
{
    if (c->kind == ASSET_COND_URI) {
        fputs(c->uri ? c->uri : "?", out);
        return;
    }
    if (c->n_kids == 1) {
        put_cond(out, &c->kids[0], top);
        return;
    }
    if (!top)
        fputc('(', out);
    for (size_t i = 0; i < c->n_kids; i++) {
        if (i > 0)
            fputs(c->kind == ASSET_COND_ALL ? " & " : " | ", out);
        put_cond(out, &c->kids[i], false);
    }
    if (!top)
        fputc(')', out);
}

char *
asset_cond_text(const struct asset_cond *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    if (c != NULL)
        put_cond(out, c, true);
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- dag_assets ---- */

struct alist {
    const struct dag_asset **v;
    size_t n, cap;
};

static int
alist_add(struct alist *l, const struct dag_asset *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i]->uri, a->uri) == 0)
            return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        const struct dag_asset **grown = realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        l->v = grown, l->cap = cap;
    }
    l->v[l->n++] = a;
    return 0;
}

static int
alist_cond(struct alist *l, const struct asset_cond *c)
{
    if (c->kind == ASSET_COND_URI)
        return c->asset.uri ? alist_add(l, &c->asset) : 0;
    for (size_t i = 0; i < c->n_kids; i++)
        if (alist_cond(l, &c->kids[i]) < 0)
            return -1;
    return 0;
}

int
dag_assets(const struct dag *dag, const struct dag_asset ***out, size_t *n)
{
    struct alist l = {0};
    int rc = 0;

    if (dag->asset_schedule != NULL)
        rc = alist_cond(&l, dag->asset_schedule);
    for (size_t i = 0; rc == 0 && i < dag->n_tasks; i++) {
        const struct dag_task *t = &dag->tasks[i];
        for (size_t k = 0; rc == 0 && k < t->n_outlets; k++)
            rc = alist_add(&l, &t->outlets[k]);
        for (size_t k = 0; rc == 0 && k < t->n_inlets; k++)
            rc = alist_add(&l, &t->inlets[k]);
    }
    if (rc < 0) {
        free(l.v);
        l.v = NULL, l.n = 0;
    }
    *out = l.v;
    *n = l.n;
    return rc;
}

/* ---- dag-factory's condition strings ---- */

/* dag-factory evaluates the string with Python's parser after turning each operand into a
 * variable: `&` binds tighter than `|`, both left to right; an operand is a name (a Python
 * identifier) or a URI matching its pattern scheme://[A-Za-z0-9-_/.]+. */
struct cparser {
    const char *s;
    size_t pos;
    int depth;
    dagfile_cond_resolve resolve;
    void *arg;
    size_t at; /* where the error is */
    char *msg;
    size_t size;
};

static int perr(struct cparser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct cparser *p, size_t at, const char *fmt, ...)
{
    va_list ap;

    p->at = at;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->size, fmt, ap);
    va_end(ap);
    return -1;
}

static void
skip_ws(struct cparser *p)
{
    while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static bool
is_ident(const char *t, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)t[i]) || t[i] == '_'))
            return false;
    return true;
}

/* dag-factory's URI pattern: [a-zA-Z][a-zA-Z0-9+.-]*://[a-zA-Z0-9\-_/\.]+ */
static bool
is_uri(const char *t, size_t n)
{
    size_t s = 0;

    if (n == 0 || !isalpha((unsigned char)t[0]))
        return false;
    while (s < n && (isalnum((unsigned char)t[s]) || strchr("+.-", t[s]) != NULL))
        s++;
    if (n < s + 4 || strncmp(t + s, "://", 3) != 0)
        return false;
    for (size_t i = s + 3; i < n; i++)
        if (!(isalnum((unsigned char)t[i]) || strchr("-_/.", t[i]) != NULL))
            return false;
    return true;
}

static bool
is_keyword(const char *t)
{
    static const char *const kw[] = {
        "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
        "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
        "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
        "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield",    NULL};
    for (const char *const *k = kw; *k; k++)
        if (strcmp(*k, t) == 0)
            return true;
    return false;
}

/* The operand at p->pos (a run of characters other than spaces, parentheses, & and |). */
static int
operand(struct cparser *p, char *tok, size_t size)
{
    size_t start = p->pos, n = strcspn(p->s + start, " \t\r\n\f\v()&|");

    if (n == 0)
        return p->s[start] ? perr(p, start, "'%c' where an asset is expected", p->s[start])
                           : perr(p, start, "the condition ends where an asset is expected");
    if (n >= size)
        return perr(p, start, "an operand longer than 1500 characters");
    memcpy(tok, p->s + start, n);
    tok[n] = '\0';
    p->pos += n;
    if (strcmp(tok, "and") == 0 || strcmp(tok, "or") == 0 || strcmp(tok, "not") == 0)
        return perr(p, start, "'%s': write & for and, | for or (there is no not)", tok);
    if (is_ident(tok, n) && is_keyword(tok))
        return perr(p, start, "'%s' is a Python keyword, not an asset name", tok);
    if (!is_ident(tok, n) && !is_uri(tok, n))
        return perr(p, start,
                    "'%s' is neither a name (letters, digits, '_') nor a URI dag-factory reads "
                    "(scheme:// then letters, digits, '-', '_', '/', '.'): write the condition "
                    "with __and__ / __or__ and Asset mappings instead",
                    tok);
    return 0;
}

/* One operand as a leaf, its URI resolved. */
static int
leaf(struct cparser *p, struct asset_cond *out)
{
    char tok[MAX_IDENT + 1], why[256] = "", *uri = NULL;
    size_t start = p->pos;
    const char *bad;

    if (operand(p, tok, sizeof(tok)) < 0)
        return -1;
    if (p->resolve != NULL && p->resolve(p->arg, tok, &uri, why, sizeof(why)) < 0)
        return perr(p, start, "%s", why);
    memset(out, 0, sizeof(*out));
    out->kind = ASSET_COND_URI;
    if ((bad = dagfile_asset_invalid("uri", uri ? uri : tok, why, sizeof(why))) != NULL) {
        free(uri);
        return perr(p, start, "%s", bad);
    }
    if (dagfile_asset_set(&out->asset, uri ? uri : tok, NULL, NULL, NULL) < 0) {
        free(uri);
        return perr(p, start, "out of memory");
    }
    free(uri);
    out->uri = out->asset.uri;
    return 0;
}

static int parse_or(struct cparser *p, struct asset_cond *out);

/* What stands where an operator (or the closing parenthesis, when close) should be. */
static int
junk(struct cparser *p, bool close)
{
    const char *w = p->s + p->pos;
    size_t n = strcspn(w, " \t\r\n\f\v()&|");

    if ((n == 3 && strncmp(w, "and", 3) == 0) || (n == 2 && strncmp(w, "or", 2) == 0))
        return perr(p, p->pos, "'%.*s': write & for and, | for or", (int)n, w);
    return perr(p, p->pos, "expected %s here, not '%.40s'", close ? "& | or )" : "& or |", w);
}

static int
parse_atom(struct cparser *p, struct asset_cond *out)
{
    size_t open = p->pos;

    skip_ws(p);
    if (p->s[p->pos] != '(')
        return leaf(p, out);
    open = p->pos++;
    if (++p->depth > MAX_DEPTH)
        return perr(p, open, "more than 64 nested parentheses");
    if (parse_or(p, out) < 0)
        return -1;
    skip_ws(p);
    if (p->s[p->pos] != ')') {
        asset_cond_clear(out);
        return p->s[p->pos] ? junk(p, true) : perr(p, open, "this ( is never closed");
    }
    p->pos++;
    p->depth--;
    return 0;
}

/* first (op next)* into out, op being `&` (kind ALL) or `|` (kind ANY). */
static int
parse_chain(struct cparser *p, struct asset_cond *out, char op, enum asset_cond_kind kind,
            int (*sub)(struct cparser *, struct asset_cond *))
{
    struct asset_cond first, next, acc = {.kind = kind};

    if (sub(p, &first) < 0)
        return -1;
    skip_ws(p);
    if (p->s[p->pos] != op) {
        *out = first;
        return 0;
    }
    if (dagfile_cond_add(&acc, &first) < 0)
        goto oom;
    while (skip_ws(p), p->s[p->pos] == op) {
        p->pos++;
        if (sub(p, &next) < 0)
            goto fail;
        if (dagfile_cond_add(&acc, &next) < 0) {
            asset_cond_clear(&next);
            goto oom;
        }
    }
    *out = acc;
    return 0;
oom:
    perr(p, p->pos, "out of memory");
fail:
    asset_cond_clear(&first);
    asset_cond_clear(&acc);
    return -1;
}

static int
parse_and(struct cparser *p, struct asset_cond *out)
{
    return parse_chain(p, out, '&', ASSET_COND_ALL, parse_atom);
}

static int
parse_or(struct cparser *p, struct asset_cond *out)
{
    return parse_chain(p, out, '|', ASSET_COND_ANY, parse_and);
}

int
dagfile_cond_parse(const char *text, dagfile_cond_resolve resolve, void *arg,
                   struct asset_cond *out, size_t *at, char *msg, size_t size)
{
    struct cparser p = {text, 0, 0, resolve, arg, 0, msg, size};

    memset(out, 0, sizeof(*out));
    if (parse_or(&p, out) < 0) {
        *at = p.at;
        return -1;
    }
    skip_ws(&p);
    if (text[p.pos] != '\0') {
        asset_cond_clear(out);
        junk(&p, false);
        *at = p.at;
        return -1;
    }
    return 0;
}

bool
asset_cond_names(const struct asset_cond *c, const char *uri)
{
    if (c->kind == ASSET_COND_URI)
        return c->uri && strcmp(c->uri, uri) == 0;
    for (size_t i = 0; i < c->n_kids; i++)
        if (asset_cond_names(&c->kids[i], uri))
            return true;
    return false;
}

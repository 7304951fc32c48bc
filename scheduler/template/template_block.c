/* template_block: the template's text and tags: {{ expressions }}, {# comments #} and the
 * blocks {% if %}/{% elif %}/{% else %}/{% endif %}, {% for x in seq %}/{% else %}/
 * {% endfor %} and {% set x = expr %}, with Jinja's whitespace control ('-' at a tag's edge
 * strips the whitespace on that side).
 *
 * Still one pass over the source: a branch not taken is read in skip mode (checked for
 * syntax and names, nothing evaluated, written or assigned); a for body is read again from
 * its start for each item. When checking (no context), a branch whose condition is only known
 * when a try starts, and the body of a loop over such a value, are read in skip mode. Bounds:
 * blocks nest at most TMPL_DEPTH_MAX deep, a render runs at most TMPL_ITER_MAX loop iterations and
 * writes at most TMPL_SIZE_MAX bytes; beyond them it fails with an error, so no DAG can hang the
 * scheduler. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

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

/* Whether src has "{{", "{#" or "{%". */
int
tmpl_has_syntax(const char *src)
{
    return src != NULL && next_tag(src, strlen(src), 0) < strlen(src);
}

/* A comment at j ("{#"): s->pos after "#}", s->lstrip when it ends with "-#}". */
static int
skip_comment(struct tmpl_state *s, size_t j)
{
    for (size_t k = j + 2; k + 1 < s->len; k++)
        if (s->src[k] == '#' && s->src[k + 1] == '}') {
            s->lstrip = k > j + 2 && s->src[k - 1] == '-';
            s->pos = k + 2;
            return 0;
        }
    return tmpl_fail(s, j, "unclosed comment ('{#' with no matching '#}')");
}

/* One {{ expression }} at j: evaluate and write it. */
static int
expression(struct tmpl_state *s, size_t j, struct tmpl_sb *out)
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
    s->lstrip = s->tok.strip;
    rc = TMPL_SKIPPING(s) ? 0 : tmpl_val_str(s, &v, out);
out:
    tmpl_val_clear(&v);
    return rc;
}

/* The current token must be "%}": the tag ends (and may strip what follows). */
static int
finish_tag(struct tmpl_state *s)
{
    if (s->tok.k != T_BEND)
        return tmpl_fail(s, s->tok.off, "expected '%%}' here");
    s->lstrip = s->tok.strip;
    return 0;
}

/* A branch's body up to one of stops: written when take, else skipped. */
static int
branch(struct tmpl_state *s, struct tmpl_sb *out, bool take, const char *const *stops, char **stop)
{
    int rc;

    if (take)
        return tmpl_body(s, out, stops, stop);
    s->skip++;
    rc = tmpl_body(s, NULL, stops, stop);
    s->skip--;
    return rc;
}

/* The condition after if/elif (s->tok is the keyword): whether its branch runs. Once a
 * condition held, or was only known when a try starts (checking), the later conditions and
 * branches are read in skip mode: a check reports no more than a render could meet. */
static int
condition(struct tmpl_state *s, bool *done, bool *take)
{
    struct tmpl_val c = {.k = V_ANY};
    bool skip = *done || TMPL_SKIPPING(s);
    int rc;

    if (skip)
        s->skip++;
    rc = tmpl_next(s) < 0 || tmpl_expr(s, &c) < 0 || tmpl_raise(s, &c) < 0 ? -1 : 0;
    if (skip)
        s->skip--;
    *take = rc == 0 && !skip && c.k != V_ANY && tmpl_truthy(&c);
    *done |= *take || c.k == V_ANY;
    tmpl_val_clear(&c);
    return rc < 0 ? -1 : finish_tag(s);
}

/* {% if %} ... {% endif %} (s->tok is "if"). */
static int
block_if(struct tmpl_state *s, struct tmpl_sb *out, size_t open)
{
    static const char *const stops[] = {"elif", "else", "endif", NULL}, *const end[] = {"endif",
                                                                                        NULL};
    bool done = false, take = false, in_else = false;
    char *stop = NULL;

    if (condition(s, &done, &take) < 0)
        return -1;
    for (;;) {
        if (branch(s, out, take, in_else ? end : stops, &stop) < 0)
            return -1;
        if (stop == NULL)
            return tmpl_fail(s, open, "'{%% if %%}' has no matching '{%% endif %%}'");
        if (strcmp(stop, "endif") == 0)
            return tmpl_next(s) < 0 ? -1 : finish_tag(s);
        if (strcmp(stop, "elif") == 0) {
            if (condition(s, &done, &take) < 0)
                return -1;
            continue;
        }
        in_else = true;
        take = !done && !TMPL_SKIPPING(s);
        if (tmpl_next(s) < 0 || finish_tag(s) < 0)
            return -1;
    }
}

/* The items a for loop walks: a list, a mapping's keys, a string's characters. */
static int
loop_items(struct tmpl_state *s, struct tmpl_val *seq, json_t **items, size_t off)
{
    const json_t *j = seq->j;

    *items = NULL;
    if (tmpl_raise(s, seq) < 0)
        return -1;
    if (seq->k == V_ANY || TMPL_SKIPPING(s))
        return 0;
    if (seq->k != V_JSON || !(json_is_array(j) || json_is_object(j) || json_is_string(j)))
        return tmpl_fail(s, off, "a for loop needs a list, a mapping or a string");
    if (json_is_array(j))
        return *items = json_incref(seq->j), 0;
    if ((*items = json_array()) == NULL)
        return tmpl_fail(s, off, "out of memory");
    if (json_is_object(j)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)j, k, x) json_array_append_new(*items, json_string(k));
        return 0;
    }
    const char *p = json_string_value(j);
    size_t n = json_string_length(j);
    for (size_t i = 0, w; i < n; i += w) {
        for (w = 1; i + w < n && ((unsigned char)p[i + w] & 0xC0) == 0x80; w++)
            ;
        json_array_append_new(*items, json_stringn_nocheck(p + i, w));
    }
    return 0;
}

/* The loop variables of one for loop: `for x in` or `for k, v in` (unpacking). */
#define LOOP_VARS_MAX 8
struct loop_vars {
    char *name[LOOP_VARS_MAX];
    size_t n;
};

/* Bind the loop variables to item (stolen): the item itself for one variable, else its
 * elements, which must be as many (Python's unpacking); V_ANY (checking) binds each to any. */
static int
bind_vars(struct tmpl_state *s, const struct loop_vars *v, struct tmpl_val *item)
{
    size_t off = s->tok.off;
    int rc = 0;

    if (v->n == 1)
        return tmpl_local_set(s, v->name[0], item, off);
    if (item->k == V_JSON && (!json_is_array(item->j) || json_array_size(item->j) != v->n))
        rc = tmpl_fail(s, off, "for: cannot unpack an item into %zu variables", v->n);
    for (size_t k = 0; rc == 0 && k < v->n; k++) {
        struct tmpl_val x = {.k = V_ANY};
        if (item->k == V_JSON)
            rc = tmpl_val_json(s, &x, json_incref(json_array_get(item->j, k)), off);
        if (rc == 0)
            rc = tmpl_local_set(s, v->name[k], &x, off);
    }
    tmpl_val_clear(item);
    return rc;
}

/* One pass over a for body with the variables bound to item (stolen; V_ANY: checking). */
static int
loop_pass(struct tmpl_state *s, struct tmpl_sb *out, const struct loop_vars *var,
          struct tmpl_val *item, long long i, long long n, bool take, char **stop)
{
    static const char *const stops[] = {"else", "endfor", NULL};
    size_t base = s->nlocals, scope = s->scope;
    struct tmpl_val loop = {.k = V_OBJ, .id = O_LOOP, .loop_i = i, .loop_n = n};
    int rc;

    s->scope = base;
    rc = bind_vars(s, var, item);
    if (rc == 0)
        rc = tmpl_local_set(s, "loop", &loop, s->tok.off);
    if (rc == 0 && ++s->iters > TMPL_ITER_MAX)
        rc = tmpl_fail(s, s->open, "more than %d loop iterations in one template", TMPL_ITER_MAX);
    if (rc == 0)
        rc = branch(s, out, take, stops, stop);
    tmpl_locals_pop(s, base);
    s->scope = scope;
    return rc;
}

/* "for NAME[, NAME...] in seq %}" (s->tok is "for"): *var and *items (NULL: not known). */
static int
loop_head(struct tmpl_state *s, struct loop_vars *var, json_t **items)
{
    struct tmpl_val seq = {.k = V_ANY};
    size_t off;
    int rc;

    do {
        if (tmpl_next(s) < 0)
            return -1;
        if (s->tok.k != T_NAME || strcmp(s->tok.str, "loop") == 0)
            return tmpl_fail(s, s->tok.off, "expected the loop variable's name here");
        if (var->n == LOOP_VARS_MAX)
            return tmpl_fail(s, s->tok.off, "more than %d loop variables", LOOP_VARS_MAX);
        var->name[var->n++] = s->tok.str;
        s->tok.str = NULL;
        if (tmpl_next(s) < 0)
            return -1;
    } while (s->tok.k == T_COMMA);
    if (s->tok.k != T_NAME || strcmp(s->tok.str, "in") != 0)
        return tmpl_fail(s, s->tok.off, "expected 'in' here (for x in ... or for k, v in ...)");
    if (tmpl_next(s) < 0)
        return -1;
    off = s->tok.off;
    rc = tmpl_or_expr(s, &seq) < 0 ? -1 : loop_items(s, &seq, items, off);
    tmpl_val_clear(&seq);
    if (rc == 0 && s->tok.k == T_NAME && strcmp(s->tok.str, "if") == 0)
        return tmpl_fail(s, s->tok.off, "'for ... if' filters are not supported");
    return rc < 0 ? -1 : finish_tag(s);
}

/* {% for %} ... [{% else %} ...] {% endfor %} (s->tok is "for"). */
static int
block_for(struct tmpl_state *s, struct tmpl_sb *out, size_t open)
{
    static const char *const end[] = {"endfor", NULL};
    struct loop_vars var = {{NULL}, 0};
    char *stop = NULL;
    json_t *items = NULL;
    bool skip = TMPL_SKIPPING(s);
    int rc = loop_head(s, &var, &items);
    size_t n = items ? json_array_size(items) : 0, body = s->pos;
    bool lstrip = s->lstrip;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct tmpl_val item = {.k = V_ANY};
        s->pos = body;
        s->lstrip = lstrip;
        rc = tmpl_val_json(s, &item, json_incref(json_array_get(items, i)), s->tok.off);
        if (rc == 0)
            rc = loop_pass(s, out, &var, &item, (long long)i, (long long)n, true, &stop);
    }
    if (rc == 0 && n == 0) {
        struct tmpl_val item = {.k = V_ANY};
        rc = loop_pass(s, out, &var, &item, 0, -1, false, &stop);
    }
    if (rc == 0 && stop != NULL && strcmp(stop, "else") == 0) {
        rc = tmpl_next(s) < 0 || finish_tag(s) < 0 ? -1 : 0;
        if (rc == 0)
            rc = branch(s, out, items != NULL && n == 0 && !skip, end, &stop);
    }
    if (rc == 0 && stop == NULL)
        rc = tmpl_fail(s, open, "'{%% for %%}' has no matching '{%% endfor %%}'");
    if (rc == 0)
        rc = tmpl_next(s) < 0 ? -1 : finish_tag(s);
    for (size_t k = 0; k < var.n; k++)
        free(var.name[k]);
    json_decref(items);
    return rc;
}

/* {% set NAME = expr %} (s->tok is "set"). */
static int
block_set(struct tmpl_state *s)
{
    struct tmpl_val v = {.k = V_ANY};
    char *name = NULL;
    size_t off;
    int rc = -1;

    if (tmpl_next(s) < 0)
        return -1;
    if (s->tok.k != T_NAME || strcmp(s->tok.str, "loop") == 0)
        return tmpl_fail(s, s->tok.off, "expected a variable name after 'set'");
    name = s->tok.str;
    s->tok.str = NULL;
    off = s->tok.off;
    if (tmpl_next(s) == 0 && s->tok.k != T_ASSIGN)
        tmpl_fail(s, s->tok.off,
                  "expected '=' here ({%% set %%} ... {%% endset %%} blocks "
                  "are not supported)");
    else if (!s->failed && tmpl_next(s) == 0 && tmpl_expr(s, &v) == 0 && finish_tag(s) == 0) {
        /* skipped: a render assigns nothing; a check declares the name, value unknown */
        if (TMPL_SKIPPING(s))
            tmpl_val_clear(&v);
        rc = TMPL_SKIPPING(s) && s->ctx != NULL ? 0 : tmpl_local_set(s, name, &v, off);
    }
    tmpl_val_clear(&v);
    free(name);
    return rc;
}

/* A {% tag %} at j: 1 when it is one of stops (then *stop is set and s->tok is its keyword). */
static int
tag(struct tmpl_state *s, size_t j, struct tmpl_sb *out, const char *const *stops, char **stop)
{
    static const char *const closers[] = {"elif", "else", "endif", "endfor"};
    int rc;

    s->open = j;
    s->pos = j + 2 + (j + 2 < s->len && s->src[j + 2] == '-');
    if (tmpl_next(s) < 0)
        return -1;
    if (s->tok.k != T_NAME)
        return tmpl_fail(s, s->tok.off, "expected a tag name (if, for, set ...) here");
    for (size_t k = 0; stops != NULL && stops[k] != NULL; k++)
        if (strcmp(s->tok.str, stops[k]) == 0)
            return *stop = (char *)stops[k], 1;
    for (size_t k = 0; k < sizeof(closers) / sizeof(closers[0]); k++)
        if (strcmp(s->tok.str, closers[k]) == 0)
            return tmpl_fail(s, s->tok.off, "unexpected '{%% %s %%}' (no open block it belongs to)",
                             closers[k]);
    if (s->blocks >= TMPL_DEPTH_MAX)
        return tmpl_fail(s, j, "blocks nested more than %d levels deep", TMPL_DEPTH_MAX);
    s->blocks++;
    if (strcmp(s->tok.str, "if") == 0)
        rc = block_if(s, out, j);
    else if (strcmp(s->tok.str, "for") == 0)
        rc = block_for(s, out, j);
    else if (strcmp(s->tok.str, "set") == 0)
        rc = block_set(s);
    else
        rc = tmpl_fail(s, s->tok.off,
                       "unknown tag '{%% %s %%}' (supported: if, elif, else, endif, for, "
                       "endfor, set)",
                       s->tok.str);
    s->blocks--;
    return rc;
}

/* Text and tags from s->pos to the end of the template (stops NULL), or to a {% tag %} whose
 * keyword is in stops (NULL-terminated): then *stop is that keyword (NULL at the end of the
 * template) and s->tok the keyword's token. */
int
tmpl_body(struct tmpl_state *s, struct tmpl_sb *out, const char *const *stops, char **stop)
{
    if (stop != NULL)
        *stop = NULL;
    while (!s->failed) {
        size_t j = next_tag(s->src, s->len, s->pos), start = s->pos, end = j;
        int rc;
        if (s->lstrip)
            while (start < end && isspace((unsigned char)s->src[start]))
                start++;
        if (j + 2 < s->len && s->src[j + 2] == '-')
            while (end > start && isspace((unsigned char)s->src[end - 1]))
                end--;
        emit_text(out, s->src + start, end - start);
        s->lstrip = false;
        if (out != NULL && out->n > TMPL_SIZE_MAX)
            return tmpl_fail(s, j, "the rendered template is larger than %u bytes", TMPL_SIZE_MAX);
        if (j >= s->len)
            return 0;
        if (s->src[j + 1] == '#')
            rc = skip_comment(s, j);
        else if (s->src[j + 1] == '{')
            rc = expression(s, j, out);
        else if ((rc = tag(s, j, out, stops, stop)) == 1)
            return 0;
        if (rc < 0)
            return -1;
    }
    return -1;
}

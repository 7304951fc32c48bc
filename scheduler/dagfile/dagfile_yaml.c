/* dagfile_yaml: YAML text -> a tree of ynodes with line:col, through libyaml's event API.
 *
 * The only file of gust that includes <yaml.h>. The tree is built without recursion (an
 * explicit stack of open containers), nesting is capped, and aliases are expanded as copies
 * under a global node budget, so hostile input (deep nesting, "billion laughs") ends in a
 * diagnostic, not a stack overflow or an exhausted memory. $VAR expansion is applied to each
 * scalar, as dag-factory applies os.path.expandvars to the file text, so positions stay right.
 * Invariant: every node reachable from the root is owned by exactly one parent. */
#include "dagfile_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 200
#define MAX_NODES 250000

struct anchor {
    char *name;
    struct ynode *node;
};

struct open {
    struct ynode *node;
    size_t cap;
};

struct builder {
    struct open stack[MAX_DEPTH];
    size_t depth;
    struct anchor *anchors;
    size_t n_anchors;
    size_t nodes; /* nodes made so far, copies included */
    struct ynode *root;
    struct ynode **dead; /* removed by merge keys; kept until the end: anchors may point in */
    size_t n_dead;
    int docs;
    char *msg;
    size_t msgsize;
    int line, col;
};

static int fail(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b->msg, b->msgsize, fmt, ap);
    va_end(ap);
    b->line = (int)m->line + 1;
    b->col = (int)m->column + 1;
    return -1;
}

void
ynode_free(struct ynode *n)
{
    /* Recursive: trees come from the builder, whose nesting is capped at MAX_DEPTH. */
    size_t count;

    if (n == NULL)
        return;
    count = n->kind == YN_MAP ? 2 * n->n : n->kind == YN_SEQ ? n->n : 0;
    for (size_t i = 0; i < count; i++)
        ynode_free(n->items[i]);
    free(n->str);
    free(n->items);
    free(n);
}

static size_t
ynode_count(const struct ynode *n)
{
    size_t total = 1;
    size_t count = n->kind == YN_MAP ? 2 * n->n : n->kind == YN_SEQ ? n->n : 0;

    for (size_t i = 0; i < count; i++)
        total += ynode_count(n->items[i]);
    return total;
}

struct ynode *
ynode_copy(const struct ynode *n)
{
    struct ynode *c = calloc(1, sizeof(*c));
    size_t count = n->kind == YN_MAP ? 2 * n->n : n->kind == YN_SEQ ? n->n : 0;

    if (c == NULL)
        return NULL;
    c->kind = n->kind;
    c->line = n->line;
    c->col = n->col;
    c->quoted = n->quoted;
    if (n->str != NULL && (c->str = strdup(n->str)) == NULL)
        goto fail;
    if (count > 0 && (c->items = calloc(count, sizeof(*c->items))) == NULL)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        if ((c->items[i] = ynode_copy(n->items[i])) == NULL)
            goto fail;
        c->n = n->kind == YN_MAP ? (i + 1) / 2 : i + 1; /* only complete entries are freed */
    }
    return c;
fail:
    ynode_free(c);
    return NULL;
}

static struct ynode *
node_new(struct builder *b, enum ynode_kind kind, const yaml_mark_t *m)
{
    struct ynode *n;

    if (b->nodes >= MAX_NODES) {
        fail(b, m, "document too large (more than %d nodes)", MAX_NODES);
        return NULL;
    }
    if ((n = calloc(1, sizeof(*n))) == NULL) {
        fail(b, m, "out of memory");
        return NULL;
    }
    b->nodes++;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

/* Append a finished node to the innermost open container (or make it the root). Takes
 * ownership of n even on failure. */
static int
attach(struct builder *b, struct ynode *n, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        if (b->root != NULL) {
            ynode_free(n);
            return fail(b, m, "expected a single document in the stream");
        }
        b->root = n;
        return 0;
    }
    struct open *o = &b->stack[b->depth - 1];
    if (o->node->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 8;
        struct ynode **items = realloc(o->node->items, cap * sizeof(*items));
        if (items == NULL) {
            ynode_free(n);
            return fail(b, m, "out of memory");
        }
        o->node->items = items;
        o->cap = cap;
    }
    o->node->items[o->node->n++] = n; /* maps count items here, pairs once closed */
    return 0;
}

static int
add_anchor(struct builder *b, const yaml_char_t *name, struct ynode *n, const yaml_mark_t *m)
{
    struct anchor *a;

    if (name == NULL)
        return 0;
    a = realloc(b->anchors, (b->n_anchors + 1) * sizeof(*a));
    if (a == NULL)
        return fail(b, m, "out of memory");
    b->anchors = a;
    a[b->n_anchors].name = strdup((const char *)name);
    if (a[b->n_anchors].name == NULL)
        return fail(b, m, "out of memory");
    a[b->n_anchors++].node = n;
    return 0;
}

static int
on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yaml_mark_t *m = &ev->start_mark;

    for (size_t i = b->n_anchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) != 0)
            continue;
        for (size_t d = 0; d < b->depth; d++)
            if (b->stack[d].node == b->anchors[i].node)
                return fail(b, m, "alias *%s refers to a node that contains it", name);
        size_t size = ynode_count(b->anchors[i].node);
        if (size > MAX_NODES - b->nodes)
            return fail(b, m, "document too large (more than %d nodes after aliases)", MAX_NODES);
        struct ynode *c = ynode_copy(b->anchors[i].node);
        if (c == NULL)
            return fail(b, m, "out of memory");
        b->nodes += size;
        c->line = (int)m->line + 1;
        c->col = (int)m->column + 1;
        return attach(b, c, m);
    }
    return fail(b, m, "unknown alias *%s", name);
}

static int
on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    struct ynode *n = node_new(b, YN_SCALAR, &ev->start_mark);

    if (n == NULL)
        return -1;
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0);
    n->str = dagfile_expandvars((const char *)ev->data.scalar.value);
    if (n->str == NULL) {
        ynode_free(n);
        return fail(b, &ev->start_mark, "out of memory");
    }
    if (add_anchor(b, ev->data.scalar.anchor, n, &ev->start_mark) < 0) {
        ynode_free(n);
        return -1;
    }
    return attach(b, n, &ev->start_mark);
}

static int
on_start(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind)
{
    const yaml_char_t *anchor =
        kind == YN_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    struct ynode *n;

    if (b->depth == MAX_DEPTH)
        return fail(b, &ev->start_mark, "nesting deeper than %d levels", MAX_DEPTH);
    if ((n = node_new(b, kind, &ev->start_mark)) == NULL)
        return -1;
    if (add_anchor(b, anchor, n, &ev->start_mark) < 0) {
        ynode_free(n);
        return -1;
    }
    b->stack[b->depth].node = n;
    b->stack[b->depth].cap = 0;
    b->depth++;
    return 0;
}

/* Keep n until the builder ends (an anchor may refer to it or to a node inside it). */
static int
bury(struct builder *b, struct ynode *n, const yaml_mark_t *m)
{
    struct ynode **d = realloc(b->dead, (b->n_dead + 1) * sizeof(*d));

    if (d == NULL) {
        ynode_free(n); /* no anchor will be used any more: parsing stops */
        return fail(b, m, "out of memory");
    }
    b->dead = d;
    b->dead[b->n_dead++] = n;
    return 0;
}

static bool
is_merge_key(const struct ynode *k)
{
    return k->kind == YN_SCALAR && !k->quoted && strcmp(k->str, "<<") == 0;
}

/* The sources of a "<<" merge key, checked: a mapping or a list of mappings. */
static int
merge_sources(struct builder *b, const struct ynode *src, const yaml_mark_t *m)
{
    if (src->kind == YN_MAP)
        return 0;
    if (src->kind == YN_SEQ) {
        for (size_t i = 0; i < src->n; i++)
            if (src->items[i]->kind != YN_MAP)
                goto bad;
        return 0;
    }
bad:
    return fail(b, m, "merge key '<<' needs a mapping or a list of mappings");
}

static bool
has_scalar_key(struct ynode *const *items, size_t pairs, const struct ynode *k)
{
    if (k->kind != YN_SCALAR)
        return false;
    for (size_t i = 0; i < pairs; i++)
        if (items[2 * i]->kind == YN_SCALAR && strcmp(items[2 * i]->str, k->str) == 0)
            return true;
    return false;
}

/* Add copies of the pairs of one source mapping that neither the explicit pairs nor an
 * earlier source gave, to out (room for them is already there). */
static int
merge_one(struct builder *b, const struct ynode *map, const struct ynode *one, struct ynode **out,
          size_t *n_out, const yaml_mark_t *m)
{
    for (size_t i = 0; i < one->n; i++) {
        const struct ynode *k = ymap_key(one, i), *v = ymap_val(one, i);
        if (has_scalar_key(map->items, map->n, k) || has_scalar_key(out, *n_out, k))
            continue;
        size_t size = ynode_count(k) + ynode_count(v);
        if (size > MAX_NODES - b->nodes)
            return fail(b, m, "document too large (more than %d nodes after merges)", MAX_NODES);
        b->nodes += size;
        if ((out[2 * *n_out] = ynode_copy(k)) == NULL)
            return fail(b, m, "out of memory");
        if ((out[2 * *n_out + 1] = ynode_copy(v)) == NULL) {
            ynode_free(out[2 * *n_out]);
            return fail(b, m, "out of memory");
        }
        (*n_out)++;
    }
    return 0;
}

/* YAML 1.1 merge keys ("<<: *base" or "<<: [*a, *b]"), as PyYAML does them: the merged pairs
 * come first, explicit keys win, and an earlier source wins over a later one. */
static int
apply_merge(struct builder *b, struct ynode *map, const yaml_mark_t *m)
{
    struct ynode *src = NULL, **out = NULL;
    size_t at = 0, room = 0, n_out = 0;
    int rc = -1;

    for (size_t i = 0; i < map->n; i++)
        if (is_merge_key(ymap_key(map, i)))
            at = i, src = ymap_val(map, i);
    if (src == NULL)
        return 0;
    if (bury(b, map->items[2 * at], m) < 0) {
        ynode_free(src);
        return -1;
    }
    memmove(&map->items[2 * at], &map->items[2 * at + 2],
            (2 * (map->n - at - 1)) * sizeof(*map->items));
    map->n--;
    if (merge_sources(b, src, m) < 0)
        goto out;
    for (size_t i = 0; i < (src->kind == YN_MAP ? 1 : src->n); i++)
        room += (src->kind == YN_MAP ? src : src->items[i])->n;
    if ((out = calloc(2 * (room + map->n) + 1, sizeof(*out))) == NULL) {
        fail(b, m, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < (src->kind == YN_MAP ? 1 : src->n); i++)
        if (merge_one(b, map, src->kind == YN_MAP ? src : src->items[i], out, &n_out, m) < 0)
            goto out;
    memcpy(&out[2 * n_out], map->items, 2 * map->n * sizeof(*out));
    free(map->items);
    map->items = out;
    map->n += n_out;
    out = NULL;
    rc = 0;
out:
    for (size_t i = 0; out != NULL && i < 2 * n_out; i++)
        ynode_free(out[i]);
    free(out);
    if (bury(b, src, m) < 0)
        rc = -1;
    return rc;
}

static int
on_end(struct builder *b, const yaml_event_t *ev)
{
    struct ynode *n = b->stack[--b->depth].node;

    if (n->kind == YN_MAP) {
        n->n /= 2; /* libyaml always sends key/value pairs */
        if (apply_merge(b, n, &ev->start_mark) < 0) {
            ynode_free(n);
            return -1;
        }
    }
    return attach(b, n, &ev->start_mark);
}

static int
on_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1)
            return fail(b, &ev->start_mark, "expected a single document in the stream");
        return 0;
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, YN_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, YN_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b, ev);
    default:
        return 0;
    }
}

static void
builder_clear(struct builder *b)
{
    /* Open containers are attached to their parent only once closed, so each one still on
     * the stack is freed on its own. An open mapping counts items, not pairs, and may end
     * with a key that has no value yet. */
    while (b->depth > 0) {
        struct ynode *n = b->stack[--b->depth].node;
        if (n->kind == YN_MAP) {
            if (n->n % 2 == 1)
                ynode_free(n->items[n->n - 1]);
            n->n /= 2;
        }
        ynode_free(n);
    }
    for (size_t i = 0; i < b->n_anchors; i++)
        free(b->anchors[i].name);
    free(b->anchors);
    for (size_t i = 0; i < b->n_dead; i++)
        ynode_free(b->dead[i]);
    free(b->dead);
}

/* The place of byte `offset` of text as libyaml counts places: lines split at "\n", "\r\n"
 * or "\r", columns in characters (the bytes before offset are valid UTF-8: the reader stops
 * at the first bad one). */
static yaml_mark_t
offset_mark(const char *text, size_t len, size_t offset)
{
    yaml_mark_t m = {.index = offset};

    for (size_t i = 0; i < offset && i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n' || (ch == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
            m.line++;
            m.column = 0;
        } else if ((ch & 0xC0) != 0x80 && ch != '\r') {
            m.column++;
        }
    }
    return m;
}

static void
parser_problem(struct builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    yaml_mark_t m = p->problem_mark;

    if (p->error == YAML_READER_ERROR) {
        /* libyaml gives the reader's problem as a byte offset, not a mark */
        m = offset_mark(text, len, p->problem_offset);
        if (p->problem_value >= 0)
            fail(b, &m, "invalid YAML: %s (byte 0x%02x)", p->problem ? p->problem : "bad text",
                 (unsigned)p->problem_value & 0xFF);
        else
            fail(b, &m, "invalid YAML: %s", p->problem ? p->problem : "unreadable text");
        return;
    }
    if (p->context != NULL)
        fail(b, &m, "invalid YAML: %s (%s)", p->problem ? p->problem : "syntax error", p->context);
    else
        fail(b, &m, "invalid YAML: %s", p->problem ? p->problem : "syntax error");
}

int
ynode_parse(const char *text, size_t len, struct ynode **root, char *msg, size_t msgsize, int *line,
            int *col)
{
    struct builder b = {.msg = msg, .msgsize = msgsize};
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = -1, done = 0;

    *root = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(msg, msgsize, "out of memory");
        *line = *col = 0;
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            parser_problem(&b, &parser, text, len);
            goto out;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        int r = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (r < 0)
            goto out;
    }
    *root = b.root;
    b.root = NULL;
    rc = 0;
out:
    if (rc < 0) {
        *line = b.line;
        *col = b.col;
    }
    ynode_free(b.root);
    builder_clear(&b);
    yaml_parser_delete(&parser);
    return rc;
}

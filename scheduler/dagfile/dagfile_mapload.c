/* dagfile_mapload: a task's `partial:`, `expand:`, `expand_kwargs:` and `map_index_template:`
 * (dag-factory's syntax for Airflow's dynamic task mapping) -> struct dag_map
 * (docs/dag-files.md, "Dynamic task mapping").
 *
 * `partial` keys are merged into the task's own keys before anything is read, so defaults,
 * the key table and every check apply to them as to plain keys. Each `expand` argument is a
 * literal list or an upstream's XCom (`<task_id>.output`, or dag-factory's
 * `XComArg(<task_id>)`); the references become upstream edges in dagfile_link. Invariant:
 * an argument is mapped only when the operator's table of mappable arguments (dagfile_map.c)
 * has it, and it is never also in partial or a key of the task. */
#include "dagfile_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dag-factory's own task keys: they describe the task, never an operator argument. */
static bool
factory_key(const char *k)
{
    static const char *const keys[] = {"operator", "task_id", "dependencies",  "task_group_name",
                                       "partial",  "expand",  "expand_kwargs", "decorator"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

/* Check partial's keys against the task's own. */
static int
partial_keys(struct loadctx *c, const struct ynode *map, const struct ynode *p, const char *sid)
{
    int bad = 0;

    for (size_t i = 0; i < p->n; i++) {
        const struct ynode *k = ymap_key(p, i);
        if (k->kind != YN_SCALAR) {
            dagfile_error(c, k, "task '%s': partial keys must be argument names", sid);
            bad = -1;
        } else if (factory_key(k->str)) {
            dagfile_error(c, k,
                          "task '%s': '%s' is dag-factory's and goes on the task, not in "
                          "partial",
                          sid, k->str);
            bad = -1;
        } else if (ymap_get(map, k->str) != NULL) {
            dagfile_error(c, k,
                          "task '%s': '%s' is both in partial and a key of the task "
                          "(dag-factory refuses it): keep one",
                          sid, k->str);
            bad = -1;
        }
    }
    return bad;
}

int
dagfile_map_partial(struct loadctx *c, const struct ynode *map, const char *sid,
                    struct ynode **merged)
{
    const struct ynode *p = ymap_get(map, "partial");
    struct ynode *m, **items;

    *merged = NULL;
    if (p == NULL || ynode_is_null(p))
        return 0;
    if (p->kind != YN_MAP) {
        dagfile_error(c, p,
                      "task '%s': partial must be a mapping of the arguments every instance "
                      "shares, not %s",
                      sid, ynode_what(p));
        return -1;
    }
    if (ymap_get(map, "expand") == NULL && ymap_get(map, "expand_kwargs") == NULL) {
        dagfile_error(c, p,
                      "task '%s': partial without expand (dag-factory needs both): add "
                      "expand, or move these keys onto the task",
                      sid);
        return -1;
    }
    if (partial_keys(c, map, p, sid) < 0)
        return -1;
    if ((m = ynode_copy(map)) == NULL ||
        (items = realloc(m->items, 2 * (m->n + p->n) * sizeof(*items))) == NULL) {
        ynode_free(m);
        dagfile_error(c, p, "out of memory");
        return -1;
    }
    m->items = items;
    for (size_t i = 0; i < 2 * p->n; i += 2) {
        if ((items[2 * m->n] = ynode_copy(p->items[i])) == NULL ||
            (items[2 * m->n + 1] = ynode_copy(p->items[i + 1])) == NULL) {
            ynode_free(items[2 * m->n]);
            ynode_free(m);
            dagfile_error(c, p, "out of memory");
            return -1;
        }
        m->n++;
    }
    *merged = m;
    return 0;
}

/* The task id of a reference "<id>.output" or "XComArg(<id>)" (dag-factory also spells it
 * XcomArg), as a new string; NULL when s is not one. */
static char *
parse_ref(const char *s)
{
    size_t n;
    char *id = NULL;

    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n > 7 && strncmp(s + n - 7, ".output", 7) == 0)
        id = strndup(s, n - 7);
    else if (n > 9 && (strncmp(s, "XComArg(", 8) == 0 || strncmp(s, "XcomArg(", 8) == 0) &&
             s[n - 1] == ')') {
        const char *in = s + 8, *end = s + n - 1;
        while (in < end && (isspace((unsigned char)*in) || *in == '\'' || *in == '"'))
            in++;
        while (end > in && (isspace((unsigned char)end[-1]) || end[-1] == '\'' || end[-1] == '"'))
            end--;
        id = strndup(in, (size_t)(end - in));
    }
    if (id != NULL && !dagfile_valid_id(id)) {
        free(id);
        id = NULL;
    }
    return id;
}

/* One source: a literal list (its JSON) or a reference (its task id). what names it. */
static int
read_source(struct loadctx *c, const struct ynode *v, struct dag_map_arg *a, const char *sid,
            const char *what)
{
    if (v->kind == YN_SEQ) {
        if ((a->items = ynode_json(v)) == NULL)
            return dagfile_error(c, v, "out of memory"), -1;
        return 0;
    }
    if (v->kind == YN_SCALAR && !ynode_is_null(v) && (a->xcom_task = parse_ref(v->str)) != NULL)
        return 0;
    dagfile_error(c, v,
                  "task '%s': %s must be a list, or '<task_id>.output' (or "
                  "'XComArg(<task_id>)') for an upstream task's return value, not %s%s",
                  sid, what, ynode_what(v),
                  v->kind == YN_MAP ? " (a value every instance shares goes in partial)" : "");
    return -1;
}

/* Whether argument k may be mapped on this task: the operator maps it, and it is not set in
 * partial or on the task (map: the task's keys with partial merged in). */
static int
check_arg(struct loadctx *c, const struct ynode *map, const struct ynode *k, enum op_kind op,
          const char *sid)
{
    const char *why;
    char names[512];

    if (k->kind != YN_SCALAR)
        return dagfile_error(c, k, "task '%s': expand keys must be argument names", sid), -1;
    if (ymap_get(ymap_get(map, "partial"), k->str) != NULL)
        dagfile_error(c, k,
                      "task '%s': argument '%s' is both in partial and in expand "
                      "(dag-factory refuses it): keep it in one",
                      sid, k->str);
    else if (ymap_get(map, k->str) != NULL)
        dagfile_error(c, k,
                      "task '%s': argument '%s' is both a key of the task and in expand: "
                      "remove one (a value every instance shares goes on the task or in "
                      "partial)",
                      sid, k->str);
    else if (dagfile_map_takes(k->str, op))
        return 0;
    else if (dagfile_key_class(k->str, KL_TASK, (int)op, &why) == KEY_REFUSED)
        dagfile_error(c, k, "task '%s': expand: key '%s' is not supported for %s: %s", sid, k->str,
                      op_kind_name(op), why);
    else {
        dagfile_map_list(op, names, sizeof(names));
        dagfile_error(c, k,
                      "task '%s': argument '%s' cannot be mapped: gust needs it before an "
                      "instance exists (%s maps %s); set it on the task or in partial",
                      sid, k->str, op_kind_name(op), names);
    }
    return -1;
}

static int
read_expand(struct loadctx *c, const struct ynode *map, const struct ynode *ex, struct dag_task *t,
            const char *sid)
{
    char what[300];
    int bad = 0;

    if (ex->kind != YN_MAP || ex->n == 0) {
        dagfile_error(c, ex,
                      "task '%s': expand must be a mapping of argument: list (or "
                      "<task_id>.output), not %s",
                      sid, ex->kind == YN_MAP ? "an empty mapping" : ynode_what(ex));
        return -1;
    }
    if ((t->map->args = calloc(ex->n, sizeof(*t->map->args))) == NULL)
        return dagfile_error(c, ex, "out of memory"), -1;
    for (size_t i = 0; i < ex->n; i++) {
        const struct ynode *k = ymap_key(ex, i);
        struct dag_map_arg *a = &t->map->args[t->map->n_args];
        if (check_arg(c, map, k, t->op, sid) < 0) {
            bad = -1;
            continue;
        }
        for (size_t j = 0; j < t->map->n_args; j++)
            if (strcmp(t->map->args[j].name, k->str) == 0) {
                dagfile_error(c, k, "task '%s': argument '%s' appears twice in expand", sid,
                              k->str);
                return -1;
            }
        if ((a->name = strdup(k->str)) == NULL)
            return dagfile_error(c, k, "out of memory"), -1;
        t->map->n_args++;
        snprintf(what, sizeof(what), "expand argument '%s'", k->str);
        bad |= read_source(c, ymap_val(ex, i), a, sid, what);
    }
    return bad;
}

/* expand_kwargs (Airflow's, a gust extension to dag-factory): a reference, or a literal list
 * of mappings whose keys are checked like expand's. */
static int
read_kwargs(struct loadctx *c, const struct ynode *map, const struct ynode *kw, struct dag_task *t,
            const char *sid)
{
    int bad = 0;

    t->map->kwargs = true;
    if ((t->map->args = calloc(1, sizeof(*t->map->args))) == NULL)
        return dagfile_error(c, kw, "out of memory"), -1;
    t->map->n_args = 1;
    for (size_t i = 0; kw->kind == YN_SEQ && i < kw->n; i++) {
        const struct ynode *it = kw->items[i];
        if (it->kind != YN_MAP) {
            dagfile_error(c, it,
                          "task '%s': each expand_kwargs item must be a mapping (the "
                          "arguments of one instance), not %s",
                          sid, ynode_what(it));
            bad = -1;
            continue;
        }
        for (size_t j = 0; j < it->n; j++)
            bad |= check_arg(c, map, ymap_key(it, j), t->op, sid);
    }
    return bad | read_source(c, kw, &t->map->args[0], sid, "expand_kwargs");
}

int
dagfile_map_read(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid)
{
    const struct ynode *map = ch->maps[0], *ex = ymap_get(map, "expand"),
                       *kw = ymap_get(map, "expand_kwargs");
    int bad;

    if (ex != NULL && ynode_is_null(ex))
        ex = NULL;
    if (kw != NULL && ynode_is_null(kw))
        kw = NULL;
    if (ex == NULL && kw == NULL)
        return 0;
    if (ex != NULL && kw != NULL) {
        dagfile_error(c, kw, "task '%s': set either expand or expand_kwargs, not both", sid);
        return -1;
    }
    if ((t->map = calloc(1, sizeof(*t->map))) == NULL)
        return dagfile_error(c, map, "out of memory"), -1;
    bad = ex ? read_expand(c, map, ex, t, sid) : read_kwargs(c, map, kw, t, sid);
    bad |= dagfile_read_str(c, dagfile_cget(ch, "map_index_template"), "map_index_template",
                            &t->map->index_template);
    return bad;
}

/* Bind item k of a literal source as an instance would be; an error is recorded at `at`. */
static int
check_item(struct loadctx *c, const struct dag_task *t, const struct dag_map_arg *a, json_t *item,
           const struct ynode *at)
{
    struct dag_task inst;
    struct err e = {0};
    json_t *values = a->name ? json_pack("{sO}", a->name, item) : json_incref(item);
    int rc = -1;

    if (values == NULL)
        dagfile_error(c, at, "out of memory");
    else if (dag_task_bind(t, values, &inst, &e) < 0)
        dagfile_error(c, at, "%s", e.msg);
    else
        rc = 0;
    if (rc == 0)
        dag_task_clear(&inst);
    json_decref(values);
    return rc;
}

/* The templates of one literal item (a value, or for expand_kwargs a mapping of them). */
static int
item_templates(struct loadctx *c, const struct dag_map_arg *a, const struct ynode *it,
               enum op_kind op, size_t k, const char *params)
{
    char path[320];
    int bad = 0;

    if (a->name != NULL) {
        snprintf(path, sizeof(path), "%s[%zu]", a->name, k);
        return dagfile_map_templated(a->name, op)
                   ? dagfile_check_tree_templates(c, it, path, params)
                   : 0;
    }
    for (size_t i = 0; it->kind == YN_MAP && i < it->n; i++) {
        const struct ynode *key = ymap_key(it, i);
        if (key->kind != YN_SCALAR || !dagfile_map_templated(key->str, op))
            continue;
        snprintf(path, sizeof(path), "expand_kwargs[%zu].%s", k, key->str);
        bad |= dagfile_check_tree_templates(c, ymap_val(it, i), path, params);
    }
    return bad;
}

int
dagfile_map_check_items(struct loadctx *c, const struct ynode *map, const struct dag_task *t,
                        const char *sid, const char *params)
{
    struct dag_task named = *t; /* shallow: only read, to name the task by sid */
    int bad = 0;

    named.task_id = (char *)sid;
    for (size_t i = 0; t->map != NULL && i < t->map->n_args; i++) {
        const struct dag_map_arg *a = &t->map->args[i];
        const struct ynode *src =
            a->name ? ymap_get(ymap_get(map, "expand"), a->name) : ymap_get(map, "expand_kwargs");
        const json_t *items = a->items;

        for (size_t k = 0; items != NULL && src != NULL && k < json_array_size(items); k++) {
            bad |= check_item(c, &named, a, json_array_get(items, k), src->items[k]);
            bad |= item_templates(c, a, src->items[k], t->op, k, params);
        }
    }
    return bad;
}

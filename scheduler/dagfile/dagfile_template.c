/* dagfile_template: the templated fields of a task, checked when the DAG loads, so that a bad
 * template is an import error at its place (file:line:col of the offending byte), as Airflow
 * reports a template it cannot compile.
 *
 * Which fields are templated follows each operator's template_fields in Airflow
 * (docs/architecture.md, "Semantics"); the engine is gust's own (scheduler/template). Places
 * are exact for one-line scalars and best effort for block scalars. */
#include "dagfile_int.h"

#include <stdio.h>
#include <string.h>

#include "template/template.h"

static const char *
key_text(const struct ynode *k)
{
    return k->kind == YN_SCALAR ? k->str : "(not a string)";
}

/* file:line:col of byte off of scalar n's text. Exact for a one-line scalar (a quote adds
 * one column; escapes and $VAR expansion are not undone). A block scalar starts on the line
 * after its indicator; its column assumes the content indented at indent (best effort). */
static void
template_place(const struct ynode *n, size_t off, int indent, struct ynode *at)
{
    const char *nl = NULL;

    at->line = n->line;
    at->col = n->col;
    for (size_t i = 0; i < off; i++)
        if (n->str[i] == '\n')
            at->line++, nl = n->str + i;
    if (n->quoted && strchr(n->str, '\n') != NULL) {
        at->line++;
        at->col = indent + (int)(off - (nl ? (size_t)(nl + 1 - n->str) : 0));
    } else {
        at->col = n->col + (int)off + (n->quoted ? 1 : 0);
    }
}

/* One templated value (strings with template syntax only). */
static int
check_template(struct loadctx *c, const struct ynode *n, const char *field, const char *params,
               int indent)
{
    struct err e = {0};
    struct ynode at = {.kind = YN_SCALAR};
    size_t off = 0;

    if (n == NULL || n->kind != YN_SCALAR || !tmpl_has_syntax(n->str) ||
        tmpl_check(n->str, params, &off, &e) == 0)
        return 0;
    template_place(n, off, indent, &at);
    dagfile_error(c, &at, "template error in %s: %s", field, e.msg);
    return -1;
}

/* The column a block scalar's content most likely starts at: two past its key. */
static int
value_indent(const struct ynode *map, const struct ynode *v)
{
    for (size_t i = 0; map != NULL && map->kind == YN_MAP && i < map->n; i++)
        if (ymap_val(map, i) == v)
            return ymap_key(map, i)->col + 2;
    return v ? v->col : 1;
}

const struct ynode *
dagfile_owner(const struct chain *ch, const struct ynode *v)
{
    for (size_t m = 0; m < ch->n; m++)
        for (size_t i = 0; ch->maps[m]->kind == YN_MAP && i < ch->maps[m]->n; i++)
            if (ymap_val(ch->maps[m], i) == v)
                return ch->maps[m];
    return NULL;
}

int
dagfile_check_template(struct loadctx *c, const struct chain *ch, const struct ynode *n,
                       const char *field, const char *params)
{
    return check_template(c, n, field, params, value_indent(dagfile_owner(ch, n), n));
}

/* Every string in a conf value, at any depth (Airflow renders nested values too). */
static int
check_conf_templates(struct loadctx *c, const struct ynode *n, const char *path, const char *params)
{
    char sub[256];
    int bad = 0;

    if (n->kind == YN_SCALAR)
        return check_template(c, n, path, params, n->col);
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YN_SEQ)
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        else
            snprintf(sub, sizeof(sub), "%s.%s", path, key_text(ymap_key(n, i)));
        bad |=
            check_conf_templates(c, n->kind == YN_SEQ ? n->items[i] : ymap_val(n, i), sub, params);
    }
    return bad;
}

int
dagfile_check_tree_templates(struct loadctx *c, const struct ynode *n, const char *path,
                             const char *params)
{
    return check_conf_templates(c, n, path, params);
}

static int
check_list_templates(struct loadctx *c, const struct ynode *n, const char *what, const char *params)
{
    char field[64];
    int bad = 0;

    for (size_t i = 0; n != NULL && n->kind == YN_SEQ && i < n->n; i++) {
        snprintf(field, sizeof(field), "%s[%zu]", what, i);
        bad |= check_template(c, n->items[i], field, params, n->items[i]->col);
    }
    return bad;
}

/* env values (mapping, or list of {name, value}). */
static int
check_env_templates(struct loadctx *c, const struct ynode *n, const char *what, const char *params)
{
    char field[256];
    int bad = 0;

    for (size_t i = 0; n != NULL && n->kind != YN_SCALAR && i < n->n; i++) {
        const struct ynode *it = n->kind == YN_SEQ ? n->items[i] : NULL;
        const struct ynode *k = it ? ymap_get(it, "name") : ymap_key(n, i);
        const struct ynode *v = it ? ymap_get(it, "value") : ymap_val(n, i);
        snprintf(field, sizeof(field), "%s.%s", what, k && k->kind == YN_SCALAR ? k->str : "?");
        bad |= check_template(c, v, field, params, value_indent(it ? it : n, v));
    }
    return bad;
}

/* Every templated field of a task (docs/architecture.md, "Semantics"). */
int
dagfile_check_task_templates(struct loadctx *c, const struct chain *ch, const struct dag_task *t,
                             const char *params)
{
    const struct ynode *conf = dagfile_oget(ch, t->op, "conf");
    int bad = 0;

    for (size_t i = 0; i < 2; i++) {
        const char *key = i == 0 ? "bash_command" : "trigger_dag_id";
        const struct ynode *n = dagfile_oget(ch, t->op, key);
        const struct ynode *owner = NULL;
        for (size_t m = 0; m < ch->n && owner == NULL; m++)
            if (ymap_get(ch->maps[m], key) == n)
                owner = ch->maps[m];
        bad |= check_template(c, n, key, params, value_indent(owner, n));
    }
    bad |= check_list_templates(c, dagfile_oget(ch, t->op, "cmds"), "cmds", params);
    bad |= check_list_templates(c, dagfile_oget(ch, t->op, "arguments"), "arguments", params);
    bad |= check_env_templates(c, dagfile_oget(ch, t->op, "env"), "env", params);
    bad |= check_env_templates(c, dagfile_oget(ch, t->op, "env_vars"), "env_vars", params);
    if (conf != NULL && conf->kind == YN_MAP)
        bad |= check_conf_templates(c, conf, "conf", params);
    return bad ? -1 : 0;
}

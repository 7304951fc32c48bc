/* dagfile: the dagbag (every DAG that loaded plus every diagnostic), file and folder loading,
 * and the canonical dump used by the data-driven tests (docs/dag-files.md).
 *
 * A file is parsed into a tree (dagfile_yaml.c), `default` is merged under each DAG the way
 * dag-factory's merge_configs does, and each DAG is built on its own (dagfile_build.c,
 * dagfile_graph.c). Invariant: one bad DAG or file never stops the others; a DAG with an
 * error is never in bag->dags, and bag->dags stays sorted by dag_id with unique ids. */
#include "dagfile_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_SIZE (64L << 20)

struct dagbag *
dagbag_new(void)
{
    return calloc(1, sizeof(struct dagbag));
}

void
dag_task_clear(struct dag_task *t)
{
    free(t->task_id);
    free(t->group_id);
    free(t->operator_path);
    free(t->bash_command);
    dagfile_str_list_free(t->bash_command_vars, t->n_bash_command_vars);
    dagfile_str_list_free(t->cmds, t->n_cmds);
    dagfile_str_list_free(t->arguments, t->n_arguments);
    free(t->image);
    free(t->name);
    free(t->namespace);
    dagfile_env_free(t->env, t->n_env);
    free(t->cwd);
    free(t->skip_on_exit_code);
    free(t->trigger_dag_id);
    free(t->conf_json);
    dagfile_sql_free(t->sql);
    dagfile_sensor_free(t->sensor);
    free(t->owner);
    free(t->pool);
    free(t->queue);
    dagfile_str_list_free(t->upstream, t->n_upstream);
    free(t->upstream_idx);
    free(t->downstream_idx);
    dagfile_map_free(t->map);
    dagfile_assets_free(t->outlets, t->n_outlets);
    dagfile_assets_free(t->inlets, t->n_inlets);
    dagfile_notifiers_clear(t->on);
    memset(t, 0, sizeof(*t));
}

void
dag_free(struct dag *dag)
{
    if (dag == NULL)
        return;
    dag_index_clear(dag);
    for (size_t i = 0; i < dag->n_tasks; i++)
        dag_task_clear(&dag->tasks[i]);
    free(dag->tasks);
    free(dag->dag_id);
    free(dag->fileloc);
    free(dag->description);
    free(dag->timezone);
    timetable_spec_clear(&dag->tt);
    free(dag->params_json);
    free(dag->param_schema_json);
    dagfile_str_list_free(dag->tags, dag->n_tags);
    free(dag->owner);
    dagfile_str_list_free(dag->template_searchpath, dag->n_template_searchpath);
    asset_cond_free(dag->asset_schedule);
    dagfile_notifiers_clear(dag->on);
    free(dag);
}

void
dagbag_free(struct dagbag *bag)
{
    if (bag == NULL)
        return;
    for (size_t i = 0; i < bag->n_dags; i++)
        dag_free(bag->dags[i]);
    free(bag->dags);
    for (size_t i = 0; i < bag->n_diags; i++) {
        free(bag->diags[i].file);
        free(bag->diags[i].dag_id);
        free(bag->diags[i].msg);
    }
    free(bag->diags);
    free(bag->root);
    free(bag);
}

void
dagfile_diag(struct loadctx *c, enum diag_level level, const struct ynode *at, const char *fmt, ...)
{
    struct dag_diag d = {.level = level, .line = at ? at->line : 0, .col = at ? at->col : 0};
    struct dag_diag *grown;
    va_list ap;

    if (level == DIAG_ERROR)
        c->errors++;
    va_start(ap, fmt);
    if (vasprintf(&d.msg, fmt, ap) < 0)
        d.msg = NULL;
    va_end(ap);
    d.file = strdup(c->file);
    d.dag_id = dagfile_strdup(c->dag_id);
    grown = realloc(c->bag->diags, (c->bag->n_diags + 1) * sizeof(*grown));
    if (d.msg == NULL || d.file == NULL || (c->dag_id && d.dag_id == NULL) || grown == NULL) {
        free(d.msg), free(d.file), free(d.dag_id);
        if (grown != NULL)
            c->bag->diags = grown;
        return; /* out of memory: the error still counts, its text is lost */
    }
    c->bag->diags = grown;
    c->bag->diags[c->bag->n_diags++] = d;
}

/* Index where dag_id is or would be inserted; *found tells which. */
static size_t
bag_search(const struct dagbag *bag, const char *dag_id, bool *found)
{
    size_t lo = 0, hi = bag->n_dags;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(bag->dags[mid]->dag_id, dag_id);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Put dag at index at (from bag_search); the bag takes it. -1: out of memory, not taken. */
static int
bag_insert(struct dagbag *bag, size_t at, struct dag *dag)
{
    struct dag **grown = realloc(bag->dags, (bag->n_dags + 1) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    bag->dags = grown;
    memmove(&grown[at + 1], &grown[at], (bag->n_dags - at) * sizeof(*grown));
    grown[at] = dag;
    bag->n_dags++;
    return 0;
}

const struct dag *
dagbag_find(const struct dagbag *bag, const char *dag_id)
{
    bool found;
    size_t i;

    if (bag == NULL || dag_id == NULL)
        return NULL;
    i = bag_search(bag, dag_id, &found);
    return found ? bag->dags[i] : NULL;
}

int
dagbag_move(struct dagbag *to, struct dagbag *from, const char *dag_id)
{
    bool found;
    size_t i = bag_search(from, dag_id, &found), at;

    if (!found)
        return 0;
    at = bag_search(to, dag_id, &found);
    if (found)
        return 0;
    if (bag_insert(to, at, from->dags[i]) < 0)
        return -1;
    memmove(&from->dags[i], &from->dags[i + 1], (from->n_dags - i - 1) * sizeof(*from->dags));
    from->n_dags--;
    return 1;
}

const struct dag_task *
dag_find_task(const struct dag *dag, const char *task_id)
{
    long i = dag_task_index(dag, task_id);

    return i < 0 ? NULL : &dag->tasks[i];
}

long
dag_task_index(const struct dag *dag, const char *task_id)
{
    size_t lo = 0, hi;

    if (dag == NULL || task_id == NULL)
        return -1;
    if (dag->by_id == NULL) { /* not indexed (a DAG being built) */
        for (size_t i = 0; i < dag->n_tasks; i++)
            if (strcmp(dag->tasks[i].task_id, task_id) == 0)
                return (long)i;
        return -1;
    }
    for (hi = dag->n_tasks; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(task_id, dag->tasks[dag->by_id[mid]].task_id);

        if (c == 0)
            return (long)dag->by_id[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

void
dag_index_clear(struct dag *dag)
{
    for (size_t i = 0; i < dag->n_tasks; i++) {
        free(dag->tasks[i].upstream_idx);
        free(dag->tasks[i].downstream_idx);
        dag->tasks[i].upstream_idx = dag->tasks[i].downstream_idx = NULL;
        dag->tasks[i].n_downstream = 0;
    }
    free(dag->by_id);
    dag->by_id = NULL;
}

static int
index_cmp(const void *a, const void *b, void *dag)
{
    const struct dag_task *t = ((const struct dag *)dag)->tasks;

    return strcmp(t[*(const size_t *)a].task_id, t[*(const size_t *)b].task_id);
}

static int
index_ids(struct dag *dag, struct err *e)
{
    if ((dag->by_id = calloc(dag->n_tasks + 1, sizeof(*dag->by_id))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < dag->n_tasks; i++) {
        if (dag->tasks[i].task_id == NULL)
            return err_set(e, ERR_PARSE, "task %zu has no task_id", i);
        dag->by_id[i] = i;
    }
    qsort_r(dag->by_id, dag->n_tasks, sizeof(*dag->by_id), index_cmp, dag);
    for (size_t i = 1; i < dag->n_tasks; i++)
        if (strcmp(dag->tasks[dag->by_id[i - 1]].task_id, dag->tasks[dag->by_id[i]].task_id) == 0)
            return err_set(e, ERR_PARSE, "duplicate task id '%s'",
                           dag->tasks[dag->by_id[i]].task_id);
    return 0;
}

/* upstream_idx of every task; counts each task's downstream tasks into n_downstream. */
static int
index_upstream(struct dag *dag, struct err *e)
{
    for (size_t i = 0; i < dag->n_tasks; i++) {
        struct dag_task *t = &dag->tasks[i];

        if ((t->upstream_idx = calloc(t->n_upstream + 1, sizeof(size_t))) == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        for (size_t j = 0; j < t->n_upstream; j++) {
            long u = dag_task_index(dag, t->upstream[j] ? t->upstream[j] : "");

            if (u < 0)
                return err_set(e, ERR_NOTFOUND, "task '%s': unknown upstream task '%s'", t->task_id,
                               t->upstream[j] ? t->upstream[j] : "");
            t->upstream_idx[j] = (size_t)u;
            dag->tasks[u].n_downstream++;
        }
    }
    return 0;
}

/* xcom_idx of every mapped argument that takes an upstream's XCom. */
static int
index_xcom(struct dag *dag, struct err *e)
{
    for (size_t i = 0; i < dag->n_tasks; i++) {
        struct dag_map *m = dag->tasks[i].map;

        for (size_t j = 0; m != NULL && j < m->n_args; j++) {
            long u = m->args[j].xcom_task ? dag_task_index(dag, m->args[j].xcom_task) : 0;

            if (u < 0)
                return err_set(e, ERR_NOTFOUND,
                               "task '%s': expand takes the XCom of unknown "
                               "task '%s'",
                               dag->tasks[i].task_id, m->args[j].xcom_task);
            m->args[j].xcom_idx = (size_t)u;
        }
    }
    return 0;
}

static int
index_downstream(struct dag *dag, struct err *e)
{
    for (size_t i = 0; i < dag->n_tasks; i++) {
        struct dag_task *t = &dag->tasks[i];

        if ((t->downstream_idx = calloc(t->n_downstream + 1, sizeof(size_t))) == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        t->n_downstream = 0;
    }
    for (size_t i = 0; i < dag->n_tasks; i++) /* ascending i: each list comes out sorted */
        for (size_t j = 0; j < dag->tasks[i].n_upstream; j++) {
            struct dag_task *u = &dag->tasks[dag->tasks[i].upstream_idx[j]];

            u->downstream_idx[u->n_downstream++] = i;
        }
    return 0;
}

int
dag_index(struct dag *dag, struct err *e)
{
    dag_index_clear(dag);
    if (index_ids(dag, e) < 0 || index_upstream(dag, e) < 0 || index_downstream(dag, e) < 0 ||
        index_xcom(dag, e) < 0 || dagfile_priorities(dag, 0, e) < 0) {
        dag_index_clear(dag);
        return err_prefix(e, "DAG '%s'", dag->dag_id ? dag->dag_id : "?");
    }
    return 0;
}

/* Takes ownership of dag. */
static int
bag_add(struct loadctx *c, struct dag *dag, const struct ynode *key)
{
    bool found;
    size_t at = bag_search(c->bag, dag->dag_id, &found);

    if (found) {
        const struct dag *first = c->bag->dags[at];
        dagfile_error(c, key, "duplicate dag id '%s' (first defined at %s:%d:%d)", dag->dag_id,
                      first->fileloc, first->line, first->col);
        dag_free(dag);
        return -1;
    }
    if (bag_insert(c->bag, at, dag) < 0) {
        dagfile_error(c, key, "out of memory");
        dag_free(dag);
        return -1;
    }
    return 0;
}

/* The DAG's mapping with the folder defaults (defaults.yml) and the file's `default` merged
 * under it (dagfile_defaults.c); NULL when a defaults file is bad (an error) or out of memory. */
static struct ynode *
with_defaults(struct loadctx *c, const struct ynode *root, const struct ynode *v,
              const struct ynode *defaults)
{
    const struct ynode *cfg = ymap_get(v, "defaults_config_path");
    struct ynode *folder, *out;

    if (cfg == NULL)
        cfg = ymap_get(root, "defaults_config_path");
    if (cfg == NULL && defaults != NULL)
        cfg = ymap_get(defaults, "defaults_config_path");
    if (cfg != NULL && cfg->kind != YN_SCALAR) {
        dagfile_error(c, cfg, "defaults_config_path must be a folder name, not %s",
                      ynode_what(cfg));
        return NULL;
    }
    if ((folder = dagfile_folder_defaults(c, cfg && !ynode_is_null(cfg) ? cfg->str : NULL,
                                          cfg ? cfg : v)) == NULL)
        return NULL;
    out = dagfile_apply_defaults(v, defaults, folder);
    ynode_free(folder);
    return out;
}

/* One top-level entry of a file: a DAG id and its definition. */
static void
load_entry(struct loadctx *c, const struct ynode *root, size_t i, const struct ynode *defaults)
{
    const struct ynode *k = ymap_key(root, i), *v = ymap_val(root, i);
    struct ynode *merged = NULL;
    struct dag *dag;
    int before = c->errors;

    if (k->kind != YN_SCALAR || !dagfile_valid_id(k->str)) {
        dagfile_error(c, k, "invalid dag id '%s' (letters, digits, '_', '.', '-'; at most 250)",
                      k->kind == YN_SCALAR ? k->str : "(not a string)");
        return;
    }
    if (strcmp(k->str, "default") == 0 || strcmp(k->str, "defaults_config_path") == 0)
        return;
    c->dag_id = k->str;
    for (size_t j = 0; j < i; j++)
        if (ymap_key(root, j)->kind == YN_SCALAR && strcmp(ymap_key(root, j)->str, k->str) == 0) {
            dagfile_error(c, k, "duplicate dag id '%s' (first defined at line %d)", k->str,
                          ymap_key(root, j)->line);
            goto out;
        }
    if (v->kind == YN_MAP && (v = merged = with_defaults(c, root, v, defaults)) == NULL) {
        if (c->errors == before)
            dagfile_error(c, k, "out of memory");
        goto out;
    }
    if ((dag = dagfile_build_dag(c, k, v)) != NULL)
        bag_add(c, dag, k);
out:
    ynode_free(merged);
    c->dag_id = NULL;
}

static void
load_tree(struct loadctx *c, const struct ynode *root)
{
    const struct ynode *defaults;

    if (root == NULL || ynode_is_null(root)) {
        dagfile_error(c, NULL, "empty file: no DAG definitions");
        return;
    }
    if (root->kind != YN_MAP) {
        dagfile_error(c, root, "the file must be a mapping of dag ids to DAG definitions, not %s",
                      ynode_what(root));
        return;
    }
    defaults = ymap_get(root, "default");
    if (defaults != NULL && ynode_is_null(defaults))
        defaults = NULL;
    if (defaults != NULL && defaults->kind != YN_MAP) {
        dagfile_error(c, defaults, "default must be a mapping, not %s", ynode_what(defaults));
        return;
    }
    for (size_t i = 0; i < root->n; i++)
        load_entry(c, root, i, defaults);
}

int
dagbag_load_string(struct dagbag *bag, const char *name, const char *text, size_t len)
{
    struct loadctx c = {.bag = bag, .file = name};
    struct ynode *root = NULL;
    char msg[256];
    struct ynode at = {0};

    if (ynode_parse(text, len, &root, msg, sizeof(msg), &at.line, &at.col) < 0) {
        dagfile_error(&c, at.line > 0 ? &at : NULL, "%s", msg);
        return c.errors;
    }
    load_tree(&c, root);
    ynode_free(root);
    return c.errors;
}

int
dagbag_load_file(struct dagbag *bag, const char *path)
{
    struct loadctx c = {.bag = bag, .file = path};
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    int rc;

    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0)
        rewind(f);
    if (f == NULL || size < 0 || size > MAX_FILE_SIZE ||
        (text = malloc((size_t)size + 1)) == NULL ||
        fread(text, 1, (size_t)size, f) != (size_t)size) {
        dagfile_error(&c, NULL, "cannot read the file: %s",
                      size > MAX_FILE_SIZE ? "larger than 64 MiB" : strerror(errno ? errno : EIO));
        free(text);
        if (f)
            fclose(f);
        return c.errors;
    }
    fclose(f);
    text[size] = '\0';
    rc = dagbag_load_string(bag, path, text, (size_t)size);
    free(text);
    return rc;
}

int
dagbag_load_folder(struct dagbag *bag, const char *folder, struct err *e)
{
    struct dagfile_walk w;

    if (bag->root == NULL && (bag->root = strdup(folder)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if (dagfile_walk(folder, &w, e) < 0)
        return -1;
    for (size_t i = 0; i < w.n; i++) {
        struct loadctx c = {.bag = bag, .file = w.items[i].path};

        if (w.items[i].config)
            continue;
        if (w.items[i].problem == NULL)
            dagbag_load_file(bag, w.items[i].path);
        else
            dagfile_diag(&c, w.items[i].level, NULL, "%s", w.items[i].problem);
    }
    dagfile_walk_clear(&w);
    return 0;
}

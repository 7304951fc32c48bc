/* dagfile_assetload: dag-factory's YAML forms of assets (Airflow 3) and datasets (Airflow 2)
 * -> struct dag_asset lists on tasks and struct asset_cond on DAGs (docs/dag-files.md,
 * "Assets").
 *
 * Each form is read the way dag-factory builds it, so a file means here what it means there:
 * - outlets / inlets: a list of URI strings (dag-factory turns each into Dataset(uri), on the
 *   task only) and `__type__` Asset / Dataset mappings, or {file, datasets: [names]} naming
 *   entries of a datasets file;
 * - schedule: a list (all of them, Airflow's rule), one Asset mapping, `__and__` / `__or__`
 *   (dag-factory folds them with & and |), AssetAll / AssetAny, builtins.list,
 *   Dataset/AssetOrTimeSchedule (the timetable runs too), and dag-factory's
 *   {datasets: condition, timetable?, file?} where the condition is a string with & | and
 *   parentheses (dagfile_cond_parse), a list (joined with &) or __and__ / __or__ of strings.
 * What cannot work without Python (asset aliases, watchers and their triggers, other classes)
 * is an error at the value saying what to write instead.
 *
 * Invariant: every error goes through dagfile_error at the node concerned; what was read
 * before an error is owned by the task or DAG (dag_task_clear / dag_free free it). */
#include "dagfile_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_DEPTH 64                 /* nested __and__ / __or__ / AssetAll */
#define MAX_DATASETS_FILE (1L << 20) /* bytes of a datasets file */

enum aclass {
    AC_NONE,
    AC_ASSET,
    AC_DATASET,
    AC_ALL,
    AC_ANY,
    AC_ALIAS,
    AC_OR_TIME,
    AC_LIST,
    AC_OTHER
};

static const struct {
    const char *path;
    enum aclass cls;
} classes[] = {
    {"airflow.sdk.Asset", AC_ASSET},
    {"airflow.sdk.definitions.asset.Asset", AC_ASSET},
    {"airflow.sdk.definitions.asset.Dataset", AC_ASSET},
    {"airflow.datasets.Dataset", AC_DATASET},
    {"airflow.sdk.AssetAll", AC_ALL},
    {"airflow.sdk.definitions.asset.AssetAll", AC_ALL},
    {"airflow.datasets.DatasetAll", AC_ALL},
    {"airflow.sdk.AssetAny", AC_ANY},
    {"airflow.sdk.definitions.asset.AssetAny", AC_ANY},
    {"airflow.datasets.DatasetAny", AC_ANY},
    {"airflow.sdk.AssetAlias", AC_ALIAS},
    {"airflow.sdk.definitions.asset.AssetAlias", AC_ALIAS},
    {"airflow.datasets.DatasetAlias", AC_ALIAS},
    {"airflow.timetables.assets.AssetOrTimeSchedule", AC_OR_TIME},
    {"airflow.timetables.datasets.DatasetOrTimeSchedule", AC_OR_TIME},
    {"builtins.list", AC_LIST},
};

#define R_ALIAS                                                                                    \
    "an asset alias is resolved at run time by Python code (outlet_events): name the assets "      \
    "themselves"

/* The class a mapping's __type__ names (AC_NONE: no __type__). */
static enum aclass
aclass_of(const struct ynode *n)
{
    const struct ynode *t = n && n->kind == YN_MAP ? ymap_get(n, "__type__") : NULL;

    if (t == NULL || t->kind != YN_SCALAR)
        return AC_NONE;
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (strcmp(t->str, classes[i].path) == 0)
            return classes[i].cls;
    return AC_OTHER;
}

static const char *
type_name(const struct ynode *n)
{
    const struct ynode *t = ymap_get(n, "__type__");
    return t && t->kind == YN_SCALAR ? t->str : "?";
}

static bool
is_string(const struct ynode *n)
{
    return n != NULL && n->kind == YN_SCALAR && strcmp(ynode_what(n), "a string") == 0;
}

/* ---- one asset ---- */

/* An Asset / Dataset mapping's arguments: name and uri (Asset's positional order; Dataset's
 * one positional is its uri), group, extra. watchers need Airflow's triggers. */
static int
bind_asset(struct loadctx *c, const struct ynode *map, const char *what, const struct ynode *arg[4])
{
    static const char *const names[] = {"name", "uri", "group", "extra"};
    const struct ynode *pos = ymap_get(map, "__args__");
    const char *cls = type_name(map);
    bool dataset = aclass_of(map) == AC_DATASET;

    memset(arg, 0, 4 * sizeof(*arg));
    if (pos != NULL && (pos->kind != YN_SEQ || pos->n > (dataset ? 1u : 2u))) {
        dagfile_error(c, pos, "%s: %s: __args__ must be a list of at most %s", what, cls,
                      dataset ? "one value (the uri; give extra by name)"
                              : "two values (name, uri)");
        return -1;
    }
    for (size_t i = 0; pos != NULL && i < pos->n; i++)
        arg[dataset ? 1 : i] = pos->items[i];
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = ymap_key(map, i);
        size_t a = 0;
        if (k->kind != YN_SCALAR || !strcmp(k->str, "__type__") || !strcmp(k->str, "__args__"))
            continue;
        if (strcmp(k->str, "watchers") == 0) {
            dagfile_error(c, k,
                          "%s: %s: watchers are not supported (an AssetWatcher runs an Airflow "
                          "trigger, which is Python): remove them and record the asset's events "
                          "with `gust assets event URI` from where the change happens",
                          what, cls);
            return -1;
        }
        while (a < 4 && strcmp(names[a], k->str) != 0)
            a++;
        if (a == 4 || arg[a] != NULL) {
            dagfile_error(c, k,
                          a == 4 ? "%s: %s has no argument '%s' (it takes name, uri, group, extra)"
                                 : "%s: %s got two values for argument '%s'",
                          what, cls, k->str);
            return -1;
        }
        arg[a] = ymap_val(map, i);
    }
    return 0;
}

/* One string argument of an asset: a string passing Airflow's checks (NULL stays NULL). */
static int
asset_str(struct loadctx *c, const struct ynode *n, const char *what, const char *cls,
          const char *field, const char **out)
{
    char why[160];
    const char *bad;

    *out = NULL;
    if (n == NULL || ynode_is_null(n))
        return 0;
    if (!is_string(n)) {
        dagfile_error(c, n, "%s: %s: %s must be a string, not %s", what, cls, field, ynode_what(n));
        return -1;
    }
    if ((bad = dagfile_asset_invalid(field, n->str, why, sizeof(why))) != NULL &&
        !(strcmp(field, "group") == 0 && n->str[0] == '\0')) {
        dagfile_error(c, n, "%s: %s: %s", what, cls, bad);
        return -1;
    }
    *out = n->str;
    return 0;
}

/* Airflow rewrites some URIs when it makes an asset (its _sanitize_uri: a lower-case scheme,
 * no user or password, no trailing '/', no fragment); gust keeps a URI as written, so such a
 * URI would name another asset there: a warning says what Airflow changes. */
static void
warn_normal(struct loadctx *c, const struct ynode *at, const char *what, const char *uri)
{
    size_t sl = isalpha((unsigned char)uri[0]) ? strspn(uri, "abcdefghijklmnopqrstuvwxyzABCDEFG"
                                                             "HIJKLMNOPQRSTUVWXYZ0123456789+-.")
                                               : 0;
    const char *rest = uri + sl + 1, *why = NULL;
    size_t path_end, net = 0;

    if (sl == 0 || uri[sl] != ':' || strncasecmp(uri, "x-", 2) == 0)
        return;
    for (size_t i = 0; i < sl && why == NULL; i++)
        if (isupper((unsigned char)uri[i]))
            why = "a lower-case scheme";
    if (strncmp(rest, "//", 2) == 0) {
        net = 2 + strcspn(rest + 2, "/?#");
        if (memchr(rest, '@', net) != NULL)
            why = "no user or password";
    }
    path_end = net + strcspn(rest + net, "?#");
    if (path_end > net + 1 && rest[path_end - 1] == '/')
        why = "no trailing '/'";
    if (strchr(uri, '#') != NULL)
        why = "no #fragment";
    if (why != NULL)
        dagfile_warn(c, at,
                     "%s: Airflow stores '%s' with %s while gust keeps it as written: write "
                     "it in Airflow's form so both name the same asset",
                     what, uri, why);
}

/* The same for every asset of a condition (read from a string at). */
static void
warn_normal_cond(struct loadctx *c, const struct ynode *at, const char *what,
                 const struct asset_cond *cond)
{
    if (cond->kind == ASSET_COND_URI && cond->uri != NULL)
        warn_normal(c, at, what, cond->uri);
    for (size_t i = 0; i < cond->n_kids; i++)
        warn_normal_cond(c, at, what, &cond->kids[i]);
}

/* An Asset / Dataset mapping into *a. */
static int
read_asset_map(struct loadctx *c, const struct ynode *map, const char *what, struct dag_asset *a)
{
    const struct ynode *arg[4];
    const char *cls = type_name(map), *name, *uri, *group;
    char *extra = NULL;
    int rc = -1;

    if (bind_asset(c, map, what, arg) < 0 || asset_str(c, arg[0], what, cls, "name", &name) < 0 ||
        asset_str(c, arg[1], what, cls, "uri", &uri) < 0 ||
        asset_str(c, arg[2], what, cls, "group", &group) < 0)
        return -1;
    if (name == NULL && uri == NULL) {
        dagfile_error(c, map, "%s: %s needs a uri or a name", what, cls);
        return -1;
    }
    if (arg[3] != NULL && !ynode_is_null(arg[3]) && arg[3]->kind != YN_MAP) {
        dagfile_error(c, arg[3], "%s: %s: extra must be a mapping, not %s", what, cls,
                      ynode_what(arg[3]));
        return -1;
    }
    if (arg[3] != NULL && arg[3]->kind == YN_MAP && (extra = ynode_to_json(arg[3])) == NULL)
        return dagfile_error(c, map, "out of memory"), -1;
    /* Airflow: a missing uri is the name, a missing name the uri */
    if (dagfile_asset_set(a, uri ? uri : name, name ? name : uri, group, extra) < 0)
        dagfile_error(c, map, "out of memory");
    else
        rc = 0;
    if (rc == 0)
        warn_normal(c, arg[1] ? arg[1] : arg[0], what, a->uri);
    free(extra);
    return rc;
}

/* A URI string (dag-factory's Dataset(uri): the name is the URI too). */
static int
read_asset_str(struct loadctx *c, const struct ynode *n, const char *what, struct dag_asset *a)
{
    char why[160];
    const char *bad;
    size_t len = strlen(n->str);

    if ((bad = dagfile_asset_invalid("uri", n->str, why, sizeof(why))) != NULL) {
        dagfile_error(c, n, "%s: '%s': %s", what, n->str, bad);
        return -1;
    }
    if (n->str[0] == ' ' || n->str[0] == '\t' || n->str[len - 1] == ' ' ||
        n->str[len - 1] == '\t') {
        dagfile_error(c, n,
                      "%s: '%s' has spaces around it (dag-factory strips them on Airflow 3, not "
                      "on Airflow 2): remove them",
                      what, n->str);
        return -1;
    }
    if (dagfile_asset_set(a, n->str, NULL, NULL, NULL) < 0)
        return dagfile_error(c, n, "out of memory"), -1;
    warn_normal(c, n, what, a->uri);
    return 0;
}

/* One asset of a list: a string when strings is true, else an Asset / Dataset mapping. */
static int
read_asset(struct loadctx *c, const struct ynode *n, const char *what, bool strings,
           const char *no_string, struct dag_asset *a)
{
    enum aclass k = aclass_of(n);

    if (is_string(n) && strings)
        return read_asset_str(c, n, what, a);
    if (is_string(n)) {
        dagfile_error(c, n, "%s: '%s' is a string here: %s", what, n->str, no_string);
        return -1;
    }
    if (k == AC_ASSET || k == AC_DATASET)
        return read_asset_map(c, n, what, a);
    if (k == AC_ALIAS)
        dagfile_error(c, n, "%s: %s is not supported: %s", what, type_name(n), R_ALIAS);
    else if (k != AC_NONE)
        dagfile_error(c, n,
                      "%s: __type__ '%s' is not an asset (use airflow.sdk.Asset or "
                      "airflow.datasets.Dataset)",
                      what, type_name(n));
    else
        dagfile_error(c, n,
                      "%s: each item must be a URI string or a mapping with __type__: "
                      "airflow.sdk.Asset, not %s",
                      what, ynode_what(n));
    return -1;
}

/* ---- dag-factory's datasets file: {datasets: [{name, uri}, ...]} ---- */

struct dsfile {
    struct ynode *root;
    const struct ynode *list; /* its datasets list, or NULL */
    char path[4096];
};

/* The text of a regular file (caller frees; *len its length); NULL with errno on failure. */
static char *
read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *text = NULL;
    bool ok;
    int saved;

    if (f == NULL)
        return NULL;
    ok = fstat(fileno(f), &st) == 0;
    if (ok && (S_ISDIR(st.st_mode) || st.st_size > MAX_DATASETS_FILE))
        errno = S_ISDIR(st.st_mode) ? EISDIR : EFBIG;
    else if (ok && (text = malloc((size_t)st.st_size + 1)) != NULL) {
        *len = fread(text, 1, (size_t)st.st_size, f);
        text[*len] = '\0';
    }
    saved = errno;
    fclose(f);
    errno = saved;
    return text;
}

/* Load the datasets file that fn names: an absolute path, or relative to the DAG file's
 * folder. Errors at fn. */
static int
dsfile_load(struct loadctx *c, const struct ynode *fn, const char *what, struct dsfile *f)
{
    const char *slash = strrchr(c->file, '/');
    char msg[256], *text;
    size_t len = 0;
    int line = 0, col = 0;

    memset(f, 0, sizeof(*f));
    if (!is_string(fn)) {
        dagfile_error(c, fn, "%s: file must be the path of a datasets file, not %s", what,
                      ynode_what(fn));
        return -1;
    }
    if (fn->str[0] == '/' || slash == NULL)
        snprintf(f->path, sizeof(f->path), "%s", fn->str);
    else
        snprintf(f->path, sizeof(f->path), "%.*s/%s", (int)(slash - c->file), c->file, fn->str);
    if ((text = read_text(f->path, &len)) == NULL) {
        dagfile_error(c, fn, "%s: cannot read the datasets file '%s': %s%s", what, f->path,
                      strerror(errno),
                      strchr(fn->str, '$') ? " (an environment variable in it is not set)" : "");
        return -1;
    }
    if (ynode_parse(text, len, &f->root, msg, sizeof(msg), &line, &col) < 0) {
        dagfile_error(c, fn, "%s: the datasets file %s:%d:%d: %s", what, f->path, line, col, msg);
        free(text);
        return -1;
    }
    free(text);
    f->list = f->root && f->root->kind == YN_MAP ? ymap_get(f->root, "datasets") : NULL;
    for (size_t i = 0; f->list && f->list->kind == YN_SEQ && i < f->list->n; i++)
        if (!is_string(ymap_get(f->list->items[i], "name"))) {
            dagfile_error(c, fn,
                          "%s: the datasets file %s:%d:%d: each item of datasets needs a "
                          "name (dag-factory fails without one)",
                          what, f->path, f->list->items[i]->line, f->list->items[i]->col);
            return -1;
        }
    if (f->list != NULL && f->list->kind != YN_SEQ) {
        dagfile_error(c, fn, "%s: the datasets file %s: datasets must be a list of {name, uri}",
                      what, f->path);
        return -1;
    }
    return 0;
}

/* The uri of the entry called name (the last one, as dag-factory's dict keeps), or NULL. */
static const struct ynode *
dsfile_uri(const struct dsfile *f, const char *name)
{
    const struct ynode *uri = NULL;

    for (size_t i = 0; f->list != NULL && i < f->list->n; i++) {
        const struct ynode *it = f->list->items[i], *u = ymap_get(it, "uri");
        if (strcmp(ymap_get(it, "name")->str, name) == 0 && u != NULL)
            uri = u;
    }
    return uri;
}

static int
ds_resolve(void *arg, const char *operand, char **uri, char *msg, size_t size)
{
    const struct dsfile *f = arg;
    const struct ynode *u = dsfile_uri(f, operand);

    if (u == NULL || !is_string(u)) {
        snprintf(msg, size, "'%s' is not the name of a dataset with a uri in %s", operand, f->path);
        return -1;
    }
    if ((*uri = strdup(u->str)) == NULL)
        return snprintf(msg, size, "out of memory"), -1;
    return 0;
}

/* The asset of a uri u read from the datasets file f (errors at map, naming u's place). */
static int
file_asset(struct loadctx *c, const struct ynode *map, const char *what, const struct dsfile *f,
           const struct ynode *u, struct dag_asset *a)
{
    char why[160];
    const char *bad = is_string(u) ? dagfile_asset_invalid("uri", u->str, why, sizeof(why))
                                   : "the uri must be a string";

    if (bad != NULL) {
        dagfile_error(c, map, "%s: the datasets file %s:%d:%d: %s", what, f->path, u->line, u->col,
                      bad);
        return -1;
    }
    if (dagfile_asset_set(a, u->str, NULL, NULL, NULL) < 0)
        return dagfile_error(c, map, "out of memory"), -1;
    warn_normal(c, map, what, a->uri);
    return 0;
}

/* outlets / inlets {file: F, datasets: [names]}: the uris of F's entries so named, in F's
 * order, as dag-factory reads them (a name F lacks gives no asset: a warning). */
static int
read_from_file(struct loadctx *c, const struct ynode *map, const char *what, struct dag_asset **out,
               size_t *n_out)
{
    const struct ynode *names = ymap_get(map, "datasets");
    struct dsfile f;
    int rc = -1;

    if (names == NULL || names->kind != YN_SEQ) {
        dagfile_error(c, names ? names : map, "%s: datasets must be a list of names in the file",
                      what);
        return -1;
    }
    if (dsfile_load(c, ymap_get(map, "file"), what, &f) < 0)
        goto out;
    for (size_t i = 0; i < names->n; i++)
        if (!is_string(names->items[i]) || dsfile_uri(&f, names->items[i]->str) == NULL) {
            dagfile_warn(c, names->items[i],
                         "%s: %s names no dataset with a uri in %s: dag-factory drops it", what,
                         is_string(names->items[i]) ? names->items[i]->str : "this item", f.path);
        }
    if (f.list != NULL && (*out = calloc(f.list->n + 1, sizeof(**out))) == NULL) {
        dagfile_error(c, map, "out of memory");
        goto out;
    }
    rc = 0;
    for (size_t i = 0; f.list != NULL && i < f.list->n && rc == 0; i++) {
        const struct ynode *it = f.list->items[i], *u = ymap_get(it, "uri");
        bool wanted = false;
        for (size_t k = 0; k < names->n && u != NULL; k++)
            wanted |= is_string(names->items[k]) &&
                      !strcmp(names->items[k]->str, ymap_get(it, "name")->str);
        if (wanted && (rc = file_asset(c, map, what, &f, u, &(*out)[*n_out])) == 0)
            (*n_out)++;
    }
out:
    ynode_free(f.root);
    return rc;
}

/* ---- outlets and inlets ---- */

#define R_ARGS_STRING                                                                              \
    "dag-factory turns URI strings into assets only in a task's own outlets and inlets, not in "   \
    "default_args: write it as {__type__: airflow.sdk.Asset, uri: ...}"

static int
read_list(struct loadctx *c, const struct ynode *n, const char *what, bool own,
          struct dag_asset **out, size_t *n_out)
{
    if (n == NULL || ynode_is_null(n))
        return 0;
    if (own && n->kind == YN_MAP && ymap_get(n, "file") && ymap_get(n, "datasets"))
        return read_from_file(c, n, what, out, n_out);
    if (n->kind != YN_SEQ) {
        dagfile_error(c, n, "%s must be a list of URIs or Asset mappings%s, not %s", what,
                      own ? " (or dag-factory's {file: ..., datasets: [names]})" : "",
                      ynode_what(n));
        return -1;
    }
    if (n->n > 0 && (*out = calloc(n->n, sizeof(**out))) == NULL)
        return dagfile_error(c, n, "out of memory"), -1;
    for (size_t i = 0; i < n->n; i++, (*n_out)++)
        if (read_asset(c, n->items[i], what, own, R_ARGS_STRING, &(*out)[i]) < 0)
            return -1;
    return 0;
}

int
dagfile_task_assets(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid)
{
    const struct ynode *o = dagfile_cget(ch, "outlets"), *in = dagfile_cget(ch, "inlets");
    char what[300];
    int bad = 0;

    snprintf(what, sizeof(what), "task '%s': outlets", sid);
    bad |=
        read_list(c, o, what, o && dagfile_owner(ch, o) == ch->maps[0], &t->outlets, &t->n_outlets);
    snprintf(what, sizeof(what), "task '%s': inlets", sid);
    bad |= read_list(c, in, what, in && dagfile_owner(ch, in) == ch->maps[0], &t->inlets,
                     &t->n_inlets);
    return bad ? -1 : 0;
}

/* ---- schedules ---- */

#define R_OBJ_STRING                                                                               \
    "Airflow takes only assets here, and dag-factory does not turn strings into assets in this "   \
    "place: write {__type__: airflow.sdk.Asset, uri: ...}, or put a condition string under "       \
    "schedule: {datasets: ...}"

static int read_cond(struct loadctx *c, const struct ynode *n, const char *what, int depth,
                     struct asset_cond *out);

/* items into an all / any node out (kind set by the caller); strings are assets when strings
 * is true, and null or blank items are dropped as dag-factory drops them from a schedule list. */
static int
read_kids(struct loadctx *c, const struct ynode *items, const char *what, bool strings, int depth,
          struct asset_cond *out)
{
    struct asset_cond kid;

    for (size_t i = 0; i < items->n; i++) {
        const struct ynode *it = items->items[i];
        memset(&kid, 0, sizeof(kid));
        if (strings && (ynode_is_null(it) ||
                        (is_string(it) && strspn(it->str, " \t\r\n") == strlen(it->str)))) {
            dagfile_warn(c, it, "%s: an empty item: dag-factory drops it", what);
            continue;
        }
        if (strings && is_string(it)) {
            kid.kind = ASSET_COND_URI;
            if (read_asset_str(c, it, what, &kid.asset) < 0)
                return -1;
            kid.uri = kid.asset.uri;
        } else if (read_cond(c, it, what, depth + 1, &kid) < 0) {
            return -1;
        }
        if (dagfile_cond_add(out, &kid) < 0) {
            asset_cond_clear(&kid);
            return dagfile_error(c, it, "out of memory"), -1;
        }
    }
    if (out->n_kids == 0) {
        dagfile_error(c, items,
                      "%s: no asset in this list (for a DAG that runs only when "
                      "triggered, use schedule: null)",
                      what);
        return -1;
    }
    return 0;
}

/* dag-factory's {__and__: [...]} / {__or__: [...]}: the items folded with & or |. */
static int
read_fold(struct loadctx *c, const struct ynode *n, const char *what, int depth,
          struct asset_cond *out)
{
    const struct ynode *and = ymap_get(n, "__and__"), *items = and? and : ymap_get(n, "__or__");

    if (n->n != 1) {
        dagfile_error(c, n, "%s: a mapping with %s takes no other key", what,
                      and? "__and__" : "__or__");
        return -1;
    }
    if (items->kind != YN_SEQ || items->n == 0) {
        dagfile_error(c, items, "%s: %s must be a list of assets or conditions, not %s", what,
                      and? "__and__" : "__or__", ynode_what(items));
        return -1;
    }
    out->kind = and? ASSET_COND_ALL : ASSET_COND_ANY;
    if (read_kids(c, items, what, false, depth, out) < 0)
        return -1;
    if (out->n_kids == 1) { /* reduce() of one item is the item */
        struct asset_cond one = out->kids[0];
        free(out->kids);
        *out = one;
    }
    return 0;
}

/* AssetAll / AssetAny (DatasetAll / DatasetAny): their conditions in __args__. */
static int
read_args_cond(struct loadctx *c, const struct ynode *n, const char *what, int depth,
               struct asset_cond *out)
{
    const struct ynode *args = ymap_get(n, "__args__");

    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = ymap_key(n, i);
        if (k->kind != YN_SCALAR || (strcmp(k->str, "__type__") && strcmp(k->str, "__args__"))) {
            dagfile_error(c, k, "%s: %s takes its assets in __args__ only", what, type_name(n));
            return -1;
        }
    }
    if (args == NULL || args->kind != YN_SEQ || args->n == 0) {
        dagfile_error(c, args ? args : n, "%s: %s needs its assets as a list in __args__", what,
                      type_name(n));
        return -1;
    }
    out->kind = aclass_of(n) == AC_ALL ? ASSET_COND_ALL : ASSET_COND_ANY;
    return read_kids(c, args, what, false, depth, out);
}

static int
cond_of(struct loadctx *c, const struct ynode *n, const char *what, int depth,
        struct asset_cond *out)
{
    enum aclass k = aclass_of(n);

    if (depth > MAX_DEPTH) {
        dagfile_error(c, n, "%s: conditions nested more than %d deep", what, MAX_DEPTH);
        return -1;
    }
    if (n->kind == YN_MAP && (ymap_get(n, "__and__") || ymap_get(n, "__or__")))
        return read_fold(c, n, what, depth, out);
    if (k == AC_ALL || k == AC_ANY)
        return read_args_cond(c, n, what, depth, out);
    if (k == AC_OR_TIME || k == AC_LIST || n->kind == YN_SEQ) {
        dagfile_error(c, n, "%s: %s inside a condition: %s", what,
                      k == AC_OR_TIME ? type_name(n) : "a list",
                      k == AC_OR_TIME ? "it can only be the whole schedule"
                                      : "use __and__ (all of them) or __or__ (any of them)");
        return -1;
    }
    out->kind = ASSET_COND_URI;
    if (read_asset(c, n, what, false, R_OBJ_STRING, &out->asset) < 0)
        return -1;
    out->uri = out->asset.uri;
    return 0;
}

/* One condition (or asset) into out; on error out is left empty. */
static int
read_cond(struct loadctx *c, const struct ynode *n, const char *what, int depth,
          struct asset_cond *out)
{
    memset(out, 0, sizeof(*out));
    if (cond_of(c, n, what, depth, out) == 0)
        return 0;
    asset_cond_clear(out);
    return -1;
}

/* The items of a list or of {__type__: builtins.list, items: [...]}. */
static const struct ynode *
list_items(struct loadctx *c, const struct ynode *n, const char *what)
{
    const struct ynode *items = n->kind == YN_SEQ ? n : ymap_get(n, "items");

    if (items == NULL || items->kind != YN_SEQ) {
        dagfile_error(c, items ? items : n, "%s: builtins.list needs items: a list", what);
        return NULL;
    }
    return items;
}

/* The timetable of Dataset/AssetOrTimeSchedule: one of Airflow's timetables. */
static int
read_time(struct loadctx *c, struct dag *dag, const struct ynode *tt, const char *what)
{
    const struct ynode *t = tt->kind == YN_MAP ? ymap_get(tt, "__type__") : NULL;
    char sub[300];

    if (t == NULL || t->kind != YN_SCALAR || strstr(t->str, "timedelta") != NULL) {
        dagfile_error(c, tt,
                      "%s: timetable must be one of Airflow's timetables (a mapping with "
                      "__type__, e.g. airflow.timetables.trigger.CronTriggerTimetable), not %s",
                      what, t ? t->str : ynode_what(tt));
        return -1;
    }
    snprintf(sub, sizeof(sub), "%s: timetable", what);
    dag->asset_or_time = true;
    return dagfile_schedule_map(c, dag, tt, sub);
}

/* AssetOrTimeSchedule(timetable=..., assets=...) / DatasetOrTimeSchedule(..., datasets=...). */
static int
read_or_time(struct loadctx *c, struct dag *dag, const struct ynode *n, const char *what,
             struct asset_cond *out)
{
    const char *akey = strstr(type_name(n), "Dataset") ? "datasets" : "assets";
    const struct ynode *tt = ymap_get(n, "timetable"), *as = ymap_get(n, akey), *items;

    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = ymap_key(n, i);
        if (k->kind != YN_SCALAR ||
            (strcmp(k->str, "__type__") && strcmp(k->str, "timetable") && strcmp(k->str, akey))) {
            dagfile_error(c, k, "%s: %s takes only timetable and %s (by name)", what, type_name(n),
                          akey);
            return -1;
        }
    }
    if (tt == NULL || as == NULL) {
        dagfile_error(c, n, "%s: %s needs timetable and %s", what, type_name(n), akey);
        return -1;
    }
    if (as->kind == YN_SEQ || aclass_of(as) == AC_LIST) {
        out->kind = ASSET_COND_ALL; /* a collection is all of its assets */
        if ((items = list_items(c, as, what)) == NULL ||
            read_kids(c, items, what, false, 0, out) < 0)
            return -1;
    } else if (read_cond(c, as, what, 0, out) < 0) {
        return -1;
    }
    return read_time(c, dag, tt, what);
}

/* dag-factory's text of a datasets value: a string as it is, a list joined with " & ", and
 * __and__ / __or__ of strings joined inside parentheses (its _flatten_logical_expressions). */
static int
flatten(struct loadctx *c, const struct ynode *n, const char *what, bool top, int depth, FILE *out)
{
    const struct ynode *and = n->kind == YN_MAP ? ymap_get(n, "__and__") : NULL,
                       *items = and                 ? and
                                : n->kind == YN_MAP ? ymap_get(n, "__or__")
                                                    : n;

    if (depth > MAX_DEPTH)
        return dagfile_error(c, n, "%s: nested more than %d deep", what, MAX_DEPTH), -1;
    if (is_string(n))
        return fputs(n->str, out), 0;
    if ((n->kind == YN_SEQ && top) || (n->kind == YN_MAP && items != NULL && items != n &&
                                       n->n == 1 && items->kind == YN_SEQ && items->n > 0)) {
        const char *op = n->kind == YN_SEQ || and? " & " : " | ";
        bool paren = n->kind == YN_MAP && items->n > 1;
        if (paren)
            fputc('(', out);
        for (size_t i = 0; i < items->n; i++)
            if ((i > 0 && fputs(op, out) < 0) ||
                flatten(c, items->items[i], what, false, depth + 1, out) < 0)
                return -1;
        if (paren)
            fputc(')', out);
        return 0;
    }
    dagfile_error(c, n,
                  "%s: datasets takes a condition string ('a & (b | c)'), a list of them (all "
                  "of them) or __and__ / __or__ of them, not %s here%s",
                  what, ynode_what(n),
                  aclass_of(n) != AC_NONE ? " (for Asset mappings, use schedule: {__and__: [...]} "
                                            "or a list without datasets:)"
                                          : "");
    return -1;
}

/* A condition error: at its column when the text is the scalar as written on one line. */
static void
cond_error(struct loadctx *c, const struct ynode *n, const char *text, size_t at, const char *what,
           const char *msg)
{
    struct ynode pos = *n;

    if (n->kind == YN_SCALAR && strcmp(text, n->str) == 0 && strchr(text, '\n') == NULL &&
        strchr(text, '\\') == NULL) {
        pos.col = n->col + (n->quoted ? 1 : 0) + (int)at;
        dagfile_error(c, &pos, "%s: %s", what, msg);
    } else {
        dagfile_error(c, n, "%s: in the condition '%s', at character %zu: %s", what, text, at + 1,
                      msg);
    }
}

/* dag-factory's {datasets: condition, timetable?: T} and {file: F, datasets: condition}. */
static int
read_datasets_form(struct loadctx *c, struct dag *dag, const struct ynode *map, const char *what,
                   struct asset_cond *out)
{
    const struct ynode *ds = ymap_get(map, "datasets"), *file = ymap_get(map, "file"),
                       *tt = ymap_get(map, "timetable");
    char *text = NULL, msg[512];
    size_t len = 0, at = 0;
    struct dsfile f = {0};
    FILE *mem;
    int rc = -1;

    if (ds == NULL || ynode_is_null(ds)) {
        dagfile_error(c, map, "%s: file needs datasets (the names of its entries to wait for)",
                      what);
        return -1;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = ymap_key(map, i);
        if (k->kind != YN_SCALAR ||
            (strcmp(k->str, "datasets") && strcmp(k->str, "file") && strcmp(k->str, "timetable")))
            dagfile_warn(c, k,
                         "%s: key '%s' is ignored (dag-factory reads datasets, file and "
                         "timetable here)",
                         what, k->kind == YN_SCALAR ? k->str : "?");
    }
    if ((mem = open_memstream(&text, &len)) == NULL)
        return dagfile_error(c, map, "out of memory"), -1;
    rc = flatten(c, ds, what, true, 0, mem);
    if (fclose(mem) != 0 || text == NULL)
        rc = -1;
    if (rc == 0 && file != NULL && (rc = dsfile_load(c, file, what, &f)) == 0 && tt != NULL)
        dagfile_warn(c, tt,
                     "%s: timetable is ignored: dag-factory does not read it when file "
                     "is set",
                     what);
    if (rc == 0 &&
        dagfile_cond_parse(text, file ? ds_resolve : NULL, &f, out, &at, msg, sizeof(msg)) < 0) {
        cond_error(c, ds, text, at, what, msg);
        rc = -1;
    } else if (rc == 0) {
        warn_normal_cond(c, file ? file : ds, what, out);
    }
    if (rc == 0 && file == NULL && tt != NULL && !ynode_is_null(tt))
        rc = read_time(c, dag, tt, what);
    ynode_free(f.root);
    free(text);
    return rc;
}

bool
dagfile_is_asset_schedule(const struct ynode *s)
{
    const struct ynode *t;

    if (s == NULL || s->kind == YN_SEQ)
        return s != NULL;
    if (s->kind != YN_MAP)
        return false;
    if (ymap_get(s, "datasets") || ymap_get(s, "assets") || ymap_get(s, "file") ||
        ymap_get(s, "__and__") || ymap_get(s, "__or__"))
        return true;
    if (aclass_of(s) != AC_OTHER)
        return aclass_of(s) != AC_NONE;
    t = ymap_get(s, "__type__");
    return strstr(t->str, "Asset") != NULL || strstr(t->str, "Dataset") != NULL;
}

/* The whole schedule value into out. */
static int
read_schedule(struct loadctx *c, struct dag *dag, const struct ynode *s, const char *what,
              struct asset_cond *out)
{
    enum aclass k = aclass_of(s);
    const struct ynode *items;

    if (strcmp(what, "timetable") == 0 && k != AC_OR_TIME) {
        dagfile_error(c, s,
                      "timetable takes a Timetable: an asset schedule goes in schedule "
                      "(or use DatasetOrTimeSchedule here)");
        return -1;
    }
    if (s->kind == YN_SEQ || k == AC_LIST) {
        out->kind = ASSET_COND_ALL; /* Airflow: a list of assets is all of them */
        return (items = list_items(c, s, what)) == NULL ||
                       read_kids(c, items, what, true, 0, out) < 0
                   ? -1
                   : 0;
    }
    if (k == AC_NONE && (ymap_get(s, "datasets") || ymap_get(s, "file")))
        return read_datasets_form(c, dag, s, what, out);
    if (k == AC_NONE && ymap_get(s, "assets")) {
        dagfile_error(c, s,
                      "%s: dag-factory has no assets: key here (Airflow would get the "
                      "mapping itself): write the condition under datasets:, or as "
                      "__and__ / __or__ of Asset mappings",
                      what);
        return -1;
    }
    if (k == AC_OR_TIME)
        return read_or_time(c, dag, s, what, out);
    return read_cond(c, s, what, 0, out);
}

int
dagfile_asset_schedule(struct loadctx *c, struct dag *dag, const struct ynode *s, const char *what)
{
    struct asset_cond *cond = calloc(1, sizeof(*cond));

    if (cond == NULL)
        return dagfile_error(c, s, "out of memory"), -1;
    if (read_schedule(c, dag, s, what, cond) < 0) {
        asset_cond_free(cond);
        return -1;
    }
    asset_cond_free(dag->asset_schedule);
    dag->asset_schedule = cond;
    if (!dag->asset_or_time) { /* no timetable: runs only on its assets (and triggers) */
        struct err e = {0};
        schedule_parse(&dag->schedule, "None", &e);
    }
    return 0;
}

/* dagfile_defaults: dag-factory's folder defaults (defaults.yml / defaults.yaml).
 *
 * For a DAG file, the folders searched are its own folder and its parents up to the defaults
 * root (the DAG folder, or the DAG's / file's `defaults_config_path`, relative to the DAG
 * folder); when the root is not above the file, its own folder and then the root. In each
 * folder defaults.yml wins over defaults.yaml. The files are merged as dag-factory merges them:
 * `default_args` key by key and every other key whole, the nearest file winning, except `tags`,
 * which are united (sorted). The result is then applied to a DAG: its other keys under the
 * DAG's own keys (whole), its default_args under the file's `default.default_args` (key by
 * key); the file's `default` is merged under the DAG as before. A defaults file that cannot be
 * read or is not a mapping is an error of each DAG it would apply to. */
#include "dagfile_int.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set map[k] to a copy of v (replacing the last one of that key), or append it. */
static int
ymap_put(struct ynode *map, const struct ynode *k, const struct ynode *v)
{
    struct ynode *kc, *vc = ynode_copy(v);

    if (vc == NULL)
        return -1;
    for (size_t i = map->n; i-- > 0;)
        if (ymap_key(map, i)->kind == YN_SCALAR && strcmp(ymap_key(map, i)->str, k->str) == 0) {
            ynode_free(ymap_val(map, i));
            map->items[2 * i + 1] = vc;
            return 0;
        }
    struct ynode **items = realloc(map->items, (2 * map->n + 2) * sizeof(*items));
    if (items == NULL || (kc = ynode_copy(k)) == NULL) {
        if (items)
            map->items = items;
        ynode_free(vc);
        return -1;
    }
    map->items = items;
    map->items[2 * map->n] = kc;
    map->items[2 * map->n + 1] = vc;
    map->n++;
    return 0;
}

static struct ynode *
empty_map(int line, int col)
{
    struct ynode *m = calloc(1, sizeof(*m));

    if (m != NULL)
        *m = (struct ynode){.kind = YN_MAP, .line = line, .col = col};
    return m;
}

/* Every key of over into acc, replacing (shallow). */
static int
put_all(struct ynode *acc, const struct ynode *over)
{
    for (size_t i = 0; over != NULL && over->kind == YN_MAP && i < over->n; i++)
        if (ymap_key(over, i)->kind == YN_SCALAR &&
            ymap_put(acc, ymap_key(over, i), ymap_val(over, i)) < 0)
            return -1;
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp((*(struct ynode *const *)a)->str, (*(struct ynode *const *)b)->str);
}

/* acc.tags := sorted(set(acc.tags + tags)), as dag-factory unites the tags of defaults files. */
static int
unite_tags(struct ynode *acc, const struct ynode *k, const struct ynode *tags)
{
    struct ynode *cur = ymap_get(acc, "tags");
    size_t n = 0;

    if (tags->kind != YN_SEQ || (cur != NULL && cur->kind != YN_SEQ))
        return ymap_put(acc, k, tags);
    if (cur == NULL)
        return ymap_put(acc, k, tags) < 0 || (cur = ymap_get(acc, "tags")) == NULL ? -1 : 0;
    struct ynode **items = realloc(cur->items, (cur->n + tags->n + 1) * sizeof(*items));
    if (items == NULL)
        return -1;
    cur->items = items;
    for (size_t i = 0; i < tags->n; i++)
        if ((cur->items[cur->n++] = ynode_copy(tags->items[i])) == NULL)
            return cur->n--, -1;
    for (size_t i = 0; i < cur->n; i++)
        if (cur->items[i]->kind != YN_SCALAR)
            return 0; /* the loader reports it */
    qsort(cur->items, cur->n, sizeof(*cur->items), cmp_str);
    for (size_t i = 0; i < cur->n; i++)
        if (n > 0 && strcmp(cur->items[n - 1]->str, cur->items[i]->str) == 0)
            ynode_free(cur->items[i]);
        else
            cur->items[n++] = cur->items[i];
    cur->n = n;
    return 0;
}

/* One defaults file's mapping over acc (nearer wins). */
static int
merge_one(struct ynode *acc, const struct ynode *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const struct ynode *k = ymap_key(cfg, i), *v = ymap_val(cfg, i);
        if (k->kind != YN_SCALAR)
            continue;
        if (strcmp(k->str, "default_args") == 0) {
            struct ynode *da = ymap_get(acc, "default_args");
            if (v->kind != YN_MAP)
                continue;
            if (da == NULL) {
                if (ymap_put(acc, k, v) < 0)
                    return -1;
            } else if (put_all(da, v) < 0) {
                return -1;
            }
        } else if ((strcmp(k->str, "tags") == 0 ? unite_tags(acc, k, v) : ymap_put(acc, k, v)) <
                   0) {
            return -1;
        }
    }
    return 0;
}

/* dir's defaults file (defaults.yml, else defaults.yaml), or NULL. */
static char *
defaults_in(const char *dir)
{
    static const char *const names[] = {"defaults.yml", "defaults.yaml"};

    for (size_t i = 0; i < 2; i++) {
        char *p = NULL;
        FILE *f;
        if (asprintf(&p, "%s/%s", dir, names[i]) < 0)
            return NULL;
        if ((f = fopen(p, "rb")) != NULL) {
            fclose(f);
            return p;
        }
        free(p);
    }
    return NULL;
}

/* Parse one defaults file into *out (NULL when empty); -1 with an error at `at`. */
static int
read_defaults(struct loadctx *c, const char *path, const struct ynode *at, struct ynode **out)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL, msg[256] = "cannot read the file";
    size_t len = 0, cap = 0;
    int line = 0, col = 0, rc = -1;

    *out = NULL;
    for (size_t got = 1; f != NULL && got > 0; len += got) {
        char *grown = len + 4096 > cap ? realloc(text, cap = 2 * cap + 4096) : text;
        if (grown == NULL || len > (64L << 20))
            break;
        text = grown;
        got = fread(text + len, 1, cap - len - 1, f);
    }
    if (f != NULL && text != NULL && feof(f) &&
        ynode_parse(text, len, out, msg, sizeof(msg), &line, &col) == 0) {
        if (*out == NULL || (*out)->kind == YN_MAP || ynode_is_null(*out))
            rc = 0;
        else
            snprintf(msg, sizeof(msg), "it must be a mapping, not %s", ynode_what(*out));
    }
    if (rc == 0 && *out != NULL && (*out)->kind != YN_MAP) {
        ynode_free(*out); /* null document */
        *out = NULL;
    }
    if (rc < 0) {
        dagfile_error(c, at, "defaults file %s:%d:%d: %s", path, line, col, msg);
        ynode_free(*out);
        *out = NULL;
    }
    if (f)
        fclose(f);
    free(text);
    return rc;
}

/* The folder of path ("." when it has none), newly allocated. */
static char *
dir_of(const char *path)
{
    char *copy = strdup(path), *d;

    if (copy == NULL)
        return NULL;
    d = strdup(dirname(copy));
    free(copy);
    return d;
}

/* The folders to search for the file, nearest first, into dirs (at most max). */
static size_t
search_dirs(const char *file, const char *root, char **dirs, size_t max)
{
    size_t n = 0;
    char *d = dir_of(file);

    while (d != NULL && n < max) {
        dirs[n++] = d;
        if (strcmp(d, root) == 0)
            return n;
        if (strcmp(d, ".") == 0 || strcmp(d, "/") == 0)
            break;
        d = dir_of(d);
    }
    /* root is not above the file: its own folder, then the root (dag-factory) */
    for (size_t i = 1; i < n; i++)
        free(dirs[i]);
    n = n > 0 ? 1 : 0;
    if (n < max && strcmp(dirs[0], root) != 0 && (dirs[n] = strdup(root)) != NULL)
        n++;
    return n;
}

/* The defaults root: cfg (relative to the DAG folder) or the DAG folder. */
static char *
defaults_root(const struct loadctx *c, const char *cfg)
{
    const char *top = c->bag->root ? c->bag->root : NULL;
    char *out = NULL, *own = NULL;
    size_t n;

    if (top == NULL && (own = dir_of(c->file)) == NULL)
        return NULL;
    top = top ? top : own;
    while (cfg != NULL && cfg[0] == '.' && cfg[1] == '/')
        cfg += 2;
    if (cfg == NULL || strcmp(cfg, ".") == 0 || cfg[0] == '\0')
        out = strdup(top);
    else if (cfg[0] == '/' || strcmp(top, ".") == 0)
        out = strdup(cfg);
    else if (asprintf(&out, "%s/%s", top, cfg) < 0)
        out = NULL;
    free(own);
    for (n = out ? strlen(out) : 0; n > 1 && out[n - 1] == '/';)
        out[--n] = '\0';
    return out;
}

struct ynode *
dagfile_folder_defaults(struct loadctx *c, const char *cfg, const struct ynode *at)
{
    char *dirs[64], *root = defaults_root(c, cfg);
    size_t n = root ? search_dirs(c->file, root, dirs, 64) : 0;
    struct ynode *acc = empty_map(0, 0);
    int bad = root == NULL || acc == NULL;

    for (size_t i = n; i-- > 0;) { /* farthest first: the nearest is merged last */
        char *path = bad ? NULL : defaults_in(dirs[i]);
        struct ynode *cfgmap = NULL;
        if (path != NULL && read_defaults(c, path, at, &cfgmap) < 0)
            bad = 1;
        else if (cfgmap != NULL && merge_one(acc, cfgmap) < 0)
            bad = 1, dagfile_error(c, at, "out of memory");
        ynode_free(cfgmap);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(root);
    if (bad) {
        ynode_free(acc);
        return NULL;
    }
    return acc;
}

struct ynode *
dagfile_apply_defaults(const struct ynode *dag, const struct ynode *file_default,
                       const struct ynode *folder)
{
    struct ynode *d = ynode_copy(dag), *fd = NULL, *da = NULL, *out = NULL;
    const struct ynode *fda = file_default ? ymap_get(file_default, "default_args") : NULL;
    const struct ynode *folder_da = ymap_get(folder, "default_args");

    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < folder->n; i++) { /* DAG-level keys: the DAG's own win whole */
        const struct ynode *k = ymap_key(folder, i);
        if (strcmp(k->str, "default_args") != 0 && ymap_get(d, k->str) == NULL &&
            ymap_put(d, k, ymap_val(folder, i)) < 0)
            goto out;
    }
    fd = file_default ? ynode_copy(file_default) : empty_map(dag->line, dag->col);
    if (fd == NULL || (da = empty_map(dag->line, dag->col)) == NULL)
        goto out;
    if (put_all(da, folder_da) < 0 || put_all(da, fda) < 0)
        goto out;
    if (da->n > 0) {
        char name[] = "default_args";
        struct ynode key = {.kind = YN_SCALAR, .str = name, .line = dag->line};
        if (ymap_put(fd, &key, da) < 0)
            goto out;
    }
    out = ynode_merge(d, fd);
out:
    ynode_free(d);
    ynode_free(fd);
    ynode_free(da);
    return out;
}

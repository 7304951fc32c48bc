/* dagfile_walk: the one walk of a DAG folder, used both to load it (dagbag_load_folder) and
 * to fingerprint it (loop_folder_fingerprint), so the two always see the same files.
 *
 * Symbolic links are followed, but each real directory (device + inode) is read once: a link
 * loop (`a/b -> ..`) or a second link to a folder already read is skipped with a warning, and
 * the walk stops at DAGFILE_WALK_MAX_DEPTH folders deep (an error naming the folder left out)
 * and at DAGFILE_WALK_MAX_ENTRIES entries in all (the whole walk fails: a folder cut short
 * must not look complete). Invariant: anything that may hold DAGs and could not be read (a
 * subfolder, a dangling link, an entry stat fails on, a *.yaml that is not a regular file)
 * is an error item with its path, never a silent skip: the caller must not take its DAGs
 * for deleted. Items are sorted by path; hidden entries (".name") are left out.
 *
 * What .airflowignore files ignore (dagfile_ignore.c) is left out as Airflow leaves it out, an
 * ignored folder unread. A folder's .airflowignore and a dag-factory defaults.yml (or
 * defaults.yaml) are items marked `config`: not DAG files, but part of the fingerprint so that
 * editing them reloads the folder. */
#include "dagfile_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Directories already read: an open-addressing hash set of (device, inode). */
struct dirset {
    struct dirkey {
        dev_t dev;
        ino_t ino;
        bool used;
    } * k;
    size_t n, cap;
};

struct walker {
    struct dagfile_walk *out;
    const char *root;
    struct dagfile_ignore ig;
    struct dirset seen;
    size_t entries;
    struct err *e;
};

static size_t
dirset_slot(const struct dirset *s, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)ino * 0xC2B2AE3D27D4EB4FULL);
    size_t i = (size_t)(h ^ (h >> 29)) & (s->cap - 1);

    while (s->k[i].used && (s->k[i].dev != dev || s->k[i].ino != ino))
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* 1 when (dev, ino) was new (now added), 0 when seen before, -1 out of memory. */
static int
dirset_add(struct dirset *s, dev_t dev, ino_t ino)
{
    size_t i;

    if (2 * (s->n + 1) > s->cap) { /* keep it at most half full */
        struct dirset big = {.cap = s->cap ? 2 * s->cap : 64};
        if ((big.k = calloc(big.cap, sizeof(*big.k))) == NULL)
            return -1;
        for (size_t j = 0; j < s->cap; j++)
            if (s->k[j].used)
                big.k[dirset_slot(&big, s->k[j].dev, s->k[j].ino)] = s->k[j];
        big.n = s->n;
        free(s->k);
        *s = big;
    }
    i = dirset_slot(s, dev, ino);
    if (s->k[i].used)
        return 0;
    s->k[i] = (struct dirkey){.dev = dev, .ino = ino, .used = true};
    s->n++;
    return 1;
}

static bool
is_yaml_name(const char *name)
{
    size_t n = strlen(name);

    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static char *
path_join(const char *dir, const char *name)
{
    char *out;
    size_t n = strlen(dir);

    /* "." is left out so paths read as the user would write them relative to the folder. */
    if (strcmp(dir, ".") == 0)
        return strdup(name);
    if (asprintf(&out, "%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name) < 0)
        return NULL;
    return out;
}

/* Append an item; takes path. A problem text is formatted from fmt (NULL: a DAG file). */
static int add_item(struct walker *w, char *path, const struct stat *st, enum diag_level level,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int
add_item(struct walker *w, char *path, const struct stat *st, enum diag_level level,
         const char *fmt, ...)
{
    struct dagfile_walk *o = w->out;
    struct dagfile_found it = {.path = path, .level = level};
    struct dagfile_found *grown = realloc(o->items, (o->n + 1) * sizeof(*grown));
    va_list ap;

    if (grown != NULL)
        o->items = grown;
    if (fmt != NULL) {
        va_start(ap, fmt);
        if (vasprintf(&it.problem, fmt, ap) < 0)
            it.problem = NULL;
        va_end(ap);
    } else if (st != NULL) {
        it.size = (long long)st->st_size;
        it.mtime = st->st_mtim;
    }
    if (grown == NULL || (fmt != NULL && it.problem == NULL)) {
        free(path);
        free(it.problem);
        return err_set(w->e, ERR_FAIL, "out of memory");
    }
    o->items[o->n++] = it;
    return 0;
}

/* Why stat failed on path, in words. */
static const char *
stat_reason(const char *path, int err)
{
    struct stat l;

    if (lstat(path, &l) == 0 && S_ISLNK(l.st_mode))
        return err == ELOOP    ? "symbolic link loop"
               : err == ENOENT ? "dangling symbolic link "
                                 "(its target is missing)"
                               : strerror(err);
    return strerror(err);
}

static int walk_dir(struct walker *w, const char *dir, int depth,
                    const struct dagfile_ignore_list *parent);
static int ignore_file(struct walker *w, const char *dir, struct dagfile_ignore_list *l);

bool
dagfile_is_defaults_name(const char *name)
{
    return strcmp(name, "defaults.yml") == 0 || strcmp(name, "defaults.yaml") == 0;
}

/* A config item (defaults.yml, .airflowignore): takes path. */
static int
add_config(struct walker *w, char *path, const struct stat *st)
{
    if (add_item(w, path, st, DIAG_ERROR, NULL) < 0)
        return -1;
    w->out->items[w->out->n - 1].config = true;
    return 0;
}

/* One entry of a folder: takes path. */
static int
walk_entry(struct walker *w, char *path, const char *name, int depth,
           const struct dagfile_ignore_list *l)
{
    struct stat st;
    int added;

    if (l->n > 0 && dagfile_ignore_match(&w->ig, l, w->root, path,
                                         stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        free(path);
        return 0;
    }
    if (stat(path, &st) != 0) {
        int err = errno;
        return add_item(w, path, NULL, DIAG_ERROR, "cannot read: %s", stat_reason(path, err));
    }
    if (S_ISREG(st.st_mode) && dagfile_is_defaults_name(name))
        return add_config(w, path, &st);
    if (S_ISREG(st.st_mode) && is_yaml_name(name))
        return add_item(w, path, &st, DIAG_ERROR, NULL);
    if (!S_ISDIR(st.st_mode)) {
        if (is_yaml_name(name))
            return add_item(w, path, NULL, DIAG_ERROR, "not a regular file: not read");
        free(path);
        return 0;
    }
    if (depth + 1 > DAGFILE_WALK_MAX_DEPTH)
        return add_item(w, path, NULL, DIAG_ERROR, "folder more than %d levels deep: not read",
                        DAGFILE_WALK_MAX_DEPTH);
    if ((added = dirset_add(&w->seen, st.st_dev, st.st_ino)) < 0) {
        free(path);
        return err_set(w->e, ERR_FAIL, "out of memory");
    }
    if (added == 0)
        return add_item(w, path, NULL, DIAG_WARNING,
                        "a folder already read under another path (a symbolic link loop or a "
                        "second link to it): not read again");
    added = walk_dir(w, path, depth + 1, l);
    free(path);
    return added;
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible names in dir, sorted (so the walk, and which of two links wins, is stable). */
static int
read_names(struct walker *w, DIR *d, char ***names, size_t *n)
{
    struct dirent *ent;
    size_t cap = 0;

    *names = NULL;
    *n = 0;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        if (++w->entries > DAGFILE_WALK_MAX_ENTRIES)
            return err_set(w->e, ERR_IO,
                           "more than %d entries under it (a link to a big folder?): not read",
                           DAGFILE_WALK_MAX_ENTRIES);
        if (*n == cap) {
            char **grown = realloc(*names, (cap = cap ? 2 * cap : 16) * sizeof(char *));
            if (grown == NULL)
                return err_set(w->e, ERR_FAIL, "out of memory");
            *names = grown;
        }
        if (((*names)[*n] = strdup(ent->d_name)) == NULL)
            return err_set(w->e, ERR_FAIL, "out of memory");
        (*n)++;
    }
    if (*n > 0)
        qsort(*names, *n, sizeof(char *), cmp_name);
    return 0;
}

/* The folder dir (depth 0: the top). -1 only for what stops the whole walk. */
static int
walk_dir(struct walker *w, const char *dir, int depth, const struct dagfile_ignore_list *parent)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    struct dagfile_ignore_list l;
    size_t n = 0;
    int rc;

    if (d == NULL) {
        char *copy;
        if (depth == 0)
            return err_set(w->e, ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
        if ((copy = strdup(dir)) == NULL)
            return err_set(w->e, ERR_FAIL, "out of memory");
        return add_item(w, copy, NULL, DIAG_ERROR, "cannot read the folder: %s", strerror(errno));
    }
    rc = read_names(w, d, &names, &n);
    closedir(d);
    if (rc == 0 && (dagfile_ignore_list_copy(&l, parent) < 0 || ignore_file(w, dir, &l) < 0))
        rc = err_set(w->e, ERR_FAIL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *path = path_join(dir, names[i]);
        rc = path ? walk_entry(w, path, names[i], depth, &l)
                  : err_set(w->e, ERR_FAIL, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(l.idx);
    return rc;
}

/* dir/.airflowignore: its rules into l, and the file itself as a config item. */
static int
ignore_file(struct walker *w, const char *dir, struct dagfile_ignore_list *l)
{
    char *path = path_join(dir, ".airflowignore");
    struct stat st;

    if (path == NULL)
        return -1;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(path);
        return 0;
    }
    if (dagfile_ignore_read(&w->ig, l, w->root, dir) < 0) {
        free(path);
        return -1;
    }
    return add_config(w, path, &st);
}

static int
cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct dagfile_found *)a)->path, ((const struct dagfile_found *)b)->path);
}

int
dagfile_walk(const char *folder, struct dagfile_walk *out, struct err *e)
{
    struct walker w = {.out = out, .e = e, .root = folder};
    struct dagfile_ignore_list top = {0};
    struct stat st;
    int rc = -1;

    *out = (struct dagfile_walk){0};
    if (stat(folder, &st) != 0)
        return err_set(e, ERR_IO, "cannot read folder %s: %s", folder, strerror(errno));
    if (dirset_add(&w.seen, st.st_dev, st.st_ino) < 0)
        err_set(e, ERR_FAIL, "out of memory");
    else
        rc = walk_dir(&w, folder, 0, &top);
    free(w.seen.k);
    dagfile_ignore_clear(&w.ig);
    if (rc < 0) {
        dagfile_walk_clear(out);
        return -1;
    }
    if (out->n > 0)
        qsort(out->items, out->n, sizeof(*out->items), cmp_item);
    return 0;
}

void
dagfile_walk_clear(struct dagfile_walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->items[i].path);
        free(w->items[i].problem);
    }
    free(w->items);
    *w = (struct dagfile_walk){0};
}

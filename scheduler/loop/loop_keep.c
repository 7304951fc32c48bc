/* loop_keep: the last good version of each DAG file, so that a file that now fails to load
 * does not take its DAGs away from the scheduler and the workers. Airflow does the same: a
 * DAG whose file has an import error keeps its serialized form (runs go on, new runs are
 * scheduled) until the file is fixed or deleted.
 *
 * After each reload, every file that loaded without an error has its text kept (read again
 * and loaded once more, so that what is kept is known to load). A file that now has errors
 * and still exists gets back, from its kept text, the DAGs the new bag lacks. A deleted file
 * keeps nothing: its DAGs go. Invariant: a kept text always loaded without an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dagfile/dagfile.h"
#include "log.h"
#include "loop/loop.h"
#include "runner/runner.h"
#include "store/store.h"

#define MAX_KEPT_SIZE (64L << 20) /* dagfile's own limit on a file */

/* The last text of one file that loaded without an error. */
struct loop_good {
    char *path;
    char *text;
    size_t len;
    struct stat st; /* when the text was read: size and mtime tell a changed file */
    bool warned;    /* the current breakage of the file was logged */
};

static void
good_clear(struct loop_good *g)
{
    free(g->path);
    free(g->text);
}

void
loop_ctx_clear(struct loop_ctx *c)
{
    for (size_t i = 0; i < c->n_good; i++)
        good_clear(&c->good[i]);
    free(c->good);
    c->good = NULL;
    c->n_good = 0;
    free(c->due);
    c->due = NULL;
    c->n_due = 0;
    c->due_bag = NULL;
}

/* The first error of file in bag for dag_id (or for the whole file), NULL when none. */
static const struct dag_diag *
file_error(const struct dagbag *bag, const char *file, const char *dag_id)
{
    for (size_t i = 0; i < bag->n_diags; i++) {
        const struct dag_diag *d = &bag->diags[i];

        if (d->level == DIAG_ERROR && strcmp(d->file, file) == 0 &&
            (dag_id == NULL || d->dag_id == NULL || strcmp(d->dag_id, dag_id) == 0))
            return d;
    }
    return NULL;
}

static bool
has_dags_of(const struct dagbag *bag, const char *file)
{
    for (size_t i = 0; i < bag->n_dags; i++)
        if (strcmp(bag->dags[i]->fileloc, file) == 0)
            return true;
    return false;
}

static struct loop_good *
find_good(struct loop_ctx *c, const char *path)
{
    for (size_t i = 0; i < c->n_good; i++)
        if (strcmp(c->good[i].path, path) == 0)
            return &c->good[i];
    return NULL;
}

/* The file's whole text, if it loads without an error; NULL otherwise. */
static char *
read_good_text(const char *folder, const char *path, const struct stat *st, size_t *len)
{
    FILE *f = st->st_size <= MAX_KEPT_SIZE ? fopen(path, "rb") : NULL;
    char *text = f ? malloc((size_t)st->st_size + 1) : NULL;
    struct dagbag *check = dagbag_new();

    if (check != NULL) /* the DAG folder: its defaults.yml files apply as in the real load */
        check->root = strdup(folder);

    *len = text ? fread(text, 1, (size_t)st->st_size, f) : 0;
    if (f)
        fclose(f);
    if (text == NULL || check == NULL || *len != (size_t)st->st_size ||
        dagbag_load_string(check, path, text, *len) != 0) {
        free(text);
        text = NULL;
    }
    dagbag_free(check);
    return text;
}

/* A file that loaded without an error: keep its text, unless the kept one is current. */
static void
keep_text(struct loop_ctx *c, const char *path)
{
    struct loop_good *g = find_good(c, path), *grown;
    struct stat st;
    size_t len;
    char *text;

    if (g)
        g->warned = false;
    if (stat(path, &st) != 0 ||
        (g && g->st.st_size == st.st_size && g->st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
         g->st.st_mtim.tv_nsec == st.st_mtim.tv_nsec))
        return;
    if ((text = read_good_text(c->folder, path, &st, &len)) == NULL)
        return; /* changed since the reload: the next one sees it */
    if (g == NULL) {
        if ((grown = realloc(c->good, (c->n_good + 1) * sizeof(*grown))) == NULL) {
            free(text);
            return;
        }
        c->good = grown;
        g = &c->good[c->n_good];
        *g = (struct loop_good){.path = strdup(path)};
        if (g->path == NULL) {
            free(text);
            return;
        }
        c->n_good++;
    }
    free(g->text);
    g->text = text;
    g->len = len;
    g->st = st;
}

/* Say once that dag_id runs on its last good version, and note it in the import error. */
static void
tell_kept(struct loop_ctx *c, struct runner *r, const struct loop_good *g, const char *dag_id,
          const struct dag_diag *d)
{
    char when[32], where[32] = "", note[600];
    struct err e = {0};

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&g->st.st_mtim.tv_sec));
    if (d && d->line > 0)
        snprintf(where, sizeof(where), "%d:%d: ", d->line, d->col);
    if (!g->warned)
        log_warn("dag %s: file %s fails to load (%s%s); keeping the last good version from %s",
                 dag_id, g->path, where, d && d->msg ? d->msg : "error", when);
    snprintf(note, sizeof(note), "dag %s: the last good version (from %s) is in use", dag_id, when);
    if (c->mode == RUNNER_SCHEDULER && store_import_error_note(c->store, g->path, note, &e) < 0)
        runner_db_error(r, &e, "note a kept DAG");
}

/* The file of g fails to load now: put back the DAGs of its kept text that bag lacks. */
static void
keep_dags(struct loop_ctx *c, struct runner *r, struct loop_good *g, struct dagbag *bag)
{
    struct dagbag *old = dagbag_new();

    if (old == NULL || (old->root = strdup(c->folder)) == NULL) {
        dagbag_free(old);
        return;
    }
    dagbag_load_string(old, g->path, g->text, g->len);
    for (size_t i = 0; i < old->n_dags;) {
        const struct dag *dag = old->dags[i];

        if (dagbag_move(bag, old, dag->dag_id) == 1)
            tell_kept(c, r, g, dag->dag_id, file_error(bag, g->path, dag->dag_id));
        else
            i++;
    }
    g->warned = true;
    dagbag_free(old);
}

void
loop_keep_last_good(struct loop_ctx *c, struct runner *r, struct dagbag *bag)
{
    struct stat st;
    size_t k = 0;

    for (size_t i = 0; i < bag->n_dags; i++)
        if (file_error(bag, bag->dags[i]->fileloc, NULL) == NULL)
            keep_text(c, bag->dags[i]->fileloc);
    for (size_t i = 0; i < c->n_good; i++) {
        struct loop_good *g = &c->good[i];

        if (file_error(bag, g->path, NULL) && stat(g->path, &st) == 0)
            keep_dags(c, r, g, bag);
        else if (!has_dags_of(bag, g->path)) { /* deleted, or no DAG left in it */
            good_clear(g);
            continue;
        }
        c->good[k++] = *g;
    }
    c->n_good = k;
}

/* loop_folder: the DAG folder as the scheduler, the worker and the CLI read it: load it into a
 * bag, and fingerprint it so that an unchanged folder is not parsed again.
 *
 * Nothing here prints: a folder that cannot be read is a struct err, and the diagnostics of
 * its files stay in the bag for the caller to show or record. */
#include <string.h>

#include "dagfile/dagfile.h"
#include "loop/loop.h"

struct dagbag *
loop_load_bag(const char *folder, struct err *e)
{
    struct dagbag *bag = dagbag_new();

    if (bag == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    if (dagbag_load_folder(bag, folder, e) < 0) {
        err_prefix(e, "DAG folder %s", folder);
        dagbag_free(bag);
        return NULL;
    }
    return bag;
}

/* ---- the folder fingerprint (FNV-1a over what the walk found) ---- */

static void
fp_mix(unsigned long long *acc, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        *acc ^= b[i];
        *acc *= 1099511628211ULL;
    }
}

unsigned long long
loop_folder_fingerprint(const char *folder)
{
    /* the same walk as the load (dagfile_walk), so both see the same files and problems */
    unsigned long long acc = 14695981039346656037ULL;
    struct dagfile_walk w;

    if (dagfile_walk(folder, &w, NULL) < 0)
        return 0;
    for (size_t i = 0; i < w.n; i++) {
        const struct dagfile_found *f = &w.items[i];

        fp_mix(&acc, f->path, strlen(f->path) + 1);
        fp_mix(&acc, &f->size, sizeof(f->size));
        fp_mix(&acc, &f->mtime.tv_sec, sizeof(f->mtime.tv_sec));
        fp_mix(&acc, &f->mtime.tv_nsec, sizeof(f->mtime.tv_nsec));
        if (f->problem != NULL)
            fp_mix(&acc, f->problem, strlen(f->problem) + 1);
    }
    dagfile_walk_clear(&w);
    return acc ? acc : 1;
}

/* loop_folder: the DAG folder as the scheduler, the worker and the CLI read it: load it into a
 * bag, and fingerprint it so that an unchanged folder is not parsed again.
 *
 * Nothing here prints: a folder that cannot be read is a struct err, and the diagnostics of
 * its files stay in the bag for the caller to show or record. */
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---- the folder fingerprint (FNV-1a over path, size, mtime of every DAG file) ---- */

static unsigned long long fp_acc;

static void
fp_mix(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        fp_acc ^= b[i];
        fp_acc *= 1099511628211ULL;
    }
}

static int
fp_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    size_t len = strlen(path);

    (void)ftw;
    if (type != FTW_F || !((len > 5 && strcmp(path + len - 5, ".yaml") == 0) ||
                           (len > 4 && strcmp(path + len - 4, ".yml") == 0)))
        return 0;
    fp_mix(path, len);
    fp_mix(&st->st_size, sizeof(st->st_size));
    fp_mix(&st->st_mtim, sizeof(st->st_mtim));
    return 0;
}

unsigned long long
loop_folder_fingerprint(const char *folder)
{
    /* nftw visits in directory order, which is stable for an unchanged folder */
    fp_acc = 14695981039346656037ULL;
    if (nftw(folder, fp_visit, 16, FTW_PHYS) != 0)
        return 0;
    return fp_acc ? fp_acc : 1;
}

/* collector_spool: batch files written atomically, replayed oldest first (see
 * collector_spool.h). The list of files lives in memory, sorted by seq; new files get the
 * next seq after the largest seen, so the order on disk is the order of writing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector_spool.h"
#include "fdio.h" /* fd_write_all */

struct bfile {
    uint64_t seq, bytes;
};

struct cs {
    int dirfd;
    char dir[512];
    pthread_mutex_t mu; /* guards n and bytes for cs_counts */
    struct bfile *v;
    size_t n, cap;
    uint64_t bytes, next_seq;
};

static void
batch_name(char *buf, size_t len, uint64_t seq, const char *suffix)
{
    snprintf(buf, len, "batch-%016" PRIu64 ".avro%s", seq, suffix);
}

static int
cmp_bfile(const void *a, const void *b)
{
    uint64_t x = ((const struct bfile *)a)->seq, y = ((const struct bfile *)b)->seq;

    return x < y ? -1 : x > y;
}

static int
add_file(struct cs *s, uint64_t seq, uint64_t bytes)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct bfile *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    pthread_mutex_lock(&s->mu);
    s->v[s->n++] = (struct bfile){seq, bytes};
    s->bytes += bytes;
    pthread_mutex_unlock(&s->mu);
    if (seq >= s->next_seq)
        s->next_seq = seq + 1;
    return 0;
}

static int
scan(struct cs *s, struct err *e)
{
    int fd = dup(s->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *de;
    struct stat st;
    uint64_t seq;
    char tail[8];

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return err_set(e, ERR_IO, "%s: cannot list: %s", s->dir, strerror(errno));
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 27 ||
            sscanf(de->d_name, "batch-%16" SCNu64 ".avro%1s", &seq, tail) != 1)
            continue;
        if (fstatat(s->dirfd, de->d_name, &st, 0) != 0 || add_file(s, seq, (uint64_t)st.st_size)) {
            closedir(d);
            return err_set(e, ERR_IO, "%s/%s: %s", s->dir, de->d_name, strerror(errno));
        }
    }
    closedir(d);
    if (s->n > 0)
        qsort(s->v, s->n, sizeof(*s->v), cmp_bfile);
    return 0;
}

struct cs *
cs_open(int dirfd, const char *dir, struct err *e)
{
    struct cs *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    s->dirfd = dirfd;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    pthread_mutex_init(&s->mu, NULL);
    s->next_seq = 1;
    if (scan(s, e) < 0) {
        cs_free(s);
        return NULL;
    }
    return s;
}

void
cs_free(struct cs *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->v);
    free(s);
}

int
cs_write(struct cs *s, const void *buf, size_t len, struct err *e)
{
    char tmp[64], name[64];
    uint64_t seq = s->next_seq;
    int fd;

    batch_name(tmp, sizeof(tmp), seq, ".tmp");
    batch_name(name, sizeof(name), seq, "");
    fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(e, ERR_IO, "%s/%s: cannot create: %s", s->dir, tmp, strerror(errno));
    if (fd_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
        err_set(e, ERR_IO, "%s/%s: write: %s", s->dir, tmp, strerror(errno));
        close(fd);
        unlinkat(s->dirfd, tmp, 0);
        return -1;
    }
    close(fd);
    if (renameat(s->dirfd, tmp, s->dirfd, name) < 0 || fsync(s->dirfd) < 0) {
        err_set(e, ERR_IO, "%s/%s: rename: %s", s->dir, name, strerror(errno));
        unlinkat(s->dirfd, tmp, 0);
        return -1;
    }
    if (add_file(s, seq, len) < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

int
cs_oldest(struct cs *s, uint64_t *seq)
{
    if (s->n == 0)
        return -1;
    *seq = s->v[0].seq;
    return 0;
}

int
cs_read(struct cs *s, uint64_t seq, char **buf, size_t *len, struct err *e)
{
    char name[64];
    struct stat st;
    int fd;
    ssize_t r = 0;

    batch_name(name, sizeof(name), seq, "");
    *buf = NULL;
    if ((fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 ||
        (*buf = malloc((size_t)st.st_size + 1)) == NULL ||
        (r = pread(fd, *buf, (size_t)st.st_size, 0)) != st.st_size) {
        err_set(e, ERR_IO, "%s/%s: cannot read: %s", s->dir, name,
                r >= 0 && fd >= 0 ? "short read" : strerror(errno));
        if (fd >= 0)
            close(fd);
        free(*buf);
        *buf = NULL;
        return -1;
    }
    close(fd);
    *len = (size_t)st.st_size;
    return 0;
}

int
cs_remove(struct cs *s, uint64_t seq, struct err *e)
{
    char name[64];
    size_t i = 0;

    while (i < s->n && s->v[i].seq != seq)
        i++;
    batch_name(name, sizeof(name), seq, "");
    if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "%s/%s: cannot remove: %s", s->dir, name, strerror(errno));
    if (i == s->n)
        return 0;
    pthread_mutex_lock(&s->mu);
    s->bytes -= s->v[i].bytes;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int
cs_set_aside(struct cs *s, uint64_t seq, struct err *e)
{
    char name[64], bad[64];

    batch_name(name, sizeof(name), seq, "");
    batch_name(bad, sizeof(bad), seq, ".bad");
    if (renameat(s->dirfd, name, s->dirfd, bad) < 0)
        return err_set(e, ERR_IO, "%s/%s: cannot rename: %s", s->dir, name, strerror(errno));
    /* cs_remove forgets it; the file under its new name stays */
    return cs_remove(s, seq, e);
}

void
cs_counts(struct cs *s, uint64_t *files, uint64_t *bytes)
{
    pthread_mutex_lock(&s->mu);
    *files = s->n;
    *bytes = s->bytes;
    pthread_mutex_unlock(&s->mu);
}

int
cs_remove_orphans(const char *dir, double age_s, FILE *out, int *removed, struct err *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    time_t now = time(NULL);

    *removed = 0;
    if (d == NULL)
        return err_set(e, ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".tmp") != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            difftime(now, st.st_mtime) < age_s)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            fprintf(out, "removed %s/%s (%lld bytes, %.0f s old)\n", dir, de->d_name,
                    (long long)st.st_size, difftime(now, st.st_mtime));
            (*removed)++;
        }
    }
    closedir(d);
    return 0;
}

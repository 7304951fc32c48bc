/* collector_journal: segments, group commit, overflow and read-back (see collector_journal.h).
 *
 * Positions: an LSN is the count of bytes ever appended by this process; flushed_lsn says how
 * far fdatasync has reached. Only one fdatasync runs at a time (flushing), and a segment's fd
 * is closed only while none runs, so the leader never syncs a closed or reused descriptor.
 * When a segment is closed it has either been synced (rotation) or all its events are already
 * safe in Kafka or a batch file (cj_done), so flushed_lsn may jump to written_lsn then.
 *
 * Invariant: the reader (overflow) position is always at or before the journal's end, and the
 * switch back to memory mode happens under the lock in the same critical section that sees
 * the reader at the end, so no event is ever both queued and read back, nor skipped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector_journal.h"

enum { READ_CHUNK = 4 << 20 }; /* more than the longest line */

struct seg {
    uint64_t seq, n_events, n_done, bytes;
    int closed;
};

struct cj {
    pthread_mutex_t mu;
    pthread_cond_t flushed_cv, avail_cv;
    int dirfd;
    char dir[512];
    uint64_t seg_max;
    struct seg *segs; /* ascending seq; only the last may be open (cur_fd >= 0) */
    size_t nsegs, cap;
    int cur_fd;
    uint64_t next_seq, written_lsn, flushed_lsn, bytes, leftover;
    int flushing, stopped;
    int broken; /* an fdatasync failed: after that Linux may report success for lost pages */
    struct cq q;
    /* overflow and read-back */
    int overflow;
    uint64_t rd_seq, buf_off; /* rbuf[0] is at buf_off in segment rd_seq */
    int rfd;
    char *rbuf;
    size_t rlen, rpos;
};

static void
seg_name(char *buf, size_t len, uint64_t seq)
{
    snprintf(buf, len, "journal-%016" PRIu64 ".jsonl", seq);
}

static struct seg *
seg_find(struct cj *j, uint64_t seq)
{
    for (size_t i = 0; i < j->nsegs; i++)
        if (j->segs[i].seq >= seq)
            return &j->segs[i];
    return NULL;
}

static int
seg_add(struct cj *j, uint64_t seq, uint64_t n, uint64_t bytes, int closed)
{
    if (j->nsegs == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        struct seg *s = realloc(j->segs, cap * sizeof(*s));
        if (s == NULL)
            return -1;
        j->segs = s;
        j->cap = cap;
    }
    j->segs[j->nsegs++] = (struct seg){seq, n, 0, bytes, closed};
    j->bytes += bytes;
    return 0;
}

/* Delete s when it is closed and all its events are safe (under mu). */
static void
seg_maybe_delete(struct cj *j, struct seg *s)
{
    char name[64];
    size_t i = (size_t)(s - j->segs);

    if (!s->closed || s->n_done < s->n_events)
        return;
    if (j->overflow && j->rd_seq == s->seq && j->rlen > j->rpos)
        return; /* the reader still holds lines of it (skipped later as a torn tail) */
    seg_name(name, sizeof(name), s->seq);
    unlinkat(j->dirfd, name, 0);
    j->bytes -= s->bytes;
    memmove(s, s + 1, (j->nsegs - i - 1) * sizeof(*s));
    j->nsegs--;
}

/* Close the open segment seq (under mu): wait for a running fdatasync, then sync it, or
 * (sync == 0) close it only when all its events are safe. The wait releases mu, so what was
 * decided before it is checked again after: another thread may have closed seq and opened a
 * newer segment, or appended to seq, in between. */
static int
seg_close_current(struct cj *j, uint64_t seq, int sync)
{
    struct seg *s;
    int rc = 0;

    while (j->flushing)
        pthread_cond_wait(&j->flushed_cv, &j->mu);
    if (j->cur_fd < 0 || (s = &j->segs[j->nsegs - 1])->seq != seq)
        return 0;
    if (!sync && s->n_done < s->n_events)
        return 0;
    if (sync && fdatasync(j->cur_fd) != 0) {
        j->broken = 1;
        rc = -1;
    }
    close(j->cur_fd);
    j->cur_fd = -1;
    j->segs[j->nsegs - 1].closed = 1;
    if (rc == 0)
        j->flushed_lsn = j->written_lsn;
    pthread_cond_broadcast(&j->flushed_cv);
    seg_maybe_delete(j, &j->segs[j->nsegs - 1]);
    return rc;
}

/* Count the complete lines of a leftover segment. */
static int
count_lines(int dirfd, const char *name, uint64_t *n, uint64_t *bytes)
{
    char *buf = malloc(1 << 16);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t r = 0;

    *n = *bytes = 0;
    if (buf == NULL || fd < 0) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((r = read(fd, buf, 1 << 16)) > 0) {
        *bytes += (uint64_t)r;
        for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))) != NULL; p++)
            (*n)++;
    }
    free(buf);
    close(fd);
    return r < 0 ? -1 : 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Find the leftover segments, in order (seqs malloc'd). */
static int
list_segments(int dirfd, uint64_t **seqs, size_t *n)
{
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *de;
    size_t cap = 0;
    uint64_t seq;
    char tail[16];

    *seqs = NULL;
    *n = 0;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        if (sscanf(de->d_name, "journal-%16" SCNu64 ".jsonl%1s", &seq, tail) != 1 ||
            strlen(de->d_name) != 30)
            continue;
        if (*n == cap) {
            uint64_t *v = realloc(*seqs, (cap = cap ? cap * 2 : 16) * sizeof(*v));
            if (v == NULL)
                break;
            *seqs = v;
        }
        (*seqs)[(*n)++] = seq;
    }
    closedir(d);
    if (*n > 0)
        qsort(*seqs, *n, sizeof(**seqs), cmp_u64);
    return 0;
}

static int
load_leftovers(struct cj *j, struct err *e)
{
    uint64_t *seqs, n_ev, bytes;
    size_t n;
    char name[64];

    if (list_segments(j->dirfd, &seqs, &n) < 0)
        return err_set(e, ERR_IO, "%s: cannot list: %s", j->dir, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        seg_name(name, sizeof(name), seqs[i]);
        if (count_lines(j->dirfd, name, &n_ev, &bytes) < 0 || seg_add(j, seqs[i], n_ev, bytes, 1)) {
            err_set(e, ERR_IO, "%s/%s: cannot read: %s", j->dir, name, strerror(errno));
            free(seqs);
            return -1;
        }
        j->leftover += n_ev;
        j->next_seq = seqs[i] + 1;
    }
    free(seqs);
    if (j->nsegs > 0) {
        j->overflow = 1;
        j->rd_seq = j->segs[0].seq;
    }
    return 0;
}

struct cj *
cj_open(int dirfd, const char *dir, uint64_t seg_max, size_t queue_max, struct err *e)
{
    struct cj *j = calloc(1, sizeof(*j));

    if (j == NULL || (j->rbuf = malloc(READ_CHUNK)) == NULL || cq_init(&j->q, queue_max) < 0) {
        err_set(e, ERR_FAIL, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->flushed_cv, NULL);
    pthread_cond_init(&j->avail_cv, NULL);
    j->dirfd = dirfd;
    snprintf(j->dir, sizeof(j->dir), "%s", dir);
    j->seg_max = seg_max;
    j->cur_fd = j->rfd = -1;
    j->next_seq = 1;
    if (load_leftovers(j, e) == 0)
        return j;
fail:
    cj_free(j);
    return NULL;
}

/* Make sure a segment is open with room for len more bytes (under mu). */
static int
seg_ready(struct cj *j, size_t len, struct err *e)
{
    char name[64];

    if (j->cur_fd >= 0 && j->segs[j->nsegs - 1].bytes > 0 &&
        j->segs[j->nsegs - 1].bytes + len > j->seg_max &&
        seg_close_current(j, j->segs[j->nsegs - 1].seq, 1) < 0)
        return err_set(e, ERR_IO, "%s: fdatasync of a full segment: %s", j->dir, strerror(errno));
    if (j->cur_fd >= 0)
        return 0;
    seg_name(name, sizeof(name), j->next_seq);
    j->cur_fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (j->cur_fd < 0)
        return err_set(e, ERR_IO, "%s/%s: cannot create: %s", j->dir, name, strerror(errno));
    /* the new name must survive a crash too */
    if (fsync(j->dirfd) != 0 || seg_add(j, j->next_seq, 0, 0, 0) < 0) {
        err_set(e, ERR_IO, "%s: fsync of the folder: %s", j->dir, strerror(errno));
        close(j->cur_fd);
        j->cur_fd = -1;
        unlinkat(j->dirfd, name, 0);
        return -1;
    }
    j->next_seq++;
    return 0;
}

/* Write all of buf to the open segment; a failed write is cut off again (under mu). */
static int
seg_write(struct cj *j, const char *buf, size_t len, struct err *e)
{
    struct seg *s = &j->segs[j->nsegs - 1];
    size_t done = 0;

    while (done < len) {
        ssize_t w = write(j->cur_fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int saved = errno;
            if (ftruncate(j->cur_fd, (off_t)s->bytes) != 0) {
                j->broken = 1; /* nothing may follow the torn line in this segment */
                seg_close_current(j, s->seq, 1);
            }
            return err_set(e, ERR_IO, "%s: journal write: %s", j->dir, strerror(saved));
        }
        done += (size_t)w;
    }
    return 0;
}

/* Copies of the lines for the memory queue (NULL when out of memory). */
static char **
copy_lines(const char *buf, size_t len, const size_t *offs, size_t n)
{
    char **v = malloc((n ? n : 1) * sizeof(*v));

    for (size_t i = 0; v != NULL && i < n; i++) {
        size_t l = (i + 1 < n ? offs[i + 1] : len) - offs[i];
        if ((v[i] = malloc(l + 1)) == NULL) {
            while (i-- > 0)
                free(v[i]);
            free(v);
            return NULL;
        }
        memcpy(v[i], buf + offs[i], l);
        v[i][l] = '\0';
    }
    return v;
}

/* Queue the copies, or switch to overflow (under mu). Returns 1 when they went to memory. */
static int
enqueue(struct cj *j, char **copies, const size_t *offs, size_t n, size_t len, uint64_t start)
{
    struct seg *s = &j->segs[j->nsegs - 1];

    if (!j->overflow && copies != NULL && cq_fits(&j->q, n)) {
        for (size_t i = 0; i < n; i++) {
            size_t l = (i + 1 < n ? offs[i + 1] : len) - offs[i];
            cq_push(&j->q, &(struct cq_item){s->seq, copies[i], l});
        }
        return 1;
    }
    if (!j->overflow) {
        j->overflow = 1;
        j->rd_seq = s->seq;
        j->buf_off = start;
        j->rlen = j->rpos = 0;
    }
    return 0;
}

/* Write buf at the end of the open segment (under mu); *start is where it begins. */
static int
append_locked(struct cj *j, const char *buf, size_t len, uint64_t *start, struct err *e)
{
    if (j->stopped)
        return err_set(e, ERR_FAIL, "the collector is stopping");
    if (!j->broken && seg_ready(j, len, e) < 0)
        return -1;
    if (j->broken) /* (also when it broke while seg_ready waited) */
        return err_set(e, ERR_IO,
                       "%s: a write or fdatasync of the journal failed; restart the "
                       "collector",
                       j->dir);
    *start = j->segs[j->nsegs - 1].bytes;
    return seg_write(j, buf, len, e);
}

int
cj_append(struct cj *j, const char *buf, size_t len, const size_t *offs, size_t n, uint64_t *lsn,
          int *overflowed, struct err *e)
{
    char **copies = copy_lines(buf, len, offs, n);
    int queued = 0, rc;
    uint64_t start = 0;

    pthread_mutex_lock(&j->mu);
    if ((rc = append_locked(j, buf, len, &start, e)) == 0) {
        struct seg *s = &j->segs[j->nsegs - 1];
        s->bytes += len;
        s->n_events += n;
        j->bytes += len;
        j->written_lsn += len;
        *lsn = j->written_lsn;
        queued = enqueue(j, copies, offs, n, len, start);
        *overflowed = !queued;
        pthread_cond_signal(&j->avail_cv);
    }
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; !queued && copies != NULL && i < n; i++)
        free(copies[i]);
    free(copies);
    return rc;
}

int
cj_commit(struct cj *j, uint64_t lsn, struct err *e)
{
    int rc = 0;

    pthread_mutex_lock(&j->mu);
    while (rc == 0 && j->flushed_lsn < lsn) {
        if (j->broken) {
            rc = err_set(e, ERR_IO, "%s: an fdatasync of the journal failed", j->dir);
            break;
        }
        if (j->flushing) {
            pthread_cond_wait(&j->flushed_cv, &j->mu);
            continue;
        }
        /* the leader: sync everything written so far, for every waiter */
        uint64_t target = j->written_lsn;
        int fd = j->cur_fd, r, saved;
        j->flushing = 1;
        pthread_mutex_unlock(&j->mu);
        r = fd >= 0 ? fdatasync(fd) : 0;
        saved = errno;
        pthread_mutex_lock(&j->mu);
        j->flushing = 0;
        if (r == 0 && target > j->flushed_lsn)
            j->flushed_lsn = target;
        else if (r != 0) {
            /* never trust a later fdatasync of the same file: fail every waiter from now on */
            j->broken = 1;
            rc = err_set(e, ERR_IO, "%s: journal fdatasync: %s", j->dir, strerror(saved));
        }
        pthread_cond_broadcast(&j->flushed_cv);
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Point the reader at the start of segment seq (under mu). */
static void
reader_seek(struct cj *j, uint64_t seq)
{
    if (j->rfd >= 0)
        close(j->rfd);
    j->rfd = -1;
    j->rd_seq = seq;
    j->buf_off = 0;
    j->rlen = j->rpos = 0;
}

/* The reader reached the journal's end: back to memory mode (under mu). */
static int
reader_caught_up(struct cj *j)
{
    reader_seek(j, 0);
    j->overflow = 0;
    return 0;
}

/* Read more of segment s from the reader's position up to limit, the lock released while
 * reading (only the sender moves the reader; appends only move limit forward). */
static int
reader_fill(struct cj *j, const struct seg *s, uint64_t limit, struct err *e)
{
    uint64_t pos = j->buf_off + j->rpos, seq = s->seq;
    size_t keep = j->rlen - j->rpos, want;
    char name[64];
    ssize_t r;

    memmove(j->rbuf, j->rbuf + j->rpos, keep);
    j->buf_off = pos;
    j->rpos = 0;
    j->rlen = keep;
    want =
        limit - pos - keep < READ_CHUNK - keep ? (size_t)(limit - pos - keep) : READ_CHUNK - keep;
    seg_name(name, sizeof(name), seq);
    if (j->rfd < 0 && (j->rfd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
        return err_set(e, ERR_IO, "%s/%s: cannot open: %s", j->dir, name, strerror(errno));
    pthread_mutex_unlock(&j->mu);
    r = pread(j->rfd, j->rbuf + keep, want, (off_t)(pos + keep));
    pthread_mutex_lock(&j->mu);
    if (r < 0)
        return err_set(e, ERR_IO, "%s/%s: read: %s", j->dir, name, strerror(errno));
    if (r == 0)
        return err_set(e, ERR_IO, "%s/%s: shorter than expected", j->dir, name);
    j->rlen += (size_t)r;
    return 0;
}

/* The next line read back from the journal (under mu): 1, 0 when caught up, -1 on error. */
static int
reader_next(struct cj *j, struct cq_item *it, struct err *e)
{
    for (;;) {
        char *nl = memchr(j->rbuf + j->rpos, '\n', j->rlen - j->rpos);
        if (nl != NULL) {
            size_t l = (size_t)(nl + 1 - (j->rbuf + j->rpos));
            if ((it->line = malloc(l + 1)) == NULL)
                return err_set(e, ERR_FAIL, "out of memory");
            memcpy(it->line, j->rbuf + j->rpos, l);
            it->line[l] = '\0';
            it->len = l;
            it->seg = j->rd_seq;
            j->rpos += l;
            return 1;
        }
        struct seg *s = seg_find(j, j->rd_seq);
        if (s == NULL)
            return reader_caught_up(j);
        if (s->seq != j->rd_seq) {
            reader_seek(j, s->seq);
            continue;
        }
        int last = s == &j->segs[j->nsegs - 1];
        uint64_t have = j->buf_off + j->rlen;
        if (have < s->bytes) {
            if (reader_fill(j, s, s->bytes, e) < 0)
                return -1;
            continue;
        }
        /* at the end of s; what is left without '\n' is a torn line of a crash */
        if (last)
            return reader_caught_up(j);
        reader_seek(j, s[1].seq);
        if (s->closed && s->n_done >= s->n_events)
            seg_maybe_delete(j, s);
    }
}

static void
deadline_ts(int64_t deadline_ns, struct timespec *ts)
{
    struct timespec now;
    int64_t left;

    clock_gettime(CLOCK_MONOTONIC, &now);
    left = deadline_ns - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
    clock_gettime(CLOCK_REALTIME, ts); /* the condition variable's clock */
    if (left < 0)
        left = 0;
    ts->tv_sec += left / 1000000000;
    ts->tv_nsec += left % 1000000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

int
cj_next(struct cj *j, struct cq_item *it, int64_t deadline_ns, struct err *e)
{
    int rc = 0;
    struct timespec ts;

    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (cq_pop(&j->q, it) == 0) {
            rc = 1;
            break;
        }
        if (j->overflow && (rc = reader_next(j, it, e)) != 0)
            break;
        if (j->overflow)
            continue;
        if (deadline_ns == 0 || j->stopped)
            break;
        deadline_ts(deadline_ns, &ts);
        if (pthread_cond_timedwait(&j->avail_cv, &j->mu, &ts) == ETIMEDOUT) {
            deadline_ns = 0; /* one more look, then give up */
        }
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void
cj_done(struct cj *j, uint64_t seg, uint64_t n)
{
    struct seg *s;

    pthread_mutex_lock(&j->mu);
    s = seg_find(j, seg);
    if (s != NULL && s->seq == seg) {
        s->n_done += n;
        if (s->n_done >= s->n_events && !s->closed && j->cur_fd >= 0)
            seg_close_current(j, seg, 0); /* every event of it is safe: nothing to sync */
        else
            seg_maybe_delete(j, s);
    }
    pthread_mutex_unlock(&j->mu);
}

void
cj_stop(struct cj *j)
{
    pthread_mutex_lock(&j->mu);
    j->stopped = 1;
    pthread_cond_broadcast(&j->avail_cv);
    pthread_mutex_unlock(&j->mu);
}

int
cj_idle(struct cj *j)
{
    int idle;

    pthread_mutex_lock(&j->mu);
    idle = j->q.len == 0 && !j->overflow;
    pthread_mutex_unlock(&j->mu);
    return idle;
}

void
cj_get_stats(struct cj *j, struct cj_stats *s)
{
    pthread_mutex_lock(&j->mu);
    s->depth = j->q.len;
    s->bytes = j->bytes;
    s->files = j->nsegs;
    s->leftover = j->leftover;
    s->overflow = j->overflow;
    s->broken = j->broken;
    s->backlog = 0;
    if (j->overflow)
        for (size_t i = 0; i < j->nsegs; i++)
            if (j->segs[i].seq >= j->rd_seq)
                s->backlog +=
                    j->segs[i].bytes - (j->segs[i].seq == j->rd_seq ? j->buf_off + j->rpos : 0);
    pthread_mutex_unlock(&j->mu);
}

void
cj_free(struct cj *j)
{
    if (j == NULL)
        return;
    if (j->rbuf != NULL) {
        pthread_mutex_lock(&j->mu);
        if (j->cur_fd >= 0)
            seg_close_current(j, j->segs[j->nsegs - 1].seq, 1);
        pthread_mutex_unlock(&j->mu);
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->flushed_cv);
        pthread_cond_destroy(&j->avail_cv);
    }
    if (j->rfd >= 0)
        close(j->rfd);
    cq_clear(&j->q);
    free(j->segs);
    free(j->rbuf);
    free(j);
}

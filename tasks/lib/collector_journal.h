/* collector_journal: the write-ahead journal and the memory queue of bin/event_collector.
 *
 * Every accepted event is one line of a journal segment, DIR/journal-<16-digit seq>.jsonl,
 * appended (cj_append) and made durable with fdatasync (cj_commit) before its 202 is sent.
 * cj_commit is a group commit: the first waiter becomes the leader and syncs everything
 * written so far; the others wait on a condition variable until the flushed position passes
 * theirs, so many concurrent requests share one fdatasync.
 *
 * Events also enter a bounded memory queue in journal order. When the queue has no room, the
 * journal switches to overflow: from then on every new event is kept in the journal only, and
 * cj_next reads them back from the segment files after the queue is empty, until it reaches
 * the journal's end; then new events go to memory again. So the sender sees every event in
 * journal order, each exactly once per process lifetime.
 *
 * A segment rotates at seg_max bytes (synced before it is closed). cj_done counts the events
 * the sender made safe (acknowledged by Kafka or inside a synced batch file); a segment whose
 * events are all safe is closed and deleted. Leftover segments found by cj_open (a previous
 * process crashed or was killed) are read back first, as in overflow; a torn last line (the
 * crash hit a write that was never acknowledged) is skipped. Thread-safe. */
#ifndef GUST_COLLECTOR_JOURNAL_H
#define GUST_COLLECTOR_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "collector_queue.h"
#include "err.h"

struct cj;

struct cj_stats {
    uint64_t depth;    /* events in the memory queue */
    uint64_t bytes;    /* bytes of every segment on disk */
    uint64_t files;    /* segments on disk */
    uint64_t leftover; /* events found in leftover segments by cj_open */
    int overflow;      /* new events go to the journal only */
    uint64_t backlog;  /* overflow: journal bytes not read back yet */
    int broken;        /* an fdatasync failed: every append fails until a restart */
};

/* Open the journal in the folder dirfd (named dir, for messages): leftover segments are
 * counted and queued for reading back. queue_max >= 1 events in memory. */
struct cj *cj_open(int dirfd, const char *dir, uint64_t seg_max, size_t queue_max, struct err *e);

/* Append the n lines of buf (len bytes; line i starts at offs[i], every line ends in '\n').
 * *lsn is the position to pass to cj_commit; *overflowed is set when the lines went to the
 * journal only. Fails (ERR_IO) when the write fails, ERR_FAIL after cj_stop. */
int cj_append(struct cj *j, const char *buf, size_t len, const size_t *offs, size_t n,
              uint64_t *lsn, int *overflowed, struct err *e);

/* Wait until everything up to lsn is on disk (group commit). ERR_IO when fdatasync fails. */
int cj_commit(struct cj *j, uint64_t lsn, struct err *e);

/* The next event for the sender, into *it (it->line owned by the caller): 1 got one, 0 none
 * before deadline_ns (CLOCK_MONOTONIC; 0 = do not wait), -1 when reading the journal
 * failed. */
int cj_next(struct cj *j, struct cq_item *it, int64_t deadline_ns, struct err *e);

/* n events of segment seg are safe: a segment closed with all its events safe is deleted. */
void cj_done(struct cj *j, uint64_t seg, uint64_t n);

/* Refuse appends from now on and wake a waiting cj_next. */
void cj_stop(struct cj *j);

/* True when the queue is empty and every journal event was read back. */
int cj_idle(struct cj *j);

void cj_get_stats(struct cj *j, struct cj_stats *s);

/* Close (the open segment is deleted when all its events are safe). NULL is fine. */
void cj_free(struct cj *j);

#endif

/* collector_spool: the batch files of bin/event_collector, DIR/batch-<16-digit seq>.avro.
 *
 * A batch that Kafka did not take is written whole to DIR/batch-<seq>.avro.tmp, fsync'd,
 * renamed to its final name and the folder fsync'd: a batch file either exists complete or not
 * at all (a crash leaves at most a .tmp, whose events are still in the journal). Files are
 * replayed in seq order, oldest first, and removed only after Kafka acknowledged them.
 * cs_counts is thread-safe; everything else is for the sender thread alone. */
#ifndef GUST_COLLECTOR_SPOOL_H
#define GUST_COLLECTOR_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct cs;

/* The spool of folder dirfd (named dir in messages), with the batch files already there. */
struct cs *cs_open(int dirfd, const char *dir, struct err *e);
void cs_free(struct cs *s);

/* Store buf as the newest batch file (durable when this returns 0). */
int cs_write(struct cs *s, const void *buf, size_t len, struct err *e);

/* The oldest batch file's seq: 0, or -1 when there is none. */
int cs_oldest(struct cs *s, uint64_t *seq);

/* Read batch file seq into *buf (malloc'd) and *len. */
int cs_read(struct cs *s, uint64_t seq, char **buf, size_t *len, struct err *e);

/* Remove batch file seq (after Kafka acknowledged it). */
int cs_remove(struct cs *s, uint64_t seq, struct err *e);

/* Rename batch file seq to batch-<seq>.avro.bad (not a readable container: kept for a human,
 * no longer replayed). */
int cs_set_aside(struct cs *s, uint64_t seq, struct err *e);

/* Count and total size of the batch files. */
void cs_counts(struct cs *s, uint64_t *files, uint64_t *bytes);

/* The maintenance job: remove the *.tmp files of dir older than age_s seconds (left by a
 * crash in the middle of a spill; their events are still in the journal) and nothing else,
 * naming each on out. *removed is their count. */
int cs_remove_orphans(const char *dir, double age_s, FILE *out, int *removed, struct err *e);

#endif

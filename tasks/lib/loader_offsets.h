/* loader_offsets: a loader group's offsets in PostgreSQL (table stream_offsets), read and
 * advanced by compare-and-set, shared by stream_loader and its --status.
 *
 * next_offset per (consumer_group, topic, partition) is the first offset not loaded yet; it
 * moves only in the transaction that stores the rows it covers. */
#ifndef GUST_LOADER_OFFSETS_H
#define GUST_LOADER_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgconn.h"

/* A partition this loader was assigned (static mode: for the whole run; group mode: kept
 * after a revocation, not owned, so the XCom still reports how far this run read it). */
struct loader_part {
    int id;
    bool owned;        /* assigned now: messages of a partition not owned are ignored */
    int64_t low, high; /* watermarks at start: --available-now reads up to high */
    int64_t stored;    /* next_offset in stream_offsets as we know it; -1: no row yet */
    int64_t next;      /* next offset to read */
    bool dirty;        /* read in the open batch */
    bool done;         /* reached high */
};

/* The stored offsets of (group, topic): rows of (partition, next_offset), into *stored. */
int loader_offsets_read(struct pgconn *db, const char *group, const char *topic,
                        struct pgconn_rows **stored, struct err *e);

/* The next_offset of partition id in rows from loader_offsets_read, or -1. */
int64_t loader_offsets_find(const struct pgconn_rows *stored, int id);

/* Advance the offsets of the dirty parts to their next, each only from the stored value
 * known (compare-and-set), in the caller's transaction. ERR_FAIL ("moved under us") when
 * another loader moved one: the caller rolls back. */
int loader_offsets_store(struct pgconn *db, const char *group, const char *topic,
                         const struct loader_part *parts, size_t n, struct err *e);

#endif

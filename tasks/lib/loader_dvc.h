/* loader_dvc: the drug registry pipeline of bin/stream_loader (issue 5), and the small
 * interface every loader pipeline implements (struct loader_pipeline).
 *
 * A pipeline turns one Kafka message into COPY rows of its target table and dead letters
 * (raw bytes + reason). It does no I/O: the loader owns the transaction, the COPY, the dead
 * letters and the offsets, so a pipeline is pure and unit-testable. Adding a pipeline
 * (users_created, recent_changes) = one loader_<name>.c with its struct loader_pipeline and
 * one entry in stream_loader.c's table. (The interface lives here until a second pipeline
 * exists; it then moves to its own loader.h unchanged.) */
#ifndef GUST_LOADER_DVC_H
#define GUST_LOADER_DVC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgconn.h"

/* ---- the pipeline interface ---------------------------------------------------------- */

/* The message being transformed (borrowed). value is NULL for a tombstone. */
struct loader_msg {
    const char *topic;
    int partition;
    int64_t offset;
    const char *value;
    size_t vlen;
};

/* Where a pipeline's output goes. Each callback returns 0, or -1 with e set to stop the
 * loader (a database error): the pipeline then returns -1 at once. */
struct loader_sink {
    /* One valid record, as a COPY row of the pipeline's copy_sql columns (borrowed). */
    int (*row)(void *ctx, const struct pgconn_row *row, struct err *e);
    /* One refused message or record: the bytes to keep (a bad record inside a good page: its
     * own JSON) and why, e.g. "item 3: soDangKy missing", items counted from 0 as in the
     * JSON array (both borrowed). */
    int (*dead)(void *ctx, const char *raw, size_t len, const char *reason, struct err *e);
    void *ctx;
};

struct loader_pipeline {
    const char *name;          /* --pipeline value */
    const char *default_topic; /* --topic when not given */
    const char *default_group; /* --group when not given */
    /* "COPY target (cols..., source_topic, source_partition, source_offset) FROM STDIN":
     * the rows parse() emits, in this column order. */
    const char *copy_sql;
    /* INSERT of one dead letter: $1 topic, $2 partition, $3 offset, $4 key and $5 payload as
     * hex (decode($n, 'hex'); NULL when absent), $6 reason. */
    const char *dead_letter_sql;
    /* Optional statements run in the batch's transaction before the COPY and after it (NULL:
     * none). A pipeline that deduplicates (users by email, wiki by rcid) COPYs into a
     * "CREATE TEMP TABLE ... ON COMMIT DROP" made by prepare_sql and merges it into the
     * target with INSERT ... ON CONFLICT in finish_sql. */
    const char *prepare_sql;
    const char *finish_sql;
    /* Transform one message: sink->row for every valid record, sink->dead for every refused
     * message or record. row is scratch space owned by the caller. Returns 0 (bad data is
     * not an error), or -1 when a sink callback failed or memory ran out. */
    int (*parse)(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
                 struct err *e);
};

/* ---- the dvc pipeline ------------------------------------------------------------------ */

/* all_data -> pharmaceutical_data_staging, dead letters in pharmaceutical_dead_letters. */
extern const struct loader_pipeline loader_dvc;

/* The number of source columns (the 29 flat fields) before source_topic/partition/offset. */
#define LOADER_DVC_COLUMNS 29

/* The camelCase field of column i (0 <= i < LOADER_DVC_COLUMNS), in copy_sql's order. */
const char *loader_dvc_field(int i);

/* Convert an ISO 8601 timestamp with an offset ("2025-12-01T22:00:51.22+07:00", 0 to 7
 * fractional digits, Z or +-HH[:MM]) to the same instant in UTC as PostgreSQL timestamptz
 * text ("2025-12-01 15:00:51.22+00"; fractional digits kept as sent). 0, or -1 with
 * ERR_PARSE for anything else (no offset, impossible date, year outside 1..9999). */
int loader_dvc_timestamp(const char *in, char *out, size_t size, struct err *e);

#endif

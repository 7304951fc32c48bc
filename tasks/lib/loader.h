/* loader: the interface every pipeline of bin/stream_loader implements (struct
 * loader_pipeline), shared by loader_dvc, loader_users and loader_wiki.
 *
 * A pipeline turns one Kafka message into COPY rows of its target table and dead letters
 * (raw bytes + reason). It does no I/O: the loader owns the transaction, the COPY, the dead
 * letters and the offsets, so a pipeline is pure and unit-testable. Adding a pipeline = one
 * loader_<name>.c with its struct loader_pipeline and one entry in stream_loader.c's table.
 * (Moved here unchanged from loader_dvc.h when the second pipeline arrived.) */
#ifndef GUST_LOADER_H
#define GUST_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "pgconn.h"

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

/* Settings a pipeline may take from stream_loader's options (each NULL: the pipeline's
 * default). Only product_view uses them today (its enrichment data). */
struct loader_config {
    const char *ua_regexes;          /* uap-core's regexes.yaml */
    const char *geoip_v4, *geoip_v6; /* legacy GeoIP country files */
    const char *geoip_city;          /* a MaxMind DB city file, or NULL for none */
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
    /* Optional (NULL: nothing to do). open is called once before the first message (load the
     * pipeline's resources; -1 with e set stops the loader), close once at the end (also after
     * a failed open). batch_end after each batch: committed true after its COMMIT, false when
     * it was rolled back, so a pipeline that remembers what the database holds (product_view's
     * dimension keys) forgets what the batch added. */
    int (*open)(const struct loader_config *cfg, struct err *e);
    void (*batch_end)(bool committed);
    void (*close)(void);
};

/* One record (a JSON object, borrowed) of message m: its rows and dead letters into sink, as
 * loader_pipeline.parse. */
typedef int (*loader_record_fn)(const json_t *rec, const struct loader_msg *m,
                                struct pgconn_row *row, const struct loader_sink *sink,
                                struct err *e);

/* parse() of a pipeline whose messages are one JSON object each: an empty message, bad JSON
 * and anything but an object become dead letters; the object goes to emit. */
int loader_parse_object(const struct loader_msg *m, struct pgconn_row *row,
                        const struct loader_sink *sink, loader_record_fn emit, struct err *e);

/* Append the source columns of m (topic, partition, offset) to row. */
int loader_row_source(struct pgconn_row *row, const struct loader_msg *m, struct err *e);

/* How many bytes of s (len bytes) to quote in a message, at most max, never cutting a UTF-8
 * character in half (a cut one would make PostgreSQL refuse the dead letter's reason). */
int loader_quote_len(const char *s, size_t len, size_t max);

/* The problems of one record, "; "-separated (truncated when very many): a dead letter's
 * reason. */
struct loader_problems {
    char text[400];
    size_t len;
    int n;
};

/* Add one problem to pr (printf-style). */
void loader_problem(struct loader_problems *pr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "an object", "an array", "a boolean", "a string" or "a number", for messages. */
const char *loader_type_name(const json_t *v);

#endif

/* loader_status: the lag of a loader group, per partition (see loader_status.h). Read-only:
 * one SELECT of stream_offsets and one watermark request per partition; it joins no group,
 * so it never moves a partition away from a running loader. */
#include "loader_status.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* One partition's numbers. */
struct status_row {
    int part;
    int64_t stored; /* -1: no row in stream_offsets */
    int64_t low, high, lag;
};

/* The stored next offset of part in r (rows of partition, next_offset), or -1. */
static int64_t
stored_of(const struct pgconn_rows *r, int part)
{
    for (int i = 0; i < pgconn_rows_count(r); i++)
        if (atoi(pgconn_rows_value(r, i, 0)) == part)
            return strtoll(pgconn_rows_value(r, i, 1), NULL, 10);
    return -1;
}

static void
print_rows(FILE *out, const char *topic, const struct status_row *rows, size_t n, bool json,
           long long total)
{
    if (!json)
        fprintf(out, "%-24s %9s %14s %14s %12s\n", "topic", "partition", "stored_offset", "log_end",
                "lag");
    for (size_t i = 0; i < n; i++) {
        const struct status_row *r = &rows[i];
        char stored[24] = "-";

        if (r->stored >= 0)
            snprintf(stored, sizeof(stored), "%" PRId64, r->stored);
        if (json)
            fprintf(out,
                    "%s{\"topic\": \"%s\", \"partition\": %d, \"stored_offset\": %s, "
                    "\"log_end\": %" PRId64 ", \"lag\": %" PRId64 "}",
                    i ? ", " : "[", topic, r->part, r->stored >= 0 ? stored : "null", r->high,
                    r->lag);
        else
            fprintf(out, "%-24s %9d %14s %14" PRId64 " %12" PRId64 "\n", topic, r->part, stored,
                    r->high, r->lag);
    }
    if (json)
        fprintf(out, "%s\n", n ? "]" : "[]");
    else
        fprintf(out, "total lag %lld\n", total);
}

int
loader_status(struct pgconn *db, struct kq_consumer *kc, const char *group, const char *topic,
              bool json, FILE *out, struct statsd *stats, long long *total, struct err *e)
{
    static const char sql[] = "SELECT \"partition\", next_offset FROM stream_offsets"
                              " WHERE consumer_group = $1 AND topic = $2";
    const char *params[] = {group, topic};
    struct pgconn_rows *stored = NULL;
    struct status_row *rows = NULL;
    int *parts = NULL, rc = -1;
    size_t n = 0;

    *total = 0;
    if (pgconn_query(db, sql, 2, params, &stored, e) < 0) {
        err_prefix(e, "read stream_offsets");
        goto out;
    }
    if (kq_consumer_partitions(kc, topic, &parts, &n, e) < 0)
        goto out;
    if ((rows = calloc(n ? n : 1, sizeof(*rows))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct status_row *r = &rows[i];
        r->part = parts[i];
        r->stored = stored_of(stored, parts[i]);
        if (kq_watermarks(kc, topic, parts[i], &r->low, &r->high, e) < 0)
            goto out;
        r->lag = r->high - (r->stored >= 0 ? r->stored : r->low);
        *total += r->lag;
        statsd_gauge(stats, (double)r->lag, "stream_loader.lag.%s.%s.%d", group, topic, r->part);
    }
    print_rows(out, topic, rows, n, json, *total);
    rc = 0;
out:
    pgconn_rows_free(stored);
    free(parts);
    free(rows);
    return rc;
}

/* loader_offsets: stream_offsets, read and advanced by compare-and-set (loader_offsets.h).
 *
 * Key invariant: a row moves only from the value its loader read or last wrote, so two
 * loaders that read the same partition (a static split set up wrong, a loader that lost its
 * partitions in a rebalance) can never both commit the same messages. */
#include "loader_offsets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stored offsets of (group, topic) into *stored. */
int
loader_offsets_read(struct pgconn *db, const char *group, const char *topic,
                    struct pgconn_rows **stored, struct err *e)
{
    static const char sql[] = "SELECT \"partition\", next_offset FROM stream_offsets"
                              " WHERE consumer_group = $1 AND topic = $2";
    const char *params[] = {group, topic};

    if (pgconn_query(db, sql, 2, params, stored, e) < 0)
        return err_prefix(e, "read stream_offsets");
    return 0;
}

/* The stored next_offset of partition id, or -1. */
int64_t
loader_offsets_find(const struct pgconn_rows *r, int id)
{
    char want[16];

    snprintf(want, sizeof(want), "%d", id);
    for (int i = 0; i < pgconn_rows_count(r); i++)
        if (strcmp(pgconn_rows_value(r, i, 0), want) == 0)
            return strtoll(pgconn_rows_value(r, i, 1), NULL, 10);
    return -1;
}

/* Append "v" (or NULL when null) to an array literal being built in f. */
static void
array_add(FILE *f, bool *first, bool null, int64_t v)
{
    fputs(*first ? "{" : ",", f);
    *first = false;
    if (null)
        fputs("NULL", f);
    else
        fprintf(f, "%" PRId64, v);
}

/* The batch's dirty partitions as three array literals: ids, next offsets, stored offsets
 * (NULL where there is no row yet). 0, or -1 when out of memory. */
static int
dirty_arrays(const struct loader_part *parts, size_t n, char **ids, char **nexts, char **prevs)
{
    size_t sizes[3];
    FILE *f[3] = {open_memstream(ids, &sizes[0]), open_memstream(nexts, &sizes[1]),
                  open_memstream(prevs, &sizes[2])};
    bool first[3] = {true, true, true};
    int rc = 0;

    for (size_t i = 0; f[0] && f[1] && f[2] && i < n; i++) {
        const struct loader_part *p = &parts[i];
        if (!p->dirty)
            continue;
        array_add(f[0], &first[0], false, p->id);
        array_add(f[1], &first[1], false, p->next);
        array_add(f[2], &first[2], p->stored < 0, p->stored);
    }
    for (int k = 0; k < 3; k++) {
        if (f[k] == NULL) {
            rc = -1;
            continue;
        }
        fputs(first[k] ? "{}" : "}", f[k]);
        rc = fclose(f[k]) != 0 ? -1 : rc;
    }
    return rc;
}

/* Advance stream_offsets for every partition the batch read, each only from the value we
 * know (compare-and-set): a partition missing from what the statement wrote means another
 * loader moved it. One statement for all of them (one per partition was 7% of a load of a
 * 64-partition topic); the row of a partition whose stored value is not the one we know is
 * left alone by the ON CONFLICT's WHERE, exactly as a statement of its own would. */
int
loader_offsets_store(struct pgconn *db, const char *group, const char *topic,
                     const struct loader_part *parts, size_t n, struct err *e)
{
    static const char sql[] =
        "INSERT INTO stream_offsets AS s (consumer_group, topic, \"partition\", next_offset)"
        " SELECT $1, $2, u.id, u.next FROM unnest($3::int[], $4::bigint[]) AS u(id, next)"
        " ON CONFLICT (consumer_group, topic, \"partition\")"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
        " WHERE s.next_offset = (SELECT k.prev FROM unnest($3::int[], $5::bigint[])"
        "                        AS k(id, prev) WHERE k.id = s.\"partition\")"
        " RETURNING s.\"partition\"";
    char *ids = NULL, *nexts = NULL, *prevs = NULL;
    struct pgconn_rows *written = NULL;
    int rc = -1;

    if (dirty_arrays(parts, n, &ids, &nexts, &prevs) < 0) {
        err_set(e, ERR_FAIL, "store offsets: out of memory");
        goto out;
    }
    const char *params[] = {group, topic, ids, nexts, prevs};
    if (pgconn_query(db, sql, 5, params, &written, e) < 0) {
        err_prefix(e, "store offsets of %s %s", topic, ids);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct loader_part *p = &parts[i];
        char id[16], prev[24];
        bool found = false;

        if (!p->dirty)
            continue;
        snprintf(id, sizeof(id), "%d", p->id);
        for (int r = 0; r < pgconn_rows_count(written) && !found; r++)
            found = strcmp(pgconn_rows_value(written, r, 0), id) == 0;
        snprintf(prev, sizeof(prev), "%" PRId64, p->stored);
        if (!found) {
            err_set(e, ERR_FAIL,
                    "%s [%d]: stream_offsets of group %s moved under us (expected %s): "
                    "another loader reads this partition; batch rolled back",
                    topic, p->id, group, p->stored >= 0 ? prev : "no row");
            goto out;
        }
    }
    rc = 0;
out:
    pgconn_rows_free(written);
    free(ids);
    free(nexts);
    free(prevs);
    return rc;
}

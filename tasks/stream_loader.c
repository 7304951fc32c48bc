/* stream_loader: Kafka -> PostgreSQL, exactly once (issue 5, the role Spark Structured
 * Streaming had in the original pipelines; docs/pipelines.md).
 *
 * consume -> parse -> validate -> transform -> COPY, with the consumer offsets stored in the
 * same database as the data (table stream_offsets: consumer_group, topic, partition,
 * next_offset). A batch is one transaction: BEGIN, COPY the valid rows, INSERT the dead letters,
 * advance stream_offsets to the next offset of every partition the batch read, COMMIT. Only
 * after COMMIT is the batch done, so a crash at any point either keeps the whole batch or none
 * of it, and the next run resumes from the stored offsets: nothing lost, nothing twice.
 * Kafka's own group offsets are never used (explicit assignment, nothing committed).
 *
 * Key invariant: the offset row of a partition is advanced with a compare-and-set on the value
 * this process read or last wrote. Two loaders that (by mistake) read the same partition can
 * therefore never both commit the same messages: the second one finds the offset moved, rolls
 * back and fails. Sharing a topic between loaders of one group is by a static split: --member
 * i/N takes the partitions p with p % N == i, --partitions lists them. (Kafka group rebalancing
 * with offsets in PostgreSQL, i.e. a rebalance callback that assigns from stream_offsets, is
 * future work; kafka.h exposes explicit assignment only.)
 *
 * At start: the stored offsets of (group, topic); for each chosen partition its watermarks; a
 * stored offset outside [low, high] is the loud data-loss error of kq_check_offset (exit 1),
 * never a silent reset; no stored offset = the partition's beginning. --available-now drains to
 * the end offsets taken at start and exits; --follow runs micro-batches until SIGTERM.
 *
 * What a message becomes is the pipeline's business (struct loader_pipeline in loader.h: the
 * COPY statement, the dead-letter INSERT, a pure parse function, optional statements before
 * the COPY and after it); this file is the same for every pipeline. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "loader.h"
#include "loader_dvc.h"
#include "loader_users.h"
#include "loader_events.h"
#include "loader_pv.h"
#include "loader_wiki.h"
#include "geo.h"
#include "pgconn.h"
#include "task.h"
#include "uaparse.h"

/* The pipelines --pipeline chooses from: one entry each. */
static const struct loader_pipeline *const pipelines[] = {
    &loader_dvc, &loader_users, &loader_wiki, &loader_events, &loader_pv, NULL};

#define USAGE                                                                                      \
    "stream_loader --pipeline dvc|users|wiki|github_events|product_view [--topic T] [--group G] "  \
    "[--available-now | --follow]\n"                                                               \
    "Load a Kafka topic into PostgreSQL exactly once: each batch's rows, dead letters and\n"       \
    "consumer offsets (table stream_offsets) are committed in one transaction.\n"                  \
    "  --available-now (the default) reads up to the end offsets taken at start, then exits;\n"    \
    "  --follow runs micro-batches (every --trigger-interval or --max-batch records) until\n"      \
    "  SIGTERM, commits the batch in progress and exits 0.\n"                                      \
    "Pipelines: dvc (all_data -> pharmaceutical_data_staging; bad messages and records ->\n"       \
    "pharmaceutical_dead_letters with the reason); users (users_created -> created_users,\n"       \
    "cleaned, one row per email, a later record replaces it); wiki (recent_changes ->\n"           \
    "wiki_recent_changes, one row per rcid, duplicates ignored); github_events\n"                  \
    "(raw_metrics_avro, one Avro container per message -> bronze.github_events, one row per\n"     \
    "record); product_view (product_view -> fact_sales and its dimensions, enriched with\n"        \
    "uap-core's regexes and GeoIP: --ua-regexes, --geoip, --geoip6, --geoip-city; refusals\n"      \
    "-> product_view_dead_letters); the others' refusals go to <table>_dead_letters.\n"            \
    "Several loaders of one group share a\n"                                                       \
    "topic by --member i/N (partition p belongs to member p % N) or --partitions 0,2,4.\n"         \
    "XCom: {\"messages\", \"records_loaded\", \"dead_letters\", \"batches\", \"partitions\": "     \
    "{\"p\": next offset}}.\n"                                                                     \
    "Exit: 0 done (also when there was nothing new: zero counts, never 99); 1 failure (data\n"     \
    "loss: a stored offset below the log start; another loader moved our offsets; an SQL\n"        \
    "error); 100 bad arguments; 111 database or Kafka unreachable (the batch in progress is\n"     \
    "rolled back; the next run resumes from the stored offsets)"

enum {
    POLL_MS = 200,                     /* longest wait in Kafka: how soon SIGTERM is seen */
    KAFKA_STALL_S = 60,                /* --available-now gives up on an unreachable broker */
    DEAD_BYTES_MAX = 64 * 1024 * 1024, /* dead letters held in memory before a commit */
};

/* One assigned partition. */
struct part {
    int id;
    int64_t low, high; /* watermarks at start: --available-now reads up to high */
    int64_t stored;    /* next_offset in stream_offsets as we know it; -1: no row yet */
    int64_t next;      /* next offset to read */
    bool dirty;        /* read in the open batch */
    bool done;         /* reached high */
};

/* A dead letter waiting for the batch's commit (hex: as decode($n, 'hex') takes it). */
struct dead_letter {
    int part;
    int64_t offset;
    char *key_hex; /* NULL: no key */
    char *payload_hex;
    char *reason;
};

struct loader {
    const struct loader_pipeline *pl;
    const char *topic, *group;
    bool follow;
    long long max_batch;
    double interval; /* seconds */
    struct pgconn *db;
    struct kq_consumer *kc;
    struct pgconn_row *row;
    struct part *parts;
    size_t nparts;
    /* the open batch */
    bool open;
    double started;
    long long b_messages, b_rows;
    struct dead_letter *dl;
    size_t ndl, capdl, dl_bytes;
    const struct kq_msg *cur; /* the message being parsed */
    /* totals */
    long long messages, rows, dead, batches;
    double trouble_since; /* first Kafka error of a run of them, 0 when none */
};

/* ---- options ------------------------------------------------------------------------- */

struct opts {
    const char *pipeline, *topic, *group, *url, *conn_id, *now, *follow, *max_batch, *interval,
        *member, *partitions;
    struct loader_config cfg;
    struct task_list x;
};

/* s as an integer in [min, max]. */
static int
parse_ll(const char *s, long long min, long long max, const char *what, long long *out,
         struct err *e)
{
    char *end;

    if (s == NULL || *s == '\0')
        return err_set(e, ERR_USAGE, "%s: a number is needed", what);
    *out = strtoll(s, &end, 10);
    if (*end != '\0' || *out < min || *out > max)
        return err_set(e, ERR_USAGE, "%s: '%s' is not an integer in [%lld, %lld]", what, s, min,
                       max);
    return 0;
}

static const struct loader_pipeline *
pipeline_find(const char *name, struct err *e)
{
    for (const struct loader_pipeline *const *p = pipelines; *p; p++)
        if (name && strcmp((*p)->name, name) == 0)
            return *p;
    err_set(e, ERR_USAGE,
            "--pipeline: unknown pipeline '%s' (known: dvc, users, wiki, github_events, "
            "product_view)",
            name ? name : "");
    return NULL;
}

/* Check the options and fill l's settings. */
static int
opts_check(struct opts *o, struct loader *l, struct err *e)
{
    bool now = task_is_true(o->now);

    l->follow = task_is_true(o->follow);
    if (now && l->follow)
        return err_set(e, ERR_USAGE, "--available-now and --follow exclude each other");
    if ((l->pl = pipeline_find(o->pipeline, e)) == NULL)
        return -1;
    l->topic = o->topic && *o->topic ? o->topic : l->pl->default_topic;
    l->group = o->group && *o->group ? o->group : l->pl->default_group;
    if (parse_ll(o->max_batch, 1, 100000000, "--max-batch", &l->max_batch, e) < 0)
        return -1;
    if (task_parse_duration(o->interval, &l->interval) < 0 || l->interval <= 0)
        return err_set(e, ERR_USAGE, "--trigger-interval: bad duration '%s'",
                       o->interval ? o->interval : "");
    if (o->member && *o->member && o->partitions && *o->partitions)
        return err_set(e, ERR_USAGE, "--member and --partitions exclude each other");
    return 0;
}

/* Is partition id ours by --member i/N or --partitions a,b,c (neither: every partition)? */
static int
partition_chosen(const struct opts *o, int id, bool *yes, struct err *e)
{
    long long i, n;

    *yes = true;
    if (o->member && *o->member) {
        const char *slash = strchr(o->member, '/');
        char first[32];
        if (slash == NULL || (size_t)(slash - o->member) >= sizeof(first))
            return err_set(e, ERR_USAGE, "--member: '%s' is not i/N", o->member);
        snprintf(first, sizeof(first), "%.*s", (int)(slash - o->member), o->member);
        if (parse_ll(slash + 1, 1, 100000, "--member N", &n, e) < 0 ||
            parse_ll(first, 0, n - 1, "--member i", &i, e) < 0)
            return -1;
        *yes = id % n == i;
    } else if (o->partitions && *o->partitions) {
        char buf[1024], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", o->partitions);
        *yes = false;
        for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (parse_ll(t, 0, INT32_MAX, "--partitions", &i, e) < 0)
                return -1;
            *yes = *yes || i == id;
        }
    }
    return 0;
}

/* Refuse a bad --member or --partitions before connecting to anything. */
static int
opts_check_split(const struct opts *o, struct err *e)
{
    bool yes;

    return partition_chosen(o, 0, &yes, e);
}

/* ---- start: stored offsets, partitions, watermarks, assignment ------------------------ */

/* The stored next_offset of partition id, or -1. */
static int64_t
stored_offset(const struct pgconn_rows *r, int id)
{
    char want[16];

    snprintf(want, sizeof(want), "%d", id);
    for (int i = 0; i < pgconn_rows_count(r); i++)
        if (strcmp(pgconn_rows_value(r, i, 0), want) == 0)
            return strtoll(pgconn_rows_value(r, i, 1), NULL, 10);
    return -1;
}

/* The number of ids in a --partitions list. */
static size_t
partitions_listed(const char *list)
{
    size_t n = 0;

    for (const char *p = list; *p; p += strcspn(p, ", "), p += strspn(p, ", "))
        n += strspn(p, ", ") == 0;
    return n;
}

/* Fill l->parts with the chosen partitions, their watermarks and stored offsets. */
static int
parts_load(struct loader *l, const struct opts *o, const int *ids, size_t n,
           const struct pgconn_rows *stored, struct err *e)
{
    bool yes;

    if ((l->parts = calloc(n ? n : 1, sizeof(*l->parts))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct part *p = &l->parts[l->nparts];

        if (partition_chosen(o, ids[i], &yes, e) < 0)
            return -1;
        if (!yes)
            continue;
        p->id = ids[i];
        p->stored = stored_offset(stored, p->id);
        if (kq_watermarks(l->kc, l->topic, p->id, &p->low, &p->high, e) < 0)
            return -1;
        /* the loud data-loss check: never a silent reset */
        if (p->stored >= 0 && kq_check_offset(l->topic, p->id, p->stored, p->low, p->high, e) < 0)
            return -1;
        p->next = p->stored >= 0 ? p->stored : p->low;
        p->done = p->next >= p->high;
        l->nparts++;
    }
    return 0;
}

/* Read stream_offsets, list and choose partitions, check and assign them. */
static int
loader_start(struct loader *l, const struct opts *o, struct err *e)
{
    static const char sql[] = "SELECT \"partition\", next_offset FROM stream_offsets"
                              " WHERE consumer_group = $1 AND topic = $2";
    const char *params[] = {l->group, l->topic};
    struct pgconn_rows *stored = NULL;
    int *ids = NULL, rc = -1;
    int64_t *starts = NULL;
    size_t n = 0;

    if (pgconn_query(l->db, sql, 2, params, &stored, e) < 0) {
        err_prefix(e, "read stream_offsets");
        goto out;
    }
    if (kq_consumer_partitions(l->kc, l->topic, &ids, &n, e) < 0 ||
        parts_load(l, o, ids, n, stored, e) < 0)
        goto out;
    if (o->partitions && *o->partitions && l->nparts != partitions_listed(o->partitions)) {
        err_set(e, ERR_USAGE,
                "--partitions %s: each must be a distinct partition of %s (%zu of them)",
                o->partitions, l->topic, n);
        goto out;
    }
    if ((starts = calloc(l->nparts ? l->nparts : 1, sizeof(*starts))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    free(ids);
    if ((ids = calloc(l->nparts ? l->nparts : 1, sizeof(*ids))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l->nparts; i++) {
        ids[i] = l->parts[i].id;
        starts[i] = l->parts[i].stored;
    }
    rc = l->nparts ? kq_assign(l->kc, l->topic, ids, starts, l->nparts, e) : 0;
out:
    pgconn_rows_free(stored);
    free(ids);
    free(starts);
    return rc;
}

/* ---- the batch --------------------------------------------------------------------- */

static char *
hex_new(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = data;
    char *s = malloc(2 * len + 1);

    for (size_t i = 0; s && i < len; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    if (s)
        s[2 * len] = '\0';
    return s;
}

static void
dead_letters_free(struct loader *l)
{
    for (size_t i = 0; i < l->ndl; i++) {
        free(l->dl[i].key_hex);
        free(l->dl[i].payload_hex);
        free(l->dl[i].reason);
    }
    l->ndl = l->dl_bytes = 0;
}

/* sink->row: stream one valid record into the COPY. */
static int
sink_row(void *ctx, const struct pgconn_row *row, struct err *e)
{
    struct loader *l = ctx;

    if (pgconn_copy_row(l->db, row, e) < 0)
        return err_prefix(e, "copy");
    l->b_rows++;
    return 0;
}

/* sink->dead: keep a dead letter of the current message until the commit. */
static int
sink_dead(void *ctx, const char *raw, size_t len, const char *reason, struct err *e)
{
    struct loader *l = ctx;
    struct dead_letter *d;

    if (l->ndl == l->capdl) {
        size_t cap = l->capdl ? 2 * l->capdl : 16;
        if ((d = realloc(l->dl, cap * sizeof(*d))) == NULL)
            return err_set(e, ERR_FAIL, "dead letter: out of memory");
        l->dl = d;
        l->capdl = cap;
    }
    d = &l->dl[l->ndl];
    d->part = l->cur->partition;
    d->offset = l->cur->offset;
    d->key_hex = l->cur->key ? hex_new(l->cur->key, l->cur->klen) : NULL;
    d->payload_hex = raw ? hex_new(raw, len) : NULL;
    d->reason = strdup(reason);
    l->ndl++;
    if ((l->cur->key && !d->key_hex) || (raw && !d->payload_hex) || !d->reason)
        return err_set(e, ERR_FAIL, "dead letter: out of memory");
    l->dl_bytes += 2 * (len + l->cur->klen) + strlen(reason);
    task_log("dead letter: %s [%d] offset %" PRId64 ": %s", l->topic, d->part, d->offset, reason);
    return 0;
}

/* BEGIN, the pipeline's prepare statement, COPY. */
static int
batch_begin(struct loader *l, struct err *e)
{
    if (pgconn_begin(l->db, e) < 0)
        return err_prefix(e, "begin");
    if (l->pl->prepare_sql && pgconn_exec(l->db, l->pl->prepare_sql, 0, NULL, NULL, e) < 0)
        return err_prefix(e, "prepare");
    if (pgconn_copy_begin(l->db, l->pl->copy_sql, e) < 0)
        return err_prefix(e, "copy");
    l->open = true;
    l->started = clock_mono();
    l->b_messages = l->b_rows = 0;
    return 0;
}

/* INSERT the batch's dead letters. */
static int
batch_dead_letters(struct loader *l, struct err *e)
{
    for (size_t i = 0; i < l->ndl; i++) {
        char part[16], off[24];
        const struct dead_letter *d = &l->dl[i];
        const char *params[] = {l->topic, part, off, d->key_hex, d->payload_hex, d->reason};

        snprintf(part, sizeof(part), "%d", d->part);
        snprintf(off, sizeof(off), "%" PRId64, d->offset);
        if (pgconn_exec(l->db, l->pl->dead_letter_sql, 6, params, NULL, e) < 0)
            return err_prefix(e, "dead letter");
    }
    return 0;
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
dirty_arrays(const struct loader *l, char **ids, char **nexts, char **prevs)
{
    size_t sizes[3];
    FILE *f[3] = {open_memstream(ids, &sizes[0]), open_memstream(nexts, &sizes[1]),
                  open_memstream(prevs, &sizes[2])};
    bool first[3] = {true, true, true};
    int rc = 0;

    for (size_t i = 0; f[0] && f[1] && f[2] && i < l->nparts; i++) {
        const struct part *p = &l->parts[i];
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
static int
batch_offsets(struct loader *l, struct err *e)
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

    if (dirty_arrays(l, &ids, &nexts, &prevs) < 0) {
        err_set(e, ERR_FAIL, "store offsets: out of memory");
        goto out;
    }
    const char *params[] = {l->group, l->topic, ids, nexts, prevs};
    if (pgconn_query(l->db, sql, 5, params, &written, e) < 0) {
        err_prefix(e, "store offsets of %s %s", l->topic, ids);
        goto out;
    }
    for (size_t i = 0; i < l->nparts; i++) {
        const struct part *p = &l->parts[i];
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
                    l->topic, p->id, l->group, p->stored >= 0 ? prev : "no row");
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

/* End the COPY, write dead letters and offsets, COMMIT: only then is the batch done. */
static int
batch_commit(struct loader *l, struct err *e)
{
    long long copied = 0;
    char where[512] = "";
    size_t at = 0;

    if (pgconn_copy_end(l->db, &copied, e) < 0)
        return err_prefix(e, "copy");
    if (copied != l->b_rows)
        return err_set(e, ERR_DB, "copy stored %lld of %lld rows", copied, l->b_rows);
    if (batch_dead_letters(l, e) < 0)
        return -1;
    if (l->pl->finish_sql && pgconn_exec(l->db, l->pl->finish_sql, 0, NULL, NULL, e) < 0)
        return err_prefix(e, "finish");
    if (batch_offsets(l, e) < 0)
        return -1;
    if (pgconn_commit(l->db, e) < 0)
        return err_prefix(e, "commit");
    l->open = false;
    if (l->pl->batch_end)
        l->pl->batch_end(true);
    for (size_t i = 0; i < l->nparts; i++) {
        struct part *p = &l->parts[i];
        if (p->dirty && at < sizeof(where))
            at += (size_t)snprintf(where + at, sizeof(where) - at, "%s%d:%" PRId64, at ? "," : "",
                                   p->id, p->next);
        if (p->dirty)
            p->stored = p->next;
        p->dirty = false;
    }
    l->batches++;
    l->messages += l->b_messages;
    l->rows += l->b_rows;
    l->dead += (long long)l->ndl;
    task_log("batch %lld committed: messages=%lld rows=%lld dead_letters=%zu next_offsets=%s",
             l->batches, l->b_messages, l->b_rows, l->ndl, where);
    dead_letters_free(l);
    return 0;
}

static bool
batch_due(const struct loader *l)
{
    return l->open && (l->b_rows + (long long)l->ndl >= l->max_batch ||
                       clock_mono() - l->started >= l->interval || l->dl_bytes >= DEAD_BYTES_MAX);
}

/* ---- the loop ---------------------------------------------------------------------- */

static struct part *
part_of(struct loader *l, int id)
{
    for (size_t i = 0; i < l->nparts; i++)
        if (l->parts[i].id == id)
            return &l->parts[i];
    return NULL;
}

static bool
all_done(const struct loader *l)
{
    for (size_t i = 0; i < l->nparts; i++)
        if (!l->parts[i].done)
            return false;
    return true;
}

/* Transform one message into the open batch (opening one if needed). */
static int
handle_msg(struct loader *l, const struct kq_msg *m, struct err *e)
{
    struct part *p = part_of(l, m->partition);
    const struct loader_sink sink = {sink_row, sink_dead, l};
    const struct loader_msg lm = {m->topic, m->partition, m->offset, m->value, m->vlen};

    if (p == NULL || m->offset < p->next)
        return 0; /* not ours, or already loaded */
    if (!l->open && batch_begin(l, e) < 0)
        return -1;
    l->cur = m;
    if (l->pl->parse(&lm, l->row, &sink, e) < 0)
        return err_prefix(e, "%s [%d] offset %" PRId64, m->topic, m->partition, m->offset);
    l->cur = NULL;
    p->next = m->offset + 1;
    p->dirty = true;
    p->done = p->done || p->next >= p->high;
    l->b_messages++;
    return 0;
}

/* A Kafka error from kq_poll: temporary ones are waited out (librdkafka reconnects), for at
 * most KAFKA_STALL_S in --available-now. */
static int
kafka_trouble(struct loader *l, struct err *e)
{
    double now = clock_mono();

    if (!e->temporary)
        return -1;
    if (l->trouble_since == 0) {
        l->trouble_since = now;
        task_log("warning: %s (waiting for Kafka)", e->msg);
    }
    if (!l->follow && now - l->trouble_since >= KAFKA_STALL_S)
        return err_prefix(e, "no progress for %d s", KAFKA_STALL_S);
    err_clear(e);
    return 0;
}

static int
loader_run(struct loader *l, struct err *e)
{
    struct kq_msg m;

    while ((l->follow || !all_done(l)) && !task_stopping()) {
        int r = kq_poll(l->kc, POLL_MS, &m, e);

        if (r == KQ_MSG) {
            l->trouble_since = 0;
            int rc = handle_msg(l, &m, e);
            kq_msg_release(&m);
            if (rc < 0)
                return -1;
        } else if (r == KQ_EOF) {
            struct part *p = part_of(l, m.partition);
            l->trouble_since = 0;
            if (p != NULL && m.offset >= p->high)
                p->done = true;
        } else if (r < 0 && kafka_trouble(l, e) < 0) {
            return -1;
        }
        if (batch_due(l) && batch_commit(l, e) < 0)
            return -1;
    }
    if (l->open && batch_commit(l, e) < 0) /* SIGTERM: finish the batch, never half */
        return -1;
    if (task_stopping() && !l->follow && !all_done(l))
        return err_set(e, ERR_FAIL,
                       "stopped by signal %d before the end offsets (%lld batch(es) "
                       "committed; the next run goes on from there)",
                       task_stop_signal(), l->batches);
    return 0;
}

/* ---- result ------------------------------------------------------------------------ */

static int
write_xcom(const struct loader *l, struct err *e)
{
    char *json = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&json, &size);
    int rc;

    if (f == NULL)
        return err_set(e, ERR_FAIL, "xcom: out of memory");
    fprintf(f,
            "{\"messages\": %lld, \"records_loaded\": %lld, \"dead_letters\": %lld, "
            "\"batches\": %lld, \"partitions\": {",
            l->messages, l->rows, l->dead, l->batches);
    for (size_t i = 0; i < l->nparts; i++)
        fprintf(f, "%s\"%d\": %" PRId64, i ? ", " : "", l->parts[i].id, l->parts[i].next);
    fprintf(f, "}}");
    if (fclose(f) != 0) {
        free(json);
        return err_set(e, ERR_FAIL, "xcom: out of memory");
    }
    rc = task_xcom_write(json, e);
    free(json);
    return rc;
}

static void
loader_free(struct loader *l)
{
    dead_letters_free(l);
    free(l->dl);
    free(l->parts);
    pgconn_row_free(l->row);
    kq_consumer_free(l->kc);
    pgconn_free(l->db); /* an open transaction is rolled back by the server */
    if (l->pl && l->pl->close)
        l->pl->close();
}

/* Connect, start and run; e says why not. */
static int
loader_main(struct loader *l, struct opts *o, struct err *e)
{
    struct task_list props = {0};
    int rc = -1;

    if (task_kafka_props(&o->x, NULL, &props, e) < 0)
        return -1;
    if (l->pl->open && l->pl->open(&o->cfg, e) < 0)
        goto out;
    if ((l->row = pgconn_row_new()) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    if (pgconn_target(&o->url, o->conn_id, e) < 0 || (l->db = pgconn_open(o->url, e)) == NULL)
        goto out;
    if ((l->kc = kq_consumer_new((const char *const *)props.v, l->group, e)) == NULL)
        goto out;
    if (loader_start(l, o, e) < 0)
        goto out;
    task_log("pipeline=%s topic=%s group=%s partitions=%zu mode=%s database=%s", l->pl->name,
             l->topic, l->group, l->nparts, l->follow ? "follow" : "available-now",
             pgconn_where(l->db));
    if (loader_run(l, e) < 0 || write_xcom(l, e) < 0)
        goto out;
    task_log("done: messages=%lld records_loaded=%lld dead_letters=%lld batches=%lld", l->messages,
             l->rows, l->dead, l->batches);
    rc = 0;
out:
    task_list_free(&props);
    return rc;
}

/* Longer than 60 lines only because of its option table (data: one row per option, with
 * its environment variable, default and help). */
int
main(int argc, char **argv)
{
    struct opts o = {0};
    struct task_opt opts[] = {
        {"--pipeline", "STREAM_LOADER_PIPELINE", "dvc",
         "what to load: dvc, users, wiki, github_events or product_view", &o.pipeline, false, NULL},
        {"--topic", "STREAM_LOADER_TOPIC", NULL,
         "Kafka topic (default: the pipeline's: all_data, users_created, recent_changes, "
         "raw_metrics_avro, product_view)",
         &o.topic, false, NULL},
        {"--group", "STREAM_LOADER_GROUP", NULL,
         "consumer group naming the offsets in stream_offsets (default: the pipeline's: "
         "dvc_staging, created_users, wiki_recent_changes, github_events_bronze, "
         "product_view_star)",
         &o.group, false, NULL},
        {"--database-url", "GUST_DATABASE_URL", NULL, "libpq conninfo or URI (else PG* variables)",
         &o.url, false, NULL},
        {"--conn-id", "GUST_CONN_ID", NULL,
         "Airflow connection id of the database (instead of --database-url)", &o.conn_id, false,
         NULL},
        {"--available-now", NULL, NULL, "drain to the end offsets taken at start, then exit",
         &o.now, true, NULL},
        {"--follow", NULL, NULL, "micro-batches until SIGTERM (service use)", &o.follow, true,
         NULL},
        {"--max-batch", "STREAM_LOADER_MAX_BATCH", "10000", "records per batch (transaction)",
         &o.max_batch, false, NULL},
        {"--trigger-interval", "STREAM_LOADER_TRIGGER_INTERVAL", "5s",
         "commit a batch at least this often", &o.interval, false, NULL},
        {"--member", "STREAM_LOADER_MEMBER", NULL, "i/N: read the partitions p with p % N == i",
         &o.member, false, NULL},
        {"--partitions", "STREAM_LOADER_PARTITIONS", NULL, "read only these partitions: 0,2,4",
         &o.partitions, false, NULL},
        {"--ua-regexes", "STREAM_LOADER_UA_REGEXES", NULL,
         "product_view: uap-core's regexes.yaml (default " UAPARSE_DEFAULT_PATH ")",
         &o.cfg.ua_regexes, false, NULL},
        {"--geoip", "STREAM_LOADER_GEOIP", NULL,
         "product_view: GeoIP country file for IPv4 (default " GEO_DEFAULT_V4 ")", &o.cfg.geoip_v4,
         false, NULL},
        {"--geoip6", "STREAM_LOADER_GEOIP6", NULL,
         "product_view: GeoIP country file for IPv6 (default " GEO_DEFAULT_V6 ")", &o.cfg.geoip_v6,
         false, NULL},
        {"--geoip-city", "STREAM_LOADER_GEOIP_CITY", NULL,
         "product_view: a MaxMind DB city file (.mmdb) for region and city (default: none)",
         &o.cfg.geoip_city, false, NULL},
        {"-X", NULL, NULL, "librdkafka property (KAFKA_FOO_BAR=v also works)", NULL, false, &o.x},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct loader l = {0};
    struct err e = {0};
    int rc;

    task_set_name("stream_loader");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP) {
        task_list_free(&o.x);
        return TASK_OK;
    }
    if (rc == 0 && opts_check(&o, &l, &e) == 0 && opts_check_split(&o, &e) == 0 &&
        loader_main(&l, &o, &e) == 0) {
        loader_free(&l);
        task_list_free(&o.x);
        return TASK_OK;
    }
    task_log("error: %s", e.msg);
    loader_free(&l);
    task_list_free(&o.x);
    return task_exit_code(&e);
}

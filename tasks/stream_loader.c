/* stream_loader: Kafka -> PostgreSQL, exactly once (issue 5, the role Spark Structured
 * Streaming had in the original pipelines; docs/pipelines.md).
 *
 * consume -> parse -> validate -> transform -> COPY, with the consumer offsets stored in the
 * same database as the data (table stream_offsets: consumer_group, topic, partition,
 * next_offset). A batch is one transaction: BEGIN, COPY the valid rows, INSERT the dead letters,
 * advance stream_offsets to the next offset of every partition the batch read, COMMIT. Only
 * after COMMIT is the batch done, so a crash at any point either keeps the whole batch or none
 * of it, and the next run resumes from the stored offsets: nothing lost, nothing twice.
 * Kafka's own group offsets are never used: nothing is committed to Kafka.
 *
 * Key invariant: the offset row of a partition is advanced with a compare-and-set on the value
 * this process read or last wrote (loader_offsets.c). Two loaders that read the same partition
 * can therefore never both commit the same messages: the second one finds the offset moved,
 * rolls back and fails.
 *
 * Sharing a topic: by default loaders of one --group are members of Kafka's consumer group
 * (kq_subscribe, cooperative-sticky). A new partition starts at its stored offset (on_assigned);
 * a partition taken away first gets the open batch committed (on_revoked). A rebalance happens
 * inside kq_poll, between messages, so a batch never holds a partition this loader no longer
 * owns. Static mode: --member i/N takes the partitions p with p % N == i, --partitions lists
 * them, with explicit assignment and no group protocol.
 *
 * On taking a partition: its stored offset and its watermarks; a stored offset outside
 * [low, high] is the loud data-loss error of kq_check_offset (exit 1), never a silent reset;
 * no stored offset = the partition's beginning. --available-now drains each partition to the
 * end offset taken when it was taken, then exits (99 when the group gave it none within
 * --settle); --follow runs micro-batches until SIGTERM.
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
#include "loader_dead.h"
#include "loader_offsets.h"
#include "loader_status.h"
#include "pgconn.h"
#include "statsd.h"
#include "task.h"
#include "uaparse.h"

/* The pipelines --pipeline chooses from: one entry each. */
static const struct loader_pipeline *const pipelines[] = {
    &loader_dvc, &loader_users, &loader_wiki, &loader_events, &loader_pv, NULL};

#define USAGE                                                                                      \
    "stream_loader --pipeline dvc|users|wiki|github_events|product_view [--topic T] [--group G] "  \
    "[--available-now | --follow | --status]\n"                                                    \
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
    "Loaders of one --group share the topic's partitions through Kafka's consumer group\n"         \
    "(offsets stay in PostgreSQL); --member i/N or --partitions 0,2,4 split them statically.\n"    \
    "--status prints the group's lag per partition (exit 1 over --max-lag N).\n"                   \
    "XCom: {\"messages\", \"records_loaded\", \"dead_letters\", \"batches\", \"partitions\": "     \
    "{\"p\": next offset}}.\n"                                                                     \
    "Exit: 0 done (also when there was nothing new: zero counts); 99 --available-now was\n"        \
    "given no partition by its group within --settle; 1 failure (data\n"                           \
    "loss: a stored offset below the log start; another loader moved our offsets; an SQL\n"        \
    "error); 100 bad arguments; 111 database or Kafka unreachable (the batch in progress is\n"     \
    "rolled back; the next run resumes from the stored offsets)"

enum {
    POLL_MS = 200,                     /* longest wait in Kafka: how soon SIGTERM is seen */
    LAG_EVERY_S = 10,                  /* lag gauges at least this often (metrics on) */
    KAFKA_STALL_S = 60,                /* --available-now gives up on an unreachable broker */
    DEAD_BYTES_MAX = 64 * 1024 * 1024, /* dead letters held in memory before a commit */
};

struct loader {
    const struct loader_pipeline *pl;
    const char *topic, *group;
    bool follow;
    bool grouped;         /* Kafka consumer group (kq_subscribe), not a static split */
    bool assigned_once;   /* group mode: the group answered at least once */
    bool ever_owned;      /* group mode: some partition was ours at some point */
    double settle;        /* group mode, --available-now: an empty assignment waits this long */
    double since;         /* group mode: subscribe or the last assignment, monotonic */
    struct statsd *stats; /* NULL: metrics off */
    double lag_sent;      /* when lag gauges were last sent */
    bool skipped;         /* group mode, --available-now: nothing was assigned (exit 99) */
    long long max_batch;
    double interval; /* seconds */
    struct pgconn *db;
    struct kq_consumer *kc;
    struct pgconn_row *row;
    struct loader_part *parts;
    size_t nparts, capparts;
    /* the open batch */
    bool open;
    double started;
    long long b_messages, b_rows;
    struct loader_dead dl;    /* the open batch's dead letters */
    const struct kq_msg *cur; /* the message being parsed */
    /* totals */
    long long messages, rows, dead, batches;
    double trouble_since; /* first Kafka error of a run of them, 0 when none */
};

/* ---- options ------------------------------------------------------------------------- */

struct opts {
    const char *pipeline, *topic, *group, *url, *conn_id, *now, *follow, *max_batch, *interval,
        *member, *partitions, *settle, *status, *max_lag, *output, *session;
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
    l->grouped = !(o->member && *o->member) && !(o->partitions && *o->partitions);
    if (task_parse_duration(o->settle, &l->settle) < 0)
        return err_set(e, ERR_USAGE, "--settle: bad duration '%s'", o->settle ? o->settle : "");
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

/* The number of ids in a --partitions list. */
static size_t
partitions_listed(const char *list)
{
    size_t n = 0;

    for (const char *p = list; *p; p += strcspn(p, ", "), p += strspn(p, ", "))
        n += strspn(p, ", ") == 0;
    return n;
}

/* The entry of partition id (owned or not), or NULL. */
static struct loader_part *
part_find(struct loader *l, int id)
{
    for (size_t i = 0; i < l->nparts; i++)
        if (l->parts[i].id == id)
            return &l->parts[i];
    return NULL;
}

/* The entry of partition id, made if new. NULL when out of memory. */
static struct loader_part *
part_get(struct loader *l, int id)
{
    struct loader_part *p = part_find(l, id);

    if (p != NULL)
        return p;
    if (l->nparts == l->capparts) {
        size_t cap = l->capparts ? 2 * l->capparts : 16;
        if ((p = realloc(l->parts, cap * sizeof(*p))) == NULL)
            return NULL;
        l->parts = p;
        l->capparts = cap;
    }
    p = &l->parts[l->nparts++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    return p;
}

/* Take partition id from its stored offset: watermarks now (--available-now reads up to this
 * high), and the loud data-loss check, never a silent reset. */
static int
part_take(struct loader *l, int id, const struct pgconn_rows *stored, struct err *e)
{
    struct loader_part *p = part_get(l, id);

    if (p == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    p->stored = loader_offsets_find(stored, id);
    p->dirty = false;
    if (kq_watermarks(l->kc, l->topic, id, &p->low, &p->high, e) < 0)
        return -1;
    if (p->stored >= 0 && kq_check_offset(l->topic, id, p->stored, p->low, p->high, e) < 0)
        return -1;
    p->next = p->stored >= 0 ? p->stored : p->low;
    p->done = p->next >= p->high;
    p->owned = true;
    return 0;
}

/* Static mode: take the partitions chosen by --member or --partitions. */
static int
parts_load(struct loader *l, const struct opts *o, const int *ids, size_t n,
           const struct pgconn_rows *stored, struct err *e)
{
    bool yes;

    for (size_t i = 0; i < n; i++) {
        if (partition_chosen(o, ids[i], &yes, e) < 0)
            return -1;
        if (yes && part_take(l, ids[i], stored, e) < 0)
            return -1;
    }
    return 0;
}

/* Static mode: read stream_offsets, list and choose partitions, check and assign them. */
static int
loader_start(struct loader *l, const struct opts *o, struct err *e)
{
    struct pgconn_rows *stored = NULL;
    int *ids = NULL, rc = -1;
    int64_t *starts = NULL;
    size_t n = 0;

    if (loader_offsets_read(l->db, l->group, l->topic, &stored, e) < 0)
        goto out;
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
        /* an explicit offset, the log start when nothing is stored: librdkafka resolves a
         * logical one (BEGINNING) on a 500 ms timer, most of a tiny load's time */
        starts[i] = l->parts[i].next;
    }
    rc = l->nparts ? kq_assign(l->kc, l->topic, ids, starts, l->nparts, e) : 0;
out:
    pgconn_rows_free(stored);
    free(ids);
    free(starts);
    return rc;
}

/* ---- the batch --------------------------------------------------------------------- */

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
    const struct kq_msg *m = l->cur;

    if (loader_dead_add(&l->dl, m->partition, m->offset, m->key, m->klen, raw, len, reason, e) < 0)
        return -1;
    task_log("dead letter: %s [%d] offset %" PRId64 ": %s", l->topic, m->partition, m->offset,
             reason);
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

/* Lag gauges of the owned partitions: the log end as the fetcher last saw it (no request)
 * minus the committed next offset. */
static void
lag_metrics(struct loader *l)
{
    int64_t high;

    for (size_t i = 0; l->stats && i < l->nparts; i++) {
        const struct loader_part *p = &l->parts[i];
        if (p->owned && kq_cached_high(l->kc, l->topic, p->id, &high) == 0)
            statsd_gauge(l->stats, (double)(high - (p->stored >= 0 ? p->stored : p->low)),
                         "stream_loader.lag.%s.%s.%d", l->group, l->topic, p->id);
    }
    l->lag_sent = clock_mono();
}

/* The metrics of the batch just committed. */
static void
batch_metrics(struct loader *l)
{
    if (l->stats == NULL)
        return;
    statsd_count(l->stats, l->b_messages, "stream_loader.messages.%s", l->group);
    statsd_count(l->stats, l->b_rows, "stream_loader.records.%s", l->group);
    statsd_count(l->stats, (long long)l->dl.n, "stream_loader.dead_letters.%s", l->group);
    statsd_count(l->stats, 1, "stream_loader.batches.%s", l->group);
    statsd_timing(l->stats, (clock_mono() - l->started) * 1000.0, "stream_loader.batch_duration.%s",
                  l->group);
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
    if (loader_dead_insert(&l->dl, l->db, l->pl->dead_letter_sql, l->topic, e) < 0)
        return -1;
    if (l->pl->finish_sql && pgconn_exec(l->db, l->pl->finish_sql, 0, NULL, NULL, e) < 0)
        return err_prefix(e, "finish");
    if (loader_offsets_store(l->db, l->group, l->topic, l->parts, l->nparts, e) < 0)
        return -1;
    if (pgconn_commit(l->db, e) < 0)
        return err_prefix(e, "commit");
    l->open = false;
    batch_metrics(l);
    if (l->pl->batch_end)
        l->pl->batch_end(true);
    for (size_t i = 0; i < l->nparts; i++) {
        struct loader_part *p = &l->parts[i];
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
    l->dead += (long long)l->dl.n;
    task_log("batch %lld committed: messages=%lld rows=%lld dead_letters=%zu next_offsets=%s",
             l->batches, l->b_messages, l->b_rows, l->dl.n, where);
    lag_metrics(l);
    loader_dead_clear(&l->dl);
    return 0;
}

static bool
batch_due(const struct loader *l)
{
    return l->open && (l->b_rows + (long long)l->dl.n >= l->max_batch ||
                       clock_mono() - l->started >= l->interval || l->dl.bytes >= DEAD_BYTES_MAX);
}

/* ---- the loop ---------------------------------------------------------------------- */

/* The owned partition id, or NULL. */
static struct loader_part *
part_of(struct loader *l, int id)
{
    struct loader_part *p = part_find(l, id);

    return p && p->owned ? p : NULL;
}

/* --available-now: has every owned partition reached the high taken when it was taken? In
 * group mode, also the group must have answered; a loader that never owned a partition
 * waits --settle for one (a cooperative rebalance hands partitions over in two rounds). */
static bool
all_done(const struct loader *l)
{
    for (size_t i = 0; i < l->nparts; i++)
        if (l->parts[i].owned && !l->parts[i].done)
            return false;
    if (!l->grouped)
        return true;
    return l->assigned_once && (l->ever_owned || clock_mono() - l->since >= l->settle);
}

/* Transform one message into the open batch (opening one if needed). */
static int
handle_msg(struct loader *l, const struct kq_msg *m, struct err *e)
{
    struct loader_part *p = part_of(l, m->partition);
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
        if (l->grouped && !l->follow && !l->assigned_once &&
            clock_mono() - l->since >= KAFKA_STALL_S) {
            err_set(e, ERR_IO, "group %s: no answer from the group coordinator in %d s", l->group,
                    KAFKA_STALL_S);
            e->temporary = true;
            return -1;
        }
        int r = kq_poll(l->kc, POLL_MS, &m, e);

        if (r == KQ_MSG) {
            l->trouble_since = 0;
            int rc = handle_msg(l, &m, e);
            kq_msg_release(&m);
            if (rc < 0)
                return -1;
        } else if (r == KQ_EOF) {
            struct loader_part *p = part_of(l, m.partition);
            l->trouble_since = 0;
            if (p != NULL && m.offset >= p->high)
                p->done = true;
        } else if (r < 0 && kafka_trouble(l, e) < 0) {
            return -1;
        }
        if (batch_due(l) && batch_commit(l, e) < 0)
            return -1;
        if (l->stats && clock_mono() - l->lag_sent >= LAG_EVERY_S)
            lag_metrics(l);
    }
    if (l->open && batch_commit(l, e) < 0) /* SIGTERM: finish the batch, never half */
        return -1;
    if (l->grouped && !l->follow && !l->ever_owned && !task_stopping()) {
        task_log("group %s: no partition of %s was assigned to this loader in %g s (other "
                 "members hold them all): nothing to do, skipped",
                 l->group, l->topic, l->settle);
        l->skipped = true;
    }
    if (task_stopping() && !l->follow && !all_done(l))
        return err_set(e, ERR_FAIL,
                       "stopped by signal %d before the end offsets (%lld batch(es) "
                       "committed; the next run goes on from there)",
                       task_stop_signal(), l->batches);
    return 0;
}

/* ---- group mode: partitions come and go --------------------------------------------- */

/* "a,b,c" of ids into buf. */
static const char *
ids_text(const int *ids, size_t n, char *buf, size_t size)
{
    size_t at = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%d", i ? "," : "", ids[i]);
    return buf;
}

/* kq_rebalance.assigned: each new partition starts at its stored offset. The open batch is
 * committed first: its connection is in COPY, and a batch never spans two assignments. */
static int
on_assigned(void *ctx, const char *topic, const int *ids, size_t n, int64_t *starts, struct err *e)
{
    struct loader *l = ctx;
    struct pgconn_rows *stored = NULL;
    char buf[512];
    int rc = 0;

    if (l->open && batch_commit(l, e) < 0)
        return err_prefix(e, "before a rebalance");
    if (n > 0 && loader_offsets_read(l->db, l->group, l->topic, &stored, e) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = part_take(l, ids[i], stored, e);
        if (rc == 0)
            starts[i] = part_find(l, ids[i])->next; /* explicit: see loader_start */
    }
    pgconn_rows_free(stored);
    if (rc < 0)
        return err_prefix(e, "assigned %s", topic);
    l->assigned_once = true;
    l->ever_owned = l->ever_owned || n > 0;
    l->since = clock_mono();
    task_log("assigned: %s [%s]", n ? topic : l->topic, ids_text(ids, n, buf, sizeof(buf)));
    return 0;
}

/* kq_rebalance.revoked: commit the open batch, then the partitions go. Committing is safe
 * even when they were lost (the group gave them away after a session timeout): the offsets'
 * compare-and-set refuses the batch if the new owner committed first, so no row lands
 * twice. */
static int
on_revoked(void *ctx, const char *topic, const int *ids, size_t n, bool lost, struct err *e)
{
    struct loader *l = ctx;
    char buf[512];
    int rc = 0;

    if (l->open && (rc = batch_commit(l, e)) < 0) {
        err_prefix(e, "revoked %s", topic);
        pgconn_rollback(l->db, NULL);
        l->open = false;
    }
    for (size_t i = 0; i < n; i++) {
        struct loader_part *p = part_find(l, ids[i]);
        if (p != NULL)
            p->owned = p->dirty = false;
    }
    task_log("revoked: %s [%s]%s", topic, ids_text(ids, n, buf, sizeof(buf)),
             lost ? " (lost: the group gave them away after a session timeout)" : "");
    return rc;
}

/* Group mode: join the group; partitions arrive through on_assigned inside kq_poll. The
 * topic is looked up first: a subscription to a topic that does not exist, or through a
 * broker that does not answer, would wait for ever instead of failing. */
static int
loader_subscribe(struct loader *l, struct err *e)
{
    const struct kq_rebalance rb = {on_assigned, on_revoked, l};
    int *ids = NULL;
    size_t n = 0;

    if (kq_consumer_partitions(l->kc, l->topic, &ids, &n, e) < 0)
        return -1;
    free(ids);
    l->since = clock_mono();
    return kq_subscribe(l->kc, l->topic, &rb, e);
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
    loader_dead_free(&l->dl);
    free(l->parts);
    pgconn_row_free(l->row);
    kq_consumer_free(l->kc);
    pgconn_free(l->db); /* an open transaction is rolled back by the server */
    statsd_free(l->stats);
    if (l->pl && l->pl->close)
        l->pl->close();
}

/* Add key=value to props unless -X or KAFKA_* set key already. */
static int
prop_default(struct task_list *props, const char *key, long long value, struct err *e)
{
    char kv[128];
    size_t klen = strlen(key);

    for (size_t i = 0; i < props->n; i++)
        if (strncmp(props->v[i], key, klen) == 0 && props->v[i][klen] == '=')
            return 0;
    snprintf(kv, sizeof(kv), "%s=%lld", key, value);
    return task_list_add(props, kv, e);
}

/* --session-timeout as librdkafka's session.timeout.ms, with heartbeats five times as often
 * (at most every 3 s, librdkafka's default). */
static int
session_props(const struct opts *o, struct task_list *props, struct err *e)
{
    double secs;
    long long ms, beat;

    if (task_parse_duration(o->session, &secs) < 0 || secs < 1 || secs > 3600)
        return err_set(e, ERR_USAGE, "--session-timeout: '%s' is not a duration in [1s, 1h]",
                       o->session ? o->session : "");
    ms = (long long)(secs * 1000);
    beat = ms / 5 < 3000 ? ms / 5 : 3000;
    return prop_default(props, "session.timeout.ms", ms, e) < 0 ||
                   prop_default(props, "heartbeat.interval.ms", beat, e) < 0
               ? -1
               : 0;
}

/* Connect, start and run; e says why not. */
static int
loader_main(struct loader *l, struct opts *o, struct err *e)
{
    struct task_list props = {0};
    int rc = -1;

    if (task_kafka_props(&o->x, NULL, &props, e) < 0 ||
        (l->grouped && session_props(o, &props, e) < 0))
        goto out;
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
    if ((l->grouped ? loader_subscribe(l, e) : loader_start(l, o, e)) < 0)
        goto out;
    task_log("pipeline=%s topic=%s group=%s assignment=%s mode=%s database=%s", l->pl->name,
             l->topic, l->group, l->grouped ? "group" : "static",
             l->follow ? "follow" : "available-now", pgconn_where(l->db));
    if (loader_run(l, e) < 0 || (!l->skipped && write_xcom(l, e) < 0))
        goto out;
    task_log("done: messages=%lld records_loaded=%lld dead_letters=%lld batches=%lld", l->messages,
             l->rows, l->dead, l->batches);
    rc = 0;
out:
    task_list_free(&props);
    return rc;
}

/* The StatsD client from the environment (NULL: metrics off). A bad setting is a usage
 * error; a host that does not resolve costs the metrics only, never the load. */
static int
stats_open(struct loader *l, struct err *e)
{
    if ((l->stats = statsd_from_env(e)) != NULL || e->code == ERR_OK)
        return 0;
    if (e->code == ERR_USAGE)
        return -1;
    task_log("warning: %s: running without metrics", e->msg);
    err_clear(e);
    return 0;
}

/* --status: the group's lag per partition on stdout; exit 1 over --max-lag. */
static int
status_main(struct loader *l, struct opts *o, struct err *e)
{
    struct task_list props = {0};
    long long max = -1, total = 0;
    bool json = o->output && strcmp(o->output, "json") == 0;
    int rc = -1;

    if (!json && o->output && strcmp(o->output, "table") != 0)
        return err_set(e, ERR_USAGE, "-o: '%s' is not table or json", o->output);
    if (o->max_lag && *o->max_lag && parse_ll(o->max_lag, 0, INT64_MAX, "--max-lag", &max, e) < 0)
        return -1;
    if (task_kafka_props(&o->x, NULL, &props, e) < 0)
        return -1;
    if (pgconn_target(&o->url, o->conn_id, e) < 0 || (l->db = pgconn_open(o->url, e)) == NULL ||
        (l->kc = kq_consumer_new((const char *const *)props.v, l->group, e)) == NULL ||
        loader_status(l->db, l->kc, l->group, l->topic, json, stdout, l->stats, &total, e) < 0)
        goto out;
    if (max >= 0 && total > max) {
        err_set(e, ERR_FAIL, "group %s on %s: total lag %lld is over --max-lag %lld", l->group,
                l->topic, total, max);
        goto out;
    }
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
        {"--settle", "STREAM_LOADER_SETTLE", "5s",
         "group mode, --available-now: how long to wait for a partition before exiting 99",
         &o.settle, false, NULL},
        {"--session-timeout", "STREAM_LOADER_SESSION_TIMEOUT", "45s",
         "group mode: a member silent this long loses its partitions (kill -9 moves them then)",
         &o.session, false, NULL},
        {"--status", NULL, NULL, "print the group's lag per partition and exit", &o.status, true,
         NULL},
        {"--max-lag", "STREAM_LOADER_MAX_LAG", NULL,
         "--status: exit 1 when the total lag is over N", &o.max_lag, false, NULL},
        {"-o", NULL, "table", "--status output: table or json", &o.output, false, NULL},
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
        stats_open(&l, &e) == 0 &&
        (task_is_true(o.status) ? status_main(&l, &o, &e) : loader_main(&l, &o, &e)) == 0) {
        rc = l.skipped ? TASK_SKIP : TASK_OK;
        loader_free(&l);
        task_list_free(&o.x);
        return rc;
    }
    task_log("error: %s", e.msg);
    loader_free(&l);
    task_list_free(&o.x);
    return task_exit_code(&e);
}

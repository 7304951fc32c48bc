/* kafka: producer and consumer for the task executables (see kafka.h); the only file that
 * includes librdkafka.
 *
 * Producer invariant: success means acknowledged. Counters move only in the delivery report
 * callback, which librdkafka runs in our thread inside rd_kafka_poll/rd_kafka_flush, so no
 * locking is needed; kq_flush returns 0 only when no message ever failed and none is pending,
 * which is what lets a crawler advance its watermark.
 *
 * Consumer invariant: offsets live with the data in PostgreSQL, so librdkafka never commits
 * and never resets: auto.offset.reset=error turns "the offset is gone" into an error, and
 * kq_assign refuses a stored offset that retention has already deleted. Silently starting
 * over at the earliest or latest offset would lose or duplicate data without anyone noticing.
 *
 * librdkafka's own log lines go through task_log (its log callback runs on librdkafka's
 * threads; task_log writes each line with one write(2)). */
#include "kafka.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "task.h"

enum {
    META_TIMEOUT_MS = 10000,    /* metadata and watermark requests */
    QUEUE_FULL_WAIT_MS = 30000, /* kq_produce's bound on waiting for queue space */
    PURGE_WAIT_MS = 5000,       /* collecting the reports of purged messages */
};

struct kq_producer {
    rd_kafka_t *rk;
    uint64_t sent, delivered, failed;
    rd_kafka_resp_err_t first_err; /* first failed delivery */
    char first_msg[160];
    rd_kafka_resp_err_t last_err; /* last client error (error_cb): why nothing arrives */
    char last_msg[160];
};

struct kq_consumer {
    rd_kafka_t *rk;
    rd_kafka_message_t *cur; /* the message lent to the caller by kq_poll */
    struct kq_rebalance rb;  /* group mode: the owner's callbacks (NULL members: none) */
    bool rb_failed;          /* a callback failed: the next kq_poll returns rb_err */
    struct err rb_err;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Errors that may go away by themselves: broker down, network, timeouts, leader moves. */
static bool
kerr_temporary(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
        return true;
    default:
        return false;
    }
}

/* err_set for a librdkafka error code: ERR_IO, temporary when it may pass. */
static int
kerr_set(struct err *e, rd_kafka_resp_err_t err, const char *what)
{
    err_set(e, ERR_IO, "%s: %s", what, rd_kafka_err2str(err));
    if (e != NULL)
        e->temporary = kerr_temporary(err);
    return -1;
}

static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    task_log("kafka level=%d %s: %s", level, fac, buf);
}

/* ---- configuration ---- */

/* Apply "key=value" pairs (NULL-terminated list, may be NULL) to conf. */
static int
conf_apply(rd_kafka_conf_t *conf, const char *const *props, struct err *e)
{
    char errstr[256], key[256];

    for (; props && *props; props++) {
        const char *eq = strchr(*props, '=');
        size_t klen = eq ? (size_t)(eq - *props) : 0;

        if (klen == 0 || klen >= sizeof(key))
            return err_set(e, ERR_USAGE, "bad Kafka property '%.60s' (want key=value)", *props);
        memcpy(key, *props, klen);
        key[klen] = '\0';
        /* The value is not repeated in our message: it may be a password. */
        if (rd_kafka_conf_set(conf, key, eq + 1, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            return err_set(e, ERR_USAGE, "Kafka property %s: %s", key, errstr);
    }
    return 0;
}

/* A configuration from our defaults, then the caller's props (which win), then last. */
static rd_kafka_conf_t *
conf_new(const char *const *defaults, const char *const *props, const char *const *last,
         struct err *e)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char client_id[128];
    size_t size = 0;

    snprintf(client_id, sizeof(client_id), "client.id=gust-%s", task_name());
    const char *const ours[] = {client_id, NULL};
    if (conf_apply(conf, ours, e) < 0 || conf_apply(conf, defaults, e) < 0 ||
        conf_apply(conf, props, e) < 0 || conf_apply(conf, last, e) < 0)
        goto fail;
    /* With dest NULL, size becomes the value's length + 1, however long the list. */
    if (rd_kafka_conf_get(conf, "bootstrap.servers", NULL, &size) != RD_KAFKA_CONF_OK ||
        size <= 1) {
        err_set(e, ERR_USAGE,
                "no Kafka bootstrap.servers (set KAFKA_BOOTSTRAP_SERVERS or "
                "-X bootstrap.servers=host:port)");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* rd_kafka_new, which takes conf only when it succeeds; here conf is always taken. */
static rd_kafka_t *
handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, struct err *e)
{
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        err_set(e, ERR_USAGE, "Kafka client: %s", errstr);
    }
    return rk;
}

/* ---- producer ---- */

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kq_producer *p = opaque;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->delivered++;
        return;
    }
    p->failed++;
    if (p->first_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->first_err = m->err;
        snprintf(p->first_msg, sizeof(p->first_msg), "delivery to %s [%" PRId32 "] failed: %s",
                 rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
    }
}

static void
on_producer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kq_producer *p = opaque;

    (void)rk;
    p->last_err = (rd_kafka_resp_err_t)err;
    snprintf(p->last_msg, sizeof(p->last_msg), "%s", reason);
    task_log("kafka error: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

struct kq_producer *
kq_producer_new(const char *const *props, struct err *e)
{
    static const char *const defaults[] = {
        "enable.idempotence=true",
        "acks=all",
        "linger.ms=20",
        /* the Java client's partitioner: a key lands on the same partition whoever sends it */
        "partitioner=murmur2_random",
        NULL,
    };
    struct kq_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf;

    if (p == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    if ((conf = conf_new(defaults, props, NULL, e)) == NULL)
        goto fail;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_producer_error);
    if ((p->rk = handle_new(RD_KAFKA_PRODUCER, conf, e)) == NULL)
        goto fail;
    return p;
fail:
    err_prefix(e, "Kafka producer");
    free(p);
    return NULL;
}

int
kq_producer_prepare(struct kq_producer *p, const char *topic, int timeout_ms, struct err *e)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err;

    if (rkt == NULL)
        return kerr_set(e, rd_kafka_last_error(), "prepare topic");
    /* The answer also updates the topic's partitions and leaders in librdkafka's cache. */
    err = rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr_set(e, err, "metadata");
        return err_prefix(e, "prepare topic %s", topic);
    }
    return 0;
}

int
kq_produce(struct kq_producer *p, const char *topic, const void *key, size_t klen, const void *val,
           size_t vlen, struct err *e)
{
    int64_t deadline = now_ms() + QUEUE_FULL_WAIT_MS;
    char what[300];

    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_END);

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->sent++;
            rd_kafka_poll(p->rk, 0); /* serve delivery reports as we go */
            return 0;
        }
        snprintf(what, sizeof(what), "produce to %s", topic);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return kerr_set(e, err, what);
        if (now_ms() >= deadline) {
            kerr_set(e, err, what);
            return err_prefix(e, "no room in the producer queue for %d s",
                              QUEUE_FULL_WAIT_MS / 1000);
        }
        rd_kafka_poll(p->rk, 100);
    }
}

/* Purge what is still queued or in flight and collect the purge reports (counted failed). */
static void
producer_purge(struct kq_producer *p)
{
    int64_t deadline = now_ms() + PURGE_WAIT_MS;

    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (p->delivered + p->failed < p->sent && now_ms() < deadline)
        rd_kafka_poll(p->rk, 50);
}

int
kq_flush(struct kq_producer *p, int timeout_ms, struct err *e)
{
    char reason[256];
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    uint64_t pending = p->sent - p->delivered - p->failed;

    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT && pending > 0) {
        producer_purge(p);
        err_set(e, ERR_IO, "%" PRIu64 " of %" PRIu64 " messages not acknowledged within %d ms%s%s",
                pending, p->sent, timeout_ms, p->last_msg[0] ? "; last error: " : "", p->last_msg);
        if (e != NULL)
            e->temporary = true;
        return err_prefix(e, "Kafka flush");
    }
    if ((err = rd_kafka_fatal_error(p->rk, reason, sizeof(reason))) != 0)
        return err_set(e, ERR_FAIL, "Kafka producer fatal error: %s: %s", rd_kafka_err2name(err),
                       reason);
    if (p->failed > 0) {
        err_set(e, ERR_IO, "%s (%" PRIu64 " of %" PRIu64 " messages failed)", p->first_msg,
                p->failed, p->sent);
        if (e != NULL)
            e->temporary = kerr_temporary(p->first_err);
        return err_prefix(e, "Kafka flush");
    }
    return 0;
}

void
kq_producer_stats(const struct kq_producer *p, uint64_t *sent, uint64_t *delivered,
                  uint64_t *failed)
{
    if (sent != NULL)
        *sent = p->sent;
    if (delivered != NULL)
        *delivered = p->delivered;
    if (failed != NULL)
        *failed = p->failed;
}

void
kq_producer_free(struct kq_producer *p)
{
    if (p == NULL)
        return;
    /* Without the purge, rd_kafka_destroy would wait for messages to a dead broker. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(p->rk);
    free(p);
}

/* ---- consumer ---- */

/* The partitions of list as a malloc'd id array (NULL when out of memory); *topic is the
 * first entry's topic (a loader subscribes to one topic). */
static int *
list_ids(const rd_kafka_topic_partition_list_t *l, const char **topic)
{
    int *ids = malloc((size_t)(l->cnt ? l->cnt : 1) * sizeof(*ids));

    *topic = l->cnt ? l->elems[0].topic : "";
    for (int i = 0; ids && i < l->cnt; i++)
        ids[i] = l->elems[i].partition;
    return ids;
}

/* Remember the first failure of a callback for kq_poll. */
static void
rebalance_failed(struct kq_consumer *c, const struct err *e, const char *fallback)
{
    if (c->rb_failed)
        return;
    c->rb_failed = true;
    if (e != NULL && e->msg[0] != '\0')
        c->rb_err = *e;
    else
        err_set(&c->rb_err, ERR_FAIL, "%s", fallback);
}

/* ASSIGN: ask the owner where each new partition starts, then take them from there. On
 * failure nothing is taken: kq_poll fails and the owner exits, which gives them back. */
static void
rebalance_assign(struct kq_consumer *c, rd_kafka_topic_partition_list_t *l, bool coop)
{
    const char *topic;
    int *ids = list_ids(l, &topic);
    int64_t *starts = calloc((size_t)(l->cnt ? l->cnt : 1), sizeof(*starts));
    struct err e = {0};
    rd_kafka_error_t *kerr = NULL;

    if (ids == NULL || starts == NULL) {
        rebalance_failed(c, NULL, "rebalance: out of memory");
    } else if (c->rb.assigned &&
               c->rb.assigned(c->rb.ctx, topic, ids, (size_t)l->cnt, starts, &e) < 0) {
        rebalance_failed(c, &e, "rebalance: assign failed");
    } else {
        for (int i = 0; i < l->cnt; i++)
            l->elems[i].offset = starts[i] < 0 ? RD_KAFKA_OFFSET_BEGINNING : starts[i];
        if (coop)
            kerr = rd_kafka_incremental_assign(c->rk, l);
        else if (rd_kafka_assign(c->rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
            rebalance_failed(c, NULL, "rebalance: assign failed");
    }
    if (kerr != NULL) {
        err_set(&e, ERR_FAIL, "rebalance: assign: %s", rd_kafka_error_string(kerr));
        rebalance_failed(c, &e, "");
        rd_kafka_error_destroy(kerr);
    }
    free(ids);
    free(starts);
}

/* REVOKE: the owner finishes (or abandons) what it read from them, then they go. */
static void
rebalance_revoke(struct kq_consumer *c, rd_kafka_topic_partition_list_t *l, bool coop)
{
    const char *topic;
    int *ids = list_ids(l, &topic);
    struct err e = {0};
    rd_kafka_error_t *kerr = NULL;

    if (ids == NULL)
        rebalance_failed(c, NULL, "rebalance: out of memory");
    else if (c->rb.revoked && c->rb.revoked(c->rb.ctx, topic, ids, (size_t)l->cnt,
                                            rd_kafka_assignment_lost(c->rk) != 0, &e) < 0)
        rebalance_failed(c, &e, "rebalance: revoke failed");
    /* given up whatever the owner said: librdkafka requires it */
    if (coop)
        kerr = rd_kafka_incremental_unassign(c->rk, l);
    else
        rd_kafka_assign(c->rk, NULL);
    if (kerr != NULL)
        rd_kafka_error_destroy(kerr);
    free(ids);
}

/* librdkafka's rebalance callback: runs in our thread, inside rd_kafka_consumer_poll (or
 * rd_kafka_consumer_close, when the callbacks are already cleared). */
static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
             void *opaque)
{
    struct kq_consumer *c = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rebalance_assign(c, l, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        rebalance_revoke(c, l, coop);
    } else {
        struct err e = {0};
        err_set(&e, ERR_FAIL, "rebalance: %s", rd_kafka_err2str(err));
        rebalance_failed(c, &e, "");
        rd_kafka_assign(rk, NULL);
    }
}

struct kq_consumer *
kq_consumer_new(const char *const *props, const char *group, struct err *e)
{
    struct kq_consumer *c = calloc(1, sizeof(*c));
    char gdefault[160], gexplicit[300];
    const char *const defaults[] = {
        gdefault,
        "enable.auto.commit=false",
        "enable.auto.offset.store=false",
        "enable.partition.eof=true",
        "auto.offset.reset=error", /* an offset that is gone is an error, never a jump */
        /* group mode: a rebalance moves only the partitions that change owner, so the
         * others keep loading (and their open batch) through it */
        "partition.assignment.strategy=cooperative-sticky",
        NULL,
    };
    const char *const last[] = {gexplicit, NULL};
    rd_kafka_conf_t *conf;

    if (c == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    snprintf(gdefault, sizeof(gdefault), "group.id=gust-%s", task_name());
    snprintf(gexplicit, sizeof(gexplicit), "group.id=%s", group ? group : "");
    if ((conf = conf_new(defaults, props, group && *group ? last : NULL, e)) == NULL)
        goto fail;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    if ((c->rk = handle_new(RD_KAFKA_CONSUMER, conf, e)) == NULL)
        goto fail;
    /* Errors and events come back through rd_kafka_consumer_poll. */
    rd_kafka_poll_set_consumer(c->rk);
    return c;
fail:
    err_prefix(e, "Kafka consumer");
    free(c);
    return NULL;
}

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

/* Copy the partition ids of topic in md into a sorted, malloc'd array. */
static int
metadata_parts(const rd_kafka_metadata_t *md, const char *topic, int **parts, size_t *n,
               struct err *e)
{
    const rd_kafka_metadata_topic_t *t = NULL;

    for (int i = 0; i < md->topic_cnt && t == NULL; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            t = &md->topics[i];
    if (t == NULL || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return err_set(e, ERR_NOTFOUND, "topic %s does not exist", topic);
    if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR || t->partition_cnt <= 0) {
        rd_kafka_resp_err_t err = t->err ? t->err : RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        return kerr_set(e, err, "metadata");
    }
    *parts = malloc((size_t)t->partition_cnt * sizeof(**parts));
    if (*parts == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (int i = 0; i < t->partition_cnt; i++)
        (*parts)[i] = t->partitions[i].id;
    qsort(*parts, (size_t)t->partition_cnt, sizeof(**parts), cmp_int);
    *n = (size_t)t->partition_cnt;
    return 0;
}

int
kq_consumer_partitions(struct kq_consumer *c, const char *topic, int **parts, size_t *n,
                       struct err *e)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err;
    int rc;

    *parts = NULL;
    *n = 0;
    /* All topics rather than a topic handle: asking for one named topic lets a broker with
     * auto-creation (and librdkafka's mock) create it, and a typo would become a topic. */
    err = rd_kafka_metadata(c->rk, 1, NULL, &md, META_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = kerr_set(e, err, "metadata");
    else
        rc = metadata_parts(md, topic, parts, n, e);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return rc < 0 ? err_prefix(e, "partitions of %s", topic) : 0;
}

int
kq_watermarks(struct kq_consumer *c, const char *topic, int part, int64_t *low, int64_t *high,
              struct err *e)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(c->rk, topic, part, low, high, META_TIMEOUT_MS);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr_set(e, err, "query");
        return err_prefix(e, "watermarks of %s [%d]", topic, part);
    }
    return 0;
}

int
kq_check_offset(const char *topic, int part, int64_t stored, int64_t low, int64_t high,
                struct err *e)
{
    if (stored < low)
        return err_set(e, ERR_FAIL,
                       "data loss: %s [%d]: stored offset %" PRId64
                       " is below the log start %" PRId64 ": %" PRId64
                       " records were deleted before they were consumed; not resetting",
                       topic, part, stored, low, low - stored);
    if (stored > high)
        return err_set(e, ERR_FAIL,
                       "data loss: %s [%d]: stored offset %" PRId64
                       " is beyond the end offset %" PRId64
                       " (topic recreated or log truncated?); not resetting",
                       topic, part, stored, high);
    return 0;
}

int
kq_assign(struct kq_consumer *c, const char *topic, const int *parts, const int64_t *start_offsets,
          size_t n, struct err *e)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    rd_kafka_resp_err_t err;
    int64_t low, high;
    int rc = -1;

    for (size_t i = 0; i < n; i++) {
        int64_t off = start_offsets[i] < 0 ? RD_KAFKA_OFFSET_BEGINNING : start_offsets[i];

        /* Checked here, before anything is fetched, so the error names the stored offset. */
        if (start_offsets[i] >= 0 && (kq_watermarks(c, topic, parts[i], &low, &high, e) < 0 ||
                                      kq_check_offset(topic, parts[i], off, low, high, e) < 0))
            goto out;
        rd_kafka_topic_partition_list_add(l, topic, parts[i])->offset = off;
    }
    if ((err = rd_kafka_assign(c->rk, l)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr_set(e, err, "assign");
        goto out;
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int
kq_subscribe(struct kq_consumer *c, const char *topic, const struct kq_rebalance *rb, struct err *e)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    c->rb = *rb;
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kerr_set(e, err, "subscribe");
        return err_prefix(e, "group: %s", topic);
    }
    return 0;
}

int
kq_cached_high(struct kq_consumer *c, const char *topic, int part, int64_t *high)
{
    int64_t low;

    *high = -1;
    return rd_kafka_get_watermark_offsets(c->rk, topic, part, &low, high) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR &&
                   *high >= 0
               ? 0
               : -1;
}

static void
msg_fill(struct kq_consumer *c, rd_kafka_message_t *m, struct kq_msg *out)
{
    rd_kafka_timestamp_type_t tstype;

    memset(out, 0, sizeof(*out));
    out->topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    out->partition = m->partition;
    out->offset = m->offset;
    out->timestamp_ms = -1;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out->key = m->key;
        out->klen = m->key_len;
        out->value = m->payload;
        out->vlen = m->len;
        out->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    }
    out->priv_ = m;
    out->owner_ = c;
    c->cur = m;
}

/* The error carried by a consumer event m, into e. */
static int
poll_error(struct kq_consumer *c, const rd_kafka_message_t *m, struct err *e)
{
    char reason[256];
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;

    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        return err_set(e, ERR_FAIL, "data loss? %s [%" PRId32 "]: offset out of range: %s",
                       topic ? topic : "?", m->partition, rd_kafka_message_errstr(m));
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(c->rk, reason, sizeof(reason));
        return err_set(e, ERR_FAIL, "Kafka consumer fatal error: %s", reason);
    }
    err_set(e, ERR_IO, "Kafka consumer: %s%s%s", topic ? topic : "", topic ? ": " : "",
            rd_kafka_message_errstr(m));
    if (e != NULL)
        e->temporary = kerr_temporary(m->err);
    return -1;
}

int
kq_poll(struct kq_consumer *c, int timeout_ms, struct kq_msg *out, struct err *e)
{
    rd_kafka_message_t *m;

    if (c->cur != NULL) {
        rd_kafka_message_destroy(c->cur);
        c->cur = NULL;
    }
    m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (c->rb_failed) { /* a rebalance callback failed inside the poll */
        if (m != NULL)
            rd_kafka_message_destroy(m);
        c->rb_failed = false;
        if (e != NULL)
            *e = c->rb_err;
        return -1;
    }
    if (m == NULL)
        return 0;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        msg_fill(c, m, out);
        return m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? KQ_MSG : KQ_EOF;
    }
    poll_error(c, m, e);
    rd_kafka_message_destroy(m);
    return -1;
}

void
kq_msg_release(struct kq_msg *m)
{
    if (m == NULL || m->owner_ == NULL || m->priv_ == NULL)
        return;
    if (m->owner_->cur == m->priv_) {
        rd_kafka_message_destroy(m->owner_->cur);
        m->owner_->cur = NULL;
    }
    m->priv_ = NULL;
    m->key = m->value = NULL;
}

void
kq_consumer_free(struct kq_consumer *c)
{
    if (c == NULL)
        return;
    if (c->cur != NULL)
        rd_kafka_message_destroy(c->cur);
    /* Leaving the group revokes everything: the owner may be half torn down by now, and an
     * open batch it did not commit is rolled back by its database anyway. */
    memset(&c->rb, 0, sizeof(c->rb));
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
}

/* kafka: the Kafka producer and consumer of the task executables, over librdkafka.
 *
 * No librdkafka type leaves kafka.c. Properties are "key=value" strings (NULL-terminated
 * list, see task_kafka_props), passed through to librdkafka, SASL included. */
#ifndef GUST_KAFKA_H
#define GUST_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct kq_producer;
struct kq_consumer;

/* kq_poll results besides -1 (error) and 0 (timeout). */
enum {
    KQ_MSG = 1, /* a message is in *out */
    KQ_EOF = 2, /* out->topic/partition reached its end; out->offset is the end offset */
};

/* A consumed message. Every pointer is borrowed from the consumer and valid until the next
 * kq_poll, kq_msg_release or kq_consumer_free. */
struct kq_msg {
    const char *topic;
    int partition;
    int64_t offset;
    const void *key; /* NULL when the message has no key */
    size_t klen;
    const void *value; /* NULL for a tombstone */
    size_t vlen;
    int64_t timestamp_ms; /* -1 when unknown */
    void *priv_;          /* internal */
    struct kq_consumer *owner_;
};

/* A producer with enable.idempotence=true, acks=all, linger.ms=20, partitioner=murmur2_random
 * (keys land where Java clients put them) and client.id=gust-<task>; props override these.
 * ERR_USAGE for a bad property or no bootstrap.servers. */
struct kq_producer *kq_producer_new(const char *const *props, struct err *e);

/* Ask the broker for topic's partitions now, waiting at most timeout_ms. Optional: without
 * it librdkafka learns the partitions of a topic it has not produced to yet at its next
 * once-a-second metadata scan, which delays the first delivery (and a short run's end) by up
 * to a second. Fails (temporary) when the broker does not answer; the producer still works. */
int kq_producer_prepare(struct kq_producer *p, const char *topic, int timeout_ms, struct err *e);

/* Queue one message (key may be NULL). The payload is copied. When the local queue is full,
 * serves delivery reports and retries for at most 30 s, then fails (temporary). */
int kq_produce(struct kq_producer *p, const char *topic, const void *key, size_t klen,
               const void *val, size_t vlen, struct err *e);

/* Wait up to timeout_ms for a delivery report of every queued message. Returns 0 only when
 * every message so far was acknowledged; otherwise -1 with the first delivery error (or the
 * count still unacknowledged at the deadline, which are then purged and counted as failed).
 * Broker unreachable, timeouts: temporary. */
int kq_flush(struct kq_producer *p, int timeout_ms, struct err *e);

/* Counters since kq_producer_new: queued, acknowledged, failed. Any pointer may be NULL. */
void kq_producer_stats(const struct kq_producer *p, uint64_t *sent, uint64_t *delivered,
                       uint64_t *failed);

/* Destroy the producer; messages not flushed are dropped. NULL is a no-op. */
void kq_producer_free(struct kq_producer *p);

/* A consumer whose offsets the caller stores elsewhere (PostgreSQL), for explicit assignment
 * (kq_assign) or a group subscription (kq_subscribe):
 * group.id=group (default gust-<task>), enable.auto.commit=false,
 * enable.auto.offset.store=false, enable.partition.eof=true, auto.offset.reset=error (never
 * a silent jump), partition.assignment.strategy=cooperative-sticky. ERR_USAGE for a bad property or
 * no bootstrap.servers. */
struct kq_consumer *kq_consumer_new(const char *const *props, const char *group, struct err *e);

/* The topic's partition ids, ascending, in *parts (malloc'd, the caller frees). ERR_NOTFOUND
 * for an unknown topic; temporary when the cluster does not answer. */
int kq_consumer_partitions(struct kq_consumer *c, const char *topic, int **parts, size_t *n,
                           struct err *e);

/* The partition's log start (*low) and end offset (*high), asked of the broker. */
int kq_watermarks(struct kq_consumer *c, const char *topic, int part, int64_t *low, int64_t *high,
                  struct err *e);

/* Check a stored next-offset against the partition's watermarks: below low means records
 * were deleted before we consumed them, above high means the log is not the one we read. Both
 * are ERR_FAIL ("data loss: ..."), never a silent reset. Used by kq_assign. */
int kq_check_offset(const char *topic, int part, int64_t stored, int64_t low, int64_t high,
                    struct err *e);

/* Replace the assignment with parts[0..n) of topic, each starting at start_offsets[i]
 * (< 0: the partition's beginning). Every stored offset is checked with kq_check_offset
 * first; on failure nothing is assigned. */
int kq_assign(struct kq_consumer *c, const char *topic, const int *parts,
              const int64_t *start_offsets, size_t n, struct err *e);

/* Group mode: what the consumer asks of its owner when the group moves partitions. Both run
 * inside kq_poll, in the caller's thread; a -1 (with e) makes that kq_poll fail with e. */
struct kq_rebalance {
    /* parts[0..n) of topic are now ours: fill starts[i] with the next offset to read (< 0:
     * the partition's beginning). On failure none of them is fetched. */
    int (*assigned)(void *ctx, const char *topic, const int *parts, size_t n, int64_t *starts,
                    struct err *e);
    /* parts[0..n) are taken away (lost: the group gave them away already, after a session
     * timeout): finish or abandon what was read from them before returning. They go even
     * when this fails. */
    int (*revoked)(void *ctx, const char *topic, const int *parts, size_t n, bool lost,
                   struct err *e);
    void *ctx;
};

/* Join the consumer's group (group.id) for topic through Kafka's group protocol
 * (cooperative-sticky: a rebalance moves only the partitions that change owner). Partitions
 * come and go through rb, called from kq_poll; nothing is committed to Kafka. */
int kq_subscribe(struct kq_consumer *c, const char *topic, const struct kq_rebalance *rb,
                 struct err *e);

/* The log end of topic [part] as last seen by the fetcher (no request): 0, or -1 when not
 * known yet. */
int kq_cached_high(struct kq_consumer *c, const char *topic, int part, int64_t *high);

/* Wait up to timeout_ms: KQ_MSG with a message, KQ_EOF at a partition's end, 0 on timeout,
 * -1 on error (offset out of range: ERR_FAIL; broker trouble: temporary, the consumer keeps
 * reconnecting and the caller may poll again). */
int kq_poll(struct kq_consumer *c, int timeout_ms, struct kq_msg *out, struct err *e);

/* Give back the message in m early (before the next kq_poll). Idempotent. */
void kq_msg_release(struct kq_msg *m);

/* Close and destroy the consumer (commits nothing). NULL is a no-op. */
void kq_consumer_free(struct kq_consumer *c);

#endif

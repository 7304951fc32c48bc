/* collector_sender: the sender thread of bin/event_collector: batches from the journal's
 * queue (collector_journal), one Avro container per batch (ghavro), one Kafka message per
 * container (kafka), batch files when Kafka does not take it (collector_spool).
 *
 * A batch closes at batch_max events, at batch_max_bytes of wrapped JSON, or batch_max_ms
 * after its first event (at once while draining). It is sent with up to 1 + retries
 * attempts, backoff_ms doubling between them; when every attempt failed it becomes a batch
 * file and Kafka counts as down: later batches go straight to files, and every probe_ms the
 * oldest file is tried; once Kafka acknowledges it, the files are replayed oldest first, each
 * removed after its acknowledgement. Only then are a batch's events reported safe to the
 * journal (cj_done), so a batch neither acknowledged nor on disk is never forgotten: its
 * events stay in the journal and are read again at the next start. */
#ifndef GUST_COLLECTOR_SENDER_H
#define GUST_COLLECTOR_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "collector_journal.h"
#include "collector_metrics.h"
#include "collector_spool.h"
#include "err.h"

struct csend_cfg {
    const char *topic;
    const char *const *props; /* librdkafka properties, NULL-terminated (borrowed) */
    size_t batch_max, batch_max_bytes;
    int batch_max_ms, retries, backoff_ms, send_timeout_ms, probe_ms;
};

struct csend;

/* Create the producer and start the thread. Every pointer is borrowed until csend_free. */
struct csend *csend_start(const struct csend_cfg *cfg, struct cj *j, struct cs *s, struct cm *m,
                          struct err *e);

/* 1 while Kafka takes batches (the last send succeeded), 0 when it counts as down. */
int csend_kafka_up(struct csend *s);

/* Drain: send (or spill) every queued and journaled event, try the batch files once more,
 * stop the thread. The journal must be stopped first (cj_stop). Returns 0, or -1 when some
 * batch could be neither sent nor written (its events stay in the journal). */
int csend_drain(struct csend *s);

void csend_free(struct csend *s);

#endif

/* collector_metrics: the counters and histograms of bin/event_collector, rendered in
 * Prometheus' text format for GET /metrics.
 *
 * Every update is safe from any thread (counters are atomic, histograms take a mutex); the
 * gauges (queue depth, spill bytes...) are read by the caller at render time and passed in. */
#ifndef GUST_COLLECTOR_METRICS_H
#define GUST_COLLECTOR_METRICS_H

#include <stdint.h>

/* Counters, all monotonic. */
enum cm_counter {
    CM_ACCEPTED,   /* events answered 202 */
    CM_REJECTED,   /* requests refused (400, 413, 415): nothing of them was kept */
    CM_OVERFLOWED, /* accepted events written to the journal only (memory queue full) */
    CM_SPILLED,    /* events written into batch files (Kafka down) */
    CM_REPLAYED,   /* events sent to Kafka from batch files */
    CM_SENT,       /* events acknowledged by Kafka */
    CM_BATCHES,    /* Kafka messages acknowledged */
    CM_SEND_FAIL,  /* failed send attempts */
    CM_503,        /* responses 503 (draining or disk budget full) */
    CM_N_COUNTERS
};

/* Histograms. */
enum cm_hist {
    CM_H_BATCH_EVENTS, /* events per batch */
    CM_H_ENCODE_S,     /* Avro encoding time of a batch, seconds */
    CM_H_SEND_S,       /* Kafka send latency of a batch (produce to acknowledgement), seconds */
    CM_N_HISTS
};

/* The gauges, read by the caller when /metrics is asked for. */
struct cm_gauges {
    uint64_t queue_depth, queue_max, journal_bytes, journal_files, batch_bytes, batch_files;
    int kafka_up, draining;
};

struct cm;

/* A new registry (NULL when out of memory). */
struct cm *cm_new(void);
void cm_free(struct cm *m);

/* Add n to a counter. */
void cm_add(struct cm *m, enum cm_counter c, uint64_t n);
/* The value of a counter. */
uint64_t cm_get(const struct cm *m, enum cm_counter c);
/* Record one observation v in a histogram. */
void cm_observe(struct cm *m, enum cm_hist h, double v);

/* The whole exposition text (malloc'd, the caller frees it), or NULL when out of memory. */
char *cm_render(struct cm *m, const struct cm_gauges *g);

#endif

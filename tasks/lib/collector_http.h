/* collector_http: the HTTP side of bin/event_collector, over libmicrohttpd.
 *
 *   POST /collect  Content-Type application/json: one event object or an array of them.
 *                  202 {"accepted": n, "event_ids": [...]} only after every event was
 *                  appended to the journal and fdatasync'd; 400 (bad JSON, no events, an
 *                  event that cannot become a record: {"error", "index"}), 413 (body over
 *                  body_max, or one event over event_max), 415 (not JSON), 503 with
 *                  Retry-After (draining, or journal + batch files over spill_max). A refused
 *                  request queues nothing.
 *   GET /health    200 {"status": "ok" | "degraded", ...} or 503 {"status": "full" |
 *                  "draining", ...} with the queue depth, spill bytes and Kafka up/down.
 *   GET /metrics   Prometheus text (collector_metrics).
 * Other paths 404, other methods 405 (with Allow). No libmicrohttpd type leaves
 * collector_http.c. */
#ifndef GUST_COLLECTOR_HTTP_H
#define GUST_COLLECTOR_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "collector_journal.h"
#include "collector_metrics.h"
#include "collector_sender.h"
#include "collector_spool.h"
#include "err.h"

struct chttp_cfg {
    const char *listen; /* "ADDR:PORT" (IPv4; port 0 picks one) */
    int threads;        /* 0: a thread per connection; N: a pool of N threads with epoll */
    size_t body_max, event_max, queue_max;
    uint64_t spill_max;
    int retry_after_s;
};

struct chttp_deps {
    struct cj *j;
    struct cs *spool;
    struct cm *m;
    struct csend *sender;
};

struct chttp;

/* Listen and serve (the threads are libmicrohttpd's). Borrowed pointers live until
 * chttp_free. ERR_USAGE for a bad address, ERR_IO when it cannot listen. */
struct chttp *chttp_start(const struct chttp_cfg *cfg, const struct chttp_deps *d, struct err *e);

/* Check an "ADDR:PORT" for --listen (ERR_USAGE naming what is wrong). */
int chttp_check_listen(const char *listen, struct err *e);

/* The port listened on. */
int chttp_port(struct chttp *h);

/* From now on POST /collect and /health answer 503 (draining). */
void chttp_set_draining(struct chttp *h);

/* Stop listening, wait for the requests in flight. NULL is fine. */
void chttp_free(struct chttp *h);

#endif

/* evpost: POST batches of JSON events to the event collector (POST /collect), C at once, and
 * account for every event exactly once.
 *
 * The collector answers 202 {"accepted": n, "event_ids": [...]}, 400/413/415 with a reason,
 * 503 with Retry-After when it is full or draining. A batch that got a 503 (or no answer, or
 * another 5xx) is sent again, the same bytes, after Retry-After (else a backoff), at most
 * max_retries times; then its events count as failed. A 4xx is final: its events count as
 * rejected, and each kind (status and reason) is logged once. So at the end
 * sent == accepted + rejected + failed, whatever the collector did. Logs through task_log. */
#ifndef GUST_EVPOST_H
#define GUST_EVPOST_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* Options; zero fields take the default written beside them. */
struct evpost_opts {
    const char *url;        /* the collector's POST /collect URL (required) */
    const char *user_agent; /* HTTP_DEFAULT_USER_AGENT */
    int connections;        /* POSTs in flight at once: 8 */
    int max_retries;        /* sends of one batch after its first: 10 */
    long timeout_ms;        /* per POST: 30000 */
    long retry_wait_ms;     /* a 503 without Retry-After, or the first transport error: 1000 */
    long retry_cap_ms;      /* longest wait before a resend: 30000 */
    FILE *ids_out;          /* every event_id of the 202 answers, one a line (borrowed), or NULL */
};

/* Counters, for the summary. Latencies are of every POST that got an answer, in ms. */
struct evpost_stats {
    long long sent;     /* events handed to evpost_submit */
    long long accepted; /* events whose POST got a 2xx */
    long long rejected; /* events in a POST answered 4xx */
    long long failed;   /* events given up: retries exhausted, or abandoned */
    long long s503;     /* 503 answers */
    long long errors;   /* POSTs without an answer, or answered 5xx other than 503 */
    long long posts;    /* POSTs made, retries included */
    long long retries;  /* POSTs that were a resend */
    long long ids;      /* event_ids read from 202 answers */
    double p50_ms, p99_ms, max_ms;
};

struct evpost;

/* A poster for o; NULL with e set. */
struct evpost *evpost_new(const struct evpost_opts *o, struct err *e);

/* Free p (unfinished batches are dropped: call evpost_abandon first to count them). */
void evpost_free(struct evpost *p);

/* Whether a new batch would start at once (fewer than connections POSTs in flight or due). */
int evpost_ready(const struct evpost *p);

/* Queue a batch: body (JSON text of one event or an array, taken even on failure) holding
 * n events. 0 or -1. */
int evpost_submit(struct evpost *p, char *body, int n, struct err *e);

/* Drive the POSTs for at most timeout_ms (< 0: until something finishes): resends that are
 * due start, answers are counted. Returns 0, or -1 (e set) on a client failure. */
int evpost_run(struct evpost *p, long timeout_ms, struct err *e);

/* Batches in flight or waiting for a resend. */
int evpost_busy(const struct evpost *p);

/* Stop resending: the batches waiting for a resend, and those that later get a 503 or no
 * answer, count as failed. For a stop (SIGTERM) that still waits for the answers in flight. */
void evpost_stop_resends(struct evpost *p);

/* Give up every unfinished batch: its events count as failed. */
void evpost_abandon(struct evpost *p);

/* The counters (percentiles computed now). */
void evpost_stats(const struct evpost *p, struct evpost_stats *st);

#endif

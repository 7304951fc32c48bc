/* collector_metrics: Prometheus counters and histograms of the event collector.
 *
 * Names follow Prometheus' conventions: gust_collector_ prefix, _total for counters, base units
 * (seconds, bytes). A histogram keeps cumulative bucket counts, _sum and _count, as the text
 * format wants them, so rendering is a plain copy under its mutex. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector_metrics.h"

enum { MAX_BUCKETS = 12 };

struct hist_def {
    const char *name, *help;
    double bounds[MAX_BUCKETS];
    int nb;
};

static const struct hist_def hist_defs[CM_N_HISTS] = {
    [CM_H_BATCH_EVENTS] = {"gust_collector_batch_events",
                           "Events per batch (one Kafka message)",
                           {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
                           10},
    [CM_H_ENCODE_S] = {"gust_collector_avro_encode_seconds",
                       "Time to encode one batch as an Avro container",
                       {0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
                       10},
    [CM_H_SEND_S] = {"gust_collector_kafka_send_seconds",
                     "Time from producing one batch to its acknowledgement",
                     {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
                     12},
};

static const char *const counter_names[CM_N_COUNTERS][2] = {
    [CM_ACCEPTED] = {"gust_collector_events_accepted_total", "Events answered 202"},
    [CM_REJECTED] = {"gust_collector_rejected_total",
                     "Requests refused with 400, 413 or 415 (nothing of them queued)"},
    [CM_OVERFLOWED] = {"gust_collector_events_overflowed_total",
                       "Accepted events kept in the journal only (memory queue full)"},
    [CM_SPILLED] = {"gust_collector_events_spilled_total",
                    "Events written into batch files while Kafka was down"},
    [CM_REPLAYED] = {"gust_collector_events_replayed_total",
                     "Events sent to Kafka from batch files"},
    [CM_SENT] = {"gust_collector_events_sent_total", "Events acknowledged by Kafka"},
    [CM_BATCHES] = {"gust_collector_batches_sent_total", "Batches acknowledged by Kafka"},
    [CM_SEND_FAIL] = {"gust_collector_send_failures_total", "Failed attempts to send a batch"},
    [CM_503] = {"gust_collector_responses_503_total",
                "Requests answered 503 (draining or disk budget full)"},
};

struct hist {
    uint64_t counts[MAX_BUCKETS + 1]; /* per bucket, the last is +Inf */
    double sum;
    uint64_t n;
};

struct cm {
    uint64_t counters[CM_N_COUNTERS]; /* atomic */
    pthread_mutex_t mu;
    struct hist hists[CM_N_HISTS];
};

struct cm *
cm_new(void)
{
    struct cm *m = calloc(1, sizeof(*m));

    if (m != NULL)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void
cm_free(struct cm *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void
cm_add(struct cm *m, enum cm_counter c, uint64_t n)
{
    __atomic_add_fetch(&m->counters[c], n, __ATOMIC_RELAXED);
}

uint64_t
cm_get(const struct cm *m, enum cm_counter c)
{
    return __atomic_load_n(&m->counters[c], __ATOMIC_RELAXED);
}

void
cm_observe(struct cm *m, enum cm_hist h, double v)
{
    const struct hist_def *d = &hist_defs[h];
    int i = 0;

    while (i < d->nb && v > d->bounds[i])
        i++;
    pthread_mutex_lock(&m->mu);
    m->hists[h].counts[i]++;
    m->hists[h].sum += v;
    m->hists[h].n++;
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer; a failed allocation leaves ok false. */
struct text {
    char *s;
    size_t len, cap;
    int ok;
};

static void __attribute__((format(printf, 2, 3))) text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!t->ok)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->ok = 0;
            return;
        }
        if ((size_t)n < t->cap - t->len)
            break;
        char *s = realloc(t->s, t->cap * 2 + (size_t)n);
        if (s == NULL) {
            t->ok = 0;
            return;
        }
        t->s = s;
        t->cap = t->cap * 2 + (size_t)n;
    }
    t->len += (size_t)n;
}

static void
render_hist(struct text *t, const struct hist_def *d, const struct hist *h)
{
    uint64_t cum = 0;

    text_add(t, "# HELP %s %s\n# TYPE %s histogram\n", d->name, d->help, d->name);
    for (int i = 0; i < d->nb; i++) {
        cum += h->counts[i];
        text_add(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", d->name, d->bounds[i], cum);
    }
    cum += h->counts[d->nb];
    text_add(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", d->name,
             cum, d->name, h->sum, d->name, h->n);
}

static void
gauge(struct text *t, const char *name, const char *help, uint64_t v)
{
    text_add(t, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, v);
}

char *
cm_render(struct cm *m, const struct cm_gauges *g)
{
    struct text t = {malloc(4096), 0, 4096, 1};
    struct hist copy[CM_N_HISTS];

    if (t.s == NULL)
        return NULL;
    gauge(&t, "gust_collector_queue_depth", "Events in the memory queue", g->queue_depth);
    gauge(&t, "gust_collector_queue_max", "Capacity of the memory queue", g->queue_max);
    gauge(&t, "gust_collector_journal_bytes", "Bytes of journal segments", g->journal_bytes);
    gauge(&t, "gust_collector_journal_files", "Journal segments", g->journal_files);
    gauge(&t, "gust_collector_spill_bytes", "Bytes of spilled batch files", g->batch_bytes);
    gauge(&t, "gust_collector_spill_files", "Spilled batch files", g->batch_files);
    gauge(&t, "gust_collector_kafka_up", "1 when the last send to Kafka succeeded", g->kafka_up);
    gauge(&t, "gust_collector_draining", "1 after SIGTERM", g->draining);
    for (int c = 0; c < CM_N_COUNTERS; c++)
        text_add(&t, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", counter_names[c][0],
                 counter_names[c][1], counter_names[c][0], counter_names[c][0], cm_get(m, c));
    pthread_mutex_lock(&m->mu);
    for (int h = 0; h < CM_N_HISTS; h++)
        copy[h] = m->hists[h];
    pthread_mutex_unlock(&m->mu);
    for (int h = 0; h < CM_N_HISTS; h++)
        render_hist(&t, &hist_defs[h], &copy[h]);
    if (!t.ok) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

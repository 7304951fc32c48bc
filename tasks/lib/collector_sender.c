/* collector_sender: batches -> Avro -> Kafka, or batch files (see collector_sender.h).
 *
 * One thread, one batch in flight: a batch is produced and flushed (acknowledged) before the
 * next is built, so batches complete in journal order and cj_done can count them by segment.
 * The producer is recreated after every failed attempt: librdkafka's idempotent producer can
 * be left fenced by a timeout, and a new one starts clean. Key invariant: cj_done is called
 * for an event only after Kafka acknowledged its batch or its batch file was renamed into
 * place and the folder synced. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "collector_sender.h"
#include "ghavro.h"
#include "kafka.h"
#include "log.h"

struct run {
    uint64_t seg, n;
};

struct batch {
    struct ghavro_enc *enc;
    size_t n, bytes;
    char key[64];
    struct run *runs;
    size_t nruns, cap;
    double encode_s;
};

struct csend {
    struct csend_cfg cfg;
    struct cj *j;
    struct cs *spool;
    struct cm *m;
    struct kq_producer *kp;
    pthread_t th;
    int started;
    int up, stopping; /* atomic */
    int lost;         /* a batch could be neither sent nor written at the end */
    int64_t next_probe;
    struct cq_item pending; /* popped but did not fit the last batch */
    int has_pending;
};

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int
is_up(struct csend *s)
{
    return __atomic_load_n(&s->up, __ATOMIC_RELAXED);
}

/* Mark Kafka up or down; going down (or a failed probe: probed) sets the next probe time. */
static void
set_up(struct csend *s, int up, int probed)
{
    int was = __atomic_exchange_n(&s->up, up, __ATOMIC_RELAXED);

    if (was != up)
        log_msg(up ? LOG_INFO : LOG_WARN,
                up ? "Kafka is back: sending again, batch files replayed oldest first"
                   : "Kafka is down: batches go to batch files, probing every %d ms",
                s->cfg.probe_ms);
    if (!up && (was || probed))
        s->next_probe = now_ns() + (int64_t)s->cfg.probe_ms * 1000000;
}

static int
stopping(struct csend *s)
{
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

/* ---- Kafka ------------------------------------------------------------------------------ */

/* One attempt: produce and wait for the acknowledgement. */
static int
send_once(struct csend *s, const char *buf, size_t len, const char *key, struct err *e)
{
    int64_t t0 = now_ns();

    if (s->kp == NULL && (s->kp = kq_producer_new(s->cfg.props, e)) == NULL)
        return -1;
    if (kq_produce(s->kp, s->cfg.topic, key, strlen(key), buf, len, e) < 0 ||
        kq_flush(s->kp, s->cfg.send_timeout_ms + 2000, e) < 0) {
        kq_producer_free(s->kp);
        s->kp = NULL;
        cm_add(s->m, CM_SEND_FAIL, 1);
        return -1;
    }
    cm_observe(s->m, CM_H_SEND_S, (double)(now_ns() - t0) / 1e9);
    cm_add(s->m, CM_BATCHES, 1);
    return 0;
}

/* Up to attempts tries, the backoff doubling in between. */
static int
send_retry(struct csend *s, const char *buf, size_t len, const char *key, int attempts)
{
    struct err e = {0};
    int backoff = s->cfg.backoff_ms;

    for (int i = 1; i <= attempts; i++) {
        err_clear(&e);
        if (send_once(s, buf, len, key, &e) == 0)
            return 0;
        log_warn("send to Kafka topic %s (attempt %d of %d): %s", s->cfg.topic, i, attempts, e.msg);
        if (i < attempts) {
            sleep_ms(backoff);
            backoff = backoff > 60000 ? backoff : backoff * 2;
        }
    }
    return -1;
}

/* ---- batch files ------------------------------------------------------------------------ */

struct file_info {
    size_t n;
    char key[64];
};

static int
count_record(void *arg, size_t index, const json_t *rec, const char *problem, struct err *e)
{
    struct file_info *fi = arg;
    const char *id = rec ? json_string_value(json_object_get(rec, "event_id")) : NULL;

    (void)problem;
    (void)e;
    if (index == 0 && id != NULL)
        snprintf(fi->key, sizeof(fi->key), "%s", id);
    fi->n++;
    return 0;
}

/* Send the oldest batch file; 1 sent, 0 not sent (Kafka down), -1 unreadable. */
static int
replay_one(struct csend *s, uint64_t seq)
{
    struct err e = {0};
    struct file_info fi = {0};
    char *buf;
    size_t len;
    int rc = 0;

    if (cs_read(s->spool, seq, &buf, &len, &e) < 0) {
        log_error("replay: %s", e.msg);
        return -1;
    }
    if (ghavro_decode(buf, len, count_record, &fi, &e) != 0) {
        log_error("replay: batch file %016llu is not a readable Avro container (%s): set aside "
                  "as .bad",
                  (unsigned long long)seq, e.msg);
        free(buf);
        return -1;
    }
    if (send_retry(s, buf, len, fi.key, is_up(s) ? 1 + s->cfg.retries : 1) == 0) {
        if (cs_remove(s->spool, seq, &e) < 0)
            log_error("replay: %s (its events were sent; a restart sends them again)", e.msg);
        cm_add(s->m, CM_REPLAYED, fi.n);
        cm_add(s->m, CM_SENT, fi.n);
        rc = 1;
    }
    free(buf);
    return rc;
}

/* Replay batch files oldest first while Kafka takes them: when it is down, only once
 * probe_ms passed since the last try (or when force). */
static void
replay_files(struct csend *s, int force)
{
    uint64_t seq;
    struct err e = {0};

    while (cs_oldest(s->spool, &seq) == 0) {
        if (!is_up(s) && !force && now_ns() < s->next_probe)
            return;
        force = 0;
        int r = replay_one(s, seq);
        if (r < 0 && cs_set_aside(s->spool, seq, &e) < 0) {
            log_error("replay: %s", e.msg);
            set_up(s, 0, 1);
            return;
        }
        if (r == 0) {
            set_up(s, 0, 1);
            return;
        }
        set_up(s, 1, 0);
    }
}

/* ---- batches ---------------------------------------------------------------------------- */

static void
batch_clear(struct batch *b)
{
    ghavro_enc_free(b->enc);
    free(b->runs);
    memset(b, 0, sizeof(*b));
}

static int
batch_run_add(struct batch *b, uint64_t seg)
{
    if (b->nruns > 0 && b->runs[b->nruns - 1].seg == seg) {
        b->runs[b->nruns - 1].n++;
        return 0;
    }
    if (b->nruns == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct run *r = realloc(b->runs, cap * sizeof(*r));
        if (r == NULL)
            return -1;
        b->runs = r;
        b->cap = cap;
    }
    b->runs[b->nruns++] = (struct run){seg, 1};
    return 0;
}

/* Every event of b is safe now. */
static void
batch_done(struct csend *s, const struct batch *b)
{
    for (size_t i = 0; i < b->nruns; i++)
        cj_done(s->j, b->runs[i].seg, b->runs[i].n);
}

/* Add one wrapped event (takes it->line). A line that is not a wrapped event (only a damaged
 * journal has one) is logged and counted done, so it cannot block its segment forever. */
static void
batch_add(struct csend *s, struct batch *b, struct cq_item *it)
{
    json_t *w = json_loadb(it->line, it->len, 0, NULL);
    const char *id = json_string_value(json_object_get(w, "event_id"));
    json_t *metric = json_object_get(w, "metric");
    struct err e = {0};
    int64_t t0 = now_ns();

    if (id == NULL || !json_is_object(metric))
        err_set(&e, ERR_PARSE, "not a wrapped event");
    else if (b->enc == NULL && (b->enc = ghavro_enc_new("deflate", &e)) == NULL)
        ;
    else if (ghavro_enc_add(b->enc, id, metric, &e) == 0 && batch_run_add(b, it->seg) == 0) {
        if (b->n++ == 0)
            snprintf(b->key, sizeof(b->key), "%s", id);
        b->bytes += it->len;
        b->encode_s += (double)(now_ns() - t0) / 1e9;
        goto out;
    }
    log_error("journal segment %llu: an event was skipped: %s", (unsigned long long)it->seg,
              e.msg[0] ? e.msg : "out of memory");
    cj_done(s->j, it->seg, 1);
out:
    json_decref(w);
    free(it->line);
}

/* The next event: the one left over from the last batch, else from the journal. */
static int
next_event(struct csend *s, struct cq_item *it, int64_t deadline)
{
    struct err e = {0};
    int r;

    if (s->has_pending) {
        *it = s->pending;
        s->has_pending = 0;
        return 1;
    }
    if ((r = cj_next(s->j, it, stopping(s) ? 0 : deadline, &e)) < 0) {
        log_error("reading the journal back: %s (trying again in 1 s)", e.msg);
        sleep_ms(1000);
        return 0;
    }
    return r;
}

/* Fill b: wait up to 200 ms for a first event (so probes and stop are seen), then until it
 * is full or batch_max_ms passed. */
static void
batch_fill(struct csend *s, struct batch *b)
{
    struct cq_item it;
    int64_t deadline = now_ns() + 200 * 1000000LL;

    while (b->n == 0) {
        if (next_event(s, &it, deadline) == 0)
            return;
        batch_add(s, b, &it);
    }
    deadline = now_ns() + (int64_t)s->cfg.batch_max_ms * 1000000;
    while (b->n < s->cfg.batch_max && next_event(s, &it, deadline) == 1) {
        if (b->bytes + it.len > s->cfg.batch_max_bytes) {
            s->pending = it;
            s->has_pending = 1;
            return;
        }
        batch_add(s, b, &it);
    }
}

/* Kafka did not take b: write it as a batch file, trying Kafka again between failed writes;
 * while draining, give up after retries (the events stay in the journal). */
static int
batch_spill(struct csend *s, const struct batch *b, const char *buf, size_t len)
{
    struct err e = {0};
    int backoff = s->cfg.backoff_ms;

    for (int i = 0;; i++) {
        err_clear(&e);
        if (cs_write(s->spool, buf, len, &e) == 0) {
            cm_add(s->m, CM_SPILLED, b->n);
            return 0;
        }
        log_error("spilling a batch of %zu events: %s", b->n, e.msg);
        if (stopping(s) && i >= s->cfg.retries)
            return -1;
        sleep_ms(backoff);
        backoff = backoff > 5000 ? backoff : backoff * 2;
        if (send_retry(s, buf, len, b->key, 1) == 0) {
            cm_add(s->m, CM_SENT, b->n);
            return 0;
        }
    }
}

/* Encode b and send it, or write it to a file; then its events are safe. */
static void
batch_ship(struct csend *s, struct batch *b)
{
    struct err e = {0};
    char *buf = NULL;
    size_t len = 0;
    int64_t t0 = now_ns();
    struct ghavro_enc *enc = b->enc;

    b->enc = NULL;
    if (ghavro_enc_finish(enc, &buf, &len, &e) < 0) {
        log_error("encoding a batch of %zu events: %s (they stay in the journal)", b->n, e.msg);
        s->lost = 1;
        return;
    }
    cm_observe(s->m, CM_H_ENCODE_S, b->encode_s + (double)(now_ns() - t0) / 1e9);
    cm_observe(s->m, CM_H_BATCH_EVENTS, (double)b->n);
    if (is_up(s) && send_retry(s, buf, len, b->key, 1 + s->cfg.retries) == 0) {
        cm_add(s->m, CM_SENT, b->n);
        batch_done(s, b);
    } else {
        set_up(s, 0, 0);
        if (batch_spill(s, b, buf, len) == 0)
            batch_done(s, b);
        else
            s->lost = 1;
    }
    free(buf);
}

static void *
sender_main(void *arg)
{
    struct csend *s = arg;
    struct batch b = {0};

    for (;;) {
        replay_files(s, 0);
        batch_fill(s, &b);
        if (b.n > 0)
            batch_ship(s, &b);
        else if (stopping(s) && !s->has_pending && cj_idle(s->j))
            break;
        batch_clear(&b);
    }
    batch_clear(&b);
    replay_files(s, 1); /* one last try of what is left in files */
    return NULL;
}

/* ---- API -------------------------------------------------------------------------------- */

struct csend *
csend_start(const struct csend_cfg *cfg, struct cj *j, struct cs *spool, struct cm *m,
            struct err *e)
{
    struct csend *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    *s = (struct csend){.cfg = *cfg, .j = j, .spool = spool, .m = m, .up = 1};
    if ((s->kp = kq_producer_new(cfg->props, e)) == NULL) {
        free(s);
        return NULL;
    }
    if (pthread_create(&s->th, NULL, sender_main, s) != 0) {
        err_set(e, ERR_FAIL, "cannot start the sender thread");
        csend_free(s);
        return NULL;
    }
    s->started = 1;
    return s;
}

int
csend_kafka_up(struct csend *s)
{
    return is_up(s);
}

int
csend_drain(struct csend *s)
{
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    if (s->started)
        pthread_join(s->th, NULL);
    s->started = 0;
    return s->lost ? -1 : 0;
}

void
csend_free(struct csend *s)
{
    if (s == NULL)
        return;
    if (s->started)
        csend_drain(s);
    if (s->has_pending)
        free(s->pending.line);
    kq_producer_free(s->kp);
    free(s);
}

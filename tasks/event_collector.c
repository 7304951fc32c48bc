/* event_collector: the HTTP collector of the github_events pipeline (the event pipeline's
 * entry): clients POST GitHub events as JSON, the collector answers 202 with an event_id per
 * event, and sends them in micro-batches to Kafka (--topic), each batch one Avro object
 * container (ghavro, deflate) in one message keyed by its first event_id.
 *
 * The promise is that nothing that got a 202 is lost; an event may arrive twice (at least
 * once: the silver layer deduplicates by event_id). How, in the spill folder (--spill-dir):
 *
 *   journal-<16-digit seq>.jsonl  the write-ahead journal: every accepted event, wrapped as
 *       {"event_id": "<uuid4>", "metric": <event>}, one per line, appended and fdatasync'd
 *       before the 202 is sent (group commit: concurrent requests share one fdatasync). A
 *       segment rotates at --segment-max-bytes and is deleted once it is closed and every
 *       event in it is safe (acknowledged by Kafka or inside a batch file).
 *   batch-<16-digit seq>.avro     a batch Kafka did not take (after 1 + --retries attempts,
 *       the backoff doubling from --retry-backoff-ms): written to a .tmp, fsync'd, renamed,
 *       folder fsync'd; then its events count as safe. While Kafka counts as down, new
 *       batches go straight to files and the oldest file is retried every
 *       --probe-interval-ms; once Kafka acknowledges it the files are replayed oldest first,
 *       each removed only after its acknowledgement.
 *   batch-<seq>.avro.tmp          a spill cut short by a crash: never read; its events are
 *       still in the journal. --remove-orphans deletes those older than --orphan-age.
 *   batch-<seq>.avro.bad          a batch file that was not a readable container at replay,
 *       set aside for a human (only a damaged disk makes one).
 *
 * Memory: events also enter a queue of --queue-max events that the sender thread batches
 * from. When it is full the collector keeps accepting: new events stay in the journal only
 * and are read back from it once the queue is empty (all of them, until the reader reaches
 * the journal's end; then memory again). When journal + batch files would pass
 * --spill-max-bytes, POST /collect answers 503 with Retry-After (the client keeps the event),
 * never a silent drop.
 *
 * Crash (kill -9, power loss after the fdatasync): at the next start the batch files are
 * replayed first, then every event of the leftover journal segments is batched again (events
 * already sent before the crash are sent twice). SIGTERM/SIGINT: POST /collect answers 503,
 * the queue and the journal backlog are batched and sent (or spilled to files), and the
 * process exits 0 with a summary line; 1 when a batch could be neither sent nor written (its
 * events stay in the journal for the next start). Exit 100: bad arguments; 111: the spill
 * folder or the port cannot be used. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector_http.h"
#include "collector_journal.h"
#include "collector_metrics.h"
#include "collector_sender.h"
#include "collector_spool.h"
#include "task.h"

#define USAGE                                                                                      \
    "event_collector [--listen ADDR:PORT] [--spill-dir DIR] [--topic T] [options] [-X k=v]...\n"   \
    "       event_collector --remove-orphans --spill-dir DIR [--orphan-age SECONDS]\n"             \
    "Collect JSON events over HTTP (POST /collect, GET /health, GET /metrics) into Kafka as\n"     \
    "Avro batches; every event answered 202 is fdatasync'd in the journal first. Kafka from\n"     \
    "KAFKA_BOOTSTRAP_SERVERS (KAFKA_* and -X for other properties). SIGTERM drains and exits."

enum { EVENT_MAX = 900 * 1000 }; /* raw JSON bytes of one batch: Kafka takes 1 MB messages */

struct opts {
    const char *listen, *dir, *topic, *queue_max, *spill_max, *batch_max, *batch_ms, *batch_bytes,
        *body_max, *retries, *backoff, *send_timeout, *probe, *seg_max, *threads, *retry_after,
        *orphans, *orphan_age;
    struct task_list x;
};

struct cfg {
    struct chttp_cfg http;
    struct csend_cfg send;
    uint64_t seg_max;
    double orphan_age;
    struct task_list props;
};

/* A whole number in [lo, hi] with an optional binary suffix k, m, g. */
static int
parse_num(const char *flag, const char *s, uint64_t lo, uint64_t hi, uint64_t *out, struct err *e)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < lo || v > hi)
        return err_set(e, ERR_USAGE, "%s: '%s' is not a whole number from %" PRIu64 " to %" PRIu64,
                       flag, s, lo, hi);
    *out = v;
    return 0;
}

static int
parse_int(const char *flag, const char *s, int lo, int hi, int *out, struct err *e)
{
    uint64_t v;

    if (parse_num(flag, s, (uint64_t)lo, (uint64_t)hi, &v, e) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* The numbers of the HTTP side and the sender. */
static int
cfg_numbers(const struct opts *o, struct cfg *c, struct err *e)
{
    uint64_t qmax, smax, bmax, bbytes, body;
    int threads;

    if (parse_num("--queue-max", o->queue_max, 1, 100000000, &qmax, e) < 0 ||
        parse_num("--spill-max-bytes", o->spill_max, 1 << 20, UINT64_MAX >> 2, &smax, e) < 0 ||
        parse_num("--batch-max", o->batch_max, 1, 1000000, &bmax, e) < 0 ||
        parse_num("--batch-max-bytes", o->batch_bytes, 1024, EVENT_MAX, &bbytes, e) < 0 ||
        parse_num("--body-max-bytes", o->body_max, 64, 256 << 20, &body, e) < 0 ||
        parse_num("--segment-max-bytes", o->seg_max, 4096, 1ULL << 32, &c->seg_max, e) < 0 ||
        parse_int("--batch-max-ms", o->batch_ms, 0, 3600000, &c->send.batch_max_ms, e) < 0 ||
        parse_int("--retries", o->retries, 0, 100, &c->send.retries, e) < 0 ||
        parse_int("--retry-backoff-ms", o->backoff, 0, 600000, &c->send.backoff_ms, e) < 0 ||
        parse_int("--send-timeout-ms", o->send_timeout, 100, 3600000, &c->send.send_timeout_ms, e) <
            0 ||
        parse_int("--probe-interval-ms", o->probe, 10, 3600000, &c->send.probe_ms, e) < 0 ||
        parse_int("--threads", o->threads, 0, 1024, &threads, e) < 0 ||
        parse_int("--retry-after", o->retry_after, 1, 3600, &c->http.retry_after_s, e) < 0 ||
        chttp_check_listen(o->listen, e) < 0)
        return -1;
    c->http =
        (struct chttp_cfg){o->listen, threads, body, bbytes, qmax, smax, c->http.retry_after_s};
    c->send.batch_max = bmax;
    c->send.batch_max_bytes = bbytes;
    return 0;
}

/* Kafka properties: ours first (a batch is at most one default-sized message; an attempt
 * gives up after --send-timeout-ms), then KAFKA_* and -X, which win. */
static int
cfg_kafka(struct opts *o, struct cfg *c, struct err *e)
{
    struct task_list user = {0};
    char buf[64];
    int rc = -1;

    snprintf(buf, sizeof(buf), "message.timeout.ms=%d", c->send.send_timeout_ms);
    if (task_list_add(&c->props, buf, e) < 0 ||
        task_list_add(&c->props, "message.max.bytes=1000000", e) < 0 ||
        task_list_add(&c->props, "linger.ms=5", e) < 0 ||
        task_list_add(&c->props, "client.id=gust-event_collector", e) < 0 ||
        task_kafka_props(&o->x, NULL, &user, e) < 0)
        goto out;
    for (size_t i = 0; i < user.n; i++)
        if (task_list_add(&c->props, user.v[i], e) < 0)
            goto out;
    c->send.props = (const char *const *)c->props.v;
    rc = 0;
out:
    task_list_free(&user);
    return rc;
}

/* long: one table row per flag */
static int
cfg_parse(int argc, char **argv, struct opts *o, struct cfg *c, struct err *e)
{
    struct task_opt opts[] = {
        {"--listen", "EVENT_COLLECTOR_LISTEN", "127.0.0.1:8000",
         "IPv4 ADDR:PORT to listen on (port 0 picks one)", &o->listen, false, NULL},
        {"--spill-dir", "EVENT_COLLECTOR_SPILL_DIR", "event_collector_spill",
         "journal and batch files (created if missing)", &o->dir, false, NULL},
        {"--topic", "EVENT_COLLECTOR_TOPIC", "raw_metrics_avro", "Kafka topic", &o->topic, false,
         NULL},
        {"--queue-max", NULL, "100000", "events in memory (more wait in the journal)",
         &o->queue_max, false, NULL},
        {"--spill-max-bytes", NULL, "1g", "journal + batch files; above, 503", &o->spill_max, false,
         NULL},
        {"--batch-max", NULL, "1000", "events per batch", &o->batch_max, false, NULL},
        {"--batch-max-ms", NULL, "5000", "a batch is sent this long after its first event",
         &o->batch_ms, false, NULL},
        {"--batch-max-bytes", NULL, "900000", "wrapped JSON bytes per batch (and per event)",
         &o->batch_bytes, false, NULL},
        {"--body-max-bytes", NULL, "1m", "request body limit (413 above)", &o->body_max, false,
         NULL},
        {"--retries", NULL, "3", "extra attempts per batch before it is spilled", &o->retries,
         false, NULL},
        {"--retry-backoff-ms", NULL, "500", "first backoff, doubling", &o->backoff, false, NULL},
        {"--send-timeout-ms", NULL, "10000", "one attempt's wait for Kafka's acknowledgement",
         &o->send_timeout, false, NULL},
        {"--probe-interval-ms", NULL, "3000", "while Kafka is down, retry the oldest file",
         &o->probe, false, NULL},
        {"--segment-max-bytes", NULL, "16m", "journal segment size", &o->seg_max, false, NULL},
        {"--threads", "EVENT_COLLECTOR_THREADS", "0",
         "HTTP thread pool size (0: a thread per connection)", &o->threads, false, NULL},
        {"--retry-after", NULL, "5", "seconds in Retry-After of a 503", &o->retry_after, false,
         NULL},
        {"--remove-orphans", NULL, NULL, "remove old *.tmp files of --spill-dir and exit",
         &o->orphans, true, NULL},
        {"--orphan-age", NULL, "3600", "seconds: only older *.tmp files are orphans",
         &o->orphan_age, false, NULL},
        {"-X", NULL, NULL, "librdkafka property (KAFKA_FOO_BAR=v also works)", NULL, false, &o->x},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    uint64_t age;
    int rc = task_parse(argc, argv, opts, USAGE, e);

    if (rc != 0)
        return rc;
    if (o->dir[0] == '\0' || o->topic[0] == '\0')
        return err_set(e, ERR_USAGE, "--spill-dir and --topic must not be empty");
    if (parse_num("--orphan-age", o->orphan_age, 0, 100ULL * 365 * 86400, &age, e) < 0)
        return -1;
    c->orphan_age = (double)age;
    c->send.topic = o->topic;
    if (task_is_true(o->orphans))
        return 0;
    return cfg_numbers(o, c, e) < 0 || cfg_kafka(o, c, e) < 0 ? -1 : 0;
}

/* mkdir -p path. */
static int
make_dirs(const char *path, struct err *e)
{
    char buf[4096];

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return err_set(e, ERR_USAGE, "--spill-dir: path too long");
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return err_set(e, ERR_IO, "mkdir %s: %s", buf, strerror(errno));
        if ((*p = saved) == '\0')
            return 0;
    }
}

/* The spill folder, created if missing and locked: one collector per folder. */
static int
open_spill_dir(const char *dir, struct err *e)
{
    int fd;

    if (make_dirs(dir, e) < 0)
        return -1;
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return err_set(e, ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        err_set(e, ERR_IO, "%s: %s", dir,
                errno == EWOULDBLOCK ? "another event_collector uses this folder"
                                     : strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Everything a running collector holds. */
struct collector {
    int dirfd;
    struct cm *m;
    struct cj *j;
    struct cs *spool;
    struct csend *sender;
    struct chttp *http;
};

static int
collector_start(const struct opts *o, struct cfg *c, struct collector *k, struct err *e)
{
    struct cj_stats js;
    uint64_t files, bytes;

    if ((k->dirfd = open_spill_dir(o->dir, e)) < 0)
        return -1;
    if ((k->m = cm_new()) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if ((k->j = cj_open(k->dirfd, o->dir, c->seg_max, c->http.queue_max, e)) == NULL ||
        (k->spool = cs_open(k->dirfd, o->dir, e)) == NULL)
        return -1;
    cj_get_stats(k->j, &js);
    cs_counts(k->spool, &files, &bytes);
    if (files > 0 || js.leftover > 0)
        task_log("recovery: %" PRIu64 " batch files (%" PRIu64 " bytes) to replay, then %" PRIu64
                 " events of %" PRIu64 " journal segments to send again",
                 files, bytes, js.leftover, js.files);
    if ((k->sender = csend_start(&c->send, k->j, k->spool, k->m, e)) == NULL)
        return -1;
    k->http = chttp_start(&c->http, &(struct chttp_deps){k->j, k->spool, k->m, k->sender}, e);
    return k->http == NULL ? -1 : 0;
}

/* Log the queue depth passing 80% of --queue-max (again after it fell under 50%), and the
 * switches to and from overflow. */
static void
watch_queue(struct collector *k, const struct cfg *c, int *warned, int *overflow)
{
    struct cj_stats js;

    cj_get_stats(k->j, &js);
    if (!*warned && js.depth * 5 > (uint64_t)c->http.queue_max * 4) {
        log_warn("queue depth %" PRIu64 " is over 80%% of --queue-max %zu", js.depth,
                 c->http.queue_max);
        *warned = 1;
    } else if (*warned && js.depth * 2 < (uint64_t)c->http.queue_max) {
        *warned = 0;
    }
    if (js.overflow != *overflow)
        log_msg(js.overflow ? LOG_WARN : LOG_INFO,
                js.overflow ? "overflow: new events stay in the journal only (%" PRIu64
                              " bytes behind)"
                            : "overflow over: the sender caught up with the journal (%" PRIu64 ")",
                js.backlog);
    *overflow = js.overflow;
}

/* Wait for SIGTERM or SIGINT (blocked in every thread), watching the queue every second. */
static int
wait_for_stop(struct collector *k, const struct cfg *c, const sigset_t *set)
{
    struct timespec second = {1, 0};
    int warned = 0, overflow = 0, sig;

    for (;;) {
        sig = sigtimedwait(set, NULL, &second);
        if (sig > 0)
            return sig;
        watch_queue(k, c, &warned, &overflow);
    }
}

/* Drain and release everything. Returns the exit code. */
static int
collector_stop(struct collector *k, int drain)
{
    int rc = TASK_OK;
    struct cj_stats js;
    uint64_t files = 0, bytes = 0;

    if (k->http != NULL)
        chttp_set_draining(k->http);
    if (k->j != NULL)
        cj_stop(k->j);
    if (k->sender != NULL && csend_drain(k->sender) < 0)
        rc = TASK_FAIL;
    chttp_free(k->http);
    csend_free(k->sender);
    if (drain && k->j != NULL && k->spool != NULL) {
        cs_counts(k->spool, &files, &bytes);
        cj_get_stats(k->j, &js);
        task_log("stopped: accepted %" PRIu64 ", sent %" PRIu64 ", spilled %" PRIu64
                 ", replayed %" PRIu64 "; left: %" PRIu64 " batch files, %" PRIu64
                 " journal segments",
                 cm_get(k->m, CM_ACCEPTED), cm_get(k->m, CM_SENT), cm_get(k->m, CM_SPILLED),
                 cm_get(k->m, CM_REPLAYED), files, js.files);
    }
    cj_free(k->j);
    cs_free(k->spool);
    cm_free(k->m);
    if (k->dirfd >= 0)
        close(k->dirfd);
    return rc;
}

static int
remove_orphans(const struct opts *o, const struct cfg *c)
{
    struct err e = {0};
    int n;

    if (cs_remove_orphans(o->dir, c->orphan_age, stdout, &n, &e) < 0) {
        task_log("error: %s", e.msg);
        return TASK_TEMP;
    }
    printf("removed %d orphan file%s from %s\n", n, n == 1 ? "" : "s", o->dir);
    return TASK_OK;
}

/* The listening line tests and operators read: the address as given, the port as bound. */
static void
print_listening(const char *listen, int port)
{
    const char *colon = strrchr(listen, ':');

    fprintf(stderr, "event_collector: listening on %.*s:%d\n", (int)(colon - listen), listen, port);
}

int
main(int argc, char **argv)
{
    static struct opts o;
    static struct cfg c;
    struct collector k = {.dirfd = -1};
    struct err e = {0};
    sigset_t set;
    int rc, sig;

    task_set_name("event_collector");
    signal(SIGPIPE, SIG_IGN);
    if ((rc = cfg_parse(argc, argv, &o, &c, &e)) != 0) {
        if (rc != TASK_HELP)
            task_log("error: %s", e.msg);
        rc = rc == TASK_HELP ? TASK_OK : task_exit_code(&e);
        goto out;
    }
    if (task_is_true(o.orphans)) {
        rc = remove_orphans(&o, &c);
        goto out;
    }
    /* blocked before any thread starts, so only sigtimedwait below receives them */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (collector_start(&o, &c, &k, &e) < 0) {
        task_log("error: %s", e.msg);
        collector_stop(&k, 0);
        rc = e.code == ERR_USAGE ? TASK_USAGE : TASK_TEMP;
        goto out;
    }
    print_listening(o.listen, chttp_port(k.http));
    task_log("topic %s, spill folder %s, queue %zu events, disk budget %" PRIu64 " bytes", o.topic,
             o.dir, c.http.queue_max, c.http.spill_max);
    sig = wait_for_stop(&k, &c, &set);
    task_log("%s: draining (POST /collect answers 503 now)", strsignal(sig));
    rc = collector_stop(&k, 1);
out:
    task_list_free(&o.x);
    task_list_free(&c.props);
    return rc;
}

/* randomuser_stream: stream randomuser.me users into Kafka for a fixed time (issue 6, task
 * stream_to_kafka of user_automation).
 *
 * It sends the user handed over by get_and_format_data (--first-user, the XCom of
 * randomuser_fetch) first, then until --duration has passed fetches batches of users
 * (GET {api-url}/api/?results=--batch), formats each (tasks/lib/randomuser) and produces it to
 * --topic keyed by its id, one JSON object per message. Then it waits for every delivery
 * report and writes its counts as XCom.
 *
 * Politeness: request starts (retries included) are at least 1/--rate seconds apart and at
 * most two requests are under way, so the source sees at most rate * duration + 1 requests;
 * the loop blocks in poll (tasks/lib/http), never spins. The deadline is absolute on the
 * monotonic clock: at it nothing more is started, transfers under way are abandoned, and the
 * only thing left is the flush.
 *
 * Exit 0 when every produced message was acknowledged and the API answered at least once; 111
 * when the API never answered or a request still failed after --max-tries (source down), or a
 * delivery failed (broker down: nothing delivered); 1 on SIGTERM (what was produced is still
 * flushed, within a bounded time) or when nothing at all could be sent; 100 bad arguments.
 * Users sent by a failed try are sent again by the next: the loader deduplicates by email. */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http.h"
#include "kafka.h"
#include "randomuser.h"
#include "task.h"

#define USAGE                                                                                      \
    "randomuser_stream [--topic T] [--duration 60s] [--first-user JSON] [--batch N] [--rate R]\n"  \
    "                  [--api-url URL] [-X key=value]...\n"                                        \
    "Send the --first-user record, then for --duration fetch batches of --batch users from\n"      \
    "GET {api-url}/api/?results=N (at most --rate requests per second), format each like\n"        \
    "get_and_format_data and send it to Kafka keyed by id; flush; XCom: requests, users_sent,\n"   \
    "delivered, duration. Exit 0 done; 1 SIGTERM or nothing sent; 100 bad arguments; 111 the\n"    \
    "API down after --max-tries, or the broker unreachable."

enum {
    MAX_IN_FLIGHT = 2,     /* requests submitted and not yet answered, at most */
    RUN_SLICE_MS = 200,    /* how often the loop looks at the stop flag */
    STOP_FLUSH_MS = 10000, /* flush bound after a failure or a signal (within the grace period) */
    MAX_ODD_LOGS = 10      /* users without an id logged one by one; the rest only counted */
};

struct cfg {
    const char *api_url, *topic, *first_user;
    char *url; /* {api_url}/api/?results=N (owned) */
    int batch, max_tries;
    double duration_s, rate, timeout_s, flush_s;
    struct task_list x, props;
};

struct stream {
    const struct cfg *cfg;
    struct http_client *http;
    struct kq_producer *kp;
    double started, deadline; /* monotonic seconds */
    int pending;              /* submitted requests not yet handed back */
    long long requests;       /* answered with users */
    long long users_sent;     /* produced (the first user included) */
    long long skipped;        /* users without login.uuid */
    long tries;               /* transfers started, retries included */
    bool kafka_failed;
    char first_id[128];
};

/* ---- options -------------------------------------------------------------------------- */

static int
int_arg(const char *flag, const char *s, int lo, int hi, int *out, struct err *e)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return err_set(e, ERR_USAGE, "%s: '%s' is not an integer from %d to %d", flag, s, lo, hi);
    *out = (int)v;
    return 0;
}

static int
duration_arg(const char *flag, const char *s, double *out, struct err *e)
{
    if (task_parse_duration(s, out) < 0 || *out <= 0)
        return err_set(e, ERR_USAGE, "%s: '%s' is not a positive duration (90s, 15m, 1d)", flag, s);
    return 0;
}

static int
cfg_check(struct cfg *c, const char *batch, const char *tries, const char *duration,
          const char *rate, const char *timeout, const char *flush, struct err *e)
{
    char *end;
    size_t ulen = strlen(c->api_url);

    if (int_arg("--batch", batch, 1, RANDOMUSER_MAX_BATCH, &c->batch, e) < 0 ||
        int_arg("--max-tries", tries, 1, 20, &c->max_tries, e) < 0 ||
        duration_arg("--duration", duration, &c->duration_s, e) < 0 ||
        duration_arg("--timeout", timeout, &c->timeout_s, e) < 0 ||
        duration_arg("--flush-timeout", flush, &c->flush_s, e) < 0)
        return -1;
    c->rate = strtod(rate, &end);
    /* no "0 = unlimited": a stream against a public API is never a tight loop */
    if (*rate == '\0' || *end != '\0' || !isfinite(c->rate) || c->rate <= 0 || c->rate > 1000)
        return err_set(e, ERR_USAGE,
                       "--rate: '%s' is not a number of requests per second in "
                       "(0, 1000]",
                       rate);
    if (c->topic[0] == '\0')
        return err_set(e, ERR_USAGE, "--topic is empty");
    while (ulen > 0 && c->api_url[ulen - 1] == '/')
        ulen--;
    if (ulen == 0)
        return err_set(e, ERR_USAGE, "--api-url is empty");
    if (asprintf(&c->url, "%.*s/api/?results=%d", (int)ulen, c->api_url, c->batch) < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    return task_kafka_props(&c->x, NULL, &c->props, e);
}

/* Parse argv into c. 0, TASK_HELP or -1. */
static int
cfg_parse(int argc, char **argv, struct cfg *c, struct err *e)
{
    const char *batch, *tries, *duration, *rate, *timeout, *flush;
    struct task_opt opts[] = {
        {"--api-url", "RANDOMUSER_API_URL", "https://randomuser.me", "the API", &c->api_url, false,
         NULL},
        {"--topic", "RANDOMUSER_TOPIC", "users_created", "Kafka topic", &c->topic, false, NULL},
        {"--duration", "RANDOMUSER_DURATION", "60s", "how long to stream", &duration, false, NULL},
        {"--first-user", "RANDOMUSER_FIRST_USER", "",
         "formatted user sent first (XCom of randomuser_fetch)", &c->first_user, false, NULL},
        {"--batch", "RANDOMUSER_BATCH", "100", "users per request (?results=, 1-5000)", &batch,
         false, NULL},
        {"--rate", "RANDOMUSER_RATE", "5", "request starts per second at most (> 0)", &rate, false,
         NULL},
        {"--timeout", "RANDOMUSER_TIMEOUT", "30s", "per request and try", &timeout, false, NULL},
        {"--max-tries", "RANDOMUSER_MAX_TRIES", "5", "tries per request, the first included",
         &tries, false, NULL},
        {"--flush-timeout", "RANDOMUSER_FLUSH_TIMEOUT", "60s", "wait for Kafka acknowledgements",
         &flush, false, NULL},
        {"-X", NULL, NULL, "librdkafka property key=value (also KAFKA_*)", NULL, false, &c->x},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    int rc = task_parse(argc, argv, opts, USAGE, e);

    if (rc != 0)
        return rc;
    return cfg_check(c, batch, tries, duration, rate, timeout, flush, e);
}

static void
cfg_free(struct cfg *c)
{
    free(c->url);
    task_list_free(&c->x);
    task_list_free(&c->props);
}

/* ---- sending -------------------------------------------------------------------------- */

/* Produce one formatted record keyed by its id. */
static int
send_record(struct stream *s, const json_t *rec, struct err *e)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    char *text = randomuser_dump(rec);
    int rc;

    if (text == NULL)
        return err_set(e, ERR_FAIL, "out of memory serialising a user");
    rc = kq_produce(s->kp, s->cfg->topic, id, strlen(id), text, strlen(text), e);
    free(text);
    if (rc == 0)
        s->users_sent++;
    return rc;
}

/* The --first-user record, sent before any batch. "" (or null: no XCom upstream) sends none. */
static int
send_first(struct stream *s, struct err *e)
{
    const char *text = s->cfg->first_user;
    json_t *rec;
    int rc;

    if (text[0] == '\0' || strcmp(text, "null") == 0) {
        task_log("no --first-user: streaming fetched users only");
        return 0;
    }
    if ((rec = randomuser_record_from_text(text, e)) == NULL)
        return err_prefix(e, "--first-user");
    snprintf(s->first_id, sizeof(s->first_id), "%s", json_string_value(json_object_get(rec, "id")));
    rc = send_record(s, rec, e);
    json_decref(rec);
    return rc < 0 ? err_prefix(e, "first user") : 0;
}

/* Format and send every user of one answer. */
static int
send_batch(struct stream *s, const struct http_response *r, struct err *e)
{
    json_t *root, *results, *user;
    size_t i;
    int rc = 0;

    if (randomuser_parse(r->body, r->size, &root, &results, e) < 0) {
        e->temporary = true; /* the validator accepted it: cannot happen, but never success */
        return err_prefix(e, "batch");
    }
    s->requests++;
    json_array_foreach(results, i, user)
    {
        struct err why = {0};
        json_t *rec = randomuser_format(user, &why);

        if (rec == NULL && why.code != ERR_PARSE) {
            *e = why;
            rc = -1;
            break;
        }
        if (rec == NULL) {
            if (s->skipped++ < MAX_ODD_LOGS)
                task_log("odd user %zu of request %lld: %s (skipped)", i, s->requests, why.msg);
            continue;
        }
        rc = send_record(s, rec, e);
        json_decref(rec);
        if (rc < 0)
            break;
    }
    json_decref(root);
    return rc;
}

/* ---- the stream ----------------------------------------------------------------------- */

static int
stream_start(struct stream *s, struct err *e)
{
    const struct cfg *c = s->cfg;
    struct http_opts o = {
        .timeout_ms = (long)(c->timeout_s * 1000),
        .max_parallel = MAX_IN_FLIGHT,
        .min_interval_ms = (long)ceil(1000.0 / c->rate),
        .max_tries = c->max_tries,
        .validate = randomuser_validate,
    };

    if ((s->http = http_client_new(&o, e)) == NULL)
        return err_prefix(e, "http client");
    return 0;
}

/* Keep MAX_IN_FLIGHT requests submitted; the client starts them 1/rate apart. */
static int
submit_due(struct stream *s, struct err *e)
{
    while (s->pending < MAX_IN_FLIGHT) {
        struct http_request rq = {.method = HTTP_GET, .url = s->cfg->url, .label = "batch"};
        if (http_submit(s->http, &rq, e) < 0)
            return err_prefix(e, "submit");
        s->pending++;
    }
    return 0;
}

/* Handle every finished request: a batch to send, or the source down after its tries. */
static int
take_done(struct stream *s, struct err *e)
{
    struct http_response *r;
    int rc = 0;

    while (rc == 0 && (r = http_next_done(s->http)) != NULL) {
        s->pending--;
        if (r->err.code != ERR_OK) {
            *e = r->err;
            e->temporary = true;
            rc = err_prefix(e, "the API is down (%lld batch(es) before)", s->requests);
        } else {
            rc = send_batch(s, r, e);
        }
        http_response_free(r);
    }
    return rc;
}

/* Fetch and send until the deadline. */
static int
stream_run(struct stream *s, struct err *e)
{
    uint64_t failed = 0;

    for (;;) {
        double now = clock_mono();

        if (task_stopping())
            return err_set(e, ERR_FAIL, "stopped by signal %d after %.1f s", task_stop_signal(),
                           now - s->started);
        kq_producer_stats(s->kp, NULL, NULL, &failed);
        if (failed > 0) {
            s->kafka_failed = true;
            return err_set(e, ERR_IO, "a Kafka delivery failed; stopping the stream");
        }
        if (now >= s->deadline)
            break;
        if (submit_due(s, e) < 0)
            return -1;
        long wait_ms = (long)ceil((s->deadline - now) * 1000);
        if (http_client_run(s->http, wait_ms < RUN_SLICE_MS ? wait_ms : RUN_SLICE_MS, e) < 0)
            return err_prefix(e, "fetch");
        if (take_done(s, e) < 0)
            return -1;
    }
    /* the deadline: abandon what is queued or under way, start nothing more */
    struct http_stats st;
    http_client_stats(s->http, &st);
    s->tries = st.started;
    http_client_free(s->http);
    s->http = NULL;
    if (s->requests == 0) {
        err_set(e, ERR_IO, "the API did not answer with users in %.1f s", s->cfg->duration_s);
        e->temporary = true;
        return -1;
    }
    return 0;
}

/* Stream, then flush: the stream's error first, unless the flush explains it (a delivery). */
static int
stream_and_flush(struct stream *s, struct err *e)
{
    struct err fe = {0};
    int rc = stream_run(s, e);
    long flush_ms = (long)(s->cfg->flush_s * 1000);

    if (rc < 0 && flush_ms > STOP_FLUSH_MS)
        flush_ms = STOP_FLUSH_MS;
    if (kq_flush(s->kp, flush_ms > INT_MAX ? INT_MAX : (int)flush_ms, &fe) < 0) {
        if (rc == 0 || s->kafka_failed)
            *e = fe;
        else
            task_log("also: %s", fe.msg);
        return -1;
    }
    return rc;
}

/* Every message was acknowledged: write the XCom result. */
static int
stream_finish(struct stream *s, struct err *e)
{
    uint64_t delivered = 0;
    double took = clock_mono() - s->started;
    char *xcom;
    int rc;

    kq_producer_stats(s->kp, NULL, &delivered, NULL);
    if (delivered == 0)
        return err_set(e, ERR_FAIL, "nothing was delivered (%lld user(s) skipped)", s->skipped);
    json_t *x = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "requests", s->requests, "tries",
                          (json_int_t)s->tries, "users_sent", s->users_sent, "delivered",
                          (json_int_t)delivered, "skipped", s->skipped, "duration",
                          round(took * 1000) / 1000, "first_user",
                          s->first_id[0] ? json_string(s->first_id) : json_null());
    xcom = x ? json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(x);
    if (xcom == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    rc = task_xcom_write(xcom, e);
    free(xcom);
    if (rc == 0)
        task_log("done: %lld request(s) (%ld tries), %lld user(s) sent, %llu delivered, %lld "
                 "skipped in %.1f s",
                 s->requests, s->tries, s->users_sent, (unsigned long long)delivered, s->skipped,
                 took);
    return rc;
}

int
main(int argc, char **argv)
{
    struct cfg cfg = {0};
    struct stream s = {.cfg = &cfg};
    struct err e = {0};
    int rc;

    task_set_name("randomuser_stream");
    task_signals_init();
    rc = cfg_parse(argc, argv, &cfg, &e);
    if (rc == TASK_HELP) {
        cfg_free(&cfg);
        return TASK_OK;
    }
    if (rc < 0)
        goto out;
    task_log("stream %s to %s for %.1f s (batch %d, at most %g request(s)/s)", cfg.url, cfg.topic,
             cfg.duration_s, cfg.batch, cfg.rate);
    s.started = clock_mono();
    s.deadline = s.started + cfg.duration_s;
    if ((s.kp = kq_producer_new((const char *const *)cfg.props.v, &e)) == NULL ||
        send_first(&s, &e) < 0 || stream_start(&s, &e) < 0 || stream_and_flush(&s, &e) < 0 ||
        stream_finish(&s, &e) < 0)
        goto out;
    kq_producer_free(s.kp);
    cfg_free(&cfg);
    return TASK_OK;
out:
    task_log("error: %s", e.msg);
    http_client_free(s.http);
    kq_producer_free(s.kp);
    cfg_free(&cfg);
    return task_exit_code(&e);
}

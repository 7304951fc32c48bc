/* randomuser_stream: stream randomuser.me users into Kafka for a fixed time (issue 6, task
 * stream_to_kafka of user_automation).
 *
 * It sends the user handed over by get_and_format_data (--first-user, the XCom of
 * randomuser_fetch) first, then until --duration has passed fetches batches of users
 * (GET {api-url}/api/?results=--batch), formats each (tasks/lib/randomuser) and produces it to
 * --topic, one JSON object per message. Then it waits for every delivery report and writes its
 * counts as XCom.
 *
 * Message key: the user's business key, the email as created_users stores it (trimmed, lower
 * case: randomuser_key), so all versions of one user go to one partition (murmur2, as Java
 * clients place keys) and reach the loader in the order they were sent: "a later record
 * replaces the row" then means later in this order (docs/pipelines.md, "Message keys and
 * ordering"). A user without an email is still sent, without a key (Kafka then picks a
 * partition), so the loader dead-letters it where it can be seen; such users are logged and
 * counted (XCom unkeyed).
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

#include "crawl.h"
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
    "get_and_format_data and send it to Kafka keyed by its email (trimmed, lower case; no key\n"   \
    "when it has none); flush; XCom: requests, users_sent, delivered, unkeyed, duration. Exit 0\n" \
    "done; 1 SIGTERM or nothing sent; 100 bad arguments; 111 the API down after --max-tries, or\n" \
    "the broker unreachable."

enum {
    MAX_IN_FLIGHT = 2,  /* requests submitted and not yet answered, at most */
    RUN_SLICE_MS = 200, /* how often the loop looks at the stop flag */
    MAX_ODD_LOGS = 10   /* users without an id (or email) logged one by one; the rest counted */
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
    long long unkeyed;        /* sent without a key: no email */
    long tries;               /* transfers started, retries included */
    bool kafka_failed;
    char first_id[128];
};

/* ---- options -------------------------------------------------------------------------- */

static int
cfg_check(struct cfg *c, const char *batch, const char *tries, const char *duration,
          const char *rate, const char *timeout, const char *flush, struct err *e)
{
    char *end;
    size_t ulen = strlen(c->api_url);

    if (crawl_int_arg("--batch", batch, 1, RANDOMUSER_MAX_BATCH, &c->batch, e) < 0 ||
        crawl_int_arg("--max-tries", tries, 1, 20, &c->max_tries, e) < 0 ||
        crawl_duration_arg("--duration", duration, true, &c->duration_s, e) < 0 ||
        crawl_duration_arg("--timeout", timeout, true, &c->timeout_s, e) < 0 ||
        crawl_duration_arg("--flush-timeout", flush, true, &c->flush_s, e) < 0)
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
    return 0;
}

/* Parse argv into c. 0, TASK_HELP or -1. */
static int
cfg_parse(int argc, char **argv, void *arg, struct err *e)
{
    struct cfg *c = arg;
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
        CRAWL_OPT_TIMEOUT("RANDOMUSER_TIMEOUT", &timeout),
        {"--max-tries", "RANDOMUSER_MAX_TRIES", "5", "tries per request, the first included",
         &tries, false, NULL},
        CRAWL_OPTS_END("RANDOMUSER_FLUSH_TIMEOUT", "60s", &flush, &c->x),
    };
    int rc = crawl_parse(argc, argv, opts, USAGE, &c->x, &c->props, e);

    return rc != 0 ? rc : cfg_check(c, batch, tries, duration, rate, timeout, flush, e);
}

static void
cfg_free(void *arg)
{
    struct cfg *c = arg;

    free(c->url);
    crawl_lists_clear(&c->x, &c->props);
}

/* ---- sending -------------------------------------------------------------------------- */

/* Produce one formatted record keyed by its email (randomuser_key); one without an email goes
 * without a key, logged. */
static int
send_record(struct stream *s, const json_t *rec, struct err *e)
{
    char *key = NULL, *text = NULL;
    int rc = -1;

    if (randomuser_key(rec, &key, e) < 0)
        return -1;
    if ((text = randomuser_dump(rec)) == NULL) {
        err_set(e, ERR_FAIL, "out of memory serialising a user");
        goto out;
    }
    rc = kq_produce(s->kp, s->cfg->topic, key, key ? strlen(key) : 0, text, strlen(text), e);
    if (rc == 0)
        s->users_sent++;
    if (rc == 0 && key == NULL && s->unkeyed++ < MAX_ODD_LOGS)
        task_log("user id=%s has no email: sent without a key (any partition; the loader "
                 "dead-letters it)",
                 json_string_value(json_object_get(rec, "id")));
out:
    free(text);
    free(key);
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
        rc = r->err.code == ERR_OK
                 ? send_batch(s, r, e)
                 : crawl_request_failed(r, e, "the API is down (%lld batch(es) before)",
                                        s->requests);
        http_response_free(r);
    }
    return rc;
}

/* Fetch and send until the deadline. */
static int
stream_run(struct stream *s, struct err *e)
{
    for (;;) {
        double now = clock_mono();

        if (task_stopping())
            return err_set(e, ERR_FAIL, "stopped by signal %d after %.1f s", task_stop_signal(),
                           now - s->started);
        if (crawl_delivery_check(s->kp, &s->kafka_failed, e) < 0)
            return -1;
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

/* Every message was acknowledged: write the XCom result. */
static int
stream_finish(struct stream *s, struct err *e)
{
    uint64_t delivered = 0;
    double took = clock_mono() - s->started;
    int rc;

    kq_producer_stats(s->kp, NULL, &delivered, NULL);
    if (delivered == 0)
        return err_set(e, ERR_FAIL, "nothing was delivered (%lld user(s) skipped)", s->skipped);
    rc = crawl_xcom_write(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "requests",
                                    s->requests, "tries", (json_int_t)s->tries, "users_sent",
                                    s->users_sent, "delivered", (json_int_t)delivered, "skipped",
                                    s->skipped, "unkeyed", s->unkeyed, "duration",
                                    round(took * 1000) / 1000, "first_user",
                                    s->first_id[0] ? json_string(s->first_id) : json_null()),
                          true, e);
    if (rc == 0)
        task_log("done: %lld request(s) (%ld tries), %lld user(s) sent (%lld without a key), "
                 "%llu delivered, %lld skipped in %.1f s",
                 s->requests, s->tries, s->users_sent, s->unkeyed, (unsigned long long)delivered,
                 s->skipped, took);
    return rc;
}

/* The whole run after the flags: the first user, the batches until the deadline, the flush. */
static int
stream_all(void *arg, struct err *e)
{
    const struct cfg *cfg = arg;
    struct stream s = {.cfg = cfg};
    int rc = -1;

    task_log("stream %s to %s for %.1f s (batch %d, at most %g request(s)/s)", cfg->url, cfg->topic,
             cfg->duration_s, cfg->batch, cfg->rate);
    s.started = clock_mono();
    s.deadline = s.started + cfg->duration_s;
    if ((s.kp = kq_producer_new((const char *const *)cfg->props.v, e)) != NULL &&
        send_first(&s, e) == 0 && stream_start(&s, e) == 0) {
        rc = stream_run(&s, e); /* then flush: its error first, unless the flush explains it */
        if ((rc = crawl_flush(s.kp, rc, cfg->flush_s, s.kafka_failed, e)) == 0)
            rc = stream_finish(&s, e);
    }
    http_client_free(s.http);
    kq_producer_free(s.kp);
    return rc;
}

int
main(int argc, char **argv)
{
    static struct cfg cfg;
    static const struct crawl_prog prog = {"randomuser_stream", cfg_parse, stream_all, cfg_free,
                                           ""};
    return crawl_main(argc, argv, &prog, &cfg);
}

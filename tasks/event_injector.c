/* event_injector: the load generator of the github_events pipeline: GitHub events POSTed to
 * the event collector (POST /collect), made up or read from GitHub's public events API.
 *
 * Synthetic mode (the default) sends --events events of ghsource's stream for --seed (the
 * same events for the same seed, whatever --batch and --connections), --batch to a POST,
 * --connections POSTs at once, at most --rate events per second (0: as fast as the collector
 * takes them), until --events were sent or --duration passed. LIVE mode (--live or LIVE=1)
 * polls GET $GITHUB_API_URL/events instead, following the API's rules (ghpoll.h: ETag and
 * If-None-Match, X-Poll-Interval, rate limits), and forwards each event it has not forwarded
 * before, until --polls polls or --duration.
 *
 * Key invariant: every event sent is counted exactly once as accepted (202), rejected (4xx)
 * or failed (resends exhausted, or stopped): evpost.h. The last stdout line is the summary as
 * key=value pairs; --ids-out gets every event_id the collector answered. Exit 0 when every
 * event got a 202 (and, in LIVE mode, some poll got an answer); 1 otherwise; 100 for bad
 * arguments. SIGTERM stops sending; what is in flight is waited for (at most --timeout), the
 * rest counts as failed. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "evpost.h"
#include "ghpoll.h"
#include "ghsource.h"
#include "http.h"
#include "task.h"

#define USAGE                                                                                      \
    "event_injector [--url URL] [--events N] [--rate EVENTS_PER_S] [--connections C]\n"            \
    "               [--batch K] [--seed S] [--ids-out FILE] [--duration D]\n"                      \
    "       event_injector --live [--api-url URL] [--polls N] [--duration D] [--url URL] ...\n"    \
    "POST GitHub-like events to the event collector: synthetic ones (deterministic for a seed)\n"  \
    "or, with --live, those of GitHub's public events API ($GITHUB_TOKEN as a Bearer token when\n" \
    "set). The last stdout line is the summary (key=value). Exit 0 when every event got a 202;\n"  \
    "1 otherwise; 100 bad arguments."

#define TOOL_VERSION "0.1"
#define USER_AGENT                                                                                 \
    "gust-event_injector/" TOOL_VERSION " (+https://github.com/gust; event pipeline load "         \
    "generator) libcurl"

enum { SLICE_MS = 200, ETAG_MAX = 256, URL_MAX = 2048 };

struct cfg {
    const char *url, *ids_path, *api_url, *token;
    long long events; /* 0: no bound (then --duration bounds the run) */
    double rate, duration_s, timeout_s, poll_interval_s;
    int connections, batch, max_retries, polls, max_pages;
    long long invalid_every;
    uint64_t seed;
    size_t dedup;
    bool live;
};

/* What LIVE mode counts besides the POSTs. */
struct live_stats {
    long long polls, answered, not_modified, rate_limited, poll_errors, pages, fetched, dups;
};

struct run {
    struct cfg c;
    FILE *ids;
    struct evpost *post;
    double started;
    struct live_stats lv;
};

/* ---- options ---------------------------------------------------------------------------- */

static int
ll_arg(const char *flag, const char *s, long long lo, long long hi, long long *out, struct err *e)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
        return err_set(e, ERR_USAGE, "%s: '%s' is not an integer from %lld to %lld", flag, s, lo,
                       hi);
    *out = v;
    return 0;
}

static int
int_arg(const char *flag, const char *s, int lo, int hi, int *out, struct err *e)
{
    long long v;

    if (ll_arg(flag, s, lo, hi, &v, e) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int
dur_arg(const char *flag, const char *s, bool positive, double *out, struct err *e)
{
    if (task_parse_duration(s, out) < 0 || (positive && *out <= 0))
        return err_set(e, ERR_USAGE, "%s: '%s' is not a %sduration (90s, 250ms, 15m)", flag, s,
                       positive ? "positive " : "");
    return 0;
}

/* The flag values as text, checked and converted by cfg_check. */
struct raw {
    const char *events, *rate, *conns, *batch, *seed, *duration, *retries, *timeout, *invalid,
        *live, *polls, *interval, *pages, *dedup;
};

static int
cfg_check(struct cfg *c, const struct raw *w, struct err *e)
{
    long long seed, dedup;
    char *end;

    if (ll_arg("--events", w->events, 0, LLONG_MAX, &c->events, e) < 0 ||
        int_arg("--connections", w->conns, 1, 1024, &c->connections, e) < 0 ||
        int_arg("--batch", w->batch, 1, 10000, &c->batch, e) < 0 ||
        ll_arg("--seed", w->seed, 0, LLONG_MAX, &seed, e) < 0 ||
        dur_arg("--duration", w->duration, false, &c->duration_s, e) < 0 ||
        int_arg("--max-retries", w->retries, 0, 1000, &c->max_retries, e) < 0 ||
        dur_arg("--timeout", w->timeout, true, &c->timeout_s, e) < 0 ||
        ll_arg("--invalid-every", w->invalid, 0, LLONG_MAX, &c->invalid_every, e) < 0 ||
        int_arg("--polls", w->polls, 0, INT_MAX, &c->polls, e) < 0 ||
        dur_arg("--poll-interval", w->interval, true, &c->poll_interval_s, e) < 0 ||
        int_arg("--max-pages", w->pages, 1, 100, &c->max_pages, e) < 0 ||
        ll_arg("--dedup-size", w->dedup, 1, 1 << 28, &dedup, e) < 0)
        return -1;
    c->rate = strtod(w->rate, &end);
    if (*w->rate == '\0' || *end != '\0' || !isfinite(c->rate) || c->rate < 0)
        return err_set(e, ERR_USAGE, "--rate: '%s' is not a number of events per second >= 0",
                       w->rate);
    c->seed = (uint64_t)seed;
    c->dedup = (size_t)dedup;
    c->live = task_is_true(w->live);
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return err_set(e, ERR_USAGE, "--url: '%s' is not an http:// or https:// URL", c->url);
    if (c->live && strncmp(c->api_url, "http://", 7) != 0 &&
        strncmp(c->api_url, "https://", 8) != 0)
        return err_set(e, ERR_USAGE, "--api-url: '%s' is not an http:// or https:// URL",
                       c->api_url);
    if (!c->live && c->events == 0 && c->duration_s <= 0)
        c->events = 1000; /* neither bound given */
    return 0;
}

static int
cfg_parse(struct cfg *c, int argc, char **argv, struct err *e)
{
    struct raw w;
    struct task_opt opts[] = {
        {"--url", "COLLECTOR_URL", "http://127.0.0.1:8000/collect", "the collector's POST URL",
         &c->url, false, NULL},
        {"--events", "INJECTOR_EVENTS", "0",
         "events to send (0: 1000, or no bound with "
         "--duration)",
         &w.events, false, NULL},
        {"--rate", "INJECTOR_RATE", "0", "events per second at most (0: as fast as possible)",
         &w.rate, false, NULL},
        {"--connections", "INJECTOR_CONNECTIONS", "8", "POSTs in flight at once", &w.conns, false,
         NULL},
        {"--batch", "INJECTOR_BATCH", "1", "events per POST (1: one object, more: an array)",
         &w.batch, false, NULL},
        {"--seed", "INJECTOR_SEED", "1", "the synthetic stream's seed", &w.seed, false, NULL},
        {"--ids-out", "INJECTOR_IDS_OUT", NULL, "write every event_id answered here, one a line",
         &c->ids_path, false, NULL},
        {"--duration", "INJECTOR_DURATION", "0", "stop sending (or polling) after this long",
         &w.duration, false, NULL},
        {"--max-retries", "INJECTOR_MAX_RETRIES", "10",
         "resends of a batch after a 503 or an error", &w.retries, false, NULL},
        {"--timeout", "INJECTOR_TIMEOUT", "30s", "per request", &w.timeout, false, NULL},
        {"--invalid-every", "INJECTOR_INVALID_EVERY", "0",
         "make every Nth event invalid (a string actor.id) to exercise 400s", &w.invalid, false,
         NULL},
        {"--live", "LIVE", "0", "forward GitHub's public events instead", &w.live, true, NULL},
        {"--api-url", "GITHUB_API_URL", "https://api.github.com", "GitHub's API", &c->api_url,
         false, NULL},
        {"--polls", "INJECTOR_POLLS", "0", "LIVE: stop after this many polls (0: no bound)",
         &w.polls, false, NULL},
        {"--poll-interval", "INJECTOR_POLL_INTERVAL", "60s",
         "LIVE: between polls when the API sends no X-Poll-Interval", &w.interval, false, NULL},
        {"--max-pages", "INJECTOR_MAX_PAGES", "3", "LIVE: pages read per poll (Link: next)",
         &w.pages, false, NULL},
        {"--dedup-size", "INJECTOR_DEDUP_SIZE", "100000", "LIVE: event ids remembered", &w.dedup,
         false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    int rc = task_parse(argc, argv, opts, USAGE, e);

    if (rc != 0)
        return rc;
    c->token = task_env("GITHUB_TOKEN", NULL);
    return cfg_check(c, &w, e);
}

/* ---- synthetic mode --------------------------------------------------------------------- */

/* Events k .. k + n - 1 as the body of one POST (malloc'd): an object alone, else an array. */
static char *
batch_body(const struct ghsource *g, uint64_t k, int n)
{
    json_t *doc = n == 1 ? ghsource_event(g, k) : json_array();
    char *text;

    for (int i = 0; n > 1 && doc != NULL && i < n; i++) {
        json_t *ev = ghsource_event(g, k + (uint64_t)i);
        if (ev == NULL || json_array_append_new(doc, ev) < 0) {
            json_decref(doc);
            return NULL;
        }
    }
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    return text;
}

/* Whether the run should stop making new events (count, duration or signal). */
static bool
synthetic_done(const struct run *r, long long k)
{
    const struct cfg *c = &r->c;

    return task_stopping() || (c->events > 0 && k >= c->events) ||
           (c->duration_s > 0 && clock_mono() - r->started >= c->duration_s);
}

/* Send the synthetic stream: a batch whenever a connection is free and the rate allows. */
static int
run_synthetic(struct run *r, struct err *e)
{
    const struct cfg *c = &r->c;
    struct ghsource_opts go = {.seed = c->seed, .invalid_every = c->invalid_every};
    struct ghsource *g = ghsource_new(&go, e);
    long long k = 0;
    int rc = 0;

    if (g == NULL)
        return -1;
    task_log("synthetic: %lld event(s)%s, seed %" PRIu64 ", batch %d, %d connection(s), rate %s "
             "-> %s",
             c->events, c->duration_s > 0 ? " or --duration" : "", c->seed, c->batch,
             c->connections, c->rate > 0 ? "bounded" : "unbounded", c->url);
    while (rc == 0 && !synthetic_done(r, k)) {
        double due = c->rate > 0 ? r->started + (double)k / c->rate : 0, now = clock_mono();
        if (!evpost_ready(r->post) || now < due) {
            long ms = now < due ? (long)ceil((due - now) * 1000) : SLICE_MS;
            rc = evpost_run(r->post, ms < SLICE_MS ? ms : SLICE_MS, e);
            continue;
        }
        int n = c->events > 0 && c->events - k < c->batch ? (int)(c->events - k) : c->batch;
        char *body = batch_body(g, (uint64_t)k, n);
        if (body == NULL)
            rc = err_set(e, ERR_FAIL, "out of memory for a batch of %d event(s)", n);
        else
            rc = evpost_submit(r->post, body, n, e);
        k += n;
        if (rc == 0)
            rc = evpost_run(r->post, 0, e);
    }
    ghsource_free(g);
    return rc;
}

/* ---- LIVE mode -------------------------------------------------------------------------- */

struct live {
    struct run *r;
    struct http_client *http;
    struct ghpoll_seen *seen;
    char etag[ETAG_MAX];
    double interval_s; /* the last X-Poll-Interval, else --poll-interval */
    json_t *pending;   /* events to forward, oldest first */
};

/* GET url (one try) with the API's headers; the response (any status), NULL with e set. */
static struct http_response *
api_get(struct live *l, const char *url, bool conditional, struct err *e)
{
    char auth[512], inm[ETAG_MAX + 32];
    const char *hdrs[5] = {"Accept: application/vnd.github+json",
                           "X-GitHub-Api-Version: 2022-11-28", NULL, NULL, NULL};
    int n = 2;
    struct http_response *resp = NULL;
    int rc;

    if (l->r->c.token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", l->r->c.token);
        hdrs[n++] = auth;
    }
    if (conditional && l->etag[0] != '\0') {
        snprintf(inm, sizeof(inm), "If-None-Match: %s", l->etag);
        hdrs[n++] = inm;
    }
    struct http_request rq = {.method = HTTP_GET, .url = url, .headers = hdrs, .label = "events"};
    rc = http_submit(l->http, &rq, e);
    while (rc == 0 && (resp = http_next_done(l->http)) == NULL) {
        if (task_stopping())
            return err_set(e, ERR_FAIL, "stopped by signal %d", task_stop_signal()), NULL;
        /* the POSTs go on while the GET runs */
        if (http_client_run(l->http, 50, e) < 0 || evpost_run(l->r->post, 0, e) < 0)
            return NULL;
    }
    return resp;
}

/* Keep the events of one page that were not forwarded before (newest first on the page:
 * prepended into fresh, so fresh ends oldest first). */
static int
take_events(struct live *l, const struct http_response *resp, json_t *fresh, struct err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(resp->body, resp->size, 0, &je), *ev;
    size_t i;
    char idbuf[32];

    if (!json_is_array(doc)) {
        json_decref(doc);
        return err_set(e, ERR_PARSE, "the events page is not a JSON array%s%s", doc ? "" : ": ",
                       doc ? "" : je.text);
    }
    l->r->lv.pages++;
    json_array_foreach(doc, i, ev)
    {
        const json_t *id = json_object_get(ev, "id");
        const char *ids = json_string_value(id);
        if (json_is_integer(id))
            snprintf(idbuf, sizeof(idbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(id)),
                ids = idbuf;
        l->r->lv.fetched++;
        if (ids == NULL || !json_is_object(ev))
            continue; /* not an event: the collector would refuse it */
        if (!ghpoll_seen_add(l->seen, ids)) {
            l->r->lv.dups++;
            continue;
        }
        json_array_insert(fresh, 0, ev);
    }
    json_decref(doc);
    return 0;
}

/* How long to wait after resp before the next poll; logs a rate limit (*limited set). */
static double
answer_wait(struct live *l, const struct http_response *resp, bool *limited)
{
    char pi[32], rem[32], reset[32], ra[32];
    struct ghpoll_answer a = {
        .status = resp->status,
        .poll_interval = http_response_header(resp, "X-Poll-Interval", pi, sizeof(pi)),
        .remaining = http_response_header(resp, "X-RateLimit-Remaining", rem, sizeof(rem)),
        .reset = http_response_header(resp, "X-RateLimit-Reset", reset, sizeof(reset)),
        .retry_after = http_response_header(resp, "Retry-After", ra, sizeof(ra)),
    };
    double now = clock_wall(), wait = ghpoll_wait(&a, now, l->interval_s, limited);

    if (a.poll_interval != NULL && atof(a.poll_interval) > 0)
        l->interval_s = atof(a.poll_interval);
    if (*limited) {
        l->r->lv.rate_limited++;
        task_log("rate limited by the API (HTTP %ld, X-RateLimit-Remaining %s, X-RateLimit-Reset "
                 "%s, Retry-After %s): waiting %.0f s before the next poll",
                 resp->status, a.remaining ? a.remaining : "-", a.reset ? a.reset : "-",
                 a.retry_after ? a.retry_after : "-", ceil(wait));
    }
    return wait;
}

/* After a 200 on the first page: the ETag, the events, the next pages. */
static int
take_pages(struct live *l, struct http_response *first, json_t *fresh, double *wait, struct err *e)
{
    char next[URL_MAX], link[URL_MAX];
    struct http_response *resp = first;
    int rc = 0;

    if (http_response_header(first, "ETag", l->etag, sizeof(l->etag)) == NULL)
        l->etag[0] = '\0';
    for (int page = 1; rc == 0; page++) {
        if ((rc = take_events(l, resp, fresh, e)) < 0)
            break;
        if (page >= l->r->c.max_pages ||
            http_response_header(resp, "Link", link, sizeof(link)) == NULL ||
            ghpoll_link_next(link, next, sizeof(next)) == NULL)
            break;
        if (resp != first)
            http_response_free(resp);
        if ((resp = api_get(l, next, false, e)) == NULL)
            return -1;
        if (resp->status != 200) { /* the rest waits for the next poll */
            bool limited;
            *wait = fmax(*wait, answer_wait(l, resp, &limited));
            task_log("page %d of the events: HTTP %ld (%s); the next poll reads it", page + 1,
                     resp->status, resp->err.msg);
            break;
        }
    }
    if (resp != first)
        http_response_free(resp);
    return rc;
}

/* One poll: GET the first page (conditional), then the next ones; new events into pending.
 * The wait before the next poll into *wait. Errors of the API are counted, not returned. */
static int
poll_once(struct live *l, double *wait, struct err *e)
{
    char url[URL_MAX];
    struct http_response *resp;
    json_t *fresh = json_array();
    int rc = 0;

    snprintf(url, sizeof(url), "%s/events?per_page=100", l->r->c.api_url);
    if (fresh == NULL || (resp = api_get(l, url, true, e)) == NULL) {
        json_decref(fresh);
        return -1;
    }
    l->r->lv.polls++;
    bool limited;
    *wait = answer_wait(l, resp, &limited);
    if (resp->status == 200) {
        l->r->lv.answered++;
        if (take_pages(l, resp, fresh, wait, e) < 0) {
            l->r->lv.poll_errors++;
            task_log("poll %lld: %s", l->r->lv.polls, e->msg);
            err_clear(e);
        }
    } else if (resp->status == 304) {
        l->r->lv.answered++;
        l->r->lv.not_modified++;
    } else if (!limited) { /* a 5xx, no answer, or a 4xx such as a bad token's 401 */
        l->r->lv.poll_errors++;
        task_log("poll %lld: %s%s%.200s", l->r->lv.polls, resp->err.msg, resp->size > 0 ? ": " : "",
                 resp->body);
    }
    http_response_free(resp);
    if (json_array_extend(l->pending, fresh) < 0)
        rc = err_set(e, ERR_FAIL, "out of memory");
    json_decref(fresh);
    return rc;
}

/* Hand pending events to the poster, at most --batch to a POST, while connections are free
 * (what waits for a connection may fill a batch meanwhile). */
static int
forward(struct live *l, struct err *e)
{
    int k = l->r->c.batch;

    while (json_array_size(l->pending) > 0 && evpost_ready(l->r->post)) {
        size_t n =
            json_array_size(l->pending) < (size_t)k ? json_array_size(l->pending) : (size_t)k;
        json_t *doc = n == 1 ? json_incref(json_array_get(l->pending, 0)) : json_array();
        for (size_t i = 0; n > 1 && i < n; i++)
            json_array_append(doc, json_array_get(l->pending, i));
        char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        for (size_t i = 0; i < n; i++)
            json_array_remove(l->pending, 0);
        if (body == NULL)
            return err_set(e, ERR_FAIL, "out of memory for a batch");
        if (evpost_submit(l->r->post, body, (int)n, e) < 0)
            return -1;
    }
    return 0;
}

static bool
live_done(const struct live *l)
{
    const struct cfg *c = &l->r->c;

    return task_stopping() || (c->polls > 0 && l->r->lv.polls >= c->polls) ||
           (c->duration_s > 0 && clock_mono() - l->r->started >= c->duration_s);
}

static int
live_loop(struct live *l, struct err *e)
{
    double next_poll = clock_mono(), wait = 0;
    int rc = 0;

    while (rc == 0 && !live_done(l)) {
        double now = clock_mono();
        if (now >= next_poll) {
            rc = poll_once(l, &wait, e);
            next_poll = clock_mono() + wait; /* a full interval from the answer */
            if (rc == 0)
                rc = forward(l, e);
            continue;
        }
        long ms = (long)ceil((next_poll - now) * 1000);
        if ((rc = evpost_run(l->r->post, ms < SLICE_MS ? ms : SLICE_MS, e)) == 0)
            rc = forward(l, e);
    }
    /* what the last polls read is still sent */
    while (rc == 0 && !task_stopping() && json_array_size(l->pending) > 0)
        if ((rc = evpost_run(l->r->post, SLICE_MS, e)) == 0)
            rc = forward(l, e);
    return rc;
}

/* Poll the API and forward new events until --polls, --duration or a signal. */
static int
run_live(struct run *r, struct err *e)
{
    struct live l = {.r = r, .interval_s = r->c.poll_interval_s};
    struct http_opts ho = {
        .user_agent = USER_AGENT,
        .timeout_ms = (long)(r->c.timeout_s * 1000),
        .max_parallel = 1,
        .max_tries = 1, /* a failed poll is counted; the next one comes after the interval */
    };
    int rc = -1;

    task_log("live: polling %s/events (%s) -> %s, %s", r->c.api_url,
             r->c.token != NULL ? "with GITHUB_TOKEN" : "anonymous", r->c.url,
             r->c.polls > 0 ? "bounded by --polls" : "until --duration or a signal");
    if ((l.seen = ghpoll_seen_new(r->c.dedup, e)) != NULL &&
        (l.http = http_client_new(&ho, e)) != NULL && (l.pending = json_array()) != NULL)
        rc = live_loop(&l, e);
    else if (l.seen != NULL && l.http != NULL)
        err_set(e, ERR_FAIL, "out of memory");
    json_decref(l.pending);
    http_client_free(l.http);
    ghpoll_seen_free(l.seen);
    return rc;
}

/* ---- the end ---------------------------------------------------------------------------- */

/* Wait for what is in flight or waiting for a resend; on a signal, give it up. */
static int
drain(struct run *r, struct err *e)
{
    double deadline = clock_mono() + r->c.timeout_s;

    while (evpost_busy(r->post) > 0 && !task_stopping()) {
        if (evpost_run(r->post, SLICE_MS, e) < 0)
            return -1;
    }
    evpost_stop_resends(r->post); /* a signal: the answers in flight only */
    while (evpost_busy(r->post) > 0 && clock_mono() < deadline) {
        if (evpost_run(r->post, SLICE_MS, e) < 0)
            return -1;
    }
    evpost_abandon(r->post);
    return 0;
}

/* The summary: one key=value line on stdout, readable lines on stderr, the XCom result. */
static void
summary(const struct run *r, const struct evpost_stats *s, double elapsed)
{
    const struct live_stats *v = &r->lv;
    double eps = elapsed > 0 ? (double)s->accepted / elapsed : 0;
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "mode=%s sent=%lld accepted=%lld rejected=%lld failed=%lld status_503=%lld "
                     "errors=%lld posts=%lld retries=%lld ids=%lld elapsed_s=%.3f "
                     "events_per_s=%.1f p50_ms=%.3f p99_ms=%.3f",
                     r->c.live ? "live" : "synthetic", s->sent, s->accepted, s->rejected, s->failed,
                     s->s503, s->errors, s->posts, s->retries, s->ids, elapsed, eps, s->p50_ms,
                     s->p99_ms);
    if (r->c.live && n > 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n,
                 " polls=%lld not_modified=%lld rate_limited=%lld poll_errors=%lld pages=%lld "
                 "fetched=%lld duplicates=%lld",
                 v->polls, v->not_modified, v->rate_limited, v->poll_errors, v->pages, v->fetched,
                 v->dups);
    task_log("sent %lld event(s) in %.2f s: %lld accepted (202), %lld rejected, %lld failed; "
             "%lld POST(s), %lld resent, %lld answered 503, %lld error(s)",
             s->sent, elapsed, s->accepted, s->rejected, s->failed, s->posts, s->retries, s->s503,
             s->errors);
    task_log("throughput %.1f accepted events/s; POST latency p50 %.2f ms, p99 %.2f ms, max %.2f "
             "ms",
             eps, s->p50_ms, s->p99_ms, s->max_ms);
    if (r->c.live)
        task_log("live: %lld poll(s), %lld not modified, %lld rate limited, %lld failed; %lld "
                 "event(s) read, %lld already forwarded",
                 v->polls, v->not_modified, v->rate_limited, v->poll_errors, v->fetched, v->dups);
    printf("%s\n", line);
    fflush(stdout);
}

/* The XCom result, when run as a task ($GUST_XCOM_FILE set, or KPO's /airflow/xcom there). */
static void
xcom(const struct run *r, const struct evpost_stats *s, double elapsed)
{
    struct err e = {0};
    char *text;

    if (task_env("GUST_XCOM_FILE", NULL) == NULL && access("/airflow/xcom", W_OK) != 0)
        return;
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I}", "mode",
                          r->c.live ? "live" : "synthetic", "sent", (json_int_t)s->sent, "accepted",
                          (json_int_t)s->accepted, "rejected", (json_int_t)s->rejected, "failed",
                          (json_int_t)s->failed, "status_503", (json_int_t)s->s503, "elapsed_s",
                          elapsed, "p50_ms", s->p50_ms, "p99_ms", s->p99_ms, "polls",
                          (json_int_t)r->lv.polls, "duplicates", (json_int_t)r->lv.dups);
    text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL || task_xcom_write(text, &e) < 0)
        task_log("XCom result not written: %s", text == NULL ? "out of memory" : e.msg);
    free(text);
    json_decref(o);
}

static int
run_all(struct run *r, struct err *e)
{
    struct evpost_opts po = {
        .url = r->c.url,
        .user_agent = USER_AGENT,
        .connections = r->c.connections,
        .max_retries = r->c.max_retries,
        .timeout_ms = (long)(r->c.timeout_s * 1000),
    };
    struct evpost_stats s;
    int rc;

    if (r->c.ids_path != NULL && (r->ids = fopen(r->c.ids_path, "we")) == NULL)
        return err_set(e, ERR_USAGE, "--ids-out %s: %s", r->c.ids_path, strerror(errno));
    po.ids_out = r->ids;
    if ((r->post = evpost_new(&po, e)) == NULL)
        return -1;
    r->started = clock_mono();
    rc = r->c.live ? run_live(r, e) : run_synthetic(r, e);
    if (rc < 0)
        task_log("error: %s (what is in flight is still counted)", e->msg);
    if (drain(r, rc < 0 ? &(struct err){0} : e) < 0)
        rc = -1;
    if (task_stopping())
        task_log("stopped by signal %d", task_stop_signal());
    evpost_stats(r->post, &s);
    summary(r, &s, clock_mono() - r->started);
    xcom(r, &s, clock_mono() - r->started);
    if (r->ids != NULL && (fflush(r->ids) != 0 || ferror(r->ids)))
        rc = err_set(e, ERR_IO, "--ids-out %s: %s", r->c.ids_path, strerror(errno));
    if (rc == 0 && (s.accepted != s.sent || s.failed > 0 || s.rejected > 0 || task_stopping()))
        rc = err_set(e, ERR_FAIL, "%lld of %lld event(s) did not get a 202", s.sent - s.accepted,
                     s.sent);
    if (rc == 0 && r->c.live && r->lv.answered == 0)
        rc = err_set(e, ERR_FAIL, "no poll of the events API got an answer");
    return rc;
}

int
main(int argc, char **argv)
{
    static struct run r;
    struct err e = {0};
    int rc;

    task_set_name("event_injector");
    task_signals_init();
    rc = cfg_parse(&r.c, argc, argv, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (rc < 0) {
        task_log("error: %s", e.msg);
        return task_exit_code(&e);
    }
    rc = run_all(&r, &e);
    evpost_free(r.post);
    if (r.ids != NULL)
        fclose(r.ids);
    if (rc < 0) {
        task_log("%s", e.msg);
        return e.code == ERR_USAGE ? TASK_USAGE : TASK_FAIL;
    }
    return TASK_OK;
}

/* evpost: batches of events POSTed to the collector with bounded resends (see evpost.h).
 *
 * A batch is in exactly one place: in flight (a request of the HTTP client, which makes one
 * try only: resends are decided here, because a 503 must be counted and its Retry-After
 * honoured for the batch as a whole), or on the resend list with a not-before time. It leaves
 * both exactly once, counted as accepted, rejected or failed, so no event is counted twice or
 * lost. The client runs with max_parallel = connections and evpost_ready() keeps the number
 * of batches in flight or due at most that, so new batches never queue behind resends. */
#include "evpost.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "task.h"

enum { MAX_KINDS = 32, REASON_MAX = 160, MAX_GIVEUP_LOGS = 5 };

struct batch {
    char *body;
    int n;              /* events in it */
    int sends;          /* POSTs started */
    double not_before;  /* clock_mono() of the earliest resend */
    double started;     /* clock_mono() when the current POST was submitted */
    struct batch *next; /* on the flying or the resend list */
};

struct evpost {
    struct evpost_opts o;
    struct http_client *http;
    int in_flight;
    struct batch *flying; /* in flight: requests of the client */
    struct batch *resend; /* waiting, in no particular order */
    int nresend;
    struct evpost_stats st;
    float *lat; /* latencies in ms */
    size_t nlat, caplat;
    char kinds[MAX_KINDS][REASON_MAX]; /* rejection kinds already logged */
    int nkinds;
    bool warned_body; /* a 202 whose body did not match was logged */
    bool no_resends;  /* evpost_stop_resends was called */
    int giveups;      /* batches given up (the first few are logged) */
};

static void
batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    free(b->body);
    free(b);
}

struct evpost *
evpost_new(const struct evpost_opts *o, struct err *e)
{
    struct evpost *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        err_set(e, ERR_FAIL, "evpost: out of memory");
        return NULL;
    }
    p->o = *o;
    p->o.connections = o->connections > 0 ? o->connections : 8;
    p->o.max_retries = o->max_retries >= 0 ? o->max_retries : 10;
    p->o.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    p->o.retry_wait_ms = o->retry_wait_ms > 0 ? o->retry_wait_ms : 1000;
    p->o.retry_cap_ms = o->retry_cap_ms > 0 ? o->retry_cap_ms : 30000;
    struct http_opts ho = {
        .user_agent = o->user_agent,
        .timeout_ms = p->o.timeout_ms,
        .max_parallel = p->o.connections,
        .max_tries = 1, /* resends are ours */
    };
    if ((p->http = http_client_new(&ho, e)) == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void
evpost_free(struct evpost *p)
{
    struct batch *b;

    if (p == NULL)
        return;
    http_client_free(p->http);
    while ((b = p->flying) != NULL) {
        p->flying = b->next;
        batch_free(b);
    }
    while ((b = p->resend) != NULL) {
        p->resend = b->next;
        batch_free(b);
    }
    free(p->lat);
    free(p);
}

int
evpost_ready(const struct evpost *p)
{
    return p->in_flight + p->nresend < p->o.connections;
}

int
evpost_busy(const struct evpost *p)
{
    return p->in_flight + p->nresend;
}

static int
post(struct evpost *p, struct batch *b, struct err *e)
{
    char label[48];
    struct http_request rq = {.method = HTTP_POST, .url = p->o.url, .json = b->body, .arg = b};

    snprintf(label, sizeof(label), "batch of %d event(s)", b->n);
    rq.label = label;
    if (http_submit(p->http, &rq, e) < 0)
        return -1;
    b->sends++;
    b->started = clock_mono();
    b->next = p->flying;
    p->flying = b;
    p->in_flight++;
    p->st.posts++;
    if (b->sends > 1)
        p->st.retries++;
    return 0;
}

int
evpost_submit(struct evpost *p, char *body, int n, struct err *e)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        free(body);
        return err_set(e, ERR_FAIL, "evpost: out of memory");
    }
    b->body = body;
    b->n = n;
    p->st.sent += n;
    if (post(p, b, e) < 0) {
        p->st.failed += n;
        batch_free(b);
        return -1;
    }
    return 0;
}

static void
latency_add(struct evpost *p, double ms)
{
    if (p->nlat == p->caplat) {
        size_t cap = p->caplat ? p->caplat * 2 : 1024;
        float *v = realloc(p->lat, cap * sizeof(*v));
        if (v == NULL)
            return; /* the percentiles then miss a sample; counting goes on */
        p->lat = v;
        p->caplat = cap;
    }
    p->lat[p->nlat++] = (float)ms;
}

/* Wait before resend number b->sends: Retry-After when the answer had one, else
 * retry_wait * 2^(sends-1), at most retry_cap. */
static double
resend_wait_s(const struct evpost *p, const struct batch *b, const struct http_response *r)
{
    char v[32], *end;
    double s = 0;

    if (http_response_header(r, "Retry-After", v, sizeof(v)) != NULL) {
        s = strtod(v, &end);
        if (end == v || *end != '\0' || !isfinite(s) || s < 0)
            s = 0; /* an HTTP date or garbage: the backoff below */
    }
    if (s <= 0) {
        s = p->o.retry_wait_ms / 1000.0;
        for (int i = 1; i < b->sends && s < p->o.retry_cap_ms / 1000.0; i++)
            s *= 2;
    }
    return fmin(s, p->o.retry_cap_ms / 1000.0);
}

/* Resend b later, or give it up when its resends are used up. */
static void
resend_or_fail(struct evpost *p, struct batch *b, const struct http_response *r)
{
    /* no answer because of a malformed URL or the like: no resend can help */
    bool retryable = r->status != 0 || r->err.temporary;

    if (b->sends > p->o.max_retries || p->no_resends || !retryable) {
        if (++p->giveups > MAX_GIVEUP_LOGS)
            ; /* counted only */
        else if (r->status != 0)
            task_log("gave up on a batch of %d event(s) after %d POST(s): the last answer was "
                     "HTTP %ld",
                     b->n, b->sends, r->status);
        else
            task_log("gave up on a batch of %d event(s) after %d POST(s): %s", b->n, b->sends,
                     r->err.msg);
        if (p->giveups == MAX_GIVEUP_LOGS)
            task_log("(further batches given up are only counted)");
        p->st.failed += b->n;
        batch_free(b);
        return;
    }
    b->not_before = clock_mono() + resend_wait_s(p, b, r);
    b->next = p->resend;
    p->resend = b;
    p->nresend++;
}

/* The reason of a refusal: the "error" or "reason" string of a JSON body, else its text. */
static void
reason_of(const struct http_response *r, char *buf, size_t size)
{
    json_t *j = json_loadb(r->body, r->size, 0, NULL);
    const char *why = json_string_value(json_object_get(j, "error"));

    if (why == NULL)
        why = json_string_value(json_object_get(j, "reason"));
    if (why != NULL)
        snprintf(buf, size, "%s", why);
    else
        snprintf(buf, size, "%.*s", (int)(r->size < 120 ? r->size : 120), r->body);
    for (char *c = buf; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    json_decref(j);
}

/* A 4xx: the events are rejected; each kind (status, reason) is logged the first time. */
static void
rejected(struct evpost *p, struct batch *b, const struct http_response *r)
{
    char why[REASON_MAX - 8], kind[REASON_MAX];

    reason_of(r, why, sizeof(why));
    snprintf(kind, sizeof(kind), "%ld %s", r->status, why);
    p->st.rejected += b->n;
    for (int i = 0; i < p->nkinds; i++)
        if (strcmp(p->kinds[i], kind) == 0)
            return;
    if (p->nkinds < MAX_KINDS)
        snprintf(p->kinds[p->nkinds++], REASON_MAX, "%s", kind);
    task_log("the collector refused a batch of %d event(s): HTTP %ld: %s (logged once per kind)",
             b->n, r->status, why[0] ? why : "(no reason given)");
}

/* A 2xx: the events are accepted; their event_ids go to ids_out. */
static void
accepted(struct evpost *p, struct batch *b, const struct http_response *r)
{
    json_t *j = json_loadb(r->body, r->size, 0, NULL), *ids = json_object_get(j, "event_ids");
    size_t i, n = json_array_size(ids);
    json_t *id;

    p->st.accepted += b->n;
    json_array_foreach(ids, i, id)
    {
        if (json_is_string(id) && p->o.ids_out != NULL)
            fprintf(p->o.ids_out, "%s\n", json_string_value(id));
        p->st.ids += json_is_string(id);
    }
    if ((n != (size_t)b->n || json_integer_value(json_object_get(j, "accepted")) != b->n) &&
        !p->warned_body) {
        p->warned_body = true;
        task_log("a %ld answer to a batch of %d event(s) has %zu event_ids (body: %.120s); "
                 "logged once",
                 r->status, b->n, n, r->body);
    }
    json_decref(j);
}

static void
unlink_flying(struct evpost *p, struct batch *b)
{
    for (struct batch **q = &p->flying; *q != NULL; q = &(*q)->next) {
        if (*q == b) {
            *q = b->next;
            break;
        }
    }
    b->next = NULL;
    p->in_flight--;
}

/* One POST ended: account for its batch. */
static void
answered(struct evpost *p, struct http_response *r)
{
    struct batch *b = r->arg;

    unlink_flying(p, b);
    if (r->status != 0)
        latency_add(p, (clock_mono() - b->started) * 1000);
    if (r->status >= 200 && r->status <= 299) {
        accepted(p, b, r);
        batch_free(b);
    } else if (r->status == 503) {
        p->st.s503++;
        resend_or_fail(p, b, r);
    } else if (r->status >= 400 && r->status <= 499 && r->status != 408 && r->status != 429) {
        rejected(p, b, r);
        batch_free(b);
    } else { /* no answer, a 5xx, 408, 429, or something odd: resent like a 503 */
        p->st.errors++;
        if (p->st.errors <= 3)
            task_log("a POST of %d event(s) failed: %s", b->n, r->err.msg);
        resend_or_fail(p, b, r);
    }
}

/* Start the resends that are due; the earliest not-before time left into *next. */
static int
resend_due(struct evpost *p, double *next, struct err *e)
{
    double now = clock_mono();
    struct batch **q = &p->resend;

    *next = INFINITY;
    while (*q != NULL) {
        struct batch *b = *q;
        if (b->not_before > now) {
            *next = fmin(*next, b->not_before);
            q = &b->next;
            continue;
        }
        *q = b->next;
        p->nresend--;
        if (post(p, b, e) < 0) {
            p->st.failed += b->n;
            batch_free(b);
            return -1;
        }
    }
    return 0;
}

int
evpost_run(struct evpost *p, long timeout_ms, struct err *e)
{
    double next, deadline = timeout_ms < 0 ? INFINITY : clock_mono() + timeout_ms / 1000.0;
    struct http_response *r;

    if (p->http == NULL)
        return 0;
    if (resend_due(p, &next, e) < 0)
        return -1;
    double until = fmin(deadline, next), now = clock_mono();
    long wait = until == INFINITY ? -1 : (long)ceil(fmax(0, until - now) * 1000);
    if (p->in_flight == 0) {
        /* nothing to drive: wait for the next resend or the deadline (a signal ends it) */
        if (wait > 0)
            poll(NULL, 0, wait > INT_MAX ? INT_MAX : (int)wait);
        return 0;
    }
    if (http_client_run(p->http, wait, e) < 0)
        return err_prefix(e, "POST to the collector");
    while ((r = http_next_done(p->http)) != NULL) {
        answered(p, r);
        r->arg = NULL;
        http_response_free(r);
    }
    return 0;
}

void
evpost_stop_resends(struct evpost *p)
{
    struct batch *b;

    p->no_resends = true;
    while ((b = p->resend) != NULL) {
        p->resend = b->next;
        p->st.failed += b->n;
        batch_free(b);
    }
    p->nresend = 0;
}

void
evpost_abandon(struct evpost *p)
{
    struct batch *b;

    http_client_free(p->http);
    p->http = NULL;
    while ((b = p->flying) != NULL) {
        p->flying = b->next;
        p->st.failed += b->n;
        batch_free(b);
    }
    while ((b = p->resend) != NULL) {
        p->resend = b->next;
        p->st.failed += b->n;
        batch_free(b);
    }
    p->in_flight = p->nresend = 0;
}

static int
cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;

    return (x > y) - (x < y);
}

void
evpost_stats(const struct evpost *p, struct evpost_stats *st)
{
    *st = p->st;
    st->p50_ms = st->p99_ms = st->max_ms = 0;
    if (p->nlat == 0)
        return;
    float *v = malloc(p->nlat * sizeof(*v));
    if (v == NULL)
        return;
    memcpy(v, p->lat, p->nlat * sizeof(*v));
    qsort(v, p->nlat, sizeof(*v), cmp_float);
    /* nearest rank: the smallest sample with at least q of them at or below it */
    st->p50_ms = v[(size_t)ceil(0.50 * (double)p->nlat) - 1];
    st->p99_ms = v[(size_t)ceil(0.99 * (double)p->nlat) - 1];
    st->max_ms = v[p->nlat - 1];
    free(v);
}

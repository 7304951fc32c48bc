/* http: bounded, polite, retrying HTTP requests over libcurl's multi interface (see http.h).
 *
 * Every request lives in exactly one of three queues: waiting (not started yet, or between
 * tries with a not-before time), running (an easy handle inside the multi handle) or done
 * (handed back by http_next_done). A request leaves running either finished (done) or with a
 * retry scheduled, and it can be started at most max_tries times: there is no path that
 * retries forever. Starts obey two limits at once: max_parallel transfers in flight and
 * min_interval_ms between consecutive starts, retries included, so the source sees at most
 * 1000 / min_interval_ms requests per second whatever happens.
 *
 * The client is single-threaded: it waits in curl_multi_poll() with a timeout that is the
 * nearest of the caller's deadline, the next permitted start and libcurl's own timers.
 * http_client_cancel() only sets a flag and wakes that poll, so a signal handler may call it;
 * the abort itself happens in http_client_run(). */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define URL_IN_MSG 120 /* longer URLs are cut in error messages (which hold 256 bytes) */
#define MAX_HEADERS ((size_t)64 << 10) /* header bytes kept per answer */

struct req {
    struct http_response r; /* first: a response is freed as its request */
    struct req *next;
    enum http_method method;
    char *json; /* the POST body (JSON, or the form's text) */
    char *verb; /* sent as the method instead of POST, or NULL */
    struct curl_slist *hdrs;
    http_validate_fn *validate;
    http_parse_fn *parse; /* when validate is NULL */
    void (*parsed_free)(void *);
    CURL *easy;
    size_t cap;      /* bytes allocated for r.body */
    size_t hlen;     /* bytes in r.headers */
    size_t max_body; /* the client's limit */
    bool too_big;    /* the write callback refused more */
    bool nomem;
    int64_t first_ns;      /* start of the first try */
    int64_t not_before_ns; /* earliest start of the next try */
    char errbuf[CURL_ERROR_SIZE];
};

struct rq { /* a FIFO of requests */
    struct req *head, *tail;
    int n;
};

struct http_client {
    CURLM *multi;
    struct http_opts o; /* defaults filled in */
    char *user_agent;
    struct rq waiting, running, done;
    int64_t last_start_ns;
    bool started_any;
    int wake_fd;
    volatile sig_atomic_t cancelled;
    uint64_t rng;
    struct http_stats st;
};

static int64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
rq_push(struct rq *q, struct req *r)
{
    r->next = NULL;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
}

/* Unlink r, whose predecessor is prev (NULL when r is the head). */
static void
rq_unlink(struct rq *q, struct req *prev, struct req *r)
{
    if (prev != NULL)
        prev->next = r->next;
    else
        q->head = r->next;
    if (q->tail == r)
        q->tail = prev;
    r->next = NULL;
    q->n--;
}

static void
rq_remove(struct rq *q, struct req *r)
{
    struct req *prev = NULL;

    for (struct req *p = q->head; p != NULL; prev = p, p = p->next) {
        if (p == r) {
            rq_unlink(q, prev, r);
            return;
        }
    }
}

static void
req_free(struct req *q)
{
    if (q == NULL)
        return;
    if (q->easy != NULL)
        curl_easy_cleanup(q->easy);
    curl_slist_free_all(q->hdrs);
    if (q->r.parsed != NULL && q->parsed_free != NULL)
        q->parsed_free(q->r.parsed);
    free(q->json);
    free(q->verb);
    free((char *)q->r.url);
    free((char *)q->r.label);
    free(q->r.body);
    free(q->r.headers);
    free(q);
}

static void
rq_free_all(struct rq *q, CURLM *multi)
{
    struct req *r;

    while ((r = q->head) != NULL) {
        rq_unlink(q, NULL, r);
        if (multi != NULL && r->easy != NULL)
            curl_multi_remove_handle(multi, r->easy);
        req_free(r);
    }
}

static void
opts_resolve(struct http_opts *o, const struct http_opts *in)
{
    if (in != NULL)
        *o = *in;
    else
        memset(o, 0, sizeof(*o));
    if (o->timeout_ms <= 0)
        o->timeout_ms = 30000;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = 10000;
    if (o->max_parallel <= 0)
        o->max_parallel = 4;
    if (o->min_interval_ms < 0)
        o->min_interval_ms = 0;
    if (o->max_tries <= 0)
        o->max_tries = 5;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 500;
    if (o->backoff_cap_ms <= 0)
        o->backoff_cap_ms = 30000;
    if (o->max_body == 0)
        o->max_body = HTTP_DEFAULT_MAX_BODY;
}

static int
global_init(struct err *e)
{
    static bool done;

    if (done)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(e, ERR_FAIL, "curl_global_init failed");
    done = true;
    return 0;
}

struct http_client *
http_client_new(const struct http_opts *o, struct err *e)
{
    struct http_client *c;

    if (global_init(e) < 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        err_set(e, ERR_FAIL, "http client: out of memory");
        return NULL;
    }
    opts_resolve(&c->o, o);
    c->wake_fd = -1;
    if (c->o.user_agent != NULL) {
        c->user_agent = strdup(c->o.user_agent);
    } else {
        const char *v = curl_version_info(CURLVERSION_NOW)->version;
        if (asprintf(&c->user_agent, "%s libcurl/%s", HTTP_DEFAULT_USER_AGENT, v) < 0)
            c->user_agent = NULL;
    }
    c->multi = curl_multi_init();
    if (c->user_agent == NULL || c->multi == NULL) {
        http_client_free(c);
        err_set(e, ERR_FAIL, "http client: out of memory");
        return NULL;
    }
    c->rng = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    c->rng |= 1;
    return c;
}

void
http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    rq_free_all(&c->running, c->multi);
    rq_free_all(&c->waiting, NULL);
    rq_free_all(&c->done, NULL);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    free(c->user_agent);
    free(c);
}

static size_t
on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct req *q = ud;
    size_t len = size * nmemb;

    if (len > q->max_body - q->r.size) {
        q->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (q->r.size + len + 1 > q->cap) {
        size_t cap = q->cap * 2;
        while (cap < q->r.size + len + 1)
            cap *= 2;
        char *b = realloc(q->r.body, cap);
        if (b == NULL) {
            q->nomem = true;
            return 0;
        }
        q->r.body = b;
        q->cap = cap;
    }
    memcpy(q->r.body + q->r.size, data, len);
    q->r.size += len;
    q->r.body[q->r.size] = '\0';
    return len;
}

/* Keep the header lines of the answer; a status line starts a new answer (after a redirect or
 * a 100 Continue), so only the final answer's lines stay. */
static size_t
on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct req *q = ud;
    size_t len = size * nmemb;

    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        q->hlen = 0;
    if (q->hlen + len > MAX_HEADERS)
        return len; /* past the cap: dropped, the transfer goes on */
    char *h = realloc(q->r.headers, q->hlen + len + 1);
    if (h == NULL)
        return len;
    memcpy(h + q->hlen, data, len);
    q->hlen += len;
    h[q->hlen] = '\0';
    q->r.headers = h;
    return len;
}

static int
req_headers(struct req *q, const struct http_request *r)
{
    struct curl_slist *l;

    if (r->json != NULL) {
        const char *h[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
        for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
            if ((l = curl_slist_append(q->hdrs, h[i])) == NULL)
                return -1;
            q->hdrs = l;
        }
    }
    for (size_t i = 0; r->headers != NULL && r->headers[i] != NULL; i++) {
        if ((l = curl_slist_append(q->hdrs, r->headers[i])) == NULL)
            return -1;
        q->hdrs = l;
    }
    return 0;
}

/* Set every option of the easy handle once; retries reuse it. */
static int
req_setopts(struct http_client *c, struct req *q)
{
    CURL *h = q->easy;
    CURLcode rc = CURLE_OK;

/* stop at the first failing option, keep its code */
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, q->r.url);
    SET(CURLOPT_PRIVATE, (void *)q);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)q);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)q);
    SET(CURLOPT_ERRORBUFFER, q->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, 5L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->max_body);
    if (q->hdrs != NULL)
        SET(CURLOPT_HTTPHEADER, q->hdrs);
    if (q->verb != NULL)
        SET(CURLOPT_CUSTOMREQUEST, q->verb);
    if (q->method == HTTP_POST) {
        SET(CURLOPT_POSTFIELDS, q->json != NULL ? q->json : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(q->json != NULL ? strlen(q->json) : 0));
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

static struct req *
req_new(struct http_client *c, const struct http_request *r)
{
    struct req *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->method = r->method;
    q->validate = r->validate != NULL ? r->validate : c->o.validate;
    q->parse = r->validate != NULL ? NULL : c->o.parse;
    q->parsed_free = c->o.parsed_free;
    q->max_body = c->o.max_body;
    q->r.arg = r->arg;
    q->r.url = strdup(r->url);
    q->r.label = strdup(r->label != NULL ? r->label : "");
    q->cap = 4096;
    q->r.body = malloc(q->cap);
    if (r->json != NULL || r->form != NULL)
        q->json = strdup(r->json != NULL ? r->json : r->form);
    if (r->verb != NULL)
        q->verb = strdup(r->verb);
    if (q->r.url == NULL || q->r.label == NULL || q->r.body == NULL ||
        ((r->json != NULL || r->form != NULL) && q->json == NULL) ||
        (r->verb != NULL && q->verb == NULL) || req_headers(q, r) < 0 ||
        (q->easy = curl_easy_init()) == NULL || req_setopts(c, q) < 0) {
        req_free(q);
        return NULL;
    }
    q->r.body[0] = '\0';
    return q;
}

int
http_submit(struct http_client *c, const struct http_request *r, struct err *e)
{
    struct req *q;

    if (r->url == NULL || r->url[0] == '\0')
        return err_set(e, ERR_USAGE, "http: request without a URL");
    if (r->method != HTTP_GET && r->method != HTTP_POST)
        return err_set(e, ERR_USAGE, "http: unknown method %d", (int)r->method);
    if (c->cancelled)
        return err_set(e, ERR_FAIL, "http: client cancelled");
    if ((q = req_new(c, r)) == NULL)
        return err_set(e, ERR_FAIL, "http: %s: cannot prepare the request", r->url);
    rq_push(&c->waiting, q);
    return 0;
}

/* The next permitted start time, from the politeness interval alone. */
static int64_t
next_slot_ns(const struct http_client *c)
{
    if (!c->started_any)
        return INT64_MIN;
    return c->last_start_ns + (int64_t)c->o.min_interval_ms * 1000000;
}

static int
start_one(struct http_client *c, struct req *q, int64_t now, struct err *e)
{
    q->r.size = 0;
    q->r.body[0] = '\0';
    q->r.status = 0;
    q->hlen = 0;
    if (q->r.headers != NULL)
        q->r.headers[0] = '\0';
    q->too_big = q->nomem = false;
    q->errbuf[0] = '\0';
    if (q->r.tries == 0)
        q->first_ns = now;
    CURLMcode mc = curl_multi_add_handle(c->multi, q->easy);
    if (mc != CURLM_OK) {
        rq_push(&c->waiting, q); /* still owned by the client; freed with it */
        return err_set(e, ERR_FAIL, "http: curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    q->r.tries++;
    rq_push(&c->running, q);
    c->last_start_ns = now;
    c->started_any = true;
    c->st.started++;
    if (c->running.n > c->st.max_in_flight)
        c->st.max_in_flight = c->running.n;
    return 0;
}

/* Start waiting requests (in queue order) while both limits allow. */
static int
start_due(struct http_client *c, struct err *e)
{
    while (c->running.n < c->o.max_parallel && c->waiting.head != NULL) {
        int64_t now = mono_ns();
        struct req *prev = NULL, *q = c->waiting.head;

        if (now < next_slot_ns(c))
            return 0;
        while (q != NULL && q->not_before_ns > now) {
            prev = q;
            q = q->next;
        }
        if (q == NULL)
            return 0;
        rq_unlink(&c->waiting, prev, q);
        if (start_one(c, q, now, e) < 0)
            return -1;
    }
    return 0;
}

static uint64_t
rng_next(struct http_client *c)
{
    /* xorshift64*: jitter only needs to spread clients apart, not to be unpredictable */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717ULL;
}

/* Wait before try number q->r.tries + 1: base * 2^(tries-1), "equal jitter" (half fixed, half
 * random), at least the server's Retry-After, at most the cap. */
static int64_t
backoff_ms(struct http_client *c, struct req *q)
{
    int64_t d = c->o.backoff_base_ms;
    curl_off_t ra = 0;

    for (int i = 1; i < q->r.tries && d < c->o.backoff_cap_ms; i++)
        d *= 2;
    if (d > c->o.backoff_cap_ms)
        d = c->o.backoff_cap_ms;
    d = d / 2 + (int64_t)(rng_next(c) % (uint64_t)(d / 2 + 1));
    if (curl_easy_getinfo(q->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0 &&
        ra * 1000 > d)
        d = ra * 1000;
    return d > c->o.backoff_cap_ms ? c->o.backoff_cap_ms : d;
}

static bool
status_retryable(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static bool
curl_permanent(CURLcode res)
{
    return res == CURLE_URL_MALFORMAT || res == CURLE_UNSUPPORTED_PROTOCOL ||
           res == CURLE_BAD_FUNCTION_ARGUMENT || res == CURLE_TOO_MANY_REDIRECTS ||
           res == CURLE_OUT_OF_MEMORY;
}

/* Judge one finished try: 0 when it succeeded, else -1 with why and *retry. */
static int
judge(struct req *q, CURLcode res, struct err *why, bool *retry)
{
    *retry = false;
    if (q->too_big || res == CURLE_FILESIZE_EXCEEDED)
        return err_set(why, ERR_IO, "response larger than %zu bytes", q->max_body);
    if (q->nomem)
        return err_set(why, ERR_FAIL, "out of memory for the response");
    if (res != CURLE_OK) {
        *retry = !curl_permanent(res);
        return err_set(why, ERR_IO, "%s", q->errbuf[0] ? q->errbuf : curl_easy_strerror(res));
    }
    if (q->r.status < 200 || q->r.status > 299) {
        *retry = status_retryable(q->r.status);
        return err_set(why, ERR_IO, "HTTP %ld", q->r.status);
    }
    if ((q->validate != NULL && q->validate(q->r.body, q->r.size, why) < 0) ||
        (q->validate == NULL && q->parse != NULL &&
         q->parse(q->r.body, q->r.size, &q->r.parsed, why) < 0)) {
        *retry = true;
        why->code = ERR_PARSE;
        return err_prefix(why, "invalid body (HTTP %ld, %zu bytes)", q->r.status, q->r.size);
    }
    return 0;
}

/* The final error: "label: METHOD url: why (after N tries)". */
static void
req_final_error(struct req *q, const struct err *why, bool retryable)
{
    const char *label = q->r.label;
    size_t ulen = strlen(q->r.url);

    err_set(&q->r.err, why->code, "%s%s%s %.*s%s: %s (%s %d %s)", label, label[0] ? ": " : "",
            q->method == HTTP_POST ? "POST" : "GET", URL_IN_MSG, q->r.url,
            ulen > URL_IN_MSG ? "..." : "", why->msg, retryable ? "gave up after" : "not retried,",
            q->r.tries, q->r.tries == 1 ? "try" : "tries");
    q->r.err.temporary = retryable;
}

static void
req_done(struct http_client *c, struct req *q, int64_t now)
{
    q->r.elapsed_ms = (long)((now - q->first_ns) / 1000000);
    curl_easy_cleanup(q->easy);
    q->easy = NULL;
    curl_slist_free_all(q->hdrs);
    q->hdrs = NULL;
    if (q->r.err.code == ERR_OK)
        c->st.succeeded++;
    else
        c->st.failed++;
    rq_push(&c->done, q);
}

/* A try ended (q already left the multi handle and the running queue). */
static void
req_finish(struct http_client *c, struct req *q, CURLcode res)
{
    struct err why = {0};
    bool retry;
    int64_t now = mono_ns();

    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->r.status);
    if (judge(q, res, &why, &retry) == 0) {
        err_clear(&q->r.err);
        req_done(c, q, now);
    } else if (retry && q->r.tries < c->o.max_tries) {
        q->not_before_ns = now + backoff_ms(c, q) * 1000000;
        c->st.retried++;
        rq_push(&c->waiting, q);
    } else {
        req_final_error(q, &why, retry);
        req_done(c, q, now);
    }
}

static int
perform(struct http_client *c, struct err *e)
{
    int running, left;
    CURLMsg *m;
    CURLMcode mc = curl_multi_perform(c->multi, &running);

    if (mc != CURLM_OK)
        return err_set(e, ERR_FAIL, "http: curl_multi_perform: %s", curl_multi_strerror(mc));
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *h = m->easy_handle;
        CURLcode res = m->data.result;
        char *priv = NULL;

        curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
        struct req *q = (struct req *)priv;
        curl_multi_remove_handle(c->multi, h); /* m is invalid from here */
        rq_remove(&c->running, q);
        req_finish(c, q, res);
    }
    return 0;
}

/* How long poll may sleep: until the deadline, or until a waiting request may start. */
static int
wait_ms(const struct http_client *c, int64_t now, int64_t deadline)
{
    int64_t until = deadline;

    if (c->running.n < c->o.max_parallel && c->waiting.head != NULL) {
        int64_t first = INT64_MAX;
        for (const struct req *q = c->waiting.head; q != NULL; q = q->next)
            if (q->not_before_ns < first)
                first = q->not_before_ns;
        int64_t slot = next_slot_ns(c);
        int64_t t = first > slot ? first : slot;
        if (t < until)
            until = t;
    }
    if (until <= now)
        return 0;
    int64_t ms = (until - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static void
abort_all(struct http_client *c)
{
    rq_free_all(&c->running, c->multi);
    rq_free_all(&c->waiting, NULL);
}

int
http_client_run(struct http_client *c, long timeout_ms, struct err *e)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ns() + (int64_t)timeout_ms * 1000000;

    for (;;) {
        struct curl_waitfd wfd = {.fd = c->wake_fd, .events = CURL_WAIT_POLLIN};
        CURLMcode mc;

        if (c->cancelled) {
            abort_all(c);
            err_set(e, ERR_FAIL, "http: cancelled");
            if (e != NULL)
                e->temporary = true;
            return -1;
        }
        if (start_due(c, e) < 0 || perform(c, e) < 0)
            return -1;
        if (c->done.n > 0 || http_client_busy(c) == 0)
            return c->done.n;
        int64_t now = mono_ns();
        if (now >= deadline)
            return 0;
        mc = curl_multi_poll(c->multi, &wfd, c->wake_fd >= 0 ? 1 : 0, wait_ms(c, now, deadline),
                             NULL);
        if (mc != CURLM_OK)
            return err_set(e, ERR_FAIL, "http: curl_multi_poll: %s", curl_multi_strerror(mc));
        if (c->wake_fd >= 0 && wfd.revents != 0)
            return c->done.n;
    }
}

struct http_response *
http_next_done(struct http_client *c)
{
    struct req *q = c->done.head;

    if (q == NULL)
        return NULL;
    rq_unlink(&c->done, NULL, q);
    return &q->r;
}

int
http_client_busy(const struct http_client *c)
{
    return c->waiting.n + c->running.n;
}

void
http_client_set_wake_fd(struct http_client *c, int fd)
{
    c->wake_fd = fd;
}

void
http_client_cancel(struct http_client *c)
{
    int saved = errno; /* for signal handlers */

    c->cancelled = 1;
    curl_multi_wakeup(c->multi); /* a write(2) on libcurl's wakeup socket pair */
    errno = saved;
}

void
http_client_stats(const struct http_client *c, struct http_stats *st)
{
    *st = c->st;
}

const char *
http_response_header(const struct http_response *r, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    const char *found = NULL, *end = NULL;

    for (const char *p = r->headers; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        eol = eol != NULL ? eol : p + strlen(p);
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            found = p + n + 1;
            end = eol;
        }
        p = *eol != '\0' ? eol + 1 : eol;
    }
    if (found == NULL || size == 0)
        return NULL;
    while (found < end && (*found == ' ' || *found == '\t'))
        found++;
    while (end > found && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    snprintf(buf, size, "%.*s", (int)(end - found), found);
    return buf;
}

void
http_response_free(struct http_response *r)
{
    req_free((struct req *)r); /* r is the first member of its struct req */
}

int
http_validate_json(const char *body, size_t size, struct err *e)
{
    json_error_t je;
    json_t *j = json_loadb(body, size, JSON_DECODE_ANY, &je);

    if (j == NULL)
        return err_set(e, ERR_PARSE, "not complete JSON: %s at line %d column %d", je.text, je.line,
                       je.column);
    json_decref(j);
    return 0;
}

static struct http_response *
once(const struct http_opts *o, const struct http_request *r, struct err *e)
{
    struct http_client *c = http_client_new(o, e);
    struct http_response *resp = NULL;

    if (c == NULL)
        return NULL;
    if (http_submit(c, r, e) < 0)
        goto out;
    while ((resp = http_next_done(c)) == NULL) {
        if (http_client_run(c, -1, e) < 0)
            goto out;
    }
    if (resp->err.code != ERR_OK) {
        if (e != NULL)
            *e = resp->err;
        http_response_free(resp);
        resp = NULL;
    }
out:
    http_client_free(c);
    return resp;
}

struct http_response *
http_get_once(const struct http_opts *o, const char *url, const char *label, struct err *e)
{
    struct http_request r = {.method = HTTP_GET, .url = url, .label = label};

    return once(o, &r, e);
}

struct http_response *
http_post_json_once(const struct http_opts *o, const char *url, const char *json, const char *label,
                    struct err *e)
{
    struct http_request r = {.method = HTTP_POST, .url = url, .json = json, .label = label};

    return once(o, &r, e);
}

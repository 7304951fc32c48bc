/* collector_http: request handling of the event collector (see collector_http.h).
 *
 * Key invariant: POST /collect answers 202 only after cj_commit returned for the position of
 * its last line, so an event in a 202's event_ids is on disk; every check that can refuse a
 * request runs before anything is appended, so a refused request leaves nothing behind. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "collector_http.h"
#include "ghavro.h"
#include "log.h"

struct chttp {
    struct chttp_cfg cfg;
    struct chttp_deps d;
    struct MHD_Daemon *mhd;
    int port;
    int draining;       /* atomic */
    int64_t full_until; /* atomic: /health says full until then (CLOCK_MONOTONIC s) */
};

/* One POST body being received. */
struct upload {
    char *body;
    size_t len, cap;
    int too_big;
};

/* A request's answer before it is sent. */
struct answer {
    unsigned status;
    json_t *body; /* owned */
    const char *allow, *ctype;
    char *text; /* a non-JSON body (owned) */
};

static int64_t
mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static enum MHD_Result
send_answer(struct chttp *h, struct MHD_Connection *c, struct answer *a)
{
    char *text = a->text ? a->text : json_dumps(a->body, JSON_COMPACT);
    struct MHD_Response *r;
    enum MHD_Result rc;
    char retry[16];

    json_decref(a->body);
    if (text == NULL)
        return MHD_NO;
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", a->ctype ? a->ctype : "application/json");
    if (a->allow != NULL)
        MHD_add_response_header(r, "Allow", a->allow);
    if (a->status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        snprintf(retry, sizeof(retry), "%d", h->cfg.retry_after_s);
        MHD_add_response_header(r, "Retry-After", retry);
        cm_add(h->d.m, CM_503, 1);
    }
    rc = MHD_queue_response(c, a->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_error(struct chttp *h, struct MHD_Connection *c, unsigned status,
                                  const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result
send_error(struct chttp *h, struct MHD_Connection *c, unsigned status, const char *allow,
           const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (status == 400 || status == 413 || status == 415)
        cm_add(h->d.m, CM_REJECTED, 1);
    return send_answer(h, c,
                       &(struct answer){.status = status,
                                        .body = json_pack("{ss}", "error", msg),
                                        .allow = allow});
}

/* ---- health and metrics ----------------------------------------------------------------- */

static uint64_t
used_bytes(struct chttp *h, struct cj_stats *js, uint64_t *bfiles, uint64_t *bbytes)
{
    cj_get_stats(h->d.j, js);
    cs_counts(h->d.spool, bfiles, bbytes);
    return js->bytes + *bbytes;
}

static enum MHD_Result
serve_health(struct chttp *h, struct MHD_Connection *c)
{
    struct cj_stats js;
    uint64_t bfiles, bbytes, used = used_bytes(h, &js, &bfiles, &bbytes);
    int up = csend_kafka_up(h->d.sender);
    const char *status = "ok";
    unsigned code = MHD_HTTP_OK;

    if (__atomic_load_n(&h->draining, __ATOMIC_RELAXED))
        status = "draining", code = MHD_HTTP_SERVICE_UNAVAILABLE;
    else if (js.broken)
        status = "journal_failed", code = MHD_HTTP_SERVICE_UNAVAILABLE;
    else if (used >= h->cfg.spill_max ||
             mono_s() < __atomic_load_n(&h->full_until, __ATOMIC_RELAXED))
        status = "full", code = MHD_HTTP_SERVICE_UNAVAILABLE;
    else if (!up || js.overflow || bfiles > 0)
        status = "degraded";
    json_t *b = json_pack("{ss sI sI sb sI sI sI sI sI ss}", "status", status, "queue_depth",
                          (json_int_t)js.depth, "queue_max", (json_int_t)h->cfg.queue_max,
                          "overflow", js.overflow, "journal_bytes", (json_int_t)js.bytes,
                          "spill_files", (json_int_t)bfiles, "spill_bytes", (json_int_t)bbytes,
                          "used_bytes", (json_int_t)used, "spill_max_bytes",
                          (json_int_t)h->cfg.spill_max, "kafka", up ? "up" : "down");
    return send_answer(h, c, &(struct answer){.status = code, .body = b});
}

static enum MHD_Result
serve_metrics(struct chttp *h, struct MHD_Connection *c)
{
    struct cj_stats js;
    uint64_t bfiles, bbytes;
    struct cm_gauges g;

    used_bytes(h, &js, &bfiles, &bbytes);
    g = (struct cm_gauges){js.depth,
                           h->cfg.queue_max,
                           js.bytes,
                           js.files,
                           bbytes,
                           bfiles,
                           csend_kafka_up(h->d.sender),
                           __atomic_load_n(&h->draining, __ATOMIC_RELAXED)};
    char *text = cm_render(h->d.m, &g);
    if (text == NULL)
        return MHD_NO;
    return send_answer(
        h, c, &(struct answer){.status = 200, .ctype = "text/plain; version=0.0.4", .text = text});
}

/* ---- POST /collect ---------------------------------------------------------------------- */

/* The events of a request, as journal lines. */
struct collect {
    json_t *events; /* array of objects (owned) */
    size_t n;
    char (*ids)[37];
    char *buf; /* the lines, one after the other */
    size_t len, cap, *offs;
};

static void
collect_clear(struct collect *k)
{
    json_decref(k->events);
    free(k->ids);
    free(k->buf);
    free(k->offs);
}

/* Fill buf with n random bytes. */
static int
random_bytes(unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = getrandom(buf, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A UUID version 4 (RFC 4122: random, variant 10) for each event. */
static int
make_ids(struct collect *k)
{
    unsigned char *r = malloc(16 * k->n);

    k->ids = malloc(37 * k->n);
    if (r == NULL || k->ids == NULL || random_bytes(r, 16 * k->n) < 0) {
        free(r);
        return -1;
    }
    for (size_t i = 0; i < k->n; i++) {
        unsigned char *b = r + 16 * i;
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(k->ids[i], 37,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
    }
    free(r);
    return 0;
}

/* Parse and check the body: 0, or the HTTP status with the reason in a (index >= 0 names the
 * event). */
static unsigned
collect_parse(struct chttp *h, const struct upload *u, struct collect *k, char *why, size_t wl,
              long *index)
{
    json_error_t je;
    json_t *root, *ev;
    char reason[256];
    size_t i;

    *index = -1;
    if (u->len == 0)
        return snprintf(why, wl, "empty body: expected a JSON object or an array of objects"), 400;
    if ((root = json_loadb(u->body, u->len, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return snprintf(why, wl, "body is not JSON: %s at line %d column %d", je.text, je.line,
                        je.column),
               400;
    if (json_is_object(root)) {
        k->events = json_array();
        json_array_append_new(k->events, root);
    } else if (json_is_array(root)) {
        k->events = root;
    } else {
        json_decref(root);
        return snprintf(why, wl, "body must be a JSON object or an array of objects"), 400;
    }
    if ((k->n = json_array_size(k->events)) == 0)
        return snprintf(why, wl, "no events: the array is empty"), 400;
    json_array_foreach(k->events, i, ev)
    {
        *index = (long)i;
        if (!json_is_object(ev))
            return snprintf(why, wl, "event %zu: not a JSON object", i), 400;
        if (ghavro_check(ev, reason, sizeof(reason)) < 0)
            return snprintf(why, wl, "event %zu: %s", i, reason), 400;
    }
    *index = -1;
    (void)h;
    return 0;
}

/* Append one line {"event_id":"...","metric":...} to k->buf. */
static int
add_line(struct collect *k, size_t i, const char *metric)
{
    size_t need = strlen(metric) + 64;

    if (k->len + need > k->cap) {
        size_t cap = (k->len + need) * 2;
        char *b = realloc(k->buf, cap);
        if (b == NULL)
            return -1;
        k->buf = b;
        k->cap = cap;
    }
    k->offs[i] = k->len;
    k->len += (size_t)snprintf(k->buf + k->len, k->cap - k->len,
                               "{\"event_id\":\"%s\",\"metric\":%s}\n", k->ids[i], metric);
    return 0;
}

/* Build the journal lines: 0, or 413 when one is over event_max, 500 out of memory. */
static unsigned
collect_lines(struct chttp *h, struct collect *k, char *why, size_t wl, long *index)
{
    json_t *ev;
    size_t i;

    if (make_ids(k) < 0 || (k->offs = malloc(k->n * sizeof(*k->offs))) == NULL)
        return snprintf(why, wl, "out of memory or no random bytes"), 500;
    json_array_foreach(k->events, i, ev)
    {
        char *m = json_dumps(ev, JSON_COMPACT);
        if (m == NULL || add_line(k, i, m) < 0) {
            free(m);
            return snprintf(why, wl, "out of memory"), 500;
        }
        free(m);
        if (k->len - k->offs[i] > h->cfg.event_max) {
            *index = (long)i;
            return snprintf(why, wl, "event %zu: %zu bytes, over the limit of one batch (%zu)", i,
                            k->len - k->offs[i], h->cfg.event_max),
                   413;
        }
    }
    return 0;
}

static enum MHD_Result
collect_refuse(struct chttp *h, struct MHD_Connection *c, unsigned status, const char *why,
               long index)
{
    json_t *b = json_pack("{ss}", "error", why);

    if (index >= 0)
        json_object_set_new(b, "index", json_integer(index));
    cm_add(h->d.m, CM_REJECTED, 1);
    return send_answer(h, c, &(struct answer){.status = status, .body = b});
}

/* The disk budget: journal + batch files + this request must fit in spill_max. */
static int
budget_full(struct chttp *h, size_t more)
{
    struct cj_stats js;
    uint64_t bfiles, bbytes;

    if (used_bytes(h, &js, &bfiles, &bbytes) + more <= h->cfg.spill_max)
        return 0;
    __atomic_store_n(&h->full_until, mono_s() + h->cfg.retry_after_s, __ATOMIC_RELAXED);
    return 1;
}

/* Journal (durably) and answer 202 with the ids. */
static enum MHD_Result
collect_accept(struct chttp *h, struct MHD_Connection *c, struct collect *k)
{
    struct err e = {0};
    uint64_t lsn;
    int overflowed;
    json_t *ids;

    if (budget_full(h, k->len))
        return send_error(h, c, 503, NULL,
                          "disk budget full: journal and batch files would "
                          "pass --spill-max-bytes; retry later");
    if (cj_append(h->d.j, k->buf, k->len, k->offs, k->n, &lsn, &overflowed, &e) < 0) {
        if (e.code != ERR_IO)
            return send_error(h, c, 503, NULL, "draining: %s", e.msg);
        log_error("POST /collect: %s", e.msg);
        return send_error(h, c, 500, NULL, "%s", e.msg);
    }
    if (overflowed)
        cm_add(h->d.m, CM_OVERFLOWED, k->n);
    if (cj_commit(h->d.j, lsn, &e) < 0) {
        log_error("POST /collect: %s", e.msg);
        return send_error(h, c, 500, NULL, "%s", e.msg);
    }
    cm_add(h->d.m, CM_ACCEPTED, k->n);
    ids = json_array();
    for (size_t i = 0; i < k->n; i++)
        json_array_append_new(ids, json_string(k->ids[i]));
    return send_answer(h, c,
                       &(struct answer){.status = 202,
                                        .body = json_pack("{sI so}", "accepted", (json_int_t)k->n,
                                                          "event_ids", ids)});
}

static enum MHD_Result
serve_collect(struct chttp *h, struct MHD_Connection *c, struct upload *u)
{
    struct collect k = {0};
    char why[512];
    long index = -1;
    unsigned status;
    enum MHD_Result rc;

    if (u->too_big)
        rc = send_error(h, c, 413, NULL, "body over --body-max-bytes (%zu bytes)", h->cfg.body_max);
    else if ((status = collect_parse(h, u, &k, why, sizeof(why), &index)) != 0 ||
             (status = collect_lines(h, &k, why, sizeof(why), &index)) != 0)
        rc = collect_refuse(h, c, status, why, index);
    else
        rc = collect_accept(h, c, &k);
    collect_clear(&k);
    return rc;
}

/* ---- routing ---------------------------------------------------------------------------- */

/* Content-Type application/json, parameters (charset) allowed. */
static int
is_json(const char *ct)
{
    size_t l = strlen("application/json");

    return ct != NULL && strncasecmp(ct, "application/json", l) == 0 &&
           (ct[l] == '\0' || ct[l] == ';' || ct[l] == ' ');
}

/* The first call of a POST /collect: refuse at once what the headers tell, else start the
 * upload. */
static enum MHD_Result
collect_begin(struct chttp *h, struct MHD_Connection *c, void **con_cls)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    struct upload *u;

    if (__atomic_load_n(&h->draining, __ATOMIC_RELAXED))
        return send_error(h, c, 503, NULL, "draining: the collector is shutting down");
    if (!is_json(ct))
        return send_error(h, c, 415, NULL, "Content-Type must be application/json, not '%s'",
                          ct ? ct : "(none)");
    if (cl != NULL && strtoull(cl, NULL, 10) > h->cfg.body_max)
        return send_error(h, c, 413, NULL, "body of %s bytes over --body-max-bytes (%zu)", cl,
                          h->cfg.body_max);
    if ((u = calloc(1, sizeof(*u))) == NULL)
        return MHD_NO;
    *con_cls = u;
    return MHD_YES;
}

/* Keep a piece of the body (past body_max only remember that it was too big). */
static void
upload_add(struct chttp *h, struct upload *u, const char *data, size_t n)
{
    if (u->too_big || u->len + n > h->cfg.body_max) {
        u->too_big = 1;
        return;
    }
    if (u->len + n > u->cap) {
        size_t cap = (u->len + n) * 2 < h->cfg.body_max ? (u->len + n) * 2 : h->cfg.body_max;
        char *b = realloc(u->body, cap);
        if (b == NULL) {
            u->too_big = 1;
            return;
        }
        u->body = b;
        u->cap = cap;
    }
    memcpy(u->body + u->len, data, n);
    u->len += n;
}

static enum MHD_Result
route_get(struct chttp *h, struct MHD_Connection *c, const char *url, const char *method)
{
    int health = strcmp(url, "/health") == 0, metrics = strcmp(url, "/metrics") == 0;

    if (!health && !metrics)
        return send_error(h, c, 404, NULL,
                          "no such path: %s (POST /collect, GET /health, "
                          "GET /metrics)",
                          url);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(h, c, 405, "GET, HEAD", "%s %s: method not allowed", method, url);
    return health ? serve_health(h, c) : serve_metrics(h, c);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *data, size_t *data_size, void **con_cls)
{
    struct chttp *h = cls;
    struct upload *u = *con_cls;

    (void)version;
    if (strcmp(url, "/collect") != 0)
        return route_get(h, c, url, method);
    if (strcmp(method, "POST") != 0)
        return send_error(h, c, 405, "POST", "%s /collect: method not allowed", method);
    if (u == NULL)
        return collect_begin(h, c, con_cls);
    if (*data_size > 0) {
        upload_add(h, u, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    return serve_collect(h, c, u);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    struct upload *u = *con_cls;

    (void)cls;
    (void)c;
    (void)t;
    if (u != NULL) {
        free(u->body);
        free(u);
        *con_cls = NULL;
    }
}

/* ---- daemon ----------------------------------------------------------------------------- */

static int
parse_listen(const char *s, struct sockaddr_in *sa, struct err *e)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return err_set(e, ERR_USAGE, "--listen: '%s' is not ADDR:PORT", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa->sin_addr) != 1)
        return err_set(e, ERR_USAGE, "--listen: '%s' is not IPv4-ADDR:PORT (0-65535)", s);
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

int
chttp_check_listen(const char *listen, struct err *e)
{
    struct sockaddr_in sa;

    return parse_listen(listen, &sa, e);
}

struct chttp *
chttp_start(const struct chttp_cfg *cfg, const struct chttp_deps *d, struct err *e)
{
    struct chttp *h = calloc(1, sizeof(*h));
    struct sockaddr_in sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;

    if (h == NULL || parse_listen(cfg->listen, &sa, e) < 0) {
        free(h);
        return NULL;
    }
    h->cfg = *cfg;
    h->d = *d;
    flags |= cfg->threads > 0 ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    h->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        /* the pool option only with a pool (libmicrohttpd warns about a size of 0) */
        cfg->threads > 0 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (unsigned)cfg->threads,
        MHD_OPTION_END);
    if (h->mhd == NULL) {
        err_set(e, ERR_IO, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : ntohs(sa.sin_port);
    return h;
}

int
chttp_port(struct chttp *h)
{
    return h->port;
}

void
chttp_set_draining(struct chttp *h)
{
    __atomic_store_n(&h->draining, 1, __ATOMIC_RELAXED);
}

void
chttp_free(struct chttp *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->mhd);
    free(h);
}

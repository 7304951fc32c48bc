/* http: the HTTP client of the task executables (libcurl multi behind an opaque client).
 *
 * Submit requests to a client, drive them with http_client_run(), take each finished request
 * back exactly once with http_next_done(): either a 2xx answer the validator accepted, or the
 * final error after a bounded number of tries (never an endless retry of one request). Retried:
 * 5xx, 408, 429, timeouts, transport errors (refused, reset, truncated), bodies the validator
 * rejects; each retry waits an exponential backoff with jitter (at least Retry-After, at most
 * backoff_cap_ms). Not retried: other 4xx, bodies over max_body, malformed URLs.
 *
 * Politeness: at most max_parallel transfers at once, and consecutive transfer starts (retries
 * included) at least min_interval_ms apart. Only http.c includes <curl/curl.h>. */
#ifndef GUST_HTTP_H
#define GUST_HTTP_H

#include <stddef.h>

#include "err.h"

/* Wikimedia's User-Agent policy: name/version, a way to reach the operator, the library
 * (http_client_new appends " libcurl/<version>" to the default). */
#define HTTP_DEFAULT_USER_AGENT "gust/0.1 (+https://github.com/gust; data pipeline task)"
#define HTTP_DEFAULT_MAX_BODY ((size_t)64 << 20)

struct http_client;

/* A validator: 0 when the body of a 2xx answer is usable, else -1 with e saying why (the
 * request is then retried, like a 5xx). */
typedef int http_validate_fn(const char *body, size_t size, struct err *e);

/* A parser: a validator that keeps what it made of the body, so that the caller does not
 * parse it a second time. 0 when the body is usable, with *out (may stay NULL) handed to the
 * caller as the response's `parsed`; else -1 with e (retried like a 5xx) and *out left NULL. */
typedef int http_parse_fn(const char *body, size_t size, void **out, struct err *e);

/* Client options. Zero fields take the default written beside them. */
struct http_opts {
    const char *user_agent;      /* HTTP_DEFAULT_USER_AGENT */
    long timeout_ms;             /* whole transfer, per try: 30000 */
    long connect_timeout_ms;     /* 10000 */
    int max_parallel;            /* transfers at once: 4 */
    long min_interval_ms;        /* between transfer starts (1000 / requests per second): 0 */
    int max_tries;               /* tries per request, first one included: 5 */
    long backoff_base_ms;        /* wait before the 2nd try; doubles each try, with jitter: 500 */
    long backoff_cap_ms;         /* longest wait between tries: 30000 */
    size_t max_body;             /* larger answers fail without retry: HTTP_DEFAULT_MAX_BODY */
    http_validate_fn *validate;  /* for requests without their own: none */
    http_parse_fn *parse;        /* instead of validate, for requests without their own: none */
    void (*parsed_free)(void *); /* frees what parse kept (with its response): none */
};

enum http_method { HTTP_GET, HTTP_POST };

/* One request. Every string is copied by http_submit(). */
struct http_request {
    enum http_method method;
    const char *url;
    const char *json;           /* POST body sent as application/json, or NULL */
    const char *form;           /* else a POST body sent as application/x-www-form-urlencoded */
    const char *verb;           /* a POST sent with this method name instead ("PUT"), or NULL */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *label;          /* the caller's context in messages ("skipCount=500"), or NULL */
    http_validate_fn *validate; /* overrides the client's validator when not NULL */
    void *arg;                  /* handed back in the response, not touched */
};

/* A finished request, owned by the caller after http_next_done(). */
struct http_response {
    void *arg;         /* the request's arg */
    const char *url;   /* owned by the response */
    const char *label; /* "" when the request had none */
    long status;       /* HTTP status of the last try, 0 when there was no answer */
    char *body;        /* last try's body, NUL-terminated (never NULL), owned by the response */
    size_t size;       /* bytes in body, without the NUL */
    int tries;         /* transfers started for this request */
    long elapsed_ms;   /* first start to the end, backoff waits included */
    struct err err;    /* err.code == ERR_OK on success; else the final error (label, URL, try
                          count in err.msg; err.temporary when retrying later may help) */
    void *parsed;      /* what the client's parse kept of a successful body, or NULL; freed with
                          the response unless the caller takes it (and sets this to NULL) */
    char *headers;     /* the last try's final answer's header lines ("Name: value\r\n"...),
                          NUL-terminated, at most 64 KiB kept; NULL when none came */
};

/* Counters since http_client_new(), for logs and tests. */
struct http_stats {
    long started;      /* transfers started (tries) */
    long retried;      /* tries that were followed by another */
    long succeeded;    /* requests handed back successful */
    long failed;       /* requests handed back with an error */
    int max_in_flight; /* most transfers running at once */
};

/* A new client with options o (NULL: all defaults); NULL on error. */
struct http_client *http_client_new(const struct http_opts *o, struct err *e);

/* Abort every transfer and free the client, its queue and unclaimed responses. NULL is a no-op. */
void http_client_free(struct http_client *c);

/* Queue request r (copied); it starts during a later http_client_run(). 0 or -1. */
int http_submit(struct http_client *c, const struct http_request *r, struct err *e);

/* Drive transfers until a response is ready, nothing is left to do, timeout_ms has passed
 * (< 0: no limit), or the wake fd is readable. Returns the number of ready responses, or -1
 * (e set) on a libcurl failure or after http_client_cancel(). Blocks in poll, never spins. */
int http_client_run(struct http_client *c, long timeout_ms, struct err *e);

/* The next finished request, NULL when none is ready. The caller frees it. */
struct http_response *http_next_done(struct http_client *c);

/* Requests submitted and not yet finished (queued, waiting for a retry, or in flight). */
int http_client_busy(const struct http_client *c);

/* Make http_client_run() return when fd is readable (e.g. a signalfd); -1 to stop watching. */
void http_client_set_wake_fd(struct http_client *c, int fd);

/* Stop early: the next (or current) http_client_run() aborts every transfer, drops the queue
 * and returns -1. Finished responses stay available, unfinished ones are never reported.
 * Async-signal-safe: may be called from a SIGTERM handler. */
void http_client_cancel(struct http_client *c);

/* Copy the client's counters into st. */
void http_client_stats(const struct http_client *c, struct http_stats *st);

/* The value of the last header called name (any case) in r's headers, blanks trimmed, copied
 * into buf (size bytes, cut to fit): buf, or NULL when r has no such header. */
const char *http_response_header(const struct http_response *r, const char *name, char *buf,
                                 size_t size);

/* Free a response. NULL is a no-op. */
void http_response_free(struct http_response *r);

/* A validator accepting only a complete JSON document (object, array or scalar). */
int http_validate_json(const char *body, size_t size, struct err *e);

/* One GET with the client's retries; the successful response, or NULL with e set. */
struct http_response *http_get_once(const struct http_opts *o, const char *url, const char *label,
                                    struct err *e);

/* One POST of a JSON body, like http_get_once(). */
struct http_response *http_post_json_once(const struct http_opts *o, const char *url,
                                          const char *json, const char *label, struct err *e);

#endif

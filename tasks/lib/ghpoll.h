/* ghpoll: the pure parts of polling GitHub's public events API (event_injector --live): the
 * bounded set of event ids already forwarded, the next page from a Link header, and how long
 * to wait before the next poll from an answer's headers.
 *
 * The API's rules: never poll faster than X-Poll-Interval (seconds); an If-None-Match with
 * the last ETag gets a 304 without events (and costs no rate limit); a 403 or 429 with
 * X-RateLimit-Remaining: 0 means "wait until X-RateLimit-Reset" (Unix seconds), one with
 * Retry-After means "wait that many seconds". Pages overlap between polls (the newest events
 * come first), so events are deduplicated by id. Pure: no I/O, the time is a parameter. */
#ifndef GUST_GHPOLL_H
#define GUST_GHPOLL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* ---- ids already forwarded: at most cap remembered, the oldest forgotten first ---- */

struct ghpoll_seen;

/* A set remembering at most cap ids (cap >= 1); NULL with e set. */
struct ghpoll_seen *ghpoll_seen_new(size_t cap, struct err *e);

/* Free s. NULL is a no-op. */
void ghpoll_seen_free(struct ghpoll_seen *s);

/* Remember id: true when it was not in the set (when full, the oldest id is forgotten). */
bool ghpoll_seen_add(struct ghpoll_seen *s, const char *id);

/* Whether id is in the set. */
bool ghpoll_seen_has(const struct ghpoll_seen *s, const char *id);

/* Ids in the set (at most cap). */
size_t ghpoll_seen_count(const struct ghpoll_seen *s);

/* ---- answers ---- */

/* The URL of the rel="next" entry of a Link header value, copied into buf (size bytes): buf,
 * or NULL when there is none (or it does not fit). */
const char *ghpoll_link_next(const char *link, char *buf, size_t size);

/* What the wait depends on: the status and the header values (NULL when absent). */
struct ghpoll_answer {
    long status;
    const char *poll_interval; /* X-Poll-Interval */
    const char *remaining;     /* X-RateLimit-Remaining */
    const char *reset;         /* X-RateLimit-Reset */
    const char *retry_after;   /* Retry-After */
};

/* Seconds from now (now_epoch, Unix seconds) to the next poll: X-Poll-Interval, else
 * dflt_interval; longer when rate limited (a 403/429 with Retry-After or with no requests
 * remaining, or any answer with none remaining: until the reset, plus one second), then
 * *limited is set. */
double ghpoll_wait(const struct ghpoll_answer *a, double now_epoch, double dflt_interval,
                   bool *limited);

#endif

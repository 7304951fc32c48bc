/* ghsource: synthetic GitHub events for the event pipeline's load generator (event_injector).
 *
 * Events have the shape of GitHub's public events API: id (a string of digits), type, actor
 * {id, login, display_login, gravatar_id, url, avatar_url}, repo {id, name, url}, payload (by
 * type), public true, created_at ("2024-05-01T12:00:02Z"). Nine types, in a mix like the public
 * timeline's (PushEvent about half, then CreateEvent, PullRequestEvent, WatchEvent,
 * IssueCommentEvent, IssuesEvent, DeleteEvent, ForkEvent, ReleaseEvent); actors and repos come
 * from fixed pools with a few very active members, so counts per repo or actor are meaningful.
 *
 * Key invariant: event k of a seed depends only on (seed, k, options), never on which events
 * were made before or in which order, so any batching or concurrency gives the same events,
 * and two runs with one seed send the same ones. Pure: no I/O, no clock. */
#ifndef GUST_GHSOURCE_H
#define GUST_GHSOURCE_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* The types made, in the order of their share of the mix (largest first). */
extern const char *const ghsource_types[];
enum { GHSOURCE_NTYPES = 9 };

/* Options; zero fields take the default written beside them. */
struct ghsource_opts {
    uint64_t seed;           /* 0 is a seed like any other */
    int repos;               /* repos in the pool: 200 */
    int actors;              /* actors in the pool (two of them bots): 1000 */
    long long start;         /* created_at of event 0, Unix seconds: 2024-05-01T12:00:00Z */
    int per_second;          /* events per second of created_at: 20 */
    long long invalid_every; /* every Nth event (k + 1 a multiple of N) carries a string
                                actor.id, which the collector refuses: 0, none */
};

struct ghsource;

/* A generator for o (NULL: defaults); NULL with e set when an option is out of range. */
struct ghsource *ghsource_new(const struct ghsource_opts *o, struct err *e);

/* Free g. NULL is a no-op. */
void ghsource_free(struct ghsource *g);

/* Event k (from 0) of g's stream: a new JSON object, or NULL when out of memory. Its id is
 * unique within the stream for k below 10^8. */
json_t *ghsource_event(const struct ghsource *g, uint64_t k);

#endif

/* collector_queue: the bounded in-memory queue of the event collector: a ring of wrapped
 * events (one journal line each, with the journal segment that holds it).
 *
 * Not thread-safe: the journal (collector_journal) owns one and uses it under its lock, so
 * that appending to the journal and queueing happen in one order. */
#ifndef GUST_COLLECTOR_QUEUE_H
#define GUST_COLLECTOR_QUEUE_H

#include <stddef.h>
#include <stdint.h>

/* One event: line is the wrapped event {"event_id":...,"metric":...} with its '\n' (owned). */
struct cq_item {
    uint64_t seg; /* the journal segment holding the line */
    char *line;
    size_t len;
};

struct cq {
    struct cq_item *v;
    size_t cap, head, len;
};

/* A queue of cap items (cap >= 1). -1 when out of memory. */
int cq_init(struct cq *q, size_t cap);
/* Free the queue and every line still in it. */
void cq_clear(struct cq *q);
/* Room for n more items. */
int cq_fits(const struct cq *q, size_t n);
/* Append (takes it->line; the caller checked cq_fits). */
void cq_push(struct cq *q, const struct cq_item *it);
/* Take the oldest item into *it (the caller owns it->line). 0, or -1 when empty. */
int cq_pop(struct cq *q, struct cq_item *it);

#endif

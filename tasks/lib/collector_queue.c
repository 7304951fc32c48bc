/* collector_queue: a fixed-capacity ring of journal lines (see collector_queue.h). */
#include <stdlib.h>

#include "collector_queue.h"

int
cq_init(struct cq *q, size_t cap)
{
    q->v = calloc(cap, sizeof(*q->v));
    q->cap = cap;
    q->head = q->len = 0;
    return q->v == NULL ? -1 : 0;
}

void
cq_clear(struct cq *q)
{
    struct cq_item it;

    while (cq_pop(q, &it) == 0)
        free(it.line);
    free(q->v);
    q->v = NULL;
    q->cap = 0;
}

int
cq_fits(const struct cq *q, size_t n)
{
    return q->len + n <= q->cap;
}

void
cq_push(struct cq *q, const struct cq_item *it)
{
    q->v[(q->head + q->len) % q->cap] = *it;
    q->len++;
}

int
cq_pop(struct cq *q, struct cq_item *it)
{
    if (q->len == 0)
        return -1;
    *it = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return 0;
}

/* ghpoll: dedup set, Link and wait rules of the LIVE source (see ghpoll.h).
 *
 * The set keeps 64-bit FNV-1a hashes of the ids, not the ids: an open-addressing table
 * (linear probing, at most half full, deletion by backward shift so no tombstones pile up)
 * plus a ring of the same hashes in insertion order, which says which one to forget when the
 * set is full. Memory is fixed at creation: 24 bytes per id of capacity. Two ids with one hash
 * (about one chance in 10^9 among 10^5 ids) would make the second look forwarded already. */
#include "ghpoll.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ghpoll_seen {
    uint64_t *table; /* 0 = empty */
    size_t mask;     /* table size - 1 (a power of two, at least 2 * cap) */
    uint64_t *ring;  /* hashes in insertion order */
    size_t cap, head, n;
};

static uint64_t
id_hash(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h != 0 ? h : 1; /* 0 marks an empty slot */
}

struct ghpoll_seen *
ghpoll_seen_new(size_t cap, struct err *e)
{
    struct ghpoll_seen *s;
    size_t size = 2;

    if (cap == 0 || cap > ((size_t)1 << 28)) {
        err_set(e, ERR_USAGE, "dedup capacity %zu: not in 1 .. 2^28", cap);
        return NULL;
    }
    while (size < 2 * cap)
        size *= 2;
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->table = calloc(size, sizeof(uint64_t))) == NULL ||
        (s->ring = calloc(cap, sizeof(uint64_t))) == NULL) {
        ghpoll_seen_free(s);
        err_set(e, ERR_FAIL, "dedup set of %zu ids: out of memory", cap);
        return NULL;
    }
    s->mask = size - 1;
    s->cap = cap;
    return s;
}

void
ghpoll_seen_free(struct ghpoll_seen *s)
{
    if (s == NULL)
        return;
    free(s->table);
    free(s->ring);
    free(s);
}

/* The slot of h, or of the empty slot where it would go. */
static size_t
slot_of(const struct ghpoll_seen *s, uint64_t h)
{
    size_t i = (size_t)h & s->mask;

    while (s->table[i] != 0 && s->table[i] != h)
        i = (i + 1) & s->mask;
    return i;
}

/* Remove h (present) and shift the entries after it back into the hole. */
static void
table_remove(struct ghpoll_seen *s, uint64_t h)
{
    size_t hole = slot_of(s, h), i = hole;

    s->table[hole] = 0;
    for (;;) {
        i = (i + 1) & s->mask;
        if (s->table[i] == 0)
            return;
        size_t home = (size_t)s->table[i] & s->mask;
        /* the entry at i may fill the hole when its home is not in (hole, i] */
        if (((i - home) & s->mask) >= ((i - hole) & s->mask)) {
            s->table[hole] = s->table[i];
            s->table[i] = 0;
            hole = i;
        }
    }
}

bool
ghpoll_seen_add(struct ghpoll_seen *s, const char *id)
{
    uint64_t h = id_hash(id);
    size_t i = slot_of(s, h);

    if (s->table[i] == h)
        return false;
    if (s->n == s->cap) { /* forget the oldest */
        table_remove(s, s->ring[s->head]);
        s->head = (s->head + 1) % s->cap;
        s->n--;
        i = slot_of(s, h);
    }
    s->table[i] = h;
    s->ring[(s->head + s->n) % s->cap] = h;
    s->n++;
    return true;
}

bool
ghpoll_seen_has(const struct ghpoll_seen *s, const char *id)
{
    uint64_t h = id_hash(id);

    return s->table[slot_of(s, h)] == h;
}

size_t
ghpoll_seen_count(const struct ghpoll_seen *s)
{
    return s->n;
}

const char *
ghpoll_link_next(const char *link, char *buf, size_t size)
{
    /* entries: <url>; rel="next", <url>; rel="last" (parameters in any order) */
    for (const char *p = link; p != NULL && (p = strchr(p, '<')) != NULL;) {
        const char *end = strchr(p, '>');
        if (end == NULL)
            return NULL;
        const char *next = strchr(end, '<');
        size_t plen = next != NULL ? (size_t)(next - end) : strlen(end);
        char params[256];
        snprintf(params, sizeof(params), "%.*s", (int)plen, end);
        if (strstr(params, "rel=\"next\"") != NULL || strstr(params, "rel=next") != NULL) {
            if ((size_t)(end - p - 1) >= size)
                return NULL;
            snprintf(buf, size, "%.*s", (int)(end - p - 1), p + 1);
            return buf;
        }
        p = next;
    }
    return NULL;
}

/* A header value as a number >= 0, or -1 when absent or not a number. */
static double
num(const char *v)
{
    char *end;
    double x;

    if (v == NULL || *v == '\0')
        return -1;
    errno = 0;
    x = strtod(v, &end);
    return *end == '\0' && errno == 0 && isfinite(x) && x >= 0 ? x : -1;
}

double
ghpoll_wait(const struct ghpoll_answer *a, double now_epoch, double dflt_interval, bool *limited)
{
    double interval = num(a->poll_interval), retry = num(a->retry_after);
    double remaining = num(a->remaining), reset = num(a->reset), wait;

    *limited = false;
    wait = interval > 0 ? interval : dflt_interval;
    if ((a->status == 403 || a->status == 429) && retry >= 0) {
        *limited = true;
        return fmax(wait, retry);
    }
    if (remaining == 0 && reset >= 0) {
        *limited = a->status == 403 || a->status == 429 || reset > now_epoch;
        if (*limited)
            return fmax(wait, reset - now_epoch + 1);
    }
    return wait;
}

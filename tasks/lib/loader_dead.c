/* loader_dead: a batch's dead letters until its commit (loader_dead.h). Keys and payloads
 * are held as hex, as decode($n, 'hex') takes them, so any bytes survive the text protocol. */
#include "loader_dead.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dead_letter {
    int part;
    int64_t offset;
    char *key_hex; /* NULL: no key */
    char *payload_hex;
    char *reason;
};

static char *
hex_new(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = data;
    char *s = malloc(2 * len + 1);

    for (size_t i = 0; s && i < len; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    if (s)
        s[2 * len] = '\0';
    return s;
}

int
loader_dead_add(struct loader_dead *d, int part, int64_t offset, const void *key, size_t klen,
                const void *raw, size_t len, const char *reason, struct err *e)
{
    struct dead_letter *x;

    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        if ((x = realloc(d->v, cap * sizeof(*x))) == NULL)
            return err_set(e, ERR_FAIL, "dead letter: out of memory");
        d->v = x;
        d->cap = cap;
    }
    x = &d->v[d->n++];
    x->part = part;
    x->offset = offset;
    x->key_hex = key ? hex_new(key, klen) : NULL;
    x->payload_hex = raw ? hex_new(raw, len) : NULL;
    x->reason = strdup(reason);
    if ((key && !x->key_hex) || (raw && !x->payload_hex) || !x->reason)
        return err_set(e, ERR_FAIL, "dead letter: out of memory");
    d->bytes += 2 * (len + (key ? klen : 0)) + strlen(reason);
    return 0;
}

int
loader_dead_insert(const struct loader_dead *d, struct pgconn *db, const char *sql,
                   const char *topic, struct err *e)
{
    for (size_t i = 0; i < d->n; i++) {
        char part[16], off[24];
        const struct dead_letter *x = &d->v[i];
        const char *params[] = {topic, part, off, x->key_hex, x->payload_hex, x->reason};

        snprintf(part, sizeof(part), "%d", x->part);
        snprintf(off, sizeof(off), "%" PRId64, x->offset);
        if (pgconn_exec(db, sql, 6, params, NULL, e) < 0)
            return err_prefix(e, "dead letter");
    }
    return 0;
}

void
loader_dead_clear(struct loader_dead *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].key_hex);
        free(d->v[i].payload_hex);
        free(d->v[i].reason);
    }
    d->n = d->bytes = 0;
}

void
loader_dead_free(struct loader_dead *d)
{
    loader_dead_clear(d);
    free(d->v);
    d->v = NULL;
    d->cap = 0;
}

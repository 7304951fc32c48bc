/* keyset: see keyset.h. Keys are copied; a slot is empty when its key is NULL. The table's
 * size is a power of two and at least twice the number of keys, so a probe always ends. */
#include "keyset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *key;
    size_t len;
    uint64_t hash;
    unsigned state;
};

struct keyset {
    struct slot *slots;
    size_t cap, count; /* cap: a power of two */
};

enum { INITIAL_CAP = 1024 };

/* FNV-1a, 64 bits. */
static uint64_t
hash_of(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return h;
}

struct keyset *
keyset_new(void)
{
    struct keyset *ks = calloc(1, sizeof(*ks));

    if (ks && (ks->slots = calloc(INITIAL_CAP, sizeof(*ks->slots))) == NULL) {
        free(ks);
        return NULL;
    }
    if (ks)
        ks->cap = INITIAL_CAP;
    return ks;
}

void
keyset_clear(struct keyset *ks)
{
    for (size_t i = 0; ks && i < ks->cap; i++) {
        free(ks->slots[i].key);
        ks->slots[i] = (struct slot){0};
    }
    if (ks)
        ks->count = 0;
}

void
keyset_free(struct keyset *ks)
{
    if (ks == NULL)
        return;
    keyset_clear(ks);
    free(ks->slots);
    free(ks);
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *
slot_find(struct slot *slots, size_t cap, const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);

    while (slots[i].key != NULL &&
           !(slots[i].hash == h && slots[i].len == len && memcmp(slots[i].key, key, len) == 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

unsigned
keyset_get(const struct keyset *ks, const char *key, size_t len)
{
    const struct slot *s = slot_find(ks->slots, ks->cap, key, len, hash_of(key, len));

    return s->key ? s->state : 0;
}

/* Double the table. */
static int
grow(struct keyset *ks)
{
    size_t cap = ks->cap * 2;
    struct slot *slots = calloc(cap, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < ks->cap; i++)
        if (ks->slots[i].key)
            *slot_find(slots, cap, ks->slots[i].key, ks->slots[i].len, ks->slots[i].hash) =
                ks->slots[i];
    free(ks->slots);
    ks->slots = slots;
    ks->cap = cap;
    return 0;
}

int
keyset_put(struct keyset *ks, const char *key, size_t len, unsigned state)
{
    uint64_t h = hash_of(key, len);
    struct slot *s;

    if (2 * (ks->count + 1) > ks->cap && grow(ks) < 0)
        return -1;
    s = slot_find(ks->slots, ks->cap, key, len, h);
    if (s->key == NULL) {
        if ((s->key = malloc(len + 1)) == NULL)
            return -1;
        memcpy(s->key, key, len);
        s->key[len] = '\0';
        s->len = len;
        s->hash = h;
        ks->count++;
    }
    s->state = state;
    return 0;
}

size_t
keyset_count(const struct keyset *ks)
{
    return ks->count;
}

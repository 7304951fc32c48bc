/* dagfile_names: a hash table from a name to an index, for the lookups a DAG makes once per
 * task or dependency (duplicate task ids, dependency names, task groups). A linear search
 * there made loading a DAG quadratic in its tasks. Keys are borrowed (the YAML tree outlives
 * the table); open addressing, kept at most half full. */
#include "dagfile_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t
slot(const struct dagfile_names *t, const char *key)
{
    size_t i = (size_t)hash(key) & (t->cap - 1);

    while (t->key[i] != NULL && strcmp(t->key[i], key) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int
grow(struct dagfile_names *t)
{
    struct dagfile_names big = {.cap = t->cap ? 2 * t->cap : 64, .n = t->n};

    if ((big.key = calloc(big.cap, sizeof(*big.key))) == NULL ||
        (big.val = calloc(big.cap, sizeof(*big.val))) == NULL) {
        free(big.key);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->key[i] != NULL) {
            size_t j = slot(&big, t->key[i]);
            big.key[j] = t->key[i];
            big.val[j] = t->val[i];
        }
    dagfile_names_clear(t);
    *t = big;
    return 0;
}

int
dagfile_names_add(struct dagfile_names *t, const char *key, size_t val, size_t *first)
{
    size_t i;

    if (2 * (t->n + 1) > t->cap && grow(t) < 0)
        return -1;
    i = slot(t, key);
    if (t->key[i] != NULL) {
        *first = t->val[i];
        return 1;
    }
    t->key[i] = key;
    t->val[i] = val;
    t->n++;
    return 0;
}

long
dagfile_names_get(const struct dagfile_names *t, const char *key)
{
    size_t i;

    if (t->n == 0)
        return -1;
    i = slot(t, key);
    return t->key[i] != NULL ? (long)t->val[i] : -1;
}

void
dagfile_names_clear(struct dagfile_names *t)
{
    free(t->key);
    free(t->val);
    *t = (struct dagfile_names){0};
}

/* keyset: a set of text keys, each with a small state number: the product_view loader's
 * memory of the dimension keys already in the database, so only new keys (or keys with new
 * information) reach it. Open addressing, linear probing, grown at half full. */
#ifndef GUST_KEYSET_H
#define GUST_KEYSET_H

#include <stddef.h>

struct keyset;

/* An empty set. NULL when out of memory. new. */
struct keyset *keyset_new(void);
void keyset_free(struct keyset *ks);

/* The state of key (len bytes), 0 when absent. */
unsigned keyset_get(const struct keyset *ks, const char *key, size_t len);

/* Set key's state (not 0). 0, or -1 when out of memory (the set is unchanged). */
int keyset_put(struct keyset *ks, const char *key, size_t len, unsigned state);

/* Forget every key. */
void keyset_clear(struct keyset *ks);

size_t keyset_count(const struct keyset *ks);

#endif

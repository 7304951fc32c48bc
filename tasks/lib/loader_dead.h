/* loader_dead: the dead letters of a loader's open batch, held until its commit.
 *
 * A message or record the pipeline refuses becomes a row of <table>_dead_letters with its
 * topic, partition, offset, key, raw payload and reason, inserted in the batch's transaction:
 * a dead letter is stored exactly when the offsets that cover it are. */
#ifndef GUST_LOADER_DEAD_H
#define GUST_LOADER_DEAD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgconn.h"

struct dead_letter;

/* The batch's dead letters. Zero-initialised is empty. */
struct loader_dead {
    struct dead_letter *v;
    size_t n, cap;
    size_t bytes; /* held in memory (hex): the loader commits early past a bound */
};

/* Keep a dead letter (key may be NULL: no key; raw NULL: no payload). Copies everything. */
int loader_dead_add(struct loader_dead *d, int part, int64_t offset, const void *key, size_t klen,
                    const void *raw, size_t len, const char *reason, struct err *e);

/* INSERT each with sql ($1 topic, $2 partition, $3 offset, $4 key hex, $5 payload hex,
 * $6 reason), in the caller's transaction. */
int loader_dead_insert(const struct loader_dead *d, struct pgconn *db, const char *sql,
                       const char *topic, struct err *e);

/* Forget them all (after a commit or a rollback); the memory is kept for the next batch. */
void loader_dead_clear(struct loader_dead *d);

/* Free everything. */
void loader_dead_free(struct loader_dead *d);

#endif

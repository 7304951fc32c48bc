/* store_pool: Airflow's pools, the slot_pool table (docs/operations.md, "Pools"), for
 * `gust pools`: read them with what each holds now, create or update, delete, and import many
 * at once. Same rules as the other store files: parameters only, nothing printed.
 *
 * What a pool holds is counted as the claim counts it: the pool_slots of its task instances
 * in state running. Queued instances are shown apart: in gust they wait for a claim and hold
 * no slot yet (in Airflow queued means handed to an executor, so Airflow counts them too).
 *
 * Key invariants: default_pool is never deleted (Airflow's rule; tasks without a pool use it);
 * an import writes all its pools in one transaction, or none. */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define DEFAULT_POOL "default_pool"

void
store_pools_free(struct store_pool *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].pool);
        free(p[i].description);
    }
    free(p);
}

/* Row i of res (the columns of store_pools_get's query) into p; -1 when out of memory. */
static int
pool_row(const PGresult *res, int i, struct store_pool *p)
{
    p->pool = strdup(PQgetvalue(res, i, 0));
    p->slots = atoi(PQgetvalue(res, i, 1));
    p->description = PQgetisnull(res, i, 2) ? NULL : strdup(PQgetvalue(res, i, 2));
    p->include_deferred = PQgetvalue(res, i, 3)[0] == 't';
    p->running_slots = atoll(PQgetvalue(res, i, 4));
    p->queued_slots = atoll(PQgetvalue(res, i, 5));
    return p->pool && (p->description || PQgetisnull(res, i, 2)) ? 0 : -1;
}

int
store_pools_get(struct store *s, const char *name, struct store_pool **out, size_t *n,
                struct err *e)
{
    const char *p[] = {name};
    PGresult *res;
    int rows, rc = 0;

    *out = NULL;
    *n = 0;
    /* the two counts use the indexes ti_running and ti_pool */
    res = store_exec(s, e,
                     "SELECT p.pool, p.slots, p.description, p.include_deferred, "
                     "(SELECT coalesce(sum(t.pool_slots), 0) FROM task_instance t "
                     "WHERE t.pool = p.pool AND t.state = 'running'), "
                     "(SELECT coalesce(sum(t.pool_slots), 0) FROM task_instance t "
                     "WHERE t.pool = p.pool AND t.state = 'queued') "
                     "FROM slot_pool p WHERE $1::text IS NULL OR p.pool = $1::text ORDER BY p.id",
                     1, p);
    if (res == NULL)
        return name ? err_prefix(e, "pool %s", name) : err_prefix(e, "list pools");
    rows = PQntuples(res);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
        rc = err_set(e, ERR_FAIL, "list pools: out of memory");
    for (int i = 0; rc == 0 && i < rows; i++) {
        *n = (size_t)i + 1;
        if (pool_row(res, i, &(*out)[i]) < 0)
            rc = err_set(e, ERR_FAIL, "list pools: out of memory");
    }
    PQclear(res);
    if (rc < 0) {
        store_pools_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* Inside an open transaction: create pool p, or update the pool of that name. */
static int
pool_upsert(struct store *s, const struct store_pool *p, struct err *e)
{
    struct pbuf b;
    const char *v[] = {p->pool, p_int(&b, p->slots), p->description,
                       p->include_deferred ? "true" : "false"};

    if (store_exec_cmd(s, e,
                       "INSERT INTO slot_pool (pool, slots, description, include_deferred) "
                       "VALUES ($1, $2::int, $3, $4::boolean) ON CONFLICT ON CONSTRAINT "
                       "slot_pool_pool_uq DO UPDATE SET slots = EXCLUDED.slots, "
                       "description = EXCLUDED.description, "
                       "include_deferred = EXCLUDED.include_deferred",
                       4, v) != 0)
        return err_prefix(e, "set pool %s", p->pool);
    return 0;
}

int
store_pools_set(struct store *s, const struct store_pool *pools, size_t n, struct err *e)
{
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        if (pools[i].slots < -1)
            return err_set(e, ERR_USAGE,
                           "pool %s: bad value for slots: %d (-1, unlimited, or more)",
                           pools[i].pool, pools[i].slots);
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "set pools");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = pool_upsert(s, &pools[i], e);
    return store_end_tx(s, rc, e);
}

int
store_pool_delete(struct store *s, const char *name, struct err *e)
{
    const char *p[] = {name};
    int won;

    if (strcmp(name, DEFAULT_POOL) == 0)
        return err_set(e, ERR_USAGE, DEFAULT_POOL " cannot be deleted");
    won = store_exec_won(s, e, "DELETE FROM slot_pool WHERE pool = $1", 1, p);
    if (won < 0)
        return err_prefix(e, "delete pool %s", name);
    if (won == 0)
        return err_set(e, ERR_NOTFOUND, "Pool %s does not exist", name);
    return 0;
}

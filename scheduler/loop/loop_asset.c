/* loop_asset: the scheduler's asset-triggered runs (docs/dag-files.md, "Assets").
 *
 * Each tick, one query lists the DAGs that have pending asset updates (queue rows); for each
 * loaded DAG scheduled on assets whose condition holds over them, store_asset_trigger creates
 * the run in one locked transaction (it evaluates the condition again under the lock, so a
 * run is made once however many schedulers race). A DAG whose condition does not hold yet
 * costs nothing more than its rows in that query. Paused DAGs are left out by the query:
 * their rows stay until they are unpaused, as in Airflow. */
#include <stdbool.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "log.h"
#include "loop/loop.h"
#include "runid.h"
#include "runner/runner.h"
#include "store/store.h"

static bool
queued_pending(const char *uri, void *arg)
{
    const struct store_asset_queue *q = arg;

    for (size_t i = 0; i < q->n_uris; i++)
        if (strcmp(q->uris[i], uri) == 0)
            return true;
    return false;
}

/* Create the run of one DAG whose queue rows are q, if its condition holds. */
static void
trigger_one(struct loop_ctx *c, struct runner *r, const struct store_asset_queue *q, time_t now)
{
    const struct dag *dag = dagbag_find(runner_bag(r), q->dag_id);
    char run_id[RUNID_SIZE];
    long long id = 0;
    struct err e = {0};
    int rc;

    if (dag == NULL || dag->asset_schedule == NULL ||
        !asset_cond_eval(dag->asset_schedule, queued_pending, (void *)q))
        return;
    rc = store_asset_trigger(c->store, dag, now, run_id, sizeof(run_id), &id, &e);
    if (rc < 0) {
        runner_db_error(r, &e, "create an asset-triggered run");
    } else if (rc == 1) {
        log_info("dag=%s run=%s: created (asset-triggered)", dag->dag_id, run_id);
        runner_poke_dag(r, dag->dag_id);
    }
}

void
loop_assets(struct loop_ctx *c, struct runner *r, time_t now)
{
    struct store_asset_queue *q = NULL;
    size_t n = 0;
    struct err e = {0};

    if (store_asset_queues(c->store, &q, &n, &e) < 0) {
        runner_db_error(r, &e, "read the asset queue");
        return;
    }
    for (size_t i = 0; i < n && runner_db_up(r); i++)
        trigger_one(c, r, &q[i], now);
    store_asset_queues_free(q, n);
}

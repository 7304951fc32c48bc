/* runner_asset: what the runner does when a try that updates assets succeeds (its events are
 * already recorded with its end, by store_ti_finish; docs/dag-files.md, "Assets").
 *
 * Under a scheduler the runner only wakes its tick (its own NOTIFY does not): the tick creates
 * the consumers' runs (loop_asset.c). A run driven in one process (`dags trigger --local`) has
 * no tick: the consumers among the DAGs of its bag are queued for the outlets (no scheduler
 * may have recorded the folder's references) and, when their condition holds, their run is
 * created by the same locked transaction a scheduler uses and driven here, as the run of a
 * TriggerDagRunOperator is. */
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "log.h"
#include "runid.h"
#include "runner_int.h"
#include "store/store.h"

/* Queue dag for task's outlets it is scheduled on; add its run when its condition now holds. */
static void
local_consumer(struct runner *r, const struct dag *dag, const struct dag_task *task)
{
    struct dag_asset *mine = calloc(task->n_outlets, sizeof(*mine));
    char run_id[RUNID_SIZE];
    struct err e = {0};
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; mine && i < task->n_outlets; i++)
        if (asset_cond_names(dag->asset_schedule, task->outlets[i].uri))
            mine[n++] = task->outlets[i]; /* a shallow copy: the strings stay the task's */
    if (n == 0) {
        free(mine);
        return;
    }
    if (store_asset_queue_dag(r->store, dag, mine, n, &e) < 0 ||
        (rc = store_asset_trigger(r->store, dag, time(NULL), run_id, sizeof(run_id), NULL, &e)) < 0)
        log_error("dag=%s: asset-triggered run: %s", dag->dag_id, e.msg);
    else if (rc == 1 && runner_add(r, dag->dag_id, run_id, &e) < 0)
        log_error("dag=%s run=%s: %s", dag->dag_id, run_id, e.msg);
    free(mine);
}

void
runner_assets_updated(struct runner *r, const struct dag_task *task)
{
    const struct dagbag *bag = runner_bag(r);

    if (r->opts.mode != RUNNER_LOCAL) {
        runner_poke(r);
        return;
    }
    for (size_t i = 0; bag && i < bag->n_dags; i++)
        if (bag->dags[i]->asset_schedule != NULL)
            local_consumer(r, bag->dags[i], task);
}

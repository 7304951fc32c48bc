/* loop_metrics: the scheduler tick's StatsD metrics, under Airflow's names (docs/operations.md,
 * "Metrics"): the DAG folder's (dag_processing.import_errors, dag_processing.total_parse_time,
 * dagbag_size), the pools' (pool.open_slots|queued_slots|running_slots.<pool>), a promoted
 * run's dagrun.schedule_delay.<dag_id> and zombies_killed.
 *
 * Key invariant: metrics add no work to an idle scheduler beyond one pool query every
 * POOL_INTERVAL at most, made on a tick that runs anyway; the folder's gauges are sent again
 * at each folder check (no query: the last load's figures), so a StatsD server that restarted
 * has them within a scan interval. Everything is a no-op when metrics are off. */
#include "clock.h"
#include "dagfile/dagfile.h"
#include "loop/loop.h"
#include "runner/runner.h"
#include "statsd.h"
#include "store/store.h"

#include <string.h>

#define POOL_INTERVAL 5.0 /* seconds; Airflow's pool_metrics_interval */

/* Files of the bag with an error: one import_error row each. */
static size_t
files_with_errors(const struct dagbag *bag)
{
    size_t n = 0;

    for (size_t i = 0; i < bag->n_diags; i++) {
        bool seen = false;

        if (bag->diags[i].level != DIAG_ERROR || bag->diags[i].file == NULL)
            continue;
        for (size_t k = 0; k < i && !seen; k++)
            seen = bag->diags[k].level == DIAG_ERROR && bag->diags[k].file &&
                   strcmp(bag->diags[k].file, bag->diags[i].file) == 0;
        n += !seen;
    }
    return n;
}

static void
send_folder(struct loop_ctx *c)
{
    statsd_gauge(c->statsd, (double)c->import_errors, "dag_processing.import_errors");
    statsd_gauge(c->statsd, c->parse_seconds, "dag_processing.total_parse_time");
    statsd_gauge(c->statsd, (double)c->dagbag_size, "dagbag_size");
}

void
loop_metric_folder(struct loop_ctx *c, const struct dagbag *bag, double parse_seconds)
{
    if (c->statsd == NULL || c->mode != RUNNER_SCHEDULER)
        return;
    if (bag) {
        c->import_errors = files_with_errors(bag);
        c->parse_seconds = parse_seconds;
        c->dagbag_size = bag->n_dags;
        c->folder_loaded = true;
    }
    if (c->folder_loaded)
        send_folder(c);
}

void
loop_metric_pools(struct loop_ctx *c, struct runner *r)
{
    struct store_pool *p = NULL;
    size_t n = 0;
    struct err e = {0};
    double now;

    if (c->statsd == NULL || (now = clock_mono()) < c->next_pool_gauges)
        return;
    c->next_pool_gauges = now + POOL_INTERVAL;
    if (store_pools_get(c->store, NULL, &p, &n, &e) < 0) {
        runner_db_error(r, &e, "read the pools (metrics)");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].slots >= 0) /* unlimited (-1): no number to give */
            statsd_gauge(c->statsd, (double)(p[i].slots - p[i].running_slots), "pool.open_slots.%s",
                         p[i].pool);
        statsd_gauge(c->statsd, (double)p[i].queued_slots, "pool.queued_slots.%s", p[i].pool);
        statsd_gauge(c->statsd, (double)p[i].running_slots, "pool.running_slots.%s", p[i].pool);
    }
    store_pools_free(p, n);
}

void
loop_metric_schedule_delays(struct loop_ctx *c, const char *dag_id, const double *delays, size_t n)
{
    for (size_t i = 0; i < n; i++)
        statsd_timing(c->statsd, delays[i] * 1000, "dagrun.schedule_delay.%s", dag_id);
}

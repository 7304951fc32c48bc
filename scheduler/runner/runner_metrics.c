/* runner_metrics: the runner's StatsD metrics, under Airflow's names (docs/operations.md,
 * "Metrics"; the client is common/statsd.c).
 *
 * Key invariant: a counter is sent only by the process that made the state change it counts
 * (its conditional UPDATE won), so two schedulers and any number of workers never count one
 * change twice. Gauges say what this process sees (its executor) and are sent at most once
 * per GAUGE_INTERVAL, whatever the number of events: an idle scheduler sends them only on the
 * turns it makes anyway (heartbeat, tick), never waking for them. Every function is a no-op
 * when metrics are off (a NULL client). */
#include <stdio.h>

#include "clock.h"
#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "runner_int.h"
#include "statsd.h"

#define GAUGE_INTERVAL 5.0 /* seconds; Airflow's executor heartbeat sends them every ~5 s */

struct statsd *
runner_statsd(const struct runner *r)
{
    return r->opts.statsd;
}

/* Tries running now: executor jobs that are not callbacks, and TriggerDagRunOperator waits. */
static int
running_tries(const struct runner *r)
{
    return (int)executor_active(r->x) - (int)r->n_callbacks + (int)r->n_waits;
}

int
runner_free_slots(const struct runner *r)
{
    return r->opts.parallelism - running_tries(r);
}

void
runner_metric_ti_start(struct runner *r, const struct active_run *run, const struct dag_task *task)
{
    statsd_count(r->opts.statsd, 1, "ti.start.%s.%s", run->dag_id, task->task_id);
}

void
runner_metric_ti_end(struct runner *r, const char *dag_id, const char *task_id,
                     const struct dag_task *task, enum ti_state st, double duration)
{
    struct statsd *s = r->opts.statsd;
    bool failed = st == TI_FAILED || st == TI_UP_FOR_RETRY;

    if (s == NULL)
        return;
    statsd_count(s, 1, "ti.finish.%s.%s.%s", dag_id, task_id, ti_state_name(st));
    if (st == TI_SUCCESS)
        statsd_count(s, 1, "ti_successes");
    else if (failed)
        statsd_count(s, 1, "ti_failures");
    if (task && (st == TI_SUCCESS || failed))
        statsd_count(s, 1, "operator_%s_%s", st == TI_SUCCESS ? "successes" : "failures",
                     op_kind_name(task->op));
    if (duration >= 0)
        statsd_timing(s, duration * 1000, "dag.%s.%s.duration", dag_id, task_id);
}

void
runner_metric_run_end(struct runner *r, const struct active_run *run, enum run_state st, time_t end)
{
    if (run->start_date > 0 && end >= run->start_date && (st == RUN_SUCCESS || st == RUN_FAILED))
        statsd_timing(r->opts.statsd, (double)(end - run->start_date) * 1000,
                      "dagrun.duration.%s.%s", run_state_name(st), run->dag_id);
}

void
runner_metric_gauges(struct runner *r)
{
    struct statsd *s = r->opts.statsd;
    double now;

    if (s == NULL || (r->opts.mode == RUNNER_SCHEDULER && r->opts.no_executor))
        return;
    now = clock_mono();
    if (now < r->next_gauges)
        return;
    r->next_gauges = now + GAUGE_INTERVAL;
    statsd_gauge(s, runner_free_slots(r), "executor.open_slots");
    /* the embedded executor starts a try as soon as it is claimed: none waits in it (the task
     * instances waiting for a slot are in pool.queued_slots.<pool>) */
    statsd_gauge(s, 0, "executor.queued_tasks");
    statsd_gauge(s, running_tries(r), "executor.running_tasks");
}

/* cli_daemon: `gust scheduler`, `gust worker`, `gust jobs check`: option parsing and set-up
 * around the runner and loop.c's tick. Logs go to stderr, one line per event. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "log.h"
#include "loop/loop.h"
#include "progress/progress.h"
#include "runner/runner.h"
#include "statsd.h"
#include "timetable/timetable.h"
#include "store/store.h"

/* ---- shared set-up ---- */

static void
log_event(void *arg, const struct runner_event *ev)
{
    (void)arg;
    if (ev->task_id == NULL)
        log_info("dag=%s run=%s -> %s", ev->dag_id, ev->run_id, run_state_name(ev->run_state));
    else if (ev->ti_state != TI_SCHEDULED && ev->ti_state != TI_QUEUED)
        log_info("dag=%s run=%s task=%s try=%d -> %s%s%s", ev->dag_id, ev->run_id, ev->task_id,
                 ev->try_number, ti_state_name(ev->ti_state), ev->detail ? ": " : "",
                 ev->detail ? ev->detail : "");
}

/* The metrics client of the settings (docs/operations.md, "Metrics"), into *out (NULL: off).
 * A bad setting is a usage error; a host that does not resolve (or no socket) leaves metrics
 * off with an error logged: a scheduler does not stop scheduling for its monitoring. */
static int
open_metrics(struct statsd **out)
{
    struct err e = {0};

    *out = statsd_from_env(&e);
    if (*out == NULL && e.code == ERR_USAGE) {
        log_error("metrics: %s", e.msg);
        return -1;
    }
    if (*out == NULL && e.code != ERR_OK)
        log_error("metrics: %s; running without metrics", e.msg);
    return 0;
}

static int
serve(struct loop_ctx *c, struct runner_opts *o)
{
    struct dagbag *bag = NULL;
    struct runner *r = NULL;
    struct statsd *stats = NULL;
    struct err e = {0};
    int rc = EXIT_FAIL;

    if (open_metrics(&stats) < 0)
        return EXIT_USAGE;
    c->statsd = o->statsd = stats;
    if ((c->store = cli_open_store()) == NULL || (bag = cli_load_bag(c->folder)) == NULL)
        goto out;
    gethostname(c->hostname, sizeof(c->hostname) - 1);
    c->logs_folder = getenv("GUST_LOGS_FOLDER") ? getenv("GUST_LOGS_FOLDER") : "./logs";
    c->lease_seconds = getenv("GUST_LEASE_SECONDS") && atof(getenv("GUST_LEASE_SECONDS")) > 0
                           ? atof(getenv("GUST_LEASE_SECONDS"))
                           : 30;
    c->scan_interval = getenv("GUST_DAG_DIR_LIST_INTERVAL")
                           ? (time_t)atol(getenv("GUST_DAG_DIR_LIST_INTERVAL"))
                           : 30;
    if (c->scan_interval < 1)
        c->scan_interval = 1;
    o->on_event = log_event;
    o->tick = loop_tick;
    o->tick_arg = c;
    o->lease_seconds = c->lease_seconds;
    if ((r = runner_new(c->store, bag, o, &e)) == NULL) {
        log_error("%s", e.msg);
        goto out;
    }
    log_info("%s started (pid %d, DAG folder %s, %s; tries contained by %s)",
             c->mode == RUNNER_SCHEDULER ? "scheduler" : "worker", (int)getpid(), c->folder,
             store_where(c->store), runner_containment(r));
    if (runner_run(r, &e) < 0)
        log_error("%s", e.msg);
    else
        rc = EXIT_OK;
    log_info("%s stopped", c->mode == RUNNER_SCHEDULER ? "scheduler" : "worker");
out:
    runner_free(r);
    dagbag_free(bag); /* the first bag is borrowed by the runner; later ones it owned */
    loop_ctx_clear(c);
    store_free(c->store);
    statsd_free(stats);
    return rc;
}

int
cli_scheduler(const struct cli_args *a)
{
    struct loop_ctx c = {.mode = RUNNER_SCHEDULER};
    struct runner_opts o = {.mode = RUNNER_SCHEDULER, .no_executor = cli_flag(a, "no-executor")};

    if (timetable_semantics_parse(getenv("GUST_SCHEDULE_SEMANTICS"), &c.sem) < 0) {
        log_error("GUST_SCHEDULE_SEMANTICS must be airflow2 or airflow3");
        return EXIT_USAGE;
    }
    c.folder = cli_arg(a, "subdir", cli_dags_folder());
    c.num_runs = atoi(cli_arg(a, "num-runs", "0"));
    c.once = cli_flag(a, "once");
    if (cli_flag(a, "data-intervals"))
        c.sem = SEM_INTERVAL;
    if (c.num_runs < 0)
        return cli_usage_error(a);
    return serve(&c, &o);
}

int
cli_worker(const struct cli_args *a)
{
    struct loop_ctx c = {.mode = RUNNER_WORKER, .folder = cli_arg(a, "subdir", cli_dags_folder())};
    struct runner_opts o = {.mode = RUNNER_WORKER,
                            .parallelism = atoi(cli_arg(a, "concurrency", "0")),
                            .queue = cli_arg(a, "queues", "default")};

    return serve(&c, &o);
}

/* Airflow's job type for --job-type: NULL for any, "?" for a bad one. */
static const char *
job_type(const char *arg)
{
    if (arg == NULL)
        return NULL;
    if (strcmp(arg, "scheduler") == 0 || strcmp(arg, "SchedulerJob") == 0)
        return "SchedulerJob";
    if (strcmp(arg, "worker") == 0 || strcmp(arg, "WorkerJob") == 0)
        return "WorkerJob";
    return "?";
}

int
cli_jobs_check(const struct cli_args *a)
{
    const char *type = job_type(cli_arg(a, "job-type", NULL));
    double max_age = atof(cli_arg(a, "max-age", "60"));
    struct store *s;
    struct err e = {0};
    int alive = 0;
    char containment[PATH_MAX + 64];

    if ((type && strcmp(type, "?") == 0) || max_age <= 0)
        return cli_usage_error(a);
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_jobs_alive(s, type, max_age, &alive, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    store_free(s);
    executor_containment_probe(containment, sizeof(containment));
    printf("Task containment on this host: %s\n", containment);
    if (alive == 0) {
        fprintf(stderr, "No alive %s job found.\n", type ? type : "");
        return EXIT_FAIL;
    }
    printf("Found %d alive %s job(s).\n", alive, type ? type : "");
    return EXIT_OK;
}

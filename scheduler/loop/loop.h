/* loop_int: the state of `gust scheduler` / `gust worker`'s tick (loop.c), set up by the
 * verbs in cli_daemon.c. Not a public API. */
#ifndef GUST_LOOP_INT_H
#define GUST_LOOP_INT_H

#include <stdbool.h>
#include <time.h>

#include "err.h"
#include "runner/runner.h"
#include "timetable/timetable.h"

struct store;
struct dagbag;
struct loop_good;
struct statsd;

struct loop_ctx {
    enum runner_mode mode;
    struct store *store;
    const char *folder;      /* the DAG folder */
    const char *logs_folder; /* to note lease expiries in the tries' logs */
    enum timetable_semantics sem;
    double lease_seconds;
    time_t scan_interval; /* seconds between DAG folder checks */
    time_t next_scan;
    unsigned long long fingerprint; /* of the folder's *.yaml files: names, sizes, mtimes */
    char hostname[256];
    int num_runs; /* stop after this many scheduler loops (Airflow's --num-runs); 0: never */
    int loops;
    bool once;              /* stop when no run is active or due */
    struct loop_good *good; /* the last good text of each DAG file (loop_keep.c) */
    size_t n_good;
    /* metrics (loop_metrics.c): the client (borrowed; NULL: off), the last folder load's
     * figures, when the pool gauges are due (monotonic) */
    struct statsd *statsd;
    size_t import_errors, dagbag_size;
    double parse_seconds;
    bool folder_loaded;
    double next_pool_gauges;
    /* schedule_dags (loop.c): when each DAG of due_bag (same order) next has a scheduled run
     * to create (0: unknown, ask the database; DUE_NEVER: never); all unknown again when
     * due_reset is set (by a reload) and at due_refresh */
    time_t *due;
    size_t n_due;
    const struct dagbag *due_bag;
    bool due_reset;
    time_t due_refresh;
};

/* Free what the tick kept (the last good DAG files). */
void loop_ctx_clear(struct loop_ctx *c);

/* After a reload into bag: keep the text of every file that loaded without an error, and put
 * back into bag the DAGs of a file that now fails to load, from its last good text (logged
 * once per breakage; the scheduler notes it in the file's import_error row). */
void loop_keep_last_good(struct loop_ctx *c, struct runner *r, struct dagbag *bag);

/* The runner tick of the scheduler and the worker. */
int loop_tick(void *arg, struct runner *r, time_t now, time_t *next, struct err *e);

/* Create the asset-triggered runs whose condition holds (loop_asset.c). */
void loop_assets(struct loop_ctx *c, struct runner *r, time_t now);

/* Metrics (loop_metrics.c; no-ops when metrics are off). The scheduler's folder gauges after
 * a load of bag that took parse_seconds (bag NULL: the folder did not change, send the last
 * figures again); the pool gauges (one query, at most every few seconds); the schedule
 * delays (seconds) of the runs of dag_id just promoted. */
void loop_metric_folder(struct loop_ctx *c, const struct dagbag *bag, double parse_seconds);
void loop_metric_pools(struct loop_ctx *c, struct runner *r);
void loop_metric_schedule_delays(struct loop_ctx *c, const char *dag_id, const double *delays,
                                 size_t n);

/* Load the DAG folder into a new bag (the files' diagnostics are in it); NULL and e set when
 * the folder cannot be read. Prints nothing. */
struct dagbag *loop_load_bag(const char *folder, struct err *e);

/* A fingerprint of the DAG files under folder (paths, sizes, mtimes); 0 when unreadable. */
unsigned long long loop_folder_fingerprint(const char *folder);

#endif

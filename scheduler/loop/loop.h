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
    bool once; /* stop when no run is active or due */
};

/* The runner tick of the scheduler and the worker. */
int loop_tick(void *arg, struct runner *r, time_t now, time_t *next, struct err *e);

/* Load the DAG folder into a new bag (the files' diagnostics are in it); NULL and e set when
 * the folder cannot be read. Prints nothing. */
struct dagbag *loop_load_bag(const char *folder, struct err *e);

/* A fingerprint of the DAG files under folder (paths, sizes, mtimes); 0 when unreadable. */
unsigned long long loop_folder_fingerprint(const char *folder);

#endif

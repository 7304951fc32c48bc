/* runner: drives DAG runs to their end in this process: asks plan what changes, records it
 * in the store, starts tries with the executor, records how they ended. One single-threaded
 * poll() loop; wake-ups are events (a child's output or exit, a signal) or the nearest
 * deadline (a task timeout, a retry coming due), never a polling sleep.
 *
 * Used by `gust dags trigger --local` (like `airflow dags test`); the scheduler daemon
 * builds on the same pieces. */
#ifndef GUST_RUNNER_H
#define GUST_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "plan.h"

struct store;
struct dagbag;
struct runner;

/* What happened, for progress displays. task_id NULL: the run itself changed state. */
struct runner_event {
    const char *dag_id;
    const char *run_id;
    const char *task_id;
    enum ti_state ti_state;   /* when task_id is set */
    enum run_state run_state; /* when task_id is NULL */
    int try_number;
    const char *detail; /* "exit 1", "timed out after 30 s", ... or NULL */
};

struct runner_opts {
    const char *logs_folder; /* default $GUST_LOGS_FOLDER, else ./logs */
    int parallelism;         /* tries running at once; default $GUST_PARALLELISM, else 32 */
    double kill_grace;       /* SIGTERM -> SIGKILL on timeout; default 10 s */
    size_t xcom_max_bytes;   /* default $GUST_XCOM_MAX_BYTES, else 1 MiB */
    void (*on_event)(void *arg, const struct runner_event *ev);
    void *arg;
};

/* New runner over a store and a loaded DAG bag (both borrowed, must outlive the runner). */
struct runner *runner_new(struct store *s, const struct dagbag *bag, const struct runner_opts *opts,
                          struct err *e);
void runner_free(struct runner *r);

/* Take charge of an existing run (queued or running). Runs created by its
 * TriggerDagRunOperator tasks are added automatically. */
int runner_add(struct runner *r, const char *dag_id, const char *run_id, struct err *e);

/* Run until every run taken in charge has finished, or SIGINT/SIGTERM (then running tries
 * are terminated, their ends recorded, unfinished runs marked failed, and -1 returned with
 * "interrupted"). */
int runner_run(struct runner *r, struct err *e);

/* The final state of a run taken in charge (RUN_RUNNING if it has not finished). */
enum run_state runner_run_state(const struct runner *r, const char *dag_id, const char *run_id);

#endif

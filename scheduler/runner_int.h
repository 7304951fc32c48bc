/* runner_int: what runner.c and runner_task.c share. Not a public API. */
#ifndef GUST_RUNNER_INT_H
#define GUST_RUNNER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"
#include "plan.h"

struct dag;
struct dagbag;
struct store;

/* A run this process drives. */
struct active_run {
    char *dag_id, *run_id;
    const struct dag *dag; /* borrowed from the bag */
    struct plan_graph *graph;
    const char **sorted_ids; /* task ids sorted, for lookups of store rows */
    size_t *sorted_idx;      /* task index of sorted_ids[i] */
    enum run_state state;
    time_t logical_date, di_start, di_end;
    char logical_iso[32]; /* logical date as Airflow prints it, for the retry jitter */
    char *conf_json;      /* the run's conf */
    char *params_json;    /* DAG params with the conf over them */
    bool dirty;           /* something changed: plan again */
    bool finished;
    time_t wakeup;  /* a retry comes due then (0: none) */
    int *max_tries; /* per task, from the store: retries, or more after a clear */
};

/* One try in flight: an executor job, or a trigger waiting for its run. */
struct
try {
    struct active_run *run;
    size_t task; /* index in run->dag->tasks */
    int try_number;
    int max_tries; /* tries after the first one this task instance may have */
    char *log_path;
    char *xcom_path;
    struct active_run *waiting_for;
};

struct try_end {
    bool has_exit_code;
    int exit_code, term_signal;
    time_t start, end;
    double duration;
    char detail[300];
};

struct try_cmd {
    char **argv;
    char **envp;
};

/* A run in memory only (gust tasks test); active_run_load reads one from the store. */
struct active_run *active_run_new(const struct dag *dag, const char *run_id, time_t logical_date,
                                  time_t di_start, time_t di_end, const char *conf_json,
                                  struct err *e);
struct active_run *active_run_load(struct store *s, const struct dag *dag, const char *run_id,
                                   struct err *e);
void active_run_free(struct active_run *run);

/* Re-read the run's task instances, plan, record the changes. *queued (malloc'd) lists the
 * task indices that this step moved to queued: the caller starts them. */
int runner_plan_step(struct store *s, struct active_run *run, int free_slots,
                     struct plan_result *res, size_t **queued, size_t *n_queued, struct err *e);

/* logs/dag_id=D/run_id=R/task_id=T/attempt=N.log and the XCom file beside it. */
int runner_try_paths(const char *logs_folder, const struct active_run *run, const char *task_id,
                     int try_number, char **log_path, char **xcom_path);

/* Render the task's templates and build its argv and environment. ERR_USAGE: a permanent
 * problem (the task cannot run as written). */
int runner_build_command(struct store *s, const struct try *t, char **parent_env,
                         const char *bindir, struct try_cmd *cmd, struct err *e);
void try_cmd_clear(struct try_cmd *cmd);

/* Push the try's result as XCom return_value: Bash's last stdout line as a string, a
 * KubernetesPodOperator's return.json parsed. */
int runner_push_xcom(struct store *s, const struct try *t, const char *last_line, size_t max_bytes,
                     struct err *e);

/* TriggerDagRunOperator: render, create the run of the target DAG, push trigger_run_id. */
int runner_trigger_run(struct store *s, const struct dagbag *bag, const struct try *t,
                       char *dag_out, size_t dag_size, char *run_out, size_t run_size,
                       struct err *e);

/* Render one template string of a try (the rendering context of its run). */
int runner_render(struct store *s, const struct try *t, const char *src, char **out, struct err *e);

/* The folder of the running binary (task executables live beside gust). */
void runner_bindir(char out[4096]);

/* A new run id: "<type>__<ISO time with microseconds>", Airflow's convention. */
void runner_make_run_id(const char *type, char *buf, size_t size, time_t *logical_date);

#endif

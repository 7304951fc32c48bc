/* cli_run: the verbs that create and watch DAG runs: `dags trigger`, `dags state`,
 * `dags list-runs`.
 *
 * `dags trigger --local` drives the run in this process with the runner (like `airflow
 * dags test`, but state is recorded). Without --local the run is created queued for a
 * scheduler; --wait then watches the database. Nothing is written when the input is bad
 * (conf that is not a JSON object, an unknown DAG, a run id that exists or breaks Airflow's
 * rule, runid_check). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "log.h"
#include "progress/progress.h"
#include "runner/runner.h"
#include "runid.h"
#include "store/store.h"
#include "timetable/timetable.h"
#include "schedule/tz.h"

struct trigger_args {
    const char *dag_id, *conf, *run_id, *logical, *subdir;
    bool wait, local;
};

static void
parse_trigger(const struct cli_args *a, struct trigger_args *t)
{
    t->dag_id = a->argv[0];
    t->conf = cli_arg(a, "conf", NULL);
    t->run_id = cli_arg(a, "run-id", NULL);
    t->logical = cli_arg(a, "logical-date", cli_arg(a, "exec-date", NULL));
    t->subdir = cli_arg(a, "subdir", NULL);
    t->local = cli_flag(a, "local");
    t->wait = t->local || cli_flag(a, "wait");
}

/* conf must be a JSON object; returns its compact text (malloc'd) or NULL after a message. */
static char *
check_conf(const char *conf)
{
    json_error_t je;
    json_t *v;
    char *out;

    if (conf == NULL)
        return strdup("{}");
    v = json_loads(conf, 0, &je);
    if (v == NULL) {
        log_error("--conf is not valid JSON: %s (column %d)", je.text, je.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        log_error("--conf must be a JSON object, like '{\"key\": \"value\"}'");
        json_decref(v);
        return NULL;
    }
    out = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return out;
}

/* Run it here with the runner; exit code from the outcome. */
static int
run_local(struct store *s, const struct dagbag *bag, const char *dag_id, const char *run_id)
{
    struct progress *p = progress_new(stdout, isatty(STDOUT_FILENO));
    struct runner_opts o = {.on_event = progress_event, .arg = p};
    struct err e = {0};
    struct runner *r = runner_new(s, bag, &o, &e);
    int rc = EXIT_FAIL;

    if (r == NULL || runner_add(r, dag_id, run_id, &e) < 0 || runner_run(r, &e) < 0)
        log_error("%s", e.msg);
    else if (runner_run_state(r, dag_id, run_id) == RUN_SUCCESS)
        rc = EXIT_OK;
    if (r)
        printf("run %s of %s: %s\n", run_id, dag_id,
               run_state_name(runner_run_state(r, dag_id, run_id)));
    runner_free(r);
    progress_free(p);
    return rc;
}

/* Create the run: named -r, else after -l, else after now (a fresh microsecond). */
static int
create_run(struct store *s, const struct dag *dag, const struct trigger_args *a, time_t logical,
           const char *conf, char *run_id, struct err *e)
{
    long long id;
    time_t di_start, di_end;

    if (a->run_id == NULL && a->logical == NULL)
        return store_run_create_manual(s, dag, conf, "cli", run_id, RUNID_SIZE, &id, e);
    if (a->run_id)
        snprintf(run_id, RUNID_SIZE, "%s", a->run_id); /* it fits: runid_check passed */
    else
        runid_format("manual", logical, -1, run_id, RUNID_SIZE);
    timetable_manual_interval(dag, logical, &di_start, &di_end);
    return store_run_create(s, dag, run_id, "manual", logical, di_start, di_end, conf, "cli",
                            time(NULL), &id, e);
}

int
cli_dags_trigger(const struct cli_args *args)
{
    struct trigger_args a = {0};
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    const struct dag *dag;
    struct err e = {0};
    char run_id[RUNID_SIZE], *conf = NULL;
    time_t logical;
    long usec;
    int rc;

    runid_clock(&logical, &usec); /* -r without -l: the logical date is now */
    parse_trigger(args, &a);
    if (a.run_id && runid_check(a.run_id, &e) < 0) {
        log_error("--run-id: %s", e.msg);
        return EXIT_USAGE;
    }
    if ((conf = check_conf(a.conf)) == NULL)
        return EXIT_USAGE;
    rc = EXIT_FAIL;
    if ((bag = cli_load_bag(a.subdir)) == NULL || (dag = cli_find_dag(bag, a.dag_id)) == NULL)
        goto out;
    if (a.logical && tz_parse_iso(dag->timezone, a.logical, &logical, &e) < 0) {
        log_error("--logical-date: %s", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((s = cli_open_store()) == NULL)
        goto out;
    if (create_run(s, dag, &a, logical, conf, run_id, &e) < 0) {
        log_error("%s", e.msg);
        goto out;
    }
    printf("%s\n", run_id);
    fflush(stdout);
    if (a.local)
        rc = run_local(s, bag, a.dag_id, run_id);
    else if (a.wait)
        rc = cli_watch_run(s, a.dag_id, run_id);
    else
        rc = EXIT_OK;
out:
    free(conf);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

int
cli_dags_state(const struct cli_args *a)
{
    struct store_run run = {0};
    struct err e = {0};
    struct store *s;
    int rc = EXIT_FAIL;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_run_get(s, a->argv[0], a->argv[1], &run, &e) < 0) {
        log_error("%s", e.msg);
    } else {
        if (run.conf_json && strcmp(run.conf_json, "{}") != 0)
            printf("%s, %s\n", run_state_name(run.state), run.conf_json);
        else
            printf("%s\n", run_state_name(run.state));
        rc = EXIT_OK;
    }
    store_run_clear(&run);
    store_free(s);
    return rc;
}

static json_t *
run_json(const struct store_run *r)
{
    char ld[32] = "", sd[32] = "", ed[32] = "";

    tz_format("UTC", r->logical_date, ld, NULL);
    if (r->start_date)
        tz_format("UTC", r->start_date, sd, NULL);
    if (r->end_date)
        tz_format("UTC", r->end_date, ed, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s}", "dag_id", r->dag_id, "run_id",
                     r->run_id, "state", run_state_name(r->state), "logical_date", ld, "start_date",
                     *sd ? sd : NULL, "end_date", *ed ? ed : NULL, "run_type",
                     r->run_type ? r->run_type : "");
}

int
cli_dags_list_runs(const struct cli_args *a)
{
    const char *dag_id = cli_arg(a, "dag-id", a->argc == 1 ? a->argv[0] : NULL);
    struct store_run *runs = NULL;
    struct err e = {0};
    struct store *s;
    size_t n = 0;
    json_t *arr;

    if (dag_id == NULL || (a->argc == 1 && cli_flag(a, "dag-id")))
        return cli_usage_error(a);
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_runs_list(s, dag_id, cli_arg(a, "state", NULL), 0, &runs, &n, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, run_json(&runs[i]));
    cli_print_rows(arr, cli_arg(a, "output", "table"),
                   (const char *[]){"dag_id", "run_id", "state", "logical_date", "start_date",
                                    "end_date", NULL});
    json_decref(arr);
    store_runs_free(runs, n);
    store_free(s);
    return EXIT_OK;
}

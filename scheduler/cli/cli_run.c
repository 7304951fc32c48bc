/* cli_run: the verbs that create and watch DAG runs: `dags trigger`, `dags test`, `dags
 * state`, `dags list-runs`.
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
    const char *dag_id, *conf, *run_id, *logical, *subdir, *output;
    bool wait, local;
    bool again; /* dags test: an existing run of that logical date is cleared and run again */
};

static void
parse_trigger(const struct cli_args *a, struct trigger_args *t)
{
    t->dag_id = a->argv[0];
    t->conf = cli_arg(a, "conf", NULL);
    t->run_id = cli_arg(a, "run-id", NULL);
    t->logical = cli_arg(a, "logical-date", cli_arg(a, "exec-date", NULL));
    t->subdir = cli_arg(a, "subdir", NULL);
    t->output = cli_arg(a, "output", NULL);
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

/* -o json|yaml|plain|table: the run created as Airflow prints it; else its run id. */
static void
print_created(struct store *s, const struct trigger_args *a, const char *run_id)
{
    static const char *const cols[] = {"conf",     "dag_id", "dag_run_id",       "logical_date",
                                       "run_type", "state",  "external_trigger", NULL};
    struct store_run r = {0};
    struct err e = {0};
    char ld[32] = "";
    json_t *rows, *conf;

    if (a->output == NULL || store_run_get(s, a->dag_id, run_id, &r, &e) < 0) {
        printf("%s\n", run_id);
        return;
    }
    tz_format("UTC", r.logical_date, ld, NULL);
    if ((conf = json_loads(r.conf_json, 0, NULL)) == NULL)
        conf = json_object();
    rows = json_pack("[{s:o, s:s, s:s, s:s, s:s, s:s, s:b}]", "conf", conf, "dag_id", r.dag_id,
                     "dag_run_id", r.run_id, "logical_date", ld, "run_type",
                     r.run_type ? r.run_type : "manual", "state", run_state_name(r.state),
                     "external_trigger", 1);
    cli_print_rows(rows, a->output, cols);
    json_decref(rows);
    store_run_clear(&r);
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

/* Create the run (dags test: or clear it) and start it as a asks. */
static int
trigger(struct trigger_args a, time_t logical)
{
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    const struct dag *dag;
    struct err e = {0};
    char run_id[RUNID_SIZE], *conf = NULL;
    int rc, cleared = 0;

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
    if (dag_params_validate(dag, conf, &e) < 0) { /* Airflow's ParamValidationError: no run */
        log_error("dag %s: %s", a.dag_id, e.msg);
        goto out;
    }
    if ((s = cli_open_store()) == NULL)
        goto out;
    if (create_run(s, dag, &a, logical, conf, run_id, &e) < 0 &&
        (!a.again || e.code != ERR_EXISTS ||
         store_tis_clear(s, a.dag_id, dag, run_id, NULL, false, time(NULL), &cleared, NULL, &e) <
             0)) {
        log_error("%s", e.msg);
        goto out;
    }
    print_created(s, &a, run_id);
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
cli_dags_trigger(const struct cli_args *args)
{
    struct trigger_args a = {0};
    time_t logical;
    long usec;

    runid_clock(&logical, &usec); /* -r without -l: the logical date is now */
    parse_trigger(args, &a);
    return trigger(a, logical);
}

/* Airflow's `dags test`: one run at LOGICAL_DATE (default now) here, recorded; a run of that
 * date already there is cleared and runs again. */
int
cli_dags_test(const struct cli_args *args)
{
    struct trigger_args a = {.dag_id = args->argv[0],
                             .logical = args->argc > 1 ? args->argv[1] : NULL,
                             .conf = cli_arg(args, "conf", NULL),
                             .subdir = cli_arg(args, "subdir", NULL),
                             .local = true,
                             .wait = true,
                             .again = true};
    time_t logical;
    long usec;

    runid_clock(&logical, &usec);
    return trigger(a, logical);
}

int
cli_dags_state(const struct cli_args *a)
{
    struct store_run run = {0};
    struct err e = {0};
    struct store *s;
    char *run_id = NULL;
    int rc = EXIT_FAIL;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (cli_resolve_run(s, a->argv[0], a->argv[1], &run_id) < 0) {
        /* the message is printed */
    } else if (store_run_get(s, a->argv[0], run_id, &run, &e) < 0) {
        log_error("%s", e.msg);
    } else {
        if (run.conf_json && strcmp(run.conf_json, "{}") != 0)
            printf("%s, %s\n", run_state_name(run.state), run.conf_json);
        else
            printf("%s\n", run_state_name(run.state));
        rc = EXIT_OK;
    }
    free(run_id);
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

/* --start-date/--end-date/--limit into f; EXIT_OK, or EXIT_USAGE after a message. */
static int
parse_runs_filter(const struct cli_args *a, struct store_runs_filter *f)
{
    const char *start = cli_arg(a, "start-date", NULL), *end = cli_arg(a, "end-date", NULL);
    const char *limit = cli_arg(a, "limit", NULL);
    struct err e = {0};
    char *rest = NULL;

    f->state = cli_arg(a, "state", NULL);
    f->no_backfill = cli_flag(a, "no-backfill");
    if ((start && tz_parse_iso("UTC", start, &f->start, &e) < 0) ||
        (end && tz_parse_iso("UTC", end, &f->end, &e) < 0)) {
        log_error("dags list-runs: %s", e.msg);
        return EXIT_USAGE;
    }
    if (end && strchr(end, 'T') == NULL && strchr(end, ' ') == NULL)
        f->end += 86400 - 1; /* a date alone: the whole day */
    if (limit && ((f->limit = (int)strtol(limit, &rest, 10)) <= 0 || *rest)) {
        log_error("dags list-runs: --limit must be a positive number, not '%s'", limit);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int
cli_dags_list_runs(const struct cli_args *a)
{
    struct store_runs_filter f = {.dag_id = cli_arg(a, "dag-id", a->argc == 1 ? a->argv[0] : NULL)};
    struct store_run *runs = NULL;
    struct err e = {0};
    struct store *s;
    size_t n = 0;
    json_t *arr;
    int rc;

    if (f.dag_id == NULL || (a->argc == 1 && cli_flag(a, "dag-id")))
        return cli_usage_error(a);
    if ((rc = parse_runs_filter(a, &f)) != EXIT_OK)
        return rc;
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_runs_filter(s, &f, &runs, &n, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return e.code == ERR_USAGE ? EXIT_USAGE : EXIT_FAIL;
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

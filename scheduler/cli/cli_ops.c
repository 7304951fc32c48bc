/* cli_ops: operations verbs: `dags pause|unpause`, `dags backfill` and Airflow 3's
 * `backfill create`, `variables get|set|list|delete`.
 *
 * Backfill runs in this process like Airflow 2's: it creates (or clears, or skips) the runs
 * of every schedule tick in [START, END] and drives them with the runner, at most
 * --max-active-runs at a time, oldest first (newest first with `backfill create
 * --run-backwards`). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "conn.h"
#include "dagfile/dagfile.h"
#include "log.h"
#include "progress/progress.h"
#include "runid.h"
#include "runner/runner.h"
#include "timetable/timetable.h"
#include "store/store.h"
#include "schedule/tz.h"

/* ---- pause ---- */

static int
set_paused(const char *dag_id, bool paused)
{
    struct err e = {0};
    struct store *s;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_dag_set_paused(s, dag_id, paused, &e) < 0) {
        log_error("%s%s", e.msg,
                  e.code == ERR_NOTFOUND ? " (run 'gust dags reserialize' or start the scheduler "
                                           "so the DAG is recorded)"
                                         : "");
        store_free(s);
        return EXIT_FAIL;
    }
    printf("Dag: %s, paused: %s\n", dag_id, paused ? "True" : "False");
    store_free(s);
    return EXIT_OK;
}

int
cli_dags_pause(const struct cli_args *a)
{
    if (cli_flag(a, "treat-dag-id-as-regex"))
        return cli_set_paused_regex(a, true);
    return set_paused(a->argv[0], true);
}

int
cli_dags_unpause(const struct cli_args *a)
{
    if (cli_flag(a, "treat-dag-id-as-regex"))
        return cli_set_paused_regex(a, false);
    return set_paused(a->argv[0], false);
}

/* ---- variables ---- */

int
cli_variables_list(const struct cli_args *a)
{
    char **keys = NULL, **vals = NULL;
    size_t n = 0;
    struct err e = {0};
    struct store *s;
    json_t *arr;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_variables_list(s, &keys, &vals, &n, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    store_free(s);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        /* a secret-looking key's value is shown as ***, as Airflow's masker does */
        const char *val = vals[i] && conn_key_is_secret(keys[i]) ? "***" : vals[i];
        json_array_append_new(arr, json_pack("{s:s, s:s}", "key", keys[i], "val", val ? val : ""));
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
    cli_print_rows(arr, cli_arg(a, "output", "table"), (const char *[]){"key", "val", NULL});
    json_decref(arr);
    return EXIT_OK;
}

/* Print a variable's value; -j: as JSON (it must be JSON). */
static int
print_variable(const struct cli_args *a, const char *val)
{
    json_t *v;
    char *text;

    if (conn_key_is_secret(a->argv[0]) && !cli_flag(a, "reveal")) {
        puts("***");
        return EXIT_OK;
    }
    if (!cli_flag(a, "json")) {
        puts(val);
        return EXIT_OK;
    }
    if ((v = json_loads(val, JSON_DECODE_ANY, NULL)) == NULL) {
        log_error("variable '%s' is not JSON (-j/--json reads it as JSON)", a->argv[0]);
        return EXIT_FAIL;
    }
    text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    puts(text ? text : "");
    free(text);
    json_decref(v);
    return EXIT_OK;
}

int
cli_variables_get(const struct cli_args *a)
{
    struct err e = {0};
    char *val = NULL;
    const char *def = cli_arg(a, "default", NULL);
    struct store *s = cli_open_store();
    int rc = EXIT_FAIL;

    if (s == NULL)
        return EXIT_FAIL;
    if (store_variable_get(s, a->argv[0], &val, &e) < 0)
        log_error("%s", e.msg);
    else if (val == NULL && def == NULL)
        log_error("Variable %s does not exist", a->argv[0]);
    else
        rc = print_variable(a, val ? val : def);
    free(val);
    store_free(s);
    return rc;
}

int
cli_variables_set(const struct cli_args *a)
{
    struct err e = {0};
    struct store *s = cli_open_store();
    int rc = EXIT_FAIL;

    if (s == NULL)
        return EXIT_FAIL;
    if (store_variable_set(s, a->argv[0], a->argv[1], &e) < 0)
        log_error("%s", e.msg);
    else {
        printf("Variable %s created\n", a->argv[0]);
        rc = EXIT_OK;
    }
    store_free(s);
    return rc;
}

int
cli_variables_delete(const struct cli_args *a)
{
    struct err e = {0};
    bool deleted = false;
    struct store *s = cli_open_store();
    int rc = EXIT_FAIL;

    if (s == NULL)
        return EXIT_FAIL;
    if (store_variable_delete(s, a->argv[0], &deleted, &e) < 0)
        log_error("%s", e.msg);
    else if (!deleted)
        log_error("variable '%s' does not exist", a->argv[0]);
    else {
        printf("Variable %s deleted\n", a->argv[0]);
        rc = EXIT_OK;
    }
    store_free(s);
    return rc;
}

/* ---- backfill ---- */

struct backfill {
    const char *dag_id, *start_s, *end_s, *subdir;
    bool reset, rerun_failed, dry_run, backwards;
    int max_active;
    enum timetable_semantics sem;
    char (*ids)[RUNID_SIZE]; /* run ids to drive, oldest first */
    size_t n, next;
};

/* The backfill's settings from the arguments; -1 when --max-active-runs is negative. */
static int
parse_backfill(const struct cli_args *a, struct backfill *b)
{
    b->dag_id = a->argv[0];
    b->start_s = cli_arg(a, "start-date", NULL);
    b->end_s = cli_arg(a, "end-date", NULL);
    b->subdir = cli_arg(a, "subdir", NULL);
    b->reset = cli_flag(a, "reset-dagruns");
    b->rerun_failed = cli_flag(a, "rerun-failed-tasks");
    b->dry_run = cli_flag(a, "dry-run");
    b->max_active = atoi(cli_arg(a, "max-active-runs", "0"));
    return b->max_active < 0 ? -1 : 0;
}

/* Create, clear or skip the run of one tick; returns 1 when it is to be driven. */
static int
prepare_run(struct store *s, const struct dag *dag, struct backfill *b,
            const struct timetable_run *sr, const char *run_id, struct err *e)
{
    struct store_run existing = {0};
    long long id;
    int cleared = 0, running = 0;
    const char *action;
    int rc;

    if (store_run_get(s, dag->dag_id, run_id, &existing, e) == 0) {
        action = b->reset          ? "clear and run again"
                 : b->rerun_failed ? "re-run failed tasks"
                                   : "exists, left alone";
        rc = (b->reset || b->rerun_failed) ? 1 : 0;
        if (rc && !b->dry_run &&
            store_tis_clear(s, dag->dag_id, dag, run_id, NULL, !b->reset, time(NULL), &cleared,
                            &running, e) < 0)
            rc = -1;
        store_run_clear(&existing);
    } else if (e->code == ERR_NOTFOUND) {
        action = "create and run";
        rc = 1;
        if (!b->dry_run &&
            store_run_create(s, dag, run_id, "backfill", sr->logical_date, sr->data_interval_start,
                             sr->data_interval_end, "{}", "backfill", time(NULL), &id, e) < 0)
            rc = -1;
    } else {
        return -1;
    }
    printf("%s%s: %s\n", b->dry_run ? "[dry run] " : "", run_id, action);
    return rc;
}

/* Keep at most max_active backfill runs going: add the next ones as others finish. */
static int
backfill_tick(void *arg, struct runner *r, time_t now, time_t *next, struct err *e)
{
    struct backfill *b = arg;

    while (b->next < b->n && (int)runner_active_runs(r) < b->max_active)
        if (runner_add(r, b->dag_id, b->ids[b->next++], e) < 0)
            return -1;
    *next = b->next < b->n ? now + 1 : 0;
    return 0;
}

static int
drive(struct store *s, const struct dagbag *bag, struct backfill *b)
{
    struct progress *p = progress_new(stdout, false);
    struct runner_opts o = {.mode = RUNNER_LOCAL,
                            .on_event = progress_event,
                            .arg = p,
                            .tick = backfill_tick,
                            .tick_arg = b};
    struct err e = {0};
    struct runner *r = runner_new(s, bag, &o, &e);
    int rc = EXIT_OK;

    if (r == NULL || runner_run(r, &e) < 0) {
        log_error("%s", e.msg);
        rc = EXIT_FAIL;
    }
    for (size_t i = 0; r && i < b->n; i++)
        if (runner_run_state(r, b->dag_id, b->ids[i]) != RUN_SUCCESS)
            rc = EXIT_FAIL;
    runner_free(r);
    progress_free(p);
    return rc;
}

/* Create, clear or skip the run of every tick in [START, END], then drive them here. */
static int
run_backfill(struct backfill *b)
{
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    struct timetable_run *runs = NULL;
    const struct dag *dag;
    struct err e = {0};
    time_t start, end;
    long n = 0;
    int rc = EXIT_FAIL;

    if (timetable_semantics_parse(getenv("GUST_SCHEDULE_SEMANTICS"), &b->sem) < 0 ||
        (bag = cli_load_bag(b->subdir)) == NULL || (dag = cli_find_dag(bag, b->dag_id)) == NULL)
        goto out;
    if (tz_parse_iso(dag->timezone, b->start_s, &start, &e) < 0 ||
        tz_parse_iso(dag->timezone, b->end_s, &end, &e) < 0 || end < start) {
        log_error("%s", e.msg[0] ? e.msg : "END is before START");
        rc = EXIT_USAGE;
        goto out;
    }
    if ((n = timetable_backfill_runs(dag, b->sem, start, end, 10000, &runs, &e)) < 0) {
        log_error("%s", e.msg);
        goto out;
    }
    if (b->max_active == 0)
        b->max_active = dag->max_active_runs > 0 ? dag->max_active_runs : 16;
    if ((s = cli_open_store()) == NULL || (b->ids = calloc((size_t)n + 1, sizeof(*b->ids))) == NULL)
        goto out;
    for (long k = 0; k < n; k++) {
        long i = b->backwards ? n - 1 - k : k;
        char run_id[RUNID_SIZE];
        int r;

        runid_format("backfill", runs[i].logical_date, -1, run_id, sizeof(run_id));
        if ((r = prepare_run(s, dag, b, &runs[i], run_id, &e)) < 0) {
            log_error("%s: %s", run_id, e.msg);
            goto out;
        }
        if (r == 1)
            snprintf(b->ids[b->n++], sizeof(b->ids[0]), "%s", run_id);
    }
    if (n == 0)
        printf("no schedule tick of %s between %s and %s\n", b->dag_id, b->start_s, b->end_s);
    rc = b->dry_run || b->n == 0 ? EXIT_OK : drive(s, bag, b);
out:
    free(runs);
    free(b->ids);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

int
cli_dags_backfill(const struct cli_args *a)
{
    struct backfill b = {0};

    if (parse_backfill(a, &b) < 0)
        return cli_usage_error(a);
    return run_backfill(&b);
}

/* Airflow 3's `backfill create`: --reprocess-behavior none (existing runs left alone),
 * failed (their failed tasks run again) or completed (they run again). */
int
cli_backfill_create(const struct cli_args *a)
{
    const char *reprocess = cli_arg(a, "reprocess-behavior", "none");
    struct backfill b = {.dag_id = cli_arg(a, "dag-id", NULL),
                         .start_s = cli_arg(a, "from-date", NULL),
                         .end_s = cli_arg(a, "to-date", NULL),
                         .subdir = cli_arg(a, "subdir", NULL),
                         .dry_run = cli_flag(a, "dry-run"),
                         .backwards = cli_flag(a, "run-backwards"),
                         .max_active = atoi(cli_arg(a, "max-active-runs", "0"))};

    if (strcmp(reprocess, "failed") == 0)
        b.rerun_failed = true;
    else if (strcmp(reprocess, "completed") == 0)
        b.reset = true;
    else if (strcmp(reprocess, "none") != 0) {
        log_error("backfill create: --reprocess-behavior is none, failed or completed, not '%s'",
                  reprocess);
        return cli_usage_error(a);
    }
    if (b.max_active < 0)
        return cli_usage_error(a);
    return run_backfill(&b);
}

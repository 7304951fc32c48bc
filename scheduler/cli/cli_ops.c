/* cli_ops: operations verbs: `dags pause|unpause`, `dags backfill`, `variables
 * get|set|list|delete`.
 *
 * Backfill runs in this process like Airflow 2's: it creates (or clears, or skips) the runs
 * of every schedule tick in [START, END] and drives them with the runner, at most
 * --max-active-runs at a time, oldest first. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "progress/progress.h"
#include "runid.h"
#include "runner/runner.h"
#include "schedule/timetable.h"
#include "store/store.h"
#include "schedule/tz.h"

/* ---- pause ---- */

static int
set_paused(int argc, char **argv, bool paused)
{
    struct err e = {0};
    struct store *s;

    if (cli_wants_help(argc, argv)) {
        printf("usage: gust dags %s DAG_ID\n", paused ? "pause" : "unpause");
        return EXIT_OK;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: gust dags %s DAG_ID\n", paused ? "pause" : "unpause");
        return EXIT_USAGE;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_dag_set_paused(s, argv[1], paused, &e) < 0) {
        fprintf(stderr, "gust: %s%s\n", e.msg,
                e.code == ERR_NOTFOUND ? " (run 'gust dags reserialize' or start the scheduler "
                                         "so the DAG is recorded)"
                                       : "");
        store_free(s);
        return EXIT_FAIL;
    }
    printf("Dag: %s, paused: %s\n", argv[1], paused ? "True" : "False");
    store_free(s);
    return EXIT_OK;
}

int
cmd_dags_pause(int argc, char **argv)
{
    return set_paused(argc, argv, true);
}

int
cmd_dags_unpause(int argc, char **argv)
{
    return set_paused(argc, argv, false);
}

/* ---- variables ---- */

static const char variables_usage[] = "usage: gust variables get KEY\n"
                                      "       gust variables set KEY VALUE\n"
                                      "       gust variables list [-o table|json]\n"
                                      "       gust variables delete KEY\n";

static int
variables_list(struct store *s, const char *output)
{
    char **keys = NULL, **vals = NULL;
    size_t n = 0;
    struct err e = {0};
    json_t *arr;

    if (store_variables_list(s, &keys, &vals, &n, &e) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
        return EXIT_FAIL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "key", keys[i], "val", vals[i] ? vals[i] : ""));
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
    cli_print_rows(arr, output, (const char *[]){"key", "val", NULL});
    json_decref(arr);
    return EXIT_OK;
}

static int
variables_do(struct store *s, int argc, char **argv)
{
    struct err e = {0};
    char *val = NULL;
    bool deleted = false;

    if (strcmp(argv[0], "get") == 0 && argc == 2) {
        if (store_variable_get(s, argv[1], &val, &e) < 0)
            return fprintf(stderr, "gust: %s\n", e.msg), EXIT_FAIL;
        if (val == NULL)
            return fprintf(stderr, "gust: variable '%s' does not exist\n", argv[1]), EXIT_FAIL;
        puts(val);
        free(val);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "set") == 0 && argc == 3) {
        if (store_variable_set(s, argv[1], argv[2], &e) < 0)
            return fprintf(stderr, "gust: %s\n", e.msg), EXIT_FAIL;
        printf("Variable %s created\n", argv[1]);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "delete") == 0 && argc == 2) {
        if (store_variable_delete(s, argv[1], &deleted, &e) < 0)
            return fprintf(stderr, "gust: %s\n", e.msg), EXIT_FAIL;
        if (!deleted)
            return fprintf(stderr, "gust: variable '%s' does not exist\n", argv[1]), EXIT_FAIL;
        printf("Variable %s deleted\n", argv[1]);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "list") == 0) {
        const char *output = argc == 3 && strcmp(argv[1], "-o") == 0 ? argv[2] : "table";

        if (argc != 1 && argc != 3)
            return fputs(variables_usage, stderr), EXIT_USAGE;
        return variables_list(s, output);
    }
    fputs(variables_usage, stderr);
    return EXIT_USAGE;
}

int
cmd_variables(int argc, char **argv)
{
    struct store *s;
    int rc;

    /* argv[0] is the verb: get, set, list, delete */
    if (cli_wants_help(argc, argv)) {
        fputs(variables_usage, stdout);
        return EXIT_OK;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    rc = variables_do(s, argc, argv);
    store_free(s);
    return rc;
}

/* ---- backfill ---- */

struct backfill {
    const char *dag_id, *start_s, *end_s, *subdir;
    bool reset, rerun_failed, dry_run;
    int max_active;
    enum timetable_semantics sem;
    char (*ids)[128]; /* run ids to drive, oldest first */
    size_t n, next;
};

static const char backfill_usage[] =
    "usage: gust dags backfill DAG_ID -s START -e END [--reset-dagruns] [--rerun-failed-tasks]\n"
    "                          [--max-active-runs N] [--dry-run]\n"
    "Run DAG_ID for every schedule tick from START to END (inclusive), here and now.\n"
    "Existing runs in the range are left alone, unless --reset-dagruns (clear and run them\n"
    "again) or --rerun-failed-tasks (clear their failed tasks).\n";

static int
parse_backfill(int argc, char **argv, struct backfill *b)
{
    static const struct option opts[] = {{"start-date", required_argument, NULL, 's'},
                                         {"end-date", required_argument, NULL, 'e'},
                                         {"reset-dagruns", no_argument, NULL, 'r'},
                                         {"rerun-failed-tasks", no_argument, NULL, 'f'},
                                         {"max-active-runs", required_argument, NULL, 'm'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"yes", no_argument, NULL, 'y'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:e:m:S:yh", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            b->start_s = optarg;
            break;
        case 'e':
            b->end_s = optarg;
            break;
        case 'r':
            b->reset = true;
            break;
        case 'f':
            b->rerun_failed = true;
            break;
        case 'm':
            b->max_active = atoi(optarg);
            break;
        case 'n':
            b->dry_run = true;
            break;
        case 'S':
            b->subdir = optarg;
            break;
        case 'y':
            break;
        case 'h':
            fputs(backfill_usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !b->start_s || !b->end_s || b->max_active < 0) {
        fputs(backfill_usage, stderr);
        return EXIT_USAGE;
    }
    b->dag_id = argv[optind];
    return -1;
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
        fprintf(stderr, "gust: %s\n", e.msg);
        rc = EXIT_FAIL;
    }
    for (size_t i = 0; r && i < b->n; i++)
        if (runner_run_state(r, b->dag_id, b->ids[i]) != RUN_SUCCESS)
            rc = EXIT_FAIL;
    runner_free(r);
    progress_free(p);
    return rc;
}

int
cmd_dags_backfill(int argc, char **argv)
{
    struct backfill b = {0};
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    struct timetable_run *runs = NULL;
    const struct dag *dag;
    struct err e = {0};
    time_t start, end;
    long n = 0;
    int rc;

    if ((rc = parse_backfill(argc, argv, &b)) >= 0)
        return rc;
    rc = EXIT_FAIL;
    if (timetable_semantics_parse(getenv("GUST_SCHEDULE_SEMANTICS"), &b.sem) < 0 ||
        (bag = cli_load_bag(b.subdir)) == NULL || (dag = cli_find_dag(bag, b.dag_id)) == NULL)
        goto out;
    if (tz_parse_iso(dag->timezone, b.start_s, &start, &e) < 0 ||
        tz_parse_iso(dag->timezone, b.end_s, &end, &e) < 0 || end < start) {
        fprintf(stderr, "gust: %s\n", e.msg[0] ? e.msg : "END is before START");
        rc = EXIT_USAGE;
        goto out;
    }
    if ((n = timetable_backfill_runs(dag, b.sem, start, end, 10000, &runs, &e)) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
        goto out;
    }
    if (b.max_active == 0)
        b.max_active = dag->max_active_runs > 0 ? dag->max_active_runs : 16;
    if ((s = cli_open_store()) == NULL || (b.ids = calloc((size_t)n + 1, sizeof(*b.ids))) == NULL)
        goto out;
    for (long i = 0; i < n; i++) {
        char run_id[128];
        int r;

        runid_format("backfill", runs[i].logical_date, -1, run_id, sizeof(run_id));
        if ((r = prepare_run(s, dag, &b, &runs[i], run_id, &e)) < 0) {
            fprintf(stderr, "gust: %s: %s\n", run_id, e.msg);
            goto out;
        }
        if (r == 1)
            snprintf(b.ids[b.n++], sizeof(b.ids[0]), "%s", run_id);
    }
    if (n == 0)
        printf("no schedule tick of %s between %s and %s\n", b.dag_id, b.start_s, b.end_s);
    rc = b.dry_run || b.n == 0 ? EXIT_OK : drive(s, bag, &b);
out:
    free(runs);
    free(b.ids);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

/* cli_run: the verbs that create and watch DAG runs: `dags trigger`, `dags state`,
 * `dags list-runs`.
 *
 * `dags trigger --local` drives the run in this process with the runner (like `airflow
 * dags test`, but state is recorded). Without --local the run is created queued for a
 * scheduler; --wait then watches the database. Nothing is written when the input is bad
 * (conf that is not a JSON object, an unknown DAG, a run id that exists). */
#include <errno.h>
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
#include "runner/runner.h"
#include "runner/runner_int.h"
#include "runid.h"
#include "store/store.h"
#include "schedule/tz.h"

struct trigger_args {
    const char *dag_id, *conf, *run_id, *logical, *subdir;
    bool wait, local;
};

static const char trigger_usage[] =
    "usage: gust dags trigger DAG_ID [-c|--conf JSON] [-r|--run-id ID] [-l|--logical-date TS]\n"
    "                         [--wait] [--local] [-S DAG_FOLDER]\n"
    "Create a run of DAG_ID and print its run id.\n"
    "  -c JSON    the run's conf (a JSON object); it overrides the DAG's params\n"
    "  -r ID      run id (default manual__<now, ISO-8601>)\n"
    "  -l TS      logical date (default now)\n"
    "  --wait     show progress until the run ends; exit 0 if it succeeded, 1 if it failed\n"
    "  --local    run it in this process now, without a scheduler (implies --wait)\n";

static int
parse_trigger(int argc, char **argv, struct trigger_args *a)
{
    static const struct option opts[] = {{"conf", required_argument, NULL, 'c'},
                                         {"run-id", required_argument, NULL, 'r'},
                                         {"logical-date", required_argument, NULL, 'l'},
                                         {"exec-date", required_argument, NULL, 'e'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"local", no_argument, NULL, 'L'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:l:e:S:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->conf = optarg;
            break;
        case 'r':
            a->run_id = optarg;
            break;
        case 'l':
        case 'e':
            a->logical = optarg;
            break;
        case 'w':
            a->wait = true;
            break;
        case 'L':
            a->local = a->wait = true;
            break;
        case 'S':
            a->subdir = optarg;
            break;
        case 'h':
            fputs(trigger_usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(trigger_usage, stderr);
        return EXIT_USAGE;
    }
    a->dag_id = argv[optind];
    return -1;
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
        fprintf(stderr, "gust: --conf is not valid JSON: %s (column %d)\n", je.text, je.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        fprintf(stderr, "gust: --conf must be a JSON object, like '{\"key\": \"value\"}'\n");
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
        fprintf(stderr, "gust: %s\n", e.msg);
    else if (runner_run_state(r, dag_id, run_id) == RUN_SUCCESS)
        rc = EXIT_OK;
    if (r)
        printf("run %s of %s: %s\n", run_id, dag_id,
               run_state_name(runner_run_state(r, dag_id, run_id)));
    runner_free(r);
    progress_free(p);
    return rc;
}

int
cmd_dags_trigger(int argc, char **argv)
{
    struct trigger_args a = {0};
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    const struct dag *dag;
    struct err e = {0};
    char run_id[300], *conf = NULL;
    time_t logical;
    long long id;
    int rc;

    if ((rc = parse_trigger(argc, argv, &a)) >= 0)
        return rc;
    if ((conf = check_conf(a.conf)) == NULL)
        return EXIT_USAGE;
    rc = EXIT_FAIL;
    if ((bag = cli_load_bag(a.subdir)) == NULL || (dag = cli_find_dag(bag, a.dag_id)) == NULL)
        goto out;
    runid_now("manual", run_id, sizeof(run_id), &logical);
    if (a.logical && tz_parse_iso(dag->timezone, a.logical, &logical, &e) < 0) {
        fprintf(stderr, "gust: --logical-date: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    if (a.run_id)
        snprintf(run_id, sizeof(run_id), "%s", a.run_id);
    else if (a.logical)
        runid_format("manual", logical, -1, run_id, sizeof(run_id));
    if ((s = cli_open_store()) == NULL)
        goto out;
    if (store_run_create(s, dag, run_id, "manual", logical, logical, logical, conf, "cli",
                         time(NULL), &id, &e) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
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
cmd_dags_state(int argc, char **argv)
{
    struct store_run run = {0};
    struct err e = {0};
    struct store *s;
    int rc = EXIT_FAIL;

    if (cli_wants_help(argc, argv)) {
        printf("usage: gust dags state DAG_ID RUN_ID\nPrint the state of a run, and its conf "
               "when it has one.\n");
        return EXIT_OK;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: gust dags state DAG_ID RUN_ID\n");
        return EXIT_USAGE;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_run_get(s, argv[1], argv[2], &run, &e) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
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
cmd_dags_list_runs(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"state", required_argument, NULL, 's'},
                                         {"dag-id", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *output = "table", *state = NULL, *dag_id = NULL;
    struct store_run *runs = NULL;
    struct err e = {0};
    struct store *s;
    size_t n = 0;
    json_t *arr;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:d:h", opts, NULL)) != -1) {
        if (c == 'o')
            output = optarg;
        else if (c == 's')
            state = optarg;
        else if (c == 'd')
            dag_id = optarg;
        else if (c == 'h') {
            printf("usage: gust dags list-runs DAG_ID [--state STATE] [-o table|json]\n");
            return EXIT_OK;
        } else
            return EXIT_USAGE;
    }
    if (dag_id == NULL && optind == argc - 1)
        dag_id = argv[optind++];
    if (dag_id == NULL || optind != argc) {
        fprintf(stderr, "usage: gust dags list-runs DAG_ID [--state STATE] [-o table|json]\n");
        return EXIT_USAGE;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_runs_list(s, dag_id, state, 0, &runs, &n, &e) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, run_json(&runs[i]));
    cli_print_rows(arr, output,
                   (const char *[]){"dag_id", "run_id", "state", "logical_date", "start_date",
                                    "end_date", NULL});
    json_decref(arr);
    store_runs_free(runs, n);
    store_free(s);
    return EXIT_OK;
}

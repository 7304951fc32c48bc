/* cli_test: `gust tasks test DAG_ID TASK_ID [DATE_OR_RUN_ID] [-t JSON]`: run one task now,
 * outside any run, recording nothing (like Airflow's). The log streams to stdout, the XCom
 * it would push is printed at the end. With a database configured, xcom_pull and var.value
 * read it; without one they find nothing. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "runner/runner_int.h"
#include "runid.h"
#include "store/store.h"
#include "schedule/tz.h"

extern char **environ;

static const char test_usage[] =
    "usage: gust tasks test DAG_ID TASK_ID [DATE_OR_RUN_ID] [-t|--task-params JSON]\n"
    "Run one task now without recording state; print its log and the XCom it would push.\n";

/* Run the command of try t with an executor of its own until it ends. */
static int
run_once(const struct try *t, const struct try_cmd *cmd, struct exec_result *res, struct err *e)
{
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    struct executor *x = executor_new(e);
    struct exec_spec spec = {cmd->argv, cmd->envp, task->cwd, t->log_path, task->execution_timeout,
                             10,        NULL};
    int rc = -1;

    if (x == NULL || executor_start(x, &spec, NULL, e) < 0)
        goto out;
    for (;;) {
        struct pollfd fds[8];
        size_t n = executor_pollfds(x, fds, 8);

        poll(fds, n, executor_timeout_ms(x));
        if (executor_process(x, e) < 0)
            goto out;
        if (executor_next_result(x, res) == 1)
            break;
    }
    rc = 0;
out:
    executor_free(x);
    return rc;
}

static void
print_xcom(const struct try *t, const struct exec_result *res)
{
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    FILE *f;
    char buf[4096];
    size_t n;

    if (!task->do_xcom_push)
        return;
    if (task->op == OP_BASH) {
        printf("XCom return_value: \"%s\"\n", res->last_line ? res->last_line : "");
        return;
    }
    if ((f = fopen(t->xcom_path, "r")) == NULL) {
        printf("XCom: the task wrote no $GUST_XCOM_FILE\n");
        return;
    }
    fputs("XCom return_value: ", stdout);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stdout);
    fputc('\n', stdout);
    fclose(f);
}

static int
test_task(struct store *s, const struct try *t)
{
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    char bindir[PATH_MAX];
    struct try_cmd cmd = {0};
    struct exec_result res = {0};
    struct err e = {0};
    int rc = EXIT_FAIL;

    if (task->op == OP_EMPTY || task->op == OP_TRIGGER_DAGRUN) {
        printf("%s: nothing to run outside a DAG run\n", op_kind_name(task->op));
        return EXIT_OK;
    }
    runner_bindir(bindir);
    if (runner_build_command(s, t, environ, bindir, &cmd, &e) < 0 ||
        run_once(t, &cmd, &res, &e) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
        goto out;
    }
    fflush(stdout);
    if (res.exec_failed)
        printf("task failed: %s\n", res.exec_error);
    else if (res.timed_out)
        printf("task timed out after %.0f s\n", task->execution_timeout);
    else if (res.term_signal)
        printf("task killed by signal %d\n", res.term_signal);
    else
        printf("task exited %d\n", res.exit_code);
    if (!res.exec_failed && !res.timed_out && res.term_signal == 0) {
        for (size_t i = 0; i < task->n_skip_on_exit_code; i++)
            if (task->skip_on_exit_code[i] == res.exit_code)
                rc = EXIT_OK, printf("(skipped)\n");
        if (res.exit_code == 0) {
            print_xcom(t, &res);
            rc = EXIT_OK;
        }
    }
out:
    exec_result_clear(&res);
    try_cmd_clear(&cmd);
    return rc;
}

/* The run context: a date, or the run id of an existing run (its logical date). */
static struct active_run *
test_run(struct store *s, const struct dag *dag, const char *when, const char *params)
{
    struct store_run sr = {0};
    struct active_run *run;
    struct err e = {0};
    time_t logical = time(NULL);
    char run_id[300];

    if (when && tz_parse_iso(dag->timezone, when, &logical, NULL) < 0) {
        if (s == NULL || store_run_get(s, dag->dag_id, when, &sr, &e) < 0) {
            fprintf(stderr, "gust: '%s' is neither a date nor a run of %s%s%s\n", when, dag->dag_id,
                    e.msg[0] ? ": " : "", e.msg);
            return NULL;
        }
        logical = sr.logical_date;
        snprintf(run_id, sizeof(run_id), "%s", when);
    } else {
        runid_format("manual", logical, -1, run_id, sizeof(run_id));
    }
    store_run_clear(&sr);
    run = active_run_new(dag, run_id, logical, logical, logical, params, &e);
    if (run == NULL)
        fprintf(stderr, "gust: %s\n", e.msg);
    return run;
}

int
cmd_tasks_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"task-params", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *params = NULL;
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    struct active_run *run = NULL;
    const struct dag *dag;
    struct try t = {0};
    char xdir[] = "/tmp/gust-test-XXXXXX";
    int c, rc = EXIT_FAIL;
    long idx = -1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        if (c == 't')
            params = optarg;
        else if (c == 'h')
            return fputs(test_usage, stdout), EXIT_OK;
        else
            return EXIT_USAGE;
    }
    if (argc - optind < 2 || argc - optind > 3) {
        fputs(test_usage, stderr);
        return EXIT_USAGE;
    }
    if (params) {
        json_t *v = json_loads(params, 0, NULL);
        int ok = json_is_object(v);

        json_decref(v);
        if (!ok) {
            fprintf(stderr, "gust: --task-params must be a JSON object\n");
            return EXIT_USAGE;
        }
    }
    if ((bag = cli_load_bag(NULL)) == NULL || (dag = cli_find_dag(bag, argv[optind])) == NULL)
        goto out;
    for (size_t i = 0; i < dag->n_tasks; i++)
        if (strcmp(dag->tasks[i].task_id, argv[optind + 1]) == 0)
            idx = (long)i;
    if (idx < 0) {
        fprintf(stderr, "gust: no task '%s' in DAG '%s'\n", argv[optind + 1], dag->dag_id);
        goto out;
    }
    if (getenv("GUST_DATABASE_URL") || getenv("PGHOST") || getenv("PGDATABASE"))
        s = cli_open_store();
    if ((run = test_run(s, dag, argc - optind == 3 ? argv[optind + 2] : NULL, params)) == NULL ||
        mkdtemp(xdir) == NULL)
        goto out;
    t = (struct try){.run = run,
                     .task = (size_t)idx,
                     .try_number = 1,
                     .max_tries = dag->tasks[idx].retries,
                     .log_path = "/dev/stdout"};
    if (asprintf(&t.xcom_path, "%s/return.json", xdir) < 0)
        goto out;
    rc = test_task(s, &t);
    unlink(t.xcom_path);
    rmdir(xdir);
    free(t.xcom_path);
out:
    active_run_free(run);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

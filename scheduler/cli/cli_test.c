/* cli_test: `gust tasks test DAG_ID TASK_ID [DATE_OR_RUN_ID] [-t JSON]`: run one task now,
 * outside any run, recording nothing (like Airflow's). The log streams to stdout, the XCom
 * it would push is printed at the end. With a database configured, xcom_pull and var.value
 * read it; without one they find nothing. */
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "log.h"
#include "runid.h"
#include "runner/runner.h"
#include "store/store.h"
#include "schedule/tz.h"

/* Run the task's command with an executor of its own until it ends; the log is stdout. */
static int
run_once(const struct dag_task *task, const struct runner_cmd *cmd, struct exec_result *res,
         struct err *e)
{
    struct executor *x = executor_new(e);
    struct exec_spec spec = {.argv = cmd->argv,
                             .envp = cmd->envp,
                             .cwd = task->cwd,
                             .log_path = "/dev/stdout",
                             .timeout = task->execution_timeout,
                             .kill_grace = 10,
                             .shell_errors = cmd->direct};
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
print_xcom(const struct dag_task *task, const char *xcom_path, const struct exec_result *res)
{
    FILE *f;
    char buf[4096];
    size_t n;

    if (!task->do_xcom_push)
        return;
    if (task->op == OP_BASH && res->last_line == NULL && res->last_line_len > 0) {
        printf("XCom: the last stdout line is %zu bytes, over the limit of %d: not pushed\n",
               res->last_line_len, EXEC_LINE_MAX_DEFAULT);
        return;
    }
    if (task->op == OP_BASH) {
        printf("XCom return_value: \"%s\"\n", res->last_line ? res->last_line : "");
        return;
    }
    if ((f = fopen(xcom_path, "r")) == NULL) {
        printf("XCom: the task wrote no $GUST_XCOM_FILE\n");
        return;
    }
    fputs("XCom return_value: ", stdout);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stdout);
    fputc('\n', stdout);
    fclose(f);
}

/* A BranchSQLOperator's choice (nothing is skipped outside a DAG run). */
static void
print_branch(const struct dag_task *task, const char *xcom_path)
{
    char *spec = NULL, *branch = NULL, buf[4096];
    FILE *f;
    size_t n;

    if (task->op != OP_SQL_BRANCH || runner_sql_paths(xcom_path, &spec, &branch) < 0)
        return;
    if ((f = fopen(branch, "r")) == NULL) {
        printf("branch: the task wrote no $GUST_BRANCH_FILE\n");
    } else {
        fputs("branch: follows ", stdout);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, stdout);
        fclose(f);
    }
    free(spec);
    free(branch);
}

/* The run context of the test: a run id and its logical date. */
struct test_ctx {
    const struct dag *dag;
    size_t task;
    char run_id[300];
    time_t logical;
    const char *params;
    const char *xcom_path;
    int map_index;
};

static int
test_task(struct store *s, const struct test_ctx *t)
{
    const struct dag_task *task = &t->dag->tasks[t->task];
    struct runner_cmd cmd = {0};
    struct exec_result res = {0};
    struct err e = {0};
    int rc = EXIT_FAIL;

    if (task->op == OP_EMPTY || task->op == OP_TRIGGER_DAGRUN) {
        printf("%s: nothing to run outside a DAG run\n", op_kind_name(task->op));
        return EXIT_OK;
    }
    if (runner_task_command(s, t->dag, t->task, t->map_index, t->run_id, t->logical, t->params,
                            t->xcom_path, &cmd, &e) < 0 ||
        run_once(task, &cmd, &res, &e) < 0) {
        log_error("%s", e.msg);
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
        if (OP_IS_SQL(task->op) && res.exit_code == 99)
            rc = EXIT_OK, printf("(skipped)\n");
        if (res.exit_code == 0) {
            print_xcom(task, t->xcom_path, &res);
            print_branch(task, t->xcom_path);
            rc = EXIT_OK;
        }
    }
out:
    exec_result_clear(&res);
    runner_cmd_clear(&cmd);
    return rc;
}

/* The run context: a date, or the run id of an existing run (its logical date). */
static int
test_run(struct store *s, const struct dag *dag, const char *when, struct test_ctx *t)
{
    struct store_run sr = {0};
    struct err e = {0};

    t->logical = time(NULL);
    if (when && tz_parse_iso(dag->timezone, when, &t->logical, NULL) < 0) {
        if (s == NULL || store_run_get(s, dag->dag_id, when, &sr, &e) < 0) {
            log_error("'%s' is neither a date nor a run of %s%s%s", when, dag->dag_id,
                      e.msg[0] ? ": " : "", e.msg);
            return -1;
        }
        t->logical = sr.logical_date;
        snprintf(t->run_id, sizeof(t->run_id), "%s", when);
    } else {
        runid_format("manual", t->logical, -1, t->run_id, sizeof(t->run_id));
    }
    store_run_clear(&sr);
    return 0;
}

/* --task-params, when given, must be a JSON object. */
static bool
params_ok(const char *params)
{
    json_t *v = params ? json_loads(params, 0, NULL) : NULL;
    bool ok = params == NULL || json_is_object(v);

    json_decref(v);
    if (!ok)
        log_error("--task-params must be a JSON object");
    return ok;
}

/* The index of task_id in dag, or -1 after a message. */
static long
task_index(const struct dag *dag, const char *task_id)
{
    long idx = dag_task_index(dag, task_id);

    if (idx < 0)
        log_error("no task '%s' in DAG '%s'", task_id, dag->dag_id);
    return idx;
}

int
cli_tasks_test(const struct cli_args *a)
{
    const char *params = cli_arg(a, "task-params", NULL);
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    const struct dag *dag;
    struct test_ctx t = {0};
    char xdir[PATH_MAX], *xcom_path = NULL, *spec = NULL, *branch = NULL;
    const char *tmp = getenv("TMPDIR");
    int rc = EXIT_FAIL;
    long idx = -1;

    if (!params_ok(params))
        return EXIT_USAGE;
    if ((bag = cli_load_bag(NULL)) == NULL || (dag = cli_find_dag(bag, a->argv[0])) == NULL ||
        (idx = task_index(dag, a->argv[1])) < 0)
        goto out;
    if (getenv("GUST_DATABASE_URL") || getenv("PGHOST") || getenv("PGDATABASE"))
        s = cli_open_store();
    t = (struct test_ctx){
        .dag = dag, .task = (size_t)idx, .params = params, .map_index = cli_map_index(a)};
    if (t.map_index < -1)
        goto out;
    /* the try's files (XCom, a SQL task's spec) in a folder under $TMPDIR, else /tmp */
    snprintf(xdir, sizeof(xdir), "%s/gust-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (test_run(s, dag, a->argc == 3 ? a->argv[2] : NULL, &t) < 0 || mkdtemp(xdir) == NULL)
        goto out;
    if (asprintf(&xcom_path, "%s/return.json", xdir) < 0)
        goto out;
    t.xcom_path = xcom_path;
    rc = test_task(s, &t);
    unlink(xcom_path);
    if (runner_sql_paths(xcom_path, &spec, &branch) == 0) /* a SQL task's files */
        unlink(spec), unlink(branch);
    free(spec);
    free(branch);
    rmdir(xdir);
    free(xcom_path);
out:
    store_free(s);
    dagbag_free(bag);
    return rc;
}

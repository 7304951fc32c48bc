/* cli_tasks: the `gust tasks ...` verbs: list, state, states-for-dag-run, logs, clear, test.
 *
 * `tasks test` runs one task now, outside any run and without recording state (like
 * Airflow's): its log goes to stdout, its XCom is printed, nothing is written to the
 * database (XCom pulls read it when one is configured). */
#include <errno.h>
#include <jansson.h>
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
#include "runner/runner.h"
#include "store/store.h"
#include "schedule/tz.h"

extern char **environ;

/* ---- tasks list ---- */

static void
print_tree(const struct dag *dag, size_t idx, int depth)
{
    printf("%*s%s [%s]\n", depth * 4, "", dag->tasks[idx].task_id,
           op_kind_name(dag->tasks[idx].op));
    if (depth > 64)
        return; /* the loader refuses cycles; this only bounds the output */
    for (size_t i = 0; i < dag->n_tasks; i++)
        for (size_t j = 0; j < dag->tasks[i].n_upstream; j++)
            if (strcmp(dag->tasks[i].upstream[j], dag->tasks[idx].task_id) == 0)
                print_tree(dag, i, depth + 1);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cli_tasks_list(const struct cli_args *a)
{
    bool tree = cli_flag(a, "tree");
    struct dagbag *bag;
    const struct dag *dag;

    if ((bag = cli_load_bag(NULL)) == NULL)
        return EXIT_FAIL;
    if ((dag = cli_find_dag(bag, a->argv[0])) == NULL) {
        dagbag_free(bag);
        return EXIT_FAIL;
    }
    if (tree) {
        for (size_t i = 0; i < dag->n_tasks; i++)
            if (dag->tasks[i].n_upstream == 0)
                print_tree(dag, i, 0);
    } else {
        char **ids = calloc(dag->n_tasks + 1, sizeof(*ids));

        for (size_t i = 0; ids && i < dag->n_tasks; i++)
            ids[i] = dag->tasks[i].task_id;
        if (ids)
            qsort(ids, dag->n_tasks, sizeof(*ids), cmp_str);
        for (size_t i = 0; ids && i < dag->n_tasks; i++)
            puts(ids[i]);
        free(ids);
    }
    dagbag_free(bag);
    return EXIT_OK;
}

/* ---- states ---- */

static void
fmt_time(time_t t, char buf[32])
{
    buf[0] = '\0';
    if (t)
        tz_format("UTC", t, buf, NULL);
}

static json_t *
ti_json(const char *dag_id, const char *run_id, const struct store_ti *ti)
{
    char sd[32], ed[32], dur[32] = "", code[16] = "", tries[16];

    fmt_time(ti->start_date, sd);
    fmt_time(ti->end_date, ed);
    if (ti->duration >= 0)
        snprintf(dur, sizeof(dur), "%.3f", ti->duration);
    if (ti->has_exit_code)
        snprintf(code, sizeof(code), "%d", ti->exit_code);
    else if (ti->term_signal)
        snprintf(code, sizeof(code), "signal %d", ti->term_signal);
    snprintf(tries, sizeof(tries), "%d", ti->try_number);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "dag_id", dag_id,
                     "run_id", run_id, "task_id", ti->task_id, "state", ti_state_name(ti->state),
                     "try_number", tries, "start_date", sd, "end_date", ed, "duration", dur, "exit",
                     code, "hostname", ti->hostname ? ti->hostname : "");
}

static json_t *
try_json(const struct store_try *t)
{
    char sd[32], ed[32], dur[32] = "", code[16] = "", num[16], pid[16] = "";

    fmt_time(t->start_date, sd);
    fmt_time(t->end_date, ed);
    if (t->duration >= 0)
        snprintf(dur, sizeof(dur), "%.3f", t->duration);
    if (t->has_exit_code)
        snprintf(code, sizeof(code), "%d", t->exit_code);
    else if (t->term_signal)
        snprintf(code, sizeof(code), "signal %d", t->term_signal);
    snprintf(num, sizeof(num), "%d", t->try_number);
    if (t->pid)
        snprintf(pid, sizeof(pid), "%d", t->pid);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "task_id", t->task_id,
                     "try_number", num, "state", ti_state_name(t->state), "start_date", sd,
                     "end_date", ed, "duration", dur, "exit", code, "hostname",
                     t->hostname ? t->hostname : "", "pid", pid);
}

static int
print_tries(struct store *s, const char *dag_id, const char *run_id, const char *output)
{
    struct store_try *tries = NULL;
    struct err e = {0};
    size_t n = 0;
    json_t *arr;

    if (store_tries_get(s, dag_id, run_id, &tries, &n, &e) < 0) {
        log_error("%s", e.msg);
        return EXIT_FAIL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, try_json(&tries[i]));
    cli_print_rows(arr, output,
                   (const char *[]){"task_id", "try_number", "state", "start_date", "end_date",
                                    "duration", "exit", "hostname", "pid", NULL});
    json_decref(arr);
    store_tries_free(tries, n);
    return EXIT_OK;
}

int
cli_tasks_states_for_dag_run(const struct cli_args *a)
{
    const char *output = cli_arg(a, "output", "table");
    const char *dag_id = a->argv[0];
    char *run_id = NULL;
    struct store_ti *tis = NULL;
    struct store_run run = {0};
    struct err e = {0};
    struct store *s;
    bool tries = cli_flag(a, "tries");
    size_t n = 0;
    json_t *arr;
    int rc = EXIT_FAIL;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (cli_resolve_run(s, dag_id, a->argv[1], &run_id) < 0)
        goto out;
    if (store_run_get(s, dag_id, run_id, &run, &e) < 0 ||
        (!tries && store_tis_get(s, dag_id, run_id, &tis, &n, &e) < 0)) {
        log_error("%s", e.msg);
        goto out;
    }
    if (tries) {
        rc = print_tries(s, dag_id, run_id, output);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ti_json(dag_id, run_id, &tis[i]));
    cli_print_rows(arr, output,
                   (const char *[]){"task_id", "state", "try_number", "start_date", "end_date",
                                    "duration", "exit", NULL});
    json_decref(arr);
    rc = EXIT_OK;
out:
    free(run_id);
    store_tis_free(tis, n);
    store_run_clear(&run);
    store_free(s);
    return rc;
}

int
cli_tasks_state(const struct cli_args *a)
{
    const char *dag_id = a->argv[0], *task_id = a->argv[1];
    struct store_ti *tis = NULL;
    struct err e = {0};
    struct store *s;
    char *run_id = NULL;
    size_t n = 0;
    int rc;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    rc = EXIT_FAIL;
    if (cli_resolve_run(s, dag_id, a->argv[2], &run_id) < 0) {
        store_free(s);
        return EXIT_FAIL;
    }
    if (store_tis_get(s, dag_id, run_id, &tis, &n, &e) < 0)
        log_error("%s", e.msg);
    for (size_t i = 0; i < n; i++)
        if (strcmp(tis[i].task_id, task_id) == 0) {
            puts(ti_state_name(tis[i].state));
            rc = EXIT_OK;
        }
    if (rc != EXIT_OK && e.code == ERR_OK)
        log_error("no task '%s' in run '%s' of DAG '%s'", task_id, run_id, dag_id);
    free(run_id);
    store_tis_free(tis, n);
    store_free(s);
    return rc;
}

/* ---- logs ---- */

static int
cat_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[65536];
    size_t n;

    if (f == NULL)
        return -1;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

int
cli_tasks_logs(const struct cli_args *a)
{
    /* numbered as on the command line: DAG_ID TASK_ID RUN_ID */
    char *const argv[4] = {NULL, a->argv[0], a->argv[1], a->argv[2]};
    struct store_ti *tis = NULL;
    struct err e = {0};
    struct store *s;
    char *log = NULL, *xcom = NULL;
    size_t n = 0;
    int want = atoi(cli_arg(a, "try", "0")), rc;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    rc = EXIT_FAIL;
    if (want <= 0 && store_tis_get(s, argv[1], argv[3], &tis, &n, &e) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(tis[i].task_id, argv[2]) == 0)
                want = tis[i].try_number;
    if (want <= 0) {
        log_error("task '%s' of run '%s' has not run yet%s%s", argv[2], argv[3],
                  e.msg[0] ? ": " : "", e.msg);
        goto out;
    }
    if (runner_try_paths(getenv("GUST_LOGS_FOLDER") ? getenv("GUST_LOGS_FOLDER") : "./logs",
                         argv[1], argv[3], argv[2], want, &log, &xcom, &e) < 0 ||
        cat_file(log) < 0) {
        log_error("no log for try %d: %s", want, log ? log : e.msg);
        goto out;
    }
    rc = EXIT_OK;
out:
    free(log);
    free(xcom);
    store_tis_free(tis, n);
    store_free(s);
    return rc;
}

/* ---- clear ---- */

/* Ask on the terminal before clearing: EXIT_OK to go on, else the exit code. */
static int
confirm_clear(const char *dag_id)
{
    char answer[16] = "";

    if (!isatty(STDIN_FILENO)) {
        log_error("tasks clear asks for confirmation; pass -y to clear without a terminal");
        return EXIT_USAGE;
    }
    fprintf(stderr, "Clear the matching task instances of %s? [y/N] ", dag_id);
    if (fgets(answer, sizeof(answer), stdin) == NULL || (answer[0] != 'y' && answer[0] != 'Y')) {
        fprintf(stderr, "cancelled\n");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int
cli_tasks_clear(const struct cli_args *a)
{
    const char *dag_id = a->argv[0];
    struct dagbag *bag = NULL;
    const struct dag *dag;
    struct err e = {0};
    struct store *s = NULL;
    int cleared = 0, running = 0, rc = EXIT_FAIL;

    if (!cli_flag(a, "yes") && (rc = confirm_clear(dag_id)) != EXIT_OK)
        return rc;
    rc = EXIT_FAIL;
    if ((bag = cli_load_bag(NULL)) == NULL || (dag = cli_find_dag(bag, dag_id)) == NULL ||
        (s = cli_open_store()) == NULL)
        goto out;
    if (store_tis_clear(s, dag_id, dag, cli_arg(a, "run-id", NULL), cli_arg(a, "task-regex", NULL),
                        cli_flag(a, "only-failed"), time(NULL), &cleared, &running, &e) < 0) {
        log_error("%s", e.msg);
        goto out;
    }
    printf("cleared %d task instance(s)\n", cleared);
    if (running > 0)
        printf("left %d running task instance(s) alone\n", running);
    rc = EXIT_OK;
out:
    store_free(s);
    dagbag_free(bag);
    return rc;
}

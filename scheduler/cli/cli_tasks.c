/* cli_tasks: the `gust tasks ...` verbs: list, state, states-for-dag-run, logs, clear, test.
 *
 * `tasks test` runs one task now, outside any run and without recording state (like
 * Airflow's): its log goes to stdout, its XCom is printed, nothing is written to the
 * database (XCom pulls read it when one is configured). */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <regex.h>
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
    char sd[32], ed[32], dur[32] = "", code[16] = "", tries[16], mi[16], np[32] = "";

    snprintf(mi, sizeof(mi), "%d", ti->map_index);
    if (ti->state == TI_UP_FOR_RESCHEDULE)
        fmt_time(ti->next_retry_at, np); /* a sensor's next poke */
    fmt_time(ti->start_date, sd);
    fmt_time(ti->end_date, ed);
    if (ti->duration >= 0)
        snprintf(dur, sizeof(dur), "%.3f", ti->duration);
    if (ti->has_exit_code)
        snprintf(code, sizeof(code), "%d", ti->exit_code);
    else if (ti->term_signal)
        snprintf(code, sizeof(code), "signal %d", ti->term_signal);
    snprintf(tries, sizeof(tries), "%d", ti->try_number);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "next_poke", np, "dag_id", dag_id, "run_id", run_id, "task_id", ti->task_id,
                     "map_index", mi, "rendered_map_index", ti->map_name ? ti->map_name : "",
                     "state", ti_state_name(ti->state), "try_number", tries, "start_date", sd,
                     "end_date", ed, "duration", dur, "exit", code, "hostname",
                     ti->hostname ? ti->hostname : "");
}

static json_t *
try_json(const struct store_try *t)
{
    char sd[32], ed[32], dur[32] = "", code[16] = "", num[16], pid[16] = "", mi[16];

    snprintf(mi, sizeof(mi), "%d", t->map_index);
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
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "task_id", t->task_id,
                     "map_index", mi, "try_number", num, "state", ti_state_name(t->state),
                     "start_date", sd, "end_date", ed, "duration", dur, "exit", code, "hostname",
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
                                    "duration", "exit", "hostname", "pid", "map_index", NULL});
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
                                    "duration", "exit", "map_index", "rendered_map_index",
                                    "next_poke", NULL});
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
    size_t n = 0, instances = 0;
    int rc, mi = cli_map_index(a);

    if (mi < -1)
        return EXIT_USAGE;
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
        if (strcmp(tis[i].task_id, task_id) == 0 && tis[i].map_index == mi) {
            puts(ti_state_name(tis[i].state));
            rc = EXIT_OK;
        } else if (strcmp(tis[i].task_id, task_id) == 0) {
            instances++;
        }
    if (rc != EXIT_OK && e.code == ERR_OK && instances > 0)
        log_error("task '%s' of run '%s' has no instance with map index %d: it is mapped into "
                  "%zu instances (--map-index 0..%zu)",
                  task_id, run_id, mi, instances, instances - 1);
    else if (rc != EXIT_OK && e.code == ERR_OK)
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
    int want = atoi(cli_arg(a, "try", "0")), rc, mi = cli_map_index(a);

    if (mi < -1)
        return EXIT_USAGE;
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    rc = EXIT_FAIL;
    if (want <= 0 && store_tis_get(s, argv[1], argv[3], &tis, &n, &e) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(tis[i].task_id, argv[2]) == 0 && tis[i].map_index == mi)
                want = tis[i].try_number;
    if (want <= 0) {
        log_error("task '%s' of run '%s' has not run yet%s%s", argv[2], argv[3],
                  e.msg[0] ? ": " : "", e.msg);
        goto out;
    }
    if (runner_try_paths(getenv("GUST_LOGS_FOLDER") ? getenv("GUST_LOGS_FOLDER") : "./logs",
                         argv[1], argv[3], argv[2], mi, want, &log, &xcom, &e) < 0 ||
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

/* Mark in out every task reachable from a picked one along downstream (down) or upstream
 * edges; the picked ones included. */
static void
closure(const struct dag *dag, const bool *pick, bool down, bool *out)
{
    size_t *stack = calloc(dag->n_tasks + 1, sizeof(size_t)), n = 0;

    for (size_t i = 0; stack && i < dag->n_tasks; i++)
        if (pick[i] && !out[i])
            out[i] = true, stack[n++] = i;
    while (stack && n > 0) {
        const struct dag_task *t = &dag->tasks[stack[--n]];
        size_t m = down ? t->n_downstream : t->n_upstream;

        for (size_t k = 0; k < m; k++) {
            size_t j = down ? t->downstream_idx[k] : t->upstream_idx[k];

            if (!out[j])
                out[j] = true, stack[n++] = j;
        }
    }
    free(stack);
}

/* The task ids --task-regex selects (all when NULL), with their upstreams/downstreams when
 * asked, as a JSON array; NULL (no list: every matching TI) when neither is asked. */
static char *
clear_task_ids(const struct dag *dag, const char *regex, bool up, bool down, int *bad)
{
    bool *pick = calloc(dag->n_tasks + 1, sizeof(bool));
    bool *keep = calloc(dag->n_tasks + 1, sizeof(bool));
    regex_t re;
    json_t *arr;
    char *text;

    *bad = 0;
    if (!up && !down) {
        free(pick);
        free(keep);
        return NULL;
    }
    if (!pick || !keep || (regex && regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0)) {
        *bad = 1;
        free(pick);
        free(keep);
        return NULL;
    }
    for (size_t i = 0; i < dag->n_tasks; i++)
        pick[i] = regex == NULL || regexec(&re, dag->tasks[i].task_id, 0, NULL, 0) == 0;
    if (regex)
        regfree(&re);
    if (up)
        closure(dag, pick, false, keep);
    if (down)
        closure(dag, pick, true, keep);
    arr = json_array();
    for (size_t i = 0; i < dag->n_tasks; i++)
        if (keep[i])
            json_array_append_new(arr, json_string(dag->tasks[i].task_id));
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    free(pick);
    free(keep);
    return text;
}

/* --start-date/--end-date, --task-regex, --run-id, --upstream/--downstream into f. */
static int
clear_filter(const struct cli_args *a, const struct dag *dag, struct store_clear_filter *f)
{
    const char *start = cli_arg(a, "start-date", NULL), *end = cli_arg(a, "end-date", NULL);
    struct err e = {0};
    int bad;

    *f = (struct store_clear_filter){.run_id = cli_arg(a, "run-id", NULL),
                                     .task_regex = cli_arg(a, "task-regex", NULL),
                                     .only_failed = cli_flag(a, "only-failed")};
    if ((start && tz_parse_iso(dag->timezone, start, &f->start, &e) < 0) ||
        (end && tz_parse_iso(dag->timezone, end, &f->end, &e) < 0)) {
        log_error("tasks clear: %s", e.msg);
        return EXIT_USAGE;
    }
    f->task_ids_json = clear_task_ids(dag, f->task_regex, cli_flag(a, "upstream"),
                                      cli_flag(a, "downstream"), &bad);
    if (bad) {
        log_error("tasks clear: bad --task-regex '%s'", f->task_regex);
        return EXIT_USAGE;
    }
    if (f->task_ids_json)
        f->task_regex = NULL; /* the list holds the matches and their relatives */
    return EXIT_OK;
}

/* Clear one DAG's matching task instances; prints what it did. */
static int
clear_dag(struct store *s, const struct cli_args *a, const struct dag *dag)
{
    struct store_clear_filter f;
    struct err e = {0};
    int cleared = 0, running = 0, rc;

    if ((rc = clear_filter(a, dag, &f)) != EXIT_OK)
        return rc;
    f.only_running = cli_flag(a, "only-running"); /* never interrupted: counted only */
    f.map_index = cli_map_index(a);
    f.by_map_index = f.map_index >= 0;
    if (f.map_index < -1) {
        free((char *)f.task_ids_json);
        return EXIT_USAGE;
    }
    rc = EXIT_FAIL;
    if (store_tis_clear_filter(s, dag->dag_id, dag, &f, time(NULL), &cleared, &running, &e) < 0)
        log_error("%s", e.msg);
    else {
        printf("%s: cleared %d task instance(s)\n", dag->dag_id, cleared);
        if (running > 0 || cli_flag(a, "only-running"))
            printf("%s: left %d running task instance(s) alone\n", dag->dag_id, running);
        rc = EXIT_OK;
    }
    free((char *)f.task_ids_json);
    return rc;
}

int
cli_tasks_clear(const struct cli_args *a)
{
    const char *dag_id = a->argv[0];
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    bool by_regex = cli_flag(a, "dag-regex");
    regex_t re;
    int rc, n = 0;

    if (!cli_flag(a, "yes") &&
        (rc = cli_confirm("tasks clear", "Clear the matching task instances?")) != EXIT_OK)
        return rc;
    if (by_regex && regcomp(&re, dag_id, REG_EXTENDED | REG_NOSUB) != 0) {
        log_error("tasks clear: bad DAG id regex '%s'", dag_id);
        return EXIT_USAGE;
    }
    rc = EXIT_FAIL;
    if ((bag = cli_load_bag(NULL)) == NULL || (!by_regex && cli_find_dag(bag, dag_id) == NULL) ||
        (s = cli_open_store()) == NULL)
        goto out;
    rc = EXIT_OK;
    for (size_t i = 0; i < bag->n_dags && rc == EXIT_OK; i++)
        if (by_regex ? regexec(&re, bag->dags[i]->dag_id, 0, NULL, 0) == 0
                     : strcmp(bag->dags[i]->dag_id, dag_id) == 0) {
            rc = clear_dag(s, a, bag->dags[i]);
            n++;
        }
    if (by_regex && n == 0)
        printf("no DAG id matches '%s'\n", dag_id);
out:
    if (by_regex)
        regfree(&re);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

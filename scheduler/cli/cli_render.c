/* cli_render: `tasks render` (every templated field of a task, rendered for a run as the try
 * would render it) and `tasks failed-deps` (why a task instance does not run).
 *
 * render goes through the runner's own command building (runner_task_command), so what it
 * prints is what a try runs: bash_command, cmds, arguments, env values, a SQL task's spec.
 * failed-deps asks the planner (plan_run) whether the task's trigger rule is met by the
 * recorded states of its run, and checks the run's state, the task's own state and the
 * DAG's pause, printing Airflow's "Dependency: ..., reason: ..." lines. Both take the run as
 * a run id or a logical date. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "log.h"
#include "plan/plan.h"
#include "runid.h"
#include "runner/runner.h"
#include "schedule/tz.h"
#include "store/store.h"

static void
property(const char *name, const char *value)
{
    printf("# ----------------------------------------------------------\n"
           "# property: %s\n"
           "# ----------------------------------------------------------\n%s\n\n",
           name, value);
}

/* A value from a NULL-terminated environment, NULL when absent. */
static const char *
env_value(char **envp, const char *key)
{
    size_t n = strlen(key);

    for (; envp && *envp; envp++)
        if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

/* argv[from, to) as a JSON list. */
static void
print_list(const char *name, char **argv, size_t from, size_t to)
{
    json_t *arr = json_array();
    char *text;

    for (size_t i = from; i < to && argv[i]; i++)
        json_array_append_new(arr, json_string(argv[i]));
    text = json_dumps(arr, JSON_COMPACT);
    property(name, text ? text : "[]");
    free(text);
    json_decref(arr);
}

/* A SQL task's spec file (its rendered fields), as written for sql_task. */
static void
print_sql_spec(const char *path)
{
    json_t *spec = json_load_file(path, 0, NULL), *v;
    const char *key;

    json_object_foreach(spec, key, v)
    {
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                                       : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        property(key, text ? text : "");
        free(text);
    }
    json_decref(spec);
}

static void
print_rendered(const struct dag_task *task, const struct runner_cmd *cmd)
{
    size_t argc = 0;

    while (cmd->argv && cmd->argv[argc])
        argc++;
    if (task->op == OP_BASH && argc >= 3)
        property("bash_command", cmd->argv[2]);
    else if (task->op == OP_KPO) {
        print_list("cmds", cmd->argv, 0, task->n_cmds);
        print_list("arguments", cmd->argv, task->n_cmds, argc);
    } else if (OP_IS_SQL(task->op) && argc >= 3)
        print_sql_spec(cmd->argv[2]);
    for (size_t i = 0; i < task->n_env; i++) {
        const char *v = env_value(cmd->envp, task->env[i].key);
        char name[300];

        snprintf(name, sizeof(name), "env.%s", task->env[i].key);
        property(name, v ? v : "");
    }
}

/* The run named by when (run id or logical date); a date with no run renders for that date
 * under a manual run id, as Airflow's `tasks render` does. */
static int
render_run(struct store *s, const struct dag *dag, const char *when, char run_id[RUNID_SIZE],
           time_t *logical, char **conf)
{
    struct store_run r = {0};
    struct err e = {0};

    if (s && store_run_get(s, dag->dag_id, when, &r, &e) == 0) {
        snprintf(run_id, RUNID_SIZE, "%s", r.run_id);
        *logical = r.logical_date;
        *conf = r.conf_json ? strdup(r.conf_json) : NULL;
        store_run_clear(&r);
        return 0;
    }
    if (tz_parse_iso(dag->timezone, when, logical, &e) < 0) {
        log_error("tasks render: '%s' is neither a run of %s nor a date: %s", when, dag->dag_id,
                  e.msg);
        return -1;
    }
    runid_format("manual", *logical, -1, run_id, RUNID_SIZE);
    *conf = NULL;
    return 0;
}

int
cli_tasks_render(const struct cli_args *a)
{
    char xdir[] = "/tmp/gust-render-XXXXXX", run_id[RUNID_SIZE], *conf = NULL, *xcom = NULL;
    char *spec = NULL, *branch = NULL;
    struct runner_cmd cmd = {0};
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    const struct dag *dag;
    struct err e = {0};
    time_t logical;
    long idx = -1;
    int rc = EXIT_FAIL;

    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL ||
        (dag = cli_find_dag(bag, a->argv[0])) == NULL)
        goto out;
    if ((idx = dag_task_index(dag, a->argv[1])) < 0) {
        log_error("no task '%s' in DAG '%s'", a->argv[1], dag->dag_id);
        goto out;
    }
    s = cli_optional_store();
    if (render_run(s, dag, a->argv[2], run_id, &logical, &conf) < 0 || mkdtemp(xdir) == NULL ||
        asprintf(&xcom, "%s/return.json", xdir) < 0)
        goto out;
    if (dag->tasks[idx].op == OP_EMPTY || dag->tasks[idx].op == OP_TRIGGER_DAGRUN)
        rc = EXIT_OK; /* nothing rendered before the run (a trigger's conf renders then) */
    else if (runner_task_command(s, dag, (size_t)idx, cli_map_index(a), run_id, logical, conf, xcom,
                                 &cmd, &e) < 0)
        log_error("tasks render: %s", e.msg);
    else {
        print_rendered(&dag->tasks[idx], &cmd);
        rc = EXIT_OK;
    }
    if (runner_sql_paths(xcom, &spec, &branch) == 0)
        unlink(spec), unlink(branch);
    rmdir(xdir);
out:
    free(spec), free(branch), free(xcom), free(conf);
    runner_cmd_clear(&cmd);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

/* ---- tasks failed-deps ---- */

/* The trigger rule as the planner judges it on the run's recorded states: NULL when met,
 * else the reason in buf. */
static const char *
trigger_rule_reason(const struct dag *dag, size_t idx, const struct store_ti *tis, size_t n,
                    char *buf, size_t size)
{
    struct plan_ti *p = calloc(dag->n_tasks + 1, sizeof(*p));
    struct plan_result r = {0};
    struct err e = {0};
    const char *why = "not met yet: its upstream tasks have not finished as it requires";

    if (p == NULL)
        return "out of memory";
    for (size_t i = 0; i < n; i++) {
        long k = dag_task_index(dag, tis[i].task_id);
        if (k >= 0)
            p[k].state = tis[i].state;
    }
    p[idx].state = TI_NONE; /* judged as if it were waiting */
    if (plan_run(dag, p, NULL, time(NULL), &r, &e) < 0)
        why = e.msg;
    for (size_t i = 0; i < r.n_changes; i++)
        if (r.changes[i].task == idx)
            why = r.changes[i].to == TI_SCHEDULED || r.changes[i].to == TI_QUEUED
                      ? NULL
                      : "it can never be met: the task would be skipped or upstream_failed";
    if (why)
        snprintf(buf, size, "Task's trigger rule '%s': %s",
                 trigger_rule_name(dag->tasks[idx].trigger_rule), why);
    plan_result_clear(&r);
    free(p);
    return why ? buf : NULL;
}

/* Print the dependencies not met; returns how many. */
static int
print_failed_deps(struct store *s, const struct dag *dag, size_t idx, const struct store_run *run,
                  const struct store_ti *tis, size_t n)
{
    const struct store_ti *ti = NULL;
    char buf[512];
    bool paused = false;
    struct err e = {0};
    int failed = 0;

    for (size_t i = 0; i < n; i++)
        if (strcmp(tis[i].task_id, dag->tasks[idx].task_id) == 0)
            ti = &tis[i];
    printf("Dependencies not met for <TaskInstance: %s.%s %s [%s]>:\n", dag->dag_id,
           dag->tasks[idx].task_id, run->run_id, ti ? ti_state_name(ti->state) : "none");
    if (ti && ti->state != TI_NONE && ti->state != TI_SCHEDULED && ti->state != TI_UP_FOR_RETRY &&
        ++failed)
        printf("Dependency: Task Instance State, reason: Task is in the '%s' state which is not "
               "a valid state for execution. The task must be cleared in order to be run.\n",
               ti_state_name(ti->state));
    if (run->state != RUN_QUEUED && run->state != RUN_RUNNING && ++failed)
        printf("Dependency: Dagrun Running, reason: Task instance's dagrun was not in the "
               "'running' state but in the state '%s'.\n",
               run_state_name(run->state));
    if (store_dag_is_paused(s, dag->dag_id, &paused, &e) == 0 && paused && ++failed)
        printf("Dependency: Dag Paused, reason: Task's DAG '%s' is paused.\n", dag->dag_id);
    if (trigger_rule_reason(dag, idx, tis, n, buf, sizeof(buf)) && ++failed)
        printf("Dependency: Trigger Rule, reason: %s\n", buf);
    return failed;
}

int
cli_tasks_failed_deps(const struct cli_args *a)
{
    struct store_run run = {0};
    struct store_ti *tis = NULL;
    struct dagbag *bag = NULL;
    struct store *s = NULL;
    const struct dag *dag;
    struct err e = {0};
    char *run_id = NULL;
    size_t n = 0;
    long idx;
    int rc = EXIT_FAIL;

    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL ||
        (dag = cli_find_dag(bag, a->argv[0])) == NULL)
        goto out;
    if ((idx = dag_task_index(dag, a->argv[1])) < 0) {
        log_error("no task '%s' in DAG '%s'", a->argv[1], dag->dag_id);
        goto out;
    }
    if ((s = cli_open_store()) == NULL || cli_resolve_run(s, dag->dag_id, a->argv[2], &run_id) < 0)
        goto out;
    if (store_run_get(s, dag->dag_id, run_id, &run, &e) < 0 ||
        store_tis_get(s, dag->dag_id, run_id, &tis, &n, &e) < 0) {
        log_error("%s", e.msg);
        goto out;
    }
    if (print_failed_deps(s, dag, (size_t)idx, &run, tis, n) == 0)
        printf("Task instance dependencies are all met.\n");
    rc = EXIT_OK;
out:
    free(run_id);
    store_tis_free(tis, n);
    store_run_clear(&run);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

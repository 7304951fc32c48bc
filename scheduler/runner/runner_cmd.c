/* runner_cmd: what a try runs and what it leaves behind: argv and environment of a
 * BashOperator, KubernetesPodOperator or SQL operator try (runner_sql.c), its XCom, and
 * TriggerDagRunOperator's run.
 *
 * Environment rules (Airflow's): a BashOperator with `env` gets exactly that environment
 * (plus the AIRFLOW_CTX_* variables), or gust's own with env over it when append_env is true,
 * otherwise gust's own; a KubernetesPodOperator gets
 * gust's environment with its env_vars over it, since locally the "pod" needs the same
 * endpoints gust has. The folder of the gust binary goes first in PATH so task executables
 * installed beside it are found. Every rendered value stays one argv element.
 *
 * A rendered bash_command with no shell syntax (shellwords.h) is split on blanks and run
 * directly, as make does, unless GUST_BASH_DIRECT=0: bash -c would exec that one command
 * anyway, so only bash's start is saved; the executor then reports a program it cannot
 * start as bash would (exit 127 or 126 and a line in the log, cmd->direct). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "iso8601.h"
#include "runid.h"
#include "runner/shellwords.h"
#include "runner_int.h"
#include "store/store.h"

extern char **environ;

void
runner_bindir(char out[PATH_MAX])
{
    ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
    char *slash;

    out[n > 0 ? n : 0] = '\0';
    if ((slash = strrchr(out, '/')) != NULL)
        *slash = '\0';
}

/* ---- environment ---- */

struct env {
    char **v; /* "KEY=value", NULL-terminated */
    size_t n;
};

static int
env_set(struct env *env, const char *key, const char *value)
{
    size_t klen = strlen(key);
    char *kv, **grown;

    if (asprintf(&kv, "%s=%s", key, value) < 0)
        return -1;
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], key, klen) == 0 && env->v[i][klen] == '=') {
            free(env->v[i]);
            env->v[i] = kv;
            return 0;
        }
    if ((grown = realloc(env->v, (env->n + 2) * sizeof(*grown))) == NULL) {
        free(kv);
        return -1;
    }
    env->v = grown;
    env->v[env->n++] = kv;
    env->v[env->n] = NULL;
    return 0;
}

static int
env_copy(struct env *env, char **from)
{
    for (; from && *from; from++) {
        const char *eq = strchr(*from, '=');
        char key[512];

        if (eq == NULL || (size_t)(eq - *from) >= sizeof(key))
            continue;
        memcpy(key, *from, (size_t)(eq - *from));
        key[eq - *from] = '\0';
        if (env_set(env, key, eq + 1) < 0)
            return -1;
    }
    return 0;
}

static const char *
env_get(const struct env *env, const char *key)
{
    size_t klen = strlen(key);

    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], key, klen) == 0 && env->v[i][klen] == '=')
            return env->v[i] + klen + 1;
    return NULL;
}

static void
free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void
runner_cmd_clear(struct runner_cmd *cmd)
{
    free_strv(cmd->argv);
    free_strv(cmd->envp);
    cmd->argv = cmd->envp = NULL;
    cmd->direct = false;
}

/* AIRFLOW_CTX_* (docs/architecture.md, "Semantics") and GUST_XCOM_FILE. */
static int
env_context(struct env *env, const struct ti_try *t)
{
    const struct active_run *run = t->run;
    const struct dag_task *task = ti_task(t);
    char iso[ISO8601_MAX], try_s[16];

    iso8601_format(run->logical_date, 0, 'T', iso);
    snprintf(try_s, sizeof(try_s), "%d", t->try_number);
    return env_set(env, "AIRFLOW_CTX_DAG_ID", run->dag_id) |
           env_set(env, "AIRFLOW_CTX_TASK_ID", task->task_id) |
           env_set(env, "AIRFLOW_CTX_LOGICAL_DATE", iso) |
           env_set(env, "AIRFLOW_CTX_EXECUTION_DATE", iso) |
           env_set(env, "AIRFLOW_CTX_DAG_RUN_ID", run->run_id) |
           env_set(env, "AIRFLOW_CTX_TRY_NUMBER", try_s) |
           env_set(env, "AIRFLOW_CTX_DAG_OWNER", task->owner ? task->owner : "airflow") |
           env_set(env, "GUST_XCOM_FILE", t->xcom_path);
}

static int
env_build(struct store *s, const struct ti_try *t, char **parent_env, const char *bindir,
          struct env *env, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    const char *path;
    char *pathv;

    if (!(task->op == OP_BASH && task->n_env > 0 && !task->append_env) &&
        env_copy(env, parent_env) < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    if (bindir[0] && (path = env_get(env, "PATH")) != NULL) {
        if (asprintf(&pathv, "%s:%s", bindir, path) < 0 || env_set(env, "PATH", pathv) < 0)
            return err_set(e, ERR_FAIL, "out of memory");
        free(pathv);
    }
    for (size_t i = 0; i < task->n_env; i++) {
        char *v = NULL;

        if (runner_render(s, t, task->env[i].value, &v, e) < 0)
            return err_prefix(e, "template error in env %s", task->env[i].key);
        if (env_set(env, task->env[i].key, v) < 0) {
            free(v);
            return err_set(e, ERR_FAIL, "out of memory");
        }
        free(v);
    }
    if (env_context(env, t) != 0)
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

/* ---- argv ---- */

static int
argv_render(struct store *s, const struct ti_try *t, char **const in[2], const size_t n_in[2],
            char ***out, struct err *e)
{
    size_t n = n_in[0] + n_in[1], k = 0;
    char **argv = calloc(n + 1, sizeof(*argv));

    if (argv == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (int part = 0; part < 2; part++)
        for (size_t i = 0; i < n_in[part]; i++, k++)
            if (runner_render(s, t, in[part][i], &argv[k], e) < 0) {
                free_strv(argv);
                return err_prefix(e, "template error in %s[%zu]", part ? "arguments" : "cmds", i);
            }
    *out = argv;
    return 0;
}

/* A SQL operator: `sql_task --spec FILE`, found along PATH (gust's folder first), with the
 * spec written now; a branch also gets GUST_BRANCH_FILE. */
static int
sql_command(struct store *s, const struct ti_try *t, struct runner_cmd *cmd, char **branch_path,
            struct err *e)
{
    char *spec = NULL;

    if (runner_sql_paths(t->xcom_path, &spec, branch_path) < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    if (runner_sql_write_spec(s, t, spec, e) < 0) {
        free(spec);
        return -1;
    }
    cmd->argv = calloc(4, sizeof(*cmd->argv));
    if (cmd->argv == NULL || !(cmd->argv[0] = strdup("sql_task")) ||
        !(cmd->argv[1] = strdup("--spec"))) {
        free(spec);
        runner_cmd_clear(cmd);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    cmd->argv[2] = spec;
    return 0;
}

/* dag-factory's variables_as_arguments: the last of the task's Variables that is set, or NULL. */
static int
bash_command_variable(struct store *s, const struct dag_task *task, char **out, struct err *e)
{
    *out = NULL;
    for (size_t i = task->n_bash_command_vars; i-- > 0 && *out == NULL;)
        if (store_variable_get(s, task->bash_command_vars[i], out, e) < 0)
            return err_prefix(e, "variables_as_arguments: Variable %s", task->bash_command_vars[i]);
    return 0;
}

/* GUST_BASH_DIRECT=0 (or "false", "no", "off"): every bash_command goes through bash. */
static bool
bash_direct(void)
{
    const char *v = getenv("GUST_BASH_DIRECT");

    return v == NULL || !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
                          strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0);
}

/* A direct command in the environment it got: back to bash where bash would not simply exec
 * the program (no PATH: bash has its own default; a function exported under the program's
 * name, BASH_FUNC_<name>%%, which bash would call instead); else PWD as bash sets it before
 * it execs (the physical path of the try's cwd). 0, or -1 when out of memory. */
static int
direct_env(struct runner_cmd *cmd, const char *cwd)
{
    struct env env = {.v = cmd->envp};
    char fn[300], *real, *script;
    bool path = false, bash = false;
    size_t fnlen;

    for (; env.v[env.n] != NULL; env.n++)
        ;
    fnlen = (size_t)snprintf(fn, sizeof(fn), "BASH_FUNC_%s%%%%=", cmd->argv[0]);
    for (size_t i = 0; i < env.n; i++) {
        path |= strncmp(env.v[i], "PATH=", 5) == 0;
        bash |= fnlen < sizeof(fn) && strncmp(env.v[i], fn, fnlen) == 0;
    }
    if (!path || bash) {
        size_t len = 0;
        for (size_t i = 0; cmd->argv[i] != NULL; i++)
            len += strlen(cmd->argv[i]) + 1;
        if ((script = malloc(len + 1)) == NULL)
            return -1;
        script[0] = '\0';
        for (size_t i = 0; cmd->argv[i] != NULL; i++)
            strcat(strcat(script, i ? " " : ""), cmd->argv[i]);
        free_strv(cmd->argv);
        cmd->direct = false;
        if ((cmd->argv = calloc(4, sizeof(*cmd->argv))) == NULL ||
            !(cmd->argv[0] = strdup("/bin/bash")) || !(cmd->argv[1] = strdup("-c"))) {
            free(script);
            return -1;
        }
        cmd->argv[2] = script;
        return 0;
    }
    if (cwd != NULL && (real = realpath(cwd, NULL)) != NULL) {
        int rc = env_set(&env, "PWD", real);
        free(real);
        cmd->envp = env.v;
        return rc;
    }
    return 0;
}

/* A BashOperator's argv: its bash_command rendered, run by /bin/bash -c or directly. */
static int
bash_argv(struct store *s, const struct ti_try *t, struct runner_cmd *cmd, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    char *from_var = NULL, *script = NULL;

    if (s != NULL && bash_command_variable(s, task, &from_var, e) < 0)
        return -1;
    if (runner_render(s, t, from_var ? from_var : task->bash_command, &script, e) < 0) {
        free(from_var);
        return err_prefix(e, "template error in bash_command");
    }
    free(from_var);
    if (bash_direct() && shellwords_plain(script)) {
        cmd->argv = shellwords_split(script);
        free(script);
        if (cmd->argv == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        cmd->direct = true;
    } else if ((cmd->argv = calloc(4, sizeof(*cmd->argv))) == NULL ||
               !(cmd->argv[0] = strdup("/bin/bash")) || !(cmd->argv[1] = strdup("-c"))) {
        free(script);
        runner_cmd_clear(cmd);
        return err_set(e, ERR_FAIL, "out of memory");
    } else {
        cmd->argv[2] = script;
    }
    return 0;
}

int
runner_build_command(struct store *s, const struct ti_try *t, char **parent_env, const char *bindir,
                     struct runner_cmd *cmd, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    struct env env = {0};
    char *branch = NULL;

    memset(cmd, 0, sizeof(*cmd));
    if (OP_IS_SQL(task->op)) {
        if (sql_command(s, t, cmd, &branch, e) < 0)
            return -1;
    } else if (task->op == OP_SENSOR && SENSOR_IN_SCHEDULER(task->sensor->kind)) {
        return err_set(e, ERR_USAGE,
                       "%s '%s' has no command: the scheduler pokes it itself (see "
                       "docs/dag-files.md, \"Sensors\")",
                       sensor_kind_name(task->sensor->kind), task->task_id);
    } else if (task->op == OP_SENSOR) {
        if (runner_sensor_command(s, t, cmd, e) < 0)
            return -1;
    } else if (task->op == OP_BASH) {
        if (bash_argv(s, t, cmd, e) < 0)
            return -1;
    } else {
        char **const parts[2] = {task->cmds, task->arguments};
        const size_t counts[2] = {task->n_cmds, task->n_arguments};

        if (task->n_cmds == 0)
            return err_set(e, ERR_USAGE,
                           "KubernetesPodOperator task '%s' has no cmds: locally gust runs cmds "
                           "+ arguments (the image's entrypoint is unknown here)",
                           task->task_id);
        if (argv_render(s, t, parts, counts, &cmd->argv, e) < 0)
            return -1;
    }
    if (env_build(s, t, parent_env, bindir, &env, e) < 0 ||
        (task->op == OP_SQL_BRANCH && env_set(&env, "GUST_BRANCH_FILE", branch) < 0 &&
         err_set(e, ERR_FAIL, "out of memory"))) {
        free(branch);
        free_strv(env.v);
        runner_cmd_clear(cmd);
        return -1;
    }
    free(branch);
    cmd->envp = env.v;
    if (cmd->direct && direct_env(cmd, task->cwd) < 0) {
        runner_cmd_clear(cmd);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    return 0;
}

/* A try of a run that exists only here: `gust tasks test`. */
int
runner_task_command(struct store *s, const struct dag *dag, size_t task, int map_index,
                    const char *run_id, time_t logical_date, const char *conf_json,
                    const char *xcom_path, struct runner_cmd *cmd, struct err *e)
{
    struct active_run *run;
    struct ti_try t;
    char bindir[PATH_MAX];
    int rc;

    memset(cmd, 0, sizeof(*cmd));
    if (task >= dag->n_tasks)
        return err_set(e, ERR_USAGE, "no task %zu in DAG '%s'", task, dag->dag_id);
    if ((dag->tasks[task].map != NULL) != (map_index >= 0))
        return err_set(e, ERR_USAGE,
                       map_index >= 0 ? "task '%s' is not mapped: it has no --map-index"
                                      : "task '%s' is mapped (expand): name one of its "
                                        "instances with --map-index N",
                       dag->tasks[task].task_id);
    run = active_run_new(dag, run_id, logical_date, 0, logical_date, logical_date, conf_json, e);
    if (run == NULL)
        return -1;
    t = (struct ti_try){.run = run,
                        .task = task,
                        .map_index = map_index,
                        .try_number = 1,
                        .max_tries = dag->tasks[task].retries,
                        .xcom_path = (char *)xcom_path};
    runner_bindir(bindir);
    rc = runner_bind(s, &t, e);
    if (rc == 0)
        rc = runner_build_command(s, &t, environ, bindir, cmd, e);
    if (t.bound) {
        dag_task_clear(t.bound);
        free(t.bound);
    }
    active_run_free(run);
    return rc;
}

/* ---- XCom ---- */

static char *
read_file(const char *path, size_t max, size_t *len, struct err *e)
{
    FILE *f = fopen(path, "rb");
    char *buf;

    if (f == NULL) {
        err_set(e, ERR_IO, "%s", strerror(errno));
        return NULL;
    }
    buf = malloc(max + 2);
    *len = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (buf == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

static int
xcom_from_file(const struct ti_try *t, size_t max, char **json, struct err *e)
{
    const char *task_id = ti_task(t)->task_id;
    json_error_t je;
    json_t *v;
    size_t len;
    char *text = read_file(t->xcom_path, max, &len, e);

    if (text == NULL)
        return err_prefix(e,
                          "do_xcom_push is set but task '%s' wrote no result file "
                          "($GUST_XCOM_FILE)",
                          task_id);
    if (len > max) {
        free(text);
        return err_set(e, ERR_FAIL,
                       "XCom of task '%s' is over the cap of %zu bytes "
                       "(GUST_XCOM_MAX_BYTES)",
                       task_id, max);
    }
    v = json_loadb(text, len, JSON_DECODE_ANY, &je);
    free(text);
    if (v == NULL)
        return err_set(e, ERR_PARSE,
                       "task '%s' wrote invalid JSON to $GUST_XCOM_FILE: line %d "
                       "column %d: %s",
                       task_id, je.line, je.column, je.text);
    *json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return *json ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

int
runner_try_xcom(const struct ti_try *t, const char *last_line, size_t last_line_len,
                size_t max_bytes, char **json, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    json_t *v;

    *json = NULL;
    if (task->op == OP_KPO)
        return xcom_from_file(t, max_bytes, json, e);
    /* sql_task writes its result (rows, check results) when it has one; none is no XCom */
    if (OP_IS_SQL(task->op))
        return access(t->xcom_path, F_OK) == 0 ? xcom_from_file(t, max_bytes, json, e) : 0;
    if (task->op == OP_SENSOR)
        return 0; /* Airflow's sensors push nothing (a poke's PokeReturnValue is Python) */
    /* Airflow's BashOperator pushes the last stdout line, "" when there was none; whole or
     * not at all (never a part of it): a NULL last_line with a length means the executor could
     * not keep it */
    if (last_line == NULL && last_line_len > max_bytes)
        return err_set(e, ERR_FAIL,
                       "XCom of task '%s': last stdout line is %zu bytes, over the XCom "
                       "limit of %zu (GUST_XCOM_MAX_BYTES): not pushed",
                       task->task_id, last_line_len, max_bytes);
    if (last_line == NULL && last_line_len > 0)
        return err_set(e, ERR_FAIL,
                       "XCom of task '%s': last stdout line (%zu bytes) could not be kept "
                       "(out of memory): not pushed",
                       task->task_id, last_line_len);
    if ((v = json_stringn(last_line ? last_line : "", last_line ? last_line_len : 0)) == NULL)
        return err_set(e, ERR_PARSE, "the last stdout line of task '%s' is not UTF-8",
                       task->task_id);
    *json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (*json == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if (strlen(*json) > max_bytes) {
        free(*json);
        *json = NULL;
        return err_set(e, ERR_FAIL,
                       "XCom of task '%s' is over the cap of %zu bytes "
                       "(GUST_XCOM_MAX_BYTES)",
                       task->task_id, max_bytes);
    }
    return 0;
}

/* ---- TriggerDagRunOperator ---- */

/* Every string inside a JSON value rendered in place (Airflow renders nested values of a
 * templated field); a rendered string stays one JSON string. */
int
runner_render_json(struct store *s, const struct ti_try *t, json_t *v, struct err *e)
{
    const char *key;
    json_t *item;
    size_t i;
    char *out;

    if (json_is_string(v)) {
        if (runner_render(s, t, json_string_value(v), &out, e) < 0)
            return -1;
        int rc = json_string_set(v, out);
        free(out);
        return rc == 0 ? 0 : err_set(e, ERR_USAGE, "not valid UTF-8 after rendering");
    }
    if (json_is_object(v)) {
        json_object_foreach(v, key, item) if (runner_render_json(s, t, item, e) < 0) return -1;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) if (runner_render_json(s, t, item, e) < 0) return -1;
    }
    return 0;
}

static char *
render_conf(struct store *s, const struct ti_try *t, struct err *e)
{
    const char *conf = ti_task(t)->conf_json;
    json_t *v = json_loads(conf ? conf : "{}", 0, NULL);
    char *out = NULL;

    if (v == NULL) {
        err_set(e, ERR_PARSE, "conf is not valid JSON");
        return NULL;
    }
    if (runner_render_json(s, t, v, e) == 0)
        out = json_dumps(v, JSON_COMPACT);
    else
        err_prefix(e, "template error in conf");
    json_decref(v);
    return out;
}

int
runner_trigger_run(struct store *s, const struct dagbag *bag, const struct ti_try *t, char *dag_out,
                   size_t dag_size, char *run_out, size_t run_size, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    const struct dag *target;
    char *dag_id = NULL, *conf = NULL, *xcom = NULL;
    long long id;
    int rc = -1;

    if (runner_render(s, t, task->trigger_dag_id, &dag_id, e) < 0) {
        err_prefix(e, "template error in trigger_dag_id");
        goto out;
    }
    if ((target = dagbag_find(bag, dag_id)) == NULL) {
        err_set(e, ERR_NOTFOUND, "no DAG '%s' to trigger", dag_id);
        goto out;
    }
    if ((conf = render_conf(s, t, e)) == NULL)
        goto out;
    snprintf(dag_out, dag_size, "%s", dag_id);
    if (dag_params_validate(target, conf, e) < 0) { /* Airflow refuses the run: the task fails */
        err_prefix(e, "DAG '%s'", dag_id);
        goto out;
    }
    if (store_run_create_manual(s, target, conf, "operator", run_out, run_size, &id, e) < 0)
        goto out;
    /* Airflow's TriggerDagRunOperator pushes the new run's id as XCom trigger_run_id */
    if (asprintf(&xcom, "\"%s\"", run_out) < 0) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    rc = store_xcom_set(s, t->run->dag_id, t->run->run_id, task->task_id, t->map_index,
                        "trigger_run_id", xcom, e);
out:
    free(dag_id);
    free(conf);
    free(xcom);
    return rc;
}

/* runner_sensor: the try of a sensor that runs as a process (docs/dag-files.md, "Sensors").
 * FileSensor, HttpSensor and BashSensor run `sensor_task --spec FILE`; SqlSensor runs sql_task
 * (runner_sql.c), whose spec gets the same common fields from runner_sensor_fields. The time
 * sensors and ExternalTaskSensor are evaluated by the scheduler itself and never get here.
 *
 * The spec (JSON, 0600, beside the try's XCom file as X.sensor.json) holds the rendered
 * templated fields of the sensor's class (FileSensor: filepath; HttpSensor: endpoint, headers,
 * request_params; BashSensor: bash_command, env) and the common fields: mode, poke_interval,
 * timeout, soft_fail, exponential_backoff, max_wait (null: none), first_poke (epoch seconds of
 * the sensor's first poke, which its timeout counts from; 0: this poke is the first) and
 * poke_count (the pokes before this one). Connections are named by id only: no password is
 * written to it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "runner_int.h"

static int
oom(struct err *e)
{
    return err_set(e, ERR_FAIL, "out of memory");
}

int
runner_sensor_fields(const struct ti_try *t, json_t *o)
{
    const struct dag_sensor *s = ti_task(t)->sensor;
    int bad = 0;

    if (s == NULL)
        return 0;
    bad |= json_object_set_new(o, "mode", json_string(s->reschedule ? "reschedule" : "poke"));
    bad |= json_object_set_new(o, "poke_interval", json_real(s->poke_interval));
    bad |= json_object_set_new(o, "timeout", json_real(s->timeout));
    bad |= json_object_set_new(o, "soft_fail", json_boolean(s->soft_fail));
    bad |= json_object_set_new(o, "exponential_backoff", json_boolean(s->exponential_backoff));
    bad |=
        json_object_set_new(o, "max_wait", s->max_wait > 0 ? json_real(s->max_wait) : json_null());
    bad |= json_object_set_new(o, "first_poke", json_real(t->first_poke));
    bad |= json_object_set_new(o, "poke_count", json_integer(t->poke_count));
    return bad ? -1 : 0;
}

/* Render src and set it as key of o (src NULL: nothing). */
static int
set_rendered(struct store *st, const struct ti_try *t, json_t *o, const char *key, const char *src,
             struct err *e)
{
    char *out = NULL;
    json_t *v;

    if (src == NULL)
        return 0;
    if (runner_render(st, t, src, &out, e) < 0)
        return err_prefix(e, "template error in %s", key);
    v = json_string(out);
    free(out);
    if (v == NULL)
        return err_set(e, ERR_USAGE, "%s is not valid UTF-8 after rendering", key);
    return json_object_set_new(o, key, v) == 0 ? 0 : oom(e);
}

/* A JSON object text as key of o, every string in it rendered when templated. */
static int
set_object(struct store *st, const struct ti_try *t, json_t *o, const char *key, const char *text,
           bool templated, struct err *e)
{
    json_t *v;

    if (text == NULL)
        return 0;
    if ((v = json_loads(text, 0, NULL)) == NULL)
        return err_set(e, ERR_USAGE, "%s is not valid JSON", key);
    if (json_object_set_new(o, key, v) != 0)
        return oom(e);
    return templated && runner_render_json(st, t, v, e) < 0
               ? err_prefix(e, "template error in %s", key)
               : 0;
}

static int
set_strings(json_t *o, const char *key, char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) != 0)
            break;
    return a ? json_object_set_new(o, key, a) : -1;
}

static int
bash_fields(struct store *st, const struct ti_try *t, json_t *o, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    json_t *env;

    if (set_rendered(st, t, o, "bash_command", task->bash_command, e) < 0)
        return -1;
    if (task->cwd != NULL && json_object_set_new(o, "cwd", json_string(task->cwd)) != 0)
        return oom(e);
    if (task->env == NULL)
        return 0;
    if ((env = json_object()) == NULL || json_object_set_new(o, "env", env) != 0)
        return oom(e);
    for (size_t i = 0; i < task->n_env; i++)
        if (set_rendered(st, t, env, task->env[i].key, task->env[i].value, e) < 0)
            return err_prefix(e, "env");
    return 0;
}

static int
kind_fields(struct store *st, const struct ti_try *t, const struct dag_sensor *s, json_t *o,
            struct err *e)
{
    switch (s->kind) {
    case SENSOR_FILE:
        if (set_rendered(st, t, o, "filepath", s->filepath, e) < 0)
            return -1;
        return json_object_set_new(o, "fs_conn_id", json_string(s->fs_conn_id)) ||
                       json_object_set_new(o, "recursive", json_boolean(s->recursive))
                   ? oom(e)
                   : 0;
    case SENSOR_HTTP:
        if (set_rendered(st, t, o, "endpoint", s->endpoint, e) < 0 ||
            set_object(st, t, o, "headers", s->headers_json, true, e) < 0 ||
            set_object(st, t, o, "request_params", s->request_params_json, true, e) < 0 ||
            set_object(st, t, o, "extra_options", s->extra_options_json, false, e) < 0)
            return -1;
        return json_object_set_new(o, "http_conn_id", json_string(s->http_conn_id)) ||
                       json_object_set_new(o, "method", json_string(s->method)) ||
                       set_strings(o, "response_error_codes_allowlist", s->error_codes,
                                   s->n_error_codes)
                   ? oom(e)
                   : 0;
    case SENSOR_BASH:
        return bash_fields(st, t, o, e);
    default:
        return err_set(e, ERR_USAGE, "sensor %s is evaluated by the scheduler, not a process",
                       sensor_kind_name(s->kind));
    }
}

static json_t *
build_spec(struct store *st, const struct ti_try *t, struct err *e)
{
    const struct dag_task *task = ti_task(t);
    const struct dag_sensor *s = task->sensor;
    json_t *o = json_object();
    int bad = 0;

    if (o == NULL) {
        oom(e);
        return NULL;
    }
    bad |= json_object_set_new(o, "sensor", json_string(sensor_kind_name(s->kind)));
    bad |= json_object_set_new(o, "dag_id", json_string(t->run->dag_id));
    bad |= json_object_set_new(o, "task_id", json_string(task->task_id));
    bad |= json_object_set_new(o, "run_id", json_string(t->run->run_id));
    bad |= json_object_set_new(o, "try_number", json_integer(t->try_number));
    if (bad || runner_sensor_fields(t, o) < 0) {
        oom(e);
        goto fail;
    }
    if (kind_fields(st, t, s, o, e) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* X.sensor.json beside the try's result file X.return.json. */
static char *
spec_path_of(const char *xcom_path)
{
    static const char suffix[] = ".return.json";
    size_t n = strlen(xcom_path), m = sizeof(suffix) - 1;
    int base = (int)(n >= m && strcmp(xcom_path + n - m, suffix) == 0 ? n - m : n);
    char *p;

    return asprintf(&p, "%.*s.sensor.json", base, xcom_path) < 0 ? NULL : p;
}

int
runner_sensor_command(struct store *st, const struct ti_try *t, struct runner_cmd *cmd,
                      struct err *e)
{
    json_t *spec;
    char *path;
    int rc;

    if (ti_task(t)->sensor == NULL)
        return err_set(e, ERR_USAGE, "task '%s' has no sensor arguments", ti_task(t)->task_id);
    if ((spec = build_spec(st, t, e)) == NULL)
        return -1;
    if ((path = spec_path_of(t->xcom_path)) == NULL) {
        json_decref(spec);
        return oom(e);
    }
    rc = runner_write_spec(spec, path, "sensor", e);
    json_decref(spec);
    if (rc < 0) {
        free(path);
        return -1;
    }
    cmd->argv = calloc(4, sizeof(*cmd->argv));
    if (cmd->argv == NULL || !(cmd->argv[0] = strdup("sensor_task")) ||
        !(cmd->argv[1] = strdup("--spec"))) {
        free(path);
        runner_cmd_clear(cmd);
        return oom(e);
    }
    cmd->argv[2] = path;
    return 0;
}

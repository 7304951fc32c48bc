/* sensor_task: the pokes of a sensor that runs as a process (FileSensor, HttpSensor,
 * BashSensor), run by gust's runner as `sensor_task --spec FILE` (docs/dag-files.md,
 * "Sensors"), with the semantics of Airflow's sensors.
 *
 * The spec (JSON, written per try by the runner) names the sensor, its rendered arguments and
 * the common fields (mode, poke_interval, timeout, soft_fail, exponential_backoff, max_wait,
 * first_poke, poke_count). Mode poke pokes in a loop within this process; mode reschedule
 * pokes once. Connections (fs_conn_id, http_conn_id) are looked up as Airflow does:
 * AIRFLOW_CONN_<ID>, then the metadata database's connection table.
 *
 * - FileSensor: filepath (a glob; "**" spans folders when recursive) below the fs connection's
 *   extra "path"; met when a match is a file or a folder with a file below it. fs_default
 *   missing: no base path.
 * - HttpSensor: one request per poke to the connection's base URL + endpoint (GET: the
 *   request_params as the query; other methods: as a form body), with its headers, the
 *   connection's login as basic auth and its extra as headers. Met below 400; a status in
 *   response_error_codes_allowlist (default 404) is not yet; another one, or no answer, is an
 *   error.
 * - BashSensor: /bin/bash -c bash_command with the task's env (exactly, when given) in cwd;
 *   exit 0 met, anything else not yet.
 *
 * Exit codes: 0 met; 98 not met yet (reschedule mode); 100 timed out, or a bad spec; 99
 * skipped (soft_fail); 1 an error (retried), 111 a temporary one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "http.h"
#include "httphook.h"
#include "sensorloop.h"
#include "sensorpoke.h"
#include "task.h"

#define USAGE                                                                                      \
    "sensor_task --spec FILE\n"                                                                    \
    "Poke a FileSensor, HttpSensor or BashSensor described by the JSON spec FILE that gust's\n"    \
    "runner writes (docs/dag-files.md, \"Sensors\"): in a loop (mode poke) or once (mode\n"        \
    "reschedule). Connections from AIRFLOW_CONN_<ID>, else the metadata database.\n"               \
    "Exit 0 met, 98 not yet (reschedule), 100 timed out or bad spec, 99 skipped (soft_fail),\n"    \
    "1 error, 111 temporary error."

enum kind { K_FILE, K_HTTP, K_BASH };

/* One sensor: its spec and what its pokes need. */
struct sensor {
    enum kind kind;
    json_t *spec;
    struct sensor_common common;
    const char *filepath, *base; /* FileSensor (base: owned copy in base_buf) */
    char *base_buf;
    bool recursive;
    char *url;          /* HttpSensor: base URL + endpoint (+ query for GET) */
    char *form;         /* its form body (other methods), or NULL */
    const char *method; /* "GET" ... */
    struct task_list headers;
    long timeout_ms;
    bool check_response;
    json_t *allow;                  /* response_error_codes_allowlist (borrowed), NULL: ["404"] */
    const char *bash_command, *cwd; /* BashSensor */
    struct task_list env;
    bool has_env;
};

static const char *
str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- FileSensor ---- */

static int
file_setup(struct sensor *s, struct err *e)
{
    const char *id = str_of(s->spec, "fs_conn_id");
    struct conn c = {0};

    s->filepath = str_of(s->spec, "filepath");
    s->recursive = json_is_true(json_object_get(s->spec, "recursive"));
    if (s->filepath == NULL || s->filepath[0] == '\0')
        return err_set(e, ERR_USAGE, "filepath: missing (required)");
    if (id == NULL)
        id = "fs_default";
    if (conn_lookup_default(id, &c, e) < 0) {
        if (e->code == ERR_NOTFOUND && strcmp(id, "fs_default") == 0)
            return 0; /* no base path: filepath as written */
        return err_prefix(e, "fs_conn_id");
    }
    s->base = s->base_buf = conn_extra_get(&c, "path");
    conn_clear(&c);
    return 0;
}

static int
file_poke(struct sensor *s, int n, struct err *e)
{
    char what[9000];
    int rc = sensorpoke_file(s->base, s->filepath, s->recursive, what, sizeof(what), e);

    if (rc >= 0)
        task_log("poke %d: %s", n, what);
    return rc;
}

/* ---- HttpSensor ---- */

static int
http_options(struct sensor *s, struct err *e)
{
    json_t *o = json_object_get(s->spec, "extra_options"), *v;
    const char *k;

    s->timeout_ms = 0; /* http.c's default */
    s->check_response = true;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "timeout") == 0 && json_is_number(v) && json_number_value(v) > 0)
            s->timeout_ms = (long)(json_number_value(v) * 1000);
        else if (strcmp(k, "check_response") == 0 && json_is_boolean(v))
            s->check_response = json_is_true(v);
        else
            task_log("warning: extra_options.%s is not supported by gust's HttpSensor: ignored", k);
    }
    (void)e;
    return 0;
}

static int
http_setup(struct sensor *s, struct err *e)
{
    const char *id = str_of(s->spec, "http_conn_id"), *endpoint = str_of(s->spec, "endpoint");
    json_t *hdrs = json_object_get(s->spec, "headers"), *v;
    char *query = httphook_urlencode(json_object_get(s->spec, "request_params")), *url;
    struct conn c = {0};
    const char *k;
    int rc = -1;

    s->method = str_of(s->spec, "method") ? str_of(s->spec, "method") : "GET";
    s->allow = json_object_get(s->spec, "response_error_codes_allowlist");
    if (conn_lookup_default(id ? id : "http_default", &c, e) < 0) {
        err_prefix(e, "http_conn_id");
        goto out;
    }
    if ((url = httphook_url(&c, endpoint ? endpoint : "")) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    s->url = url;
    if (query && strcmp(s->method, "GET") == 0) {
        s->url = NULL;
        if (asprintf(&s->url, "%s%s%s", url, strchr(url, '?') ? "&" : "?", query) < 0)
            s->url = NULL;
        free(url);
    } else {
        s->form = query, query = NULL;
    }
    if (s->url == NULL || httphook_conn_headers(&c, &s->headers, e) < 0 || http_options(s, e) < 0)
        goto out;
    json_object_foreach(hdrs, k, v) if (httphook_add_header(&s->headers, k, v, e) < 0) goto out;
    rc = 0;
out:
    free(query);
    conn_clear(&c);
    return rc;
}

/* One request; the finished response, or NULL when stopped by a signal (e). */
static struct http_response *
http_request_once(struct sensor *s, struct err *e)
{
    struct http_opts o = {.max_tries = 1, .timeout_ms = s->timeout_ms};
    bool get = strcmp(s->method, "GET") == 0, post = strcmp(s->method, "POST") == 0;
    struct http_request r = {.method = get ? HTTP_GET : HTTP_POST,
                             .url = s->url,
                             .form = get       ? NULL
                                     : s->form ? s->form
                                               : "",
                             .verb = get || post ? NULL : s->method,
                             .headers = (const char *const *)s->headers.v,
                             .label = "HttpSensor"};
    struct http_client *c = http_client_new(&o, e);
    struct http_response *res = NULL;

    if (c == NULL || http_submit(c, &r, e) < 0) {
        http_client_free(c);
        return NULL;
    }
    while (res == NULL && !task_stopping())
        if (http_client_run(c, 250, e) < 0 || (res = http_next_done(c)) != NULL ||
            !http_client_busy(c))
            break;
    if (res == NULL && e->code == ERR_OK)
        err_set(e, ERR_FAIL, "stopped by signal %d during the request", task_stop_signal());
    http_client_free(c);
    return res;
}

/* Airflow: an error status whose "<status>:<reason>" starts with an allowlist entry is "not
 * yet" (the reason is not kept here: an entry is matched against "<status>:"). */
static bool
allowed(const struct sensor *s, long status)
{
    char text[32];
    size_t i, tl;
    json_t *v;

    tl = (size_t)snprintf(text, sizeof(text), "%ld:", status);
    if (s->allow == NULL)
        return status == 404;
    json_array_foreach(s->allow, i, v)
    {
        const char *p = json_string_value(v);
        size_t pl = p ? strlen(p) : 0;
        if (pl > 0 && strncmp(text, p, pl < tl ? pl : tl) == 0)
            return true;
    }
    return false;
}

static int
http_poke(struct sensor *s, int n, struct err *e)
{
    struct http_response *res = http_request_once(s, e);
    long st;
    int rc;

    if (res == NULL)
        return -1;
    st = res->status;
    if (st == 0) { /* no answer: requests raises, the poke fails */
        *e = res->err;
        http_response_free(res);
        return -1;
    }
    rc = st < 400 || !s->check_response ? 1 : allowed(s, st) ? 0 : -1;
    task_log("poke %d: %s %s: HTTP %ld%s", n, s->method, s->url, st,
             rc > 0    ? ""
             : rc == 0 ? " (in response_error_codes_allowlist: keep poking)"
                       : "");
    if (rc < 0)
        err_set(e, ERR_FAIL, "HTTP %ld from %s %s", st, s->method, s->url);
    http_response_free(res);
    return rc;
}

/* ---- BashSensor ---- */

static int
bash_setup(struct sensor *s, struct err *e)
{
    json_t *env = json_object_get(s->spec, "env"), *v;
    const char *k;

    s->bash_command = str_of(s->spec, "bash_command");
    s->cwd = str_of(s->spec, "cwd");
    if (s->bash_command == NULL || s->bash_command[0] == '\0')
        return err_set(e, ERR_USAGE, "bash_command: missing (required)");
    if (env != NULL && !json_is_object(env))
        return err_set(e, ERR_USAGE, "env: want an object");
    s->has_env = env != NULL;
    json_object_foreach(env, k, v)
    {
        char *kv = NULL;
        if (!json_is_string(v))
            return err_set(e, ERR_USAGE, "env.%s: want a string", k);
        if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0)
            return err_set(e, ERR_FAIL, "out of memory");
        int rc = task_list_add(&s->env, kv, e);
        free(kv);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
bash_poke(struct sensor *s, int n, struct err *e)
{
    static char *const empty[] = {NULL};
    char what[300];
    int rc = sensorpoke_bash(s->bash_command, s->has_env ? (s->env.v ? s->env.v : empty) : NULL,
                             s->cwd, what, sizeof(what), e);

    if (rc >= 0)
        task_log("poke %d: %s", n, what);
    return rc;
}

/* ---- main ---- */

static int
poke(void *arg, int n, struct err *e)
{
    struct sensor *s = arg;

    return s->kind == K_FILE   ? file_poke(s, n, e)
           : s->kind == K_HTTP ? http_poke(s, n, e)
                               : bash_poke(s, n, e);
}

static int
load(struct sensor *s, const char *path, struct err *e)
{
    json_error_t je;
    const char *name;

    if ((s->spec = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return err_set(e, ERR_USAGE, "spec %s:%d:%d: %s", path, je.line, je.column, je.text);
    if (!json_is_object(s->spec))
        return err_set(e, ERR_USAGE, "spec %s: want a JSON object", path);
    if (sensorloop_read(s->spec, &s->common, e) < 0)
        return err_prefix(e, "spec %s", path);
    name = str_of(s->spec, "sensor");
    if (name && strcmp(name, "FileSensor") == 0)
        return s->kind = K_FILE, file_setup(s, e);
    if (name && strcmp(name, "HttpSensor") == 0)
        return s->kind = K_HTTP, http_setup(s, e);
    if (name && strcmp(name, "BashSensor") == 0)
        return s->kind = K_BASH, bash_setup(s, e);
    return err_set(e, ERR_USAGE, "spec %s: sensor: want FileSensor, HttpSensor or BashSensor",
                   path);
}

static void
sensor_clear(struct sensor *s)
{
    json_decref(s->spec);
    free(s->base_buf);
    free(s->url);
    free(s->form);
    task_list_free(&s->headers);
    task_list_free(&s->env);
}

int
main(int argc, char **argv)
{
    const char *spec_path = NULL;
    struct task_opt opts[] = {
        {"--spec", "GUST_SENSOR_SPEC", NULL, "the JSON spec file of the try (written by gust)",
         &spec_path, false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct sensor s = {0};
    struct err e = {0};
    int rc;

    task_set_name("sensor_task");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (rc == 0 && (spec_path == NULL || *spec_path == '\0'))
        rc = err_set(&e, ERR_USAGE, "--spec FILE is required (see --help)");
    if (rc == 0 && load(&s, spec_path, &e) == 0) {
        task_log("dag=%s run=%s task=%s sensor=%s mode=%s", s.common.dag_id ? s.common.dag_id : "?",
                 s.common.run_id ? s.common.run_id : "?", s.common.task_id ? s.common.task_id : "?",
                 str_of(s.spec, "sensor"), s.common.reschedule ? "reschedule" : "poke");
        rc = sensorloop_run(&s.common, poke, &s);
    } else {
        task_log("error: %s", e.msg);
        rc = task_exit_code(&e);
    }
    sensor_clear(&s);
    return rc;
}

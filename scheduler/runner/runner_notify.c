/* runner_notify: running the callbacks (notifiers) of a state change (docs/operations.md,
 * "Notifications").
 *
 * After a fenced update this process won (a try claimed: on_execute; a try's end recorded:
 * on_success, on_failure, on_retry, on_skipped; a run finished: the DAG's on_success /
 * on_failure), each notifier of that event gets a callback_request row; only when this
 * process's insert added the row (store_callback_begin) is the notifier run, so a state change
 * is notified at most once however many schedulers race. Its arguments (args_json) are
 * rendered with the try's template context plus the callback's names (ti.state, ti.log_url,
 * exception, exception_html, reason), written as the spec of `notify_task --spec FILE`
 * (0600, beside the try's files; a run's under its run folder) and started through the
 * executor with a time limit (GUST_CALLBACK_TIMEOUT, default 60 s). Its end goes into the row
 * (success / failed, ended_at, message), the try's log and the scheduler's log.
 *
 * Invariants: a callback never changes a task instance's or a run's state, whatever it does
 * (fails, hangs, is killed); it takes no slot of parallelism. A change whose process dies
 * between the update and the insert is not notified (at most once, as Airflow's callbacks). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "log.h"
#include "fdio.h"
#include "runner_int.h"
#include "store/store.h"

extern char **environ;

/* One callback process in flight. */
struct callback_job {
    long long id;    /* its callback_request row */
    char label[400]; /* "dag=D run=R task=T try=N on_failure_callback[0] (path)" */
    char *try_log;   /* the try's log for its end line (NULL: a run's callback) */
    char *log_path;  /* the callback's own output */
    struct callback_job *next;
};

/* What a notification is about: a try (task_id set) or a run (task_id NULL). */
struct notify_subject {
    const struct ti_try *t; /* renders the arguments (a run's: a stand-in try) */
    const char *task_id;
    int map_index, try_number;
    const char *dir;     /* where its files go: the try's folder, or the run's */
    const char *prefix;  /* file name start: "attempt=N." or "" */
    const char *try_log; /* NULL: none */
};

double
runner_callback_timeout(void)
{
    const char *s = getenv("GUST_CALLBACK_TIMEOUT");

    return s && atof(s) > 0 ? atof(s) : 60;
}

static const char *
kind_name(enum notifier_kind k)
{
    return k == NOTIFY_SLACK_WEBHOOK ? "slack_webhook" : k == NOTIFY_SMTP ? "smtp" : "http";
}

/* ---- the spec ---- */

/* The notifier's arguments rendered, with what notify_task needs around them. */
static json_t *
build_spec(struct runner *r, const struct ti_try *t, const struct dag_notifier *n, struct err *e)
{
    json_t *spec = json_loads(n->args_json ? n->args_json : "{}", 0, NULL);
    double net = r->callback_timeout > 4 ? r->callback_timeout - 2 : r->callback_timeout / 2;

    if (!json_is_object(spec)) {
        json_decref(spec);
        err_set(e, ERR_USAGE, "its arguments are not a JSON object");
        return NULL;
    }
    if (runner_render_json(r->store, t, spec, e) < 0) {
        err_prefix(e, "template error in its arguments");
        json_decref(spec);
        return NULL;
    }
    if (json_object_set_new(spec, "kind", json_string(kind_name(n->kind))) < 0 ||
        json_object_set_new(spec, "conn_id", json_string(n->conn_id ? n->conn_id : "")) < 0 ||
        json_object_set_new(spec, "timeout", json_integer(net >= 1 ? (long long)net : 1)) < 0 ||
        json_object_set_new(spec, "callback", json_string(n->callback ? n->callback : "")) < 0) {
        json_decref(spec);
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    return spec;
}

/* The parent's environment with the folder of gust's programs first in PATH (notify_task
 * lives beside gust), NULL-terminated, owned. */
static char **
callback_env(const struct runner *r)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    if ((env = calloc(n + 2, sizeof(*env))) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        bool path = strncmp(environ[i], "PATH=", 5) == 0 && r->bindir[0];
        int rc = path ? asprintf(&env[k], "PATH=%s:%s", r->bindir, environ[i] + 5)
                      : ((env[k] = strdup(environ[i])) ? 0 : -1);
        if (rc < 0) {
            env[k] = NULL;
            for (size_t j = 0; j < k; j++)
                free(env[j]);
            free(env);
            return NULL;
        }
        k++;
    }
    return env;
}

/* ---- starting one ---- */

static void
job_free(struct callback_job *j)
{
    if (j == NULL)
        return;
    free(j->try_log);
    free(j->log_path);
    free(j);
}

/* Start notify_task for job j with its spec; 0, or -1 with e (nothing started). */
static int
start_job(struct runner *r, struct callback_job *j, const char *spec_path, struct err *e)
{
    char *argv[] = {"notify_task", "--spec", (char *)spec_path, NULL};
    char **env = callback_env(r);
    struct exec_spec es = {.argv = argv,
                           .envp = env,
                           .log_path = j->log_path,
                           .timeout = r->callback_timeout,
                           .kill_grace = r->opts.kill_grace,
                           .data = j,
                           .log_max = 1u << 20};
    int rc;

    if (env == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    rc = executor_start(r->x, &es, NULL, e);
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
    return rc;
}

/* A callback that could not start: its row and the logs say why. */
static void
never_started(struct runner *r, struct callback_job *j, const struct err *e)
{
    struct err se = {0};

    if (store_callback_end(r->store, j->id, false, e->msg, &se) < 0)
        log_error("%s: %s", j->label, se.msg);
    runner_log_line(j->try_log, "%s: not sent: %s", j->label, e->msg);
    log_warn("%s: not sent: %s", j->label, e->msg);
    job_free(j);
}

/* Render, write and start notifier n (its row j->id already inserted). Takes j. */
static void
launch(struct runner *r, const struct notify_subject *sub, const struct dag_notifier *n,
       const char *key, size_t pos, struct callback_job *j)
{
    struct err e = {0};
    json_t *spec = build_spec(r, sub->t, n, &e);
    char *spec_path = NULL;

    if (asprintf(&spec_path, "%s/%s%s.%zu.json", sub->dir, sub->prefix, key, pos) < 0)
        spec_path = NULL;
    if (asprintf(&j->log_path, "%s/%s%s.%zu.log", sub->dir, sub->prefix, key, pos) < 0)
        j->log_path = NULL;
    if (spec_path == NULL || j->log_path == NULL)
        err_set(&e, ERR_FAIL, "out of memory");
    if (spec == NULL || e.msg[0] || runner_write_spec(spec, spec_path, "callback", &e) < 0 ||
        start_job(r, j, spec_path, &e) < 0) {
        never_started(r, j, &e);
    } else {
        j->next = r->callbacks;
        r->callbacks = j;
        r->n_callbacks++;
        runner_log_line(j->try_log, "%s: started", j->label);
        log_info("%s: started", j->label);
    }
    json_decref(spec);
    free(spec_path);
}

/* Every notifier of one event: the row first, the process only when the row is ours. */
static void
notify_all(struct runner *r, const struct notify_subject *sub, const struct dag_notifiers *on,
           enum notify_event ev)
{
    const char *key = notify_event_key(ev);
    const struct active_run *run = sub->t->run;

    if (r->terminated) /* shutting down, the grace is over: nothing new starts */
        return;
    for (size_t i = 0; i < on->n; i++) {
        const struct dag_notifier *n = &on->v[i];
        struct store_callback cb = {run->dag_id,    run->run_id,     sub->task_id,
                                    sub->map_index, sub->try_number, key,
                                    (int)i,         n->callback,     r->hostname};
        struct callback_job *j = calloc(1, sizeof(*j));
        struct err e = {0};
        int won = j ? store_callback_begin(r->store, &cb, &j->id, &e) : -1;

        if (won != 1) {
            if (won < 0)
                log_error("dag=%s run=%s %s: %s", run->dag_id, run->run_id, key,
                          j ? e.msg : "out of memory");
            job_free(j);
            continue;
        }
        snprintf(j->label, sizeof(j->label), "dag=%s run=%s%s%s try=%d %s[%zu] (%s)", run->dag_id,
                 run->run_id, sub->task_id ? " task=" : "", sub->task_id ? sub->task_id : "",
                 sub->try_number, key, i, n->callback);
        j->try_log = sub->try_log ? strdup(sub->try_log) : NULL;
        launch(r, sub, n, key, i, j);
    }
}

/* ---- the events ---- */

static char *
dir_of(const char *path)
{
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;

    if (slash)
        *slash = '\0';
    return dir;
}

void
runner_notify_ti(struct runner *r, struct ti_try *t, enum notify_event ev, enum ti_state st,
                 const char *detail)
{
    /* the task as written: a mapped instance's bound copy carries no notifiers */
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    const struct dag_notifiers *on = &task->on[ev];
    struct notify_ctx nc = {ti_state_name(st), t->log_path, detail, NULL};
    char prefix[32], *dir;

    if (on->n == 0 || t->log_path == NULL)
        return;
    if ((dir = dir_of(t->log_path)) == NULL)
        return;
    snprintf(prefix, sizeof(prefix), "attempt=%d.", t->try_number);
    struct notify_subject sub = {t,   task->task_id, t->map_index, t->try_number,
                                 dir, prefix,        t->log_path};
    t->notify = &nc;
    notify_all(r, &sub, on, ev);
    t->notify = NULL;
    free(dir);
}

/* The task instance a run's callback renders with (Airflow gives a run's callback the
 * context of one of its task instances): the first failed one for a failure, else the last
 * task's. *clears: the run's clear_number, which tells a run's later end (after a clear)
 * from its first one in callback_request. */
static int
run_subject_task(struct runner *r, const struct active_run *run, bool failed, size_t *task,
                 int *try_number, int *clears)
{
    struct store_ti *rows = NULL;
    size_t n = 0;
    struct err e = {0};
    long last = -1, first_failed = -1;
    int last_try = 0, failed_try = 0;
    struct store_run sr = {0};

    if (store_run_get(r->store, run->dag_id, run->run_id, &sr, &e) < 0 ||
        store_tis_get(r->store, run->dag_id, run->run_id, &rows, &n, &e) < 0) {
        log_error("dag=%s run=%s: run callbacks: %s", run->dag_id, run->run_id, e.msg);
        store_run_clear(&sr);
        return -1;
    }
    *clears = sr.clear_number;
    store_run_clear(&sr);
    for (size_t i = 0; i < n; i++) {
        long idx = dag_task_index(run->dag, rows[i].task_id);

        if (idx > last)
            last = idx, last_try = rows[i].try_number;
        if (idx >= 0 && rows[i].state == TI_FAILED && first_failed < 0)
            first_failed = idx, failed_try = rows[i].try_number;
    }
    store_tis_free(rows, n);
    if (failed && first_failed >= 0)
        last = first_failed, last_try = failed_try;
    *task = last >= 0 ? (size_t)last : 0;
    *try_number = last_try;
    return 0;
}

/* The folder of a run's files, <logs>/dag_id=D/run_id=R, made if missing: new, or NULL. */
static char *
run_dir(struct runner *r, const struct active_run *run, struct err *e)
{
    char *log = NULL, *xcom = NULL, *dir = NULL;

    /* the ids checked as for a try's files (folder names, length) */
    if (runner_try_paths(r->opts.logs_folder, run->dag_id, run->run_id, "x", -1, 1, &log, &xcom,
                         e) == 0 &&
        asprintf(&dir, "%s/dag_id=%s/run_id=%s", r->opts.logs_folder, run->dag_id, run->run_id) <
            0) {
        dir = NULL;
        err_set(e, ERR_FAIL, "out of memory");
    }
    if (dir && mkdir_p(dir) < 0) {
        err_set(e, ERR_IO, "cannot create the run's log folder %s: %s", dir, strerror(errno));
        free(dir);
        dir = NULL;
    }
    free(log);
    free(xcom);
    return dir;
}

void
runner_notify_run(struct runner *r, struct active_run *run, enum notify_event ev,
                  const char *reason)
{
    const struct dag_notifiers *on = &run->dag->on[ev];
    struct ti_try t = {.run = run, .map_index = -1};
    struct notify_ctx nc = {ev == NOTIFY_ON_SUCCESS ? "success" : "failed", NULL, NULL, reason};
    int clears = 0;
    char *dir;
    struct err e = {0};

    if (on->n == 0 || run->dag->n_tasks == 0 ||
        run_subject_task(r, run, ev == NOTIFY_ON_FAILURE, &t.task, &t.try_number, &clears) < 0)
        return;
    if ((dir = run_dir(r, run, &e)) == NULL) {
        log_error("dag=%s run=%s: run callbacks: %s", run->dag_id, run->run_id, e.msg);
        return;
    }
    struct notify_subject sub = {&t, NULL, -1, clears, dir, "", NULL};
    t.notify = &nc;
    notify_all(r, &sub, on, ev);
    free(dir);
}

int
runner_time_out_runs(struct runner *r, const struct dag *dag, time_t now, int *timed_out,
                     struct err *e)
{
    char **ids = NULL;
    size_t n = 0;

    if (store_runs_timeout_ids(r->store, dag->dag_id, dag->dagrun_timeout, now, &ids, &n, e) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) { /* in memory: its start is known (dagrun.duration.failed) */
        const struct active_run *mem = runner_find_run(r, dag->dag_id, ids[i]);

        if (mem)
            runner_metric_run_end(r, mem, RUN_FAILED, now);
    }
    for (size_t i = 0; i < n && dag->on[NOTIFY_ON_FAILURE].n > 0; i++) {
        struct active_run *run = active_run_load(r->store, dag, ids[i], e);

        if (run == NULL) {
            log_error("dag=%s run=%s: run callbacks: %s", dag->dag_id, ids[i], e->msg);
            *e = (struct err){0};
            continue;
        }
        runner_notify_run(r, run, NOTIFY_ON_FAILURE, "timed_out");
        active_run_free(run);
    }
    store_strings_free(ids, n);
    *timed_out = (int)n;
    return 0;
}

/* ---- the end of one ---- */

/* The last non-empty line of a file (its last 4 KiB), into buf. */
static void
last_line(const char *path, char *buf, size_t size)
{
    char tail[4096];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    char *end, *start;

    buf[0] = '\0';
    if (f == NULL)
        return;
    if (fseek(f, -(long)(sizeof(tail) - 1), SEEK_END) < 0)
        rewind(f);
    n = fread(tail, 1, sizeof(tail) - 1, f);
    fclose(f);
    tail[n] = '\0';
    for (end = tail + n; end > tail && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ');)
        *--end = '\0';
    start = strrchr(tail, '\n');
    start = start ? start + 1 : tail;
    n = strlen(start) < size ? strlen(start) : size - 1;
    memcpy(buf, start, n);
    buf[n] = '\0';
}

static void
describe_end(const struct runner *r, const struct callback_job *j, const struct exec_result *res,
             char *msg, size_t size)
{
    char line[1024];

    last_line(j->log_path, line, sizeof(line));
    if (res->timed_out)
        snprintf(msg, size, "timed out after %.0f s", r->callback_timeout);
    else if (res->exec_failed)
        snprintf(msg, size, "%s", res->exec_error);
    else if (res->term_signal)
        snprintf(msg, size, "killed by signal %d%s%s", res->term_signal, line[0] ? ": " : "", line);
    else if (res->exit_code != 0 && line[0] == '\0')
        snprintf(msg, size, "exit %d", res->exit_code);
    else
        snprintf(msg, size, "%s", line);
}

bool
runner_notify_done(struct runner *r, const struct exec_result *res)
{
    struct callback_job **p = &r->callbacks, *j;
    char msg[1200];
    struct err e = {0};
    bool ok;

    while (*p && *p != res->data)
        p = &(*p)->next;
    if ((j = *p) == NULL)
        return false; /* a try's */
    *p = j->next;
    r->n_callbacks--;
    ok = !res->timed_out && !res->exec_failed && res->term_signal == 0 && res->exit_code == 0;
    describe_end(r, j, res, msg, sizeof(msg));
    if (store_callback_end(r->store, j->id, ok, msg, &e) < 0)
        log_error("%s: %s", j->label, e.msg);
    runner_log_line(j->try_log, "%s: %s: %s", j->label, ok ? "sent" : "failed", msg);
    if (ok)
        log_info("%s: sent: %s", j->label, msg);
    else
        log_warn("%s: failed: %s (its output: %s)", j->label, msg, j->log_path);
    job_free(j);
    return true;
}

void
runner_notify_free(struct runner *r)
{
    while (r->callbacks) {
        struct callback_job *j = r->callbacks;

        r->callbacks = j->next;
        job_free(j);
    }
    r->n_callbacks = 0;
}

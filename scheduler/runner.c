/* runner: one process driving DAG runs to their end (see runner.h).
 *
 * The loop: step every run that changed (plan -> store -> start the tries that were
 * queued), then poll() on the executor's descriptors and a signalfd with the nearest
 * deadline as timeout, then record the tries that ended. The store is the truth: a step
 * always re-reads the run's task instances, and every change goes through a conditional
 * UPDATE, so a change that lost a race is simply not acted on.
 *
 * Invariant: a try is started only after store_ti_start moved its task instance from
 * queued to running (and gave it its try number), and its end is recorded only with that
 * try number (store_ti_finish refuses a stale one). */
#include "runner.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dagfile.h"
#include "executor.h"
#include "runner_int.h"
#include "store.h"
#include "template.h"
#include "tz.h"

extern char **environ;

struct runner {
    struct store *store;
    const struct dagbag *bag;
    struct runner_opts opts;
    struct executor *x;
    struct active_run **runs;
    size_t n_runs;
    struct try **waits; /* TriggerDagRunOperator tries waiting for their run */
    size_t n_waits;
    int sigfd;
    sigset_t old_mask;
    bool interrupted;
    char hostname[256];
    char bindir[PATH_MAX];
};

static void
emit(struct runner *r, const struct active_run *run, const char *task_id, enum ti_state ts,
     int try_number, const char *detail)
{
    struct runner_event ev = {run->dag_id, run->run_id, task_id, ts,
                              run->state,  try_number,  detail};

    if (r->opts.on_event)
        r->opts.on_event(r->opts.arg, &ev);
}

static void
set_defaults(struct runner_opts *o)
{
    const char *s;

    if (o->logs_folder == NULL)
        o->logs_folder = (s = getenv("GUST_LOGS_FOLDER")) && *s ? s : "./logs";
    if (o->parallelism <= 0)
        o->parallelism = (s = getenv("GUST_PARALLELISM")) && atoi(s) > 0 ? atoi(s) : 32;
    if (o->kill_grace <= 0)
        o->kill_grace = 10;
    if (o->xcom_max_bytes == 0)
        o->xcom_max_bytes =
            (s = getenv("GUST_XCOM_MAX_BYTES")) && atol(s) > 0 ? (size_t)atol(s) : 1u << 20;
}

struct runner *
runner_new(struct store *s, const struct dagbag *bag, const struct runner_opts *opts, struct err *e)
{
    struct runner *r = calloc(1, sizeof(*r));
    sigset_t mask;

    if (r == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    r->store = s;
    r->bag = bag;
    r->opts = opts ? *opts : (struct runner_opts){0};
    set_defaults(&r->opts);
    r->sigfd = -1;
    if (gethostname(r->hostname, sizeof(r->hostname) - 1) < 0)
        snprintf(r->hostname, sizeof(r->hostname), "localhost");
    runner_bindir(r->bindir);
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, &r->old_mask);
    r->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r->sigfd < 0 || (r->x = executor_new(e)) == NULL) {
        if (r->sigfd < 0)
            err_set(e, ERR_FAIL, "signalfd: %s", strerror(errno));
        runner_free(r);
        return NULL;
    }
    return r;
}

static void
try_free(struct try *t)
{
    if (t == NULL)
        return;
    free(t->log_path);
    free(t->xcom_path);
    free(t);
}

void
runner_free(struct runner *r)
{
    if (r == NULL)
        return;
    executor_free(r->x);
    for (size_t i = 0; i < r->n_runs; i++)
        active_run_free(r->runs[i]);
    for (size_t i = 0; i < r->n_waits; i++)
        try_free(r->waits[i]);
    free(r->runs);
    free(r->waits);
    if (r->sigfd >= 0)
        close(r->sigfd);
    sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
    free(r);
}

static struct active_run *
find_run(const struct runner *r, const char *dag_id, const char *run_id)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (strcmp(r->runs[i]->dag_id, dag_id) == 0 && strcmp(r->runs[i]->run_id, run_id) == 0)
            return r->runs[i];
    return NULL;
}

int
runner_add(struct runner *r, const char *dag_id, const char *run_id, struct err *e)
{
    const struct dag *dag = dagbag_find(r->bag, dag_id);
    struct active_run *run, **grown;

    if (find_run(r, dag_id, run_id))
        return 0;
    if (dag == NULL)
        return err_set(e, ERR_NOTFOUND, "no DAG '%s' in the DAG folder", dag_id);
    if ((run = active_run_load(r->store, dag, run_id, e)) == NULL)
        return -1;
    grown = realloc(r->runs, (r->n_runs + 1) * sizeof(*grown));
    if (grown == NULL) {
        active_run_free(run);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    r->runs = grown;
    r->runs[r->n_runs++] = run;
    return 0;
}

enum run_state
runner_run_state(const struct runner *r, const char *dag_id, const char *run_id)
{
    const struct active_run *run = find_run(r, dag_id, run_id);

    return run ? run->state : RUN_RUNNING;
}

/* ---- ending tries ---- */

static void log_line(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
log_line(const char *path, const char *fmt, ...)
{
    FILE *f = path ? fopen(path, "a") : NULL;
    va_list ap;

    if (f == NULL)
        return;
    va_start(ap, fmt);
    fputs("[gust] ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
    fclose(f);
}

/* Record the end of a try: the state it leads to, its retry time, its history row. */
static void
record_end(struct runner *r, struct try *t, enum try_outcome outcome, const struct try_end *end)
{
    struct active_run *run = t->run;
    const struct dag_task *task = &run->dag->tasks[t->task];
    /* max_tries, not the task's retries: a clear grants more tries (Airflow's rule) */
    enum ti_state to = plan_after_try(outcome, t->try_number, t->max_tries);
    time_t next_retry = 0;
    struct err e = {0};
    char when[32] = "";
    int won;

    if (to == TI_UP_FOR_RETRY) {
        next_retry =
            end->end + (time_t)plan_retry_delay(task->retry_delay, task->retry_exponential_backoff,
                                                task->max_retry_delay, run->dag_id, task->task_id,
                                                run->logical_iso, t->try_number);
        tz_format("UTC", next_retry, when, NULL);
    }
    won = store_ti_finish(r->store, run->dag_id, run->run_id, task->task_id, t->try_number, to,
                          end->has_exit_code, end->exit_code, end->term_signal, end->start,
                          end->end, end->duration, next_retry, &e);
    if (won < 0)
        log_line(t->log_path, "could not record the end of try %d: %s", t->try_number, e.msg);
    else if (won == 0)
        log_line(t->log_path, "try %d's end was refused: the task instance moved on meanwhile",
                 t->try_number);
    else if (to == TI_UP_FOR_RETRY)
        log_line(t->log_path, "%s -> up_for_retry, next try at %s", end->detail, when);
    else
        log_line(t->log_path, "%s -> %s", end->detail, ti_state_name(to));
    emit(r, run, task->task_id, to, t->try_number, end->detail);
    run->dirty = true;
}

static enum try_outcome
outcome_of(const struct dag_task *task, const struct exec_result *res)
{
    if (res->exec_failed)
        return TRY_PERMANENT;
    if (res->timed_out || res->term_signal != 0)
        return TRY_FAILED;
    if (res->exit_code == 0)
        return TRY_SUCCESS;
    for (size_t i = 0; i < task->n_skip_on_exit_code; i++)
        if (task->skip_on_exit_code[i] == res->exit_code)
            return TRY_SKIPPED;
    return res->exit_code == 100 ? TRY_PERMANENT : TRY_FAILED;
}

static void
describe(const struct exec_result *res, double timeout, char *buf, size_t size)
{
    if (res->exec_failed)
        snprintf(buf, size, "%s", res->exec_error);
    else if (res->timed_out)
        snprintf(buf, size, "timed out after %.0f s (execution_timeout)", timeout);
    else if (res->term_signal)
        snprintf(buf, size, "killed by signal %d (%s)", res->term_signal,
                 strsignal(res->term_signal));
    else
        snprintf(buf, size, "exit %d", res->exit_code);
}

static void
finish_exec(struct runner *r, struct exec_result *res)
{
    struct try *t = res->data;
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    enum try_outcome outcome = outcome_of(task, res);
    struct try_end end = {
        .has_exit_code = !res->exec_failed && res->term_signal == 0,
        .exit_code = res->exit_code,
        .term_signal = res->term_signal,
        .start = res->started.tv_sec,
        .end = res->ended.tv_sec,
        .duration = res->duration,
    };
    struct err e = {0};

    describe(res, task->execution_timeout, end.detail, sizeof(end.detail));
    if (outcome == TRY_SUCCESS && task->do_xcom_push &&
        runner_push_xcom(r->store, t, res->last_line, r->opts.xcom_max_bytes, &e) < 0) {
        log_line(t->log_path, "XCom: %s", e.msg);
        snprintf(end.detail, sizeof(end.detail), "exit 0 but its XCom was refused");
        outcome = TRY_FAILED;
    }
    record_end(r, t, outcome, &end);
    try_free(t);
}

/* ---- starting tries ---- */

static void
end_now(struct runner *r, struct try *t, enum try_outcome outcome, const char *detail)
{
    struct try_end end = {.start = time(NULL), .end = time(NULL)};

    snprintf(end.detail, sizeof(end.detail), "%s", detail);
    record_end(r, t, outcome, &end);
    try_free(t);
}

static int
add_wait(struct runner *r, struct try *t)
{
    struct try **grown = realloc(r->waits, (r->n_waits + 1) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    r->waits = grown;
    r->waits[r->n_waits++] = t;
    return 0;
}

/* TriggerDagRunOperator: create the run (and drive it here), wait for it if asked. */
static void
start_trigger(struct runner *r, struct try *t)
{
    char target_dag[256], target_run[300], msg[320];
    struct err e = {0};

    if (runner_trigger_run(r->store, r->bag, t, target_dag, sizeof(target_dag), target_run,
                           sizeof(target_run), &e) < 0 ||
        runner_add(r, target_dag, target_run, &e) < 0) {
        log_line(t->log_path, "trigger failed: %s", e.msg);
        end_now(r, t, e.code == ERR_NOTFOUND ? TRY_PERMANENT : TRY_FAILED, "trigger failed");
        return;
    }
    log_line(t->log_path, "triggered run %s of DAG %s", target_run, target_dag);
    if (!t->run->dag->tasks[t->task].wait_for_completion) {
        end_now(r, t, TRY_SUCCESS, "triggered");
        return;
    }
    t->waiting_for = find_run(r, target_dag, target_run);
    if (t->waiting_for == NULL || add_wait(r, t) < 0) {
        end_now(r, t, TRY_FAILED, "cannot wait for the triggered run");
        return;
    }
    snprintf(msg, sizeof(msg), "waiting for %s", target_run);
    log_line(t->log_path, "%s", msg);
}

static void
start_exec(struct runner *r, struct try *t)
{
    struct exec_spec spec = {0};
    struct try_cmd cmd = {0};
    struct err e = {0};
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    pid_t pid;

    if (runner_build_command(r->store, t, environ, r->bindir, &cmd, &e) < 0) {
        log_line(t->log_path, "%s", e.msg);
        end_now(r, t, e.code == ERR_USAGE ? TRY_PERMANENT : TRY_FAILED, e.msg);
        return;
    }
    spec.argv = cmd.argv;
    spec.envp = cmd.envp;
    spec.cwd = task->cwd;
    spec.log_path = t->log_path;
    spec.timeout = task->execution_timeout;
    spec.kill_grace = r->opts.kill_grace;
    spec.data = t;
    if (executor_start(r->x, &spec, &pid, &e) < 0) {
        log_line(t->log_path, "cannot start: %s", e.msg);
        try_cmd_clear(&cmd);
        end_now(r, t, TRY_FAILED, "cannot start");
        return;
    }
    try_cmd_clear(&cmd);
    store_ti_set_pid(r->store, t->run->dag_id, t->run->run_id, task->task_id, t->try_number,
                     (int)pid, NULL);
}

static void
start_try(struct runner *r, struct active_run *run, size_t idx)
{
    const struct dag_task *task = &run->dag->tasks[idx];
    struct err e = {0};
    struct try *t;
    int try_number = 0;
    int won = store_ti_start(r->store, run->dag_id, run->run_id, task->task_id, r->hostname,
                             (int)getpid(), time(NULL), 0, &try_number, &e);

    if (won <= 0)
        return; /* another process took it, or the store failed: the next step re-reads */
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return;
    t->run = run;
    t->task = idx;
    t->try_number = try_number;
    t->max_tries = run->max_tries[idx];
    if (runner_try_paths(r->opts.logs_folder, run, task->task_id, try_number, &t->log_path,
                         &t->xcom_path) < 0) {
        free(t);
        return;
    }
    emit(r, run, task->task_id, TI_RUNNING, try_number, NULL);
    log_line(t->log_path, "dag=%s run=%s task=%s try=%d host=%s operator=%s", run->dag_id,
             run->run_id, task->task_id, try_number, r->hostname, op_kind_name(task->op));
    switch (task->op) {
    case OP_EMPTY:
        end_now(r, t, TRY_SUCCESS, "empty");
        break;
    case OP_TRIGGER_DAGRUN:
        start_trigger(r, t);
        break;
    default:
        start_exec(r, t);
    }
}

/* ---- planning ---- */

static void
finish_run(struct runner *r, struct active_run *run, enum run_state to)
{
    struct err e = {0};

    if (store_run_set_state(r->store, run->dag_id, run->run_id, run->state, to, time(NULL), &e) <
        0) {
        fprintf(stderr, "gust: run %s: %s\n", run->run_id, e.msg);
        return;
    }
    run->state = to;
    run->finished = true;
    emit(r, run, NULL, TI_NONE, 0, NULL);
}

/* One planning step of one run. */
static int
step_run(struct runner *r, struct active_run *run, struct err *e)
{
    struct plan_result res = {0};
    size_t *queued = NULL, n_queued = 0;

    run->dirty = false;
    if (run->state == RUN_QUEUED) {
        if (store_run_set_state(r->store, run->dag_id, run->run_id, RUN_QUEUED, RUN_RUNNING,
                                time(NULL), e) < 0)
            return -1;
        run->state = RUN_RUNNING;
        emit(r, run, NULL, TI_NONE, 0, NULL);
    }
    if (runner_plan_step(r->store, run,
                         r->opts.parallelism - (int)executor_active(r->x) - (int)r->n_waits, &res,
                         &queued, &n_queued, e) < 0)
        return -1;
    for (size_t i = 0; i < res.n_changes; i++)
        if (res.changes[i].to != TI_QUEUED)
            emit(r, run, run->dag->tasks[res.changes[i].task].task_id, res.changes[i].to, 0, NULL);
    for (size_t i = 0; i < n_queued && !r->interrupted; i++)
        start_try(r, run, queued[i]);
    run->wakeup = res.next_wakeup;
    if (res.run_state == RUN_SUCCESS || res.run_state == RUN_FAILED)
        finish_run(r, run, res.run_state);
    plan_result_free(&res);
    free(queued);
    return 0;
}

/* TriggerDagRunOperator tries whose run has finished. */
static void
check_waits(struct runner *r)
{
    for (size_t i = 0; i < r->n_waits;) {
        struct try *t = r->waits[i];

        if (!t->waiting_for->finished && !r->interrupted) {
            i++;
            continue;
        }
        r->waits[i] = r->waits[--r->n_waits];
        if (t->waiting_for->state == RUN_SUCCESS)
            end_now(r, t, TRY_SUCCESS, "triggered run succeeded");
        else
            end_now(r, t, TRY_FAILED, "triggered run failed");
    }
}

/* ---- the loop ---- */

static bool
all_finished(const struct runner *r)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (!r->runs[i]->finished)
            return false;
    return true;
}

/* poll() timeout: the executor's deadline or the nearest retry coming due. */
static int
next_timeout_ms(const struct runner *r, time_t now)
{
    int ms = executor_timeout_ms(r->x);

    for (size_t i = 0; i < r->n_runs; i++) {
        const struct active_run *run = r->runs[i];
        int w;

        if (run->finished)
            continue;
        if (run->dirty)
            return 0;
        if (run->wakeup == 0)
            continue;
        w = run->wakeup <= now ? 0 : (int)((run->wakeup - now) * 1000);
        if (ms < 0 || w < ms)
            ms = w;
    }
    return ms;
}

static void
read_signals(struct runner *r)
{
    struct signalfd_siginfo si;

    while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (!r->interrupted) {
            r->interrupted = true;
            executor_terminate_all(r->x);
        }
}

static int
wait_events(struct runner *r)
{
    struct pollfd fds[512];
    size_t n = 1;
    int timeout = next_timeout_ms(r, time(NULL));
    struct exec_result res;
    struct err e = {0};

    fds[0] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
    n += executor_pollfds(r->x, fds + 1, sizeof(fds) / sizeof(fds[0]) - 1);
    if (timeout < 0 && executor_active(r->x) == 0 && r->n_waits == 0)
        timeout = 1000; /* nothing pending: a stalled run is re-planned (and found deadlocked) */
    if (poll(fds, n, timeout) < 0 && errno != EINTR)
        return -1;
    if (fds[0].revents & POLLIN)
        read_signals(r);
    if (executor_process(r->x, &e) < 0)
        fprintf(stderr, "gust: executor: %s\n", e.msg);
    while (executor_next_result(r->x, &res) == 1) {
        finish_exec(r, &res);
        exec_result_clear(&res);
    }
    return 0;
}

static void
fail_unfinished(struct runner *r)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (!r->runs[i]->finished)
            finish_run(r, r->runs[i], RUN_FAILED);
}

int
runner_run(struct runner *r, struct err *e)
{
    time_t now;

    while (!all_finished(r)) {
        now = time(NULL);
        for (size_t i = 0; i < r->n_runs && !r->interrupted; i++) {
            struct active_run *run = r->runs[i];

            if (!run->finished &&
                (run->dirty || (run->wakeup && run->wakeup <= now) || executor_active(r->x) == 0))
                if (step_run(r, run, e) < 0)
                    return -1;
        }
        check_waits(r);
        if (r->interrupted && executor_active(r->x) == 0 && r->n_waits == 0)
            break;
        if (all_finished(r))
            break;
        if (wait_events(r) < 0)
            return err_set(e, ERR_FAIL, "poll: %s", strerror(errno));
    }
    if (r->interrupted) {
        fail_unfinished(r);
        return err_set(e, ERR_FAIL,
                       "interrupted: running tries were stopped and unfinished "
                       "runs marked failed ('gust tasks clear' re-runs them)");
    }
    return 0;
}

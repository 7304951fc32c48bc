/* runner_try: one try's life in the runner: started from a claim (the task instance is
 * already running with its try number), executed by the executor or handled in-process
 * (EmptyOperator, TriggerDagRunOperator), its end recorded with store_ti_finish, fenced by
 * that try number. Every try's end, this process's own or another's (runner_fail_try), goes
 * through plan_try_end for its next state and retry time.
 *
 * Invariant: a try stays in the runner's in-flight list until its end is recorded (or
 * refused as stale); an end the database could not take waits in r->pending, with the try's
 * XCom, and is retried when the connection is back, so a database outage never loses a
 * task's outcome or result. The XCom is written only with the end, in one statement. */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "executor/executor.h"
#include "log.h"
#include "fdio.h"
#include "runner_int.h"
#include "store/store.h"
#include "schedule/tz.h"

extern char **environ;

void
ti_try_free(struct ti_try *t)
{
    if (t == NULL)
        return;
    free(t->log_path);
    free(t->xcom_path);
    free(t->wait_dag);
    free(t->wait_run);
    if (t->bound) {
        dag_task_clear(t->bound);
        free(t->bound);
    }
    free(t);
}

void
runner_log_line(const char *path, const char *fmt, ...)
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

static void
unlink_try(struct runner *r, struct ti_try *t)
{
    for (struct ti_try **p = &r->inflight; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    if (t->is_wait)
        r->n_waits--;
    t->run->inflight--;
    t->run->dirty = true;
    runner_dirty_dag(r, t->run->dag_id); /* and the DAG's other runs: its slot is free */
}

/* The try is done with: out of the lists, freed. */
static void
retire(struct runner *r, struct ti_try *t)
{
    unlink_try(r, t);
    ti_try_free(t);
}

/* A sensor's poke found its condition unmet (reschedule mode): up_for_reschedule until its
 * next poke, the slot freed. Returns -1 when the database is down, as record_end. */
static int
record_reschedule(struct runner *r, struct ti_try *t, const struct try_end *end)
{
    struct active_run *run = t->run;
    const struct dag_task *task = ti_task(t);
    double first = t->first_poke > 0 ? t->first_poke : end->rec.start;
    struct store_poke pk = {
        .to = TI_UP_FOR_RESCHEDULE,
        .try_number = t->try_number,
        .start = end->rec.start,
        .end = end->rec.end,
        .reschedule_at = runner_next_poke(task, run->dag_id, first, t->poke_count, end->rec.end)};
    struct err e = {0};
    char when[32] = "";
    int won =
        store_ti_poked(r->store, run->dag_id, run->run_id, task->task_id, t->map_index, &pk, &e);

    if (won < 0 && e.temporary) {
        runner_db_error(r, &e, "record a sensor's reschedule");
        return -1;
    }
    run_forget_states(run); /* read it back with its next poke */
    if (won == 1)
        runner_metric_ti_end(r, run->dag_id, task->task_id, task, TI_UP_FOR_RESCHEDULE,
                             end->rec.duration);
    tz_format("UTC", (time_t)ceil(pk.reschedule_at), when, NULL);
    if (won < 0)
        runner_log_line(t->log_path, "could not record the reschedule: %s", e.msg);
    else if (won == 0)
        runner_log_line(t->log_path, "the reschedule was refused: the task instance moved on");
    else
        runner_log_line(t->log_path, "%s: not yet -> up_for_reschedule, next poke at %s",
                        end->detail, when);
    runner_emit_ti(r, run, task->task_id, t->map_index, TI_UP_FOR_RESCHEDULE, t->try_number, NULL);
    return 0;
}

/* the event of a try's end that led to state st (none for other states). */
static void
notify_end(struct runner *r, struct ti_try *t, enum ti_state st, const char *detail)
{
    if (st == TI_SUCCESS)
        runner_notify_ti(r, t, NOTIFY_ON_SUCCESS, st, NULL);
    else if (st == TI_FAILED)
        runner_notify_ti(r, t, NOTIFY_ON_FAILURE, st, detail);
    else if (st == TI_UP_FOR_RETRY)
        runner_notify_ti(r, t, NOTIFY_ON_RETRY, st, detail);
    else if (st == TI_SKIPPED)
        runner_notify_ti(r, t, NOTIFY_ON_SKIPPED, st, detail);
}

/* Record the end of a try: the state it leads to and its retry time (plan_try_end, the one
 * rule for every try's end), its history row. Returns -1 when the database is down (the
 * caller keeps the end for later). */
static int
record_end(struct runner *r, struct ti_try *t, const struct try_end *end)
{
    struct active_run *run = t->run;
    const struct dag_task *task = ti_task(t);
    struct store_try_end rec = end->rec;
    struct err e = {0};
    char when[32] = "";
    int won;

    if (t->lost) {
        runner_log_line(t->log_path, "%s; not recorded: the lease of try %d was taken away",
                        end->detail, t->try_number);
        return 0;
    }
    if (end->outcome == TRY_RESCHEDULE)
        return record_reschedule(r, t, end);
    /* max_tries, not the task's retries: a clear grants more tries (Airflow's rule) */
    rec.try_number = t->try_number;
    rec.xcom_json = end->xcom_json;
    rec.skip_json = end->skip_json;
    rec.outlets = task->outlets, rec.n_outlets = task->n_outlets; /* a success's asset events */
    rec.state = plan_try_end(task, run->dag_id, run->logical_str, end->outcome, t->try_number,
                             t->max_tries, rec.end, &rec.next_retry_at);
    if (rec.state == TI_UP_FOR_RETRY)
        tz_format("UTC", (time_t)ceil(rec.next_retry_at), when, NULL);
    won =
        store_ti_finish(r->store, run->dag_id, run->run_id, task->task_id, t->map_index, &rec, &e);
    if (won == 1 && rec.state == TI_SUCCESS && task->n_outlets > 0)
        runner_assets_updated(r, task); /* runner_asset.c: the consumers' runs */
    if (won == 1 && rec.skip_json == NULL)
        run_know_state(run, t->task, t->map_index, rec.state, rec.next_retry_at);
    else
        run_forget_states(run); /* a branch's skips too: read them back */
    if (won < 0 && e.temporary) {
        runner_db_error(r, &e, "record a try's end");
        return -1;
    }
    if (won < 0)
        runner_log_line(t->log_path, "could not record the end of try %d: %s", t->try_number,
                        e.msg);
    else if (won == 0)
        runner_log_line(t->log_path,
                        "try %d's end was refused: the task instance moved on meanwhile",
                        t->try_number);
    else if (rec.state == TI_UP_FOR_RETRY)
        runner_log_line(t->log_path, "%s -> up_for_retry, next try at %s", end->detail, when);
    else
        runner_log_line(t->log_path, "%s -> %s", end->detail, ti_state_name(rec.state));
    runner_emit_ti(r, run, task->task_id, t->map_index, rec.state, t->try_number, end->detail);
    if (won == 1) { /* the callbacks and metrics of the change this process made */
        runner_metric_ti_end(r, run->dag_id, task->task_id, task, rec.state, rec.duration);
        notify_end(r, t, rec.state, end->detail);
    }
    return 0;
}

/* Record now, or keep for when the database is back. Takes t and end's XCom. */
static void
end_try(struct runner *r, struct ti_try *t, const struct try_end *end)
{
    struct pending_end *p;

    if (!r->db_down && record_end(r, t, end) == 0) {
        free(end->xcom_json);
        free(end->skip_json);
        retire(r, t);
        return;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        free(end->xcom_json);
        free(end->skip_json);
        retire(r, t); /* out of memory: the lease will expire and the try be retried */
        return;
    }
    runner_log_line(t->log_path, "%s; the database is down: this end is recorded when it is back",
                    end->detail);
    p->end = *end;
    p->t = t;
    p->next = r->pending;
    r->pending = p;
}

void
runner_flush_pending(struct runner *r)
{
    while (r->pending && !r->db_down) {
        struct pending_end *p = r->pending;

        if (record_end(r, p->t, &p->end) < 0)
            return;
        r->pending = p->next;
        retire(r, p->t);
        free(p->end.xcom_json);
        free(p->end.skip_json);
        free(p);
    }
}

static void
end_now(struct runner *r, struct ti_try *t, enum try_outcome outcome, const char *detail)
{
    double now = clock_wall();
    struct try_end end = {.outcome = outcome, .rec = {.start = now, .end = now, .duration = 0}};

    snprintf(end.detail, sizeof(end.detail), "%s", detail);
    end_try(r, t, &end);
}

/* the callbacks of a try another process ran, failed here (its lease expired):
 * a stand-in try on the run (from memory, else read from the store) renders them. */
static void
notify_other(struct runner *r, const char *dag_id, const char *run_id, const char *task_id,
             int map_index, int try_number, int max_tries, const char *log, enum ti_state st,
             const char *why)
{
    const struct dag *dag = dagbag_find(runner_bag(r), dag_id);
    struct active_run *run = runner_find_run(r, dag_id, run_id), *loaded = NULL;
    long idx = dag ? dag_task_index(dag, task_id) : -1;
    struct err e = {0};

    if (idx < 0 || (dag->tasks[idx].on[NOTIFY_ON_FAILURE].n == 0 &&
                    dag->tasks[idx].on[NOTIFY_ON_RETRY].n == 0))
        return;
    if (run == NULL || run->dag != dag)
        run = loaded = active_run_load(r->store, dag, run_id, &e);
    if (run == NULL) {
        log_error("dag=%s run=%s task=%s: callbacks: %s", dag_id, run_id, task_id, e.msg);
        return;
    }
    struct ti_try t = {.run = run,
                       .task = (size_t)idx,
                       .map_index = map_index,
                       .try_number = try_number,
                       .max_tries = max_tries,
                       .log_path = (char *)log};
    char *dir = strdup(log), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    if (slash && mkdir_p(dir) >= 0) /* the try may have run on another host */
        notify_end(r, &t, st, why);
    free(dir);
    active_run_free(loaded);
}

/* A try this process does not run (see runner.h): the same rule and record as its own. */
int
runner_fail_try(struct runner *r, const char *dag_id, const char *run_id, const char *task_id,
                int map_index, int try_number, int max_tries, const char *why, struct err *e)
{
    const struct dag_task *task = dag_find_task(dagbag_find(runner_bag(r), dag_id), task_id);
    struct store_try_end rec = {.try_number = try_number, .end = clock_wall(), .duration = -1};
    struct store_run sr = {0};
    char logical[40] = "None", *log = NULL, *xcom = NULL;
    int won;

    if (plan_after_try(TRY_FAILED, try_number, max_tries) == TI_UP_FOR_RETRY && task &&
        task->retry_exponential_backoff && store_run_get(r->store, dag_id, run_id, &sr, NULL) == 0)
        plan_logical_str(sr.logical_date, sr.logical_usec, logical);
    store_run_clear(&sr);
    rec.state = plan_try_end(task, dag_id, logical, TRY_FAILED, try_number, max_tries, rec.end,
                             &rec.next_retry_at);
    won = store_ti_finish(r->store, dag_id, run_id, task_id, map_index, &rec, e);
    if (won == 1)
        runner_metric_ti_end(r, dag_id, task_id, task, rec.state, -1);
    if (won == 1 && runner_try_paths(r->opts.logs_folder, dag_id, run_id, task_id, map_index,
                                     try_number, &log, &xcom, NULL) == 0)
        runner_log_line(log, "%s -> %s", why,
                        ti_state_name(rec.state)); /* only if its folder is here */
    if (won == 1 && log)                           /* a try another process ran ended here */
        notify_other(r, dag_id, run_id, task_id, map_index, try_number, max_tries, log, rec.state,
                     why);
    free(log);
    free(xcom);
    return won;
}

/* ---- executor tries ---- */

/* The name of a try's cgroup (executor_kill_key): FNV-1a of the database, DAG, run, task and
 * try number (and map index of a mapped task's instance), so a later gust on this host finds it
 * from what the store says. */
static void
try_key(const struct runner *r, const char *dag_id, const char *run_id, const char *task_id,
        int map_index, int try_number, char out[17])
{
    const char *parts[] = {store_where(r->store), dag_id, run_id, task_id};
    unsigned long long h = 1469598103934665603ULL;
    char num[32];

    if (map_index >= 0)
        snprintf(num, sizeof(num), "%d[%d]", try_number, map_index);
    else
        snprintf(num, sizeof(num), "%d", try_number);
    for (size_t i = 0; i <= sizeof(parts) / sizeof(parts[0]); i++) {
        const char *p = i < sizeof(parts) / sizeof(parts[0]) ? parts[i] : num;
        for (size_t k = 0; k <= strlen(p); k++) /* the NUL too: parts stay apart */
            h = (h ^ (unsigned char)p[k]) * 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", h);
}

/* How tries are contained (see runner.h). */
const char *
runner_containment(const struct runner *r)
{
    return executor_containment(r->x);
}

/* Kill what is left of a try another process ran on this host (see runner.h). */
void
runner_kill_old_try(struct runner *r, const char *dag_id, const char *run_id, const char *task_id,
                    int map_index, int try_number, pid_t pid)
{
    char key[17];

    if (pid > 1 && pid != getpid())
        kill(-pid, SIGKILL); /* its process group: all there is without cgroups */
    try_key(r, dag_id, run_id, task_id, map_index, try_number, key);
    executor_kill_key(r->x, key); /* its cgroup: also what left the group */
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
    if (res->exit_code == 98 && task->sensor != NULL && task->sensor->reschedule)
        return TRY_RESCHEDULE; /* sensor_task, sql_task: not yet */
    if ((OP_IS_SQL(task->op) || task->op == OP_SENSOR) && res->exit_code == 99)
        return TRY_SKIPPED; /* sql_task, sensor_task: a sensor's timeout with soft_fail */
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

/* A SQL try's end: a failed check's per-check results are kept as its XCom too (sql_task
 * writes them before it exits 1); a branch that succeeded skips what it did not follow. */
static void
sql_end(struct runner *r, struct ti_try *t, const struct exec_result *res, struct try_end *end)
{
    const struct dag_task *task = ti_task(t);
    char *spec = NULL, *branch = NULL;
    struct err e = {0};

    if ((end->outcome == TRY_FAILED || end->outcome == TRY_PERMANENT) && task->do_xcom_push &&
        end->xcom_json == NULL && res->exit_code != 0 &&
        runner_try_xcom(t, NULL, 0, r->opts.xcom_max_bytes, &end->xcom_json, &e) < 0)
        runner_log_line(t->log_path, "XCom of the failed try: %s", e.msg);
    if (task->op != OP_SQL_BRANCH || end->outcome != TRY_SUCCESS)
        return;
    if (runner_sql_paths(t->xcom_path, &spec, &branch) < 0 ||
        runner_sql_branch_skips(t, branch, &end->skip_json, &e) < 0) {
        runner_log_line(t->log_path, "%s", e.msg[0] ? e.msg : "out of memory");
        snprintf(end->detail, sizeof(end->detail), "exit 0 but its branch choice is unusable");
        end->outcome = TRY_PERMANENT;
        free(end->xcom_json);
        end->xcom_json = NULL;
    } else {
        runner_log_line(t->log_path,
                        "branch: skipping the direct downstream tasks not followed: %s",
                        end->skip_json);
    }
    free(spec);
    free(branch);
}

void
runner_finish_exec(struct runner *r, struct exec_result *res)
{
    struct ti_try *t = res->data;
    const struct dag_task *task = ti_task(t);
    struct try_end end = {
        .outcome = outcome_of(task, res),
        .rec = {.has_exit_code = !res->exec_failed && res->term_signal == 0,
                .exit_code = res->exit_code,
                .term_signal = res->term_signal,
                .start = runner_epoch(&res->started),
                .end = runner_epoch(&res->ended),
                .duration = res->duration},
    };
    struct err e = {0};

    describe(res, task->execution_timeout, end.detail, sizeof(end.detail));
    if (res->log_dropped > 0)
        runner_log_line(t->log_path, "the task wrote %zu bytes more than GUST_TASK_LOG_MAX_BYTES",
                        res->log_dropped);
    /* The XCom is taken now and recorded with the end (kept in memory while the database is
     * down): a try that succeeded never counts as failed for an outage. */
    if (end.outcome == TRY_SUCCESS && task->do_xcom_push && !t->lost &&
        runner_try_xcom(t, res->last_line, res->last_line_len, r->opts.xcom_max_bytes,
                        &end.xcom_json, &e) < 0) {
        runner_log_line(t->log_path, "XCom: %s", e.msg);
        snprintf(end.detail, sizeof(end.detail), "exit 0 but its XCom was not stored");
        end.outcome = TRY_FAILED;
    }
    if (OP_IS_SQL(task->op) && !t->lost)
        sql_end(r, t, res, &end);
    end_try(r, t, &end);
}

static void
start_exec(struct runner *r, struct ti_try *t)
{
    const struct dag_task *task = ti_task(t);
    struct exec_spec spec = {0};
    struct runner_cmd cmd = {0};
    struct err e = {0};
    char key[17];

    if (runner_build_command(r->store, t, environ, r->bindir, &cmd, &e) < 0) {
        runner_log_line(t->log_path, "%s", e.msg);
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
    spec.line_max = r->opts.xcom_max_bytes;
    spec.log_max = r->opts.log_max_bytes;
    try_key(r, t->run->dag_id, t->run->run_id, task->task_id, t->map_index, t->try_number, key);
    spec.key = key;
    spec.shell_errors = cmd.direct;
    if (executor_start(r->x, &spec, &t->pid, &e) < 0) {
        runner_log_line(t->log_path, "cannot start: %s", e.msg);
        runner_cmd_clear(&cmd);
        end_now(r, t, TRY_FAILED, "cannot start");
        return;
    }
    runner_cmd_clear(&cmd);
    store_ti_set_pid(r->store, t->run->dag_id, t->run->run_id, task->task_id, t->map_index,
                     t->try_number, (int)t->pid, NULL);
}

/* ---- TriggerDagRunOperator ---- */

static void
start_trigger(struct runner *r, struct ti_try *t)
{
    char target_dag[256], target_run[300];
    struct err e = {0};

    if (runner_trigger_run(r->store, runner_bag(r), t, target_dag, sizeof(target_dag), target_run,
                           sizeof(target_run), &e) < 0 ||
        (r->opts.mode == RUNNER_LOCAL && runner_add(r, target_dag, target_run, &e) < 0)) {
        runner_log_line(t->log_path, "trigger failed: %s", e.msg);
        end_now(r, t, e.code == ERR_NOTFOUND ? TRY_PERMANENT : TRY_FAILED, "trigger failed");
        return;
    }
    runner_log_line(t->log_path, "triggered run %s of DAG %s", target_run, target_dag);
    runner_poke_dag(r, target_dag); /* a queued run for the tick to promote */
    if (!ti_task(t)->wait_for_completion) {
        end_now(r, t, TRY_SUCCESS, "triggered");
        return;
    }
    t->wait_dag = strdup(target_dag);
    t->wait_run = strdup(target_run);
    t->waiting_for = runner_find_run(r, target_dag, target_run);
    t->is_wait = true;
    r->n_waits++;
    runner_log_line(t->log_path, "waiting for %s", target_run);
}

/* The state of the run a trigger waits for: from memory, else from the store. */
static enum run_state
waited_state(struct runner *r, struct ti_try *t)
{
    struct store_run sr = {0};
    struct err e = {0};
    enum run_state st = RUN_RUNNING;

    if (t->waiting_for)
        return t->waiting_for->finished ? t->waiting_for->state : RUN_RUNNING;
    if (store_run_get(r->store, t->wait_dag, t->wait_run, &sr, &e) == 0)
        st = sr.state;
    else if (e.temporary)
        runner_db_error(r, &e, "check a triggered run");
    store_run_clear(&sr);
    return st;
}

void
runner_check_waits(struct runner *r, time_t now)
{
    bool from_store = now >= r->next_wait_check || r->notified;

    if (from_store)
        r->next_wait_check = now + 2;
    for (struct ti_try *t = r->inflight, *next; t; t = next) {
        enum run_state st;

        next = t->next;
        if (!t->is_wait || (!t->waiting_for && !from_store) || r->db_down)
            continue;
        st = waited_state(r, t);
        if (st == RUN_SUCCESS)
            end_now(r, t, TRY_SUCCESS, "triggered run succeeded");
        else if (st == RUN_FAILED)
            end_now(r, t, TRY_FAILED, "triggered run failed");
    }
}

/* Shutting down: waits end failed (they will be retried). */
void
runner_abandon_waits(struct runner *r)
{
    for (struct ti_try *t = r->inflight, *next; t; t = next) {
        next = t->next;
        if (t->is_wait)
            end_now(r, t, TRY_FAILED, "stopped while waiting for the triggered run");
    }
}

/* ---- starting ---- */

/* An instance of a mapped task: its arguments, and its name (map_index_template). */
static int
bind_instance(struct runner *r, struct ti_try *t, struct err *e)
{
    const struct dag_map *m = t->run->dag->tasks[t->task].map;
    char *name = NULL;
    struct err ne = {0};

    if (runner_bind(r->store, t, e) < 0)
        return -1;
    if (m == NULL || t->map_index < 0 || m->index_template == NULL)
        return 0;
    if (runner_render(r->store, t, m->index_template, &name, &ne) < 0)
        runner_log_line(t->log_path, "map_index_template: %s",
                        ne.msg); /* a name is not worth a try */
    else if (store_ti_set_map_name(r->store, t->run->dag_id, t->run->run_id, ti_task(t)->task_id,
                                   t->map_index, name, &ne) < 0)
        runner_log_line(t->log_path, "map_index_template: %s", ne.msg);
    free(name);
    return 0;
}

void
runner_start_claimed(struct runner *r, struct active_run *run, size_t idx,
                     const struct store_claim *c)
{
    const struct dag_task *task = &run->dag->tasks[idx];
    int map_index = c->map_index, try_number = c->try_number;
    struct ti_try *t = calloc(1, sizeof(*t));
    struct err e = {0};

    if (t == NULL)
        return; /* the lease expires and the try is retried */
    t->run = run;
    t->task = idx;
    t->map_index = map_index;
    t->try_number = try_number;
    t->max_tries = c->max_tries;
    t->first_poke = c->first_poke;
    t->poke_count = c->poke_count;
    t->next = r->inflight;
    r->inflight = t;
    run->inflight++;
    run_know_state(run, idx, map_index, TI_RUNNING, 0);
    runner_metric_ti_start(r, run, task); /* this process claimed it: queued -> running */
    if (runner_try_paths(r->opts.logs_folder, run->dag_id, run->run_id, task->task_id, map_index,
                         try_number, &t->log_path, &t->xcom_path, &e) < 0 ||
        runner_try_prepare(t->log_path, t->xcom_path, &e) < 0) {
        end_now(r, t, TRY_FAILED, e.msg); /* no log to write it to: the event carries it */
        return;
    }
    runner_emit_ti(r, run, task->task_id, map_index, TI_RUNNING, try_number, NULL);
    runner_log_line(t->log_path, "dag=%s run=%s task=%s map_index=%d try=%d host=%s operator=%s",
                    run->dag_id, run->run_id, task->task_id, map_index, try_number, r->hostname,
                    op_kind_name(task->op));
    if (c->problem) { /* its pool does not exist: no retry helps until one is made */
        runner_log_line(t->log_path, "%s: `gust pools set` makes a pool", c->problem);
        end_now(r, t, TRY_PERMANENT, c->problem);
        return;
    }
    runner_notify_ti(r, t, NOTIFY_ON_EXECUTE, TI_RUNNING, NULL); /* on_execute_callback */
    if (bind_instance(r, t, &e) < 0) {
        runner_log_line(t->log_path, "%s", e.msg);
        end_now(r, t, e.code == ERR_USAGE ? TRY_PERMANENT : TRY_FAILED, e.msg);
        return;
    }
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

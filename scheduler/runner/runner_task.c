/* runner_task: the per-run work of the runner: a run in memory (loaded from the store or
 * made up for `gust tasks test`), one planning step against the store with the states it
 * knows, the paths of a try's files, rendering a try's templates (argv, environment and XCom
 * are runner_cmd.c's).
 *
 * Invariant: a run's known states are this process's own view, forgotten whenever anything
 * else may have changed them (see "known states" below); the store stays the truth. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dagfile/dagfile.h"
#include "iso8601.h"
#include "log.h"
#include "fdio.h"
#include "runner_int.h"
#include "schedule/schedule.h"
#include "store/store.h"
#include "template/template.h"

#define KNOWN_MAX_AGE 5.0 /* seconds: see "known states" below */

/* ---- runs ---- */

/* DAG params with the run's conf over them (Airflow's dag_run_conf_overrides_params). */
static char *
merge_params(const char *params_json, const char *conf_json)
{
    json_t *p = params_json ? json_loads(params_json, 0, NULL) : json_object();
    json_t *c = conf_json ? json_loads(conf_json, 0, NULL) : NULL;
    char *out;

    if (!json_is_object(p)) {
        json_decref(p);
        p = json_object();
    }
    if (json_is_object(c))
        json_object_update(p, c);
    out = json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(p);
    json_decref(c);
    return out;
}

struct active_run *
active_run_new(const struct dag *dag, const char *run_id, time_t logical_date, long logical_usec,
               time_t di_start, time_t di_end, const char *conf_json, struct err *e)
{
    struct active_run *run = calloc(1, sizeof(*run));

    if (run == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    run->dag = dag;
    run->dag_id = strdup(dag->dag_id);
    run->run_id = strdup(run_id);
    run->state = RUN_QUEUED;
    run->logical_date = logical_date;
    run->di_start = di_start;
    run->di_end = di_end;
    run->conf_json = strdup(conf_json ? conf_json : "{}");
    run->params_json = merge_params(dag->params_json, run->conf_json);
    run->dirty = true;
    plan_logical_str(logical_date, logical_usec, run->logical_str);
    run->max_tries = calloc(dag->n_tasks + 1, sizeof(*run->max_tries));
    for (size_t i = 0; run->max_tries && i < dag->n_tasks; i++) {
        run->max_tries[i] = dag->tasks[i].retries;
        run->per_task_limit |= dag->tasks[i].max_active_tis_per_dag > 0;
    }
    if (!run->dag_id || !run->run_id || !run->conf_json || !run->params_json || !run->max_tries) {
        err_set(e, ERR_FAIL, "out of memory");
        active_run_free(run);
        return NULL;
    }
    return run;
}

struct active_run *
active_run_load(struct store *s, const struct dag *dag, const char *run_id, struct err *e)
{
    struct store_run sr = {0};
    struct active_run *run;

    if (store_run_get(s, dag->dag_id, run_id, &sr, e) < 0)
        return NULL;
    run = active_run_new(dag, run_id, sr.logical_date, sr.logical_usec, sr.data_interval_start,
                         sr.data_interval_end, sr.conf_json, e);
    if (run) {
        run->state = sr.state;
        run->start_date = sr.start_date;
        run->finished = sr.state == RUN_SUCCESS || sr.state == RUN_FAILED;
    }
    store_run_clear(&sr);
    return run;
}

void
active_run_free(struct active_run *run)
{
    if (run == NULL)
        return;
    free(run->dag_id);
    free(run->run_id);
    free(run->conf_json);
    free(run->params_json);
    free(run->asset_events_json);
    runner_map_sources_free(run);
    free(run->max_tries);
    plan_state_free(run->known);
    free(run);
}

/* ---- one planning step ---- */

static int
unit_cmp(const void *a, const void *b)
{
    const struct plan_ti *x = a, *y = b;

    if (x->task != y->task)
        return x->task < y->task ? -1 : 1;
    return (x->map_index > y->map_index) - (x->map_index < y->map_index);
}

/* The run's task instances from the store as planner units, sorted; a task with no row (added
 * to the DAG after the run was created) gets one that counts as removed. */
static int
read_units(struct store *s, struct active_run *run, struct plan_ti **units, size_t *n_units,
           struct err *e)
{
    const struct dag *dag = run->dag;
    struct store_ti *rows = NULL;
    unsigned char *seen = calloc(dag->n_tasks + 1, 1);
    size_t n = 0, k = 0;
    struct plan_ti *u;

    if (seen == NULL || store_tis_get(s, run->dag_id, run->run_id, &rows, &n, e) < 0 ||
        (u = calloc(n + dag->n_tasks + 1, sizeof(*u))) == NULL) {
        free(seen);
        store_tis_free(rows, n);
        return e->msg[0] ? -1 : err_set(e, ERR_FAIL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        long idx = dag_task_index(dag, rows[i].task_id);
        if (idx < 0)
            continue;
        u[k++] = (struct plan_ti){.state = rows[i].state,
                                  .next_retry_at = rows[i].next_retry_at,
                                  .task = (size_t)idx,
                                  .map_index = rows[i].map_index};
        seen[idx] = 1;
        run->max_tries[idx] = rows[i].max_tries;
    }
    for (size_t i = 0; i < dag->n_tasks; i++)
        if (!seen[i])
            u[k++] = (struct plan_ti){.state = TI_REMOVED, .task = i, .map_index = -1};
    qsort(u, k, sizeof(*u), unit_cmp);
    store_tis_free(rows, n);
    free(seen);
    *units = u;
    *n_units = k;
    return 0;
}

/* The run's planning state: the one kept while fresh, else one built from the store. */
static int
load_state(struct store *s, struct active_run *run, struct err *e)
{
    struct plan_ti *units = NULL;
    size_t n = 0;
    int rc;

    if (run->known && clock_mono() - run->known_at < KNOWN_MAX_AGE)
        return 0;
    run_forget_states(run);
    if (read_units(s, run, &units, &n, e) < 0)
        return -1;
    log_debug("dag=%s run=%s: read its %zu task instances", run->dag_id, run->run_id, n);
    rc = plan_state_new(run->dag, units, n, &run->known, e);
    free(units);
    run->known_at = clock_mono();
    return rc;
}

/* ---- known states ----
 * A step plans from the states of every task instance of its run. Reading them all at every
 * step makes a run of n tasks read n^2 rows (a 1,000-task run: a million), so a run keeps the
 * states it read, as a planning state (plan.h: a step then also costs what changed, not n),
 * and applies this process's own changes to it: plan changes that won (the step applied them
 * already), claims, tries' ends that were recorded. They are forgotten, and read again, when
 * anything else may have changed them: a notification from another session (workers, other
 * schedulers, the CLI), a change of the tick (runner_poke), a change that lost its race or
 * was not made as planned (another process got there first, an expansion, a sensor poked in
 * place), a failed step, a reconnect, and at the latest KNOWN_MAX_AGE seconds after the
 * read. */

void
run_forget_states(struct active_run *run)
{
    plan_state_free(run->known);
    run->known = NULL;
}

void
runner_forget_states(struct runner *r)
{
    for (size_t i = 0; i < r->n_runs; i++)
        run_forget_states(r->runs[i]);
}

void
run_know_state(struct active_run *run, size_t task, int map_index, enum ti_state state,
               double next_retry_at)
{
    /* rounded up as the store reads it back: a retry never looks due early; an instance
     * this process has not read yet: read them all again */
    if (run->known != NULL &&
        plan_state_set(run->known, task, map_index, state, (time_t)ceil(next_retry_at)) < 0)
        run_forget_states(run);
}

/* A change the store does not apply as planned: a mapped task's expansion, or a sensor the
 * scheduler pokes itself instead of queueing it. */
static bool
done_here(const struct active_run *run, const struct plan_change *c)
{
    const struct dag_task *t = &run->dag->tasks[c->task];

    return c->expand || (c->to == TI_QUEUED && t->op == OP_SENSOR && t->sensor != NULL &&
                         SENSOR_IN_SCHEDULER(t->sensor->kind));
}

/* The expansion or the poke of a change done_here: 1 done, 0 lost, -1 error. */
static int
do_here(struct runner *r, struct store *s, struct active_run *run, struct plan_change *c,
        struct plan_result *res, struct err *e)
{
    time_t wake = 0;
    int won;

    if (c->expand)
        return runner_expand(s, run, c->task, e);
    won = runner_poke_here(r, s, run, c, &wake, e);
    if (wake && (res->next_wakeup == 0 || wake < res->next_wakeup))
        res->next_wakeup = wake;
    run->dirty |= won == 1 && c->to != TI_UP_FOR_RESCHEDULE; /* it ended: plan what follows */
    run_forget_states(run); /* read its row back, with its next poke */
    return won;
}

/* Record res's changes; keep only those that won, and list the queued ones. */
static int
apply_changes(struct runner *r, struct store *s, struct active_run *run, struct plan_result *res,
              size_t *queued, size_t *n_queued, struct err *e)
{
    struct store_ti_change *ch = calloc(res->n_changes + 1, sizeof(*ch));
    int *applied = calloc(res->n_changes + 1, sizeof(*applied));
    size_t kept = 0, n = 0;
    int rc = -1;

    if (ch == NULL || applied == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < res->n_changes; i++)
        if (!done_here(run, &res->changes[i]))
            ch[n++] = (struct store_ti_change){run->dag->tasks[res->changes[i].task].task_id,
                                               res->changes[i].map_index, res->changes[i].from,
                                               res->changes[i].to};
    if (n > 0 && store_tis_apply(s, run->dag_id, run->run_id, ch, n, time(NULL), applied, e) < 0) {
        run_forget_states(run);
        goto out;
    }
    for (size_t i = 0, k = 0; i < res->n_changes; i++) {
        struct plan_change *c = &res->changes[i];
        bool here = done_here(run, c);
        int won = here ? do_here(r, s, run, c, res, e) : applied[k++];
        if (won < 0)
            goto out;
        if (!won || c->expand) {
            run_forget_states(run);  /* someone else changed it first; an expansion's rows */
            run->dirty |= c->expand; /* its instances are scheduled: plan them again */
            if (!won)
                continue;
        } else {
            run_know_state(run, c->task, c->map_index, c->to, 0);
        }
        res->changes[kept++] = *c;
        if (c->to == TI_QUEUED)
            queued[(*n_queued)++] = c->task;
    }
    res->n_changes = kept;
    rc = 0;
out:
    free(ch);
    free(applied);
    return rc;
}

/* The database's counts the planner's limits need (plan_limits.fill): asked only by a step
 * with an instance to queue. The DAG's active instances when it has a max_active_tasks: the
 * other runs' from the database (up to that many), this run's from the planning state, which
 * holds its rows as read plus this process's changes and the ends it was told of (a count in
 * the database read cap rows at every step at the cap: migration 0020). And per task when a
 * task has max_active_tis_per_dag. */
struct limits_arg {
    struct store *s;
    struct active_run *run;
    int *per_task; /* malloc'd by fill_limits, freed by the step's caller */
    bool held;     /* the step held a small refill back (fill_limits) */
};

/* At max_active_tasks each try's end frees room for one instance, and queueing it cost a
 * step two statements (the other runs' count, then a call of gust_apply_changes: 0.1 to 0.2
 * ms) per task. So a run refills in batches: while less room than a sixteenth of
 * max_active_tasks is free and the run still has queued instances (work for every free
 * slot), its steps queue nothing, and count nothing either: the other runs' count as last
 * read only holds back, which never passes the cap. A step refills (counting first) when the
 * room reaches the batch, when the run has nothing queued left (as this process knows:
 * other processes' claims are not told to it), and at the latest a second after the first
 * step that held back (the run is woken for it). Under a cap of 32 nothing is held back. */
#define REFILL_PARTS 16

static int
fill_limits(void *arg, struct plan_limits *lim, struct err *e)
{
    struct limits_arg *a = arg;
    struct active_run *run = a->run;
    const struct dag *dag = run->dag;

    if (lim->max_active_tasks > 0) {
        long max = lim->max_active_tasks, own = plan_state_active(run->known);
        time_t now = time(NULL);
        /* whether this step may hold a small refill back */
        bool may_hold = max / REFILL_PARTS >= 2 && plan_state_queued(run->known) > 0 &&
                        !(run->refill_held && now > run->refill_held);

        if (may_hold && run->refill_held && max - (run->others_active + own) < max / REFILL_PARTS) {
            lim->active_in_dag = (int)max; /* still holding: no count */
            a->held = true;
        } else {
            if (store_count_active(a->s, run->dag_id, run->run_id, (int)max, &run->others_active,
                                   e) < 0)
                return -1;
            lim->active_in_dag = run->others_active + (int)own;
            a->held = may_hold && max - lim->active_in_dag < max / REFILL_PARTS;
            if (a->held) {
                lim->active_in_dag = (int)max; /* no room in this step */
                run->refill_held = run->refill_held ? run->refill_held : now;
            } else {
                run->refill_held = 0;
            }
        }
    }
    if (!run->per_task_limit)
        return 0;
    if ((a->per_task = calloc(dag->n_tasks + 1, sizeof(*a->per_task))) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    lim->active_per_task = a->per_task;
    return store_count_active_by_task(a->s, dag, a->per_task, e);
}

/* depends_on_past, asked by the planner (plan_past_fn) */
struct past_arg {
    runner_past_fn fn;
    struct runner *r;
    struct active_run *run;
};

static bool
past_of(void *arg, size_t task)
{
    struct past_arg *a = arg;

    return a->fn(a->r, a->run, task);
}

int
runner_plan_step(struct store *s, struct active_run *run, runner_past_fn past, struct runner *r,
                 struct plan_result *res, size_t **queued, size_t *n_queued, struct err *e)
{
    struct limits_arg la = {s, run, NULL, false};
    /* Queued task instances wait for a free slot (claims take only what fits), so the
     * planner is limited by max_active_tasks only. */
    struct plan_limits lim = {.max_active_tasks = run->dag->max_active_tasks,
                              .free_slots = -1,
                              .fill = fill_limits,
                              .fill_arg = &la};
    struct past_arg pa = {past, r, run};
    int rc = -1;

    *queued = NULL;
    *n_queued = 0;
    *res = (struct plan_result){0};
    if (load_state(s, run, e) < 0)
        goto out;
    /* from here on the state holds the step's decisions: a step that fails forgets it */
    if (plan_state_step(run->known, &lim, time(NULL), past ? past_of : NULL, &pa, res, e) < 0)
        goto forget;
    if (la.held && (res->next_wakeup == 0 || res->next_wakeup > run->refill_held + 1))
        res->next_wakeup = run->refill_held + 1; /* the refill held back, at the latest */
    if ((*queued = calloc(res->n_changes + 1, sizeof(**queued))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto forget;
    }
    rc = apply_changes(r, s, run, res, *queued, n_queued, e);
    if (rc == 0)
        goto out;
forget:
    run_forget_states(run);
out:
    if (rc < 0) {
        plan_result_clear(res);
        free(*queued);
        *queued = NULL;
        *n_queued = 0;
        err_prefix(e, "run %s of %s", run->run_id, run->dag_id);
    }
    free(la.per_task);
    return rc;
}

/* ---- paths ---- */

/* One folder name of a try's path, "<key>=<id>": the id as it is (run ids keep runid_check,
 * DAG and task ids dagfile's rule: neither holds a '/'), so different ids never share a
 * folder. An id that is not one whole folder name is an error, never cut or rewritten. */
static int
check_part(const char *key, const char *id, struct err *e)
{
    if (*id == '\0' || strchr(id, '/') != NULL)
        return err_set(e, ERR_USAGE, "the %s %s cannot be a folder name", key,
                       *id ? "has a '/': it" : "is empty: it");
    if (strlen(key) + 1 + strlen(id) > NAME_MAX)
        return err_set(e, ERR_IO, "the folder name %s=<%zu characters> is longer than %d bytes",
                       key, strlen(id), NAME_MAX);
    return 0;
}

/* "<dir>/attempt=<n><suffix>", or NULL when out of memory. */
static char *
attempt_path(const char *dir, int try_number, const char *suffix)
{
    char *p;

    return dir && asprintf(&p, "%s/attempt=%d%s", dir, try_number, suffix) >= 0 ? p : NULL;
}

int
runner_try_paths(const char *logs_folder, const char *dag_id, const char *run_id,
                 const char *task_id, int map_index, int try_number, char **log_path,
                 char **xcom_path, struct err *e)
{
    char mapped[32] = "";

    char *dir;
    int n, rc = 0;

    *log_path = *xcom_path = NULL;
    if (check_part("dag_id", dag_id, e) < 0 || check_part("run_id", run_id, e) < 0 ||
        check_part("task_id", task_id, e) < 0)
        return -1;
    if (map_index >= 0)
        snprintf(mapped, sizeof(mapped), "/map_index=%d", map_index);
    n = asprintf(&dir, "%s/dag_id=%s/run_id=%s/task_id=%s%s", logs_folder, dag_id, run_id, task_id,
                 mapped);
    if (n < 0)
        dir = NULL;
    *log_path = attempt_path(dir, try_number, ".log");
    *xcom_path = attempt_path(dir, try_number, ".return.json");
    if (*log_path == NULL || *xcom_path == NULL)
        rc = err_set(e, ERR_FAIL, "out of memory");
    else if (strlen(*xcom_path) >= PATH_MAX) /* the longer of the two */
        rc = err_set(e, ERR_IO,
                     "the try's file paths are %zu bytes, more than the system's %d: shorten "
                     "the logs folder (GUST_LOGS_FOLDER) or the ids",
                     strlen(*xcom_path), PATH_MAX - 1);
    free(dir);
    if (rc < 0) {
        free(*log_path);
        free(*xcom_path);
        *log_path = *xcom_path = NULL;
    }
    return rc;
}

int
runner_try_prepare(const char *log_path, const char *xcom_path, struct err *e)
{
    char *dir = strdup(log_path), *slash;
    int rc;

    if (dir == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if ((slash = strrchr(dir, '/')) != NULL)
        *slash = '\0';
    rc = slash ? mkdir_p(dir) : 0;
    if (rc < 0)
        err_set(e, ERR_IO, "cannot create the log folder (%s): %s", strerror(errno), dir);
    free(dir);
    if (rc == 0) { /* a folder made just now holds nothing to remove */
        char *spec = NULL, *branch = NULL;
        unlink(xcom_path); /* a file left by an earlier process must not pass for this try's */
        if (runner_sql_paths(xcom_path, &spec, &branch) == 0)
            unlink(spec), unlink(branch); /* nor a branch choice */
        free(spec);
        free(branch);
    }
    return rc < 0 ? -1 : 0;
}

/* ---- templates ---- */

struct render_arg {
    struct store *store;
    const struct active_run *run;
    const char *task_id; /* the try rendering */
    int map_index;
};

/* ti.xcom_pull: by default a mapped task's values as one list (Airflow's lazy sequence), the
 * task itself's own instance's value, an unmapped task's value. */
static int
xcom_cb(void *arg, const char *task_id, const char *key, int map_index, char **json, struct err *e)
{
    struct render_arg *a = arg;
    const struct dag_task *t = dag_find_task(a->run->dag, task_id);

    if (a->store == NULL) { /* gust tasks test without a database: no XCom */
        *json = NULL;
        return 0;
    }
    if (map_index == TMPL_XCOM_DEFAULT && a->map_index >= 0 && strcmp(task_id, a->task_id) == 0)
        map_index = a->map_index; /* an instance reading its own */
    if (map_index == TMPL_XCOM_DEFAULT && t != NULL && t->map != NULL) {
        return store_xcom_collect(a->store, a->run->dag_id, a->run->run_id, task_id, key, json, e);
    }
    if (map_index == TMPL_XCOM_DEFAULT)
        map_index = -1;
    return store_xcom_get(a->store, a->run->dag_id, a->run->run_id, task_id, map_index, key, json,
                          e);
}

static int
var_cb(void *arg, const char *key, char **value, struct err *e)
{
    struct render_arg *a = arg;

    if (a->store == NULL) {
        *value = NULL;
        return 0;
    }
    return store_variable_get(a->store, key, value, e);
}

/* {{ conn.<id>.* }}: AIRFLOW_CONN_<ID>, then the table on the runner's own session (no new
 * connection to the metadata database per render); without a store, the environment only. */
static int
conn_cb(void *arg, const char *conn_id, struct conn *out, struct err *e)
{
    struct render_arg *a = arg;

    return store_conn_lookup(a->store, conn_id, out, e);
}

/* prev_ds: the schedule's trigger before the logical date, as Airflow 2's
 * dag.previous_schedule; a manual run's is its own logical date (Airflow 2 does the same for
 * externally triggered runs). 0 (None) without a cron or interval schedule. */
static time_t
prev_logical(const struct dag *dag, time_t logical, const char *run_type)
{
    struct err e = {0};
    time_t prev = 0;

    if (run_type == NULL || strcmp(run_type, "manual") == 0)
        return logical;
    if (dag->schedule.kind == SCHED_DELTA)
        return logical - dag->schedule.delta_seconds;
    if (dag->schedule.kind == SCHED_CRON &&
        schedule_prev(&dag->schedule, dag->timezone, logical, false, &prev, &e) == 0)
        return prev;
    return 0;
}

/* The context the store knows (run type and start, the last successful run), read only when
 * src names one of them: most templates do not, and they cost no query. */
static int
store_context(struct store *s, const struct ti_try *t, const char *src, struct tmpl_ctx *ctx,
              struct store_tmpl_ctx *sc, struct err *e)
{
    const struct dag_task *task = ti_task(t);

    if (s == NULL || !(strstr(src, "start_date") || strstr(src, "_success") ||
                       strstr(src, "run_type") || strstr(src, "prev_ds")))
        return 0;
    if (store_tmpl_ctx(s, t->run->dag_id, t->run->run_id, task->task_id, sc, e) < 0)
        return -1;
    ctx->run_type = sc->run_type;
    ctx->start_date = sc->start_date;
    ctx->prev_di_start_success = sc->prev_di_start;
    ctx->prev_di_end_success = sc->prev_di_end;
    ctx->prev_start_date_success = sc->prev_ti_start;
    ctx->prev_logical_date = prev_logical(t->run->dag, t->run->logical_date, sc->run_type);
    return 0;
}

/* triggering_asset_events: the events that triggered the run, read from the store once per
 * run, when a template first names them. */
static int
asset_events_context(struct store *s, const struct ti_try *t, const char *src, struct tmpl_ctx *ctx,
                     struct err *e)
{
    struct active_run *run = t->run;

    if (s == NULL || strstr(src, "triggering_") == NULL)
        return 0;
    if (run->asset_events_json == NULL &&
        store_asset_triggering_json(s, run->dag_id, run->run_id, &run->asset_events_json, e) < 0)
        return -1;
    ctx->asset_events_json = run->asset_events_json;
    return 0;
}

int
runner_render(struct store *s, const struct ti_try *t, const char *src, char **out, struct err *e)
{
    const struct active_run *run = t->run;
    const struct dag_task *task = ti_task(t);
    struct render_arg arg = {s, run, task->task_id, t->map_index};
    struct store_tmpl_ctx sc = {0};
    char host[256] = "";
    struct tmpl_ctx ctx = {
        .dag_id = run->dag_id,
        .task_id = task->task_id,
        .run_id = run->run_id,
        .logical_date = run->logical_date,
        .data_interval_start = run->di_start,
        .data_interval_end = run->di_end,
        .try_number = t->try_number,
        .start_date = time(NULL), /* without a store: the run starts now */
        .prev_logical_date = prev_logical(run->dag, run->logical_date, NULL),
        .hostname = host,
        .max_tries = t->max_tries,
        .ti_start_date = time(NULL),
        .owner = task->owner,
        .retries = task->retries,
        .mapped = t->map_index >= 0,
        .map_index = t->map_index,
        .params_json = run->params_json,
        .conf_json = run->conf_json,
        .log_url = t->log_path,
        .xcom_pull = xcom_cb,
        .var_get = var_cb,
        .conn_get = conn_cb,
        .arg = &arg,
    };

    if (!tmpl_has_syntax(src)) {
        *out = strdup(src);
        return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
    }
    if (t->notify) { /* a callback's arguments (runner_notify.c) */
        ctx.callback = true;
        ctx.ti_state = t->notify->state;
        ctx.log_url = t->notify->log_url;
        ctx.exception = t->notify->exception;
        ctx.reason = t->notify->reason;
    }
    gethostname(host, sizeof(host) - 1);
    int rc = store_context(s, t, src, &ctx, &sc, e);
    if (rc == 0)
        rc = asset_events_context(s, t, src, &ctx, e);
    if (rc == 0)
        rc = tmpl_render(src, &ctx, out, e);
    free(sc.run_type);
    return rc;
}

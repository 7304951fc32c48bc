/* runner_poke: the pokes the scheduler makes itself, and when any sensor pokes next
 * (docs/dag-files.md, "Sensors").
 *
 * The time sensors (DateTimeSensor, TimeDeltaSensor, TimeSensor) and ExternalTaskSensor run no
 * process: a poke is a clock comparison, or one indexed query on gust's own database (the
 * one the scheduler already waits on for every step). Nothing here can block on anything
 * else, so it runs inside the scheduler's loop. Such a sensor never holds a slot, whatever its
 * mode: between pokes it waits in up_for_reschedule, and a time sensor's next poke is the
 * moment its condition becomes true (a timer, not a poll). The planner schedules it when the
 * poke is due; runner_poke_here replaces the queueing of it with the poke itself.
 *
 * The timeout counts from the first poke (first_poke, kept in the task instance's row, so a
 * restart does not reset it); past it, a poke that finds the condition unmet ends the sensor
 * failed (Airflow's AirflowSensorTimeout: no retry), skipped with soft_fail. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dagfile/dagfile.h"
#include "log.h"
#include "sensor_poke.h"
#include "runner_int.h"
#include "schedule/tz.h"

enum poke_result {
    POKE_MET,     /* success */
    POKE_NOT_YET, /* up_for_reschedule (or a timeout) */
    POKE_FAILED,  /* ExternalTaskSensor: a failed_states state */
    POKE_SKIPPED, /* ExternalTaskSensor: a skipped_states state */
};

double
runner_next_poke(const struct dag_task *task, const char *dag_id, double first_poke, int poke_count,
                 double now)
{
    const struct dag_sensor *s = task->sensor;
    char started[40];
    double next;

    if (first_poke <= 0)
        first_poke = now;
    plan_logical_str((time_t)floor(first_poke),
                     (long)((first_poke - floor(first_poke)) * 1e6 + 0.5) % 1000000, started);
    next = now + sensor_poke_interval(s->poke_interval, s->exponential_backoff, s->max_wait,
                                      s->timeout, dag_id, task->task_id, started, poke_count + 1,
                                      now - first_poke);

    /* the last poke comes at the timeout, not after it */
    if (first_poke > 0 && s->timeout >= 0 && next > first_poke + s->timeout)
        next = first_poke + s->timeout > now ? first_poke + s->timeout : now;
    return next;
}

/* DateTimeSensor: target_time rendered, read in UTC when it has no offset (Airflow's
 * timezone.parse with the default time zone). */
static int
datetime_target(struct store *st, const struct ti_try *t, time_t *at, struct err *e)
{
    char *text = NULL;
    int rc;

    if (runner_render(st, t, ti_task(t)->sensor->target_time, &text, e) < 0)
        return err_prefix(e, "target_time");
    rc = tz_parse_iso("UTC", text, at, e);
    free(text);
    return rc < 0 ? err_prefix(e, "target_time") : 0;
}

/* TimeSensor: target_time "HH:MM[:SS]" today in the DAG's time zone (Airflow's rule compares
 * the time of day: after the target, the condition holds until midnight). */
static int
time_target(const struct ti_try *t, time_t now, time_t *at, struct err *e)
{
    const char *tz = t->run->dag->timezone ? t->run->dag->timezone : "UTC";
    struct civil c;
    int h = 0, m = 0, sec = 0, used = 0;
    const char *text = ti_task(t)->sensor->target_time;

    if (text == NULL || (sscanf(text, "%d:%d%n:%d%n", &h, &m, &used, &sec, &used) < 2) ||
        text[used] != '\0' || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
        return err_set(e, ERR_USAGE, "target_time '%s' is not HH:MM[:SS]", text ? text : "");
    if (tz_from_utc(tz, now, &c, NULL, e) < 0)
        return -1;
    c.hour = h, c.minute = m, c.second = sec;
    return tz_to_utc(tz, &c, at, e);
}

/* A time sensor: met when now has reached the target; *at is the target. */
static int
poke_time(struct store *st, const struct ti_try *t, time_t now, time_t *at, struct err *e)
{
    const struct dag_sensor *s = ti_task(t)->sensor;
    time_t base;

    switch (s->kind) {
    case SENSOR_DATETIME:
        return datetime_target(st, t, at, e);
    case SENSOR_TIME:
        return time_target(t, now, at, e);
    case SENSOR_TIMEDELTA: /* Airflow: data_interval_end + delta */
        base = t->run->di_end ? t->run->di_end : t->run->logical_date;
        *at = base + (time_t)ceil(s->delta);
        return 0;
    default:
        return err_set(e, ERR_FAIL, "not a time sensor");
    }
}

static bool
state_in(const char *state, const enum ti_state *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(state ? state : "none", ti_state_name(set[i])) == 0)
            return true;
    return false;
}

/* external_task_ids rendered, as a JSON array (NULL when there are none). */
static int
external_ids(struct store *st, const struct ti_try *t, char **json, struct err *e)
{
    const struct dag_sensor *s = ti_task(t)->sensor;
    json_t *a;

    *json = NULL;
    if (s->n_external_task_ids == 0)
        return 0;
    if ((a = json_array()) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < s->n_external_task_ids; i++) {
        char *id = NULL;
        if (runner_render(st, t, s->external_task_ids[i], &id, e) < 0) {
            json_decref(a);
            return err_prefix(e, "external_task_ids");
        }
        json_array_append_new(a, json_string(id));
        free(id);
    }
    *json = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return *json ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

/* check_existence: the external DAG, and each listed task, must be in the DAG folder this
 * run was loaded from (Airflow looks in its DAG bag the same way). ERR_USAGE when not. */
static int
check_existence(const struct ti_try *t, const char *dag_id, const char *ids_json, struct err *e)
{
    const struct dagbag *bag = t->run->bagref ? t->run->bagref->bag : NULL;
    const struct dag *ext = bag ? dagbag_find(bag, dag_id) : NULL;
    json_t *ids, *id;
    size_t i;
    int rc = 0;

    if (bag == NULL || !ti_task(t)->sensor->check_existence)
        return 0;
    if (ext == NULL)
        return err_set(e, ERR_USAGE, "check_existence: the external DAG '%s' does not exist",
                       dag_id);
    if (ids_json == NULL || (ids = json_loads(ids_json, 0, NULL)) == NULL)
        return 0;
    json_array_foreach(ids, i, id)
    {
        if (rc == 0 && dag_find_task(ext, json_string_value(id)) == NULL)
            rc = err_set(e, ERR_USAGE,
                         "check_existence: the external task '%s' does not exist in DAG '%s'",
                         json_string_value(id), dag_id);
    }
    json_decref(ids);
    return rc;
}

/* Airflow's ExternalTaskSensor: the external run at our logical date minus execution_delta;
 * met when every instance of the listed tasks (or the run itself) is in allowed_states, failed
 * when one is in failed_states, skipped when one is in skipped_states. */
static int
poke_external(struct store *st, const struct ti_try *t, enum poke_result *out, char *why,
              size_t why_size, struct err *e)
{
    const struct dag_sensor *s = ti_task(t)->sensor;
    time_t when =
        t->run->logical_date - (isnan(s->execution_delta) ? 0 : (time_t)s->execution_delta);
    char *dag = NULL, *ids = NULL, **states = NULL;
    size_t n = 0, allowed = 0;
    int rc = -1;

    if (runner_render(st, t, s->external_dag_id, &dag, e) < 0) {
        err_prefix(e, "external_dag_id");
        goto out;
    }
    if (external_ids(st, t, &ids, e) < 0 || check_existence(t, dag, ids, e) < 0 ||
        store_external_states(st, dag, when, ids, s->external_task_group_id, &states, &n, e) < 0)
        goto out;
    *out = POKE_NOT_YET;
    for (size_t i = 0; i < n; i++) {
        if (state_in(states[i], s->failed_states, s->n_failed_states))
            *out = POKE_FAILED;
        else if (*out != POKE_FAILED && state_in(states[i], s->skipped_states, s->n_skipped_states))
            *out = POKE_SKIPPED;
        allowed += state_in(states[i], s->allowed_states, s->n_allowed_states);
    }
    /* every listed task must have an instance (a task missing from the run is not there yet) */
    if (*out == POKE_NOT_YET && n > 0 && allowed == n && n >= s->n_external_task_ids)
        *out = POKE_MET;
    snprintf(why, why_size, "%s of DAG %s at logical date %lld: %zu of %zu in allowed states",
             ids ? "tasks" : (s->external_task_group_id ? "task group" : "the run"), dag,
             (long long)when, allowed, n);
    rc = 0;
out:
    free(dag);
    free(ids);
    store_states_free(states, n);
    return rc;
}

/* The poke itself: *res and, when not met, the next poke (*next). -1 with e: the poke could
 * not be made (ERR_USAGE: as written it never can, e.g. a bad target_time). */
static int
poke(struct store *st, const struct ti_try *t, double now, enum poke_result *res, double *next,
     char *why, size_t why_size, struct err *e)
{
    const struct dag_sensor *s = ti_task(t)->sensor;
    time_t at;
    char when[32] = "";

    if (s->kind == SENSOR_EXTERNAL_TASK) {
        if (poke_external(st, t, res, why, why_size, e) < 0)
            return -1;
        *next = runner_next_poke(ti_task(t), t->run->dag_id, t->first_poke, t->poke_count, now);
        return 0;
    }
    if (poke_time(st, t, (time_t)now, &at, e) < 0)
        return -1;
    tz_format("UTC", at, when, NULL);
    snprintf(why, why_size, "target time %s", when);
    *res = now >= (double)at ? POKE_MET : POKE_NOT_YET;
    /* no poll: the next poke is the target itself (or the timeout, if that comes first) */
    *next = (double)at;
    if (s->timeout >= 0 && *next > (t->first_poke > 0 ? t->first_poke : now) + s->timeout)
        *next = (t->first_poke > 0 ? t->first_poke : now) + s->timeout;
    return 0;
}

/* The state a poke leaves the instance in: a timeout (from the first poke) ends it. */
static enum ti_state
poke_state(const struct dag_sensor *s, enum poke_result res, double first, double now,
           const char **what)
{
    switch (res) {
    case POKE_MET:
        *what = "condition met";
        return TI_SUCCESS;
    case POKE_FAILED:
        *what = "the external task is in a failed state";
        return s->soft_fail ? TI_SKIPPED : TI_FAILED;
    case POKE_SKIPPED:
        *what = "the external task is in a skipped state";
        return TI_SKIPPED;
    case POKE_NOT_YET:
        break;
    }
    if (s->timeout >= 0 && now - first >= s->timeout) {
        *what = s->soft_fail ? "sensor timed out (soft_fail: skipped)" : "sensor timed out";
        return s->soft_fail ? TI_SKIPPED : TI_FAILED;
    }
    *what = "not yet";
    return TI_UP_FOR_RESCHEDULE;
}

/* The try this poke stands for: its number, first poke, log; a mapped instance's arguments. */
static int
poke_try(struct runner *r, struct store *st, struct active_run *run, const struct plan_change *c,
         struct ti_try *t, struct err *e)
{
    struct err le = {0};
    int try_number;

    *t = (struct ti_try){.run = run, .task = c->task, .map_index = c->map_index};
    if (store_ti_poke_info(st, run->dag_id, run->run_id, run->dag->tasks[c->task].task_id,
                           c->map_index, &t->first_poke, &t->poke_count, &try_number, e) < 0)
        return -1;
    t->try_number = try_number + 1;
    if (r != NULL && (runner_try_paths(r->opts.logs_folder, run->dag_id, run->run_id,
                                       run->dag->tasks[c->task].task_id, c->map_index,
                                       t->try_number, &t->log_path, &t->xcom_path, &le) < 0 ||
                      runner_try_prepare(t->log_path, t->xcom_path, &le) < 0))
        log_warn("%s %s %s: no log for its pokes: %s", run->dag_id, run->run_id,
                 run->dag->tasks[c->task].task_id, le.msg);
    return runner_bind(st, t, e);
}

int
runner_poke_here(struct runner *r, struct store *st, struct active_run *run, struct plan_change *c,
                 time_t *wake, struct err *e)
{
    struct ti_try t;
    double now = clock_wall(), next = 0;
    enum poke_result res = POKE_NOT_YET;
    struct store_poke pk = {.from = c->from, .start = now, .end = now};
    const char *what = "";
    char why[300] = "", when[32] = "";
    int won = -1;

    if (poke_try(r, st, run, c, &t, e) < 0 && e->temporary)
        goto out;
    if (e->msg[0] == '\0' && poke(st, &t, now, &res, &next, why, sizeof(why), e) < 0 &&
        e->temporary)
        goto out;
    if (e->msg[0] != '\0') { /* it cannot poke as written: failed, with the reason */
        runner_log_line(t.log_path, "poke: %s -> failed", e->msg);
        log_warn("%s %s %s: %s", run->dag_id, run->run_id, ti_task(&t)->task_id, e->msg);
        pk.to = TI_FAILED;
        *e = (struct err){0};
    } else {
        pk.to =
            poke_state(ti_task(&t)->sensor, res, t.first_poke > 0 ? t.first_poke : now, now, &what);
    }
    pk.reschedule_at = next;
    pk.hostname = r ? r->hostname : NULL;
    if ((won = store_ti_poked(st, run->dag_id, run->run_id, ti_task(&t)->task_id, c->map_index, &pk,
                              e)) != 1)
        goto out;
    c->to = pk.to;
    if (pk.to == TI_UP_FOR_RESCHEDULE) {
        *wake = (time_t)ceil(next);
        tz_format("UTC", *wake, when, NULL);
        runner_log_line(t.log_path, "poke %d: %s: %s; next poke at %s", t.poke_count + 1, why, what,
                        when);
    } else if (why[0]) {
        runner_log_line(t.log_path, "poke %d: %s: %s -> %s", t.poke_count + 1, why, what,
                        ti_state_name(pk.to));
    }
    if (r != NULL && pk.to != TI_UP_FOR_RESCHEDULE) /* a sensor poked here ended */
        runner_notify_ti(r, &t,
                         pk.to == TI_SUCCESS   ? NOTIFY_ON_SUCCESS
                         : pk.to == TI_SKIPPED ? NOTIFY_ON_SKIPPED
                                               : NOTIFY_ON_FAILURE,
                         pk.to, why[0] ? why : NULL);
out:
    free(t.log_path);
    free(t.xcom_path);
    if (t.bound) {
        dag_task_clear(t.bound);
        free(t.bound);
    }
    return won;
}

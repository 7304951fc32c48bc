/* dagfile_timetable: a `schedule:` mapping or a `timetable:` value -> dag->schedule + dag->tt.
 *
 * dag-factory builds these with its __type__ casting: `__type__` names a class, `__args__` its
 * positional arguments and the other keys its keyword arguments, nested mappings cast the same
 * way (an `interval: {__type__: datetime.timedelta, hours: 1}`). gust knows the timetables
 * Airflow ships (docs/dag-files.md, "Schedules") under their Airflow 2 and Airflow 3 module
 * paths, binds the arguments as Python would (unknown, missing and repeated ones are errors),
 * and refuses every other class with a message naming it and the supported ones: a custom
 * timetable is Python, relativedelta has no fixed length (asset schedules are read in
 * dagfile_assetload.c).
 *
 * Invariant: every error goes through dagfile_error at the node concerned; on error dag->tt
 * may hold part of what was read (dag_free clears it). */
#include "dagfile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/tz.h"

#define MAX_ARGS 4

/* One supported class: its keyword arguments in positional order; n_pos of them may be given
 * positionally (-1: any number of crons, MultipleCronTriggerTimetable's *crons). */
struct tt_class {
    const char *name;
    const char *module; /* the last part of airflow.timetables.<module> */
    enum timetable_kind kind;
    int n_pos;
    const char *args[MAX_ARGS];
};

static const struct tt_class classes[] = {
    {"CronTriggerTimetable",
     "trigger",
     TT_CRON_TRIGGER,
     1,
     {"cron", "timezone", "interval", "run_immediately"}},
    {"CronDataIntervalTimetable", "interval", TT_CRON_INTERVAL, 2, {"cron", "timezone"}},
    {"DeltaTriggerTimetable", "trigger", TT_DELTA_TRIGGER, 1, {"delta", "interval"}},
    {"DeltaDataIntervalTimetable", "interval", TT_DELTA_INTERVAL, 1, {"delta"}},
    {"MultipleCronTriggerTimetable",
     "trigger",
     TT_MULTI_CRON,
     -1,
     {"timezone", "interval", "run_immediately"}},
    {"EventsTimetable",
     "events",
     TT_EVENTS,
     4,
     {"event_dates", "restrict_to_events", "presorted", "description"}},
    {"ContinuousTimetable", "simple", TT_CONTINUOUS, 0, {NULL}},
    {"NullTimetable", "simple", TT_SCHEDULE, 0, {NULL}},
    {"OnceTimetable", "simple", TT_SCHEDULE, 0, {NULL}},
};
#define N_CLASSES (sizeof(classes) / sizeof(classes[0]))

#define SUPPORTED                                                                                  \
    "datetime.timedelta, or one of Airflow's timetables: airflow.timetables.trigger."              \
    "CronTriggerTimetable, DeltaTriggerTimetable, MultipleCronTriggerTimetable; "                  \
    "airflow.timetables.interval.CronDataIntervalTimetable, DeltaDataIntervalTimetable; "          \
    "airflow.timetables.events.EventsTimetable; airflow.timetables.simple.ContinuousTimetable, "   \
    "NullTimetable, OnceTimetable (also under airflow.sdk)"

/* The class a dotted path names: airflow.timetables.<module>.<Class>,
 * airflow.sdk.definitions.timetables.<module>.<Class> or airflow.sdk.<Class>. */
static const struct tt_class *
find_class(const char *path)
{
    const char *dot = strrchr(path, '.');
    char mod[160];

    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < N_CLASSES; i++) {
        const struct tt_class *k = &classes[i];
        if (strcmp(dot + 1, k->name) != 0)
            continue;
        snprintf(mod, sizeof(mod), "%.*s", (int)(dot - path), path);
        if ((strncmp(mod, "airflow.timetables.", 19) == 0 && strcmp(mod + 19, k->module) == 0) ||
            (strncmp(mod, "airflow.sdk.definitions.timetables.", 35) == 0 &&
             strcmp(mod + 35, k->module) == 0) ||
            (strcmp(mod, "airflow.sdk") == 0 && strcmp(k->module, "simple") != 0))
            return k;
    }
    return NULL;
}

/* Bind __args__ and keyword keys to k's arguments (Python's rules). *pos: the positional list
 * node of a varargs class (NULL when absent). */
static int
bind_args(struct loadctx *c, const struct tt_class *k, const struct ynode *map,
          const struct ynode *arg[MAX_ARGS], const struct ynode **pos)
{
    const struct ynode *args = ymap_get(map, "__args__");

    memset(arg, 0, MAX_ARGS * sizeof(*arg));
    *pos = NULL;
    if (args != NULL && args->kind != YN_SEQ) {
        dagfile_error(c, args, "%s: __args__ must be a list, not %s", k->name, ynode_what(args));
        return -1;
    }
    if (args != NULL && k->n_pos < 0) {
        *pos = args;
    } else if (args != NULL && args->n > (size_t)k->n_pos) {
        dagfile_error(c, args, "%s takes at most %d positional argument(s), not %zu", k->name,
                      k->n_pos, args->n);
        return -1;
    }
    for (size_t i = 0; args != NULL && k->n_pos >= 0 && i < args->n; i++)
        arg[i] = args->items[i];
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *key = ymap_key(map, i);
        size_t a = 0;
        if (key->kind != YN_SCALAR || strcmp(key->str, "__type__") == 0 ||
            strcmp(key->str, "__args__") == 0)
            continue;
        while (a < MAX_ARGS && k->args[a] && strcmp(k->args[a], key->str) != 0)
            a++;
        if (a == MAX_ARGS || k->args[a] == NULL) {
            dagfile_error(c, key, "%s has no argument '%s'", k->name, key->str);
            return -1;
        }
        if (arg[a] != NULL) {
            dagfile_error(c, key, "%s got two values for argument '%s'", k->name, key->str);
            return -1;
        }
        arg[a] = ymap_val(map, i);
    }
    return 0;
}

/* A cron argument: an expression or a preset other than @once/@continuous. */
static int
read_cron(struct loadctx *c, const struct ynode *n, const char *cls, struct schedule *out)
{
    struct err e = {0};

    if (n == NULL || n->kind != YN_SCALAR || ynode_is_null(n)) {
        dagfile_error(c, n, "%s: the cron expression must be a string%s%s", cls, n ? ", not " : "",
                      n ? ynode_what(n) : "");
        return -1;
    }
    if (schedule_parse(out, n->str, &e) < 0) {
        dagfile_error(c, n, "%s: cron '%s': %s", cls, n->str, e.msg);
        return -1;
    }
    if (out->kind != SCHED_CRON) {
        dagfile_error(c, n, "%s: '%s' is not a cron expression or preset (use schedule: '%s')", cls,
                      n->str, n->str);
        return -1;
    }
    return 0;
}

/* A timedelta argument (Python needs a datetime.timedelta; a bare number is refused). */
static int
read_delta(struct loadctx *c, const struct ynode *n, const char *cls, const char *what, long *secs)
{
    double v = 0;

    if (n->kind != YN_MAP) {
        dagfile_error(c, n,
                      "%s: %s must be a datetime.timedelta mapping ({__type__: "
                      "datetime.timedelta, hours: 1}), not %s",
                      cls, what, ynode_what(n));
        return -1;
    }
    if (dagfile_read_duration(c, n, what, &v) < 0)
        return -1;
    *secs = (long)v;
    return 0;
}

static int
read_zone(struct loadctx *c, const struct ynode *n, const struct ynode *map,
          const struct tt_class *k, struct dag *dag)
{
    struct err e = {0};

    if (n == NULL) {
        dagfile_error(c, map, "%s needs timezone (e.g. timezone: UTC)", k->name);
        return -1;
    }
    if (dagfile_read_str(c, n, "timezone", &dag->tt.tz) < 0)
        return -1;
    if (dag->tt.tz == NULL || tz_check(dag->tt.tz, &e) < 0) {
        dagfile_error(c, n, "%s: timezone: %s", k->name, dag->tt.tz ? e.msg : "must be a zone");
        return -1;
    }
    return 0;
}

/* run_immediately: true, false, or a timedelta. */
static int
read_run_immediately(struct loadctx *c, const struct ynode *n, const char *cls, struct dag *dag)
{
    bool b;

    if (n == NULL)
        return 0;
    if (n->kind == YN_MAP) {
        dag->tt.run_immediately = RUN_IMM_DELTA;
        return read_delta(c, n, cls, "run_immediately", &dag->tt.run_immediately_secs);
    }
    if (ynode_bool(n, &b) < 0) {
        dagfile_error(c, n, "%s: run_immediately must be true, false or a timedelta, not %s", cls,
                      ynode_what(n));
        return -1;
    }
    dag->tt.run_immediately = b ? RUN_IMM_TRUE : RUN_IMM_BUFFER;
    return 0;
}

/* MultipleCronTriggerTimetable's crons: __args__, at least one. */
static int
read_crons(struct loadctx *c, const struct ynode *pos, const struct ynode *map, struct dag *dag)
{
    const char *cls = "MultipleCronTriggerTimetable";

    if (pos == NULL || pos->n == 0) {
        dagfile_error(c, pos ? pos : map, "%s needs its cron expressions in __args__", cls);
        return -1;
    }
    if (read_cron(c, pos->items[0], cls, &dag->schedule) < 0)
        return -1;
    if (pos->n > 1 && (dag->tt.more = calloc(pos->n - 1, sizeof(*dag->tt.more))) == NULL) {
        dagfile_error(c, pos, "out of memory");
        return -1;
    }
    for (size_t i = 1; i < pos->n; i++, dag->tt.n_more++)
        if (read_cron(c, pos->items[i], cls, &dag->tt.more[i - 1]) < 0)
            return -1;
    return 0;
}

static int
cmp_time(const void *a, const void *b)
{
    time_t x = *(const time_t *)a, y = *(const time_t *)b;
    return (x > y) - (x < y);
}

/* EventsTimetable(event_dates, restrict_to_events, presorted, description). */
static int
read_events(struct loadctx *c, const struct ynode *const *arg, const struct ynode *map,
            struct dag *dag)
{
    const struct ynode *ev = arg[0];
    bool presorted = false;
    int bad = 0;

    if (ev == NULL || ev->kind != YN_SEQ) {
        dagfile_error(c, ev ? ev : map, "EventsTimetable: event_dates must be a list of dates%s%s",
                      ev ? ", not " : "", ev ? ynode_what(ev) : "");
        return -1;
    }
    if (ev->n > 0 && (dag->tt.events = calloc(ev->n, sizeof(time_t))) == NULL) {
        dagfile_error(c, ev, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < ev->n; i++, dag->tt.n_events++) {
        if (ynode_is_null(ev->items[i])) {
            dagfile_error(c, ev->items[i], "EventsTimetable: an event date must not be null");
            return -1;
        }
        if (dagfile_read_date(c, ev->items[i], "EventsTimetable: event_dates", dag->timezone,
                              &dag->tt.events[i]) < 0)
            return -1;
    }
    bad |= dagfile_read_bool(c, arg[1], "restrict_to_events", &dag->tt.restrict_to_events);
    bad |= dagfile_read_bool(c, arg[2], "presorted", &presorted);
    bad |= dagfile_read_str(c, arg[3], "description", &dag->tt.description);
    /* presorted only spares Airflow the sort; an unsorted list it trusts would run out of
     * order there, so gust sorts always (the same runs whenever Airflow's are well defined) */
    if (dag->tt.n_events > 1)
        qsort(dag->tt.events, dag->tt.n_events, sizeof(time_t), cmp_time);
    return bad ? -1 : 0;
}

/* The cron or delta argument every periodic class needs. */
static int
need(struct loadctx *c, const struct ynode *n, const struct ynode *map, const struct tt_class *k,
     const char *what)
{
    if (n != NULL || k->kind == TT_MULTI_CRON)
        return 0;
    dagfile_error(c, map, "%s needs %s (in __args__ or as %s:)", k->name, what, what);
    return -1;
}

/* The arguments of class k (bound in arg / pos) into dag. */
static int
read_class(struct loadctx *c, const struct tt_class *k, const struct ynode *const *arg,
           const struct ynode *pos, const struct ynode *map, struct dag *dag)
{
    struct err e = {0};
    long secs = 0;

    if ((k->kind == TT_CRON_TRIGGER || k->kind == TT_CRON_INTERVAL) &&
        need(c, arg[0], map, k, "cron") < 0)
        return -1;
    switch (k->kind) {
    case TT_CRON_TRIGGER:
        return read_cron(c, arg[0], k->name, &dag->schedule) < 0 ||
                       read_zone(c, arg[1], map, k, dag) < 0 ||
                       (arg[2] &&
                        read_delta(c, arg[2], k->name, "interval", &dag->tt.interval) < 0) ||
                       read_run_immediately(c, arg[3], k->name, dag) < 0
                   ? -1
                   : 0;
    case TT_CRON_INTERVAL:
        return read_cron(c, arg[0], k->name, &dag->schedule) < 0 ||
                       read_zone(c, arg[1], map, k, dag) < 0
                   ? -1
                   : 0;
    case TT_MULTI_CRON:
        return read_crons(c, pos, map, dag) < 0 || read_zone(c, arg[0], map, k, dag) < 0 ||
                       (arg[1] &&
                        read_delta(c, arg[1], k->name, "interval", &dag->tt.interval) < 0) ||
                       read_run_immediately(c, arg[2], k->name, dag) < 0
                   ? -1
                   : 0;
    case TT_DELTA_TRIGGER:
    case TT_DELTA_INTERVAL:
        if (need(c, arg[0], map, k, "delta") < 0 ||
            read_delta(c, arg[0], k->name, "delta", &secs) < 0 ||
            (k->kind == TT_DELTA_TRIGGER && arg[1] &&
             read_delta(c, arg[1], k->name, "interval", &dag->tt.interval) < 0))
            return -1;
        if (schedule_from_delta(&dag->schedule, secs, &e) < 0) {
            dagfile_error(c, arg[0], "%s: delta: %s", k->name, e.msg);
            return -1;
        }
        return 0;
    case TT_EVENTS:
        dag->schedule.kind = SCHED_EVENTS;
        snprintf(dag->schedule.text, sizeof(dag->schedule.text), "EventsTimetable");
        return read_events(c, arg, map, dag);
    case TT_CONTINUOUS:
        return schedule_parse(&dag->schedule, "@continuous", &e);
    default: /* NullTimetable, OnceTimetable */
        return schedule_parse(&dag->schedule,
                              strcmp(k->name, "OnceTimetable") == 0 ? "@once" : "None", &e);
    }
}

/* The message for a mapping that is no schedule gust can run. */
static void
refuse(struct loadctx *c, const struct ynode *map, const char *what)
{
    const struct ynode *t = ymap_get(map, "__type__");

    if (ymap_get(map, "datasets") || ymap_get(map, "assets") || ymap_get(map, "__and__") ||
        ymap_get(map, "__or__"))
        dagfile_error(c, map, "%s: assets are not a timetable (they go in the schedule itself)",
                      what);
    else if (t == NULL || t->kind != YN_SCALAR)
        dagfile_error(c, map, "%s: a mapping here needs __type__: " SUPPORTED, what);
    else if (strstr(t->str, "relativedelta") != NULL)
        dagfile_error(c, t,
                      "%s: relativedelta schedules are not supported (a calendar step has no "
                      "fixed length): use a cron expression, e.g. '0 18 * * *', or a "
                      "datetime.timedelta",
                      what);
    else if (strstr(t->str, "Asset") != NULL || strstr(t->str, "Dataset") != NULL)
        dagfile_error(c, t, "%s: %s is not a timetable (assets go in the schedule itself)", what,
                      t->str);
    else
        dagfile_error(c, t,
                      "%s: __type__ '%s' is not supported (a custom timetable needs Python); "
                      "supported: " SUPPORTED,
                      what, t->str);
}

int
dagfile_schedule_map(struct loadctx *c, struct dag *dag, const struct ynode *map, const char *what)
{
    const struct ynode *t = ymap_get(map, "__type__"), *arg[MAX_ARGS], *pos;
    const struct tt_class *k;
    struct err e = {0};
    double secs;

    if (t != NULL && t->kind == YN_SCALAR &&
        (strcmp(t->str, "datetime.timedelta") == 0 || strcmp(t->str, "timedelta") == 0)) {
        if (dagfile_read_duration(c, map, what, &secs) < 0)
            return -1;
        if (schedule_from_delta(&dag->schedule, (long)secs, &e) < 0) {
            dagfile_error(c, map, "%s: %s", what, e.msg);
            return -1;
        }
        return 0;
    }
    if (t == NULL || t->kind != YN_SCALAR || (k = find_class(t->str)) == NULL) {
        refuse(c, map, what);
        return -1;
    }
    if (bind_args(c, k, map, arg, &pos) < 0)
        return -1;
    dag->tt.kind = k->kind;
    if ((dag->tt.type = strdup(t->str)) == NULL) {
        dagfile_error(c, t, "out of memory");
        return -1;
    }
    return read_class(c, k, arg, pos, map, dag);
}

int
dagfile_timetable_check(struct loadctx *c, const struct dag *dag, const struct ynode *map)
{
    const struct ynode *mar = ymap_get(map, "max_active_runs");

    if (dag->schedule.kind != SCHED_CONTINUOUS || dag->max_active_runs == 1)
        return 0;
    const struct ynode *s = ymap_get(map, "schedule");
    dagfile_error(c,
                  mar ? mar
                  : s ? s
                      : ymap_get(map, "timetable"),
                  "@continuous (ContinuousTimetable) runs one run at a time: set "
                  "max_active_runs: 1 (it is %d%s; Airflow refuses more)",
                  dag->max_active_runs, mar ? "" : " by default");
    return -1;
}

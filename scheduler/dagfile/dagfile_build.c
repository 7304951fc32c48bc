/* dagfile_build: one DAG's YAML mapping (with `default` already merged under it) -> struct dag.
 *
 * Task values are looked up along a chain: the task's own mapping, then the default_args of
 * its task groups (innermost first), then the DAG's default_args, as Airflow applies
 * default_args. Unknown keys are warnings naming the key; wrong values are errors at the
 * value. Invariant: every error goes through dagfile_error, so the caller drops the DAG exactly
 * when c->errors grew while it was built. */
#include "dagfile_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/template.h"
#include "schedule/tz.h"

const struct ynode *
dagfile_cget(const struct chain *ch, const char *key)
{
    for (size_t i = 0; i < ch->n; i++) {
        const struct ynode *v = ymap_get(ch->maps[i], key);
        if (v != NULL)
            return v;
    }
    return NULL;
}

static const char *
key_text(const struct ynode *k)
{
    return k->kind == YN_SCALAR ? k->str : "(not a string)";
}

static int
op_from_path(const char *path, enum op_kind *op)
{
    const char *cls = strrchr(path, '.');

    cls = cls ? cls + 1 : path;
    if (strcmp(cls, "BashOperator") == 0)
        *op = OP_BASH;
    else if (strcmp(cls, "KubernetesPodOperator") == 0)
        *op = OP_KPO;
    else if (strcmp(cls, "TriggerDagRunOperator") == 0)
        *op = OP_TRIGGER_DAGRUN;
    else if (strcmp(cls, "EmptyOperator") == 0 || strcmp(cls, "DummyOperator") == 0)
        *op = OP_EMPTY;
    else
        return dagfile_sql_op(cls, op) == 0 ? 0 : dagfile_sensor_op(cls, op);
    return 0;
}

static int
read_trigger_rule(struct loadctx *c, const struct ynode *n, const char *sid, enum trigger_rule *out)
{
    char *s = NULL;
    int rc = 0;

    if (dagfile_read_str(c, n, "trigger_rule", &s) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (strcmp(s, "none_failed_or_skipped") == 0)
        dagfile_warn(c, n,
                     "task '%s': trigger rule none_failed_or_skipped is deprecated, read as "
                     "none_failed_min_one_success",
                     sid);
    if (trigger_rule_parse(s, out) < 0) {
        dagfile_error(c, n, "task '%s': unknown trigger rule '%s'", sid, s);
        rc = -1;
    }
    free(s);
    return rc;
}

/* A duration from key or, when absent, from its dag-factory "<key>_sec(s)" number form. */
static int
read_dur2(struct loadctx *c, const struct chain *ch, const char *key, const char *alt, double *out)
{
    const struct ynode *n = dagfile_cget(ch, key);

    if (n == NULL && (n = dagfile_cget(ch, alt)) != NULL)
        key = alt;
    return dagfile_read_duration(c, n, key, out);
}

/* priority_weight: an integer, clamped to 32 bits as Airflow's db_safe_priority does. */
static int
read_weight(struct loadctx *c, const struct ynode *n, int *out)
{
    long v;

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (ynode_long(n, &v) < 0) {
        dagfile_error(c, n, "priority_weight must be an integer, not %s", ynode_what(n));
        return -1;
    }
    *out = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int)v;
    return 0;
}

/* weight_rule: one of Airflow's three rules (a PriorityWeightStrategy class needs Python). */
static int
read_weight_rule(struct loadctx *c, const struct ynode *n, const char *sid, enum weight_rule *out)
{
    static const char *const names[] = {"downstream", "upstream", "absolute"};

    if (n == NULL || ynode_is_null(n))
        return 0;
    for (size_t i = 0; n->kind == YN_SCALAR && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(n->str, names[i]) == 0) {
            *out = (enum weight_rule)i;
            return 0;
        }
    dagfile_error(c, n,
                  "task '%s': weight_rule '%s' is not supported: use downstream, upstream or "
                  "absolute (a PriorityWeightStrategy class is Python code, which gust cannot run)",
                  sid, n->kind == YN_SCALAR ? n->str : ynode_what(n));
    return -1;
}

/* default_args values, valid on tasks and in default_args. */
static int
task_args(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid,
          const char *tz)
{
    int bad = 0;
    time_t ignored;

    bad |= dagfile_read_str(c, dagfile_cget(ch, "owner"), "owner", &t->owner);
    bad |= dagfile_read_int(c, dagfile_cget(ch, "retries"), "retries", 0, &t->retries);
    bad |= dagfile_read_int(c, dagfile_cget(ch, "max_active_tis_per_dag"), "max_active_tis_per_dag",
                            1, &t->max_active_tis_per_dag);
    bad |= dagfile_read_int(c, dagfile_cget(ch, "max_active_tis_per_dagrun"),
                            "max_active_tis_per_dagrun", 1, &t->max_active_tis_per_dagrun);
    bad |= read_dur2(c, ch, "retry_delay", "retry_delay_sec", &t->retry_delay);
    bad |= dagfile_read_bool(c, dagfile_cget(ch, "retry_exponential_backoff"),
                             "retry_exponential_backoff", &t->retry_exponential_backoff);
    bad |= dagfile_read_duration(c, dagfile_cget(ch, "max_retry_delay"), "max_retry_delay",
                                 &t->max_retry_delay);
    bad |= read_dur2(c, ch, "execution_timeout", "execution_timeout_secs", &t->execution_timeout);
    if (dagfile_cget(ch, "trigger_rule") != NULL)
        bad |= read_trigger_rule(c, dagfile_cget(ch, "trigger_rule"), sid, &t->trigger_rule);
    bad |= dagfile_read_bool(c, dagfile_cget(ch, "depends_on_past"), "depends_on_past",
                             &t->depends_on_past);
    bad |= dagfile_read_str(c, dagfile_cget(ch, "pool"), "pool", &t->pool);
    bad |= dagfile_read_str(c, dagfile_cget(ch, "queue"), "queue", &t->queue);
    bad |= dagfile_read_int(c, dagfile_cget(ch, "pool_slots"), "pool_slots", 1, &t->pool_slots);
    bad |= read_weight(c, dagfile_cget(ch, "priority_weight"), &t->priority_weight);
    bad |= read_weight_rule(c, dagfile_cget(ch, "weight_rule"), sid, &t->weight_rule);
    /* A task's own start/end date only narrows its runs in Airflow; checked, not kept. */
    bad |= dagfile_read_date(c, ymap_get(ch->maps[0], "start_date"), "start_date", tz, &ignored);
    bad |= dagfile_read_date(c, ymap_get(ch->maps[0], "end_date"), "end_date", tz, &ignored);
    return bad ? -1 : 0;
}

/* An operator argument, only when the task's operator takes it (others stay empty). */
const struct ynode *
dagfile_oget(const struct chain *ch, enum op_kind op, const char *key)
{
    return dagfile_key_op_takes(key, op) ? dagfile_cget(ch, key) : NULL;
}

static const struct ynode *
oget(const struct chain *ch, const struct dag_task *t, const char *key)
{
    return dagfile_oget(ch, t->op, key);
}

static int
task_operator_args(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid)
{
    int bad = 0;

    bad |= dagfile_read_str(c, oget(ch, t, "bash_command"), "bash_command", &t->bash_command);
    bad |= dagfile_read_env(c, oget(ch, t, "env"), "env", &t->env, &t->n_env);
    bad |= dagfile_read_env(c, oget(ch, t, "env_vars"), "env_vars", &t->env, &t->n_env);
    bad |= dagfile_read_bool(c, oget(ch, t, "append_env"), "append_env", &t->append_env);
    bad |= dagfile_read_str(c, oget(ch, t, "cwd"), "cwd", &t->cwd);
    bad |= dagfile_read_str_list(c, oget(ch, t, "cmds"), "cmds", &t->cmds, &t->n_cmds);
    bad |= dagfile_read_str_list(c, oget(ch, t, "arguments"), "arguments", &t->arguments,
                                 &t->n_arguments);
    bad |= dagfile_read_str(c, oget(ch, t, "image"), "image", &t->image);
    bad |= dagfile_read_str(c, oget(ch, t, "name"), "name", &t->name);
    bad |= dagfile_read_str(c, oget(ch, t, "namespace"), "namespace", &t->namespace);
    bad |= dagfile_read_bool(c, oget(ch, t, "do_xcom_push"), "do_xcom_push", &t->do_xcom_push);
    bad |= dagfile_read_exit_codes(c, oget(ch, t, "skip_on_exit_code"), "skip_on_exit_code",
                                   &t->skip_on_exit_code, &t->n_skip_on_exit_code);
    bad |= dagfile_read_str(c, oget(ch, t, "trigger_dag_id"), "trigger_dag_id", &t->trigger_dag_id);
    bad |= dagfile_read_json_object(c, oget(ch, t, "conf"), "conf", &t->conf_json);
    bad |= dagfile_read_bool(c, oget(ch, t, "wait_for_completion"), "wait_for_completion",
                             &t->wait_for_completion);
    if (bad)
        return -1;
    if (OP_IS_SQL(t->op))
        return 0; /* dagfile_sql_args */
    if (t->op == OP_BASH && (t->bash_command == NULL || t->bash_command[0] == '\0') &&
        !dagfile_task_maps(t, "bash_command"))
        dagfile_error(c, ch->maps[0], "task '%s': BashOperator needs bash_command", sid);
    else if (t->op == OP_KPO && t->n_cmds == 0 && !dagfile_task_maps(t, "cmds"))
        dagfile_error(c, ch->maps[0],
                      "task '%s': KubernetesPodOperator without cmds runs the image's "
                      "entrypoint%s, which gust cannot know when it runs the task locally: add "
                      "cmds with the entrypoint (for example cmds: [\"/app/run\"])",
                      sid, t->n_arguments > 0 ? " with the arguments" : "");
    else if (t->op == OP_TRIGGER_DAGRUN && (t->trigger_dag_id == NULL || !*t->trigger_dag_id) &&
             !dagfile_task_maps(t, "trigger_dag_id"))
        dagfile_error(c, ch->maps[0], "task '%s': TriggerDagRunOperator needs trigger_dag_id", sid);
    else
        return 0;
    return -1;
}

/* dag-factory's variables_as_arguments: [{variable: V, attribute: A}, ...]. dag-factory sets
 * attribute A to Variable V's value when V exists; gust supports bash_command (the only
 * string argument of its operators that changes what runs and is not a path) and looks the
 * Variables up when each try starts (dag-factory: when it parses the file). */
static int
read_var_args(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid)
{
    const struct ynode *n = dagfile_cget(ch, "variables_as_arguments");

    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind != YN_SEQ) {
        dagfile_error(c, n, "task '%s': variables_as_arguments must be a list, not %s", sid,
                      ynode_what(n));
        return -1;
    }
    if ((t->bash_command_vars = calloc(n->n + 1, sizeof(char *))) == NULL)
        return dagfile_error(c, n, "out of memory"), -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *it = n->items[i], *v = ymap_get(it, "variable"),
                           *a = ymap_get(it, "attribute");
        if (it->kind != YN_MAP || v == NULL || v->kind != YN_SCALAR || a == NULL ||
            a->kind != YN_SCALAR) {
            dagfile_error(c, it,
                          "task '%s': each variables_as_arguments item needs variable and "
                          "attribute",
                          sid);
            return -1;
        }
        if (t->op != OP_BASH || strcmp(a->str, "bash_command") != 0) {
            dagfile_error(c, a,
                          "task '%s': variables_as_arguments attribute '%s' is not supported "
                          "for %s (gust can set a BashOperator's bash_command from a Variable)",
                          sid, a->str, op_kind_name(t->op));
            return -1;
        }
        if ((t->bash_command_vars[t->n_bash_command_vars++] = strdup(v->str)) == NULL)
            return dagfile_error(c, v, "out of memory"), -1;
    }
    return 0;
}

static int
task_defaults(struct dag_task *t)
{
    t->do_xcom_push = t->op != OP_KPO;
    t->retry_delay = 300;
    t->max_retry_delay = -1;
    t->execution_timeout = -1;
    t->trigger_rule = TR_ALL_SUCCESS;
    t->pool_slots = 1;
    t->priority_weight = 1;
    t->weight_rule = WEIGHT_DOWNSTREAM;
    t->pool = strdup("default_pool");
    t->queue = strdup("default");
    t->owner = strdup("airflow");
    if (t->op == OP_BASH && (t->skip_on_exit_code = malloc(sizeof(int))) != NULL) {
        t->skip_on_exit_code[0] = 99;
        t->n_skip_on_exit_code = 1;
    }
    return t->pool && t->queue && t->owner && (t->op != OP_BASH || t->skip_on_exit_code) ? 0 : -1;
}

/* The operator of a task (from the task's own mapping only, as dag-factory reads it). */
static int
task_operator(struct loadctx *c, const struct ynode *map, struct dag_task *t, const char *sid)
{
    const struct ynode *op = ymap_get(map, "operator");

    if (op == NULL && ymap_get(map, "decorator") != NULL) {
        dagfile_check_keys(c, map, KL_TASK, -1, sid); /* refuses decorator */
        return -1;
    }
    if (op == NULL || ynode_is_null(op)) {
        dagfile_error(c, map, "task '%s' has no operator", sid);
        return -1;
    }
    if (dagfile_read_str(c, op, "operator", &t->operator_path) < 0)
        return -1;
    if (op_from_path(t->operator_path, &t->op) < 0) {
        dagfile_error(c, op,
                      "task '%s': unsupported operator '%s' (gust runs BashOperator, "
                      "KubernetesPodOperator, TriggerDagRunOperator, EmptyOperator, the SQL "
                      "operators of airflow.providers.common.sql and the sensors of "
                      "docs/dag-files.md, \"Sensors\")",
                      sid, t->operator_path);
        return -1;
    }
    return 0;
}

/* Build one task: its short id, group chain and values. Full ids are set by the caller. */
static int
build_task(struct loadctx *c, struct dag_task *t, const struct ynode *map, const char *sid,
           const struct dgroups *gs, int group, const struct ynode *dag_args, const struct dag *dag)
{
    const char *tz = dag->timezone, *params = dag->params_json;
    struct chain ch = {.n = 0};
    struct ynode *merged = NULL; /* the task's keys with its partial keys */

    t->line = map->line;
    t->col = map->col;
    if (task_operator(c, map, t, sid) < 0 || dagfile_map_partial(c, map, sid, &merged) < 0)
        return -1;
    if (task_defaults(t) < 0) {
        dagfile_error(c, map, "out of memory");
        ynode_free(merged);
        return -1;
    }
    ch.maps[ch.n++] = map = merged ? merged : map;
    for (int g = group; g >= 0 && ch.n < DAGFILE_MAX_CHAIN - 1; g = gs->g[g].parent)
        if (gs->g[g].default_args != NULL)
            ch.maps[ch.n++] = gs->g[g].default_args;
    if (dag_args != NULL)
        ch.maps[ch.n++] = dag_args;
    int bad = dagfile_check_keys(c, map, KL_TASK, (int)t->op, sid) < 0;
    bad |= dagfile_map_read(c, &ch, t, sid); /* first: a mapped argument may be absent */
    bad |= task_args(c, &ch, t, sid, tz);
    bad |= task_operator_args(c, &ch, t, sid);
    bad |= read_var_args(c, &ch, t, sid);
    bad |= dagfile_task_assets(c, &ch, t, sid);
    bad |= dagfile_check_task_templates(c, &ch, t, params);
    bad |= dagfile_task_notifiers(c, &ch, t, sid, params);
    if (OP_IS_SQL(t->op))
        bad |= dagfile_sql_args(c, &ch, t, sid, dag);
    if (t->op == OP_SENSOR || t->op == OP_SQL_SENSOR)
        bad |= dagfile_sensor_args(c, &ch, t, sid, dag);
    if (!bad)
        bad |= dagfile_map_check_items(c, map, t, sid, params);
    ynode_free(merged);
    return bad ? -1 : 0;
}

struct taskent {
    const struct ynode *map;
    const char *sid;
};

/* One entry of `tasks` (list item or mapping pair) into ents[*n] when it is usable. */
static void
add_task(struct loadctx *c, struct taskent *ents, size_t *n, struct dagfile_names *seen,
         const struct ynode *idn, const struct ynode *map)
{
    size_t first;

    if (idn == NULL || idn->kind != YN_SCALAR || ynode_is_null(idn)) {
        dagfile_error(c, idn ? idn : map, "a task in the list has no task_id");
        return;
    }
    if (!dagfile_valid_id(idn->str)) {
        dagfile_error(c, idn, "invalid task id '%s' (letters, digits, '_', '.', '-'; at most 250)",
                      idn->str);
        return;
    }
    if (map->kind != YN_MAP) {
        dagfile_error(c, map, "task '%s' must be a mapping, not %s", idn->str, ynode_what(map));
        return;
    }
    switch (dagfile_names_add(seen, idn->str, *n, &first)) {
    case 0:
        break;
    case 1:
        dagfile_error(c, idn, "duplicate task id '%s' (first defined at line %d)", idn->str,
                      ents[first].map->line);
        return;
    default:
        dagfile_error(c, idn, "out of memory");
        return;
    }
    ents[*n].map = map;
    ents[*n].sid = idn->str;
    (*n)++;
}

/* dag-factory's two forms of `tasks`: a list of mappings with task_id, or task_id -> mapping. */
static int
collect_tasks(struct loadctx *c, const struct ynode *tasks, struct taskent **out, size_t *n)
{
    struct dagfile_names seen = {0}; /* short id -> index in *out */

    *n = 0;
    *out = NULL;
    if (tasks == NULL || ynode_is_null(tasks))
        return 0;
    if (tasks->kind == YN_SCALAR) {
        dagfile_error(c, tasks, "tasks must be a list or a mapping, not %s", ynode_what(tasks));
        return -1;
    }
    if ((*out = calloc(tasks->n + 1, sizeof(**out))) == NULL) {
        dagfile_error(c, tasks, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < tasks->n; i++) {
        if (tasks->kind == YN_MAP) {
            add_task(c, *out, n, &seen, ymap_key(tasks, i), ymap_val(tasks, i));
            continue;
        }
        const struct ynode *it = tasks->items[i];
        if (it->kind != YN_MAP)
            dagfile_error(c, it, "each task in the list must be a mapping, not %s", ynode_what(it));
        else
            add_task(c, *out, n, &seen, ymap_get(it, "task_id"), it);
    }
    dagfile_names_clear(&seen);
    return 0;
}

/* dag-factory: schedule.strip().lower() == "none" means no schedule. */
static bool
is_none_text(const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    for (n = strlen(s); n > 0 && strchr(" \t\n\r", s[n - 1]) != NULL;)
        n--;
    return n == 4 && strncasecmp(s, "none", 4) == 0;
}

/* `timetable:` (Airflow 2's DAG argument, removed in Airflow 3): a timetable mapping, as in
 * schedule. */
static int
dag_timetable(struct loadctx *c, struct dag *dag, const struct ynode *map)
{
    const struct ynode *t = ymap_get(map, "timetable"), *s = ymap_get(map, "schedule");

    if (s != NULL && !ynode_is_null(s)) {
        dagfile_error(c, t, "set either schedule or timetable, not both (Airflow refuses both)");
        return -1;
    }
    if (t->kind != YN_MAP) {
        dagfile_error(c, t,
                      "timetable must be a mapping with __type__ (one of Airflow's timetables), "
                      "not %s; a cron string or preset goes in schedule",
                      ynode_what(t));
        return -1;
    }
    dagfile_warn(c, t, "timetable is Airflow 2's argument (Airflow 3 removed it): use schedule");
    if (dagfile_is_asset_schedule(t))
        return dagfile_asset_schedule(c, dag, t, "timetable");
    return dagfile_schedule_map(c, dag, t, "timetable");
}

static int
dag_schedule(struct loadctx *c, struct dag *dag, const struct ynode *map)
{
    const struct ynode *s = ymap_get(map, "schedule"), *si = ymap_get(map, "schedule_interval");
    struct err e = {0};

    if (si != NULL)
        dagfile_warn(c, si,
                     "schedule_interval is deprecated (dag-factory 1.x rejects it): use "
                     "schedule%s",
                     s ? "; ignored because schedule is set" : "");
    if (ymap_get(map, "timetable") != NULL && !ynode_is_null(ymap_get(map, "timetable")))
        return dag_timetable(c, dag, map);
    s = s ? s : si;
    if (s == NULL || ynode_is_null(s) || (s->kind == YN_SCALAR && is_none_text(s->str)))
        return schedule_parse(&dag->schedule, "None", &e) < 0 ? dagfile_error(c, s, "%s", e.msg),
               -1                                             : 0;
    if (dagfile_is_asset_schedule(s)) /* a list, or a mapping of assets (dagfile_assetload.c) */
        return dagfile_asset_schedule(c, dag, s, "schedule");
    if (s->kind == YN_MAP)
        return dagfile_schedule_map(c, dag, s, "schedule");
    if (schedule_parse(&dag->schedule, s->str, &e) < 0) {
        dagfile_error(c, s, "schedule '%s': %s", s->str, e.msg);
        return -1;
    }
    return 0;
}

/* The DAG's zone: timezone, else default_args.timezone, else UTC. */
static int
dag_timezone(struct loadctx *c, struct dag *dag, const struct ynode *map, const struct ynode *args)
{
    const struct ynode *n = ymap_get(map, "timezone");
    struct err e = {0};
    int bad;

    if (n == NULL)
        n = ymap_get(args, "timezone");
    bad = dagfile_read_str(c, n, "timezone", &dag->timezone) < 0;

    /* Even a timezone that is not a string leaves some zone to read the dates with. */
    if (dag->timezone == NULL && (dag->timezone = strdup("UTC")) == NULL)
        return -1;
    if (bad)
        return -1;
    if (tz_check(dag->timezone, &e) < 0) {
        dagfile_error(c, n, "%s", e.msg);
        free(dag->timezone);
        dag->timezone = strdup("UTC"); /* keep reading the rest with some zone */
        return -1;
    }
    return 0;
}

static int
dag_dates(struct loadctx *c, struct dag *dag, const struct ynode *map, const struct ynode *args)
{
    const struct ynode *sd = ymap_get(map, "start_date"), *ed = ymap_get(map, "end_date");
    int bad = 0;

    sd = sd ? sd : ymap_get(args, "start_date"); /* Airflow: DAG value, else default_args */
    ed = ed ? ed : ymap_get(args, "end_date");
    bad |= dagfile_read_date(c, sd, "start_date", dag->timezone, &dag->start_date);
    bad |= dagfile_read_date(c, ed, "end_date", dag->timezone, &dag->end_date);
    dag->has_start_date = sd != NULL && !ynode_is_null(sd) && !bad;
    dag->has_end_date = ed != NULL && !ynode_is_null(ed) && !bad;
    if (!bad && dag->has_start_date && dag->has_end_date && dag->end_date < dag->start_date) {
        dagfile_error(c, ed, "end_date is before start_date");
        return -1;
    }
    return bad ? -1 : 0;
}

/* template_searchpath: a folder or a list of folders (Airflow takes both). */
static int
read_searchpath(struct loadctx *c, struct dag *dag, const struct ynode *n)
{
    if (n == NULL || ynode_is_null(n))
        return 0;
    if (n->kind == YN_SCALAR) {
        if ((dag->template_searchpath = calloc(2, sizeof(char *))) == NULL ||
            (dag->template_searchpath[0] = strdup(n->str)) == NULL) {
            dagfile_error(c, n, "out of memory");
            return -1;
        }
        dag->n_template_searchpath = 1;
        return 0;
    }
    return dagfile_read_str_list(c, n, "template_searchpath", &dag->template_searchpath,
                                 &dag->n_template_searchpath);
}

static int
dag_fields(struct loadctx *c, struct dag *dag, const struct ynode *map, const struct ynode *args)
{
    const struct ynode *mat = ymap_get(map, "max_active_tasks"),
                       *conc = ymap_get(map, "concurrency");
    int bad = 0;

    dag->max_active_runs = dag->max_active_tasks = 16;
    dag->dagrun_timeout = -1;
    bad |= dag_timezone(c, dag, map, args);
    bad |= dag_dates(c, dag, map, args);
    bad |= dag_schedule(c, dag, map);
    bad |= dagfile_read_str(c, ymap_get(map, "description"), "description", &dag->description);
    bad |= dagfile_read_bool(c, ymap_get(map, "catchup"), "catchup", &dag->catchup);
    bad |= dagfile_read_int(c, ymap_get(map, "max_active_runs"), "max_active_runs", 1,
                            &dag->max_active_runs);
    bad |= dagfile_timetable_check(c, dag, map);
    if (conc != NULL)
        dagfile_warn(c, conc, "concurrency is deprecated: use max_active_tasks%s",
                     mat ? "; ignored because max_active_tasks is set" : "");
    bad |= dagfile_read_int(c, mat ? mat : conc, mat ? "max_active_tasks" : "concurrency", 1,
                            &dag->max_active_tasks);
    const struct ynode *rt = ymap_get(map, "dagrun_timeout");
    bad |=
        dagfile_read_duration(c, rt ? rt : ymap_get(map, "dagrun_timeout_sec"),
                              rt ? "dagrun_timeout" : "dagrun_timeout_sec", &dag->dagrun_timeout);
    bad |= dagfile_read_bool(c, ymap_get(map, "is_paused_upon_creation"), "is_paused_upon_creation",
                             &dag->is_paused_upon_creation);
    bad |= dagfile_read_params(c, ymap_get(map, "params"), dag);
    bad |= dagfile_read_str_list(c, ymap_get(map, "tags"), "tags", &dag->tags, &dag->n_tags);
    bad |= read_searchpath(c, dag, ymap_get(map, "template_searchpath"));
    bad |= dagfile_read_str(c, ymap_get(args, "owner"), "owner", &dag->owner);
    if (dag->owner == NULL && (dag->owner = strdup("airflow")) == NULL)
        bad = 1;
    return bad ? -1 : 0;
}

/* The first scalar under n that holds template syntax, or NULL. */
static const struct ynode *
first_template(const struct ynode *n)
{
    const struct ynode *t = NULL;

    if (n == NULL)
        return NULL;
    if (n->kind == YN_SCALAR)
        return strstr(n->str, "{{") || strstr(n->str, "{%") ? n : NULL;
    for (size_t i = 0; i < (n->kind == YN_MAP ? 2 * n->n : n->n) && t == NULL; i++)
        t = first_template(n->items[i]);
    return t;
}

/* render_template_as_native_obj: true makes Airflow render each templated field as a Python
 * object (a list, a number) instead of text. gust renders text, which is the same thing only
 * when no field holds a template: then the key changes nothing (dag-factory's own examples set
 * it on DAGs without templates); otherwise it is refused, naming the first template. */
static void
dag_native_obj(struct loadctx *c, const struct ynode *map)
{
    const struct ynode *v = ymap_get(map, "render_template_as_native_obj"), *t;
    bool on = false;

    if (v == NULL || dagfile_read_bool(c, v, "render_template_as_native_obj", &on) < 0 || !on)
        return;
    if ((t = first_template(ymap_get(map, "tasks"))) != NULL ||
        (t = first_template(ymap_get(map, "default_args"))) != NULL)
        dagfile_error(c, t,
                      "render_template_as_native_obj is true and this field holds a template: "
                      "Airflow would render it as a Python object, gust renders text (remove "
                      "the key, or set it to false)");
    else
        dagfile_warn(c, v,
                     "render_template_as_native_obj changes nothing here: no field of this "
                     "DAG holds a template");
}

/* The table's verdict on each key, and a warning for a repeated key. */
static void
check_dag_keys(struct loadctx *c, const struct ynode *map)
{
    dagfile_check_keys(c, map, KL_DAG, -1, NULL);
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = ymap_key(map, i);
        const char *s = key_text(k);
        for (size_t j = 0; j < i; j++)
            if (strcmp(key_text(ymap_key(map, j)), s) == 0)
                dagfile_warn(c, k, "key '%s' is repeated: the last one is used", s);
    }
}

/* Build every task of the DAG and link them. */
static int
dag_tasks(struct loadctx *c, struct dag *dag, const struct ynode *map, const struct ynode *args)
{
    struct taskent *ents = NULL;
    struct dagfile_taskref *refs = NULL;
    const struct ynode **at = NULL;
    struct dgroups gs = {0};
    struct err e = {0};
    size_t n = 0;
    int rc = -1, bad = 0;

    bad |= dagfile_groups_parse(c, ymap_get(map, "task_groups"), &gs);
    bad |= collect_tasks(c, ymap_get(map, "tasks"), &ents, &n);
    if (bad || (n > 0 && ((dag->tasks = calloc(n, sizeof(*dag->tasks))) == NULL ||
                          (refs = calloc(n, sizeof(*refs))) == NULL)))
        goto out;
    for (size_t i = 0; i < n; i++, dag->n_tasks++) {
        struct dag_task *t = &dag->tasks[i];
        const struct ynode *gn = ymap_get(ents[i].map, "task_group_name");
        int g = -1;
        if (gn != NULL && !ynode_is_null(gn) &&
            (gn->kind != YN_SCALAR || (g = dagfile_group_find(&gs, gn->str)) < 0)) {
            dagfile_error(c, gn, "task '%s': unknown task group '%s'", ents[i].sid,
                          gn->kind == YN_SCALAR ? gn->str : "?");
            bad = 1;
        }
        const struct ynode *ex = ymap_get(ents[i].map, "expand");
        refs[i] = (struct dagfile_taskref){ents[i].sid, ents[i].map,
                                           ymap_get(ents[i].map, "dependencies"), g,
                                           ex ? ex : ymap_get(ents[i].map, "expand_kwargs")};
        bad |= build_task(c, t, ents[i].map, ents[i].sid, &gs, g, args, dag);
        bool pre = g >= 0 && gs.g[g].prefix; /* prefix_group_id: false leaves the id alone */
        size_t len = strlen(ents[i].sid) + (pre ? strlen(gs.g[g].full_id) + 2 : 1);
        if ((t->task_id = malloc(len)) == NULL)
            goto out;
        snprintf(t->task_id, len, "%s%s%s", pre ? gs.g[g].full_id : "", pre ? "." : "",
                 ents[i].sid);
        if (g >= 0 && (t->group_id = strdup(gs.g[g].full_id)) == NULL)
            goto out;
    }
    if (!bad && (rc = dagfile_link(c, dag, refs, &gs)) == 0 && dag_index(dag, &e) < 0) {
        dagfile_error(c, map, "%s", e.msg); /* after dagfile_link: out of memory only */
        rc = -1;
    }
    if (rc == 0 && (at = calloc(n + 1, sizeof(*at))) != NULL) {
        for (size_t i = 0; i < n; i++)
            at[i] = ents[i].map;
        rc = dagfile_sql_check_branches(c, dag, at);
    } else if (rc == 0) {
        dagfile_error(c, map, "out of memory");
        rc = -1;
    }
out:
    dagfile_groups_clear(&gs);
    free(ents);
    free(refs);
    free(at);
    return rc;
}

struct dag *
dagfile_build_dag(struct loadctx *c, const struct ynode *key, const struct ynode *map)
{
    int before = c->errors;
    struct dag *dag = calloc(1, sizeof(*dag));
    const struct ynode *args = ymap_get(map, "default_args");

    if (dag == NULL || (dag->dag_id = strdup(key->str)) == NULL ||
        (dag->fileloc = strdup(c->file)) == NULL) {
        dagfile_error(c, key, "out of memory");
        goto fail;
    }
    dag->line = key->line;
    dag->col = key->col;
    if (map->kind != YN_MAP) {
        dagfile_error(c, map, "DAG '%s' must be a mapping, not %s", key->str, ynode_what(map));
        goto fail;
    }
    check_dag_keys(c, map);
    dag_native_obj(c, map);
    if (args != NULL && ynode_is_null(args))
        args = NULL;
    if (args != NULL && args->kind != YN_MAP) {
        dagfile_error(c, args, "default_args must be a mapping, not %s", ynode_what(args));
        args = NULL;
    }
    dagfile_check_keys(c, args, KL_ARGS, -1, NULL);
    dag_fields(c, dag, map, args);
    dagfile_dag_notifiers(c, map, dag);
    if (dag_tasks(c, dag, map, args) < 0 && c->errors == before)
        dagfile_error(c, map, "out of memory");
    if (c->errors == before)
        return dag;
fail:
    dag_free(dag);
    return NULL;
}

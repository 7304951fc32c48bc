/* dagfile_keys: the one table of every key the DAG loader knows, and its class.
 *
 * The rule it enforces: a key that changes what runs, when, or who is told is either
 * IMPLEMENTED with Airflow's meaning or REFUSED (an import error at the key saying what to do
 * instead); a key that changes nothing a run does (docs, UI colours, executor_config) is
 * WARNED. Each entry says at which levels the key may appear (DAG, default_args, task, task
 * group) and, for operator arguments, which operators take it. Keys not in the table follow
 * Airflow's meaning: at the DAG level dag-factory does not pass them to Airflow (warned); in
 * default_args Airflow gives a key only to operators that take it (warned); on a task
 * dag-factory passes it to the operator, so it would change the run (refused); a task group
 * passes it to TaskGroup (refused). Invariant: dagfile_check_keys is the only place that
 * decides a key's class, and every key the loader reads is in this table (a unit test checks
 * both). */
#include "dagfile_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define D KL_DAG
#define A KL_ARGS
#define T KL_TASK
#define G KL_GROUP
#define AT (KL_ARGS | KL_TASK)

/* Shared reasons. */
#define R_CALLBACK_PY                                                                              \
    "it names a Python function in a file, which gust cannot run: use a notifier in the callback " \
    "key itself (see \"Notifications\")"
#define R_SLA "SLAs are not supported (Airflow 3 removed them): remove it"
#define R_PYTHON "it names Python code, which gust cannot run: remove it"
#define R_DOC "documentation only; gust does not show it"
#define R_UI "Airflow UI setting; gust has no UI"
#define R_POD "where and how the pod is placed: gust runs the command locally"
#define R_MOUNT                                                                                    \
    "gust runs KubernetesPodOperator tasks locally and cannot provide it: remove it (pass values " \
    "through env_vars)"
#define R_SQLPY                                                                                    \
    "it takes a Python callable, which gust cannot run (remove it: gust uses the operator's "      \
    "default behaviour)"

#define R_SENSORPY                                                                                 \
    "it takes a Python callable, which gust cannot run (remove it: gust's sensor uses "            \
    "Airflow's default, "
#define SENSORS (B(OP_SQL_SENSOR) | B(OP_SENSOR))

/* A callback: notifiers gust runs (dagfile_notify.c); dag-factory's Python file forms refused */
#define CALLBACKS(lv, name)                                                                        \
    {name, lv, KEY_IMPLEMENTED, 0, "a notifier, or a list of them (see \"Notifications\")", NULL}, \
        {name "_name", lv, KEY_REFUSED, 0, R_CALLBACK_PY, NULL},                                   \
    {                                                                                              \
        name "_file", lv, KEY_REFUSED, 0, R_CALLBACK_PY, NULL                                      \
    }

static const struct dagfile_key keys[] = {
    /* DAG level */
    {"default_args", D | G, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"schedule", D, KEY_IMPLEMENTED, 0,
     "a cron, preset, timedelta or timetable (see \"Schedules\"), or assets (see \"Assets\")",
     NULL},
    {"schedule_interval", D, KEY_IMPLEMENTED, 0, "deprecated: use schedule", NULL},
    {"timetable", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"start_date", D | AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"end_date", D | AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"timezone", D | A, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"catchup", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"max_active_runs", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"max_active_tasks", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"concurrency", D, KEY_IMPLEMENTED, 0, "deprecated: use max_active_tasks", NULL},
    {"dagrun_timeout", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"dagrun_timeout_sec", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"params", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"tags", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"description", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"is_paused_upon_creation", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"tasks", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"task_groups", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"template_searchpath", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"defaults_config_path", D, KEY_IMPLEMENTED, 0, NULL, NULL},
    CALLBACKS(D, "on_success_callback"),
    CALLBACKS(D, "on_failure_callback"),
    {"sla_miss_callback", D, KEY_REFUSED, 0, R_SLA, NULL},
    {"sla_miss_callback_name", D, KEY_REFUSED, 0, R_SLA, NULL},
    {"sla_miss_callback_file", D, KEY_REFUSED, 0, R_SLA, NULL},
    {"user_defined_macros", D, KEY_REFUSED, 0,
     "Python macros cannot be run by gust: remove it (put values in params)", NULL},
    {"user_defined_filters", D, KEY_REFUSED, 0,
     "Python filters cannot be run by gust: remove it (use the built-in filters)", NULL},
    {"jinja_environment_kwargs", D, KEY_REFUSED, 0,
     "gust's template engine has no Jinja options: remove it", NULL},
    /* true is accepted only when no field of the DAG holds a template (dag_native_obj) */
    {"render_template_as_native_obj", D, KEY_IMPLEMENTED, 0,
     "true only on a DAG with no template in any field (then it changes nothing)", NULL},
    {"fail_fast", D, KEY_REFUSED, 0, "not supported: remove it or set it to false", "false"},
    {"fail_stop", D, KEY_REFUSED, 0, "not supported: remove it or set it to false", "false"},
    {"max_consecutive_failed_dag_runs", D, KEY_REFUSED, 0,
     "gust does not pause a DAG after failed runs: remove it", "0"},
    {"doc_md", D | AT, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_md_file_path", D, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_md_python_callable_name", D, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_md_python_callable_file", D, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_md_python_arguments", D, KEY_WARNED, 0, R_DOC, NULL},
    {"dag_display_name", D, KEY_WARNED, 0, R_UI, NULL},
    {"owner_links", D, KEY_WARNED, 0, R_UI, NULL},
    {"default_view", D, KEY_WARNED, 0, R_UI, NULL},
    {"orientation", D, KEY_WARNED, 0, R_UI, NULL},
    {"access_control", D, KEY_WARNED, 0, "Airflow UI permissions; gust has no UI", NULL},

    /* default_args and task level: BaseOperator arguments */
    {"owner", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"retries", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"retry_delay", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"retry_delay_sec", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"retry_exponential_backoff", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"max_retry_delay", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"execution_timeout", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"execution_timeout_secs", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"trigger_rule", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"depends_on_past", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"pool", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"queue", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"variables_as_arguments", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    CALLBACKS(AT, "on_success_callback"),
    CALLBACKS(AT, "on_failure_callback"),
    CALLBACKS(AT, "on_retry_callback"),
    CALLBACKS(AT, "on_execute_callback"),
    CALLBACKS(AT, "on_skipped_callback"),
    {"email", AT, KEY_IMPLEMENTED, 0,
     "mail on failure and retry through the smtp_default connection (see \"Notifications\")", NULL},
    {"email_on_failure", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"email_on_retry", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"sla", AT, KEY_REFUSED, 0, R_SLA, NULL},
    /* dynamic task mapping (dagfile_mapload.c) */
    {"expand", T, KEY_IMPLEMENTED, 0, "see \"Dynamic task mapping\"", NULL},
    {"expand_kwargs", T, KEY_IMPLEMENTED, 0,
     "a gust extension to dag-factory: Airflow's expand_kwargs", NULL},
    {"partial", T, KEY_IMPLEMENTED, 0, "see \"Dynamic task mapping\"", NULL},
    {"map_index_template", AT, KEY_IMPLEMENTED, 0, "names the instances of a mapped task", NULL},
    {"outlets", AT, KEY_IMPLEMENTED, 0,
     "assets the task updates: URIs or Asset mappings (see \"Assets\")", NULL},
    {"inlets", AT, KEY_IMPLEMENTED, 0, "assets the task reads (recorded; see \"Assets\")", NULL},
    {"python_callable", AT, KEY_REFUSED, 0, R_PYTHON, NULL},
    {"python_callable_name", AT, KEY_REFUSED, 0, R_PYTHON, NULL},
    {"python_callable_file", AT, KEY_REFUSED, 0, R_PYTHON, NULL},
    {"decorator", T, KEY_REFUSED, 0,
     "TaskFlow tasks need Python: write the task with an operator such as BashOperator", NULL},
    {"executor", AT, KEY_REFUSED, 0, "gust runs every task with its own executor: remove it", NULL},
    {"priority_weight", AT, KEY_IMPLEMENTED, 0, "the claim order (with weight_rule)", NULL},
    {"weight_rule", AT, KEY_IMPLEMENTED, 0, "downstream, upstream or absolute", NULL},
    {"pool_slots", AT, KEY_IMPLEMENTED, 0, "slots of the pool a running instance takes", NULL},
    {"max_active_tis_per_dag", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"max_active_tis_per_dagrun", AT, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"wait_for_downstream", AT, KEY_REFUSED, 0,
     "not supported: use depends_on_past, or set it to false", "false"},
    {"run_as_user", AT, KEY_REFUSED, 0, "gust runs tasks as its own user: remove it", NULL},
    {"doc", AT, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_json", AT, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_yaml", AT, KEY_WARNED, 0, R_DOC, NULL},
    {"doc_rst", AT, KEY_WARNED, 0, R_DOC, NULL},
    {"task_display_name", AT, KEY_WARNED, 0, R_UI, NULL},
    {"ui_color", AT | G, KEY_WARNED, 0, R_UI, NULL},
    {"ui_fgcolor", AT | G, KEY_WARNED, 0, R_UI, NULL},
    {"executor_config", AT, KEY_WARNED, 0, "settings for Airflow's executors; gust's takes none",
     NULL},
    {"resources", AT, KEY_WARNED, 0, "resource hints; gust does not enforce them", NULL},

    /* task level: dag-factory's own keys */
    {"operator", T, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"task_id", T, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"dependencies", T | G, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"task_group_name", T | G, KEY_IMPLEMENTED, 0, NULL, NULL},

    /* operator arguments: implemented for the operators in ops, refused on the others */
    {"bash_command", AT, KEY_IMPLEMENTED, B(OP_BASH) | B(OP_SENSOR), NULL, NULL},
    {"env", AT, KEY_IMPLEMENTED, B(OP_BASH) | B(OP_SENSOR), NULL, NULL},
    {"append_env", AT, KEY_IMPLEMENTED, B(OP_BASH), NULL, NULL},
    {"cwd", AT, KEY_IMPLEMENTED, B(OP_BASH) | B(OP_SENSOR), NULL, NULL},
    {"cmds", AT, KEY_IMPLEMENTED, B(OP_KPO), NULL, NULL},
    {"arguments", AT, KEY_IMPLEMENTED, B(OP_KPO), NULL, NULL},
    {"image", AT, KEY_IMPLEMENTED, B(OP_KPO), NULL, NULL},
    {"name", AT, KEY_IMPLEMENTED, B(OP_KPO), NULL, NULL},
    {"namespace", AT, KEY_IMPLEMENTED, B(OP_KPO), NULL, NULL},
    {"env_vars", AT, KEY_IMPLEMENTED, B(OP_KPO), NULL, NULL},
    {"do_xcom_push", AT, KEY_IMPLEMENTED, ALL_OPS, NULL, NULL},
    {"skip_on_exit_code", AT, KEY_IMPLEMENTED, B(OP_BASH) | B(OP_KPO), NULL, NULL},
    {"trigger_dag_id", AT, KEY_IMPLEMENTED, B(OP_TRIGGER_DAGRUN), NULL, NULL},
    {"conf", AT, KEY_IMPLEMENTED, B(OP_TRIGGER_DAGRUN), NULL, NULL},
    {"wait_for_completion", AT, KEY_IMPLEMENTED, B(OP_TRIGGER_DAGRUN), NULL, NULL},
    /* KubernetesPodOperator arguments gust cannot honour when it runs the command locally */
    {"in_cluster", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"config_file", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"cluster_context", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"kubernetes_conn_id", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"get_logs", AT, KEY_WARNED, B(OP_KPO), "gust always keeps the task's output", NULL},
    {"image_pull_policy", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"image_pull_secrets", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"labels", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"annotations", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"ports", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"container_resources", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"node_selector", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"affinity", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"tolerations", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"service_account_name", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"startup_timeout_seconds", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"is_delete_operator_pod", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"on_finish_action", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"reattach_on_restart", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"log_events_on_failure", AT, KEY_WARNED, B(OP_KPO), R_POD, NULL},
    {"volumes", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"volume_mounts", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"secrets", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"env_from", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"init_containers", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"full_pod_spec", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"pod_template_file", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"pod_template_dict", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"pod_runtime_info_envs", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    {"security_context", AT, KEY_REFUSED, B(OP_KPO), R_MOUNT, NULL},
    /* SQL operators (dagfile_sql.c reads them) */
    {"conn_id", AT, KEY_IMPLEMENTED, SQL_ALL, NULL, NULL},
    {"postgres_conn_id", AT, KEY_IMPLEMENTED, B(OP_SQL_EXECUTE), NULL, NULL},
    {"database", AT, KEY_IMPLEMENTED, SQL_ALL, NULL, NULL},
    {"hook_params", AT, KEY_REFUSED, SQL_ALL, "put connection options in the connection's extra",
     NULL},
    {"retry_on_failure", AT, KEY_IMPLEMENTED, SQL_ALL, "only true is supported", NULL},
    {"sql", AT, KEY_IMPLEMENTED, SQL_WITH_SQL, NULL, NULL},
    {"parameters", AT, KEY_IMPLEMENTED, SQL_WITH_PARAMS, NULL, NULL},
    {"autocommit", AT, KEY_IMPLEMENTED, B(OP_SQL_EXECUTE), NULL, NULL},
    {"split_statements", AT, KEY_IMPLEMENTED, B(OP_SQL_EXECUTE), NULL, NULL},
    {"return_last", AT, KEY_IMPLEMENTED, B(OP_SQL_EXECUTE), NULL, NULL},
    {"show_return_value_in_logs", AT, KEY_IMPLEMENTED, B(OP_SQL_EXECUTE), NULL, NULL},
    {"requires_result_fetch", AT, KEY_IMPLEMENTED, B(OP_SQL_EXECUTE), NULL, NULL},
    {"handler", AT, KEY_REFUSED, B(OP_SQL_EXECUTE), R_SQLPY, NULL},
    {"output_processor", AT, KEY_REFUSED, B(OP_SQL_EXECUTE), R_SQLPY, NULL},
    {"pass_value", AT, KEY_IMPLEMENTED, B(OP_SQL_VALUE_CHECK), NULL, NULL},
    {"tolerance", AT, KEY_IMPLEMENTED, B(OP_SQL_VALUE_CHECK), NULL, NULL},
    {"min_threshold", AT, KEY_IMPLEMENTED, B(OP_SQL_THRESHOLD_CHECK), NULL, NULL},
    {"max_threshold", AT, KEY_IMPLEMENTED, B(OP_SQL_THRESHOLD_CHECK), NULL, NULL},
    {"table", AT, KEY_IMPLEMENTED, SQL_TABLE, NULL, NULL},
    {"partition_clause", AT, KEY_IMPLEMENTED, SQL_TABLE, NULL, NULL},
    {"column_mapping", AT, KEY_IMPLEMENTED, B(OP_SQL_COLUMN_CHECK), NULL, NULL},
    {"accept_none", AT, KEY_IMPLEMENTED, B(OP_SQL_COLUMN_CHECK), NULL, NULL},
    {"checks", AT, KEY_IMPLEMENTED, B(OP_SQL_TABLE_CHECK), NULL, NULL},
    {"follow_task_ids_if_true", AT, KEY_IMPLEMENTED, B(OP_SQL_BRANCH), NULL, NULL},
    {"follow_task_ids_if_false", AT, KEY_IMPLEMENTED, B(OP_SQL_BRANCH), NULL, NULL},
    {"fail_on_empty", AT, KEY_IMPLEMENTED, B(OP_SQL_SENSOR), NULL, NULL},
    /* sensors (dagfile_sensor.c reads them and refuses another sensor's argument) */
    {"poke_interval", AT, KEY_IMPLEMENTED, SENSORS, NULL, NULL},
    {"timeout", AT, KEY_IMPLEMENTED, SENSORS, NULL, NULL},
    {"soft_fail", AT, KEY_IMPLEMENTED, SENSORS, NULL, NULL},
    {"mode", AT, KEY_IMPLEMENTED, SENSORS, NULL, NULL},
    {"exponential_backoff", AT, KEY_IMPLEMENTED, SENSORS, NULL, NULL},
    {"max_wait", AT, KEY_IMPLEMENTED, SENSORS, NULL, NULL},
    {"deferrable", AT, KEY_IMPLEMENTED, B(OP_SENSOR), "true reads as mode: reschedule", NULL},
    {"external_dag_id", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"external_task_id", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"external_task_ids", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"external_task_group_id", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"allowed_states", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"failed_states", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"skipped_states", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"execution_delta", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"check_existence", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"execution_date_fn", AT, KEY_REFUSED, B(OP_SENSOR), R_SENSORPY "execution_delta)", NULL},
    {"execution_date_fn_name", AT, KEY_REFUSED, B(OP_SENSOR), R_SENSORPY "execution_delta)", NULL},
    {"execution_date_fn_file", AT, KEY_REFUSED, B(OP_SENSOR), R_SENSORPY "execution_delta)", NULL},
    {"filepath", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"fs_conn_id", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"recursive", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"http_conn_id", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"endpoint", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"method", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"headers", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"request_params", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"extra_options", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"response_error_codes_allowlist", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"response_check", AT, KEY_REFUSED, B(OP_SENSOR),
     R_SENSORPY "a 2xx answer; keep poking on 404)", NULL},
    {"response_check_name", AT, KEY_REFUSED, B(OP_SENSOR),
     R_SENSORPY "a 2xx answer; keep poking on 404)", NULL},
    {"response_check_file", AT, KEY_REFUSED, B(OP_SENSOR),
     R_SENSORPY "a 2xx answer; keep poking on 404)", NULL},
    {"response_check_lambda", AT, KEY_REFUSED, B(OP_SENSOR),
     R_SENSORPY "a 2xx answer; keep poking on 404)", NULL},
    {"target_time", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"delta", AT, KEY_IMPLEMENTED, B(OP_SENSOR), NULL, NULL},
    {"success", AT, KEY_REFUSED, B(OP_SQL_SENSOR), R_SQLPY, NULL},
    {"failure", AT, KEY_REFUSED, B(OP_SQL_SENSOR), R_SQLPY, NULL},
    {"selector", AT, KEY_REFUSED, B(OP_SQL_SENSOR), R_SQLPY, NULL},

    /* task group level */
    {"group_name", G, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"parent_group_name", G, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"prefix_group_id", G, KEY_IMPLEMENTED, 0, NULL, NULL},
    {"tooltip", G, KEY_WARNED, 0, R_UI, NULL},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

size_t
dagfile_keys_count(void)
{
    return N_KEYS;
}

const struct dagfile_key *
dagfile_key_at(size_t i)
{
    return i < N_KEYS ? &keys[i] : NULL;
}

const struct dagfile_key *
dagfile_key_find(const char *key, enum key_level lv)
{
    for (size_t i = 0; key != NULL && i < N_KEYS; i++)
        if ((keys[i].levels & lv) && strcmp(keys[i].key, key) == 0)
            return &keys[i];
    return NULL;
}

bool
dagfile_key_op_takes(const char *key, enum op_kind op)
{
    const struct dagfile_key *k = dagfile_key_find(key, KL_TASK);

    return k != NULL && k->ops != 0 && (k->ops & B(op)) && k->cls != KEY_REFUSED;
}

enum key_class
dagfile_key_class(const char *key, enum key_level lv, int op, const char **why)
{
    const struct dagfile_key *k = dagfile_key_find(key, lv);

    *why = NULL;
    if (k == NULL) {
        if (lv == KL_DAG || lv == KL_ARGS) {
            *why = lv == KL_DAG ? "dag-factory does not pass it to Airflow"
                                : "no operator gust runs takes it, and Airflow gives a "
                                  "default_args key only to operators that take it";
            return KEY_WARNED;
        }
        *why = lv == KL_GROUP ? "dag-factory passes it to Airflow's TaskGroup and gust does not "
                                "know it: remove it"
                              : "Airflow would pass it to the operator, so ignoring it could "
                                "run something else: remove it";
        return KEY_REFUSED;
    }
    *why = k->why;
    if (lv == KL_TASK && k->ops != 0 && op >= 0 && !(k->ops & B(op))) {
        *why = "it is not an argument of this operator (Airflow refuses it too): remove it";
        return KEY_REFUSED;
    }
    return k->cls;
}

/* "task 't': ", "task group 'g': ", "default_args: " or "" into buf. */
static const char *
where_text(enum key_level lv, const char *who, char *buf, size_t size)
{
    if (lv == KL_TASK)
        snprintf(buf, size, "task '%s': ", who ? who : "?");
    else if (lv == KL_GROUP)
        snprintf(buf, size, "task group '%s': ", who ? who : "?");
    else if (lv == KL_ARGS)
        snprintf(buf, size, "%s%sdefault_args: ", who ? who : "", who ? ": " : "");
    else
        buf[0] = '\0';
    return buf;
}

/* True when the value is the harmless one a refused key may have (e.g. `false`). */
static bool
harmless_value(const struct dagfile_key *k, const struct ynode *v)
{
    return k != NULL && k->ok_value != NULL && v != NULL && v->kind == YN_SCALAR &&
           (strcasecmp(v->str, k->ok_value) == 0 || ynode_is_null(v));
}

int
dagfile_check_keys(struct loadctx *c, const struct ynode *map, enum key_level lv, int op,
                   const char *who)
{
    char where[320];
    int bad = 0;

    where_text(lv, who, where, sizeof(where));
    for (size_t i = 0; map != NULL && map->kind == YN_MAP && i < map->n; i++) {
        const struct ynode *kn = ymap_key(map, i);
        const char *k = kn->kind == YN_SCALAR ? kn->str : "(not a string)", *why;
        enum key_class cls = dagfile_key_class(k, lv, op, &why);

        if (cls == KEY_REFUSED && harmless_value(dagfile_key_find(k, lv), ymap_val(map, i)))
            continue;
        const struct dagfile_key *e = dagfile_key_find(k, lv);
        if (cls == KEY_REFUSED) {
            const char *opn = op >= 0 ? op_kind_name((enum op_kind)op) : "?";
            if (op >= 0 && lv == KL_TASK && e == NULL)
                dagfile_error(c, kn, "%sunknown key '%s' for %s: %s", where, k, opn, why);
            else if (op >= 0 && lv == KL_TASK && e->ops != 0 && !(e->ops & B(op)))
                dagfile_error(c, kn,
                              "%skey '%s' is not an argument of %s (Airflow refuses it too): "
                              "remove it",
                              where, k, opn);
            else
                dagfile_error(c, kn, "%skey '%s' is not supported: %s", where, k, why);
            bad = -1;
        } else if (cls == KEY_WARNED) {
            dagfile_warn(c, kn, "%skey '%s' is ignored: %s", where, k, why);
        }
    }
    return bad;
}

const char *
dagfile_key_class_name(enum key_class cls)
{
    return cls == KEY_IMPLEMENTED ? "implemented" : cls == KEY_WARNED ? "warned" : "refused";
}

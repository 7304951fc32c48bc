/* dagfile: dag-factory YAML files -> plain structs (docs/dag-files.md).
 *
 * The only module that sees libyaml. A dagbag holds every DAG that loaded and every
 * diagnostic (errors and warnings, each with file:line:col). One bad file or one bad DAG
 * never stops the others from loading: a DAG with an error is left out of the bag and its
 * error is kept, as Airflow keeps import errors. */
#ifndef GUST_DAGFILE_H
#define GUST_DAGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "schedule/schedule.h"
#include "state/state.h"

enum op_kind {
    OP_BASH,           /* BashOperator: bash_command through /bin/bash -c */
    OP_KPO,            /* KubernetesPodOperator: cmds + arguments, no shell */
    OP_TRIGGER_DAGRUN, /* TriggerDagRunOperator */
    OP_EMPTY,          /* EmptyOperator (and DummyOperator of Airflow 1/2) */
    /* The SQL operators of airflow.providers.common.sql: each try runs the sql_task
     * executable with a spec file (struct dag_sql; docs/dag-files.md, "SQL operators") */
    OP_SQL_EXECUTE,         /* SQLExecuteQueryOperator (and PostgresOperator) */
    OP_SQL_CHECK,           /* SQLCheckOperator */
    OP_SQL_VALUE_CHECK,     /* SQLValueCheckOperator */
    OP_SQL_THRESHOLD_CHECK, /* SQLThresholdCheckOperator */
    OP_SQL_COLUMN_CHECK,    /* SQLColumnCheckOperator */
    OP_SQL_TABLE_CHECK,     /* SQLTableCheckOperator */
    OP_SQL_BRANCH,          /* BranchSQLOperator */
    OP_SQL_SENSOR,          /* SqlSensor (struct dag_sensor kind SENSOR_SQL, its query in
                             * struct dag_sql) */
    OP_SENSOR,              /* the other sensors gust runs: struct dag_sensor says which */
};
#define OP_IS_SQL(op) ((op) >= OP_SQL_EXECUTE && (op) <= OP_SQL_SENSOR)

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct kv {
    char *key;
    char *value;
};

/* The arguments of a SQL operator as written (templates are rendered per try by the runner).
 * Strings owned, NULL when absent; booleans -1 when absent; numbers NAN / < 0 when absent. */
struct dag_sql {
    char *conn_id;   /* conn_id (postgres_conn_id for PostgresOperator), with its default */
    char *database;  /* overrides the connection's schema */
    char **sql;      /* statement templates: inline text, or the path of a template file as
                      * written (sql_file[i] non-NULL) */
    char **sql_file; /* per statement: the template file found at load (absolute or relative
                      * to the working directory of the load), or NULL */
    size_t n_sql;
    bool sql_is_list;          /* sql was a list in the DAG file */
    char *parameters_json;     /* a JSON array or object, NULL when absent */
    bool parameters_templated; /* Airflow renders parameters (execute, sensor) */
    int autocommit, split_statements, return_last, show_return_value_in_logs; /* execute */
    char *pass_value;                                                         /* value_check */
    double tolerance;                                                         /* NAN: none */
    char *min_threshold, *max_threshold; /* threshold_check: a number or SQL (templated) */
    char *table;                         /* column_check, table_check */
    char *column_mapping_json;           /* column_check: checked at load */
    char *checks_json;                   /* table_check: checked at load */
    char *partition_clause;
    char **follow_true, **follow_false; /* branch: direct downstream task ids */
    size_t n_follow_true, n_follow_false;
    int fail_on_empty; /* sensor (its common arguments: struct dag_sensor) */
};

/* Sensors (docs/dag-files.md, "Sensors"). Where a poke runs: the time sensors and
 * ExternalTaskSensor are evaluated by the scheduler itself (no process: a clock comparison, or
 * one indexed query on gust's own database); the others run as a process (sensor_task, or
 * sql_task for SqlSensor), because a file system, an HTTP server or a command can block. */
enum sensor_kind {
    SENSOR_SQL,           /* SqlSensor: sql_task */
    SENSOR_EXTERNAL_TASK, /* ExternalTaskSensor: in the scheduler */
    SENSOR_DATETIME,      /* DateTimeSensor: in the scheduler */
    SENSOR_TIMEDELTA,     /* TimeDeltaSensor: in the scheduler */
    SENSOR_TIME,          /* TimeSensor: in the scheduler */
    SENSOR_FILE,          /* FileSensor: sensor_task */
    SENSOR_HTTP,          /* HttpSensor: sensor_task */
    SENSOR_BASH,          /* BashSensor: sensor_task (bash_command, env, cwd of the task) */
};
#define SENSOR_IN_SCHEDULER(k) ((k) >= SENSOR_EXTERNAL_TASK && (k) <= SENSOR_TIME)

/* A sensor's arguments as written (templated ones rendered per poke). Strings owned, NULL when
 * absent. */
struct dag_sensor {
    enum sensor_kind kind;
    /* BaseSensorOperator's, with Airflow's defaults */
    double poke_interval;     /* seconds, default 60 */
    double timeout;           /* seconds from the first poke, default 7 days */
    bool reschedule;          /* mode: reschedule (or deferrable: true); false: poke */
    bool soft_fail;           /* a timeout (or failed_states) ends in skipped, not failed */
    bool exponential_backoff; /* Airflow's growing poke interval */
    double max_wait;          /* cap of the backoff interval, seconds; < 0: none */
    /* ExternalTaskSensor (external_dag_id, external_task_ids templated) */
    char *external_dag_id;
    char **external_task_ids; /* none: the sensor waits for the external DAG run itself */
    size_t n_external_task_ids;
    char *external_task_group_id;
    enum ti_state *allowed_states; /* default {success} (run states by name for a DAG run) */
    size_t n_allowed_states;
    enum ti_state *failed_states; /* default none */
    size_t n_failed_states;
    enum ti_state *skipped_states; /* default none */
    size_t n_skipped_states;
    double execution_delta; /* seconds: the external run's logical date is ours minus this;
                             * NAN: the same logical date */
    bool check_existence;   /* fail at once when the external DAG (or task) does not exist */
    /* FileSensor (filepath templated) */
    char *fs_conn_id; /* default fs_default */
    char *filepath;
    bool recursive;
    /* HttpSensor (endpoint, headers, request_params templated) */
    char *http_conn_id; /* default http_default */
    char *endpoint;
    char *method;              /* default GET */
    char *headers_json;        /* a JSON object, NULL when absent */
    char *request_params_json; /* a JSON object, NULL when absent */
    char *extra_options_json;  /* a JSON object (timeout, verify...), NULL when absent */
    char **error_codes;        /* response_error_codes_allowlist: statuses that mean "not yet"
                                * (prefixes of "<status>:<reason>"), default {"404"} */
    size_t n_error_codes;
    /* DateTimeSensor: target_time, templated ISO 8601; TimeSensor: target_time "HH:MM[:SS]" */
    char *target_time;
    double delta; /* TimeDeltaSensor: seconds after the run's data_interval_end */
};

/* Assets (Airflow 3; datasets in 2.4-2.10; docs/dag-files.md, "Assets"). An asset is known by
 * its URI; name and group default as Airflow's (the URI, "asset"). */
struct dag_asset {
    char *uri;
    char *name;
    char *group;
    char *extra_json; /* a JSON object, NULL when absent */
};

/* A DAG's asset condition: one asset, or all / any of the sub-conditions (`&`, `|`, a list
 * is all of them as in Airflow). */
enum asset_cond_kind { ASSET_COND_URI, ASSET_COND_ALL, ASSET_COND_ANY };
struct asset_cond {
    enum asset_cond_kind kind;
    char *uri;               /* ASSET_COND_URI: asset.uri (the same pointer, owned there) */
    struct dag_asset asset;  /* ASSET_COND_URI: the asset as written (name, group, extra) */
    struct asset_cond *kids; /* ASSET_COND_ALL / ANY */
    size_t n_kids;
};

/* Assets (dagfile_asset.c). Whether condition c names the asset uri (anywhere in it). */
bool asset_cond_names(const struct asset_cond *c, const char *uri);
/* Whether the condition holds, given which assets have a pending event (pending(uri, arg));
 * an empty all / any never holds. */
bool asset_cond_eval(const struct asset_cond *c, bool (*pending)(const char *uri, void *arg),
                     void *arg);
/* The condition as text, Airflow's form: "(a & b) | c" (every nested all / any in
 * parentheses). NULL when out of memory; the caller frees it. */
char *asset_cond_text(const struct asset_cond *c);
/* Free a condition and everything in it; NULL is a no-op. */
void asset_cond_free(struct asset_cond *c);

/* Dynamic task mapping (docs/dag-files.md, "Dynamic task mapping"): one argument mapped over,
 * from `expand:` (or the one source of `expand_kwargs:`). */
struct dag_map_arg {
    char *name;      /* the argument mapped over ("bash_command", "env", "sql"...); NULL for
                      * expand_kwargs */
    json_t *items;   /* a literal list, as JSON (owned; read-only once loaded: every try of
                      * the task shares it); NULL when from an XCom */
    char *xcom_task; /* from an upstream's XCom return_value: its full task id; else NULL */
    size_t xcom_idx; /* index of xcom_task in dag->tasks (set by dag_index) */
};
struct dag_map {
    struct dag_map_arg *args; /* in file order */
    size_t n_args;
    bool kwargs;          /* expand_kwargs: one arg, name NULL, items are objects */
    char *index_template; /* map_index_template, NULL when absent */
};

/* Notifications (docs/dag-files.md, "Notifications"): a callback is one of the Airflow
 * notifiers gust runs itself, as a process (notify_task) after the state change. Python
 * callables are load errors. `email` / `email_on_failure` / `email_on_retry` load as an SMTP
 * notifier on the failure / retry event with Airflow's subject and body (email_default). */
enum notifier_kind {
    NOTIFY_SLACK_WEBHOOK, /* ...slack.notifications.slack_webhook.send_slack_webhook_notification */
    NOTIFY_SMTP,          /* ...smtp.notifications.smtp.send_smtp_notification */
    NOTIFY_HTTP,          /* ...http.notifications.http.send_http_notification */
};
struct dag_notifier {
    enum notifier_kind kind;
    char *callback;     /* the notifier's path as written ("email" for the email settings) */
    char *conn_id;      /* slack_webhook_conn_id / smtp_conn_id / http_conn_id, defaulted */
    char *args_json;    /* its other arguments as a JSON object text, as written: strings are
                         * templates, rendered when the callback runs */
    bool email_default; /* made from `email`: Airflow's default subject and body */
    int line, col;      /* where it is in the file */
};
/* The events a callback can be on; a DAG has only NOTIFY_ON_SUCCESS and NOTIFY_ON_FAILURE
 * (of its runs). Airflow's key is notify_event_key(ev): "on_failure_callback"... */
enum notify_event {
    NOTIFY_ON_EXECUTE,
    NOTIFY_ON_SUCCESS,
    NOTIFY_ON_FAILURE,
    NOTIFY_ON_RETRY,
    NOTIFY_ON_SKIPPED,
    NOTIFY_EVENTS
};
struct dag_notifiers {
    struct dag_notifier *v; /* in file order (a callback's list), the email one last */
    size_t n;
};
const char *notify_event_key(enum notify_event ev);

/* One task. Strings are owned by the task (NULL when absent). Durations in seconds;
 * a negative duration means "not set". */
struct dag_task {
    char *task_id;       /* full id, task group prefixes included: "grp.sub.task" */
    char *group_id;      /* innermost task group ("grp.sub"), NULL outside groups */
    char *operator_path; /* as written: "airflow.operators.bash.BashOperator" */
    enum op_kind op;
    int line, col; /* where the task's mapping starts in the file (1-based) */

    /* BashOperator */
    char *bash_command;
    /* variables_as_arguments for bash_command: when a try starts, the value of the last of
     * these Variables that is set replaces bash_command (then rendered as a template) */
    char **bash_command_vars;
    size_t n_bash_command_vars;
    /* KubernetesPodOperator */
    char **cmds;
    size_t n_cmds;
    char **arguments;
    size_t n_arguments;
    char *image;
    char *name;      /* pod name */
    char *namespace; /* pod namespace (recorded; used when the same file runs in Airflow) */
    /* env (BashOperator) or env_vars (KubernetesPodOperator) */
    struct kv *env;
    size_t n_env;
    bool append_env; /* BashOperator: env over the inherited environment, not instead of it */
    char *cwd;
    bool do_xcom_push;      /* default: true for Bash, false for KPO */
    int *skip_on_exit_code; /* Bash default {99} */
    size_t n_skip_on_exit_code;
    /* TriggerDagRunOperator */
    char *trigger_dag_id;
    char *conf_json; /* conf as a JSON object text, NULL when absent */
    bool wait_for_completion;
    /* SQL operators (OP_IS_SQL), NULL for the others */
    struct dag_sql *sql;

    /* default_args, merged: DAG default_args < task keys */
    char *owner;
    int retries;
    double retry_delay; /* default 300 */
    bool retry_exponential_backoff;
    double max_retry_delay;         /* < 0: none */
    double execution_timeout;       /* < 0: none */
    enum trigger_rule trigger_rule; /* default all_success */
    bool depends_on_past;
    char *pool;  /* default "default_pool" */
    char *queue; /* default "default" */
    /* Airflow's per-task limits on queued + running instances (0: none): over every run of
     * the DAG, and within one run (a mapped task's instances) */
    int max_active_tis_per_dag, max_active_tis_per_dagrun;

    char **upstream; /* full task ids this task depends on, sorted, no repeats */
    size_t n_upstream;
    /* Resolved at load (dag_index): task indices of upstream[i] (same order) and of the tasks
     * that depend on this one (ascending). The planner and the runner use only these. */
    size_t *upstream_idx;
    size_t *downstream_idx;
    size_t n_downstream;

    struct dag_map *map;       /* dynamic task mapping; NULL: an unmapped task */
    struct dag_sensor *sensor; /* OP_SENSOR and OP_SQL_SENSOR; NULL for the others */
    /* assets this task updates when it succeeds (an asset event each) and reads (recorded) */
    struct dag_asset *outlets;
    size_t n_outlets;
    struct dag_asset *inlets;
    size_t n_inlets;

    /* Pools and priorities: pool_slots (default 1) of pool taken while an instance runs;
     * priority_weight (default 1) and weight_rule give priority, the claim order (Airflow's:
     * downstream sums the weights of the task and every task downstream of it, upstream of
     * it and every upstream task, absolute the task's own) */
    int pool_slots;
    int priority_weight;
    enum weight_rule { WEIGHT_DOWNSTREAM, WEIGHT_UPSTREAM, WEIGHT_ABSOLUTE } weight_rule;
    long long priority; /* the effective priority_weight, set by dag_index */

    struct dag_notifiers on[NOTIFY_EVENTS]; /* callbacks (on_execute_callback...) */
};

struct dag {
    char *dag_id;
    char *fileloc; /* path of the file it came from */
    int line, col; /* where its key is in the file */
    char *description;
    struct schedule schedule; /* kind SCHED_NONE when absent */
    struct timetable_spec tt; /* the timetable's other arguments (kind TT_SCHEDULE: none) */
    char *timezone;           /* IANA name, default "UTC" */
    bool has_start_date, has_end_date;
    time_t start_date, end_date; /* UTC */
    bool catchup;                /* default false */
    int max_active_runs;         /* default 16 */
    int max_active_tasks;        /* default 16 */
    double dagrun_timeout;       /* < 0: none */
    bool is_paused_upon_creation;
    char *params_json;       /* params as a JSON object text (a Param's default as its value), NULL
                              * when absent */
    char *param_schema_json; /* the Param objects: {"name": {"schema": {...}, "default": v}}
                              * ("default" absent when it has none), NULL when none */
    char **tags;
    size_t n_tags;
    char *owner; /* default_args.owner, default "airflow" */
    /* Folders where SQL template files are looked up after the DAG file's own folder
     * (relative ones are relative to the DAG file's folder) */
    char **template_searchpath;
    size_t n_template_searchpath;

    /* schedule on assets: NULL when the DAG is not. asset_or_time: Dataset/AssetOrTimeSchedule,
     * the timetable (schedule, tt) runs as well */
    struct asset_cond *asset_schedule;
    bool asset_or_time;

    /* on_success_callback / on_failure_callback of its runs (on[NOTIFY_ON_SUCCESS] and
     * on[NOTIFY_ON_FAILURE]; the other events stay empty) */
    struct dag_notifiers on[NOTIFY_EVENTS];

    struct dag_task *tasks; /* in file order */
    size_t n_tasks;
    size_t *by_id; /* task indices sorted by task_id, for dag_task_index (dag_index) */
};

/* Every distinct URI of a DAG's assets (schedule, then outlets and inlets in task order, the
 * first of each URI), for syncing the `asset` table: *out is a caller-freed array of borrowed
 * pointers (NULL when there are none). -1: out of memory. */
int dag_assets(const struct dag *dag, const struct dag_asset ***out, size_t *n);

/* A problem found while loading, always with its place. */
struct dag_diag {
    enum diag_level level;
    char *file;
    int line, col; /* 0 when the problem has no single place (unreadable file) */
    char *dag_id;  /* the DAG concerned, NULL when the whole file failed */
    char *msg;     /* without the "file:line:col: " prefix */
};

struct dagbag {
    struct dag **dags; /* sorted by dag_id */
    size_t n_dags;
    struct dag_diag *diags; /* in the order found */
    size_t n_diags;
    char *root; /* the DAG folder, where defaults.yml files are looked up to (set by
                 * dagbag_load_folder; NULL: only the file's own folder) */
};

/* New, empty bag. Free with dagbag_free. */
struct dagbag *dagbag_new(void);

/* Free a bag and everything in it; NULL is a no-op. */
void dagbag_free(struct dagbag *bag);

/* Load every *.yaml / *.yml file under folder (dagfile_walk: recursively, sorted by path,
 * hidden files skipped). Problems in files, and what the walk could not read, become
 * diagnostics in the bag; only an unreadable (or oversized) folder is an error of this call. */
int dagbag_load_folder(struct dagbag *bag, const char *folder, struct err *e);

#define DAGFILE_WALK_MAX_DEPTH 32       /* folders below the top one */
#define DAGFILE_WALK_MAX_ENTRIES 100000 /* entries read in all */

/* What the walk of a DAG folder found: a DAG file (problem NULL, with its size and mtime), or
 * something it could not read or left out (problem says why; a DIAG_ERROR one may hide DAGs,
 * a DIAG_WARNING one does not, e.g. a folder reached a second time through a link). */
struct dagfile_found {
    char *path;
    char *problem;
    enum diag_level level;
    long long size;
    struct timespec mtime;
    bool config; /* not a DAG file: a defaults.yml or an .airflowignore */
};
struct dagfile_walk {
    struct dagfile_found *items; /* sorted by path */
    size_t n;
};

/* Walk folder following links, each real directory once, within the limits above. -1 with e
 * when folder cannot be read or has more than DAGFILE_WALK_MAX_ENTRIES entries. */
int dagfile_walk(const char *folder, struct dagfile_walk *out, struct err *e);

/* Free what dagfile_walk found. */
void dagfile_walk_clear(struct dagfile_walk *w);

/* Load one file into the bag. Problems become diagnostics; returns the number of errors
 * recorded for this file. */
int dagbag_load_file(struct dagbag *bag, const char *path);

/* Load YAML text as if it were file `name` (for tests and fuzzing). */
int dagbag_load_string(struct dagbag *bag, const char *name, const char *text, size_t len);

/* Check a run's conf (a JSON object text; NULL: none) against the DAG's Param objects as
 * Airflow does before it creates a run: each Param takes the conf's value, else its default,
 * and must pass its schema. -1 with e (ERR_USAGE) naming the param and the rule broken, as
 * "Invalid input for param x: 11 is greater than the maximum of 10 (rule: maximum)". */
int dag_params_validate(const struct dag *dag, const char *conf_json, struct err *e);

/* The DAG with this id (borrowed), or NULL. */
const struct dag *dagbag_find(const struct dagbag *bag, const char *dag_id);

/* Move DAG dag_id from one bag to another (both stay sorted): 1 moved, 0 not (absent from
 * `from`, or `to` has a DAG with that id already), -1 out of memory (nothing moved). */
int dagbag_move(struct dagbag *to, struct dagbag *from, const char *dag_id);

/* The task with this id in dag (borrowed), or NULL. */
const struct dag_task *dag_find_task(const struct dag *dag, const char *task_id);

/* Index of the task with this id in dag->tasks, or -1 (a binary search of dag->by_id). */
long dag_task_index(const struct dag *dag, const char *task_id);

/* Resolve a DAG's task ids once: by_id, and each task's upstream_idx / downstream_idx from
 * its upstream ids, and each task's priority (from priority_weight and weight_rule). Done by
 * the loader; a DAG built by hand (tests) calls it itself. Fails on a duplicate task id or an
 * unknown upstream id. Empties earlier results first. */
int dag_index(struct dag *dag, struct err *e);

/* Free what dag_index built (the DAG itself stays). */
void dag_index_clear(struct dag *dag);

/* ---- dynamic task mapping at run time (dagfile_map.c); pure functions ---- */

/* The number of instances of mapped task t: the cross product of every arg's length, given
 * each arg's source value (sources[i] for t->map->args[i]: the parsed literal list, or the
 * upstream's XCom; borrowed). A JSON object counts its items (each instance gets a
 * [key, value] pair, as Airflow maps a dict). Anything else (string, number, null, or NULL:
 * missing) is ERR_USAGE naming the task, the argument, where it came from and the JSON type.
 * For expand_kwargs every item must be an object. */
int dag_map_length(const struct dag_task *t, json_t *const *sources, size_t *n, struct err *e);

/* The arguments of instance `index` (< the length) as a new JSON object {name: value} (for
 * expand_kwargs: a copy of the item object). Cross product order: the last argument varies
 * fastest (as itertools.product). */
int dag_map_values(const struct dag_task *t, json_t *const *sources, size_t index, json_t **values,
                   struct err *e);

/* Fill *out with a deep copy of t (sharing nothing with it) with the arguments in `values`
 * applied to its fields, per the operator's table of mappable arguments. A value of the wrong
 * type, or an argument the operator cannot map, is ERR_USAGE naming the task, the argument
 * and the type (out is then empty); numbers and booleans where a string is wanted become
 * their JSON text (Airflow's str()). out->map is NULL. Free with dag_task_clear. */
int dag_task_bind(const struct dag_task *t, const json_t *values, struct dag_task *out,
                  struct err *e);

/* Free everything a task owns and zero it (a task of a DAG, or one from dag_task_bind). */
void dag_task_clear(struct dag_task *t);

/* Operator class name for display: "BashOperator". */
const char *op_kind_name(enum op_kind op);

/* Sensor class name for display: "FileSensor". */
const char *sensor_kind_name(enum sensor_kind k);

/* Format a diagnostic as "file:line:col: error: msg" into buf ("file: error: msg" when it
 * has no place). */
void dag_diag_format(const struct dag_diag *d, char *buf, size_t size);

/* Write a deterministic, human-readable dump of every DAG (every field, tasks in file order,
 * upstream lists sorted) and then every diagnostic line. The expected output of the
 * data-driven cases in tests/dags. */
void dagbag_write_canonical(const struct dagbag *bag, FILE *out);

#endif

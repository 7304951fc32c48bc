/* dagfile_int: what the dagfile*.c files share and nothing else includes.
 *
 * The YAML document becomes a small tree of ynodes (scalar / sequence / mapping) that keeps
 * the 1-based line:col of every node, so each diagnostic can point at the exact place. No
 * libyaml type appears here: only dagfile_yaml.c includes <yaml.h>. */
#ifndef GUST_DAGFILE_INT_H
#define GUST_DAGFILE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dagfile/dagfile.h"

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
    enum ynode_kind kind;
    int line, col;
    char *str;            /* YN_SCALAR: text after $VAR expansion (never NULL) */
    bool quoted;          /* YN_SCALAR: quoted, block or !!str: always a string, never a number */
    struct ynode **items; /* YN_SEQ: n items; YN_MAP: keys at 2i, values at 2i+1 */
    size_t n;             /* items in a sequence, pairs in a mapping */
};

/* Parse text into a tree (owned by the caller, free with ynode_free). A stream with no
 * document gives *root = NULL and 0. On a syntax error returns -1 with msg and place. */
int ynode_parse(const char *text, size_t len, struct ynode **root, char *msg, size_t msgsize,
                int *line, int *col);
void ynode_free(struct ynode *n);
/* Deep copy, or NULL when out of memory. */
struct ynode *ynode_copy(const struct ynode *n);
/* A new tree: dst with every key of defaults it lacks; mappings present in both are merged
 * the same way, recursively (dag-factory's merge_configs). NULL when out of memory. */
struct ynode *ynode_merge(const struct ynode *dst, const struct ynode *defaults);

/* Mapping access: the value of key (the last one when repeated), or NULL. */
struct ynode *ymap_get(const struct ynode *map, const char *key);
static inline struct ynode *
ymap_key(const struct ynode *map, size_t i)
{
    return map->items[2 * i];
}
static inline struct ynode *
ymap_val(const struct ynode *map, size_t i)
{
    return map->items[2 * i + 1];
}

/* Scalar typing as YAML 1.1 (PyYAML) does for plain scalars. */
bool ynode_is_null(const struct ynode *n);
int ynode_bool(const struct ynode *n, bool *out);
int ynode_long(const struct ynode *n, long *out);
int ynode_double(const struct ynode *n, double *out);
/* "a mapping", "a sequence", "a string", "a number", "null", "a boolean". */
const char *ynode_what(const struct ynode *n);
/* The subtree as JSON (keys in file order; a new reference), or its JSON text (compact);
 * NULL when out of memory. */
json_t *ynode_json(const struct ynode *n);
char *ynode_to_json(const struct ynode *n);

/* Python's os.path.expandvars on one string: $NAME and ${NAME} replaced from the
 * environment, unset names left as written. Returns a new string (NULL: out of memory). */
char *dagfile_expandvars(const char *s);

/* A diagnostic sink for one file being loaded. */
struct loadctx {
    struct dagbag *bag;
    const char *file;
    const char *dag_id; /* the DAG being built, or NULL */
    int errors;         /* errors recorded since the DAG (or file) started */
};

void dagfile_diag(struct loadctx *c, enum diag_level level, const struct ynode *at, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
#define dagfile_error(c, at, ...) dagfile_diag((c), DIAG_ERROR, (at), __VA_ARGS__)
#define dagfile_warn(c, at, ...) dagfile_diag((c), DIAG_WARNING, (at), __VA_ARGS__)

/* Typed readers of values (dagfile_values.c). Each records an error at n when n has the wrong
 * type or value and returns -1; what names the key in messages. A null value leaves *out as
 * it is (the default) and returns 0. */
int dagfile_read_str(struct loadctx *c, const struct ynode *n, const char *what, char **out);
int dagfile_read_int(struct loadctx *c, const struct ynode *n, const char *what, long min,
                     int *out);
int dagfile_read_bool(struct loadctx *c, const struct ynode *n, const char *what, bool *out);
/* Seconds as a number or a `__type__: datetime.timedelta` mapping; null gives -1. */
int dagfile_read_duration(struct loadctx *c, const struct ynode *n, const char *what, double *out);
/* The same with no sign check and *out untouched for null (execution_delta: a negative delta
 * looks at a later run, as Airflow allows). */
int dagfile_read_duration_signed(struct loadctx *c, const struct ynode *n, const char *what,
                                 double *out);
/* dag-factory's get_time_delta ("1 hours", "2 days"): seconds, or -1 when s is not one. */
long long dagfile_relative_seconds(const char *s);
/* A date or date-time string (or `__type__: datetime.datetime` mapping) in zone tz. */
int dagfile_read_date(struct loadctx *c, const struct ynode *n, const char *what, const char *tz,
                      time_t *out);
int dagfile_read_str_list(struct loadctx *c, const struct ynode *n, const char *what, char ***out,
                          size_t *n_out);
/* A mapping name -> value, or a list of {name, value} mappings (KPO's env_vars). */
int dagfile_read_env(struct loadctx *c, const struct ynode *n, const char *what, struct kv **out,
                     size_t *n_out);
/* An exit code or a list of them; null is an empty list. */
int dagfile_read_exit_codes(struct loadctx *c, const struct ynode *n, const char *what, int **out,
                            size_t *n_out);
/* JSON text of a mapping (params, conf). */
int dagfile_read_json_object(struct loadctx *c, const struct ynode *n, const char *what,
                             char **out);
void dagfile_str_list_free(char **list, size_t n);
void dagfile_env_free(struct kv *env, size_t n);

/* The key table (dagfile_keys.c): every key the loader knows, where it may appear and its
 * class. IMPLEMENTED: Airflow's meaning; WARNED: changes nothing a run does (a warning);
 * REFUSED: an import error naming the key and what to do instead. */
enum key_level { KL_DAG = 1, KL_ARGS = 2, KL_TASK = 4, KL_GROUP = 8 };
/* Sets of operators (bits of enum op_kind), for the key table and the mappable arguments. */
#define B(op) (1u << (op))
#define ALL_OPS (~0u)
#define SQL_ALL                                                                                    \
    (B(OP_SQL_EXECUTE) | B(OP_SQL_CHECK) | B(OP_SQL_VALUE_CHECK) | B(OP_SQL_THRESHOLD_CHECK) |     \
     B(OP_SQL_COLUMN_CHECK) | B(OP_SQL_TABLE_CHECK) | B(OP_SQL_BRANCH) | B(OP_SQL_SENSOR))
#define SQL_WITH_SQL (SQL_ALL & ~(B(OP_SQL_COLUMN_CHECK) | B(OP_SQL_TABLE_CHECK)))
#define SQL_WITH_PARAMS (SQL_WITH_SQL & ~B(OP_SQL_THRESHOLD_CHECK))
#define SQL_TABLE (B(OP_SQL_COLUMN_CHECK) | B(OP_SQL_TABLE_CHECK))

enum key_class { KEY_IMPLEMENTED, KEY_WARNED, KEY_REFUSED };
struct dagfile_key {
    const char *key;
    unsigned levels;      /* KL_* bits where the key may appear */
    enum key_class cls;   /* its class there */
    unsigned ops;         /* operator arguments: bit 1 << op_kind of each operator taking it */
    const char *why;      /* refused: what to do instead; warned: why nothing changes */
    const char *ok_value; /* refused: a value that is harmless (e.g. "false"), or NULL */
};
size_t dagfile_keys_count(void);
/* Entry i of the table (NULL past the end). */
const struct dagfile_key *dagfile_key_at(size_t i);
/* The entry of key at level lv, or NULL when the table does not know it there. */
const struct dagfile_key *dagfile_key_find(const char *key, enum key_level lv);
/* The class of key at level lv (op: the task's operator at KL_TASK, else -1), and why. */
enum key_class dagfile_key_class(const char *key, enum key_level lv, int op, const char **why);
const char *dagfile_key_class_name(enum key_class cls);
/* True when operator op takes key as an implemented argument (dagfile_oget). */
bool dagfile_key_op_takes(const char *key, enum op_kind op);
/* The one place that applies the table: a warning per WARNED key and an error per REFUSED key
 * of map (who: the task or group name, or the context of a default_args mapping). -1 when a
 * key was refused. */
int dagfile_check_keys(struct loadctx *c, const struct ynode *map, enum key_level lv, int op,
                       const char *who);
/* A `schedule:` mapping or the `timetable:` value (what names the key) into dag->schedule and
 * dag->tt: a timedelta or one of Airflow's timetables (dagfile_timetable.c). -1 on error. */
int dagfile_schedule_map(struct loadctx *c, struct dag *dag, const struct ynode *map,
                         const char *what);
/* Once max_active_runs is read: @continuous needs it to be 1, as Airflow does. */
int dagfile_timetable_check(struct loadctx *c, const struct dag *dag, const struct ynode *map);

/* Build the DAG named by key from its (default-merged) mapping. NULL when it has errors
 * (they are recorded in c); the DAG is owned by the caller otherwise. */
struct dag *dagfile_build_dag(struct loadctx *c, const struct ynode *key, const struct ynode *map);

/* Name -> index (dagfile_names.c); keys are borrowed. Zero-initialised is empty. */
struct dagfile_names {
    const char **key;
    size_t *val;
    size_t n, cap;
};
/* Add key -> val: 0 when added, 1 when key is there already (*first: its index), -1 out of
 * memory. */
int dagfile_names_add(struct dagfile_names *t, const char *key, size_t val, size_t *first);
/* The index of key, or -1. */
long dagfile_names_get(const struct dagfile_names *t, const char *key);
void dagfile_names_clear(struct dagfile_names *t);

/* Task groups of one DAG (dag-factory `task_groups`, list or mapping form). */
struct dgroup {
    const char *name;                 /* as written (borrowed from the tree) */
    char *full_id;                    /* "outer.inner" */
    int parent;                       /* index, -1 at the top */
    const struct ynode *at;           /* where it is defined */
    const struct ynode *deps;         /* its dependencies, or NULL */
    const struct ynode *default_args; /* its default_args mapping, or NULL */
    bool prefix; /* prefix_group_id (default true): its tasks' ids start with its id */
};
struct dgroups {
    struct dgroup *g;
    size_t n;
    struct dagfile_names by_name; /* group name -> index */
};
/* Read task_groups (may be NULL). Errors are recorded in c; returns -1 on any. */
int dagfile_groups_parse(struct loadctx *c, const struct ynode *node, struct dgroups *out);
void dagfile_groups_clear(struct dgroups *gs);
/* Index of the group with this name, or -1. */
int dagfile_group_find(const struct dgroups *gs, const char *name);

/* Where each built task came from, for dependency resolution. */
struct dagfile_taskref {
    const char *short_id;       /* the name dependencies use (borrowed) */
    const struct ynode *at;     /* the task's mapping */
    const struct ynode *deps;   /* its dependencies, or NULL */
    int group;                  /* index in dgroups, -1 outside groups */
    const struct ynode *expand; /* its expand mapping or expand_kwargs value, or NULL */
};
/* Fill the upstream lists of dag's tasks (refs[i] describes dag->tasks[i]): names resolve to
 * tasks or groups; checks unknown names, self-dependencies and cycles. -1 on any error. */
int dagfile_link(struct loadctx *c, struct dag *dag, const struct dagfile_taskref *refs,
                 const struct dgroups *gs);

/* The lookup chain of a task's values: its own mapping, then the default_args of its task
 * groups (innermost first), then the DAG's default_args. */
#define DAGFILE_MAX_CHAIN 34
struct chain {
    const struct ynode *maps[DAGFILE_MAX_CHAIN];
    size_t n;
};
/* The value of key along the chain, or NULL. */
const struct ynode *dagfile_cget(const struct chain *ch, const char *key);
/* An operator argument along the chain, only when operator op takes it (else NULL). */
const struct ynode *dagfile_oget(const struct chain *ch, enum op_kind op, const char *key);
/* The mapping of the chain that holds value v (for block-scalar columns), or NULL. */
const struct ynode *dagfile_owner(const struct chain *ch, const struct ynode *v);
/* Every templated field of task t (dagfile_template.c); errors recorded at their place. */
int dagfile_check_task_templates(struct loadctx *c, const struct chain *ch,
                                 const struct dag_task *t, const char *params);
/* Every string under n, at any depth, as a template (path names it: "conf", "conf.a[2]"). */
int dagfile_check_tree_templates(struct loadctx *c, const struct ynode *n, const char *path,
                                 const char *params);
/* One templated string value: a template syntax error is recorded at its place. */
int dagfile_check_template(struct loadctx *c, const struct chain *ch, const struct ynode *n,
                           const char *field, const char *params);

/* SQL operators (dagfile_sql.c). The op kind of a class name (-1: not a SQL operator). */
int dagfile_sql_op(const char *cls, enum op_kind *op);
/* Read a SQL task's arguments into t->sql (allocated here), check them and their templates.
 * dag: fileloc and template_searchpath find the .sql files. -1 on any error (recorded). */
int dagfile_sql_args(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid,
                     const struct dag *dag);
/* After linking: every follow_task_ids_if_true/false id of each BranchSQLOperator is a task
 * directly downstream of it. -1 on any error (recorded at the task's mapping, at[i]). */
int dagfile_sql_check_branches(struct loadctx *c, const struct dag *dag,
                               const struct ynode *const *at);
void dagfile_sql_free(struct dag_sql *s);
/* Sensors (dagfile_sensor.c). OP_SENSOR for a sensor class name other than SqlSensor (-1:
 * not one). */
int dagfile_sensor_op(const char *cls, enum op_kind *op);
/* Read a sensor's arguments (OP_SENSOR and OP_SQL_SENSOR) into t->sensor (allocated here),
 * check them and their templates. -1 on any error (recorded). */
int dagfile_sensor_args(struct loadctx *c, const struct chain *ch, struct dag_task *t,
                        const char *sid, const struct dag *dag);
void dagfile_sensor_free(struct dag_sensor *s);
/* A deep copy (NULL for NULL); *ok becomes false when out of memory (the copy still frees). */
struct dag_sensor *dagfile_sensor_dup(const struct dag_sensor *s, bool *ok);
/* The sensor's lines of the canonical dump (nothing for a task without one). */
void dagfile_sensor_dump(FILE *out, const struct dag_task *t);
/* dagfile_sqlcheck.c. Each records its errors (task sid) and returns -1 on any.
 * column_mapping ({column: {check: {bounds}}}) and checks ({name: {check_statement,
 * partition_clause}}) as the provider validates them; */
int dagfile_sql_column_mapping(struct loadctx *c, const char *sid, const struct ynode *n);
int dagfile_sql_checks(struct loadctx *c, const char *sid, const struct ynode *n);
/* a partition_clause: a string without ';'; */
int dagfile_sql_partition_ok(struct loadctx *c, const char *sid, const struct ynode *n,
                             const char *what);
/* statement text (field names it, at is where) against parameters p (a list or a mapping). */
int dagfile_sql_placeholders(struct loadctx *c, const char *sid, const struct ynode *at,
                             const char *text, const char *field, const struct ynode *p);

/* Dynamic task mapping (dagfile_map.c): whether operator op can map argument name (its table
 * of mappable arguments), and those names as "a, b, c" into buf. */
bool dagfile_map_takes(const char *name, enum op_kind op);
void dagfile_map_list(enum op_kind op, char *buf, size_t size);
/* Whether a mapped argument is rendered as a template on each try (as the task's own). */
bool dagfile_map_templated(const char *name, enum op_kind op);
/* Whether task t maps over name (for expand_kwargs: any argument its operator can map), so a
 * required argument may be absent from its keys. */
bool dagfile_task_maps(const struct dag_task *t, const char *name);
void dagfile_map_free(struct dag_map *m);
/* dagfile_mapload.c. The task's own mapping with its `partial:` keys merged in (a new tree
 * in *merged, NULL when it has no partial); errors (a key both in partial and in the task)
 * recorded at the key. -1 on any. */
int dagfile_map_partial(struct loadctx *c, const struct ynode *map, const char *sid,
                        struct ynode **merged);
/* expand / expand_kwargs / map_index_template of a task into t->map (before its other
 * arguments are read). -1 on any error (recorded). */
int dagfile_map_read(struct loadctx *c, const struct chain *ch, struct dag_task *t,
                     const char *sid);
/* After the task's arguments are read: each literal item binds (right types) and its
 * templates compile (params: the DAG's params JSON); sid names the task. */
int dagfile_map_check_items(struct loadctx *c, const struct ynode *map, const struct dag_task *t,
                            const char *sid, const char *params);

/* Assets (dagfile_asset.c): Airflow's checks of an asset's uri, name or group (field names
 * it); NULL when v is valid, else why not (in why, or a constant). */
const char *dagfile_asset_invalid(const char *field, const char *v, char *why, size_t size);
/* a->* = copies of the arguments, group "asset" when NULL or empty. -1: out of memory. */
int dagfile_asset_set(struct dag_asset *a, const char *uri, const char *name, const char *group,
                      const char *extra_json);
void dagfile_asset_clear(struct dag_asset *a);
void dagfile_assets_free(struct dag_asset *a, size_t n);
/* A deep copy of n assets (NULL when n is 0); *ok false when out of memory. */
struct dag_asset *dagfile_assets_copy(const struct dag_asset *a, size_t n, bool *ok);
void asset_cond_clear(struct asset_cond *c);
/* Append kid (moved: *kid is left empty) to the all / any node parent; a kid of the same kind
 * has its own kids appended instead (a & (b & c) is a & b & c). -1: out of memory. */
int dagfile_cond_add(struct asset_cond *parent, struct asset_cond *kid);
/* A dag-factory condition string ("(a & b) | c": `&` before `|`, parentheses, operands that
 * are names or URIs) into *out. resolve (may be NULL: an operand is its own URI) turns an
 * operand into its URI or fails with a message. -1: *at is the byte offset of the problem and
 * msg says what it is. */
typedef int (*dagfile_cond_resolve)(void *arg, const char *operand, char **uri, char *msg,
                                    size_t size);
int dagfile_cond_parse(const char *text, dagfile_cond_resolve resolve, void *arg,
                       struct asset_cond *out, size_t *at, char *msg, size_t size);
/* dagfile_assetload.c. A task's outlets and inlets along the chain into t. */
int dagfile_task_assets(struct loadctx *c, const struct chain *ch, struct dag_task *t,
                        const char *sid);
/* Whether a schedule (or timetable) value is an asset form: a list, a mapping with datasets,
 * file, assets, __and__ or __or__, or a __type__ naming an asset class or builtins.list. */
bool dagfile_is_asset_schedule(const struct ynode *s);
/* Read it into dag->asset_schedule (and dag->schedule, dag->tt and dag->asset_or_time for
 * Dataset/AssetOrTimeSchedule); what names the key. -1 on error (recorded). */
int dagfile_asset_schedule(struct loadctx *c, struct dag *dag, const struct ynode *s,
                           const char *what);

/* Notifications (dagfile_notify.c): callbacks as dag-factory writes them, {callback: <notifier
 * path>, <its arguments>} or a list of them, and the e-mail settings. A task's on_*_callback,
 * email, email_on_failure and email_on_retry along its chain into t->on (sid names the task,
 * params are the DAG's for the template checks). -1 on any error (recorded). */
int dagfile_task_notifiers(struct loadctx *c, const struct chain *ch, struct dag_task *t,
                           const char *sid, const char *params);
/* A DAG's own on_success_callback / on_failure_callback (of its runs) into dag->on. */
int dagfile_dag_notifiers(struct loadctx *c, const struct ynode *map, struct dag *dag);
/* Free every notifier of on[0 .. NOTIFY_EVENTS) and empty them. */
void dagfile_notifiers_clear(struct dag_notifiers *on);
/* to[ev] = a deep copy of from[ev] for every event, without freeing what to held (a shallow
 * copy of a task); *ok becomes false when out of memory (to still frees). */
void dagfile_notifiers_dup(struct dag_notifiers *to, const struct dag_notifiers *from, bool *ok);
/* "slack_webhook", "smtp", "http": the kind's name in dumps. */
const char *dagfile_notifier_kind_name(enum notifier_kind k);

/* Priorities (dagfile_graph.c): every task's priority from its priority_weight and weight_rule,
 * as Airflow's priority_weight_total (downstream: its own weight plus the weight of every task
 * downstream of it, each counted once; upstream: the same upwards; absolute: its own), clamped
 * to a 32-bit integer as Airflow's db_safe_priority. Needs upstream_idx / downstream_idx. A
 * DAG with a cycle (the loader refuses them; tests build some) gets each task's own weight.
 * -1 with e when out of memory. words: the size of the reachability blocks in 64-bit words
 * (0: chosen from the DAG's size; tests pass a small one to cross several blocks). */
int dagfile_priorities(struct dag *dag, size_t words, struct err *e);

/* Free one DAG (NULL is a no-op). */
void dag_free(struct dag *dag);
/* Strings: strdup that may be given NULL. */
char *dagfile_strdup(const char *s);
/* Airflow's key rule for dag and task ids: [A-Za-z0-9_.-]+, at most 250 characters. */
bool dagfile_valid_id(const char *s);

/* dag-factory folder defaults (dagfile_defaults.c): the merged defaults.yml files for the file
 * being loaded, with cfg (defaults_config_path, or NULL) as the root; errors at `at`. */
struct ynode *dagfile_folder_defaults(struct loadctx *c, const char *cfg, const struct ynode *at);
/* A new mapping: dag with the folder defaults and the file's `default` (may be NULL) under it. */
struct ynode *dagfile_apply_defaults(const struct ynode *dag, const struct ynode *file_default,
                                     const struct ynode *folder);
/* defaults.yml / defaults.yaml: a defaults file, never a DAG file. */
bool dagfile_is_defaults_name(const char *name);

/* params with Param objects (dagfile_params.c): dag->params_json and dag->param_schema_json,
 * read after the DAG's schedule. */
int dagfile_read_params(struct loadctx *c, const struct ynode *n, struct dag *dag);

/* .airflowignore rules (dagfile_ignore.c): all the rules a walk read, and per folder the
 * indices of the ones that apply to it (its own after its parents', in file order). */
struct ignore_rule;
struct dagfile_ignore {
    struct ignore_rule *rules;
    size_t n;
};
struct dagfile_ignore_list {
    size_t *idx;
    size_t n;
};
/* AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX is "glob" (else regexp). */
bool dagfile_ignore_glob_syntax(void);
/* Add dir/.airflowignore's rules (none when there is no such file) to ig and l; root is the
 * DAG folder. -1: out of memory. */
int dagfile_ignore_read(struct dagfile_ignore *ig, struct dagfile_ignore_list *l, const char *root,
                        const char *dir);
/* Whether path (under root, as the walk builds it) is ignored by the rules of l. */
bool dagfile_ignore_match(const struct dagfile_ignore *ig, const struct dagfile_ignore_list *l,
                          const char *root, const char *path, bool is_dir);
int dagfile_ignore_list_copy(struct dagfile_ignore_list *to,
                             const struct dagfile_ignore_list *from);
void dagfile_ignore_clear(struct dagfile_ignore *ig);

#endif

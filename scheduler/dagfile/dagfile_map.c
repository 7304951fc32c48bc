/* dagfile_map: dynamic task mapping at run time, as pure functions over a loaded task
 * (docs/dag-files.md, "Dynamic task mapping").
 *
 * The runner gives the source of each mapped argument (the literal list the loader parsed,
 * or the upstream's XCom); dag_map_length counts the instances (the cross product
 * of the sources, Airflow's DictOfListsExpandInput, or the items of expand_kwargs),
 * dag_map_values gives one instance's arguments, and dag_task_bind makes the instance: a deep
 * copy of the task with those arguments applied. The table of mappable arguments per operator
 * (map_args) is the one place that says which argument an instance may change and how its
 * JSON value becomes a field; the loader checks `expand:` against the same table.
 * Invariant: a bound task shares no pointer with the task it came from, and after a failed
 * bind nothing is left allocated. */
#include "dagfile_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a JSON value becomes a field. */
enum bind_kind {
    BK_STR,      /* text (numbers and booleans as their JSON text) */
    BK_STR_LIST, /* a list of texts */
    BK_ENV,      /* an object name -> text */
    BK_BOOL,     /* true or false */
    BK_CODES,    /* an exit code or a list of them */
    BK_OBJECT,   /* an object, kept as JSON text (conf) */
    BK_SQL,      /* statement text or (SQLExecuteQueryOperator) a list of them */
    BK_PARAMS,   /* a list or an object, kept as JSON text */
    BK_NONE,     /* documentation: accepted, changes nothing */
};

struct map_arg {
    const char *name;
    unsigned ops; /* bit 1 << op_kind of each operator that may map it */
    enum bind_kind kind;
    bool in_sql;   /* the field is in struct dag_sql, else in struct dag_task */
    bool required; /* null or "" is refused (the operator needs it) */
    size_t off;    /* offset of the field (BK_STR, BK_STR_LIST: char * / char **) */
};

#define T_(f) offsetof(struct dag_task, f)
#define Q_(f) offsetof(struct dag_sql, f)

/* The mappable arguments: everything that only changes what one try runs. What the
 * scheduler needs before an instance exists (retries, pool, trigger_rule, ...) is not here. */
static const struct map_arg map_args[] = {
    {"bash_command", B(OP_BASH), BK_STR, false, true, T_(bash_command)},
    {"env", B(OP_BASH), BK_ENV, false, false, 0},
    {"cwd", B(OP_BASH), BK_STR, false, false, T_(cwd)},
    {"append_env", B(OP_BASH), BK_BOOL, false, false, 0},
    {"skip_on_exit_code", B(OP_BASH) | B(OP_KPO), BK_CODES, false, false, 0},
    {"cmds", B(OP_KPO), BK_STR_LIST, false, true, T_(cmds)},
    {"arguments", B(OP_KPO), BK_STR_LIST, false, false, T_(arguments)},
    {"image", B(OP_KPO), BK_STR, false, false, T_(image)},
    {"name", B(OP_KPO), BK_STR, false, false, T_(name)},
    {"namespace", B(OP_KPO), BK_STR, false, false, T_(namespace)},
    {"env_vars", B(OP_KPO), BK_ENV, false, false, 0},
    {"trigger_dag_id", B(OP_TRIGGER_DAGRUN), BK_STR, false, true, T_(trigger_dag_id)},
    {"conf", B(OP_TRIGGER_DAGRUN), BK_OBJECT, false, false, 0},
    {"sql", SQL_WITH_SQL, BK_SQL, true, true, 0},
    {"parameters", SQL_WITH_PARAMS, BK_PARAMS, true, false, 0},
    {"conn_id", SQL_ALL, BK_STR, true, true, Q_(conn_id)},
    {"database", SQL_ALL, BK_STR, true, false, Q_(database)},
    {"table", SQL_TABLE, BK_STR, true, true, Q_(table)},
    {"partition_clause", SQL_TABLE, BK_STR, true, false, Q_(partition_clause)},
    {"pass_value", B(OP_SQL_VALUE_CHECK), BK_STR, true, true, Q_(pass_value)},
    {"min_threshold", B(OP_SQL_THRESHOLD_CHECK), BK_STR, true, true, Q_(min_threshold)},
    {"max_threshold", B(OP_SQL_THRESHOLD_CHECK), BK_STR, true, true, Q_(max_threshold)},
    {"doc", ALL_OPS, BK_NONE, false, false, 0},
    {"doc_md", ALL_OPS, BK_NONE, false, false, 0},
    {"doc_json", ALL_OPS, BK_NONE, false, false, 0},
    {"doc_yaml", ALL_OPS, BK_NONE, false, false, 0},
    {"doc_rst", ALL_OPS, BK_NONE, false, false, 0},
};
#define N_MAP_ARGS (sizeof(map_args) / sizeof(map_args[0]))

static const struct map_arg *
map_arg_find(const char *name, enum op_kind op)
{
    for (size_t i = 0; name != NULL && i < N_MAP_ARGS; i++)
        if ((map_args[i].ops & B(op)) && strcmp(map_args[i].name, name) == 0)
            return &map_args[i];
    return NULL;
}

bool
dagfile_map_takes(const char *name, enum op_kind op)
{
    return map_arg_find(name, op) != NULL;
}

void
dagfile_map_list(enum op_kind op, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < N_MAP_ARGS && used < size; i++)
        if (map_args[i].ops & B(op))
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                                     map_args[i].name);
}

bool
dagfile_map_templated(const char *name, enum op_kind op)
{
    const struct map_arg *a = map_arg_find(name, op);

    if (a == NULL || a->kind == BK_BOOL || a->kind == BK_CODES || a->kind == BK_NONE)
        return false;
    if (a->kind == BK_PARAMS) /* Airflow renders them for these two only */
        return op == OP_SQL_EXECUTE || op == OP_SQL_SENSOR;
    /* the KPO pod's placement fields and cwd are not rendered by gust (docs/dag-files.md) */
    return strcmp(name, "cwd") != 0 && strcmp(name, "image") != 0 && strcmp(name, "name") != 0 &&
           strcmp(name, "namespace") != 0;
}

bool
dagfile_task_maps(const struct dag_task *t, const char *name)
{
    if (t->map == NULL)
        return false;
    if (t->map->kwargs) /* any mappable argument may come with an item */
        return dagfile_map_takes(name, t->op);
    for (size_t i = 0; i < t->map->n_args; i++)
        if (t->map->args[i].name != NULL && strcmp(t->map->args[i].name, name) == 0)
            return true;
    return false;
}

void
dagfile_map_free(struct dag_map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_args; i++) {
        free(m->args[i].name);
        json_decref(m->args[i].items);
        free(m->args[i].xcom_task);
    }
    free(m->args);
    free(m->index_template);
    free(m);
}

/* ---- lengths and values ---- */

/* "a string", "an object", ... for messages; "no value" for NULL. */
static const char *
json_what(const json_t *j)
{
    switch (j ? json_typeof(j) : JSON_NULL) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return j ? "null" : "no value";
    }
}

static const char *
tid(const struct dag_task *t)
{
    return t->task_id ? t->task_id : "?";
}

/* Where arg a's items come from, for messages. */
static void
origin(const struct dag_map_arg *a, char *buf, size_t size)
{
    if (a->xcom_task != NULL)
        snprintf(buf, size, "the XCom of '%s'", a->xcom_task);
    else
        snprintf(buf, size, "a literal list");
}

/* The number of items of source i of t: a list's or (expand only) an object's. */
static int
arg_length(const struct dag_task *t, size_t i, const json_t *src, size_t *n, struct err *e)
{
    const struct dag_map_arg *a = &t->map->args[i];
    char from[300];

    origin(a, from, sizeof(from));
    if (json_is_array(src)) {
        *n = json_array_size(src);
        for (size_t k = 0; t->map->kwargs && k < *n; k++)
            if (!json_is_object(json_array_get(src, k)))
                return err_set(e, ERR_USAGE,
                               "task '%s': expand_kwargs item %zu of %s is %s, not an object "
                               "(the arguments of one instance)",
                               tid(t), k, from, json_what(json_array_get(src, k)));
        return 0;
    }
    if (json_is_object(src) && !t->map->kwargs) {
        *n = json_object_size(src);
        return 0;
    }
    if (t->map->kwargs)
        return err_set(e, ERR_USAGE, "task '%s': expand_kwargs takes %s, %s, not a list of objects",
                       tid(t), from, json_what(src));
    return err_set(e, ERR_USAGE, "task '%s': expand argument '%s' takes %s, %s, not a list", tid(t),
                   a->name ? a->name : "?", from, json_what(src));
}

int
dag_map_length(const struct dag_task *t, json_t *const *sources, size_t *n, struct err *e)
{
    size_t total = 1, len;

    *n = 0;
    if (t->map == NULL || t->map->n_args == 0)
        return err_set(e, ERR_USAGE, "task '%s' is not a mapped task", tid(t));
    for (size_t i = 0; i < t->map->n_args; i++) {
        if (arg_length(t, i, sources ? sources[i] : NULL, &len, e) < 0)
            return -1;
        if (__builtin_mul_overflow(total, len, &total))
            return err_set(e, ERR_USAGE,
                           "task '%s': the cross product of its expand arguments "
                           "is too large",
                           tid(t));
    }
    *n = total;
    return 0;
}

/* Item k of a source: a list's item (borrowed), or an object's k-th pair as a new
 * [key, value] list. NULL when out of memory. */
static json_t *
source_item(const json_t *src, size_t k)
{
    const char *key;
    json_t *v;
    size_t i = 0;

    if (json_is_array(src))
        return json_deep_copy(json_array_get(src, k));
    json_object_foreach((json_t *)src, key, v)
    {
        if (i++ == k)
            return json_pack("[sO]", key, v);
    }
    return NULL;
}

/* The position in each source of instance index: the last argument varies fastest (as
 * itertools.product). pos has n_args entries; every source has at least one item. */
static void
positions(const struct dag_task *t, json_t *const *sources, size_t index, size_t *pos)
{
    size_t len = 1;

    for (size_t i = t->map->n_args; i-- > 0;) {
        arg_length(t, i, sources[i], &len, NULL);
        pos[i] = index % len;
        index /= len;
    }
}

int
dag_map_values(const struct dag_task *t, json_t *const *sources, size_t index, json_t **values,
               struct err *e)
{
    size_t total, *pos;

    *values = NULL;
    if (dag_map_length(t, sources, &total, e) < 0)
        return -1;
    if (index >= total)
        return err_set(e, ERR_USAGE, "task '%s': map index %zu is out of range (%zu instances)",
                       tid(t), index, total);
    if (t->map->kwargs)
        *values = json_deep_copy(json_array_get(sources[0], index));
    else if ((pos = calloc(t->map->n_args, sizeof(size_t))) != NULL) {
        positions(t, sources, index, pos);
        *values = json_object(); /* in file order, as the arguments were written */
        for (size_t i = 0; *values != NULL && i < t->map->n_args; i++) {
            json_t *item = source_item(sources[i], pos[i]);
            if (item == NULL || json_object_set_new(*values, t->map->args[i].name, item) < 0) {
                json_decref(*values);
                *values = NULL;
            }
        }
        free(pos);
    }
    return *values == NULL ? err_set(e, ERR_FAIL, "out of memory") : 0;
}

/* ---- deep copy ---- */

static char **
dup_list(char *const *src, size_t n, bool *ok)
{
    char **out;

    if (src == NULL)
        return NULL;
    if ((out = calloc(n + 1, sizeof(char *))) == NULL) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (src[i] != NULL && (out[i] = strdup(src[i])) == NULL)
            *ok = false;
    return out;
}

static char *
dup_str(const char *s, bool *ok)
{
    char *p = dagfile_strdup(s);

    if (s != NULL && p == NULL)
        *ok = false;
    return p;
}

static void *
dup_mem(const void *src, size_t n, size_t size, bool *ok)
{
    void *p;

    if (src == NULL)
        return NULL;
    if ((p = calloc(n + 1, size)) == NULL)
        *ok = false;
    else
        memcpy(p, src, n * size);
    return p;
}

static struct kv *
dup_env(const struct kv *src, size_t n, bool *ok)
{
    struct kv *out = dup_mem(src, n, sizeof(*src), ok);

    for (size_t i = 0; out != NULL && i < n; i++) {
        out[i].key = dup_str(src[i].key, ok);
        out[i].value = dup_str(src[i].value, ok);
    }
    return out;
}

static struct dag_sql *
dup_sql(const struct dag_sql *q, bool *ok)
{
    struct dag_sql *o;

    if (q == NULL)
        return NULL;
    if ((o = malloc(sizeof(*o))) == NULL) {
        *ok = false;
        return NULL;
    }
    *o = *q;
    o->conn_id = dup_str(q->conn_id, ok);
    o->database = dup_str(q->database, ok);
    o->sql = dup_list(q->sql, q->n_sql, ok);
    o->sql_file = dup_list(q->sql_file, q->n_sql, ok);
    o->parameters_json = dup_str(q->parameters_json, ok);
    o->pass_value = dup_str(q->pass_value, ok);
    o->min_threshold = dup_str(q->min_threshold, ok);
    o->max_threshold = dup_str(q->max_threshold, ok);
    o->table = dup_str(q->table, ok);
    o->column_mapping_json = dup_str(q->column_mapping_json, ok);
    o->checks_json = dup_str(q->checks_json, ok);
    o->partition_clause = dup_str(q->partition_clause, ok);
    o->follow_true = dup_list(q->follow_true, q->n_follow_true, ok);
    o->follow_false = dup_list(q->follow_false, q->n_follow_false, ok);
    return o;
}

/* *o = a deep copy of t without its map. false: out of memory (o still frees). */
static bool
task_copy(struct dag_task *o, const struct dag_task *t)
{
    bool ok = true;

    *o = *t;
    o->map = NULL;
    o->task_id = dup_str(t->task_id, &ok);
    o->group_id = dup_str(t->group_id, &ok);
    o->operator_path = dup_str(t->operator_path, &ok);
    o->bash_command = dup_str(t->bash_command, &ok);
    o->bash_command_vars = dup_list(t->bash_command_vars, t->n_bash_command_vars, &ok);
    o->cmds = dup_list(t->cmds, t->n_cmds, &ok);
    o->arguments = dup_list(t->arguments, t->n_arguments, &ok);
    o->image = dup_str(t->image, &ok);
    o->name = dup_str(t->name, &ok);
    o->namespace = dup_str(t->namespace, &ok);
    o->env = dup_env(t->env, t->n_env, &ok);
    o->cwd = dup_str(t->cwd, &ok);
    o->skip_on_exit_code = dup_mem(t->skip_on_exit_code, t->n_skip_on_exit_code, sizeof(int), &ok);
    o->trigger_dag_id = dup_str(t->trigger_dag_id, &ok);
    o->conf_json = dup_str(t->conf_json, &ok);
    o->sql = dup_sql(t->sql, &ok);
    o->sensor = dagfile_sensor_dup(t->sensor, &ok);
    o->owner = dup_str(t->owner, &ok);
    o->pool = dup_str(t->pool, &ok);
    o->queue = dup_str(t->queue, &ok);
    o->upstream = dup_list(t->upstream, t->n_upstream, &ok);
    o->upstream_idx = dup_mem(t->upstream_idx, t->n_upstream, sizeof(size_t), &ok);
    o->downstream_idx = dup_mem(t->downstream_idx, t->n_downstream, sizeof(size_t), &ok);
    o->outlets = dagfile_assets_copy(t->outlets, t->n_outlets, &ok); /* each instance's own */
    o->inlets = dagfile_assets_copy(t->inlets, t->n_inlets, &ok);
    dagfile_notifiers_dup(o->on, t->on, &ok);
    return ok;
}

/* ---- binding one argument ---- */

struct binder {
    const struct dag_task *t; /* the mapped task (for messages) */
    struct dag_task *o;       /* the instance being made */
    const struct map_arg *a;
    struct err *e;
};

static int
bad_type(struct binder *b, const json_t *v, const char *want)
{
    return err_set(b->e, ERR_USAGE, "task '%s': mapped argument '%s' must be %s, not %s", tid(b->t),
                   b->a->name, want, json_what(v));
}

/* Airflow's str() of a scalar: a string as is, a number or boolean as its JSON text. NULL:
 * not a scalar (or out of memory, with *oom). */
static char *
scalar_text(const json_t *v, bool *oom)
{
    char *s;

    if (json_is_string(v))
        s = strdup(json_string_value(v));
    else if (json_is_number(v) || json_is_boolean(v))
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    else
        return NULL;
    *oom = s == NULL;
    return s;
}

/* A text from v into *field (replacing it); null clears an optional one. */
static int
bind_text(struct binder *b, const json_t *v, char **field)
{
    bool oom = false;
    char *s;

    if (json_is_null(v) && !b->a->required) {
        free(*field);
        *field = NULL;
        return 0;
    }
    if ((s = scalar_text(v, &oom)) == NULL)
        return oom ? err_set(b->e, ERR_FAIL, "out of memory") : bad_type(b, v, "a string");
    if (b->a->required && s[strspn(s, " \t\r\n")] == '\0') {
        free(s);
        return err_set(b->e, ERR_USAGE, "task '%s': mapped argument '%s' is empty", tid(b->t),
                       b->a->name);
    }
    if (strcmp(b->a->name, "partition_clause") == 0 && strchr(s, ';') != NULL) {
        free(s);
        return err_set(b->e, ERR_USAGE, "task '%s': mapped partition_clause must not contain ';'",
                       tid(b->t));
    }
    free(*field);
    *field = s;
    return 0;
}

/* A list of texts from v (an array of scalars) into *list / *n. */
static int
bind_list(struct binder *b, const json_t *v, char ***list, size_t *n)
{
    size_t k = json_array_size(v);
    bool oom = false;
    char **out;

    if (!json_is_array(v) || (b->a->required && k == 0))
        return bad_type(b, v, b->a->required ? "a non-empty list of strings" : "a list of strings");
    if ((out = calloc(k + 1, sizeof(char *))) == NULL)
        return err_set(b->e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < k; i++)
        if ((out[i] = scalar_text(json_array_get(v, i), &oom)) == NULL) {
            dagfile_str_list_free(out, i);
            if (oom)
                return err_set(b->e, ERR_FAIL, "out of memory");
            return err_set(b->e, ERR_USAGE,
                           "task '%s': mapped argument '%s': item %zu is %s, "
                           "not a string",
                           tid(b->t), b->a->name, i, json_what(json_array_get(v, i)));
        }
    dagfile_str_list_free(*list, *n);
    *list = out;
    *n = k;
    return 0;
}

static int
bind_env(struct binder *b, const json_t *v)
{
    size_t k = 0;
    bool oom = false;
    const char *key;
    struct kv *env;
    json_t *x;

    if (!json_is_object(v))
        return bad_type(b, v, "an object of name: value");
    if ((env = calloc(json_object_size(v) + 1, sizeof(*env))) == NULL)
        return err_set(b->e, ERR_FAIL, "out of memory");
    json_object_foreach((json_t *)v, key, x)
    {
        env[k].key = strdup(key);
        env[k].value = scalar_text(x, &oom);
        if (env[k++].key == NULL || env[k - 1].value == NULL) {
            dagfile_env_free(env, k);
            if (oom || json_is_string(x) || json_is_number(x) || json_is_boolean(x))
                return err_set(b->e, ERR_FAIL, "out of memory");
            return err_set(b->e, ERR_USAGE,
                           "task '%s': mapped argument '%s': %s is %s, not a string", tid(b->t),
                           b->a->name, key, json_what(x));
        }
    }
    dagfile_env_free(b->o->env, b->o->n_env);
    b->o->env = env;
    b->o->n_env = k;
    return 0;
}

/* skip_on_exit_code: a code or a list of codes (0..255); null: none. */
static int
bind_codes(struct binder *b, const json_t *v)
{
    size_t k = json_is_array(v) ? json_array_size(v) : json_is_null(v) ? 0 : 1;
    int *codes = calloc(k + 1, sizeof(int));

    if (codes == NULL)
        return err_set(b->e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < k; i++) {
        const json_t *c = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(c)) {
            free(codes);
            return bad_type(b, c, "an exit code (0 to 255) or a list of them");
        }
        if (json_integer_value(c) < 0 || json_integer_value(c) > 255) {
            free(codes);
            return err_set(b->e, ERR_USAGE,
                           "task '%s': mapped argument '%s': %" JSON_INTEGER_FORMAT
                           " is not an exit code (0 to 255)",
                           tid(b->t), b->a->name, json_integer_value(c));
        }
        codes[i] = (int)json_integer_value(c);
    }
    free(b->o->skip_on_exit_code);
    b->o->skip_on_exit_code = codes;
    b->o->n_skip_on_exit_code = k;
    return 0;
}

/* A JSON text of v into *field: conf (an object) and parameters (a list or an object). */
static int
bind_json(struct binder *b, const json_t *v, char **field, bool list_too)
{
    char *s;

    if (json_is_null(v)) {
        free(*field);
        *field = NULL;
        return 0;
    }
    if (!json_is_object(v) && !(list_too && json_is_array(v)))
        return bad_type(b, v, list_too ? "a list or an object" : "an object");
    if ((s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        return err_set(b->e, ERR_FAIL, "out of memory");
    free(*field);
    *field = s;
    return 0;
}

static bool
names_file(enum op_kind op, const char *s)
{
    size_t n = strlen(s);
    bool sql = n >= 4 && strcmp(s + n - 4, ".sql") == 0, hql = n >= 4 && !strcmp(s + n - 4, ".hql");

    return sql || (op == OP_SQL_EXECUTE && n >= 5 && strcmp(s + n - 5, ".json") == 0) ||
           (op != OP_SQL_EXECUTE && op != OP_SQL_BRANCH && hql);
}

/* sql: statement text, or for SQLExecuteQueryOperator a list of statements. Template file
 * names are found when the DAG loads, so an instance cannot name one. */
static int
bind_sql(struct binder *b, const json_t *v)
{
    struct dag_sql *q = b->o->sql;
    char **list = NULL, **files = NULL, *one = NULL;
    size_t n = 0;
    int rc;

    if (json_is_array(v) && b->o->op != OP_SQL_EXECUTE)
        return bad_type(b, v, "a string (this operator takes one statement)");
    if (json_is_array(v))
        rc = bind_list(b, v, &list, &n);
    else if ((rc = bind_text(b, v, &one)) == 0 && (list = calloc(2, sizeof(char *))) != NULL)
        list[n++] = one;
    if (rc == 0 && (list == NULL || (files = calloc(n + 1, sizeof(char *))) == NULL))
        rc = err_set(b->e, ERR_FAIL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (list[i][strspn(list[i], " \t\r\n")] == '\0')
            rc = err_set(b->e, ERR_USAGE, "task '%s': mapped sql statement %zu is empty", tid(b->t),
                         i);
        else if (names_file(b->o->op, list[i]))
            rc = err_set(b->e, ERR_USAGE,
                         "task '%s': mapped sql '%s' names a template file, which gust finds "
                         "only when the DAG loads: map over the statement text, or put the "
                         "file in partial",
                         tid(b->t), list[i]);
    if (rc < 0) {
        if (list == NULL)
            free(one);
        dagfile_str_list_free(list, n);
        free(files);
        return -1;
    }
    dagfile_str_list_free(q->sql, q->n_sql);
    dagfile_str_list_free(q->sql_file, q->n_sql);
    q->sql = list, q->sql_file = files, q->n_sql = n;
    q->sql_is_list = json_is_array(v);
    return 0;
}

static int
bind_bool(struct binder *b, const json_t *v, bool *field)
{
    if (!json_is_boolean(v))
        return bad_type(b, v, "true or false");
    *field = json_is_true(v);
    return 0;
}

/* Apply one argument to the instance. */
static int
bind_one(struct binder *b, const json_t *v)
{
    char *base = b->a->in_sql ? (char *)b->o->sql : (char *)b->o;

    if (b->a->in_sql && b->o->sql == NULL)
        return err_set(b->e, ERR_USAGE, "task '%s' has no SQL arguments", tid(b->t));
    switch (b->a->kind) {
    case BK_STR:
        return bind_text(b, v, (char **)(void *)(base + b->a->off));
    case BK_STR_LIST:
        return bind_list(b, v, (char ***)(void *)(base + b->a->off),
                         strcmp(b->a->name, "cmds") == 0 ? &b->o->n_cmds : &b->o->n_arguments);
    case BK_ENV:
        return bind_env(b, v);
    case BK_BOOL:
        return bind_bool(b, v, &b->o->append_env);
    case BK_CODES:
        return bind_codes(b, v);
    case BK_OBJECT:
        return bind_json(b, v, &b->o->conf_json, false);
    case BK_SQL:
        return bind_sql(b, v);
    case BK_PARAMS:
        b->o->sql->parameters_templated = b->o->op == OP_SQL_EXECUTE || b->o->op == OP_SQL_SENSOR;
        return bind_json(b, v, &b->o->sql->parameters_json, true);
    case BK_NONE:
        return 0;
    }
    return 0;
}

static bool
empty(const char *s)
{
    return s == NULL || s[strspn(s, " \t\r\n")] == '\0';
}

/* The argument an instance lacks that its operator needs (an expand_kwargs item may leave one
 * out), or NULL. */
static const char *
missing_required(const struct dag_task *o)
{
    const struct dag_sql *q = o->sql;

    if (o->op == OP_BASH)
        return empty(o->bash_command) ? "bash_command" : NULL;
    if (o->op == OP_KPO)
        return o->n_cmds == 0 ? "cmds" : NULL;
    if (o->op == OP_TRIGGER_DAGRUN)
        return empty(o->trigger_dag_id) ? "trigger_dag_id" : NULL;
    if (!OP_IS_SQL(o->op) || q == NULL)
        return NULL;
    if (empty(q->conn_id))
        return "conn_id";
    if (o->op == OP_SQL_COLUMN_CHECK || o->op == OP_SQL_TABLE_CHECK)
        return empty(q->table) ? "table" : NULL;
    if (q->n_sql == 0)
        return "sql";
    if (o->op == OP_SQL_VALUE_CHECK && q->pass_value == NULL)
        return "pass_value";
    if (o->op == OP_SQL_THRESHOLD_CHECK && (q->min_threshold == NULL || q->max_threshold == NULL))
        return q->min_threshold == NULL ? "min_threshold" : "max_threshold";
    return NULL;
}

int
dag_task_bind(const struct dag_task *t, const json_t *values, struct dag_task *out, struct err *e)
{
    struct binder b = {t, out, NULL, e};
    char names[512];
    const char *key;
    json_t *v;

    memset(out, 0, sizeof(*out));
    if (values != NULL && !json_is_object(values))
        return err_set(e, ERR_USAGE,
                       "task '%s': the arguments of an instance must be an object, "
                       "not %s",
                       tid(t), json_what(values));
    if (!task_copy(out, t)) {
        dag_task_clear(out);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    json_object_foreach((json_t *)values, key, v)
    {
        if ((b.a = map_arg_find(key, t->op)) == NULL) {
            dagfile_map_list(t->op, names, sizeof(names));
            err_set(e, ERR_USAGE, "task '%s': '%s' is not an argument %s can map (it maps: %s)",
                    tid(t), key, op_kind_name(t->op), names);
        }
        if (b.a == NULL || bind_one(&b, v) < 0) {
            dag_task_clear(out);
            return -1;
        }
    }
    /* an expand argument is in every instance (its binder refuses null and ""); an
     * expand_kwargs item may leave a required one out */
    if ((key = missing_required(out)) != NULL &&
        !(t->map != NULL && !t->map->kwargs && dagfile_task_maps(t, key))) {
        err_set(e, ERR_USAGE,
                "task '%s': the instance has no %s, which %s needs: give it on the task, in "
                "partial, or in every expand_kwargs item",
                tid(t), key, op_kind_name(t->op));
        dag_task_clear(out);
        return -1;
    }
    return 0;
}

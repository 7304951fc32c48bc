/* dagfile_params: a DAG's `params`, plain values or Airflow Param objects, and the check of a
 * run's conf against them (Airflow's ParamsDict.validate).
 *
 * A Param is written as dag-factory writes objects: a mapping with
 * `__type__: airflow.models.param.Param` (or airflow.sdk.Param), `default` (or the first of
 * `__args__`), `description`, and JSON-schema keywords. `{{ params.x }}` renders the default
 * (dag->params_json holds the values); dag->param_schema_json keeps each Param's schema. The
 * keywords checked are type, enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength, pattern (a POSIX extended regexp, searched);
 * title, examples, format, values_display, section and the like only shape Airflow's trigger
 * form and are kept but not checked; any other keyword is a load error (it would change what
 * Airflow accepts). Defaults are checked at load, as Airflow checks them when it parses the
 * DAG, and a Param without a default needs `schedule: None` (Airflow's rule). */
#include "dagfile_int.h"

#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const param_types[] = {"airflow.models.param.Param", "airflow.models.Param",
                                          "airflow.sdk.Param",
                                          "airflow.sdk.definitions.param.Param", NULL};
static const char *const checked[] = {"type",
                                      "enum",
                                      "const",
                                      "minimum",
                                      "maximum",
                                      "exclusiveMinimum",
                                      "exclusiveMaximum",
                                      "minLength",
                                      "maxLength",
                                      "pattern",
                                      NULL};
static const char *const shown[] = {
    "title",   "examples",       "format",           "values_display",
    "section", "description_md", "custom_html_form", NULL};

static bool
listed(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return true;
    return false;
}

/* Python's repr of a JSON value, as jsonschema's messages show it (cut to size). */
static void
py_repr(const json_t *v, char *buf, size_t size)
{
    size_t i, used;
    json_t *x;
    char *s;

    if (json_is_string(v))
        snprintf(buf, size, "'%s'", json_string_value(v));
    else if (json_is_true(v) || json_is_false(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "True" : "False");
    else if (json_is_null(v))
        snprintf(buf, size, "None");
    else if (json_is_array(v)) {
        snprintf(buf, size, "[");
        json_array_foreach(v, i, x)
        {
            used = strlen(buf);
            if (used + 3 >= size)
                break;
            snprintf(buf + used, size - used, "%s", i ? ", " : "");
            used = strlen(buf);
            py_repr(x, buf + used, size - used);
        }
        used = strlen(buf);
        snprintf(buf + used, size - used, "]");
    } else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
        snprintf(buf, size, "%s", s);
        free(s);
    } else
        snprintf(buf, size, "?");
}

static bool
is_type(const json_t *v, const char *t)
{
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    return false;
}

static bool
type_ok(const json_t *v, const json_t *type)
{
    size_t i;
    json_t *t;

    if (json_is_string(type))
        return is_type(v, json_string_value(type));
    json_array_foreach(type, i,
                       t) if (json_is_string(t) && is_type(v, json_string_value(t))) return true;
    return !json_is_array(type);
}

/* The rule v breaks in schema, as jsonschema words it into msg; 0 when it breaks none. */
static int
bounds(const json_t *v, const json_t *schema, char *msg, size_t size, const char *r)
{
    static const char *const kw[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    static const char *const words[] = {"less than the minimum of", "greater than the maximum of",
                                        "less than or equal to the minimum of",
                                        "greater than or equal to the maximum of"};
    double x = json_number_value(v);

    if (!json_is_number(v))
        return 0;
    for (int i = 0; i < 4; i++) {
        const json_t *b = json_object_get(schema, kw[i]);
        double y = json_number_value(b);
        bool bad = i == 0 ? x < y : i == 1 ? x > y : i == 2 ? x <= y : x >= y;
        if (b != NULL && json_is_number(b) && bad) {
            char bs[64];
            py_repr(b, bs, sizeof(bs));
            snprintf(msg, size, "%s is %s %s (rule: %s)", r, words[i], bs, kw[i]);
            return -1;
        }
    }
    return 0;
}

static int
string_rules(const json_t *v, const json_t *schema, char *msg, size_t size, const char *r)
{
    const json_t *mn = json_object_get(schema, "minLength"),
                 *mx = json_object_get(schema, "maxLength"),
                 *pat = json_object_get(schema, "pattern");
    size_t len = json_is_string(v) ? strlen(json_string_value(v)) : 0;
    regex_t re;

    if (!json_is_string(v))
        return 0;
    if (json_is_integer(mn) && (json_int_t)len < json_integer_value(mn))
        return snprintf(msg, size, "%s is too short (rule: minLength %lld)", r,
                        (long long)json_integer_value(mn)),
               -1;
    if (json_is_integer(mx) && (json_int_t)len > json_integer_value(mx))
        return snprintf(msg, size, "%s is too long (rule: maxLength %lld)", r,
                        (long long)json_integer_value(mx)),
               -1;
    if (json_is_string(pat) &&
        regcomp(&re, json_string_value(pat), REG_EXTENDED | REG_NOSUB) == 0) {
        int no = regexec(&re, json_string_value(v), 0, NULL, 0);
        regfree(&re);
        if (no)
            return snprintf(msg, size, "%s does not match '%s' (rule: pattern)", r,
                            json_string_value(pat)),
                   -1;
    }
    return 0;
}

static int
dagfile_param_check(const json_t *v, const json_t *schema, char *msg, size_t size)
{
    const json_t *type = json_object_get(schema, "type"), *en = json_object_get(schema, "enum"),
                 *cn = json_object_get(schema, "const");
    char r[256], s[256];

    py_repr(v, r, sizeof(r));
    if (type != NULL && !type_ok(v, type)) {
        py_repr(type, s, sizeof(s));
        snprintf(msg, size, "%s is not of type %s (rule: type)", r, s);
        return -1;
    }
    if (json_is_array(en)) {
        size_t i;
        json_t *x;
        bool found = false;
        json_array_foreach(en, i, x) found = found || json_equal(x, v);
        if (!found) {
            py_repr(en, s, sizeof(s));
            snprintf(msg, size, "%s is not one of %s (rule: enum)", r, s);
            return -1;
        }
    }
    if (cn != NULL && !json_equal(cn, v)) {
        py_repr(cn, s, sizeof(s));
        snprintf(msg, size, "%s was expected (rule: const)", s);
        return -1;
    }
    if (bounds(v, schema, msg, size, r) < 0 || string_rules(v, schema, msg, size, r) < 0)
        return -1;
    return 0;
}

/* The Param's schema keywords into schema; -1 after an error at the offending key. */
static int
param_schema(struct loadctx *c, const char *name, const struct ynode *map, json_t *schema)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = ymap_key(map, i);
        const char *ks = k->kind == YN_SCALAR ? k->str : "?";
        char *js;
        json_t *v;
        if (listed((const char *const[]){"__type__", "__args__", "default", "description", NULL},
                   ks))
            continue;
        if (!listed(checked, ks) && !listed(shown, ks)) {
            dagfile_error(c, k,
                          "params.%s: Param keyword '%s' is not supported (gust checks type, "
                          "enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, "
                          "minLength, maxLength and pattern)",
                          name, ks);
            return -1;
        }
        if ((js = ynode_to_json(ymap_val(map, i))) == NULL ||
            (v = json_loads(js, JSON_DECODE_ANY, NULL)) == NULL) {
            free(js);
            dagfile_error(c, k, "out of memory");
            return -1;
        }
        free(js);
        json_object_set_new(schema, ks, v);
    }
    return 0;
}

/* One Param mapping: its default into values[name] (null when it has none), and
 * {"schema": ..., "default": ...} into specs[name]. */
static int
read_param(struct loadctx *c, const char *name, const struct ynode *map, json_t *values,
           json_t *specs)
{
    const struct ynode *d = ymap_get(map, "default"), *args = ymap_get(map, "__args__");
    json_t *schema = json_object(), *spec = json_object(), *dv = NULL;
    char *js = NULL;

    if (d == NULL && args != NULL && args->kind == YN_SEQ && args->n > 0)
        d = args->items[0];
    if (schema == NULL || spec == NULL || param_schema(c, name, map, schema) < 0)
        goto fail;
    if (d != NULL &&
        ((js = ynode_to_json(d)) == NULL || (dv = json_loads(js, JSON_DECODE_ANY, NULL)) == NULL)) {
        dagfile_error(c, d, "out of memory");
        goto fail;
    }
    free(js);
    json_object_set_new(spec, "schema", schema);
    if (dv != NULL)
        json_object_set(spec, "default", dv);
    json_object_set_new(values, name, dv ? dv : json_null());
    json_object_set_new(specs, name, spec);
    return 0;
fail:
    free(js);
    json_decref(schema);
    json_decref(spec);
    return -1;
}

static bool
is_param(const struct ynode *v)
{
    const struct ynode *t = v->kind == YN_MAP ? ymap_get(v, "__type__") : NULL;

    return t != NULL && t->kind == YN_SCALAR && listed(param_types, t->str);
}

static int
params_values(struct loadctx *c, const struct ynode *n, json_t *values, json_t *specs)
{
    int bad = 0;

    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = ymap_key(n, i), *v = ymap_val(n, i);
        char *js;
        json_t *jv;
        if (k->kind != YN_SCALAR)
            continue;
        if (is_param(v)) {
            bad |= read_param(c, k->str, v, values, specs) < 0;
            continue;
        }
        if ((js = ynode_to_json(v)) == NULL ||
            (jv = json_loads(js, JSON_DECODE_ANY, NULL)) == NULL) {
            free(js);
            dagfile_error(c, v, "out of memory");
            return -1;
        }
        free(js);
        json_object_set_new(values, k->str, jv);
    }
    return bad ? -1 : 0;
}

int
dagfile_read_params(struct loadctx *c, const struct ynode *n, struct dag *dag)
{
    json_t *values = json_object(), *specs = json_object();
    struct err e = {0};
    int rc = -1;

    if (n == NULL || ynode_is_null(n)) {
        rc = 0;
        goto out;
    }
    if (n->kind != YN_MAP) {
        dagfile_error(c, n, "params must be a mapping, not %s", ynode_what(n));
        goto out;
    }
    if (values == NULL || specs == NULL || params_values(c, n, values, specs) < 0)
        goto out;
    dag->params_json = json_dumps(values, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (json_object_size(specs) > 0)
        dag->param_schema_json = json_dumps(specs, JSON_COMPACT | JSON_PRESERVE_ORDER);
    rc = 0;
    /* Airflow's DAG.validate_schedule_and_params: a DAG that can be scheduled runs with the
     * defaults, so they must be valid */
    if (dag->schedule.kind != SCHED_NONE && dag_params_validate(dag, NULL, &e) < 0) {
        dagfile_error(c, n,
                      "DAG is not allowed to define a Schedule, if there are any required params "
                      "without default values or default values are not valid: %s",
                      e.msg);
        rc = -1;
    }
out:
    json_decref(values);
    json_decref(specs);
    return rc;
}

int
dag_params_validate(const struct dag *dag, const char *conf_json, struct err *e)
{
    json_t *specs = dag->param_schema_json ? json_loads(dag->param_schema_json, 0, NULL) : NULL;
    json_t *conf = conf_json ? json_loads(conf_json, 0, NULL) : NULL, *spec;
    const char *name;
    char msg[768];
    int rc = 0;

    json_object_foreach(specs, name, spec)
    {
        json_t *v = json_object_get(conf, name);
        if (v == NULL)
            v = json_object_get(spec, "default");
        if (v == NULL)
            rc = err_set(e, ERR_USAGE,
                         "Invalid input for param %s: No value passed and Param has no default "
                         "value",
                         name);
        else if (dagfile_param_check(v, json_object_get(spec, "schema"), msg, sizeof(msg)) < 0)
            rc = err_set(e, ERR_USAGE, "Invalid input for param %s: %s", name, msg);
        if (rc < 0)
            break;
    }
    json_decref(specs);
    json_decref(conf);
    return rc;
}

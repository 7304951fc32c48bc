/* runner_map: dynamic task mapping at run time (docs/dag-files.md, "Dynamic task mapping").
 * A mapped task is expanded when the planner finds its trigger rule met (a plan change with
 * expand set): its length is the cross product of its expand arguments' lists, read now (a
 * literal from the DAG file, an upstream's XCom from the store), and store_ti_expand writes
 * the instances in one transaction. Each instance's try then binds its own arguments into a
 * copy of the task (dag_task_bind) before its command is built, so templates, argv and the
 * environment are built as for any task.
 *
 * Invariant: an upstream's XCom cannot change between the expansion and a bind while the
 * upstream's result stands (a clear of the upstream clears this task too, and its next
 * expansion revises the instances). Still, every expansion and every bind asks the store for
 * it, so that no process (a worker binds the instances it claims, another scheduler may have
 * expanded them) trusts a copy that a clear made stale: the run keeps the last value parsed
 * with its version (map_sources), and the store sends the value again only when its version
 * changed (store_xcom_if_changed). A literal list was parsed when the DAG file was loaded.
 * Either way the list is shared by every try (a reference, never changed: dag_map_values
 * copies the items it hands out), so a try costs the same whatever the list's length: a
 * list of 1,000 read and parsed at each try cost the scheduler about 1.3 ms of CPU a try
 * (bench/README.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "log.h"
#include "runner_int.h"
#include "store/store.h"
#include "template/template.h"

#define MAX_MAP_LENGTH 1024 /* Airflow's [core] max_map_length */

const struct dag_task *
ti_task(const struct ti_try *t)
{
    return t->bound ? t->bound : &t->run->dag->tasks[t->task];
}

/* [core] max_map_length: GUST_MAX_MAP_LENGTH, else AIRFLOW__CORE__MAX_MAP_LENGTH, else 1024. */
static long
max_map_length(void)
{
    const char *v = getenv("GUST_MAX_MAP_LENGTH");
    char *end;
    long n;

    if (v == NULL || *v == '\0')
        v = getenv("AIRFLOW__CORE__MAX_MAP_LENGTH");
    if (v == NULL || *v == '\0')
        return MAX_MAP_LENGTH;
    n = strtol(v, &end, 10);
    return *end == '\0' && n > 0 ? n : MAX_MAP_LENGTH;
}

/* A BashOperator pushes its last stdout line as a string: one that holds a JSON list (or
 * object) is that list, so a Bash task can feed a mapping (Airflow would need a Python step
 * to parse it). Any other string stays a string, and dag_map_length refuses it. */
static void
decode_line(json_t **v)
{
    const char *s = json_string_value(*v);
    json_t *d;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '[' && *s != '{')
        return;
    if ((d = json_loads(json_string_value(*v), JSON_DECODE_ANY, NULL)) == NULL)
        return;
    json_decref(*v);
    *v = d;
}

/* An upstream's XCom as last read for the run's mapped tasks: the value, decoded
 * (decode_line), and the store's version of it. */
struct map_source {
    size_t up; /* the upstream, an index in dag->tasks */
    char version[STORE_XCOM_VERSION];
    json_t *value; /* shared: never changed */
    struct map_source *next;
};

void
runner_map_sources_free(struct active_run *run)
{
    while (run->map_sources) {
        struct map_source *next = run->map_sources->next;
        json_decref(run->map_sources->value);
        free(run->map_sources);
        run->map_sources = next;
    }
}

/* The run's copy of upstream up's XCom (*at: where it is linked), or NULL. */
static struct map_source *
find_source(struct active_run *run, size_t up, struct map_source ***at)
{
    struct map_source **p = &run->map_sources;

    for (; *p != NULL; p = &(*p)->next)
        if ((*p)->up == up)
            break;
    *at = p;
    return *p;
}

/* Upstream up's XCom into *out (a new reference; NULL when the upstream pushed nothing): the
 * run's copy when the store says it has not changed, else read, decoded and kept. */
static int
read_xcom(struct store *s, struct active_run *run, size_t up, json_t **out, struct err *e)
{
    const struct dag_task *t = &run->dag->tasks[up];
    struct map_source **at, *c = find_source(run, up, &at);
    char version[STORE_XCOM_VERSION], *text = NULL;

    if (store_xcom_if_changed(s, run->dag_id, run->run_id, t->task_id, t->map != NULL,
                              c ? c->version : NULL, &text, version, e) < 0)
        return -1;
    if (c != NULL && text == NULL && version[0] != '\0') { /* unchanged */
        *out = json_incref(c->value);
        return 0;
    }
    if (c != NULL) { /* changed or gone: forget the copy */
        *at = c->next;
        json_decref(c->value);
        free(c);
    }
    if (text == NULL)
        return 0;
    *out = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    if (*out == NULL)
        return err_set(e, ERR_DB, "the XCom of '%s' is not JSON", t->task_id);
    if (json_is_string(*out))
        decode_line(out);
    if ((c = calloc(1, sizeof(*c))) != NULL) { /* without it, the next bind reads it again */
        c->up = up;
        snprintf(c->version, sizeof(c->version), "%s", version);
        c->value = json_incref(*out);
        c->next = run->map_sources;
        run->map_sources = c;
    }
    return 0;
}

/* One argument's source as a new JSON value, or NULL when the upstream pushed nothing (an
 * XCom that is not there). -1 on a database error. */
static int
read_source(struct store *s, struct active_run *run, const struct dag_map_arg *a, json_t **out,
            struct err *e)
{
    *out = NULL;
    if (a->items != NULL) { /* parsed when the DAG file was loaded: shared, never changed */
        *out = json_incref(a->items);
        return 0;
    }
    if (s == NULL) /* gust tasks test without a database: no XCom */
        return 0;
    return read_xcom(s, run, a->xcom_idx, out, e);
}

static void
sources_free(json_t **src, size_t n)
{
    for (size_t i = 0; src && i < n; i++)
        json_decref(src[i]);
    free(src);
}

/* Every argument's source (*src: map->n_args values, NULL where missing). */
static int
read_sources(struct store *s, struct active_run *run, const struct dag_map *m, json_t ***src,
             struct err *e)
{
    *src = calloc(m->n_args + 1, sizeof(**src));
    if (*src == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < m->n_args; i++)
        if (read_source(s, run, &m->args[i], &(*src)[i], e) < 0) {
            sources_free(*src, m->n_args);
            *src = NULL;
            return -1;
        }
    return 0;
}

int
runner_expand(struct store *s, struct active_run *run, size_t task, struct err *e)
{
    const struct dag_task *t = &run->dag->tasks[task];
    char why[600] = "";
    struct err me = {0};
    json_t **src = NULL;
    size_t n = 0;
    long max = max_map_length();
    int won;

    if (t->map == NULL)
        return err_set(e, ERR_FAIL, "task '%s' is not mapped", t->task_id);
    if (read_sources(s, run, t->map, &src, e) < 0)
        return err_prefix(e, "expand %s", t->task_id);
    if (dag_map_length(t, src, &n, &me) < 0)
        snprintf(why, sizeof(why), "%s", me.msg);
    else if (n > (size_t)max)
        snprintf(why, sizeof(why),
                 "task '%s' would expand to %zu instances, more than max_map_length %ld "
                 "(GUST_MAX_MAP_LENGTH or AIRFLOW__CORE__MAX_MAP_LENGTH)",
                 t->task_id, n, max);
    sources_free(src, t->map->n_args);
    won = store_ti_expand(s, run->dag_id, run->run_id, t->task_id, why[0] ? 0 : (int)n,
                          why[0] ? why : NULL, e);
    if (won == 1 && why[0])
        log_warn("dag=%s run=%s task=%s: cannot expand: %s", run->dag_id, run->run_id, t->task_id,
                 why);
    else if (won == 1)
        log_info("dag=%s run=%s task=%s: expanded to %zu instances", run->dag_id, run->run_id,
                 t->task_id, n);
    return won;
}

/* Airflow renders a mapped task's literal values as templates, never what came from an XCom:
 * data an upstream produced must not run as a template (it could read a connection's
 * password). Every "{{", "{%" and "{#" in v's strings becomes a template that prints it. */
static int
escape_templates(json_t *v)
{
    size_t i;
    const char *k;
    json_t *m;

    if (json_is_array(v)) {
        json_array_foreach(v, i, m) if (escape_templates(m) < 0) return -1;
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, m) if (escape_templates(m) < 0) return -1;
    } else if (json_is_string(v) && tmpl_has_syntax(json_string_value(v))) {
        const char *p = json_string_value(v);
        size_t n = strlen(p), o = 0;
        char *out = malloc(n * 9 + 1); /* "{{" -> "{{ '{{' }}": 2 -> 10 bytes */
        if (out == NULL)
            return -1;
        for (; *p; p++)
            if (p[0] == '{' && (p[1] == '{' || p[1] == '%' || p[1] == '#')) {
                o += (size_t)sprintf(out + o, "{{ '{%c' }}", p[1]);
                p++;
            } else {
                out[o++] = *p;
            }
        out[o] = '\0';
        json_string_set(v, out);
        free(out);
    }
    return 0;
}

/* The values of an instance that came from an upstream's XCom, escaped (escape_templates). */
static int
escape_xcom_values(const struct dag_map *m, json_t *values)
{
    for (size_t i = 0; i < m->n_args; i++) {
        if (m->args[i].xcom_task == NULL)
            continue;
        if (m->kwargs)
            return escape_templates(values);
        if (escape_templates(json_object_get(values, m->args[i].name)) < 0)
            return -1;
    }
    return 0;
}

int
runner_bind(struct store *s, struct ti_try *t, struct err *e)
{
    const struct dag_task *task = &t->run->dag->tasks[t->task];
    json_t **src = NULL, *values = NULL;
    int rc = -1;

    if (task->map == NULL || t->map_index < 0)
        return 0;
    if (read_sources(s, t->run, task->map, &src, e) < 0)
        return -1;
    if ((t->bound = calloc(1, sizeof(*t->bound))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    if (dag_map_values(task, src, (size_t)t->map_index, &values, e) < 0 ||
        (escape_xcom_values(task->map, values) < 0 && err_set(e, ERR_FAIL, "out of memory")) ||
        dag_task_bind(task, values, t->bound, e) < 0) {
        free(t->bound);
        t->bound = NULL;
        e->code = ERR_USAGE; /* the instance cannot run as its upstream left it */
        goto out;
    }
    rc = 0;
out:
    json_decref(values);
    sources_free(src, task->map->n_args);
    return rc;
}

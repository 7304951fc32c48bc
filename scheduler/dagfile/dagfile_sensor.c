/* dagfile_sensor: the sensors of a DAG file -> struct dag_sensor (docs/dag-files.md,
 * "Sensors").
 *
 * Sensors are known by their class name, the last part of the import path, which is the same
 * in Airflow 2 (airflow.sensors.*, airflow.providers.http.sensors.http) and Airflow 3
 * (airflow.providers.standard.sensors.*): ExternalTaskSensor, FileSensor, HttpSensor,
 * DateTimeSensor(Async), TimeDeltaSensor(Async), TimeSensor(Async), BashSensor become
 * OP_SENSOR; SqlSensor stays OP_SQL_SENSOR (its query is read by dagfile_sql.c) and gets its
 * common arguments here. BaseSensorOperator's arguments take Airflow's defaults (poke_interval
 * 60 s, timeout 7 days, mode poke); `deferrable: true` reads as mode reschedule (gust has no
 * triggerer; reschedule frees the slot between pokes as deferral does). Everything Airflow
 * would reject when it builds the sensor is a load error at the value, and so is what names
 * Python (execution_date_fn, response_check: refused by the key table). Templated fields (each
 * class's template_fields) are checked as templates.
 *
 * Invariant: t->sensor is allocated before anything is read, so a half-read task frees. */
#include "dagfile_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/tz.h"
#include "template/template.h"

#define K(k) (1u << (k))
#define ALL_KINDS 0xffu
#define DEFERRABLE                                                                                 \
    (K(SENSOR_EXTERNAL_TASK) | K(SENSOR_FILE) | K(SENSOR_HTTP) | K(SENSOR_DATETIME) |              \
     K(SENSOR_TIMEDELTA) | K(SENSOR_TIME))

static const struct {
    const char *cls;
    enum sensor_kind kind;
    bool async; /* the *Async classes: always deferred in Airflow */
} classes[] = {
    {"ExternalTaskSensor", SENSOR_EXTERNAL_TASK, false},
    {"FileSensor", SENSOR_FILE, false},
    {"HttpSensor", SENSOR_HTTP, false},
    {"DateTimeSensor", SENSOR_DATETIME, false},
    {"DateTimeSensorAsync", SENSOR_DATETIME, true},
    {"TimeDeltaSensor", SENSOR_TIMEDELTA, false},
    {"TimeDeltaSensorAsync", SENSOR_TIMEDELTA, true},
    {"TimeSensor", SENSOR_TIME, false},
    {"TimeSensorAsync", SENSOR_TIME, true},
    {"BashSensor", SENSOR_BASH, false},
    {"SqlSensor", SENSOR_SQL, false},
};
#define N_CLASSES (sizeof(classes) / sizeof(classes[0]))

/* Which sensor takes which argument (the key table says OP_SENSOR takes the union). */
static const struct {
    const char *key;
    unsigned kinds;
} sensor_args[] = {
    {"poke_interval", ALL_KINDS},
    {"timeout", ALL_KINDS},
    {"soft_fail", ALL_KINDS},
    {"mode", ALL_KINDS},
    {"exponential_backoff", ALL_KINDS},
    {"max_wait", ALL_KINDS},
    {"deferrable", DEFERRABLE},
    {"external_dag_id", K(SENSOR_EXTERNAL_TASK)},
    {"external_task_id", K(SENSOR_EXTERNAL_TASK)},
    {"external_task_ids", K(SENSOR_EXTERNAL_TASK)},
    {"external_task_group_id", K(SENSOR_EXTERNAL_TASK)},
    {"allowed_states", K(SENSOR_EXTERNAL_TASK)},
    {"failed_states", K(SENSOR_EXTERNAL_TASK)},
    {"skipped_states", K(SENSOR_EXTERNAL_TASK)},
    {"execution_delta", K(SENSOR_EXTERNAL_TASK)},
    {"check_existence", K(SENSOR_EXTERNAL_TASK)},
    {"filepath", K(SENSOR_FILE)},
    {"fs_conn_id", K(SENSOR_FILE)},
    {"recursive", K(SENSOR_FILE)},
    {"http_conn_id", K(SENSOR_HTTP)},
    {"endpoint", K(SENSOR_HTTP)},
    {"method", K(SENSOR_HTTP)},
    {"headers", K(SENSOR_HTTP)},
    {"request_params", K(SENSOR_HTTP)},
    {"extra_options", K(SENSOR_HTTP)},
    {"response_error_codes_allowlist", K(SENSOR_HTTP)},
    {"target_time", K(SENSOR_DATETIME) | K(SENSOR_TIME)},
    {"delta", K(SENSOR_TIMEDELTA)},
    {"bash_command", K(SENSOR_BASH)},
    {"env", K(SENSOR_BASH)},
    {"cwd", K(SENSOR_BASH)},
};
#define N_ARGS (sizeof(sensor_args) / sizeof(sensor_args[0]))

const char *
sensor_kind_name(enum sensor_kind k)
{
    for (size_t i = 0; i < N_CLASSES; i++)
        if (classes[i].kind == k && !classes[i].async)
            return classes[i].cls;
    return "?";
}

static const char *
class_of(const char *path)
{
    const char *cls = strrchr(path, '.');

    return cls ? cls + 1 : path;
}

int
dagfile_sensor_op(const char *cls, enum op_kind *op)
{
    for (size_t i = 0; i < N_CLASSES; i++)
        if (classes[i].kind != SENSOR_SQL && strcmp(cls, classes[i].cls) == 0) {
            *op = OP_SENSOR;
            return 0;
        }
    return -1;
}

void
dagfile_sensor_free(struct dag_sensor *s)
{
    if (s == NULL)
        return;
    free(s->external_dag_id);
    dagfile_str_list_free(s->external_task_ids, s->n_external_task_ids);
    free(s->external_task_group_id);
    free(s->allowed_states);
    free(s->failed_states);
    free(s->skipped_states);
    free(s->fs_conn_id);
    free(s->filepath);
    free(s->http_conn_id);
    free(s->endpoint);
    free(s->method);
    free(s->headers_json);
    free(s->request_params_json);
    free(s->extra_options_json);
    dagfile_str_list_free(s->error_codes, s->n_error_codes);
    free(s->target_time);
    free(s);
}

static char *
dup_s(const char *s, bool *ok)
{
    char *p = dagfile_strdup(s);

    *ok &= s == NULL || p != NULL;
    return p;
}

static enum ti_state *
dup_states(const enum ti_state *v, size_t n, bool *ok)
{
    enum ti_state *p;

    if (v == NULL)
        return NULL;
    if ((p = calloc(n + 1, sizeof(*p))) == NULL)
        *ok = false;
    else
        memcpy(p, v, n * sizeof(*p));
    return p;
}

struct dag_sensor *
dagfile_sensor_dup(const struct dag_sensor *s, bool *ok)
{
    struct dag_sensor *o;

    if (s == NULL)
        return NULL;
    if ((o = malloc(sizeof(*o))) == NULL) {
        *ok = false;
        return NULL;
    }
    *o = *s;
    o->external_dag_id = dup_s(s->external_dag_id, ok);
    o->external_task_ids = NULL;
    if (s->external_task_ids != NULL &&
        (o->external_task_ids = calloc(s->n_external_task_ids + 1, sizeof(char *))) == NULL)
        *ok = false;
    for (size_t i = 0; o->external_task_ids && i < s->n_external_task_ids; i++)
        o->external_task_ids[i] = dup_s(s->external_task_ids[i], ok);
    o->external_task_group_id = dup_s(s->external_task_group_id, ok);
    o->allowed_states = dup_states(s->allowed_states, s->n_allowed_states, ok);
    o->failed_states = dup_states(s->failed_states, s->n_failed_states, ok);
    o->skipped_states = dup_states(s->skipped_states, s->n_skipped_states, ok);
    o->fs_conn_id = dup_s(s->fs_conn_id, ok);
    o->filepath = dup_s(s->filepath, ok);
    o->http_conn_id = dup_s(s->http_conn_id, ok);
    o->endpoint = dup_s(s->endpoint, ok);
    o->method = dup_s(s->method, ok);
    o->headers_json = dup_s(s->headers_json, ok);
    o->request_params_json = dup_s(s->request_params_json, ok);
    o->extra_options_json = dup_s(s->extra_options_json, ok);
    o->error_codes = NULL;
    if (s->error_codes != NULL &&
        (o->error_codes = calloc(s->n_error_codes + 1, sizeof(char *))) == NULL)
        *ok = false;
    for (size_t i = 0; o->error_codes && i < s->n_error_codes; i++)
        o->error_codes[i] = dup_s(s->error_codes[i], ok);
    o->target_time = dup_s(s->target_time, ok);
    return o;
}

/* What one sensor is being read with. */
struct senctx {
    struct loadctx *c;
    const struct chain *ch;
    struct dag_task *t;
    struct dag_sensor *s;
    const char *sid;
    const struct dag *dag;
    const char *name; /* the class, for messages */
};

static bool
kind_takes(enum sensor_kind k, const char *key)
{
    for (size_t i = 0; i < N_ARGS; i++)
        if (strcmp(sensor_args[i].key, key) == 0)
            return (sensor_args[i].kinds & K(k)) != 0;
    return true; /* not a sensor argument: the key table decides */
}

static const struct ynode *
arg(const struct senctx *x, const char *key)
{
    const struct ynode *n = kind_takes(x->s->kind, key) ? dagfile_oget(x->ch, x->t->op, key) : NULL;

    return n && ynode_is_null(n) ? NULL : n;
}

/* A sensor argument of another sensor on the task itself: Airflow refuses it (null, the
 * loader's "not set", is let through). */
static int
refuse_others(struct senctx *x)
{
    const struct ynode *map = x->ch->maps[0];
    int bad = 0;

    for (size_t i = 0; map->kind == YN_MAP && i < map->n; i++) {
        const struct ynode *k = ymap_key(map, i);
        if (k->kind == YN_SCALAR && !kind_takes(x->s->kind, k->str) &&
            !ynode_is_null(ymap_val(map, i))) {
            dagfile_error(x->c, k,
                          "task '%s': key '%s' is not an argument of %s (Airflow refuses it "
                          "too): remove it",
                          x->sid, k->str, x->name);
            bad = -1;
        }
    }
    return bad;
}

static int
require(struct senctx *x, const char *key)
{
    if (arg(x, key) != NULL)
        return 0;
    dagfile_error(x->c, x->ch->maps[0], "task '%s': %s needs %s", x->sid, x->name, key);
    return -1;
}

static int
check_tmpl(struct senctx *x, const char *key)
{
    return dagfile_check_template(x->c, x->ch, arg(x, key), key, x->dag->params_json);
}

/* ---- BaseSensorOperator ---- */

static int
read_mode(struct senctx *x)
{
    const struct ynode *mode = arg(x, "mode"), *n = arg(x, "deferrable");
    bool deferrable = false;

    if (mode != NULL && (mode->kind != YN_SCALAR || (strcmp(mode->str, "poke") != 0 &&
                                                     strcmp(mode->str, "reschedule") != 0))) {
        dagfile_error(x->c, mode, "task '%s': mode must be poke or reschedule, not %s%s%s", x->sid,
                      mode->kind == YN_SCALAR ? "'" : "",
                      mode->kind == YN_SCALAR ? mode->str : ynode_what(mode),
                      mode->kind == YN_SCALAR ? "'" : "");
        return -1;
    }
    if (mode != NULL)
        x->s->reschedule = strcmp(mode->str, "reschedule") == 0;
    if (dagfile_read_bool(x->c, n, "deferrable", &deferrable) < 0)
        return -1;
    if (deferrable)
        x->s->reschedule = true; /* no triggerer: a deferred sensor waits in reschedule mode */
    return 0;
}

static int
read_common(struct senctx *x)
{
    struct dag_sensor *s = x->s;
    int bad = 0;

    bad |= dagfile_read_duration(x->c, arg(x, "poke_interval"), "poke_interval", &s->poke_interval);
    bad |= dagfile_read_duration(x->c, arg(x, "timeout"), "timeout", &s->timeout);
    bad |= dagfile_read_bool(x->c, arg(x, "soft_fail"), "soft_fail", &s->soft_fail);
    bad |= dagfile_read_bool(x->c, arg(x, "exponential_backoff"), "exponential_backoff",
                             &s->exponential_backoff);
    bad |= dagfile_read_duration(x->c, arg(x, "max_wait"), "max_wait", &s->max_wait);
    bad |= read_mode(x);
    if (s->poke_interval < 0)
        s->poke_interval = 60; /* an explicit null is Airflow's default too */
    if (s->timeout < 0)
        s->timeout = 604800;
    return bad;
}

/* ---- ExternalTaskSensor ---- */

/* A list of state names into *out (validated: task instance states when the sensor waits for
 * tasks, DAG run states when it waits for the run). */
static int
read_states(struct senctx *x, const char *key, bool run_states, enum ti_state **out, size_t *n_out)
{
    const struct ynode *n = arg(x, key);
    char **names = NULL;
    size_t k = 0;
    int bad = 0;

    if (n == NULL)
        return 0;
    if (dagfile_read_str_list(x->c, n, key, &names, &k) < 0)
        return -1;
    if (k == 0) { /* Airflow: an empty list is the default */
        dagfile_str_list_free(names, k);
        return 0;
    }
    free(*out);
    if ((*out = calloc(k + 1, sizeof(**out))) == NULL) {
        dagfile_str_list_free(names, k);
        return dagfile_error(x->c, n, "out of memory"), -1;
    }
    for (size_t i = 0; i < k; i++) {
        enum run_state rs;
        bool ok = run_states ? run_state_parse(names[i], &rs) == 0 &&
                                   ti_state_parse(names[i], &(*out)[i]) == 0
                             : ti_state_parse(names[i], &(*out)[i]) == 0;
        if (!ok) {
            dagfile_error(x->c, n->kind == YN_SEQ ? n->items[i] : n,
                          "task '%s': %s: '%s' is not a %s state (%s)", x->sid, key, names[i],
                          run_states ? "DAG run" : "task instance",
                          run_states ? "queued, running, success, failed: without "
                                       "external_task_id(s) the sensor waits for the DAG run"
                                     : "none, scheduled, queued, running, success, failed, "
                                       "up_for_retry, up_for_reschedule, upstream_failed, "
                                       "skipped, removed");
            bad = -1;
        }
    }
    *n_out = k;
    dagfile_str_list_free(names, k);
    return bad;
}

/* Airflow: a state may not be in two of allowed, skipped and failed states (nor twice in
 * one of them). */
static int
states_disjoint(struct senctx *x)
{
    const struct dag_sensor *s = x->s;
    const enum ti_state *sets[3] = {s->allowed_states, s->skipped_states, s->failed_states};
    const size_t ns[3] = {s->n_allowed_states, s->n_skipped_states, s->n_failed_states};

    for (int a = 0; a < 3; a++)
        for (int b = a; b < 3; b++)
            for (size_t i = 0; i < ns[a]; i++)
                for (size_t j = a == b ? i + 1 : 0; j < ns[b]; j++)
                    if (sets[a][i] == sets[b][j]) {
                        dagfile_error(x->c, x->ch->maps[0],
                                      "task '%s': state '%s' is given twice in "
                                      "allowed_states, skipped_states and failed_states "
                                      "(Airflow refuses duplicates)",
                                      x->sid, ti_state_name(sets[a][i]));
                        return -1;
                    }
    return 0;
}

static int
read_task_ids(struct senctx *x)
{
    const struct ynode *one = arg(x, "external_task_id"), *many = arg(x, "external_task_ids"),
                       *grp = arg(x, "external_task_group_id");
    struct dag_sensor *s = x->s;
    int bad = 0;

    if ((one != NULL) + (many != NULL) + (grp != NULL) > 1) {
        dagfile_error(x->c, many ? many : grp,
                      "task '%s': give only one of external_task_id, external_task_ids and "
                      "external_task_group_id (as Airflow requires)",
                      x->sid);
        return -1;
    }
    if (one != NULL) {
        if ((s->external_task_ids = calloc(2, sizeof(char *))) == NULL)
            return dagfile_error(x->c, one, "out of memory"), -1;
        bad |= dagfile_read_str(x->c, one, "external_task_id", &s->external_task_ids[0]);
        s->n_external_task_ids = s->external_task_ids[0] != NULL;
        bad |= check_tmpl(x, "external_task_id");
    } else if (many != NULL) {
        bad |= dagfile_read_str_list(x->c, many, "external_task_ids", &s->external_task_ids,
                                     &s->n_external_task_ids);
        for (size_t i = 0; i < s->n_external_task_ids && !bad; i++)
            for (size_t j = i + 1; j < s->n_external_task_ids; j++)
                if (strcmp(s->external_task_ids[i], s->external_task_ids[j]) == 0) {
                    dagfile_error(x->c, many, "task '%s': external_task_ids repeats '%s'", x->sid,
                                  s->external_task_ids[i]);
                    bad = -1;
                    break;
                }
        if (many->kind == YN_SEQ)
            bad |=
                dagfile_check_tree_templates(x->c, many, "external_task_ids", x->dag->params_json);
    }
    bad |= dagfile_read_str(x->c, grp, "external_task_group_id", &s->external_task_group_id);
    return bad | check_tmpl(x, "external_task_group_id");
}

/* execution_delta: seconds, a timedelta, or dag-factory's relative time ("1 days"). */
static int
read_delta(struct senctx *x)
{
    const struct ynode *n = arg(x, "execution_delta");
    double v;
    long long rel;

    x->s->execution_delta = NAN;
    if (n == NULL)
        return 0;
    if (n->kind == YN_SCALAR && ynode_double(n, &v) < 0) {
        if ((rel = dagfile_relative_seconds(n->str)) < 0) {
            dagfile_error(x->c, n,
                          "task '%s': execution_delta '%s' is not a duration (seconds, a "
                          "datetime.timedelta, or dag-factory's \"N hours|minutes|seconds|days\")",
                          x->sid, n->str);
            return -1;
        }
        x->s->execution_delta = (double)rel;
        return 0;
    }
    return dagfile_read_duration_signed(x->c, n, "execution_delta", &x->s->execution_delta);
}

static int
read_external(struct senctx *x)
{
    struct dag_sensor *s = x->s;
    bool run_states;
    int bad = 0;

    bad |= require(x, "external_dag_id");
    bad |=
        dagfile_read_str(x->c, arg(x, "external_dag_id"), "external_dag_id", &s->external_dag_id);
    bad |= check_tmpl(x, "external_dag_id");
    bad |= read_task_ids(x);
    run_states = s->n_external_task_ids == 0 && s->external_task_group_id == NULL;
    if ((s->allowed_states = calloc(2, sizeof(*s->allowed_states))) == NULL)
        return dagfile_error(x->c, x->ch->maps[0], "out of memory"), -1;
    s->allowed_states[0] = TI_SUCCESS;
    s->n_allowed_states = 1;
    bad |= read_states(x, "allowed_states", run_states, &s->allowed_states, &s->n_allowed_states);
    bad |= read_states(x, "failed_states", run_states, &s->failed_states, &s->n_failed_states);
    bad |= read_states(x, "skipped_states", run_states, &s->skipped_states, &s->n_skipped_states);
    if (!bad)
        bad |= states_disjoint(x);
    bad |= read_delta(x);
    bad |=
        dagfile_read_bool(x->c, arg(x, "check_existence"), "check_existence", &s->check_existence);
    return bad;
}

/* ---- FileSensor, HttpSensor ---- */

static int
read_file_sensor(struct senctx *x)
{
    struct dag_sensor *s = x->s;
    int bad = 0;

    bad |= require(x, "filepath");
    bad |= dagfile_read_str(x->c, arg(x, "filepath"), "filepath", &s->filepath);
    bad |= check_tmpl(x, "filepath");
    bad |= dagfile_read_str(x->c, arg(x, "fs_conn_id"), "fs_conn_id", &s->fs_conn_id);
    bad |= dagfile_read_bool(x->c, arg(x, "recursive"), "recursive", &s->recursive);
    if (s->filepath != NULL && s->filepath[0] == '\0') {
        dagfile_error(x->c, arg(x, "filepath"), "task '%s': filepath is empty", x->sid);
        bad = -1;
    }
    if (s->fs_conn_id == NULL && (s->fs_conn_id = strdup("fs_default")) == NULL)
        bad = -1;
    return bad;
}

/* A mapping kept as JSON text; templated ones have every string checked. */
static int
read_object(struct senctx *x, const char *key, bool templated, char **out)
{
    const struct ynode *n = arg(x, key);

    if (n == NULL)
        return 0;
    if (dagfile_read_json_object(x->c, n, key, out) < 0)
        return -1;
    return templated ? dagfile_check_tree_templates(x->c, n, key, x->dag->params_json) : 0;
}

/* response_error_codes_allowlist: a list of status texts, default ["404"] (a null or an empty
 * list: every error status fails the poke). */
static int
read_error_codes(struct senctx *x)
{
    const struct ynode *n = dagfile_oget(x->ch, x->t->op, "response_error_codes_allowlist");
    struct dag_sensor *s = x->s;

    if (n != NULL)
        return ynode_is_null(n) ? 0
                                : dagfile_read_str_list(x->c, n, "response_error_codes_allowlist",
                                                        &s->error_codes, &s->n_error_codes);
    if ((s->error_codes = calloc(2, sizeof(char *))) == NULL ||
        (s->error_codes[0] = strdup("404")) == NULL)
        return dagfile_error(x->c, x->ch->maps[0], "out of memory"), -1;
    s->n_error_codes = 1;
    return 0;
}

static int
read_http(struct senctx *x)
{
    struct dag_sensor *s = x->s;
    int bad = 0;

    bad |= require(x, "endpoint");
    bad |= dagfile_read_str(x->c, arg(x, "endpoint"), "endpoint", &s->endpoint);
    bad |= check_tmpl(x, "endpoint");
    bad |= dagfile_read_str(x->c, arg(x, "http_conn_id"), "http_conn_id", &s->http_conn_id);
    bad |= dagfile_read_str(x->c, arg(x, "method"), "method", &s->method);
    bad |= read_object(x, "headers", true, &s->headers_json);
    bad |= read_object(x, "request_params", true, &s->request_params_json);
    bad |= read_object(x, "extra_options", false, &s->extra_options_json);
    bad |= read_error_codes(x);
    if (s->method != NULL &&
        (s->method[0] == '\0' || s->method[strspn(s->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "abcdefghijklmnopqrstuvwxyz")])) {
        dagfile_error(x->c, arg(x, "method"), "task '%s': method '%s' is not an HTTP method",
                      x->sid, s->method);
        bad = -1;
    }
    if (s->http_conn_id == NULL)
        s->http_conn_id = strdup("http_default");
    if (s->method == NULL)
        s->method = strdup("GET");
    return bad | (s->http_conn_id && s->method ? 0 : -1);
}

/* ---- the time sensors, BashSensor ---- */

/* "HH:MM" or "HH:MM:SS" (datetime.time's isoformat, which Airflow's TimeSensor takes). */
static bool
valid_clock(const char *s)
{
    unsigned h, m, sec = 0;
    int used = 0;

    if (sscanf(s, "%2u:%2u%n", &h, &m, &used) != 2 || used != 5)
        return false;
    if (s[5] == ':' && (sscanf(s + 5, ":%2u%n", &sec, &used) != 1 || used != 3 || s[8] != '\0'))
        return false;
    return (s[5] == '\0' || s[5] == ':') && h < 24 && m < 60 && sec < 60;
}

static int
read_target_time(struct senctx *x)
{
    const struct ynode *n = arg(x, "target_time");
    struct err e = {0};
    time_t when;

    if (require(x, "target_time") < 0 ||
        dagfile_read_str(x->c, n, "target_time", &x->s->target_time) < 0)
        return -1;
    if (x->s->kind == SENSOR_TIME) {
        if (valid_clock(x->s->target_time))
            return 0;
        dagfile_error(x->c, n, "task '%s': target_time '%s' is not a time of day (HH:MM[:SS])",
                      x->sid, x->s->target_time);
        return -1;
    }
    if (tmpl_has_syntax(x->s->target_time))
        return check_tmpl(x, "target_time");
    if (tz_parse_iso(x->dag->timezone, x->s->target_time, &when, &e) == 0)
        return 0;
    dagfile_error(x->c, n, "task '%s': target_time: %s", x->sid, e.msg);
    return -1;
}

static int
read_kind_args(struct senctx *x)
{
    switch (x->s->kind) {
    case SENSOR_EXTERNAL_TASK:
        return read_external(x);
    case SENSOR_FILE:
        return read_file_sensor(x);
    case SENSOR_HTTP:
        return read_http(x);
    case SENSOR_DATETIME:
    case SENSOR_TIME:
        return read_target_time(x);
    case SENSOR_TIMEDELTA:
        return require(x, "delta") < 0
                   ? -1
                   : dagfile_read_duration(x->c, arg(x, "delta"), "delta", &x->s->delta);
    case SENSOR_BASH:
        if (x->t->bash_command != NULL && x->t->bash_command[0] != '\0')
            return 0;
        dagfile_error(x->c, x->ch->maps[0], "task '%s': BashSensor needs bash_command", x->sid);
        return -1;
    case SENSOR_SQL:
        return 0; /* dagfile_sql.c */
    }
    return 0;
}

/* The sensor's kind from its class; *async for the *Async classes. */
static enum sensor_kind
kind_of(const struct dag_task *t, bool *async)
{
    const char *cls = class_of(t->operator_path);

    *async = false;
    for (size_t i = 0; i < N_CLASSES; i++)
        if (strcmp(cls, classes[i].cls) == 0) {
            *async = classes[i].async;
            return classes[i].kind;
        }
    return SENSOR_SQL;
}

int
dagfile_sensor_args(struct loadctx *c, const struct chain *ch, struct dag_task *t, const char *sid,
                    const struct dag *dag)
{
    struct dag_sensor *s = calloc(1, sizeof(*s));
    struct senctx x = {c, ch, t, s, sid, dag, NULL};
    bool async;
    int bad = 0;

    if ((t->sensor = s) == NULL)
        return dagfile_error(c, ch->maps[0], "out of memory"), -1;
    s->kind = kind_of(t, &async);
    s->reschedule = async;
    s->poke_interval = s->timeout = s->max_wait = -1;
    s->execution_delta = NAN;
    s->delta = -1;
    x.name = class_of(t->operator_path);
    if (t->op == OP_SENSOR && t->map != NULL) {
        dagfile_error(c, ch->maps[0],
                      "task '%s': %s cannot be mapped (expand) in gust: write one sensor per "
                      "value",
                      sid, x.name);
        return -1;
    }
    if (s->kind != SENSOR_BASH) { /* BashOperator's fields, read for every OP_SENSOR */
        free(t->bash_command), free(t->cwd);
        t->bash_command = t->cwd = NULL;
        dagfile_env_free(t->env, t->n_env);
        t->env = NULL, t->n_env = 0;
    }
    bad |= refuse_others(&x);
    bad |= read_common(&x);
    bad |= read_kind_args(&x);
    return bad ? -1 : 0;
}

/* ---- the canonical dump ---- */

/* s as a JSON string literal (null for NULL). */
static void
put_quoted(FILE *out, const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

    fputs(text ? text : "null", out);
    free(text);
    json_decref(v);
}

static void
put_json_str(FILE *out, const char *label, const char *s)
{
    fprintf(out, "    %s: ", label);
    put_quoted(out, s);
    fputc('\n', out);
}

static void
put_json_list(FILE *out, const char *label, char *const *v, size_t n)
{
    fprintf(out, "    %s: [", label);
    for (size_t i = 0; i < n; i++)
        fputs(i ? ", " : "", out), put_quoted(out, v[i]);
    fputs("]\n", out);
}

static void
put_states(FILE *out, const char *label, const enum ti_state *v, size_t n)
{
    fprintf(out, "    %s: [", label);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", ti_state_name(v[i]));
    fputs("]\n", out);
}

static void
put_kind_args(FILE *out, const struct dag_sensor *s)
{
    if (s->kind == SENSOR_EXTERNAL_TASK) {
        put_json_str(out, "external_dag_id", s->external_dag_id);
        put_json_list(out, "external_task_ids", s->external_task_ids, s->n_external_task_ids);
        put_json_str(out, "external_task_group_id", s->external_task_group_id);
        put_states(out, "allowed_states", s->allowed_states, s->n_allowed_states);
        put_states(out, "failed_states", s->failed_states, s->n_failed_states);
        put_states(out, "skipped_states", s->skipped_states, s->n_skipped_states);
        if (isnan(s->execution_delta))
            fputs("    execution_delta: null\n", out);
        else
            fprintf(out, "    execution_delta: %g\n", s->execution_delta);
        fprintf(out, "    check_existence: %s\n", s->check_existence ? "true" : "false");
    } else if (s->kind == SENSOR_FILE) {
        put_json_str(out, "filepath", s->filepath);
        put_json_str(out, "fs_conn_id", s->fs_conn_id);
        fprintf(out, "    recursive: %s\n", s->recursive ? "true" : "false");
    } else if (s->kind == SENSOR_HTTP) {
        put_json_str(out, "http_conn_id", s->http_conn_id);
        put_json_str(out, "endpoint", s->endpoint);
        put_json_str(out, "method", s->method);
        fprintf(out, "    headers: %s\n", s->headers_json ? s->headers_json : "null");
        fprintf(out, "    request_params: %s\n",
                s->request_params_json ? s->request_params_json : "null");
        fprintf(out, "    extra_options: %s\n",
                s->extra_options_json ? s->extra_options_json : "null");
        put_json_list(out, "response_error_codes_allowlist", s->error_codes, s->n_error_codes);
    } else if (s->kind == SENSOR_DATETIME || s->kind == SENSOR_TIME) {
        put_json_str(out, "target_time", s->target_time);
    } else if (s->kind == SENSOR_TIMEDELTA) {
        fprintf(out, "    delta: %g\n", s->delta);
    }
}

void
dagfile_sensor_dump(FILE *out, const struct dag_task *t)
{
    const struct dag_sensor *s = t->sensor;

    if (s == NULL)
        return;
    fprintf(out, "    sensor: %s (%s)\n", sensor_kind_name(s->kind),
            SENSOR_IN_SCHEDULER(s->kind) ? "in the scheduler" : "a process");
    fprintf(out, "    poke_interval: %g\n    timeout: %g\n", s->poke_interval, s->timeout);
    fprintf(out, "    mode: %s\n    soft_fail: %s\n", s->reschedule ? "reschedule" : "poke",
            s->soft_fail ? "true" : "false");
    fprintf(out, "    exponential_backoff: %s\n", s->exponential_backoff ? "true" : "false");
    if (s->max_wait >= 0)
        fprintf(out, "    max_wait: %g\n", s->max_wait);
    put_kind_args(out, s);
    if (s->kind == SENSOR_BASH) {
        put_json_str(out, "bash_command", t->bash_command);
        put_json_str(out, "cwd", t->cwd);
        fputs("    env: {", out);
        for (size_t i = 0; i < t->n_env; i++) {
            fputs(i ? ", " : "", out);
            put_quoted(out, t->env[i].key);
            fputs(": ", out);
            put_quoted(out, t->env[i].value);
        }
        fputs("}\n", out);
    }
}

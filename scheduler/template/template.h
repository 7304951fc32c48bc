/* template: the Jinja subset of docs/dag-files.md ("Templates"), for the templated fields of tasks
 * (bash_command, cmds, arguments, env values, TriggerDagRunOperator conf).
 *
 * Expressions {{ ... }} with Jinja's operators (+ - * / // % == != < <= > >= in, not in,
 * and, or, not, ~, a if c else b, `is` tests), filters and subscripts; blocks {% if %} /
 * {% elif %} / {% else %} / {% endif %}, {% for x in seq %} / {% else %} / {% endfor %} (with
 * loop.*), {% set x = e %}; {# comments #}; whitespace control with '-'. The names of
 * Airflow's context that need no Python (struct tmpl_ctx), params.x, dag_run.conf, var.*,
 * conn.<id>.*, ti.xcom_pull, a callback's exception / exception_html / reason, macros.ds_add /
 * ds_format / datetime / timedelta / datetime_diff_for_humans, range(), triggering_asset_events /
 * triggering_dataset_events.
 *
 * Checking happens when a DAG loads (tmpl_check: syntax and unknown names are load errors, in
 * every branch); rendering when a try starts. Values are JSON inside, plus datetimes and
 * timedeltas; they render as Airflow renders Python values (strings as themselves, None as
 * "None", true as "True", datetimes as pendulum 3) except objects and lists, which render as
 * JSON instead of a Python repr.
 *
 * As in Airflow (StrictUndefined), a missing key is an error unless `| default` or a test
 * catches it; as in Jinja, one trailing newline is dropped and \r\n becomes \n. Deliberate
 * differences: params.x must be declared in the DAG's params (Airflow would take it from the
 * run's conf); ti.xcom_pull() without task_ids reads the current task (Airflow 3); integers
 * are 64 bits and times whole seconds; | lower/upper/trim are ASCII-only; ds_format and
 * strftime use the C library (%Z prints "GMT" where Python prints "UTC"). Bounds: nesting
 * TMPL_DEPTH_MAX, loop iterations TMPL_ITER_MAX, output and built values TMPL_SIZE_MAX. */
#ifndef GUST_TEMPLATE_H
#define GUST_TEMPLATE_H

#include <stddef.h>
#include <time.h>

#include "err.h"

struct conn;

struct tmpl_ctx {
    const char *dag_id;
    const char *task_id;
    const char *run_id;
    time_t logical_date; /* UTC */
    time_t data_interval_start;
    time_t data_interval_end;
    int try_number;
    /* The rest of Airflow's context (a zero time_t or NULL string renders None unless said). */
    time_t start_date;        /* the run's start (start_date, dag_run.start_date) */
    const char *run_type;     /* dag_run.run_type: "scheduled", "manual", "backfill" */
    time_t prev_logical_date; /* prev_ds: the schedule's previous logical date */
    time_t prev_di_start_success, prev_di_end_success; /* the last successful earlier run */
    time_t prev_start_date_success;                    /* this task's start in that run */
    const char *hostname;                              /* ti.hostname */
    int max_tries;                                     /* ti.max_tries */
    time_t ti_start_date;                              /* ti.start_date: this try's start */
    const char *owner;                                 /* task.owner (NULL: "airflow") */
    int retries;                                       /* task.retries */
    bool mapped; /* an instance of a mapped task: ti.map_index is map_index (else -1) */
    int map_index;
    const char *params_json; /* DAG params with run conf applied over them; NULL: {} */
    const char *conf_json;   /* the run's conf; NULL: {} */
    /* triggering_asset_events (Airflow 2: triggering_dataset_events): a JSON object, URI ->
     * the events that triggered the run, oldest first; NULL: {} */
    const char *asset_events_json;
    /* ti.state (NULL: "running", a try's own templates) and ti.log_url (the try's log file;
     * NULL: None). */
    const char *ti_state;
    const char *log_url;
    /* A callback's arguments (docs/operations.md, "Notifications"): exception (the failure's
     * detail line), exception_html (the same, HTML-escaped, newlines as <br>) and reason (a
     * DAG run's callback: "success", "task_failure", "timed_out") are names only there (NULL:
     * None); elsewhere they are rendering errors, as in Airflow's task context. */
    bool callback;
    const char *exception;
    const char *reason;
    /* ti.xcom_pull: set *json_out to the value's JSON text (malloc'd), or NULL when there is
     * no such XCom (renders None). map_index: the instance (map_indexes=N), or
     * TMPL_XCOM_DEFAULT: Airflow's default (a mapped task's: the list of every instance's
     * value; an unmapped task's: its value). Returns 0, or -1 with e set. */
    int (*xcom_pull)(void *arg, const char *task_id, const char *key, int map_index,
                     char **json_out, struct err *e);
    /* var.value.x: set *value_out (malloc'd) or NULL when unset (an error when rendering). */
    int (*var_get)(void *arg, const char *key, char **value_out, struct err *e);
    /* conn.<conn_id>: fill *out (common/conn.h; the caller clears it) or return -1 with e
     * set (a connection that does not exist is an error). NULL: conn_lookup_default
     * (AIRFLOW_CONN_<ID>, then a short session to the configured metadata database). */
    int (*conn_get)(void *arg, const char *conn_id, struct conn *out, struct err *e);
    void *arg;
};

#define TMPL_XCOM_DEFAULT (-2)

/* Check a template without rendering it: syntax, known names and functions, params.x
 * against the DAG's params (params_json, NULL: none declared). On error *offset (may be
 * NULL) is the byte offset in src where the problem is, for file:line:col. */
int tmpl_check(const char *src, const char *params_json, size_t *offset, struct err *e);

/* Render src in ctx into a new string *out (free it). */
int tmpl_render(const char *src, const struct tmpl_ctx *ctx, char **out, struct err *e);

/* Whether src contains template syntax at all (fast path: most strings do not). */
int tmpl_has_syntax(const char *src);

/* Helpers shared by the template*.c files (no other module needs them). */
#define TMPL_REAL_BUF 40
#define TMPL_TIME_BUF 40
enum tmpl_time_fmt {
    TMPL_DS,           /* 2024-01-01 */
    TMPL_DS_NODASH,    /* 20240101 */
    TMPL_TS,           /* 2024-01-01T00:00:00+00:00 (isoformat) */
    TMPL_TS_NODASH,    /* 20240101T000000 */
    TMPL_TS_NODASH_TZ, /* 20240101T000000+0000 */
    TMPL_STR,          /* 2024-01-01 00:00:00+00:00 (str() of a pendulum DateTime) */
};
/* Python's repr(float): 1.0 -> "1.0", 1e16 -> "1e+16". */
void tmpl_fmt_real(double d, char buf[TMPL_REAL_BUF]);
/* A UTC instant in one of the context's formats. */
void tmpl_fmt_time(time_t t, enum tmpl_time_fmt f, char buf[TMPL_TIME_BUF]);
/* macros.ds_add: ds (YYYY-MM-DD) plus days; ds itself when days is 0. */
int tmpl_ds_add(const char *ds, double days, char out[TMPL_TIME_BUF], struct err *e);
/* macros.ds_format: strptime(s, in_fmt) then strftime(out_fmt) into a new string *res. */
int tmpl_ds_format(const char *s, const char *in_fmt, const char *out_fmt, char **res,
                   struct err *e);
/* strftime(fmt) of the UTC instant t into a new string *res. */
int tmpl_strftime(time_t t, const char *fmt, char **res, struct err *e);

#endif

/* Unit tests for template: every context name and macro with a fixed context (logical date
 * 2024-03-10T05:06:07Z), XComs through a fake callback, conf with shell metacharacters byte
 * for byte, Python's str() of values, | tojson escaping, filters, and errors with their
 * offsets, both when checking (no context) and when rendering. Expected strings are what
 * Airflow 2.x/3.x (Jinja2 with StrictUndefined, pendulum 3) renders, except where a comment
 * says otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conn.h"
#include "template/template.h"

#define T0 1710047167 /* 2024-03-10T05:06:07Z */

static const char *const conf_json =
    "{\"path\": \"a b; rm -rf / $(x) `y` 'q' \\\"d\\\" \\\\ |&><*?~#!\\n\\ttab\", \"n\": 5,"
    " \"nested\": {\"k\": [1, 2]}, \"empty\": \"\", \"none\": null, \"yes\": true,"
    " \"f\": 1.0, \"big\": 1e16, \"u\": \"caf\\u00e9 \\ud83d\\ude00 <&'>\"}";

static int
fake_xcom(void *arg, const char *task_id, const char *key, int map_index, char **json_out,
          struct err *e)
{
    (void)arg;
    *json_out = NULL;
    if (strcmp(task_id, "mapped") == 0) { /* a mapped task: [10, 11, 12] by instance */
        if (map_index == TMPL_XCOM_DEFAULT)
            return *json_out = strdup("[10, 11, 12]"), 0;
        if (map_index >= 0 && map_index < 3 && asprintf(json_out, "%d", 10 + map_index) < 0)
            *json_out = NULL;
        return 0;
    }
    if (strcmp(task_id, "fail") == 0)
        return err_set(e, ERR_DB, "database down");
    if (strcmp(key, "return_value") != 0)
        return *json_out = strdup(strcmp(key, "other") == 0 ? "1.5" : "\"k\""), 0;
    if (strcmp(task_id, "a") == 0 || strcmp(task_id, "load") == 0)
        *json_out = strdup(strcmp(task_id, "a") == 0 ? "\"hello\"" : "\"self\"");
    else if (strcmp(task_id, "num") == 0)
        *json_out = strdup("42");
    else if (strcmp(task_id, "obj") == 0)
        *json_out = strdup("{\"k\": [10, 20], \"s\": \"v\"}");
    return 0;
}

static int
fake_var(void *arg, const char *key, char **value_out, struct err *e)
{
    (void)arg, (void)e;
    *value_out = NULL;
    if (strcmp(key, "env") == 0)
        *value_out = strdup("prod");
    else if (strcmp(key, "cfg") == 0)
        *value_out = strdup("{\"a\": [1, 2]}");
    return 0;
}

static const struct tmpl_ctx ctx = {
    .dag_id = "etl",
    .task_id = "load",
    .run_id = "scheduled__2024-03-10T05:06:07+00:00",
    .logical_date = T0,
    .data_interval_start = T0 - 86400,
    .data_interval_end = T0,
    .try_number = 2,
    .params_json = "{\"n\": 3, \"name\": \"x\", \"list\": [1, \"two\"]}",
    .conf_json = NULL, /* set in main: conf_json */
    .xcom_pull = fake_xcom,
    .var_get = fake_var,
};
static struct tmpl_ctx c;

static void
renders(const char *src, const char *want)
{
    struct err e = {0};
    char *out = NULL;

    if (tmpl_render(src, &c, &out, &e) < 0)
        fail_msg("render %s: %s", src, e.msg);
    if (strcmp(out, want) != 0)
        fail_msg("render %s:\n  want [%s]\n  got  [%s]", src, want, out);
    free(out);
    /* whatever renders also checks, with the DAG's params */
    size_t off = 0;
    if (tmpl_check(src, c.params_json, &off, &e) < 0)
        fail_msg("check %s: %s at %zu", src, e.msg, off);
}

static void
render_fails(const char *src, const char *want_msg)
{
    struct err e = {0};
    char *out = (char *)"untouched";

    if (tmpl_render(src, &c, &out, &e) == 0)
        fail_msg("render %s: should fail, gave [%s]", src, out);
    assert_null(out);
    if (strcmp(e.msg, want_msg) != 0)
        fail_msg("render %s:\n  want error [%s]\n  got  error [%s]", src, want_msg, e.msg);
}

static void
check_fails(const char *src, const char *params, size_t want_off, const char *want_msg)
{
    struct err e = {0};
    size_t off = 12345;

    if (tmpl_check(src, params, &off, &e) == 0)
        fail_msg("check %s: should fail", src);
    if (strcmp(e.msg, want_msg) != 0 || off != want_off)
        fail_msg("check %s:\n  want %zu [%s]\n  got  %zu [%s]", src, want_off, want_msg, off,
                 e.msg);
}

static void
test_names(void **state)
{
    (void)state;
    renders("{{ ds }}", "2024-03-10");
    renders("{{ ds_nodash }}", "20240310");
    renders("{{ ts }}", "2024-03-10T05:06:07+00:00");
    renders("{{ ts_nodash }}", "20240310T050607");
    renders("{{ ts_nodash_with_tz }}", "20240310T050607+0000");
    /* str() of a pendulum 3 DateTime is isoformat(" ") */
    renders("{{ logical_date }}", "2024-03-10 05:06:07+00:00");
    renders("{{ execution_date }}", "2024-03-10 05:06:07+00:00");
    renders("{{ data_interval_start }}|{{ data_interval_end }}",
            "2024-03-09 05:06:07+00:00|2024-03-10 05:06:07+00:00");
    renders("{{ run_id }}", "scheduled__2024-03-10T05:06:07+00:00");
    renders("{{ dag.dag_id }}.{{ task.task_id }}#{{ ti.try_number }}", "etl.load#2");
    renders("{{ task_instance.try_number }} {{ ti.task_id }} {{ ti.dag_id }} {{ ti.run_id }}",
            "2 load etl scheduled__2024-03-10T05:06:07+00:00");
    renders("{{ dag_run.run_id }} {{ dag_run.logical_date }}",
            "scheduled__2024-03-10T05:06:07+00:00 2024-03-10 05:06:07+00:00");
    renders("{{ params.n }} {{ params['name'] }} {{ params.list }} {{ params.list[1] }}",
            "3 x [1,\"two\"] two");
    renders("{{ logical_date.strftime('%Y/%m/%d %H') }} {{ logical_date.isoformat() }}",
            "2024/03/10 05 2024-03-10T05:06:07+00:00");
    renders("{{ logical_date.year }}-{{ logical_date.month }}", "2024-3");
    renders("{{ var.value.env }} {{ var.value['env'] }} {{ var.json.cfg.a[1] }}", "prod prod 2");
    renders("{{ var.value.get('nope', 'dflt') }} {{ var.value.get('env') }}", "dflt prod");
    render_fails("{{ var.value.nope }}", "variable 'nope' is not set");
}

static void
test_macros(void **state)
{
    (void)state;
    renders("{{ macros.ds_add(ds, 5) }}", "2024-03-15");
    renders("{{ macros.ds_add(ds, -10) }}", "2024-02-29");
    renders("{{ macros.ds_add('2024-12-31', 1) }}", "2025-01-01");
    renders("{{ macros.ds_add(ds, 0) }}", "2024-03-10");
    renders("{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}", "10/03/2024");
    renders("{{ macros.ds_format('20240310', '%Y%m%d', '%a %b %d %j') }}", "Sun Mar 10 070");
    render_fails("{{ macros.ds_add('2024-02-30', 1) }}",
                 "ds_add: day is out of range for month in '2024-02-30'");
    render_fails("{{ macros.ds_format('x2024', '%Y', '%Y') }}",
                 "ds_format: time data 'x2024' does not match format '%Y'");
    render_fails("{{ macros.ds_add(ds) }}", "ds_add: missing argument 'days'");
}

static void
test_xcom(void **state)
{
    (void)state;
    renders("{{ ti.xcom_pull(task_ids='a') }}", "hello");
    renders("{{ ti.xcom_pull('a') }}", "hello");
    renders("{{ task_instance.xcom_pull(task_ids=\"num\") }}", "42");
    renders("{{ ti.xcom_pull(task_ids='a', key='other') }}", "1.5");
    renders("{{ ti.xcom_pull(task_ids='obj') }}", "{\"k\":[10,20],\"s\":\"v\"}");
    renders("{{ ti.xcom_pull(task_ids='obj')['k'][1] }}", "20");
    renders("{{ ti.xcom_pull(task_ids='obj').s }}", "v");
    renders("{{ ti.xcom_pull(task_ids='none') }}", "None");
    renders("{{ ti.xcom_pull() }}", "self"); /* Airflow 3: task_ids=None is this task */
    renders("{{ ti.xcom_pull(task_ids='obj') | tojson }}", "{\"k\": [10, 20], \"s\": \"v\"}");
    /* a mapped task: every instance's value in map_index order, or the ones asked for */
    renders("{{ ti.xcom_pull(task_ids='mapped') | tojson }}", "[10, 11, 12]");
    renders("{{ ti.xcom_pull(task_ids='mapped', map_indexes=2) }}", "12");
    renders("{{ ti.xcom_pull(task_ids='mapped', map_indexes=[2, 0]) | tojson }}", "[12, 10]");
    renders("{{ ti.xcom_pull(task_ids='mapped', map_indexes=7) }}", "None");
    renders("{{ ti.map_index }}", "-1");
    render_fails("{{ ti.xcom_pull(task_ids='mapped', map_indexes='x') }}",
                 "xcom_pull: map_indexes must be an integer or a list of them");
    render_fails("{{ ti.xcom_pull(task_ids='fail') }}",
                 "xcom_pull(task_ids='fail', key='return_value'): database down");
    render_fails("{{ ti.xcom_pull(task_ids='obj')['k'][5] }}", "key 5 not found");
    render_fails("{{ ti.xcom_pull(task_ids=['a', 'b']) }}", "task_ids lists are not supported");
    check_fails("{{ ti.xcom_pull(task_ids=['a', 'b']) }}", NULL, 16,
                "task_ids lists are not supported");
    check_fails("{{ ti.xcom_pull(task_ids='a', dag_id='x') }}", NULL, 30,
                "xcom_pull: argument 'dag_id' is not supported");
    check_fails("{{ ti.xcom_pull(task='a') }}", NULL, 16, "xcom_pull: unexpected argument 'task'");
    check_fails("{{ ti.xcom_pull(task_ids=3) }}", NULL, 16, "xcom_pull: task_ids must be a string");
}

static void
test_conf(void **state)
{
    (void)state;
    renders("{{ dag_run.conf['path'] }}", "a b; rm -rf / $(x) `y` 'q' \"d\" \\ |&><*?~#!\n\ttab");
    renders("{{ dag_run.conf.path }}", "a b; rm -rf / $(x) `y` 'q' \"d\" \\ |&><*?~#!\n\ttab");
    renders("{{ dag_run.conf.n }} {{ dag_run.conf.nested.k[0] }} {{ dag_run.conf.nested }}",
            "5 1 {\"k\":[1,2]}");
    renders("{{ dag_run.conf.get('n') }} {{ dag_run.conf.get('zz', 'dflt') }} "
            "{{ dag_run.conf.get('zz') }}",
            "5 dflt None");
    renders("[{{ dag_run.conf.empty }}]", "[]");
    render_fails("{{ dag_run.conf['missing'] }}", "key 'missing' not found");
    render_fails("{{ dag_run.conf.missing }}", "key 'missing' not found");
    render_fails("{{ dag_run.conf.missing.deeper | default('x') }}", "key 'missing' not found");
    render_fails("{{ dag_run.conf.missing ~ 'x' }}", "key 'missing' not found");
    render_fails("{{ dag_run.conf.missing | upper }}", "key 'missing' not found");
}

/* triggering_asset_events (and Airflow 2's name): the run's events by URI; {} for a run no
 * asset triggered. */
static void
test_asset_events(void **state)
{
    (void)state;
    renders("{{ triggering_asset_events | length }}", "0");
    c.asset_events_json =
        "{\"s3://b/x\": [{\"uri\": \"s3://b/x\", \"source_dag_id\": \"prod\", "
        "\"source_task_id\": \"t\", \"source_map_index\": -1, \"extra\": {\"rows\": 3}, "
        "\"timestamp\": \"2024-03-10 05:06:07.250000+00:00\"}], \"gust://y\": [{\"uri\": "
        "\"gust://y\", \"source_dag_id\": null, \"extra\": {}}, {\"uri\": \"gust://y\", "
        "\"source_dag_id\": null, \"extra\": {}}]}";
    renders("{{ triggering_asset_events['s3://b/x'][0].source_dag_id }} "
            "{{ triggering_dataset_events['s3://b/x'][0].extra.rows }} "
            "{{ triggering_asset_events['s3://b/x'][0].timestamp }}",
            "prod 3 2024-03-10 05:06:07.250000+00:00");
    renders("{% for uri, events in triggering_asset_events.items() %}{{ uri }}:{{ events | length "
            "}}:{{ events[0].source_dag_id }};{% endfor %}",
            "s3://b/x:1:prod;gust://y:2:None;");
    render_fails("{{ triggering_asset_events['s3://nope'] }}", "key 's3://nope' not found");
    c.asset_events_json = NULL;
}

static void
test_values(void **state)
{
    (void)state;
    renders("{{ None }} {{ True }} {{ False }} {{ none }}", "None True False None");
    renders("{{ dag_run.conf.none }} {{ dag_run.conf.yes }}", "None True");
    renders("{{ dag_run.conf.f }} {{ dag_run.conf.big }} {{ 2.50 }} {{ 0.0001 }} {{ -3 }}",
            "1.0 1e+16 2.5 0.0001 -3");
    renders("{{ 'it''s' }}{{ \"q\\\"\\n\\t\\\\\\x41\\u00e9\" }}", "its"
                                                                  "q\"\n\t\\A\xc3\xa9");
    renders("{{ 'a' ~ 1 ~ None ~ ds }}", "a1None2024-03-10");
    renders("{{ [1, 'a', None] }}", "[1,\"a\",null]");
    renders("{{ ('x') }}", "x");
    renders("text only", "text only");
    renders("a {# comment {{ x }} #}b", "a b");
    renders("line\r\nnext\rlast\n", "line\nnext\nlast"); /* Jinja: one trailing \n dropped */
    renders("keep\n\n", "keep\n");
    renders("a  \n {{- ds -}}  \n b", "a2024-03-10b");
    renders("a {#- c -#} b", "ab");
    renders("{{ ds }} }} {", "2024-03-10 }} {");
}

static void
test_filters(void **state)
{
    (void)state;
    renders("{{ dag_run.conf.u | tojson }}",
            "\"caf\\u00e9 \\ud83d\\ude00 \\u003c\\u0026\\u0027\\u003e\"");
    renders("{{ dag_run.conf.path | tojson }}",
            "\"a b; rm -rf / $(x) `y` \\u0027q\\u0027 \\\"d\\\" \\\\ "
            "|\\u0026\\u003e\\u003c*?~#!\\n\\ttab\"");
    renders("{{ dag_run.conf.nested | tojson }} {{ None | tojson }} {{ 1.0 | tojson }}",
            "{\"k\": [1, 2]} null 1.0");
    renders("{{ params | tojson }}", "{\"list\": [1, \"two\"], \"n\": 3, \"name\": \"x\"}");
    renders("{{ dag_run.conf.missing | default('d') }} {{ dag_run.conf.n | d(1) }}", "d 5");
    renders("{{ dag_run.conf.missing | default }}|", "|");
    renders(
        "{{ dag_run.conf.empty | default('e', true) }} {{ dag_run.conf.empty | default('e') }}|",
        "e |");
    renders("{{ params.nope | default('p') }}", "p");
    renders("{{ dag_run.conf.n | string ~ '!' }} {{ 5 | string | tojson }}", "5! \"5\"");
}

static void
test_filters_text(void **state)
{
    (void)state;
    renders(
        "{{ ' 12 ' | int }} {{ '1.9' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 2.7 | int }}",
        "12 1 0 7 2");
    renders("{{ True | int }} {{ None | int }}", "1 0");
    renders("{{ 'MiXed' | lower }} {{ 'MiXed' | upper }} [{{ '  sp \n' | trim }}]",
            "mixed MIXED [sp]");
}

/* A callback's context: ti.state, ti.log_url, exception, exception_html, reason. */
static void
test_callback_names(void **state)
{
    struct tmpl_ctx saved = c;

    (void)state;
    renders("{{ ti.state }}", "running"); /* a try's own templates */
    render_fails("{{ exception }}", "'exception' is only known in a callback's arguments");
    render_fails("{{ reason }}", "'reason' is only known in a callback's arguments");
    renders("{{ ti.log_url }}", "None");
    c.callback = true;
    c.ti_state = "failed";
    c.log_url = "/logs/attempt=2.log";
    c.exception = "exit 1\n<stderr> & more";
    renders("{{ ti.state }} {{ ti.log_url }}", "failed /logs/attempt=2.log");
    renders("{{ exception }}", "exit 1\n<stderr> & more");
    renders("{{ exception_html }}", "exit 1<br>&lt;stderr&gt; &amp; more");
    renders("{{ reason }}", "None");
    c.reason = "task_failure";
    renders("{{ dag.dag_id }}: {{ reason }}", "etl: task_failure");
    c = saved;
}

static void
test_check_errors(void **state)
{
    (void)state;
    check_fails("echo {{ ds", NULL, 5, "unclosed '{{' (no matching '}}')");
    check_fails("echo {{ ds }", NULL, 11, "unexpected character '}'");
    check_fails("{{ ds @ }}", NULL, 6, "unexpected character '@'");
    check_fails("{{ }}", NULL, 3, "expected an expression");
    check_fails("{{ ds ds }}", NULL, 6, "expected '}}' here");
    check_fails("{{ foo }}", NULL, 3, "unknown name 'foo' in template");
    check_fails("x {{ ds }} {{ bar.baz }}", NULL, 14, "unknown name 'bar' in template");
    check_fails("{{ params.x }}", NULL, 10, "unknown param 'x'");
    check_fails("{{ params.x }}", "{\"y\": 1}", 10, "unknown param 'x'");
    check_fails("{{ params['x'] }}", "{\"y\": 1}", 9, "unknown param 'x'");
    check_fails("{{ dag.owner }}", NULL, 7, "unknown attribute 'owner' of dag");
    check_fails("{{ ti.colour }}", NULL, 6, "unknown attribute 'colour' of ti");
    check_fails("{{ macros.uuid }}", NULL, 10, "unknown attribute 'uuid' of macros");
    check_fails("{{ ds | wordcount }}", NULL, 8, "unknown filter 'wordcount'");
    check_fails("{{ 'abc }}", NULL, 3, "unterminated string");
    check_fails("a {% if x %}b{% endif %}", NULL, 8, "unknown name 'x' in template");
    check_fails("{# never closed", NULL, 0, "unclosed comment ('{#' with no matching '#}')");
    check_fails("{{ ds + 1 }}", NULL, 6, "unsupported operand types for +: 'str' and 'int'");
    check_fails("{{ 2 ** 2 }}", NULL, 5, "operator '**' is not supported");
    check_fails("{{ dag }}", NULL, 3, "dag cannot be printed (use one of its attributes)");
    check_fails("{{ ds() }}", NULL, 5, "only the known functions can be called");
    check_fails("{{ macros.ds_add(ds, 'x') }}", NULL, 21, "ds_add: days must be a number");
    check_fails("{{ logical_date | tojson }}", NULL, 18,
                "tojson: Object of type DateTime is not JSON serializable");
    check_fails("{{ ds | upper(1) }}", NULL, 8, "upper: too many arguments");
}

/* Blocks: errors at load time with the offset of the tag or name at fault. */
static void
test_check_blocks(void **state)
{
    (void)state;
    check_fails("x {% if true %}y", NULL, 2, "'{% if %}' has no matching '{% endif %}'");
    check_fails("{% for a in [1] %}", NULL, 0, "'{% for %}' has no matching '{% endfor %}'");
    check_fails("ab {% endif %}", NULL, 6,
                "unexpected '{% endif %}' (no open block it belongs to)");
    check_fails("{% if 1 %}{% else %}{% elif 2 %}{% endif %}", NULL, 23,
                "unexpected '{% elif %}' (no open block it belongs to)");
    check_fails("{% while x %}", NULL, 3,
                "unknown tag '{% while %}' (supported: if, elif, else, endif, for, endfor, set)");
    check_fails("{% if 1 }}", NULL, 8, "expected '%}' here");
    check_fails("{% if 1", NULL, 0, "unclosed '{%' (no matching '%}')");
    check_fails("{% for a b in x %}", NULL, 9,
                "expected 'in' here (for x in ... or for k, v in ...)");
    check_fails("{% for a, b in x %}", NULL, 15, "unknown name 'x' in template");
    check_fails("{% set x %}{% endset %}", NULL, 9,
                "expected '=' here ({% set %} ... {% endset %} blocks are not supported)");
    check_fails("{% if false %}{{ nope }}{% endif %}", NULL, 17, "unknown name 'nope' in template");
    check_fails("{{ 'a' if true else nope }}", NULL, 20, "unknown name 'nope' in template");
    check_fails("{{ true or nope }}", NULL, 11, "unknown name 'nope' in template");
    check_fails("{% for a in [1] %}{% endfor %}{{ a }}", NULL, 33, "unknown name 'a' in template");
    check_fails("{% for x in [1] if x %}{% endfor %}", NULL, 16,
                "'for ... if' filters are not supported");
    check_fails("{{ 1 < 2 < 3 }}", NULL, 9, "chained comparisons are not supported (use 'and')");
    check_fails("{{ ds is odd }}", NULL, 9,
                "unknown test after 'is' (supported: defined, undefined, none, number, string, "
                "mapping, sequence)");
    /* known when the try starts: every branch and the loop body are checked */
    size_t off = 0;
    struct err e = {0};
    assert_int_equal(tmpl_check("{% for r in dag_run.conf.rows %}{{ loop.index }}{{ r.x }}"
                                "{% if r.y > 1 %}{{ r.y * 2 }}{% else %}{{ r | tojson }}{% endif %}"
                                "{% endfor %}{{ params.n if dag_run.conf.z else 0 }}",
                                "{\"n\": 1}", &off, &e),
                     0);
}

/* A DAG cannot hang the scheduler: iterations, output and built values are bounded. */
static void
test_bounds(void **state)
{
    (void)state;
    render_fails("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                 "more than 100000 loop iterations in one template");
    render_fails("{{ range(200000) }}", "range: more than 100000 items");
    render_fails("{% set x = 'ab' * 3000000 %}",
                 "a value built by the template is larger than 4194304");
    render_fails("{% set x = 'abcdefgh' * 500000 %}{% for i in range(20) %}{{ x }}{% endfor %}",
                 "the rendered template is larger than 4194304 bytes");
    render_fails("{% set x = 'a' * 4000000 %}{% set x = x ~ x %}",
                 "a value built by the template is larger than 4194304");
    render_fails("{{ 9000000000000000000 + 9000000000000000000 }}",
                 "integer overflow (integers are 64 bits here)");
    /* nested blocks are bounded like nested expressions */
    char deep[65 * 10 + 1] = "";
    for (int i = 0; i < 65; i++)
        strcat(deep, "{% if 1 %}");
    render_fails(deep, "blocks nested more than 64 levels deep");
    /* a for body's {% set %} does not leak, an if's does */
    renders("{% set x = 1 %}{% for i in [5] %}{% set x = i %}{% endfor %}{{ x }}", "1");
    renders("{% if true %}{% set x = 2 %}{% endif %}{{ x }}", "2");
    /* lazy operands are not evaluated */
    renders("{{ false and (1 / 0) }}|{{ true or ti.xcom_pull(task_ids='fail') }}", "False|True");
    renders("{{ 1 / 0 if false else 'safe' }}", "safe");
    renders("{{ -params.n }} {{ params.n }}", "-3 3");
}

/* Every case of tests/unit/template_cases.json, whose outputs are real Jinja2's (checked by
 * tests/tools/template_jinja.py): same output, or both fail. */
static void
test_jinja_cases(void **state)
{
    (void)state;
    const char *root = getenv("GUST_SRC");
    char path[4096];
    json_error_t je;
    struct tmpl_ctx cc = ctx;
    size_t i, bad = 0;
    json_t *cs;

    snprintf(path, sizeof(path), "%s/tests/unit/template_cases.json", root && *root ? root : ".");
    json_t *doc = json_load_file(path, 0, &je);
    if (doc == NULL)
        fail_msg("%s: %s", path, je.text);
    cc.start_date = T0 + 60, cc.ti_start_date = T0 + 120, cc.run_type = "scheduled";
    cc.prev_logical_date = T0 - 86400, cc.prev_di_start_success = T0 - 2 * 86400;
    cc.prev_di_end_success = T0 - 86400, cc.prev_start_date_success = T0 - 86400 + 300;
    cc.hostname = "worker-1", cc.max_tries = 3, cc.owner = "data", cc.retries = 3;
    json_array_foreach(json_object_get(doc, "cases"), i, cs)
    {
        const char *src = json_string_value(json_object_get(cs, "t"));
        const char *want = json_string_value(json_object_get(cs, "out"));
        char *params = json_dumps(json_object_get(cs, "params"), JSON_COMPACT), *out = NULL;
        struct err e = {0};
        cc.params_json = params;
        cc.conf_json = NULL;
        int rc = tmpl_render(src, &cc, &out, &e);
        if (want == NULL && rc == 0)
            bad++, print_message("case %zu %s: Jinja fails, we gave [%s]\n", i, src, out);
        else if (want != NULL && rc < 0)
            bad++, print_message("case %zu %s: want [%s], we failed: %s\n", i, src, want, e.msg);
        else if (want != NULL && strcmp(want, out) != 0)
            bad++, print_message("case %zu %s:\n  want [%s]\n  got  [%s]\n", i, src, want, out);
        free(out);
        free(params);
    }
    if (i < 200)
        fail_msg("only %zu cases in %s", i, path);
    json_decref(doc);
    assert_int_equal(bad, 0);
}

static void
test_check_ok(void **state)
{
    (void)state;
    struct err e = {0};
    size_t off = 0;
    const char *ok[] = {
        "{{ dag_run.conf['anything'].deep[3] | tojson }}",
        "{{ dag_run.conf.x | default('y') }}",
        "{{ ti.xcom_pull(task_ids='t', key='k')['a'][0] }}",
        "{{ var.value.whatever }} {{ var.json.cfg.x }}",
        "{{ params.n.anything }}",
        "{{ macros.ds_add(dag_run.conf.day, params.n) }}",
        "plain $HOME ${X} } { text",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (tmpl_check(ok[i], "{\"n\": 1}", &off, &e) < 0)
            fail_msg("check %s: %s at %zu", ok[i], e.msg, off);
    assert_true(tmpl_has_syntax("a {{ b }}"));
    assert_true(tmpl_has_syntax("{# c"));
    assert_true(tmpl_has_syntax("x {%"));
    assert_false(tmpl_has_syntax("echo ${HOME} { } %}"));
    assert_false(tmpl_has_syntax(""));
}

/* Truncated and odd inputs on every error path (the fuzzer found no crash in 2 minutes; a
 * crasher it finds later goes here); each must fail cleanly or render, without leaks. */
/* conn.<id>: the context's conn_get, else the environment (AIRFLOW_CONN_<ID>). */
static int
fake_conn(void *arg, const char *conn_id, struct conn *out, struct err *e)
{
    (void)arg;
    if (strcmp(conn_id, "warehouse") == 0)
        return conn_from_uri(conn_id,
                             "postgresql://etl%40corp:pa%24%24@wh.example:6432/dw?sslmode=require&"
                             "__extra__=%7B%22role%22%3A+%22loader%22%2C+%22n%22%3A+3%7D",
                             out, e);
    return err_set(e, ERR_NOTFOUND, "connection '%s' not found", conn_id);
}

static void
test_conn(void **state)
{
    (void)state;
    struct tmpl_ctx saved = c;

    c.conn_get = fake_conn;
    renders("{{ conn.warehouse.host }}:{{ conn.warehouse.port }}", "wh.example:6432");
    renders("{{ conn.warehouse.login }}/{{ conn.warehouse.schema }}", "etl@corp/dw");
    renders("{{ conn.warehouse.conn_type }} {{ conn['warehouse'].host }}", "postgres wh.example");
    renders("{{ conn.warehouse.extra_dejson.role }} {{ conn.warehouse.extra_dejson['n'] }}",
            "loader 3");
    renders("{{ conn.warehouse.description }}", "None");
    renders("{{ conn.warehouse.extra_dejson.missing | default('d') }}", "d");
    /* the password only when written out */
    renders("{{ conn.warehouse.password }}", "pa$$");
    render_fails("{{ conn.warehouse }}", "conn.<id> cannot be printed (use one of its attributes)");
    render_fails("{{ conn.nowhere.host }}", "conn.nowhere: connection 'nowhere' not found");
    render_fails("{{ conn.warehouse.extra_dejson.missing }}", "key 'missing' not found");
    /* without conn_get: AIRFLOW_CONN_<ID> */
    c.conn_get = NULL;
    setenv("AIRFLOW_CONN_FROM_ENV", "postgres://u:p@envhost:5/db", 1);
    renders("{{ conn.from_env.host }}", "envhost");
    unsetenv("AIRFLOW_CONN_FROM_ENV");
    c = saved;
    /* checking: field names are validated, the connection is not looked up */
    check_fails("{{ conn.any_id.hots }}", NULL, 15,
                "unknown attribute 'hots' of a connection (conn.<id>.host, .login, .port, "
                ".schema, .extra_dejson.<key> ...)");
    size_t off;
    struct err e = {0};
    assert_int_equal(tmpl_check("{{ conn.later_added.extra_dejson.k }}", NULL, &off, &e), 0);
}

static void
test_fuzz_regressions(void **state)
{
    (void)state;
    const char *inputs[] = {
        "{{",
        "{{-",
        "{#",
        "{#-#}",
        "{{'\\",
        "{{ [",
        "{{ [1,",
        "{{ a(",
        "{{ ti.xcom_pull(",
        "{{ ti.xcom_pull(task_ids=",
        "{{ -",
        "{{ - - 1 }}",
        "{{ 1 | default(",
        "{{ \"\\u12",
        "{{ 99999999999999999999 }}",
        "{{ 1.5.x }}",
        "{{ params | d(dag) }}",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct err e = {0};
        char *out = NULL;
        size_t off = 0;
        if (tmpl_check(inputs[i], NULL, &off, &e) < 0)
            assert_true(off <= strlen(inputs[i]));
        if (tmpl_render(inputs[i], &c, &out, &e) == 0)
            free(out);
    }
}

/* make fuzz: "{{ ((((...1" 100,000 levels deep overflowed the stack of the recursive parser.
 * 64 levels are fine; one more is an error at the expression, for check and render alike. */
static void
test_nesting_limit(void **state)
{
    (void)state;
    char src[3 * 66 + 16], *p;
    char deep[200010];
    size_t off = 0;
    struct err e = {0};

    p = src + sprintf(src, "{{ ");
    for (int i = 0; i < 63; i++)
        *p++ = '(';
    *p++ = '1';
    for (int i = 0; i < 63; i++)
        *p++ = ')';
    strcpy(p, " }}");
    renders(src, "1");
    p = deep + sprintf(deep, "{{ ");
    for (int i = 0; i < 100000; i++)
        *p++ = '(';
    strcpy(p, "1");
    render_fails(deep, "expression nested more than 64 levels deep");
    assert_int_equal(tmpl_check(deep, NULL, &off, &e), -1);
    assert_string_equal(e.msg, "expression nested more than 64 levels deep");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_macros),
        cmocka_unit_test(test_xcom),           cmocka_unit_test(test_conf),
        cmocka_unit_test(test_values),         cmocka_unit_test(test_filters),
        cmocka_unit_test(test_filters_text),   cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_check_ok),       cmocka_unit_test(test_fuzz_regressions),
        cmocka_unit_test(test_nesting_limit),  cmocka_unit_test(test_conn),
        cmocka_unit_test(test_check_blocks),   cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_jinja_cases),    cmocka_unit_test(test_asset_events),
        cmocka_unit_test(test_callback_names),
    };

    c = ctx;
    c.conf_json = conf_json;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

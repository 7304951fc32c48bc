/* test_dagmap: dynamic task mapping's pure functions (dagfile_map.c) on tasks loaded from
 * YAML: dag_map_length over literal lists, XCom lists and objects, the cross product and
 * expand_kwargs, with every error message; dag_map_values in Airflow's order (the last
 * argument varies fastest); dag_task_bind for each operator family, with wrong types, and the
 * deep copy (the instance shares nothing with the task; ASan checks the frees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"

#define BASH "airflow.operators.bash.BashOperator"
#define KPO "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator"
#define TRIGGER "airflow.operators.trigger_dagrun.TriggerDagRunOperator"
#define SQLOP "airflow.providers.common.sql.operators.sql."

static const char *const yaml =
    "m:\n"
    "  tasks:\n"
    "    - {task_id: list_files, operator: " BASH ", bash_command: \"echo '[1]'\"}\n"
    "    - task_id: process\n"
    "      operator: " BASH "\n"
    "      partial: {env: {KEEP: kept}, cwd: /srv}\n"
    "      expand: {bash_command: list_files.output}\n"
    "      map_index_template: \"{{ ti.map_index }}\"\n"
    "    - task_id: literal\n"
    "      operator: " BASH "\n"
    "      expand: {bash_command: [\"echo a\", \"echo b\", \"echo c\"]}\n"
    "    - task_id: cross\n"
    "      operator: " BASH "\n"
    "      bash_command: echo\n"
    "      expand: {cwd: [\"1\", \"2\"], env: list_files.output}\n"
    "    - {task_id: kw, operator: " BASH ", expand_kwargs: XComArg(list_files)}\n"
    "    - task_id: pod\n"
    "      operator: " KPO "\n"
    "      partial: {cmds: [/app/run], image: busybox}\n"
    "      expand: {arguments: [[a]]}\n"
    "    - {task_id: kick, operator: " TRIGGER ", trigger_dag_id: c, expand: {conf: [{}]}}\n"
    "    - task_id: query\n"
    "      operator: " SQLOP "SQLExecuteQueryOperator\n"
    "      conn_id: wh\n"
    "      expand: {sql: [SELECT 1]}\n"
    "    - task_id: check\n"
    "      operator: " SQLOP "SQLCheckOperator\n"
    "      conn_id: wh\n"
    "      expand: {sql: [SELECT 1]}\n"
    "    - task_id: table\n"
    "      operator: " SQLOP "SQLTableCheckOperator\n"
    "      conn_id: wh\n"
    "      checks: {rows: {check_statement: \"COUNT(*) > 0\"}}\n"
    "      expand: {table: [t1]}\n"
    "    - {task_id: marks, operator: airflow.operators.empty.EmptyOperator, expand: {doc: [x]}}\n";

struct fix {
    struct dagbag *bag;
    const struct dag *dag;
};

static int
setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->bag = dagbag_new();
    dagbag_load_string(f->bag, "m.yaml", yaml, strlen(yaml));
    for (size_t i = 0; i < f->bag->n_diags; i++)
        fprintf(stderr, "%d:%d: %s\n", f->bag->diags[i].line, f->bag->diags[i].col,
                f->bag->diags[i].msg);
    assert_int_equal(f->bag->n_diags, 0);
    f->dag = dagbag_find(f->bag, "m");
    assert_non_null(f->dag);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fix *f = *state;

    dagbag_free(f->bag);
    free(f);
    return 0;
}

static const struct dag_task *
task(void **state, const char *id)
{
    const struct dag_task *t = dag_find_task(((struct fix *)*state)->dag, id);

    assert_non_null(t);
    return t;
}

static json_t *
js(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

    assert_non_null(j);
    return j;
}

/* A literal source's JSON text (compact), in a buffer the next call reuses. */
static const char *
literal_text(const struct dag_map_arg *a)
{
    static char buf[256];
    char *s;

    assert_non_null(a->items);
    s = json_dumps(a->items, JSON_COMPACT);
    assert_non_null(s);
    snprintf(buf, sizeof(buf), "%s", s);
    free(s);
    return buf;
}

/* The length of t's mapping with one source given as JSON text (NULL: missing), or -1 with
 * the message in e. */
static long
length1(const struct dag_task *t, const char *src, struct err *e)
{
    json_t *s = src ? js(src) : NULL;
    size_t n = 99;
    int rc = dag_map_length(t, &s, &n, e);

    json_decref(s);
    return rc < 0 ? -1 : (long)n;
}

/* dag_map_values as compact JSON text (caller frees), sources as JSON texts. */
static char *
values_text(const struct dag_task *t, const char *const *srcs, size_t index)
{
    json_t *s[4] = {NULL}, *v = NULL;
    struct err e = {0};
    char *out;

    for (size_t i = 0; i < t->map->n_args; i++)
        s[i] = js(srcs[i]);
    if (dag_map_values(t, s, index, &v, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        fail();
    }
    out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    for (size_t i = 0; i < t->map->n_args; i++)
        json_decref(s[i]);
    return out;
}

static void
expect_values(const struct dag_task *t, const char *const *srcs, size_t index, const char *want)
{
    char *got = values_text(t, srcs, index);

    assert_string_equal(got, want);
    free(got);
}

static void
test_loaded_map(void **state)
{
    const struct dag_task *p = task(state, "process"), *l = task(state, "literal");
    const struct dag *d = ((struct fix *)*state)->dag;

    assert_null(task(state, "list_files")->map);
    assert_non_null(p->map);
    assert_int_equal(p->map->n_args, 1);
    assert_false(p->map->kwargs);
    assert_string_equal(p->map->args[0].name, "bash_command");
    assert_string_equal(p->map->args[0].xcom_task, "list_files");
    assert_null(p->map->args[0].items);
    assert_ptr_equal(&d->tasks[p->map->args[0].xcom_idx], task(state, "list_files"));
    assert_string_equal(p->map->index_template, "{{ ti.map_index }}");
    /* the reference made list_files upstream; partial keys became the task's */
    assert_int_equal(p->n_upstream, 1);
    assert_string_equal(p->upstream[0], "list_files");
    assert_string_equal(p->cwd, "/srv");
    assert_int_equal(p->n_env, 1);
    assert_string_equal(literal_text(&l->map->args[0]), "[\"echo a\",\"echo b\",\"echo c\"]");
    assert_null(l->map->args[0].xcom_task);
    assert_true(task(state, "kw")->map->kwargs);
    assert_null(task(state, "kw")->map->args[0].name);
}

static void
test_length_literal_and_xcom(void **state)
{
    const struct dag_task *l = task(state, "literal"), *p = task(state, "process");
    struct err e = {0};

    assert_int_equal(length1(l, literal_text(&l->map->args[0]), &e), 3);
    expect_values(l, (const char *const[]){literal_text(&l->map->args[0])}, 2,
                  "{\"bash_command\":\"echo c\"}");
    assert_int_equal(length1(p, "[\"ls a\", \"ls b\"]", &e), 2);
    assert_int_equal(length1(p, "[]", &e), 0);
    /* a dict maps as (key, value) pairs, in its order */
    assert_int_equal(length1(p, "{\"x\": 1, \"y\": [2]}", &e), 2);
    expect_values(p, (const char *const[]){"{\"x\": 1, \"y\": [2]}"}, 1,
                  "{\"bash_command\":[\"y\",[2]]}");
    expect_values(p, (const char *const[]){"{\"x\": 1, \"y\": [2]}"}, 0,
                  "{\"bash_command\":[\"x\",1]}");
}

static void
test_cross_product(void **state)
{
    const struct dag_task *c = task(state, "cross");
    const char *const srcs[] = {"[1, 2]", "[\"a\", \"b\", \"c\"]"};
    json_t *s[2] = {js(srcs[0]), js(srcs[1])};
    static const char *const want[] = {
        "{\"cwd\":1,\"env\":\"a\"}", "{\"cwd\":1,\"env\":\"b\"}", "{\"cwd\":1,\"env\":\"c\"}",
        "{\"cwd\":2,\"env\":\"a\"}", "{\"cwd\":2,\"env\":\"b\"}", "{\"cwd\":2,\"env\":\"c\"}",
    };
    struct err e = {0};
    json_t *v = NULL;
    size_t n = 0;

    assert_int_equal(dag_map_length(c, s, &n, &e), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < 6; i++) /* the last argument varies fastest */
        expect_values(c, srcs, i, want[i]);
    assert_int_equal(dag_map_values(c, s, 6, &v, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_string_equal(e.msg, "task 'cross': map index 6 is out of range (6 instances)");
    assert_null(v);
    json_decref(s[0]);
    json_decref(s[1]);
    /* one empty source: no instance */
    s[0] = js("[1, 2]"), s[1] = js("[]");
    assert_int_equal(dag_map_length(c, s, &n, &e), 0);
    assert_int_equal(n, 0);
    json_decref(s[0]);
    json_decref(s[1]);
}

static void
test_kwargs(void **state)
{
    const struct dag_task *k = task(state, "kw");
    const char *items = "[{\"bash_command\": \"a\"}, {\"bash_command\": \"b\", \"cwd\": \"/x\"}]";
    struct err e = {0};

    assert_int_equal(length1(k, items, &e), 2);
    expect_values(k, (const char *const[]){items}, 1, "{\"bash_command\":\"b\",\"cwd\":\"/x\"}");
    assert_int_equal(length1(k, "[{}, \"x\"]", &e), -1);
    assert_string_equal(e.msg, "task 'kw': expand_kwargs item 1 of the XCom of 'list_files' is a "
                               "string, not an object (the arguments of one instance)");
    assert_int_equal(length1(k, "{\"a\": {}}", &e), -1);
    assert_string_equal(e.msg, "task 'kw': expand_kwargs takes the XCom of 'list_files', an "
                               "object, not a list of objects");
}

static void
test_length_errors(void **state)
{
    const struct dag_task *p = task(state, "process"), *l = task(state, "literal");
    static const struct {
        const char *src, *what;
    } bad[] = {{"\"a b\"", "a string"},
               {"3", "a number"},
               {"1.5", "a number"},
               {"null", "null"},
               {"true", "a boolean"}};
    char want[300];
    struct err e = {0};
    size_t n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(length1(p, bad[i].src, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        snprintf(want, sizeof(want),
                 "task 'process': expand argument 'bash_command' takes the XCom of "
                 "'list_files', %s, not a list",
                 bad[i].what);
        assert_string_equal(e.msg, want);
    }
    assert_int_equal(length1(p, NULL, &e), -1);
    assert_string_equal(e.msg, "task 'process': expand argument 'bash_command' takes the XCom of "
                               "'list_files', no value, not a list");
    assert_int_equal(length1(l, "\"x\"", &e), -1);
    assert_string_equal(e.msg, "task 'literal': expand argument 'bash_command' takes a literal "
                               "list, a string, not a list");
    assert_int_equal(dag_map_length(task(state, "list_files"), NULL, &n, &e), -1);
    assert_string_equal(e.msg, "task 'list_files' is not a mapped task");
}

/* Bind values (JSON text) to task id: 0 with *out filled, or -1 with e. */
static int
bind(void **state, const char *id, const char *values, struct dag_task *out, struct err *e)
{
    json_t *v = js(values);
    int rc = dag_task_bind(task(state, id), v, out, e);

    json_decref(v);
    return rc;
}

static void
expect_bind_error(void **state, const char *id, const char *values, const char *want)
{
    struct dag_task out;
    struct err e = {0};

    assert_int_equal(bind(state, id, values, &out, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_string_equal(e.msg, want);
    assert_null(out.task_id); /* nothing left behind */
}

static void
test_bind_bash(void **state)
{
    const struct dag_task *p = task(state, "process");
    struct dag_task o;
    struct err e = {0};

    assert_int_equal(bind(state, "process",
                          "{\"bash_command\": \"echo 1\", \"env\": {\"A\": 1, \"B\": true}, "
                          "\"append_env\": true, \"skip_on_exit_code\": [3, 4]}",
                          &o, &e),
                     0);
    assert_string_equal(o.bash_command, "echo 1");
    assert_null(p->bash_command); /* the task is unchanged */
    assert_int_equal(o.n_env, 2);
    assert_string_equal(o.env[0].key, "A");
    assert_string_equal(o.env[0].value, "1");
    assert_string_equal(o.env[1].value, "true");
    assert_true(o.append_env);
    assert_int_equal(o.n_skip_on_exit_code, 2);
    assert_int_equal(o.skip_on_exit_code[1], 4);
    assert_null(o.map);
    /* a deep copy: equal values, other pointers */
    assert_string_equal(o.task_id, "process");
    assert_ptr_not_equal(o.task_id, p->task_id);
    assert_string_equal(o.cwd, "/srv");
    assert_ptr_not_equal(o.cwd, p->cwd);
    assert_string_equal(o.upstream[0], "list_files");
    assert_ptr_not_equal(o.upstream, p->upstream);
    assert_ptr_not_equal(o.upstream_idx, p->upstream_idx);
    assert_int_equal(o.upstream_idx[0], p->upstream_idx[0]);
    assert_string_equal(o.pool, p->pool);
    dag_task_clear(&o);
    assert_null(o.task_id);
    /* numbers where a string is wanted: their JSON text; null clears an optional field */
    assert_int_equal(bind(state, "process", "{\"bash_command\": 5, \"cwd\": null}", &o, &e), 0);
    assert_string_equal(o.bash_command, "5");
    assert_null(o.cwd);
    dag_task_clear(&o);
    assert_int_equal(bind(state, "process", "{\"skip_on_exit_code\": 7}", &o, &e), 0);
    assert_int_equal(o.n_skip_on_exit_code, 1);
    assert_int_equal(o.skip_on_exit_code[0], 7);
    dag_task_clear(&o);
}

static void
test_bind_bash_errors(void **state)
{
    expect_bind_error(state, "process", "{\"bash_command\": {\"a\": 1}}",
                      "task 'process': mapped argument 'bash_command' must be a string, not an "
                      "object");
    expect_bind_error(state, "process", "{\"bash_command\": null}",
                      "task 'process': mapped argument 'bash_command' must be a string, not null");
    expect_bind_error(state, "process", "{\"bash_command\": \"  \"}",
                      "task 'process': mapped argument 'bash_command' is empty");
    expect_bind_error(state, "process", "{\"env\": \"A=1\"}",
                      "task 'process': mapped argument 'env' must be an object of name: value, "
                      "not a string");
    expect_bind_error(state, "process", "{\"env\": {\"A\": [1]}}",
                      "task 'process': mapped argument 'env': A is a list, not a string");
    expect_bind_error(state, "process", "{\"append_env\": \"yes\"}",
                      "task 'process': mapped argument 'append_env' must be true or false, not a "
                      "string");
    expect_bind_error(state, "process", "{\"skip_on_exit_code\": [1, \"2\"]}",
                      "task 'process': mapped argument 'skip_on_exit_code' must be an exit code "
                      "(0 to 255) or a list of them, not a string");
    expect_bind_error(state, "process", "{\"skip_on_exit_code\": -1}",
                      "task 'process': mapped argument 'skip_on_exit_code': -1 is not an exit "
                      "code (0 to 255)");
    expect_bind_error(state, "process", "{\"bash_command\": \"ok\", \"retries\": 3}",
                      "task 'process': 'retries' is not an argument BashOperator can map (it "
                      "maps: bash_command, env, cwd, append_env, skip_on_exit_code, doc, doc_md, "
                      "doc_json, doc_yaml, doc_rst)");
    expect_bind_error(state, "process", "[1]",
                      "task 'process': the arguments of an instance must be an object, not a "
                      "list");
}

static void
test_bind_kpo(void **state)
{
    struct dag_task o;
    struct err e = {0};

    assert_int_equal(bind(state, "pod",
                          "{\"arguments\": [\"--day\", 1, false], \"env_vars\": {\"X\": \"y\"}, "
                          "\"image\": \"alpine:3\", \"name\": \"p-1\", \"cmds\": [\"/bin/x\"]}",
                          &o, &e),
                     0);
    assert_int_equal(o.n_arguments, 3);
    assert_string_equal(o.arguments[1], "1");
    assert_string_equal(o.arguments[2], "false");
    assert_int_equal(o.n_cmds, 1);
    assert_string_equal(o.cmds[0], "/bin/x");
    assert_string_equal(o.image, "alpine:3");
    assert_string_equal(o.name, "p-1");
    assert_string_equal(o.env[0].key, "X");
    dag_task_clear(&o);
    expect_bind_error(state, "pod", "{\"cmds\": []}",
                      "task 'pod': mapped argument 'cmds' must be a non-empty list of strings, "
                      "not a list");
    expect_bind_error(state, "pod", "{\"arguments\": \"--day 1\"}",
                      "task 'pod': mapped argument 'arguments' must be a list of strings, not a "
                      "string");
    expect_bind_error(state, "pod", "{\"arguments\": [\"a\", {}]}",
                      "task 'pod': mapped argument 'arguments': item 1 is an object, not a "
                      "string");
    expect_bind_error(state, "pod", "{\"bash_command\": \"x\"}",
                      "task 'pod': 'bash_command' is not an argument KubernetesPodOperator can "
                      "map (it maps: skip_on_exit_code, cmds, arguments, image, name, namespace, "
                      "env_vars, doc, doc_md, doc_json, doc_yaml, doc_rst)");
}

static void
test_bind_trigger_and_empty(void **state)
{
    struct dag_task o;
    struct err e = {0};

    assert_int_equal(bind(state, "kick",
                          "{\"trigger_dag_id\": \"child\", \"conf\": {\"n\": 1, \"l\": [true]}}",
                          &o, &e),
                     0);
    assert_string_equal(o.trigger_dag_id, "child");
    assert_string_equal(o.conf_json, "{\"n\":1,\"l\":[true]}");
    dag_task_clear(&o);
    expect_bind_error(state, "kick", "{\"conf\": [1]}",
                      "task 'kick': mapped argument 'conf' must be an object, not a list");
    expect_bind_error(state, "kick", "{\"trigger_dag_id\": null}",
                      "task 'kick': mapped argument 'trigger_dag_id' must be a string, not null");
    assert_int_equal(bind(state, "marks", "{\"doc\": \"anything\"}", &o, &e), 0);
    assert_int_equal(o.op, OP_EMPTY);
    dag_task_clear(&o);
}

static void
test_bind_sql(void **state)
{
    struct dag_task o;
    struct err e = {0};

    assert_int_equal(bind(state, "query",
                          "{\"sql\": [\"SELECT %s\", \"SELECT 2\"], \"parameters\": [1], "
                          "\"conn_id\": \"other\", \"database\": \"db2\"}",
                          &o, &e),
                     0);
    assert_int_equal(o.sql->n_sql, 2);
    assert_true(o.sql->sql_is_list);
    assert_null(o.sql->sql_file[1]);
    assert_string_equal(o.sql->sql[0], "SELECT %s");
    assert_string_equal(o.sql->parameters_json, "[1]");
    assert_true(o.sql->parameters_templated);
    assert_string_equal(o.sql->conn_id, "other");
    assert_string_equal(o.sql->database, "db2");
    assert_string_equal(task(state, "query")->sql->conn_id, "wh"); /* unchanged */
    dag_task_clear(&o);
    assert_int_equal(bind(state, "query", "{\"sql\": \"SELECT 3\"}", &o, &e), 0);
    assert_int_equal(o.sql->n_sql, 1);
    assert_false(o.sql->sql_is_list);
    dag_task_clear(&o);
    assert_int_equal(
        bind(state, "table", "{\"table\": \"t2\", \"partition_clause\": \"d = 1\"}", &o, &e), 0);
    assert_string_equal(o.sql->table, "t2");
    assert_string_equal(o.sql->partition_clause, "d = 1");
    assert_string_equal(o.sql->checks_json, task(state, "table")->sql->checks_json);
    dag_task_clear(&o);
    expect_bind_error(state, "check", "{\"sql\": [\"SELECT 1\"]}",
                      "task 'check': mapped argument 'sql' must be a string (this operator takes "
                      "one statement), not a list");
    expect_bind_error(state, "query", "{\"sql\": \"x/y.sql\"}",
                      "task 'query': mapped sql 'x/y.sql' names a template file, which gust finds "
                      "only when the DAG loads: map over the statement text, or put the file in "
                      "partial");
    expect_bind_error(state, "query", "{\"sql\": [\"SELECT 1\", \" \"]}",
                      "task 'query': mapped sql statement 1 is empty");
    expect_bind_error(state, "query", "{\"parameters\": \"1\"}",
                      "task 'query': mapped argument 'parameters' must be a list or an object, not "
                      "a string");
    expect_bind_error(state, "table", "{\"partition_clause\": \"d = 1; DROP TABLE t\"}",
                      "task 'table': mapped partition_clause must not contain ';'");
    expect_bind_error(state, "table", "{\"sql\": \"SELECT 1\"}",
                      "task 'table': 'sql' is not an argument SQLTableCheckOperator can map (it "
                      "maps: conn_id, database, table, partition_clause, doc, doc_md, doc_json, "
                      "doc_yaml, doc_rst)");
}

/* An expand_kwargs item binds all its arguments; one that leaves out a required argument
 * makes no instance. */
static void
test_bind_kwargs(void **state)
{
    struct dag_task o;
    struct err e = {0};

    assert_int_equal(bind(state, "kw", "{\"bash_command\": \"b\", \"cwd\": \"/x\"}", &o, &e), 0);
    assert_string_equal(o.bash_command, "b");
    assert_string_equal(o.cwd, "/x");
    dag_task_clear(&o);
    expect_bind_error(state, "kw", "{\"cwd\": \"/x\"}",
                      "task 'kw': the instance has no bash_command, which BashOperator needs: "
                      "give it on the task, in partial, or in every expand_kwargs item");
}

/* Every instance of a literal mapping binds, and the instances free cleanly. */
static void
test_bind_every_instance(void **state)
{
    const struct dag_task *l = task(state, "literal");
    json_t *src = json_incref(l->map->args[0].items), *v;
    struct dag_task o;
    struct err e = {0};
    size_t n;

    assert_int_equal(dag_map_length(l, &src, &n, &e), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dag_map_values(l, &src, i, &v, &e), 0);
        assert_int_equal(dag_task_bind(l, v, &o, &e), 0);
        assert_int_equal(o.bash_command[strlen(o.bash_command) - 1], "abc"[i]);
        dag_task_clear(&o);
        json_decref(v);
    }
    json_decref(src);
    /* the loaded list is shared by every try: binding left it as it was */
    assert_string_equal(literal_text(&l->map->args[0]), "[\"echo a\",\"echo b\",\"echo c\"]");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_map),
        cmocka_unit_test(test_length_literal_and_xcom),
        cmocka_unit_test(test_cross_product),
        cmocka_unit_test(test_kwargs),
        cmocka_unit_test(test_length_errors),
        cmocka_unit_test(test_bind_bash),
        cmocka_unit_test(test_bind_bash_errors),
        cmocka_unit_test(test_bind_kpo),
        cmocka_unit_test(test_bind_trigger_and_empty),
        cmocka_unit_test(test_bind_sql),
        cmocka_unit_test(test_bind_kwargs),
        cmocka_unit_test(test_bind_every_instance),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_dagfile: unit tests of the DAG loader's API (the data-driven cases live in
 * test_dagfile_cases.c): lookups, load_string, diagnostics, partial results, hostile input
 * (deep nesting, alias bombs), a 1,000-task chain that must not overflow the stack, and the
 * folder fingerprint seeing what the load sees (files behind links). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "loop/loop.h"

static struct dagbag *
load(const char *text)
{
    struct dagbag *bag = dagbag_new();

    assert_non_null(bag);
    dagbag_load_string(bag, "t.yaml", text, strlen(text));
    return bag;
}

static size_t
count_level(const struct dagbag *bag, enum diag_level level)
{
    size_t n = 0;

    for (size_t i = 0; i < bag->n_diags; i++)
        n += bag->diags[i].level == level;
    return n;
}

static void
test_find(void **state)
{
    (void)state;
    struct dagbag *bag = load("b_dag:\n"
                              "  task_groups: [{group_name: g}]\n"
                              "  tasks:\n"
                              "    - {task_id: x, operator: a.EmptyOperator, task_group_name: g}\n"
                              "a_dag:\n"
                              "  tasks: {y: {operator: a.EmptyOperator}}\n");
    assert_int_equal(bag->n_dags, 2);
    assert_string_equal(bag->dags[0]->dag_id, "a_dag"); /* sorted */
    const struct dag *d = dagbag_find(bag, "b_dag");
    assert_non_null(d);
    assert_null(dagbag_find(bag, "c_dag"));
    assert_null(dagbag_find(bag, NULL));
    assert_non_null(dag_find_task(d, "g.x"));
    assert_string_equal(dag_find_task(d, "g.x")->group_id, "g");
    assert_null(dag_find_task(d, "x")); /* full ids only */
    assert_null(dag_find_task(NULL, "g.x"));
    assert_int_equal(dag_find_task(d, "g.x")->op, OP_EMPTY);
    assert_string_equal(op_kind_name(OP_KPO), "KubernetesPodOperator");
    dagbag_free(bag);
}

static void
test_diag_format(void **state)
{
    (void)state;
    char buf[128];
    struct dag_diag d = {DIAG_ERROR, "f.yaml", 3, 7, "x", "bad thing"};

    dag_diag_format(&d, buf, sizeof(buf));
    assert_string_equal(buf, "f.yaml:3:7: error: bad thing");
    d.level = DIAG_WARNING;
    d.line = d.col = 0;
    dag_diag_format(&d, buf, sizeof(buf));
    assert_string_equal(buf, "f.yaml: warning: bad thing");
    dag_diag_format(&d, buf, 8); /* truncated, still terminated */
    assert_string_equal(buf, "f.yaml:");
}

static void
test_partial_results(void **state)
{
    (void)state;
    struct dagbag *bag = load("good:\n"
                              "  tasks: [{task_id: a, operator: x.EmptyOperator}]\n"
                              "bad:\n"
                              "  tasks: [{task_id: a, operator: x.PythonOperator}]\n");
    assert_int_equal(bag->n_dags, 1);
    assert_non_null(dagbag_find(bag, "good"));
    assert_int_equal(count_level(bag, DIAG_ERROR), 1);
    assert_string_equal(bag->diags[0].dag_id, "bad");
    assert_int_equal(bag->diags[0].line, 4);
    assert_non_null(strstr(bag->diags[0].msg, "x.PythonOperator"));
    /* A second load of the same text: every DAG id is now a duplicate. */
    assert_int_equal(dagbag_load_string(bag, "u.yaml", "good: {tasks: []}\n", 18), 1);
    assert_int_equal(bag->n_dags, 1);
    assert_string_equal(bag->diags[1].file, "u.yaml");
    dagbag_free(bag);
    dagbag_free(NULL);
}

static void
test_syntax_error_place(void **state)
{
    (void)state;
    struct dagbag *bag = load("a:\n  tasks: [\n");

    assert_int_equal(bag->n_dags, 0);
    assert_int_equal(bag->n_diags, 1);
    assert_int_equal(bag->diags[0].level, DIAG_ERROR);
    assert_int_equal(bag->diags[0].line, 3);
    assert_null(bag->diags[0].dag_id);
    dagbag_free(bag);
}

static void
test_unreadable(void **state)
{
    (void)state;
    struct dagbag *bag = dagbag_new();
    struct err e = {0};

    assert_int_equal(dagbag_load_file(bag, "/nonexistent/x.yaml"), 1);
    assert_int_equal(bag->diags[0].line, 0);
    assert_int_equal(dagbag_load_folder(bag, "/nonexistent-folder", &e), -1);
    assert_int_equal(e.code, ERR_IO);
    dagbag_free(bag);
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The fingerprint walks the folder as the load does: a DAG file reached through a link (to a
 * file or to a folder) counts, so editing it is noticed; a link loop ends. */
static void
test_fingerprint_follows_links(void **state)
{
    (void)state;
    char dir[] = "/tmp/gust-fp-XXXXXX", path[256], target[256];
    const char *dag = "d:\n  tasks:\n    - task_id: t\n      operator: "
                      "airflow.operators.empty.EmptyOperator\n";
    unsigned long long before, after;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dags", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/outside", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(target, sizeof(target), "%s/outside/x.yaml", dir);
    write_text(target, dag);
    snprintf(path, sizeof(path), "%s/dags/linked", dir);
    assert_int_equal(symlink("../outside", path), 0);
    snprintf(path, sizeof(path), "%s/dags/loop", dir);
    assert_int_equal(symlink(".", path), 0);
    snprintf(path, sizeof(path), "%s/dags", dir);
    before = loop_folder_fingerprint(path);
    assert_true(before != 0);
    write_text(target, "changed: {}\n# a different size\n");
    after = loop_folder_fingerprint(path);
    assert_true(after != 0 && after != before);

    struct dagbag *bag = dagbag_new();
    struct err e = {0};
    assert_int_equal(dagbag_load_folder(bag, path, &e), 0);
    assert_non_null(dagbag_find(bag, "changed")); /* the file under the link, read once */
    assert_int_equal(bag->n_dags, 1);
    dagbag_free(bag);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* n tasks t0 <- t1 <- ... (each depends on the previous); closing makes t0 depend on the last. */
static char *
chain_yaml(int n, int closing)
{
    size_t cap = (size_t)n * 120 + 64, len = 0;
    char *s = malloc(cap);

    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len, "chain:\n  tasks:\n");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, cap - len,
                                "    - {task_id: t%d, operator: a.EmptyOperator", i);
        if (i > 0 || closing)
            len += (size_t)snprintf(s + len, cap - len, ", dependencies: [t%d]",
                                    i > 0 ? i - 1 : n - 1);
        len += (size_t)snprintf(s + len, cap - len, "}\n");
    }
    return s;
}

static void
test_long_chain(void **state)
{
    (void)state;
    char *text = chain_yaml(1000, 0);
    struct dagbag *bag = load(text);

    assert_int_equal(bag->n_diags, 0);
    const struct dag *d = dagbag_find(bag, "chain");
    assert_non_null(d);
    assert_int_equal(d->n_tasks, 1000);
    assert_int_equal(d->tasks[999].n_upstream, 1);
    assert_string_equal(d->tasks[999].upstream[0], "t998");
    /* resolved at load: indices both ways and the id lookup */
    assert_int_equal(d->tasks[999].upstream_idx[0], 998);
    assert_int_equal(d->tasks[998].n_downstream, 1);
    assert_int_equal(d->tasks[998].downstream_idx[0], 999);
    assert_int_equal(d->tasks[999].n_downstream, 0);
    assert_int_equal(dag_task_index(d, "t500"), 500);
    assert_int_equal(dag_task_index(d, "t1000"), -1);
    dagbag_free(bag);
    free(text);
}

static void
test_long_cycle(void **state)
{
    (void)state;
    char *text = chain_yaml(1000, 1);
    struct dagbag *bag = load(text);

    assert_int_equal(bag->n_dags, 0);
    assert_int_equal(count_level(bag, DIAG_ERROR), 1);
    assert_true(strncmp(bag->diags[0].msg, "cycle: t0 -> t1 -> t2 -> ", 25) == 0);
    assert_non_null(strstr(bag->diags[0].msg, "t999 -> t0"));
    dagbag_free(bag);
    free(text);
}

static void
test_hostile_yaml(void **state)
{
    (void)state;
    char *deep = malloc(20002);
    struct dagbag *bag;

    assert_non_null(deep);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    bag = load(deep);
    assert_int_equal(bag->n_diags, 1);
    assert_non_null(strstr(bag->diags[0].msg, "nesting"));
    dagbag_free(bag);
    free(deep);

    bag = load("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
               "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
               "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n");
    assert_int_equal(bag->n_dags, 0);
    assert_int_equal(count_level(bag, DIAG_ERROR), 1);
    assert_non_null(strstr(bag->diags[0].msg, "too large"));
    dagbag_free(bag);

    bag = load("a: &x [*x]\n");
    assert_int_equal(count_level(bag, DIAG_ERROR), 1);
    dagbag_free(bag);
}

/* A SQL task's connection known when the DAG loads (AIRFLOW_CONN_<ID> in the environment)
 * must parse and be postgres; one that is not there yet (the metadata database, a
 * templated id) is left to the run. The messages never show the password. */
static void
test_sql_env_connections(void **state)
{
    (void)state;
    const char *text =
        "d:\n"
        "  default_args: {conn_id: gust_t_pg}\n"
        "  tasks:\n"
        "    - {task_id: pg, operator: airflow.providers.common.sql.operators.sql."
        "SQLExecuteQueryOperator, sql: SELECT 1}\n"
        "    - {task_id: absent, operator: airflow.providers.common.sql.operators.sql."
        "SQLExecuteQueryOperator, sql: SELECT 1, conn_id: gust_t_absent}\n"
        "    - {task_id: tmpl, operator: airflow.providers.common.sql.operators.sql."
        "SQLExecuteQueryOperator, sql: SELECT 1, conn_id: \"{{ dag_run.conf.get('c', 'x') }}\"}\n"
        "e:\n"
        "  tasks:\n"
        "    - {task_id: my, operator: airflow.providers.common.sql.operators.sql.SQLCheckOperator,"
        " sql: SELECT 1, conn_id: gust_t_mysql}\n"
        "    - {task_id: bad, operator: "
        "airflow.providers.common.sql.operators.sql.SQLCheckOperator,"
        " sql: SELECT 1, conn_id: gust_t_bad}\n";
    struct dagbag *bag;
    char line[512];

    setenv("AIRFLOW_CONN_GUST_T_PG", "postgresql://u:pw1@db.example:5432/x", 1);
    setenv("AIRFLOW_CONN_GUST_T_MYSQL", "mysql://u:pw2@db.example:3306/x", 1);
    setenv("AIRFLOW_CONN_GUST_T_BAD", "{\"conn_type\": \"postgres\", \"password\": \"pw3\"", 1);
    unsetenv("AIRFLOW_CONN_GUST_T_ABSENT");
    bag = load(text);
    assert_non_null(dagbag_find(bag, "d"));
    assert_null(dagbag_find(bag, "e"));
    assert_int_equal(count_level(bag, DIAG_ERROR), 2);
    for (size_t i = 0; i < bag->n_diags; i++) {
        dag_diag_format(&bag->diags[i], line, sizeof(line));
        assert_null(strstr(line, "pw"));
        if (strstr(line, "'my'"))
            assert_non_null(strstr(line, "connection 'gust_t_mysql' (from the environment) is of "
                                         "type 'mysql'"));
        else
            assert_non_null(strstr(line, "task 'bad': AIRFLOW_CONN_GUST_T_BAD"));
    }
    unsetenv("AIRFLOW_CONN_GUST_T_PG");
    unsetenv("AIRFLOW_CONN_GUST_T_MYSQL");
    unsetenv("AIRFLOW_CONN_GUST_T_BAD");
    dagbag_free(bag);
}

static void
test_canonical_empty(void **state)
{
    (void)state;
    struct dagbag *bag = dagbag_new();
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    dagbag_write_canonical(bag, f);
    fclose(f);
    assert_string_equal(out, "diagnostics: 0\n");
    free(out);
    dagbag_free(bag);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_diag_format),
        cmocka_unit_test(test_partial_results),
        cmocka_unit_test(test_syntax_error_place),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_long_chain),
        cmocka_unit_test(test_long_cycle),
        cmocka_unit_test(test_hostile_yaml),
        cmocka_unit_test(test_canonical_empty),
        cmocka_unit_test(test_sql_env_connections),
        cmocka_unit_test(test_fingerprint_follows_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

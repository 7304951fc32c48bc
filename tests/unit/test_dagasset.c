/* test_dagasset: assets on the DAG loader side (dagfile_asset.c, dagfile_assetload.c).
 *
 * dag-factory's condition strings: `&` before `|`, left to right, parentheses, names and URIs
 * as operands, and each error with its offset; asset_cond_eval over every combination of
 * pending assets; asset_cond_text in Airflow's form; the YAML forms loaded from strings
 * (outlets, inlets, list and nested schedules) with dag_assets listing each URI once; errors
 * at their line:col; a mapped task's instance owning copies of its outlets (ASan checks the
 * frees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile_int.h"

/* The text of the condition parsed from s (asserting it parses). */
static char *
parsed_text(const char *s)
{
    struct asset_cond c;
    char msg[256] = "";
    size_t at = 0;
    char *t;

    if (dagfile_cond_parse(s, NULL, NULL, &c, &at, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "'%s': at %zu: %s\n", s, at, msg);
        fail();
    }
    t = asset_cond_text(&c);
    asset_cond_clear(&c);
    assert_non_null(t);
    return t;
}

static void
expect_text(const char *s, const char *want)
{
    char *t = parsed_text(s);

    if (strcmp(t, want) != 0) {
        fprintf(stderr, "'%s' gave '%s', want '%s'\n", s, t, want);
        fail();
    }
    free(t);
}

static void
test_precedence(void **state)
{
    (void)state;
    expect_text("a", "a");
    expect_text("a & b", "a & b");
    expect_text("a | b & c", "a | (b & c)");
    expect_text("a & b | c", "(a & b) | c");
    expect_text("a & b & c | d", "(a & b & c) | d");
    expect_text("a & (b | c)", "a & (b | c)");
    expect_text("((a))", "a");
    expect_text("(a & b) & c", "a & b & c"); /* flattened, as Airflow's AssetAll & x */
    expect_text("a | (b | c) | d", "a | b | c | d");
    expect_text("((s3://b/x_1 & s3://b/x_2) | s3://b/x_3)",
                "(s3://b/x_1 & s3://b/x_2) | s3://b/x_3");
    expect_text("  a\t&\nb  ", "a & b");
    expect_text("a|b&c", "a | (b & c)");
    expect_text("file:///tmp/data.csv & x-y.z+1://h/p", "file:///tmp/data.csv & x-y.z+1://h/p");
}

static void
expect_error(const char *s, size_t want_at, const char *want_msg)
{
    struct asset_cond c;
    char msg[512] = "";
    size_t at = 999;

    if (dagfile_cond_parse(s, NULL, NULL, &c, &at, msg, sizeof(msg)) == 0) {
        fprintf(stderr, "'%s' parsed\n", s);
        asset_cond_clear(&c);
        fail();
    }
    if (at != want_at || strstr(msg, want_msg) == NULL) {
        fprintf(stderr, "'%s': at %zu '%s', want at %zu '%s'\n", s, at, msg, want_at, want_msg);
        fail();
    }
}

static void
test_parse_errors(void **state)
{
    (void)state;
    expect_error("", 0, "ends where an asset is expected");
    expect_error("a &", 3, "ends where an asset is expected");
    expect_error("a & & b", 4, "'&' where an asset is expected");
    expect_error("(a | b", 0, "this ( is never closed");
    expect_error("a | b)", 5, "expected & or | here");
    expect_error("a b", 2, "expected & or | here");
    expect_error("(a b)", 3, "expected & | or ) here");
    expect_error("a and b", 2, "write & for and");
    expect_error("not a", 0, "write & for and");
    expect_error("a | None", 4, "Python keyword");
    expect_error("a ^ b", 2, "expected & or | here, not '^ b'");
    expect_error("a & ^b", 4, "neither a name");
    expect_error("s3://b/x?v=1", 0, "neither a name");
    expect_error("postgres://host:5432/db", 0, "neither a name");
    expect_error("1abc", 0, "neither a name");
    expect_error("airflow://x | b", 0, "scheme 'airflow' is reserved");
    expect_error("()", 1, "')' where an asset is expected");
}

static void
test_deep_nesting(void **state)
{
    char deep[200];

    (void)state;
    memset(deep, '(', 70);
    strcpy(deep + 70, "a");
    memset(deep + 71, ')', 70);
    deep[141] = '\0';
    expect_error(deep, 64, "more than 64 nested parentheses");
    memset(deep, '(', 10);
    strcpy(deep + 10, "a");
    memset(deep + 11, ')', 10);
    deep[21] = '\0';
    expect_text(deep, "a");
}

/* A resolver from names to URIs, as a datasets file gives. */
static int
resolve(void *arg, const char *operand, char **uri, char *msg, size_t size)
{
    (void)arg;
    if (strcmp(operand, "orders") == 0)
        return (*uri = strdup("s3://b/orders")) ? 0 : -1;
    snprintf(msg, size, "'%s' is not a name in the file", operand);
    return -1;
}

static void
test_resolve(void **state)
{
    struct asset_cond c;
    char msg[256], *t;
    size_t at;

    (void)state;
    assert_int_equal(dagfile_cond_parse("(orders)", resolve, NULL, &c, &at, msg, sizeof(msg)), 0);
    t = asset_cond_text(&c);
    assert_string_equal(t, "s3://b/orders");
    assert_string_equal(c.asset.name, "s3://b/orders");
    assert_string_equal(c.asset.group, "asset");
    assert_ptr_equal(c.uri, c.asset.uri);
    free(t);
    asset_cond_clear(&c);
    assert_int_equal(dagfile_cond_parse("orders | users", resolve, NULL, &c, &at, msg, sizeof(msg)),
                     -1);
    assert_int_equal(at, 9);
    assert_string_equal(msg, "'users' is not a name in the file");
}

/* pending: the URIs whose bit is set in *arg ("a" bit 0, "b" bit 1...). */
static bool
pending_bits(const char *uri, void *arg)
{
    unsigned bits = *(unsigned *)arg;
    return uri[0] >= 'a' && uri[0] <= 'z' && uri[1] == '\0' && (bits >> (uri[0] - 'a')) & 1u;
}

static void
test_eval(void **state)
{
    struct asset_cond c;
    char msg[256];
    size_t at;

    (void)state;
    assert_int_equal(dagfile_cond_parse("(a & b) | c", NULL, NULL, &c, &at, msg, sizeof(msg)), 0);
    for (unsigned bits = 0; bits < 8; bits++) {
        bool a = bits & 1, b = bits & 2, cc = bits & 4;
        assert_int_equal(asset_cond_eval(&c, pending_bits, &bits), (a && b) || cc);
    }
    asset_cond_clear(&c);
    assert_int_equal(dagfile_cond_parse("a & (b | c) & d", NULL, NULL, &c, &at, msg, sizeof(msg)),
                     0);
    for (unsigned bits = 0; bits < 16; bits++) {
        bool a = bits & 1, b = bits & 2, cc = bits & 4, d = bits & 8;
        assert_int_equal(asset_cond_eval(&c, pending_bits, &bits), a && (b || cc) && d);
    }
    asset_cond_clear(&c);
    /* an empty all / any never holds; NULL never holds */
    struct asset_cond empty = {.kind = ASSET_COND_ALL};
    unsigned all = ~0u;
    assert_false(asset_cond_eval(&empty, pending_bits, &all));
    assert_false(asset_cond_eval(NULL, pending_bits, &all));
}

static struct dagbag *
load(const char *y)
{
    struct dagbag *bag = dagbag_new();

    assert_non_null(bag);
    dagbag_load_string(bag, "a.yaml", y, strlen(y));
    return bag;
}

static const struct dag *
find(const struct dagbag *bag, const char *id)
{
    for (size_t i = 0; i < bag->n_dags; i++)
        if (strcmp(bag->dags[i]->dag_id, id) == 0)
            return bag->dags[i];
    return NULL;
}

#define BASH "airflow.operators.bash.BashOperator"

static void
test_load_forms(void **state)
{
    static const char y[] =
        "p:\n"
        "  tasks:\n"
        "    t:\n"
        "      operator: " BASH "\n"
        "      bash_command: echo\n"
        "      outlets: [s3://x/a, {__type__: airflow.sdk.Asset, uri: s3://x/b, name: b}]\n"
        "      inlets: [s3://x/a]\n"
        "c:\n"
        "  schedule: [s3://x/a, {__type__: airflow.sdk.Asset, uri: s3://x/c}]\n"
        "  tasks:\n"
        "    t: {operator: airflow.operators.empty.EmptyOperator}\n"
        "n:\n"
        "  schedule:\n"
        "    __or__:\n"
        "      - __and__: [{__type__: airflow.sdk.Asset, uri: s3://x/a},\n"
        "                  {__type__: airflow.datasets.Dataset, uri: s3://x/b}]\n"
        "      - {__type__: airflow.sdk.Asset, uri: s3://x/c}\n";
    struct dagbag *bag = load(y);
    const struct dag *p, *c, *n;
    const struct dag_asset **all;
    size_t na;
    char *t;

    (void)state;
    assert_int_equal(bag->n_diags, 0);
    assert_non_null(p = find(bag, "p"));
    assert_non_null(c = find(bag, "c"));
    assert_non_null(n = find(bag, "n"));
    assert_null(p->asset_schedule);
    assert_int_equal(p->tasks[0].n_outlets, 2);
    assert_string_equal(p->tasks[0].outlets[1].name, "b");
    assert_int_equal(p->tasks[0].n_inlets, 1);
    assert_int_equal(dag_assets(p, &all, &na), 0);
    assert_int_equal(na, 2); /* s3://x/a once, though outlet and inlet */
    assert_string_equal(all[0]->uri, "s3://x/a");
    assert_string_equal(all[1]->uri, "s3://x/b");
    free(all);
    assert_int_equal(c->asset_schedule->kind, ASSET_COND_ALL);
    assert_int_equal(c->schedule.kind, SCHED_NONE);
    assert_false(c->asset_or_time);
    t = asset_cond_text(n->asset_schedule);
    assert_string_equal(t, "(s3://x/a & s3://x/b) | s3://x/c");
    free(t);
    assert_int_equal(dag_assets(n, &all, &na), 0);
    assert_int_equal(na, 3);
    free(all);
    dagbag_free(bag);
}

/* The first diagnostic as "line:col: msg". */
static void
expect_diag(const char *y, const char *want)
{
    struct dagbag *bag = load(y);
    char got[1024] = "(none)";

    for (size_t i = 0; i < bag->n_diags; i++)
        if (bag->diags[i].level == DIAG_ERROR) {
            snprintf(got, sizeof(got), "%d:%d: %s", bag->diags[i].line, bag->diags[i].col,
                     bag->diags[i].msg);
            break;
        }
    if (strstr(got, want) == NULL) {
        fprintf(stderr, "%s\ngot:  %s\nwant: %s\n", y, got, want);
        fail();
    }
    assert_int_equal(bag->n_dags, 0);
    dagbag_free(bag);
}

static void
test_load_errors(void **state)
{
    (void)state;
    /* the column of the problem inside a condition string (quoted: after the quote) */
    expect_diag("d:\n  schedule:\n    datasets: \"a & (b | c\"\n",
                "3:20: schedule: this ( is never closed");
    expect_diag("d:\n  schedule:\n    datasets: a and b\n", "3:17: schedule: 'and'");
    expect_diag("d:\n  schedule: [airflow://x]\n", "2:14: schedule: 'airflow://x': the URI scheme");
    expect_diag("d:\n  schedule: [\"  \", null]\n", "2:13: schedule: no asset in this list");
    expect_diag("d:\n  schedule:\n    __or__: [s3://a, s3://b]\n",
                "3:14: schedule: 's3://a' is a string here");
    expect_diag("d:\n  schedule: {__type__: airflow.sdk.AssetAlias, name: x}\n",
                "2:13: schedule: airflow.sdk.AssetAlias is not supported");
    expect_diag("d:\n  schedule:\n    __type__: airflow.sdk.Asset\n    uri: s3://a\n"
                "    watchers: []\n",
                "5:5: schedule: airflow.sdk.Asset: watchers are not supported");
    expect_diag("d:\n  schedule: {assets: [s3://a]}\n",
                "2:13: schedule: dag-factory has no assets");
    expect_diag("d:\n  schedule: {datasets: a, timetable: \"@daily\"}\n",
                "2:38: schedule: timetable must be one of Airflow's timetables");
    expect_diag("d:\n  schedule: {file: nowhere.yml, datasets: [a]}\n",
                "2:20: schedule: cannot read the datasets file 'nowhere.yml'");
    expect_diag("d:\n  schedule: {file: ., datasets: a}\n",
                "2:20: schedule: cannot read the datasets file '.': Is a directory");
    expect_diag("d:\n  tasks:\n    t:\n      operator: " BASH "\n      bash_command: x\n"
                "      outlets: s3://a\n",
                "6:16: task 't': outlets must be a list");
    expect_diag("d:\n  tasks:\n    t:\n      operator: " BASH "\n      bash_command: x\n"
                "      outlets: [{__type__: airflow.sdk.Asset, name: self}]\n",
                "6:53: task 't': outlets: airflow.sdk.Asset: 'self' is a name Airflow prohibits");
    expect_diag("d:\n  tasks:\n    t:\n      operator: " BASH "\n      bash_command: x\n"
                "      outlets: [{__type__: airflow.sdk.Asset, uri: \"\"}]\n",
                "airflow.sdk.Asset: the asset's uri cannot be empty");
    expect_diag("d:\n  tasks:\n    t:\n      operator: " BASH "\n      bash_command: x\n"
                "      inlets: [{__type__: airflow.datasets.DatasetAlias, name: x}]\n",
                "6:16: task 't': inlets: airflow.datasets.DatasetAlias is not supported");
    expect_diag(
        "d:\n  default_args:\n    outlets: [s3://a]\n  tasks:\n    t:\n      operator: " BASH
        "\n      bash_command: x\n",
        "3:15: task 't': outlets: 's3://a' is a string here: dag-factory turns URI");
}

static void
test_mapped_copy(void **state)
{
    static const char y[] = "m:\n"
                            "  tasks:\n"
                            "    t:\n"
                            "      operator: " BASH "\n"
                            "      outlets: [s3://x/a]\n"
                            "      expand: {bash_command: [\"echo 1\", \"echo 2\"]}\n";
    struct dagbag *bag = load(y);
    struct dag_task inst;
    struct err e = {0};
    json_t *v = json_pack("{s:s}", "bash_command", "echo 1");

    (void)state;
    assert_int_equal(bag->n_dags, 1);
    const struct dag_task *t = &bag->dags[0]->tasks[0];
    assert_int_equal(dag_task_bind(t, v, &inst, &e), 0);
    assert_int_equal(inst.n_outlets, 1);
    assert_ptr_not_equal(inst.outlets, t->outlets);
    assert_string_equal(inst.outlets[0].uri, "s3://x/a");
    dag_task_clear(&inst); /* the instance's copy; the task keeps its own */
    assert_string_equal(t->outlets[0].uri, "s3://x/a");
    json_decref(v);
    dagbag_free(bag);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),   cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_deep_nesting), cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_eval),         cmocka_unit_test(test_load_forms),
        cmocka_unit_test(test_load_errors),  cmocka_unit_test(test_mapped_copy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

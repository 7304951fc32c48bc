/* Unit tests for tasks/lib/sqlcheck and sqlspec: Python's float() and repr(float) (expected
 * values printed by python3), bool() of each kind of value, the decisions of SQLCheckOperator,
 * SQLValueCheckOperator, SQLColumnCheckOperator (_column_mapping_validation, _get_match),
 * SQLTableCheckOperator and BranchSQLOperator as the provider's source has them, the SQL the
 * column and table checks build, and spec files: each malformed key an error naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlcheck.h"
#include "sqlspec.h"

#define V(k, t) ((struct sqlval){(k), (t)})

static void
test_parse_float(void **state)
{
    static const struct {
        const char *s;
        int ok;
        double v;
    } cases[] = {
        {" 5 ", 0, 5},     {"1_000", 0, 1000}, {"1e3", 0, 1000}, {".5", 0, 0.5},    {"5.", 0, 5},
        {"-2.5", 0, -2.5}, {"1__0", -1, 0},    {"_1", -1, 0},    {"0x10", -1, 0},   {"", -1, 0},
        {"1.5.2", -1, 0},  {"abc", -1, 0},     {"5 5", -1, 0},   {"nan(1)", -1, 0},
    };
    double d;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = sqlcheck_parse_float(cases[i].s, &d);
        if (rc != cases[i].ok)
            fail_msg("float('%s'): rc %d, want %d", cases[i].s, rc, cases[i].ok);
        if (rc == 0 && d != cases[i].v)
            fail_msg("float('%s') = %g, want %g", cases[i].s, d, cases[i].v);
    }
    assert_int_equal(sqlcheck_parse_float("inf", &d), 0);
    assert_true(isinf(d) && d > 0);
    assert_int_equal(sqlcheck_parse_float("-Infinity", &d), 0);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(sqlcheck_parse_float("NaN", &d), 0);
    assert_true(isnan(d));
}

static void
test_float_repr(void **state)
{
    /* python3 -c 'print(repr(v))' for each */
    static const struct {
        double v;
        const char *repr;
    } cases[] = {
        {0.1, "0.1"},
        {1.0, "1.0"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {1.5e-7, "1.5e-07"},
        {0.0001, "0.0001"},
        {2.5, "2.5"},
        {100.0, "100.0"},
        {1.0 / 3, "0.3333333333333333"},
    };
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sqlcheck_float_repr(cases[i].v, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].repr);
    }
    sqlcheck_float_repr(NAN, buf, sizeof(buf));
    assert_string_equal(buf, "nan");
}

static void
test_truthy(void **state)
{
    (void)state;
    assert_false(sqlval_truthy(&V(SQLV_NULL, NULL)));
    assert_false(sqlval_truthy(&V(SQLV_BOOL, "f")));
    assert_true(sqlval_truthy(&V(SQLV_BOOL, "t")));
    assert_false(sqlval_truthy(&V(SQLV_INT, "0")));
    assert_true(sqlval_truthy(&V(SQLV_INT, "-3")));
    assert_false(sqlval_truthy(&V(SQLV_FLOAT, "0")));
    assert_false(sqlval_truthy(&V(SQLV_NUMERIC, "0.000")));
    assert_true(sqlval_truthy(&V(SQLV_FLOAT, "NaN")));
    assert_false(sqlval_truthy(&V(SQLV_TEXT, "")));
    assert_true(sqlval_truthy(&V(SQLV_TEXT, "0"))); /* a non-empty str, as in Python */
    assert_false(sqlval_truthy(&V(SQLV_JSON, "{ }")));
    assert_false(sqlval_truthy(&V(SQLV_JSON, "[]")));
    assert_true(sqlval_truthy(&V(SQLV_JSON, "[0]")));
    assert_true(sqlval_truthy(&V(SQLV_OTHER, "2024-01-01")));
}

static void
test_check_row(void **state)
{
    struct sqlval ok[] = {V(SQLV_INT, "5"), V(SQLV_TEXT, "x"), V(SQLV_BOOL, "t")};
    struct sqlval bad[] = {V(SQLV_INT, "5"), V(SQLV_INT, "0"), V(SQLV_NULL, NULL)};
    struct sqlbuf why = {0};

    (void)state;
    assert_true(sqlcheck_row(ok, 3, &why));
    assert_false(sqlcheck_row(bad, 3, &why));
    assert_string_equal(sqlbuf_str(&why), "column 2 is 0; column 3 is None");
    sqlbuf_clear(&why);
}

static void
test_value_check(void **state)
{
    struct sqlval row[] = {V(SQLV_INT, "95"), V(SQLV_NUMERIC, "105.0")};
    struct sqlval text[] = {V(SQLV_TEXT, "abc")};
    struct sqlval bools[] = {V(SQLV_BOOL, "t")};
    struct sqlbuf why = {0};

    (void)state;
    assert_false(sqlcheck_value(row, 2, "100", false, 0, &why));
    assert_true(sqlcheck_value(row, 2, "100", true, 0.05, &why));
    assert_false(sqlcheck_value(row, 2, "100", true, 0.04, &why));
    assert_true(sqlcheck_value(text, 1, "abc", false, 0, &why));
    /* str(True) == "True"; numeric check on a str that is no number fails */
    assert_true(sqlcheck_value(bools, 1, "True", false, 0, &why));
    assert_true(sqlcheck_value(bools, 1, "1", false, 0, &why));
    sqlbuf_clear(&why);
    assert_false(sqlcheck_value(text, 1, "1.5", false, 0, &why));
    assert_non_null(strstr(sqlbuf_str(&why), "converting a result to float failed"));
    sqlbuf_clear(&why);
}

static struct sqlcolcheck
colcheck(const char *check)
{
    struct sqlcolcheck c;

    memset(&c, 0, sizeof(c));
    c.column = "id";
    c.check = check;
    return c;
}

#define NUM(x) ((struct sqlbound){true, true, (x), NULL})
#define STR(x) ((struct sqlbound){true, false, 0, (x)})

static void
assert_invalid(const struct sqlcolcheck *c, const char *needle)
{
    struct err e = {0};

    assert_int_equal(sqlcheck_column_validate(c, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    if (strstr(e.msg, needle) == NULL)
        fail_msg("'%s' does not say '%s'", e.msg, needle);
}

static void
test_column_validate(void **state)
{
    struct sqlcolcheck c = colcheck("min");
    struct err e = {0};

    (void)state;
    assert_invalid(&c, "provide one or more of");
    c.greater_than = NUM(5);
    c.geq_to = NUM(5);
    assert_invalid(&c, "only supply one of greater_than or geq_to");
    c = colcheck("max");
    c.less_than = NUM(5);
    c.leq_to = NUM(5);
    assert_invalid(&c, "only supply one of less_than or leq_to");
    c = colcheck("min");
    c.equal_to = NUM(1);
    c.leq_to = NUM(5);
    assert_invalid(&c, "equal_to cannot be passed");
    c = colcheck("min");
    c.greater_than = NUM(5);
    c.less_than = NUM(5);
    assert_invalid(&c, "lower bound (greater_than) must be below the upper bound (less_than)");
    c = colcheck("min");
    c.geq_to = NUM(5);
    c.leq_to = NUM(5); /* equal is allowed for geq_to with leq_to */
    assert_int_equal(sqlcheck_column_validate(&c, &e), 0);
    c = colcheck("nul_check");
    c.equal_to = NUM(0);
    assert_invalid(&c, "column_mapping.id: invalid column check 'nul_check'");
    c = colcheck("min");
    c.geq_to = STR("a");
    c.has_tol = true;
    assert_invalid(&c, "a string bound takes no tolerance");
    c = colcheck("null_check");
    c.equal_to = NUM(0);
    c.partition_clause = "a = 1; DROP TABLE t";
    assert_invalid(&c, "semicolons (;) not allowed");
}

static void
test_column_match(void **state)
{
    struct sqlcolcheck c = colcheck("min");
    struct sqlbuf why = {0};

    (void)state;
    /* _get_match: record >= geq_to * (1 - tolerance) */
    c.geq_to = NUM(100);
    c.has_tol = true;
    c.tol = 0.1;
    assert_true(sqlcheck_column_match(&c, &V(SQLV_INT, "90"), true, &why));
    assert_false(sqlcheck_column_match(&c, &V(SQLV_INT, "89"), true, &why));
    /* equal_to with tolerance: a band around the value */
    c = colcheck("null_check");
    c.equal_to = NUM(10);
    c.has_tol = true;
    c.tol = 0.5;
    assert_true(sqlcheck_column_match(&c, &V(SQLV_NUMERIC, "15"), true, &why));
    assert_false(sqlcheck_column_match(&c, &V(SQLV_NUMERIC, "15.5"), true, &why));
    /* None counts as 0 with accept_none, and cannot be compared without */
    c = colcheck("null_check");
    c.equal_to = NUM(0);
    assert_true(sqlcheck_column_match(&c, &V(SQLV_NULL, NULL), true, &why));
    assert_false(sqlcheck_column_match(&c, &V(SQLV_NULL, NULL), false, &why));
    sqlbuf_clear(&why);
    /* a text result against a number: Python's TypeError, a failed check saying so */
    c = colcheck("min");
    c.greater_than = NUM(1);
    assert_false(sqlcheck_column_match(&c, &V(SQLV_TEXT, "abc"), true, &why));
    assert_non_null(strstr(sqlbuf_str(&why), "cannot be compared"));
    sqlbuf_clear(&why);
    /* string bounds compare with text results */
    c = colcheck("min");
    c.geq_to = STR("2024-01-01");
    assert_true(sqlcheck_column_match(&c, &V(SQLV_OTHER, "2024-03-01"), true, &why));
    assert_false(sqlcheck_column_match(&c, &V(SQLV_TEXT, "2023-12-31"), true, &why));
    /* both sides: greater_than and leq_to */
    c = colcheck("max");
    c.greater_than = NUM(1);
    c.leq_to = NUM(10);
    assert_true(sqlcheck_column_match(&c, &V(SQLV_INT, "10"), true, &why));
    assert_false(sqlcheck_column_match(&c, &V(SQLV_INT, "11"), true, &why));
    assert_false(sqlcheck_column_match(&c, &V(SQLV_INT, "1"), true, &why));
    sqlbuf_clear(&why);
}

static void
test_check_sql(void **state)
{
    struct sqlcolcheck cc[2] = {colcheck("unique_check"), colcheck("null_check")};
    struct sqltabcheck tc[] = {{"rows", "COUNT(*) > 0", NULL}, {"pos", "x > 0", "x IS NOT NULL"}};
    struct sqlbuf sql = {0};
    struct err e = {0};

    (void)state;
    cc[0].column = "Email";
    cc[1].partition_clause = "id > 5";
    assert_int_equal(sqlcheck_column_sql("public.Users", cc, 2, "day = 1", &sql, &e), 0);
    assert_string_equal(
        sqlbuf_str(&sql),
        "SELECT (SELECT COUNT(\"email\") - COUNT(DISTINCT(\"email\")) FROM \"public\".\"users\" "
        "WHERE (day = 1)) AS check_0, (SELECT SUM(CASE WHEN \"id\" IS NULL THEN 1 ELSE 0 END) "
        "FROM \"public\".\"users\" WHERE (day = 1) AND (id > 5)) AS check_1");
    sqlbuf_clear(&sql);
    assert_int_equal(sqlcheck_table_sql("t", tc, 2, NULL, &sql, &e), 0);
    assert_string_equal(sqlbuf_str(&sql),
                        "SELECT (SELECT MIN(check_result) FROM (SELECT CASE WHEN COUNT(*) > 0 "
                        "THEN 1 ELSE 0 END AS check_result FROM \"t\") AS sq) AS check_0, "
                        "(SELECT MIN(check_result) FROM (SELECT CASE WHEN x > 0 THEN 1 ELSE 0 "
                        "END AS check_result FROM \"t\" WHERE (x IS NOT NULL)) AS sq) AS check_1");
    sqlbuf_clear(&sql);
    assert_int_equal(sqlcheck_table_sql("", tc, 1, NULL, &sql, &e), -1);
    sqlbuf_clear(&sql);
}

static void
test_branch(void **state)
{
    struct sqlbuf why = {0};
    bool yes = false;

    (void)state;
    assert_int_equal(sqlcheck_branch(&V(SQLV_BOOL, "t"), &yes, &why), 0);
    assert_true(yes);
    assert_int_equal(sqlcheck_branch(&V(SQLV_INT, "0"), &yes, &why), 0);
    assert_false(yes);
    assert_int_equal(sqlcheck_branch(&V(SQLV_INT, "7"), &yes, &why), 0);
    assert_true(yes);
    assert_int_equal(sqlcheck_branch(&V(SQLV_TEXT, "Yes"), &yes, &why), 0);
    assert_true(yes);
    assert_int_equal(sqlcheck_branch(&V(SQLV_TEXT, "off"), &yes, &why), 0);
    assert_false(yes);
    assert_int_equal(sqlcheck_branch(&V(SQLV_TEXT, "maybe"), &yes, &why), -1);
    assert_non_null(strstr(sqlbuf_str(&why), "'maybe' type 'str'"));
    sqlbuf_clear(&why);
    assert_int_equal(sqlcheck_branch(&V(SQLV_NUMERIC, "1.5"), &yes, &why), -1);
    assert_int_equal(sqlcheck_branch(&V(SQLV_NULL, NULL), &yes, &why), -1);
    assert_non_null(strstr(sqlbuf_str(&why), "NoneType"));
    sqlbuf_clear(&why);
}

/* ---- spec files ------------------------------------------------------------------------- */

static void
assert_spec_fails(const char *json, const char *needle)
{
    struct sql_spec s;
    struct err e = {0};

    assert_int_equal(sqlspec_parse(json, "spec.json", &s, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    if (strstr(e.msg, needle) == NULL)
        fail_msg("'%s' does not say '%s'", e.msg, needle);
}

static void
test_spec_ok(void **state)
{
    struct sql_spec s;
    struct err e = {0};

    (void)state;
    assert_int_equal(sqlspec_parse("{\"operator\": \"execute\", \"conn_id\": \"pg\", \"task_id\": "
                                   "\"t\", \"sql\": \"SELECT %(a)s\", \"parameters\": {\"a\": 5, "
                                   "\"b\": 2.5, \"c\": null, \"d\": true, \"e\": 3000000000}}",
                                   "spec.json", &s, &e),
                     0);
    assert_int_equal(s.op, SQL_EXECUTE);
    assert_true(s.sql_is_string && s.has_params && s.params_named);
    assert_int_equal(s.nparams, 5);
    assert_string_equal(s.param_names[1], "b");
    assert_int_equal(s.params[0].type, SQLP_INT4);
    assert_string_equal(s.params[1].value, "2.5");
    assert_int_equal(s.params[1].type, SQLP_NUMERIC);
    assert_null(s.params[2].value);
    assert_string_equal(s.params[3].value, "true");
    assert_int_equal(s.params[4].type, SQLP_INT8);
    assert_true(s.return_last && !s.autocommit && s.do_xcom_push);
    sqlspec_clear(&s);
    assert_int_equal(sqlspec_parse("{\"operator\": \"value_check\", \"conn_id\": \"pg\", \"sql\": "
                                   "[\"SELECT 1\"], \"pass_value\": 5.0, \"tolerance\": \"0.1\"}",
                                   "spec.json", &s, &e),
                     0);
    assert_string_equal(s.pass_value, "5.0"); /* str(5.0) */
    assert_true(s.has_tolerance);
    assert_true(s.tolerance == 0.1);
    sqlspec_clear(&s);
    /* a DAG-file list of one statement, as the runner says */
    assert_int_equal(sqlspec_parse("{\"operator\": \"execute\", \"conn_id\": \"pg\", \"sql\": "
                                   "[\"SELECT 1\"], \"sql_is_list\": true}",
                                   "spec.json", &s, &e),
                     0);
    assert_false(s.sql_is_string);
    sqlspec_clear(&s);
    /* an empty parameters list: psycopg2 leaves the text alone */
    assert_int_equal(sqlspec_parse("{\"operator\": \"execute\", \"conn_id\": \"pg\", \"sql\": "
                                   "[\"SELECT '%'\"], \"parameters\": []}",
                                   "spec.json", &s, &e),
                     0);
    assert_false(s.has_params);
    sqlspec_clear(&s);
}

static void
test_spec_errors(void **state)
{
    (void)state;
    assert_spec_fails("{", "spec.json:1:");
    assert_spec_fails("[]", "want a JSON object");
    assert_spec_fails("{\"conn_id\": \"pg\"}", "operator: missing");
    assert_spec_fails("{\"operator\": \"bogus\", \"conn_id\": \"pg\"}",
                      "operator: unknown 'bogus'");
    assert_spec_fails("{\"operator\": \"execute\", \"sql\": \"x\"}", "conn_id: missing");
    assert_spec_fails("{\"operator\": \"execute\", \"conn_id\": \"pg\"}", "sql: missing");
    assert_spec_fails("{\"operator\": \"execute\", \"conn_id\": \"pg\", \"sql\": []}",
                      "the list of SQL statements is empty");
    assert_spec_fails("{\"operator\": \"execute\", \"conn_id\": \"pg\", \"sql\": \"x\", "
                      "\"autocommit\": \"yes\"}",
                      "autocommit: want true or false");
    assert_spec_fails("{\"operator\": \"execute\", \"conn_id\": \"pg\", \"sql\": \"x\", "
                      "\"parameters\": 5}",
                      "parameters: want a list");
    assert_spec_fails("{\"operator\": \"value_check\", \"conn_id\": \"pg\", \"sql\": \"x\"}",
                      "pass_value: missing");
    assert_spec_fails("{\"operator\": \"threshold_check\", \"conn_id\": \"pg\", \"sql\": \"x\", "
                      "\"min_threshold\": 1}",
                      "max_threshold: missing");
    assert_spec_fails("{\"operator\": \"column_check\", \"conn_id\": \"pg\", \"task_id\": \"cc\", "
                      "\"table\": \"t\", \"column_mapping\": {\"id\": {\"min\": {\"geq\": 1}}}}",
                      "spec.json (task cc): column_mapping.id.min: unknown option 'geq'");
    assert_spec_fails("{\"operator\": \"column_check\", \"conn_id\": \"pg\", \"table\": \"t\", "
                      "\"column_mapping\": {\"id\": []}}",
                      "column_mapping.id: want a non-empty mapping");
    assert_spec_fails("{\"operator\": \"column_check\", \"conn_id\": \"pg\", \"table\": \"t\"}",
                      "column_mapping: want a non-empty mapping");
    assert_spec_fails("{\"operator\": \"table_check\", \"conn_id\": \"pg\", \"table\": \"t\", "
                      "\"checks\": {\"c1\": {\"statement\": \"x\"}}}",
                      "checks.c1: unknown key 'statement'");
    assert_spec_fails("{\"operator\": \"table_check\", \"conn_id\": \"pg\", \"table\": \"t\", "
                      "\"checks\": {\"c1\": {}}}",
                      "checks.c1.check_statement: missing");
    assert_spec_fails("{\"operator\": \"table_check\", \"conn_id\": \"pg\", \"table\": \"t\", "
                      "\"partition_clause\": \"a; b\", \"checks\": {\"c1\": "
                      "{\"check_statement\": \"x\"}}}",
                      "partition_clause: invalid partition_clause: semicolons");
    assert_spec_fails("{\"operator\": \"branch\", \"conn_id\": \"pg\", \"sql\": \"x\", "
                      "\"follow_task_ids_if_true\": [\"a\"]}",
                      "follow_task_ids_if_false: missing");
    assert_spec_fails("{\"operator\": \"sensor\", \"conn_id\": \"pg\", \"sql\": \"x\", "
                      "\"poke_interval\": -1}",
                      "poke_interval: want a number of seconds");
    assert_spec_fails("{\"operator\": \"check\", \"conn_id\": \"pg\", \"sql\": [\"a\", \"b\"]}",
                      "check takes one SQL text");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_float),  cmocka_unit_test(test_float_repr),
        cmocka_unit_test(test_truthy),       cmocka_unit_test(test_check_row),
        cmocka_unit_test(test_value_check),  cmocka_unit_test(test_column_validate),
        cmocka_unit_test(test_column_match), cmocka_unit_test(test_check_sql),
        cmocka_unit_test(test_branch),       cmocka_unit_test(test_spec_ok),
        cmocka_unit_test(test_spec_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

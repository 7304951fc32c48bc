/* Unit tests for tasks/lib/sqltext: the statement splitter (strings, E-strings, quoted
 * identifiers, line and nested block comments, dollar quotes, comment-only pieces), the
 * psycopg2 placeholder rewriter (%s, %(name)s, %%, placeholders inside literals left alone,
 * every mismatch an error naming the offset or key) and identifier quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqltext.h"

/* Split text and compare with the expected statements (NULL-terminated). */
static void
assert_split(const char *text, const char *const *want)
{
    struct err e = {0};
    char **got = NULL;
    size_t n = 0, i;

    assert_int_equal(sqltext_split(text, &got, &n, &e), 0);
    for (i = 0; want[i]; i++) {
        assert_true(i < n);
        assert_string_equal(got[i], want[i]);
    }
    assert_int_equal(n, i);
    assert_null(got[n]);
    sqltext_list_free(got);
}

static void
test_split_plain(void **state)
{
    (void)state;
    assert_split("SELECT 1; SELECT 2;", (const char *[]){"SELECT 1", "SELECT 2", NULL});
    assert_split("  SELECT 1  ", (const char *[]){"SELECT 1", NULL});
    assert_split(";;  ;", (const char *[]){NULL});
    assert_split("", (const char *[]){NULL});
}

static void
test_split_quotes(void **state)
{
    (void)state;
    assert_split(
        "INSERT INTO t VALUES ('a;b', 'it''s;'); SELECT \"x;y\" FROM t",
        (const char *[]){"INSERT INTO t VALUES ('a;b', 'it''s;')", "SELECT \"x;y\" FROM t", NULL});
    /* E'' strings take backslash escapes: \' does not end the string */
    assert_split("SELECT E'a\\';b'; SELECT 2",
                 (const char *[]){"SELECT E'a\\';b'", "SELECT 2", NULL});
    /* in a plain string a backslash is just a character (standard_conforming_strings) */
    assert_split("SELECT 'a\\'; SELECT 2", (const char *[]){"SELECT 'a\\'", "SELECT 2", NULL});
    /* an identifier ending in e before a quote is not an E-string */
    assert_split("SELECT some'x\\'; SELECT 3",
                 (const char *[]){"SELECT some'x\\'", "SELECT 3", NULL});
}

static void
test_split_comments(void **state)
{
    (void)state;
    assert_split("SELECT 1 -- a; comment\n; SELECT 2",
                 (const char *[]){"SELECT 1 -- a; comment", "SELECT 2", NULL});
    assert_split("SELECT /* a; /* nested; */ still; */ 1; SELECT 2",
                 (const char *[]){"SELECT /* a; /* nested; */ still; */ 1", "SELECT 2", NULL});
    /* pieces holding only comments are dropped */
    assert_split("SELECT 1; -- the end;\n/* bye; */", (const char *[]){"SELECT 1", NULL});
    assert_true(sqltext_is_empty("  -- x\n /* y */ "));
    assert_false(sqltext_is_empty("-- x\n1"));
}

static void
test_split_dollar(void **state)
{
    (void)state;
    const char *fn = "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE "
                     "plpgsql";
    const char *tagged = "DO $body$ BEGIN PERFORM 1; /* $$ ; */ END $body$";
    char text[512];

    snprintf(text, sizeof(text), "%s; %s; SELECT $1", fn, tagged);
    assert_split(text, (const char *[]){fn, tagged, "SELECT $1", NULL});
    /* "a$b" is an identifier, not a dollar quote */
    assert_split("SELECT a$b$c; SELECT 2", (const char *[]){"SELECT a$b$c", "SELECT 2", NULL});
    /* unterminated: the rest of the text is one statement */
    assert_split("SELECT $x$ ; ", (const char *[]){"SELECT $x$ ;", NULL});
}

/* Bind sql and compare the text and the map. */
static void
assert_bind(const char *sql, enum sqltext_style style, size_t nvalues, const char *const *names,
            const char *want, const size_t *map, size_t nmap)
{
    struct sqltext_bound b;
    struct err e = {0};
    size_t cursor = 0;

    assert_int_equal(sqltext_bind(sql, style, nvalues, names, &cursor, &b, &e), 0);
    assert_string_equal(b.sql, want);
    assert_int_equal(b.n, nmap);
    for (size_t i = 0; i < nmap; i++)
        assert_int_equal(b.map[i], map[i]);
    sqltext_bound_clear(&b);
}

static void
assert_bind_fails(const char *sql, enum sqltext_style style, size_t nvalues,
                  const char *const *names, const char *needle)
{
    struct sqltext_bound b;
    struct err e = {0};
    size_t cursor = 0;

    assert_int_equal(sqltext_bind(sql, style, nvalues, names, &cursor, &b, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    if (strstr(e.msg, needle) == NULL)
        fail_msg("'%s' does not say '%s'", e.msg, needle);
    assert_null(b.sql);
}

static void
test_bind_list(void **state)
{
    (void)state;
    assert_bind("INSERT INTO t VALUES (%s, %s)", SQLTEXT_LIST, 2, NULL,
                "INSERT INTO t VALUES ($1, $2)", (size_t[]){0, 1}, 2);
    /* %% is a literal percent, in code and in literals; %s inside a literal is text */
    assert_bind("SELECT 5 %% 2, '100%%', '%s', \"%s\", %s -- %s\n", SQLTEXT_LIST, 1, NULL,
                "SELECT 5 % 2, '100%', '%s', \"%s\", $1 -- %s\n", (size_t[]){0}, 1);
    assert_bind("SELECT $q$%s$q$, %s", SQLTEXT_LIST, 1, NULL, "SELECT $q$%s$q$, $1", (size_t[]){0},
                1);
}

static void
test_bind_cursor(void **state)
{
    struct sqltext_bound b;
    struct err e = {0};
    size_t cursor = 0;

    (void)state;
    /* list values continue across the statements of one text */
    assert_int_equal(sqltext_bind("SELECT %s", SQLTEXT_LIST, 3, NULL, &cursor, &b, &e), 0);
    sqltext_bound_clear(&b);
    assert_int_equal(sqltext_bind("SELECT %s, %s", SQLTEXT_LIST, 3, NULL, &cursor, &b, &e), 0);
    assert_string_equal(b.sql, "SELECT $1, $2");
    assert_int_equal(b.map[0], 1);
    assert_int_equal(b.map[1], 2);
    assert_int_equal(cursor, 3);
    sqltext_bound_clear(&b);
    assert_int_equal(sqltext_bind("SELECT %s", SQLTEXT_LIST, 3, NULL, &cursor, &b, &e), -1);
    assert_non_null(strstr(e.msg, "more %s placeholders than the 3 value(s)"));
}

static void
test_bind_named(void **state)
{
    const char *names[] = {"a", "b_2", NULL};

    (void)state;
    /* a name used twice is one $k; the order of first use numbers them */
    assert_bind("SELECT %(b_2)s, %(a)s, %(b_2)s", SQLTEXT_NAMED, 2, names, "SELECT $1, $2, $1",
                (size_t[]){1, 0}, 2);
    assert_bind("SELECT 1", SQLTEXT_NAMED, 2, names, "SELECT 1", NULL, 0);
    assert_bind_fails("SELECT %(c)s", SQLTEXT_NAMED, 2, names, "no key 'c'");
    assert_bind_fails("SELECT %s", SQLTEXT_NAMED, 2, names, "parameters is a mapping");
    assert_bind_fails("SELECT %(a)s", SQLTEXT_LIST, 1, NULL, "parameters is a list");
    assert_bind_fails("SELECT %(a", SQLTEXT_NAMED, 2, names, "unterminated");
}

static void
test_bind_errors(void **state)
{
    (void)state;
    assert_bind_fails("SELECT 5 % 2, %s", SQLTEXT_LIST, 1, NULL, "a lone '%' at offset 9");
    assert_bind_fails("SELECT %d", SQLTEXT_LIST, 1, NULL, "lone '%'");
    assert_bind_fails("SELECT %s, %s", SQLTEXT_LIST, 1, NULL, "more %s placeholders");
}

static void
assert_quote(const char *name, const char *want)
{
    struct err e = {0};
    char *q = sqltext_quote_ident(name, &e);

    if (want == NULL) {
        assert_null(q);
        assert_int_equal(e.code, ERR_USAGE);
        return;
    }
    assert_non_null(q);
    assert_string_equal(q, want);
    free(q);
}

static void
test_quote_ident(void **state)
{
    (void)state;
    assert_quote("orders", "\"orders\"");
    assert_quote("Sales.Orders", "\"sales\".\"orders\""); /* folded as PostgreSQL folds */
    assert_quote("\"MixedCase\".t", "\"MixedCase\".\"t\"");
    assert_quote("user", "\"user\""); /* a keyword is fine quoted */
    assert_quote("a b\"; DROP TABLE x; --", "\"a b\"\"; DROP TABLE x; --\"");
    assert_quote("", NULL);
    assert_quote("a..b", NULL);
    assert_quote("\"open", NULL);
    assert_quote("\"x\"y", NULL);
}

static void
test_buf_json(void **state)
{
    struct sqlbuf b = {0};

    (void)state;
    sqlbuf_json_str(&b, "a\"b\\c\n\t\x01 é");
    assert_string_equal(sqlbuf_str(&b), "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
    sqlbuf_clear(&b);
    assert_string_equal(sqlbuf_str(&b), "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_plain),    cmocka_unit_test(test_split_quotes),
        cmocka_unit_test(test_split_comments), cmocka_unit_test(test_split_dollar),
        cmocka_unit_test(test_bind_list),      cmocka_unit_test(test_bind_cursor),
        cmocka_unit_test(test_bind_named),     cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_quote_ident),    cmocka_unit_test(test_buf_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

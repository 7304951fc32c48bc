/* Unit tests for tasks/lib/loader_wiki (the wiki pipeline of stream_loader): a full edit ->
 * every column, the time in UTC; a hidden user and a log row -> valid rows with NULLs; rcid
 * required, a positive integer (JSON integer, integral real, string of digits); time
 * required, with an offset; user names up to MediaWiki's 255 bytes; wrong types; every
 * problem of a record named; bad messages; sink errors stop the parse; the pipeline entry's
 * SQL (temp table, duplicates ignored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader_wiki.h"
#include "tasktest.h"

/* Parse value (NULL: a tombstone) as offset 9 of recent_changes [2]; returns parse's rc. */
static int
parse(const char *value, struct out *o)
{
    return pipeline_parse(&loader_wiki, "recent_changes", 2, 9, value, value ? strlen(value) : 0,
                          o);
}

/* The row of value, which must be accepted, against want (LOADER_WIKI_COLUMNS + 3 values). */
static void
row_is(const char *value, const char *const *want)
{
    struct out o = {0};
    const char *p;
    int i = 0;

    assert_int_equal(parse(value, &o), 0);
    if (o.ndead)
        fail_msg("%s refused: %s", value, o.dead_reason[0]);
    assert_int_equal(o.nrows, 1);
    for (p = o.rows[0]; i < LOADER_WIKI_COLUMNS + 3; i++) {
        size_t n = strcspn(p, "\t\n");
        if (strlen(want[i]) != n || strncmp(p, want[i], n) != 0)
            fail_msg("column %d: '%.*s', want '%s'", i, (int)n, p, want[i]);
        p += n;
        assert_true(*p == (i < LOADER_WIKI_COLUMNS + 2 ? '\t' : '\n'));
        p++;
    }
    assert_int_equal(*p, '\0');
    out_clear(&o);
}

/* One record refused: its reason must contain want; the payload is the message. */
static void
refused(const char *json, const char *want)
{
    assert_message_refused(parse, json, want);
}

#define CHANGE(extra) "{\"rcid\": 5, \"time\": \"2024-05-01T12:00:00Z\"" extra "}"

static void
test_full_edit(void **state)
{
    static const char *const want[] = {
        "1700000001", "Zürich\\tHB",    "2024-05-01 12:00:00+00",
        "Ana Müller", "edit",           "123456",
        "1500",       "1532",           "987654321",
        "987654000",  "recent_changes", "2",
        "9",
    };

    (void)state;
    row_is("{\"rcid\": 1700000001, \"title\": \"Zürich\\tHB\", \"time\": \"2024-05-01T12:00:00Z\","
           " \"username\": \"Ana Müller\", \"change_type\": \"edit\", \"pageId\": 123456,"
           " \"oldsize\": 1500, \"newsize\": 1532, \"revisionId\": 987654321,"
           " \"old_revisionId\": 987654000, \"bot\": true}",
           want);
}

static void
test_hidden_user_and_log_row(void **state)
{
    static const char *const hidden[] = {
        "6",   "Talk:X", "2024-05-01 11:59:59+00", "\\N", "edit", "7", "10", "12",
        "100", "99",     "recent_changes",         "2",   "9",
    };
    static const char *const log[] = {
        "7",   "User:Foo", "2024-04-30 22:00:00+00", "Foo", "log", "0", "\\N", "\\N",
        "\\N", "\\N",      "recent_changes",         "2",   "9",
    };
    static const char *const bare[] = {
        "8",   "\\N", "2024-05-01 12:00:00+00", "\\N", "\\N", "\\N", "\\N", "\\N",
        "\\N", "\\N", "recent_changes",         "2",   "9",
    };

    (void)state;
    row_is("{\"rcid\": 6, \"title\": \"Talk:X\", \"time\": \"2024-05-01T11:59:59Z\", \"username\":"
           " null, \"change_type\": \"edit\", \"pageId\": 7, \"oldsize\": 10, \"newsize\": 12,"
           " \"revisionId\": 100, \"old_revisionId\": 99}",
           hidden);
    row_is("{\"rcid\": 7, \"title\": \"User:Foo\", \"time\": \"2024-05-01T00:00:00+02:00\","
           " \"username\": \"Foo\", \"change_type\": \"log\", \"pageId\": 0, \"oldsize\": null,"
           " \"newsize\": null, \"revisionId\": null, \"old_revisionId\": null}",
           log);
    row_is("{\"rcid\": 8, \"time\": \"2024-05-01T12:00:00Z\"}", bare);
}

#define E10 "éééééééééé"

static void
test_rcid(void **state)
{
    static const char *const as_string[] = {
        "42",  "\\N", "2024-05-01 12:00:00+00", "\\N", "\\N", "\\N", "\\N", "\\N",
        "\\N", "\\N", "recent_changes",         "2",   "9",
    };

    (void)state;
    row_is("{\"rcid\": \" 42 \", \"time\": \"2024-05-01T12:00:00Z\"}", as_string);
    row_is("{\"rcid\": 42.0, \"time\": \"2024-05-01T12:00:00Z\"}", as_string);
    refused("{\"time\": \"2024-05-01T12:00:00Z\"}", "rcid missing");
    refused("{\"rcid\": null, \"time\": \"2024-05-01T12:00:00Z\"}", "rcid missing");
    refused("{\"rcid\": \"\", \"time\": \"2024-05-01T12:00:00Z\"}", "rcid missing");
    refused("{\"rcid\": \"12a\", \"time\": \"2024-05-01T12:00:00Z\"}",
            "rcid: '12a' is not an integer");
    /* the quoted value is cut at 40 bytes, between characters: 'x' + 19 x 'é' */
    refused("{\"rcid\": \"x" E10 E10 E10 "\", \"time\": \"2024-05-01T12:00:00Z\"}",
            "rcid: 'x" E10 "ééééééééé' is not an integer");
    refused("{\"rcid\": \"0x1f\", \"time\": \"2024-05-01T12:00:00Z\"}", "is not an integer");
    refused("{\"rcid\": \"99999999999999999999\", \"time\": \"2024-05-01T12:00:00Z\"}",
            "is not an integer");
    refused("{\"rcid\": 1.5, \"time\": \"2024-05-01T12:00:00Z\"}", "rcid: 1.5 is not an integer");
    refused("{\"rcid\": 0, \"time\": \"2024-05-01T12:00:00Z\"}", "rcid: 0 is not positive");
    refused("{\"rcid\": -3, \"time\": \"2024-05-01T12:00:00Z\"}", "rcid: -3 is not positive");
    refused("{\"rcid\": true, \"time\": \"2024-05-01T12:00:00Z\"}",
            "rcid: integer expected, got a boolean");
}

static void
test_time(void **state)
{
    (void)state;
    refused("{\"rcid\": 1}", "time missing");
    refused("{\"rcid\": 1, \"time\": null}", "time missing");
    refused("{\"rcid\": 1, \"time\": \"\"}", "time: bad timestamp '': not an ISO 8601");
    refused("{\"rcid\": 1, \"time\": \"2024-05-01T12:00:00\"}", "no UTC offset");
    refused("{\"rcid\": 1, \"time\": \"2024-02-30T12:00:00Z\"}", "no such date");
    refused("{\"rcid\": 1, \"time\": \"20240501120000\"}", "not an ISO 8601");
    refused("{\"rcid\": 1, \"time\": 1714564800}", "time: timestamp expected, got a number");
}

static void
test_username_limit(void **state)
{
    char json[1024], name[600];
    struct out o = {0};

    (void)state;
    memset(name, 'a', 255);
    name[255] = '\0';
    snprintf(json, sizeof(json), CHANGE(", \"username\": \"%s\""), name);
    assert_int_equal(parse(json, &o), 0);
    assert_int_equal(o.nrows, 1);
    out_clear(&o);
    for (int i = 0; i < 127; i++) /* 127 two-byte characters + 1 = 255 bytes */
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    snprintf(name + 254, sizeof(name) - 254, "x");
    snprintf(json, sizeof(json), CHANGE(", \"username\": \"%s\""), name);
    assert_int_equal(parse(json, &o), 0);
    assert_int_equal(o.nrows, 1);
    out_clear(&o);
    snprintf(name + 254, sizeof(name) - 254, "xy");
    snprintf(json, sizeof(json), CHANGE(", \"username\": \"%s\""), name);
    refused(json, "username: 256 bytes, longer than MediaWiki's 255");
}

static void
test_wrong_types(void **state)
{
    (void)state;
    refused(CHANGE(", \"title\": 1984"), "title: text expected, got a number");
    refused(CHANGE(", \"username\": {\"name\": \"x\"}"), "username: text expected, got an object");
    refused(CHANGE(", \"change_type\": [\"edit\"]"), "change_type: text expected, got an array");
    refused(CHANGE(", \"pageId\": \"abc\""), "pageId: 'abc' is not an integer");
    refused(CHANGE(", \"oldsize\": false"), "oldsize: integer expected, got a boolean");
    refused(CHANGE(", \"newsize\": 1e30"), "newsize: 1e+30 is not an integer");
    /* every problem of the record, in column order */
    refused("{\"rcid\": \"x\", \"revisionId\": 2.5}",
            "rcid: 'x' is not an integer; time missing; revisionId: 2.5 is not an integer");
}

static void
test_bad_messages(void **state)
{
    (void)state;
    refused("not json {", "bad JSON");
    refused("{\"rcid\": 1, \"time\": \"2024-05-01T12:00:00Z\"", "bad JSON");
    refused("[" CHANGE("") "]", "not a JSON object");
    refused("17", "not a JSON object");
    refused("", "empty message");
    refused(NULL, "empty message");
}

static void
test_sink_error_stops(void **state)
{
    (void)state;
    assert_sink_error_stops(parse, CHANGE(""));
}

static void
test_pipeline_entry(void **state)
{
    (void)state;
    assert_pipeline_names(&loader_wiki, "wiki", "recent_changes", "wiki_recent_changes");
    assert_non_null(strstr(loader_wiki.prepare_sql, "CREATE TEMP TABLE wiki_recent_changes_batch"));
    assert_non_null(strstr(loader_wiki.prepare_sql, "username varchar(255)"));
    assert_non_null(strstr(loader_wiki.copy_sql, "COPY wiki_recent_changes_batch (rcid, title,"));
    assert_non_null(strstr(loader_wiki.finish_sql, "DISTINCT ON (rcid)"));
    assert_non_null(strstr(loader_wiki.finish_sql, "ON CONFLICT (rcid) DO NOTHING"));
    assert_non_null(strstr(loader_wiki.dead_letter_sql, "wiki_recent_changes_dead_letters"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_edit),      cmocka_unit_test(test_hidden_user_and_log_row),
        cmocka_unit_test(test_rcid),           cmocka_unit_test(test_time),
        cmocka_unit_test(test_username_limit), cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_messages),   cmocka_unit_test(test_sink_error_stops),
        cmocka_unit_test(test_pipeline_entry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for tasks/lib/loader_users (the users pipeline of stream_loader): a full record ->
 * every column cleaned as the C side of the original's rules says (trim everywhere, email
 * lower-cased, phone digits only, dates to UTC; names and gender left for PostgreSQL's
 * initcap/lower); blanks are NULL; email and first_name required; the email rule with valid
 * and invalid addresses; ids that are not UUIDs; bad dates; every problem of a record named;
 * reasons never cut a UTF-8 character; bad messages; sink errors stop the parse; the pipeline
 * entry's SQL (temp table, last record per email wins, upsert). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader_users.h"
#include "tasktest.h"

/* Parse value (NULL: a tombstone) as offset 7 of users_created [1]; returns parse's rc. */
static int
parse(const char *value, struct out *o)
{
    return pipeline_parse(&loader_users, "users_created", 1, 7, value, value ? strlen(value) : 0,
                          o);
}

/* The one row of value, which must not be refused; column i into buf. */
static void
one_row(const char *value, struct out *o)
{
    assert_int_equal(parse(value, o), 0);
    if (o->ndead)
        fail_msg("%s refused: %s", value, o->dead_reason[0]);
    assert_int_equal(o->nrows, 1);
    assert_int_equal(ncols(o->rows[0]), LOADER_USERS_COLUMNS + 3);
}

/* One record refused: its reason must contain want; the payload is the message. */
static void
refused(const char *json, const char *want)
{
    assert_message_refused(parse, json, want);
}

#define USER(extra) "{\"first_name\": \"Ann\", \"email\": \"ann@example.com\"" extra "}"

/* ---- records ---- */

static void
test_full_record(void **state)
{
    static const char *const want[] = {
        "0e3b2bd4-6a3a-4a7f-9c39-2b5a1f3c9d10",
        "éLODIE", /* trimmed only: initcap is PostgreSQL's, in finish_sql */
        "mcDONALD-smith",
        "FEMALE", /* lower() in finish_sql too */
        "12 Rue de la Paix, Paris, Île-de-France, France",
        "75002",
        "elodie.mcdonald+news@example.fr", /* trimmed and lower-cased here */
        "bigcat123",
        "1990-07-20 09:44:18.674+00",
        "2015-03-01 09:00:00+00", /* +02:00 -> UTC */
        "0155123456",             /* digits only */
        "https://randomuser.me/api/portraits/med/women/1.jpg",
        "users_created",
        "1",
        "7",
    };
    struct out o = {0};
    char buf[128];

    (void)state;
    one_row("{\"id\": \"0e3b2bd4-6a3a-4a7f-9c39-2b5a1f3c9d10\", \"first_name\": \"  éLODIE \","
            " \"last_name\": \"\\tmcDONALD-smith\", \"gender\": \" FEMALE\", \"address\": \"12 Rue"
            " de la Paix, Paris, Île-de-France, France \", \"postal_code\": \" 75002\","
            " \"email\": \"  Elodie.McDonald+News@EXAMPLE.fr\\n\", \"username\": \" bigcat123 \","
            " \"dob\": \"1990-07-20T09:44:18.674Z\", \"registered_date\":"
            " \"2015-03-01T11:00:00+02:00\", \"phone\": \"01-55 (12) 34.56\", \"picture\":"
            " \"https://randomuser.me/api/portraits/med/women/1.jpg\", \"cell\": \"x\"}",
            &o);
    for (int i = 0; i < LOADER_USERS_COLUMNS + 3; i++)
        if (strcmp(col(o.rows[0], i, buf, sizeof(buf)), want[i]) != 0)
            fail_msg("column %d: '%s', want '%s'", i, buf, want[i]);
    out_clear(&o);
}

static void
test_blanks_and_nulls(void **state)
{
    struct out o = {0};
    char buf[64];

    (void)state;
    /* absent, null, "" and blanks are NULL; a phone without digits is NULL */
    one_row(USER(", \"id\": null, \"last_name\": \"\", \"gender\": \"   \", \"address\": null,"
                 " \"dob\": \" \", \"registered_date\": \"\", \"phone\": \"n/a\""),
            &o);
    for (int i = 0; i < LOADER_USERS_COLUMNS; i++)
        if (i != 1 && i != 6)
            assert_string_equal(col(o.rows[0], i, buf, sizeof(buf)), "\\N");
    out_clear(&o);
}

static void
test_numbers_as_text(void **state)
{
    struct out o = {0};
    char buf[64];

    (void)state;
    one_row(USER(", \"postal_code\": 1234, \"phone\": 5551234, \"username\": 7"), &o);
    assert_string_equal(col(o.rows[0], 5, buf, sizeof(buf)), "1234");
    assert_string_equal(col(o.rows[0], 10, buf, sizeof(buf)), "5551234");
    assert_string_equal(col(o.rows[0], 7, buf, sizeof(buf)), "7");
    out_clear(&o);
    refused(USER(", \"postal_code\": {\"code\": 1}"), "postal_code: text expected, got an object");
    refused(USER(", \"gender\": true"), "gender: text expected, got a boolean");
}

static void
test_required(void **state)
{
    (void)state;
    refused("{\"email\": \"ann@example.com\"}", "first_name missing");
    refused("{\"first_name\": \"  \", \"email\": \"ann@example.com\"}", "first_name missing");
    refused("{\"first_name\": null, \"email\": \"ann@example.com\"}", "first_name missing");
    refused("{\"first_name\": \"Ann\"}", "email missing");
    refused("{\"first_name\": \"Ann\", \"email\": \"\"}", "email missing");
    refused("{\"first_name\": \"Ann\", \"email\": \" \\t\"}", "email missing");
    refused("{\"first_name\": \"Ann\", \"email\": null}", "email missing");
    refused("{\"first_name\": \"Ann\", \"email\": [\"a@b.c\"]}", "email: text expected");
    /* every problem of the record, in column order */
    refused("{\"id\": \"nope\", \"dob\": \"yesterday\"}",
            "id: 'nope' is not a UUID; first_name missing; email missing; dob: bad timestamp "
            "'yesterday'");
}

static void
email_valid(const char *sent, const char *stored)
{
    char json[256], buf[128];
    struct out o = {0};

    snprintf(json, sizeof(json), "{\"first_name\": \"A\", \"email\": \"%s\"}", sent);
    one_row(json, &o);
    assert_string_equal(col(o.rows[0], 6, buf, sizeof(buf)), stored);
    out_clear(&o);
}

static void
email_invalid(const char *sent)
{
    char json[256];

    snprintf(json, sizeof(json), "{\"first_name\": \"A\", \"email\": \"%s\"}", sent);
    refused(json, "does not match ^[A-Za-z0-9+_.-]+@[A-Za-z0-9.-]+$");
}

static void
test_email_rule(void **state)
{
    (void)state;
    email_valid("ann@example.com", "ann@example.com");
    email_valid("  ANN.Lee@Example.COM  ", "ann.lee@example.com");
    email_valid("a+b_c.d-e@x-y.z", "a+b_c.d-e@x-y.z");
    email_valid("9@localhost", "9@localhost"); /* the rule wants no dot */
    email_valid("a@b..c", "a@b..c");           /* nor does it refuse two */
    email_invalid("ann.example.com");
    email_invalid("ann@");
    email_invalid("@example.com");
    email_invalid("ann@@example.com");
    email_invalid("ann@ex@ample.com");
    email_invalid("ann lee@example.com");
    email_invalid("ann@exam_ple.com"); /* _ and + only before the @ */
    email_invalid("ann@exam+ple.com");
    email_invalid("ann!@example.com");
    email_invalid("zoë@example.com"); /* ASCII only, in either case */
    email_invalid("ann@example.com\\u00a0x");
    /* the same rule, directly */
    assert_true(loader_users_email_ok("a@b", 3));
    assert_false(loader_users_email_ok("a@", 2));
    assert_false(loader_users_email_ok("", 0));
    assert_false(loader_users_email_ok("a@b\0c", 5)); /* a NUL is not in the set */
    assert_true(loader_users_email_ok("a@b\0c", 3));  /* len counts, not the NUL */
}

static void
test_email_reason_keeps_utf8(void **state)
{
    char json[512], email[300];
    struct out o = {0};
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 100; i++) { /* 200 bytes of "é": the reason quotes at most 80 bytes */
        email[n++] = (char)0xc3;
        email[n++] = (char)0xa9;
    }
    email[n++] = 'x'; /* odd offsets too */
    snprintf(email + n, sizeof(email) - n, "@x.com");
    snprintf(json, sizeof(json), "{\"first_name\": \"A\", \"email\": \"x%s\"}", email);
    assert_int_equal(parse(json, &o), 0);
    assert_int_equal(o.ndead, 1);
    const unsigned char *r = (const unsigned char *)o.dead_reason[0];
    const unsigned char *q = (const unsigned char *)strstr(o.dead_reason[0], "'");
    const unsigned char *end = (const unsigned char *)strstr((const char *)q + 1, "'");
    assert_non_null(q);
    assert_non_null(end);
    assert_true(end - q - 1 <= 80);
    for (const unsigned char *p = r; *p; p++) /* no lone lead byte before the closing quote */
        if (*p == 0xc3)
            assert_int_equal(p[1], 0xa9);
    out_clear(&o);
}

static void
test_uuid(void **state)
{
    struct out o = {0};
    char buf[64];

    (void)state;
    one_row(USER(", \"id\": \"0E3B2BD4-6A3A-4A7F-9C39-2B5A1F3C9D10\""), &o);
    assert_string_equal(col(o.rows[0], 0, buf, sizeof(buf)),
                        "0E3B2BD4-6A3A-4A7F-9C39-2B5A1F3C9D10");
    out_clear(&o);
    refused(USER(", \"id\": \"0e3b2bd4-6a3a-4a7f-9c39-2b5a1f3c9d1\""), "is not a UUID");
    refused(USER(", \"id\": \"0e3b2bd4-6a3a-4a7f-9c39-2b5a1f3c9d1g\""), "is not a UUID");
    refused(USER(", \"id\": \"0e3b2bd46a3a-4a7f-9c39-2b5a1f3c9d10x\""), "is not a UUID");
    refused(USER(", \"id\": 42"), "id: '42' is not a UUID");
}

#define ZEROS "0000000000"

static void
test_dates(void **state)
{
    struct out o = {0};
    char buf[64];

    (void)state;
    one_row(USER(", \"dob\": \" 1961-02-28T23:30:00-05:00 \""), &o);
    assert_string_equal(col(o.rows[0], 8, buf, sizeof(buf)), "1961-03-01 04:30:00+00");
    out_clear(&o);
    refused(USER(", \"dob\": \"1961-02-29T00:00:00Z\""),
            "dob: bad timestamp '1961-02-29T00:00:00Z': no such date");
    refused(USER(", \"registered_date\": \"2015-03-01T11:00:00\""),
            "registered_date: bad timestamp '2015-03-01T11:00:00': no UTC offset");
    refused(USER(", \"registered_date\": 1425200400"),
            "registered_date: bad timestamp '1425200400'");
    /* 64 bytes: longer than any timestamp the converter takes */
    refused(USER(", \"dob\": \"2015-03-01T11:00:00." ZEROS ZEROS ZEROS ZEROS "000Z\""),
            "dob: bad timestamp '2015-03-01T11:00:00.00000000000000000000...': too long");
}

static void
test_bad_messages(void **state)
{
    (void)state;
    refused("not json {", "bad JSON");
    refused("{\"first_name\": \"Ann\", \"email\": \"a@b\"", "bad JSON"); /* truncated */
    refused("[" USER("") "]", "not a JSON object");
    refused("\"ann@example.com\"", "not a JSON object");
    refused("", "empty message");
    refused(NULL, "empty message");
    refused("{\"first_name\": \"A\\u0000\", \"email\": \"a@b\"}", "bad JSON");
}

static void
test_sink_error_stops(void **state)
{
    (void)state;
    assert_sink_error_stops(parse, USER(""));
}

static void
test_pipeline_entry(void **state)
{
    (void)state;
    assert_pipeline_names(&loader_users, "users", "users_created", "created_users");
    assert_non_null(strstr(loader_users.prepare_sql, "CREATE TEMP TABLE created_users_batch"));
    assert_non_null(strstr(loader_users.prepare_sql, "ON COMMIT DROP"));
    assert_non_null(strstr(loader_users.copy_sql, "COPY created_users_batch ("));
    assert_non_null(
        strstr(loader_users.copy_sql, "picture, source_topic, source_partition, source_offset"));
    assert_non_null(strstr(loader_users.finish_sql, "DISTINCT ON (email)"));
    assert_non_null(strstr(loader_users.finish_sql, "ORDER BY email, seq DESC"));
    assert_non_null(strstr(loader_users.finish_sql, "ON CONFLICT (email) DO UPDATE"));
    assert_non_null(strstr(loader_users.finish_sql, "initcap(first_name), initcap(last_name)"));
    assert_non_null(strstr(loader_users.finish_sql, "lower(gender)"));
    assert_non_null(strstr(loader_users.dead_letter_sql, "created_users_dead_letters"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_record),
        cmocka_unit_test(test_blanks_and_nulls),
        cmocka_unit_test(test_numbers_as_text),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_email_rule),
        cmocka_unit_test(test_email_reason_keeps_utf8),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_sink_error_stops),
        cmocka_unit_test(test_pipeline_entry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for tasks/lib/randomuser: formatting a randomuser.me user into the users_created
 * record (the twelve fields in order, id = login.uuid, address from its parts, postcode as a
 * number or a string always written as text, the medium picture), missing and null nested
 * fields (null, never a crash), users that cannot be keyed, answer envelopes (the API's own
 * error, incomplete JSON, empty results), --first-user texts, the serialisation (raw UTF-8,
 * fields in order) and the message key (the email trimmed and lower-cased, none without one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "randomuser.h"
#include "tasktest.h"

/* A user as the API serves it (US: the postcode is a number). */
static const char FULL_USER[] =
    "{\"gender\": \"female\", \"name\": {\"title\": \"Ms\", \"first\": \"Zoë\","
    " \"last\": \"O'Connor\"}, \"location\": {\"street\": {\"number\": 8929, \"name\": "
    "\"Valwood Pkwy\"}, \"city\": \"Billings\", \"state\": \"Michigan\", \"country\": "
    "\"United States\", \"postcode\": 63104, \"coordinates\": {\"latitude\": \"-69.8246\"},"
    " \"timezone\": {\"offset\": \"+5:45\"}}, \"email\": \"zoe.oconnor@example.com\","
    " \"login\": {\"uuid\": \"7a0eed16-9430-4d68-901f-c0d4c1c3bf00\", \"username\": "
    "\"yellowpeacock117\", \"password\": \"addison\"}, \"dob\": {\"date\": "
    "\"1992-03-08T15:13:16.688Z\", \"age\": 30}, \"registered\": {\"date\": "
    "\"2007-07-09T05:51:59.390Z\", \"age\": 14}, \"phone\": \"(272) 790-0888\", \"cell\":"
    " \"(489) 330-2385\", \"id\": {\"name\": \"SSN\", \"value\": \"405-88-3636\"}, \"picture\":"
    " {\"large\": \"https://randomuser.me/api/portraits/women/60.jpg\", \"medium\": "
    "\"https://randomuser.me/api/portraits/med/women/60.jpg\", \"thumbnail\": "
    "\"https://randomuser.me/api/portraits/thumb/women/60.jpg\"}, \"nat\": \"US\"}";

static void
assert_null_field(const json_t *rec, const char *key)
{
    json_t *v = json_object_get(rec, key);

    if (!json_is_null(v))
        fail_msg("%s: expected null, got %s", key, v ? "a value" : "nothing");
}

/* The record of FULL_USER after set(user), one change to the API user. */
static json_t *
format_changed(void (*set)(json_t *user))
{
    json_t *user = load(FULL_USER), *rec;
    struct err e = {0};

    if (set != NULL)
        set(user);
    rec = randomuser_format(user, &e);
    json_decref(user);
    if (rec == NULL)
        fail_msg("randomuser_format: %s", e.msg);
    return rec;
}

static json_t *
location(json_t *user)
{
    return json_object_get(user, "location");
}

static void
test_full_user(void **state)
{
    (void)state;
    json_t *rec = format_changed(NULL);
    const char *k;
    json_t *v;
    int i = 0;

    assert_int_equal(json_object_size(rec), RANDOMUSER_FIELDS);
    json_object_foreach(rec, k, v)
    {
        assert_string_equal(k, randomuser_fields[i]);
        i++;
    }
    assert_string_equal(str(rec, "id"), "7a0eed16-9430-4d68-901f-c0d4c1c3bf00");
    assert_string_equal(str(rec, "first_name"), "Zoë");
    assert_string_equal(str(rec, "last_name"), "O'Connor");
    assert_string_equal(str(rec, "gender"), "female");
    assert_string_equal(str(rec, "address"),
                        "8929 Valwood Pkwy, Billings, Michigan, United States");
    assert_string_equal(str(rec, "postal_code"), "63104");
    assert_string_equal(str(rec, "email"), "zoe.oconnor@example.com");
    assert_string_equal(str(rec, "username"), "yellowpeacock117");
    assert_string_equal(str(rec, "dob"), "1992-03-08T15:13:16.688Z");
    assert_string_equal(str(rec, "registered_date"), "2007-07-09T05:51:59.390Z");
    assert_string_equal(str(rec, "phone"), "(272) 790-0888"); /* cleaning is the loader's */
    assert_string_equal(str(rec, "picture"),
                        "https://randomuser.me/api/portraits/med/women/60.jpg");
    json_decref(rec);
}

static void
set_postcode_string(json_t *u)
{
    json_object_set_new(location(u), "postcode", json_string("V3X 6E3"));
}

static void
set_postcode_zero_padded(json_t *u)
{
    json_object_set_new(location(u), "postcode", json_string("01067"));
}

static void
set_postcode_real(json_t *u)
{
    json_object_set_new(location(u), "postcode", json_real(4051.0));
}

static void
set_postcode_null(json_t *u)
{
    json_object_set_new(location(u), "postcode", json_null());
}

static void
set_postcode_bool(json_t *u)
{
    json_object_set_new(location(u), "postcode", json_true());
}

static void
test_postcode(void **state)
{
    (void)state;
    json_t *rec = format_changed(set_postcode_string);
    assert_string_equal(str(rec, "postal_code"), "V3X 6E3");
    json_decref(rec);
    rec = format_changed(set_postcode_zero_padded); /* a string keeps its leading zero */
    assert_string_equal(str(rec, "postal_code"), "01067");
    json_decref(rec);
    rec = format_changed(set_postcode_real);
    assert_string_equal(str(rec, "postal_code"), "4051");
    json_decref(rec);
    rec = format_changed(set_postcode_null);
    assert_null_field(rec, "postal_code");
    json_decref(rec);
    rec = format_changed(set_postcode_bool);
    assert_null_field(rec, "postal_code");
    json_decref(rec);
}

static void
set_street_number_text(json_t *u)
{
    json_object_set_new(json_object_get(location(u), "street"), "number", json_string("12B"));
}

static void
drop_street_number(json_t *u)
{
    json_object_del(json_object_get(location(u), "street"), "number");
}

static void
drop_street_and_state(json_t *u)
{
    json_object_del(location(u), "street");
    json_object_set_new(location(u), "state", json_null());
}

static void
drop_street_name(json_t *u)
{
    json_object_set_new(json_object_get(location(u), "street"), "name", json_string(""));
}

static void
drop_location(json_t *u)
{
    json_object_del(u, "location");
}

static void
test_address(void **state)
{
    (void)state;
    json_t *rec = format_changed(set_street_number_text);
    assert_string_equal(str(rec, "address"), "12B Valwood Pkwy, Billings, Michigan, United States");
    json_decref(rec);
    rec = format_changed(drop_street_number);
    assert_string_equal(str(rec, "address"), "Valwood Pkwy, Billings, Michigan, United States");
    json_decref(rec);
    rec = format_changed(drop_street_and_state);
    assert_string_equal(str(rec, "address"), "Billings, United States");
    json_decref(rec);
    rec = format_changed(drop_street_name);
    assert_string_equal(str(rec, "address"), "8929, Billings, Michigan, United States");
    json_decref(rec);
    rec = format_changed(drop_location);
    assert_null_field(rec, "address");
    assert_null_field(rec, "postal_code");
    json_decref(rec);
}

static void
drop_first_name(json_t *u)
{
    json_object_del(json_object_get(u, "name"), "first");
}

static void
drop_many(json_t *u)
{
    json_object_del(u, "name");
    json_object_del(u, "picture");
    json_object_set_new(u, "dob", json_string("1992-03-08")); /* not an object */
    json_object_set_new(u, "registered", json_null());
    json_object_set_new(u, "email", json_integer(5));
    json_object_del(u, "phone");
    json_object_del(u, "gender");
    json_object_del(json_object_get(u, "login"), "username");
}

static void
test_missing_nested_fields(void **state)
{
    (void)state;
    json_t *rec = format_changed(drop_first_name);
    assert_null_field(rec, "first_name");
    assert_string_equal(str(rec, "last_name"), "O'Connor");
    json_decref(rec);
    rec = format_changed(drop_many);
    assert_int_equal(json_object_size(rec), RANDOMUSER_FIELDS);
    static const char *const gone[] = {"first_name",      "last_name", "gender",
                                       "email",           "username",  "dob",
                                       "registered_date", "phone",     "picture"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_null_field(rec, gone[i]);
    assert_string_equal(str(rec, "id"), "7a0eed16-9430-4d68-901f-c0d4c1c3bf00");
    json_decref(rec);
}

static void
test_unkeyable_users(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"name\": {\"first\": \"A\"}}",
        "{\"login\": {\"username\": \"a\"}}",
        "{\"login\": {\"uuid\": \"\"}}",
        "{\"login\": {\"uuid\": 42}}",
        "{\"login\": \"7a0eed16-9430-4d68\"}",
        "[1, 2]",
        "\"user\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *u = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        struct err e = {0};
        assert_non_null(u);
        assert_null(randomuser_format(u, &e));
        assert_int_equal(e.code, ERR_PARSE);
        json_decref(u);
    }
    struct err e = {0};
    assert_null(randomuser_format(NULL, &e));
    assert_int_equal(e.code, ERR_PARSE);
}

static void
test_parse_answers(void **state)
{
    (void)state;
    static const char ok[] = "{\"results\": [{\"login\": {\"uuid\": \"u1\"}}], \"info\": "
                             "{\"seed\": \"abc\", \"results\": 1, \"page\": 1}}";
    static const char api_error[] =
        "{\"error\": \"Uh oh, something has gone wrong. Please tweet us @randomapi\"}";
    json_t *root = NULL, *results = NULL;
    struct err e = {0};

    assert_int_equal(randomuser_parse(ok, strlen(ok), &root, &results, &e), 0);
    assert_int_equal(json_array_size(results), 1);
    json_decref(root);
    assert_int_equal(randomuser_validate(ok, strlen(ok), &e), 0);
    assert_int_equal(randomuser_parse(api_error, strlen(api_error), &root, &results, &e), -1);
    assert_int_equal(e.code, ERR_PARSE);
    assert_non_null(strstr(e.msg, "Uh oh"));
    assert_null(root);
    assert_int_equal(randomuser_validate(ok, strlen(ok) / 2, &e), -1); /* truncated */
    assert_int_equal(randomuser_validate("{\"results\": []}", 15, &e), -1);
    assert_non_null(strstr(e.msg, "empty"));
    assert_int_equal(randomuser_validate("<html>", 6, &e), -1);
    assert_int_equal(randomuser_validate("{\"results\": {}}", 15, &e), -1);
}

static void
test_record_from_text(void **state)
{
    (void)state;
    struct err e = {0};
    json_t *rec = randomuser_record_from_text(
        "{\"id\": \"u-1\", \"first_name\": \"A\", \"email\": \"a@example.com\"}", &e);

    assert_non_null(rec); /* an already formatted record is taken as is */
    assert_string_equal(str(rec, "id"), "u-1");
    assert_int_equal(json_object_size(rec), 3);
    json_decref(rec);
    rec = randomuser_record_from_text(FULL_USER, &e); /* an API user is formatted */
    assert_non_null(rec);
    assert_string_equal(str(rec, "address"),
                        "8929 Valwood Pkwy, Billings, Michigan, United States");
    json_decref(rec);
    static const char *const bad[] = {
        "", "{", "[]", "{\"id\": 5}", "{\"id\": \"\"}", "{\"login\": {}}", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_null(randomuser_record_from_text(bad[i], &e));
        assert_int_equal(e.code, ERR_USAGE);
    }
}

/* The message key: the email as the loader stores it (trimmed, ASCII lower case), or none. */
static void
test_key(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"email\": \"zoe.oconnor@example.com\"}", "zoe.oconnor@example.com"},
        {"{\"email\": \" \\tZoe.OConnor@Example.COM \\n\"}", "zoe.oconnor@example.com"},
        {"{\"email\": \"John Doe@example.com\"}",
         "john doe@example.com"},                                      /* invalid: still keyed */
        {"{\"email\": \"ÉLODIE@example.com\"}", "Élodie@example.com"}, /* ASCII only */
        {"{\"email\": \"@\"}", "@"},
        {"{\"email\": \"\"}", NULL},
        {"{\"email\": \" \\t \"}", NULL},
        {"{\"email\": null}", NULL},
        {"{\"email\": 42}", NULL},
        {"{\"id\": \"u-1\"}", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *rec = load(cases[i][0]);
        char *key = (char *)"unset";
        struct err e = {0};

        assert_int_equal(randomuser_key(rec, &key, &e), 0);
        if (cases[i][1] == NULL)
            assert_null(key);
        else
            assert_string_equal(key, cases[i][1]);
        free(key);
        json_decref(rec);
    }
    json_t *rec = format_changed(NULL); /* a formatted user is keyed by its email */
    char *key = NULL;
    struct err e = {0};
    assert_int_equal(randomuser_key(rec, &key, &e), 0);
    assert_string_equal(key, "zoe.oconnor@example.com");
    free(key);
    json_decref(rec);
}

static void
test_dump(void **state)
{
    (void)state;
    json_t *rec = format_changed(NULL);
    char *s = randomuser_dump(rec);

    assert_non_null(s);
    assert_non_null(strstr(s, "\"first_name\":\"Zoë\"")); /* raw UTF-8, compact */
    assert_null(strstr(s, "\\u"));
    assert_ptr_equal(strstr(s, "{\"id\":"), s); /* id first */
    assert_true(strstr(s, "\"postal_code\":\"63104\"") != NULL);
    free(s);
    json_decref(rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_user),
        cmocka_unit_test(test_postcode),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_missing_nested_fields),
        cmocka_unit_test(test_unkeyable_users),
        cmocka_unit_test(test_parse_answers),
        cmocka_unit_test(test_record_from_text),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

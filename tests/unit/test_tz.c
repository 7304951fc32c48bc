/* Unit tests for tz: zone names, local -> UTC with fold=0 and fold=1 around DST changes
 * (gap and ambiguous times in New York, Berlin and Lord Howe's 30-minute shift), UTC ->
 * local, ISO-8601 formatting and parsing. Expected values derived from the zone rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/tz.h"

static time_t
utc(const char *iso)
{
    struct err e = {0};
    time_t t = 0;

    if (tz_parse_iso("UTC", iso, &t, &e) < 0)
        fail_msg("bad time in test: %s", e.msg);
    return t;
}

static void
local_is(const char *zone, struct civil c, int fold, const char *want_utc)
{
    struct err e = {0};
    time_t t;

    assert_int_equal(tz_to_utc_fold(zone, &c, fold, &t, &e), 0);
    if (t != utc(want_utc))
        fail_msg("%s %04d-%02d-%02d %02d:%02d fold=%d: want %s, got %lld", zone, c.year, c.month,
                 c.mday, c.hour, c.minute, fold, want_utc, (long long)t);
}

static void
test_check(void **state)
{
    (void)state;
    struct err e = {0};

    assert_int_equal(tz_check("UTC", &e), 0);
    assert_int_equal(tz_check("Asia/Ho_Chi_Minh", &e), 0);
    assert_int_equal(tz_check("Mars/Olympus", &e), -1);
    assert_string_equal(e.msg, "unknown time zone 'Mars/Olympus' (not in the system tz database)");
    assert_int_equal(tz_check("../etc/passwd", &e), -1);
    assert_int_equal(tz_check("", &e), -1);
    assert_int_equal(tz_check(NULL, &e), -1);
}

static void
test_to_utc_new_york(void **state)
{
    (void)state;
    const char *ny = "America/New_York";

    local_is(ny, (struct civil){2024, 7, 1, 12, 0, 0}, 0, "2024-07-01T16:00:00Z");
    /* gap 02:00 -> 03:00: read with the offset before the gap, either fold */
    local_is(ny, (struct civil){2024, 3, 10, 2, 30, 0}, 0, "2024-03-10T07:30:00Z");
    local_is(ny, (struct civil){2024, 3, 10, 2, 30, 0}, 1, "2024-03-10T07:30:00Z");
    /* ambiguous 01:00-02:00: fold=0 first (EDT), fold=1 second (EST) */
    local_is(ny, (struct civil){2024, 11, 3, 1, 30, 0}, 0, "2024-11-03T05:30:00Z");
    local_is(ny, (struct civil){2024, 11, 3, 1, 30, 0}, 1, "2024-11-03T06:30:00Z");
    local_is(ny, (struct civil){2024, 11, 3, 2, 0, 0}, 1, "2024-11-03T07:00:00Z");
}

static void
test_to_utc_berlin_lord_howe(void **state)
{
    (void)state;
    const char *b = "Europe/Berlin", *lh = "Australia/Lord_Howe";

    local_is(b, (struct civil){2024, 3, 31, 2, 30, 0}, 0, "2024-03-31T01:30:00Z");
    local_is(b, (struct civil){2024, 10, 27, 2, 30, 0}, 0, "2024-10-27T00:30:00Z");
    local_is(b, (struct civil){2024, 10, 27, 2, 30, 0}, 1, "2024-10-27T01:30:00Z");
    /* Lord Howe: +11 -> +10:30 at 02:00 on 2024-04-07, +10:30 -> +11 on 2024-10-06 */
    local_is(lh, (struct civil){2024, 4, 7, 1, 45, 0}, 0, "2024-04-06T14:45:00Z");
    local_is(lh, (struct civil){2024, 4, 7, 1, 45, 0}, 1, "2024-04-06T15:15:00Z");
    local_is(lh, (struct civil){2024, 10, 6, 2, 15, 0}, 1, "2024-10-05T15:45:00Z");
    local_is("Asia/Ho_Chi_Minh", (struct civil){2024, 3, 10, 2, 30, 0}, 1, "2024-03-09T19:30:00Z");
}

static void
test_from_utc_and_format(void **state)
{
    (void)state;
    struct err e = {0};
    struct civil c;
    long off;
    char buf[32];

    assert_int_equal(tz_from_utc("Australia/Lord_Howe", utc("2024-04-06T15:15:00Z"), &c, &off, &e),
                     0);
    assert_int_equal(c.hour, 1);
    assert_int_equal(c.minute, 45);
    assert_int_equal(off, 37800);
    assert_int_equal(tz_format("America/St_Johns", utc("2024-01-15T12:00:00Z"), buf, &e), 0);
    assert_string_equal(buf, "2024-01-15T08:30:00-03:30");
    assert_int_equal(tz_format("UTC", 0, buf, &e), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00+00:00");
    assert_int_equal(tz_format("Asia/Kolkata", utc("2024-02-29T00:00:00Z"), buf, &e), 0);
    assert_string_equal(buf, "2024-02-29T05:30:00+05:30");
}

static void
test_parse_iso(void **state)
{
    (void)state;
    struct err e = {0};
    time_t t;

    assert_int_equal(tz_parse_iso("Asia/Ho_Chi_Minh", "2024-01-01", &t, &e), 0);
    assert_int_equal(t, utc("2023-12-31T17:00:00Z"));
    assert_int_equal(tz_parse_iso("UTC", "2024-01-01T05:00:00+07:00", &t, &e), 0);
    assert_int_equal(t, utc("2023-12-31T22:00:00Z"));
    assert_int_equal(tz_parse_iso("UTC", "2024-01-01 05:00:30.250Z", &t, &e), 0);
    assert_int_equal(t, utc("2024-01-01T05:00:30Z"));
    assert_int_equal(tz_parse_iso("America/New_York", "2024-11-03T01:30", &t, &e), 0);
    assert_int_equal(t, utc("2024-11-03T05:30:00Z")); /* fold=0 */
    assert_int_equal(tz_parse_iso("UTC", "2023-02-29", &t, &e), -1);
    assert_int_equal(e.code, ERR_PARSE);
    assert_int_equal(tz_parse_iso("UTC", "2024-01-01T25:00", &t, &e), -1);
    assert_int_equal(tz_parse_iso("UTC", "yesterday", &t, &e), -1);
    assert_int_equal(tz_parse_iso("UTC", "2024-01-01T05:00+7", &t, &e), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_to_utc_new_york),
        cmocka_unit_test(test_to_utc_berlin_lord_howe),
        cmocka_unit_test(test_from_utc_and_format),
        cmocka_unit_test(test_parse_iso),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

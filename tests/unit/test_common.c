/* Unit tests for the shared modules in common/: iso8601 (calendar arithmetic, formatting at an
 * offset, ISO 8601 with an offset -> timestamptz text, round trips between them), runid
 * (Airflow's run ids), clock, err (a long message keeps its reason), and pq's error classification
 * and connection failures that need no server (refused port, unparsable conninfo; no password in
 * any message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "err.h"
#include "fdio.h"
#include "iso8601.h"
#include "pq.h"
#include "runid.h"

/* ---- iso8601: calendar ---- */

static void
test_calendar(void **state)
{
    (void)state;
    int64_t y;
    int m, d;

    assert_true(iso8601_days_from_civil(1970, 1, 1) == 0);
    assert_true(iso8601_days_from_civil(1969, 12, 31) == -1);
    assert_true(iso8601_days_from_civil(2000, 3, 1) == 11017);
    assert_int_equal(iso8601_days_in_month(2024, 2), 29);
    assert_int_equal(iso8601_days_in_month(1900, 2), 28);
    assert_int_equal(iso8601_days_in_month(2000, 2), 29);
    assert_int_equal(iso8601_days_in_month(2023, 4), 30);
    /* every day from 0001-01-01 to 9999-12-31 goes there and back, in order */
    int64_t first = iso8601_days_from_civil(1, 1, 1), last = iso8601_days_from_civil(9999, 12, 31);
    int64_t py = 1;
    int pm = 1, pd = 0;
    for (int64_t z = first; z <= last; z++) {
        iso8601_civil_from_days(z, &y, &m, &d);
        if (iso8601_days_from_civil(y, m, d) != z)
            fail_msg("day %lld: %lld-%d-%d does not go back", (long long)z, (long long)y, m, d);
        if (!(d == pd + 1 && m == pm && y == py) && !(d == 1 && (m == pm + 1 || m == 1)))
            fail_msg("day %lld: %lld-%d-%d does not follow %lld-%d-%d", (long long)z, (long long)y,
                     m, d, (long long)py, pm, pd);
        py = y, pm = m, pd = d;
    }
    assert_true(py == 9999 && pm == 12 && pd == 31);
}

/* ---- iso8601: formatting ---- */

static void
fmt_is(time_t t, long offset, char sep, const char *want)
{
    char buf[ISO8601_MAX];

    iso8601_format(t, offset, sep, buf);
    assert_string_equal(buf, want);
}

static void
test_format(void **state)
{
    (void)state;
    fmt_is(0, 0, 'T', "1970-01-01T00:00:00+00:00");
    fmt_is(-1, 0, 'T', "1969-12-31T23:59:59+00:00");
    fmt_is(1709164800, 0, ' ', "2024-02-29 00:00:00+00:00");
    fmt_is(1709164800, 19800, 'T', "2024-02-29T05:30:00+05:30");
    fmt_is(1705320000, -12600, 'T', "2024-01-15T08:30:00-03:30");
    fmt_is(946684799, 0, 'T', "1999-12-31T23:59:59+00:00");
    fmt_is(253402300799, 0, 'T', "9999-12-31T23:59:59+00:00");
    fmt_is(253402300800, 0, 'T', "9999-01-01T00:00:00+00:00"); /* year 10000: clamped */
}

/* ---- iso8601: ISO 8601 with an offset -> timestamptz text (the loaders' timestamps) ---- */

static void
ts_ok(const char *in, const char *want)
{
    char out[64];
    struct err e = {0};

    if (iso8601_to_pg_utc(in, out, sizeof(out), &e) < 0)
        fail_msg("%s: %s", in, e.msg);
    assert_string_equal(out, want);
}

static void
ts_bad(const char *in, const char *why)
{
    char out[64];
    struct err e = {0};

    if (iso8601_to_pg_utc(in, out, sizeof(out), &e) == 0)
        fail_msg("%s accepted as %s", in, out);
    assert_int_equal(e.code, ERR_PARSE);
    if (strstr(e.msg, why) == NULL)
        fail_msg("%s: '%s' does not say '%s'", in, e.msg, why);
}

static void
test_timestamp_digits(void **state)
{
    (void)state;
    ts_ok("2025-12-01T22:00:51.22+07:00", "2025-12-01 15:00:51.22+00");
    ts_ok("2025-12-01T22:00:51+07:00", "2025-12-01 15:00:51+00");
    ts_ok("2025-12-01T22:00:51.1+07:00", "2025-12-01 15:00:51.1+00");
    ts_ok("2025-12-01T22:00:51.123+07:00", "2025-12-01 15:00:51.123+00");
    ts_ok("2025-12-01T22:00:51.1234+07:00", "2025-12-01 15:00:51.1234+00");
    ts_ok("2025-12-01T22:00:51.12345+07:00", "2025-12-01 15:00:51.12345+00");
    ts_ok("2025-12-01T22:00:51.123456+07:00", "2025-12-01 15:00:51.123456+00");
    ts_ok("2025-12-01T22:00:51.1234567+07:00", "2025-12-01 15:00:51.1234567+00");
    ts_ok("2025-12-01T22:00:51.0000000+07:00", "2025-12-01 15:00:51.0000000+00");
}

static void
test_timestamp_offsets(void **state)
{
    (void)state;
    ts_ok("2025-12-01T15:00:51.22Z", "2025-12-01 15:00:51.22+00");
    ts_ok("2025-12-01t15:00:51z", "2025-12-01 15:00:51+00");
    ts_ok("2025-12-01 22:00:51+0700", "2025-12-01 15:00:51+00");
    ts_ok("2025-12-01T22:00:51+07", "2025-12-01 15:00:51+00");
    ts_ok("2025-12-01T11:30:51-03:30", "2025-12-01 15:00:51+00");
    ts_ok("2025-12-01T15:00:51+00:00", "2025-12-01 15:00:51+00");
    /* day, month, year and leap-day rollovers */
    ts_ok("2025-01-01T03:00:00+07:00", "2024-12-31 20:00:00+00");
    ts_ok("2024-02-29T23:30:00-05:00", "2024-03-01 04:30:00+00");
    ts_ok("2024-03-01T00:00:00+07:00", "2024-02-29 17:00:00+00");
    ts_ok("2000-02-29T00:00:00Z", "2000-02-29 00:00:00+00");
    ts_ok("1970-01-01T00:00:00+00:00", "1970-01-01 00:00:00+00");
    ts_ok("1969-12-31T23:59:59.5-00:00", "1969-12-31 23:59:59.5+00");
    ts_ok("0001-01-01T00:00:00-01:00", "0001-01-01 01:00:00+00");
    ts_ok("9999-12-31T23:59:59+14:00", "9999-12-31 09:59:59+00");
}

static void
test_timestamp_bad(void **state)
{
    (void)state;
    ts_bad("2025-12-01T22:00:51", "no UTC offset");
    ts_bad("2025-12-01T22:00:51.22", "no UTC offset");
    ts_bad("2025-12-01", "not an ISO 8601");
    ts_bad("", "not an ISO 8601");
    ts_bad("yesterday", "not an ISO 8601");
    ts_bad("2025-12-01T22:00+07:00", "not an ISO 8601");
    ts_bad("25-12-01T22:00:51+07:00", "not an ISO 8601");
    ts_bad("2025-02-29T00:00:00+07:00", "no such date");
    ts_bad("2025-13-01T00:00:00+07:00", "no such date");
    ts_bad("2025-04-31T00:00:00+07:00", "no such date");
    ts_bad("2025-00-10T00:00:00+07:00", "no such date");
    ts_bad("2025-12-01T24:00:00+07:00", "no such date");
    ts_bad("2025-12-01T23:60:00+07:00", "no such date");
    ts_bad("2025-12-01T23:59:60+07:00", "no such date");
    ts_bad("2025-12-01T22:00:51.+07:00", "fractional");
    ts_bad("2025-12-01T22:00:51.1234567890+07:00", "fractional");
    ts_bad("2025-12-01T22:00:51+16:00", "bad UTC offset");
    ts_bad("2025-12-01T22:00:51+07:60", "bad UTC offset");
    ts_bad("2025-12-01T22:00:51+7", "bad UTC offset");
    ts_bad("2025-12-01T22:00:51+07:00 ", "bad UTC offset");
    ts_bad("2025-12-01T22:00:51+07:00x", "bad UTC offset");
    ts_bad("0001-01-01T00:00:00+01:00", "year out of range");
    ts_bad("0000-06-01T00:00:00Z", "no such date");
}

/* Cases beyond the loaders': nine digits, year rollovers, the buffer size. */
static void
test_timestamp_more(void **state)
{
    (void)state;
    char small[20], exact[23]; /* "2025-12-01 22:00:51+00" is 22 bytes and a NUL */
    struct err e = {0};

    ts_ok("2025-12-01T22:00:51.123456789+07:00", "2025-12-01 15:00:51.123456789+00");
    ts_ok("2025-12-31T20:00:00-05:00", "2026-01-01 01:00:00+00");
    ts_ok("1970-01-01T00:00:00+00:01", "1969-12-31 23:59:00+00");
    ts_bad("2025-12-01T22:00:51Z ", "bad UTC offset");
    ts_bad("9999-12-31T23:00:00-01:00", "year out of range");
    assert_int_equal(iso8601_to_pg_utc("2025-12-01T22:00:51Z", small, sizeof(small), &e), -1);
    assert_int_equal(e.code, ERR_FAIL);
    assert_int_equal(iso8601_to_pg_utc("2025-12-01T22:00:51Z", exact, sizeof(exact), NULL), 0);
    assert_string_equal(exact, "2025-12-01 22:00:51+00");
}

/* Text made by iso8601_format at any offset reads back as the same instant. */
static void
test_round_trip(void **state)
{
    (void)state;
    const long offsets[] = {0, 3600, -3600, 25200, -16200, 50400, -43200, 45900};
    char iso[ISO8601_MAX], utc[ISO8601_MAX], pg[64], want[64];
    struct err e = {0};

    for (time_t t = -2208988800; t < 4102444800; t += 86400 * 37 + 3607) {
        for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
            iso8601_format(t, offsets[i], i % 2 ? ' ' : 'T', iso);
            if (iso8601_to_pg_utc(iso, pg, sizeof(pg), &e) < 0)
                fail_msg("%s: %s", iso, e.msg);
            iso8601_format(t, 0, ' ', utc);
            snprintf(want, sizeof(want), "%.19s+00", utc);
            if (strcmp(pg, want) != 0)
                fail_msg("%lld at %ld: %s -> %s, want %s", (long long)t, offsets[i], iso, pg, want);
        }
    }
}

/* ---- runid ---- */

static void
test_runid(void **state)
{
    (void)state;
    char buf[64];

    runid_format("scheduled", 1704067200, -1, buf, sizeof(buf));
    assert_string_equal(buf, "scheduled__2024-01-01T00:00:00+00:00");
    runid_format("backfill", 946684799, -1, buf, sizeof(buf));
    assert_string_equal(buf, "backfill__1999-12-31T23:59:59+00:00");
    runid_format("manual", 1710055805, 123456, buf, sizeof(buf));
    assert_string_equal(buf, "manual__2024-03-10T07:30:05.123456+00:00");
    runid_format("manual", 1710055805, 0, buf, sizeof(buf));
    assert_string_equal(buf, "manual__2024-03-10T07:30:05.000000+00:00");
    runid_format("scheduled", 1704067200, -1, buf, 12);
    assert_string_equal(buf, "scheduled__"); /* truncated, still terminated */

    time_t before = time(NULL), now = 0;
    long usec = -1;
    unsetenv("GUST_TEST_RUNID_NOW");
    runid_clock(&now, &usec);
    assert_true(now >= before && now <= time(NULL));
    assert_true(usec >= 0 && usec < 1000000);
    /* tests only: a fixed instant, so that concurrent triggers can be made to collide */
    setenv("GUST_TEST_RUNID_NOW", "1710055805.000042", 1);
    runid_clock(&now, &usec);
    assert_int_equal(now, 1710055805);
    assert_int_equal(usec, 42);
    setenv("GUST_TEST_RUNID_NOW", "1710055805.42", 1); /* not 6 digits: the real clock */
    runid_clock(&now, &usec);
    assert_true(now >= before);
    unsetenv("GUST_TEST_RUNID_NOW");
}

/* Airflow's rule: ^[A-Za-z0-9_.~:+-]+$, no "..", at most 250 characters; the message names
 * the first bad character and its position, and never echoes the id itself. */
static void
test_runid_check(void **state)
{
    (void)state;
    struct err e = {0};
    char id[RUNID_MAX + 2];

    assert_int_equal(runid_check("manual__2024-03-10T07:30:05.123456+00:00", &e), 0);
    assert_int_equal(runid_check("p_q", &e), 0);
    assert_int_equal(runid_check("a.b~c:d+e-f_G9", &e), 0);
    assert_int_equal(runid_check("p/q", &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "character '/' at position 2"));
    assert_int_equal(runid_check("ab\x1b[31mred", &e), -1);
    assert_non_null(strstr(e.msg, "character \\x1b at position 3"));
    assert_null(strchr(e.msg, '\x1b'));
    assert_int_equal(runid_check("a b", &e), -1);
    assert_non_null(strstr(e.msg, "position 2"));
    assert_int_equal(runid_check("caf\xc3\xa9", &e), -1);
    assert_non_null(strstr(e.msg, "\\xc3 at position 4"));
    assert_int_equal(runid_check("a..b", &e), -1);
    assert_non_null(strstr(e.msg, "'..' at position 2"));
    assert_int_equal(runid_check("", &e), -1);
    assert_int_equal(runid_check("x", NULL), 0);
    memset(id, 'a', RUNID_MAX);
    id[RUNID_MAX] = '\0';
    assert_int_equal(runid_check(id, &e), 0);
    id[RUNID_MAX] = 'a';
    id[RUNID_MAX + 1] = '\0';
    assert_int_equal(runid_check(id, &e), -1);
    assert_non_null(strstr(e.msg, "251 characters, more than 250"));
}

/* ---- err ---- */

static bool
ends_with(const char *s, const char *end)
{
    return strlen(s) >= strlen(end) && strcmp(s + strlen(s) - strlen(end), end) == 0;
}

static void
test_err_long(void **state)
{
    (void)state;
    struct err e = {0};
    char path[400];

    memset(path, 'p', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    err_set(&e, ERR_IO, "open %s: No such file or directory", path);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    assert_true(strncmp(e.msg, "open ppp", 8) == 0);
    assert_non_null(strstr(e.msg, "ppp...ppp"));
    assert_true(ends_with(e.msg, "ppp: No such file or directory"));
    err_set(&e, ERR_IO, "Permission denied");
    err_prefix(&e, "DAG folder %s", path);
    assert_true(strncmp(e.msg, "DAG folder ppp", 14) == 0);
    assert_non_null(strstr(e.msg, "..."));
    assert_true(ends_with(e.msg, "ppp: Permission denied"));
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    /* a reason that fills msg by itself still leaves some context in front */
    err_set(&e, ERR_IO, "%s: gone", path);
    err_prefix(&e, "load %s", path);
    assert_true(strncmp(e.msg, "load ppp", 8) == 0);
    assert_true(ends_with(e.msg, "ppp: gone"));
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    /* short ones are untouched */
    err_set(&e, ERR_IO, "short");
    err_prefix(&e, "ctx %d", 1);
    assert_string_equal(e.msg, "ctx 1: short");
}

/* ---- clock ---- */

static void
test_clock(void **state)
{
    (void)state;
    double a = clock_mono(), b = clock_mono();
    double wall = clock_wall();

    assert_true(a > 0 && b >= a);
    assert_true(wall > (double)time(NULL) - 2 && wall < (double)time(NULL) + 2);
}

/* ---- pq ---- */

static void
test_pq_temporary(void **state)
{
    (void)state;
    /* the server's SQLSTATE decides when there is one */
    assert_true(pq_is_temporary("08006", "connection failure"));
    assert_true(pq_is_temporary("08P01", "protocol violation"));
    assert_true(pq_is_temporary("57P01", "terminating connection due to administrator command"));
    assert_true(pq_is_temporary("57P03", "the database system is starting up"));
    assert_true(pq_is_temporary("53300", "sorry, too many clients already"));
    assert_false(pq_is_temporary("23505", "duplicate key value violates unique constraint"));
    assert_false(pq_is_temporary("57014", "canceling statement due to statement timeout"));
    assert_false(pq_is_temporary("58P01", "could not open file \"x\": No such file or directory"));
    assert_false(pq_is_temporary("42601", "syntax error at or near \"SELEC\""));
    /* libpq's own messages: by their text */
    assert_true(pq_is_temporary(NULL, "connection to server at \"127.0.0.1\", port 1 failed: "
                                      "Connection refused"));
    assert_true(pq_is_temporary(NULL, "server closed the connection unexpectedly"));
    assert_true(pq_is_temporary(NULL, "timeout expired"));
    assert_true(pq_is_temporary(NULL, "could not translate host name \"db\" to address"));
    assert_false(pq_is_temporary(NULL, "invalid connection option \"bogus\""));
    assert_false(pq_is_temporary(NULL, "password authentication failed for user \"gust\""));
    assert_false(pq_is_temporary(NULL, NULL));
}

static void
test_pq_connect_fails(void **state)
{
    (void)state;
    char where[200];
    struct err e = {0};

    /* nothing listens on port 1: refused at once, temporary, no password in the message */
    assert_null(pq_connect("host=127.0.0.1 port=1 dbname=x user=u password=s3cret", "gust-test",
                           true, where, sizeof(where), &e));
    assert_int_equal(e.code, ERR_DB);
    assert_true(e.temporary);
    assert_string_equal(where, "host=127.0.0.1 port=1 dbname=x user=u");
    assert_non_null(strstr(e.msg, "connect to host=127.0.0.1 port=1"));
    assert_null(strstr(e.msg, "s3cret"));

    /* conninfo libpq cannot parse: not temporary, named masked */
    err_clear(&e);
    assert_null(
        pq_connect("host=x password=s3cret bogus=1", "gust-test", false, where, sizeof(where), &e));
    assert_int_equal(e.code, ERR_DB);
    assert_false(e.temporary);
    assert_null(strstr(where, "s3cret"));
    assert_null(strstr(e.msg, "s3cret"));
    assert_non_null(strstr(e.msg, "***"));
}

/* mkdir_p from the leaf: 1 made, 0 there already, -1 with errno; parents made on demand. */
static void
test_mkdir_p(void **state)
{
    char base[] = "/tmp/gust-mkdir-XXXXXX", path[256], file[256];

    (void)state;
    assert_non_null(mkdtemp(base));
    snprintf(path, sizeof(path), "%s/a/b//c", base);
    assert_int_equal(mkdir_p(path), 1);
    assert_int_equal(mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/a/b/c/", base); /* a trailing slash: the same folder */
    assert_int_equal(mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/a/d", base); /* the parent is there: made at once */
    assert_int_equal(mkdir_p(path), 1);
    snprintf(file, sizeof(file), "%s/f", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/f/x/y", base); /* a file in the way */
    errno = 0;
    assert_int_equal(mkdir_p(path), -1);
    assert_int_equal(errno, ENOTDIR);
    unlink(file);
    snprintf(path, sizeof(path), "rm -rf '%s'", base);
    assert_int_equal(system(path), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),         cmocka_unit_test(test_format),
        cmocka_unit_test(test_timestamp_digits), cmocka_unit_test(test_timestamp_offsets),
        cmocka_unit_test(test_timestamp_bad),    cmocka_unit_test(test_timestamp_more),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_runid),
        cmocka_unit_test(test_runid_check),      cmocka_unit_test(test_clock),
        cmocka_unit_test(test_err_long),         cmocka_unit_test(test_pq_temporary),
        cmocka_unit_test(test_pq_connect_fails), cmocka_unit_test(test_mkdir_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

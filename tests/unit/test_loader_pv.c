/* Unit tests for tasks/lib/loader_pv (the product_view pipeline of stream_loader) and
 * tasks/lib/keyset: the referrer host against Python's urllib.parse.urlsplit(u).hostname (the
 * expected values were printed by Python, not by this code), product pages and their language,
 * SHA-256 against a known digest, the dimension columns written only the first time a key is
 * seen (and a placeholder product written again when its page URL arrives), the memory
 * forgotten after a rolled-back batch, every row with the column count of copy_sql. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "loader_pv.h"
#include "tasktest.h"

static void
test_url_host(void **state)
{
    /* input, urlsplit(('' if '//' in u else 'http://') + u.strip()).hostname or "" */
    static const char *const cases[][2] = {
        {"https://www.google.com/search?q=x", "www.google.com"},
        {"facebook.com/groups/a", "facebook.com"},
        {"android-app://com.google.android.gm/", "com.google.android.gm"},
        {"http://user:pw@Example.COM:8080/p", "example.com"},
        {"https://[2001:db8::1]:443/x", "2001:db8::1"},
        {"//cdn.example.org/a", "cdn.example.org"},
        {"", ""},
        {"   ", ""},
        {"http://", ""},
        {"mailto:someone@example.com", "example.com"},
        {"www.glamira.de?x=//y", ""},
        {"HTTPS://WWW.BING.COM", "www.bing.com"},
        {"https://www.glamira.de#frag", "www.glamira.de"},
        {"ftp://a.b.c", "a.b.c"},
        {"t.co", "t.co"},
    };
    char host[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        loader_pv_url_host(cases[i][0], host, sizeof(host));
        if (strcmp(host, cases[i][1]) != 0)
            fail_msg("host of '%s': '%s', expected '%s'", cases[i][0], host, cases[i][1]);
    }
}

static void
test_product_url(void **state)
{
    static const char *const cases[][3] = {
        {"https://www.glamira.de/glamira-ring-zarina.html?alloy=white-585",
         "https://www.glamira.de/glamira-ring-zarina.html", "de"},
        {"https://www.glamira.com/fr/bague.html#top", "https://www.glamira.com/fr/bague.html",
         "fr"},
        {"https://www.glamira.com/en-GB/ring.html", "https://www.glamira.com/en-GB/ring.html",
         "en-gb"},
        {"https://www.glamira.co.uk/ring.html", "https://www.glamira.co.uk/ring.html", "uk"},
        {"https://www.glamira.com/ring.html", "https://www.glamira.com/ring.html", ""},
        {"https://shop.example.vn:8443/p/1", "https://shop.example.vn:8443/p/1", "vn"},
        {"not a url", "not a url", ""},
    };
    char page[256], lang[16];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        loader_pv_product_url(cases[i][0], page, sizeof(page), lang, sizeof(lang));
        assert_string_equal(page, cases[i][1]);
        if (strcmp(lang, cases[i][2]) != 0)
            fail_msg("language of '%s': '%s', expected '%s'", cases[i][0], lang, cases[i][2]);
    }
}

static void
test_sha256(void **state)
{
    char hex[65];

    (void)state;
    loader_pv_sha256_hex("abc", 3, hex); /* FIPS 180-2's example */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_keyset(void **state)
{
    struct keyset *ks = keyset_new();
    char key[32];

    (void)state;
    assert_non_null(ks);
    for (int i = 0; i < 5000; i++) { /* grows several times */
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(keyset_put(ks, key, strlen(key), 1 + (unsigned)i % 3), 0);
    }
    assert_int_equal(keyset_count(ks), 5000);
    assert_int_equal(keyset_get(ks, "k4999", 5), 1 + 4999 % 3);
    assert_int_equal(keyset_get(ks, "k5000", 5), 0);
    assert_int_equal(keyset_put(ks, "k7", 2, 3), 0);
    assert_int_equal(keyset_get(ks, "k7", 2), 3);
    assert_int_equal(keyset_count(ks), 5000);
    keyset_clear(ks);
    assert_int_equal(keyset_get(ks, "k7", 2), 0);
    assert_int_equal(keyset_count(ks), 0);
    keyset_free(ks);
    keyset_free(NULL);
}

/* The n-th tab-separated field of row (from 0) into out. */
static const char *
field(const char *row, int n, char *out, size_t size)
{
    const char *p = row;

    for (int i = 0; i < n && p; i++)
        p = strchr(p, '\t') ? strchr(p, '\t') + 1 : NULL;
    assert_non_null(p);
    snprintf(out, size, "%.*s", (int)strcspn(p, "\t\n"), p);
    return out;
}

static int
count_fields(const char *row)
{
    int n = 1;

    for (const char *p = row; *p && *p != '\n'; p++)
        n += *p == '\t';
    return n;
}

static int
parse(const char *value, struct out *o)
{
    return pipeline_parse(&loader_pv, "product_view", 0, 5, value, strlen(value), o);
}

enum { COL_UA_NEW = 20, COL_LOC_NEW = 24, COL_PRODUCT_NEW = 30, COLS = 36 };

static void
test_dimensions_once(void **state)
{
    const struct loader_config cfg = {0};
    struct out o = {0};
    struct err e = {0};
    char f[512];
    static const char ev[] = "{\"id\": \"a\", \"time_stamp\": 1780272000, \"ip\": \"8.8.8.8\","
                             " \"user_agent\": \"curl/7.88\", \"product_id\": \"p1\","
                             " \"collection\": \"product_detail_recommendation_visible\","
                             " \"current_url\": \"https://x.example.de/other\"}";
    static const char page[] = "{\"id\": \"b\", \"ip\": \"8.8.8.8\", \"product_id\": \"p1\","
                               " \"collection\": \"view_product_detail\","
                               " \"current_url\": \"https://x.example.de/p1.html?a=1\"}";

    (void)state;
    assert_int_equal(loader_pv.open(&cfg, &e), 0);
    assert_int_equal(parse(ev, &o), 0);
    assert_int_equal(parse(ev, &o), 0);
    assert_int_equal(parse(page, &o), 0);
    assert_int_equal(parse(page, &o), 0);
    assert_int_equal(o.nrows, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(count_fields(o.rows[i]), COLS);
    /* first sight: every dimension; again: none */
    assert_string_equal(field(o.rows[0], COL_UA_NEW, f, sizeof(f)), "t");
    assert_string_equal(field(o.rows[0], COL_LOC_NEW, f, sizeof(f)), "t");
    assert_string_equal(field(o.rows[0], COL_LOC_NEW + 2, f, sizeof(f)), "US");
    assert_string_equal(field(o.rows[0], COL_PRODUCT_NEW, f, sizeof(f)), "t");
    assert_string_equal(field(o.rows[0], COL_PRODUCT_NEW + 1, f, sizeof(f)), "\\N");
    assert_string_equal(field(o.rows[1], COL_UA_NEW, f, sizeof(f)), "f");
    assert_string_equal(field(o.rows[1], COL_LOC_NEW, f, sizeof(f)), "f");
    assert_string_equal(field(o.rows[1], COL_PRODUCT_NEW, f, sizeof(f)), "f");
    /* the placeholder's page arrives once */
    assert_string_equal(field(o.rows[2], COL_PRODUCT_NEW, f, sizeof(f)), "t");
    assert_string_equal(field(o.rows[2], COL_PRODUCT_NEW + 1, f, sizeof(f)),
                        "https://x.example.de/p1.html");
    assert_string_equal(field(o.rows[2], COL_PRODUCT_NEW + 2, f, sizeof(f)), "de");
    assert_string_equal(field(o.rows[3], COL_PRODUCT_NEW, f, sizeof(f)), "f");
    /* committed: remembered; rolled back: forgotten */
    loader_pv.batch_end(true);
    out_clear(&o);
    assert_int_equal(parse(ev, &o), 0);
    assert_string_equal(field(o.rows[0], COL_UA_NEW, f, sizeof(f)), "f");
    loader_pv.batch_end(false);
    assert_int_equal(parse(ev, &o), 0);
    assert_string_equal(field(o.rows[1], COL_UA_NEW, f, sizeof(f)), "t");
    assert_string_equal(field(o.rows[1], COL_PRODUCT_NEW, f, sizeof(f)), "t");
    out_clear(&o);
    loader_pv.close();
}

static void
test_refused(void **state)
{
    const struct loader_config cfg = {0};
    static const char *const cases[][2] = {
        {"{\"time_stamp\": 1}", "id missing"},
        {"{\"id\": 5}", "id: a string expected, got a number"},
        {"{\"id\": \"\"}", "id: empty"},
        {"{\"id\": \"a\", \"time_stamp\": true}",
         "time_stamp: a number of epoch seconds expected, got a boolean"},
        {"{\"id\": \"a\", \"time_stamp\": -1}", "time_stamp: -1 is outside years 1970-9999"},
        {"{\"id\": \"a\", \"option\": \"x\"}", "option: an array expected, got a string"},
        {"{\"id\": \"a\", \"local_time\": \"2026-06-01T10:00:00\"}",
         "local_time: '2026-06-01T10:00:00' is not yyyy-MM-dd HH:mm:ss"},
        {"{\"time_stamp\": \"x\", \"option\": 1}",
         "id missing; time_stamp: a number of epoch seconds expected, got a string; option: an "
         "array expected, got a number"},
        {"[1]", "not a JSON object"},
    };
    struct err e = {0};

    (void)state;
    assert_int_equal(loader_pv.open(&cfg, &e), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct out o = {0};
        assert_int_equal(parse(cases[i][0], &o), 0);
        assert_int_equal(o.nrows, 0);
        assert_int_equal(o.ndead, 1);
        assert_string_equal(o.dead_reason[0], cases[i][1]);
        out_clear(&o);
    }
    loader_pv.close();
}

static void
test_open_errors(void **state)
{
    const struct loader_config bad_ua = {.ua_regexes = "/nonexistent/regexes.yaml"};
    const struct loader_config bad_city = {.geoip_city = "/nonexistent/city.mmdb"};
    struct err e = {0};

    (void)state;
    assert_int_equal(loader_pv.open(&bad_ua, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/regexes.yaml"));
    loader_pv.close();
    err_clear(&e);
    assert_int_equal(loader_pv.open(&bad_city, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/city.mmdb"));
    loader_pv.close();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_host),        cmocka_unit_test(test_product_url),
        cmocka_unit_test(test_sha256),          cmocka_unit_test(test_keyset),
        cmocka_unit_test(test_dimensions_once), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

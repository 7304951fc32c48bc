/* Unit tests for tasks/lib/pvgen (the product_view event generator, no Kafka): the same seed
 * gives the same bytes (in any order of asking), another seed others; every valid event's
 * fields have the tracker's shapes (UUIDs, ObjectId, integer time_stamp in the day range,
 * local_time a plausible offset away, option objects, false-or-string marketing fields) and
 * one page per product and shop; broken events are exactly --broken, of the four kinds,
 * each broken the way it says; duplicates re-send an earlier valid event byte for byte; the
 * addresses span at least 40 countries (asked of geo), a few IPv6 and nulls; user agents
 * are real browsers, Android and iPhone among them, some much more common; products are
 * skewed; the catalogue CSV; bad options and a missing user-agent file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pvgen.h"

static struct geo *G;

#define START 1780272000LL /* 2026-06-01T00:00:00Z */

static struct pvgen *
gen(uint64_t seed, long long count, long long broken, long long dups, int days)
{
    struct pvgen_opts o = {.seed = seed,
                           .count = count,
                           .broken = broken,
                           .duplicates = dups,
                           .start = START,
                           .days = days,
                           .geo = G};
    struct err e = {0};
    struct pvgen *g = pvgen_new(&o, &e);

    if (g == NULL)
        fail_msg("pvgen_new: %s", e.msg);
    return g;
}

/* Every message of g: texts (malloc'd), keys, kinds, events. */
struct all {
    long long n;
    char **text;
    char (*key)[40];
    enum pvgen_kind *kind;
    long long *event;
};

static struct all
collect(struct pvgen *g)
{
    struct all a = {.n = pvgen_total(g)};
    struct pvgen_msg m;
    struct err e = {0};

    a.text = calloc((size_t)a.n, sizeof(*a.text));
    a.key = calloc((size_t)a.n, sizeof(*a.key));
    a.kind = calloc((size_t)a.n, sizeof(*a.kind));
    a.event = calloc((size_t)a.n, sizeof(*a.event));
    for (long long i = 0; i < a.n; i++) {
        assert_int_equal(pvgen_message(g, i, &m, &e), 0);
        assert_int_equal(strlen(m.text), m.len);
        assert_null(memchr(m.text, '\n', m.len));
        a.text[i] = strdup(m.text);
        memcpy(a.key[i], m.key, sizeof(m.key));
        a.kind[i] = m.kind;
        a.event[i] = m.event;
    }
    return a;
}

static void
all_free(struct all *a)
{
    for (long long i = 0; i < a->n; i++)
        free(a->text[i]);
    free(a->text), free(a->key), free(a->kind), free(a->event);
}

static bool
is_uuid4(const char *s)
{
    if (s == NULL || strlen(s) != 36 || s[14] != '4' || strchr("89ab", s[19]) == NULL)
        return false;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23)
                ? s[i] != '-'
                : !isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

static void
test_determinism(void **state)
{
    struct pvgen *a = gen(7, 500, 5, 20, 1), *b = gen(7, 500, 5, 20, 1), *c = gen(8, 500, 5, 20, 1);
    struct all x = collect(a), y, z;
    struct pvgen_msg m;
    struct err e = {0};
    int same = 0;

    (void)state;
    /* out of order, on a fresh generator: the same bytes */
    for (long long i = x.n - 1; i >= 0; i -= 37) {
        assert_int_equal(pvgen_message(b, i, &m, &e), 0);
        assert_string_equal(m.text, x.text[i]);
    }
    y = collect(b);
    z = collect(c);
    for (long long i = 0; i < x.n; i++) {
        assert_string_equal(x.text[i], y.text[i]);
        assert_string_equal(x.key[i], y.key[i]);
        same += x.kind[i] == PVGEN_EVENT && strcmp(x.text[i], z.text[i]) == 0;
    }
    assert_int_equal(same, 0);
    assert_int_equal(pvgen_message(a, x.n, &m, &e), -1);
    assert_int_equal(pvgen_message(a, -1, &m, &e), -1);
    all_free(&x), all_free(&y), all_free(&z);
    pvgen_free(a), pvgen_free(b), pvgen_free(c);
}

/* local_time is time_stamp shifted by a whole quarter hour between -12 h and +14 h. */
static void
check_local_time(const json_t *ev)
{
    const char *lt = json_string_value(json_object_get(ev, "local_time"));
    json_int_t ts = json_integer_value(json_object_get(ev, "time_stamp"));
    struct tm tm = {0};
    char *end;
    long long d;

    if (lt == NULL)
        return;
    end = strptime(lt, "%Y-%m-%d %H:%M:%S", &tm);
    assert_true(end != NULL && *end == '\0' && strlen(lt) == 19);
    d = (long long)timegm(&tm) - ts;
    assert_true(d % 900 == 0 && d >= -12 * 3600 && d <= 14 * 3600);
}

static void
check_false_or_string(const json_t *ev, const char *key)
{
    const json_t *v = json_object_get(ev, key);

    assert_true(v == NULL || json_is_null(v) || json_is_false(v) ||
                (json_is_string(v) && json_string_length(v) > 0));
}

static void
check_options(const json_t *ev)
{
    const json_t *opt = json_object_get(ev, "option"), *o;
    size_t i;

    if (opt == NULL)
        return;
    assert_true(json_is_array(opt));
    json_array_foreach(opt, i, o)
    {
        assert_int_equal(json_object_size(o), 4);
        assert_non_null(json_string_value(json_object_get(o, "option_label")));
        assert_non_null(json_string_value(json_object_get(o, "option_id")));
        assert_non_null(json_string_value(json_object_get(o, "value_label")));
        assert_non_null(json_string_value(json_object_get(o, "value_id")));
    }
}

/* The shapes of one valid event; its page (URL without query) noted per product and shop. */
static void
check_event(const json_t *ev, const char *key, json_t *pages)
{
    static const char *const collections = " view_product_detail select_product_option "
                                           "select_product_option_quality product_detail_"
                                           "recommendation_visible ";
    const char *s, *url = json_string_value(json_object_get(ev, "current_url"));
    const char *pid = json_string_value(json_object_get(ev, "product_id"));
    json_int_t ts = json_integer_value(json_object_get(ev, "time_stamp"));

    assert_string_equal(json_string_value(json_object_get(ev, "id")), key);
    assert_true(is_uuid4(key));
    assert_true(json_is_integer(json_object_get(ev, "time_stamp")));
    assert_true(ts >= START && ts < START + 86400);
    if ((s = json_string_value(json_object_get(ev, "_id"))) != NULL)
        assert_true(strlen(s) == 24 && strspn(s, "0123456789abcdef") == 24);
    if ((s = json_string_value(json_object_get(ev, "device_id"))) != NULL)
        assert_true(is_uuid4(s));
    if ((s = json_string_value(json_object_get(ev, "resolution"))) != NULL)
        assert_true(strchr(s, 'x') != NULL && strspn(s, "0123456789x") == strlen(s));
    if ((s = json_string_value(json_object_get(ev, "store_id"))) != NULL)
        assert_true(*s && strspn(s, "0123456789") == strlen(s));
    if ((s = json_string_value(json_object_get(ev, "show_recommendation"))) != NULL)
        assert_true(strcmp(s, "true") == 0 || strcmp(s, "false") == 0);
    if ((s = json_string_value(json_object_get(ev, "api_version"))) != NULL)
        assert_string_equal(s, "1.0");
    if ((s = json_string_value(json_object_get(ev, "collection"))) != NULL && strlen(s) < 40) {
        char pat[64];
        snprintf(pat, sizeof(pat), " %s ", s);
        assert_true(strstr(collections, pat) != NULL || strstr(s, "recommendation_") != NULL);
    }
    check_local_time(ev);
    check_false_or_string(ev, "recommendation");
    check_false_or_string(ev, "utm_source");
    check_false_or_string(ev, "utm_medium");
    check_options(ev);
    if (url != NULL && pid != NULL) {
        /* one page per product and shop: the URL up to ".html" */
        assert_true(strncmp(url, "https://www.glamira.", 20) == 0 && strstr(url, ".html"));
        char k[600], page[600];
        const char *shop = strstr(url, "glamira-");
        snprintf(k, sizeof(k), "%s %.*s", pid, (int)(shop - url), url);
        snprintf(page, sizeof(page), "%.*s", (int)(strstr(url, ".html") + 5 - url), url);
        const char *was = json_string_value(json_object_get(pages, k));
        if (was != NULL)
            assert_string_equal(was, page);
        json_object_set_new(pages, k, json_string(page));
    }
}

static void
test_field_shapes(void **state)
{
    struct pvgen *g = gen(1, 1000, 0, 0, 1);
    struct all a = collect(g);
    json_t *pages = json_object();
    int nulls = 0, missing = 0;

    (void)state;
    for (long long i = 0; i < a.n; i++) {
        json_error_t je;
        json_t *ev = json_loads(a.text[i], 0, &je);
        if (ev == NULL)
            fail_msg("message %lld is not JSON: %s", i, je.text);
        assert_int_equal(a.kind[i], PVGEN_EVENT);
        check_event(ev, a.key[i], pages);
        nulls += json_is_null(json_object_get(ev, "product_id"));
        missing += json_object_get(ev, "option") == NULL;
        json_decref(ev);
    }
    assert_true(nulls > 0 && nulls < 50);      /* a few null product ids */
    assert_true(missing > 0 && missing < 200); /* option missing sometimes */
    assert_true(json_object_size(pages) > 100);
    json_decref(pages);
    all_free(&a);
    pvgen_free(g);
}

static void
test_broken_kinds(void **state)
{
    struct pvgen *g = gen(3, 400, 40, 0, 1);
    struct all a = collect(g);
    int n[PVGEN_KINDS] = {0};

    (void)state;
    for (long long i = 0; i < a.n; i++) {
        json_t *ev = json_loads(a.text[i], 0, NULL);
        n[a.kind[i]]++;
        assert_int_equal(a.event[i], i);
        assert_true(is_uuid4(a.key[i]));
        if (a.kind[i] == PVGEN_NOT_JSON)
            assert_null(ev);
        else
            assert_non_null(ev);
        if (a.kind[i] == PVGEN_NO_ID)
            assert_null(json_object_get(ev, "id"));
        if (a.kind[i] == PVGEN_BAD_TIME)
            assert_true(json_is_string(json_object_get(ev, "time_stamp")));
        if (a.kind[i] == PVGEN_BAD_OPTION)
            assert_true(json_is_object(json_object_get(ev, "option")));
        if (a.kind[i] != PVGEN_NOT_JSON && a.kind[i] != PVGEN_NO_ID)
            assert_string_equal(json_string_value(json_object_get(ev, "id")), a.key[i]);
        json_decref(ev);
    }
    for (long long i = 0; i < a.n; i++) /* no two messages alike: only duplicates are */
        for (long long j = i + 1; j < a.n; j++)
            assert_string_not_equal(a.text[i], a.text[j]);
    assert_int_equal(n[PVGEN_EVENT], 360);
    for (int k = PVGEN_NOT_JSON; k <= PVGEN_BAD_OPTION; k++)
        assert_int_equal(n[k], 10);
    assert_string_equal(pvgen_kind_name(PVGEN_BAD_TIME), "bad_time_stamp");
    all_free(&a);
    pvgen_free(g);
}

static void
test_duplicates(void **state)
{
    struct pvgen *g = gen(4, 300, 30, 50, 1);
    struct all a = collect(g);
    int dups = 0;

    (void)state;
    assert_int_equal(a.n, 350);
    for (long long i = 0; i < a.n; i++) {
        if (a.kind[i] != PVGEN_DUPLICATE)
            continue;
        dups++;
        long long first = -1;
        for (long long j = 0; j < i && first < 0; j++)
            if (a.kind[j] != PVGEN_DUPLICATE && a.event[j] == a.event[i])
                first = j;
        assert_true(first >= 0);                      /* re-sends something already sent ... */
        assert_int_equal(a.kind[first], PVGEN_EVENT); /* ... that was valid */
        assert_string_equal(a.text[first], a.text[i]);
        assert_string_equal(a.key[first], a.key[i]);
    }
    assert_int_equal(dups, 50);
    all_free(&a);
    pvgen_free(g);
}

/* Counts of distinct strings: a JSON object used as a counter. */
static void
bump(json_t *counts, const char *s)
{
    json_object_set_new(counts, s,
                        json_integer(json_integer_value(json_object_get(counts, s)) + 1));
}

static json_int_t
max_count(const json_t *counts)
{
    const char *k;
    json_t *v;
    json_int_t m = 0;

    json_object_foreach((json_t *)counts, k, v) if (json_integer_value(v) > m) m =
        json_integer_value(v);
    return m;
}

static void
test_diversity(void **state)
{
    struct pvgen *g = gen(1, 1000, 10, 0, 1);
    struct all a = collect(g);
    json_t *countries = json_object(), *uas = json_object(), *prods = json_object();
    int v6 = 0, no_ip = 0, android = 0, iphone = 0;

    (void)state;
    for (long long i = 0; i < a.n; i++) {
        json_t *ev = json_loads(a.text[i], 0, NULL);
        const char *ip = json_string_value(json_object_get(ev, "ip"));
        const char *ua = json_string_value(json_object_get(ev, "user_agent"));
        const char *pid = json_string_value(json_object_get(ev, "product_id"));
        struct geo_result r;
        if (ev == NULL)
            continue;
        if (ip != NULL && geo_lookup(G, ip, &r) && r.country_code[0])
            bump(countries, r.country_code);
        v6 += ip != NULL && strchr(ip, ':') != NULL;
        no_ip += ip == NULL;
        if (ua != NULL) {
            bump(uas, ua);
            android += strstr(ua, "Android") != NULL;
            iphone += strstr(ua, "iPhone") != NULL;
        }
        if (pid != NULL)
            bump(prods, pid);
        json_decref(ev);
    }
    assert_true(json_object_size(countries) >= 40);
    assert_true(v6 >= 3 && v6 < 100);
    assert_true(no_ip >= 1 && no_ip < 50);
    assert_true(json_object_size(uas) >= 80 && android > 0 && iphone > 0);
    assert_true(max_count(uas) >= 20); /* some agents are common */
    assert_true(json_object_size(prods) >= 100 && max_count(prods) >= 50);
    json_decref(countries), json_decref(uas), json_decref(prods);
    all_free(&a);
    pvgen_free(g);
}

static void
test_days(void **state)
{
    struct pvgen *g = gen(2, 900, 0, 0, 3);
    struct all a = collect(g);
    int per_day[3] = {0};
    json_int_t last = 0;

    (void)state;
    for (long long i = 0; i < a.n; i++) {
        json_t *ev = json_loads(a.text[i], 0, NULL);
        json_int_t ts = json_integer_value(json_object_get(ev, "time_stamp"));
        assert_true(ts >= START && ts < START + 3 * 86400 && ts >= last);
        per_day[(ts - START) / 86400]++;
        last = ts;
        json_decref(ev);
    }
    for (int d = 0; d < 3; d++)
        assert_int_equal(per_day[d], 300);
    all_free(&a);
    pvgen_free(g);
}

static void
test_catalogue(void **state)
{
    struct pvgen *g = gen(1, 10, 0, 0, 1);
    struct err e = {0};
    char *buf = NULL, *line, *save = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    int rows = 0, quoted = 0;

    (void)state;
    assert_int_equal(pvgen_catalogue(g, f, &e), 0);
    fclose(f);
    line = strtok_r(buf, "\n", &save);
    assert_string_equal(line, "product_id,name,url,language_code\r");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        rows++;
        assert_true(isdigit((unsigned char)line[0]));
        if (strchr(line, '"') != NULL) {
            quoted++;
            assert_non_null(strstr(line, ",\"Glamira "));
            assert_non_null(strstr(line, "\"\", "));
        }
        assert_non_null(strstr(line, ",https://www.glamira."));
    }
    assert_true(rows >= 100 && rows <= 200 && quoted > 0);
    free(buf);
    pvgen_free(g);
}

static void
test_bad_options(void **state)
{
    struct pvgen_opts o = {
        .seed = 1, .count = 10, .broken = 11, .start = START, .days = 1, .geo = G};
    struct err e = {0};

    (void)state;
    assert_null(pvgen_new(&o, &e));
    assert_int_equal(e.code, ERR_USAGE);
    o.broken = 0, o.duplicates = 11;
    assert_null(pvgen_new(&o, &e));
    o.duplicates = 0, o.days = 0;
    assert_null(pvgen_new(&o, &e));
    o.days = 1, o.ua_file = "/nonexistent/test_ua.yaml";
    assert_null(pvgen_new(&o, &e));
    assert_non_null(strstr(e.msg, "/nonexistent/test_ua.yaml"));
    o.ua_file = "/etc/hostname"; /* YAML without any user agent */
    assert_null(pvgen_new(&o, &e));
    assert_non_null(strstr(e.msg, "/etc/hostname"));
    pvgen_free(NULL);
}

static int
setup(void **state)
{
    struct err e = {0};

    (void)state;
    G = geo_new(NULL, NULL, NULL, &e);
    return G == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    geo_free(G);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),  cmocka_unit_test(test_field_shapes),
        cmocka_unit_test(test_broken_kinds), cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_diversity),    cmocka_unit_test(test_days),
        cmocka_unit_test(test_catalogue),    cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

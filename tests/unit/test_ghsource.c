/* Unit tests for the load generator's pure modules: ghsource (synthetic GitHub events) and
 * ghpoll (the LIVE source's dedup set, Link header and wait rules).
 *
 * Covered: an event depends only on (seed, k) (same text made twice, in any order, by two
 * generators), ids are digit strings unique in a stream, another seed gives other events,
 * created_at advances per_second events a second from 2024-05-01T12:00:00Z, every type of
 * the mix appears with PushEvent the most frequent, each type's payload keys, invalid_every
 * marks exactly every Nth event; the dedup set refuses repeats, forgets the oldest when full
 * and stays exact after 100000 insertions into 1000 places; Link rel="next" found or not;
 * the wait after an answer from X-Poll-Interval, rate-limit 403/429 (Retry-After or
 * Remaining 0 until Reset) and a 200 that used up the limit; http_response_header (the
 * header lines LIVE mode and the resends read) in any case, trimmed, the last one winning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghpoll.h"
#include "ghsource.h"
#include "http.h"

static char *
event_text(const struct ghsource *g, uint64_t k)
{
    json_t *ev = ghsource_event(g, k);
    char *s;

    assert_non_null(ev);
    s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ev);
    assert_non_null(s);
    return s;
}

static void
test_deterministic(void **state)
{
    struct ghsource_opts o = {.seed = 42};
    struct ghsource *a = ghsource_new(&o, NULL), *b = ghsource_new(&o, NULL);
    char *late = event_text(b, 999); /* b makes event 999 first, a last */

    (void)state;
    for (uint64_t k = 0; k < 1000; k++) {
        char *x = event_text(a, k), *y = event_text(b, k);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
    char *again = event_text(a, 999);
    assert_string_equal(late, again);
    free(late);
    free(again);
    o.seed = 43;
    struct ghsource *c = ghsource_new(&o, NULL);
    char *x = event_text(a, 0), *y = event_text(c, 0);
    assert_string_not_equal(x, y);
    free(x);
    free(y);
    ghsource_free(a);
    ghsource_free(b);
    ghsource_free(c);
}

static void
test_ids_and_times(void **state)
{
    struct ghsource *g = ghsource_new(NULL, NULL);
    json_t *e0 = ghsource_event(g, 0), *e19 = ghsource_event(g, 19), *e20 = ghsource_event(g, 20);
    const char *id0 = json_string_value(json_object_get(e0, "id"));

    (void)state;
    assert_non_null(id0);
    assert_int_equal(strspn(id0, "0123456789"), strlen(id0));
    assert_string_not_equal(id0, json_string_value(json_object_get(e19, "id")));
    assert_string_equal(json_string_value(json_object_get(e0, "created_at")),
                        "2024-05-01T12:00:00Z");
    assert_string_equal(json_string_value(json_object_get(e19, "created_at")),
                        "2024-05-01T12:00:00Z");
    assert_string_equal(json_string_value(json_object_get(e20, "created_at")),
                        "2024-05-01T12:00:01Z");
    assert_true(json_is_true(json_object_get(e0, "public")));
    json_decref(e0);
    json_decref(e19);
    json_decref(e20);
    ghsource_free(g);
}

/* The payload keys each type must have, in ghsource_types order. */
static const char *const payload_keys[GHSOURCE_NTYPES][4] = {
    {"ref", "head", "before", "commits"},
    {"ref", "ref_type", "master_branch", NULL},
    {"action", "number", "pull_request"},
    {"action", NULL},
    {"action", "issue", "comment", NULL},
    {"action", "issue", NULL},
    {"ref", "ref_type", NULL},
    {"forkee", NULL},
    {"action", "release", NULL},
};

static int
type_index(const char *t)
{
    for (int i = 0; i < GHSOURCE_NTYPES; i++)
        if (strcmp(ghsource_types[i], t) == 0)
            return i;
    return -1;
}

static void
test_mix_and_shapes(void **state)
{
    struct ghsource *g = ghsource_new(NULL, NULL);
    int count[GHSOURCE_NTYPES] = {0};

    (void)state;
    for (uint64_t k = 0; k < 3000; k++) {
        json_t *ev = ghsource_event(g, k), *p = json_object_get(ev, "payload");
        int t = type_index(json_string_value(json_object_get(ev, "type")));
        assert_true(t >= 0);
        count[t]++;
        for (int i = 0; i < 4 && payload_keys[t][i] != NULL; i++)
            assert_non_null(json_object_get(p, payload_keys[t][i]));
        assert_true(json_is_integer(json_object_get(json_object_get(ev, "actor"), "id")));
        assert_non_null(
            strchr(json_string_value(json_object_get(json_object_get(ev, "repo"), "name")), '/'));
        json_decref(ev);
    }
    for (int i = 0; i < GHSOURCE_NTYPES; i++)
        assert_true(count[i] > 0);
    for (int i = 1; i < GHSOURCE_NTYPES; i++)
        assert_true(count[0] > count[i]);
    ghsource_free(g);
}

static void
test_invalid_every(void **state)
{
    struct ghsource_opts o = {.invalid_every = 7};
    struct ghsource *g = ghsource_new(&o, NULL);

    (void)state;
    for (uint64_t k = 0; k < 50; k++) {
        json_t *ev = ghsource_event(g, k);
        bool bad = !json_is_integer(json_object_get(json_object_get(ev, "actor"), "id"));
        assert_int_equal(bad, (k + 1) % 7 == 0);
        json_decref(ev);
    }
    ghsource_free(g);
    o.invalid_every = -1;
    assert_null(ghsource_new(&o, NULL));
}

static void
test_seen_basic(void **state)
{
    struct ghpoll_seen *s = ghpoll_seen_new(3, NULL);

    (void)state;
    assert_true(ghpoll_seen_add(s, "1"));
    assert_false(ghpoll_seen_add(s, "1"));
    assert_true(ghpoll_seen_add(s, "2"));
    assert_true(ghpoll_seen_add(s, "3"));
    assert_true(ghpoll_seen_add(s, "4")); /* "1" forgotten */
    assert_int_equal(ghpoll_seen_count(s), 3);
    assert_false(ghpoll_seen_has(s, "1"));
    assert_true(ghpoll_seen_has(s, "2") && ghpoll_seen_has(s, "3") && ghpoll_seen_has(s, "4"));
    assert_false(ghpoll_seen_add(s, "4"));
    ghpoll_seen_free(s);
    assert_null(ghpoll_seen_new(0, NULL));
}

static void
test_seen_bounded(void **state)
{
    struct ghpoll_seen *s = ghpoll_seen_new(1000, NULL);
    char id[32];

    (void)state;
    for (int i = 0; i < 100000; i++) {
        snprintf(id, sizeof(id), "%d", 38000000 + i);
        assert_true(ghpoll_seen_add(s, id));
    }
    assert_int_equal(ghpoll_seen_count(s), 1000);
    for (int i = 0; i < 100000; i++) {
        snprintf(id, sizeof(id), "%d", 38000000 + i);
        assert_int_equal(ghpoll_seen_has(s, id), i >= 99000);
    }
    ghpoll_seen_free(s);
}

static void
test_link_next(void **state)
{
    char buf[256];
    const char *gh = "<https://api.github.com/events?page=2>; rel=\"next\", "
                     "<https://api.github.com/events?page=10>; rel=\"last\"";
    const char *last = "<https://api.github.com/events?page=1>; rel=\"prev\", "
                       "<https://api.github.com/events?page=1>; rel=\"first\"";

    (void)state;
    assert_string_equal(ghpoll_link_next(gh, buf, sizeof(buf)),
                        "https://api.github.com/events?page=2");
    assert_null(ghpoll_link_next(last, buf, sizeof(buf)));
    assert_null(ghpoll_link_next(NULL, buf, sizeof(buf)));
    assert_null(ghpoll_link_next(gh, buf, 10)); /* does not fit */
}

static void
test_wait(void **state)
{
    bool limited;
    struct ghpoll_answer ok = {
        .status = 200, .poll_interval = "60", .remaining = "4999", .reset = "1700003600"};
    struct ghpoll_answer none = {.status = 304};
    struct ghpoll_answer rl = {.status = 403, .remaining = "0", .reset = "1700000005"};
    struct ghpoll_answer ra = {.status = 429, .retry_after = "7", .poll_interval = "1"};
    struct ghpoll_answer used = {
        .status = 200, .poll_interval = "1", .remaining = "0", .reset = "1700000030"};
    struct ghpoll_answer forbidden = {.status = 403, .poll_interval = "2"};

    (void)state;
    assert_true(ghpoll_wait(&ok, 1700000000, 5, &limited) == 60 && !limited);
    assert_true(ghpoll_wait(&none, 1700000000, 5, &limited) == 5 && !limited);
    assert_true(ghpoll_wait(&rl, 1700000000, 5, &limited) == 6 && limited);
    assert_true(ghpoll_wait(&ra, 1700000000, 5, &limited) == 7 && limited);
    assert_true(ghpoll_wait(&used, 1700000000, 5, &limited) == 31 && limited);
    assert_true(ghpoll_wait(&forbidden, 1700000000, 5, &limited) == 2 && !limited);
}

static void
test_response_header(void **state)
{
    char hdrs[] = "HTTP/1.1 200 OK\r\nETag: W/\"abc\"\r\nretry-after:  3 \r\n"
                  "Link: <a>; rel=\"next\"\r\nX-Poll-Interval: 60\r\nx-poll-interval: 61\r\n\r\n";
    struct http_response r = {.headers = hdrs};
    char buf[64];

    (void)state;
    assert_string_equal(http_response_header(&r, "etag", buf, sizeof(buf)), "W/\"abc\"");
    assert_string_equal(http_response_header(&r, "Retry-After", buf, sizeof(buf)), "3");
    assert_string_equal(http_response_header(&r, "X-Poll-Interval", buf, sizeof(buf)), "61");
    assert_null(http_response_header(&r, "Retry", buf, sizeof(buf)));
    assert_null(http_response_header(&r, "Missing", buf, sizeof(buf)));
    r.headers = NULL;
    assert_null(http_response_header(&r, "ETag", buf, sizeof(buf)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),   cmocka_unit_test(test_ids_and_times),
        cmocka_unit_test(test_mix_and_shapes),  cmocka_unit_test(test_invalid_every),
        cmocka_unit_test(test_seen_basic),      cmocka_unit_test(test_seen_bounded),
        cmocka_unit_test(test_link_next),       cmocka_unit_test(test_wait),
        cmocka_unit_test(test_response_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

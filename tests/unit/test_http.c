/* Unit tests for http (tasks/lib/http.c) against real servers on loopback: the scripted
 * tests/lib/http_fixture.py (a scenario folder written by each test; it records every request)
 * and the drug registry portal tests/fixtures/dvc_portal.py (its counters see concurrency).
 *
 * Covered: retries on 5xx then success (tries counted, server saw exactly that many), giving
 * up after max_tries with the label, URL and try count in a temporary error, 4xx not retried,
 * Retry-After honoured, per-try timeout, connection refused, a validator rejecting incomplete
 * JSON and a transport-truncated body (both retried), the size cap (not retried), politeness
 * (N starts take at least (N-1) * min_interval: only the lower bound is asserted), bounded
 * parallelism seen by the client and by the server, headers and User-Agent, cancel from a
 * signal handler, the wake fd, and a paged crawl of the portal with 30% failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

extern char **environ;

/* One fixture server process: its folder (routes.json, requests.jsonl, log), URL, stdin. */
struct server {
    char dir[64];
    char url[128];
    pid_t pid;
    int in_fd;
};

static struct server srv = {.pid = -1, .in_fd = -1};

static double
now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Read the URL line the server prints, within a deadline. */
static void
read_url(int fd, char *url, size_t size)
{
    double deadline = now_mono() + 20;
    size_t n = 0;

    while (n < size - 1 && (n == 0 || url[n - 1] != '\n')) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((deadline - now_mono()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            fail_msg("fixture server did not print its URL (see %s/log)", srv.dir);
        ssize_t r = read(fd, url + n, 1);
        if (r <= 0)
            fail_msg("fixture server exited (see %s/log)", srv.dir);
        n += (size_t)r;
    }
    url[n > 0 ? n - 1 : 0] = '\0';
}

/* Start python3 script with up to 4 arguments; the server dies when srv.in_fd is closed. */
static void
server_spawn(const char *script, const char *const args[])
{
    const char *src = getenv("GUST_SRC") != NULL ? getenv("GUST_SRC") : ".";
    char path[512], log[128];
    int in[2], out[2];
    posix_spawn_file_actions_t fa;

    snprintf(path, sizeof(path), "%s/%s", src, script);
    snprintf(log, sizeof(log), "%s/log", srv.dir);
    char *argv[8] = {"python3", path};
    int n = 2;

    for (; n < 6 && args[n - 2] != NULL; n++)
        argv[n] = (char *)args[n - 2];
    argv[n] = "--stdin";
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(posix_spawnp(&srv.pid, "python3", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    srv.in_fd = in[1];
    read_url(out[0], srv.url, sizeof(srv.url));
    close(out[0]);
}

/* Start tests/lib/http_fixture.py on a scenario (the text of routes.json). */
static void
fixture_start(const char *routes)
{
    char path[128], rec[128];

    snprintf(path, sizeof(path), "%s/routes.json", srv.dir);
    write_file(path, routes);
    snprintf(rec, sizeof(rec), "%s/requests.jsonl", srv.dir);
    server_spawn("tests/lib/http_fixture.py", (const char *[]){srv.dir, "--record", rec, NULL});
}

/* Start tests/fixtures/dvc_portal.py with that many records. */
static void
portal_start(int records)
{
    char n[32];

    snprintf(n, sizeof(n), "%d", records);
    server_spawn("tests/fixtures/dvc_portal.py", (const char *[]){"--records", n, NULL});
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(srv.dir, sizeof(srv.dir), "/tmp/gust-http-XXXXXX");
    if (mkdtemp(srv.dir) == NULL)
        return -1;
    srv.pid = -1;
    srv.in_fd = -1;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    if (srv.in_fd >= 0)
        close(srv.in_fd);
    if (srv.pid > 0) {
        /* The servers stop on EOF, but only after serve_forever's 0.5 s poll tick; they hold
         * no state worth a graceful exit, so do not wait that long per test. */
        kill(srv.pid, SIGKILL);
        waitpid(srv.pid, NULL, 0);
    }
    srv.pid = -1;
    srv.in_fd = -1;
    nftw(srv.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* The requests the scripted fixture recorded, as a JSON array. */
static json_t *
recorded(void)
{
    char path[128], line[65536];
    json_t *all = json_array();
    FILE *f;

    snprintf(path, sizeof(path), "%s/requests.jsonl", srv.dir);
    if ((f = fopen(path, "r")) == NULL)
        return all;
    while (fgets(line, sizeof(line), f) != NULL)
        json_array_append_new(all, json_loads(line, 0, NULL));
    fclose(f);
    return all;
}

static size_t
recorded_count(void)
{
    json_t *all = recorded();
    size_t n = json_array_size(all);

    json_decref(all);
    return n;
}

static struct http_client *
client(struct http_opts o)
{
    struct err e = {0};
    struct http_client *c = http_client_new(&o, &e);

    if (c == NULL)
        fail_msg("http_client_new: %s", e.msg);
    return c;
}

static void
submit(struct http_client *c, enum http_method m, const char *path, const char *json,
       const char *label, void *arg)
{
    char url[256];
    struct err e = {0};

    snprintf(url, sizeof(url), "%s%s", srv.url, path);
    struct http_request r = {.method = m, .url = url, .json = json, .label = label, .arg = arg};
    if (http_submit(c, &r, &e) < 0)
        fail_msg("http_submit: %s", e.msg);
}

/* Drive c until n responses are back (a 60 s safety deadline); they go to out[]. */
static void
collect(struct http_client *c, struct http_response **out, int n)
{
    double deadline = now_mono() + 60;
    struct err e = {0};
    int got = 0;

    while (got < n) {
        struct http_response *r;
        if (now_mono() > deadline)
            fail_msg("only %d of %d responses after 60 s", got, n);
        if (http_client_run(c, 1000, &e) < 0)
            fail_msg("http_client_run: %s", e.msg);
        while (got < n && (r = http_next_done(c)) != NULL)
            out[got++] = r;
    }
    assert_null(http_next_done(c));
    assert_int_equal(http_client_busy(c), 0);
}

static struct http_response *
one(struct http_client *c, enum http_method m, const char *path, const char *json,
    const char *label)
{
    struct http_response *r;

    submit(c, m, path, json, label, NULL);
    collect(c, &r, 1);
    return r;
}

static void
test_retry_then_success(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/a\", \"responses\": ["
                  "{\"status\": 500, \"body\": \"boom\"},"
                  "{\"status\": 503, \"headers\": {\"Retry-After\": \"0\"}},"
                  "{\"status\": 200, \"json\": {\"ok\": true}}]}]}");
    struct http_client *c = client((struct http_opts){.max_tries = 5, .backoff_base_ms = 10});
    struct http_response *r = one(c, HTTP_GET, "/a", NULL, NULL);
    struct http_stats st;

    assert_int_equal(r->err.code, ERR_OK);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "{\"ok\": true}");
    assert_int_equal(r->size, strlen(r->body));
    assert_int_equal(r->tries, 3);
    assert_int_equal(recorded_count(), 3);
    http_client_stats(c, &st);
    assert_int_equal(st.started, 3);
    assert_int_equal(st.retried, 2);
    assert_int_equal(st.succeeded, 1);
    http_response_free(r);
    http_client_free(c);
}

static void
test_give_up_names_label(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/api/page\", \"responses\": [{\"status\": 500}]}]}");
    struct http_client *c = client((struct http_opts){.max_tries = 3, .backoff_base_ms = 5});
    struct http_response *r =
        one(c, HTTP_POST, "/api/page", "{\"skipCount\": 500}", "skipCount=500");

    assert_int_not_equal(r->err.code, ERR_OK);
    assert_true(r->err.temporary);
    assert_int_equal(r->status, 500);
    assert_int_equal(r->tries, 3);
    assert_non_null(strstr(r->err.msg, "skipCount=500"));
    assert_non_null(strstr(r->err.msg, "POST http://127.0.0.1:"));
    assert_non_null(strstr(r->err.msg, "/api/page"));
    assert_non_null(strstr(r->err.msg, "HTTP 500"));
    assert_non_null(strstr(r->err.msg, "3 tries"));
    assert_int_equal(recorded_count(), 3); /* never more than max_tries */
    http_response_free(r);
    http_client_free(c);
}

static void
test_4xx_not_retried(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/gone\", \"responses\": [{\"status\": 404}]}]}");
    struct http_client *c = client((struct http_opts){.max_tries = 4, .backoff_base_ms = 5});
    struct http_response *r = one(c, HTTP_GET, "/gone", NULL, "page 7");

    assert_int_not_equal(r->err.code, ERR_OK);
    assert_false(r->err.temporary);
    assert_int_equal(r->tries, 1);
    assert_non_null(strstr(r->err.msg, "HTTP 404"));
    assert_non_null(strstr(r->err.msg, "page 7: GET"));
    assert_int_equal(recorded_count(), 1);
    http_response_free(r);
    http_client_free(c);
}

static void
test_retry_after_honoured(void **state)
{
    (void)state;
    fixture_start(
        "{\"routes\": [{\"path\": \"/r\", \"responses\": ["
        "{\"status\": 429, \"headers\": {\"Retry-After\": \"1\"}}, {\"body\": \"x\"}]}]}");
    struct http_client *c = client((struct http_opts){.backoff_base_ms = 10});
    double t0 = now_mono();
    struct http_response *r = one(c, HTTP_GET, "/r", NULL, NULL);

    assert_int_equal(r->err.code, ERR_OK);
    assert_int_equal(r->tries, 2);
    assert_true(now_mono() - t0 >= 0.99);
    assert_true(r->elapsed_ms >= 990);
    http_response_free(r);
    http_client_free(c);
}

static void
test_timeout(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/slow\", \"responses\": [{\"delay_ms\": 4000}]}]}");
    struct http_client *c =
        client((struct http_opts){.timeout_ms = 200, .max_tries = 2, .backoff_base_ms = 5});
    double t0 = now_mono();
    struct http_response *r = one(c, HTTP_GET, "/slow", NULL, "slow page");

    assert_int_not_equal(r->err.code, ERR_OK);
    assert_true(r->err.temporary);
    assert_int_equal(r->tries, 2);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->err.msg, "timed out"));
    assert_true(now_mono() - t0 < 3.0); /* did not wait for the 4 s answers */
    http_response_free(r);
    http_client_free(c);
}

static void
test_connection_refused(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    /* a port that was free a moment ago and has no listener now */
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    snprintf(srv.url, sizeof(srv.url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    struct http_client *c = client((struct http_opts){.max_tries = 2, .backoff_base_ms = 5});
    struct http_response *r = one(c, HTTP_GET, "/x", NULL, NULL);

    assert_int_not_equal(r->err.code, ERR_OK);
    assert_true(r->err.temporary);
    assert_int_equal(r->tries, 2);
    assert_non_null(strstr(r->err.msg, "gave up after 2 tries"));
    http_response_free(r);
    http_client_free(c);
}

static void
test_validator_rejects_incomplete_json(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/j\", \"responses\": ["
                  "{\"body\": \"{\\\"items\\\": [1, 2\"},"
                  "{\"body\": \"<html>502 Bad Gateway</html>\"},"
                  "{\"body\": \"{\\\"items\\\": [1, 2, 3]}\"}]}]}");
    struct http_client *c = client(
        (struct http_opts){.validate = http_validate_json, .max_tries = 3, .backoff_base_ms = 5});
    struct http_response *r = one(c, HTTP_GET, "/j", NULL, NULL);

    assert_int_equal(r->err.code, ERR_OK);
    assert_int_equal(r->tries, 3);
    assert_string_equal(r->body, "{\"items\": [1, 2, 3]}");
    http_response_free(r);
    http_client_free(c);
}

/* A parse hook: keeps the parsed document (counting how many are alive) for the caller. */
static int parsed_alive;

static int
keep_json(const char *body, size_t size, void **out, struct err *e)
{
    json_error_t je;
    json_t *j = json_loadb(body, size, 0, &je);

    if (j == NULL)
        return err_set(e, ERR_PARSE, "not JSON: %s", je.text);
    parsed_alive++;
    *out = j;
    return 0;
}

static void
free_json(void *j)
{
    parsed_alive--;
    json_decref(j);
}

static void
test_parser_keeps_result(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/j\", \"responses\": ["
                  "{\"body\": \"{\\\"items\\\": [1, 2\"},"
                  "{\"body\": \"{\\\"items\\\": [1, 2, 3]}\"}]},"
                  "{\"path\": \"/v\", \"responses\": [{\"body\": \"[1]\"}]}]}");
    struct http_client *c = client((struct http_opts){
        .parse = keep_json, .parsed_free = free_json, .max_tries = 3, .backoff_base_ms = 5});
    struct http_response *r = one(c, HTTP_GET, "/j", NULL, NULL);

    /* the incomplete body was retried; the complete one's document comes with the response */
    assert_int_equal(r->err.code, ERR_OK);
    assert_int_equal(r->tries, 2);
    assert_non_null(r->parsed);
    assert_int_equal(json_array_size(json_object_get(r->parsed, "items")), 3);
    assert_int_equal(parsed_alive, 1);
    http_response_free(r);
    assert_int_equal(parsed_alive, 0); /* freed with the response */
    /* a request's own validator replaces the client's parser: nothing kept */
    char url[256];
    snprintf(url, sizeof(url), "%s/v", srv.url);
    struct http_request req = {.url = url, .validate = http_validate_json};
    struct err e = {0};
    assert_int_equal(http_submit(c, &req, &e), 0);
    collect(c, &r, 1);
    assert_int_equal(r->err.code, ERR_OK);
    assert_null(r->parsed);
    http_response_free(r);
    /* unclaimed responses free theirs with the client */
    snprintf(url, sizeof(url), "%s/j", srv.url);
    req = (struct http_request){.url = url};
    assert_int_equal(http_submit(c, &req, &e), 0);
    assert_int_equal(http_client_run(c, 5000, &e), 1);
    assert_int_equal(parsed_alive, 1);
    http_client_free(c);
    assert_int_equal(parsed_alive, 0);
}

static void
test_validator_gives_up(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/j\", \"responses\": [{\"body\": \"[1, 2\"}]}]}");
    struct http_client *c = client((struct http_opts){.max_tries = 2, .backoff_base_ms = 5});
    char url[256];

    snprintf(url, sizeof(url), "%s/j", srv.url);
    struct http_request req = {
        .url = url, .label = "skipCount=100", .validate = http_validate_json};
    struct err e = {0};
    struct http_response *r;
    assert_int_equal(http_submit(c, &req, &e), 0);
    collect(c, &r, 1);
    assert_int_equal(r->err.code, ERR_PARSE);
    assert_true(r->err.temporary);
    assert_int_equal(r->tries, 2);
    assert_non_null(strstr(r->err.msg, "skipCount=100"));
    assert_non_null(strstr(r->err.msg, "not complete JSON"));
    assert_string_equal(r->body, "[1, 2"); /* the last body, for the caller's log */
    http_response_free(r);
    http_client_free(c);
}

static void
test_truncated_transfer_retried(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/t\", \"responses\": ["
                  "{\"body\": \"0123456789\", \"truncate_after\": 4},"
                  "{\"body\": \"0123456789\"}]}]}");
    struct http_client *c = client((struct http_opts){.backoff_base_ms = 5});
    struct http_response *r = one(c, HTTP_GET, "/t", NULL, NULL);

    assert_int_equal(r->err.code, ERR_OK);
    assert_int_equal(r->tries, 2);
    assert_string_equal(r->body, "0123456789");
    http_response_free(r);
    http_client_free(c);
}

static void
test_size_cap(void **state)
{
    (void)state;
    char routes[4096], big[1201];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(routes, sizeof(routes),
             "{\"routes\": [{\"path\": \"/big\", \"responses\": [{\"body\": \"%s\"}]},"
             "{\"path\": \"/fits\", \"responses\": [{\"body\": \"%.1000s\"}]}]}",
             big, big);
    fixture_start(routes);
    struct http_client *c =
        client((struct http_opts){.max_body = 1000, .max_tries = 3, .backoff_base_ms = 5});
    struct http_response *r = one(c, HTTP_GET, "/big", NULL, NULL);

    assert_int_not_equal(r->err.code, ERR_OK);
    assert_false(r->err.temporary);
    assert_int_equal(r->tries, 1);
    assert_non_null(strstr(r->err.msg, "larger than 1000 bytes"));
    http_response_free(r);
    r = one(c, HTTP_GET, "/fits", NULL, NULL);
    assert_int_equal(r->err.code, ERR_OK);
    assert_int_equal(r->size, 1000);
    http_response_free(r);
    http_client_free(c);
}

static void
test_politeness(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/p\", \"responses\": [{\"body\": \"ok\"}]}]}");
    struct http_client *c = client((struct http_opts){.max_parallel = 5, .min_interval_ms = 100});
    struct http_response *r[5];
    double t0 = now_mono();

    for (int i = 0; i < 5; i++)
        submit(c, HTTP_GET, "/p", NULL, NULL, NULL);
    collect(c, r, 5);
    /* 5 starts need 4 intervals whatever the parallelism allows */
    assert_true(now_mono() - t0 >= 0.4);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i]->err.code, ERR_OK);
        http_response_free(r[i]);
    }
    http_client_free(c);
}

static void
test_politeness_counts_retries(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/p\", \"responses\": ["
                  "{\"status\": 500}, {\"status\": 500}, {\"body\": \"ok\"}]}]}");
    struct http_client *c =
        client((struct http_opts){.min_interval_ms = 150, .backoff_base_ms = 1});
    double t0 = now_mono();
    struct http_response *r = one(c, HTTP_GET, "/p", NULL, NULL);

    assert_int_equal(r->tries, 3);
    assert_true(now_mono() - t0 >= 0.3); /* the retries were spaced like new requests */
    http_response_free(r);
    http_client_free(c);
}

static void
test_bounded_parallel(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/s\", \"responses\": [{\"delay_ms\": 200, "
                  "\"body\": \"ok\"}]}]}");
    struct http_client *c = client((struct http_opts){.max_parallel = 3});
    struct http_response *r[9];
    struct http_stats st;
    int args[9];
    double t0 = now_mono();

    for (int i = 0; i < 9; i++) {
        args[i] = i;
        submit(c, HTTP_GET, "/s", NULL, NULL, &args[i]);
    }
    collect(c, r, 9);
    assert_true(now_mono() - t0 >= 0.6); /* three waves of 200 ms */
    http_client_stats(c, &st);
    assert_int_equal(st.max_in_flight, 3);
    int seen = 0;
    for (int i = 0; i < 9; i++) {
        assert_int_equal(r[i]->err.code, ERR_OK);
        seen |= 1 << *(int *)r[i]->arg;
        http_response_free(r[i]);
    }
    assert_int_equal(seen, 0x1ff); /* every caller pointer came back once */
    http_client_free(c);
}

static void
test_post_headers_user_agent(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"method\": \"POST\", \"path\": \"/api\", "
                  "\"body_contains\": \"skipCount\", \"responses\": [{\"json\": [1]}]}]}");
    struct http_opts o = {0};
    struct err e = {0};
    char url[256];
    const char *body = "{\"skipCount\":0,\"tenThuoc\":\"Hoạt huyết dưỡng não\"}";

    snprintf(url, sizeof(url), "%s/api", srv.url);
    struct http_response *r = http_post_json_once(&o, url, body, NULL, &e);
    if (r == NULL)
        fail_msg("http_post_json_once: %s", e.msg);
    assert_string_equal(r->body, "[1]");
    http_response_free(r);

    json_t *all = recorded(), *req = json_array_get(all, 0);
    json_t *h = json_object_get(req, "headers");
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(json_string_value(json_object_get(req, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(req, "body")), body);
    assert_string_equal(json_string_value(json_object_get(h, "Content-Type")), "application/json");
    const char *ua = json_string_value(json_object_get(h, "User-Agent"));
    assert_non_null(ua);
    assert_true(
        strncmp(ua, HTTP_DEFAULT_USER_AGENT " libcurl/", strlen(HTTP_DEFAULT_USER_AGENT) + 9) == 0);
    json_decref(all);

    /* http_get_once reports failures through e, not a response */
    snprintf(url, sizeof(url), "%s/nothing-here", srv.url);
    assert_null(http_get_once(&o, url, "once", &e));
    assert_non_null(strstr(e.msg, "once: GET"));
    assert_non_null(strstr(e.msg, "HTTP 404"));
}

static struct http_client *sig_client;

static void
on_alarm(int sig)
{
    (void)sig;
    http_client_cancel(sig_client);
}

static void
test_cancel_from_signal_handler(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/slow\", \"responses\": [{\"delay_ms\": 5000}]}]}");
    struct http_client *c = client((struct http_opts){.max_parallel = 2});
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    struct itimerval it = {.it_value = {.tv_usec = 200000}};
    struct err e = {0};
    double t0;
    int rc;

    for (int i = 0; i < 4; i++)
        submit(c, HTTP_GET, "/slow", NULL, NULL, NULL);
    sig_client = c;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    t0 = now_mono();
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    do
        rc = http_client_run(c, -1, &e);
    while (rc == 0 && now_mono() - t0 < 10);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "cancelled"));
    assert_true(now_mono() - t0 < 2.0); /* the 5 s answers were not awaited */
    assert_null(http_next_done(c));     /* nothing half-reported */
    assert_int_equal(http_client_busy(c), 0);
    assert_int_equal(http_submit(c, &(struct http_request){.url = "http://127.0.0.1:1/"}, &e), -1);
    http_client_free(c);
}

static void
test_wake_fd(void **state)
{
    (void)state;
    fixture_start("{\"routes\": [{\"path\": \"/slow\", \"responses\": [{\"delay_ms\": 5000}]}]}");
    struct http_client *c = client((struct http_opts){0});
    struct err e = {0};
    int p[2];
    double t0;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    http_client_set_wake_fd(c, p[0]);
    submit(c, HTTP_GET, "/slow", NULL, NULL, NULL);
    assert_int_equal(write(p[1], "x", 1), 1);
    t0 = now_mono();
    assert_int_equal(http_client_run(c, 3000, &e), 0);
    assert_true(now_mono() - t0 < 1.0);
    assert_int_equal(http_client_busy(c), 1);
    http_client_free(c); /* aborts the transfer in flight */
    close(p[0]);
    close(p[1]);
}

/* Control the portal: POST /_control with a JSON body. */
static void
portal_control(const char *json)
{
    char url[256];
    struct err e = {0};
    struct http_response *r;

    snprintf(url, sizeof(url), "%s/_control", srv.url);
    if ((r = http_post_json_once(NULL, url, json, "control", &e)) == NULL)
        fail_msg("%s", e.msg);
    http_response_free(r);
}

static json_t *
portal_counters(void)
{
    char url[256];
    struct err e = {0};
    struct http_response *r;

    snprintf(url, sizeof(url), "%s/_control/counters", srv.url);
    if ((r = http_get_once(NULL, url, "counters", &e)) == NULL)
        fail_msg("%s", e.msg);
    json_t *j = json_loads(r->body, 0, NULL);
    http_response_free(r);
    assert_non_null(j);
    return j;
}

static long
counter(json_t *j, const char *key)
{
    return (long)json_integer_value(json_object_get(j, key));
}

/* The crawler's use: every page of the portal, in parallel, through 5xx, truncated and non-JSON
 * answers; each page carries its skipCount as label and arg. */
static void
test_portal_crawl(void **state)
{
    (void)state;
    portal_start(1234);
    portal_control("{\"op\": \"faults\", \"fail_rate\": 0.15, \"truncate_rate\": 0.1, "
                   "\"garbage_rate\": 0.1, \"delay_ms\": 30, \"seed\": 7}");
    struct http_client *c = client((struct http_opts){.max_parallel = 3,
                                                      .max_tries = 10,
                                                      .backoff_base_ms = 5,
                                                      .backoff_cap_ms = 50,
                                                      .validate = http_validate_json});
    struct http_response *r[13];
    long skips[13], items = 0;

    for (int i = 0; i < 13; i++) {
        char body[256], label[32];
        skips[i] = i * 100;
        snprintf(body, sizeof(body),
                 "{\"SoDangKyThuoc\": {}, \"KichHoat\": true, \"skipCount\": %ld, "
                 "\"maxResultCount\": 100, \"sorting\": null}",
                 skips[i]);
        snprintf(label, sizeof(label), "skipCount=%ld", skips[i]);
        submit(c, HTTP_POST, "/api/services/app/soDangKy/GetAllPublicServerPaging", body, label,
               &skips[i]);
    }
    collect(c, r, 13);
    for (int i = 0; i < 13; i++) {
        if (r[i]->err.code != ERR_OK)
            fail_msg("%s", r[i]->err.msg);
        json_t *j = json_loads(r[i]->body, 0, NULL);
        json_t *res = json_object_get(j, "result");
        assert_int_equal(json_integer_value(json_object_get(res, "totalCount")), 1234);
        size_t n = json_array_size(json_object_get(res, "items"));
        assert_int_equal(n, *(long *)r[i]->arg == 1200 ? 34 : 100);
        items += (long)n;
        json_decref(j);
        http_response_free(r[i]);
    }
    assert_int_equal(items, 1234);
    json_t *cnt = portal_counters();
    struct http_stats st;
    http_client_stats(c, &st);
    assert_true(counter(cnt, "max_concurrent") <= 3); /* seen from the server's side */
    assert_int_equal(counter(cnt, "requests"), st.started);
    assert_int_equal(counter(cnt, "pages"), 13);
    assert_int_equal(counter(cnt, "items"), 1234);
    assert_true(st.retried > 0); /* the faults did happen */
    json_decref(cnt);
    http_client_free(c);
}

/* A page that always fails: the crawl gets one final error naming its skipCount. */
static void
test_portal_page_always_fails(void **state)
{
    (void)state;
    portal_start(300);
    portal_control("{\"op\": \"faults\", \"fail_skip\": [200]}");
    struct http_client *c = client((struct http_opts){.max_tries = 4, .backoff_base_ms = 5});
    struct http_response *r[3];
    int failed = 0;

    for (int i = 0; i < 3; i++) {
        char body[128], label[32];
        snprintf(body, sizeof(body), "{\"skipCount\": %d, \"maxResultCount\": 100}", i * 100);
        snprintf(label, sizeof(label), "skipCount=%d", i * 100);
        submit(c, HTTP_POST, "/api/services/app/soDangKy/GetAllPublicServerPaging", body, label,
               NULL);
    }
    collect(c, r, 3);
    for (int i = 0; i < 3; i++) {
        if (r[i]->err.code != ERR_OK) {
            failed++;
            assert_non_null(strstr(r[i]->err.msg, "skipCount=200"));
            assert_int_equal(r[i]->tries, 4);
        }
        http_response_free(r[i]);
    }
    assert_int_equal(failed, 1);
    json_t *cnt = portal_counters();
    assert_int_equal(counter(cnt, "requests"), 3 + 3); /* 4 tries of the bad page, no more */
    json_decref(cnt);
    http_client_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_give_up_names_label, setup, teardown),
        cmocka_unit_test_setup_teardown(test_4xx_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validator_rejects_incomplete_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validator_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parser_keeps_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_transfer_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_politeness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_politeness_counts_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_headers_user_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_signal_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_portal_crawl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_portal_page_always_fails, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* randomuser_fetch: fetch one user from randomuser.me, format it and push it as XCom (issue 6,
 * task get_and_format_data of user_automation).
 *
 * GET {--api-url}/api/ with bounded retries (tasks/lib/http: per-try timeout, backoff, 5xx,
 * transport errors and answers that are not a usable user list are retried), format the first
 * user (tasks/lib/randomuser: id = login.uuid, address, postal_code as text, medium picture),
 * write it as the XCom result and print it on stdout. stream_to_kafka sends it first.
 *
 * Exit 0 with the record; 100 bad arguments; 111 the API did not answer usefully after
 * --max-tries (down, 5xx, truncated, no results), so the try is retried later; 1 otherwise. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "randomuser.h"
#include "task.h"

#define USAGE                                                                                      \
    "randomuser_fetch [--api-url URL] [--timeout 30s] [--max-tries 5]\n"                           \
    "Fetch one user from GET {api-url}/api/, format it like the original get_and_format_data\n"    \
    "(id, first_name, last_name, gender, address, postal_code, email, username, dob,\n"            \
    "registered_date, phone, picture) and write it as XCom (also printed on stdout).\n"            \
    "Exit 0 done; 100 bad arguments; 111 the API is down or answers garbage after --max-tries."

struct cfg {
    const char *api_url;
    char *url; /* {api_url}/api/ (owned) */
    double timeout_s;
    int max_tries;
};

static int
cfg_parse(int argc, char **argv, struct cfg *c, struct err *e)
{
    const char *timeout, *tries;
    struct task_opt opts[] = {
        {"--api-url", "RANDOMUSER_API_URL", "https://randomuser.me", "the API", &c->api_url, false,
         NULL},
        {"--timeout", "RANDOMUSER_TIMEOUT", "30s", "per request and try", &timeout, false, NULL},
        {"--max-tries", "RANDOMUSER_MAX_TRIES", "5", "tries, the first included (1-20)", &tries,
         false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    int rc = task_parse(argc, argv, opts, USAGE, e);
    char *end;
    size_t ulen = strlen(c->api_url);

    if (rc != 0)
        return rc;
    if (task_parse_duration(timeout, &c->timeout_s) < 0 || c->timeout_s <= 0)
        return err_set(e, ERR_USAGE, "--timeout: '%s' is not a positive duration", timeout);
    long v = strtol(tries, &end, 10);
    if (*tries == '\0' || *end != '\0' || v < 1 || v > 20)
        return err_set(e, ERR_USAGE, "--max-tries: '%s' is not an integer from 1 to 20", tries);
    c->max_tries = (int)v;
    while (ulen > 0 && c->api_url[ulen - 1] == '/')
        ulen--;
    if (ulen == 0)
        return err_set(e, ERR_USAGE, "--api-url is empty");
    if (asprintf(&c->url, "%.*s/api/", (int)ulen, c->api_url) < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

/* The formatted first user of the API's answer (new reference), or NULL. */
static json_t *
fetch_user(const struct cfg *c, struct err *e)
{
    struct http_opts o = {
        .timeout_ms = (long)(c->timeout_s * 1000),
        .max_parallel = 1,
        .max_tries = c->max_tries,
        .validate = randomuser_validate,
    };
    struct http_response *r = http_get_once(&o, c->url, "user", e);
    json_t *root = NULL, *results = NULL, *rec = NULL;

    if (r == NULL) {
        e->temporary = true; /* down, 5xx, garbage after the tries: retry the task later */
        return NULL;
    }
    if (randomuser_parse(r->body, r->size, &root, &results, e) == 0) {
        rec = randomuser_format(json_array_get(results, 0), e);
        if (rec == NULL && e->code == ERR_PARSE)
            e->temporary = true; /* a dirty user: another try gets another one */
    }
    json_decref(root);
    http_response_free(r);
    return rec;
}

int
main(int argc, char **argv)
{
    struct cfg cfg = {0};
    struct err e = {0};
    json_t *rec = NULL;
    char *text = NULL;
    int rc;

    task_set_name("randomuser_fetch");
    task_signals_init();
    rc = cfg_parse(argc, argv, &cfg, &e);
    if (rc == TASK_HELP) {
        free(cfg.url);
        return TASK_OK;
    }
    if (rc < 0)
        goto out;
    task_log("fetch %s (timeout %.0f s, max tries %d)", cfg.url, cfg.timeout_s, cfg.max_tries);
    if ((rec = fetch_user(&cfg, &e)) == NULL)
        goto out;
    if ((text = randomuser_dump(rec)) == NULL) {
        err_set(&e, ERR_FAIL, "out of memory");
        goto out;
    }
    if (task_xcom_write(text, &e) < 0)
        goto out;
    printf("%s\n", text);
    task_log("done: user %s", json_string_value(json_object_get(rec, "id")));
    json_decref(rec);
    free(text);
    free(cfg.url);
    return TASK_OK;
out:
    task_log("error: %s", e.msg);
    json_decref(rec);
    free(text);
    free(cfg.url);
    return task_exit_code(&e);
}

/* notify_task: sends one notification of a DAG's callback (on_failure_callback...), run by
 * gust's runner as `notify_task --spec FILE` after a state change (docs/notify-task.md,
 * docs/dag-files.md "Notifications"), with the semantics of the Airflow notifiers gust runs
 * itself:
 *
 * - slack_webhook (SlackWebhookNotifier): POST {"text", "attachments", "blocks",
 *   "unfurl_links", "unfurl_media"} (those given) as JSON to the connection's webhook URL
 *   (notify_conn.h); HTTP 200 is sent, anything else (Slack answers errors with 4xx and a word
 *   like "invalid_token") failed.
 * - smtp (SmtpNotifier, and default_args' email): an HTML mail (notify_mail.h) to to + cc +
 *   bcc through the connection's server, smtps:// or STARTTLS as its extra says; from_email
 *   from the argument, else the connection's extra; for `email` alone also
 *   $AIRFLOW__EMAIL__FROM_EMAIL or $AIRFLOW__SMTP__SMTP_MAIL_FROM. Sent when the server took
 *   it for at least one recipient (as smtplib); the ones it refused are reported.
 * - http (HttpNotifier): method (default POST) to the connection's base URL + endpoint with
 *   Airflow's HttpHook rules (httphook.h): json as a JSON body, data (a string as is, an object
 *   as a form; for GET the query), headers; a status below 400 is sent (requests'
 *   raise_for_status), unless extra_options.check_response is false.
 *
 * The spec is a JSON object: kind, conn_id, timeout (seconds for the network work, default
 * 30), callback (for messages), and the notifier's rendered arguments; unknown keys are
 * ignored. Connections: AIRFLOW_CONN_<ID>, then the metadata database (conn.h). TLS peers are
 * verified against the system's CAs, or the bundle file named by $GUST_NOTIFY_CA_FILE, else
 * $CURL_CA_BUNDLE, else $SSL_CERT_FILE (a private relay's CA).
 *
 * Output: one line on stdout when sent ("slack: 200", "smtp: 2 recipients", "http: 204");
 * otherwise the last line on stderr is the reason. Exit 0 sent, 1 failed, 2 bad spec (or
 * usage). Nothing is retried (a notification goes at most once) and no password or webhook
 * URL is ever printed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "httphook.h"
#include "notify_conn.h"
#include "notify_mail.h"
#include "notify_net.h"
#include "task.h"

#define USAGE                                                                                      \
    "notify_task --spec FILE\n"                                                                    \
    "Send the Slack webhook message, mail (SMTP) or HTTP webhook call described by the JSON\n"     \
    "spec FILE that gust's runner writes for a callback (docs/dag-files.md, \"Notifications\").\n" \
    "Connections from AIRFLOW_CONN_<ID>, else the metadata database. TLS: the system's CAs, or\n"  \
    "the file in $GUST_NOTIFY_CA_FILE, $CURL_CA_BUNDLE or $SSL_CERT_FILE.\n"                       \
    "Exit 0 sent, 1 failed (the reason is the last line on stderr), 2 bad spec."

enum { EXIT_SENT = 0, EXIT_FAILED = 1, EXIT_BAD_SPEC = 2 };

enum kind { K_SLACK, K_SMTP, K_HTTP };

/* One notification: its spec and what sending it needs. */
struct notify {
    json_t *spec;
    enum kind kind;
    const char *conn_id, *callback;
    long timeout_ms;
    struct notify_tls tls;
    struct conn conn;
    struct task_list to, cc, bcc, rcpt, headers; /* smtp; headers: http and slack */
};

static const char *
str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* An optional string argument: NULL when absent or null; -1 when of another type. */
static int
opt_str(json_t *spec, const char *key, const char **out, struct err *e)
{
    json_t *v = json_object_get(spec, key);

    *out = json_string_value(v);
    if (v != NULL && !json_is_null(v) && !json_is_string(v))
        return err_set(e, ERR_USAGE, "%s: want a string", key);
    return 0;
}

static void
notify_clear(struct notify *n)
{
    json_decref(n->spec);
    conn_clear(&n->conn);
    task_list_free(&n->to);
    task_list_free(&n->cc);
    task_list_free(&n->bcc);
    task_list_free(&n->rcpt);
    task_list_free(&n->headers);
}

/* ---- Slack incoming webhook ---- */

static int
slack_check(struct notify *n, struct err *e)
{
    static const char *const lists[] = {"blocks", "attachments"};
    static const char *const flags[] = {"unfurl_links", "unfurl_media"};
    const char *s;

    if (opt_str(n->spec, "text", &s, e) < 0 || opt_str(n->spec, "proxy", &s, e) < 0)
        return -1;
    for (size_t i = 0; i < 2; i++) {
        json_t *l = json_object_get(n->spec, lists[i]), *f = json_object_get(n->spec, flags[i]);
        if (l && !json_is_null(l) && !json_is_array(l))
            return err_set(e, ERR_USAGE, "%s: want a list", lists[i]);
        if (f && !json_is_null(f) && !json_is_boolean(f))
            return err_set(e, ERR_USAGE, "%s: want true or false", flags[i]);
    }
    if (str_of(n->spec, "text") == NULL && json_object_get(n->spec, "blocks") == NULL &&
        json_object_get(n->spec, "attachments") == NULL)
        return err_set(e, ERR_USAGE, "text: missing (required)");
    return 0;
}

/* SlackWebhookHook.send's body: the arguments given, in its order. New string. */
static char *
slack_body(json_t *spec)
{
    static const char *const keys[] = {"text", "attachments", "blocks", "unfurl_links",
                                       "unfurl_media"};
    json_t *body = json_object();
    char *out;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(spec, keys[i]);
        if (v != NULL && !json_is_null(v))
            json_object_set(body, keys[i], v);
    }
    out = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    return out;
}

/* The webhook call's timeout: the spec's, else the connection's extra timeout. */
static long
slack_timeout_ms(const struct notify *n)
{
    char *t = json_object_get(n->spec, "timeout")
                  ? NULL
                  : notify_conn_extra(&n->conn, "slackwebhook", "timeout");
    long ms = t && atol(t) > 0 ? atol(t) * 1000 : n->timeout_ms;

    free(t);
    return ms;
}

static int
slack_send(struct notify *n, struct err *e)
{
    char *url = notify_conn_slack_url(&n->conn, e), *body = slack_body(n->spec), origin[256];
    char *proxy = str_of(n->spec, "proxy") ? strdup(str_of(n->spec, "proxy"))
                                           : notify_conn_extra(&n->conn, "slackwebhook", "proxy");
    struct notify_http_req r = {.method = "POST",
                                .body = body,
                                .headers = &n->headers,
                                .proxy = proxy,
                                .timeout_ms = slack_timeout_ms(n),
                                .tls = n->tls};
    struct notify_http_res res;
    int rc = -1;

    if (url == NULL || body == NULL ||
        task_list_add(&n->headers, "Content-Type: application/json;charset=utf-8", e) < 0) {
        err_prefix(e, "slack");
        goto out;
    }
    r.url = url;
    notify_conn_url_origin(url, origin, sizeof(origin));
    if (notify_net_http(&r, &res, e) < 0) {
        err_prefix(e, "slack: POST %s/...", origin);
        goto out;
    }
    if (res.status != 200) {
        err_set(e, ERR_IO, "slack: POST %s/...: HTTP %ld: %s", origin, res.status, res.body);
        goto out;
    }
    printf("slack: %ld\n", res.status);
    rc = 0;
out:
    free(url);
    free(body);
    free(proxy);
    return rc;
}

/* ---- SMTP ---- */

/* The envelope's recipients: the addresses of to, cc, bcc. */
static int
smtp_rcpt(struct notify *n, struct err *e)
{
    const struct task_list *lists[] = {&n->to, &n->cc, &n->bcc};
    char buf[512];

    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < lists[i]->n; k++) {
            if (notify_mail_addr_spec(lists[i]->v[k], buf, sizeof(buf)) == NULL || !*buf)
                return err_set(e, ERR_USAGE, "address \"%.60s\": not an address", lists[i]->v[k]);
            if (task_list_add(&n->rcpt, buf, e) < 0)
                return -1;
        }
    return 0;
}

static int
smtp_check(struct notify *n, struct err *e)
{
    static const char *const strs[] = {"from_email", "subject", "html_content", "mime_subtype",
                                       "mime_charset"};
    json_t *files = json_object_get(n->spec, "files");
    const char *s;

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (opt_str(n->spec, strs[i], &s, e) < 0)
            return -1;
    if (notify_mail_addrs(json_object_get(n->spec, "to"), "to", &n->to, e) < 0 ||
        notify_mail_addrs(json_object_get(n->spec, "cc"), "cc", &n->cc, e) < 0 ||
        notify_mail_addrs(json_object_get(n->spec, "bcc"), "bcc", &n->bcc, e) < 0)
        return -1;
    if (n->to.n == 0)
        return err_set(e, ERR_USAGE, "to: missing (required)");
    if (str_of(n->spec, "subject") == NULL || str_of(n->spec, "html_content") == NULL)
        return err_set(e, ERR_USAGE, "%s: missing (gust fills no template of the connection)",
                       str_of(n->spec, "subject") == NULL ? "subject" : "html_content");
    if (files && !json_is_null(files) && !(json_is_array(files) && json_array_size(files) == 0))
        return err_set(e, ERR_USAGE, "files: attachments are not supported by gust's notifier");
    return smtp_rcpt(n, e);
}

/* from_email: the argument, the connection's extra, Airflow's [email]/[smtp] settings for the
 * email of default_args. Borrowed from the spec, conf or the environment. */
static const char *
smtp_from(const struct notify *n, const struct notify_smtp_conf *conf)
{
    const char *f = str_of(n->spec, "from_email");

    if (f == NULL || *f == '\0')
        f = conf->from_email;
    if ((f == NULL || *f == '\0') && n->callback && strcmp(n->callback, "email") == 0)
        f = task_env("AIRFLOW__EMAIL__FROM_EMAIL", task_env("AIRFLOW__SMTP__SMTP_MAIL_FROM", NULL));
    return f && *f ? f : NULL;
}

static char *
smtp_message(const struct notify *n, const char *from, const char *host, struct err *e)
{
    char id[300];
    struct notify_mail m = {.from = from,
                            .to = &n->to,
                            .cc = &n->cc,
                            .subject = str_of(n->spec, "subject"),
                            .html = str_of(n->spec, "html_content"),
                            .mime_subtype = str_of(n->spec, "mime_subtype"),
                            .charset = str_of(n->spec, "mime_charset"),
                            .custom_headers = json_object_get(n->spec, "custom_headers"),
                            .message_id = id};
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(id, sizeof(id), "<%lld.%ld.%d@%s>", (long long)ts.tv_sec, ts.tv_nsec, (int)getpid(),
             host);
    return notify_mail_build(&m, ts.tv_sec, e);
}

/* "smtp: 2 recipients", and those the server refused. */
static void
smtp_report(const struct notify_smtp_res *res)
{
    printf("smtp: %d recipient%s", res->accepted, res->accepted == 1 ? "" : "s");
    for (size_t i = 0; i < res->refused.n; i++) {
        task_log("warning: recipient refused: %s", res->refused.v[i]);
        printf("%s%s", i ? "; " : " (refused: ", res->refused.v[i]);
    }
    printf("%s\n", res->refused.n ? ")" : "");
}

static int
smtp_deliver(struct notify *n, const struct notify_smtp_conf *conf, const char *from,
             const char *msg, struct err *e)
{
    char addr[512];
    long conn_ms = conf->timeout_s > 0 ? conf->timeout_s * 1000 : 0;
    struct notify_smtp_req r = {.url = conf->url,
                                .starttls = conf->starttls,
                                .login = n->conn.login,
                                .password = n->conn.password,
                                .mail_from = notify_mail_addr_spec(from, addr, sizeof(addr)),
                                .rcpt = &n->rcpt,
                                .message = msg,
                                .timeout_ms = n->timeout_ms,
                                .connect_timeout_ms = conn_ms < n->timeout_ms ? conn_ms : 0,
                                .tls = n->tls};
    struct notify_smtp_res res;
    char where[600];
    int rc;

    conn_describe(&n->conn, where, sizeof(where));
    if (r.mail_from == NULL)
        return err_set(e, ERR_USAGE, "smtp: from_email \"%.60s\": not an address", from);
    r.tls.verify = n->tls.verify && conf->verify;
    task_log("smtp: %s, %zu recipient(s), via %s",
             conf->ssl        ? "TLS from the start (smtps)"
             : conf->starttls ? "STARTTLS required"
                              : "no TLS",
             n->rcpt.n, where);
    if ((rc = notify_net_smtp(&r, &res, e)) < 0)
        err_prefix(e, "smtp: %s", where);
    else
        smtp_report(&res);
    task_list_free(&res.refused);
    return rc;
}

static int
smtp_send(struct notify *n, struct err *e)
{
    struct notify_smtp_conf conf;
    char host[256] = "localhost", *msg = NULL;
    const char *from;
    int rc = -1;

    gethostname(host, sizeof(host) - 1);
    if (notify_conn_smtp(&n->conn, host, &conf, e) < 0)
        return err_prefix(e, "smtp");
    if ((from = smtp_from(n, &conf)) == NULL) {
        err_set(e, ERR_FAIL,
                "smtp: no from_email: give the notifier's from_email or the "
                "connection %s's extra from_email",
                n->conn_id);
        goto out;
    }
    if ((msg = smtp_message(n, from, host, e)) == NULL)
        goto out;
    rc = smtp_deliver(n, &conf, from, msg, e);
out:
    free(conf.from_email);
    free(msg);
    return rc;
}

/* ---- HTTP webhook ---- */

static int
http_check(struct notify *n, struct err *e)
{
    json_t *h = json_object_get(n->spec, "headers"), *d = json_object_get(n->spec, "data");
    json_t *o = json_object_get(n->spec, "extra_options");
    const char *s;

    if (opt_str(n->spec, "endpoint", &s, e) < 0 || opt_str(n->spec, "method", &s, e) < 0)
        return -1;
    if (h && !json_is_null(h) && !json_is_object(h))
        return err_set(e, ERR_USAGE, "headers: want an object");
    if (d && !json_is_null(d) && !json_is_object(d) && !json_is_string(d))
        return err_set(e, ERR_USAGE, "data: want a string or an object");
    if (o && !json_is_null(o) && !json_is_object(o))
        return err_set(e, ERR_USAGE, "extra_options: want an object");
    for (s = str_of(n->spec, "method"); s && *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
            return err_set(e, ERR_USAGE, "method: want a word such as POST");
    return 0;
}

/* requests' options HttpHook takes from the connection's extra, then extra_options:
 * timeout, verify (false, or a CA bundle), check_response, proxies (by the URL's scheme). */
static void
http_request_options(json_t *o, const char *url, long *timeout_ms, struct notify_tls *tls,
                     bool *check, const char **proxy)
{
    json_t *v;

    if (!json_is_object(o))
        return;
    if (json_is_number(v = json_object_get(o, "timeout")) && json_number_value(v) > 0 &&
        json_number_value(v) * 1000 < (double)*timeout_ms)
        *timeout_ms = (long)(json_number_value(v) * 1000);
    if (json_is_false(v = json_object_get(o, "verify")))
        tls->verify = false;
    else if (json_is_string(v))
        tls->cainfo = json_string_value(v);
    if (json_is_boolean(v = json_object_get(o, "check_response")))
        *check = json_is_true(v);
    v = json_object_get(json_object_get(o, "proxies"),
                        strncmp(url, "https:", 6) ? "http" : "https");
    if (json_is_string(v))
        *proxy = json_string_value(v);
}

/* The body and its Content-Type as requests makes them: data (a string as is, an object as
 * a form) wins over json; GET sends data as the query (in *url) and no body. 0 with the new
 * body in *out (NULL: none), or -1 (out of memory). */
static int
http_body(struct notify *n, const char *method, char **url, char **out, struct err *e)
{
    json_t *d = json_object_get(n->spec, "data"), *j = json_object_get(n->spec, "json");
    char *body = NULL, *q;
    const char *type = NULL;

    if (d && json_is_null(d))
        d = NULL;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        q = json_is_string(d) ? strdup(json_string_value(d)) : httphook_urlencode(d);
        if (q && *q && asprintf(&body, "%s%s%s", *url, strchr(*url, '?') ? "&" : "?", q) >= 0) {
            free(*url);
            *url = body;
        }
        free(q);
        *out = NULL;
        return 0;
    }
    if (d != NULL) {
        body = json_is_string(d) ? strdup(json_string_value(d)) : httphook_urlencode(d);
        type = json_is_string(d) ? "Content-Type:" /* none, as requests */
                                 : "Content-Type: application/x-www-form-urlencoded";
    } else if (j != NULL && !json_is_null(j)) {
        body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        type = "Content-Type: application/json";
    }
    if ((*out = body ? body : strdup("")) == NULL ||
        (type && task_list_add(&n->headers, type, e) < 0))
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

static int
http_send(struct notify *n, struct err *e)
{
    const char *m = str_of(n->spec, "method"), *ep = str_of(n->spec, "endpoint"), *proxy = NULL;
    char method[16], *url = httphook_url(&n->conn, ep ? ep : ""), *body = NULL;
    json_t *x = NULL, *h = json_object_get(n->spec, "headers"), *v;
    struct notify_http_req r = {.method = method, .timeout_ms = n->timeout_ms, .tls = n->tls};
    struct notify_http_res res;
    bool check = true;
    const char *k;
    int rc = -1;

    snprintf(method, sizeof(method), "%s", m && *m ? m : "POST");
    for (char *p = method; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    if (url == NULL || httphook_conn_headers(&n->conn, &n->headers, e) < 0)
        goto out;
    json_object_foreach(h, k, v) if (httphook_add_header(&n->headers, k, v, e) < 0) goto out;
    if (http_body(n, method, &url, &body, e) < 0)
        goto out;
    x = n->conn.extra ? json_loads(n->conn.extra, 0, NULL) : NULL;
    http_request_options(x, url, &r.timeout_ms, &r.tls, &check, &proxy);
    http_request_options(json_object_get(n->spec, "extra_options"), url, &r.timeout_ms, &r.tls,
                         &check, &proxy);
    r.url = url, r.body = body, r.headers = &n->headers, r.proxy = proxy;
    if (notify_net_http(&r, &res, e) < 0) {
        err_prefix(e, "http: %s %s", method, url);
    } else if (check && res.status >= 400) {
        err_set(e, ERR_IO, "http: %s %s: HTTP %ld: %s", method, url, res.status, res.body);
    } else {
        printf("http: %ld\n", res.status);
        rc = 0;
    }
out:
    json_decref(x);
    free(url);
    free(body);
    return rc;
}

/* ---- main ---- */

/* Read the spec and check what it asks, before any network work: ERR_USAGE on a bad one. */
static int
load(struct notify *n, const char *path, struct err *e)
{
    json_error_t je;
    json_t *t;
    const char *kind;

    if ((n->spec = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL && je.line < 0)
        return err_set(e, ERR_USAGE, "spec: %s", je.text); /* cannot open: names the file */
    if (n->spec == NULL)
        return err_set(e, ERR_USAGE, "spec %s:%d:%d: %s", path, je.line, je.column, je.text);
    if (!json_is_object(n->spec))
        return err_set(e, ERR_USAGE, "spec %s: want a JSON object", path);
    kind = str_of(n->spec, "kind");
    n->callback = str_of(n->spec, "callback");
    n->timeout_ms = 30000;
    if ((t = json_object_get(n->spec, "timeout")) != NULL && !json_is_null(t)) {
        if (!json_is_number(t) || json_number_value(t) <= 0 || json_number_value(t) > 86400)
            return err_set(e, ERR_USAGE, "spec %s: timeout: want seconds above 0", path);
        n->timeout_ms = (long)(json_number_value(t) * 1000);
    }
    n->kind = kind && !strcmp(kind, "slack_webhook") ? K_SLACK
              : kind && !strcmp(kind, "smtp")        ? K_SMTP
                                                     : K_HTTP;
    if (kind == NULL || (n->kind == K_HTTP && strcmp(kind, "http") != 0))
        return err_set(e, ERR_USAGE, "spec %s: kind: want slack_webhook, smtp or http", path);
    n->conn_id = str_of(n->spec, "conn_id");
    if (n->conn_id == NULL || *n->conn_id == '\0')
        n->conn_id = n->kind == K_SLACK  ? "slack_default"
                     : n->kind == K_SMTP ? "smtp_default"
                                         : "http_default";
    if ((n->kind == K_SLACK  ? slack_check(n, e)
         : n->kind == K_SMTP ? smtp_check(n, e)
                             : http_check(n, e)) < 0)
        return err_prefix(e, "spec %s", path);
    return 0;
}

static int
send_one(struct notify *n, struct err *e)
{
    const char *ca = task_env("GUST_NOTIFY_CA_FILE",
                              task_env("CURL_CA_BUNDLE", task_env("SSL_CERT_FILE", NULL)));

    n->tls = (struct notify_tls){.verify = true, .cainfo = ca};
    task_log("callback=%s kind=%s conn=%s timeout=%.3gs", n->callback ? n->callback : "?",
             str_of(n->spec, "kind"), n->conn_id, (double)n->timeout_ms / 1000.0);
    if (conn_lookup_default(n->conn_id, &n->conn, e) < 0)
        return err_prefix(e, "%s", n->kind == K_SLACK ? "slack" : str_of(n->spec, "kind"));
    err_clear(e); /* the environment's "not found" before the database found it */
    return n->kind == K_SLACK  ? slack_send(n, e)
           : n->kind == K_SMTP ? smtp_send(n, e)
                               : http_send(n, e);
}

/* The last guard of "no password printed": any copy of the connection's password in msg
 * (a server echoing it, a URL holding it) becomes "***". */
static void
mask_secret(char *msg, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    char *p;

    if (n < 3)
        return;
    while ((p = strstr(msg, secret)) != NULL) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + n, strlen(p + n) + 1);
    }
}

int
main(int argc, char **argv)
{
    const char *spec_path = NULL;
    struct task_opt opts[] = {
        {"--spec", "GUST_NOTIFY_SPEC", NULL, "the JSON spec file of the callback (written by gust)",
         &spec_path, false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct notify n = {0};
    struct err e = {0};
    int rc;

    task_set_name("notify_task");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return EXIT_SENT;
    if (rc == 0 && (spec_path == NULL || *spec_path == '\0'))
        rc = err_set(&e, ERR_USAGE, "--spec FILE is required (see --help)");
    if (rc == 0 && load(&n, spec_path, &e) == 0) {
        rc = send_one(&n, &e) == 0 ? EXIT_SENT : EXIT_FAILED;
    } else {
        rc = EXIT_BAD_SPEC;
    }
    fflush(stdout);
    mask_secret(e.msg, n.conn.password);
    if (rc != EXIT_SENT)
        fprintf(stderr, "%s\n", e.msg);
    notify_clear(&n);
    return rc;
}

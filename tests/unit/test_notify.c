/* Unit tests for notify_task's pure parts: the Slack webhook URL of a connection against
 * SlackWebhookHook's rule (values computed with its Python code, pasted here), the SMTP
 * settings of a connection (SmtpHook's disable_ssl / disable_tls / ssl_context / timeout),
 * the address lists (SmtpHook's re.split on ',' and ';'), the RFC 2047 subject, the message
 * (no header injection through a rendered subject, no Bcc header) and the shown part of a
 * URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify_conn.h"
#include "notify_mail.h"

static char *
slack(const char *host, const char *schema, const char *password)
{
    struct conn c = {.conn_id = "s",
                     .host = (char *)host,
                     .schema = (char *)schema,
                     .password = (char *)password};
    struct err e = {0};

    return notify_conn_slack_url(&c, &e);
}

static void
test_slack_url(void **state)
{
    static const char *const cases[][4] = {
        {NULL, NULL, "T/B/X", "https://hooks.slack.com/services/T/B/X"},
        {"http://127.0.0.1:8080/services/", NULL, "/T/B/X/",
         "http://127.0.0.1:8080/services/T/B/X"},
        {"example.org/hooks", "http", " T/B/X ", "http://example.org/hooks/T/B/X"},
        {"", "", " https://x.example/T/B ", "https://x.example/T/B"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *u = slack(cases[i][0], cases[i][1], cases[i][2]);
        assert_non_null(u);
        assert_string_equal(u, cases[i][3]);
        free(u);
    }
    assert_null(slack("h", NULL, "  "));
    assert_null(slack("h", NULL, NULL));
}

static void
test_url_origin(void **state)
{
    char buf[128];

    (void)state;
    notify_conn_url_origin("https://hooks.slack.com/services/T/B/X", buf, sizeof(buf));
    assert_string_equal(buf, "https://hooks.slack.com");
    notify_conn_url_origin("http://u:pw@127.0.0.1:99/a?b", buf, sizeof(buf));
    assert_string_equal(buf, "http://127.0.0.1:99");
}

static int
smtp(const char *extra, int port, struct notify_smtp_conf *out)
{
    struct conn c = {
        .conn_id = "m", .host = "mail.example.org", .port = port, .extra = (char *)extra};
    struct err e = {0};
    int rc = notify_conn_smtp(&c, "me.example", out, &e);

    return rc;
}

static void
test_smtp_conf(void **state)
{
    struct notify_smtp_conf c;

    (void)state;
    assert_int_equal(smtp(NULL, 0, &c), 0); /* SmtpHook's defaults: SMTP_SSL */
    assert_string_equal(c.url, "smtps://mail.example.org/me.example");
    assert_true(c.ssl && !c.starttls && c.verify && c.timeout_s == 30 && !c.from_email);
    assert_int_equal(
        smtp("{\"disable_ssl\": true, \"timeout\": 5, \"from_email\": \"a@x\"}", 587, &c), 0);
    assert_string_equal(c.url, "smtp://mail.example.org:587/me.example");
    assert_true(!c.ssl && c.starttls && c.timeout_s == 5);
    assert_string_equal(c.from_email, "a@x");
    free(c.from_email);
    assert_int_equal(smtp("{\"disable_ssl\": \"true\", \"disable_tls\": \"true\", "
                          "\"ssl_context\": \"none\"}",
                          25, &c),
                     0);
    assert_true(!c.ssl && !c.starttls && !c.verify);
    assert_int_equal(smtp("{\"ssl_context\": \"strict\"}", 0, &c), -1);
    assert_int_equal(smtp("{\"disable_tls\": \"maybe\"}", 0, &c), -1);
    assert_int_equal(smtp("{\"timeout\": \"soon\"}", 0, &c), -1);
}

static void
test_addrs(void **state)
{
    struct task_list l = {0};
    struct err e = {0};
    json_t *v = json_string(" a@x ,b@y;  Cy <c@z>,");
    char buf[64];

    (void)state;
    assert_int_equal(notify_mail_addrs(v, "to", &l, &e), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0], "a@x");
    assert_string_equal(l.v[2], "Cy <c@z>");
    assert_string_equal(notify_mail_addr_spec(l.v[2], buf, sizeof(buf)), "c@z");
    assert_string_equal(notify_mail_addr_spec(" d@w ", buf, sizeof(buf)), "d@w");
    json_decref(v);
    v = json_pack("[s,i]", "a@x", 3);
    assert_int_equal(notify_mail_addrs(v, "cc", &l, &e), -1);
    assert_string_equal(e.msg, "cc[1]: want a string");
    json_decref(v);
    v = json_string("a@x\r\nRCPT TO:<evil@x>");
    assert_int_equal(notify_mail_addrs(v, "to", &l, &e), -1);
    json_decref(v);
    task_list_free(&l);
}

static void
test_encode_header(void **state)
{
    char *s;

    (void)state;
    s = notify_mail_encode_header("plain subject");
    assert_string_equal(s, "plain subject");
    free(s);
    s = notify_mail_encode_header("Tâche");
    assert_string_equal(s, "=?utf-8?b?VMOiY2hl?=");
    free(s);
    /* 44 ASCII bytes then a 2-byte character: the word ends before it, never inside */
    s = notify_mail_encode_header("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé");
    assert_non_null(strstr(s, "?=\r\n =?utf-8?b?w6k=?="));
    free(s);
}

static void
test_build(void **state)
{
    struct task_list to = {0}, cc = {0};
    struct err e = {0};
    struct notify_mail m = {.from = "g@x",
                            .to = &to,
                            .cc = &cc,
                            .subject = "hi\r\nBcc: evil@x",
                            .html = "<b>x</b>",
                            .message_id = "<1@h>"};
    char *msg;

    (void)state;
    task_list_add(&to, "a@x", &e);
    msg = notify_mail_build(&m, 0, &e);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "\r\nSubject: =?utf-8?b?aGkgIEJjYzogZXZpbEB4?=\r\n"));
    assert_null(strstr(msg, "\r\nBcc:"));
    assert_null(strstr(msg, "\r\nCC:")); /* no cc: no header */
    assert_non_null(strstr(msg, "\r\nTo: a@x\r\n"));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <1@h>\r\n"));
    assert_non_null(strstr(msg, "\r\n\r\nPGI+eDwvYj4=\r\n")); /* base64 of the body */
    free(msg);
    m.custom_headers = json_pack("{s:s}", "Bad Name", "v");
    assert_null(notify_mail_build(&m, 0, &e));
    json_decref(m.custom_headers);
    task_list_free(&to);
    task_list_free(&cc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_url),     cmocka_unit_test(test_url_origin),
        cmocka_unit_test(test_smtp_conf),     cmocka_unit_test(test_addrs),
        cmocka_unit_test(test_encode_header), cmocka_unit_test(test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

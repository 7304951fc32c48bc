/* notify_net: the transfers of notify_task, one at a time with libcurl's easy interface: an
 * HTTP request (Slack webhook, HTTP notifier) and an SMTP mail (smtp://, smtps://,
 * STARTTLS). Each is tried once: a notification is sent at most once, so nothing here
 * retries. A transfer ends at its timeout, or early when task_stopping() (SIGTERM).
 *
 * Messages never hold a URL (a Slack webhook URL is a secret) nor a password: the caller adds
 * what it may show. TLS peers are verified against the system's CA store, or cainfo. The
 * module of notify_task that includes <curl/curl.h> (http.c is the one of the other tasks: its
 * messages name the URL and it retries, both wrong for a notification). */
#ifndef GUST_NOTIFY_NET_H
#define GUST_NOTIFY_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "task.h"

/* TLS settings of a transfer. */
struct notify_tls {
    bool verify;        /* verify the peer's certificate and name */
    const char *cainfo; /* CA bundle file, NULL: libcurl's default */
};

/* One HTTP request. Strings borrowed. */
struct notify_http_req {
    const char *method; /* "POST", "GET", "PUT"... */
    const char *url;
    const char *body;                /* sent as is (NULL: none) */
    const struct task_list *headers; /* "Name: value" lines, or NULL */
    const char *proxy;               /* or NULL: libcurl's default (the *_proxy variables) */
    long timeout_ms;                 /* whole transfer */
    struct notify_tls tls;
};

/* Its answer. */
struct notify_http_res {
    long status;    /* HTTP status of the final answer (redirects followed) */
    char body[301]; /* the start of its body, NUL-terminated, line breaks as spaces */
};

/* Send r; 0 when an answer came (whatever its status), -1 with e (ERR_IO, temporary) when
 * none did: refused, timed out, TLS failure, stopped by a signal. */
int notify_net_http(const struct notify_http_req *r, struct notify_http_res *res, struct err *e);

/* One mail. Strings borrowed. */
struct notify_smtp_req {
    const char *url;              /* smtp://host:port/ehlo-name or smtps://... (no userinfo) */
    bool starttls;                /* smtp://: require STARTTLS before anything else */
    const char *login, *password; /* AUTH when both are set, else none */
    const char *mail_from;        /* the address (no <>) */
    const struct task_list *rcpt; /* the addresses (no <>) */
    const char *message;          /* the whole message, CRLF line ends */
    long timeout_ms, connect_timeout_ms;
    struct notify_tls tls;
};

/* What the server said. */
struct notify_smtp_res {
    int accepted;             /* recipients the server took */
    struct task_list refused; /* "address: reply" of each refused one; free with task_list_free */
    char last_reply[256];     /* the server's last reply line */
};

/* Send r; 0 when the server took the mail for at least one recipient (those it refused are
 * in res->refused, as smtplib.sendmail reports them), -1 with e otherwise: e.msg ends with the
 * server's last reply when there was one. */
int notify_net_smtp(const struct notify_smtp_req *r, struct notify_smtp_res *res, struct err *e);

#endif

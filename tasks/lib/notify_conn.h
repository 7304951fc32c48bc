/* notify_conn: what notify_task makes of a connection, with the rules of Airflow's hooks.
 * Pure: no I/O. Nothing returned in a message holds the password.
 *
 * - Slack incoming webhook (SlackWebhookHook): the password is the webhook token; a token
 *   holding "://" is the whole URL; else the host when it holds "://", or
 *   <schema, default https>://<host, default hooks.slack.com/services>, then "/" and the token
 *   (one '/' between, none at the end). The port is not used (Airflow hides it). A blank
 *   password is an error. Extra: timeout, proxy (also as extra__slackwebhook__<key>).
 * - SMTP (SmtpHook): extra disable_ssl (default false: smtps://, implicit TLS, port 465 by
 *   default), disable_tls (default false: on smtp:// the mail is sent only after STARTTLS),
 *   timeout (seconds, default 30), ssl_context ("default" verifies the server; "none" does
 *   not), from_email. Booleans may be JSON booleans or the strings true/false/1/0/yes/no. */
#ifndef GUST_NOTIFY_CONN_H
#define GUST_NOTIFY_CONN_H

#include <stdbool.h>

#include "conn.h"
#include "err.h"

/* The Slack webhook URL of c. New string (it holds the webhook token, so it is never printed), or
 * NULL with e. */
char *notify_conn_slack_url(const struct conn *c, struct err *e);

/* The part of a URL that may be shown: scheme://host[:port], copied into buf. */
void notify_conn_url_origin(const char *url, char *buf, size_t size);

/* An extra key of c as text (plain key first, then extra__<conn_type>__<key>, Airflow's old
 * spelling). New string, NULL when absent. */
char *notify_conn_extra(const struct conn *c, const char *conn_type, const char *key);

/* The SMTP settings of a connection. */
struct notify_smtp_conf {
    char url[600];    /* smtp[s]://host[:port]/<ehlo> */
    bool ssl;         /* smtps:// */
    bool starttls;    /* smtp:// with STARTTLS required */
    bool verify;      /* verify the server's certificate */
    long timeout_s;   /* the connection's timeout */
    char *from_email; /* its extra from_email (owned), or NULL */
};

/* Fill out from c; ehlo is the name this host gives in EHLO. 0, or -1 with e (no host, a bad
 * ssl_context or timeout). Free out->from_email. */
int notify_conn_smtp(const struct conn *c, const char *ehlo, struct notify_smtp_conf *out,
                     struct err *e);

#endif

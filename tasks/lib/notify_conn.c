/* notify_conn: Airflow's rules for the connections of the Slack webhook and SMTP notifiers
 * (notify_conn.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "notify_conn.h"

char *
notify_conn_extra(const struct conn *c, const char *conn_type, const char *key)
{
    char *v = conn_extra_get(c, key), prefixed[160];

    if (v != NULL && *v != '\0' && strcmp(v, "null") != 0)
        return v;
    free(v);
    snprintf(prefixed, sizeof(prefixed), "extra__%s__%s", conn_type, key);
    v = conn_extra_get(c, prefixed);
    if (v != NULL && (*v == '\0' || strcmp(v, "null") == 0)) {
        free(v);
        v = NULL;
    }
    return v;
}

/* s without blanks at both ends, as a new string. */
static char *
strip(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

char *
notify_conn_slack_url(const struct conn *c, struct err *e)
{
    char *token = c->password ? strip(c->password, strlen(c->password)) : NULL, *url = NULL;
    const char *t;
    size_t bl;
    char *base = NULL;

    if (token == NULL || *token == '\0') {
        free(token);
        err_set(e, ERR_USAGE, "connection %s has no password (the Slack webhook token)",
                c->conn_id ? c->conn_id : "?");
        return NULL;
    }
    if (strstr(c->password, "://"))
        return token;
    if (c->host && *c->host && strstr(c->host, "://"))
        base = strdup(c->host);
    else if (asprintf(&base, "%s://%s", c->schema && *c->schema ? c->schema : "https",
                      c->host && *c->host ? c->host : "hooks.slack.com/services") < 0)
        base = NULL;
    for (bl = base ? strlen(base) : 0; bl > 0 && base[bl - 1] == '/';)
        base[--bl] = '\0';
    for (t = token; *t == '/';)
        t++;
    if (base == NULL || asprintf(&url, "%s/%s", base, t) < 0)
        url = NULL;
    for (size_t n = url ? strlen(url) : 0; n > 0 && url[n - 1] == '/';)
        url[--n] = '\0';
    free(base);
    free(token);
    if (url == NULL)
        err_set(e, ERR_FAIL, "out of memory");
    return url;
}

void
notify_conn_url_origin(const char *url, char *buf, size_t size)
{
    const char *p = strstr(url, "://");
    size_t n = p ? (size_t)(p - url) + 3 + strcspn(p + 3, "/?#") : strcspn(url, "/?#");
    const char *at = memchr(url, '@', n);

    if (p && at) { /* never show userinfo */
        snprintf(buf, size, "%.*s%.*s", (int)(p - url) + 3, url, (int)(n - (size_t)(at + 1 - url)),
                 at + 1);
        return;
    }
    snprintf(buf, size, "%.*s", (int)n, url);
}

/* A boolean of the extra: absent false; true, "true", "1", "yes", "on" true. */
static int
extra_bool(const struct conn *c, const char *key, bool *out, struct err *e)
{
    char *v = notify_conn_extra(c, "smtp", key);

    *out = false;
    if (v == NULL)
        return 0;
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
        strcasecmp(v, "on") == 0)
        *out = true;
    else if (strcasecmp(v, "false") != 0 && strcmp(v, "0") != 0 && strcasecmp(v, "no") != 0 &&
             strcasecmp(v, "off") != 0 && *v != '\0') {
        free(v);
        return err_set(e, ERR_USAGE, "extra %s: want true or false", key);
    }
    free(v);
    return 0;
}

static int
smtp_extra(const struct conn *c, struct notify_smtp_conf *out, struct err *e)
{
    bool no_ssl, no_tls;
    char *ctx = notify_conn_extra(c, "smtp", "ssl_context"), *t, *end;

    if (extra_bool(c, "disable_ssl", &no_ssl, e) < 0 ||
        extra_bool(c, "disable_tls", &no_tls, e) < 0)
        goto bad;
    out->ssl = !no_ssl;
    out->starttls = !no_tls && !out->ssl; /* on smtps:// the link is TLS already */
    out->verify = ctx == NULL || strcmp(ctx, "default") == 0;
    if (ctx != NULL && !out->verify && strcmp(ctx, "none") != 0) {
        err_set(e, ERR_USAGE, "extra ssl_context: want \"default\" or \"none\", not \"%.40s\"",
                ctx);
        goto bad;
    }
    out->timeout_s = 30;
    if ((t = notify_conn_extra(c, "smtp", "timeout")) != NULL) {
        out->timeout_s = strtol(t, &end, 10);
        if (*end != '\0' || end == t || out->timeout_s < 0) {
            err_set(e, ERR_USAGE, "extra timeout: want a number of seconds, not \"%.40s\"", t);
            free(t);
            goto bad;
        }
        free(t);
    }
    free(ctx);
    return 0;
bad:
    free(ctx);
    return -1;
}

int
notify_conn_smtp(const struct conn *c, const char *ehlo, struct notify_smtp_conf *out,
                 struct err *e)
{
    char port[16] = "";
    bool v6;

    memset(out, 0, sizeof(*out));
    if (c->host == NULL || *c->host == '\0')
        return err_set(e, ERR_USAGE, "connection %s has no host", c->conn_id ? c->conn_id : "?");
    if (smtp_extra(c, out, e) < 0)
        return err_prefix(e, "connection %s", c->conn_id ? c->conn_id : "?");
    if (c->port > 0)
        snprintf(port, sizeof(port), ":%d", c->port);
    v6 = strchr(c->host, ':') != NULL && c->host[0] != '[';
    snprintf(out->url, sizeof(out->url), "%s://%s%s%s%s/%s", out->ssl ? "smtps" : "smtp",
             v6 ? "[" : "", c->host, v6 ? "]" : "", port, ehlo && *ehlo ? ehlo : "localhost");
    out->from_email = notify_conn_extra(c, "smtp", "from_email");
    return 0;
}

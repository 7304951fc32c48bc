/* httphook: Airflow's HttpHook request building (URL, query or form, headers from the
 * connection), see httphook.h. Pure: no I/O. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "httphook.h"

/* Percent-encoding of a form or query value (Python's urlencode, quote_plus). */
static void
urlenc(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            fputc(ch, f);
        else if (ch == ' ')
            fputc('+', f);
        else
            fprintf(f, "%%%02X", ch);
    }
}

char *
httphook_text(json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
}

char *
httphook_urlencode(json_t *params)
{
    const char *k;
    json_t *v;
    char *out = NULL;
    size_t len = 0;
    bool first = true;
    FILE *f;

    if (!json_is_object(params) || json_object_size(params) == 0 ||
        (f = open_memstream(&out, &len)) == NULL)
        return NULL;
    json_object_foreach(params, k, v)
    {
        char *t = httphook_text(v);
        fputs(first ? "" : "&", f);
        urlenc(f, k);
        fputc('=', f);
        urlenc(f, t ? t : "");
        free(t);
        first = false;
    }
    fclose(f);
    return out;
}

char *
httphook_url(const struct conn *c, const char *endpoint)
{
    char *base = NULL, *url = NULL;
    size_t n;

    if (c->host && strstr(c->host, "://"))
        base = strdup(c->host);
    else if (asprintf(&base, "%s://%s", c->schema && *c->schema ? c->schema : "http",
                      c->host ? c->host : "") < 0)
        base = NULL;
    if (base && c->port > 0) {
        char *p = base;
        base = asprintf(&base, "%s:%d", p, c->port) < 0 ? NULL : base;
        free(p);
    }
    if (base == NULL)
        return NULL;
    n = strlen(base);
    if (asprintf(&url, "%s%s%s", base,
                 n && base[n - 1] != '/' && endpoint[0] && endpoint[0] != '/' ? "/" : "",
                 endpoint) < 0)
        url = NULL;
    free(base);
    return url;
}

int
httphook_add_header(struct task_list *headers, const char *k, json_t *v, struct err *e)
{
    char *t = httphook_text(v), *line = NULL;
    int rc;

    if (t == NULL || asprintf(&line, "%s: %s", k, t) < 0) {
        free(t);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    rc = task_list_add(headers, line, e);
    free(t);
    free(line);
    return rc;
}

static int
basic_auth(const struct conn *c, struct task_list *headers, struct err *e)
{
    char *up = NULL;
    int n = asprintf(&up, "%s:%s", c->login, c->password ? c->password : ""), rc;
    unsigned char b64[1024];
    json_t *auth;

    if (n < 0 || n > 700) {
        free(up);
        return err_set(e, ERR_USAGE, "http connection: login and password are too long");
    }
    EVP_EncodeBlock(b64, (unsigned char *)up, n);
    memset(up, 0, (size_t)n);
    free(up);
    auth = json_pack("s+", "Basic ", (char *)b64);
    rc = httphook_add_header(headers, "Authorization", auth, e);
    json_decref(auth);
    return rc;
}

int
httphook_conn_headers(const struct conn *c, struct task_list *headers, struct err *e)
{
    static const char *const options[] = {
        "timeout",       "verify",    "proxies",         "stream",         "cert",
        "max_redirects", "trust_env", "allow_redirects", "check_response", NULL};
    json_t *extra = c->extra ? json_loads(c->extra, 0, NULL) : NULL, *v;
    const char *k;
    int rc = 0;

    json_object_foreach(extra, k, v)
    {
        bool opt = false;
        for (size_t i = 0; options[i]; i++)
            opt |= strcmp(k, options[i]) == 0;
        if (!opt && rc == 0)
            rc = httphook_add_header(headers, k, v, e);
    }
    json_decref(extra);
    if (rc == 0 && c->login && *c->login)
        rc = basic_auth(c, headers, e);
    return rc;
}

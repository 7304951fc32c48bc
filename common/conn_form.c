/* conn_form: Airflow's two text forms of a connection (see conn.h).
 *
 * The URI form is parsed the way Airflow's Connection._parse_from_uri does with Python's
 * urlsplit: scheme = conn_type ("postgresql" -> "postgres", "-" -> "_"), an optional second
 * "proto://" kept in the host, the host lower-cased unless it holds a '/' (a socket folder),
 * login, password, schema and query values percent-decoded, "__extra__" holding the extra
 * JSON verbatim, other query parameters becoming extra keys. conn_to_uri is get_uri. The
 * JSON form is Connection.from_json.
 *
 * Invariant: no message made here contains a password; a URI that fails to parse is never
 * quoted (it may hold a password), only the conn_id and the reason. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "conn.h"
#include "conn_int.h"

#define EXTRA_KEY "__extra__"

void
connp_free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* ---- percent-encoding ------------------------------------------------------------------ */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Python's unquote of n bytes (plus: '+' is a space too, as in parse_qsl): new string. A '%' not
 * followed by two hex digits stays as it is. */
static char *
unquote_n(const char *s, size_t n, bool plus)
{
    char *out = malloc(n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *o++ = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

/* NULL for an empty span (Airflow keeps "" but nothing downstream tells them apart). */
static char *
unquote_opt(const char *s, size_t n)
{
    return n ? unquote_n(s, n, false) : NULL;
}

/* ---- a growing string ------------------------------------------------------------------ */

void
connp_sb_addn(struct connp_sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
connp_sb_add(struct connp_sb *b, const char *s)
{
    connp_sb_addn(b, s, strlen(s));
}

/* Append Python's quote(s, safe="") (plus: quote_plus, a space becomes '+'). */
static void
sb_quote(struct connp_sb *b, const char *s, bool plus)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("_.-~", *p)) {
            connp_sb_addn(b, (const char *)p, 1);
        } else if (plus && *p == ' ') {
            connp_sb_add(b, "+");
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            connp_sb_addn(b, enc, 3);
        }
    }
}

/* Take the buffer (NULL when memory ran out). */
char *
connp_sb_take(struct connp_sb *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (b->p == NULL)
        return strdup("");
    return b->p;
}

/* ---- the URI form ---------------------------------------------------------------------- */

int
connp_oom(struct err *e)
{
    return err_set(e, ERR_FAIL, "out of memory");
}

static char *
normalize_type(const char *s, size_t n)
{
    char *t = strndup(s, n);

    if (t == NULL)
        return NULL;
    for (char *p = t; *p; p++)
        *p = (char)tolower((unsigned char)*p); /* urlsplit lower-cases the scheme */
    if (strcmp(t, "postgresql") == 0) {
        free(t);
        return strdup("postgres");
    }
    for (char *p = t; *p; p++)
        if (*p == '-')
            *p = '_';
    return t;
}

/* Check extra is a JSON object, as Airflow's _validate_extra. */
int
connp_validate_extra(const char *conn_id, const char *extra, struct err *e)
{
    json_error_t je;
    json_t *j = json_loads(extra, JSON_DECODE_ANY, &je);
    bool obj = j && json_is_object(j);

    json_decref(j);
    if (j == NULL)
        return err_set(e, ERR_PARSE, "connection '%s': extra is not JSON (%s)", conn_id, je.text);
    if (!obj)
        return err_set(e, ERR_PARSE, "connection '%s': extra is not a JSON object", conn_id);
    return 0;
}

/* parse_qsl(query, keep_blank_values=True) into a dict; "__extra__" wins as Airflow does. */
static int
parse_query(const char *conn_id, const char *q, size_t n, struct conn *out, struct err *e)
{
    json_t *obj = json_object();
    char *extra = NULL;
    int rc = 0;

    if (obj == NULL)
        return connp_oom(e);
    for (size_t i = 0; i < n;) {
        size_t f = i;
        while (f < n && q[f] != '&')
            f++;
        if (f > i) {
            const char *eq = memchr(q + i, '=', f - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : f - i;
            char *k = unquote_n(q + i, klen, true);
            char *v = eq ? unquote_n(eq + 1, (size_t)(q + f - eq - 1), true) : strdup("");
            if (k == NULL || v == NULL || json_object_set_new(obj, k, json_string(v)) < 0) {
                /* json_string refuses invalid UTF-8 */
                free(k), connp_free_secret(v);
                rc = err_set(e, ERR_PARSE,
                             "connection '%s': a query parameter of the URI is not UTF-8", conn_id);
                goto out;
            }
            if (strcmp(k, EXTRA_KEY) == 0) {
                connp_free_secret(extra);
                extra = strdup(v);
            }
            free(k), connp_free_secret(v);
        }
        i = f + 1;
    }
    if (extra) {
        out->extra = extra, extra = NULL;
    } else if ((out->extra = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) == NULL) {
        rc = connp_oom(e);
        goto out;
    }
    rc = connp_validate_extra(conn_id, out->extra, e);
out:
    json_decref(obj);
    connp_free_secret(extra);
    return rc;
}

/* netloc -> login, password, host, port (urlsplit's username/password/hostname/port). */
static int
parse_netloc(const char *conn_id, const char *proto, const char *s, size_t n, struct conn *out,
             struct err *e)
{
    const char *at = NULL, *hs = s, *end = s + n;

    for (const char *p = s; p < end; p++)
        if (*p == '@')
            at = p;
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ulen = colon ? (size_t)(colon - s) : (size_t)(at - s);
        out->login = unquote_opt(s, ulen);
        if (colon)
            out->password = unquote_opt(colon + 1, (size_t)(at - colon - 1));
        hs = at + 1;
    }
    const char *hend, *pstart = NULL;
    if (hs < end && *hs == '[') { /* IPv6 literal */
        const char *rb = memchr(hs, ']', (size_t)(end - hs));
        if (rb == NULL)
            return err_set(e, ERR_PARSE, "connection '%s': invalid IPv6 host in the URI", conn_id);
        hend = rb;
        hs++;
        if (rb + 1 < end && rb[1] == ':')
            pstart = rb + 2;
    } else {
        hend = memchr(hs, ':', (size_t)(end - hs));
        if (hend)
            pstart = hend + 1;
        else
            hend = end;
    }
    char *host = unquote_n(hs, (size_t)(hend - hs), false);
    if (host == NULL)
        return connp_oom(e);
    if (strchr(host, '/') == NULL) /* a socket folder keeps its case (Airflow's exception) */
        for (char *p = host; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    if (*host) {
        if (proto) {
            size_t len = strlen(proto) + 3 + strlen(host) + 1;
            char *h = malloc(len);
            if (h)
                snprintf(h, len, "%s://%s", proto, host);
            free(host);
            host = h;
        }
        out->host = host;
    } else {
        free(host);
    }
    if (pstart && pstart < end) {
        long port = 0;
        for (const char *p = pstart; p < end; p++) {
            if (!isdigit((unsigned char)*p) || (port = port * 10 + (*p - '0')) > 65535)
                return err_set(e, ERR_PARSE,
                               "connection '%s': the port of the URI is not a number 0-65535",
                               conn_id);
        }
        out->port = (int)port;
    }
    return 0;
}

static int
scheme_len(const char *uri)
{
    int i = 0;

    if (!isalpha((unsigned char)uri[0]))
        return -1;
    while (isalnum((unsigned char)uri[i]) || (uri[i] && strchr("+-.", uri[i])))
        i++;
    return uri[i] == ':' ? i : -1;
}

static int
count_schemes(const char *uri)
{
    int n = 0;

    for (const char *p = strstr(uri, "://"); p; p = strstr(p + 3, "://"))
        n++;
    return n;
}

int
conn_from_uri(const char *conn_id, const char *uri, struct conn *out, struct err *e)
{
    const char *id = conn_id ? conn_id : "";
    char *proto = NULL;
    int slen, nschemes, rc = -1;

    memset(out, 0, sizeof(*out));
    if (uri == NULL || (nschemes = count_schemes(uri)) == 0 || (slen = scheme_len(uri)) <= 0 ||
        strncmp(uri + slen, "://", 3) != 0)
        return err_set(e, ERR_PARSE,
                       "connection '%s': not a connection URI (want <conn_type>://...)", id);
    if (strstr(uri, "%00") != NULL)
        return err_set(e, ERR_PARSE, "connection '%s': the URI holds a NUL byte (%%00)", id);
    if (nschemes > 2)
        return err_set(e, ERR_PARSE,
                       "connection '%s': invalid connection URI (more than two "
                       "'://')",
                       id);
    if ((out->conn_id = strdup(id)) == NULL ||
        (out->conn_type = normalize_type(uri, (size_t)slen)) == NULL) {
        rc = connp_oom(e);
        goto out;
    }
    const char *rest = uri + slen + 3;
    if (nschemes == 2) { /* "type://proto://host...": the protocol stays in the host */
        const char *sep = strstr(rest, "://");
        size_t plen = (size_t)(sep - rest);
        if (memchr(rest, '@', plen) || memchr(rest, ':', plen) || memchr(rest, '/', plen)) {
            rc = err_set(e, ERR_PARSE, "connection '%s': invalid connection URI", id);
            goto out;
        }
        if ((proto = strndup(rest, plen)) == NULL) {
            rc = connp_oom(e);
            goto out;
        }
        rest = sep + 3;
    }
    size_t nl = strcspn(rest, "/?#");
    if (parse_netloc(id, proto, rest, nl, out, e) < 0)
        goto out;
    const char *path = rest + nl;
    size_t plen = strcspn(path, "?#");
    if (plen > 1)
        out->schema = unquote_n(path + 1, plen - 1, false);
    if (path[plen] == '?') {
        const char *q = path + plen + 1;
        size_t qlen = strcspn(q, "#");
        if (qlen > 0 && parse_query(id, q, qlen, out, e) < 0)
            goto out;
    }
    rc = 0;
out:
    free(proto);
    if (rc < 0)
        conn_clear(out);
    return rc;
}

/* Long: Airflow's get_uri step by step in its order (scheme, protocol, authority, host,
 * port, schema, query), kept in one piece so it reads side by side with the original. */
char *
conn_to_uri(const struct conn *c)
{
    struct connp_sb b = {0};
    const char *host = c->host, *sep = c->host ? strstr(c->host, "://") : NULL;

    if (c->conn_type && *c->conn_type) {
        for (const char *p = c->conn_type; *p; p++) {
            char ch = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
            connp_sb_addn(&b, &ch, 1);
        }
        connp_sb_add(&b, "://");
    } else {
        connp_sb_add(&b, "//");
    }
    if (sep) {
        connp_sb_addn(&b, c->host, (size_t)(sep - c->host) + 3);
        host = sep + 3;
    }
    bool auth = c->login || c->password;
    if (c->login)
        sb_quote(&b, c->login, false);
    if (c->password) {
        connp_sb_add(&b, ":");
        sb_quote(&b, c->password, false);
    }
    if (auth)
        connp_sb_add(&b, "@");
    bool has_host = host && *host;
    if (has_host)
        sb_quote(&b, host, false);
    if (c->port) {
        char port[16];
        snprintf(port, sizeof(port), "%s:%d", !has_host && !auth ? "@" : "", c->port);
        connp_sb_add(&b, port);
    }
    if (c->schema && *c->schema) {
        connp_sb_add(&b, "/");
        sb_quote(&b, c->schema, false);
    }
    if (c->extra && *c->extra) {
        json_t *j = json_loads(c->extra, 0, NULL);
        bool plain = j && json_is_object(j) && json_object_size(j) > 0;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) if (!json_is_string(v)) plain = false;
        connp_sb_add(&b, c->schema && *c->schema ? "?" : "/?");
        if (plain) { /* every value a string: key=value pairs, as urlencode */
            bool first = true;
            json_object_foreach(j, k, v)
            {
                if (!first)
                    connp_sb_add(&b, "&");
                first = false;
                sb_quote(&b, k, true);
                connp_sb_add(&b, "=");
                sb_quote(&b, json_string_value(v), true);
            }
        } else {
            connp_sb_add(&b, EXTRA_KEY "=");
            sb_quote(&b, c->extra, true);
        }
        json_decref(j);
    }
    return connp_sb_take(&b);
}

/* ---- the JSON form --------------------------------------------------------------------- */

static int
json_field(const char *id, json_t *obj, const char *key, char **dst, struct err *e)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return err_set(e, ERR_PARSE, "connection '%s': \"%s\" is not a string", id, key);
    if (json_string_length(v) > 0 && (*dst = strdup(json_string_value(v))) == NULL)
        return connp_oom(e);
    return 0;
}

/* Long: Connection.from_json in one pass over the fields, each with Airflow's type rules
 * (port a number or a numeric string, extra an object or its text); each check is short and
 * they read best together. */
static int
from_json_object(const char *id, json_t *j, struct conn *out, struct err *e)
{
    static const char *const known[] = {"conn_type", "description", "host", "login",
                                        "password",  "schema",      "port", "extra",
                                        "conn_id",   "uri",         NULL};
    const char *k;
    json_t *v;

    json_object_foreach(j, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (known[i] == NULL)
            return err_set(e, ERR_PARSE, "connection '%s': unknown key \"%s\"", id, k);
    }
    if ((v = json_object_get(j, "uri")) != NULL && !json_is_null(v)) {
        if (!json_is_string(v) || json_object_size(j) > 1 + !!json_object_get(j, "conn_id"))
            return err_set(e, ERR_PARSE,
                           "connection '%s': give either \"uri\" or the fields, "
                           "not both",
                           id);
        return conn_from_uri(id, json_string_value(v), out, e);
    }
    if ((out->conn_id = strdup(id)) == NULL)
        return connp_oom(e);
    if (json_field(id, j, "conn_type", &out->conn_type, e) < 0 ||
        json_field(id, j, "description", &out->description, e) < 0 ||
        json_field(id, j, "host", &out->host, e) < 0 ||
        json_field(id, j, "login", &out->login, e) < 0 ||
        json_field(id, j, "password", &out->password, e) < 0 ||
        json_field(id, j, "schema", &out->schema, e) < 0)
        return -1;
    if (out->conn_type) {
        char *t = normalize_type(out->conn_type, strlen(out->conn_type));
        free(out->conn_type);
        if ((out->conn_type = t) == NULL)
            return connp_oom(e);
    }
    v = json_object_get(j, "port");
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 65535) {
        out->port = (int)json_integer_value(v);
    } else if (json_is_string(v) && *json_string_value(v)) {
        char *end;
        long p = strtol(json_string_value(v), &end, 10);
        if (*end || p < 0 || p > 65535)
            return err_set(e, ERR_PARSE, "connection '%s': \"port\" is not an integer", id);
        out->port = (int)p;
    } else if (v && !json_is_null(v) && !(json_is_string(v) || json_is_integer(v))) {
        return err_set(e, ERR_PARSE, "connection '%s': \"port\" is not an integer", id);
    } else if (json_is_integer(v)) {
        return err_set(e, ERR_PARSE, "connection '%s': \"port\" is not 0-65535", id);
    }
    v = json_object_get(j, "extra");
    if (json_is_string(v) && json_string_length(v) > 0) {
        if ((out->extra = strdup(json_string_value(v))) == NULL)
            return connp_oom(e);
        return connp_validate_extra(id, out->extra, e);
    }
    if (json_is_object(v)) {
        if ((out->extra = json_dumps(v, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) == NULL)
            return connp_oom(e);
    } else if (v && !json_is_null(v) && !json_is_string(v)) {
        return err_set(e, ERR_PARSE, "connection '%s': \"extra\" is not a JSON object", id);
    }
    return 0;
}

int
conn_from_json(const char *conn_id, const char *json, struct conn *out, struct err *e)
{
    const char *id = conn_id ? conn_id : "";
    json_error_t je;
    json_t *j;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((j = json_loads(json ? json : "", JSON_DECODE_ANY, &je)) == NULL)
        return err_set(e, ERR_PARSE, "connection '%s': not JSON (line %d column %d: %s)", id,
                       je.line, je.column, je.text);
    if (!json_is_object(j))
        rc = err_set(e, ERR_PARSE, "connection '%s': the JSON form is not an object", id);
    else
        rc = from_json_object(id, j, out, e);
    json_decref(j);
    if (rc < 0)
        conn_clear(out);
    return rc;
}

static int
set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, v ? json_string(v) : json_null());
}

char *
conn_to_json(const struct conn *c, bool with_password)
{
    json_t *o = json_object(), *extra = NULL;
    char *out;

    if (o == NULL)
        return NULL;
    if (c->extra && *c->extra && (extra = json_loads(c->extra, 0, NULL)) == NULL)
        extra = json_string(c->extra);
    const char *pw = c->password && !with_password ? "***" : c->password;
    set_str(o, "conn_type", c->conn_type);
    set_str(o, "description", c->description);
    set_str(o, "login", c->login);
    set_str(o, "password", pw);
    set_str(o, "host", c->host);
    json_object_set_new(o, "port", c->port ? json_integer(c->port) : json_null());
    set_str(o, "schema", c->schema);
    /* Airflow's export writes extra as the JSON text it stores */
    json_object_set_new(o, "extra", c->extra ? json_string(c->extra) : json_null());
    json_decref(extra);
    out = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(4));
    json_decref(o);
    return out;
}

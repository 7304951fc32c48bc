/* conn: Airflow's Connection model for both programs (see conn.h).
 *
 * The URI form is parsed the way Airflow's Connection._parse_from_uri does with Python's
 * urlsplit: scheme = conn_type ("postgresql" -> "postgres", "-" -> "_"), an optional second
 * "proto://" kept in the host, the host lower-cased unless it holds a '/' (a socket folder),
 * login, password, schema and query values percent-decoded, "__extra__" holding the extra
 * JSON verbatim, other query parameters becoming extra keys. conn_to_uri is get_uri.
 *
 * Invariant: no message made here contains a password or a Fernet key; a URI that fails
 * to parse is never quoted (it may hold a password), only the conn_id and the reason. */
#include "conn.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "fernet.h"
#include "pq.h"

#define EXTRA_KEY "__extra__"

static void
free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void
conn_clear(struct conn *c)
{
    if (c == NULL)
        return;
    free(c->conn_id);
    free(c->conn_type);
    free(c->description);
    free(c->host);
    free(c->schema);
    free(c->login);
    free_secret(c->password);
    free_secret(c->extra);
    memset(c, 0, sizeof(*c));
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

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void
sb_addn(struct sbuf *b, const char *s, size_t n)
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

static void
sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

/* Append Python's quote(s, safe="") (plus: quote_plus, a space becomes '+'). */
static void
sb_quote(struct sbuf *b, const char *s, bool plus)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("_.-~", *p)) {
            sb_addn(b, (const char *)p, 1);
        } else if (plus && *p == ' ') {
            sb_add(b, "+");
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_addn(b, enc, 3);
        }
    }
}

/* Take the buffer (NULL when memory ran out). */
static char *
sb_take(struct sbuf *b)
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

static int
oom(struct err *e)
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
static int
validate_extra(const char *conn_id, const char *extra, struct err *e)
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
        return oom(e);
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
                free(k), free_secret(v);
                rc = err_set(e, ERR_PARSE,
                             "connection '%s': a query parameter of the URI is not UTF-8", conn_id);
                goto out;
            }
            if (strcmp(k, EXTRA_KEY) == 0) {
                free_secret(extra);
                extra = strdup(v);
            }
            free(k), free_secret(v);
        }
        i = f + 1;
    }
    if (extra) {
        out->extra = extra, extra = NULL;
    } else if ((out->extra = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) == NULL) {
        rc = oom(e);
        goto out;
    }
    rc = validate_extra(conn_id, out->extra, e);
out:
    json_decref(obj);
    free_secret(extra);
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
        return oom(e);
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
    if (nschemes > 2)
        return err_set(e, ERR_PARSE,
                       "connection '%s': invalid connection URI (more than two "
                       "'://')",
                       id);
    if ((out->conn_id = strdup(id)) == NULL ||
        (out->conn_type = normalize_type(uri, (size_t)slen)) == NULL) {
        rc = oom(e);
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
            rc = oom(e);
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

char *
conn_to_uri(const struct conn *c)
{
    struct sbuf b = {0};
    const char *host = c->host, *sep = c->host ? strstr(c->host, "://") : NULL;

    if (c->conn_type && *c->conn_type) {
        for (const char *p = c->conn_type; *p; p++) {
            char ch = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
            sb_addn(&b, &ch, 1);
        }
        sb_add(&b, "://");
    } else {
        sb_add(&b, "//");
    }
    if (sep) {
        sb_addn(&b, c->host, (size_t)(sep - c->host) + 3);
        host = sep + 3;
    }
    bool auth = c->login || c->password;
    if (c->login)
        sb_quote(&b, c->login, false);
    if (c->password) {
        sb_add(&b, ":");
        sb_quote(&b, c->password, false);
    }
    if (auth)
        sb_add(&b, "@");
    bool has_host = host && *host;
    if (has_host)
        sb_quote(&b, host, false);
    if (c->port) {
        char port[16];
        snprintf(port, sizeof(port), "%s:%d", !has_host && !auth ? "@" : "", c->port);
        sb_add(&b, port);
    }
    if (c->schema && *c->schema) {
        sb_add(&b, "/");
        sb_quote(&b, c->schema, false);
    }
    if (c->extra && *c->extra) {
        json_t *j = json_loads(c->extra, 0, NULL);
        bool plain = j && json_is_object(j) && json_object_size(j) > 0;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) if (!json_is_string(v)) plain = false;
        sb_add(&b, c->schema && *c->schema ? "?" : "/?");
        if (plain) { /* every value a string: key=value pairs, as urlencode */
            bool first = true;
            json_object_foreach(j, k, v)
            {
                if (!first)
                    sb_add(&b, "&");
                first = false;
                sb_quote(&b, k, true);
                sb_add(&b, "=");
                sb_quote(&b, json_string_value(v), true);
            }
        } else {
            sb_add(&b, EXTRA_KEY "=");
            sb_quote(&b, c->extra, true);
        }
        json_decref(j);
    }
    return sb_take(&b);
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
        return oom(e);
    return 0;
}

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
        return oom(e);
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
            return oom(e);
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
            return oom(e);
        return validate_extra(id, out->extra, e);
    }
    if (json_is_object(v)) {
        if ((out->extra = json_dumps(v, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) == NULL)
            return oom(e);
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

/* ---- lookup ---------------------------------------------------------------------------- */

/* Parse a secret backend's value: JSON when it starts with '{' (after blanks), else URI. */
static int
deserialize(const char *id, const char *value, struct conn *out, struct err *e)
{
    while (*value == ' ' || *value == '\t' || *value == '\n' || *value == '\r')
        value++;
    if (*value == '{')
        return conn_from_json(id, value, out, e);
    return conn_from_uri(id, value, out, e);
}

/* Decrypt *field in place when it is flagged encrypted. */
static int
decrypt_field(const char *id, const char *what, const struct fernet *f, bool have_key, char **field,
              struct err *e)
{
    if (*field == NULL)
        return 0;
    if (!have_key)
        return err_set(e, ERR_USAGE,
                       "connection '%s': its %s is encrypted but no Fernet key is set "
                       "(AIRFLOW__CORE__FERNET_KEY or GUST_FERNET_KEY)",
                       id, what);
    char *plain = fernet_decrypt(f, *field, NULL, NULL, e);
    if (plain == NULL)
        return err_prefix(e, "connection '%s': %s", id, what);
    free_secret(*field);
    *field = plain;
    return 0;
}

static char *
dup_value(PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col) || *PQgetvalue(res, 0, col) == '\0')
        return NULL;
    return strdup(PQgetvalue(res, 0, col));
}

/* The `connection` row of id, decrypted. ERR_NOTFOUND when there is none (env names the
 * variable that was looked at first). */
static int
lookup_db(const char *id, const char *env, PGconn *db, struct conn *out, struct err *e)
{
    const char *params[1] = {id};
    PGresult *res = PQexecParams(db,
                                 "SELECT conn_type, description, host, schema, login, password, "
                                 "port, extra, is_encrypted, is_extra_encrypted FROM connection "
                                 "WHERE conn_id = $1",
                                 1, NULL, params, NULL, NULL, 0);
    struct fernet f;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp(state, "42P01") == 0)
            rc = err_set(e, ERR_NOTFOUND,
                         "connection '%s' not found (no %s variable, and the metadata "
                         "database has no connection table: run gust db migrate)",
                         id, env);
        else
            rc = pq_error(db, res, e), err_prefix(e, "connection '%s': look up", id);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = err_set(e, ERR_NOTFOUND,
                     "connection '%s' not found (neither %s nor a row of the connection table)", id,
                     env);
        goto out;
    }
    out->conn_id = strdup(id);
    out->conn_type = dup_value(res, 0);
    out->description = dup_value(res, 1);
    out->host = dup_value(res, 2);
    out->schema = dup_value(res, 3);
    out->login = dup_value(res, 4);
    out->password = dup_value(res, 5);
    out->port = PQgetisnull(res, 0, 6) ? 0 : atoi(PQgetvalue(res, 0, 6));
    out->extra = dup_value(res, 7);
    bool enc = *PQgetvalue(res, 0, 8) == 't', xenc = *PQgetvalue(res, 0, 9) == 't';
    if ((enc && out->password) || (xenc && out->extra))
        if (fernet_from_env(&f, NULL, e) < 0) {
            err_prefix(e, "connection '%s'", id);
            goto out;
        }
    if ((enc && decrypt_field(id, "password", &f, f.nkeys > 0, &out->password, e) < 0) ||
        (xenc && decrypt_field(id, "extra", &f, f.nkeys > 0, &out->extra, e) < 0))
        goto out;
    if (out->extra && validate_extra(id, out->extra, e) < 0)
        goto out;
    rc = 0;
out:
    PQclear(res);
    OPENSSL_cleanse(&f, sizeof(f));
    if (rc < 0)
        conn_clear(out);
    return rc;
}

int
conn_lookup(const char *conn_id, PGconn *db, struct conn *out, struct err *e)
{
    char name[300];
    const char *value;

    memset(out, 0, sizeof(*out));
    if (conn_id == NULL || *conn_id == '\0')
        return err_set(e, ERR_USAGE, "empty connection id");
    if (strlen(conn_id) > 250)
        return err_set(e, ERR_USAGE, "connection id longer than 250 characters");
    int n = snprintf(name, sizeof(name), "AIRFLOW_CONN_%s", conn_id);
    for (char *p = name + 13; n > 0 && *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if ((value = getenv(name)) != NULL && *value) {
        if (deserialize(conn_id, value, out, e) < 0)
            return err_prefix(e, "%s", name);
        return 0;
    }
    if (db == NULL)
        return err_set(e, ERR_NOTFOUND,
                       "connection '%s' not found (no %s variable, and no metadata database "
                       "to look in)",
                       conn_id, name);
    return lookup_db(conn_id, name, db, out, e);
}

/* ---- postgres ---------------------------------------------------------------------------- */

/* Append key='value' with \ and ' escaped, as libpq's conninfo wants. */
static void
kv(struct sbuf *b, const char *key, const char *value)
{
    if (b->len)
        sb_add(b, " ");
    sb_add(b, key);
    sb_add(b, "='");
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '\'')
            sb_add(b, "\\");
        sb_addn(b, p, 1);
    }
    sb_add(b, "'");
}

/* True when key is a libpq keyword an extra may set (not one of the fields). */
static bool
pass_through(const char *key)
{
    static const char *const fields[] = {"host",     "hostaddr", "port", "user",
                                         "password", "dbname",   NULL};
    PQconninfoOption *opts = PQconndefaults(), *o;
    bool ok = false;

    for (size_t i = 0; fields[i]; i++)
        if (strcmp(fields[i], key) == 0)
            return false;
    for (o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            ok = true;
    PQconninfoFree(opts);
    return ok;
}

int
conn_pg_conninfo(const struct conn *c, const char *database, char **out, struct err *e)
{
    const char *id = c->conn_id ? c->conn_id : "";
    struct sbuf b = {0};
    char port[16];

    *out = NULL;
    if (c->conn_type == NULL ||
        (strcmp(c->conn_type, "postgres") != 0 && strcmp(c->conn_type, "postgresql") != 0))
        return err_set(e, ERR_USAGE,
                       "connection '%s' has conn_type '%s': only postgres connections are "
                       "supported",
                       id, c->conn_type ? c->conn_type : "(none)");
    if (c->host)
        kv(&b, "host", c->host);
    if (c->port) {
        snprintf(port, sizeof(port), "%d", c->port);
        kv(&b, "port", port);
    }
    if (c->login)
        kv(&b, "user", c->login);
    if (c->password)
        kv(&b, "password", c->password);
    if (database && *database)
        kv(&b, "dbname", database);
    else if (c->schema)
        kv(&b, "dbname", c->schema);
    if (c->extra) {
        json_t *j = json_loads(c->extra, 0, NULL);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            char num[64];
            const char *s = NULL;
            if (!pass_through(k))
                continue; /* Airflow's hook options (cursor, iam, ...) are not libpq's */
            if (json_is_string(v))
                s = json_string_value(v);
            else if (json_is_integer(v))
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v)), s = num;
            else if (json_is_boolean(v))
                s = json_is_true(v) ? "1" : "0";
            if (s == NULL) {
                json_decref(j);
                free(b.p);
                return err_set(e, ERR_PARSE,
                               "connection '%s': extra \"%s\" is not a string or a number", id, k);
            }
            kv(&b, k, s);
        }
        json_decref(j);
    }
    if ((*out = sb_take(&b)) == NULL)
        return oom(e);
    return 0;
}

void
conn_describe(const struct conn *c, char *buf, size_t size)
{
    char port[16] = "";

    if (c->port)
        snprintf(port, sizeof(port), ":%d", c->port);
    snprintf(buf, size, "%s (%s://%s%s%s%s%s%s)", c->conn_id ? c->conn_id : "",
             c->conn_type ? c->conn_type : "", c->login ? c->login : "", c->login ? "@" : "",
             c->host ? c->host : "", port, c->schema ? "/" : "", c->schema ? c->schema : "");
}

char *
conn_extra_get(const struct conn *c, const char *key)
{
    json_t *j = c->extra ? json_loads(c->extra, 0, NULL) : NULL;
    json_t *v = json_is_object(j) ? json_object_get(j, key) : NULL;
    char *out = NULL;

    if (json_is_string(v))
        out = strdup(json_string_value(v));
    else if (v)
        out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    json_decref(j);
    return out;
}

bool
conn_key_is_secret(const char *key)
{
    static const char *const words[] = {"password",      "secret",      "passwd",
                                        "authorization", "api_key",     "apikey",
                                        "access_token",  "private_key", NULL};
    char low[256];
    size_t n = 0;

    for (; key && key[n] && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)key[n]);
    low[n] = '\0';
    for (size_t i = 0; words[i]; i++)
        if (strstr(low, words[i]))
            return true;
    return false;
}

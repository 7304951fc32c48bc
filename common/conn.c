/* conn: Airflow's Connection model for both programs (see conn.h): the lookup
 * (AIRFLOW_CONN_<ID>, then the `connection` table, decrypted), the libpq conninfo of a postgres
 * connection, its description for messages, and Airflow's secret-key rule. The text forms are
 * conn_form.c.
 *
 * Invariant: no message made here contains a password or a Fernet key. */
#include "conn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "conn_int.h"
#include "fernet.h"
#include "pq.h"

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
    connp_free_secret(c->password);
    connp_free_secret(c->extra);
    memset(c, 0, sizeof(*c));
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
    connp_free_secret(*field);
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

/* The `connection` row of id, decrypted. ERR_NOTFOUND when there is none (env, if not NULL,
 * names the variable that was looked at first). */
static int
lookup_db(const char *id, const char *env, PGconn *db, struct conn *out, struct err *e)
{
    const char *params[1] = {id};
    PGresult *res = PQexecParams(db,
                                 "SELECT conn_type, description, host, schema, login, password, "
                                 "port, extra, is_encrypted, is_extra_encrypted FROM connection "
                                 "WHERE conn_id = $1",
                                 1, NULL, params, NULL, NULL, 0);
    struct fernet f = {0};
    char where[100] = "";
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (env)
        snprintf(where, sizeof(where), "no %s variable, and ", env);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp(state, "42P01") == 0)
            rc = err_set(e, ERR_NOTFOUND,
                         "connection '%s' not found (%sthe metadata database has no connection "
                         "table: run gust db migrate)",
                         id, where);
        else
            rc = pq_error(db, res, e), err_prefix(e, "connection '%s': look up", id);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = err_set(e, ERR_NOTFOUND,
                     "connection '%s' not found (%sno row of the connection table)", id, where);
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
    if (out->extra && connp_validate_extra(id, out->extra, e) < 0)
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

int
conn_lookup_default(const char *conn_id, struct conn *out, struct err *e)
{
    const char *url = getenv("GUST_DATABASE_URL");
    char where[200];
    struct err local = {0};
    PGconn *db;
    int rc;

    if (e == NULL)
        e = &local;
    if (conn_lookup(conn_id, NULL, out, e) == 0)
        return 0;
    if (e->code != ERR_NOTFOUND)
        return -1;
    if ((url == NULL || *url == '\0') && getenv("PGHOST") == NULL && getenv("PGDATABASE") == NULL)
        return -1; /* no metadata database configured: "not found" stands */
    if ((db = pq_connect(url, "gust-conn", true, where, sizeof(where), e)) == NULL)
        return err_prefix(e, "connection '%s': look it up in the metadata database", conn_id);
    rc = conn_lookup(conn_id, db, out, e);
    PQfinish(db);
    return rc;
}

int
conn_db_get(const char *conn_id, PGconn *db, struct conn *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    return lookup_db(conn_id, NULL, db, out, e);
}

/* ---- postgres ---------------------------------------------------------------------------- */

/* Append key='value' with \ and ' escaped, as libpq's conninfo wants. */
static void
kv(struct connp_sb *b, const char *key, const char *value)
{
    if (b->len)
        connp_sb_add(b, " ");
    connp_sb_add(b, key);
    connp_sb_add(b, "='");
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '\'')
            connp_sb_add(b, "\\");
        connp_sb_addn(b, p, 1);
    }
    connp_sb_add(b, "'");
}

/* True when key is a libpq keyword an extra may set (not one of the fields). */
static bool
pass_through(const char *key)
{
    static const char *const fields[] = {"host",     "hostaddr", "port", "user",
                                         "password", "dbname",   NULL};
    PQconninfoOption *opts, *o;
    bool ok = false;

    for (size_t i = 0; fields[i]; i++)
        if (strcmp(fields[i], key) == 0)
            return false;
    opts = PQconndefaults();
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
    struct connp_sb b = {0};
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
    if ((*out = connp_sb_take(&b)) == NULL)
        return connp_oom(e);
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

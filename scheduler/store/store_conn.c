/* store_conn: Airflow's `connection` table, written by `gust connections` and read through
 * conn_lookup / conn_db_get (common/conn.c) on the store's session.
 *
 * password and extra are Fernet tokens when a key is given (is_encrypted /
 * is_extra_encrypted true), else plain text (false), exactly as Airflow stores them, so a
 * row either program wrote is read by the other. Values are parameters, never pasted into
 * SQL, and no message made here contains a password or a key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn.h"
#include "fernet.h"
#include "store_int.h"

int
store_conn_lookup(struct store *s, const char *conn_id, struct conn *out, struct err *e)
{
    if (s)
        store_settle(s);
    return conn_lookup(conn_id, s ? s->conn : NULL, out, e);
}

int
store_conn_get(struct store *s, const char *conn_id, struct conn *out, struct err *e)
{
    store_settle(s);
    return conn_db_get(conn_id, s->conn, out, e);
}

/* The stored form of value: a token when f has a key, else a copy. *enc says which. */
static int
seal(const struct fernet *f, const char *value, time_t now, char **out, bool *enc, struct err *e)
{
    *out = NULL;
    *enc = false;
    if (value == NULL || *value == '\0')
        return 0;
    if (f == NULL || f->nkeys == 0)
        return (*out = strdup(value)) ? 0 : err_set(e, ERR_FAIL, "out of memory");
    if ((*out = fernet_encrypt(f, value, strlen(value), (int64_t)now, e)) == NULL)
        return -1;
    *enc = true;
    return 0;
}

static void
free_secret(char *p)
{
    if (p) {
        OPENSSL_cleanse(p, strlen(p));
        free(p);
    }
}

int
store_conn_put(struct store *s, const struct conn *c, bool overwrite, const struct fernet *f,
               time_t now, struct err *e)
{
    char *pw = NULL, *extra = NULL, port[16];
    bool pw_enc = false, extra_enc = false;
    int rc = -1;

    if (seal(f, c->password, now, &pw, &pw_enc, e) < 0 ||
        seal(f, c->extra, now, &extra, &extra_enc, e) < 0)
        goto out;
    snprintf(port, sizeof(port), "%d", c->port);
    const char *p[] = {c->conn_id,
                       c->conn_type,
                       c->description,
                       c->host,
                       c->schema,
                       c->login,
                       pw,
                       c->port ? port : NULL,
                       pw_enc ? "true" : "false",
                       extra_enc ? "true" : "false",
                       extra};
    const char *sql =
        overwrite
            ? "INSERT INTO connection (conn_id, conn_type, description, host, schema, login, "
              "password, port, is_encrypted, is_extra_encrypted, extra) VALUES ($1, $2, $3, $4, "
              "$5, $6, $7, $8, $9, $10, $11) ON CONFLICT (conn_id) DO UPDATE SET conn_type = "
              "EXCLUDED.conn_type, description = EXCLUDED.description, host = EXCLUDED.host, "
              "schema = EXCLUDED.schema, login = EXCLUDED.login, password = EXCLUDED.password, "
              "port = EXCLUDED.port, is_encrypted = EXCLUDED.is_encrypted, is_extra_encrypted = "
              "EXCLUDED.is_extra_encrypted, extra = EXCLUDED.extra"
            : "INSERT INTO connection (conn_id, conn_type, description, host, schema, login, "
              "password, port, is_encrypted, is_extra_encrypted, extra) VALUES ($1, $2, $3, $4, "
              "$5, $6, $7, $8, $9, $10, $11) ON CONFLICT (conn_id) DO NOTHING";
    int won = store_exec_won(s, e, sql, 11, p);
    if (won < 0)
        err_prefix(e, "connection '%s'", c->conn_id);
    else if (won == 0)
        err_set(e, ERR_EXISTS, "a connection with conn_id '%s' already exists", c->conn_id);
    else
        rc = 0;
out:
    free_secret(pw);
    free_secret(extra);
    return rc;
}

int
store_conn_delete(struct store *s, const char *conn_id, bool *deleted, struct err *e)
{
    const char *p[] = {conn_id};
    int won = store_exec_won(s, e, "DELETE FROM connection WHERE conn_id = $1", 1, p);

    if (won < 0)
        return err_prefix(e, "delete connection '%s'", conn_id);
    *deleted = won > 0;
    return 0;
}

int
store_conn_ids(struct store *s, char ***ids, size_t *n, struct err *e)
{
    PGresult *res = store_exec(s, e, "SELECT conn_id FROM connection ORDER BY conn_id", 0, NULL);
    size_t rows;

    *ids = NULL;
    *n = 0;
    if (res == NULL)
        return err_prefix(e, "list connections");
    rows = (size_t)PQntuples(res);
    if ((*ids = calloc(rows + 1, sizeof(**ids))) == NULL) {
        PQclear(res);
        return err_set(e, ERR_FAIL, "list connections: out of memory");
    }
    for (size_t i = 0; i < rows; i++)
        if (((*ids)[i] = strdup(PQgetvalue(res, (int)i, 0))) == NULL) {
            PQclear(res);
            return err_set(e, ERR_FAIL, "list connections: out of memory");
        }
    *n = rows;
    PQclear(res);
    return 0;
}

/* Re-encrypt one token column of row id. */
static int
rotate_value(struct store *s, const struct fernet *f, const char *id, const char *conn_id,
             const char *sql, const char *token, struct err *e)
{
    char *fresh = fernet_rotate(f, token, e);
    int rc;

    if (fresh == NULL)
        return err_prefix(e, "connection '%s'", conn_id);
    const char *p[] = {id, fresh};
    rc = store_exec_cmd(s, e, sql, 2, p);
    free(fresh);
    return rc;
}

int
store_conn_rotate(struct store *s, const struct fernet *f, int *rotated, struct err *e)
{
    PGresult *res = NULL;
    int rc = -1;

    *rotated = 0;
    if (f->nkeys == 0)
        return err_set(e, ERR_USAGE, "rotate: no Fernet key is set (AIRFLOW__CORE__FERNET_KEY)");
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return -1;
    res = store_exec(s, e,
                     "SELECT id, conn_id, password, extra, is_encrypted, is_extra_encrypted "
                     "FROM connection WHERE (is_encrypted AND password IS NOT NULL) OR "
                     "(is_extra_encrypted AND extra IS NOT NULL) ORDER BY id FOR UPDATE",
                     0, NULL);
    if (res == NULL)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0), *cid = PQgetvalue(res, i, 1);
        if (*PQgetvalue(res, i, 4) == 't' && !PQgetisnull(res, i, 2) &&
            rotate_value(s, f, id, cid, "UPDATE connection SET password = $2 WHERE id = $1",
                         PQgetvalue(res, i, 2), e) < 0)
            goto out;
        if (*PQgetvalue(res, i, 5) == 't' && !PQgetisnull(res, i, 3) &&
            rotate_value(s, f, id, cid, "UPDATE connection SET extra = $2 WHERE id = $1",
                         PQgetvalue(res, i, 3), e) < 0)
            goto out;
        (*rotated)++;
    }
    rc = 0;
out:
    PQclear(res);
    return store_end_tx(s, rc, e) < 0 ? err_prefix(e, "rotate-fernet-key") : 0;
}

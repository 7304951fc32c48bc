/* conn: Airflow's Connection model, shared by gust and the task executables.
 *
 * A connection comes from Airflow's URI form ("postgresql://user:pa%40ss@host:5432/db?
 * sslmode=require"), its JSON form ({"conn_type": ..., "host": ..., "extra": {...}}), the
 * environment (AIRFLOW_CONN_<CONN_ID upper-cased>) or the metadata database's `connection`
 * table (passwords and extra Fernet-encrypted when a key is set, see fernet.h). Nothing
 * this module returns in a message contains a password: use conn_describe() for logs. */
#ifndef GUST_CONN_H
#define GUST_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* libpq's connection type, declared here (C11 allows the repeated typedef) so that callers
 * of conn_lookup need not include libpq. */
typedef struct pg_conn PGconn;

struct conn { /* Airflow's Connection fields; strings owned, NULL when absent */
    char *conn_id, *conn_type, *description, *host, *schema, *login, *password;
    int port;    /* 0 when absent */
    char *extra; /* JSON object text, NULL when absent */
};

/* Free every field and zero c (c may be NULL). */
void conn_clear(struct conn *c);

/* Parse Airflow's URI form (percent-decoding as Airflow's Connection._parse_from_uri):
 * scheme = conn_type ("postgresql" becomes "postgres", "-" becomes "_"), host, port,
 * login, password, schema = path, query: `__extra__` holds the extra JSON, other query
 * parameters become extra keys. out is cleared first; on error it is left cleared.
 * Errors: ERR_PARSE, permanent, naming conn_id, never quoting the password. */
int conn_from_uri(const char *conn_id, const char *uri, struct conn *out, struct err *e);

/* Parse Airflow's JSON form {"conn_type":...,"host":...,"login":...,"password":...,
 * "port":...,"schema":...,"description":...,"extra":{...} or "..."}. */
int conn_from_json(const char *conn_id, const char *json, struct conn *out, struct err *e);

/* Airflow's URI form of c (Connection.get_uri): new string, password included. */
char *conn_to_uri(const struct conn *c);

/* The JSON object of c as Airflow writes it in `connections export` (conn_type,
 * description, host, login, password, schema, port, extra). New string; the password is
 * written only when with_password, else "***" stands for a non-empty password. */
char *conn_to_json(const struct conn *c, bool with_password);

/* Look a connection up in Airflow's order: AIRFLOW_CONN_<CONN_ID upper-cased> (URI or JSON
 * form, JSON when it starts with '{'), then the `connection` table of the metadata database
 * db (may be NULL: environment only; decrypts with the Fernet key(s) of
 * AIRFLOW__CORE__FERNET_KEY or GUST_FERNET_KEY). 0 found, -1 with e: not found
 * (ERR_NOTFOUND, permanent, message names the conn_id), malformed (ERR_PARSE, permanent),
 * database error (ERR_DB, temporary as libpq says). */
int conn_lookup(const char *conn_id, PGconn *db, struct conn *out, struct err *e);

/* conn_lookup for a process that has no session of its own: AIRFLOW_CONN_<ID> first, then
 * the `connection` table of the metadata database this environment configures
 * ($GUST_DATABASE_URL, else libpq's PG* variables when PGHOST or PGDATABASE is set), on a
 * short session of its own. With no database configured, the environment only. Errors as
 * conn_lookup's; the metadata database unreachable is ERR_DB, temporary, naming conn_id. */
int conn_lookup_default(const char *conn_id, struct conn *out, struct err *e);

/* The `connection` table's row of conn_id only (no environment), decrypted as conn_lookup
 * does: what `gust connections list/export` read. ERR_NOTFOUND when there is no row. */
int conn_db_get(const char *conn_id, PGconn *db, struct conn *out, struct err *e);

/* A libpq conninfo for a postgres connection (conn_type postgres/postgresql; else -1 with a
 * clear error naming the conn_id and its type). `database` overrides schema when non-NULL.
 * Values quoted for conninfo; extra keys sslmode, sslrootcert, sslcert, sslkey,
 * connect_timeout, application_name, options pass through. The password is in the
 * conninfo (never print it): use conn_describe() for messages. New string in *out. */
int conn_pg_conninfo(const struct conn *c, const char *database, char **out, struct err *e);

/* "postgres://login@host:port/schema" without the password, for logs and errors
 * (conn_id "x" prefixed: "x (postgres://...)"). */
void conn_describe(const struct conn *c, char *buf, size_t size);

/* A value of extra (JSON object) as text: a string as itself, other JSON values as their
 * JSON text. New string, NULL when extra has no key (or is not an object). */
char *conn_extra_get(const struct conn *c, const char *key);

/* True when a variable or extra key looks secret by Airflow's rule (its lower-cased name
 * contains password, secret, passwd, authorization, api_key, apikey, access_token or
 * private_key): its value is shown as "***". */
bool conn_key_is_secret(const char *key);

#endif

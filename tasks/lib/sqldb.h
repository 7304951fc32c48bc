/* sqldb: the database side of sql_task: an Airflow connection opened with libpq, statements
 * run asynchronously so that SIGTERM cancels them on the server (PQcancel), a server-side
 * statement_timeout, and results read as typed values (sqlcheck.h's struct sqlval).
 *
 * Errors follow err.h. Connection problems: the connection is missing, malformed or not a
 * postgres one -> ERR_USAGE (the task exits 100); the server is unreachable -> temporary
 * (111); every message names the conn_id and never holds the password. */
#ifndef GUST_SQLDB_H
#define GUST_SQLDB_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "sqlcheck.h"
#include "sqlspec.h"

struct sqldb;  /* an open connection to the target database */
struct sqlres; /* one statement's result */

/* Look conn_id up (conn_lookup_default: AIRFLOW_CONN_<ID>, then the connection table of the
 * metadata database, GUST_DATABASE_URL or the PG* variables) and connect; database overrides the
 * connection's schema when not NULL. */
struct sqldb *sqldb_open(const char *conn_id, const char *database, struct err *e);

/* Close (a transaction still open is rolled back by the server). NULL ok. */
void sqldb_free(struct sqldb *db);

/* "conn_id (postgres://login@host:port/schema)" for logs (borrowed; no password). */
const char *sqldb_describe(const struct sqldb *db);

/* Call fn(seconds the statement has run, arg) every interval seconds while a statement runs
 * (fn NULL: never), so a long statement shows it is alive in the try's log. */
void sqldb_set_progress(struct sqldb *db, void (*fn)(double, void *), void *arg, double interval);

/* Set the session's statement_timeout (server side) to seconds, rounded up to whole
 * milliseconds; 0 turns it off. */
int sqldb_set_timeout(struct sqldb *db, double seconds, struct err *e);

/* Run one statement with n parameters (values as text, NULL = SQL NULL; types say what to
 * bind them as) through the extended protocol, or, with n == 0 and simple true, a whole text
 * of one or more statements through the simple protocol (the last statement's result is
 * kept, as a DB-API cursor keeps it). Waits for the result; when SIGTERM or SIGINT arrives
 * meanwhile the statement is cancelled on the server, and the error says so. *out (NULL
 * allowed) gets the result (sqlres_free). */
int sqldb_run(struct sqldb *db, const char *sql, bool simple, size_t n, const char *const *values,
              const enum sql_ptype *types, struct sqlres **out, struct err *e);

/* BEGIN, COMMIT (a COMMIT that rolled back is an error), ROLLBACK. */
int sqldb_begin(struct sqldb *db, struct err *e);
int sqldb_commit(struct sqldb *db, struct err *e);
int sqldb_rollback(struct sqldb *db, struct err *e);

/* True when the connection broke (a retry needs a new one). */
bool sqldb_lost(const struct sqldb *db);

/* True when the statement returned rows (a description): SELECT, ... RETURNING, SHOW. */
bool sqlres_has_rows(const struct sqlres *r);
size_t sqlres_nrows(const struct sqlres *r);
size_t sqlres_ncols(const struct sqlres *r);
/* Rows the statement inserted/updated/deleted/returned, -1 when not applicable. */
long long sqlres_affected(const struct sqlres *r);
/* The value at (row, col), typed as psycopg2 would type it (borrowed: lives as long as r). */
struct sqlval sqlres_value(const struct sqlres *r, size_t row, size_t col);
/* The column's name (borrowed). */
const char *sqlres_colname(const struct sqlres *r, size_t col);
void sqlres_free(struct sqlres *r);

#endif

/* pgconn: small PostgreSQL helpers for task executables (the only tasks file with libpq).
 *
 * A connection, parameterised statements, transactions, reading a result, and COPY FROM
 * STDIN in text format with a row builder that escapes values. Errors follow err.h: 0 / -1
 * (or pointer / NULL) and a struct err whose `temporary` is true when the database was
 * unreachable or the connection was lost (the task exits 111 then), false for SQL errors
 * (exit 1). No message contains a password. Nothing here prints or exits. */
#ifndef GUST_PGCONN_H
#define GUST_PGCONN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct pgconn;      /* one open connection */
struct pgconn_rows; /* the rows a query returned */
struct pgconn_row;  /* a COPY text row being built */

/* Connect to conninfo (a libpq "key=value" string or postgresql:// URI); NULL or "" means
 * $GUST_DATABASE_URL, and when that is unset too, libpq's PG* variables and defaults.
 * Errors name host, port, database and user, with any password masked; temporary is true
 * when the server refused, was unreachable or not ready. */
struct pgconn *pgconn_open(const char *conninfo, struct err *e);

/* The target database of a task given as an Airflow connection id (--conn-id, $GUST_CONN_ID)
 * instead of a URL: when conn_id is set (not NULL or ""), *url becomes the connection's libpq
 * conninfo (owned here, valid until exit), found as Airflow finds it: AIRFLOW_CONN_<ID>, then
 * the `connection` table of the metadata database ($GUST_DATABASE_URL, or PGHOST/PGDATABASE;
 * conn_lookup_default; passwords decrypted with AIRFLOW__CORE__FERNET_KEY / GUST_FERNET_KEY). A
 * later pgconn_open(*url) that fails names the connection. Errors name it too: not found, malformed
 * or not a postgres connection are permanent (ERR_NOTFOUND, ERR_PARSE, ERR_USAGE: exit 100); the
 * metadata database unreachable is temporary (exit 111). conn_id unset: *url untouched. */
int pgconn_target(const char **url, const char *conn_id, struct err *e);

/* Close the connection (a transaction still open is rolled back by the server). NULL ok. */
void pgconn_free(struct pgconn *c);

/* "host=... port=... dbname=... user=..." of the connection, for logs (borrowed). */
const char *pgconn_where(const struct pgconn *c);

/* Run one statement with n text parameters (NULL element = SQL NULL). *affected (if not
 * NULL) gets the rows it inserted/updated/deleted/returned. */
int pgconn_exec(struct pgconn *c, const char *sql, int n, const char *const *params,
                long long *affected, struct err *e);

/* Run a query with n text parameters; *out gets its rows (new: pgconn_rows_free). */
int pgconn_query(struct pgconn *c, const char *sql, int n, const char *const *params,
                 struct pgconn_rows **out, struct err *e);

/* Number of rows of a result. */
int pgconn_rows_count(const struct pgconn_rows *r);

/* The text of one value (borrowed, lives as long as r), NULL for SQL NULL or out of range. */
const char *pgconn_rows_value(const struct pgconn_rows *r, int row, int col);

/* Free a result. NULL ok. */
void pgconn_rows_free(struct pgconn_rows *r);

/* BEGIN / COMMIT / ROLLBACK. A failed COMMIT means the transaction was rolled back. */
int pgconn_begin(struct pgconn *c, struct err *e);
int pgconn_commit(struct pgconn *c, struct err *e);
int pgconn_rollback(struct pgconn *c, struct err *e);

/* True when the connection is gone (server died, network dropped): a temporary error, the
 * transaction is lost, and only a new connection can go on. */
bool pgconn_lost(const struct pgconn *c);

/* ---- COPY FROM STDIN, text format ------------------------------------------------------ */

/* Start a copy: sql is "COPY table (col, ...) FROM STDIN" (text format, the default). Until
 * pgconn_copy_end only pgconn_copy_row may be called on c (a failed copy aborts the
 * transaction: roll it back). */
int pgconn_copy_begin(struct pgconn *c, const char *sql, struct err *e);

/* Send one built row (the row is not reset). */
int pgconn_copy_row(struct pgconn *c, const struct pgconn_row *row, struct err *e);

/* Send len bytes of the copy's data as they are: for a COPY in another format (CSV read from a
 * file, parsed by the server). */
int pgconn_copy_data(struct pgconn *c, const char *data, size_t len, struct err *e);

/* Finish the copy; *rows (if not NULL) gets the number of rows the server stored. */
int pgconn_copy_end(struct pgconn *c, long long *rows, struct err *e);

/* A new, empty row (NULL when out of memory). */
struct pgconn_row *pgconn_row_new(void);

/* Free a row. NULL ok. */
void pgconn_row_free(struct pgconn_row *row);

/* Empty the row for reuse (keeps its memory). */
void pgconn_row_reset(struct pgconn_row *row);

/* Append one value: NULL becomes \N; \ tab newline and carriage return are escaped. Values
 * must be valid in the connection's encoding (UTF-8 unless PGCLIENTENCODING says otherwise). */
int pgconn_row_add(struct pgconn_row *row, const char *value, struct err *e);

/* Append len bytes as one value (not NUL-terminated; a NUL byte inside is refused: text
 * cannot hold it). value NULL = SQL NULL. */
int pgconn_row_addn(struct pgconn_row *row, const char *value, size_t len, struct err *e);

/* Append a value formatted like printf (numbers, mostly; escaped like any value). */
int pgconn_row_addf(struct pgconn_row *row, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The row's bytes so far, terminated by "\n" once it holds a value (borrowed). Mostly for
 * tests. */
const char *pgconn_row_text(const struct pgconn_row *row, size_t *len);

#endif

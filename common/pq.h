/* pq: the libpq code both programs share: connecting, and turning a failure into a struct err
 * whose `temporary` flag says whether retrying later may work.
 *
 * Only the files that talk to PostgreSQL include this header (and so libpq): common/pq.c,
 * the scheduler's store (scheduler/store/store.c, store_int.h) and the tasks' pgconn
 * (tasks/lib/pgconn.c). No message made here contains a password. */
#ifndef GUST_PQ_H
#define GUST_PQ_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "err.h"

/* Connect to conninfo (a libpq "key=value" string or postgresql:// URI; NULL or "" means
 * libpq's defaults and PG* variables). Our defaults, each overridden by conninfo or its PG*
 * variable: connect_timeout=10 (PGCONNECT_TIMEOUT), fallback_application_name=app, and when
 * utf8, client_encoding=UTF8 (PGCLIENTENCODING). where (size bytes) always gets
 * "host=... port=... dbname=... user=..." (or the masked conninfo) for messages. Returns the
 * connection with notices silenced, or NULL with e set (ERR_DB, "connect to <where>: ...",
 * temporary when the server was down, unreachable or not ready). */
PGconn *pq_connect(const char *conninfo, const char *app, bool utf8, char *where, size_t size,
                   struct err *e);

/* Set e from a failed result (res NULL: from the connection's last error): ERR_DB, the
 * message's first line and "(SQLSTATE x)" when the server sent one; temporary when the
 * connection is gone or pq_is_temporary says so. Always returns -1. */
int pq_error(const PGconn *c, const PGresult *res, struct err *e);

/* True when an error may go away by itself. With a SQLSTATE: connection exceptions (class
 * 08), admin or crash shutdown and "cannot connect now" (57P01-03), too many connections
 * (53300). Without one (libpq's own messages): the server refused, timed out, was unreachable,
 * starting or shutting down, or the connection broke. */
bool pq_is_temporary(const char *sqlstate, const char *msg);

#endif

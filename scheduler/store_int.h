/* store_int: what the store_*.c files share. Includes libpq, so only store*.c may include it
 * (STYLE rule 1); nothing here is part of the public API in store.h. */
#ifndef GUST_STORE_INT_H
#define GUST_STORE_INT_H

#include <libpq-fe.h>

#include "store.h"

/* Run one statement with n text parameters (NULL = SQL NULL). Returns the result (caller
 * PQclears) when it succeeded, else NULL with e set (ERR_DB, temporary when retrying may
 * help). */
PGresult *store_exec(struct store *s, struct err *e, const char *sql, int n,
                     const char *const *params);

/* store_exec for a statement whose result is not needed: 0 / -1. */
int store_exec_cmd(struct store *s, struct err *e, const char *sql, int n,
                   const char *const *params);

/* Roll back the open transaction, ignoring errors (the caller already has one to report). */
void store_rollback(struct store *s);

/* Write one audit `log` row (store_kv.c); dttm = now, or the server's clock when now is 0. */
int store_log_row(struct store *s, const char *event, const char *dag_id, const char *task_id,
                  const char *run_id, const char *owner, const char *extra, time_t now,
                  struct err *e);

#endif

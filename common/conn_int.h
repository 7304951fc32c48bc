/* conn_int: what conn.c and conn_form.c share; nothing else includes it. */
#ifndef GUST_CONN_INT_H
#define GUST_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* A growing string; on allocation failure oom is set and later adds are dropped. */
struct connp_sb {
    char *p;
    size_t len, cap;
    bool oom;
};

/* Append n bytes / a C string (kept NUL-terminated). */
void connp_sb_addn(struct connp_sb *b, const char *s, size_t n);
void connp_sb_add(struct connp_sb *b, const char *s);

/* Take the buffer: "" when empty, NULL when memory ran out (the buffer is freed then). */
char *connp_sb_take(struct connp_sb *b);

/* Wipe and free a string that may hold a secret (NULL ok). */
void connp_free_secret(char *s);

/* e = "out of memory". Always -1. */
int connp_oom(struct err *e);

/* 0 when extra is the text of a JSON object, as Airflow's _validate_extra; else ERR_PARSE
 * naming conn_id. */
int connp_validate_extra(const char *conn_id, const char *extra, struct err *e);

#endif

/* err: the one error convention of gust (docs/architecture.md, "Rules").
 *
 * Functions return 0 / -1 (or a pointer / NULL) and fill an optional, caller-owned
 * struct err saying what went wrong and where. Library modules never print and never
 * exit; the caller decides. Each layer may prepend its context once with err_prefix(). */
#ifndef GUST_ERR_H
#define GUST_ERR_H

#include <stdbool.h>

enum err_code {
    ERR_OK = 0,
    ERR_FAIL = 1,     /* generic failure */
    ERR_USAGE = 2,    /* bad command line */
    ERR_PARSE = 3,    /* bad input file or text */
    ERR_IO = 4,       /* file system or network */
    ERR_DB = 5,       /* database */
    ERR_NOTFOUND = 6, /* a named thing does not exist */
    ERR_VERSION = 7,  /* schema or format version mismatch */
    ERR_EXISTS = 8,   /* a named thing already exists */
};

struct err {
    enum err_code code;
    bool temporary; /* retrying later may succeed (connection refused, timeout) */
    char msg[256];
};

/* Set e (if not NULL) to code and a printf-style message; one too long for msg loses its
 * middle ("..."), never its end. Always returns -1. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to e->msg (if e is not NULL). When both do not fit, the context is cut
 * in its middle first, so the reason at the end of e->msg survives. Always returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset e to "no error". */
void err_clear(struct err *e);

#endif

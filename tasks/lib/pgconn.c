/* pgconn: small libpq helpers for task executables (see pgconn.h).
 *
 * The only file under tasks/ that includes libpq (through common/pq.h, which connects and
 * classifies errors for both programs; docs/architecture.md, "Rules"): libpq types never leave it.
 * Every statement carrying a value goes through PQexecParams; COPY data is escaped by the row
 * builder, never pasted into SQL. Key invariants: no message leaving this module holds a password
 * (connection errors are scrubbed of what conninfo and PGPASSWORD contain), libpq never prints (the
 * notice processor is silenced), and an error's `temporary` flag means "the database could not be
 * reached or the connection broke", never "the SQL was wrong".
 *
 * Connecting, error classification and password masking are common/pq.c and common/conninfo.c,
 * shared with the scheduler's store. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "pgconn.h"
#include "pq.h"

struct pgconn {
    PGconn *conn;
    char where[200]; /* host=... port=... dbname=... user=... */
};

struct pgconn_rows {
    PGresult *res;
};

struct pgconn_row {
    char *buf;  /* values separated by tabs, then "\n" once there is a value */
    size_t len; /* bytes used, without the NUL kept after them */
    size_t cap; /* bytes allocated */
    int nvalues;
};

/* ---- connection ------------------------------------------------------------------- */

/* The conninfo pgconn_target made and the connection it names, for pgconn_open's errors. */
static struct {
    char *conninfo;
    char label[300];
} target;

int
pgconn_target(const char **url, const char *conn_id, struct err *e)
{
    struct conn c = {0};
    int rc = -1;

    if (conn_id == NULL || *conn_id == '\0')
        return 0;
    if (conn_lookup_default(conn_id, &c, e) < 0) {
        if (e->code == ERR_NOTFOUND)
            e->code = ERR_USAGE; /* a task's configuration error: permanent, exit 100 */
        return -1;
    }
    free(target.conninfo);
    target.conninfo = NULL;
    if (conn_pg_conninfo(&c, NULL, &target.conninfo, e) == 0) {
        conn_describe(&c, target.label, sizeof(target.label));
        *url = target.conninfo;
        rc = 0;
    } else {
        rc = -1;
    }
    conn_clear(&c);
    return rc;
}

struct pgconn *
pgconn_open(const char *conninfo, struct err *e)
{
    struct pgconn *c;

    if (conninfo == NULL || *conninfo == '\0')
        conninfo = getenv("GUST_DATABASE_URL");
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        err_set(e, ERR_FAIL, "connect: out of memory");
        return NULL;
    }
    /* Task data is UTF-8 (JSON from Kafka), whatever the server's encoding. */
    if ((c->conn = pq_connect(conninfo, "gust-task", true, c->where, sizeof(c->where), e)) ==
        NULL) {
        if (target.conninfo && conninfo && strcmp(conninfo, target.conninfo) == 0)
            err_prefix(e, "connection %s", target.label);
        pgconn_free(c);
        return NULL;
    }
    return c;
}

void
pgconn_free(struct pgconn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->conn);
    free(c);
}

const char *
pgconn_where(const struct pgconn *c)
{
    return c ? c->where : "";
}

bool
pgconn_lost(const struct pgconn *c)
{
    return c == NULL || c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK;
}

/* ---- statements -------------------------------------------------------------------- */

/* Set e from a failed result (or the connection when res is NULL). Returns -1. */
static int
db_error(const struct pgconn *c, const PGresult *res, struct err *e)
{
    return pq_error(c->conn, res, e);
}

/* Run one statement; the result (caller PQclears) when it succeeded, else NULL with e set. */
static PGresult *
run(struct pgconn *c, const char *sql, int n, const char *const *params, struct err *e)
{
    PGresult *res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    db_error(c, res, e);
    PQclear(res);
    return NULL;
}

int
pgconn_exec(struct pgconn *c, const char *sql, int n, const char *const *params,
            long long *affected, struct err *e)
{
    PGresult *res = run(c, sql, n, params, e);

    if (res == NULL)
        return -1;
    if (affected)
        *affected = strtoll(PQcmdTuples(res), NULL, 10); /* "" (no count) -> 0 */
    PQclear(res);
    return 0;
}

int
pgconn_query(struct pgconn *c, const char *sql, int n, const char *const *params,
             struct pgconn_rows **out, struct err *e)
{
    struct pgconn_rows *r;
    PGresult *res;

    *out = NULL;
    if ((res = run(c, sql, n, params, e)) == NULL)
        return -1;
    if ((r = malloc(sizeof(*r))) == NULL) {
        PQclear(res);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    r->res = res;
    *out = r;
    return 0;
}

int
pgconn_rows_count(const struct pgconn_rows *r)
{
    return r ? PQntuples(r->res) : 0;
}

const char *
pgconn_rows_value(const struct pgconn_rows *r, int row, int col)
{
    if (r == NULL || row < 0 || col < 0 || row >= PQntuples(r->res) || col >= PQnfields(r->res))
        return NULL;
    return PQgetisnull(r->res, row, col) ? NULL : PQgetvalue(r->res, row, col);
}

void
pgconn_rows_free(struct pgconn_rows *r)
{
    if (r == NULL)
        return;
    PQclear(r->res);
    free(r);
}

int
pgconn_begin(struct pgconn *c, struct err *e)
{
    return pgconn_exec(c, "BEGIN", 0, NULL, NULL, e);
}

int
pgconn_commit(struct pgconn *c, struct err *e)
{
    PGresult *res = run(c, "COMMIT", 0, NULL, e);

    if (res == NULL)
        return -1;
    /* COMMIT of a transaction that failed earlier "succeeds" as ROLLBACK: say so. */
    int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    return rolled_back ? err_set(e, ERR_DB, "commit: the transaction was rolled back") : 0;
}

int
pgconn_rollback(struct pgconn *c, struct err *e)
{
    return pgconn_exec(c, "ROLLBACK", 0, NULL, NULL, e);
}

/* ---- COPY FROM STDIN ------------------------------------------------------------- */

int
pgconn_copy_begin(struct pgconn *c, const char *sql, struct err *e)
{
    /* COPY takes no parameters; sql is the caller's fixed text (table and column names). */
    PGresult *res = PQexec(c->conn, sql);
    int rc = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN)
        rc = db_error(c, res, e);
    PQclear(res);
    return rc;
}

int
pgconn_copy_row(struct pgconn *c, const struct pgconn_row *row, struct err *e)
{
    if (row->nvalues == 0)
        return err_set(e, ERR_USAGE, "copy: empty row");
    if (PQputCopyData(c->conn, row->buf, (int)row->len) != 1)
        return db_error(c, NULL, e);
    return 0;
}

int
pgconn_copy_data(struct pgconn *c, const char *data, size_t len, struct err *e)
{
    if (len > INT32_MAX)
        return err_set(e, ERR_USAGE, "copy: %zu bytes at once is too many", len);
    if (len > 0 && PQputCopyData(c->conn, data, (int)len) != 1)
        return db_error(c, NULL, e);
    return 0;
}

/* Collect the results that follow the end of a copy; the last error wins. */
static int
copy_results(struct pgconn *c, long long *rows, struct err *e)
{
    PGresult *res;
    int rc = 0;

    while ((res = PQgetResult(c->conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            if (rows)
                *rows = strtoll(PQcmdTuples(res), NULL, 10);
        } else {
            rc = db_error(c, res, e);
        }
        PQclear(res);
        if (pgconn_lost(c)) /* PQgetResult may keep answering errors on a dead socket */
            return db_error(c, NULL, e);
    }
    return rc;
}

int
pgconn_copy_end(struct pgconn *c, long long *rows, struct err *e)
{
    if (rows)
        *rows = 0;
    if (PQputCopyEnd(c->conn, NULL) != 1)
        return db_error(c, NULL, e);
    return copy_results(c, rows, e);
}

/* ---- the COPY row builder ------------------------------------------------------- */

struct pgconn_row *
pgconn_row_new(void)
{
    return calloc(1, sizeof(struct pgconn_row));
}

void
pgconn_row_free(struct pgconn_row *row)
{
    if (row == NULL)
        return;
    free(row->buf);
    free(row);
}

void
pgconn_row_reset(struct pgconn_row *row)
{
    row->len = 0;
    row->nvalues = 0;
    if (row->buf)
        row->buf[0] = '\0';
}

/* Make room for extra more bytes plus a NUL. */
static int
row_reserve(struct pgconn_row *row, size_t extra, struct err *e)
{
    size_t need = row->len + extra + 1, cap = row->cap ? row->cap : 256;
    char *p;

    if (need <= row->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if ((p = realloc(row->buf, cap)) == NULL)
        return err_set(e, ERR_FAIL, "copy row: out of memory");
    row->buf = p;
    row->cap = cap;
    return 0;
}

/* The escape letter of each byte COPY text format must not see raw, 1 for NUL (text cannot
 * hold it), or 0. A table: this runs for every byte a loader sends. */
static const char escape_of[256] = {
    ['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', ['\0'] = 1};

/* False when none of the 8 bytes at p is in escape_of, tested at once: x has a zero byte
 * exactly when (x - 0x01..01) & ~x & 0x80..80 is not 0, and x ^ (0x01..01 * c) has one where
 * x holds c. */
static bool
special8(const char *p)
{
    static const unsigned char specials[] = {'\\', '\t', '\n', '\r', '\0'};
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t x, found = 0;

    memcpy(&x, p, sizeof(x));
    for (size_t i = 0; i < sizeof(specials); i++) {
        uint64_t y = x ^ (ones * specials[i]);
        found |= (y - ones) & ~y;
    }
    return (found & high) != 0;
}

/* value's len bytes at out with COPY text escapes, 8 plain bytes at a time where it can;
 * returns the end, or NULL when value holds a NUL byte. */
static char *
escape_into(char *out, const char *value, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (len - i >= 8 && !special8(value + i)) {
            memcpy(out, value + i, 8);
            out += 8;
            i += 8;
            continue;
        }
        char esc = escape_of[(unsigned char)value[i]];
        if (esc == 1)
            return NULL;
        if (esc != 0)
            *out++ = '\\';
        *out++ = esc ? esc : value[i];
        i++;
    }
    return out;
}

int
pgconn_row_addn(struct pgconn_row *row, const char *value, size_t len, struct err *e)
{
    /* Worst case every byte doubles; plus the separator before and "\n" after. */
    size_t worst = (value ? 2 * len : 2) + 2;
    char *out;

    if (row_reserve(row, worst, e) < 0)
        return -1;
    /* The value goes after the row's "\n", which becomes the separator once it is in. */
    out = row->buf + row->len;
    if (value == NULL) {
        memcpy(out, "\\N", 2);
        out += 2;
    } else if ((out = escape_into(out, value, len)) == NULL) {
        row->buf[row->len] = '\0'; /* the row as it was */
        return err_set(e, ERR_PARSE, "copy row: value %d holds a NUL byte", row->nvalues + 1);
    }
    if (row->nvalues > 0)
        row->buf[row->len - 1] = '\t';
    *out++ = '\n';
    *out = '\0';
    row->len = (size_t)(out - row->buf);
    row->nvalues++;
    return 0;
}

int
pgconn_row_add(struct pgconn_row *row, const char *value, struct err *e)
{
    return pgconn_row_addn(row, value, value ? strlen(value) : 0, e);
}

int
pgconn_row_addf(struct pgconn_row *row, struct err *e, const char *fmt, ...)
{
    char small[64], *big = NULL;
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return err_set(e, ERR_FAIL, "copy row: bad format");
    if ((size_t)n >= sizeof(small)) {
        if ((big = malloc((size_t)n + 1)) == NULL)
            return err_set(e, ERR_FAIL, "copy row: out of memory");
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    rc = pgconn_row_addn(row, big ? big : small, (size_t)n, e);
    free(big);
    return rc;
}

const char *
pgconn_row_text(const struct pgconn_row *row, size_t *len)
{
    if (len)
        *len = row->len;
    return row->buf ? row->buf : "";
}

/* sqldb: Airflow connections, cancellable statements and typed results for sql_task (see
 * sqldb.h).
 *
 * With tasks/lib/pgconn.c, the only tasks file that includes libpq. Statements are sent with
 * PQsendQuery/PQsendQueryParams and waited for with ppoll() on the connection's socket, the
 * stop signals blocked except inside ppoll: a SIGTERM arriving at any moment either is seen
 * before the wait or interrupts it, and then PQcancel asks the server to stop the
 * statement, so a killed task leaves no query running (a backend does not notice a vanished
 * client while it computes). Key invariant: no message holds the connection's password
 * (conn_describe names the connection, pq_connect scrubs libpq's messages). */
#include "sqldb.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "conn.h"
#include "pq.h"
#include "task.h"

/* PostgreSQL type OIDs (pg_type.h's values, stable across versions). */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_OID = 26,
    OID_NAME = 19,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

/* After a cancel request, how long to wait for the server to answer before giving up. */
#define CANCEL_WAIT_SECONDS 10

struct sqldb {
    PGconn *conn;
    void (*progress)(double, void *);
    void *progress_arg;
    double progress_every;
    char describe[600];
};

struct sqlres {
    PGresult *res;
};

/* ---- connecting ------------------------------------------------------------------------- */

struct sqldb *
sqldb_open(const char *conn_id, const char *database, struct err *e)
{
    struct conn c = {0};
    struct sqldb *db = calloc(1, sizeof(*db));
    char *conninfo = NULL, where[300];

    if (db == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    if (conn_lookup_default(conn_id, &c, e) < 0 ||
        conn_pg_conninfo(&c, database, &conninfo, e) < 0) {
        if (!e->temporary)
            e->code = ERR_USAGE; /* missing, malformed, not postgres: permanent */
        goto fail;
    }
    conn_describe(&c, where, sizeof(where));
    snprintf(db->describe, sizeof(db->describe), "%s%s%s", where,
             database && *database ? " database " : "", database && *database ? database : "");
    db->conn = pq_connect(conninfo, "gust-sql-task", true, where, sizeof(where), e);
    if (db->conn == NULL) {
        err_prefix(e, "connection %s", db->describe);
        goto fail;
    }
    free(conninfo);
    conn_clear(&c);
    return db;
fail:
    if (conninfo)
        memset(conninfo, 0, strlen(conninfo));
    free(conninfo);
    conn_clear(&c);
    sqldb_free(db);
    return NULL;
}

void
sqldb_free(struct sqldb *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

const char *
sqldb_describe(const struct sqldb *db)
{
    return db ? db->describe : "";
}

bool
sqldb_lost(const struct sqldb *db)
{
    return db == NULL || db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK;
}

/* ---- waiting, cancelling ---------------------------------------------------------------- */

/* Ask the server to cancel the running statement. */
static void
cancel(struct sqldb *db)
{
    char errbuf[256];
    PGcancel *c = PQgetCancel(db->conn);

    if (c != NULL) {
        (void)PQcancel(c, errbuf, sizeof(errbuf));
        PQfreeCancel(c);
    }
}

/* Wait until libpq has a whole result, cancelling the statement once a stop signal came.
 * 0 when a result is ready, -1 when the connection broke. *cancelled tells whether it was
 * asked to stop. */
void
sqldb_set_progress(struct sqldb *db, void (*fn)(double, void *), void *arg, double interval)
{
    db->progress = fn;
    db->progress_arg = arg;
    db->progress_every = interval > 0 ? interval : 30;
}

static int
wait_ready(struct sqldb *db, bool *cancelled)
{
    sigset_t stop, old;
    double give_up = 0, start = clock_mono(), next = start + db->progress_every;

    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    while (PQisBusy(db->conn)) {
        struct pollfd p = {.fd = PQsocket(db->conn), .events = POLLIN};
        struct timespec tick = {.tv_sec = 1};

        sigprocmask(SIG_BLOCK, &stop, &old);
        if (task_stopping() && !*cancelled) {
            *cancelled = true;
            cancel(db);
            give_up = clock_mono() + CANCEL_WAIT_SECONDS;
        }
        sigset_t during = old;
        sigdelset(&during, SIGTERM);
        sigdelset(&during, SIGINT);
        int rc = ppoll(&p, 1, &tick, &during);
        int saved = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (rc < 0 && saved != EINTR)
            return -1;
        if (rc > 0 && !PQconsumeInput(db->conn))
            return -1;
        if (*cancelled && clock_mono() > give_up)
            return -1;
        if (db->progress && !*cancelled && clock_mono() >= next) {
            db->progress(clock_mono() - start, db->progress_arg);
            next += db->progress_every;
        }
    }
    return 0;
}

/* Collect every result of the statement(s) sent: the last one, or the first error. */
static PGresult *
collect(struct sqldb *db, bool *cancelled, struct err *e)
{
    PGresult *last = NULL, *failed = NULL, *r;

    for (;;) {
        if (wait_ready(db, cancelled) < 0) {
            PQclear(last);
            PQclear(failed);
            pq_error(db->conn, NULL, e);
            return NULL;
        }
        if ((r = PQgetResult(db->conn)) == NULL)
            break;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
            PQclear(last);
            last = r;
        } else if (failed == NULL) {
            failed = r;
        } else {
            PQclear(r);
        }
    }
    if (failed != NULL) {
        pq_error(db->conn, failed, e);
        PQclear(failed);
        PQclear(last);
        return NULL;
    }
    if (last == NULL)
        err_set(e, ERR_DB, "no result");
    return last;
}

static unsigned int
ptype_oid(enum sql_ptype t)
{
    switch (t) {
    case SQLP_INT4:
        return OID_INT4;
    case SQLP_INT8:
        return OID_INT8;
    case SQLP_NUMERIC:
        return OID_NUMERIC;
    case SQLP_BOOL:
        return OID_BOOL;
    default:
        return 0;
    }
}

int
sqldb_run(struct sqldb *db, const char *sql, bool simple, size_t n, const char *const *values,
          const enum sql_ptype *types, struct sqlres **out, struct err *e)
{
    Oid oids[n ? n : 1];
    bool cancelled = false;
    int sent;
    PGresult *res;

    if (out)
        *out = NULL;
    for (size_t i = 0; i < n; i++)
        oids[i] = types ? ptype_oid(types[i]) : 0;
    if (simple && n == 0)
        sent = PQsendQuery(db->conn, sql);
    else
        sent = PQsendQueryParams(db->conn, sql, (int)n, oids, values, NULL, NULL, 0);
    if (!sent)
        return pq_error(db->conn, NULL, e);
    res = collect(db, &cancelled, e);
    if (cancelled) {
        PQclear(res);
        err_set(e, ERR_FAIL, "stopped by signal %d: the statement was cancelled on the server%s",
                task_stop_signal(),
                PQstatus(db->conn) == CONNECTION_OK ? "" : " (connection lost)");
        return -1;
    }
    if (res == NULL)
        return -1;
    if (out == NULL) {
        PQclear(res);
        return 0;
    }
    if ((*out = malloc(sizeof(**out))) == NULL) {
        PQclear(res);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    (*out)->res = res;
    return 0;
}

int
sqldb_set_timeout(struct sqldb *db, double seconds, struct err *e)
{
    char ms[32];
    const char *v[1] = {ms};

    snprintf(ms, sizeof(ms), "%.0f", seconds > 0 ? fmax(1, ceil(seconds * 1000)) : 0);
    if (sqldb_run(db, "SELECT set_config('statement_timeout', $1, false)", false, 1, v, NULL, NULL,
                  e) < 0)
        return err_prefix(e, "set statement_timeout");
    return 0;
}

int
sqldb_begin(struct sqldb *db, struct err *e)
{
    return sqldb_run(db, "BEGIN", false, 0, NULL, NULL, NULL, e) < 0 ? err_prefix(e, "begin") : 0;
}

int
sqldb_commit(struct sqldb *db, struct err *e)
{
    struct sqlres *r = NULL;

    if (sqldb_run(db, "COMMIT", false, 0, NULL, NULL, &r, e) < 0)
        return err_prefix(e, "commit");
    bool rolled_back = strcmp(PQcmdStatus(r->res), "ROLLBACK") == 0;
    sqlres_free(r);
    return rolled_back ? err_set(e, ERR_DB, "commit: the transaction was rolled back") : 0;
}

int
sqldb_rollback(struct sqldb *db, struct err *e)
{
    return sqldb_run(db, "ROLLBACK", false, 0, NULL, NULL, NULL, e);
}

/* ---- results ---------------------------------------------------------------------------- */

bool
sqlres_has_rows(const struct sqlres *r)
{
    return r && PQresultStatus(r->res) == PGRES_TUPLES_OK;
}

size_t
sqlres_nrows(const struct sqlres *r)
{
    return r ? (size_t)PQntuples(r->res) : 0;
}

size_t
sqlres_ncols(const struct sqlres *r)
{
    return r ? (size_t)PQnfields(r->res) : 0;
}

long long
sqlres_affected(const struct sqlres *r)
{
    const char *t = r ? PQcmdTuples(r->res) : "";
    return *t ? strtoll(t, NULL, 10) : -1;
}

static enum sqlval_kind
kind_of(Oid type)
{
    switch (type) {
    case OID_BOOL:
        return SQLV_BOOL;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return SQLV_INT;
    case OID_FLOAT4:
    case OID_FLOAT8:
        return SQLV_FLOAT;
    case OID_NUMERIC:
        return SQLV_NUMERIC;
    case OID_TEXT:
    case OID_NAME:
    case OID_BPCHAR:
    case OID_VARCHAR:
        return SQLV_TEXT;
    case OID_JSON:
    case OID_JSONB:
        return SQLV_JSON;
    default:
        return SQLV_OTHER;
    }
}

struct sqlval
sqlres_value(const struct sqlres *r, size_t row, size_t col)
{
    struct sqlval v = {SQLV_NULL, NULL};

    if (r == NULL || row >= sqlres_nrows(r) || col >= sqlres_ncols(r) ||
        PQgetisnull(r->res, (int)row, (int)col))
        return v;
    v.kind = kind_of(PQftype(r->res, (int)col));
    v.text = PQgetvalue(r->res, (int)row, (int)col);
    return v;
}

const char *
sqlres_colname(const struct sqlres *r, size_t col)
{
    return r && col < sqlres_ncols(r) ? PQfname(r->res, (int)col) : "";
}

void
sqlres_free(struct sqlres *r)
{
    if (r == NULL)
        return;
    PQclear(r->res);
    free(r);
}

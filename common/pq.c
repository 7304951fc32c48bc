/* pq: connect to PostgreSQL and classify its errors, for the scheduler's store and the tasks'
 * pgconn (see pq.h).
 *
 * Key invariants: no message made here holds a password (conninfo is masked, libpq's
 * messages are scrubbed of what conninfo and PGPASSWORD contain), libpq never prints (the
 * notice processor is silenced), and `temporary` means "the database could not be reached or
 * the connection broke", never "the SQL was wrong". */
#include "pq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"

static void
quiet_notice(void *arg, const char *message)
{
    (void)arg, (void)message; /* library code never prints; NOTICEs are not errors */
}

/* libpq's message up to its first line break, tabs folded. */
static void
first_line(char *dst, size_t size, const char *msg)
{
    size_t n = msg ? strcspn(msg, "\n") : 0;

    snprintf(dst, size, "%.*s", (int)n, msg ? msg : "");
    for (char *p = dst; *p; p++)
        if (*p == '\t')
            *p = ' ';
}

bool
pq_is_temporary(const char *sqlstate, const char *msg)
{
    static const char *const transient[] = {
        "Connection refused",
        "timeout expired",
        "timed out",
        "No such file",
        "Network is unreachable",
        "No route to host",
        "could not translate",
        "starting up",
        "shutting down",
        "in recovery mode",
        "too many clients",
        "server closed the connection",
        "Connection reset",
        "could not receive data",
        "could not send data",
    };

    if (sqlstate != NULL) /* the server's own verdict; its text may mention anything */
        return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P0", 4) == 0 ||
               strcmp(sqlstate, "53300") == 0;
    for (size_t i = 0; msg && i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strstr(msg, transient[i]))
            return true;
    return false;
}

/* Name the server for messages; when libpq could not even parse conninfo, show it masked. */
static void
describe(const PGconn *c, const char *conninfo, char *buf, size_t size)
{
    const char *host = c ? PQhost(c) : NULL, *port = c ? PQport(c) : NULL;
    const char *db = c ? PQdb(c) : NULL, *user = c ? PQuser(c) : NULL;
    char masked[160];

    if ((host == NULL || *host == '\0') && (db == NULL || *db == '\0')) {
        conninfo_mask(conninfo, masked, sizeof(masked));
        snprintf(buf, size, "'%s'", masked);
        return;
    }
    snprintf(buf, size, "host=%s port=%s dbname=%s user=%s", host && *host ? host : "?",
             port && *port ? port : "?", db && *db ? db : "?", user && *user ? user : "?");
}

PGconn *
pq_connect(const char *conninfo, const char *app, bool utf8, char *where, size_t size,
           struct err *e)
{
    /* Our defaults first: a value in conninfo (or the PG* variable) wins over them. */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                          "dbname", NULL};
    const char *vals[] = {getenv("PGCONNECT_TIMEOUT") ? NULL : "10", app,
                          utf8 && !getenv("PGCLIENTENCODING") ? "UTF8" : NULL,
                          conninfo && *conninfo ? conninfo : NULL, NULL};
    char reason[200], msg[512]; /* err_set truncates to what struct err holds */
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    describe(c, conninfo, where, size);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, quiet_notice, NULL);
        return c;
    }
    first_line(reason, sizeof(reason), c ? PQerrorMessage(c) : "out of memory");
    snprintf(msg, sizeof(msg), "connect to %s: %s", where, reason);
    conninfo_scrub(msg, sizeof(msg), conninfo);
    err_set(e, ERR_DB, "%s", msg);
    if (e)
        e->temporary = pq_is_temporary(NULL, reason);
    PQfinish(c);
    return NULL;
}

/* A COPY's error says where in the data it happened ("COPY t, line 3: <the line>" in its
 * context): append "at COPY t, line 3" to line, the data left out (it may be long or secret). */
static void
copy_where(char *line, size_t n, const PGresult *res)
{
    const char *ctx = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
    size_t len = strlen(line);

    if (ctx == NULL || strncmp(ctx, "COPY ", 5) != 0)
        return;
    snprintf(line + len, n - len, " at %.*s", (int)strcspn(ctx, ":\n"), ctx);
}

int
pq_error(const PGconn *c, const PGresult *res, struct err *e)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char line[sizeof(e->msg)];

    first_line(line, sizeof(line), primary ? primary : PQerrorMessage(c));
    if (primary == NULL && strncmp(line, "FATAL:  ", 8) == 0) /* a server message, unparsed */
        memmove(line, line + 8, strlen(line + 8) + 1);
    if (line[0] == '\0')
        snprintf(line, sizeof(line), "unknown error");
    copy_where(line, sizeof(line), res);
    if (state)
        err_set(e, ERR_DB, "%s (SQLSTATE %s)", line, state);
    else
        err_set(e, ERR_DB, "%s", line);
    if (e)
        e->temporary = c == NULL || PQstatus(c) != CONNECTION_OK || pq_is_temporary(state, line);
    return -1;
}

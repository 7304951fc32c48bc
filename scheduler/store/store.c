/* store: gust's metadata in PostgreSQL: connection, schema migrations, DAG registry.
 *
 * With store_int.h, the only scheduler code that includes libpq (through common/pq.h, which
 * connects and classifies errors for both programs; docs/architecture.md, "Rules"). Every statement
 * that carries a value goes through PQexecParams with $n parameters; the only SQL sent as plain
 * text is fixed text (BEGIN, COMMIT, the embedded migrations). Key invariants: no message leaving
 * this module contains a password (conninfo and libpq errors are scrubbed), libpq never prints (the
 * notice processor is silenced), and every transaction opened here is committed or rolled back
 * before the function returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "conninfo.h"
#include "log.h"
#include "pq.h"
#include "store/store.h"
#include "store_int.h"
#include "timetable/timetable.h"

/* Serializes `gust db migrate` runs (pg_advisory_xact_lock key; any fixed number). */
#define MIGRATE_LOCK_KEY "7250351642911863091"

/* struct store is in store_int.h (store_sched.c reconnects and listens on it). */

/* ---- passwords out of messages (conninfo.c) ---------------------------------------- */

void
store_mask_conninfo(const char *conninfo, char *buf, size_t size)
{
    conninfo_mask(conninfo, buf, size);
}

/* ---- connection ------------------------------------------------------------------- */

/* The server process behind s->conn, into s->backend_pid. */
int
store_read_backend_pid(struct store *s, struct err *e)
{
    PGresult *res = PQexec(s->conn, "SELECT pg_backend_pid()");
    int rc = 0;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        s->backend_pid = atoi(PQgetvalue(res, 0, 0));
    else
        rc = err_set(e, ERR_DB, "connect to %s: %s", s->where, PQerrorMessage(s->conn));
    PQclear(res);
    return rc;
}

/* gust keeps state in its database session: prepared statements and LISTEN. A connection
 * pooler that hands a session's server connection to other clients between transactions
 * (PgBouncer's pool_mode=transaction or statement) loses it, so such a pooler is refused
 * here, at connect, rather than failing later on a statement or missing notifications.
 *
 * A pooler shows itself by a backend pid (libpq's, from the pooler) that is not the server's.
 * Then a second connection opens a transaction: in session pooling it can never get our
 * server process (we hold it); in transaction pooling it gets the one we just released (the
 * pooler reuses the most recent server connection first, PgBouncer's default). */
static int
session_check(struct store *s, const char *conninfo, struct err *e)
{
    char where[200];
    struct store probe = {0};
    PGresult *res;
    int shared;

    if (store_read_backend_pid(s, e) < 0)
        return -1;
    if (s->backend_pid == PQbackendPID(s->conn))
        return 0; /* PostgreSQL itself */
    log_debug("connected to %s through a connection pooler (server process %d)", s->where,
              s->backend_pid);
    if ((probe.conn = pq_connect(conninfo, "gust", false, where, sizeof(where), e)) == NULL)
        return err_prefix(e, "check the pooler's mode");
    res = PQexec(probe.conn, "BEGIN");
    PQclear(res);
    shared = store_read_backend_pid(&probe, e) == 0 && probe.backend_pid == s->backend_pid;
    PQfinish(probe.conn);
    if (shared)
        return err_set(e, ERR_USAGE,
                       "connect to %s: a connection pooler gave two connections the same server "
                       "session (PgBouncer's pool_mode=transaction or statement): gust keeps "
                       "prepared statements and LISTEN in its session; use pool_mode=session "
                       "for gust's database user, or connect to PostgreSQL directly",
                       s->where);
    return 0;
}

struct store *
store_open(const char *conninfo, struct err *e)
{
    struct store *s;

    if (conninfo == NULL)
        conninfo = getenv("GUST_DATABASE_URL");
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        err_set(e, ERR_FAIL, "connect: out of memory");
        return NULL;
    }
    if ((s->conn = pq_connect(conninfo, "gust", false, s->where, sizeof(s->where), e)) == NULL ||
        session_check(s, conninfo, e) < 0) {
        store_free(s);
        return NULL;
    }
    return s;
}

void
store_free(struct store *s)
{
    if (s == NULL)
        return;
    store_forget_prepared(s);
    PQfinish(s->conn);
    free(s);
}

const char *
store_where(const struct store *s)
{
    return s ? s->where : "";
}

/* ---- statements -------------------------------------------------------------------- */

/* Set e from a failed result (or the connection when res is NULL). */
static int
db_error(struct store *s, const PGresult *res, struct err *e)
{
    return pq_error(s->conn, res, e);
}

/* Prepared statements. Every statement with parameters is prepared once per session, under
 * the name "g<index>", and executed by name afterwards: PostgreSQL then parses and plans it
 * once, not at every call (parse and plan were more than half of a short statement's time,
 * see bench/README.md). The SQL texts are the store's fixed statements, so the list stays
 * short (a few dozen); a failed PQprepare (say, inside an aborted transaction) is not kept and
 * the statement goes through PQexecParams, which reports the error. */
struct prepared {
    char *sql;
};

#define MAX_PREPARED 256

void
store_forget_prepared(struct store *s)
{
    for (size_t i = 0; i < s->n_prepared; i++)
        free(s->prepared[i].sql);
    free(s->prepared);
    s->prepared = NULL;
    s->n_prepared = 0;
}

/* The name of sql's prepared statement, preparing it now if needed; NULL: use PQexecParams. */
static const char *
prepared_name(struct store *s, const char *sql, int n, char *name, size_t size)
{
    size_t i;
    PGresult *res;
    struct prepared *grown;

    for (i = 0; i < s->n_prepared; i++)
        if (strcmp(s->prepared[i].sql, sql) == 0)
            break;
    snprintf(name, size, "g%zu", i);
    if (i < s->n_prepared)
        return name;
    if (s->n_prepared >= MAX_PREPARED ||
        (grown = realloc(s->prepared, (s->n_prepared + 1) * sizeof(*grown))) == NULL)
        return NULL;
    s->prepared = grown;
    res = PQprepare(s->conn, name, sql, n, NULL);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK ||
        (s->prepared[i].sql = strdup(sql)) == NULL) {
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    s->n_prepared++;
    return name;
}

/* Run one statement with n text parameters. Returns the result (caller PQclears) when it
 * succeeded, else NULL with e set. */
static PGresult *
run(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    char buf[16];
    const char *name;

    store_settle(s);
    name = n > 0 ? prepared_name(s, sql, n, buf, sizeof(buf)) : NULL;
    PGresult *res = name ? PQexecPrepared(s->conn, name, n, params, NULL, NULL, 0)
                         : PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    db_error(s, res, e);
    PQclear(res);
    return NULL;
}

/* Run a statement whose result is not needed. */
static int
run_cmd(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    PGresult *res = run(s, e, sql, n, params);

    PQclear(res);
    return res ? 0 : -1;
}

static void
rollback(struct store *s)
{
    store_settle(s);
    PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* ---- lazy commits (store_int.h) ----------------------------------------------------- */

int
store_begin_lazy(struct store *s, struct err *e)
{
    PGresult *res;
    int rc = 0;

    store_settle(s);
    /* the simple protocol carries both statements in one message: one round trip */
    res = PQexec(s->conn, "BEGIN; SET LOCAL synchronous_commit TO off");

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = db_error(s, res, e);
        if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
            rollback(s);
    }
    PQclear(res);
    return rc;
}

/* Send one statement in pipeline mode: prepared (name) or with its text. */
static int
send_one(struct store *s, const char *name, const char *sql, int n, const char *const *params)
{
    return name ? PQsendQueryPrepared(s->conn, name, n, params, NULL, NULL, 0)
                : PQsendQueryParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* Send the setting and the statement, then a sync, in pipeline mode. 0, or -1 with e set and
 * the pipeline left. The statements of a pipeline up to its sync are one transaction (the
 * extended protocol commits at the sync), so set_config's local value holds for its commit,
 * with no BEGIN and COMMIT of their own (two statements a write instead of four). */
static int
send_lazy(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    char buf[16];
    const char *name = n > 0 ? prepared_name(s, sql, n, buf, sizeof(buf)) : NULL;

    if (PQenterPipelineMode(s->conn) != 1) /* not idle: a statement is still under way */
        return db_error(s, NULL, e);
    if (!send_one(s, NULL, "SELECT set_config('synchronous_commit', 'off', true)", 0, NULL) ||
        !send_one(s, name, sql, n, params) || !PQpipelineSync(s->conn)) {
        db_error(s, NULL, e);
        PQexitPipelineMode(s->conn); /* fails on a lost connection; PQreset leaves the mode */
        return -1;
    }
    return 0;
}

/* One result of a send_lazy pipeline into l (r NULL: the end of a statement's results).
 * Each statement's results end with NULL; after the first error the rest come back
 * PGRES_PIPELINE_ABORTED; the sync comes last. */
static void
lazy_take(struct store *s, struct lazy_read *l, PGresult *r, struct err *e)
{
    if (r == NULL) {
        l->q++;
        return;
    }
    switch (PQresultStatus(r)) {
    case PGRES_PIPELINE_SYNC:
        l->synced = true;
        break;
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        if (l->q == LAZY_SENT - 1 && l->res == NULL) { /* the statement's own, sent last */
            l->res = r;
            return;
        }
        break;
    case PGRES_PIPELINE_ABORTED:
        break;
    default:
        if (!l->failed)
            db_error(s, r, e);
        l->failed = true;
        break;
    }
    PQclear(r);
}

static bool
lazy_done(const struct lazy_read *l)
{
    return l->synced || l->q > LAZY_SENT;
}

/* The pipeline is read: leave pipeline mode; the statement's result (caller PQclears), or
 * NULL with e set (rolled back). */
static PGresult *
lazy_end(struct store *s, struct lazy_read *l, struct err *e)
{
    PGresult *res = l->res;

    if (!l->synced && !l->failed) {
        db_error(s, NULL, e); /* the connection went away mid-way */
        l->failed = true;
    }
    bool failed = l->failed;

    PQexitPipelineMode(s->conn);
    *l = (struct lazy_read){0};
    if (res != NULL && failed) {
        PQclear(res);
        res = NULL;
    }
    if (res == NULL && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        rollback(s);
    return res;
}

/* Read the results of send_lazy, waiting for them, and leave pipeline mode. */
static PGresult *
read_lazy(struct store *s, struct lazy_read *l, struct err *e)
{
    while (!lazy_done(l))
        lazy_take(s, l, PQgetResult(s->conn), e);
    return lazy_end(s, l, e);
}

/* A write sent ahead is read: a failure only logged (it was a hint: the pid of a try). */
static void
ahead_done(struct store *s, struct err *e)
{
    s->ahead = false;
    PQclear(lazy_end(s, &s->ahead_read, e));
    if (e->msg[0])
        log_debug("a write sent ahead failed: %s", e->msg);
}

void
store_settle(struct store *s)
{
    struct err e = {0};

    if (!s->ahead)
        return;
    while (!lazy_done(&s->ahead_read))
        lazy_take(s, &s->ahead_read, PQgetResult(s->conn), &e);
    ahead_done(s, &e);
}

bool
store_settle_ready(struct store *s)
{
    struct err e = {0};

    if (!s->ahead)
        return true;
    if (PQconsumeInput(s->conn) == 0) { /* lost: the blocking read ends at once */
        store_settle(s);
        return true;
    }
    while (!lazy_done(&s->ahead_read) && !PQisBusy(s->conn))
        lazy_take(s, &s->ahead_read, PQgetResult(s->conn), &e);
    if (!lazy_done(&s->ahead_read))
        return false;
    ahead_done(s, &e);
    return true;
}

PGresult *
store_exec_lazy(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    struct lazy_read l = {0};

    store_settle(s);
    return send_lazy(s, e, sql, n, params) == 0 ? read_lazy(s, &l, e) : NULL;
}

int
store_send_lazy(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    store_settle(s);
    if (send_lazy(s, e, sql, n, params) < 0)
        return -1;
    s->ahead = true;
    s->ahead_read = (struct lazy_read){0};
    return 0;
}

int
store_durable(struct store *s, struct err *e)
{
    struct pbuf b;
    const char *p[] = {p_int(&b, s->job_id)};
    PGresult *res;

    if (!s->unflushed || s->job_id <= 0)
        return 0;
    /* a synchronous commit of a transaction that wrote waits until the WAL up to its commit
     * record, the lazy commits before it included, is on disk */
    if ((res = run(s, e, "UPDATE job SET latest_heartbeat = now() WHERE id = $1::bigint", 1, p)) ==
        NULL)
        return err_prefix(e, "flush the ends of tries to disk");
    PQclear(res);
    s->unflushed = false;
    return 0;
}

/* The same for the other store_*.c files (store_int.h). */
PGresult *
store_exec(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    return run(s, e, sql, n, params);
}

int
store_exec_cmd(struct store *s, struct err *e, const char *sql, int n, const char *const *params)
{
    return run_cmd(s, e, sql, n, params);
}

void
store_rollback(struct store *s)
{
    rollback(s);
}

int
store_conn_error(struct store *s, struct err *e)
{
    return db_error(s, NULL, e);
}

/* ---- migrations --------------------------------------------------------------------- */

/* 1-based line and column of the 1-based character position pos in text (UTF-8). */
static void
line_col(const char *text, long pos, int *line, int *col)
{
    long chars = 0;

    *line = 1, *col = 1;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* UTF-8 continuation byte: same character */
        if (++chars >= pos)
            return;
        if (*p == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

/* Run one migration's text; on failure name the file, place and PostgreSQL's message. */
static int
apply_sql(struct store *s, const struct store_migration *m, struct err *e)
{
    PGresult *res = PQexec(s->conn, m->sql); /* fixed text from the binary: no values */
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    const char *pos;
    int line, col;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        PQclear(res);
        return 0;
    }
    db_error(s, res, e);
    pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
    if (pos) {
        line_col(m->sql, atol(pos), &line, &col);
        err_prefix(e, "migration %s:%d:%d", m->name, line, col);
    } else {
        err_prefix(e, "migration %s", m->name);
    }
    PQclear(res);
    return -1;
}

/* Inside a transaction: the highest recorded version (0 when none). */
static int
recorded_version(struct store *s, int *version, struct err *e)
{
    PGresult *res = run(s, e, "SELECT coalesce(max(version), 0) FROM gust_schema_version", 0, NULL);

    if (res == NULL)
        return -1;
    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int
newer_error(int db_version, int n, struct err *e)
{
    if (n == 0)
        return err_set(e, ERR_VERSION,
                       "database schema version %d is newer than this gust (knows none); "
                       "upgrade gust",
                       db_version);
    return err_set(e, ERR_VERSION,
                   "database schema version %d is newer than this gust (knows 1..%d); "
                   "upgrade gust",
                   db_version, n);
}

/* One step: under the lock, apply the next missing migration. Returns 1 when one was
 * applied, 0 when the schema is up to date, -1 on error (rolled back). */
static int
migrate_step(struct store *s, const struct store_migration *list, int n, struct err *e)
{
    const char *lock[] = {MIGRATE_LOCK_KEY};
    int version;
    char vbuf[16];

    if (run_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return -1;
    if (run_cmd(s, e, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock) != 0 ||
        run_cmd(s, e,
                "CREATE TABLE IF NOT EXISTS gust_schema_version (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL) != 0 ||
        recorded_version(s, &version, e) != 0)
        goto fail;
    if (version > n) {
        newer_error(version, n, e);
        goto fail;
    }
    if (version == n)
        return run_cmd(s, e, "COMMIT", 0, NULL);

    const struct store_migration *m = &list[version];
    snprintf(vbuf, sizeof(vbuf), "%d", m->version);
    const char *rec[] = {vbuf, m->name};
    if (apply_sql(s, m, e) != 0 ||
        run_cmd(s, e, "INSERT INTO gust_schema_version (version, name) VALUES ($1, $2)", 2, rec) !=
            0)
        goto fail;
    return run_cmd(s, e, "COMMIT", 0, NULL) == 0 ? 1 : -1;
fail:
    rollback(s);
    return -1;
}

int
store_migrate_list(struct store *s, const struct store_migration *list, int n, int *applied,
                   struct err *e)
{
    int count = 0, r;

    for (int i = 0; i < n; i++)
        if (list[i].version != i + 1)
            return err_set(e, ERR_FAIL, "migration %s: version %d, expected %d", list[i].name,
                           list[i].version, i + 1);
    while ((r = migrate_step(s, list, n, e)) == 1)
        count++;
    if (applied)
        *applied = count;
    return r < 0 ? -1 : 0;
}

int
store_migrate(struct store *s, int *applied, struct err *e)
{
    return store_migrate_list(s, store_migrations, store_n_migrations, applied, e);
}

int
store_schema_version(struct store *s, int *db_version, int *binary_version, struct err *e)
{
    PGresult *res = run(s, e, "SELECT to_regclass('gust_schema_version') IS NOT NULL", 0, NULL);
    int exists;

    if (binary_version)
        *binary_version = store_n_migrations;
    if (res == NULL)
        return -1;
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    *db_version = 0;
    if (exists) {
        res = run(s, e, "SELECT coalesce(max(version), 0) FROM gust_schema_version", 0, NULL);
        if (res == NULL)
            return -1;
        *db_version = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return 0;
}

/* ---- DAG registry ------------------------------------------------------------------- */

/* A growable string; on allocation failure it sets oom and stops growing. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        if ((p = realloc(b->p, cap)) == NULL) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Append s as one element of a PostgreSQL array literal: "...", with \ and " escaped.
 * (This is a parameter value, never SQL text.) */
static void
sb_array_elem(struct sbuf *b, const char *s)
{
    sb_add(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_add(b, "\\", 1);
        sb_add(b, s, 1);
    }
    sb_add(b, "\"", 1);
}

/* Whether diagnostic i is the first error of its file (so files are listed once). */
static bool
first_of_file(const struct dagbag *bag, size_t i, enum diag_level level)
{
    const struct dag_diag *d = &bag->diags[i];

    if (d->level != level || d->file == NULL)
        return false;
    for (size_t j = 0; j < i; j++)
        if (bag->diags[j].level == level && bag->diags[j].file &&
            strcmp(bag->diags[j].file, d->file) == 0)
            return false;
    return true;
}

static bool
first_error_of_file(const struct dagbag *bag, size_t i)
{
    return first_of_file(bag, i, DIAG_ERROR);
}

/* The array literals {dag ids of the bag} and {files with errors}. */
static int
bag_arrays(const struct dagbag *bag, struct sbuf *ids, struct sbuf *files, struct err *e)
{
    sb_str(ids, "{");
    for (size_t i = 0; i < bag->n_dags; i++)
        sb_array_elem(ids, bag->dags[i]->dag_id);
    sb_str(ids, "}");
    sb_str(files, "{");
    for (size_t i = 0; i < bag->n_diags; i++)
        if (first_error_of_file(bag, i))
            sb_array_elem(files, bag->diags[i].file);
    sb_str(files, "}");
    return ids->oom || files->oom ? err_set(e, ERR_FAIL, "out of memory") : 0;
}

static int
upsert_dag(struct store *s, const struct dag *d, const char *now, struct err *e)
{
    char runs[16], tasks[16], summary[256], descr[256];
    const char *p[] = {d->dag_id,
                       d->is_paused_upon_creation ? "t" : "f",
                       now,
                       d->fileloc,
                       d->owner ? d->owner : "airflow",
                       d->description,
                       d->schedule.kind == SCHED_NONE ? NULL : summary,
                       descr,
                       d->timezone ? d->timezone : "UTC",
                       tasks,
                       runs};

    timetable_summary(d, summary, sizeof(summary));
    timetable_describe(d, descr, sizeof(descr));
    snprintf(runs, sizeof(runs), "%d", d->max_active_runs);
    snprintf(tasks, sizeof(tasks), "%d", d->max_active_tasks);
    /* is_paused is only set on creation: pausing is the user's decision, not the file's. */
    return run_cmd(s, e,
                   "INSERT INTO dag (dag_id, is_paused, is_active, last_parsed_time, fileloc, "
                   "owners, description, schedule_interval, timetable_description, timezone, "
                   "max_active_tasks, max_active_runs) "
                   "VALUES ($1, $2, true, to_timestamp($3::double precision), $4, $5, $6, $7, $8, "
                   "$9, $10, $11) "
                   "ON CONFLICT (dag_id) DO UPDATE SET is_active = true, "
                   "last_parsed_time = EXCLUDED.last_parsed_time, fileloc = EXCLUDED.fileloc, "
                   "owners = EXCLUDED.owners, description = EXCLUDED.description, "
                   "schedule_interval = EXCLUDED.schedule_interval, "
                   "timetable_description = EXCLUDED.timetable_description, "
                   "timezone = EXCLUDED.timezone, max_active_tasks = EXCLUDED.max_active_tasks, "
                   "max_active_runs = EXCLUDED.max_active_runs",
                   11, p);
}

static int
replace_tags(struct store *s, const struct dag *d, struct err *e)
{
    const char *p[2] = {d->dag_id, NULL};

    if (run_cmd(s, e, "DELETE FROM dag_tag WHERE dag_id = $1", 1, p) != 0)
        return -1;
    for (size_t i = 0; i < d->n_tags; i++) {
        p[1] = d->tags[i];
        if (run_cmd(s, e,
                    "INSERT INTO dag_tag (dag_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2,
                    p) != 0)
            return -1;
    }
    return 0;
}

/* The stacktrace of one file: its diagnostics of one level, one "file:line:col: error: msg"
 * line each (the format of dag_diag_format). */
static void
file_diags(const struct dagbag *bag, const char *file, enum diag_level level, struct sbuf *b)
{
    const char *what = level == DIAG_ERROR ? "error" : "warning";
    char line[64];

    for (size_t i = 0; i < bag->n_diags; i++) {
        const struct dag_diag *d = &bag->diags[i];

        if (d->level != level || d->file == NULL || strcmp(d->file, file) != 0)
            continue;
        if (b->len)
            sb_str(b, "\n");
        sb_str(b, d->file);
        if (d->line > 0)
            snprintf(line, sizeof(line), ":%d:%d: %s: ", d->line, d->col, what);
        else
            snprintf(line, sizeof(line), ": %s: ", what);
        sb_str(b, line);
        sb_str(b, d->msg ? d->msg : "");
    }
}

/* A path in scope $N: scope NULL (the whole DAG folder), the scope itself, or under it. */
#define IN_SCOPE(col, n)                                                                           \
    "($" n "::text IS NULL OR " col " = $" n " OR starts_with(" col ", $" n " || '/'))"

/* Replace the import_error rows (level DIAG_ERROR) or the import_warning rows (DIAG_WARNING)
 * of the files in scope, and of every file the bag has diagnostics of that level for (a
 * defaults.yml above the scope), with one row per file of the bag that has them. */
static int
replace_import_diags(struct store *s, const struct dagbag *bag, const char *scope, const char *now,
                     enum diag_level level, struct err *e)
{
    bool err = level == DIAG_ERROR;
    const char *sp[] = {scope};

    if (run_cmd(s, e,
                err ? "DELETE FROM import_error WHERE " IN_SCOPE("filename", "1")
                    : "DELETE FROM import_warning WHERE " IN_SCOPE("filename", "1"),
                1, sp) != 0)
        return -1;
    for (size_t i = 0; i < bag->n_diags; i++) {
        struct sbuf trace = {0};
        int rc;

        if (!first_of_file(bag, i, level))
            continue;
        file_diags(bag, bag->diags[i].file, level, &trace);
        if (trace.oom)
            return err_set(e, ERR_FAIL, "out of memory");
        const char *p[] = {now, bag->diags[i].file, trace.p};
        rc = run_cmd(s, e,
                     err ? "WITH d AS (DELETE FROM import_error WHERE filename = $2) "
                           "INSERT INTO import_error (timestamp, filename, stacktrace) "
                           "VALUES (to_timestamp($1::double precision), $2, $3)"
                         : "WITH d AS (DELETE FROM import_warning WHERE filename = $2) "
                           "INSERT INTO import_warning (timestamp, filename, warnings) "
                           "VALUES (to_timestamp($1::double precision), $2, $3)",
                     3, p);
        free(trace.p);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Inside the transaction: every statement of the sync. */
static int
sync_rows(struct store *s, const struct dagbag *bag, const char *scope, const char *now,
          struct err *e)
{
    struct sbuf ids = {0}, files = {0};
    int rc = -1;

    if (bag_arrays(bag, &ids, &files, e) != 0)
        goto out;
    const char *p[] = {ids.p, files.p, scope};
    /* A DAG whose file failed to load this time stays active, as in Airflow: the file is
     * broken, not gone. So does one under a folder that could not be read (an error on the
     * folder's path): its file may well be there. And one outside the scope: not looked at. */
    if (run_cmd(s, e,
                "UPDATE dag SET is_active = false WHERE is_active AND NOT dag_id = ANY($1::text[]) "
                "AND (fileloc IS NULL OR NOT EXISTS (SELECT 1 FROM unnest($2::text[]) f "
                "WHERE fileloc = f OR starts_with(fileloc, f || '/'))) "
                "AND (fileloc IS NULL OR " IN_SCOPE("fileloc", "3") ")",
                3, p) != 0)
        goto out;
    for (size_t i = 0; i < bag->n_dags; i++)
        if (upsert_dag(s, bag->dags[i], now, e) != 0 || replace_tags(s, bag->dags[i], e) != 0) {
            err_prefix(e, "dag %s", bag->dags[i]->dag_id);
            goto out;
        }
    if (run_cmd(
            s, e,
            "UPDATE dag SET has_import_errors = coalesce(fileloc = ANY($1::text[]), false) "
            "WHERE has_import_errors IS DISTINCT FROM coalesce(fileloc = ANY($1::text[]), false) "
            "AND (fileloc = ANY($1::text[]) OR " IN_SCOPE("fileloc", "2") ")",
            2, p + 1) != 0)
        goto out;
    if (replace_import_diags(s, bag, scope, now, DIAG_ERROR, e) == 0 &&
        replace_import_diags(s, bag, scope, now, DIAG_WARNING, e) == 0)
        rc = store_asset_sync(s, bag, e); /* store_asset.c: after the dag rows it refers to */
out:
    free(ids.p);
    free(files.p);
    return rc;
}

int
store_sync_dagbag(struct store *s, const struct dagbag *bag, const char *scope, time_t now,
                  struct err *e)
{
    char nowbuf[32], *sc = NULL;
    int rc;

    snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
    if (scope != NULL) { /* "dags/team/" is "dags/team" */
        size_t n = strlen(scope);
        while (n > 1 && scope[n - 1] == '/')
            n--;
        if ((sc = strndup(scope, n)) == NULL)
            return err_set(e, ERR_FAIL, "sync dags: out of memory");
    }
    if (run_cmd(s, e, "BEGIN", 0, NULL) != 0) {
        free(sc);
        return err_prefix(e, "sync dags");
    }
    rc = sync_rows(s, bag, sc, nowbuf, e);
    free(sc);
    if (rc != 0) {
        rollback(s);
        return err_prefix(e, "sync dags");
    }
    if (run_cmd(s, e, "COMMIT", 0, NULL) != 0)
        return err_prefix(e, "sync dags");
    return 0;
}

int
store_import_error_note(struct store *s, const char *file, const char *note, struct err *e)
{
    const char *p[] = {file, note};

    if (run_cmd(s, e,
                "UPDATE import_error SET stacktrace = coalesce(stacktrace || E'\\n', '') || $2 "
                "WHERE filename = $1",
                2, p) != 0)
        return err_prefix(e, "note an import error of %s", file);
    return 0;
}

int
store_dag_is_paused(struct store *s, const char *dag_id, bool *paused, struct err *e)
{
    const char *p[] = {dag_id};
    PGresult *res = run(s, e, "SELECT is_paused FROM dag WHERE dag_id = $1", 1, p);
    int rc = 0;

    if (res == NULL)
        return err_prefix(e, "dag %s", dag_id);
    if (PQntuples(res) == 0)
        rc = err_set(e, ERR_NOTFOUND, "dag %s: not found", dag_id);
    else
        *paused = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/* pharma_upsert: move pharmaceutical_data_staging into pharmaceutical_data (issue 5, task
 * upsert_pharmaceutical_data of pharmaceutical_upsert_dag).
 *
 * One statement per transaction does it all: a DELETE ... RETURNING CTE takes the staging
 * rows this run moves (every row its snapshot sees, or the lowest --batch-limit staging ids),
 * DISTINCT ON picks the newest version of each sodangky among them (greatest
 * lastmodificationtime, a NULL time losing to any time, ties to the later-loaded row), and
 * INSERT ... ON CONFLICT DO UPDATE writes it only when the stored row is older (or has no
 * time): a version never replaces a newer one, whatever order the versions arrive in.
 *
 * Key invariant: the rows deleted from staging are exactly the rows read, and only they are
 * upserted. Rows a loader inserts (or commits) after the statement's snapshot are not seen by
 * the DELETE and stay in staging for the next run. Either the whole batch moves or, on any
 * error, nothing. Loaders are never blocked: they take no lock the upsert holds.
 *
 * Upserts take turns: each transaction first takes a transaction-level advisory lock (on the
 * staging table's oid, see LOCK_SQL), so a second upsert waits for the first to commit and
 * then, its DELETE's snapshot taken after that commit, sees only what is left. That is what
 * makes the whole-table move safe without row locks: two DELETEs walking the table in
 * physical order (synchronized sequential scans may start them at different pages) or a
 * DELETE beside a batch locking by staging_id could otherwise deadlock. The row locks the
 * DELETE itself takes still keep any other writer of staging from double-consuming a row.
 *
 * Speed (issue 22; figures in bench/README.md): the whole-table move is a plain DELETE ...
 * RETURNING (no FOR UPDATE pass that writes every row a second time) of the narrow columns
 * only, the newest version is chosen by sorting only (sodangky, lastmodificationtime,
 * staging_id), and the winners' wide columns are read by a hash join from staging as the
 * statement's snapshot shows it: every part of one statement sees the same snapshot, in which
 * the rows its own DELETE removes are still there. (Returning the wide rows instead spilled
 * them, about 600 bytes each, to a temporary file and read them back: 2.5 to 3.5 s of 14 to
 * 15 per million.) The join is on (staging_id, ctid): a row another session changed after
 * the snapshot (the DELETE then waits for it and removes the new version) has a new ctid, and
 * the check in UPSERT_FROM_MOVED fails the statement rather than store the old values;
 * nothing moves, and the next run takes the changed row. The planner settings are set for the
 * transaction only (TUNE_SQL): staging's statistics are usually stale (it was empty at the
 * last ANALYZE), and a nested loop over the CTEs would take hours. What is left is one
 * backend's CPU, most of it the INSERT ... ON CONFLICT: per row a heap tuple, two index
 * entries and the conflict check, all written to the WAL.
 *
 * Counts: the upsert's RETURNING reports xmax = 0 for an inserted row (a new tuple no
 * transaction has touched) and the current transaction's id for an updated one; a key
 * the WHERE refused returns nothing and counts as unchanged. Empty staging is a success
 * with zero counts (exit 0, not 99): the DAG's run, triggered after every load, should
 * simply succeed when there was nothing new.
 *
 * With --batch-limit N it loops, one transaction per N staging rows, over the rows whose
 * staging_id was at most the highest one at start, so a loader writing without pause cannot
 * keep it running forever. Ties between equal lastmodificationtime in different batches
 * keep the row already stored. SIGTERM stops it between batches (committed batches stay).
 *
 * With --jobs N (N > 1) the keys are split into N parts by a hash of sodangky, and N
 * sessions, one thread each, move one part each at the same time (batched too with
 * --batch-limit): every version of a key is in the same part, so the invariant above holds
 * per part, and each part commits on its own (a failed part moves nothing of its keys; the
 * other parts' commits stay, as committed batches do). The turn is then taken once, by one
 * more session that holds the advisory lock in an open transaction until every part has
 * ended; the parts take no turn of their own. Each part scans the whole staging table and
 * keeps its own rows, so more parts than the server has free cores is slower (two parts
 * on two cores: about 9 s instead of 13 s per million rows, bench/README.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "task.h"

#define USAGE                                                                                      \
    "pharma_upsert [--database-url URL | --conn-id ID] [--batch-limit N] [--jobs N]\n"             \
    "Upsert pharmaceutical_data_staging into pharmaceutical_data: one row per sodangky, the\n"     \
    "newest lastmodificationtime wins and is never overwritten by an older version; the rows\n"    \
    "moved are deleted from staging, rows staged meanwhile stay. XCom: {\"inserted\", "            \
    "\"updated\",\n\"unchanged\", \"staging_rows\"}. Exit 0 on success, also when staging is "     \
    "empty (zero counts);\n1 on an SQL error (nothing moved); 100 on bad arguments; 111 when the " \
    "database is\nunreachable or the connection broke."

/* The 29 source columns, in the migration's order. */
#define COLS                                                                                       \
    "idthuoc, sodangky, sodangkycu, tenthuoc, phanloaithuocenum, congtydangkyid, "                 \
    "congtysanxuatid, creationtime, lastmodificationtime, tencongtydangky, diachidangky, "         \
    "nuocdangky, tencongtysanxuat, diachisanxuat, nuocsanxuat, fulladdress, dotcap, "              \
    "ngaycapsodangky, ngayhethansodangky, ngaygiahansodangky, soquyetdinh, thongtinrutsodangky, "  \
    "dangbaoche, donggoi, hamluong, hoatchatchinh, tieuchuan, tieuchuanid, tuoitho"

/* Taken first in every transaction: upserts take turns (see the opening comment). The key is
 * (oid of the staging table, 0); an oid above 2^31 wraps to a negative int4, still unique. */
static const char LOCK_SQL[] =
    "SELECT pg_advisory_xact_lock('pharmaceutical_data_staging'::regclass::oid::int, 0)";

/* For this transaction only: hash joins (a nested loop over CTEs whose row counts the planner
 * guesses from stale statistics could take hours), and at least 128 MB per sort or hash so
 * that a million staging rows' keys are sorted in memory (more is spilled to disk). */
static const char TUNE_SQL[] =
    "SELECT set_config('enable_nestloop', 'off', true), set_config('enable_mergejoin', 'off', "
    "true),"
    "  set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) < 134217728"
    "    THEN '128MB' ELSE current_setting('work_mem') END, true)";

/* The staging rows moved: all the snapshot sees (up to $1 when set), or the $2 lowest ids.
 * Only the narrow columns come back: the wide ones are read from the statement's snapshot of
 * staging (UPSERT_FROM_MOVED), which still shows the rows this statement deletes. */
#define MOVED_COLS " RETURNING staging_id, ctid AS row_ctid, sodangky, lastmodificationtime"
/* The rows of part $i of $n (--jobs): every row when $n is 1 (the plan, made for the values
 * given, then has no hash to compute). hashtext is int4: the mask keeps it non-negative. */
#define IN_PART(n, i)                                                                              \
    " AND ($" n "::int = 1 OR (hashtext(sodangky) & 2147483647) % $" n "::int = $" i "::int)"
#define MOVE_ALL                                                                                   \
    "DELETE FROM pharmaceutical_data_staging"                                                      \
    "  WHERE ($1::bigint IS NULL OR staging_id <= $1::bigint)" IN_PART("2", "3") MOVED_COLS
#define MOVE_BATCH                                                                                 \
    "DELETE FROM pharmaceutical_data_staging WHERE staging_id IN ("                                \
    "  SELECT staging_id FROM pharmaceutical_data_staging"                                         \
    "  WHERE ($1::bigint IS NULL OR staging_id <= $1::bigint)" IN_PART(                            \
        "3", "4") "  ORDER BY staging_id LIMIT $2::bigint FOR UPDATE)" MOVED_COLS

/* WITH moved AS (MOVE_ALL or MOVE_BATCH) UPSERT_FROM_MOVED: one row: staging rows moved,
 * distinct keys, inserted, updated. winners holds one staging_id per key (the newest
 * version), sorted on the narrow columns only. Its wide columns come from staging as the
 * snapshot shows it; a winner with no row of the same ctid there was changed meanwhile, and
 * the WHERE raises an error naming it (a failed cast: plain SQL has no RAISE). The INSERT
 * takes no ORDER BY: upserts take turns, so no two of them write pharmaceutical_data at once. */
#define UPSERT_FROM_MOVED                                                                          \
    "), winners AS ("                                                                              \
    "  SELECT DISTINCT ON (sodangky) staging_id, row_ctid FROM moved"                              \
    "  ORDER BY sodangky, lastmodificationtime DESC NULLS LAST, staging_id DESC"                   \
    "), upserted AS ("                                                                             \
    "  INSERT INTO pharmaceutical_data AS d (" COLS ", loaded_at)"                                 \
    "  SELECT " COLS ", now() FROM winners w LEFT JOIN pharmaceutical_data_staging s"              \
    "    ON s.staging_id = w.staging_id AND s.ctid = w.row_ctid"                                   \
    "  WHERE (CASE WHEN s.staging_id IS NULL THEN ('staging row ' || w.staging_id"                 \
    "    || ' was changed by another session while it was moved; nothing moved, run again')::int"  \
    "    END) IS NULL"                                                                             \
    "  ON CONFLICT (sodangky) DO UPDATE SET"                                                       \
    "    idthuoc = EXCLUDED.idthuoc, sodangkycu = EXCLUDED.sodangkycu,"                            \
    "    tenthuoc = EXCLUDED.tenthuoc, phanloaithuocenum = EXCLUDED.phanloaithuocenum,"            \
    "    congtydangkyid = EXCLUDED.congtydangkyid, congtysanxuatid = EXCLUDED.congtysanxuatid,"    \
    "    creationtime = EXCLUDED.creationtime,"                                                    \
    "    lastmodificationtime = EXCLUDED.lastmodificationtime,"                                    \
    "    tencongtydangky = EXCLUDED.tencongtydangky, diachidangky = EXCLUDED.diachidangky,"        \
    "    nuocdangky = EXCLUDED.nuocdangky, tencongtysanxuat = EXCLUDED.tencongtysanxuat,"          \
    "    diachisanxuat = EXCLUDED.diachisanxuat, nuocsanxuat = EXCLUDED.nuocsanxuat,"              \
    "    fulladdress = EXCLUDED.fulladdress, dotcap = EXCLUDED.dotcap,"                            \
    "    ngaycapsodangky = EXCLUDED.ngaycapsodangky,"                                              \
    "    ngayhethansodangky = EXCLUDED.ngayhethansodangky,"                                        \
    "    ngaygiahansodangky = EXCLUDED.ngaygiahansodangky, soquyetdinh = EXCLUDED.soquyetdinh,"    \
    "    thongtinrutsodangky = EXCLUDED.thongtinrutsodangky, dangbaoche = EXCLUDED.dangbaoche,"    \
    "    donggoi = EXCLUDED.donggoi, hamluong = EXCLUDED.hamluong,"                                \
    "    hoatchatchinh = EXCLUDED.hoatchatchinh, tieuchuan = EXCLUDED.tieuchuan,"                  \
    "    tieuchuanid = EXCLUDED.tieuchuanid, tuoitho = EXCLUDED.tuoitho,"                          \
    "    loaded_at = EXCLUDED.loaded_at"                                                           \
    "  WHERE d.lastmodificationtime IS NULL"                                                       \
    "     OR EXCLUDED.lastmodificationtime > d.lastmodificationtime"                               \
    "  RETURNING (d.xmax = 0) AS inserted"                                                         \
    ")"                                                                                            \
    "SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM winners),"                         \
    "  count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"                     \
    "  FROM upserted"

/* $1 = highest staging_id to take (NULL: any), then the batch size (only UPSERT_BATCH_SQL),
 * then the number of parts and this part's index (IN_PART). */
static const char UPSERT_ALL_SQL[] = "WITH moved AS (" MOVE_ALL UPSERT_FROM_MOVED;
static const char UPSERT_BATCH_SQL[] = "WITH moved AS (" MOVE_BATCH UPSERT_FROM_MOVED;

struct counts {
    long long staging_rows, keys, inserted, updated;
};

/* The most parts --jobs takes (each is a session of the database and a thread). */
#define MAX_JOBS 32

/* One part of the move (all of it without --jobs): its own session, its own transactions. */
struct part {
    struct pgconn *c;
    const char *max_id; /* highest staging_id to take, NULL: any */
    const char *limit;  /* rows per transaction, NULL: all in one */
    char parts[12];     /* the number of parts, as text for IN_PART */
    char index[12];     /* this part's index, 0 to parts - 1 */
    bool take_turn;     /* each transaction takes the advisory lock (one part only) */
    int batches;        /* committed */
    struct counts total;
    struct err e;
    int rc;
};

/* Parse a non-negative count from the database (never NULL for count(*)). */
static long long
count_of(const struct pgconn_rows *r, int col)
{
    const char *v = pgconn_rows_value(r, 0, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* One transaction of part p: move at most p->limit staging rows of its keys and put what
 * happened into *batch. */
static int
upsert_batch(struct part *p, struct counts *batch, struct err *e)
{
    const char *all[] = {p->max_id, p->parts, p->index};
    const char *some[] = {p->max_id, p->limit, p->parts, p->index};
    struct pgconn_rows *r = NULL;
    struct pgconn *c = p->c;

    if (pgconn_begin(c, e) < 0)
        return err_prefix(e, "begin");
    if ((p->take_turn && pgconn_exec(c, LOCK_SQL, 0, NULL, NULL, e) < 0) ||
        pgconn_exec(c, TUNE_SQL, 0, NULL, NULL, e) < 0 ||
        (p->limit ? pgconn_query(c, UPSERT_BATCH_SQL, 4, some, &r, e)
                  : pgconn_query(c, UPSERT_ALL_SQL, 3, all, &r, e)) < 0) {
        if (!pgconn_lost(c)) {
            struct err ignored;
            pgconn_rollback(c, &ignored); /* the statement's error is the one to report */
        }
        return err_prefix(e, "upsert");
    }
    batch->staging_rows = count_of(r, 0);
    batch->keys = count_of(r, 1);
    batch->inserted = count_of(r, 2);
    batch->updated = count_of(r, 3);
    pgconn_rows_free(r);
    if (pgconn_commit(c, e) < 0)
        return err_prefix(e, "commit");
    return 0;
}

/* The highest staging_id now visible, into buf ("" when staging is empty). */
static int
staging_max_id(struct pgconn *c, char *buf, size_t size, struct err *e)
{
    struct pgconn_rows *r = NULL;

    if (pgconn_query(c, "SELECT max(staging_id) FROM pharmaceutical_data_staging", 0, NULL, &r, e) <
        0)
        return err_prefix(e, "read staging");
    const char *v = pgconn_rows_value(r, 0, 0);
    snprintf(buf, size, "%s", v ? v : "");
    pgconn_rows_free(r);
    return 0;
}

/* Move part p: one transaction, or batches of p->limit rows. Sets p->rc and p->e. */
static void
upsert_part(struct part *p)
{
    long long want = p->limit ? strtoll(p->limit, NULL, 10) : 0;

    for (;;) {
        struct counts b = {0};

        if (upsert_batch(p, &b, &p->e) < 0) {
            p->rc = p->batches
                        ? err_prefix(&p->e, "batch %d (%d committed)", p->batches + 1, p->batches)
                        : -1;
            return;
        }
        p->batches++;
        p->total.staging_rows += b.staging_rows;
        p->total.keys += b.keys;
        p->total.inserted += b.inserted;
        p->total.updated += b.updated;
        if (p->limit == NULL || b.staging_rows < want)
            return;
        if (task_stopping()) {
            p->rc = err_set(&p->e, ERR_FAIL,
                            "stopped by signal %d after %d batch(es); the rest stays in staging",
                            task_stop_signal(), p->batches);
            return;
        }
    }
}

static void *
part_thread(void *arg)
{
    upsert_part(arg);
    return NULL;
}

/* Run the parts[0..n-1] (connections open) at once, one thread each, and wait for all. */
static int
run_parts(struct part *parts, int n, struct err *e)
{
    pthread_t threads[MAX_JOBS];
    int started = 0;

    for (; started < n; started++) {
        int rc = pthread_create(&threads[started], NULL, part_thread, &parts[started]);
        if (rc != 0) {
            err_set(e, ERR_FAIL, "starting part %d of %d: %s", started + 1, n, strerror(rc));
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    return started == n ? 0 : -1;
}

/* The first failed part's error into e, with what the others committed; 0 when none failed. */
static int
parts_error(const struct part *parts, int n, const struct counts *done, struct err *e)
{
    for (int i = 0; i < n; i++) {
        if (parts[i].rc == 0)
            continue;
        *e = parts[i].e;
        if (n == 1)
            return -1;
        return err_prefix(e, "part %d of %d (the parts that succeeded moved %lld staging row(s))",
                          i + 1, n, done->staging_rows);
    }
    return 0;
}

/* Move everything as jobs parts (see the opening comment), adding it up into *total. With
 * more than one part, c holds the turn and each part has a session of its own. */
static int
upsert_all(struct pgconn *c, const char *url, const char *limit, int jobs, struct counts *total,
           struct err *e)
{
    struct part parts[MAX_JOBS] = {0};
    char max_id[32] = "";
    int rc = -1, opened = 0;

    if (jobs > 1 && (pgconn_begin(c, e) < 0 || pgconn_exec(c, LOCK_SQL, 0, NULL, NULL, e) < 0))
        return err_prefix(e, "taking the upsert's turn");
    if (limit && staging_max_id(c, max_id, sizeof(max_id), e) < 0)
        goto out;
    if (limit && max_id[0] == '\0') {
        rc = 0; /* nothing staged */
        goto out;
    }
    for (; opened < jobs; opened++) {
        struct part *p = &parts[opened];
        if ((p->c = jobs == 1 ? c : pgconn_open(url, e)) == NULL)
            goto out;
        p->max_id = limit ? max_id : NULL;
        p->limit = limit;
        snprintf(p->parts, sizeof(p->parts), "%d", jobs);
        snprintf(p->index, sizeof(p->index), "%d", opened);
        p->take_turn = jobs == 1;
    }
    if (jobs == 1)
        upsert_part(&parts[0]);
    else if (run_parts(parts, jobs, e) < 0)
        goto out;
    for (int i = 0; i < jobs; i++) {
        total->staging_rows += parts[i].total.staging_rows;
        total->keys += parts[i].total.keys;
        total->inserted += parts[i].total.inserted;
        total->updated += parts[i].total.updated;
    }
    rc = parts_error(parts, jobs, total, e);
out:
    for (int i = 0; i < opened; i++)
        if (parts[i].c != c)
            pgconn_free(parts[i].c);
    if (jobs > 1 && !pgconn_lost(c)) {
        struct err ignored;
        pgconn_rollback(c, &ignored); /* ends the turn; it changed nothing */
    }
    return rc;
}

/* Check --batch-limit: empty/unset = no limit, else a positive integer. */
static int
check_limit(const char **limit, struct err *e)
{
    char *end;
    long long n;

    if (*limit == NULL || **limit == '\0') {
        *limit = NULL;
        return 0;
    }
    n = strtoll(*limit, &end, 10);
    if (*end != '\0' || n <= 0)
        return err_set(e, ERR_USAGE, "--batch-limit: '%s' is not a positive integer", *limit);
    return 0;
}

/* Check --jobs: empty/unset = 1, else an integer from 1 to MAX_JOBS, into *jobs. */
static int
check_jobs(const char *arg, int *jobs, struct err *e)
{
    char *end;
    long n;

    *jobs = 1;
    if (arg == NULL || *arg == '\0')
        return 0;
    n = strtol(arg, &end, 10);
    if (*end != '\0' || n < 1 || n > MAX_JOBS)
        return err_set(e, ERR_USAGE, "--jobs: '%s' is not an integer from 1 to %d", arg, MAX_JOBS);
    *jobs = (int)n;
    return 0;
}

/* The XCom result: the four counts, unchanged = keys seen minus inserted and updated. */
static int
write_xcom(const struct counts *t, struct err *e)
{
    char json[256];
    long long unchanged = t->keys - t->inserted - t->updated;

    snprintf(json, sizeof(json),
             "{\"inserted\": %lld, \"updated\": %lld, \"unchanged\": %lld, \"staging_rows\": %lld}",
             t->inserted, t->updated, unchanged, t->staging_rows);
    return task_xcom_write(json, e);
}

int
main(int argc, char **argv)
{
    const char *url = NULL, *limit = NULL, *conn_id = NULL, *jobs_arg = NULL;
    struct task_opt opts[] = {
        {"--database-url", "GUST_DATABASE_URL", NULL,
         "libpq conninfo or URI (else the PG* variables)", &url, false, NULL},
        {"--conn-id", "GUST_CONN_ID", NULL,
         "Airflow connection id of the database (instead of --database-url)", &conn_id, false,
         NULL},
        {"--batch-limit", "PHARMA_UPSERT_BATCH_LIMIT", NULL,
         "at most N staging rows per transaction (default: all in one)", &limit, false, NULL},
        {"--jobs", "PHARMA_UPSERT_JOBS", NULL,
         "split the keys into N parts moved at once, each in its own session and transactions "
         "(default 1: one transaction moves everything)",
         &jobs_arg, false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct counts total = {0};
    struct pgconn *c = NULL;
    struct err e = {0};
    int rc, jobs = 1;

    task_set_name("pharma_upsert");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (rc < 0 || check_limit(&limit, &e) < 0 || check_jobs(jobs_arg, &jobs, &e) < 0 ||
        pgconn_target(&url, conn_id, &e) < 0)
        goto out;
    if ((c = pgconn_open(url, &e)) == NULL)
        goto out;
    if (upsert_all(c, url, limit, jobs, &total, &e) < 0 || write_xcom(&total, &e) < 0)
        goto out;
    task_log("upserted %lld staging row(s) of %lld key(s) from %s%s: inserted=%lld updated=%lld "
             "unchanged=%lld",
             total.staging_rows, total.keys, pgconn_where(c), jobs > 1 ? " in parts" : "",
             total.inserted, total.updated, total.keys - total.inserted - total.updated);
    pgconn_free(c);
    return TASK_OK;
out:
    task_log("error: %s", e.msg);
    pgconn_free(c);
    return task_exit_code(&e);
}

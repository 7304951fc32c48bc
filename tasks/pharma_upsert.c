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
 * keep the row already stored. SIGTERM stops it between batches (committed batches stay). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "task.h"

#define USAGE                                                                                      \
    "pharma_upsert [--database-url URL | --conn-id ID] [--batch-limit N]\n"                        \
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
#define MOVE_ALL                                                                                   \
    "DELETE FROM pharmaceutical_data_staging"                                                      \
    "  WHERE $1::bigint IS NULL OR staging_id <= $1::bigint" MOVED_COLS
#define MOVE_BATCH                                                                                 \
    "DELETE FROM pharmaceutical_data_staging WHERE staging_id IN ("                                \
    "  SELECT staging_id FROM pharmaceutical_data_staging"                                         \
    "  WHERE $1::bigint IS NULL OR staging_id <= $1::bigint"                                       \
    "  ORDER BY staging_id LIMIT $2::bigint FOR UPDATE)" MOVED_COLS

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

/* $1 = highest staging_id to take (NULL: any), $2 = batch size (only UPSERT_BATCH_SQL). */
static const char UPSERT_ALL_SQL[] = "WITH moved AS (" MOVE_ALL UPSERT_FROM_MOVED;
static const char UPSERT_BATCH_SQL[] = "WITH moved AS (" MOVE_BATCH UPSERT_FROM_MOVED;

struct counts {
    long long staging_rows, keys, inserted, updated;
};

/* Parse a non-negative count from the database (never NULL for count(*)). */
static long long
count_of(const struct pgconn_rows *r, int col)
{
    const char *v = pgconn_rows_value(r, 0, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* One transaction: move at most limit (NULL: all) staging rows with staging_id <= max_id
 * (NULL: any) and add what happened to *batch. */
static int
upsert_batch(struct pgconn *c, const char *max_id, const char *limit, struct counts *batch,
             struct err *e)
{
    const char *params[] = {max_id, limit};
    struct pgconn_rows *r = NULL;

    if (pgconn_begin(c, e) < 0)
        return err_prefix(e, "begin");
    if (pgconn_exec(c, LOCK_SQL, 0, NULL, NULL, e) < 0 ||
        pgconn_exec(c, TUNE_SQL, 0, NULL, NULL, e) < 0 ||
        pgconn_query(c, limit ? UPSERT_BATCH_SQL : UPSERT_ALL_SQL, limit ? 2 : 1, params, &r, e) <
            0) {
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

/* Move everything: one transaction, or batches of limit rows when limit is set. */
static int
upsert_all(struct pgconn *c, const char *limit, struct counts *total, struct err *e)
{
    char max_id[32] = "";
    long long want = limit ? strtoll(limit, NULL, 10) : 0;
    int batches = 0;

    if (limit && staging_max_id(c, max_id, sizeof(max_id), e) < 0)
        return -1;
    if (limit && max_id[0] == '\0')
        return 0; /* nothing staged */
    for (;;) {
        struct counts b = {0};

        if (upsert_batch(c, limit ? max_id : NULL, limit, &b, e) < 0)
            return batches ? err_prefix(e, "batch %d (%d committed)", batches + 1, batches) : -1;
        batches++;
        total->staging_rows += b.staging_rows;
        total->keys += b.keys;
        total->inserted += b.inserted;
        total->updated += b.updated;
        if (limit == NULL || b.staging_rows < want)
            return 0;
        if (task_stopping())
            return err_set(e, ERR_FAIL,
                           "stopped by signal %d after %d batch(es); the rest "
                           "stays in staging",
                           task_stop_signal(), batches);
    }
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
    const char *url = NULL, *limit = NULL, *conn_id = NULL;
    struct task_opt opts[] = {
        {"--database-url", "GUST_DATABASE_URL", NULL,
         "libpq conninfo or URI (else the PG* variables)", &url, false, NULL},
        {"--conn-id", "GUST_CONN_ID", NULL,
         "Airflow connection id of the database (instead of --database-url)", &conn_id, false,
         NULL},
        {"--batch-limit", "PHARMA_UPSERT_BATCH_LIMIT", NULL,
         "at most N staging rows per transaction (default: all in one)", &limit, false, NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct counts total = {0};
    struct pgconn *c = NULL;
    struct err e = {0};
    int rc;

    task_set_name("pharma_upsert");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (rc < 0 || check_limit(&limit, &e) < 0 || pgconn_target(&url, conn_id, &e) < 0)
        goto out;
    if ((c = pgconn_open(url, &e)) == NULL)
        goto out;
    if (upsert_all(c, limit, &total, &e) < 0 || write_xcom(&total, &e) < 0)
        goto out;
    task_log("upserted %lld staging row(s) of %lld key(s) from %s: inserted=%lld updated=%lld "
             "unchanged=%lld",
             total.staging_rows, total.keys, pgconn_where(c), total.inserted, total.updated,
             total.keys - total.inserted - total.updated);
    pgconn_free(c);
    return TASK_OK;
out:
    task_log("error: %s", e.msg);
    pgconn_free(c);
    return task_exit_code(&e);
}

/* test_store_sched: store_sched.c (jobs, claims, leases, promotion, timeouts, integrity, pause,
 * variables, NOTIFY, reconnection) against the test run's PostgreSQL (skipped without PGHOST),
 * in its own database. Races use a second connection (S2), a psql holding a lock in an open
 * transaction, or a forked process. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "store/store.h"

#define DB "gust_unit_store_sched"
#include "pgtest.h"
#define T0 1700000000 /* 2023-11-14T22:13:20Z */
#define DAY 86400
#define UNUSED __attribute__((unused))

static struct store *S, *S2;
static struct dagbag *BAG, *BAG2;
static const struct dag *ETL, *OTHER, *ETL2;

#define EMPTY "operator: airflow.operators.empty.EmptyOperator"
static const char DAGS[] = "etl:\n"
                           "  default_args: {retries: 2}\n"
                           "  tasks:\n"
                           "    - {task_id: extract, " EMPTY "}\n"
                           "    - {task_id: transform, " EMPTY ", dependencies: [extract]}\n"
                           "    - {task_id: load, " EMPTY ", dependencies: [transform]}\n"
                           "other:\n"
                           "  tasks: [{task_id: only, " EMPTY "}]\n";

/* etl after an edit: load is gone, report is new. */
static const char DAGS2[] = "etl:\n"
                            "  tasks:\n"
                            "    - {task_id: extract, " EMPTY "}\n"
                            "    - {task_id: transform, " EMPTY "}\n"
                            "    - {task_id: report, " EMPTY ", retries: 4}\n";

/* ---- harness ------------------------------------------------------------------------- */

static int
group_setup(void **state UNUSED)
{
    struct err e = {0};

    BAG = dagbag_new();
    BAG2 = dagbag_new();
    if (dagbag_load_string(BAG, "dags/etl.yaml", DAGS, strlen(DAGS)) != 0 ||
        dagbag_load_string(BAG2, "dags/etl.yaml", DAGS2, strlen(DAGS2)) != 0)
        return -1;
    ETL = dagbag_find(BAG, "etl");
    OTHER = dagbag_find(BAG, "other");
    ETL2 = dagbag_find(BAG2, "etl");
    if (getenv("PGHOST") == NULL)
        return 0;
    if (pgtest_recreate_db() != 0)
        return -1;
    /* A psql left holding a lock by a failed test gives up after 15 s instead of hanging the
     * tests after it. */
    setenv("PGOPTIONS", "-c client_min_messages=warning -c idle_in_transaction_session_timeout=15s",
           1);
    if ((S = store_open("dbname=" DB, &e)) == NULL || store_migrate(S, NULL, &e) != 0 ||
        (S2 = store_open("dbname=" DB, &e)) == NULL) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state UNUSED)
{
    store_free(S);
    store_free(S2);
    dagbag_free(BAG);
    dagbag_free(BAG2);
    return 0;
}

static int
setup(void **state UNUSED)
{
    if (S == NULL)
        skip();
    query("TRUNCATE dag, dag_run, task_instance, task_instance_history, xcom, log, variable, "
          "job RESTART IDENTITY CASCADE");
    return 0;
}

static void
mkrun(const struct dag *d, const char *run_id, const char *type, time_t logical)
{
    struct err e = {0};

    if (store_run_create(S, d, run_id, type, logical, logical, logical, NULL, "test", T0, NULL,
                         &e) != 0)
        fail_msg("store_run_create %s: %s", run_id, e.msg);
}

/* Move task of dag/run from one state to another through the planner's door. */
static void
set_ti(struct store *s, const char *dag, const char *run, const char *task, enum ti_state from,
       enum ti_state to)
{
    struct store_ti_change c = {task, -1, from, to};
    struct err e = {0};
    int applied = -1;

    if (store_tis_apply(s, dag, run, &c, 1, T0, &applied, &e) != 0)
        fail_msg("apply %s: %s", task, e.msg);
    assert_int_equal(applied, 1);
}

static size_t
claim(struct store *s, const struct store_claim_filter *f, int limit, long long job,
      struct store_claim **out)
{
    struct err e = {0};
    size_t n = 99;

    if (store_claim_queued(s, f, limit, "host1", 0, job, 60, T0, out, &n, &e) != 0)
        fail_msg("claim: %s", e.msg);
    return n;
}

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait (with a deadline) until query sql prints want. */
static void
wait_for(const char *sql, const char *want)
{
    double deadline = mono() + 10;

    while (strcmp(query(sql), want) != 0) {
        if (mono() > deadline)
            fail_msg("timed out waiting for %s = %s", sql, want);
        poll(NULL, 0, 10);
    }
}

/* call must succeed (return 0) and leave var == want. */
#define OK_EQ(call, var, want)                                                                     \
    do {                                                                                           \
        assert_int_equal((call), 0);                                                               \
        assert_int_equal((var), (want));                                                           \
    } while (0)

/* ---- jobs ------------------------------------------------------------------------------ */

static void
test_jobs(void **state UNUSED)
{
    struct err e = {0};
    long long sched = 0, worker = 0;
    int alive = -1;
    char sql[200];

    assert_int_equal(store_job_start(S, "SchedulerJob", "host1", 123, &sched, &e), 0);
    assert_int_equal(store_job_start(S2, "WorkerJob", "host2", 0, &worker, &e), 0);
    assert_true(sched > 0 && worker > 0 && sched != worker);
    assert_string_equal(query("SELECT job_type, state, hostname, coalesce(pid, 0) FROM job "
                              "ORDER BY id"),
                        "SchedulerJob|running|host1|123|WorkerJob|running|host2|0");
    OK_EQ(store_jobs_alive(S, NULL, 60, &alive, &e), alive, 2);
    OK_EQ(store_jobs_alive(S, "WorkerJob", 60, &alive, &e), alive, 1);

    /* a scheduler whose heartbeat is an hour old is dead; a heartbeat revives it */
    snprintf(sql, sizeof(sql),
             "UPDATE job SET latest_heartbeat = now() - interval '1 hour' WHERE id = %lld", sched);
    query(sql);
    OK_EQ(store_jobs_alive(S, "SchedulerJob", 60, &alive, &e), alive, 0);
    assert_int_equal(store_job_heartbeat(S, sched, &e), 1);
    OK_EQ(store_jobs_alive(S, "SchedulerJob", 60, &alive, &e), alive, 1);

    /* ended: not alive, no more heartbeats, ends once */
    assert_int_equal(store_job_end(S, sched, "success", &e), 1);
    assert_int_equal(store_job_end(S, sched, "failed", &e), 0);
    assert_int_equal(store_job_heartbeat(S, sched, &e), 0);
    OK_EQ(store_jobs_alive(S, "SchedulerJob", 60, &alive, &e), alive, 0);
    assert_string_equal(query("SELECT state, end_date IS NOT NULL FROM job ORDER BY id"),
                        "success|t|running|f");
    assert_int_equal(store_job_end(S, worker, "running", &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_int_equal(store_job_start(S, "NoSuchJob", "h", 1, &sched, &e), -1);
    assert_int_equal(e.code, ERR_DB);
}

/* ---- claims ---------------------------------------------------------------------------- */

/* A psql in an open transaction, holding what sql took until release. */
struct locker {
    pid_t pid;
    int fd; /* its stdin */
};

static void
psql_begin(struct locker *l, const char *sql)
{
    char *argv[] = {"psql", "-X", "-q", "-d", "dbname=" DB " application_name=gust_locker", NULL};
    posix_spawn_file_actions_t fa;
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    assert_int_equal(posix_spawnp(&l->pid, "psql", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    l->fd = fds[1];
    assert_int_equal(write(l->fd, "BEGIN;\n", 7), 7);
    assert_int_equal(write(l->fd, sql, strlen(sql)), (ssize_t)strlen(sql));
    wait_for("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gust_locker' AND "
             "state = 'idle in transaction'",
             "1");
}

/* End the transaction of psql_begin: end_sql ("COMMIT;\n"), or NULL to roll back. */
static void
psql_end(struct locker *l, const char *end_sql)
{
    int status;

    if (end_sql)
        assert_int_equal(write(l->fd, end_sql, strlen(end_sql)), (ssize_t)strlen(end_sql));
    close(l->fd); /* psql reads EOF and exits; an open transaction rolls back */
    assert_int_equal(waitpid(l->pid, &status, 0), l->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* psql exits once it has sent its goodbye; the server ends the backend (and releases its
     * locks) a moment later: wait for that, or a SKIP LOCKED claim may still skip the row */
    wait_for("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gust_locker'", "0");
}

static void
test_claim_two_connections(void **state UNUSED)
{
    struct store_claim *a, *b, *c;
    struct locker lk;
    char sql[200];

    mkrun(ETL, "r", "manual", T0);
    set_ti(S, "etl", "r", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r", "transform", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r", "load", TI_NONE, TI_QUEUED);
    query("UPDATE task_instance SET priority_weight = 5 WHERE task_id = 'transform'");

    /* limit 1 each from two connections: disjoint, the highest priority first */
    assert_int_equal(claim(S, NULL, 1, 7, &a), 1);
    assert_int_equal(claim(S2, NULL, 1, 8, &b), 1);
    assert_string_equal(a[0].task_id, "transform");
    assert_string_not_equal(a[0].task_id, b[0].task_id);
    assert_int_equal(a[0].try_number, 1);
    assert_int_equal(a[0].max_tries, 2);
    assert_string_equal(a[0].dag_id, "etl");
    assert_string_equal(a[0].run_id, "r");

    /* the last queued row is locked by an open transaction elsewhere: skipped, not waited for */
    const char *last = strcmp(b[0].task_id, "extract") == 0 ? "load" : "extract";
    snprintf(sql, sizeof(sql), "SELECT 1 FROM task_instance WHERE task_id = '%s' FOR UPDATE;\n",
             last);
    psql_begin(&lk, sql);
    assert_int_equal(claim(S, NULL, 5, 7, &c), 0);
    assert_null(c);
    psql_end(&lk, NULL);
    assert_int_equal(claim(S2, NULL, 5, 8, &c), 1);
    assert_string_equal(c[0].task_id, last);
    store_claims_free(c, 1);
    assert_int_equal(claim(S, NULL, 5, 7, &c), 0);

    assert_string_equal(query("SELECT task_id, state, try_number, job_id, hostname, "
                              "lease_until = to_timestamp(1700000060), "
                              "last_heartbeat_at = to_timestamp(1700000000), "
                              "start_date = to_timestamp(1700000000) FROM task_instance "
                              "WHERE task_id = 'transform'"),
                        "transform|running|1|7|host1|t|t|t");
    store_claims_free(a, 1);
    store_claims_free(b, 1);
    store_claims_free(NULL, 0);
}

static void
test_claim_filters(void **state UNUSED)
{
    struct err e = {0};
    struct store_claim *c;
    const char *ids[] = {"nope", "other"};
    struct store_claim_filter by_dag = {.dag_id = "other"};
    struct store_claim_filter by_run = {.dag_id = "etl", .run_id = "r2"};
    struct store_claim_filter by_queue = {.queue = "q2"};
    struct store_claim_filter by_ids = {.dag_ids = ids, .n_dag_ids = 2};
    char *x = NULL;

    mkrun(ETL, "r1", "manual", T0);
    mkrun(ETL, "r2", "manual", T0 + DAY);
    mkrun(OTHER, "o1", "manual", T0);
    set_ti(S, "etl", "r1", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r1", "load", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r2", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "other", "o1", "only", TI_NONE, TI_QUEUED);
    query("UPDATE task_instance SET queue = 'q2' WHERE run_id = 'r1' AND task_id = 'load'");
    assert_int_equal(store_xcom_set(S, "etl", "r2", "extract", -1, "k", "1", &e), 0);

    assert_int_equal(claim(S, &by_dag, 5, 0, &c), 1);
    assert_string_equal(c[0].dag_id, "other");
    assert_int_equal(c[0].max_tries, 0);
    store_claims_free(c, 1);
    assert_int_equal(claim(S, &by_run, 5, 0, &c), 1);
    assert_string_equal(c[0].run_id, "r2");
    store_claims_free(c, 1);
    /* the claimed try starts without the XCom of the previous one */
    assert_int_equal(store_xcom_get(S, "etl", "r2", "extract", -1, "k", &x, &e), 0);
    assert_null(x);
    assert_int_equal(claim(S, &by_queue, 5, 0, &c), 1);
    assert_string_equal(c[0].task_id, "load");
    store_claims_free(c, 1);
    assert_int_equal(claim(S, &by_ids, 5, 0, &c), 0); /* other's only TI is running now */
    assert_int_equal(claim(S, NULL, 0, 0, &c), 0);    /* limit 0: nothing */
    assert_string_equal(query("SELECT count(*) FROM task_instance WHERE state = 'queued'"), "1");
    assert_string_equal(query("SELECT job_id IS NULL FROM task_instance WHERE run_id = 'o1'"), "t");

    /* the second try of a retried task gets try number 2 */
    assert_int_equal(store_ti_finish(S, "other", "o1", "only", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_UP_FOR_RETRY,
                                                             .has_exit_code = true,
                                                             .exit_code = 1,
                                                             .end = T0 + 5,
                                                             .duration = 5,
                                                             .next_retry_at = T0 + 6},
                                     &e),
                     1);
    set_ti(S, "other", "o1", "only", TI_UP_FOR_RETRY, TI_QUEUED);
    assert_int_equal(claim(S, &by_ids, 5, 0, &c), 1);
    assert_int_equal(c[0].try_number, 2);
    store_claims_free(c, 1);
}

/* A claim walks past the rows that cannot run (their pool is full), however many come first,
 * to those that can; and the rows one call takes count against the next row's pool. */
static void
test_claim_past_full_pool(void **state UNUSED)
{
    struct store_claim *c;

    mkrun(ETL, "r", "manual", T0);
    set_ti(S, "etl", "r", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r", "transform", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r", "load", TI_NONE, TI_QUEUED);
    query("INSERT INTO slot_pool (pool, slots) VALUES ('none', 0), ('two', 2) "
          "ON CONFLICT (pool) DO UPDATE SET slots = EXCLUDED.slots");
    /* 40 instances of extract first (priority 10) in a pool of no slot, then 3 of transform
     * (priority 5) in a pool of 2, then load (1) in default_pool */
    query("INSERT INTO task_instance SELECT (jsonb_populate_record(t, jsonb_build_object("
          "'map_index', g, 'pool', 'none', 'priority_weight', 10))).* FROM task_instance t, "
          "generate_series(0, 39) g WHERE t.task_id = 'extract'");
    query("INSERT INTO task_instance SELECT (jsonb_populate_record(t, jsonb_build_object("
          "'map_index', g, 'pool', 'two', 'priority_weight', 5))).* FROM task_instance t, "
          "generate_series(0, 2) g WHERE t.task_id = 'transform'");
    query("DELETE FROM task_instance WHERE task_id IN ('extract', 'transform') AND map_index = -1");
    query("UPDATE task_instance SET priority_weight = 1 WHERE task_id = 'load'");

    assert_int_equal(claim(S, NULL, 5, 7, &c), 3);
    assert_string_equal(c[0].task_id, "transform");
    assert_int_equal(c[0].map_index, 0);
    assert_string_equal(c[1].task_id, "transform");
    assert_int_equal(c[1].map_index, 1);
    assert_string_equal(c[2].task_id, "load");
    store_claims_free(c, 3);
    assert_string_equal(query("SELECT state, count(*) FROM task_instance GROUP BY state "
                              "ORDER BY state"),
                        "queued|41|running|3");
    /* nothing more fits: nothing is taken, and the rows stay queued */
    assert_int_equal(claim(S, NULL, 5, 7, &c), 0);
    query("UPDATE slot_pool SET slots = 1 WHERE pool = 'none'");
    assert_int_equal(claim(S, NULL, 5, 7, &c), 1);
    assert_string_equal(c[0].task_id, "extract");
    assert_int_equal(c[0].map_index, 0);
    store_claims_free(c, 1);
    query("DELETE FROM slot_pool WHERE pool IN ('none', 'two')");
}

/* Run r of etl with n queued instances of extract, map_index g from 0 to n - 1, each also
 * given the fields in more (", 'key', an expression of g" for jsonb_build_object, or ""). */
static void
queue_extracts(int n, const char *more)
{
    char sql[512];

    mkrun(ETL, "r", "manual", T0);
    set_ti(S, "etl", "r", "extract", TI_NONE, TI_QUEUED);
    snprintf(sql, sizeof(sql),
             "INSERT INTO task_instance SELECT (jsonb_populate_record(t, jsonb_build_object("
             "'map_index', g%s))).* FROM task_instance t, generate_series(0, %d) g "
             "WHERE t.task_id = 'extract'",
             more, n - 1);
    query(sql);
    query("DELETE FROM task_instance WHERE task_id = 'extract' AND map_index = -1");
}

/* The claim walks the queued rows in its order with a LIMIT (gust_claim): the index must
 * give that whole order, so that the walk reads what it takes and not every queued row
 * sorted (migration 0016; the index of 0004 lacked map_index, the last key). */
static void
test_claim_order_index(void **state UNUSED)
{
    const char *plan;

    queue_extracts(3000, ", 'priority_weight', g % 3");
    query("ANALYZE task_instance");
    plan = query("EXPLAIN (COSTS OFF) SELECT t.ctid FROM task_instance t WHERE t.state = "
                 "'queued' ORDER BY t.priority_weight DESC, t.queued_dttm NULLS LAST, t.dag_id, "
                 "t.run_id, t.task_id, t.map_index LIMIT 18");
    if (strstr(plan, "ti_claim_order") == NULL || strstr(plan, "Sort") != NULL)
        fail_msg("the claim's walk does not follow ti_claim_order alone: %s", plan);
}

/* The claim reads the rows it takes whatever the statistics say: task_instance analyzed while
 * empty, then 20,000 rows queued at once (a fan-out on a new database, until autovacuum
 * analyzes again). Eight claims of one row each in one transaction, so that PL/pgSQL moves to
 * its generic plans; the index entries their scans returned (this transaction's counts) stay
 * far below one pass over the queue. Before 0019 either the walk sorted every queued row at
 * each claim or the DAG's running count read them all through ti_active: 160,028 entries. */
static void
test_claim_stale_statistics(void **state UNUSED)
{
    /* the statistics of an earlier test's rows go first (the test cluster's user is a
     * superuser), as on a new database */
    query("DELETE FROM pg_statistic WHERE starelid = 'task_instance'::regclass; "
          "ANALYZE task_instance");
    queue_extracts(20000, "");
    assert_string_equal(
        query("DO $$ BEGIN FOR i IN 1..8 LOOP PERFORM gust_claim(NULL, NULL, NULL, NULL, 1, "
              "1700000000, 'h', 1, 7, 1700000060); END LOOP; END $$; "
              "SELECT count(*) FROM task_instance WHERE state = 'running'; "
              "SELECT i.indexrelid::regclass, pg_stat_get_xact_tuples_returned(i.indexrelid) "
              "FROM pg_index i WHERE i.indrelid = 'task_instance'::regclass "
              "AND pg_stat_get_xact_tuples_returned(i.indexrelid) > 500"),
        "8");
}

/* The plan of sql (a lookup of ti_fresh by a row's key) must find the row by an index
 * condition alone, with no rows read and filtered out. */
static void
expect_by_key(const char *what, const char *sql)
{
    char explain[1024];
    const char *plan;

    snprintf(explain, sizeof(explain), "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) %s",
             sql);
    plan = query(explain);
    if (strstr(plan, "Index Cond") == NULL || strstr(plan, "Rows Removed") != NULL)
        fail_msg("%s reads more than its row: %s", what, plan);
}

/* A row found by its key reads one index entry even with no statistics: a table never
 * analyzed (a copy of task_instance with its indexes, as on a new deployment before
 * autovacuum's first ANALYZE) holding a run of 3,000 rows. Before 0018 the planner took
 * ti_dag_run (dag_id, run_id) and filtered the whole run on task_id ("Rows Removed by Filter:
 * 2999"), in gust_apply_changes' UPDATE and in the foreign-key check of each history row. */
static void
test_key_lookup_index(void **state UNUSED)
{
    query("DROP TABLE IF EXISTS ti_fresh");
    query("CREATE TABLE ti_fresh (LIKE task_instance INCLUDING ALL)");
    query("INSERT INTO ti_fresh (dag_id, run_id, task_id) SELECT 'etl', 'r', 't' || g "
          "FROM generate_series(0, 2999) g");
    expect_by_key("an UPDATE by key",
                  "UPDATE ti_fresh ti SET state = 'scheduled', updated_at = now() WHERE "
                  "ti.dag_id = 'etl' AND ti.run_id = 'r' AND ti.task_id = 't1500' AND "
                  "ti.map_index = -1 AND ti.state IS NOT DISTINCT FROM NULL");
    expect_by_key("the foreign-key check of a history row",
                  "SELECT 1 FROM ti_fresh WHERE dag_id = 'etl' AND task_id = 't2999' AND "
                  "run_id = 'r' AND map_index = -1 FOR KEY SHARE");
    /* A mapped task's 3,000 instances, analyzed before any ran, then all running: the lookup
     * of one try's row as store_ti_set_pid and store_ti_finish write it (the state with IS NOT
     * DISTINCT FROM, store_int.h) finds it by its key. With "state = 'running'" the planner
     * took ti_active or ti_running, rated nearly empty, and read every instance. */
    query("TRUNCATE ti_fresh");
    query("INSERT INTO ti_fresh (dag_id, run_id, task_id, map_index, try_number) "
          "SELECT 'etl', 'r', 'fan', g, 1 FROM generate_series(0, 2999) g");
    query("ANALYZE ti_fresh");
    query("UPDATE ti_fresh SET state = 'running'");
    expect_by_key("a mapped instance's try",
                  "UPDATE ti_fresh SET pid = 42 WHERE dag_id = 'etl' AND run_id = 'r' AND "
                  "task_id = 'fan' AND map_index = 1500 AND try_number = 1 AND "
                  "state IS NOT DISTINCT FROM 'running'");
    query("DROP TABLE ti_fresh");
}

/* ---- leases ---------------------------------------------------------------------------- */

static void
test_leases_renew(void **state UNUSED)
{
    struct err e = {0};
    struct store_claim *c;
    struct store_claim_filter r1 = {.run_id = "r1"};
    struct store_claim_filter r2 = {.run_id = "r2"};
    int lost[4] = {-1, -1, -1, -1}, t = 0;

    mkrun(ETL, "r1", "manual", T0);
    mkrun(ETL, "r2", "manual", T0 + DAY);
    set_ti(S, "etl", "r1", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r1", "transform", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r2", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r2", "load", TI_NONE, TI_QUEUED);
    assert_int_equal(claim(S, &r1, 5, 7, &c), 2);
    store_claims_free(c, 2);
    assert_int_equal(claim(S2, &r2, 1, 8, &c), 1); /* r2 extract: job 8's */
    store_claims_free(c, 1);
    /* r2 load: started without a job (store_ti_start), then adopted by job 7 */
    assert_int_equal(store_ti_start(S, "etl", "r2", "load", -1, "host1", 0, T0, 60, &t, &e), 1);

    struct store_try_ref tries[] = {{"etl", "r1", "extract", -1, 1},
                                    {"etl", "r1", "transform", -1, 1},
                                    {"etl", "r2", "extract", -1, 1},
                                    {"etl", "r2", "load", -1, 1}};
    assert_int_equal(store_leases_renew(S, 7, 60, T0 + 30, tries, 4, lost, &e), 0);
    assert_memory_equal(lost, ((int[]){0, 0, 1, 0}), sizeof(lost)); /* job 8 runs r2 extract */
    assert_string_equal(
        query("SELECT run_id, task_id, job_id, "
              "extract(epoch FROM lease_until)::bigint - 1700000000, "
              "extract(epoch FROM last_heartbeat_at)::bigint - 1700000000 "
              "FROM task_instance WHERE state = 'running' "
              "ORDER BY run_id, task_id"),
        "r1|extract|7|90|30|r1|transform|7|90|30|r2|extract|8|60|0|r2|load|7|90|30");

    /* another process ends r1 extract; a stale try number is lost too */
    assert_int_equal(store_ti_finish(S2, "etl", "r1", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_FAILED,
                                                             .has_exit_code = true,
                                                             .exit_code = 1,
                                                             .end = T0 + 40,
                                                             .duration = 10},
                                     &e),
                     1);
    tries[1].try_number = 0;
    assert_int_equal(store_leases_renew(S, 7, 60, T0 + 45, tries, 4, lost, &e), 0);
    assert_memory_equal(lost, ((int[]){1, 1, 1, 0}), sizeof(lost));
    /* nothing given: the job's leases are still renewed */
    assert_int_equal(store_leases_renew(S, 7, 60, T0 + 50, NULL, 0, NULL, &e), 0);
    assert_string_equal(query("SELECT count(*) FROM task_instance WHERE lease_until = "
                              "to_timestamp(1700000110)"),
                        "2");
}

static void
test_leases_expired(void **state UNUSED)
{
    struct err e = {0};
    struct store_claim *c;
    struct store_expired *x;
    size_t n;
    int lost = -1;

    mkrun(ETL, "r", "manual", T0);
    set_ti(S, "etl", "r", "extract", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r", "transform", TI_NONE, TI_QUEUED);
    assert_int_equal(claim(S, NULL, 2, 7, &c), 2); /* leases until T0 + 60 */
    store_claims_free(c, 2);
    assert_int_equal(store_leases_renew(S, 7, 100, T0 + 20, NULL, 0, NULL, &e), 0);
    assert_int_equal(store_ti_set_pid(S, "etl", "r", "extract", -1, 1, 4242, &e), 0);
    /* sent ahead: S's next statement waits for it, before S2 looks */
    assert_int_equal(store_leases_renew(S, 7, 100, T0 + 20, NULL, 0, NULL, &e), 0);

    OK_EQ(store_leases_expired(S2, T0 + 119, 0, &x, &n, &e), n, 0);
    assert_null(x);
    OK_EQ(store_leases_expired(S2, T0 + 121, 0, &x, &n, &e), n, 2);
    assert_string_equal(x[0].dag_id, "etl");
    assert_string_equal(x[0].run_id, "r");
    assert_string_equal(x[0].task_id, "extract");
    assert_string_equal(x[0].hostname, "host1");
    assert_true(x[0].try_number == 1 && x[0].max_tries == 2 && x[0].pid == 4242 && x[1].pid == 0);
    store_expired_free(x, n);
    OK_EQ(store_leases_expired(S2, T0 + 121, 1, &x, &n, &e), n, 1);
    store_expired_free(x, n);

    /* the scheduler fails it for a retry; the worker's renewal then reports it lost */
    assert_int_equal(store_ti_finish(S2, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_UP_FOR_RETRY,
                                                             .end = T0 + 121,
                                                             .duration = -1,
                                                             .next_retry_at = T0 + 421},
                                     &e),
                     1);
    struct store_try_ref t = {"etl", "r", "extract", -1, 1};
    OK_EQ(store_leases_renew(S, 7, 100, T0 + 122, &t, 1, &lost, &e), lost, 1);
    OK_EQ(store_leases_expired(S2, T0 + 150, 0, &x, &n, &e), n, 0); /* transform was renewed too */
    store_expired_free(NULL, 0);
}

/* ---- runs ------------------------------------------------------------------------------ */

static void
test_promote(void **state UNUSED)
{
    struct err e = {0};
    int n = -1;

    mkrun(ETL, "c", "manual", T0 + 2 * DAY);
    mkrun(ETL, "a", "manual", T0);
    mkrun(ETL, "b", "manual", T0 + DAY);
    mkrun(ETL, "d", "manual", T0 + 3 * DAY);
    mkrun(OTHER, "o", "manual", T0);
    OK_EQ(store_runs_promote(S, "etl", 2, T0 + 5, &n, &e), n, 2);
    OK_EQ(store_runs_promote(S2, "etl", 2, T0 + 6, &n, &e), n, 0);
    assert_string_equal(query("SELECT run_id, extract(epoch FROM start_date)::bigint - "
                              "1700000000 FROM dag_run WHERE state = 'running' ORDER BY run_id"),
                        "a|5|b|5");
    assert_int_equal(store_run_set_state(S, "etl", "a", RUN_RUNNING, RUN_SUCCESS, T0 + 9, &e), 1);
    OK_EQ(store_runs_promote(S2, "etl", 2, T0 + 10, &n, &e), n, 1);
    assert_string_equal(query("SELECT string_agg(run_id, ',' ORDER BY run_id) FROM dag_run "
                              "WHERE state = 'running'"),
                        "b,c");
    OK_EQ(store_runs_promote(S, "etl", 0, T0 + 11, &n, &e), n, 1); /* unlimited */
    assert_string_equal(query("SELECT state FROM dag_run WHERE run_id = 'o'"), "queued");
}

/* Another scheduler is mid-promotion (holds the DAG's lock, has set run b running, not yet
 * committed) when this one promotes with max_active_runs 1: it must wait for the lock, then
 * see b running and promote nothing. Without the lock it would promote a (the oldest, not
 * row-locked) and two runs would be running. */
static void
test_promote_serialized(void **state UNUSED)
{
    struct locker lk;
    pid_t kid;
    int status;

    mkrun(ETL, "a", "manual", T0);
    mkrun(ETL, "b", "manual", T0 + DAY);
    psql_begin(&lk, "SELECT pg_advisory_xact_lock(1735750516, hashtext('etl')); "
                    "UPDATE dag_run SET state = 'running' WHERE run_id = 'b';\n");
    fflush(NULL);
    if ((kid = fork()) == 0) {
        struct err e = {0};
        struct store *s = store_open("dbname=" DB, &e);
        int n = -1;

        _exit(s && store_runs_promote(s, "etl", 1, T0, &n, &e) == 0 ? n : 99);
    }
    assert_true(kid > 0);
    wait_for("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", "1");
    psql_end(&lk, "COMMIT;\n");
    assert_int_equal(waitpid(kid, &status, 0), kid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(query("SELECT string_agg(run_id || '=' || state, ',' ORDER BY run_id) "
                              "FROM dag_run"),
                        "a=queued,b=running");
}

static void
test_runs_active(void **state UNUSED)
{
    struct err e = {0};
    struct store_run *runs;
    size_t n;

    mkrun(ETL, "e2", "manual", T0 + DAY);
    mkrun(ETL, "e1", "manual", T0);
    mkrun(ETL, "done", "manual", T0 - DAY);
    mkrun(OTHER, "o1", "manual", T0 - 2 * DAY);
    assert_int_equal(store_run_set_state(S, "etl", "e2", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "done", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "done", RUN_RUNNING, RUN_FAILED, T0, &e), 1);

    OK_EQ(store_runs_active(S, &runs, &n, &e), n, 3);
    assert_string_equal(runs[0].run_id, "o1");
    assert_string_equal(runs[1].run_id, "e1");
    assert_string_equal(runs[2].run_id, "e2");
    assert_true(runs[1].state == RUN_QUEUED && runs[2].state == RUN_RUNNING);
    assert_string_equal(runs[2].dag_id, "etl");
    store_runs_free(runs, n);

    assert_int_equal(store_dag_set_paused(S, "other", true, &e), 0);
    OK_EQ(store_runs_active(S, &runs, &n, &e), n, 2);
    store_runs_free(runs, n);
    query("UPDATE dag SET is_active = false WHERE dag_id = 'etl'");
    OK_EQ(store_runs_active(S, &runs, &n, &e), n, 0);
    assert_null(runs);
}

static void
test_runs_timeout(void **state UNUSED)
{
    struct err e = {0};
    struct store_claim *c;
    struct store_claim_filter f = {.run_id = "old"};
    int n = -1;

    mkrun(ETL, "old", "manual", T0);
    mkrun(ETL, "new", "manual", T0 + DAY);
    assert_int_equal(store_run_set_state(S, "etl", "old", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "new", RUN_QUEUED, RUN_RUNNING, T0 + 3000, &e),
                     1);
    set_ti(S, "etl", "old", "extract", TI_NONE, TI_QUEUED);
    assert_int_equal(claim(S, &f, 1, 7, &c), 1);
    store_claims_free(c, 1);
    set_ti(S, "etl", "old", "transform", TI_NONE, TI_QUEUED);

    OK_EQ(store_runs_timeout(S, "etl", 3600, T0 + 3600, &n, &e), n, 0);
    OK_EQ(store_runs_timeout(S, "etl", -1, T0 + 99999, &n, &e), n, 0); /* no timeout */
    OK_EQ(store_runs_timeout(S, "etl", 3600, T0 + 3601, &n, &e), n, 1);
    assert_string_equal(query("SELECT run_id, state, extract(epoch FROM end_date)::bigint - "
                              "1700000000 FROM dag_run ORDER BY run_id"),
                        "new|running||old|failed|3601");
    assert_string_equal(query("SELECT run_id, task_id, coalesce(state, 'none') FROM task_instance "
                              "ORDER BY run_id, task_id"),
                        "new|extract|none|new|load|none|new|transform|none|"
                        "old|extract|running|old|load|skipped|old|transform|skipped");
    OK_EQ(store_runs_timeout(S, "etl", 3600, T0 + 3700, &n, &e), n, 0);
}

static void
test_sync_tasks(void **state UNUSED)
{
    struct err e = {0};
    struct store_claim *c;
    int added = -1, removed = -1;

    mkrun(ETL, "r", "manual", T0);
    set_ti(S, "etl", "r", "transform", TI_NONE, TI_QUEUED);
    set_ti(S, "etl", "r", "extract", TI_NONE, TI_SUCCESS);
    assert_int_equal(store_run_sync_tasks(S, ETL, "r", &added, &removed, &e), 0);
    assert_true(added == 0 && removed == 0);

    /* the file changed: load gone (removed), report new (created) */
    assert_int_equal(store_run_sync_tasks(S, ETL2, "r", &added, &removed, &e), 0);
    assert_true(added == 1 && removed == 1);
    assert_string_equal(query("SELECT task_id, coalesce(state, 'none'), max_tries FROM "
                              "task_instance ORDER BY task_id"),
                        "extract|success|2|load|removed|2|report|none|4|transform|queued|2");

    /* back to the first version while transform runs: report removed, load restored, the
     * running transform left alone */
    assert_int_equal(claim(S, NULL, 1, 7, &c), 1);
    store_claims_free(c, 1);
    query("UPDATE task_instance SET task_id = 'gone' WHERE task_id = 'transform'");
    assert_int_equal(store_run_sync_tasks(S, ETL, "r", &added, &removed, &e), 0);
    assert_true(added == 2 && removed == 1); /* added: load restored, transform created */
    assert_string_equal(query("SELECT task_id, coalesce(state, 'none') FROM task_instance "
                              "ORDER BY task_id"),
                        "extract|success|gone|running|load|none|report|removed|transform|none");

    assert_int_equal(store_run_sync_tasks(S, ETL, "nope", &added, &removed, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(query("SELECT count(*) FROM task_instance WHERE run_id = 'nope'"), "0");
}

static void
test_prev_ti_state(void **state UNUSED)
{
    struct err e = {0};
    time_t last = 1;
    bool found = true;
    enum ti_state st = TI_FAILED;

    OK_EQ(store_last_scheduled(S, "etl", &last, &e), last, 0);
    mkrun(ETL, "r1", "scheduled", T0);
    mkrun(ETL, "r3", "manual", T0 + 2 * DAY);
    mkrun(ETL, "r2", "scheduled", T0 + DAY);
    mkrun(OTHER, "o", "scheduled", T0 + 5 * DAY);
    set_ti(S, "etl", "r2", "extract", TI_NONE, TI_SUCCESS);
    /* the latest scheduled run (r3 is manual); the previous run is by logical date, any type */
    OK_EQ(store_last_scheduled(S, "etl", &last, &e), last, T0 + DAY);
    assert_int_equal(store_prev_ti_state(S, "etl", "r3", "extract", &found, &st, &e), 0);
    assert_true(found && st == TI_SUCCESS);
    assert_int_equal(store_prev_ti_state(S, "etl", "r2", "extract", &found, &st, &e), 0);
    assert_true(found && st == TI_NONE);
    assert_int_equal(store_prev_ti_state(S, "etl", "r1", "extract", &found, &st, &e), 0);
    assert_true(!found && st == TI_NONE);
    assert_int_equal(store_prev_ti_state(S, "etl", "r3", "nope", &found, &st, &e), 0);
    assert_false(found);
    assert_int_equal(store_prev_ti_state(S, "etl", "zz", "extract", &found, &st, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
}

/* ---- pause, variables ------------------------------------------------------------------ */

static void
test_pause(void **state UNUSED)
{
    struct err e = {0};
    bool paused = false;

    mkrun(ETL, "r", "manual", T0);
    assert_int_equal(store_dag_set_paused(S, "etl", true, &e), 0);
    OK_EQ(store_dag_is_paused(S, "etl", &paused, &e), paused, true);
    assert_int_equal(store_dag_set_paused(S, "etl", false, &e), 0);
    OK_EQ(store_dag_is_paused(S, "etl", &paused, &e), paused, false);
    assert_string_equal(query("SELECT event, dag_id FROM log WHERE event LIKE '%pause' "
                              "ORDER BY id"),
                        "pause|etl|unpause|etl");
    assert_int_equal(store_dag_set_paused(S, "nope", true, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(query("SELECT count(*) FROM log WHERE dag_id = 'nope'"), "0");
}

/* The scheduler tick's reads of every DAG at once: pause and active runs, last scheduled run. */
static void
test_sched_states(void **state UNUSED)
{
    struct err e = {0};
    struct store_sched_state *v;
    struct store_last_interval *last;
    const char *ids[] = {"etl", "other", "nope"};
    size_t n;

    OK_EQ(store_sched_states(S, &v, &n, &e), n, 0); /* nothing paused, no run */
    mkrun(ETL, "s1", "scheduled", T0);
    mkrun(ETL, "s2", "scheduled", T0 + DAY);
    mkrun(ETL, "m", "manual", T0 + 2 * DAY); /* the latest, but not scheduled */
    mkrun(OTHER, "o", "manual", T0);
    assert_int_equal(store_run_set_state(S, "etl", "s1", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "s1", RUN_RUNNING, RUN_SUCCESS, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "s2", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "other", "o", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_run_set_state(S, "other", "o", RUN_RUNNING, RUN_SUCCESS, T0, &e), 1);
    assert_int_equal(store_dag_set_paused(S, "other", true, &e), 0);

    OK_EQ(store_sched_states(S, &v, &n, &e), n, 2);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].dag_id, "etl") == 0)
            assert_true(!v[i].paused && v[i].queued && v[i].active);
        else
            assert_true(strcmp(v[i].dag_id, "other") == 0 && v[i].paused && !v[i].queued &&
                        !v[i].active);
    store_sched_states_free(v, n);

    /* a DAG without a scheduled run, or unknown, has no row */
    OK_EQ(store_last_scheduled_intervals(S, ids, 3, &last, &n, &e), n, 1);
    assert_string_equal(last[0].dag_id, "etl");
    assert_int_equal(last[0].logical, T0 + DAY);
    assert_int_equal(last[0].end, T0 + DAY);
    store_last_intervals_free(last, n);
    OK_EQ(store_last_scheduled_intervals(S, ids, 0, &last, &n, &e), n, 0);
}

static void
test_variables(void **state UNUSED)
{
    struct err e = {0};
    char **k, **v;
    size_t n;
    bool deleted = false;

    OK_EQ(store_variables_list(S, &k, &v, &n, &e), n, 0);
    assert_null(k);
    assert_int_equal(store_variable_set(S, "b", "2", &e), 0);
    assert_int_equal(store_variable_set(S, "a", "1", &e), 0);
    assert_int_equal(store_variable_set(S, "B", "3", &e), 0);
    query("INSERT INTO variable (key, val) VALUES ('n', NULL)");
    OK_EQ(store_variables_list(S, &k, &v, &n, &e), n, 4);
    assert_true(!strcmp(k[0], "B") && !strcmp(k[1], "a") && !strcmp(k[2], "b") &&
                !strcmp(k[3], "n"));
    assert_true(!strcmp(v[0], "3") && !strcmp(v[1], "1") && !strcmp(v[2], "2") && v[3] == NULL);
    store_strings_free(k, n);
    store_strings_free(v, n);

    assert_int_equal(store_variable_delete(S, "a", &deleted, &e), 0);
    assert_true(deleted);
    assert_int_equal(store_variable_delete(S, "a", &deleted, &e), 0);
    assert_false(deleted);
    assert_string_equal(query("SELECT string_agg(key, ',' ORDER BY key COLLATE \"C\") FROM "
                              "variable"),
                        "B,b,n");
}

/* ---- NOTIFY ---------------------------------------------------------------------------- */

/* Notifications S2 has now: a round trip first, so everything committed before has arrived. */
static int
notified(void)
{
    struct err e = {0};
    int count = -1, alive;

    if (store_jobs_alive(S2, NULL, 1, &alive, &e) != 0 || store_drain_notifies(S2, &count, &e) != 0)
        fail_msg("drain: %s", e.msg);
    return count;
}

static void
test_notify(void **state UNUSED)
{
    struct err e = {0};
    struct pollfd pfd;
    struct store_claim *c;
    double deadline;
    int count = 0, got, cleared;

    assert_int_equal(store_listen(S2, &e), 0);
    assert_int_equal(notified(), 0);

    /* a change on S wakes a poll() on S2's socket */
    mkrun(ETL, "r", "manual", T0);
    pfd.fd = store_socket(S2);
    pfd.events = POLLIN;
    assert_true(pfd.fd >= 0);
    for (deadline = mono() + 10; count == 0;) {
        int ms = (int)((deadline - mono()) * 1000);

        assert_true(ms > 0);
        if (poll(&pfd, 1, ms) == 1) {
            assert_int_equal(store_drain_notifies(S2, &got, &e), 0);
            count += got;
        }
    }
    assert_int_equal(count, 1);

    set_ti(S, "etl", "r", "extract", TI_NONE, TI_SCHEDULED);
    assert_int_equal(notified(), 0); /* nothing became queued */
    set_ti(S, "etl", "r", "extract", TI_SCHEDULED, TI_QUEUED);
    assert_int_equal(notified(), 1);
    assert_int_equal(claim(S, NULL, 1, 0, &c), 1);
    store_claims_free(c, 1);
    assert_int_equal(notified(), 0);
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_FAILED,
                                                             .has_exit_code = true,
                                                             .exit_code = 1,
                                                             .end = T0,
                                                             .duration = 1},
                                     &e),
                     1);
    assert_int_equal(notified(), 1);
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_FAILED,
                                                             .has_exit_code = true,
                                                             .exit_code = 1,
                                                             .end = T0,
                                                             .duration = 1},
                                     &e),
                     0); /* refused: no wake-up */
    assert_int_equal(notified(), 0);
    assert_int_equal(store_dag_set_paused(S, "etl", true, &e), 0);
    assert_int_equal(notified(), 1);
    assert_int_equal(store_runs_promote(S, "etl", 1, T0, NULL, &e), 0);
    assert_int_equal(notified(), 1);
    assert_int_equal(store_runs_promote(S, "etl", 1, T0, NULL, &e), 0);
    assert_int_equal(notified(), 0);
    assert_int_equal(store_tis_clear(S, "etl", ETL, "r", NULL, false, T0, &cleared, NULL, &e), 0);
    assert_int_equal(notified(), 1);
}

/* Whether S2 has heard that a run of etl ended (after a round trip, as notified()). */
static bool
etl_run_ended(void)
{
    struct err e = {0};
    int count = -1, alive;
    bool ended = true;

    if (store_jobs_alive(S2, NULL, 1, &alive, &e) != 0 ||
        store_drain_run_ends(S2, "etl", &count, &ended, &e) != 0)
        fail_msg("drain: %s", e.msg);
    return ended;
}

/* A watcher (gust dags trigger --wait) tells a run's end of its DAG from other notifications:
 * store_run_set_state's "ended:" with the DAG's id, not another DAG's whose id starts alike. */
static void
test_notify_run_end(void **state UNUSED)
{
    struct err e = {0};

    assert_int_equal(store_listen(S2, &e), 0);
    mkrun(ETL, "r", "manual", T0);
    assert_false(etl_run_ended()); /* "run:etl" */
    query("NOTIFY gust, 'ended:etl2'");
    assert_false(etl_run_ended());
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_false(etl_run_ended());
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_RUNNING, RUN_SUCCESS, T0 + 9, &e), 1);
    assert_true(etl_run_ended());
    assert_false(etl_run_ended()); /* taken */
}

/* S2 listens; run r of etl has its extract claimed by S. */
static void
listen_and_claim_extract(void)
{
    struct err e = {0};
    struct store_claim *c;

    assert_int_equal(store_listen(S2, &e), 0);
    mkrun(ETL, "r", "manual", T0);
    set_ti(S, "etl", "r", "extract", TI_NONE, TI_QUEUED);
    assert_int_equal(claim(S, NULL, 1, 0, &c), 1);
    store_claims_free(c, 1);
}

/* A write sent ahead (a try's pid) on a listening session: a notification that comes
 * meanwhile is still taken (store_take_notifies reads the write's results without waiting
 * for them), and the write lands. */
static void
test_sent_ahead(void **state UNUSED)
{
    struct err e = {0};
    struct store_notes notes = {0};
    double deadline = mono() + 10;
    int alive;

    listen_and_claim_extract();
    assert_int_equal(store_jobs_alive(S2, NULL, 1, &alive, &e), 0); /* past the claim's notes */
    assert_int_equal(store_take_notifies(S2, &notes, &e), 0);
    store_notes_clear(&notes);

    assert_int_equal(store_ti_set_pid(S2, "etl", "r", "extract", -1, 1, 4242, &e), 0);
    query("SELECT pg_notify('gust', 'pause:etl')");
    do {
        store_notes_clear(&notes);
        struct pollfd pfd = {.fd = store_socket(S2), .events = POLLIN};

        poll(&pfd, 1, 100);
        assert_int_equal(store_take_notifies(S2, &notes, &e), 0);
    } while (notes.count == 0 && mono() < deadline);
    assert_int_equal(notes.count, 1);
    assert_int_equal(notes.n_dags, 1);
    assert_string_equal(notes.dags[0], "etl");
    store_notes_clear(&notes);
    assert_int_equal(store_jobs_alive(S2, NULL, 1, &alive, &e), 0); /* S2 used again */
    assert_string_equal(query("SELECT pid FROM task_instance WHERE task_id = 'extract'"), "4242");
}

/* What notifications say (store_take_notifies): a try's end names its task instance, which
 * store_ti_get reads back alone; a run made, instances queued, a branch's end (its skips
 * change other rows) name their DAG; any other kind of notification and a malformed one are
 * `other`. */
static void
test_notes(void **state UNUSED)
{
    struct err e = {0};
    struct store_notes notes;
    struct store_claim *c;
    struct store_ti ti;
    bool found = true;
    int alive;

    listen_and_claim_extract();
    assert_int_equal(store_jobs_alive(S2, NULL, 1, &alive, &e), 0); /* a round trip */
    assert_int_equal(store_take_notifies(S2, &notes, &e), 0);
    assert_true(notes.count >= 1); /* the run, the queued task */
    assert_false(notes.other);
    assert_int_equal(notes.n_ended, 0);
    assert_int_equal((int)notes.n_dags, notes.count);
    for (size_t i = 0; i < notes.n_dags; i++)
        assert_string_equal(notes.dags[i], "etl");
    store_notes_clear(&notes);

    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_FAILED,
                                                             .has_exit_code = true,
                                                             .exit_code = 3,
                                                             .end = T0,
                                                             .duration = 1},
                                     &e),
                     1);
    assert_int_equal(store_jobs_alive(S2, NULL, 1, &alive, &e), 0);
    assert_int_equal(store_take_notifies(S2, &notes, &e), 0);
    assert_int_equal(notes.count, 1);
    assert_false(notes.other);
    assert_int_equal(notes.n_ended, 1);
    assert_string_equal(notes.ended[0].dag_id, "etl");
    assert_string_equal(notes.ended[0].run_id, "r");
    assert_string_equal(notes.ended[0].task_id, "extract");
    assert_int_equal(notes.ended[0].map_index, -1);
    assert_int_equal(store_ti_get(S2, &notes.ended[0], &ti, &found, &e), 0);
    assert_true(found);
    assert_string_equal(ti.task_id, "extract");
    assert_int_equal(ti.state, TI_FAILED);
    assert_int_equal(ti.try_number, 1);
    assert_int_equal(ti.exit_code, 3);
    store_ti_clear(&ti);
    notes.ended[0].map_index = 4;
    assert_int_equal(store_ti_get(S2, &notes.ended[0], &ti, &found, &e), 0);
    assert_false(found);
    store_notes_clear(&notes);

    /* a branch's end: other rows change too */
    set_ti(S, "etl", "r", "transform", TI_NONE, TI_QUEUED);
    assert_int_equal(claim(S, NULL, 1, 0, &c), 1);
    store_claims_free(c, 1);
    assert_int_equal(store_ti_finish(S, "etl", "r", "transform", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_SUCCESS,
                                                             .end = T0,
                                                             .duration = 1,
                                                             .skip_json = "[\"load\"]"},
                                     &e),
                     1);
    assert_int_equal(store_jobs_alive(S2, NULL, 1, &alive, &e), 0);
    assert_int_equal(store_take_notifies(S2, &notes, &e), 0);
    assert_false(notes.other); /* the queued transform's, the branch's */
    assert_int_equal(notes.n_ended, 0);
    assert_int_equal((int)notes.n_dags, notes.count);
    assert_int_equal(notes.count, 2);
    assert_string_equal(notes.dags[0], "etl");
    assert_string_equal(notes.dags[1], "etl");
    store_notes_clear(&notes);

    /* malformed ends, notifications of no known kind or with no DAG */
    /* sent by psql: another session, counted */
    const char *bad[] = {"finished:etl",
                         "finished:etl\\tr\\textract",
                         "finished:etl\\tr\\textract\\tx",
                         "finished:\\tr\\textract\\t1",
                         "finished:etl\\tr\\textract\\t-2",
                         "hello",
                         "run:",
                         "queued",
                         "Run:etl"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT pg_notify('gust', E'%s')", bad[i]);
        query(sql);
        assert_int_equal(store_jobs_alive(S2, NULL, 1, &alive, &e), 0);
        assert_int_equal(store_take_notifies(S2, &notes, &e), 0);
        assert_int_equal(notes.count, 1);
        if (!notes.other)
            fail_msg("'%s' was read as a try's end or a DAG's change", bad[i]);
        store_notes_clear(&notes);
    }
}

/* ---- reconnection ---------------------------------------------------------------------- */

static void
test_reconnect(void **state UNUSED)
{
    struct err e = {0};
    struct store_claim *c;
    size_t n;
    int alive = -1;

    assert_int_equal(store_listen(S2, &e), 0);
    /* the server ends every gust session on the database (S and S2) */
    assert_string_equal(query("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                              "FROM pg_stat_activity WHERE datname = '" DB "' AND "
                              "application_name = 'gust'"),
                        "2");
    assert_int_equal(store_claim_queued(S, NULL, 1, "h", 0, 0, 60, T0, &c, &n, &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_true(e.temporary);
    assert_int_equal(store_jobs_alive(S2, NULL, 60, &alive, &e), -1);
    assert_true(e.temporary);

    assert_int_equal(store_reconnect(S, &e), 0);
    assert_int_equal(store_reconnect(S2, &e), 0);
    OK_EQ(store_jobs_alive(S, NULL, 60, &alive, &e), alive, 0);
    assert_int_equal(notified(), 0);
    /* S2 listens again on its new session */
    mkrun(ETL, "r", "manual", T0);
    assert_int_equal(notified(), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_jobs, setup),
        cmocka_unit_test_setup(test_claim_two_connections, setup),
        cmocka_unit_test_setup(test_claim_filters, setup),
        cmocka_unit_test_setup(test_claim_past_full_pool, setup),
        cmocka_unit_test_setup(test_claim_order_index, setup),
        cmocka_unit_test_setup(test_claim_stale_statistics, setup),
        cmocka_unit_test_setup(test_key_lookup_index, setup),
        cmocka_unit_test_setup(test_leases_renew, setup),
        cmocka_unit_test_setup(test_leases_expired, setup),
        cmocka_unit_test_setup(test_promote, setup),
        cmocka_unit_test_setup(test_promote_serialized, setup),
        cmocka_unit_test_setup(test_runs_active, setup),
        cmocka_unit_test_setup(test_runs_timeout, setup),
        cmocka_unit_test_setup(test_sync_tasks, setup),
        cmocka_unit_test_setup(test_prev_ti_state, setup),
        cmocka_unit_test_setup(test_pause, setup),
        cmocka_unit_test_setup(test_sched_states, setup),
        cmocka_unit_test_setup(test_variables, setup),
        cmocka_unit_test_setup(test_notify, setup),
        cmocka_unit_test_setup(test_notify_run_end, setup),
        cmocka_unit_test_setup(test_sent_ahead, setup),
        cmocka_unit_test_setup(test_notes, setup),
        cmocka_unit_test_setup(test_reconnect, setup),
    };

    return pgtest_run_group_tests(tests, setup, group_setup, group_teardown);
}

/* test_store_run: runs, task instances, tries, XCom, clear, variables and the audit log
 * (store_run.c, store_kv.c) against the test run's real PostgreSQL (tests/run.sh starts it and
 * exports PG*); skipped when no PGHOST is set. The file makes its own database,
 * gust_unit_store_run, migrates it once, and empties the tables before each test. What the API
 * does not return is checked with psql. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "runid.h"
#include "store/store.h"

#define DB "gust_unit_store_run"
#include "pgtest.h"
#define T0 1700000000 /* 2023-11-14T22:13:20Z */

static struct store *S;
static struct dagbag *BAG;
static const struct dag *ETL, *OTHER;

static const char DAGS[] = "etl:\n"
                           "  default_args: {owner: alice, retries: 2}\n"
                           "  tasks:\n"
                           "    - task_id: extract\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: echo e\n"
                           "    - task_id: transform\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: echo t\n"
                           "      retries: 0\n"
                           "      trigger_rule: all_done\n"
                           "      dependencies: [extract]\n"
                           "    - task_id: load\n"
                           "      operator: airflow.operators.empty.EmptyOperator\n"
                           "      pool: p1\n"
                           "      dependencies: [transform]\n"
                           "other:\n"
                           "  tasks:\n"
                           "    - task_id: only\n"
                           "      operator: airflow.operators.empty.EmptyOperator\n";

/* ---- harness ------------------------------------------------------------------------- */

/* Once per file: the database, migrated, and the DAGs. */
static int
group_setup(void **state)
{
    struct err e = {0};

    (void)state;
    BAG = dagbag_new();
    if (dagbag_load_string(BAG, "dags/etl.yaml", DAGS, strlen(DAGS)) != 0)
        return -1;
    ETL = dagbag_find(BAG, "etl");
    OTHER = dagbag_find(BAG, "other");
    if (getenv("PGHOST") == NULL)
        return 0;
    if (pgtest_recreate_db() != 0)
        return -1;
    if ((S = store_open("dbname=" DB, &e)) == NULL || store_migrate(S, NULL, &e) != 0) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    store_free(S);
    dagbag_free(BAG);
    return 0;
}

/* Before each test: skip without a database, else empty every table this API writes. */
static int
setup(void **state)
{
    (void)state;
    if (S == NULL)
        skip();
    query("TRUNCATE dag, dag_run, task_instance, task_instance_history, xcom, log, variable "
          "RESTART IDENTITY CASCADE");
    return 0;
}

static long long
mkrun(const struct dag *d, const char *run_id, time_t logical)
{
    struct err e = {0};
    long long id = 0;

    if (store_run_create(S, d, run_id, "manual", logical, logical - 86400, logical, NULL, "cli", T0,
                         &id, &e) != 0)
        fail_msg("store_run_create %s: %s", run_id, e.msg);
    return id;
}

static void
apply1(const char *run_id, const char *task, enum ti_state from, enum ti_state to, int want)
{
    struct store_ti_change c = {task, -1, from, to};
    struct err e = {0};
    int applied = -1;

    if (store_tis_apply(S, "etl", run_id, &c, 1, T0, &applied, &e) != 0)
        fail_msg("apply %s: %s", task, e.msg);
    assert_int_equal(applied, want);
}

/* Queue task and start a try on it; returns the try number. */
static int
start(const char *run_id, const char *task, enum ti_state from, time_t now)
{
    struct err e = {0};
    int try_number = -1;

    apply1(run_id, task, from, TI_QUEUED, 1);
    assert_int_equal(
        store_ti_start(S, "etl", run_id, task, -1, "host1", 0, now, 60, &try_number, &e), 1);
    return try_number;
}

static void
finish(const char *run_id, const char *task, int try_number, enum ti_state to, int code, int want)
{
    struct err e = {0};
    int rc = store_ti_finish(
        S, "etl", run_id, task, -1,
        &(struct store_try_end){.try_number = try_number,
                                .state = to,
                                .has_exit_code = true,
                                .exit_code = code,
                                .end = T0 + 30,
                                .duration = 12.5,
                                .next_retry_at = to == TI_UP_FOR_RETRY ? T0 + 330 : 0},
        &e);

    if (rc < 0)
        fail_msg("finish %s: %s", task, e.msg);
    assert_int_equal(rc, want);
}

/* ---- runs ---------------------------------------------------------------------------- */

static void
test_create_run(void **state)
{
    struct err e = {0};
    struct store_run r;
    struct store_ti *tis;
    size_t n;
    long long id = 0;

    (void)state;
    assert_int_equal(store_run_create(S, ETL, "manual__1", "manual", T0, T0 - 86400, T0,
                                      "{\"a\": 1}", "cli", T0 + 5, &id, &e),
                     0);
    assert_true(id > 0);
    assert_int_equal(store_run_get(S, "etl", "manual__1", &r, &e), 0);
    assert_int_equal(r.id, id);
    assert_string_equal(r.dag_id, "etl");
    assert_string_equal(r.run_type, "manual");
    assert_int_equal(r.state, RUN_QUEUED);
    assert_int_equal(r.logical_date, T0);
    assert_int_equal(r.data_interval_start, T0 - 86400);
    assert_int_equal(r.data_interval_end, T0);
    assert_int_equal(r.queued_at, T0 + 5);
    assert_int_equal(r.start_date, 0);
    assert_int_equal(r.end_date, 0);
    assert_string_equal(r.conf_json, "{\"a\": 1}");
    assert_string_equal(r.triggered_by, "cli");
    store_run_clear(&r);
    store_run_clear(NULL);
    /* a logical date with microseconds (Airflow's manual runs have them): whole seconds plus
     * the microseconds the retry jitter hashes */
    query("UPDATE dag_run SET logical_date = logical_date + interval '0.123456 s' "
          "WHERE run_id = 'manual__1'");
    assert_int_equal(store_run_get(S, "etl", "manual__1", &r, &e), 0);
    assert_int_equal(r.logical_date, T0);
    assert_int_equal(r.logical_usec, 123456);
    store_run_clear(&r);
    query("UPDATE dag_run SET logical_date = logical_date - interval '0.123456 s' "
          "WHERE run_id = 'manual__1'");

    /* task instances: task_id order, max_tries = retries, operator, pool, trigger rule */
    assert_int_equal(store_tis_get(S, "etl", "manual__1", &tis, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(tis[0].task_id, "extract");
    assert_string_equal(tis[1].task_id, "load");
    assert_string_equal(tis[2].task_id, "transform");
    assert_int_equal(tis[0].max_tries, 2);
    assert_int_equal(tis[1].max_tries, 2);
    assert_int_equal(tis[2].max_tries, 0);
    assert_string_equal(tis[0].operator, "BashOperator");
    assert_string_equal(tis[1].operator, "EmptyOperator");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tis[i].state, TI_NONE);
        assert_int_equal(tis[i].try_number, 0);
        assert_null(tis[i].hostname);
        assert_int_equal(tis[i].pid, 0);
        assert_true(tis[i].duration < 0);
        assert_false(tis[i].has_exit_code);
    }
    store_tis_free(tis, n);
    assert_string_equal(query("SELECT task_id, pool, queue, trigger_rule FROM task_instance "
                              "ORDER BY task_id"),
                        "extract|default_pool|default|all_success|load|p1|default|all_success|"
                        "transform|default_pool|default|all_done");
    assert_string_equal(query("SELECT dag_id, fileloc, owners FROM dag"),
                        "etl|dags/etl.yaml|alice");
    assert_string_equal(query("SELECT event, dag_id, run_id, owner, extra, "
                              "dttm = to_timestamp(1700000005) FROM log"),
                        "trigger|etl|manual__1|cli|{\"a\": 1}|t");

    /* the same run id again: ERR_EXISTS, nothing written */
    assert_int_equal(store_run_create(S, ETL, "manual__1", "manual", T0 + 60, 0, 0, NULL, NULL,
                                      T0 + 60, &id, &e),
                     -1);
    assert_int_equal(e.code, ERR_EXISTS);
    assert_string_equal(e.msg, "run 'manual__1' of DAG 'etl' already exists");
    assert_string_equal(query("SELECT (SELECT count(*) FROM dag_run), (SELECT count(*) FROM "
                              "task_instance), (SELECT count(*) FROM log)"),
                        "1|3|1");

    /* a bad run type fails as a whole too (no dag row left behind for another DAG) */
    assert_int_equal(
        store_run_create(S, OTHER, "x", "nonsense", T0, 0, 0, NULL, NULL, T0, NULL, &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_string_equal(query("SELECT count(*) FROM dag WHERE dag_id = 'other'"), "0");
}

/* Every way of making a run ends in store_run_create, which keeps Airflow's run id rule; manual
 * runs named after one microsecond (the test clock) each get their own id, and the logical
 * date is the second that id names. */
static void
test_create_run_ids(void **state)
{
    (void)state;
    struct err e = {0};
    char id1[RUNID_SIZE], id2[RUNID_SIZE];

    assert_int_equal(store_run_create(S, ETL, "p/q", "manual", T0, 0, 0, NULL, NULL, T0, NULL, &e),
                     -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "character '/' at position 2"));
    assert_string_equal(query("SELECT count(*) FROM dag_run"), "0");

    setenv("GUST_TEST_RUNID_NOW", "1700000000.999999", 1);
    assert_int_equal(store_run_create_manual(S, ETL, NULL, "cli", id1, sizeof(id1), NULL, &e), 0);
    assert_int_equal(store_run_create_manual(S, ETL, NULL, "cli", id2, sizeof(id2), NULL, &e), 0);
    unsetenv("GUST_TEST_RUNID_NOW");
    assert_string_equal(id1, "manual__2023-11-14T22:13:20.999999+00:00");
    assert_true(strcmp(id2, id1) > 0); /* a later microsecond: here the next second's */
    assert_string_equal(query("SELECT count(*) FROM dag_run WHERE to_char(logical_date AT TIME "
                              "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') = substr(run_id, 9, 19)"),
                        "2");
}

static void
test_get_list_runs(void **state)
{
    struct err e = {0};
    struct store_run *runs, r;
    size_t n;

    (void)state;
    mkrun(ETL, "r1", T0);
    mkrun(ETL, "r3", T0 + 7200);
    mkrun(ETL, "r2", T0 + 3600);
    mkrun(OTHER, "r9", T0 + 9999);
    assert_int_equal(store_run_set_state(S, "etl", "r2", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);

    assert_int_equal(store_runs_list(S, "etl", NULL, 0, &runs, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(runs[0].run_id, "r3");
    assert_string_equal(runs[1].run_id, "r2");
    assert_string_equal(runs[2].run_id, "r1");
    assert_int_equal(runs[1].state, RUN_RUNNING);
    assert_string_equal(runs[0].conf_json, "{}"); /* NULL conf */
    store_runs_free(runs, n);

    assert_int_equal(store_runs_list(S, "etl", "running", 0, &runs, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].run_id, "r2");
    store_runs_free(runs, n);
    assert_int_equal(store_runs_list(S, "etl", "queued", 1, &runs, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].run_id, "r3");
    store_runs_free(runs, n);
    assert_int_equal(store_runs_list(S, "etl", "success", 0, &runs, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(runs);
    store_runs_free(runs, n);

    assert_int_equal(store_runs_list(S, "etl", "bogus", 0, &runs, &n, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_int_equal(store_run_get(S, "etl", "nope", &r, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(e.msg, "run 'nope' of DAG 'etl' not found");
}

static void
test_run_transitions(void **state)
{
    struct err e = {0};
    struct store_run r;

    (void)state;
    mkrun(ETL, "r", T0);
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_QUEUED, RUN_RUNNING, T0 + 10, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_QUEUED, RUN_RUNNING, T0 + 11, &e), 0);
    assert_int_equal(store_run_get(S, "etl", "r", &r, &e), 0);
    assert_int_equal(r.state, RUN_RUNNING);
    assert_int_equal(r.start_date, T0 + 10);
    assert_int_equal(r.end_date, 0);
    store_run_clear(&r);

    /* a clock behind the start: end_date is clamped to start_date (a CHECK) */
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_RUNNING, RUN_SUCCESS, T0 + 5, &e), 1);
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_RUNNING, RUN_FAILED, T0 + 20, &e), 0);
    assert_int_equal(store_run_get(S, "etl", "r", &r, &e), 0);
    assert_int_equal(r.state, RUN_SUCCESS);
    assert_int_equal(r.end_date, T0 + 10);
    store_run_clear(&r);

    /* back to queued: queued_at now, start and end cleared */
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_SUCCESS, RUN_QUEUED, T0 + 50, &e), 1);
    assert_int_equal(store_run_get(S, "etl", "r", &r, &e), 0);
    assert_int_equal(r.queued_at, T0 + 50);
    assert_int_equal(r.start_date, 0);
    assert_int_equal(r.end_date, 0);
    store_run_clear(&r);

    /* the dates keep microseconds, as task_instance's */
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_QUEUED, RUN_RUNNING, T0 + 60.25, &e),
                     1);
    assert_int_equal(
        store_run_set_state(S, "etl", "r", RUN_RUNNING, RUN_SUCCESS, T0 + 61.000125, &e), 1);
    assert_string_equal(query("SELECT extract(epoch FROM end_date - start_date) FROM dag_run "
                              "WHERE run_id = 'r'"),
                        "0.750125");

    assert_int_equal(store_run_set_state(S, "etl", "nope", RUN_QUEUED, RUN_RUNNING, T0, &e), 0);
    assert_int_equal(store_run_set_state(S, "etl", "r", RUN_QUEUED, (enum run_state)9, T0, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
}

/* ---- task instances ------------------------------------------------------------------ */

static void
test_tis_apply_race(void **state)
{
    struct err e = {0};
    struct store *other = store_open("dbname=" DB, &e);
    struct store_ti_change c[] = {
        {"extract", -1, TI_NONE, TI_SCHEDULED},
        {"load", -1, TI_NONE, TI_SCHEDULED},
        {"transform", -1, TI_NONE, TI_UPSTREAM_FAILED},
    };
    struct store_ti_change q = {"load", -1, TI_NONE, TI_QUEUED};
    int applied[3] = {-1, -1, -1};
    struct store_ti *tis;
    size_t n;

    (void)state;
    assert_non_null(other);
    mkrun(ETL, "r", T0);
    assert_int_equal(store_tis_apply(S, "etl", "r", NULL, 0, T0, NULL, &e), 0); /* no-op */
    /* another scheduler got to "load" first */
    assert_int_equal(store_tis_apply(other, "etl", "r", &q, 1, T0 + 1, applied, &e), 0);
    assert_int_equal(applied[0], 1);
    store_free(other);

    assert_int_equal(store_tis_apply(S, "etl", "r", c, 3, T0 + 2, applied, &e), 0);
    assert_int_equal(applied[0], 1);
    assert_int_equal(applied[1], 0);
    assert_int_equal(applied[2], 1);
    assert_int_equal(store_tis_get(S, "etl", "r", &tis, &n, &e), 0);
    assert_int_equal(tis[0].state, TI_SCHEDULED);
    assert_int_equal(tis[1].state, TI_QUEUED);
    assert_int_equal(tis[1].queued_dttm, T0 + 1);
    assert_int_equal(tis[2].state, TI_UPSTREAM_FAILED);
    assert_int_equal(tis[0].queued_dttm, 0);
    store_tis_free(tis, n);

    /* to none (SQL NULL) and from none work as values, not as "anything" */
    c[0] = (struct store_ti_change){"transform", -1, TI_UPSTREAM_FAILED, TI_NONE};
    c[1] = (struct store_ti_change){"transform", -1, TI_UPSTREAM_FAILED, TI_SKIPPED};
    assert_int_equal(store_tis_apply(S, "etl", "r", c, 2, T0, applied, &e), 0);
    assert_int_equal(applied[0], 1);
    assert_int_equal(applied[1], 0);
    assert_string_equal(query("SELECT state IS NULL FROM task_instance WHERE task_id = "
                              "'transform'"),
                        "t");

    /* a bad state in the batch: error, and nothing of the batch is applied */
    c[0] = (struct store_ti_change){"transform", -1, TI_NONE, TI_SCHEDULED};
    c[1] = (struct store_ti_change){"extract", -1, TI_SCHEDULED, (enum ti_state)42};
    assert_int_equal(store_tis_apply(S, "etl", "r", c, 2, T0, applied, &e), -1);
    assert_int_equal(applied[0], 0);
    assert_string_equal(query("SELECT state IS NULL FROM task_instance WHERE task_id = "
                              "'transform'"),
                        "t");
}

static void
test_start_and_finish(void **state)
{
    struct err e = {0};
    struct store_ti *tis;
    size_t n;
    int try_number = -1;

    (void)state;
    mkrun(ETL, "r", T0);
    /* not queued: refused */
    assert_int_equal(store_ti_start(S, "etl", "r", "extract", -1, "h", 1, T0, 60, &try_number, &e),
                     0);
    apply1("r", "extract", TI_NONE, TI_QUEUED, 1);
    assert_int_equal(
        store_ti_start(S, "etl", "r", "extract", -1, "host1", 0, T0 + 100, 60, &try_number, &e), 1);
    assert_int_equal(try_number, 1);
    assert_int_equal(
        store_ti_start(S, "etl", "r", "extract", -1, "host2", 0, T0 + 101, 60, &try_number, &e), 0);
    assert_string_equal(query("SELECT state, try_number, hostname, pid IS NULL, "
                              "lease_until = to_timestamp(1700000160) FROM task_instance "
                              "WHERE task_id = 'extract'"),
                        "running|1|host1|t|t");
    /* sent ahead: the next statement of S reads its outcome first (a read back here) */
    assert_int_equal(store_ti_set_pid(S, "etl", "r", "extract", -1, 2, 4242, &e), 0);
    assert_int_equal(store_tis_get(S, "etl", "r", &tis, &n, &e), 0);
    assert_int_equal(tis[0].pid, 0); /* not that try: nothing written */
    store_tis_free(tis, n);
    assert_int_equal(store_ti_set_pid(S, "etl", "r", "extract", -1, 1, 4242, &e), 0);
    assert_int_equal(store_tis_get(S, "etl", "r", &tis, &n, &e), 0);
    assert_string_equal(tis[0].task_id, "extract");
    assert_int_equal(tis[0].pid, 4242);
    store_tis_free(tis, n);

    /* a stale try number is refused and writes nothing */
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 2,
                                                             .state = TI_SUCCESS,
                                                             .has_exit_code = true,
                                                             .end = T0 + 130,
                                                             .duration = 30},
                                     &e),
                     0);
    assert_string_equal(query("SELECT state, (SELECT count(*) FROM task_instance_history) FROM "
                              "task_instance WHERE task_id = 'extract'"),
                        "running|0");
    /* killed by a signal; the right try wins once */
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_UP_FOR_RETRY,
                                                             .term_signal = 9,
                                                             .end = T0 + 130,
                                                             .duration = 30.25,
                                                             .next_retry_at = T0 + 429.5},
                                     &e),
                     1);
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_FAILED,
                                                             .has_exit_code = true,
                                                             .exit_code = 1,
                                                             .end = T0 + 140,
                                                             .duration = 40},
                                     &e),
                     0);
    assert_int_equal(store_tis_get(S, "etl", "r", &tis, &n, &e), 0);
    assert_int_equal(tis[0].state, TI_UP_FOR_RETRY);
    assert_int_equal(tis[0].start_date, T0 + 100);
    assert_int_equal(tis[0].end_date, T0 + 130);
    assert_int_equal(tis[0].next_retry_at, T0 + 430); /* T0 + 429.5 rounded up, never early */
    assert_true(tis[0].duration == 30.25);
    assert_false(tis[0].has_exit_code);
    assert_int_equal(tis[0].term_signal, 9);
    assert_int_equal(tis[0].pid, 4242);
    assert_string_equal(tis[0].hostname, "host1");
    store_tis_free(tis, n);
    assert_string_equal(query("SELECT task_id, try_number, state, term_signal, exit_code IS NULL, "
                              "pid, hostname, duration FROM task_instance_history"),
                        "extract|1|up_for_retry|9|t|4242|host1|30.25");
    assert_string_equal(query("SELECT lease_until IS NULL FROM task_instance "
                              "WHERE task_id = 'extract'"),
                        "t");
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1,
                                     &(struct store_try_end){.try_number = 1,
                                                             .state = TI_QUEUED,
                                                             .has_exit_code = true,
                                                             .end = T0,
                                                             .duration = 0},
                                     &e),
                     -1);
    assert_int_equal(e.code, ERR_USAGE);
}

static void
test_tries_history(void **state)
{
    struct err e = {0};
    struct store_try *t;
    size_t n;

    (void)state;
    mkrun(ETL, "r", T0);
    assert_int_equal(start("r", "extract", TI_NONE, T0 + 1), 1);
    finish("r", "extract", 1, TI_UP_FOR_RETRY, 1, 1);
    apply1("r", "extract", TI_UP_FOR_RETRY, TI_SCHEDULED, 1);
    assert_int_equal(start("r", "extract", TI_SCHEDULED, T0 + 400), 2);
    finish("r", "extract", 2, TI_SUCCESS, 0, 1);
    assert_int_equal(start("r", "transform", TI_NONE, T0 + 500), 1); /* still running */
    apply1("r", "load", TI_NONE, TI_SCHEDULED, 1);                   /* never started */

    assert_string_equal(query("SELECT count(*) FROM task_instance_history"), "2");
    assert_int_equal(store_tries_get(S, "etl", "r", &t, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].task_id, "extract");
    assert_int_equal(t[0].try_number, 1);
    assert_int_equal(t[0].state, TI_UP_FOR_RETRY);
    assert_true(t[0].has_exit_code);
    assert_int_equal(t[0].exit_code, 1);
    assert_int_equal(t[0].start_date, T0 + 1);
    assert_int_equal(t[0].end_date, T0 + 30);
    assert_true(t[0].duration == 12.5);
    assert_string_equal(t[0].hostname, "host1");
    assert_string_equal(t[1].task_id, "extract");
    assert_int_equal(t[1].try_number, 2);
    assert_int_equal(t[1].state, TI_SUCCESS);
    assert_int_equal(t[1].start_date, T0 + 400);
    assert_string_equal(t[2].task_id, "transform");
    assert_int_equal(t[2].try_number, 1);
    assert_int_equal(t[2].state, TI_RUNNING);
    assert_int_equal(t[2].end_date, 0);
    assert_true(t[2].duration < 0);
    assert_false(t[2].has_exit_code);
    store_tries_free(t, n);

    assert_int_equal(store_tries_get(S, "etl", "nope", &t, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(t);
}

/* ---- XCom ---------------------------------------------------------------------------- */

/* A try's XCom is written with its end, in the same statement: only when the end wins. */
static void
test_finish_with_xcom(void **state)
{
    struct err e = {0};
    struct store_try_end end = {
        .state = TI_SUCCESS, .end = T0 + 30, .duration = 1, .xcom_json = "\"late\""};

    (void)state;
    mkrun(ETL, "r", T0);
    end.try_number = start("r", "extract", TI_NONE, T0) + 1; /* a stale try number */
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1, &end, &e), 0);
    assert_string_equal(query("SELECT count(*) FROM xcom"), "0");
    end.try_number--;
    end.xcom_json = "{\"n\": 7}";
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1, &end, &e), 1);
    assert_string_equal(query("SELECT task_id, key, value FROM xcom"),
                        "extract|return_value|{\"n\": 7}");
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1, &end, &e), 0); /* once only */
}

/* A store whose commits wait for the disk, as on a production server: the test cluster runs
 * with synchronous_commit off. */
static struct store *
open_sync(void)
{
    struct err e = {0};
    struct store *sync;
    const char *old = getenv("PGOPTIONS");
    char *saved = old ? strdup(old) : NULL;

    setenv("PGOPTIONS", "-c synchronous_commit=on", 1);
    sync = store_open("dbname=" DB, &e);
    if (saved)
        setenv("PGOPTIONS", saved, 1);
    else
        unsetenv("PGOPTIONS");
    free(saved);
    if (sync == NULL)
        fail_msg("store_open: %s", e.msg);
    return sync;
}

/* A try's end commits lazily (no disk wait) and store_durable then flushes the WAL up to it
 * with one synchronous commit; a lazy statement that fails leaves the session usable (out of
 * pipeline mode, no transaction open). */
static void
test_lazy_end_durable(void **state)
{
    struct err e = {0};
    struct store *sync = open_sync();
    char lsn[64], cond[160];
    long long job = 0;
    struct store_try_end end = {.state = TI_SUCCESS, .end = T0 + 30, .duration = 1};

    (void)state;
    assert_int_equal(store_job_start(sync, "LocalTaskJob", "host1", 0, &job, &e), 0);
    mkrun(ETL, "r", T0);
    end.try_number = start("r", "extract", TI_NONE, T0);
    /* the WAL writer must not flush on its own meanwhile: the test's server has the default
     * wal_writer_delay of 200 ms, so the check below only holds when store_durable flushed */
    assert_int_equal(store_ti_finish(sync, "etl", "r", "extract", -1, &end, &e), 1);
    snprintf(lsn, sizeof(lsn), "%s", query("SELECT pg_current_wal_insert_lsn()"));
    assert_int_equal(store_durable(sync, &e), 0);
    snprintf(cond, sizeof(cond), "SELECT pg_current_wal_flush_lsn() >= '%s'::pg_lsn", lsn);
    assert_string_equal(query(cond), "t");
    assert_int_equal(store_durable(sync, &e), 0); /* nothing left: no statement */
    assert_string_equal(query("SELECT state FROM task_instance WHERE task_id = 'extract'"),
                        "success");

    /* a lazy statement that fails: an error, then the next statements work */
    assert_int_equal(store_xcom_set(sync, "etl", "r", "extract", -1, "k", "{not json", &e), -1);
    assert_non_null(strstr(e.msg, "json"));
    assert_int_equal(store_xcom_set(sync, "etl", "r", "extract", -1, "k", "[1]", &e), 0);
    assert_int_equal(store_variable_set(sync, "after", "ok", &e), 0);
    assert_string_equal(query("SELECT value FROM xcom WHERE key = 'k'"), "[1]");
    store_free(sync);
}

/* A lazy write's statement runs in the transaction whose commit does not wait for the disk
 * (the setting and the statement are one transaction, up to the pipeline's sync), and the
 * setting does not outlive it. A trigger records the synchronous_commit each write saw. */
static void
test_lazy_setting(void **state)
{
    struct err e = {0};
    struct store *sync = open_sync();

    (void)state;
    query("CREATE TABLE seen (n serial, v text)");
    query("CREATE FUNCTION seen_rec() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "INSERT INTO seen (v) VALUES (TG_TABLE_NAME || '=' || "
          "current_setting('synchronous_commit')); RETURN NEW; END $$");
    query("CREATE TRIGGER seen_x BEFORE INSERT ON xcom "
          "FOR EACH ROW EXECUTE FUNCTION seen_rec()");
    query(
        "CREATE TRIGGER seen_r BEFORE UPDATE ON dag_run FOR EACH ROW EXECUTE FUNCTION seen_rec()");
    mkrun(ETL, "r", T0);
    assert_int_equal(store_xcom_set(sync, "etl", "r", "extract", -1, "k", "[1]", &e), 0);
    assert_int_equal(store_run_set_state(sync, "etl", "r", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_int_equal(store_xcom_set(sync, "etl", "r", "extract", -1, "k2", "[2]", &e), 0);
    assert_string_equal(query("SELECT string_agg(v, ' ' ORDER BY n) FROM seen"),
                        "xcom=off dag_run=on xcom=off");
    query("DROP TABLE seen; DROP FUNCTION seen_rec() CASCADE");
    store_free(sync);
}

/* A branch's skips go with its end, in the same statement: only when the end wins, and only
 * to task instances that have not started. */
static void
test_finish_with_skips(void **state)
{
    struct err e = {0};
    struct store_try_end end = {.state = TI_SUCCESS,
                                .end = T0 + 30,
                                .duration = 1,
                                .skip_json = "[\"transform\", \"load\"]"};

    (void)state;
    mkrun(ETL, "r", T0);
    end.try_number = start("r", "extract", TI_NONE, T0) + 1; /* a stale try number */
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1, &end, &e), 0);
    assert_string_equal(query("SELECT count(*) FROM task_instance WHERE state = 'skipped'"), "0");
    apply1("r", "load", TI_NONE, TI_QUEUED, 1); /* started meanwhile: not the branch's to skip */
    end.try_number--;
    assert_int_equal(store_ti_finish(S, "etl", "r", "extract", -1, &end, &e), 1);
    assert_string_equal(query("SELECT string_agg(task_id || '=' || coalesce(state, 'none'), ' ' "
                              "ORDER BY task_id) FROM task_instance WHERE run_id = 'r'"),
                        "extract=success load=queued transform=skipped");
    assert_string_equal(query("SELECT end_date = to_timestamp(1700000030) FROM task_instance "
                              "WHERE task_id = 'transform'"),
                        "t");
    end.skip_json = NULL; /* no skips: nothing else changes */
    mkrun(ETL, "r2", T0 + 86400);
    end.try_number = start("r2", "extract", TI_NONE, T0);
    assert_int_equal(store_ti_finish(S, "etl", "r2", "extract", -1, &end, &e), 1);
    assert_string_equal(query("SELECT count(*) FROM task_instance WHERE run_id = 'r2' AND "
                              "state = 'skipped'"),
                        "0");
}

static void
test_xcom(void **state)
{
    struct err e = {0};
    char *json = NULL, *big;
    size_t big_len = 2u << 20;

    (void)state;
    mkrun(ETL, "r", T0);
    assert_int_equal(store_xcom_get(S, "etl", "r", "extract", -1, "return_value", &json, &e), 0);
    assert_null(json);
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "return_value",
                                    "{\"pages\":531, \"b\":[1,2]}", &e),
                     0);
    assert_int_equal(store_xcom_get(S, "etl", "r", "extract", -1, "return_value", &json, &e), 0);
    assert_string_equal(json, "{\"b\": [1, 2], \"pages\": 531}"); /* JSONB's normal form */
    free(json);
    /* overwrite; unicode, escaped or not, comes back as UTF-8 */
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "return_value",
                                    "{\"city\": \"Z\\u00fcrich\", \"s\": \"\xe6\x9d\xb1\xf0\x9f\x98"
                                    "\x80\", \"q\": \"a\\\"b\\n\"}",
                                    &e),
                     0);
    assert_int_equal(store_xcom_get(S, "etl", "r", "extract", -1, "return_value", &json, &e), 0);
    assert_string_equal(json, "{\"q\": \"a\\\"b\\n\", \"s\": \"\xe6\x9d\xb1\xf0\x9f\x98\x80\", "
                              "\"city\": \"Z\xc3\xbc"
                              "rich\"}");
    free(json);
    assert_string_equal(query("SELECT count(*) FROM xcom"), "1");

    /* a 2 MiB string value round-trips */
    big = malloc(big_len + 3);
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'x', big_len);
    memcpy(big + 1 + big_len, "\"", 2);
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "big", big, &e), 0);
    assert_int_equal(store_xcom_get(S, "etl", "r", "extract", -1, "big", &json, &e), 0);
    assert_string_equal(json, big);
    free(json);
    free(big);
    assert_int_equal(store_xcom_set(S, "etl", "r", "load", -1, "k", "7", &e), 0);

    /* errors: bad JSON, unknown run, no value */
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "bad", "{nope", &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_int_equal(store_xcom_set(S, "etl", "nope", "extract", -1, "k", "1", &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "k", NULL, &e), -1);

    /* clear deletes every key of that task instance only; a new try clears too */
    assert_int_equal(store_xcom_clear(S, "etl", "r", "extract", -1, &e), 0);
    assert_string_equal(query("SELECT task_id, key, value FROM xcom"), "load|k|7");
    assert_int_equal(start("r", "load", TI_NONE, T0), 1);
    assert_string_equal(query("SELECT count(*) FROM xcom"), "0");
}

/* store_xcom_if_changed: the value only when its version changed. A rewrite of the same value
 * (a new try pushing the same list) is a change, other keys and tasks are not, a clear leaves
 * no value; with collect, the instances' values as one list, "[]" when there are none. */
static void
test_xcom_if_changed(void **state)
{
    struct err e = {0};
    char *json = NULL, v1[STORE_XCOM_VERSION], v2[STORE_XCOM_VERSION];

    (void)state;
    mkrun(ETL, "r", T0);
#define IF_CHANGED(task, collect, known, v)                                                        \
    assert_int_equal(store_xcom_if_changed(S, "etl", "r", task, collect, known, &json, v, &e), 0)
    IF_CHANGED("extract", false, NULL, v1);
    assert_null(json);
    assert_string_equal(v1, "");
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "return_value", "[1,2,3]", &e),
                     0);
    IF_CHANGED("extract", false, NULL, v1);
    assert_string_equal(json, "[1, 2, 3]");
    free(json);
    assert_string_not_equal(v1, "");
    IF_CHANGED("extract", false, v1, v2);
    assert_null(json); /* unchanged: the caller's copy stands */
    assert_string_equal(v2, v1);
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "other", "9", &e), 0);
    assert_int_equal(store_xcom_set(S, "etl", "r", "load", -1, "return_value", "8", &e), 0);
    IF_CHANGED("extract", false, v1, v2);
    assert_null(json);
    assert_int_equal(store_xcom_set(S, "etl", "r", "extract", -1, "return_value", "[1,2,3]", &e),
                     0);
    IF_CHANGED("extract", false, v1, v2);
    assert_string_equal(json, "[1, 2, 3]"); /* written again: read again */
    free(json);
    assert_string_not_equal(v2, v1);
    assert_int_equal(store_xcom_clear(S, "etl", "r", "extract", -1, &e), 0);
    IF_CHANGED("extract", false, v2, v1);
    assert_null(json);
    assert_string_equal(v1, ""); /* gone */

    /* collect: the instances of a mapped task */
    IF_CHANGED("transform", true, NULL, v1);
    assert_string_equal(json, "[]");
    free(json);
    assert_int_equal(store_xcom_set(S, "etl", "r", "transform", 1, "return_value", "\"b\"", &e), 0);
    assert_int_equal(store_xcom_set(S, "etl", "r", "transform", 0, "return_value", "\"a\"", &e), 0);
    IF_CHANGED("transform", true, v1, v2);
    assert_string_equal(json, "[\"a\", \"b\"]");
    free(json);
    IF_CHANGED("transform", true, v2, v1);
    assert_null(json);
    assert_string_equal(v1, v2);
    assert_int_equal(store_xcom_set(S, "etl", "r", "transform", 0, "return_value", "\"c\"", &e), 0);
    IF_CHANGED("transform", true, v2, v1);
    assert_string_equal(json, "[\"c\", \"b\"]");
    free(json);
    assert_int_equal(store_xcom_clear(S, "etl", "r", "transform", 1, &e), 0);
    IF_CHANGED("transform", true, v1, v2);
    assert_string_equal(json, "[\"c\"]");
    free(json);
#undef IF_CHANGED
}

/* ---- clear --------------------------------------------------------------------------- */

/* Run r ends failed: extract success (1 try), transform failed (1 try), load upstream_failed. */
static void
failed_run(const char *run_id)
{
    struct err e = {0};

    mkrun(ETL, run_id, T0);
    assert_int_equal(store_run_set_state(S, "etl", run_id, RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    start(run_id, "extract", TI_NONE, T0 + 1);
    finish(run_id, "extract", 1, TI_SUCCESS, 0, 1);
    start(run_id, "transform", TI_NONE, T0 + 2);
    finish(run_id, "transform", 1, TI_FAILED, 1, 1);
    apply1(run_id, "load", TI_NONE, TI_UPSTREAM_FAILED, 1);
    assert_int_equal(store_run_set_state(S, "etl", run_id, RUN_RUNNING, RUN_FAILED, T0 + 60, &e),
                     1);
}

static void
test_clear(void **state)
{
    struct err e = {0};
    struct store_run r;
    int cleared = -1, running = -1;

    (void)state;
    failed_run("r1");
    failed_run("r2");
    /* only failed, one run: transform (max_tries 1 + 0) and load (0 + 2) */
    assert_int_equal(
        store_tis_clear(S, "etl", ETL, "r1", NULL, true, T0 + 100, &cleared, &running, &e), 0);
    assert_int_equal(cleared, 2);
    assert_int_equal(running, 0);
    assert_string_equal(query("SELECT task_id, coalesce(state, 'none'), try_number, max_tries "
                              "FROM task_instance WHERE run_id = 'r1' ORDER BY task_id"),
                        "extract|success|1|2|load|none|0|2|transform|none|1|1");
    assert_int_equal(store_run_get(S, "etl", "r1", &r, &e), 0);
    assert_int_equal(r.state, RUN_QUEUED);
    assert_int_equal(r.queued_at, T0 + 100);
    assert_int_equal(r.start_date, 0);
    assert_int_equal(r.end_date, 0);
    store_run_clear(&r);
    assert_string_equal(query("SELECT state, clear_number FROM dag_run ORDER BY run_id"),
                        "queued|1|failed|0");
    assert_string_equal(query("SELECT run_id, extra FROM log WHERE event = 'clear'"),
                        "r1|task_regex= only_failed=true cleared=2 running=0");

    /* every run, a regex, no DAG at hand: max_tries kept >= try_number */
    assert_int_equal(
        store_tis_clear(S, "etl", NULL, NULL, "^ext", false, T0 + 200, &cleared, NULL, &e), 0);
    assert_int_equal(cleared, 2);
    assert_string_equal(query("SELECT run_id, coalesce(state, 'none'), max_tries FROM "
                              "task_instance WHERE task_id = 'extract' ORDER BY run_id"),
                        "r1|none|2|r2|none|2");
    assert_string_equal(query("SELECT state, clear_number FROM dag_run ORDER BY run_id"),
                        "queued|2|queued|1");

    /* with the DAG: try_number + retries; a running TI is left alone and reported */
    start("r2", "extract", TI_NONE, T0 + 300);
    assert_int_equal(
        store_tis_clear(S, "etl", ETL, "r2", "a", false, T0 + 400, &cleared, &running, &e), 0);
    assert_int_equal(cleared, 2); /* load, transform */
    assert_int_equal(running, 1);
    assert_string_equal(query("SELECT task_id, coalesce(state, 'none'), max_tries FROM "
                              "task_instance WHERE run_id = 'r2' ORDER BY task_id"),
                        "extract|running|2|load|none|2|transform|none|1");

    /* errors roll back */
    assert_int_equal(store_tis_clear(S, "etl", ETL, NULL, "(", false, T0, &cleared, &running, &e),
                     -1);
    assert_int_equal(e.code, ERR_DB);
    assert_int_equal(
        store_tis_clear(S, "other", ETL, NULL, NULL, false, T0, &cleared, &running, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_string_equal(query("SELECT count(*) FROM log WHERE event = 'clear'"), "3");
}

/* ---- counts, variables, log ------------------------------------------------------------ */

/* store_count_active of dag's runs but run ("none": a run id no run has, so every run counts),
 * counted up to cap */
static int
count_active(const char *dag, const char *run, int cap)
{
    struct err e = {0};
    int n = -1;

    if (store_count_active(S, dag, run, cap, &n, &e) != 0)
        fail_msg("count active: %s", e.msg);
    return n;
}

static void
test_count_active(void **state)
{
    struct err e = {0};
    struct store_ti_change c = {"only", -1, TI_NONE, TI_QUEUED};
    int applied;

    (void)state;
    assert_int_equal(count_active("etl", "none", 10), 0);
    mkrun(ETL, "r1", T0);
    mkrun(ETL, "r2", T0 + 1);
    mkrun(ETL, "r3", T0 + 2);
    mkrun(OTHER, "o1", T0);
    start("r1", "extract", TI_NONE, T0);
    apply1("r2", "extract", TI_NONE, TI_QUEUED, 1);
    apply1("r2", "load", TI_NONE, TI_SCHEDULED, 1); /* not active */
    apply1("r3", "extract", TI_NONE, TI_QUEUED, 1);
    apply1("r3", "load", TI_NONE, TI_QUEUED, 1);
    assert_int_equal(store_tis_apply(S, "other", "o1", &c, 1, T0, &applied, &e), 0);
    assert_int_equal(count_active("etl", "none", 10), 4); /* other's is not counted */
    assert_int_equal(count_active("etl", "none", 1), 1);  /* counted up to the cap */
    assert_int_equal(count_active("other", "none", 10), 1);
    /* the other runs only: on both sides of the run left out (run ids sort r1 < r2 < r3) */
    assert_int_equal(count_active("etl", "r2", 10), 3);
    assert_int_equal(count_active("etl", "r1", 10), 3);
    assert_int_equal(count_active("etl", "r3", 10), 2);
    assert_int_equal(count_active("other", "o1", 10), 0);
}

static void
test_variables_and_log(void **state)
{
    struct err e = {0};
    char *v = (char *)"sentinel";

    (void)state;
    assert_int_equal(store_variable_get(S, "k", &v, &e), 0);
    assert_null(v);
    assert_int_equal(store_variable_set(S, "k", "v1", &e), 0);
    assert_int_equal(store_variable_set(S, "k", "v2 \xc3\xa9", &e), 0);
    assert_int_equal(store_variable_get(S, "k", &v, &e), 0);
    assert_string_equal(v, "v2 \xc3\xa9");
    free(v);
    assert_string_equal(query("SELECT count(*) FROM variable"), "1");

    assert_int_equal(store_log_event(S, "pause", "etl", NULL, NULL, "by test", &e), 0);
    assert_int_equal(store_log_event(S, "x", NULL, NULL, NULL, NULL, &e), 0);
    assert_string_equal(query("SELECT event, coalesce(dag_id, '-'), coalesce(extra, '-'), "
                              "dttm > now() - interval '1 hour' FROM log ORDER BY id"),
                        "pause|etl|by test|t|x|-|-|t");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_create_run, setup),
        cmocka_unit_test_setup(test_create_run_ids, setup),
        cmocka_unit_test_setup(test_get_list_runs, setup),
        cmocka_unit_test_setup(test_run_transitions, setup),
        cmocka_unit_test_setup(test_tis_apply_race, setup),
        cmocka_unit_test_setup(test_start_and_finish, setup),
        cmocka_unit_test_setup(test_tries_history, setup),
        cmocka_unit_test_setup(test_xcom, setup),
        cmocka_unit_test_setup(test_xcom_if_changed, setup),
        cmocka_unit_test_setup(test_finish_with_xcom, setup),
        cmocka_unit_test_setup(test_lazy_end_durable, setup),
        cmocka_unit_test_setup(test_lazy_setting, setup),
        cmocka_unit_test_setup(test_finish_with_skips, setup),
        cmocka_unit_test_setup(test_clear, setup),
        cmocka_unit_test_setup(test_count_active, setup),
        cmocka_unit_test_setup(test_variables_and_log, setup),
    };

    return pgtest_run_group_tests(tests, setup, group_setup, group_teardown);
}

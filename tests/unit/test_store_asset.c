/* test_store_asset: assets in the store (store_asset.c and the outlet events of
 * store_ti_finish) against the test run's real PostgreSQL (tests/run.sh starts it and exports
 * PG*); skipped when no PGHOST is set. The file makes its own database, gust_unit_store_asset,
 * migrates it once and empties the tables before each test; what the API does not return is
 * checked with psql. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "runid.h"
#include "store/store.h"

#define DB "gust_unit_store_asset"
#include "pgtest.h"
#define T0 1700000000 /* 2023-11-14T22:13:20Z */

static struct store *S;
static struct dagbag *BAG;
static const struct dag *PROD, *CONS;

static const char DAGS[] = "prod:\n"
                           "  tasks:\n"
                           "    - task_id: write\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: echo w\n"
                           "      outlets: ['s3://t/a']\n"
                           "cons:\n"
                           "  schedule: ['s3://t/a', 's3://t/b']\n"
                           "  tasks:\n"
                           "    - task_id: read\n"
                           "      operator: airflow.operators.empty.EmptyOperator\n";

static int
group_setup(void **state)
{
    struct err e = {0};

    (void)state;
    BAG = dagbag_new();
    if (dagbag_load_string(BAG, "dags/assets.yaml", DAGS, strlen(DAGS)) != 0)
        return -1;
    PROD = dagbag_find(BAG, "prod");
    CONS = dagbag_find(BAG, "cons");
    if (PROD == NULL || CONS == NULL || CONS->asset_schedule == NULL)
        return -1;
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

/* Before each test: skip without a database, else empty the tables and record the DAGs. */
static int
setup(void **state)
{
    struct err e = {0};

    (void)state;
    if (S == NULL)
        skip();
    query("TRUNCATE dag, dag_run, task_instance, task_instance_history, xcom, log, asset, "
          "asset_event RESTART IDENTITY CASCADE");
    if (store_sync_dagbag(S, BAG, NULL, T0, &e) != 0)
        fail_msg("sync: %s", e.msg);
    return 0;
}

/* A run of prod with its task started; returns the try number. */
static int
started(const char *run_id)
{
    struct store_ti_change c = {"write", -1, TI_NONE, TI_QUEUED};
    struct err e = {0};
    int applied = 0, try_number = 0;

    if (store_run_create(S, PROD, run_id, "manual", T0, T0, T0, NULL, "test", T0, NULL, &e) != 0 ||
        store_tis_apply(S, "prod", run_id, &c, 1, T0, &applied, &e) != 0 ||
        store_ti_start(S, "prod", run_id, "write", -1, "h", 0, T0, 60, &try_number, &e) != 1)
        fail_msg("start %s: %s", run_id, e.msg);
    return try_number;
}

static int
end(const char *run_id, int try_number, enum ti_state to)
{
    struct err e = {0};
    const struct dag_task *t = &PROD->tasks[0];
    int rc = store_ti_finish(S, "prod", run_id, "write", -1,
                             &(struct store_try_end){.try_number = try_number,
                                                     .state = to,
                                                     .end = T0 + 5,
                                                     .duration = 5,
                                                     .outlets = t->outlets,
                                                     .n_outlets = t->n_outlets},
                             &e);
    if (rc < 0)
        fail_msg("finish: %s", e.msg);
    return rc;
}

static void
test_sync(void **state)
{
    (void)state;
    assert_string_equal(query("SELECT uri || ':' || name || ':' || \"group\" FROM asset "
                              "ORDER BY uri"),
                        "s3://t/a:s3://t/a:asset|s3://t/b:s3://t/b:asset");
    assert_string_equal(query("SELECT r.dag_id || ':' || a.uri FROM dag_schedule_asset_reference "
                              "r JOIN asset a ON a.id = r.asset_id ORDER BY 1"),
                        "cons:s3://t/a|cons:s3://t/b");
    assert_string_equal(query("SELECT dag_id || '.' || task_id FROM task_outlet_asset_reference"),
                        "prod.write");
}

/* Only a success whose end won records events; a late end and a failure record nothing. */
static void
test_finish_events(void **state)
{
    (void)state;
    int try1 = started("r1");
    assert_int_equal(end("r1", try1 + 1, TI_SUCCESS), 0); /* not this try: a late result */
    assert_string_equal(query("SELECT count(*) FROM asset_event"), "0");
    assert_int_equal(end("r1", try1, TI_FAILED), 1);
    assert_string_equal(query("SELECT count(*) FROM asset_event"), "0");
    assert_string_equal(query("SELECT count(*) FROM asset_dag_run_queue"), "0");
    int try2 = started("r2");
    assert_int_equal(end("r2", try2, TI_SUCCESS), 1);
    assert_string_equal(query("SELECT source_dag_id || '|' || source_task_id || '|' || "
                              "source_run_id || '|' || source_map_index || '|' || extra "
                              "FROM asset_event"),
                        "prod|write|r2|-1|{}");
    assert_string_equal(query("SELECT q.target_dag_id || ':' || a.uri FROM asset_dag_run_queue q "
                              "JOIN asset a ON a.id = q.asset_id"),
                        "cons:s3://t/a");
}

/* The condition over the queue: a alone does not do; b from outside makes one run, linked to
 * both events; a second call (another scheduler) finds nothing. */
static void
test_trigger(void **state)
{
    char run_id[RUNID_SIZE];
    long long id = 0, ev = 0;
    int queued = -1;
    struct err e = {0};

    (void)state;
    assert_int_equal(end("r1", started("r1"), TI_SUCCESS), 1);
    assert_int_equal(store_asset_trigger(S, CONS, T0, run_id, sizeof(run_id), &id, &e), 0);
    assert_int_equal(store_asset_event_add(S, "s3://t/b", "{\"n\": 1}", &ev, &queued, &e), 0);
    assert_int_equal(queued, 1);
    assert_int_equal(store_asset_trigger(S, CONS, T0, run_id, sizeof(run_id), &id, &e), 1);
    assert_true(strncmp(run_id, "asset_triggered__", 17) == 0);
    assert_int_equal(runid_check(run_id, NULL), 0);
    assert_string_equal(query("SELECT run_type || ':' || state || ':' || triggered_by FROM "
                              "dag_run WHERE dag_id = 'cons'"),
                        "asset_triggered:queued:asset");
    assert_string_equal(query("SELECT count(*) FROM dagrun_asset_event"), "2");
    assert_string_equal(query("SELECT count(*) FROM asset_dag_run_queue"), "0");
    assert_int_equal(store_asset_trigger(S, CONS, T0, run_id, sizeof(run_id), &id, &e), 0);

    char *json = NULL;
    char rid[RUNID_SIZE + 64];
    snprintf(rid, sizeof(rid), "SELECT run_id FROM dag_run WHERE id = %lld", id);
    snprintf(run_id, sizeof(run_id), "%s", query(rid));
    assert_int_equal(store_asset_triggering_json(S, "cons", run_id, &json, &e), 0);
    assert_non_null(strstr(json, "\"s3://t/b\": [{"));
    assert_non_null(strstr(json, "\"source_dag_id\": \"prod\""));
    assert_non_null(strstr(json, "\"extra\": {\"n\": 1}"));
    free(json);
}

/* An unknown URI is ERR_NOTFOUND; a paused consumer is not queued and gets no run. */
static void
test_event_unknown_and_paused(void **state)
{
    char run_id[RUNID_SIZE];
    int queued = -1;
    struct err e = {0};

    (void)state;
    assert_int_equal(store_asset_event_add(S, "s3://nope", NULL, NULL, &queued, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "s3://nope"));
    assert_int_equal(store_dag_set_paused(S, "cons", true, &e), 0);
    assert_int_equal(store_asset_event_add(S, "s3://t/a", NULL, NULL, &queued, &e), 0);
    assert_int_equal(queued, 0);
    assert_int_equal(store_asset_trigger(S, CONS, T0, run_id, sizeof(run_id), NULL, &e), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_sync, setup),
        cmocka_unit_test_setup(test_finish_events, setup),
        cmocka_unit_test_setup(test_trigger, setup),
        cmocka_unit_test_setup(test_event_unknown_and_paused, setup),
    };

    return pgtest_run_group_tests(tests, setup, group_setup, group_teardown);
}

/* test_store: the store module against the test run's real PostgreSQL (tests/run.sh starts
 * it and exports PG*). Password masking runs everywhere; the database cases are skipped
 * when no PGHOST is set. Each run makes its own database, gust_unit_store, with createdb.
 *
 * Covered: masking, a failing migration rolls back completely and names file:line:col,
 * migrating again is a no-op, store_sync_dagbag (upsert keeps is_paused, vanished DAGs go
 * inactive, import errors replaced per file), store_dag_is_paused. */
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
#include "store/store.h"

#define DB "gust_unit_store"
#include "pgtest.h"

static struct store *
fresh_db(void)
{
    struct err e = {0};
    struct store *s;

    assert_int_equal(pgtest_recreate_db(), 0);
    s = store_open("dbname=" DB, &e);
    if (s == NULL)
        fail_msg("store_open: %s", e.msg);
    return s;
}

/* Marks the tests that need the database: pgtest_run_group_tests skips (or fails) them
 * without one. */
static int
need_db(void **state)
{
    (void)state;
    return 0;
}

static void
mask(const char *in, const char *want)
{
    char buf[256];

    store_mask_conninfo(in, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void
test_mask(void **state)
{
    (void)state;
    mask("postgresql://gust:s3cret@db:5432/x", "postgresql://gust:***@db:5432/x");
    mask("postgres://gust@db/x", "postgres://gust@db/x");
    mask("postgresql://db/x?user=u&password=s3cret&sslmode=require",
         "postgresql://db/x?user=u&password=***&sslmode=require");
    mask("host=db password=s3cret dbname=x", "host=db password=*** dbname=x");
    mask("host=db password = 'se cr\\'et' dbname=x", "host=db password = *** dbname=x");
    mask("password=s3cret", "password=***");
    mask("host=db passwordfile=/x", "host=db passwordfile=/x");
    mask(NULL, "");
}

static void
test_refused_is_temporary(void **state)
{
    struct err e = {0};
    struct store *s = store_open("postgresql://gust:s3cret@127.0.0.1:1/nope", &e);

    (void)state;
    assert_null(s);
    assert_int_equal(e.code, ERR_DB);
    assert_true(e.temporary);
    assert_non_null(strstr(e.msg, "127.0.0.1"));
    assert_null(strstr(e.msg, "s3cret"));
}

static const struct store_migration good[] = {
    {1, "0001_a.sql", "CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\n"},
    {2, "0002_b.sql",
     "CREATE TABLE b (y int);\n-- comment\nINSERT INTO b VALUES (2);\n  SELEC 1;\n"},
};

static void
test_failing_migration_rolls_back(void **state)
{
    struct store *s = fresh_db();
    struct err e = {0};
    int applied = -1, dbv, binv;

    (void)state;
    assert_int_equal(store_migrate_list(s, good, 2, &applied, &e), -1);
    assert_int_equal(applied, 1);
    /* "SELEC" is on line 4, column 3 of 0002_b.sql */
    assert_non_null(strstr(e.msg, "migration 0002_b.sql:4:3: syntax error"));
    assert_int_equal(store_schema_version(s, &dbv, &binv, &e), 0);
    assert_int_equal(dbv, 1);
    /* table b must not exist: running 0002 again fails the same way, not "already exists" */
    assert_int_equal(store_migrate_list(s, good, 2, &applied, &e), -1);
    assert_int_equal(applied, 0);
    assert_non_null(strstr(e.msg, "0002_b.sql:4:3"));
    /* a fixed 0002 applies; then a no-op */
    static const struct store_migration fixed[] = {
        {1, "0001_a.sql", "-- already applied\n"},
        {2, "0002_b.sql", "CREATE TABLE b (y int);"},
    };
    assert_int_equal(store_migrate_list(s, fixed, 2, &applied, &e), 0);
    assert_int_equal(applied, 1);
    assert_int_equal(store_migrate_list(s, fixed, 2, &applied, &e), 0);
    assert_int_equal(applied, 0);
    /* this list knows only version 1: the database is newer */
    assert_int_equal(store_migrate_list(s, fixed, 1, &applied, &e), -1);
    assert_int_equal(e.code, ERR_VERSION);
    assert_non_null(strstr(e.msg, "version 2 is newer than this gust (knows 1..1)"));
    store_free(s);
}

static struct dag *
mkdag(const char *id, const char *file, bool paused_on_create, char **tags, size_t n_tags)
{
    struct dag *d = calloc(1, sizeof(*d));

    d->dag_id = (char *)id;
    d->fileloc = (char *)file;
    d->is_paused_upon_creation = paused_on_create;
    d->max_active_runs = 16;
    d->max_active_tasks = 16;
    d->timezone = "UTC";
    d->tags = tags;
    d->n_tags = n_tags;
    return d;
}

static void
test_sync_dagbag(void **state)
{
    struct store *s = fresh_db();
    struct err e = {0};
    char *tags[] = {"a", "b\"q", "a"};
    struct dag *d1 = mkdag("d1", "dags/one.yaml", true, tags, 3);
    struct dag *d2 = mkdag("d2", "dags/two.yaml", false, NULL, 0);
    struct dag *list[] = {d1, d2};
    struct dag_diag diags[] = {
        {DIAG_ERROR, "dags/bad.yaml", 3, 5, "x", "unknown operator 'PythonOperator'"},
        {DIAG_WARNING, "dags/one.yaml", 1, 1, "d1", "schedule_interval is deprecated"},
        {DIAG_ERROR, "dags/bad.yaml", 9, 1, "y", "cycle: a -> b -> a"},
    };
    struct dagbag bag = {list, 2, diags, 3, NULL};
    bool paused = false;
    int applied;

    (void)state;
    assert_int_equal(store_migrate(s, &applied, &e), 0);
    if (store_sync_dagbag(s, &bag, NULL, 1700000000, &e) != 0)
        fail_msg("sync: %s", e.msg);
    assert_int_equal(store_dag_is_paused(s, "d1", &paused, &e), 0);
    assert_true(paused);
    assert_int_equal(store_dag_is_paused(s, "d2", &paused, &e), 0);
    assert_false(paused);
    assert_int_equal(store_dag_is_paused(s, "nope", &paused, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(query("select dag_id, is_active, has_import_errors, fileloc, "
                              "last_parsed_time = to_timestamp(1700000000) from dag order by 1"),
                        "d1|t|f|dags/one.yaml|t|d2|t|f|dags/two.yaml|t");
    assert_string_equal(query("select string_agg(name, ',' order by name) from dag_tag"), "a,b\"q");
    assert_string_equal(query("select filename, stacktrace from import_error"),
                        "dags/bad.yaml|dags/bad.yaml:3:5: error: unknown operator "
                        "'PythonOperator'\ndags/bad.yaml:9:1: error: cycle: a -> b -> a");

    /* A DAG whose file now fails to load stays active, flagged has_import_errors. */
    diags[0].file = "dags/two.yaml";
    bag.n_dags = 1;
    bag.n_diags = 1;
    if (store_sync_dagbag(s, &bag, NULL, 1700000030, &e) != 0)
        fail_msg("sync broken file: %s", e.msg);
    assert_string_equal(query("select dag_id, is_active, has_import_errors from dag order by 1"),
                        "d1|t|f|d2|t|t");
    assert_string_equal(query("select filename from import_error"), "dags/two.yaml");

    /* Reload: d1 now says "not paused on creation" but stays paused (the row decides);
     * d2 is gone from the bag and its file has no error: inactive. No errors any more. */
    d1->is_paused_upon_creation = false;
    bag.n_diags = 0;
    if (store_sync_dagbag(s, &bag, NULL, 1700000060, &e) != 0)
        fail_msg("sync again: %s", e.msg);
    assert_int_equal(store_dag_is_paused(s, "d1", &paused, &e), 0);
    assert_true(paused);
    assert_string_equal(query("select dag_id, is_active, has_import_errors from dag order by 1"),
                        "d1|t|f|d2|f|f");
    assert_string_equal(query("select count(*) from import_error"), "0");
    store_free(s);
    free(d1);
    free(d2);
}

/* `dags reserialize -S PATH`: a bag loaded from part of the folder. Only DAGs and import
 * errors of files under PATH (or PATH itself, a file) can be found gone; an error of a file
 * outside it that the bag reports (a defaults.yml above it) is replaced, not doubled. */
static void
test_sync_scope(void **state)
{
    struct store *s = fresh_db();
    struct err e = {0};
    struct dag *d1 = mkdag("d1", "dags/one.yaml", false, NULL, 0);
    struct dag *d2 = mkdag("d2", "dags/team/two.yaml", false, NULL, 0);
    struct dag *d3 = mkdag("d3", "dags/teamwork.yaml", false, NULL, 0);
    struct dag *all[] = {d1, d2, d3};
    struct dag_diag diags[] = {
        {DIAG_ERROR, "dags/bad.yaml", 1, 1, "x", "broken"},
        {DIAG_ERROR, "dags/team/bad.yaml", 1, 1, "y", "broken too"},
        {DIAG_ERROR, "dags/defaults.yml", 2, 1, NULL, "bad default"},
    };
    struct dagbag whole = {all, 3, diags, 3, NULL}, team = {all, 0, diags + 2, 1, NULL};
    int applied;

    (void)state;
    assert_int_equal(store_migrate(s, &applied, &e), 0);
    if (store_sync_dagbag(s, &whole, NULL, 1700000000, &e) != 0)
        fail_msg("sync: %s", e.msg);
    /* dags/team/two.yaml is gone and dags/team/bad.yaml fixed; defaults.yml still broken */
    if (store_sync_dagbag(s, &team, "dags/team/", 1700000030, &e) != 0)
        fail_msg("sync dags/team: %s", e.msg);
    assert_string_equal(query("select dag_id, is_active from dag order by 1"), "d1|t|d2|f|d3|t");
    assert_string_equal(query("select string_agg(filename, ',' order by filename) "
                              "from import_error"),
                        "dags/bad.yaml,dags/defaults.yml");
    /* a file as the scope: only its own DAGs */
    if (store_sync_dagbag(s, &team, "dags/one.yaml", 1700000060, &e) != 0)
        fail_msg("sync dags/one.yaml: %s", e.msg);
    assert_string_equal(query("select dag_id, is_active from dag order by 1"), "d1|f|d2|f|d3|t");
    /* the whole folder again: everything not in the bag goes */
    if (store_sync_dagbag(s, &team, NULL, 1700000090, &e) != 0)
        fail_msg("sync all: %s", e.msg);
    assert_string_equal(query("select dag_id, is_active from dag order by 1"), "d1|f|d2|f|d3|f");
    assert_string_equal(query("select string_agg(filename, ',') from import_error"),
                        "dags/defaults.yml");
    store_free(s);
    free(d1);
    free(d2);
    free(d3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_refused_is_temporary),
        cmocka_unit_test_setup(test_failing_migration_rolls_back, need_db),
        cmocka_unit_test_setup(test_sync_dagbag, need_db),
        cmocka_unit_test_setup(test_sync_scope, need_db),
    };

    return pgtest_run_group_tests(tests, need_db, NULL, NULL);
}

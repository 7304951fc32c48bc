/* pgtest: helpers for unit tests that talk to the test run's PostgreSQL (tests/run.sh starts
 * it and exports PG*): run a program, run a query with psql, run a group of tests that skips
 * its database tests when there is no database. Header-only, static: include it after
 * <cmocka.h>, with DB defined as the test's own database name.
 *
 * A database test must not pass silently by skipping where a database is expected: with
 * GUST_REQUIRE_DB=1 (tests/run.sh sets it once its cluster is up) or CI set, a missing
 * database fails each database test instead, saying so. */
#ifndef GUST_PGTEST_H
#define GUST_PGTEST_H

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DB
#error "define DB (the test's database) before including pgtest.h"
#endif

extern char **environ;

/* Run argv (no shell), return its exit status. */
static int
spawn(char *const argv[])
{
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Drop the test database if it is there and create it empty (dropdb's NOTICE silenced; a
 * test that needs other PGOPTIONS sets them itself):
 * 0, or -1 when either program failed. */
static int
pgtest_recreate_db(void)
{
    char *drop[] = {"dropdb", "--if-exists", DB, NULL};
    char *create[] = {"createdb", DB, NULL};

    setenv("PGOPTIONS", "-c client_min_messages=warning", 1);
    return spawn(drop) == 0 && spawn(create) == 0 ? 0 : -1;
}

/* Run one query with psql on the test database; its unaligned output, lines joined by '|'. */
static const char *
query(const char *sql)
{
    static char out[8192];
    char path[] = "/tmp/gust_pgtest.XXXXXX";
    char *argv[] = {"psql", "-X", "-q", "-At", "-R", "|", "-d", DB, "-c", (char *)sql, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int fd = mkstemp(path), status;
    FILE *f;
    size_t n;

    assert_true(fd >= 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    assert_int_equal(posix_spawnp(&pid, "psql", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_true(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status));
    f = fdopen(fd, "r");
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    if (n && out[n - 1] == '\n')
        out[n - 1] = '\0';
    fclose(f);
    unlink(path);
    return out;
}

/* Whether a database is required: GUST_REQUIRE_DB=1, or CI set (to anything but "" or false). */
static int
pgtest_db_required(void)
{
    const char *req = getenv("GUST_REQUIRE_DB"), *ci = getenv("CI");

    if (req != NULL && strcmp(req, "1") == 0)
        return 1;
    return ci != NULL && *ci != '\0' && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

/* Stands in for a database test when there is no database: skipped, or failed if required. */
static void
pgtest_no_db(void **state)
{
    (void)state;
    if (pgtest_db_required())
        fail_msg("no database (PGHOST is not set) but GUST_REQUIRE_DB=1 or CI is set: database "
                 "tests may not be skipped; run them with tests/run.sh, which starts one");
    skip();
}

/* Runs tests[0..n) as cmocka_run_group_tests does; without a database (no PGHOST) each test
 * whose setup is db_setup is replaced by pgtest_no_db, so that it is reported as skipped (or
 * failed when a database is required) rather than erroring in its setup. */
static int
pgtest_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction db_setup, CMFixtureFunction group_setup,
                 CMFixtureFunction group_teardown)
{
    struct CMUnitTest *run;
    size_t i;
    int rc;

    if (getenv("PGHOST") != NULL)
        return _cmocka_run_group_tests(name, tests, n, group_setup, group_teardown);
    run = calloc(n, sizeof(*run));
    if (run == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        run[i] = tests[i];
        if (run[i].setup_func == db_setup) {
            run[i].test_func = pgtest_no_db;
            run[i].setup_func = run[i].teardown_func = NULL;
        }
    }
    rc = _cmocka_run_group_tests(name, run, n, group_setup, group_teardown);
    free(run);
    return rc;
}

/* cmocka_run_group_tests for a group whose database tests have the setup db_setup. */
#define pgtest_run_group_tests(tests, db_setup, group_setup, group_teardown)                       \
    pgtest_run_group(#tests, tests, sizeof(tests) / sizeof((tests)[0]), db_setup, group_setup,     \
                     group_teardown)

#endif

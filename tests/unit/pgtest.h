/* pgtest: helpers for unit tests that talk to the test run's PostgreSQL (tests/run.sh starts
 * it and exports PG*): run a program, run a query with psql. Header-only, static: include it
 * after <cmocka.h>, with DB defined as the test's own database name. */
#ifndef GUST_PGTEST_H
#define GUST_PGTEST_H

#include <spawn.h>
#include <stdio.h>
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

#endif

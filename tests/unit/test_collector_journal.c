/* Unit tests for tasks/lib/collector_journal (the event collector's write-ahead journal and
 * memory queue) in a temporary folder: events come out in order with their segment; a segment
 * whose events are all done is deleted; overflow keeps events in the journal only and reads
 * them back in order before memory mode resumes; rotation; leftover segments of a crash are
 * read back first, a torn last line skipped; concurrent appends with group commit lose and
 * repeat nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector_journal.h"

struct fixture {
    char dir[64];
    int dirfd;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/gust-cj-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
    assert_true(f->dirfd >= 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *de;

    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            unlinkat(f->dirfd, de->d_name, 0);
    closedir(d);
    close(f->dirfd);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Files in the folder. */
static int
count_files(struct fixture *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    int n = 0;

    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Append lines "{"n":first}" ... (count of them) in one call and commit. Returns overflowed. */
static int
append(struct cj *j, int first, int count)
{
    char buf[4096];
    size_t offs[64], len = 0;
    uint64_t lsn;
    int over;
    struct err e = {0};

    for (int i = 0; i < count; i++) {
        offs[i] = len;
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "{\"n\":%d}\n", first + i);
    }
    assert_int_equal(cj_append(j, buf, len, offs, (size_t)count, &lsn, &over, &e), 0);
    assert_int_equal(cj_commit(j, lsn, &e), 0);
    return over;
}

/* The next event must be {"n":n}; returns its segment. */
static uint64_t
expect_next(struct cj *j, int n)
{
    struct cq_item it;
    char want[32];
    struct err e = {0};

    assert_int_equal(cj_next(j, &it, 0, &e), 1);
    snprintf(want, sizeof(want), "{\"n\":%d}\n", n);
    assert_string_equal(it.line, want);
    assert_int_equal(it.len, strlen(want));
    free(it.line);
    return it.seg;
}

static void
expect_none(struct cj *j)
{
    struct cq_item it;
    struct err e = {0};

    assert_int_equal(cj_next(j, &it, 0, &e), 0);
}

static void
test_memory_order_and_delete(void **state)
{
    struct fixture *f = *state;
    struct err e = {0};
    struct cj *j = cj_open(f->dirfd, f->dir, 1 << 20, 100, &e);
    uint64_t seg;

    assert_non_null(j);
    assert_int_equal(append(j, 0, 3), 0);
    assert_int_equal(append(j, 3, 2), 0);
    seg = expect_next(j, 0);
    for (int i = 1; i < 5; i++)
        assert_int_equal(expect_next(j, i), seg);
    expect_none(j);
    assert_true(cj_idle(j));
    assert_int_equal(count_files(f), 1);
    cj_done(j, seg, 4);
    assert_int_equal(count_files(f), 1); /* one event not safe yet */
    cj_done(j, seg, 1);
    assert_int_equal(count_files(f), 0);
    assert_int_equal(append(j, 5, 1), 0); /* a new segment */
    assert_true(expect_next(j, 5) > seg);
    cj_free(j);
    assert_int_equal(count_files(f), 1); /* not done: kept for the next start */
}

static void
test_overflow_reads_back_in_order(void **state)
{
    struct fixture *f = *state;
    struct err e = {0};
    struct cj *j = cj_open(f->dirfd, f->dir, 1 << 20, 3, &e);
    struct cj_stats st;
    uint64_t seg;

    assert_int_equal(append(j, 0, 2), 0);
    assert_int_equal(append(j, 2, 3), 1); /* no room for 3: journal only */
    assert_int_equal(append(j, 5, 1), 1); /* still overflow, though 1 would fit */
    cj_get_stats(j, &st);
    assert_int_equal(st.depth, 2);
    assert_true(st.overflow);
    seg = expect_next(j, 0);
    for (int i = 1; i < 6; i++)
        assert_int_equal(expect_next(j, i), seg);
    expect_none(j); /* caught up: memory mode again */
    assert_true(cj_idle(j));
    assert_int_equal(append(j, 6, 1), 0);
    cj_get_stats(j, &st);
    assert_int_equal(st.depth, 1);
    assert_false(st.overflow);
    expect_next(j, 6);
    cj_done(j, seg, 7);
    assert_int_equal(count_files(f), 0);
    cj_free(j);
}

static void
test_rotation(void **state)
{
    struct fixture *f = *state;
    struct err e = {0};
    struct cj *j = cj_open(f->dirfd, f->dir, 20, 100, &e); /* about two lines a segment */
    uint64_t segs[10];

    for (int i = 0; i < 10; i++)
        append(j, i, 1);
    assert_true(count_files(f) >= 4);
    for (int i = 0; i < 10; i++)
        segs[i] = expect_next(j, i);
    for (int i = 0; i < 10; i++) {
        assert_true(i == 0 || segs[i] >= segs[i - 1]);
        cj_done(j, segs[i], 1);
    }
    assert_int_equal(count_files(f), 0);
    cj_free(j);
}

static void
write_file(struct fixture *f, const char *name, const char *text)
{
    int fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void
test_leftovers_first_torn_line_skipped(void **state)
{
    struct fixture *f = *state;
    struct err e = {0};
    struct cj *j;
    struct cj_stats st;

    write_file(f, "journal-0000000000000005.jsonl", "{\"n\":0}\n{\"n\":1}\n{\"n\":9");
    write_file(f, "journal-0000000000000007.jsonl", "{\"n\":2}\n");
    write_file(f, "batch-0000000000000001.avro", "not a journal");
    j = cj_open(f->dirfd, f->dir, 1 << 20, 100, &e);
    assert_non_null(j);
    cj_get_stats(j, &st);
    assert_int_equal(st.leftover, 3);
    assert_int_equal(st.files, 2);
    assert_int_equal(append(j, 3, 1), 1); /* after the leftovers */
    assert_int_equal(expect_next(j, 0), 5);
    assert_int_equal(expect_next(j, 1), 5);
    assert_int_equal(expect_next(j, 2), 7);
    assert_int_equal(expect_next(j, 3), 8);
    expect_none(j);
    cj_done(j, 5, 2);
    cj_done(j, 7, 1);
    cj_done(j, 8, 1);
    assert_int_equal(count_files(f), 1); /* the batch file is not the journal's */
    cj_free(j);
}

struct writer {
    struct cj *j;
    int first;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;

    for (int i = 0; i < 100; i++)
        append(w->j, w->first + 2 * i, 2);
    return NULL;
}

static void
test_concurrent_group_commit(void **state)
{
    struct fixture *f = *state;
    struct err e = {0};
    struct cj *j = cj_open(f->dirfd, f->dir, 4096, 50, &e);
    pthread_t th[8];
    struct writer w[8];
    static char seen[1600];
    struct cq_item it;
    int got = 0, n;

    for (int i = 0; i < 8; i++) {
        w[i] = (struct writer){j, i * 200};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    while (got < 1600) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int r = cj_next(j, &it, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + 100000000, &e);
        assert_true(r >= 0);
        if (r == 0)
            continue;
        assert_int_equal(sscanf(it.line, "{\"n\":%d}", &n), 1);
        assert_true(n >= 0 && n < 1600);
        assert_int_equal(seen[n], 0);
        seen[n] = 1;
        cj_done(j, it.seg, 1);
        free(it.line);
        got++;
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    expect_none(j);
    cj_free(j);
    assert_int_equal(count_files(f), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_order_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_reads_back_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers_first_torn_line_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

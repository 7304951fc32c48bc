/* Unit tests for executor: real child processes (bash, coreutils) driven by a small poll
 * loop like the scheduler's. Exit codes, signals, the last stdout line, log files, the
 * environment, PATH lookup and cwd, stdin, exec failures, timeouts and the SIGKILL after
 * the grace, background and setsid()ed children that must not outlive their try,
 * concurrency, terminate, executor_free, and descriptor leaks. Every wait is on a
 * condition with a deadline; there are no bare sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/executor.h"

static char *base_env[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};

struct fx {
    char dir[64];
    char log[256];
    struct executor *x;
};

static double
now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err e = {0};

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/gust-exec-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->log, sizeof(f->log), "%s/logs/dag_id=d/run_id=r/task_id=t/attempt=1.log", f->dir);
    f->x = executor_new(&e);
    if (f->x == NULL)
        fail_msg("executor_new: %s", e.msg);
    *state = f;
    return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    executor_free(f->x);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* The poll loop: until a result comes or `seconds` pass. */
static bool
wait_result(struct executor *x, struct exec_result *r, double seconds)
{
    double end = now_mono() + seconds;
    struct pollfd fds[128];
    struct err e = {0};

    for (;;) {
        if (executor_process(x, &e) < 0)
            fail_msg("executor_process: %s", e.msg);
        if (executor_next_result(x, r) == 1)
            return true;
        double left = end - now_mono();
        if (left <= 0)
            return false;
        int ms = executor_timeout_ms(x), cap = (int)(left * 1000) + 1;
        if (ms < 0 || ms > cap)
            ms = cap;
        if (ms > 500)
            ms = 500;
        poll(fds, executor_pollfds(x, fds, 128), ms);
    }
}

static pid_t
start(struct fx *f, char *const *argv, char *const *envp, double timeout, double grace, void *data)
{
    struct exec_spec spec = {.argv = argv,
                             .envp = envp ? envp : base_env,
                             .cwd = f->dir,
                             .log_path = f->log,
                             .timeout = timeout,
                             .kill_grace = grace,
                             .data = data};
    struct err e = {0};
    pid_t pid = 0;

    if (executor_start(f->x, &spec, &pid, &e) < 0)
        fail_msg("executor_start: %s", e.msg);
    assert_true(pid > 0);
    return pid;
}

static pid_t
start_sh(struct fx *f, const char *script, double timeout, double grace)
{
    char *argv[] = {"bash", "-c", (char *)script, NULL};

    return start(f, argv, NULL, timeout, grace, NULL);
}

/* Run a bash script to its end (within 20 s) and return its result. */
static struct exec_result
run_sh(struct fx *f, const char *script)
{
    struct exec_result r;

    start_sh(f, script, -1, 1);
    if (!wait_result(f->x, &r, 20))
        fail_msg("no result for: %s", script);
    return r;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (fp == NULL)
        return NULL;
    for (;;) {
        if (cap - n < 65536 && (buf = realloc(buf, cap = cap * 2 + 65536)) == NULL)
            fail_msg("out of memory");
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void
file_path(const struct fx *f, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", f->dir, name);
}

/* The pids a task wrote, one per line, into name (in its cwd). */
static size_t
read_pids(const struct fx *f, const char *name, pid_t *pids, size_t max)
{
    char path[PATH_MAX];
    size_t n = 0;

    file_path(f, name, path);
    FILE *fp = fopen(path, "r");
    int v;
    if (fp == NULL)
        return 0;
    while (n < max && fscanf(fp, "%d", &v) == 1)
        pids[n++] = v;
    fclose(fp);
    return n;
}

static bool
gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_exit_codes(void **state)
{
    struct fx *f = *state;
    int codes[] = {0, 1, 99, 100};

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char script[64];
        snprintf(script, sizeof(script), "exit %d", codes[i]);
        struct exec_result r = run_sh(f, script);
        assert_int_equal(r.exit_code, codes[i]);
        assert_int_equal(r.term_signal, 0);
        assert_false(r.timed_out);
        assert_false(r.exec_failed);
        assert_true(r.duration >= 0 && r.duration < 20);
        assert_true(r.ended.tv_sec >= r.started.tv_sec);
        exec_result_clear(&r);
    }
    assert_int_equal(executor_active(f->x), 0);
}

static void
test_killed_by_signal(void **state)
{
    struct fx *f = *state;
    struct exec_result r = run_sh(f, "kill -TERM $$");

    assert_int_equal(r.exit_code, -1);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_false(r.timed_out);
    exec_result_clear(&r);
}

static void
test_last_line(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *script, *want;
    } cases[] = {
        {"printf 'a\\nb\\n'", "b"},
        {"printf 'a\\nb'", "b"},
        {"printf 'a\\nb\\n\\n  \\n\\n'", "b"},
        {"echo a; echo b; echo noise >&2; echo more noise >&2", "b"},
        {"printf 'x  \\r\\n'", "x"},
        {"printf '{\"pages\": 531}\\n'", "{\"pages\": 531}"},
        {"true", NULL},
        {"echo only-stderr >&2", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct exec_result r = run_sh(f, cases[i].script);
        assert_int_equal(r.exit_code, 0);
        if (cases[i].want == NULL && r.last_line != NULL)
            fail_msg("%s: want no line, got '%s'", cases[i].script, r.last_line);
        if (cases[i].want != NULL &&
            (r.last_line == NULL || strcmp(r.last_line, cases[i].want) != 0))
            fail_msg("%s: want '%s', got '%s'", cases[i].script, cases[i].want,
                     r.last_line ? r.last_line : "(null)");
        exec_result_clear(&r);
    }
}

/* 10 MB on stdout and on stderr must flow through (no deadlock on a full pipe). */
static void
test_large_output(void **state)
{
    struct fx *f = *state;
    size_t len = 0;
    struct exec_result r;

    start_sh(f,
             "head -c 10000000 /dev/zero | tr '\\0' a; echo; "
             "head -c 10000000 /dev/zero | tr '\\0' b >&2; echo last",
             -1, 1);
    assert_true(wait_result(f->x, &r, 60));
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.last_line, "last");
    assert_int_equal(r.log_errno, 0);
    char *log = slurp(f->log, &len);
    assert_non_null(log);
    assert_int_equal(len, 20000000 + 1 + 5);
    free(log);
    exec_result_clear(&r);
}

/* Start a bash script with the given line and log caps and key, wait for its result. */
static struct exec_result
run_capped(struct fx *f, const char *script, size_t line_max, size_t log_max)
{
    char *argv[] = {"bash", "-c", (char *)script, NULL};
    struct exec_spec spec = {.argv = argv,
                             .envp = base_env,
                             .cwd = f->dir,
                             .log_path = f->log,
                             .timeout = -1,
                             .kill_grace = 1,
                             .line_max = line_max,
                             .log_max = log_max};
    struct exec_result r;
    struct err e = {0};

    if (executor_start(f->x, &spec, NULL, &e) < 0)
        fail_msg("executor_start: %s", e.msg);
    if (!wait_result(f->x, &r, 30))
        fail_msg("no result for: %s", script);
    return r;
}

/* The last line is exact or not there: a line over line_max comes back as its length only
 * (never its head or tail); within the limit it is whole, however long. */
static void
test_long_last_line(void **state)
{
    struct fx *f = *state;
    struct exec_result r;

    r = run_capped(f, "head -c 102400 /dev/zero | tr '\\0' a; printf END", 64 * 1024, 0);
    assert_null(r.last_line);
    assert_int_equal(r.last_line_len, 102400 + 3);
    exec_result_clear(&r);
    r = run_capped(f, "echo short; head -c 102400 /dev/zero | tr '\\0' a; echo END", 0, 0);
    assert_non_null(r.last_line);
    assert_int_equal(strlen(r.last_line), 102400 + 3);
    assert_int_equal(r.last_line_len, 102400 + 3);
    assert_string_equal(r.last_line + 102400, "END");
    assert_true(r.last_line[0] == 'a' && r.last_line[102399] == 'a');
    exec_result_clear(&r);
    r = run_capped(f, "head -c 1024 /dev/zero | tr '\\0' b; echo", 1024, 0);
    assert_non_null(r.last_line);
    assert_int_equal(strlen(r.last_line), 1024);
    exec_result_clear(&r);
    /* trailing blanks past the limit do not count: the line is exact */
    r = run_capped(f, "printf 'x%.0s' $(seq 100); head -c 5000 /dev/zero | tr '\\0' ' '; echo", 100,
                   0);
    assert_non_null(r.last_line);
    assert_int_equal(strlen(r.last_line), 100);
    exec_result_clear(&r);
    /* a long line followed by a short one: the short one is the last */
    r = run_capped(f, "head -c 5000 /dev/zero | tr '\\0' a; echo; echo tail", 100, 0);
    assert_string_equal(r.last_line, "tail");
    exec_result_clear(&r);
}

/* Past log_max the output is dropped and one marker line ends the log; the last line is
 * still tracked from the whole output. */
static void
test_log_cap(void **state)
{
    struct fx *f = *state;
    struct exec_result r;
    size_t len = 0;
    const char *want = "\n[gust] log truncated at 1000 bytes; 4007 more bytes dropped\n";

    r = run_capped(f, "head -c 5000 /dev/zero | tr '\\0' a; echo; echo final", 0, 1000);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.last_line, "final");
    assert_int_equal(r.log_dropped, 4007);
    char *log = slurp(f->log, &len);
    assert_non_null(log);
    assert_int_equal(len, 1000 + strlen(want));
    assert_string_equal(log + 1000, want);
    assert_true(log[0] == 'a' && log[999] == 'a');
    free(log);
    exec_result_clear(&r);
    /* under the cap: no marker */
    unlink(f->log);
    r = run_capped(f, "echo small", 0, 1000);
    assert_int_equal(r.log_dropped, 0);
    log = slurp(f->log, NULL);
    assert_string_equal(log, "small\n");
    free(log);
    exec_result_clear(&r);
}

static void
test_log_file(void **state)
{
    struct fx *f = *state;
    struct exec_result r = run_sh(f, "echo to-stdout; echo to-stderr >&2");
    struct stat st;

    exec_result_clear(&r);
    r = run_sh(f, "echo second-try");
    exec_result_clear(&r);
    char *log = slurp(f->log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "to-stdout\n"));
    assert_non_null(strstr(log, "to-stderr\n"));
    assert_non_null(strstr(log, "second-try\n")); /* appended */
    assert_int_equal(strlen(log), strlen("to-stdout\nto-stderr\nsecond-try\n"));
    assert_int_equal(stat(f->log, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644 & ~umask(umask(0)));
    free(log);
}

static void
test_environment_only_from_envp(void **state)
{
    struct fx *f = *state;
    char *env[] = {"PATH=/usr/bin:/bin", "FOO=bar baz", NULL};
    char *argv[] = {"env", NULL};
    char *sh[] = {"bash", "-c", "echo \"${GUST_EXEC_TEST_SECRET-absent} $FOO\"", NULL};
    struct exec_result r;

    setenv("GUST_EXEC_TEST_SECRET", "leaked", 1);
    start(f, argv, env, -1, 1, NULL);
    assert_true(wait_result(f->x, &r, 20));
    char *log = slurp(f->log, NULL);
    assert_string_equal(log, "PATH=/usr/bin:/bin\nFOO=bar baz\n");
    free(log);
    exec_result_clear(&r);
    start(f, sh, env, -1, 1, NULL);
    assert_true(wait_result(f->x, &r, 20));
    assert_string_equal(r.last_line, "absent bar baz");
    exec_result_clear(&r);
    unsetenv("GUST_EXEC_TEST_SECRET");
}

/* argv[0] is looked up in the PATH of envp, not the parent's: scripts with and without
 * #!, a non-executable file earlier in PATH is skipped. */
static void
test_path_from_envp(void **state)
{
    struct fx *f = *state;
    char bin[PATH_MAX], bin2[PATH_MAX], path[2 * PATH_MAX + 32], p[PATH_MAX + 32];
    struct exec_result r;

    file_path(f, "bin", bin);
    file_path(f, "bin2", bin2);
    assert_int_equal(mkdir(bin, 0755), 0);
    assert_int_equal(mkdir(bin2, 0755), 0);
    snprintf(p, sizeof(p), "%s/gust-probe", bin);
    write_file(p, "#!/bin/sh\necho probe-ok \"$1\"\n", 0755);
    snprintf(p, sizeof(p), "%s/gust-plain", bin);
    write_file(p, "echo plain-ok\n", 0755);
    snprintf(p, sizeof(p), "%s/gust-probe", bin2);
    write_file(p, "#!/bin/sh\necho wrong one\n", 0644);
    snprintf(path, sizeof(path), "PATH=%s:%s:/usr/bin:/bin", bin2, bin);
    char *env[] = {path, NULL};
    char *a1[] = {"gust-probe", "arg", NULL}, *a2[] = {"gust-plain", NULL};

    start(f, a1, env, -1, 1, NULL);
    assert_true(wait_result(f->x, &r, 20));
    assert_false(r.exec_failed);
    assert_string_equal(r.last_line, "probe-ok arg");
    exec_result_clear(&r);
    start(f, a2, env, -1, 1, NULL); /* no #!: run by /bin/sh, as execvp does */
    assert_true(wait_result(f->x, &r, 20));
    assert_string_equal(r.last_line, "plain-ok");
    exec_result_clear(&r);
    start(f, a1, NULL, -1, 1, NULL); /* base_env's PATH has no gust-probe */
    assert_true(wait_result(f->x, &r, 20));
    assert_true(r.exec_failed);
    exec_result_clear(&r);
}

static void
test_cwd(void **state)
{
    struct fx *f = *state;
    char real[PATH_MAX];
    struct exec_result r = run_sh(f, "pwd -P");

    assert_non_null(realpath(f->dir, real));
    assert_string_equal(r.last_line, real);
    exec_result_clear(&r);
}

static void
test_stdin_is_dev_null(void **state)
{
    struct fx *f = *state;
    char *argv[] = {"cat", NULL};
    struct exec_result r;

    start(f, argv, NULL, 10, 1, NULL);
    assert_true(wait_result(f->x, &r, 5));
    assert_int_equal(r.exit_code, 0);
    assert_false(r.timed_out);
    assert_null(r.last_line);
    exec_result_clear(&r);
    r = run_sh(f, "readlink /proc/self/fd/0");
    assert_string_equal(r.last_line, "/dev/null");
    exec_result_clear(&r);
}

static void
test_exec_failure(void **state)
{
    struct fx *f = *state;
    char *a1[] = {"gust-no-such-program", NULL}, *a2[] = {"/nonexistent/prog", NULL};
    struct exec_spec spec = {.argv = a1, .envp = base_env, .log_path = f->log, .timeout = -1};
    struct exec_result r;
    struct err e = {0};
    pid_t pid = 0;

    assert_int_equal(executor_start(f->x, &spec, &pid, &e), 0);
    assert_int_equal(executor_active(f->x), 1);
    assert_int_equal(executor_timeout_ms(f->x), 0); /* a result is waiting */
    assert_int_equal(executor_next_result(f->x, &r), 1);
    assert_true(r.exec_failed);
    assert_int_equal(r.pid, pid);
    assert_string_equal(r.exec_error,
                        "cannot execute 'gust-no-such-program': No such file or directory");
    exec_result_clear(&r);
    assert_true(gone(pid)); /* reaped */
    spec.argv = a2;
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 5));
    assert_string_equal(r.exec_error,
                        "cannot execute '/nonexistent/prog': No such file or directory");
    exec_result_clear(&r);
    spec.argv = (char *[]){"true", NULL};
    spec.cwd = "/nonexistent-dir";
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 5));
    assert_true(r.exec_failed);
    assert_string_equal(r.exec_error,
                        "cannot chdir to '/nonexistent-dir': No such file or directory");
    exec_result_clear(&r);
    assert_int_equal(executor_active(f->x), 0);
}

/* shell_errors (a bash_command run without bash): a program that cannot be started ends as
 * bash -c would end, 127 or 126 with bash's words in the log; a file without #! runs with
 * bash; a cwd that cannot be entered is still an exec failure (bash never started either). */
static void
test_shell_errors(void **state)
{
    struct fx *f = *state;
    char noexec[300], plain[300], *log;
    struct exec_spec spec = {.argv = (char *[]){"gust-no-such-program", "x", NULL},
                             .envp = base_env,
                             .cwd = f->dir,
                             .log_path = f->log,
                             .timeout = -1,
                             .shell_errors = true};
    struct exec_result r;
    struct err e = {0};

    file_path(f, "noexec", noexec);
    write_file(noexec, "#!/bin/sh\necho never\n", 0644);
    file_path(f, "plain", plain);
    write_file(plain, "echo \"plain ${BASH_VERSION:+in bash}\"\n", 0755);
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 5));
    assert_false(r.exec_failed);
    assert_int_equal(r.exit_code, 127);
    assert_int_equal(r.term_signal, 0);
    exec_result_clear(&r);
    spec.argv = (char *[]){"/nonexistent/prog", NULL};
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 5));
    assert_false(r.exec_failed);
    assert_int_equal(r.exit_code, 127);
    exec_result_clear(&r);
    spec.argv = (char *[]){noexec, NULL};
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 5));
    assert_false(r.exec_failed);
    assert_int_equal(r.exit_code, 126);
    exec_result_clear(&r);
    spec.argv = (char *[]){plain, NULL};
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 20));
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.last_line, "plain in bash");
    exec_result_clear(&r);
    log = slurp(f->log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "[gust] gust-no-such-program: command not found\n"));
    assert_non_null(strstr(log, "[gust] /nonexistent/prog: No such file or directory\n"));
    assert_non_null(strstr(log, ": Permission denied\n"));
    assert_null(strstr(log, "never"));
    free(log);
    spec.argv = (char *[]){"true", NULL};
    spec.cwd = "/nonexistent-dir";
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), 0);
    assert_true(wait_result(f->x, &r, 5));
    assert_true(r.exec_failed);
    exec_result_clear(&r);
}

/* A bad log path is an error of executor_start, and nothing is left running. */
static void
test_bad_log_path(void **state)
{
    struct fx *f = *state;
    char blocker[PATH_MAX], log[PATH_MAX + 16];
    struct exec_spec spec = {.argv = (char *[]){"true", NULL}, .envp = base_env, .timeout = -1};
    struct err e = {0};

    file_path(f, "file", blocker);
    write_file(blocker, "", 0644);
    snprintf(log, sizeof(log), "%s/sub/x.log", blocker);
    spec.log_path = log;
    assert_int_equal(executor_start(f->x, &spec, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "Not a directory"));
    assert_int_equal(executor_active(f->x), 0);
}

static void
test_timeout_kills_group(void **state)
{
    struct fx *f = *state;
    struct exec_result r;
    pid_t pids[2] = {0, 0};

    pid_t pid =
        start_sh(f, "sleep 100 & echo $! > pids; sleep 100 & echo $! >> pids; wait", 1.0, 5);
    assert_true(wait_result(f->x, &r, 10));
    assert_true(r.timed_out);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_true(r.duration >= 1.0 && r.duration < 5);
    assert_true(kill(-pid, 0) < 0 && errno == ESRCH);
    assert_int_equal(read_pids(f, "pids", pids, 2), 2);
    assert_true(gone(pids[0]));
    assert_true(gone(pids[1]));
    exec_result_clear(&r);
}

static void
test_sigkill_after_grace(void **state)
{
    struct fx *f = *state;
    struct exec_result r;

    pid_t pid = start_sh(f, "trap '' TERM; sleep 100; echo not reached", 0.3, 0.5);
    assert_true(wait_result(f->x, &r, 10));
    assert_true(r.timed_out);
    assert_int_equal(r.term_signal, SIGKILL);
    assert_true(r.duration >= 0.8 && r.duration < 5);
    assert_true(kill(-pid, 0) < 0 && errno == ESRCH);
    exec_result_clear(&r);
}

/* The main process exits while a background child holds stdout: the try ends promptly
 * and the child is killed. */
static void
test_background_child_killed(void **state)
{
    struct fx *f = *state;
    struct exec_result r;
    pid_t bg = 0;

    pid_t pid = start_sh(f, "sleep 100 & echo $! > pids; echo done", -1, 5);
    assert_true(wait_result(f->x, &r, 5));
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.last_line, "done");
    assert_true(r.duration < 3);
    assert_int_equal(read_pids(f, "pids", &bg, 1), 1);
    assert_true(gone(bg));
    assert_true(kill(-pid, 0) < 0 && errno == ESRCH);
    exec_result_clear(&r);
}

/* A grandchild that moved to its own session (setsid) does not outlive the try: it
 * becomes our child (subreaper) when the task exits and is killed. pids holds its pid and
 * session id, to show it did escape the group. */
static void
test_setsid_grandchild_killed(void **state)
{
    struct fx *f = *state;
    static const char *scripts[] = {
        "setsid bash -c 'echo $$ $(cut -d\" \" -f6 /proc/$$/stat) > pids; exec sleep 100' & "
        "while [ ! -s pids ]; do sleep 0.01; done; echo done",
        "setsid bash -c 'echo $$ $(cut -d\" \" -f6 /proc/$$/stat) > pids; exec sleep 100' "
        ">/dev/null 2>&1 & while [ ! -s pids ]; do sleep 0.01; done; echo done",
        "(setsid bash -c 'echo $$ $(cut -d\" \" -f6 /proc/$$/stat) > pids; exec sleep 100' &); "
        "while [ ! -s pids ]; do sleep 0.01; done; echo done",
    };

    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        struct exec_result r;
        pid_t ids[2] = {0, 0};
        char path[PATH_MAX];

        file_path(f, "pids", path);
        unlink(path);
        start_sh(f, scripts[i], 10, 1);
        assert_true(wait_result(f->x, &r, 8));
        assert_false(r.timed_out);
        assert_string_equal(r.last_line, "done");
        assert_int_equal(read_pids(f, "pids", ids, 2), 2);
        assert_int_equal(ids[0], ids[1]); /* it led its own session */
        assert_true(gone(ids[0]));
        exec_result_clear(&r);
    }
}

/* Gone, or a zombie nobody reaped yet (an orphan's reaper is not ours to drive). */
static bool
dead(pid_t pid)
{
    char path[64], buf[512], *rp;
    FILE *fp;

    if (gone(pid))
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    rp = strrchr(buf, ')');
    return rp == NULL || rp[2] == 'Z' || rp[2] == 'X';
}

static bool
wait_dead(pid_t pid, double seconds)
{
    double end = now_mono() + seconds;
    struct timespec ms10 = {0, 10 * 1000 * 1000};

    while (!dead(pid) && now_mono() < end)
        nanosleep(&ms10, NULL);
    return dead(pid);
}

/* The folder of the tries' cgroups, from executor_containment. Where cgroups are not in force
 * this fails as root or under CI (they must be tested there) and skips elsewhere. */
static void
require_cgroups(const struct fx *f, char *base, size_t size)
{
    const char *what = executor_containment(f->x), *p = "cgroup v2 (";

    if (strncmp(what, p, strlen(p)) != 0) {
        if (geteuid() == 0 || getenv("CI") != NULL)
            fail_msg("cgroups are not available, the tries run in: %s", what);
        print_message("skipped: cgroups are not available (%s)\n", what);
        skip();
    }
    snprintf(base, size, "%.*s", (int)(strlen(what) - strlen(p) - 1), what + strlen(p));
}

/* With cgroups, a setsid()ed child is in its try's cgroup while it runs, is killed when the
 * try ends, and the cgroup is removed. */
static void
test_setsid_child_in_cgroup(void **state)
{
    struct fx *f = *state;
    char base[PATH_MAX], path[PATH_MAX + 300], *cg, *name;
    pid_t pid = 0;
    struct exec_result r;

    require_cgroups(f, base, sizeof(base));
    r = run_sh(f, "setsid bash -c 'cat /proc/self/cgroup > cg; echo $$ > pids; exec sleep 300' & "
                  "while [ ! -s pids ]; do sleep 0.01; done; echo done");
    assert_string_equal(r.last_line, "done");
    assert_int_equal(read_pids(f, "pids", &pid, 1), 1);
    assert_true(wait_dead(pid, 10));
    file_path(f, "cg", path);
    cg = slurp(path, NULL);
    assert_non_null(cg);
    if (strstr(cg, "0::") == NULL || strstr(cg, "/gust/") == NULL)
        fail_msg("the setsid child was not in a try cgroup: %s", cg);
    name = strstr(cg, "0::");
    name[strcspn(name, "\n")] = '\0';
    name = strrchr(name, '/') + 1;
    snprintf(path, sizeof(path), "%s/%s", base, name);
    assert_true(access(path, F_OK) < 0 && errno == ENOENT); /* removed */
    free(cg);
    exec_result_clear(&r);
}

/* A gust-like process (a fork of this test with an executor of its own) runs a try under key,
 * whose setsid()ed child writes its pid. Returns the owner's pid; *child the setsid child's. */
static pid_t
spawn_owner(const struct fx *f, const char *key, pid_t *child)
{
    char *argv[] = {"bash", "-c",
                    "setsid bash -c 'echo $$ > pids; exec sleep 300' & exec sleep 300", NULL};
    char path[PATH_MAX];
    pid_t owner;

    file_path(f, "pids", path);
    unlink(path);
    if ((owner = fork()) == 0) {
        struct exec_spec spec = {.argv = argv,
                                 .envp = base_env,
                                 .cwd = f->dir,
                                 .log_path = f->log,
                                 .timeout = -1,
                                 .kill_grace = 1,
                                 .key = key};
        struct executor *x = executor_new(NULL);

        if (x == NULL || executor_start(x, &spec, NULL, NULL) < 0)
            _exit(1);
        for (;;) {
            struct pollfd fds[8];
            poll(fds, executor_pollfds(x, fds, 8), 1000);
            executor_process(x, NULL);
        }
    }
    assert_true(owner > 0);
    double end = now_mono() + 10;
    struct timespec ms10 = {0, 10 * 1000 * 1000};
    while (read_pids(f, "pids", child, 1) != 1 && now_mono() < end)
        nanosleep(&ms10, NULL);
    assert_int_equal(read_pids(f, "pids", child, 1), 1);
    return owner;
}

/* gust killed with kill -9: its try's setsid()ed child survives it (no signal reaches it,
 * nobody reaps it for us), until the next executor on this host starts and kills the
 * cgroups whose owner died. */
static void
test_dead_owner_swept(void **state)
{
    struct fx *f = *state;
    char base[PATH_MAX];
    pid_t owner, child = 0;
    struct err e = {0};

    require_cgroups(f, base, sizeof(base));
    executor_free(f->x);
    f->x = NULL;
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); /* the orphan must not come to us */
    owner = spawn_owner(f, "deadbeef", &child);
    kill(owner, SIGKILL);
    assert_int_equal(waitpid(owner, NULL, 0), owner);
    assert_false(dead(child)); /* it outlived its gust */
    f->x = executor_new(&e);
    assert_non_null(f->x);
    assert_true(wait_dead(child, 10));
}

/* Takeover: the try's cgroup is found by its key and killed, its owner still running. */
static void
test_kill_key(void **state)
{
    struct fx *f = *state;
    char base[PATH_MAX];
    pid_t owner, child = 0;

    require_cgroups(f, base, sizeof(base));
    owner = spawn_owner(f, "feedface", &child);
    assert_int_equal(executor_kill_key(f->x, "0123abcd"), 0);
    assert_false(dead(child));
    assert_int_equal(executor_kill_key(f->x, "feedface"), 1);
    assert_true(wait_dead(child, 10));
    kill(owner, SIGKILL);
    assert_int_equal(waitpid(owner, NULL, 0), owner);
}

static void
test_concurrent(void **state)
{
    struct fx *f = *state;
    enum { N = 20 };
    bool seen[N] = {false};
    char scripts[N][96];

    for (int i = 0; i < N; i++) {
        snprintf(scripts[i], sizeof(scripts[i]), "sleep 0.$((%d %% 3)); echo try-%d; exit %d", i, i,
                 i);
        char *argv[] = {"bash", "-c", scripts[i], NULL};
        start(f, argv, NULL, 30, 1, &seen[i]);
    }
    assert_int_equal(executor_active(f->x), N);
    for (int n = 0; n < N; n++) {
        struct exec_result r;
        char want[32];
        assert_true(wait_result(f->x, &r, 20));
        int i = (int)((bool *)r.data - seen);
        assert_true(i >= 0 && i < N && !seen[i]);
        seen[i] = true;
        assert_int_equal(r.exit_code, i);
        snprintf(want, sizeof(want), "try-%d", i);
        assert_string_equal(r.last_line, want);
        exec_result_clear(&r);
    }
    assert_int_equal(executor_active(f->x), 0);
}

static void
test_terminate(void **state)
{
    struct fx *f = *state;
    struct exec_result r;

    pid_t p1 = start_sh(f, "sleep 100", -1, 5);
    assert_int_equal(executor_terminate(f->x, p1), 0);
    assert_int_equal(executor_terminate(f->x, 1), -1);
    assert_true(wait_result(f->x, &r, 5));
    assert_int_equal(r.pid, p1);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_false(r.timed_out);
    exec_result_clear(&r);
    start_sh(f, "sleep 100", -1, 5);
    start_sh(f, "trap '' TERM; sleep 100", -1, 0.3);
    executor_terminate_all(f->x);
    for (int i = 0; i < 2; i++) {
        assert_true(wait_result(f->x, &r, 5));
        assert_true(r.term_signal == SIGTERM || r.term_signal == SIGKILL);
        assert_false(r.timed_out);
        exec_result_clear(&r);
    }
}

/* executor_free with running tries leaves no process behind. */
static void
test_free_kills_everything(void **state)
{
    struct fx *f = *state;
    pid_t pids[3], bg[3] = {0, 0, 0};
    char script[128];
    struct pollfd fds[16];

    for (int i = 0; i < 3; i++) {
        snprintf(script, sizeof(script), "sleep 100 & echo $! > bg%d; exec sleep 100", i);
        pids[i] = start_sh(f, script, -1, 5);
    }
    for (int i = 0; i < 3; i++) { /* wait (with a deadline) for each task to write its file */
        snprintf(script, sizeof(script), "bg%d", i);
        double end = now_mono() + 10;
        while (read_pids(f, script, &bg[i], 1) != 1 && now_mono() < end) {
            executor_process(f->x, NULL);
            poll(fds, executor_pollfds(f->x, fds, 16), 10);
        }
        assert_int_equal(read_pids(f, script, &bg[i], 1), 1);
    }
    executor_free(f->x);
    f->x = NULL;
    for (int i = 0; i < 3; i++) {
        assert_true(kill(-pids[i], 0) < 0 && errno == ESRCH);
        assert_true(gone(pids[i]));
        assert_true(gone(bg[i]));
    }
}

/* Only 0, 1, 2 reach the child (ls's own directory descriptor is 3), even a descriptor
 * the parent opened without O_CLOEXEC. */
static void
test_no_fd_leak(void **state)
{
    struct fx *f = *state;
    char *argv[] = {"ls", "/proc/self/fd", NULL};
    int leaky = open("/dev/null", O_RDONLY);
    struct exec_result r;

    assert_true(leaky >= 0);
    start(f, argv, NULL, 10, 1, NULL);
    assert_true(wait_result(f->x, &r, 5));
    close(leaky);
    char *log = slurp(f->log, NULL);
    assert_string_equal(log, "0\n1\n2\n3\n");
    free(log);
    exec_result_clear(&r);
}

static void
test_pollfds_and_deadlines(void **state)
{
    struct fx *f = *state;
    struct pollfd fds[8];
    struct exec_result r;

    assert_int_equal(executor_pollfds(f->x, fds, 8), 1); /* the signalfd */
    assert_int_equal(executor_timeout_ms(f->x), -1);
    pid_t pid = start_sh(f, "sleep 100", 10, 1);
    assert_int_equal(executor_pollfds(f->x, fds, 8), 3);
    assert_int_equal(executor_pollfds(f->x, fds, 2), 2);
    int ms = executor_timeout_ms(f->x);
    assert_true(ms > 8000 && ms <= 10000);
    executor_terminate(f->x, pid);
    ms = executor_timeout_ms(f->x);
    assert_true(ms >= 0 && ms <= 1000); /* the kill grace */
    assert_true(wait_result(f->x, &r, 5));
    assert_int_equal(executor_pollfds(f->x, fds, 8), 1);
    exec_result_clear(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_by_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_only_from_envp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_from_envp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_is_dev_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_log_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_after_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_child_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setsid_grandchild_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setsid_child_in_cgroup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_owner_swept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_kills_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pollfds_and_deadlines, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for tasks/lib/task: exit-code mapping, the option table (flags, environment
 * defaults, --flag=value, -Xvalue, unknown flags, stray arguments, --help), durations,
 * KAFKA_* -> librdkafka properties with -X precedence, the log line format, the atomic XCom
 * write (a concurrent reader only ever sees a complete file; no temp file left; folders
 * created) and the stop flag set by SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* Unset every KAFKA_* variable the runner's environment may carry. */
static void
clear_kafka_env(void)
{
    extern char **environ;
    char name[256];

    for (int again = 1; again;) {
        again = 0;
        for (char **env = environ; *env; env++) {
            size_t len = strcspn(*env, "=");
            if (strncmp(*env, "KAFKA_", 6) == 0 && len < sizeof(name)) {
                memcpy(name, *env, len);
                name[len] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
}

static void
test_exit_codes(void **state)
{
    (void)state;
    struct err e = {0};

    assert_int_equal(task_exit_code(NULL), TASK_OK);
    assert_int_equal(task_exit_code(&e), TASK_FAIL); /* ERR_OK in a failure path: still 1 */
    err_set(&e, ERR_USAGE, "bad flag");
    assert_int_equal(task_exit_code(&e), TASK_USAGE);
    err_set(&e, ERR_PARSE, "bad config");
    assert_int_equal(task_exit_code(&e), TASK_USAGE);
    err_set(&e, ERR_IO, "connection refused");
    assert_int_equal(task_exit_code(&e), TASK_FAIL);
    e.temporary = true;
    assert_int_equal(task_exit_code(&e), TASK_TEMP);
    err_set(&e, ERR_USAGE, "temporary wins");
    e.temporary = true;
    assert_int_equal(task_exit_code(&e), TASK_TEMP);
    err_set(&e, ERR_DB, "constraint");
    assert_int_equal(task_exit_code(&e), TASK_FAIL);
    assert_int_equal(TASK_SKIP, 99);
}

struct opts {
    const char *topic, *pages, *follow, *x;
    struct task_list xs;
    struct task_opt table[5];
};

static void
opts_init(struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->table[0] = (struct task_opt){.flag = "--topic",
                                    .env = "T_TOPIC",
                                    .dflt = "all_data",
                                    .help = "Kafka topic",
                                    .value = &o->topic};
    o->table[1] = (struct task_opt){
        .flag = "--pages", .env = "T_PAGES", .help = "pages to fetch", .value = &o->pages};
    o->table[2] = (struct task_opt){
        .flag = "--follow", .help = "keep going", .value = &o->follow, .boolean = true};
    o->table[3] = (struct task_opt){
        .flag = "-X", .help = "librdkafka property", .value = &o->x, .list = &o->xs};
}

static void
test_parse_flags(void **state)
{
    (void)state;
    struct opts o;
    struct err e = {0};

    unsetenv("T_TOPIC");
    setenv("T_PAGES", "7", 1);
    opts_init(&o);
    char *none[] = {"prog", NULL};
    assert_int_equal(task_parse(ARGC(none), none, o.table, "prog", &e), 0);
    assert_string_equal(o.topic, "all_data"); /* default */
    assert_string_equal(o.pages, "7");        /* environment */
    assert_null(o.follow);
    assert_int_equal(o.xs.n, 0);

    setenv("T_TOPIC", "from_env", 1);
    char *argv[] = {"prog",  "--pages", "9",        "--follow",   "-X", "a.b=1",
                    "-Xc=d", "-X",      "acks=all", "--topic=t1", NULL};
    assert_int_equal(task_parse(ARGC(argv), argv, o.table, "prog", &e), 0);
    assert_string_equal(o.topic, "t1"); /* the flag wins over the environment */
    assert_string_equal(o.pages, "9");
    assert_string_equal(o.follow, "1");
    assert_true(task_is_true(o.follow));
    assert_int_equal(o.xs.n, 3);
    assert_string_equal(o.xs.v[0], "a.b=1");
    assert_string_equal(o.xs.v[1], "c=d");
    assert_string_equal(o.xs.v[2], "acks=all");
    assert_null(o.xs.v[3]);
    task_list_free(&o.xs);

    opts_init(&o);
    char *env_only[] = {"prog", "--follow=false", NULL};
    assert_int_equal(task_parse(ARGC(env_only), env_only, o.table, "prog", &e), 0);
    assert_string_equal(o.topic, "from_env");
    assert_false(task_is_true(o.follow));
    setenv("T_TOPIC", "", 1); /* empty counts as unset (KPO renders missing values so) */
    assert_int_equal(task_parse(ARGC(none), none, o.table, "prog", &e), 0);
    assert_string_equal(o.topic, "all_data");
    unsetenv("T_TOPIC");
    unsetenv("T_PAGES");
    assert_string_equal(task_env("T_NOT_SET", "dflt"), "dflt");
}

static void
parse_fails(char **argv, int argc, const char *want_msg)
{
    struct opts o;
    struct err e = {0};

    opts_init(&o);
    assert_int_equal(task_parse(argc, argv, o.table, "prog", &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_int_equal(task_exit_code(&e), TASK_USAGE);
    assert_string_equal(e.msg, want_msg);
    task_list_free(&o.xs);
}

static void
test_parse_errors(void **state)
{
    (void)state;
    char *unknown[] = {"prog", "--topic", "t", "--nope=3", NULL};
    char *unknown2[] = {"prog", "--topics", "t", NULL};
    char *missing[] = {"prog", "--topic", NULL};
    char *stray[] = {"prog", "extra", NULL};
    char *after_dd[] = {"prog", "--", "extra", NULL};
    char *no_x[] = {"prog", "-X", NULL};

    parse_fails(unknown, ARGC(unknown), "unknown flag --nope (see --help)");
    parse_fails(unknown2, ARGC(unknown2), "unknown flag --topics (see --help)");
    parse_fails(missing, ARGC(missing), "--topic needs a value");
    parse_fails(stray, ARGC(stray), "unexpected argument 'extra' (see --help)");
    parse_fails(after_dd, ARGC(after_dd), "unexpected argument 'extra' (see --help)");
    parse_fails(no_x, ARGC(no_x), "-X needs a value");
}

static void
test_help(void **state)
{
    (void)state;
    struct opts o;
    struct err e = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    opts_init(&o);
    task_usage(f, o.table, "prog [options]");
    fclose(f);
    assert_non_null(strstr(text, "usage: prog [options]\n"));
    assert_non_null(strstr(text, "--topic VALUE"));
    assert_non_null(strstr(text, "Kafka topic [env T_TOPIC; default all_data]\n"));
    assert_non_null(strstr(text, "pages to fetch [env T_PAGES]\n"));
    assert_non_null(strstr(text, "-X KEY=VALUE"));
    assert_non_null(strstr(text, "(repeatable)"));
    assert_non_null(strstr(text, "keep going\n"));
    assert_null(strstr(text, "--follow VALUE"));
    free(text);

    /* --help stops parsing (the later bad flag is never seen); stdout muted. */
    char *argv[] = {"prog", "--topic", "x", "--help", "--nope", NULL};
    int saved = dup(1), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    int rc = task_parse(ARGC(argv), argv, o.table, "prog", &e);
    dup2(saved, 1);
    close(saved);
    close(null);
    assert_int_equal(rc, TASK_HELP);
}

static void
duration_is(const char *s, double want)
{
    double got = -1;

    if (task_parse_duration(s, &got) != 0)
        fail_msg("'%s' rejected", s);
    assert_float_equal(got, want, 1e-9);
}

static void
test_durations(void **state)
{
    (void)state;
    static const char *const bad[] = {"",  "s",   "-5",  "+5",   " 5",  "5 s", "5x", "1.2.3",
                                      ".", "inf", "nan", "0x10", "5mm", "1e3", "h",  "5S"};
    double v;

    duration_is("90", 90);
    duration_is("90s", 90);
    duration_is("15m", 900);
    duration_is("1h", 3600);
    duration_is("1d", 86400);
    duration_is("1.5m", 90);
    duration_is("250ms", 0.25);
    duration_is("0", 0);
    duration_is(".5h", 1800);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (task_parse_duration(bad[i], &v) == 0)
            fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(task_parse_duration(NULL, &v), -1);
}

static void
test_kafka_props(void **state)
{
    (void)state;
    struct task_list x = {0}, out = {0};
    struct err e = {0};
    const char *const skip[] = {"KAFKA_TOPIC", NULL};

    clear_kafka_env();
    setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092", 1);
    setenv("KAFKA_SASL_MECHANISM", "PLAIN", 1);
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT", 1);
    setenv("KAFKA_TOPIC", "all_data", 1); /* a task's own flag, not a property */
    setenv("KAFKA_EMPTY", "", 1);
    setenv("KAFKA_", "x", 1);
    assert_int_equal(task_list_add(&x, "sasl.mechanism=SCRAM-SHA-512", &e), 0);
    assert_int_equal(task_list_add(&x, "linger.ms=5", &e), 0);
    assert_int_equal(task_list_add(&x, "linger.ms=7", &e), 0); /* the last -X wins too */
    assert_int_equal(task_kafka_props(&x, skip, &out, &e), 0);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.v[0], "bootstrap.servers=k1:9092,k2:9092");
    assert_string_equal(out.v[1], "security.protocol=SASL_PLAINTEXT");
    assert_string_equal(out.v[2], "sasl.mechanism=SCRAM-SHA-512");
    assert_string_equal(out.v[3], "linger.ms=7");
    assert_null(out.v[4]);
    task_list_free(&out);

    /* Without the skip list KAFKA_TOPIC is mapped like any other. */
    assert_int_equal(task_kafka_props(NULL, NULL, &out, &e), 0);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.v[3], "topic=all_data");
    task_list_free(&out);

    assert_int_equal(task_list_add(&x, "novalue", &e), 0);
    assert_int_equal(task_kafka_props(&x, skip, &out, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_string_equal(e.msg, "-X novalue: want key=value");
    assert_int_equal(out.n, 0);
    task_list_free(&x);
    clear_kafka_env();
}

static void
test_log_line(void **state)
{
    (void)state;
    char path[] = "/tmp/gust-test-log.XXXXXX", buf[512];
    int fd = mkstemp(path), saved = dup(2);

    assert_true(fd >= 0);
    dup2(fd, 2);
    task_set_name("/usr/local/bin/dvc_crawl");
    task_log("pages=%d\nnext line", 5);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    /* 2026-01-01T00:00:00.123Z dvc_crawl pages=5 next line\n */
    assert_int_equal(strlen(buf), 24 + strlen(" dvc_crawl pages=5 next line\n"));
    assert_string_equal(buf + 24, " dvc_crawl pages=5 next line\n");
    assert_true(buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' && buf[23] == 'Z');
    assert_string_equal(task_name(), "dvc_crawl");
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;

    if (f == NULL)
        return NULL;
    FILE *m = open_memstream(&text, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return text;
}

/* Entries of dir other than "." and "..". */
static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static char *
big_doc(char fill, size_t n)
{
    char *s = malloc(n + 16);

    strcpy(s, "{\"pad\": \"");
    memset(s + 9, fill, n);
    strcpy(s + 9 + n, "\"}");
    return s;
}

static void
test_xcom_write(void **state)
{
    (void)state;
    char root[] = "/tmp/gust-test-xcom.XXXXXX", path[512], dir[256];
    struct err e = {0};
    struct stat st;

    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/airflow/xcom", root);
    snprintf(path, sizeof(path), "%s/return.json", dir);
    setenv("GUST_XCOM_FILE", path, 1);
    assert_int_equal(task_xcom_write("{\"pages\": 531}", &e), 0); /* folders created */
    char *text = read_file(path);
    assert_string_equal(text, "{\"pages\": 531}");
    free(text);
    assert_int_equal(count_entries(dir), 1); /* the temp file is gone */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(task_xcom_write("{\"pages\": 532}", &e), 0); /* replaced */
    text = read_file(path);
    assert_string_equal(text, "{\"pages\": 532}");
    free(text);
    assert_int_equal(count_entries(dir), 1);

    /* A file where a folder should be: ERR_IO, exit 1, nothing left behind. */
    snprintf(path, sizeof(path), "%s/airflow/xcom/return.json/x.json", root);
    setenv("GUST_XCOM_FILE", path, 1);
    assert_int_equal(task_xcom_write("{}", &e), -1);
    assert_int_equal(e.code, ERR_IO);
    assert_int_equal(task_exit_code(&e), TASK_FAIL);
    assert_int_equal(count_entries(dir), 1);
    unsetenv("GUST_XCOM_FILE");
    snprintf(path, sizeof(path), "rm -rf '%s'", root);
    assert_int_equal(system(path), 0);
}

/* A child rewrites a 256 KiB result over and over; every read sees one whole version. */
static void
test_xcom_atomic(void **state)
{
    (void)state;
    enum { SIZE = 256 * 1024, ROUNDS = 60 };
    char root[] = "/tmp/gust-test-xcom.XXXXXX", path[512];
    struct err e = {0};
    char *a = big_doc('a', SIZE), *b = big_doc('b', SIZE);
    int status, reads = 0;

    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/return.json", root);
    setenv("GUST_XCOM_FILE", path, 1);
    assert_int_equal(task_xcom_write(a, &e), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < ROUNDS; i++)
            if (task_xcom_write(i % 2 ? a : b, &e) != 0)
                _exit(1);
        _exit(0);
    }
    while (waitpid(pid, &status, WNOHANG) == 0) {
        char *text = read_file(path);
        assert_non_null(text);
        if (strcmp(text, a) != 0 && strcmp(text, b) != 0)
            fail_msg("read a partial result of %zu bytes", strlen(text));
        free(text);
        reads++;
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(reads > 0);
    assert_int_equal(count_entries(root), 1);
    free(a);
    free(b);
    unsetenv("GUST_XCOM_FILE");
    snprintf(path, sizeof(path), "rm -rf '%s'", root);
    assert_int_equal(system(path), 0);
}

static void
test_signals(void **state)
{
    (void)state;
    task_signals_init();
    assert_false(task_stopping());
    assert_int_equal(task_stop_signal(), 0);
    raise(SIGTERM); /* the process survives: the handler only sets the flag */
    assert_true(task_stopping());
    assert_int_equal(task_stop_signal(), SIGTERM);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),   cmocka_unit_test(test_parse_flags),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_help),
        cmocka_unit_test(test_durations),    cmocka_unit_test(test_kafka_props),
        cmocka_unit_test(test_log_line),     cmocka_unit_test(test_xcom_write),
        cmocka_unit_test(test_xcom_atomic),  cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for common/statsd.c: the settings (Airflow's names before gust's, off by default,
 * bad values refused), the exact datagrams a UDP listener on 127.0.0.1 receives (counters,
 * gauges, timers, the prefix), names Airflow's validator refuses (dropped and counted, nothing
 * sent), and that sending with nothing listening neither blocks nor fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "statsd.h"

static const char *const settings[] = {
    "AIRFLOW__METRICS__STATSD_ON",
    "AIRFLOW__METRICS__STATSD_HOST",
    "AIRFLOW__METRICS__STATSD_PORT",
    "AIRFLOW__METRICS__STATSD_PREFIX",
    "AIRFLOW__SCHEDULER__STATSD_ON",
    "AIRFLOW__SCHEDULER__STATSD_HOST",
    "AIRFLOW__SCHEDULER__STATSD_PORT",
    "AIRFLOW__SCHEDULER__STATSD_PREFIX",
    "GUST_STATSD_ON",
    "GUST_STATSD_HOST",
    "GUST_STATSD_PORT",
    "GUST_STATSD_PREFIX",
};

static int
clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        unsetenv(settings[i]);
    return 0;
}

/* A UDP socket bound to 127.0.0.1 on a free port; *port gets the port. */
static int
listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The next datagram on fd within 2 s, as a string ("" when none came). */
static void
next_datagram(int fd, char *buf, size_t size, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    buf[0] = '\0';
    if (poll(&p, 1, timeout_ms) != 1)
        return;
    n = recv(fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

static void
expect(int fd, const char *want)
{
    char got[1024];

    next_datagram(fd, got, sizeof(got), 2000);
    assert_string_equal(got, want);
}

/* A client switched on by on_name, aimed at port through port_name. */
static struct statsd *
client(int port, const char *on_name, const char *port_name)
{
    char num[16];
    struct err e = {0};
    struct statsd *s;

    snprintf(num, sizeof(num), "%d", port);
    setenv(on_name, "True", 1);
    setenv(port_name, num, 1);
    s = statsd_from_env(&e);
    if (s == NULL)
        fail_msg("statsd_from_env: %s", e.msg);
    return s;
}

static void
test_off(void **state)
{
    struct err e = {.code = ERR_FAIL};

    (void)state;
    assert_null(statsd_from_env(&e)); /* nothing set: off */
    assert_int_equal(e.code, ERR_OK);
    setenv("GUST_STATSD_ON", "false", 1);
    assert_null(statsd_from_env(&e));
    assert_int_equal(e.code, ERR_OK);
    /* Airflow's name wins over gust's */
    setenv("GUST_STATSD_ON", "true", 1);
    setenv("AIRFLOW__METRICS__STATSD_ON", "False", 1);
    assert_null(statsd_from_env(&e));
    assert_int_equal(e.code, ERR_OK);
    /* every call on NULL is a no-op */
    statsd_count(NULL, 1, "x");
    statsd_gauge(NULL, 1, "x");
    statsd_timing(NULL, 1, "x");
    assert_int_equal(statsd_dropped(NULL), 0);
    statsd_free(NULL);
}

static void
test_bad_settings(void **state)
{
    struct err e = {0};

    (void)state;
    setenv("AIRFLOW__METRICS__STATSD_ON", "maybe", 1);
    assert_null(statsd_from_env(&e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "maybe"));
    setenv("AIRFLOW__METRICS__STATSD_ON", "1", 1);
    setenv("AIRFLOW__METRICS__STATSD_PORT", "70000", 1);
    assert_null(statsd_from_env(&e));
    assert_int_equal(e.code, ERR_USAGE);
    setenv("AIRFLOW__METRICS__STATSD_PORT", "81x", 1);
    assert_null(statsd_from_env(&e));
    assert_int_equal(e.code, ERR_USAGE);
    setenv("AIRFLOW__METRICS__STATSD_PORT", "8125", 1);
    setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1", 1);
    setenv("AIRFLOW__METRICS__STATSD_PREFIX", "air flow", 1);
    assert_null(statsd_from_env(&e));
    assert_int_equal(e.code, ERR_USAGE);
}

static void
test_datagrams(void **state)
{
    int port, fd = listener(&port);
    struct statsd *s;

    (void)state;
    setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1", 1);
    s = client(port, "AIRFLOW__METRICS__STATSD_ON", "AIRFLOW__METRICS__STATSD_PORT");
    statsd_count(s, 1, "x.y");
    expect(fd, "airflow.x.y:1|c");
    statsd_count(s, 3, "ti.finish.%s.%s.%s", "etl", "group.load", "success");
    expect(fd, "airflow.ti.finish.etl.group.load.success:3|c");
    statsd_gauge(s, 7, "executor.open_slots");
    expect(fd, "airflow.executor.open_slots:7|g");
    statsd_gauge(s, 0.25, "dag_processing.total_parse_time");
    expect(fd, "airflow.dag_processing.total_parse_time:0.25|g");
    statsd_gauge(s, -2, "g");
    expect(fd, "airflow.g:0|g\nairflow.g:-2|g"); /* set, not "decrease by 2" */
    statsd_timing(s, 1500, "dagrun.duration.success.%s", "etl");
    expect(fd, "airflow.dagrun.duration.success.etl:1500|ms");
    statsd_timing(s, 12.5, "t");
    expect(fd, "airflow.t:12.5|ms");
    assert_int_equal(statsd_dropped(s), 0);
    statsd_free(s);
    close(fd);
}

static void
test_prefix_and_gust_names(void **state)
{
    int port, fd = listener(&port);
    struct statsd *s;

    (void)state;
    setenv("GUST_STATSD_HOST", "127.0.0.1", 1);
    setenv("GUST_STATSD_PREFIX", "gust-prod", 1);
    s = client(port, "GUST_STATSD_ON", "GUST_STATSD_PORT");
    statsd_count(s, 1, "scheduler_heartbeat");
    expect(fd, "gust-prod.scheduler_heartbeat:1|c");
    statsd_free(s);
    /* the deprecated [scheduler] names of Airflow 1.10 still count */
    clear_env(NULL);
    setenv("AIRFLOW__SCHEDULER__STATSD_HOST", "127.0.0.1", 1);
    s = client(port, "AIRFLOW__SCHEDULER__STATSD_ON", "AIRFLOW__SCHEDULER__STATSD_PORT");
    statsd_count(s, 2, "ti_failures");
    expect(fd, "airflow.ti_failures:2|c");
    statsd_free(s);
    close(fd);
}

static void
test_invalid_names(void **state)
{
    int port, fd = listener(&port);
    char got[1024], long_name[300];
    struct statsd *s;

    (void)state;
    setenv("GUST_STATSD_HOST", "127.0.0.1", 1);
    s = client(port, "GUST_STATSD_ON", "GUST_STATSD_PORT");
    statsd_count(s, 1, "ti.start.%s.%s", "my dag", "t"); /* a space */
    statsd_count(s, 1, "ti.start.%s", "d\xc3\xa9j\xc3\xa0");
    statsd_gauge(s, 1, "%s", "");
    memset(long_name, 'a', 251);
    long_name[251] = '\0';
    statsd_count(s, 1, "%s", long_name); /* 251 > 250 */
    statsd_gauge(s, NAN, "nan");
    assert_int_equal(statsd_dropped(s), 5);
    long_name[250] = '\0'; /* 250: fits */
    statsd_count(s, 1, "%s", long_name);
    next_datagram(fd, got, sizeof(got), 2000);
    assert_int_equal(strlen(got), strlen("airflow.") + 250 + strlen(":1|c"));
    next_datagram(fd, got, sizeof(got), 100);
    assert_string_equal(got, ""); /* the dropped ones never came */
    statsd_free(s);
    close(fd);
}

static void
test_no_listener(void **state)
{
    int port, fd = listener(&port);
    struct statsd *s;
    double t0;

    (void)state;
    close(fd); /* nothing listens on port now */
    setenv("GUST_STATSD_HOST", "127.0.0.1", 1);
    s = client(port, "GUST_STATSD_ON", "GUST_STATSD_PORT");
    t0 = clock_mono();
    for (int i = 0; i < 20000; i++) /* far more than a socket buffer holds */
        statsd_count(s, 1, "ti_successes");
    assert_true(clock_mono() - t0 < 2.0);
    /* dropped or not (the kernel may take them), never more than were sent */
    assert_true(statsd_dropped(s) <= 20000);
    statsd_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_off, clear_env),
        cmocka_unit_test_setup(test_bad_settings, clear_env),
        cmocka_unit_test_setup(test_datagrams, clear_env),
        cmocka_unit_test_setup(test_prefix_and_gust_names, clear_env),
        cmocka_unit_test_setup(test_invalid_names, clear_env),
        cmocka_unit_test_setup(test_no_listener, clear_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

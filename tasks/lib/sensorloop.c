/* sensorloop: a process sensor's pokes, waits, timeout and exit code (see sensorloop.h).
 * Timeouts use the real clock (the first poke's time comes from the scheduler, possibly from
 * an earlier process); waits use the monotonic clock. */
#include "sensorloop.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "sensor_poke.h"
#include "task.h"

static int
get_num(json_t *o, const char *key, double dflt, double *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    *out = dflt;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
        return err_set(e, ERR_USAGE, "%s: want a number >= 0", key);
    *out = json_number_value(v);
    return 0;
}

static int
get_bool(json_t *o, const char *key, bool *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    *out = false;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_USAGE, "%s: want true or false", key);
    *out = json_is_true(v);
    return 0;
}

int
sensorloop_read(json_t *o, struct sensor_common *c, struct err *e)
{
    json_t *mode = json_object_get(o, "mode");
    double count;

    memset(c, 0, sizeof(*c));
    c->dag_id = json_string_value(json_object_get(o, "dag_id"));
    c->task_id = json_string_value(json_object_get(o, "task_id"));
    c->run_id = json_string_value(json_object_get(o, "run_id"));
    if (mode != NULL && !json_is_null(mode)) {
        const char *m = json_string_value(mode);
        if (m == NULL || (strcmp(m, "poke") != 0 && strcmp(m, "reschedule") != 0))
            return err_set(e, ERR_USAGE, "mode: want \"poke\" or \"reschedule\"");
        c->reschedule = strcmp(m, "reschedule") == 0;
    }
    if (get_num(o, "poke_interval", 60, &c->poke_interval, e) < 0 ||
        get_num(o, "timeout", 604800, &c->timeout, e) < 0 ||
        get_num(o, "max_wait", 0, &c->max_wait, e) < 0 ||
        get_num(o, "first_poke", 0, &c->first_poke, e) < 0 ||
        get_num(o, "poke_count", 0, &count, e) < 0 ||
        get_bool(o, "soft_fail", &c->soft_fail, e) < 0 ||
        get_bool(o, "exponential_backoff", &c->exponential_backoff, e) < 0)
        return -1;
    if (count > 1e9 || count != floor(count))
        return err_set(e, ERR_USAGE, "poke_count: want a whole number");
    c->poke_count = (int)count;
    return 0;
}

int
sensorloop_sleep_until(double until, struct err *e)
{
    sigset_t stop, old, during;
    double left;

    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, &old);
    during = old;
    sigdelset(&during, SIGTERM);
    sigdelset(&during, SIGINT);
    /* the stop signals are blocked except inside ppoll, so one arriving just before the wait
     * still ends it */
    while (!task_stopping() && (left = until - clock_mono()) > 0) {
        struct timespec ts = {.tv_sec = (time_t)left,
                              .tv_nsec = (long)((left - floor(left)) * 1e9)};
        if (ppoll(NULL, 0, &ts, &during) < 0 && errno != EINTR) {
            int saved = errno;
            sigprocmask(SIG_SETMASK, &old, NULL);
            return err_set(e, ERR_FAIL, "sleep: %s", strerror(saved));
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (task_stopping())
        return err_set(e, ERR_FAIL, "stopped by signal %d while waiting to poke",
                       task_stop_signal());
    return 0;
}

/* str() of an aware UTC datetime, as Airflow hashes the first poke's time:
 * "2026-12-03 14:00:00+00:00", or with ".ffffff" when it has microseconds. */
static void
started_text(double epoch, char *buf, size_t size)
{
    time_t s = (time_t)floor(epoch);
    long us = lround((epoch - floor(epoch)) * 1e6);
    struct tm tm;
    char base[32];

    if (us >= 1000000)
        s++, us = 0;
    gmtime_r(&s, &tm);
    strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
    if (us)
        snprintf(buf, size, "%s.%06ld+00:00", base, us);
    else
        snprintf(buf, size, "%s+00:00", base);
}

/* After a poke found the condition unmet: the exit code when the sensor stops now, or -1 to
 * poke again after *wait seconds. */
static int
after_unmet(const struct sensor_common *c, double first, const char *started, int n, double *wait)
{
    double ran = clock_wall() - first;

    if (ran > c->timeout) {
        task_log("sensor has timed out; run duration of %.1f seconds exceeds the specified "
                 "timeout of %g%s",
                 ran, c->timeout, c->soft_fail ? " (soft_fail: skipped)" : "");
        return c->soft_fail ? TASK_SKIP : TASK_USAGE;
    }
    *wait = sensor_poke_interval(c->poke_interval, c->exponential_backoff, c->max_wait, c->timeout,
                                 c->dag_id, c->task_id, started, n, ran);
    if (c->reschedule) {
        task_log("not met yet: next poke in %gs (reschedule)", *wait);
        return SENSOR_EXIT_NOT_YET;
    }
    task_log("not met yet: next poke in %gs", *wait);
    return -1;
}

int
sensorloop_run(const struct sensor_common *c, sensor_poke_fn *poke, void *arg)
{
    double first = c->first_poke > 0 ? c->first_poke : clock_wall(), wait = 0;
    char started[64];
    struct err e = {0};

    started_text(first, started, sizeof(started));
    for (int n = c->poke_count + 1;; n++) {
        int rc = poke(arg, n, &e), code;
        if (rc < 0) { /* stopped by a signal: a failure whatever soft_fail says */
            bool skip = c->soft_fail && !task_stopping();
            task_log("error: poke %d: %s%s", n, e.msg, skip ? " (soft_fail: skipped)" : "");
            return skip ? TASK_SKIP : task_stopping() ? TASK_FAIL : task_exit_code(&e);
        }
        if (rc > 0) {
            task_log("poke %d: success criteria met", n);
            return TASK_OK;
        }
        if ((code = after_unmet(c, first, started, n, &wait)) >= 0)
            return code;
        if (sensorloop_sleep_until(clock_mono() + fmax(wait, 0), &e) < 0) {
            task_log("error: %s", e.msg);
            return TASK_FAIL;
        }
    }
}

/* Unit tests for common/sensor_poke: the next poke interval of a sensor against values
 * computed with Airflow's BaseSensorOperator._get_next_poke_interval (Python's hashlib, run
 * once and pasted here): the plain interval, the backoff with its sha1 jitter, the timeout and
 * max_wait caps, min_backoff's floor of 1 and the timedelta.max cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sensor_poke.h"

static const char *const T0 = "2026-12-03 14:00:00+00:00";
static const char *const T1 = "2026-12-03 14:00:00.250000+00:00";

static void
test_plain(void **state)
{
    (void)state;
    assert_true(sensor_poke_interval(60, false, 0, 604800, "d", "t", T0, 1, 0) == 60);
    assert_true(sensor_poke_interval(2.5, false, 1, 604800, "d", "t", T0, 9, 0) == 2.5);
}

static void
test_backoff(void **state)
{
    (void)state;
    assert_true(sensor_poke_interval(60, true, 0, 604800, "d", "t", T0, 1, 0) == 59);
    assert_true(sensor_poke_interval(60, true, 0, 604800, "d", "t", T0, 2, 60.5) == 88);
    assert_true(sensor_poke_interval(60, true, 0, 604800, "d", "t", T0, 3, 130) == 125);
    assert_true(sensor_poke_interval(60, true, 0, 604800, "sensors", "wait_file", T1, 6, 2000) ==
                1041);
}

static void
test_caps(void **state)
{
    (void)state;
    /* max_wait */
    assert_true(sensor_poke_interval(60, true, 300, 604800, "sensors", "wait_file", T1, 6, 2000) ==
                300);
    /* timeout - int(run_duration) */
    assert_true(sensor_poke_interval(5, true, 0, 100, "dag", "http", "1733234400.5", 5, 90.9) ==
                10);
    /* min_backoff never below 1 */
    assert_true(sensor_poke_interval(1, true, 0, 604800, "a", "b", "x", 1, 0) == 1);
    assert_true(sensor_poke_interval(0.3, true, 0, 604800, "a", "b", "x", 4, 0) == 1);
    /* timedelta.max.total_seconds() - 1 */
    assert_true(sensor_poke_interval(60, true, 0, 1e300, "a", "b", "x", 200, 0) ==
                86399999999999.0);
    assert_true(sensor_poke_interval(60, true, 0, 1e300, "a", "b", "x", 5000, 0) ==
                86399999999999.0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

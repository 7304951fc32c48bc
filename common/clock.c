/* clock: CLOCK_MONOTONIC and CLOCK_REALTIME as double seconds (see clock.h).
 *
 * A double holds an epoch instant to better than a microsecond, which is all timestamptz
 * keeps, and a monotonic interval to nanoseconds; intervals and instants are never mixed. */
#include "clock.h"

#include <time.h>

static double
clock_read(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
clock_mono(void)
{
    return clock_read(CLOCK_MONOTONIC);
}

double
clock_wall(void)
{
    return clock_read(CLOCK_REALTIME);
}

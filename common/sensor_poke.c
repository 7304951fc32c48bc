/* sensor_poke: Airflow's next poke interval of a sensor, exact to the second, including its
 * sha1 jitter (see sensor_poke.h). Python's arithmetic is followed step by step: int()
 * truncates toward zero, the 160-bit hash is reduced modulo min_backoff one byte at a time,
 * and every interval is capped at timedelta.max.total_seconds() - 1 as Airflow caps it. */
#include "sensor_poke.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jitter.h"

/* timedelta.max.total_seconds() - 1 (a float in Python: 86400000000000.0 - 1) */
#define TIMEDELTA_MAX_S 86399999999999.0

double
sensor_poke_interval(double poke_interval, bool exponential_backoff, double max_wait,
                     double timeout, const char *dag_id, const char *task_id,
                     const char *started_at, int poke_count, double run_duration)
{
    double min_backoff, delay, interval;

    if (!exponential_backoff)
        return poke_interval;
    /* max(int(poke_interval * 2 ** (poke_count - 2)), 1) */
    min_backoff = trunc(poke_interval * pow(2.0, (double)poke_count - 2));
    if (!(min_backoff >= 1))
        min_backoff = 1;
    if (min_backoff >= TIMEDELTA_MAX_S) {
        delay = TIMEDELTA_MAX_S; /* min_backoff + anything is over the cap */
    } else {
        uint64_t m = (uint64_t)min_backoff;
        delay = (double)(m + jitter_sha1_mod(dag_id, task_id, started_at, poke_count, m));
        delay = fmin(delay, TIMEDELTA_MAX_S);
    }
    interval = fmin(timeout - trunc(run_duration), delay);
    if (max_wait > 0)
        interval = fmin(max_wait, interval);
    return interval;
}

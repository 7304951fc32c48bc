/* runid: the one way gust names runs (see runid.h).
 *
 * Scheduled and backfilled runs are named after their logical date, so creating one twice
 * finds the first (UNIQUE (dag_id, run_id)); manual and triggered runs after the instant they
 * were made, to the microsecond like Airflow. Either way the text is Airflow's, so DAGs that
 * read run ids see what they would there. */
#include "runid.h"

#include <stdio.h>

#include "iso8601.h"

void
runid_format(const char *type, time_t t, long usec, char *buf, size_t size)
{
    char iso[ISO8601_MAX];

    iso8601_format(t, 0, 'T', iso);
    if (usec < 0) /* "2024-05-01T10:00:00+00:00" -> "...T10:00:00.123456+00:00" */
        snprintf(buf, size, "%s__%s", type, iso);
    else
        snprintf(buf, size, "%s__%.19s.%06ld%s", type, iso, usec % 1000000, iso + 19);
}

void
runid_now(const char *type, char *buf, size_t size, time_t *now)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    runid_format(type, ts.tv_sec, ts.tv_nsec / 1000, buf, size);
    if (now)
        *now = ts.tv_sec;
}

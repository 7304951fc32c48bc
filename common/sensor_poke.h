/* sensor_poke: the wait between two pokes of a sensor, Airflow's
 * BaseSensorOperator._get_next_poke_interval (docs/dag-files.md, "Sensors"). Shared by the
 * scheduler (the next poke of a sensor in reschedule mode) and the sensor processes (the
 * sleep between pokes in poke mode). Pure: no clock, no I/O. */
#ifndef GUST_SENSOR_POKE_H
#define GUST_SENSOR_POKE_H

#include <stdbool.h>

/* Seconds to wait before the next poke. Without exponential_backoff: poke_interval. With it:
 * min_backoff = max(int(poke_interval * 2 ** (poke_count - 2)), 1), plus
 * int(sha1("dag_id#task_id#started_at#poke_count").hexdigest(), 16) % min_backoff as jitter,
 * at most timeout - int(run_duration) and, when max_wait > 0, at most max_wait (max_wait <= 0:
 * no cap, as Airflow's falsy max_wait).
 *
 * poke_count is Airflow's: 1 for the first poke, the number of the poke that just found the
 * condition unmet (pokes before it + 1). started_at is the text Airflow hashes: str() of the
 * first poke's time. run_duration: seconds since the first poke. Airflow estimates poke_count
 * from the elapsed time in reschedule mode; gust keeps the real count, which is the same when
 * the pokes run on time. */
double sensor_poke_interval(double poke_interval, bool exponential_backoff, double max_wait,
                            double timeout, const char *dag_id, const char *task_id,
                            const char *started_at, int poke_count, double run_duration);

#endif

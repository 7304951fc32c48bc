/* sensorloop: the poke loop of a sensor that runs as a process (sensor_task, and sql_task's
 * SqlSensor), Airflow's BaseSensorOperator.execute (docs/dag-files.md, "Sensors").
 *
 * Mode poke: poke, sleep the next interval (sensor_poke_interval), poke again, until the
 * condition is met or `timeout` has passed since the first poke. Mode reschedule: one poke,
 * then exit; gust's scheduler starts the next one on time. The timeout always counts from
 * `first_poke` (epoch seconds, kept by the scheduler across reschedules; 0: this poke is the
 * first), so a sensor restarted after a crash does not get a fresh timeout.
 *
 * Exit codes: 0 met; 98 not met yet (reschedule mode); 100 timed out (Airflow's
 * AirflowSensorTimeout: failed, not retried) or a bad spec; 99 skipped (a timeout, or an error
 * of a poke, with soft_fail); else the poke's error as the task contract maps it (1 retried,
 * 111 temporary). SIGTERM ends a sleep at once: the try fails (1). */
#ifndef GUST_SENSORLOOP_H
#define GUST_SENSORLOOP_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"

#define SENSOR_EXIT_NOT_YET 98

/* The common fields of a sensor's spec. Strings borrowed from the spec document. */
struct sensor_common {
    const char *dag_id, *task_id, *run_id;
    bool reschedule; /* "mode": "reschedule" */
    bool soft_fail, exponential_backoff;
    double poke_interval; /* default 60 */
    double timeout;       /* default 7 days */
    double max_wait;      /* <= 0: none */
    double first_poke;    /* epoch seconds; 0: now */
    int poke_count;       /* pokes before this try's first */
};

/* Read the common fields of spec object o: mode, poke_interval, timeout, soft_fail,
 * exponential_backoff, max_wait (null: none), first_poke, poke_count, dag_id, task_id, run_id.
 * A present field of the wrong type or value is ERR_USAGE naming it. */
int sensorloop_read(json_t *o, struct sensor_common *c, struct err *e);

/* One poke: 1 the condition is met, 0 not yet, -1 an error (e filled). poke_number is
 * Airflow's (1 for the sensor's first poke, across reschedules). */
typedef int sensor_poke_fn(void *arg, int poke_number, struct err *e);

/* Poke as the mode says and return the process's exit code (see above). Logs one line per
 * poke's outcome and per wait. */
int sensorloop_run(const struct sensor_common *c, sensor_poke_fn *poke, void *arg);

/* Sleep until the monotonic time `until`, or until SIGTERM/SIGINT: -1 (e) then. */
int sensorloop_sleep_until(double until, struct err *e);

#endif

/* sensorpoke: the pokes of FileSensor and BashSensor (docs/dag-files.md, "Sensors"), with
 * Airflow's semantics, for sensor_task. Each returns 1 (met), 0 (not yet) or -1 (e: an
 * error); what it checked and found goes to *what for the poke's log line. */
#ifndef GUST_SENSORPOKE_H
#define GUST_SENSORPOKE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Glob ("**" spans folders when recursive, up to SENSORPOKE_MAX_DEPTH of them) below the
 * connection's base path (Airflow's os.path.join: an absolute pattern ignores it). Met when a
 * match is a file, or a folder with a file anywhere below it (Airflow's os.walk). */
#define SENSORPOKE_MAX_DEPTH 16
int sensorpoke_file(const char *base, const char *pattern, bool recursive, char *what, size_t size,
                    struct err *e);

/* /bin/bash -c cmd in its own process group, with exactly env (NULL-terminated "K=v"; NULL:
 * this process's environment) in cwd (NULL: a new temporary folder, removed after). Met when
 * it exits 0. SIGTERM to this process while it runs: the command's group gets SIGTERM and
 * the poke is an error. */
int sensorpoke_bash(const char *cmd, char *const *env, const char *cwd, char *what, size_t size,
                    struct err *e);

#endif

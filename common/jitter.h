/* jitter: Airflow's deterministic sha1 jitter, shared by the retry delay (plan) and a
 * sensor's poke interval (sensor_poke). Pure. */
#ifndef GUST_JITTER_H
#define GUST_JITTER_H

#include <stdint.h>

/* int(sha1(f"{dag_id}#{task_id}#{when}#{n}").hexdigest(), 16) % m, for 1 <= m < 2^53 (the
 * 160-bit hash reduced one byte at a time: r * 256 + byte stays below 2^61). A NULL string is
 * hashed as Python formats None, "None". 0 when out of memory (no jitter rather than no
 * retry or poke). */
uint64_t jitter_sha1_mod(const char *dag_id, const char *task_id, const char *when, int n,
                         uint64_t m);

#endif

/* loader_status: how far a loader group is behind, per partition (stream_loader --status).
 *
 * The stored offset is the group's row in stream_offsets (what the loaders committed with
 * their rows), the log end is asked of the broker now; lag = log end - stored offset, or log
 * end - log start for a partition the group never committed. */
#ifndef GUST_LOADER_STATUS_H
#define GUST_LOADER_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"
#include "kafka.h"
#include "pgconn.h"
#include "statsd.h"

/* Print the lag of group on topic to out (a table, or JSON with json), send the lag gauges
 * (stream_loader.lag.<group>.<topic>.<partition>) to stats (may be NULL) and put the total
 * lag in *total. */
int loader_status(struct pgconn *db, struct kq_consumer *kc, const char *group, const char *topic,
                  bool json, FILE *out, struct statsd *stats, long long *total, struct err *e);

#endif

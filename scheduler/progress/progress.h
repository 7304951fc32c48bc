/* progress: live progress of runs for `gust dags trigger --wait`: one line per state change
 * (logs, pipes, CI), or on a terminal a table of tasks redrawn in place. */
#ifndef GUST_PROGRESS_H
#define GUST_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "runner/runner.h"

struct progress;

/* New display writing to out; table mode when redraw is true (out is a terminal). */
struct progress *progress_new(FILE *out, bool redraw);
void progress_free(struct progress *p);

/* Show one event (a runner_opts.on_event callback: pass the progress as arg). */
void progress_event(void *p, const struct runner_event *ev);

#endif

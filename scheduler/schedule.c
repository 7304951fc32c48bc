/* schedule: TEMPORARY STUB so the tree links while the real module is written.
 * Replaced by the cron implementation. */
#include "schedule.h"

#include <stdio.h>
#include <string.h>

int
schedule_parse(struct schedule *out, const char *text, struct err *e)
{
    (void)e;
    memset(out, 0, sizeof(*out));
    out->kind = (text == NULL || text[0] == '\0' || strcmp(text, "None") == 0) ? SCHED_NONE
                                                                              : SCHED_CRON;
    snprintf(out->text, sizeof(out->text), "%s", text ? text : "None");
    return 0;
}

int
schedule_from_delta(struct schedule *out, long seconds, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (seconds <= 0)
        return err_set(e, ERR_PARSE, "timedelta must be positive");
    out->kind = SCHED_DELTA;
    out->delta_seconds = seconds;
    return 0;
}

int
schedule_next(const struct schedule *s, const char *tz, time_t start, time_t end, time_t after,
              time_t *next, struct err *e)
{
    (void)s, (void)tz, (void)start, (void)end, (void)after, (void)next, (void)e;
    return 0;
}

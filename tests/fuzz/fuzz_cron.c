/* fuzz_cron: libFuzzer target for the schedule parser and the cron search.
 *
 * The input, NUL-terminated, goes to schedule_parse; an accepted schedule is evaluated a few
 * times in UTC and in a DST zone (Lord Howe: 30-minute shifts), from a start point near a DST
 * change. Every result must be strictly after the previous one and never an error for an
 * expression the parser accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct schedule *s, const char *tz, time_t start, time_t after)
{
    struct err e = {0};
    time_t next;

    for (int i = 0; i < 4; i++) {
        int rc = schedule_next(s, tz, start, 0, after, &next, &e);
        if (rc < 0)
            abort(); /* a parsed schedule must always evaluate */
        if (rc == 0)
            return;
        if (next <= after)
            abort();
        after = next;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct schedule s;
    struct err e = {0};
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (schedule_parse(&s, text, &e) == 0) {
        walk(&s, "UTC", 0, 1711843200);                          /* 2024-03-31T00:00Z */
        walk(&s, "Australia/Lord_Howe", 1712413800, 1712410000); /* 2024-04-06T14:30Z */
        walk(&s, "America/New_York", 0, 1730610000);             /* 2024-11-03T05:00Z */
    } else if (e.msg[0] == '\0') {
        abort(); /* every refusal says why */
    }
    free(text);
    return 0;
}

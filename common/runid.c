/* runid: the one way gust names runs and the one rule run ids keep (see runid.h).
 *
 * Scheduled and backfilled runs are named after their logical date, so creating one twice
 * finds the first (UNIQUE (dag_id, run_id)); manual and triggered runs after the instant they
 * were made, to the microsecond like Airflow. Either way the text is Airflow's, so DAGs that
 * read run ids see what they would there.
 *
 * Key invariant: every run id gust stores keeps runid_check (Airflow's rule), so it never
 * holds a '/', a control character or more than RUNID_MAX bytes, and becomes a folder name
 * (run_id=<id>) as it is, one id to one folder. */
#include "runid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "iso8601.h"

/* The characters of Airflow's allowed_run_id_pattern besides letters and digits. */
#define RUNID_PUNCT "_.~:+-"

static int
allowed(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(RUNID_PUNCT, c) != NULL);
}

int
runid_check(const char *id, struct err *e)
{
    size_t n = strlen(id);

    if (n == 0)
        return err_set(e, ERR_USAGE, "invalid run id: it is empty");
    if (n > RUNID_MAX)
        return err_set(e, ERR_USAGE, "invalid run id: %zu characters, more than %d", n, RUNID_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];

        if (!allowed(c)) {
            char shown[8];

            /* the id itself is not echoed: it may hold escapes for the terminal */
            if (c > ' ' && c < 0x7f)
                snprintf(shown, sizeof(shown), "'%c'", c);
            else
                snprintf(shown, sizeof(shown), "\\x%02x", c);
            return err_set(e, ERR_USAGE,
                           "invalid run id: character %s at position %zu (allowed: letters, "
                           "digits and " RUNID_PUNCT ")",
                           shown, i + 1);
        }
        if (c == '.' && id[i + 1] == '.')
            return err_set(e, ERR_USAGE, "invalid run id: '..' at position %zu", i + 1);
    }
    return 0;
}

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

/* $GUST_TEST_RUNID_NOW as an instant; 0 when it is unset or not "<seconds>.<6 digits>". */
static int
test_clock(time_t *sec, long *usec)
{
    const char *v = getenv("GUST_TEST_RUNID_NOW");
    char *end;
    long long s;

    if (v == NULL || *v == '\0')
        return 0;
    s = strtoll(v, &end, 10);
    if (end[0] != '.' || strlen(end + 1) != 6 || strspn(end + 1, "0123456789") != 6)
        return 0;
    *sec = (time_t)s;
    *usec = strtol(end + 1, NULL, 10);
    return 1;
}

void
runid_clock(time_t *sec, long *usec)
{
    struct timespec ts;

    if (test_clock(sec, usec))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    *sec = ts.tv_sec;
    *usec = ts.tv_nsec / 1000;
}

/* schedule_next: print the next trigger times of a schedule, for tests and for people.
 *
 *   schedule_next EXPR TZ START AFTER N [END]
 *   schedule_next --batch     (stdin: one query per line, the same fields separated by tabs)
 *
 * EXPR is anything schedule_parse accepts; TZ an IANA zone; START, AFTER and END are
 * ISO-8601 date-times read with tz_parse_iso in TZ (START and END may be "-" for none).
 * Prints up to N trigger times, one per line, as ISO-8601 with the zone's offset; fewer when
 * the schedule ends. Each time is the first trigger strictly after the previous one (the
 * first: strictly after AFTER). In batch mode each answer ends with a line "--" and errors
 * are printed as "error: ..." in place of the times. Exit 0 ok, 1 schedule error, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/schedule.h"
#include "schedule/tz.h"

static int
parse_time(const char *tz, const char *text, time_t *out, struct err *e)
{
    if (strcmp(text, "-") == 0) {
        *out = 0;
        return 0;
    }
    return tz_parse_iso(tz, text, out, e);
}

/* Answer one query (argv-style fields); errors go to err_out. 0 ok, 1 schedule, 2 usage. */
static int
query(int argc, char **argv, FILE *err_out)
{
    struct schedule s;
    struct err e = {0};
    time_t start, end = 0, after, next;
    char buf[32];
    long n;
    int rc;

    if (argc != 5 && argc != 6) {
        fprintf(err_out, "usage: schedule_next EXPR TZ START|- AFTER N [END|-]\n");
        return 2;
    }
    n = strtol(argv[4], NULL, 10);
    if (tz_check(argv[1], &e) < 0 || parse_time(argv[1], argv[2], &start, &e) < 0 ||
        parse_time(argv[1], argv[3], &after, &e) < 0 ||
        (argc == 6 && parse_time(argv[1], argv[5], &end, &e) < 0)) {
        fprintf(err_out, "error: %s\n", e.msg);
        return 2;
    }
    if (schedule_parse(&s, argv[0], &e) < 0) {
        fprintf(err_out, "error: %s\n", e.msg);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        rc = schedule_next(&s, argv[1], start, end, after, &next, &e);
        if (rc < 0 || (rc == 1 && tz_format(argv[1], next, buf, &e) < 0)) {
            fprintf(err_out, "error: %s\n", e.msg);
            return 1;
        }
        if (rc == 0)
            break;
        printf("%s\n", buf);
        after = next;
    }
    return 0;
}

static int
batch(void)
{
    char line[4096], *fields[8];
    int n;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        n = 0;
        for (char *rest = line, *f; n < 8 && (f = strsep(&rest, "\t")) != NULL;)
            fields[n++] = f;
        query(n, fields, stdout);
        printf("--\n");
        fflush(stdout);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--batch") == 0)
        return batch();
    return query(argc - 1, argv + 1, stderr);
}

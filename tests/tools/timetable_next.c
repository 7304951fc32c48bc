/* timetable_next: the runs gust's timetable gives a DAG, for tests (timetable_check.py).
 *
 *   timetable_next --batch    (stdin: one query per line, fields separated by tabs)
 *
 * A query is FILE DAG_ID NOW LAST_LOGICAL LAST_END N [SEM]: load the DAG file, then ask
 * timetable_next_run_end N times at the instant NOW (ISO-8601 UTC, e.g. 2024-01-01T00:00:00Z),
 * the first time with the last run given (LAST_* "-": none), then each time with the run it
 * just gave as the last one. SEM is "airflow2" or "airflow3" (default) for plain schedules.
 * Each answer is one line per run "LOGICAL START END RUN_AFTER" (UTC, Z), "none" when the
 * timetable has no next run, or "error: ...", and ends with a line "--". Exit 0, 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "schedule/tz.h"
#include "timetable/timetable.h"

static void
put_time(time_t t, const char *sep)
{
    char buf[32];
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s%s", buf, sep);
}

static int
parse_time(const char *text, time_t *out, struct err *e)
{
    if (strcmp(text, "-") == 0)
        return *out = 0, 0;
    return tz_parse_iso("UTC", text, out, e);
}

/* The bag of the last file loaded: queries on one file load it once. */
static struct dagbag *bag;
static char *bag_file;

static struct dagbag *
load(const char *file)
{
    if (bag != NULL && strcmp(bag_file, file) == 0)
        return bag;
    dagbag_free(bag);
    free(bag_file);
    bag_file = strdup(file);
    if ((bag = dagbag_new()) != NULL && bag_file != NULL)
        dagbag_load_file(bag, file);
    return bag;
}

/* Answer one query (fields as in the header). */
static void
query(int argc, char **argv)
{
    const struct dag *dag;
    struct timetable_run r;
    enum timetable_semantics sem = SEM_TRIGGER;
    struct err e = {0};
    time_t now, last, last_end;
    long n;

    if (argc < 6) {
        printf("error: want FILE DAG_ID NOW LAST_LOGICAL LAST_END N [SEM]\n");
        return;
    }
    if (parse_time(argv[2], &now, &e) < 0 || parse_time(argv[3], &last, &e) < 0 ||
        parse_time(argv[4], &last_end, &e) < 0 ||
        (argc > 6 && timetable_semantics_parse(argv[6], &sem) < 0)) {
        printf("error: %s\n", e.msg[0] ? e.msg : "bad semantics");
        return;
    }
    n = strtol(argv[5], NULL, 10);
    if (load(argv[0]) == NULL || (dag = dagbag_find(bag, argv[1])) == NULL) {
        printf("error: no DAG %s in %s\n", argv[1], argv[0]);
        return;
    }
    for (long i = 0; i < n; i++) {
        int rc = timetable_next_run_end(dag, sem, last, last_end, now, &r, &e);
        if (rc <= 0) {
            printf(rc < 0 ? "error: %s\n" : "none\n", e.msg);
            break;
        }
        put_time(r.logical_date, " ");
        put_time(r.data_interval_start, " ");
        put_time(r.data_interval_end, " ");
        put_time(r.create_after, "\n");
        last = r.logical_date, last_end = r.data_interval_end;
    }
}

int
main(int argc, char **argv)
{
    char line[4096], *fields[8];
    int n;

    if (argc != 2 || strcmp(argv[1], "--batch") != 0) {
        fprintf(stderr, "usage: timetable_next --batch\n");
        return 2;
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        n = 0;
        for (char *rest = line, *f; n < 8 && (f = strsep(&rest, "\t")) != NULL;)
            fields[n++] = f;
        query(n, fields);
        printf("--\n");
        fflush(stdout);
    }
    dagbag_free(bag);
    free(bag_file);
    return 0;
}

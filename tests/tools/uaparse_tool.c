/* uaparse_tool: tasks/lib/uaparse from the command line, for the cross-check against
 * python3-ua-parser (tests/integration/uaparse_crosscheck.py) and for people.
 *
 *   uaparse_tool [regexes.yaml] < user-agents.txt
 *
 * Reads one User-Agent per line (without its newline) and prints one line per input:
 * browser, browser major, browser minor, os, os major, os minor, separated by tabs ("" for an
 * unknown field). On stderr at the end: how many lines and the microseconds each took on
 * average. Exit 0, 1 when regexes.yaml does not load (the reason on stderr), 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uaparse.h"

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
    struct err e = {0};
    struct uaparse *u;
    struct uaparse_result r;
    char *line = NULL;
    size_t cap = 0, lines = 0;
    ssize_t n;
    double spent = 0;

    if (argc > 2) {
        fprintf(stderr, "usage: uaparse_tool [regexes.yaml] < user-agents.txt\n");
        return 2;
    }
    u = uaparse_new(argc == 2 ? argv[1] : NULL, &e);
    if (u == NULL) {
        fprintf(stderr, "uaparse_tool: %s\n", e.msg);
        return 1;
    }
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        double t0 = now_us();
        uaparse_parse(u, line, (size_t)n, &r);
        spent += now_us() - t0;
        lines++;
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", r.browser, r.browser_major, r.browser_minor, r.os,
               r.os_major, r.os_minor);
    }
    fprintf(stderr, "uaparse_tool: %zu lines, %.1f us each\n", lines,
            lines ? spent / (double)lines : 0.0);
    free(line);
    uaparse_free(u);
    return 0;
}

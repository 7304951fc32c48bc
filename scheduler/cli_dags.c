/* cli_dags: TEMPORARY STUB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *
cli_dags_folder(void)
{
    const char *f = getenv("GUST_DAGS_FOLDER");
    return f && *f ? f : "./dags";
}

int
cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int
cmd_dags_list(int argc, char **argv)
{
    (void)argc, (void)argv;
    return EXIT_FAIL;
}

int
cmd_dags_show(int argc, char **argv)
{
    (void)argc, (void)argv;
    return EXIT_FAIL;
}

int
cmd_dags_list_import_errors(int argc, char **argv)
{
    (void)argc, (void)argv;
    return EXIT_FAIL;
}

int
cmd_dags_next_execution(int argc, char **argv)
{
    (void)argc, (void)argv;
    return EXIT_FAIL;
}

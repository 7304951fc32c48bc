/* cli_db: TEMPORARY STUB, replaced by the store work. */
#include <stdio.h>

#include "cli.h"

int
cmd_db_migrate(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "gust db migrate: not implemented yet\n");
    return EXIT_FAIL;
}

int
cmd_db_check(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "gust db check: not implemented yet\n");
    return EXIT_FAIL;
}

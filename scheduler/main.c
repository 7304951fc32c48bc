/* gust: an Airflow-compatible job scheduler in one C binary. The command table and the verbs
 * are in cli/; this only names the program for its log lines and hands over. */
#include "cli/cli.h"
#include "log.h"

int
main(int argc, char **argv)
{
    log_open("gust", false);
    return cli_main(argc, argv);
}

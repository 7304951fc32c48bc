/* gust: an Airflow-compatible job scheduler in one C binary.
 *
 * This file is the command table and nothing else: it finds the verb and hands over.
 * Verbs follow Airflow's CLI ("gust dags list", "gust db migrate"); exit codes are
 * 0 ok, 1 failure, 2 usage. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef GUST_VERSION
#define GUST_VERSION "0.1.0"
#endif

struct command {
    const char *group; /* NULL for top-level verbs */
    const char *verb;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
    {"dags", "list", cmd_dags_list, "list the DAGs in the DAG folder"},
    {"dags", "show", cmd_dags_show, "show a DAG's tasks and dependencies (text or DOT)"},
    {"dags", "list-import-errors", cmd_dags_list_import_errors,
     "list the errors found while loading DAG files"},
    {"dags", "next-execution", cmd_dags_next_execution, "print a DAG's next trigger times"},
    {"dags", "reserialize", cmd_dags_reserialize,
     "record the DAG folder (DAGs, import errors) in the database"},
    {"dags", "trigger", cmd_dags_trigger, "create a run (--local: run it here; --wait: watch it)"},
    {"dags", "state", cmd_dags_state, "print the state of a run"},
    {"dags", "list-runs", cmd_dags_list_runs, "list the runs of a DAG"},
    {"dags", "pause", cmd_dags_pause, "pause a DAG (no new scheduled runs)"},
    {"dags", "unpause", cmd_dags_unpause, "unpause a DAG"},
    {"dags", "backfill", cmd_dags_backfill, "run a DAG for past schedule ticks, here"},
    {"tasks", "list", cmd_tasks_list, "list the tasks of a DAG"},
    {"tasks", "test", cmd_tasks_test, "run one task now without recording state"},
    {"tasks", "state", cmd_tasks_state, "print the state of a task instance"},
    {"tasks", "states-for-dag-run", cmd_tasks_states_for_dag_run,
     "print the states of a run's tasks (--tries: every try)"},
    {"tasks", "logs", cmd_tasks_logs, "print the log of a task's try"},
    {"tasks", "clear", cmd_tasks_clear, "clear task instances so they run again"},
    {"db", "migrate", cmd_db_migrate, "create or upgrade the metadata schema"},
    {"db", "check", cmd_db_check, "check that the database is reachable and up to date"},
    {NULL, "scheduler", cmd_scheduler, "run the scheduler (and its executor) until stopped"},
    {NULL, "worker", cmd_worker, "run queued tasks until stopped"},
    {"jobs", "check", cmd_jobs_check, "exit 0 when a scheduler/worker is alive (liveness)"},
    {"variables", "get", cmd_variables, "print a variable"},
    {"variables", "set", cmd_variables, "set a variable"},
    {"variables", "list", cmd_variables, "list the variables"},
    {"variables", "delete", cmd_variables, "delete a variable"},
    {NULL, "version", cmd_version, "print the version"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out, const char *group)
{
    fprintf(out, "usage: gust <command> [options]   (gust <command> --help for details)\n\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command *c = &commands[i];
        char name[64];

        if (group && (c->group == NULL || strcmp(c->group, group) != 0))
            continue;
        snprintf(name, sizeof(name), "%s%s%s", c->group ? c->group : "", c->group ? " " : "",
                 c->verb);
        fprintf(out, "  %-26s %s\n", name, c->summary);
    }
    if (group == NULL)
        fprintf(out, "\nenvironment: GUST_DAGS_FOLDER (default ./dags), GUST_DATABASE_URL "
                     "(libpq conninfo or URI; PG* variables also work)\n");
}

static int
cmd_version(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: gust version\n");
        return EXIT_OK;
    }
    printf("gust %s\n", GUST_VERSION);
    return EXIT_OK;
}

static int
known_group(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].group && strcmp(commands[i].group, name) == 0)
            return 1;
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command *c = &commands[i];

        if (c->group == NULL && strcmp(argv[1], c->verb) == 0)
            return c->run(argc - 1, argv + 1);
        if (c->group && strcmp(argv[1], c->group) == 0 && argc >= 3 &&
            strcmp(argv[2], c->verb) == 0)
            return c->run(argc - 2, argv + 2);
    }
    if (known_group(argv[1])) {
        int help = argc >= 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0);

        if (argc >= 3 && !help)
            fprintf(stderr, "gust: unknown command '%s %s'\n\n", argv[1], argv[2]);
        usage(help ? stdout : stderr, argv[1]);
        return help ? EXIT_OK : EXIT_USAGE;
    }
    fprintf(stderr, "gust: unknown command '%s'\n\n", argv[1]);
    usage(stderr, NULL);
    return EXIT_USAGE;
}

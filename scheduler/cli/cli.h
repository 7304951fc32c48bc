/* cli: the verbs of the gust command line. Each takes argc/argv starting at its own verb
 * (argv[0] = "list" for "gust dags list") and returns the process exit code:
 * 0 ok, 1 failure, 2 usage. */
#ifndef GUST_CLI_H
#define GUST_CLI_H

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_dags_list(int argc, char **argv);
int cmd_dags_show(int argc, char **argv);
int cmd_dags_list_import_errors(int argc, char **argv);
int cmd_dags_next_execution(int argc, char **argv);
int cmd_dags_reserialize(int argc, char **argv);
int cmd_dags_trigger(int argc, char **argv);
int cmd_dags_state(int argc, char **argv);
int cmd_dags_list_runs(int argc, char **argv);
int cmd_tasks_list(int argc, char **argv);
int cmd_tasks_state(int argc, char **argv);
int cmd_tasks_states_for_dag_run(int argc, char **argv);
int cmd_tasks_logs(int argc, char **argv);
int cmd_tasks_clear(int argc, char **argv);
int cmd_tasks_test(int argc, char **argv);
int cmd_dags_pause(int argc, char **argv);
int cmd_dags_unpause(int argc, char **argv);
int cmd_dags_backfill(int argc, char **argv);
int cmd_variables(int argc, char **argv);
int cmd_scheduler(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_jobs_check(int argc, char **argv);
int cmd_db_migrate(int argc, char **argv);
int cmd_db_check(int argc, char **argv);

/* The folder DAG files are read from: $GUST_DAGS_FOLDER, default "./dags". */
const char *cli_dags_folder(void);

/* True when argv has -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

#endif

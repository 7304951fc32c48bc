/* cli_int: the verb table's row, the parsed arguments a verb receives, and helpers shared by
 * the cli_*.c verbs. The helpers print their own error messages. */
#ifndef GUST_CLI_INT_H
#define GUST_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* The exit codes of every verb. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct dagbag;
struct dag;
struct store;
struct cli_args;
typedef struct json_t json_t;

/* One verb: a row of the command table (cli_table.c). Usage, --help and the message on a bad
 * argument are all made from the row.
 *
 * opts is a space-separated list of options, each "[!]X,long[=META]" or "[!]long[,X][=META]":
 * X the short letter (usage shows -X when it comes first, else --long), =META an argument
 * (META is what usage shows), ! a required option. -h/--help is added to every verb. */
struct cli_verb {
    const char *group; /* "dags", or NULL for a top-level verb */
    const char *name;
    const char *args; /* positional arguments as usage shows them: "DAG_ID [RUN_ID]" */
    int min_args, max_args;
    const char *opts;
    const char *summary; /* one line for the verb lists */
    const char *help;    /* what --help adds after the usage; NULL: the summary */
    int (*run)(const struct cli_args *a);
};

#define CLI_MAX_OPTS 16

/* What a verb receives: its positional arguments and the options given. */
struct cli_args {
    const struct cli_verb *verb;
    int argc; /* positional arguments only */
    char **argv;
    const char *val[CLI_MAX_OPTS]; /* by position in verb->opts: NULL absent, "" a flag given */
};

/* Parse argv (starting after the verb's name) for verb into a. Returns -1 when the verb is to
 * run, else the exit code (help printed: 0; usage error printed: 2). */
int cli_args_parse(const struct cli_verb *verb, int argc, char **argv, struct cli_args *a);

/* The argument of option --name, or def when it was not given. */
const char *cli_arg(const struct cli_args *a, const char *name, const char *def);

/* True when option --name was given. */
bool cli_flag(const struct cli_args *a, const char *name);
int cli_map_index(const struct cli_args *a);

/* Print the verb's usage to stderr; returns the usage exit code (2). */
int cli_usage_error(const struct cli_args *a);

/* Print a verb's usage (wrapped "usage: gust ..." lines) to out. */
void cli_print_usage(FILE *out, const struct cli_verb *verb);

/* The folder DAG files are read from: $GUST_DAGS_FOLDER, default "./dags". */
const char *cli_dags_folder(void);

/* Load the DAG folder (subdir, else $GUST_DAGS_FOLDER, else ./dags), or the one DAG file
 * subdir names (Airflow's --subdir FILE); NULL after a message. */
struct dagbag *cli_load_bag(const char *subdir);

/* The DAG with this id, or NULL after a message (mentioning import errors if it has some). */
const struct dag *cli_find_dag(const struct dagbag *bag, const char *dag_id);

/* Connect to the database ($GUST_DATABASE_URL or PG*); NULL after a message. */
struct store *cli_open_store(void);

/* The run id named by text: a run id of dag_id, else a logical date (ISO-8601, UTC unless it
 * has an offset) resolved to its run, as Airflow's LOGICAL_DATE_OR_RUN_ID arguments are.
 * *run_id new text; -1 after a message. */
int cli_resolve_run(struct store *s, const char *dag_id, const char *text, char **run_id);

/* A connection when a database is configured ($GUST_DATABASE_URL, PGHOST or PGDATABASE),
 * else NULL (a warning when it is configured but unreachable). */
struct store *cli_optional_store(void);

/* Pause or unpause the recorded DAGs whose id matches the regex a->argv[0]. */
int cli_set_paused_regex(const struct cli_args *a, bool paused);

/* Ask question on the terminal: EXIT_OK to go on; EXIT_FAIL when answered no; EXIT_USAGE
 * (after a message naming verb and -y) when stdin is not a terminal. */
int cli_confirm(const char *verb, const char *question);

/* Watch a run in the database until it ends, showing progress; exit code 0 success, 1
 * failed. */
int cli_watch_run(struct store *s, const char *dag_id, const char *run_id);

/* s as a table cell: control characters (C0, DEL, C1) written as \xNN, so that a value (an
 * id from an old database, a tag) cannot move the cursor, recolour the terminal or start a
 * line of its own. A new string (free it), NULL when out of memory. */
char *cli_escape(const char *s);

/* Print an array of flat JSON objects as "table" (columns given, NULL-terminated), "json"
 * or "plain" (tab-separated, no header); table and plain cells are escaped (cli_escape), JSON
 * is escaped by jansson. */
void cli_print_rows(json_t *rows, const char *output, const char *const *columns);

/* The verbs (the handlers of the table's rows). */
int cli_dags_list(const struct cli_args *a);
int cli_dags_show(const struct cli_args *a);
int cli_dags_list_import_errors(const struct cli_args *a);
int cli_dags_next_execution(const struct cli_args *a);
int cli_dags_reserialize(const struct cli_args *a);
int cli_dags_trigger(const struct cli_args *a);
int cli_dags_state(const struct cli_args *a);
int cli_dags_list_runs(const struct cli_args *a);
int cli_dags_pause(const struct cli_args *a);
int cli_dags_unpause(const struct cli_args *a);
int cli_dags_backfill(const struct cli_args *a);
int cli_backfill_create(const struct cli_args *a);
int cli_dags_test(const struct cli_args *a);
int cli_tasks_render(const struct cli_args *a);
int cli_tasks_failed_deps(const struct cli_args *a);
int cli_dags_show_dependencies(const struct cli_args *a);
int cli_tasks_list(const struct cli_args *a);
int cli_tasks_state(const struct cli_args *a);
int cli_tasks_states_for_dag_run(const struct cli_args *a);
int cli_tasks_logs(const struct cli_args *a);
int cli_tasks_clear(const struct cli_args *a);
int cli_tasks_test(const struct cli_args *a);
int cli_variables_get(const struct cli_args *a);
int cli_variables_set(const struct cli_args *a);
int cli_variables_list(const struct cli_args *a);
int cli_variables_delete(const struct cli_args *a);
int cli_scheduler(const struct cli_args *a);
int cli_worker(const struct cli_args *a);
int cli_jobs_check(const struct cli_args *a);
int cli_db_migrate(const struct cli_args *a);
int cli_connections_add(const struct cli_args *a);
int cli_connections_get(const struct cli_args *a);
int cli_connections_list(const struct cli_args *a);
int cli_connections_delete(const struct cli_args *a);
int cli_connections_export(const struct cli_args *a);
int cli_connections_import(const struct cli_args *a);
int cli_rotate_fernet_key(const struct cli_args *a);
int cli_db_check(const struct cli_args *a);
int cli_db_clean(const struct cli_args *a);
int cli_db_reset(const struct cli_args *a);
int cli_config_get_value(const struct cli_args *a);
int cli_config_list(const struct cli_args *a);
int cli_dags_delete(const struct cli_args *a);
int cli_dags_details(const struct cli_args *a);
int cli_variables_import(const struct cli_args *a);
int cli_variables_export(const struct cli_args *a);
int cli_assets_list(const struct cli_args *a);
int cli_assets_details(const struct cli_args *a);
int cli_assets_event(const struct cli_args *a);
int cli_pools_list(const struct cli_args *a);
int cli_pools_get(const struct cli_args *a);
int cli_pools_set(const struct cli_args *a);
int cli_pools_delete(const struct cli_args *a);
int cli_pools_import(const struct cli_args *a);
int cli_pools_export(const struct cli_args *a);

#endif

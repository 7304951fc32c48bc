/* cli_int: helpers shared by the cli_*.c verbs. They print their own error messages. */
#ifndef GUST_CLI_INT_H
#define GUST_CLI_INT_H

#include <stddef.h>
#include <time.h>

struct dagbag;
struct dag;
struct store;
typedef struct json_t json_t;

/* Load the DAG folder (subdir, else $GUST_DAGS_FOLDER, else ./dags); NULL after a message. */
struct dagbag *cli_load_bag(const char *subdir);

/* The DAG with this id, or NULL after a message (mentioning import errors if it has some). */
const struct dag *cli_find_dag(const struct dagbag *bag, const char *dag_id);

/* Connect to the database ($GUST_DATABASE_URL or PG*); NULL after a message. */
struct store *cli_open_store(void);

/* Watch a run in the database until it ends, showing progress; exit code 0 success, 1
 * failed. */
int cli_watch_run(struct store *s, const char *dag_id, const char *run_id);

/* Print an array of flat JSON objects as "table" (columns given, NULL-terminated), "json"
 * or "plain" (tab-separated, no header). */
void cli_print_rows(json_t *rows, const char *output, const char *const *columns);

#endif

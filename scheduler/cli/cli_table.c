/* cli_table: the command table, one row per verb, as tmux's command table is: group and name,
 * positional arguments, options, one-line summary, help text and handler. cli_main finds the
 * row named on the command line, has cli_args.c parse the arguments by it and runs the
 * handler. `gust --help` and `gust <group> --help` list the rows.
 *
 * Key invariant: a verb exists only as a row here; its usage and help come from the row. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "log.h"

#ifndef GUST_VERSION
#define GUST_VERSION "0.1.0"
#endif

#define DAGS_FOLDER_OPT "S,subdir=DAG_FOLDER"
#define POOLS_OUTPUT_OPT "o,output=table|json|yaml|plain"
#define DATABASE_HELP                                                                              \
    "Database: $GUST_DATABASE_URL (libpq conninfo or URI), else the PG* variables."

static int cli_version(const struct cli_args *a);

static const struct cli_verb verbs[] = {
    {"dags", "list", NULL, 0, 0, "o,output=table|json|yaml|plain columns=COLS " DAGS_FOLDER_OPT,
     "list the DAGs in the DAG folder",
     "List the DAGs that load from the DAG folder ($GUST_DAGS_FOLDER, default ./dags)\n"
     "with their schedule, owner, tags and next trigger time. --columns picks and orders\n"
     "them: dag_id,fileloc,schedule,owners,tags,is_paused,next_dagrun.",
     cli_dags_list},
    {"dags", "show", "DAG_ID", 1, 1, "format,f=text|dot save,s=FILE " DAGS_FOLDER_OPT,
     "show a DAG's tasks and dependencies (text or DOT)",
     "Show a DAG's tasks and dependencies. --save writes FILE: .dot as DOT,\n"
     ".png/.svg/.pdf rendered by graphviz's dot.",
     cli_dags_show},
    {"dags", "list-import-errors", NULL, 0, 0, "o,output=plain|json " DAGS_FOLDER_OPT " warnings,w",
     "list the errors found while loading DAG files",
     "Print every error found while loading DAG files, as file:line:col: message.\n"
     "--warnings also prints warnings. Exit 1 when there are errors.",
     cli_dags_list_import_errors},
    {"dags", "next-execution", "DAG_ID", 1, 1,
     "n,num-executions=N after,a=TIMESTAMP " DAGS_FOLDER_OPT, "print a DAG's next trigger times",
     "Print the next N trigger times strictly after TIMESTAMP (default now), one ISO-8601\n"
     "timestamp per line in the DAG's time zone; TIMESTAMP without an offset is read in\n"
     "that zone. Prints None when the DAG has no further run.",
     cli_dags_next_execution},
    {"dags", "reserialize", NULL, 0, 0, DAGS_FOLDER_OPT,
     "record the DAG folder (DAGs, import errors) in the database",
     "Parse the DAG folder and record it in the database: one `dag` row per DAG (pause state\n"
     "kept), DAGs whose file is gone marked inactive, `import_error` rows replaced.\n"
     "With -S FILE_OR_FOLDER only that part of the folder is read and recorded: DAGs and\n"
     "import errors of files elsewhere are left as they are.\n"
     "The scheduler does this on its own; this verb is for scripts and first set-up.",
     cli_dags_reserialize},
    {"dags", "trigger", "DAG_ID", 1, 1,
     "c,conf=JSON r,run-id=ID l,logical-date=TS exec-date,e=TS wait local "
     "o,output=table|json|yaml|plain " DAGS_FOLDER_OPT,
     "create a run (--local: run it here; --wait: watch it)",
     "Create a run of DAG_ID and print its run id.\n"
     "  -c JSON    the run's conf (a JSON object); it overrides the DAG's params\n"
     "  -r ID      run id: up to 250 letters, digits and _.~:+- (Airflow's rule)\n"
     "             (default manual__<now, ISO-8601, to the microsecond>)\n"
     "  -l TS      logical date (default now; -e is the same)\n"
     "  --wait     show progress until the run ends; exit 0 if it succeeded, 1 if it failed\n"
     "  --local    run it in this process now, without a scheduler (implies --wait)\n"
     "  -o FORMAT  print the run created (conf, dag_id, dag_run_id, logical_date...)\n"
     "             instead of its run id",
     cli_dags_trigger},
    {"dags", "show-dependencies", NULL, 0, 0, "format,f=dot|text " DAGS_FOLDER_OPT,
     "show the dependencies between DAGs (DOT or text)",
     "Print the dependencies between the DAGs of the DAG folder: each TriggerDagRunOperator\n"
     "links its DAG to the DAG it triggers, each outlet its DAG to the DAGs scheduled on the\n"
     "asset. DOT (default, Airflow's dag:/trigger:/asset: node names; render it with\n"
     "graphviz's dot) or text, one \"dag -> target (trigger: task)\" or \"dag -> consumer\n"
     "(asset: URI, from task)\" line each.",
     cli_dags_show_dependencies},
    {"dags", "state", "DAG_ID LOGICAL_DATE_OR_RUN_ID", 2, 2, NULL, "print the state of a run",
     "Print the state of a run, and its conf when it has one. The run is named by its run\n"
     "id or its logical date (ISO-8601, UTC unless it has an offset).",
     cli_dags_state},
    {"dags", "list-runs", "DAG_ID", 0, 1,
     "o,output=table|json|yaml|plain state=STATE dag-id,d=DAG_ID s,start-date=DATE "
     "e,end-date=DATE limit=N no-backfill",
     "list the runs of a DAG",
     "List the runs of a DAG (DAG_ID or --dag-id), newest first. As in Airflow, -s is\n"
     "--start-date and -e --end-date (logical dates, inclusive; a date alone covers its\n"
     "day); the state filter is --state only. --no-backfill leaves backfill runs out.",
     cli_dags_list_runs},
    {"dags", "pause", "DAG_ID", 1, 1, "treat-dag-id-as-regex y,yes",
     "pause a DAG (no new scheduled runs)",
     "Pause a DAG. --treat-dag-id-as-regex pauses every recorded DAG whose id matches\n"
     "DAG_ID (a POSIX regex), after a confirmation that -y skips.",
     cli_dags_pause},
    {"dags", "unpause", "DAG_ID", 1, 1, "treat-dag-id-as-regex y,yes", "unpause a DAG",
     "Unpause a DAG. --treat-dag-id-as-regex unpauses every recorded DAG whose id matches\n"
     "DAG_ID (a POSIX regex), after a confirmation that -y skips.",
     cli_dags_unpause},
    {"dags", "delete", "DAG_ID", 1, 1, "y,yes",
     "delete a DAG's records (its runs, task instances, XCom)",
     "Delete every record of DAG_ID from the database: its runs with their task instances,\n"
     "tries and XCom, and its dag row. The DAG file is left alone (the scheduler records\n"
     "the DAG again if the file is still there). Asks first unless -y.",
     cli_dags_delete},
    {"dags", "details", "DAG_ID", 1, 1, "o,output=table|json|yaml|plain " DAGS_FOLDER_OPT,
     "print a DAG's settings",
     "Print a DAG's settings as loaded from its file (schedule, dates, limits, tags,\n"
     "params) and its pause state when a database is configured.",
     cli_dags_details},
    {"dags", "backfill", "DAG_ID", 1, 1,
     "!s,start-date=START !e,end-date=END reset-dagruns rerun-failed-tasks max-active-runs,m=N "
     "dry-run " DAGS_FOLDER_OPT " y,yes",
     "run a DAG for past schedule ticks, here",
     "Run DAG_ID for every schedule tick from START to END (inclusive), here and now.\n"
     "Existing runs in the range are left alone, unless --reset-dagruns (clear and run them\n"
     "again) or --rerun-failed-tasks (clear their failed tasks).",
     cli_dags_backfill},
    {"backfill", "create", NULL, 0, 0,
     "!dag-id=DAG_ID !from-date=DATE !to-date=DATE "
     "reprocess-behavior=none|failed|completed max-active-runs=N run-backwards "
     "dry-run " DAGS_FOLDER_OPT,
     "Airflow 3's backfill: run a DAG for past schedule ticks, here",
     "Airflow 3's form of `dags backfill`: a run for every schedule tick from --from-date to\n"
     "--to-date (inclusive), driven here (Airflow 3 hands it to the scheduler; gust runs it\n"
     "in this process and exits 0 when every run succeeded, 1 otherwise). Existing runs:\n"
     "--reprocess-behavior none leaves them alone (default), failed runs their failed tasks\n"
     "again, completed runs them again. --run-backwards starts with the newest tick.",
     cli_backfill_create},
    {"dags", "test", "DAG_ID [LOGICAL_DATE]", 1, 2, "c,conf=JSON " DAGS_FOLDER_OPT,
     "run a DAG once here, now (recorded)",
     "Run DAG_ID once in this process, as Airflow's `dags test`: a manual run at\n"
     "LOGICAL_DATE (default now), recorded in the database; a run of that logical date that\n"
     "already exists is cleared and runs again. Exit 0 when it succeeded, 1 when it failed.",
     cli_dags_test},
    {"tasks", "list", "DAG_ID", 1, 1, "tree", "list the tasks of a DAG",
     "List the task ids of a DAG, sorted; --tree shows them under their upstreams.",
     cli_tasks_list},
    {"tasks", "test", "DAG_ID TASK_ID [DATE_OR_RUN_ID]", 2, 3, "t,task-params=JSON m,map-index=N",
     "run one task now without recording state",
     "Run one task now without recording state; print its log and the XCom it would push.\n"
     "A mapped task's instance is named with -m/--map-index (its upstream's XCom is read from\n"
     "the run given).",
     cli_tasks_test},
    {"tasks", "state", "DAG_ID TASK_ID LOGICAL_DATE_OR_RUN_ID", 3, 3, "m,map-index=N",
     "print the state of a task instance",
     "Print the state of a task instance; its run is named by run id or logical date, a\n"
     "mapped task's instance by -m/--map-index (default -1: an unmapped task).",
     cli_tasks_state},
    {"tasks", "states-for-dag-run", "DAG_ID LOGICAL_DATE_OR_RUN_ID", 2, 2,
     "o,output=table|json|plain tries,t", "print the states of a run's tasks (--tries: every try)",
     "Print the states of a run's tasks. --tries lists every try (the run's whole history).",
     cli_tasks_states_for_dag_run},
    {"tasks", "render", "DAG_ID TASK_ID LOGICAL_DATE_OR_RUN_ID", 3, 3,
     DAGS_FOLDER_OPT " m,map-index=N", "print a task's templated fields, rendered",
     "Render every templated field of a task for a run (its run id or logical date; a date\n"
     "with no run renders for a manual run at that date) as a try would: bash_command,\n"
     "cmds, arguments, env values, a SQL task's statements. XCom pulls and variables read\n"
     "the database when one is configured.",
     cli_tasks_render},
    {"tasks", "failed-deps", "DAG_ID TASK_ID LOGICAL_DATE_OR_RUN_ID", 3, 3, DAGS_FOLDER_OPT,
     "print why a task instance does not run",
     "Print the dependencies of a task instance that are not met, as Airflow's\n"
     "`Dependency: NAME, reason: ...` lines: its state, its run's state, the DAG's pause\n"
     "and its trigger rule judged by the planner on the run's recorded states. Exit 0\n"
     "either way (Airflow's), 1 when the run or task does not exist.",
     cli_tasks_failed_deps},
    {"tasks", "logs", "DAG_ID TASK_ID RUN_ID", 3, 3, "try=N m,map-index=N",
     "print the log of a task's try",
     "Print the log of a task's try (default its latest); a mapped task's instance is named\n"
     "with -m/--map-index.",
     cli_tasks_logs},
    {"tasks", "clear", "DAG_ID", 1, 1,
     "t,task-regex=REGEX run-id=RUN_ID s,start-date=DATE e,end-date=DATE only-failed,f "
     "r,only-running u,upstream d,downstream R,dag-regex y,yes m,map-index=N",
     "clear task instances so they run again",
     "Set matching task instances back to none so they run again (their runs go back to\n"
     "queued), as Airflow's: -t the task ids (a POSIX regex), -s/-e the runs' logical dates\n"
     "(inclusive), --run-id one run, -u/-d also the matches' upstream/downstream tasks, -R\n"
     "DAG_ID is a regex over the DAG ids. Running tries are never interrupted: they are\n"
     "left alone and counted (so -r/--only-running clears nothing and reports them). -r is\n"
     "--only-running as in Airflow; the run id is --run-id only. -m/--map-index clears one\n"
     "instance of a mapped task; without it every instance is cleared, and the task expands\n"
     "again from its upstream's current XCom.",
     cli_tasks_clear},
    {"db", "migrate", NULL, 0, 0, NULL, "create or upgrade the metadata schema",
     "Create or upgrade the metadata schema: apply the migrations this gust carries that the\n"
     "database lacks, each in one transaction. Running it again is a no-op; concurrent runs\n"
     "are serialized. Refuses a database whose schema is newer than this gust.\n" DATABASE_HELP,
     cli_db_migrate},
    {"db", "clean", NULL, 0, 0,
     "!clean-before-timestamp=TS t,tables=TABLES dry-run skip-archive y,yes",
     "delete runs, task instances, XCom and logs older than a timestamp",
     "Retention: delete the rows older than TS (ISO-8601, UTC unless it has an offset) of\n"
     "the tables given as Airflow names them (default all): dag_run (with its task\n"
     "instances, tries, XCom and log folders), task_instance, task_instance_history, xcom,\n"
     "log, job, import_error, task_reschedule, asset_event. Queued and running runs, their\n"
     "task instances and XCom, and each DAG's newest non-manual run are kept. One\n"
     "transaction. --dry-run counts only.\n"
     "A table gust does not clean is skipped with a warning. gust never archives, so\n"
     "--skip-archive (Airflow's) changes nothing. Asks first unless -y.\n" DATABASE_HELP,
     cli_db_clean},
    {"db", "reset", NULL, 0, 0, "y,yes", "drop gust's tables and create them again",
     "Drop every table, function and schema gust's migrations create, with their data, and\n"
     "migrate again. Asks first; without a terminal it refuses unless -y.\n" DATABASE_HELP,
     cli_db_reset},
    {"db", "check", NULL, 0, 0, NULL, "check that the database is reachable and up to date",
     "Exit 0 when the database is reachable and its schema is up to date, 1 "
     "otherwise.\n" DATABASE_HELP,
     cli_db_check},
    {NULL, "scheduler", NULL, 0, 0, "no-executor num-runs,n=N once data-intervals " DAGS_FOLDER_OPT,
     "run the scheduler (and its executor) until stopped",
     "Create scheduled runs, plan every run and (unless --no-executor) run their tasks. Runs\n"
     "until SIGTERM/SIGINT: then no new work starts, running tries get 30 s to finish and are\n"
     "stopped after that (their retries run later). SIGHUP reloads the DAG folder (it is also\n"
     "checked every $GUST_DAG_DIR_LIST_INTERVAL seconds, default 30).\n"
     "  --no-executor     leave every task to `gust worker` processes\n"
     "  --num-runs N      stop after N scheduling loops (Airflow's meaning)\n"
     "  --once            stop when no run is active and none is due\n"
     "  --data-intervals  Airflow 2 schedules: a run covers [tick, next tick) and starts at its\n"
     "                    end (default: Airflow 3, a run's logical date is its trigger time;\n"
     "                    also $GUST_SCHEDULE_SEMANTICS=airflow2)",
     cli_scheduler},
    {NULL, "worker", NULL, 0, 0, "concurrency,c=N queues,q=Q[,Q...] " DAGS_FOLDER_OPT,
     "run queued tasks until stopped",
     "Claim queued task instances (of the DAGs in the DAG folder) and run them, holding a\n"
     "lease on each running try. Any number of workers may run, on any machine.\n"
     "  -q, --queues  the queues it serves, comma-separated (default: default, Airflow's\n"
     "                default_queue); a task's `queue` routes it to the workers serving it",
     cli_worker},
    {"jobs", "check", NULL, 0, 0, "job-type,t=scheduler|worker max-age,a=SECONDS",
     "exit 0 when a scheduler/worker is alive (liveness)",
     "Exit 0 when a job of that type heartbeat within SECONDS (default 60): a liveness probe.",
     cli_jobs_check},
    {"variables", "get", "KEY", 1, 1, "reveal d,default=VALUE j,json",
     "print a variable (a secret-looking one as ***)",
     "Print a variable's value (--default VALUE when it is unset; exit 1 when unset without\n"
     "one; -j reads it as JSON and prints it compact). A key that looks secret (it contains\n"
     "password, secret, passwd, authorization, api_key, apikey, access_token or private_key)\n"
     "prints *** unless --reveal.",
     cli_variables_get},
    {"variables", "set", "KEY VALUE", 2, 2, NULL, "set a variable", NULL, cli_variables_set},
    {"variables", "list", NULL, 0, 0, "o,output=table|json",
     "list the variables (secret-looking ones as ***)", NULL, cli_variables_list},
    {"variables", "delete", "KEY", 1, 1, NULL, "delete a variable", NULL, cli_variables_delete},
    {"variables", "import", "FILE", 1, 1, "a,action-on-existing-key=overwrite|skip|fail",
     "set the variables of a JSON file",
     "Set the variables of FILE, Airflow's format: {\"key\": value}; a value that is not a\n"
     "string is stored as its JSON text. An existing key is overwritten (default), skipped\n"
     "or a failure (exit 1).",
     cli_variables_import},
    {"variables", "export", "FILE", 1, 1, NULL, "write every variable to a JSON file",
     "Write every variable to FILE (- for stdout) as {\"key\": value}, a value that is JSON\n"
     "written as JSON; secrets in clear (the file is created with mode 0600).",
     cli_variables_export},
    {"assets", "list", NULL, 0, 0, "o,output=table|json|yaml|plain",
     "list the assets (datasets) the DAG files declare",
     "List every asset recorded from the DAG files (outlets, inlets, asset schedules) or by\n"
     "an event: its URI, name and group, how many tasks produce it and DAGs consume it, its\n"
     "events and the last one's time (UTC).",
     cli_assets_list},
    {"assets", "details", "URI", 1, 1, "o,output=table|json",
     "show an asset: producers, consumers, recent events",
     "Show the asset with this URI: its row, the tasks that update it (outlets), the DAGs\n"
     "scheduled on it (paused or not, with an update pending or not) and its newest events.",
     cli_assets_details},
    {"assets", "event", "URI", 1, 1, "extra=JSON",
     "record an update of an asset from outside (queues its consumers)",
     "Record an event of the asset with this URI, as Airflow's POST /assets/events does: no\n"
     "source task, --extra JSON (an object) as its extra. Every active, unpaused DAG\n"
     "scheduled on the asset is queued; the scheduler runs it when its condition holds.\n"
     "Exit 1 when no asset has that URI.",
     cli_assets_event},
    {"pools", "list", NULL, 0, 0, POOLS_OUTPUT_OPT " v,verbose",
     "list the pools, with the slots each holds now",
     "List the pools: Airflow's columns pool, slots (-1: unlimited), description and\n"
     "include_deferred, then running_slots and queued_slots (the pool_slots of its running\n"
     "and queued task instances) and open_slots (slots - running_slots; unlimited / null for\n"
     "-1). -o plain prints Airflow's four columns only.\n" DATABASE_HELP,
     cli_pools_list},
    {"pools", "get", "NAME", 1, 1, POOLS_OUTPUT_OPT " v,verbose",
     "print a pool, with the slots it holds now",
     "Print one pool as `pools list` does. Exit 1 when it does not exist.", cli_pools_get},
    {"pools", "set", "NAME SLOTS DESCRIPTION", 3, 3,
     "include-deferred " POOLS_OUTPUT_OPT " v,verbose", "create a pool or change one",
     "Create the pool NAME with SLOTS slots (-1: unlimited), or change its slots, description\n"
     "and include_deferred. --include-deferred is recorded for Airflow's sake and changes\n"
     "nothing: gust has no deferred state (a deferrable sensor reschedules and holds no\n"
     "slot while it waits).",
     cli_pools_set},
    {"pools", "delete", "NAME", 1, 1, POOLS_OUTPUT_OPT " v,verbose", "delete a pool",
     "Delete the pool NAME. default_pool cannot be deleted. A task naming a pool that does\n"
     "not exist fails, with a message naming the pool.",
     cli_pools_delete},
    {"pools", "import", "FILEPATH", 1, 1, "v,verbose", "create or change the pools of a JSON file",
     "Create or change the pools of FILEPATH, Airflow's format:\n"
     "  {\"pool_1\": {\"slots\": 5, \"description\": \"\", \"include_deferred\": false}}\n"
     "(include_deferred optional). Every entry is checked first; when one is bad, nothing\n"
     "is imported and exit 1 names it. All of them are written in one transaction.",
     cli_pools_import},
    {"pools", "export", "FILEPATH", 1, 1, "v,verbose", "write every pool to a JSON file",
     "Write every pool to FILEPATH (- for stdout) as Airflow does: sorted keys, indented.",
     cli_pools_export},
    {"config", "get-value", "SECTION KEY", 2, 2, NULL, "print one setting",
     "Print the setting gust uses for Airflow's [SECTION] KEY (exit 1 when gust has none);\n"
     "`gust config list` shows them all.",
     cli_config_get_value},
    {"config", "list", NULL, 0, 0, "section=SECTION", "print the settings gust reads",
     "Print the settings gust reads, under Airflow's section and key names where Airflow has\n"
     "them ([core] dags_folder...), else under [gust]; the value in effect (environment,\n"
     "else the default); the Fernet key hidden, a database password masked.",
     cli_config_list},
    {"connections", "add", "CONN_ID", 1, 1,
     "conn-uri=URI conn-json=JSON conn-type=TYPE conn-host=HOST conn-login=LOGIN "
     "conn-password=PASSWORD conn-port=PORT conn-schema=SCHEMA conn-extra=JSON "
     "conn-description=TEXT",
     "add a connection to the connection table",
     "Add a connection, as Airflow's `connections add`: --conn-uri (Airflow's URI form),\n"
     "--conn-json (its JSON form), or --conn-type with the other --conn-* fields.\n"
     "--conn-password, --conn-uri and --conn-json given as - are read from stdin (keeps\n"
     "them out of `ps`; gust also blanks them in its own argv at once). The password and\n"
     "extra are Fernet-encrypted when AIRFLOW__CORE__FERNET_KEY or GUST_FERNET_KEY is set,\n"
     "else stored in plain text (with a warning).\n" DATABASE_HELP,
     cli_connections_add},
    {"connections", "get", "CONN_ID", 1, 1, "o,output=table|json|plain",
     "print a connection (environment first, then the table; password as ***)",
     "Print a connection found as tasks find it: AIRFLOW_CONN_<CONN_ID> first, then the\n"
     "connection table. The password, and extra values whose key looks secret, show as ***.",
     cli_connections_get},
    {"connections", "list", NULL, 0, 0, "o,output=table|json|plain conn-id=CONN_ID",
     "list the connection table (passwords as ***)", NULL, cli_connections_list},
    {"connections", "delete", "CONN_ID", 1, 1, NULL, "delete a connection", NULL,
     cli_connections_delete},
    {"connections", "export", "FILE", 1, 1, "file-format=json|env",
     "write every connection to FILE (- for stdout), passwords included",
     "Write the connection table to FILE as Airflow does: .json {\"conn_id\": {\"conn_type\":\n"
     "..., \"password\": ...}} or .env (CONN_ID=URI lines); - writes JSON to stdout. A\n"
     "backup: passwords are written in clear (the file is created with mode 0600).",
     cli_connections_export},
    {"connections", "import", "FILE", 1, 1, "overwrite",
     "add the connections of a .json or .env file",
     "Add the connections of FILE (.json as `connections export` writes it, values may also\n"
     "be URIs; .env: CONN_ID=URI lines). An existing conn_id is skipped unless --overwrite.",
     cli_connections_import},
    {NULL, "rotate-fernet-key", NULL, 0, 0, NULL,
     "re-encrypt connections with the first Fernet key",
     "Re-encrypt every encrypted connection password and extra with the first key of\n"
     "AIRFLOW__CORE__FERNET_KEY (or GUST_FERNET_KEY) = \"new_key,old_key\"; any key of the\n"
     "list decrypts. Afterwards the old key can be dropped from the list.",
     cli_rotate_fernet_key},
    {NULL, "version", NULL, 0, 0, NULL, "print the version", NULL, cli_version},
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

/* The verbs of group (all of them when NULL), one line each. */
static void
list_verbs(FILE *out, const char *group)
{
    fprintf(out, "usage: gust <command> [options]   (gust <command> --help for details)\n\n");
    for (size_t i = 0; i < N_VERBS; i++) {
        const struct cli_verb *v = &verbs[i];
        char name[64];

        if (group && (v->group == NULL || strcmp(v->group, group) != 0))
            continue;
        snprintf(name, sizeof(name), "%s%s%s", v->group ? v->group : "", v->group ? " " : "",
                 v->name);
        fprintf(out, "  %-26s %s\n", name, v->summary);
    }
    if (group == NULL)
        fprintf(out, "\nenvironment: GUST_DAGS_FOLDER (default ./dags), GUST_DATABASE_URL "
                     "(libpq conninfo or URI; PG* variables also work)\n");
}

static int
cli_version(const struct cli_args *a)
{
    (void)a;
    printf("gust %s\n", GUST_VERSION);
    return EXIT_OK;
}

static bool
known_group(const char *name)
{
    for (size_t i = 0; i < N_VERBS; i++)
        if (verbs[i].group && strcmp(verbs[i].group, name) == 0)
            return true;
    return false;
}

static bool
is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Parse argv (argv[0] is the verb's name) by the row and run its handler. */
static int
dispatch(const struct cli_verb *v, int argc, char **argv)
{
    struct cli_args a;
    int rc = cli_args_parse(v, argc, argv, &a);

    return rc >= 0 ? rc : v->run(&a);
}

/* `gust <group>` without a verb of it: the group's verbs. */
static int
group_usage(int argc, char **argv)
{
    bool help = argc >= 3 && is_help(argv[2]);

    if (argc >= 3 && !help) {
        log_error("unknown command '%s %s'", argv[1], argv[2]);
        fputc('\n', stderr);
    }
    list_verbs(help ? stdout : stderr, argv[1]);
    return help ? EXIT_OK : EXIT_USAGE;
}

/* The row named "group name" (group NULL: a top-level verb); NULL when there is none. */
static const struct cli_verb *
find_verb(const char *group, const char *name)
{
    for (size_t i = 0; i < N_VERBS; i++)
        if ((group ? verbs[i].group && strcmp(verbs[i].group, group) == 0 : !verbs[i].group) &&
            strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

int
cli_main(int argc, char **argv)
{
    const struct cli_verb *v;

    if (argc < 2 || is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        list_verbs(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if ((v = find_verb(NULL, strcmp(argv[1], "--version") == 0 ? "version" : argv[1])) != NULL)
        return dispatch(v, argc - 1, argv + 1);
    if (argc >= 3 && (v = find_verb(argv[1], argv[2])) != NULL)
        return dispatch(v, argc - 2, argv + 2);
    if (known_group(argv[1]))
        return group_usage(argc, argv);
    log_error("unknown command '%s'", argv[1]);
    fputc('\n', stderr);
    list_verbs(stderr, NULL);
    return EXIT_USAGE;
}

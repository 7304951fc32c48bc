/* cli_dags: the `gust dags ...` verbs that read DAG files: list, show, list-import-errors,
 * next-execution.
 *
 * Like Airflow's CLI these parse the DAG folder themselves (no scheduler needed), so what
 * they print is what the files say now. Output goes to stdout, problems to stderr. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "schedule/schedule.h"
#include "store/store.h"
#include "schedule/tz.h"

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

static size_t
count_errors(const struct dagbag *bag)
{
    size_t n = 0;

    for (size_t i = 0; i < bag->n_diags; i++)
        n += bag->diags[i].level == DIAG_ERROR;
    return n;
}

static void
note_import_errors(const struct dagbag *bag)
{
    size_t n = count_errors(bag);

    if (n > 0)
        fprintf(stderr, "gust: %zu import error(s); see 'gust dags list-import-errors'\n", n);
}

/* The database, when one is configured ($GUST_DATABASE_URL, $PGHOST or $PGDATABASE), for
 * state the files do not hold (is_paused). NULL without one, after a one-line warning when
 * it is configured but unreachable: listing files must not depend on the database. */
static struct store *
optional_store(void)
{
    struct err e = {0};
    struct store *s;

    if (!getenv("GUST_DATABASE_URL") && !getenv("PGHOST") && !getenv("PGDATABASE"))
        return NULL;
    if ((s = store_open(NULL, &e)) == NULL)
        fprintf(stderr, "gust: pause state not shown: %s\n", e.msg);
    return s;
}

/* "True"/"False" from the database, else from is_paused_upon_creation. */
static const char *
paused_text(struct store *s, const struct dag *dag)
{
    bool paused = dag->is_paused_upon_creation;

    if (s != NULL && store_dag_is_paused(s, dag->dag_id, &paused, NULL) < 0)
        paused = dag->is_paused_upon_creation; /* not recorded yet: what creation would do */
    return paused ? "True" : "False";
}

/* Next trigger after now as ISO text in the DAG's zone, or "None". */
static void
next_trigger_text(const struct dag *dag, time_t now, char buf[32])
{
    time_t next;
    struct err e = {0};
    int r = schedule_next(&dag->schedule, dag->timezone, dag->has_start_date ? dag->start_date : 0,
                          dag->has_end_date ? dag->end_date : 0, now, &next, &e);

    if (r != 1 || tz_format(dag->timezone, next, buf, &e) < 0)
        snprintf(buf, 32, "None");
}

static char *
join_tags(const struct dag *dag)
{
    size_t len = 1;
    char *s;

    for (size_t i = 0; i < dag->n_tags; i++)
        len += strlen(dag->tags[i]) + 1;
    s = calloc(1, len);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < dag->n_tags; i++) {
        if (i > 0)
            strcat(s, ",");
        strcat(s, dag->tags[i]);
    }
    return s;
}

static json_t *
dag_to_json(const struct dag *dag, struct store *s, time_t now)
{
    char next[32];
    json_t *tags = json_array();
    json_t *o;

    next_trigger_text(dag, now, next);
    for (size_t i = 0; i < dag->n_tags; i++)
        json_array_append_new(tags, json_string(dag->tags[i]));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s?}", "dag_id", dag->dag_id, "fileloc",
                  dag->fileloc, "schedule", dag->schedule.text, "timezone", dag->timezone, "owners",
                  dag->owner ? dag->owner : "airflow", "tags", tags, "is_paused",
                  strcmp(paused_text(s, dag), "True") == 0, "next_dagrun",
                  strcmp(next, "None") == 0 ? NULL : next);
    return o;
}

static int
list_json(const struct dagbag *bag, struct store *s, time_t now)
{
    json_t *arr = json_array();
    char *text;

    for (size_t i = 0; i < bag->n_dags; i++)
        json_array_append_new(arr, dag_to_json(bag->dags[i], s, now));
    text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(arr);
    if (text == NULL)
        return EXIT_FAIL;
    puts(text);
    free(text);
    return EXIT_OK;
}

enum { COLS = 7 };

/* One row of the table: every cell owned by the row. */
static void
table_row(const struct dag *d, struct store *s, time_t now, char *cells[COLS])
{
    char next[32];

    next_trigger_text(d, now, next);
    cells[0] = strdup(d->dag_id);
    cells[1] = strdup(d->fileloc);
    cells[2] = strdup(d->schedule.text);
    cells[3] = strdup(d->owner ? d->owner : "airflow");
    cells[4] = join_tags(d);
    cells[5] = strdup(paused_text(s, d));
    cells[6] = strdup(next);
}

static void
print_row(char *const cells[COLS], const int width[COLS])
{
    for (int c = 0; c < COLS; c++)
        printf(c < COLS - 1 ? "%-*s | " : "%-*s\n", c < COLS - 1 ? width[c] : 0,
               cells[c] ? cells[c] : "");
}

static void
print_rule(const int width[COLS])
{
    for (int c = 0; c < COLS; c++) {
        if (c > 0)
            fputs("=+=", stdout);
        for (int i = 0; i < width[c]; i++)
            putchar('=');
    }
    putchar('\n');
}

/* A table sized to its contents, like Airflow's "table" output. */
static void
list_table(const struct dagbag *bag, struct store *s, time_t now)
{
    static const char *header[COLS] = {"dag_id", "fileloc",   "schedule",   "owners",
                                       "tags",   "is_paused", "next_dagrun"};
    char *(*rows)[COLS] = calloc(bag->n_dags + 1, sizeof(*rows));
    int width[COLS];

    if (rows == NULL)
        return;
    for (int c = 0; c < COLS; c++) {
        rows[0][c] = strdup(header[c]);
        width[c] = 0;
    }
    for (size_t i = 0; i < bag->n_dags; i++)
        table_row(bag->dags[i], s, now, rows[i + 1]);
    for (size_t i = 0; i <= bag->n_dags; i++)
        for (int c = 0; c < COLS; c++)
            if (rows[i][c] && (int)strlen(rows[i][c]) > width[c])
                width[c] = (int)strlen(rows[i][c]);
    for (size_t i = 0; i <= bag->n_dags; i++) {
        print_row(rows[i], width);
        if (i == 0)
            print_rule(width);
        for (int c = 0; c < COLS; c++)
            free(rows[i][c]);
    }
    free(rows);
}

int
cmd_dags_list(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *output = "table", *subdir = NULL;
    struct dagbag *bag;
    struct store *s;
    int c, rc = EXIT_OK;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:S:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'S':
            subdir = optarg;
            break;
        case 'h':
            printf("usage: gust dags list [-o table|json] [-S DAG_FOLDER]\n"
                   "List the DAGs that load from the DAG folder ($GUST_DAGS_FOLDER, default "
                   "./dags)\nwith their schedule, owner, tags and next trigger time.\n");
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc || (strcmp(output, "table") != 0 && strcmp(output, "json") != 0)) {
        fprintf(stderr, "usage: gust dags list [-o table|json] [-S DAG_FOLDER]\n");
        return EXIT_USAGE;
    }
    if ((bag = cli_load_bag(subdir)) == NULL)
        return EXIT_FAIL;
    s = optional_store();
    if (strcmp(output, "json") == 0)
        rc = list_json(bag, s, time(NULL));
    else
        list_table(bag, s, time(NULL));
    note_import_errors(bag);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

int
cmd_dags_list_import_errors(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"warnings", no_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *output = "plain", *subdir = NULL;
    int c, warnings = 0;
    size_t errors;
    struct dagbag *bag;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:S:wh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'S':
            subdir = optarg;
            break;
        case 'w':
            warnings = 1;
            break;
        case 'h':
            printf("usage: gust dags list-import-errors [-o plain|json] [-S DAG_FOLDER] "
                   "[--warnings]\nPrint every error found while loading DAG files, as "
                   "file:line:col: message.\n--warnings also prints warnings. Exit 1 when there "
                   "are errors.\n");
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc || (strcmp(output, "plain") != 0 && strcmp(output, "json") != 0)) {
        fprintf(stderr, "usage: gust dags list-import-errors [-o plain|json] [-S DAG_FOLDER]\n");
        return EXIT_USAGE;
    }
    if ((bag = cli_load_bag(subdir)) == NULL)
        return EXIT_FAIL;
    errors = count_errors(bag);
    if (strcmp(output, "json") == 0) {
        json_t *arr = json_array();
        char *text;

        for (size_t i = 0; i < bag->n_diags; i++) {
            const struct dag_diag *d = &bag->diags[i];

            if (d->level == DIAG_WARNING && !warnings)
                continue;
            json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:i, s:s?, s:s}", "level",
                                                 d->level == DIAG_ERROR ? "error" : "warning",
                                                 "filename", d->file, "line", d->line, "col",
                                                 d->col, "dag_id", d->dag_id, "message", d->msg));
        }
        text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(arr);
        if (text)
            puts(text);
        free(text);
    } else {
        for (size_t i = 0; i < bag->n_diags; i++) {
            char line[1024];

            if (bag->diags[i].level == DIAG_WARNING && !warnings)
                continue;
            dag_diag_format(&bag->diags[i], line, sizeof(line));
            puts(line);
        }
        if (errors == 0)
            fprintf(stderr, "No import errors in %s\n", subdir ? subdir : cli_dags_folder());
    }
    dagbag_free(bag);
    return errors ? EXIT_FAIL : EXIT_OK;
}

static int
parse_count(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 100000)
        return -1;
    *out = (int)v;
    return 0;
}

int
cmd_dags_next_execution(int argc, char **argv)
{
    static const struct option opts[] = {{"num-executions", required_argument, NULL, 'n'},
                                         {"after", required_argument, NULL, 'a'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *after_text = NULL, *subdir = NULL;
    int c, n = 1, rc = EXIT_OK;
    const struct dag *dag;
    struct dagbag *bag;
    struct err e = {0};
    time_t after = time(NULL);

    optind = 1;
    while ((c = getopt_long(argc, argv, "n:a:S:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_count(optarg, &n) < 0) {
                fprintf(stderr, "gust: -n wants a number from 1 to 100000, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            after_text = optarg;
            break;
        case 'S':
            subdir = optarg;
            break;
        case 'h':
            printf("usage: gust dags next-execution DAG_ID [-n N] [--after TIMESTAMP] "
                   "[-S DAG_FOLDER]\nPrint the next N trigger times strictly after TIMESTAMP "
                   "(default now), one ISO-8601\ntimestamp per line in the DAG's time zone; "
                   "TIMESTAMP without an offset is read in\nthat zone. Prints None when the DAG "
                   "has no further run.\n");
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: gust dags next-execution DAG_ID [-n N] [--after TIMESTAMP]\n");
        return EXIT_USAGE;
    }
    if ((bag = cli_load_bag(subdir)) == NULL)
        return EXIT_FAIL;
    if ((dag = cli_find_dag(bag, argv[optind])) == NULL) {
        rc = EXIT_FAIL;
        goto out;
    }
    if (after_text && tz_parse_iso(dag->timezone, after_text, &after, &e) < 0) {
        fprintf(stderr, "gust: --after: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        time_t next;
        char buf[32];
        int r =
            schedule_next(&dag->schedule, dag->timezone, dag->has_start_date ? dag->start_date : 0,
                          dag->has_end_date ? dag->end_date : 0, after, &next, &e);

        if (r < 0) {
            fprintf(stderr, "gust: %s: %s\n", dag->dag_id, e.msg);
            rc = EXIT_FAIL;
            break;
        }
        if (r == 0) {
            if (i == 0)
                puts("None");
            break;
        }
        if (tz_format(dag->timezone, next, buf, &e) < 0) {
            fprintf(stderr, "gust: %s\n", e.msg);
            rc = EXIT_FAIL;
            break;
        }
        puts(buf);
        after = next;
    }
out:
    dagbag_free(bag);
    return rc;
}

int
cmd_dags_reserialize(int argc, char **argv)
{
    const char *subdir = NULL;
    struct dagbag *bag;
    struct store *s = NULL;
    struct err e = {0};
    int rc = EXIT_OK;

    if (cli_wants_help(argc, argv)) {
        printf("usage: gust dags reserialize [-S DAG_FOLDER]\nParse the DAG folder and record it "
               "in the database: one `dag` row per DAG (pause state\nkept), DAGs whose file is "
               "gone marked inactive, `import_error` rows replaced.\nThe scheduler does this on "
               "its own; this verb is for scripts and first set-up.\n");
        return EXIT_OK;
    }
    if (argc == 3 && (strcmp(argv[1], "-S") == 0 || strcmp(argv[1], "--subdir") == 0))
        subdir = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: gust dags reserialize [-S DAG_FOLDER]\n");
        return EXIT_USAGE;
    }
    if ((bag = cli_load_bag(subdir)) == NULL)
        return EXIT_FAIL;
    if ((s = store_open(NULL, &e)) == NULL || store_sync_dagbag(s, bag, time(NULL), &e) < 0) {
        fprintf(stderr, "gust dags reserialize: %s\n", e.msg);
        rc = EXIT_FAIL;
    } else {
        printf("recorded %zu DAG(s) and %zu import error(s) from %s\n", bag->n_dags,
               count_errors(bag), subdir ? subdir : cli_dags_folder());
    }
    store_free(s);
    dagbag_free(bag);
    return rc;
}

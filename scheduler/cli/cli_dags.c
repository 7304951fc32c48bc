/* cli_dags: the `gust dags ...` verbs that read DAG files: list, show, list-import-errors,
 * next-execution.
 *
 * Like Airflow's CLI these parse the DAG folder themselves (no scheduler needed), so what
 * they print is what the files say now. Output goes to stdout, problems to stderr. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_int.h"
#include "log.h"
#include "dagfile/dagfile.h"
#include "schedule/schedule.h"
#include "store/store.h"
#include "schedule/tz.h"
#include "timetable/timetable.h"

static size_t
count_errors(const struct dagbag *bag)
{
    size_t n = 0;

    for (size_t i = 0; i < bag->n_diags; i++)
        n += bag->diags[i].level == DIAG_ERROR;
    return n;
}

/* One stderr line per warning, then the count of errors. */
static void
note_import_errors(const struct dagbag *bag)
{
    size_t n = count_errors(bag);
    char line[1024];

    for (size_t i = 0; i < bag->n_diags; i++)
        if (bag->diags[i].level == DIAG_WARNING) {
            dag_diag_format(&bag->diags[i], line, sizeof(line));
            log_warn("%s", line);
        }
    if (n > 0)
        log_warn("%zu import error(s); see 'gust dags list-import-errors'", n);
}

/* The database, when one is configured ($GUST_DATABASE_URL, $PGHOST or $PGDATABASE), for
 * state the files do not hold (is_paused). NULL without one, after a one-line warning when
 * it is configured but unreachable: listing files must not depend on the database. */
struct store *
cli_optional_store(void)
{
    struct err e = {0};
    struct store *s;

    if (!getenv("GUST_DATABASE_URL") && !getenv("PGHOST") && !getenv("PGDATABASE"))
        return NULL;
    if ((s = store_open(NULL, &e)) == NULL)
        log_warn("pause state not shown: %s", e.msg);
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
    struct timetable_run next;
    struct err e = {0};
    long r = timetable_upcoming(dag, now, 1, &next, &e);

    if (r != 1 || tz_format(dag->timezone, next.logical_date, buf, &e) < 0)
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
    char next[32], sched[256];
    json_t *tags = json_array();
    json_t *o;

    next_trigger_text(dag, now, next);
    timetable_summary(dag, sched, sizeof(sched));
    for (size_t i = 0; i < dag->n_tags; i++)
        json_array_append_new(tags, json_string(dag->tags[i]));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s?}", "dag_id", dag->dag_id, "fileloc",
                  dag->fileloc, "schedule", sched, "timezone", dag->timezone, "owners",
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

static const char *const list_cols[] = {"dag_id", "fileloc",   "schedule",    "owners",
                                        "tags",   "is_paused", "next_dagrun", NULL};

/* Rows as a table sized to its contents (Airflow's "table"), plain or YAML; tags joined by
 * ",". */
static void
list_rows(const struct dagbag *bag, struct store *s, time_t now, const char *output,
          const char *const *cols)
{
    json_t *rows = json_array(), *row;
    size_t i;

    for (i = 0; i < bag->n_dags; i++) {
        const struct dag *d = bag->dags[i];
        char next[32], sched[256], *tags = join_tags(d);

        next_trigger_text(d, now, next);
        timetable_summary(d, sched, sizeof(sched));
        json_array_append_new(rows,
                              json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "dag_id", d->dag_id,
                                        "fileloc", d->fileloc, "schedule", sched, "owners",
                                        d->owner ? d->owner : "airflow", "tags", tags, "is_paused",
                                        paused_text(s, d), "next_dagrun", next));
        free(tags);
    }
    if (cols != list_cols) /* --columns: JSON too carries only those */
        json_array_foreach(rows, i, row)
        {
            json_t *only = json_object();

            for (size_t c = 0; cols[c]; c++)
                json_object_set(only, cols[c], json_object_get(row, cols[c]));
            json_array_set_new(rows, i, only);
        }
    cli_print_rows(rows, output, cols);
    json_decref(rows);
}

/* --columns a,b,c into cols (pointers into list_cols); -1 after a message on an unknown one. */
static int
parse_columns(const char *spec, const char *cols[8])
{
    size_t n = 0;

    for (const char *p = spec; *p && n < 7; p += *p == ',') {
        size_t len = strcspn(p, ","), k;

        for (k = 0; list_cols[k]; k++)
            if (strlen(list_cols[k]) == len && strncmp(list_cols[k], p, len) == 0)
                break;
        if (list_cols[k] == NULL) {
            log_error("dags list: unknown column '%.*s' (known: dag_id, fileloc, schedule, "
                      "owners, tags, is_paused, next_dagrun)",
                      (int)len, p);
            return -1;
        }
        cols[n++] = list_cols[k];
        p += len;
    }
    cols[n] = NULL;
    return n > 0 ? 0 : -1;
}

int
cli_dags_list(const struct cli_args *a)
{
    const char *output = cli_arg(a, "output", "table"), *columns = cli_arg(a, "columns", NULL);
    const char *cols[8];
    struct dagbag *bag;
    struct store *s;
    int rc = EXIT_OK;

    if (strcmp(output, "table") != 0 && strcmp(output, "json") != 0 &&
        strcmp(output, "yaml") != 0 && strcmp(output, "plain") != 0)
        return cli_usage_error(a);
    if (columns && parse_columns(columns, cols) < 0)
        return cli_usage_error(a);
    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL)
        return EXIT_FAIL;
    s = cli_optional_store();
    if (strcmp(output, "json") == 0 && columns == NULL)
        rc = list_json(bag, s, time(NULL));
    else
        list_rows(bag, s, time(NULL), output, columns ? cols : list_cols);
    note_import_errors(bag);
    store_free(s);
    dagbag_free(bag);
    return rc;
}

/* The diagnostics (warnings too when asked) as a JSON array. */
static void
print_diags_json(const struct dagbag *bag, bool warnings)
{
    json_t *arr = json_array();
    char *text;

    for (size_t i = 0; i < bag->n_diags; i++) {
        const struct dag_diag *d = &bag->diags[i];

        if (d->level == DIAG_WARNING && !warnings)
            continue;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:i, s:s?, s:s}", "level",
                                             d->level == DIAG_ERROR ? "error" : "warning",
                                             "filename", d->file, "line", d->line, "col", d->col,
                                             "dag_id", d->dag_id, "message", d->msg));
    }
    text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (text)
        puts(text);
    free(text);
}

/* The diagnostics as file:line:col: message lines. */
static void
print_diags_plain(const struct dagbag *bag, bool warnings)
{
    for (size_t i = 0; i < bag->n_diags; i++) {
        char line[1024];

        if (bag->diags[i].level == DIAG_WARNING && !warnings)
            continue;
        dag_diag_format(&bag->diags[i], line, sizeof(line));
        puts(line);
    }
}

int
cli_dags_list_import_errors(const struct cli_args *a)
{
    const char *output = cli_arg(a, "output", "plain"), *subdir = cli_arg(a, "subdir", NULL);
    bool warnings = cli_flag(a, "warnings");
    size_t errors;
    struct dagbag *bag;

    if (strcmp(output, "plain") != 0 && strcmp(output, "json") != 0)
        return cli_usage_error(a);
    if ((bag = cli_load_bag(subdir)) == NULL)
        return EXIT_FAIL;
    errors = count_errors(bag);
    if (strcmp(output, "json") == 0) {
        print_diags_json(bag, warnings);
    } else {
        print_diags_plain(bag, warnings);
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

/* Print the logical dates of dag's next n runs after `after` (timetable_upcoming), one per
 * line; "None" when there is none. */
static int
print_next(const struct dag *dag, time_t after, int n)
{
    struct timetable_run *runs = calloc((size_t)n, sizeof(*runs));
    struct err e = {0};
    long got = runs ? timetable_upcoming(dag, after, (size_t)n, runs, &e) : -1;
    char buf[32];

    if (got < 0) {
        log_error("%s: %s", dag->dag_id, runs ? e.msg : "out of memory");
        free(runs);
        return EXIT_FAIL;
    }
    if (got == 0)
        puts("None");
    for (long i = 0; i < got; i++) {
        if (tz_format(dag->timezone, runs[i].logical_date, buf, &e) < 0) {
            log_error("%s", e.msg);
            free(runs);
            return EXIT_FAIL;
        }
        puts(buf);
    }
    free(runs);
    return EXIT_OK;
}

int
cli_dags_next_execution(const struct cli_args *a)
{
    const char *after_text = cli_arg(a, "after", NULL), *count = cli_arg(a, "num-executions", "1");
    int n, rc = EXIT_FAIL;
    const struct dag *dag;
    struct dagbag *bag;
    struct err e = {0};
    time_t after = time(NULL);

    if (parse_count(count, &n) < 0) {
        log_error("-n wants a number from 1 to 100000, not '%s'", count);
        return EXIT_USAGE;
    }
    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL)
        return EXIT_FAIL;
    if ((dag = cli_find_dag(bag, a->argv[0])) == NULL)
        goto out;
    if (after_text && tz_parse_iso(dag->timezone, after_text, &after, &e) < 0) {
        log_error("--after: %s", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    rc = print_next(dag, after, n);
out:
    dagbag_free(bag);
    return rc;
}

int
cli_dags_reserialize(const struct cli_args *a)
{
    const char *subdir = cli_arg(a, "subdir", NULL);
    struct dagbag *bag;
    struct store *s = NULL;
    struct err e = {0};
    int rc = EXIT_OK;

    if ((bag = cli_load_bag(subdir)) == NULL)
        return EXIT_FAIL;
    if ((s = store_open(NULL, &e)) == NULL ||
        store_sync_dagbag(s, bag, subdir, time(NULL), &e) < 0) {
        log_error("dags reserialize: %s", e.msg);
        rc = EXIT_FAIL;
    } else {
        printf("recorded %zu DAG(s) and %zu import error(s) from %s\n", bag->n_dags,
               count_errors(bag), subdir ? subdir : cli_dags_folder());
        note_import_errors(bag);
    }
    store_free(s);
    dagbag_free(bag);
    return rc;
}

/* cli_assets: `gust assets list|details|event` (docs/dag-files.md, "Assets"): the assets the
 * DAG files declare, who produces and consumes each, their recent events, and events recorded
 * from outside, as Airflow's REST API records them (POST /assets/events). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "log.h"
#include "store/store.h"

/* A copy of row whose values are all strings (cli_print_rows shows strings in a table):
 * numbers and objects as their JSON text, null as "". */
static json_t *
text_row(json_t *row)
{
    json_t *out = json_object(), *v;
    const char *k;

    json_object_foreach(row, k, v)
    {
        char *t = json_is_string(v) || json_is_null(v)
                      ? strdup(json_is_string(v) ? json_string_value(v) : "")
                      : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_object_set_new(out, k, json_string(t ? t : ""));
        free(t);
    }
    return out;
}

/* Print rows (a JSON array) as -o asks: JSON as it is, a table with every cell as text. */
static void
print_rows(json_t *rows, const char *output, const char *const *columns)
{
    json_t *text, *row;
    size_t i;

    if (strcmp(output, "json") == 0) {
        cli_print_rows(rows, output, columns);
        return;
    }
    text = json_array();
    json_array_foreach(rows, i, row) json_array_append_new(text, text_row(row));
    cli_print_rows(text, output, columns);
    json_decref(text);
}

/* Run one store query returning JSON text; NULL after a message. */
static json_t *
query(int (*fn)(struct store *, const char *, char **, struct err *), const char *arg)
{
    struct store *s = cli_open_store();
    struct err e = {0};
    char *text = NULL;
    json_t *v = NULL;

    if (s == NULL)
        return NULL;
    if (fn(s, arg, &text, &e) < 0)
        log_error("%s", e.msg);
    else if ((v = json_loads(text, 0, NULL)) == NULL)
        log_error("the database answered something that is not JSON");
    free(text);
    store_free(s);
    return v;
}

static int
list_fn(struct store *s, const char *arg, char **json, struct err *e)
{
    (void)arg;
    return store_assets_json(s, json, e);
}

int
cli_assets_list(const struct cli_args *a)
{
    json_t *rows = query(list_fn, NULL);

    if (rows == NULL)
        return EXIT_FAIL;
    print_rows(rows, cli_arg(a, "output", "table"),
               (const char *[]){"uri", "name", "group", "producers", "consumers", "events",
                                "last_event", NULL});
    json_decref(rows);
    return EXIT_OK;
}

#define DETAILS_EVENTS 10 /* the newest events `assets details` shows */

static int
details_fn(struct store *s, const char *uri, char **json, struct err *e)
{
    return store_asset_details_json(s, uri, DETAILS_EVENTS, json, e);
}

/* One section of `assets details`: a title and its rows as a table ("(none)" when empty). */
static void
section(const char *title, json_t *rows, const char *const *columns)
{
    printf("\n%s:\n", title);
    if (json_array_size(rows) == 0)
        puts("(none)");
    else
        print_rows(rows, "table", columns);
}

int
cli_assets_details(const struct cli_args *a)
{
    json_t *d = query(details_fn, a->argv[0]);
    const char *output = cli_arg(a, "output", "table");

    if (d == NULL)
        return EXIT_FAIL;
    if (strcmp(output, "json") == 0) {
        char *text = json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    } else {
        json_t *head = json_pack("[O]", d);
        print_rows(head, "table",
                   (const char *[]){"uri", "name", "group", "extra", "created_at", NULL});
        json_decref(head);
        section("producers (tasks with it as an outlet)", json_object_get(d, "producers"),
                (const char *[]){"dag_id", "task_id", NULL});
        section("consumers (DAGs scheduled on it)", json_object_get(d, "consumers"),
                (const char *[]){"dag_id", "is_paused", "queued", NULL});
        section("recent events (newest first)", json_object_get(d, "events"),
                (const char *[]){"id", "timestamp", "source_dag_id", "source_task_id",
                                 "source_run_id", "source_map_index", "extra", NULL});
    }
    json_decref(d);
    return EXIT_OK;
}

int
cli_assets_event(const struct cli_args *a)
{
    const char *extra = cli_arg(a, "extra", NULL);
    json_t *check = extra ? json_loads(extra, 0, NULL) : NULL;
    long long id = 0;
    int queued = 0, rc = EXIT_OK;
    struct err e = {0};
    struct store *s;

    if (extra && !json_is_object(check)) {
        json_decref(check);
        log_error("--extra: expected a JSON object, got: %s", extra);
        return EXIT_USAGE;
    }
    json_decref(check);
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_asset_event_add(s, a->argv[0], extra, &id, &queued, &e) < 0) {
        log_error("%s", e.msg);
        rc = EXIT_FAIL;
    } else {
        printf("asset event %lld recorded for %s; %d consumer DAG(s) queued\n", id, a->argv[0],
               queued);
    }
    store_free(s);
    return rc;
}

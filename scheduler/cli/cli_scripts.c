/* cli_scripts: verbs scripts written for Airflow's CLI call: `dags delete`, `dags details`,
 * `dags pause|unpause --treat-dag-id-as-regex`, `variables import|export` (Airflow's JSON
 * format: {"key": value}, a value that is not a string stored as its JSON text).
 *
 * Exit codes as Airflow's: 0 done, 1 a failure (unknown DAG, unreadable file), 2 usage. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "log.h"
#include "schedule/tz.h"
#include "store/store.h"

/* ---- dags delete ---- */

int
cli_dags_delete(const struct cli_args *a)
{
    const char *dag_id = a->argv[0];
    long long removed = 0;
    struct err e = {0};
    struct store *s;
    int rc;

    if (!cli_flag(a, "yes") &&
        (rc = cli_confirm("dags delete", "This will drop all existing records related to the "
                                         "specified DAG. Proceed?")) != EXIT_OK)
        return rc;
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    rc = EXIT_FAIL;
    if (store_dag_delete(s, dag_id, &removed, &e) < 0)
        log_error("%s", e.msg);
    else {
        printf("Removed %lld record(s)\n", removed);
        rc = EXIT_OK;
    }
    store_free(s);
    return rc;
}

/* ---- dags details ---- */

static json_t *
details_json(const struct dag *d, struct store *s)
{
    char sd[32] = "", ed[32] = "";
    bool paused = d->is_paused_upon_creation;
    struct err e = {0};
    json_t *tags = json_array(), *params = NULL;

    if (d->has_start_date)
        tz_format(d->timezone, d->start_date, sd, NULL);
    if (d->has_end_date)
        tz_format(d->timezone, d->end_date, ed, NULL);
    for (size_t i = 0; i < d->n_tags; i++)
        json_array_append_new(tags, json_string(d->tags[i]));
    if (d->params_json)
        params = json_loads(d->params_json, 0, NULL);
    if (s)
        store_dag_is_paused(s, d->dag_id, &paused, &e);
    return json_pack(
        "{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?, s:b, s:i, s:i, s:o?, s:o, s:s, "
        "s:o, s:b, s:i}",
        "dag_id", d->dag_id, "fileloc", d->fileloc, "description", d->description,
        "timetable_summary", d->schedule.text[0] ? d->schedule.text : "None", "timezone",
        d->timezone, "start_date", *sd ? sd : NULL, "end_date", *ed ? ed : NULL, "catchup",
        d->catchup, "max_active_runs", d->max_active_runs, "max_active_tasks", d->max_active_tasks,
        "dagrun_timeout", d->dagrun_timeout >= 0 ? json_real(d->dagrun_timeout) : NULL, "tags",
        tags, "owners", d->owner ? d->owner : "airflow", "params", params ? params : json_object(),
        "is_paused", paused, "task_count", (int)d->n_tasks);
}

/* The table form: one "property value" line each (the row is too wide for one line). */
static void
print_vertical(json_t *o)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                                       : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        char *safe = cli_escape(text ? text : "");

        printf("%-18s %s\n", key, safe ? safe : "");
        free(safe);
        free(text);
    }
}

int
cli_dags_details(const struct cli_args *a)
{
    static const char *const cols[] = {"dag_id",
                                       "fileloc",
                                       "description",
                                       "timetable_summary",
                                       "timezone",
                                       "start_date",
                                       "end_date",
                                       "catchup",
                                       "max_active_runs",
                                       "max_active_tasks",
                                       "dagrun_timeout",
                                       "tags",
                                       "owners",
                                       "params",
                                       "is_paused",
                                       "task_count",
                                       NULL};
    const char *output = cli_arg(a, "output", "table");
    struct dagbag *bag;
    const struct dag *dag;
    struct store *s;
    json_t *o, *rows;

    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL)
        return EXIT_FAIL;
    if ((dag = cli_find_dag(bag, a->argv[0])) == NULL) {
        dagbag_free(bag);
        return EXIT_FAIL;
    }
    s = cli_optional_store();
    o = details_json(dag, s);
    if (strcmp(output, "table") == 0) {
        print_vertical(o);
    } else {
        rows = json_pack("[O]", o);
        cli_print_rows(rows, output, cols);
        json_decref(rows);
    }
    json_decref(o);
    store_free(s);
    dagbag_free(bag);
    return EXIT_OK;
}

/* ---- dags pause|unpause --treat-dag-id-as-regex ---- */

/* Pause or unpause every recorded DAG whose id matches the regex; asks unless -y. */
int
cli_set_paused_regex(const struct cli_args *a, bool paused)
{
    char **ids = NULL, question[96];
    size_t n = 0;
    struct err e = {0};
    struct store *s;
    int rc = EXIT_FAIL;

    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_dag_ids_matching(s, a->argv[0], &ids, &n, &e) < 0) {
        log_error("%s", e.msg);
        goto out;
    }
    rc = EXIT_OK;
    if (n == 0) {
        printf("No %spaused DAGs were found\n", paused ? "un" : "");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s\n", ids[i]);
    snprintf(question, sizeof(question), "You are about to %s %zu DAG(s). Are you sure?",
             paused ? "pause" : "unpause", n);
    if (!cli_flag(a, "yes") &&
        (rc = cli_confirm(paused ? "dags pause" : "dags unpause", question)) != EXIT_OK)
        goto out;
    for (size_t i = 0; i < n && rc == EXIT_OK; i++)
        if (store_dag_set_paused(s, ids[i], paused, &e) < 0) {
            log_error("%s", e.msg);
            rc = EXIT_FAIL;
        } else
            printf("Dag: %s, paused: %s\n", ids[i], paused ? "True" : "False");
out:
    store_strings_free(ids, n);
    store_free(s);
    return rc;
}

/* ---- variables import|export ---- */

/* Import one key: overwrite, skip or fail on an existing one. 1 set, 0 skipped, -1 failed. */
static int
import_one(struct store *s, const char *key, json_t *v, const char *action)
{
    char *text = json_is_string(v) ? strdup(json_string_value(v))
                                   : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char *old = NULL;
    struct err e = {0};
    int rc = 1;

    if (text == NULL || store_variable_get(s, key, &old, &e) < 0)
        rc = -1;
    else if (old && strcmp(action, "skip") == 0)
        rc = 0;
    else if (old && strcmp(action, "fail") == 0) {
        log_error("variables import: variable '%s' already exists", key);
        rc = -1;
    } else if (store_variable_set(s, key, text, &e) < 0)
        rc = -1;
    if (rc < 0 && e.msg[0])
        log_error("variables import: %s: %s", key, e.msg);
    free(old);
    free(text);
    return rc;
}

int
cli_variables_import(const struct cli_args *a)
{
    const char *action = cli_arg(a, "action-on-existing-key", "overwrite"), *key;
    json_error_t je;
    json_t *doc, *v;
    struct store *s;
    int ok = 0, failed = 0;

    if (strcmp(action, "overwrite") && strcmp(action, "skip") && strcmp(action, "fail"))
        return cli_usage_error(a);
    if ((doc = json_load_file(a->argv[0], 0, &je)) == NULL || !json_is_object(doc)) {
        log_error("Invalid variables file %s: %s", a->argv[0],
                  doc ? "not a JSON object {\"key\": value}" : je.text);
        json_decref(doc);
        return EXIT_FAIL;
    }
    if ((s = cli_open_store()) == NULL) {
        json_decref(doc);
        return EXIT_FAIL;
    }
    json_object_foreach(doc, key, v)
    {
        int r = import_one(s, key, v, action);
        ok += r > 0, failed += r < 0;
    }
    printf("%d of %zu variables successfully updated.\n", ok, json_object_size(doc));
    if (failed)
        printf("%d variable(s) failed to be updated.\n", failed);
    store_free(s);
    json_decref(doc);
    return failed ? EXIT_FAIL : EXIT_OK;
}

/* Write doc to path (- is stdout), mode 0600: a backup may hold secrets. */
static int
write_json(const char *path, json_t *doc)
{
    int fd, rc;

    if (strcmp(path, "-") == 0)
        return json_dumpf(doc, stdout, JSON_INDENT(4) | JSON_SORT_KEYS) == 0 && puts("") >= 0 ? 0
                                                                                              : -1;
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        return -1;
    rc = json_dumpfd(doc, fd, JSON_INDENT(4) | JSON_SORT_KEYS);
    return close(fd) == 0 && rc == 0 ? 0 : -1;
}

int
cli_variables_export(const struct cli_args *a)
{
    char **keys = NULL, **vals = NULL;
    size_t n = 0;
    struct err e = {0};
    struct store *s;
    json_t *doc = json_object();
    int rc = EXIT_FAIL;

    if ((s = cli_open_store()) == NULL) {
        json_decref(doc);
        return EXIT_FAIL;
    }
    if (store_variables_list(s, &keys, &vals, &n, &e) < 0)
        log_error("%s", e.msg);
    else {
        for (size_t i = 0; i < n; i++) {
            json_t *v = vals[i] ? json_loads(vals[i], JSON_DECODE_ANY, NULL) : json_null();
            json_object_set_new(doc, keys[i], v ? v : json_string(vals[i]));
        }
        if (write_json(a->argv[0], doc) < 0)
            log_error("variables export: cannot write %s: %m", a->argv[0]);
        else {
            if (strcmp(a->argv[0], "-") != 0)
                printf("%zu variables successfully exported to %s\n", n, a->argv[0]);
            rc = EXIT_OK;
        }
    }
    store_strings_free(keys, n);
    store_strings_free(vals, n);
    json_decref(doc);
    store_free(s);
    return rc;
}

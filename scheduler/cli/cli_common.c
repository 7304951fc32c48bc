/* cli_common: what the verbs share: loading the DAG folder, finding a DAG, connecting,
 * printing rows as a table or JSON, watching a run.
 *
 * Every table goes through cli_print_rows, which escapes control characters in its cells
 * (cli_escape): ids and tags come from files and databases gust did not write. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "clock.h"
#include "dagfile/dagfile.h"
#include "log.h"
#include "loop/loop.h"
#include "progress/progress.h"
#include "schedule/tz.h"
#include "store/store.h"

const char *
cli_dags_folder(void)
{
    const char *f = getenv("GUST_DAGS_FOLDER");
    return f && *f ? f : "./dags";
}

/* One DAG file, as Airflow's --subdir FILE: folder defaults (defaults.yml) are looked up
 * to the DAG folder when the file is in it, else in the file's own folder only. */
static struct dagbag *
load_one_file(const char *path)
{
    const char *root = cli_dags_folder();
    size_t n = strlen(root);
    struct dagbag *bag = dagbag_new();

    while (n > 1 && root[n - 1] == '/')
        n--;
    if (bag && strncmp(path, root, n) == 0 && path[n] == '/' &&
        (bag->root = strndup(root, n)) == NULL) {
        dagbag_free(bag);
        bag = NULL;
    }
    if (bag == NULL) {
        log_error("out of memory");
        return NULL;
    }
    dagbag_load_file(bag, path); /* its problems are the bag's diagnostics */
    return bag;
}

struct dagbag *
cli_load_bag(const char *subdir)
{
    struct err e = {0};
    struct stat st;
    struct dagbag *bag;

    if (subdir && stat(subdir, &st) == 0 && S_ISREG(st.st_mode))
        return load_one_file(subdir);
    bag = loop_load_bag(subdir ? subdir : cli_dags_folder(), &e);

    if (bag == NULL)
        log_error("%s", e.msg);
    return bag;
}

const struct dag *
cli_find_dag(const struct dagbag *bag, const char *dag_id)
{
    const struct dag *dag = dagbag_find(bag, dag_id);

    bool failed = false;

    if (dag != NULL)
        return dag;
    for (size_t i = 0; i < bag->n_diags; i++)
        failed |= bag->diags[i].dag_id && strcmp(bag->diags[i].dag_id, dag_id) == 0 &&
                  bag->diags[i].level == DIAG_ERROR;
    log_error("no DAG '%s' in %s%s", dag_id, cli_dags_folder(),
              failed ? " (it failed to load: see 'gust dags list-import-errors')" : "");
    return NULL;
}

struct store *
cli_open_store(void)
{
    struct err e = {0};
    struct store *s = store_open(NULL, &e);

    if (s == NULL)
        log_error("%s", e.msg);
    return s;
}

/* A byte to show as \xNN: C0 controls, DEL, and C1 controls (UTF-8 0xc2 0x80..0x9f). */
static size_t
control_len(const unsigned char *p)
{
    if (*p < 0x20 || *p == 0x7f)
        return 1;
    return p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f ? 2 : 0;
}

char *
cli_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t k = control_len(p);

        if (k == 0)
            *o++ = (char)*p++;
        for (; k > 0; k--)
            o += sprintf(o, "\\x%02x", *p++);
    }
    *o = '\0';
    return out;
}

/* The cell of a row, escaped (cli_escape); "" when absent, NULL when out of memory. */
static char *
cell(json_t *row, const char *column)
{
    const char *v = json_string_value(json_object_get(row, column));

    return cli_escape(v ? v : "");
}

static void
print_table(json_t *rows, const char *const *cols)
{
    size_t ncol = 0, w[32] = {0}, i;
    json_t *row;

    while (cols[ncol] && ncol < 32)
        ncol++;
    for (size_t c = 0; c < ncol; c++)
        w[c] = strlen(cols[c]);
    json_array_foreach(rows, i, row) for (size_t c = 0; c < ncol; c++)
    {
        char *v = cell(row, cols[c]);
        if (v && strlen(v) > w[c])
            w[c] = strlen(v);
        free(v);
    }
    for (size_t c = 0; c < ncol; c++)
        printf(c + 1 < ncol ? "%-*s | " : "%-*s\n", c + 1 < ncol ? (int)w[c] : 0, cols[c]);
    for (size_t c = 0; c < ncol; c++) {
        for (size_t k = 0; k < w[c]; k++)
            putchar('=');
        fputs(c + 1 < ncol ? "=+=" : "\n", stdout);
    }
    json_array_foreach(rows, i, row) for (size_t c = 0; c < ncol; c++)
    {
        char *v = cell(row, cols[c]);
        printf(c + 1 < ncol ? "%-*s | " : "%-*s\n", c + 1 < ncol ? (int)w[c] : 0, v ? v : "");
        free(v);
    }
}

/* YAML: a list of mappings, every value written as JSON (a YAML flow scalar). */
static void
print_yaml(json_t *rows, const char *const *columns)
{
    size_t i;
    json_t *row;

    if (json_array_size(rows) == 0)
        puts("[]");
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; columns[c]; c++) {
            json_t *v = json_object_get(row, columns[c]);
            char *text = json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);

            printf("%s%s: %s\n", c ? "  " : "- ", columns[c], text ? text : "null");
            free(text);
        }
    }
}

void
cli_print_rows(json_t *rows, const char *output, const char *const *columns)
{
    size_t i;
    json_t *row;

    if (strcmp(output, "yaml") == 0) {
        print_yaml(rows, columns);
    } else if (strcmp(output, "json") == 0) {
        char *text = json_dumps(rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    } else if (strcmp(output, "plain") == 0) {
        json_array_foreach(rows, i, row)
        {
            for (size_t c = 0; columns[c]; c++) {
                char *v = cell(row, columns[c]);
                printf("%s%s", c ? "\t" : "", v ? v : "");
                free(v);
            }
            putchar('\n');
        }
    } else {
        print_table(rows, columns);
    }
}

/* Emit an event for every task whose state differs from what was seen last time. */
static void
diff_states(struct progress *p, const char *dag_id, const char *run_id, struct store_ti *tis,
            size_t n, char **seen)
{
    for (size_t i = 0; i < n; i++) {
        char now[64];

        snprintf(now, sizeof(now), "%s/%d", ti_state_name(tis[i].state), tis[i].try_number);
        if (seen[i] && strcmp(seen[i], now) == 0)
            continue;
        free(seen[i]);
        seen[i] = strdup(now);
        progress_event(p, &(struct runner_event){dag_id, run_id, tis[i].task_id, tis[i].state,
                                                 RUN_RUNNING, tis[i].try_number, NULL});
    }
}

#define WATCH_MIN_MS 20

/* Wait for a notification on the store's connection, at most ms milliseconds; *ended =
 * whether one said that a run of dag_id ended. 0 woken or timed out, -1 error. */
static int
wait_notify(struct store *s, const char *dag_id, int ms, bool *ended, struct err *e)
{
    struct pollfd fd = {.fd = store_socket(s), .events = POLLIN};
    int got = 0;

    if (fd.fd < 0)
        return -1;
    /* notifications that came in with the last query's answer: read the run again now */
    if (store_drain_run_ends(s, dag_id, &got, ended, e) < 0)
        return -1;
    if (got > 0)
        return 0;
    if (poll(&fd, 1, ms) < 0 && errno != EINTR)
        return -1;
    return store_drain_run_ends(s, dag_id, &got, ended, e) < 0 ? -1 : 0;
}

/* A run of many short tasks notifies hundreds of times a second: the watcher reads it at
 * most every WATCH_MIN_MS plus 0.1 ms per task instance (reading 1,000 rows costs the server
 * about 4 ms), so that it does not compete with the scheduler; but at once when a run of the
 * DAG ends (up to 120 ms sooner for 1,000 tasks). Waits out that gap since last_read. */
static void
wait_gap(struct store *s, const char *dag_id, double last_read, size_t n_seen, bool *listening,
         bool *ended)
{
    double gap = (WATCH_MIN_MS + (double)n_seen / 10) / 1000.0, left;
    struct err e = {0};

    while (!*ended && (left = gap - (clock_mono() - last_read)) > 0) {
        if (!*listening) {
            poll(NULL, 0, (int)(left * 1000) + 1);
            return;
        }
        if (wait_notify(s, dag_id, (int)(left * 1000) + 1, ended, &e) < 0)
            *listening = false;
    }
}

int
cli_watch_run(struct store *s, const char *dag_id, const char *run_id)
{
    struct progress *p = progress_new(stdout, isatty(STDOUT_FILENO));
    struct store_run run = {0};
    char **seen = NULL;
    size_t n_seen = 0;
    int rc = EXIT_FAIL;
    struct err e = {0};
    /* Woken by the scheduler's notifications (a try ended, the run ended); without LISTEN
     * (an error is not fatal here) the run is read five times a second. */
    bool listening = store_listen(s, &e) == 0;
    double started = clock_mono(), last_read = 0;
    bool warned = false, ended = false;

    for (;;) {
        struct store_ti *tis = NULL;
        size_t n = 0;

        if (!ended)
            wait_gap(s, dag_id, last_read, n_seen, &listening, &ended);
        last_read = clock_mono();
        if (store_run_get(s, dag_id, run_id, &run, &e) < 0 ||
            store_tis_get(s, dag_id, run_id, &tis, &n, &e) < 0) {
            log_error("%s", e.msg);
            break;
        }
        if (n > n_seen) {
            seen = realloc(seen, n * sizeof(*seen));
            memset(seen + n_seen, 0, (n - n_seen) * sizeof(*seen));
            n_seen = n;
        }
        diff_states(p, dag_id, run_id, tis, n, seen);
        store_tis_free(tis, n);
        if (run.state == RUN_SUCCESS || run.state == RUN_FAILED) {
            printf("run %s of %s: %s\n", run_id, dag_id, run_state_name(run.state));
            rc = run.state == RUN_SUCCESS ? EXIT_OK : EXIT_FAIL;
            break;
        }
        if (!warned && run.state == RUN_QUEUED && clock_mono() - started > 5) {
            warned = true;
            log_warn("the run is still queued: is a scheduler running? (or use --local to run it "
                     "here)");
        }
        store_run_clear(&run);
        /* at most one second: a run whose end was written by an older gust sends none */
        if (!listening || wait_notify(s, dag_id, 1000, &ended, &e) < 0) {
            listening = false;
            poll(NULL, 0, 200);
        }
    }
    store_run_clear(&run);
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    progress_free(p);
    return rc;
}

int
cli_resolve_run(struct store *s, const char *dag_id, const char *text, char **run_id)
{
    struct store_run run = {0};
    struct err e = {0};
    time_t t;
    int rc = store_run_get(s, dag_id, text, &run, &e);

    store_run_clear(&run);
    if (rc == 0)
        return (*run_id = strdup(text)) ? 0 : -1;
    if (e.code != ERR_NOTFOUND) {
        log_error("%s", e.msg);
        return -1;
    }
    e = (struct err){0};
    if (tz_parse_iso("UTC", text, &t, &e) < 0 || store_run_at(s, dag_id, t, run_id, &e) < 0) {
        log_error("DagRun for %s with run_id or logical_date of '%s' not found", dag_id, text);
        return -1;
    }
    return 0;
}

int
cli_confirm(const char *verb, const char *question)
{
    char answer[16] = "";

    if (!isatty(STDIN_FILENO)) {
        log_error("%s asks for confirmation; pass -y to go on without a terminal", verb);
        return EXIT_USAGE;
    }
    fprintf(stderr, "%s [y/N] ", question);
    if (fgets(answer, sizeof(answer), stdin) == NULL || (answer[0] != 'y' && answer[0] != 'Y')) {
        fprintf(stderr, "cancelled\n");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* cli_pools: `gust pools set|get|list|delete|import|export` (docs/operations.md, "Pools"),
 * Airflow's verbs on Airflow's slot_pool table, with its arguments, messages and file format:
 * {"name": {"slots": N, "description": "...", "include_deferred": false}}. slots -1 is
 * unlimited. The claim enforces the pools; these verbs only manage the table.
 *
 * Output: Airflow's columns pool, slots, description, include_deferred, then what the pool
 * holds now, named as Airflow's REST API names them: running_slots, queued_slots and
 * open_slots (slots - running; "unlimited" in a table, null in JSON, for slots -1). JSON and
 * YAML readers find Airflow's keys unchanged, and a table is for people; -o plain, the
 * positional form scripts split, keeps exactly Airflow's four columns.
 *
 * Where gust differs, on purpose: an import checks every entry first and writes all of them
 * in one transaction or none (Airflow writes the good ones and then fails); deleting
 * default_pool is a one-line error, not a traceback. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_int.h"
#include "log.h"
#include "store/store.h"

#define POOL_NAME_MAX 256 /* slot_pool.pool is varchar(256) */

static const char *const airflow_cols[] = {"pool", "slots", "description", "include_deferred",
                                           NULL};
static const char *const all_cols[] = {
    "pool",          "slots",        "description", "include_deferred",
    "running_slots", "queued_slots", "open_slots",  NULL};

/* -v/--verbose (Airflow's): debug logging. False, after a message, for a bad -o. */
static bool
common_opts(const struct cli_args *a, const char **output)
{
    if (cli_flag(a, "verbose"))
        log_set_level(LOG_DEBUG);
    *output = cli_arg(a, "output", "table");
    if (strcmp(*output, "table") && strcmp(*output, "json") && strcmp(*output, "yaml") &&
        strcmp(*output, "plain")) {
        log_error("argument -o/--output: invalid choice: '%s' (choose from 'table', 'json', "
                  "'yaml', 'plain')",
                  *output);
        return false;
    }
    return true;
}

/* Pool p as a row: typed values for JSON and YAML, text cells (text) for a table. */
static json_t *
pool_row(const struct store_pool *p, bool text)
{
    long long open = p->slots - p->running_slots;
    char b[4][32];

    if (!text)
        return json_pack("{s:s, s:i, s:s?, s:b, s:I, s:I, s:o}", "pool", p->pool, "slots", p->slots,
                         "description", p->description, "include_deferred", p->include_deferred,
                         "running_slots", (json_int_t)p->running_slots, "queued_slots",
                         (json_int_t)p->queued_slots, "open_slots",
                         p->slots == -1 ? json_null() : json_integer(open));
    snprintf(b[0], sizeof(b[0]), "%d", p->slots);
    snprintf(b[1], sizeof(b[1]), "%lld", p->running_slots);
    snprintf(b[2], sizeof(b[2]), "%lld", p->queued_slots);
    if (p->slots == -1)
        snprintf(b[3], sizeof(b[3]), "unlimited");
    else
        snprintf(b[3], sizeof(b[3]), "%lld", open);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "pool", p->pool, "slots", b[0],
                     "description", p->description ? p->description : "", "include_deferred",
                     p->include_deferred ? "True" : "False", "running_slots", b[1], "queued_slots",
                     b[2], "open_slots", b[3]);
}

static void
show_pools(const struct store_pool *p, size_t n, const char *output)
{
    bool text = strcmp(output, "json") != 0 && strcmp(output, "yaml") != 0;
    json_t *rows = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows, pool_row(&p[i], text));
    cli_print_rows(rows, output, strcmp(output, "plain") == 0 ? airflow_cols : all_cols);
    json_decref(rows);
}

/* The pool named name (NULL: all) into *p; -1 after a message. */
static int
load_pools(const char *name, struct store_pool **p, size_t *n)
{
    struct store *s = cli_open_store();
    struct err e = {0};
    int rc;

    if (s == NULL)
        return -1;
    if ((rc = store_pools_get(s, name, p, n, &e)) < 0)
        log_error("%s", e.msg);
    store_free(s);
    return rc;
}

int
cli_pools_list(const struct cli_args *a)
{
    struct store_pool *p;
    const char *output;
    size_t n;

    if (!common_opts(a, &output))
        return EXIT_USAGE;
    if (load_pools(NULL, &p, &n) < 0)
        return EXIT_FAIL;
    show_pools(p, n, output);
    store_pools_free(p, n);
    return EXIT_OK;
}

int
cli_pools_get(const struct cli_args *a)
{
    struct store_pool *p;
    const char *output;
    size_t n;

    if (!common_opts(a, &output))
        return EXIT_USAGE;
    if (load_pools(a->argv[0], &p, &n) < 0)
        return EXIT_FAIL;
    if (n == 0)
        log_error("Pool %s does not exist", a->argv[0]);
    else
        show_pools(p, n, output);
    store_pools_free(p, n);
    return n ? EXIT_OK : EXIT_FAIL;
}

/* Airflow's complaint about a pool name, NULL when it is fine: not empty nor blank, at most
 * POOL_NAME_MAX characters (UTF-8 code points, as varchar counts them). */
static const char *
name_fault(const char *name)
{
    size_t chars = 0;
    bool blank = true;

    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        chars += (*c & 0xC0) != 0x80;
        blank = blank && isspace(*c);
    }
    if (blank)
        return "Pool name shouldn't be empty";
    if (chars > POOL_NAME_MAX)
        return "Pool name cannot be more than 256 characters";
    return NULL;
}

/* A number of slots as Python's int() reads one (spaces around, a sign); -1 when text is not
 * an integer in int's range. */
static int
parse_slots(const char *text, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    while (end != text && isspace((unsigned char)*end))
        end++;
    if (end == text || *end || errno || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

#define SLOTS_RANGE "a pool has -1 (unlimited) or more slots"

/* Write pools (one transaction); -1 after a message. */
static int
save_pools(const struct store_pool *p, size_t n)
{
    struct store *s = cli_open_store();
    struct err e = {0};
    int rc;

    if (s == NULL)
        return -1;
    if ((rc = store_pools_set(s, p, n, &e)) < 0)
        log_error("%s", e.msg);
    store_free(s);
    return rc;
}

int
cli_pools_set(const struct cli_args *a)
{
    struct store_pool p = {.pool = a->argv[0], .description = a->argv[2]};
    const char *output, *fault = name_fault(a->argv[0]);

    if (!common_opts(a, &output))
        return EXIT_USAGE;
    if (parse_slots(a->argv[1], &p.slots) < 0) {
        log_error("argument slots: invalid int value: '%s'", a->argv[1]);
        return cli_usage_error(a);
    }
    if (fault || p.slots < -1) {
        if (fault)
            log_error("%s", fault);
        else
            log_error("Invalid value for `slots`: %d: " SLOTS_RANGE, p.slots);
        return EXIT_FAIL;
    }
    p.include_deferred = cli_flag(a, "include-deferred");
    if (save_pools(&p, 1) < 0)
        return EXIT_FAIL;
    printf("Pool %s created\n", p.pool);
    return EXIT_OK;
}

int
cli_pools_delete(const struct cli_args *a)
{
    struct store *s;
    struct err e = {0};
    const char *output;
    int rc;

    if (!common_opts(a, &output))
        return EXIT_USAGE;
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if ((rc = store_pool_delete(s, a->argv[0], &e)) < 0)
        log_error("%s", e.msg);
    else
        printf("Pool %s deleted\n", a->argv[0]);
    store_free(s);
    return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

/* ---- import and export ---- */

#define FILE_FORMAT                                                                                \
    "{\"NAME\": {\"slots\": N, \"description\": \"...\", \"include_deferred\": false}}"

/* Entry name: v of an import file into *p, borrowing name and v's strings. NULL when it is a
 * pool (Airflow's test: an object with "slots" and "description"), else what is wrong. */
static const char *
import_entry(const char *name, json_t *v, struct store_pool *p)
{
    json_t *slots = json_object_get(v, "slots"), *desc = json_object_get(v, "description");
    json_t *deferred = json_object_get(v, "include_deferred");
    const char *fault = name_fault(name);
    json_int_t i = json_integer_value(slots);

    if (fault)
        return fault;
    if (slots == NULL || desc == NULL)
        return "expected an object with \"slots\" and \"description\"";
    *p = (struct store_pool){.pool = (char *)name, .slots = (int)i};
    if (json_is_integer(slots)
            ? i < INT_MIN || i > INT_MAX
            : !json_is_string(slots) || parse_slots(json_string_value(slots), &p->slots) < 0)
        return "\"slots\" is not an integer";
    if (p->slots < -1)
        return "\"slots\": " SLOTS_RANGE;
    if (!json_is_string(desc) && !json_is_null(desc))
        return "\"description\" is not a string";
    p->description = (char *)json_string_value(desc);
    if (deferred && !json_is_boolean(deferred))
        return "\"include_deferred\" is not true or false";
    p->include_deferred = json_is_true(deferred);
    return NULL;
}

/* The pools file at path (a JSON object), or NULL after Airflow's message. */
static json_t *
read_pools_file(const char *path)
{
    json_error_t je;
    json_t *doc;
    struct stat st;

    if (stat(path, &st) != 0 && errno == ENOENT) {
        log_error("Missing pools file %s", path);
        return NULL;
    }
    if ((doc = json_load_file(path, JSON_DECODE_ANY, &je)) == NULL) {
        if (je.line < 0)
            log_error("%s", je.text);
        else
            log_error("Invalid json file: %s:%d:%d: %s", path, je.line, je.column, je.text);
    } else if (!json_is_object(doc)) {
        log_error("Invalid json file: %s: expected an object of pools, " FILE_FORMAT, path);
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* Check every entry of doc into pools (*n good ones); the names of the bad ones, each said
 * with its reason, in *failed ("a, b"; new text, NULL when none). */
static void
import_entries(const char *path, json_t *doc, struct store_pool *pools, size_t *n, char **failed)
{
    size_t len = 0, bad = 0;
    FILE *names = open_memstream(failed, &len);
    const char *k, *why;
    json_t *v;

    *n = 0;
    json_object_foreach(doc, k, v)
    {
        if ((why = import_entry(k, v, &pools[*n])) == NULL) {
            (*n)++;
            continue;
        }
        log_error("%s: pool %s: %s", path, k, why);
        if (names)
            fprintf(names, "%s%s", bad ? ", " : "", k);
        bad++;
    }
    if (names)
        fclose(names);
    if (bad == 0 || names == NULL) {
        free(names ? *failed : NULL);
        *failed = bad ? strdup("(out of memory)") : NULL;
    }
}

int
cli_pools_import(const struct cli_args *a)
{
    json_t *doc;
    struct store_pool *pools;
    char *failed = NULL;
    size_t n = 0;
    int rc = EXIT_FAIL;

    if (cli_flag(a, "verbose"))
        log_set_level(LOG_DEBUG);
    if ((doc = read_pools_file(a->argv[0])) == NULL)
        return EXIT_FAIL;
    if ((pools = calloc(json_object_size(doc) + 1, sizeof(*pools))) == NULL) {
        log_error("import %s: out of memory", a->argv[0]);
        json_decref(doc);
        return EXIT_FAIL;
    }
    import_entries(a->argv[0], doc, pools, &n, &failed);
    if (failed)
        log_error("Failed to update pool(s): %s (nothing was imported)", failed);
    else if (save_pools(pools, n) == 0) {
        printf("Uploaded %zu pool(s)\n", n);
        rc = EXIT_OK;
    }
    free(failed);
    free(pools);
    json_decref(doc);
    return rc;
}

/* Python's json.dumps writes \u escapes in lower case, jansson in upper case: lower them so
 * that an export is byte for byte Airflow's. A backslash in a value is written "\\", so each
 * escape is read from its start. */
static void
lower_escapes(char *text)
{
    for (char *c = text; *c; c++) {
        if (*c != '\\')
            continue;
        if (c[1] == 'u')
            for (int k = 2; k < 6 && c[k]; k++)
                c[k] = (char)tolower((unsigned char)c[k]);
        c++; /* the escaped character: never the start of another escape */
    }
}

/* Airflow's export file of pools: sorted keys, four spaces, ASCII; new text or NULL. */
static char *
export_text(const struct store_pool *p, size_t n)
{
    json_t *doc = json_object();
    char *text;

    for (size_t i = 0; i < n; i++)
        json_object_set_new(doc, p[i].pool,
                            json_pack("{s:i, s:s?, s:b}", "slots", p[i].slots, "description",
                                      p[i].description, "include_deferred", p[i].include_deferred));
    text = json_dumps(doc, JSON_INDENT(4) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (text)
        lower_escapes(text);
    return text;
}

/* Write text to path (- : stdout, with a newline); -1 after a message. */
static int
write_text(const char *path, const char *text)
{
    bool out = strcmp(path, "-") == 0;
    FILE *f = out ? stdout : fopen(path, "w");
    bool bad;

    if (f == NULL) {
        log_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    bad = fputs(text, f) < 0 || (out && fputc('\n', f) < 0);
    bad = (out ? fflush(f) : fclose(f)) != 0 || bad;
    if (bad)
        log_error("cannot write %s: %s", path, strerror(errno));
    return bad ? -1 : 0;
}

int
cli_pools_export(const struct cli_args *a)
{
    const char *path = a->argv[0];
    struct store_pool *p;
    size_t n;
    char *text;
    int rc = EXIT_FAIL;

    if (cli_flag(a, "verbose"))
        log_set_level(LOG_DEBUG);
    if (load_pools(NULL, &p, &n) < 0)
        return EXIT_FAIL;
    if ((text = export_text(p, n)) == NULL)
        log_error("export pools: out of memory");
    else if (write_text(path, text) == 0)
        rc = EXIT_OK;
    /* Airflow's message; on stderr when the file is stdout */
    if (rc == EXIT_OK)
        fprintf(strcmp(path, "-") == 0 ? stderr : stdout, "Exported %zu pools to %s\n", n, path);
    free(text);
    store_pools_free(p, n);
    return rc;
}

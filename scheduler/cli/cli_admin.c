/* cli_admin: `db clean` (retention), `db reset`, `config get-value` and `config list`.
 *
 * db clean deletes, in one transaction, the rows older than --clean-before-timestamp of the
 * tables named as Airflow names them (store_db_clean keeps queued and running runs and each
 * DAG's newest non-manual run), then the log folders of the runs it deleted. db reset drops
 * and re-creates gust's tables. Both ask on a terminal and refuse without -y elsewhere.
 * config shows the settings gust reads under Airflow's section/key names where Airflow has
 * one, under [gust] otherwise; a secret (the Fernet key) is hidden in `config list`. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_int.h"
#include "log.h"
#include "schedule/tz.h"
#include "store/store.h"

/* ---- db clean ---- */

/* --tables t1,t2 into a mask of store_clean_table_name's bits. As Airflow, a name gust does
 * not clean is skipped with a warning (scripts list Airflow tables gust has not got); -1
 * after a message when none is left. */
static int
parse_tables(const char *spec, unsigned *mask)
{
    *mask = 0;
    for (const char *p = spec; *p; p += *p == ',') {
        size_t len = strcspn(p, ",");
        int i;

        for (i = 0; store_clean_table_name(i); i++)
            if (strlen(store_clean_table_name(i)) == len &&
                strncmp(store_clean_table_name(i), p, len) == 0)
                break;
        if (store_clean_table_name(i) == NULL)
            log_warn("db clean: table '%.*s' is not one gust cleans; skipped", (int)len, p);
        else
            *mask |= 1u << i;
        p += len;
    }
    if (*mask == 0)
        log_error("db clean: no table to clean in --tables (gust cleans dag_run, task_instance, "
                  "task_instance_history, xcom, log, job, import_error)");
    return *mask ? 0 : -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Remove the log folder of each deleted run; returns how many were removed. */
static int
remove_run_logs(const struct store_clean *c)
{
    const char *folder = getenv("GUST_LOGS_FOLDER") ? getenv("GUST_LOGS_FOLDER") : "./logs";
    int removed = 0;

    for (size_t i = 0; i < c->n_runs; i++) {
        char *dir;

        if (c->runs[2 * i] == NULL || c->runs[2 * i + 1] == NULL || strchr(c->runs[2 * i], '/') ||
            strchr(c->runs[2 * i + 1], '/') ||
            asprintf(&dir, "%s/dag_id=%s/run_id=%s", folder, c->runs[2 * i], c->runs[2 * i + 1]) <
                0)
            continue;
        if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0)
            removed++;
        free(dir);
    }
    return removed;
}

static void
print_clean(const struct store_clean *c)
{
    if (c->dry_run)
        printf("Performing dry run for db cleanup: nothing is deleted.\n");
    for (int i = 0; store_clean_table_name(i); i++)
        if (c->tables & (1u << i))
            printf("%-22s %lld row(s) %s\n", store_clean_table_name(i), c->counts[i],
                   c->dry_run ? "to delete" : "deleted");
}

int
cli_db_clean(const struct cli_args *a)
{
    const char *ts = cli_arg(a, "clean-before-timestamp", NULL),
               *tables = cli_arg(a, "tables", NULL);
    struct store_clean c = {.dry_run = cli_flag(a, "dry-run"), .tables = ~0u};
    struct err e = {0};
    struct store *s;
    int rc;

    if (tz_parse_iso("UTC", ts, &c.before, &e) < 0) {
        log_error("db clean: --clean-before-timestamp: %s", e.msg);
        return EXIT_USAGE;
    }
    if (tables && parse_tables(tables, &c.tables) < 0)
        return cli_usage_error(a);
    if (!c.dry_run && !cli_flag(a, "yes") &&
        (rc = cli_confirm("db clean", "Delete the rows and logs older than the timestamp?")) !=
            EXIT_OK)
        return rc;
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_db_clean(s, &c, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    print_clean(&c);
    if (!c.dry_run && c.n_runs > 0)
        printf("log folders of %d deleted run(s) removed\n", remove_run_logs(&c));
    store_clean_free(&c);
    store_free(s);
    return EXIT_OK;
}

/* ---- db reset ---- */

int
cli_db_reset(const struct cli_args *a)
{
    struct err e = {0};
    struct store *s;
    int rc, applied = 0;

    if (!cli_flag(a, "yes") &&
        (rc = cli_confirm("db reset", "This drops every gust table and its data. Proceed?")) !=
            EXIT_OK)
        return rc;
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_db_reset(s, &applied, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    printf("reset: tables dropped, applied %d migration(s)\n", applied);
    store_free(s);
    return EXIT_OK;
}

/* ---- config ---- */

/* One setting gust reads: Airflow's section and key (or [gust] when Airflow has none), the
 * environment variables read (first set wins) and the default. */
static const struct setting {
    const char *section, *key, *env[2], *def;
    bool secret;
} settings[] = {
    {"core", "dags_folder", {"GUST_DAGS_FOLDER"}, "./dags", false},
    {"core", "parallelism", {"GUST_PARALLELISM"}, "32", false},
    {"core", "fernet_key", {"AIRFLOW__CORE__FERNET_KEY", "GUST_FERNET_KEY"}, "", true},
    {"database", "sql_alchemy_conn", {"GUST_DATABASE_URL"}, "", false},
    {"logging", "base_log_folder", {"GUST_LOGS_FOLDER"}, "./logs", false},
    {"logging", "logging_level", {"GUST_LOG_LEVEL"}, "INFO", false},
    {"scheduler", "dag_dir_list_interval", {"GUST_DAG_DIR_LIST_INTERVAL"}, "30", false},
    {"gust", "xcom_max_bytes", {"GUST_XCOM_MAX_BYTES"}, "1048576", false},
    {"gust", "task_log_max_bytes", {"GUST_TASK_LOG_MAX_BYTES"}, "104857600", false},
    {"gust", "lease_seconds", {"GUST_LEASE_SECONDS"}, "30", false},
    {"gust", "sql_progress_seconds", {"GUST_SQL_PROGRESS_SECONDS"}, "60", false},
    {"gust", "schedule_semantics", {"GUST_SCHEDULE_SEMANTICS"}, "airflow3", false},
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* The value in effect: the environment's, else the default. A database URL has its password
 * masked. buf holds the masked copy. */
static const char *
setting_value(const struct setting *st, char *buf, size_t size)
{
    const char *v = NULL;

    for (size_t i = 0; i < 2 && st->env[i] && v == NULL; i++)
        if (getenv(st->env[i]) && *getenv(st->env[i]))
            v = getenv(st->env[i]);
    if (v == NULL)
        return st->def;
    if (strcmp(st->key, "sql_alchemy_conn") == 0) {
        store_mask_conninfo(v, buf, size);
        return buf;
    }
    return v;
}

int
cli_config_get_value(const struct cli_args *a)
{
    char buf[1024];

    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].section, a->argv[0]) == 0 &&
            strcmp(settings[i].key, a->argv[1]) == 0) {
            puts(setting_value(&settings[i], buf, sizeof(buf)));
            return EXIT_OK;
        }
    log_error("The option [%s/%s] is not found in config.", a->argv[0], a->argv[1]);
    return EXIT_FAIL;
}

int
cli_config_list(const struct cli_args *a)
{
    const char *section = cli_arg(a, "section", NULL), *last = NULL;
    char buf[1024];
    bool found = false;

    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct setting *st = &settings[i];
        const char *v = setting_value(st, buf, sizeof(buf));

        if (section && strcmp(section, st->section) != 0)
            continue;
        if (last == NULL || strcmp(last, st->section) != 0)
            printf("%s[%s]\n", last ? "\n" : "", st->section);
        last = st->section;
        found = true;
        printf("%s = %s\n", st->key, st->secret && *v ? "< hidden >" : v);
    }
    if (section && !found) {
        log_error("config list: there is no section [%s]", section);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

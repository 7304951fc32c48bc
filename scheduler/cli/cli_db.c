/* cli_db: `gust db migrate` and `gust db check`, the schema verbs.
 *
 * Thin wrappers over the store API: they connect ($GUST_DATABASE_URL or the PG* variables),
 * act, print one line and map the outcome to the exit code (0 ok, 1 failure, 2 usage).
 * Error lines come from struct err and never contain a password. */
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "log.h"
#include "store/store.h"

int
cli_db_migrate(const struct cli_args *a)
{
    struct err e = {0};
    struct store *s;
    int applied = 0, dbv = 0, binv = 0;

    (void)a;
    if ((s = store_open(NULL, &e)) == NULL || store_migrate(s, &applied, &e) != 0 ||
        store_schema_version(s, &dbv, &binv, &e) != 0) {
        log_error("db migrate: %s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    if (applied > 0)
        printf("migrated: applied %d migration(s), schema version %d\n", applied, dbv);
    else
        printf("up to date: schema version %d\n", dbv);
    store_free(s);
    return EXIT_OK;
}

int
cli_db_check(const struct cli_args *a)
{
    struct err e = {0};
    struct store *s;
    int dbv = 0, binv = 0;

    (void)a;
    if ((s = store_open(NULL, &e)) == NULL || store_schema_version(s, &dbv, &binv, &e) != 0) {
        log_error("db check: %s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    store_free(s);
    if (dbv == binv) {
        printf("ok: database reachable, schema version %d is up to date\n", dbv);
        return EXIT_OK;
    }
    if (dbv < binv)
        log_error("db check: schema version %d, this gust needs %d: run 'gust db migrate'", dbv,
                  binv);
    else
        log_error("db check: database schema version %d is newer than this gust (knows 1..%d); "
                  "upgrade gust",
                  dbv, binv);
    return EXIT_FAIL;
}

/* cli_db: `gust db migrate` and `gust db check`, the schema verbs.
 *
 * Thin wrappers over the store API: they connect ($GUST_DATABASE_URL or the PG* variables),
 * act, print one line and map the outcome to the exit code (0 ok, 1 failure, 2 usage).
 * Error lines come from struct err and never contain a password. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static const char migrate_usage[] =
    "usage: gust db migrate\n"
    "Create or upgrade the metadata schema: apply the migrations this gust carries that the\n"
    "database lacks, each in one transaction. Running it again is a no-op; concurrent runs\n"
    "are serialized. Refuses a database whose schema is newer than this gust.\n"
    "Database: $GUST_DATABASE_URL (libpq conninfo or URI), else the PG* variables.\n";

static const char check_usage[] =
    "usage: gust db check\n"
    "Exit 0 when the database is reachable and its schema is up to date, 1 otherwise.\n"
    "Database: $GUST_DATABASE_URL (libpq conninfo or URI), else the PG* variables.\n";

/* Usage errors and --help shared by both verbs (neither takes arguments). Returns -1 when
 * the verb should go on. */
static int
no_args(int argc, char **argv, const char *usage)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "gust db %s: unexpected argument '%s'\n%s", argv[0], argv[1], usage);
        return EXIT_USAGE;
    }
    return -1;
}

int
cmd_db_migrate(int argc, char **argv)
{
    struct err e = {0};
    struct store *s;
    int rc, applied = 0, dbv = 0, binv = 0;

    if ((rc = no_args(argc, argv, migrate_usage)) >= 0)
        return rc;
    if ((s = store_open(NULL, &e)) == NULL || store_migrate(s, &applied, &e) != 0 ||
        store_schema_version(s, &dbv, &binv, &e) != 0) {
        fprintf(stderr, "gust db migrate: %s\n", e.msg);
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
cmd_db_check(int argc, char **argv)
{
    struct err e = {0};
    struct store *s;
    int rc, dbv = 0, binv = 0;

    if ((rc = no_args(argc, argv, check_usage)) >= 0)
        return rc;
    if ((s = store_open(NULL, &e)) == NULL || store_schema_version(s, &dbv, &binv, &e) != 0) {
        fprintf(stderr, "gust db check: %s\n", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    store_free(s);
    if (dbv == binv) {
        printf("ok: database reachable, schema version %d is up to date\n", dbv);
        return EXIT_OK;
    }
    if (dbv < binv)
        fprintf(stderr,
                "gust db check: schema version %d, this gust needs %d: run 'gust db migrate'\n",
                dbv, binv);
    else
        fprintf(stderr,
                "gust db check: database schema version %d is newer than this gust "
                "(knows 1..%d); upgrade gust\n",
                dbv, binv);
    return EXIT_FAIL;
}

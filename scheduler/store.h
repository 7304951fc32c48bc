/* store: gust's state in PostgreSQL (DESIGN.md section 6). The only module that sees libpq.
 *
 * A struct store is one connection. Every call returns 0 / -1 and fills an optional struct
 * err; connection failures set err.temporary. Messages never contain a password. */
#ifndef GUST_STORE_H
#define GUST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"

struct store;
struct dagbag;

/* One embedded migration: migrations/NNNN_name.sql compiled into the binary. */
struct store_migration {
    int version; /* NNNN: 1, 2, 3... */
    const char *name;
    const char *sql;
};

/* Generated from the migrations folder at build time (scripts/embed_migrations.sh), in version
 * order, ended by a {0, NULL, NULL} entry. */
extern const struct store_migration store_migrations[];
extern const int store_n_migrations;

/* Connect. conninfo is a libpq key=value string or a postgresql:// URI; NULL means
 * $GUST_DATABASE_URL, and when that is unset too, libpq's defaults (PG* variables).
 * Returns a new store (free with store_free) or NULL with e set. */
struct store *store_open(const char *conninfo, struct err *e);

/* Close the connection and free the store; NULL is a no-op. */
void store_free(struct store *s);

/* Where the store is connected, for messages: "host=... port=... dbname=... user=...". */
const char *store_where(const struct store *s);

/* Copy conninfo into buf with any password replaced by "***" (key=value and URI forms). */
void store_mask_conninfo(const char *conninfo, char *buf, size_t size);

/* Apply the embedded migrations the database lacks, each in its own transaction, under an
 * advisory lock (concurrent callers wait, then find nothing to do). Sets *applied (may be
 * NULL) to the number applied. Refuses (ERR_VERSION) a database newer than this binary. */
int store_migrate(struct store *s, int *applied, struct err *e);

/* store_migrate with another list (versions 1..n in order): for tests and tools. */
int store_migrate_list(struct store *s, const struct store_migration *list, int n, int *applied,
                       struct err *e);

/* The database's schema version (0: never migrated) and the newest this binary knows. */
int store_schema_version(struct store *s, int *db_version, int *binary_version, struct err *e);

/* Record a loaded DAG folder: upsert one `dag` row per DAG (new DAGs start paused when
 * is_paused_upon_creation; is_paused of known DAGs is kept), mark DAGs no longer in the bag
 * inactive (unless their file failed to load), set has_import_errors per file, and replace
 * the `import_error` rows with the bag's errors (one row per file). One transaction. */
int store_sync_dagbag(struct store *s, const struct dagbag *bag, time_t now, struct err *e);

/* Whether dag_id is paused. ERR_NOTFOUND when the DAG has no row. */
int store_dag_is_paused(struct store *s, const char *dag_id, bool *paused, struct err *e);

#endif

/* sqlspec: the spec file of a SQL task (the JSON object gust's runner writes for
 * `sql_task --spec FILE`, docs/sql-task.md), read into plain structs.
 *
 * Every key is checked for its type here, and each operator's required keys are present;
 * column_mapping and checks are validated as the provider validates them. Errors are
 * ERR_USAGE (exit 100) naming the key ("spec.json: column_mapping.id.min: ..."). */
#ifndef GUST_SQLSPEC_H
#define GUST_SQLSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "sqlcheck.h"

enum sql_op {
    SQL_EXECUTE,
    SQL_CHECK,
    SQL_VALUE_CHECK,
    SQL_THRESHOLD_CHECK,
    SQL_COLUMN_CHECK,
    SQL_TABLE_CHECK,
    SQL_BRANCH,
    SQL_SENSOR,
};

/* The type a parameter is bound with: what psycopg2's literal of the value would be. */
enum sql_ptype {
    SQLP_UNKNOWN, /* a str, null, list or dict (JSON text): the server infers, as for '...' */
    SQLP_INT4,
    SQLP_INT8,
    SQLP_NUMERIC, /* a float, or an int beyond 64 bits */
    SQLP_BOOL,
};

struct sql_param {
    const char *name; /* the key of a mapping, NULL in a list */
    char *value;      /* text form, NULL = SQL NULL */
    enum sql_ptype type;
};

/* A threshold: a number, or SQL whose first cell is the number. */
struct sql_threshold {
    bool is_sql;
    double num;
    const char *sql;
};

/* Strings are borrowed from the parsed document, which the spec owns (sqlspec_clear). */
struct sql_spec {
    enum sql_op op;
    const char *op_name, *dag_id, *task_id, *run_id, *conn_id, *database;
    const char **sql; /* statement texts as given (not split yet) */
    size_t nsql;
    bool sql_is_string; /* "sql" was a string (or a one-element list without sql_is_list):
                           Airflow's string form */
    bool split_statements, autocommit, return_last, show_return_value_in_logs, do_xcom_push;
    bool has_params;   /* parameters given and not empty (psycopg2 formats only then) */
    bool params_named; /* a mapping (%(name)s) rather than a list (%s) */
    struct sql_param *params;
    size_t nparams;
    const char **param_names; /* names of params, for sqltext_bind */
    double execution_timeout; /* seconds, 0 = none */
    char *pass_value;         /* str(pass_value), owned */
    bool has_tolerance;
    double tolerance;
    struct sql_threshold min_threshold, max_threshold;
    const char *table, *partition_clause;
    struct sqlcolcheck *colchecks;
    size_t ncolchecks;
    struct sqltabcheck *tabchecks;
    size_t ntabchecks;
    bool accept_none;
    const char **follow_true, **follow_false;
    size_t nfollow_true, nfollow_false;
    double poke_interval, timeout;
    bool fail_on_empty, soft_fail;
    void *doc; /* the parsed document */
};

/* Read and check the spec file at path. On error spec is cleared and e says which key. */
int sqlspec_load(const char *path, struct sql_spec *spec, struct err *e);

/* Parse spec text (what sqlspec_load reads); where names it in messages. */
int sqlspec_parse(const char *text, const char *where, struct sql_spec *spec, struct err *e);

/* Free everything; spec is zeroed. */
void sqlspec_clear(struct sql_spec *spec);

#endif

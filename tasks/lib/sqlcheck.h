/* sqlcheck: the decisions of Airflow's SQL operators, pure (no database): Python's truth and
 * str() of a result value, the checks of SQLCheckOperator, SQLValueCheckOperator,
 * SQLThresholdCheckOperator, SQLColumnCheckOperator and SQLTableCheckOperator, the SQL the
 * last two build, and BranchSQLOperator's reading of a cell.
 *
 * A value is what libpq gave (text) plus the kind psycopg2 would have made of it, so the
 * rules read like the provider's Python: a NULL is None, 0 and '' are falsy, and so on. */
#ifndef GUST_SQLCHECK_H
#define GUST_SQLCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "sqltext.h"

/* The Python type psycopg2 returns for a column, by PostgreSQL type. */
enum sqlval_kind {
    SQLV_NULL,    /* None */
    SQLV_BOOL,    /* bool: text "t" or "f" */
    SQLV_INT,     /* int: int2, int4, int8, oid */
    SQLV_FLOAT,   /* float: float4, float8 (text may be NaN, Infinity) */
    SQLV_NUMERIC, /* decimal.Decimal: numeric */
    SQLV_TEXT,    /* str: text, varchar, char, name */
    SQLV_JSON,    /* dict/list/...: json, jsonb (text is the JSON) */
    SQLV_OTHER,   /* anything else (date, timestamp, uuid, arrays...): its text form */
};

struct sqlval {
    enum sqlval_kind kind;
    const char *text; /* PostgreSQL's text output, borrowed; NULL for SQLV_NULL */
};

/* Python's bool(value). */
bool sqlval_truthy(const struct sqlval *v);

/* Python's float(value): 0, or -1 when Python raises (None, a date, text not a number). */
int sqlval_float(const struct sqlval *v, double *out);

/* Python's str(value) appended to b (None, True/False, 1.0 for a float 1...). */
void sqlval_pystr(struct sqlbuf *b, const struct sqlval *v);

/* value as JSON appended to b: null, true/false, numbers as PostgreSQL wrote them (NaN and
 * Infinity as strings, JSON cannot hold them), json/jsonb as is, everything else a string. */
void sqlval_json(struct sqlbuf *b, const struct sqlval *v);

/* Python's float(s) for a str: surrounding white space, a sign, inf/infinity/nan in any
 * case, '_' between digits. 0, or -1 when Python raises ValueError. */
int sqlcheck_parse_float(const char *s, double *out);

/* repr(float) of Python: the shortest text that reads back the same, with ".0" when
 * integral, exponent form below 1e-4 or from 1e16. */
void sqlcheck_float_repr(double d, char *buf, size_t size);

/* d as a JSON number: integral values without a fraction ("3"), others as repr(float)
 * ("0.1"), NaN and infinities as null (JSON has no such numbers). */
void sqlcheck_json_number(struct sqlbuf *b, double d);

/* The provider's _parse_boolean: y yes t true on 1 -> 1, n no f false off 0 -> 0 (any
 * case), anything else -1 (a ValueError). */
int sqlcheck_parse_boolean(const char *s);

/* SQLCheckOperator on the first row: true when every value is truthy. why gets, for each
 * falsy value, "column N is V" (1-based), separated by "; ". */
bool sqlcheck_row(const struct sqlval *row, size_t n, struct sqlbuf *why);

/* SQLValueCheckOperator on the first row. pass_value is str(pass_value). When it reads as a
 * float the check is numeric: every value converted with float() (failing when one cannot
 * be) equals it, or with tolerance lies within pass*(1-tol) .. pass*(1+tol); else every
 * str(value) equals pass_value. why says what failed. */
bool sqlcheck_value(const struct sqlval *row, size_t n, const char *pass_value, bool has_tol,
                    double tol, struct sqlbuf *why);

/* A bound of a column check: a number, or a string compared with a text result. */
struct sqlbound {
    bool set, is_num;
    double num;
    const char *str;
};

/* One check of SQLColumnCheckOperator's column_mapping. */
struct sqlcolcheck {
    const char *column, *check; /* check: null_check distinct_check unique_check min max */
    struct sqlbound equal_to, greater_than, geq_to, less_than, leq_to;
    bool has_tol;
    double tol;
    const char *partition_clause; /* NULL when absent */
};

/* One check of SQLTableCheckOperator's checks. */
struct sqltabcheck {
    const char *name, *statement, *partition_clause;
};

/* The provider's _column_mapping_validation (and the bounds' types): ERR_USAGE naming the
 * column, the check and the offending option. */
int sqlcheck_column_validate(const struct sqlcolcheck *c, struct err *e);

/* A partition_clause may not hold ';' (the provider's _initialize_partition_clause). */
int sqlcheck_partition_validate(const char *clause, struct err *e);

/* The provider's _get_match: does result pass c? accept_none turns NULL into 0. why gets the
 * reason when it does not (or when the comparison is impossible: text against a number). */
bool sqlcheck_column_match(const struct sqlcolcheck *c, const struct sqlval *result,
                           bool accept_none, struct sqlbuf *why);

/* The one-row query of a column check: column i of the row is checks[i]'s result,
 * "(SELECT <aggregate of the column> FROM <table> [WHERE partition [AND check's]])". Table
 * and column names are quoted (sqltext_quote_ident). */
int sqlcheck_column_sql(const char *table, const struct sqlcolcheck *checks, size_t n,
                        const char *partition_clause, struct sqlbuf *out, struct err *e);

/* The one-row query of a table check: column i is MIN(CASE WHEN statement THEN 1 ELSE 0 END)
 * over the table's (partitioned) rows, as the provider's template. */
int sqlcheck_table_sql(const char *table, const struct sqltabcheck *checks, size_t n,
                       const char *partition_clause, struct sqlbuf *out, struct err *e);

/* BranchSQLOperator's reading of the first cell: bool, int (non-zero), or a boolean-like
 * string. 0 with *follow_true set, or -1 with why saying the value and its type. */
int sqlcheck_branch(const struct sqlval *v, bool *follow_true, struct sqlbuf *why);

#endif

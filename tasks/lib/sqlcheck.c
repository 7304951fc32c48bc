/* sqlcheck: Airflow's SQL check and branch decisions over typed result values (see
 * sqlcheck.h).
 *
 * Each function mirrors one method of airflow.providers.common.sql.operators.sql, with
 * Python's rules where they matter: bool() of a value, float() of a str, str() of a float,
 * and a comparison between a number and a str being an error (a failed check here), never
 * an answer. Key invariant: the SQL built here contains the user's names only quoted
 * (sqltext_quote_ident) and the user's SQL fragments (check statements, partition clauses)
 * only where the provider puts them; no value is ever pasted. */
#include "sqlcheck.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Python's view of a value ----------------------------------------------------------- */

static const char *
kind_name(enum sqlval_kind k)
{
    static const char *const names[] = {"NoneType", "bool", "int",  "float",
                                        "Decimal",  "str",  "json", "other"};
    return names[k];
}

int
sqlcheck_parse_float(const char *s, double *out)
{
    char buf[128], *end;
    size_t n = 0;

    while (isspace((unsigned char)*s))
        s++;
    for (const char *p = s; *p && !isspace((unsigned char)*p); p++) {
        if (*p == '_') { /* only between two digits */
            if (p == s || !isdigit((unsigned char)p[-1]) || !isdigit((unsigned char)p[1]))
                return -1;
            continue;
        }
        if (n + 1 >= sizeof(buf))
            return -1;
        buf[n++] = (char)tolower((unsigned char)*p);
    }
    buf[n] = '\0';
    for (const char *p = s + strcspn(s, " \t\n\r\f\v"); *p; p++)
        if (!isspace((unsigned char)*p))
            return -1; /* text after the number */
    const char *word = buf + (buf[0] == '+' || buf[0] == '-');
    if (strcmp(word, "inf") == 0 || strcmp(word, "infinity") == 0 || strcmp(word, "nan") == 0) {
        *out = strtod(buf, NULL);
        return 0;
    }
    if (n == 0 || strspn(buf, "0123456789.e+-") != n || strpbrk(buf, "0123456789") == NULL)
        return -1;
    *out = strtod(buf, &end);
    return *end == '\0' ? 0 : -1;
}

void
sqlcheck_float_repr(double d, char *buf, size_t size)
{
    char digits[40];
    int prec, exp;

    if (isnan(d) || isinf(d)) {
        snprintf(buf, size, "%s", isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
        return;
    }
    for (prec = 1; prec < 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, d);
        if (strtod(digits, NULL) == d)
            break;
    }
    snprintf(digits, sizeof(digits), "%.*e", prec - 1, d);
    exp = atoi(strchr(digits, 'e') + 1);
    if (exp >= -4 && exp < 16) {
        int decimals = prec - 1 - exp > 0 ? prec - 1 - exp : 0;
        snprintf(buf, size, "%.*f%s", decimals, d, decimals == 0 ? ".0" : "");
        return;
    }
    *strchr(digits, 'e') = '\0'; /* mantissa, then Python's exponent: sign, 2+ digits */
    snprintf(buf, size, "%se%c%02d", digits, exp < 0 ? '-' : '+', abs(exp));
}

void
sqlcheck_json_number(struct sqlbuf *b, double d)
{
    char buf[64];

    if (!isfinite(d)) {
        sqlbuf_add(b, "null");
    } else if (d == floor(d) && fabs(d) < 1e15) {
        sqlbuf_addf(b, "%.0f", d);
    } else {
        sqlcheck_float_repr(d, buf, sizeof(buf));
        sqlbuf_add(b, buf);
    }
}

int
sqlcheck_parse_boolean(const char *s)
{
    static const char *const yes[] = {"y", "yes", "t", "true", "on", "1"};
    static const char *const no[] = {"n", "no", "f", "false", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* A JSON text psycopg2 would have decoded to a falsy value: {} [] "" 0 false null. */
static bool
json_falsy(const char *t)
{
    double d;

    while (isspace((unsigned char)*t))
        t++;
    if (*t == '{' || *t == '[') {
        char close = *t == '{' ? '}' : ']';
        for (t++; isspace((unsigned char)*t); t++)
            ;
        return *t == close;
    }
    return strncmp(t, "\"\"", 2) == 0 || strncmp(t, "false", 5) == 0 ||
           strncmp(t, "null", 4) == 0 || (sqlcheck_parse_float(t, &d) == 0 && d == 0);
}

bool
sqlval_truthy(const struct sqlval *v)
{
    switch (v->kind) {
    case SQLV_NULL:
        return false;
    case SQLV_BOOL:
        return v->text[0] == 't';
    case SQLV_INT:
    case SQLV_FLOAT:
    case SQLV_NUMERIC:
        return strtod(v->text, NULL) != 0; /* NaN is truthy, as in Python */
    case SQLV_TEXT:
        return v->text[0] != '\0';
    case SQLV_JSON:
        return !json_falsy(v->text);
    case SQLV_OTHER:
        return true;
    }
    return true;
}

int
sqlval_float(const struct sqlval *v, double *out)
{
    switch (v->kind) {
    case SQLV_BOOL:
        *out = v->text[0] == 't';
        return 0;
    case SQLV_INT:
    case SQLV_FLOAT:
    case SQLV_NUMERIC:
        *out = strtod(v->text, NULL);
        return 0;
    case SQLV_TEXT:
        return sqlcheck_parse_float(v->text, out);
    case SQLV_JSON:
        if (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0) {
            *out = v->text[0] == 't';
            return 0;
        }
        return v->text[0] != '"' ? sqlcheck_parse_float(v->text, out) : -1;
    default:
        return -1;
    }
}

void
sqlval_pystr(struct sqlbuf *b, const struct sqlval *v)
{
    char repr[64];

    switch (v->kind) {
    case SQLV_NULL:
        sqlbuf_add(b, "None");
        return;
    case SQLV_BOOL:
        sqlbuf_add(b, v->text[0] == 't' ? "True" : "False");
        return;
    case SQLV_FLOAT:
        sqlcheck_float_repr(strtod(v->text, NULL), repr, sizeof(repr));
        sqlbuf_add(b, repr);
        return;
    default:
        sqlbuf_add(b, v->text);
        return;
    }
}

void
sqlval_json(struct sqlbuf *b, const struct sqlval *v)
{
    switch (v->kind) {
    case SQLV_NULL:
        sqlbuf_add(b, "null");
        return;
    case SQLV_BOOL:
        sqlbuf_add(b, v->text[0] == 't' ? "true" : "false");
        return;
    case SQLV_INT:
        sqlbuf_add(b, v->text);
        return;
    case SQLV_FLOAT:
    case SQLV_NUMERIC:
        if (isfinite(strtod(v->text, NULL)) && strpbrk(v->text, "0123456789"))
            sqlbuf_add(b, v->text);
        else
            sqlbuf_json_str(b, v->text); /* NaN, Infinity: not JSON numbers */
        return;
    case SQLV_JSON:
        sqlbuf_add(b, v->text);
        return;
    default:
        sqlbuf_json_str(b, v->text);
        return;
    }
}

/* ---- SQLCheckOperator, SQLValueCheckOperator -------------------------------------------- */

static void
why_sep(struct sqlbuf *why)
{
    if (why->len > 0)
        sqlbuf_add(why, "; ");
}

bool
sqlcheck_row(const struct sqlval *row, size_t n, struct sqlbuf *why)
{
    bool ok = true;

    for (size_t i = 0; i < n; i++) {
        if (sqlval_truthy(&row[i]))
            continue;
        ok = false;
        why_sep(why);
        sqlbuf_addf(why, "column %zu is ", i + 1);
        sqlval_pystr(why, &row[i]);
        if (row[i].kind == SQLV_TEXT)
            sqlbuf_add(why, " (empty string)");
    }
    return ok;
}

bool
sqlcheck_value(const struct sqlval *row, size_t n, const char *pass_value, bool has_tol, double tol,
               struct sqlbuf *why)
{
    double pass, v;
    bool ok = true;

    if (sqlcheck_parse_float(pass_value, &pass) < 0) { /* a string comparison */
        for (size_t i = 0; i < n; i++) {
            struct sqlbuf s = {0};
            sqlval_pystr(&s, &row[i]);
            if (strcmp(sqlbuf_str(&s), pass_value) != 0) {
                ok = false;
                why_sep(why);
                sqlbuf_addf(why, "column %zu is '%s', not the pass_value '%s'", i + 1,
                            sqlbuf_str(&s), pass_value);
            }
            sqlbuf_clear(&s);
        }
        return ok;
    }
    for (size_t i = 0; i < n; i++) {
        bool match;
        if (sqlval_float(&row[i], &v) < 0) {
            why_sep(why);
            sqlbuf_addf(why, "converting a result to float failed: column %zu is ", i + 1);
            sqlval_pystr(why, &row[i]);
            sqlbuf_addf(why, " (%s)", kind_name(row[i].kind));
            ok = false;
            continue;
        }
        match = has_tol ? pass * (1 - tol) <= v && v <= pass * (1 + tol) : v == pass;
        if (!match) {
            char a[64], p[64];
            sqlcheck_float_repr(v, a, sizeof(a));
            sqlcheck_float_repr(pass, p, sizeof(p));
            why_sep(why);
            sqlbuf_addf(why, "column %zu is %s, not %s", i + 1, a, p);
            if (has_tol)
                sqlbuf_addf(why, " within a tolerance of %g%%", tol * 100);
            ok = false;
        }
    }
    return ok;
}

/* ---- SQLColumnCheckOperator ------------------------------------------------------------- */

static const struct {
    const char *name, *before, *between, *after; /* the aggregate around the column */
} column_checks[] = {
    {"null_check", "SUM(CASE WHEN ", NULL, " IS NULL THEN 1 ELSE 0 END)"},
    {"distinct_check", "COUNT(DISTINCT(", NULL, "))"},
    {"unique_check", "COUNT(", ") - COUNT(DISTINCT(", "))"},
    {"min", "MIN(", NULL, ")"},
    {"max", "MAX(", NULL, ")"},
};
#define N_COLUMN_CHECKS (sizeof(column_checks) / sizeof(column_checks[0]))

/* The provider's check statement of column_checks[k] over the quoted column. */
static void
column_aggregate(struct sqlbuf *out, size_t k, const char *col)
{
    sqlbuf_add(out, column_checks[k].before);
    sqlbuf_add(out, col);
    if (column_checks[k].between) {
        sqlbuf_add(out, column_checks[k].between);
        sqlbuf_add(out, col);
    }
    sqlbuf_add(out, column_checks[k].after);
}

/* b1 < b2 (strictly when strict) for two set bounds, when both are numbers. */
static bool
bounds_ordered(const struct sqlbound *b1, const struct sqlbound *b2, bool strict)
{
    if (!b1->is_num || !b2->is_num)
        return strict ? strcmp(b1->str, b2->str) < 0 : strcmp(b1->str, b2->str) <= 0;
    return strict ? b1->num < b2->num : b1->num <= b2->num;
}

int
sqlcheck_column_validate(const struct sqlcolcheck *c, struct err *e)
{
    const char *col = c->column, *chk = c->check;
    size_t i;

    for (i = 0; i < N_COLUMN_CHECKS && strcmp(column_checks[i].name, chk) != 0; i++)
        ;
    if (i == N_COLUMN_CHECKS)
        return err_set(e, ERR_USAGE,
                       "column_mapping.%s: invalid column check '%s' (null_check, "
                       "distinct_check, unique_check, min, max)",
                       col, chk);
    if (!c->equal_to.set && !c->greater_than.set && !c->geq_to.set && !c->less_than.set &&
        !c->leq_to.set)
        return err_set(e, ERR_USAGE,
                       "column_mapping.%s.%s: provide one or more of less_than, leq_to, "
                       "greater_than, geq_to, or equal_to",
                       col, chk);
    const struct sqlbound *b[] = {&c->equal_to, &c->greater_than, &c->geq_to, &c->less_than,
                                  &c->leq_to};
    for (i = 0; i < 5; i++)
        if (b[i]->set && !b[i]->is_num && c->has_tol)
            return err_set(e, ERR_USAGE, "column_mapping.%s.%s: a string bound takes no tolerance",
                           col, chk);
    for (i = 1; i < 5; i++)
        for (size_t j = 1; j < 5; j++)
            if (b[i]->set && b[j]->set && b[i]->is_num != b[j]->is_num)
                return err_set(e, ERR_USAGE, "column_mapping.%s.%s: bounds mix numbers and strings",
                               col, chk);
    if (c->greater_than.set && c->geq_to.set)
        return err_set(e, ERR_USAGE,
                       "column_mapping.%s.%s: only supply one of greater_than or geq_to", col, chk);
    if (c->less_than.set && c->leq_to.set)
        return err_set(e, ERR_USAGE, "column_mapping.%s.%s: only supply one of less_than or leq_to",
                       col, chk);
    if (c->equal_to.set &&
        (c->greater_than.set || c->geq_to.set || c->less_than.set || c->leq_to.set))
        return err_set(e, ERR_USAGE,
                       "column_mapping.%s.%s: equal_to cannot be passed with a greater or less "
                       "than option (use geq_to or leq_to)",
                       col, chk);
    const struct sqlbound *lo = c->greater_than.set ? &c->greater_than : &c->geq_to;
    const struct sqlbound *hi = c->less_than.set ? &c->less_than : &c->leq_to;
    if (lo->set && hi->set && !bounds_ordered(lo, hi, !(c->geq_to.set && c->leq_to.set)))
        return err_set(e, ERR_USAGE,
                       "column_mapping.%s.%s: the lower bound (%s) must be below the upper "
                       "bound (%s)",
                       col, chk, c->greater_than.set ? "greater_than" : "geq_to",
                       c->less_than.set ? "less_than" : "leq_to");
    return sqlcheck_partition_validate(c->partition_clause, e) < 0
               ? err_prefix(e, "column_mapping.%s.%s", col, chk)
               : 0;
}

int
sqlcheck_partition_validate(const char *clause, struct err *e)
{
    if (clause != NULL && strchr(clause, ';') != NULL)
        return err_set(e, ERR_USAGE, "invalid partition_clause: semicolons (;) not allowed");
    return 0;
}

/* Compare result with bound (times factor for a number): <0, 0, >0, or NAN when Python
 * would raise (a str against a number) or a NaN is involved. */
static double
compare(const struct sqlval *r, bool accept_none, const struct sqlbound *b, double factor)
{
    double v;

    if (r->kind == SQLV_NULL && accept_none)
        return b->is_num ? 0 - b->num * factor : NAN;
    if (!b->is_num) {
        if (r->kind != SQLV_TEXT && r->kind != SQLV_OTHER)
            return NAN;
        return strcmp(r->text, b->str);
    }
    if (r->kind == SQLV_TEXT || r->kind == SQLV_OTHER || sqlval_float(r, &v) < 0)
        return NAN;
    return v - b->num * factor;
}

bool
sqlcheck_column_match(const struct sqlcolcheck *c, const struct sqlval *result, bool accept_none,
                      struct sqlbuf *why)
{
    double t = c->has_tol ? c->tol : 0, d;
    bool ok = true, comparable = true;

    if (c->geq_to.set || c->greater_than.set) {
        bool geq = c->geq_to.set;
        d = compare(result, accept_none, geq ? &c->geq_to : &c->greater_than, 1 - t);
        comparable = comparable && !isnan(d);
        ok = geq ? d >= 0 : d > 0;
    }
    if (c->leq_to.set || c->less_than.set) {
        bool leq = c->leq_to.set;
        d = compare(result, accept_none, leq ? &c->leq_to : &c->less_than, 1 + t);
        comparable = comparable && !isnan(d);
        ok = (leq ? d <= 0 : d < 0) && ok;
    }
    if (c->equal_to.set) {
        if (c->has_tol) {
            double lo = compare(result, accept_none, &c->equal_to, 1 - t);
            d = compare(result, accept_none, &c->equal_to, 1 + t);
            comparable = comparable && !isnan(lo) && !isnan(d);
            ok = lo >= 0 && d <= 0 && ok;
        } else {
            d = compare(result, accept_none, &c->equal_to, 1);
            comparable = comparable && !isnan(d);
            ok = d == 0 && ok;
        }
    }
    if (!comparable && result->kind != SQLV_FLOAT) {
        sqlbuf_addf(why, "result %s (%s) cannot be compared with the bound",
                    result->text ? result->text : "None", kind_name(result->kind));
        return false;
    }
    return ok;
}

/* " WHERE (global) AND (own)", " WHERE (one)", or nothing. */
static void
where_clause(struct sqlbuf *out, const char *global, const char *own)
{
    if (global && own)
        sqlbuf_addf(out, " WHERE (%s) AND (%s)", global, own);
    else if (global || own)
        sqlbuf_addf(out, " WHERE (%s)", global ? global : own);
}

int
sqlcheck_column_sql(const char *table, const struct sqlcolcheck *checks, size_t n,
                    const char *partition_clause, struct sqlbuf *out, struct err *e)
{
    char *t = sqltext_quote_ident(table, e), *col = NULL;

    if (t == NULL)
        return err_prefix(e, "table");
    sqlbuf_add(out, "SELECT ");
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < N_COLUMN_CHECKS && strcmp(column_checks[k].name, checks[i].check); k++)
            ;
        if (k == N_COLUMN_CHECKS || (col = sqltext_quote_ident(checks[i].column, e)) == NULL) {
            free(t);
            return k == N_COLUMN_CHECKS
                       ? err_set(e, ERR_USAGE, "invalid column check '%s'", checks[i].check)
                       : err_prefix(e, "column_mapping");
        }
        sqlbuf_add(out, i ? ", (SELECT " : "(SELECT ");
        column_aggregate(out, k, col);
        sqlbuf_addf(out, " FROM %s", t);
        where_clause(out, partition_clause, checks[i].partition_clause);
        sqlbuf_addf(out, ") AS check_%zu", i);
        free(col);
    }
    free(t);
    return out->failed ? err_set(e, ERR_FAIL, "out of memory") : 0;
}

int
sqlcheck_table_sql(const char *table, const struct sqltabcheck *checks, size_t n,
                   const char *partition_clause, struct sqlbuf *out, struct err *e)
{
    char *t = sqltext_quote_ident(table, e);

    if (t == NULL)
        return err_prefix(e, "table");
    sqlbuf_add(out, "SELECT ");
    for (size_t i = 0; i < n; i++) {
        sqlbuf_addf(out,
                    "%s(SELECT MIN(check_result) FROM (SELECT CASE WHEN %s THEN 1 ELSE 0 END "
                    "AS check_result FROM %s",
                    i ? ", " : "", checks[i].statement, t);
        where_clause(out, partition_clause, checks[i].partition_clause);
        sqlbuf_addf(out, ") AS sq) AS check_%zu", i);
    }
    free(t);
    return out->failed ? err_set(e, ERR_FAIL, "out of memory") : 0;
}

/* ---- BranchSQLOperator ------------------------------------------------------------------ */

int
sqlcheck_branch(const struct sqlval *v, bool *follow_true, struct sqlbuf *why)
{
    int b;

    switch (v->kind) {
    case SQLV_BOOL:
        *follow_true = v->text[0] == 't';
        return 0;
    case SQLV_INT:
        *follow_true = strtod(v->text, NULL) != 0;
        return 0;
    case SQLV_TEXT:
        if ((b = sqlcheck_parse_boolean(v->text)) >= 0) {
            *follow_true = b == 1;
            return 0;
        }
        break;
    default:
        break;
    }
    sqlbuf_add(why, "unexpected query return result '");
    sqlval_pystr(why, v);
    sqlbuf_addf(why,
                "' type '%s' (want a bool, an int or a string like true/false, y/n, "
                "yes/no, on/off, 1/0)",
                kind_name(v->kind));
    return -1;
}

/* dagfile_sqlcheck: the values of the SQL operators that Airflow validates when it builds the
 * operator, validated here when the DAG loads, each error at its value: column_mapping and
 * checks (the provider's own rules), partition_clause, the placeholders of a statement
 * against its parameters (psycopg2's rules), and a branch's follow ids (tasks directly
 * downstream of it). Pure checks of the YAML tree and the linked DAG: no file, no I/O. */
#include "dagfile_int.h"

#include <stdlib.h>
#include <string.h>
#include <math.h>

/* ---- placeholders against parameters (psycopg2's %-formatting) ---- */

/* What one statement asks of its parameters, as psycopg2 reads it once parameters are given:
 * "%%" is a literal '%', "%s" a positional value, "%(name)s" a named one, and any other '%'
 * is an error, wherever it is (quotes and comments do not matter to it). */
static int
scan_placeholders(const char *sql, size_t *positional, const char ***names, size_t *n_names,
                  size_t *bad_at)
{
    *positional = *n_names = 0;
    *names = NULL;
    for (size_t i = 0; sql[i]; i++) {
        if (sql[i] != '%')
            continue;
        if (sql[i + 1] == '%') {
            i++;
        } else if (sql[i + 1] == 's') {
            (*positional)++, i++;
        } else if (sql[i + 1] == '(' && strchr(sql + i, ')') && strchr(sql + i, ')')[1] == 's') {
            const char *end = strchr(sql + i, ')');
            const char **grown = realloc(*names, (*n_names + 1) * sizeof(*grown));
            char *name = strndup(sql + i + 2, (size_t)(end - (sql + i + 2)));
            if (grown == NULL || name == NULL) {
                free(name);
                free(grown ? grown : *names);
                *names = NULL;
                return -1;
            }
            *names = grown;
            (*names)[(*n_names)++] = name;
            i = (size_t)(end - sql) + 1;
        } else {
            *bad_at = i;
            return 1;
        }
    }
    return 0;
}

static void
names_free(const char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)names[i]);
    free(names);
}

/* One statement's placeholders against the parameters node p (a list or a mapping). */
int
dagfile_sql_placeholders(struct loadctx *c, const char *sid, const struct ynode *at,
                         const char *text, const char *field, const struct ynode *p)
{
    const char **names = NULL;
    size_t positional = 0, n_names = 0, bad_at = 0;
    int rc = scan_placeholders(text, &positional, &names, &n_names, &bad_at), bad = 0;

    if (rc < 0) {
        dagfile_error(c, at, "out of memory");
        return -1;
    }
    if (rc > 0) {
        dagfile_error(c, at,
                      "task '%s': %s has '%%%c' at byte %zu: with parameters, %%s and %%(name)s "
                      "are placeholders and a literal %% is written %%%%",
                      sid, field, text[bad_at + 1] ? text[bad_at + 1] : ' ', bad_at + 1);
        names_free(names, n_names); /* the names read before the bad '%' */
        return -1;
    }
    if (positional > 0 && n_names > 0) {
        dagfile_error(c, at, "task '%s': %s mixes %%s and %%(name)s placeholders", sid, field);
        bad = -1;
    } else if (p->kind == YN_SEQ && n_names > 0) {
        dagfile_error(c, at, "task '%s': %s uses %%(%s)s but parameters is a list (give a mapping)",
                      sid, field, names[0]);
        bad = -1;
    } else if (p->kind == YN_SEQ && positional != p->n) {
        dagfile_error(c, at,
                      "task '%s': %s has %zu %%s placeholder(s) but parameters has %zu "
                      "value(s)",
                      sid, field, positional, p->n);
        bad = -1;
    } else if (p->kind == YN_MAP && positional > 0) {
        dagfile_error(c, at, "task '%s': %s uses %%s but parameters is a mapping (use %%(name)s)",
                      sid, field);
        bad = -1;
    }
    for (size_t i = 0; bad == 0 && p->kind == YN_MAP && i < n_names; i++)
        if (ymap_get(p, names[i]) == NULL) {
            dagfile_error(c, at, "task '%s': %s uses %%(%s)s, which parameters does not have", sid,
                          field, names[i]);
            bad = -1;
        }
    names_free(names, n_names);
    return bad;
}

/* ---- column_mapping and checks (Airflow's validation, at load) ---- */

static const char *const column_checks[] = {
    "null_check", "distinct_check", "unique_check", "min", "max", NULL};
static const char *const bounds[] = {"equal_to",  "greater_than", "geq_to",
                                     "less_than", "leq_to",       NULL};

static bool
in(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

int
dagfile_sql_partition_ok(struct loadctx *c, const char *sid, const struct ynode *n,
                         const char *what)
{
    if (n->kind != YN_SCALAR || ynode_is_null(n)) {
        dagfile_error(c, n, "task '%s': %s must be a string, not %s", sid, what, ynode_what(n));
        return -1;
    }
    if (strchr(n->str, ';') != NULL) {
        dagfile_error(c, n, "task '%s': invalid %s: semicolons (;) are not allowed", sid, what);
        return -1;
    }
    return 0;
}

/* What Airflow's _column_mapping_validation refuses in one check's bounds (has/val indexed
 * as bounds[]), or NULL. */
static const char *
bounds_problem(const bool has[5], const double val[5])
{
    const char *msg = NULL;
    enum { EQ, GT, GE, LT, LE };
    if (!has[EQ] && !has[GT] && !has[GE] && !has[LT] && !has[LE])
        msg = "needs one or more of less_than, leq_to, greater_than, geq_to or equal_to";
    else if (has[GT] && has[LT] && val[GT] >= val[LT])
        msg = "greater_than must be strictly less than less_than (use geq_to or leq_to for "
              "overlapping equality)";
    else if (has[GT] && has[LE] && val[GT] >= val[LE])
        msg = "greater_than must be strictly less than leq_to (use geq_to with leq_to for "
              "overlapping equality)";
    else if (has[GE] && has[LT] && val[GE] >= val[LT])
        msg = "geq_to must be strictly less than less_than (use leq_to with geq_to for "
              "overlapping equality)";
    else if (has[GE] && has[LE] && val[GE] > val[LE])
        msg = "geq_to must be less than or equal to leq_to";
    else if (has[GT] && has[GE])
        msg = "give only one of greater_than or geq_to";
    else if (has[LT] && has[LE])
        msg = "give only one of less_than or leq_to";
    else if (has[EQ] && (has[GT] || has[GE] || has[LT] || has[LE]))
        msg = "equal_to cannot be given with a greater or less than bound (use geq_to or leq_to)";
    return msg;
}

/* One check of a column: {equal_to|greater_than|geq_to|less_than|leq_to: n, tolerance: n,
 * partition_clause: s}, with the combinations Airflow refuses refused. */
static int
column_check(struct loadctx *c, const char *sid, const char *col, const struct ynode *name,
             const struct ynode *v)
{
    double val[5];
    bool has[5] = {false};
    const char *chk = name->str;

    if (!in(column_checks, chk)) {
        dagfile_error(c, name,
                      "task '%s': column_mapping.%s: unknown check '%s' (null_check, "
                      "distinct_check, unique_check, min, max)",
                      sid, col, chk);
        return -1;
    }
    if (v->kind != YN_MAP) {
        dagfile_error(c, v, "task '%s': column_mapping.%s.%s must be a mapping, not %s", sid, col,
                      chk, ynode_what(v));
        return -1;
    }
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *k = ymap_key(v, i), *val_n = ymap_val(v, i);
        const char *key = k->kind == YN_SCALAR ? k->str : "?";
        double d;
        if (strcmp(key, "partition_clause") == 0) {
            if (dagfile_sql_partition_ok(c, sid, val_n, "partition_clause") < 0)
                return -1;
            continue;
        }
        if (!in(bounds, key) && strcmp(key, "tolerance") != 0) {
            dagfile_error(c, k,
                          "task '%s': column_mapping.%s.%s: unknown option '%s' (equal_to, "
                          "greater_than, geq_to, less_than, leq_to, tolerance, partition_clause)",
                          sid, col, chk, key);
            return -1;
        }
        if (val_n->kind != YN_SCALAR || val_n->quoted || ynode_double(val_n, &d) < 0 ||
            !isfinite(d)) {
            dagfile_error(c, val_n, "task '%s': column_mapping.%s.%s.%s must be a number, not %s",
                          sid, col, chk, key, ynode_what(val_n));
            return -1;
        }
        for (int b = 0; b < 5; b++)
            if (strcmp(bounds[b], key) == 0)
                has[b] = true, val[b] = d;
    }
    const char *msg = bounds_problem(has, val);
    if (msg == NULL)
        return 0;
    dagfile_error(c, v, "task '%s': column_mapping.%s.%s: %s", sid, col, chk, msg);
    return -1;
}

int
dagfile_sql_column_mapping(struct loadctx *c, const char *sid, const struct ynode *n)
{
    int bad = 0;

    if (n->kind != YN_MAP || n->n == 0) {
        dagfile_error(c, n,
                      "task '%s': column_mapping must be a mapping of column -> {check: "
                      "{bounds}}, not %s",
                      sid, n->kind == YN_MAP ? "an empty mapping" : ynode_what(n));
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *colk = ymap_key(n, i), *checks = ymap_val(n, i);
        const char *col = colk->kind == YN_SCALAR ? colk->str : "?";
        if (checks->kind != YN_MAP || checks->n == 0) {
            dagfile_error(c, checks,
                          "task '%s': column_mapping.%s must be a mapping of check -> bounds, "
                          "not %s",
                          sid, col,
                          checks->kind == YN_MAP ? "an empty mapping" : ynode_what(checks));
            bad = -1;
            continue;
        }
        for (size_t j = 0; j < checks->n; j++)
            bad |= column_check(c, sid, col, ymap_key(checks, j), ymap_val(checks, j));
    }
    return bad;
}

int
dagfile_sql_checks(struct loadctx *c, const char *sid, const struct ynode *n)
{
    int bad = 0;

    if (n->kind != YN_MAP || n->n == 0) {
        dagfile_error(c, n,
                      "task '%s': checks must be a mapping of name -> {check_statement: ..., "
                      "partition_clause: ...}, not %s",
                      sid, n->kind == YN_MAP ? "an empty mapping" : ynode_what(n));
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = ymap_key(n, i), *v = ymap_val(n, i), *st;
        const char *name = k->kind == YN_SCALAR ? k->str : "?";
        if (v->kind != YN_MAP) {
            dagfile_error(c, v, "task '%s': checks.%s must be a mapping, not %s", sid, name,
                          ynode_what(v));
            bad = -1;
            continue;
        }
        for (size_t j = 0; j < v->n; j++) {
            const struct ynode *ok = ymap_key(v, j);
            const char *key = ok->kind == YN_SCALAR ? ok->str : "?";
            if (strcmp(key, "partition_clause") == 0)
                bad |= dagfile_sql_partition_ok(c, sid, ymap_val(v, j), "partition_clause");
            else if (strcmp(key, "check_statement") != 0)
                dagfile_error(c, ok,
                              "task '%s': checks.%s: unknown key '%s' (check_statement, "
                              "partition_clause)",
                              sid, name, key),
                    bad = -1;
        }
        st = ymap_get(v, "check_statement");
        if (st == NULL || st->kind != YN_SCALAR || ynode_is_null(st) || st->str[0] == '\0') {
            dagfile_error(c, st ? st : v, "task '%s': checks.%s needs a check_statement string",
                          sid, name);
            bad = -1;
        }
    }
    return bad;
}

/* ---- branches ---- */

static int
check_follow(struct loadctx *c, const struct dag *dag, size_t b, const struct ynode *at,
             char *const *ids, size_t n, const char *key)
{
    const struct dag_task *t = &dag->tasks[b];
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        long k = dag_task_index(dag, ids[i]);
        bool direct = false;
        for (size_t d = 0; k >= 0 && d < t->n_downstream; d++)
            direct |= t->downstream_idx[d] == (size_t)k;
        if (k < 0)
            dagfile_error(c, at, "task '%s': %s names '%s', which is not a task of this DAG%s",
                          t->task_id, key, ids[i],
                          t->group_id ? " (ids inside task groups are 'group.task')" : "");
        else if (!direct)
            dagfile_error(c, at,
                          "task '%s': %s names '%s', which is not directly downstream of it "
                          "(a branch can only follow its own downstream tasks)",
                          t->task_id, key, ids[i]);
        bad |= k < 0 || !direct ? -1 : 0;
    }
    return bad;
}

int
dagfile_sql_check_branches(struct loadctx *c, const struct dag *dag, const struct ynode *const *at)
{
    int bad = 0;

    for (size_t i = 0; i < dag->n_tasks; i++) {
        const struct dag_task *t = &dag->tasks[i];
        const struct ynode *ft, *ff;
        if (t->op != OP_SQL_BRANCH || t->sql == NULL)
            continue;
        ft = ymap_get(at[i], "follow_task_ids_if_true");
        ff = ymap_get(at[i], "follow_task_ids_if_false");
        bad |= check_follow(c, dag, i, ft ? ft : at[i], t->sql->follow_true, t->sql->n_follow_true,
                            "follow_task_ids_if_true");
        bad |= check_follow(c, dag, i, ff ? ff : at[i], t->sql->follow_false,
                            t->sql->n_follow_false, "follow_task_ids_if_false");
    }
    return bad;
}

/* test_dagfile_keys: the loader's key table (dagfile_keys.c) against the loader itself.
 *
 * 1. Every entry, at every level it allows, is put in a small DAG file and loaded: a REFUSED
 *    key must give an error naming it, a WARNED key a warning naming it and no error, an
 *    IMPLEMENTED key no diagnostic about the key. Operator arguments are tried on an operator
 *    that takes them and on one that does not (refused there).
 * 2. The classes the rule fixes (callbacks and their Python file forms, e-mail, priorities,
 *    mapping, assets, docs, unknown keys) are checked by name, so a table edit that loosens
 *    them fails here.
 * 3. Every key the loader reads by name (its ymap_get / dagfile_cget / oget / arg / require
 *    calls in scheduler/dagfile/) is in the table.
 * 4. The key table of docs/dag-files.md (between the keys:begin and keys:end markers) is the
 *    one generated from the table; GUST_UPDATE_EXPECTED=1 rewrites it.
 * The root comes from $GUST_SRC (set by tests/run.sh), else ".". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile_int.h"

static const char *const op_paths[] = {
    [OP_BASH] = "airflow.operators.bash.BashOperator",
    [OP_KPO] = "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator",
    [OP_TRIGGER_DAGRUN] = "airflow.operators.trigger_dagrun.TriggerDagRunOperator",
    [OP_EMPTY] = "airflow.operators.empty.EmptyOperator",
    [OP_SQL_EXECUTE] = "airflow.providers.common.sql.operators.sql.SQLExecuteQueryOperator",
    [OP_SQL_CHECK] = "airflow.providers.common.sql.operators.sql.SQLCheckOperator",
    [OP_SQL_VALUE_CHECK] = "airflow.providers.common.sql.operators.sql.SQLValueCheckOperator",
    [OP_SQL_THRESHOLD_CHECK] =
        "airflow.providers.common.sql.operators.sql.SQLThresholdCheckOperator",
    [OP_SQL_COLUMN_CHECK] = "airflow.providers.common.sql.operators.sql.SQLColumnCheckOperator",
    [OP_SQL_TABLE_CHECK] = "airflow.providers.common.sql.operators.sql.SQLTableCheckOperator",
    [OP_SQL_BRANCH] = "airflow.providers.common.sql.operators.sql.BranchSQLOperator",
    [OP_SQL_SENSOR] = "airflow.providers.common.sql.sensors.sql.SqlSensor",
    [OP_SENSOR] = "airflow.providers.standard.sensors.filesystem.FileSensor",
};
#define N_OPS (sizeof(op_paths) / sizeof(op_paths[0]))

/* The YAML of a DAG with key at level lv (task level: on operator op). */
static char *
make_yaml(const char *key, enum key_level lv, enum op_kind op, const char *value)
{
    char *y = NULL;
    const char *task = "    t: {operator: airflow.operators.empty.EmptyOperator}\n";
    int n = -1;

    if (lv == KL_DAG)
        n = asprintf(&y, "d:\n  %s: %s\n  tasks:\n%s", key, value, task);
    else if (lv == KL_ARGS)
        n = asprintf(&y, "d:\n  default_args:\n    %s: %s\n  tasks:\n%s", key, value, task);
    else if (lv == KL_GROUP)
        n = asprintf(&y, "d:\n  task_groups:\n    g:\n      %s: %s\n  tasks:\n%s", key, value,
                     task);
    else
        n = asprintf(&y, "d:\n  tasks:\n    t:\n      operator: %s\n      %s: %s\n", op_paths[op],
                     key, value);
    assert_true(n > 0);
    return y;
}

/* Diagnostics of level that mention 'key' in the form the key checker writes. */
static int
count_about(const struct dagbag *bag, enum diag_level level, const char *key)
{
    char k1[200], k2[200];
    int n = 0;

    snprintf(k1, sizeof(k1), "key '%s'", key);
    snprintf(k2, sizeof(k2), "'%s' is not supported", key);
    for (size_t i = 0; i < bag->n_diags; i++)
        if (bag->diags[i].level == level && bag->diags[i].msg &&
            !strstr(bag->diags[i].msg, "is repeated") &&
            (strstr(bag->diags[i].msg, k1) || strstr(bag->diags[i].msg, k2)))
            n++;
    return n;
}

/* Load key at level lv and check that the loader gives it class want. */
static void
expect_class(const char *key, enum key_level lv, enum op_kind op, enum key_class want)
{
    const struct dagfile_key *e = dagfile_key_find(key, lv);
    /* a refused key with a harmless value must be tried with another value */
    char *y = make_yaml(key, lv, op, e && e->ok_value ? "\"not-harmless\"" : "null");
    struct dagbag *bag = dagbag_new();
    int errs, warns;

    dagbag_load_string(bag, "k.yaml", y, strlen(y));
    errs = count_about(bag, DIAG_ERROR, key);
    warns = count_about(bag, DIAG_WARNING, key);
    if ((want == KEY_REFUSED && errs == 0) || (want == KEY_WARNED && (warns == 0 || errs)) ||
        (want == KEY_IMPLEMENTED && (errs || warns))) {
        fprintf(stderr, "key '%s' (level %d, %s): want %s, got %d error(s), %d warning(s)\n%s", key,
                lv, op_kind_name(op), dagfile_key_class_name(want), errs, warns, y);
        fail();
    }
    free(y);
    dagbag_free(bag);
}

static void
every_entry(void **state)
{
    (void)state;
    for (size_t i = 0; i < dagfile_keys_count(); i++) {
        const struct dagfile_key *k = dagfile_key_at(i);
        assert_true(k->cls == KEY_IMPLEMENTED || (k->why != NULL && k->why[0] != '\0'));
        for (enum key_level lv = KL_DAG; lv <= KL_GROUP; lv <<= 1) {
            if (!(k->levels & lv) || dagfile_key_find(k->key, lv) != k)
                continue;
            if (lv != KL_TASK || k->ops == 0) {
                expect_class(k->key, lv, OP_EMPTY, k->cls);
                continue;
            }
            for (size_t op = 0; op < N_OPS; op++)
                expect_class(k->key, lv, (enum op_kind)op,
                             (k->ops & (1u << op)) ? k->cls : KEY_REFUSED);
        }
    }
}

static void
the_rule_by_name(void **state)
{
    static const char *const refused[] = {"on_failure_callback_name",
                                          "on_success_callback_name",
                                          "on_retry_callback_file",
                                          "on_skipped_callback_file",
                                          "sla",
                                          "executor",
                                          "python_callable"};
    /* notifiers and e-mail (see "Notifications"), pools and priorities */
    static const char *const implemented[] = {
        "on_failure_callback", "on_success_callback", "on_retry_callback",
        "on_execute_callback", "on_skipped_callback", "email",
        "email_on_failure",    "email_on_retry",      "pool_slots",
        "priority_weight",     "weight_rule"};
    static const char *const warned[] = {"doc_md", "ui_color", "executor_config",
                                         "task_display_name"};
    const char *why;

    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++)
        assert_int_equal(dagfile_key_class(refused[i], KL_TASK, OP_BASH, &why), KEY_REFUSED);
    for (size_t i = 0; i < sizeof(warned) / sizeof(*warned); i++)
        assert_int_equal(dagfile_key_class(warned[i], KL_TASK, OP_BASH, &why), KEY_WARNED);
    for (size_t i = 0; i < sizeof(implemented) / sizeof(*implemented); i++) {
        assert_int_equal(dagfile_key_class(implemented[i], KL_TASK, OP_KPO, &why), KEY_IMPLEMENTED);
        assert_int_equal(dagfile_key_class(implemented[i], KL_ARGS, -1, &why), KEY_IMPLEMENTED);
    }
    /* a DAG's runs: on_success_callback / on_failure_callback; Python file forms refused */
    assert_int_equal(dagfile_key_class("on_failure_callback", KL_DAG, -1, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("on_success_callback", KL_DAG, -1, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("on_failure_callback_name", KL_DAG, -1, &why), KEY_REFUSED);
    assert_int_equal(dagfile_key_class("sla_miss_callback", KL_DAG, -1, &why), KEY_REFUSED);
    assert_int_equal(dagfile_key_class("doc_md", KL_DAG, -1, &why), KEY_WARNED);
    assert_int_equal(dagfile_key_class("bash_command", KL_TASK, OP_BASH, &why), KEY_IMPLEMENTED);
    /* assets: on every operator, and in default_args */
    assert_int_equal(dagfile_key_class("outlets", KL_TASK, OP_KPO, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("inlets", KL_TASK, OP_SQL_EXECUTE, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("outlets", KL_ARGS, -1, &why), KEY_IMPLEMENTED);
    /* dynamic task mapping */
    assert_int_equal(dagfile_key_class("expand", KL_TASK, OP_BASH, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("partial", KL_TASK, OP_KPO, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("expand_kwargs", KL_TASK, OP_SQL_EXECUTE, &why),
                     KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("map_index_template", KL_ARGS, -1, &why), KEY_IMPLEMENTED);
    assert_int_equal(dagfile_key_class("bash_command", KL_TASK, OP_KPO, &why), KEY_REFUSED);
    assert_int_equal(dagfile_key_class("volumes", KL_TASK, OP_KPO, &why), KEY_REFUSED);
    /* unknown keys: dag-factory drops DAG keys; Airflow drops unused default_args; a task's
     * or a group's unknown key would be an argument Airflow passes on */
    assert_int_equal(dagfile_key_class("no_such_key", KL_DAG, -1, &why), KEY_WARNED);
    assert_int_equal(dagfile_key_class("no_such_key", KL_ARGS, -1, &why), KEY_WARNED);
    assert_int_equal(dagfile_key_class("no_such_key", KL_TASK, OP_BASH, &why), KEY_REFUSED);
    assert_int_equal(dagfile_key_class("no_such_key", KL_GROUP, -1, &why), KEY_REFUSED);
    expect_class("no_such_key", KL_TASK, OP_BASH, KEY_REFUSED);
    expect_class("no_such_key", KL_DAG, OP_EMPTY, KEY_WARNED);
}

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;

    if (f == NULL)
        return NULL;
    mem = open_memstream(&buf, &len);
    for (int ch; mem != NULL && (ch = fgetc(f)) != EOF;)
        fputc(ch, mem);
    if (mem != NULL)
        fclose(mem);
    fclose(f);
    return buf;
}

static const char *
root(void)
{
    return getenv("GUST_SRC") ? getenv("GUST_SRC") : ".";
}

/* Keys read inside values (timedelta mappings, env lists, table checks), not config keys. */
static bool
value_key(const char *k)
{
    static const char *const v[] = {"__type__",
                                    "check_statement",
                                    "default",
                                    "value",
                                    "variable",
                                    "attribute" /* variables_as_arguments items */,
                                    "callback" /* a callback mapping's notifier */,
                                    NULL};
    for (const char *const *p = v; *p; p++)
        if (strcmp(*p, k) == 0)
            return true;
    return false;
}

/* Every "key" literal passed to a by-name lookup of file must be in the table. */
static int
check_source(const char *file)
{
    static const char *const calls[] = {"ymap_get(", "dagfile_cget(", "dagfile_oget(", "oget(",
                                        "arg(",      "require(",      "read_dur2(",    NULL};
    char path[4096];
    int missing = 0;

    snprintf(path, sizeof(path), "%s/scheduler/dagfile/%s", root(), file);
    char *text = read_all(path);
    assert_non_null(text);
    for (const char *const *c = calls; *c; c++)
        for (const char *p = text; (p = strstr(p, *c)) != NULL; p++) {
            const char *end = strpbrk(p, ";{"), *q = strchr(p, '"');
            if (q == NULL || (end && q > end))
                continue;
            size_t n = strspn(q + 1, "abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            char key[128];
            if (q[1 + n] != '"' || n == 0 || n >= sizeof(key))
                continue;
            memcpy(key, q + 1, n);
            key[n] = '\0';
            if (!value_key(key) && dagfile_key_find(key, (enum key_level)0xf) == NULL) {
                fprintf(stderr, "%s reads key '%s', which the key table does not know\n", file,
                        key);
                missing++;
            }
        }
    free(text);
    return missing;
}

static void
loader_keys_in_table(void **state)
{
    static const char *const files[] = {"dagfile.c",     "dagfile_build.c",  "dagfile_graph.c",
                                        "dagfile_sql.c", "dagfile_notify.c", NULL};
    int missing = 0;

    (void)state;
    for (const char *const *f = files; *f; f++)
        missing += check_source(*f);
    assert_int_equal(missing, 0);
}

/* "DAG, default_args, task (BashOperator), task group" */
static void
where_text(const struct dagfile_key *k, FILE *out)
{
    const char *sep = "";

    if (k->levels & KL_DAG)
        fprintf(out, "%sDAG", sep), sep = ", ";
    if (k->levels & KL_ARGS)
        fprintf(out, "%sdefault_args", sep), sep = ", ";
    if (k->levels & KL_TASK) {
        fprintf(out, "%stask", sep), sep = ", ";
        if (k->ops != 0 && k->ops != ~0u) {
            const char *osep = " (";
            for (size_t op = 0; op < N_OPS; op++)
                if (k->ops & (1u << op))
                    fprintf(out, "%s%s", osep,
                            op == OP_SENSOR ? "the sensors of \"Sensors\""
                                            : op_kind_name((enum op_kind)op)),
                        osep = ", ";
            fputs(")", out);
        }
    }
    if (k->levels & KL_GROUP)
        fprintf(out, "%stask group", sep);
}

/* The markdown table of every key, as docs/dag-files.md holds it. */
static char *
docs_table(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_non_null(out);
    fputs("| key | where | class | notes |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < dagfile_keys_count(); i++) {
        const struct dagfile_key *k = dagfile_key_at(i);
        fprintf(out, "| `%s` | ", k->key);
        where_text(k, out);
        fprintf(out, " | %s | %s%s%s%s |\n", dagfile_key_class_name(k->cls), k->why ? k->why : "",
                k->ok_value ? " (`" : "", k->ok_value ? k->ok_value : "",
                k->ok_value ? "` is accepted)" : "");
    }
    fclose(out);
    return buf;
}

static void
docs_list_every_key(void **state)
{
    static const char begin[] =
        "<!-- keys:begin (generated by tests/unit/test_dagfile_keys.c) -->\n",
                      end[] = "<!-- keys:end -->";
    char path[4096];
    char *doc, *table = docs_table(), *b, *e;

    (void)state;
    snprintf(path, sizeof(path), "%s/docs/dag-files.md", root());
    doc = read_all(path);
    assert_non_null(doc);
    b = strstr(doc, begin);
    e = b ? strstr(b, end) : NULL;
    if (b == NULL || e == NULL) {
        fprintf(stderr, "docs/dag-files.md has no key table between the keys markers\n");
        fail();
    }
    b += strlen(begin);
    if (getenv("GUST_UPDATE_EXPECTED") != NULL) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%.*s%s%s", (int)(b - doc), doc, table, e);
        fclose(f);
    } else if ((size_t)(e - b) != strlen(table) || strncmp(b, table, strlen(table)) != 0) {
        fprintf(stderr, "docs/dag-files.md: the key table differs from the loader's table; "
                        "run with GUST_UPDATE_EXPECTED=1 to regenerate it\n");
        fail();
    }
    free(doc);
    free(table);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_entry),
        cmocka_unit_test(the_rule_by_name),
        cmocka_unit_test(loader_keys_in_table),
        cmocka_unit_test(docs_list_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

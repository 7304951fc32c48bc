/* dagfile_dump: printing what the loader produced: operator names, diagnostic lines and the
 * canonical dump that the data-driven cases in tests/dags compare against.
 *
 * Invariant: the dump is a pure function of the bag (no addresses, no current time, sorted
 * where the bag is unordered), so an expected file can be compared byte for byte. */
#include "dagfile_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *
notify_event_key(enum notify_event ev)
{
    static const char *const keys[NOTIFY_EVENTS] = {"on_execute_callback", "on_success_callback",
                                                    "on_failure_callback", "on_retry_callback",
                                                    "on_skipped_callback"};

    return ev < NOTIFY_EVENTS ? keys[ev] : "?";
}

const char *
op_kind_name(enum op_kind op)
{
    switch (op) {
    case OP_BASH:
        return "BashOperator";
    case OP_KPO:
        return "KubernetesPodOperator";
    case OP_TRIGGER_DAGRUN:
        return "TriggerDagRunOperator";
    case OP_EMPTY:
        return "EmptyOperator";
    case OP_SQL_EXECUTE:
        return "SQLExecuteQueryOperator";
    case OP_SQL_CHECK:
        return "SQLCheckOperator";
    case OP_SQL_VALUE_CHECK:
        return "SQLValueCheckOperator";
    case OP_SQL_THRESHOLD_CHECK:
        return "SQLThresholdCheckOperator";
    case OP_SQL_COLUMN_CHECK:
        return "SQLColumnCheckOperator";
    case OP_SQL_TABLE_CHECK:
        return "SQLTableCheckOperator";
    case OP_SQL_BRANCH:
        return "BranchSQLOperator";
    case OP_SQL_SENSOR:
        return "SqlSensor";
    case OP_SENSOR:
        return "BaseSensorOperator"; /* the sensor's own name: sensor_kind_name */
    }
    return "?";
}

void
dag_diag_format(const struct dag_diag *d, char *buf, size_t size)
{
    const char *level = d->level == DIAG_ERROR ? "error" : "warning";

    if (d->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s: %s", d->file, d->line, d->col, level, d->msg);
    else
        snprintf(buf, size, "%s: %s: %s", d->file, level, d->msg);
}

/* A string as a JSON-style quoted literal, or null. */
static void
put_str(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\t')
            fputs("\\t", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void
put_list(FILE *out, const char *label, char *const *list, size_t n)
{
    fprintf(out, "%s: [", label);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", out);
        put_str(out, list[i]);
    }
    fputs("]\n", out);
}

static void
put_seconds(FILE *out, const char *label, double s)
{
    if (s < 0)
        fprintf(out, "%s: null\n", label);
    else if (s == floor(s))
        fprintf(out, "%s: %.0f\n", label, s);
    else
        fprintf(out, "%s: %.6f\n", label, s);
}

static void
put_time(FILE *out, const char *label, bool has, time_t t)
{
    struct tm tm;
    char buf[40];

    if (!has || gmtime_r(&t, &tm) == NULL) {
        fprintf(out, "%s: null\n", label);
        return;
    }
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(out, "%s: %s\n", label, buf);
}

static void
put_schedule(FILE *out, const struct schedule *s)
{
    static const char *const kinds[] = {"none", "once", "cron", "delta", "continuous", "events"};

    if (s->kind == SCHED_DELTA)
        fprintf(out, "  schedule: delta %ld\n", s->delta_seconds);
    else
        fprintf(out, "  schedule: %s \"%s\"\n", kinds[s->kind], s->text);
}

static void
put_tri(FILE *out, const char *label, int v)
{
    fprintf(out, "    %s: %s\n", label, v < 0 ? "null" : v ? "true" : "false");
}

static void
put_field(FILE *out, const char *label, const char *s)
{
    fprintf(out, "    %s: ", label), put_str(out, s), fputc('\n', out);
}

/* A SQL operator's arguments; only those its operator takes. */
static void
put_sql_args(FILE *out, enum op_kind op, const struct dag_sql *q)
{
    put_field(out, "conn_id", q->conn_id);
    put_field(out, "database", q->database);
    if (q->n_sql > 0) {
        fprintf(out, "    sql (%s):\n", q->sql_is_list ? "list" : "string");
        for (size_t i = 0; i < q->n_sql; i++) {
            fputs("      - ", out), put_str(out, q->sql[i]);
            if (q->sql_file[i])
                fputs(" file ", out), put_str(out, q->sql_file[i]);
            fputc('\n', out);
        }
    }
    if (op != OP_SQL_THRESHOLD_CHECK && op != OP_SQL_COLUMN_CHECK && op != OP_SQL_TABLE_CHECK)
        fprintf(out, "    parameters: %s%s\n", q->parameters_json ? q->parameters_json : "null",
                q->parameters_templated ? " (templated)" : "");
    if (op == OP_SQL_EXECUTE) {
        put_tri(out, "autocommit", q->autocommit);
        put_tri(out, "split_statements", q->split_statements);
        put_tri(out, "return_last", q->return_last);
        put_tri(out, "show_return_value_in_logs", q->show_return_value_in_logs);
    } else if (op == OP_SQL_VALUE_CHECK) {
        put_field(out, "pass_value", q->pass_value);
        if (isnan(q->tolerance))
            fputs("    tolerance: null\n", out);
        else
            fprintf(out, "    tolerance: %g\n", q->tolerance);
    } else if (op == OP_SQL_THRESHOLD_CHECK) {
        put_field(out, "min_threshold", q->min_threshold);
        put_field(out, "max_threshold", q->max_threshold);
    } else if (op == OP_SQL_COLUMN_CHECK || op == OP_SQL_TABLE_CHECK) {
        put_field(out, "table", q->table);
        put_field(out, "partition_clause", q->partition_clause);
        fprintf(out, "    %s: %s\n", op == OP_SQL_COLUMN_CHECK ? "column_mapping" : "checks",
                op == OP_SQL_COLUMN_CHECK ? q->column_mapping_json : q->checks_json);
    } else if (op == OP_SQL_BRANCH) {
        put_list(out, "    follow_task_ids_if_true", q->follow_true, q->n_follow_true);
        put_list(out, "    follow_task_ids_if_false", q->follow_false, q->n_follow_false);
    } else if (op == OP_SQL_SENSOR) {
        put_tri(out, "fail_on_empty", q->fail_on_empty);
    }
}

static void
put_operator_args(FILE *out, const struct dag_task *t)
{
    if (OP_IS_SQL(t->op) && t->sql != NULL)
        put_sql_args(out, t->op, t->sql);
    dagfile_sensor_dump(out, t);
    if (t->op == OP_BASH) {
        fputs("    bash_command: ", out), put_str(out, t->bash_command), fputc('\n', out);
        fputs("    cwd: ", out), put_str(out, t->cwd), fputc('\n', out);
    } else if (t->op == OP_KPO) {
        put_list(out, "    cmds", t->cmds, t->n_cmds);
        put_list(out, "    arguments", t->arguments, t->n_arguments);
        fputs("    image: ", out), put_str(out, t->image), fputc('\n', out);
        fputs("    name: ", out), put_str(out, t->name), fputc('\n', out);
        fputs("    namespace: ", out), put_str(out, t->namespace), fputc('\n', out);
    } else if (t->op == OP_TRIGGER_DAGRUN) {
        fputs("    trigger_dag_id: ", out), put_str(out, t->trigger_dag_id), fputc('\n', out);
        fputs("    conf: ", out), fputs(t->conf_json ? t->conf_json : "null", out);
        fprintf(out, "\n    wait_for_completion: %s\n", t->wait_for_completion ? "true" : "false");
    }
    if (t->op == OP_BASH || t->op == OP_KPO) {
        fputs("    env: {", out);
        for (size_t i = 0; i < t->n_env; i++) {
            fputs(i ? ", " : "", out);
            put_str(out, t->env[i].key);
            fputs(": ", out);
            put_str(out, t->env[i].value);
        }
        fputs("}\n    skip_on_exit_code: [", out);
        for (size_t i = 0; i < t->n_skip_on_exit_code; i++)
            fprintf(out, "%s%d", i ? ", " : "", t->skip_on_exit_code[i]);
        fputs("]\n", out);
        if (t->append_env)
            fputs("    append_env: true\n", out);
        if (t->n_bash_command_vars > 0)
            put_list(out, "    bash_command from variables", t->bash_command_vars,
                     t->n_bash_command_vars);
    }
}

/* Dynamic task mapping: only mapped tasks print it. */
static void
put_map(FILE *out, const struct dag_map *m)
{
    fprintf(out, "    %s:\n", m->kwargs ? "expand_kwargs" : "expand");
    for (size_t i = 0; i < m->n_args; i++) {
        fputs("      - ", out);
        if (!m->kwargs)
            put_str(out, m->args[i].name), fputs(": ", out);
        if (m->args[i].xcom_task != NULL)
            fputs("xcom ", out), put_str(out, m->args[i].xcom_task);
        else {
            char *text = m->args[i].items ? json_dumps(m->args[i].items, JSON_COMPACT) : NULL;
            fprintf(out, "literal %s", text ? text : "null");
            free(text);
        }
        fputc('\n', out);
    }
    put_field(out, "map_index_template", m->index_template);
}

/* One asset: its uri, then name, group and extra when not Airflow's defaults. */
static void
put_asset(FILE *out, const char *label, const struct dag_asset *a)
{
    fprintf(out, "%s ", label), put_str(out, a->uri);
    if (a->name && strcmp(a->name, a->uri) != 0)
        fputs(" name ", out), put_str(out, a->name);
    if (a->group && strcmp(a->group, "asset") != 0)
        fputs(" group ", out), put_str(out, a->group);
    if (a->extra_json)
        fprintf(out, " extra %s", a->extra_json);
    fputc('\n', out);
}

static void
put_assets(FILE *out, const char *label, const struct dag_asset *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_asset(out, label, &a[i]);
}

/* The asset schedule as text, then each of its assets that has more than a uri. */
static void
put_asset_schedule(FILE *out, const struct dag *d)
{
    const struct dag_asset **all = NULL;
    char *text = asset_cond_text(d->asset_schedule);
    size_t n = 0;

    fprintf(out, "  asset_schedule%s: %s\n", d->asset_or_time ? " (or time)" : "",
            text ? text : "?");
    free(text);
    if (dag_assets(d, &all, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i]->name, all[i]->uri) || strcmp(all[i]->group, "asset") ||
            all[i]->extra_json)
            put_asset(out, "    asset", all[i]);
    free(all);
}

/* The callbacks of each event that has some (indent: the lines' indentation). */
static void
put_notifiers(FILE *out, const char *indent, const struct dag_notifiers *on)
{
    for (size_t ev = 0; ev < NOTIFY_EVENTS; ev++) {
        if (on[ev].n > 0)
            fprintf(out, "%s%s:\n", indent, notify_event_key((enum notify_event)ev));
        for (size_t i = 0; i < on[ev].n; i++) {
            const struct dag_notifier *n = &on[ev].v[i];
            fprintf(out, "%s  - %s ", indent, dagfile_notifier_kind_name(n->kind));
            put_str(out, n->callback);
            fputs(" conn ", out), put_str(out, n->conn_id);
            fprintf(out, " at %d:%d%s\n%s    args %s\n", n->line, n->col,
                    n->email_default ? " (email)" : "", indent, n->args_json);
        }
    }
}

static void
put_task(FILE *out, const struct dag_task *t)
{
    static const char *const rules[] = {"downstream", "upstream", "absolute"};

    fputs("  task ", out), put_str(out, t->task_id);
    fprintf(out, " at %d:%d\n    group: ", t->line, t->col), put_str(out, t->group_id);
    fprintf(out, "\n    operator: %s ", op_kind_name(t->op)), put_str(out, t->operator_path);
    fputc('\n', out);
    put_operator_args(out, t);
    fprintf(out, "    do_xcom_push: %s\n", t->do_xcom_push ? "true" : "false");
    fputs("    owner: ", out), put_str(out, t->owner);
    fprintf(out, "\n    retries: %d\n", t->retries);
    if (t->max_active_tis_per_dag > 0)
        fprintf(out, "    max_active_tis_per_dag: %d\n", t->max_active_tis_per_dag);
    if (t->max_active_tis_per_dagrun > 0)
        fprintf(out, "    max_active_tis_per_dagrun: %d\n", t->max_active_tis_per_dagrun);
    put_seconds(out, "    retry_delay", t->retry_delay);
    fprintf(out, "    retry_exponential_backoff: %s\n",
            t->retry_exponential_backoff ? "true" : "false");
    put_seconds(out, "    max_retry_delay", t->max_retry_delay);
    put_seconds(out, "    execution_timeout", t->execution_timeout);
    fputs("    trigger_rule: ", out), put_str(out, trigger_rule_name(t->trigger_rule));
    fprintf(out, "\n    depends_on_past: %s\n", t->depends_on_past ? "true" : "false");
    fputs("    pool: ", out), put_str(out, t->pool);
    fprintf(out, "\n    pool_slots: %d\n    queue: ", t->pool_slots), put_str(out, t->queue);
    fprintf(out, "\n    priority: %lld (priority_weight %d, weight_rule %s)\n", t->priority,
            t->priority_weight, rules[t->weight_rule]);
    put_list(out, "    upstream", t->upstream, t->n_upstream);
    put_assets(out, "    outlet", t->outlets, t->n_outlets);
    put_assets(out, "    inlet", t->inlets, t->n_inlets);
    if (t->map != NULL)
        put_map(out, t->map);
    put_notifiers(out, "    ", t->on);
}

static void
put_dag(FILE *out, const struct dag *d)
{
    fputs("dag ", out), put_str(out, d->dag_id);
    fprintf(out, " at %s:%d:%d\n  description: ", d->fileloc, d->line, d->col);
    put_str(out, d->description), fputc('\n', out);
    put_schedule(out, &d->schedule);
    if (d->asset_schedule != NULL)
        put_asset_schedule(out, d);
    fputs("  timezone: ", out), put_str(out, d->timezone), fputc('\n', out);
    put_time(out, "  start_date", d->has_start_date, d->start_date);
    put_time(out, "  end_date", d->has_end_date, d->end_date);
    fprintf(out, "  catchup: %s\n  max_active_runs: %d\n  max_active_tasks: %d\n",
            d->catchup ? "true" : "false", d->max_active_runs, d->max_active_tasks);
    put_seconds(out, "  dagrun_timeout", d->dagrun_timeout);
    fprintf(out, "  is_paused_upon_creation: %s\n  params: %s\n",
            d->is_paused_upon_creation ? "true" : "false",
            d->params_json ? d->params_json : "null");
    if (d->param_schema_json != NULL)
        fprintf(out, "  param_schema: %s\n", d->param_schema_json);
    put_list(out, "  tags", d->tags, d->n_tags);
    if (d->n_template_searchpath > 0)
        put_list(out, "  template_searchpath", d->template_searchpath, d->n_template_searchpath);
    fputs("  owner: ", out), put_str(out, d->owner);
    fputc('\n', out);
    put_notifiers(out, "  ", d->on);
    fprintf(out, "  tasks: %zu\n", d->n_tasks);
    for (size_t i = 0; i < d->n_tasks; i++)
        put_task(out, &d->tasks[i]);
}

void
dagbag_write_canonical(const struct dagbag *bag, FILE *out)
{
    char line[2048];

    for (size_t i = 0; i < bag->n_dags; i++)
        put_dag(out, bag->dags[i]);
    fprintf(out, "diagnostics: %zu\n", bag->n_diags);
    for (size_t i = 0; i < bag->n_diags; i++) {
        dag_diag_format(&bag->diags[i], line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
}

#!/usr/bin/env bash
# The DAG files must load unchanged in Airflow 2.9+/3.x through dag-factory 1.x, every task
# being an operator Airflow has. This checks dags/*.yaml and docker/airflow/dags/*.yaml
# (or the folders in $DAGFACTORY_COMPAT_DIRS, space separated) against the rules of
# dag-factory 1.x and of Airflow's constructors, as documented:
#   - dag-factory's schema of DAG parameters (dagfactory/schemas/dag_parameters.json) and its
#     1.0 migration guide: `schedule`, never `schedule_interval`; no `*_sec`/`*_secs` keys;
#     no integer `execution_timeout` (1.0 stopped converting it); list tasks carry task_id,
#     list task groups carry group_name; start_date on the DAG or in default_args.
#   - Airflow's BaseOperator and DAG: execution_timeout and dagrun_timeout must be timedelta
#     objects (`__type__: datetime.timedelta` in YAML); retry_delay and max_retry_delay may
#     be seconds.
#   - operators as full class paths that import in Airflow 2.9+ (and, deprecated but working,
#     in 3.x) or from the providers (standard, cncf.kubernetes >= 10).
#   - nothing Python-only: no !!python tags, callables, decorators or callbacks.
# Then gust itself must load the same files with no error and no warning.
set -u
source "$GUST_SRC/tests/lib/common.sh"
plan 19
cd "$GUST_SRC" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

PY=/usr/bin/python3
dirs=${DAGFACTORY_COMPAT_DIRS:-dags docker/airflow/dags}

cat >"$tmp/check.py" <<'PYEOF'
"""Print one line per problem, `file: dag.task: message`; exit 0 when there are none."""
import datetime
import glob
import os
import sys

import yaml

OPERATORS = {
    # Airflow 2 paths (still importable in Airflow 3, with a deprecation warning) and the
    # standard provider's (Airflow 3, and Airflow 2.9+ with apache-airflow-providers-standard).
    "airflow.operators.bash.BashOperator": "bash",
    "airflow.providers.standard.operators.bash.BashOperator": "bash",
    "airflow.operators.empty.EmptyOperator": "empty",
    "airflow.providers.standard.operators.empty.EmptyOperator": "empty",
    "airflow.operators.trigger_dagrun.TriggerDagRunOperator": "trigger",
    "airflow.providers.standard.operators.trigger_dagrun.TriggerDagRunOperator": "trigger",
    # cncf.kubernetes provider; operators.kubernetes_pod was removed in provider 10.
    "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator": "kpo",
    # common.sql provider (PostgresOperator is left out: postgres provider 6 removed it).
    "airflow.providers.common.sql.operators.sql.SQLExecuteQueryOperator": "sql_execute",
    "airflow.providers.common.sql.operators.sql.SQLCheckOperator": "sql_check",
    "airflow.providers.common.sql.operators.sql.SQLValueCheckOperator": "sql_value_check",
    "airflow.providers.common.sql.operators.sql.SQLThresholdCheckOperator": "sql_threshold_check",
    "airflow.providers.common.sql.operators.sql.SQLColumnCheckOperator": "sql_column_check",
    "airflow.providers.common.sql.operators.sql.SQLTableCheckOperator": "sql_table_check",
    "airflow.providers.common.sql.operators.sql.BranchSQLOperator": "sql_branch",
    "airflow.providers.common.sql.sensors.sql.SqlSensor": "sql_sensor",
}
# Arguments of the common.sql constructors (BaseSQLOperator's conn_id, database, hook_params,
# retry_on_failure on each), without the callables (handler, output_processor, success,
# failure, selector); and those without a default.
SQL_BASE = {"conn_id", "database", "hook_params", "retry_on_failure"}
SQL_KEYS = {
    "sql_execute": {"sql", "autocommit", "parameters", "split_statements", "return_last",
                    "show_return_value_in_logs", "requires_result_fetch"},
    "sql_check": {"sql", "parameters"},
    "sql_value_check": {"sql", "parameters", "pass_value", "tolerance"},
    "sql_threshold_check": {"sql", "min_threshold", "max_threshold"},
    "sql_column_check": {"table", "column_mapping", "partition_clause", "accept_none"},
    "sql_table_check": {"table", "checks", "partition_clause"},
    "sql_branch": {"sql", "parameters", "follow_task_ids_if_true", "follow_task_ids_if_false"},
    "sql_sensor": {"sql", "parameters", "fail_on_empty", "poke_interval", "timeout",
                   "soft_fail", "mode", "exponential_backoff", "max_wait", "silent_fail",
                   "never_fail"},
}
SQL_REQUIRED = {
    "sql_execute": {"sql"}, "sql_check": {"sql"}, "sql_value_check": {"sql", "pass_value"},
    "sql_threshold_check": {"sql", "min_threshold", "max_threshold"},
    "sql_column_check": {"table", "column_mapping"}, "sql_table_check": {"table", "checks"},
    "sql_branch": {"sql", "follow_task_ids_if_true", "follow_task_ids_if_false"},
    "sql_sensor": {"conn_id", "sql"},
}

# DAG-level keys of dag-factory's schema, without those deprecated or gone in Airflow 3
# (schedule_interval, timetable, concurrency, default_view, orientation, sla_miss_callback)
# and those dag-factory does not pass through yet (x-dagfactory-supported: false).
DAG_KEYS = {
    "dag_id", "dag_display_name", "description", "schedule", "start_date", "end_date",
    "timezone", "catchup", "max_active_tasks", "max_active_runs", "dagrun_timeout",
    "template_searchpath", "render_template_as_native_obj", "doc_md", "access_control",
    "is_paused_upon_creation", "params", "tags", "default_args", "tasks", "task_groups",
}
# default_args keys of the schema (also valid on a task), without the removed sla and the
# callbacks (Python-only).
ARG_KEYS = {
    "owner", "start_date", "end_date", "email", "email_on_failure", "email_on_retry",
    "retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay",
    "depends_on_past", "wait_for_downstream", "queue", "pool", "pool_slots",
    "priority_weight", "weight_rule", "execution_timeout", "trigger_rule",
}
SYSTEM_TASK_KEYS = {"operator", "task_id", "dependencies", "task_group_name"}
# inlets/outlets: BaseOperator's assets (datasets), which dag-factory builds from URI strings and
# passes on (its dev/dags/datasets examples)
COMMON_OP_KEYS = {"do_xcom_push", "doc_md", "executor_config", "multiple_outputs", "inlets",
                  "outlets"}
OP_KEYS = {
    "bash": {"bash_command", "env", "append_env", "output_encoding", "skip_on_exit_code",
             "cwd", "output_processor"},
    "empty": set(),
    "trigger": {"trigger_dag_id", "trigger_run_id", "conf", "logical_date", "reset_dag_run",
                "wait_for_completion", "poke_interval", "allowed_states", "failed_states",
                "skip_when_already_exists", "deferrable"},
    "kpo": {"image", "name", "namespace", "cmds", "arguments", "env_vars", "env_from",
            "labels", "annotations", "ports", "volumes", "volume_mounts", "secrets",
            "image_pull_policy", "image_pull_secrets", "service_account_name",
            "container_resources", "security_context", "container_security_context",
            "node_selector", "tolerations", "affinity", "in_cluster", "cluster_context",
            "config_file", "kubernetes_conn_id", "get_logs", "log_events_on_failure",
            "startup_timeout_seconds", "on_finish_action", "skip_on_exit_code",
            "random_name_suffix", "reattach_on_restart", "deferrable", "priority_class_name",
            "termination_grace_period", "hostnetwork", "dnspolicy", "schedulername",
            "init_containers", "pod_template_file", "full_pod_spec", "container_logs"},
    **{kind: keys | SQL_BASE for kind, keys in SQL_KEYS.items()},
}
# Durations Airflow only takes as timedelta objects, and those it also takes as seconds.
TIMEDELTA_ONLY = {"execution_timeout", "dagrun_timeout"}
SECONDS_OK = {"retry_delay", "max_retry_delay"}
PYTHON_ONLY = ("python_callable", "decorator", "callback", "_callable_")
GONE = {
    "schedule_interval": "use `schedule` (dag-factory 1.0 removed schedule_interval)",
    "timetable": "use `schedule` (Airflow 3 takes a timetable there)",
    "concurrency": "use `max_active_tasks`",
    "dagrun_timeout_sec": "use dagrun_timeout with __type__: datetime.timedelta",
    "retry_delay_sec": "use retry_delay (seconds or a datetime.timedelta)",
    "execution_timeout_secs": "use execution_timeout with __type__: datetime.timedelta",
    "sla_secs": "SLAs are gone in Airflow 3",
    "sla": "SLAs are gone in Airflow 3",
}

problems = []


def report(path, where, msg):
    problems.append(f"{path}: {where}: {msg}")


def is_timedelta(v):
    return isinstance(v, dict) and v.get("__type__") in ("datetime.timedelta", "timedelta")


def check_value_types(path, where, key, v):
    if key in TIMEDELTA_ONLY and not is_timedelta(v):
        report(path, where, f"{key} must be a mapping with __type__: datetime.timedelta "
               f"(Airflow refuses {type(v).__name__}; dag-factory 1.x converts nothing)")
    if key in SECONDS_OK and not (is_timedelta(v) or (isinstance(v, (int, float))
                                                      and not isinstance(v, bool))):
        report(path, where, f"{key} must be seconds or a datetime.timedelta mapping")


def check_keys(path, where, mapping, allowed):
    for k, v in mapping.items():
        if not isinstance(k, str):
            report(path, where, f"key {k!r} is not a string")
        elif k in GONE:
            report(path, where, f"`{k}` is not accepted: {GONE[k]}")
        elif any(p in k for p in PYTHON_ONLY):
            report(path, where, f"`{k}` is Python-only")
        elif k not in allowed:
            report(path, where, f"`{k}` is not a key dag-factory 1.x passes on here")
        else:
            check_value_types(path, where, k, v)


def merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def task_items(path, dag_id, tasks):
    if isinstance(tasks, dict):
        return list(tasks.items())
    if isinstance(tasks, list):
        items = []
        for t in tasks:
            if not isinstance(t, dict) or "task_id" not in t:
                report(path, dag_id, "each task of a list needs a task_id")
                continue
            items.append((t["task_id"], t))
        return items
    report(path, dag_id, "tasks must be a list or a mapping")
    return []


def mapped_task(path, where, t, ids):
    """dag-factory 1.x's make_task: `partial` is merged into the task's keys, `expand` becomes
    operator.partial(...).expand(...); an expand value is a list or `<task>.output` /
    `XComArg(<task>)` of a task of the DAG. The task as the checks see it."""
    partial, expand = t.get("partial") or {}, t.get("expand")
    if "partial" not in t and expand is None:
        return t
    out = {k: v for k, v in t.items() if k not in ("partial", "expand")}
    if not isinstance(partial, dict) or not isinstance(expand, dict) or not expand:
        report(path, where, "partial must be a mapping and expand a non-empty mapping")
        return out
    for k, v in expand.items():
        ref = v[:-len(".output")] if isinstance(v, str) and v.endswith(".output") else \
            v[len("XComArg("):-1] if isinstance(v, str) and v.startswith("XComArg(") else None
        if not isinstance(v, list) and ref not in ids:
            report(path, where, f"expand {k}: a list, or <task>.output of a task of the DAG")
        if k in partial or k in out:
            report(path, where, f"`{k}` is both expanded and a partial or task key")
        out[k] = v
    out.update(partial)
    return out


def check_task(path, dag_id, tid, t, ids, groups):
    where = f"{dag_id}.{tid}"
    if not isinstance(t, dict):
        return report(path, where, "a task must be a mapping")
    op = t.get("operator")
    kind = OPERATORS.get(op) if isinstance(op, str) else None
    if kind is None:
        return report(path, where, f"operator {op!r} is not a full class path of a supported "
                      f"Airflow 2.9+/3 operator ({', '.join(sorted(OPERATORS))})")
    t = mapped_task(path, where, t, ids)
    check_keys(path, where, t, SYSTEM_TASK_KEYS | ARG_KEYS | COMMON_OP_KEYS | OP_KEYS[kind])
    for dep in t.get("dependencies") or []:
        if dep not in ids and dep not in groups:
            report(path, where, f"dependency {dep!r} is not a task or group of the DAG")
    g = t.get("task_group_name")
    if g is not None and g not in groups:
        report(path, where, f"task_group_name {g!r} is not a group of the DAG")
    for key in sorted(SQL_REQUIRED.get(kind, ())):
        if key not in t:
            report(path, where, f"{op.rsplit('.', 1)[1]} needs {key}")
    if kind == "kpo":
        if "image" not in t:
            report(path, where, "a KubernetesPodOperator task needs an image")
        if "env_vars" in t and not isinstance(t["env_vars"], dict):
            report(path, where, "env_vars must be a mapping (a list needs V1EnvVar objects)")


def check_groups(path, dag_id, groups):
    if groups is None:
        return set()
    if isinstance(groups, dict):
        return set(groups)
    if isinstance(groups, list):
        names = set()
        for g in groups:
            if not isinstance(g, dict) or "group_name" not in g:
                report(path, dag_id, "each task group of a list needs a group_name")
            else:
                names.add(g["group_name"])
        return names
    report(path, dag_id, "task_groups must be a list or a mapping")
    return set()


def check_dag(path, dag_id, dag, default):
    if not isinstance(dag, dict):
        return report(path, dag_id, "a DAG must be a mapping")
    check_keys(path, dag_id, dag, DAG_KEYS)
    merged = merge(default, dag)
    args = merged.get("default_args") or {}
    if not isinstance(args, dict):
        return report(path, dag_id, "default_args must be a mapping")
    check_keys(path, f"{dag_id}.default_args", args, ARG_KEYS)
    if "start_date" not in merged and "start_date" not in args:
        report(path, dag_id, "no start_date on the DAG or in default_args (dag-factory's "
               "schema requires one; Airflow 2 refuses tasks without it)")
    groups = check_groups(path, dag_id, merged.get("task_groups"))
    items = task_items(path, dag_id, merged.get("tasks"))
    if not items:
        report(path, dag_id, "a DAG needs tasks")
    ids = {tid for tid, _ in items}
    for tid, t in items:
        check_task(path, dag_id, tid, t, ids, groups)


def check_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)  # refuses !!python/... tags: Python-only
    except yaml.YAMLError as e:
        return report(path, "(file)", f"not plain YAML: {str(e).splitlines()[0]}")
    if not isinstance(doc, dict):
        return report(path, "(file)", "the top level must be a mapping of dag ids")
    default = doc.get("default") or {}
    if not isinstance(default, dict):
        return report(path, "default", "must be a mapping")
    check_keys(path, "default", default, DAG_KEYS)
    for dag_id, dag in doc.items():
        if dag_id != "default":
            check_dag(path, str(dag_id), dag, default)


files = []
for d in sys.argv[1:]:
    files += sorted(glob.glob(os.path.join(d, "*.yaml")) + glob.glob(os.path.join(d, "*.yml")))
for f in files:
    check_file(f)
print("\n".join(problems))
print(f"# {len(files)} files checked", file=sys.stderr)
sys.exit(1 if problems else 0)
PYEOF

if ! "$PY" -c 'import yaml' 2>/dev/null; then
    echo "not ok - python3-yaml is installed (make deps installs it)"
    exit 1
fi

# 1. The checker finds what it must: a file with every kind of mistake.
mkdir -p "$tmp/bad"
cat >"$tmp/bad/bad.yaml" <<'EOF'
bad_dag:
  schedule_interval: "@daily"
  tasks:
    - task_id: a
      operator: airflow.operators.python.PythonOperator
      python_callable_name: f
    - task_id: b
      operator: BashOperator
      bash_command: echo
    - task_id: c
      operator: airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator
      image: gust:latest
      cmds: [true]
      execution_timeout: 600
      retry_delay_sec: 5
      dependencies: [nope]
    - task_id: d
      operator: airflow.providers.common.sql.operators.sql.BranchSQLOperator
      conn_id: db
      sql: SELECT true
      follow_task_ids_if_true: [a]
      handler: my.fetch_one
EOF
printf 'x:\n  start_date: !!python/name:datetime.datetime\n  tasks: []\n' >"$tmp/bad/python.yaml"
"$PY" "$tmp/check.py" "$tmp/bad" >"$tmp/bad.out" 2>/dev/null
check_eq "the checker fails on a bad DAG file" 1 $?
bad=$(cat "$tmp/bad.out")
check_contains "it refuses schedule_interval" "schedule_interval" "$bad"
check_contains "it refuses PythonOperator" "'airflow.operators.python.PythonOperator'" "$bad"
check_contains "it refuses a bare class name" "operator 'BashOperator' is not a full class path" "$bad"
check_contains "it refuses an integer execution_timeout" "execution_timeout must be a mapping with __type__: datetime.timedelta" "$bad"
check_contains "it refuses retry_delay_sec" "retry_delay_sec" "$bad"
check_contains "it notices a missing start_date" "no start_date" "$bad"
check_contains "it notices an unknown dependency" "dependency 'nope'" "$bad"
check_contains "it notices a SQL operator's missing argument" "BranchSQLOperator needs follow_task_ids_if_false" "$bad"
check_contains "it refuses a SQL operator's callable" "bad_dag.d: \`handler\` is not a key" "$bad"
check_contains "it refuses Python tags" "python.yaml: (file): not plain YAML" "$bad"

# 2. The real DAG files.
for d in $dirs; do
    out=$("$PY" "$tmp/check.py" "$d" 2>/dev/null)
    rc=$?
    check_eq "$d/*.yaml use only what dag-factory 1.x and Airflow 2.9+/3 accept" 0 "$rc"
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/#   /'
    n=$(find "$d" -maxdepth 1 \( -name '*.yaml' -o -name '*.yml' \) | wc -l)
    [ "$n" -gt 0 ] && echo "ok - $d has $n DAG files" || echo "not ok - $d has DAG files"

    # 3. gust loads the same files with no error and no warning, except the warnings about
    #    keys only Airflow's UI uses (a task group's tooltip): the files also run in Airflow.
    warn=$("$GUST" dags list-import-errors --warnings -S "$d" 2>/dev/null)
    rc=$?
    warn=$(printf '%s' "$warn" | grep -v "is ignored: Airflow UI setting; gust has no UI")
    check_eq "gust loads $d without import errors" 0 "$rc"
    check_eq "gust has no warnings for $d" "" "$warn"
done

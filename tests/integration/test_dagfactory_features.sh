#!/usr/bin/env bash
# dag-factory features where the run matters, against a real PostgreSQL: a run's conf checked
# against Param objects before any run exists (dags trigger, --local, TriggerDagRunOperator),
# {{ params.x }} rendering a Param's default, append_env, variables_as_arguments, folder
# defaults.yml, and .airflowignore in both syntaxes (regexp, and glob with '!' and comments).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 28
gust_tmpdir tmp
pg_gust_db gust_dagfactory_features
export GUST_DAGS_FOLDER=$tmp/dags GUST_LOGS_FOLDER=$tmp/logs
q() { psql -X -q -At -c "$1"; }
runs() { q "select count(*) from dag_run where dag_id = '$1'"; }
mkdir -p "$GUST_DAGS_FOLDER/team" "$GUST_DAGS_FOLDER/scratch"
bash_task() { printf '    %s:\n      operator: airflow.operators.bash.BashOperator\n      bash_command: %s\n' "$1" "$2"; }

cat >"$GUST_DAGS_FOLDER/defaults.yml" <<EOF
default_args:
  owner: platform
  retries: 0
tags: [root_tag]
EOF
cat >"$GUST_DAGS_FOLDER/team/params.yaml" <<EOF
params_dag:
  params:
    batch: {__type__: airflow.models.param.Param, default: 5, type: integer, minimum: 1, maximum: 10}
    mode: {__type__: airflow.models.param.Param, default: fast, enum: [fast, slow]}
  tasks:
$(bash_task t "\"echo {{ params.batch }} {{ params.mode }} >$tmp/params.out\"")
trigger_bad:
  tasks:
    go:
      operator: airflow.operators.trigger_dagrun.TriggerDagRunOperator
      trigger_dag_id: params_dag
      conf: {batch: 0}
env_dag:
  tasks:
    appended:
      operator: airflow.operators.bash.BashOperator
      bash_command: "echo \$EXTRA:\${GUST_TEST_MARK:-unset} >$tmp/env1.out"
      env: {EXTRA: a}
      append_env: true
    replaced:
      operator: airflow.operators.bash.BashOperator
      bash_command: "echo \$EXTRA:\${GUST_TEST_MARK:-unset} >$tmp/env2.out"
      env: {EXTRA: b}
var_dag:
  tasks:
$(bash_task t "\"echo from-file >$tmp/var.out\"")
      variables_as_arguments: [{variable: var_cmd, attribute: bash_command}]
EOF
cat >"$GUST_DAGS_FOLDER/team/defaults.yml" <<EOF
default_args:
  owner: team_a
EOF
printf 'scratch/\nold_.*[.]yaml  # regexp: searched in the path under the DAG folder\n' \
    >"$GUST_DAGS_FOLDER/.airflowignore"
printf 'ignored_dag:\n  tasks:\n    t: {operator: airflow.operators.empty.EmptyOperator}\n' \
    >"$GUST_DAGS_FOLDER/scratch/x.yaml"
printf 'old_dag:\n  tasks:\n    t: {operator: airflow.operators.empty.EmptyOperator}\n' \
    >"$GUST_DAGS_FOLDER/team/old_one.yaml"

# --- the folder: defaults.yml is not a DAG file, ignored files are not loaded
out=$("$GUST" dags list-import-errors --warnings 2>&1)
check_eq "no import error nor warning: defaults.yml is not read as a DAG file" \
    "0:No import errors in $GUST_DAGS_FOLDER" "$?:$out"
list=$("$GUST" dags list 2>&1)
check_contains "the nearest defaults.yml gives the owner" "team_a" "$(grep '^params_dag' <<<"$list")"
check_fails "a folder ignored by .airflowignore is not loaded" grep -q ignored_dag <<<"$list"
check_fails "a file ignored by a regexp is not loaded" grep -q old_dag <<<"$list"

# --- -S FILE (Airflow's --subdir FILE): only that file is read, with its folder defaults
printf 'broken: [\n' >"$GUST_DAGS_FOLDER/zz_broken.yaml"
list=$("$GUST" dags list -S "$GUST_DAGS_FOLDER/team/params.yaml" -o plain 2>&1)
check_eq "dags list -S FILE lists that file's DAGs only" "env_dag params_dag trigger_bad var_dag" \
    "$(awk '{ print $1 }' <<<"$list" | grep -v '^dag_id$' | sort | xargs)"
check_contains "with its folder's defaults.yml" "team_a" \
    "$(grep '^params_dag' <<<"$list")"
check_contains "and the defaults.yml of the folders above" "root_tag" \
    "$(grep '^params_dag' <<<"$list")"
out=$("$GUST" dags list-import-errors -S "$GUST_DAGS_FOLDER/team/params.yaml" 2>&1)
check_eq "another file's error is not read" 0 $?
rm "$GUST_DAGS_FOLDER/zz_broken.yaml"

# --- Param objects: a bad conf is refused before any run exists
out=$("$GUST" dags trigger params_dag -c '{"batch": 11}' 2>&1)
check_eq "dags trigger with a conf out of a Param's range fails (exit 1)" 1 $?
check_contains "naming the param and the rule" \
    "Invalid input for param batch: 11 is greater than the maximum of 10 (rule: maximum)" "$out"
out=$("$GUST" dags trigger params_dag --local -c '{"batch": "many"}' 2>&1)
check_eq "dags trigger --local with a conf of the wrong type fails (exit 1)" 1 $?
check_contains "naming the type" "Invalid input for param batch: 'many' is not of type 'integer'" "$out"
out=$("$GUST" dags trigger params_dag -c '{"mode": "medium"}' 2>&1)
check_contains "an enum is checked" "'medium' is not one of ['fast', 'slow'] (rule: enum)" "$out"
check_eq "no run was created by the refused triggers" 0 "$(runs params_dag)"
"$GUST" dags trigger params_dag --local -r p1 >/dev/null 2>&1
check_eq "without a conf the defaults pass and the run succeeds" success "$("$GUST" dags state params_dag p1 | cut -d, -f1)"
check_eq "{{ params.x }} renders a Param's default" "5 fast" "$(cat "$tmp/params.out")"
"$GUST" dags trigger params_dag --local -r p2 -c '{"batch": 10, "mode": "slow"}' >/dev/null 2>&1
check_eq "a valid conf runs, its values rendered" "10 slow" "$(cat "$tmp/params.out")"
"$GUST" dags trigger trigger_bad --local -r tb1 >"$tmp/tb.out" 2>&1
check_eq "TriggerDagRunOperator with a bad conf fails its run" failed "$("$GUST" dags state trigger_bad tb1 | cut -d, -f1)"
check_contains "its log says why" "Invalid input for param batch: 0 is less than the minimum of 1" \
    "$("$GUST" tasks logs trigger_bad go tb1 2>&1)"
check_eq "and the target DAG got no run" 2 "$(runs params_dag)"

# --- append_env: env over the inherited environment; without it env replaces it
GUST_TEST_MARK=inherited "$GUST" dags trigger env_dag --local -r e1 >/dev/null 2>&1
check_eq "append_env: true keeps the inherited variables" "a:inherited" "$(cat "$tmp/env1.out")"
check_eq "env alone replaces the environment (Airflow)" "b:unset" "$(cat "$tmp/env2.out")"

# --- variables_as_arguments: the Variable, when set, replaces bash_command
"$GUST" dags trigger var_dag --local -r v1 >/dev/null 2>&1
check_eq "an unset Variable leaves bash_command alone" from-file "$(cat "$tmp/var.out")"
"$GUST" variables set var_cmd "echo from-variable-{{ run_id }} >$tmp/var.out" >/dev/null
"$GUST" dags trigger var_dag --local -r v2 >/dev/null 2>&1
check_eq "a set Variable becomes bash_command, rendered" from-variable-v2 "$(cat "$tmp/var.out")"

# --- .airflowignore, glob syntax: gitignore patterns, '!' negation, '#' comments, anchoring
g=$tmp/glob
mkdir -p "$g/sub/deeper"
for f in top:a.yaml keep:keep.yaml sub_b:sub/b.yaml sub_anchored:sub/anchored.yaml \
    deeper_anchored:sub/deeper/anchored.yaml; do
    printf '%s:\n  tasks:\n    t: {operator: airflow.operators.empty.EmptyOperator}\n' "${f%%:*}" >"$g/${f#*:}"
done
printf '# everything but keep\n*.yaml\n!keep.yaml  # a comment after a pattern\n' >"$g/.airflowignore"
printf '!*.yaml\n/anchored.yaml\n' >"$g/sub/.airflowignore"
ids() { "$GUST" dags list 2>/dev/null | awk -F' *[|] *' 'NR > 2 { print $1 }' | sort | xargs; }
check_eq "glob: '!' re-includes, a sub-folder's file overrides, '/x' is anchored to its folder" \
    "deeper_anchored keep sub_b" "$(AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX=glob GUST_DAGS_FOLDER=$g ids)"
check_eq "the same files read as regexps (the default): searched in the path under the folder" \
    "keep top" "$(GUST_DAGS_FOLDER=$g ids)"
g2=$tmp/glob2
mkdir -p "$g2/logs" "$g2/a/b"
for f in in_logs:logs/l.yaml logs_file:logs.yaml tmp_z:a/tmp_z.yaml tmp_y:a/b/tmp_y.yaml fine:a/fine.yaml; do
    printf '%s:\n  tasks:\n    t: {operator: airflow.operators.empty.EmptyOperator}\n' "${f%%:*}" >"$g2/${f#*:}"
done
printf 'logs/\n**/tmp_*.yaml\n' >"$g2/.airflowignore"
check_eq "glob: 'x/' ignores a folder only, '**/' any depth" \
    "fine logs_file" "$(AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX=glob GUST_DAGS_FOLDER=$g2 ids)"

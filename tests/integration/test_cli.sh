#!/usr/bin/env bash
# The `gust dags ...` and top-level verbs against the repository's DAG files and a folder
# of broken ones: output, exit codes (0 ok, 1 failure, 2 usage), --help everywhere.
set -u
source "$GUST_SRC/tests/lib/common.sh"
# 53 checks, and 5 for each verb `gust --help` lists (the loop over verbs below)
plan $((53 + 5 * $("$GUST" --help | grep -c '^  [a-z]')))
cd "$GUST_SRC"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GUST_DAGS_FOLDER=$GUST_SRC/dags

out=$("$GUST" dags list 2>&1)
check_eq "dags list exits 0" 0 $?
for d in dvc_flow pharmaceutical_upsert_dag user_automation wiki_data_dag gust_demo; do
    check_contains "dags list shows $d" "$d" "$out"
done
check_contains "dags list shows schedules" "@daily" "$out"
check_contains "dags list shows a cron schedule" "0 3 * * *" "$out"
errs=$("$GUST" dags list-import-errors 2>&1)
check_eq "the repository's DAG files have no import errors" 0 $?
check_contains "list-import-errors says there are none" "No import errors" "$errs"

json=$("$GUST" dags list -o json)
n=$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
# the DAG ids of dags/*.yaml, read by PyYAML (the top-level keys but `default`)
NDAGS=$(/usr/bin/python3 -c 'import glob,sys,yaml; print(sum(len([k for k in yaml.safe_load(open(f)) if k != "default"]) for f in glob.glob(sys.argv[1] + "/*.yaml")))' "$GUST_SRC/dags")
check_eq "dags list -o json is JSON with every DAG of dags/ ($NDAGS)" "$NDAGS" "$n"
tz=$(printf '%s' "$json" | /usr/bin/python3 -c \
    'import json,sys; print([d["timezone"] for d in json.load(sys.stdin) if d["dag_id"]=="dvc_flow"][0])')
check_eq "json carries the DAG's timezone" "Asia/Ho_Chi_Minh" "$tz"

# next-execution: dvc_flow is @daily in Asia/Ho_Chi_Minh (UTC+7, no DST)
next=$("$GUST" dags next-execution dvc_flow -n 3 --after 2025-03-01T12:00:00+07:00)
check_eq "next-execution -n 3 for @daily in Asia/Ho_Chi_Minh" \
    "2025-03-02T00:00:00+07:00
2025-03-03T00:00:00+07:00
2025-03-04T00:00:00+07:00" "$next"
next=$("$GUST" dags next-execution pharmaceutical_upsert_dag --after 2025-03-01T03:00:00)
check_eq "next-execution is strictly after --after" "2025-03-02T03:00:00+07:00" "$next"
next=$("$GUST" dags next-execution user_automation --after 2020-01-01)
check_eq "next-execution never before start_date" "2023-09-04T00:00:00+00:00" "$next"
"$GUST" dags next-execution no_such_dag >/dev/null 2>"$tmp/err"
check_eq "next-execution of an unknown DAG exits 1" 1 $?
check_contains "and names it" "no_such_dag" "$(cat "$tmp/err")"
"$GUST" dags next-execution dvc_flow -n 0 >/dev/null 2>&1
check_eq "next-execution -n 0 is a usage error" 2 $?
"$GUST" dags next-execution dvc_flow --after yesterday >/dev/null 2>"$tmp/err"
check_eq "a bad --after is a usage error" 2 $?
check_contains "naming the bad value" "yesterday" "$(cat "$tmp/err")"

# show
show=$("$GUST" dags show dvc_flow)
check_contains "dags show lists upstreams" "load_pharmaceutical_data_staging [KubernetesPodOperator] <- extract_data_from_DVC" "$show"
dot=$("$GUST" dags show dvc_flow --format dot)
check_contains "dags show --format dot has an edge" '"extract_data_from_DVC" -> "load_pharmaceutical_data_staging";' "$dot"
"$GUST" dags show dvc_flow --save "$tmp/g.dot" 2>/dev/null
check "dags show --save .dot writes DOT" grep -q '^digraph "dvc_flow"' "$tmp/g.dot"
if command -v dot >/dev/null; then
    "$GUST" dags show dvc_flow --save "$tmp/g.svg" 2>/dev/null
    check "dags show --save .svg renders through graphviz" grep -q '<svg' "$tmp/g.svg"
    check "the DOT output is valid for graphviz" dot -Tsvg -o /dev/null "$tmp/g.dot"
fi
"$GUST" dags show dvc_flow --save "$tmp/g.bmpx" >/dev/null 2>&1
check_eq "dags show --save with an unknown type fails" 1 $?

# a folder with one good and one broken file
mkdir -p "$tmp/dags"
cat >"$tmp/dags/good.yaml" <<'YAML'
good_dag:
  schedule: "@hourly"
  start_date: 2024-01-01
  tasks:
    - task_id: a
      operator: airflow.operators.bash.BashOperator
      bash_command: echo a
YAML
cat >"$tmp/dags/bad.yaml" <<'YAML'
bad_dag:
  schedule: "@daily"
  tasks:
    - task_id: a
      operator: airflow.operators.python.PythonOperator
      python_callable: x
YAML
printf 'broken: [unclosed\n' >"$tmp/dags/syntax.yml"
list=$("$GUST" dags list -S "$tmp/dags" 2>"$tmp/err")
check_eq "dags list with broken files still exits 0" 0 $?
check_contains "the good DAG still loads" "good_dag" "$list"
check_contains "dags list points at the import errors" "list-import-errors" "$(cat "$tmp/err")"
errs=$("$GUST" dags list-import-errors -S "$tmp/dags")
check_eq "list-import-errors exits 1 when there are errors" 1 $?
check_contains "unknown operator named with file:line" "bad.yaml:5:" "$errs"
check_contains "unknown operator is named" "PythonOperator" "$errs"
check_contains "YAML syntax error with its file" "syntax.yml:" "$errs"
jerr=$("$GUST" dags list-import-errors -S "$tmp/dags" -o json)
n=$(printf '%s' "$jerr" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
check_eq "list-import-errors -o json lists both errors" 2 "$n"
"$GUST" dags list -S "$tmp/nonexistent" >/dev/null 2>"$tmp/err"
check_eq "a missing DAG folder is a failure" 1 $?
check_contains "naming the folder" "nonexistent" "$(cat "$tmp/err")"

# usage and help
# Every verb `gust --help` lists: --help prints its usage and exits 0; a bad option prints
# the same usage on stderr and exits 2 (both come from the verb's one row in the table).
verbs=$("$GUST" --help | sed -n 's/^  \([a-z][a-z -]*[a-z]\)  .*/\1/p' | sed 's/ *$//')
check_contains "gust --help lists dags list" "dags list" "$verbs"
check_contains "gust --help lists scheduler" "scheduler" "$verbs"
while IFS= read -r verb; do
    # shellcheck disable=SC2086
    "$GUST" $verb --help >"$tmp/help" 2>&1
    check_eq "gust $verb --help exits 0" 0 $?
    check_contains "gust $verb --help prints usage" "usage: gust $verb" "$(cat "$tmp/help")"
    # shellcheck disable=SC2086
    "$GUST" $verb --no-such-option >"$tmp/out" 2>"$tmp/err"
    check_eq "gust $verb with a bad option exits 2" 2 $?
    check_contains "gust $verb names the bad option" "--no-such-option" "$(cat "$tmp/err")"
    sed -n '/^usage:/,$p' "$tmp/err" >"$tmp/err_usage"
    n=$(wc -l <"$tmp/err_usage")
    check_eq "gust $verb: the usage on a bad option is --help's" "$(head -n "$n" "$tmp/help")" \
        "$(cat "$tmp/err_usage")"
done <<<"$verbs"
for group in dags tasks db jobs variables connections; do
    check_contains "gust $group --help lists its verbs" "$group " "$("$GUST" $group --help)"
done
"$GUST" dags state onlyone >/dev/null 2>"$tmp/err"
check_eq "a missing argument exits 2" 2 $?
check_contains "and prints the usage" "usage: gust dags state DAG_ID LOGICAL_DATE_OR_RUN_ID" "$(cat "$tmp/err")"
"$GUST" dags backfill dvc_flow -e 2024-01-01 >/dev/null 2>"$tmp/err"
check_eq "a missing required option exits 2" 2 $?
check_contains "naming it" "--start-date is required" "$(cat "$tmp/err")"
"$GUST" >/dev/null 2>&1
check_eq "gust without a command exits 2" 2 $?
"$GUST" frobnicate >/dev/null 2>&1
check_eq "an unknown command exits 2" 2 $?
"$GUST" dags frobnicate >/dev/null 2>&1
check_eq "an unknown dags verb exits 2" 2 $?
"$GUST" dags list --bogus >/dev/null 2>&1
check_eq "an unknown option exits 2" 2 $?
check_contains "gust version" "gust " "$("$GUST" version)"

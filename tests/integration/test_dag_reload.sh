#!/usr/bin/env bash
# A DAG file replaced by invalid YAML while its run is active: the scheduler keeps the last
# good version of the DAG (as Airflow keeps a serialized DAG whose file has an import error),
# so the run finishes; the breakage is logged once and listed as an import error. A deleted
# file is different: its DAG goes.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 13
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_dag_reload
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
export GUST_LEASE_SECONDS=3 GUST_DAG_DIR_LIST_INTERVAL=1
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
run_is() { test "$("$GUST" dags state keep "$1" 2>/dev/null | cut -d, -f1)" = "$2"; }
loads_at_least() { test "$(grep -c 'loaded' "$GUST_TEST_TMP/sched.log")" -ge "$1"; }
log_has() { grep -q "$1" "$GUST_TEST_TMP/sched.log"; }

cat >"$GUST_DAGS_FOLDER/keep.yaml" <<'YAML'
keep:
  tasks:
    - task_id: first
      operator: airflow.operators.bash.BashOperator
      bash_command: 'touch $GUST_TEST_TMP/started; while [ ! -f $GUST_TEST_TMP/release ]; do sleep 0.05; done'
    - task_id: second
      operator: airflow.operators.bash.BashOperator
      bash_command: 'echo second > $GUST_TEST_TMP/second'
      dependencies: [first]
YAML
echo 'other: {doc_md: hi, tasks: [{task_id: t, operator: airflow.operators.empty.EmptyOperator}]}' \
    >"$GUST_DAGS_FOLDER/other.yaml"
"$GUST" scheduler >"$GUST_TEST_TMP/sched.log" 2>&1 &
sched=$!
gust_kill_at_exit "$sched"
wait_for 30 "$GUST" jobs check --job-type scheduler
check "the scheduler logs each warning of a load" \
    wait_for 30 log_has "other.yaml:1:9: warning: key 'doc_md' is ignored"
"$GUST" dags trigger keep -r k1 >/dev/null
check "the first task runs" wait_for 60 test -f "$GUST_TEST_TMP/started"

n=$(grep -c 'loaded' "$GUST_TEST_TMP/sched.log")
printf 'keep:\n  tasks: [unclosed\n' >"$GUST_DAGS_FOLDER/keep.yaml"
kill -HUP "$sched"
check "the scheduler reloads the broken file" wait_for 30 loads_at_least $((n + 1))
check "and says it keeps the last good version" \
    wait_for 30 log_has "dag keep: file $GUST_DAGS_FOLDER/keep.yaml fails to load (.*); keeping the last good version from"
touch "$GUST_TEST_TMP/release"
check "the run finishes success on the last good version" wait_for 60 run_is k1 success
check_eq "its second task ran" second "$(cat "$GUST_TEST_TMP/second" 2>/dev/null)"
out=$("$GUST" dags list-import-errors 2>&1)
check_contains "list-import-errors shows the broken file" "keep.yaml:3" "$out"
check_contains "the import_error row says the last good version is in use" \
    "dag keep: the last good version" \
    "$(q "select stacktrace from import_error where filename like '%keep.yaml'")"
check_eq "the DAG stays active" t "$(q "select is_active from dag where dag_id = 'keep'")"

# Another reload while it is still broken: no second message.
n=$(grep -c 'loaded' "$GUST_TEST_TMP/sched.log")
echo 'other2: {tasks: [{task_id: t, operator: airflow.operators.empty.EmptyOperator}]}' \
    >"$GUST_DAGS_FOLDER/other2.yaml"
kill -HUP "$sched"
wait_for 30 loads_at_least $((n + 1))
check_eq "the breakage is logged once" 1 "$(grep -c 'keeping the last good version' "$GUST_TEST_TMP/sched.log")"

# A deleted file takes its DAG away.
rm "$GUST_DAGS_FOLDER/keep.yaml"
kill -HUP "$sched"
check "a deleted file's DAG becomes inactive" \
    wait_for 30 sh -c "test \"\$(psql -X -q -At -c \"select is_active from dag where dag_id = 'keep'\")\" = f"
kill -TERM "$sched"
check "the scheduler stops" wait_for 40 sh -c "! kill -0 $sched 2>/dev/null"

#!/usr/bin/env bash
# Run ids (issue 13) against a real PostgreSQL: Airflow's rule at every way in (`dags trigger
# -r`), one id to one log folder, never a cut path, default ids that stay unique when many
# triggers fall in one microsecond (the command line's and TriggerDagRunOperator's), and table
# output that shows control characters in ids instead of sending them to the terminal.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 31
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_run_ids
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
unset GUST_TEST_RUNID_NOW
mkdir -p "$GUST_DAGS_FOLDER"
cat >"$GUST_DAGS_FOLDER/ids.yaml" <<'EOF'
ids_flow:
  tasks:
    - task_id: say
      operator: airflow.operators.bash.BashOperator
      bash_command: 'echo "run {{ run_id }}"'

ids_parent:
  tasks:
    - task_id: trigger
      operator: airflow.operators.trigger_dagrun.TriggerDagRunOperator
      trigger_dag_id: ids_flow
EOF
q() { psql -X -q -At -c "$1"; }
runs() { q "select count(*) from dag_run where dag_id = 'ids_flow'"; }
flow_logs=$GUST_LOGS_FOLDER/dag_id=ids_flow

# --- Airflow's rule at the entry: the bad character named, exit 2, nothing written
out=$("$GUST" dags trigger ids_flow -r p/q 2>&1)
check_eq "dags trigger -r p/q is a usage error (exit 2)" 2 $?
check_contains "the error names the character and its position" "character '/' at position 2" "$out"
check_eq "p/q created no run" 0 "$(runs)"
check_fails "p/q created no log folder" test -e "$GUST_LOGS_FOLDER"
"$GUST" dags trigger ids_flow --local -r p_q >/dev/null 2>&1
check_eq "p_q is a valid run id and its run succeeds" 0 $?
check "its log is at run_id=p_q" test -f "$flow_logs/run_id=p_q/task_id=say/attempt=1.log"
check_eq "it is the only run folder" "run_id=p_q" "$(ls "$flow_logs")"
long=$(printf 'a%.0s' {1..251})
"$GUST" dags trigger ids_flow -r "$long" >/dev/null 2>&1
check_eq "a run id of 251 characters is refused (exit 2)" 2 $?
"$GUST" dags trigger ids_flow -r "${long:1}" >/dev/null 2>&1
check_eq "one of 250 characters is taken" 0 $?
check_eq "and stored whole" 250 "$(q "select max(length(run_id)) from dag_run where dag_id = 'ids_flow'")"
out=$("$GUST" dags trigger ids_flow -r $'x\e[31my' 2>&1)
check_eq "a run id with an escape character is refused (exit 2)" 2 $?
check_contains "the character is shown escaped" 'character \x1b at position 2' "$out"
check_eq "the refusal does not echo the escape" 0 "$(printf '%s' "$out" | grep -c $'\e')"
"$GUST" dags trigger ids_flow -r a..b >/dev/null 2>&1
check_eq "'..' is refused, as Airflow does (exit 2)" 2 $?
check_eq "the refused ids created no run" 2 "$(runs)"

# --- a try whose paths would not fit fails with a clear error, and no cut file appears
deep=$GUST_TEST_TMP/deep/$(printf 'd%.0s/' {1..2100})
out=$(GUST_LOGS_FOLDER=$deep "$GUST" dags trigger ids_flow --local -r deep1 2>&1)
check_eq "a run whose log path passes PATH_MAX fails (exit 1)" 1 $?
check_contains "the try says why" "more than the system's" "$out"
check_eq "no log or result file was made under a cut path" "" \
    "$(find "$GUST_TEST_TMP/deep" -name 'attempt=*' 2>/dev/null)"
check_eq "the task did not run" failed "$("$GUST" tasks state ids_flow say deep1 2>/dev/null)"

# --- default run ids: 200 triggers in one microsecond (the test clock) all succeed
export GUST_TEST_RUNID_NOW=1710055805.999900 # 2024-03-10T07:30:05.9999: the ids cross a second
mkdir "$GUST_TEST_TMP/trig"
start=$SECONDS
seq 200 | xargs -P 64 -I{} sh -c '"$GUST" dags trigger ids_flow >"$1/{}.out" 2>"$1/{}.err"' _ \
    "$GUST_TEST_TMP/trig"
rc=$?
echo "# 200 triggers took $((SECONDS - start)) s" >&2
check_eq "200 concurrent triggers all succeed" 0 $rc
check_eq "with 200 distinct run ids" 200 "$(cat "$GUST_TEST_TMP"/trig/*.out | sort -u | wc -l)"
check_eq "nothing on stderr" "" "$(cat "$GUST_TEST_TMP"/trig/*.err)"
ids=$(cat "$GUST_TEST_TMP"/trig/*.out | sort)
check_eq "the first is the trigger's microsecond" "manual__2024-03-10T07:30:05.999900+00:00" \
    "$(printf '%s\n' "$ids" | head -1)"
check_eq "every run's logical date is the second its id names" 0 \
    "$(q "select count(*) from dag_run where dag_id = 'ids_flow' and run_id like 'manual\_\_%'
          and to_char(logical_date at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')
              <> substr(run_id, 9, 19)")"
"$GUST" dags trigger ids_parent --local -r parent1 >/dev/null 2>&1
check_eq "TriggerDagRunOperator in the same microsecond still triggers" 0 $?
child=$(q "select value #>> '{}' from xcom where run_id = 'parent1' and key = 'trigger_run_id'")
check_eq "its run is named after a later microsecond of the same trigger time" 1 \
    "$(q "select count(*) from dag_run where dag_id = 'ids_flow' and run_id = '$child'
          and run_id > 'manual__2024-03-10T07:30:05.999900+00:00'
          and run_id < 'manual__2024-03-10T07:30:07'")"
unset GUST_TEST_RUNID_NOW

# --- ids from an older database: control characters are shown, not sent to the terminal
q "insert into dag_run (dag_id, run_id, run_type, state, logical_date)
   values ('ids_flow', E'old\\x1b[2Jred\\nline', 'manual', 'success', now())"
out=$("$GUST" dags list-runs ids_flow)
check_eq "list-runs sends no escape character" 0 "$(printf '%s' "$out" | grep -c $'\e')"
check_contains "it shows the id escaped, on one line" 'old\x1b[2Jred\x0aline' "$out"
out=$("$GUST" dags list-runs ids_flow -o json)
check_eq "JSON output sends no escape character either" 0 "$(printf '%s' "$out" | grep -c $'\e')"
check_eq "and carries the id exactly" "old\\x1b[2Jred\\nline" "$(printf '%s' "$out" |
    python3 -c 'import json, sys; print(ascii(json.load(sys.stdin)[0]["run_id"])[1:-1])')"

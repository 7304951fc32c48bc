#!/usr/bin/env bash
# The run engine end to end with `gust dags trigger --local` against a real PostgreSQL:
# XCom both ways, retries, exit 99 and 100, timeouts that leave no process behind, conf
# reaching an argv byte for byte, trigger rules, concurrency limits, TriggerDagRunOperator,
# logs, history, and the CLI's refusals that write nothing.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 98
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_run_engine
export GUST_DAGS_FOLDER=$GUST_SRC/tests/integration/run_dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
q() { psql -X -q -At -c "$1"; }
run_state() { "$GUST" dags state "$1" "$2" | cut -d, -f1; } # Airflow prints "state, conf"
state_of() { "$GUST" tasks state "$1" "$2" "$3" 2>/dev/null; }

# --- XCom, context, EmptyOperator
out=$("$GUST" dags trigger xcom_flow --local -r xcom1 2>&1)
check_eq "a run of Bash, KPO and Empty tasks succeeds (exit 0)" 0 $?
check_contains "trigger prints the run id first" "xcom1" "$(printf '%s' "$out" | head -1)"
check_eq "the run is recorded as success" success "$("$GUST" dags state xcom_flow xcom1)"
check_eq "Bash XCom is the last stdout line, as a JSON string" '"world"' \
    "$(q "select value::text from xcom where run_id = 'xcom1' and task_id = 'say' and key = 'return_value'")"
check_eq "KPO XCom is return.json, parsed" '{"k": [1, 2], "s": "kpo"}' \
    "$(q "select value::text from xcom where run_id = 'xcom1' and task_id = 'kpo'")"
check_eq "downstream templates consumed both XComs" success "$(state_of xcom_flow check_kpo_xcom xcom1)"
check_eq "AIRFLOW_CTX_* and run_id reach the task" "xcom_flow|ctx|xcom1|1|xcom1" "$(cat "$GUST_TEST_TMP/ctx")"
check "the log is in Airflow's layout" test -f "$GUST_LOGS_FOLDER/dag_id=xcom_flow/run_id=xcom1/task_id=say/attempt=1.log"
log=$("$GUST" tasks logs xcom_flow say xcom1)
check_contains "tasks logs prints the task's output" "hello" "$log"
kpo_dir="$GUST_LOGS_FOLDER/dag_id=xcom_flow/run_id=xcom1/task_id=kpo"
check "a KPO try leaves its result file beside its log" test -f "$kpo_dir/attempt=1.return.json"
"$GUST" tasks logs xcom_flow kpo xcom1 >/dev/null 2>&1
check "tasks logs of a finished try leaves its result file alone" test -f "$kpo_dir/attempt=1.return.json"
check_fails "tasks logs of a mistyped task id fails" "$GUST" tasks logs xcom_flow kpoo xcom1 --try 1
check_fails "tasks logs of a mistyped task id creates no folder" \
    test -e "$GUST_LOGS_FOLDER/dag_id=xcom_flow/run_id=xcom1/task_id=kpoo"
check_fails "tasks logs of a mistyped run id creates no folder" \
    test -e "$GUST_LOGS_FOLDER/dag_id=xcom_flow/run_id=xcom9"
"$GUST" tasks logs xcom_flow say xcom9 --try 1 >/dev/null 2>&1
check_fails "tasks logs of an unknown run writes nothing" \
    test -e "$GUST_LOGS_FOLDER/dag_id=xcom_flow/run_id=xcom9"

# --- templates: the context from the store, blocks, macros
"$GUST" dags trigger template_flow --local -r tmpl1 -l 2024-01-01T00:00:00+00:00 >/dev/null 2>&1
"$GUST" dags trigger template_flow --local -r tmpl2 -l 2024-01-02T00:00:00+00:00 >/dev/null 2>&1
check_eq "both templated runs succeed" "success success" \
    "$(run_state template_flow tmpl1) $(run_state template_flow tmpl2)"
di1=$(q "select to_char(data_interval_start at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00' from dag_run where run_id = 'tmpl1'")
check_eq "a first run has no previous success; blocks, loop, macros and ti/task attributes render" \
    "manual|none|template_flow__ctx__20240101|data/2|2|-1|1A,2B|2024-01-02|started|2024-01-01" \
    "$(sed -n 1p "$GUST_TEST_TMP/tmplctx")"
check_eq "the next run sees the first one's data interval as prev_data_interval_start_success" \
    "manual|$di1|template_flow__ctx__20240102|data/2|2|-1|1A,2B|2024-01-03|started|2024-01-02" \
    "$(sed -n 2p "$GUST_TEST_TMP/tmplctx")"

# --- retries and exit 100
"$GUST" dags trigger retry_flow --local -r retry1 >/dev/null 2>&1
check_eq "a run with a permanently failed task fails (exit 1)" 1 $?
check_eq "a task failing twice then succeeding ends success" success "$(state_of retry_flow flaky retry1)"
check_eq "it took three tries" 3 "$(cat "$GUST_TEST_TMP/count")"
tries=$("$GUST" tasks states-for-dag-run retry_flow retry1 --tries -o plain | grep '^flaky' | cut -f2,3 | tr '\t\n' ':,')
check_eq "the history shows every try" "1:up_for_retry,2:up_for_retry,3:success," "$tries"
check_eq "exit 100 is not retried" 1 "$(wc -l <"$GUST_TEST_TMP/permanent")"
check_eq "exit 100 leaves the task failed" failed "$(state_of retry_flow permanent retry1)"
check_eq "history rows carry exit codes" "1|1|0" \
    "$(q "select string_agg(exit_code::text, '|' order by try_number) from task_instance_history where run_id = 'retry1' and task_id = 'flaky'")"

# --- timeout kills the whole process tree
start=$SECONDS
"$GUST" dags trigger timeout_flow --local -r timeout1 >/dev/null 2>&1
check_eq "a timed-out run fails" failed "$("$GUST" dags state timeout_flow timeout1)"
check "the timeout acted within seconds" test $((SECONDS - start)) -lt 20
for f in bg1 bg2; do
    pid=$(cat "$GUST_TEST_TMP/$f" 2>/dev/null)
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        echo "ok - background child $f of a timed-out task is gone"
    else
        echo "not ok - background child $f ($pid) survived the timeout"
        kill -9 "$pid" 2>/dev/null
    fi
done
check_contains "the log says it timed out" "timed out" \
    "$(cat "$GUST_LOGS_FOLDER/dag_id=timeout_flow/run_id=timeout1/task_id=slow/attempt=1.log")"

# --- skip propagation
"$GUST" dags trigger skip_flow --local -r skip1 >/dev/null 2>&1
check_eq "exit 99 skips the task" skipped "$(state_of skip_flow nothing_to_do skip1)"
check_eq "the skip propagates to all_success downstream" skipped "$(state_of skip_flow after_skip skip1)"
check_eq "and further down" skipped "$(state_of skip_flow further skip1)"
check "a skipped task never ran" test ! -e "$GUST_TEST_TMP/after_skip"
check_eq "all_done runs after skipped upstreams" success "$(state_of skip_flow cleanup skip1)"
check_eq "a run whose leaves succeeded or skipped succeeds" success "$("$GUST" dags state skip_flow skip1)"

# --- conf reaches an argv element byte for byte
payload='$(touch /tmp/pwned) `id` "dq" '"'sq'"' ; | & > < * ? \ $HOME
tab	end'
conf=$(PAYLOAD=$payload /usr/bin/python3 -c 'import json,os; print(json.dumps({"payload": os.environ["PAYLOAD"]}))')
"$GUST" dags trigger conf_flow --local -r conf1 -c "$conf" >/dev/null 2>&1
check_contains "dags state prints the conf beside the state, as Airflow does" "success, {" "$("$GUST" dags state conf_flow conf1)"
check_eq "the conf run succeeds" success "$(run_state conf_flow conf1)"
check_eq "a conf value full of shell metacharacters reaches the argv byte for byte" "$payload" "$(cat "$GUST_TEST_TMP/arg")"
check_eq "conf overrides params" "$payload" "$(cat "$GUST_TEST_TMP/param")"
"$GUST" dags trigger conf_flow --local -r conf2 >/dev/null 2>&1
check_eq "params apply without conf" default "$(cat "$GUST_TEST_TMP/param")"

# --- trigger rules through real runs
"$GUST" dags trigger rules_flow --local -r rules1 >/dev/null 2>&1
states=$("$GUST" tasks states-for-dag-run rules_flow rules1 -o plain | cut -f1,2)
expect() { # task expected-state
    check_eq "trigger rule ${1%__*} downstream of (ok, ${1#*__})" "$2" \
        "$(printf '%s\n' "$states" | awk -F'\t' -v t="$1" '$1 == t { print $2 }')"
}
expect all_success__fail upstream_failed
expect all_success__skip skipped
expect all_failed__fail skipped
expect all_failed__skip skipped
expect all_done__fail success
expect all_done__skip success
expect all_done_min_one_success__fail success
expect all_done_min_one_success__skip skipped # Airflow 3: any skipped upstream skips it
expect all_skipped__fail skipped
expect all_skipped__skip skipped
expect one_success__fail success
expect one_success__skip success
expect one_failed__fail success
expect one_failed__skip skipped
expect one_done__fail success
expect one_done__skip success
expect none_failed__fail upstream_failed
expect none_failed__skip success
expect none_failed_min_one_success__fail upstream_failed
expect none_failed_min_one_success__skip success
expect none_skipped__fail success
expect none_skipped__skip skipped
expect always__fail success
expect always__skip success
check_eq "a run with an upstream_failed leaf fails" failed "$("$GUST" dags state rules_flow rules1)"

# --- max_active_tasks is never exceeded (from the tasks' own clocks)
"$GUST" dags trigger limit_flow --local -r limit1 >/dev/null 2>&1
check_eq "the limited run succeeds" success "$("$GUST" dags state limit_flow limit1)"
peak=$(cat "$GUST_TEST_TMP"/limit.t* | sort -k2 -n | awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m }')
check_eq "never more than max_active_tasks=2 tasks at once" 2 "$peak"
# and the planner never queues past it: the run's queued + running instances, read while a
# second run goes (were every instance queued at once, the claims would still start only 2)
"$GUST" dags trigger limit_flow --local -r limit2 >/dev/null 2>&1 &
lim=$!
most=0
while kill -0 "$lim" 2>/dev/null; do
    n=$(psql -X -q -At -c "select count(*) from task_instance where run_id = 'limit2'
        and state in ('queued', 'running')")
    [ "${n:-0}" -gt "$most" ] && most=$n
    sleep 0.02
done
wait "$lim"
check_eq "never more than max_active_tasks=2 instances queued or running (read $most)" \
    "success 1" "$("$GUST" dags state limit_flow limit2 | cut -d, -f1) $((most >= 1 && most <= 2))"

# At the cap a run refills in batches of a sixteenth of max_active_tasks (4 of 64 here), not
# one instance per end: 200 mapped instances; PostgreSQL counts the planning steps' writes
# (a call of gust_apply_changes each) in pg_stat_user_functions
calls() { q "select coalesce(sum(calls), 0) from pg_stat_user_functions where funcname = 'gust_apply_changes'"; }
before=$(calls)
PGOPTIONS='-c track_functions=pl' GUST_PARALLELISM=2 \
    "$GUST" dags trigger refill_flow --local -r refill1 >/dev/null 2>&1 &
lim=$!
most=0
while kill -0 "$lim" 2>/dev/null; do
    n=$(q "select count(*) from task_instance where run_id = 'refill1' and state in ('queued', 'running')")
    [ "${n:-0}" -gt "$most" ] && most=$n
    sleep 0.02
done
wait "$lim"
check_eq "a run of 200 instances under max_active_tasks=64 succeeds, never past the cap (read $most)" \
    "success 1" "$(run_state refill_flow refill1) $((most >= 1 && most <= 64))"
steps=$(($(calls) - before))
check "its instances were queued in batches: $steps planning writes (one per turn with an end: 68 or more)" \
    test "$steps" -ge 2 -a "$steps" -le 60

GUST_PARALLELISM=3 "$GUST" dags trigger wide_flow --local -r wide1 >/dev/null 2>&1
check_eq "the wide run succeeds" success "$(run_state wide_flow wide1)"
peak=$(cat "$GUST_TEST_TMP"/wide.w* | sort -k2 -n | awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m }')
check_eq "never more than GUST_PARALLELISM=3 tries at once" 3 "$peak"

# --- the XCom size cap
GUST_XCOM_MAX_BYTES=100 "$GUST" dags trigger big_xcom_flow --local -r big1 >/dev/null 2>&1
check_eq "an XCom over the cap fails the task" failed "$(state_of big_xcom_flow chatty big1)"
check_contains "the log names the task and the cap" \
    "XCom of task 'chatty': last stdout line is 300 bytes, over the XCom limit of 100" \
    "$("$GUST" tasks logs big_xcom_flow chatty big1)"
"$GUST" dags trigger big_xcom_flow --local -r big2 >/dev/null 2>&1
check_eq "under the default 1 MiB cap it passes" success "$(state_of big_xcom_flow chatty big2)"

# --- TriggerDagRunOperator with wait_for_completion
"$GUST" dags trigger parent_flow --local -r parent1 >/dev/null 2>&1
check_eq "the parent run succeeds after its child" success "$("$GUST" dags state parent_flow parent1)"
check_eq "the child ran with the rendered conf" parent_flow "$(cat "$GUST_TEST_TMP/child")"
child=$(q "select value #>> '{}' from xcom where run_id = 'parent1' and key = 'trigger_run_id'")
check_eq "the child run is recorded and succeeded" success "$(run_state child_flow "$child")"

# --- --wait/--local exit codes and refusals that write nothing
"$GUST" dags trigger fail_flow --local -r fail1 >/dev/null 2>&1
check_eq "--local exits 1 when the run failed" 1 $?
check_contains "the log keeps stderr" "failing" "$("$GUST" tasks logs fail_flow boom fail1)"
before=$(q "select count(*) from dag_run")
"$GUST" dags trigger fail_flow -c '{not json' >/dev/null 2>&1
check_eq "invalid conf JSON is a usage error" 2 $?
"$GUST" dags trigger fail_flow -c '[1, 2]' >/dev/null 2>&1
check_eq "conf that is not an object is a usage error" 2 $?
"$GUST" dags trigger no_such_dag >/dev/null 2>&1
check_eq "an unknown DAG fails" 1 $?
"$GUST" dags trigger fail_flow -r fail1 >"$GUST_TEST_TMP/out" 2>&1
check_eq "an existing run id fails" 1 $?
check_contains "saying so" "already exists" "$(cat "$GUST_TEST_TMP/out")"
check_eq "none of the refusals wrote a run" "$before" "$(q "select count(*) from dag_run")"
"$GUST" dags trigger fail_flow -r queued1 >/dev/null
check_eq "without --local the run is queued for a scheduler" queued "$("$GUST" dags state fail_flow queued1)"

# --- list-runs, clear, tasks test
check_contains "list-runs shows the runs" "fail1" "$("$GUST" dags list-runs fail_flow)"
n=$("$GUST" dags list-runs fail_flow -o json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
check_eq "list-runs -o json" 2 "$n"
"$GUST" tasks clear fail_flow --run-id fail1 -y >/dev/null
check_eq "clear sets the task back to none" none "$(state_of fail_flow boom fail1)"
check_eq "and its run back to queued" queued "$("$GUST" dags state fail_flow fail1)"
"$GUST" tasks clear fail_flow </dev/null >/dev/null 2>&1
check_eq "clear without -y and without a terminal refuses" 2 $?
out=$("$GUST" tasks test xcom_flow say 2>&1)
check_contains "tasks test shows the output" "hello" "$out"
check_contains "tasks test shows the XCom" 'XCom return_value: "world"' "$out"
check_eq "tasks test records nothing" 0 "$(q "select count(*) from dag_run where dag_id = 'xcom_flow' and run_id <> 'xcom1'")"
tl=$("$GUST" tasks list xcom_flow | tr '\n' ' ')
check_eq "tasks list" "check_bash_xcom check_kpo_xcom ctx done kpo say " "$tl"

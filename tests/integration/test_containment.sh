#!/usr/bin/env bash
# What a task may leave behind and what it may claim, end to end against a real PostgreSQL:
# - containment: kill -9 of `gust dags trigger --local` while its task runs leaves a setsid()ed
#   child of the task running (no signal of ours reaches it); the next gust on this host (here
#   the scheduler that takes over the expired lease and retries) kills it before the retry
#   starts. With cgroups (docs/operations.md, "Task containment"); as root or under CI they
#   must be in force, else this test fails.
# - the XCom of a BashOperator is its last stdout line, whole or not at all: over
#   GUST_XCOM_MAX_BYTES the try fails and its log says why.
# - a task's log stops at GUST_TASK_LOG_MAX_BYTES with one marker line.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 16
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_containment
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
state_of() { "$GUST" tasks state "$1" "$2" "$3" 2>/dev/null; }
log_of() { cat "$GUST_LOGS_FOLDER/dag_id=$1/run_id=$2/task_id=$3/attempt=$4.log" 2>/dev/null; }
cat >"$GUST_DAGS_FOLDER/dags.yaml" <<'YAML'
escape_flow:
  schedule: null
  default_args: {retries: 1, retry_delay: 0}
  tasks:
    - task_id: escape
      operator: airflow.operators.bash.BashOperator
      bash_command: |
        if [ ! -e $GUST_TEST_TMP/escapee ]; then
          setsid bash -c 'echo $$ > $GUST_TEST_TMP/escapee.tmp; mv $GUST_TEST_TMP/escapee.tmp $GUST_TEST_TMP/escapee; exec sleep 300' &
          exec sleep 1000
        fi
        if kill -0 $(cat $GUST_TEST_TMP/escapee) 2>/dev/null; then echo alive; else echo gone; fi > $GUST_TEST_TMP/at_retry
xcom_flow:
  schedule: null
  tasks:
    - task_id: long_line
      operator: airflow.operators.bash.BashOperator
      bash_command: "echo first; head -c 102400 /dev/zero | tr '\\0' a; echo"
    - task_id: short_line
      operator: airflow.operators.bash.BashOperator
      bash_command: "echo first; head -c 1024 /dev/zero | tr '\\0' b; echo"
log_flow:
  schedule: null
  tasks:
    - task_id: chatty
      operator: airflow.operators.bash.BashOperator
      bash_command: "head -c 100000 /dev/zero | tr '\\0' c; echo; echo last"
YAML

# --- kill -9 of gust dags trigger --local while its task runs
"$GUST" dags trigger escape_flow --local -r esc1 >"$GUST_TEST_TMP/trigger.log" 2>&1 &
trigger=$!
gust_kill_at_exit "$trigger"
check "the task started a setsid child" wait_for 60 test -s "$GUST_TEST_TMP/escapee"
escapee=$(cat "$GUST_TEST_TMP/escapee")
gust_kill_at_exit "$escapee"
kill -9 "$trigger"
wait "$trigger" 2>/dev/null
check "it outlived gust (kill -9)" kill -0 "$escapee"
"$GUST" dags unpause escape_flow >/dev/null 2>&1
GUST_LEASE_SECONDS=1 timeout 120 "$GUST" scheduler --once >"$GUST_TEST_TMP/sched.log" 2>&1
check_eq "the scheduler took over and the retry succeeded" success "$(state_of escape_flow escape esc1)"
check_eq "the setsid child was gone when the retry started" gone "$(cat "$GUST_TEST_TMP/at_retry" 2>/dev/null)"
check_fails "and it is gone now" kill -0 "$escapee"
check_contains "the scheduler says how tries are contained" "tries contained by cgroup v2" \
    "$(cat "$GUST_TEST_TMP/sched.log")"
if [ "$(id -u)" != 0 ] && [ -z "${CI:-}" ] && ! grep -q "contained by cgroup" "$GUST_TEST_TMP/sched.log"; then
    echo "# cgroups are not available here (not root): the containment checks above fail"
fi
check_contains "gust jobs check says it too" "Task containment on this host:" \
    "$("$GUST" jobs check 2>&1)"

# --- the XCom of a BashOperator is exact or not pushed
GUST_XCOM_MAX_BYTES=65536 "$GUST" dags trigger xcom_flow --local -r x1 >/dev/null 2>&1
check_eq "a last line over GUST_XCOM_MAX_BYTES fails the try" failed "$(state_of xcom_flow long_line x1)"
check_contains "its log says why" "last stdout line is 102400 bytes, over the XCom limit of 65536" \
    "$(log_of xcom_flow x1 long_line 1)"
check_eq "nothing was pushed" 0 "$(q "select count(*) from xcom where run_id = 'x1' and task_id = 'long_line'")"
check_eq "a 1 KiB last line is pushed whole" 1024 \
    "$(q "select length(value #>> '{}') from xcom where run_id = 'x1' and task_id = 'short_line'")"
"$GUST" dags trigger xcom_flow --local -r x2 >/dev/null 2>&1
check_eq "a 100 KiB last line within the default limit is pushed whole" 102400 \
    "$(q "select length(value #>> '{}') from xcom where run_id = 'x2' and task_id = 'long_line'")"

# --- the log cap
GUST_TASK_LOG_MAX_BYTES=1000 "$GUST" dags trigger log_flow --local -r l1 >/dev/null 2>&1
log=$(log_of log_flow l1 chatty 1)
check_contains "a log over GUST_TASK_LOG_MAX_BYTES ends with one marker line" \
    "[gust] log truncated at 1000 bytes; 99006 more bytes dropped" "$log"
check_eq "the XCom is still the last line" '"last"' \
    "$(q "select value::text from xcom where run_id = 'l1' and task_id = 'chatty'")"
check_eq "and the task's output in it stops at the cap" 1000 "$(printf '%s' "$log" | grep -v '^\[gust\]' | tr -d '\n' | wc -c)"

#!/usr/bin/env bash
# PostgreSQL stopped while tries run and end: a BashOperator and a KubernetesPodOperator try
# that exit 0 during the outage are recorded success once the database is back, with their
# XCom (the KPO's return.json read at the try's end, though it is gone by then), and each ran
# exactly once (a try's result is kept in memory, never turned into a failure and a retry).
# run.sh: alone (it stops the shared PostgreSQL cluster for an outage: tests/run.sh runs it
# with no other test running)
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 12
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_db_outage
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
export GUST_LEASE_SECONDS=3 GUST_DAG_DIR_LIST_INTERVAL=1
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
ti_is() { test "$(q "select state from task_instance where run_id = 'o1' and task_id = '$1'")" = "$2"; }

# Each task counts its runs, says it started, then waits for the release file.
cat >"$GUST_DAGS_FOLDER/outage.yaml" <<'YAML'
outage:
  default_args: {retries: 2, retry_delay: 1}
  tasks:
    - task_id: bash
      operator: airflow.operators.bash.BashOperator
      bash_command: 'echo run >> $GUST_TEST_TMP/bash.count; touch $GUST_TEST_TMP/bash.started; while [ ! -f $GUST_TEST_TMP/release ]; do sleep 0.05; done; echo the-result'
    - task_id: kpo
      operator: airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator
      cmds: [bash, -c, 'echo run >> $GUST_TEST_TMP/kpo.count; touch $GUST_TEST_TMP/kpo.started; while [ ! -f $GUST_TEST_TMP/release ]; do sleep 0.05; done; echo "{\"n\": 7}" > "$GUST_XCOM_FILE"']
      do_xcom_push: true
YAML
"$GUST" scheduler >"$GUST_TEST_TMP/sched.log" 2>&1 &
sched=$!
gust_kill_at_exit "$sched"
wait_for 30 "$GUST" jobs check --job-type scheduler
"$GUST" dags trigger outage -r o1 >/dev/null
check "both tries run" wait_for 60 sh -c "test -f $GUST_TEST_TMP/bash.started && test -f $GUST_TEST_TMP/kpo.started"

pg_down
check_fails "the database is down" psql -X -q -c "select 1"
touch "$GUST_TEST_TMP/release"
check "both tries ended during the outage, their ends kept" wait_for 60 sh -c \
    "grep -q 'exit 0; the database is down' $GUST_LOGS_FOLDER/dag_id=outage/run_id=o1/task_id=bash/attempt=1.log &&
     grep -q 'exit 0; the database is down' $GUST_LOGS_FOLDER/dag_id=outage/run_id=o1/task_id=kpo/attempt=1.log"
check "the scheduler noticed the outage" grep -q "database unreachable" "$GUST_TEST_TMP/sched.log"
# The result file is gone before the database is back: its content was read at the try's end.
rm -f "$GUST_LOGS_FOLDER"/dag_id=outage/run_id=o1/task_id=kpo/attempt=*.return.json
pg_up
check "the database is back" psql -X -q -c "select 1"

check "the BashOperator try is recorded success" wait_for 60 ti_is bash success
check "the KubernetesPodOperator try is recorded success" wait_for 60 ti_is kpo success
check_eq "with the Bash XCom" '"the-result"' \
    "$(q "select value::text from xcom where run_id = 'o1' and task_id = 'bash' and key = 'return_value'")"
check_eq "and the KPO XCom" '{"n": 7}' \
    "$(q "select value::text from xcom where run_id = 'o1' and task_id = 'kpo' and key = 'return_value'")"
check_eq "each task ran exactly once" "1 1 1" \
    "$(wc -l <"$GUST_TEST_TMP/bash.count") $(wc -l <"$GUST_TEST_TMP/kpo.count") $(q "select max(try_number) from task_instance where run_id = 'o1'")"
kill -TERM "$sched"
check "the scheduler stops" wait_for 40 sh -c "! kill -0 $sched 2>/dev/null"

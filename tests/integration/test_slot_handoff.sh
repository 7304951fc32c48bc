#!/usr/bin/env bash
# A slot of max_active_tasks that a try's end frees goes to any run of the DAG, not only to
# the run of the try that ended (runner_dirty_dag): with max_active_tasks 2, run A holds
# `long` (5 s) and `short` (1.5 s); a task of run B must start once `short` ends, not after
# `long`. Checked with the scheduler's own executor and with a worker (the end then comes as
# a notification). Not timed against a clock: the order of start and end dates decides.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 8 # two `gust db migrate` (pg_gust_db) and six checks
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
q() { psql -X -q -At -c "$1"; }
mkdir -p "$GUST_DAGS_FOLDER"
cat >"$GUST_DAGS_FOLDER/handoff.yaml" <<'EOF'
handoff:
  schedule: null
  start_date: 2024-01-01
  catchup: false
  max_active_tasks: 2
  max_active_runs: 2
  is_paused_upon_creation: false
  params: {long: 0, short: 0}
  tasks:
    long: {operator: airflow.operators.bash.BashOperator, bash_command: "sleep {{ params.long }}"}
    short: {operator: airflow.operators.bash.BashOperator, bash_command: "sleep {{ params.short }}"}
EOF

# run A first, then (once both its tasks run) run B: B's two tasks wait for slots
one_case() { # what scheduler_args...
    local what=$1 a=$1_a b=$1_b
    shift
    pg_gust_db "gust_handoff_$what"
    start_bg "sched_$what" "$GUST" scheduler "$@"
    local sched=$LAST worker=
    if [ "$what" = worker ]; then
        start_bg worker "$GUST" worker --concurrency 4
        worker=$LAST
    fi
    wait_for 60 sh -c "psql -X -q -At -c \"select 1 from dag where dag_id = 'handoff'\" | grep -q 1"
    "$GUST" dags trigger handoff -r "$a" -c '{"long": 5, "short": 1.5}' >/dev/null
    wait_for 30 sh -c "test \"\$(psql -X -q -At -c \"select count(*) from task_instance where run_id = '$a' and state = 'running'\")\" = 2"
    "$GUST" dags trigger handoff -r "$b" -c '{"long": 0, "short": 0}' >/dev/null
    check "$what: both runs finish" wait_for 60 sh -c \
        "test \"\$(psql -X -q -At -c \"select count(*) from dag_run where state = 'success'\")\" = 2"
    check_eq "$what: a task of run B started before run A's long task ended" t \
        "$(q "select min(b.start_date) < (select end_date from task_instance where run_id = '$a' and task_id = 'long') from task_instance b where b.run_id = '$b'")"
    kill -TERM "$sched" $worker
    wait_for 30 sh -c "! kill -0 $sched 2>/dev/null"
}

one_case local
one_case worker --no-executor
check_eq "never more than 2 of the DAG's tasks at once (local)" 0 \
    "$(psql -X -q -At -d gust_handoff_local -c "select count(*) from task_instance x where (select count(*) from task_instance y where y.start_date <= x.start_date and y.end_date > x.start_date) > 2")"
check_eq "never more than 2 of the DAG's tasks at once (worker)" 0 \
    "$(psql -X -q -At -d gust_handoff_worker -c "select count(*) from task_instance x where (select count(*) from task_instance y where y.start_date <= x.start_date and y.end_date > x.start_date) > 2")"

#!/usr/bin/env bash
# gust scheduler and gust worker against a real PostgreSQL: scheduled runs with and without
# catchup, max_active_runs, workers claiming with SKIP LOCKED, two schedulers and two workers
# on one database, kill -9 of schedulers and workers mid-run (no task's tries overlap: each
# try holds a lock file while it runs), PostgreSQL stopped for 10 s mid-run, SIGTERM, SIGHUP,
# pause, backfill, variables, jobs check.
#
# CHAOS_KILLS (default 20) and CHAOS_TASKS (default 200) size the kill -9 test.
# run.sh: alone (it stops the shared PostgreSQL cluster for an outage: tests/run.sh runs it
# with no other test running)
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 54
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_scheduler
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
export GUST_LEASE_SECONDS=2 GUST_DAG_DIR_LIST_INTERVAL=1
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
# Conditions for wait_for: evaluated afresh on every attempt.
run_is() { test "$(run_state "$1" "$2")" = "$3"; }
q_is() { test "$(q "$1")" = "$2"; }
q_at_least() { test "$(q "$1")" -ge "$2"; }
gen() { /usr/bin/python3 "$GUST_SRC/tests/integration/gen_dag.py" "$@"; }

# --- scheduled runs: catchup true and false, max_active_runs, --once
start5=$(date -u -d "$(date -u +%F) -5 days" +%FT00:00:00Z)
export START5=$start5
cat >"$GUST_DAGS_FOLDER/daily.yaml" <<'YAML'
daily_catchup:
  schedule: "@daily"
  start_date: $START5
  catchup: true
  max_active_runs: 1
  tasks:
    - task_id: work
      operator: airflow.operators.bash.BashOperator
      bash_command: 'echo "start $(date +%s.%N)" >> $GUST_TEST_TMP/daily; sleep 0.2; echo "end $(date +%s.%N)" >> $GUST_TEST_TMP/daily'
daily_latest:
  schedule: "@daily"
  start_date: $START5
  catchup: false
  tasks:
    - {task_id: work, operator: airflow.operators.empty.EmptyOperator}
never:
  schedule: null
  tasks:
    - {task_id: work, operator: airflow.operators.empty.EmptyOperator}
YAML
timeout 120 "$GUST" scheduler --once >"$GUST_TEST_TMP/once.log" 2>&1
check_eq "scheduler --once exits 0 when everything due has run" 0 $?
check_eq "catchup: one run per day since start_date, today included" 6 \
    "$(q "select count(*) from dag_run where dag_id = 'daily_catchup' and run_type = 'scheduled' and state = 'success'")"
check_eq "the first run is at start_date" "scheduled__${start5%Z}+00:00" \
    "$(q "select min(run_id) from dag_run where dag_id = 'daily_catchup'")"
check_eq "catchup false: only the latest tick runs" "scheduled__$(date -u +%F)T00:00:00+00:00" \
    "$(q "select string_agg(run_id, ',') from dag_run where dag_id = 'daily_latest'")"
check_eq "no schedule: no run" 0 "$(q "select count(*) from dag_run where dag_id = 'never'")"
peak=$(sort -k2 -n "$GUST_TEST_TMP/daily" | awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m }')
check_eq "max_active_runs=1: runs never overlapped" 1 "$peak"
timeout 60 "$GUST" scheduler --once >/dev/null 2>&1
check_eq "a second --once creates nothing new" 6 "$(q "select count(*) from dag_run where dag_id = 'daily_catchup'")"

# --- pause, variables, jobs check
check "pause" "$GUST" dags pause daily_latest
check_eq "pause is recorded" t "$(q "select is_paused from dag where dag_id = 'daily_latest'")"
check "unpause" "$GUST" dags unpause daily_latest
"$GUST" dags pause no_such_dag >/dev/null 2>&1
check_eq "pausing an unknown DAG fails" 1 $?
check "variables set" "$GUST" variables set greeting "hello world"
check_eq "variables get" "hello world" "$("$GUST" variables get greeting)"
check_contains "variables list" "greeting" "$("$GUST" variables list)"
check "variables delete" "$GUST" variables delete greeting
"$GUST" variables get greeting >/dev/null 2>&1
check_eq "a deleted variable is gone" 1 $?
"$GUST" jobs check --job-type scheduler --max-age 5 >/dev/null 2>&1
check_eq "jobs check fails when no scheduler runs" 1 $?

# --- backfill
out=$("$GUST" dags backfill daily_latest -s "$(date -u -d '-3 days' +%F)" -e "$(date -u -d '-2 days' +%F)" --dry-run)
check_contains "backfill --dry-run lists the runs" "backfill__$(date -u -d '-3 days' +%F)T00:00:00+00:00: create and run" "$out"
check_eq "a dry run writes nothing" 0 "$(q "select count(*) from dag_run where run_type = 'backfill'")"
"$GUST" dags backfill daily_latest -s "$(date -u -d '-3 days' +%F)" -e "$(date -u -d '-2 days' +%F)" >/dev/null 2>&1
check_eq "backfill runs every tick in the range" "2 success" \
    "$(q "select count(*) || ' ' || min(state) from dag_run where run_type = 'backfill'")"
out=$("$GUST" dags backfill daily_latest -s "$(date -u -d '-3 days' +%F)" -e "$(date -u -d '-2 days' +%F)" 2>&1)
check_contains "existing backfill runs are left alone" "exists, left alone" "$out"
"$GUST" dags backfill daily_latest -s "$(date -u -d '-3 days' +%F)" -e "$(date -u -d '-3 days' +%F)" --reset-dagruns >/dev/null 2>&1
check_eq "--reset-dagruns runs it again" success \
    "$(run_state daily_latest "backfill__$(date -u -d '-3 days' +%F)T00:00:00+00:00")"
"$GUST" dags backfill never -s 2024-01-01 -e 2024-01-02 >"$GUST_TEST_TMP/out" 2>&1
check_eq "backfill of an unscheduled DAG fails" 1 $?
check_contains "saying why" "non-periodic" "$(cat "$GUST_TEST_TMP/out")"

# --- workers: a scheduler without executor, two workers sharing the tasks
gen wide 24 24 0.3 "$GUST_DAGS_FOLDER/wide.yaml"
start_bg sched1 "$GUST" scheduler --no-executor; sched=$LAST
start_bg worker1 "$GUST" worker --concurrency 3; w1=$LAST
start_bg worker2 "$GUST" worker --concurrency 3; w2=$LAST
check "the scheduler's job heartbeats (jobs check)" wait_for 20 "$GUST" jobs check --job-type scheduler
check "a worker's job heartbeats" wait_for 20 "$GUST" jobs check --job-type worker
"$GUST" dags trigger wide -r wide1 >/dev/null
check "the run finishes through the workers" wait_for 60 run_is wide wide1 success
check_eq "every task succeeded" 24 "$(q "select count(*) from task_instance where run_id = 'wide1' and state = 'success'")"
check_eq "both workers ran tasks" 2 "$(q "select count(distinct job_id) from task_instance where run_id = 'wide1'")"
kill -TERM "$sched" "$w1" "$w2"
check "SIGTERM stops the scheduler cleanly" wait_for 40 sh -c "! kill -0 $sched 2>/dev/null"
check "SIGTERM stops the workers" wait_for 40 sh -c "! kill -0 $w1 2>/dev/null && ! kill -0 $w2 2>/dev/null"
check_contains "the scheduler says it stopped" "scheduler stopped" "$(cat "$GUST_TEST_TMP/sched1.log")"

# --- SIGHUP and new DAG files are picked up without a restart
start_bg sched2 "$GUST" scheduler; sched=$LAST
wait_for 20 "$GUST" jobs check --job-type scheduler
cat >"$GUST_DAGS_FOLDER/late.yaml" <<'YAML'
late_dag:
  tasks:
    - {task_id: hello, operator: airflow.operators.bash.BashOperator, bash_command: "echo hi"}
YAML
kill -HUP "$sched"
check "a new DAG file is recorded after SIGHUP" wait_for 20 q_is "select count(*) from dag where dag_id = 'late_dag'" 1
"$GUST" dags trigger late_dag -r late1 >/dev/null
check "and its runs are run" wait_for 30 run_is late_dag late1 success
# the loads so far: two, or one when the scheduler's first load already found late.yaml
# (then the SIGHUP found nothing changed and logged nothing)
loads=$(grep -c 'loaded' "$GUST_TEST_TMP/sched2.log")
sed -i 's/echo hi/echo changed/' "$GUST_DAGS_FOLDER/late.yaml"
cat >>"$GUST_DAGS_FOLDER/late.yaml" <<'YAML'
    - {task_id: second, operator: airflow.operators.bash.BashOperator, bash_command: "echo two", dependencies: [hello]}
YAML
picked_up() { test "$(grep -c 'loaded' "$GUST_TEST_TMP/sched2.log")" -gt "$loads"; }
check "a changed DAG file is picked up without SIGHUP" wait_for 20 picked_up
picked_up || { echo "# the scheduler's log:"; tail -n 25 "$GUST_TEST_TMP/sched2.log" | sed 's/^/#   /'; }
"$GUST" dags trigger late_dag -r late2 >/dev/null
check "the new task runs in new runs" wait_for 30 run_is late_dag late2 success
"$GUST" dags trigger late_dag -r late3 --wait >"$GUST_TEST_TMP/wait.out" 2>&1
check_eq "trigger --wait exits 0 when the scheduler ran it to success" 0 $?
check_contains "and shows the progress" "late_dag late3 second -> success" "$(cat "$GUST_TEST_TMP/wait.out")"
check_eq "with the changed command" changed "$("$GUST" tasks logs late_dag hello late2 | grep -v '^\[gust\]' | tail -1)"
kill -TERM "$sched"
wait_for 40 sh -c "! kill -0 $sched 2>/dev/null"

# --- PostgreSQL stopped for 10 s in the middle of a run
gen chain 12 1 0.5 "$GUST_DAGS_FOLDER/chain.yaml"
start_bg sched3 "$GUST" scheduler; sched=$LAST
wait_for 20 "$GUST" jobs check --job-type scheduler
"$GUST" dags trigger chain -r chain1 >/dev/null
wait_for 20 q_at_least "select count(*) from task_instance where run_id = 'chain1' and state = 'success'" 2
bindir=$(_pg_bindir)
_pg_as_owner "$bindir/pg_ctl" -D "$GUST_TEST_PGDIR/data" -m fast -w stop >/dev/null 2>&1
check_fails "the database is down" psql -X -q -c "select 1"
sleep 10 # the outage itself: the issue asks for PostgreSQL down for 10 s
_pg_as_owner "$bindir/pg_ctl" -D "$GUST_TEST_PGDIR/data" -l "$GUST_TEST_PGDIR/server.log" -W \
    -o "-k $GUST_TEST_PGDIR -h 127.0.0.1 -p $PGPORT -c fsync=off -c max_connections=200" start </dev/null >/dev/null 2>&1
check "the database is back" wait_for 30 psql -X -q -c "select 1"
check "the run completes after the outage" wait_for 90 run_is chain chain1 success
check_eq "every task of the chain succeeded" 12 "$(q "select count(*) from task_instance where run_id = 'chain1' and state = 'success'")"
check_contains "the scheduler noticed the outage" "database unreachable" "$(cat "$GUST_TEST_TMP/sched3.log")"
check_contains "and the return" "reachable again" "$(cat "$GUST_TEST_TMP/sched3.log")"
kill -TERM "$sched"
wait_for 40 sh -c "! kill -0 $sched 2>/dev/null"

# --- kill -9 the scheduler and the two workers sharing the load, at random points
kills=${CHAOS_KILLS:-20}
ntasks=${CHAOS_TASKS:-200}
gen chaos "$ntasks" 10 0.1 "$GUST_DAGS_FOLDER/chaos.yaml"
: >"$GUST_TEST_TMP/overlaps"
start_bg chaos_sched "$GUST" scheduler; sched=$LAST
start_bg chaos_worker_a "$GUST" worker --concurrency 2; worker_a=$LAST
start_bg chaos_worker_b "$GUST" worker --concurrency 2; worker_b=$LAST
wait_for 20 "$GUST" jobs check --job-type scheduler
"$GUST" dags trigger chaos -r chaos1 >/dev/null
RANDOM=42
for i in $(seq 1 "$kills"); do
    sleep "0.$((RANDOM % 9 + 1))" # a random point in the run, not a wait for a condition
    case $((i % 4)) in
    0)
        kill -9 "$worker_a" 2>/dev/null
        start_bg chaos_worker_a "$GUST" worker --concurrency 2; worker_a=$LAST
        ;;
    2)
        kill -9 "$worker_b" 2>/dev/null
        start_bg chaos_worker_b "$GUST" worker --concurrency 2; worker_b=$LAST
        ;;
    *)
        kill -9 "$sched" 2>/dev/null
        start_bg chaos_sched "$GUST" scheduler; sched=$LAST
        ;;
    esac
done
check "the run completes despite $kills kill -9s" wait_for 180 run_is chaos chaos1 success
check_eq "every task instance ended success" "$ntasks" \
    "$(q "select count(*) from task_instance where run_id = 'chaos1' and state = 'success'")"
check_eq "no two tries of a task ever overlapped" "" "$(cat "$GUST_TEST_TMP/overlaps")"
retried=$(q "select count(*) from task_instance where run_id = 'chaos1' and try_number > 1")
echo "# $retried task instances needed more than one try"
kill -TERM "$sched" "$worker_a" "$worker_b"
wait_for 40 sh -c "! kill -0 $sched 2>/dev/null && ! kill -0 $worker_a 2>/dev/null && ! kill -0 $worker_b 2>/dev/null"

# --- two schedulers and two workers on one database
gen many 500 25 0.02 "$GUST_DAGS_FOLDER/many.yaml"
: >"$GUST_TEST_TMP/overlaps"
start_bg ha_sched1 "$GUST" scheduler; s1=$LAST
start_bg ha_sched2 "$GUST" scheduler; s2=$LAST
start_bg ha_worker1 "$GUST" worker --concurrency 4; w1=$LAST
start_bg ha_worker2 "$GUST" worker --concurrency 4; w2=$LAST
wait_for 20 "$GUST" jobs check --job-type worker
"$GUST" dags trigger many -r many1 >/dev/null
check "a 500-task run completes with two schedulers and two workers" wait_for 240 run_is many many1 success
check_eq "all 500 task instances succeeded" 500 \
    "$(q "select count(*) from task_instance where run_id = 'many1' and state = 'success'")"
check_eq "each ran exactly once" 500 "$(q "select count(*) from task_instance where run_id = 'many1' and try_number = 1")"
check_eq "no overlap" "" "$(cat "$GUST_TEST_TMP/overlaps")"
check "all four processes took part" test "$(q "select count(distinct job_id) from task_instance where run_id = 'many1'")" -ge 3
kill -TERM "$s1" "$s2" "$w1" "$w2"
wait_for 40 sh -c "! kill -0 $s1 2>/dev/null && ! kill -0 $s2 2>/dev/null && ! kill -0 $w1 2>/dev/null && ! kill -0 $w2 2>/dev/null"

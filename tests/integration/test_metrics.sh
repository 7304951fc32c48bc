#!/usr/bin/env bash
# StatsD metrics from a real scheduler and worker (docs/operations.md, "Metrics"): a UDP
# listener in the test (a small python script writing every datagram's lines to a file)
# receives them under Airflow's names and settings while a DAG runs (one task succeeds, one
# fails, one holds a pool slot) beside a scheduled DAG and a DAG file that does not load:
#   - scheduler_heartbeat, SchedulerJob_start/_end, ti.start, ti.finish.<dag>.<task>.success
#     and .failed, ti_successes, ti_failures, operator_*, dag.<dag>.<task>.duration,
#     dagrun.duration.failed|success, dagrun.schedule_delay (scheduled runs only), the
#     executor.* gauges, dag_processing.import_errors and total_parse_time, pool.* gauges;
#   - every datagram is one well-formed metric whose name the statsd-exporter mapping maps;
#   - two schedulers and a worker: each state change counted once (by the process that made
#     it), WorkerJob_start from the worker;
#   - metrics off (statsd_on false with a host and port set): nothing is sent;
#   - a port nothing listens on: the run is neither broken nor slowed, nothing is logged;
#   - a bad setting stops the scheduler at start (exit 2); a host that does not resolve is
#     logged and the scheduler runs without metrics.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 47
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_metrics
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
export GUST_DAG_DIR_LIST_INTERVAL=1 GUST_LEASE_SECONDS=3
unset AIRFLOW__METRICS__STATSD_ON AIRFLOW__METRICS__STATSD_HOST AIRFLOW__METRICS__STATSD_PORT \
    AIRFLOW__METRICS__STATSD_PREFIX AIRFLOW__SCHEDULER__STATSD_ON GUST_STATSD_ON GUST_STATSD_HOST \
    GUST_STATSD_PORT GUST_STATSD_PREFIX
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
run_is() { test "$("$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1)" = "$3"; }
q_is() { test "$(q "$1")" = "$2"; }
out=$GUST_TEST_TMP/received
# got REGEX: a line received matches (anchored); count REGEX: how many
got() { grep -Eq "^$1\$" "$out"; }
count() { grep -Ec "^$1\$" "$out"; }
stop() { # stop PID...: SIGTERM, wait until gone
    kill -TERM "$@" 2>/dev/null
    for p in "$@"; do wait_for 40 sh -c "! kill -0 $p 2>/dev/null"; done
}

q "INSERT INTO slot_pool (pool, slots, description) VALUES ('two', 2, 'two at a time')"
cat >"$GUST_DAGS_FOLDER/metrics.yaml" <<'YAML'
metrics_dag:
  schedule: null
  default_args: {retries: 0}
  tasks:
    - {task_id: ok, operator: airflow.operators.bash.BashOperator, bash_command: 'echo fine'}
    - {task_id: bad, operator: airflow.operators.bash.BashOperator, bash_command: 'exit 1'}
    - {task_id: pooled, operator: airflow.operators.bash.BashOperator, pool: two, bash_command: 'true'}
every_minute:
  schedule: "* * * * *"
  start_date: 2024-01-01
  catchup: false
  tasks:
    - {task_id: tick, operator: airflow.operators.empty.EmptyOperator}
YAML
printf 'broken:\n  tasks: [\n' >"$GUST_DAGS_FOLDER/broken.yaml"

# The listener: every line of every datagram appended to $out, its port in a file.
cat >"$GUST_TEST_TMP/listen.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
with open(sys.argv[1], "a") as f:
    while True:
        data, _ = s.recvfrom(65535)
        for line in data.decode("utf-8", "replace").split("\n"):
            f.write(line + "\n")
        f.flush()
PY
: >"$out"
start_bg listener /usr/bin/python3 "$GUST_TEST_TMP/listen.py" "$out" "$GUST_TEST_TMP/port"
wait_for 10 test -s "$GUST_TEST_TMP/port"
port=$(cat "$GUST_TEST_TMP/port")
on=(env AIRFLOW__METRICS__STATSD_ON=True AIRFLOW__METRICS__STATSD_HOST=127.0.0.1
    AIRFLOW__METRICS__STATSD_PORT="$port")

# --- one scheduler, metrics on (Airflow's settings, default prefix)
t_sched=$SECONDS
start_bg sched "${on[@]}" "$GUST" scheduler; sched=$LAST
"$GUST" dags trigger metrics_dag -r m1 >/dev/null
check "the run ends (failed: one task fails)" wait_for 60 run_is metrics_dag m1 failed
check "the scheduled run of every_minute succeeds" wait_for 60 q_is \
    "select count(*) from dag_run where dag_id = 'every_minute' and state = 'success'" 1
check "scheduler_heartbeat (counter)" wait_for 20 got 'airflow\.scheduler_heartbeat:1\|c'
check "SchedulerJob_start" got 'airflow\.SchedulerJob_start:1\|c'
check "ti.start.<dag>.<task>" wait_for 10 got 'airflow\.ti\.start\.metrics_dag\.ok:1\|c'
check "ti.finish.<dag>.<task>.success" wait_for 10 got 'airflow\.ti\.finish\.metrics_dag\.ok\.success:1\|c'
check "ti.finish.<dag>.<task>.failed" wait_for 10 got 'airflow\.ti\.finish\.metrics_dag\.bad\.failed:1\|c'
check "ti_successes" got 'airflow\.ti_successes:1\|c'
check "ti_failures" got 'airflow\.ti_failures:1\|c'
check "operator_failures_<operator>" got 'airflow\.operator_failures_BashOperator:1\|c'
check "dag.<dag>.<task>.duration (timer, ms)" got 'airflow\.dag\.metrics_dag\.ok\.duration:[0-9.]+\|ms'
check "dagrun.duration.failed.<dag> (timer, ms)" \
    wait_for 10 got 'airflow\.dagrun\.duration\.failed\.metrics_dag:[0-9.]+\|ms'
check "dagrun.duration.success.<dag> for the scheduled run" \
    wait_for 10 got 'airflow\.dagrun\.duration\.success\.every_minute:[0-9.]+\|ms'
delay=$(sed -n 's/^airflow\.dagrun\.schedule_delay\.every_minute:\([0-9.]*\)|ms$/\1/p' "$out" | head -1)
check "dagrun.schedule_delay.<dag> for the scheduled run, 0 to 61 s (catchup false: the last tick)" \
    awk -v d="${delay:--1}" 'BEGIN { exit !(d >= 0 && d <= 61000) }'
check_eq "no schedule_delay for a manual run" 0 "$(count 'airflow\.dagrun\.schedule_delay\.metrics_dag:.*')"
check "executor.open_slots (gauge)" wait_for 15 got 'airflow\.executor\.open_slots:[0-9]+\|g'
check "executor.queued_tasks (gauge)" got 'airflow\.executor\.queued_tasks:0\|g'
check "executor.running_tasks (gauge)" got 'airflow\.executor\.running_tasks:[0-9]+\|g'
check "dag_processing.import_errors is 1 (broken.yaml)" wait_for 10 got 'airflow\.dag_processing\.import_errors:1\|g'
check "dag_processing.total_parse_time (gauge, seconds)" got 'airflow\.dag_processing\.total_parse_time:[0-9.]+\|g'
check "pool.open_slots.<pool> (the pool of 2, idle)" wait_for 15 got 'airflow\.pool\.open_slots\.two:2\|g'
check "pool.queued_slots and pool.running_slots" sh -c \
    "grep -Eq '^airflow\.pool\.queued_slots\.default_pool:[0-9]+\|g$' '$out' && grep -Eq '^airflow\.pool\.running_slots\.two:[0-9]+\|g$' '$out'"
# Idle, the scheduler heartbeats every lease/3 s (1 s here) and sends its gauges (and makes
# its one pool query) at most every 5 s, not at every turn of its loop.
heartbeats_at_least() { test "$(count 'airflow\.scheduler_heartbeat:1\|c')" -ge "$1"; }
check "idle: heartbeats keep coming" wait_for 30 heartbeats_at_least 10
elapsed=$((SECONDS - t_sched))
gauges=$(count 'airflow\.executor\.open_slots:.*')
pools=$(count 'airflow\.pool\.open_slots\.two:.*')
check "idle: executor gauges every ~5 s ($gauges in $elapsed s)" \
    test "$gauges" -ge 2 -a "$gauges" -le $((elapsed / 5 + 2))
check "idle: pool gauges every ~5 s ($pools in $elapsed s)" \
    test "$pools" -ge 2 -a "$pools" -le $((elapsed / 5 + 2))
stop "$sched"
check "SchedulerJob_end when it stops" wait_for 10 got 'airflow\.SchedulerJob_end:1\|c'
check_eq "every line received is one metric: airflow.<name>:<number>|c|g|ms" "" \
    "$(grep -Ev '^airflow\.[A-Za-z0-9_.-]+:-?[0-9.]+\|(c|g|ms)$' "$out" | head -3)"
cut -d: -f1 "$out" | sort -u >"$GUST_TEST_TMP/names"
/usr/bin/python3 "$GUST_SRC/tests/integration/metrics_files.py" --received "$GUST_TEST_TMP/names"

# --- two schedulers (no executor) and a worker: each change counted once
: >"$out"
start_bg sched_a "${on[@]}" "$GUST" scheduler --no-executor; sa=$LAST
start_bg sched_b "${on[@]}" "$GUST" scheduler --no-executor; sb=$LAST
start_bg worker "${on[@]}" "$GUST" worker; w=$LAST
"$GUST" dags trigger metrics_dag -r m2 >/dev/null
check "the run ends through the worker" wait_for 60 run_is metrics_dag m2 failed
check "the worker sends WorkerJob_start" wait_for 10 got 'airflow\.WorkerJob_start:1\|c'
check "the worker's tries: ti.finish ... success" wait_for 10 got 'airflow\.ti\.finish\.metrics_dag\.ok\.success:1\|c'
check "dagrun.duration.failed from the scheduler that finished the run" \
    wait_for 10 got 'airflow\.dagrun\.duration\.failed\.metrics_dag:[0-9.]+\|ms'
check "both schedulers heartbeat" wait_for 20 sh -c \
    "test \$(grep -c '^airflow\.SchedulerJob_start:1|c$' '$out') = 2"
stop "$sa" "$sb" "$w"
check_eq "each try started once (3 tasks)" 3 "$(count 'airflow\.ti\.start\.metrics_dag\..*')"
check_eq "each try's end counted once" 3 "$(count 'airflow\.ti\.finish\.metrics_dag\..*')"
check_eq "the run's end counted once (by the scheduler that won it)" 1 \
    "$(count 'airflow\.dagrun\.duration\.failed\.metrics_dag:.*')"

# --- metrics off: statsd_on false, host and port set all the same
: >"$out"
start_bg sched_off env AIRFLOW__METRICS__STATSD_ON=False AIRFLOW__METRICS__STATSD_HOST=127.0.0.1 \
    AIRFLOW__METRICS__STATSD_PORT="$port" GUST_STATSD_ON=true "$GUST" scheduler
soff=$LAST
"$GUST" dags trigger metrics_dag -r m3 >/dev/null
check "metrics off: the run ends" wait_for 60 run_is metrics_dag m3 failed
wait_for 10 "$GUST" jobs check --job-type scheduler
stop "$soff"
check_eq "metrics off: nothing was sent (Airflow's setting wins over GUST_STATSD_ON)" 0 \
    "$(grep -c . "$out")"

# --- a port nothing listens on: the run is not slowed or broken
dead=$(/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_bg sched_dead env AIRFLOW__METRICS__STATSD_ON=True AIRFLOW__METRICS__STATSD_HOST=127.0.0.1 \
    AIRFLOW__METRICS__STATSD_PORT="$dead" "$GUST" scheduler
sdead=$LAST
t0=$SECONDS
"$GUST" dags trigger metrics_dag -r m4 >/dev/null
check "a dead metrics port: the run ends as usual" wait_for 60 run_is metrics_dag m4 failed
check "and within 20 s (it took $((SECONDS - t0)) s)" test $((SECONDS - t0)) -le 20
check "the scheduler keeps heartbeating" "$GUST" jobs check --job-type scheduler --max-age 10
stop "$sdead"
check_eq "and logs nothing about metrics" "" "$(grep -Ei 'statsd|metrics:' "$GUST_TEST_TMP/sched_dead.log")"

# --- a bad setting is a usage error at start (exit 2), before anything runs
timeout 30 env AIRFLOW__METRICS__STATSD_ON=True AIRFLOW__METRICS__STATSD_PORT=80x \
    "$GUST" scheduler --num-runs 1 >"$GUST_TEST_TMP/badport.log" 2>&1
check_eq "a bad statsd port: gust scheduler exits 2" 2 $?
check_contains "and says which setting" "statsd port '80x'" "$(cat "$GUST_TEST_TMP/badport.log")"

# --- a host that does not resolve: logged once, the scheduler runs without metrics
timeout 60 env AIRFLOW__METRICS__STATSD_ON=True AIRFLOW__METRICS__STATSD_HOST=no-such-host.invalid \
    "$GUST" scheduler --num-runs 1 >"$GUST_TEST_TMP/nohost.log" 2>&1
check_eq "an unknown statsd host: the scheduler still runs (exit 0)" 0 $?
check_contains "and says it runs without metrics" "running without metrics" \
    "$(cat "$GUST_TEST_TMP/nohost.log")"

#!/usr/bin/env bash
# sensor_task, the process side of FileSensor, HttpSensor and BashSensor, run directly with
# spec files as gust's runner writes them: a file created later is seen (glob, recursive **,
# a folder only when it holds a file, the fs connection's base path), an HTTP endpoint that
# answers 404 then 200 (tests/lib/http_fixture.py) is polled until 200 and a 500 fails,
# BashSensor's exit code and env, reschedule mode (one poke, exit 98), timeouts counted from
# first_poke (100, 99 with soft_fail), SIGTERM; then a DAG (FileSensor in poke mode, then a
# Bash task) through `gust dags trigger --local`, which shows the runner writes the spec and
# runs sensor_task.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/http.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 31
ST=$(gust_bin sensor_task)
gust_tmpdir tmp
# connections from the environment only until the runner part (which has its database)
SAVED_PGHOST=${PGHOST-} SAVED_PGDATABASE=${PGDATABASE-}
unset GUST_DATABASE_URL PGHOST PGDATABASE AIRFLOW_CONN_FS_DEFAULT

# st NAME JSON: run sensor_task on that spec; RC and OUT (its log)
st() {
    printf '%s\n' "$2" >"$tmp/$1.json"
    "$ST" --spec "$tmp/$1.json" >"$tmp/$1.out" 2>&1
    RC=$?
    OUT=$(cat "$tmp/$1.out")
}
Q='"dag_id": "d", "task_id": "t", "run_id": "r"'

# --- FileSensor
mkdir -p "$tmp/in/a/b" "$tmp/in/empty/sub"
st f1 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/in/*.csv\", \"mode\": \"reschedule\"}"
check_eq "file: nothing there yet, reschedule mode exits 98 after one poke" "98 1" "$RC $(grep -c 'no file matches' "$tmp/f1.out")"
st f2 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/in/empty\", \"mode\": \"reschedule\"}"
check_eq "file: a folder with no file below it is not a match (Airflow's os.walk)" 98 "$RC"
touch "$tmp/in/empty/sub/x"
st f3 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/in/empty\", \"mode\": \"reschedule\"}"
check_eq "file: a folder with a file somewhere below it is" 0 "$RC"
(wait_for 10 grep -q "poke 2:" "$tmp/f4.out" && touch "$tmp/in/a/b/late.csv") &
st f4 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/in/**/*.csv\", \"recursive\": true, \"poke_interval\": 0.1, \"timeout\": 30}"
check_eq "file: poke mode sees a file created later, two folders down (recursive **)" 0 "$RC"
check_contains "file: the poke that met it names the file" "found $tmp/in/a/b/late.csv" "$OUT"
st f5 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/in/**/*.csv\", \"mode\": \"reschedule\"}"
check_eq "file: without recursive, ** is one folder only (no match two down)" 98 "$RC"
export AIRFLOW_CONN_FS_DATA="{\"conn_type\": \"fs\", \"extra\": {\"path\": \"$tmp/in\"}}"
st f6 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"a/b/*.csv\", \"fs_conn_id\": \"fs_data\", \"mode\": \"reschedule\"}"
check_eq "file: a relative filepath is below the fs connection's path" 0 "$RC"
st f7 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"x\", \"fs_conn_id\": \"nope\", \"mode\": \"reschedule\"}"
check_contains "file: an unknown fs connection is an error (exit 1)" "1 " "$RC $OUT"

# --- timeouts, soft_fail, first_poke
st t1 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/none\", \"poke_interval\": 0.1, \"timeout\": 0.3}"
check_eq "timeout: poke mode times out with exit 100 (not retried)" 100 "$RC"
check_contains "timeout: says so" "sensor has timed out" "$OUT"
st t2 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/none\", \"poke_interval\": 0.1, \"timeout\": 0.3, \"soft_fail\": true}"
check_eq "timeout: with soft_fail it is skipped (99)" 99 "$RC"
st t3 "{\"sensor\": \"FileSensor\", $Q, \"filepath\": \"$tmp/none\", \"mode\": \"reschedule\", \"timeout\": 60, \"first_poke\": $(($(date +%s) - 61)), \"poke_count\": 4}"
check_eq "timeout: counts from first_poke across reschedules (100, not 98)" 100 "$RC"
check_contains "timeout: the poke number goes on from poke_count" "poke 5:" "$OUT"

# --- HttpSensor
http_start "$GUST_SRC/tests/integration/sensor_dags/http"
export AIRFLOW_CONN_API="$HTTP_FIXTURE_URL"
st h1 "{\"sensor\": \"HttpSensor\", $Q, \"http_conn_id\": \"api\", \"endpoint\": \"health/2026-01-01\", \"request_params\": {\"full\": \"yes\"}, \"headers\": {\"X-Run\": \"r\"}, \"poke_interval\": 0.1, \"timeout\": 30}"
check_eq "http: 404 twice keeps poking, then 200 is done" "0 2" "$RC $(grep -c '(in response_error_codes_allowlist: keep poking)' "$tmp/h1.out")"
check_eq "http: three GETs with the params as the query and the headers" "3 3" \
    "$(grep -c '"query": "full=yes"' "$HTTP_FIXTURE_REQUESTS") $(grep -c '"X-Run": "r"' "$HTTP_FIXTURE_REQUESTS")"
st h2 "{\"sensor\": \"HttpSensor\", $Q, \"http_conn_id\": \"api\", \"endpoint\": \"/form\", \"method\": \"POST\", \"request_params\": {\"day\": \"2026-01-01\"}, \"mode\": \"reschedule\"}"
check_eq "http: POST sends request_params as a form body" 0 "$RC"
st h3 "{\"sensor\": \"HttpSensor\", $Q, \"http_conn_id\": \"api\", \"endpoint\": \"broken\", \"poke_interval\": 0.1}"
check_eq "http: a 500 fails the try (exit 1)" "1 1" "$RC $(grep -c 'error: poke 1: HTTP 500 from GET' "$tmp/h3.out")"
st h5 "{\"sensor\": \"HttpSensor\", $Q, \"http_conn_id\": \"api\", \"endpoint\": \"broken\", \"response_error_codes_allowlist\": [\"404\", \"5\"], \"mode\": \"reschedule\"}"
check_eq "http: a status in response_error_codes_allowlist keeps poking (98)" 98 "$RC"
export AIRFLOW_CONN_API_AUTH="{\"conn_type\": \"http\", \"host\": \"${HTTP_FIXTURE_URL#http://}\", \"login\": \"ann\", \"password\": \"s3cr@t\", \"extra\": {\"X-Api-Key\": \"k1\", \"timeout\": 5}}"
st h6 "{\"sensor\": \"HttpSensor\", $Q, \"http_conn_id\": \"api_auth\", \"endpoint\": \"/form\", \"method\": \"POST\", \"request_params\": {\"day\": \"2026-01-01\"}, \"mode\": \"reschedule\"}"
check_eq "http: the connection's login is basic auth, its extra headers (not its timeout)" "0 1 1 0" \
    "$RC $(grep -c "\"Authorization\": \"Basic $(printf 'ann:s3cr@t' | base64)\"" "$HTTP_FIXTURE_REQUESTS") $(grep -c '"X-Api-Key": "k1"' "$HTTP_FIXTURE_REQUESTS") $(grep -ci '"timeout": "5"' "$HTTP_FIXTURE_REQUESTS")"
st h4 "{\"sensor\": \"HttpSensor\", $Q, \"http_conn_id\": \"api\", \"endpoint\": \"broken\", \"soft_fail\": true}"
check_eq "http: an error with soft_fail is skipped (99)" 99 "$RC"

# --- BashSensor
st b1 "{\"sensor\": \"BashSensor\", $Q, \"bash_command\": \"test \\\"\$DAY\\\" = 2026 && test -z \\\"\${HOME:-}\\\" && pwd\", \"env\": {\"DAY\": \"2026\"}, \"cwd\": \"$tmp\", \"mode\": \"reschedule\"}"
check_eq "bash: exit 0 is met; env replaces the environment; cwd" "0 1" "$RC $(grep -c "^$tmp\$" "$tmp/b1.out")"
st b2 "{\"sensor\": \"BashSensor\", $Q, \"bash_command\": \"exit 3\", \"mode\": \"reschedule\"}"
check_eq "bash: another exit code is not yet (98)" 98 "$RC"

# --- SIGTERM
printf '%s\n' "{\"sensor\": \"BashSensor\", $Q, \"bash_command\": \"false\", \"poke_interval\": 30}" >"$tmp/term.json"
"$ST" --spec "$tmp/term.json" >"$tmp/term.out" 2>&1 &
pid=$!
gust_kill_at_exit $pid
wait_for 10 grep -q "poke 1:" "$tmp/term.out"
start=$SECONDS
kill -TERM $pid
wait $pid
check_eq "SIGTERM ends the wait between pokes at once (exit 1)" "1 0" "$? $(((SECONDS - start) / 5))"
"$ST" --spec "$tmp/missing.json" >/dev/null 2>&1
check_eq "a missing spec is exit 100" 100 $?

# --- through the runner: FileSensor (poke mode), then a Bash task
[ -n "$SAVED_PGHOST" ] && export PGHOST=$SAVED_PGHOST
[ -n "$SAVED_PGDATABASE" ] && export PGDATABASE=$SAVED_PGDATABASE
pg_gust_db gust_sensor_task
mkdir -p "$tmp/dags" "$tmp/drop/s1"
cp "$GUST_SRC/tests/integration/sensor_dags/sensor_flow.yaml" "$tmp/dags/"
export GUST_DAGS_FOLDER=$tmp/dags GUST_LOGS_FOLDER=$tmp/logs
spec=$tmp/logs/dag_id=sensor_flow/run_id=s1/task_id=wait_file/attempt=1.sensor.json
(wait_for 30 test -f "$spec" && echo hello >"$tmp/drop/s1/x.ready") &
"$GUST" dags trigger sensor_flow --local -r s1 -c "{\"dir\": \"$tmp/drop\"}" >"$tmp/run.out" 2>&1
check_eq "the run with the sensor succeeds" success "$("$GUST" dags state sensor_flow s1 | cut -d, -f1)"
check_eq "the sensor and the task after it succeed" "success success" \
    "$("$GUST" tasks state sensor_flow wait_file s1) $("$GUST" tasks state sensor_flow read_it s1)"
check_eq "the sensor's spec has the rendered filepath and its mode" "$tmp/drop/s1/*.ready poke 0" \
    "$(/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["filepath"], s["mode"], s["poke_count"])' "$spec")"

# --- reschedule mode through the runner: the first poke exits 98, a later one finds the file
mkdir -p "$tmp/drop/s2"
log=$tmp/logs/dag_id=sensor_resched/run_id=s2/task_id=wait_file/attempt=1.log
(wait_for 30 grep -q "not met yet" "$log" && echo hi >"$tmp/drop/s2/y.ready") &
"$GUST" dags trigger sensor_resched --local -r s2 -c "{\"dir\": \"$tmp/drop\"}" >"$tmp/run2.out" 2>&1
check_eq "reschedule mode: the run succeeds" success "$("$GUST" dags state sensor_resched s2 | cut -d, -f1)"
check_eq "reschedule mode: the sensor and the task after it succeed" "success success" \
    "$("$GUST" tasks state sensor_resched wait_file s2) $("$GUST" tasks state sensor_resched read_it s2)"
check "reschedule mode: a poke exited 98 (not yet) before the one that met it" \
    grep -q "not met yet: next poke in 1s (reschedule)" "$log"

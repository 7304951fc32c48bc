#!/usr/bin/env bash
# Sensors at their edges, run by the scheduler against a real PostgreSQL, black-box through
# gust's CLI and the metadata tables (tests/integration/sensor_edge_dags/run/edge.yaml); what
# tests/integration/test_sensors.sh covers is not repeated:
# - HttpSensor in reschedule mode against the HTTP fixture (404, 404, 200): the rendered
#   endpoint, headers and request params, a connection from AIRFLOW_CONN_<ID>; a 500 is an
#   error, retried;
# - BashSensor in both modes (exit 0 met, others not yet) with env and cwd;
# - SqlSensor in both modes (a row inserted later), its timeout not retried;
# - exponential_backoff's growing intervals capped by max_wait (from task_reschedule);
# - ExternalTaskSensor: execution_delta, external_task_ids, external_task_group_id,
#   skipped_states, allowed_states of the DAG run;
# - DateTimeSensor with a templated target_time, TimeSensor, deferrable: true as reschedule;
# - `gust tasks clear` of a waiting and of a timed-out sensor (a new first poke);
# - dagrun_timeout while sensors wait in up_for_reschedule;
# - the database stopped while sensors wait, then back: they resume;
# - Python-only arguments are load errors at their key.
# A check marked "BUG:" shows a known defect: it fails until gust is fixed.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 52
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
T=$GUST_TEST_TMP
DAGS=$GUST_SRC/tests/integration/sensor_edge_dags
pg_gust_db gust_sensors_edge
export GUST_DAGS_FOLDER=$DAGS/run
export GUST_LOGS_FOLDER=$T/logs
export GUST_LEASE_SECONDS=3 GUST_DAG_DIR_LIST_INTERVAL=1
q() { psql -X -q -At -c "$1"; }
q_is() { test "$(q "$1")" = "$2"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
run_ended() { case $(run_state "$1" "$2") in success | failed) return 0 ;; esac; return 1; }
state_of() { "$GUST" tasks state "$1" "$2" "$3" 2>/dev/null; }
state_is() { test "$(state_of "$1" "$2" "$3")" = "$4"; }
ti() { q "select $3 from task_instance where run_id = '$1' and task_id = '$2'"; }
reschedules() { q "select count(*) from task_reschedule where run_id = '$1' and task_id = '$2'"; }
epoch() { q "select extract(epoch from $3) from task_instance where run_id = '$1' and task_id = '$2'"; }
sched=
start_sched() {
    GUST_PARALLELISM=4 "$GUST" scheduler >>"$T/sched.log" 2>&1 &
    sched=$!
    gust_kill_at_exit "$sched"
}

# --- load errors: Python-only arguments, at their key
errs=$(GUST_DAGS_FOLDER=$DAGS/bad "$GUST" dags list-import-errors 2>&1)
check_contains "response_check is a load error at its key" "python.yaml:9:7: error: task 'check': key 'response_check'" "$errs"
check_contains "execution_date_fn is a load error at its key" "python.yaml:13:7: error: task 'date_fn': key 'execution_date_fn'" "$errs"
check_contains "PythonSensor (python_callable) is refused at its operator" "python.yaml:15:17: error: task 'callable': unsupported operator" "$errs"
"$GUST" dags list-import-errors >"$T/errs" 2>&1
check_contains "the edge DAGs load without import errors" "No import errors" "$(cat "$T/errs")"

# --- fixtures and connections
http_start "$DAGS/http" || exit 1
export AIRFLOW_CONN_FIXTURE_HTTP=$HTTP_FIXTURE_URL
export AIRFLOW_CONN_PG_EDGE="postgresql://$PGUSER@127.0.0.1:$PGPORT/$PGDATABASE"
q "create table edge_flag (run_id text)"
mkdir -p "$T/bash" "$T/clock" "$T/outage"
start_sched
wait_for 20 "$GUST" jobs check --job-type scheduler

at=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%S+00:00)
"$GUST" dags trigger http_edge -r h1 -l 2026-03-01T00:00:00+00:00 >/dev/null
"$GUST" dags trigger bash_edge -r b1 -c "{\"dir\": \"$T/bash\"}" >/dev/null
"$GUST" dags trigger sql_edge -r s1 >/dev/null
"$GUST" dags trigger backoff -r bo1 >/dev/null
"$GUST" dags trigger ext_down -r d1 -l 2026-04-01T01:00:00+00:00 >/dev/null
"$GUST" dags trigger ext_down -r d2 -l 2026-04-02T01:00:00+00:00 >/dev/null
"$GUST" dags trigger clock_edge -r k1 -c "{\"dir\": \"$T/clock\", \"at\": \"$at\"}" >/dev/null
"$GUST" dags trigger clearing -r cl1 >/dev/null
"$GUST" dags trigger run_timeout -r rt1 >/dev/null
"$GUST" dags trigger file_timeout -r ft1 >/dev/null

# --- HttpSensor: 404 keeps poking, 200 is done; 500 is an error (retried once)
wait_for 60 run_ended http_edge h1
check_eq "HttpSensor in reschedule mode succeeds after 404, 404, 200" success "$(state_of http_edge wait_status h1)"
reqs=$(/usr/bin/python3 - "$HTTP_FIXTURE_REQUESTS" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
st = [r for r in rs if r["path"].startswith("/status/")]
print(len(st), sorted({r["path"] for r in st}), sorted({r["headers"].get("X-Run", r["headers"].get("x-run", "-")) for r in st}),
      sorted({r["query"] for r in st}), len([r for r in rs if r["path"] == "/broken"]))
PY
)
check_eq "the fixture saw 3 requests on the rendered endpoint, with the rendered header and query, and 2 on /broken (a try and its retry)" \
    "3 ['/status/2026-03-01'] ['h1'] ['day=20260301'] 2" "$reqs"
check_eq "it waited in up_for_reschedule between them (2 reschedules)" 2 "$(reschedules h1 wait_status)"
check_eq "a 500 is an error: failed after its retry (try 2)" "failed 2" \
    "$(state_of http_edge broken h1) $(ti h1 broken try_number)"
check_contains "the log names the status" "500" "$("$GUST" tasks logs http_edge broken h1 2>&1)"

# --- BashSensor: exit 0 met, anything else not yet; env and cwd
check "the reschedule BashSensor pokes (it wrote its line)" wait_for 30 test -s "$T/bash/resched.out"
check "the poke BashSensor pokes" wait_for 30 test -s "$T/bash/poked.out"
sleep 2
check_eq "both wait while the command exits non-zero" "up_for_reschedule running" \
    "$(state_of bash_edge resched b1) $(state_of bash_edge poked b1)"
touch "$T/bash/bash.flag"
wait_for 60 run_ended bash_edge b1
check_eq "both BashSensors succeed once it exits 0" "success success" \
    "$(state_of bash_edge resched b1) $(state_of bash_edge poked b1)"
check_eq "cwd and the rendered env were honoured (reschedule)" "/usr/bin m-b1" "$(sort -u "$T/bash/resched.out")"
check_eq "cwd and the rendered env were honoured (poke)" "/usr/lib p-b1" "$(sort -u "$T/bash/poked.out")"
check "reschedule mode: one poke per process, task_reschedule rows" test "$(reschedules b1 resched)" -ge 1
check "poke mode: several pokes in one process, no task_reschedule rows" \
    test "$(wc -l <"$T/bash/poked.out")" -ge 2 -a "$(reschedules b1 poked)" = 0

# --- SqlSensor: a row inserted later
wait_for 30 state_is sql_edge poked s1 running
sleep 3
check_eq "the SqlSensors wait while the count is 0" "running" "$(state_of sql_edge poked s1)"
# BUG: sql_task ignores the spec's mode: a SqlSensor in reschedule mode loops in one process
# (holding its slot, state running) instead of poking once and exiting 98 (up_for_reschedule).
check_eq "a reschedule-mode SqlSensor waits in up_for_reschedule, not running" up_for_reschedule \
    "$(state_of sql_edge resched s1)"
q "insert into edge_flag values ('s1')"
wait_for 60 sh -c "test \"\$(\"$GUST\" tasks state sql_edge resched s1 2>/dev/null)\" = success -a \"\$(\"$GUST\" tasks state sql_edge poked s1 2>/dev/null)\" = success"
check_eq "both SqlSensors succeed once the row exists" "success success" \
    "$(state_of sql_edge resched s1) $(state_of sql_edge poked s1)"
# BUG: same cause: no task_reschedule rows for the reschedule-mode SqlSensor.
check "the reschedule-mode SqlSensor was rescheduled between pokes" test "$(reschedules s1 resched)" -ge 1
wait_for 30 run_ended sql_edge s1
# BUG: sql_task exits 1 on a sensor timeout (an ordinary error, so retried) where the sensor
# contract (and Airflow's AirflowSensorTimeout) says failed at once: exit 100, never retried.
check_eq "a SqlSensor timeout fails it without retry, though retries remain (try 1)" "failed 1" \
    "$(state_of sql_edge never s1) $(ti s1 never try_number)"

# --- a reschedule-mode process sensor's timeout is not retried
wait_for 30 run_ended file_timeout ft1
check_eq "a reschedule FileSensor timed out: failed at try 1 though retries: 2" "failed 1" \
    "$(state_of file_timeout never ft1) $(ti ft1 never try_number)"
check "it timed out about 2 s after its first poke" \
    q_is "select extract(epoch from end_date - first_poke) between 2 and 5 from task_instance
          where run_id = 'ft1' and task_id = 'never'" t

# --- ExternalTaskSensor
wait_for 20 state_is ext_down both d1 up_for_reschedule
"$GUST" dags trigger ext_up -r u_same -l 2026-04-01T01:00:00+00:00 >/dev/null
wait_for 30 run_ended ext_up u_same
sleep 3
check_eq "execution_delta: a run of the external DAG at our own logical date does not count" \
    "up_for_reschedule up_for_reschedule up_for_reschedule" \
    "$(state_of ext_down both d1) $(state_of ext_down group d1) $(state_of ext_down run_ended d1)"
"$GUST" dags trigger ext_up -r u1 -l 2026-04-01T00:00:00+00:00 >/dev/null
"$GUST" dags trigger ext_up -r u2 -l 2026-04-02T00:00:00+00:00 -c '{"rc": 1}' >/dev/null
wait_for 60 run_ended ext_down d1
check_eq "external_task_ids [a, b] one hour earlier: success" success "$(state_of ext_down both d1)"
check_eq "external_task_group_id tg: success" success "$(state_of ext_down group d1)"
check "the group sensor ended after the group's slow task g2" \
    q_is "select s.end_date >= g.end_date from task_instance s, task_instance g
          where s.run_id = 'd1' and s.task_id = 'group' and g.run_id = 'u1' and g.task_id = 'tg.g2'" t
check_eq "skipped_states [skipped]: the sensor is skipped when its task is" skipped "$(state_of ext_down skip d1)"
check_eq "the DAG run (no task ids) in allowed_states: success" success "$(state_of ext_down run_ended d1)"
wait_for 60 state_is ext_down run_ended d2 success
check_eq "allowed_states [success, failed]: a failed external run satisfies it" \
    "failed success" "$(run_state ext_up u2) $(state_of ext_down run_ended d2)"
check_eq "while the sensor on a failed task (no failed_states) keeps waiting" up_for_reschedule \
    "$(state_of ext_down both d2)"

# --- time sensors, deferrable
wait_for 30 state_is clock_edge midnight k1 success
check_eq "TimeSensor 00:00 is met at once (the time of day is past)" success "$(state_of clock_edge midnight k1)"
check "deferrable: true on a FileSensor waits in reschedule mode" \
    wait_for 20 sh -c "test \"\$(psql -X -q -At -c \"select count(*) from task_reschedule where run_id = 'k1' and task_id = 'deferred'\")\" -ge 1"
touch "$T/clock/deferred.flag"
wait_for 60 run_ended clock_edge k1
check_eq "DateTimeSensor with a templated target_time succeeds" success "$(state_of clock_edge at k1)"
check "it ended at or after the rendered target ($at)" \
    q_is "select end_date >= '$at'::timestamptz from task_instance where run_id = 'k1' and task_id = 'at'" t
check_eq "a time sensor is one timer: one reschedule though poke_interval is an hour" 1 "$(reschedules k1 at)"
check_eq "the deferred FileSensor succeeds once its file exists" success "$(state_of clock_edge deferred k1)"

# --- exponential_backoff and max_wait (intervals measured from task_reschedule)
wait_for 40 run_ended backoff bo1
gaps=$(q "select string_agg(round(extract(epoch from reschedule_date - end_date)::numeric, 2)::text, ' ' order by id)
          from task_reschedule where run_id = 'bo1'")
check_eq "the backoff sensor timed out" failed "$(state_of backoff grow bo1)"
check "the intervals grow: the first below 2 s, a later one at least 2 s ($gaps)" \
    /usr/bin/python3 -c 'import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(not (len(g) >= 3 and g[0] < 2 and max(g[1:]) >= 2))' $gaps
check "max_wait 4 caps them ($gaps)" \
    /usr/bin/python3 -c 'import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(not (g and max(g) <= 4.05))' $gaps

# --- dagrun_timeout while sensors wait
wait_for 40 run_ended run_timeout rt1
check_eq "dagrun_timeout fails the run" failed "$(run_state run_timeout rt1)"
check_eq "its waiting sensors are skipped, as Airflow does for unfinished tasks" "skipped skipped" \
    "$(state_of run_timeout waiting rt1) $(state_of run_timeout file_waiting rt1)"

# --- clear: a waiting sensor pokes again from scratch; a timed-out one runs again
wait_for 20 state_is clearing waiting cl1 up_for_reschedule
sleep 3
fp1=$(epoch cl1 waiting first_poke)
cleared=$(date +%s.%N)
"$GUST" tasks clear clearing -t '^waiting$' --run-id cl1 -y >/dev/null 2>&1
wait_for 40 run_ended clearing cl1
check_eq "a cleared waiting sensor runs again and times out" failed "$(state_of clearing waiting cl1)"
check "its first poke was reset by the clear (after $cleared, not $fp1)" \
    q_is "select extract(epoch from first_poke) > $cleared from task_instance where run_id = 'cl1' and task_id = 'waiting'" t
check "its timeout counted from the new first poke (6 s)" \
    q_is "select extract(epoch from end_date - first_poke) between 6 and 8 from task_instance
          where run_id = 'cl1' and task_id = 'waiting'" t
cleared2=$(date +%s.%N)
"$GUST" tasks clear clearing -t '^waiting$' --run-id cl1 -y >/dev/null 2>&1
check "a cleared timed-out sensor runs again" wait_for 20 sh -c \
    "test \"\$(\"$GUST\" tasks state clearing waiting cl1 2>/dev/null)\" = up_for_reschedule"
wait_for 40 run_ended clearing cl1
check "and times out again, 6 s after a first poke after that clear" \
    q_is "select state = 'failed' and extract(epoch from first_poke) > $cleared2 and
                 extract(epoch from end_date - first_poke) between 6 and 8
          from task_instance where run_id = 'cl1' and task_id = 'waiting'" t

# --- the database goes away while sensors wait, then comes back
"$GUST" dags trigger outage_edge -r o1 -l 2026-05-01T00:00:00+00:00 -c "{\"dir\": \"$T/outage\"}" >/dev/null
wait_for 30 sh -c "test \"\$(\"$GUST\" tasks state outage_edge file o1 2>/dev/null)\" = up_for_reschedule -a \
    \"\$(\"$GUST\" tasks state outage_edge ext o1 2>/dev/null)\" = up_for_reschedule"
pg_down
check_fails "the database is down" psql -X -q -c "select 1"
sleep 5
down_until=$(date +%s.%N)
pg_up
check "the database is back" psql -X -q -c "select 1"
check "the scheduler is alive" kill -0 "$sched"
sleep 4 # both poke again (and reschedule) with the database back
touch "$T/outage/outage.flag"
"$GUST" dags trigger ext_up -r u3 -l 2026-05-01T00:00:00+00:00 >/dev/null
wait_for 90 run_ended outage_edge o1
check_eq "after the outage both sensors resume and succeed" "success success" \
    "$(state_of outage_edge file o1) $(state_of outage_edge ext o1)"
check "they poked after the outage" \
    q_is "select count(distinct task_id) from task_reschedule where run_id = 'o1' and start_date > to_timestamp($down_until)" 2
check_eq "the FileSensor kept its try (1)" 1 "$(ti o1 file try_number)"

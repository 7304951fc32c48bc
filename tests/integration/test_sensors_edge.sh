#!/usr/bin/env bash
# Sensors at their edges, run by the scheduler against a real PostgreSQL, black-box through
# gust's CLI and the metadata tables (tests/integration/sensor_edge_dags/run/*.yaml); what
# tests/integration/test_sensors.sh covers is not repeated:
# - HttpSensor against the HTTP fixture (tests/lib/http_fixture.py): 404, 404, 200 in
#   reschedule mode with the rendered endpoint, headers and request params; POST with a form
#   body, basic auth and extra headers from an AIRFLOW_CONN_<ID> URI; a connection from the
#   metadata database; a 500 is an error (retried); extra_options timeout and check_response;
#   a retry keeps the first poke in reschedule mode, gets a fresh timeout in poke mode;
# - BashSensor in both modes (exit 0 met, others not yet) with env, cwd, or the inherited
#   environment;
# - SqlSensor in both modes (a row inserted later), its timeout not retried;
# - exponential_backoff's growing intervals capped by max_wait, in both modes;
# - FileSensor below an fs connection's base path (glob, folder, recursive **); a timeout with
#   retries left, with soft_fail, with a poke_interval longer than the timeout;
# - ExternalTaskSensor: execution_delta (seconds, timedelta, negative), templated
#   external_task_ids, external_task_group_id, skipped_states, soft_fail, check_existence of a
#   task, allowed_states of the DAG run;
# - DateTimeSensor (templated, with an offset, unparsable), TimeSensor in the DAG's zone,
#   deferrable: true as reschedule;
# - `gust tasks clear` of a waiting and of a timed-out sensor (a new first poke, poke count);
# - dagrun_timeout while sensors wait; a paused DAG's sensors; the database stopped while
#   sensors wait, then back; `gust dags test` with sensors;
# - Python-only arguments are load errors at their key.
# run.sh: alone (it stops the shared PostgreSQL cluster for an outage: tests/run.sh runs it
# with no other test running)
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 94
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
# wstate DAG TASK RUN: the state, "waiting" for any state a sensor passes through between pokes
wstate() {
    local st
    st=$(state_of "$1" "$2" "$3")
    case $st in up_for_reschedule | scheduled | queued | running) echo waiting ;; *) echo "$st" ;; esac
}
ti() { q "select $3 from task_instance where run_id = '$1' and task_id = '$2'"; }
reschedules() { q "select count(*) from task_reschedule where run_id = '$1' and task_id = '$2'"; }
epoch() { q "select extract(epoch from $3) from task_instance where run_id = '$1' and task_id = '$2'"; }
sched=
start_sched() {
    GUST_PARALLELISM=8 "$GUST" scheduler >>"$T/sched.log" 2>&1 &
    sched=$!
    gust_kill_at_exit "$sched"
}

# --- load errors: Python-only arguments, at their key
errs=$(GUST_DAGS_FOLDER=$DAGS/bad "$GUST" dags list-import-errors 2>&1)
check_contains "response_check is a load error at its key" "python.yaml:9:7: error: task 'check': key 'response_check'" "$errs"
check_contains "execution_date_fn is a load error at its key" "python.yaml:13:7: error: task 'date_fn': key 'execution_date_fn'" "$errs"
check_contains "PythonSensor (python_callable) is refused at its operator" "python.yaml:15:17: error: task 'callable': unsupported operator" "$errs"
"$GUST" dags list-import-errors >"$T/errs" 2>&1
check_eq "the edge DAGs load without import errors" "" "$(grep 'edge.yaml' "$T/errs")"
# A negative execution_delta looks at a later run (Airflow: logical date - delta, any
# timedelta); it was once refused at load.
check_eq "a negative execution_delta loads (Airflow takes any timedelta)" "" "$(grep 'ext_ahead.yaml' "$T/errs")"

# --- fixtures and connections
http_start "$DAGS/http" || exit 1
export AIRFLOW_CONN_FIXTURE_HTTP=$HTTP_FIXTURE_URL
export AIRFLOW_CONN_FIXTURE_AUTH="http://alice:s3cret@${HTTP_FIXTURE_URL#http://}/?X-Extra=yes"
export AIRFLOW_CONN_PG_EDGE="postgresql://$PGUSER@127.0.0.1:$PGPORT/$PGDATABASE"
export AIRFLOW_CONN_FS_EDGE="{\"conn_type\": \"fs\", \"extra\": {\"path\": \"$T/fs\"}}"
export EDGE_INHERITED=yes
"$GUST" connections add fixture_in_db --conn-uri "$HTTP_FIXTURE_URL" >/dev/null
q "create table edge_flag (run_id text)"
mkdir -p "$T/bash" "$T/clock" "$T/outage" "$T/backoff" "$T/fs/folder/a"
start_sched
wait_for 20 "$GUST" jobs check --job-type scheduler

at=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%S+00:00)
at5=$(TZ=Etc/GMT-5 date -d '+5 seconds' +%Y-%m-%dT%H:%M:%S+05:00)
"$GUST" dags trigger http_edge -r h1 -l 2026-03-01T00:00:00+00:00 >/dev/null
"$GUST" dags trigger bash_edge -r b1 -c "{\"dir\": \"$T/bash\"}" >/dev/null
"$GUST" dags trigger sql_edge -r s1 >/dev/null
"$GUST" dags trigger backoff -r bo1 -c "{\"dir\": \"$T/backoff\"}" >/dev/null
"$GUST" dags trigger ext_down -r d1 -l 2026-04-01T01:00:00+00:00 >/dev/null
"$GUST" dags trigger ext_down -r d2 -l 2026-04-02T01:00:00+00:00 >/dev/null
"$GUST" dags trigger clock_edge -r k1 -c "{\"dir\": \"$T/clock\", \"at\": \"$at\", \"at5\": \"$at5\"}" >/dev/null
"$GUST" dags trigger fs_edge -r fs1 >/dev/null
"$GUST" dags trigger ext_ahead -r ah1 -l 2026-06-01T00:00:00+00:00 >/dev/null 2>&1
# TimeSensor "12:00" in UTC+14 and UTC-12: what each should be now (Airflow: local time > target)
exp_noon() { test "$(TZ=$1 date +%H%M%S)" -gt 120000 && echo success || echo up_for_reschedule; }
tz_before="$(exp_noon Etc/GMT-14) $(exp_noon Etc/GMT+12)"
"$GUST" dags trigger tz_east -r tze1 >/dev/null
"$GUST" dags trigger tz_west -r tzw1 >/dev/null
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
check_eq "the fixture saw 3 requests on the rendered endpoint, with the rendered header and query, and 3 on /broken (a try, its retry, the unchecked sensor)" \
    "3 ['/status/2026-03-01'] ['h1'] ['day=20260301'] 3" "$reqs"
check_eq "it waited in up_for_reschedule between them (2 reschedules)" 2 "$(reschedules h1 wait_status)"
check_eq "a 500 is an error: failed after its retry (try 2)" "failed 2" \
    "$(state_of http_edge broken h1) $(ti h1 broken try_number)"
check_contains "the log names the status" "500" "$("$GUST" tasks logs http_edge broken h1 2>&1)"
check_eq "a reschedule sensor erroring (500) then timing out: failed at try 2" "failed 2" \
    "$(state_of http_edge flaky h1) $(ti h1 flaky try_number)"
check "the retry kept the first poke: the timeout (6 s) counts from the first try's first poke" \
    q_is "select extract(epoch from ti.end_date - ti.first_poke) between 6 and 8 and
                 ti.first_poke <= (select min(start_date) from task_reschedule r
                                   where r.run_id = 'h1' and r.task_id = 'flaky')
          from task_instance ti where run_id = 'h1' and task_id = 'flaky'" t
check_eq "a poke-mode sensor erroring (500) after 3 pokes, then timing out: failed at try 2" "failed 2" \
    "$(state_of http_edge flaky_poke h1) $(ti h1 flaky_poke try_number)"
# Airflow's poke mode times each try from its own start (run_duration from time.monotonic() in
# execute); only reschedule mode counts from the first try's first poke.
check "in poke mode the retry gets the whole timeout again: try 2 ran at least 5 s of its 6" \
    q_is "select extract(epoch from end_date - start_date) >= 5 from task_instance
          where run_id = 'h1' and task_id = 'flaky_poke'" t
check_eq "a connection from the metadata database (gust connections add) works too" success "$(state_of http_edge db_conn h1)"
check_eq "extra_options timeout 1 s against an answer after 4 s: an error, failed" failed "$(state_of http_edge slow h1)"
check_eq "extra_options check_response false: a 500 is met" success "$(state_of http_edge unchecked h1)"
post=$(/usr/bin/python3 - "$HTTP_FIXTURE_REQUESTS" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
p = [r for r in rs if r["path"] == "/submit"]
h = {k.lower(): v for k, v in (p[0]["headers"] if p else {}).items()}
print(len(p), p[0]["method"] if p else "-", p[0]["body"] if p else "-", h.get("authorization"), h.get("x-extra"))
PY
)
check_eq "POST: request_params as the form body, the connection's login as basic auth, its extra as headers" \
    "1 POST day=2026-03-01&n=2 Basic YWxpY2U6czNjcmV0 yes" "$post"
check_eq "and the POST sensor succeeded on 201" success "$(state_of http_edge post h1)"

# --- BashSensor: exit 0 met, anything else not yet; env and cwd
check "the reschedule BashSensor pokes (it wrote its line)" wait_for 30 test -s "$T/bash/resched.out"
check "the poke BashSensor pokes" wait_for 30 test -s "$T/bash/poked.out"
sleep 2
next_poke_of() {
    "$GUST" tasks states-for-dag-run "$1" "$2" -o json 2>/dev/null | /usr/bin/python3 -c 'import json,sys
r=[x for x in json.load(sys.stdin) if x["task_id"]==sys.argv[1]][0]
print(r["state"], "yes" if r["next_poke"] else "no")' "$3"
}
shows_next_poke() { test "$(next_poke_of "$@")" = "up_for_reschedule yes"; }
check "states-for-dag-run shows a process sensor's next poke" wait_for 10 shows_next_poke bash_edge b1 resched
check_eq "both wait while the command exits non-zero (the poke-mode one in one running process)" "waiting running" \
    "$(wstate bash_edge resched b1) $(state_of bash_edge poked b1)"
touch "$T/bash/bash.flag"
wait_for 60 run_ended bash_edge b1
check_eq "both BashSensors succeed once it exits 0" "success success" \
    "$(state_of bash_edge resched b1) $(state_of bash_edge poked b1)"
check_eq "cwd and the rendered env were honoured (reschedule)" "/usr/bin m-b1" "$(sort -u "$T/bash/resched.out")"
check_eq "cwd and the rendered env were honoured (poke)" "/usr/lib p-b1" "$(sort -u "$T/bash/poked.out")"
check "reschedule mode: one poke per process, task_reschedule rows" test "$(reschedules b1 resched)" -ge 1
check_eq "without env a BashSensor inherits the environment (Airflow's env=None)" yes "$(cat "$T/bash/inherit.out" 2>&1)"
check "poke mode: several pokes in one process, no task_reschedule rows" \
    test "$(wc -l <"$T/bash/poked.out")" -ge 2 -a "$(reschedules b1 poked)" = 0

# --- SqlSensor: a row inserted later
wait_for 30 state_is sql_edge poked s1 running
sleep 3
check_eq "the SqlSensors wait while the count is 0" "running" "$(state_of sql_edge poked s1)"
# A SqlSensor in reschedule mode pokes once and exits 98 (up_for_reschedule), not one process
# holding its slot (sql_task once ignored the spec's mode). A look at one instant may fall on
# a poke (running for a moment): it must be seen waiting between pokes.
check "a reschedule-mode SqlSensor waits in up_for_reschedule, not running" \
    wait_for 15 state_is sql_edge resched s1 up_for_reschedule
q "insert into edge_flag values ('s1')"
wait_for 60 sh -c "test \"\$(\"$GUST\" tasks state sql_edge resched s1 2>/dev/null)\" = success -a \"\$(\"$GUST\" tasks state sql_edge poked s1 2>/dev/null)\" = success"
check_eq "both SqlSensors succeed once the row exists" "success success" \
    "$(state_of sql_edge resched s1) $(state_of sql_edge poked s1)"
# and its reschedules are task_reschedule rows.
check "the reschedule-mode SqlSensor was rescheduled between pokes" test "$(reschedules s1 resched)" -ge 1
wait_for 30 run_ended sql_edge s1
# A SqlSensor timeout fails at once, never retried (exit 100, Airflow's AirflowSensorTimeout),
# not exit 1 (retried) as sql_task once did.
check_eq "a SqlSensor timeout fails it without retry, though retries remain (try 1)" "failed 1" \
    "$(state_of sql_edge never s1) $(ti s1 never try_number)"

# --- a reschedule-mode process sensor's timeout is not retried
wait_for 30 run_ended file_timeout ft1
check_eq "a reschedule FileSensor timed out: failed at try 1 though retries: 2" "failed 1" \
    "$(state_of file_timeout never ft1) $(ti ft1 never try_number)"
check "it timed out about 2 s after its first poke" \
    q_is "select extract(epoch from end_date - first_poke) between 2 and 5 from task_instance
          where run_id = 'ft1' and task_id = 'never'" t
check "poke_interval an hour, timeout 3 s: the last poke comes at the timeout, not an hour later" \
    wait_for 30 state_is file_timeout long_interval ft1 failed
check "it timed out 3 s after its first poke" \
    q_is "select extract(epoch from end_date - first_poke) between 3 and 5 from task_instance
          where run_id = 'ft1' and task_id = 'long_interval'" t
check_eq "with soft_fail a reschedule-mode process sensor's timeout is skipped, and so is what follows" \
    "skipped skipped 1" "$(state_of file_timeout never_soft ft1) $(state_of file_timeout after_soft ft1) $(ti ft1 never_soft try_number)"

# --- ExternalTaskSensor
wait_for 20 state_is ext_down both d1 up_for_reschedule
"$GUST" dags trigger ext_up -r u_same -l 2026-04-01T01:00:00+00:00 >/dev/null
wait_for 30 run_ended ext_up u_same
sleep 3
check_eq "execution_delta: a run of the external DAG at our own logical date does not count" \
    "waiting waiting waiting" \
    "$(wstate ext_down both d1) $(wstate ext_down group d1) $(wstate ext_down run_ended d1)"
"$GUST" dags trigger ext_up -r u1 -l 2026-04-01T00:00:00+00:00 >/dev/null
"$GUST" dags trigger ext_up -r u2 -l 2026-04-02T00:00:00+00:00 -c '{"rc": 1}' >/dev/null
"$GUST" dags trigger ext_up -r u_ahead -l 2026-06-01T01:00:00+00:00 >/dev/null
wait_for 60 run_ended ext_down d1
check_eq "external_task_ids [a, b] one hour earlier: success" success "$(state_of ext_down both d1)"
check_eq "external_task_group_id tg: success" success "$(state_of ext_down group d1)"
check "the group sensor ended after the group's slow task g2" \
    q_is "select s.end_date >= g.end_date from task_instance s, task_instance g
          where s.run_id = 'd1' and s.task_id = 'group' and g.run_id = 'u1' and g.task_id = 'tg.g2'" t
check_eq "skipped_states [skipped]: the sensor is skipped when its task is" skipped "$(state_of ext_down skip d1)"
check_eq "check_existence: a task missing from the external DAG fails the sensor" failed "$(state_of ext_down ghost_task d1)"
check_contains "and its log names it" "'nope' does not exist" "$("$GUST" tasks logs ext_down ghost_task d1 2>&1)"
check_eq "the DAG run (no task ids) in allowed_states: success" success "$(state_of ext_down run_ended d1)"
wait_for 60 state_is ext_down run_ended d2 success
check_eq "allowed_states [success, failed]: a failed external run satisfies it" \
    "failed success" "$(run_state ext_up u2) $(state_of ext_down run_ended d2)"
check_eq "soft_fail with failed_states: the external task succeeded, then failed" "success skipped" \
    "$(state_of ext_down soft_failed d1) $(state_of ext_down soft_failed d2)"
check_eq "while the sensor on a failed task (no failed_states) keeps waiting" waiting \
    "$(wstate ext_down both d2)"

check "execution_delta -1 h: the sensor sees the run an hour later" wait_for 30 state_is ext_ahead later ah1 success

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
check_eq "a target_time that renders to no date fails the sensor" failed "$(state_of clock_edge bad_target k1)"
check_contains "its log says why" "target_time" "$("$GUST" tasks logs clock_edge bad_target k1 2>&1)"
check_eq "a target_time with an offset (+05:00) is that instant" success "$(state_of clock_edge at_offset k1)"
check "it ended at or after it, not hours later" \
    q_is "select end_date >= '$at5'::timestamptz and end_date < '$at5'::timestamptz + interval '1 minute'
          from task_instance where run_id = 'k1' and task_id = 'at_offset'" t
check_eq "a time sensor is one timer: one reschedule though poke_interval is an hour" 1 "$(reschedules k1 at)"
check_eq "the deferred FileSensor succeeds once its file exists" success "$(state_of clock_edge deferred k1)"

# --- FileSensor below the fs connection's base path
wait_for 20 sh -c "test \"\$(psql -X -q -At -c \"select count(distinct task_id) from task_reschedule where run_id = 'fs1'\")\" = 3"
sleep 2
check_eq "FileSensors wait: no match, an empty folder, no deep file" "waiting waiting waiting" \
    "$(wstate fs_edge rel fs1) $(wstate fs_edge folder fs1) $(wstate fs_edge deep fs1)"
mkdir -p "$T/fs/sub" "$T/fs/x/y/z"
touch "$T/fs/sub/a.csv" "$T/fs/folder/a/b.txt" "$T/fs/x/y/z/deep.csv"
wait_for 60 run_ended fs_edge fs1
check_eq "then a glob below the base path, a folder holding a file below, a recursive **" "success success success" \
    "$(state_of fs_edge rel fs1) $(state_of fs_edge folder fs1) $(state_of fs_edge deep fs1)"

# --- TimeSensor in the DAG's time zone
wait_for 20 sh -c "test -n \"\$(psql -X -q -At -c \"select 1 from task_instance where run_id = 'tze1' and state in ('success', 'up_for_reschedule')\")\" -a \
    -n \"\$(psql -X -q -At -c \"select 1 from task_instance where run_id = 'tzw1' and state in ('success', 'up_for_reschedule')\")\""
tz_now="$(state_of tz_east noon tze1) $(state_of tz_west noon tzw1)"
tz_after="$(exp_noon Etc/GMT-14) $(exp_noon Etc/GMT+12)"
# (at a zone's noon the expectation may change during the check: either is right then)
check "TimeSensor 12:00 compares the time of day in the DAG's zone (UTC+14, UTC-12): $tz_now, want $tz_before" \
    test "$tz_now" = "$tz_before" -o "$tz_now" = "$tz_after"
for z in east:Etc/GMT-14:tze1 west:Etc/GMT+12:tzw1; do
    IFS=: read -r name zone rid <<<"$z"
    if [ "$(state_of "tz_$name" noon "$rid")" = up_for_reschedule ]; then
        want=$(TZ=$zone date -d 12:00 +%s)
        check "a waiting TimeSensor ($zone) pokes next at its noon, today in its zone" \
            q_is "select abs(extract(epoch from reschedule_date) - $want) <= 1 from task_instance where run_id = '$rid'" t
    else
        check "a met TimeSensor ($zone) ran no timer" q_is "select count(*) from task_reschedule where run_id = '$rid'" 0
    fi
done

# --- exponential_backoff and max_wait (intervals measured from task_reschedule)
wait_for 40 run_ended backoff bo1
gaps=$(q "select string_agg(round(extract(epoch from reschedule_date - end_date)::numeric, 2)::text, ' ' order by id)
          from task_reschedule where run_id = 'bo1'")
check_eq "the backoff sensor timed out" failed "$(state_of backoff grow bo1)"
check "20 s after its first poke, the last poke capped at the timeout" \
    q_is "select extract(epoch from end_date - first_poke) between 20 and 23 from task_instance
          where run_id = 'bo1' and task_id = 'grow'" t
check "the intervals grow: the first below 2 s, a later one at least 2 s ($gaps)" \
    /usr/bin/python3 -c 'import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(not (len(g) >= 3 and g[0] < 2 and max(g[1:]) >= 2))' $gaps
check "max_wait 4 caps them ($gaps)" \
    /usr/bin/python3 -c 'import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(not (g and max(g) <= 4.05))' $gaps
pgaps=$(/usr/bin/python3 -c 'import sys; t=[float(l) for l in open(sys.argv[1])]; print(" ".join("%.2f" % (b - a) for a, b in zip(t, t[1:])))' "$T/backoff/poke_times" 2>&1)
check "poke mode backs off too, within its one process: intervals grow ($pgaps)" \
    /usr/bin/python3 -c 'import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(not (len(g) >= 3 and g[0] < 2 and max(g) >= 3.5))' $pgaps
check "poke mode: max_wait caps them ($pgaps)" \
    /usr/bin/python3 -c 'import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(not (g and max(g) <= 4.6))' $pgaps

# --- dagrun_timeout while sensors wait
wait_for 40 run_ended run_timeout rt1
check_eq "dagrun_timeout fails the run" failed "$(run_state run_timeout rt1)"
check_eq "its waiting sensors are skipped, as Airflow does for unfinished tasks" "skipped skipped" \
    "$(state_of run_timeout waiting rt1) $(state_of run_timeout file_waiting rt1)"

# --- clear: a waiting sensor pokes again from scratch; a timed-out one runs again
"$GUST" dags trigger clearing -r cl1 >/dev/null
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
check "the clear reset its poke count too (about 6 pokes, not the sum of three rounds: $(ti cl1 waiting poke_count))" \
    test "$(ti cl1 waiting poke_count)" -le 9

# --- a paused DAG's waiting sensors do not poke
mkdir -p "$T/pause"
"$GUST" dags trigger pausable -r pa1 -c "{\"dir\": \"$T/pause\"}" >/dev/null
wait_for 20 sh -c "test \"\$(psql -X -q -At -c \"select count(distinct task_id) from task_reschedule where run_id = 'pa1'\")\" = 2"
"$GUST" dags pause pausable >/dev/null 2>&1
check_eq "the DAG is paused" t "$(q "select is_paused from dag where dag_id = 'pausable'")"
sleep 2
paused_at=$(date +%s.%N)
sleep 5
# A paused DAG "schedules no tasks" (docs/operations.md, and Airflow examines no run of a
# paused DAG): its sensors waiting in up_for_reschedule do not poke (they once did).
pokes_since() { q "select count(*) from task_reschedule where run_id = '$1' and task_id = '$2' and start_date > to_timestamp($3)"; }
check_eq "no poke while the DAG is paused (ExternalTaskSensor in the scheduler, FileSensor a process)" "ext 0 file 0" \
    "ext $(pokes_since pa1 ext "$paused_at") file $(pokes_since pa1 file "$paused_at")"
touch "$T/pause/pause.flag"
"$GUST" dags unpause pausable >/dev/null 2>&1
check "unpaused, the FileSensor pokes again and succeeds" wait_for 30 state_is pausable file pa1 success
check_eq "the ExternalTaskSensor waits on" waiting "$(wstate pausable ext pa1)"

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

# --- `gust dags test`: sensors wait and succeed in the CLI's own run loop (no scheduler)
kill -TERM "$sched"
wait "$sched" 2>/dev/null
mkdir -p "$T/local"
(sleep 3 && touch "$T/local/local.flag") &
timeout 120 "$GUST" dags test local_edge -c "{\"dir\": \"$T/local\"}" >"$T/dagtest.out" 2>&1
rc=$?
check_eq "dags test with a reschedule FileSensor (file created after 3 s) and a TimeDeltaSensor: exit 0" 0 "$rc"
check_eq "every task succeeded" "success 3" \
    "$(q "select max(r.state) || ' ' || count(*) filter (where ti.state = 'success') from dag_run r
          join task_instance ti using (dag_id, run_id) where r.dag_id = 'local_edge'")"
check "the FileSensor waited in reschedule mode (task_reschedule rows)" \
    q_is "select count(*) >= 1 from task_reschedule where dag_id = 'local_edge' and task_id = 'wait_file'" t

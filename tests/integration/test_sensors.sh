#!/usr/bin/env bash
# Sensors run by the scheduler end to end, against a real PostgreSQL, black-box through gust's
# CLI and the metadata tables (tests/integration/sensor_dags/sensors.yaml):
# - ExternalTaskSensor waits for another DAG's task at the same logical date (in
#   up_for_reschedule between pokes, with its next poke in states-for-dag-run) and fails when
#   that task fails;
# - a time sensor runs no process and is rescheduled once, to its target (a timer, not a poll);
# - a timeout counts from the first poke: failed, skipped with soft_fail (its downstream
#   skipped);
# - process sensors (sensor_task): 20 FileSensors in reschedule mode with GUST_PARALLELISM=2
#   never block an ordinary task, and all see the file once it exists; in poke mode one
#   process loops: it sees a file created later, times out into failed, skipped with soft_fail;
# - kill -9 of `gust scheduler` while a sensor waits: another scheduler resumes it, and its
#   timeout still counts from the first poke.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 37
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
T=$GUST_TEST_TMP
pg_gust_db gust_sensors
export GUST_DAGS_FOLDER=$GUST_SRC/tests/integration/sensor_dags
export GUST_LOGS_FOLDER=$T/logs
export GUST_LEASE_SECONDS=3 GUST_DAG_DIR_LIST_INTERVAL=1
q() { psql -X -q -At -c "$1"; }
q_is() { test "$(q "$1")" = "$2"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
run_ended() { case $(run_state "$1" "$2") in success | failed) return 0 ;; esac; return 1; }
state_of() { "$GUST" tasks state "$1" "$2" "$3" 2>/dev/null; }
state_is() { test "$(state_of "$1" "$2" "$3")" = "$4"; }
sched=
start_sched() {
    GUST_PARALLELISM=2 "$GUST" scheduler >>"$T/sched.log" 2>&1 &
    sched=$!
    gust_kill_at_exit "$sched"
}

errs=$("$GUST" dags list-import-errors 2>&1)
check_eq "the sensor DAGs load without import errors" 0 $?
start_sched
wait_for 20 "$GUST" jobs check --job-type scheduler

# --- ExternalTaskSensor: waits for producer.load, then runs what follows
"$GUST" dags trigger consumer -r c1 -l 2026-02-01T00:00:00+00:00 >/dev/null
wait_for 20 state_is consumer wait_load c1 up_for_reschedule
check_eq "the sensor waits in up_for_reschedule before the external task exists" \
    up_for_reschedule "$(state_of consumer wait_load c1)"
row=$("$GUST" tasks states-for-dag-run consumer c1 -o json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys
r=[x for x in json.load(sys.stdin) if x["task_id"]=="wait_load"][0]
print(r["state"], "yes" if r["next_poke"] else "no")')
check_eq "states-for-dag-run shows up_for_reschedule with the next poke time" "up_for_reschedule yes" "$row"
check_eq "no process, no slot: no try has run for it" 0 \
    "$(q "select try_number from task_instance where run_id = 'c1' and task_id = 'wait_load'")"
"$GUST" dags trigger producer -r p1 -l 2026-02-01T00:00:00+00:00 >/dev/null
wait_for 40 run_ended consumer c1
check_eq "the consumer succeeds once the producer's task did" success "$(run_state consumer c1)"
check_eq "its downstream ran after the sensor" success "$(state_of consumer after c1)"
check "the sensor poked several times (task_reschedule rows)" \
    q_is "select count(*) >= 1 from task_reschedule where run_id = 'c1'" t
check "the sensor ended after the producer's task" \
    q_is "select s.end_date >= l.end_date from task_instance s, task_instance l
          where s.run_id = 'c1' and s.task_id = 'wait_load' and l.run_id = 'p1' and l.task_id = 'load'" t
check_contains "its log tells each poke" "allowed states" "$("$GUST" tasks logs consumer wait_load c1 2>&1)"

"$GUST" dags trigger consumer -r c2 -l 2026-02-02T00:00:00+00:00 >/dev/null
"$GUST" dags trigger producer -r p2 -l 2026-02-02T00:00:00+00:00 -c '{"rc": 1, "wait": 1}' >/dev/null
wait_for 40 run_ended consumer c2
check_eq "the sensor fails when the external task fails (failed_states)" failed "$(state_of consumer wait_load c2)"
check_eq "and its downstream is upstream_failed" upstream_failed "$(state_of consumer after c2)"

"$GUST" dags trigger missing -r m1 >/dev/null
wait_for 20 run_ended missing m1
check_eq "check_existence: an external DAG that does not exist fails the sensor at once" failed \
    "$(state_of missing wait_ghost m1)"
check_contains "and its log says why" "ghost_dag' does not exist" "$("$GUST" tasks logs missing wait_ghost m1 2>&1)"

# --- a time sensor: a timer to its target, no poll and no process
"$GUST" dags trigger timer -r t1 >/dev/null
wait_for 30 run_ended timer t1
check_eq "TimeDeltaSensor succeeds after its delta" success "$(run_state timer t1)"
check_eq "rescheduled once, to its target, though poke_interval is an hour" 1 \
    "$(q "select count(*) from task_reschedule where run_id = 't1'")"
check "it ended at least 3 s after the run's data interval end" \
    q_is "select ti.end_date >= r.data_interval_end + interval '3 seconds' from task_instance ti
          join dag_run r using (dag_id, run_id) where ti.run_id = 't1' and ti.task_id = 'three_seconds'" t

# --- timeouts count from the first poke
"$GUST" dags trigger timeouts -r to1 >/dev/null
wait_for 30 run_ended timeouts to1
check_eq "a sensor past its timeout fails" failed "$(state_of timeouts never to1)"
check_eq "with soft_fail it is skipped" skipped "$(state_of timeouts never_soft to1)"
check_eq "and what follows it is skipped" skipped "$(state_of timeouts after_soft to1)"
check "the timeout came about 2 s after the first poke" \
    q_is "select extract(epoch from end_date - first_poke) between 2 and 4 from task_instance
          where run_id = 'to1' and task_id = 'never'" t

# --- 20 process sensors in reschedule mode, 2 slots: an ordinary task still runs
mkdir -p "$T/fleet"
"$GUST" dags trigger fleet -r f1 -c "{\"dir\": \"$T/fleet\"}" >/dev/null
check "with 20 sensors waiting and 2 slots, the ordinary task runs" wait_for 30 test -s "$T/fleet/ordinary.done"
check_eq "while every sensor still waits" 20 \
    "$(q "select count(*) from task_instance where run_id = 'f1' and task_id like 'wait_%'
          and state in ('up_for_reschedule', 'scheduled', 'queued', 'running')")"
check "the sensors wait in up_for_reschedule between pokes (not holding slots)" \
    q_is "select count(*) > 0 from task_reschedule where run_id = 'f1'" t
check "never more than 2 tries at once (parallelism)" \
    q_is "select max(c) <= 2 from (select (select count(*) from task_reschedule b where b.run_id = 'f1'
          and b.start_date <= a.start_date and b.end_date > a.start_date) c from task_reschedule a
          where a.run_id = 'f1') x" t
touch "$T/fleet/go.flag"
wait_for 60 run_ended fleet f1
check_eq "once the file exists every sensor succeeds" "success 20" \
    "$(run_state fleet f1) $(q "select count(*) from task_instance where run_id = 'f1'
                                and task_id like 'wait_%' and state = 'success'")"
check "a rescheduled poke keeps its try number (1)" \
    q_is "select max(try_number) from task_instance where run_id = 'f1'" 1
check_contains "a sensor's log has one line per poke" "up_for_reschedule, next poke at" \
    "$("$GUST" tasks logs fleet wait_00 f1 2>&1)"

# --- poke mode: one process loops
mkdir -p "$T/poke"
"$GUST" dags trigger poke_mode -r pm1 -c "{\"dir\": \"$T/poke\"}" >/dev/null
wait_for 20 state_is poke_mode file_later pm1 running
sleep 1
mkdir -p "$T/poke/later" && touch "$T/poke/later/data.csv"
wait_for 60 run_ended poke_mode pm1
check_eq "a FileSensor in poke mode sees a file created later" success "$(state_of poke_mode file_later pm1)"
check_eq "a poke-mode sensor past its timeout fails" failed "$(state_of poke_mode file_never pm1)"
check_eq "with soft_fail it is skipped" skipped "$(state_of poke_mode file_never_soft pm1)"
check_eq "a sensor timeout is not retried (Airflow's AirflowSensorTimeout)" 1 \
    "$(q "select try_number from task_instance where run_id = 'pm1' and task_id = 'file_never'")"
check_eq "poke mode holds its slot: no reschedules" 0 \
    "$(q "select count(*) from task_reschedule where run_id = 'pm1'")"

# --- kill -9 of the scheduler while a sensor waits
"$GUST" dags trigger restart -r r1 >/dev/null
wait_for 20 state_is restart wait_missing r1 up_for_reschedule
sleep 2
kill -9 "$sched"
wait "$sched" 2>/dev/null
killed_at=$(date +%s.%N)
sleep 3
start_sched
wait_for 30 run_ended restart r1
check_eq "after kill -9 another scheduler resumes the sensor, which times out" failed \
    "$(state_of restart wait_missing r1)"
span=$(q "select round(extract(epoch from end_date - first_poke)) from task_instance
          where run_id = 'r1' and task_id = 'wait_missing'")
check "its timeout counted from the first poke, before the kill (8 s, not 8 s after the restart: $span s)" \
    test "${span:-99}" -ge 8 -a "${span:-99}" -le 10
check "the first poke came before the kill" \
    q_is "select extract(epoch from first_poke) < $killed_at from task_instance
          where run_id = 'r1' and task_id = 'wait_missing'" t
check "pokes were recorded on both sides of the kill" \
    q_is "select count(*) filter (where start_date < to_timestamp($killed_at)) > 0 and
                 count(*) filter (where start_date > to_timestamp($killed_at)) > 0
          from task_reschedule where run_id = 'r1'" t

#!/usr/bin/env bash
# Assets (datasets) at run time against a real PostgreSQL, black-box through gust's CLI and
# Airflow's tables (tests/integration/assets_dags/assets.yaml), with TWO `gust scheduler`
# processes on one database all along, racing for every consumer run:
# - `dags reserialize` records the assets and their references (producers, consumers);
# - a producer's success records one asset_event per outlet (source dag, task, run, map index)
#   and its consumer runs once, run type asset_triggered, run id asset_triggered__<ISO time>,
#   its triggering events linked (dagrun_asset_event) and its queue rows gone;
# - `a & b`: the consumer waits with a's update queued until b is updated too, then runs once
#   with both events;
# - triggering_asset_events / triggering_dataset_events rendered in a consumer's bash_command
#   show the producer's dag_id, task_id, the number of events, an external event's extra;
# - a failed producer records no event and queues nothing;
# - `gust assets event URI --extra JSON` triggers a consumer; an unknown URI is an error;
# - 20 external events in a burst: every event consumed exactly once, by one run, and no run
#   without events (a run created twice by the racing schedulers would have none); five
#   updates committed at once and one NOTIFY waking both schedulers: exactly one run;
# - a paused consumer is not queued (Airflow's rule) and gets no run;
# - without a scheduler, `dags trigger --local` drives the consumer runs its outlets cause;
# - `gust assets list|details` (table and -o json), `dags show-dependencies`' asset edges.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 47
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
T=$GUST_TEST_TMP
pg_gust_db gust_assets
export GUST_DAGS_FOLDER=$GUST_SRC/tests/integration/assets_dags
export GUST_LOGS_FOLDER=$T/logs
export GUST_DAG_DIR_LIST_INTERVAL=1
A=s3://gust-test/a.csv
B=s3://gust-test/b.csv
q() { psql -X -q -At -c "$1"; }
q_is() { test "$(q "$1")" = "$2"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
# runs DAG: "run_type:state ..." of every run of the DAG, oldest first
runs() {
    q "select string_agg(run_type || ':' || state, ' ' order by id) from dag_run where dag_id = '$1'"
}
n_runs() { q "select count(*) from dag_run where dag_id = '$1'"; }
# all_done DAG N: the DAG has N runs, all finished
all_done() {
    q_is "select count(*) filter (where state in ('success', 'failed')) || '/' || count(*)
          from dag_run where dag_id = '$1'" "$2/$2"
}
run_ended() { case $(run_state "$1" "$2") in success | failed) return 0 ;; esac; return 1; }
# trigger DAG RUN_ID: a manual run, run by the schedulers; waits until it ends
trigger() { "$GUST" dags trigger "$1" -r "$2" >/dev/null 2>&1 && wait_for 60 run_ended "$1" "$2"; }

errs=$("$GUST" dags list-import-errors 2>&1)
check_eq "the asset DAGs load without import errors" 0 $?
[ "$errs" = "${errs#*No import errors}" ] && printf '%s\n' "$errs" | sed 's/^/#   /' | head -n 20
"$GUST" dags reserialize >"$T/reserialize.out" 2>&1
check_eq "reserialize records every asset of the files" \
    "gust://external/feed gust://race/feed $A $B s3://gust-test/c.csv" \
    "$(q "select string_agg(uri, ' ' order by uri) from asset")"
check_eq "an Asset mapping's name and group are recorded, a bare URI's default to Airflow's" \
    "b_table:test $A:asset" \
    "$(q "select string_agg(name || ':' || \"group\", ' ' order by uri desc) from asset
          where uri in ('$A', '$B')")"
check_eq "consumers: dag_schedule_asset_reference" \
    "consume_a:$A consume_ab:$A consume_ab:$B" \
    "$(q "select string_agg(r.dag_id || ':' || a.uri, ' ' order by r.dag_id, a.uri)
          from dag_schedule_asset_reference r join asset a on a.id = r.asset_id
          where a.uri in ('$A', '$B')")"
check_eq "producers: task_outlet_asset_reference" "produce_a.write_a produce_b.write_b" \
    "$(q "select string_agg(r.dag_id || '.' || r.task_id, ' ' order by r.dag_id)
          from task_outlet_asset_reference r join asset a on a.id = r.asset_id
          where a.uri in ('$A', '$B')")"

# --- two schedulers on one database for the rest of the script
start_sched() {
    "$GUST" scheduler >>"$T/sched$1.log" 2>&1 &
    gust_kill_at_exit $!
    eval "sched$1=\$!"
}
start_sched 1
start_sched 2
wait_for 20 q_is "select count(*) from job where job_type = 'SchedulerJob' and state = 'running'" 2
check_eq "two schedulers run on one database" 2 \
    "$(q "select count(*) from job where job_type = 'SchedulerJob' and state = 'running'")"

# --- a producer updates a: consume_a runs once; consume_ab (a & b) waits
trigger produce_a pa1
check_eq "the producer of a succeeds" success "$(run_state produce_a pa1)"
check_eq "its success recorded one event for its outlet, with its source" \
    "$A|produce_a|write_a|pa1|-1" \
    "$(q "select a.uri || '|' || e.source_dag_id || '|' || e.source_task_id || '|' ||
                 e.source_run_id || '|' || e.source_map_index
          from asset_event e join asset a on a.id = e.asset_id")"
wait_for 60 all_done consume_a 1
check_eq "consume_a ran once, asset-triggered" "asset_triggered:success" "$(runs consume_a)"
rid=$(q "select run_id from dag_run where dag_id = 'consume_a'")
check "its run id is asset_triggered__<ISO 8601 time>" \
    grep -Eq '^asset_triggered__[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00$' <<<"$rid"
check_eq "the run is linked to the event that triggered it" 1 \
    "$(q "select count(*) from dagrun_asset_event l join dag_run r on r.id = l.dag_run_id
          where r.dag_id = 'consume_a'")"
check_eq "triggering_asset_events/triggering_dataset_events in bash_command: the producer" \
    "produce_a 1 asset_triggered" "$(cat "$T/consume_a.out" 2>/dev/null)"
check_eq "consume_a's queue row is gone" 0 \
    "$(q "select count(*) from asset_dag_run_queue where target_dag_id = 'consume_a'")"
check_eq "consume_ab (a & b) has no run with only a updated" 0 "$(n_runs consume_ab)"
check_eq "and keeps a's update queued" "$A" \
    "$(q "select string_agg(a.uri, ' ') from asset_dag_run_queue q join asset a on a.id = q.asset_id
          where q.target_dag_id = 'consume_ab'")"

# --- b updated too: consume_ab runs once with both events; consume_a does not run again
trigger produce_b pb1
wait_for 60 all_done consume_ab 1
check_eq "consume_ab ran once after both a and b were updated" "asset_triggered:success" \
    "$(runs consume_ab)"
check_eq "its templates saw both events, by URI, with their producers" \
    "$A=produce_a.write_a $B=produce_b.write_b" "$(sed 's/ *$//' "$T/consume_ab.out" 2>/dev/null)"
check_eq "consume_a (scheduled on a only) did not run for b" 1 "$(n_runs consume_a)"
check_eq "no queue row is left" 0 "$(q "select count(*) from asset_dag_run_queue")"

# --- a again: consume_a runs a second time; its second run consumes only the new event
trigger produce_a pa2
wait_for 60 all_done consume_a 2
check_eq "a second update of a: a second run of consume_a" \
    "asset_triggered:success asset_triggered:success" "$(runs consume_a)"
check_eq "each of consume_a's runs consumed one event, each event once" "1 1|2" \
    "$(q "select string_agg(n::text, ' ' order by id) from (select r.id, count(l.event_id) n
          from dag_run r left join dagrun_asset_event l on l.dag_run_id = r.id
          where r.dag_id = 'consume_a' group by r.id) x")|$(q "select count(distinct l.event_id)
          from dagrun_asset_event l join dag_run r on r.id = l.dag_run_id where r.dag_id = 'consume_a'")"

# --- a failed producer records nothing
trigger produce_c_fails pc1
check_eq "the failing producer fails" failed "$(run_state produce_c_fails pc1)"
check_eq "a failed try records no asset event" 0 \
    "$(q "select count(*) from asset_event e join asset a on a.id = e.asset_id
          where a.uri = 's3://gust-test/c.csv'")"
check_eq "and queues nothing" 0 \
    "$(q "select count(*) from asset_dag_run_queue where target_dag_id = 'consume_c'")"
check_eq "consume_c never ran" 0 "$(n_runs consume_c)"

# --- an event from outside
out=$("$GUST" assets event gust://external/feed --extra '{"batch": 42}' 2>&1)
check_contains "assets event records it and says the consumer was queued" "1 consumer DAG(s) queued" "$out"
wait_for 60 all_done consume_external 1
check_eq "the external event triggered consume_external" "asset_triggered:success" \
    "$(runs consume_external)"
check_eq "its template saw the event's extra and no source DAG" "42 None" \
    "$(cat "$T/consume_external.out" 2>/dev/null)"
out=$("$GUST" assets event gust://no/such/asset 2>&1)
check_eq "an unknown URI is an error (exit 1)" 1 $?
check_contains "naming the URI" "no asset has the URI 'gust://no/such/asset'" "$out"
out=$("$GUST" assets event gust://external/feed --extra '[1]' 2>&1)
check_eq "--extra must be a JSON object (usage error)" 2 $?

# --- a burst of 20 events while both schedulers race
for i in $(seq 1 20); do "$GUST" assets event gust://race/feed --extra "{\"i\": $i}" >/dev/null 2>&1; done
race_settled() {
    q_is "select count(*) from asset_dag_run_queue q join asset a on a.id = q.asset_id
          where a.uri = 'gust://race/feed'" 0 &&
        all_done consume_race "$(n_runs consume_race)"
}
wait_for 60 race_settled
check_eq "every one of the 20 events was consumed by exactly one run" "20 20" \
    "$(q "select count(*) || ' ' || count(distinct l.event_id) from dagrun_asset_event l
          join dag_run r on r.id = l.dag_run_id where r.dag_id = 'consume_race'")"
check_eq "no run of consume_race without events (none created twice)" 0 \
    "$(q "select count(*) from dag_run r where r.dag_id = 'consume_race' and not exists
          (select 1 from dagrun_asset_event l where l.dag_run_id = r.id)")"
n=$(n_runs consume_race)
check "between 1 and 20 runs, all asset-triggered successes ($n)" \
    test "$(q "select count(*) from dag_run where dag_id = 'consume_race'
               and run_type = 'asset_triggered' and state = 'success'")" = "$n" -a "$n" -ge 1 -a "$n" -le 20

# --- five updates committed at once, one NOTIFY waking both schedulers at the same instant:
# they race for the same queue row, and exactly one run consumes all five
before=$(n_runs consume_race)
q "begin;
   insert into asset_event (asset_id, extra) select id, jsonb_build_object('burst', g)
     from asset, generate_series(1, 5) g where uri = 'gust://race/feed';
   insert into asset_dag_run_queue (asset_id, target_dag_id)
     select id, 'consume_race' from asset where uri = 'gust://race/feed';
   select pg_notify('gust', 'asset:consume_race');
   commit;" >/dev/null
wait_for 60 race_settled
check_eq "both schedulers woken at once: exactly one more run" $((before + 1)) "$(n_runs consume_race)"
check_eq "and it consumed the five updates" 5 \
    "$(q "select count(*) from dagrun_asset_event l where l.dag_run_id =
          (select max(id) from dag_run where dag_id = 'consume_race')")"

# --- a paused consumer
"$GUST" dags pause consume_external >/dev/null 2>&1
"$GUST" assets event gust://external/feed >"$T/paused.out" 2>&1
check_contains "a paused consumer is not queued" "0 consumer DAG(s) queued" "$(cat "$T/paused.out")"

# --- the CLI
out=$("$GUST" assets list 2>&1)
check_contains "assets list: a table row per asset with its counts" "$B" "$out"
json=$("$GUST" assets list -o json 2>&1)
check_eq "assets list -o json: producers, consumers and events of a" "1 2 2" \
    "$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin) if x["uri"]==sys.argv[1]][0]
print(a["producers"], a["consumers"], a["events"])' "$A" 2>&1)"
out=$("$GUST" dags show-dependencies --format text 2>&1)
check_contains "dags show-dependencies shows the asset edges" \
    "produce_b -> consume_ab (asset: $B, from write_b)" "$out"
out=$("$GUST" assets details "$A" 2>&1)
check_contains "assets details: its producer task" "produce_a | write_a" "$out"
json=$("$GUST" assets details "$B" -o json 2>&1)
check_eq "assets details -o json: name, consumers, newest event's source" "b_table consume_ab produce_b" \
    "$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys
d=json.load(sys.stdin)
print(d["name"], " ".join(c["dag_id"] for c in d["consumers"]), d["events"][0]["source_dag_id"])' 2>&1)"

# --- both schedulers stop on SIGTERM; neither logged an error (a deadlock, a lost end)
kill -TERM "$sched1" "$sched2"
wait "$sched1"
rc1=$?
wait "$sched2"
check_eq "both schedulers stop cleanly on SIGTERM" "0 0" "$rc1 $?"
check_eq "no error in the schedulers' logs" "" "$(grep -h 'ERROR\|error' "$T"/sched*.log | head -n 5)"

# --- without a scheduler: --local drives the asset-triggered runs its outlets cause
timeout 60 "$GUST" dags trigger produce_a --local -r local1 >"$T/local1.out" 2>&1
check_eq "dags trigger --local of a producer exits 0" 0 $?
check_eq "and ran consume_a's asset-triggered run in the same process" \
    "asset_triggered:success asset_triggered:success asset_triggered:success" "$(runs consume_a)"

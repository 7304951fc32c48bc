#!/usr/bin/env bash
# The github_events pipeline end to end, every piece the real one: event_injector POSTs
# synthetic GitHub events to event_collector (real HTTP), which packs them as Avro batches to
# raw_metrics_avro on librdkafka's mock cluster; stream_loader --pipeline github_events
# --follow lands them in bronze.github_events; github_events_pipeline (SQL tasks) builds
# silver and gold and tests them; maintenance_bronze_by_day runs. In the middle the broker
# goes down for a while: the collector keeps answering 202 (batch files in its spill folder)
# and replays them when it is back. At the end: every event_id that got a 202 is in bronze,
# silver has exactly one row per event_id, gold reconciles, the spill folder holds no batch
# or journal file. Waits are conditions with deadlines, never durations.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 17
COLL=$(gust_bin event_collector)
INJ=$(gust_bin event_injector)
LOADER=$(gust_bin stream_loader)
gust_tmpdir tmp
unset ${!KAFKA_@} ${!EVENT_COLLECTOR_@} ${!INJECTOR_@} ${!STREAM_LOADER_@} GUST_EVENTS_SPILL_DIR
pg_gust_db gust_gh_e2e
export AIRFLOW_CONN_GITHUB_EVENTS_DB="postgresql://$PGUSER@127.0.0.1:$PGPORT/gust_gh_e2e"
export GUST_LOGS_FOLDER=$tmp/logs GUST_DAGS_FOLDER=$GUST_SRC/dags
kafka_start -t raw_metrics_avro:4 || exit 1
q() { psql -X -q -At -c "$1"; }

"$COLL" --listen 127.0.0.1:0 --spill-dir "$tmp/spill" --batch-max-ms 200 --retries 1 \
    --retry-backoff-ms 100 --send-timeout-ms 2000 --probe-interval-ms 500 2>"$tmp/coll.log" &
CPID=$!
gust_kill_at_exit "$CPID"
wait_for 30 grep -q "^event_collector: listening on" "$tmp/coll.log"
URL=http://127.0.0.1:$(sed -n 's/^event_collector: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
    "$tmp/coll.log")/collect
"$LOADER" --pipeline github_events --follow --trigger-interval 1s >"$tmp/loader.out" \
    2>"$tmp/loader.log" &
LPID=$!
gust_kill_at_exit "$LPID"

inject() { # inject NAME SEED N: POST N events, their ids in $tmp/NAME.ids
    "$INJ" --url "$URL" --events "$3" --seed "$2" --batch 25 --connections 4 \
        --ids-out "$tmp/$1.ids" >"$tmp/$1.out" 2>"$tmp/$1.err"
}
check "3000 events before the outage: every one answered 202" inject before 1 3000
kafka_down
check "2000 events while the broker is down: still every one 202" inject during 2 2000
check "the collector spilled batch files while the broker was down" \
    wait_for 60 sh -c "ls '$tmp/spill' | grep -q '^batch-.*\.avro$'"
kafka_up
check "1000 events after the outage: every one 202" inject after 3 1000
cat "$tmp/before.ids" "$tmp/during.ids" "$tmp/after.ids" | sort -u >"$tmp/all.ids"
check_eq "6000 distinct event_ids answered" 6000 "$(wc -l <"$tmp/all.ids")"

kill -TERM "$CPID"
wait "$CPID"
check_eq "SIGTERM: the collector drains and exits 0" 0 $?
check_eq "no batch or journal file is left in the spill folder" "" \
    "$(ls "$tmp/spill" | grep -E '^(batch|journal)-' || true)"
landed() { [ "$(q "select count(distinct event_id) from bronze.github_events")" -ge 6000 ]; }
check "the loader lands them in bronze" wait_for 120 landed
kill -TERM "$LPID"
wait "$LPID"
check_eq "the loader stops on SIGTERM with exit 0" 0 $?
q "select event_id from bronze.github_events" | sort -u >"$tmp/bronze.ids"
check_eq "every event_id answered 202 is in bronze (missing ones)" 0 \
    "$(comm -23 "$tmp/all.ids" "$tmp/bronze.ids" | wc -l)"
check_eq "and bronze holds no event nobody was answered for" 0 \
    "$(comm -13 "$tmp/all.ids" "$tmp/bronze.ids" | wc -l)"
check_eq "no dead letters" 0 "$(q "select count(*) from bronze.github_events_dead_letters")"

"$GUST" dags trigger github_events_pipeline --local -r e2e >"$tmp/pipeline.out" 2>&1
check_eq "github_events_pipeline succeeds" success \
    "$("$GUST" dags state github_events_pipeline e2e | cut -d, -f1)"
check_eq "silver: one row per event_id" 6000 "$(q "select count(*) from silver.github_events_parsed")"
check_eq "gold reconciles with silver (events by type and hour)" 6000 \
    "$(q "select sum(events) from gold.hourly_events_by_type")"
"$GUST" dags trigger maintenance_bronze_by_day --local -r e2e >"$tmp/maint.out" 2>&1
check_eq "maintenance_bronze_by_day succeeds" success \
    "$("$GUST" dags state maintenance_bronze_by_day e2e | cut -d, -f1)"
if [ -n "${GUST_TEST_VERBOSE:-}" ]; then sed 's/^/#   /' "$tmp/coll.log" "$tmp/loader.log"; fi

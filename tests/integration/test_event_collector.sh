#!/usr/bin/env bash
# event_collector (the github_events pipeline's HTTP collector) over real HTTP against
# librdkafka's mock cluster, every message read back with kcat and decoded by python3-avro
# (collector_client.py): refused requests (400/413/415/404/405) say why and queue nothing;
# N events posted are N distinct event_ids on Kafka, each message keyed by its first
# event_id; /health and /metrics; a broker outage in the middle (202s go on, batch files
# appear, replayed when it is back, spill folder empty, nothing lost); a memory queue far too
# small for a burst (overflow into the journal, nothing lost); the disk budget full (503 with
# Retry-After, /health full, then back); kill -9 in the middle of a burst and a restart
# (every event_id answered 202 arrives); SIGTERM drains (sent, or spilled with Kafka down and
# replayed by the next start); --remove-orphans; bad flags. Waits are conditions with
# deadlines, never durations.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 87
COLL=$(gust_bin event_collector)
CLIENT=$GUST_SRC/tests/integration/collector_client.py
gust_tmpdir tmp
unset ${!KAFKA_@} ${!EVENT_COLLECTOR_@}
kafka_start -t t_bad:1 -t t_ok:4 -t t_out:2 -t t_over:2 -t t_full:2 -t t_kill:4 -t t_term:2 \
    -t t_term2:2 || exit 1
BROKERS=$KAFKA_BOOTSTRAP_SERVERS

# start_collector NAME [flags...]: the collector on a free port with the spill folder
# $tmp/NAME, its log in $tmp/NAME.log; sets CPID and URL.
start_collector() {
    local name=$1
    shift
    [ -f "$tmp/$name.log" ] && mv "$tmp/$name.log" "$tmp/$name.log.prev"
    "$COLL" --listen 127.0.0.1:0 --spill-dir "$tmp/$name" --topic "t_$name" "$@" \
        2>"$tmp/$name.log" &
    CPID=$!
    gust_kill_at_exit "$CPID"
    if ! wait_for 30 grep -q "^event_collector: listening on" "$tmp/$name.log"; then
        echo "# the collector did not start:"
        sed 's/^/#   /' "$tmp/$name.log"
        return 1
    fi
    URL=http://127.0.0.1:$(sed -n 's/^event_collector: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
        "$tmp/$name.log")
}
# stop_collector: SIGTERM, the exit code in CRC
stop_collector() {
    kill -TERM "$CPID"
    wait "$CPID"
    CRC=$?
}
# req METHOD PATH [CONTENT-TYPE BODY]: the status code on stdout, body in $tmp/resp
req() {
    local args=(-s -o "$tmp/resp" -D "$tmp/hdr" -w '%{http_code}' -X "$1")
    [ $# -ge 4 ] && args+=(-H "Content-Type: $3" --data-binary "$4")
    curl "${args[@]}" "$URL$2"
}
metric() { curl -s "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
metric_ge() { [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }
jget() { python3 -c "import json, sys; print(json.loads(sys.argv[1])$2)" "$1"; }
post() { /usr/bin/python3 "$CLIENT" post "$URL" "$@"; }
consume() { /usr/bin/python3 "$CLIENT" consume "$BROKERS" "$1" "$tmp/$1.got"; }
missing() { /usr/bin/python3 "$CLIENT" missing "$1" "$tmp/$2.got" | wc -l; }
lines_ge() { [ "$(wc -l <"$1")" -ge "$2" ]; }
dir_empty() { [ -z "$(ls -A "$tmp/$1")" ]; }
has_files() { compgen -G "$tmp/$1/$2" >/dev/null; }
health_says() { [ "$(curl -s "$URL/health" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["kafka"])')" = "$1" ]; }

# ---- 1. refused requests say why and queue nothing
start_collector bad --batch-max-ms 100 --body-max-bytes 2k || exit 1
EV='{"id": "1", "type": "PushEvent", "actor": {"id": 5, "login": "a"}}'
check_eq "empty body: 400" 400 "$(req POST /collect application/json '')"
check_contains "... says the body is empty" "empty body" "$(cat "$tmp/resp")"
check_eq "bad JSON: 400" 400 "$(req POST /collect application/json '[{"type": "PushEvent"},')"
check_contains "... says where" "body is not JSON" "$(cat "$tmp/resp")"
check_eq "a JSON string: 400" 400 "$(req POST /collect application/json '"x"')"
check_eq "an empty array: 400" 400 "$(req POST /collect application/json '[]')"
code=$(req POST /collect application/json "[$EV, $EV, {\"id\": \"3\", \"type\": \"PushEvent\", \"actor\": {\"id\": \"x\"}}]")
check_eq "a bad third event among good ones: 400" 400 "$code"
check_eq "... names its index" 2 "$(jget "$(cat "$tmp/resp")" '["index"]')"
check_contains "... and the reason" "event 2: actor.id" "$(cat "$tmp/resp")"
check_eq "an array holding a number: 400" 400 "$(req POST /collect application/json "[$EV, 7]")"
check_contains "... names it" "event 1: not a JSON object" "$(cat "$tmp/resp")"
big=$(python3 -c 'print("[" + ",".join(["{\"id\": \"%d\", \"type\": \"PushEvent\"}" % i for i in range(200)]) + "]")')
check_eq "a body over --body-max-bytes: 413" 413 "$(req POST /collect application/json "$big")"
code=$(printf '%s' "$big" | curl -s -o "$tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @- "$URL/collect")
check_eq "... also when chunked (no Content-Length)" 413 "$code"
check_eq "text/plain: 415" 415 "$(req POST /collect text/plain "$EV")"
check_contains "... names the type" "text/plain" "$(cat "$tmp/resp")"
check_eq "unknown path: 404" 404 "$(req GET /nope)"
check_eq "GET /collect: 405" 405 "$(req GET /collect)"
check_contains "... with Allow: POST" "Allow: POST" "$(tr -d '\r' <"$tmp/hdr")"
check_eq "DELETE /health: 405" 405 "$(req DELETE /health)"
check "nothing accepted" metric_is gust_collector_events_accepted_total 0
check "the refusals counted" metric_is gust_collector_rejected_total 9
check_eq "the journal is empty" "" "$(cat "$tmp"/bad/journal-* 2>/dev/null)"
check_eq "a good event after all that: 202" 202 "$(req POST /collect 'application/json; charset=utf-8' "$EV")"
id=$(jget "$(cat "$tmp/resp")" '["event_ids"][0]')
check "... with a UUID v4 event_id" python3 -c 'import sys, uuid; u = uuid.UUID(sys.argv[1]); assert u.version == 4 and str(u) == sys.argv[1]' "$id"
stop_collector
check_eq "SIGTERM: exit 0" 0 "$CRC"
consume t_bad >"$tmp/stats"
check_eq "only the good event reached Kafka" "$id" "$(cat "$tmp/t_bad.got")"

# ---- 2. N events posted are N distinct event_ids on Kafka; /health and /metrics
start_collector ok --batch-max 300 --batch-max-ms 200 || exit 1
out=$(post --events 3000 --per 25 --threads 8 --ids "$tmp/ok.ids")
check_eq "3000 events in 120 requests: all 202" 120 "$(jget "$out" '["202"]')"
check_eq "... 3000 distinct ids answered" 3000 "$(sort -u "$tmp/ok.ids" | wc -l)"
check "... all acknowledged by Kafka" wait_for 30 metric_is gust_collector_events_sent_total 3000
stats=$(consume t_ok)
check_eq "3000 records on the topic" 3000 "$(jget "$stats" '["records"]')"
check_eq "... 3000 distinct, the ones answered" "3000 0" "$(jget "$stats" '["distinct"]') $(missing "$tmp/ok.ids" t_ok)"
check_eq "... keys are first event_ids and records equal their events" "[]" "$(jget "$stats" '["bad"]')"
check "... at most 300 per message (--batch-max)" test "$(jget "$stats" '["messages"]')" -ge 10
check "/health: ok, kafka up" health_says "ok up"
h=$(curl -s "$URL/health")
check_eq "... with the queue depth and spill bytes" "0 0" "$(jget "$h" '["queue_depth"]') $(jget "$h" '["spill_bytes"]')"
m=$(curl -s "$URL/metrics")
for name in gust_collector_queue_depth gust_collector_spill_bytes gust_collector_spill_files \
    gust_collector_batches_sent_total 'gust_collector_batch_events_bucket{le="+Inf"}' \
    gust_collector_avro_encode_seconds_count gust_collector_kafka_send_seconds_count \
    gust_collector_events_spilled_total gust_collector_events_replayed_total \
    gust_collector_responses_503_total; do
    grep -q "^$name " <<<"$m" || echo "# missing metric $name"
done
check "/metrics has every series" test "$(grep -c '^gust_collector_' <<<"$m")" -ge 40
check_eq "... batches counted as sent" "$(jget "$stats" '["messages"]')" "$(metric gust_collector_batches_sent_total)"
stop_collector
check "the spill folder is empty after SIGTERM" dir_empty ok

# ---- 3. Kafka down in the middle: 202s go on, batch files, replay, nothing lost
OUTAGE=(--batch-max 100 --batch-max-ms 100 --send-timeout-ms 1000 --retries 1
    --retry-backoff-ms 100 --probe-interval-ms 300)
start_collector out "${OUTAGE[@]}" || exit 1
post --events 300 --per 10 --ids "$tmp/out.ids" >/dev/null
check "300 events sent before the outage" wait_for 30 metric_is gust_collector_events_sent_total 300
kafka_down
out=$(post --events 500 --per 10 --first 300 --ids "$tmp/out.ids")
check_eq "Kafka down: 500 more events still answered 202" "50 0" "$(jget "$out" '["202"]') $(jget "$out" '["other"]')"
check "... batch files appear" wait_for 60 has_files out 'batch-*.avro'
check "... /health: degraded, kafka down" wait_for 10 health_says "degraded down"
check "... counted as spilled" metric_ge gust_collector_events_spilled_total 1
kafka_up
check "Kafka back: the spill folder empties" wait_for 90 dir_empty out
check "... /health ok again" wait_for 10 health_says "ok up"
check "... files counted as replayed" metric_ge gust_collector_events_replayed_total 1
stats=$(consume t_out)
check_eq "every one of the 800 event_ids is on the topic" "800 0" "$(sort -u "$tmp/out.ids" | wc -l) $(missing "$tmp/out.ids" t_out)"
check_eq "... and the records equal their events" "[]" "$(jget "$stats" '["bad"]')"
stop_collector
check_eq "... exit 0" 0 "$CRC"

# ---- 4. a memory queue far too small: overflow into the journal, nothing lost (and the HTTP
# side as a pool of 4 threads instead of a thread per connection)
start_collector over --queue-max 50 --batch-max 100 --batch-max-ms 50 --threads 4 || exit 1
out=$(post --events 100 --per 100 --threads 1 --ids "$tmp/over.ids")
check_eq "one request of 100 events with --queue-max 50: 202" 1 "$(jget "$out" '["202"]')"
out=$(post --events 4000 --per 20 --threads 8 --first 100 --ids "$tmp/over.ids")
check_eq "a burst of 4000 more: all 202" 200 "$(jget "$out" '["202"]')"
check "events went to the journal only" metric_ge gust_collector_events_overflowed_total 100
check "... and were all sent" wait_for 60 metric_is gust_collector_events_sent_total 4100
check "... the spill folder empties" wait_for 30 dir_empty over
consume t_over >/dev/null
check_eq "every one of the 4100 event_ids is on the topic" "4100 0" "$(sort -u "$tmp/over.ids" | wc -l) $(missing "$tmp/over.ids" t_over)"
stop_collector

# ---- 5. disk budget full: 503 with Retry-After, never a silent loss
kafka_down
start_collector full --spill-max-bytes 1m --send-timeout-ms 2000 --retries 0 \
    --probe-interval-ms 300 --batch-max-ms 100 --retry-after 7 || exit 1
out=$(post --events 2000 --per 5 --threads 2 --pad 8000 --until-503 --ids "$tmp/full.ids")
check "Kafka down, 1 MiB budget: a 503 comes" test "$(jget "$out" '["503"]')" -ge 1
check_eq "... with Retry-After" 7 "$(jget "$out" '["retry_after"]')"
check_eq "... and nothing else but 202s before it" 0 "$(jget "$out" '["other"]')"
check "... /health says full" wait_for 5 health_says "full down"
check "... 503s counted" metric_ge gust_collector_responses_503_total 1
kafka_up
ok_again() { [ "$(req POST /collect application/json "$EV")" = 202 ] && jget "$(cat "$tmp/resp")" '["event_ids"][0]' >>"$tmp/full.ids"; }
check "Kafka back: 202 again" wait_for 90 ok_again
check "... the spill folder empties" wait_for 90 dir_empty full
consume t_full >/dev/null
check_eq "every event answered 202 is on the topic" 0 "$(missing "$tmp/full.ids" t_full)"
stop_collector

# ---- 6. kill -9 in the middle of a burst, then a restart: every 202 arrives
start_collector kill --batch-max 200 --batch-max-ms 100 || exit 1
post --events 50000 --per 10 --threads 6 --ids "$tmp/kill.ids" >"$tmp/kill.out" &
client=$!
check "a burst is being answered" wait_for 60 lines_ge "$tmp/kill.ids" 2000
kill -9 "$CPID"
wait "$CPID" 2>/dev/null
wait "$client"
acked=$(sort -u "$tmp/kill.ids" | wc -l)
check "killed before the burst ended" test "$acked" -lt 50000
check "... leaving journal segments behind" has_files kill 'journal-*.jsonl'
start_collector kill --batch-max 200 --batch-max-ms 100 || exit 1
check "the restart recovers the leftovers" grep -q "recovery:" "$tmp/kill.log"
check "... and empties the spill folder" wait_for 90 dir_empty kill
stats=$(consume t_kill)
check_eq "every event_id answered 202 before the kill is on the topic" 0 "$(missing "$tmp/kill.ids" t_kill)"
echo "# kill -9: $acked answered, $(jget "$stats" '["records"]') records, $(jget "$stats" '["distinct"]') distinct on the topic"
check_eq "... records equal their events" "[]" "$(jget "$stats" '["bad"]')"
stop_collector

# ---- 7. SIGTERM drains: everything queued is sent, or spilled and replayed by the next start
start_collector term --batch-max 100000 --batch-max-ms 600000 || exit 1
post --events 500 --per 50 --ids "$tmp/term.ids" >/dev/null
check "500 events held in an open batch" metric_is gust_collector_events_accepted_total 500
stop_collector
check_eq "SIGTERM: exit 0" 0 "$CRC"
check_contains "... the summary says all were sent" "accepted 500, sent 500, spilled 0" "$(grep stopped: "$tmp/term.log")"
consume t_term >/dev/null
check_eq "... all 500 are on the topic" "500 0" "$(sort -u "$tmp/t_term.got" | wc -l) $(missing "$tmp/term.ids" t_term)"
check "... the spill folder is empty" dir_empty term
kafka_down
start_collector term2 --batch-max-ms 600000 --send-timeout-ms 5000 --retries 0 || exit 1
post --events 200 --per 20 --ids "$tmp/term2.ids" >/dev/null
kill -TERM "$CPID"
check "SIGTERM with Kafka down: draining" wait_for 10 grep -q "draining" "$tmp/term2.log"
check_eq "... a POST now gets 503" 503 "$(req POST /collect application/json "$EV")"
wait "$CPID"
check_eq "... exit 0" 0 "$?"
check_contains "... the 200 events were spilled" "accepted 200, sent 0, spilled 200" "$(grep stopped: "$tmp/term2.log")"
check "... into batch files, the journal gone" test "$(ls "$tmp/term2")" = "$(cd "$tmp/term2" && ls batch-*.avro)"
kafka_up
start_collector term2 || exit 1
check "the next start replays them" wait_for 60 dir_empty term2
consume t_term2 >/dev/null
check_eq "... all 200 are on the topic" "200 0" "$(sort -u "$tmp/t_term2.got" | wc -l) $(missing "$tmp/term2.ids" t_term2)"
stop_collector

# ---- 8. --remove-orphans, one collector per folder, bad flags
mkdir -p "$tmp/orph"
touch -d '2 hours ago' "$tmp/orph/batch-0000000000000001.avro.tmp" "$tmp/orph/journal-0000000000000001.jsonl"
touch "$tmp/orph/batch-0000000000000002.avro.tmp"
out=$("$COLL" --remove-orphans --spill-dir "$tmp/orph" 2>&1)
check_eq "--remove-orphans removes only the old .tmp" "batch-0000000000000002.avro.tmp journal-0000000000000001.jsonl" "$(ls "$tmp/orph" | tr '\n' ' ' | sed 's/ $//')"
check_contains "... and says so" "batch-0000000000000001.avro.tmp" "$out"
start_collector lock || exit 1
"$COLL" --listen 127.0.0.1:0 --spill-dir "$tmp/lock" >"$tmp/lock2.log" 2>&1
check_eq "a second collector on the same folder: exit 111" 111 "$?"
stop_collector
"$COLL" --queue-max 0 >"$tmp/usage.log" 2>&1
check_eq "--queue-max 0: exit 100" 100 "$?"
"$COLL" --listen nowhere >"$tmp/usage.log" 2>&1
check_eq "--listen without a port: exit 100" 100 "$?"

#!/usr/bin/env bash
# bench/collector.sh: part 7 of the benchmarks, the event collector (github_events pipeline).
# Contract: bench/lib.sh.
#
# Load: bin/event_injector (C, libcurl multi: N connections, one event per POST, the
# original's client shape; --rate for a fixed rate; it prints events/s and the POSTs'
# p50/p99 latency) against, side by side on the same machine and mock broker:
#   - bin/event_collector: every 202 is in its journal, fdatasync'd (group commit);
#   - bench/tools/collector_ref.py: the original's design (FastAPI + uvicorn + confluent-kafka
#     + python3-avro: memory queue, batch, send; no disk), when its Debian packages are
#     installed (make bench installs them; make test does not: then "n/a").
# Figures: accepted events/s at full speed (32 connections); p99 accept latency at half that
# rate; peak RSS with the broker down and --queue-max 10000 vs 100000 (memory bounded by the
# queue: the rest waits in the journal); end-to-end events/s from the first POST until bronze
# holds every event (stream_loader --follow running beside it).
set -euo pipefail
GUST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$GUST_ROOT/bench/lib.sh"
source "$GUST_ROOT/tests/lib/kafka.sh"

if [ "$BENCH_QUICK" = 1 ]; then N=${BENCH_COLLECTOR_EVENTS:-3000}; else N=${BENCH_COLLECTOR_EVENTS:-100000}; fi
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-out.XXXXXX")}
OUT=$BENCH_OUT/collector.md
work=$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-collector.XXXXXX")
pids=()
own_pg=0
collector_cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    bench_discard "$work"
    [ "$own_pg" = 1 ] && pg_stop
    return 0
}
gust_cleanup_add collector_cleanup
fail() { echo "bench/collector.sh: $*" >&2; exit 1; }
for b in event_collector event_injector stream_loader gust; do
    [ -x "$BIN/$b" ] || fail "$BIN/$b is not built (make)"
done
if [ -z "${PGHOST:-}" ]; then
    GUST_PG_DURABLE=1 pg_start || fail "could not start PostgreSQL"
    own_pg=1
fi
pg_createdb gust_bench_collector >/dev/null || fail "could not create the database"
export PGDATABASE=gust_bench_collector
unset GUST_DATABASE_URL "${!EVENT_COLLECTOR_@}" "${!INJECTOR_@}"
"$BIN/gust" db migrate >/dev/null || fail "gust db migrate"
kafka_start -t raw_metrics_avro:4 -t ref_avro:4 -t e2e_avro:4 || fail "no mock broker"

start_collector() { # NAME [flags]: sets URL and CPID
    local name=$1
    shift
    "$BIN/event_collector" --listen 127.0.0.1:0 --spill-dir "$work/$name" "$@" 2>"$work/$name.log" &
    CPID=$!
    pids+=("$CPID")
    wait_for 30 grep -q '^event_collector: listening on' "$work/$name.log" || fail "collector $name did not start"
    URL=http://$(sed -n 's/^event_collector: listening on //p' "$work/$name.log")/collect
}
inject() { # URL flags...: the injector's summary line
    local url=$1
    shift
    "$BIN/event_injector" --url "$url" --batch 1 "$@" 2>/dev/null | tail -1
}
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# 1. full speed and 2. p99 at half of it
measure() { # NAME URL: "events/s p50 p99 p99-at-half"
    local s peak half
    s=$(inject "$2" --events "$N" --connections 32)
    peak=$(field events_per_s "$s")
    half=$(awk -v p="$peak" 'BEGIN { printf "%d", p / 2 }')
    s2=$(inject "$2" --events "$((N / 4 > 500 ? N / 4 : 500))" --connections 32 --rate "$half")
    echo "$peak $(field p50_ms "$s") $(field p99_ms "$s") $(field p99_ms "$s2") $half"
}
start_collector gust --topic raw_metrics_avro
bench_log "collector: gust, $N events"
read -r g_eps g_p50 g_p99 g_p99h g_half <<<"$(measure gust "$URL")"
kill -TERM "$CPID"; wait "$CPID" || true

r_eps=n/a r_p50=n/a r_p99=n/a r_p99h=n/a r_half=n/a
if /usr/bin/python3 -c 'import fastapi, uvicorn, confluent_kafka, avro' 2>/dev/null; then
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /usr/bin/python3 "$GUST_ROOT/bench/tools/collector_ref.py" --port "$port" \
        --bootstrap "$KAFKA_BOOTSTRAP_SERVERS" --topic ref_avro 2>"$work/ref.log" &
    rpid=$!
    pids+=("$rpid")
    wait_for 30 curl -sf "http://127.0.0.1:$port/health" -o /dev/null || fail "the reference did not start"
    bench_log "collector: reference (FastAPI), $N events"
    read -r r_eps r_p50 r_p99 r_p99h r_half <<<"$(measure ref "http://127.0.0.1:$port/collect")"
    kill -TERM "$rpid"
fi

# 3. memory with the broker down: the queue fills, the rest waits in the journal
rss() { # QUEUE_MAX: peak RSS in MiB after N events with the broker down
    start_collector "mem$1" --queue-max "$1" --topic raw_metrics_avro --retries 0 --send-timeout-ms 500
    kafka_down
    inject "$URL" --events "$N" --connections 16 --batch 50 >/dev/null
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$CPID/status"
    kafka_up
    kill -TERM "$CPID"; wait "$CPID" || true
}
bench_log "collector: memory"
m_small=$(rss 10000)
m_big=$(rss 100000)

# 4. end to end into bronze
bench_log "collector: end to end"
start_collector e2e --topic e2e_avro --batch-max-ms 200
"$BIN/stream_loader" --pipeline github_events --topic e2e_avro --follow --trigger-interval 1s \
    >/dev/null 2>"$work/loader.log" &
pids+=($!)
t0=$(bench_now)
inject "$URL" --events "$N" --connections 16 --batch 50 >/dev/null
landed() { [ "$(psql -X -At -c 'select count(*) from bronze.github_events')" -ge "$N" ]; }
wait_for 600 landed || fail "bronze did not get $N events"
e2e=$(awk -v n="$N" -v a="$t0" -v b="$(bench_now)" 'BEGIN { printf "%d", n / (b - a) }')

{
    echo "### 7. Event collector"
    echo
    echo "$N GitHub-like events from bin/event_injector (one event per POST, 32 connections) into"
    echo "bin/event_collector (journal fdatasync'd before every 202) and into the original's design"
    echo "(bench/tools/collector_ref.py: FastAPI + uvicorn + confluent-kafka, memory only), same"
    echo "machine, same mock broker. p99 at half rate: the injector held at half the peak."
    echo
    echo "| | gust | reference | gust / reference |"
    echo "|---|---|---|---|"
    echo "| accepted events/s (full speed) | $g_eps | $r_eps | $(bench_ratio "$g_eps" "${r_eps/n\/a/0}") |"
    echo "| p50 / p99 accept latency at full speed (ms) | $g_p50 / $g_p99 | $r_p50 / $r_p99 | |"
    echo "| p99 accept latency at half the peak (ms; rate) | $g_p99h ($g_half/s) | $r_p99h ($r_half/s) | |"
    echo
    echo "| gust, broker down, $N events in | peak RSS |"
    echo "|---|---|"
    echo "| --queue-max 10000 | $m_small MiB |"
    echo "| --queue-max 100000 | $m_big MiB |"
    echo
    echo "End to end (POST -> Kafka -> stream_loader --follow -> bronze.github_events): $e2e events/s."
} >"$OUT"
cat "$OUT"

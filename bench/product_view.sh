#!/usr/bin/env bash
# bench/product_view.sh: part 8 of the benchmarks, the product_view star schema load.
# Contract: bench/lib.sh.
#
# N product_view events (bin/product_view_gen, seed 1, spread over 7 days, --broken 0: every
# event becomes a fact row, so events and rows are the same count) go to a topic of the
# librdkafka mock cluster (it keeps only about 5 MiB per partition: the topic has enough
# partitions, and the script checks that no partition lost its head). Then, on a durable
# PostgreSQL with migration 0008's star schema:
#   0. a first bin/stream_loader run, not counted (on a fresh cluster it creates the WAL
#      segment files that later runs recycle); its fact_sales rows, exported with
#      \copy ... to, are the reference's input;
#   then rounds, the order alternating from one round to the next, of
#   1. stream_loader --pipeline product_view --available-now (a new consumer group each time)
#      into empty star tables (fact_sales and the four dimensions truncated, dim_date warmed
#      up by bin/product_view_dims for the events' days, as the DAG does): JSON checked,
#      three SHA-256 keys per event, user agents parsed with uap-core's regexes, addresses
#      looked up in GeoIP, the batch COPYed into a temp table and moved into the dimensions
#      and fact_sales (foreign keys checked) with its offsets in one transaction;
#   2. psql \copy of the same fact rows into an empty table made with
#      (LIKE fact_sales INCLUDING ALL): the same columns and indexes but no foreign keys
#      (LIKE does not copy them) and no dimension to fill: PostgreSQL's own limit.
# A CHECKPOINT is taken before each timed step and every step's row counts are checked. Three
# one-run variants follow, to show where the loader's time goes: the loader with
# --max-batch 50000 (five times fewer transactions); psql \copy into fact_sales itself with
# its dimensions already loaded (the foreign keys checked, as the loader's are); the loader
# with fact_sales's four foreign keys dropped for the run (put back after it).
# Sizes: 200,000 events on 64 partitions (BENCH_QUICK=1: 20,000 on 8); BENCH_PV_EVENTS
# overrides the count. With PGHOST unset it starts its own durable cluster (fsync on).
set -euo pipefail
GUST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$GUST_ROOT/bench/lib.sh"
source "$GUST_ROOT/tests/lib/kafka.sh"

# Rounds: at full size a round takes about 20 s on a quiet 2-core machine, and the whole part
# about 2.5 minutes (set-up, the first run, the variants; twice that beside other work); the
# rounds are min(BENCH_RUNS, 3) (BENCH_PV_RUNS overrides).
if [ "$BENCH_QUICK" = 1 ]; then
    N=${BENCH_PV_EVENTS:-20000} PARTS=8
    RUNS=${BENCH_PV_RUNS:-$BENCH_RUNS}
else
    N=${BENCH_PV_EVENTS:-200000} PARTS=64
    RUNS=${BENCH_PV_RUNS:-$((BENCH_RUNS < 3 ? BENCH_RUNS : 3))}
fi
# an event is about 800 bytes, uncompressed: keep each partition well below the mock's 5 MiB
[ $((N / PARTS)) -le 4000 ] || PARTS=$(((N + 3999) / 4000))
SEED=1 START=1780272000 DAYS=7
FIRST_DAY=$(date -u -d "@$START" +%F)
LAST_DAY=$(date -u -d "@$((START + (DAYS - 1) * 86400))" +%F)
BIG_BATCH=50000
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-out.XXXXXX")}
mkdir -p "$BENCH_OUT"
OUT=$BENCH_OUT/product_view.md
TOPIC=product_view
COPY_TABLE=fact_sales_copy

work=$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-pv.XXXXXX")
own_pg=0
pv_cleanup() {
    bench_discard "$work"
    [ "$own_pg" = 1 ] && pg_stop
    return 0
}
gust_cleanup_add pv_cleanup
fail() {
    echo "bench/product_view.sh: $*" >&2
    exit 1
}

for b in "$BIN/gust" "$BIN/stream_loader" "$BIN/product_view_gen" "$BIN/product_view_dims" \
    "$TOOLS/kafka_mock" /usr/bin/time; do
    [ -x "$b" ] || fail "$b is not built or not installed (make; or set BIN and TOOLS)"
done
command -v kcat >/dev/null || fail "kcat is not installed (it reads the topic's watermarks)"
if [ -z "${PGHOST:-}" ]; then
    bench_log "product_view: no PGHOST: starting a durable PostgreSQL cluster (fsync on)"
    GUST_PG_DURABLE=1 pg_start || fail "could not start PostgreSQL"
    own_pg=1
fi
pg_createdb gust_bench_pv >/dev/null || fail "could not create the database"
export PGDATABASE=gust_bench_pv
unset GUST_DATABASE_URL
export GUST_XCOM_FILE=$work/xcom.json
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
"$BIN/gust" db migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "gust db migrate failed"; }
q "create table $COPY_TABLE (like fact_sales including all)"
kafka_start -t "$TOPIC:$PARTS" || fail "could not start the Kafka mock"

# ---- the events, into Kafka ----------------------------------------------------------------

# sum of the watermarks of every partition: $1 = -2 (log start) or -1 (end)
offsets_sum() {
    local args=() p
    for ((p = 0; p < PARTS; p++)); do args+=(-t "$TOPIC:$p:$1"); done
    kcat -Q -b "$KAFKA_BOOTSTRAP_SERVERS" "${args[@]}" | awk '{ s += $NF } END { print s + 0 }'
}

bench_log "product_view: producing $N events to $TOPIC ($PARTS partitions)"
t_produce=''
bench_time t_produce "$BIN/product_view_gen" --count "$N" --seed "$SEED" --start "$START" \
    --days "$DAYS" --broken 0 --duplicates 0 --topic "$TOPIC" --out "$work/events.jsonl" \
    >"$work/gen.log" 2>&1 || { tail -5 "$work/gen.log" >&2; fail "product_view_gen failed"; }
low=$(offsets_sum -2)
high=$(offsets_sum -1)
[ "$low" = 0 ] || fail "the Kafka mock dropped $low events (more than it keeps per partition): use more partitions"
[ "$high" = "$N" ] || fail "$high messages in $TOPIC, $N produced"
EVENT_BYTES=$(($(stat -c %s "$work/events.jsonl") - N)) # without the newlines
rm -f "$work/events.jsonl"
MB=$(awk -v b="$EVENT_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
bench_log "product_view: $N events ($MB MB of JSON) produced in ${t_produce}s; none dropped"

# ---- the timed steps -------------------------------------------------------------------------

# empty star tables, dim_date warmed up for the events' days (untimed, as the DAG's first task)
fresh_star() {
    q "truncate fact_sales, dim_date, dim_product, dim_location, dim_user_agent,
       product_view_dead_letters, $COPY_TABLE cascade"
    "$BIN/product_view_dims" --from "$FIRST_DAY" --to "$LAST_DAY" >"$work/dims.log" 2>&1 ||
        { tail -5 "$work/dims.log" >&2; fail "product_view_dims failed"; }
    q "checkpoint"
}
count() { q "select count(*) from $1"; }
# "user agents, addresses, products" in the dimensions
dims_now() { echo "$(count dim_user_agent) $(count dim_location) $(count dim_product)"; }
xcom_get() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$GUST_XCOM_FILE" "$1"; }

# step_loader NAME [ARGS...]: one timed stream_loader run (group bench_NAME), checked; its wall
# time in t, "user+system CPU seconds" and peak RSS (KiB) in $work/cpu and $work/rss
step_loader() {
    local name=$1 rows
    shift
    rm -f "$GUST_XCOM_FILE"
    bench_time t /usr/bin/time -f '%U %S %M' -o "$work/time" "$BIN/stream_loader" \
        --pipeline product_view --available-now --topic "$TOPIC" --group "bench_$name" "$@" \
        >"$work/loader.log" 2>&1 || { tail -5 "$work/loader.log" >&2; fail "stream_loader failed"; }
    awk '{ printf "%.3f\n", $1 + $2 }' "$work/time" >"$work/cpu"
    awk '{ print $3 }' "$work/time" >"$work/rss"
    rows=$(count fact_sales)
    if ! [ "$rows" = "$N" ] || ! [ "$(xcom_get records_loaded)" = "$N" ] ||
        ! [ "$(xcom_get dead_letters)" = 0 ]; then
        fail "stream_loader loaded $rows fact rows (XCom: $(cat "$GUST_XCOM_FILE")), want $N and no dead letter"
    fi
    [ -z "$DIMS" ] || [ "$(dims_now)" = "$DIMS" ] ||
        fail "stream_loader left $(dims_now) user agents, addresses, products; the first run $DIMS"
}
# step_copy TABLE: the timed psql \copy of the fact rows into TABLE, checked
step_copy() {
    bench_time t psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $1 from '$work/facts.tsv'" ||
        fail "psql \\copy into $1 failed"
    [ "$(count "$1")" = "$N" ] || fail "psql \\copy loaded $(count "$1") rows into $1, want $N"
}

# 1. The first loader run, not counted: WAL segment files, the reference's rows, the counts
# every later run must reproduce.
t='' DIMS=''
fresh_star
step_loader cold
t_cold=$t cpu_cold=$(cat "$work/cpu")
DIMS=$(dims_now)
read -r N_UA N_IP N_PRODUCT <<<"$DIMS"
if [ "$N_UA" = 0 ] || [ "$N_IP" = 0 ] || [ "$N_PRODUCT" = 0 ]; then
    fail "the first run left an empty dimension: $DIMS user agents, addresses, products"
fi
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy fact_sales to '$work/facts.tsv'"
TSV_MB=$(awk -v b="$(stat -c %s "$work/facts.tsv")" 'BEGIN { printf "%.1f", b / 1e6 }')
bench_log "product_view: first (cold) loader run ${t}s (CPU ${cpu_cold}s); $N_UA user agents, $N_IP addresses, $N_PRODUCT products"

# 2. The timed rounds, the order alternating from one round to the next.
for f in loader.s loader.cpu loader.rss copy.s; do : >"$work/$f"; done
for ((run = 1; run <= RUNS; run++)); do
    steps=(loader copy)
    [ $((run % 2)) = 0 ] && steps=(copy loader)
    for step in "${steps[@]}"; do
        fresh_star
        if [ "$step" = loader ]; then
            step_loader "$run"
            echo "$t" >>"$work/loader.s"
            cat "$work/cpu" >>"$work/loader.cpu"
            cat "$work/rss" >>"$work/loader.rss"
            bench_log "product_view: run $run/$RUNS: stream_loader ${t}s (CPU $(cat "$work/cpu")s, RSS $(cat "$work/rss") KiB)"
        else
            step_copy "$COPY_TABLE"
            echo "$t" >>"$work/copy.s"
            bench_log "product_view: run $run/$RUNS: psql \\copy ${t}s"
        fi
    done
done

# 3. The variants, one run each: fewer transactions; the copy with the foreign keys checked
# (into fact_sales, its dimensions left from the loader run).
fresh_star
step_loader big --max-batch "$BIG_BATCH"
t_big=$t cpu_big=$(cat "$work/cpu")
bench_log "product_view: stream_loader --max-batch $BIG_BATCH ${t}s (CPU ${cpu_big}s)"
q "truncate fact_sales"
q "checkpoint"
step_copy fact_sales
t_fk=$t
bench_log "product_view: psql \\copy into fact_sales (foreign keys) ${t}s"
# the loader with fact_sales's foreign keys dropped (put back afterwards): what they cost it
fks=$(q "select string_agg(format('add constraint %I %s', conname, pg_get_constraintdef(oid)), ', ')
         from pg_constraint where conrelid = 'fact_sales'::regclass and contype = 'f'")
[ -n "$fks" ] || fail "fact_sales has no foreign key"
q "alter table fact_sales $(q "select string_agg(format('drop constraint %I', conname), ', ')
   from pg_constraint where conrelid = 'fact_sales'::regclass and contype = 'f'")"
fresh_star
step_loader nofk
t_nofk=$t
bench_log "product_view: stream_loader without foreign keys ${t}s (CPU $(cat "$work/cpu")s)"
fresh_star
q "alter table fact_sales $fks"

# ---- the section -----------------------------------------------------------------------------

# rate FILE PER: "median min max" of PER / seconds, one per run (the slowest run is the min)
rate() { awk -v per="$2" '{ printf "%.3f\n", per / $1 }' "$1" | bench_stats; }
one() { echo "$1 $1 $1"; }
# row WHAT STATS UNIT [DECIMALS]
row() {
    local what=$1 unit=$3 d=${4:-0} med min max
    read -r med min max <<<"$2"
    printf '| %s | %.*f | %.*f | %.*f | %s |\n' "$what" "$d" "$med" "$d" "$min" "$d" "$max" "$unit"
}
per_s() { awk -v n="$N" -v t="$1" 'BEGIN { printf "%.3f", n / t }'; }
read -r loader_eps _ _ <<<"$(rate "$work/loader.s" "$N")"
read -r copy_rps _ _ <<<"$(rate "$work/copy.s" "$N")"
ratio=$(bench_ratio "$loader_eps" "$copy_rps")
goal=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.5) ? "met" : "not met" }')
loader_cpu=$(bench_median <"$work/loader.cpu")
loader_wall=$(bench_median <"$work/loader.s")
copy_t=$(bench_median <"$work/copy.s")
rss_mib() { awk '{ printf "%.3f\n", $1 / 1024 }' "$work/loader.rss" | bench_stats; }
{
    echo "### 8. product_view star schema load"
    echo
    echo "$N product_view events (\`product_view_gen --seed $SEED --days $DAYS --broken 0\`:" \
        "$MB MB of JSON, $((EVENT_BYTES / N)) bytes each on average, none broken, so every event" \
        "is one fact row) in a $PARTS-partition topic of the librdkafka mock cluster, loaded" \
        "into the star schema of a durable PostgreSQL (fsync on) by \`stream_loader --pipeline" \
        "product_view --available-now\` (default --max-batch: a transaction with its offsets" \
        "every 10,000 events; enrichment on: uap-core's regexes, GeoIP country files), against" \
        "\`psql \\copy\` of the same fact rows ($TSV_MB MB of TSV, \\copy ... to of the loader's" \
        "fact_sales) into a table made with \`(LIKE fact_sales INCLUDING ALL)\`: the same" \
        "columns, primary key and four indexes, but no foreign keys and no dimension to fill." \
        "Before each step fact_sales, the four dimensions and the copy's table are truncated," \
        "dim_date is warmed up for the $DAYS days by \`product_view_dims\` (untimed) and a" \
        "CHECKPOINT taken. A first loader run is not counted (on a fresh cluster it creates the" \
        "WAL segment files later runs recycle); then $RUNS round(s), the order alternating per" \
        "round. Each loader run built $N_UA \`dim_user_agent\` rows (user agents parsed)," \
        "$N_IP \`dim_location\` rows (addresses looked up) and $N_PRODUCT \`dim_product\` rows:" \
        "the generator draws from fixed pools, so this enrichment work does not grow with N."
    echo
    echo "| what | median | min | max | unit |"
    echo "|---|---|---|---|---|"
    row "stream_loader: time" "$(bench_stats <"$work/loader.s")" s 2
    row "stream_loader: events/s" "$(rate "$work/loader.s" "$N")" "events/s"
    row "stream_loader: CPU (user + system)" "$(bench_stats <"$work/loader.cpu")" s 2
    row "stream_loader: peak RSS" "$(rss_mib)" MiB 1
    row "stream_loader: first run (not counted)" "$(one "$t_cold")" s 2
    row "psql \\copy (no foreign keys): time" "$(bench_stats <"$work/copy.s")" s 2
    row "psql \\copy (no foreign keys): rows/s" "$(rate "$work/copy.s" "$N")" "rows/s"
    row "variant, 1 run: stream_loader --max-batch $BIG_BATCH: events/s" "$(one "$(per_s "$t_big")")" "events/s"
    row "variant, 1 run: psql \\copy into fact_sales (foreign keys checked): rows/s" "$(one "$(per_s "$t_fk")")" "rows/s"
    row "variant, 1 run: stream_loader, fact_sales without its foreign keys: events/s" "$(one "$(per_s "$t_nofk")")" "events/s"
    echo
    echo "Ratio (medians): stream_loader events/s / psql \\copy rows/s = **$ratio**."
    echo
    echo "The loader parses and checks each event, computes three SHA-256 keys, looks its user" \
        "agent and address up once per process (keys remembered across batches) and COPYs a" \
        "36-column row into a temp table, in one thread (plus librdkafka's fetch thread):" \
        "${loader_cpu}s of CPU in ${loader_wall}s. The server then does what psql \\copy does" \
        "(the fact's primary key and four indexes, the WAL with fsync) and more: the temp" \
        "table's COPY, the INSERT ... SELECT with ON CONFLICT from it, four foreign-key checks" \
        "per fact row and the dimension rows; at each commit the loader waits for it before" \
        "reading on. The foreign keys alone make psql \\copy $(bench_ratio "$t_fk" "$copy_t")x" \
        "slower (${t_fk}s instead of ${copy_t}s: a trigger per key and row, each an index" \
        "lookup with a row lock); without them the loader reaches" \
        "$(bench_ratio "$(per_s "$t_nofk")" "$copy_rps")x of psql \\copy (one run)."
    echo
    echo "Goal: loader >= 0.5x psql \\copy: **$goal** (${ratio}x)."
    if [ "$BENCH_QUICK" = 1 ]; then
        echo
        echo "(BENCH_QUICK=1: a harness check; at this size start-up costs dominate and the" \
            "figures mean nothing.)"
    fi
} >"$OUT"
bench_log "product_view: wrote $OUT (loader/psql \\copy $ratio)"

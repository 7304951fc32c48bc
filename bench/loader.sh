#!/usr/bin/env bash
# bench/loader.sh: part 5 of the benchmarks (issue 8), loader throughput. Contract: bench/lib.sh.
#
# N registry-like records (bench/tools/dvc_gen.py: the 29 flat fields of the drug registry,
# about 1.1 KB each, Vietnamese text, timestamps with 0 to 7 fractional digits; every 10th
# record a newer version of an earlier one) go to a Kafka topic of the librdkafka mock
# cluster with kcat (lz4: the mock keeps the compressed batches and only about 5 MiB per
# partition, so the topic has enough partitions; the script checks that no partition lost
# its head). Then, on the same PostgreSQL table (pharmaceutical_data_staging):
#   0. a first bin/stream_loader run and pharma_upsert of its rows, not counted (on a fresh
#      cluster they create the WAL segment files that later runs recycle): its rows give the
#      TSV file (\copy ... to);
#   then rounds, the order of the tools alternating from one round to the next, of
#   1. bin/stream_loader --pipeline dvc --available-now (a new consumer group each time),
#      then pharma_upsert of the rows it loaded (staging -> pharmaceutical_data, the dedup);
#   2. psql \copy of the TSV file: PostgreSQL's own limit;
#   3. kcat -C | bench/tools/dvc_tsv.py | psql \copy: the quick script a data engineer
#      would write.
# The table is truncated and a CHECKPOINT taken before each timed step, and every step's row
# count is checked. Sizes: 1,000,000 records on 64 partitions (BENCH_QUICK=1: 20,000 on 8);
# BENCH_LOADER_RECORDS overrides the count, BENCH_UPSERT_JOBS pharma_upsert's --jobs (2).
# With PGHOST unset it starts its own durable cluster (fsync on), as bench/run.sh does.
set -euo pipefail
GUST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$GUST_ROOT/bench/lib.sh"
source "$GUST_ROOT/tests/lib/kafka.sh"

# Rounds: at full size one round of the three tools takes about 80 s on a 2-core machine
# (the kcat pipeline alone about 45 s, pharma_upsert about 10 s), on top of about 100 s of
# set-up (records, first run), so BENCH_RUNS=5 would take 8 minutes: the loader and psql \copy run
# min(BENCH_RUNS, 3) times, the kcat pipeline (slowest, far behind) once. BENCH_LOADER_RUNS
# and BENCH_LOADER_KCAT_RUNS override.
if [ "$BENCH_QUICK" = 1 ]; then
    N=${BENCH_LOADER_RECORDS:-20000} PARTS=8
    RUNS=${BENCH_LOADER_RUNS:-$BENCH_RUNS}
    KCAT_RUNS=${BENCH_LOADER_KCAT_RUNS:-$RUNS}
else
    N=${BENCH_LOADER_RECORDS:-1000000} PARTS=64
    RUNS=${BENCH_LOADER_RUNS:-$((BENCH_RUNS < 3 ? BENCH_RUNS : 3))}
    KCAT_RUNS=${BENCH_LOADER_KCAT_RUNS:-1}
fi
# the mock keeps ~20,000 of these records per partition (lz4): keep each well below that
[ $((N / PARTS)) -le 16000 ] || PARTS=$(((N + 15999) / 16000))
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-out.XXXXXX")}
mkdir -p "$BENCH_OUT"
OUT=$BENCH_OUT/loader.md
TOPIC=all_data
TINY_TOPIC=tiny_data # 4. a tiny load: 10 records, start to finish
TABLE=pharmaceutical_data_staging
COLS="idthuoc, sodangky, sodangkycu, tenthuoc, phanloaithuocenum, congtydangkyid,
 congtysanxuatid, creationtime, lastmodificationtime, tencongtydangky, diachidangky,
 nuocdangky, tencongtysanxuat, diachisanxuat, nuocsanxuat, fulladdress, dotcap,
 ngaycapsodangky, ngayhethansodangky, ngaygiahansodangky, soquyetdinh, thongtinrutsodangky,
 dangbaoche, donggoi, hamluong, hoatchatchinh, tieuchuan, tieuchuanid, tuoitho, source_topic,
 source_partition, source_offset"
COLS=$(echo "$COLS" | tr -d '\n')

work=$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-loader.XXXXXX")
own_pg=0
loader_cleanup() {
    bench_discard "$work"
    [ "$own_pg" = 1 ] && pg_stop
    return 0
}
gust_cleanup_add loader_cleanup
fail() {
    echo "bench/loader.sh: $*" >&2
    exit 1
}

for b in "$BIN/gust" "$BIN/stream_loader" "$BIN/pharma_upsert" "$TOOLS/kafka_mock"; do
    [ -x "$b" ] || fail "$b is not built (make; or set BIN and TOOLS)"
done
if [ -z "${PGHOST:-}" ]; then
    bench_log "loader: no PGHOST: starting a durable PostgreSQL cluster (fsync on)"
    GUST_PG_DURABLE=1 pg_start || fail "could not start PostgreSQL"
    own_pg=1
fi
pg_createdb gust_bench_loader >/dev/null || fail "could not create the database"
export PGDATABASE=gust_bench_loader
unset GUST_DATABASE_URL
export GUST_XCOM_FILE=$work/xcom.json
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
"$BIN/gust" db migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "gust db migrate failed"; }
kafka_start -t "$TOPIC:$PARTS" -t "$TINY_TOPIC:4" || fail "could not start the Kafka mock"

# ---- the records, into Kafka ---------------------------------------------------------------

# sum of the watermarks of every partition: $1 = -2 (log start) or -1 (end)
offsets_sum() {
    local args=() p
    for ((p = 0; p < PARTS; p++)); do args+=(-t "$TOPIC:$p:$1"); done
    kcat -Q -b "$KAFKA_BOOTSTRAP_SERVERS" "${args[@]}" | awk '{ s += $NF } END { print s + 0 }'
}

bench_log "loader: producing $N records to $TOPIC ($PARTS partitions, lz4)"
produce() {
    python3 "$GUST_ROOT/bench/tools/dvc_gen.py" "$N" --stats "$work/gen.json" |
        kcat -P -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$TOPIC" -K $'\t' -z lz4 \
            -X partitioner=murmur2_random
}
t_produce=''
bench_time t_produce produce || fail "producing the records failed"
low=$(offsets_sum -2)
high=$(offsets_sum -1)
[ "$low" = 0 ] || fail "the Kafka mock dropped $low records (more than it keeps per partition): use more partitions"
[ "$high" = "$N" ] || fail "$high messages in $TOPIC, $N produced"
read -r KEYS VALUE_BYTES < <(python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print(s["keys"], s["value_bytes"])' "$work/gen.json")
MB=$(awk -v b="$VALUE_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
bench_log "loader: $N records ($KEYS keys, $MB MB of JSON) produced in ${t_produce}s; none dropped"

# ---- the timed steps -------------------------------------------------------------------------

staging_rows() { q "select count(*) from $TABLE"; }
fresh_table() {
    psql -X -q -v ON_ERROR_STOP=1 -c "truncate $TABLE, pharmaceutical_data, pharmaceutical_dead_letters" \
        -c "checkpoint"
}
# cpu_of FILE cmd...: run cmd (its status is returned); the user + system CPU seconds of its
# processes go to FILE
cpu_of() {
    local file=$1 TIMEFORMAT='%U %S' rc=0
    shift
    { time "$@" 2>&3; } 3>&2 2>"$file.t" || rc=$?
    awk '{ printf "%.3f\n", $1 + $2 }' "$file.t" >"$file"
    return $rc
}
run_loader() {
    "$BIN/stream_loader" --pipeline dvc --available-now --topic "$TOPIC" --group "bench_$1" \
        >"$work/loader.log" 2>&1
}
run_psql_copy() { psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $TABLE ($COLS) from '$work/rows.tsv'"; }
run_kcat_pipeline() {
    kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$TOPIC" -o beginning -e -q -f '%t\t%p\t%o\t%s\n' |
        python3 "$GUST_ROOT/bench/tools/dvc_tsv.py" |
        psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $TABLE ($COLS) from stdin"
}
xcom_get() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$GUST_XCOM_FILE" "$1"; }

# step_loader NAME: one timed stream_loader run (consumer group bench_NAME), checked
step_loader() {
    rm -f "$GUST_XCOM_FILE"
    bench_time t cpu_of "$work/cpu" run_loader "$1" ||
        { tail -5 "$work/loader.log" >&2; fail "stream_loader failed"; }
    rows=$(staging_rows)
    if ! [ "$rows" = "$N" ] || ! [ "$(xcom_get records_loaded)" = "$N" ] ||
        ! [ "$(xcom_get dead_letters)" = 0 ]; then
        fail "stream_loader loaded $rows rows (XCom: $(cat "$GUST_XCOM_FILE")), want $N and no dead letter"
    fi
}
step_copy() {
    bench_time t run_psql_copy || fail "psql \\copy failed"
    [ "$(staging_rows)" = "$N" ] || fail "psql \\copy loaded $(staging_rows) rows, want $N"
}
step_kcat() {
    bench_time t cpu_of "$work/cpu" run_kcat_pipeline || fail "the kcat pipeline failed"
    [ "$(staging_rows)" = "$N" ] || fail "the kcat pipeline loaded $(staging_rows) rows, want $N"
}

# 1. A first, untimed-for-the-ratios loader run: the fresh cluster creates its WAL segment
# files now (later runs recycle them), which would otherwise burden whichever tool ran
# first. Its rows give the TSV file and pharma_upsert's input.
t='' t_upsert_cold='' TSV_MB='' rows=''
fresh_table
step_loader cold
t_cold=$t
bench_log "loader: first (cold) stream_loader run ${t}s (CPU $(cat "$work/cpu")s)"
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $TABLE ($COLS) to '$work/rows.tsv'"
TSV_MB=$(awk -v b="$(stat -c %s "$work/rows.tsv")" 'BEGIN { printf "%.1f", b / 1e6 }')
# pharma_upsert runs as pharmaceutical_upsert_dag runs it: two parts at once (--jobs 2)
UPSERT_JOBS=${BENCH_UPSERT_JOBS:-2}
step_upsert() {
    q "truncate pharmaceutical_data"
    q "checkpoint"
    rm -f "$GUST_XCOM_FILE"
    bench_time t "$BIN/pharma_upsert" --jobs "$UPSERT_JOBS" >"$work/upsert.log" 2>&1 ||
        { tail -5 "$work/upsert.log" >&2; fail "pharma_upsert failed"; }
    if ! [ "$(xcom_get staging_rows)" = "$N" ] || ! [ "$(xcom_get inserted)" = "$KEYS" ] ||
        ! [ "$(q 'select count(*) from pharmaceutical_data')" = "$KEYS" ]; then
        fail "pharma_upsert: XCom $(cat "$GUST_XCOM_FILE"), want $N staging rows -> $KEYS rows"
    fi
}
# pharma_upsert of the first run's rows, not counted either: on a fresh cluster its 1.5 GB
# of WAL is the first to outgrow the segment files the loader left (about 2 s more)
step_upsert
t_upsert_cold=$t
bench_log "loader: first pharma_upsert of $N staging rows -> $KEYS rows: ${t}s (not counted)"

# 2. The timed rounds, the order of the tools alternating from one round to the next.
: >"$work/loader.s"
: >"$work/loader.cpu"
: >"$work/copy.s"
: >"$work/kcat.s"
: >"$work/kcat.cpu"
: >"$work/upsert.s"
for ((run = 1; run <= RUNS; run++)); do
    steps=(loader copy kcat)
    [ $((run % 2)) = 0 ] && steps=(kcat copy loader)
    for step in "${steps[@]}"; do
        [ "$step" = kcat ] && [ "$run" -gt "$KCAT_RUNS" ] && continue
        fresh_table
        case $step in
        loader)
            step_loader "$run"
            echo "$t" >>"$work/loader.s"
            cat "$work/cpu" >>"$work/loader.cpu"
            bench_log "loader: run $run/$RUNS: stream_loader ${t}s (CPU $(cat "$work/cpu")s)"
            step_upsert # the loader's rows, as in the pipeline: staging -> pharmaceutical_data
            echo "$t" >>"$work/upsert.s"
            bench_log "loader: run $run/$RUNS: pharma_upsert ${t}s"
            ;;
        copy)
            step_copy
            echo "$t" >>"$work/copy.s"
            bench_log "loader: run $run/$RUNS: psql \\copy ${t}s"
            ;;
        kcat)
            step_kcat
            echo "$t" >>"$work/kcat.s"
            cat "$work/cpu" >>"$work/kcat.cpu"
            bench_log "loader: run $run/$RUNS: kcat | dvc_tsv.py | psql \\copy ${t}s (CPU $(cat "$work/cpu")s)"
            ;;
        esac
    done
done
fresh_table

# 3. A tiny load: 10 records in 4 partitions, each run a new consumer group (so it loads all
# 10), in static mode (--member 0/1: explicit assignment) and in group mode (Kafka's group
# protocol: the join and the settle wait are the most of it). Start to finish, the process.
python3 "$GUST_ROOT/bench/tools/dvc_gen.py" 10 |
    kcat -P -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$TINY_TOPIC" -K $'\t' -X partitioner=murmur2_random ||
    fail "producing the tiny load failed"
: >"$work/tiny_static.s"
: >"$work/tiny_group.s"
tiny() { "$BIN/stream_loader" --pipeline dvc --available-now --topic "$TINY_TOPIC" "$@" >"$work/tiny.log" 2>&1; }
for ((run = 1; run <= 7; run++)); do
    bench_time t tiny --group "tiny_static_$run" --member 0/1 ||
        { tail -5 "$work/tiny.log" >&2; fail "the tiny static load failed"; }
    echo "$t" >>"$work/tiny_static.s"
    [ "$run" -le 3 ] || continue
    bench_time t tiny --group "tiny_group_$run" ||
        { tail -5 "$work/tiny.log" >&2; fail "the tiny group load failed"; }
    echo "$t" >>"$work/tiny_group.s"
done
[ "$(q "select count(*) from $TABLE where source_topic = '$TINY_TOPIC'")" = 100 ] ||
    fail "the tiny loads loaded $(q "select count(*) from $TABLE where source_topic = '$TINY_TOPIC'") rows, want 7 x 10 + 3 x 10"
bench_log "loader: tiny load (10 records): static $(bench_median <"$work/tiny_static.s")s, group $(bench_median <"$work/tiny_group.s")s"
fresh_table

# ---- the section -----------------------------------------------------------------------------

# rate FILE PER: "median min max" of PER / seconds, one per run (the slowest run is the min)
rate() { awk -v per="$2" '{ printf "%.3f\n", per / $1 }' "$1" | bench_stats; }
# row WHAT STATS UNIT [DECIMALS]
row() {
    local what=$1 unit=$3 d=${4:-0} med min max
    read -r med min max <<<"$2"
    printf '| %s | %.*f | %.*f | %.*f | %s |\n' "$what" "$d" "$med" "$d" "$min" "$d" "$max" "$unit"
}
read -r loader_rps _ _ <<<"$(rate "$work/loader.s" "$N")"
read -r copy_rps _ _ <<<"$(rate "$work/copy.s" "$N")"
read -r kcat_rps _ _ <<<"$(rate "$work/kcat.s" "$N")"
r_copy=$(bench_ratio "$loader_rps" "$copy_rps")
r_kcat=$(bench_ratio "$loader_rps" "$kcat_rps")
goal=$(awk -v r="$r_copy" 'BEGIN { print (r >= 0.5) ? "met" : "not met" }')
loader_cpu=$(bench_median <"$work/loader.cpu")
loader_wall=$(bench_median <"$work/loader.s")
kcat_cpu=$(bench_median <"$work/kcat.cpu")
mbps() { rate "$1" "$VALUE_BYTES" | awk '{ print $1 / 1e6, $2 / 1e6, $3 / 1e6 }'; }
{
    echo "### 5. Loader throughput"
    echo
    echo "$N registry-like JSON records (the 29 fields of the drug registry, Vietnamese text," \
        "timestamps with 0 to 7 fractional digits; $MB MB of JSON, $((VALUE_BYTES / N)) bytes each" \
        "on average; $KEYS distinct soDangKy, every 10th record a newer version of an earlier one)" \
        "in a $PARTS-partition topic of the librdkafka mock cluster (produced with kcat, lz4)," \
        "loaded into \`pharmaceutical_data_staging\` of a durable PostgreSQL (fsync on), truncated" \
        "and checkpointed before each step, by: \`stream_loader --pipeline dvc --available-now\`" \
        "(default --max-batch: a transaction with its offsets every 10,000 records); \`psql" \
        "\\copy\` of the same rows from a TSV file ($TSV_MB MB, \\copy ... to of the loader's rows);" \
        "\`kcat -C | python3 bench/tools/dvc_tsv.py | psql \\copy\` (json.loads, COPY text out, no" \
        "validation). A first loader run is not counted (on a fresh cluster it creates the WAL" \
        "segment files later runs recycle); then $RUNS round(s) of the loader and psql" \
        "\\copy and $KCAT_RUNS of the kcat pipeline, the tools' order alternating per round. MB/s:" \
        "10^6 bytes of JSON records per second, for every tool. CPU: user + system seconds of the" \
        "client processes (the server's are not counted)."
    echo
    echo "| what | median | min | max | unit |"
    echo "|---|---|---|---|---|"
    row "stream_loader: time" "$(bench_stats <"$work/loader.s")" s 2
    row "stream_loader: records/s" "$(rate "$work/loader.s" "$N")" "records/s"
    row "stream_loader: MB/s" "$(mbps "$work/loader.s")" "MB/s" 1
    row "stream_loader: CPU" "$(bench_stats <"$work/loader.cpu")" s 2
    row "stream_loader: first run (not counted)" "$t_cold $t_cold $t_cold" s 2
    row "psql \\copy (TSV): time" "$(bench_stats <"$work/copy.s")" s 2
    row "psql \\copy (TSV): records/s" "$(rate "$work/copy.s" "$N")" "records/s"
    row "psql \\copy (TSV): MB/s" "$(mbps "$work/copy.s")" "MB/s" 1
    row "kcat \\| dvc_tsv.py \\| psql: time" "$(bench_stats <"$work/kcat.s")" s 2
    row "kcat \\| dvc_tsv.py \\| psql: records/s" "$(rate "$work/kcat.s" "$N")" "records/s"
    row "kcat \\| dvc_tsv.py \\| psql: MB/s" "$(mbps "$work/kcat.s")" "MB/s" 1
    row "kcat \\| dvc_tsv.py \\| psql: CPU" "$(bench_stats <"$work/kcat.cpu")" s 2
    row "pharma_upsert: $N staging rows -> $KEYS rows (after each loader run)" "$(bench_stats <"$work/upsert.s")" s 2
    row "pharma_upsert: staging rows/s" "$(rate "$work/upsert.s" "$N")" "rows/s"
    row "pharma_upsert: first run (not counted)" "$t_upsert_cold $t_upsert_cold $t_upsert_cold" s 2
    row "tiny load, 10 records, static (--member 0/1, 7 runs)" "$(bench_stats <"$work/tiny_static.s")" s 3
    row "tiny load, 10 records, group mode (3 runs)" "$(bench_stats <"$work/tiny_group.s")" s 3
    echo
    echo "Ratios (medians of records/s): loader / psql \\copy = **$r_copy**;" \
        "loader / kcat pipeline = **$r_kcat**."
    echo
    echo "The loader parses, validates (soDangKy; integers; 5 timestamps per record converted to" \
        "UTC) and copies in one thread (plus librdkafka's fetch thread): ${loader_cpu}s of CPU in" \
        "${loader_wall}s. The rest is the server's work, the same that bounds psql \\copy" \
        "(parsing the COPY rows, the staging table's two indexes, the WAL with fsync), plus the" \
        "time the two do not overlap: at each of the $(((N + 9999) / 10000)) commits the loader" \
        "waits for the server to finish the batch's COPY, its offsets and the WAL flush before it" \
        "reads on, and on a 2-core machine its CPU competes with the server's. The kcat pipeline" \
        "is bound by its Python converter (${kcat_cpu}s of client CPU). pharma_upsert" \
        "(--jobs $UPSERT_JOBS, as its DAG runs it: the keys in $UPSERT_JOBS parts by hash, one" \
        "session and transaction each: DELETE ... RETURNING, DISTINCT ON soDangKy, INSERT ..." \
        "ON CONFLICT into an empty \`pharmaceutical_data\`, after a CHECKPOINT) moved each" \
        "loader run's rows;" \
        "it is not part of the load's time. Goal (issue 22): at most 10 s per million staging" \
        "rows."
    echo
    echo "Goal: loader >= 0.5x psql \\copy: **$goal** (${r_copy}x); loader vs the kcat pipeline:" \
        "${r_kcat}x."
    echo
    echo "The tiny load is the loader's fixed cost: process start, the PostgreSQL connection," \
        "Kafka's metadata and watermarks, one fetch, one commit with its offsets, the XCom file." \
        "Goal: under 0.1 s in static mode (**$(awk -v m="$(bench_median <"$work/tiny_static.s")" \
            'BEGIN { print (m < 0.1) ? "met" : "not met" }')**). In group mode Kafka's group" \
        "protocol adds the join and the settle wait (\`--settle\`, for a cooperative rebalance's" \
        "second round); a real broker also delays a new group's first rebalance" \
        "(\`group.initial.rebalance.delay.ms\`, 3 s by default)."
    if [ "$BENCH_QUICK" = 1 ]; then
        echo
        echo "(BENCH_QUICK=1: a harness check; at this size start-up costs dominate and the" \
            "figures mean nothing.)"
    fi
} >"$OUT"
bench_log "loader: wrote $OUT (loader/psql \\copy $r_copy, loader/kcat $r_kcat)"

#!/usr/bin/env bash
# Benchmark parts 3 and 4: DAG loading and the idle scheduler's footprint.
#
# 3. 1,000 generated DAG files of 20 tasks (bench/gen_graphs.py many): wall time and peak
#    RSS of `gust dags list-import-errors` (parse, validate, check every template, report),
#    BENCH_RUNS times.
# 4. `gust scheduler` idle for BENCH_IDLE_SECONDS (60) on the repository's DAGs (paused, so
#    nothing runs) and on the 1,000 generated ones (starting in 2099, so nothing is due), both
#    at once on their own databases: RSS sampled every second (max), CPU time used over the
#    window, after a settling time in which the scheduler loads and records the DAGs.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

: "${BENCH_OUT:?BENCH_OUT is not set (run bench/run.sh)}"
own_pg=0
if [ -z "${PGHOST:-}" ]; then
    GUST_PG_DURABLE=1 pg_start
    own_pg=1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-dagload.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    bench_discard "$work"
    [ "$own_pg" = 1 ] && pg_stop
    return 0
}
trap cleanup EXIT

if [ "$BENCH_QUICK" = 1 ]; then
    n_dags=50 idle=${BENCH_IDLE_SECONDS:-3} settle=2
else
    n_dags=1000 idle=${BENCH_IDLE_SECONDS:-60} settle=5
fi
python3 "$GUST_ROOT/bench/gen_graphs.py" "$work/many" many "$n_dags" --tasks 20
many=$work/many/dags

# --- 3. loading
: >"$work/load"
for ((i = 1; i <= BENCH_RUNS; i++)); do
    bench_log "dag loading: run $i/$BENCH_RUNS"
    read -r wall rss rc <<<"$(GUST_DAGS_FOLDER=$many python3 "$GUST_ROOT/bench/measure.py" \
        "$BIN/gust" dags list-import-errors)"
    [ "$rc" = 0 ] || { bench_log "gust dags list-import-errors exited $rc"; exit 1; }
    echo "$wall $rss" >>"$work/load"
done
read -r lmed lmin lmax <<<"$(awk '{ print $1 }' "$work/load" | bench_stats)"
read -r rmed rmin rmax <<<"$(awk '{ print $2 / 1024 }' "$work/load" | bench_stats)"
bytes=$(cat "$many"/*.yaml | wc -c)

# --- 3b. one big DAG: loading time must grow about linearly with its tasks
if [ "$BENCH_QUICK" = 1 ]; then big_sizes="500 1000"; else big_sizes="12500 25000"; fi
big_rows=""
for n in $big_sizes; do
    python3 "$GUST_ROOT/bench/gen_graphs.py" "$work/big$n" bigchain "$n"
    : >"$work/bigload"
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        read -r wall rss rc <<<"$(GUST_DAGS_FOLDER=$work/big$n/dags python3 \
            "$GUST_ROOT/bench/measure.py" "$BIN/gust" dags list)"
        [ "$rc" = 0 ] || { bench_log "gust dags list (chain of $n) exited $rc"; exit 1; }
        echo "$wall" >>"$work/bigload"
    done
    read -r bmed bmin bmax <<<"$(bench_stats <"$work/bigload")"
    big_rows+="| chain of $n tasks | $bmed s | $bmin s | $bmax s |"$'\n'
done

# --- 4. idle scheduler
q() { psql -X -q -At -d "$1" -c "$2"; }
start_sched() { # name dags_folder; the scheduler's pid in last_pid
    pg_createdb "gust_bench_idle_$1"
    GUST_DATABASE_URL="dbname=gust_bench_idle_$1" "$BIN/gust" db migrate >/dev/null
    if [ "$1" = repo ]; then
        GUST_DATABASE_URL="dbname=gust_bench_idle_repo" GUST_DAGS_FOLDER=$2 \
            "$BIN/gust" dags reserialize >/dev/null
        q gust_bench_idle_repo "UPDATE dag SET is_paused = true" >/dev/null
    fi
    GUST_DATABASE_URL="dbname=gust_bench_idle_$1" GUST_DAGS_FOLDER=$2 GUST_LOGS_FOLDER=$work/logs \
        "$BIN/gust" scheduler >"$work/sched_$1.log" 2>&1 &
    pids+=($!)
    last_pid=$!
}
start_sched repo "$GUST_ROOT/dags"
repo_pid=$last_pid
start_sched many "$many"
many_pid=$last_pid
bench_log "idle scheduler: ${settle} s to settle, then ${idle} s measured"
sleep "$settle"
for p in "$repo_pid" "$many_pid"; do
    kill -0 "$p" 2>/dev/null || { bench_log "a scheduler died"; cat "$work"/sched_*.log >&2; exit 1; }
done
cpu0_repo=$(bench_cpu_s "$repo_pid") cpu0_many=$(bench_cpu_s "$many_pid")
: >"$work/rss_repo"
: >"$work/rss_many"
for ((s = 0; s < idle; s++)); do
    bench_rss_kb "$repo_pid" >>"$work/rss_repo"
    bench_rss_kb "$many_pid" >>"$work/rss_many"
    sleep 1
done
cpu_repo=$(awk -v a="$cpu0_repo" -v b="$(bench_cpu_s "$repo_pid")" 'BEGIN { printf "%.3f", b - a }')
cpu_many=$(awk -v a="$cpu0_many" -v b="$(bench_cpu_s "$many_pid")" 'BEGIN { printf "%.3f", b - a }')
runs=$(q gust_bench_idle_many "SELECT count(*) FROM dag_run")
loaded=$(q gust_bench_idle_many "SELECT count(*) FROM dag")
rss_of() { awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { printf "%.1f", m / 1024 }' "$1"; }

{
    echo "### 3. DAG loading"
    echo
    echo "$n_dags generated DAG files of 20 tasks ($((bytes / 1024)) KiB of YAML), loaded, validated and"
    echo "template-checked by \`gust dags list-import-errors\`; $BENCH_RUNS runs."
    echo
    echo "| what | median | min | max |"
    echo "|---|---|---|---|"
    echo "| wall time | $lmed s | $lmin s | $lmax s |"
    echo "| peak RSS | $rmed MiB | $rmin MiB | $rmax MiB |"
    echo
    echo "Goal: under 0.5 s."
    echo
    echo "One DAG of many tasks (\`gen_graphs.py bigchain\`), \`gust dags list\`; twice the tasks should"
    echo "take about twice the time (before 2026-12 it took seven times: linear searches by name)."
    echo
    echo "| DAG | median | min | max |"
    echo "|---|---|---|---|"
    printf '%s' "$big_rows"
    echo
    echo "### 4. Scheduler footprint"
    echo
    echo "\`gust scheduler\` idle for $idle s after $settle s of start-up: the repository's DAGs (paused) and"
    echo "the $n_dags generated ones ($loaded recorded, cron schedules starting in 2099: $runs runs created)."
    echo "RSS sampled every second; CPU = user + system time over the window."
    echo
    echo "| DAGs | max RSS | CPU time over ${idle} s |"
    echo "|---|---|---|"
    echo "| repository (5 files) | $(rss_of "$work/rss_repo") MiB | $cpu_repo s |"
    echo "| $n_dags generated | $(rss_of "$work/rss_many") MiB | $cpu_many s |"
    echo
    echo "Goals: under 10 MB and under 40 MB, CPU near zero."
} >"$BENCH_OUT/dagload.md"
cat "$BENCH_OUT/dagload.md"

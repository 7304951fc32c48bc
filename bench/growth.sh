#!/usr/bin/env bash
# Benchmark part 9: how the cost per task grows with the work.
#
# One DAG of 1,000, 5,000 and 20,000 no-op tasks (bench/gen_graphs.py fan N: start -> N-2
# parallel -> end), and 100 DAGs of 100 tasks triggered one after another with nothing
# running yet: wall time per task from the first trigger to the last task's end
# (task_instance.end_date, microseconds), the scheduler's CPU per task and its peak RSS
# (VmHWM): the whole peak, and the runs' own (VmHWM started again from the RSS once the DAGs
# are loaded, bench_hwm_reset: loading the DAG file, its YAML tree and the structs built
# from it, is the higher peak and says nothing of run state). Each measurement has its own
# database and a fresh `gust scheduler` (GUST_PARALLELISM=2) that loads only the DAGs
# measured, so the peak is that work's. Runs interleaved over the sizes. Flat means the
# per-task time and memory do not grow with n. A table, and growth.png (gnuplot) beside
# RESULTS.md (run.sh copies the PNGs of $BENCH_OUT there).
#   BENCH_GROWTH_SIZES  the single DAG's sizes ("1000 5000 20000"; quick: "50 100 200")
#   BENCH_GROWTH_MULTI  "DAGS TASKS" of the many-DAG case ("100 100"; quick: "5 10")
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

: "${BENCH_OUT:?BENCH_OUT is not set (run bench/run.sh)}"
own_pg=0
if [ -z "${PGHOST:-}" ]; then
    GUST_PG_DURABLE=1 pg_start
    own_pg=1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-growth.XXXXXX")
sched_pid=
stop_scheduler() {
    if [ -n "$sched_pid" ]; then
        kill -TERM "$sched_pid" 2>/dev/null
        wait "$sched_pid" 2>/dev/null
    fi
    sched_pid=
}
cleanup() {
    stop_scheduler
    bench_discard "$work"
    [ "$own_pg" = 1 ] && pg_stop
    return 0
}
trap cleanup EXIT

if [ "$BENCH_QUICK" = 1 ]; then
    read -r -a sizes <<<"${BENCH_GROWTH_SIZES:-50 100 200}"
    read -r multi_dags multi_tasks <<<"${BENCH_GROWTH_MULTI:-5 10}"
else
    read -r -a sizes <<<"${BENCH_GROWTH_SIZES:-1000 5000 20000}"
    read -r multi_dags multi_tasks <<<"${BENCH_GROWTH_MULTI:-100 100}"
fi
# cases: label dags tasks-per-dag
cases=()
for n in "${sizes[@]}"; do
    cases+=("one_$n 1 $n")
    python3 "$GUST_ROOT/bench/gen_graphs.py" "$work/one_$n" fan "$n"
done
cases+=("multi $multi_dags $multi_tasks")
python3 "$GUST_ROOT/bench/gen_graphs.py" "$work/multi" fan "$multi_tasks" --dags "$multi_dags"

export PGDATABASE=gust_bench_growth GUST_DATABASE_URL="dbname=gust_bench_growth"
export GUST_LOGS_FOLDER=$work/logs GUST_PARALLELISM=2
q() { psql -X -q -At -c "$1"; }
dags_loaded() { test "$(q "SELECT count(*) FROM dag WHERE dag_id LIKE 'bench\_fan\_%'")" = "$1"; }
# label tasks wall_s sched_cpu_s peak_rss_kib loaded_rss_kib trigger_s runs_peak_rss_kib
# (runs_peak_rss_kib "-" where the kernel would not start VmHWM again)
results=$work/results.tsv
: >"$results"

measure() { # label dags tasks-per-dag run
    local label=$1 dags=$2 per=$3 run=$4 total t0 t1 cpu0 rss0 hwm0 hwm1 reset wall end failed
    total=$((dags * per))
    pg_createdb "$PGDATABASE"
    "$BIN/gust" db migrate >/dev/null
    bench_discard "$GUST_LOGS_FOLDER"
    GUST_DAGS_FOLDER=$work/$label/dags "$BIN/gust" scheduler >>"$work/scheduler.log" 2>&1 &
    sched_pid=$!
    wait_for 60 "$BIN/gust" jobs check --job-type scheduler ||
        { bench_log "the scheduler did not start"; tail "$work/scheduler.log" >&2; exit 1; }
    wait_for 120 dags_loaded "$dags" ||
        { bench_log "the scheduler did not load $label"; tail "$work/scheduler.log" >&2; exit 1; }
    # the DAG rows are written while the folder is still being loaded: its peak and the RSS
    # it leaves are read once the scheduler is idle
    bench_wait_idle "$sched_pid" 60 || bench_log "growth: the scheduler still busy after loading $label"
    hwm0=$(bench_hwm_kb "$sched_pid") # loading's peak
    rss0=$(bench_rss_kb "$sched_pid")
    reset=1
    bench_hwm_reset "$sched_pid" || reset=0
    cpu0=$(bench_cpu_s "$sched_pid")
    bench_log "growth: $label ($dags x $per tasks) run $run/$BENCH_RUNS"
    t0=$EPOCHREALTIME
    for f in "$work/$label/dags/"*.yaml; do
        GUST_DAGS_FOLDER=$work/$label/dags "$BIN/gust" dags trigger "$(basename "$f" .yaml)" \
            -S "$f" -r "growth_$run" >"$work/trigger.log" 2>&1 ||
            { bench_log "trigger of $f failed"; tail "$work/trigger.log" >&2; exit 1; }
    done
    t1=$EPOCHREALTIME
    bench_wait_runs "$dags" $((total / 10 + 120)) ||
        { bench_log "$label did not finish in time"; tail "$work/scheduler.log" >&2; exit 1; }
    failed=$(q "SELECT count(*) FROM dag_run WHERE state <> 'success'")
    [ "$failed" = 0 ] || { bench_log "$label: $failed runs did not succeed"; exit 1; }
    kill -0 "$sched_pid" 2>/dev/null ||
        { bench_log "$label: the scheduler exited during the run"; tail "$work/scheduler.log" >&2; exit 1; }
    end=$(q "SELECT extract(epoch FROM max(end_date)) FROM task_instance")
    wall=$(awk -v a="$t0" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    hwm1=$(bench_hwm_kb "$sched_pid") # the runs' peak, or the whole one without the reset
    printf '%s %s %s %s %s %s %s %s\n' "$label" "$total" "$wall" \
        "$(awk -v a="$cpu0" -v b="$(bench_cpu_s "$sched_pid")" 'BEGIN { printf "%.3f", b - a }')" \
        "$((hwm1 > hwm0 ? hwm1 : hwm0))" "$rss0" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
        "$([ "$reset" = 1 ] && echo "$hwm1" || echo -)" >>"$results"
    stop_scheduler
}

for ((i = 1; i <= BENCH_RUNS; i++)); do
    for c in "${cases[@]}"; do
        read -r label dags per <<<"$c"
        measure "$label" "$dags" "$per" "$i"
    done
done
cp "$results" "$BENCH_OUT/growth.tsv"

col() { awk -v l="$1" -v c="$2" '$1 == l { print $c }' "$results"; }
# per task, in ms: the median wall time or scheduler CPU of a label over its tasks
per_task() { col "$1" 3 | bench_median | awk -v n="$2" '{ printf "%.3f", 1000 * $1 / n }'; }
cpu_per_task() { col "$1" 4 | bench_median | awk -v n="$2" '{ printf "%.3f", 1000 * $1 / n }'; }
mib() { awk '{ printf "%.1f %.1f %.1f", $1 / 1024, $2 / 1024, $3 / 1024 }'; }
gp=$work/growth.dat # tasks per_task_ms peak_rss_mib label
: >"$gp"
{
    echo "### 9. Growth: cost per task against the size of the work"
    echo
    echo "No-op BashOperator tasks (\`true\`) in fan-out DAGs (\`gen_graphs.py fan N\`: start -> N-2"
    echo "parallel -> end); one DAG of each size, then $multi_dags DAGs of $multi_tasks tasks triggered one after"
    echo "another (\`gust dags trigger -S FILE\`: only the DAG's file is read; no run active before). Each measurement: a fresh database and"
    echo "a fresh \`gust scheduler\` (\`GUST_PARALLELISM=2\`) that loads only the DAGs measured. Wall"
    echo "time from the first trigger to the last task's end (\`task_instance.end_date\`); the scheduler's CPU"
    echo "time over the same span; its peak RSS (VmHWM), its RSS once the DAGs were loaded (before the"
    echo "first trigger), the runs' own peak (VmHWM started again from that RSS, /proc/PID/clear_refs),"
    echo "and what the runs added over the loaded RSS per task (the memory of run state). The whole peak"
    echo "is loading's (the DAG file's YAML tree beside the structs built from it), not the runs'."
    echo "$BENCH_RUNS runs each, interleaved; median (min-max)."
    echo
    echo "| work | tasks | wall s | per task | scheduler CPU per task | peak RSS MiB | RSS loaded MiB | runs' peak RSS MiB | (runs' peak - loaded) per task | triggers s |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for c in "${cases[@]}"; do
        read -r label dags per <<<"$c"
        total=$((dags * per))
        read -r w wmin wmax <<<"$(col "$label" 3 | bench_stats)"
        read -r p pmin pmax <<<"$(col "$label" 5 | bench_stats | mib)"
        read -r r _ <<<"$(col "$label" 6 | bench_stats | mib)"
        ms=$(per_task "$label" "$total")
        rp=n/a kib=n/a
        if ! col "$label" 8 | grep -q -- -; then
            read -r rp _ <<<"$(col "$label" 8 | bench_stats | mib)"
            kib=$(awk -v l="$label" '$1 == l { print $8 - $6 }' "$results" | bench_median |
                awk -v n="$total" '{ printf "%.2f KiB", $1 / n }')
        fi
        if [ "$label" = multi ]; then what="$dags DAGs x $per"; else what="1 DAG"; fi
        echo "| $what | $total | $w ($wmin-$wmax) | $ms ms | $(cpu_per_task "$label" "$total") ms | $p ($pmin-$pmax) | $r | $rp | $kib | $(col "$label" 7 | bench_median) |"
        echo "$total $ms $p $label" >>"$gp"
    done
    echo
    small=${sizes[0]}
    large=${sizes[${#sizes[@]} - 1]}
    ratio=$(bench_ratio "$(per_task "one_$large" "$large")" "$(per_task "one_$small" "$small")")
    cratio=$(bench_ratio "$(cpu_per_task "one_$large" "$large")" "$(cpu_per_task "one_$small" "$small")")
    mratio=$(bench_ratio "$(per_task multi $((multi_dags * multi_tasks)))" "$(per_task "one_$small" "$small")")
    rratio=$(bench_ratio "$(col "one_$large" 5 | bench_median)" "$(col "one_$small" 5 | bench_median)")
    echo "Per-task wall time, one DAG of $large tasks / one DAG of $small: **$ratio** (scheduler CPU"
    echo "per task: $cratio). Per-task wall time, $multi_dags DAGs of $multi_tasks / one DAG of $small: $mratio."
    echo "Peak RSS, one DAG of $large / one DAG of $small: $rratio, for $(bench_ratio "$large" "$small")x the tasks."
    echo "Flat: the time ratios about 1, and the run state per task not growing with the tasks."
    echo
} >"$BENCH_OUT/growth.md"

# The plot: per-task time (left axis) and peak RSS (right axis) against tasks, log x.
if command -v gnuplot >/dev/null; then
    grep -v ' multi$' "$gp" >"$work/one.dat"
    grep ' multi$' "$gp" >"$work/multi.dat"
    term="pngcairo noenhanced size 900,500 font 'DejaVu Sans,11'"
    gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo || term="png noenhanced size 900,500"
    cat >"$work/growth.gp" <<EOF
set terminal $term
set output '$BENCH_OUT/growth.png'
set title 'gust: cost per no-op task against the work (GUST_PARALLELISM=2, fsync on)'
set logscale x
set offsets graph 0.05, graph 0.05, 0, 0
set xlabel 'tasks'
set ylabel 'wall time per task, ms'
set y2label 'scheduler peak RSS, MiB'
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set key below
set grid
plot '$work/one.dat' using 1:2 with linespoints lw 2 pt 7 title 'per task, one DAG', \\
     '$work/multi.dat' using 1:2 with points pt 5 ps 2 title 'per task, $multi_dags DAGs x $multi_tasks', \\
     '$work/one.dat' using 1:3 axes x1y2 with linespoints lw 2 dt 2 pt 6 title 'peak RSS, one DAG', \\
     '$work/multi.dat' using 1:3 axes x1y2 with points pt 4 ps 2 title 'peak RSS, $multi_dags DAGs x $multi_tasks'
EOF
    if gnuplot "$work/growth.gp" 2>"$work/gnuplot.err" && [ -s "$BENCH_OUT/growth.png" ]; then
        echo "![per-task wall time and the scheduler's peak RSS against tasks](growth.png)" >>"$BENCH_OUT/growth.md"
    else
        cat "$work/gnuplot.err" >&2
        echo "No plot: gnuplot failed ($(head -1 "$work/gnuplot.err"))." >>"$BENCH_OUT/growth.md"
    fi
else
    echo "No plot: gnuplot is not installed (\`scripts/deps.sh\` installs gnuplot-nox)." >>"$BENCH_OUT/growth.md"
fi
cat "$BENCH_OUT/growth.md"

#!/usr/bin/env bash
# Benchmark part 10: more workers (standing in for more machines) on one database.
#
# The same 5,000-task fan-out (bench/gen_graphs.py fan 5000) run by `gust scheduler` alone
# (its own executor, GUST_PARALLELISM=2), then by `gust scheduler --no-executor` plus 1, 2 and
# 4 `gust worker --concurrency 2` processes on this machine. For each: throughput (tasks/s,
# trigger to the last task's end), what the database did per task (statements from
# pg_stat_statements, commits from pg_stat_database, WAL flushes from pg_stat_wal), the peak
# of connections to the database (pg_stat_activity, sampled every 0.1 s), and CPU per task of
# the scheduler, the workers and their PostgreSQL backends: which saturates first.
# Each measurement has its own database and fresh processes; runs interleaved.
# pg_stat_statements needs shared_preload_libraries: when the cluster lacks it, this part
# restarts the cluster with it and restarts it without it at the end.
#   BENCH_WORKERS_TASKS   the fan-out's tasks (5000; quick: 100)
#   BENCH_WORKERS_COUNTS  worker counts, 0 = the scheduler alone ("0 1 2 4"; quick: "0 1 2")
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

: "${BENCH_OUT:?BENCH_OUT is not set (run bench/run.sh)}"
own_pg=0
if [ -z "${PGHOST:-}" ]; then
    GUST_PG_DURABLE=1 pg_start
    own_pg=1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gust-bench-workers.XXXXXX")
pids=()
restore_pg=0
stop_all() {
    local p gone=0
    # a process that already exited is worth a word, never the end of the part (under set -e
    # a failed kill in the loop ended it without a message)
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || gone=1; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$gone" = 1 ]; then
        bench_log "workers: a process had exited before the end of the measurement; the logs' last lines:"
        tail -n 5 "$work/scheduler.log" "$work/worker.log" >&2 2>/dev/null || true
    fi
    pids=()
}
cleanup() {
    stop_all
    bench_discard "$work"
    if [ "$own_pg" = 1 ]; then
        pg_stop
    elif [ "$restore_pg" = 1 ]; then
        pg_down
        GUST_TEST_PGOPTS=$orig_opts pg_up >/dev/null 2>&1 || bench_log "the cluster did not restart"
    fi
    return 0
}
trap cleanup EXIT

if [ "$BENCH_QUICK" = 1 ]; then
    n=${BENCH_WORKERS_TASKS:-100}
    read -r -a counts <<<"${BENCH_WORKERS_COUNTS:-0 1 2}"
else
    n=${BENCH_WORKERS_TASKS:-5000}
    read -r -a counts <<<"${BENCH_WORKERS_COUNTS:-0 1 2 4}"
fi
python3 "$GUST_ROOT/bench/gen_graphs.py" "$work" fan "$n"
dag=bench_fan_$n

q() { psql -X -q -At -F' ' -c "$1"; }
orig_opts=${GUST_TEST_PGOPTS:-}
if ! q "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
    bench_log "workers: restarting the cluster with pg_stat_statements"
    pg_down
    restore_pg=1
    export GUST_TEST_PGOPTS="$orig_opts -c shared_preload_libraries=pg_stat_statements"
    pg_up || { bench_log "the cluster did not restart with pg_stat_statements"; exit 1; }
fi

export PGDATABASE=gust_bench_workers GUST_DATABASE_URL="dbname=gust_bench_workers"
export GUST_DAGS_FOLDER=$work/dags GUST_LOGS_FOLDER=$work/logs GUST_PARALLELISM=2
jobs_running() { test "$(q "SELECT count(*) FROM job WHERE state = 'running' AND job_type = '$1'")" = "$2"; }
dag_loaded() { test "$(q "SELECT count(*) FROM dag WHERE dag_id = '$dag'")" = 1; }
# from the postgres database, so that the commits counted on the bench's are gust's
no_backends() { test "$(psql -X -q -At -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$PGDATABASE'")" = 0; }
cpu_sum() { # CPU seconds of the processes given that still exist
    local p s=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && s=$(awk -v a="$s" -v b="$(bench_cpu_s "$p" 2>/dev/null || echo 0)" 'BEGIN { print a + b }')
    done
    echo "$s"
}
# "pid cpu_seconds" of every PostgreSQL process (the postmaster's children: backends,
# walwriter, checkpointer...)
server_cpu() {
    local pm p
    pm=$(head -1 "$GUST_TEST_PGDIR/data/postmaster.pid")
    # a backend can end between pgrep and the read (a psql that just quit): skip it, never
    # fail (an `[ -r ] && echo` last in the loop made the function fail, and set -e ended
    # the part)
    for p in $(pgrep -P "$pm"); do
        if [ -r "/proc/$p/stat" ]; then echo "$p $(bench_cpu_s "$p" 2>/dev/null || echo 0)"; fi
    done
}
# CPU the server's processes alive now used since the snapshot in file $1 (0 for new ones)
server_cpu_since() { server_cpu | awk 'NR == FNR { c[$1] = $2; next } { s += $2 - c[$1] } END { printf "%.3f", s }' "$1" -; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# workers wall_s statements commits wal_syncs peak_conns sched_cpu_s workers_cpu_s server_cpu_s
results=$work/results.tsv
: >"$results"
top=$work/top.tsv # the statements of the last run with the most workers: calls query

measure() { # workers run
    local k=$1 run=$2 w t0 end wall s0 wk0 stmts commits syncs peak
    pg_createdb "$PGDATABASE"
    "$BIN/gust" db migrate >/dev/null
    q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    bench_discard "$GUST_LOGS_FOLDER"
    if [ "$k" = 0 ]; then
        "$BIN/gust" scheduler >>"$work/scheduler.log" 2>&1 &
    else
        "$BIN/gust" scheduler --no-executor >>"$work/scheduler.log" 2>&1 &
    fi
    pids=($!)
    for ((w = 0; w < k; w++)); do
        "$BIN/gust" worker --concurrency 2 >>"$work/worker.log" 2>&1 &
        pids+=($!)
    done
    wait_for 60 jobs_running SchedulerJob 1 ||
        { bench_log "the scheduler did not start"; tail "$work/scheduler.log" >&2; exit 1; }
    wait_for 60 jobs_running WorkerJob "$k" ||
        { bench_log "$k workers did not start"; tail "$work/worker.log" >&2; exit 1; }
    wait_for 120 dag_loaded || { bench_log "the scheduler did not load $dag"; exit 1; }
    bench_log "workers: $k workers, $n tasks, run $run/$BENCH_RUNS"
    q "SELECT pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('wal')" >/dev/null
    server_cpu >"$work/server_cpu"
    s0=$(bench_cpu_s "${pids[0]}")
    wk0=$(cpu_sum "${pids[@]:1}")
    export BENCH_CONN_PEAK_FILE=$work/peak
    echo 0 >"$BENCH_CONN_PEAK_FILE"
    BENCH_POLLS=0
    t0=$EPOCHREALTIME
    "$BIN/gust" dags trigger "$dag" -r "workers_$run" >"$work/trigger.log" 2>&1 ||
        { bench_log "trigger failed"; tail "$work/trigger.log" >&2; exit 1; }
    bench_wait_runs 1 $((n / 10 + 120)) ||
        { bench_log "$k workers: the run did not finish in time"; tail "$work/scheduler.log" "$work/worker.log" >&2; exit 1; }
    unset BENCH_CONN_PEAK_FILE
    peak=$(cat "$work/peak")
    [ "$(q "SELECT state FROM dag_run")" = success ] || { bench_log "$k workers: the run failed"; exit 1; }
    end=$(q "SELECT extract(epoch FROM max(end_date)) FROM task_instance")
    wall=$(sub "$end" "$t0")
    local scpu wcpu bcpu
    scpu=$(sub "$(bench_cpu_s "${pids[0]}")" "$s0")
    wcpu=$(sub "$(cpu_sum "${pids[@]:1}")" "$wk0")
    bcpu=$(server_cpu_since "$work/server_cpu")
    # Stopped processes flush their backends' statistics as they exit.
    stop_all
    wait_for 30 no_backends || bench_log "backends still open"
    stmts=$(q "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT LIKE '%bench_wait%' AND query NOT LIKE '%pg_stat%'")
    commits=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    # less this script's: the polls, and the reset, the state and the end_date queries
    commits=$((commits - BENCH_POLLS - 3))
    syncs=$(q "SELECT wal_sync FROM pg_stat_wal")
    echo "$k $wall $stmts $commits $syncs $peak $scpu $wcpu $bcpu" >>"$results"
    if [ "$k" = "${counts[${#counts[@]} - 1]}" ]; then
        q "SELECT calls, regexp_replace(left(query, 90), '[|[:space:]]+', ' ', 'g') FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND query NOT LIKE '%bench_wait%' AND query NOT LIKE '%pg_stat%'
            ORDER BY calls DESC LIMIT 8" >"$top"
    fi
}

for ((i = 1; i <= BENCH_RUNS; i++)); do
    for k in "${counts[@]}"; do
        measure "$k" "$i"
    done
done
cp "$results" "$BENCH_OUT/workers.tsv"

col() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$results"; }
per() { col "$1" "$2" | bench_median | awk -v n="$n" -v m="${3:-1}" '{ printf "%.2f", m * $1 / n }'; }
{
    echo "### 10. More workers: one database, more processes"
    echo
    echo "One DAG of $n no-op tasks (\`gen_graphs.py fan $n\`), run by \`gust scheduler\` alone (its own"
    echo "executor, \`GUST_PARALLELISM=2\`), then by \`gust scheduler --no-executor\` plus N"
    echo "\`gust worker --concurrency 2\` on this machine (standing in for N hosts: they share its CPUs)."
    echo "Each measurement: a fresh database and fresh processes; $BENCH_RUNS runs each, interleaved;"
    echo "median (min-max). Per task: statements (\`pg_stat_statements\`, top level, the CLI's trigger"
    echo "included), commits (\`pg_stat_database.xact_commit\`, this bench's polls left out), WAL"
    echo "flushes (\`pg_stat_wal.wal_sync\`: the disk waits), and CPU ms of the scheduler, the workers"
    echo "and PostgreSQL (every server process); connections: the peak of \`pg_stat_activity\` on"
    echo "the database over the run (sampled every 0.1 s)."
    echo
    echo "| processes | slots | wall s | tasks/s | statements per task | commits per task | WAL flushes per task | peak connections | scheduler CPU ms/task | workers CPU ms/task | server CPU ms/task |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for k in "${counts[@]}"; do
        read -r w wmin wmax <<<"$(col "$k" 2 | bench_stats)"
        tps=$(awk -v n="$n" -v w="$w" 'BEGIN { printf "%.1f", n / w }')
        if [ "$k" = 0 ]; then what="scheduler alone"; slots=2; else what="scheduler + $k worker$([ "$k" = 1 ] || echo s)"; slots=$((2 * k)); fi
        echo "| $what | $slots | $w ($wmin-$wmax) | $tps | $(per "$k" 3) | $(per "$k" 4) | $(per "$k" 5) | $(col "$k" 6 | bench_median | cut -d. -f1) | $(per "$k" 7 1000) | $(per "$k" 8 1000) | $(per "$k" 9 1000) |"
    done
    echo
    first=${counts[0]}
    last=${counts[${#counts[@]} - 1]}
    if [ "$first" = 0 ]; then base="the scheduler alone"; else base="$first"; fi
    echo "Throughput with $last workers / with $base: **$(bench_ratio "$(col "$first" 2 | bench_median)" "$(col "$last" 2 | bench_median)")**."
    echo "This machine has $(nproc) CPUs for every process and PostgreSQL: when the three CPU columns"
    echo "add up to about $(nproc) x 1000 / (tasks/s) ms, the machine is what saturates, not gust (the"
    echo "tasks' own processes, bash and \`true\`, are not in the columns); statements, commits and"
    echo "flushes per task are what more hosts would add to the one database."
    echo
    if [ -s "$top" ]; then
        echo "The most frequent statements with $last workers (last run), calls per task:"
        echo
        echo "| calls per task | statement (start) |"
        echo "|---|---|"
        while read -r calls text; do
            echo "| $(awk -v c="$calls" -v n="$n" 'BEGIN { printf "%.2f", c / n }') | \`$text\` |"
        done <"$top"
        echo
    fi
} >"$BENCH_OUT/workers.md"
cat "$BENCH_OUT/workers.md"

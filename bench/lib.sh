# shellcheck shell=bash
# Shared helpers of the benchmark scripts (sourced by bench/run.sh and bench/*.sh).
#
# Every part script (bench/<part>.sh) is run by bench/run.sh with:
#   BENCH_OUT    folder for results: the part writes $BENCH_OUT/<part>.md, a markdown
#                section (### title, what was run, a table), assembled into bench/RESULTS.md
#   BENCH_RUNS   repetitions of each timed measurement (3; 1 with BENCH_QUICK=1)
#   BENCH_QUICK  1: tiny sizes, to check that the harness works (tests/integration/test_bench.sh)
#   BIN, TOOLS   bin/ (gust, task executables) and build/tools (kafka_mock...)
#   PGHOST, PGPORT, PGUSER   the benchmark's PostgreSQL cluster (durable settings)
# A part makes its own databases with pg_createdb and its own Kafka/fixtures, and stops what
# it started. A part that fails prints why and exits non-zero; run.sh records the failure.
#
#   bench_now                     wall clock, seconds with microseconds ($EPOCHREALTIME)
#   bench_time VAR cmd args...    run cmd, put its wall time in seconds in VAR; cmd's exit
#                                 status is returned
#   bench_stats < numbers         "median min max" of one number per line (3 decimals)
#   bench_median < numbers        the median alone
#   bench_pct P < numbers         the P-th percentile (nearest rank)
#   bench_ratio A B               A / B with 2 decimals ("n/a" when B is 0)
#   bench_rss_kb PID              resident set size now, in KiB
#   bench_cpu_s PID               user + system CPU time so far, in seconds
#   bench_cpu_tree_s PID          the same plus that of its children it has waited for
#                                 (cutime, cstime): a scheduler's with its tries'
#   bench_children_cpu_s VAR      user + system CPU of this shell's waited-for children so
#                                 far (bash's times), in seconds, into VAR
#   bench_pg_postmaster           the pid of the benchmark cluster's postmaster
#   bench_pg_cpu_s PM             that cluster's CPU so far, in seconds: the postmaster with
#                                 every child it reaped, plus each live child's own
#   bench_log msg                 progress line on stderr ("bench: ...")
#   bench_hwm_kb PID              peak resident set size so far (VmHWM), in KiB
#   bench_wait_idle PID SECS      wait (at most SECS) until PID's CPU time grows by less than
#                                 10 ms in half a second: done with what it was doing (a
#                                 scheduler's load of its DAG folder); false at the limit
#   bench_hwm_reset PID           start VmHWM again from the RSS now (/proc/PID/clear_refs,
#                                 Linux 4.0), so that a later bench_hwm_kb is the peak of
#                                 what came after; false when the kernel refused
#   bench_runs_done N             true once N dag_runs of PGDATABASE ended (success or failed);
#                                 also records the peak of other sessions on the database
#                                 (pg_stat_activity) in $BENCH_CONN_PEAK_FILE when that is set,
#                                 and counts its queries in BENCH_POLLS
#   bench_wait_runs N SECS        bench_runs_done N, polled every 0.1 s for at most SECS
#   bench_discard DIR...          remove folders without timing the deletion into what comes
#                                 next: moved (a rename) into $BENCH_TRASH, which bench/run.sh
#                                 deletes after the last part; removed at once when that is
#                                 unset or the move fails. On an ext4 without a journal (this
#                                 machine's) a file made within minutes of thousands being
#                                 deleted costs up to a millisecond (bench/README.md, "Deleted
#                                 files, dead index entries")

GUST_ROOT=${GUST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${BIN:-$GUST_ROOT/bin}
TOOLS=${TOOLS:-$GUST_ROOT/build/tools}
GUST_TOOLS=$TOOLS
BENCH_QUICK=${BENCH_QUICK:-0}
if [ -z "${BENCH_RUNS:-}" ]; then
    if [ "$BENCH_QUICK" = 1 ]; then BENCH_RUNS=1; else BENCH_RUNS=3; fi
fi
export GUST_ROOT BIN TOOLS GUST_TOOLS BENCH_QUICK BENCH_RUNS

source "$GUST_ROOT/tests/lib/common.sh"
source "$GUST_ROOT/tests/lib/pg.sh"

bench_log() { echo "bench: $*" >&2; }

bench_now() { echo "$EPOCHREALTIME"; }

bench_time() {
    local __var=$1 __t0 __t1 __rc
    shift
    __t0=$EPOCHREALTIME
    "$@"
    __rc=$?
    __t1=$EPOCHREALTIME
    printf -v "$__var" '%s' "$(awk -v a="$__t0" -v b="$__t1" 'BEGIN { printf "%.3f", b - a }')"
    return $__rc
}

bench_stats() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a n/a"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

bench_median() { bench_stats | awk '{ print $1 }'; }

bench_pct() {
    sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a"; exit }
        i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
        printf "%.3f\n", v[i] }'
}

bench_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

bench_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# PID's CPU seconds from the first N of fields 14 to 17 of /proc/PID/stat (utime, stime,
# cutime, cstime) in clock ticks; comm may hold spaces
_bench_stat_cpu() {
    local tck
    tck=$(getconf CLK_TCK)
    sed 's/^.*) //' "/proc/$1/stat" |
        awk -v t="$tck" -v n="$2" '{ s = 0; for (i = 12; i < 12 + n; i++) s += $i; printf "%.3f\n", s / t }'
}

bench_cpu_s() { _bench_stat_cpu "$1" 2; }

bench_cpu_tree_s() { _bench_stat_cpu "$1" 4; }

bench_children_cpu_s() {
    # times' second line, "XmY.YYYs XmY.YYYs": the children's user and system time. Run in
    # this shell (a command substitution is a new process, whose children are not ours).
    local f
    f=$(mktemp)
    times >"$f"
    printf -v "$1" '%s' "$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] }
        printf "%.3f\n", s }' "$f")"
    rm -f "$f"
}

bench_pg_postmaster() {
    local dir
    dir=$(psql -X -At -d postgres -c "SHOW data_directory") && head -1 "$dir/postmaster.pid"
}

bench_pg_cpu_s() {
    local sum c
    sum=$(bench_cpu_tree_s "$1")
    for c in $(pgrep -P "$1"); do
        sum="$sum $(bench_cpu_s "$c" 2>/dev/null || echo 0)" # a child may end meanwhile
    done
    echo "$sum" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.3f\n", s }'
}

bench_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
bench_wait_idle() {
    local end=$((SECONDS + $2)) a b
    b=$(bench_cpu_s "$1")
    while ((SECONDS < end)); do
        a=$b
        sleep 0.5
        b=$(bench_cpu_s "$1")
        awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.01) }' && return 0
    done
    return 1
}
bench_hwm_reset() { echo 5 2>/dev/null >"/proc/$1/clear_refs"; }

# The column alias bench_wait marks the poll, so that statement counts can leave it out
# (pg_stat_statements keeps the text: WHERE query NOT LIKE '%bench_wait%').
bench_runs_done() {
    local ended conns
    BENCH_POLLS=$((${BENCH_POLLS:-0} + 1))
    read -r ended conns <<<"$(psql -X -q -At -F' ' -c "SELECT
        (SELECT count(*) FROM dag_run WHERE state IN ('success', 'failed')) AS bench_wait,
        (SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()) AS bench_wait_conns")"
    if [ -n "${BENCH_CONN_PEAK_FILE:-}" ] && [ -n "$conns" ] &&
        [ "$conns" -gt "$(cat "$BENCH_CONN_PEAK_FILE" 2>/dev/null || echo 0)" ]; then
        echo "$conns" >"$BENCH_CONN_PEAK_FILE"
    fi
    [ -n "$ended" ] && [ "$ended" -ge "$1" ]
}

bench_wait_runs() {
    local deadline=$((SECONDS + $2))
    until bench_runs_done "$1"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# "PostgreSQL 15.18" of the server the benchmark runs against.
postgres_version() { psql -X -At -d postgres -c "SHOW server_version" 2>/dev/null | sed 's/^/PostgreSQL /; s/ (.*//'; }

bench_discard() {
    local d
    for d in "$@"; do
        [ -e "$d" ] || continue
        if [ -n "${BENCH_TRASH:-}" ] && mkdir -p "$BENCH_TRASH" &&
            mv -T "$d" "$(mktemp -u "$BENCH_TRASH/$(basename "$d").XXXXXX")" 2>/dev/null; then
            continue
        fi
        rm -rf "$d"
    done
}

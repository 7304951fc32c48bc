#!/usr/bin/env bash
# The test runner behind `make test`: every unit test binary (cmocka), then every
# integration script in tests/integration/, against one throwaway PostgreSQL cluster for
# the whole run (each script makes its own database). Prints one closing line
# "N passed, N failed, N skipped" and exits non-zero when anything failed.
#
# Tests run GUST_TEST_JOBS at a time (default 3; 1 runs them one after another, as listed),
# each with its output in its own file. The report of each test ("== name", then its summary,
# or its whole output when it failed) is printed in the order of the list (unit tests, then
# integration scripts, by name) as soon as it and every test before it have ended, so that
# the report reads the same whatever the number of jobs. An integration script that cannot
# share the cluster or the machine (it stops PostgreSQL, say) carries the line
# "# run.sh: alone": with GUST_TEST_JOBS above 1 such scripts run first, one at a time with
# nothing else running; their reports still come in their place in the list.
#
# A skipped unit test counts as a failure when a database is required: GUST_REQUIRE_DB=1
# (the default here, since this runner starts the cluster) or CI set. An integration script
# declares how many checks it runs (`plan N`, tests/lib/common.sh); running fewer (it stopped
# early) or more fails it.
#
# Environment: GUST_BUILD (build folder, default build), GUST_BIN_DIR (default bin),
# GUST_VALGRIND=1 runs unit tests under valgrind, TEST_FILTER=regex picks tests by name,
# GUST_REQUIRE_DB=0 lets unit tests skip (outside CI), GUST_TEST_JOBS=N tests at a time.
set -uo pipefail
cd "$(dirname "$0")/.."
export GUST_SRC=$PWD
export GUST_BUILD=${GUST_BUILD:-build}
export GUST_BIN_DIR=${GUST_BIN_DIR:-bin}
export GUST=$PWD/$GUST_BIN_DIR/gust
export GUST_TOOLS=$PWD/$GUST_BUILD/tools
filter=${TEST_FILTER:-.}
jobs=${GUST_TEST_JOBS:-3}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: GUST_TEST_JOBS must be a positive number" >&2; exit 2; }

passed=0
failed=0
skipped=0
failures=()
outdir=$(mktemp -d)

# The tests, in the order of the report: name, kind (unit or integration) and path.
names=()
kinds=()
paths=()
for t in "$GUST_BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [[ $name =~ $filter ]] || continue
    names+=("$name") kinds+=(unit) paths+=("$t")
done
for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    [[ $name =~ $filter ]] || continue
    names+=("$name") kinds+=(integration) paths+=("$t")
done

source tests/lib/common.sh
if [ -f tests/lib/pg.sh ]; then
    source tests/lib/pg.sh
    pg_start || { echo "run.sh: could not start the test PostgreSQL cluster" >&2; rm -rf "$outdir"; exit 1; }
    export GUST_REQUIRE_DB=${GUST_REQUIRE_DB:-1}
fi

declare -A running=() # pid -> index of the test
# At exit (also when interrupted): end the tests still running, then the cluster.
cleanup() {
    [ ${#running[@]} -eq 0 ] || { kill -TERM "${!running[@]}" 2>/dev/null; wait; }
    type pg_stop >/dev/null 2>&1 && pg_stop
    rm -rf "$outdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether every test must run: GUST_REQUIRE_DB=1, or CI set (to anything but "" or false).
db_required() {
    [ "${GUST_REQUIRE_DB:-}" = 1 ] && return 0
    case ${CI:-} in "" | false | 0) return 1 ;; *) return 0 ;; esac
}

count_cmocka() { # $1 = exit code, $2 = name, $3 = its output; parses cmocka's summary lines
    local p f s
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$3" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$3" | tail -1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$3" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "${s:-0}" != 0 ] && db_required; then
        failed=$((failed + s))
        failures+=("$2 (skipped $s)")
        cat "$3"
        echo "run.sh: $2 skipped $s test(s), but CI or GUST_REQUIRE_DB=1 requires every test" \
            "to run (a database test skips when it finds no database)"
        return
    fi
    skipped=$((skipped + ${s:-0}))
    if [ "$1" != 0 ] || [ "${f:-0}" != 0 ] || [ -z "$p$f$s" ]; then
        [ "${f:-0}" = 0 ] && failed=$((failed + 1)) # crashed, or ran nothing
        failures+=("$2")
        cat "$3"
    elif [ "${s:-0}" != 0 ]; then
        echo "   $s skipped"
    fi
}

count_tap() { # $1 = exit code, $2 = name, $3 = its output, $4 = seconds; counts ok/not ok lines
    local p f n why
    p=$(grep -c '^ok ' "$3")
    f=$(grep -c '^not ok ' "$3")
    n=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$3" | head -1) # the plan line
    passed=$((passed + p))
    failed=$((failed + f))
    why=
    if [ -z "$n" ]; then
        why="declares no number of checks (plan N, tests/lib/common.sh)"
    elif [ $((p + f)) != "$n" ]; then
        why="ran $((p + f)) of $n declared checks"
    fi
    if [ "$1" != 0 ] || [ "$f" != 0 ] || [ "$p" = 0 ] || [ -n "$why" ]; then
        [ "$f" = 0 ] && failed=$((failed + 1)) # the script died, checked nothing or not all
        failures+=("$2 (exit $1${why:+, $why})")
        cat "$3"
        [ -z "$why" ] || echo "run.sh: $2 $why"
    else
        echo "   $p checks, $4 s"
    fi
}

# run_test I: run test I with its output in $outdir/I.out; its exit code, start and end
# times (seconds) in $outdir/I.end. Runs in the background (a subshell).
run_test() {
    local i=$1 t=${paths[$1]} start rc
    start=$(date +%s)
    if [ "${kinds[i]}" = integration ]; then
        bash "$t"
    elif [ -n "${GUST_VALGRIND:-}" ]; then
        valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite "$t"
    else
        "$t"
    fi </dev/null >"$outdir/$i.out" 2>&1
    rc=$?
    echo "$rc $start $(date +%s)" >"$outdir/$i.end"
    return "$rc"
}

start_test() {
    run_test "$1" &
    running[$!]=$1
}

# reap: wait for one running test to end and record its exit code.
declare -A status=() # index -> exit code, once ended
reap() {
    local pid rc
    wait -n -p pid "${!running[@]}"
    rc=$?
    [ -n "${pid:-}" ] || return 0
    status[${running[$pid]}]=$rc
    unset "running[$pid]"
}

# report: print, in list order, the reports of the tests that ended and whose predecessors
# have all been reported.
next=0
report() {
    local rc start end
    while [ "$next" -lt ${#names[@]} ] && [ -n "${status[$next]:-}" ]; do
        rc=${status[$next]} start= end=
        read -r _ start end <"$outdir/$next.end" 2>/dev/null
        echo "== ${names[next]}"
        if [ "${kinds[next]}" = unit ]; then
            count_cmocka "$rc" "${names[next]}" "$outdir/$next.out"
        else
            count_tap "$rc" "${names[next]}" "$outdir/$next.out" $((${end:-0} - ${start:-0}))
        fi
        rm -f "$outdir/$next.out" "$outdir/$next.end"
        next=$((next + 1))
    done
}

alone() { [ "${kinds[$1]}" = integration ] && grep -q '^# run\.sh: alone' "${paths[$1]}"; }

# The order the tests start in: with more than one job, the "alone" scripts first.
order=()
together=()
for i in "${!names[@]}"; do
    if [ "$jobs" -gt 1 ] && alone "$i"; then order+=("$i"); else together+=("$i"); fi
done
order+=("${together[@]}")
[ "$jobs" = 1 ] || echo "run.sh: ${#names[@]} tests, $jobs at a time"

for i in "${order[@]}"; do
    if alone "$i"; then
        while [ ${#running[@]} -gt 0 ]; do reap; done
        report
        start_test "$i"
        reap
    else
        while [ ${#running[@]} -ge "$jobs" ]; do reap; done
        start_test "$i"
    fi
    report
done
while [ ${#running[@]} -gt 0 ]; do
    reap
    report
done
report

if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "FAILED: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

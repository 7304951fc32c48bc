#!/usr/bin/env bash
# The test runner behind `make test`: every unit test binary (cmocka), then every
# integration script in tests/integration/, against one throwaway PostgreSQL cluster for
# the whole run (each script makes its own database). Prints one closing line
# "N passed, N failed, N skipped" and exits non-zero when anything failed.
#
# A skipped unit test counts as a failure when a database is required: GUST_REQUIRE_DB=1
# (the default here, since this runner starts the cluster) or CI set. An integration script
# declares how many checks it runs (`plan N`, tests/lib/common.sh); running fewer (it stopped
# early) or more fails it.
#
# Environment: GUST_BUILD (build folder, default build), GUST_BIN_DIR (default bin),
# GUST_VALGRIND=1 runs unit tests under valgrind, TEST_FILTER=regex picks tests by name,
# GUST_REQUIRE_DB=0 lets unit tests skip (outside CI).
set -uo pipefail
cd "$(dirname "$0")/.."
export GUST_SRC=$PWD
export GUST_BUILD=${GUST_BUILD:-build}
export GUST_BIN_DIR=${GUST_BIN_DIR:-bin}
export GUST=$PWD/$GUST_BIN_DIR/gust
export GUST_TOOLS=$PWD/$GUST_BUILD/tools
filter=${TEST_FILTER:-.}

passed=0
failed=0
skipped=0
failures=()
tmpout=$(mktemp)

source tests/lib/common.sh
if [ -f tests/lib/pg.sh ]; then
    source tests/lib/pg.sh
    pg_start || { echo "run.sh: could not start the test PostgreSQL cluster" >&2; exit 1; }
    export GUST_REQUIRE_DB=${GUST_REQUIRE_DB:-1}
fi
trap 'type pg_stop >/dev/null 2>&1 && pg_stop; rm -f "$tmpout"' EXIT

# Whether every test must run: GUST_REQUIRE_DB=1, or CI set (to anything but "" or false).
db_required() {
    [ "${GUST_REQUIRE_DB:-}" = 1 ] && return 0
    case ${CI:-} in "" | false | 0) return 1 ;; *) return 0 ;; esac
}

count_cmocka() { # $1 = exit code, $2 = name; parses cmocka's summary lines
    local p f s
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$tmpout" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$tmpout" | tail -1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$tmpout" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "${s:-0}" != 0 ] && db_required; then
        failed=$((failed + s))
        failures+=("$2 (skipped $s)")
        cat "$tmpout"
        echo "run.sh: $2 skipped $s test(s), but CI or GUST_REQUIRE_DB=1 requires every test" \
            "to run (a database test skips when it finds no database)"
        return
    fi
    skipped=$((skipped + ${s:-0}))
    if [ "$1" != 0 ] || [ "${f:-0}" != 0 ] || [ -z "$p$f$s" ]; then
        [ "${f:-0}" = 0 ] && failed=$((failed + 1)) # crashed, or ran nothing
        failures+=("$2")
        cat "$tmpout"
    elif [ "${s:-0}" != 0 ]; then
        echo "   $s skipped"
    fi
}

for t in "$GUST_BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [[ $name =~ $filter ]] || continue
    echo "== $name"
    if [ -n "${GUST_VALGRIND:-}" ]; then
        valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
            "$t" >"$tmpout" 2>&1
    else
        "$t" >"$tmpout" 2>&1
    fi
    count_cmocka $? "$name"
done

for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    [[ $name =~ $filter ]] || continue
    echo "== $name"
    start=$(date +%s)
    bash "$t" >"$tmpout" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$tmpout")
    f=$(grep -c '^not ok ' "$tmpout")
    n=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$tmpout" | head -1) # the plan line
    passed=$((passed + p))
    failed=$((failed + f))
    why=
    if [ -z "$n" ]; then
        why="declares no number of checks (plan N, tests/lib/common.sh)"
    elif [ $((p + f)) != "$n" ]; then
        why="ran $((p + f)) of $n declared checks"
    fi
    if [ "$rc" != 0 ] || [ "$f" != 0 ] || [ "$p" = 0 ] || [ -n "$why" ]; then
        [ "$f" = 0 ] && failed=$((failed + 1)) # the script died, checked nothing or not all
        failures+=("$name (exit $rc${why:+, $why})")
        cat "$tmpout"
        [ -z "$why" ] || echo "run.sh: $name $why"
    else
        echo "   $p checks, $(($(date +%s) - start)) s"
    fi
done

if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "FAILED: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

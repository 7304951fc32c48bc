#!/usr/bin/env bash
# The test runner behind `make test`: every unit test binary (cmocka), then every
# integration script in tests/integration/, against one throwaway PostgreSQL cluster for
# the whole run (each script makes its own database). Prints one closing line
# "N passed, N failed" and exits non-zero when anything failed.
#
# Environment: GUST_BUILD (build folder, default build), GUST_BIN_DIR (default bin),
# GUST_VALGRIND=1 runs unit tests under valgrind, TEST_FILTER=regex picks tests by name.
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
failures=()
tmpout=$(mktemp)

source tests/lib/common.sh
if [ -f tests/lib/pg.sh ]; then
    source tests/lib/pg.sh
    pg_start || { echo "run.sh: could not start the test PostgreSQL cluster" >&2; exit 1; }
fi
trap 'type pg_stop >/dev/null 2>&1 && pg_stop; rm -f "$tmpout"' EXIT

count_cmocka() { # $1 = exit code, $2 = name; parses cmocka's summary lines
    local p f
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$tmpout" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$tmpout" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$1" != 0 ] || [ "${f:-0}" != 0 ] || [ -z "$p$f" ]; then
        [ "${f:-0}" = 0 ] && failed=$((failed + 1)) # crashed, or ran nothing
        failures+=("$2")
        cat "$tmpout"
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
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" != 0 ] || [ "$f" != 0 ] || [ "$p" = 0 ]; then
        [ "$f" = 0 ] && failed=$((failed + 1)) # the script died or checked nothing
        failures+=("$name (exit $rc)")
        cat "$tmpout"
    else
        echo "   $p checks, $(($(date +%s) - start)) s"
    fi
done

if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "FAILED: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

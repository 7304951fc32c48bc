#!/usr/bin/env bash
# The benchmark harness (make bench) at toy sizes, so that it cannot rot: every part runs to
# the end, and RESULTS.md has its sections with figures in them. The figures themselves are
# not checked: benchmarks are measured by make bench, never timed in tests.
set -u
source "$GUST_SRC/tests/lib/common.sh"
plan 16
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

BENCH_QUICK=1 BENCH_RESULTS=$out/RESULTS.md BIN=$GUST_SRC/$GUST_BIN_DIR TOOLS=$GUST_TOOLS \
    bash "$GUST_SRC/bench/run.sh" >"$out/log" 2>&1
rc=$?
check_eq "bench/run.sh (BENCH_QUICK=1) exits 0" 0 "$rc"
[ "$rc" = 0 ] || tail -n 40 "$out/log" | sed 's/^/# /'
res=$(cat "$out/RESULTS.md" 2>/dev/null)
check_contains "RESULTS.md names the machine" "| machine |" "$res"
for section in "### 1. Dispatch overhead" "### 2. Task start latency" "### 3. DAG loading" \
    "### 4. Scheduler footprint" "### 5. Loader throughput" "### 6. Crawl" "### 7. Event collector" \
    "### 8. product_view star schema load"; do
    check_contains "RESULTS.md has $section" "$section" "$res"
done
check_eq "no part failed" "" "$(grep -F ': FAILED' "$out/RESULTS.md")"

# every dispatch row has figures for make and gust and their ratio (snakemake may be n/a:
# make test does not install it, make bench does)
rows=$(awk -F'|' '$2 ~ /^ (chain|wide|layers) / && $4 ~ /^ [0-9]/ && $6 ~ /^ [0-9]/ && $8 ~ /^ [0-9]/' \
    "$out/RESULTS.md" | wc -l)
check_eq "three dispatch rows with figures" 3 "$rows"
check "the mapped fan-out row has figures and its ratio to the static one" \
    grep -qE '^\| mapped [0-9]+ \| [0-9]+ \| [0-9.]+ \([0-9.]+-[0-9.]+\) \| [0-9.]+ ms \| [0-9.]+ \|$' "$out/RESULTS.md"
check "the latency percentiles are numbers" grep -qE '^\| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \|$' "$out/RESULTS.md"
# the product_view part compares the loader with psql \copy and says whether the goal is met
check "the product_view ratio is a number" \
    grep -qE '^Ratio \(medians\): stream_loader events/s / psql \\copy rows/s = \*\*[0-9.]+\*\*\.$' "$out/RESULTS.md"
check "the product_view part reports the loader's peak RSS" \
    grep -qE '^\| stream_loader: peak RSS \| [0-9.]+ \|' "$out/RESULTS.md"

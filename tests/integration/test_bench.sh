#!/usr/bin/env bash
# The benchmark harness (make bench) at toy sizes, so that it cannot rot: every part runs to
# the end, and RESULTS.md has its sections with figures in them. The figures themselves are
# not checked: benchmarks are measured by make bench, never timed in tests.
set -u
source "$GUST_SRC/tests/lib/common.sh"
plan 29
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

chmod 755 "$out" && mkdir -m 755 "$out/tmp" # PostgreSQL's user makes its cluster in it
TMPDIR=$out/tmp BENCH_QUICK=1 BENCH_RESULTS=$out/RESULTS.md BIN=$GUST_SRC/$GUST_BIN_DIR \
    TOOLS=$GUST_TOOLS bash "$GUST_SRC/bench/run.sh" >"$out/log" 2>&1
rc=$?
check_eq "bench/run.sh (BENCH_QUICK=1) exits 0" 0 "$rc"
# the parts' folders went to the trash (bench_discard), which run.sh empties at its end
check_eq "no folder of the bench is left in TMPDIR" "" "$(ls "$out/tmp")"
[ "$rc" = 0 ] || tail -n 40 "$out/log" | sed 's/^/# /'
res=$(cat "$out/RESULTS.md" 2>/dev/null)
check_contains "RESULTS.md names the machine" "| machine |" "$res"
for section in "### 1. Dispatch overhead" "### 2. Task start latency" "### 3. DAG loading" \
    "### 4. Scheduler footprint" "### 5. Loader throughput" "### 6. Crawl" "### 7. Event collector" \
    "### 8. product_view star schema load" "### 9. Growth" "### 10. More workers"; do
    check_contains "RESULTS.md has $section" "$section" "$res"
done
check_eq "no part failed" "" "$(grep -F ': FAILED' "$out/RESULTS.md")"

# every dispatch row has figures for make and gust and their ratio (snakemake may be n/a:
# make test does not install it, make bench does)
rows=$(awk -F'|' '$2 ~ /^ (chain|wide|layers) / && $4 ~ /^ [0-9.]+ \(/ && $6 ~ /^ [0-9]/ && $8 ~ /^ [0-9]/' \
    "$out/RESULTS.md" | wc -l)
check_eq "three dispatch rows with figures" 3 "$rows"
# and the CPU per task of the same runs: make, gust and its four parts, the floor, its ratio
check_eq "three dispatch CPU rows with figures" 3 \
    "$(grep -cE '^\| (chain|wide|layers) [0-9x]+ (\| [0-9.]+ ms ){7}\| [0-9.]+ \|$' "$out/RESULTS.md")"
check_eq "the two mapped fan-out rows have figures and their ratio to the static one" 2 \
    "$(grep -cE '^\| mapped [0-9]+, (literal list|list from an XCom) \| [0-9]+ \| [0-9.]+ \([0-9.]+-[0-9.]+\) \| [0-9.]+ ms \| [0-9.]+ \|$' "$out/RESULTS.md")"
check "the latency percentiles are numbers" grep -qE '^\| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \|$' "$out/RESULTS.md"
# the loader part times pharma_upsert after each timed loader run
check "the loader part has pharma_upsert's figures" \
    grep -qE '^\| pharma_upsert: [0-9]+ staging rows -> [0-9]+ rows \(after each loader run\) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| s \|$' "$out/RESULTS.md"
# the product_view part compares the loader with psql \copy and says whether the goal is met
check "the product_view ratio is a number" \
    grep -qE '^Ratio \(medians\): stream_loader events/s / psql \\copy rows/s = \*\*[0-9.]+\*\*\.$' "$out/RESULTS.md"
check "the product_view part reports the loader's peak RSS" \
    grep -qE '^\| stream_loader: peak RSS \| [0-9.]+ \|' "$out/RESULTS.md"
# growth: a row of figures for each single-DAG size (3 at toy sizes) and the many-DAG case,
# the ratio of per-task times, and the plot beside RESULTS.md, linked from it
rows=$(grep -cE '^\| (1 DAG|[0-9]+ DAGs x [0-9]+) \| [0-9]+ \| [0-9.]+ \([0-9.]+-[0-9.]+\) \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \(' \
    "$out/RESULTS.md")
check_eq "four growth rows with figures" 4 "$rows"
[ "$rows" = 4 ] || sed -n '/^### 9/,/^### 10/p' "$out/RESULTS.md" | sed 's/^/# /'
# ... each with the runs' own peak and run state per task (VmHWM started again after loading)
rows=$(grep -cE '^\| (1 DAG|[0-9]+ DAGs x [0-9]+) \| .* \| [0-9.]+ \| [0-9.]+ KiB \| [0-9.]+ \|$' "$out/RESULTS.md")
check_eq "four growth rows with the runs' peak and run state per task" 4 "$rows"
check "the growth part states the per-task time ratio" \
    grep -qE '^Per-task wall time, one DAG of [0-9]+ tasks / one DAG of [0-9]+: \*\*[0-9.]+\*\*' "$out/RESULTS.md"
check_contains "RESULTS.md links the growth plot" "](growth.png)" "$res"
check_eq "growth.png beside RESULTS.md is a PNG" "PNG" "$(head -c 4 "$out/growth.png" 2>/dev/null | tail -c 3)"
# workers: the scheduler alone and with 1 and 2 workers, each with throughput, statements per
# task and peak connections as numbers
rows=$(grep -cE '^\| scheduler (alone|\+ [0-9]+ workers?) \| [0-9]+ \| [0-9.]+ \([0-9.]+-[0-9.]+\) \| [0-9.]+ \| [0-9.]+ \| -?[0-9.]+ \| [0-9.]+ \| [0-9]+ \|' \
    "$out/RESULTS.md")
check_eq "three workers rows with figures" 3 "$rows"
[ "$rows" = 3 ] || sed -n '/^### 10/,$p' "$out/RESULTS.md" | sed 's/^/# /'
check "the workers part states the throughput ratio" \
    grep -qE '^Throughput with [0-9]+ workers / with (the scheduler alone|[0-9]+): \*\*[0-9.]+\*\*\.$' "$out/RESULTS.md"
check "the workers part lists the most frequent statements" \
    grep -qE '^\| [0-9.]+ \| `(SELECT|INSERT|UPDATE|WITH|BEGIN|COMMIT|SET)' "$out/RESULTS.md"

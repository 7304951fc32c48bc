#!/usr/bin/env bash
# make fuzz: build every tests/fuzz/fuzz_*.c as a libFuzzer target (clang, with ASan and
# UBSan) and run each for $1 seconds (default 60), seeded from the repository's own inputs.
# The working corpus lives in build/fuzz/ (not committed). A crash stops the run with the
# crashing input saved in build/fuzz/artifacts/; fix it and keep the input as a test case.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build/fuzz
mkdir -p "$out/artifacts"
pkgs="libpq rdkafka libcurl jansson yaml-0.1 libcrypto avro-c libmicrohttpd zlib libpcre2-8 geoip libmaxminddb"
# common/, the scheduler's modules and tasks/lib (fuzz_loader_dvc), none with a main
srcs="$(ls common/*.c scheduler/*/*.c tasks/lib/*.c)"
# the migrations compiled into the store (make fuzz generates this file first)
gen=build/gen/migrations.c
[ -f "$gen" ] || { echo "fuzz: $gen is missing: run 'make fuzz', which generates it" >&2; exit 2; }

for target in tests/fuzz/fuzz_*.c; do
    name=$(basename "$target" .c)
    echo "== $name: building"
    # shellcheck disable=SC2046,SC2086
    clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=all -iquote scheduler -iquote tasks/lib -iquote common $(pkg-config --cflags $pkgs) \
        "$target" $srcs $gen $(pkg-config --libs $pkgs) -lm -o "$out/$name"
    corpus="$out/corpus-$name"
    mkdir -p "$corpus"
    seeds="tests/fuzz/seeds/$name"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    if [ "$name" = fuzz_loader_dvc ]; then
        # flat records as the crawler sends them, and pages
        python3 bench/tools/dvc_gen.py 20 | cut -f2 | split -l 1 - "$corpus/seed-record-"
        python3 bench/tools/dvc_gen.py 3 | cut -f2 | paste -sd, | sed 's/^/[/; s/$/]/' \
            >"$corpus/seed-page"
    fi
    if [ "$name" = fuzz_dagfile ]; then
        # every YAML the repository has is a seed
        find dags tests/dags -name '*.y*ml' | while read -r f; do
            cp -n "$f" "$corpus/seed-$(echo "$f" | tr '/' '_')" 2>/dev/null || true
        done
    fi
    echo "== $name: running ${secs}s"
    "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 "$corpus" 2>"$out/$name.log" ||
        { tail -40 "$out/$name.log"; echo "fuzz: $name found a problem; see $out/artifacts/" >&2; exit 1; }
    grep -E 'stat::number_of_executed_units|Done' "$out/$name.log" | tail -2
done
echo "fuzz: no crash"

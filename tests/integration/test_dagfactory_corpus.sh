#!/usr/bin/env bash
# The YAML files of the dag-factory project (tests/dagfactory_corpus, see its README) as a
# test: each file's class (loads with its DAG ids, loads partly, or refused with its first
# error) must match tests/dagfactory_corpus/expected.txt line for line, and no key may be
# silently ignored: every file either loads, or is refused with a message naming what to do.
# GUST_UPDATE_EXPECTED=1 rewrites expected.txt from the actual output (read every change!).
set -u
source "$GUST_SRC/tests/lib/common.sh"
corpus=$GUST_SRC/tests/dagfactory_corpus
expected=$corpus/expected.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$corpus" || exit 1

# Each file is loaded on its own (as in the dag-factory project, where each example folder is
# its own DAG folder), with the defaults.yml files of its folder and their parents beside it.
mkdir -p "$tmp/out"
n=0
while IFS= read -r f; do
    n=$((n + 1))
    root=$tmp/tree$n
    mkdir -p "$root/$(dirname "$f")"
    cp "$f" "$root/$f"
    d=$(dirname "$f")
    while :; do
        [ -f "$d/defaults.yml" ] && cp "$d/defaults.yml" "$root/$d/defaults.yml"
        [ "$d" = . ] && break
        d=$(dirname "$d")
    done
    (cd "$root" && "$GUST" dags list -o json -S . >"$tmp/out/$n.list.json" 2>>"$tmp/list.err")
    (cd "$root" && "$GUST" dags list-import-errors -o json --warnings -S . \
        >"$tmp/out/$n.diags.json" 2>/dev/null)
    rm -rf "$root"
done < <(find . -name '*.yml' -o -name '*.yaml' | sed 's|^\./||' | sort)
/usr/bin/python3 "$corpus/classify.py" "$tmp/out" >"$tmp/actual.txt"
if [ -n "${GUST_UPDATE_EXPECTED:-}" ]; then
    cp "$tmp/actual.txt" "$expected"
fi
files=$(grep -vc '^#' "$expected")
plan $((files + 3))
check_eq "the corpus has the files expected.txt lists" "$(grep -v '^#' "$expected" | cut -f1)" \
    "$(grep -v '^#' "$tmp/actual.txt" | cut -f1)"
while IFS= read -r line; do
    path=${line%%$'\t'*}
    check_eq "$path" "$line" "$(grep -F -m1 "$path"$'\t' "$tmp/actual.txt")"
done < <(grep -v '^#' "$expected")
check_eq "load rate" "$(grep '^#' "$expected")" "$(grep '^#' "$tmp/actual.txt")"
# dags list shows the warnings of the files, one stderr line each.
check_contains "dags list prints warnings" "warning: key 'default_view' is ignored" \
    "$(cat "$tmp/list.err")"

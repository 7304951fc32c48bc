#!/usr/bin/env bash
# The template cases of tests/unit/template_cases.json (which test_template renders with our
# engine) rendered by real Jinja2 in an Airflow-like context (tests/tools/template_jinja.py):
# every expected output, and every expected failure, must be Jinja's own. A copy with one
# expectation changed must be caught, so the comparison can fail. Needs Debian's
# python3-jinja2 and python3-pendulum (installed by `make deps`).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
plan 3

check "/usr/bin/python3 has jinja2 and pendulum" /usr/bin/python3 -c 'import jinja2, pendulum'
out=$(/usr/bin/python3 tests/tools/template_jinja.py tests/unit/template_cases.json 2>&1)
check_contains "every case renders in Jinja2 as the file expects" ", 0 mismatches" "$out"
[ "${out%%0 mismatches*}" = "$out" ] && printf '%s\n' "$out" | grep MISMATCH | head -20 >&2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
doc = json.load(open("tests/unit/template_cases.json", encoding="utf-8"))
case = next(c for c in doc["cases"] if c.get("out"))
case["out"] += "!"
json.dump(doc, open(sys.argv[1], "w", encoding="utf-8"))
PY
check_fails "a changed expectation is caught" /usr/bin/python3 tests/tools/template_jinja.py "$tmp"

#!/usr/bin/env bash
# tasks/lib/uaparse against python3-ua-parser, the reference implementation, both reading the
# installed uap-core regexes.yaml: 5000 User-Agents spread over uap-core's test files (browsers,
# OS and devices: strings neither side was written for) go through tests/tools/uaparse_tool
# and ua_parser, and every browser and OS family, major and minor must be equal
# (tests/integration/uaparse_crosscheck.py prints each difference). Then the tool's errors: a
# regexes file that does not exist (exit 1, named), a bad command line (exit 2).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/common.sh
plan 5

TOOL=${GUST_TOOLS:-build/tools}/uaparse_tool
gust_tmpdir tmp
if ! /usr/bin/python3 -c 'import ua_parser.user_agent_parser, yaml' >/dev/null 2>&1; then
    echo "not ok - uaparse cross-check: /usr/bin/python3 lacks ua_parser or yaml" \
        "(python3-ua-parser, python3-yaml; run make deps)"
    exit 1
fi
check "uaparse_tool is built" test -x "$TOOL"

/usr/bin/python3 tests/integration/uaparse_crosscheck.py --tool "$TOOL" --limit 5000 \
    >"$tmp/out" 2>&1
rc=$?
sed 's/^/# /' "$tmp/out" | tail -20
check_eq "every field equals python3-ua-parser's" "0" "$rc"
check_contains "... on 5000 user agents" "5000 user agents, 0 differ" "$(tail -1 "$tmp/out")"

"$TOOL" "$tmp/missing.yaml" </dev/null >/dev/null 2>"$tmp/err"
check_eq "a missing regexes file: exit 1, named" \
    "1 uaparse_tool: $tmp/missing.yaml: No such file or directory" "$? $(cat "$tmp/err")"
"$TOOL" a b </dev/null >/dev/null 2>"$tmp/err"
check_eq "two arguments: usage, exit 2" "2" "$?"

#!/usr/bin/env bash
# The source layout the compiler does not enforce (tests/tools/check_layout.py): no module
# includes another's private header, no include cycle between scheduler modules, the task
# programs and common/ stay out of the scheduler, comments cite docs/ files, long functions say
# why, every .c opens with a comment. The checker first proves on small trees that it catches
# each kind of violation.
set -u
source "$GUST_SRC/tests/lib/common.sh"
plan 15

checker=$GUST_SRC/tests/tools/check_layout.py
/usr/bin/python3 "$checker" --self-test
out=$(/usr/bin/python3 "$checker" --root "$GUST_SRC" 2>&1)
rc=$?
check_eq "the tree keeps the layout rules (check_layout.py exits 0)" 0 "$rc"
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/#   /'

#!/usr/bin/env bash
# Cron evaluation against croniter, through Airflow's own wrapper logic re-implemented in
# croniter_check.py: many expressions x zones x start points near DST changes, leap days,
# month and year ends. Needs Debian's python3-croniter (installed by `make deps`).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
plan 553

tool=${SCHEDULE_NEXT:-${GUST_TOOLS:-build/tools}/schedule_next}
if ! /usr/bin/python3 -c 'import croniter, zoneinfo' >/dev/null 2>&1; then
    echo "not ok - croniter check: /usr/bin/python3 lacks croniter (run make deps)"
    exit 1
fi
check "schedule_next tool is built" test -x "$tool"
/usr/bin/python3 tests/integration/croniter_check.py "$tool"

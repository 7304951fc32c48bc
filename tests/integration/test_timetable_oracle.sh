#!/usr/bin/env bash
# Airflow's timetables by __type__ (CronTriggerTimetable with interval and run_immediately,
# CronDataIntervalTimetable, Delta*Timetable, MultipleCronTriggerTimetable, EventsTimetable,
# @continuous) against timetable_check.py, a Python port of Airflow's next_dagrun_info, on
# fixed instants; then what `dags next-execution` and `dags list` show for them.
# Needs Debian's python3-croniter (installed by `make deps`).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
plan 20

tool=${GUST_TOOLS:-build/tools}/timetable_next
GUST=${GUST:-bin/gust}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 -c 'import croniter, zoneinfo' >/dev/null 2>&1; then
    echo "not ok - timetable check: /usr/bin/python3 lacks croniter (run make deps)"
    exit 1
fi
check "timetable_next tool is built" test -x "$tool"
/usr/bin/python3 tests/integration/timetable_check.py "$tool" "$tmp"

mkdir -p "$tmp/dags"
cat >"$tmp/dags/tt.yaml" <<'YAML'
default:
  default_args:
    start_date: 2024-11-11
    owner: tt
weekly_trigger:
  schedule:
    __type__: airflow.timetables.trigger.CronTriggerTimetable
    __args__: ["0 1 * * 3"]
    timezone: UTC
    interval: {__type__: datetime.timedelta, hours: 2}
  tasks: [{task_id: t, operator: airflow.operators.bash.BashOperator, bash_command: "true"}]
two_crons:
  schedule:
    __type__: airflow.sdk.MultipleCronTriggerTimetable
    __args__: ["0 6 * * *", "30 18 * * 1-5"]
    timezone: Europe/Berlin
  tasks: [{task_id: t, operator: airflow.operators.bash.BashOperator, bash_command: "true"}]
events:
  timetable:
    __type__: airflow.timetables.events.EventsTimetable
    event_dates: ["2030-03-01T10:00:00", "2029-01-01"]
  tasks: [{task_id: t, operator: airflow.operators.bash.BashOperator, bash_command: "true"}]
YAML
next=$("$GUST" dags next-execution weekly_trigger -n 2 --subdir "$tmp/dags" \
    --after 2029-01-01T00:00:00Z 2>/dev/null | tr '\n' ' ')
check_eq "next-execution: CronTriggerTimetable's logical date is the trigger minus interval" \
    "2029-01-02T23:00:00+00:00 2029-01-09T23:00:00+00:00 " "$next"
next=$("$GUST" dags next-execution two_crons -n 3 --subdir "$tmp/dags" \
    --after 2029-01-05T12:00:00Z 2>/dev/null | tr '\n' ' ')
check_eq "next-execution: MultipleCronTriggerTimetable merges its crons (Fri 18:30, Sat 06:00)" \
    "2029-01-05T17:30:00+00:00 2029-01-06T05:00:00+00:00 2029-01-07T05:00:00+00:00 " "$next"
next=$("$GUST" dags next-execution events -n 5 --subdir "$tmp/dags" \
    --after 2028-01-01T00:00:00Z 2>/dev/null | tr '\n' ' ')
check_eq "next-execution: EventsTimetable lists its events in order, then stops" \
    "2029-01-01T00:00:00+00:00 2030-03-01T10:00:00+00:00 " "$next"
list=$("$GUST" dags list --subdir "$tmp/dags" 2>/dev/null)
check "dags list shows both crons of a MultipleCronTriggerTimetable" \
    grep -q "0 6 \* \* \*, 30 18 \* \* 1-5" <<<"$list"
errs=$("$GUST" dags list-import-errors --warnings --subdir "$tmp/dags" 2>&1)
check "timetable: is accepted with a warning about Airflow 3" grep -q "timetable is Airflow 2" <<<"$errs"

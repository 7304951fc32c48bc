#!/usr/bin/env bash
# Timetables given by __type__ under `gust scheduler` against a real PostgreSQL: @continuous
# (one run at a time, each starting where the previous one's data interval ended), a
# CronTriggerTimetable with an interval (data interval [trigger - interval, trigger], logical
# date its start) with catchup, and the data interval of a manual run of it.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 10
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_timetables
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
q_at_least() { test "$(q "$1")" -ge "$2"; }

start3=$(date -u -d "$(date -u +%F) -3 days" +%FT00:00:00Z)
export START3=$start3
cat >"$GUST_DAGS_FOLDER/tt.yaml" <<'YAML'
forever:
  schedule: "@continuous"
  max_active_runs: 1
  start_date: $START3
  tasks:
    - task_id: work
      operator: airflow.operators.bash.BashOperator
      bash_command: 'sleep 0.3'
six_am:
  schedule:
    __type__: airflow.timetables.trigger.CronTriggerTimetable
    cron: "0 6 * * *"
    timezone: UTC
    interval: {__type__: datetime.timedelta, hours: 2}
  start_date: $START3
  catchup: true
  tasks:
    - {task_id: work, operator: airflow.operators.empty.EmptyOperator}
YAML
"$GUST" scheduler >"$GUST_TEST_TMP/scheduler.log" 2>&1 &
pid=$!
gust_kill_at_exit "$pid"
# Under ASan on a busy 2-core machine four runs took over 60 s (a run starts on the
# scheduler's next tick after the previous one ends): a generous deadline, not a speed test.
check "@continuous: four runs, one after the other" wait_for 240 q_at_least \
    "SELECT count(*) FROM dag_run WHERE dag_id = 'forever' AND state = 'success'" 4
check "CronTriggerTimetable with catchup: the three past 06:00 triggers" wait_for 30 q_at_least \
    "SELECT count(*) FROM dag_run WHERE dag_id = 'six_am'" 3
kill -TERM "$pid"
wait "$pid"

# each continuous run starts where the previous one's interval ended, and never overlaps it
gaps=$(q "SELECT count(*) FROM (SELECT data_interval_start, start_date,
            lag(data_interval_end) OVER w AS prev_end, lag(end_date) OVER w AS prev_done
          FROM dag_run WHERE dag_id = 'forever' WINDOW w AS (ORDER BY data_interval_end)) x
          WHERE prev_end IS NOT NULL AND data_interval_start <> prev_end")
check_eq "@continuous: each data interval starts at the previous one's end" 0 "$gaps"
overlap=$(q "SELECT count(*) FROM dag_run a JOIN dag_run b ON a.dag_id = b.dag_id
             AND a.run_id < b.run_id WHERE a.dag_id = 'forever'
             AND a.start_date < b.end_date AND b.start_date < a.end_date")
check_eq "@continuous: no two runs were active at once" 0 "$overlap"
first=$(q "SELECT to_char(data_interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
           FROM dag_run WHERE dag_id = 'forever' ORDER BY data_interval_end LIMIT 1")
check_eq "@continuous: the first run's interval starts at start_date" "$start3" "$first"

day1=$(date -u -d "$start3" +%F)
row=$(q "SELECT to_char(logical_date AT TIME ZONE 'UTC', 'HH24:MI') || ' ' ||
           to_char(data_interval_end - data_interval_start, 'HH24:MI') || ' ' || run_id
         FROM dag_run WHERE dag_id = 'six_am' ORDER BY logical_date LIMIT 1")
check_eq "CronTriggerTimetable: logical date = trigger - interval, a 2 h data interval" \
    "04:00 02:00 scheduled__${day1}T04:00:00+00:00" "$row"
n=$(q "SELECT count(*) FROM dag_run WHERE dag_id = 'six_am' AND
       to_char(data_interval_end AT TIME ZONE 'UTC', 'HH24:MI') <> '06:00'")
check_eq "CronTriggerTimetable: every data interval ends at the 06:00 trigger" 0 "$n"

"$GUST" dags trigger six_am -r manual_one >/dev/null 2>&1
check_eq "a manual run of it is created" 0 $?
len=$(q "SELECT to_char(data_interval_end - data_interval_start, 'HH24:MI') ||
           (data_interval_end = logical_date)::text FROM dag_run WHERE run_id = 'manual_one'")
check_eq "a manual run's data interval is [logical date - interval, logical date]" "02:00true" \
    "$len"

#!/usr/bin/env bash
# A `gust worker` claims when there may be something for it, not at every wake-up (issue 22,
# goal 3; worker_claim_due in runner.c): a 100-task fan-out run by one worker beside a
# scheduler without executor costs the database fewer than 18 commits per task over both
# processes (10 measured; 25 and 30 with the worker claiming at each wake-up: each line a
# try printed, each end, each notification). Not timed: the count is PostgreSQL's xact_commit of the
# test's own database, read after both processes have exited (a backend reports its counts
# when it ends). And the scheduler reads back the row of each try the worker ended, not every
# row of the run (runner.c, know_ended): its debug log says each time it reads a whole run
# (2 to 3 times here; about once per task when it read the run at each notification).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 7 # "gust db migrate" and the six checks below
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/gen/dags GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
TASKS=100
q() { psql -X -q -At -c "$1"; }
commits() { q "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }

/usr/bin/python3 "$GUST_SRC/bench/gen_graphs.py" "$GUST_TEST_TMP/gen" fan "$TASKS" >/dev/null
dag=$(basename "$(ls "$GUST_DAGS_FOLDER"/*.yaml)" .yaml)
pg_gust_db gust_worker_claims

start_bg sched env GUST_LOG_LEVEL=debug "$GUST" scheduler --no-executor
sched=$LAST
start_bg worker "$GUST" worker --concurrency 2
worker=$LAST
check "the worker's job heartbeats" wait_for 30 "$GUST" jobs check --job-type worker
c0=$(commits)
"$GUST" dags trigger "$dag" -r claims1 >/dev/null 2>&1
check "the run finishes through the worker" wait_for 120 sh -c \
    "test \"\$(psql -X -q -At -c \"select state from dag_run where run_id = 'claims1'\")\" = success"
kill -TERM "$sched" "$worker"
check "both processes stop" wait_for 40 sh -c "! kill -0 $sched 2>/dev/null && ! kill -0 $worker 2>/dev/null"
check_eq "the worker ran every task" "$TASKS" \
    "$(q "select count(*) from task_instance t join job j on j.id = t.job_id where t.run_id = 'claims1' and j.job_type = 'WorkerJob'")"
# the backends' last counts arrive a moment after they end
sleep 1
per_task=$(($(($(commits) - c0)) / TASKS))
echo "# $per_task commits per task (scheduler and worker)" >&2
check "fewer than 18 commits per task (got $per_task)" test "$per_task" -lt 18
reads=$(grep -c "run=claims1: read its" "$GUST_TEST_TMP/sched.log")
echo "# the scheduler read the whole run $reads times" >&2
check "the scheduler read the whole run fewer than 10 times, not at each end (got $reads)" \
    test "$reads" -lt 10

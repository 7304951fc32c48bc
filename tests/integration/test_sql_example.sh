#!/usr/bin/env bash
# dags/sql_example.yaml end to end: `gust dags trigger --local` runs its SQL tasks with the real
# sql_task against a real PostgreSQL database named by an AIRFLOW_CONN_ environment connection.
# A hostile conf value goes through `parameters` and lands verbatim; the branch follows one
# path or the other depending on the data; a failed threshold check fails the run; the
# connection's password appears in no log or spec file.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 20
if [ ! -x "$(gust_bin sql_task)" ]; then
    echo "not ok - bin/sql_task is built (make)"
    exit 1
fi
gust_tmpdir tmp
pg_gust_db gust_sql_example
pg_createdb gust_sql_example_target >/dev/null || { echo "not ok - create the target database"; exit 1; }
# a made-up password, new each run (the test cluster trusts loopback); its '@' must travel
# percent-encoded in the URI and must never show up in a log, in either form
SECRET=$(printf 'Ex%smple-%s' @ "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')")
SECRET_URI=${SECRET/@/%40}
export AIRFLOW_CONN_SQL_EXAMPLE_DB="postgresql://$PGUSER:$SECRET_URI@127.0.0.1:$PGPORT/gust_sql_example_target"
export GUST_DAGS_FOLDER=$GUST_SRC/dags
export GUST_LOGS_FOLDER=$tmp/logs
meta() { psql -X -q -At -c "$1"; }
target() { psql -X -q -At -d gust_sql_example_target -c "$1"; }
state_of() { "$GUST" tasks state sql_example "$1" "$2" 2>/dev/null; }
run_state() { "$GUST" dags state sql_example "$1" | cut -d, -f1; }
xcom() { meta "select value::text from xcom where run_id = '$1' and task_id = '$2' and key = 'return_value'"; }

# --- run 1: one visitor, whose name is an SQL injection attempt
hostile="Ada'); DROP TABLE sql_example_visits; --"
conf=$(V=$hostile /usr/bin/python3 -c 'import json,os; print(json.dumps({"visitor": os.environ["V"]}))')
"$GUST" dags trigger sql_example --local -r e1 -c "$conf" >/dev/null 2>&1
check_eq "the example run succeeds" success "$(run_state e1)"
check_eq "the conf value landed verbatim, as data" "$hostile" "$(target "select visitor from sql_example_visits")"
check_eq "and ran nothing (the table is still there, with one row)" 1 "$(target "select count(*) from sql_example_visits")"
check_eq "the insert's RETURNING rows are its XCom" \
    "$(V=$hostile /usr/bin/python3 -c 'import json,os; print(json.dumps([[os.environ["V"]]]))')" "$(xcom e1 record_visit)"
check_eq "the sensor saw the row" success "$(state_of visit_landed e1)"
check_eq "the three checks pass" "success success success" \
    "$(state_of enough_visits e1) $(state_of columns_ok e1) $(state_of rows_ok e1)"
check_eq "one visitor: the branch follows first_visitor" "success skipped" \
    "$(state_of first_visitor e1) $(state_of report_regulars e1)"

# --- run 2: a second visitor flips the branch
"$GUST" dags trigger sql_example --local -r e2 -c '{"visitor": "Grace"}' >/dev/null 2>&1
check_eq "the second run succeeds" success "$(run_state e2)"
check_eq "two visitors: the branch follows report_regulars" "success skipped" \
    "$(state_of report_regulars e2) $(state_of first_visitor e2)"
check_contains "the report's rows are its XCom" '"Grace", 1]' "$(xcom e2 report_regulars)"
check_eq "params apply without conf" "anonymous" \
    "$("$GUST" dags trigger sql_example --local -r e3 >/dev/null 2>&1; target "select visitor from sql_example_visits where run_id = 'e3'")"

# --- run 4: a threshold check that fails
start=$SECONDS
"$GUST" dags trigger sql_example --local -r e4 -c '{"visitor": "Linus", "min_visits": 100}' >/dev/null 2>&1
check_eq "a run whose threshold check fails, fails" failed "$(run_state e4)"
check_eq "the check failed after its retry" "failed 2" \
    "$(state_of enough_visits e4) $(meta "select try_number from task_instance where run_id = 'e4' and task_id = 'enough_visits'")"
check_eq "the branch never ran" upstream_failed "$(state_of many_visitors e4)"
check_contains "the check's log gives the value and the bounds" "result 4 is not within thresholds 100 and" \
    "$("$GUST" tasks logs sql_example enough_visits e4 2>&1)"
check_contains "the failed check's record is its XCom" '"within_threshold": false' "$(xcom e4 enough_visits)"
check "it took one retry delay, not more" test $((SECONDS - start)) -lt 60

# --- the password is nowhere
check_fails "the connection's password is in no log or spec file" \
    grep -rlF -e "$SECRET" -e "$SECRET_URI" "$GUST_LOGS_FOLDER"
check "each try's spec file is 0600" test -z "$(find "$GUST_LOGS_FOLDER" -name '*.sql.json' ! -perm 600)"

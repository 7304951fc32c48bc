#!/usr/bin/env bash
# The runner side of the SQL operators, end to end with `gust dags trigger --local` against a
# real PostgreSQL (the metadata database): the spec file the runner writes for sql_task
# (every template rendered, .sql files read, conf values as bound parameters, 0600 beside the
# log), exit codes to states, XCom, and BranchSQLOperator's skips with the planner's cascade.
#
# sql_task itself is replaced by a test-only stand-in installed beside a copy of gust (task
# executables are found in gust's own folder first): it keeps the spec it was given and
# exits, writes XCom and branch files as each run's control files say. What sql_task does
# with a spec is tested with sql_task (tests/integration/test_sql_task*.sh).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 49
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_sql_run
PY=/usr/bin/python3

mkdir -p "$GUST_TEST_TMP/bin" "$GUST_TEST_TMP/ctl" "$GUST_TEST_TMP/dags"
cp "$GUST" "$GUST_TEST_TMP/bin/gust"
GUST=$GUST_TEST_TMP/bin/gust
cat >"$GUST_TEST_TMP/bin/sql_task" <<'EOF'
#!/bin/bash
# Test-only stand-in for sql_task: keeps what it was given, acts as the control files say.
[ "$1" = --spec ] && [ -f "$2" ] || exit 100
d=$GUST_TEST_TMP/seen/$AIRFLOW_CTX_DAG_RUN_ID
mkdir -p "$d"
t=$AIRFLOW_CTX_TASK_ID
cp "$2" "$d/$t.spec.json"
stat -c %a "$2" >"$d/$t.mode"
printf '%s' "$2" >"$d/$t.path"
printf '%s' "${GUST_BRANCH_FILE-unset}" >"$d/$t.branchfile"
echo "$AIRFLOW_CTX_TRY_NUMBER" >>"$d/$t.tries"
ctl=$GUST_TEST_TMP/ctl/$AIRFLOW_CTX_DAG_RUN_ID.$t
[ -f "$ctl.xcom" ] && cp "$ctl.xcom" "$GUST_XCOM_FILE"
if [ -n "${GUST_BRANCH_FILE:-}" ]; then
    if [ -f "$ctl.branch" ]; then
        [ "$(cat "$ctl.branch")" = - ] || cp "$ctl.branch" "$GUST_BRANCH_FILE"
    else
        echo '["yes_path"]' >"$GUST_BRANCH_FILE"
    fi
fi
[ -f "$ctl.exit" ] && exit "$(cat "$ctl.exit")"
exit 0
EOF
chmod +x "$GUST_TEST_TMP/bin/sql_task"
cp -r "$GUST_SRC/tests/integration/sql_dags/." "$GUST_TEST_TMP/dags/"
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
# PATH without gust's folder: the stand-in must be found beside gust, not on PATH
export PATH=/usr/local/bin:/usr/bin:/bin
q() { psql -X -q -At -c "$1"; }
state_of() { "$GUST" tasks state sql_flow "$1" "$2" 2>/dev/null; }
seen() { echo "$GUST_TEST_TMP/seen/$1/$2"; }
# spec RUN TASK EXPR: a Python expression over the spec `s` of that task's last try
spec() {
    "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$(seen "$1" "$2").spec.json" "$3" 2>&1
}
ctl() { printf '%s' "$3" >"$GUST_TEST_TMP/ctl/$1.$2"; } # ctl RUN TASK.kind CONTENT

# --- run 1: the spec, a conf value as data, XCom, the branch follows yes_path
payload="x'); DROP TABLE events; -- \"\$(id)\" {{ 7*7 }} \\"
conf=$(PAYLOAD=$payload "$PY" -c 'import json,os; print(json.dumps({"name": os.environ["PAYLOAD"]}))')
ctl r1 insert.xcom '[[1]]'
ctl r1 wait.exit 99
"$GUST" dags trigger sql_flow --local -r r1 -c "$conf" >/dev/null 2>&1
check_eq "the run succeeds" success "$("$GUST" dags state sql_flow r1 | cut -d, -f1)"
check_eq "the spec names the operator and the try" "execute sql_flow insert r1" \
    "$(spec r1 insert 's["operator"], s["dag_id"], s["task_id"], s["run_id"]' | tr -d "(),'")"
check_eq "conn_id comes from default_args" warehouse "$(spec r1 insert 's["conn_id"]')"
check_eq "a conf value in parameters is passed verbatim as data" "$payload" \
    "$(spec r1 insert 's["parameters"]["name"]')"
check_eq "non-string parameters keep their JSON types" "3 1.5 None" \
    "$(spec r1 insert '" ".join(map(str, [s["parameters"]["n"]] + s["parameters"]["tags"][1:]))')"
check "a string nested in parameters is rendered" \
    "$PY" -c 'import json,re,sys; s=json.load(open(sys.argv[1])); sys.exit(not re.fullmatch(r"\d{4}-\d\d-\d\d", s["parameters"]["tags"][0]))' \
    "$(seen r1 insert).spec.json"
check_eq "the .sql file is read and rendered, the conf value is not in it" \
    "INSERT INTO events_DS (name, n) VALUES (%(name)s, %(n)s)" \
    "$(spec r1 insert 's["sql"][0].strip().replace(s["database"][3:], "DS")')"
check_eq "an inline statement of the list is rendered" "SELECT count(*) FROM events WHERE run = 'r1'" \
    "$(spec r1 insert 's["sql"][1]')"
check_eq "database is rendered" True "$(spec r1 insert 'len(s["database"]) == 11 and s["database"][3:].isdigit()')"
check_eq "execution_timeout and autocommit are in the spec" "30.0 True" \
    "$(spec r1 insert 's["execution_timeout"], s["autocommit"]' | tr -d '(),')"
check_eq "do_xcom_push and the try number are in the spec" "True 1" \
    "$(spec r1 insert 's["do_xcom_push"], s["try_number"]' | tr -d '(),')"
check_eq "keys not set in the DAG file are absent" "False False" \
    "$(spec r1 insert '"return_last" in s, "split_statements" in s' | tr -d '(),')"
check_eq "the spec file is mode 0600" 600 "$(cat "$(seen r1 insert).mode")"
check_eq "the spec file is beside the try's log" \
    "$GUST_LOGS_FOLDER/dag_id=sql_flow/run_id=r1/task_id=insert/attempt=1.sql.json" \
    "$(cat "$(seen r1 insert).path")"
check_eq "no GUST_BRANCH_FILE for a task that does not branch" unset "$(cat "$(seen r1 insert).branchfile")"
check_eq "sql_task's result file becomes the XCom" "[[1]]" \
    "$(q "select value::text from xcom where run_id = 'r1' and task_id = 'insert' and key = 'return_value'")"
check_eq "the branch gets GUST_BRANCH_FILE beside its log" \
    "$GUST_LOGS_FOLDER/dag_id=sql_flow/run_id=r1/task_id=branch/attempt=1.branch.json" \
    "$(cat "$(seen r1 branch).branchfile")"
check_eq "the branch spec has both follow lists" "branch ['yes_path'] ['no_path']" \
    "$(spec r1 branch 's["operator"], s["follow_task_ids_if_true"], s["follow_task_ids_if_false"]' | tr -d "(),'" | sed "s/\[/['/g; s/\]/']/g")"
check_eq "a column check's table and partition_clause are rendered" "column_check|True|run = 'r1'" \
    "$(spec r1 columns '"|".join(map(str, [s["operator"], s["table"].startswith("events_2"), s["partition_clause"]]))')"
check_eq "column_mapping is passed as an object" "{'n': {'min': {'geq_to': 1}}}" \
    "$(spec r1 columns 's["column_mapping"]')"
check_eq "a sql written as a string stays a string (Airflow splits and shapes results by it)" \
    "str False list True" \
    "$(spec r1 wait 'type(s["sql"]).__name__, s["sql_is_list"]' | tr -d "(),'") $(spec r1 insert 'type(s["sql"]).__name__, s["sql_is_list"]' | tr -d "(),'")"
check_eq "the sensor's spec has its poke_interval, timeout and soft_fail" "sensor 1.0 5.0 True" \
    "$(spec r1 wait 's["operator"], s["poke_interval"], s["timeout"], s["soft_fail"]' | tr -d "(),'")"
check_eq "sql_task exit 99 (sensor soft_fail) skips the task" skipped "$(state_of wait r1)"
check_eq "the branch succeeds" success "$(state_of branch r1)"
check_eq "the followed task runs" success "$(state_of yes_path r1)"
check_eq "the direct downstream not followed is skipped" skipped "$(state_of no_path r1)"
check_eq "the skip cascades below it" skipped "$(state_of after_no r1)"
check_eq "a join with none_failed_min_one_success runs" success "$(state_of join r1)"
check_eq "the skipped task never ran" 0 "$(q "select try_number from task_instance where run_id = 'r1' and task_id = 'no_path'")"
check_contains "the branch's log says what it skipped" '["no_path"]' \
    "$(cat "$GUST_LOGS_FOLDER/dag_id=sql_flow/run_id=r1/task_id=branch/attempt=1.log")"

# --- run 2: the other way
ctl r2 branch.branch '["no_path"]'
"$GUST" dags trigger sql_flow --local -r r2 >/dev/null 2>&1
check_eq "params apply without conf" from_params "$(spec r2 insert 's["parameters"]["name"]')"
check_eq "following the false branch skips the true one" "skipped success success success" \
    "$(for t in yes_path no_path after_no join; do state_of $t r2; done | tr '\n' ' ' | sed 's/ $//')"

# --- run 3: a branch choice that is not a direct downstream task
ctl r3 branch.branch '["after_no"]'
"$GUST" dags trigger sql_flow --local -r r3 >/dev/null 2>&1
check_eq "a branch following a task not directly downstream fails" failed "$(state_of branch r3)"
check_eq "and is not retried (the DAG file is wrong, not the database)" 1 "$(wc -l <"$(seen r3 branch).tries")"
check_contains "its log says which id and why" \
    "branch task 'branch' chose to follow 'after_no', which is not a task directly downstream of it" \
    "$(cat "$GUST_LOGS_FOLDER/dag_id=sql_flow/run_id=r3/task_id=branch/attempt=1.log")"
check_eq "its downstream tasks are upstream_failed" "upstream_failed upstream_failed" \
    "$(state_of yes_path r3) $(state_of no_path r3)"
check_eq "the run fails" failed "$("$GUST" dags state sql_flow r3 | cut -d, -f1)"

# --- run 4: a branch that exits 0 without saying what to follow
ctl r4 branch.branch -
"$GUST" dags trigger sql_flow --local -r r4 >/dev/null 2>&1
check_eq "a branch that wrote no choice fails" failed "$(state_of branch r4)"
check_contains "its log says it wrote no GUST_BRANCH_FILE" "exited 0 but wrote no \$GUST_BRANCH_FILE" \
    "$(cat "$GUST_LOGS_FOLDER/dag_id=sql_flow/run_id=r4/task_id=branch/attempt=1.log")"

# --- run 5: a failing check is retried and keeps its per-check results as XCom
ctl r5 columns.exit 1
ctl r5 columns.xcom '{"n": {"min": {"geq_to": 1, "result": 0, "success": false}}}'
"$GUST" dags trigger sql_flow --local -r r5 >/dev/null 2>&1
check_eq "exit 1 is a failure, retried while retries remain" "1 2 3" "$(tr '\n' ' ' <"$(seen r5 columns).tries" | sed 's/ $//')"
check_eq "the check ends failed" failed "$(state_of columns r5)"
check_eq "the failed check's results are its XCom" '{"n": {"min": {"geq_to": 1, "result": 0, "success": false}}}' \
    "$(q "select value::text from xcom where run_id = 'r5' and task_id = 'columns' and key = 'return_value'")"

# --- run 6: exit 100 is permanent; 111 is retried
ctl r6 insert.exit 100
ctl r6 columns.exit 111
"$GUST" dags trigger sql_flow --local -r r6 >/dev/null 2>&1
check_eq "exit 100 fails at once" "failed 1" "$(state_of insert r6) $(wc -l <"$(seen r6 insert).tries")"
check_eq "the run fails" failed "$("$GUST" dags state sql_flow r6 | cut -d, -f1)"

# --- gust tasks test: the same spec, the branch's choice printed, nothing left in $TMPDIR (a
# private one: tests run at the same time make their own /tmp/gust-test-* folders)
mkdir "$GUST_TEST_TMP/tmp"
out=$(TMPDIR=$GUST_TEST_TMP/tmp "$GUST" tasks test sql_flow branch 2>&1)
check_contains "tasks test of a branch prints what it follows" 'branch: follows ["yes_path"]' "$out"
check_eq "tasks test leaves no spec or branch file behind" "" "$(ls -A "$GUST_TEST_TMP/tmp")"

# --- a .sql file that is gone: the DAG no longer loads, and says where
rm "$GUST_TEST_TMP/dags/sql/insert.sql"
check_fails "a run of a DAG whose template file is gone is refused" \
    "$GUST" dags trigger sql_flow --local -r r7
check_contains "the import error names the task, the file and its place" \
    "sql_flow.yaml:14:11: error: task 'insert': template file 'sql/insert.sql' not found" \
    "$("$GUST" dags list-import-errors 2>&1)"

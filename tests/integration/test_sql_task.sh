#!/usr/bin/env bash
# sql_task (the SQL operators' executable) against a real PostgreSQL, from hand-written spec
# files as gust's runner writes them. Each operator's pass and fail cases follow the
# provider's source (airflow.providers.common.sql operators/sql.py, sensors/sql.py): the XCom
# shapes of SQLExecuteQueryOperator (string vs list sql, split_statements, return_last),
# autocommit vs one transaction, psycopg2 placeholders bound (a hostile value lands verbatim
# and runs nothing; a mismatch is exit 100 before anything runs), the XCom size limit,
# execution_timeout and SIGTERM cancelling the statement on the server (pg_stat_activity
# shows it gone), the checks' verdicts and per-check XCom, branch files, the sensor's
# timeout/soft_fail/fail_on_empty, and connections: environment and metadata table, missing
# (100), malformed (100), not postgres (100), unreachable (111), and the password never in
# any output or /proc/*/cmdline.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 97
SQLT=$(gust_bin sql_task)
gust_tmpdir tmp
DB=gust_sql_task
pg_createdb $DB >/dev/null || { echo "not ok - create database"; exit 1; }
pg_createdb gust_sql_task_other >/dev/null
export PGDATABASE=$DB
unset GUST_DATABASE_URL GUST_BRANCH_FILE GUST_XCOM_MAX_BYTES
export GUST_XCOM_FILE=$tmp/xcom.json
SECRET='s3cr3t-Pa55'
# the password percent-encoded in the URI as Airflow writes it ('@' is %40)
export AIRFLOW_CONN_PG_TEST="postgresql://$PGUSER:$SECRET%40word@127.0.0.1:$PGPORT/$DB"

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
# sqlt NAME JSON: write the spec, run sql_task; RC, OUT (stdout+stderr), XCOM (or "none")
sqlt() {
    printf '%s\n' "$2" >"$tmp/$1.json"
    rm -f "$GUST_XCOM_FILE"
    "$SQLT" --spec "$tmp/$1.json" >"$tmp/$1.out" 2>&1
    RC=$?
    OUT=$(cat "$tmp/$1.out")
    XCOM=$(cat "$GUST_XCOM_FILE" 2>/dev/null || echo none)
}
C='"conn_id": "pg_test", "task_id": "t"'

q "create table items (id int primary key, name text, price float8, qty numeric, ok bool,
    doc jsonb, day date)"
q "insert into items values (1, 'a', 1.5, 2.50, true, '{\"x\": 1}', '2024-01-02'),
    (2, 'b', 0.25, 10, false, null, null), (3, null, 3, 0, null, '[]', '2024-02-01')"

# --- execute: XCom shapes
sqlt ex1 "{\"operator\": \"execute\", $C, \"sql\": [\"SELECT * FROM items ORDER BY id\"]}"
check_eq "execute: exit 0" 0 "$RC"
check_eq "execute: a string sql returns its rows, typed as psycopg2 types them" \
    '[[1, "a", 1.5, 2.50, true, {"x": 1}, "2024-01-02"], [2, "b", 0.25, 10, false, null, null], [3, null, 3, 0, null, [], "2024-02-01"]]' "$XCOM"
sqlt ex2 "{\"operator\": \"execute\", $C, \"sql\": [\"CREATE TEMP TABLE x (a int)\", \"SELECT 1 AS one\", \"SELECT 2\"]}"
check_eq "execute: a list of statements returns each one's result (null without rows)" \
    '[null, [[1]], [[2]]]' "$XCOM"
sqlt ex2b "{\"operator\": \"execute\", $C, \"sql\": [\"SELECT 1\"], \"sql_is_list\": true}"
check_eq "execute: a DAG-file list of one statement (sql_is_list) returns a list of results" '[[[1]]]' "$XCOM"
sqlt ex3 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT 1; SELECT 'a;b'; -- c;\", \"split_statements\": true, \"return_last\": false}"
check_eq "execute: split_statements with return_last false: one result per statement" \
    '[[[1]], [["a;b"]]]' "$XCOM"
sqlt ex4 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT 1; SELECT 'a;b'\", \"split_statements\": true}"
check_eq "execute: split_statements with return_last: the last statement's rows" '[["a;b"]]' "$XCOM"
sqlt ex5 "{\"operator\": \"execute\", $C, \"sql\": \"CREATE TABLE multi (a int); INSERT INTO multi VALUES (7); SELECT a FROM multi\"}"
check_eq "execute: one text of several statements without parameters runs whole" '[[7]]' "$XCOM"

sqlt ex6 "{\"operator\": \"execute\", $C, \"sql\": \"CREATE TABLE nothing_back (a int)\"}"
check_eq "execute: a single statement without rows returns None: no XCom" "0 none" "$RC $XCOM"

# --- execute: transactions
q "create table tx (v text)"
sqlt tx1 "{\"operator\": \"execute\", $C, \"sql\": [\"INSERT INTO tx VALUES ('one')\", \"SELECT 1/0\"]}"
check_eq "one transaction: a failing statement fails the try" 1 "$RC"
check_contains "the SQL error is reported with its SQLSTATE" "division by zero (SQLSTATE 22012)" "$OUT"
check_eq "one transaction: the earlier statement is rolled back" 0 "$(q "select count(*) from tx")"
sqlt tx2 "{\"operator\": \"execute\", $C, \"autocommit\": true, \"sql\": [\"INSERT INTO tx VALUES ('one')\", \"SELECT 1/0\"]}"
check_eq "autocommit: the earlier statement stays committed" 1 "$(q "select count(*) from tx")"

# --- execute: parameters
q "create table victims (v text)"
hostile="x'); DROP TABLE victims; --"
hostile_json=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$hostile")
sqlt p1 "{\"operator\": \"execute\", $C, \"sql\": \"INSERT INTO victims VALUES (%s) RETURNING v, %s + 1\", \"parameters\": [$hostile_json, 41]}"
check_eq "parameters: exit 0" 0 "$RC"
check_eq "parameters: the hostile value lands verbatim" "$hostile" "$(q "select v from victims")"
check_eq "parameters: the table it names to drop still exists" 1 "$(q "select count(*) from pg_tables where tablename = 'victims'")"
check_eq "parameters: values are typed like psycopg2's literals (int + 1)" "[[$hostile_json, 42]]" "$XCOM"
sqlt p2 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT %(v)s::text || %(v)s, '100%%', \$\$%s\$\$\", \"parameters\": {\"v\": \"ab\", \"unused\": 1}}"
check_eq "named parameters: a name used twice, %% a literal percent, %s in a dollar quote is text" \
    '[["abab", "100%", "%s"]]' "$XCOM"
sqlt p3 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT '100%%'\"}"
check_eq "without parameters the text is left alone (%% stays, as psycopg2 leaves it)" '[["100%%"]]' "$XCOM"
sqlt p4 "{\"operator\": \"execute\", \"conn_id\": \"pg_test\", \"task_id\": \"bad_params\", \"sql\": [\"INSERT INTO victims VALUES (%s)\", \"SELECT %s, %s\"], \"parameters\": [\"ran\"]}"
check_eq "too few values for the placeholders: exit 100" 100 "$RC"
check_contains "the mismatch names the task and the key" "task bad_params: sql[1]: more %s placeholders than the 1 value(s) of parameters" "$OUT"
check_eq "a mismatch found in a later statement: nothing ran" 1 "$(q "select count(*) from victims")"
sqlt p5 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT %s\", \"parameters\": [1, 2]}"
check_contains "unused list values: exit 100 saying so" "parameters has 2 value(s) but the SQL has 1 %s placeholder(s)" "$RC $OUT"
sqlt p6 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT %(nope)s\", \"parameters\": {\"v\": 1}}"
check_contains "a missing key: exit 100 naming it" "100 parameters has no key 'nope'" "$RC $(grep -o "parameters has no key 'nope'" "$tmp/p6.out")"

# --- execute: logs, XCom limit, database override
sqlt log1 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT 42\", \"show_return_value_in_logs\": true}"
check_contains "show_return_value_in_logs prints the rows" "Operator output is: [[42]]" "$OUT"
GUST_XCOM_MAX_BYTES=200 sqlt big "{\"operator\": \"execute\", $C, \"sql\": \"SELECT g FROM generate_series(1, 1000) g\"}"
check_eq "over the XCom limit: exit 1" 1 "$RC"
check_contains "over the XCom limit: says so, naming the variable" "XCom limit of 200 bytes (GUST_XCOM_MAX_BYTES)" "$OUT"
check_eq "over the XCom limit: nothing pushed" none "$XCOM"
sqlt nox "{\"operator\": \"execute\", $C, \"sql\": \"SELECT 1\", \"do_xcom_push\": false}"
check_eq "do_xcom_push false: no XCom" "0 none" "$RC $XCOM"
sqlt dbo "{\"operator\": \"execute\", $C, \"sql\": \"SELECT current_database()\", \"database\": \"gust_sql_task_other\"}"
check_eq "database overrides the connection's schema" '[["gust_sql_task_other"]]' "$XCOM"

GUST_SQL_PROGRESS_SECONDS=0.3 sqlt prog "{\"operator\": \"execute\", $C, \"sql\": \"SELECT pg_sleep(1)\"}"
check_contains "a long statement logs progress lines" "progress: the statement has run for" "$OUT"

# --- execution_timeout and SIGTERM cancel on the server
running() { q "select count(*) from pg_stat_activity where datname = current_database() and state = 'active' and query like 'SELECT pg_sleep($1)%'"; }
running_is() { test "$(running "$1")" = "$2"; }
start=$SECONDS
sqlt to1 "{\"operator\": \"execute\", $C, \"sql\": \"SELECT pg_sleep(60)\", \"execution_timeout\": 1}"
check_eq "execution_timeout: exit 1" 1 "$RC"
check "execution_timeout: it ended well before the statement would have" test $((SECONDS - start)) -lt 20
check_contains "execution_timeout: the server cancelled it" "past execution_timeout (1s), cancelled by the server" "$OUT"
check_eq "execution_timeout: pg_stat_activity shows it gone" 0 "$(running 60)"
printf '%s\n' "{\"operator\": \"execute\", $C, \"sql\": \"SELECT pg_sleep(61)\"}" >"$tmp/term.json"
"$SQLT" --spec "$tmp/term.json" >"$tmp/term.out" 2>&1 &
pid=$!
gust_kill_at_exit $pid
check "SIGTERM: the statement runs on the server" wait_for 10 running_is 61 1
found=0
for f in /proc/[0-9]*/cmdline; do
    tr '\0' ' ' 2>/dev/null <"$f" | grep -q "$SECRET" && found=1
done
check_eq "the password is in no /proc/*/cmdline while the try runs" 0 "$found"
kill -TERM $pid
wait $pid
check_eq "SIGTERM: exit 1" 1 $?
check_contains "SIGTERM: says the statement was cancelled" "stopped by signal 15: the statement was cancelled on the server" "$(cat "$tmp/term.out")"
check_eq "SIGTERM: pg_stat_activity shows the statement gone" 0 "$(running 61)"

# --- connections
sqlt c1 '{"operator": "execute", "conn_id": "no_such_conn", "sql": "SELECT 1"}'
check_eq "a missing connection: exit 100" 100 "$RC"
check_contains "a missing connection: named" "connection 'no_such_conn' not found" "$OUT"
AIRFLOW_CONN_BROKEN="postgresql://u:$SECRET@[::1/db" sqlt c2 '{"operator": "execute", "conn_id": "broken", "sql": "SELECT 1"}'
check_eq "a malformed URI: exit 100" 100 "$RC"
check_contains "a malformed URI: names the connection" "connection 'broken'" "$OUT"
AIRFLOW_CONN_DOWN="postgresql://u:$SECRET@127.0.0.1:1/db" sqlt c3 '{"operator": "execute", "conn_id": "down", "sql": "SELECT 1"}'
check_eq "an unreachable host: exit 111" 111 "$RC"
check_contains "an unreachable host: names the connection without its password" "connection down (postgres://u@127.0.0.1:1/db)" "$OUT"
AIRFLOW_CONN_WEB="http://u:$SECRET@example.org/" sqlt c4 '{"operator": "execute", "conn_id": "web", "sql": "SELECT 1"}'
check_contains "a connection that is not postgres: exit 100 naming its type" "100 connection 'web' has conn_type 'http'" "$RC $(grep -o "connection 'web' has conn_type 'http'" "$tmp/c4.out")"
pg_createdb gust_sql_task_meta >/dev/null
PGDATABASE=gust_sql_task_meta psql -X -q -v ON_ERROR_STOP=1 -f "$GUST_SRC/migrations/0005_connection.sql"
PGDATABASE=gust_sql_task_meta q "insert into connection (conn_id, conn_type, host, port, schema, login, password)
    values ('from_table', 'postgres', '127.0.0.1', $PGPORT, '$DB', '$PGUSER', '$SECRET')"
GUST_DATABASE_URL="dbname=gust_sql_task_meta" sqlt c5 '{"operator": "execute", "conn_id": "from_table", "sql": "SELECT count(*) FROM items"}'
check_eq "a connection from the metadata database's connection table" "0 [[3]]" "$RC $XCOM"
check_eq "the password appears in no output of any try" "" "$(grep -l -e "$SECRET" "$tmp"/*.out)"

# --- SQLCheckOperator
sqlt ck1 "{\"operator\": \"check\", $C, \"sql\": \"SELECT count(*), 'x', true FROM items\"}"
check_eq "check: every value truthy passes, per-check result in XCom" '0 {"result": [3, "x", true], "success": true}' "$RC $XCOM"
sqlt ck2 "{\"operator\": \"check\", $C, \"sql\": \"SELECT 1, 0, '', NULL\"}"
check_eq "check: a falsy value fails" 1 "$RC"
check_contains "check: the message names each falsy value" "column 2 is 0; column 3 is  (empty string); column 4 is None" "$OUT"
sqlt ck3 "{\"operator\": \"check\", $C, \"sql\": \"SELECT 1 FROM items WHERE false\"}"
check_contains "check: no row fails" "1 check failed: the query returned zero rows" "$RC $(grep -o 'check failed: the query returned zero rows' "$tmp/ck3.out")"
sqlt ck4 "{\"operator\": \"check\", $C, \"sql\": \"SELECT count(*) > %s FROM items\", \"parameters\": [1]}"
check_eq "check: with parameters" 0 "$RC"

# --- SQLValueCheckOperator
sqlt vc1 "{\"operator\": \"value_check\", $C, \"sql\": \"SELECT count(*) FROM items\", \"pass_value\": 3}"
check_eq "value_check: equal number passes" 0 "$RC"
sqlt vc2 "{\"operator\": \"value_check\", $C, \"sql\": \"SELECT count(*), sum(id) FROM items\", \"pass_value\": 4, \"tolerance\": 0.5}"
check_eq "value_check: within tolerance passes (3 and 6 within 4 +- 50%)" 0 "$RC"
sqlt vc3 "{\"operator\": \"value_check\", $C, \"sql\": \"SELECT count(*) FROM items\", \"pass_value\": \"10\", \"tolerance\": 0.1}"
check_eq "value_check: outside tolerance fails" 1 "$RC"
check_contains "value_check: the message gives the value and the pass value" "column 1 is 3.0, not 10.0 within a tolerance of 10%" "$OUT"
sqlt vc4 "{\"operator\": \"value_check\", $C, \"sql\": \"SELECT name FROM items WHERE id = 1\", \"pass_value\": \"a\"}"
check_eq "value_check: string comparison passes" 0 "$RC"
sqlt vc5 "{\"operator\": \"value_check\", $C, \"sql\": \"SELECT name FROM items WHERE id = 1\", \"pass_value\": 5}"
check_contains "value_check: a text result against a number fails converting it" "converting a result to float failed: column 1 is a (str)" "$OUT"

# --- SQLThresholdCheckOperator
sqlt th1 "{\"operator\": \"threshold_check\", $C, \"sql\": \"SELECT count(*) FROM items\", \"min_threshold\": 1, \"max_threshold\": \"5\"}"
check_eq "threshold_check: within numeric bounds, metadata in XCom" \
    '0 {"result": 3, "task_id": "t", "min_threshold": 1, "max_threshold": 5, "within_threshold": true}' "$RC $XCOM"
sqlt th2 "{\"operator\": \"threshold_check\", $C, \"sql\": \"SELECT count(*) FROM items\", \"min_threshold\": \"SELECT 1\", \"max_threshold\": \"SELECT min(id) + 1 FROM items\"}"
check_eq "threshold_check: above a SQL bound fails" 1 "$RC"
check_contains "threshold_check: the message gives result and bounds" 'Threshold Check: "t" failed: result 3 is not within thresholds 1 and 2' "$OUT"

# --- SQLColumnCheckOperator
COLS='{"id": {"null_check": {"equal_to": 0}, "distinct_check": {"geq_to": 3}, "unique_check": {"equal_to": 0}, "min": {"geq_to": 1}, "max": {"leq_to": 3}}, "price": {"max": {"less_than": 2.9, "tolerance": 0.1}}, "name": {"null_check": {"equal_to": 1}}}'
sqlt cc1 "{\"operator\": \"column_check\", $C, \"table\": \"items\", \"column_mapping\": $COLS}"
check_eq "column_check: every check passes (tolerance widens less_than)" 0 "$RC"
check_contains "column_check: per-check results in XCom" '"id": {"null_check": {"result": 0, "success": true, "equal_to": 0}' "$XCOM"
sqlt cc2 "{\"operator\": \"column_check\", $C, \"table\": \"items\", \"column_mapping\": {\"id\": {\"min\": {\"greater_than\": 5}, \"max\": {\"leq_to\": 3}}}}"
check_eq "column_check: a failing check fails the try" 1 "$RC"
check_contains "column_check: names the column, check, value and bound" "Column: id, Check: min, result: 1, bound: greater_than 5" "$OUT"
check_contains "column_check: failed and passed checks in XCom" '"min": {"result": 1, "success": false, "greater_than": 5}, "max": {"result": 3, "success": true' "$XCOM"
sqlt cc3 "{\"operator\": \"column_check\", $C, \"table\": \"items\", \"partition_clause\": \"id > 1\", \"column_mapping\": {\"id\": {\"min\": {\"equal_to\": 3, \"partition_clause\": \"qty = 0\"}, \"max\": {\"equal_to\": 3}}}}"
check_eq "column_check: global and per-check partition clauses" 0 "$RC"
q 'create table "Mixed Case" ("Odd Col" int)'
q 'insert into "Mixed Case" values (5)'
sqlt cc4 "{\"operator\": \"column_check\", $C, \"table\": \"\\\"Mixed Case\\\"\", \"column_mapping\": {\"\\\"Odd Col\\\"\": {\"max\": {\"equal_to\": 5}}}}"
check_eq "column_check: quoted names reach exact tables and columns" 0 "$RC"
sqlt cc5 "{\"operator\": \"column_check\", $C, \"table\": \"items\", \"column_mapping\": {\"id); DROP TABLE items; --\": {\"max\": {\"equal_to\": 5}}}}"
check_eq "column_check: a hostile column name is an identifier: SQL error, exit 1" 1 "$RC"
check_eq "column_check: the hostile name ran nothing" 3 "$(q "select count(*) from items")"
sqlt cc6 "{\"operator\": \"column_check\", \"conn_id\": \"pg_test\", \"task_id\": \"cc\", \"table\": \"items\", \"column_mapping\": {\"id\": {\"median\": {\"equal_to\": 5}}}}"
check_contains "column_check: an unknown check is exit 100 naming the key" "100 column_mapping.id: invalid column check 'median'" "$RC $(grep -o "column_mapping.id: invalid column check 'median'" "$tmp/cc6.out")"
sqlt cc7 "{\"operator\": \"column_check\", $C, \"table\": \"items\", \"column_mapping\": {\"id\": {\"min\": {\"greater_than\": 1, \"geq_to\": 1}}}}"
check_contains "column_check: contradictory bounds are exit 100" "100 column_mapping.id.min: only supply one of greater_than or geq_to" "$RC $(grep -o 'column_mapping.id.min: only supply one of greater_than or geq_to' "$tmp/cc7.out")"

# --- SQLTableCheckOperator
sqlt tc1 "{\"operator\": \"table_check\", $C, \"table\": \"items\", \"checks\": {\"row_count\": {\"check_statement\": \"COUNT(*) = 3\"}, \"positive\": {\"check_statement\": \"price > 0\"}, \"cheap\": {\"check_statement\": \"price < 1\", \"partition_clause\": \"id = 2\"}}}"
check_eq "table_check: every check passes" 0 "$RC"
check_contains "table_check: per-check results in XCom" '"row_count": {"check_statement": "COUNT(*) = 3", "result": 1, "success": true}' "$XCOM"
sqlt tc2 "{\"operator\": \"table_check\", $C, \"table\": \"items\", \"checks\": {\"row_count\": {\"check_statement\": \"COUNT(*) = 4\"}, \"positive\": {\"check_statement\": \"price > 0\"}}}"
check_eq "table_check: a failing check fails the try" 1 "$RC"
check_contains "table_check: names the check, its statement and result" "Check: row_count, check_statement: COUNT(*) = 4, result: 0" "$OUT"
sqlt tc3 "{\"operator\": \"table_check\", $C, \"table\": \"items\", \"partition_clause\": \"id > 100\", \"checks\": {\"c\": {\"check_statement\": \"price > 0\"}}}"
check_contains "table_check: no rows to check fails saying so" "result: None (no rows to check)" "$RC $OUT"

# --- BranchSQLOperator
export GUST_BRANCH_FILE=$tmp/branch.json
B='"follow_task_ids_if_true": ["yes_task"], "follow_task_ids_if_false": ["no_a", "no_b"]'
sqlt br1 "{\"operator\": \"branch\", $C, \"sql\": \"SELECT count(*) > 2 FROM items\", $B}"
check_eq "branch: true follows follow_task_ids_if_true" '0 ["yes_task"]' "$RC $(cat "$GUST_BRANCH_FILE")"
sqlt br2 "{\"operator\": \"branch\", $C, \"sql\": \"SELECT 0\", $B}"
check_eq "branch: int 0 follows follow_task_ids_if_false" '0 ["no_a", "no_b"]' "$RC $(cat "$GUST_BRANCH_FILE")"
sqlt br3 "{\"operator\": \"branch\", $C, \"sql\": \"SELECT 'Y'\", \"follow_task_ids_if_true\": \"one\", \"follow_task_ids_if_false\": []}"
check_eq "branch: a string 'Y' is true; a single id as a string" '0 ["one"]' "$RC $(cat "$GUST_BRANCH_FILE")"
rm -f "$GUST_BRANCH_FILE"
sqlt br4 "{\"operator\": \"branch\", $C, \"sql\": \"SELECT 'maybe'\", $B}"
check_eq "branch: a string that is not boolean-like fails, writing no branch file" "1 no file" "$RC $([ -e "$GUST_BRANCH_FILE" ] && echo file || echo no file)"
check_contains "branch: the message gives the value and its type" "unexpected query return result 'maybe' type 'str'" "$OUT"
sqlt br5 "{\"operator\": \"branch\", $C, \"sql\": \"SELECT 1 WHERE false\", $B}"
check_contains "branch: no row fails" "1 no rows returned" "$RC $(grep -o 'no rows returned' "$tmp/br5.out")"
sqlt br6 "{\"operator\": \"branch\", $C, \"sql\": \"SELECT 1.5\", $B}"
check_contains "branch: a decimal is not a branch value (the provider raises)" "type 'Decimal'" "$RC $OUT"
unset GUST_BRANCH_FILE

# --- SqlSensor
q "create sequence pokes"
sqlt se1 "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT nextval('pokes') >= 3\", \"poke_interval\": 0.1, \"timeout\": 30}"
check_eq "sensor: succeeds on the poke whose first cell is truthy" 0 "$RC"
check_contains "sensor: it took three pokes" "poke 3: first cell t: criteria met" "$OUT"
sqlt se2 "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT 0\", \"poke_interval\": 0.2, \"timeout\": 0.5}"
check_eq "sensor: a timeout fails the try for good (100: not retried)" 100 "$RC"
check_contains "sensor: says it timed out" "sensor has timed out" "$OUT"
sqlt se3 "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT ''\", \"poke_interval\": 0.2, \"timeout\": 0.5, \"soft_fail\": true}"
check_eq "sensor: a timeout with soft_fail is skipped (99)" 99 "$RC"
sqlt se5 "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT 0\", \"mode\": \"reschedule\", \"poke_count\": 2}"
check_eq "sensor: reschedule mode pokes once and exits 98 (not yet)" "98 1" "$RC $(grep -c 'poke 3: first cell 0: not yet' "$tmp/se5.out")"
sqlt se6 "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT 0\", \"mode\": \"reschedule\", \"timeout\": 60, \"first_poke\": $(($(date +%s) - 120))}"
check_eq "sensor: reschedule mode past first_poke + timeout exits 100, not 98" 100 "$RC"
sqlt se4 "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT 1 WHERE false\", \"poke_interval\": 0.1, \"fail_on_empty\": true}"
check_contains "sensor: fail_on_empty fails on no rows" "1 no rows returned, raising as per fail_on_empty" "$RC $(grep -o 'no rows returned, raising as per fail_on_empty' "$tmp/se4.out")"

printf '%s\n' "{\"operator\": \"sensor\", $C, \"sql\": \"SELECT 0\", \"poke_interval\": 30}" >"$tmp/sterm.json"
"$SQLT" --spec "$tmp/sterm.json" >"$tmp/sterm.out" 2>&1 &
pid=$!
gust_kill_at_exit $pid
wait_for 10 grep -q "poke 1:" "$tmp/sterm.out"
start=$SECONDS
kill -TERM $pid
wait $pid
check_eq "sensor: SIGTERM ends the wait between pokes at once (exit 1)" "1 0" "$? $(((SECONDS - start) / 5))"

# --- the command line and the spec file
"$SQLT" --help >"$tmp/help.out" 2>&1
check_contains "--help prints the usage" "0 usage: sql_task --spec FILE" "$? $(head -1 "$tmp/help.out")"
"$SQLT" >"$tmp/nospec.out" 2>&1
check_eq "no --spec: exit 100" 100 $?
printf '{"operator": "execute",' >"$tmp/bad.json"
"$SQLT" --spec "$tmp/bad.json" >"$tmp/bad.out" 2>&1
check_contains "a malformed spec: exit 100 with file:line:col" "100 error: $tmp/bad.json:1:23:" "$? $(grep -o 'error: .*' "$tmp/bad.out")"

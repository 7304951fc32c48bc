#!/usr/bin/env bash
# The drug registry pipeline end to end, as a user runs it: `gust dags trigger dvc_flow
# --local` against the fixture portal, the Kafka-protocol mock broker and a real PostgreSQL.
# crawl -> Kafka all_data -> loader -> staging -> pharmaceutical_upsert_dag -> one main row per
# soDangKy with every column equal to the source, staging empty, watermark set; then an
# incremental run after changes.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 13
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_dvc_flow
export GUST_DAGS_FOLDER=$GUST_SRC/dags GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
q() { psql -X -q -At -c "$1"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }

dvc_portal_start --records 3000 --seed 7 || exit 1
kafka_start -t all_data:8 || exit 1

"$GUST" dags trigger dvc_flow --local -r flow1 >"$GUST_TEST_TMP/flow1.out" 2>&1
rc=$?
check_eq "dvc_flow runs end to end (exit 0)" 0 "$rc"
[ "$rc" = 0 ] || tail -30 "$GUST_TEST_TMP/flow1.out"
check_eq "the upsert DAG it triggered succeeded" 1 \
    "$(q "select count(*) from dag_run where dag_id = 'pharmaceutical_upsert_dag' and state = 'success'")"
check_eq "through the staging table's asset (an asset-triggered run)" asset_triggered \
    "$(q "select string_agg(run_type, ' ') from dag_run where dag_id = 'pharmaceutical_upsert_dag'")"
check_eq "one main row per soDangKy" 3000 "$(q "select count(*) from pharmaceutical_data")"
check_eq "staging is empty" 0 "$(q "select count(*) from pharmaceutical_data_staging")"
check_eq "no dead letters" 0 "$(q "select count(*) from pharmaceutical_dead_letters")"
check "the watermark is set" test -n "$(q "select last_crawl_time from crawl_state where job_name = 'dvc_flow'")"

# every column equals the source (the fixture's dataset, flattened as the original did)
dvc_control '{"op": "dataset"}' >"$GUST_TEST_TMP/dataset.json"
psql -X -q -At -c "copy (select row_to_json(p) from pharmaceutical_data p) to stdout" >"$GUST_TEST_TMP/rows.json"
mismatch=$(/usr/bin/python3 "$GUST_SRC/tests/integration/dvc_compare.py" "$GUST_TEST_TMP/dataset.json" "$GUST_TEST_TMP/rows.json")
check_eq "every column of every row equals the source" "" "$mismatch"

# an incremental run after 40 changes and 15 additions
dvc_control '{"op": "change", "change": 40, "add": 15}' >/dev/null
"$GUST" dags trigger dvc_flow --local -r flow2 >"$GUST_TEST_TMP/flow2.out" 2>&1
check_eq "the incremental run succeeds" 0 $?
check_eq "the new records are in" 3015 "$(q "select count(*) from pharmaceutical_data")"
dvc_control '{"op": "dataset"}' >"$GUST_TEST_TMP/dataset.json"
psql -X -q -At -c "copy (select row_to_json(p) from pharmaceutical_data p) to stdout" >"$GUST_TEST_TMP/rows.json"
mismatch=$(/usr/bin/python3 "$GUST_SRC/tests/integration/dvc_compare.py" "$GUST_TEST_TMP/dataset.json" "$GUST_TEST_TMP/rows.json")
check_eq "the changes show in the main table" "" "$mismatch"
sent=$(q "select value->>'records_sent' from xcom where run_id = 'flow2' and task_id = 'extract_data_from_DVC'")
check "the incremental crawl sent only the changes and the overlap window, not everything" test "${sent:-99999}" -lt 3000
echo "# incremental run sent $sent records"

#!/usr/bin/env bash
# The github_events warehouse end to end: migrations 0006 and 0007 on a real PostgreSQL, bronze
# rows stored the way the bronze loader stores them (a temp table github_events_batch moved by
# bronze.ingest_batch()), then dags/github_events_pipeline.yaml and the maintenance DAGs
# of dags/github_events_maintenance.yaml run with `gust dags trigger --local` and the real
# sql_task over an AIRFLOW_CONN_ connection. Checks: silver has one parsed row per event_id,
# gold holds the numbers worked out by hand below, a rerun changes nothing, new bronze rows
# are picked up incrementally (a late event corrects its day), a silver row that is not in
# bronze fails the quality check and the run with the finding in the log, partitions are
# created ahead, closed ones compacted once, retention drops only what is past the age (and
# never rows silver has not read), and every maintenance DAG runs twice.
#
# The DAGs run from a copy of their files whose retry_delay is 1 s instead of 300/600 s, so
# that a failing check's three retries take seconds; nothing else differs (checked).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 60
if [ ! -x "$(gust_bin sql_task)" ]; then
    echo "not ok - bin/sql_task is built (make)"
    exit 1
fi
gust_tmpdir tmp
pg_gust_db gust_gh_meta
WH=gust_gh_wh
pg_createdb "$WH" >/dev/null || { echo "not ok - create the warehouse database"; exit 1; }
check "gust db migrate on the warehouse database" env PGDATABASE="$WH" "$GUST" db migrate
export AIRFLOW_CONN_GITHUB_EVENTS_DB="postgresql://$PGUSER@127.0.0.1:$PGPORT/$WH"
export GUST_LOGS_FOLDER=$tmp/logs
unset GUST_EVENTS_SPILL_DIR

check "the shipped DAG folder loads without import errors" \
    "$GUST" dags list-import-errors -S "$GUST_SRC/dags"
mkdir -p "$tmp/dags/sql"
cp -r "$GUST_SRC/dags/sql/github_events" "$tmp/dags/sql/"
for f in github_events_pipeline github_events_maintenance; do
    sed -E 's/^(    retry_delay:) [0-9]+$/\1 1/' "$GUST_SRC/dags/$f.yaml" >"$tmp/dags/$f.yaml"
done
changed() { diff "$GUST_SRC/dags/$1.yaml" "$tmp/dags/$1.yaml" | grep '^[<>]' | grep -c "$2"; }
check_eq "the copies differ from dags/ in retry_delay only (2 lines each)" "2 2 2 2" \
    "$(changed github_events_pipeline .) $(changed github_events_pipeline retry_delay)\
 $(changed github_events_maintenance .) $(changed github_events_maintenance retry_delay)"
export GUST_DAGS_FOLDER=$tmp/dags

wh() { psql -X -q -At -d "$WH" -v ON_ERROR_STOP=1 -c "$1"; }
meta() { psql -X -q -At -c "$1"; }
run() { # run DAG RUN_ID [CONF]: trigger locally, print the run's state
    "$GUST" dags trigger "$1" --local -r "$2" ${3:+-c "$3"} >"$tmp/$1.$2.out" 2>&1
    "$GUST" dags state "$1" "$2" | cut -d, -f1
}
state_of() { "$GUST" tasks state "$1" "$2" "$3" 2>/dev/null; }
xcom() { meta "select value::text from xcom where dag_id = '$1' and run_id = '$2'
    and task_id = '$3' and key = 'return_value'"; }
# A snapshot of silver, gold and the watermarks, to compare before and after a run.
snapshot() {
    wh "select md5(string_agg(t, '|' order by t)) from (
        select s::text t from silver.github_events_parsed s union all
        select w::text from silver.watermarks w union all
        select h::text from gold.hourly_events_by_type h union all
        select r::text from gold.daily_repo_activity r union all
        select a::text from gold.daily_actor_activity a union all
        select p::text from gold.daily_pr_merge_stats p) x"
}

# ingest TUPLE...: one loader batch, as the bronze loader stores it (one transaction).
# A tuple: (seq, event_id, id, type, actor_id, actor_login, repo_id, repo_name, payload,
# created_at, source_offset).
ingest() {
    local vals
    vals=$(IFS=,; echo "$*")
    OFFSET=$((${OFFSET:-0} + 100))
    psql -X -q -At -d "$WH" -v ON_ERROR_STOP=1 -1 >/dev/null <<EOF
CREATE TEMP TABLE github_events_batch (seq int, event_id uuid, id text, type text,
    actor_id bigint, actor_login text, actor_gravatar_id text, actor_url text,
    actor_avatar_url text, repo_id bigint, repo_name text, repo_url text, payload jsonb,
    public boolean, created_at timestamptz, source_topic text, source_partition int,
    source_offset bigint, record_index int) ON COMMIT DROP;
INSERT INTO github_events_batch (seq, event_id, id, type, actor_id, actor_login, repo_id,
    repo_name, payload, created_at, public, source_topic, source_partition, source_offset,
    record_index)
SELECT seq, event_id, id, type, actor_id, actor_login, repo_id, repo_name, payload::jsonb,
       created_at::timestamptz, true, 'github_events', 0, $OFFSET, seq - 1
  FROM (VALUES $vals) AS v (seq, event_id, id, type, actor_id, actor_login, repo_id,
                            repo_name, payload, created_at);
SELECT bronze.ingest_batch();
EOF
}
u() { printf "'00000000-0000-4000-8000-%012d'::uuid" "$1"; } # the test's event ids

PUSH1='{"push_id": 1, "size": 3, "distinct_size": 2, "ref": "refs/heads/main", "head": "a1b2c3", "before": "000111", "commits": [{"sha": "a1"}, {"sha": "b2"}, {"sha": "a1b2c3"}]}'
PR_OPEN='{"action": "opened", "number": 7, "pull_request": {"id": 9001, "number": 7, "state": "open", "title": "Add retries", "merged": false, "created_at": "2026-12-01T11:00:00Z", "merged_at": null}}'
PR_MERGE1='{"action": "closed", "number": 7, "pull_request": {"id": 9001, "number": 7, "state": "closed", "title": "Add retries", "merged": true, "created_at": "2026-12-01T11:00:00Z", "merged_at": "2026-12-01T13:00:00Z"}}'
PR_MERGE2='{"action": "closed", "number": 3, "pull_request": {"id": 9002, "number": 3, "state": "closed", "title": "Docs", "merged": true, "created_at": "2026-11-30T15:30:00Z", "merged_at": "2026-12-01T15:30:00Z"}}'
PR_MERGE3='{"action": "closed", "number": 4, "pull_request": {"id": 9003, "number": 4, "state": "closed", "title": "CI", "merged": true, "created_at": "2026-12-01T12:00:00Z", "merged_at": "2026-12-01T16:00:00Z"}}'
PR_CLOSE='{"action": "closed", "number": 5, "pull_request": {"id": 9004, "number": 5, "state": "closed", "title": "Nope", "merged": false, "created_at": "2026-11-29T10:00:00Z", "merged_at": null}}'
ISSUE='{"action": "opened", "issue": {"id": 501, "number": 12, "title": "Crash on start", "state": "open"}}'

# --- batch 1 and 2: 13 bronze rows, 11 events (e1 twice in one batch, e4 again later)
ingest "(1, $(u 1), '101', 'PushEvent', 1, 'ada', 10, 'acme/api', '$PUSH1', '2026-12-01T10:05:00Z')" \
    "(2, $(u 2), '102', 'PushEvent', 2, 'bob', 10, 'acme/api', '{\"size\": 1, \"distinct_size\": 1, \"ref\": \"refs/heads/dev\", \"head\": \"d4\"}', '2026-12-01T10:40:00Z')" \
    "(3, $(u 3), '103', 'PullRequestEvent', 2, 'bob', 10, 'acme/api', '$PR_OPEN', '2026-12-01T11:00:00Z')" \
    "(4, $(u 4), '104', 'PullRequestEvent', 1, 'ada', 10, 'acme/api', '$PR_MERGE1', '2026-12-01T13:00:00Z')" \
    "(5, $(u 5), '105', 'PullRequestEvent', 3, 'cyd', 20, 'acme/web', '$PR_MERGE2', '2026-12-01T15:30:00Z')" \
    "(6, $(u 6), '106', 'PullRequestEvent', 3, 'cyd', 20, 'acme/web', '$PR_MERGE3', '2026-12-01T16:00:00Z')" \
    "(7, $(u 7), '107', 'IssuesEvent', 1, 'ada', 20, 'acme/web', '$ISSUE', '2026-11-30T09:00:00Z')" \
    "(8, $(u 8), '108', 'CreateEvent', 3, 'cyd', 20, 'acme/web', '{\"ref\": \"v1.0\", \"ref_type\": \"tag\"}', '2026-11-30T09:30:00Z')" \
    "(9, $(u 9), '109', 'PullRequestEvent', 2, 'bob', 20, 'acme/web', '$PR_CLOSE', '2026-11-30T20:00:00Z')" \
    "(10, $(u 1), '101', 'PushEvent', 1, 'ada', 10, 'acme/api', '$PUSH1', '2026-12-01T10:05:00Z')" \
    "(11, $(u 10), '110', 'WatchEvent', 4, 'dan', 10, 'acme/api', NULL, '2026-12-01T10:50:00Z')" \
    "(12, $(u 11), '111', 'PushEvent', 4, 'dan', 10, 'acme/api', '{\"size\": \"three\", \"head\": 42}', '2026-11-30T08:00:00Z')"
ingest "(1, $(u 4), '104', 'PullRequestEvent', 1, 'ada', 10, 'acme/api', '$PR_MERGE1', '2026-12-01T13:00:00Z')"
check_eq "bronze holds 13 rows, duplicates included" 13 "$(wh "select count(*) from bronze.github_events")"

# --- run 1
check_eq "the pipeline run succeeds" success "$(run github_events_pipeline p1)"
check_eq "silver: one row per event_id" "11|11" \
    "$(wh "select count(*), count(distinct event_id) from silver.github_events_parsed")"
check_eq "a duplicate keeps its first bronze copy" \
    "$(wh "select min(ingestion_seq) from bronze.github_events where event_id = $(u 1)")" \
    "$(wh "select ingestion_seq from silver.github_events_parsed where event_id = $(u 1)")"
check_eq "a push is parsed" "PushEvent|refs/heads/main|3|2|a1b2c3|ada|acme/api" \
    "$(wh "select type, ref, size, distinct_size, head, actor_login, repo_name
           from silver.github_events_parsed where event_id = $(u 1)")"
check_eq "a merge is parsed" "closed|9001|7|closed|Add retries|t|2026-12-01 11:00:00|2026-12-01 13:00:00" \
    "$(wh "select action, pr_id, pr_number, pr_state, pr_title, pr_merged,
           pr_created_at at time zone 'UTC', pr_merged_at at time zone 'UTC'
           from silver.github_events_parsed where event_id = $(u 4)")"
check_eq "an issue is parsed" "opened|12|Crash on start|open" \
    "$(wh "select action, issue_number, issue_title, issue_state
           from silver.github_events_parsed where event_id = $(u 7)")"
check_eq "a create event keeps ref and ref_type" "v1.0|tag" \
    "$(wh "select ref, ref_type from silver.github_events_parsed where event_id = $(u 8)")"
check_eq "payload values of the wrong type are NULL, no payload is NULLs" "||t|t" \
    "$(wh "select size, head, (select action is null and ref is null from silver.github_events_parsed
           where event_id = $(u 10)), processed_at is not null
           from silver.github_events_parsed where event_id = $(u 11)")"
check_eq "the watermarks: bronze's last seq, and silver's (the last copy was a duplicate)" "gold|12 silver|13" \
    "$(wh "select layer || '|' || last_seq from silver.watermarks order by layer" | tr '\n' ' ' | sed 's/ $//')"
check_contains "the transform's XCom: rows read, inserted, watermark" "[[13, 11, 13]]" \
    "$(xcom github_events_pipeline p1 transform_bronze_to_silver)"
check_eq "the silver models are views" "issue_events pull_request_events pull_requests push_events" \
    "$(wh "select string_agg(viewname, ' ' order by viewname) from pg_views where schemaname = 'silver'")"
check_eq "silver.pull_requests: the latest state of each" "7|true 3|true 4|true 5|false" \
    "$(wh "select pr_number || '|' || pr_merged from silver.pull_requests order by repo_id, pr_number" |
        tr '\n' ' ' | sed 's/ $//')"
# gold, worked out by hand from the events above
check_eq "gold hourly: 2 pushes and a watch at 10:00 on Dec 1, 11 events in all" "2 1 11" \
    "$(wh "select (select events from gold.hourly_events_by_type where hour = '2026-12-01 10:00+00'
           and type = 'PushEvent'), (select events from gold.hourly_events_by_type
           where hour = '2026-12-01 10:00+00' and type = 'WatchEvent'),
           (select sum(events) from gold.hourly_events_by_type)" | tr '|' ' ')"
check_eq "gold repo activity: acme/api on Dec 1" "acme/api|5|2|4|1|1|0" \
    "$(wh "select repo_name, events, pushes, commits, prs_opened, prs_merged, issues_opened
           from gold.daily_repo_activity where day = '2026-12-01' and repo_id = 10")"
check_eq "gold repo activity: acme/web on Nov 30, and a push with an unreadable size" \
    "3/0/1/0 1/1/0" \
    "$(wh "select (select events || '/' || prs_merged || '/' || issues_opened || '/' || pushes
           from gold.daily_repo_activity where day = '2026-11-30' and repo_id = 20) || ' ' ||
           (select events || '/' || pushes || '/' || commits from gold.daily_repo_activity
           where day = '2026-11-30' and repo_id = 10)")"
check_eq "gold actor activity: ada on Dec 1" "ada|2|1|3|0|1|2" \
    "$(wh "select actor_login, events, pushes, commits, prs_opened, prs_merged, repos + 1
           from gold.daily_actor_activity where day = '2026-12-01' and actor_id = 1")"
check_eq "gold PR stats: Dec 1 (merges of 2 h, 24 h, 4 h) and Nov 30" \
    "1|3|3|10.00|4.00 0|0|0||" \
    "$(wh "select prs_opened || '|' || prs_merged || '|' || merges_timed || '|' ||
           coalesce(avg_hours_to_merge::text, '') || '|' || coalesce(median_hours_to_merge::text, '')
           from gold.daily_pr_merge_stats order by day desc" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the quality checks passed" "success success success success" \
    "$(for t in silver_keys silver_rows silver_in_bronze gold_reconciles; do
        state_of github_events_pipeline "dbt_test_data_quality.$t" p1
    done | tr '\n' ' ' | sed 's/ $//')"

# --- run 2: nothing new in bronze, nothing changes
before=$(snapshot)
check_eq "a rerun with no new bronze rows succeeds" success "$(run github_events_pipeline p2)"
check_eq "and changes nothing in silver, gold or the watermarks" "$before" "$(snapshot)"
check_contains "it read no bronze row" "[[0, 0, 13]]" "$(xcom github_events_pipeline p2 transform_bronze_to_silver)"

# --- run 3: new rows, a late push for Dec 1 10:00 and a redelivered e2
first_processed=$(wh "select max(processed_at) from silver.github_events_parsed")
ingest "(1, $(u 12), '112', 'PushEvent', 2, 'bob', 10, 'acme/api', '{\"size\": 5, \"distinct_size\": 5, \"ref\": \"refs/heads/main\", \"head\": \"e5\"}', '2026-12-01T10:30:00Z')" \
    "(2, $(u 2), '102', 'PushEvent', 2, 'bob', 10, 'acme/api', '{\"size\": 1, \"distinct_size\": 1}', '2026-12-01T10:40:00Z')" \
    "(3, $(u 13), '113', 'IssuesEvent', 3, 'cyd', 10, 'acme/api-renamed', '$ISSUE', '2026-12-02T00:10:00Z')"
check_eq "the next run succeeds" success "$(run github_events_pipeline p3)"
check_contains "it read the 3 new bronze rows and inserted 2" "[[3, 2, 16]]" \
    "$(xcom github_events_pipeline p3 transform_bronze_to_silver)"
check_eq "the rows of run 1 were not touched" 11 \
    "$(wh "select count(*) from silver.github_events_parsed where processed_at <= '$first_processed'")"
check_eq "the late push corrected its hour and day" "3|3|9" \
    "$(wh "select (select events from gold.hourly_events_by_type where hour = '2026-12-01 10:00+00'
           and type = 'PushEvent'), pushes, commits from gold.daily_repo_activity
           where day = '2026-12-01' and repo_id = 10")"
check_eq "a new day appeared, under the repository's new name" "acme/api-renamed|1|1" \
    "$(wh "select repo_name, events, issues_opened from gold.daily_repo_activity where day = '2026-12-02'")"
check_eq "gold's days were recomputed, the untouched one kept" "2" \
    "$(xcom github_events_pipeline p3 dbt_run_gold_models | sed -E 's/^\[\[([0-9]+),.*/\1/')"

# --- a broken silver row: an event that is not in bronze (it borrows the seq of e1's
# duplicate copy, which silver skipped)
dup_seq=$(wh "select max(ingestion_seq) from bronze.github_events where event_id = $(u 1)")
wh "insert into silver.github_events_parsed (event_id, id, type, ingestion_date, ingestion_seq, ingested_at)
    values ($(u 999), '999', 'PushEvent', (now() at time zone 'UTC')::date, $dup_seq, now())"
check_eq "with a silver row not in bronze the run fails" failed "$(run github_events_pipeline p4)"
check_eq "silver_in_bronze failed after its 3 retries" "failed 4" \
    "$(state_of github_events_pipeline dbt_test_data_quality.silver_in_bronze p4) $(meta "select try_number
       from task_instance where run_id = 'p4' and task_id = 'dbt_test_data_quality.silver_in_bronze'")"
check_eq "the other checks passed" "success success success" \
    "$(for t in silver_keys silver_rows gold_reconciles; do
        state_of github_events_pipeline "dbt_test_data_quality.$t" p4
    done | tr '\n' ' ' | sed 's/ $//')"
log=$("$GUST" tasks logs github_events_pipeline dbt_test_data_quality.silver_in_bronze p4 2>&1)
check_contains "the log says what was wrong and names the event" \
    "silver events not in bronze: 1 (e.g. 00000000-0000-4000-8000-000000000999)" "$log"
check_contains "the log says the check failed" "check failed: column 2 is False" "$log"
wh "delete from silver.github_events_parsed where event_id = $(u 999)"
check_eq "once the row is gone the next run succeeds" success "$(run github_events_pipeline p5)"

# --- maintenance: old partitions with rows (bronze days 40, 35 and 5 ago), read by silver
day() { wh "select to_char((now() at time zone 'UTC')::date + $1, 'YYYYMMDD')"; }
old_rows() { # old_rows DAYS_AGO N: N events ingested that day (as a loader would have then)
    wh "select bronze.ensure_partition((now() at time zone 'UTC')::date - $1);
        insert into bronze.github_events (ingestion_date, ingested_at, ingestion_seq, event_id, id,
            type, actor_id, repo_id, created_at, source_topic, source_partition, source_offset,
            record_index)
        select (now() at time zone 'UTC')::date - $1, now() - interval '$1 days',
            nextval('bronze.github_events_seq'), gen_random_uuid(), 'old' || g, 'WatchEvent', 5,
            30, now() - interval '$1 days', 'github_events', 1, g, 0
        from generate_series(1, $2) g" >/dev/null
}
old_rows 40 3
old_rows 35 2
old_rows 5 4
check_eq "the pipeline reads the old rows too" success "$(run github_events_pipeline p6)"
old_rows 45 1 # ingested after the last run: not in silver yet
D40=bronze.github_events_$(day -40) D35=bronze.github_events_$(day -35)
D45=bronze.github_events_$(day -45) D5=bronze.github_events_$(day -5)

check_eq "maintenance_bronze_by_day succeeds" success "$(run maintenance_bronze_by_day b1)"
check "it created the partitions up to 3 days ahead" \
    test -n "$(wh "select to_regclass('bronze.github_events_$(day 3)')")"
check_contains "its XCom names the partitions it created" "bronze.github_events_$(day 3)" \
    "$(xcom maintenance_bronze_by_day b1 create_partitions_ahead)"
check_eq "it compacted the closed partitions, not today's" "$D45 $D40 $D35 $D5" \
    "$(wh "select string_agg(partition_name, ' ' order by partition_name)
           from maintenance.compacted_partitions")"
check_eq "a compacted partition was clustered on its ingestion_seq index" "t" \
    "$(wh "select bool_and(x.indisclustered) from pg_index x join pg_class c on c.oid = x.indexrelid
           where x.indrelid = '$D5'::regclass and c.relname like '%ingestion_seq%'")"
check_eq "maintenance_bronze_by_day runs again" success "$(run maintenance_bronze_by_day b2)"
check_eq "and compacts nothing twice" "[]" "$(xcom maintenance_bronze_by_day b2 compact_closed_partitions)"

mkdir -p "$tmp/spill" "$tmp/stub"
touch -d '30 days ago' "$tmp/spill/batch-0001.avro.tmp"
if [ -x "$(gust_bin event_collector)" ]; then
    stub=
else # the collector is not built on this branch: a stand-in that records its arguments
    stub=$tmp/stub/event_collector
    printf '#!/bin/sh\nprintf "%%s\\n" "$*" >"%s/collector.args"\n' "$tmp" >"$stub"
    chmod +x "$stub"
fi
check_eq "maintenance_bronze_by_week succeeds (retention_days 30)" success \
    "$(GUST_EVENTS_SPILL_DIR=$tmp/spill PATH=$tmp/stub:$PATH run maintenance_bronze_by_week w1 '{"retention_days": 30}')"
check_eq "retention dropped the partitions past 30 days, and only those" \
    "[[\"$D45\", \"kept: 1 rows not in silver yet\"], [\"$D40\", \"dropped\"], [\"$D35\", \"dropped\"]]" \
    "$(xcom maintenance_bronze_by_week w1 drop_expired_partitions)"
check_eq "the partition with rows silver has not read is kept" "t t" \
    "$(wh "select to_regclass('$D45') is not null, to_regclass('$D5') is not null" | tr '|' ' ')"
check_contains "and the log says why" "kept: 1 rows not in silver yet" \
    "$("$GUST" tasks logs maintenance_bronze_by_week drop_expired_partitions w1 2>&1)"
check_eq "the dropped ones are gone, with their rows" "0 0" \
    "$(wh "select count(*) filter (where ingestion_date < (now() at time zone 'UTC')::date - 30
             and ingestion_date > (now() at time zone 'UTC')::date - 44),
           (select count(*) from maintenance.compacted_partitions where partition_name in ('$D40', '$D35'))
           from bronze.github_events" | tr '|' ' ')"
check_eq "VACUUM ran (autocommit)" success "$(state_of maintenance_bronze_by_week vacuum_bronze w1)"
if [ -n "$stub" ]; then
    check_eq "the orphan spill files task ran event_collector --remove-orphans" \
        "--remove-orphans --spill-dir $tmp/spill" "$(cat "$tmp/collector.args" 2>/dev/null)"
else
    check "the orphan spill file is gone" test ! -e "$tmp/spill/batch-0001.avro.tmp"
fi
check_eq "without a spill folder that task is skipped and the run succeeds" "success skipped" \
    "$(run maintenance_bronze_by_week w2) $(state_of maintenance_bronze_by_week remove_orphan_spill_files w2)"
check_eq "the pipeline still passes its checks after retention" success "$(run github_events_pipeline p7)"

for d in maintenance_silver_by_day maintenance_silver_by_week; do
    check_eq "$d succeeds twice" "success success" "$(run $d s1) $(run $d s2)"
done
check "VACUUM reached gold" test -n "$(wh "select last_vacuum from pg_stat_user_tables
    where schemaname = 'gold' and relname = 'daily_pr_merge_stats'")"
check_eq "silver was clustered on created_at" t \
    "$(wh "select indisclustered from pg_index where indexrelid = 'silver.github_events_parsed_created_idx'::regclass")"
check_eq "and the pipeline's numbers did not move" success "$(run github_events_pipeline p8)"

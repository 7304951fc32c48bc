#!/usr/bin/env bash
# make run / make stop: gust and its pipelines end to end on this machine.
#
#   scripts/run.sh        start (or reuse) a private PostgreSQL cluster and, unless
#                         KAFKA_BOOTSTRAP_SERVERS is set, a local Kafka-protocol broker; migrate;
#                         run the demo DAG, dvc_flow (with its upsert), user_automation (a short
#                         stream), wiki_data_dag and github_events (the collector fed by the
#                         load generator, the bronze loader, github_events_pipeline and a
#                         maintenance DAG) and product_view (the event generator, the star
#                         schema DAG, the six reports); print what landed.
#   LIVE=1 scripts/run.sh the same against the real source APIs (needs the internet); without
#                         it the sources are the fixture servers in tests/fixtures/, which answer
#                         like the real APIs with generated data
#   scripts/run.sh stop   stop the cluster and the broker (data stays in state/; the local
#                         broker keeps messages in memory only)
#
# The cluster lives in state/pg (GUST_STATE_DIR overrides state/), listens only on a Unix
# socket there, and runs as the invoking user, or as `postgres` when invoked as root
# (PostgreSQL refuses to run as root). If that user cannot reach state/ (a checkout under
# /root, say) the cluster goes to /var/tmp/gust-<hash of the checkout path> instead.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
GUST="$top/bin/gust"
state=${GUST_STATE_DIR:-$top/state}

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4nr); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    dirname "$(command -v initdb)"
}

pick_pgdir() {
    mkdir -p "$state"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        mkdir -p "$state/pg"
        chown postgres: "$state/pg"
        if ! runuser -u postgres -- test -w "$state/pg"; then
            local alt
            alt=/var/tmp/gust-$(printf '%s' "$top" | sha1sum | cut -c1-12)
            mkdir -p "$alt"
            chown postgres: "$alt"
            echo "$alt"
            return
        fi
    fi
    mkdir -p "$state/pg"
    echo "$state/pg"
}

pgdir=$(pick_pgdir)
bindir=$(pg_bindir)
export PGHOST=$pgdir PGPORT=5432 PGDATABASE=gust
export PGUSER=$([ "$(id -u)" -eq 0 ] && echo postgres || id -un)
unset GUST_DATABASE_URL

broker_pidfile=$state/kafka_mock.pid
broker_running() { [ -f "$broker_pidfile" ] && kill -0 "$(cat "$broker_pidfile")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
    if [ -f "$pgdir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null
        echo "stopped PostgreSQL in $pgdir"
    else
        echo "PostgreSQL was not running"
    fi
    if broker_running; then
        kill "$(cat "$broker_pidfile")"
        echo "stopped the local Kafka-protocol broker"
    fi
    rm -f "$broker_pidfile" "$state/kafka_mock.addr"
    exit 0
fi

if [ ! -f "$pgdir/data/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in $pgdir"
    as_owner "$bindir/initdb" -D "$pgdir/data" -U "$PGUSER" -A trust -E UTF8 --locale=C.UTF-8 \
        </dev/null >"$pgdir/initdb.log" 2>&1 || { cat "$pgdir/initdb.log"; exit 1; }
fi
if ! as_owner "$bindir/pg_ctl" -D "$pgdir/data" status >/dev/null 2>&1; then
    say "starting PostgreSQL (socket in $pgdir, no TCP)"
    as_owner "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
        -o "-k $pgdir -c listen_addresses=''" start </dev/null >/dev/null ||
        { tail -20 "$pgdir/server.log"; exit 1; }
fi
psql -X -q -d postgres -At -c "select 1 from pg_database where datname = 'gust'" | grep -q 1 ||
    createdb gust

say "gust db migrate"
"$GUST" db migrate
say "gust dags reserialize"
"$GUST" dags reserialize
say "gust dags list"
"$GUST" dags list
say "gust dags list-import-errors"
"$GUST" dags list-import-errors || true
for d in $("$GUST" dags list -o json | /usr/bin/python3 -c \
    'import json,sys; print(" ".join(d["dag_id"] for d in json.load(sys.stdin)))'); do
    say "gust dags next-execution $d -n 3"
    "$GUST" dags next-execution "$d" -n 3
done
say "gust dags show dvc_flow"
"$GUST" dags show dvc_flow
say "gust dags trigger gust_demo --local (a demo run: XCom, templates, a retry)"
export GUST_LOGS_FOLDER=${GUST_LOGS_FOLDER:-$state/logs}
demo_out=$("$GUST" dags trigger gust_demo --local | tee /dev/stderr)
run_id=$(printf '%s\n' "$demo_out" | head -1)
say "gust tasks states-for-dag-run gust_demo $run_id --tries"
"$GUST" tasks states-for-dag-run gust_demo "$run_id" --tries

# ---- Kafka: the given cluster, or a local Kafka-protocol broker (librdkafka's mock cluster)
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    if ! broker_running; then
        say "starting a local Kafka-protocol broker (build/tools/kafka_mock)"
        nohup "$top/build/tools/kafka_mock" -t all_data:8 -t users_created:4 -t recent_changes:4 -t raw_metrics_avro:4 -t product_view:4 \
            >"$state/kafka_mock.addr" 2>"$state/kafka_mock.log" </dev/null &
        echo $! >"$broker_pidfile"
        for _ in $(seq 1 100); do [ -s "$state/kafka_mock.addr" ] && break; sleep 0.1; done
        # A new local broker starts empty: offsets stored for the last one no longer apply.
        psql -X -q -c "delete from stream_offsets" >/dev/null
    fi
    KAFKA_BOOTSTRAP_SERVERS=$(head -1 "$state/kafka_mock.addr")
fi
export KAFKA_BOOTSTRAP_SERVERS
echo "Kafka: $KAFKA_BOOTSTRAP_SERVERS"

# ---- the sources: fixtures unless LIVE=1
fixture_pids=()
stop_fixtures() { for p in "${fixture_pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap stop_fixtures EXIT
start_fixture() { # VAR script args...: start a fixture server, export VAR=its URL
    local var=$1 script=$2 out
    shift 2
    out=$(mktemp)
    python3 "$top/tests/fixtures/$script" "$@" >"$out" 2>>"$state/fixtures.log" </dev/null &
    fixture_pids+=($!)
    for _ in $(seq 1 100); do grep -q '^http' "$out" && break; sleep 0.1; done
    printf -v "$var" '%s' "$(head -1 "$out")"
    export "${var?}"
    rm -f "$out"
}
if [ -n "${LIVE:-}" ]; then
    say "LIVE=1: crawling the real APIs (dichvucong.dav.gov.vn, randomuser.me, en.wikipedia.org)"
    unset DVC_API_URL RANDOMUSER_API_URL WIKI_API_URL
else
    say "sources: fixture servers answering like the real APIs (LIVE=1 uses the real ones)"
    start_fixture DVC_API_URL dvc_portal.py --records 3000 --seed 1
    start_fixture RANDOMUSER_API_URL randomuser.py --seed 1
    start_fixture WIKI_FIXTURE_URL wiki_api.py --seed 1
    export WIKI_API_URL=$WIKI_FIXTURE_URL/w/api.php
    export DVC_RATE=50 # the fixture needs no politeness delay; the real portal gets 5 req/s
fi

status=0
say "gust dags trigger dvc_flow --local (crawl -> Kafka -> staging -> pharmaceutical_upsert_dag)"
"$GUST" dags trigger dvc_flow --local || status=1
say "gust dags trigger user_automation --local (a 10 s stream instead of 60)"
"$GUST" dags trigger user_automation --local -c '{"stream_seconds": 10}' || status=1
say "gust dags trigger wiki_data_dag --local"
"$GUST" dags trigger wiki_data_dag --local || status=1

say "github_events: event_collector <- event_injector (3000 events) -> raw_metrics_avro -> bronze"
"$top/bin/event_collector" --listen 127.0.0.1:0 --spill-dir "$state/collector-spill" \
    --batch-max-ms 500 2>"$state/event_collector.log" </dev/null &
collector_pid=$!
for _ in $(seq 1 100); do grep -q '^event_collector: listening on' "$state/event_collector.log" && break; sleep 0.1; done
collector_url=http://$(sed -n 's/^event_collector: listening on //p' "$state/event_collector.log")/collect
"$top/bin/event_injector" --url "$collector_url" --events 3000 --batch 50 --seed "$RANDOM" \
    | tail -1 || status=1
kill -TERM "$collector_pid" # drains the queue to Kafka, then exits 0
wait "$collector_pid" || status=1
"$top/bin/stream_loader" --pipeline github_events --available-now >/dev/null || status=1
say "gust dags trigger github_events_pipeline --local (bronze -> silver -> gold -> quality checks)"
"$GUST" connections delete github_events_db >/dev/null 2>&1 || true
"$GUST" connections add github_events_db --conn-type postgres --conn-host "$PGHOST" \
    --conn-port "$PGPORT" --conn-schema gust --conn-login "$PGUSER" >/dev/null || status=1
"$GUST" dags trigger github_events_pipeline --local || status=1
export GUST_EVENTS_SPILL_DIR=$state/collector-spill
"$GUST" dags trigger maintenance_bronze_by_day --local || status=1

say "product_view: product_view_gen (3000 events, 1% broken) -> product_view -> star schema"
pv_day=$(date -u +%F)
pv_reports=$state/reports
"$top/bin/product_view_gen" --count 3000 --seed "$RANDOM" --start "$pv_day" \
    --catalogue "$state/product_catalogue.csv" | tail -1 || status=1
"$GUST" connections delete product_view_db >/dev/null 2>&1 || true
"$GUST" connections add product_view_db --conn-type postgres --conn-host "$PGHOST" \
    --conn-port "$PGPORT" --conn-schema gust --conn-login "$PGUSER" >/dev/null || status=1
say "gust dags trigger product_view_star --local (warm-up, load, quality checks, reports)"
# build_reports triggers product_view_reports for the run's day, which --local runs too
export PRODUCT_VIEW_REPORTS_DIR=$pv_reports
"$GUST" dags trigger product_view_star --local \
    -c "{\"catalogue\": \"$state/product_catalogue.csv\"}" || status=1
# the top of each report (the reports are CSV: a quoted comma would shift columns here only)
for f in "$pv_reports/$pv_day"/*.csv; do
    [ -f "$f" ] || continue
    echo "-- $(basename "$f" .csv)  (chart: ${f%.csv}.png)"
    head -4 "$f" | tr -d '\r' | column -s, -t
done

say "what landed"
psql -X -q -c "
select 'pharmaceutical_data' as table_name, count(*) as rows from pharmaceutical_data
union all select 'pharmaceutical_data_staging', count(*) from pharmaceutical_data_staging
union all select 'pharmaceutical_dead_letters', count(*) from pharmaceutical_dead_letters
union all select 'created_users', count(*) from created_users
union all select 'created_users_dead_letters', count(*) from created_users_dead_letters
union all select 'wiki_recent_changes', count(*) from wiki_recent_changes
union all select 'wiki_recent_changes_dead_letters', count(*) from wiki_recent_changes_dead_letters
union all select 'bronze.github_events', count(*) from bronze.github_events
union all select 'bronze.github_events_dead_letters', count(*) from bronze.github_events_dead_letters
union all select 'silver.github_events_parsed', count(*) from silver.github_events_parsed
union all select 'gold.hourly_events_by_type (sum of events)', coalesce(sum(events), 0) from gold.hourly_events_by_type
union all select 'gold.daily_repo_activity', count(*) from gold.daily_repo_activity
union all select 'fact_sales', count(*) from fact_sales
union all select 'product_view_dead_letters', count(*) from product_view_dead_letters
union all select 'dim_product', count(*) from dim_product
union all select 'dim_location', count(*) from dim_location
union all select 'dim_user_agent', count(*) from dim_user_agent"
psql -X -q -c "select job_name, last_crawl_time from crawl_state order by 1"
psql -X -q -c "select dag_id, run_id, state from dag_run order by start_date desc nulls last limit 8"

cat <<EOT

Look around:   export PGHOST=$PGHOST PGUSER=$PGUSER PGDATABASE=gust
               psql -c 'select sodangky, tenthuoc, lastmodificationtime from pharmaceutical_data limit 5'
               bin/gust dags list-runs dvc_flow
               bin/gust tasks logs dvc_flow extract_data_from_DVC <run id>
Reports:       $pv_reports/$pv_day/index.html (CSV and PNG charts of product_view)
Logs:          $GUST_LOGS_FOLDER
Again:         make run   (incremental: the crawlers resume from their watermarks)
Stop it:       make stop
EOT
exit $status

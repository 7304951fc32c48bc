#!/usr/bin/env bash
# make run / make stop: a private PostgreSQL cluster for gust, kept between runs, and a
# tour of what gust does so far (the pipelines join as their issues land).
#
#   scripts/run.sh        start (or reuse) the cluster, migrate, record the DAGs, show them
#   scripts/run.sh stop   stop the cluster (its data stays, `rm -rf state/` forgets it)
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

if [ "${1:-}" = stop ]; then
    if [ -f "$pgdir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null
        echo "stopped PostgreSQL in $pgdir"
    else
        echo "nothing running"
    fi
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
say "gust tasks logs gust_demo report $run_id"
"$GUST" tasks logs gust_demo report "$run_id"
say "XCom of the run"
psql -X -q -c "select task_id, key, value from xcom where run_id = '$run_id' order by timestamp"
say "tables in the metadata database"
psql -X -q -c '\dt'

cat <<EOT

The DAG files load, the metadata schema is in place and the demo DAG ran end to end.
The data pipelines (Kafka broker, crawlers, loaders) join with the next issues.

Look around:   psql -h $PGHOST -U $PGUSER gust
               export PGHOST=$PGHOST PGUSER=$PGUSER PGDATABASE=gust; bin/gust dags list
               bin/gust dags trigger gust_demo --local
Logs:          $GUST_LOGS_FOLDER
Stop it:       make stop
EOT

#!/usr/bin/env bash
# `gust db migrate` and `gust db check` against the throwaway PostgreSQL: a fresh database,
# a re-run (no-op), a database newer than the binary, a broken connection (no password in
# the output), and two concurrent migrations of one fresh database.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
source tests/lib/pg.sh
plan 46
NMIG=$(ls migrations/[0-9]*.sql | wc -l) # the migrations this gust carries
GUST=${GUST:-$PWD/bin/gust}
unset GUST_DATABASE_URL

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@" 2>&1; }

pg_createdb gust_migrate >/dev/null
export PGDATABASE=gust_migrate

out=$("$GUST" db check 2>&1)
check_eq "db check on an empty database exits 1" 1 "$(
    "$GUST" db check >/dev/null 2>&1
    echo $?
)"
check_contains "db check says a migration is needed" "gust db migrate" "$out"

out=$("$GUST" db migrate 2>&1)
check_eq "db migrate on a fresh database exits 0" 0 "$(
    "$GUST" db migrate >/dev/null 2>&1
    echo $?
)"
check_contains "db migrate reports what it applied" "migrated: applied $NMIG migration(s), schema version $NMIG" "$out"
tables=$(q -c "select string_agg(tablename, ',' order by tablename) from pg_tables
    where schemaname = 'public'")
for t in dag dag_tag dag_run task_instance task_instance_history xcom import_error log job \
    variable crawl_state stream_offsets gust_schema_version; do
    check_contains "table $t exists" ",$t," ",$tables,"
done
check_fails "CHECK rejects a bogus dag_run state" q -c "insert into dag_run (dag_id, run_id, run_type, state)
    values ('d', 'r', 'manual', 'bogus')"
check_fails "CHECK rejects a bogus run_type" q -c "insert into dag_run (dag_id, run_id, run_type)
    values ('d', 'r', 'nightly')"
check "a valid dag_run is accepted" q -c "insert into dag_run (dag_id, run_id, run_type)
    values ('d', 'manual__1', 'manual')"
check "a task instance in state none (NULL) is accepted" q -c "insert into task_instance
    (dag_id, task_id, run_id) values ('d', 't', 'manual__1')"
check_fails "CHECK rejects a bogus task state" q -c "update task_instance set state = 'done'"
check "every Airflow task state is accepted" q -c "do \$\$ declare s text; begin
    foreach s in array array['scheduled','queued','running','success','failed','up_for_retry',
        'upstream_failed','skipped','removed'] loop
        update task_instance set state = s; end loop; end \$\$"
check_fails "CHECK rejects a bogus job state" q -c "insert into job (job_type, state)
    values ('SchedulerJob', 'sleeping')"

before=$(q -c "select version, name, applied_at from gust_schema_version order by 1")
out=$("$GUST" db migrate 2>&1)
rc=$?
check_eq "db migrate again exits 0" 0 "$rc"
check_eq "db migrate again says up to date" "up to date: schema version $NMIG" "$out"
check_eq "the version table is unchanged" "$before" \
    "$(q -c "select version, name, applied_at from gust_schema_version order by 1")"
check "db check after migrate exits 0" "$GUST" db check
check_contains "db check says up to date" "up to date" "$("$GUST" db check 2>&1)"

# A database migrated by a newer gust.
FUTURE=$((NMIG + 1))
q -c "insert into gust_schema_version (version, name) values ($FUTURE, 'future.sql')" >/dev/null
out=$("$GUST" db migrate 2>&1)
rc=$?
check_eq "a newer database is refused with exit 1" 1 "$rc"
check_contains "the refusal says why" "database schema version $FUTURE is newer than this gust (knows 1..$NMIG); upgrade gust" "$out"
check_fails "db check fails on a newer database" "$GUST" db check
check_eq "nothing was applied to the newer database" $((NMIG + 1)) "$(q -c "select count(*) from gust_schema_version")"

# A broken connection: exit 1, name the host, never print the password.
for url in 'postgresql://gust:s3cret@127.0.0.1:1/nope' \
    'host=127.0.0.1 port=1 user=gust password=s3cret dbname=nope' \
    "password='s3cret' bogus"; do
    out=$(GUST_DATABASE_URL=$url "$GUST" db migrate 2>&1)
    rc=$?
    check_eq "broken connection ($url) exits 1" 1 "$rc"
    case $url in
    *127.0.0.1*) check_contains "the error names the host" "127.0.0.1" "$out" ;;
    *) check_contains "the error shows the masked conninfo" "***" "$out" ;;
    esac
    case $out in
    *s3cret*) echo "not ok - the password is not printed"; echo "#   $out" ;;
    *) echo "ok - the password is not printed" ;;
    esac
done
out=$(GUST_DATABASE_URL='postgresql://gust:s3cret@127.0.0.1:1/nope' "$GUST" db check 2>&1)
check_eq "db check on a broken connection prints one line" 1 "$(printf '%s\n' "$out" | wc -l)"

# Two concurrent migrations of one fresh database: both succeed, the schema is applied once.
pg_createdb gust_migrate_race >/dev/null
export PGDATABASE=gust_migrate_race
tmp=$(mktemp -d)
"$GUST" db migrate >"$tmp/a" 2>&1 &
pa=$!
"$GUST" db migrate >"$tmp/b" 2>&1 &
pb=$!
wait "$pa"
ra=$?
wait "$pb"
rb=$?
check_eq "both concurrent migrations exit 0" "0 0" "$ra $rb"
applied=$(cat "$tmp/a" "$tmp/b" | awk '/^migrated: applied/ { n += $3 } END { print n + 0 }')
check_eq "between them they applied every migration exactly once" "$NMIG" "$applied"
check_eq "the version table has one row per migration" "$NMIG" "$(q -c "select count(*) from gust_schema_version")"
rm -rf "$tmp"

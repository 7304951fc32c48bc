#!/usr/bin/env bash
# `gust dags reserialize` records the DAG folder in the database; `gust dags list` shows the
# pause state from there when a database is configured, and still works when it is down.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 23
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pg_createdb gust_dags_db
export PGDATABASE=gust_dags_db
q() { psql -X -q -At -c "$1"; }

mkdir -p "$tmp/dags"
cp -r "$GUST_SRC"/dags/. "$tmp/dags/" # the .sql files of the SQL tasks too
# the DAG ids of dags/*.yaml, read by PyYAML (the top-level keys but `default`)
NDAGS=$(/usr/bin/python3 -c 'import glob,sys,yaml; print(sum(len([k for k in yaml.safe_load(open(f)) if k != "default"]) for f in glob.glob(sys.argv[1] + "/*.yaml")))' "$GUST_SRC/dags")
export GUST_DAGS_FOLDER=$tmp/dags

check "migrate" "$GUST" db migrate
out=$("$GUST" dags reserialize)
check_eq "reserialize exits 0" 0 $?
check_contains "reserialize says what it recorded" "recorded $NDAGS DAG(s) and 0 import error(s)" "$out"
check_eq "one dag row per DAG" "$NDAGS" "$(q 'select count(*) from dag where is_active')"
check_eq "fileloc recorded" "$tmp/dags/dvc_flow.yaml" "$(q "select fileloc from dag where dag_id = 'dvc_flow'")"

q "update dag set is_paused = true where dag_id = 'dvc_flow'"
row=$("$GUST" dags list | grep '^dvc_flow ')
check_contains "dags list shows the pause state from the database" "| True " "$row"
"$GUST" dags reserialize >/dev/null
check_eq "reserialize keeps the pause state" t "$(q "select is_paused from dag where dag_id = 'dvc_flow'")"

printf 'broken: [unclosed\n' >"$tmp/dags/broken.yaml"
rm "$tmp/dags/wiki_data_dag.yaml"
"$GUST" dags reserialize >/dev/null
check_eq "an import error is stored" 1 "$(q "select count(*) from import_error where filename like '%broken.yaml'")"
check_eq "a DAG whose file is gone becomes inactive" f "$(q "select is_active from dag where dag_id = 'wiki_data_dag'")"
rm "$tmp/dags/broken.yaml"
"$GUST" dags reserialize >/dev/null
check_eq "fixed files clear their import errors" 0 "$(q 'select count(*) from import_error')"

# Warnings (keys that change nothing a run does) are printed and stored beside import errors.
printf 'warned:\n  doc_md: hi\n  tasks:\n    t: {operator: airflow.operators.empty.EmptyOperator}\n' \
    >"$tmp/dags/warned.yaml"
"$GUST" dags reserialize >/dev/null 2>"$tmp/rerr"
check_contains "reserialize prints each warning" "warned.yaml:2:3: warning: key 'doc_md' is ignored" \
    "$(cat "$tmp/rerr")"
check_eq "the warning is stored in import_warning" 1 \
    "$(q "select count(*) from import_warning where filename like '%/warned.yaml' and warnings like '%key ''doc_md'' is ignored%'")"
check_eq "a file with only warnings has no import error" 0 "$(q 'select count(*) from import_error')"
rm "$tmp/dags/warned.yaml"
"$GUST" dags reserialize >/dev/null 2>&1
check_eq "warnings are replaced at each load" 0 \
    "$(q "select count(*) from import_warning where filename like '%/warned.yaml'")"

# reserialize -S PART records that part of the folder only: a DAG whose file is gone there
# becomes inactive, the DAGs and import errors of the rest stay as they are.
mkdir -p "$tmp/dags/team"
empty_dag() { printf '%s:\n  tasks:\n    t: {operator: airflow.operators.empty.EmptyOperator}\n' "$1"; }
empty_dag team_one >"$tmp/dags/team/one.yaml"
printf 'broken: [unclosed\n' >"$tmp/dags/broken.yaml"
"$GUST" dags reserialize >/dev/null 2>&1
outside() { q "select count(*) from dag where is_active and fileloc not like '$tmp/dags/team/%'"; }
before=$(outside)
rm "$tmp/dags/team/one.yaml"
empty_dag team_two >"$tmp/dags/team/two.yaml"
out=$("$GUST" dags reserialize -S "$tmp/dags/team/" 2>&1)
check_contains "reserialize -S FOLDER says what it recorded" \
    "recorded 1 DAG(s) and 0 import error(s) from $tmp/dags/team/" "$out"
check_eq "-S FOLDER: its DAG whose file is gone becomes inactive, the new one active" "f t" \
    "$(q "select is_active from dag where dag_id = 'team_one'") $(q "select is_active from dag where dag_id = 'team_two'")"
check_eq "-S FOLDER: the $before DAGs outside it stay active" "$before" "$(outside)"
check_eq "-S FOLDER: an import error outside it stays" 1 \
    "$(q "select count(*) from import_error where filename = '$tmp/dags/broken.yaml'")"
"$GUST" dags reserialize -S "$tmp/dags/team/two.yaml" >/dev/null 2>&1
check_eq "-S FILE: the rest stays too" "$before t" "$(outside) $(q "select is_active from dag where dag_id = 'team_two'")"
rm -r "$tmp/dags/broken.yaml" "$tmp/dags/team"

GUST_DATABASE_URL="postgresql://gust:hunter22@127.0.0.1:1/none?connect_timeout=2" \
    "$GUST" dags list >"$tmp/out" 2>"$tmp/err"
check_eq "dags list still works with the database down" 0 $?
check_contains "and still lists the DAGs" "dvc_flow" "$(cat "$tmp/out")"
check_contains "saying why the pause state is missing" "pause state not shown" "$(cat "$tmp/err")"
if grep -q hunter22 "$tmp/err"; then echo "not ok - the password is masked"; else echo "ok - the password is masked"; fi

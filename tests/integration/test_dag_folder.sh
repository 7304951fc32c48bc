#!/usr/bin/env bash
# The walk of the DAG folder (scheduler/dagfile/dagfile_walk.c): a symbolic link loop is read
# once and reported, not followed forever; what cannot be read (an unreadable subfolder, a
# dangling link, a FIFO named *.yaml, a folder too deep) is an import error with its path, and
# the DAGs of a folder that could not be read are not marked inactive in the database.
# `timeout 20` only guards against a hang (the bug this tests); nothing here is timed.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 13
gust_tmpdir tmp
chmod 755 "$tmp"
dag() { printf '%s:\n  tasks:\n    - task_id: t\n      operator: airflow.operators.empty.EmptyOperator\n' "$1" >"$2"; }

# --- a symbolic link loop: three links back up the tree, and a second link to a folder
d=$tmp/loop
mkdir -p "$d/a/b" "$d/c"
dag top_dag "$d/top.yaml"
dag a_dag "$d/a/a.yaml"
dag b_dag "$d/a/b/b.yaml"
ln -s .. "$d/a/up"
ln -s ../.. "$d/a/b/upup"
ln -s .. "$d/c/up"
ln -s ../a "$d/c/a_again"
out=$(GUST_DAGS_FOLDER=$d timeout 20 "$GUST" dags list 2>&1)
check_eq "dags list finishes on a folder with link loops" 0 $?
check_eq "and lists each DAG once" "1 1 1" \
    "$(for x in top_dag a_dag b_dag; do grep -c "^$x " <<<"$out"; done | xargs)"
out=$(GUST_DAGS_FOLDER=$d timeout 20 "$GUST" dags list-import-errors --warnings 2>&1)
check_contains "the loop is reported as a warning, with its path" \
    "$d/a/up: warning: a folder already read under another path" "$out"
check_contains "and so is the second link to a folder" "$d/c/a_again: warning:" "$out"

# --- what cannot be read is an import error, not a silent skip
d=$tmp/bad
mkdir -p "$d/locked"
dag ok_dag "$d/ok.yaml"
dag locked_dag "$d/locked/l.yaml"
ln -s missing "$d/gone"
mkfifo "$d/pipe.yaml"
deep=$d
for i in $(seq 33); do deep=$deep/d$i; done
mkdir -p "$deep"
dag deep_dag "$deep/deep.yaml"
chmod -R a+rX "$tmp"
chmod 000 "$d/locked"
out=$(GUST_DAGS_FOLDER=$d timeout 20 "$GUST" dags list-import-errors 2>&1)
check_contains "a dangling link is an import error" "$d/gone: error: cannot read: dangling symbolic link" "$out"
check_contains "a FIFO named *.yaml is an import error" "$d/pipe.yaml: error: not a regular file" "$out"
check_contains "a folder too deep is an import error" "$d/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20/d21/d22/d23/d24/d25/d26/d27/d28/d29/d30/d31/d32/d33: error: folder more than 32 levels deep" "$out"
# chmod 000 does not stop root: as root, read the folder as `nobody`.
as_user=()
[ "$(id -u)" != 0 ] || as_user=(runuser -u nobody --)
out=$(GUST_DAGS_FOLDER=$d timeout 20 "${as_user[@]}" "$GUST" dags list-import-errors 2>&1)
check_contains "an unreadable subfolder is an import error" "$d/locked: error: cannot read the folder: Permission denied" "$out"
chmod 755 "$d/locked"

# --- the database: a DAG under a folder that cannot be read stays active
pg_createdb gust_dag_folder
export PGDATABASE=gust_dag_folder
q() { psql -X -q -At -c "$1"; }
d=$tmp/db
mkdir -p "$d/sub"
dag kept_dag "$d/sub/k.yaml"
dag other_dag "$d/other.yaml"
check "migrate" "$GUST" db migrate
GUST_DAGS_FOLDER=$d "$GUST" dags reserialize >/dev/null
check_eq "both DAGs are recorded" 2 "$(q 'select count(*) from dag where is_active')"
mv "$d/sub" "$tmp/sub.moved"
ln -s "$tmp/sub.gone" "$d/sub"
GUST_DAGS_FOLDER=$d "$GUST" dags reserialize >/dev/null
check_eq "the folder's error is stored" "$d/sub" "$(q 'select filename from import_error')"
check_eq "its DAG stays active" t "$(q "select is_active from dag where dag_id = 'kept_dag'")"
rm "$d/sub" "$d/other.yaml"
GUST_DAGS_FOLDER=$d "$GUST" dags reserialize >/dev/null
check_eq "a DAG whose file is gone still becomes inactive" "f f" \
    "$(q "select is_active from dag order by dag_id" | xargs)"

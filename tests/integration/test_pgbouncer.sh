#!/usr/bin/env bash
# gust behind PgBouncer (Debian's package): in session pooling a scheduler runs a DAG and the
# CLI works, and the scheduler knows the server's backend pid (libpq's is PgBouncer's there:
# it tells the scheduler's own notifications from the others'); in transaction pooling every gust command is
# refused at connect with a message naming pool_mode, before any state could be lost.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 9
gust_tmpdir GUST_TEST_TMP
chmod 711 "$GUST_TEST_TMP" # pgbouncer runs as the cluster's owner
export GUST_TEST_TMP
pg_gust_db gust_pgbouncer
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
mkdir -p "$GUST_DAGS_FOLDER"
pgb=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
check "pgbouncer is installed (make deps)" test -x "$pgb"

# pgbouncer MODE: a pooler in front of the test cluster on a free port, run as the cluster's
# owner (pgbouncer refuses root); its port in $PORT.
pgbouncer_start() {
    local mode=$1 dir=$GUST_TEST_TMP/pgb-$1
    PORT=$(_pg_free_port)
    mkdir -p "$dir"
    printf '"%s" ""\n' "$PGUSER" >"$dir/users.txt"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = $mode
default_pool_size = 4
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    _pg_as_owner "$pgb" -q "$dir/pgbouncer.ini" </dev/null >>"$dir/out.log" 2>&1 &
    gust_kill_at_exit $!
    disown $!
    wait_for 20 psql -X -q -At -h 127.0.0.1 -p "$PORT" -c "select 1"
}

cat >"$GUST_DAGS_FOLDER/pooled.yaml" <<'YAML'
pooled:
  tasks:
    - task_id: a
      operator: airflow.operators.bash.BashOperator
      bash_command: echo first
    - task_id: b
      operator: airflow.operators.bash.BashOperator
      bash_command: echo second
      dependencies: [a]
YAML

# ---- session pooling: works -----------------------------------------------------------------
check "pgbouncer in session mode answers" pgbouncer_start session
export GUST_DATABASE_URL="host=127.0.0.1 port=$PORT dbname=gust_pgbouncer user=$PGUSER"
check "the CLI works through it" "$GUST" dags list
start_bg sched env GUST_LOG_LEVEL=debug "$GUST" scheduler
sched=$LAST
wait_for 30 "$GUST" jobs check --job-type scheduler
"$GUST" dags trigger pooled -r p1 >/dev/null 2>&1
check "a run through the pooler succeeds" wait_for 60 sh -c \
    "test \"\$(psql -X -q -At -c \"select state from dag_run where run_id = 'p1'\")\" = success"
check "the scheduler saw it was behind a pooler" grep -q "through a connection pooler" \
    "$GUST_TEST_TMP/sched.log"
kill -TERM "$sched"
wait "$sched" 2>/dev/null

# ---- transaction pooling: refused at connect ---------------------------------------------------
check "pgbouncer in transaction mode answers" pgbouncer_start transaction
export GUST_DATABASE_URL="host=127.0.0.1 port=$PORT dbname=gust_pgbouncer user=$PGUSER"
out=$("$GUST" dags trigger pooled -r p2 2>&1)
rc=$?
check "the CLI is refused" test "$rc" -ne 0
check_contains "saying why" "pool_mode=session" "$out"

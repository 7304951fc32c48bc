#!/usr/bin/env bash
# The idle scheduler's tick costs a fixed number of statements, not a few per DAG (issue 22,
# goal 4): with 10 and with 200 DAGs that have nothing due (daily from 2099), the statements
# the scheduler sends per tick (PostgreSQL's log_statement = all on its database, the ticks
# counted by the one read of the asset queue each makes, loop_assets) are few and the same. Not
# timed: the counts come from the server's log over a number of ticks.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 8 # the six checks below and the two databases' "gust db migrate"
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
export GUST_LEASE_SECONDS=2 GUST_DAG_DIR_LIST_INTERVAL=1
log=$GUST_TEST_PGDIR/server.log
TICK='SELECT q.target_dag_id, a.uri FROM asset_dag_run_queue' # once a tick (store_asset_queues)
q() { psql -X -q -At -c "$1"; }
ticks() { grep -cF "$TICK" "$log"; }
statements() { grep -cE 'LOG:  (statement|execute [^:]*):' "$log"; }
ticks_at_least() { test "$(ticks)" -ge "$1"; }

# per_tick N: the statements per idle tick of a scheduler with N DAGs on its own database
per_tick() {
    local n=$1 dags=$GUST_TEST_TMP/dags$1 t0 s0 t1 s1 pid
    mkdir -p "$dags"
    /usr/bin/python3 - "$dags" "$n" <<'PY'
import sys
folder, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(f"{folder}/idle_{i:04d}.yaml", "w") as f:
        f.write(f"idle_{i:04d}:\n  schedule: '0 3 * * *'\n  start_date: 2099-01-01\n"
                "  tasks:\n    - {task_id: a, operator: airflow.operators.empty.EmptyOperator}\n")
PY
    pg_gust_db "gust_idle_$n" >&2 # its "ok" line out of the captured number
    q "ALTER DATABASE gust_idle_$n SET log_statement = 'all'"
    GUST_DAGS_FOLDER=$dags GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs$n \
        start_bg "sched$n" "$GUST" scheduler
    pid=$LAST
    # settled: the folder recorded, two ticks made since
    wait_for 60 sh -c "test \"\$(psql -X -q -At -c 'select count(*) from dag')\" = $n" &&
        t0=$(($(ticks) + 2)) && wait_for 60 ticks_at_least "$t0" ||
        { echo "# the scheduler with $n DAGs did not settle" >&2; return 1; }
    t0=$(ticks) s0=$(statements)
    wait_for 60 ticks_at_least $((t0 + 6)) || return 1
    t1=$(ticks) s1=$(statements)
    kill -TERM "$pid"
    wait_for 40 sh -c "! kill -0 $pid 2>/dev/null"
    q "ALTER DATABASE gust_idle_$n RESET log_statement"
    echo "# $n DAGs: $((s1 - s0)) statements in $((t1 - t0)) ticks" >&2
    awk -v s=$((s1 - s0)) -v t=$((t1 - t0)) 'BEGIN { printf "%d", (s + t - 1) / t }'
}

small=$(per_tick 10)
check "10 DAGs: the ticks were counted" test -n "$small"
large=$(per_tick 200)
check "200 DAGs: the ticks were counted" test -n "$large"
check "10 DAGs: a dozen statements a tick at most (got ${small:-?})" test "${small:-99}" -le 12
check "200 DAGs: a dozen statements a tick at most, not three per DAG (got ${large:-?})" \
    test "${large:-999}" -le 12
check "200 DAGs cost no more statements a tick than 10 (${large:-?} against ${small:-?})" \
    test "${large:-999}" -le $((${small:-0} + 2))
check_eq "nothing was due: no run made" 0 "$(PGDATABASE=gust_idle_200 q 'select count(*) from dag_run')"

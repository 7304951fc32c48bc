#!/usr/bin/env bash
# Pools, priorities and concurrency limits across processes (docs/operations.md, "Pools"):
# a scheduler without executor and three workers on one database claim task instances;
# what runs at once is measured from the tasks' own clocks (each task appends its start and
# end time to a file), so the checks hold whatever the claim believes.
# - a pool of 2 slots and 20 tasks, one of them pool_slots 2: never more than 2 slots in use,
#   and the pool was full at some point (the test can tell a serialised run from a pooled one);
# - priority_weight with weight_rule absolute on a fan-out into a pool of 1: started in
#   priority order; downstream and upstream weights on a diamond, as Airflow sums them;
# - a pool that does not exist: failed, no retry, said why; pool_slots over a pool's size
#   (a pool of 0 too): waits until the pool grows, as in Airflow;
# - max_active_tis_per_dag and max_active_tasks with two schedulers planning: never exceeded;
# - a task's queue routes it to the workers serving that queue (`gust worker -q`).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 26
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_pools
export GUST_DAGS_FOLDER=$GUST_TEST_TMP/dags
export GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
export GUST_DAG_DIR_LIST_INTERVAL=1
mkdir -p "$GUST_DAGS_FOLDER"
q() { psql -X -q -At -c "$1"; }
run_is() { test "$("$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1)" = "$3"; }
# The most slots in use at once in clock file $1: lines "task start|end epoch"; a task
# named heavy* holds 2 slots, every other one 1.
peak() {
    /usr/bin/python3 - "$1" <<'PY'
import sys
ev = []
for line in open(sys.argv[1]):
    task, what, at = line.split()
    w = 2 if task.startswith("heavy") else 1
    ev.append((float(at), 0 if what == "end" else 1, w if what == "start" else -w))
cur = top = 0
for _, _, d in sorted(ev):
    cur += d
    top = max(top, cur)
print(top)
PY
}
# The bash command of a timed task: its start and end in $GUST_TEST_TMP/clock.<dag>
clocked() {
    printf '%s' "echo \"{{ task.task_id }} start \$(date +%s.%N)\" >> \$GUST_TEST_TMP/clock.{{ dag.dag_id }}; sleep $1; echo \"{{ task.task_id }} end \$(date +%s.%N)\" >> \$GUST_TEST_TMP/clock.{{ dag.dag_id }}"
}

q "INSERT INTO slot_pool (pool, slots, description) VALUES ('two', 2, 'a database of 2 connections'), ('one', 1, 'one at a time'), ('small', 0, 'closed')"

{
    echo "pooled:"
    echo "  tasks:"
    for i in $(seq 1 19); do
        echo "    - {task_id: t$i, operator: airflow.operators.bash.BashOperator, pool: two, bash_command: '$(clocked 0.4)'}"
    done
    echo "    - {task_id: heavy, operator: airflow.operators.bash.BashOperator, pool: two, pool_slots: 2, bash_command: '$(clocked 0.4)'}"
    echo "fan:"
    echo "  default_args: {weight_rule: absolute}"
    echo "  tasks:"
    echo "    - {task_id: root, operator: airflow.operators.empty.EmptyOperator}"
    for w in 3 6 1 5 2 4; do
        echo "    - {task_id: p$w, operator: airflow.operators.bash.BashOperator, pool: one, priority_weight: $w, dependencies: [root], bash_command: '$(clocked 0.1)'}"
    done
    echo "limited:"
    echo "  max_active_tasks: 2"
    echo "  tasks:"
    echo "    - {task_id: only, operator: airflow.operators.bash.BashOperator, max_active_tis_per_dag: 1, bash_command: '$(clocked 0.3)'}"
    for i in 1 2 3 4 5; do
        echo "    - {task_id: w$i, operator: airflow.operators.bash.BashOperator, bash_command: '$(clocked 0.3)'}"
    done
} >"$GUST_DAGS_FOLDER/pools.yaml"
cat >"$GUST_DAGS_FOLDER/weights.yaml" <<'YAML'
down:
  tasks:
    - {task_id: a, operator: airflow.operators.empty.EmptyOperator, priority_weight: 1}
    - {task_id: b, operator: airflow.operators.empty.EmptyOperator, priority_weight: 2, dependencies: [a]}
    - {task_id: c, operator: airflow.operators.empty.EmptyOperator, priority_weight: 3, dependencies: [a]}
    - {task_id: d, operator: airflow.operators.empty.EmptyOperator, priority_weight: 4, dependencies: [b, c]}
up:
  default_args: {weight_rule: upstream}
  tasks:
    - {task_id: a, operator: airflow.operators.empty.EmptyOperator, priority_weight: 1}
    - {task_id: b, operator: airflow.operators.empty.EmptyOperator, priority_weight: 2, dependencies: [a]}
    - {task_id: c, operator: airflow.operators.empty.EmptyOperator, priority_weight: 3, dependencies: [a]}
    - {task_id: d, operator: airflow.operators.empty.EmptyOperator, priority_weight: 4, dependencies: [b, c]}
routed:
  tasks:
    - {task_id: plain, operator: airflow.operators.empty.EmptyOperator}
    - {task_id: special, operator: airflow.operators.bash.BashOperator, queue: special, bash_command: 'true'}
bad_pools:
  default_args: {retries: 2, retry_delay: 0}
  tasks:
    - {task_id: nowhere, operator: airflow.operators.bash.BashOperator, pool: nosuch, bash_command: 'echo ran >> $GUST_TEST_TMP/bad_ran'}
big:
  tasks:
    - {task_id: too_big, operator: airflow.operators.bash.BashOperator, pool: small, pool_slots: 3, bash_command: 'echo ran >> $GUST_TEST_TMP/big_ran'}
YAML
"$GUST" dags list >"$GUST_TEST_TMP/list" 2>&1
check_eq "the DAG files load" 0 $?

start_bg sched_a "$GUST" scheduler --no-executor
start_bg sched_b "$GUST" scheduler --no-executor
for w in 1 2 3; do start_bg "worker$w" "$GUST" worker --concurrency 4; done
check "the workers heartbeat" wait_for 20 "$GUST" jobs check --job-type worker

# --- a pool of 2, 20 tasks, one of them 2 slots
"$GUST" dags trigger pooled -r p1 >/dev/null
check "the pooled run succeeds" wait_for 120 run_is pooled p1 success
check_eq "never more than 2 slots of pool two in use" 2 "$(peak "$GUST_TEST_TMP/clock.pooled")"
check_eq "the 2-slot task ran" 2 "$(grep -c '^heavy ' "$GUST_TEST_TMP/clock.pooled")"
check_eq "every task ran once" 40 "$(wc -l <"$GUST_TEST_TMP/clock.pooled")"
check_eq "the rows say pool_slots 2" "heavy|2" "$(q "select task_id, pool_slots from task_instance where run_id = 'p1' and pool_slots > 1")"

# --- priorities: a fan-out into a pool of 1 starts in priority order
"$GUST" dags trigger fan -r f1 >/dev/null
check "the fan-out succeeds" wait_for 60 run_is fan f1 success
check_eq "claimed highest priority_weight first" "p6 p5 p4 p3 p2 p1" \
    "$(grep ' start ' "$GUST_TEST_TMP/clock.fan" | sort -k3 -n | cut -d' ' -f1 | xargs)"
check_eq "only one at a time in pool one" 1 "$(peak "$GUST_TEST_TMP/clock.fan")"

# --- weight rules: Airflow's sums over every task downstream / upstream (each once)
"$GUST" dags trigger down -r d1 >/dev/null
"$GUST" dags trigger up -r u1 >/dev/null
check_eq "downstream: a=1+2+3+4, b=2+4, c=3+4, d=4" "a|10 b|6 c|7 d|4" \
    "$(q "select task_id || '|' || priority_weight from task_instance where dag_id = 'down' order by task_id" | xargs)"
check_eq "upstream: a=1, b=1+2, c=1+3, d=1+2+3+4" "a|1 b|3 c|4 d|10" \
    "$(q "select task_id || '|' || priority_weight from task_instance where dag_id = 'up' order by task_id" | xargs)"

# --- a pool that does not exist: failed at once, said why
"$GUST" dags trigger bad_pools -r b1 >/dev/null
check "the run fails" wait_for 60 run_is bad_pools b1 failed
check_eq "failed on its first try, no retry" "nowhere|failed|1" \
    "$(q "select task_id || '|' || state || '|' || try_number from task_instance where run_id = 'b1'")"
check_eq "its command did not run" "no" "$([ -e "$GUST_TEST_TMP/bad_ran" ] && echo yes || echo no)"
log=$(cat "$GUST_LOGS_FOLDER"/dag_id=bad_pools/run_id=b1/task_id=nowhere/attempt=1.log 2>/dev/null)
check_contains "the log says the pool does not exist" "pool 'nosuch' does not exist" "$log"

# --- a task bigger than its pool waits (a closed pool of 0, then 2 slots for 3), runs at 3
"$GUST" dags trigger big -r g1 >/dev/null
wait_for 30 sh -c "test \"\$(psql -X -q -At -c \"select state from task_instance where run_id = 'g1'\")\" = queued"
sleep 2
"$GUST" pools set small 2 "two of three" >/dev/null
sleep 2
check_eq "pool_slots 3 in a pool of 0, then of 2: still queued, not run" "queued no" \
    "$(q "select state from task_instance where run_id = 'g1'") $([ -e "$GUST_TEST_TMP/big_ran" ] && echo yes || echo no)"
"$GUST" pools set small 3 "room for it" >/dev/null
check "once the pool has 3 slots it runs" wait_for 60 run_is big g1 success

# --- limits with two schedulers planning four runs at once
for r in l1 l2 l3 l4; do "$GUST" dags trigger limited -r "$r" >/dev/null; done
check "the limited runs succeed" wait_for 120 sh -c "$(declare -f run_is); for r in l1 l2 l3 l4; do run_is limited \$r success || exit 1; done"
grep '^only ' "$GUST_TEST_TMP/clock.limited" >"$GUST_TEST_TMP/clock.only"
check_eq "max_active_tis_per_dag 1: one 'only' at a time over four runs" 1 "$(peak "$GUST_TEST_TMP/clock.only")"
check_eq "max_active_tasks 2: at most two of the DAG's tasks at once" 2 "$(peak "$GUST_TEST_TMP/clock.limited")"

# --- queues: the three workers serve "default"; the special task waits for a worker of its own
"$GUST" dags trigger routed -r q1 >/dev/null
check "the default-queue task runs" wait_for 60 sh -c "test \"\$(psql -X -q -At -c \"select state from task_instance where run_id = 'q1' and task_id = 'plain'\")\" = success"
sleep 2
check_eq "the special-queue task waits: no worker serves it" "queued" \
    "$(q "select state from task_instance where run_id = 'q1' and task_id = 'special'")"
start_bg worker_special "$GUST" worker -q other,special; special=$LAST
check "a worker of queue special runs it" wait_for 60 run_is routed q1 success
check_eq "that worker ran it" "$special" \
    "$(q "select j.pid from task_instance t join job j on j.id = t.job_id where t.run_id = 'q1' and t.task_id = 'special'")"

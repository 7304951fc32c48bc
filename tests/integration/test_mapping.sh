#!/usr/bin/env bash
# Dynamic task mapping (partial/expand) end to end against a real PostgreSQL, black-box through
# gust's CLI and the metadata tables (tests/integration/mapping_dags/mapping.yaml):
# - literal lists, a Bash task's last stdout line, a KubernetesPodOperator's return.json, a
#   mapping (dict items), expand_kwargs, the cross product of two expanded arguments (the last
#   varies fastest);
# - each instance a task_instance row with its map_index, its own XCom, log, tries, retries and
#   timeout; a downstream waits for every instance and its trigger rule sees them all;
#   xcom_pull collects the list in map_index order;
# - an empty list skips the mapped task (trigger rules downstream), more than max_map_length
#   or a value that is not a list fails it with a message naming why;
# - the CLI: states-for-dag-run, tasks state|logs|test|clear --map-index;
# - clear re-expands from the upstream's current XCom (new indexes, `removed` ones);
# - kill -9 of `gust scheduler` during a 500-instance expansion: every instance ends with one
#   successful try, and no two tries of one instance overlap (lock files and the history);
# - dags/github_events_maintenance.yaml's mapped DAG loads and analyzes one partition per
#   instance on a real bronze table.
#
# MAP_CHAOS_INSTANCES (default 500) sizes the kill -9 test.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 94
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
T=$GUST_TEST_TMP
pg_gust_db gust_mapping
export GUST_DAGS_FOLDER=$GUST_SRC/tests/integration/mapping_dags
export GUST_LOGS_FOLDER=$T/logs
export GUST_LEASE_SECONDS=2 GUST_DAG_DIR_LIST_INTERVAL=1
unset GUST_MAX_MAP_LENGTH AIRFLOW__CORE__MAX_MAP_LENGTH
q() { psql -X -q -At -c "$1"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
run_is() { test "$(run_state "$1" "$2")" = "$3"; }
q_is() { test "$(q "$1")" = "$2"; }
q_at_least() { test "$(q "$1")" -ge "$2"; }
state_of() { "$GUST" tasks state "$1" "$2" "$3" 2>/dev/null; }
# trigger DAG RUN_ID [OPTION...]: run it here (--local), at most 60 s; output in $T/DAG.RUN_ID.out
trigger() { timeout 60 "$GUST" dags trigger "$1" --local -r "$2" "${@:3}" >"$T/$1.$2.out" 2>&1; }
# instances DAG TASK RUN: "map_index:state ..." of every row of the task, by map_index
instances() {
    q "select string_agg(map_index || ':' || coalesce(state, 'none'), ' ' order by map_index)
       from task_instance where dag_id = '$1' and task_id = '$2' and run_id = '$3'"
}
# xcoms DAG TASK RUN: "map_index:value ..." of the task's return_value XComs, by map_index
xcoms() {
    q "select string_agg(map_index || ':' || (value #>> '{}'), ' ' order by map_index)
       from xcom where dag_id = '$1' and task_id = '$2' and run_id = '$3' and key = 'return_value'"
}
# jnorm FILE: the JSON in FILE re-printed compactly by Python, or what the file holds
jnorm() {
    /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$1" \
        2>/dev/null || cat "$1" 2>/dev/null
}
show_out() { sed 's/^/#   /' "$T/$1.$2.out" | tail -n 15; }

errs=$("$GUST" dags list-import-errors 2>&1)
check_eq "the mapping DAGs load without import errors" 0 $?
[ "$errs" = "${errs#*No import errors}" ] && printf '%s\n' "$errs" | sed 's/^/#   /' | head -n 20

# --- a literal list; partial; XCom per instance and collected; the CLI
trigger map_literal lit1
check_eq "a run with literal expands succeeds" success "$(run_state map_literal lit1)"
[ "$(run_state map_literal lit1)" = success ] || show_out map_literal lit1
check_eq "three instances of the literal expand, map_index 0..2" "0:success 1:success 2:success" \
    "$(instances map_literal write lit1)"
check_eq "each instance ran its own value" "a b c" "$(cat "$T/lit.0" "$T/lit.1" "$T/lit.2" 2>/dev/null | xargs)"
check_eq "each instance pushed its own XCom under its map_index" "0:item-A 1:item-B 2:item-C" \
    "$(xcoms map_literal write lit1)"
check_eq "partial's command with an expanded env: one instance per env" "hello x|hello y" \
    "$(cat "$T/greet.x" 2>/dev/null)|$(cat "$T/greet.y" 2>/dev/null)"
check_eq "ti.xcom_pull of a mapped task: every instance's value in map_index order" \
    '["item-A", "item-B", "item-C"]' "$(jnorm "$T/lit.all")"
check_eq "ti.xcom_pull(..., map_indexes=2): one instance's value" item-C "$(cat "$T/lit.one" 2>/dev/null)"
check_eq "an unmapped task keeps map_index -1" "-1:success" "$(instances map_literal collect lit1)"

json=$("$GUST" tasks states-for-dag-run map_literal lit1 -o json 2>&1)
check_eq "states-for-dag-run -o json: a map_index per instance" \
    "collect:-1 greet:0 greet:1 write:0 write:1 write:2" \
    "$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys
print(" ".join(sorted("%s:%s" % (r["task_id"], r["map_index"]) for r in json.load(sys.stdin))))' 2>&1)"
check_contains "states-for-dag-run's table has a map_index column" map_index \
    "$("$GUST" tasks states-for-dag-run map_literal lit1 2>&1 | head -n 3)"
check_eq "tasks state --map-index 1" success "$("$GUST" tasks state map_literal write lit1 --map-index 1 2>&1)"
check_fails "tasks state of an instance that does not exist fails" \
    "$GUST" tasks state map_literal write lit1 --map-index 3
check "an instance's log is at .../task_id=T/map_index=N/attempt=K.log" \
    test -f "$GUST_LOGS_FOLDER/dag_id=map_literal/run_id=lit1/task_id=write/map_index=1/attempt=1.log"
check "an unmapped task's log has no map_index folder (Airflow's layout)" \
    test -f "$GUST_LOGS_FOLDER/dag_id=map_literal/run_id=lit1/task_id=collect/attempt=1.log"
log1=$("$GUST" tasks logs map_literal write lit1 --map-index 1 2>&1)
check_contains "tasks logs --map-index 1 prints that instance's log" item-B "$log1"
check_eq "and no other instance's" 0 "$(printf '%s\n' "$log1" | grep -c 'item-[AC]')"
out=$(timeout 60 "$GUST" tasks test map_literal write --map-index 1 2>&1)
check_contains "tasks test --map-index 1 runs that instance" item-B "$out"
check_eq "and that one only" 0 "$(printf '%s\n' "$out" | grep -c 'item-[AC]')"

# --- over a Bash task's last stdout line, a KPO's return.json, a mapping; the cross product
trigger map_bash_xcom bx1
check_eq "expand over a Bash task's XCom: the run succeeds" success "$(run_state map_bash_xcom bx1)"
check_eq "one instance per item of its last stdout line" "0:success 1:success" "$(instances map_bash_xcom use bx1)"
check_eq "each instance got its env object" "x|y z" "$(cat "$T/bash.x" 2>/dev/null)|$(cat "$T/bash.y z" 2>/dev/null)"

trigger map_kpo_xcom kx1
check_eq "expand over a KPO's return.json: the run succeeds" success "$(run_state map_kpo_xcom kx1)"
check_eq "one instance per item of the list" "0:success 1:success 2:success" "$(instances map_kpo_xcom use kx1)"
check_eq "each instance got its list as argv elements" "k1||k2|two words||k3|" \
    "$(cat "$T/kpo.k1" 2>/dev/null)|$(cat "$T/kpo.k2" 2>/dev/null)|$(cat "$T/kpo.k3" 2>/dev/null)"

trigger map_dict dc1
check_eq "a mapping maps as (key, value) pairs: one instance per key" "0:success 1:success" \
    "$(instances map_dict use dc1)"
check_eq "each instance got [key, value]" "k1=v1 k2=v2" "$(cat "$T/dict.k1" 2>/dev/null) $(cat "$T/dict.k2" 2>/dev/null)"

trigger map_kwargs kw1
check_eq "expand_kwargs: one instance per object, each object its arguments" "u1 v2" \
    "$(cat "$T/kwargs.u" 2>/dev/null) $(cat "$T/kwargs.v" 2>/dev/null)"

trigger map_cross cr1
check_eq "the cross product's run succeeds" success "$(run_state map_cross cr1)"
check_eq "two expanded arguments of 2 and 3 items: 6 instances" "6 6" \
    "$(q "select count(*) || ' ' || count(*) filter (where state = 'success') from task_instance
          where run_id = 'cr1' and task_id = 'pair'")"
check_eq "every pair ran" "a1 a2 a3 b1 b2 b3" \
    "$(cd "$T" && printf '%s\n' cross.* | sed 's/^cross\.//' | sort | xargs)"
check_eq "the last expanded argument varies fastest (map_index order)" \
    "0:a1 1:a2 2:a3 3:b1 4:b2 5:b3" "$(xcoms map_cross pair cr1)"

# --- an empty list, too many items, not a list
trigger map_empty em1
check_eq "an empty list skips the mapped task (its one unexpanded row)" "-1:skipped" \
    "$(instances map_empty mapped em1)"
check "no instance ran" test ! -e "$T/empty.mapped"
check_eq "an all_success downstream of it is skipped" skipped "$(state_of map_empty after_success em1)"
check "and never ran" test ! -e "$T/empty.after_success"
check_eq "an all_done downstream of it runs" success "$(state_of map_empty after_done em1)"
check_eq "the run succeeds" success "$(run_state map_empty em1)"

trigger map_length len1
check_eq "1025 items: the mapped task fails, unexpanded" "-1:failed" "$(instances map_length mapped len1)"
check_eq "and the run fails" failed "$(run_state map_length len1)"
audit=$(q "select string_agg(event || ' ' || coalesce(extra, ''), E'\n' order by id) from log
           where dag_id = 'map_length' and run_id = 'len1'")
check_contains "the audit log gives the limit" 1024 "$audit"
check_contains "naming max_map_length" max_map_length "$audit"
check_contains "and the count it got" 1025 "$audit"
check_contains "the trigger's output says it too" max_map_length "$(cat "$T/map_length.len1.out")"
GUST_MAX_MAP_LENGTH=2 trigger map_length len2 -c '{"n": 3}'
check_eq "GUST_MAX_MAP_LENGTH=2: 3 items fail" "-1:failed" "$(instances map_length mapped len2)"
AIRFLOW__CORE__MAX_MAP_LENGTH=3 trigger map_length len3 -c '{"n": 3}'
check_eq "AIRFLOW__CORE__MAX_MAP_LENGTH=3: 3 items run" "0:success 1:success 2:success" \
    "$(instances map_length mapped len3)"

trigger map_notlist nl1
check_eq "an XCom that is not a list fails the mapped task" "-1:failed" "$(instances map_notlist mapped nl1)"
msg="$(cat "$T/map_notlist.nl1.out") $(q "select string_agg(coalesce(extra, ''), ' ') from log where run_id = 'nl1'")"
check_contains "the message names the task" "'mapped'" "$msg"
check_contains "and the type it got" string "$msg"

# --- one instance retries while the others succeed; the downstream waits for all
trigger map_retry rt1
check_eq "the run with a retried instance succeeds" success "$(run_state map_retry rt1)"
check_eq "every instance ends success" "0:success 1:success 2:success" "$(instances map_retry work rt1)"
check_eq "only instance 1 took a second try" "0:1 1:2 2:1" \
    "$(q "select string_agg(map_index || ':' || try_number, ' ' order by map_index) from task_instance
          where run_id = 'rt1' and task_id = 'work'")"
check_eq "its first try is in the history, up_for_retry" "1:1:up_for_retry" \
    "$(q "select string_agg(map_index || ':' || try_number || ':' || state, ' ') from task_instance_history
          where run_id = 'rt1' and task_id = 'work' and state <> 'success'")"
check_eq "the all_success downstream started after all three instances succeeded" 3 \
    "$(tr -d ' ' <"$T/retry.after" 2>/dev/null)"

# --- timeouts and failures per instance; trigger rules see every instance
trigger map_partial_failure pf1
check_eq "one instance succeeds, one times out, one fails: each on its own" \
    "0:success 1:failed 2:failed" "$(instances map_partial_failure work pf1)"
check_contains "the timed-out instance's log says so" "timed out" \
    "$("$GUST" tasks logs map_partial_failure work pf1 --map-index 1 2>&1)"
check_eq "all_success after a partly failed mapped task: upstream_failed" upstream_failed \
    "$(state_of map_partial_failure after_success pf1)"
check_eq "one_success: runs" success "$(state_of map_partial_failure after_one_success pf1)"
check_eq "all_done: runs" success "$(state_of map_partial_failure after_done pf1)"

# --- clear re-expands from the upstream's current XCom
printf '%s\n' '[["p"], ["q"]]' >"$T/clear.items"
trigger map_clear cl1
check_eq "two items: two instances" "0:success 1:success" "$(instances map_clear mapped cl1)"
printf '%s\n' '[["p"], ["q"], ["r"], ["s"]]' >"$T/clear.items"
"$GUST" tasks clear map_clear -t '^list$' -d --run-id cl1 -y >"$T/clear1.out" 2>&1
check_eq "clear -d resets the mapped instances to none" "0:none 1:none" "$(instances map_clear mapped cl1)"
timeout 120 "$GUST" scheduler --once >"$T/once1.log" 2>&1
check_eq "the cleared run succeeds again" success "$(run_state map_clear cl1)"
check_eq "more items: the new indexes are added" "0:success 1:success 2:success 3:success" \
    "$(instances map_clear mapped cl1)"
check_eq "each instance ran the new list's item" "0:p 1:q 2:r 3:s" "$(xcoms map_clear mapped cl1)"
printf '%s\n' '[["z"]]' >"$T/clear.items"
"$GUST" tasks clear map_clear -t '^list$' -d --run-id cl1 -y >"$T/clear2.out" 2>&1
timeout 120 "$GUST" scheduler --once >"$T/once2.log" 2>&1
check_eq "fewer items: the indexes past the new length are removed" \
    "0:success 1:removed 2:removed 3:removed" "$(instances map_clear mapped cl1)"
check_eq "a run with removed instances succeeds" success "$(run_state map_clear cl1)"
check_eq "instance 0 ran the new item" "0:z" \
    "$(q "select string_agg(map_index || ':' || (value #>> '{}'), ' ') from xcom
          where run_id = 'cl1' and task_id = 'mapped' and map_index = 0")"
tries0=$(q "select try_number from task_instance where run_id = 'cl1' and task_id = 'mapped' and map_index = 0")
"$GUST" tasks clear map_clear -t '^mapped$' --run-id cl1 --map-index 0 -y >"$T/clear3.out" 2>&1
check_eq "clear --map-index 0 clears that instance only" "0:none 1:removed 2:removed 3:removed" \
    "$(instances map_clear mapped cl1)"
timeout 120 "$GUST" scheduler --once >"$T/once3.log" 2>&1
check_eq "and it runs again, alone" "0:success 1:removed 2:removed 3:removed" "$(instances map_clear mapped cl1)"
check_eq "with its next try" $((tries0 + 1)) \
    "$(q "select try_number from task_instance where run_id = 'cl1' and task_id = 'mapped' and map_index = 0")"
check_eq "the upstream did not run a fourth time" 3 \
    "$(q "select try_number from task_instance where run_id = 'cl1' and task_id = 'list'")"

# --- one scheduler across a clear: the mapped task binds the upstream's new XCom, never the
# list it read (and keeps) from before; the run stays running meanwhile (`hold`)
printf '%s\n' '[["p"], ["q"]]' >"$T/live.items"
GUST_PARALLELISM=4 "$GUST" scheduler >"$T/live_sched.log" 2>&1 &
live=$!
gust_kill_at_exit "$live"
wait_for 20 "$GUST" jobs check --job-type scheduler
"$GUST" dags trigger map_live -r live1 >/dev/null
live_xcoms() { test "$(xcoms map_live mapped live1)" = "$1"; }
wait_for 30 live_xcoms "0:p 1:q"
check_eq "a long-lived scheduler: the first list's items" "0:p 1:q" "$(xcoms map_live mapped live1)"
printf '%s\n' '[["x"], ["y"], ["z"]]' >"$T/live.items"
"$GUST" tasks clear map_live -t '^list$' -d --run-id live1 -y >"$T/live_clear.out" 2>&1
wait_for 30 live_xcoms "0:x 1:y 2:z"
check_eq "after the clear, the same scheduler binds the new list's items" "0:x 1:y 2:z" \
    "$(xcoms map_live mapped live1)"
check_eq "the run was not over meanwhile" running "$(run_state map_live live1)"
touch "$T/live.go"
wait_for 30 run_is map_live live1 success
check_eq "the run ends when hold does" success "$(run_state map_live live1)"
kill "$live"
wait "$live" 2>/dev/null

# --- kill -9 of the scheduler while 500 instances expand and run
n=${MAP_CHAOS_INSTANCES:-500}
: >"$T/overlaps"
sched=
start_sched() {
    GUST_PARALLELISM=8 "$GUST" scheduler >>"$T/chaos_sched.log" 2>&1 &
    sched=$!
    gust_kill_at_exit "$sched"
}
kill_sched() { # kill -9 the scheduler and start another
    kill -9 "$sched" 2>/dev/null
    wait "$sched" 2>/dev/null
    start_sched
}
done_count="select count(*) from task_instance where run_id = 'chaos1' and task_id = 'work' and state = 'success'"
start_sched
wait_for 20 "$GUST" jobs check --job-type scheduler
"$GUST" dags trigger map_chaos -r chaos1 -c "{\"n\": $n}" >/dev/null
chaos_ended() { case $(run_state map_chaos chaos1) in success | failed | "") return 0 ;; esac; return 1; } # "": no run
# k instances done, or the run over (then there is nothing left to kill during)
progress() { q_at_least "$done_count" "$1" || chaos_ended; }
wait_for 60 q_is "select count(*) from task_instance where run_id = 'chaos1' and task_id = 'list'
                  and state in ('success', 'failed', 'upstream_failed', 'skipped')" 1
kill_sched # right at the expansion
kills=1
check_eq "the list task of the chaos run succeeds" success "$(state_of map_chaos list chaos1)"
for k in $((n / 5)) $((2 * n / 5)) $((3 * n / 5)) $((4 * n / 5)); do
    wait_for 120 progress "$k" && ! chaos_ended && kill_sched && kills=$((kills + 1))
done
wait_for 240 chaos_ended
check_eq "the run completes despite $kills kill -9s of the scheduler" success "$(run_state map_chaos chaos1)"
check_eq "$n instances, map_index 0..$((n - 1)), all success" "$n 0 $((n - 1)) $n" \
    "$(q "select count(*) || ' ' || min(map_index) || ' ' || max(map_index) || ' ' ||
          count(*) filter (where state = 'success') from task_instance
          where run_id = 'chaos1' and task_id = 'work'")"
tries="(select map_index, try_number, state, start_date, end_date from task_instance_history
         where run_id = 'chaos1' and task_id = 'work'
        union
        select map_index, try_number, state, start_date, end_date from task_instance t
         where run_id = 'chaos1' and task_id = 'work' and try_number > 0
           and not exists (select 1 from task_instance_history h where h.run_id = t.run_id
                           and h.task_id = t.task_id and h.map_index = t.map_index
                           and h.try_number = t.try_number))"
check_eq "each instance has exactly one successful try" "$n" \
    "$(q "select count(*) from (select map_index from $tries x where state = 'success'
          group by map_index having count(*) = 1) y")"
check_eq "no try of an instance started before its previous try ended (history)" 0 \
    "$(q "select count(*) from (select start_date, lag(end_date) over w as prev_end,
          lag(try_number) over w as prev_try from $tries x
          window w as (partition by map_index order by try_number)) y
          where prev_try is not null and (prev_end is null or start_date < prev_end)")"
check_eq "no try ran while another try of its instance held the lock" "" "$(cat "$T/overlaps")"
echo "# $(q "select count(*) from task_instance where run_id = 'chaos1' and task_id = 'work' and try_number > 1") instances needed more than one try"
kill -TERM "$sched" 2>/dev/null
wait_for 40 sh -c "! kill -0 $sched 2>/dev/null"

# --- the example DAG: one ANALYZE per bronze partition of the last week
check "the shipped DAG folder (with its mapped DAG) loads without import errors" \
    "$GUST" dags list-import-errors -S "$GUST_SRC/dags"
# --- per-run limit, instance names, values from an XCom are not templates
trigger map_limits lim1
check_eq "the limits run succeeds" success "$(run_state map_limits lim1)"
check_eq "max_active_tis_per_dagrun 2: never more than two instances of slow at once" 1 \
    "$(q "select (max(c) between 1 and 2)::int from (select (select count(*) from task_instance b
          where b.dag_id = a.dag_id and b.run_id = a.run_id and b.task_id = a.task_id
          and b.start_date <= a.start_date and b.end_date > a.start_date) c
          from task_instance a where a.run_id = 'lim1' and a.task_id = 'slow') x")"
check_eq "and all five ran" "0:success 1:success 2:success 3:success 4:success" \
    "$(instances map_limits slow lim1)"
check_eq "an XCom value with template braces reaches the instance as written" \
    '{{ 6 * 7 }}|b' "$(cat "$T/esc.0" 2>/dev/null)|$(cat "$T/esc.1" 2>/dev/null)"
check_eq "map_index_template names each instance (rendered_map_index)" "shown-0 shown-1" \
    "$(q "select string_agg(rendered_map_index, ' ' order by map_index) from task_instance
          where run_id = 'lim1' and task_id = 'show'")"
check_contains "states-for-dag-run shows the instance's name" '"rendered_map_index": "shown-1"' \
    "$("$GUST" tasks states-for-dag-run map_limits lim1 -o json 2>&1)"

WH=gust_mapping_wh
pg_createdb "$WH" >/dev/null || { echo "not ok - create the warehouse database"; exit 1; }
check "gust db migrate on the warehouse database" env PGDATABASE="$WH" "$GUST" db migrate
export AIRFLOW_CONN_GITHUB_EVENTS_DB="postgresql://$PGUSER@127.0.0.1:$PGPORT/$WH"
wh() { psql -X -q -At -d "$WH" -v ON_ERROR_STOP=1 -c "$1"; }
# twelve day partitions: today - 10 .. today + 1 (UTC)
wh "select bronze.ensure_partition((now() at time zone 'UTC')::date + k) from generate_series(-10, 1) k" >/dev/null
mkdir -p "$T/ghdags"
# a copy with retry_delay 1 s instead of 600 s, so that a failure shows in seconds
sed -E 's/^(    retry_delay:) [0-9]+$/\1 1/' "$GUST_SRC/dags/github_events_maintenance.yaml" \
    >"$T/ghdags/github_events_maintenance.yaml"
GUST_DAGS_FOLDER=$T/ghdags trigger maintenance_bronze_statistics st1
check_eq "maintenance_bronze_statistics succeeds" success \
    "$(GUST_DAGS_FOLDER=$T/ghdags run_state maintenance_bronze_statistics st1)"
[ "$(run_state maintenance_bronze_statistics st1)" = success ] || show_out maintenance_bronze_statistics st1
check_eq "one ANALYZE instance per partition of today and the 7 days before" "8 8" \
    "$(q "select count(*) || ' ' || count(*) filter (where state = 'success') from task_instance
          where run_id = 'st1' and task_id = 'analyze_partition'")"
expected=$(wh "select string_agg(format('ANALYZE %I.%I', 'bronze', 'github_events_' || to_char(d, 'YYYYMMDD')), ',' order by d)
               from generate_series((now() at time zone 'UTC')::date - 7, (now() at time zone 'UTC')::date, interval '1 day') d")
check_eq "the listed statements, in day order" "$expected" \
    "$(q "select string_agg(r.e #>> '{0}', ',' order by r.i) from xcom x,
          jsonb_array_elements(x.value) with ordinality as r(e, i)
          where x.run_id = 'st1' and x.task_id = 'list_partitions' and x.key = 'return_value'")"
check_eq "exactly those partitions were analyzed (reltuples is -1 until an ANALYZE)" \
    "$(wh "select string_agg('github_events_' || to_char(d, 'YYYYMMDD'), ',' order by d)
           from generate_series((now() at time zone 'UTC')::date - 7, (now() at time zone 'UTC')::date, interval '1 day') d")" \
    "$(wh "select string_agg(c.relname, ',' order by c.relname) from pg_inherits i
           join pg_class c on c.oid = i.inhrelid
           where i.inhparent = 'bronze.github_events'::regclass and c.reltuples >= 0")"

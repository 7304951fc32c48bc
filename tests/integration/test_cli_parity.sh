#!/usr/bin/env bash
# The verbs scripts written for Airflow's CLI call, against a real PostgreSQL: their flags,
# output and exit codes (0 ok, 1 failure, 2 usage): dags list -o yaml|plain --columns,
# trigger -o json, a logical date where a run id is taken, list-runs filters (-s is the
# start date), details, delete, pause --treat-dag-id-as-regex, variables get --default -j,
# import/export, config get-value/list, db clean (retention) and db reset.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 100
gust_tmpdir tmp
pg_gust_db gust_cli_parity
export GUST_LOGS_FOLDER=$tmp/logs
q() { psql -X -q -At -c "$1"; }

mkdir -p "$tmp/dags"
cat >"$tmp/dags/parity.yaml" <<'YAML'
parity_a:
  schedule: "@daily"
  start_date: 2024-01-01
  description: the first
  tags: [team_x, nightly]
  tasks:
    - task_id: hello
      operator: airflow.operators.bash.BashOperator
      bash_command: echo hello
parity_b:
  schedule: None
  tasks:
    - task_id: t
      operator: airflow.operators.bash.BashOperator
      bash_command: echo b
other_c:
  schedule: None
  tasks:
    - task_id: t
      operator: airflow.operators.bash.BashOperator
      bash_command: echo c
YAML
export GUST_DAGS_FOLDER=$tmp/dags
"$GUST" dags reserialize >/dev/null

# --- dags list -o yaml|plain --columns
out=$("$GUST" dags list -o plain --columns dag_id,owners)
check_eq "dags list -o plain --columns: those columns, tab-separated, no header" \
    "$(printf 'other_c\tairflow\nparity_a\tairflow\nparity_b\tairflow')" "$out"
out=$("$GUST" dags list -o yaml --columns dag_id,tags)
n=$(printf '%s' "$out" | /usr/bin/python3 -c 'import sys,yaml; d=yaml.safe_load(sys.stdin); print(len(d), d[1]["tags"])')
check_eq "dags list -o yaml is YAML a parser reads" "3 team_x,nightly" "$n"
keys=$("$GUST" dags list -o json --columns dag_id,owners | /usr/bin/python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)[0]))')
check_eq "dags list -o json --columns: only those keys" "['dag_id', 'owners']" "$keys"
"$GUST" dags list --columns dag_id,nope >/dev/null 2>"$tmp/err"
check_eq "an unknown --columns name is a usage error" 2 $?
check_contains "naming it" "nope" "$(cat "$tmp/err")"

# --- trigger -o json, then the state verbs by logical date
out=$("$GUST" dags trigger parity_a -l 2024-02-01T00:00:00Z -r r1 -o json)
check_eq "trigger -o json exits 0" 0 $?
f=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["dag_run_id"], r["logical_date"], r["run_type"], r["state"])')
check_eq "trigger -o json prints the run as Airflow does" "r1 2024-02-01T00:00:00+00:00 manual queued" "$f"
"$GUST" dags trigger parity_a -l 2024-02-01T00:00:00Z -r r1 -o json >/dev/null 2>&1
check_eq "the same run id again fails (exit 1)" 1 $?
"$GUST" dags trigger parity_a -l 2024-02-02T00:00:00Z -r r2 --local >/dev/null 2>&1
check_eq "a local run succeeds" 0 $?
"$GUST" dags trigger parity_a -l 2024-03-01T00:00:00Z -r r3 --local >/dev/null 2>&1
q "update dag_run set run_type = 'backfill' where run_id = 'r3'"
check_eq "dags state by logical date" success "$("$GUST" dags state parity_a 2024-02-02T00:00:00+00:00)"
check_eq "dags state by logical date with an offset" success "$("$GUST" dags state parity_a 2024-02-02T07:00:00+07:00)"
check_eq "dags state by run id still works" queued "$("$GUST" dags state parity_a r1)"
"$GUST" dags state parity_a 2030-01-01 >/dev/null 2>"$tmp/err"
check_eq "a date with no run exits 1" 1 $?
check_contains "naming the DAG and the date" "parity_a with run_id or logical_date of '2030-01-01'" "$(cat "$tmp/err")"
check_eq "tasks state by logical date" success "$("$GUST" tasks state parity_a hello 2024-02-02)"
out=$("$GUST" tasks states-for-dag-run parity_a 2024-02-02 -o plain | cut -f1,2)
check_eq "tasks states-for-dag-run by logical date" "$(printf 'hello\tsuccess')" "$out"

# --- list-runs: -s/--start-date, -e/--end-date, --state, --limit, --no-backfill
ids() { "$GUST" dags list-runs parity_a -o plain "$@" | cut -f2 | tr '\n' ' '; }
check_eq "list-runs: every run, newest first" "r3 r2 r1 " "$(ids)"
check_eq "list-runs -s is the start date (Airflow's meaning)" "r3 r2 " "$(ids -s 2024-02-02)"
check_eq "list-runs -e: a date alone covers its day" "r2 r1 " "$(ids -e 2024-02-02)"
check_eq "list-runs --start-date --end-date" "r2 " "$(ids --start-date 2024-02-02 --end-date 2024-02-28)"
check_eq "list-runs --state" "r1 " "$(ids --state queued)"
check_eq "list-runs --limit" "r3 " "$(ids --limit 1)"
check_eq "list-runs --no-backfill" "r2 r1 " "$(ids --no-backfill)"
"$GUST" dags list-runs parity_a --limit 0 >/dev/null 2>&1
check_eq "list-runs --limit 0 is a usage error" 2 $?
"$GUST" dags list-runs parity_a -s soon >/dev/null 2>&1
check_eq "list-runs with a bad date is a usage error" 2 $?
"$GUST" dags list-runs parity_a --state sleeping >/dev/null 2>&1
check_eq "list-runs with an unknown state is a usage error" 2 $?

# --- details
out=$("$GUST" dags details parity_a -o json)
f=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(d["dag_id"], d["timetable_summary"], d["description"], d["tags"], d["is_paused"])')
check_eq "dags details -o json" "parity_a @daily the first ['team_x', 'nightly'] False" "$f"
out=$("$GUST" dags details parity_a)
check_contains "dags details as a table: one property a line" "timetable_summary  @daily" "$out"
"$GUST" dags details no_such_dag >/dev/null 2>&1
check_eq "details of an unknown DAG exits 1" 1 $?

# --- pause --treat-dag-id-as-regex
out=$("$GUST" dags pause '^parity_' --treat-dag-id-as-regex -y 2>/dev/null)
check_eq "pause by regex exits 0" 0 $?
check_eq "pause by regex pauses the matching DAGs only" "other_c:false parity_a:true parity_b:true " \
    "$(q "select dag_id || ':' || is_paused from dag order by dag_id" | tr '\n' ' ')"
check_contains "and names them" "Dag: parity_b, paused: True" "$out"
"$GUST" dags unpause 'parity_' --treat-dag-id-as-regex </dev/null >/dev/null 2>"$tmp/err"
check_eq "by regex without -y and without a terminal: refused (exit 2)" 2 $?
check_eq "and nothing changed" 2 "$(q "select count(*) from dag where is_paused")"
out=$("$GUST" dags unpause 'zzz' --treat-dag-id-as-regex -y)
check_eq "no match: says so (unpause looks for paused DAGs)" "No paused DAGs were found" "$out"
"$GUST" dags unpause 'parity_' --treat-dag-id-as-regex -y >/dev/null 2>&1
check_eq "unpause by regex" 0 "$(q "select count(*) from dag where is_paused")"

# --- variables get --default -j, import, export
"$GUST" variables set cfg '{"a": [1, 2]}' >/dev/null
check_eq "variables get -j prints the JSON, compact" '{"a":[1,2]}' "$("$GUST" variables get cfg -j)"
check_eq "variables get --default when unset" fallback "$("$GUST" variables get nope --default fallback)"
"$GUST" variables get nope >/dev/null 2>"$tmp/err"
check_eq "variables get of an unset key without --default exits 1" 1 $?
check_contains "Airflow's message" "Variable nope does not exist" "$(cat "$tmp/err")"
"$GUST" variables set plain 'not json' >/dev/null
"$GUST" variables get plain -j >/dev/null 2>&1
check_eq "variables get -j of a value that is not JSON exits 1" 1 $?
printf '{"k1": "v1", "k2": {"x": 1}, "cfg": "new"}' >"$tmp/vars.json"
out=$("$GUST" variables import "$tmp/vars.json" -a skip)
check_eq "variables import -a skip" "2 of 3 variables successfully updated." "$out"
check_eq "a skipped key keeps its value" '{"a": [1, 2]}' "$("$GUST" variables get cfg)"
check_eq "a JSON value is stored as its JSON text" '{"x":1}' "$("$GUST" variables get k2)"
"$GUST" variables import "$tmp/vars.json" -a fail >/dev/null 2>&1
check_eq "variables import -a fail on an existing key exits 1" 1 $?
printf '[1, 2]' >"$tmp/bad.json"
"$GUST" variables import "$tmp/bad.json" >/dev/null 2>&1
check_eq "variables import of a file that is not an object exits 1" 1 $?
out=$("$GUST" variables export "$tmp/out.json")
check_contains "variables export says how many" "4 variables successfully exported" "$out"
f=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["cfg"], d["k2"], d["plain"])' "$tmp/out.json")
check_eq "export writes JSON values as JSON, others as strings" "{'a': [1, 2]} {'x': 1} not json" "$f"
check_eq "the export file is private (0600)" 600 "$(stat -c %a "$tmp/out.json")"

# --- config
check_eq "config get-value core dags_folder" "$tmp/dags" "$("$GUST" config get-value core dags_folder)"
check_eq "config get-value logging base_log_folder" "$tmp/logs" "$("$GUST" config get-value logging base_log_folder)"
"$GUST" config get-value core no_such_key >/dev/null 2>"$tmp/err"
check_eq "an unknown key exits 1" 1 $?
check_contains "Airflow's message" "The option [core/no_such_key] is not found in config." "$(cat "$tmp/err")"
out=$(AIRFLOW__CORE__FERNET_KEY=sekrit "$GUST" config list)
check_contains "config list shows sections as Airflow's" "[scheduler]" "$out"
check_eq "config list hides the Fernet key" 0 "$(printf '%s' "$out" | grep -c sekrit)"

# --- db clean: old finished runs go with their rows and log folders; running ones stay
"$GUST" dags trigger parity_b -r old_ok -l 2020-01-01 --local >/dev/null 2>&1
"$GUST" dags trigger parity_b -r old_running -l 2020-01-02 >/dev/null
q "update dag_run set start_date = '2020-01-02', state = 'running' where run_id = 'old_running'"
q "update dag_run set start_date = '2020-01-01', end_date = '2020-01-01' where run_id = 'old_ok'"
q "insert into log (event, dttm) values ('old', '2019-01-01')"
check "the old run has a log folder" test -d "$tmp/logs/dag_id=parity_b/run_id=old_ok"
out=$("$GUST" db clean --clean-before-timestamp 2021-01-01 --dry-run)
check_contains "db clean --dry-run counts" "dag_run                1 row(s) to delete" "$out"
check_eq "--dry-run deletes nothing" 1 "$(q "select count(*) from dag_run where run_id = 'old_ok'")"
"$GUST" db clean --clean-before-timestamp 2021-01-01 </dev/null >/dev/null 2>&1
check_eq "db clean without -y and without a terminal is refused (exit 2)" 2 $?
"$GUST" db clean --clean-before-timestamp 2021-01-01 --tables bogus -y >/dev/null 2>"$tmp/err"
check_eq "no table gust cleans in --tables is a usage error" 2 $?
out=$("$GUST" db clean --clean-before-timestamp 2021-01-01 -t dag_run,log,sla_miss --skip-archive -y 2>"$tmp/err")
check_eq "db clean exits 0" 0 $?
check_contains "a table gust has not got (Airflow's sla_miss) is skipped with a warning" "sla_miss" "$(cat "$tmp/err")"
check_eq "the old finished run is gone, with its task instances" "0|0" \
    "$(q "select (select count(*) from dag_run where run_id = 'old_ok'), (select count(*) from task_instance where run_id = 'old_ok')")"
check_eq "the running run stays" 1 "$(q "select count(*) from dag_run where run_id = 'old_running'")"
check_eq "newer runs stay" 3 "$(q "select count(*) from dag_run where dag_id = 'parity_a'")"
check_eq "the old audit row is gone" 0 "$(q "select count(*) from log where event = 'old'")"
check_fails "the old run's log folder is gone" test -e "$tmp/logs/dag_id=parity_b/run_id=old_ok"
q "insert into asset (name, uri) values ('old_asset', 's3://parity/old')"
q "insert into asset_event (asset_id, timestamp) select id, ts from asset, (values
   (timestamptz '2020-06-01'), (timestamptz '2030-01-01')) v(ts) where uri = 's3://parity/old'"
out=$("$GUST" db clean --clean-before-timestamp 2021-01-01 -t asset_event,task_reschedule -y 2>&1)
check_eq "db clean of asset_event: the old event goes, the newer one stays" "0|1" \
    "$(q "select count(*) filter (where timestamp < '2021-01-01'), count(*) filter (where timestamp > '2021-01-01')
          from asset_event")"
check_contains "and task_reschedule is a table it cleans (a count, no warning)" "task_reschedule        0 row(s)" "$out"

# --- dags delete
out=$("$GUST" dags delete parity_a -y)
check_eq "dags delete exits 0" 0 $?
check_eq "dags delete removes the DAG's runs and row" "0|0" \
    "$(q "select (select count(*) from dag_run where dag_id = 'parity_a'), (select count(*) from dag where dag_id = 'parity_a')")"
"$GUST" dags delete parity_a -y >/dev/null 2>&1
check_eq "deleting it again exits 1 (not found)" 1 $?

# --- db reset
"$GUST" db reset </dev/null >/dev/null 2>&1
check_eq "db reset without -y and without a terminal is refused" 2 $?
out=$("$GUST" db reset -y)
check_eq "db reset -y exits 0" 0 $?
check_eq "the data is gone, the schema is back" "0|0" \
    "$(q "select (select count(*) from dag_run), (select count(*) from variable)")"
check "db check says the schema is up to date" "$GUST" db check

# --- after the reset: dags test, backfill create, show-dependencies, tasks clear's filters
cat >"$tmp/dags/chain.yaml" <<'YAML'
chain:
  schedule: "@daily"
  start_date: 2024-01-01
  tasks:
    - task_id: a
      operator: airflow.operators.bash.BashOperator
      bash_command: echo a
    - task_id: b
      operator: airflow.operators.bash.BashOperator
      bash_command: echo b
      dependencies: [a]
    - task_id: c
      operator: airflow.operators.bash.BashOperator
      bash_command: echo c
      dependencies: [b]
kicker:
  schedule: None
  tasks:
    - task_id: kick
      operator: airflow.operators.trigger_dagrun.TriggerDagRunOperator
      trigger_dag_id: chain
YAML
"$GUST" dags reserialize >/dev/null
"$GUST" dags test chain 2024-05-01 >/dev/null 2>&1
check_eq "dags test runs the DAG here (exit 0)" 0 $?
check_eq "dags test records a manual run of that logical date" "manual|success" \
    "$(q "select run_type || '|' || state from dag_run where dag_id = 'chain' and logical_date = '2024-05-01T00:00:00Z'")"
"$GUST" dags test chain 2024-05-01 >/dev/null 2>&1
check_eq "dags test again at the same date clears and reruns it (exit 0)" "0 1" \
    "$? $(q "select count(*) from dag_run where dag_id = 'chain'")"
out=$("$GUST" backfill create --dag-id chain --from-date 2024-01-01 --to-date 2024-01-03 --dry-run)
check_contains "backfill create --dry-run lists the ticks" "backfill__2024-01-03T00:00:00+00:00" "$out"
check_eq "--dry-run creates nothing" 1 "$(q "select count(*) from dag_run where dag_id = 'chain'")"
"$GUST" backfill create --dag-id chain --from-date 2024-01-01 --to-date 2024-01-03 >/dev/null 2>&1
check_eq "backfill create runs every tick here (exit 0)" "0 3" \
    "$? $(q "select count(*) from dag_run where dag_id = 'chain' and run_type = 'backfill' and state = 'success'")"
"$GUST" backfill create --dag-id chain --from-date 2024-01-01 --to-date 2024-01-02 \
    --reprocess-behavior sometimes >/dev/null 2>&1
check_eq "an unknown --reprocess-behavior is a usage error" 2 $?
"$GUST" backfill create --from-date 2024-01-01 --to-date 2024-01-02 >/dev/null 2>&1
check_eq "backfill create without --dag-id is a usage error" 2 $?
check_eq "show-dependencies --format text" "kicker -> chain (trigger: kick)" \
    "$("$GUST" dags show-dependencies --format text)"
check_contains "show-dependencies is DOT by default" '"dag:kicker" -> "trigger:kicker:chain:kick" -> "dag:chain";' \
    "$("$GUST" dags show-dependencies)"

# tasks clear: -s/-e pick runs by logical date, -d/-u add the relatives of -t's matches
cleared() { q "select string_agg(run_id || ':' || task_id, ' ' order by run_id, task_id) from task_instance where dag_id = 'chain' and state is null"; }
"$GUST" tasks clear chain -t '^b$' -d -s 2024-01-02 -e 2024-01-02 -y >/dev/null
check_eq "tasks clear -t -d -s -e: b and its downstream, in that day's run only" \
    "backfill__2024-01-02T00:00:00+00:00:b backfill__2024-01-02T00:00:00+00:00:c" "$(cleared)"
"$GUST" tasks clear chain -t '^b$' -u --run-id backfill__2024-01-03T00:00:00+00:00 -y >/dev/null
check_contains "tasks clear -u: b and its upstream" \
    "backfill__2024-01-03T00:00:00+00:00:a backfill__2024-01-03T00:00:00+00:00:b" "$(cleared)"
check_eq "and not its downstream" 0 \
    "$(q "select count(*) from task_instance where run_id = 'backfill__2024-01-03T00:00:00+00:00' and task_id = 'c' and state is null")"
q "update task_instance set state = 'running' where dag_id = 'chain' and run_id like 'manual%' and task_id = 'a'"
out=$("$GUST" tasks clear 'ch.*n' -R -r -y)
check_contains "tasks clear -R -r: by DAG regex; running tries left alone and counted" \
    "chain: left 1 running task instance(s) alone" "$out"

# --- tasks render, tasks failed-deps
cat >"$tmp/dags/render.yaml" <<'YAML'
render_me:
  schedule: None
  params: {who: world}
  tasks:
    - task_id: say
      operator: airflow.operators.bash.BashOperator
      bash_command: "echo {{ ds }} {{ params.who }} {{ run_id }}"
      env: {DAY: "{{ ds_nodash }}"}
    - task_id: pod
      operator: airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator
      image: x
      cmds: [echo]
      arguments: ["{{ ds }}", "{{ dag.dag_id }}"]
    - task_id: after
      operator: airflow.operators.bash.BashOperator
      bash_command: echo after
      dependencies: [say]
YAML
"$GUST" dags reserialize >/dev/null
out=$("$GUST" tasks render render_me say 2024-06-01)
check_eq "tasks render: bash_command and env rendered, as Airflow prints them" \
    "# ----------------------------------------------------------
# property: bash_command
# ----------------------------------------------------------
echo 2024-06-01 world manual__2024-06-01T00:00:00+00:00

# ----------------------------------------------------------
# property: env.DAY
# ----------------------------------------------------------
20240601" "$out"
check_contains "tasks render: KPO arguments rendered" '["2024-06-01","render_me"]' \
    "$("$GUST" tasks render render_me pod 2024-06-01)"
"$GUST" tasks render render_me nope 2024-06-01 >/dev/null 2>&1
check_eq "tasks render of an unknown task exits 1" 1 $?
"$GUST" dags trigger render_me -r rr -l 2024-06-02 >/dev/null
check_contains "tasks render of a recorded run uses its run id" "echo 2024-06-02 world rr" \
    "$("$GUST" tasks render render_me say rr)"
out=$("$GUST" tasks failed-deps render_me after rr)
check_eq "failed-deps exits 0 (Airflow's)" 0 $?
check_contains "failed-deps: the trigger rule is not met while say has not run" \
    "Dependency: Trigger Rule, reason: Task's trigger rule 'all_success': not met yet" "$out"
q "update task_instance set state = 'success' where run_id = 'rr' and task_id = 'say'"
check_eq "failed-deps once the upstream succeeded" "Task instance dependencies are all met." \
    "$("$GUST" tasks failed-deps render_me after 2024-06-02 | tail -1)"
q "update task_instance set state = 'failed' where run_id = 'rr' and task_id = 'say'"
check_contains "failed-deps: an upstream failure means never" "can never be met" \
    "$("$GUST" tasks failed-deps render_me after rr)"
check_contains "failed-deps: a finished task must be cleared" \
    "Dependency: Task Instance State, reason: Task is in the 'failed' state" \
    "$("$GUST" tasks failed-deps render_me say rr)"

#!/usr/bin/env bash
# Black-box checks of pools, callbacks and notifications from a demanding Airflow user's side
# (docs/operations.md, "Pools" and "Notifications"; docs/dag-files.md, "Notifications"),
# against a real PostgreSQL, an HTTP fixture server standing in for Slack and Debian's
# aiosmtpd as the mail sink. One scheduler without executor plans; a worker runs the tries
# (and sends their notifications); a second worker serving queue "doomed" is killed -9.
# The defects these checks found are fixed; their comments say what each one guards.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 54
gust_tmpdir T
export GUST_TEST_TMP=$T
pg_gust_db gust_bb20
export GUST_DAGS_FOLDER=$T/dags GUST_LOGS_FOLDER=$T/logs
export GUST_LEASE_SECONDS=5 GUST_DAG_DIR_LIST_INTERVAL=1 GUST_CALLBACK_TIMEOUT=5
mkdir -p "$GUST_DAGS_FOLDER"
[ -x "$(gust_bin notify_task)" ] || { echo "Bail out! $(gust_bin notify_task) is not built"; exit 1; }

q() { psql -X -q -At -c "$1"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
run_ended() { case $(run_state "$1" "$2") in success | failed) return 0 ;; esac; return 1; }
run_is() { test "$(run_state "$1" "$2")" = "$3"; }
ti_is() { test "$(ti_state "$1" "$2" "$3")" = "$4"; }
ti_state() { q "select state from task_instance where dag_id = '$1' and run_id = '$2' and task_id = '$3'"; }
callbacks_ended() {
    test "$(q "select count(*) > 0 and bool_and(state <> 'running') from callback_request
               where dag_id = '$1' and run_id = '$2'")" = t
}
# the webhook texts starting with $1, sorted, one per line
texts() {
    /usr/bin/python3 - "$HTTP_FIXTURE_REQUESTS" "$1" <<'EOF'
import json, sys
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"].startswith("/services/"):
        t = json.loads(r["body"]).get("text", "")
        if t.startswith(sys.argv[2]):
            out.append(t)
print("\n".join(sorted(out)))
EOF
}
# the subjects of the mails received, sorted, one per line
subjects() {
    /usr/bin/python3 -c 'import mailbox, sys
print("\n".join(sorted(m["Subject"] for m in mailbox.Maildir(sys.argv[1], create=False))))' "$T/maildir" 2>/dev/null
}
# the most slots in use at once in clock file $1 (lines "task start|end epoch"), each try
# holding $2 slots
peak() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
ev = []
for line in open(sys.argv[1]):
    task, what, at = line.split()
    w = int(sys.argv[2])
    ev.append((float(at), 0 if what == "end" else 1, w if what == "start" else -w))
cur = top = 0
for _, _, d in sorted(ev):
    cur += d
    top = max(top, cur)
print(top)
PY
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

http_start "$GUST_SRC/tests/integration/notify_http" || exit 1
smtp_port=$(free_port)
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$T/maildir" \
    >"$T/smtp.log" 2>&1 &
gust_kill_at_exit $!
wait_for 20 /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $smtp_port), 1)"
dead_port=$(free_port) # nothing listens there
export AIRFLOW_CONN_SLACK_DEFAULT="{\"conn_type\": \"slackwebhook\", \"host\": \"$HTTP_FIXTURE_URL/services\", \"password\": \"T000/B000/XXXX\"}"
export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $smtp_port, \"extra\": {\"disable_ssl\": true, \"disable_tls\": true, \"from_email\": \"gust@example.com\"}}"
# endpoints that are down, with secrets that must never show in a log or a row
export AIRFLOW_CONN_HTTP_DEFAULT="{\"conn_type\": \"http\", \"host\": \"$HTTP_FIXTURE_URL\"}"
export AIRFLOW_CONN_SLACK_DOWN="{\"conn_type\": \"slackwebhook\", \"host\": \"http://127.0.0.1:$dead_port/services\", \"password\": \"T999/B999/SeCrEtToKeN123\"}"
export AIRFLOW_CONN_SMTP_DOWN="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $dead_port, \"login\": \"mailer\", \"password\": \"SmTpPaSs456\", \"extra\": {\"disable_ssl\": true, \"disable_tls\": true, \"from_email\": \"gust@example.com\"}}"

# a timed command: its start and end in \$GUST_TEST_TMP/clock.queues
clk() { printf '%s' "echo \"$1 start \$(date +%s.%N)\" >> \$GUST_TEST_TMP/clock.queues; sleep 0.5; echo \"$1 end \$(date +%s.%N)\" >> \$GUST_TEST_TMP/clock.queues"; }
SLACK=airflow.providers.slack.notifications.slack_webhook.send_slack_webhook_notification
SMTP=airflow.providers.smtp.notifications.smtp.send_smtp_notification
cat >"$GUST_DAGS_FOLDER/bb.yaml" <<YAML
bb_mail_retry:
  default_args: {retries: 1, retry_delay: 0, email: ops@example.com}
  tasks:
    - {task_id: flop, operator: airflow.operators.bash.BashOperator, bash_command: "exit 1"}
bb_skip:
  default_args: {retries: 0}
  tasks:
    - task_id: skipper
      operator: airflow.operators.bash.BashOperator
      bash_command: "exit 99"
      on_skipped_callback: {callback: $SLACK, text: "skipped {{ ti.task_id }} {{ ti.state }}"}
      on_failure_callback: {callback: $SLACK, text: "skipped-but-failed {{ ti.task_id }}"}
      on_success_callback: {callback: $SLACK, text: "skipped-but-success {{ ti.task_id }}"}
bb_timeout:
  dagrun_timeout: 2
  default_args: {retries: 0}
  on_failure_callback: {callback: $SLACK, text: "timeout {{ run_id }} {{ reason }}"}
  on_success_callback: {callback: $SLACK, text: "timeout-but-success {{ run_id }}"}
  tasks:
    - {task_id: slow, operator: airflow.operators.bash.BashOperator, bash_command: "sleep 6"}
bb_down:
  default_args: {retries: 0}
  tasks:
    - task_id: breaks
      operator: airflow.operators.bash.BashOperator
      bash_command: "exit 2"
      on_failure_callback:
        - {callback: $SLACK, slack_webhook_conn_id: slack_down, text: "down {{ ti.task_id }}"}
        - {callback: $SMTP, smtp_conn_id: smtp_down, to: ops@example.com, subject: "down {{ ti.task_id }}", html_content: "x"}
bb_tpl:
  params: {who: ops}
  on_success_callback: {callback: $SLACK, text: "dagok {{ run_id }} {{ reason }}"}
  tasks:
    - task_id: fine
      operator: airflow.operators.bash.BashOperator
      bash_command: "true"
      on_success_callback:
        callback: $SLACK
        text: "tpl {{ ti.task_id }}|{{ task_instance.task_id }}|{{ task.task_id }}|{{ dag_run.run_id }}|{{ ds }}|{{ params.who }}|{{ ti.state }}|{{ ti.try_number }}"
bb_clear:
  default_args: {retries: 0}
  tasks:
    - task_id: again
      operator: airflow.operators.bash.BashOperator
      bash_command: "exit 1"
      on_failure_callback: {callback: $SLACK, text: "clear {{ run_id }} try {{ ti.try_number }}"}
bb_lease:
  default_args: {retries: 0}
  tasks:
    - task_id: orphan
      operator: airflow.operators.bash.BashOperator
      queue: doomed
      bash_command: "touch \$GUST_TEST_TMP/orphan.started; sleep 12"
      on_failure_callback: {callback: $SLACK, text: "lease {{ ti.task_id }} {{ ti.state }}"}
bb_lease2:
  default_args: {retries: 1, retry_delay: 0}
  tasks:
    - task_id: rerun
      operator: airflow.operators.bash.BashOperator
      queue: doomed
      bash_command: 'if [ {{ ti.try_number }} = 1 ]; then touch \$GUST_TEST_TMP/rerun.started; (sleep 15; echo late >> \$GUST_TEST_TMP/rerun.late); fi'
bb_sens:
  default_args: {pool: sens, mode: poke, poke_interval: 1, timeout: 3, soft_fail: true}
  tasks:
    - {task_id: ext1, operator: airflow.sensors.external_task.ExternalTaskSensor, external_dag_id: bb_never_runs}
    - {task_id: ext2, operator: airflow.sensors.external_task.ExternalTaskSensor, external_dag_id: bb_never_runs}
bb_sens_nopool:
  tasks:
    - {task_id: ext, operator: airflow.sensors.external_task.ExternalTaskSensor, external_dag_id: bb_never_runs, pool: nosuch, mode: poke, poke_interval: 1, timeout: 2, soft_fail: true}
bb_fsens:
  default_args: {pool: sens2, mode: poke, poke_interval: 1, timeout: 3, soft_fail: true}
  tasks:
    - {task_id: f1, operator: airflow.sensors.filesystem.FileSensor, filepath: /nonexistent/bb20/x}
    - {task_id: f2, operator: airflow.sensors.filesystem.FileSensor, filepath: /nonexistent/bb20/y}
bb_rerun:
  default_args: {retries: 0}
  on_failure_callback: {callback: $SLACK, text: "rerun {{ run_id }} {{ reason }}"}
  tasks:
    - {task_id: a, operator: airflow.operators.bash.BashOperator, bash_command: "exit 1"}
    - {task_id: b, operator: airflow.operators.bash.BashOperator, bash_command: "true", dependencies: [a]}
bb_mapped:
  tasks:
    - task_id: heavy
      operator: airflow.operators.bash.BashOperator
      pool: three
      pool_slots: 2
      expand:
        bash_command:
          - 'echo "h start \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped; sleep 0.5; echo "h end \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped'
          - 'echo "h start \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped; sleep 0.5; echo "h end \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped'
          - 'echo "h start \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped; sleep 0.5; echo "h end \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped'
          - 'echo "h start \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped; sleep 0.5; echo "h end \$(date +%s.%N)" >> \$GUST_TEST_TMP/clock.mapped'
bb_more:
  default_args: {retries: 0}
  tasks:
    - task_id: nopool
      operator: airflow.operators.bash.BashOperator
      pool: nosuch
      bash_command: "true"
      on_failure_callback: {callback: $SLACK, text: "nopool {{ ti.task_id }} {{ ti.state }}"}
    - task_id: badtpl
      operator: airflow.operators.bash.BashOperator
      bash_command: "true"
      on_success_callback: {callback: $SLACK, text: "badtpl {{ dag_run.conf.nokey.deeper }}"}
    - task_id: quoted
      operator: airflow.operators.bash.BashOperator
      bash_command: "true"
      on_success_callback:
        callback: airflow.providers.http.notifications.http.HttpNotifier
        endpoint: /services/http
        json: {text: "http {{ dag_run.conf.who }}"}
bb_queues:
  tasks:
    - {task_id: a1, operator: airflow.operators.bash.BashOperator, pool: one, bash_command: '$(clk a1)'}
    - {task_id: a2, operator: airflow.operators.bash.BashOperator, pool: one, bash_command: '$(clk a2)'}
    - {task_id: b1, operator: airflow.operators.bash.BashOperator, pool: one, queue: qb, bash_command: '$(clk b1)'}
    - {task_id: b2, operator: airflow.operators.bash.BashOperator, pool: one, queue: qb, bash_command: '$(clk b2)'}
bb_weights:
  tasks:
    - {task_id: a, operator: airflow.operators.empty.EmptyOperator, priority_weight: 2147483647}
    - {task_id: b, operator: airflow.operators.empty.EmptyOperator, priority_weight: 2147483647, dependencies: [a]}
bb_zero:
  tasks:
    - {task_id: waits, operator: airflow.operators.bash.BashOperator, pool: zero, bash_command: "true"}
YAML
# load errors: a Python callable, a *_callback_name, an unknown notifier
cat >"$GUST_DAGS_FOLDER/bb_bad_callable.yaml" <<'YAML'
bb_bad_callable:
  tasks:
    - task_id: t
      operator: airflow.operators.empty.EmptyOperator
      on_failure_callback: my_package.alerts.page_oncall
YAML
cat >"$GUST_DAGS_FOLDER/bb_bad_name.yaml" <<'YAML'
bb_bad_name:
  on_success_callback_name: page_oncall
  on_success_callback_file: /opt/alerts.py
  tasks:
    - {task_id: t, operator: airflow.operators.empty.EmptyOperator}
YAML
cat >"$GUST_DAGS_FOLDER/bb_bad_tpl.yaml" <<'YAML'
bb_bad_tpl:
  tasks:
    - task_id: t
      operator: airflow.operators.empty.EmptyOperator
      on_success_callback:
        callback: airflow.providers.slack.notifications.slack_webhook.send_slack_webhook_notification
        text: "{{ nosuch_name.attr }}"
YAML
cat >"$GUST_DAGS_FOLDER/bb_bad_slots.yaml" <<'YAML'
bb_bad_slots0:
  tasks:
    - {task_id: t, operator: airflow.operators.empty.EmptyOperator, pool_slots: 0}
bb_bad_slotsneg:
  tasks:
    - {task_id: t, operator: airflow.operators.empty.EmptyOperator, pool_slots: -1}
bb_bad_rule:
  tasks:
    - {task_id: t, operator: airflow.operators.empty.EmptyOperator, weight_rule: sideways}
YAML
cat >"$GUST_DAGS_FOLDER/bb_bad_notifier.yaml" <<'YAML'
bb_bad_notifier:
  tasks:
    - task_id: t
      operator: airflow.operators.empty.EmptyOperator
      on_retry_callback:
        callback: airflow.providers.pagerduty.notifications.pagerduty.send_pagerduty_notification
        summary: nope
YAML

# --- pools from the CLI, as Airflow's `airflow pools`
"$GUST" pools set three 3 "three slots" >/dev/null 2>&1
"$GUST" pools set zero 0 "nothing runs" >/dev/null 2>&1
"$GUST" pools set one 1 "one at a time" >/dev/null 2>&1
"$GUST" pools set sens 1 "one sensor" >/dev/null 2>&1
"$GUST" pools set sens2 1 "one sensor" >/dev/null 2>&1
out=$("$GUST" pools delete default_pool 2>&1)
check "pools delete default_pool is refused" test $? -ne 0
check_eq "default_pool is still there with 128 slots" 128 "$(q "select slots from slot_pool where pool = 'default_pool'")"
"$GUST" pools set unl -1 "no limit" >/dev/null 2>&1
check_eq "pools set -1: unlimited" -1 "$(q "select slots from slot_pool where pool = 'unl'")"

# --- load errors name the callback and file:line:col
errs=$("$GUST" dags list-import-errors 2>&1)
check_contains "a Python callable is a load error naming the callback" "on_failure_callback" \
    "$(printf '%s\n' "$errs" | grep bb_bad_callable.yaml)"
check_contains "...at file:line:col" "bb_bad_callable.yaml:5:" "$errs"
check_contains "a *_callback_name is a load error naming it" "on_success_callback_name" \
    "$(printf '%s\n' "$errs" | grep bb_bad_name.yaml)"
check_contains "an unknown notifier is a load error naming it" "send_pagerduty_notification" \
    "$(printf '%s\n' "$errs" | grep bb_bad_notifier.yaml)"
check_contains "an unknown name in a callback template is a load error at file:line:col" \
    "bb_bad_tpl.yaml:7:" "$(printf '%s\n' "$errs" | grep nosuch_name)"
check_contains "pool_slots 0 is a load error (Airflow: pool slots cannot be less than 1)" \
    "bb_bad_slots.yaml:3:" "$(printf '%s\n' "$errs" | grep -i pool_slots)"
check_contains "pool_slots -1 is a load error" "bb_bad_slots.yaml:6:" \
    "$(printf '%s\n' "$errs" | grep -i pool_slots)"
check_contains "an unknown weight_rule is a load error" "bb_bad_slots.yaml:9:" \
    "$(printf '%s\n' "$errs" | grep -i weight_rule)"
check_eq "the good file loads" "" "$(printf '%s\n' "$errs" | grep 'bb.yaml')"

"$GUST" scheduler --no-executor >"$T/sched.log" 2>&1 &
gust_kill_at_exit $!
"$GUST" worker --concurrency 4 >"$T/worker.log" 2>&1 &
worker=$!
gust_kill_at_exit $worker
"$GUST" worker -q doomed >"$T/doomed.log" 2>&1 &
doomed=$!
gust_kill_at_exit $doomed
"$GUST" worker -q qb >"$T/qb.log" 2>&1 &
qbw=$!
gust_kill_at_exit $qbw
wait_for 20 "$GUST" jobs check --job-type worker

"$GUST" dags trigger bb_more -r r1 -c '{"who": "a \"quoted\" name\\"}' >/dev/null
for d in bb_rerun bb_sens bb_sens_nopool bb_fsens bb_lease2 bb_weights bb_queues bb_mail_retry bb_skip bb_timeout bb_down bb_tpl bb_clear bb_lease bb_mapped bb_zero; do
    "$GUST" dags trigger "$d" -r r1 >/dev/null
done

# --- kill -9 of the worker running a try: its lease expires, on_failure fires once
wait_for 30 test -e "$T/orphan.started"
wait_for 30 test -e "$T/rerun.started"
kill -KILL "$doomed"
killed_at=$SECONDS
"$GUST" worker -q doomed >"$T/doomed2.log" 2>&1 &
gust_kill_at_exit $!
wait_for 60 run_ended bb_lease r1
wait_for 20 callbacks_ended bb_lease r1
check_eq "the killed worker's try failed" failed "$(ti_state bb_lease r1 orphan)"
check_eq "on_failure fired once after the lease expired" "lease orphan failed" "$(texts lease)"

# --- email in default_args: Airflow's email_on_retry and email_on_failure default true
wait_for 60 run_ended bb_mail_retry r1
sleep 1
check_eq "the run failed after its retry" failed "$(run_state bb_mail_retry r1)"
check_eq "one mail for the retry, one for the failure (both default true in Airflow)" \
    "Airflow alert: <TaskInstance: bb_mail_retry.flop r1 [failed]>
Airflow alert: <TaskInstance: bb_mail_retry.flop r1 [up_for_retry]>" "$(subjects | grep bb_mail_retry)"

# --- exit 99: skipped, on_skipped fires once, on_failure / on_success not
wait_for 60 run_ended bb_skip r1
wait_for 20 callbacks_ended bb_skip r1
check_eq "exit 99 skips" skipped "$(ti_state bb_skip r1 skipper)"
check_eq "on_skipped fired once, nothing else" "skipped skipper skipped" "$(texts skipped)"

# --- dagrun_timeout: the DAG's on_failure with reason timed_out, once
wait_for 60 run_ended bb_timeout r1
wait_for 20 callbacks_ended bb_timeout r1
check_eq "the run timed out" failed "$(run_state bb_timeout r1)"
check_eq "DAG on_failure fired once with reason timed_out" "timeout r1 timed_out" "$(texts timeout)"

check "the timed-out run's task ends" wait_for 20 sh -c "! psql -X -q -At -c \"select state from task_instance where dag_id = 'bb_timeout' and task_id = 'slow'\" | grep -qx running"
sleep 2
check_eq "the timed-out run stays failed, its DAG on_success never fires" "failed|" \
    "$(run_state bb_timeout r1)|$(texts timeout-but)"

# --- priority weights: Airflow clamps the downstream sum to a 32-bit int
check_eq "downstream sum of two maximal weights is clamped, not wrapped" "a|2147483647 b|2147483647" \
    "$(q "select task_id || '|' || priority_weight from task_instance where dag_id = 'bb_weights' order by task_id" | xargs)"

# --- endpoints that are down: recorded failed, no secret anywhere, state unaffected
wait_for 60 run_ended bb_down r1
check "both callbacks end" wait_for 30 callbacks_ended bb_down r1
check_eq "the task's state is its own (failed by exit 2), the run failed" "failed failed" \
    "$(ti_state bb_down r1 breaks) $(run_state bb_down r1)"
check_eq "both callbacks recorded failed, with a reason" "failed|1 failed|1" \
    "$(q "select state || '|' || (coalesce(message, '') <> '')::int::text from callback_request where dag_id = 'bb_down' order by notifier" | xargs)"
leaks=$(grep -rl -e SeCrEtToKeN123 -e SmTpPaSs456 "$T/logs" "$T/sched.log" "$T/worker.log" 2>/dev/null)
check_eq "no secret in any log" "" "$leaks"
check_eq "no secret in callback_request.message" 0 \
    "$(q "select count(*) from callback_request where message ~ 'SeCrEtToKeN123|SmTpPaSs456'")"
check_eq "every callback spec file is 0600" "" \
    "$(find "$T/logs" -name '*callback*.json' ! -perm 600 2>/dev/null)"
check "callback spec files were written" test -n "$(find "$T/logs" -name '*callback*.json' 2>/dev/null)"

# --- templates, and the DAG's on_success
wait_for 60 run_ended bb_tpl r1
wait_for 20 callbacks_ended bb_tpl r1
ds=$(q "select to_char(logical_date at time zone 'UTC', 'YYYY-MM-DD') from dag_run where dag_id = 'bb_tpl' and run_id = 'r1'")
[ -n "$ds" ] || ds=$(q "select to_char(coalesce(logical_date, run_after, start_date) at time zone 'UTC', 'YYYY-MM-DD') from dag_run where dag_id = 'bb_tpl' and run_id = 'r1'" 2>/dev/null)
check_eq "the task callback's template renders Airflow's names" "tpl fine|fine|fine|r1|$ds|ops|success|1" "$(texts tpl)"
check_eq "the DAG's on_success fired once" "dagok r1 success" "$(texts dagok)"

# --- a clear notifies again for the new try, once
wait_for 60 run_ended bb_clear r1
wait_for 20 callbacks_ended bb_clear r1
"$GUST" tasks clear bb_clear --run-id r1 -y >/dev/null 2>&1
wait_for 60 sh -c "psql -X -q -At -c \"select try_number from task_instance where dag_id = 'bb_clear' and task_id = 'again'\" | grep -qx 2"
wait_for 60 ti_is bb_clear r1 again failed
wait_for 20 callbacks_ended bb_clear r1
sleep 1
check_eq "on_failure once per try, the cleared try too" "clear r1 try 1
clear r1 try 2" "$(texts clear)"

# --- pools: mapped instances of pool_slots 2 in a pool of 3 run one at a time
wait_for 60 run_ended bb_mapped r1
check_eq "the mapped run succeeded" success "$(run_state bb_mapped r1)"
check_eq "4 mapped instances of 2 slots in a pool of 3: at most 2 slots in use" 2 \
    "$(peak "$T/clock.mapped" 2)"
# --- a pool of 0 slots holds its task queued (Airflow's way to pause what uses a resource;
# it once failed the task as "too small"); resized to 1, it runs
check_eq "pool of 0 slots: the task waits" queued "$(ti_state bb_zero r1 waits)"
"$GUST" pools set zero 1 "one now" >/dev/null 2>&1
check "resized to 1, the task runs" wait_for 20 run_is bb_zero r1 success

# --- a task in a pool that does not exist fails: its on_failure fires once
wait_for 60 run_ended bb_more r1
wait_for 20 callbacks_ended bb_more r1
check_eq "the task in a missing pool failed" failed "$(ti_state bb_more r1 nopool)"
check_eq "...and its on_failure fired once" "nopool nopool failed" "$(texts nopool)"
# --- a callback whose template cannot render: recorded failed, the task still succeeded
check_eq "a callback whose template fails: the task succeeded" success "$(ti_state bb_more r1 badtpl)"
check_eq "...and its row is failed with a message naming the template" "failed|1" \
    "$(q "select state || '|' || (message ~ 'nokey|deeper|undefined')::int::text from callback_request where dag_id = 'bb_more' and task_id = 'badtpl'")"
# --- the HTTP notifier's JSON body keeps quotes and backslashes of a rendered value
check_eq "the JSON body carries the conf value intact" 'http a "quoted" name\' "$(texts http)"
# --- two workers of different queues share a pool of 1
wait_for 60 run_ended bb_queues r1
check_eq "the queues run succeeded" success "$(run_state bb_queues r1)"
check_eq "a pool of 1 across two workers of different queues: one at a time" 1 \
    "$(peak "$T/clock.queues" 1)"
check_eq "the qb tasks ran on the qb worker" "b1|$qbw b2|$qbw" \
    "$(q "select t.task_id || '|' || j.pid from task_instance t join job j on j.id = t.job_id where t.dag_id = 'bb_queues' and t.queue = 'qb' order by 1" | xargs)"

# --- the try of a killed worker does not run on beside its retry
check "the killed try's retry succeeds" wait_for 60 run_is bb_lease2 r1 success
while [ $((SECONDS - killed_at)) -lt 18 ]; do sleep 1; done
check_eq "the killed worker's leftover process did not run on" no \
    "$([ -e "$T/rerun.late" ] && echo yes || echo no)"

# --- sensors in poke mode that run as a process hold their pool slot for the whole try
# (Airflow): two poking FileSensors in a pool of 1 never overlap. The sensors gust pokes in
# the scheduler itself hold no process and no slot, so they take no pool slot either
# (docs/operations.md, "Pools"): a documented difference, checked as such.
overlap() {
    q "select count(*) from task_instance a join task_instance b on a.dag_id = b.dag_id
       and a.run_id = b.run_id and a.task_id < b.task_id where a.dag_id = '$1'
       and a.start_date < b.end_date and b.start_date < a.end_date"
}
wait_for 60 run_ended bb_fsens r1
check_eq "FileSensors (process) in poke mode in a pool of 1: never both poking" 0 "$(overlap bb_fsens)"
wait_for 60 run_ended bb_sens r1
check_eq "ExternalTaskSensors (poked in the scheduler) take no pool slot: both wait at once" 1 \
    "$(overlap bb_sens)"
q "select task_id, state, start_date, end_date from task_instance where dag_id like 'bb_sens%' order by 1" | sed 's/^/# /'

wait_for 60 run_ended bb_sens_nopool r1
check_eq "an ExternalTaskSensor (poked in the scheduler) does not look at its pool: skipped at its timeout" skipped \
    "$(ti_state bb_sens_nopool r1 ext)"

# --- a run failed, cleared (only its upstream_failed task) and failed again: the DAG's
# on_failure fires for each end (docs/operations.md: a later end after a clear notifies again)
wait_for 60 run_ended bb_rerun r1
wait_for 20 callbacks_ended bb_rerun r1
"$GUST" tasks clear bb_rerun -t '^b$' --run-id r1 -y >/dev/null 2>&1
check_eq "the clear queued the run again (clear_number 1)" 1 \
    "$(q "select clear_number from dag_run where dag_id = 'bb_rerun' and run_id = 'r1'")"
check "the cleared run fails again" wait_for 60 run_is bb_rerun r1 failed
sleep 3
# the run's row is keyed by its clear_number (it once was by the sum of its tries, which a
# clear of never-run tasks leaves unchanged: the second end went unnotified)
check_eq "the DAG's on_failure fired for both ends of the run" "rerun r1 task_failure
rerun r1 task_failure" "$(texts rerun)"

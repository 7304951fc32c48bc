#!/usr/bin/env bash
# Notifications end to end (docs/operations.md, "Notifications"), against a real PostgreSQL,
# an HTTP fixture server standing in for Slack's incoming webhooks (it records every call)
# and Debian's aiosmtpd as the mail sink; the DAGs are tests/integration/notify_dags:
# - a failing task sends exactly one Slack webhook call with the rendered text, and one mail
#   (email in default_args) with Airflow's subject;
# - on_execute, on_retry, on_success and the DAG's on_failure each fire once (the DAG's
#   on_success not at all);
# - a callback whose endpoint never answers is cut at GUST_CALLBACK_TIMEOUT and the run and
#   its task still succeed;
# - two schedulers on one database send each notification once.
# The callbacks run the real bin/notify_task (gust puts bin/ first in PATH).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 19
gust_tmpdir T
pg_gust_db gust_notify
export GUST_DAGS_FOLDER=$GUST_SRC/tests/integration/notify_dags
export GUST_LOGS_FOLDER=$T/logs
export GUST_LEASE_SECONDS=5 GUST_DAG_DIR_LIST_INTERVAL=1 GUST_CALLBACK_TIMEOUT=3
[ -x "$(gust_bin notify_task)" ] || { echo "Bail out! $(gust_bin notify_task) is not built"; exit 1; }

q() { psql -X -q -At -c "$1"; }
run_state() { "$GUST" dags state "$1" "$2" 2>/dev/null | cut -d, -f1; }
run_ended() { case $(run_state "$1" "$2") in success | failed) return 0 ;; esac; return 1; }
# every callback of run $1 has ended (and there is at least one)
callbacks_ended() {
    test "$(q "select count(*) > 0 and bool_and(state <> 'running') from callback_request
               where run_id = '$1'")" = t
}
# the texts the webhook received whose text starts with $1, sorted, one per line
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
hang_calls() { grep -c '"path": *"/hang/' "$HTTP_FIXTURE_REQUESTS"; }

http_start "$GUST_SRC/tests/integration/notify_http" || exit 1
smtp_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$T/maildir" \
    >"$T/smtp.log" 2>&1 &
gust_kill_at_exit $!
wait_for 20 /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $smtp_port), 1)"
# connections by id, as Airflow's AIRFLOW_CONN_<ID> (JSON form); the webhook token is a dummy
export AIRFLOW_CONN_SLACK_DEFAULT="{\"conn_type\": \"slackwebhook\", \"host\": \"$HTTP_FIXTURE_URL/services\", \"password\": \"T000/B000/XXXX\"}"
export AIRFLOW_CONN_SLACK_HANG="{\"conn_type\": \"slackwebhook\", \"host\": \"$HTTP_FIXTURE_URL/hang\", \"password\": \"T000/B000/XXXX\"}"
export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $smtp_port, \"extra\": {\"disable_ssl\": true, \"disable_tls\": true, \"from_email\": \"gust@example.com\"}}"

errs=$("$GUST" dags list-import-errors 2>&1)
check_eq "the notification DAGs load without import errors" 0 $?
[ -z "$errs" ] || printf '# %s\n' "$errs"
scheds=()
start_sched() {
    GUST_PARALLELISM=4 "$GUST" scheduler >>"$T/sched$1.log" 2>&1 &
    scheds+=($!)
    gust_kill_at_exit $!
}
start_sched 1
wait_for 20 "$GUST" jobs check --job-type scheduler

# --- a failing task: one webhook call with the rendered text, one mail
"$GUST" dags trigger notify_fail -r f1 >/dev/null
wait_for 60 run_ended notify_fail f1
wait_for 30 callbacks_ended f1
check_eq "the failing task's run failed" failed "$(run_state notify_fail f1)"
check_eq "exactly one webhook call, with the rendered text" \
    "notify_fail.breaks failed (try 1 of 1, failed): exit 3" "$(texts notify_fail)"
check_eq "exactly one mail, with Airflow's subject" \
    "1 Airflow alert: <TaskInstance: notify_fail.breaks f1 [failed]>" \
    "$(/usr/bin/python3 -c 'import mailbox, sys
m = list(mailbox.Maildir(sys.argv[1], create=False))
print(len(m), m[0]["Subject"] if m else "")' "$T/maildir" 2>&1)"
check_eq "two callback_request rows, both sent" "on_failure_callback|0|success
on_failure_callback|1|success" \
    "$(q "select event, notifier, state from callback_request where run_id = 'f1' order by notifier")"
check_contains "the try's log says the callback was sent" "on_failure_callback[0]" \
    "$(grep sent "$T/logs/dag_id=notify_fail/run_id=f1/task_id=breaks/attempt=1.log")"

# --- on_execute, on_retry, on_success, the DAG's on_failure: each once
"$GUST" dags trigger notify_events -r e1 >/dev/null
wait_for 60 run_ended notify_events e1
wait_for 30 callbacks_ended e1
check_eq "the run failed after flaky succeeded on its second try" "failed success 2" \
    "$(run_state notify_events e1) $(q "select state, try_number from task_instance
                                        where run_id = 'e1' and task_id = 'flaky'" | tr '|' ' ')"
check_eq "each event fired once, with its own text" "dag notify_events run e1: task_failure
execute flaky try 1
execute flaky try 2
retry flaky try 1: exit 1
success flaky try 2" "$(texts dag; texts execute; texts retry; texts success)"
check_eq "the DAG's on_success did not fire" "" "$(texts 'dag notify_events run e1 should')"
check_eq "five rows, all sent" "5 success" \
    "$(q "select count(*), string_agg(distinct state, ',') from callback_request where run_id = 'e1'" | tr '|' ' ')"

# --- callbacks that hang are cut at their time limit; the run is not affected
"$GUST" dags trigger notify_hang -r h1 >/dev/null
wait_for 60 run_ended notify_hang h1
check_eq "the run with hanging callbacks succeeded" "success success" \
    "$(run_state notify_hang h1) $(q "select state from task_instance where run_id = 'h1'")"
check "both hanging callbacks end (the endpoint would answer after 600 s)" wait_for 40 callbacks_ended h1
check_eq "both reached the endpoint that hangs" 2 "$(hang_calls)"
check_eq "both are recorded failed" "failed failed" \
    "$(q "select string_agg(state, ' ') from callback_request where run_id = 'h1'")"
# the limit's own message ("timed out after 3 s"), or notify_task's when its network timeout
# (a little under the limit) came first
check_eq "with a message saying each timed out" 2 \
    "$(q "select count(*) from callback_request where run_id = 'h1' and message ~* 'time'")"
check_eq "the run's state is still success" success "$(run_state notify_hang h1)"

# --- two schedulers on one database: each notification once
start_sched 2
wait_for 20 test "$(q "select count(*) from job where job_type = 'SchedulerJob' and state = 'running'")" = 2
for r in r1 r2 r3; do "$GUST" dags trigger notify_race -r "$r" >/dev/null; done
for r in r1 r2 r3; do wait_for 90 run_ended notify_race "$r" && wait_for 30 callbacks_ended "$r"; done
calls=$(texts race)
check_eq "27 webhook calls for 3 runs of 8 failing tasks (and the runs), all different" "27 27" \
    "$(printf '%s\n' "$calls" | grep -c .) $(printf '%s\n' "$calls" | sort -u | grep -c .)"
check_eq "27 callback_request rows, all sent" "27 success" \
    "$(q "select count(*), string_agg(distinct state, ',') from callback_request
          where dag_id = 'notify_race'" | tr '|' ' ')"

for p in "${scheds[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${scheds[@]}"; do wait "$p" 2>/dev/null; done

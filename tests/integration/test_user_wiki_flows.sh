#!/usr/bin/env bash
# user_automation and wiki_data_dag end to end, as a user runs them: `gust dags trigger
# --local` against the randomuser and MediaWiki fixtures, the Kafka-protocol mock broker and a
# real PostgreSQL (created with a UTF-8 locale so initcap handles accented names). Also the
# BashOperator example of docs/dag-files.md: dag_run.conf passed through env is never shell text.
# "Newest wins" for users, read back from the 4-partition topic: each created_users row is the
# last record sent for its email (the highest offset in the email's one partition, dead letters
# left out), so the answer does not depend on how the loader interleaved partitions.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 19
gust_tmpdir GUST_TEST_TMP
export GUST_TEST_TMP
pg_gust_db gust_user_wiki --template=template0 --locale=C.UTF-8 --encoding=UTF8
export GUST_DAGS_FOLDER=$GUST_SRC/dags GUST_LOGS_FOLDER=$GUST_TEST_TMP/logs
q() { psql -X -q -At -c "$1"; }

randomuser_start --seed 3 || exit 1
wiki_start --seed 3 || exit 1
kafka_start -t users_created:4 -t recent_changes:4 || exit 1

# user_automation: 3 s of streaming instead of the DAG's 60 (conf overrides params)
start=$SECONDS
"$GUST" dags trigger user_automation --local -r users1 -c '{"stream_seconds": 3}' \
    >"$GUST_TEST_TMP/users1.out" 2>&1
rc=$?
check_eq "user_automation runs end to end (exit 0)" 0 "$rc"
[ "$rc" = 0 ] || tail -30 "$GUST_TEST_TMP/users1.out"
check "it honoured the 3 s stream duration" test $((SECONDS - start)) -lt 40
sent=$(q "select value->>'users_sent' from xcom where run_id = 'users1' and task_id = 'stream_to_kafka'")
check "users were streamed" test "${sent:-0}" -gt 0
loaded=$(q "select count(*) from created_users")
dead=$(q "select count(*) from created_users_dead_letters")
check "users were loaded" test "$loaded" -gt 0
echo "# streamed $sent users: $loaded rows, $dead dead letters"
check_eq "emails are unique and clean" 0 \
    "$(q "select count(*) from created_users where email !~ '^[a-z0-9+_.-]+@[a-z0-9.-]+$' or email <> lower(trim(email))")"
check_eq "names are initcap(trim)" 0 \
    "$(q "select count(*) from created_users where first_name <> initcap(trim(first_name)) or last_name <> initcap(trim(last_name))")"
check_eq "phones keep digits only" 0 "$(q "select count(*) from created_users where phone ~ '[^0-9]'")"
first=$(q "select value->>'email' from xcom where run_id = 'users1' and task_id = 'get_and_format_data'")
check "the user from get_and_format_data went through XCom into the stream" \
    test -n "$(q "select 1 from created_users where email = lower(trim('$first'))")$(q "select 1 from created_users_dead_letters where convert_from(payload, 'UTF8') like '%$first%' limit 1")"
"$GUST" dags trigger user_automation --local -r users2 -c '{"stream_seconds": 2}' >/dev/null 2>&1
check "a second run adds users without duplicates" test \
    "$(q "select count(*) from created_users")" = "$(q "select count(distinct email) from created_users")"
kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t users_created -e -q -J >"$GUST_TEST_TMP/users.json" 2>/dev/null
q "select \"partition\" || ' ' || \"offset\" from created_users_dead_letters where topic = 'users_created'" \
    >"$GUST_TEST_TMP/dead.txt"
q "select email || ' ' || id from created_users" >"$GUST_TEST_TMP/rows.txt"
newest=$(python3 - "$GUST_TEST_TMP/users.json" "$GUST_TEST_TMP/dead.txt" "$GUST_TEST_TMP/rows.txt" <<'PY'
import json, sys
dead = {tuple(map(int, l.split())) for l in open(sys.argv[2]) if l.strip()}
rows = dict(l.split() for l in open(sys.argv[3]) if l.strip())
last, parts, sent = {}, {}, {}
for line in open(sys.argv[1], encoding="utf-8"):
    m = json.loads(line)
    k, at = m["key"], (m["partition"], m["offset"])
    if k is None or at in dead:
        continue
    parts.setdefault(k, set()).add(m["partition"])
    sent[k] = sent.get(k, 0) + 1
    if k not in last or m["offset"] > last[k][0]:
        last[k] = (m["offset"], json.loads(m["payload"])["id"].lower())
bad = [k for k in last if rows.get(k) != last[k][1]]
split = [k for k in parts if len(parts[k]) > 1]
extra = set(rows) - set(last)
print("; ".join(s for s in [
    "%d row(s) not the last record sent, e.g. %s" % (len(bad), bad[:1]) if bad else "",
    "%d email(s) in several partitions" % len(split) if split else "",
    "%d row(s) without a message" % len(extra) if extra else ""] if s) or "OK")
print(sum(n > 1 for n in sent.values()))
PY
)
check_eq "newest wins: each user row is the last record sent for its email (one partition per email)" \
    OK "$(echo "$newest" | head -1)"
check "... emails sent more than once were among them ($(echo "$newest" | tail -1))" \
    test "$(echo "$newest" | tail -1)" -gt 0

# wiki_data_dag
"$GUST" dags trigger wiki_data_dag --local -r wiki1 >"$GUST_TEST_TMP/wiki1.out" 2>&1
rc=$?
check_eq "wiki_data_dag runs end to end (exit 0)" 0 "$rc"
[ "$rc" = 0 ] || tail -30 "$GUST_TEST_TMP/wiki1.out"
n1=$(q "select count(*) from wiki_recent_changes")
check "recent changes were loaded" test "$n1" -gt 0
check "hidden users land with a null user name" test "$(q "select count(*) from wiki_recent_changes where username is null")" -gt 0
check "the watermark is set" test -n "$(q "select last_crawl_time from crawl_state where job_name = 'wiki_data_dag'")"
"$GUST" dags trigger wiki_data_dag --local -r wiki2 >/dev/null 2>&1
check_eq "a rerun with no new changes adds nothing" "$n1" "$(q "select count(*) from wiki_recent_changes")"
echo "# $n1 recent changes loaded"

# docs/dag-files.md (BashOperator): a conf value passed through env: reaches the command as data
mkdir -p "$GUST_TEST_TMP/confdags"
cat >"$GUST_TEST_TMP/confdags/conf_echo.yaml" <<'YAML'
conf_echo:
  tasks:
    - task_id: greet
      operator: airflow.operators.bash.BashOperator
      env: {CONF_NAME: "{{ dag_run.conf.get('name', '') }}"}
      bash_command: 'echo "Hello $CONF_NAME"'
YAML
name="\$(touch $GUST_TEST_TMP/pwned); \`touch $GUST_TEST_TMP/pwned\`; '\""
conf=$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1]}))' "$name")
"$GUST" dags trigger conf_echo --local -S "$GUST_TEST_TMP/confdags" -r conf1 -c "$conf" \
    >"$GUST_TEST_TMP/conf1.out" 2>&1
rc=$?
check_eq "a conf value with \$(...), backquotes and quotes, passed through env:, is echoed literally" \
    "0 Hello $name" "$rc $(q "select value #>> '{}' from xcom where run_id = 'conf1' and task_id = 'greet'")"
check "... and runs nothing" test ! -e "$GUST_TEST_TMP/pwned"

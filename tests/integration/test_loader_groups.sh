#!/usr/bin/env bash
# stream_loader's Kafka consumer groups (issue 21), black box: the loader's CLI contract only
# (subscribe with cooperative-sticky assignment, offsets in stream_offsets committed with the
# rows, "assigned: T [..]" / "revoked: T [..]" log lines, --available-now exiting 99 when the
# group holds nothing for it, --status), against a real PostgreSQL and the Kafka-protocol mock
# cluster, messages produced with kcat. The dvc pipeline with one small record per message (or
# a poison message, dead-lettered), so that every Kafka message becomes exactly one row of
# pharmaceutical_data_staging (which keeps every row with its source partition and offset) or
# one dead letter: "exactly once" is then "each (partition, offset) of the log once in
# staging + dead letters", and "nothing lost" is "per partition, offsets 0..log end - 1".
# Checks:
#  - available-now alone on a fresh group drains a 4-partition topic and exits 0 with the XCom
#    counts; a rerun finds nothing new and exits 0 (not 99);
#  - --status: stored offsets, log ends and lags equal stream_offsets' and the broker's (kcat
#    -Q), "-"/null without a row, total lag; --max-lag N exits 1 over N, 0 at or under; -o json;
#  - a --follow service and an --available-now task on one group: on a 1-partition topic held
#    by the service the task exits 99; on a 4-partition topic it exits 0 or 99; a task that
#    holds the group first, its batch held on a row lock while the service joins, drains its
#    share and exits 0; after both nothing landed twice, the stored offsets equal the log ends;
#  - three --follow loaders of one group on a 12-partition topic share it (each a share, no
#    partition in two members, all 12 covered); one is killed with kill -9 while a batch is
#    open, its partitions move to the other two; a fourth joins while batches are open and
#    takes a share; every message lands exactly once, stored offsets = log ends.
# Session timeout 6 s, heartbeat 500 ms, so that a killed member leaves the group quickly.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 68
LOADER=$(gust_bin stream_loader)
gust_tmpdir tmp
unset ${!STREAM_LOADER_*}
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_loader_groups
PY=/usr/bin/python3
GROUPX=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500)

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
xcom() { cat "$GUST_XCOM_FILE" 2>/dev/null; rm -f "$GUST_XCOM_FILE"; }

# gen.py NAME START COUNT POISON_EVERY: COUNT messages "key<TAB>value" for kcat -K'\t', the
# message i (START..START+COUNT-1) a small flat registry record with soDangKy NAME-i, or, when
# i % POISON_EVERY == POISON_EVERY - 1, a message that is not JSON (one dead letter).
cat >"$tmp/gen.py" <<'PY'
import json, sys
name, start, count, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(start, start + count):
    key = "%s-%d" % (name, i)
    if i % every == every - 1:
        print("%s\tnot json {%d" % (key, i))
    else:
        print(key + "\t" + json.dumps({"idThuoc": i, "soDangKy": key, "tenThuoc": "thuoc %d" % i},
                                      separators=(",", ":")))
PY
# produce TOPIC NAME START COUNT POISON_EVERY [kcat flags, e.g. -p 2]
produce() {
    local topic=$1
    shift
    "$PY" "$tmp/gen.py" "$1" "$2" "$3" "$4" >"$tmp/produce.txt"
    shift 4
    kcat -P -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$topic" -K $'\t' "$@" <"$tmp/produce.txt" \
        2>"$tmp/kcat.err"
}
poison_count() { "$PY" -c "print(sum(1 for i in range($1, $1 + $2) if i % $3 == $3 - 1))"; }

# ends TOPIC N: "p:log_end" of each partition with messages, by the broker (kcat -Q, offset -1)
ends() {
    local args=() p
    for ((p = 0; p < $2; p++)); do args+=(-t "$1:$p:-1"); done
    kcat -Q -b "$KAFKA_BOOTSTRAP_SERVERS" "${args[@]}" 2>/dev/null |
        sed -n 's/.*\[\([0-9]*\)\] offset \([0-9]*\).*/\1 \2/p' | sort -n |
        awk '$2 > 0 { printf "%s%s:%s", sep, $1, $2; sep = " " }'
}
ends_sum() { ends "$1" "$2" | tr ' ' '\n' | awk -F: '{ s += $2 } END { print s + 0 }'; }
# stored GROUP TOPIC: "p:next_offset" of each stored partition
stored() {
    q "select coalesce(string_agg(\"partition\" || ':' || next_offset, ' ' order by \"partition\"), '')
        from stream_offsets where consumer_group = '$1' and topic = '$2'"
}
stored_sum() {
    q "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = '$1'
        and topic = '$2'"
}
# Every message of TOPIC that landed: a staging row or a dead letter, by (partition, offset).
landed_sql() {
    echo "(select source_partition p, source_offset o from pharmaceutical_data_staging
            where source_topic = '$1'
           union all select \"partition\", \"offset\" from pharmaceutical_dead_letters
            where topic = '$1') m"
}
# twice TOPIC: how many (partition, offset) landed more than once
twice() { q "select count(*) from (select 1 from $(landed_sql "$1") group by p, o having count(*) > 1) d"; }
# landed TOPIC: "p:distinct offsets:max offset + 1" per partition: equal to "p:end:end" when
# every offset below the log end landed
landed() {
    q "select coalesce(string_agg(p || ':' || n || ':' || e, ' ' order by p), '') from
        (select p, count(distinct o) n, max(o) + 1 e from $(landed_sql "$1") group by p) x"
}
ends_twice() { ends "$1" "$2" | tr ' ' '\n' | awk -F: 'NF { printf "%s%s:%s:%s", sep, $1, $2, $2; sep = " " }'; }
rows_of() { q "select count(*) from pharmaceutical_data_staging where source_topic = '$1'"; }
dead_of() { q "select count(*) from pharmaceutical_dead_letters where topic = '$1'"; }

# assign.py TOPIC NPARTS LOG...: each LOG's current assignment of TOPIC, replaying its
# "assigned: T [..]" (added) and "revoked: T [..]" (removed) lines; prints "p,q|r,s|..." and
# exits 0 when the group has settled: every member has a share, no partition is in two
# members, together they hold all NPARTS.
cat >"$tmp/assign.py" <<'PY'
import re, sys
topic, n, logs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
line = re.compile(r"(assigned|revoked): (\S+) \[([^\]]*)\]")
shares = []
for log in logs:
    cur = set()
    for m in line.finditer(open(log, encoding="utf-8", errors="replace").read()):
        if m.group(2) != topic:
            continue
        ps = {int(x) for x in re.findall(r"\d+", m.group(3))}
        cur = cur | ps if m.group(1) == "assigned" else cur - ps
    shares.append(cur)
print("|".join(",".join(map(str, sorted(s))) for s in shares))
union = set().union(*shares)
ok = all(shares) and sum(map(len, shares)) == len(union) and union == set(range(n))
sys.exit(0 if ok else 1)
PY
settled() { "$PY" "$tmp/assign.py" "$@" >/dev/null; }
shares() { "$PY" "$tmp/assign.py" "$@"; }
# batch_open APP: the loader whose database session is named APP (PGAPPNAME) has a batch open:
# a transaction in progress (today: its COPY into staging, active while the batch is open)
batch_open() {
    test "$(q "select count(*) from pg_stat_activity where datname = current_database() and application_name = '$1'
        and xact_start is not null and state in ('active', 'idle in transaction')")" -ge 1
}
# lock_waiting APP: the session named APP waits for a lock
lock_waiting() {
    test "$(q "select count(*) from pg_stat_activity where datname = current_database() and application_name = '$1'
        and wait_event_type = 'Lock'")" -ge 1
}
stored_is() { test "$(stored_sum "$1" "$2")" = "$3"; }
# follow NAME GROUP TOPIC [flags]: a --follow loader in the background, its log $tmp/NAME.log,
# its database session named NAME, its pid in $LAST. Without fd 7, pg_hold's pipe to its
# holding session (pg.sh): a loader keeping it open would keep that session from ending.
follow() {
    local name=$1 group=$2 topic=$3
    shift 3
    PGAPPNAME=$name GUST_XCOM_FILE=$tmp/$name.xcom "$LOADER" --pipeline dvc --topic "$topic" \
        --group "$group" --follow "${GROUPX[@]}" "$@" >"$tmp/$name.log" 2>&1 7>&- &
    LAST=$!
    gust_kill_at_exit "$LAST"
}
# stop PID...: SIGTERM each, wait for each; their exit statuses in $RCS ("0 0 0")
stop() {
    local p
    RCS=
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for p in "$@"; do
        wait "$p"
        RCS+="${RCS:+ }$?"
    done
}

kafka_start -t gnow:4 -t gst:3 -t svc1:1 -t svc4:4 -t svc5:4 -t g12:12
check "the Kafka mock runs" test -n "${KAFKA_BOOTSTRAP_SERVERS:-}"

# --- available-now alone on a fresh group: drains everything, exits 0, XCom counts
produce gnow now 0 400 25
timeout -s KILL 60 "$LOADER" --pipeline dvc --topic gnow --group gnow --available-now \
    "${GROUPX[@]}" --max-batch 150 >"$tmp/now.log" 2>&1
check_eq "available-now alone: exit 0" 0 $?
x=$(xcom)
check_eq "available-now alone: xcom messages" 400 "$(jq -r .messages <<<"$x")"
check_eq "available-now alone: xcom records_loaded" 384 "$(jq -r .records_loaded <<<"$x")"
check_eq "available-now alone: xcom dead_letters" 16 "$(jq -r .dead_letters <<<"$x")"
check "available-now alone: several batches (--max-batch 150)" test "$(jq -r .batches <<<"$x")" -ge 3
check_eq "available-now alone: xcom partitions = the log ends" "$(ends gnow 4)" \
    "$(jq -r '.partitions | to_entries | sort_by(.key | tonumber) | map("\(.key):\(.value)")
        | join(" ")' <<<"$x")"
check_contains "available-now alone: logs its assignment" "assigned: gnow [" "$(cat "$tmp/now.log")"
check_eq "available-now alone: 384 rows, 16 dead letters" "384 16" "$(rows_of gnow) $(dead_of gnow)"
check_eq "available-now alone: stored offsets = log ends" "$(ends gnow 4)" "$(stored gnow gnow)"
timeout -s KILL 60 "$LOADER" --pipeline dvc --topic gnow --group gnow --available-now \
    "${GROUPX[@]}" >"$tmp/now2.log" 2>&1
check_eq "available-now rerun, nothing new: exit 0 (not 99)" 0 $?
check_eq "available-now rerun: xcom messages 0" 0 "$(jq -r .messages <<<"$(xcom)")"

# --- --status: per partition stored offset, log end, lag; total; --max-lag; -o json
produce gst st 0 10 1000 -p 0
produce gst st 10 20 1000 -p 1
timeout -s KILL 60 "$LOADER" --pipeline dvc --topic gst --group gst --available-now \
    "${GROUPX[@]}" >"$tmp/st.log" 2>&1
check_eq "status: first load exits 0, stores 0:10 1:20" "0 0:10 1:20" "$? $(stored gst gst)"
produce gst st 30 5 1000 -p 0
produce gst st 35 7 1000 -p 1
produce gst st 42 4 1000 -p 2
check_eq "status: the broker's log ends (kcat -Q)" "0:15 1:27 2:4" "$(ends gst 3)"
status() { timeout -s KILL 30 "$LOADER" --status --pipeline dvc "$@" 2>"$tmp/status.err"; }
out=$(status --group gst --topic gst)
check_eq "status: exit 0" 0 $?
check_eq "status: the header" "topic partition stored_offset log_end lag" \
    "$(head -1 <<<"$out" | tr -s ' \t' ' ' | sed 's/ $//')"
rows=$(awk '$1 == "gst" && $2 ~ /^[0-9]+$/' <<<"$out" | sort -k2n)
check_eq "status: one row per partition" 3 "$(grep -c . <<<"$rows")"
check_eq "status: log ends = the broker's" "$(ends gst 3)" \
    "$(awk '{ printf "%s%s:%s", sep, $2, $4; sep = " " }' <<<"$rows")"
check_eq "status: stored offsets = stream_offsets ('-' without a row)" "$(stored gst gst) 2:-" \
    "$(awk '{ printf "%s%s:%s", sep, $2, $3; sep = " " }' <<<"$rows")"
check_eq "status: lags (no row: log end - log start)" "0:5 1:7 2:4" \
    "$(awk '{ printf "%s%s:%s", sep, $2, $5; sep = " " }' <<<"$rows")"
check_eq "status: total lag" "total lag 16" "$(grep '^total lag' <<<"$out" | tr -s ' ')"
status --group gst --topic gst --max-lag 15 >/dev/null
check_eq "status: --max-lag 15 < 16 -> exit 1" 1 $?
status --group gst --topic gst --max-lag 16 >/dev/null
check_eq "status: --max-lag 16 = 16 -> exit 0" 0 $?
json=$(status --group gst --topic gst -o json)
check_eq "status -o json: exit 0" 0 $?
check_eq "status -o json: parses, 3 partitions, the same numbers" \
    "gst 0 10 15 5|gst 1 20 27 7|gst 2 null 4 4" \
    "$(jq -r 'sort_by(.partition) | map("\(.topic) \(.partition) \(.stored_offset) \(.log_end) \(.lag)")
        | join("|")' <<<"$json")"
out=$(status --group nobody --topic gst)
check_eq "status of a group with no offsets: every partition's whole log is lag" "total lag 46" \
    "$(grep '^total lag' <<<"$out" | tr -s ' ')"

# --- a --follow service and an --available-now task on one group
# 1 partition, held by the service: the task has nothing to do, exits 99
follow s1 svc1 svc1 --trigger-interval 300ms
s1=$LAST
check "service + task, 1 partition: the service is assigned [0]" \
    wait_for 30 grep -q "assigned: svc1 \[0\]" "$tmp/s1.log"
produce svc1 s1 0 50 10
check "service + task, 1 partition: the service loads 50 messages" wait_for 30 stored_is svc1 svc1 50
timeout -s KILL 60 "$LOADER" --pipeline dvc --topic svc1 --group svc1 --available-now \
    "${GROUPX[@]}" >"$tmp/t1.log" 2>&1
check_eq "service + task, 1 partition: the task exits 99 (skipped)" 99 $?
produce svc1 s1 50 20 10
check "service + task, 1 partition: the service goes on after the task (70)" \
    wait_for 30 stored_is svc1 svc1 70
stop "$s1"
check_eq "service + task, 1 partition: SIGTERM -> the service exits 0" 0 "$RCS"
check_eq "service + task, 1 partition: nothing twice" 0 "$(twice svc1)"
check_eq "service + task, 1 partition: every offset landed" "$(ends_twice svc1 1)" "$(landed svc1)"
# 4 partitions, the task joins while the service is loading: it drains what it gets (0) or
# gets nothing (99); the service then has everything again
follow s4 svc4 svc4 --trigger-interval 1s --max-batch 100000
s4=$LAST
check "service + task, 4 partitions: the service holds all 4" wait_for 30 settled svc4 4 "$tmp/s4.log"
produce svc4 s4 0 1200 30
timeout -s KILL 60 "$LOADER" --pipeline dvc --topic svc4 --group svc4 --available-now \
    "${GROUPX[@]}" --max-batch 100 >"$tmp/t4.log" 2>&1
rc=$?
check "service + task, 4 partitions: the task exits 0 or 99 (it exited $rc)" test "$rc" = 0 -o "$rc" = 99
produce svc4 s4 1200 300 30
check "service + task, 4 partitions: the service loads the rest (1500)" \
    wait_for 40 stored_is svc4 svc4 1500
stop "$s4"
check_eq "service + task, 4 partitions: SIGTERM -> the service exits 0" 0 "$RCS"
check_eq "service + task, 4 partitions: nothing twice in staging + dead letters" 0 "$(twice svc4)"
check_eq "service + task, 4 partitions: dead letters once each" 50 \
    "$(q "select count(distinct (\"partition\", \"offset\")) || '' from pharmaceutical_dead_letters
        where topic = 'svc4' having count(*) = count(distinct (\"partition\", \"offset\"))")"
check_eq "service + task, 4 partitions: every offset below the log ends landed" \
    "$(ends_twice svc4 4)" "$(landed svc4)"
check_eq "service + task, 4 partitions: stored offsets = log ends" "$(ends svc4 4)" "$(stored svc4 svc4)"
echo "# the task exited $rc: $(grep -c 'batch .* committed' "$tmp/t4.log") batch(es)"

# 4 partitions, the task first: it holds the group, its batch held at the offsets (a row lock)
# while the service joins, so the rebalance asks it to give partitions up with a batch open;
# it drains what stays its own and exits 0
produce svc5 s5 0 1500 30
q "insert into stream_offsets (consumer_group, topic, \"partition\", next_offset)
    select 'svc5', 'svc5', p, 0 from generate_series(0, 3) p"
pg_hold "select 1 from stream_offsets where consumer_group = 'svc5' for update"
PGAPPNAME=t5 GUST_XCOM_FILE=$tmp/t5.xcom timeout -s KILL 90 "$LOADER" --pipeline dvc --topic svc5 \
    --group svc5 --available-now "${GROUPX[@]}" --max-batch 50 >"$tmp/t5.log" 2>&1 7>&- &
t5=$!
gust_kill_at_exit "$t5"
check "task first: its first batch waits on the held offsets" wait_for 30 lock_waiting t5
follow s5 svc5 svc5 --trigger-interval 300ms
s5=$LAST
# its start line comes after it subscribed; when its join reaches the group is not visible
# from outside, so the task may finish before the rebalance (then nothing is revoked from it)
check "task first: the service has subscribed" wait_for 30 grep -q "mode=follow" "$tmp/s5.log"
pg_release
wait "$t5"
check_eq "task first: the task drains its share and exits 0" 0 $?
check "task first: the service has all 4 partitions after the task" \
    wait_for 30 settled svc5 4 "$tmp/s5.log"
check "task first: the service loads the rest (1500 stored)" wait_for 30 stored_is svc5 svc5 1500
stop "$s5"
check_eq "task first: SIGTERM -> the service exits 0" 0 "$RCS"
check_eq "task first: the XCom message counts of task and service add up to 1500" 1500 \
    "$(($(jq .messages "$tmp/t5.xcom") + $(jq .messages "$tmp/s5.xcom")))"
check_eq "task first: nothing twice in staging + dead letters" 0 "$(twice svc5)"
check_eq "task first: every offset below the log ends landed" "$(ends_twice svc5 4)" "$(landed svc5)"
check_eq "task first: stored offsets = log ends" "$(ends svc5 4)" "$(stored svc5 svc5)"
echo "# the task loaded $(jq -c '[.messages, .partitions]' "$tmp/t5.xcom"); its log:"
grep -E "assigned|revoked" "$tmp/t5.log" | sed 's/^/#   /'

# --- three loaders on 12 partitions, one killed mid-batch, a fourth joins
LX=(--trigger-interval 3s --max-batch 100000)
follow l1 g12 g12 "${LX[@]}"
l1=$LAST
follow l2 g12 g12 "${LX[@]}"
l2=$LAST
follow l3 g12 g12 "${LX[@]}"
l3=$LAST
check "3 loaders: they settle on a share each, disjoint, all 12 partitions" \
    wait_for 40 settled g12 12 "$tmp/l1.log" "$tmp/l2.log" "$tmp/l3.log"
echo "# shares: $(shares g12 12 "$tmp/l1.log" "$tmp/l2.log" "$tmp/l3.log")"
produce g12 big 0 1500 37
check "3 loaders: the first 1500 messages are stored" wait_for 40 stored_is g12 g12 1500
check "3 loaders: the one to be killed committed a batch" grep -q "batch .* committed" "$tmp/l1.log"
produce g12 big 1500 500 37
check "3 loaders: the one to be killed has a batch open" wait_for 20 batch_open l1
kill -9 "$l1"
wait "$l1" 2>/dev/null
# one statement, one snapshot: the survivors may be committing meanwhile
check_eq "kill -9: what landed = the stored offsets (the killed batch left nothing)" t \
    "$(q "select (select count(*) from $(landed_sql g12)) =
        (select sum(next_offset) from stream_offsets where consumer_group = 'g12')")"
check "kill -9: the other two take its partitions" \
    wait_for 40 settled g12 12 "$tmp/l2.log" "$tmp/l3.log"
echo "# shares: $(shares g12 12 "$tmp/l2.log" "$tmp/l3.log")"
check "kill -9: the survivors load the first 2000 messages (the killed batch again)" \
    wait_for 40 stored_is g12 g12 2000
produce g12 big 2000 500 37
follow l4 g12 g12 "${LX[@]}"
l4=$LAST
check "a fourth loader joins (while batches are open): all settle on a share each" \
    wait_for 40 settled g12 12 "$tmp/l2.log" "$tmp/l3.log" "$tmp/l4.log"
echo "# shares: $(shares g12 12 "$tmp/l2.log" "$tmp/l3.log" "$tmp/l4.log")"
produce g12 big 2500 500 37
check "4 loaders: all 3000 messages are stored" wait_for 40 stored_is g12 g12 3000
check_eq "4 loaders: the log ends sum to 3000 (what was produced)" 3000 "$(ends_sum g12 12)"
stop "$l2" "$l3" "$l4"
check_eq "SIGTERM: the three loaders exit 0" "0 0 0" "$RCS"
check_eq "exactly once: no message landed twice (staging + dead letters)" 0 "$(twice g12)"
check_eq "exactly once: every offset below each log end landed" "$(ends_twice g12 12)" "$(landed g12)"
poison=$(poison_count 0 3000 37)
check_eq "exactly once: $poison dead letters, $((3000 - poison)) rows, one per soDangKy" \
    "$poison $((3000 - poison)) $((3000 - poison))" "$(dead_of g12) $(rows_of g12) $(q "select
    count(distinct sodangky) from pharmaceutical_data_staging where source_topic = 'g12'")"
check_eq "stored offsets = log ends" "$(ends g12 12)" "$(stored g12 g12)"
check "the fourth loader loaded a batch of its share" grep -q "batch .* committed" "$tmp/l4.log"

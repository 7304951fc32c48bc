#!/usr/bin/env bash
# wiki_stream (wiki_data_dag's source) against the MediaWiki recentchanges fixture
# (tests/fixtures/wiki_api.py), librdkafka's mock cluster and a real PostgreSQL migrated by
# `gust db migrate`: a full run sends every change once, keyed by rcid, with every field equal
# to an independent mapping (hidden users and log rows with nulls), pages with rccontinue, asks
# for the issue's rcprop with a descriptive User-Agent, and stores the newest change time; an
# incremental run sends only new changes (a late change inside --overlap too), a run without
# changes sends nothing; 5xx, maxlag, truncated and HTML answers are retried; --duration cuts
# a run and the next one resumes exactly; a source, broker or database that is down ends in
# exit 111 with the watermark unchanged; a change dated 9999-12-31 (from an API that ignores
# rcend) is sent and reported but never becomes the position; bad flags are 100. Keys, read
# back with partitions and offsets (tests/integration/key_order.py): each change's key is its
# rcid, in murmur2's partition, oldest first within a partition; a change sent again by a later
# run lands in the same partition after its first copy. Times the
# checks depend on are put into the fixture, never assumed from how fast steps follow.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 48
WIKI=$(gust_bin wiki_stream)
gust_tmpdir tmp
unset ${!WIKI_@} ${!KAFKA_@}
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_wiki_stream
kafka_start -t rc_full:4 -t rc_inc:4 -t rc_none:1 -t rc_late:1 -t rc_faults:4 -t rc_cut:4 \
    -t rc_down:1 -t rc_future:1 -t rc_future2:1 -t rc_keys:4 || exit 1
BROKERS=$KAFKA_BOOTSTRAP_SERVERS
wiki_start --changes 1500 --seed 1 || exit 1
API=$WIKI_API_URL
unset WIKI_API_URL
control() { wiki_control "$1"; }
counters() { curl -s "$WIKI_FIXTURE_URL/_control/counters" >"$tmp/counters.json"; }
cget() { python3 -c "import json, sys; v = json.load(open(sys.argv[1]))$1; print(v)" "$tmp/counters.json"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
state() { q "select to_char(last_crawl_time at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), details->>'rcid', updated_at from crawl_state where job_name = '$1'"; }
# wiki [flags...]: exit code in $rc, log in $tmp/out, XCom in $tmp/x.json
wiki() {
    rm -f "$GUST_XCOM_FILE"
    KAFKA_BOOTSTRAP_SERVERS=${RUN_BROKERS:-$BROKERS} "$WIKI" --api-url "$API" --rate 100 "$@" \
        >"$tmp/out" 2>&1
    rc=$?
    cp "$GUST_XCOM_FILE" "$tmp/x.json" 2>/dev/null || echo '{}' >"$tmp/x.json"
}
xget() { python3 -c "import json, sys; v = json.load(open(sys.argv[1]))$1; print(json.dumps(v) if not isinstance(v, str) else v)" "$tmp/x.json"; }
consume() { kcat -C -b "$BROKERS" -t "$1" -e -q -f '%k\t%s\n' >"$tmp/$1.msgs" 2>"$tmp/kcat.log"; }
changes() { curl -s "$WIKI_FIXTURE_URL/_control/changes" >"$tmp/changes.json"; }
# key_order PARTITIONS OUT TOPIC [key_order.py flags]: the topic read back with its partitions
# and offsets into $tmp/OUT.json, checked; result in $OUT, its stats by stat NAME
key_order() {
    kcat -C -b "$BROKERS" -t "$3" -e -q -J >"$tmp/$2.json" 2>"$tmp/kcat.log"
    OUT=$(python3 "$GUST_SRC/tests/integration/key_order.py" wiki "$1" "$tmp/$2.json" "${@:4}")
    echo "# key_order $3: $(echo "$OUT" | tail -1)"
}
stat() { echo "$OUT" | sed -n 's/^stats //p' | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# check.py: the expected messages, mapped independently of the C code.
cat >"$tmp/check.py" <<'PY'
import json, sys, time

FIELDS = ["rcid", "title", "time", "username", "change_type", "pageId", "oldsize", "newsize",
          "revisionId", "old_revisionId"]

def expect(c):
    return {"rcid": c["rcid"], "title": c.get("title"), "time": c["timestamp"],
            "username": c.get("user"), "change_type": c["type"], "pageId": c.get("pageid"),
            "oldsize": c.get("oldlen"), "newsize": c.get("newlen"), "revisionId": c.get("revid"),
            "old_revisionId": c.get("old_revid")}

def sent(path):
    recs, bad = [], []
    for line in open(path, encoding="utf-8"):
        key, _, val = line.rstrip("\n").partition("\t")
        r = json.loads(val, object_pairs_hook=lambda p: p)
        if [k for k, _ in r] != FIELDS:
            bad.append("fields %s" % [k for k, _ in r])
        r = dict(r)
        if key != str(r["rcid"]):
            bad.append("key %s is not the rcid %s" % (key, r["rcid"]))
        if "\\u" in val:
            bad.append("ASCII escapes")
        recs.append(r)
    return recs, bad

cmd = sys.argv[1]
changes = json.load(open(sys.argv[2], encoding="utf-8"))["changes"]
if cmd in ("newest", "last_rcid"):  # a position is never dated past the clock plus 5 minutes
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
    changes = [c for c in changes if c["timestamp"] <= soon]
if cmd == "newest":          # changes -> the newest timestamp
    print(max(c["timestamp"] for c in changes))
elif cmd == "last_rcid":     # changes -> the rcid of the last change in (timestamp, rcid) order
    print(max((c["timestamp"], c["rcid"]) for c in changes)[1])
elif cmd == "nth":           # changes, N -> "timestamp|rcid" of the Nth in (timestamp, rcid) order
    c = sorted(changes, key=lambda c: (c["timestamp"], c["rcid"]))[int(sys.argv[3]) - 1]
    print("%s|%d" % (c["timestamp"], c["rcid"]))
elif cmd == "compare":       # changes, messages, [min rcid | rcid list file]: exactly those
    recs, bad = sent(sys.argv[3])
    want = {c["rcid"]: expect(c) for c in changes}
    if len(sys.argv) > 4:
        keep = set(json.load(open(sys.argv[4]))) if sys.argv[4].endswith(".json") else \
            {r for r in want if r >= int(sys.argv[4])}
        want = {r: v for r, v in want.items() if r in keep}
    got = {r["rcid"]: r for r in recs}
    if len(got) != len(recs):
        bad.append("%d duplicate(s)" % (len(recs) - len(got)))
    if set(got) != set(want):
        bad.append("missing %d, unexpected %d" % (len(set(want) - set(got)), len(set(got) - set(want))))
    diff = [k for k in want if k in got and got[k] != want[k]]
    if diff:
        bad.append("%d differ, e.g. %s vs %s" % (len(diff), got[diff[0]], want[diff[0]]))
    hidden = sum(r["username"] is None for r in recs)
    logs = sum(r["change_type"] == "log" and r["oldsize"] is None and r["newsize"] is None for r in recs)
    print("changes=%d %s" % (len(recs), "; ".join(bad[:3]) or "OK"))
    print("nulls", hidden, logs)
PY
check_py() { python3 "$tmp/check.py" "$@"; }

# ---- 1. full run: every change once, the watermark
T0=$(date +%s)
wiki --job-name wiki --topic rc_full
T1=$(date +%s)
changes
consume rc_full
NEWEST=$(check_py newest "$tmp/changes.json")
check_eq "full run: exit 0" 0 "$rc"
OUT=$(check_py compare "$tmp/changes.json" "$tmp/rc_full.msgs")
check_eq "full run: all 1500 changes, each once, keyed by rcid, every field as the API gave it" \
    "changes=1500 OK" "$(echo "$OUT" | head -1)"
check_eq "... hidden users (username null) and log rows (sizes null) are sent, not errors" \
    "True True" "$(echo "$OUT" | sed -n 's/^nulls //p' | awk '{print ($1 > 0 ? "True" : "False"), ($2 > 0 ? "True" : "False")}')"
check_eq "crawl_state: the newest change time and its rcid" \
    "$NEWEST|$(check_py last_rcid "$tmp/changes.json")" "$(state wiki | cut -d'|' -f1,2)"
check_eq "XCom: pages, changes_sent, watermark before/after" "[3, 1500, null, \"$NEWEST\", true]" \
    "$(xget '; v = [v[k] for k in ("pages", "changes_sent", "watermark_before", "watermark_after", "complete")]')"
counters
check_eq "3 requests of the issue's query, oldest first, rclimit 500" \
    "3 title|ids|sizes|flags|user|timestamp|loginfo 500 newer" \
    "$(cget '["requests"]') $(cget '["log"][0]["rcprop"]') $(cget '["log"][0]["rclimit"]') $(cget '["log"][0]["rcdir"]')"
check_eq "... pages 2 and 3 continue where the API said (rccontinue), page 1 does not" \
    "None True True" \
    "$(cget '["log"][0]["rccontinue"]') $(cget '["log"][1]["rccontinue"] is not None') $(cget '; v = v["log"][2]["rccontinue"] > v["log"][1]["rccontinue"]')"
check_eq "... the first run starts --since (1 day) back" True \
    "$(cget '["log"][0]["rcstart"]; import calendar, time; s = calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ")) + 86400; v = '"$T0"' - 1 <= s <= '"$T1"' + 1')"
UA=$(cget '["user_agents"]')
check_eq "User-Agent: one, descriptive (tool/version, contact URL, library): $UA" True \
    "$(cget '["user_agents"]; import re; v = len(v) == 1 and re.match(r"^gust-wiki_stream/[0-9.]+ \([^)]*https?://[^)]*\) libcurl", v[0]) is not None')"

# ---- 2. incremental: only the new changes (hidden users and log rows among them)
control '{"op": "counters", "reset": true}' >/dev/null
control '{"op": "add", "count": 7, "hidden": 2, "log": 2}' >"$tmp/added.json"
python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["rcids"]))' "$tmp/added.json" >"$tmp/added_rcids.json"
wiki --job-name wiki --topic rc_inc
changes
consume rc_inc
NEWEST2=$(check_py newest "$tmp/changes.json")
OUT=$(check_py compare "$tmp/changes.json" "$tmp/rc_inc.msgs" "$tmp/added_rcids.json")
check_eq "incremental run: exit 0, exactly the 7 new changes" "0 changes=7 OK" "$rc $(echo "$OUT" | head -1)"
check_eq "... 2 hidden users and 2 log rows with nulls" "nulls 2 2" "$(echo "$OUT" | tail -1)"
check_eq "... XCom: 7 sent, watermark from the first run's to the newest" "7 $NEWEST $NEWEST2" \
    "$(xget '["changes_sent"]') $(xget '["watermark_before"]') $(xget '["watermark_after"]')"
check_eq "... crawl_state moved" "$NEWEST2" "$(state wiki | cut -d'|' -f1)"
counters
check_eq "... one request, starting --overlap (60 s) before the watermark" "1 True" \
    "$(cget '["requests"]') $(cget '["log"][0]["rcstart"]; import datetime as d; f = lambda s: d.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ"); v = (f("'"$NEWEST"'") - f(v)).total_seconds() == 60')"

# ---- 3. nothing new: nothing sent, watermark unchanged
before=$(state wiki)
wiki --job-name wiki --topic rc_none
consume rc_none
check_eq "no new changes: exit 0, nothing sent, watermark unchanged" "0 0 0 $NEWEST2" \
    "$rc $(grep -c . "$tmp/rc_none.msgs") $(xget '["changes_sent"]') $(xget '["watermark_after"]')"
check_eq "... crawl_state untouched" "$before" "$(state wiki)"

# ---- 4. a change that becomes visible late, timestamped before the watermark (within --overlap:
# 20 s before it, put into the fixture, whenever this step runs)
LATE=$(python3 -c 'import calendar, sys, time; print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(time.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")) - 20)))' "$NEWEST2")
control '{"op": "add", "count": 1, "at": "'"$LATE"'"}' >"$tmp/late.json"
python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["rcids"]))' "$tmp/late.json" >"$tmp/late_rcids.json"
wiki --job-name wiki --topic rc_late
changes
consume rc_late
check_eq "a late change inside the overlap is sent once; the watermark does not move back" \
    "0 changes=1 OK" "$rc $(check_py compare "$tmp/changes.json" "$tmp/rc_late.msgs" "$tmp/late_rcids.json" | head -1)"
check_eq "... watermark still the newest change time" "$NEWEST2" "$(state wiki | cut -d'|' -f1)"

# ---- 5. faults: 503s, maxlag, truncated and HTML bodies are retried; the result is exact
control '{"op": "faults", "fail_rate": 0.2, "truncate_rate": 0.05, "garbage_rate": 0.05, "maxlag_next": 1, "seed": 5}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
wiki --job-name faults --topic rc_faults --max-tries 10
consume rc_faults
changes
check_eq "with 503s, maxlag, truncated and HTML answers: exit 0, every change exactly once" \
    "0 changes=1508 OK" "$rc $(check_py compare "$tmp/changes.json" "$tmp/rc_faults.msgs" | head -1)"
counters
check_eq "... the faults happened (503s, maxlag or bad bodies) and were retried" True \
    "$(cget '; v = v["requests"] > 4 and v["status"].get("503", 0) > 0')"

# ---- 6. --duration cuts a run after a page; the next run resumes exactly there
wiki --job-name cut --topic rc_cut --duration 1ms
check_eq "--duration: exit 0 after one page, incomplete, 500 sent" "0 1 false 500" \
    "$rc $(xget '["pages"]') $(xget '["complete"]') $(xget '["changes_sent"]')"
check_eq "... its watermark is the 500th change in (timestamp, rcid) order" \
    "$(check_py nth "$tmp/changes.json" 500)" "$(state cut | cut -d'|' -f1,2)"
wiki --job-name cut --topic rc_cut
consume rc_cut
check_eq "... the next run sends the rest: together every change exactly once" \
    "0 changes=1508 OK" "$rc $(check_py compare "$tmp/changes.json" "$tmp/rc_cut.msgs" | head -1)"
check_eq "... and ends at the newest change" "$NEWEST2" "$(state cut | cut -d'|' -f1)"

# ---- 6b. keys: rcid, one partition per rcid, oldest first; a re-sent change after its first copy
wiki --job-name keys --topic rc_keys
key_order 4 rc_keys0 rc_keys
check_eq "keys: each change keyed by its rcid in murmur2's partition, oldest first in each of the 4" \
    "0 OK 4 $(xget '["changes_sent"]')" "$rc $(echo "$OUT" | head -1) $(stat partitions) $(stat keys)"
q "delete from crawl_state where job_name = 'keys'"
wiki --job-name keys --topic rc_keys
key_order 4 rc_keys1 rc_keys --before "$tmp/rc_keys0.json"
check_eq "... a run from scratch sends them all again: each in its rcid's partition, after its first copy" \
    "0 OK True" "$rc $(echo "$OUT" | head -1) $([ "$(stat repeated)" = "$(xget '["changes_sent"]')" ] && echo True)"

# ---- 7. source down: exit 111 after bounded tries, watermark unchanged
before=$(state wiki)
control '{"op": "add", "count": 3}' >/dev/null
control '{"op": "faults", "fail_rate": 1.0}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
wiki --job-name wiki --topic rc_down --max-tries 3
counters
check_eq "source answering 503: exit 111 after exactly --max-tries requests" "111 3" "$rc $(cget '["requests"]')"
check_contains "... the error says the API is down" "API is down" "$(grep error: "$tmp/out")"
check_eq "... watermark unchanged, no XCom" "$before {}" "$(state wiki) $(cat "$tmp/x.json")"
control '{"op": "faults"}' >/dev/null
KAFKA_BOOTSTRAP_SERVERS=$BROKERS "$WIKI" --api-url http://127.0.0.1:1/w/api.php --job-name wiki \
    --topic rc_down --max-tries 2 >"$tmp/out" 2>&1
check_eq "source unreachable: exit 111, watermark unchanged" "111 $before" "$? $(state wiki)"

# ---- 8. broker and database down
RUN_BROKERS=127.0.0.1:1 wiki --job-name wiki --topic rc_down --flush-timeout 2s
check_eq "broker unreachable: exit 111, watermark unchanged" "111 $before" "$rc $(state wiki)"
check_contains "... the error says Kafka did not acknowledge" "not acknowledged" "$(grep error: "$tmp/out")"
wiki --job-name wiki --topic rc_down --database-url 'postgresql://nobody@127.0.0.1:1/x?connect_timeout=2'
check_eq "database unreachable: exit 111" 111 "$rc"

# ---- 9. a change dated 9999-12-31 from an API that ignores rcend: sent and reported, never
# the position (the 3 changes of section 7 are still to be sent)
control '{"op": "faults", "ignore_rcend": true}' >/dev/null
FRCID=$(control '{"op": "add", "count": 1, "at": "9999-12-31T00:00:00Z"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["rcids"][0])')
wiki --job-name wiki --topic rc_future
consume rc_future
changes
check_eq "a change dated 9999-12-31 (rcid $FRCID): exit 0, sent with the 3 new ones" "0 4 1" \
    "$rc $(grep -c . "$tmp/rc_future.msgs") $(grep -c "^$FRCID	" "$tmp/rc_future.msgs")"
check_eq "... reported in the XCom: 1 future change, its rcid" "1 [\"$FRCID\"]" \
    "$(xget '["future_items"]') $(xget '["future_keys"]')"
check_contains "... and in the log, with its rcid" "1 item(s) dated after" "$(grep -- "$FRCID" "$tmp/out")"
check_eq "... the position is the newest other change, not past the clock plus 5 minutes" \
    "$(check_py newest "$tmp/changes.json")|$(check_py last_rcid "$tmp/changes.json")|true" \
    "$(q "select to_char(last_crawl_time at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '|' || (details->>'rcid') || '|' || (last_crawl_time <= now() + interval '5 minutes') from crawl_state where job_name = 'wiki'")"
control '{"op": "add", "count": 2}' >"$tmp/next.json"
wiki --job-name wiki --topic rc_future2
consume rc_future2
check_eq "the next run: exit 0, the 2 new changes sent (and the future one again)" "0 2 1" \
    "$rc $(python3 -c 'import json, sys; ids = set(json.load(open(sys.argv[1]))["rcids"]); print(sum(int(l.split("\t")[0]) in ids for l in open(sys.argv[2])))' "$tmp/next.json" "$tmp/rc_future2.msgs") $(xget '["future_items"]')"
changes
check_eq "... and the position moved to the newest change" \
    "$(check_py newest "$tmp/changes.json")|$(check_py last_rcid "$tmp/changes.json")" "$(state wiki | cut -d'|' -f1,2)"
control '{"op": "faults"}' >/dev/null

# ---- 10. refusals
for bad in "--rate 0" "--since 0" "--since x" "--duration -1" "--job-name ''" "--contact ''" \
    "--max-tries 0" "--max-clock-skew x"; do
    eval "wiki $bad"
    check_eq "wiki_stream $bad: exit 100" 100 "$rc"
done

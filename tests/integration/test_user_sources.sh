#!/usr/bin/env bash
# randomuser_fetch and randomuser_stream (user_automation's sources) against the randomuser.me
# fixture (tests/fixtures/randomuser.py) and librdkafka's mock cluster: the fetched user is the
# fixture's first user formatted (checked by an independent formatter) and is the XCom; 5xx are
# retried; a source that is down ends in exit 111 after exactly --max-tries requests. The
# stream sends the first user first, then formatted users keyed by email (dirty data unchanged),
# stops on time, keeps to --rate (retries included) by the fixture's own counters, fails with
# 111 when the broker or the source is down, stops on SIGTERM; bad flags are 100. Keys, on a
# 6-partition topic read back (tests/integration/key_order.py): each user's key is its email as
# created_users stores it (none without one), in murmur2's partition (one partition per email),
# and users of one answer arrive in the order sent.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 50
BIN=$(gust_bin)
gust_tmpdir tmp
unset ${!RANDOMUSER_@} ${!KAFKA_@}
export GUST_XCOM_FILE=$tmp/xcom.json
kafka_start -t users_created:1 -t users_faults:1 -t users_big:4 -t users_down:1 -t users_stop:1 \
    -t users_slow:1 -t users_keys:6 || exit 1
BROKERS=$KAFKA_BOOTSTRAP_SERVERS
randomuser_start --seed 1 --dirty 0.2 || exit 1
URL=$RANDOMUSER_API_URL
control() { randomuser_control "$1"; }
counter() { curl -s "$URL/_control/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)'"$1"')'; }
now() { date +%s.%N; }
# run PROG [flags...]: exit code in $rc, log in $tmp/out, stdout in $tmp/stdout, XCom in $tmp/x.json
run() {
    local prog=$1
    shift
    rm -f "$GUST_XCOM_FILE"
    KAFKA_BOOTSTRAP_SERVERS=${RUN_BROKERS:-$BROKERS} "$BIN/$prog" "$@" >"$tmp/stdout" 2>"$tmp/out"
    rc=$?
    cp "$GUST_XCOM_FILE" "$tmp/x.json" 2>/dev/null || echo '{}' >"$tmp/x.json"
}
# diag RC: show the last run's log (as TAP comments) when it did not exit RC
diag() { [ "$rc" = "$1" ] || sed 's/^/#   /' "$tmp/out"; }
xget() { python3 -c "import json, sys; v = json.load(open(sys.argv[1]))$1; print(json.dumps(v) if not isinstance(v, str) else v)" "$tmp/x.json"; }
consume() { kcat -C -b "$BROKERS" -t "$1" -e -q -f '%k\t%s\n' >"$tmp/$1.msgs" 2>"$tmp/kcat.log"; }

# check.py: the expected records, formatted independently of the C code.
cat >"$tmp/check.py" <<'PY'
import json, re, sys

FIELDS = ["id", "first_name", "last_name", "gender", "address", "postal_code", "email",
          "username", "dob", "registered_date", "phone", "picture"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

def g(d, *ks):
    for k in ks:
        d = d.get(k) if isinstance(d, dict) else None
    return d

def fmt(u):
    loc = u.get("location") or {}
    num, street = g(loc, "street", "number"), g(loc, "street", "name")
    parts = [("%s %s" % (num, street)) if num is not None and street else street or
             (str(num) if num is not None else None), loc.get("city"), loc.get("state"),
             loc.get("country")]
    pc = loc.get("postcode")
    s = lambda v: v if isinstance(v, str) else None
    return {"id": g(u, "login", "uuid"), "first_name": s(g(u, "name", "first")),
            "last_name": s(g(u, "name", "last")), "gender": s(u.get("gender")),
            "address": ", ".join(p for p in parts if p) or None,
            "postal_code": None if pc is None else str(pc), "email": s(u.get("email")),
            "username": s(g(u, "login", "username")), "dob": s(g(u, "dob", "date")),
            "registered_date": s(g(u, "registered", "date")), "phone": s(u.get("phone")),
            "picture": s(g(u, "picture", "medium"))}

def messages(path):
    out = []
    for line in open(path, encoding="utf-8"):
        key, _, val = line.rstrip("\n").partition("\t")
        out.append((key, val, json.loads(val, object_pairs_hook=lambda p: p)))
    return out

cmd = sys.argv[1]
if cmd == "fetched":       # served.json, xcom file, stdout file
    served = json.load(open(sys.argv[2]))["users"]
    x = json.load(open(sys.argv[3]), object_pairs_hook=lambda p: p)
    bad = []
    if [k for k, _ in x] != FIELDS:
        bad.append("fields %s" % [k for k, _ in x])
    if dict(x) != fmt(served[0]):
        bad.append("not the fixture's first user formatted: %s vs %s" % (dict(x), fmt(served[0])))
    if not UUID.match(dict(x)["id"]):
        bad.append("id is not a UUID")
    if open(sys.argv[4]).read().strip() != open(sys.argv[3]).read().strip():
        bad.append("stdout differs from the XCom")
    print("; ".join(bad) or "OK")
elif cmd == "stream":      # served.json, messages, first-user file, max abandoned users
    served = {u["login"]["uuid"]: u for u in json.load(open(sys.argv[2]))["users"]}
    msgs = messages(sys.argv[3])
    first = open(sys.argv[4]).read().strip()
    bad = []
    if not msgs or msgs[0][1] != first:
        bad.append("the first message is not the --first-user record")
    for key, val, rec in msgs:
        if [k for k, _ in rec] != FIELDS:
            bad.append("fields of %s" % key)
        email = dict(rec)["email"]
        want = email.strip(" \t\n\r\f\v").lower() if isinstance(email, str) else ""
        if key != want:
            bad.append("key %s is not the email %s" % (key, email))
        if "\\u" in val:
            bad.append("ASCII escapes")
    got = [dict(r) for _, _, r in msgs[1:]]
    ids = [r["id"] for r in got]
    if len(set(ids)) != len(ids):
        bad.append("a fetched user was sent twice")
    diff = [r["id"] for r in got if r["id"] not in served or fmt(served[r["id"]]) != r]
    if diff:
        bad.append("%d message(s) are not a served user formatted, e.g. %s" % (len(diff), diff[0]))
    if len(served) - len(got) > int(sys.argv[5]):
        bad.append("served %d, sent %d" % (len(served), len(got)))
    dirty = (sum(r["first_name"] in (None, "") for r in got),
             sum(bool(r["email"]) and "@example.com" not in r["email"] for r in got),
             sum(r["first_name"] is not None and r["first_name"] != r["first_name"].strip() for r in got))
    print("%s %d" % ("; ".join(bad[:3]) or "OK", len(msgs)))
    print("dirty", *dirty)
PY
check_py() { python3 "$tmp/check.py" "$@"; }
served() { curl -s "$URL/_control/served" >"$tmp/served.json"; }

# ---- randomuser_fetch (get_and_format_data)
run randomuser_fetch --api-url "$URL"
served
check_eq "fetch: exit 0" 0 "$rc"
check_eq "fetch: the XCom is the fixture's first user formatted, 12 fields in order, id a UUID, printed too" \
    OK "$(check_py fetched "$tmp/served.json" "$tmp/x.json" "$tmp/stdout")"
check_eq "fetch: one request" 1 "$(counter '["requests"]')"
cp "$tmp/x.json" "$tmp/first.json"
RANDOMUSER_API_URL=$URL run randomuser_fetch
check_eq "fetch: RANDOMUSER_API_URL is the default endpoint" 0 "$rc"

control '{"op": "reset", "seed": 1, "dirty": 0.2}' >/dev/null
control '{"op": "faults", "fail_next": 2, "fail_status": 502}' >/dev/null
run randomuser_fetch --api-url "$URL"
check_eq "fetch: two 502s then a user: exit 0 after 3 requests" "0 3" "$rc $(counter '["requests"]')"
control '{"op": "faults", "fail_rate": 1.0, "fail_status": 503}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
run randomuser_fetch --api-url "$URL" --max-tries 3
check_eq "fetch: source answering 503: exit 111 after exactly --max-tries requests, no XCom" \
    "111 3 {}" "$rc $(counter '["requests"]') $(cat "$tmp/x.json")"
control '{"op": "faults", "truncate_rate": 0.5, "error_rate": 0.5}' >/dev/null
run randomuser_fetch --api-url "$URL" --max-tries 2
check_eq "fetch: truncated bodies and the API's error envelope are not users: exit 111" 111 "$rc"
control '{"op": "faults"}' >/dev/null
run randomuser_fetch --api-url http://127.0.0.1:1 --max-tries 2
check_eq "fetch: source unreachable: exit 111" 111 "$rc"
check_contains "... the log says why" "error:" "$(cat "$tmp/out")"
run randomuser_fetch --max-tries 0
check_eq "fetch: bad --max-tries: exit 100" 100 "$rc"

# ---- randomuser_stream (stream_to_kafka): 3 s at 5 requests/s
control '{"op": "reset", "seed": 2, "dirty": 0.2}' >/dev/null
t0=$(now)
run randomuser_stream --api-url "$URL" --topic users_created --duration 3 --batch 50 \
    --first-user "$(cat "$tmp/first.json")"
t1=$(now)
served
consume users_created
diag 0
check_eq "stream: exit 0" 0 "$rc"
check_eq "stream: stops on time (3 s, less than 1 s late)" True \
    "$(python3 -c "import sys; d = $t1 - $t0; print(3.0 <= d < 4.0 or d)")"
REQ=$(counter '["requests"]')
check_eq "stream: at most rate * duration + 1 = 16 requests, and really streaming (>= 10): $REQ" True \
    "$(python3 -c "print(10 <= $REQ <= 16)")"
check_eq "stream: never more than 6 request arrivals within any second" True "$(counter '["max_rate"] <= 6')"
check_contains "stream: each request asks for --batch users" "results=50" "$(cat "$tmp/out")"
OUT=$(check_py stream "$tmp/served.json" "$tmp/users_created.msgs" "$tmp/first.json" 100)
N=$(grep -c . "$tmp/users_created.msgs")
check_eq "stream: first user first, then every user as the fixture served it, formatted, keyed by email" \
    "OK $N" "$(echo "$OUT" | head -1)"
check_eq "stream: dirty users travel unchanged (no first name, bad emails, spaces)" "True True True" \
    "$(echo "$OUT" | sed -n 's/^dirty //p' | awk '{print ($1 > 0 ? "True" : "False"), ($2 > 0 ? "True" : "False"), ($3 > 0 ? "True" : "False")}')"
check_eq "stream: XCom users_sent = delivered = messages; first_user; requests <= 16" \
    "$N $N $(xget '["first_user"]') true" \
    "$(xget '["users_sent"]') $(xget '["delivered"]') $(python3 -c 'import json; print(json.load(open("'"$tmp/first.json"'"))["id"])') $(xget '["requests"] <= 16')"
check_eq "stream: XCom duration ~3 s" true "$(xget '["duration"]; v = 3.0 <= v < 3.9')"

# ---- message keys: the email, one partition per email, in the order sent
control '{"op": "reset", "seed": 4, "dirty": 0.4}' >/dev/null
run randomuser_stream --api-url "$URL" --topic users_keys --duration 2 --batch 200 \
    --first-user "$(cat "$tmp/first.json")"
served
kcat -C -b "$BROKERS" -t users_keys -e -q -J >"$tmp/users_keys.json" 2>"$tmp/kcat.log"
OUT=$(python3 "$GUST_SRC/tests/integration/key_order.py" users 6 "$tmp/users_keys.json" \
    --served "$tmp/served.json" --batch 200 --first "$tmp/first.json")
stat() { echo "$OUT" | sed -n 's/^stats //p' | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "# key_order users_keys: $(echo "$OUT" | tail -1)"
diag 0
check_eq "keys: exit 0; each user keyed by its email trimmed and lower-cased (none without one), in murmur2's partition (one per email), in the order sent" \
    "0 OK" "$rc $(echo "$OUT" | head -1)"
check_eq "... not vacuous: 6 partitions used, emails sent twice, same-email pairs checked in order ($(echo "$OUT" | tail -1))" \
    "6 True True" "$(stat partitions) $([ "$(stat multi)" -gt 0 ] && echo True) $([ "$(stat pairs)" -gt 0 ] && echo True)"
check_eq "... users without an email: sent without a key, as many as the XCom's unkeyed (> 0)" \
    "$(stat unkeyed) True" "$(xget '["unkeyed"]') $([ "$(stat unkeyed)" -gt 0 ] && echo True)"
check_contains "... and logged" "has no email: sent without a key" "$(cat "$tmp/out")"

# ---- a lower rate, 5xx included: retries count against the rate
control '{"op": "faults", "fail_rate": 0.3, "fail_status": 500, "seed": 3}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
run randomuser_stream --api-url "$URL" --topic users_faults --duration 3 --rate 2 --batch 20
REQ=$(counter '["requests"]')
check_eq "stream --rate 2 with 30% 500s: exit 0, at most 7 requests (retries included): $REQ" \
    "0 True" "$rc $(python3 -c "print($REQ <= 7)")"
check_eq "... the 500s happened and were retried" True "$(counter '["status"].get("500", 0) > 0')"
check_contains "... no --first-user: only fetched users" "no --first-user" "$(cat "$tmp/out")"
control '{"op": "faults"}' >/dev/null

# ---- the API's largest batch
control '{"op": "counters", "reset": true}' >/dev/null
run randomuser_stream --api-url "$URL" --topic users_big --duration 5 --rate 0.5 --batch 5000
diag 0
check_eq "stream --batch 5000: exit 0, 5000 users per request" \
    "0 true" "$rc $(xget '; v = v["users_sent"] == 5000 * v["requests"] and v["requests"] >= 1')"
check_eq "... at most 3 requests in 5 s at 0.5/s" True "$(counter '["requests"] <= 3')"

# ---- broker down: nothing delivered
RUN_BROKERS=127.0.0.1:1 run randomuser_stream --api-url "$URL" --topic users_down --duration 2 \
    --flush-timeout 2s --first-user "$(cat "$tmp/first.json")"
check_eq "stream: broker unreachable: exit 111" 111 "$rc"
check_contains "... the error says Kafka did not acknowledge" "not acknowledged" "$(grep error: "$tmp/out")"
check_eq "... no XCom" "{}" "$(cat "$tmp/x.json")"

# ---- source down
control '{"op": "faults", "fail_rate": 1.0, "fail_status": 503}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
t0=$(now)
run randomuser_stream --api-url "$URL" --topic users_down --duration 10 --max-tries 3 \
    --first-user "$(cat "$tmp/first.json")"
t1=$(now)
check_eq "stream: source answering 503: exit 111" 111 "$rc"
check_eq "... after bounded retries (3 tries of at most 2 requests), well before --duration" \
    "True True" "$(counter '["requests"] <= 6') $(python3 -c "print($t1 - $t0 < 8)")"
check_contains "... the error says the API is down" "API is down" "$(grep error: "$tmp/out")"
control '{"op": "counters", "reset": true}' >/dev/null
run randomuser_stream --api-url "$URL" --topic users_down --duration 2
check_eq "stream: source down for the whole --duration (retries still waiting): exit 111" 111 "$rc"
check_eq "... at most rate * duration + 1 requests" True "$(counter '["requests"] <= 11')"
control '{"op": "faults"}' >/dev/null
run randomuser_stream --api-url http://127.0.0.1:1 --topic users_down --duration 2 --max-tries 2
check_eq "stream: source unreachable: exit 111" 111 "$rc"

# ---- a slow source: the deadline abandons the transfer under way
control '{"op": "faults", "delay_ms": 5000}' >/dev/null
t0=$(now)
run randomuser_stream --api-url "$URL" --topic users_slow --duration 1
t1=$(now)
check_eq "stream: answers slower than --duration: exit 111 (nothing fetched), on time" "111 True" \
    "$rc $(python3 -c "print($t1 - $t0 < 2.5)")"
control '{"op": "faults"}' >/dev/null

# ---- SIGTERM
control '{"op": "counters", "reset": true}' >/dev/null
KAFKA_BOOTSTRAP_SERVERS=$BROKERS "$BIN/randomuser_stream" --api-url "$URL" --topic users_stop \
    --duration 60 --batch 10 >"$tmp/out" 2>&1 &
pid=$!
requests_at_least() { [ "$(counter '["requests"]')" -ge "$1" ]; }
wait_for 20 requests_at_least 3
t0=$(now)
kill -TERM "$pid"
wait "$pid"
rc=$?
t1=$(now)
check_eq "stream: SIGTERM: exit 1 within 2 s" "1 True" "$rc $(python3 -c "print($t1 - $t0 < 2)")"
check_contains "... logged" "stopped by signal 15" "$(cat "$tmp/out")"
consume users_stop
check_eq "... what was produced before was still delivered" True \
    "$([ "$(grep -c . "$tmp/users_stop.msgs")" -ge 10 ] && echo True)"

# ---- refusals
for bad in "--rate 0" "--rate -1" "--batch 0" "--batch 5001" "--duration 0" "--duration x" \
    "--first-user {" "--first-user [1]" "--first-user {\"id\":5}"; do
    run randomuser_stream --api-url "$URL" $bad
    check_eq "stream $bad: exit 100" 100 "$rc"
done

#!/usr/bin/env bash
# Proves the test harness itself: the throwaway PostgreSQL answers, the Kafka-protocol mock
# broker round-trips messages through kcat, and the HTTP fixture plays a scripted 503 then
# 200 and records both requests.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
source tests/lib/pg.sh
source tests/lib/kafka.sh
source tests/lib/http.sh
plan 17

gust_tmpdir work

# PostgreSQL (started by tests/run.sh)
check_eq "postgres answers select 1" "1" "$(psql -X -At -c 'select 1' 2>&1)"
check "pg_createdb makes a fresh database" pg_createdb gust_harness
check_eq "the new database is usable" "gust_harness" \
    "$(psql -X -At -d gust_harness -c 'select current_database()' 2>&1)"
psql -X -q -d gust_harness -c 'create table t (x int)' >/dev/null 2>&1
pg_createdb gust_harness >/dev/null 2>&1
check_fails "pg_createdb drops what was there" psql -X -d gust_harness -c 'select * from t'

# Kafka mock
if kafka_start -t t1:1 -t t2:3; then echo "ok - kafka_mock starts"; else echo "not ok - kafka_mock starts"; fi
check_contains "bootstrap list names a loopback broker" "127.0.0.1:" "${KAFKA_BOOTSTRAP_SERVERS:-}"
printf 'm1\nm2\nm3\n' >"$work/msgs"
check "kcat produces 3 messages" kcat -b "$KAFKA_BOOTSTRAP_SERVERS" -P -t t1 "$work/msgs"
got=$(timeout 20 kcat -b "$KAFKA_BOOTSTRAP_SERVERS" -C -t t1 -o beginning -e -q 2>&1)
check_eq "kcat consumes exactly those 3 back" "m1
m2
m3" "$got"
parts=$(timeout 20 kcat -b "$KAFKA_BOOTSTRAP_SERVERS" -L -t t2 2>/dev/null | grep -c 'partition ')
check_eq "topic t2 was created with 3 partitions" "3" "$parts"
pid=$_KAFKA_PID
kafka_stop
check_fails "kafka_stop ends the broker" kill -0 "$pid"

# HTTP fixture
mkdir -p "$work/scn"
cat >"$work/scn/routes.json" <<'JSON'
{"routes": [
  {"method": "GET", "path": "/api/items", "query": {"page": "1"},
   "responses": [
     {"status": 503, "headers": {"Retry-After": "0"}, "body": "try later"},
     {"status": 200, "body_file": "page1.json", "headers": {"Content-Type": "application/json"}}
   ]},
  {"method": "GET", "path": "/slow", "responses": [{"delay_ms": 50, "body": "0123456789", "truncate_after": 4}]}
]}
JSON
printf '%s' '{"items": [1, 2, 3]}' >"$work/scn/page1.json"
if http_start "$work/scn"; then echo "ok - http fixture starts"; else echo "not ok - http fixture starts"; fi
code1=$(curl -s -o /dev/null -w '%{http_code}' "$HTTP_FIXTURE_URL/api/items?page=1")
body2=$(curl -s -w ' %{http_code}' "$HTTP_FIXTURE_URL/api/items?page=1")
check_eq "first answer is the scripted 503" "503" "$code1"
check_eq "second answer is the 200 with the file's body" '{"items": [1, 2, 3]} 200' "$body2"
check_eq "an unknown route is a 404" "404" \
    "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP_FIXTURE_URL/nope")"
check_fails "a truncated body is a transport error" curl -sf "$HTTP_FIXTURE_URL/slow"
rec=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["method"], r["path"], r["query"], r["status"])' "$HTTP_FIXTURE_REQUESTS")
check_eq "both requests (and the others) are recorded" "GET /api/items page=1 503
GET /api/items page=1 200
GET /nope  404
GET /slow  200" "$rec"
url=$HTTP_FIXTURE_URL
http_stop
check_fails "http_stop ends the server" curl -s "$url/api/items?page=1"

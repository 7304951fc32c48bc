#!/usr/bin/env bash
# stream_loader's github_events pipeline (the bronze layer of the event pipeline) against a
# real PostgreSQL migrated by `gust db migrate` and the Kafka-protocol mock cluster: Avro
# containers made by tests/tools/ghavro_tool (both codecs) and by Python's own Avro library
# (several blocks, a schema without a field), produced one file per message with kcat, loaded
# as the DAGs call it (--pipeline github_events --available-now).
# - every good record is one row of bronze.github_events, field for field (actor/repo
#   flattened, payload as jsonb, created_at in UTC, record_index, source topic/partition/
#   offset), in today's partition bronze.github_events_YYYYMMDD;
# - a message that is not Avro, a container cut short (its whole records still load), records
#   with a bad UUID, a bad date or a payload that is not JSON, and records of another schema:
#   dead letters with topic, partition, offset, the record (or message) and the reason;
# - stream_offsets advanced in the same transaction; a rerun adds nothing;
# - ingestion_seq strictly increasing in commit order across batches and runs.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 41
LOADER=$(gust_bin stream_loader)
TOOL=$GUST_TOOLS/ghavro_tool
PY=$GUST_SRC/tests/integration/ghavro_interop.py
gust_tmpdir tmp
unset ${!STREAM_LOADER_*}
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_loader_events -T template0 --locale=C.UTF-8

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
xcom() { cat "$GUST_XCOM_FILE" 2>/dev/null; rm -f "$GUST_XCOM_FILE"; }
load() { "$LOADER" --pipeline github_events --available-now "$@" >"$tmp/out" 2>&1; }
# produce PARTITION FILE...: each file is one message
produce() {
    local p=$1
    shift
    kcat -P -b "$KAFKA_BOOTSTRAP_SERVERS" -t raw_metrics_avro -p "$p" "$@" 2>"$tmp/kcat.err"
}
# ev N TYPE [EXTRA]: one input line of ghavro_tool encode, event_id ...N
ev() {
    printf '{"event_id": "00000000-0000-4000-8000-%012d", "metric": {"id": "%s", "type": "%s", "actor": {"id": %d, "login": "u%d", "url": "https://api.github.com/users/u%d"}, "repo": {"id": %d, "name": "o/r%d"}, "payload": {"n": %d, "s": "ü\\t\\"q\\""}, "public": true, "created_at": "2024-05-01T14:00:0%d+02:00"%s}}\n' \
        "$1" "$((26000000000 + $1))" "$2" "$1" "$1" "$1" "$((2 ** 40 + $1))" "$1" "$1" "$(($1 % 10))" "${3:-}"
}
encode() { "$TOOL" encode --codec "$1" >"$2"; }
dead() { q "select $1 from bronze.github_events_dead_letters where $2 order by id"; }
rows() { q "select count(*) from bronze.github_events"; }

kafka_start -t raw_metrics_avro:2
check "the Kafka mock runs" test -n "${KAFKA_BOOTSTRAP_SERVERS:-}"

# ---- partition 0: A (3 good), not Avro, D (2 good, 3 bad) ----------------------------------
{ ev 1 PushEvent; ev 2 WatchEvent; ev 3 IssuesEvent; } | encode deflate "$tmp/A.avro"
printf 'this is not an Avro container' >"$tmp/poison"
{
    ev 4 PushEvent
    ev 5 PushEvent | sed 's/"event_id": "[^"]*"/"event_id": "not-a-uuid"/'
    ev 6 PushEvent
    ev 7 PushEvent | sed 's/"created_at": "[^"]*"/"created_at": "yesterday"/'
    ev 8 PushEvent | sed 's/"created_at": "[^"]*"/"created_at": ""/'
} | encode null "$tmp/D.avro"
check "produce A, the poison message and D to partition 0" produce 0 "$tmp/A.avro" "$tmp/poison" "$tmp/D.avro"

# ---- partition 1: B (2), C (2), python's container cut short (6 of 7), python's without public
{ ev 11 PushEvent; ev 12 ForkEvent; } | encode null "$tmp/B.avro"
{ ev 13 PushEvent; ev 14 ForkEvent ', "org": {"id": 5}'; } | encode deflate "$tmp/C.avro"
/usr/bin/python3 "$PY" write ours null "$tmp/py.avro" "$tmp/py.jsonl"
head -c $(($(stat -c %s "$tmp/py.avro") - 30)) "$tmp/py.avro" >"$tmp/cut.avro"
/usr/bin/python3 "$PY" write no_public deflate "$tmp/nopub.avro" "$tmp/nopub.jsonl"
check "produce B, C, the cut container and the one without public to partition 1" \
    produce 1 "$tmp/B.avro" "$tmp/C.avro" "$tmp/cut.avro" "$tmp/nopub.avro"

load
check_eq "loader exits 0" 0 $?
x=$(xcom)
check_eq "xcom messages, records_loaded, dead_letters" "7 16 11" \
    "$(jq -r '"\(.messages) \(.records_loaded) \(.dead_letters)"' <<<"$x")"
check_eq "16 rows: every good record" 16 "$(rows)"
check_eq "stream_offsets at the end of both partitions" "0:3 1:4" \
    "$(q "select string_agg(\"partition\" || ':' || next_offset, ' ' order by \"partition\")
        from stream_offsets where consumer_group = 'github_events_bronze' and topic = 'raw_metrics_avro'")"

# a row, field for field
check_eq "event 1: every column" \
    "00000000-0000-4000-8000-000000000001|26000000001|PushEvent|1|u1||https://api.github.com/users/u1||1099511627777|o/r1||1|t|t|2024-05-01 12:00:01+00|raw_metrics_avro|0|0|0" \
    "$(q "set timezone = 'UTC'; select event_id, id, type, actor_id, actor_login, actor_gravatar_id,
        actor_url, actor_avatar_url, repo_id, repo_name, repo_url, payload->>'n', payload->>'s' = E'ü\\t\"q\"',
        public, created_at, source_topic, source_partition, source_offset, record_index
        from bronze.github_events where id = '26000000001' and source_partition = 0")"
check_eq "payload is jsonb, an object" "object" \
    "$(q "select jsonb_typeof(payload) from bronze.github_events where id = '26000000001' and source_partition = 0")"
check_eq "record_index and source_offset of D's good records" "4:2:0 6:2:2 8:2:4" \
    "$(q "select string_agg(actor_id || ':' || source_offset || ':' || record_index, ' ' order by actor_id)
        from bronze.github_events where source_partition = 0 and source_offset = 2")"
check_eq "an empty created_at is NULL" "t" \
    "$(q "select created_at is null from bronze.github_events where actor_id = 8")"
check_eq "python's records load as python wrote them (the 6 of the whole blocks)" \
    "6|2024-05-01T12:00:05Z|org/répo-5|f|1099511627781|0 1 2 3 4 5" \
    "$(q "set timezone = 'UTC'; select count(*), to_char(max(created_at), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
        max(repo_name), bool_or(public and actor_id = 1005), max(repo_id),
        string_agg(record_index::text, ' ' order by record_index)
        from bronze.github_events where source_partition = 1 and source_offset = 2")"
check_eq "python's null payload is NULL, its text payload jsonb" "t|t" \
    "$(q "select bool_and(payload is null) filter (where actor_id in (1001, 1004)),
        bool_and(payload->>'s' = E'ü\\t\"q\"') filter (where actor_id not in (1001, 1004))
        from bronze.github_events where source_partition = 1 and source_offset = 2")"

# dead letters
check_eq "11 dead letters" 11 "$(q "select count(*) from bronze.github_events_dead_letters")"
check_eq "the poison message: topic, partition, offset, the message, the reason" \
    "raw_metrics_avro|0|1|this is not an Avro container|unreadable Avro container (after 0 records): not an Avro object container (no 'Obj\x01' magic)" \
    "$(dead "topic, \"partition\", \"offset\", convert_from(payload, 'UTF8'), reason" "\"offset\" = 1 and \"partition\" = 0")"
check_eq "D: one dead letter per bad record" 2 \
    "$(q "select count(*) from bronze.github_events_dead_letters where \"partition\" = 0 and \"offset\" = 2")"
check_eq "D: the bad UUID's reason" "record 1: event_id: 'not-a-uuid' is not a UUID" \
    "$(dead reason "\"partition\" = 0 and \"offset\" = 2 and reason like 'record 1:%'")"
check_contains "D: the bad date's reason" "record 3: created_at: bad timestamp 'yesterday': " \
    "$(dead reason "\"partition\" = 0 and \"offset\" = 2 and reason like 'record 3:%'")"
check_eq "D: a dead letter keeps the record as JSON" "not-a-uuid|26000000005|u5" \
    "$(dead "convert_from(payload, 'UTF8')::jsonb->>'event_id', convert_from(payload, 'UTF8')::jsonb->>'id',
        convert_from(payload, 'UTF8')::jsonb->'actor'->>'login'" "\"partition\" = 0 and reason like 'record 1:%'")"
check_contains "the cut container: the whole message, the reason says where and after how many records" \
    "unreadable Avro container (after 6 records): block 2 at byte" \
    "$(dead reason "\"partition\" = 1 and \"offset\" = 2")"
check_eq "the cut container's dead letter holds the message" "$(stat -c %s "$tmp/cut.avro")" \
    "$(dead "length(payload)" "\"partition\" = 1 and \"offset\" = 2")"
check_eq "the container without public: a dead letter per record" \
    "$(printf 'record %d: public: missing\n' 0 1 2 3 4 5 6)" \
    "$(dead reason "\"partition\" = 1 and \"offset\" = 3")"
check_eq "... each holding its record as written" "user0|org/répo-0" \
    "$(dead "convert_from(payload, 'UTF8')::jsonb->'actor'->>'login' || '|' || (convert_from(payload, 'UTF8')::jsonb->'repo'->>'name')" \
        "reason = 'record 0: public: missing'")"

# today's partition
day=$(q "select to_char(now() at time zone 'UTC', 'YYYYMMDD')")
check_eq "partition bronze.github_events_$day holds every row" 16 \
    "$(q "select count(*) from bronze.github_events_$day")"
check_eq "ingestion_date is today (UTC)" "1" \
    "$(q "select count(distinct ingestion_date) from bronze.github_events where ingestion_date = (now() at time zone 'UTC')::date")"

# a rerun adds nothing
load
check_eq "rerun exits 0" 0 $?
check_eq "rerun: nothing new" "0 0 0" "$(jq -r '"\(.messages) \(.records_loaded) \(.dead_letters)"' <<<"$(xcom)")"
check_eq "rerun: rows and dead letters unchanged" "16 11" \
    "$(rows) $(q "select count(*) from bronze.github_events_dead_letters")"

# ---- payload texts a jsonb column would refuse: dead letters, not a failed COPY ------------
/usr/bin/python3 "$PY" write bad_payloads null "$tmp/badpay.avro" "$tmp/badpay.jsonl"
check "produce python's container with odd payloads to partition 1" produce 1 "$tmp/badpay.avro"
load
check_eq "odd payloads: exit 0, 1 message, 4 rows, 3 dead letters" "0 1 4 3" \
    "$? $(jq -r '"\(.messages) \(.records_loaded) \(.dead_letters)"' <<<"$(xcom)")"
check_eq "their reasons" "record 0: payload: a number PostgreSQL's jsonb cannot hold (over 131000 digits before the point or 16000 after it)
record 1: payload: not JSON: string or '}' expected near 'bad'
record 2: payload: not JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"'" \
    "$(dead reason "\"partition\" = 1 and \"offset\" = 4")"
check_eq "a huge integer and a tiny real are stored as sent" "123456789012345678901234567890|t" \
    "$(q "select payload->>'big', (payload->>'ok')::numeric = 1e-300 from bronze.github_events where source_partition = 1 and source_offset = 4 and record_index = 3")"

# ---- batches: ingestion_seq in commit order ------------------------------------------------
max1=$(q "select max(ingestion_seq) from bronze.github_events")
{ ev 21 PushEvent; ev 22 PushEvent; } | encode deflate "$tmp/E.avro"
{ ev 23 PushEvent; } | encode null "$tmp/F.avro"
{ ev 24 PushEvent; ev 25 PushEvent; ev 26 PushEvent; } | encode deflate "$tmp/G.avro"
check "produce E, F, G to partition 0" produce 0 "$tmp/E.avro" "$tmp/F.avro" "$tmp/G.avro"
load --max-batch 1
check_eq "one message per batch: exit 0" 0 $?
x=$(xcom)
check_eq "3 messages, 6 records, 3 batches" "3 6 3" \
    "$(jq -r '"\(.messages) \(.records_loaded) \(.batches)"' <<<"$x")"
check_eq "the new rows are numbered after every older one" "6|t" \
    "$(q "select count(*), bool_and(ingestion_seq > $max1) from bronze.github_events where actor_id between 21 and 26")"
check_eq "ingestion_seq follows the read order: offset, then record" "0" \
    "$(q "select count(*) from (select ingestion_seq, lag(ingestion_seq) over (order by source_offset, record_index) as prev
        from bronze.github_events where source_partition = 0) s where prev >= ingestion_seq")"
check_eq "ingestion_seq unique" "26|26" \
    "$(q "select count(*), count(distinct ingestion_seq) from bronze.github_events")"
check_eq "stream_offsets of partition 0 advanced" 6 \
    "$(q "select next_offset from stream_offsets where consumer_group = 'github_events_bronze' and \"partition\" = 0")"
max2=$(q "select max(ingestion_seq) from bronze.github_events")
load --group other_group --max-batch 2
check_eq "another group reads everything again with its own offsets: 26 more rows, numbered after" \
    "52 26" "$(rows) $(q "select count(*) from bronze.github_events where ingestion_seq > $max2")"

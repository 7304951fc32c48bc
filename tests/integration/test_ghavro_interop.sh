#!/usr/bin/env bash
# tasks/lib/ghavro against Python's own Avro implementation (Debian's python3-avro), through
# tests/tools/ghavro_tool and tests/integration/ghavro_interop.py:
# - python reads our containers (deflate and null) with every field equal to the input events
#   (Unicode, integer ids, missing and null fields, payloads of every JSON kind); a container
#   python cannot read fails the test;
# - python writes containers with our schema (both codecs, several blocks) that we decode to
#   the same records;
# - python writes with a schema that lacks a field, or has another type for one: we report a
#   problem per record and exit 0, never a crash; a python container cut short or with a
#   damaged block: the records before the damage, then exit 1.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
plan 21

TOOL=${GUST_TOOLS:-build/tools}/ghavro_tool
PY=tests/integration/ghavro_interop.py
gust_tmpdir tmp
if ! /usr/bin/python3 -c 'import avro.datafile, avro.io' >/dev/null 2>&1; then
    echo "not ok - ghavro interop: /usr/bin/python3 lacks avro (python3-avro; run make deps)"
    exit 1
fi
check "ghavro_tool is built" test -x "$TOOL"

big=$(printf 'x%.0s' $(seq 1 20000))
cat >"$tmp/events.jsonl" <<JSON
{"event_id": "00000000-0000-4000-8000-000000000001", "metric": {"id": "2489651045", "type": "CreateEvent", "actor": {"id": 665991, "login": "petroav", "gravatar_id": "", "url": "https://api.github.com/users/petroav", "avatar_url": "https://avatars.githubusercontent.com/u/665991?"}, "repo": {"id": 28688495, "name": "petroav/6.828", "url": "https://api.github.com/repos/petroav/6.828"}, "payload": {"ref": "master", "ref_type": "branch", "master_branch": "master", "description": "Solution to homework and assignments from MIT's 6.828 (Operating Systems Engineering). Done in my spare time.", "pusher_type": "user"}, "public": true, "created_at": "2015-01-01T15:00:00Z", "org": {"id": 9}}}
{"event_id": "00000000-0000-4000-8000-000000000002", "metric": {"id": 2489651051, "type": "PushEvent", "actor": {"id": 3854017, "login": "rspt", "url": "https://api.github.com/users/rspt"}, "repo": {"id": 9223372036854775807, "name": "rspt/rspt-theme"}, "payload": {"push_id": 536863976, "size": 1, "commits": [{"sha": "6b089eb4", "message": "Fix \"ünïcödé\" 🚀\tand\nnewlines", "distinct": true}], "n": -1.5e-7, "z": null, "t": false}, "public": false, "created_at": "2015-01-01T15:00:01+01:00"}}
{"event_id": "00000000-0000-4000-8000-000000000003", "metric": {"id": "3", "type": "WatchEvent", "actor": null, "repo": {"id": -5}, "payload": null, "public": null}}
{"event_id": "e-not-a-uuid", "metric": {"id": "4", "type": "GollumEvent", "payload": ["a", 1, {"b": []}]}}
{"event_id": "00000000-0000-4000-8000-000000000005", "metric": {"id": "5", "type": "ReleaseEvent", "payload": "just a string"}}
{"event_id": "00000000-0000-4000-8000-000000000006", "metric": {"id": "6", "type": "IssuesEvent", "payload": {"body": "$big"}}}
JSON

# ---- ours -> python ----------------------------------------------------------------------
for codec in deflate null; do
    "$TOOL" encode --codec "$codec" <"$tmp/events.jsonl" >"$tmp/ours-$codec.avro" 2>"$tmp/err"
    check_eq "encode ($codec) exits 0" "0" "$?"
    /usr/bin/python3 "$PY" read "$tmp/events.jsonl" "$tmp/ours-$codec.avro" "$codec" 2>"$tmp/err"
    check_eq "python reads our $codec container, every field equal" "0 " "$? $(cat "$tmp/err")"
    "$TOOL" decode <"$tmp/ours-$codec.avro" >"$tmp/back-$codec.jsonl" 2>"$tmp/err"
    check_eq "we read it back: 6 records, no problem" "0 6 " \
        "$? $(wc -l <"$tmp/back-$codec.jsonl") $(cat "$tmp/err")"
done
check "deflate is smaller than null" test "$(stat -c %s "$tmp/ours-deflate.avro")" -lt \
    "$(stat -c %s "$tmp/ours-null.avro")"
printf '%s\n' '{"event_id": "x", "metric": {"id": "1", "type": "PushEvent", "actor": {"id": "12"}}}' \
    >"$tmp/bad.jsonl"
"$TOOL" encode <"$tmp/bad.jsonl" >/dev/null 2>"$tmp/err"
check_eq "encode refuses an event ghavro_check refuses, naming line and field" \
    "1 ghavro_tool: line 1: event 0: actor.id: not an integer" "$? $(cat "$tmp/err")"

# ---- python -> ours ----------------------------------------------------------------------
for codec in deflate null; do
    /usr/bin/python3 "$PY" write ours "$codec" "$tmp/py-$codec.avro" "$tmp/py-$codec.jsonl"
    "$TOOL" decode <"$tmp/py-$codec.avro" >"$tmp/got-$codec.jsonl" 2>"$tmp/err"
    check_eq "we decode python's $codec container (several blocks)" "0 7 " \
        "$? $(wc -l <"$tmp/got-$codec.jsonl") $(cat "$tmp/err")"
    check "every record equals what python wrote ($codec)" \
        /usr/bin/python3 "$PY" same "$tmp/py-$codec.jsonl" "$tmp/got-$codec.jsonl"
done

/usr/bin/python3 "$PY" write no_public deflate "$tmp/nopub.avro" "$tmp/nopub.jsonl"
"$TOOL" decode <"$tmp/nopub.avro" >"$tmp/got" 2>"$tmp/err"
check_eq "a writer schema without 'public': exit 0, no record" "0 0" "$? $(wc -l <"$tmp/got")"
check_eq "... and one problem per record" "7 $(printf 'record %s: public: missing\n' 0 1 2 3 4 5 6 | sha1sum)" \
    "$(wc -l <"$tmp/err") $(sha1sum <"$tmp/err")"

/usr/bin/python3 "$PY" write actor_id_string null "$tmp/idstr.avro" "$tmp/idstr.jsonl"
"$TOOL" decode <"$tmp/idstr.avro" >"$tmp/got" 2>"$tmp/err"
check_eq "actor.id written as a string: exit 0, no record" "0 0" "$? $(wc -l <"$tmp/got")"
check_eq "... the problem names the field and both types" "record 6: actor.id: not a long (string)" \
    "$(tail -1 "$tmp/err")"

# python's null container cut inside its last block: the first two blocks, then exit 1
size=$(stat -c %s "$tmp/py-null.avro")
head -c $((size - 30)) "$tmp/py-null.avro" >"$tmp/cut.avro"
"$TOOL" decode <"$tmp/cut.avro" >"$tmp/got" 2>"$tmp/err"
check_eq "a container cut short: exit 1 after the records of the whole blocks" "1 6" \
    "$? $(wc -l <"$tmp/got")"
check_contains "... saying which block and where" "block 2 at byte" "$(cat "$tmp/err")"

# python's deflate container with a byte of its last block's data flipped
/usr/bin/python3 - "$tmp/py-deflate.avro" "$tmp/flip.avro" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-20] ^= 0xFF  # inside the last block's data (before its 16-byte sync marker)
open(sys.argv[2], "wb").write(bytes(b))
PY
"$TOOL" decode <"$tmp/flip.avro" >"$tmp/got" 2>"$tmp/err"
check_eq "a damaged deflate block: exit 1 after the records before it" "1 6" \
    "$? $(wc -l <"$tmp/got")"
head -c 300 /dev/urandom >"$tmp/random"
"$TOOL" decode <"$tmp/random" >"$tmp/got" 2>"$tmp/err"
check_eq "random bytes: exit 1, nothing printed" "1 0" "$? $(wc -l <"$tmp/got")"

#!/usr/bin/env bash
# dvc_crawl (the drug registry crawler) against the fixture portal (tests/fixtures/
# dvc_portal.py), librdkafka's mock cluster and a real PostgreSQL migrated by `gust db migrate`:
# a full crawl delivers every record with all 29 fields equal to the source's; the watermark is
# the newest lastModificationTime; a second run sends exactly the overlap window; changes and
# additions are sent by the third; 500s, truncated and garbage bodies are retried; a source
# that is down or a page that always fails ends in exit 111 after bounded tries, naming the
# skipCount, watermark unchanged; a broker that is down likewise; sorted mode stops early and
# falls back to the full scan on unsorted answers; XCom; --format record keys (read back by
# tests/integration/key_order.py: key = soDangKy in murmur2's partition, so a record sent again
# by the next run lands in the same partition after its earlier version; a page is keyed by its
# first record's soDangKy); odd items are
# counted, not fatal; SIGTERM leaves the watermark alone; bad flags are 100; an item dated
# 9999-12-31 is delivered and reported but never becomes the watermark.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 72
CRAWL=$(gust_bin dvc_crawl)
gust_tmpdir tmp
PORTAL_PID=
cleanup() {
    exec 8>&- 2>/dev/null
    [ -n "$PORTAL_PID" ] && kill "$PORTAL_PID" 2>/dev/null && wait "$PORTAL_PID" 2>/dev/null
}
gust_cleanup_add cleanup
unset ${!DVC_@} ${!KAFKA_@}
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_dvc_crawl
kafka_start -t all_data:8 -t run2:4 -t run3:4 -t faults:8 -t sorted:8 -t sorted2:4 \
    -t fallback:8 -t records:8 -t odd:1 -t stop:4 -t future:4 -t future2:4 || exit 1
BROKERS=$KAFKA_BOOTSTRAP_SERVERS

# The portal, with stdin on a FIFO held by this shell (fd 8): it dies with the test.
mkfifo "$tmp/portal.in"
python3 "$GUST_SRC/tests/fixtures/dvc_portal.py" --records 5000 --seed 1 --stdin \
    <"$tmp/portal.in" >"$tmp/portal.out" 2>"$tmp/portal.log" &
PORTAL_PID=$!
exec 8>"$tmp/portal.in"
wait_for 20 grep -q '^http://' "$tmp/portal.out" || { echo "not ok - portal start"; cat "$tmp/portal.log"; exit 1; }
URL=$(head -1 "$tmp/portal.out")

control() { curl -s -X POST -d "$1" "$URL/_control"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
state() { q "select to_char(last_crawl_time at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), updated_at from crawl_state where job_name = '$1'"; }
# crawl [flags...]: run the crawler against the portal (rate and parallelism set for speed
# but still bounded); exit code in $rc, output in $tmp/out, XCom in $tmp/x.json
crawl() {
    rm -f "$GUST_XCOM_FILE"
    KAFKA_BOOTSTRAP_SERVERS=${CRAWL_BROKERS:-$BROKERS} "$CRAWL" --api-url "$URL" --rate 200 \
        --parallel 4 "$@" >"$tmp/out" 2>&1
    rc=$?
    cp "$GUST_XCOM_FILE" "$tmp/x.json" 2>/dev/null || echo '{}' >"$tmp/x.json"
}
xget() { python3 -c "import json, sys; v = json.load(open(sys.argv[1]))$1; print(json.dumps(v) if not isinstance(v, str) else v)" "$tmp/x.json"; }
# consume TOPIC: every message as "key<TAB>value" lines into $tmp/TOPIC.msgs
consume() { kcat -C -b "$BROKERS" -t "$1" -e -q -f '%k\t%s\n' >"$tmp/$1.msgs" 2>"$tmp/kcat.log"; }
# key_order KIND PARTITIONS OUT TOPIC [key_order.py flags]: the topic read back with its
# partitions and offsets into $tmp/OUT.json, checked; result in $OUT, its stats by stat NAME
key_order() {
    kcat -C -b "$BROKERS" -t "$4" -e -q -J >"$tmp/$3.json" 2>"$tmp/kcat.log"
    OUT=$(python3 "$GUST_SRC/tests/integration/key_order.py" "$1" "$2" "$tmp/$3.json" "${@:5}")
    echo "# key_order $4: $(echo "$OUT" | tail -1)"
}
stat() { echo "$OUT" | sed -n 's/^stats //p' | tr ' ' '\n' | sed -n "s/^$1=//p"; }
dataset() { curl -s "$URL/_control/dataset" >"$tmp/dataset.json"; }

# check.py: the expected flat records, computed independently of the C code.
cat >"$tmp/check.py" <<'PY'
import json, re, sys, time
from datetime import datetime, timedelta, timezone

FIELDS = ["idThuoc", "soDangKy", "soDangKyCu", "tenThuoc", "phanLoaiThuocEnum", "congTyDangKyId",
          "congTySanXuatId", "creationTime", "lastModificationTime", "tenCongTyDangKy",
          "diaChiDangKy", "nuocDangKy", "tenCongTySanXuat", "diaChiSanXuat", "nuocSanXuat",
          "fullAddress", "dotCap", "ngayCapSoDangKy", "ngayHetHanSoDangKy", "ngayGiaHanSoDangKy",
          "soQuyetDinh", "thongTinRutSoDangKy", "dangBaoChe", "dongGoi", "hamLuong",
          "hoatChatChinh", "tieuChuan", "tieuChuanId", "tuoiTho"]
TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?(?:Z|([+-])(\d\d):(\d\d))$")

def ticks(t):
    m = TS.match(t)
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    off = 0 if m.group(8) is None else (1 if m.group(8) == "+" else -1) * (int(m.group(9)) * 60 + int(m.group(10)))
    dt = datetime(y, mo, d, h, mi, s, tzinfo=timezone(timedelta(minutes=off)))
    return int(dt.timestamp()) * 10**7 + int((m.group(7) or "").ljust(7, "0"))

def utc_us(tk):  # the watermark as stored: UTC, microseconds, truncated
    s, f = divmod(tk, 10**7)
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (f // 10)

def flat(i):
    g = lambda o, k: (i.get(o) or {}).get(k)
    r = {"idThuoc": i["id"]}
    for k in ("soDangKy", "soDangKyCu", "tenThuoc", "phanLoaiThuocEnum", "congTyDangKyId",
              "congTySanXuatId", "creationTime", "lastModificationTime"):
        r[k] = i[k]
    for o, ks in (("congTyDangKy", ("tenCongTyDangKy", "diaChiDangKy", "nuocDangKy")),
                  ("congTySanXuat", ("tenCongTySanXuat", "diaChiSanXuat", "nuocSanXuat")),
                  ("thongTinDangKyThuoc", ("dotCap", "ngayCapSoDangKy", "ngayHetHanSoDangKy",
                                           "ngayGiaHanSoDangKy", "soQuyetDinh")),
                  ("thongTinThuocCoBan", ("dangBaoChe", "dongGoi", "hamLuong", "hoatChatChinh",
                                          "tieuChuan", "tieuChuanId", "tuoiTho"))):
        for k in ks:
            r[k] = g(o, k)
    a, c = r["diaChiSanXuat"], r["nuocSanXuat"]
    r["fullAddress"] = None if a is None else a if not c or c in a else a + ", " + c
    r["thongTinRutSoDangKy"] = g("thongTinRutSoDangKy", "urlCongVanRutSoDangKy")
    return {k: r[k] for k in FIELDS}

def sent(path, fmt):
    """(records, messages, problems) of a consumed topic."""
    recs, msgs, bad = [], 0, []
    for line in open(path, encoding="utf-8"):
        key, _, val = line.rstrip("\n").partition("\t")
        msgs += 1
        if "\\u" in val:
            bad.append("ASCII escapes in a message")
        v = json.loads(val)
        if fmt == "page":
            if not isinstance(v, list) or not v or len(v) > 100 or key != v[0]["soDangKy"]:
                bad.append("page message %d: not a keyed array of 1-100 records" % msgs)
            recs += v
        else:
            if not isinstance(v, dict) or key != v["soDangKy"]:
                bad.append("record message %d: key %r is not its soDangKy" % (msgs, key))
            recs.append(v)
    for r in recs:
        if list(r) != FIELDS:
            bad.append("record %s: fields %s" % (r.get("soDangKy"), list(r)[:3]))
    return recs, msgs, bad

cmd = sys.argv[1]
items = json.load(open(sys.argv[2], encoding="utf-8"))["items"]
if cmd == "newest":        # dataset -> the expected watermark (items dated in the future left out)
    now = int(time.time() + 300) * 10**7
    print(utc_us(max(t for t in (ticks(i["lastModificationTime"]) for i in items) if t <= now)))
elif cmd == "window":      # dataset, watermark, overlap seconds -> how many records are newer
    thr = ticks(sys.argv[3]) - int(sys.argv[4]) * 10**7
    print(sum(ticks(i["lastModificationTime"]) > thr for i in items))
elif cmd == "compare":     # dataset, messages file, format, watermark|"" , overlap seconds
    thr = ticks(sys.argv[5]) - int(sys.argv[6]) * 10**7 if sys.argv[5] else None
    want = {i["soDangKy"]: flat(i) for i in items
            if thr is None or ticks(i["lastModificationTime"]) > thr}
    recs, msgs, bad = sent(sys.argv[3], sys.argv[4])
    got = {r["soDangKy"]: r for r in recs}
    if len(got) != len(recs):
        bad.append("%d duplicate record(s)" % (len(recs) - len(got)))
    if set(got) != set(want):
        bad.append("missing %d, unexpected %d" % (len(set(want) - set(got)), len(set(got) - set(want))))
    diff = [k for k in want if k in got and got[k] != want[k]]
    if diff:
        bad.append("%d record(s) differ, e.g. %s: %s" % (len(diff), diff[0],
                   {f: (got[diff[0]][f], want[diff[0]][f]) for f in FIELDS if got[diff[0]][f] != want[diff[0]][f]}))
    print("records=%d messages=%d %s" % (len(recs), msgs, "; ".join(bad[:3]) or "OK"))
PY
check_py() { python3 "$tmp/check.py" "$@"; }

# ---- 1. full crawl: every record, all fields, the watermark
crawl --job-name dvc_flow --topic all_data --overlap 1d
check_eq "full crawl exits 0" 0 "$rc"
dataset
cp "$tmp/dataset.json" "$tmp/dataset1.json"
consume all_data
NEWEST=$(check_py newest "$tmp/dataset.json")
check_eq "all 5000 records delivered, each of the 29 fields equal to the source's, keyed pages" \
    "records=5000 messages=50 OK" "$(check_py compare "$tmp/dataset.json" "$tmp/all_data.msgs" page "" 0)"
check_contains "messages are raw UTF-8 (Vietnamese text)" "Công ty cổ phần" "$(head -c 20000 "$tmp/all_data.msgs")"
key_order dvc-page 8 all_data all_data
check_eq "page messages: keyed by their first soDangKy, in murmur2's partition, spread over all 8" \
    "OK 8" "$(echo "$OUT" | head -1) $(stat partitions)"
check_eq "crawl_state: the newest lastModificationTime (UTC)" "$NEWEST" "$(state dvc_flow | cut -d'|' -f1)"
check_eq "crawl_state details: pages, items, sent, skipped" "50 5000 5000 0 full" \
    "$(q "select concat_ws(' ', details->>'pages', details->>'items', details->>'sent', details->>'skipped', details->>'mode') from crawl_state where job_name = 'dvc_flow'")"
check_eq "XCom of the full crawl" \
    "[50, 5000, 5000, 50, 0, null, \"$NEWEST\", \"full\"]" \
    "$(xget '; v = [v[k] for k in ("pages", "items_seen", "records_sent", "messages_sent", "skipped", "watermark_before", "watermark_after", "mode")]')"
counters=$(curl -s "$URL/_control/counters")
check_eq "50 pages asked for, never more than --parallel at once" "50 True" \
    "$(printf '%s' "$counters" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["pages"], j["max_concurrent"] <= 4)')"

# ---- 2. no changes: exactly the overlap window
WINDOW=$(check_py window "$tmp/dataset.json" "$NEWEST" 86400)
crawl --job-name dvc_flow --topic run2 --overlap 1d
consume run2
check_eq "second run exits 0, mode incremental" "0 incremental" "$rc $(xget '["mode"]')"
check_eq "second run sends exactly the records of the overlap window ($WINDOW)" \
    "records=$WINDOW messages=$(grep -c . "$tmp/run2.msgs") OK" \
    "$(check_py compare "$tmp/dataset.json" "$tmp/run2.msgs" page "$NEWEST" 86400)"
check_eq "XCom: records_sent, watermark before = after" "$WINDOW $NEWEST $NEWEST" \
    "$(xget '["records_sent"]') $(xget '["watermark_before"]') $(xget '["watermark_after"]')"
# (the stored watermark keeps microseconds: a newest record with a 7th digit is re-sent)
check_eq "--overlap 0 and no changes: at most the newest record again" \
    "0 $(check_py window "$tmp/dataset.json" "$NEWEST" 0)" \
    "$(crawl --job-name dvc_flow --topic run2 --overlap 0; echo "$rc $(xget '["records_sent"]')")"

# ---- 3. K=50 changed, M=20 added: those plus the window, and the new watermark
chg=$(control '{"op": "change", "change": 50, "add": 20}')
dataset
NEWEST3=$(check_py newest "$tmp/dataset.json")
WINDOW3=$(check_py window "$tmp/dataset.json" "$NEWEST" 86400)
crawl --job-name dvc_flow --topic run3 --overlap 1d
consume run3
check_eq "third run exits 0" 0 "$rc"
check_eq "third run sends the 70 changed and added records plus the window ($WINDOW3)" \
    "records=$WINDOW3 messages=$(grep -c . "$tmp/run3.msgs") OK" \
    "$(check_py compare "$tmp/dataset.json" "$tmp/run3.msgs" page "$NEWEST" 86400)"
check_eq "... among them every changed and added record" 70 "$(python3 -c '
import json, sys
c = json.loads(sys.argv[1]); ids = set(c["changed"]) | set(c["added"])
sent = {r["idThuoc"] for l in open(sys.argv[2]) for r in json.loads(l.split("\t", 1)[1])}
print(len(ids & sent))' "$chg" "$tmp/run3.msgs")"
check_contains "changed records carry their new tenThuoc" "(cập nhật lần 1)" "$(cat "$tmp/run3.msgs")"
check_eq "the watermark moved to the newest change" "$NEWEST3" "$(state dvc_flow | cut -d'|' -f1)"
check_fails "... which is later than before" test "$NEWEST3" = "$NEWEST"

# ---- 4. 20% of requests fail with 500, some bodies truncated or HTML: still complete
control '{"op": "faults", "fail_rate": 0.2, "truncate_rate": 0.03, "garbage_rate": 0.03, "seed": 7}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
crawl --job-name faults --topic faults --max-tries 10
consume faults
check_eq "with 20% 500s and bad bodies the crawl still exits 0" 0 "$rc"
check_eq "... and delivers all 5020 records exactly" "records=5020 messages=51 OK" \
    "$(check_py compare "$tmp/dataset.json" "$tmp/faults.msgs" page "" 0)"
check_eq "the faults happened and were retried (500s, truncated, garbage)" "True True" \
    "$(curl -s "$URL/_control/counters" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["status"].get("500", 0) > 5, j["truncated"] + j["garbage"] > 0)')"
check_eq "faults crawl_state is the newest" "$NEWEST3" "$(state faults | cut -d'|' -f1)"

# ---- 5. source down: exit 111 after bounded tries, crawl_state unchanged
before=$(state faults)
control '{"op": "faults", "fail_rate": 1.0}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
crawl --job-name faults --topic faults --max-tries 3
check_eq "source answering 500 always: exit 111" 111 "$rc"
check_contains "... the message names the page" "skipCount=0" "$(cat "$tmp/out")"
check_eq "... after exactly --max-tries requests" 3 \
    "$(curl -s "$URL/_control/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])')"
check_eq "... crawl_state unchanged" "$before" "$(state faults)"
control '{"op": "faults"}' >/dev/null
crawl --job-name faults --topic faults --max-tries 2 --api-url http://127.0.0.1:1
check_eq "source unreachable (closed port): exit 111" 111 "$rc"
check_eq "... crawl_state unchanged" "$before" "$(state faults)"

# ---- 6. one page always fails: exit 111 naming its skipCount
control '{"op": "faults", "fail_skip": [1500]}' >/dev/null
control '{"op": "counters", "reset": true, "log": true}' >/dev/null
crawl --job-name faults --topic faults --max-tries 4
check_eq "a page that always fails: exit 111" 111 "$rc"
check_contains "... the error names skipCount=1500" "skipCount=1500" "$(grep error: "$tmp/out")"
check_eq "... tried exactly --max-tries times, never endlessly" 4 \
    "$(control '{"op": "counters", "log": true}' | python3 -c 'import json, sys; print(sum(l["skipCount"] == 1500 for l in json.load(sys.stdin)["log"]))')"
check_eq "... crawl_state unchanged" "$before" "$(state faults)"
check_eq "... no XCom written" "{}" "$(cat "$tmp/x.json")"
control '{"op": "faults"}' >/dev/null

# ---- 7. broker down: exit 111, watermark unchanged
CRAWL_BROKERS=127.0.0.1:1 crawl --job-name faults --topic faults --flush-timeout 3s
check_eq "broker unreachable: exit 111" 111 "$rc"
check_contains "... the error says Kafka" "Kafka" "$(grep error: "$tmp/out")"
check_eq "... crawl_state unchanged" "$before" "$(state faults)"

# ---- 8. sorted mode: full first, then an incremental run stops after the new pages
crawl --job-name sorted --topic sorted --sorting 'lastModificationTime desc'
consume sorted
check_eq "sorted first run: exit 0, mode sorted, every record" "0 sorted records=5020 messages=51 OK" \
    "$rc $(xget '["mode"]') $(check_py compare "$tmp/dataset.json" "$tmp/sorted.msgs" page "" 0)"
control '{"op": "change", "change": 50, "add": 20}' >/dev/null
dataset
WINDOW8=$(check_py window "$tmp/dataset.json" "$NEWEST3" 86400)
control '{"op": "counters", "reset": true}' >/dev/null
crawl --job-name sorted --topic sorted2 --sorting 'lastModificationTime desc'
consume sorted2
# the pages holding the window, then the first page wholly older than the threshold
PAGES8=$(((WINDOW8 - 1) / 100 + 2))
check_eq "sorted incremental run: exit 0, mode sorted, stops after $PAGES8 of 51 pages" \
    "0 sorted $PAGES8" "$rc $(xget '["mode"]') $(xget '["pages"]')"
check_eq "... the portal served no more than those and the prefetch (--parallel 4)" True \
    "$(curl -s "$URL/_control/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pages"] <= int(sys.argv[1]) + 4)' "$PAGES8")"
check_eq "... and the sent records are the changes plus the window ($WINDOW8)" \
    "records=$WINDOW8 messages=$((PAGES8 - 1)) OK" \
    "$(check_py compare "$tmp/dataset.json" "$tmp/sorted2.msgs" page "$NEWEST3" 86400)"
check_eq "... watermark: the newest change" "$(check_py newest "$tmp/dataset.json")" "$(state sorted | cut -d'|' -f1)"

# ---- 9. the portal ignores the sorting: detected, full scan instead
NEWEST9=$(check_py newest "$tmp/dataset.json")
control '{"op": "faults", "unsorted": true}' >/dev/null
crawl --job-name sorted --topic fallback --sorting 'lastModificationTime desc'
consume fallback
check_eq "unsorted answer: exit 0, full scan (incremental), fallback noted" "0 incremental true 52" \
    "$rc $(xget '["mode"]') $(xget '["sorted_fallback"]') $(xget '["pages"]')"
check_contains "... logged" "falling back to a full scan" "$(cat "$tmp/out")"
check_eq "... the window is sent" \
    "records=$(check_py window "$tmp/dataset.json" "$NEWEST9" 86400) messages=$(grep -c . "$tmp/fallback.msgs") OK" \
    "$(check_py compare "$tmp/dataset.json" "$tmp/fallback.msgs" page "$NEWEST9" 86400)"
control '{"op": "faults"}' >/dev/null

# ---- 10. --format record: one object per message keyed by soDangKy
N=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$tmp/dataset.json")
crawl --job-name records --topic records --format record --parallel 8
consume records
check_eq "--format record: all $N records, one per message, key = soDangKy" \
    "0 records=$N messages=$N OK" \
    "$rc $(check_py compare "$tmp/dataset.json" "$tmp/records.msgs" record "" 0)"
check_eq "XCom: records_sent = messages_sent" "$N $N" "$(xget '["records_sent"]') $(xget '["messages_sent"]')"
key_order dvc-record 8 records0 records
check_eq "... read back: key = soDangKy in murmur2's partition (one per key), all 8 partitions used" \
    "OK 8 $N" "$(echo "$OUT" | head -1) $(stat partitions) $(stat keys)"
crawl --job-name records --topic records --format record --parallel 8
key_order dvc-record 8 records1 records --before "$tmp/records0.json"
check_eq "the next run re-sends the overlap window ($(xget '["records_sent"]') records): each in its key's partition, after the earlier version" \
    "0 OK True True" \
    "$rc $(echo "$OUT" | head -1) $([ "$(stat repeated)" = "$(xget '["records_sent"]')" ] && echo True) $([ "$(stat repeated)" -gt 0 ] && echo True)"

# ---- 11. odd items (a canned portal answer): logged and counted, the rest sent
mkdir -p "$tmp/odd"
cat >"$tmp/odd/routes.json" <<'JSON'
{"routes": [{"method": "POST", "path": "/api/services/app/soDangKy/GetAllPublicServerPaging",
  "responses": [{"json": {"result": {"totalCount": 5, "items": [
    {"id": 1, "soDangKy": "VN-1-20", "tenThuoc": "Thuốc một", "congTyDangKy": null,
     "congTySanXuat": null, "thongTinDangKyThuoc": null, "thongTinRutSoDangKy": null,
     "thongTinThuocCoBan": null, "lastModificationTime": "2024-05-01T10:00:00.1234567+07:00"},
    {"id": 2, "soDangKy": null, "lastModificationTime": "2024-06-01T10:00:00+07:00"},
    {"id": 3, "soDangKy": "VN-3-20", "lastModificationTime": "01/06/2024"},
    {"id": 4, "soDangKy": "VN-4-20"},
    {"id": 5, "soDangKy": "VN-5-20", "lastModificationTime": "2024-04-01T00:00:00Z"}]},
   "success": true, "error": null}}]}]}
JSON
http_start "$tmp/odd" || exit 1
URL_SAVED=$URL URL=$HTTP_FIXTURE_URL
crawl --job-name odd --topic odd
URL=$URL_SAVED
consume odd
check_eq "odd items: exit 0, 2 sent, 3 skipped, 5 seen" "0 2 3 5" \
    "$rc $(xget '["records_sent"]') $(xget '["skipped"]') $(xget '["items_seen"]')"
check_contains "... each logged with its id and skipCount" "odd item id=3 skipCount=0" "$(cat "$tmp/out")"
check_eq "... the watermark is the newest time seen, odd item included (UTC)" \
    "2024-06-01T03:00:00.000000Z" "$(state odd | cut -d'|' -f1)"
check_eq "... a record with every nested object null has nulls" "VN-1-20 None None" \
    "$(python3 -c 'import json, sys; r = json.loads(open(sys.argv[1]).readline().split("\t", 1)[1])[0]; print(r["soDangKy"], r["fullAddress"], r["tuoiTho"])' "$tmp/odd.msgs")"
http_stop

# ---- 12. SIGTERM mid-crawl: stops, watermark untouched
before=$(state records)
control '{"op": "faults", "delay_ms": 200}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
KAFKA_BOOTSTRAP_SERVERS=$BROKERS "$CRAWL" --api-url "$URL" --job-name records --topic stop \
    --rate 5 --parallel 1 >"$tmp/out" 2>&1 &
cpid=$!
served_at_least() {
    curl -s "$URL/_control/counters" | python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["pages"] < int(sys.argv[1]))' "$1"
}
wait_for 20 served_at_least 3
kill -TERM "$cpid"
start=$SECONDS
wait "$cpid"
rc=$?
check_eq "SIGTERM: exit 1, promptly" "1 True" "$rc $([ $((SECONDS - start)) -le 10 ] && echo True)"
check_contains "... logged" "stopped by signal 15" "$(cat "$tmp/out")"
check_eq "... crawl_state unchanged" "$before" "$(state records)"
control '{"op": "faults"}' >/dev/null

# ---- 13. refusals and the database
check_eq "bad --format: exit 100" 100 "$(crawl --format xml; echo "$rc")"
check_eq "bad --sorting: exit 100" 100 "$(crawl --sorting 'tenThuoc asc'; echo "$rc")"
check_eq "--page-size over the portal's cap: exit 100" 100 "$(crawl --page-size 500; echo "$rc")"
check_eq "database unreachable: exit 111" 111 \
    "$(crawl --database-url 'postgresql://nobody@127.0.0.1:1/x?connect_timeout=2'; echo "$rc")"

# ---- 14. an item dated 9999-12-31: delivered and reported, never the watermark
fut=$(control '{"op": "change", "future": 1}')
dataset
FKEY=$(python3 -c 'import json, sys; f = json.loads(sys.argv[1])["future"][0]; print(next(i["soDangKy"] for i in json.load(open(sys.argv[2]))["items"] if i["id"] == f))' "$fut" "$tmp/dataset.json")
before=$(state dvc_flow | cut -d'|' -f1)
crawl --job-name dvc_flow --topic future --overlap 0
consume future
check_eq "an item dated 9999-12-31 ($FKEY): exit 0, the records after the watermark sent, it among them" \
    "0 records=$(check_py window "$tmp/dataset.json" "$before" 0) messages=$(grep -c . "$tmp/future.msgs") OK 1" \
    "$rc $(check_py compare "$tmp/dataset.json" "$tmp/future.msgs" page "$before" 0) $(grep -c -- "$FKEY" "$tmp/future.msgs")"
check_eq "... reported in the XCom: 1 future item, its key" "1 [\"$FKEY\"]" \
    "$(xget '["future_items"]') $(xget '["future_keys"]')"
check_contains "... and in the log, with its key" "1 item(s) dated after" "$(grep -- "$FKEY" "$tmp/out")"
check_eq "... the watermark is the newest other time, not past the clock plus 5 minutes" \
    "$(check_py newest "$tmp/dataset.json") true" \
    "$(q "select to_char(last_crawl_time at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ' ' || (last_crawl_time <= now() + interval '5 minutes') from crawl_state where job_name = 'dvc_flow'")"
chg=$(control '{"op": "change", "change": 3}')
dataset
crawl --job-name dvc_flow --topic future2 --overlap 0
consume future2
check_eq "the next run: exit 0, the 3 changes sent (and the future item again)" "0 3 1" "$rc $(python3 -c '
import json, sys
ids = set(json.loads(sys.argv[1])["changed"])
sent = {r["idThuoc"] for l in open(sys.argv[2]) for r in json.loads(l.split("\t", 1)[1])}
print(len(ids & sent))' "$chg" "$tmp/future2.msgs") $(xget '["future_items"]')"
check_eq "... and the watermark moved to the newest change" "$(check_py newest "$tmp/dataset.json")" \
    "$(state dvc_flow | cut -d'|' -f1)"
check_eq "bad --max-clock-skew: exit 100" 100 "$(crawl --max-clock-skew soon; echo "$rc")"

# ---- 15. the broker stopped before the run
before=$(state dvc_flow)
kafka_stop
crawl --job-name dvc_flow --topic all_data --flush-timeout 3s
check_eq "broker stopped: exit 111" 111 "$rc"
check_eq "... watermark unchanged" "$before" "$(state dvc_flow)"

# ---- 16. the broker goes down in the middle of a crawl
kafka_start -t midway:8 || exit 1
before=$(state midway)
control '{"op": "faults", "delay_ms": 40}' >/dev/null
KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS "$CRAWL" --api-url "$URL" --job-name midway \
    --topic midway --rate 50 --parallel 2 --flush-timeout 5s >"$tmp/out" 2>&1 &
cpid=$!
wait_for 20 grep -q . "$tmp/out" # the crawl is under way
sleep 1                          # pages are being sent when the broker goes
kafka_stop
wait "$cpid"
rc=$?
check_eq "broker down mid-crawl: exit 111" 111 "$rc"
check_eq "... watermark not set past undelivered data" "$before" "$(state midway)"
check_contains "... and it says what was not delivered" "not acknowledged" "$(cat "$tmp/out")"
control '{"op": "faults"}' >/dev/null

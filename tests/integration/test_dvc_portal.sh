#!/usr/bin/env bash
# Tests the drug registry fixture portal (tests/fixtures/dvc_portal.py) itself with curl, so
# the crawler's tests stand on a fixture that answers like the real portal: the ABP envelope,
# paging with the 100-item cap, totalCount, exactly the issue's item fields, null nested
# objects, Vietnamese UTF-8 text, .NET timestamps with 0 to 7 fractional digits, determinism
# from the seed, newest-first sorting, changes and additions, every fault of the control API,
# the counters, and stopping when stdin closes.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
plan 47

work=$(mktemp -d)
API=/api/services/app/soDangKy/GetAllPublicServerPaging
PORTAL_PID=
cleanup_work() {
    exec 8>&-
    [ -n "$PORTAL_PID" ] && kill "$PORTAL_PID" 2>/dev/null && wait "$PORTAL_PID" 2>/dev/null
    rm -rf "$work"
}
gust_cleanup_add cleanup_work

# Start the portal with stdin on a FIFO this shell holds open (fd 8): it dies with the test.
mkfifo "$work/stdin"
python3 tests/fixtures/dvc_portal.py --records 5000 --seed 1 --stdin <"$work/stdin" \
    >"$work/out" 2>"$work/log" &
PORTAL_PID=$!
exec 8>"$work/stdin"
if wait_for 20 grep -q '^http://127.0.0.1:' "$work/out"; then
    echo "ok - the portal starts and prints its URL"
else
    echo "not ok - the portal starts and prints its URL"
    cat "$work/log"
    exit 1
fi
URL=$(head -1 "$work/out")

# page SKIP COUNT [SORTING-JSON] -> the answer's body on stdout, HTTP status in $work/code
page() {
    curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"SoDangKyThuoc\": {}, \"KichHoat\": true, \"skipCount\": $1, \"maxResultCount\": $2, \"sorting\": ${3:-null}}" \
        "$URL$API" >"$work/code"
    cat "$work/body"
}
control() { curl -s -X POST -d "$1" "$URL/_control"; }
code() { cat "$work/code"; }
# py 'expression over j (the JSON on stdin)'
py() { python3 -c "import json, sys, re; j = json.load(sys.stdin); print($1)"; }

# --- envelope, paging, cap
body=$(page 0 100)
check_eq "a page answers 200" 200 "$(code)"
check_eq "the ABP envelope, in the portal's key order" \
    "['result', 'targetUrl', 'success', 'error', 'unAuthorizedRequest', '__abp'] True None" \
    "$(printf '%s' "$body" | py 'list(j), j["success"], j["error"]')"
check_eq "totalCount is the dataset size; 100 items" "5000 100" \
    "$(printf '%s' "$body" | py 'j["result"]["totalCount"], len(j["result"]["items"])')"
check_eq "the default order is id ascending" True \
    "$(printf '%s' "$body" | py '[i["id"] for i in j["result"]["items"]] == sorted(i["id"] for i in j["result"]["items"])')"
check_eq "maxResultCount is capped at 100" 100 \
    "$(page 100 500 | py 'len(j["result"]["items"])')"
check_eq "the last page is short" 50 "$(page 4950 100 | py 'len(j["result"]["items"])')"
check_eq "past the end: no items, same totalCount" "0 5000" \
    "$(page 5000 100 | py 'len(j["result"]["items"]), j["result"]["totalCount"]')"
check_contains "text is raw UTF-8, not \\u escapes" "Công ty" "$body"

# --- the items' fields and values
cat >"$work/fields.py" <<'PY'
import json, re, sys
fields = ["id", "soDangKy", "soDangKyCu", "tenThuoc", "phanLoaiThuocEnum", "congTyDangKyId",
          "congTySanXuatId", "congTyDangKy", "congTySanXuat", "thongTinDangKyThuoc",
          "thongTinRutSoDangKy", "thongTinThuocCoBan", "creationTime", "lastModificationTime"]
nested = {"congTyDangKy": ["tenCongTyDangKy", "diaChiDangKy", "nuocDangKy"],
          "congTySanXuat": ["tenCongTySanXuat", "diaChiSanXuat", "nuocSanXuat"],
          "thongTinDangKyThuoc": ["dotCap", "ngayCapSoDangKy", "ngayHetHanSoDangKy",
                                  "ngayGiaHanSoDangKy", "soQuyetDinh"],
          "thongTinRutSoDangKy": ["urlCongVanRutSoDangKy"],
          "thongTinThuocCoBan": ["dangBaoChe", "dongGoi", "hamLuong", "hoatChatChinh", "tieuChuan",
                                 "tieuChuanId", "tuoiTho"]}
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?\+07:00$")
items = json.load(sys.stdin)["items"]
bad = [i["id"] for i in items if sorted(i) != sorted(fields)]
bad += [i["id"] for i in items for k, sub in nested.items()
        if i[k] is not None and sorted(i[k]) != sorted(sub)]
print("fields", "ok" if not bad else bad[:5])
print("nulls", all(any(i[k] is None for i in items) for k in nested))
print("timestamps", all(ts.match(i[k]) for i in items for k in ("creationTime", "lastModificationTime")))
digits = {len(i["lastModificationTime"][20:-6]) for i in items}
print("precisions", sorted(digits))
print("modified>=created", all(i["lastModificationTime"] >= i["creationTime"][:19] for i in items))
print("unique soDangKy", len({i["soDangKy"] for i in items}) == len(items))
print("diacritics", sum(bool(re.search("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", json.dumps(i, ensure_ascii=False))) for i in items) > len(items) // 2)
print("country in address", any(i["congTySanXuat"] and i["congTySanXuat"]["diaChiSanXuat"].endswith(i["congTySanXuat"]["nuocSanXuat"]) for i in items),
      any(i["congTySanXuat"] and not i["congTySanXuat"]["diaChiSanXuat"].endswith(i["congTySanXuat"]["nuocSanXuat"]) for i in items))
PY
curl -s "$URL/_control/dataset" >"$work/dataset.json"
report=$(python3 "$work/fields.py" <"$work/dataset.json")
check_contains "items have exactly the issue's fields, nested ones too" "fields ok" "$report"
check_contains "each nested object is null in some items" "nulls True" "$report"
check_contains "timestamps: local time, 0-7 fraction digits, +07:00" "timestamps True" "$report"
check_contains "every precision from 0 to 7 digits occurs" "precisions [0, 1, 2, 3, 4, 5, 6, 7]" "$report"
check_contains "soDangKy is unique" "unique soDangKy True" "$report"
check_contains "lastModificationTime is never before creationTime" "modified>=created True" "$report"
check_contains "Vietnamese text with diacritics" "diacritics True" "$report"
check_contains "addresses with and without their country (fullAddress rule)" \
    "country in address True True" "$report"

# Paging through everything gives the dataset, item for item.
: >"$work/all.jsonl"
for ((s = 0; s < 5000; s += 100)); do page "$s" 100 >>"$work/all.jsonl"; echo >>"$work/all.jsonl"; done
check_eq "50 pages give every record exactly as /_control/dataset has it" True "$(python3 -c '
import json, sys
items = [i for line in open(sys.argv[1]) if line.strip() for i in json.loads(line)["result"]["items"]]
print(items == json.load(open(sys.argv[2]))["items"])' "$work/all.jsonl" "$work/dataset.json")"

# --- determinism from the seed
sum1=$(md5sum <"$work/dataset.json")
check_eq "reset answers the new totalCount" '{"totalCount":5000}' \
    "$(control '{"op": "reset", "records": 5000, "seed": 1}')"
check_eq "the same seed gives the same dataset" "$sum1" "$(curl -s "$URL/_control/dataset" | md5sum)"
control '{"op": "reset", "records": 300, "seed": 2}' >/dev/null
check_fails "another seed gives other data" test "$(curl -s "$URL/_control/dataset" | md5sum)" = "$sum1"
check_eq "a smaller dataset starts with the same records" True "$(curl -s -X POST \
    -d '{"op": "reset", "records": 300, "seed": 1}' "$URL/_control" >/dev/null
    curl -s "$URL/_control/dataset" | python3 -c '
import json, sys
print(json.load(sys.stdin)["items"] == json.load(open(sys.argv[1]))["items"][:300])' "$work/dataset.json")"

# --- sorted mode
control '{"op": "reset", "records": 1000, "seed": 1}' >/dev/null
: >"$work/sorted.jsonl"
for ((s = 0; s < 1000; s += 100)); do
    page "$s" 100 '"lastModificationTime desc"' >>"$work/sorted.jsonl"
    echo >>"$work/sorted.jsonl"
done
cat >"$work/instant.py" <<'PY'
import json, sys
from datetime import datetime
def instant(t):  # fromisoformat takes at most 6 fraction digits before Python 3.11
    head, off = t[:-6], t[-6:]
    if "." in head:
        head, frac = head.split(".")
        head += "." + (frac + "000000")[:6]
    return datetime.fromisoformat(head + off)
PY
check_eq "lastModificationTime desc: newest first across all pages, all records once" "True True" \
    "$(python3 -c '
import json, sys
sys.path.insert(0, sys.argv[2]); from instant import instant
items = [i for line in open(sys.argv[1]) if line.strip() for i in json.loads(line)["result"]["items"]]
t = [instant(i["lastModificationTime"]) for i in items]
print(all(a >= b for a, b in zip(t, t[1:])), len({i["id"] for i in items}) == 1000)' \
        "$work/sorted.jsonl" "$work")"
page 0 10 '"nope desc"' >/dev/null
check_eq "an unknown sort field is ABP's 500" "500 False" "$(code) $(py 'j["success"]' <"$work/body")"

# --- changes and additions
curl -s "$URL/_control/dataset" >"$work/before.json"
chg=$(control '{"op": "change", "change": 5, "add": 3}')
check_eq "change answers 5 changed and 3 added ids, the new totalCount" "5 3 1003" \
    "$(printf '%s' "$chg" | py 'len(j["changed"]), len(j["added"]), j["totalCount"]')"
curl -s "$URL/_control/dataset" >"$work/after.json"
check_eq "exactly those records differ; the changed ones in tenThuoc and lastModificationTime" \
    "True True True" "$(python3 -c '
import json, sys
b, a = (json.load(open(x)) for x in sys.argv[1:3])
c = json.loads(sys.argv[3])
bi = {i["id"]: i for i in b["items"]}
diff = {i["id"] for i in a["items"] if bi.get(i["id"]) != i}
print(diff == set(c["changed"]) | set(c["added"]),
      all({k for k in bi[i["id"]] if bi[i["id"]][k] != i[k]} == {"tenThuoc", "lastModificationTime"}
          for i in a["items"] if i["id"] in c["changed"]),
      [i["id"] for i in a["items"]] == sorted(i["id"] for i in a["items"]))' \
        "$work/before.json" "$work/after.json" "$chg")"
check_eq "the newest-first page starts with the 3 added, then the 5 changed" True "$(
    page 0 8 '"lastModificationTime desc"' | python3 -c '
import json, sys
c = json.loads(sys.argv[1]); ids = [i["id"] for i in json.load(sys.stdin)["result"]["items"]]
print(ids[:3] == c["added"][::-1] and set(ids[3:]) == set(c["changed"]))' "$chg")"
check_eq "changed records are newer than every record before the change" True "$(python3 -c '
import json, sys
sys.path.insert(0, sys.argv[3]); from instant import instant
b, c = (json.load(open(x)) for x in sys.argv[1:3])
newest = max(instant(i["lastModificationTime"]) for i in b["items"])
print(all(instant(i["lastModificationTime"]) > newest for i in c["items"] if i["id"] in
          set(json.loads(sys.argv[4])["changed"])))' "$work/before.json" "$work/after.json" "$work" "$chg")"

# --- faults and counters
control '{"op": "reset", "records": 1000, "seed": 1}' >/dev/null
control '{"op": "faults", "fail_next": 2}' >/dev/null
page 0 100 >/dev/null; c1=$(code)
page 0 100 >"$work/err.json"; c2=$(code)
page 0 100 >/dev/null; c3=$(code)
check_eq "fail_next 2: two 500s, then 200" "500 500 200" "$c1 $c2 $c3"
check_eq "a 500 carries ABP's error envelope" "False An internal error occurred during your request!" \
    "$(py 'j["success"], j["error"]["message"]' <"$work/err.json")"
check_eq "counters: requests, per status, pages, items" "3 {'500': 2, '200': 1} 1 100" \
    "$(curl -s "$URL/_control/counters" | py 'j["requests"], j["status"], j["pages"], j["items"]')"

control '{"op": "faults", "fail_skip": [200]}' >/dev/null
codes=""
for s in 100 200 300 200 200; do page "$s" 100 >/dev/null; codes="$codes $(code)"; done
check_eq "fail_skip: that skipCount always fails, others do not" " 200 500 200 500 500" "$codes"

control '{"op": "faults", "fail_rate": 0.5, "seed": 3}' >/dev/null
control '{"op": "counters", "reset": true}' >/dev/null
for ((i = 0; i < 40; i++)); do page 0 10 >/dev/null; done
check_eq "fail_rate 0.5: some of 40 requests fail, some succeed, all counted" "True True 40" \
    "$(curl -s "$URL/_control/counters" | py '10 <= j["status"].get("500", 0) <= 30, 10 <= j["status"].get("200", 0) <= 30, j["requests"]')"

control '{"op": "faults", "truncate_rate": 1}' >/dev/null
curl -s -o /dev/null -X POST -d '{"skipCount": 0, "maxResultCount": 100}' "$URL$API"
check_eq "truncate_rate: the body stops short of its Content-Length (curl exit 18)" 18 "$?"
control '{"op": "faults", "garbage_rate": 1}' >/dev/null
check_eq "garbage_rate: an HTML body..." "<!DOCTYPE html>" "$(page 0 10 | head -c 15)"
check_eq "... with status 200" 200 "$(code)"
check_eq "counters count truncated and garbage answers apart from pages" "1 1" \
    "$(curl -s "$URL/_control/counters" | py 'j["truncated"], j["garbage"]')"

control '{"op": "faults", "delay_ms": 300}' >/dev/null
t=$(curl -s -o /dev/null -w '%{time_total}' -X POST -d '{"skipCount": 0}' "$URL$API")
check_eq "delay_ms 300 delays each request" True "$(python3 -c "print($t >= 0.3)")"
control '{"op": "counters", "reset": true}' >/dev/null
pids=()
for i in 1 2 3 4; do
    curl -s -o /dev/null -X POST -d "{\"skipCount\": $((i * 100))}" "$URL$API" &
    pids+=($!)
done
wait "${pids[@]}"
check_eq "max_concurrent sees parallel requests" True \
    "$(curl -s "$URL/_control/counters" | py 'j["max_concurrent"] >= 2 and j["in_flight"] == 0')"

control '{"op": "faults", "unsorted": true}' >/dev/null
check_eq "unsorted: sorted requests get the default id order" True "$(
    page 0 100 '"lastModificationTime desc"' | py '[i["id"] for i in j["result"]["items"]] == sorted(i["id"] for i in j["result"]["items"])')"
check_eq "faults answer the settings in force; missing keys reset to off" \
    "0.0 False [] 0" "$(control '{"op": "faults"}' | py 'j["fail_rate"], j["unsorted"], j["fail_skip"], j["delay_ms"]')"

control '{"op": "counters", "reset": true}' >/dev/null
page 300 50 '"lastModificationTime desc"' >/dev/null
check_eq "the request log names skipCount, maxResultCount, sorting, status" \
    "[(300, 50, 'lastModificationTime desc', 200)]" \
    "$(control '{"op": "counters", "log": true}' | py '[(l["skipCount"], l["maxResultCount"], l["sorting"], l["status"]) for l in j["log"]]')"

# --- refusals
curl -s -o /dev/null -w '%{http_code}' -X POST -d 'not json' "$URL$API" >"$work/code"
check_eq "a body that is not JSON is a 400" 400 "$(code)"
check_eq "GET on the API is a 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$URL$API")"
check_eq "an unknown path is a 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")"
check_eq "an unknown control op is a 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"op": "x"}' "$URL/_control")"

# --- stdin EOF stops it
exec 8>&-
if wait_for 10 bash -c "! kill -0 $PORTAL_PID 2>/dev/null"; then
    echo "ok - closing stdin stops the portal"
    PORTAL_PID=
else
    echo "not ok - closing stdin stops the portal"
fi

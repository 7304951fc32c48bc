#!/usr/bin/env bash
# stream_loader (Kafka -> PostgreSQL, exactly once) against a real PostgreSQL migrated by
# `gust db migrate` and the Kafka-protocol mock cluster (tests/lib/kafka.sh), messages produced
# with kcat. Records come from the portal fixture's generator (tests/fixtures/dvc_data.py),
# flattened to the crawler's 29 fields. Checks: 2,000 records in page and record format load
# once, every column equal to the source JSON (PostgreSQL's own jsonb/timestamptz casts are
# the oracle); a rerun loads nothing; poison messages are dead-lettered with offset, key,
# payload and reason while the rest loads (and a rerun does not repeat them); SIGKILL while a
# batch is held mid-commit (deterministic, by a row lock) and SIGKILL after the first
# committed batch of a large run: what is stored always equals the stored offsets, and a rerun
# completes with no duplicate and no loss; the database lost mid-batch (backend terminated)
# -> 111, nothing half-stored; two loaders on one partition by mistake: the offsets
# compare-and-set refuses the second's batch; database or Kafka down at start -> 111; a stored
# offset the log does not have (beyond its end; below its start once the mock dropped the head
# of a partition past its ~5 MiB) -> loud data-loss exit 1, offset kept; --member/--partitions
# split one group's partitions; --follow picks up new messages and stops on SIGTERM with exit
# 0; bad flags -> 100.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 87
LOADER=$(gust_bin stream_loader)
gust_tmpdir tmp
unset ${!STREAM_LOADER_*}
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_stream_loader

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
xcom() { cat "$GUST_XCOM_FILE" 2>/dev/null; rm -f "$GUST_XCOM_FILE"; }
load() { "$LOADER" "$@" >"$tmp/out" 2>&1; }
rows_of() { q "select count(*) from pharmaceutical_data_staging where source_topic = '$1'"; }
offsets_of() { q "select coalesce(sum(next_offset), 0) from stream_offsets where topic = '$1'"; }
dups_of() {
    q "select count(*) from (select 1 from pharmaceutical_data_staging where source_topic = '$1'
        group by source_topic, source_partition, source_offset, sodangky having count(*) > 1) d"
}
# produce TOPIC FILE [kcat flags]: one message per line of FILE
# conditions for wait_for (evaluated at each attempt)
rows_are() { test "$(rows_of "$1")" = "$2"; }
offsets_above() { test "$(offsets_of "$1")" -gt "$2"; }
loader_held() {
    test "$(q "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
        and query like 'INSERT INTO stream_offsets%'")" = 1
}
# hold_offsets GROUP: a session holding the row locks of GROUP's stream_offsets in an open
# transaction (pg_hold); a loader's batch touching them waits at its offsets update.
hold_offsets() { pg_hold "select 1 from stream_offsets where consumer_group = '$1' for update"; }
# release_offsets [SQL]: run SQL in the holding transaction, commit, end the session
release_offsets() { pg_release "${1:-}"; }
produce() {
    local topic=$1 file=$2
    shift 2
    kcat -P -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$topic" "$@" <"$file" 2>"$tmp/kcat.err"
}

# gen.py DATASET START END FORMAT [MOD REM]: items START..END-1 (those with i % MOD == REM) of a
# dvc_data.py dataset, flattened like the crawler does; FORMAT page (100 per JSON array per
# line), record ("soDangKy<TAB>json" per line, for kcat -K'\t') or flat (one JSON per line).
cat >"$tmp/gen.py" <<'PY'
import json, sys
data, start, end, fmt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
mod, rem = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (1, 0)
items = json.load(open(data, encoding="utf-8"))["items"]
def g(obj, key):
    return obj.get(key) if obj else None
def flat(it):
    dk, sx = it.get("congTyDangKy"), it.get("congTySanXuat")
    dt, rut, cb = it.get("thongTinDangKyThuoc"), it.get("thongTinRutSoDangKy"), it.get("thongTinThuocCoBan")
    addr, country = g(sx, "diaChiSanXuat"), g(sx, "nuocSanXuat")
    full = addr
    if addr and country and country not in addr:
        full = addr + ", " + country
    return {"idThuoc": it["id"], "soDangKy": it["soDangKy"], "soDangKyCu": it.get("soDangKyCu"),
            "tenThuoc": it.get("tenThuoc"), "phanLoaiThuocEnum": it.get("phanLoaiThuocEnum"),
            "congTyDangKyId": it.get("congTyDangKyId"), "congTySanXuatId": it.get("congTySanXuatId"),
            "creationTime": it.get("creationTime"), "lastModificationTime": it.get("lastModificationTime"),
            "tenCongTyDangKy": g(dk, "tenCongTyDangKy"), "diaChiDangKy": g(dk, "diaChiDangKy"),
            "nuocDangKy": g(dk, "nuocDangKy"), "tenCongTySanXuat": g(sx, "tenCongTySanXuat"),
            "diaChiSanXuat": addr, "nuocSanXuat": country, "fullAddress": full,
            "dotCap": g(dt, "dotCap"), "ngayCapSoDangKy": g(dt, "ngayCapSoDangKy"),
            "ngayHetHanSoDangKy": g(dt, "ngayHetHanSoDangKy"),
            "ngayGiaHanSoDangKy": g(dt, "ngayGiaHanSoDangKy"), "soQuyetDinh": g(dt, "soQuyetDinh"),
            "thongTinRutSoDangKy": g(rut, "urlCongVanRutSoDangKy"), "dangBaoChe": g(cb, "dangBaoChe"),
            "dongGoi": g(cb, "dongGoi"), "hamLuong": g(cb, "hamLuong"),
            "hoatChatChinh": g(cb, "hoatChatChinh"), "tieuChuan": g(cb, "tieuChuan"),
            "tieuChuanId": g(cb, "tieuChuanId"), "tuoiTho": g(cb, "tuoiTho")}
recs = [flat(items[i]) for i in range(start, min(end, len(items))) if i % mod == rem]
dump = lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":"))
out = sys.stdout
if fmt == "page":
    for k in range(0, len(recs), 100):
        out.write(dump(recs[k:k + 100]) + "\n")
elif fmt == "record":
    for r in recs:
        out.write(r["soDangKy"] + "\t" + dump(r) + "\n")
else:
    for r in recs:
        out.write(dump(r) + "\n")
PY
gen() { python3 "$tmp/gen.py" "$@"; }
dataset() { python3 "$GUST_SRC/tests/fixtures/dvc_data.py" --records "$1" --seed "$2" >"$3"; }

kafka_start -t all_data:4 -t t_poison:1 -t t_kill:4 -t t_kill2:8 -t t_split:4 -t t_follow:2 -t t_lost:1 -t t_trim:1
check "the Kafka mock runs" test -n "${KAFKA_BOOTSTRAP_SERVERS:-}"

# --- 2,000 records, half as pages (the original's format), half as keyed records
dataset 2000 7 "$tmp/d1.json"
gen "$tmp/d1.json" 0 1000 page >"$tmp/pages.txt"
gen "$tmp/d1.json" 1000 2000 record >"$tmp/records.txt"
gen "$tmp/d1.json" 0 2000 flat >"$tmp/flat.txt"
check_eq "10 pages of 100 records" 10 "$(wc -l <"$tmp/pages.txt")"
check "produce the pages" produce all_data "$tmp/pages.txt"
check "produce the keyed records" produce all_data "$tmp/records.txt" -K $'\t'
load --pipeline dvc --topic all_data --group dvc_staging --available-now --max-batch 300
check_eq "loader exits 0" 0 $?
x=$(xcom)
check_eq "xcom: messages" 1010 "$(jq -r .messages <<<"$x")"
check_eq "xcom: records_loaded" 2000 "$(jq -r .records_loaded <<<"$x")"
check_eq "xcom: dead_letters" 0 "$(jq -r .dead_letters <<<"$x")"
check "xcom: several batches (--max-batch 300)" test "$(jq -r .batches <<<"$x")" -ge 4
check_eq "xcom: partitions hold the next offsets" 1010 "$(jq '[.partitions[]] | add' <<<"$x")"
check_eq "2000 staging rows" 2000 "$(rows_of all_data)"
check_eq "one row per soDangKy" 2000 "$(q "select count(distinct sodangky) from
    pharmaceutical_data_staging where source_topic = 'all_data'")"
check_eq "stream_offsets: 4 partitions, next offsets sum to the messages" "4 1010" \
    "$(q "select count(*) || ' ' || sum(next_offset) from stream_offsets
        where consumer_group = 'dvc_staging' and topic = 'all_data'")"

# every column of every row against the source JSON, with PostgreSQL's casts as the oracle
q "create table src (j jsonb)"
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy src from '$tmp/flat.txt' with (format csv, quote e'\\x01', delimiter e'\\x02')"
cols="idThuoc:idthuoc:bigint soDangKy:sodangky:text soDangKyCu:sodangkycu:text
tenThuoc:tenthuoc:text phanLoaiThuocEnum:phanloaithuocenum:integer congTyDangKyId:congtydangkyid:bigint
congTySanXuatId:congtysanxuatid:bigint creationTime:creationtime:timestamptz
lastModificationTime:lastmodificationtime:timestamptz tenCongTyDangKy:tencongtydangky:text
diaChiDangKy:diachidangky:text nuocDangKy:nuocdangky:text tenCongTySanXuat:tencongtysanxuat:text
diaChiSanXuat:diachisanxuat:text nuocSanXuat:nuocsanxuat:text fullAddress:fulladdress:text
dotCap:dotcap:text ngayCapSoDangKy:ngaycapsodangky:timestamptz
ngayHetHanSoDangKy:ngayhethansodangky:timestamptz ngayGiaHanSoDangKy:ngaygiahansodangky:timestamptz
soQuyetDinh:soquyetdinh:text thongTinRutSoDangKy:thongtinrutsodangky:text dangBaoChe:dangbaoche:text
dongGoi:donggoi:text hamLuong:hamluong:text hoatChatChinh:hoatchatchinh:text tieuChuan:tieuchuan:text
tieuChuanId:tieuchuanid:bigint tuoiTho:tuoitho:text"
left= right=
for c in $cols; do
    IFS=: read -r f col ty <<<"$c"
    left+="${left:+, }t.$col"
    right+="${right:+, }(s.j->>'$f')::$ty"
done
check_eq "29 columns compared" 29 "$(wc -w <<<"$cols")"
check_eq "every source record matched one staging row" 2000 "$(q "select count(*) from src s
    join pharmaceutical_data_staging t on t.sodangky = s.j->>'soDangKy' and t.source_topic = 'all_data'")"
check_eq "every column equals the source (timestamps: the same instant)" 0 "$(q "select count(*)
    from src s join pharmaceutical_data_staging t on t.sodangky = s.j->>'soDangKy'
    where t.source_topic = 'all_data' and ($left) is distinct from ($right)")"
check "the data has nulls, Vietnamese text and 7-digit fractions" test "$(q "select
    count(*) filter (where t.tencongtydangky is null) > 0 and count(*) filter (where t.tenthuoc ~ '[ạ-ỹ]') > 0
    and bool_or(s.j->>'lastModificationTime' ~ '\.[0-9]{7}\+') from src s join
    pharmaceutical_data_staging t on t.sodangky = s.j->>'soDangKy'")" = t
check_eq "source coordinates are set" 0 "$(q "select count(*) from pharmaceutical_data_staging
    where source_topic = 'all_data' and (source_partition is null or source_offset is null)")"

# --- a rerun finds nothing new: stored offsets
load --pipeline dvc --topic all_data --group dvc_staging --available-now
check_eq "rerun exits 0 (not 99)" 0 $?
x=$(xcom)
check_eq "rerun: xcom messages 0" 0 "$(jq -r .messages <<<"$x")"
check_eq "rerun: xcom records_loaded 0" 0 "$(jq -r .records_loaded <<<"$x")"
check_eq "rerun: still 2000 rows" 2000 "$(rows_of all_data)"

# --- poison messages: dead-lettered with offset, key, payload and reason; the rest loads
gen "$tmp/d1.json" 0 3 flat >"$tmp/three.txt"
good1=$(sed -n 1p "$tmp/three.txt")
good3=$(sed -n 3p "$tmp/three.txt")
bad2=$(sed -n 2p "$tmp/three.txt" | jq -c '.lastModificationTime = "2025-02-30T10:00:00+07:00"')
{
    printf 'k0\tnot json {\n'
    printf 'k1\t{"tenThuoc":"Thuốc không số"}\n'
    printf 'k2\t[%s,%s,%s]\n' "$good1" "$bad2" "$good3"
    printf 'k3\t%s\n' "$(sed -n 2p "$tmp/three.txt")"
} >"$tmp/poison.txt"
check "produce poison messages" produce t_poison "$tmp/poison.txt" -K $'\t'
load --topic t_poison --group poison
check_eq "poison: loader exits 0" 0 $?
x=$(xcom)
check_eq "poison: xcom dead_letters" 3 "$(jq -r .dead_letters <<<"$x")"
check_eq "poison: the good records load" 3 "$(rows_of t_poison)"
dl() { q "select $1 from pharmaceutical_dead_letters where topic = 't_poison' and \"offset\" = $2"; }
check_eq "poison: 3 dead letters" 3 "$(q "select count(*) from pharmaceutical_dead_letters where topic = 't_poison'")"
check_contains "not JSON: reason" "bad JSON" "$(dl reason 0)"
check_eq "not JSON: raw payload" "not json {" "$(dl "convert_from(payload, 'UTF8')" 0)"
check_eq "not JSON: key and partition" "k0|0" "$(dl "convert_from(key, 'UTF8') || '|' || \"partition\"" 0)"
check_eq "no soDangKy: reason" "soDangKy missing" "$(dl reason 1)"
check_contains "bad date in a page: reason names the item" \
    "item 1: lastModificationTime: bad timestamp '2025-02-30T10:00:00+07:00'" "$(dl reason 2)"
check_eq "bad date in a page: payload is that record" "$(jq -r .soDangKy <<<"$bad2")" \
    "$(dl "convert_from(payload, 'UTF8')::jsonb->>'soDangKy'" 2)"
load --topic t_poison --group poison
check_eq "poison rerun: no dead letter twice" 3 \
    "$(q "select count(*) from pharmaceutical_dead_letters where topic = 't_poison'")"

# --- data loss: a stored offset the log does not have is a loud error, never a reset
q "insert into stream_offsets (consumer_group, topic, \"partition\", next_offset)
    values ('lossy', 't_poison', 0, 999999)"
load --topic t_poison --group lossy
check_eq "stored offset beyond the log: exit 1" 1 $?
check_contains "stored offset beyond the log: says data loss" "data loss" "$(cat "$tmp/out")"
check_eq "stored offset beyond the log: not reset" 999999 \
    "$(q "select next_offset from stream_offsets where consumer_group = 'lossy'")"

# --- data loss: the mock keeps ~5 MiB per partition and drops the head beyond that, as a
# short retention would; a stored offset below the new log start is the same loud error
dataset 20000 13 "$tmp/d4.json"
gen "$tmp/d4.json" 0 8000 page >"$tmp/trim.txt"
check "trim: produce ~9 MB into one partition" produce t_trim "$tmp/trim.txt"
low=$(kcat -Q -b "$KAFKA_BOOTSTRAP_SERVERS" -t t_trim:0:-2 2>/dev/null | awk '{print $NF}')
check "trim: the mock dropped the log's head" test "${low:-0}" -gt 0
q "insert into stream_offsets (consumer_group, topic, \"partition\", next_offset)
    values ('trim', 't_trim', 0, 0)"
load --topic t_trim --group trim
check_eq "stored offset below the log start: exit 1" 1 $?
check_contains "below the log start: says data loss, not resetting" \
    "data loss: t_trim [0]: stored offset 0 is below the log start $low" "$(cat "$tmp/out")"
check_eq "below the log start: nothing loaded, offset kept" "0 0" \
    "$(rows_of t_trim) $(offsets_of t_trim)"

# --- SIGKILL while a batch is mid-commit (held on a row lock), then rerun
dataset 3000 11 "$tmp/d3.json"
for p in 0 1 2 3; do
    gen "$tmp/d3.json" 0 400 record 4 "$p" >"$tmp/a$p.txt"
    gen "$tmp/d3.json" 400 3000 record 4 "$p" >"$tmp/b$p.txt"
    produce t_kill "$tmp/a$p.txt" -K $'\t' -p "$p"
done
load --topic t_kill --group kill
check_eq "kill: first part loads" "0 400" "$? $(rows_of t_kill)"
for p in 0 1 2 3; do produce t_kill "$tmp/b$p.txt" -K $'\t' -p "$p"; done
hold_offsets kill
"$LOADER" --topic t_kill --group kill --max-batch 50 >"$tmp/kill.out" 2>&1 &
kpid=$!
gust_kill_at_exit "$kpid"
check "kill: the loader's batch is held at its offsets update" wait_for 30 loader_held
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
release_offsets
check_eq "kill: the killed batch left nothing (rows = stored offsets)" "$(offsets_of t_kill)" "$(rows_of t_kill)"
load --topic t_kill --group kill
check_eq "kill: rerun exits 0" 0 $?
check_eq "kill: rerun loads everything" 3000 "$(rows_of t_kill)"
check_eq "kill: no duplicate" 0 "$(dups_of t_kill)"
check_eq "kill: every soDangKy once" 3000 "$(q "select count(distinct sodangky) from
    pharmaceutical_data_staging where source_topic = 't_kill'")"
check_eq "kill: offsets = messages" 3000 "$(offsets_of t_kill)"

# --- SIGKILL after the first committed batch of a large run, then rerun
gen "$tmp/d4.json" 0 20000 record >"$tmp/big.txt"
check "kill -9: produce 20000 records" produce t_kill2 "$tmp/big.txt" -K $'\t'
"$LOADER" --topic t_kill2 --group kill2 --max-batch 200 >"$tmp/kill2.out" 2>&1 &
kpid=$!
gust_kill_at_exit "$kpid"
check "kill -9: a first batch commits" wait_for 30 offsets_above t_kill2 0
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
r=$(rows_of t_kill2)
check_eq "kill -9: rows = stored offsets at the kill" "$(offsets_of t_kill2)" "$r"
echo "# killed after $r of 20000 rows"
load --topic t_kill2 --group kill2 --max-batch 5000
check_eq "kill -9: rerun exits 0" 0 $?
check_eq "kill -9: count = source count" 20000 "$(rows_of t_kill2)"
check_eq "kill -9: no duplicate" 0 "$(dups_of t_kill2)"
check_eq "kill -9: every soDangKy once" 20000 "$(q "select count(distinct sodangky) from
    pharmaceutical_data_staging where source_topic = 't_kill2'")"

# --- two loaders of one group split the partitions (--partitions 0,2 and --member 1/2)
dataset 1200 17 "$tmp/d5.json"
gen "$tmp/d5.json" 0 1200 record >"$tmp/split.txt"
check "split: produce" produce t_split "$tmp/split.txt" -K $'\t'
GUST_XCOM_FILE=$tmp/xa.json "$LOADER" --topic t_split --group split --partitions 0,2 \
    --max-batch 100 >"$tmp/a.out" 2>&1 &
apid=$!
GUST_XCOM_FILE=$tmp/xb.json "$LOADER" --topic t_split --group split --member 1/2 \
    --max-batch 100 >"$tmp/b.out" 2>&1 &
bpid=$!
gust_kill_at_exit "$apid" "$bpid"
wait "$apid"
ra=$?
wait "$bpid"
check_eq "split: both loaders exit 0" "0 0" "$ra $?"
check_eq "split: member A read partitions 0 and 2" '["0","2"]' "$(jq -c '.partitions | keys' "$tmp/xa.json")"
check_eq "split: member B read partitions 1 and 3" '["1","3"]' "$(jq -c '.partitions | keys' "$tmp/xb.json")"
check_eq "split: together they loaded everything" 1200 \
    "$(($(jq .records_loaded "$tmp/xa.json") + $(jq .records_loaded "$tmp/xb.json")))"
check_eq "split: 1200 rows, no duplicate" "1200 0" "$(rows_of t_split) $(dups_of t_split)"
load --topic t_split --group split --member 0/1
check_eq "split: a single loader of the group then finds nothing new" "0 1200" \
    "$(jq -r .records_loaded "$GUST_XCOM_FILE") $(rows_of t_split)"
rm -f "$GUST_XCOM_FILE"

# --- the database lost mid-batch -> 111, nothing half-stored; the rerun completes
dataset 40 19 "$tmp/d6.json"
gen "$tmp/d6.json" 0 10 record >"$tmp/l1.txt"
gen "$tmp/d6.json" 10 20 record >"$tmp/l2.txt"
gen "$tmp/d6.json" 20 30 record >"$tmp/l3.txt"
produce t_lost "$tmp/l1.txt" -K $'\t'
load --topic t_lost --group lost
check_eq "lost: first part loads" "0 10" "$? $(rows_of t_lost)"
produce t_lost "$tmp/l2.txt" -K $'\t'
hold_offsets lost
"$LOADER" --topic t_lost --group lost >"$tmp/lost.out" 2>&1 &
kpid=$!
gust_kill_at_exit "$kpid"
check "lost: the batch is held at its offsets update" wait_for 30 loader_held
q "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
    and query like 'INSERT INTO stream_offsets%'" >/dev/null
wait "$kpid"
check_eq "lost: connection killed mid-batch -> exit 111" 111 $?
release_offsets
check_eq "lost: nothing of the batch stored" "10 10" "$(rows_of t_lost) $(offsets_of t_lost)"
load --topic t_lost --group lost
check_eq "lost: the rerun loads the rest once" "0 20 0" "$? $(rows_of t_lost) $(dups_of t_lost)"

# --- two loaders on one partition by mistake: the offsets compare-and-set refuses the second
produce t_lost "$tmp/l3.txt" -K $'\t'
hold_offsets lost
"$LOADER" --topic t_lost --group lost >"$tmp/fence.out" 2>&1 &
kpid=$!
gust_kill_at_exit "$kpid"
check "fence: the batch is held at its offsets update" wait_for 30 loader_held
release_offsets "update stream_offsets set next_offset = 25 where consumer_group = 'lost';"
wait "$kpid"
check_eq "fence: offsets moved by another loader -> exit 1" 1 $?
check_contains "fence: says so" "another loader" "$(cat "$tmp/fence.out")"
check_eq "fence: its batch rolled back" 20 "$(rows_of t_lost)"

# --- --follow: picks up messages produced after it started; SIGTERM -> exit 0
"$LOADER" --topic t_follow --group follow --follow --trigger-interval 200ms >"$tmp/follow.out" 2>&1 &
fpid=$!
gust_kill_at_exit "$fpid"
check "follow: started" wait_for 20 grep -q "mode=follow" "$tmp/follow.out"
gen "$tmp/d5.json" 0 5 record >"$tmp/f1.txt"
gen "$tmp/d5.json" 5 25 page >"$tmp/f2.txt"
produce t_follow "$tmp/f1.txt" -K $'\t'
check "follow: loads the first 5 records" wait_for 20 rows_are t_follow 5
produce t_follow "$tmp/f2.txt"
check "follow: loads a page produced later" wait_for 20 rows_are t_follow 25
kill -TERM "$fpid"
wait "$fpid"
check_eq "follow: SIGTERM -> exit 0" 0 $?
check_eq "follow: xcom records_loaded" 25 "$(jq -r .records_loaded <<<"$(xcom)")"
check_eq "follow: offsets stored" 6 "$(offsets_of t_follow)"

# --- database down -> 111; bad flags -> 100
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
load --topic all_data --database-url "host=127.0.0.1 port=$port dbname=nope user=x password=hunter2"
check_eq "database down at start: exit 111" 111 $?
check_fails "database down: no password in the log" grep -q hunter2 "$tmp/out"
load --topic all_data -X bootstrap.servers=127.0.0.1:$port
check_eq "Kafka down at start: exit 111" 111 $?
load --pipeline nope
check_eq "unknown pipeline: exit 100" 100 $?
load --member 2/2
check_eq "bad --member: exit 100" 100 $?
load --available-now --follow
check_eq "--available-now with --follow: exit 100" 100 $?
load --topic t_split --partitions 0,9
check_eq "--partitions naming a partition the topic lacks: exit 100" 100 $?

#!/usr/bin/env bash
# pharma_upsert (staging -> pharmaceutical_data) against a real PostgreSQL migrated by
# `gust db migrate`: the 0002 schema; newest version per sodangky wins, an older version
# arriving later never overwrites; every column and Vietnamese text round trip; XCom counts;
# a loader committing rows while the upsert runs loses nothing (deterministically, by holding
# the upsert on a row lock, and with a writer racing batched runs); a staging row changed
# while it is moved fails the run and moves nothing; an SQL error or a killed
# connection moves nothing (exit 1 / 111); database down (111, password masked); bad flags
# (100); the pharmaceutical_upsert_dag DAG running it through gust.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 122
UPSERT=$(gust_bin pharma_upsert)
gust_tmpdir tmp
unset PHARMA_UPSERT_BATCH_LIMIT
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_pharma_upsert

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
xcom() { cat "$GUST_XCOM_FILE" 2>/dev/null; rm -f "$GUST_XCOM_FILE"; }
upsert() { "$UPSERT" "$@" >"$tmp/out" 2>&1; }
# stage SODANGKY LASTMOD TENTHUOC: one staging row ("" = NULL time), values as psql variables
stage() {
    psql -X -q -v ON_ERROR_STOP=1 -v k="$1" -v t="$2" -v n="$3" <<'SQL'
insert into pharmaceutical_data_staging (sodangky, lastmodificationtime, tenthuoc)
values (:'k', nullif(:'t', '')::timestamptz, :'n');
SQL
}
name_of() { q "select tenthuoc from pharmaceutical_data where sodangky = '$1'"; }
staged() { q "select count(*) from pharmaceutical_data_staging"; }
main_rows() { q "select count(*) from pharmaceutical_data"; }
# A session holding a row lock on pharmaceutical_data (sodangky $1) in an open transaction:
# an upsert touching that key waits on it, its snapshot taken and its staging rows read.
lock_hold() { pg_hold "select 1 from pharmaceutical_data where sodangky = '$1' for update"; }
lock_release() { pg_release; }
upsert_waiting() {
    test "$(q "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
        and query like 'WITH moved%'")" = 1
}

# --- schema
cols=$(q "select string_agg(column_name || ':' || data_type, ',' order by ordinal_position)
    from information_schema.columns where table_name = 'pharmaceutical_data'")
check_eq "pharmaceutical_data has the 29 source columns, lower case, plus loaded_at" 30 \
    "$(printf '%s\n' "$cols" | tr ',' '\n' | wc -l)"
for c in idthuoc:bigint sodangky:text phanloaithuocenum:integer congtydangkyid:bigint \
    creationtime:'timestamp with time zone' lastmodificationtime:'timestamp with time zone' \
    ngaycapsodangky:'timestamp with time zone' ngayhethansodangky:'timestamp with time zone' \
    ngaygiahansodangky:'timestamp with time zone' tieuchuanid:bigint fulladdress:text tuoitho:text; do
    check_contains "column $c" ",$c," ",$cols,"
done
check_eq "sodangky is the primary key" sodangky "$(q "select a.attname from pg_index i
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indrelid = 'pharmaceutical_data'::regclass and i.indisprimary")"
check_eq "staging has the same 29 columns with the same types" "" "$(q "
    select string_agg(column_name, ',') from (
        select column_name, data_type from information_schema.columns
        where table_name = 'pharmaceutical_data' and column_name <> 'loaded_at'
        except select column_name, data_type from information_schema.columns
        where table_name = 'pharmaceutical_data_staging') x")"
check_eq "staging is keyed by staging_id, with its source coordinates" \
    "staging_id,source_topic,source_partition,source_offset" "$(q "select string_agg(column_name, ',' order by ordinal_position)
    from information_schema.columns where table_name = 'pharmaceutical_data_staging'
    and column_name in ('staging_id', 'source_topic', 'source_partition', 'source_offset')")"
check_eq "dead letters keep topic, partition, offset, key, payload, reason, time" \
    "id,topic,partition,offset,key,payload,reason,failed_at" "$(q "select string_agg(column_name, ','
    order by ordinal_position) from information_schema.columns
    where table_name = 'pharmaceutical_dead_letters'")"

# --- empty staging: success with zeros
upsert
check_eq "empty staging exits 0" 0 $?
check_eq "empty staging writes zero counts" \
    '{"inserted": 0, "updated": 0, "unchanged": 0, "staging_rows": 0}' "$(xcom)"

# --- first load: duplicates and versions
stage A1 2025-01-01T00:00:00+07:00 a-old
stage A1 2025-02-01T00:00:00.1234567+07:00 a-newest
stage A1 2025-01-15T00:00:00Z a-middle
stage B1 2025-03-01T00:00:00Z b-1
stage C1 2025-03-01T00:00:00Z c-first
stage C1 2025-03-01T00:00:00Z c-second # same time: the later-loaded row wins
stage D1 2025-03-01T00:00:00Z d-timed
stage D1 "" d-untimed # a version without a time loses to one with
stage E1 "" e-untimed
upsert
check_eq "first upsert exits 0" 0 $?
check_eq "XCom counts of the first upsert" \
    '{"inserted": 5, "updated": 0, "unchanged": 0, "staging_rows": 9}' "$(xcom)"
check_eq "one main row per sodangky" 5 "$(main_rows)"
check_eq "the newest version wins, whatever the staging order" a-newest "$(name_of A1)"
check_eq "equal times: the later-loaded version wins" c-second "$(name_of C1)"
check_eq "a timed version beats one without a time" d-timed "$(name_of D1)"
check_eq "the instant is kept" "2025-01-31 17:00:00.123457+00" \
    "$(PGTZ=UTC q "select lastmodificationtime from pharmaceutical_data where sodangky = 'A1'")"
check_eq "staging is empty afterwards" 0 "$(staged)"
check_contains "the log has a summary line" "inserted=5 updated=0 unchanged=0" "$(cat "$tmp/out")"

# --- second load: older versions arriving later never overwrite
stage A1 2025-01-20T00:00:00Z a-late-but-older
stage B1 2025-04-01T00:00:00Z b-2
stage C1 2025-03-01T00:00:00Z c-redelivered # same version again (the crawl's overlap)
stage E1 2025-01-01T00:00:00Z e-timed      # the stored row has no time: replaced
stage F1 2025-01-01T00:00:00Z f-1
upsert
check_eq "second upsert exits 0" 0 $?
check_eq "XCom counts of the second upsert" \
    '{"inserted": 1, "updated": 2, "unchanged": 2, "staging_rows": 5}' "$(xcom)"
check_eq "an older version arriving later does not overwrite" a-newest "$(name_of A1)"
check_eq "a redelivered version leaves the row as it was" c-second "$(name_of C1)"
check_eq "a newer version updates" b-2 "$(name_of B1)"
check_eq "a timed version replaces a stored row without a time" e-timed "$(name_of E1)"
check_eq "a new key is inserted" f-1 "$(name_of F1)"
check_eq "staging is empty again" 0 "$(staged)"

# --- every column, Vietnamese text and awkward bytes round trip
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
insert into pharmaceutical_data_staging (idthuoc, sodangky, sodangkycu, tenthuoc,
    phanloaithuocenum, congtydangkyid, congtysanxuatid, creationtime, lastmodificationtime,
    tencongtydangky, diachidangky, nuocdangky, tencongtysanxuat, diachisanxuat, nuocsanxuat,
    fulladdress, dotcap, ngaycapsodangky, ngayhethansodangky, ngaygiahansodangky, soquyetdinh,
    thongtinrutsodangky, dangbaoche, donggoi, hamluong, hoatchatchinh, tieuchuan, tieuchuanid,
    tuoitho, source_topic, source_partition, source_offset)
values (9007199254740993, 'VD-35125-21', 'VD-1234-10', 'Paracetamol Stada 500 mg viên nén sủi bọt',
    2, 123456789012, 98765, '2021-06-30T09:15:00.5+07:00', '2025-12-01T22:00:51.22+07:00',
    'Công ty TNHH Liên doanh Stellapharm', 'Số 40 Đại lộ Tự Do, KCN Việt Nam - Singapore, Thuận An, Bình Dương',
    'Việt Nam', 'Chi nhánh 1 - Công ty TNHH LD Stellapharm', E'K63/1 Nguyễn Thị Sóc,\tấp Mỹ Hòa 2\nxã Xuân Thới Đông', 'Việt Nam',
    E'K63/1 Nguyễn Thị Sóc,\tấp Mỹ Hòa 2\nxã Xuân Thới Đông, Việt Nam', 'Đợt 170',
    '2021-07-01T00:00:00+07:00', '2026-07-01T00:00:00+07:00', null, '366/QĐ-QLD',
    'https://dichvucong.dav.gov.vn/congvan/rút số đăng ký.pdf', 'Viên nén sủi bọt',
    'Hộp 4 vỉ x 4 viên; tuýp 10 viên', '500 mg', E'Paracetamol \\ "quoted" ''single''', 'TCCS', 7,
    '36 tháng', 'all_data', 3, 123456);
SQL
before=$(q "select (to_jsonb(s) - 'staging_id' - 'source_topic' - 'source_partition'
    - 'source_offset' - 'loaded_at')::text from pharmaceutical_data_staging s")
upsert
check_eq "the full-row upsert exits 0" 0 $?
check_eq "every column of the main row equals the staged one" "$before" \
    "$(q "select (to_jsonb(d) - 'loaded_at')::text from pharmaceutical_data d where sodangky = 'VD-35125-21'")"
check_eq "Vietnamese text round trips byte for byte" \
    "Công ty TNHH Liên doanh Stellapharm|Viên nén sủi bọt|36 tháng|Đợt 170" \
    "$(q "select concat_ws('|', tencongtydangky, dangbaoche, tuoitho, dotcap) from pharmaceutical_data
        where sodangky = 'VD-35125-21'")"
check_eq "a bigint id beyond 2^53 is exact" 9007199254740993 \
    "$(q "select idthuoc from pharmaceutical_data where sodangky = 'VD-35125-21'")"
xcom >/dev/null

# --- batches: many versions, small transactions, same result
for i in $(seq 1 30); do
    k=$((i % 7))
    stage "BATCH-$k" "2025-05-$(printf %02d $(((i * 11) % 28 + 1)))T00:00:00Z" "batch-$k-$i"
done
expected=$(q "select string_agg(tenthuoc, ',' order by sodangky) from (select distinct on (sodangky)
    sodangky, tenthuoc from pharmaceutical_data_staging order by sodangky,
    lastmodificationtime desc, staging_id) x")
upsert --batch-limit 4
check_eq "--batch-limit 4 exits 0" 0 $?
check_eq "batched: the newest version of each key wins" "$expected" \
    "$(q "select string_agg(tenthuoc, ',' order by sodangky) from pharmaceutical_data where sodangky like 'BATCH-%'")"
check_eq "batched: XCom sums the batches" '"staging_rows": 30}' "$(xcom | grep -o '"staging_rows": [0-9]*}')"
check_eq "batched: staging is empty" 0 "$(staged)"
check_eq "PHARMA_UPSERT_BATCH_LIMIT=abc is a usage error (exit 100)" 100 \
    "$(PHARMA_UPSERT_BATCH_LIMIT=abc "$UPSERT" >/dev/null 2>&1; echo $?)"
check_eq "--batch-limit 0 is a usage error (exit 100)" 100 "$(upsert --batch-limit 0; echo $?)"
check_eq "an unknown flag is a usage error (exit 100)" 100 "$(upsert --bogus; echo $?)"
check_contains "--help prints the usage and the exit codes" "111 when the" "$("$UPSERT" --help 2>&1)"

# --- a loader committing while the upsert runs: rows after its snapshot stay in staging
stage A1 2025-06-01T00:00:00Z a-june
stage G1 2025-06-01T00:00:00Z g-1
lock_hold A1
upsert &
up=$!
wait_for 10 upsert_waiting
check "the upsert is running (waiting on the row lock) while the loader writes" upsert_waiting
stage A1 2025-07-01T00:00:00Z a-july-concurrent # committed after the upsert's snapshot
stage H1 2025-07-01T00:00:00Z h-concurrent
lock_release
wait "$up"
check_eq "the upsert that ran beside the loader exits 0" 0 $?
check_eq "it moved only what its snapshot saw" '"staging_rows": 2}' "$(xcom | grep -o '"staging_rows": [0-9]*}')"
check_eq "the rows committed meanwhile are still in staging" "a-july-concurrent,h-concurrent" \
    "$(q "select string_agg(tenthuoc, ',' order by tenthuoc) from pharmaceutical_data_staging")"
check_eq "what it saw was upserted" "a-june|g-1" "$(name_of A1)|$(name_of G1)"
upsert
check_eq "the next run moves them" "a-july-concurrent|h-concurrent|0" "$(name_of A1)|$(name_of H1)|$(staged)"
xcom >/dev/null

# --- two upserts at once: they take turns (an advisory lock), each staging row is moved once
# and loaders are never blocked; a killed upsert moves nothing and the other one moves it all.
# Held deterministically: the first waits on a row lock of the main table, after its DELETE.
advisory_waiting() {
    test "$(q "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
        and wait_event = 'advisory'")" = 1
}
# start_second: a second upsert (XCom in $tmp/x2.json, pid in $up2), started while another
# one runs; returns once it waits for the turn (the advisory lock)
start_second() {
    GUST_XCOM_FILE=$tmp/x2.json "$UPSERT" >"$tmp/out2" 2>&1 &
    up2=$!
    wait_for 10 advisory_waiting
}
stage_in_time() { timeout 10 psql -X -q -v ON_ERROR_STOP=1 -c "insert into pharmaceutical_data_staging
    (sodangky, lastmodificationtime, tenthuoc) values ('$1', '$2', '$3')"; }
q "insert into pharmaceutical_data (sodangky, lastmodificationtime, tenthuoc)
    values ('CC1', '2025-01-01T00:00:00Z', 'cc1-old')" # a row to hold a lock on
stage CC1 2025-08-01T00:00:00Z cc1-aug
stage CC2 2025-08-01T00:00:00Z cc2-aug
lock_hold CC1
GUST_XCOM_FILE=$tmp/x1.json "$UPSERT" >"$tmp/out1" 2>&1 &
up1=$!
wait_for 10 upsert_waiting
check "the first upsert holds (waits on the row lock)" upsert_waiting
stage_in_time CC3 2025-08-01T00:00:00Z cc3-staged-meanwhile
check_eq "a loader is not blocked by a running upsert" 0 $?
start_second
check "the second upsert waits for the first" advisory_waiting
lock_release
wait "$up1"
check_eq "the first of two concurrent upserts exits 0" 0 $?
wait "$up2"
check_eq "the second exits 0" 0 $?
check_eq "the first moved what its snapshot saw, the second the row staged meanwhile" \
    '"staging_rows": 2}|"staging_rows": 1}' \
    "$(grep -o '"staging_rows": [0-9]*}' "$tmp/x1.json")|$(grep -o '"staging_rows": [0-9]*}' "$tmp/x2.json")"
check_eq "both moved, staging empty" "cc1-aug|cc2-aug|cc3-staged-meanwhile|0" \
    "$(name_of CC1)|$(name_of CC2)|$(name_of CC3)|$(staged)"
rm -f "$tmp/x1.json" "$tmp/x2.json"
# the same, the first killed (-9) while it waits: its transaction never commits
stage CC1 2025-09-01T00:00:00Z cc1-sep
stage CC2 2025-09-01T00:00:00Z cc2-sep
lock_hold CC1
GUST_XCOM_FILE=$tmp/x1.json "$UPSERT" >"$tmp/out1" 2>&1 &
up1=$!
wait_for 10 upsert_waiting
start_second
kill -9 "$up1"
wait "$up1"
check_eq "the first upsert was killed" 137 $?
lock_release
wait "$up2"
check_eq "the upsert beside a killed one exits 0" 0 $?
check_eq "it moved every row the killed one had taken" '"staging_rows": 2}' \
    "$(grep -o '"staging_rows": [0-9]*}' "$tmp/x2.json")"
check_eq "the killed upsert left no XCom" no "$(test -e "$tmp/x1.json" && echo yes || echo no)"
check_eq "the rows are moved once, staging empty" "cc1-sep|cc2-sep|0" \
    "$(name_of CC1)|$(name_of CC2)|$(staged)"
rm -f "$tmp/x2.json"

# --- a staging row changed by another session while the upsert moves it: its DELETE waits on
# the row, then deletes the changed version. The wide columns are read from the statement's
# snapshot, which holds the old one: exit 1 and nothing moved (never the old values stored
# with the changed row deleted); the next run moves the changed version.
stage CH1 2025-10-01T00:00:00Z ch-staged
stage CH2 2025-10-01T00:00:00Z ch2-staged
pg_hold "update pharmaceutical_data_staging set tenthuoc = 'ch-changed' where sodangky = 'CH1'"
upsert &
up=$!
wait_for 10 upsert_waiting
check "the upsert waits on the row being changed" upsert_waiting
pg_release
wait "$up"
check_eq "a row changed while it was moved exits 1" 1 $?
check_contains "the log names the row and says to run again" "was changed by another session while it was moved; nothing moved, run again" "$(cat "$tmp/out")"
check_eq "nothing moved" "||2" "$(name_of CH1)|$(name_of CH2)|$(q "select count(*) from pharmaceutical_data_staging where sodangky like 'CH%'")"
upsert
rc=$?
check_eq "the next run moves the changed version" "0|ch-changed|ch2-staged|0" "$rc|$(name_of CH1)|$(name_of CH2)|$(staged)"
xcom >/dev/null

# --- a writer racing repeated batched upserts: every row ends up moved, none lost
n=1500
(
    for i in $(seq 1 "$n"); do
        echo "insert into pharmaceutical_data_staging (sodangky, lastmodificationtime, tenthuoc)
            values ('W-$((i % 500))', clock_timestamp(), 'w-$i');"
    done
) | psql -X -q -v ON_ERROR_STOP=1 >/dev/null 2>&1 &
writer=$!
runs=0
bad=0
while kill -0 "$writer" 2>/dev/null && [ "$runs" -lt 500 ]; do
    upsert --batch-limit 50 || bad=$((bad + 1))
    runs=$((runs + 1))
done
wait "$writer"
check_eq "the writer inserted every row" 0 $?
check_eq "no upsert racing the writer failed ($runs runs)" 0 "$bad"
upsert
check_eq "every key the writer wrote is in the main table" 500 \
    "$(q "select count(*) from pharmaceutical_data where sodangky like 'W-%'")"
check_eq "each holds its last written version" 0 "$(q "select count(*) from pharmaceutical_data
    where sodangky like 'W-%' and substr(tenthuoc, 3)::int + 500 <= $n")"
check_eq "staging is empty after the race" 0 "$(staged)"
xcom >/dev/null

# --- an SQL error: exit 1, nothing moved
q "alter table pharmaceutical_data add constraint no_bad check (tenthuoc <> 'BAD')"
stage K1 2025-01-01T00:00:00Z k-1
stage K2 2025-01-01T00:00:00Z BAD
main_before=$(q "select md5(string_agg(d::text, ',' order by sodangky)) from pharmaceutical_data d")
upsert
check_eq "a constraint violation exits 1" 1 $?
check_contains "the error is logged with the constraint and its SQLSTATE" "no_bad\" (SQLSTATE 23514)" "$(cat "$tmp/out")"
check_eq "nothing left staging" 2 "$(staged)"
check_eq "nothing changed in the main table" "$main_before" \
    "$(q "select md5(string_agg(d::text, ',' order by sodangky)) from pharmaceutical_data d")"
check "no XCom on failure" test ! -e "$GUST_XCOM_FILE"
q "alter table pharmaceutical_data drop constraint no_bad"
q "alter table pharmaceutical_data rename column tuoitho to tuoitho_renamed"
upsert
check_eq "a missing column exits 1" 1 $?
check_contains "the log names the column" '"tuoitho"' "$(cat "$tmp/out")"
check_eq "still nothing moved" 2 "$(staged)"
q "alter table pharmaceutical_data rename column tuoitho_renamed to tuoitho"

# --- the connection dies mid-upsert: exit 111, nothing moved
q "insert into pharmaceutical_data (sodangky, tenthuoc) values ('K1', 'k-0')"
lock_hold K1
upsert &
up=$!
wait_for 10 upsert_waiting
q "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query like 'WITH moved%'" >/dev/null
wait "$up"
check_eq "a connection killed mid-upsert exits 111" 111 $?
lock_release
check_eq "the killed upsert moved nothing" "2|k-0" "$(staged)|$(name_of K1)"
upsert
check_eq "a retry moves them" "0|k-1" "$(staged)|$(name_of K1)"
xcom >/dev/null

# --- --jobs N: the keys split into N parts by a hash of sodangky, moved at once by N sessions,
# each part committing on its own; one more session holds the turn until every part ended.
part_of() { q "select (hashtext('$1') & 2147483647) % $2"; }
key_in_part() { # key_in_part PREFIX PART N: the first PREFIX-<i> in that part of N
    local i=1
    while [ "$(part_of "$1-$i" "$3")" != "$2" ]; do i=$((i + 1)); done
    echo "$1-$i"
}
newest_staged() { q "select string_agg(tenthuoc, ',' order by sodangky) from (select distinct on
    (sodangky) sodangky, tenthuoc from pharmaceutical_data_staging where sodangky like '$1%'
    order by sodangky, lastmodificationtime desc, staging_id desc) x"; }
stored() { q "select string_agg(tenthuoc, ',' order by sodangky) from pharmaceutical_data where sodangky like '$1%'"; }
for i in $(seq 1 60); do
    stage "J-$((i % 17))" "2025-05-$(printf %02d $(((i * 7) % 28 + 1)))T00:00:00Z" "j-$((i % 17))-$i"
done
expected=$(newest_staged J-)
check_eq "the 17 keys fall into all 3 parts" 3 "$(q "select count(distinct (hashtext(sodangky) & 2147483647) % 3)
    from pharmaceutical_data_staging where sodangky like 'J-%'")"
upsert --jobs 3
check_eq "--jobs 3 exits 0" 0 $?
check_eq "--jobs 3: the newest version of each key wins" "$expected" "$(stored J-)"
check_eq "--jobs 3: XCom sums the parts" \
    '{"inserted": 17, "updated": 0, "unchanged": 0, "staging_rows": 60}' "$(xcom)"
check_contains "--jobs 3: the log says it moved in parts" "in parts: inserted=17" "$(cat "$tmp/out")"
for i in $(seq 1 60); do
    stage "J-$((i % 17))" "2025-06-$(printf %02d $(((i * 5) % 28 + 1)))T00:00:00Z" "j2-$((i % 17))-$i"
done
expected=$(newest_staged J-)
PHARMA_UPSERT_JOBS=2 upsert --batch-limit 7
check_eq "--jobs 2 (from the environment) with --batch-limit 7 exits 0" 0 $?
check_eq "batched parts: the newest version of each key wins" "$expected" "$(stored J-)"
check_eq "batched parts: every row moved once" '"staging_rows": 60}|0' \
    "$(xcom | grep -o '"staging_rows": [0-9]*}')|$(staged)"
check_eq "--jobs 0 is a usage error (exit 100)" 100 "$(upsert --jobs 0; echo $?)"
check_eq "--jobs 33 is a usage error (exit 100)" 100 "$(upsert --jobs 33; echo $?)"
check_eq "PHARMA_UPSERT_JOBS=two is a usage error (exit 100)" 100 \
    "$(PHARMA_UPSERT_JOBS=two "$UPSERT" >/dev/null 2>&1; echo $?)"

# the parts run at once and commit on their own: part 0 held on a row lock, part 1 is done
# meanwhile; a second upsert waits for the turn until part 0 has ended too
k0=$(key_in_part JP 0 2)
k1=$(key_in_part JP 1 2)
q "insert into pharmaceutical_data (sodangky, lastmodificationtime, tenthuoc)
    values ('$k0', '2025-01-01T00:00:00Z', 'jp0-old')"
stage "$k0" 2025-08-01T00:00:00Z jp0-aug
stage "$k1" 2025-08-01T00:00:00Z jp1-aug
lock_hold "$k0"
GUST_XCOM_FILE=$tmp/x1.json "$UPSERT" --jobs 2 >"$tmp/out1" 2>&1 &
up1=$!
wait_for 10 upsert_waiting
part1_done() { test "$(name_of "$k1")" = jp1-aug; }
wait_for 10 part1_done
check "part 1 committed while part 0 waits on the row lock" part1_done
check_eq "part 0 has moved nothing yet" "jp0-old|1" \
    "$(name_of "$k0")|$(q "select count(*) from pharmaceutical_data_staging where sodangky = '$k0'")"
start_second
check "a second upsert waits for the turn the parts' upsert holds" advisory_waiting
lock_release
wait "$up1"
check_eq "the upsert in parts exits 0" 0 $?
wait "$up2"
check_eq "the upsert that waited exits 0" 0 $?
check_eq "the parts moved both rows, the second upsert none" '"staging_rows": 2}|"staging_rows": 0}' \
    "$(grep -o '"staging_rows": [0-9]*}' "$tmp/x1.json")|$(grep -o '"staging_rows": [0-9]*}' "$tmp/x2.json")"
check_eq "both keys stored, staging empty" "jp0-aug|jp1-aug|0" "$(name_of "$k0")|$(name_of "$k1")|$(staged)"
rm -f "$tmp/x1.json" "$tmp/x2.json"

# killed (-9) while part 0 waits: part 1's commit stays, part 0's rows stay in staging
stage "$k0" 2025-09-01T00:00:00Z jp0-sep
stage "$k1" 2025-09-01T00:00:00Z jp1-sep
lock_hold "$k0"
"$UPSERT" --jobs 2 >"$tmp/out" 2>&1 &
up1=$!
wait_for 10 upsert_waiting
part1_sep() { test "$(name_of "$k1")" = jp1-sep; }
wait_for 10 part1_sep
kill -9 "$up1"
wait "$up1"
check_eq "the upsert in parts was killed" 137 $?
lock_release
check_eq "part 1's commit stayed, part 0's row is still staged" "jp0-aug|jp1-sep|1" \
    "$(name_of "$k0")|$(name_of "$k1")|$(staged)"
upsert --jobs 2
check_eq "the next run moves the rest" "0|jp0-sep|0" "$?|$(name_of "$k0")|$(staged)"
xcom >/dev/null

# one part fails: exit 1, the error names the part; the other part's rows are moved
q "alter table pharmaceutical_data add constraint no_bad_part check (tenthuoc <> 'BAD-PART')"
stage "$k0" 2025-10-01T00:00:00Z BAD-PART
stage "$k1" 2025-10-01T00:00:00Z jp1-oct
upsert --jobs 2
check_eq "a failed part exits 1" 1 $?
check_contains "the error names the part and what the others moved" \
    "part 1 of 2 (the parts that succeeded moved 1 staging row(s)): upsert:" "$(cat "$tmp/out")"
check_eq "the failed part moved nothing, the other its row" "jp0-sep|jp1-oct|1" \
    "$(name_of "$k0")|$(name_of "$k1")|$(staged)"
check "no XCom when a part failed" test ! -e "$GUST_XCOM_FILE"
q "alter table pharmaceutical_data drop constraint no_bad_part"
q "delete from pharmaceutical_data_staging"

# --- the database is down or unreachable
GUST_DATABASE_URL='postgresql://gust:s3cret@127.0.0.1:1/nope' upsert
check_eq "connection refused exits 111" 111 $?
out=$(cat "$tmp/out")
check_contains "the error names host and port" "host=127.0.0.1 port=1 dbname=nope" "$out"
case $out in
*s3cret*) echo "not ok - the password is not printed"; echo "#   $out" ;;
*) echo "ok - the password is not printed" ;;
esac
upsert --database-url "host=127.0.0.1 port=1 password=s3cret dbname=nope"
check_eq "--database-url wins over the environment, refused: 111" 111 $?
check_contains "the password is masked in key=value form too" "dbname=nope" "$(cat "$tmp/out")"
check_fails "(not printed either)" grep -q s3cret "$tmp/out"

# --- through gust: pharmaceutical_upsert_dag runs the executable as a KPO task
mkdir -p "$tmp/dags"
cp "$GUST_SRC/dags/upsert_dag.yaml" "$tmp/dags/"
stage Z1 2025-01-01T00:00:00Z z-1
env -u GUST_XCOM_FILE GUST_DAGS_FOLDER="$tmp/dags" GUST_LOGS_FOLDER="$tmp/logs" \
    "$GUST" dags trigger pharmaceutical_upsert_dag --local -r up1 >"$tmp/dag.out" 2>&1
check_eq "the DAG run succeeds" 0 $?
check_eq "its XCom holds the counts" '{"updated": 0, "inserted": 1, "unchanged": 0, "staging_rows": 1}' \
    "$(q "select value::text from xcom where run_id = 'up1' and task_id = 'upsert_pharmaceutical_data'
        and key = 'return_value'")"
check_eq "the DAG's task moved the row" "z-1|0" "$(name_of Z1)|$(staged)"

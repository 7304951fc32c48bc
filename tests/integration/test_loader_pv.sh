#!/usr/bin/env bash
# stream_loader's product_view pipeline and the dimension warm-up (product_view_dims) against a
# real PostgreSQL migrated by `gust db migrate` and the Kafka-protocol mock cluster, with events
# written here to cover the rules one by one; every expected value comes from
# tests/integration/pv_oracle.py (hashlib, python3-ua-parser, python3-geoip, urllib.parse), not
# from our C code:
# - good events: one fact each, keys = SHA-256 hex, full_date/full_time in UTC, referrer host,
#   option as jsonb, the boolean false kept as text; IPv4 and IPv6 countries; Android is Android;
# - duplicates by sales_key absorbed; the same id with another product is another fact;
# - bad events (not JSON, no id, time_stamp a string, option an object, a local_time that is no
#   date) are dead letters with offset and reason;
# - a product first seen as a placeholder is filled in by a later event's page URL, and the
#   catalogue names it without overwriting the event's URL or a known value with NULL;
# - dim_date: the warm-up range, extended when an event falls outside; a rerun adds nothing;
# - a bad catalogue line fails naming the line and changes nothing; missing enrichment data is
#   an error naming the file.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 43
LOADER=$(gust_bin stream_loader)
DIMS=$(gust_bin product_view_dims)
ORACLE=$GUST_SRC/tests/integration/pv_oracle.py
gust_tmpdir tmp
unset ${!STREAM_LOADER_*} ${!PRODUCT_VIEW_*}
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_loader_pv -T template0 --locale=C.UTF-8

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
xcom() { cat "$GUST_XCOM_FILE" 2>/dev/null; rm -f "$GUST_XCOM_FILE"; }
load() { "$LOADER" --pipeline product_view --available-now "$@" >"$tmp/out" 2>&1; }
# produce FILE: each line is one message (kcat reads stdin line by line), all to partition 0; appended to $tmp/sent
produce() {
    kcat -P -b "$KAFKA_BOOTSTRAP_SERVERS" -t product_view -p 0 <"$1" 2>"$tmp/kcat.err" &&
        cat "$1" >>"$tmp/sent"
}
oracle() { /usr/bin/python3 "$ORACLE" "$@"; }

kafka_start -t product_view:1
check "the Kafka mock runs" test -n "${KAFKA_BOOTSTRAP_SERVERS:-}"

ANDROID='Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.106 Mobile Safari/537.36'
IPHONE='Mozilla/5.0 (iPhone; CPU iPhone OS 13_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Mobile/15E148 Safari/604.1'
WINDOWS='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.116 Safari/537.36'
# first batch: p2 only as a placeholder (a recommendation event: its URL is another page)
/usr/bin/python3 - "$tmp/b1" "$ANDROID" "$IPHONE" "$WINDOWS" <<'PY'
import json, sys
out, android, iphone, windows = sys.argv[1:5]
T = 1780272000  # 2026-06-01T00:00:00Z
def ev(i, **kw):
    e = {"_id": "5ed8cb2bc671fc36b74653%02x" % i, "time_stamp": T + 3600 * i + 7, "ip": "8.8.8.8",
         "user_agent": android, "resolution": "1080x2220", "user_id_db": "", "device_id":
         "e5c4d0ea-2a3c-4f11-9ab1-%012d" % i, "api_version": "1.0", "store_id": "12",
         "local_time": "2026-06-01 %02d:00:07" % (i + 7), "show_recommendation": "false",
         "current_url": "https://www.glamira.de/glamira-ring-zarina.html?alloy=white-585",
         "referrer_url": "https://www.google.com/search?q=ring", "email_address": None,
         "recommendation": False, "utm_source": False, "utm_medium": False,
         "collection": "view_product_detail", "product_id": "p1",
         "option": [{"option_label": "alloy", "option_id": "100", "value_label": "white-585", "value_id": "1"}],
         "id": "00000000-0000-4000-8000-%012d" % i}
    e.update(kw)
    return json.dumps(e, ensure_ascii=False)
lines = [
    ev(1),
    ev(2, product_id="p2", collection="product_detail_recommendation_visible",
       current_url="https://www.glamira.de/other-page.html", user_agent=iphone, ip="2001:4860:4860::8888",
       referrer_url="facebook.com/groups/rings", utm_source="google", utm_medium="cpc", option=[]),
    ev(1),                                             # a duplicate: absorbed
    ev(1, product_id="p9", current_url=None),          # same id, another product: another fact
    ev(3, product_id=None, ip=None, user_agent=None, referrer_url=None, time_stamp=None,
       local_time=None, option=None, recommendation="Ring Zarina"),
    "this is not JSON {",
    ev(4, id=None),
    ev(5, time_stamp="yesterday"),
    ev(6, option={"option_label": "alloy"}),
    ev(7, local_time="2026-02-30 10:00:00"),
    ev(8, ip="41.202.0.1", user_agent=windows, referrer_url="android-app://com.google.android.gm/",
       store_id=7, time_stamp=1924992000 + 0.75, current_url="https://www.glamira.com/fr/glamira-bague-x.html#top",
       product_id="p3"),
    ev(9, email_address="ánh.nguyễn@example.vn", resolution=None, user_id_db="u9"),
]
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
PY

check "warm-up: dim_date 2026 filled" "$DIMS" --from 2026-01-01 --to 2026-12-31
check_eq "warm-up: 365 days, counted in the XCom" "365 365" "$(q "select count(*) from dim_date") $(xcom | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["dates_added"])')"
check_eq "dim_date: Monday = 1, ISO week, quarter, weekend" "1|Mon|Weekday|23|2|2026-06|Sun|Weekend" \
    "$(q "select a.day_of_week, a.day_of_week_short, a.is_weekday_or_weekend, a.week_of_year, a.quarter_number, a.year_month, b.day_of_week_short, b.is_weekday_or_weekend from dim_date a, dim_date b where a.full_date = '2026-06-01' and b.full_date = '2026-06-07'")"

check "produce the first 12 messages" produce "$tmp/b1"
check "load: exit 0" load
x=$(xcom)
check_contains "XCom: 12 messages, 7 rows, 5 dead letters" '"messages": 12, "records_loaded": 7, "dead_letters": 5' "$x"
check_eq "facts: 7 rows sent, one duplicate absorbed" "6" "$(q "select count(*) from fact_sales")"
counts=$(oracle counts "$tmp/sent")
check_eq "the oracle counts the same" '6 5 1' "$(echo "$counts" | /usr/bin/python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["facts"], c["dead"], c["duplicates"])')"
check "every fact and dimension as the oracle says" oracle check "$tmp/sent"
cat "$tmp/out" | tail -3 >&2
check_eq "Android is Android, iOS is iOS" "Chrome Mobile 83|Android 10
Mobile Safari 13|iOS 13" "$(q "select browser, os from dim_user_agent where user_agent like '%Android%' or user_agent like '%iPhone%' order by os")"
check_eq "countries: IPv4 US and GH, IPv6 US" "2001:4860:4860::8888|US|United States
41.202.0.1|GH|Ghana
8.8.8.8|US|United States" "$(q "select ip_address, country_code, country_name from dim_location order by ip_address")"
check_eq "no city database: region and city NULL" "0" "$(q "select count(*) from dim_location where region_name is not null or city_name is not null")"
check_eq "referrer hosts: https, android-app:// and a URL without //" "com.google.android.gm
facebook.com
www.google.com" "$(q "select distinct referrer_url from fact_sales where referrer_url is not null order by 1")"
check_eq "false is data: recommendation and utm_* hold the text 'false'" "false|false|false" \
    "$(q "select distinct recommendation, utm_source, utm_medium from fact_sales where product_key = 'p1'")"
check_eq "option kept as jsonb" "alloy" "$(q "select distinct option->0->>'option_label' from fact_sales where product_key = 'p1'")"
check_eq "time_stamp in UTC, a fraction cut: 2031-01-01 00:00:00" "2031-01-01|00:00:00" "$(q "select full_date, full_time from fact_sales where product_key = 'p3'")"
check_eq "dim_date extended to the event's day" "1" "$(q "select count(*) from dim_date where full_date = '2031-01-01'")"
check_eq "an event without time, product, ip or agent: NULL keys, sales_key of the id alone" \
    "$(printf '00000000-0000-4000-8000-000000000003' | sha256sum | cut -c1-64)|||" \
    "$(q "select sales_key, full_date, ip_key, product_key from fact_sales where user_agent_key is null")"
check_eq "products: p1 from its page (query cut, de), p2 a placeholder, p3 fr from the path, p9 a placeholder" \
    "p1|https://www.glamira.de/glamira-ring-zarina.html|de
p2||
p3|https://www.glamira.com/fr/glamira-bague-x.html|fr
p9||" "$(q "select product_key, current_url, language_code from dim_product order by 1")"
check_eq "dead letters: offsets and reasons" "5|bad JSON
6|id missing
7|time_stamp: a number of epoch seconds expected, got a string
8|option: an array expected, got an object
9|local_time: '2026-02-30 10:00:00' is not a date of the calendar" \
    "$(q "select source_offset, regexp_replace(reason, '^bad JSON.*', 'bad JSON') from product_view_dead_letters order by source_offset")"
check_eq "dead letters keep the raw message and its place" "product_view|0|this is not JSON {" \
    "$(q "select source_topic, source_partition, convert_from(payload, 'UTF8') from product_view_dead_letters where source_offset = 5")"
check_eq "offsets stored with the rows" "12" "$(q "select next_offset from stream_offsets where consumer_group = 'product_view_star'")"

# ---- second batch: p2's own page arrives; p1 again with another URL -----------------------
/usr/bin/python3 - "$tmp/b2" <<'PY'
import json, sys
T = 1780272000
base = {"time_stamp": T + 50000, "ip": "8.8.8.8", "user_agent": "curl/7.88.1", "collection": "view_product_detail"}
lines = [dict(base, id="b2-1", product_id="p2", current_url="https://www.glamira.co.uk/glamira-ring-p2.html?x=1"),
         dict(base, id="b2-2", product_id="p1", current_url="https://www.glamira.fr/glamira-ring-zarina.html")]
open(sys.argv[1], "w").write("\n".join(json.dumps(l) for l in lines) + "\n")
PY
check "produce the second batch" produce "$tmp/b2"
check "load again" load
check_eq "the placeholder p2 is filled in (uk from the host)" "https://www.glamira.co.uk/glamira-ring-p2.html|uk" \
    "$(q "select current_url, language_code from dim_product where product_key = 'p2'")"
check_eq "a new loader process may write p1's newer URL: never NULL" "1" "$(q "select count(*) from dim_product where product_key = 'p1' and current_url is not null")"
check "still as the oracle says" oracle check "$tmp/sent"
check "a rerun with nothing new: exit 0" load
check_contains "a rerun loads nothing" '"messages": 0' "$(xcom)"
check_eq "a rerun adds no fact" "8" "$(q "select count(*) from fact_sales")"

# ---- the catalogue ----------------------------------------------------------------------
printf 'product_id,name,url,language_code\np2,"Ring ""P2"", white gold",https://cat.example/p2,en\np1,Ring Zarina,,\np7,"Earrings, gold",https://cat.example/p7,vi\np1,Ring Zarina II,,\n' >"$tmp/cat.csv"
check "warm-up with a catalogue" "$DIMS" --from 2026-06-01 --to 2026-06-02 --catalogue "$tmp/cat.csv"
x=$(xcom)
check_contains "catalogue: 4 lines, 1 product inserted, 2 updated, no day added" '{"dates_added": 0, "catalogue_rows": 4, "products_inserted": 1, "products_updated": 2}' "$x"
check_eq "names from the catalogue (the last line wins), event URLs kept, new product p7" \
    "p1|Ring Zarina II|t|fr
p2|Ring \"P2\", white gold|https://www.glamira.co.uk/glamira-ring-p2.html|uk
p7|Earrings, gold|https://cat.example/p7|vi" \
    "$(q "select product_key, name, case when product_key = 'p1' then (current_url is not null)::text::char else current_url end, language_code from dim_product where name is not null order by 1")"
printf 'product_id,name,url,language_code\np8,ok,,\np9,"unterminated\n' >"$tmp/bad.csv"
"$DIMS" --catalogue "$tmp/bad.csv" >"$tmp/out" 2>&1
check_eq "a bad catalogue: exit 1" "1" "$?"
check_contains "the error names the catalogue and the line (the quote opened on line 3 runs to the end)" 'bad.csv: unterminated CSV quoted field at COPY product_catalogue, line 4' "$(cat "$tmp/out")"
check_eq "nothing changed" "0" "$(q "select count(*) from dim_product where product_key = 'p8'")"
printf 'id,name,url,language_code\n' >"$tmp/hdr.csv"
"$DIMS" --catalogue "$tmp/hdr.csv" >"$tmp/out" 2>&1
check_contains "a catalogue with the wrong header is refused, naming the column" 'product_id' "$(cat "$tmp/out")"
"$DIMS" --from 2026-02-30 >"$tmp/out" 2>&1
check_eq "a date that is no day: usage error 100" "100" "$?"

# ---- the enrichment data -------------------------------------------------------------------
load --ua-regexes "$tmp/missing.yaml"
check_eq "missing regexes.yaml: exit 1" "1" "$?"
check_contains "... naming the file" "$tmp/missing.yaml" "$(cat "$tmp/out")"
load --geoip-city "$tmp/missing.mmdb"
check_contains "a missing city database is an error naming it" "$tmp/missing.mmdb" "$(cat "$tmp/out")"

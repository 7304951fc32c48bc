#!/usr/bin/env bash
# product_view_report against a real PostgreSQL migrated by `gust db migrate` (the star schema
# of 0008) and the real gnuplot: 300 facts over two days with their dimensions, made by
# product_view_report_oracle.py, which also works out every report's answer in Python from the
# rows it generated (never through our SQL). Checks: each of the six CSVs equals that answer
# (parsed as RFC 4180 by Python's csv module), the other day is not counted, the charts are PNG
# files, index.html and README.md link them and escape what they show, the XCom result and the
# printed summary; an empty day writes every file with "no data" charts; a bad --date is a
# usage error (100), an unreachable database 111, a missing schema or gnuplot 1; and the DAG
# dags/product_view_reports.yaml runs it end to end with `gust dags trigger --local`.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 53
REPORT=$(gust_bin product_view_report)
ORACLE=$GUST_SRC/tests/integration/product_view_report_oracle.py
DAY=2026-11-30
OTHER=2026-12-01
EMPTY=2026-11-20
NAMES="1_top_products 2_top_countries 3_top_referrers 4_stores_by_country 5_hourly_products
6_hourly_browser_os"
gust_tmpdir tmp
unset PRODUCT_VIEW_REPORTS_DIR PRODUCT_VIEW_GNUPLOT GUST_CONN_ID
export GUST_XCOM_FILE=$tmp/xcom.json
pg_gust_db gust_pv_report

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
report() { "$REPORT" "$@" >"$tmp/out" 2>"$tmp/err"; }
# pngs DIR: how many of the six charts in DIR are PNG files (signature, IHDR) 1000 px wide
pngs() {
    /usr/bin/python3 - "$1" $NAMES <<'EOF'
import struct, sys
ok = 0
for name in sys.argv[2:]:
    with open("%s/%s.png" % (sys.argv[1], name), "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and \
            struct.unpack(">I", head[16:20])[0] == 1000:
        ok += 1
print(ok)
EOF
}
# records CSV: the rows of a CSV file after its header (RFC 4180, as Python's csv reads it)
records() {
    /usr/bin/python3 -c 'import csv, sys; print(len(list(csv.reader(open(sys.argv[1], newline="")))) - 1)' "$1"
}
# xcom_ok DAY DIR: the XCom result names the day, the folder and the six reports with their
# files and row counts (the CSV's lines minus the header)
xcom_ok() {
    /usr/bin/python3 - "$GUST_XCOM_FILE" "$1" "$2" $NAMES <<'EOF'
import csv, json, sys
doc = json.load(open(sys.argv[1]))
day, d, names = sys.argv[2], sys.argv[3], sys.argv[4:]
assert doc["date"] == day and doc["dir"] == d, doc
assert [r["name"] for r in doc["reports"]] == names, doc["reports"]
for r in doc["reports"]:
    assert r["csv"] == "%s/%s.csv" % (d, r["name"]) and r["png"] == "%s/%s.png" % (d, r["name"])
    assert r["rows"] == len(list(csv.reader(open(r["csv"], newline="")))) - 1, r
print("ok")
EOF
}

# --- the data set: two days, dimensions with names that need quoting and escaping
/usr/bin/python3 "$ORACLE" sql "$DAY" "$OTHER" >"$tmp/data.sql"
check "the generated data set loads" psql -X -q -v ON_ERROR_STOP=1 -f "$tmp/data.sql"
check_eq "300 facts: 220 on the day, 80 on the other day" "$DAY|220 $OTHER|80" \
    "$(q "select full_date::text || '|' || count(*) from fact_sales group by full_date order by full_date" | tr '\n' ' ' | sed 's/ $//')"

# --- the day's reports
report --date "$DAY" --out "$tmp/reports"
check_eq "the reports of the day exit 0" 0 $?
D=$tmp/reports/$DAY
n=0
for name in $NAMES; do
    n=$((n + 1))
    check_eq "report $name equals the answer worked out independently" "" \
        "$(/usr/bin/python3 "$ORACLE" check "$DAY" "$OTHER" "$n" "$D/$name.csv" 2>&1)"
done
check_eq "the day's top products are 10, the hourly ones 24 x 5 rows" "10 120" \
    "$(records "$D/1_top_products.csv") $(records "$D/5_hourly_products.csv")"
check_eq "a product viewed only on the other day is in no report" "" \
    "$(grep -l 'P12' "$D"/*.csv)"
check_eq "the hourly browser report counts the day's 220 views, not the other day's" 220 \
    "$(awk -F, '$1 == "browser" { s += $4 } END { print s }' "$D/6_hourly_browser_os.csv")"
check_contains "CSV quotes a name with a comma and quotes (RFC 4180)" \
    "P01,\"Ring, \"\"Gold\"\" <b>&</b>\",https://shop.example/vn/p01,75"$'\r' "$(cat "$D/1_top_products.csv")"
check_contains "CSV keeps a line break inside a quoted field" "\"Necklace"$'\n'"line two\"" \
    "$(cat "$D/1_top_products.csv")"
check_eq "the six charts are PNG files 1000 px wide" 6 "$(pngs "$D")"
check_eq "each chart has its gnuplot script and data beside it" "6 7" \
    "$(ls "$D"/*.gp | wc -l) $(ls "$D"/*.dat | wc -l)"
check_eq "the chart data has no tab or quote from the names" "#1 Bracelet with tabs (P04)|Ring, 'Gold' <b>&</b> (P01)" \
    "$(cut -f2 "$D/1_top_products.dat" | grep -E 'P04|P01' | sort | tr '\n' '|' | sed 's/|$//')"
check_eq "no temporary file is left" "" "$(ls "$D" | grep '\.tmp$')"
links=0
for name in $NAMES; do
    grep -qF "<a href=\"$name.csv\">" "$D/index.html" && links=$((links + 1))
    grep -qF "<img src=\"$name.png\"" "$D/index.html" && links=$((links + 1))
done
check_eq "index.html links each report's CSV and chart" 12 "$links"
check_contains "index.html escapes the names it shows" \
    "<td>Ring, &quot;Gold&quot; &lt;b&gt;&amp;&lt;/b&gt;</td>" "$(cat "$D/index.html")"
check_eq "no name reaches index.html unescaped" 0 "$(grep -c '<b>&</b>' "$D/index.html")"
check_eq "README.md links each report's CSV and chart" 12 \
    "$(grep -cE '^(\[[0-9]_[a-z_]+\.csv\]\([0-9]_[a-z_]+\.csv\)|!\[.*\]\([0-9]_[a-z_]+\.png\))' "$D/README.md")"
check_contains "README.md escapes a table cell" '| Ring, "Gold" \<b\>\&\</b\> |' "$(cat "$D/README.md")"
check_eq "the XCom result lists the six reports with their files and rows" ok "$(xcom_ok "$DAY" "$D" 2>&1)"
check_contains "stdout shows where the files are" "product_view reports for $DAY in $D/" "$(cat "$tmp/out")"
check_contains "stdout shows the top rows of a report" "   P01 | Ring, \"Gold\" <b>&</b> | https://shop.example/vn/p01 | " \
    "$(cat "$tmp/out")"
check_contains "stdout shows the busiest hours of the hourly reports" "- busiest:" "$(cat "$tmp/out")"

# --- a rerun replaces the day's files with what the data says now
q "insert into fact_sales (sales_key, full_date, full_time, product_key)
   select 'late' || g, '$DAY', '23:59:00', 'P11' from generate_series(1, 100) g"
p11=$(q "select count(*) from fact_sales where full_date = '$DAY' and product_key = 'P11'")
report --date "$DAY" --out "$tmp/reports"
check_eq "a rerun after 100 late views of P11 puts it on top ($p11 views)" \
    "0 P11,Cufflinks,https://shop.example/p11,$p11" "$? $(sed -n 2p "$D/1_top_products.csv" | tr -d '\r')"
q "delete from fact_sales where sales_key like 'late%'"

# --- an empty day
report --date "$EMPTY" --out "$tmp/reports"
check_eq "an empty day exits 0" 0 $?
E=$tmp/reports/$EMPTY
headers=0
for name in $NAMES; do [ "$(records "$E/$name.csv")" = 0 ] && headers=$((headers + 1)); done
check_eq "an empty day writes six CSVs with their header only" 6 "$headers"
check_eq "an empty day still draws six charts" 6 "$(pngs "$E")"
check_contains "an empty day's charts say so" "no data for $EMPTY" "$(cat "$E/5_hourly_products.gp")"
check_eq "an empty day's XCom result" ok "$(xcom_ok "$EMPTY" "$E" 2>&1)"
check "an empty day has its index.html and README.md" test -s "$E/index.html" -a -s "$E/README.md"

(cd "$tmp" && "$REPORT" --date "$EMPTY" --out rel >/dev/null 2>&1)
check_eq "a relative --out: the XCom result names the folder's absolute path" ok \
    "$(xcom_ok "$EMPTY" "$(cd "$tmp" && pwd -P)/rel/$EMPTY" 2>&1)"

# --- errors
report --date 2026-02-30 --out "$tmp/reports"
check_eq "a day that is not in the calendar is a usage error (100)" 100 $?
report --date 30/11/2026 --out "$tmp/reports"
check_eq "a date not written YYYY-MM-DD is a usage error (100)" 100 $?
report --date "$DAY; touch $tmp/pwned" --out "$tmp/reports"
check_eq "a date with shell text is refused (100) and runs nothing" "100 no" "$? $(test -e "$tmp/pwned" && echo yes || echo no)"
report --bogus
check_eq "an unknown flag is a usage error (100)" 100 $?
check_contains "--help names the exit codes" "111 when the database" "$("$REPORT" --help 2>&1)"
report --date "$DAY" --out "$tmp/down" --database-url "host=127.0.0.1 port=1 dbname=x connect_timeout=5"
check_eq "an unreachable database exits 111 and writes nothing" "111 no" \
    "$? $(test -e "$tmp/down" && echo yes || echo no)"
pg_createdb gust_pv_report_empty >/dev/null
PGDATABASE=gust_pv_report_empty report --date "$DAY" --out "$tmp/reports"
check_eq "a database without the star schema exits 1" 1 $?
check_contains "its error names the report and the missing table" "report 1 (top_products)" "$(cat "$tmp/err")"
report --date "$DAY" --out "$tmp/reports" --gnuplot "$tmp/no-gnuplot"
check_eq "gnuplot missing exits 1" 1 $?
check_contains "and says what to install" "gnuplot-nox" "$(cat "$tmp/err")"

# --- the DAG: list-import-errors, then runs with gust dags trigger --local
check "the shipped DAG folder loads without import errors" "$GUST" dags list-import-errors -S "$GUST_SRC/dags"
mkdir -p "$tmp/dags"
cp "$GUST_SRC/dags/product_view_reports.yaml" "$tmp/dags/"
export GUST_DAGS_FOLDER=$tmp/dags GUST_LOGS_FOLDER=$tmp/logs
dag_run() { # RUN_ID ARGS...: run the DAG locally, print the run's state
    local id=$1
    shift
    env -u GUST_XCOM_FILE PRODUCT_VIEW_REPORTS_DIR="$tmp/dag-reports" \
        "$GUST" dags trigger product_view_reports --local -r "$id" "$@" >"$tmp/dag.$id.out" 2>&1
    "$GUST" dags state product_view_reports "$id" | cut -d, -f1
}
dag_xcom() { q "select value->>'$2' from xcom where dag_id = 'product_view_reports'
    and run_id = '$1' and task_id = 'write_reports' and key = 'return_value'"; }
check_eq "the scheduled run of 2026-12-01 00:30 succeeds" success \
    "$(dag_run sched1 -l 2026-12-01T00:30:00+00:00)"
check_eq "it reports the day that ended, into PRODUCT_VIEW_REPORTS_DIR" "$DAY $tmp/dag-reports/$DAY" \
    "$(dag_xcom sched1 date) $(dag_xcom sched1 dir)"
check_eq "its top products equal the answer" "" \
    "$(/usr/bin/python3 "$ORACLE" check "$DAY" "$OTHER" 1 "$tmp/dag-reports/$DAY/1_top_products.csv" 2>&1)"
check_eq "a run with a date and a folder in its conf succeeds" success \
    "$(dag_run manual1 -c "{\"date\": \"$OTHER\", \"reports_dir\": \"$tmp/dag-conf\"}")"
check_eq "it writes that day into that folder" "$(printf '%s\n' $NAMES | sed 's/$/.png/' | tr '\n' ' ')" \
    "$(cd "$tmp/dag-conf/$OTHER" && ls *.png | tr '\n' ' ')"
check_eq "a conf date with shell text fails the run once (exit 100, no retry) and runs nothing" \
    "failed 1 no" "$(dag_run bad1 -c "{\"date\": \"\$(touch $tmp/dag-pwned)\"}") $(q "select max(try_number)
    from task_instance where dag_id = 'product_view_reports' and run_id = 'bad1'") $(test -e "$tmp/dag-pwned" && echo yes || echo no)"

#!/usr/bin/env bash
# product_view_gen (the product_view pipeline's event generator) against librdkafka's mock
# cluster: the default run sends --count events plus --duplicates to topic product_view, and
# what kcat reads back is, as a multiset, exactly the --out file; every key is the event's id;
# the summary on stdout and in the XCom agree with counts computed independently from --out
# by Python (broken events classified by their own rules, duplicates by repeated bytes); the
# time_stamps fall in the UTC day; the addresses span at least 40 countries by Python's GeoIP
# module; every user agent comes from uap-core's test file; the catalogue CSV parses with
# Python's csv module and agrees with the event pages; the same seed gives the same bytes,
# another seed others; --start/--days; bad flags and input files are 100, a broker that is
# not there 111.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/kafka.sh"
plan 21
GEN=$(gust_bin product_view_gen)
gust_tmpdir tmp
unset ${!PV_GEN_@} ${!KAFKA_@}
export GUST_XCOM_FILE=$tmp/xcom.json
kafka_start -t product_view:3 -t pv_again:2 -t pv_seed2:1 -t pv_days:1 || exit 1
BROKERS=$KAFKA_BOOTSTRAP_SERVERS

# gen NAME [flags...]: exit code in $rc, stdout in $tmp/NAME.out, log in $tmp/NAME.log
gen() {
    local name=$1
    shift
    "$GEN" "$@" >"$tmp/$name.out" 2>"$tmp/$name.log"
    rc=$?
}
consume() { kcat -C -b "$BROKERS" -t "$1" -e -q -f '%k\t%s\n' >"$tmp/$1.msgs" 2>"$tmp/kcat.log"; }
py() { /usr/bin/python3 "$tmp/check.py" "$@"; }

cat >"$tmp/check.py" <<'PY'
import collections, csv, json, re, sys, yaml

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

def lines(path):
    with open(path, "rb") as f:
        return [l[:-1] for l in f]

def parse(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None

def why_broken(raw):
    """The loader's reasons to refuse a message, judged here independently of the C code."""
    ev = parse(raw)
    if not isinstance(ev, dict):
        return "not json"
    if not isinstance(ev.get("id"), str):
        return "no id"
    if not isinstance(ev.get("time_stamp"), int) or isinstance(ev.get("time_stamp"), bool):
        return "time_stamp"
    if "option" in ev and ev["option"] is not None and not isinstance(ev["option"], list):
        return "option"
    return None

def counts(out):
    msgs, seen, dups, broken = lines(out), set(), 0, collections.Counter()
    for m in msgs:
        if m in seen:
            dups += 1
            continue
        seen.add(m)
        r = why_broken(m)
        if r:
            broken[r] += 1
    return {"sent": len(msgs), "duplicates": dups, "broken": sum(broken.values()),
            "kinds": len(broken)}

def summary_ok(out, summary):
    s = json.loads(open(summary).read().splitlines()[-1])
    c = counts(out)
    ok = (s["sent"] == c["sent"] == s["delivered"] and s["broken"] == c["broken"]
          and s["duplicates"] == c["duplicates"] and c["kinds"] == 4)
    print(s, c)
    return ok

def topic_is_out(msgs, out):
    topic = collections.Counter(l.split(b"\t", 1)[1] for l in lines(msgs))
    return topic == collections.Counter(lines(out))

def keys_ok(msgs, n):
    keys, bad = set(), 0
    for l in lines(msgs):
        k, v = l.decode("utf-8", "replace").split("\t", 1)
        ev = parse(v)
        bad += not UUID.match(k)
        if isinstance(ev, dict) and "id" in ev:
            bad += ev["id"] != k
        keys.add(k)
    print("keys", len(keys), "bad", bad)
    return bad == 0 and len(keys) == n

def events(out):
    return [e for e in (parse(m) for m in lines(out)) if isinstance(e, dict) and
            isinstance(e.get("time_stamp"), int)]

def times_ok(out, lo, hi):
    ts = [e["time_stamp"] for e in events(out)]
    print(min(ts), max(ts))
    return lo <= min(ts) and max(ts) < hi and max(ts) - min(ts) > (hi - lo) * 0.9

def countries(out):
    import GeoIP
    g4 = GeoIP.open("/usr/share/GeoIP/GeoIP.dat", GeoIP.GEOIP_MEMORY_CACHE)
    cc = {g4.country_code_by_addr(e["ip"]) for e in events(out)
          if isinstance(e.get("ip"), str) and ":" not in e["ip"]}
    v6 = sum(1 for e in events(out) if ":" in (e.get("ip") or ""))
    print(len(cc), "countries,", v6, "IPv6")
    return len(cc - {None}) >= 40 and v6 > 0

def uas_real(out):
    known = {c["user_agent_string"] for c in
             yaml.safe_load(open("/usr/share/uap-core/tests/test_ua.yaml"))["test_cases"]}
    uas = collections.Counter(e["user_agent"] for e in events(out)
                              if isinstance(e.get("user_agent"), str))
    print(len(uas), "agents, top", uas.most_common(1)[0][1])
    return set(uas) <= known and len(uas) >= 80 and uas.most_common(1)[0][1] >= 10

def catalogue_ok(path, out):
    rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
    head, body = rows[0], rows[1:]
    ids = [r[0] for r in body]
    pages = {}
    for e in events(out):
        u, p = e.get("current_url"), e.get("product_id")
        if isinstance(u, str) and isinstance(p, str):
            pages.setdefault((p, u.split("glamira-")[0]), set()).add(u.split("?")[0])
    agree = sum(1 for r in body if (r[0], r[2].split("glamira-")[0]) in pages
                and pages[(r[0], r[2].split("glamira-")[0])] == {r[2]})
    clash = sum(1 for v in pages.values() if len(v) != 1)
    quoted = sum(1 for r in body if '"' in r[1] and "," in r[1])
    print(len(body), "products,", agree, "agree with events,", quoted, "quoted,", clash, "clash")
    return (head == ["product_id", "name", "url", "language_code"] and 100 <= len(body) <= 200
            and len(set(ids)) == len(ids) and all(len(r) == 4 for r in body)
            and all(r[2].startswith("https://www.glamira.") and len(r[3]) == 2 for r in body)
            and agree > 10 and quoted > 0 and clash == 0)

sys.exit(0 if globals()[sys.argv[1]](*[a for a in sys.argv[2:] if not a.isdigit()] +
                                      [int(a) for a in sys.argv[2:] if a.isdigit()]) else 1)
PY
# (arguments that are digits are passed last, as integers)

# ---- the default run -----------------------------------------------------------------------
gen main --count 1000 --duplicates 25 --out "$tmp/main.jsonl" --catalogue "$tmp/cat.csv"
check_eq "a run of 1000 events and 25 duplicates succeeds" 0 "$rc"
consume product_view
check_eq "1025 messages in topic product_view" 1025 "$(wc -l <"$tmp/product_view.msgs")"
check "the topic holds exactly the --out lines (as a multiset)" py topic_is_out \
    "$tmp/product_view.msgs" "$tmp/main.jsonl"
check "every key is a UUID v4 and the event's id; 1000 distinct keys" /usr/bin/python3 \
    "$tmp/check.py" keys_ok "$tmp/product_view.msgs" 1000
check "summary: sent, broken (10, four kinds) and duplicates agree with --out" py summary_ok \
    "$tmp/main.jsonl" "$tmp/main.out"
check_eq "the XCom is the summary line" "$(tail -1 "$tmp/main.out")" "$(cat "$tmp/xcom.json")"
check_contains "broken defaults to 1 % of --count" '"broken":10,' "$(cat "$tmp/xcom.json")"
check "time_stamps within 2026-06-01 UTC, spread over the day" py times_ok "$tmp/main.jsonl" \
    1780272000 1780358400
check "addresses of at least 40 countries (Python GeoIP), some IPv6" py countries \
    "$tmp/main.jsonl"
check "user agents are real ones from uap-core's tests, some common" py uas_real \
    "$tmp/main.jsonl"
check "the catalogue CSV parses and agrees with the events' pages" py catalogue_ok \
    "$tmp/cat.csv" "$tmp/main.jsonl"

# ---- determinism -----------------------------------------------------------------------
gen again --count 1000 --duplicates 25 --topic pv_again --out "$tmp/again.jsonl" \
    --catalogue "$tmp/cat2.csv"
check_eq "the same seed again succeeds" 0 "$rc"
check "the same seed: the same messages byte for byte" cmp "$tmp/main.jsonl" "$tmp/again.jsonl"
check "the same seed: the same catalogue" cmp "$tmp/cat.csv" "$tmp/cat2.csv"
gen seed2 --count 200 --seed 2 --topic pv_seed2 --out "$tmp/seed2.jsonl"
check_fails "another seed: other messages" cmp <(head -200 "$tmp/main.jsonl") "$tmp/seed2.jsonl"

# ---- --start and --days ----------------------------------------------------------------
gen days --count 600 --start 2026-06-10 --days 3 --broken 0 --topic pv_days \
    --out "$tmp/days.jsonl"
consume pv_days
check_eq "--start 2026-06-10 --days 3: 600 messages" "0 600" \
    "$rc $(wc -l <"$tmp/pv_days.msgs")"
check "time_stamps within 2026-06-10 .. 2026-06-12 UTC" py times_ok "$tmp/days.jsonl" \
    1781049600 1781308800

# ---- errors ----------------------------------------------------------------------------
gen bad1 --count many
check_eq "a bad --count is a usage error (100)" 100 "$rc"
gen bad2 --count 10 --broken 11
check_eq "--broken above --count is a usage error (100)" 100 "$rc"
gen bad3 --count 10 --ua-file "$tmp/none.yaml"
check_eq "a missing user-agent file is 100, named in the log" "100 1" \
    "$rc $(grep -c "$tmp/none.yaml" "$tmp/bad3.log")"
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1 gen down --count 20 --flush-timeout 2s
check_eq "a broker that is not there: 111" 111 "$rc"

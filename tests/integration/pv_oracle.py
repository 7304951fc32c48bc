#!/usr/bin/python3
"""The product_view pipeline's expected star schema, computed independently of the C code.

Reads the messages that were sent (one per line, exactly the bytes sent: the generator's --out
file, or a test's own file) and the database (psql, the PG* environment), and checks that
fact_sales and the four dimensions hold what the rules say, with answers from independent
sources: hashlib for the SHA-256 keys, python3-ua-parser for the browser and OS, python3-geoip
for the countries, urllib.parse for the referrer host.

  pv_oracle.py check MESSAGES [--sample N]   compare; prints the problems, exit 1 when any
  pv_oracle.py counts MESSAGES               expected counts as JSON (facts, dead, ...)
  pv_oracle.py report MESSAGES DAY           the six reports' expected top rows as JSON
"""
import hashlib
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from urllib.parse import urlsplit

import GeoIP
from ua_parser import user_agent_parser

TEXT = ["collection", "email_address", "resolution", "user_id_db", "device_id", "api_version",
        "store_id", "show_recommendation", "recommendation", "utm_source", "utm_medium"]


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def text(v):
    """A text column's value: strings as sent, other JSON values as compact JSON."""
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def problems(ev):
    """Why an event is refused ([] when it is not)."""
    if not isinstance(ev, dict):
        return ["not a JSON object"]
    out = []
    i = ev.get("id")
    if not isinstance(i, str) or i == "":
        out.append("id")
    ts = ev.get("time_stamp")
    if ts is not None and (not is_number(ts) or not 0 <= ts < 253402300800):
        out.append("time_stamp")
    opt = ev.get("option")
    if opt is not None and not isinstance(opt, list):
        out.append("option")
    lt = text(ev.get("local_time"))
    if lt:
        try:
            if len(lt) != 19:
                raise ValueError
            datetime.strptime(lt, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            out.append("local_time")
    return out


def host(ref):
    if ref is None:
        return None
    h = urlsplit(("" if "//" in ref else "http://") + ref.strip()).hostname
    return h or None


def product_url(url):
    """(page, language) of a product page URL."""
    page = re.split(r"[?#]", url, maxsplit=1)[0]
    parts = urlsplit(url)
    seg = parts.path.split("/")[1] if parts.path.startswith("/") else ""
    if re.fullmatch(r"[A-Za-z]{2}([-_][A-Za-z]{2})?", seg):
        return page or None, seg.lower()
    tld = (parts.hostname or "").rsplit(".", 1)[-1]
    lang = tld.lower() if "." in (parts.hostname or "") and re.fullmatch(r"[A-Za-z]{2}", tld) else None
    return page or None, lang


def read(path):
    """(facts in load order, dead count, duplicates) from the messages file."""
    facts, dead, dups = {}, 0, 0
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            try:
                ev = json.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                dead += 1
                continue
            if problems(ev):
                dead += 1
                continue
            pid = text(ev.get("product_id"))
            key = sha(ev["id"] + (pid or ""))
            if key in facts:
                dups += 1
                continue
            facts[key] = ev
    return facts, dead, dups


def psql_json(sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c",
                          "select coalesce(json_agg(t), '[]') from (" + sql + ") t"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def label(r):
    return r["family"] + (" " + r["major"] if r.get("major") else "")


def expect_fact(ev):
    pid = text(ev.get("product_id"))
    ts = ev.get("time_stamp")
    when = datetime.fromtimestamp(int(ts // 1), timezone.utc) if ts is not None else None
    e = {"full_date": when.strftime("%Y-%m-%d") if when else None,
         "full_time": when.strftime("%H:%M:%S") if when else None,
         "ip_key": sha(text(ev["ip"])) if ev.get("ip") is not None else None,
         "user_agent_key": sha(text(ev["user_agent"])) if ev.get("user_agent") is not None else None,
         "product_key": pid, "referrer_url": host(text(ev.get("referrer_url"))),
         "option": ev.get("option"),
         "local_time": (text(ev.get("local_time")) or None)}
    for k in TEXT:
        e[k] = text(ev.get(k))
    if e["local_time"]:
        e["local_time"] = e["local_time"].replace(" ", "T")
    return e


def check_facts(facts, bad):
    rows = {r["sales_key"]: r for r in psql_json(
        "select sales_key, full_date::text, full_time::text, ip_key, user_agent_key, product_key,"
        " referrer_url, option, local_time, " + ", ".join(TEXT) + " from fact_sales")}
    if set(rows) != set(facts):
        bad.append("fact keys: %d expected, %d stored, %d missing, %d unexpected" % (
            len(facts), len(rows), len(set(facts) - set(rows)), len(set(rows) - set(facts))))
    for key, ev in facts.items():
        got = rows.get(key)
        if got is None:
            continue
        want = expect_fact(ev)
        for k, v in want.items():
            if got.get(k) != v:
                bad.append("fact %s (id %s): %s is %r, expected %r" % (key[:12], ev["id"], k, got.get(k), v))
                break


def check_user_agents(facts, bad, sample):
    uas = sorted({text(ev["user_agent"]) for ev in facts.values() if ev.get("user_agent") is not None})
    rows = {r["user_agent_key"]: r for r in psql_json("select * from dim_user_agent")}
    for ua in uas[:sample] if sample else uas:
        r = rows.get(sha(ua))
        if r is None:
            bad.append("dim_user_agent: no row for %r" % ua[:60])
            continue
        b = label(user_agent_parser.ParseUserAgent(ua))
        o = label(user_agent_parser.ParseOS(ua))
        if (r["user_agent"], r["browser"], r["os"]) != (ua, b, o):
            bad.append("dim_user_agent %r: %r / %r, ua-parser says %r / %r" % (ua[:60], r["browser"], r["os"], b, o))


def check_locations(facts, bad, sample):
    g4 = GeoIP.open("/usr/share/GeoIP/GeoIP.dat", GeoIP.GEOIP_STANDARD)
    g6 = GeoIP.open("/usr/share/GeoIP/GeoIPv6.dat", GeoIP.GEOIP_STANDARD)
    ips = sorted({text(ev["ip"]) for ev in facts.values() if ev.get("ip") is not None})
    rows = {r["ip_key"]: r for r in psql_json("select * from dim_location")}
    for ip in ips[:sample] if sample else ips:
        r = rows.get(sha(ip))
        if r is None:
            bad.append("dim_location: no row for %r" % ip)
            continue
        cc = g6.country_code_by_addr_v6(ip) if ":" in ip else g4.country_code_by_addr(ip)
        if (r["ip_address"], r["country_code"]) != (ip, cc):
            bad.append("dim_location %s: %r, geoip says %r" % (ip, r["country_code"], cc))


def check_products(facts, bad):
    want = {}
    for ev in facts.values():   # every product named, and the newest page URL per product
        pid = text(ev.get("product_id"))
        if pid is None:
            continue
        want.setdefault(pid, [None, None, -1])
        coll = text(ev.get("collection")) or ""
        url = text(ev.get("current_url"))
        if url and (coll.startswith("view_product_detail") or coll.startswith("select_product_option")):
            if want[pid][2] == -1:
                want[pid][:2] = product_url(url)
            want[pid][2] = 0
    rows = {r["product_key"]: r for r in psql_json("select * from dim_product")}
    for pid, (page, lang, seen) in want.items():
        r = rows.get(pid)
        if r is None:
            bad.append("dim_product: no row for %r" % pid)
        elif seen == 0 and r["current_url"] is None:
            bad.append("dim_product %s: no current_url though an event carried %r" % (pid, page))
        elif seen == -1 and r["current_url"] is not None and r["name"] is None:
            bad.append("dim_product %s: current_url %r from no event" % (pid, r["current_url"]))


def check(path, sample):
    facts, _, _ = read(path)
    bad = []
    check_facts(facts, bad)
    check_user_agents(facts, bad, sample)
    check_locations(facts, bad, sample)
    check_products(facts, bad)
    for b in bad[:20]:
        print(b)
    if len(bad) > 20:
        print("... and %d more" % (len(bad) - 20))
    return 1 if bad else 0


def counts(path):
    facts, dead, dups = read(path)
    print(json.dumps({"facts": len(facts), "dead": dead, "duplicates": dups,
                      "user_agents": len({text(e["user_agent"]) for e in facts.values() if e.get("user_agent") is not None}),
                      "ips": len({text(e["ip"]) for e in facts.values() if e.get("ip") is not None}),
                      "products": len({text(e["product_id"]) for e in facts.values() if e.get("product_id") is not None})}))
    return 0


def report(path, day):
    """The day's views per product, country, referrer host, hour: top rows, as the reports count."""
    facts, _, _ = read(path)
    g4 = GeoIP.open("/usr/share/GeoIP/GeoIP.dat", GeoIP.GEOIP_STANDARD)
    g6 = GeoIP.open("/usr/share/GeoIP/GeoIPv6.dat", GeoIP.GEOIP_STANDARD)
    prod, country, ref, hours = {}, {}, {}, {}
    for ev in facts.values():
        e = expect_fact(ev)
        if e["full_date"] != day:
            continue
        if e["product_key"] is not None:
            prod[e["product_key"]] = prod.get(e["product_key"], 0) + 1
        ip = text(ev.get("ip"))
        if ip is not None:
            cc = (g6.country_code_by_addr_v6(ip) if ":" in ip else g4.country_code_by_addr(ip)) or None
            if cc is not None:  # the report leaves the unknown country out
                country[cc] = country.get(cc, 0) + 1
        if e["referrer_url"] is not None:
            ref[e["referrer_url"]] = ref.get(e["referrer_url"], 0) + 1
        h = int(e["full_time"][:2])
        hours[h] = hours.get(h, 0) + 1
    top = lambda d, n: sorted(d.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
    print(json.dumps({"views": sum(hours.values()), "products": top(prod, 10),
                      "countries": top(country, 10), "referrers": top(ref, 5),
                      "hours": sorted(hours.items())}))
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check":
        n = int(sys.argv[sys.argv.index("--sample") + 1]) if "--sample" in sys.argv else 0
        sys.exit(check(sys.argv[2], n))
    if cmd == "counts":
        sys.exit(counts(sys.argv[2]))
    if cmd == "report":
        sys.exit(report(sys.argv[2], sys.argv[3]))
    sys.exit("usage: pv_oracle.py check|counts|report MESSAGES ...")

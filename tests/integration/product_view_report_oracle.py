#!/usr/bin/python3
"""The data set of test_product_view_report.sh and the answers to the six product_view reports,
worked out here in Python from the generated rows (not by the SQL under test).

  product_view_report_oracle.py sql DAY OTHER_DAY > data.sql
      dimension rows and 300 facts (DAY 220, OTHER_DAY 80) as INSERT statements
  product_view_report_oracle.py check DAY OTHER_DAY N CSV
      compare report N's CSV (parsed with Python's csv module, RFC 4180) with the answer;
      prints nothing when equal, else the differences

The rows come from a fixed seed, so both commands see the same data. Browser and OS labels are
built as the loader stores them ("<family> <major>"), and the answers use the family the data
was generated with, never a parse of the label.
"""
import csv
import random
import sys

PRODUCTS = [  # key, name, url
    ("P01", 'Ring, "Gold" <b>&</b>', "https://shop.example/vn/p01"),
    ("P02", "Nhẫn vàng 18K", "https://shop.example/vn/p02"),
    ("P03", None, "https://shop.example/de/p03"),
    ("P04", "#1 Bracelet\twith\ttabs", "https://shop.example/p04"),
    ("P05", "Necklace\nline two", None),
    ("P06", "Earrings", "https://shop.example/p06?x=1"),
    ("P07", "Watch", "https://shop.example/p07"),
    ("P08", "Pendant", "https://shop.example/p08"),
    ("P09", "Anklet", "https://shop.example/p09"),
    ("P10", "Brooch", "https://shop.example/p10"),
    ("P11", "Cufflinks", "https://shop.example/p11"),
    ("P12", "Only the other day", "https://shop.example/p12"),
    ("P13", "A very long product name that goes on and on beyond forty characters", None),
]
COUNTRIES = [("VN", "Viet Nam"), ("US", "United States"), ("DE", "Germany"), ("FR", "France"),
             ("JP", "Japan"), ("GB", "United Kingdom"), ("IT", "Italy"), ("ES", "Spain"),
             ("NL", "Netherlands"), ("PL", "Poland"), ("SE", "Sweden"), ("CZ", "Czechia"),
             ("KR", "Korea, Republic of")]
BROWSERS = [("Chrome", "83"), ("Chrome Mobile", "83"), ("Chrome Mobile", "84"),
            ("Firefox", "78"), ("Safari", "13"), ("Mobile Safari", "13"), ("Edge", "18"),
            ("Opera", "69"), ("Samsung Internet", "12"), ("Other", ""), (None, None)]
OSES = [("Android", "10"), ("Android", "9"), ("iOS", "13"), ("Windows", "10"),
        ("Windows", "XP"), ("Mac OS X", "10"), ("Linux", ""), ("Ubuntu", ""),
        ("Chrome OS", "13"), ("Other", "")]
REFERRERS = ["www.google.com", "www.facebook.com", "shop.example", "t.co", "bing.com",
             "duckduckgo.com", "news.example,with,commas", None, ""]
STORES = ["1", "2", "3", "4", "5", "6", "7", None]


def weighted(rng, items, skew=1.6):
    """An item, the first ones much more often than the last (a steady skew)."""
    weights = [1.0 / (i + 1) ** skew for i in range(len(items))]
    return rng.choices(items, weights)[0]


def generate(day, other):
    """(dimension rows, facts). A fact: dict with day, hour, product, ip, ua, referrer, store."""
    rng = random.Random(20261130)
    ips = []  # ip, country code, country name
    for i, (code, name) in enumerate(COUNTRIES):
        for k in range(2):
            ips.append(("10.0.%d.%d" % (i, k), code, name))
    ips.append(("192.0.2.1", None, None))  # a location whose country is unknown
    uas = []  # key, browser family, browser label, os family, os label
    for i in range(30):
        bf, bm = weighted(rng, BROWSERS, 1.0)
        of, om = weighted(rng, OSES, 1.0)
        blabel = None if bf is None else (bf + " " + bm if bm else bf)
        olabel = of + " " + om if om else of
        uas.append(("ua%02d" % i, bf or "Other", blabel, of, olabel))
    facts = []
    for n in range(300):
        d = day if n < 220 else other
        product = weighted(rng, PRODUCTS[:11] + PRODUCTS[12:], 1.1)[0] if d == day else \
            weighted(rng, PRODUCTS, 1.0)[0]
        if n % 37 == 0:
            product = None
        ip = weighted(rng, ips, 1.2) if n % 23 else None
        facts.append({
            "key": "s%04d" % n, "day": d, "hour": weighted(rng, list(range(8, 24)) + list(range(8)), 0.4),
            "minute": rng.randrange(60), "product": product, "ip": ip,
            "ua": weighted(rng, uas, 0.9) if n % 41 else None,
            "referrer": weighted(rng, REFERRERS, 0.8), "store": weighted(rng, STORES, 0.7)})
    return ips, uas, facts


def lit(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def print_sql(day, other):
    ips, uas, facts = generate(day, other)
    out = ["SELECT dim_date_fill('%s'::date - 1, '%s'::date + 1);" % (day, other)]
    for key, name, url in PRODUCTS:
        out.append("INSERT INTO dim_product (product_key, name, current_url) VALUES (%s, %s, %s);"
                   % (lit(key), lit(name), lit(url)))
    for ip, code, name in ips:
        out.append("INSERT INTO dim_location (ip_key, ip_address, country_code, country_name) "
                   "VALUES (%s, %s, %s, %s);" % (lit("k" + ip), lit(ip), lit(code), lit(name)))
    for key, _, blabel, _, olabel in uas:
        out.append("INSERT INTO dim_user_agent (user_agent_key, user_agent, browser, os) "
                   "VALUES (%s, %s, %s, %s);" % (lit(key), lit("Mozilla/5.0 " + key), lit(blabel),
                                                 lit(olabel)))
    for f in facts:
        out.append("INSERT INTO fact_sales (sales_key, full_date, full_time, ip_key, user_agent_key, "
                   "product_key, referrer_url, store_id, collection) VALUES (%s, %s, %s, %s, %s, %s, "
                   "%s, %s, 'view_product_detail');" % (
                       lit(f["key"]), lit(f["day"]), lit("%02d:%02d:07" % (f["hour"], f["minute"])),
                       lit("k" + f["ip"][0] if f["ip"] else None), lit(f["ua"][0] if f["ua"] else None),
                       lit(f["product"]), lit(f["referrer"]), lit(f["store"])))
    print("\n".join(out))


def count(items):
    c = {}
    for k in items:
        c[k] = c.get(k, 0) + 1
    return c


def top(counts, n):
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def answer(day, other, n):
    """Report n's rows (lists of strings; None for NULL) for day."""
    _, _, all_facts = generate(day, other)
    facts = [f for f in all_facts if f["day"] == day]
    names = {k: (name, url) for k, name, url in PRODUCTS}
    top_products = top(count(f["product"] for f in facts if f["product"]), 10)
    located = [f for f in facts if f["ip"] and f["ip"][1]]
    country_name = {f["ip"][1]: f["ip"][2] for f in located}
    top_countries = top(count(f["ip"][1] for f in located), 10)
    if n == 1:
        return [[k, names[k][0], names[k][1], str(v)] for k, v in top_products]
    if n == 2:
        return [[c, country_name[c], str(v)] for c, v in top_countries]
    if n == 3:
        return [[r, str(v)] for r, v in top(count(f["referrer"] for f in facts if f["referrer"]), 5)]
    if n == 4:
        rows = []
        for code, _ in top_countries:
            stores = count(f["store"] for f in located if f["ip"][1] == code and f["store"])
            ranked = [(1 + sum(1 for w in stores.values() if w > v), s, v) for s, v in stores.items()]
            for rank, s, v in sorted(r for r in ranked if r[0] <= 5):
                rows.append([code, country_name[code], s, str(v), str(rank)])
        return rows
    if n == 5:
        keys = [k for k, _ in top_products[:5]]
        per = count((f["hour"], f["product"]) for f in facts)
        return [[str(h), k, names[k][0], str(per.get((h, k), 0))] for h in range(24) for k in keys]
    rows = []
    for kind, field in (("browser", 1), ("os", 3)):
        fam = [(f["hour"], f["ua"][field] if f["ua"] else "Other") for f in facts]
        totals = count(x for _, x in fam)
        order = sorted((x for x in totals if x != "Other"), key=lambda x: (-totals[x], x))
        keep = order[:6]
        series = keep + (["Other"] if len(totals) > len(keep) else [])
        per = count((h, x if x in keep else "Other") for h, x in fam)
        rows += [[kind, str(h), s, str(per.get((h, s), 0))] for h in range(24) for s in series]
    return rows


def check(day, other, n, path):
    with open(path, newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    want = answer(day, other, n)
    header = got[0] if got else []
    got = [[None if v == "" else v for v in row] for row in got[1:]]
    want = [[None if v == "" else v for v in row] for row in want]
    heads = {1: "product_key,name,current_url,views", 2: "country_code,country_name,views",
             3: "referrer_url,views", 4: "country_code,country_name,store_id,views,rank",
             5: "hour,product_key,name,views", 6: "kind,hour,family,views"}
    if ",".join(header) != heads[n]:
        print("header: got %s, want %s" % (",".join(header), heads[n]))
    if got != want:
        print("rows: got %d, want %d" % (len(got), len(want)))
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                print("first difference at row %d: got %r, want %r" % (i + 1, g, w))
                break


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "sql":
        print_sql(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

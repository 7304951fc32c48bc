#!/usr/bin/env python3
"""Check a topic's message keys and their order, as a producer of gust should leave them
(docs/pipelines.md, "Message keys and ordering"): each message's key is its record's business
key, computed here independently of the C code; every keyed message is in the partition Java
clients (and librdkafka's murmur2_random) give its key, so all messages of one key share one
partition; messages produced in a known order arrive in that order (offsets increase).

usage: key_order.py KIND PARTITIONS MESSAGES [--before OLDER] [--served SERVED --batch B]
                    [--first FIRST]

KIND        users (email, trimmed and lower-cased; none when missing or blank), wiki (rcid),
            dvc-record (soDangKy), dvc-page (the soDangKy of the page's first record)
PARTITIONS  the topic's partition count
MESSAGES    the topic read back with `kcat -C -J -e` (one JSON envelope per line)
--before    the same topic read back before the last run: every key sent by both runs must
            be in the same partition, the last run's messages after the earlier ones
--served    users: the randomuser fixture's /_control/served with --batch B users per answer:
            within one answer users are sent in order, so in one partition their offsets
            must increase with their place in the answer
--first     users: the --first-user record, sent before anything else: the first message of
            its partition
wiki        within each run, one partition's changes must follow (timestamp, rcid): the
            stream sends oldest first

Prints "OK" or up to 5 problems on line 1, then "stats k=v ..." (messages, keys, multi: keys
with several messages, partitions used, unkeyed, repeated: keys sent by both runs, pairs:
ordered pairs of one key checked)."""
import json
import sys


def murmur2(data):
    """Kafka's Java murmur2 (Utils.murmur2), as an unsigned 32-bit value."""
    m, r, n = 0x5BD1E995, 24, len(data)
    h = (0x9747B28C ^ n) & 0xFFFFFFFF
    for i in range(0, n - n % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = n - n % 4
    if n % 4 == 3:
        h ^= data[tail + 2] << 16
    if n % 4 >= 2:
        h ^= data[tail + 1] << 8
    if n % 4 >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key, parts):
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % parts


def business_key(kind, value):
    if kind == "users":
        email = value.get("email") if isinstance(value, dict) else None
        if not isinstance(email, str):
            return None
        email = email.strip(" \t\n\r\f\v")
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in email) or None
    if kind == "wiki":
        return str(value["rcid"])
    if kind == "dvc-record":
        return value["soDangKy"]
    if kind == "dvc-page":
        return value[0]["soDangKy"]
    raise SystemExit("unknown kind " + kind)


def read(path, kind):
    out = []
    for line in open(path, encoding="utf-8"):
        env = json.loads(line)
        value = json.loads(env["payload"])
        out.append({"p": env["partition"], "o": env["offset"], "key": env["key"],
                    "want": business_key(kind, value), "value": value})
    return out


def check_keys(msgs, parts, bad, stats):
    where = {}
    for m in msgs:
        if m["key"] != m["want"]:
            bad.append("p%d@%d: key %r, business key %r" % (m["p"], m["o"], m["key"], m["want"]))
        if m["key"] is None:
            stats["unkeyed"] += 1
            continue
        if m["p"] != java_partition(m["key"], parts):
            bad.append("key %r in partition %d, murmur2 says %d"
                       % (m["key"], m["p"], java_partition(m["key"], parts)))
        where.setdefault(m["key"], set()).add(m["p"])
    split = [k for k, ps in where.items() if len(ps) > 1]
    if split:
        bad.append("%d key(s) in several partitions, e.g. %r in %s" % (len(split), split[0], sorted(where[split[0]])))
    stats["keys"] = len(where)
    stats["partitions"] = len({m["p"] for m in msgs})


def check_before(msgs, older, bad, stats):
    seen = {(m["p"], m["o"]) for m in older}
    old = {}
    for m in older:
        if m["key"] is not None:
            old.setdefault(m["key"], []).append(m)
    for m in msgs:
        if (m["p"], m["o"]) in seen or m["key"] not in old:
            continue
        stats["repeated"] += 1
        for o in old[m["key"]]:
            stats["pairs"] += 1
            if o["p"] != m["p"] or o["o"] >= m["o"]:
                bad.append("key %r: sent again at p%d@%d, earlier at p%d@%d" % (m["key"], m["p"], m["o"], o["p"], o["o"]))


def check_served(msgs, served, batch, bad, stats):
    place = {u["login"]["uuid"]: (i // batch, i % batch) for i, u in enumerate(served)}
    groups = {}
    for m in msgs:
        if m["value"].get("id") in place:
            block, pos = place[m["value"]["id"]]
            groups.setdefault((m["p"], block), []).append((m["o"], pos, m["key"]))
    for (p, block), rows in groups.items():
        rows.sort()
        for i, (o, pos, key) in enumerate(rows):
            for o2, pos2, key2 in rows[i + 1:]:
                if pos2 < pos:
                    bad.append("answer %d: user %d at p%d@%d after user %d at @%d" % (block, pos2, p, o2, pos, o))
                elif key is not None and key == key2:
                    stats["pairs"] += 1


def check_first(msgs, first, bad):
    mine = [m for m in msgs if m["value"] == first]
    if len(mine) != 1:
        bad.append("the first user was sent %d time(s)" % len(mine))
    elif min(m["o"] for m in msgs if m["p"] == mine[0]["p"]) != mine[0]["o"]:
        bad.append("the first user is not the first message of partition %d" % mine[0]["p"])


def check_wiki_runs(msgs, older, bad):
    seen = {(m["p"], m["o"]) for m in older}
    for run in (older, [m for m in msgs if (m["p"], m["o"]) not in seen]):
        last = {}
        for m in sorted(run, key=lambda m: (m["p"], m["o"])):
            at = (m["value"]["time"], m["value"]["rcid"])
            if m["p"] in last and at < last[m["p"]]:
                bad.append("p%d@%d: change %s after %s" % (m["p"], m["o"], at, last[m["p"]]))
            last[m["p"]] = at


def main(argv):
    kind, parts, path = argv[1], int(argv[2]), argv[3]
    opts = dict(zip(argv[4::2], argv[5::2]))
    msgs = read(path, kind)
    older = read(opts["--before"], kind) if "--before" in opts else []
    bad = []
    stats = {"messages": len(msgs), "keys": 0, "multi": 0, "partitions": 0, "unkeyed": 0,
             "repeated": 0, "pairs": 0}
    check_keys(msgs, parts, bad, stats)
    count = {}
    for m in msgs:
        count[m["key"]] = count.get(m["key"], 0) + 1
    stats["multi"] = sum(1 for k, n in count.items() if k is not None and n > 1)
    if older:
        check_before(msgs, older, bad, stats)
    if "--served" in opts:
        served = json.load(open(opts["--served"], encoding="utf-8"))["users"]
        check_served(msgs, served, int(opts["--batch"]), bad, stats)
    if "--first" in opts:
        check_first(msgs, json.load(open(opts["--first"], encoding="utf-8")), bad)
    if kind == "wiki":
        check_wiki_runs(msgs, older, bad)
    if not msgs:
        bad.append("no messages")
    print("; ".join(bad[:5]) or "OK")
    print("stats", " ".join("%s=%d" % kv for kv in stats.items()))


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/python3
"""The load side and the Kafka side of test_event_collector.sh (stdlib plus Debian's
python3-avro as an independent reader of the Avro containers).

  collector_client.py post URL --events N [--per K] [--threads T] [--ids FILE] [--first I]
                                [--pad BYTES] [--until-503]
      POST N events to URL/collect, K per request, from T threads. The event_id of every
      202 is appended to FILE at once (so ids answered before a kill -9 are on disk). Events
      are numbered from I; each carries "pad" random characters in its payload. With
      --until-503 the threads stop at the first 503. Prints one JSON line of counts:
      {"202": .., "503": .., "other": .., "errors": .., "retry_after": <header of a 503>}.
      Connection errors end a thread quietly (the collector may be killed on purpose).
  collector_client.py consume BROKERS TOPIC IDS_OUT
      read TOPIC from the start with kcat, decode each message as an Avro object container
      with python3-avro, check that its key is its first record's event_id and that every
      record equals the event it was made from (payload.n names it), write every event_id to
      IDS_OUT (one per line, duplicates kept) and print one JSON line
      {"messages": .., "records": .., "distinct": .., "bad": [first problems]}.
  collector_client.py missing EXPECTED_IDS GOT_IDS
      print the ids of EXPECTED_IDS not in GOT_IDS (none: prints nothing)."""
import io
import json
import random
import string
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import avro.datafile
import avro.io


def make_event(i, pad):
    payload = {"n": i}
    if pad:
        payload["pad"] = "".join(random.choice(string.ascii_letters) for _ in range(pad))
    return {"id": str(1000000 + i), "type": "PushEvent",
            "actor": {"id": i, "login": "user%d" % i, "url": "https://api.github.com/u/%d" % i},
            "repo": {"id": 42, "name": "octo/repo"}, "payload": payload, "public": True,
            "created_at": "2026-12-03T00:00:00Z"}


def post_once(url, body):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def cmd_post(argv):
    url = argv[0].rstrip("/") + "/collect"
    opt = {"--events": "100", "--per": "10", "--threads": "4", "--ids": None, "--first": "0",
           "--pad": "0"}
    until_503 = "--until-503" in argv
    args = [a for a in argv[1:] if a != "--until-503"]
    for k, v in zip(args[::2], args[1::2]):
        opt[k] = v
    n, per, first, pad = (int(opt[k]) for k in ("--events", "--per", "--first", "--pad"))
    lock = threading.Lock()
    counts = {"202": 0, "503": 0, "other": 0, "errors": 0, "retry_after": None}
    out = open(opt["--ids"], "a") if opt["--ids"] else None
    nxt = [first]
    stop = [False]

    def worker():
        while True:
            with lock:
                if stop[0] or nxt[0] >= first + n:
                    return
                lo = nxt[0]
                nxt[0] = min(first + n, lo + per)
            body = json.dumps([make_event(i, pad) for i in range(lo, nxt[0])]).encode()
            try:
                code, data, headers = post_once(url, body)
            except Exception:  # the collector went away (kill -9): stop quietly
                with lock:
                    counts["errors"] += 1
                return
            with lock:
                if code == 202:
                    counts["202"] += 1
                    if out:
                        out.write("".join(i + "\n" for i in json.loads(data)["event_ids"]))
                        out.flush()
                elif code == 503:
                    counts["503"] += 1
                    counts["retry_after"] = headers.get("Retry-After")
                    if until_503:
                        stop[0] = True
                else:
                    counts["other"] += 1
                    sys.stderr.write("HTTP %d: %s\n" % (code, data[:200]))

    threads = [threading.Thread(target=worker) for _ in range(int(opt["--threads"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(counts))


def record_problem(rec):
    """None when rec equals the event make_event built for its payload.n (pad aside)."""
    payload = json.loads(rec["payload"] or "{}")
    if "n" not in payload:
        return None  # not made by make_event (the test's hand-written events)
    i = payload["n"]
    ev = make_event(i, 0)
    want = {"id": ev["id"], "type": "PushEvent",
            "actor": {"id": i, "login": "user%d" % i, "gravatar_id": "",
                      "url": ev["actor"]["url"], "avatar_url": ""},
            "repo": {"id": 42, "name": "octo/repo", "url": ""}, "public": True,
            "created_at": "2026-12-03T00:00:00Z"}
    got = {k: rec[k] for k in want}
    if got != want:
        return "record %s: %s != %s" % (rec["event_id"], got, want)
    return None


def read_messages(brokers, topic):
    raw = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topic, "-e", "-q",
                          "-f", "%k\n%S\n%s"], check=True, capture_output=True).stdout
    pos = 0
    while pos < len(raw):
        nl = raw.index(b"\n", pos)
        key = raw[pos:nl].decode()
        nl2 = raw.index(b"\n", nl + 1)
        size = int(raw[nl + 1:nl2])
        yield key, raw[nl2 + 1:nl2 + 1 + size]
        pos = nl2 + 1 + size


def cmd_consume(argv):
    brokers, topic, out_path = argv
    stats = {"messages": 0, "records": 0, "distinct": 0, "bad": []}
    ids = []
    for key, value in read_messages(brokers, topic):
        stats["messages"] += 1
        reader = avro.datafile.DataFileReader(io.BytesIO(value), avro.io.DatumReader())
        recs = list(reader)
        if not recs or recs[0]["event_id"] != key:
            stats["bad"].append("message key %s is not its first event_id" % key)
        for r in recs:
            p = record_problem(r)
            if p:
                stats["bad"].append(p)
            ids.append(r["event_id"])
    stats["records"] = len(ids)
    stats["distinct"] = len(set(ids))
    stats["bad"] = stats["bad"][:5]
    with open(out_path, "w") as f:
        f.write("".join(i + "\n" for i in ids))
    print(json.dumps(stats))


def cmd_missing(argv):
    want = [line.strip() for line in open(argv[0]) if line.strip()]
    got = set(line.strip() for line in open(argv[1]))
    for i in want:
        if i not in got:
            print(i)


if __name__ == "__main__":
    {"post": cmd_post, "consume": cmd_consume, "missing": cmd_missing}[sys.argv[1]](sys.argv[2:])

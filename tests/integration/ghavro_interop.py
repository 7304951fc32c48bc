#!/usr/bin/python3
"""Python's own Avro implementation (Debian's python3-avro) as the oracle for tasks/lib/ghavro,
used by test_ghavro_interop.sh. The record's rules are written out again here, independently
of the C code, from the schema's documentation in ghavro.h.

  ghavro_interop.py read EVENTS.jsonl CONTAINER CODEC
      python reads CONTAINER (written by ghavro_tool from EVENTS.jsonl); every record must
      equal the event it came from, in order, and the header's codec must be CODEC.
  ghavro_interop.py write SCHEMA_VARIANT CODEC OUT EXPECTED.jsonl
      python writes a container of a few events (several blocks) with our schema or a
      variant of it ("ours", "no_public", "actor_id_string"), and the records as JSON lines
      (the shape ghavro_tool decode prints) to EXPECTED.jsonl.
  ghavro_interop.py same EXPECTED.jsonl GOT.jsonl
      the two files hold equal JSON values, line by line.
Exit 0 when all is well; otherwise 1 with the first difference on stderr."""
import json
import sys

import avro.datafile
import avro.io
import avro.schema

SCHEMA = {
    "type": "record", "name": "GitHubEvent", "namespace": "gust", "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "type", "type": "string"},
        {"name": "actor", "type": {"type": "record", "name": "Actor", "fields": [
            {"name": "id", "type": "long"}, {"name": "login", "type": "string"},
            {"name": "gravatar_id", "type": "string"}, {"name": "url", "type": "string"},
            {"name": "avatar_url", "type": "string"}]}},
        {"name": "repo", "type": {"type": "record", "name": "Repo", "fields": [
            {"name": "id", "type": "long"}, {"name": "name", "type": "string"},
            {"name": "url", "type": "string"}]}},
        {"name": "payload", "type": ["null", "string"], "default": None},
        {"name": "public", "type": "boolean"},
        {"name": "created_at", "type": "string"},
    ]}


def expected(line):
    """The record ghavro must make of one input line {"event_id", "metric"}."""
    j = json.loads(line)
    ev = j["metric"]
    actor = ev.get("actor") or {}
    repo = ev.get("repo") or {}
    payload = ev.get("payload")

    def s(o, k):
        v = o.get(k)
        return "" if v is None else v
    return {
        "event_id": j["event_id"], "id": str(ev["id"]), "type": ev["type"],
        "actor": {"id": actor.get("id") or 0, "login": s(actor, "login"),
                  "gravatar_id": s(actor, "gravatar_id"), "url": s(actor, "url"),
                  "avatar_url": s(actor, "avatar_url")},
        "repo": {"id": repo.get("id") or 0, "name": s(repo, "name"), "url": s(repo, "url")},
        "payload": None if payload is None else payload,
        "public": ev.get("public") is True,
        "created_at": s(ev, "created_at"),
    }


def fail(msg):
    print("ghavro_interop: " + msg, file=sys.stderr)
    sys.exit(1)


def read(events, container, codec):
    with open(events, encoding="utf-8") as f:
        want = [expected(line) for line in f if line.strip()]
    with open(container, "rb") as f:
        reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
        got_codec = reader.meta.get("avro.codec", b"null").decode()
        got = list(reader)
    if got_codec != codec:
        fail(f"codec {got_codec!r}, want {codec!r}")
    if len(got) != len(want):
        fail(f"{len(got)} records, want {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g["payload"] is not None:  # JSON text: compare the values it holds
            g = dict(g, payload=json.loads(g["payload"]))
        if g != w:
            fail(f"record {i}: {g!r}\n  want {w!r}")


def variant(name):
    schema = json.loads(json.dumps(SCHEMA))
    if name == "no_public":
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "public"]
    elif name == "actor_id_string":
        schema["fields"][3]["type"]["fields"][0]["type"] = "string"
    elif name != "ours":
        fail("unknown variant " + name)
    return schema


def write(name, codec, out, exp):
    schema = variant(name)
    recs = []
    for i in range(7):
        r = {"event_id": f"00000000-0000-4000-8000-{i:012d}", "id": str(26000000000 + i),
             "type": ["PushEvent", "WatchEvent", "IssuesEvent"][i % 3],
             "actor": {"id": 1000 + i, "login": f"user{i}", "gravatar_id": "",
                       "url": f"https://api.github.com/users/user{i}",
                       "avatar_url": f"https://avatars.githubusercontent.com/u/{1000 + i}?"},
             "repo": {"id": 2 ** 40 + i, "name": f"org/répo-{i}", "url": "https://x/y"},
             "payload": None if i % 3 == 1 else json.dumps({"n": i, "s": "ü\t\"q\""}),
             "public": i % 2 == 0, "created_at": f"2024-05-01T12:00:0{i}Z"}
        if name == "no_public":
            del r["public"]
        if name == "actor_id_string":
            r["actor"]["id"] = str(r["actor"]["id"])
        recs.append(r)
    with open(out, "wb") as f:
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(),
                                         avro.schema.parse(json.dumps(schema)), codec=codec)
        for i, r in enumerate(recs):
            w.append(r)
            if i % 3 == 2:
                w.flush()  # several blocks
        w.close()
    with open(exp, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def same(a, b):
    with open(a, encoding="utf-8") as f:
        want = [json.loads(line) for line in f if line.strip()]
    with open(b, encoding="utf-8") as f:
        got = [json.loads(line) for line in f if line.strip()]
    if got != want:
        fail(f"{b} differs from {a}:\n  got  {got!r}\n  want {want!r}")


def main():
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "read":
        read(*args[1:])
    elif len(args) == 5 and args[0] == "write":
        write(*args[1:])
    elif len(args) == 3 and args[0] == "same":
        same(*args[1:])
    else:
        fail("usage: see the top of this file")


if __name__ == "__main__":
    main()

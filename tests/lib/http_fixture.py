#!/usr/bin/env python3
"""HTTP fixture server for integration tests (standard library only).

    http_fixture.py SCENARIO_DIR [--record FILE] [--stdin]

Listens on 127.0.0.1 on a port the kernel picks, prints "http://127.0.0.1:PORT" on stdout
(flushed), and answers from SCENARIO_DIR/routes.json until SIGTERM/SIGINT, or stdin EOF with
--stdin. With --record, every request is appended to FILE (flushed at once, so tests can
assert on it while the server runs) as one JSON object per line:
    {"seq": 1, "method": "GET", "path": "/x", "query": "a=1", "args": {"a": ["1"]},
     "headers": {...}, "body": "...", "route": 0, "status": 503}

routes.json:
    {"routes": [
      {"method": "GET",                 optional, default any method
       "path": "/api/users",            exact path, or
       "path_regex": "^/w/api\\.php$",  a regular expression on the path
       "query": {"page": "2"},          optional: these query parameters must have these values
       "body_contains": "text",         optional: the request body must contain this text
       "then": "repeat_last",           after the list: repeat_last (default), cycle, or 404
       "responses": [
         {"status": 503,                default 200
          "headers": {"Retry-After": "1"},
          "body": "text" | "json": {...} | "body_file": "page1.json" (relative to the folder),
          "delay_ms": 200,              wait before answering
          "truncate_after": 100,        announce the full Content-Length, send only N bytes, close
          "close": true,                close the connection after this response
          "drop": true}                 close the connection without answering
       ]}
    ]}
The first matching route answers, its responses in order. A request no route matches gets a
404 with a JSON body saying so (and is recorded with "route": null).

Also the server plumbing the API fixtures in tests/fixtures/ import (they put this folder on
sys.path): dumps, FixtureHandler (quiet, keep-alive, send), fixture_args and serve.
"""

import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


JSON_TYPE = "application/json; charset=utf-8"


def dumps(obj):
    """Compact UTF-8 JSON, as the real APIs send it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fault_settings(defaults, f):
    """Fault settings: defaults updated by the keys of f it knows; and the random generator
    that picks faults (seeded by their "seed")."""
    faults = dict(defaults)
    faults.update({k: v for k, v in f.items() if k in defaults})
    return faults, random.Random("faults:%s" % faults["seed"])


def fresh_counters(old, **fields):
    """Zeroed counters (requests, status and fields); requests being answered (in old) stay in
    in_flight."""
    in_flight = (old or {}).get("in_flight", 0)
    out = {"requests": 0, "status": {}}
    out.update(fields)
    out.update(max_concurrent=in_flight, in_flight=in_flight)
    return out


class FixtureState:
    """An API fixture's faults and counters, behind self.lock (set by the subclass, with
    fault_defaults and clear_counters)."""

    fault_defaults = {"seed": 1}

    def set_faults(self, f):
        self.faults, self.rng = fault_settings(self.fault_defaults, f)
        return dict(self.faults)

    def count_arrival(self):
        """A request arrived (the caller holds the lock): counted, in flight."""
        c = self.counters
        c["requests"] += 1
        c["in_flight"] += 1
        c["max_concurrent"] = max(c["max_concurrent"], c["in_flight"])

    def restart(self):
        """Faults back to their defaults, counters cleared (the caller holds the lock)."""
        self.set_faults({})
        self.clear_counters()


class FixtureHandler(BaseHTTPRequestHandler):
    """Keep-alive, quiet; server_header is what the Server header says."""

    protocol_version = "HTTP/1.1"
    server_header = "fixture"

    def version_string(self):
        return self.server_header

    def log_message(self, fmt, *args):  # quiet: the fixture's counters are the record
        pass

    def send(self, status, body, ctype=JSON_TYPE, cut=None, headers=()):
        """Answer body (bytes); cut: announce all of it, send only that many bytes, close."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()

    def send_faulty(self, body, fault, garbage=""):
        """Answer 200 with body, or as fault says: "truncated" (half of it, the whole length
        announced) or "garbage" (an HTML error page)."""
        if fault == "truncated":
            return self.send(200, body, cut=len(body) // 2)
        if fault == "garbage":
            return self.send(200, garbage.encode(), ctype="text/html")
        self.send(200, body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def control(self, raw, state, snapshot, ops):
        """Answer a control request (raw: its JSON body) {"op": ...}: "faults" and "counters"
        (snapshot(req); "reset": true clears them after) on state (lock, set_faults,
        clear_counters), the others by ops[op](req); 400 for bad JSON or an unknown op."""
        try:
            req = json.loads(raw or b"{}")
        except ValueError as exc:
            return self.send(400, dumps({"error": "control: bad JSON: %s" % exc}))
        op = req.get("op")
        if op == "faults":
            with state.lock:
                out = state.set_faults(req)
        elif op == "counters":
            out = snapshot(req)
            if req.get("reset"):
                with state.lock:
                    state.clear_counters()
        elif op in ops:
            out = ops[op](req)
        else:
            return self.send(400, dumps({"error": "control: unknown op %r" % (op,)}))
        self.send(200, dumps(out))


def fixture_args(name, doc, options, argv=None):
    """Parse "--flag VALUE" options ({"--seed": ("seed", int, 1), ...}), --stdin and --help.
    Returns (values by name, watch_stdin), or an exit code (int) after --help or an error."""
    values = {key: dflt for key, _, dflt in options.values()}
    watch_stdin = False
    args = list(sys.argv[1:] if argv is None else argv)
    while args:
        a = args.pop(0)
        if a in options and args:
            key, conv, _ = options[a]
            values[key] = conv(args.pop(0))
        elif a == "--stdin":
            watch_stdin = True
        elif a in ("-h", "--help"):
            print(doc)
            return 0
        else:
            print("%s: unknown argument %r" % (name, a), file=sys.stderr)
            return 2
    return values, watch_stdin


def serve(handler, watch_stdin, queue_size=None):
    """Serve on 127.0.0.1 (a port the kernel picks, printed as a URL on stdout) until
    SIGTERM/SIGINT, or stdin EOF with watch_stdin. Returns the exit code."""
    if queue_size:
        ThreadingHTTPServer.request_queue_size = queue_size
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    stop = lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if watch_stdin:
        def wait_eof():
            while sys.stdin.buffer.read(4096):
                pass
            stop()
        threading.Thread(target=wait_eof, daemon=True).start()
    print("http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()
    server.server_close()
    return 0


class Scenario:
    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "routes.json"), encoding="utf-8") as f:
            self.routes = json.load(f)["routes"]
        self.counters = [0] * len(self.routes)
        self.lock = threading.Lock()

    def match(self, method, path, args, body):
        for i, r in enumerate(self.routes):
            if r.get("method") and r["method"].upper() != method:
                continue
            if "path" in r and r["path"] != path:
                continue
            if "path_regex" in r and not re.search(r["path_regex"], path):
                continue
            want = r.get("query", {})
            if any(args.get(k, [None])[0] != str(v) for k, v in want.items()):
                continue
            if "body_contains" in r and r["body_contains"] not in body:
                continue
            return i
        return None

    def next_response(self, i):
        r = self.routes[i]
        resps = r.get("responses") or [{}]
        with self.lock:
            n = self.counters[i]
            self.counters[i] += 1
        if n < len(resps):
            return resps[n]
        then = r.get("then", "repeat_last")
        if then == "cycle":
            return resps[n % len(resps)]
        if then == "404":
            return {"status": 404, "json": {"error": "fixture: responses exhausted"}}
        return resps[-1]

    def body_of(self, resp):
        if "body_file" in resp:
            with open(os.path.join(self.folder, resp["body_file"]), "rb") as f:
                return f.read(), None
        if "json" in resp:
            return json.dumps(resp["json"]).encode(), "application/json"
        return str(resp.get("body", "")).encode(), "text/plain; charset=utf-8"


class Recorder:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else None
        self.seq = 0
        self.lock = threading.Lock()

    def write(self, entry):
        with self.lock:
            self.seq += 1
            if self.f:
                entry = dict(seq=self.seq, **entry)
                self.f.write(json.dumps(entry) + "\n")
                self.f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs; every answer has Content-Length
    scenario = None
    recorder = None

    def log_message(self, fmt, *args):  # quiet: the record file is the log
        pass

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        args = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        i = self.scenario.match(self.command, url.path, args, body)
        if i is None:
            resp = {"status": 404, "json": {"error": "fixture: no route for %s %s" % (self.command, url.path)}}
        else:
            resp = self.scenario.next_response(i)
        self.recorder.write(dict(time=time.time(), method=self.command, path=url.path, query=url.query,
                                 args=args, headers=dict(self.headers.items()), body=body,
                                 route=i, status=None if resp.get("drop") else resp.get("status", 200)))
        self.respond(resp)

    def respond(self, resp):
        if resp.get("delay_ms"):
            time.sleep(resp["delay_ms"] / 1000.0)
        if resp.get("drop"):
            self.close_connection = True
            return
        data, ctype = self.scenario.body_of(resp)
        self.send_response(int(resp.get("status", 200)))
        headers = {k.lower(): (k, v) for k, v in resp.get("headers", {}).items()}
        if ctype and "content-type" not in headers:
            self.send_header("Content-Type", ctype)
        for k, v in headers.values():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        cut = resp.get("truncate_after")
        if cut is not None or resp.get("close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data if cut is None else data[: int(cut)])
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


def main():
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    folder, record, watch_stdin = argv[0], None, False
    rest = argv[1:]
    while rest:
        a = rest.pop(0)
        if a == "--record" and rest:
            record = rest.pop(0)
        elif a == "--stdin":
            watch_stdin = True
        else:
            print("http_fixture: unknown argument %r" % a, file=sys.stderr)
            return 2
    Handler.scenario = Scenario(folder)
    Handler.recorder = Recorder(record)
    return serve(Handler, watch_stdin)

if __name__ == "__main__":
    sys.exit(main())

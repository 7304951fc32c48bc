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
"""

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The reference for make bench's collector part: the original event collector's design,
written for the benchmark with Debian's packages (FastAPI + uvicorn + python3-confluent-kafka
+ python3-avro): POST /collect puts each event, wrapped as {"event_id", "metric"}, on a
bounded in-memory queue and answers 202; a background thread takes batches of up to 1000
events (or what arrived within 5 s), packs each as one Avro container (deflate) and produces
it to Kafka. No disk, no fsync: what the original promised without the journal gust adds, so
the comparison flatters the reference.

    collector_ref.py --port 8001 --bootstrap 127.0.0.1:9092 --topic raw_metrics_avro
"""
import argparse
import io
import json
import queue
import threading
import time
import uuid

import avro.datafile
import avro.io
import avro.schema
import uvicorn
from confluent_kafka import Producer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SCHEMA = avro.schema.parse(json.dumps({
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
        {"name": "payload", "type": ["null", "string"]},
        {"name": "public", "type": "boolean"},
        {"name": "created_at", "type": "string"}]}))


def record(wrapped):
    e = wrapped["metric"]
    a, r = e.get("actor") or {}, e.get("repo") or {}
    p = e.get("payload")
    return {"event_id": wrapped["event_id"], "id": str(e.get("id", "")), "type": e.get("type", ""),
            "actor": {"id": int(a.get("id", 0)), "login": a.get("login", ""),
                      "gravatar_id": a.get("gravatar_id", ""), "url": a.get("url", ""),
                      "avatar_url": a.get("avatar_url", "")},
            "repo": {"id": int(r.get("id", 0)), "name": r.get("name", ""), "url": r.get("url", "")},
            "payload": None if p is None else json.dumps(p), "public": bool(e.get("public", False)),
            "created_at": e.get("created_at", "")}


def sender(q, producer, topic, batch_max, batch_secs):
    while True:
        batch = [q.get()]
        deadline = time.monotonic() + batch_secs
        while len(batch) < batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(q.get(timeout=left))
            except queue.Empty:
                break
        buf = io.BytesIO()
        w = avro.datafile.DataFileWriter(buf, avro.io.DatumWriter(), SCHEMA, codec="deflate")
        for ev in batch:
            w.append(record(ev))
        w.flush()
        producer.produce(topic, buf.getvalue())
        producer.poll(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="raw_metrics_avro")
    ap.add_argument("--queue-max", type=int, default=100000)
    args = ap.parse_args()
    q = queue.Queue(maxsize=args.queue_max)
    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True,
                         "message.max.bytes": 10000000})
    threading.Thread(target=sender, args=(q, producer, args.topic, 1000, 5.0), daemon=True).start()
    app = FastAPI()

    @app.post("/collect")
    async def collect(request: Request):
        body = await request.json()
        events = body if isinstance(body, list) else [body]
        ids = []
        for e in events:
            eid = str(uuid.uuid4())
            try:
                q.put_nowait({"event_id": eid, "metric": e})
            except queue.Full:
                return JSONResponse({"error": "queue full"}, status_code=503, headers={"Retry-After": "1"})
            ids.append(eid)
        return JSONResponse({"accepted": len(ids), "event_ids": ids}, status_code=202)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

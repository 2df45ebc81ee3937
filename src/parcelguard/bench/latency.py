"""Event → alert latency through the HTTP API at a steady 1,000 events/s.

A real server (its own process, SQLite) gets scans of 3,000 registered parcels in requests of
10 events, sent open-loop on a fixed schedule over 16 keep-alive connections: each request
is timed from the moment it was due, so a slow answer or a busy sender shows as latency.
One event in 50 finds its parcel damaged, which opens a ``damaged`` alert. Two latencies are
measured from the moment the request was due:

- alert committed: the answer to the request (the writer commits the alert with the event,
  before it answers), for requests that carried a damaging scan;
- webhook received: a signed ``alert.opened`` notification arriving at a receiver on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg

from parcelguard.bench import common
from parcelguard.bench.http import start_server
from parcelguard.storage import migrate
from parcelguard.storage.sql import SqlStore

SHIPMENTS = 3000  # at least; more when the run sends more damaged scans (one alert each)
PER_REQUEST = 10
SENDERS = 16  # connections, each a thread with the standard library's HTTP client
DAMAGE_EVERY = 50


@dataclass
class Figures:
    events: int = 0
    seconds: float = 0.0
    request_ms: list[float] = field(default_factory=list)
    alert_ms: list[float] = field(default_factory=list)
    webhook_ms: list[float] = field(default_factory=list)
    damaged_sent: int = 0
    alerts_opened: int = 0
    errors: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # why: HTTP status or exception
    per_request: int = PER_REQUEST


class Receiver:
    """Webhooks on loopback: when each damaged scan's alert.opened arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                at = time.perf_counter()
                event_id = json.loads(body).get("data", {}).get("evidence", {}).get("event_id")
                if event_id:
                    receiver.arrived.setdefault(event_id, at)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _event(i: int, shipments: int) -> dict[str, Any]:
    damaged = i % DAMAGE_EVERY == 0
    parcel = (i // DAMAGE_EVERY) % shipments if damaged else i % shipments
    body: dict[str, Any] = {
        "tracking_no": f"LAT{parcel:08d}", "carrier": "sf", "event_id": f"ev{i}",
        "occurred_at": datetime.now(UTC).isoformat(), "status": "in_transit",
        "location": {"facility_id": f"HUB-{i % 40:02d}", "city": "上海"},
    }
    if damaged:
        body["condition"] = "damaged"
    return body


def _shipments(count: int) -> list[dict[str, Any]]:
    place = {"city": "上海", "lat": 31.23, "lon": 121.47}
    return [{"tracking_no": f"LAT{n:08d}", "carrier": "sf", "category": "general",
             "origin": place, "destination": {"city": "北京", "lat": 39.9, "lon": 116.4}}
            for n in range(count)]


def _drive(port: int, key: str, rate: int, seconds: float, out: Figures,
           sent_at: dict[str, float], per_request: int = PER_REQUEST,
           shipments: int = SHIPMENTS) -> None:
    """Open-loop: each request is due at a fixed time and timed from then, so a slow answer
    (or a busy sender) shows as latency instead of slowing the sending down."""
    due: queue.SimpleQueue[tuple[float, bytes, list[str]] | None] = queue.SimpleQueue()
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    lock = threading.Lock()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (item := due.get()) is not None:
            at, body, damaged = item
            try:
                conn.request("POST", "/v1/events", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                ok = response.status in (200, 202)
                why = f"HTTP {response.status}: {answer[:200].decode(errors='replace')}"
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                ok, why = False, type(exc).__name__
            took = (time.perf_counter() - at) * 1000
            with lock:
                if not ok:
                    out.errors += 1
                    out.failures[why] += 1
                    continue
                out.request_ms.append(took)
                if damaged:
                    out.alert_ms.append(took)
                    out.damaged_sent += len(damaged)
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    requests = int(rate * seconds / per_request)
    interval = per_request / rate
    begin = time.perf_counter()
    for n in range(requests):
        events = [_event(n * per_request + k, shipments) for k in range(per_request)]
        damaged = [e["event_id"] for e in events if "condition" in e]
        body = json.dumps(events).encode()
        at = begin + n * interval
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for event_id in damaged:
            sent_at[event_id] = at
        due.put((at, body, damaged))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    out.seconds = time.perf_counter() - begin
    out.events = requests * per_request
    out.per_request = per_request


@dataclass
class BusSetup:
    """Bus mode for the benchmark: a fresh PostgreSQL schema and stream, N worker processes."""

    nats_url: str
    pg_url: str  # an admin URL; the run gets its own schema in that database
    workers: int = 2
    partitions: int = 8
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    def settings(self) -> dict[str, str]:
        base = self.pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
        return {"database_url": f"{base}?options=-csearch_path%3Dbench_{self.tag}",
                "bus_url": self.nats_url, "bus_stream": f"BENCH_{self.tag}",
                "bus_subject_prefix": f"bench.{self.tag}", "bus_partitions": str(self.partitions),
                "bus_reply_timeout_s": "30"}

    def create(self) -> None:
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "bench_{self.tag}"')
        store = SqlStore.connect(self.settings()["database_url"])
        migrate.upgrade(store.engine)  # once, before several processes open the schema
        store.close()

    def start_workers(self, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
        share = [list(range(self.partitions))[i::self.workers] for i in range(self.workers)]
        return [subprocess.Popen([sys.executable, "-m", "parcelguard.cli", "worker",
                                  "--partitions", ",".join(map(str, ps))], env=env,
                                 stdout=subprocess.DEVNULL) for ps in share]

    def drop(self) -> None:
        async def stream() -> None:
            nc = await nats.connect(self.nats_url)
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(f"BENCH_{self.tag}")
            await nc.close()
        asyncio.run(stream())
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "bench_{self.tag}" CASCADE')


def run(rate: int = 1000, seconds: float = 30.0, port: int = 8766, webhook: bool = True,
        bus: BusSetup | None = None, per_request: int = PER_REQUEST) -> Figures:
    out = Figures()
    # every damaged scan finds a parcel of its own, so each opens an alert
    shipments = max(SHIPMENTS, -(-int(rate * seconds) // DAMAGE_EVERY))
    receiver = Receiver()
    keys = {"ledger_key": common.throwaway_key(), "data_key": common.throwaway_key()}
    extra = bus.settings() if bus else {}
    workers: list[subprocess.Popen[bytes]] = []
    if bus:
        bus.create()
    with tempfile.TemporaryDirectory(prefix="pg-latency-") as tmp:
        proc = start_server(Path(tmp), port, webhooks_allow_private="true", **keys, **extra)
        key: str = proc.key  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{port}"
        if bus:
            env = os.environ | {f"PARCELGUARD_{k.upper()}": v for k, v in {
                **keys, **extra, "data_dir": tmp, "mqtt_enabled": "false",
                "webhooks_allow_private": "true", "log_level": "warning"}.items()}
            workers = bus.start_workers(env)
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                              timeout=60) as c:
                all_shipments = _shipments(shipments)
                for i in range(0, shipments, 1000):
                    c.post("/v1/shipments", json=all_shipments[i:i + 1000]).raise_for_status()
                if webhook:
                    c.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.opened"],
                                                 "kinds": ["damaged"]}).raise_for_status()
            sent_at: dict[str, float] = {}
            _drive(port, key, rate, seconds, out, sent_at, per_request, shipments)
            deadline = time.monotonic() + 15
            while webhook and len(receiver.arrived) < len(sent_at) and time.monotonic() < deadline:
                time.sleep(0.1)
            out.webhook_ms = [(receiver.arrived[e] - t) * 1000 for e, t in sent_at.items()
                              if e in receiver.arrived]
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
                out.alerts_opened = _count_alerts(c)
        finally:
            proc.terminate()
            proc.wait(30)
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
            receiver.close()
            if bus:
                bus.drop()
    return out


def _count_alerts(client: httpx.Client) -> int:
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"kind": "damaged", "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/alerts", params=params).json()
        count += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def report(f: Figures, rate: int, bus: BusSetup | None = None) -> list[str]:
    def line(name: str, ms: list[float]) -> str:
        if not ms:
            return f"  {name}: none measured"
        return (f"  {name}: p50 {common.median(ms):.1f} ms, p99 {common.quantile(ms, 0.99):.1f} "
                f"ms, max {max(ms):.1f} ms ({len(ms):,} samples)")

    return [
        f"[alert latency] {f.events:,} events at {rate:,}/s asked, {f.events / f.seconds:,.0f}/s "
        f"sent, {f.per_request} per request, " + (
            f"bus mode: API node -> JetStream ({bus.partitions} partitions) -> {bus.workers} "
            "worker(s) -> PostgreSQL, each in its own process" if bus else
            "server on SQLite in its own process"),
        line("every request (answer)", f.request_ms),
        line("event -> alert committed", f.alert_ms),
        line("event -> webhook received", f.webhook_ms),
        f"  damaged scans sent {f.damaged_sent:,}, damaged alerts open {f.alerts_opened:,}, "
        f"webhooks received {len(f.webhook_ms):,}, failed requests {f.errors}"
        + "".join(f"\n  failed: {n} x {why}" for why, n in f.failures.most_common()),
    ]

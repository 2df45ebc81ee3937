"""Event → alert latency through the HTTP API at a steady 1,000 events/s.

A real server (its own process, SQLite) gets scans of 3,000 registered parcels in requests of
10 events, sent open-loop on a fixed schedule (a slow answer does not slow the sending, so
queueing shows in the figures). One event in 50 finds its parcel damaged, which opens a
``damaged`` alert. Two latencies are measured from the moment the request left:

- alert committed: the answer to the request (the writer commits the alert with the event,
  before it answers), for requests that carried a damaging scan;
- webhook received: a signed ``alert.opened`` notification arriving at a receiver on loopback.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from parcelguard.bench import common
from parcelguard.bench.http import start_server

SHIPMENTS = 3000
PER_REQUEST = 10
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


def _event(i: int) -> dict[str, Any]:
    damaged = i % DAMAGE_EVERY == 0
    parcel = (i // DAMAGE_EVERY) % SHIPMENTS if damaged else i % SHIPMENTS
    body: dict[str, Any] = {
        "tracking_no": f"LAT{parcel:08d}", "carrier": "sf", "event_id": f"ev{i}",
        "occurred_at": datetime.now(UTC).isoformat(), "status": "in_transit",
        "location": {"facility_id": f"HUB-{i % 40:02d}", "city": "上海"},
    }
    if damaged:
        body["condition"] = "damaged"
    return body


def _shipments() -> list[dict[str, Any]]:
    place = {"city": "上海", "lat": 31.23, "lon": 121.47}
    return [{"tracking_no": f"LAT{n:08d}", "carrier": "sf", "category": "general",
             "origin": place, "destination": {"city": "北京", "lat": 39.9, "lon": 116.4}}
            for n in range(SHIPMENTS)]


async def _drive(client: httpx.AsyncClient, rate: int, seconds: float, out: Figures,
                 sent_at: dict[str, float]) -> None:
    requests = int(rate * seconds / PER_REQUEST)
    interval = PER_REQUEST / rate
    tasks = []

    async def one(n: int) -> None:
        events = [_event(n * PER_REQUEST + k) for k in range(PER_REQUEST)]
        damaged = [e["event_id"] for e in events if "condition" in e]
        started = time.perf_counter()
        for event_id in damaged:
            sent_at[event_id] = started
        try:
            r = await client.post("/v1/events", json=events)
            ok = r.status_code in (200, 202)
        except httpx.HTTPError:
            ok = False
        took = (time.perf_counter() - started) * 1000
        if not ok:
            out.errors += 1
            return
        out.request_ms.append(took)
        if damaged:
            out.alert_ms.append(took)
            out.damaged_sent += len(damaged)

    begin = time.perf_counter()
    for n in range(requests):
        delay = begin + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    out.seconds = time.perf_counter() - begin
    out.events = requests * PER_REQUEST


def run(rate: int = 1000, seconds: float = 30.0, port: int = 8766) -> Figures:
    out = Figures()
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="pg-latency-") as tmp:
        proc = start_server(Path(tmp), port, webhooks_allow_private="true")
        key: str = proc.key  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                              timeout=60) as c:
                all_shipments = _shipments()
                for i in range(0, SHIPMENTS, 1000):
                    c.post("/v1/shipments", json=all_shipments[i:i + 1000]).raise_for_status()
                c.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.opened"],
                                             "kinds": ["damaged"]}).raise_for_status()
            sent_at: dict[str, float] = {}

            async def main() -> None:
                limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
                async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits,
                                             headers={"Authorization": f"Bearer {key}"}) as ac:
                    await _drive(ac, rate, seconds, out, sent_at)

            asyncio.run(main())
            deadline = time.monotonic() + 15
            while len(receiver.arrived) < len(sent_at) and time.monotonic() < deadline:
                time.sleep(0.1)
            out.webhook_ms = [(receiver.arrived[e] - t) * 1000 for e, t in sent_at.items()
                              if e in receiver.arrived]
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
                out.alerts_opened = _count_alerts(c)
        finally:
            proc.terminate()
            proc.wait(30)
            receiver.close()
    return out


def _count_alerts(client: httpx.Client) -> int:
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"kind": "damaged", "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/alerts", params=params).json()
        count += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def report(f: Figures, rate: int) -> list[str]:
    def line(name: str, ms: list[float]) -> str:
        if not ms:
            return f"  {name}: none measured"
        return (f"  {name}: p50 {common.median(ms):.1f} ms, p99 {common.quantile(ms, 0.99):.1f} "
                f"ms, max {max(ms):.1f} ms ({len(ms):,} samples)")

    return [
        f"[alert latency] {f.events:,} events at {rate:,}/s asked, {f.events / f.seconds:,.0f}/s "
        f"sent, {PER_REQUEST} per request, server on SQLite in its own process",
        line("every request (answer)", f.request_ms),
        line("event -> alert committed", f.alert_ms),
        line("event -> webhook received", f.webhook_ms),
        f"  damaged scans sent {f.damaged_sent:,}, damaged alerts open {f.alerts_opened:,}, "
        f"webhooks received {len(f.webhook_ms):,}, failed requests {f.errors}",
    ]

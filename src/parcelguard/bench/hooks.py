"""Carrier pushes over HTTP: Kdniao pushes of 10-trace parcels to ``/v1/hooks/kdniao/<id>``.

A real server (its own process, SQLite) gets signed Kdniao pushes from 48 keep-alive
connections (``--senders``; a carrier pushes from many) as fast as it answers. Kdniao pushes a
parcel whenever its trace grows, with the whole trace every time, so in the steady state a push
of a 10-item trace brings one new item: each parcel is first pushed with 9 items (not timed),
then timed with all 10; the traces are of today. The baseline, against the same server in the
same run, is our own ``POST /v1/events`` with the same 10 scans of other parcels after the same
first 9. A third run times the cold case: 10-item pushes of parcels never pushed before (all
ten items new).
"""

from __future__ import annotations

import http.client
import json
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from parcelguard.bench.http import start_server
from parcelguard.ingest.carriers import bench as kdniao_bench
from parcelguard.ingest.carriers import kdniao

SENDERS = 48
FORM = "application/x-www-form-urlencoded"


@dataclass
class Figures:
    name: str
    requests: int = 0
    seconds: float = 0.0
    failed: int = 0
    writer_seconds: float = 0.0  # the server's writer: processing and committing batches
    batches: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _numbers(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:010d}" for i in range(n)]


def _register(base: str, key: str, numbers: list[str]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    for i in range(0, len(numbers), 1000):
        body = [{"tracking_no": tn, "carrier": "sf", "category": "general",
                 "origin": {"city": "深圳"}, "destination": {"city": "上海"}}
                for tn in numbers[i:i + 1000]]
        httpx.post(f"{base}/v1/shipments", json=body, headers=headers,
                   timeout=120).raise_for_status()


def _own_format(body: bytes) -> bytes:
    """The same 10 scans as our own API takes them."""
    push = kdniao.handle(body, {}, kdniao_bench.APP_KEY, now=datetime.now(UTC))
    return json.dumps([{"tracking_no": e.tracking_no, "carrier": e.carrier,
                        "occurred_at": e.occurred_at.isoformat(), "status": e.status.value,
                        "description": e.description} for e in push.events],
                      ensure_ascii=False).encode()


def _send(port: int, requests: list[tuple[str, bytes, dict[str, str]]], figures: Figures,
          senders: int = SENDERS) -> None:
    todo: queue.SimpleQueue[tuple[str, bytes, dict[str, str]]] = queue.SimpleQueue()
    for r in requests:
        todo.put(r)
    failed = [0]
    lock = threading.Lock()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                path, body, headers = todo.get_nowait()
            except queue.Empty:
                break
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                with lock:
                    failed[0] += 1
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    figures.seconds = time.perf_counter() - started
    figures.requests = len(requests)
    figures.failed = failed[0]


def _writer(base: str) -> tuple[float, int]:
    """The server's writer so far: seconds spent on batches, and how many."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    found = {}
    for line in text.splitlines():
        if line.startswith(("parcelguard_batch_commit_seconds_sum ",
                            "parcelguard_batch_commit_seconds_count ")):
            name, value = line.split()
            found[name] = float(value)
    return (found.get("parcelguard_batch_commit_seconds_sum", 0.0),
            int(found.get("parcelguard_batch_commit_seconds_count", 0)))


def run(parcels: int, port: int, senders: int = SENDERS) -> list[Figures]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(Path(tmp), port)
        key: str = proc.key  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{port}"
        try:
            made = httpx.post(f"{base}/v1/carrier-endpoints", headers={
                "Authorization": f"Bearer {key}"}, json={
                "format": "kdniao", "secret": kdniao_bench.APP_KEY}, timeout=30)
            made.raise_for_status()
            path = made.json()["path"]
            pushed, own, cold = (_numbers(p, parcels) for p in ("SF", "JT", "YT"))
            _register(base, key, pushed + own + cold)
            form = {"Content-Type": FORM}
            api = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

            # traces of today, as pushed live: the tenth (delivered) about now, in Beijing time
            start = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=8 - 9)

            def trace(traces: int, tn: str) -> bytes:
                return kdniao_bench.build(traces, tn, start, timedelta(hours=1))

            def pushes(numbers: list[str], traces: int) -> list[tuple[str, bytes, dict[str, str]]]:
                return [(path, trace(traces, tn), form) for tn in numbers]

            def ours(numbers: list[str], traces: int) -> list[tuple[str, bytes, dict[str, str]]]:
                return [("/v1/events", _own_format(trace(traces, tn)), api) for tn in numbers]

            _send(port, pushes(pushed, 9) + ours(own, 9), Figures("warm-up"), senders)
            out = []
            for name, requests in (
                    ("POST /v1/events (our format)", ours(own, 10)),
                    ("Kdniao pushes to /v1/hooks", pushes(pushed, 10)),
                    ("Kdniao pushes, all 10 new", pushes(cold, 10))):
                figures = Figures(name)
                seconds, batches = _writer(base)
                _send(port, requests, figures, senders)
                after = _writer(base)
                figures.writer_seconds, figures.batches = after[0] - seconds, after[1] - batches
                out.append(figures)
            return out
        finally:
            proc.terminate()
            proc.wait(30)


def report(runs: list[Figures], parcels: int, senders: int = SENDERS) -> list[str]:
    base, hooks, cold = runs
    lines = [f"[carrier pushes] {parcels:,} parcels, 10-item traces (9 pushed before: one new "
             f"item each), {senders} connections, server on SQLite in its own process"]
    for f in runs:
        lines.append(f"  {f.name:<30} {f.rate:8,.0f} requests/s  {f.rate * 10:9,.0f} items/s  "
                     f"({f.requests:,} requests, {f.failed} failed)")
        busy = f.writer_seconds / f.seconds * 100 if f.seconds else 0.0
        per = f.writer_seconds / f.batches * 1000 if f.batches else 0.0
        lines.append(f"    writer busy {busy:.0f}% of the run: {f.batches:,} batches of "
                     f"{f.requests / max(f.batches, 1):.1f} requests, {per:.1f} ms each")
    lines.append(f"  pushes / own API = {hooks.rate / base.rate:.2f}")
    lines.append(f"  cold pushes (all new) / own API = {cold.rate / base.rate:.2f}")
    return lines

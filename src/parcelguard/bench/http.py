"""HTTP ingest benchmark: `POST /v1/events` with arrays of 1000 on loopback.

A real server (`parcelguard serve`, its own process, SQLite) takes the simulated stream from
several concurrent senders; each sender owns a share of the parcels, so per-parcel order holds.
The baseline, in this process, is the in-process pipeline on the same data in a fresh store:
the ratio says what HTTP, JSON parsing in the request path and the event loop cost.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

from parcelguard.bench import common
from parcelguard.bench import ingest as inproc

SENDERS = 4


def start_server(data_dir: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    """``parcelguard serve`` in its own process on a fresh SQLite store, with an admin key
    for tenant ``bench`` (as ``proc.key``); ``extra`` are more PARCELGUARD_ settings."""
    env = {**os.environ, "PARCELGUARD_DATA_DIR": str(data_dir), "PARCELGUARD_PORT": str(port),
           "PARCELGUARD_LEDGER_KEY": common.throwaway_key(),
           "PARCELGUARD_DATA_KEY": common.throwaway_key(), "PARCELGUARD_LOG_LEVEL": "warning",
           **{f"PARCELGUARD_{k.upper()}": v for k, v in extra.items()}}
    cli = [sys.executable, "-m", "parcelguard.cli"]
    subprocess.run([*cli, "tenants", "create", "bench"], env=env, check=True, capture_output=True)
    key = subprocess.run([*cli, "keys", "create", "--tenant", "bench", "--role", "admin"], env=env,
                         check=True, capture_output=True, text=True).stdout.strip()
    env["BENCH_KEY"] = key
    proc = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    proc.key = key  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not become ready")


def _share(lines: list[dict[str, Any]], senders: int) -> list[list[tuple[str, bytes, int]]]:
    """Each sender's request bodies: the parcels whose number hashes to it, in order."""
    parts: list[list[dict[str, Any]]] = [[] for _ in range(senders)]
    for line in lines:
        parts[zlib.crc32(str(line["tracking_no"]).encode()) % senders].append(line)
    return [[(kind, body, n) for kind, body, n, _ in inproc._bodies(part)] for part in parts]


async def _send(base: str, key: str, bodies: list[tuple[str, bytes, int]]) -> int:
    routes = {"shipment": "/v1/shipments", "event": "/v1/events"}
    sent = 0
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for kind, payload, n in bodies:
            r = await client.post(routes[kind], content=payload, headers=headers)
            r.raise_for_status()
            sent += n if kind == "event" else 0
    return sent


def run(events: int, port: int = 8765) -> tuple[float, float]:
    """(HTTP events/s, in-process pipeline events/s) on the same data."""
    lines = list(common.simulated(events))
    shares = _share(lines, SENDERS)
    with tempfile.TemporaryDirectory(prefix="pg-http-") as tmp:
        proc = start_server(Path(tmp), port)
        try:
            started = time.perf_counter()
            sent = asyncio.run(_gather(f"http://127.0.0.1:{port}", proc.key, shares))  # type: ignore[attr-defined]
            http_rate = sent / (time.perf_counter() - started)
        finally:
            proc.terminate()
            proc.wait(30)
    figures = inproc.Figures("sqlite")
    with common.fresh_store("sqlite", "") as (url, data_dir):
        inproc.pipeline_run("sqlite", url, data_dir, events, figures)
    return http_rate, figures.rate


async def _gather(base: str, key: str, shares: list[list[tuple[str, bytes, int]]]) -> int:
    counts = await asyncio.gather(*(_send(base, key, bodies) for bodies in shares))
    return sum(counts)


def report(events: int, http_rate: float, inproc_rate: float) -> list[str]:
    return [
        f"[http] {events:,} events in arrays of {inproc.BATCH}, {SENDERS} concurrent senders, "
        "server on SQLite in its own process",
        f"  POST /v1/events: {http_rate:,.0f} events/s",
        f"  in-process pipeline on the same data: {inproc_rate:,.0f} events/s; "
        f"HTTP / in-process = {http_rate / inproc_rate:.2f}",
    ]

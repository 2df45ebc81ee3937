"""What the benchmarks share: fresh stores, throwaway keys, simulated data, figures."""

from __future__ import annotations

import base64
import json
import os
import resource
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from parcelguard.config import Settings
from parcelguard.simulator.scenario import SimConfig, Simulation

EVENTS_PER_SHIPMENT = 21.6  # what the simulator produces on average with telemetry off
SIM_START = datetime(2026, 11, 1, tzinfo=UTC)


def throwaway_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def settings(url: str, data_dir: Path) -> Settings:
    return Settings(database_url=url, data_dir=data_dir, ledger_key=throwaway_key(),
                    data_key=throwaway_key())


@contextmanager
def fresh_store(backend: str, pg_url: str) -> Iterator[tuple[str, Path]]:
    """A new, empty database: a SQLite file in a temp dir, or a PostgreSQL schema."""
    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        if backend == "sqlite":
            yield f"sqlite:///{tmp}/bench.db", Path(tmp)
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            base = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}?options=-csearch_path%3D{schema}", Path(tmp)
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def simulated(events: int, seed: int = 11) -> Iterator[dict[str, object]]:
    """About ``events`` scan events (and their shipments), in arrival order, no telemetry."""
    shipments = max(1, round(events / EVENTS_PER_SHIPMENT))
    config = SimConfig(seed=seed, shipments=shipments, start=SIM_START,
                       span=timedelta(days=max(1.0, shipments / 50_000)), telemetry=False,
                       anomaly_rate=0.05)
    count = 0
    for line in Simulation(config).lines():
        if line["type"] == "event":
            count += 1
            if count > events:
                return
        yield line


def body(lines: list[dict[str, object]]) -> bytes:
    """A request body as a sender would post it (arrival stamps are the server's)."""
    return json.dumps(
        [{k: v for k, v in line.items() if k not in ("type", "received_at")} for line in lines],
        ensure_ascii=False,
    ).encode()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    label: str
    value: str


def bus_recording(shipments: int) -> list[bytes]:
    """A simulated half day for the bus drills and benchmarks: replay lines, mostly sensor
    telemetry (cold chain loggers, vehicle GPS), with clock lines every 30 minutes."""
    config = SimConfig(seed=11, shipments=shipments, start=datetime.fromisoformat(
        "2026-11-21T00:00:00+08:00"), span=timedelta(hours=12), anomaly_rate=0.3,
        clock_every=timedelta(minutes=30))
    return [json.dumps(line, ensure_ascii=False).encode() for line in Simulation(config).lines()]


def facility_places(lines: list[bytes], tenant: str) -> list[tuple[str, str, float, float]]:
    """The hub network's positions as the scans give them, to register before a run."""
    found: dict[str, tuple[float, float]] = {}
    for raw in lines:
        loc = json.loads(raw).get("location") or {}
        if loc.get("facility_id") and loc.get("lat") is not None:
            found[loc["facility_id"]] = (loc["lat"], loc["lon"])
    return [(tenant, f, lat, lon) for f, (lat, lon) in sorted(found.items())]

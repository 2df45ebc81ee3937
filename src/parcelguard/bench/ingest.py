"""Ingest benchmark: the real pipeline against bare batched inserts of the same rows.

For each backend it streams simulated scans (with their shipments) through the pipeline as
an HTTP handler would (decode the body, submit, wait for the commit), in batches of 1000,
and reports events/s over the first 200,000 events and over the whole run, the p99 time of a
batch (process + commit), and peak memory. Then, in the same process, it copies exactly the
rows the pipeline wrote (events, ledger entries, shipments) into a fresh store of the same
kind with plain executemany + one commit per batch, and prints the ratio of the two rates.
With a million events stored it also times the timeline query of random shipments.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parcelguard import bootstrap
from parcelguard.bench import common
from parcelguard.ingest import wire
from parcelguard.services import queries
from parcelguard.services.clock import ManualClock
from parcelguard.storage import migrate
from parcelguard.storage import tables as t
from parcelguard.storage.sql import SqlStore

TENANT = "bench"
BATCH = 1000
FIRST_WINDOW = 200_000
CHUNK_LINES = 100_000


@dataclass
class Figures:
    backend: str
    events: int = 0
    shipments: int = 0
    seconds: float = 0.0
    first_window_rate: float = 0.0
    batch_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    bare_rate: float = 0.0
    timeline_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _bodies(lines: list[dict[str, Any]]) -> Iterator[tuple[str, bytes, int, datetime]]:
    """Request bodies of BATCH events, each preceded by the shipments registered before it
    (a shipment's line always comes before its events, so order per parcel is kept), with
    when the body arrives: the last line's simulated arrival."""
    shipments: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def flush() -> Iterator[tuple[str, bytes, int, datetime]]:
        for i in range(0, len(shipments), BATCH):
            part = shipments[i : i + BATCH]
            yield "shipment", common.body(part), len(part), _arrival(part[-1])
        if events:
            yield "event", common.body(events), len(events), _arrival(events[-1])
        shipments.clear()
        events.clear()

    for line in lines:
        (shipments if line["type"] == "shipment" else events).append(line)
        if len(events) == BATCH:
            yield from flush()
    yield from flush()


def _arrival(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(line["received_at"]))


def _chunks(events: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for line in common.simulated(events):
        chunk.append(line)
        if len(chunk) == CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def pipeline_run(backend: str, url: str, data_dir: Any, events: int, out: Figures,
                 prepare: Callable[[bootstrap.System], None] | None = None) -> list[str]:
    """Stream ``events`` through the pipeline; ``prepare`` adjusts the system first."""
    # the server's clock follows the simulated arrivals, as it would with live traffic, so rule
    # deadlines fall due as they would in production and not all at once
    clock = ManualClock(common.SIM_START)
    system = bootstrap.build(common.settings(url, data_dir), clock=clock)
    system.start()
    with system.store.unit_of_work() as uow:
        uow.tenants.add(TENANT, TENANT, 0)
        uow.commit()
    if prepare is not None:
        prepare(system)
    numbers: list[str] = []
    try:
        for chunk in _chunks(events):
            numbers.extend(str(line["tracking_no"]) for line in chunk if line["type"] == "shipment")
            prepared = list(_bodies(chunk))  # serialising is the sender's work: not timed
            for kind, payload, n, arrival in prepared:
                clock.advance_to(arrival)
                started = time.perf_counter()
                if kind == "shipment":
                    items, _ = wire.split(payload)
                    cmds: list[Any] = [wire.to_register(wire.decode(i, wire.WireShipment), TENANT,
                                                        system.encode) for i in items]
                else:
                    cmds, _ = wire.events(payload, TENANT, clock.now())
                submitted = time.perf_counter()
                system.pipeline.submit_sync(cmds)
                done = time.perf_counter()
                out.seconds += done - started
                if kind == "event":
                    out.events += n
                    out.batch_ms.append((done - submitted) * 1000)
                    if not out.first_window_rate and out.events >= FIRST_WINDOW:
                        out.first_window_rate = out.events / out.seconds
                else:
                    out.shipments += n
        if not out.first_window_rate:
            out.first_window_rate = out.rate
        out.peak_rss_mb = common.peak_rss_mb()
        if out.events >= 1_000_000 or events <= 300_000:
            out.timeline_ms = _timelines(system, numbers)
    finally:
        system.stop()
    return numbers


def _timelines(system: bootstrap.System, numbers: list[str], samples: int = 500) -> list[float]:
    picks = random.Random(5).sample(numbers, min(samples, len(numbers)))
    took = []
    for tn in picks:
        started = time.perf_counter()
        with system.store.unit_of_work(write=False) as uow:
            queries.timeline(uow, TENANT, tn)
        took.append((time.perf_counter() - started) * 1000)
    return took


def bare_run(src_url: str, dst_url: str, events: int) -> float:
    """Seconds to insert the pipeline's rows into a fresh store, batch by batch."""
    src, dst = SqlStore.connect(src_url), SqlStore.connect(dst_url)
    migrate.upgrade(dst.engine)
    tables = [t.tenants, t.shipments, t.events, t.ledger_entries]
    took = 0.0
    try:
        with src.engine.connect() as read:
            with dst.engine.begin() as w:
                rows = read.execute(t.tenants.select()).all()
                w.execute(t.tenants.insert(), [r._asdict() for r in rows])
            # shipments first (events refer to them), then events with their ledger entries
            per_batch = {tbl.name: max(1, round(_count(read, tbl) * BATCH / max(events, 1)))
                         for tbl in tables[2:]}
            per_batch["shipments"] = BATCH
            phases = [{"shipments": _stream(read, t.shipments)},
                      {tbl.name: _stream(read, tbl) for tbl in tables[2:]}]
            raw = dst.engine.raw_connection()
            try:
                for readers in phases:
                    took += _copy(raw, dst, readers, per_batch)
            finally:
                raw.close()
    finally:
        src.close()
        dst.close()
    return took


def _copy(raw: Any, dst: SqlStore, readers: dict[str, Iterator[dict[str, Any]]],
          per_batch: dict[str, int]) -> float:
    took = 0.0
    while True:
        batch = {name: _take(it, per_batch[name]) for name, it in readers.items()}
        if not any(batch.values()):
            return took
        prepared = []
        for name, rows in batch.items():
            if rows:
                cols = list(rows[0].keys())
                sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                if dst.engine.dialect.paramstyle != "qmark":
                    sql = sql.replace("?", "%s")
                prepared.append((sql, [tuple(r[c] for c in cols) for r in rows]))
        started = time.perf_counter()
        cur = raw.cursor()
        if dst.engine.dialect.name == "sqlite":
            cur.execute("BEGIN")  # our SQLite connections are in autocommit until told
        for sql, params in prepared:
            cur.executemany(sql, params)
        raw.commit()
        took += time.perf_counter() - started


def _count(conn: Any, table: Any) -> int:
    import sqlalchemy as sa

    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _stream(conn: Any, table: Any) -> Iterator[dict[str, Any]]:
    key = table.c.idx if "idx" in table.c else table.c.id
    result = conn.execution_options(yield_per=5000).execute(table.select().order_by(key))
    for row in result:
        yield dict(row._mapping)


def _take(it: Iterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out = []
    for row in it:
        out.append(row)
        if len(out) == n:
            break
    return out


def run(backend: str, events: int, pg_url: str) -> Figures:
    figures = Figures(backend)
    with common.fresh_store(backend, pg_url) as (url, data_dir):
        pipeline_run(backend, url, data_dir, events, figures)
        with common.fresh_store(backend, pg_url) as (bare_url, _):
            figures.bare_rate = figures.events / bare_run(url, bare_url, figures.events)
    return figures


def report(f: Figures) -> list[str]:
    ratio = f.rate / f.bare_rate if f.bare_rate else float("nan")
    lines = [
        f"[{f.backend}] {f.events:,} events ({f.shipments:,} shipments registered in the same stream)",
        f"  pipeline: {f.rate:,.0f} events/s overall, {f.first_window_rate:,.0f} events/s over "
        f"the first {min(f.events, FIRST_WINDOW):,}",
        f"  batch of {BATCH} (process + commit): p50 {common.median(f.batch_ms):.1f} ms, "
        f"p99 {common.quantile(f.batch_ms, 0.99):.1f} ms",
        f"  bare inserts of the same rows: {f.bare_rate:,.0f} events/s; "
        f"pipeline / bare = {ratio:.2f}",
        f"  peak memory (RSS): {f.peak_rss_mb:,.0f} MB",
    ]
    if f.timeline_ms:
        lines.append(f"  timeline query with {f.events:,} events stored: median "
                     f"{common.median(f.timeline_ms):.2f} ms, p99 "
                     f"{common.quantile(f.timeline_ms, 0.99):.2f} ms")
    return lines

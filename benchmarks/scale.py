"""Bus mode scaling (issue 7): the same recording applied by one worker, then by two.

The recording (a simulated day, mostly sensor telemetry) is published to a fresh JetStream
stream first, so the figure is the workers' own rate: from their first commit until every
partition's committed position reaches the end of its subject. Each run gets a fresh
PostgreSQL schema and stream. Needs PostgreSQL on 127.0.0.1:5432 and NATS on 4222.

    .venv/bin/python benchmarks/scale.py --shipments 330 --partitions 8

The machine has 2 cores: two workers share them with PostgreSQL, NATS and each other, so the
ratio says how much of a second core a second worker turns into throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nats
import psycopg
from nats.js.errors import NotFoundError

from parcelguard.bench.common import bus_recording, facility_places
from parcelguard.bus.codec import Codec
from parcelguard.bus.publisher import BusPipeline, Router
from parcelguard.bus.stream import StreamSpec
from parcelguard.crypto import canonical
from parcelguard.crypto.keys import AesGcmVault
from parcelguard.domain import times
from parcelguard.ingest.replay import Replay
from parcelguard.services.clock import ManualClock
from parcelguard.storage import migrate
from parcelguard.storage.sql import SqlStore

PG = os.environ.get("PARCELGUARD_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
NATS_URL = "nats://127.0.0.1:4222"
KEY = base64.b64encode(b"\x05" * 32).decode()


class Run:
    def __init__(self, partitions: int, data_dir: Path) -> None:
        tag = uuid.uuid4().hex[:10]
        self.schema, self.stream, self.prefix = f"bench_{tag}", f"BENCH_{tag}", f"bench.{tag}"
        self.partitions, self.data_dir = partitions, data_dir
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        base = PG.replace("postgresql://", "postgresql+psycopg://", 1)
        self.url = f"{base}?options=-csearch_path%3D{self.schema}"
        self.store = SqlStore.connect(self.url)
        migrate.upgrade(self.store.engine)
        self.spec = StreamSpec(self.stream, self.prefix, partitions)

    def env(self) -> dict[str, str]:
        return os.environ | {
            "PARCELGUARD_DATABASE_URL": self.url, "PARCELGUARD_BUS_URL": NATS_URL,
            "PARCELGUARD_BUS_STREAM": self.stream, "PARCELGUARD_BUS_SUBJECT_PREFIX": self.prefix,
            "PARCELGUARD_BUS_PARTITIONS": str(self.partitions), "PARCELGUARD_LEDGER_KEY": KEY,
            "PARCELGUARD_DATA_KEY": KEY, "PARCELGUARD_DATA_DIR": str(self.data_dir),
            "PARCELGUARD_MQTT_ENABLED": "false", "PARCELGUARD_WEBHOOKS_ENABLED": "false",
            "PARCELGUARD_LOG_LEVEL": "warning", "PARCELGUARD_ETA_LEARNING": "start",
        }

    def publish(self, lines: list[bytes], facilities: list[tuple[str, str, float, float]]) -> int:
        with self.store.unit_of_work() as uow:
            uow.tenants.add("acme", "ACME", 0)
            uow.events.save_places(facilities)
            uow.commit()
        feeders = 4

        def feed(mine: frozenset[int]) -> None:
            sender = BusPipeline(NATS_URL, self.spec, Codec(AesGcmVault(base64.b64decode(KEY))),
                                 Router(self.store, self.partitions, mine), reply_timeout_s=0)
            sender.start()
            try:
                Replay(None, ManualClock(times.parse("2026-11-01T00:00:00Z", "start")), "acme",
                       canonical.encode, send=sender.submit_sync).feed(lines)
            finally:
                sender.stop()

        threads = [threading.Thread(target=feed, args=(frozenset(
            p for p in range(self.partitions) if p % feeders == f),)) for f in range(feeders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(asyncio.run(self._subject_counts()).values())

    async def _subject_counts(self) -> dict[str, int]:
        nc = await nats.connect(NATS_URL)
        info = await nc.jetstream().stream_info(self.stream, subjects_filter=">")
        await nc.close()
        return dict(info.state.subjects or {})

    async def last(self) -> dict[int, int]:
        nc = await nats.connect(NATS_URL)
        js, out = nc.jetstream(), {}
        for p in range(self.partitions):
            try:
                out[p] = (await js.get_last_msg(self.stream, self.spec.subject(p))).seq or 0
            except NotFoundError:
                out[p] = 0
        await nc.close()
        return out

    def apply(self, workers: int) -> float:
        """Seconds from the first commit to the last, with ``workers`` processes."""
        last = asyncio.run(self.last())
        share = [list(range(self.partitions))[i::workers] for i in range(workers)]
        procs = [subprocess.Popen(
            [sys.executable, "-m", "parcelguard", "worker", "--clock", "event", "--partitions",
             ",".join(map(str, ps))], env=self.env()) for ps in share]
        try:
            started = None
            while True:
                with self.store.unit_of_work(write=False) as uow:
                    done = uow.offsets.all(self.stream)
                if started is None and done:
                    started = time.perf_counter()
                if done == last:
                    return time.perf_counter() - (started or time.perf_counter())
                time.sleep(0.05)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)

    def close(self) -> None:
        self.store.close()

        async def drop() -> None:
            nc = await nats.connect(NATS_URL)
            await nc.jetstream().delete_stream(self.stream)
            await nc.close()
        asyncio.run(drop())
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=330)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    lines = bus_recording(args.shipments)
    facilities = facility_places(lines, "acme")
    print(f"recording: {len(lines):,} lines, {args.partitions} partitions, "
          f"{os.cpu_count()} cores")
    rates = {}
    for workers in (1, 2):
        run = Run(args.partitions, Path(f"/tmp/parcelguard-scale-{workers}"))
        try:
            messages = run.publish(lines, facilities)
            seconds = run.apply(workers)
        finally:
            run.close()
        rates[workers] = len(lines) / seconds
        print(f"{workers} worker(s): {len(lines):,} recorded lines ({messages:,} JetStream "
              f"messages) in {seconds:.1f} s = {rates[workers]:,.0f} recorded lines/s")
    print(f"two workers / one worker: {rates[2] / rates[1]:.2f}x")
    print("(a message carries a request's commands for one partition; a vehicle's reading goes "
          "to every partition: the vehicle's own stores it, the others apply it to their "
          "parcels aboard)")


if __name__ == "__main__":
    main()

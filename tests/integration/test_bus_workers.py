"""Bus mode end to end against the real NATS JetStream and PostgreSQL: API nodes publish,
``parcelguard worker`` processes (real subprocesses) apply, and what a killed worker had in
hand is applied exactly once after its restart."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from parcelguard import bootstrap
from parcelguard.storage import migrate
from parcelguard.storage.sql import SqlStore
from tests.conftest import KEY_A, KEY_B, Server, make_keys, run_server, settings_for
from tests.factories import event_json, shipment_json
from tests.integration.test_bus import NATS_URL, _connect, pg_url  # noqa: F401 - fixtures

PARTITIONS = 4


@dataclass
class Bus:
    """One test's stream (its own name and subjects) over one PostgreSQL schema."""

    db_url: str
    data_dir: Path
    stream: str
    prefix: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return os.environ | {
            "PARCELGUARD_DATABASE_URL": self.db_url, "PARCELGUARD_BUS_URL": NATS_URL,
            "PARCELGUARD_BUS_STREAM": self.stream, "PARCELGUARD_BUS_SUBJECT_PREFIX": self.prefix,
            "PARCELGUARD_BUS_PARTITIONS": str(PARTITIONS), "PARCELGUARD_LEDGER_KEY": KEY_A,
            "PARCELGUARD_DATA_KEY": KEY_B, "PARCELGUARD_DATA_DIR": str(self.data_dir),
            "PARCELGUARD_MQTT_ENABLED": "false", "PARCELGUARD_WEBHOOKS_ENABLED": "false",
            "PARCELGUARD_LOG_LEVEL": "warning",
        }

    def start_worker(self, name: str, partitions: str, *extra: str) -> None:
        with (self.data_dir / f"worker-{name}.log").open("ab") as log:
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "parcelguard", "worker", "--partitions", partitions, *extra],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.workers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.workers.clear()

    def settings(self, **extra: object) -> object:
        return settings_for(self.db_url, self.data_dir, bus_url=NATS_URL, bus_stream=self.stream,
                            bus_subject_prefix=self.prefix, bus_partitions=PARTITIONS, **extra)


@pytest.fixture
def bus(pg_url: str, tmp_path: Path) -> Iterator[Bus]:  # noqa: F811
    import asyncio

    tag = uuid.uuid4().hex[:10]
    store = SqlStore.connect(pg_url)
    migrate.upgrade(store.engine)  # once, before several processes open the schema
    store.close()
    b = Bus(pg_url, tmp_path, f"PGTEST_{tag}", f"pgtest.{tag}")
    yield b
    b.stop_all()

    async def drop() -> None:
        nc = await _connect()
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(b.stream)
        await nc.close()
    asyncio.run(drop())


@pytest.fixture
def api(bus: Bus) -> Iterator[Server]:
    node = bootstrap.build(bus.settings())  # type: ignore[arg-type]
    assert node.bus_node
    keys = make_keys(node)
    node.start()
    srv, thread, url = run_server(node)
    running = Server(url, node, keys)
    try:
        yield running
    finally:
        running.close()
        srv.should_exit = True
        thread.join(10)
        node.stop()


def until(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def test_requests_through_the_bus_get_the_writers_answers(bus: Bus, api: Server) -> None:
    bus.start_worker("a", f"0-{PARTITIONS - 1}")
    client = api.client()
    created = client.post("/v1/shipments", json=shipment_json("SF1400000001"))
    assert created.status_code == 201, created.text
    assert created.json()["tracking_no"] == "SF1400000001"
    assert client.post("/v1/shipments", json=shipment_json("SF1400000001")).status_code == 200
    events = [event_json("SF1400000001", hours=h, event_id=f"e{h}") for h in range(3)]
    answer = client.post("/v1/events", json=[*events, event_json("SF9999999999", event_id="x")])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"], body["queued"]) == (3, 1, 0)
    assert body["items"][0]["field"] == "tracking_no"
    again = client.post("/v1/events", json=events).json()
    assert (again["accepted"], again["duplicate"]) == (0, 3)
    timeline = client.get("/v1/shipments/SF1400000001/timeline").json()
    assert [e["event_id"] for e in timeline["events"]] == ["e0", "e1", "e2"]

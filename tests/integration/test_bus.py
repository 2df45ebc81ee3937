"""Bus mode against the real PostgreSQL and NATS: writers sharing one custody ledger, and the
stream checks that keep acknowledged commands durable."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from parcelguard import bootstrap
from parcelguard.bus.codec import Codec
from parcelguard.bus.publisher import BusPipeline, Router
from parcelguard.bus.stream import StreamSpec, ensure
from parcelguard.crypto.keys import AesGcmVault
from parcelguard.domain.errors import Unavailable
from parcelguard.domain.ledger import entry as ledger_entry
from parcelguard.ingest import wire
from parcelguard.services import ledger
from parcelguard.services.clock import ManualClock
from parcelguard.services.messages import Command, RecordScan, Result
from tests.conftest import T0, _drop_schema, _need, _schema_url, run_aside, settings_for
from tests.factories import at, event_json, shipment_json

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield _schema_url(pg_admin, schema)
    finally:
        _drop_schema(pg_admin, schema)


def writer(url: str, data_dir: Path) -> bootstrap.System:
    """A worker's writer: its own process state, the store and its ledger shared."""
    sys = bootstrap.build(settings_for(url, data_dir, checkpoint_every=25), clock=ManualClock(T0))
    sys.ingestor.ledger.shared = True
    sys.ingestor.start()
    return sys


def register(sys: bootstrap.System, tn: str) -> Command:
    w = wire.decode(json.dumps(shipment_json(tn)).encode(), wire.WireShipment)
    return wire.to_register(w, "acme", sys.encode)


def scans(tn: str, n: int) -> list[Command]:
    out: list[Command] = []
    for i in range(n):
        body: dict[str, Any] = event_json(tn, hours=i / 60, event_id=f"{tn}-{i}")
        w = wire.decode(json.dumps(body).encode(), wire.WireEvent)
        out.append(RecordScan("acme", wire.to_event(w), at(i / 60 + 0.01)))
    return out


def test_writers_sharing_a_store_append_to_one_verifiable_ledger(pg_url: str, tmp_path: Path) -> None:
    """Two writers commit at the same time: every entry lands once, in one chain, every
    stored row cites its own entry, and the checkpoints both signed verify."""
    a, b = writer(pg_url, tmp_path / "a"), writer(pg_url, tmp_path / "b")
    with a.store.unit_of_work() as uow:
        uow.tenants.add("acme", "Acme", 0)
        uow.commit()

    def feed(sys: bootstrap.System, tns: list[str]) -> None:
        for tn in tns:
            (out,) = sys.ingestor.process([[register(sys, tn)]])[0]
            assert out.result is Result.ACCEPTED, out
            commands = scans(tn, 40)
            for i in range(0, 40, 8):
                outcomes = sys.ingestor.process([commands[i:i + 8]])[0]
                assert {o.result for o in outcomes} == {Result.ACCEPTED}

    threads = [threading.Thread(target=feed, args=(a, [f"SFA{i:04d}" for i in range(10)])),
               threading.Thread(target=feed, args=(b, [f"SFB{i:04d}" for i in range(10)]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        with a.store.unit_of_work(write=False) as uow:
            assert uow.ledger.size() == 20 * (1 + 40)
            assert ledger.verify_store(uow, a.check) == []
            assert len(uow.ledger.checkpoints()) >= 20  # every 25 entries or more, by batch
            for tn in ("SFA0003", "SFB0007"):
                sid = uow.shipments.get("acme", tn).id  # type: ignore[union-attr]
                for stored in uow.events.of(sid):
                    cited = uow.ledger.entry(stored.ledger_index)
                    assert cited is not None
                    assert cited.kind == ledger_entry.Kind.SCAN_RECORDED
                    assert stored.event.event_id in cited.body.decode()
    finally:
        a.store.close()
        b.store.close()


@pytest.fixture
def js_spec() -> Iterator[StreamSpec]:
    """A stream name and subjects of this test's own, deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    spec = StreamSpec(name=f"PGTEST_{tag}", prefix=f"pgtest.{tag}", partitions=4)
    yield spec

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(spec.name)
        await nc.close()
    run_aside(drop)


async def _connect() -> Any:
    try:
        return await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
    except Exception as exc:
        _need("NATS with JetStream on 127.0.0.1:4222", str(exc))


def test_the_stream_is_created_durable_and_an_unsafe_one_is_refused(js_spec: StreamSpec) -> None:
    async def run() -> None:
        nc = await _connect()
        js = nc.jetstream()
        try:
            info = await ensure(js, js_spec)
            assert info.config.storage == StorageType.FILE
            assert info.config.duplicate_window == js_spec.duplicate_window_s
            assert (await ensure(js, js_spec)).config.name == js_spec.name  # accepted as it is
            await js.delete_stream(js_spec.name)
            await js.add_stream(StreamConfig(name=js_spec.name, subjects=js_spec.subjects,
                                             storage=StorageType.MEMORY, duplicate_window=5))
            with pytest.raises(Unavailable) as refused:
                await ensure(js, js_spec)
            message = refused.value.message
            assert "memory" in message
            assert "use file storage" in message
            assert "duplicate window is 5 s" in message
            assert f"nats stream edit {js_spec.name}" in message
            assert "sync_interval: always" in message
            # the partition count is the stream's: a process set for another is refused
            await js.delete_stream(js_spec.name)
            await js.add_stream(StreamConfig(name=js_spec.name, subjects=js_spec.subjects,
                                             storage=StorageType.FILE, duplicate_window=600))
            made = await ensure(js, js_spec)  # made before the count was kept: recorded now
            assert (made.config.description or "").endswith(": 4 partitions")
            with pytest.raises(Unavailable) as refused:
                await ensure(js, dataclasses.replace(js_spec, partitions=8))
            assert ("it was made for 4 partitions and this process is set for 8: set "
                    "PARCELGUARD_BUS_PARTITIONS=4") in refused.value.message
            # an old stream already used by more partitions than this process knows
            await js.delete_stream(js_spec.name)
            await js.add_stream(StreamConfig(name=js_spec.name, subjects=js_spec.subjects,
                                             storage=StorageType.FILE, duplicate_window=600))
            await js.publish(js_spec.subject(5), b"{}")
            with pytest.raises(Unavailable) as refused:
                await ensure(js, js_spec)
            assert "it holds messages for partition 5" in refused.value.message
        finally:
            await nc.close()
    run_aside(run)


def test_stopping_an_api_node_lets_requests_on_their_way_finish(js_spec: StreamSpec) -> None:
    """No worker answers: a request sent just before the node stops is still stored and told
    `queued` when its wait ends, instead of being left waiting for ever."""
    node = BusPipeline(NATS_URL, js_spec, Codec(AesGcmVault(b"\x07" * 32)),
                       Router(None, js_spec.partitions), reply_timeout_s=1.0)  # type: ignore[arg-type]
    node.start()
    scans = [RecordScan("acme", wire.to_event(wire.decode(json.dumps(event_json(
        f"SF80000000{i:02d}", 1)).encode(), wire.WireEvent)), T0) for i in range(20)]
    sending = node.submit_future(scans)
    node.stop()
    assert sending.done()
    assert {o.result for o in sending.result()} == {Result.QUEUED}

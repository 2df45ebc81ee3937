"""Bus mode end to end against the real NATS JetStream and PostgreSQL: API nodes publish,
``parcelguard worker`` processes (real subprocesses) apply, and what a killed worker had in
hand is applied exactly once after its restart."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from nats.js.errors import NotFoundError

from parcelguard import bootstrap
from parcelguard.bench.common import bus_recording, facility_places
from parcelguard.bus import status
from parcelguard.bus.codec import Codec
from parcelguard.bus.publisher import BusPipeline, Router
from parcelguard.bus.stream import StreamSpec
from parcelguard.crypto import canonical
from parcelguard.crypto.keys import AesGcmVault, Ed25519Check, Ed25519Signer
from parcelguard.domain import times
from parcelguard.ingest.replay import Replay
from parcelguard.services import ledger
from parcelguard.services.clock import ManualClock
from parcelguard.services.partitions import partition_of
from parcelguard.services.ports import Store
from parcelguard.storage import migrate, tables
from parcelguard.storage.sql import SqlStore
from tests.conftest import KEY_A, KEY_B, Server, free_port, run_aside, serving, settings_for
from tests.factories import event_json, shipment_json
from tests.integration.test_bus import NATS_URL, _connect, pg_url  # noqa: F401 - fixtures
from tests.integration.test_delivery import Inbox
from tests.integration.test_webhook_delivery import Receiver, subscribe

PARTITIONS = 4


@dataclass
class Bus:
    """One test's stream (its own name and subjects) over one PostgreSQL schema."""

    db_url: str
    data_dir: Path
    stream: str
    prefix: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)  # the workers' own settings

    def env(self) -> dict[str, str]:
        return os.environ | {
            "PARCELGUARD_DATABASE_URL": self.db_url, "PARCELGUARD_BUS_URL": NATS_URL,
            "PARCELGUARD_BUS_STREAM": self.stream, "PARCELGUARD_BUS_SUBJECT_PREFIX": self.prefix,
            "PARCELGUARD_BUS_PARTITIONS": str(PARTITIONS), "PARCELGUARD_LEDGER_KEY": KEY_A,
            "PARCELGUARD_DATA_KEY": KEY_B, "PARCELGUARD_DATA_DIR": str(self.data_dir),
            "PARCELGUARD_MQTT_ENABLED": "false", "PARCELGUARD_WEBHOOKS_ENABLED": "false",
            "PARCELGUARD_LOG_LEVEL": "warning", "PARCELGUARD_ETA_LEARNING": "off",
        } | self.extra_env

    def start_worker(self, name: str, partitions: str, *extra: str) -> None:
        with (self.data_dir / f"worker-{name}.log").open("ab") as log:
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "parcelguard", "worker", "--partitions", partitions, *extra],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, partitions: int) -> None:
        """Until workers hold this many partitions and read them (they will answer now)."""
        store = SqlStore.connect(self.db_url)
        spec = StreamSpec(self.stream, self.prefix, PARTITIONS)

        async def reading() -> int:
            nc = await _connect()
            try:
                return sum(1 for r in await status.partitions(nc.jetstream(), spec, store)
                           if r.owner and r.lag is not None)
            except NotFoundError:  # the stream is not there yet
                return 0
            finally:
                await nc.close()
        try:
            until(lambda: run_aside(reading) == partitions)
        finally:
            store.close()

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
    run_aside(drop)


@pytest.fixture
def api(bus: Bus) -> Iterator[Server]:
    node = bootstrap.build(bus.settings(bus_reply_timeout_s=2.0))  # type: ignore[arg-type]
    assert node.bus_node
    node.start()
    try:
        with serving(node) as running:
            yield running
    finally:
        node.stop()


def until(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def test_requests_through_the_bus_get_the_writers_answers(bus: Bus, api: Server) -> None:
    bus.start_worker("a", f"0-{PARTITIONS - 1}")
    bus.wait_ready(PARTITIONS)
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


def test_webhooks_and_notices_leave_once_from_the_worker_owning_partition_0(
    bus: Bus, api: Server,
) -> None:
    """Both workers write outbox rows in their commits; only the one owning partition 0 sends
    them (webhooks signed, consumer mail over SMTP), each once."""
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    receiver = Receiver([])
    bus.extra_env = {"PARCELGUARD_WEBHOOKS_ENABLED": "true",
                     "PARCELGUARD_WEBHOOKS_ALLOW_PRIVATE": "true",
                     "PARCELGUARD_NOTICES_ENABLED": "true",
                     "PARCELGUARD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"}
    try:
        bus.start_worker("a", "0-1")
        bus.start_worker("b", f"2-{PARTITIONS - 1}")
        bus.wait_ready(PARTITIONS)
        client = api.client()
        numbers = [f"SF14000000{i:02d}" for i in range(8)]  # over every partition
        assert {partition_of(tn, PARTITIONS) for tn in numbers} == set(range(PARTITIONS))
        for tn in numbers:
            assert client.post("/v1/shipments", json=shipment_json(tn)).status_code == 201
            assert client.post(f"/v1/shipments/{tn}/notifications", json={
                "channel": "email", "to": f"{tn.lower()}@example.com"}).status_code == 201
        subscribe(api.system, receiver)
        for tn in numbers:
            answer = client.post("/v1/events", json=[
                event_json(tn, 1, "picked_up", event_id=f"{tn}-1"),
                event_json(tn, 2, event_id=f"{tn}-2", condition="damaged",
                           location={"facility_id": "H1"}),
                event_json(tn, 3, "delivered", event_id=f"{tn}-3")]).json()
            assert answer["accepted"] == 3, answer

        def outbox() -> tuple[set[str], int]:
            with api.system.store.unit_of_work(write=False) as uow:
                messages = uow.webhooks.messages("acme", None, None, 500)
                notices = sum(len(uow.deliveries.messages("acme", tn)) for tn in numbers)
            return {m.message_id for m in messages}, notices

        # every request is answered after its commit, which wrote its outbox rows: the outbox
        # is whole now; mail goes out at picked up and delivered, and is recorded once sent
        messages, _ = outbox()
        assert len(messages) > 8 * 3  # status changes, the damaged alerts, more
        until(lambda: set(receiver.accepted) == messages and len(inbox.mails) == 8 * 2)
        time.sleep(1.5)  # a second sender, were there one, would have sent them again by now
        assert (set(receiver.accepted), len(inbox.mails)) == outbox()
        assert set(receiver.accepted.values()) == {1}
        assert receiver.bad_signatures == 0
        sent = Counter((m["To"], m["Subject"]) for m in inbox.mails)
        assert set(sent.values()) == {1}
        assert {m["To"] for m in inbox.mails} == {f"{tn.lower()}@example.com" for tn in numbers}
    finally:
        receiver.close()
        smtp.stop()


def test_a_retry_whose_answer_was_lost_is_dropped_by_jetstream(bus: Bus, api: Server) -> None:
    """A comment carries no id of its own: with an Idempotency-Key its message is named after
    the request, so the retry of a request whose answer never came (a 503 after JetStream had
    stored it: no answer kept to replay) is dropped by JetStream, not applied twice."""
    bus.start_worker("a", f"0-{PARTITIONS - 1}")
    bus.wait_ready(PARTITIONS)
    client = api.client()
    assert client.post("/v1/shipments", json=shipment_json("SF1400000001")).status_code == 201
    damaged = event_json("SF1400000001", 1, condition="damaged", location={"facility_id": "H1"})
    assert client.post("/v1/events", json=[damaged]).json()["accepted"] == 1
    (alert,) = client.get("/v1/alerts", params={"kind": "damaged"}).json()["items"]
    url = f"/v1/alerts/{alert['alert_id']}/comments"
    first = client.post(url, json={"text": "箱子破了"}, headers={"Idempotency-Key": "req-1"})
    assert (first.status_code, first.headers.get("Idempotent-Replayed")) == (200, None)
    with api.system.store.unit_of_work() as uow:  # as if its answer had been lost
        assert uow.request_keys.purge(2**62) == 1
        uow.commit()
    retry = client.post(url, json={"text": "箱子破了"}, headers={"Idempotency-Key": "req-1"})
    assert (retry.status_code, retry.headers.get("Idempotent-Replayed")) == (200, "true")
    assert [n["text"] for n in retry.json()["notes"]] == ["箱子破了"]
    again = client.post(url, json={"text": "箱子破了"}, headers={"Idempotency-Key": "req-2"})
    assert [n["text"] for n in again.json()["notes"]] == ["箱子破了", "箱子破了"]
    bad = client.post(url, json={"text": "x"}, headers={"Idempotency-Key": "k" * 201})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "Idempotency-Key"


def test_live_pages_on_an_api_node_hear_of_the_workers_commits(bus: Bus, api: Server) -> None:
    """The tracking page and dashboard wake on changed shipments (ingestor.watchers); in bus
    mode the worker that committed tells every API node over core NATS."""
    heard: list[tuple[str, str]] = []
    api.system.ingestor.watchers.append(heard.extend)
    bus.start_worker("a", f"0-{PARTITIONS - 1}")
    client = api.client()
    until(lambda: client.post("/v1/shipments", json=shipment_json("SF1400000001")).status_code
          in (200, 201))
    heard.clear()
    client.post("/v1/events", json=[event_json("SF1400000001", event_id="e1")])
    until(lambda: ("acme", "SF1400000001") in heard, 10)


# ---- the drill: several senders, a worker killed and restarted, compared with a replay ----

DRILL_SHIPMENTS = int(os.environ.get("PARCELGUARD_DRILL_SHIPMENTS", "330"))  # ~100k lines


def _tracking_numbers(lines: list[bytes]) -> list[str]:
    return [d["tracking_no"] for raw in lines if (d := json.loads(raw))["type"] == "shipment"]


def _readings(store: Store) -> int:
    if isinstance(store, SqlStore):
        with store.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(tables.readings)) or 0)
    return len(store.data.readings)  # type: ignore[attr-defined]


def _outcome(store: Store, tns: list[str]) -> tuple[Counter[str], set[str], int]:
    """Every alert transition the ledger recorded, the events stored, the readings stored."""
    changes: Counter[str] = Counter()
    with store.unit_of_work(write=False) as uow:
        for _, body, _ in uow.ledger.scan():
            entry = json.loads(body)
            if entry["kind"] == "alert.changed":
                changes[json.dumps([entry["tracking_no"], entry["data"]], sort_keys=True)] += 1
        assert ledger.verify_store(uow, Ed25519Check(Ed25519Signer(
            "parcelguard.local/ledger", base64.b64decode(KEY_A)).verifier_key())) == []
    with store.unit_of_work(write=False) as uow:
        events = [row.event.event_id for tn in tns
                  for row in uow.events.of(uow.shipments.get("acme", tn).id)]  # type: ignore[union-attr]
    assert len(events) == len(set(events))
    return changes, set(events), _readings(store)


def _embedded(lines: list[bytes], places: list[tuple[str, str, float, float]],
              data_dir: Path) -> tuple[Counter[str], set[str], int]:
    clock = ManualClock(times.parse("2026-11-01T00:00:00Z", "start"))
    system = bootstrap.build(settings_for("memory://", data_dir, eta_learning="off"), clock=clock)
    with system.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.events.save_places(places)
        uow.commit()
    system.ingestor.start()
    summary = Replay(system.ingestor, clock, "acme", system.encode).feed(lines)
    assert summary.errors == []
    return _outcome(system.store, _tracking_numbers(lines))


async def _last_positions(bus: Bus) -> dict[int, int]:
    nc = await _connect()
    try:
        return await status.heads(nc.jetstream(), StreamSpec(bus.stream, bus.prefix, PARTITIONS))
    finally:
        await nc.close()


@pytest.mark.parametrize(("shipments", "kills"), [(60, 0), (DRILL_SHIPMENTS, 4)],
                         ids=["steady", "killed"])
def test_workers_store_every_command_once_and_alert_as_a_replay_does(
    bus: Bus, tmp_path: Path, shipments: int, kills: int,
) -> None:
    """Four senders publish a simulated recording (~100,000 lines in the killed run) while
    worker b is killed (SIGKILL) mid-batch and restarted: every event and reading is stored
    exactly once, the ledger verifies, and the alert transitions equal an embedded replay of
    the same lines, those from vehicle telemetry included (a partition rebuilds its parcels
    from the copies of vehicle readings it applied itself)."""
    lines = bus_recording(shipments)
    places = facility_places(lines, "acme")
    expected = _embedded(lines, places, tmp_path / "embedded")

    store = SqlStore.connect(bus.db_url)
    with store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.events.save_places(places)
        uow.commit()
    bus.start_worker("a", "0-1", "--clock", "event")
    bus.start_worker("b", "2-3", "--clock", "event")

    def feed(partitions: frozenset[int]) -> None:
        """One sender: the whole recording, publishing what goes to its partitions."""
        clock = ManualClock(times.parse("2026-11-01T00:00:00Z", "start"))
        sender = BusPipeline(NATS_URL, StreamSpec(bus.stream, bus.prefix, PARTITIONS),
                             Codec(AesGcmVault(base64.b64decode(KEY_B))),
                             Router(store, PARTITIONS, partitions), reply_timeout_s=0)
        sender.start()
        try:
            summary = Replay(None, clock, "acme", canonical.encode,
                             send=sender.submit_sync).feed(lines)
            fed.append(summary.lines)
        finally:
            sender.stop()

    fed: list[int] = []

    senders = [threading.Thread(target=feed, args=(frozenset({p}),)) for p in range(PARTITIONS)]
    for s in senders:
        s.start()
    for _ in range(kills):  # worker b dies mid-batch (SIGKILL) and comes back
        time.sleep(3)
        bus.kill("b")
        time.sleep(0.5)
        bus.start_worker("b", "2-3", "--clock", "event")
    for s in senders:
        s.join(300)
    assert fed == [len(lines)] * PARTITIONS  # every sender got through (acknowledged)
    last = run_aside(lambda: _last_positions(bus))

    def drained() -> bool:
        with store.unit_of_work(write=False) as uow:
            return uow.offsets.all(bus.stream) == last

    until(drained, 300)
    bus.stop_all()
    changes, events, readings = _outcome(store, _tracking_numbers(lines))
    store.close()
    want_changes, want_events, want_readings = expected
    assert events == want_events  # every acknowledged event stored, none twice (unique key)
    assert readings == want_readings
    assert sum(want_changes.values()) > 50
    assert sum(n for k, n in want_changes.items() if '"source": "vehicle:' in k) > 5
    assert sorted(changes - want_changes) == sorted(want_changes - changes) == []
    assert changes == want_changes


def _with_places(url: str, places: list[tuple[str, str, float, float]]) -> None:
    store = SqlStore.connect(url)
    migrate.upgrade(store.engine)
    with store.unit_of_work() as uow:
        uow.tenants.add("replay", "replay", 0)
        uow.events.save_places(places)
        uow.commit()
    store.close()


def test_replay_through_the_bus_writes_the_embedded_replays_file(bus: Bus,
                                                                  tmp_path: Path) -> None:
    """`parcelguard replay --bus` publishes a recording, waits for the workers to apply it and
    reads the alert changes back from the ledger: byte for byte the embedded replay's file."""
    lines = bus_recording(40)
    recording = tmp_path / "recording.ndjson"
    recording.write_bytes(b"\n".join(lines) + b"\n")
    places = facility_places(lines, "replay")
    embedded_db = f"sqlite:///{tmp_path / 'embedded.db'}"
    _with_places(embedded_db, places)
    _with_places(bus.db_url, places)

    def replay(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "parcelguard", "replay", str(recording),
                               "--out", str(out), *extra], env=bus.env(), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done

    embedded = replay(tmp_path / "embedded.ndjson", "--store", embedded_db)
    bus.start_worker("a", "0-1", "--clock", "event")
    bus.start_worker("b", "2-3", "--clock", "event")
    bus.wait_ready(PARTITIONS)
    through = replay(tmp_path / "bus.ndjson", "--store", bus.db_url, "--bus", NATS_URL)
    want = (tmp_path / "embedded.ndjson").read_text()
    assert len(want.splitlines()) > 20
    assert (tmp_path / "bus.ndjson").read_text() == want
    # both runs applied every line alike
    summary = [json.loads(r.stderr.replace("\n", "")) for r in (embedded, through)]
    assert summary[0] == summary[1], summary


def test_a_bus_replay_needs_the_workers_store(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "parcelguard", "replay", "-", "--out",
                           str(tmp_path / "x"), "--bus", NATS_URL], capture_output=True,
                          text=True, timeout=60, input="")
    assert done.returncode == 1
    assert "give its PostgreSQL URL with --store" in " ".join(done.stderr.split())


def test_status_and_metrics_show_owners_positions_and_lag(bus: Bus, api: Server) -> None:
    bus.start_worker("a", "0-1")
    client = api.client()
    until(lambda: client.post("/v1/shipments", json=shipment_json("SF1400000002")).status_code
          in (200, 201))  # partition 1: applied by worker a once it runs
    # partition 3 has no worker: the request is durable in the stream, and says so
    queued = client.post("/v1/shipments", json=shipment_json("SF1400000001"))
    assert queued.status_code == 202
    assert queued.json() == {"tracking_no": "SF1400000001", "result": "queued"}
    until(lambda: "parcelguard-worker" in subprocess.run(
        [sys.executable, "-m", "parcelguard", "status", "--seconds", "0.2"], env=bus.env(),
        capture_output=True, text=True).stdout)
    shown = subprocess.run([sys.executable, "-m", "parcelguard", "status", "--seconds", "0.2"],
                           env=bus.env(), capture_output=True, text=True, check=True).stdout
    assert "2/4 partitions owned" in shown, shown
    assert "lag 0 messages" in shown  # of the owned partitions; 3 has no consumer yet
    scraped = api.anonymous().get("/metrics").text
    owned = {line.split("}")[0].split('"')[1]: line.rsplit(" ", 1)[1]
             for line in scraped.splitlines() if line.startswith("parcelguard_bus_partition_owned{")}
    assert owned == {"0": "1.0", "1": "1.0", "2": "0.0", "3": "0.0"}
    assert 'parcelguard_bus_consumer_lag{partition="1"} 0.0' in scraped
    assert 'parcelguard_bus_committed_seq{partition="3"} 0.0' in scraped


def test_the_mqtt_subscriber_runs_on_its_own_in_bus_mode(bus: Bus, api: Server) -> None:
    """`parcelguard mqtt` (no API) publishes what devices send; a worker stores it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    bus.start_worker("a", f"0-{PARTITIONS - 1}")
    body = shipment_json("SF1400000001", devices=["LOG-9"], category="cold_chain")
    until(lambda: api.client().post("/v1/shipments", json=body).status_code in (200, 201))
    client_id = f"pg-test-{uuid.uuid4().hex}"
    # The subscriber's persistent session exists before it starts: the broker keeps what is
    # published for it meanwhile, so the test need not guess when it has subscribed.
    subscribed = threading.Event()
    session = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    session.on_subscribe = lambda *_: subscribed.set()
    session.connect("127.0.0.1", 1883)
    session.loop_start()
    session.subscribe("parcelguard/+/devices/+/telemetry", qos=1)
    assert subscribed.wait(10)
    session.disconnect()
    session.loop_stop()
    env = bus.env() | {"PARCELGUARD_MQTT_ENABLED": "true", "PARCELGUARD_MQTT_CLIENT_ID": client_id}
    with (bus.data_dir / "mqtt.log").open("ab") as log:
        sub = subprocess.Popen([sys.executable, "-m", "parcelguard", "mqtt"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        reading = {"device_id": "LOG-9", "ts": "2026-11-20T11:00:00Z", "seq": 1,
                   "temperature_c": 4.5}
        pub.publish("parcelguard/acme/devices/LOG-9/telemetry", json.dumps(reading).encode(),
                    qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()

        def stored() -> bool:
            r = api.client().get("/v1/shipments/SF1400000001/telemetry")
            return r.status_code == 200 and len(r.json()["points"]) == 1
        until(stored)
    finally:
        sub.send_signal(signal.SIGTERM)
        assert sub.wait(15) == 0


def test_a_worker_refuses_a_store_other_workers_cannot_share(tmp_path: Path) -> None:
    env = os.environ | {"PARCELGUARD_BUS_URL": NATS_URL, "PARCELGUARD_DATA_DIR": str(tmp_path),
                        "PARCELGUARD_LEDGER_KEY": KEY_A, "PARCELGUARD_DATA_KEY": KEY_B}
    done = subprocess.run([sys.executable, "-m", "parcelguard", "worker", "--partitions", "0-3"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "must be PostgreSQL" in done.stderr


def test_two_workers_cannot_hold_the_same_partition(bus: Bus) -> None:
    bus.start_worker("a", "0-1")
    bus.wait_ready(2)
    second = subprocess.run([sys.executable, "-m", "parcelguard", "worker", "--partitions", "1-2"],
                            env=bus.env(), capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "partitions [1] are held by another worker" in " ".join(second.stderr.split())


def test_a_worker_that_loses_its_partition_locks_stops(bus: Bus, pg_admin: str) -> None:
    """If the session holding the locks dies (failover, a timeout, an operator), another worker
    could take the partitions: this one stops at once rather than apply them alongside."""
    bus.start_worker("a", "0-1")
    bus.wait_ready(2)
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                             "application_name = %s", (
                                 f"parcelguard-worker {socket.gethostname()}:"
                                 f"{bus.workers['a'].pid}",)).fetchall()
    assert ended == [(True,)]
    assert bus.workers.pop("a").wait(30) == 1
    assert "lost the locks on partitions [0, 1]" in " ".join(
        (bus.data_dir / "worker-a.log").read_text().split())

"""Broker and database faults drill (issue 8, drill 10): Mosquitto and PostgreSQL are restarted
while events come in over HTTP and readings over MQTT; ingest resumes by itself and nothing
acknowledged is lost or stored twice.

Both services are private instances started by the test (a PostgreSQL cluster made with
``initdb`` in a temporary folder, a Mosquitto on its own port with persistence on), so the
machine's shared services, which the rest of the suite uses, are never restarted. PostgreSQL is
stopped the hard way (``pg_ctl stop -m immediate``: no shutdown checkpoint, recovery from the
WAL at start), Mosquitto gracefully (it saves its persistent sessions and their queued messages
only then; a broker that crashes loses what it had not saved, which is the broker's own
durability setting, ``autosave_interval``, see docs/reliability.md).

"Acknowledged" means: an event batch answered 200; a reading whose QoS 1 PUBACK the publisher
got from the broker. Senders retry what was not acknowledged (the same ids).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.domain.tenancy import Role
from parcelguard.storage import tables
from tests.conftest import Server, _need, free_port, serving, settings_for
from tests.factories import shipment_json

FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
EVENTS = 20_000 if FULL else 4_000  # ~400/s: a steady stream, the drill is about faults
READINGS = 10_000 if FULL else 2_000  # in step with the events
RESTARTS = 3 if FULL else 1  # of each service
PARCELS = 200
DEVICE = "LOG-F1"


def _as_postgres(*cmd: str) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@dataclass
class PrivatePostgres:
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def bin(self) -> Path:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found and not shutil.which("pg_ctl"):
            _need("PostgreSQL's server programs (pg_ctl, initdb)", "not installed")
        return Path(found[-1]).parent if found else Path(shutil.which("pg_ctl") or "").parent

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.root.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)
        subprocess.run(_as_postgres(str(self.bin / "initdb"), "-D", str(self.root / "data"),
                                    "-A", "trust", "-U", "postgres", "--no-sync"),
                       check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(_as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "log"),
            "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "-w", "start"),
            check=True, capture_output=True)

    def crash(self) -> None:
        subprocess.run(_as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"),
                                    "-m", "immediate", "stop"), check=True, capture_output=True)


@dataclass
class PrivateMosquitto:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # who may connect: anyone, unless a test gives password_file / acl_file lines
    access: str = "allow_anonymous true\n"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        if shutil.which("mosquitto") is None:
            _need("the mosquitto broker program", "not installed")
        self.root.mkdir(exist_ok=True)
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n{self.access}persistence true\n"
            f"persistence_location {self.root}/\n"
            "max_queued_messages 0\n"  # queue without limit while the subscriber waits
            + ("user root\n" if os.geteuid() == 0 else ""))
        with (self.root / "log").open("ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, (self.root / "log").read_text()
                assert time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # saves the persistence file
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[PrivatePostgres, PrivateMosquitto]]:
    # the postgres user must reach its folder: pytest's own are private to the test's user
    outer = Path(tempfile.mkdtemp(prefix="parcelguard-drill-"))
    outer.chmod(0o755)
    pg, broker = PrivatePostgres(outer / "pg"), PrivateMosquitto(tmp_path / "mqtt")
    try:
        pg.init()
        pg.start()
        broker.start()
        yield pg, broker
    finally:
        broker.stop()
        subprocess.run(_as_postgres(str(pg.bin / "pg_ctl"), "-D", str(pg.root / "data"),
                                    "-m", "fast", "stop"), capture_output=True)
        shutil.rmtree(outer, ignore_errors=True)


@dataclass
class Tally:
    acked: set[str] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, ids: list[str] | None = None) -> None:
        with self.lock:
            self.answers[what] += 1
            self.acked.update(ids or [])


def _post_events(server: Server, numbers: list[str], tally: Tally) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    events = [{"event_id": f"f-{k}", "tracking_no": numbers[k % PARCELS], "carrier": "sf",
               "status": "in_transit", "location": {"facility_id": f"HUB{k % 5}"},
               "occurred_at": times.iso(start + timedelta(seconds=k // PARCELS))}
              for k in range(EVENTS)]
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers={
                "Authorization": f"Bearer {server.keys.acme[Role.MERCHANT]}"}) as api:
            for i in range(0, EVENTS, 20):
                batch = events[i:i + 20]
                while True:
                    try:
                        r = api.post("/v1/events", json=batch)
                    except httpx.TransportError as exc:
                        tally.note(type(exc).__name__)
                    else:
                        if r.status_code == 200:
                            tally.note("200", [str(e["event_id"]) for e in batch])
                            break
                        assert r.status_code == 503, r.text
                        tally.note("503")
                    time.sleep(0.1)
                time.sleep(0.05)
    except BaseException as exc:
        tally.failures.append(exc)


def _publish_readings(broker: PrivateMosquitto, tally: Tally, events: Tally) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
    client.reconnect_delay_set(min_delay=0.2, max_delay=1)
    client.connect_async("127.0.0.1", broker.port)
    client.loop_start()
    topic = f"parcelguard/acme/devices/{DEVICE}/telemetry"
    start = datetime.now(UTC) - timedelta(minutes=30)
    try:
        for seq in range(1, READINGS + 1):
            while seq > READINGS * (len(events.acked) / EVENTS + 0.02):  # in step with events
                time.sleep(0.01)
            body = json.dumps({"device_id": DEVICE, "seq": seq, "temperature_c": 4.0,
                               "ts": times.iso(start + timedelta(seconds=seq * 0.25))}).encode()
            while True:  # until the broker acknowledged it (PUBACK)
                info = client.publish(topic, body, qos=1)
                try:
                    info.wait_for_publish(3)
                    acked = info.is_published()
                except (RuntimeError, ValueError):  # not connected: it goes again
                    acked = False
                if acked:
                    tally.note("puback", [f"r{seq}"])
                    break
                tally.note("not_acked")
                time.sleep(0.2)
    except BaseException as exc:
        tally.failures.append(exc)
    finally:
        client.disconnect()
        client.loop_stop()


def _stored(system: bootstrap.System) -> tuple[Counter[str], Counter[int]]:
    with system.store.engine.connect() as conn:  # type: ignore[attr-defined]
        events = Counter(r[0] for r in conn.execute(sa.select(tables.events.c.event_id)))
        readings = Counter(r[0] for r in conn.execute(sa.select(tables.readings.c.seq)))
    return events, readings


def test_ingest_resumes_by_itself_after_broker_and_database_restarts(
    services: tuple[PrivatePostgres, PrivateMosquitto], tmp_path: Path,
) -> None:
    pg, broker = services
    system = bootstrap.build(settings_for(
        pg.url, tmp_path, mqtt_enabled=True, mqtt_url=broker.url,
        mqtt_client_id=f"faults-{uuid.uuid4().hex[:8]}"))
    system.start()
    try:
        with serving(system) as server:
            _drill(server, pg, broker)
    finally:
        system.stop()


def _drill(server: Server, pg: PrivatePostgres, broker: PrivateMosquitto) -> None:
    api = server.client(Role.MERCHANT)
    numbers = [f"SF4{i:09d}" for i in range(PARCELS)]
    r = api.post("/v1/shipments", json=[shipment_json(tn, promised_by=None) for tn in numbers[1:]]
                 + [shipment_json(numbers[0], promised_by=None, category="cold_chain",
                                  devices=[DEVICE])])
    assert r.json()["accepted"] == PARCELS, r.text
    subscriber = server.system.mqtt
    assert subscriber is not None
    assert subscriber.connected.wait(10)

    events, readings = Tally(), Tally()
    threads = [threading.Thread(target=_post_events, args=(server, numbers, events)),
               threading.Thread(target=_publish_readings, args=(broker, readings, events))]
    for t in threads:
        t.start()
    seen = []
    faults = [f for _ in range(RESTARTS) for f in ("mosquitto", "postgresql")]
    for k, fault in enumerate(faults, start=1):
        share = k / (len(faults) + 1)  # faults spread over the ingest
        deadline = time.monotonic() + 120
        while (len(events.acked) < share * EVENTS or len(readings.acked) < share * READINGS
               ) and time.monotonic() < deadline and not events.failures + readings.failures:
            time.sleep(0.05)
        seen.append((fault, len(events.acked), len(readings.acked)))
        if fault == "mosquitto":
            broker.stop()
            time.sleep(1.0)
            broker.start()
        else:
            pg.crash()
            time.sleep(1.0)
            pg.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive(), "a sender did not finish"
    for failure in events.failures + readings.failures:
        raise failure

    deadline = time.monotonic() + 60  # the subscriber catches up with what the broker holds
    while True:
        stored_events, stored_readings = _stored(server.system)
        if len(stored_readings) >= READINGS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(f"\nfaults drill: {EVENTS:,} events over HTTP, {READINGS:,} readings over MQTT, "
          f"Mosquitto and PostgreSQL each restarted {RESTARTS} times at (events, readings) "
          f"acknowledged {seen}: events answers {dict(events.answers)}, readings "
          f"{dict(readings.answers)}; stored {len(stored_events):,} events, "
          f"{len(stored_readings):,} readings")
    assert all(0 < e < EVENTS and 0 < r < READINGS for _, e, r in seen), "faults during ingest"
    assert events.acked == {f"f-{k}" for k in range(EVENTS)}  # every batch answered at last
    assert set(stored_events) == events.acked
    assert max(stored_events.values()) == 1
    assert {f"r{s}" for s in stored_readings} == readings.acked
    assert max(stored_readings.values()) == 1
    # ingest resumed by itself: the subscriber is connected and the API answers writes
    assert subscriber.connected.is_set()
    assert api.post("/v1/events", json={"tracking_no": numbers[1], "carrier": "sf",
                                        "status": "in_transit",
                                        "occurred_at": times.iso(datetime.now(UTC))}
                    ).status_code == 200

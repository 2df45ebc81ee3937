"""Crash drill over HTTP (issue 8, drill 1): senders keep posting events while the server (a real
``parcelguard serve`` process on SQLite) is SIGKILLed at random moments and started again. Every
event the server acknowledged must be stored, and nothing stored twice; the ledger must verify.

Senders behave as carriers' integrations should: a batch that got no answer (connection refused
or cut, 503) is sent again, same event ids, until it is answered. A kill therefore always lands
with requests in flight: the drill lets each life of the server take a random share of its
quota of events and kills it there.

The drill proves it can fail: the same run against a build that answers before it commits
(``tests/drills/broken_server.py``) must find acknowledged events missing.

The MQTT subscriber's and the bus workers' crash drills are in tests/integration (test_mqtt.py,
test_bus_workers.py).
"""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from parcelguard import bootstrap
from parcelguard.crypto.keys import Ed25519Check, Ed25519Signer
from parcelguard.domain import times
from parcelguard.domain.tenancy import Role
from parcelguard.services import auth, ledger
from parcelguard.storage import tables
from parcelguard.storage.sql import SqlStore
from tests.conftest import KEY_A, KEY_B, free_port, settings_for
from tests.factories import shipment_json

FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
EVENTS = 100_000 if FULL else 12_000
KILLS = 50 if FULL else 6
SENDERS = 8
BATCH = 50
PARCELS = 2_000 if FULL else 400
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Drill:
    """One run: the server's lives and the senders' view of what was acknowledged."""

    data_dir: Path
    module: str  # "parcelguard" or the broken build
    port: int = field(default_factory=free_port)
    key: str = ""
    proc: subprocess.Popen[bytes] | None = None
    lives: int = 0
    acked: set[str] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)
    lock: threading.Condition = field(default_factory=threading.Condition)
    failures: list[BaseException] = field(default_factory=list)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'pg.db'}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = os.environ | {
            "PARCELGUARD_DATABASE_URL": self.db_url, "PARCELGUARD_DATA_DIR": str(self.data_dir),
            "PARCELGUARD_LEDGER_KEY": KEY_A, "PARCELGUARD_DATA_KEY": KEY_B,
            "PARCELGUARD_MQTT_ENABLED": "false", "PARCELGUARD_WEBHOOKS_ENABLED": "false",
            "PARCELGUARD_LOG_LEVEL": "warning"}
        with (self.data_dir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, (self.data_dir / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.05)
        self.lives += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _prepare(drill: Drill) -> list[str]:
    system = bootstrap.build(settings_for(drill.db_url, drill.data_dir))
    auth.create_tenant(system.store, "acme", "ACME", 0)
    drill.key = auth.create_key(system.store, "acme", Role.MERCHANT, "drill", 0)
    system.store.close()
    numbers = [f"SF3{i:09d}" for i in range(PARCELS)]
    drill.start()
    with httpx.Client(base_url=drill.url, timeout=60,
                      headers={"Authorization": f"Bearer {drill.key}"}) as api:
        for i in range(0, PARCELS, 500):
            r = api.post("/v1/shipments", json=[
                shipment_json(tn, promised_by=None) for tn in numbers[i:i + 500]])
            assert r.status_code == 200, r.text
            assert r.json()["accepted"] == len(numbers[i:i + 500]), r.text
    return numbers


def _events(numbers: list[str], sender: int) -> list[dict[str, object]]:
    """This sender's share: scans of its parcels, a minute apart, ending about now."""
    start = datetime.now(UTC) - timedelta(minutes=EVENTS // PARCELS + 5)
    mine = numbers[sender::SENDERS]
    out: list[dict[str, object]] = []
    for k in range(EVENTS // SENDERS):
        tn = mine[k % len(mine)]
        out.append({"event_id": f"d{sender}-{k}", "tracking_no": tn, "carrier": "sf",
                    "status": "in_transit", "location": {"facility_id": f"HUB{k % 7}"},
                    "occurred_at": times.iso(start + timedelta(minutes=k // len(mine)))})
    return out


def _send(drill: Drill, events: list[dict[str, object]], quota: list[int]) -> None:
    try:
        _post_all(drill, events, quota)
    except BaseException as exc:
        with drill.lock:
            drill.failures.append(exc)
            drill.lock.notify_all()


def _post_all(drill: Drill, events: list[dict[str, object]], quota: list[int]) -> None:
    """Post batches until each is answered 200; a batch without an answer goes again."""
    with httpx.Client(base_url=drill.url, timeout=30,
                      headers={"Authorization": f"Bearer {drill.key}"}) as api:
        for i in range(0, len(events), BATCH):
            batch = events[i:i + BATCH]
            with drill.lock:  # this life's quota of acknowledged events is used up: wait
                drill.lock.wait_for(lambda: len(drill.acked) < quota[0])
            while True:
                try:
                    r = api.post("/v1/events", json=batch)
                except httpx.TransportError as exc:
                    outcome = type(exc).__name__
                else:
                    outcome = str(r.status_code)
                    if r.status_code == 200:
                        answer = r.json()
                        assert answer["accepted"] + answer["duplicate"] == len(batch), answer
                        with drill.lock:
                            drill.acked.update(str(e["event_id"]) for e in batch)
                            drill.answers["200"] += 1
                            drill.lock.notify_all()
                        break
                    assert r.status_code == 503, r.text  # anything else is a failure
                with drill.lock:
                    drill.answers[outcome] += 1
                time.sleep(0.05)


def _run(drill: Drill, seed: int) -> list[str]:
    """The drill: senders, and the server killed KILLS times; returns the ids sent."""
    dice = random.Random(seed)
    numbers = _prepare(drill)
    batches = [_events(numbers, s) for s in range(SENDERS)]
    share = EVENTS // (KILLS + 1)
    quota = [share]  # acknowledged events this life of the server may take
    senders = [threading.Thread(target=_send, args=(drill, b, quota), daemon=True)
               for b in batches]
    for t in senders:
        t.start()
    for life in range(KILLS):
        # a random moment in this life: after a random part of its share was acknowledged
        kill_at = life * share + int(share * dice.uniform(0.1, 0.9))
        with drill.lock:
            drill.lock.wait_for(lambda at=kill_at: len(drill.acked) >= at or drill.failures,
                                timeout=120)
            if drill.failures:
                raise drill.failures[0]
            assert len(drill.acked) >= kill_at, f"the senders stalled: {dict(drill.answers)}"
        drill.kill()
        with drill.lock:
            quota[0] = (life + 2) * share
            drill.lock.notify_all()
        drill.start()
    with drill.lock:
        quota[0] = EVENTS + 1
        drill.lock.notify_all()
    for t in senders:
        t.join(600)
        assert not t.is_alive(), "a sender did not finish"
    if drill.failures:
        raise drill.failures[0]
    drill.stop()
    return [str(e["event_id"]) for b in batches for e in b]


def _stored(drill: Drill) -> Counter[str]:
    store = SqlStore.connect(drill.db_url)
    try:
        with store.engine.connect() as conn:
            return Counter(row[0] for row in conn.execute(sa.select(tables.events.c.event_id)))
    finally:
        store.close()


def _ledger_findings(drill: Drill) -> list[object]:
    system = bootstrap.build(settings_for(drill.db_url, drill.data_dir))
    check = Ed25519Check(Ed25519Signer("parcelguard.local/ledger",
                                       base64.b64decode(KEY_A)).verifier_key())
    try:
        with system.store.unit_of_work(write=False) as uow:
            return list(ledger.verify_store(uow, check))
    finally:
        system.store.close()


def test_no_acknowledged_event_is_lost_or_stored_twice_across_server_kills(tmp_path: Path) -> None:
    drill = Drill(tmp_path, "parcelguard")
    try:
        sent = _run(drill, seed=8)
    finally:
        drill.stop()
    stored = _stored(drill)
    lost = drill.acked - set(stored)
    twice = [e for e, n in stored.items() if n > 1]
    print(f"\ncrash drill (HTTP): {EVENTS:,} events from {SENDERS} senders, server killed "
          f"{drill.lives - 1} times: {len(drill.acked):,} acknowledged, {len(stored):,} stored, "
          f"lost {len(lost)}, stored twice {len(twice)}; answers {dict(drill.answers)}")
    assert drill.lives == KILLS + 1
    assert drill.acked == set(sent)  # every batch was answered in the end
    assert (len(lost), twice) == (0, [])
    assert set(stored) == set(sent)
    assert _ledger_findings(drill) == []


def test_the_drill_catches_a_build_that_answers_before_it_commits(tmp_path: Path) -> None:
    drill = Drill(tmp_path, "tests.drills.broken_server")
    try:
        _run(drill, seed=9)
    finally:
        drill.stop()
    lost = drill.acked - set(_stored(drill))
    print(f"\ncrash drill, broken build: {len(drill.acked):,} acknowledged, lost {len(lost):,} "
          f"over {drill.lives - 1} kills")
    assert lost, "the drill did not notice acknowledgements before the commit"

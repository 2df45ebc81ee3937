"""MQTT against the real Mosquitto on 127.0.0.1:1883, on SQLite and PostgreSQL.

Each test starts its own subscriber (a fresh client id, so a fresh persistent session) next to
a real server, publishes with QoS 1 and waits for the store.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind
from parcelguard.ingest.mqtt import MqttSubscriber, parse_topic
from parcelguard.services.ports import AlertFilter
from parcelguard.storage import tables
from tests.conftest import T0, Server, _need
from tests.factories import shipment_json

URL = "mqtt://127.0.0.1:1883"
TN = "SF1400000001"


@pytest.fixture(scope="session")
def broker() -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=3).close()
    except OSError as exc:
        _need("Mosquitto on 127.0.0.1:1883", str(exc))


class Publisher:
    def __init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()

    def send(self, topic: str, body: object) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: None) -> Iterator[Publisher]:
    p = Publisher()
    yield p
    p.close()


def subscriber(server: Server, client_id: str) -> MqttSubscriber:
    sys = server.system
    sub = MqttSubscriber(URL, client_id, sys.pipeline, sys.store, sys.vault, sys.clock)
    sub.start()
    assert sub.connected.wait(10), "the subscriber did not connect"
    return sub


@pytest.fixture
def live(server: Server, broker: None) -> Iterator[MqttSubscriber]:
    sub = subscriber(server, f"pg-test-{uuid.uuid4().hex}")
    yield sub
    sub.stop()


def until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def reading(minute: float, seq: int, device: str = "LOG-1", **extra: Any) -> dict[str, Any]:
    """A reading shortly before the server's clock (no silence deadline passes meanwhile)."""
    return {"device_id": device, "ts": times.iso(T0 - timedelta(minutes=6) + timedelta(
        minutes=minute)), "seq": seq, "temperature_c": 4.0, **extra}


def stored_readings(server: Server) -> list[dict[str, Any]]:
    r = server.client().get(f"/v1/shipments/{TN}/telemetry", params={"limit": 20000})
    assert r.status_code == 200, r.text
    points: list[dict[str, Any]] = r.json()["points"]
    return points


def stored_count(server: Server) -> int:
    with server.system.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.scalar(sa.select(sa.func.count()).select_from(tables.readings)) or 0)


def rejected(server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = server.client().get("/v1/rejected-payloads").json()["items"]
    return items


def with_logger(server: Server) -> None:
    body = shipment_json(TN, devices=["LOG-1"], category="cold_chain")
    assert server.client().post("/v1/shipments", json=body).status_code == 201


def test_topics_are_read_strictly() -> None:
    assert parse_topic("parcelguard/acme/devices/LOG-1/telemetry") is not None
    assert parse_topic("parcelguard/acme/facilities/HUB-SHA/scans") is not None
    for bad in ("parcelguard/acme/devices/LOG-1", "x/acme/devices/LOG-1/telemetry",
                "parcelguard//devices/LOG-1/telemetry", "parcelguard/acme/devices/LOG-1/scans"):
        assert parse_topic(bad) is None


def test_readings_are_stored_once_and_what_cannot_be_used_is_kept_aside(
    server: Server, live: MqttSubscriber, publisher: Publisher,
) -> None:
    with_logger(server)
    topic = "parcelguard/acme/devices/LOG-1/telemetry"
    publisher.send(topic, reading(0, 1))
    publisher.send(topic, [reading(1, 2), reading(2, 3)])
    publisher.send(topic, reading(0, 1))  # delivered again: a duplicate
    until(lambda: live.counts[("devices", "duplicate")] == 1)
    assert [p["seq"] for p in stored_readings(server)] == [1, 2, 3]

    publisher.send("parcelguard/acme/devices/LOG-9/telemetry", reading(3, 1, device="LOG-9"))
    publisher.send(topic, reading(4, 4, device="LOG-2"))  # not the topic's device
    publisher.send(topic, b"\xff not json")
    publisher.send("parcelguard/other/devices/LOG-1/telemetry", reading(5, 5))  # other tenant
    until(lambda: len(rejected(server)) == 3)
    reasons = sorted(r["reason"] for r in rejected(server))
    assert any("unknown device 'LOG-9'" in r for r in reasons)
    assert any("the topic is device 'LOG-1'" in r for r in reasons)
    assert all(r["source"] == "mqtt" for r in rejected(server))
    assert len(stored_readings(server)) == 3
    assert live.counts[("devices", "rejected")] == 4  # the other tenant's too, kept there


def test_a_seq_gap_of_a_box_sensor_is_reported(
    server: Server, live: MqttSubscriber, publisher: Publisher,
) -> None:
    with_logger(server)
    topic = "parcelguard/acme/devices/LOG-1/telemetry"
    for minute, seq in ((0, 1), (1, 2), (2, 5)):
        publisher.send(topic, reading(minute, seq))
    until(lambda: len(stored_readings(server)) == 3)
    with server.system.store.unit_of_work(write=False) as uow:
        gaps = uow.alerts.page("acme", AlertFilter(kind=Kind.SENSOR_GAP), None, 10)
    assert len(gaps) == 1


def test_sorter_scans_are_recorded_at_the_topics_facility(
    server: Server, live: MqttSubscriber, publisher: Publisher,
) -> None:
    with_logger(server)
    at = T0 - timedelta(hours=2)
    scans = [{"tracking_no": TN, "carrier": "sf", "status": "in_transit", "substatus": sub,
              "occurred_at": times.iso(at + timedelta(minutes=i)), "device_id": "SORTER-3",
              "location": {"facility_id": "HUB-SHA", "city": "上海"}}
             for i, sub in enumerate(("arrived", "sorted"))]
    publisher.send("parcelguard/acme/facilities/HUB-SHA/scans", scans)
    publisher.send("parcelguard/acme/facilities/HUB-PEK/scans", scans[:1])  # wrong facility
    until(lambda: live.counts[("facilities", "accepted")] == 2 and len(rejected(server)) == 1)
    events = server.client().get(f"/v1/shipments/{TN}/timeline").json()["events"]
    assert [(e["substatus"], e["source"]) for e in events] == [("arrived", "mqtt"),
                                                               ("sorted", "mqtt")]
    assert "HUB-PEK" in rejected(server)[0]["reason"]


def kill(sub: MqttSubscriber) -> None:
    """As if the process died: the connection drops without a DISCONNECT and nothing more is
    acknowledged (what the writer commits afterwards is never acknowledged to the broker)."""
    client = sub._client
    client.ack = lambda mid, qos: mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN  # type: ignore[method-assign]
    client.loop_stop()
    sock = client.socket()
    if sock is not None:
        sock.close()


def test_every_acknowledged_reading_survives_subscriber_kills_exactly_once(
    server: Server, broker: None, publisher: Publisher,
) -> None:
    """Readings keep coming while the subscriber is killed and started again: the broker keeps
    what was not acknowledged (persistent session), redelivers what was in flight, and the
    store keeps each reading once."""
    with_logger(server)
    client_id = f"pg-test-{uuid.uuid4().hex}"
    total = 20_000
    topic = "parcelguard/acme/devices/LOG-1/telemetry"
    sent = threading.Event()

    def publish() -> None:
        # Mosquitto drops QoS 1 messages queued beyond max_queued_messages (1,000 by default) for
        # a client, online or not; a publisher running ahead of a subscriber that is down or
        # stalled behind a slow commit would lose messages at the broker, not in ParcelGuard.
        # So it keeps at most 500 readings ahead of what the store holds.
        for i in range(total):
            while i - stored_count(server) > 500:
                time.sleep(0.02)
            publisher.client.publish(topic, json.dumps(reading(i / 6000, i + 1)).encode(), qos=1)
            time.sleep(0.001)
        sent.set()

    sub = subscriber(server, client_id)
    threading.Thread(target=publish, daemon=True).start()
    for _ in range(6):
        time.sleep(2)
        kill(sub)  # in-flight messages were not acknowledged: they come again
        time.sleep(0.2)
        sub = subscriber(server, client_id)
    assert sent.wait(120)
    try:
        try:
            until(lambda: stored_count(server) >= total, 120)
        finally:
            seqs = sorted(p["seq"] for p in stored_readings(server))
            missing = sorted(set(range(1, total + 1)) - set(seqs))
            assert not missing, f"{len(seqs)} stored, {len(missing)} missing: {missing[:20]}"
        assert seqs == list(range(1, total + 1))  # each once
    finally:
        sub.stop()

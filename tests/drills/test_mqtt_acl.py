"""The broker's ACL from deploy/: a tenant's device login publishes under its own tenant only,
and ParcelGuard's subscriber reads every tenant. Run against a real Mosquitto started with
``deploy/mosquitto.acl`` as it ships."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.drills.test_faults import PrivateMosquitto

ACL = Path(__file__).parents[2] / "deploy" / "mosquitto.acl"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd is needed (apt-get install mosquitto)")
    passwd = tmp_path / "passwd"
    for i, (user, password) in enumerate((("parcelguard", "pg-secret"), ("acme", "acme-secret"))):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True)
    broker = PrivateMosquitto(tmp_path / "mqtt", access=(
        f"allow_anonymous false\npassword_file {passwd}\nacl_file {ACL}\n"))
    broker.start()
    try:
        yield broker.port
    finally:
        broker.stop()


def _client(port: int, user: str, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)  # v5: a refused publish is answered, not dropped
    client.username_pw_set(user, password)
    accepted: list[bool] = []
    connected = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode,
                   _p: object) -> None:
        accepted.append(not reason.is_failure)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    # publishing before the broker's CONNACK has been read fails: "not currently connected"
    assert connected.wait(10), f"{user} got no answer to its login"
    assert accepted == [True], f"{user}'s login was refused"
    return client


def test_a_device_login_publishes_under_its_own_tenant_only(broker: int) -> None:
    heard: list[str] = []
    subscribed, marker = threading.Event(), threading.Event()
    sub = _client(broker, "parcelguard", "pg-secret")
    sub.on_message = lambda _c, _u, msg: (heard.append(msg.topic),
                                          msg.payload == b"end" and marker.set())
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.subscribe([("parcelguard/+/devices/+/telemetry", 1),
                   ("parcelguard/+/facilities/+/scans", 1)])
    assert subscribed.wait(10)
    device = _client(broker, "acme", "acme-secret")
    acked: dict[int, bool] = {}
    device.on_publish = lambda _c, _u, mid, reason, _p: acked.__setitem__(mid, not reason.is_failure)
    try:
        sent = {topic: device.publish(topic, b"[]", qos=1) for topic in (
            "parcelguard/other/facilities/HUB-SHA/scans",  # another tenant's: refused
            "parcelguard/other/devices/TL-1/telemetry",
            "parcelguard/acme/facilities/HUB-SHA/scans")}
        for info in sent.values():
            info.wait_for_publish(10)
        assert {topic: acked[info.mid] for topic, info in sent.items()} == {
            "parcelguard/other/facilities/HUB-SHA/scans": False,
            "parcelguard/other/devices/TL-1/telemetry": False,
            "parcelguard/acme/facilities/HUB-SHA/scans": True}
        device.publish("parcelguard/acme/devices/TL-1/telemetry", b"end", qos=1)
        assert marker.wait(10), heard
        assert heard == ["parcelguard/acme/facilities/HUB-SHA/scans",
                         "parcelguard/acme/devices/TL-1/telemetry"]
    finally:
        for c in (device, sub):
            c.loop_stop()
            c.disconnect()

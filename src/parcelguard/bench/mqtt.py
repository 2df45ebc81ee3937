"""MQTT telemetry end to end: publish (QoS 1) → committed, from 500 simulated devices.

A real server (its own process, SQLite) subscribes to the local Mosquitto. 500 vehicle units
are registered; a publisher sends each a stream of GPS and reefer readings, round robin, as
fast as the server keeps up (never more than 800 ahead of the store, because the broker drops
what queues beyond its limit). The rate is readings
committed per second, from the first publish until the server's counter shows the last one
stored. The baseline, against the same server in the same run, is ``POST /v1/telemetry`` with
the same readings of other devices in arrays of 100.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from parcelguard.bench.http import start_server

DEVICES = 500
# Mosquitto drops QoS 1 messages beyond max_queued_messages (1,000 by default) queued for a
# subscriber, connected or not: the publisher stays at most this far ahead of the store
AHEAD = 800
TENANT = "bench"


@dataclass
class Figures:
    name: str
    readings: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


def _reading(device: str, i: int, start: datetime) -> dict[str, Any]:
    return {"device_id": device, "ts": (start + timedelta(seconds=i)).isoformat(), "seq": i,
            "lat": 31.2 + i * 1e-4, "lon": 121.4, "speed_kmh": 60.0, "temperature_c": 4.0}


def _stored(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    total = 0
    for line in text.splitlines():
        if line.startswith('parcelguard_mqtt_items_total{') and 'result="accepted"' in line:
            total += int(float(line.split()[-1]))
    return total


def run(readings: int, port: int) -> list[Figures]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(Path(tmp), port, mqtt_client_id=f"bench-{uuid.uuid4().hex}")
        key: str = proc.key  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        try:
            for prefix in ("M", "H"):
                for i in range(DEVICES):
                    httpx.post(f"{base}/v1/devices", headers=auth, timeout=30, json={
                        "device_id": f"{prefix}{i:04d}", "kind": "vehicle_unit",
                        "vehicle_id": f"{prefix}-TRUCK-{i:04d}"}).raise_for_status()
            start = datetime.now(UTC) - timedelta(hours=6)
            per_device = readings // DEVICES
            http_fig = Figures("POST /v1/telemetry, arrays of 100")
            lines = [_reading(f"H{d:04d}", i, start) for i in range(per_device)
                     for d in range(DEVICES)]
            began = time.perf_counter()
            with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
                for i in range(0, len(lines), 100):
                    client.post("/v1/telemetry", json=lines[i:i + 100]).raise_for_status()
            http_fig.seconds, http_fig.readings = time.perf_counter() - began, len(lines)

            mqtt_fig = Figures("MQTT QoS 1, one reading a message")
            deadline = time.monotonic() + 30
            while _connected(base) is False and time.monotonic() < deadline:
                time.sleep(0.2)
            pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex}")
            pub.max_inflight_messages_set(1000)
            pub.connect("127.0.0.1", 1883)
            pub.loop_start()
            began = time.perf_counter()
            sent = stored = 0
            for i in range(per_device):
                for d in range(DEVICES):
                    device = f"M{d:04d}"
                    pub.publish(f"parcelguard/{TENANT}/devices/{device}/telemetry",
                                json.dumps(_reading(device, i, start)).encode(), qos=1)
                    sent += 1
                    while sent - stored > AHEAD:  # stay inside the broker's queue limit
                        stored = _stored(base)
                        if sent - stored > AHEAD:
                            time.sleep(0.005)
            while _stored(base) < sent:
                if time.perf_counter() - began > 600:
                    raise RuntimeError("the server did not store every reading in 10 minutes")
                time.sleep(0.1)
            mqtt_fig.seconds, mqtt_fig.readings = time.perf_counter() - began, sent
            pub.disconnect()
            pub.loop_stop()
            return [http_fig, mqtt_fig]
        finally:
            proc.terminate()
            proc.wait(30)


def _connected(base: str) -> bool:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return "parcelguard_mqtt_connected 1.0" in text


def report(runs: list[Figures]) -> list[str]:
    base, mq = runs
    lines = [f"[mqtt] {mq.readings:,} readings from {DEVICES} devices through the local "
             "Mosquitto, server on SQLite in its own process"]
    for f in runs:
        lines.append(f"  {f.name:<36} {f.rate:8,.0f} readings/s  ({f.readings:,} in "
                     f"{f.seconds:.1f} s)")
    lines.append(f"  MQTT / HTTP arrays = {mq.rate / base.rate:.2f}")
    return lines

"""`parcelguard demo` as a newcomer runs it: live data within 60 seconds, a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port


def test_the_demo_serves_live_simulated_data_within_a_minute_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "parcelguard.cli", "demo", "--port", str(port), "--shipments", "200"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    started = time.monotonic()
    output: list[str] = []
    key = None
    try:
        assert proc.stdout is not None
        while key is None and time.monotonic() - started < 60:
            line = proc.stdout.readline()
            output.append(line)
            if m := re.search(r"merchant key\s+(pgk_\S+)", line):
                key = m.group(1)
        assert key, "".join(output)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                              headers={"Authorization": f"Bearer {key}"})
        with client:
            delivered = []
            while time.monotonic() - started < 60 and not delivered:
                shipments = client.get("/v1/shipments", params={"status": "delivered"}).json()
                delivered = shipments["items"]
                time.sleep(1)
            assert delivered, "no delivered shipment within 60 seconds"
            tn = delivered[0]["tracking_no"]
            timeline = client.get(f"/v1/shipments/{tn}/timeline").json()
            assert timeline["events"][-1]["status"] == "delivered"
            assert client.get(f"/v1/shipments/{tn}/custody").json()["entries"]
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest
    assert "stopped cleanly" in rest

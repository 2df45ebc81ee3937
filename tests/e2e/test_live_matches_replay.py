"""The live server and ``parcelguard replay`` agree on a simulated day.

The same simulated lines go once through the real HTTP API of a running server, each posted
when the server's clock reaches its arrival time, and once through replay. Both must produce
exactly the same alert state changes, and the alerts API must show the state replay ends with.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.ingest.replay import Replay
from parcelguard.services.alerting import Change, replay_line
from parcelguard.services.clock import ManualClock
from parcelguard.simulator.scenario import SimConfig, Simulation
from tests.conftest import Server, settings_for

ROUTES = {"shipment": "/v1/shipments", "event": "/v1/events", "telemetry": "/v1/telemetry",
          "device": "/v1/devices"}
COMMANDS = {"shipment": "RegisterShipment", "event": "RecordScan", "telemetry": "RecordReading",
            "device": "RegisterDevice"}
Counts = dict[str, dict[str, int]]


def _simulated_day(folder: Path) -> list[dict[str, object]]:
    config = SimConfig(seed=3, shipments=12, start=times.parse("2026-11-21T00:00:00+08:00", "start"),
                       span=timedelta(days=1), anomaly_rate=0.8, telemetry=True, clock_every=None)
    events, _ = Simulation(config).write(folder)
    return [json.loads(line) for line in events.read_text().splitlines()]


def _replayed(lines: list[dict[str, object]],
              tmp_path: Path) -> tuple[list[dict[str, object]], Counts]:
    clock = ManualClock(times.parse("2026-11-01T00:00:00Z", "start"))
    system = bootstrap.build(settings_for("memory://", tmp_path / "replay"), clock=clock)
    system.ingestor.start()
    try:
        with system.store.unit_of_work() as uow:
            uow.tenants.add("acme", "ACME", 0)
            uow.commit()
        run = Replay(system.ingestor, clock, "acme", system.encode)
        summary = run.feed(json.dumps(line, ensure_ascii=False).encode() for line in lines)
        assert summary.errors == []
        return run.alert_lines(), summary.results
    finally:
        system.store.close()


def _live(lines: list[dict[str, object]], server: Server,
          clock: ManualClock) -> tuple[list[Change], Counts]:
    changes: list[Change] = []
    counts: Counts = {}
    server.system.ingestor.listeners.append(changes.extend)
    client = server.client()
    for line in lines:
        kind = str(line["type"])
        body = {k: v for k, v in line.items() if k not in ("type", "received_at")}
        if "received_at" in line:
            clock.advance_to(times.parse(str(line["received_at"]), "received_at"))
        r = client.post(ROUTES[kind], content=json.dumps(body, ensure_ascii=False).encode(),
                        headers={"content-type": "application/json"})
        assert r.status_code in (200, 201), (line, r.text)
        if kind in ("event", "telemetry"):
            items = r.json()["items"]
            result = items[0]["result"] if items else "accepted"
        else:
            result = "accepted" if r.status_code == 201 else "duplicate"
        per = counts.setdefault(COMMANDS[kind], {})
        per[result] = per.get(result, 0) + 1
    return changes, counts


def _states_on_the_api(client: httpx.Client) -> dict[str, str]:
    found: dict[str, str] = {}
    cursor = None
    while True:
        page = client.get("/v1/alerts", params={"limit": 200, **({"cursor": cursor} if cursor
                                                                  else {})}).json()
        found.update({a["alert_id"]: a["state"] for a in page["items"]})
        cursor = page.get("next_cursor")
        if not cursor:
            return found


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not what differs
def test_the_live_server_and_replay_agree_on_a_simulated_day(
        server: Server, clock: ManualClock, tmp_path: Path) -> None:
    lines = _simulated_day(tmp_path / "sim")
    assert {str(line["type"]) for line in lines} == set(ROUTES)
    replayed, replay_counts = _replayed(lines, tmp_path)
    changes, live_counts = _live(lines, server, clock)
    live = [replay_line(c) for c in changes if c.is_transition]

    assert live_counts == replay_counts
    assert live_counts["RecordScan"].get("duplicate", 0) > 0  # the simulator resends some
    assert len(replayed) >= 20  # enough happens for the comparison to mean something
    assert len({a["kind"] for a in replayed}) >= 6
    assert live == replayed
    final = {str(a["alert_id"]): str(a["state"]) for a in replayed}
    assert _states_on_the_api(server.client()) == final

"""The liability report over real HTTP and from the command line."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from parcelguard.domain import times
from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from parcelguard.services.messages import AdvanceClock
from tests.conftest import BUS, Server
from tests.factories import at, event_json, shipment_json
from tests.integration.test_cli import EXE

EMBEDDED_AND_BUS = pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
TN = "SF1400000001"


def knocked_in_transit(server: Server) -> httpx.Client:
    """A fragile parcel: intact through hub A, knocked (12 g) on vehicle 沪A1 between hubs,
    found damaged at hub B."""
    api = server.client()  # admin: also posts the sensor's readings
    assert api.post("/v1/shipments", json=shipment_json(
        TN, category="fragile", devices=["SK-1"], route_plan=["HUB-A", "HUB-B"])).status_code == 201
    hub_a = {"facility_id": "HUB-A", "city": "上海"}
    scans = [
        event_json(TN, 0, "picked_up", operator_id="C-1", condition="intact"),
        event_json(TN, 2, "in_transit", substatus="arrived", location=hub_a,
                   operator_id="OP-A1", condition="intact"),
        event_json(TN, 2.5, "in_transit", substatus="sorting", location=hub_a,
                   operator_id="OP-A2", condition="intact"),
        event_json(TN, 3, "in_transit", substatus="loaded", location=hub_a, vehicle_id="沪A1",
                   operator_id="OP-A3", condition="intact"),
        event_json(TN, 8, "in_transit", substatus="unloaded", vehicle_id="沪A1",
                   location={"facility_id": "HUB-B", "city": "北京"}, operator_id="OP-B1",
                   condition="damaged"),
    ]
    assert api.post("/v1/events", json=scans).json()["accepted"] == 5
    readings = [{"device_id": "SK-1", "ts": times.iso(at(h)), "shock_g": g}
                for h, g in ((1, 0.3), (4, 0.4), (5, 12.0), (6, 0.2))]
    assert api.post("/v1/telemetry", json=readings).json()["accepted"] == 4
    return api


@EMBEDDED_AND_BUS
def test_the_report_places_the_knock_on_the_vehicle_and_cites_its_entries(
    server: Server,
) -> None:
    api = knocked_in_transit(server)
    r = api.get(f"/v1/shipments/{TN}/liability")
    assert r.status_code == 200, r.text
    body = r.json()
    holders = [(s["holder"]["kind"], s["holder"]["id"]) for s in body["segments"]]
    assert holders == [("courier", "C-1"), ("facility", "HUB-A"), ("vehicle", "沪A1"),
                       ("facility", "HUB-B")]
    shock, damage = sorted(body["incidents"], key=lambda i: i["kind"], reverse=True)
    assert (shock["kind"], shock["segment"], shock["party"]["id"]) == ("shock", 2, "沪A1")
    assert (damage["kind"], damage["segment"], damage["confidence"]) == ("damage", 2, 0.9)
    assert damage["party"] == {"kind": "vehicle", "id": "沪A1", "carrier": "sf",
                               "operator_id": "OP-A3", "facility_id": "HUB-A",
                               "vehicle_id": "沪A1"}
    assert "a shock of 12.0 g was recorded between them" in damage["reasoning"]
    cited = {i for inc in body["incidents"] for i in inc["ledger"]}
    assert cited <= {e["index"] for e in body["entries"]}
    assert body["verifier_key"]


@EMBEDDED_AND_BUS
def test_the_report_is_scoped_and_needs_the_ledger_right(server: Server) -> None:
    knocked_in_transit(server)
    other = server.client(Role.MERCHANT, tenant="other")
    assert other.get(f"/v1/shipments/{TN}/liability").status_code == 404
    gateway = server.client(Role.DEVICE_GATEWAY)
    assert gateway.get(f"/v1/shipments/{TN}/liability").status_code == 403


@EMBEDDED_AND_BUS
def test_the_command_prints_the_verdicts(server: Server) -> None:
    knocked_in_transit(server)
    env = {**os.environ, "COLUMNS": "250", "PARCELGUARD_DATABASE_URL": server.system.settings.db_url,
           "PARCELGUARD_DATA_DIR": str(server.system.settings.data_dir),
           "PARCELGUARD_LEDGER_KEY": server.system.settings.ledger_key or "",
           "PARCELGUARD_DATA_KEY": server.system.settings.data_key or ""}
    done = subprocess.run([*EXE, "report", "liability", TN, "--tenant", "acme"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "vehicle:沪A1 (OP-A3)" in done.stdout
    assert "damage" in done.stdout
    as_json = subprocess.run([*EXE, "report", "liability", TN, "--tenant", "acme", "--json"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert json.loads(as_json.stdout)["incidents"][0]["party"]["id"] == "沪A1"
    missing = subprocess.run([*EXE, "report", "liability", "SF1499999999", "--tenant", "acme"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode == 1
    assert "SF1499999999" in missing.stderr


@EMBEDDED_AND_BUS
def test_a_dossier_from_the_api_verifies_with_the_command_and_a_forged_one_does_not(
    server: Server, tmp_path: Path,
) -> None:
    api = knocked_in_transit(server)
    r = api.get(f"/v1/shipments/{TN}/dossier.pdf")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/pdf")
    good = tmp_path / "d.pdf"
    good.write_bytes(r.content)
    key = api.get("/v1/ledger/key").json()["verifier_key"]
    done = subprocess.run([*EXE, "ledger", "verify-dossier", str(good), "--key", key],
                          capture_output=True, text=True, timeout=60)
    # no checkpoint is signed yet on this young ledger: the command says so and fails
    assert done.returncode == 1
    assert "no signed checkpoint or signed verdicts" in done.stderr
    unpinned = subprocess.run([*EXE, "ledger", "verify-dossier", str(good)],
                              capture_output=True, text=True, timeout=60)
    assert unpinned.returncode == 1
    assert "give --key" in unpinned.stderr
    # five minutes on, the ledger signs a checkpoint; a dossier made now carries it
    clock = server.system.clock
    assert isinstance(clock, ManualClock)
    clock.advance_to(clock.now() + timedelta(minutes=6))
    server.system.pipeline.submit_sync([AdvanceClock(clock.now())])
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(api.get(f"/v1/shipments/{TN}/dossier.pdf").content)
    ok = subprocess.run([*EXE, "ledger", "verify-dossier", str(signed), "--key", key],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "dossier OK" in ok.stdout
    bad = tmp_path / "x.pdf"
    bad.write_bytes(b"%PDF-1.7 not a dossier")
    broken = subprocess.run([*EXE, "ledger", "verify-dossier", str(bad), "--trust-embedded-key"],
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert "cannot read the dossier" in broken.stderr

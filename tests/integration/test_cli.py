"""The `parcelguard` command as an operator runs it, in a subprocess, on a SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import KEY_A, KEY_B
from tests.factories import shipment_json

EXE = [sys.executable, "-m", "parcelguard.cli"]


def run(tmp_path: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARCELGUARD_DATA_DIR": str(tmp_path), "PARCELGUARD_LEDGER_KEY": KEY_A,
           "PARCELGUARD_DATA_KEY": KEY_B}
    done = subprocess.run([*EXE, *args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_a_key_is_printed_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    run(tmp_path, "tenants", "create", "acme", "--name", "ACME")
    made = run(tmp_path, "keys", "create", "--tenant", "acme", "--role", "merchant")
    key = made.stdout.strip()
    assert key.startswith("pgk_")
    assert "shown once" in made.stderr
    listed = run(tmp_path, "keys", "list", "--tenant", "acme").stdout
    assert key.split("_")[1] in listed
    assert key.split("_", 2)[2] not in listed
    db = (tmp_path / "parcelguard.db").read_bytes()
    assert key.split("_", 2)[2].encode() not in db


def test_a_key_for_a_missing_tenant_is_refused_with_what_to_do(tmp_path: Path) -> None:
    done = run(tmp_path, "keys", "create", "--tenant", "ghost", "--role", "merchant", ok=False)
    assert done.returncode == 1
    assert "parcelguard tenants create ghost" in done.stderr


def test_a_carrier_network_key_names_its_carrier(tmp_path: Path) -> None:
    run(tmp_path, "tenants", "create", "sf-net")
    made = run(tmp_path, "keys", "create", "--tenant", "sf-net", "--role", "carrier",
               "--network", "sf")
    assert "network sf (every tenant's sf parcels)" in made.stderr
    listed = run(tmp_path, "keys", "list", "--tenant", "sf-net").stdout
    assert "carrier" in listed
    assert " sf " in listed
    done = run(tmp_path, "keys", "create", "--tenant", "sf-net", "--role", "merchant",
               "--network", "sf", ok=False)
    assert (done.returncode, "only a carrier key spans a network" in done.stderr) == (1, True)


def test_ledger_verify_passes_then_reports_tampering_with_its_position(tmp_path: Path) -> None:
    data = tmp_path / "sim"
    run(tmp_path, "simulate", str(data), "--shipments", "20", "--seed", "3")
    run(tmp_path, "replay", str(data / "events.ndjson"), "--out", str(tmp_path / "alerts.ndjson"),
        "--store", f"sqlite:///{tmp_path / 'parcelguard.db'}")
    assert "ledger OK" in run(tmp_path, "ledger", "verify").stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "parcelguard.db") as conn:
        conn.execute("DROP TRIGGER ledger_entries_no_update")
        conn.execute("UPDATE ledger_entries SET body = CAST(replace(CAST(body AS TEXT), "
                     "'\"v\":1', '\"v\":2') AS BLOB) WHERE idx = 100")
    done = run(tmp_path, "ledger", "verify", ok=False)
    assert done.returncode == 2
    assert "edited at 100" in done.stdout


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_replay_is_deterministic_and_reports_what_it_did(tmp_path: Path, store: str) -> None:
    data = tmp_path / "sim"
    run(tmp_path, "simulate", str(data), "--shipments", "30", "--seed", "9")
    outs = []
    for i in range(2):
        target = "memory" if store == "memory" else f"sqlite:///{tmp_path / f'r{i}.db'}"
        done = run(tmp_path, "replay", str(data / "events.ndjson"), "--out",
                   str(tmp_path / f"alerts{i}.ndjson"), "--store", target)
        outs.append(((tmp_path / f"alerts{i}.ndjson").read_bytes(), done.stderr))
    assert outs[0] == outs[1]
    assert '"RegisterShipment": {"accepted": 30}' in outs[0][1]


def test_rules_are_checked_added_listed_disabled_and_deleted(tmp_path: Path) -> None:
    expression = 'event.condition == "wet" && shipment.category == "cold_chain"'
    checked = run(tmp_path, "rules", "check", expression).stdout
    assert "valid; reads event.condition, shipment.category" in checked
    bad = run(tmp_path, "rules", "check", "event.condition ==", ok=False)
    assert bad.returncode == 1
    assert "line 1, column 19" in bad.stderr
    run(tmp_path, "tenants", "create", "acme")
    added = run(tmp_path, "rules", "add", "--tenant", "acme", "--name", "wet cold chain",
                "--severity", "critical", expression).stdout
    rule_id = added.split()[1]
    assert rule_id.startswith("rule_")
    assert f"custom:{rule_id}" in added
    listed = run(tmp_path, "rules", "list", "--tenant", "acme").stdout
    assert "wet cold chain" in listed
    assert "critical" in listed
    assert "yes" in listed
    run(tmp_path, "rules", "disable", "--tenant", "acme", rule_id)
    assert "no" in run(tmp_path, "rules", "list", "--tenant", "acme").stdout
    run(tmp_path, "rules", "delete", "--tenant", "acme", rule_id)
    assert rule_id not in run(tmp_path, "rules", "list", "--tenant", "acme").stdout
    ghost = run(tmp_path, "rules", "add", "--tenant", "ghost", "--name", "x", "true", ok=False)
    assert "no tenant 'ghost'" in ghost.stderr


def test_carrier_endpoints_are_added_listed_and_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table in full
    run(tmp_path, "tenants", "create", "acme")
    added = run(tmp_path, "endpoints", "add", "--tenant", "acme", "--format", "kdniao",
                "--secret", "appkey-1", "--name", "kdniao main").stdout
    endpoint_id = added.split()[1].rstrip(":")
    assert endpoint_id.startswith("ep_")
    assert f"POST /v1/hooks/kdniao/{endpoint_id}" in added
    assert "appkey-1" not in added
    generic = run(tmp_path, "endpoints", "add", "--tenant", "acme", "--format", "generic").stdout
    assert "signing secret (shown once): whsec_" in generic
    listed = run(tmp_path, "endpoints", "list", "--tenant", "acme").stdout
    assert "kdniao main" in listed
    assert "Asia/Shanghai" in listed
    run(tmp_path, "endpoints", "disable", "--tenant", "acme", endpoint_id)
    assert "no" in run(tmp_path, "endpoints", "list", "--tenant", "acme").stdout
    missing = run(tmp_path, "endpoints", "add", "--tenant", "acme", "--format", "aftership",
                  ok=False)
    assert "secret: required" in missing.stderr


def test_devices_are_listed_with_their_bindings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                ) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    run(tmp_path, "tenants", "create", "acme")
    lines = tmp_path / "in.ndjson"
    lines.write_text(json.dumps({"type": "shipment", **shipment_json(
        "SF1400000001", devices=["LOG-1"])}) + "\n" + json.dumps(
        {"type": "device", "device_id": "CAB-1", "kind": "vehicle_unit",
         "vehicle_id": "沪A12345"}, ensure_ascii=False) + "\n")
    store = f"sqlite:///{tmp_path / 'parcelguard.db'}"
    run(tmp_path, "replay", str(lines), "--out", str(tmp_path / "a.ndjson"), "--tenant", "acme",
        "--store", store)
    listed = run(tmp_path, "devices", "list", "--tenant", "acme").stdout
    assert "CAB-1" in listed and "沪A12345" in listed  # noqa: PT018
    assert "LOG-1" in listed and "SF1400000001" in listed  # noqa: PT018

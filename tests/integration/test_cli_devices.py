"""``parcelguard devices bind|unbind`` against a real server: bindings are ledger entries."""

from __future__ import annotations

import subprocess

import pytest

from parcelguard.domain.tenancy import Role
from tests.conftest import Server
from tests.factories import shipment_json
from tests.integration.test_cli import EXE

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def cli(server: Server, *args: str, role: Role = Role.MERCHANT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, "devices", *args, "--url", server.url, "--key",
                           server.keys.acme[role]], capture_output=True, text=True, timeout=60)


@SQLITE
def test_a_device_is_bound_to_a_parcel_then_unbound_from_the_command_line(server: Server) -> None:
    api = server.client()
    assert api.post("/v1/shipments", json=shipment_json("SF1400000001")).status_code == 201
    bound = cli(server, "bind", "TAG-1", "--kind", "box_sensor", "--shipment", "SF1400000001")
    assert bound.returncode == 0, bound.stderr
    assert "device TAG-1 bound to SF1400000001 (accepted)" in bound.stdout
    assert api.get("/v1/devices/TAG-1").json()["tracking_no"] == "SF1400000001"

    loose = cli(server, "unbind", "TAG-1")
    assert loose.returncode == 0, loose.stderr
    device = api.get("/v1/devices/TAG-1").json()
    assert (device["kind"], device["tracking_no"]) == ("box_sensor", None)


@SQLITE
def test_a_refused_binding_names_the_field_and_exits_non_zero(server: Server) -> None:
    unknown = cli(server, "bind", "TAG-2", "--kind", "box_sensor", "--shipment", "SF1499999999")
    assert unknown.returncode == 1
    assert "tracking_no" in unknown.stderr
    assert "SF1499999999" in unknown.stderr
    missing = cli(server, "unbind", "TAG-404")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    carrier = cli(server, "bind", "TAG-3", "--kind", "vehicle_unit", "--vehicle", "V1",
                  role=Role.CARRIER)  # a carrier key may not manage devices
    assert carrier.returncode == 1
    assert "403" in carrier.stderr

"""Devices over HTTP: bind, rebind, unbind, list and read, per tenant."""

from __future__ import annotations

from parcelguard.domain.tenancy import Role
from tests.conftest import BOTH_MODES, Server
from tests.factories import shipment_json

pytestmark = BOTH_MODES  # the same tests on an embedded server and through the bus


def test_devices_are_bound_rebound_unbound_and_listed_per_tenant(server: Server) -> None:
    merchant = server.client(Role.MERCHANT)
    assert merchant.post("/v1/shipments", json=shipment_json(
        "SF1400000001", devices=["LOG-1"])).status_code == 201
    unit = {"device_id": "CAB-1", "kind": "vehicle_unit", "vehicle_id": "沪A12345"}
    assert merchant.post("/v1/devices", json=unit).status_code == 201
    assert merchant.post("/v1/devices", json=unit).json()["result"] == "duplicate"
    listed = merchant.get("/v1/devices").json()
    assert [(d["device_id"], d["kind"], d["tracking_no"], d["vehicle_id"])
            for d in listed["items"]] == [("CAB-1", "vehicle_unit", None, "沪A12345"),
                                          ("LOG-1", "box_sensor", "SF1400000001", None)]
    assert listed["next_cursor"] is None
    page = merchant.get("/v1/devices", params={"limit": 1}).json()
    assert [d["device_id"] for d in page["items"]] == ["CAB-1"]
    rest = merchant.get("/v1/devices", params={"cursor": page["next_cursor"]}).json()
    assert [d["device_id"] for d in rest["items"]] == ["LOG-1"]

    moved = {**unit, "vehicle_id": "沪B54321"}
    assert merchant.post("/v1/devices", json=moved).status_code == 201
    assert merchant.get("/v1/devices/CAB-1").json()["vehicle_id"] == "沪B54321"
    assert merchant.post("/v1/devices", json={"device_id": "CAB-1", "kind": "vehicle_unit"}
                         ).json()["error"]["field"] == "vehicle_id"  # a binding is not optional
    unbound = merchant.delete("/v1/devices/CAB-1/binding")
    assert (unbound.status_code, unbound.json()["vehicle_id"]) == (200, None)
    assert merchant.get("/v1/devices/CAB-1").json()["vehicle_id"] is None
    assert merchant.delete("/v1/devices/NOPE/binding").status_code == 404

    other = server.client(tenant="other")
    assert other.get("/v1/devices/CAB-1").status_code == 404
    assert other.get("/v1/devices").json()["items"] == []
    assert server.client(Role.DEVICE_GATEWAY).get("/v1/devices").status_code == 403

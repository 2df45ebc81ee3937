"""Merchant rules over HTTP: validated on save, run on events and readings, managed, scoped."""

from __future__ import annotations

import time

import httpx
import pytest

from parcelguard.bootstrap import System
from parcelguard.domain.alerts import Severity
from parcelguard.domain.custom import Trigger
from parcelguard.domain.tenancy import Role
from parcelguard.expressions.cel import CelExpressions
from parcelguard.services import merchant
from tests.conftest import BOTH_MODES, Server
from tests.factories import event_json, shipment_json

pytestmark = BOTH_MODES  # the same tests on an embedded server and through the bus

TN = "SF1400000001"
VALUABLE_AT_SHA = 'shipment.declared_value >= 1000.0 && event.facility_id == "HUB-SHA"'


@pytest.fixture
def acme(server: Server) -> httpx.Client:
    client = server.client(Role.MERCHANT)
    body = shipment_json(TN, declared_value_cny=1200.0, devices=["LOG-1"])
    assert client.post("/v1/shipments", json=body).status_code == 201
    return client


def _custom_alerts(client: httpx.Client) -> list[dict[str, object]]:
    items: list[dict[str, object]] = client.get("/v1/alerts", params={"kind": "custom"}).json()["items"]
    return items


@pytest.mark.parametrize(("expression", "on", "message"), [
    ('shipment.category == "fragile" &&\n  event.status ==', "event", "line 2, column 18"),
    ("event.facility == 'HUB-SHA'", "event", "line 1, column 7: event has no field 'facility'"),
    ("reading.temperature_c > 8.0", "event", "unknown variable 'reading'"),
    ("event.status == 'delivered'", "reading", "unknown variable 'event'"),
    ("order.total > 1", "event", "unknown variable 'order'"),
    ("stats.event_count > 2.5 + 1", "event", "cannot be evaluated"),
    ("stats.event_count + 1", "event", "must give true or false, it gives int"),
    ("   ", "event", "is empty"),
])
def test_a_bad_expression_is_refused_with_what_and_where(
    acme: httpx.Client, expression: str, on: str, message: str,
) -> None:
    for path, extra in (("/v1/rules/validate", {}), ("/v1/rules", {"name": "bad"})):
        r = acme.post(path, json={"expression": expression, "on": on, **extra})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["field"] == "expression"
        assert message in error["message"]
    assert acme.get("/v1/rules").json() == []


def test_validate_names_the_fields_an_expression_reads(acme: httpx.Client) -> None:
    r = acme.post("/v1/rules/validate", json={"expression": VALUABLE_AT_SHA})
    assert r.json() == {"valid": True, "reads": {"event": ["facility_id"],
                                                 "shipment": ["declared_value"]}}
    whole = acme.post("/v1/rules/validate", json={"expression": '"HUB-SHA" in shipment.route_plan '
                                                  '&& has(event.city)'}).json()
    assert whole["reads"] == {"event": ["city"], "shipment": ["route_plan"]}


def test_a_rule_opens_its_alert_while_it_holds_and_clears_when_it_stops(acme: httpx.Client) -> None:
    rule = acme.post("/v1/rules", json={"name": "valuable at Shanghai hub",
                                        "expression": VALUABLE_AT_SHA, "severity": "critical"})
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["rule_id"]
    assert rule.json()["alert_rule"] == f"custom:{rule_id}"
    acme.post("/v1/events", json=[
        event_json(TN, 1, "picked_up", event_id="p", location={"facility_id": "SHA-01"}),
        event_json(TN, 2, "in_transit", event_id="a", location={"facility_id": "HUB-SHA"}),
    ])
    [alert] = _custom_alerts(acme)
    assert (alert["rule"], alert["state"], alert["severity"]) == (
        f"custom:{rule_id}", "open", "critical")
    assert alert["opened_at"] == "2026-11-20T02:00:00Z"
    evidence = acme.get(f"/v1/alerts/{alert['alert_id']}").json()["evidence"]
    assert evidence == {"rule_id": rule_id, "name": "valuable at Shanghai hub",
                        "expression": VALUABLE_AT_SHA, "event_id": "a",
                        "values": {"shipment.declared_value": 1200.0,
                                   "event.facility_id": "HUB-SHA"}}
    acme.post("/v1/events", json=[event_json(TN, 3, "in_transit", event_id="b",
                                             location={"facility_id": "HUB-BJS"})])
    [cleared] = _custom_alerts(acme)
    assert (cleared["alert_id"], cleared["state"], cleared["closed_at"]) == (
        alert["alert_id"], "cleared", "2026-11-20T03:00:00Z")


def test_a_rule_on_readings_sees_the_box_sensor(server: Server, acme: httpx.Client) -> None:
    acme.post("/v1/rules", json={"name": "too warm for the wine", "on": "reading",
                                 "expression": "reading.temperature_c > 18.0 && "
                                               "reading.source.startsWith('device:')"})
    gateway = server.client(Role.DEVICE_GATEWAY)
    readings = [{"device_id": "LOG-1", "ts": f"2026-11-20T0{m}:00:00Z", "seq": m,
                 "temperature_c": t} for m, t in ((1, 16.0), (2, 19.5), (3, None), (4, 17.0))]
    assert gateway.post("/v1/telemetry", json=readings).json()["accepted"] == 4
    [alert] = _custom_alerts(acme)
    # opened by the 02:00 reading; the one without a temperature says nothing; 04:00 clears it
    assert (alert["opened_at"], alert["state"], alert["closed_at"]) == (
        "2026-11-20T02:00:00Z", "cleared", "2026-11-20T04:00:00Z")
    evidence = acme.get(f"/v1/alerts/{alert['alert_id']}").json()["evidence"]
    assert evidence["values"] == {"reading.source": "device:LOG-1", "reading.temperature_c": 19.5}
    assert (evidence["device_id"], evidence["ts"]) == ("LOG-1", "2026-11-20T02:00:00Z")


def test_disable_enable_rename_and_delete(acme: httpx.Client) -> None:
    rule_id = acme.post("/v1/rules", json={"name": "r1", "expression": VALUABLE_AT_SHA}).json()[
        "rule_id"]
    off = acme.patch(f"/v1/rules/{rule_id}", json={"enabled": False}).json()
    assert off["enabled"] is False
    acme.post("/v1/events", json=[event_json(TN, 2, "in_transit", event_id="a",
                                             location={"facility_id": "HUB-SHA"})])
    assert _custom_alerts(acme) == []
    on = acme.patch(f"/v1/rules/{rule_id}", json={"enabled": True, "name": "r2",
                                                  "severity": "info"}).json()
    assert (on["enabled"], on["name"], on["severity"]) == (True, "r2", "info")
    acme.post("/v1/events", json=[event_json(TN, 3, "in_transit", event_id="b",
                                             location={"facility_id": "HUB-SHA"})])
    [alert] = _custom_alerts(acme)
    assert (alert["opened_at"], alert["severity"]) == ("2026-11-20T03:00:00Z", "info")
    bad = acme.patch(f"/v1/rules/{rule_id}", json={"expression": "event.nope"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "expression")
    assert acme.delete(f"/v1/rules/{rule_id}").status_code == 204
    assert acme.get(f"/v1/rules/{rule_id}").status_code == 404
    assert acme.get("/v1/rules").json() == []
    assert acme.get(f"/v1/alerts/{alert['alert_id']}").json()["rule"] == f"custom:{rule_id}"


def test_names_are_unique_per_tenant_and_rules_are_private(server: Server,
                                                           acme: httpx.Client) -> None:
    rule_id = acme.post("/v1/rules", json={"name": "r1", "expression": VALUABLE_AT_SHA}).json()[
        "rule_id"]
    again = acme.post("/v1/rules", json={"name": "r1", "expression": "true"})
    assert again.status_code == 409
    other = server.client(Role.ADMIN, tenant="other")
    assert other.get(f"/v1/rules/{rule_id}").status_code == 404
    assert other.delete(f"/v1/rules/{rule_id}").status_code == 404
    assert other.get("/v1/rules").json() == []
    assert other.post("/v1/rules", json={"name": "r1", "expression": "true"}).status_code == 201
    assert server.client(Role.CARRIER).get("/v1/rules").status_code == 403


def test_a_rule_saved_by_another_process_is_picked_up(system: System, acme: httpx.Client) -> None:
    """``parcelguard rules add`` writes to the store; the server notices within a second."""
    merchant.create(system.store, CelExpressions(), "acme", "from the cli", VALUABLE_AT_SHA,
                    Trigger.EVENT, Severity.WARNING, 0)
    time.sleep(merchant.POLL_SECONDS + 0.2)
    acme.post("/v1/events", json=[event_json(TN, 2, "in_transit", event_id="a",
                                             location={"facility_id": "HUB-SHA"})])
    [alert] = _custom_alerts(acme)
    assert alert["evidence"]["name"] == "from the cli"  # type: ignore[index]

"""Tenancy drill (issue 8, drill 5; OWASP API1): every route x every role x another tenant's
object, generated from the OpenAPI document.

Tenant ``acme`` owns one object of every kind a route can name (a shipment with an alert, a
device, a webhook subscription and a message owed to it, a rule, a carrier endpoint, a claim,
a consumer's notification subscription, a disruption).
Every operation of the spec whose path names an object is then called by tenant ``other``
with a key of every role, with a well-formed body: none may succeed. A role that has the right
gets 404 (the object does not exist for it), a role without it 403. A route added later is in
the matrix by itself; one naming a kind of object the drill does not know fails it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from parcelguard.domain.tenancy import Role
from tests.conftest import Server
from tests.factories import event_json, shipment_json

TN = "SF1700000001"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
NOT_API = ("/v1/hooks/",)  # carrier pushes: no API key, the signature is the authentication
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/alerts/{alert_id}/assign"): {"json": {"assignee": "x"}},
    ("POST", "/v1/alerts/{alert_id}/comments"): {"json": {"text": "x"}},
    ("PATCH", "/v1/rules/{rule_id}"): {"json": {"name": "x"}},
    ("POST", "/v1/shipments/{tracking_no}/claims"): {"json": {
        "kind": "damage", "description": "x", "amount": 1}},
    ("POST", "/v1/shipments/{tracking_no}/notifications"): {"json": {
        "channel": "sms", "to": "13900001111"}},
    ("POST", "/v1/shipments/{tracking_no}/delivery"): {
        "data": {"code": "123456", "courier_id": "C-1", "device_id": "D-1", "lat": "31.2",
                 "lon": "121.4"}, "files": {"photo": ("p.jpg", JPEG, "image/jpeg")}},
}


def acme_objects(server: Server) -> dict[str, str]:
    """One object of every kind, owned by acme: path parameter name -> its value."""
    api = server.client(Role.ADMIN)
    assert api.post("/v1/shipments", json=shipment_json(TN, category="high_value")
                    ).status_code == 201
    made = api.post("/v1/webhooks", json={"url": "https://hooks.example.com/pg"}).json()
    api.post("/v1/events", json=[event_json(TN, 1, "picked_up", event_id="p"),
                                 event_json(TN, 2, "in_transit", event_id="d",
                                            condition="damaged")])
    (alert,) = api.get("/v1/alerts", params={"kind": "damaged"}).json()["items"]
    assert api.post("/v1/devices", json={"device_id": "TAG-1", "kind": "box_sensor",
                                         "tracking_no": TN}).status_code in (200, 201)
    rule = api.post("/v1/rules", json={"name": "hot", "expression": "reading.temperature_c > 30",
                                       "on": "reading"}).json()
    endpoint = api.post("/v1/carrier-endpoints", json={"format": "generic"}).json()
    claim = api.post(f"/v1/shipments/{TN}/claims", json={
        "kind": "damage", "description": "broken", "amount": 100}).json()
    (message, *_) = api.get("/v1/webhooks/messages").json()
    notification = api.post(f"/v1/shipments/{TN}/notifications", json={
        "channel": "email", "to": "li@example.com"}).json()
    disruption = api.post("/v1/disruptions", json={
        "kind": "weather", "title": "暴雨", "cities": ["杭州"],
        "ends_at": "2026-12-31T00:00:00Z", "extra_delay_hours": 6}).json()
    return {"tracking_no": TN, "alert_id": alert["alert_id"], "device_id": "TAG-1",
            "subscription_id": made["subscription_id"], "message_id": message["message_id"],
            "rule_id": rule["rule_id"], "endpoint_id": endpoint["endpoint_id"],
            "claim_id": claim["claim_id"], "notification_id": notification["subscription_id"],
            "disruption_id": disruption["disruption_id"]}


def operations(server: Server) -> list[tuple[str, str]]:
    """(method, path template) of every operation of the spec that names an object."""
    spec = server.anonymous().get("/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        if "{" not in path or path.startswith(NOT_API):
            continue
        for method in ops:
            out.append((method.upper(), path))
    return sorted(out)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_role_of_another_tenant_reaches_any_object(server: Server) -> None:
    owned = acme_objects(server)
    ops = operations(server)
    assert len(ops) >= 33, ops  # the matrix is generated: a route lost from the spec shows here
    answers: Counter[tuple[str, int]] = Counter()
    for method, template in ops:
        names = re.findall(r"{(\w+)}", template)
        unknown = set(names) - set(owned)
        assert not unknown, f"{method} {template}: the drill has no object for {unknown}"
        path = template.format(**{n: owned[n] for n in names})
        extra = BODIES.get((method, template), {"json": {}} if method in ("POST", "PATCH")
                           else {})
        if template.startswith("/v1/claims/{claim_id}/"):  # every step reads these
            extra = {"json": {"note": "x", "amount": 1}}
        for role in Role:
            client = server.client(role, tenant="other")
            r = client.request(method, path, **extra)
            answers[(role.value, r.status_code)] += 1
            assert r.status_code in (403, 404), (method, template, role.value, r.status_code,
                                                 r.text[:200])
            if role is Role.ADMIN:  # every right: the object is simply not there
                assert r.status_code == 404, (method, template, r.text[:200])
    # and acme itself reaches every one of them (the ids are real)
    mine = server.client(Role.ADMIN)
    for method, template in ops:
        if method != "GET":
            continue
        names = re.findall(r"{(\w+)}", template)
        r = mine.get(template.format(**{n: owned[n] for n in names}))
        assert r.status_code == 200 or (r.status_code, "pod-photo" in template) == (404, True), (
            template, r.status_code)  # (no handover photo was taken)
    total = sum(answers.values())
    print(f"\ntenancy drill: {len(ops)} operations x {len(Role)} roles = {total} calls on "
          f"another tenant's objects, 0 successes: {dict(sorted(answers.items()))}")

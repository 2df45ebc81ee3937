"""Alerts over HTTP: raised by a scan, listed, acknowledged, resolved, commented, scoped."""

from __future__ import annotations

import httpx
import pytest

from parcelguard.domain.tenancy import Role
from parcelguard.services.messages import AdvanceClock
from tests.conftest import BOTH_MODES, Server
from tests.factories import event_json, shipment_json

pytestmark = BOTH_MODES  # the same tests on an embedded server and through the bus

TN = "SF1400000001"


@pytest.fixture
def damaged(server: Server) -> tuple[httpx.Client, str]:
    """A shipment whose second scan finds the box broken: one damaged alert."""
    client = server.client(Role.MERCHANT)
    assert client.post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    client.post("/v1/events", json=[
        event_json(TN, 1, "picked_up", event_id="p"),
        event_json(TN, 2, "in_transit", event_id="d", condition="damaged",
                   location={"facility_id": "HUB-SHA"}, operator_id="EMP-7"),
    ])
    page = client.get("/v1/alerts", params={"kind": "damaged"}).json()
    assert len(page["items"]) == 1
    return client, page["items"][0]["alert_id"]


def test_a_damaged_scan_opens_one_alert_with_its_evidence(damaged: tuple[httpx.Client, str]) -> None:
    client, alert_id = damaged
    alert = client.get(f"/v1/alerts/{alert_id}").json()
    assert (alert["kind"], alert["state"], alert["severity"]) == ("damaged", "open", "critical")
    assert alert["opened_at"] == "2026-11-20T02:00:00Z"
    assert alert["evidence"]["event_id"] == "d"
    assert alert["evidence"]["operator_id"] == "EMP-7"
    listed = client.get(f"/v1/shipments/{TN}/alerts").json()["items"]
    assert [a["alert_id"] for a in listed] == [alert_id]


def test_acknowledge_then_resolve_and_the_wrong_order_is_a_conflict(
    damaged: tuple[httpx.Client, str],
) -> None:
    client, alert_id = damaged
    acked = client.post(f"/v1/alerts/{alert_id}/acknowledge").json()
    assert acked["state"] == "acknowledged"
    assert acked["acknowledged_at"] is not None
    again = client.post(f"/v1/alerts/{alert_id}/acknowledge")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    resolved = client.post(f"/v1/alerts/{alert_id}/resolve").json()
    assert resolved["state"] == "resolved"
    active = client.get("/v1/alerts", params={"active": True, "kind": "damaged"}).json()
    assert active["items"] == []
    assert client.post(f"/v1/alerts/{alert_id}/resolve").status_code == 409


def test_comments_and_assignment_are_kept(damaged: tuple[httpx.Client, str]) -> None:
    client, alert_id = damaged
    client.post(f"/v1/alerts/{alert_id}/comments", json={"text": "外包装破损，已联系承运商"})
    detail = client.post(f"/v1/alerts/{alert_id}/assign", json={"assignee": "li.wei"}).json()
    assert detail["assignee"] == "li.wei"
    assert [n["text"] for n in detail["notes"]] == ["外包装破损，已联系承运商"]
    bad = client.post(f"/v1/alerts/{alert_id}/comments", json={"text": ""})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "text")


def test_another_tenant_sees_no_alert_and_cannot_act(
    server: Server, damaged: tuple[httpx.Client, str],
) -> None:
    _, alert_id = damaged
    other = server.client(Role.ADMIN, tenant="other")
    assert other.get(f"/v1/alerts/{alert_id}").status_code == 404
    assert other.post(f"/v1/alerts/{alert_id}/acknowledge").status_code == 404
    assert other.get("/v1/alerts").json()["items"] == []
    assert server.client(Role.CARRIER).post(f"/v1/alerts/{alert_id}/resolve").status_code == 403


def test_a_deadline_opens_its_alert_when_the_clock_passes_it(server: Server) -> None:
    client = server.client(Role.MERCHANT)
    client.post("/v1/shipments", json=shipment_json(TN, promised_by="2026-11-20T21:00:00+08:00"))
    client.post("/v1/events", json=event_json(TN, 1, "picked_up"))
    assert client.get("/v1/alerts", params={"kind": "delivery_late"}).json()["items"] == []
    clock = server.system.clock
    clock.advance_to(clock.now().replace(hour=14))  # 22:00 in Shanghai, past the promise
    server.system.pipeline.submit_sync([AdvanceClock(clock.now())])  # to every partition
    late = client.get("/v1/alerts", params={"kind": "delivery_late"}).json()["items"]
    assert [(a["state"], a["opened_at"]) for a in late] == [("open", "2026-11-20T13:00:00Z")]


def test_webhook_subscriptions_show_their_secret_once_and_refuse_private_targets(
    server: Server,
) -> None:
    client = server.client(Role.MERCHANT)
    refused = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"})
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "url")
    made = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/pg",
                                             "events": ["alert.opened"], "kinds": ["damaged"]})
    assert made.status_code == 201
    body = made.json()
    assert body["secret"].startswith("whsec_")
    listed = client.get("/v1/webhooks").json()
    assert [s["subscription_id"] for s in listed] == [body["subscription_id"]]
    assert "secret" not in listed[0]
    assert server.client(Role.CARRIER).get("/v1/webhooks").status_code == 403
    paused = client.post(f"/v1/webhooks/{body['subscription_id']}/disable").json()
    assert (paused["enabled"], paused["disabled_reason"]) == (False, "disabled by user")


def test_messages_owed_to_a_subscription_are_listed_with_their_payload(
    server: Server, damaged: tuple[httpx.Client, str],
) -> None:
    client, alert_id = damaged
    made = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/pg"}).json()
    client.post(f"/v1/alerts/{alert_id}/acknowledge")
    messages = client.get("/v1/webhooks/messages").json()
    acked = [m for m in messages if m["event"] == "alert.acknowledged"]
    assert [(m["state"], m["payload"]["data"]["alert_id"]) for m in acked] == [("pending", alert_id)]
    assert all(m["state"] == "pending" for m in messages)  # nothing delivered to example.com here
    detail = client.get(f"/v1/webhooks/messages/{acked[0]['message_id']}").json()
    assert detail["payload"]["data"]["state"] == "acknowledged"
    assert detail["subscription_id"] == made["subscription_id"]
    other = server.client(Role.ADMIN, tenant="other")
    assert other.get(f"/v1/webhooks/messages/{acked[0]['message_id']}").status_code == 404

"""Idempotency-Key over HTTP: a retry gets the first answer back and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from parcelguard.domain.tenancy import Role
from tests.conftest import BOTH_MODES, Server
from tests.factories import event_json, shipment_json

pytestmark = BOTH_MODES  # the same tests on an embedded server and through the bus

TN = "SF1400000001"


@pytest.fixture
def alert_url(server: Server) -> str:
    client = server.client(Role.MERCHANT)
    assert client.post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    client.post("/v1/events", json=[event_json(TN, 1, condition="damaged",
                                               location={"facility_id": "HUB-SHA"})])
    (alert,) = client.get("/v1/alerts", params={"kind": "damaged"}).json()["items"]
    return f"/v1/alerts/{alert['alert_id']}"


def _post(client: httpx.Client, url: str, key: str, **kwargs: object) -> httpx.Response:
    return client.post(url, headers={"Idempotency-Key": key}, **kwargs)  # type: ignore[arg-type]


def _notes(client: httpx.Client, url: str) -> list[str]:
    return [n["text"] for n in client.get(url).json()["notes"]]


def test_a_retry_gets_the_first_answer_and_is_not_applied_again(
    server: Server, alert_url: str,
) -> None:
    client = server.client(Role.MERCHANT)
    first = _post(client, f"{alert_url}/comments", "c-1", json={"text": "箱子破了"})
    again = _post(client, f"{alert_url}/comments", "c-1", json={"text": "箱子破了"})
    assert first.status_code == again.status_code == 200
    assert (first.headers.get("Idempotent-Replayed"), again.headers["Idempotent-Replayed"]) == (
        None, "true")
    assert again.content == first.content  # the very answer, not the alert as it is now
    assert _notes(client, alert_url) == ["箱子破了"]
    # another key is another request; so is the same key sent by another API key
    assert _post(client, f"{alert_url}/comments", "c-2", json={"text": "箱子破了"}).status_code == 200
    admin = server.client(Role.ADMIN)
    assert _post(admin, f"{alert_url}/comments", "c-1", json={"text": "箱子破了"}).status_code == 200
    assert _notes(client, alert_url) == ["箱子破了"] * 3


def test_a_key_reused_for_another_request_is_refused(server: Server, alert_url: str) -> None:
    client = server.client(Role.MERCHANT)
    assert _post(client, f"{alert_url}/comments", "k", json={"text": "a"}).status_code == 200
    for url, body in ((f"{alert_url}/comments", {"text": "b"}), (f"{alert_url}/acknowledge", None)):
        refused = _post(client, url, "k", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["field"] == "Idempotency-Key"
        assert "used for another request" in error["message"]
    assert client.get(alert_url).json()["state"] == "open"
    assert _notes(client, alert_url) == ["a"]


def test_a_refusal_is_answered_again_to_its_retry(server: Server, alert_url: str) -> None:
    client = server.client(Role.MERCHANT)
    assert _post(client, f"{alert_url}/resolve", "r-1").status_code == 200
    refused = _post(client, f"{alert_url}/resolve", "r-2")
    assert refused.status_code == 409
    retry = _post(client, f"{alert_url}/resolve", "r-2")
    assert (retry.status_code, retry.headers["Idempotent-Replayed"]) == (409, "true")
    assert retry.json() == refused.json()


def test_a_binding_sent_again_is_answered_as_the_first(server: Server) -> None:
    client = server.client(Role.MERCHANT)
    assert client.post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    bind = {"device_id": "TL-1", "kind": "box_sensor", "tracking_no": TN}
    first = _post(client, "/v1/devices", "b-1", json=bind)
    assert first.status_code in (201, 202)  # 202: the worker's answer was not back in time
    again = _post(client, "/v1/devices", "b-1", json=bind)
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (
        first.status_code, first.json(), "true")
    gone = client.delete("/v1/devices/TL-1/binding", headers={"Idempotency-Key": "u-1"})
    replay = client.delete("/v1/devices/TL-1/binding", headers={"Idempotency-Key": "u-1"})
    assert gone.status_code == replay.status_code == 200
    assert replay.content == gone.content
    assert replay.headers["Idempotent-Replayed"] == "true"

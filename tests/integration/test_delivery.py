"""Identity-verified delivery over real HTTP: the pickup code, the photo, lockout, replay."""

from __future__ import annotations

import hashlib
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from tests.conftest import (
    BUS,
    Server,
    free_port,
    in_bus_mode,
    serving,
    system_in_mode,
    writer_of,
)
from tests.factories import event_json, shipment_json
from tests.web.helpers import share_url

SQLITE = pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
TN = "SF1400000001"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 8 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def out_for_delivery(server: Server, category: str = "high_value") -> httpx.Client:
    api = server.client(Role.MERCHANT)
    assert api.post("/v1/shipments", json=shipment_json(TN, category=category)).status_code == 201
    carrier = server.client(Role.CARRIER)
    scans = [event_json(TN, 0, "picked_up", operator_id="C-1"),
             event_json(TN, 9, "out_for_delivery", operator_id="C-9",
                        location={"facility_id": "STN-PEK-03", "city": "北京"})]
    assert carrier.post("/v1/events", json=scans).json()["accepted"] == 2
    return carrier


def codes_sent(server: Server) -> list[str]:
    """The codes texted to the recipient so far (opened from the sealed outbox)."""
    # the out-for-delivery scan queued its code before answering (in bus mode, the worker's)
    writer_of(server.system).deliveries.settle()
    with server.system.store.unit_of_work(write=False) as uow:
        found = uow.deliveries.messages("acme", TN)
    texts = [server.system.vault.open(m.body_sealed).decode() for m in found]
    assert all(m.status == "sent" for m in found)
    assert all(server.system.vault.open(m.to_sealed) == b"13812345678" for m in found)
    return [t.split("取件码 ")[1][:6] for t in texts]


def hand_over(client: httpx.Client, code: str, photo: bytes = JPEG,
              name: str = "door.jpg") -> httpx.Response:
    return client.post(f"/v1/shipments/{TN}/delivery", data={
        "code": code, "courier_id": "C-9", "device_id": "PDA-9", "lat": "39.9", "lon": "116.4"},
        files={"photo": (name, photo, "image/jpeg")})


@SQLITE
def test_the_right_code_records_a_verified_delivery_with_the_photo_in_the_ledger(
    server: Server,
) -> None:
    carrier = out_for_delivery(server)
    (code,) = codes_sent(server)
    r = hand_over(carrier, code)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["photo_sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert server.system.deliveries.blobs.get(body["photo_sha256"]) == JPEG
    api = server.client(Role.MERCHANT)
    assert api.get(f"/v1/shipments/{TN}").json()["status"] == "delivered"
    custody = api.get(f"/v1/shipments/{TN}/custody").json()["entries"]
    pod = {"pod": {"id_verified": True, "method": "pickup_code",
                   "photo_sha256": body["photo_sha256"], "photo_type": "image/jpeg",
                   "photo_bytes": len(JPEG), "courier_id": "C-9", "device_id": "PDA-9",
                   "lat": 39.9, "lon": 116.4}}
    bound = hashlib.sha256(server.system.encode(pod)).hexdigest()
    assert custody[-1]["entry"]["data"]["raw_sha256"] == bound  # the photo's hash is in the ledger
    assert custody[-1]["entry"]["data"]["operator_id"] == "C-9"
    assert api.get("/v1/alerts", params={"kind": "pod_unverified"}).json()["items"] == []
    photo = api.get(f"/v1/shipments/{TN}/pod-photo")
    assert (photo.status_code, photo.headers["content-type"], photo.content) == (
        200, "image/jpeg", JPEG)
    again = hand_over(carrier, code)  # the same request replayed
    assert again.status_code == 409
    assert "delivered already" in again.json()["error"]["message"]
    assert len(api.get(f"/v1/shipments/{TN}/timeline").json()["events"]) == 3


@SQLITE
def test_five_wrong_codes_lock_delivery_raise_an_alert_and_a_new_code_unlocks(
    server: Server,
) -> None:
    carrier = out_for_delivery(server)
    (code,) = codes_sent(server)
    wrong = "000000" if code != "000000" else "111111"
    answers = [hand_over(carrier, wrong) for _ in range(5)]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 423]
    assert answers[0].json()["error"] == {"code": "invalid_input", "field": "code",
                                          "message": "code: wrong pickup code; 4 tries left"}
    assert hand_over(carrier, code).status_code == 423  # locked even for the right code
    api = server.client(Role.MERCHANT)
    (alert,) = api.get("/v1/alerts", params={"kind": "pod_unverified"}).json()["items"]
    assert (alert["severity"], alert["evidence"]["reason"]) == ("critical", "pickup_code_locked")
    assert api.post(f"/v1/shipments/{TN}/pickup-code").status_code == 201
    assert carrier.post(f"/v1/shipments/{TN}/pickup-code").status_code == 403
    codes = codes_sent(server)
    assert len(codes) == 2
    assert hand_over(carrier, codes[1], PNG, "door.png").status_code == 201


@SQLITE
def test_bad_photos_are_refused_and_write_nothing(server: Server) -> None:
    carrier = out_for_delivery(server)
    (code,) = codes_sent(server)
    big = hand_over(carrier, code, JPEG + bytes(10 * 1024 * 1024))
    assert big.status_code == 413
    text = hand_over(carrier, code, b"not a picture", "x.txt")
    assert text.status_code == 422
    assert text.json()["error"]["field"] == "photo"
    huge = hand_over(carrier, code, bytes(12 * 1024 * 1024))  # over the route's body limit
    assert huge.status_code == 413
    with server.system.store.unit_of_work(write=False) as uow:
        row = uow.deliveries.code("acme", TN)
    assert row is not None
    assert (row.failures, row.used_at_us) == (0, None)
    blobs = server.system.deliveries.blobs.root  # type: ignore[attr-defined]
    assert not blobs.exists() or not any(blobs.rglob("*"))
    assert hand_over(carrier, code).status_code == 201  # the code still works


@SQLITE
def test_a_parcel_that_needs_no_code_gets_none_and_other_tenants_get_404(
    server: Server,
) -> None:
    carrier = out_for_delivery(server, category="general")
    writer_of(server.system).deliveries.settle()
    with server.system.store.unit_of_work(write=False) as uow:
        assert uow.deliveries.messages("acme", TN) == []
    r = hand_over(carrier, "123456")
    assert r.status_code == 409
    assert "no pickup code was issued" in r.json()["error"]["message"]
    other = server.client(Role.CARRIER, tenant="other")
    assert hand_over(other, "123456").status_code == 404
    missing = carrier.post(f"/v1/shipments/{TN}/delivery", data={"code": "123456"})
    assert missing.status_code == 422


@SQLITE
def test_the_tracking_page_shows_the_handover_photo_to_the_link_holder(server: Server) -> None:
    carrier = out_for_delivery(server)
    (code,) = codes_sent(server)
    assert hand_over(carrier, code).status_code == 201
    url = share_url(server)
    page = server.anonymous().get(url).text
    assert "已凭取件码核验收件人身份" in page
    assert 'data-testid="pod-photo"' in page
    token = url.split("s=")[1].split("&")[0]
    photo = server.anonymous().get(f"/t/{TN}/pod-photo", params={"s": token})
    assert (photo.status_code, photo.headers["content-type"], photo.content) == (
        200, "image/jpeg", JPEG)
    assert server.anonymous().get(f"/t/{TN}/pod-photo", params={"s": "x.1.y"}).status_code == 404


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
def test_with_mail_configured_the_code_goes_by_mail_to_a_recipient_with_an_address(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: ManualClock,
) -> None:
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with system_in_mode(in_bus_mode(request), db_url, tmp_path, clock,
                            smtp_url=f"smtp://127.0.0.1:{smtp.port}") as node, \
                serving(node) as server:
            merchant = server.client(Role.MERCHANT)
            body = shipment_json(TN, category="high_value")
            body["recipient"]["email"] = "zhang.sanfeng@example.com"
            assert merchant.post("/v1/shipments", json=body).status_code == 201
            bad = shipment_json("SF1400000002", category="high_value")
            bad["recipient"]["email"] = "not-an-address"
            refused = merchant.post("/v1/shipments", json=bad)
            assert (refused.status_code, refused.json()["error"]["field"]) == (
                422, "recipient.email")
            assert merchant.get(f"/v1/shipments/{TN}", params={"include": "recipient"}).json()[
                "recipient"]["email"] == "zhang.sanfeng@example.com"
            carrier = server.client(Role.CARRIER)
            carrier.post("/v1/events",
                         json=[event_json(TN, 9, "out_for_delivery", operator_id="C-9")])
            writer = writer_of(server.system)
            writer.deliveries.settle()  # sent: aiosmtpd has handled the mail before it answered
            (mail,) = inbox.mails
            assert mail["To"] == "zhang.sanfeng@example.com"
            text = mail.get_payload(decode=True).decode()
            code = text.split("取件码 ")[1][:6]
            with writer.store.unit_of_work(write=False) as uow:
                (kept,) = uow.deliveries.messages("acme", TN)
            assert kept.channel == "email"
            assert code.encode() not in kept.body_sealed  # sealed at rest
            assert hand_over(carrier, code).status_code == 201
    finally:
        smtp.stop()


@SQLITE
def test_two_hand_overs_at_once_use_the_code_once(server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    carrier = out_for_delivery(server)
    (code,) = codes_sent(server)
    with ThreadPoolExecutor(4) as pool:
        answers = sorted(r.status_code for r in pool.map(
            lambda _: hand_over(server.client(Role.CARRIER), code), range(4)))
    assert answers == [201, 409, 409, 409]
    timeline = carrier.get(f"/v1/shipments/{TN}/timeline").json()["events"]
    assert [e["status"] for e in timeline].count("delivered") == 1


@SQLITE
def test_only_the_delivery_route_takes_a_large_body(server: Server) -> None:
    big = b"x" * (2 * 1024 * 1024)
    r = server.anonymous().post("/v1/hooks/kdniao/delivery", content=big,
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413

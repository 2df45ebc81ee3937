"""Consumer notifications end to end: a consumer subscribes on the tracking page, carriers' scans
come in over HTTP, the notifier sends through a real SMTP server (aiosmtpd) or a signed webhook
to a local app backend; quiet hours, duplicates and unsubscribing hold."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from parcelguard.domain.tenancy import Role
from parcelguard.domain.webhooks import sign
from parcelguard.services.clock import ManualClock
from tests.conftest import (
    BUS,
    Server,
    free_port,
    in_bus_mode,
    serving,
    system_in_mode,
)
from tests.factories import event_json, shipment_json
from tests.integration.test_delivery import Inbox
from tests.web.helpers import share_url

TN = "SF1400000001"


@pytest.fixture
def mailroom(request: pytest.FixtureRequest, db_url: str, tmp_path: Path,
             clock: ManualClock) -> Iterator[tuple[Server, Inbox]]:
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    extra = {"smtp_url": f"smtp://127.0.0.1:{smtp.port}",
             "public_url": "https://track.example.com", "webhooks_allow_private": True}
    try:
        # in bus mode the API node's notifier sends what the worker owes
        with system_in_mode(in_bus_mode(request), db_url, tmp_path, clock, **extra) as node, \
                serving(node) as server:
            yield server, inbox
    finally:
        smtp.stop()


def subscribe_on_page(server: Server, to: str, quiet: str = "", lang: str = "zh") -> str:
    """As the consumer: the share link, then the form on the tracking page; the page after."""
    page = share_url(server) + f"&lang={lang}"
    consumer = server.anonymous({"Origin": server.url})
    html = consumer.get(page).text
    action = re.search(r'<form method="post" action="([^"]+/notifications[^"]*)"', html)
    assert action
    r = consumer.post(action.group(1).replace("&amp;", "&"),
                      data={"channel": "email" if "@" in to else "sms", "to": to,
                            "quiet_hours": quiet}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return consumer.get(r.headers["location"]).text


def scan(server: Server, hours: float, status: str, **extra: Any) -> None:
    r = server.client(Role.CARRIER).post("/v1/events", json=[event_json(TN, hours, status,
                                                                        **extra)])
    assert r.status_code == 200, r.text


def unsubscribe_link(mail: Message) -> str:
    return "".join(str(mail["List-Unsubscribe"]).split()).strip("<>")  # unfolded


def subject(mail: Message) -> str:
    return str(make_header(decode_header(mail["Subject"])))


def body(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", BUS], indirect=True)
def test_one_mail_per_status_change_and_none_for_the_rest(
    mailroom: tuple[Server, Inbox],
) -> None:
    server, inbox = mailroom
    assert server.client().post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    page = subscribe_on_page(server, "Li.Si@Example.com")
    assert "已订阅：状态变化时我们会通过电子邮件通知您" in page
    journey = [(1, "picked_up"), (2, "in_transit"), (3, "in_transit"), (5, "out_for_delivery"),
               (6, "delivered")]
    for hours, status in journey:
        scan(server, hours, status)
        scan(server, hours, status)  # the carrier pushes it again: a duplicate
        server.system.notifier.send_due()
    for hours, status in journey:  # and the whole trace once more, late
        scan(server, hours, status)
    server.system.notifier.send_due()

    assert [m["To"] for m in inbox.mails] == ["Li.Si@example.com"] * 3
    assert [subject(m) for m in inbox.mails] == [
        f"包裹 {TN}：已揽收", f"包裹 {TN}：派送中", f"包裹 {TN}：已签收"]
    first = inbox.mails[0]
    link = unsubscribe_link(first)
    assert re.fullmatch(r"https://track\.example\.com/n/ns_[\w-]{24}/unsubscribe", link)
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body(first).startswith(f"【ParcelGuard】您的包裹 {TN} 已揽收")
    assert link in body(first)
    # recorded: every message, sealed; the merchant sees the notices sent
    with server.system.store.unit_of_work(write=False) as uow:
        kept = [m for m in uow.deliveries.messages("acme", TN) if m.purpose.startswith("notice")]
    assert [(m.purpose, m.status) for m in kept] == [
        ("notice:status:picked_up", "sent"), ("notice:status:out_for_delivery", "sent"),
        ("notice:status:delivered", "sent")]
    assert all(b"Li.Si" not in m.to_sealed and TN.encode() not in m.body_sealed for m in kept)
    (sub,) = server.client(Role.MERCHANT).get(f"/v1/shipments/{TN}/notifications").json()["items"]
    assert (sub["channel"], sub["to"], sub["created_by"]) == ("email", "L***@example.com",
                                                             "consumer")
    assert [(n["topic"], n["state"]) for n in sub["notices"]] == [
        ("status:picked_up", "sent"), ("status:out_for_delivery", "sent"),
        ("status:delivered", "sent")]


@pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
def test_nothing_in_quiet_hours_then_each_change_after_them(
    mailroom: tuple[Server, Inbox], clock: ManualClock,
) -> None:
    server, inbox = mailroom
    assert server.client().post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    subscribe_on_page(server, "wang@example.com", quiet="22:00-08:00", lang="en")
    # 23:30 in Shanghai: picked up, then out for delivery at 06:00
    clock.advance_to(datetime(2026, 11, 20, 15, 30, tzinfo=UTC))
    scan(server, 1, "picked_up")
    server.system.notifier.send_due()
    clock.advance_to(datetime(2026, 11, 20, 22, 0, tzinfo=UTC))
    scan(server, 2, "out_for_delivery")
    server.system.notifier.send_due()
    assert inbox.mails == []
    clock.advance_to(datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC))  # 07:59:59: still quiet
    server.system.notifier.send_due()
    assert inbox.mails == []
    clock.advance_to(datetime(2026, 11, 21, 0, 0, 1, tzinfo=UTC))  # 08:00:01
    server.system.notifier.send_due()
    assert [subject(m) for m in inbox.mails] == [
        f"Parcel {TN}: Picked up", f"Parcel {TN}: Out for delivery"]
    server.system.notifier.send_due()
    assert len(inbox.mails) == 2  # sent once
    scan(server, 3, "delivered")  # 08:00: not quiet
    server.system.notifier.send_due()
    assert subject(inbox.mails[-1]) == f"Parcel {TN}: Delivered"
    assert body(inbox.mails[-1]).startswith(f"[ParcelGuard] Your parcel {TN} was delivered.")


@pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
def test_nothing_after_unsubscribing_through_the_link(mailroom: tuple[Server, Inbox]) -> None:
    server, inbox = mailroom
    assert server.client().post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    subscribe_on_page(server, "zhao@example.com")
    scan(server, 1, "picked_up")
    server.system.notifier.send_due()
    link = unsubscribe_link(inbox.mails[0])
    path = link.removeprefix("https://track.example.com")
    visitor = server.anonymous()
    page = visitor.get(path)
    assert page.status_code == 200
    assert f"不再接收包裹 {TN} 的通知？" in page.text
    scan(server, 2, "out_for_delivery")  # owed before the unsubscribe, not sent yet
    # one-click from the mail client (RFC 8058): a POST from elsewhere, no Origin
    done = visitor.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert f"已退订，您将不再收到包裹 {TN} 的通知。" in done.text
    scan(server, 3, "delivered")
    server.system.notifier.send_due()
    assert len(inbox.mails) == 1
    (sub,) = server.client(Role.MERCHANT).get(f"/v1/shipments/{TN}/notifications").json()["items"]
    assert sub["unsubscribed_at"] is not None
    assert [(n["topic"], n["state"]) for n in sub["notices"]] == [
        ("status:picked_up", "sent"), ("status:out_for_delivery", "dropped")]
    assert visitor.post(path).status_code == 200  # again: fine
    assert visitor.get("/n/ns_nothing_like_this_exists_00/unsubscribe").status_code == 404
    # subscribing again is allowed after unsubscribing
    subscribe_on_page(server, "zhao@example.com")


RECEIVED: list[tuple[dict[str, str], bytes]] = []  # what the app backend got


class Backend(BaseHTTPRequestHandler):

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["content-length"]))
        RECEIVED.append((dict(self.headers.items()), data))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
def test_the_merchants_app_backend_gets_signed_notices(mailroom: tuple[Server, Inbox]) -> None:
    server, _ = mailroom
    RECEIVED.clear()
    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        api = server.client(Role.MERCHANT)
        assert api.post("/v1/shipments", json=shipment_json(TN)).status_code == 201
        url = f"http://127.0.0.1:{backend.server_address[1]}/push"
        r = api.post(f"/v1/shipments/{TN}/notifications",
                     json={"channel": "webhook", "to": url, "locale": "en"})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["secret"].startswith("whsec_")
        assert made["to"] == f"http://127.0.0.1:{backend.server_address[1]}/…"
        scan(server, 5, "out_for_delivery")
        server.system.notifier.send_due()
        ((headers, data),) = RECEIVED
        assert headers["webhook-signature"] == sign(made["secret"], headers["webhook-id"],
                                                    int(headers["webhook-timestamp"]), data)
        sent = json.loads(data)
        assert (sent["type"], sent["topic"], sent["tracking_no"], sent["locale"]) == (
            "consumer.notice", "status:out_for_delivery", TN, "en")
        assert sent["text"].startswith(f"[ParcelGuard] Your parcel {TN} is out for delivery")
        listed = api.get(f"/v1/shipments/{TN}/notifications").json()["items"]
        assert listed[0]["secret"] is None  # shown once
        # another tenant neither sees nor stops it
        other = server.client(Role.MERCHANT, tenant="other")
        assert other.get(f"/v1/shipments/{TN}/notifications").status_code == 404
        assert other.delete(f"/v1/notifications/{made['subscription_id']}").status_code == 404
        stopped = api.delete(f"/v1/notifications/{made['subscription_id']}")
        assert stopped.status_code == 200
        assert stopped.json()["unsubscribed_at"] is not None
        # the other roles may not subscribe anyone
        for role in (Role.CARRIER, Role.OPERATOR, Role.DEVICE_GATEWAY):
            assert server.client(role).post(f"/v1/shipments/{TN}/notifications", json={
                "channel": "sms", "to": "13900001111"}).status_code == 403
    finally:
        backend.shutdown()
        backend.server_close()


@pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
def test_bad_subscriptions_are_refused_naming_the_field(mailroom: tuple[Server, Inbox],
                                                         clock: ManualClock) -> None:
    server, inbox = mailroom
    api = server.client(Role.MERCHANT)
    assert api.post("/v1/shipments", json=shipment_json(TN)).status_code == 201
    url = f"/v1/shipments/{TN}/notifications"
    for wish, field in [
        ({"channel": "email", "to": "not-an-address"}, "to"),
        ({"channel": "sms", "to": "1234"}, "to"),
        ({"channel": "sms", "to": "13900001111", "quiet_hours": "22-8"}, "quiet_hours"),
        ({"channel": "sms", "to": "13900001111", "quiet_hours": "08:00-08:00"}, "quiet_hours"),
        ({"channel": "sms", "to": "13900001111", "quiet_hours": "22:00-08:00",
          "tz": "Mars/Olympus"}, "tz"),
        ({"channel": "pigeon", "to": "x"}, "channel"),
        ({"channel": "webhook", "to": "https://" + "a" * 64 + ".example.com/push"}, "to"),
        ({"channel": "webhook", "to": "ftp://example.com/push"}, "to"),
    ]:
        r = api.post(url, json=wish)
        assert (r.status_code, r.json()["error"]["field"]) == (422, field), (wish, r.text)
    assert api.post(url, json={"channel": "sms", "to": "139 0000 1111"}).status_code == 201
    again = api.post(url, json={"channel": "sms", "to": "+8613900001111"})
    assert again.status_code == 409, again.text
    assert api.post("/v1/shipments/SF9999999999/notifications", json={
        "channel": "sms", "to": "13900001111"}).status_code == 404
    for n in range(2, 6):  # five live subscriptions at most on one parcel
        assert api.post(url, json={"channel": "sms", "to": f"1390000111{n}"}).status_code == 201
    crowd = api.post(url, json={"channel": "sms", "to": "13900001116"})
    assert (crowd.status_code, crowd.json()["error"]["message"]) == (
        409, "a parcel has at most 5 subscriptions; stop one first")
    # on the page: a bad address is said on the page, nothing subscribed
    page = share_url(server)
    consumer = server.anonymous({"Origin": server.url})
    action = re.search(r'action="([^"]+/notifications[^"]*)"', consumer.get(page).text)
    assert action
    r = consumer.post(action.group(1).replace("&amp;", "&"),
                      data={"channel": "email", "to": "nobody"})
    assert r.status_code == 422
    assert "请检查：to: expected an e-mail address" in r.text
    r = consumer.post(action.group(1).replace("&amp;", "&"),
                      data={"channel": "webhook", "to": "https://example.com/hook"})
    assert r.status_code == 422
    assert "请检查：channel: expected email or sms" in r.text
    cross = server.anonymous({"Origin": "https://evil.example"})
    assert cross.post(action.group(1).replace("&amp;", "&"),
                      data={"channel": "email", "to": "x@example.com"}).status_code == 403
    # the SMS subscription went out through the SMS sender and is recorded
    clock.advance_to(clock.now() + timedelta(minutes=1))
    scan(server, 1, "picked_up")
    assert server.system.notifier.send_due() == 5  # one to each of the five numbers
    assert inbox.mails == []
    with server.system.store.unit_of_work(write=False) as uow:
        kept = uow.deliveries.messages("acme", TN)
    assert {(m.channel, m.purpose, m.status) for m in kept} == {
        ("sms", "notice:status:picked_up", "sent")}
    assert len(kept) == 5

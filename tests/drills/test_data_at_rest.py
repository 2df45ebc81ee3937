"""Data at rest drill (issue 8, drill 8): after a working day over HTTP, no phone number in clear
in any table, in a dump of the database, or in any log line.

The day: a merchant registers parcels with recipients' phones, carriers' scans name couriers
with their phone numbers ("快递员王师傅（电话 139…）"), a high-value parcel goes out for delivery
(its pickup code is sent to the recipient's phone), the consumer looks the parcel up with the
last four digits, opens a claim whose text gives a phone number and subscribes to text
messages at that number (one is sent), the merchant comments on the claim.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from parcelguard.domain.tenancy import Role
from tests.conftest import Server
from tests.factories import event_json, shipment_json
from tests.web.helpers import PHONE, TN, cold_parcel, merchant_world, share_url

# a mainland mobile in clear, spaced or not, standing alone (not inside a hash's hex digits;
# masked ones keep at most the first three digits)
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])")
COURIER = "13912345678"
CLAIMANT = "13600001111"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_phone_number_in_clear_after_a_working_day(
    server: Server, capfd: pytest.CaptureFixture[str],
) -> None:
    api = cold_parcel(server)  # the courier's phone is in its pickup scan's wording
    merchant_world(server)
    vip = "SF1900000001"
    assert api.post("/v1/shipments", json=shipment_json(vip, category="high_value") | {
        "recipient": {"name": "李四", "phone": "13700002222", "address": "上海市静安区"}}
    ).status_code == 201
    api.post("/v1/events", json=[
        event_json(vip, 1, "picked_up", description=f"揽收员电话 {COURIER[:3]} {COURIER[3:7]} "
                                                    f"{COURIER[7:]}", raw={"tel": COURIER}),
        event_json(vip, 5, "out_for_delivery",
                   description="派件员张师傅正在派件，电话：0755-88881234")])
    server.system.deliveries.settle()  # the pickup code went out to the recipient's phone
    consumer = server.anonymous({"Origin": server.url})
    page = consumer.get(share_url(server)).text
    form = re.search(r'<form method="post" action="([^"]+/claims[^"]*)"', page)
    assert form
    r = consumer.post(form.group(1).replace("&amp;", "&"), data={
        "kind": "spoilage", "description": f"货坏了，请打{CLAIMANT}联系我", "amount": "50",
        "phone_last4": PHONE[-4:]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (claim,) = server.client(Role.MERCHANT).get("/v1/claims").json()["items"]
    server.client(Role.MERCHANT).post(f"/v1/claims/{claim['claim_id']}/comments",
                                      json={"note": f"已回电 {CLAIMANT}"})
    # the consumer asks for text messages at their phone; one goes out
    notify = re.search(r'<form method="post" action="([^"]+/notifications[^"]*)"', page)
    assert notify
    r = consumer.post(notify.group(1).replace("&amp;", "&"), data={
        "channel": "sms", "to": CLAIMANT}, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = api.post("/v1/events", json=[event_json(TN, 11.9, "out_for_delivery")])
    assert r.json()["accepted"] == 1, r.text
    assert server.system.notifier.send_due() == 1
    # the merchant still reads what was written (sealed, not lost)
    assert CLAIMANT in server.client(Role.MERCHANT).get(f"/v1/claims/{claim['claim_id']}").text

    db = server.system.settings.db_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(db)
    try:
        found = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    found += [(table, text[max(0, m.start() - 40):m.end() + 10])
                              for m in MOBILE.finditer(text)]
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    logs = capfd.readouterr()
    assert found == []
    assert MOBILE.findall(dump) == []
    assert MOBILE.findall(logs.out + logs.err) == []
    for secret in (PHONE, COURIER, CLAIMANT, "13700002222", "88881234"):
        assert secret not in dump
    timeline = api.get(f"/v1/shipments/{TN}/timeline").json()["events"]
    assert timeline[0]["description"] == "快递员王师傅（电话 139********）已揽收"

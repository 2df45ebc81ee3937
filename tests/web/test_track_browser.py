"""The tracking page in Chromium: the lookup, the map, the curve, live updates, the switch."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.factories import event_json
from tests.web.helpers import PHONE, TN, cold_parcel, share_url

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_a_consumer_looks_up_a_parcel_and_watches_it_move_without_reloading(
    server: Server, phone: Page,
) -> None:
    api = cold_parcel(server)
    requested: list[str] = []
    phone.on("request", lambda r: requested.append(r.url))
    phone.goto(f"{server.url}/t")
    phone.fill("input[name=tracking_no]", TN)
    phone.fill("input[name=phone_last4]", PHONE[-4:])
    phone.click("button[type=submit]")
    expect(phone.get_by_test_id("tracking-no")).to_have_text(TN)
    assert f"/t/{TN}?s=" in phone.url
    expect(phone.get_by_test_id("status")).to_contain_text("运输中")
    expect(phone.get_by_test_id("recipient")).to_contain_text("张** 138********")
    expect(phone.locator(".timeline li")).to_have_count(3)
    expect(phone.locator(".timeline li").first).to_contain_text("快件已装车")
    expect(phone.locator("#map")).to_have_attribute("data-basemap", "loaded")
    expect(phone.locator("#map")).to_have_attribute("data-points", "51")  # 3 scans, 48 fixes
    assert phone.locator("#map path.leaflet-interactive").count() >= 34  # provinces and route
    expect(phone.locator("#curve")).to_have_attribute("data-points", "48")
    expect(phone.locator("#curve")).to_have_attribute("data-excursion-points", "2")  # in red
    expect(phone.locator("#curve canvas")).to_have_count(1)
    expect(phone.get_by_test_id("excursions")).to_have_text("超温 1 次，共 30 分钟")

    expect(phone.locator("body.live")).to_have_count(1)  # the event stream is open
    phone.evaluate("window.__sameDocument = true")
    out = event_json(TN, 11, "out_for_delivery", description="快递员【胡师傅】正在派送")
    assert api.post("/v1/events", json=out).status_code == 200
    expect(phone.get_by_test_id("status")).to_contain_text("派送中")
    expect(phone.locator(".timeline li")).to_have_count(4)
    expect(phone.locator(".timeline li").first).to_contain_text("快递员【胡师傅】正在派送")
    assert phone.evaluate("window.__sameDocument") is True  # updated in place, not reloaded

    assert requested
    outside = [u for u in requested if not u.startswith(server.url)]
    assert outside == []  # nothing loaded from outside the server
    width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]  # no sideways scrolling on a phone


def test_wrong_digits_get_the_unknown_number_answer_and_five_lock_the_number(
    server: Server, phone: Page,
) -> None:
    cold_parcel(server)
    messages = []
    for tn, digits in ((TN, "0000"), ("SF1499999999", PHONE[-4:])):
        phone.goto(f"{server.url}/t")
        phone.fill("input[name=tracking_no]", tn)
        phone.fill("input[name=phone_last4]", digits)
        phone.click("button[type=submit]")
        messages.append(phone.get_by_test_id("problem").inner_text())
    assert messages[0] == messages[1]
    assert messages[0].startswith("未找到")
    for _ in range(4):  # five wrong tries in all lock the number, even for the right digits
        phone.fill("input[name=tracking_no]", TN)
        phone.fill("input[name=phone_last4]", "0000")
        phone.click("button[type=submit]")
    phone.fill("input[name=tracking_no]", TN)
    phone.fill("input[name=phone_last4]", PHONE[-4:])
    phone.click("button[type=submit]")
    expect(phone.get_by_test_id("problem")).to_contain_text("查询错误次数过多，已锁定至")
    assert "/t/" + TN not in phone.url


def test_the_language_switch_keeps_the_parcel(server: Server, phone: Page) -> None:
    cold_parcel(server)
    phone.goto(share_url(server))
    expect(phone.locator("h2").first).to_have_text("位置")
    phone.get_by_test_id("lang-switch").click()
    expect(phone.locator("h2").first).to_have_text("Where it is")
    expect(phone.get_by_test_id("status")).to_contain_text("In transit")
    expect(phone.get_by_test_id("tracking-no")).to_have_text(TN)
    share = phone.get_by_test_id("share").input_value()
    assert share.startswith(f"{server.url}/t/{TN}?s=")
    assert PHONE[-4:] not in share

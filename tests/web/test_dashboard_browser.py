"""The dashboard in Chromium: sign in, act from the board, live alerts, click through; and an
accessibility scan (axe-core) of every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from parcelguard.domain.tenancy import Role
from tests.conftest import Server
from tests.factories import event_json
from tests.web.conftest import axe_problems
from tests.web.helpers import TN, cold_parcel, merchant_world, share_url

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def sign_in(server: Server, page: Page, target: str = "/dashboard") -> None:
    page.goto(server.url + target)
    page.fill("input[name=key]", server.keys.acme[Role.MERCHANT])
    page.click("button[type=submit]")
    expect(page.locator("nav.tabs")).to_be_visible()


def test_a_merchant_acknowledges_from_the_board_and_sees_new_alerts_arrive(
    server: Server, desk: Page,
) -> None:
    api = merchant_world(server)
    sign_in(server, desk)
    assert desk.url.startswith(f"{server.url}/dashboard")
    expect(desk.locator('[data-kpi="shipments"]')).to_have_text("5")
    expect(desk.locator('[data-carrier="sf"] th')).to_have_text("sf")
    damaged = desk.locator("#board tr[data-state]", has_text="破损")
    expect(damaged).to_contain_text("SF3")
    expect(damaged).to_have_attribute("data-state", "open")
    damaged.get_by_test_id("ack").click()
    expect(desk.locator("#board tr[data-state]", has_text="破损")).to_have_attribute(
        "data-state", "acknowledged")
    assert api.get("/v1/alerts", params={"kind": "damaged"}).json()["items"][0][
        "state"] == "acknowledged"

    expect(desk.locator("body.live")).to_have_count(1)
    desk.evaluate("window.__sameDocument = true")
    wet = event_json("JD2", 3, "in_transit", carrier="jd", condition="wet",
                     location={"facility_id": "HUB-PEK", "city": "北京"})
    assert api.post("/v1/events", json=wet).status_code == 200
    expect(desk.locator("#board tr", has_text="JD2").filter(has_text="破损")
           ).to_have_count(1)  # arrived live
    assert desk.evaluate("window.__sameDocument") is True

    desk.locator("#board a", has_text="JD2").first.click()  # through to the parcel
    expect(desk.get_by_test_id("tracking-no")).to_have_text("JD2")
    expect(desk.get_by_test_id("recipient")).to_contain_text("13812345678")
    expect(desk.locator("#curve")).to_have_attribute("data-points", "72")
    expect(desk.get_by_test_id("excursions")).to_have_text("全程在安全温区内")
    expect(desk.get_by_test_id("custody")).to_contain_text("facility:HUB-PEK")
    expect(desk.get_by_test_id("alerts")).to_contain_text("破损")


def test_the_cold_chain_curve_and_the_route_map_on_the_merchant_page(
    server: Server, desk: Page,
) -> None:
    cold_parcel(server)
    sign_in(server, desk, f"/dashboard/shipments/{TN}")
    expect(desk.get_by_test_id("tracking-no")).to_have_text(TN)
    expect(desk.locator("#map")).to_have_attribute("data-basemap", "loaded")
    expect(desk.locator("#map")).to_have_attribute("data-points", "51")
    expect(desk.locator("#curve canvas")).to_have_count(1)
    band = desk.locator(".u-legend").inner_text()
    assert "min" in band
    assert "max" in band


def test_every_page_passes_an_accessibility_scan(server: Server, desk: Page) -> None:
    merchant_world(server)
    cold_parcel(server)
    pages = {"lookup": "/t", "login": "/login"}
    found = {}
    for name, path in pages.items():
        desk.goto(server.url + path)
        found[name] = axe_problems(desk)
    desk.goto(share_url(server))
    expect(desk.locator("#map")).to_have_attribute("data-basemap", "loaded")
    found["tracking page"] = axe_problems(desk)
    sign_in(server, desk)
    found["dashboard"] = axe_problems(desk)
    for name, path in (("shipment", f"/dashboard/shipments/{TN}"),
                       ("settings", "/dashboard/rules")):
        desk.goto(server.url + path)
        found[name] = axe_problems(desk)
    assert found == {name: [] for name in found}, found

"""The operations console in Chromium: an operator signs in, sees the hub board with its map and
the handling accountability tables, switches to English; the page passes an accessibility
scan and leaves its screenshot."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from parcelguard.domain.tenancy import Role
from tests.conftest import Server
from tests.factories import event_json, shipment_json
from tests.web.conftest import axe_problems
from tests.web.test_ops import handling_world

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
HUBS = {"HUB-SH": (31.23, 121.47, [3.5, 3.0, 2.0]), "HUB-HZ": (30.27, 120.15, [1.2]),
        "HUB-NJ": (32.06, 118.80, [0.2, 0.1])}


def test_an_operator_reads_the_hub_board_and_the_handling_tables(
    server: Server, desk: Page,
) -> None:
    handling_world(server)
    api = server.client(Role.MERCHANT)
    n = 0
    for hub, (lat, lon, ages) in HUBS.items():
        for age in ages:
            tn = f"SF63000000{n:02d}"
            n += 1
            assert api.post("/v1/shipments", json=shipment_json(tn)).status_code == 201
            api.post("/v1/events", json=[event_json(
                tn, 12 - age, "in_transit", location={"facility_id": hub, "lat": lat,
                                                      "lon": lon})])
    desk.goto(server.url + "/ops")
    desk.fill("input[name=key]", server.keys.acme[Role.OPERATOR])
    desk.click("button[type=submit]")
    board = desk.get_by_test_id("hub-board")
    expect(board).to_be_visible()
    expect(desk.locator("[data-hub=HUB-SH]")).to_have_attribute("data-level", "congested")
    expect(desk.locator("[data-hub=HUB-HZ]")).to_have_attribute("data-level", "busy")
    expect(desk.locator("[data-hub=HUB-NJ]")).to_have_attribute("data-level", "ok")
    expect(desk.locator("[data-hub=HUB-SH] [data-col=on_hand]")).to_have_text("3")
    hub_map = desk.get_by_test_id("hub-map")
    expect(hub_map).to_have_attribute("data-hubs", "3")
    expect(hub_map).to_have_attribute("data-basemap", "loaded")
    expect(desk.locator("#hub-map path.hub-congested")).to_have_count(1)
    facility = desk.get_by_test_id("by-facility")
    expect(facility.locator("[data-key=HUB-B] [data-col=rate]")).to_have_text("2500.0")
    expect(facility.locator("[data-key=HUB-A] [data-col=rate]")).to_have_text("2000.0")
    expect(desk.get_by_test_id("by-shift").locator("[data-key='HUB-B|night'] th")).to_have_text(
        "HUB-B · 夜班")
    expect(desk.get_by_test_id("handling-incidents").locator("tbody tr")).to_have_count(4)
    expect(desk.get_by_test_id("lanes")).to_contain_text("统计周期内没有签收的包裹")
    problems = axe_problems(desk)
    assert problems == [], "\n".join(problems)
    with desk.expect_download() as download:
        desk.get_by_test_id("csv-hubs").click()
    assert download.value.suggested_filename == "ops-hubs.csv"
    desk.goto(server.url + "/ops?lang=en")
    expect(desk.get_by_test_id("by-shift").locator("[data-key='HUB-B|night'] th")).to_have_text(
        "HUB-B · night")
    expect(desk.locator("h1")).to_contain_text("Hub board")
    problems = axe_problems(desk)
    assert problems == [], "\n".join(problems)

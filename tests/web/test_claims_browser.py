"""Claims in Chromium: a consumer asks for compensation on the phone, the merchant decides it on
the dashboard; both pages pass an accessibility scan."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.web.conftest import axe_problems
from tests.web.helpers import PHONE, TN, cold_parcel, share_url
from tests.web.test_dashboard_browser import sign_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_a_consumer_claim_is_decided_and_settled_on_the_dashboard(
    server: Server, phone: Page, desk: Page,
) -> None:
    api = cold_parcel(server)
    phone.goto(share_url(server))
    claims = phone.get_by_test_id("consumer-claims")
    claims.locator("summary").click()
    claims.locator("select[name=kind]").select_option("spoilage")
    claims.locator("textarea[name=description]").fill("到货时冰袋已化，药品变温")
    claims.locator("input[name=amount]").fill("260")
    claims.locator("input[name=phone_last4]").fill(PHONE[-4:])
    claims.get_by_test_id("claim-submit").click()
    expect(phone.get_by_test_id("claim-sent")).to_contain_text("已收到您的理赔申请")
    expect(phone.locator("[data-claim] strong")).to_have_text("已受理")
    assert axe_problems(phone) == []
    (claim,) = api.get("/v1/claims").json()["items"]
    assert claim["amount_claimed"] == 26000

    sign_in(server, desk)
    desk.locator("[data-testid=claims] a", has_text=claim["claim_id"]).click()
    expect(desk.get_by_test_id("claim-state")).to_have_text("已受理")
    expect(desk.get_by_test_id("finding")).to_contain_text("温度超标")
    desk.get_by_test_id("review").click()
    expect(desk.get_by_test_id("claim-state")).to_have_text("审核中")
    accept = desk.get_by_test_id("accept-form")
    accept.locator("input[name=amount]").fill("200")
    accept.get_by_test_id("accept").click()
    expect(desk.get_by_test_id("approved")).to_have_text("¥200.00")
    desk.get_by_test_id("settle-form").locator("input[name=reference]").fill("WX-20261126")
    desk.get_by_test_id("settle").click()
    expect(desk.get_by_test_id("claim-state")).to_have_text("已结案")
    expect(desk.get_by_test_id("paid")).to_have_text("¥200.00 · WX-20261126")
    expect(desk.locator("[data-testid=claim-timeline] li")).to_have_count(4)
    assert axe_problems(desk) == []

    phone.reload()  # the consumer sees where the claim stands
    expect(phone.locator("[data-claim] strong")).to_have_text("已结案")
    desk.goto(f"{server.url}/dashboard/shipments/{TN}")
    expect(desk.locator("[data-testid=claims] [data-state=settled]")).to_have_count(1)
    assert axe_problems(desk) == []

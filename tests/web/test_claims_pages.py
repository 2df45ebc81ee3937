"""Claims on the pages over real HTTP: opened from the dashboard and from the consumer's
tracking page, decided on the claim page, counted in the KPIs with the time to settle."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from tests.conftest import BUS, Server
from tests.web.helpers import PHONE, TN, cold_parcel, merchant_world, problem, share_url
from tests.web.test_dashboard import kpi, row, signed_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)


def claim_id_of(r: httpx.Response) -> str:
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/dashboard/claims/(clm-[0-9a-f]+)\?lang=\w+", r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


def test_a_merchant_takes_a_claim_from_the_shipment_page_to_settlement(
    server: Server, clock: ManualClock,
) -> None:
    api = merchant_world(server)
    desk = signed_in(server)
    page = desk.get("/dashboard/shipments/SF3").text
    assert 'data-testid="open-claim"' in page
    assert 'data-testid="claims-empty"' in page
    r = desk.post("/dashboard/shipments/SF3/claims", data={
        "kind": "damage", "description": "外箱压坏，屏幕碎裂", "amount": "1,299.50"},
        follow_redirects=False)
    cid = claim_id_of(r)
    html = desk.get(f"/dashboard/claims/{cid}").text
    assert 'data-state="open"' in html
    assert "¥1,299.50" in html
    assert "外箱压坏，屏幕碎裂" in html
    # damage noted at HUB-SHA with no sensor: the finding names the holder before it
    finding = re.search(r'data-testid="finding">(.*?)</p>', html, re.S)
    assert finding
    assert "破损" in finding.group(1)
    assert api.get(f"/v1/claims/{cid}").json()["amount_claimed"] == 129950

    assert desk.post(f"/dashboard/claims/{cid}/review", follow_redirects=False
                     ).status_code == 303
    refused = desk.post(f"/dashboard/claims/{cid}/accept", data={"amount": "2000"})
    assert refused.status_code == 422
    assert "amount_approved" in problem(refused.text)
    for typed in ("12.345", "1e30", "-5", "NaN", "9" * 39):  # never a 500
        typo = desk.post(f"/dashboard/claims/{cid}/accept", data={"amount": typed})
        assert (typo.status_code, problem(typo.text)[:7]) == (422, "amount:"), typed
    clock.advance_to(clock.now() + timedelta(hours=3))
    assert desk.post(f"/dashboard/claims/{cid}/accept", data={"amount": "1000"},
                     follow_redirects=False).status_code == 303
    clock.advance_to(clock.now() + timedelta(hours=3))
    assert desk.post(f"/dashboard/claims/{cid}/settle", data={"reference": "PAY-1"},
                     follow_redirects=False).status_code == 303
    settled = desk.get(f"/dashboard/claims/{cid}").text
    assert 'data-state="settled"' in settled
    steps = re.findall(r'data-action="(\w+)"', settled)
    assert steps == ["opened", "review", "accept", "settle"]
    # a second step on a settled claim is a conflict, shown on the page
    again = desk.post(f"/dashboard/claims/{cid}/review")
    assert again.status_code == 409
    assert "is settled" in problem(again.text)

    overview = desk.get("/dashboard").text
    assert kpi(overview, "claims") == "1"
    assert kpi(overview, "claims_active") == "0"
    assert kpi(overview, "settle") == "6.0 小时"
    assert kpi(overview, "paid") == "¥1,000.00"
    assert row(overview, "sf")[-1] == "1"  # the claims column of the scorecard
    assert row(overview, "jd")[-1] == "0"
    assert 'data-testid="claims-empty"' in overview  # nothing unsettled on the board


def test_claim_forms_refuse_what_they_should(server: Server) -> None:
    merchant_world(server)
    desk = signed_in(server)
    bad = desk.post("/dashboard/shipments/SF3/claims", data={"kind": "theft",
                                                             "description": "x"})
    assert bad.status_code == 422
    assert problem(bad.text).startswith("kind:")
    nothing = desk.post("/dashboard/shipments/SF3/claims", data={"kind": "loss",
                                                                 "description": "x"})
    assert (nothing.status_code, problem(nothing.text)[:7]) == (422, "amount:")
    assert desk.post("/dashboard/shipments/NOPE/claims", data={
        "kind": "loss", "description": "x", "amount": "1"}).status_code == 404
    cid = claim_id_of(desk.post("/dashboard/shipments/SF3/claims", data={
        "kind": "loss", "description": "没收到", "amount": "99"}, follow_redirects=False))
    evil = server.anonymous({"Origin": "http://evil.example"})
    evil.cookies = desk.cookies
    assert evil.post(f"/dashboard/claims/{cid}/review").status_code == 403
    assert evil.post("/dashboard/shipments/SF3/claims", data={
        "kind": "damage", "description": "x"}).status_code == 403
    carrier = signed_in(server, Role.CARRIER)  # no claims right at all
    assert carrier.get(f"/dashboard/claims/{cid}").status_code == 403
    assert carrier.post(f"/dashboard/claims/{cid}/review").status_code == 403
    operator = signed_in(server, Role.OPERATOR)  # a merchant's matter
    assert operator.get(f"/dashboard/claims/{cid}").status_code == 403
    assert operator.post(f"/dashboard/claims/{cid}/review").status_code == 403
    assert 'data-testid="claims"' not in operator.get("/dashboard/shipments/SF3").text
    other = signed_in(server, tenant="other")
    assert other.get(f"/dashboard/claims/{cid}").status_code == 404
    assert desk.post(f"/dashboard/claims/{cid}/explode").status_code == 404
    assert server.client().get(f"/v1/claims/{cid}").json()["state"] == "open"


def test_a_consumer_with_the_share_link_opens_a_claim_and_follows_it(server: Server) -> None:
    api = cold_parcel(server)
    url = share_url(server)
    consumer = server.anonymous({"Origin": server.url})
    page = consumer.get(url).text
    assert 'data-testid="consumer-claims"' in page
    action = re.search(r'<form method="post" action="([^"]+/claims[^"]*)"', page)
    assert action
    target = action.group(1).replace("&amp;", "&")
    form = {"kind": "spoilage", "description": "到货时已经不冰了", "amount": "88",
            "phone_last4": PHONE[-4:]}
    wrong = consumer.post(target, data={**form, "phone_last4": "0000"})
    assert wrong.status_code == 422
    assert problem(wrong.text) == "请检查：phone_last4: 与收件人手机号后四位不符"
    r = consumer.post(target, data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    back = consumer.get(server.url + r.headers["location"]).text
    (claim,) = api.get("/v1/claims", params={"tracking_no": TN}).json()["items"]
    assert (claim["claimant"], claim["opened_by"], claim["amount_claimed"]) == (
        "consumer", "consumer", 8800)
    assert claim["finding"]["incident"] == "temperature_excursion"
    assert f"已收到您的理赔申请（编号 {claim['claim_id']}）" in back
    assert f'data-claim="{claim["claim_id"]}"' in back
    # a second claim of that kind is refused on the page, saying which claim exists
    twice = consumer.post(target, data={**form, "description": "again"})
    assert twice.status_code == 409
    assert claim["claim_id"] in problem(twice.text)
    empty = consumer.post(target, data={**form, "kind": "damage", "description": "  "})
    assert empty.status_code == 422
    assert problem(empty.text).startswith("请检查：description: required")
    # the consumer sees state only; the merchant's notes stay on the dashboard
    api.post(f"/v1/claims/{claim['claim_id']}/comments", json={"note": "内部备注：查冷库"})
    assert "内部备注" not in consumer.get(url).text
    # without the link, or from another site, nothing is opened
    token_less = target.split("?")[0]
    assert consumer.post(token_less, data={**form, "kind": "loss"}).status_code == 404
    elsewhere = server.anonymous({"Origin": "http://evil.example"})
    assert elsewhere.post(target, data={**form, "kind": "loss"}).status_code == 403
    # the merchant's own claim against the carrier is not blocked by the consumer's
    mine = api.post(f"/v1/shipments/{TN}/claims", json={
        "kind": "spoilage", "description": "向承运商索赔", "amount": 8800})
    assert mine.status_code == 201, mine.text
    assert len(api.get("/v1/claims").json()["items"]) == 2
    assert mine.json()["claim_id"] not in consumer.get(url).text  # theirs only

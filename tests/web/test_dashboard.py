"""The merchant dashboard over real HTTP: sign-in, KPIs and scorecards, acting, scoping."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from tests.conftest import BUS, Server
from tests.web.helpers import merchant_world

SQLITE = pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)


def signed_in(server: Server, role: Role = Role.MERCHANT, tenant: str = "acme") -> httpx.Client:
    client = server.anonymous({"Origin": server.url})
    keys = server.keys.acme if tenant == "acme" else server.keys.other
    r = client.post("/login", data={"key": keys[role], "lang": "zh"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def kpi(html: str, name: str) -> str:
    found = re.search(rf'data-kpi="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1)


def row(html: str, carrier: str) -> list[str]:
    found = re.search(rf'<tr data-carrier="{carrier}">(.*?)</tr>', html, re.S)
    assert found, carrier
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                  found.group(1), re.S)]


def alert_ids(api: httpx.Client, **query: Any) -> list[str]:
    return [a["alert_id"] for a in api.get("/v1/alerts", params=query).json()["items"]]


@SQLITE
def test_pages_need_a_session_and_a_bad_key_gets_a_clear_answer(server: Server) -> None:
    anon = server.anonymous({"Origin": server.url})
    r = anon.get("/dashboard", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Fdashboard")
    bad = anon.post("/login", data={"key": "pgk_x_y"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "密钥无效或已吊销" in bad.text
    gateway = anon.post("/login", data={"key": server.keys.acme[Role.DEVICE_GATEWAY]},
                        follow_redirects=False)
    assert gateway.status_code == 401  # a device gateway key may not see the dashboard
    elsewhere = server.anonymous({"Origin": "http://evil.example"})
    assert elsewhere.post("/login", data={"key": server.keys.acme[Role.MERCHANT]},
                          follow_redirects=False).status_code == 403


@SQLITE
def test_the_session_cookie_is_sealed_http_only_and_strict(server: Server) -> None:
    anon = server.anonymous({"Origin": server.url})
    key = server.keys.acme[Role.MERCHANT]
    r = anon.post("/login", data={"key": key, "next": "/dashboard/rules"},
                  follow_redirects=False)
    assert r.headers["location"] == "/dashboard/rules?lang=zh"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=43200" in cookie
    assert key.split("_", 2)[2] not in cookie  # the key (its secret may hold "_") is sealed
    assert anon.get("/dashboard").status_code == 200
    offsite = anon.post("/login", data={"key": key, "next": "https://evil.example/x"},
                        follow_redirects=False)
    assert offsite.headers["location"] == "/dashboard?lang=zh"  # never redirected off-site
    anon.post("/logout")
    assert anon.get("/dashboard", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", BUS], indirect=True)
def test_kpis_and_scorecards_are_exact(server: Server, clock: ManualClock) -> None:
    api = merchant_world(server)
    (damaged,) = alert_ids(api, kind="damaged")
    clock.advance_to(clock.now() + timedelta(minutes=30))
    assert api.post(f"/v1/alerts/{damaged}/acknowledge").status_code == 200
    html = signed_in(server).get("/dashboard").text
    assert kpi(html, "shipments") == "5"
    assert kpi(html, "on_time") == "50.0%"  # SF1 on time, SF2 an hour late
    assert kpi(html, "breakage") == "20.0%"  # SF3 of five
    assert kpi(html, "loss") == "0.0%"
    assert kpi(html, "excursion") == "50.0%"  # JD1 of the two cold-chain parcels
    assert kpi(html, "mtta") == "630.0 分钟"  # opened at hour 2, acknowledged at T0 + 30 min
    assert row(html, "sf")[:6] == ["sf", "3", "50.0%", "33.3%", "0.0%", "—"]
    assert row(html, "jd")[:6] == ["jd", "2", "—", "0.0%", "0.0%", "50.0%"]
    assert row(html, "sf")[6] == "8.5 小时"  # pickup to delivery: SF1 6 h, SF2 11 h
    risks = dict(re.findall(r'data-risk="(\w+)">(\d+)<', html))
    assert risks["dwell_exceeded"] == str(len(alert_ids(api, kind="dwell_exceeded",
                                                          active="true")))
    assert set(risks) == {"delay_risk", "temperature_trend", "dwell_exceeded", "no_update",
                          "lost_suspected"}


@SQLITE
def test_the_board_acts_on_alerts_and_refuses_cross_site_posts(server: Server) -> None:
    api = merchant_world(server)
    (damaged,) = alert_ids(api, kind="damaged")
    client = signed_in(server)
    assert f'data-alert="{damaged}" data-state="open"' in client.get("/dashboard").text
    evil = server.anonymous({"Origin": "http://evil.example"})
    evil.cookies = client.cookies
    assert evil.post(f"/dashboard/alerts/{damaged}/acknowledge").status_code == 403
    assert api.get(f"/v1/alerts/{damaged}").json()["state"] == "open"
    board = client.post(f"/dashboard/alerts/{damaged}/acknowledge")
    assert board.status_code == 200
    assert f'data-alert="{damaged}" data-state="acknowledged"' in board.text
    noted = client.post(f"/dashboard/alerts/{damaged}/comment", data={"text": "已联系承运商"})
    assert noted.status_code == 200
    notes = api.get(f"/v1/alerts/{damaged}").json()["notes"]
    assert [n["text"] for n in notes] == ["已联系承运商"]
    assert client.post(f"/dashboard/alerts/{damaged}/comment", data={"text": " "}
                       ).status_code == 422
    client.post(f"/dashboard/alerts/{damaged}/resolve")
    assert api.get(f"/v1/alerts/{damaged}").json()["state"] == "resolved"
    assert f'data-alert="{damaged}"' not in client.get("/dashboard").text  # off the board
    carrier = signed_in(server, Role.CARRIER)  # may read alerts, not act on them
    (excursion,) = alert_ids(api, kind="temperature_excursion")
    assert carrier.post(f"/dashboard/alerts/{excursion}/acknowledge").status_code == 403


@SQLITE
def test_the_shipment_page_is_unmasked_with_its_custody_trail_and_proofs(
    server: Server,
) -> None:
    merchant_world(server)
    client = signed_in(server)
    html = client.get("/dashboard/shipments/SF3").text
    assert "张三丰 13812345678 · 北京市朝阳区建国路88号" in html  # the merchant's own customer
    assert "facility:HUB-SHA" in html
    assert "courier:C-2" in html
    assert "破损" in html
    assert 'data-testid="liability"' in html  # damage noted at HUB-SHA, no sensor: the holder
    # the page links to the API's files; the session cookie opens them (reads only)
    report = client.get("/v1/shipments/SF3/liability").json()
    assert [(i["kind"], i["party"]["id"]) for i in report["incidents"]] == [
        ("damage", "C-2")]  # the courier who picked it up: the last holder before HUB-SHA
    waybill = client.get("/v1/shipments/SF3/label.pdf")
    assert (waybill.status_code, waybill.content[:5]) == (200, b"%PDF-")
    evidence = client.get("/v1/shipments/SF3/dossier.pdf")
    assert (evidence.status_code, evidence.content[:5]) == (200, b"%PDF-")
    proofs = client.get("/v1/shipments/SF3/custody").json()
    assert [e["entry"]["kind"] for e in proofs["entries"]][:3] == [
        "shipment.registered", "scan.recorded", "scan.recorded"]
    assert proofs["verifier_key"]
    other = signed_in(server, tenant="other")
    assert other.get("/dashboard/shipments/SF3").status_code == 404  # another tenant's parcel
    assert other.get("/v1/shipments/SF3/custody").status_code == 404
    write = client.post("/v1/shipments", json={"tracking_no": "X"})
    assert write.status_code == 401  # a cookie never authorises a change
    anon = server.anonymous()
    anon.cookies.set("pg_session", "forged")
    assert anon.get("/v1/shipments/SF3/liability").status_code == 401


@SQLITE
def test_rules_are_listed_and_switched_from_the_settings_page(server: Server) -> None:
    api = server.client()
    made = api.post("/v1/rules", json={"name": "wet", "expression": 'event.condition == "wet"'})
    assert made.status_code == 201, made.text
    rule_id = made.json()["rule_id"]
    client = signed_in(server)
    assert 'event.condition == &#34;wet&#34;' in client.get("/dashboard/rules").text
    r = client.post(f"/dashboard/rules/{rule_id}/disable", follow_redirects=False)
    assert r.status_code == 303
    assert api.get(f"/v1/rules/{rule_id}").json()["enabled"] is False
    operator = signed_in(server, Role.OPERATOR)  # may not manage rules
    assert operator.post(f"/dashboard/rules/{rule_id}/enable",
                         follow_redirects=False).status_code == 403
    hook = api.post("/v1/webhooks", json={"url": "https://hooks.example.com/pg"}).json()
    assert f'/dashboard/webhooks/{hook["subscription_id"]}/disable' in client.get(
        "/dashboard/rules").text
    r = client.post(f"/dashboard/webhooks/{hook['subscription_id']}/disable",
                    follow_redirects=False)
    assert r.status_code == 303
    (listed,) = api.get("/v1/webhooks").json()
    assert listed["enabled"] is False
    assert client.post("/dashboard/tenants/x/disable").status_code == 404


@SQLITE
def test_carrier_and_operator_keys_see_the_recipient_masked(server: Server) -> None:
    merchant_world(server)
    for role in (Role.CARRIER, Role.OPERATOR):
        html = signed_in(server, role).get("/dashboard/shipments/SF3").text
        assert "张** 138********" in html
        assert "13812345678" not in html
        assert "建国路" not in html


@SQLITE
def test_logout_needs_our_origin_and_a_forged_or_old_cookie_is_no_session(server: Server) -> None:
    client = signed_in(server)
    evil = server.anonymous({"Origin": "http://evil.example"})
    evil.cookies = client.cookies
    assert evil.post("/logout").status_code == 403
    assert client.get("/dashboard").status_code == 200  # still signed in
    old = server.anonymous()
    sealed = server.system.vault.seal(server.keys.acme[Role.MERCHANT].encode())  # the key alone
    old.cookies.set("pg_session", base64.urlsafe_b64encode(sealed).decode().rstrip("="))
    assert old.get("/dashboard", follow_redirects=False).status_code == 303
    too_many = server.anonymous({"Origin": server.url}).post(
        "/login", content="&".join(f"f{i}=1" for i in range(50)),
        headers={"content-type": "application/x-www-form-urlencoded"})
    assert too_many.status_code == 400

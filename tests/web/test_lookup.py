"""The public lookup over real HTTP: digits, lockout, per-client limit, masking, share links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from parcelguard.domain import times
from parcelguard.services import lookup as lookup_module
from parcelguard.services.clock import ManualClock
from tests.conftest import BUS, Server, in_bus_mode, serving, system_in_mode
from tests.factories import at, event_json, shipment_json
from tests.web.helpers import PHONE, TN, cold_parcel, look_up, problem, share_url

SQLITE = pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)


@SQLITE
def test_the_right_digits_open_the_page_and_it_shows_nothing_personal(server: Server) -> None:
    cold_parcel(server)
    r = look_up(server.anonymous(), TN, PHONE[-4:])
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/t/{TN}?s=")
    page = server.anonymous().get(r.headers["location"])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert '<meta charset="utf-8">' in html
    assert "张** 138********" in html  # name and phone masked: 8 digits hidden
    assert "北京市****" in html
    for secret in (PHONE, PHONE[-4:], "三丰", "建国路", "13912345678", "2345678"):
        assert secret not in html  # nor the courier's phone in the carrier's wording
    assert "快递员王师傅（电话 139********）已揽收" in html
    assert "运输中" in html
    assert "已揽收" in html


@SQLITE
def test_unknown_number_and_wrong_digits_get_the_same_answer(server: Server) -> None:
    cold_parcel(server)
    wrong = look_up(server.anonymous(), TN, "0000")
    unknown = look_up(server.anonymous(), "SF1499999999", "5678")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text.replace(TN, "N") == unknown.text.replace("SF1499999999", "N")
    assert problem(wrong.text) == "未找到与该运单号和手机号后四位匹配的包裹。 还可尝试 4 次。"


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", BUS], indirect=True)
def test_five_wrong_tries_lock_the_number_for_a_day_known_or_not(
    server: Server, clock: ManualClock,
) -> None:
    cold_parcel(server)
    client = server.anonymous()
    for tn in (TN, "SF1499999999"):
        answers = [look_up(client, tn, f"000{i}").status_code for i in range(6)]
        assert answers == [404, 404, 404, 404, 423, 423]
    locked = look_up(client, TN, PHONE[-4:])  # even the right digits, while locked
    assert locked.status_code == 423
    assert "已锁定至" in problem(locked.text)
    clock.advance_to(clock.now() + timedelta(hours=23, minutes=59))
    assert look_up(client, TN, PHONE[-4:]).status_code == 423
    clock.advance_to(clock.now() + timedelta(minutes=2))
    assert look_up(client, TN, PHONE[-4:]).status_code == 303


@SQLITE
def test_a_right_answer_clears_the_count_and_tries_are_counted_per_number(server: Server) -> None:
    cold_parcel(server)
    client = server.anonymous()
    for i in range(4):
        look_up(client, TN, f"000{i}")
    assert look_up(client, TN, PHONE[-4:]).status_code == 303
    assert "还可尝试 4 次" in problem(look_up(client, TN, "0000").text)


@SQLITE
def test_a_client_gets_30_lookups_a_minute_then_429(server: Server) -> None:
    client = server.anonymous()
    answers = [look_up(client, f"SF14{i:08d}", "1234").status_code for i in range(31)]
    assert answers == [404] * 30 + [429]
    over = look_up(client, "SF1400000099", "1234")
    assert over.status_code == 429
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert problem(over.text) == "查询过于频繁，请稍后再试。"


@SQLITE
@pytest.mark.parametrize(("proxies", "trusted"), [("127.0.0.1", True), ("10.0.0.10", False)])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: ManualClock,
    proxies: str, trusted: bool,
) -> None:
    """The load balancer's X-Forwarded-For names the client when the balancer is one of
    PARCELGUARD_FORWARDED_ALLOW_IPS: one busy client then does not lock out everyone else.
    From anyone else the header is ignored (a client cannot pick a fresh count per request)."""
    with system_in_mode(in_bus_mode(request), db_url, tmp_path, clock,
                        forwarded_allow_ips=proxies) as node, serving(node) as server:
        client = server.anonymous()

        def via(ip: str, i: int) -> int:
            return client.post("/t", data={"tracking_no": f"SF14{i:08d}", "phone_last4": "1234"},
                               headers={"X-Forwarded-For": ip}).status_code

        assert [via("203.0.113.7", i) for i in range(31)] == [404] * 30 + [429]
        assert via("198.51.100.2", 99) == (404 if trusted else 429)


@SQLITE
def test_bad_digits_name_the_field(server: Server) -> None:
    r = look_up(server.anonymous(), TN, "12a4", lang="en")
    assert r.status_code == 422
    assert problem(r.text).startswith("Last 4 digits of the phone: expected the last 4 digits")


@SQLITE
def test_a_share_link_opens_only_its_own_number_and_expires(
    server: Server, clock: ManualClock,
) -> None:
    cold_parcel(server)
    cold_parcel(server, "SF1400000002")
    url = share_url(server)
    anyone = server.anonymous()
    assert 'data-testid="track"' in anyone.get(url).text
    token = url.split("s=")[1].split("&")[0]
    other = anyone.get(f"/t/SF1400000002?s={token}")  # the token of another number
    assert 'data-testid="track"' not in other.text
    assert 'name="phone_last4"' in other.text  # asked for the digits instead
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert 'data-testid="track"' not in anyone.get(f"/t/{TN}?s={forged}").text
    clock.advance_to(clock.now() + timedelta(days=14, seconds=1))
    assert 'data-testid="track"' not in anyone.get(url).text


@SQLITE
def test_the_english_page(server: Server) -> None:
    cold_parcel(server)
    url = share_url(server).replace("lang=zh", "lang=en")
    html = server.anonymous().get(url).text
    assert '<html lang="en">' in html
    assert "In transit" in html
    assert "Picked up" in html
    assert "safe band 2.0–8.0 °C" in html
    assert "1 excursions, 30 minutes out of range" in html


@SQLITE
def test_a_carriers_own_proof_of_delivery_is_shown_as_its_report_masked(server: Server) -> None:
    api = server.client()
    assert api.post("/v1/shipments", json=shipment_json(TN, category="high_value")
                    ).status_code == 201
    done = event_json(TN, 5, "delivered", raw={"pod": {  # even if it claims our method
        "signer": "张三丰", "id_verified": True, "photo": "POD-1.jpg", "method": "pickup_code",
        "photo_sha256": "a" * 64}})
    assert api.post("/v1/events", json=[event_json(TN, 0, "picked_up"), done]
                    ).json()["accepted"] == 2
    html = server.anonymous().get(share_url(server)).text
    assert "签收凭证：\n    承运商报告已核验收件人身份 · 签收人 张** · 有签收照片" in html
    assert "已凭取件码" not in html
    assert 'data-testid="pod-photo"' not in html  # no photo of ours to show
    assert "三丰" not in html


@SQLITE
def test_ended_counts_are_swept(server: Server, clock: ManualClock) -> None:
    lookup = server.system.lookup
    now = times.to_us(clock.now())
    for i in range(3):
        lookup.find(f"SF14{i:08d}", "0000", now)
    later = now + 49 * 3_600_000_000  # past both the 24 h window and any lock
    assert lookup.prune(later) == 3
    assert lookup.prune(later) == 0


@SQLITE
def test_lookups_sweep_ended_counts_by_themselves(
    server: Server, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lookup_module, "PRUNE_EVERY", 4)
    lookup = server.system.lookup
    now = times.to_us(clock.now())
    for i in range(3):
        lookup.find(f"SF14{i:08d}", "0000", now)
    later = now + 49 * 3_600_000_000
    lookup.find("SF1499999999", "0000", later)  # the fourth lookup sweeps the three ended ones
    assert lookup.prune(later) == 0


@SQLITE
def test_a_malformed_share_token_gets_the_lookup_form(server: Server) -> None:
    cold_parcel(server)
    for token in ("YWNtZQ.9999999999.é", "x", "a.b.c.d", "YWNtZQ.notanumber.ab"):
        r = server.anonymous().get(f"/t/{TN}", params={"s": token})
        assert r.status_code == 200
        assert 'name="phone_last4"' in r.text


@SQLITE
def test_the_consumers_map_stops_where_the_last_mile_begins(server: Server) -> None:
    api = cold_parcel(server)
    out = event_json(TN, 12, "out_for_delivery",
                     location={"city": "北京", "lat": 39.95, "lon": 116.3})
    door = {"device_id": f"TAG-{TN[-4:]}", "ts": times.iso(at(12.5)), "lat": 39.9061,
            "lon": 116.3912, "temperature_c": 5.0}
    assert api.post("/v1/events", json=out).status_code == 200
    assert api.post("/v1/telemetry", json=[door]).json()["accepted"] == 1
    html = server.anonymous().get(share_url(server)).text
    assert "39.9061" not in html  # the courier's fix at the door is not on the public map
    assert "39.95" not in html

"""The operations console over HTTP: handling accountability against a hand count on a small
fixed data set, the hub board, the CSV exports, and who may see it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.tenancy import Role
from parcelguard.services import auth, bottlenecks
from parcelguard.services.clock import ManualClock
from tests.conftest import BOTH_MODES, Server
from tests.factories import at, event_json, shipment_json
from tests.web.test_dashboard import signed_in

pytestmark = BOTH_MODES  # the same tests on an embedded server and through the bus

DAY_SCAN = -21  # hours from the factories' base: 2026-11-19 03:00 UTC, 11:00 in China
NIGHT_SCAN = -9  # 2026-11-19 15:00 UTC, 23:00 in China


def scan(tn: str, hours: float, facility: str, operator: str, device: str,
         condition: str = "intact") -> dict[str, Any]:
    """A sorting scan that notes the parcel's condition (only a scan saying "intact" vouches
    for it: domain/liability.py places damage after the last one)."""
    return event_json(tn, hours, "in_transit", location={"facility_id": facility},
                      operator_id=operator, device_id=device, condition=condition)


def handling_world(server: Server) -> None:
    """Ten parcels through HUB-A by day (OP-1 with PDA-1); eight of them on through HUB-B by
    night (OP-3 with PDA-3). Found damaged at HUB-A: P0, P1; damaged at HUB-B: P2 (intact at
    its first HUB-B scan); a 20 g shock in P3's fragile box at HUB-B.

    By hand, per 10,000 handled: HUB-A 2/10 = 2000, HUB-B 2/8 = 2500; the same for OP-1 and
    OP-3, PDA-1 and PDA-3, HUB-A by day and HUB-B by night."""
    api = server.client(Role.MERCHANT)
    parcels = [f"SF6000000{i:03d}" for i in range(10)]
    bodies = [shipment_json(tn, category="fragile" if i == 3 else "general",
                            devices=["TAG-P3"] if i == 3 else [])
              for i, tn in enumerate(parcels)]
    assert api.post("/v1/shipments", json=bodies).json()["accepted"] == 10
    carrier = server.client(Role.CARRIER)
    events = []
    for i, tn in enumerate(parcels):
        events.append(scan(tn, DAY_SCAN, "HUB-A", "OP-1", "PDA-1"))
        if i < 2:
            events.append(scan(tn, DAY_SCAN + 1, "HUB-A", "OP-1", "PDA-1", "damaged"))
        else:
            events.append(scan(tn, NIGHT_SCAN, "HUB-B", "OP-3", "PDA-3"))
        if i == 2:
            events.append(scan(tn, NIGHT_SCAN + 0.5, "HUB-B", "OP-3", "PDA-3", "damaged"))
    r = carrier.post("/v1/events", json=events)
    assert r.json()["accepted"] == len(events), r.text
    shock = {"device_id": "TAG-P3", "ts": times.iso(at(NIGHT_SCAN + 0.25)), "seq": 1,
             "shock_g": 20.0}
    assert server.client(Role.ADMIN).post("/v1/telemetry", json=[shock]).json()["accepted"] == 1


def table(client: httpx.Client, name: str) -> list[dict[str, str]]:
    r = client.get(f"/ops/{name}.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))


def test_handling_accountability_matches_a_hand_count(server: Server) -> None:
    handling_world(server)
    ops = signed_in(server, Role.OPERATOR)
    rates = {g: {r[g]: (int(r["incidents"]), int(r["handled"]), r["per_10000"])
                 for r in table(ops, g)} for g in ("facility", "shift", "operator", "device")}
    assert rates == {
        "facility": {"HUB-B": (2, 8, "2500.0"), "HUB-A": (2, 10, "2000.0")},
        "shift": {"HUB-B|night": (2, 8, "2500.0"), "HUB-A|day": (2, 10, "2000.0")},
        "operator": {"OP-3": (2, 8, "2500.0"), "OP-1": (2, 10, "2000.0")},
        "device": {"PDA-3": (2, 8, "2500.0"), "PDA-1": (2, 10, "2000.0")},
    }
    assert list(rates["facility"]) == ["HUB-B", "HUB-A"]  # worst rate first
    incidents = [(r["tracking_no"], r["kind"], r["facility_id"], r["operator_id"],
                  r["device_id"], r["shift"]) for r in table(ops, "incidents")]
    assert incidents == [
        ("SF6000000000", "damage", "HUB-A", "OP-1", "PDA-1", "day"),
        ("SF6000000001", "damage", "HUB-A", "OP-1", "PDA-1", "day"),
        ("SF6000000002", "damage", "HUB-B", "OP-3", "PDA-3", "night"),  # after 23:00 intact
        ("SF6000000003", "shock", "HUB-B", "OP-3", "PDA-3", "night"),  # at 23:15
    ]
    page = ops.get("/ops")
    assert page.status_code == 200
    assert 'data-testid="by-facility"' in page.text
    assert '<tr data-key="HUB-B">' in page.text


def test_the_hub_board_shows_where_parcels_wait(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    waiting = {"HUB-X": [3.0, 2.5, 0.5], "HUB-Y": [0.25]}  # hours before T0 each arrived
    n = 0
    for hub, ages in waiting.items():
        for age in ages:
            tn = f"SF61000000{n:02d}"
            n += 1
            assert api.post("/v1/shipments", json=shipment_json(tn)).status_code == 201
            api.post("/v1/events", json=[event_json(
                tn, 12 - age, "in_transit", location={"facility_id": hub, "lat": 31.2,
                                                      "lon": 121.4})])
    ops = signed_in(server, Role.CARRIER)
    rows = {r["facility_id"]: r for r in table(ops, "hubs")}
    assert set(rows) == {"HUB-X", "HUB-Y"}
    x = rows["HUB-X"]
    assert (x["on_hand"], x["dwell_p50_min"], x["dwell_p95_min"]) == ("3", "150.0", "180.0")
    # 180 minutes at the 95th percentile: past the 120-minute dwell limit
    assert x["congestion"] == "congested"
    assert (rows["HUB-Y"]["on_hand"], rows["HUB-Y"]["congestion"]) == ("1", "ok")
    assert rows["HUB-Y"]["scanned_last_hour"] == "1"
    board = ops.get("/ops/board")
    assert board.status_code == 200
    assert 'data-hub="HUB-X" data-level="congested"' in board.text


def test_only_carriers_operators_and_admins_see_it(server: Server) -> None:
    merchant = signed_in(server, Role.MERCHANT)
    assert merchant.get("/ops").status_code == 403
    assert merchant.get("/ops/hubs.csv").status_code == 403
    anon = server.anonymous()
    r = anon.get("/ops", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/ops")
    assert anon.get("/ops/board").status_code == 401
    assert signed_in(server, Role.ADMIN).get("/ops").status_code == 200
    assert signed_in(server, Role.OPERATOR).get("/ops/nothing.csv").status_code == 404
    # another tenant's operator sees nothing of acme's
    handling_world(server)
    other = signed_in(server, Role.OPERATOR, tenant="other")
    assert table(other, "facility") == []
    assert table(other, "hubs") == []


def test_a_cell_that_would_be_a_formula_is_exported_as_text(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    assert api.post("/v1/shipments", json=shipment_json("SF6200000001")).status_code == 201
    api.post("/v1/events", json=[event_json("SF6200000001", 11.5, "in_transit",
                                            location={"facility_id": "=HYPERLINK(1)"})])
    rows = table(signed_in(server, Role.OPERATOR), "hubs")
    assert [r["facility_id"] for r in rows] == ["'=HYPERLINK(1)"]


def test_lane_performance_and_its_trend(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    # (pickup hour, transit hours, promised hour) from the factories' base; T0 is hour 12
    this_week = [(-60, 20, 72), (-60, 30, 72), (-60, 40, -25)]  # the last one late
    week_before = [(-250, 24, 0), (-250, 26, 0)]  # delivered ~10 days before T0, on time
    for i, (pickup, transit, promised) in enumerate(this_week + week_before):
        tn = f"SF64000000{i:02d}"
        assert api.post("/v1/shipments", json=shipment_json(
            tn, promised_by=times.iso(at(promised)))).status_code == 201
        r = api.post("/v1/events", json=[event_json(tn, pickup, "picked_up"),
                                          event_json(tn, pickup + transit, "delivered")])
        assert r.json()["accepted"] == 2, r.text
    (lane,) = table(signed_in(server, Role.OPERATOR), "lanes")
    assert lane == {"origin": "上海", "destination": "北京", "carrier": "sf",
                    "category": "general", "delivered": "3", "p50_hours": "30.0",
                    "p90_hours": "40.0", "on_time": "0.667", "p50_change_hours": "5.0",
                    "on_time_change": "-0.333"}


def slowing_hub(api: httpx.Client) -> list[str]:
    """HUB-Q took 40 minutes in the same hours of the three days before; now ten parcels have
    waited there 60 to 105 minutes and are still there."""
    numbers = [f"SF65000000{i:02d}" for i in range(40)]
    promise = times.iso(at(12 + 30))  # T0 + 30 h
    assert api.post("/v1/shipments", json=[shipment_json(tn, promised_by=promise)
                                           for tn in numbers]).json()["accepted"] == 40
    events = []
    for i, tn in enumerate(numbers[:30]):  # the same hours of the 3 days before: 40 minutes
        arrive = 12 - 24 * (1 + i // 10) - 5 + (i % 10) * 0.4
        events += [event_json(tn, arrive, "in_transit", location={"facility_id": "HUB-Q"}),
                   event_json(tn, arrive + 40 / 60, "in_transit", substatus="departed",
                              location={"facility_id": "HUB-Q"}),
                   event_json(tn, arrive + 3, "in_transit", location={"facility_id": "HUB-R"})]
    for i, tn in enumerate(numbers[30:]):  # now: arrived 60 to 105 minutes ago, still there
        events.append(event_json(tn, 12 - (60 + 5 * i) / 60, "in_transit",
                                 location={"facility_id": "HUB-Q"}))
    assert api.post("/v1/events", json=events).json()["accepted"] == len(events)
    return numbers


def network_key(server: Server, network: str = "sf") -> str:
    """A carrier network key of a tenant of the carrier's own (``sf-net``)."""
    store = server.system.store
    with store.unit_of_work(write=False) as uow:
        known = uow.tenants.exists("sf-net")
    if not known:
        auth.create_tenant(store, "sf-net", "SF network", 0)
    return auth.create_key(store, "sf-net", Role.CARRIER, "network", 0, network=network)


def signed_in_with(server: Server, key: str) -> httpx.Client:
    client = server.anonymous({"Origin": server.url})
    r = client.post("/login", data={"key": key, "lang": "zh"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_a_hub_slowing_down_raises_a_bottleneck_before_any_promise_is_missed(
    server: Server, clock: ManualClock,
) -> None:
    api = server.client(Role.MERCHANT)
    numbers = slowing_hub(api)
    hook = api.post("/v1/webhooks", json={"url": "https://hooks.example.com/ops",
                                          "events": ["ops_alert.opened", "ops_alert.cleared"]})
    assert hook.status_code == 201, hook.text

    (change,) = bottlenecks.check_all(server.system.store, times.to_us(clock.now()),
                                      server.system.vault)
    what, alert = change
    assert (what, alert.facility_id, alert.kind) == ("opened", "HUB-Q", "bottleneck")
    assert alert.evidence == {"baseline_p95_min": 40.0, "now_p95_min": 105.0, "ratio": 2.62,
                              "baseline_stays": 30, "recent_stays": 10, "on_hand": 10}
    late = api.get("/v1/alerts", params={"kind": "delivery_late"}).json()["items"]
    assert late == []  # no parcel through HUB-Q has missed its promise yet
    assert bottlenecks.check_all(server.system.store, times.to_us(clock.now())) == []  # once
    (sent,) = api.get("/v1/webhooks/messages").json()
    assert (sent["event"], sent["payload"]["data"]["facility_id"]) == ("ops_alert.opened",
                                                                       "HUB-Q")
    assert sent["payload"]["data"]["evidence"]["now_p95_min"] == 105.0
    page = signed_in(server, Role.OPERATOR).get("/ops")
    assert 'data-ops-alert="HUB-Q"' in page.text
    assert "滞留 P95 105 分钟，平时 40 分钟（2.62 倍），在库 10 件" in page.text

    # they move on; six hours later the hub is back to normal and the alert clears
    moved = api.post("/v1/events", json=[event_json(tn, 11.95, "in_transit",
                                                    location={"facility_id": "HUB-R"})
                                         for tn in numbers[30:]])
    assert moved.json()["accepted"] == 10, moved.text
    clock.advance_to(clock.now() + timedelta(hours=7))
    (change,) = bottlenecks.check_all(server.system.store, times.to_us(clock.now()),
                                      server.system.vault)
    assert change[0] == "cleared"
    assert [m["event"] for m in api.get("/v1/webhooks/messages").json()] == [
        "ops_alert.cleared", "ops_alert.opened"]
    assert change[1].cleared_at_us == times.to_us(clock.now())


def test_a_carrier_network_key_sees_its_parcels_of_every_merchant(server: Server) -> None:
    waiting = [("acme", "SF6600000001", "sf", "HUB-N"), ("acme", "SF6600000002", "sf", "HUB-N"),
               ("acme", "ZT6600000003", "zto", "HUB-N"),
               ("other", "SF6600000004", "sf", "HUB-N"), ("other", "SF6600000005", "sf", "HUB-M")]
    for tenant, tn, carrier, hub in waiting:
        api = server.client(Role.MERCHANT, tenant=tenant)
        assert api.post("/v1/shipments", json=shipment_json(tn, carrier=carrier)).status_code == 201
        r = api.post("/v1/events", json=[event_json(tn, 11, "in_transit", carrier=carrier,
                                                    location={"facility_id": hub})])
        assert r.json()["accepted"] == 1, r.text

    def on_hand(client: httpx.Client) -> dict[str, str]:
        return {r["facility_id"]: r["on_hand"] for r in table(client, "hubs")}

    key = network_key(server)
    sf = signed_in_with(server, key)
    assert on_hand(sf) == {"HUB-N": "3", "HUB-M": "1"}  # both merchants' sf parcels, no zto
    page = sf.get("/ops")
    assert 'data-testid="ops-network"' in page.text
    assert "承运网络 sf：所有商家交由 sf 承运的包裹" in page.text
    # a tenant's own carrier key still sees that tenant's parcels, of every carrier
    assert on_hand(signed_in(server, Role.CARRIER)) == {"HUB-N": "3"}
    assert on_hand(signed_in(server, Role.CARRIER, tenant="other")) == {"HUB-N": "1",
                                                                         "HUB-M": "1"}
    assert on_hand(signed_in_with(server, network_key(server, "zto"))) == {"HUB-N": "1"}
    # a waybill both a marketplace and its seller registered is one parcel to the network
    twice = server.client(Role.MERCHANT, tenant="other")
    assert twice.post("/v1/shipments", json=shipment_json("SF6600000001")).status_code == 201
    assert twice.post("/v1/events", json=[event_json("SF6600000001", 11, "in_transit",
                                                     location={"facility_id": "HUB-N"})]
                      ).json()["accepted"] == 1
    assert on_hand(sf) == {"HUB-N": "3", "HUB-M": "1"}
    assert {r["facility"]: r["handled"] for r in table(sf, "facility")} == {"HUB-N": "3",
                                                                           "HUB-M": "1"}
    # the span is the console's: the merchants' shipments are not the network's to read
    api = server.anonymous({"Authorization": f"Bearer {key}"})
    assert api.get("/v1/shipments/SF6600000001").status_code == 404
    assert api.get("/v1/shipments").json()["items"] == []


def test_only_a_carrier_key_spans_a_network(server: Server) -> None:
    store = server.system.store
    with pytest.raises(InvalidInput, match="only a carrier key spans a network"):
        auth.create_key(store, "acme", Role.MERCHANT, "", 0, network="sf")
    with pytest.raises(InvalidInput, match="expected a carrier code"):
        auth.create_key(store, "acme", Role.CARRIER, "", 0, network="SF Express")


def test_a_network_watches_its_hubs_across_merchants(server: Server, clock: ManualClock) -> None:
    key = network_key(server)
    acme = server.client(Role.ADMIN)
    net_admin = auth.create_key(server.system.store, "sf-net", Role.ADMIN, "", 0)
    net = server.anonymous({"Authorization": f"Bearer {net_admin}"})
    for client in (acme, net):
        assert client.post("/v1/webhooks", json={
            "url": "https://hooks.example.com/ops",
            "events": ["ops_alert.opened", "ops_alert.cleared"]}).status_code == 201
    numbers = slowing_hub(acme)

    changes = bottlenecks.check_all(server.system.store, times.to_us(clock.now()),
                                    server.system.vault)
    assert sorted((a.tenant_id, a.network, a.facility_id, what) for what, a in changes) == [
        ("acme", None, "HUB-Q", "opened"), ("sf-net", "sf", "HUB-Q", "opened")]
    (sent,) = net.get("/v1/webhooks/messages").json()
    assert (sent["payload"]["data"]["facility_id"],
            sent["payload"]["data"]["network"]) == ("HUB-Q", "sf")
    (mine,) = acme.get("/v1/webhooks/messages").json()  # the merchant hears of its own only
    assert mine["payload"]["data"]["network"] is None
    assert 'data-ops-alert="HUB-Q"' in signed_in_with(server, key).get("/ops").text
    # a tenant's console shows its own alert once, not the network's copy; another network
    # sees neither
    page = signed_in(server, Role.OPERATOR).get("/ops").text
    assert page.count('data-ops-alert="HUB-Q"') == 1
    zto = signed_in_with(server, network_key(server, "zto")).get("/ops").text
    assert "data-ops-alert" not in zto

    # the network key is revoked; its open alert still clears when the hub recovers
    auth.revoke_key(server.system.store, key.split("_")[1], 0)
    assert acme.post("/v1/events", json=[event_json(tn, 11.95, "in_transit",
                                                    location={"facility_id": "HUB-R"})
                                         for tn in numbers[30:]]).json()["accepted"] == 10
    clock.advance_to(clock.now() + timedelta(hours=7))
    changes = bottlenecks.check_all(server.system.store, times.to_us(clock.now()),
                                    server.system.vault)
    assert sorted((a.tenant_id, a.network, what) for what, a in changes) == [
        ("acme", None, "cleared"), ("sf-net", "sf", "cleared")]
    assert bottlenecks.check_all(server.system.store, times.to_us(clock.now())) == []

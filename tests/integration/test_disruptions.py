"""The disruption feed over HTTP: an operator declares a storm, a closed hub or a region; the
shipments whose way crosses it get a new ETA and, where the promise is now at risk, a
delay_risk alert naming it; shipments elsewhere are untouched. In both modes (embedded, and
bus mode with the workers behind NATS)."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from typing import Any

import pytest

from parcelguard.domain import times
from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from tests.conftest import T0, Server
from tests.factories import event_json, shipment_json
from tests.integration.test_cli import EXE

HANGZHOU = {"city": "杭州", "lat": 30.27, "lon": 120.15}
NINGBO = {"city": "宁波", "lat": 29.87, "lon": 121.54}
NANJING = {"city": "南京", "lat": 32.06, "lon": 118.80}
BEIJING = {"city": "北京", "lat": 39.9, "lon": 116.4}
PROMISE = times.iso(T0 + timedelta(hours=8))

STORM_HZ = "SF5000000001"  # out for delivery in Hangzhou: the storm makes it late
CALM_BJ = "SF5000000002"  # out for delivery in Beijing: elsewhere
BOUND_HZ = "SF5000000003"  # in transit at Nanjing, for Hangzhou: a later ETA, no risk yet
NINGBO_TN = "SF5000000004"  # for Ningbo: inside the polygon
VIA_HUB = "SF5000000005"  # its plan goes through HUB-HZ ahead


def _parcel(api: Any, tn: str, dest: dict[str, Any], scan: dict[str, Any], status: str,
            **extra: Any) -> None:
    r = api.post("/v1/shipments", json=shipment_json(tn, destination=dest, promised_by=PROMISE,
                                                     **extra))
    assert r.status_code in (201, 202), r.text
    r = api.post("/v1/events", json=[event_json(tn, 9, "picked_up", location={"city": "上海"}),
                                     event_json(tn, 11.5, status, location=scan)])
    assert r.status_code == 200, r.text


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _eta(api: Any, tn: str) -> dict[str, str]:
    eta: dict[str, str] = api.get(f"/v1/shipments/{tn}").json()["eta"]
    return eta


def _risks(api: Any, tn: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/v1/shipments/{tn}/alerts").json()["items"]
    return [a for a in items if a["kind"] == "delay_risk"]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", "bus"], indirect=True)
def test_a_storm_delays_what_goes_through_it_and_nothing_else(
    server: Server, clock: ManualClock,
) -> None:
    api = server.client(Role.MERCHANT)
    _parcel(api, STORM_HZ, HANGZHOU, {"city": "杭州", "facility_id": "ST-HZ"}, "out_for_delivery")
    _parcel(api, CALM_BJ, BEIJING, {"city": "北京", "facility_id": "ST-BJ"}, "out_for_delivery")
    _parcel(api, BOUND_HZ, HANGZHOU, {"city": "南京", "facility_id": "HUB-NJ", **NANJING},
            "in_transit")
    before = {tn: _eta(api, tn) for tn in (STORM_HZ, CALM_BJ, BOUND_HZ)}
    assert _risks(api, STORM_HZ) == []

    ops = server.client(Role.OPERATOR)
    r = ops.post("/v1/disruptions", json={
        "kind": "weather", "title": "台风“海葵”", "cities": ["杭州"],
        "ends_at": times.iso(T0 + timedelta(days=2)), "extra_delay_hours": 12})
    assert r.status_code == 201, r.text
    storm = r.json()
    assert (storm["kind"], storm["cities"], storm["in_force"]) == ("weather", ["杭州"], True)

    (risk,) = _risks(api, STORM_HZ)
    assert risk["evidence"]["disruption"] == "台风“海葵”"
    assert risk["evidence"]["disruptions"] == [{
        "disruption_id": storm["disruption_id"], "kind": "weather", "title": "台风“海葵”",
        "extra_delay_hours": 12.0}]
    for tn in (STORM_HZ, BOUND_HZ):  # both later by the storm's 12 hours
        after = _eta(api, tn)
        assert _at(after["median"]) - _at(before[tn]["median"]) == timedelta(
            hours=12), tn
    assert _risks(api, BOUND_HZ) == []  # later, but its promise is not at risk on this basis
    assert _eta(api, CALM_BJ) == before[CALM_BJ]
    assert _risks(api, CALM_BJ) == []

    # called off: the estimate goes back, the risk clears
    assert ops.delete(f"/v1/disruptions/{storm['disruption_id']}").status_code == 200
    assert _eta(api, STORM_HZ) == before[STORM_HZ]
    (cleared,) = _risks(api, STORM_HZ)
    assert cleared["state"] == "cleared"
    listed = ops.get("/v1/disruptions").json()["items"]
    assert [(d["disruption_id"], d["in_force"]) for d in listed] == [
        (storm["disruption_id"], False)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_region_or_a_closed_facility(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    _parcel(api, NINGBO_TN, NINGBO, {"city": "上海", "facility_id": "HUB-SH", "lat": 31.23,
                                     "lon": 121.47}, "in_transit")
    _parcel(api, VIA_HUB, BEIJING, {"city": "上海", "facility_id": "HUB-SH"}, "in_transit",
            route_plan=["HUB-SH", "HUB-HZ", "HUB-BJ"])
    _parcel(api, CALM_BJ, BEIJING, {"city": "上海", "facility_id": "HUB-SH"}, "in_transit",
            route_plan=["HUB-SH", "HUB-NJ", "HUB-BJ"])
    before = {tn: _eta(api, tn) for tn in (NINGBO_TN, VIA_HUB, CALM_BJ)}
    ops = server.client(Role.OPERATOR)
    ends = times.iso(T0 + timedelta(days=1))
    # a ring around Ningbo: the line from Shanghai to Ningbo crosses it
    ring = [[121.2, 29.6], [121.9, 29.6], [121.9, 30.1], [121.2, 30.1]]
    assert ops.post("/v1/disruptions", json={
        "kind": "traffic", "title": "杭州湾跨海大桥封闭", "polygon": ring, "ends_at": ends,
        "extra_delay_hours": 6}).status_code == 201
    assert ops.post("/v1/disruptions", json={
        "kind": "facility_closure", "title": "杭州转运中心停运", "facility_id": "HUB-HZ",
        "ends_at": ends, "extra_delay_hours": 24}).status_code == 201
    shift = {tn: _at(_eta(api, tn)["median"]) - _at(before[tn]["median"])
             for tn in before}
    assert shift == {NINGBO_TN: timedelta(hours=6), VIA_HUB: timedelta(hours=24),
                     CALM_BJ: timedelta(0)}
    # a parcel registered after the closure is estimated with it from the start
    _parcel(api, "SF5000000009", BEIJING, {"city": "上海", "facility_id": "HUB-SH"},
            "in_transit", route_plan=["HUB-SH", "HUB-HZ", "HUB-BJ"])
    late = _eta(api, "SF5000000009")
    assert _at(late["median"]) - _at(before[VIA_HUB]["median"]) == timedelta(
        hours=24)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_declaring_is_for_operators_and_checked(server: Server) -> None:
    ends = times.iso(T0 + timedelta(days=1))
    good = {"kind": "weather", "title": "暴雨", "cities": ["杭州"], "ends_at": ends,
            "extra_delay_hours": 6}
    for role in (Role.MERCHANT, Role.CARRIER, Role.DEVICE_GATEWAY):
        assert server.client(role).post("/v1/disruptions", json=good).status_code == 403
    ops = server.client(Role.OPERATOR)
    for change, field in [
        ({"kind": "volcano"}, "kind"),
        ({"extra_delay_hours": 0}, "extra_delay_hours"),
        ({"ends_at": times.iso(T0 - timedelta(hours=1))}, "ends_at"),
        ({"cities": None}, "region"),
        ({"facility_id": "HUB-HZ"}, "region"),
        ({"cities": None, "polygon": [[120, 30], [121, 30]]}, "polygon"),
        ({"cities": None, "polygon": [[120, 30], [121, 31], [121, 30], [120, 31]]}, "polygon"),
        ({"ends_at": "2026-11-21T00:00:00"}, "ends_at"),
    ]:
        r = ops.post("/v1/disruptions", json=good | change)
        assert (r.status_code, r.json()["error"]["field"]) == (422, field), (change, r.text)
    assert ops.delete("/v1/disruptions/dis_0000000000000000").status_code == 404
    made = ops.post("/v1/disruptions", json=good).json()
    other = server.client(Role.OPERATOR, tenant="other")
    assert other.delete(f"/v1/disruptions/{made['disruption_id']}").status_code == 404
    assert other.get("/v1/disruptions").json()["items"] == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_command_line_declares_lists_and_ends_them(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    _parcel(api, STORM_HZ, HANGZHOU, {"city": "杭州", "facility_id": "ST-HZ"}, "out_for_delivery")

    def cli(*args: str, role: Role = Role.OPERATOR) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*EXE, "disruptions", *args, "--url", server.url, "--key",
                               server.keys.acme[role]], capture_output=True, text=True,
                              timeout=60)

    made = cli("add", "--kind", "weather", "--title", "暴雨", "--city", "杭州", "--city", "绍兴",
               "--extra-hours", "12", "--starts", times.iso(T0), "--hours", "36")
    assert made.returncode == 0, made.stderr
    found = re.search(r"disruption (dis_[0-9a-f]{16}) declared until (\S+)", made.stdout)
    assert found
    assert found.group(2) == times.iso(T0 + timedelta(hours=36))
    (risk,) = _risks(api, STORM_HZ)
    assert risk["evidence"]["disruption"] == "暴雨"
    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert found.group(1) in listed.stdout
    assert cli("end", found.group(1)).returncode == 0
    assert _risks(api, STORM_HZ)[0]["state"] == "cleared"
    refused = cli("add", "--kind", "weather", "--title", "x", "--extra-hours", "1",
                  "--city", "杭州", role=Role.MERCHANT)
    assert refused.returncode == 1
    assert "403" in refused.stderr
    bad = cli("add", "--kind", "weather", "--title", "x", "--extra-hours", "1")
    assert bad.returncode == 1
    assert "(field region)" in bad.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_parcel_that_has_left_a_city_is_not_held_up_there(server: Server) -> None:
    """Scanned at a hub named only by its id (no city, no position): it has left its origin,
    so a storm over the origin city is not on its way; its position comes from the hub's
    known place for a polygon."""
    api = server.client(Role.MERCHANT)
    api.post("/v1/events", json=[event_json("SF5000000099", 1, "in_transit", location={
        "facility_id": "HUB-PEK", "lat": 39.9, "lon": 116.4})])  # the hub's place, learnt
    _parcel(api, "SF5000000007", BEIJING, {"facility_id": "HUB-PEK"}, "in_transit")
    before = _eta(api, "SF5000000007")
    ops = server.client(Role.OPERATOR)
    ends = times.iso(T0 + timedelta(days=1))
    assert ops.post("/v1/disruptions", json={
        "kind": "weather", "title": "上海暴雨", "cities": ["上海"], "ends_at": ends,
        "extra_delay_hours": 12}).status_code == 201
    assert _eta(api, "SF5000000007") == before
    # a ring around Beijing: the hub's learnt place is inside it
    ring = [[116.0, 39.6], [116.8, 39.6], [116.8, 40.2], [116.0, 40.2]]
    assert ops.post("/v1/disruptions", json={
        "kind": "traffic", "title": "进京检查站", "polygon": ring, "ends_at": ends,
        "extra_delay_hours": 3}).status_code == 201
    assert _at(_eta(api, "SF5000000007")["median"]) - _at(before["median"]) == timedelta(hours=3)

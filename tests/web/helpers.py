"""A cold-chain parcel with scans, a box sensor and an excursion, as the pages' tests use it."""

from __future__ import annotations

import re
from typing import Any

import httpx

from parcelguard.domain import times
from tests.conftest import Server
from tests.factories import at, event_json, shipment_json

TN = "SF1400000001"
PHONE = "13812345678"
GUANGZHOU = {"city": "广州", "lat": 23.13, "lon": 113.26}


def cold_parcel(server: Server, tn: str = TN, **extra: Any) -> httpx.Client:
    """Registered with its sensor; picked up, sorted, loaded; 12 hours of readings with one
    excursion above 8 °C lasting 30 minutes. Returns the merchant's client."""
    api = server.client()
    tag = f"TAG-{tn[-4:]}"
    body = shipment_json(tn, category="cold_chain", devices=[tag], origin=GUANGZHOU,
                         **extra)
    assert api.post("/v1/shipments", json=body).status_code == 201
    scans = [
        event_json(tn, 0, "picked_up", description="快递员王师傅（电话 13912345678）已揽收",
                   location={"city": "广州", "lat": 23.13, "lon": 113.26}),
        event_json(tn, 2, "in_transit", description="快件已到达【广州白云转运中心】",
                   location={"facility_id": "HUB-CAN", "name": "广州白云转运中心",
                             "city": "广州", "lat": 23.39, "lon": 113.30}),
        event_json(tn, 3, "in_transit", description="快件已装车，发往【上海转运中心】",
                   location={"facility_id": "HUB-CAN", "name": "广州白云转运中心",
                             "city": "广州", "lat": 23.39, "lon": 113.30}),
    ]
    assert api.post("/v1/events", json=scans).json()["accepted"] == 3
    readings = []
    for i in range(48):  # every 15 minutes from hour 0; 8.5 °C at 5:00 and 5:15
        temp = 8.5 if i in (20, 21) else 5.0
        readings.append({"device_id": tag, "ts": times.iso(at(i / 4)), "temperature_c": temp,
                         "humidity_pct": 60.0, "lat": 23.4 + i * 0.1, "lon": 113.3 + i * 0.05})
    assert api.post("/v1/telemetry", json=readings).json()["accepted"] == 48
    return api


def look_up(client: httpx.Client, tn: str, digits: str, lang: str = "zh") -> httpx.Response:
    return client.post("/t", data={"tracking_no": tn, "phone_last4": digits, "lang": lang},
                       follow_redirects=False)


def share_url(server: Server, tn: str = TN, digits: str = PHONE[-4:]) -> str:
    r = look_up(server.anonymous(), tn, digits)
    assert r.status_code == 303, r.text
    return server.url + r.headers["location"]


def problem(html: str) -> str:
    found = re.search(r'data-testid="problem">([^<]*)<', html)
    return found.group(1) if found else ""


def merchant_world(server: Server) -> httpx.Client:
    """Five parcels of two carriers, registered at the test clock's now (T0):

    - sf: SF1 delivered on time; SF2 delivered an hour after its promise; SF3 fragile, damaged
      at the second scan (a ``damaged`` alert, opened at hour 2);
    - jd: JD1 cold chain with 30 minutes at 9 °C (a ``temperature_excursion``); JD2 cold chain
      within its band.
    """
    api = server.client()
    sf = {"carrier": "sf"}
    shipments = [
        shipment_json("SF1", **sf), shipment_json("SF2", promised_by=times.iso(at(10)), **sf),
        shipment_json("SF3", category="fragile", **sf),
        shipment_json("JD1", carrier="jd", category="cold_chain", devices=["LOG-1"]),
        shipment_json("JD2", carrier="jd", category="cold_chain", devices=["LOG-2"]),
    ]
    assert api.post("/v1/shipments", json=shipments).json()["accepted"] == 5
    scans = [
        event_json("SF1", 0, "picked_up", operator_id="C-1"),
        event_json("SF1", 6, "delivered"),
        event_json("SF2", 0, "picked_up", operator_id="C-1"),
        event_json("SF2", 11, "delivered"),
        event_json("SF3", 0, "picked_up", operator_id="C-2"),
        event_json("SF3", 2, "in_transit", condition="damaged", description="外包装破损",
                   location={"facility_id": "HUB-SHA", "city": "上海"}),
        event_json("JD1", 0, "picked_up", carrier="jd", operator_id="C-3"),
        event_json("JD2", 0, "picked_up", carrier="jd", operator_id="C-4"),
    ]
    for scan in scans:
        scan["carrier"] = "jd" if scan["tracking_no"].startswith("JD") else "sf"
    assert api.post("/v1/events", json=scans).json()["accepted"] == 8
    readings = [{"device_id": dev, "ts": times.iso(at(m / 60)), "temperature_c": temp}
                for dev, hot in (("LOG-1", True), ("LOG-2", False))
                for m in range(0, 12 * 60, 10)
                for temp in [9.0 if hot and 300 <= m < 330 else 5.0]]
    assert api.post("/v1/telemetry", json=readings).json()["accepted"] == 144
    return api

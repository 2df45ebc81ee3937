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

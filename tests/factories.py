"""Builders of wire-format dicts and domain objects for tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from parcelguard.domain import times
from parcelguard.domain.events import Condition, Location, TrackingEvent
from parcelguard.domain.shipment import Category, Place, Shipment
from parcelguard.domain.status import Status

BASE = times.parse("2026-11-20T08:00:00+08:00", "t")
SHANGHAI = {"city": "上海", "lat": 31.23, "lon": 121.47}
BEIJING = {"city": "北京", "lat": 39.9, "lon": 116.4}


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def shipment_json(tracking_no: str = "SF1400000001", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tracking_no": tracking_no, "carrier": "sf", "category": "general",
        "origin": SHANGHAI, "destination": BEIJING,
        "promised_by": times.iso(at(72)),
        "recipient": {"name": "张三丰", "phone": "13812345678", "address": "北京市朝阳区建国路88号"},
    }
    body.update(extra)
    return body


def event_json(
    tracking_no: str = "SF1400000001", hours: float = 0, status: str = "in_transit", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"tracking_no": tracking_no, "carrier": "sf",
                            "occurred_at": times.iso(at(hours)), "status": status}
    body.update(extra)
    return body


def shipment(tracking_no: str = "SF1400000001", tenant_id: str = "acme") -> Shipment:
    return Shipment(tenant_id, tracking_no, "sf", Category.GENERAL, Place("上海"), Place("北京"))


def event(
    event_id: str, hours: float, status: Status | str, *, tracking_no: str = "SF1400000001",
    facility: str | None = None, substatus: str | None = None, vehicle: str | None = None,
    operator: str | None = None, condition: Condition | None = None,
) -> TrackingEvent:
    return TrackingEvent(
        event_id=event_id, tracking_no=tracking_no, carrier="sf", occurred_at=at(hours),
        status=Status(status), substatus=substatus,
        location=Location(facility_id=facility) if facility else None,
        vehicle_id=vehicle, operator_id=operator, condition=condition,
    )


JOURNEY = [
    ("e1", 0, "picked_up", {"operator": "C1"}),
    ("e2", 2, "in_transit", {"facility": "HUB-SHA", "substatus": "arrived"}),
    ("e3", 3, "in_transit", {"facility": "HUB-SHA", "substatus": "loaded", "vehicle": "沪A1"}),
    ("e4", 14, "in_transit", {"facility": "HUB-BJS", "substatus": "unloaded", "vehicle": "沪A1"}),
    ("e5", 20, "out_for_delivery", {"operator": "C9"}),
    ("e6", 23, "delivered", {}),
]


def journey(tracking_no: str = "SF1400000001") -> list[TrackingEvent]:
    return [event(eid, h, st, tracking_no=tracking_no, **kw)  # type: ignore[arg-type]
            for eid, h, st, kw in JOURNEY]

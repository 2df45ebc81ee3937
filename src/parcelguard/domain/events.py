"""Tracking events: one scan or status report of one parcel, as the carrier saw it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from parcelguard.domain import times
from parcelguard.domain.status import Status

FUTURE_TOLERANCE = timedelta(minutes=10)
LOADED, UNLOADED, DEPARTED, ARRIVED = "loaded", "unloaded", "departed", "arrived"


class Condition(StrEnum):
    INTACT = "intact"
    DAMAGED = "damaged"
    WET = "wet"
    OPENED = "opened"
    MISSING_ITEMS = "missing_items"


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Location:
    facility_id: str | None = None
    name: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class TrackingEvent:
    event_id: str
    tracking_no: str
    carrier: str
    occurred_at: datetime
    status: Status
    substatus: str | None = None
    location: Location | None = None
    operator_id: str | None = None
    device_id: str | None = None
    vehicle_id: str | None = None
    condition: Condition | None = None
    description: str | None = None
    source: str = "api"
    carrier_code: str | None = None  # the carrier's own status code, kept raw
    raw: Mapping[str, object] | None = None

    @property
    def facility_id(self) -> str | None:
        return self.location.facility_id if self.location else None


def derive_event_id(
    source: str,
    tracking_no: str,
    occurred_at: datetime,
    status: str,
    substatus: str | None,
    facility_id: str | None,
) -> str:
    """A stable id from the event's content, for senders that give none.

    The same scan sent twice (or inside a carrier's full-trace push) gets the same id, so it
    is recognised as a duplicate. The time is the UTC instant, so ``+08:00`` and ``Z``
    spellings of one moment agree.
    """
    material = "\x1f".join(
        (source, tracking_no, str(times.to_us(occurred_at)), status, substatus or "",
         facility_id or "")
    )
    return "h-" + hashlib.sha256(material.encode()).hexdigest()[:32]


def is_future(occurred_at: datetime, received_at: datetime) -> bool:
    """True when the event claims to have happened more than 10 minutes after it arrived."""
    return occurred_at - received_at > FUTURE_TOLERANCE

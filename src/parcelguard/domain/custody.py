"""Who holds a parcel: derived from each scan, so every handover is on the record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parcelguard.domain.events import DEPARTED, LOADED, TrackingEvent
from parcelguard.domain.status import Status


class HolderKind(StrEnum):
    COURIER = "courier"
    FACILITY = "facility"
    VEHICLE = "vehicle"
    LOCKER = "locker"
    CUSTOMS = "customs"
    LINEHAUL = "linehaul"  # left a facility on a vehicle the scan does not name
    RECIPIENT = "recipient"
    SENDER = "sender"


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Holder:
    kind: HolderKind
    id: str
    carrier: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind.value, "id": self.id, "carrier": self.carrier}


def holder_after(event: TrackingEvent) -> Holder | None:
    """Who holds the parcel right after ``event``; None when the scan does not say.

    A vehicle holds the parcel from its load (or departure) scan until a later scan puts the
    parcel somewhere else: an unload or arrival at a facility, a courier, a locker. A departure
    that names no vehicle leaves the parcel with the carrier's linehaul (the id is the facility
    it left).
    """
    carrier = event.carrier
    if event.substatus in (LOADED, DEPARTED) and event.vehicle_id:
        return Holder(HolderKind.VEHICLE, event.vehicle_id, carrier)
    if event.substatus == DEPARTED:
        return Holder(HolderKind.LINEHAUL, event.facility_id or "unknown", carrier)
    if event.status is Status.DELIVERED:
        return Holder(HolderKind.RECIPIENT, "recipient", None)
    if event.status is Status.RETURNED:
        return Holder(HolderKind.SENDER, "sender", None)
    if event.status is Status.CUSTOMS:
        return Holder(HolderKind.CUSTOMS, event.facility_id or "customs", carrier)
    if event.status is Status.AVAILABLE_FOR_PICKUP and event.facility_id:
        return Holder(HolderKind.LOCKER, event.facility_id, carrier)
    if event.status in (Status.OUT_FOR_DELIVERY, Status.PICKED_UP) and event.operator_id:
        return Holder(HolderKind.COURIER, event.operator_id, carrier)
    if event.facility_id:
        return Holder(HolderKind.FACILITY, event.facility_id, carrier)
    return None


@dataclass(frozen=True, slots=True)
class Window:
    """A vehicle carrying the parcel from ``start_us`` until ``end_us`` (None: still aboard)."""

    vehicle_id: str
    start_us: int
    end_us: int | None


def vehicle_windows(events: list[tuple[int, TrackingEvent]]) -> list[Window]:
    """The vehicles that held the parcel, from its events as (UTC µs, event) in time order."""
    windows: list[Window] = []
    aboard: tuple[str, int] | None = None
    for at, event in events:
        holder = holder_after(event)
        if holder is None:
            continue
        if aboard is not None and (holder.kind is not HolderKind.VEHICLE or holder.id != aboard[0]):
            windows.append(Window(aboard[0], aboard[1], at))
            aboard = None
        if holder.kind is HolderKind.VEHICLE and aboard is None:
            aboard = (holder.id, at)
    if aboard is not None:
        windows.append(Window(aboard[0], aboard[1], None))
    return windows

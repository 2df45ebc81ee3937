"""Read use cases: shipments, timelines, telemetry series and custody entries with proofs.

Every function takes the caller's tenant and answers NotFound for another tenant's shipment,
so nothing tells a caller whether a tracking number exists elsewhere.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass

from parcelguard.domain import times
from parcelguard.domain.alerts import Alert
from parcelguard.domain.custody import Window, vehicle_windows
from parcelguard.domain.errors import InvalidInput, NotFound
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.shipment import Recipient
from parcelguard.domain.status import Derived, Effect, Step, derive
from parcelguard.services.ledger import Proof, StoreReader, inclusion
from parcelguard.services.ports import (
    AlertFilter,
    AlertNote,
    CheckpointRecord,
    QuarantinedEvent,
    ShipmentFilter,
    ShipmentRecord,
    StoredEvent,
    StoredReading,
    UnitOfWork,
    Vault,
)

MAX_PAGE = 200
MAX_SERIES = 20_000


def shipment(uow: UnitOfWork, tenant_id: str, tracking_no: str) -> ShipmentRecord:
    record = uow.shipments.get(tenant_id, tracking_no)
    if record is None:
        raise NotFound(f"no shipment {tracking_no!r}")
    return record


def recipient(vault: Vault, record: ShipmentRecord) -> Recipient | None:
    """The recipient in clear, for the merchant that owns the shipment."""
    if record.recipient_sealed is None:
        return None
    data = json.loads(vault.open(record.recipient_sealed))
    return Recipient(data["name"], data["phone"], data["address"], data.get("email"))


def page(
    uow: UnitOfWork, tenant_id: str, where: ShipmentFilter, cursor: str | None, limit: int
) -> tuple[list[ShipmentRecord], str | None]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"expected 1 to {MAX_PAGE}, got {limit}")
    after = None
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise InvalidInput("cursor", "expected the next_cursor of a previous page") from None
    rows = uow.shipments.page(tenant_id, where, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)


@dataclass(frozen=True, slots=True)
class Timeline:
    record: ShipmentRecord
    events: list[StoredEvent]  # in event-time order
    effects: dict[str, Effect]
    derived: Derived
    windows: list[Window]
    quarantined: list[QuarantinedEvent]


def timeline(uow: UnitOfWork, tenant_id: str, tracking_no: str) -> Timeline:
    record = shipment(uow, tenant_id, tracking_no)
    events = uow.events.of(record.id)
    keyed = sorted(
        ((times.to_us(s.event.occurred_at), s) for s in events),
        key=lambda pair: (pair[0], pair[1].event.event_id),
    )
    derived, effects = derive(Step(at, s.event.status, s.event.event_id) for at, s in keyed)
    windows = vehicle_windows([(at, s.event) for at, s in keyed])
    return Timeline(
        record, [s for _, s in keyed], effects, derived, windows,
        uow.events.quarantined(tenant_id, tracking_no),
    )


@dataclass(frozen=True, slots=True)
class Point:
    source: str  # "device:<id>" for a sensor in the box, "vehicle:<id>" for the vehicle carrying it
    stored: StoredReading


def series(
    uow: UnitOfWork, tenant_id: str, tracking_no: str, since_us: int | None,
    until_us: int | None, limit: int = MAX_SERIES,
) -> list[Point]:
    """The parcel's own sensor readings plus its vehicles' readings while it was aboard."""
    if not 1 <= limit <= MAX_SERIES:
        raise InvalidInput("limit", f"expected 1 to {MAX_SERIES}, got {limit}")
    tl = timeline(uow, tenant_id, tracking_no)
    streams = [
        [Point(f"device:{r.reading.device_id}", r)
         for r in uow.telemetry.of_shipment(tl.record.id, since_us, until_us, limit)]
    ]
    for w in tl.windows:
        start = max(w.start_us, since_us) if since_us is not None else w.start_us
        end = w.end_us if until_us is None else (until_us if w.end_us is None else min(w.end_us, until_us))
        if end is not None and end <= start:
            continue
        streams.append([
            Point(f"vehicle:{w.vehicle_id}", r)
            for r in uow.telemetry.of_vehicle(tenant_id, w.vehicle_id, start, end, limit)
        ])
    merged = heapq.merge(*streams, key=lambda p: times.to_us(p.stored.reading.ts))
    return [p for _, p in zip(range(limit), merged, strict=False)]


@dataclass(frozen=True, slots=True)
class CustodyEntry:
    entry: Sealed
    proof: Proof | None  # None while the entry is newer than the latest checkpoint


def custody(
    uow: UnitOfWork, tenant_id: str, tracking_no: str
) -> tuple[list[CustodyEntry], CheckpointRecord | None]:
    shipment(uow, tenant_id, tracking_no)
    entries = uow.ledger.entries_of(tenant_id, tracking_no)
    cp = uow.ledger.latest_checkpoint()
    reader = StoreReader(uow.ledger)
    return [
        CustodyEntry(e, inclusion(uow, e.index, cp, reader) if cp and e.index < cp.size else None)
        for e in entries
    ], cp


MAX_ALERT_PAGE = 200


def before(cursor: str | None) -> tuple[int, str] | None:
    """A ``<opened_at µs>:<id>`` cursor (alerts, claims) as the key to page before."""
    if not cursor:
        return None
    opened, _, item_id = cursor.partition(":")
    if not (opened.isascii() and opened.isdigit()) or not item_id:
        raise InvalidInput("cursor", "expected the next_cursor of a previous page")
    return int(opened), item_id


def alerts(
    uow: UnitOfWork, tenant_id: str, where: AlertFilter, cursor: str | None, limit: int
) -> tuple[list[Alert], str | None]:
    """Newest first; the cursor is the (opened_at, alert id) of the last alert of a page."""
    if not 1 <= limit <= MAX_ALERT_PAGE:
        raise InvalidInput("limit", f"expected 1 to {MAX_ALERT_PAGE}, got {limit}")
    rows = uow.alerts.page(tenant_id, where, before(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = f"{rows[-1].opened_at_us}:{rows[-1].alert_id}" if more and rows else None
    return rows, nxt


def alert(uow: UnitOfWork, tenant_id: str, alert_id: str) -> tuple[Alert, list[AlertNote]]:
    found = uow.alerts.get(tenant_id, alert_id)
    if found is None:
        raise NotFound(f"no alert {alert_id!r}")
    return found, uow.alerts.notes(alert_id)

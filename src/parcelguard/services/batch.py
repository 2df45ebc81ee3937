"""One batch's pending writes, and how they reach the store in one unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from parcelguard.domain import times
from parcelguard.domain.alerts import Alert
from parcelguard.domain.ledger import entry as ledger_entry
from parcelguard.domain.ledger.canonical import jnum
from parcelguard.domain.ledger.entry import Draft
from parcelguard.domain.ledger.merkle import Node
from parcelguard.services import notices, notify
from parcelguard.services.alerting import Change, Sink
from parcelguard.services.ledger import LedgerWriter
from parcelguard.services.messages import RecordReading
from parcelguard.services.notify import StatusChange
from parcelguard.services.ports import (
    AlertNote,
    CarrierEstimate,
    Encoder,
    QuarantinedEvent,
    ShipmentState,
    StoredEvent,
    StoredReading,
    UnitOfWork,
    Vault,
)

if TYPE_CHECKING:
    from parcelguard.services.live import Live

Key = tuple[str, str]


@dataclass(slots=True)
class PendingReading:
    cmd: RecordReading
    shipment_id: int | None
    vehicle_id: str | None
    tracking_no: str | None
    position: int  # the batch's ledger entries queued before it was applied


@dataclass
class Batch:
    now_us: int
    sink: Sink
    drafts: list[Draft] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    places: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    estimates: dict[tuple[str, str, str], CarrierEstimate] = field(default_factory=dict)
    readings: dict[Key, list[PendingReading]] = field(default_factory=dict)
    quarantined: list[QuarantinedEvent] = field(default_factory=list)
    notes: list[AlertNote] = field(default_factory=list)
    dirty: dict[Key, Live] = field(default_factory=dict)
    touched_devices: set[Key] = field(default_factory=set)
    known_readings: set[tuple[str, str, int]] = field(default_factory=set)
    # bus mode: vehicle copies this batch's partitions applied before, (part, tenant, device, ts)
    known_copies: set[tuple[int, str, str, int]] = field(default_factory=set)
    seen_readings: set[tuple[str, str, int]] = field(default_factory=set)
    held: set[tuple[str, str, str]] = field(default_factory=set)
    statuses: list[StatusChange] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # bus mode: consumed
    copies: dict[int, list[PendingReading]] = field(default_factory=dict)  # bus mode: applied

    def append(self, draft: Draft) -> int:
        """Queue a ledger entry; returns its place in the batch. Entries are sealed when the
        batch is written, so its ledger index is that place plus where the log then ends."""
        self.drafts.append(draft)
        return len(self.drafts) - 1


def state_of(live: Live) -> ShipmentState:
    track, w = live.track, live.watched.watch
    holder = track.holder.value if track.holder else None
    eta = w.eta or (None, None, None, None)
    return ShipmentState(
        status=track.status,
        status_changed_at_us=track.derived.changed_at,
        last_event_at_us=track.last_event_at,
        event_count=len(track.steps),
        holder_kind=holder.kind.value if holder else None,
        holder_id=holder.id if holder else None,
        vehicle_id=track.vehicle_id,
        location=track.location.value if track.location else None,
        condition=track.condition.value if track.condition else None,
        next_deadline_at_us=w.next_due(),
        picked_up_at_us=w.pickup_us, delivered_at_us=w.delivered_us, lane=w.lane, band=w.band,
        eta_us=eta[0], eta_low_us=eta[1], eta_high_us=eta[2], eta_basis=eta[3],
    )


def _alert_entry(c: Change) -> Draft:
    a = c.alert
    return Draft(ledger_entry.Kind.ALERT_CHANGED, a.tenant_id, a.tracking_no, {
        "alert_id": a.alert_id, "rule": a.rule, "kind": a.kind.value, "change": c.what,
        "state": a.state.value, "severity": a.severity.value,
        "at": times.iso_us(a.updated_at_us), "evidence": _jsonable(a.evidence),
        "assignee": a.assignee})


def _jsonable(value: object) -> object:
    """Evidence as canonical JSON can hold it: floats through jnum."""
    if isinstance(value, float):
        return jnum(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def flush(uow: UnitOfWork, batch: Batch, ledger: LedgerWriter, encode: Encoder,
          vault: Vault) -> None:
    """Write everything the batch produced; the caller commits.

    What cites no ledger entry is written first; then the log's end is claimed (a lock when
    writers share the store, held to the commit), the entries sealed and the rows that cite
    them written with their final indexes.
    """
    scans = len(batch.drafts)  # the entries before the batch's telemetry and alert entries
    readings = _telemetry_entries(batch, encode)
    latest: dict[str, tuple[Alert, int]] = {}
    for change in batch.sink.changes:
        latest[change.alert.alert_id] = (change.alert, change.shipment_id)
        if change.what != "repeated":
            batch.append(_alert_entry(change))
    if batch.places:
        uow.events.save_places([(t, f, lat, lon) for (t, f), (lat, lon) in batch.places.items()])
    if batch.estimates:
        uow.integrations.set_estimates(list(batch.estimates.values()))
    if batch.quarantined:
        uow.events.quarantine(batch.quarantined)
    if batch.dirty:
        uow.shipments.save_states(
            [(live.track.shipment_id, state_of(live)) for live in batch.dirty.values()])
    if latest:
        uow.alerts.save(list(latest.values()))
    for note in batch.notes:
        uow.alerts.add_note(note)
    messages = notify.outbox(uow, vault, batch.sink.changes, batch.statuses, batch.now_us)
    if messages:
        uow.webhooks.add_messages(messages)
    owed = notices.owed(uow, batch.sink.changes, batch.statuses, batch.now_us)
    if owed:
        uow.notices.add(owed)
    for stream in {s for s, _ in batch.offsets}:
        uow.offsets.save(stream, {p: seq for (s, p), seq in batch.offsets.items() if s == stream})
    if not batch.drafts and not ledger.checkpoint_due(batch.now_us):
        _copies(uow, batch, ledger.size, ledger.size)
        return
    base = ledger.claim(uow)
    _copies(uow, batch, base + scans, base)
    nodes: list[Node] = []
    sealed = [ledger.append(d, batch.now_us, nodes) for d in batch.drafts]
    if base:
        for row in batch.events:
            row.ledger_index += base
        for reading in readings:
            reading.ledger_index += base
            reading.position = (reading.position or 0) + base
    if batch.events:
        uow.events.add(batch.events)
    if readings:
        uow.telemetry.add(readings)
    if sealed:
        uow.ledger.append(sealed, nodes)
    if ledger.checkpoint_due(batch.now_us):
        uow.ledger.add_checkpoint(ledger.checkpoint(batch.now_us))


def _copies(uow: UnitOfWork, batch: Batch, at_index: int, base: int) -> None:
    """Vehicle readings applied as copies fall after the batch's scans, as stored ones do."""
    for part, pending in batch.copies.items():
        uow.telemetry.add_copies(part, [
            StoredReading(p.cmd.tenant_id, p.cmd.reading, times.to_us(p.cmd.received_at), None,
                          p.vehicle_id, at_index, base + p.position) for p in pending])


def _telemetry_entries(batch: Batch, encode: Encoder) -> list[StoredReading]:
    """One ledger entry per device per batch, listing each reading's digest."""
    rows: list[StoredReading] = []
    for (tenant_id, device_id), group in batch.readings.items():
        first = group[0]
        digests = [(times.iso(p.cmd.reading.ts), ledger_entry.reading_digest(p.cmd.reading, encode))
                   for p in group]
        place = batch.append(ledger_entry.telemetry_recorded(
            tenant_id, first.tracking_no, device_id, first.vehicle_id, digests))
        rows.extend(StoredReading(tenant_id, p.cmd.reading, times.to_us(p.cmd.received_at),
                                  p.shipment_id, p.vehicle_id, place, p.position) for p in group)
    return rows

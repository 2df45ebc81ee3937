"""The single writer: takes batches of commands, applies them, writes them in one commit.

Everything that changes state goes through :meth:`Ingestor.process`: shipments, scans,
readings and device bindings, from HTTP, MQTT, carrier pushes or ``replay``. One batch is one
transaction: events, readings, shipment states and ledger entries are written together, and
only then does the caller release the senders' acknowledgements. Per-shipment state lives in
memory (an LRU of :class:`Track`) and is rebuilt from the store when it is first needed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from parcelguard.domain import privacy, times
from parcelguard.domain.events import is_future
from parcelguard.domain.ledger import entry as ledger_entry
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.ledger.merkle import Node
from parcelguard.domain.shipment import Recipient
from parcelguard.domain.status import Effect, Status
from parcelguard.domain.telemetry import Device, DeviceKind
from parcelguard.domain.tracking import Track
from parcelguard.services.clock import Clock
from parcelguard.services.ledger import LedgerWriter
from parcelguard.services.messages import (
    ACCEPTED,
    Command,
    Outcome,
    RecordReading,
    RecordScan,
    RegisterDevice,
    RegisterShipment,
    Result,
    accepted,
    duplicate,
    rejected,
)
from parcelguard.services.ports import (
    Encoder,
    NewShipment,
    QuarantinedEvent,
    ShipmentState,
    Store,
    StoredEvent,
    StoredReading,
    UnitOfWork,
    Vault,
)
from parcelguard.services.stats import Stats

log = structlog.get_logger(__name__)
Key = tuple[str, str]  # (tenant_id, tracking_no) or (tenant_id, device_id)


@dataclass(slots=True)
class Live:
    """A shipment's live state in the writer's memory."""

    track: Track
    spec_digest: str


@dataclass
class _Batch:
    now_us: int
    sealed: list[Sealed] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    readings: dict[Key, list[tuple[RecordReading, int | None, str | None]]] = field(
        default_factory=dict
    )
    quarantined: list[QuarantinedEvent] = field(default_factory=list)
    dirty: dict[Key, Live] = field(default_factory=dict)
    touched_devices: set[Key] = field(default_factory=set)
    known_readings: set[tuple[str, str, int]] = field(default_factory=set)
    seen_readings: set[tuple[str, str, int]] = field(default_factory=set)
    held: set[tuple[str, str, str]] = field(default_factory=set)


def state_of(track: Track) -> ShipmentState:
    holder = track.holder.value if track.holder else None
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
    )


def seal_recipient(vault: Vault, recipient: Recipient) -> bytes:
    plain = json.dumps(
        {"name": recipient.name, "phone": recipient.phone, "address": recipient.address},
        ensure_ascii=False,
    )
    return vault.seal(plain.encode())


def lookup_material(tenant_id: str, tracking_no: str, last4: str) -> str:
    return f"lookup\x1f{tenant_id}\x1f{tracking_no}\x1f{last4}"


class Ingestor:
    def __init__(
        self, store: Store, clock: Clock, encode: Encoder, ledger: LedgerWriter, vault: Vault,
        stats: Stats, capacity: int = 200_000,
    ) -> None:
        self.store, self.clock, self.encode = store, clock, encode
        self.ledger, self.vault, self.stats = ledger, vault, stats
        self.capacity = capacity
        self.tracks: OrderedDict[Key, Live] = OrderedDict()
        self.devices: dict[Key, Device] = {}

    def start(self) -> None:
        with self.store.unit_of_work(write=False) as uow:
            self.ledger.load(uow, times.to_us(self.clock.now()))
        self.stats.ledger_size = self.ledger.size

    # ---- the batch ----

    def process(self, submissions: Sequence[Sequence[Command]]) -> list[list[Outcome]]:
        """Apply every command of every submission in order, in one transaction."""
        started = time.perf_counter()
        batch = _Batch(now_us=times.to_us(self.clock.now()))
        snapshot = self.ledger.snapshot()
        try:
            with self.store.unit_of_work() as uow:
                self._prefetch_readings(uow, submissions, batch)
                outcomes = [[self._handle(uow, cmd, batch) for cmd in sub] for sub in submissions]
                self._flush(uow, batch)
                uow.commit()
        except BaseException:
            self.ledger.restore(snapshot)
            for key in batch.dirty:
                self.tracks.pop(key, None)
            for key in batch.touched_devices:
                self.devices.pop(key, None)
            self.stats.failed_batches += 1
            raise
        self._trim()
        self._count(submissions, outcomes, time.perf_counter() - started)
        return outcomes

    def tick(self) -> None:
        """Housekeeping between batches: a checkpoint when one is due by time."""
        now_us = times.to_us(self.clock.now())
        if self.ledger.checkpoint_due(now_us):
            self.process([])

    def _handle(self, uow: UnitOfWork, cmd: Command, batch: _Batch) -> Outcome:
        if isinstance(cmd, RecordScan):
            return self._scan(uow, cmd, batch)
        if isinstance(cmd, RecordReading):
            return self._reading(uow, cmd, batch)
        if isinstance(cmd, RegisterShipment):
            return self._register(uow, cmd, batch)
        return self._device(uow, cmd, batch)

    def _scan(self, uow: UnitOfWork, cmd: RecordScan, batch: _Batch) -> Outcome:
        event = cmd.event
        if is_future(event.occurred_at, cmd.received_at):
            held = (cmd.tenant_id, event.tracking_no, event.event_id)
            if held in batch.held or uow.events.is_quarantined(*held):
                return duplicate(event.event_id)
            batch.held.add(held)
            batch.quarantined.append(
                QuarantinedEvent(cmd.tenant_id, event, times.to_us(cmd.received_at),
                                 "occurred_at is more than 10 minutes after arrival")
            )
            return Outcome(Result.QUARANTINED, event.event_id,
                           "occurred_at is more than 10 minutes in the future; held in quarantine")
        key = (cmd.tenant_id, event.tracking_no)
        live = self._live(uow, key)
        if live is None:
            return rejected(event.event_id, "tracking_no", f"unknown tracking_no {event.tracking_no!r}: "
                            "register the shipment first (POST /v1/shipments)")
        rec = live.track.record(event)
        if rec is None:
            return duplicate(event.event_id)
        raw_json = self.encode(event.raw) if event.raw else None
        raw_digest = hashlib.sha256(raw_json).hexdigest() if raw_json else None
        sealed = self._append(ledger_entry.scan_recorded(cmd.tenant_id, rec, raw_digest), batch)
        batch.events.append(
            StoredEvent(live.track.shipment_id, event, times.to_us(cmd.received_at), sealed.index,
                        raw_json)
        )
        batch.dirty[key] = live
        if rec.effect is Effect.REGRESSION:
            self.stats.regressions += 1
        if event.status is Status.UNKNOWN:
            self.stats.unknown_status[event.source] += 1
        return ACCEPTED

    def _reading(self, uow: UnitOfWork, cmd: RecordReading, batch: _Batch) -> Outcome:
        r = cmd.reading
        device = self._device_of(uow, (cmd.tenant_id, r.device_id))
        if device is None:
            return rejected(r.device_id, "device_id", f"unknown device {r.device_id!r}: register it "
                            "(POST /v1/devices) or list it in a shipment's devices")
        seen = (cmd.tenant_id, r.device_id, times.to_us(r.ts))
        if seen in batch.known_readings or seen in batch.seen_readings:
            return duplicate(r.device_id)
        batch.seen_readings.add(seen)
        shipment_id = None
        if device.kind is DeviceKind.BOX_SENSOR and device.tracking_no:
            live = self._live(uow, (cmd.tenant_id, device.tracking_no))
            shipment_id = live.track.shipment_id if live else None
        vehicle_id = device.vehicle_id if device.kind is DeviceKind.VEHICLE_UNIT else None
        batch.readings.setdefault((cmd.tenant_id, r.device_id), []).append(
            (cmd, shipment_id, vehicle_id)
        )
        return ACCEPTED

    def _register(self, uow: UnitOfWork, cmd: RegisterShipment, batch: _Batch) -> Outcome:
        s = cmd.shipment
        key = (s.tenant_id, s.tracking_no)
        live = self._live(uow, key)
        if live is not None:
            if live.spec_digest == cmd.spec_digest:
                return duplicate(s.tracking_no)
            return Outcome(Result.CONFLICT, s.tracking_no,
                           f"shipment {s.tracking_no!r} exists with different content",
                           "tracking_no")
        sealed = lookup = None
        if cmd.recipient is not None:
            sealed = seal_recipient(self.vault, cmd.recipient)
            last4 = privacy.last4(cmd.recipient.phone)
            lookup = self.vault.digest(lookup_material(s.tenant_id, s.tracking_no, last4))
        new = NewShipment(s, cmd.spec_digest, batch.now_us, sealed, lookup)
        shipment_id = uow.shipments.add(new)
        live = Live(Track(s, shipment_id), cmd.spec_digest)
        self.tracks[key] = live
        batch.dirty[key] = live
        self._append(ledger_entry.shipment_registered(s, cmd.spec_digest), batch)
        for device_id in s.devices:
            self._bind(uow, Device(s.tenant_id, device_id, DeviceKind.BOX_SENSOR,
                                   tracking_no=s.tracking_no), batch)
        return accepted(s.tracking_no)

    def _device(self, uow: UnitOfWork, cmd: RegisterDevice, batch: _Batch) -> Outcome:
        d = cmd.device
        if d.tracking_no and self._live(uow, (d.tenant_id, d.tracking_no)) is None:
            return rejected(d.device_id, "tracking_no", f"unknown tracking_no {d.tracking_no!r}")
        if self._device_of(uow, (d.tenant_id, d.device_id)) == d:
            return duplicate(d.device_id)
        self._bind(uow, d, batch)
        return accepted(d.device_id)

    def _bind(self, uow: UnitOfWork, device: Device, batch: _Batch) -> None:
        key = (device.tenant_id, device.device_id)
        uow.devices.put(device)
        self.devices[key] = device
        batch.touched_devices.add(key)
        self._append(
            ledger_entry.Draft(
                ledger_entry.Kind.DEVICE_BOUND, device.tenant_id, device.tracking_no,
                {"device_id": device.device_id, "kind": device.kind.value,
                 "vehicle_id": device.vehicle_id, "facility_id": device.facility_id},
            ),
            batch,
        )

    # ---- state and writing ----

    def _live(self, uow: UnitOfWork, key: Key) -> Live | None:
        live = self.tracks.get(key)
        if live is not None:
            self.tracks.move_to_end(key)
            return live
        record = uow.shipments.get(*key)
        if record is None:
            return None
        events = [stored.event for stored in uow.events.of(record.id)]
        live = Live(Track.rebuild(record.shipment, record.id, events), record.spec_digest)
        self.tracks[key] = live
        return live

    def _device_of(self, uow: UnitOfWork, key: Key) -> Device | None:
        device = self.devices.get(key)
        if device is None:
            device = uow.devices.get(*key)
            if device is not None:
                self.devices[key] = device
        return device

    def _prefetch_readings(
        self, uow: UnitOfWork, submissions: Sequence[Sequence[Command]], batch: _Batch
    ) -> None:
        wanted: dict[str, set[tuple[str, int]]] = {}
        for sub in submissions:
            for cmd in sub:
                if isinstance(cmd, RecordReading):
                    wanted.setdefault(cmd.tenant_id, set()).add(
                        (cmd.reading.device_id, times.to_us(cmd.reading.ts))
                    )
        for tenant_id, keys in wanted.items():
            for device_id, ts in uow.telemetry.known(tenant_id, keys):
                batch.known_readings.add((tenant_id, device_id, ts))

    def _append(self, draft: ledger_entry.Draft, batch: _Batch) -> Sealed:
        sealed = self.ledger.append(draft, batch.now_us, batch.nodes)
        batch.sealed.append(sealed)
        return sealed

    def _flush(self, uow: UnitOfWork, batch: _Batch) -> None:
        readings: list[StoredReading] = []
        for (tenant_id, device_id), group in batch.readings.items():
            vehicle_id = group[0][2]
            digests = [
                (times.iso(cmd.reading.ts), ledger_entry.reading_digest(cmd.reading, self.encode))
                for cmd, _, _ in group
            ]
            device = self.devices.get((tenant_id, device_id))
            tracking_no = device.tracking_no if device else None
            sealed = self._append(
                ledger_entry.telemetry_recorded(tenant_id, tracking_no, device_id, vehicle_id,
                                                digests),
                batch,
            )
            readings.extend(
                StoredReading(tenant_id, cmd.reading, times.to_us(cmd.received_at), sid, vid,
                              sealed.index)
                for cmd, sid, vid in group
            )
        if batch.events:
            uow.events.add(batch.events)
        if readings:
            uow.telemetry.add(readings)
        if batch.quarantined:
            uow.events.quarantine(batch.quarantined)
        if batch.dirty:
            uow.shipments.save_states(
                [(live.track.shipment_id, state_of(live.track)) for live in batch.dirty.values()]
            )
        if batch.sealed:
            uow.ledger.append(batch.sealed, batch.nodes)
        if self.ledger.checkpoint_due(batch.now_us):
            uow.ledger.add_checkpoint(self.ledger.checkpoint(batch.now_us))

    def _trim(self) -> None:
        while len(self.tracks) > self.capacity:
            self.tracks.popitem(last=False)
        if len(self.devices) > self.capacity:
            self.devices.clear()

    def _count(
        self, submissions: Sequence[Sequence[Command]], outcomes: list[list[Outcome]],
        seconds: float,
    ) -> None:
        stats = self.stats
        for sub, outs in zip(submissions, outcomes, strict=True):
            for cmd, out in zip(sub, outs, strict=True):
                stats.outcomes[(_KINDS[type(cmd)], out.result.value)] += 1
        stats.batch_seconds.observe(seconds)
        stats.batch_items += sum(len(s) for s in submissions)
        stats.ledger_size = self.ledger.size
        stats.tracked_shipments = len(self.tracks)


_KINDS: dict[type, str] = {
    RecordScan: "event", RecordReading: "telemetry", RegisterShipment: "shipment",
    RegisterDevice: "device",
}

"""The single writer: takes batches of commands, applies them, writes them in one commit.

Everything that changes state goes through :meth:`Ingestor.process`: shipments, scans,
readings, device bindings, the event-time clock and people acting on alerts, from HTTP, MQTT,
carrier pushes or ``replay``. One batch is one transaction: events, readings, shipment states,
alerts and ledger entries are written together, and only then does the caller release the
senders' acknowledgements. Before each command, rule deadlines due by its arrival time fire,
so alerts open at their deadline on the event-time clock.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from parcelguard.domain import alerts as al
from parcelguard.domain import privacy, times
from parcelguard.domain.custom import Trigger
from parcelguard.domain.errors import Conflict
from parcelguard.domain.events import TrackingEvent, is_future
from parcelguard.domain.ledger import entry as ledger_entry
from parcelguard.domain.shipment import Recipient
from parcelguard.domain.status import Effect, Status
from parcelguard.domain.telemetry import Device, DeviceKind, Reading
from parcelguard.domain.tracking import Track
from parcelguard.rules.custom import Facts
from parcelguard.services import merchant
from parcelguard.services.alerting import Alerting, Change, Sink
from parcelguard.services.batch import Batch, PendingReading, flush
from parcelguard.services.clock import Clock
from parcelguard.services.ledger import LedgerWriter
from parcelguard.services.live import Live, LiveShipments
from parcelguard.services.merchant import MerchantRules
from parcelguard.services.messages import (
    ACCEPTED,
    ActOnAlert,
    AdvanceClock,
    AlertAction,
    Command,
    Consumed,
    DisruptionsChanged,
    NoteEstimate,
    Outcome,
    RaiseAlert,
    RecordReading,
    RecordScan,
    RegisterDevice,
    RegisterShipment,
    Result,
    RulesChanged,
    duplicate,
    rejected,
)
from parcelguard.services.notify import StatusChange
from parcelguard.services.ports import (
    AlertNote,
    CarrierEstimate,
    Encoder,
    NewShipment,
    QuarantinedEvent,
    Store,
    StoredEvent,
    UnitOfWork,
    Vault,
)
from parcelguard.services.stats import Stats

log = structlog.get_logger(__name__)
Key = tuple[str, str]  # (tenant_id, tracking_no) or (tenant_id, device_id)
Listener = Callable[[list[Change]], None]
TRANSIT_HISTORY = 200_000  # delivered shipments the ETA model learns from at start


def seal_recipient(vault: Vault, recipient: Recipient) -> bytes:
    plain = json.dumps(
        {"name": recipient.name, "phone": recipient.phone, "address": recipient.address}
        | ({"email": recipient.email} if recipient.email else {}),
        ensure_ascii=False,
    )
    return vault.seal(plain.encode())


def lookup_material(tenant_id: str, tracking_no: str, last4: str) -> str:
    return f"lookup\x1f{tenant_id}\x1f{tracking_no}\x1f{last4}"


class Ingestor:
    def __init__(
        self, store: Store, clock: Clock, encode: Encoder, ledger: LedgerWriter, vault: Vault,
        stats: Stats, alerting: Alerting, rules: MerchantRules, capacity: int = 200_000,
    ) -> None:
        self.store, self.clock, self.encode = store, clock, encode
        self.ledger, self.vault, self.stats, self.alerting = ledger, vault, stats, alerting
        self.rules = rules
        self.live = LiveShipments(alerting, capacity)
        self.devices: dict[Key, Device] = {}
        self.aboard: dict[Key, set[Key]] = {}  # (tenant, vehicle) -> parcels on it now
        self.listeners: list[Listener] = []
        self.watchers: list[Callable[[list[Key]], None]] = []  # shipments each commit changed
        self.status_watchers: list[Callable[[list[StatusChange]], None]] = []  # after commit
        # bus mode: the parcels of this worker's partitions (everything in embedded mode)
        self.owns: Callable[[str], bool] = _everything
        self.fires_on_tick = True  # an idle writer fires deadlines due by the clock

    def start(self) -> None:
        with self.store.unit_of_work(write=False) as uow:
            self.ledger.load(uow, times.to_us(self.clock.now()))
            for tenant_id, tracking_no, due in uow.shipments.deadlines():
                if self.owns(tracking_no):
                    self.alerting.remember((tenant_id, tracking_no), due)
            for tenant_id, tracking_no, vehicle_id in uow.shipments.aboard():
                if self.owns(tracking_no):
                    self.aboard.setdefault((tenant_id, vehicle_id), set()).add(
                        (tenant_id, tracking_no))
            if self.alerting.learn_at_start:
                for lane, band, hours in uow.shipments.transit_history(TRANSIT_HISTORY):
                    self.alerting.lanes.learn(lane, band, hours)
            for tenant_id, facility_id, lat, lon in uow.events.facility_positions():
                self.alerting.learn_place(tenant_id, facility_id, lat, lon)
            self._load_disruptions(uow, None)
        self.stats.ledger_size = self.ledger.size

    # ---- the batch ----

    def process(self, submissions: Sequence[Sequence[Command]],
                parts: Sequence[int] | None = None) -> list[list[Outcome]]:
        """Apply every command of every submission in order, in one transaction.

        ``parts`` names each submission's partition of the ingest stream (bus mode): its
        commands move event time for that partition's timers only. Embedded mode has one.
        """
        started = time.perf_counter()
        snapshot = self.ledger.snapshot()
        with self.store.unit_of_work() as uow:
            batch = Batch(times.to_us(self.clock.now()), Sink())
            try:
                self.rules.refresh(uow)
                self._prefetch_readings(uow, submissions, parts, batch)
                if not any(submissions) and self.fires_on_tick:  # the clock alone moves deadlines
                    self._fire(uow, batch.now_us, batch)
                outcomes = [[self._handle(uow, cmd, batch, part) for cmd in sub]
                            for sub, part in zip(submissions, parts or [0] * len(submissions),
                                                 strict=True)]
                flush(uow, batch, self.ledger, self.encode, self.vault)
                uow.commit()
            except BaseException:
                self._forget(batch)
                self.ledger.restore(snapshot)
                self.stats.failed_batches += 1
                raise
        self.live.trim()
        if len(self.devices) > self.live.capacity:
            self.devices.clear()
        self._count(submissions, outcomes, batch, time.perf_counter() - started)
        for listener in self.listeners:
            listener(batch.sink.changes)
        if self.status_watchers and batch.statuses:
            for status_watcher in self.status_watchers:
                status_watcher(batch.statuses)
        if self.watchers and batch.dirty:
            changed = list(batch.dirty)
            for watcher in self.watchers:
                watcher(changed)
        return outcomes

    def tick(self) -> None:
        """Between batches: fire due deadlines, sign a checkpoint when one is due by time."""
        now_us = times.to_us(self.clock.now())
        due = self.alerting.next_due() if self.fires_on_tick else None
        if self.ledger.checkpoint_due(now_us) or (due is not None and due <= now_us):
            self.process([])

    def _forget(self, batch: Batch) -> None:
        """A failed batch: drop what it changed in memory; the store is the truth."""
        for key in batch.dirty:
            self.live.evict(key)
            self.alerting.remember(key, batch.now_us)  # rebuilt, rescheduled on next touch
        for key in batch.touched_devices:
            self.devices.pop(key, None)
        for tenant_id, tracking_no, _ in batch.estimates:
            self.live.evict((tenant_id, tracking_no))  # its estimates are read again as stored
        for tenant_id, facility_id in batch.places:
            self.alerting.forget_place(tenant_id, facility_id)  # learnt again from the store

    def _handle(self, uow: UnitOfWork, cmd: Command, batch: Batch, part: int) -> Outcome:
        if isinstance(cmd, RecordScan):
            self._fire(uow, times.to_us(cmd.received_at), batch, part)
            return self._scan(uow, cmd, batch)
        if isinstance(cmd, RecordReading):
            self._fire(uow, times.to_us(cmd.received_at), batch, part)
            return self._reading(uow, cmd, batch, part)
        if isinstance(cmd, RegisterShipment):
            at = times.to_us(cmd.received_at) if cmd.received_at else batch.now_us
            self._fire(uow, at, batch, part)
            return self._register(uow, cmd, batch, at)
        if isinstance(cmd, AdvanceClock):
            self._fire(uow, times.to_us(cmd.at), batch, part)
            return ACCEPTED
        if isinstance(cmd, ActOnAlert):
            self._fire(uow, batch.now_us, batch, part)  # an escalation due before the act first
            return self._act(uow, cmd, batch)
        if isinstance(cmd, NoteEstimate):
            return self._estimate(uow, cmd, batch)
        if isinstance(cmd, RaiseAlert):
            return self._raise(uow, cmd, batch, part)
        if isinstance(cmd, RulesChanged):
            self.rules.invalidate()
            self.rules.refresh(uow)  # before the next command of this batch
            return ACCEPTED
        if isinstance(cmd, DisruptionsChanged):
            self._disruptions(uow, cmd, batch)
            return ACCEPTED
        if isinstance(cmd, Consumed):
            batch.offsets[(cmd.stream, cmd.partition)] = cmd.seq
            return ACCEPTED
        return self._device(uow, cmd, batch)

    def _load_disruptions(self, uow: UnitOfWork, tenant_id: str | None) -> None:
        """The disruptions in force, of one tenant or (at start) of all."""
        now_us = times.to_us(self.clock.now())
        if tenant_id is None:
            self.alerting.disruptions.clear()
        else:
            self.alerting.disruptions.pop(tenant_id, None)
        for d in uow.disruptions.in_force(now_us):
            if tenant_id is None or d.tenant_id == tenant_id:
                self.alerting.disruptions.setdefault(d.tenant_id, []).append(d)

    def _disruptions(self, uow: UnitOfWork, cmd: DisruptionsChanged, batch: Batch) -> None:
        """Read the tenant's disruptions again; estimate again the shipments held in memory
        whose way they now cross or no longer cross (the others are estimated with them when
        they are next scanned or their next look is due)."""
        self._load_disruptions(uow, cmd.tenant_id)
        now_us = times.to_us(cmd.at)
        for key in [k for k in self.live if k[0] == cmd.tenant_id and self.owns(k[1])]:
            live = self.live.get(uow, key)
            if live is not None and self.alerting.reassess(live.watched, now_us, batch.sink):
                batch.dirty[key] = live

    def _fire(self, uow: UnitOfWork, now_us: int, batch: Batch, part: int | None = None) -> None:
        """Deadlines due by ``now_us`` (of one partition, or all): each shipment's, in the
        order they fall due."""
        due = self.alerting.next_due(part)
        if due is None or due > now_us:
            return
        for _, key in self.alerting.due_keys(now_us, part):
            live = self.live.get(uow, key)
            if live is not None:
                self.alerting.fire(live.watched, now_us, batch.sink)
                batch.dirty[key] = live

    def _scan(self, uow: UnitOfWork, cmd: RecordScan, batch: Batch) -> Outcome:
        event = privacy.mask_event(cmd.event)  # no phone number stored, nor sealed in the ledger
        if event is not cmd.event:
            cmd = replace(cmd, event=event)
        if is_future(event.occurred_at, cmd.received_at):
            return self._quarantine(uow, cmd, batch)
        key = (cmd.tenant_id, event.tracking_no)
        live = self.live.get(uow, key)
        if live is None:
            return rejected(event.event_id, "tracking_no",
                            f"unknown tracking_no {event.tracking_no!r}: "
                            "register the shipment first (POST /v1/shipments)")
        rec = live.track.record(event)
        if rec is None:
            return duplicate(event.event_id)
        loc = event.location
        if loc is not None and loc.facility_id and loc.lat is not None and loc.lon is not None \
                and self.alerting.learn_place(cmd.tenant_id, loc.facility_id, loc.lat, loc.lon):
            batch.places[(cmd.tenant_id, loc.facility_id)] = (loc.lat, loc.lon)
        raw_json = self.encode(event.raw) if event.raw else None
        raw_digest = hashlib.sha256(raw_json).hexdigest() if raw_json else None
        place = batch.append(ledger_entry.scan_recorded(cmd.tenant_id, rec, raw_digest))
        batch.events.append(StoredEvent(live.track.shipment_id, event,
                                        times.to_us(cmd.received_at), place, raw_json))
        batch.dirty[key] = live
        if rec.vehicle_change is not None:
            self._board(key, *rec.vehicle_change)
        if rec.status_after is not rec.status_before:
            batch.statuses.append(StatusChange(cmd.tenant_id, event.tracking_no, rec.status_before,
                                               rec.status_after, times.to_us(event.occurred_at),
                                               event.event_id, event.carrier,
                                               live.watched.watch.profile.require_verified_pod))
        self.alerting.event(live.watched, rec, live.track, times.to_us(cmd.received_at),
                            batch.sink)
        plan = self.rules.plan(cmd.tenant_id, Trigger.EVENT)
        if plan is not None:
            self._custom(live, plan, times.to_us(event.occurred_at), {"event_id": event.event_id},
                         batch, event=event)
        if rec.effect is Effect.REGRESSION:
            self.stats.regressions += 1
        if event.status is Status.UNKNOWN:
            self.stats.unknown_status[event.source] += 1
        return ACCEPTED

    def _quarantine(self, uow: UnitOfWork, cmd: RecordScan, batch: Batch) -> Outcome:
        event = cmd.event
        held = (cmd.tenant_id, event.tracking_no, event.event_id)
        if held in batch.held or uow.events.is_quarantined(*held):
            return duplicate(event.event_id)
        batch.held.add(held)
        batch.quarantined.append(QuarantinedEvent(
            cmd.tenant_id, event, times.to_us(cmd.received_at),
            "occurred_at is more than 10 minutes after arrival"))
        return Outcome(Result.QUARANTINED, event.event_id,
                       "occurred_at is more than 10 minutes in the future; held in quarantine")

    def _board(self, key: Key, left: str | None, boarded: str | None) -> None:
        tenant = key[0]
        if left is not None:
            self.aboard.get((tenant, left), set()).discard(key)
        if boarded is not None:
            self.aboard.setdefault((tenant, boarded), set()).add(key)

    def _reading(self, uow: UnitOfWork, cmd: RecordReading, batch: Batch, part: int) -> Outcome:
        r = cmd.reading
        device = self._device_of(uow, (cmd.tenant_id, r.device_id)) if cmd.keep else Device(
            cmd.tenant_id, r.device_id, DeviceKind.VEHICLE_UNIT, vehicle_id=cmd.vehicle_id)
        if device is None:
            return rejected(r.device_id, "device_id", f"unknown device {r.device_id!r}: "
                            "register it (POST /v1/devices) or list it in a shipment's devices")
        if cmd.keep:
            seen = (cmd.tenant_id, r.device_id, times.to_us(r.ts))
            if seen in batch.known_readings or seen in batch.seen_readings:
                return duplicate(r.device_id)
            batch.seen_readings.add(seen)
        else:  # a copy comes again if a client sent its request again in another grouping
            copy = (part, cmd.tenant_id, r.device_id, times.to_us(r.ts))
            if copy in batch.known_copies:
                return duplicate(r.device_id)
            batch.known_copies.add(copy)
        shipment_id, vehicle_id, tracking_no = None, None, None
        if device.kind is DeviceKind.BOX_SENSOR and device.tracking_no:
            if not self.owns(device.tracking_no):  # rebound while the reading was on its way
                return rejected(r.device_id, "device_id", f"device {r.device_id!r} now belongs "
                                "to a parcel of another partition: send the reading again")
            key = (cmd.tenant_id, device.tracking_no)
            live = self.live.get(uow, key)
            if live is not None:
                shipment_id, tracking_no = live.track.shipment_id, device.tracking_no
                self._sensed(live, r, f"device:{r.device_id}", batch, cmd.received_at)
                batch.dirty[key] = live
        elif device.kind is DeviceKind.VEHICLE_UNIT and device.vehicle_id:
            vehicle_id = device.vehicle_id
            part_of, applied = self.alerting.part_of, False
            for key in sorted(self.aboard.get((cmd.tenant_id, vehicle_id), ())):
                if part_of(key[1]) != part:
                    continue  # that partition gets its own copy of the reading
                live = self.live.get(uow, key)
                if live is not None:
                    self._sensed(live, r, f"vehicle:{vehicle_id}", batch, cmd.received_at)
                    batch.dirty[key] = live
                    applied = True
            if applied and not cmd.keep:  # what this partition's parcels are rebuilt from
                batch.copies.setdefault(part, []).append(
                    PendingReading(cmd, None, vehicle_id, None, len(batch.drafts)))
        if cmd.keep:
            batch.readings.setdefault((cmd.tenant_id, r.device_id), []).append(
                PendingReading(cmd, shipment_id, vehicle_id, tracking_no, len(batch.drafts)))
        return ACCEPTED

    def _sensed(self, live: Live, r: Reading, source: str, batch: Batch,
                received_at: datetime) -> None:
        self.alerting.reading(live.watched, r, source, batch.sink, times.to_us(received_at))
        plan = self.rules.plan(live.watched.key[0], Trigger.READING)
        if plan is not None:
            ref = {"device_id": r.device_id, "ts": times.iso(r.ts)}
            self._custom(live, plan, times.to_us(r.ts), ref, batch, reading=r, source=source)

    def _custom(self, live: Live, plan: merchant.Plan, at_us: int, ref: Mapping[str, object],
                batch: Batch, *, event: TrackingEvent | None = None, reading: Reading | None = None,
                source: str | None = None) -> None:
        """The tenant's merchant rules on one event or reading."""
        track, w = live.track, live.watched
        facts = Facts(track.shipment, w.watch, track.status, len(track.steps), len(w.active),
                      at_us, event, reading, source)
        self.alerting.apply(w, merchant.signals(plan, facts, at_us, ref, w.active), batch.sink)
        self.alerting.schedule(w)

    def _raise(self, uow: UnitOfWork, cmd: RaiseAlert, batch: Batch, part: int) -> Outcome:
        key = (cmd.tenant_id, cmd.tracking_no)
        live = self.live.get(uow, key)
        if live is None:
            return Outcome(Result.NOT_FOUND, cmd.tracking_no, "unknown tracking_no", "tracking_no")
        at = times.to_us(cmd.at)
        self._fire(uow, at, batch, part)
        watch = live.watched.watch
        if cmd.while_travelling and (watch.done or cmd.rule in watch.raised):
            return duplicate(cmd.tracking_no)  # delivered already, or known already
        signal = watch.raise_(cmd.rule, cmd.kind, at, cmd.severity, cmd.evidence)
        self.alerting.apply(live.watched, [signal], batch.sink)
        batch.dirty[key] = live
        return ACCEPTED

    def _estimate(self, uow: UnitOfWork, cmd: NoteEstimate, batch: Batch) -> Outcome:
        live = self.live.get(uow, (cmd.tenant_id, cmd.tracking_no))
        if live is None:
            return Outcome(Result.NOT_FOUND, cmd.tracking_no, "unknown tracking_no", "tracking_no")
        estimate = times.iso(cmd.estimated_at)
        if live.carrier_etas is None:
            live.carrier_etas = {}
        elif live.carrier_etas.get(cmd.source) == estimate:
            return duplicate(cmd.tracking_no)  # every push repeats it: written once
        live.carrier_etas[cmd.source] = estimate
        batch.estimates[(cmd.tenant_id, cmd.tracking_no, cmd.source)] = CarrierEstimate(
            cmd.tenant_id, cmd.tracking_no, cmd.source, estimate, times.to_us(cmd.received_at))
        return ACCEPTED

    def _register(self, uow: UnitOfWork, cmd: RegisterShipment, batch: Batch, at: int) -> Outcome:
        s = cmd.shipment
        key = (s.tenant_id, s.tracking_no)
        live = self.live.get(uow, key)
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
        shipment_id = uow.shipments.add(NewShipment(s, cmd.spec_digest, at, sealed, lookup))
        live = self.live.new(key, Track(s, shipment_id), cmd.spec_digest, at, batch.sink)
        batch.dirty[key] = live
        batch.append(ledger_entry.shipment_registered(s, cmd.spec_digest))
        for device_id in s.devices:
            self._bind(uow, Device(s.tenant_id, device_id, DeviceKind.BOX_SENSOR,
                                   tracking_no=s.tracking_no), batch)
        return ACCEPTED

    def _device(self, uow: UnitOfWork, cmd: RegisterDevice, batch: Batch) -> Outcome:
        d = cmd.device
        if d.tracking_no and self.live.get(uow, (d.tenant_id, d.tracking_no)) is None:
            return rejected(d.device_id, "tracking_no", f"unknown tracking_no {d.tracking_no!r}")
        if self._device_of(uow, (d.tenant_id, d.device_id)) == d:
            return duplicate(d.device_id)
        self._bind(uow, d, batch)
        return ACCEPTED

    def _bind(self, uow: UnitOfWork, device: Device, batch: Batch) -> None:
        key = (device.tenant_id, device.device_id)
        uow.devices.put(device)
        self.devices[key] = device
        batch.touched_devices.add(key)
        batch.append(ledger_entry.Draft(
            ledger_entry.Kind.DEVICE_BOUND, device.tenant_id, device.tracking_no,
            {"device_id": device.device_id, "kind": device.kind.value,
             "vehicle_id": device.vehicle_id, "facility_id": device.facility_id}))

    def _act(self, uow: UnitOfWork, cmd: ActOnAlert, batch: Batch) -> Outcome:
        alert = uow.alerts.get(cmd.tenant_id, cmd.alert_id)
        live = None if alert is None else self.live.get(uow, (alert.tenant_id, alert.tracking_no))
        if alert is None or live is None:
            return Outcome(Result.NOT_FOUND, cmd.alert_id, f"no alert {cmd.alert_id!r}", "alert_id")
        key = (alert.tenant_id, alert.tracking_no)
        current = live.watched.active.get(alert.rule)
        if current is not None and current.alert_id == alert.alert_id:
            alert = current  # the writer's copy is the freshest
        at = batch.now_us
        if cmd.action is AlertAction.COMMENT:
            batch.notes.append(AlertNote(alert.alert_id, cmd.tenant_id, at, cmd.actor,
                                         cmd.text or ""))
            return ACCEPTED
        actions: dict[AlertAction, tuple[str, Callable[[al.Alert], al.Alert]]] = {
            AlertAction.ACKNOWLEDGE: ("acknowledged", lambda a: al.acknowledge(a, at, cmd.actor)),
            AlertAction.RESOLVE: ("resolved", lambda a: al.resolve(a, at)),
            AlertAction.ASSIGN: ("assigned", lambda a: al.assign(a, cmd.text, at)),
        }
        what, action = actions[cmd.action]
        try:
            self.alerting.act(live.watched, alert, action, what, batch.sink)
        except Conflict as exc:
            return Outcome(Result.CONFLICT, alert.alert_id, exc.message, "state")
        batch.dirty[key] = live
        return ACCEPTED

    # ---- caches ----

    def _device_of(self, uow: UnitOfWork, key: Key) -> Device | None:
        device = self.devices.get(key)
        if device is None:
            device = uow.devices.get(*key)
            if device is not None:
                self.devices[key] = device
        return device

    def _prefetch_readings(
        self, uow: UnitOfWork, submissions: Sequence[Sequence[Command]],
        parts: Sequence[int] | None, batch: Batch,
    ) -> None:
        wanted: dict[tuple[str, int | None], set[tuple[str, int]]] = {}
        for sub, part in zip(submissions, parts or [0] * len(submissions), strict=True):
            for cmd in sub:
                if isinstance(cmd, RecordReading):  # a copy: among that partition's copies
                    wanted.setdefault((cmd.tenant_id, None if cmd.keep else part), set()).add(
                        (cmd.reading.device_id, times.to_us(cmd.reading.ts)))
        for (tenant_id, copies_of), keys in wanted.items():
            for device_id, ts in uow.telemetry.known(tenant_id, keys, copies_of):
                if copies_of is None:
                    batch.known_readings.add((tenant_id, device_id, ts))
                else:
                    batch.known_copies.add((copies_of, tenant_id, device_id, ts))

    def _count(
        self, submissions: Sequence[Sequence[Command]], outcomes: list[list[Outcome]],
        batch: Batch, seconds: float,
    ) -> None:
        stats = self.stats
        for sub, outs in zip(submissions, outcomes, strict=True):
            for cmd, out in zip(sub, outs, strict=True):
                stats.outcomes[(_KINDS[type(cmd)], out.result.value)] += 1
        for change in batch.sink.changes:
            stats.alerts[(change.alert.kind.value, change.what)] += 1
        stats.batch_seconds.observe(seconds)
        stats.batch_items += sum(len(s) for s in submissions)
        stats.ledger_size = self.ledger.size
        stats.tracked_shipments = len(self.live)


_KINDS: dict[type, str] = {
    RecordScan: "event", RecordReading: "telemetry", RegisterShipment: "shipment",
    RegisterDevice: "device", AdvanceClock: "clock", ActOnAlert: "alert_action",
    NoteEstimate: "carrier_estimate", RaiseAlert: "alert_raise", Consumed: "bus_position",
    RulesChanged: "rules",
    DisruptionsChanged: "disruptions",
}


def _everything(tracking_no: str) -> bool:
    return True

"""The writer's memory of active shipments: each one's track, watch and active alerts.

A shipment not in memory is rebuilt from the store by going through its stored events and
sensor readings in the order they were first processed (their ledger order), with the rules
running silently, so the rebuilt watch holds exactly the timers and open conditions the lost
one held. Its active alerts come from the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from parcelguard.domain import times
from parcelguard.domain.tracking import Track
from parcelguard.rules.watch import MINUTE
from parcelguard.services.alerting import ESCALATE, Alerting, Quiet, Sink, Watched
from parcelguard.services.ports import ShipmentRecord, StoredEvent, StoredReading, UnitOfWork

Key = tuple[str, str]
MAX_READINGS = 50_000
VEHICLE = "vehicle:"
MAX_VEHICLE_READINGS = 200_000
VEHICLE_SLACK_US = 3600 * 1_000_000  # a fix can be taken a while before the scan that loads


@dataclass(slots=True)
class Live:
    track: Track
    spec_digest: str
    watched: Watched
    carrier_etas: dict[str, str] | None = None  # source -> the estimate last stored


class LiveShipments:
    def __init__(self, alerting: Alerting, capacity: int) -> None:
        self.alerting = alerting
        self.capacity = capacity
        self._items: OrderedDict[Key, Live] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._items)

    def get(self, uow: UnitOfWork, key: Key) -> Live | None:
        live = self._items.get(key)
        if live is not None:
            self._items.move_to_end(key)
            return live
        record = uow.shipments.get(*key)
        if record is None:
            return None
        live = self._rebuild(uow, key, record)
        self._items[key] = live
        return live

    def new(self, key: Key, track: Track, spec_digest: str, at_us: int, sink: Sink) -> Live:
        watched = Watched(key, track.shipment_id, self.alerting.watch_for(track))
        live = Live(track, spec_digest, watched)
        self._items[key] = live
        self.alerting.register(watched, at_us, sink)
        return live

    def evict(self, key: Key) -> None:
        self._items.pop(key, None)

    def trim(self) -> None:
        """Forget the least recently used shipments; their deadlines stay in the heap."""
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def _vehicle_readings(
        self, uow: UnitOfWork, key: Key, events: list[StoredEvent]
    ) -> list[tuple[tuple[int, int, int], int, str, StoredEvent | StoredReading]]:
        """The readings of every vehicle that carried the parcel, around the scans that name
        it: as stored, or (bus mode, a vehicle whose readings another partition stores) as
        this parcel's partition applied them. The rebuild keeps those that came while the
        parcel was aboard, in the order they were applied."""
        tenant_id, part_of = key[0], self.alerting.part_of
        part = part_of(key[1])
        timed = sorted((times.to_us(s.event.occurred_at), s.event.vehicle_id) for s in events)
        out: list[tuple[tuple[int, int, int], int, str, StoredEvent | StoredReading]] = []
        for vehicle_id in sorted({v for _, v in timed if v}):
            since, until = _around(timed, vehicle_id)
            if part_of(vehicle_id) == part:
                rows = uow.telemetry.of_vehicle(tenant_id, vehicle_id, since, until,
                                                MAX_VEHICLE_READINGS)
            else:
                rows = uow.telemetry.copies_of_vehicle(part, tenant_id, vehicle_id, since, until,
                                                       MAX_VEHICLE_READINGS)
            out += [(_order(r), r.received_at_us, VEHICLE + vehicle_id, r) for r in rows]
        return out

    def _rebuild(self, uow: UnitOfWork, key: Key, record: ShipmentRecord) -> Live:
        track = Track(record.shipment, record.id)
        watched = Watched(key, record.id, self.alerting.watch_for(track))
        quiet = Quiet()
        self.alerting.register(watched, record.created_at_us, quiet)
        events = uow.events.of(record.id)
        history: list[tuple[tuple[int, int, int], int, str, StoredEvent | StoredReading]] = [
            ((s.ledger_index, 1, s.received_at_us), s.received_at_us, "", s) for s in events]
        history += [(_order(r), r.received_at_us, f"device:{r.reading.device_id}", r)
                    for r in uow.telemetry.of_shipment(record.id, None, None, MAX_READINGS)]
        history += self._vehicle_readings(uow, key, events)
        history.sort(key=lambda item: item[0])
        aboard: str | None = None  # the vehicle carrying it, as the writer saw it then
        for _, received_at, source, item in history:
            self.alerting.fire(watched, received_at, quiet)
            if isinstance(item, StoredEvent):
                rec = track.record(item.event)
                if rec is not None:
                    if rec.vehicle_change is not None:
                        aboard = rec.vehicle_change[1]
                    self.alerting.event(watched, rec, track, received_at, quiet)
            elif not source.startswith(VEHICLE) or source == f"{VEHICLE}{aboard}":
                self.alerting.reading(watched, item.reading, source, quiet, received_at)
        # The store says which alerts are active. Running the history silently can leave one
        # the live writer had since cleared (a batch's readings are replayed after its scans,
        # so deadlines can fire in another order); keeping it would clear it a second time.
        for rule in list(watched.active):
            watched.watch.disarm(ESCALATE + rule)
        watched.active.clear()
        for alert in uow.alerts.of_shipment(record.id):
            watched.known.add(alert.alert_id)
            if not alert.active:
                continue
            watched.active[alert.rule] = alert
            watched.watch.raised.setdefault(alert.rule, alert.opened_at_us)
            if alert.escalated_at_us is None and alert.acknowledged_at_us is None:
                watched.watch.arm(ESCALATE + alert.rule, alert.opened_at_us + int(
                    watched.watch.profile.escalate_after_min * MINUTE))
        self.alerting.schedule(watched)
        return Live(track, record.spec_digest, watched)


def _order(r: StoredReading) -> tuple[int, int, int]:
    """A reading's place in its parcel's history: before the entry it was applied ahead of
    (events sort as (index, 1, ...)); older rows without a position after their batch's scans."""
    if r.position is not None:
        return (r.position, 0, r.received_at_us)
    return (r.ledger_index, 1, r.received_at_us)


def _around(timed: list[tuple[int, str | None]], vehicle_id: str) -> tuple[int, int | None]:
    """Reading times that can matter for one vehicle: from an hour before the first scan
    naming it to an hour after the scan that follows the last one (open while it is last)."""
    named = [i for i, (_, v) in enumerate(timed) if v == vehicle_id]
    since = timed[named[0]][0] - VEHICLE_SLACK_US
    after = named[-1] + 1
    return since, (timed[after][0] + VEHICLE_SLACK_US if after < len(timed) else None)

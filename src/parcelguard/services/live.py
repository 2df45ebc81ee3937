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
from parcelguard.domain.custody import vehicle_windows
from parcelguard.domain.tracking import Track
from parcelguard.rules.watch import MINUTE
from parcelguard.services.alerting import ESCALATE, Alerting, Quiet, Sink, Watched
from parcelguard.services.ports import ShipmentRecord, StoredEvent, StoredReading, UnitOfWork

Key = tuple[str, str]
MAX_READINGS = 50_000


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

    @staticmethod
    def _vehicle_readings(
        uow: UnitOfWork, tenant_id: str, events: list[StoredEvent]
    ) -> list[tuple[int, int, str, StoredEvent | StoredReading]]:
        """The readings of the vehicles that carried the parcel, while it was aboard."""
        timed = sorted((times.to_us(s.event.occurred_at), s.event.event_id, s.event) for s in events)
        out: list[tuple[int, int, str, StoredEvent | StoredReading]] = []
        for w in vehicle_windows([(at, e) for at, _, e in timed]):
            for r in uow.telemetry.of_vehicle(tenant_id, w.vehicle_id, w.start_us, w.end_us,
                                              MAX_READINGS):
                out.append((r.ledger_index, r.received_at_us, f"vehicle:{w.vehicle_id}", r))
        return out

    def _rebuild(self, uow: UnitOfWork, key: Key, record: ShipmentRecord) -> Live:
        track = Track(record.shipment, record.id)
        watched = Watched(key, record.id, self.alerting.watch_for(track))
        quiet = Quiet()
        self.alerting.register(watched, record.created_at_us, quiet)
        events = uow.events.of(record.id)
        history: list[tuple[int, int, str, StoredEvent | StoredReading]] = [
            (s.ledger_index, s.received_at_us, "", s) for s in events]
        history += [(r.ledger_index, r.received_at_us, f"device:{r.reading.device_id}", r)
                    for r in uow.telemetry.of_shipment(record.id, None, None, MAX_READINGS)]
        history += self._vehicle_readings(uow, key[0], events)
        history.sort(key=lambda item: (item[0], item[1]))
        for _, received_at, source, item in history:
            self.alerting.fire(watched, received_at, quiet)
            if isinstance(item, StoredEvent):
                rec = track.record(item.event)
                if rec is not None:
                    self.alerting.event(watched, rec, track, received_at, quiet)
            else:
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

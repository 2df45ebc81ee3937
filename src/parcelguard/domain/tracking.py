"""The live state of one shipment, folded from its events in event-time order.

``Track.record`` is the one place an event changes a shipment. It answers what the event
did: its effect on the status, a handover, a change of condition, a load onto or unload
from a vehicle. Late events slot into their place in time; an attribute such as the holder
only changes when the event is newer than the one that set it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from parcelguard.domain import times
from parcelguard.domain.custody import Holder, HolderKind, holder_after
from parcelguard.domain.events import Condition, Location, TrackingEvent
from parcelguard.domain.shipment import Shipment
from parcelguard.domain.status import INITIAL, Derived, Effect, Status, Step, apply, fold, sort_key

T = TypeVar("T")


@dataclass(slots=True)
class Latest(Generic[T]):
    """A value and the event time (UTC µs) of the event that set it."""

    key: int
    value: T


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Recorded:
    """What one new event did to its shipment."""

    event: TrackingEvent
    effect: Effect
    status_before: Status
    status_after: Status
    late: bool  # happened before an event already known
    handover: tuple[Holder | None, Holder] | None = None
    condition_change: tuple[Condition | None, Condition] | None = None
    vehicle_change: tuple[str | None, str | None] | None = None


class Track:
    def __init__(self, shipment: Shipment, shipment_id: int) -> None:
        self.shipment = shipment
        self.shipment_id = shipment_id
        self.steps: list[Step] = []
        self.effects: dict[str, Effect] = {}
        self.derived: Derived = INITIAL
        self.location: Latest[Location] | None = None
        self.holder: Latest[Holder] | None = None
        self.condition: Latest[Condition] | None = None

    @classmethod
    def rebuild(
        cls, shipment: Shipment, shipment_id: int, events: Iterable[TrackingEvent]
    ) -> Track:
        track = cls(shipment, shipment_id)
        for event in sorted(events, key=lambda e: (times.to_us(e.occurred_at), e.event_id)):
            track.record(event)
        return track

    @property
    def status(self) -> Status:
        return self.derived.status

    @property
    def last_event_at(self) -> int | None:
        return self.steps[-1].key if self.steps else None

    @property
    def vehicle_id(self) -> str | None:
        """The vehicle carrying the parcel now: its GPS is the parcel's position."""
        return _vehicle(self.holder.value if self.holder else None)

    def knows(self, event_id: str) -> bool:
        return event_id in self.effects

    def record(self, event: TrackingEvent) -> Recorded | None:
        """Fold a new event in; None when its ``event_id`` is already known (a duplicate)."""
        if event.event_id in self.effects:
            return None
        step = Step(times.to_us(event.occurred_at), event.status, event.event_id)
        before = self.derived.status
        steps = self.steps
        late = bool(steps) and (step.key, step.event_id) < (steps[-1].key, steps[-1].event_id)
        if late:
            bisect.insort(steps, step, key=sort_key)
            self.effects.clear()
            self.derived = fold(steps, INITIAL, self.effects)
        else:
            steps.append(step)
            self.derived = apply(self.derived, step, self.effects)
        handover = self._take_holder(step.key, event)
        vehicle_change = None
        if handover is not None:  # the vehicle changes only with the holder
            before_v, after_v = (_vehicle(h) for h in handover)
            vehicle_change = None if before_v == after_v else (before_v, after_v)
        return Recorded(
            event, self.effects[event.event_id], before, self.derived.status, late, handover,
            self._take_condition(step.key, event.condition), vehicle_change,
        )

    def _take_holder(self, key: int, event: TrackingEvent) -> tuple[Holder | None, Holder] | None:
        if event.location is not None:
            if self.location is None:
                self.location = Latest(key, event.location)
            elif key >= self.location.key:
                self.location.key, self.location.value = key, event.location
        holder = holder_after(event)
        if holder is None:
            return None
        if self.holder is None:
            self.holder = Latest(key, holder)
            return (None, holder)
        if key < self.holder.key:
            return None
        previous = self.holder.value
        self.holder.key, self.holder.value = key, holder
        return None if previous == holder else (previous, holder)

    def _take_condition(
        self, key: int, condition: Condition | None
    ) -> tuple[Condition | None, Condition] | None:
        if condition is None:
            return None
        if self.condition is None:
            self.condition = Latest(key, condition)
            return (None, condition)
        if key < self.condition.key:
            return None
        previous = self.condition.value
        self.condition.key, self.condition.value = key, condition
        return None if previous == condition else (previous, condition)


def _vehicle(holder: Holder | None) -> str | None:
    return holder.id if holder is not None and holder.kind is HolderKind.VEHICLE else None

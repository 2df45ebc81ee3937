"""Vehicles and the trips they make: many parcels share one lorry, van or flight.

A trunk lorry is one trip per (leg, departure hour, reefer or not): every parcel sorted onto
that leg in that hour rides the same vehicle and arrives at the same moment, so its GPS is
the position of all of them. Only a reefer that fails is private to one parcel, so that an
injected excursion harms exactly the shipment its label names.

Trips are created as parcels need them, in order of the parcels' creation; ``prune`` forgets
trips that have left, which keeps memory bounded by the trips still ahead.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from parcelguard.simulator import timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.network import Facility, between
from parcelguard.simulator.people import Plates


@dataclass(frozen=True, slots=True)
class Failure:
    """A reefer unit stops at ``at``; the load drifts towards ``peak_c``."""

    at: int
    peak_c: float


@dataclass(frozen=True, slots=True)
class Trip:
    vehicle_id: str
    device_id: str | None  # the vehicle unit reporting GPS; None when it sends no telemetry
    origin: Facility
    dest: Facility
    depart: int
    arrive: int
    reefer: bool = False
    failure: Failure | None = None


TripKey = tuple[str, str, int, bool]


class Fleet:
    def __init__(
        self, rng: Dice, plates: dict[str, str], on_new: Callable[[Trip], None]
    ) -> None:
        self._rng = rng
        self._prefix = plates  # city code -> plate prefix
        self._plates = Plates()
        self._trips: dict[TripKey, Trip] = {}
        self._units = 0
        self._on_new = on_new
        self._drives: dict[tuple[str, str], int] = {}  # leg -> driving seconds
        self._vans: dict[tuple[str, str], int] = {}

    def truck(self, a: Facility, b: Facility, depart: int, reefer: bool = False) -> Trip:
        """The trunk lorry leaving ``a`` for ``b`` at ``depart`` (shared by its parcels)."""
        key = (a.id, b.id, depart, reefer)
        trip = self._trips.get(key)
        if trip is None:
            trip = self._new_truck(a, b, depart, reefer, None)
            self._trips[key] = trip
        return trip

    def failing_reefer(self, a: Facility, b: Facility, depart: int) -> Trip:
        """A reefer lorry of its own whose cooling fails 100 min to 6 h before it arrives."""
        total = self._drive(a, b)
        before = self._rng.uniform(100, min(360, total / timing.MINUTE - 10)) * timing.MINUTE
        failure = Failure(depart + total - round(before), round(self._rng.uniform(13, 20), 1))
        return self._new_truck(a, b, depart, True, failure)

    def van(self, a: Facility, b: Facility, depart: int) -> Trip:
        """A feeder or delivery van between a station and a hub (no telemetry)."""
        key = (a.id, b.id, depart, False)
        trip = self._trips.get(key)
        if trip is None:
            plate = self._plates.next(self._plate_prefix(a), van=True)
            arrive = depart + self._van(a, b)
            trip = Trip(plate, None, a, b, depart, arrive)
            self._trips[key] = trip
        return trip

    def flight(self, a: Facility, b: Facility, depart: int, airline: str) -> Trip:
        """The cargo flight ``a`` -> ``b`` leaving at ``depart``, named like CK221-1120."""
        key = (a.id, b.id, depart, False)
        trip = self._trips.get(key)
        if trip is None:
            number = 200 + zlib.crc32(f"{a.id}>{b.id}".encode()) % 700
            day = timing.to_datetime(depart, a.offset_min).strftime("%m%d")
            arrive = depart + timing.flight(between(a, b))
            trip = Trip(f"{airline}{number}-{day}", None, a, b, depart, arrive)
            self._trips[key] = trip
        return trip

    def prune(self, before: int) -> None:
        """Forget trips that left before ``before``: no new parcel can board them."""
        gone = [k for k, t in self._trips.items() if t.depart < before]
        for k in gone:
            del self._trips[k]

    def __len__(self) -> int:
        return len(self._trips)

    def _new_truck(
        self, a: Facility, b: Facility, depart: int, reefer: bool, failure: Failure | None
    ) -> Trip:
        total = self._drive(a, b)
        arrive = depart + round(total * self._rng.uniform(0.97, 1.08))
        if failure is not None:
            arrive = max(arrive, failure.at + 100 * timing.MINUTE)
        self._units += 1
        unit = f"{'RF' if reefer else 'GPS'}-{self._units:06d}"
        trip = Trip(self._plates.next(self._plate_prefix(a)), unit, a, b, depart, arrive, reefer,
                    failure)
        self._on_new(trip)
        return trip

    def _drive(self, a: Facility, b: Facility) -> int:
        key = (a.id, b.id)
        seconds = self._drives.get(key)
        if seconds is None:
            seconds = self._drives[key] = timing.drive(between(a, b))
        return seconds

    def _van(self, a: Facility, b: Facility) -> int:
        key = (a.id, b.id)
        seconds = self._vans.get(key)
        if seconds is None:
            seconds = self._vans[key] = timing.van(between(a, b))
        return seconds

    def _plate_prefix(self, f: Facility) -> str:
        return self._prefix.get(f.city_code, f.city_code)

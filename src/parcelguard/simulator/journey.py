"""One parcel's journey, built scan by scan along its route, with its anomaly woven in.

A :class:`Journey` walks the route the way the parcel would: pickup at a station, a feeder
van to the first hub, at each hub unload → arrive → sort → load → depart, trunk lorries
between hubs, for cross-border parcels export customs, a cargo flight and import customs,
then the destination station and the last mile (:mod:`lastmile`). Each step takes the time
it takes (see :mod:`timing`), so the scans come out in time order.

The anomaly (a :class:`Twist`) changes the walk where it happens instead of being pasted on
afterwards: a stuck parcel really waits at its hub, a misrouted one really rides to the
wrong hub and back. What the label needs (which scan, which vehicle, which operator) is
kept in ``facts`` as it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parcelguard.simulator import lastmile, timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.fleet import Fleet, Trip
from parcelguard.simulator.network import CHINA, Facility
from parcelguard.simulator.people import Staff
from parcelguard.simulator.timing import HOUR, MINUTE


@dataclass(frozen=True, slots=True)
class Spot:
    """A place that is not a facility: the recipient's door."""

    name: str
    city: str
    lat: float
    lon: float
    offset_min: int = CHINA

    def location(self) -> dict[str, object]:
        """The place as the ``location`` of a wire event (it has no facility id)."""
        return {"name": self.name, "city": self.city, "lat": self.lat, "lon": self.lon}


@dataclass(slots=True)
class Scan:
    at: int
    status: str
    sub: str | None
    facility: Facility | None
    operator: str | None = None
    device: str | None = None
    vehicle: str | None = None
    condition: str | None = None
    note: str | None = None  # the description, when the default for the step does not fit
    towards: Facility | None = None  # the next stop, for the description
    spot: Spot | None = None
    raw: dict[str, Any] | None = None

    @property
    def offset(self) -> int:
        place = self.facility or self.spot
        return place.offset_min if place is not None else CHINA

    @property
    def coordinates(self) -> tuple[float, float] | None:
        place = self.facility or self.spot
        return (place.lat, place.lon) if place is not None else None


@dataclass(frozen=True, slots=True)
class Order:
    """Everything decided before the parcel moves: who, what, where, by when."""

    tracking_no: str
    carrier: str
    category: str
    placed_at: int
    origin_station: Facility
    hubs: tuple[Facility, ...]  # domestic hubs, ending at the gateway's city for cross-border
    dest_station: Facility
    doorstep: Spot
    promised_by: int
    last_mile: str = "direct"  # direct | locker | failed
    locker: Facility | None = None
    gateway: Facility | None = None
    airport: Facility | None = None  # the foreign airport of a cross-border parcel
    airline: str = "CK"

    @property
    def route_plan(self) -> tuple[str, ...]:
        stops = [self.origin_station, *self.hubs, self.gateway, self.airport, self.dest_station,
                 self.locker]
        return tuple(f.id for f in stops if f is not None)


@dataclass(frozen=True, slots=True)
class Twist:
    """The anomaly to weave into a journey; ``index`` is the hub (or leg) where it strikes."""

    kind: str
    index: int = 0
    hours: float = 0.0
    export: bool = False  # customs_hold: at export (else at import)
    cleared: bool = True  # customs_hold: released in the end
    detour: Facility | None = None  # misroute: the wrong hub


KEEP = "keep"  # add(): keep the parcel's current condition


Slowdown = Callable[[Facility, int], int]  # (facility, arrival) -> extra seconds there


class Journey:
    def __init__(
        self, rng: Dice, fleet: Fleet, staff: Staff, order: Order, twist: Twist | None,
        slowdown: Slowdown | None = None,
    ) -> None:
        self.rng, self.fleet, self.staff, self.order, self.twist = rng, fleet, staff, order, twist
        self.slowdown = slowdown  # a congested hub, a storm over a city (scenario.py)
        self.scans: list[Scan] = []
        self.facts: dict[str, Any] = {}
        self.condition: str | None = "intact"
        self.damage_due = False

    def is_twist(self, kind: str, index: int | None = None) -> bool:
        t = self.twist
        return t is not None and t.kind == kind and (index is None or t.index == index)

    def add(
        self, at: int, status: str, sub: str | None, facility: Facility | None,
        operator: str | None = None, device: str | None = None, vehicle: str | None = None,
        condition: str | None = KEEP, note: str | None = None, towards: Facility | None = None,
        spot: Spot | None = None, raw: dict[str, Any] | None = None,
    ) -> Scan:
        """Record a scan; its condition is the parcel's current one unless given."""
        if condition == KEEP:
            condition = self.condition
        scan = Scan(at, status, sub, facility, operator, device, vehicle, condition, note,
                    towards, spot, raw)
        self.scans.append(scan)
        return scan

    def minutes(self, lo: float, hi: float) -> int:
        """A random whole number of seconds between ``lo`` and ``hi`` minutes."""
        return int((lo + (hi - lo) * self.rng.random()) * MINUTE)

    def build(self) -> list[Scan]:
        o = self.order
        self.add(o.placed_at, "info_received", None, None, condition=None,
                 note="商家已下单，等待快递员揽收")
        try:
            trip = self._pickup()
            nodes = [*o.hubs, *([o.gateway] if o.gateway else [])]
            for k, node in enumerate(nodes):
                arrived = self.arrive(node, trip)
                if node is o.gateway:
                    trip = self._abroad(node, arrived)
                    break
                nxt = nodes[k + 1] if k + 1 < len(nodes) else o.dest_station
                trip = self._pass(node, nxt, arrived, k)
            lastmile.deliver(self, self.arrive_station(o.dest_station, trip))
        except lastmile.Stopped:
            pass
        return self.scans

    def _pickup(self) -> Trip:
        o, st = self.order, self.order.origin_station
        t = self._pickup_time(o.placed_at)
        op, dev = self.staff.courier(st)
        self.add(t, "picked_up", None, st, operator=op, device=dev)
        depart = timing.next_slot(t + 30 * MINUTE, st.offset_min, timing.FEEDER_SLOTS)
        trip = self.fleet.van(st, o.hubs[0], depart)
        self.add(depart, "in_transit", "departed", st, operator=op, device=dev,
                 vehicle=trip.vehicle_id, towards=o.hubs[0])
        return trip

    def _pickup_time(self, placed: int) -> int:
        """Couriers collect 09:00-19:00; later orders wait for the next morning's round."""
        hour = timing.local_hour(placed, CHINA)
        if 8 <= hour < 17.5:
            t = placed + self.minutes(40, 210)
            return min(t, timing.at_hour(placed, CHINA, 19.0))
        days = 0 if hour < 8 else 1
        return timing.at_hour(placed, CHINA, 9 + self.rng.uniform(0, 3), days)

    def _pass(self, node: Facility, nxt: Facility, arrived: Scan, k: int) -> Trip:
        if not self.is_twist("misroute", k):
            return self.leave(node, nxt, arrived, k)
        assert self.twist is not None
        assert self.twist.detour is not None
        wrong = self.twist.detour
        trip = self.leave(node, wrong, arrived, k)
        self.facts["misroute"] = {"hub": node, "loaded": self.scans[-2], "trip": trip}
        at_wrong = self.arrive(wrong, trip)
        back = self.leave(wrong, nxt, at_wrong, -1,
                          note=f"错分件，已安排由【{wrong.name}】转运至【{nxt.name}】")
        self.facts["misroute"].update(arrived=at_wrong, departed=self.scans[-1])
        return back

    def arrive(self, node: Facility, trip: Trip) -> Scan:
        op, dev = self.staff.worker(node)
        t = trip.arrive + self.minutes(3, 25)
        unloaded = self.add(t, "in_transit", "unloaded", node, operator=op, device=dev,
                            vehicle=trip.vehicle_id)
        if trip.failure is not None:
            self.facts["reefer"] = {"trip": trip, "unloaded": unloaded}
        arrived = self.add(t + self.minutes(1, 10), "in_transit", "arrived", node, operator=op,
                           device=dev)
        self.note_damage(arrived)
        return arrived

    def arrive_station(self, station: Facility, trip: Trip) -> Scan:
        """At the delivery station (Kdniao 205, 到达派件网点), where parcels wait for a round."""
        op, dev = self.staff.courier(station)
        arrived = self.add(trip.arrive + self.minutes(5, 30), "in_transit", "arrived_at_station",
                           station, operator=op, device=dev)
        self.note_damage(arrived)
        return arrived

    def note_damage(self, scan: Scan) -> None:
        """The first scan after rough handling finds the box broken."""
        if self.damage_due:
            name = scan.facility.name if scan.facility else ""
            scan.condition, scan.note = "damaged", f"快件到达【{name}】，发现外包装破损，已拍照留存"
            self.facts["damaged"] = scan
            self.damage_due = False

    def leave(self, node: Facility, nxt: Facility, arrived: Scan, k: int,
              note: str | None = None) -> Trip:
        """Sort, load and dispatch: about 20-100 minutes at a hub; trunk lines leave every
        half hour (a big sorting centre runs continuously)."""
        op, dev = self.staff.worker(node)
        sorting = self.add(arrived.at + self.minutes(5, 30), "in_transit", "sorting", node,
                           operator=op, device=dev, towards=nxt, note=note)
        if self.is_twist("rough_handling", k):
            self._rough(sorting)
        if self.is_twist("stuck_at_hub", k):
            assert self.twist is not None
            depart = timing.ceil_hour(arrived.at + round(self.twist.hours * HOUR))
        else:
            depart = timing.ceil_to(sorting.at + self.minutes(10, 40), 30 * MINUTE)
        if self.slowdown is not None:  # draws nothing: the rest of the run stays the same
            extra = self.slowdown(node, arrived.at)
            if extra:
                depart += extra
                self.facts["slowed"] = True
        trip = self._vehicle(node, nxt, depart, k)
        op, dev = self.staff.worker(node)
        load_at = max(sorting.at + 5 * MINUTE, depart - self.minutes(5, 15))
        self.add(load_at, "in_transit", "loaded", node, operator=op, device=dev,
                 vehicle=trip.vehicle_id, towards=nxt)
        self.add(depart, "in_transit", "departed", node, operator=op, device=dev,
                 vehicle=trip.vehicle_id, towards=nxt)
        return trip

    def _vehicle(self, node: Facility, nxt: Facility, depart: int, k: int) -> Trip:
        if nxt.kind == "station":
            return self.fleet.van(node, nxt, depart)
        if self.is_twist("reefer_failure", k):
            return self.fleet.failing_reefer(node, nxt, depart)
        return self.fleet.truck(node, nxt, depart, reefer=self.order.category == "cold_chain")

    def _rough(self, sorting: Scan) -> None:
        spike = sorting.at + self.minutes(1, 4)  # before the load scan, at least 5 min later
        self.facts["rough"] = {"sorting": sorting, "spike_at": spike,
                               "peak_g": round(self.rng.uniform(8, 15), 1)}
        self.damage_due, self.condition = True, None

    def _abroad(self, gateway: Facility, arrived: Scan) -> Trip:
        """Export customs, the cargo flight, import customs, then a van to the station."""
        o = self.order
        assert o.airport is not None
        cleared = lastmile.customs(self, gateway, arrived.at, export=True)
        depart = timing.next_slot(cleared.at + 90 * MINUTE, gateway.offset_min, (10.5, 23.5))
        flight = self.fleet.flight(gateway, o.airport, depart, o.airline)
        op, dev = self.staff.worker(gateway)
        for sub, at in (("loaded", depart - self.minutes(45, 90)), ("departed", depart)):
            self.add(at, "in_transit", sub, gateway, operator=op, device=dev,
                     vehicle=flight.vehicle_id, towards=o.airport)
        landed = self.arrive(o.airport, flight)
        cleared = lastmile.customs(self, o.airport, landed.at, export=False)
        depart = timing.ceil_hour(cleared.at + self.minutes(30, 120))
        van = self.fleet.van(o.airport, o.dest_station, depart)
        op, dev = self.staff.worker(o.airport)
        for sub, at in (("loaded", depart - self.minutes(10, 25)), ("departed", depart)):
            self.add(at, "in_transit", sub, o.airport, operator=op, device=dev,
                     vehicle=van.vehicle_id, towards=o.dest_station)
        return van

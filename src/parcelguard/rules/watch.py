"""What the rules remember about one shipment between events: timers and open conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, Signal
from parcelguard.domain.disruptions import Way
from parcelguard.domain.shipment import Category, Shipment
from parcelguard.domain.status import Status
from parcelguard.rules import eta
from parcelguard.rules.profiles import Profile

MINUTE = 60_000_000
HOUR = 60 * MINUTE


@dataclass(slots=True)
class DeviceWatch:
    """One sensor's recent history, for durations, trends and gaps."""

    last_seq: int | None = None
    last_ts_us: int | None = None
    last_temp_ts_us: int | None = None  # readings without a temperature do not count
    temp_out_since_us: int | None = None  # start of the current temperature excursion
    temp_out_total_us: int = 0  # all minutes out of range so far (the trip's budget)
    temp_peak: float | None = None
    last_temp_out: bool = False
    humid_out_since_us: int | None = None
    trend: list[tuple[int, float]] = field(default_factory=list)  # (ts, °C), newest last


@dataclass(slots=True)
class Watch:
    profile: Profile
    category: Category
    promised_by_us: int | None
    route_plan: frozenset[str]
    plan: tuple[str, ...] = ()  # route_plan in order
    # the planned facilities with their positions, once every one is known (rules/route.py)
    corridor: tuple[tuple[str, tuple[float, float]], ...] | None = None
    stations: set[str] = field(default_factory=set)  # delivery stations: no dwell limit there
    timers: dict[str, int] = field(default_factory=dict)  # timer name -> due (UTC µs)
    raised: dict[str, int] = field(default_factory=dict)  # rule -> since (the condition holds)
    peaks: dict[str, float] = field(default_factory=dict)  # rule -> worst value seen while raised
    last_event_us: int | None = None
    status: Status = Status.INFO_RECEIVED
    dwell: tuple[str, int] | None = None  # (facility, since)
    customs_since_us: int | None = None
    done: bool = False  # delivered or returned: journey rules stop
    devices: dict[str, DeviceWatch] = field(default_factory=dict)
    # what the ETA needs: where from and to, and when the clock of the journey started
    lane: str = ""
    band: str = ""
    km: float | None = None
    registered_us: int | None = None
    pickup_us: int | None = None
    delivered_us: int | None = None
    eta: tuple[int, int, int, str] | None = None  # (median, low, high, basis), UTC µs
    # where it comes from, goes and is (for disruptions: domain/disruptions.py)
    origin: tuple[str | None, tuple[float, float] | None] = (None, None)  # city, (lon, lat)
    destination: tuple[str | None, tuple[float, float] | None] = (None, None)
    here: tuple[str | None, str | None, tuple[float, float] | None] = (None, None, None)
    delayed_by: tuple[str, ...] = ()  # the disruptions counted in the last estimate

    @classmethod
    def of(cls, shipment: Shipment, profile: Profile) -> Watch:
        s = shipment
        promised = times.to_us(s.promised_by) if s.promised_by else None
        o, d = s.origin, s.destination
        km = None
        if None not in (o.lat, o.lon, d.lat, d.lon):
            km = eta.distance_km(o.lat, o.lon, d.lat, d.lon)  # type: ignore[arg-type]
        crossing = o.country != d.country or s.category is Category.CROSS_BORDER
        return cls(profile.with_thresholds(s.thresholds), s.category, promised,
                   frozenset(s.route_plan), tuple(s.route_plan),
                   lane=f"{o.city}|{d.city}|{s.carrier}|{s.category}",
                   band=eta.band_of(km, crossing), km=km,
                   origin=(o.city, _pos(o.lat, o.lon)), destination=(d.city, _pos(d.lat, d.lon)))

    def seen_at(self, facility: str | None, city: str | None, lat: float | None,
                lon: float | None) -> None:
        """A scan placed it: what is known of where it is now."""
        if facility is not None or city is not None or lat is not None:
            self.here = (facility, city, _pos(lat, lon))

    def way(self, places: Mapping[str, tuple[float, float]] | None = None) -> Way:
        """Where it still goes. ``places``: facility -> (lat, lon), for a scan that named its
        facility without a position."""
        facility, city, pos = self.here
        cities = {c for c in (city, self.destination[0]) if c}
        placed = self.here != (None, None, None)
        if not placed and self.origin[0]:
            cities.add(self.origin[0])  # not placed since pickup: still where it started
        ahead = self.plan
        if facility in ahead:
            ahead = ahead[ahead.index(facility):]
        facilities = set(ahead) | ({facility} if facility else set())
        if pos is None and facility is not None and places and facility in places:
            lat, lon = places[facility]
            pos = (lon, lat)
        start = pos if placed else self.origin[1]
        points = tuple(p for p in (start, self.destination[1]) if p is not None)
        return Way(frozenset(cities), frozenset(facilities), points)

    def next_due(self) -> int | None:
        return min(self.timers.values(), default=None)

    def arm(self, name: str, due_us: int) -> None:
        self.timers[name] = due_us

    def disarm(self, name: str) -> None:
        self.timers.pop(name, None)

    def due(self, now_us: int) -> list[tuple[int, str]]:
        """Timers due by ``now_us``, earliest first (ties by name: deterministic)."""
        return sorted((d, n) for n, d in self.timers.items() if d <= now_us)

    def device(self, device_id: str) -> DeviceWatch:
        dw = self.devices.get(device_id)
        if dw is None:
            dw = self.devices[device_id] = DeviceWatch()
        return dw

    def raise_(self, rule: str, kind: Kind, at_us: int, severity: Severity,
               evidence: dict[str, object]) -> Signal:
        self.raised.setdefault(rule, at_us)
        return Signal(rule, kind, True, at_us, severity, evidence)

    def clear(self, rule: str, kind: Kind, at_us: int) -> list[Signal]:
        """A clearing signal, only if the condition was raised."""
        self.peaks.pop(rule, None)
        if self.raised.pop(rule, None) is None:
            return []
        return [Signal(rule, kind, False, at_us)]


def _pos(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    return None if lat is None or lon is None else (lon, lat)

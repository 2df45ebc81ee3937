"""route_deviation: the parcel's vehicle (or the tracker in its box) far off its planned route.

The corridor is the chain of great-circle arcs through the shipment's ``route_plan`` facilities
in plan order, at the positions their scans reported. A GPS fix farther from every leg than the
profile's ``route_deviation_km`` plus 5% of that leg's length (highways wander more on long legs)
raises the alert at the fix's own time; a fix back within 80% of that allowance clears it (so a
truck on the corridor's edge does not flap). Until every planned facility's
position is known there is no corridor to judge by, and the rule says nothing: a guessed
corridor would call every detour through an unknown hub a deviation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, Signal
from parcelguard.domain.telemetry import Reading
from parcelguard.rules.watch import Watch

Point = tuple[float, float]  # (lat, lon)
Stop = tuple[str, Point]  # a planned facility and where it is
EARTH_KM = 6371.0
CLEAR_BELOW = 0.8
# a trunk road strays from the great circle more on a long leg than on a short one: each leg
# allows route_deviation_km plus this share of its own length
SLACK = 0.05


def corridor_of(plan: Sequence[str], places: Mapping[str, Point]) -> tuple[Stop, ...] | None:
    """The planned facilities with their positions, in order, or None while one is unknown."""
    stops: list[Stop] = []
    for facility_id in plan:
        point = places.get(facility_id)
        if point is None:
            return None
        if not stops or stops[-1][1] != point:
            stops.append((facility_id, point))
    return tuple(stops) if len(stops) >= 2 else None


def _bearing(a: Point, b: Point) -> float:
    p1, p2, dl = math.radians(a[0]), math.radians(b[0]), math.radians(b[1] - a[1])
    return math.atan2(math.sin(dl) * math.cos(p2),
                      math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl))


def _angle(a: Point, b: Point) -> float:
    """Great-circle angle between two points (haversine), in radians."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2)
    return 2 * math.asin(min(1.0, math.sqrt(h)))


def _leg_km(p: Point, a: Point, b: Point) -> float:
    """Distance from p to the great-circle arc from a to b: the cross-track distance when p
    lies beside the arc, else the distance to the nearer end."""
    to_p, leg = _angle(a, p), _angle(a, b)
    if leg == 0:
        return to_p * EARTH_KM
    turn = _bearing(a, p) - _bearing(a, b)
    if math.cos(turn) <= 0:  # behind a
        return to_p * EARTH_KM
    across = math.asin(max(-1.0, min(1.0, math.sin(to_p) * math.sin(turn))))
    along = math.acos(max(-1.0, min(1.0, math.cos(to_p) / math.cos(across))))
    if along >= leg:  # past b
        return _angle(b, p) * EARTH_KM
    return abs(across) * EARTH_KM


def off_corridor_km(point: Point, corridor: Sequence[Stop]) -> tuple[float, int]:
    """How far ``point`` is from the corridor, and which leg (its start's index) is nearest."""
    return min((_leg_km(point, corridor[i][1], corridor[i + 1][1]), i)
               for i in range(len(corridor) - 1))


def _judged(point: Point, corridor: Sequence[Stop], limit_km: float) -> tuple[float, float, int]:
    """(distance, allowance, leg) for the leg the point is best explained by: the one where
    its distance is smallest relative to that leg's allowance."""
    best = None
    for i in range(len(corridor) - 1):
        a, b = corridor[i][1], corridor[i + 1][1]
        allowed = limit_km + SLACK * _angle(a, b) * EARTH_KM
        km = _leg_km(point, a, b)
        if best is None or km / allowed < best[0] / best[1]:
            best = (km, allowed, i)
    assert best is not None
    return best


def on_fix(w: Watch, r: Reading, source: str) -> list[Signal]:
    """Judge one GPS fix of a parcel on its way."""
    if w.done or w.pickup_us is None or w.corridor is None or r.lat is None or r.lon is None:
        return []
    km, allowed, leg = _judged((r.lat, r.lon), w.corridor, w.profile.route_deviation_km)
    at = times.to_us(r.ts)
    if km > allowed:
        return [w.raise_(Kind.ROUTE_DEVIATION, Kind.ROUTE_DEVIATION, at, Severity.WARNING, {
            "km_off_route": round(km, 1), "allowed_km": round(allowed, 1), "lat": r.lat,
            "lon": r.lon, "source": source, "ts": times.iso_us(at),
            "nearest_leg": [w.corridor[leg][0], w.corridor[leg + 1][0]]})]
    if km < allowed * CLEAR_BELOW:
        return w.clear(Kind.ROUTE_DEVIATION, Kind.ROUTE_DEVIATION, at)
    return []

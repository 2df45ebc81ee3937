"""Disruptions: weather, traffic, a facility closed, a customs backlog — a region (cities or a
polygon) or one facility, a time window and the delay it is expected to add.

A parcel is affected while the window is not over and its way still ahead passes through the
disruption: its current city or facility, the planned facilities not yet reached, its
destination, and for a polygon the straight line from where it is to where it goes.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from shapely.geometry import LineString, Point, Polygon
from shapely.prepared import PreparedGeometry, prep

from parcelguard.domain.errors import InvalidInput

MAX_EXTRA_H = 24 * 30
MAX_POINTS = 500


class DisruptionKind(StrEnum):
    WEATHER = "weather"
    TRAFFIC = "traffic"
    FACILITY_CLOSURE = "facility_closure"
    CUSTOMS_BACKLOG = "customs_backlog"


@dataclass(frozen=True, slots=True)
class Way:
    """Where a parcel still goes: what a disruption is matched against."""

    cities: frozenset[str]  # where it is, where it goes
    facilities: frozenset[str]  # where it is, the planned ones ahead
    points: tuple[tuple[float, float], ...]  # (lon, lat): where it is, then where it goes


@dataclass(frozen=True, slots=True)
class Disruption:
    disruption_id: str
    tenant_id: str
    kind: DisruptionKind
    title: str
    starts_us: int
    ends_us: int
    extra_h: float
    created_at_us: int
    created_by: str
    cities: frozenset[str] = frozenset()
    facility_id: str | None = None
    polygon: tuple[tuple[float, float], ...] | None = None  # (lon, lat) ring
    cancelled_at_us: int | None = None

    def in_force(self, now_us: int) -> bool:
        """Not over and not called off (one announced for later counts already: a parcel
        heading there will meet it)."""
        return self.cancelled_at_us is None and now_us < self.ends_us

    def affects(self, way: Way) -> bool:
        if self.facility_id is not None and self.facility_id in way.facilities:
            return True
        if self.cities & way.cities:
            return True
        if self.polygon is not None and way.points:
            area = _area(self.polygon)
            if len(way.points) == 1:
                return area.intersects(Point(way.points[0]))
            return area.intersects(LineString(way.points))
        return False


@lru_cache(maxsize=256)
def _area(ring: tuple[tuple[float, float], ...]) -> PreparedGeometry[Polygon]:
    """Made once per region, prepared: each parcel's check is then a few microseconds."""
    return prep(Polygon(ring))


def new_id() -> str:
    return "dis_" + secrets.token_hex(8)


def check(kind: str, title: str, starts_us: int, ends_us: int, extra_h: float,
          cities: Sequence[str], facility_id: str | None,
          polygon: Sequence[Sequence[float]] | None) -> tuple[DisruptionKind, frozenset[str],
                                                             tuple[tuple[float, float], ...] | None]:
    """The parts of a new disruption, checked; InvalidInput naming the field otherwise."""
    try:
        k = DisruptionKind(kind)
    except ValueError:
        raise InvalidInput("kind", "expected one of " + ", ".join(DisruptionKind)) from None
    if not title.strip():
        raise InvalidInput("title", "say what it is (shown in alerts and to consumers)")
    if ends_us <= starts_us:
        raise InvalidInput("ends_at", "expected a time after starts_at")
    if not 0 < extra_h <= MAX_EXTRA_H:
        raise InvalidInput("extra_delay_hours", f"expected more than 0 and at most {MAX_EXTRA_H}")
    places = frozenset(c.strip() for c in cities if c.strip())
    if sum((bool(places), facility_id is not None, polygon is not None)) != 1:
        raise InvalidInput("region", "expected exactly one of cities, polygon or facility_id")
    ring = None
    if polygon is not None:
        if not 3 <= len(polygon) <= MAX_POINTS or any(len(p) != 2 for p in polygon):
            raise InvalidInput("polygon", f"expected 3 to {MAX_POINTS} [lon, lat] points")
        ring = tuple((float(p[0]), float(p[1])) for p in polygon)
        if any(not (-180 <= lon <= 180 and -90 <= lat <= 90) for lon, lat in ring):
            raise InvalidInput("polygon", "expected [lon, lat] pairs in degrees")
        if not Polygon(ring).is_valid:
            raise InvalidInput("polygon", "the ring crosses itself")
    return k, places, ring

"""The express network: hubs, gateways, last-mile stations and lockers, and how parcels route.

Every facility is a frozen value with real coordinates. A few regional super-hubs are all
linked to each other by trunk routes; every other hub hangs off its nearest one or two
super-hubs. A parcel travels origin hub → (super-hubs) → destination hub, always along the
shortest such path, so the same pair of cities always gives the same route.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from parcelguard.simulator import places

Kind = Literal["hub", "gateway", "station", "locker"]
CHINA = 480  # UTC+08:00, in minutes
EARTH_KM = 6371.0
STATIONS_PER_CITY = 20
_LOCATIONS: dict[str, dict[str, object]] = {}


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str
    city: str
    province: str
    lat: float
    lon: float
    kind: Kind
    city_code: str
    offset_min: int = CHINA

    def location(self) -> dict[str, object]:
        """The facility as the ``location`` of a wire event (one shared dict: do not change)."""
        found = _LOCATIONS.get(self.id)
        if found is None:
            found = _LOCATIONS[self.id] = {"facility_id": self.id, "name": self.name,
                                           "city": self.city, "lat": self.lat, "lon": self.lon}
        return found


@dataclass(frozen=True, slots=True)
class City:
    code: str
    name: str
    province: str
    plate: str
    lat: float
    lon: float
    hub: Facility
    districts: tuple[str, ...]
    stations: tuple[Facility, ...]
    lockers: tuple[Facility, ...]  # one parcel locker (驿站) beside each station
    sends: float  # share of parcels sent from here
    receives: float  # share of parcels sent here

    def district_of(self, station: Facility) -> str:
        """The district a station serves (the one in its name)."""
        return self.districts[int(station.id.rsplit("-", 1)[1]) % len(self.districts)]


@dataclass(frozen=True, slots=True)
class Abroad:
    """A foreign destination: its airport cargo centre and its delivery stations."""

    code: str
    name: str
    city_en: str
    country: str
    offset_min: int
    lat: float
    lon: float
    airport: Facility
    stations: tuple[Facility, ...]
    phone_prefix: str


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def between(a: Facility, b: Facility) -> float:
    return distance_km(a.lat, a.lon, b.lat, b.lon)


def along(lat1: float, lon1: float, lat2: float, lon2: float, f: float) -> tuple[float, float]:
    """The point a fraction ``f`` of the way along the great circle from 1 to 2."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    d = 2 * math.asin(min(1.0, math.sqrt(
        math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2)))
    if d < 1e-9:
        return lat1, lon1
    a, b = math.sin((1 - f) * d) / math.sin(d), math.sin(f * d) / math.sin(d)
    x = a * math.cos(p1) * math.cos(l1) + b * math.cos(p2) * math.cos(l2)
    y = a * math.cos(p1) * math.sin(l1) + b * math.cos(p2) * math.sin(l2)
    z = a * math.sin(p1) + b * math.sin(p2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def _offset(lat: float, lon: float, i: int, scale_km: float) -> tuple[float, float]:
    """A point spread around a centre by a golden-angle spiral: fixed, no randomness."""
    angle = math.radians(i * 137.508)
    r = scale_km * (0.25 + ((i * 7) % 13) / 13)
    dlat = r * math.cos(angle) / 111.0
    dlon = r * math.sin(angle) / (111.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def _city(row: places.CityRow) -> City:
    hub = Facility(f"HUB-{row.code}-{row.hub_suffix}", row.hub_name, row.name, row.province,
                   row.hub_lat, row.hub_lon, "hub", row.code)
    stations, lockers = [], []
    areas = places.STATION_AREAS
    for i in range(1, STATIONS_PER_CITY + 1):
        district = row.districts[i % len(row.districts)]
        area = areas[(i // len(row.districts) + i) % len(areas)]
        lat, lon = _offset(row.lat, row.lon, i, 12.0)
        sid = f"STN-{row.code}-{i:03d}"
        stations.append(Facility(sid, f"{row.name}{district}{area}营业部", row.name, row.province,
                                 lat, lon, "station", row.code))
        llat, llon = _offset(lat, lon, i + 50, 1.0)
        lockers.append(Facility(f"LCK-{row.code}-{i:03d}", f"{district}{area}菜鸟驿站", row.name,
                                row.province, llat, llon, "locker", row.code))
    return City(row.code, row.name, row.province, row.plate, row.lat, row.lon, hub,
                row.districts, tuple(stations), tuple(lockers), row.sends, row.receives)


def _abroad(row: places.AbroadRow) -> Abroad:
    airport = Facility(f"GW-{row.code}", row.airport_name, row.name, row.country,
                       row.airport_lat, row.airport_lon, "gateway", row.code, row.offset_min)
    stations = tuple(
        Facility(f"STN-{row.code}-{i:03d}", f"{row.name}{area}派送站", row.name, row.country,
                 *_offset(row.lat, row.lon, i, 10.0), "station", row.code, row.offset_min)
        for i, area in enumerate(row.areas, start=1)
    )
    return Abroad(row.code, row.name, row.city_en, row.country, row.offset_min, row.lat, row.lon,
                  airport, stations, row.phone_prefix)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: built once
class Network:
    cities: dict[str, City]
    gateways: dict[str, Facility]  # city code -> its international gateway
    airlines: dict[str, str]  # gateway id -> airline code of its export flights
    abroad: dict[str, Abroad]
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # city -> super-hub cities

    @property
    def hubs(self) -> tuple[Facility, ...]:
        return tuple(c.hub for c in self.cities.values())

    def facility(self, facility_id: str) -> Facility:
        return _index(self)[facility_id]

    def route(self, origin: str, destination: str) -> tuple[Facility, ...]:
        """The ordered hubs from ``origin``'s hub to ``destination``'s (city codes)."""
        return _route(self, origin, destination)

    def route_km(self, origin: str, destination: str) -> float:
        """Great-circle length of the route between two cities' hubs."""
        return _route_km(self, origin, destination)

    def gateway_for(self, origin: str) -> Facility:
        """The international gateway nearest to a city's hub."""
        return _gateway_for(self, origin)


@cache
def _index(net: Network) -> dict[str, Facility]:
    found: dict[str, Facility] = {}
    for c in net.cities.values():
        for f in (c.hub, *c.stations, *c.lockers):
            found[f.id] = f
    for f in net.gateways.values():
        found[f.id] = f
    for a in net.abroad.values():
        for f in (a.airport, *a.stations):
            found[f.id] = f
    return found


@cache
def _gateway_for(net: Network, origin: str) -> Facility:
    hub = net.cities[origin].hub
    return min(net.gateways.values(), key=lambda g: between(hub, g))


def _parents(cities: dict[str, City]) -> dict[str, tuple[str, ...]]:
    """Each hub's nearest super-hub, and the second one too when it is almost as near."""
    out: dict[str, tuple[str, ...]] = {}
    for code, city in cities.items():
        if code in places.SUPER_HUBS:
            out[code] = (code,)
            continue
        near = sorted(places.SUPER_HUBS, key=lambda s: between(city.hub, cities[s].hub))
        first, second = near[0], near[1]
        d1, d2 = (between(city.hub, cities[s].hub) for s in (first, second))
        out[code] = (first, second) if d2 <= 1.4 * d1 else (first,)
    return out


@cache
def _route(net: Network, origin: str, destination: str) -> tuple[Facility, ...]:
    if origin == destination:
        return (net.cities[origin].hub,)
    hub = {code: c.hub for code, c in net.cities.items()}
    best: tuple[float, tuple[str, ...]] | None = None
    for po in net.parents[origin]:
        for pd in net.parents[destination]:
            path = tuple(dict.fromkeys((origin, po, pd, destination)))
            km = sum(between(hub[a], hub[b]) for a, b in itertools.pairwise(path))
            if best is None or km < best[0]:
                best = (km, path)
    assert best is not None
    return tuple(hub[c] for c in best[1])


@cache
def _route_km(net: Network, origin: str, destination: str) -> float:
    return sum(between(a, b) for a, b in itertools.pairwise(_route(net, origin, destination)))


@cache
def china() -> Network:
    """The default network, built once from ``places``."""
    cities = {row.code: _city(row) for row in places.CITIES}
    gateways, airlines = {}, {}
    for code, suffix, name, lat, lon, airline in places.GATEWAYS:
        city = cities[code]
        gw = Facility(f"GW-{suffix}", name, city.name, city.province, lat, lon, "gateway", code)
        gateways[code], airlines[gw.id] = gw, airline
    abroad = {row.code: _abroad(row) for row in places.ABROAD}
    return Network(cities, gateways, airlines, abroad, _parents(cities))

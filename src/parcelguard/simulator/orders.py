"""Drawing one order: what is sent, by which carrier, from where to whom, by when.

Origins lean towards the e-commerce clusters and destinations towards the big cities (the
weights in :mod:`places`). An anomaly may need a certain kind of parcel (rough handling
needs a fragile one) or route (a misroute needs two hubs to go wrong between), so the order
is drawn to fit the anomaly chosen for it.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple

from parcelguard.simulator import anomalies, network, people, timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.journey import Order, Spot, Twist
from parcelguard.simulator.network import CHINA, City, Facility, Network

SAME_CITY = 0.08
VALUE_CNY = {"general": (20, 500), "fragile": (50, 2000), "cold_chain": (60, 800),
             "cross_border": (100, 3000), "high_value": (3000, 50_000)}
DEVICE_PREFIX = {"cold_chain": "TL", "fragile": "SK", "high_value": "GT"}


@dataclass(frozen=True, slots=True)
class Draft:
    """An order and the parts of the shipment line that the journey does not change."""

    order: Order
    twist: Twist | None
    recipient: people.Person
    origin: dict[str, Any]
    destination: dict[str, Any]
    declared_value_cny: float
    devices: tuple[str, ...]
    thresholds: dict[str, float] | None
    order_ref: str


class _Destination(NamedTuple):
    hubs: tuple[Facility, ...]
    station: Facility
    doorstep: Spot
    person: people.Person
    place: dict[str, Any]  # the shipment's destination on the wire
    days: int  # published transit time
    gateway: Facility | None = None
    airport: Facility | None = None
    airline: str = "CK"


class Weighted:
    """A fast weighted choice over a fixed list, by bisecting cumulative weights."""

    def __init__(self, items: list[Any], weights: list[float]) -> None:
        self.items, self.cum = items, list(itertools.accumulate(weights))

    def pick(self, rng: Dice) -> Any:
        return self.items[bisect.bisect(self.cum, rng.random() * self.cum[-1])]


class OrderMaker:
    def __init__(
        self, rng: Dice, net: Network, carriers: tuple[str, ...],
        mix: tuple[tuple[str, float], ...],
    ) -> None:
        self.rng, self.net, self.carriers = rng, net, carriers
        cities = list(net.cities.values())
        self.senders = Weighted(cities, [c.sends for c in cities])
        self.receivers = Weighted(cities, [c.receives for c in cities])
        self.mix = Weighted([c for c, _ in mix], [w for _, w in mix])
        self.numbers = people.TrackingNumbers(rng)
        self.abroad = tuple(net.abroad.values())
        self.count = 0

    def make(self, placed_at: int, anomaly: str | None) -> Draft:
        rng = self.rng
        self.count += 1
        category = anomalies.CATEGORY.get(anomaly or "", "") or self.mix.pick(rng)
        if category == "cross_border" and anomaly == "misroute":
            category = "general"  # its domestic leg is often a single hub: no room to stray
        carrier = rng.pick(self.carriers)
        origin: City = self.senders.pick(rng)
        cross = category == "cross_border"
        tracking_no = self.numbers.next(carrier, international=cross)
        to = self._abroad(origin) if cross else self._domestic(origin, anomaly)
        mode, locker = self._last_mile(category, to.station)
        order = Order(
            tracking_no, carrier, category, placed_at, rng.pick(origin.stations), to.hubs,
            to.station, to.doorstep, timing.end_of_day(placed_at, CHINA, to.days + 1), mode,
            locker, to.gateway, to.airport, to.airline,
        )
        twist = anomalies.twist_for(rng, anomaly, order, self.net) if anomaly else None
        devices: tuple[str, ...] = ()
        if category in DEVICE_PREFIX:
            devices = (f"{DEVICE_PREFIX[category]}-{self.count:07d}",)
        lo, hi = VALUE_CNY[category]
        day = timing.iso(placed_at, CHINA)[:10].replace("-", "")
        return Draft(
            order, twist, to.person, _place(origin.name, order.origin_station, "CN"), to.place,
            round(rng.uniform(lo, hi), 2), devices, self._thresholds(category),
            f"PG{day}{self.count:07d}",
        )

    def _domestic(self, origin: City, anomaly: str | None) -> _Destination:
        rng, net = self.rng, self.net
        dest = origin if rng.random() < SAME_CITY else self.receivers.pick(rng)
        if anomaly in anomalies.ROUTE_BOUND:
            dest = self._fitting(origin, dest, anomaly)
        station = rng.pick(dest.stations)
        person = people.recipient(rng, dest, dest.district_of(station))
        doorstep = self._doorstep(station)
        days = timing.standard_days(net.route_km(origin.code, dest.code))
        return _Destination(net.route(origin.code, dest.code), station, doorstep, person,
                            _place(dest.name, doorstep, "CN"), days)

    def _fitting(self, origin: City, dest: City, anomaly: str) -> City:
        """A destination whose route leaves room for ``anomaly`` (else the farthest city)."""
        for _ in range(20):
            if anomalies.route_fits(anomaly, self.net.route(origin.code, dest.code)):
                return dest
            dest = self.receivers.pick(self.rng)
        return max(self.net.cities.values(), key=lambda c: network.between(c.hub, origin.hub))

    def _abroad(self, origin: City) -> _Destination:
        rng, net = self.rng, self.net
        place = rng.pick(self.abroad)
        gateway = net.gateway_for(origin.code)
        hubs = net.route(origin.code, gateway.city_code)
        station = rng.pick(place.stations)
        person = people.foreign_recipient(rng, place, station)
        doorstep = self._doorstep(station)
        km = net.route_km(origin.code, gateway.city_code) + network.between(hubs[-1], gateway)
        return _Destination(hubs, station, doorstep, person,
                            _place(place.city_en, doorstep, place.country),
                            timing.standard_days(km) + 4, gateway, place.airport,
                            net.airlines[gateway.id])

    def _last_mile(self, category: str, station: Facility) -> tuple[str, Facility | None]:
        """How the last mile goes: lockers and failed tries are for domestic everyday parcels."""
        if category in ("high_value", "cross_border"):
            return "direct", None
        r = self.rng.random()
        if r < 0.04:
            return "failed", None
        if r < 0.20:
            city = self.net.cities[station.city_code]
            return "locker", city.lockers[city.stations.index(station)]
        return "direct", None

    def _doorstep(self, station: Facility) -> Spot:
        lat = round(station.lat + self.rng.uniform(-0.02, 0.02), 5)
        lon = round(station.lon + self.rng.uniform(-0.02, 0.02), 5)
        return Spot("收件人地址", station.city, lat, lon, station.offset_min)

    def _thresholds(self, category: str) -> dict[str, float] | None:
        """Now and then a merchant sets its own limits (looser than the data ever goes)."""
        if self.rng.random() >= 0.05:
            return None
        if category == "cold_chain":
            return {"temp_min_c": 2.0, "temp_max_c": 8.0, "humidity_max_pct": 90.0}
        if category == "fragile":
            return {"shock_max_g": 6.0}
        return None


def _place(city: str, where: Spot | Facility, country: str) -> dict[str, Any]:
    return {"city": city, "lat": where.lat, "lon": where.lon, "country": country}



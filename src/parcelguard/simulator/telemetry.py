"""Sensor readings: vehicle units on trunk lorries and loggers travelling inside parcels.

Readings are produced lazily, one device at a time, each from its own ``random.Random``
seeded by the simulation seed and the device id: the shipments and scans are the same
whether telemetry is on or off, and a device's readings do not depend on what else is
being generated. Every stream yields ``(arrival, line)`` in arrival order.

The temperature model is shared with the labels: a box in a failing reefer warms towards
the failure's peak, then cools back once unloaded into a cold room, and :func:`excursion`
finds, from the same curve, when it was above the 8 °C limit.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from parcelguard.simulator import timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.fleet import Failure, Trip
from parcelguard.simulator.journey import Journey
from parcelguard.simulator.network import CHINA, along

Line = dict[str, Any]
VEHICLE_EVERY, BOX_EVERY = 300, 600
COLD_BASE_C, COLD_MAX_C = 4.6, 8.0
WARM_S, COOL_S, REEFER_WARM_S = 30 * 60, 25 * 60, 15 * 60
HANDLED = frozenset({"picked_up", "loaded", "unloaded", "sorting", "out_for_delivery"})


def box_celsius(t: int, failure: Failure | None, unloaded: int | None) -> float:
    """Temperature inside a cold-chain box, without sensor noise."""
    base = COLD_BASE_C + 0.6 * math.sin(t * 2 * math.pi / (7 * 3600))
    if failure is None or unloaded is None or t < failure.at:
        return base
    rise = failure.peak_c - COLD_BASE_C
    if t < unloaded:
        return base + rise * (1 - math.exp(-(t - failure.at) / WARM_S))
    held = rise * (1 - math.exp(-(unloaded - failure.at) / WARM_S))
    return base + held * math.exp(-(t - unloaded) / COOL_S)


def excursion(failure: Failure, unloaded: int, limit: float = COLD_MAX_C) -> tuple[int, int]:
    """(first, last second) the box is above ``limit``, to the half minute."""
    t, start = failure.at, None
    while t < unloaded + 12 * 3600:
        above = box_celsius(t, failure, unloaded) > limit
        if above and start is None:
            start = t
        if not above and start is not None:
            return start, t - 30
        t += 30
    raise AssertionError("a box cools back within hours of unloading")


def reefer_celsius(t: int, failure: Failure | None) -> float:
    """Air temperature of a reefer's cargo space; it warms fast once the unit stops."""
    base = 4.0 + 0.3 * math.sin(t * 2 * math.pi / 3600)
    if failure is None or t < failure.at:
        return base
    return base + (failure.peak_c + 2 - 4.0) * (1 - math.exp(-(t - failure.at) / REEFER_WARM_S))


def vehicle_stream(trip: Trip, seed: int) -> Iterator[tuple[int, Line]]:
    """The device line, then a GPS fix every 5 minutes along the great circle of the leg."""
    assert trip.device_id is not None
    rng = Dice(f"{seed}:{trip.device_id}")
    a, b = trip.origin, trip.dest
    yield trip.depart, {"type": "device", "device_id": trip.device_id, "kind": "vehicle_unit",
                        "vehicle_id": trip.vehicle_id}
    span = max(1, trip.arrive - trip.depart)
    for seq, t in enumerate(range(trip.depart, trip.arrive + 1, VEHICLE_EVERY)):
        f = (t - trip.depart) / span
        lat, lon = along(a.lat, a.lon, b.lat, b.lon, f)
        line: Line = {"type": "telemetry", "device_id": trip.device_id,
                      "ts": timing.iso(t, a.offset_min), "seq": seq,
                      "lat": round(lat, 5), "lon": round(lon, 5),
                      "speed_kmh": round(rng.uniform(55, 85), 1) if 0 < f < 1 else 0.0}
        if trip.reefer:
            line["temperature_c"] = round(reefer_celsius(t, trip.failure) + rng.gauss(0, 0.1), 2)
        arrival = t + rng.whole(2, 30)
        line["received_at"] = timing.iso(arrival, CHINA)
        yield arrival, line


@dataclass(frozen=True, slots=True)
class BoxPlan:
    """What a parcel's own sensor will see, taken from its finished journey."""

    device_id: str
    category: str
    start: int
    end: int
    path: tuple[tuple[int, float, float], ...]  # (time, lat, lon) of scans with a place
    bumps: tuple[int, ...]  # moments the parcel was handled
    spike: tuple[int, float] | None = None  # rough handling: (time, g)
    failure: Failure | None = None
    unloaded: int | None = None

    def position(self, t: int) -> tuple[float, float]:
        """Where the parcel is: between two scans, on the straight line joining them."""
        i = bisect.bisect_right(self.path, t, key=lambda p: p[0])
        if i == 0:
            return self.path[0][1:]
        if i == len(self.path):
            return self.path[-1][1:]
        (t0, la0, lo0), (t1, la1, lo1) = self.path[i - 1], self.path[i]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        return la0 + (la1 - la0) * f, lo0 + (lo1 - lo0) * f


AFTER_DELIVERY = 10 * 3600  # the logger reports on inside the box until the box is opened


def plan_for(device_id: str, journey: Journey) -> BoxPlan:
    """The sensor rides from pickup until some hours after sign-off (or until last seen)."""
    scans, facts = journey.scans, journey.facts
    delivered = next((s for s in scans if s.status == "delivered"), None)
    end = delivered.at + AFTER_DELIVERY if delivered else scans[-1].at
    path = tuple((s.at, *s.coordinates) for s in scans if s.coordinates and s.at <= end)
    bumps = tuple(s.at for s in scans if (s.sub or s.status) in HANDLED and s.at <= end)
    rough, reefer = facts.get("rough"), facts.get("reefer")
    return BoxPlan(
        device_id, journey.order.category, scans[1].at if len(scans) > 1 else end, end,
        path, bumps,
        spike=(rough["spike_at"], rough["peak_g"]) if rough else None,
        failure=reefer["trip"].failure if reefer else None,
        unloaded=reefer["unloaded"].at if reefer else None,
    )


def box_stream(plan: BoxPlan, seed: int) -> Iterator[tuple[int, Line]]:
    """A reading every 10 minutes, plus one at each knock (shock loggers record peaks)."""
    rng = Dice(f"{seed}:{plan.device_id}")
    grid = range(plan.start, plan.end + 1, BOX_EVERY)  # at least one reading, at pickup
    moments: list[tuple[int, float]] = [(t, 0.0) for t in grid]
    if plan.category == "fragile":
        moments += [(t + 20, rng.uniform(1.0, 3.5)) for t in plan.bumps if t + 20 < plan.end]
        if plan.spike is not None:
            moments.append(plan.spike)
        moments = _one_per_second(sorted(moments))
    battery, last = rng.uniform(85, 100), 0
    for seq, (t, knock) in enumerate(moments):
        line: Line = {"type": "telemetry", "device_id": plan.device_id,
                      "ts": timing.iso(t, CHINA), "seq": seq}
        line.update(_measure(plan, t, knock, rng))
        line["battery_pct"] = round(battery, 1)
        battery = max(5.0, battery - 0.02)
        last = max(last, t + rng.whole(2, 30))
        line["received_at"] = timing.iso(last, CHINA)
        yield last, line


def _one_per_second(moments: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """A logger stamps each reading with its own second: a knock that falls on a periodic
    reading's second is recorded a second later."""
    out: list[tuple[int, float]] = []
    for t, knock in moments:
        if out and t <= out[-1][0]:
            t = out[-1][0] + 1
        out.append((t, knock))
    return out


def _measure(plan: BoxPlan, t: int, knock: float, rng: Dice) -> Line:
    if plan.category == "cold_chain":
        celsius = box_celsius(t, plan.failure, plan.unloaded) + rng.gauss(0, 0.12)
        humidity = 62 + 5 * math.sin(t / 5000) + rng.gauss(0, 1.0)
        return {"temperature_c": round(celsius, 2), "humidity_pct": round(humidity, 1)}
    if plan.category == "fragile":
        return {"shock_g": round(knock or rng.uniform(0.02, 0.6), 2)}
    lat, lon = plan.position(t)
    return {"lat": round(lat, 5), "lon": round(lon, 5)}

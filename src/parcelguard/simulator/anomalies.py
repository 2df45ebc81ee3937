"""The eight injected anomalies: which parcels they need, how they twist a journey, and the
label that records what happened.

Each kind is chosen first and the parcel is drawn to fit it (rough handling needs a fragile
parcel, a reefer failure a cold-chain one on a long trunk leg, ...). The journey then lives
through it (see :mod:`journey`) and :func:`label` reads the facts it left behind, so the
label's window is the window of the scans and readings in the data, to the second.
"""

from __future__ import annotations

import itertools
from typing import Any

from parcelguard.simulator import telemetry, timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.journey import Journey, Order, Scan, Twist
from parcelguard.simulator.labels import ANOMALIES, Label
from parcelguard.simulator.network import CHINA, Facility, Network, between

CATEGORY = {"rough_handling": "fragile", "reefer_failure": "cold_chain",
            "customs_hold": "cross_border", "wrong_recipient": "high_value"}
REEFER_LEG_KM = 250.0
ROUTE_BOUND = frozenset({"misroute", "reefer_failure"})  # need a certain kind of route
EXPECTED = {
    "rough_handling": ("shock", "damaged"), "reefer_failure": ("temperature_excursion",),
    "stuck_at_hub": ("dwell_exceeded",), "lost": ("lost_suspected",),
    "customs_hold": ("customs_held", "customs_delay"), "misroute": ("misrouted",),
    "late_delivery": ("delivery_late",), "wrong_recipient": ("pod_unverified",),
}
NEEDS_TELEMETRY = frozenset({"shock", "temperature_excursion"})
MAY_ALSO = {
    "rough_handling": (), "reefer_failure": ("temperature_trend",),
    "stuck_at_hub": ("no_update", "delay_risk", "delivery_late"),
    "lost": ("no_update", "dwell_exceeded", "sensor_gap", "customs_delay", "delay_risk",
             "delivery_late"),
    "customs_hold": ("no_update", "delay_risk", "delivery_late"),
    "misroute": ("route_deviation", "delay_risk", "delivery_late"),
    "late_delivery": ("delay_risk", "no_update", "dwell_exceeded"),
    "wrong_recipient": ("carrier_exception",),
}


def pick(rng: Dice, rate: float) -> str | None:
    """An anomaly kind for the next parcel, or None (the usual case)."""
    return rng.pick(ANOMALIES) if rng.random() < rate else None


def _legs(hubs: tuple[Facility, ...]) -> list[float]:
    return [between(a, b) for a, b in itertools.pairwise(hubs)]


def route_fits(kind: str | None, hubs: tuple[Facility, ...]) -> bool:
    """Can ``kind`` happen on this route? A misroute needs two hubs, a reefer a long leg."""
    if kind == "misroute":
        return len(hubs) >= 2
    if kind == "reefer_failure":
        return max(_legs(hubs), default=0.0) >= REEFER_LEG_KM
    return True


def twist_for(rng: Dice, kind: str, order: Order, net: Network) -> Twist:
    hubs = order.hubs
    if kind in ("rough_handling", "stuck_at_hub"):
        return Twist(kind, rng.whole(0, len(hubs) - 1), hours=rng.uniform(8, 29))
    if kind == "reefer_failure":
        legs = _legs(hubs)
        return Twist(kind, legs.index(max(legs)))
    if kind == "customs_hold":
        return Twist(kind, export=rng.random() < 0.3, cleared=rng.random() < 0.7,
                     hours=rng.uniform(60, 150))
    if kind == "misroute":
        k = rng.whole(0, len(hubs) - 2)
        near = sorted((h for h in net.hubs if h not in hubs), key=lambda h: between(h, hubs[k]))
        return Twist(kind, k, detour=rng.pick(near[:3]))
    return Twist(kind)


def cut(rng: Dice, journey: Journey) -> None:
    """A lost parcel: nothing is heard of it after a scan between pickup and the round."""
    scans = journey.scans
    last_possible = next(i for i, s in enumerate(scans) if s.status == "out_for_delivery")
    i = rng.whole(1, last_possible)
    journey.facts["lost"] = {"last": scans[i], "next": scans[i + 1]}
    del scans[i + 1:]


def label(journey: Journey, promised_by: int, with_telemetry: bool, devices: tuple[str, ...]
          ) -> Label:
    twist, o = journey.twist, journey.order
    assert twist is not None
    kind = twist.kind
    fields: dict[str, Any] = _BUILDERS[kind](journey, promised_by)
    details = {**fields.pop("details", {}), "category": o.category}
    if devices:
        details["devices"] = list(devices)
    expected = [a for a in EXPECTED[kind] if with_telemetry or a not in NEEDS_TELEMETRY]
    delivered = _delivered(journey.scans)
    if kind != "late_delivery" and delivered is not None and delivered.at > promised_by:
        expected.append("delivery_late")
    details["may_also_raise"] = [a for a in MAY_ALSO[kind] if a not in expected]
    return Label(o.tracking_no, kind, tuple(expected), carrier=o.carrier, details=details,
                 **fields)


def _delivered(scans: list[Scan]) -> Scan | None:
    return next((s for s in scans if s.status == "delivered"), None)


def _at(ts: int, scan: Scan | None = None) -> Any:
    return timing.to_datetime(ts, scan.offset if scan is not None else CHINA)


def _iso(scan: Scan) -> str:
    return timing.iso(scan.at, scan.offset)


def _fid(scan: Scan) -> str | None:
    return scan.facility.id if scan.facility else None


def _after(scans: list[Scan], first: Scan, sub: str) -> Scan:
    """The first scan after ``first`` at the same facility with this substatus."""
    i = scans.index(first)
    return next(s for s in scans[i:] if s.sub == sub and s.facility is first.facility)


def _rough(j: Journey, promised_by: int) -> dict[str, Any]:
    f = j.facts["rough"]
    sorting, damaged = f["sorting"], j.facts["damaged"]
    loaded = _after(j.scans, sorting, "loaded")
    return {"start": _at(sorting.at, sorting), "end": _at(loaded.at, loaded),
            "facility_id": _fid(sorting), "operator_id": sorting.operator,
            "details": {"shock_at": timing.iso(f["spike_at"], CHINA), "peak_g": f["peak_g"],
                        "damaged_seen_at": _iso(damaged),
                        "damaged_seen_facility_id": _fid(damaged)}}


def _reefer(j: Journey, promised_by: int) -> dict[str, Any]:
    f = j.facts["reefer"]
    trip, unloaded = f["trip"], f["unloaded"]
    start, end = telemetry.excursion(trip.failure, unloaded.at)
    return {"start": _at(start), "end": _at(end), "vehicle_id": trip.vehicle_id,
            "details": {"failure_at": timing.iso(trip.failure.at, CHINA),
                        "peak_c": trip.failure.peak_c, "leg_from": trip.origin.id,
                        "leg_to": trip.dest.id, "vehicle_device_id": trip.device_id,
                        "limit_c": telemetry.COLD_MAX_C}}


def _stuck(j: Journey, promised_by: int) -> dict[str, Any]:
    assert j.twist is not None
    hub = j.order.hubs[j.twist.index]
    arrived = next(s for s in j.scans if s.facility is hub and s.sub == "arrived")
    departed = _after(j.scans, arrived, "departed")
    return {"start": _at(arrived.at, arrived), "end": _at(departed.at, departed),
            "facility_id": hub.id,
            "details": {"dwell_hours": round((departed.at - arrived.at) / 3600, 2)}}


def _lost(j: Journey, promised_by: int) -> dict[str, Any]:
    last, nxt = j.facts["lost"]["last"], j.facts["lost"]["next"]
    holder = "facility"
    fields: dict[str, Any] = {}
    if last.vehicle and last.sub in ("loaded", "departed"):
        holder, fields["vehicle_id"] = "vehicle", last.vehicle
    elif last.status in ("picked_up", "out_for_delivery"):
        holder, fields["operator_id"] = "courier", last.operator
    else:
        fields["facility_id"] = _fid(last)
    return {**fields, "start": _at(last.at, last), "end": _at(nxt.at, nxt),
            "details": {"holder": holder, "last_status": last.status, "last_substatus": last.sub,
                        "last_facility_id": _fid(last), "next_expected": nxt.sub or nxt.status}}


def _customs(j: Journey, promised_by: int) -> dict[str, Any]:
    assert j.twist is not None
    f = j.facts["customs"]
    held, cleared = f["held"], f["cleared"]
    return {"start": _at(held.at, held), "end": _at(cleared.at, cleared) if cleared else None,
            "facility_id": f["facility"].id,
            "details": {"stage": "export" if j.twist.export else "import",
                        "cleared": cleared is not None}}


def _misroute(j: Journey, promised_by: int) -> dict[str, Any]:
    f = j.facts["misroute"]
    loaded = f["loaded"]
    sorting = next(s for s in reversed(j.scans[: j.scans.index(loaded)]) if s.sub == "sorting")
    return {"start": _at(sorting.at, sorting), "end": _at(f["departed"].at, f["departed"]),
            "facility_id": f["hub"].id, "vehicle_id": f["trip"].vehicle_id,
            "operator_id": sorting.operator,
            "details": {"wrong_facility_id": f["arrived"].facility.id,
                        "wrong_arrived_at": _iso(f["arrived"]), "loaded_by": loaded.operator}}


def _late(j: Journey, promised_by: int) -> dict[str, Any]:
    delivered = _delivered(j.scans)
    assert delivered is not None
    station = j.facts["late"]["station"]
    return {"start": _at(promised_by), "end": _at(delivered.at, delivered),
            "facility_id": station.id,
            "details": {"hours_late": round((delivered.at - promised_by) / 3600, 2),
                        "at_station_since": _iso(j.facts["late"]["arrived"])}}


def _wrong(j: Journey, promised_by: int) -> dict[str, Any]:
    f = j.facts["wrong"]
    delivered, reported = f["delivered"], f["reported"]
    return {"start": _at(delivered.at, delivered), "end": _at(reported.at, reported),
            "facility_id": j.order.dest_station.id, "operator_id": delivered.operator,
            "details": {"signer": "门卫代收", "id_verified": False}}


_BUILDERS = {
    "rough_handling": _rough, "reefer_failure": _reefer, "stuck_at_hub": _stuck, "lost": _lost,
    "customs_hold": _customs, "misroute": _misroute, "late_delivery": _late,
    "wrong_recipient": _wrong,
}

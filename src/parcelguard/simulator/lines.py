"""Replay lines (DESIGN.md "Replay"): plain dicts shaped exactly like the wire structs.

Scans are turned into event lines only when they are emitted, so a parcel in flight costs a
few small objects, not a dozen dicts. The arrival schedule models the network between a
carrier and us: uploads take 5-120 s, about 2% of scans are uploaded hours late (a PDA that
was offline), and about 1% are sent twice.
"""

from __future__ import annotations

from typing import Any

from parcelguard.simulator import people, timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.journey import Order, Scan
from parcelguard.simulator.network import CHINA
from parcelguard.simulator.orders import Draft
from parcelguard.simulator.timing import iso

Line = dict[str, Any]
LATE_SHARE, DUPLICATE_SHARE = 0.02, 0.01
EXPLICIT_IDS = frozenset({"sf", "jd", "ems"})  # carriers that number their scans


def shipment_line(d: Draft, promised_by: int) -> Line:
    o = d.order
    line: Line = {
        "type": "shipment", "tracking_no": o.tracking_no, "carrier": o.carrier,
        "order_ref": d.order_ref, "category": o.category, "origin": d.origin,
        "destination": d.destination, "promised_by": timing.iso(promised_by, CHINA),
        "recipient": {"name": d.recipient.name, "phone": d.recipient.phone,
                      "address": d.recipient.address},
        "declared_value_cny": d.declared_value_cny, "route_plan": list(o.route_plan),
        "received_at": timing.iso(o.placed_at, CHINA),
    }
    if d.devices:
        line["devices"] = list(d.devices)
    if d.thresholds:
        line["thresholds"] = dict(d.thresholds)
    return line


def schedule(rng: Dice, scans: list[Scan]) -> list[tuple[int, int]]:
    """(arrival, scan index) for every upload of every scan."""
    out = []
    draw = rng.random
    for i, scan in enumerate(scans):
        arrival = scan.at + 5 + int(draw() * 116)
        r = draw()
        if r < LATE_SHARE:
            arrival += 3600 + int(draw() * 7 * 3600)
        out.append((arrival, i))
        if r > 1 - DUPLICATE_SHARE:
            out.append((arrival + 60 + int(draw() * 1740), i))
    return out


def event_line(o: Order, scan: Scan, index: int, arrival: int) -> Line:
    """The wire event of one upload of ``scan``; absent fields are left out, not null."""
    place = scan.facility or scan.spot
    line: Line = {"type": "event"}
    if o.carrier in EXPLICIT_IDS:
        line["event_id"] = f"{o.tracking_no}-{index:03d}"
    line["tracking_no"] = o.tracking_no
    line["carrier"] = o.carrier
    line["occurred_at"] = iso(scan.at, place.offset_min if place is not None else CHINA)
    line["status"] = scan.status
    if scan.sub is not None:
        line["substatus"] = scan.sub
    if place is not None:
        line["location"] = place.location()
    if scan.operator is not None:
        line["operator_id"] = scan.operator
    if scan.device is not None:
        line["device_id"] = scan.device
    if scan.vehicle is not None:
        line["vehicle_id"] = scan.vehicle
    if scan.condition is not None:
        line["condition"] = scan.condition
    line["description"] = scan.note or describe(scan)
    if scan.raw is not None:
        line["raw"] = scan.raw
    line["received_at"] = iso(arrival, CHINA)
    return line


def describe(scan: Scan) -> str:
    """The carrier-style sentence for a routine scan (special ones carry their own note)."""
    name = scan.facility.name if scan.facility else ""
    sub = scan.sub
    if sub == "arrived":
        return f"快件已到达【{name}】"
    if sub == "unloaded":
        return f"快件已到达【{name}】，卸车完成"
    nxt = scan.towards.name if scan.towards else ""
    if sub == "sorting":
        return f"快件正在【{name}】分拣，发往【{nxt}】"
    if sub == "loaded":
        return f"快件已装车【{scan.vehicle}】，准备发往【{nxt}】"
    if sub == "departed":
        return f"快件已从【{name}】发出，下一站【{nxt}】"
    if scan.status == "picked_up":
        courier = people.courier_name(scan.operator) if scan.operator else "快递员"
        return f"快件已由【{name}】揽收，揽收员：{courier}"
    return f"快件状态更新：{scan.status}"


def clock_line(ts: int) -> Line:
    return {"type": "clock", "at": timing.iso(ts, CHINA)}

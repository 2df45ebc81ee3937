"""The end of a journey: customs at the border, the delivery round and the signature.

Delivery rounds start at 08:00-09:30 local time; a parcel reaching its station in the
evening goes out the next morning. Most are signed for at the door, some wait in a parcel
locker (驿站) until the recipient collects them, a few fail a first attempt and go out
again the next day. High-value parcels are always handed over in person with an identity
check and a photo, recorded in ``raw.pod`` - the proof that ``pod_unverified`` looks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parcelguard.simulator import people, timing
from parcelguard.simulator.timing import DAY, HOUR, MINUTE


class Stopped(Exception):
    """The journey ends here (a parcel customs keep for good)."""


if TYPE_CHECKING:
    from parcelguard.simulator.journey import Journey, Scan
    from parcelguard.simulator.network import Facility


def customs(j: Journey, node: Facility, start: int, export: bool) -> Scan:
    """Declaration, inspection and release at ``node``; a hold when the twist says so."""
    stage = "出口" if export else "进口"
    sub = j.add(start + j.minutes(10, 40), "customs", "customs_submitted", node,
                note=f"快件已在【{node.name}】提交{stage}海关申报")
    prog = j.add(sub.at + j.minutes(30, 120), "customs", "customs_in_progress", node,
                 note=f"{stage}海关查验中")
    twist = j.twist
    if twist is not None and twist.kind == "customs_hold" and twist.export == export:
        held = j.add(prog.at + j.minutes(120, 480), "customs", "customs_held", node,
                     note=f"{stage}海关扣留待查，原因：需补充申报材料")
        j.facts["customs"] = {"facility": node, "held": held, "cleared": None}
        if not twist.cleared:
            raise Stopped
        done = j.add(held.at + round(twist.hours * HOUR), "customs", "customs_cleared", node,
                     note=f"补充材料审核通过，{stage}海关已放行")
        j.facts["customs"]["cleared"] = done
        return done
    lo, hi = (60, 360) if export else (120, 600)
    return j.add(prog.at + j.minutes(lo, hi), "customs", "customs_cleared", node,
                 note=f"{stage}海关已放行")


def deliver(j: Journey, arrived: Scan) -> None:
    o = j.order
    station, off = o.dest_station, o.dest_station.offset_min
    out_at = _round_start(j, arrived.at, off)
    late = j.is_twist("late_delivery")
    if late:
        out_at = _hold(j, arrived, out_at)
    op, dev = j.staff.courier(station)
    _out(j, out_at, op, dev)
    if o.last_mile == "failed" and not late:
        fail = j.add(out_at + j.minutes(60, 360), "failed_attempt", None, None, spot=o.doorstep,
                     operator=op, device=dev,
                     note="派送不成功，原因：收件人电话无人接听，将于次日再次派送")
        out_at = timing.at_hour(fail.at, off, 8 + j.rng.uniform(0, 1.5), 1)
        _out(j, out_at, op, dev)
    if o.last_mile == "locker" and o.locker is not None and not late:
        _locker(j, o.locker, out_at, op, dev)
    else:
        _doorstep(j, out_at, op, dev)


def _out(j: Journey, at: int, op: str, dev: str) -> None:
    name = people.courier_name(op)
    j.add(at, "out_for_delivery", None, j.order.dest_station, operator=op, device=dev,
          note=f"快递员【{name}】正在派送，请保持电话畅通")


def _round_start(j: Journey, arrived: int, off: int) -> int:
    days = 0 if timing.local_hour(arrived, off) < 7.0 else 1
    start = timing.at_hour(arrived, off, 8 + j.rng.uniform(0, 1.5), days)
    return max(start, arrived + 30 * MINUTE)


def _hold(j: Journey, arrived: Scan, out_at: int) -> int:
    """A station swamped with parcels: the round slips past the promise, with daily notes."""
    station, off = j.order.dest_station, j.order.dest_station.offset_min
    extra = 1 if j.rng.random() < 0.4 else 0
    late_out = timing.at_hour(j.order.promised_by, off, 8 + j.rng.uniform(0, 1.5), 1 + extra)
    out_at = max(out_at, late_out)
    op, dev = j.staff.courier(station)
    day = timing.at_hour(arrived.at, off, 9.5, 1)
    while day + 2 * HOUR < out_at:
        j.add(day + j.minutes(-30, 30), "in_transit", "delayed", station, operator=op, device=dev,
              note="因派送网点爆仓，快件延误派送，给您带来不便敬请谅解")
        day += DAY
    j.facts["late"] = {"station": station, "arrived": arrived}
    return out_at


def _doorstep(j: Journey, out_at: int, op: str, dev: str) -> None:
    o = j.order
    wrong = j.is_twist("wrong_recipient")
    raw: dict[str, object] | None = None
    if o.category == "high_value":
        signer = "门卫代收" if wrong else "本人（已核验身份证件）"
        pod: dict[str, object] = {"signer": signer, "id_verified": not wrong}
        if not wrong:
            pod["photo"] = f"POD-{o.tracking_no}.jpg"
        raw = {"pod": pod}
    else:
        signer = j.rng.pick(people.SIGNERS)
    done = j.add(out_at + j.minutes(30, 480), "delivered", None, None, spot=o.doorstep,
                 operator=op, device=dev, raw=raw,
                 note=f"已签收，签收人：{signer}。感谢使用，期待再次为您服务")
    if wrong:
        days = j.rng.whole(1, 3)  # the recipient calls in office hours, a few days later
        report_at = timing.at_hour(done.at, o.dest_station.offset_min, j.rng.uniform(9, 21), days)
        report = j.add(report_at, "exception", "misdelivered",
                       o.dest_station, operator=op, device=dev, condition=None,
                       note="客户反馈未收到快件，经核实为错投，正在追回")
        j.facts["wrong"] = {"delivered": done, "reported": report}


def _locker(j: Journey, locker: Facility, out_at: int, op: str, dev: str) -> None:
    off = locker.offset_min
    code = f"{j.rng.whole(1, 29)}-{j.rng.whole(1, 5)}-{j.rng.whole(1000, 9998)}"
    put = j.add(out_at + j.minutes(30, 240), "available_for_pickup", None, locker, operator=op,
                device=dev, note=f"快件已存放至【{locker.name}】，请凭取件码{code}及时取件")
    got = put.at + j.minutes(60, 720)
    hour = timing.local_hour(got, off)
    if hour >= 22 or hour < 7:
        got = timing.at_hour(got, off, 7.5 + j.rng.uniform(0, 3), 1 if hour >= 22 else 0)
    got = min(got, put.at + 16 * timing.HOUR)  # collected within 16 h: 18 h uncollected is an alert
    j.add(got, "delivered", None, locker, note="已签收，签收人：本人（驿站取件）")

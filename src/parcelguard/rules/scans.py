"""Rules on scans: conditions, carrier exceptions, customs, route, proof of delivery, and the
timers that watch for what does *not* happen (dwell, silence, loss, customs, lateness).

Each timer is armed from event time, so an alert opens *at* its deadline on the event-time
clock, whenever the clock gets there, not when a late scan finally turns up.
"""

from __future__ import annotations

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, Signal
from parcelguard.domain.custody import Holder, HolderKind
from parcelguard.domain.events import Condition
from parcelguard.domain.status import TAXONOMY, Effect, Status
from parcelguard.domain.tracking import Latest, Recorded
from parcelguard.rules.watch import HOUR, MINUTE, Watch

BAD = frozenset({Condition.DAMAGED, Condition.WET, Condition.OPENED, Condition.MISSING_ITEMS})
HELD = "customs_held"
CLEARED = "customs_cleared"
AT_STATION = "arrived_at_station"  # the delivery station (Kdniao 205): parcels wait for a round
JOURNEY_TIMERS = ("dwell_exceeded", "no_update", "lost_suspected", "customs_delay")


def on_register(w: Watch, at_us: int) -> None:
    """A new shipment: lateness is watched from now, and so is a pickup that never happens."""
    w.registered_us = at_us
    if w.promised_by_us is not None:
        w.arm("delivery_late", w.promised_by_us)
    _arm_silence(w, Status.INFO_RECEIVED, at_us)


def on_event(w: Watch, rec: Recorded, holder: Latest[Holder] | None,
             now_us: int | None = None) -> list[Signal]:
    """``now_us``: the event-time clock, when a late scan changes what is known now."""
    e = rec.event
    at = times.to_us(e.occurred_at)
    out: list[Signal] = []
    if e.condition in BAD:
        out.append(w.raise_(Kind.DAMAGED, Kind.DAMAGED, at, Severity.CRITICAL, _facts(rec)))
    if rec.effect is Effect.REGRESSION:
        out.append(w.raise_(Kind.STATUS_REGRESSION, Kind.STATUS_REGRESSION, at, Severity.WARNING,
                            {**_facts(rec), "current_status": rec.status_after.value}))
    if w.route_plan and e.facility_id and e.facility_id not in w.route_plan:
        out.append(w.raise_(Kind.MISROUTED, Kind.MISROUTED, at, Severity.WARNING,
                            {**_facts(rec), "route_plan": sorted(w.route_plan)}))
    out += _exception(w, rec, at)
    out += _customs(w, rec, at)
    if e.status is Status.DELIVERED and rec.effect is Effect.APPLIED:
        out += _delivered(w, rec, at)
    if not rec.late:
        out += _progress(w, rec, at, holder)
    else:
        out += _late(w, rec, at, max(at, w.last_event_us or at, now_us or at))
    return out


def _facts(rec: Recorded) -> dict[str, object]:
    e = rec.event
    return {"event_id": e.event_id, "occurred_at": times.iso(e.occurred_at),
            "status": e.status.value, "substatus": e.substatus, "facility_id": e.facility_id,
            "operator_id": e.operator_id,
            "device_id": e.device_id, "vehicle_id": e.vehicle_id,
            "condition": e.condition.value if e.condition else None,
            "carrier_code": e.carrier_code, "description": e.description}


def _exception(w: Watch, rec: Recorded, at: int) -> list[Signal]:
    if rec.effect is not Effect.APPLIED or rec.late:
        return []  # a late scan says nothing about now
    if rec.event.status is Status.EXCEPTION:
        return [w.raise_(Kind.CARRIER_EXCEPTION, Kind.CARRIER_EXCEPTION, at, Severity.WARNING,
                         _facts(rec))]
    return w.clear(Kind.CARRIER_EXCEPTION, Kind.CARRIER_EXCEPTION, at)


def _customs(w: Watch, rec: Recorded, at: int) -> list[Signal]:
    e, out = rec.event, []
    if e.status is Status.CUSTOMS and e.substatus == HELD and not rec.late:  # not moved on
        out.append(w.raise_(Kind.CUSTOMS_HELD, Kind.CUSTOMS_HELD, at, Severity.CRITICAL, _facts(rec)))
    in_customs = e.status is Status.CUSTOMS and e.substatus != CLEARED and not rec.late
    if in_customs and w.customs_since_us is None:
        w.customs_since_us = at
        w.arm(Kind.CUSTOMS_DELAY, at + int(w.profile.customs_clear_within_hours * HOUR))
    elif (not in_customs and w.customs_since_us is not None and rec.effect is Effect.APPLIED
          and not rec.late):
        w.customs_since_us = None  # cleared, or moved on past customs
        w.disarm(Kind.CUSTOMS_DELAY)
        out += w.clear(Kind.CUSTOMS_DELAY, Kind.CUSTOMS_DELAY, at)
        out += w.clear(Kind.CUSTOMS_HELD, Kind.CUSTOMS_HELD, at)
    return out


def _delivered(w: Watch, rec: Recorded, at: int) -> list[Signal]:
    w.disarm("delivery_late")
    out: list[Signal] = []
    since = w.raised.get(Kind.DELIVERY_LATE)
    if since is not None and w.promised_by_us is not None and at <= w.promised_by_us:
        # the scan came in after the promise passed, but it says the parcel was on time
        out += w.clear(Kind.DELIVERY_LATE, Kind.DELIVERY_LATE, max(at, since))
    if not w.profile.require_verified_pod:
        return out
    pod = (rec.event.raw or {}).get("pod")
    verified = isinstance(pod, dict) and pod.get("id_verified") is True
    if verified:
        return out
    out.append(w.raise_(Kind.POD_UNVERIFIED, Kind.POD_UNVERIFIED, at, Severity.CRITICAL,
                        {**_facts(rec), "pod": pod}))
    return out


def _progress(w: Watch, rec: Recorded, at: int, holder: Latest[Holder] | None) -> list[Signal]:
    """The newest scan: silence and loss re-armed, dwell followed, journey end noted."""
    out: list[Signal] = []
    w.last_event_us = max(w.last_event_us or at, at)
    w.status = rec.status_after
    if w.pickup_us is None and rec.event.status not in (Status.INFO_RECEIVED, Status.UNKNOWN):
        w.pickup_us = at  # the journey's clock starts at the first scan of the parcel itself
    if w.status is Status.DELIVERED and w.delivered_us is None:
        w.delivered_us = at
    out += w.clear(Kind.NO_UPDATE, Kind.NO_UPDATE, at)
    out += w.clear(Kind.LOST_SUSPECTED, Kind.LOST_SUSPECTED, at)
    if TAXONOMY[w.status].terminal:
        return out + _end(w, at)
    _arm_silence(w, w.status, w.last_event_us)
    if Kind.CUSTOMS_HELD in w.raised:
        w.disarm(Kind.LOST_SUSPECTED)  # held by customs: its whereabouts are known
    else:
        lost_after = (w.profile.lost_after_exception_hours if w.status is Status.EXCEPTION
                      else w.profile.lost_after_hours)
        w.arm(Kind.LOST_SUSPECTED, w.last_event_us + int(lost_after * HOUR))
    if rec.event.substatus == AT_STATION and rec.event.facility_id:
        w.stations.add(rec.event.facility_id)
    out += _follow_dwell(w, holder, at)
    return out


def _late(w: Watch, rec: Recorded, at: int, now: int) -> list[Signal]:
    """A scan from before the newest one (a PDA's upload, a carrier's push newest first): it
    may start the journey earlier, and where it changes the parcel's status (a delivery
    recorded late), the watch follows."""
    if rec.event.status not in (Status.INFO_RECEIVED, Status.UNKNOWN) and (
            w.pickup_us is None or at < w.pickup_us):
        w.pickup_us = at
    if rec.status_after is w.status or w.done:
        return []
    w.status = rec.status_after
    if not TAXONOMY[w.status].terminal:
        _arm_silence(w, w.status, w.last_event_us or at)
        return []
    if w.status is Status.DELIVERED and w.delivered_us is None:
        w.delivered_us = at
    # what was open stays as it was until now, when the journey's end became known
    out = w.clear(Kind.NO_UPDATE, Kind.NO_UPDATE, now)
    out += w.clear(Kind.LOST_SUSPECTED, Kind.LOST_SUSPECTED, now)
    return out + _end(w, now)


def _end(w: Watch, at: int) -> list[Signal]:
    """The journey is over: its timers go, and so do the worries about its sensors."""
    out: list[Signal] = []
    w.done = True
    for name in [n for n in w.timers if n in JOURNEY_TIMERS or n.startswith("sensor_gap:")]:
        w.disarm(name)
    for rule in [r for r in w.raised if r.startswith(f"{Kind.SENSOR_GAP}:")]:
        out += w.clear(rule, Kind.SENSOR_GAP, at)
    out += _leave_facility(w, at)
    return out


def _arm_silence(w: Watch, status: Status, since_us: int) -> None:
    hours = w.profile.silence_for(status)
    if hours is None:
        w.disarm(Kind.NO_UPDATE)
    else:
        w.arm(Kind.NO_UPDATE, since_us + int(hours * HOUR))


def _follow_dwell(w: Watch, holder: Latest[Holder] | None, at: int) -> list[Signal]:
    at_facility = holder is not None and holder.value.kind is HolderKind.FACILITY
    if not at_facility or holder is None or holder.value.id in w.stations:
        return _leave_facility(w, at)  # the delivery station keeps parcels overnight by design
    place = (holder.value.id, holder.key)
    if w.dwell is not None and w.dwell[0] == place[0]:
        return []  # still there: the clock keeps running from the first scan
    out = _leave_facility(w, at)
    w.dwell = place
    w.arm(Kind.DWELL_EXCEEDED, place[1] + int(w.profile.dwell_max_min * MINUTE))
    return out


def _leave_facility(w: Watch, at: int) -> list[Signal]:
    if w.dwell is None:
        return []
    w.dwell = None
    w.disarm(Kind.DWELL_EXCEEDED)
    return w.clear(Kind.DWELL_EXCEEDED, Kind.DWELL_EXCEEDED, at)


def on_due(w: Watch, name: str, due_us: int) -> list[Signal]:
    """A scan timer reached its deadline on the event-time clock."""
    w.disarm(name)
    if name == Kind.DWELL_EXCEEDED and w.dwell is not None:
        facility, since = w.dwell
        return [w.raise_(Kind.DWELL_EXCEEDED, Kind.DWELL_EXCEEDED, due_us, Severity.WARNING, {
            "facility_id": facility, "arrived_at": times.iso_us(since),
            "deadline": times.iso_us(due_us), "dwell_max_min": w.profile.dwell_max_min})]
    if name == Kind.NO_UPDATE and not w.done:
        return [w.raise_(Kind.NO_UPDATE, Kind.NO_UPDATE, due_us, Severity.WARNING, {
            "status": w.status.value, "last_update": _iso(w.last_event_us),
            "silence_hours": w.profile.silence_for(w.status)})]
    if name == Kind.LOST_SUSPECTED and not w.done:
        return [w.raise_(Kind.LOST_SUSPECTED, Kind.LOST_SUSPECTED, due_us, Severity.CRITICAL, {
            "status": w.status.value, "last_sighting": _iso(w.last_event_us)})]
    if name == Kind.CUSTOMS_DELAY and w.customs_since_us is not None:
        return [w.raise_(Kind.CUSTOMS_DELAY, Kind.CUSTOMS_DELAY, due_us, Severity.WARNING, {
            "customs_since": times.iso_us(w.customs_since_us),
            "clear_within_hours": w.profile.customs_clear_within_hours})]
    if name == "delivery_late" and not w.done:
        return [w.raise_(Kind.DELIVERY_LATE, Kind.DELIVERY_LATE, due_us, Severity.WARNING, {
            "promised_by": _iso(w.promised_by_us), "status": w.status.value})]
    return []


def _iso(us: int | None) -> str | None:
    return None if us is None else times.iso_us(us)

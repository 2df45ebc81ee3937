"""delay_risk: warn while there is still time to act, when the ETA says the promise will slip.

The estimate is re-made at every scan and, in between (a stuck parcel sends no scans), when the
lane's history says the risk of a parcel that has gone quiet will reach the threshold (every
three hours for estimates that cannot say), so that risk grows by itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, Signal
from parcelguard.domain.disruptions import Disruption
from parcelguard.domain.status import Status
from parcelguard.rules.eta import Estimate, LaneModel
from parcelguard.rules.watch import HOUR, MINUTE, Watch

EVERY = 3 * HOUR  # between scans, when the estimate cannot say when it will change its mind
REFRESH = 12 * HOUR  # at the latest, so the ETA shown moves on while nothing is heard
HYSTERESIS = 0.2  # clear only well below the threshold, so a borderline parcel does not flap
HELD_H = 48.0  # what a customs hold usually adds
# hours the last mile usually takes from the scan that began the stage: a round takes a few
# hours, a locker is usually emptied the same day, a failed attempt is tried again on the next
# morning's round
LAST_MILE = {Status.OUT_FOR_DELIVERY: 4.0, Status.AVAILABLE_FOR_PICKUP: 6.0,
             Status.FAILED_ATTEMPT: 16.0}


def assess(w: Watch, model: LaneModel, now_us: int,
           delays: Sequence[Disruption] = ()) -> list[Signal]:
    """Re-estimate the arrival; raise or clear delay_risk; arm the next look. ``delays``: the
    disruptions on the parcel's way, each adding its expected delay to the estimate."""
    w.disarm("eta")
    start = w.pickup_us or w.registered_us
    if w.done:  # the journey is over: the prediction has nothing left to warn about
        return w.clear(Kind.DELAY_RISK, Kind.DELAY_RISK, now_us)
    if start is None:
        return []
    extra = sum(d.extra_h for d in delays)
    w.delayed_by = tuple(d.disruption_id for d in delays)
    est = _shifted(_estimate(w, model, start, now_us, extra), extra)
    w.eta = (start + int(est.median_h * HOUR), start + int(est.low_h * HOUR),
             start + int(est.high_h * HOUR), est.basis)
    threshold = w.profile.delay_risk_probability
    out = _judge(w, est, now_us, threshold, delays)
    if w.promised_by_us is None or now_us < w.promised_by_us:  # after it, delivery_late speaks
        look = _next_look(w, model, est, start, now_us, threshold, extra)
        ends = [d.ends_us for d in delays if d.ends_us > now_us]
        w.arm("eta", min([look, *ends]))  # a disruption ending changes the estimate
    return out


def _judge(w: Watch, est: Estimate, now_us: int, threshold: float,
           delays: Sequence[Disruption]) -> list[Signal]:
    if w.promised_by_us is None or est.p_late is None or w.eta is None:
        return []
    if est.p_late >= threshold and now_us < w.promised_by_us:
        evidence: dict[str, object] = {
            "probability_late": round(est.p_late, 2), "promised_by": times.iso_us(w.promised_by_us),
            "eta": times.iso_us(w.eta[0]), "eta_range": [times.iso_us(w.eta[1]),
                                                         times.iso_us(w.eta[2])],
            "basis": est.basis, "samples": est.samples, "status": w.status.value}
        if delays:  # name what makes it late
            evidence["disruption"] = "; ".join(d.title for d in delays)
            evidence["disruptions"] = [{"disruption_id": d.disruption_id, "kind": d.kind.value,
                                        "title": d.title, "extra_delay_hours": d.extra_h}
                                       for d in delays]
        return [w.raise_(Kind.DELAY_RISK, Kind.DELAY_RISK, now_us, Severity.WARNING, evidence)]
    if est.p_late < threshold - HYSTERESIS:
        return w.clear(Kind.DELAY_RISK, Kind.DELAY_RISK, now_us)
    return []


def _next_look(w: Watch, model: LaneModel, est: Estimate, start: int, now_us: int,
               threshold: float, extra_h: float = 0.0) -> int:
    """When to estimate again if nothing is heard. The lane model can say exactly when its
    lateness will reach the threshold, so the look is then (at the latest after REFRESH); the
    last-mile estimate changes its mind an hour before the promise; the customs one and the
    ETA at the door are looked at every EVERY."""
    promised = w.promised_by_us
    if promised is None or Kind.DELAY_RISK in w.raised:
        return now_us + REFRESH  # nothing to warn about, or warned already: only the ETA moves
    if est.basis in ("lane", "band", "distance"):
        at = model.crossing(w.lane, w.band, w.km, (promised - start) / HOUR - extra_h,
                            threshold)
        when = start + math.ceil(at * HOUR)
        if when > now_us:  # else past it already (rounding): look as usual
            return min(when, now_us + REFRESH)
    if est.basis == "last_mile" and now_us < promised - HOUR:
        # its lateness changes only when the promise is less than its hour away
        return min(promised - HOUR + MINUTE, now_us + EVERY)
    return now_us + EVERY  # at the door or held by customs: those estimates move by the hour


def _shifted(est: Estimate, extra_h: float) -> Estimate:
    """The estimate made against a promise ``extra_h`` earlier, moved ``extra_h`` later: the
    same odds of lateness as the whole journey taking that much longer."""
    if not extra_h:
        return est
    return Estimate(est.median_h + extra_h, est.low_h + extra_h, est.high_h + extra_h,
                    est.p_late, est.basis, est.samples)


def _estimate(w: Watch, model: LaneModel, start: int, now_us: int,
              extra_h: float = 0.0) -> Estimate:
    elapsed = max(0.0, (now_us - start) / HOUR)
    promise = None if w.promised_by_us is None else (w.promised_by_us - start) / HOUR - extra_h
    if Kind.CUSTOMS_HELD in w.raised:  # held: nothing moves until customs lets go
        median = elapsed + HELD_H
        p_held = None if promise is None else (0.9 if promise < median else 0.3)
        return Estimate(median, elapsed + HELD_H / 2, elapsed + HELD_H * 3, p_held, "customs_hold", 0)
    last_mile = LAST_MILE.get(w.status)
    if last_mile is not None:  # at the door already: what is left is the last mile
        since = elapsed if w.last_event_us is None else (w.last_event_us - start) / HOUR
        return _last_mile(last_mile, since, elapsed, promise)
    return model.estimate(w.lane, w.band, w.km, elapsed, promise)


def _last_mile(hours: float, since: float, elapsed: float, promise: float | None) -> Estimate:
    """The stage's usual ``hours`` count from its scan (``since``), not from each look: a parcel
    that failed an attempt in the morning is due on the next morning's round however often it
    is looked at overnight. Once that is past, it is due any moment now (at least an hour)."""
    soonest = elapsed + 1
    median = max(since + hours, soonest)
    p_late = None if promise is None else (1.0 if promise < soonest else
                                           (0.8 if promise < median else 0.0))
    return Estimate(median, soonest, max(since + hours * 3, median), p_late, "last_mile", 0)


def learn(w: Watch, model: LaneModel) -> None:
    """A delivered parcel teaches its lane how long the journey takes."""
    if w.pickup_us is not None and w.delivered_us is not None:
        model.learn(w.lane, w.band, (w.delivered_us - w.pickup_us) / HOUR)

"""delay_risk and the ETA: when the predicted arrival passes the promise, on the event-time clock.

The lane's history is 30 delivered parcels that took 10, 11, ..., 39 hours from pickup; the
parcel is promised 30 hours after its pickup. Of the past parcels still on their way after e
hours, the share later than 30 hours is 9 / (count slower than e): 0.3 at pickup, 0.5 (the
profile's threshold) once 21 hours have passed with nothing heard.
"""

from __future__ import annotations

import pytest

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, State
from parcelguard.rules import eta
from parcelguard.rules.watch import HOUR
from parcelguard.services.clock import ManualClock
from tests.unit.test_rules import TN, Rig, t, us

H = 60  # minutes
LANE = "上海|北京|sf|general"


@pytest.fixture
def rig(mem: bootstrap.System, clock: ManualClock) -> Rig:
    for hours in range(10, 40):
        mem.ingestor.alerting.lanes.learn(LANE, "band", float(hours))
    return Rig(mem, clock)


def picked_up(rig: Rig) -> None:
    rig.register(at=0, promised_by=times.iso(t(30 * H)))
    rig.scan(0, "picked_up", facility="STN-SHA-01")


def test_the_lane_model_is_conditional_on_the_time_already_spent() -> None:
    model = eta.LaneModel()
    for hours in range(10, 40):
        model.learn(LANE, "band", float(hours))
    fresh = model.estimate(LANE, "band", 1000.0, 0.0, 30.0)
    assert (fresh.basis, fresh.samples, fresh.p_late) == ("lane", 30, pytest.approx(0.3))
    assert (fresh.median_h, fresh.low_h, fresh.high_h) == (24.0, 13.0, 36.0)
    late = model.estimate(LANE, "band", 1000.0, 21.0, 30.0)
    assert late.p_late == pytest.approx(0.5)
    assert late.median_h == 30.0
    unseen = model.estimate("x|y|sf|general", "300|False", 200.0, 0.0, 30.0)
    assert (unseen.basis, unseen.p_late) == ("distance", None)  # too rough to warn on
    # when, with nothing heard, the risk reaches 0.5: the engine looks again exactly then
    assert model.crossing(LANE, "band", 1000.0, 30.0, 0.5) == 21.0
    assert model.crossing(LANE, "band", 1000.0, 30.0, 0.2) == 0.0  # 0.3 already
    # one past parcel in 30 was later than 38 h: the tail is too thin to follow after 35 h,
    # where the estimate switches to its fallback; the engine looks again there
    assert model.crossing(LANE, "band", 1000.0, 38.0, 0.5) == 35.0
    # the rule of thumb for 900 km: a 48 h median; slower than that, it reaches 0.5 when its
    # median (elapsed + 4 h) is 60 / (1.35 - 0.35) = 60 h, so at 56 h of a 60 h promise
    rough = model.crossing("x|y|sf|general", "800|False", 900.0, 60.0, 0.5)
    assert rough == pytest.approx(56.0)
    assert model.estimate("x|y|sf|general", "800|False", 900.0, rough, 60.0).p_late == (
        pytest.approx(0.5))


def test_delay_risk_opens_when_the_silence_makes_the_risk_reach_the_threshold(
    rig: Rig,
) -> None:
    picked_up(rig)
    rig.advance(20 * H)
    assert rig.alerts(Kind.DELAY_RISK) == []
    rig.advance(21 * H + 30)  # the next look was armed for when the risk reaches 0.5: 21 h
    opened = rig.only(Kind.DELAY_RISK)
    assert (opened.opened_at_us, opened.severity, opened.state) == (
        us(21 * H), Severity.WARNING, State.OPEN)
    assert opened.evidence["probability_late"] == 0.5
    assert opened.evidence["basis"] == "lane"
    assert opened.evidence["samples"] == 30
    assert opened.evidence["promised_by"] == times.iso_us(us(30 * H))
    assert opened.evidence["eta"] == times.iso_us(us(30 * H))


def test_a_scan_that_keeps_the_risk_repeats_into_the_open_alert(rig: Rig) -> None:
    picked_up(rig)
    rig.advance(21 * H + 30)
    rig.scan(21 * H + 40, "in_transit", facility="HUB-PEK")  # slower than most: still at risk
    again = rig.only(Kind.DELAY_RISK)
    assert (again.opened_at_us, again.repeats, again.state) == (us(21 * H), 1, State.OPEN)


def test_delay_risk_clears_when_the_parcel_is_out_for_delivery_in_time(rig: Rig) -> None:
    picked_up(rig)
    rig.advance(21 * H + 30)
    rig.scan(21 * H + 40, "out_for_delivery", facility="STN-PEK-03")  # 4 h to go: in time
    cleared = rig.only(Kind.DELAY_RISK)
    assert (cleared.state, cleared.closed_at_us) == (State.CLEARED, us(21 * H + 40))


def test_no_delay_risk_for_a_parcel_on_pace_and_the_eta_is_stored(rig: Rig) -> None:
    picked_up(rig)
    rig.scan(8 * H, "in_transit", facility="HUB-SHA")
    rig.scan(16 * H, "out_for_delivery", facility="STN-PEK-03")
    rig.scan(18 * H, "delivered", facility="STN-PEK-03")
    rig.advance(40 * H)
    assert rig.alerts(Kind.DELAY_RISK) == []
    with rig.system.store.unit_of_work(write=False) as uow:
        record = uow.shipments.get("acme", TN)
    assert record is not None
    assert record.state.eta_basis == "last_mile"
    assert record.state.eta_us == us(16 * H) + 4 * HOUR  # a round takes about 4 hours



def test_a_failed_attempt_waits_overnight_for_the_next_round_without_delay_risk(rig: Rig) -> None:
    rig.register(at=0, promised_by=times.iso(t(64 * H)))
    rig.scan(0, "picked_up", facility="STN-SHA-01")
    rig.scan(34 * H, "out_for_delivery", facility="STN-PEK-03")
    rig.scan(36 * H, "failed_attempt")  # tried again on the next round: due 16 h later, at 52 h
    # looked at every 3 hours overnight: the 16 hours count from the attempt, not from each look
    rig.advance(57 * H)
    assert rig.alerts(Kind.DELAY_RISK) == []
    rig.scan(57 * H + 30, "out_for_delivery", facility="STN-PEK-03")
    rig.scan(59 * H, "delivered")
    assert rig.alerts(Kind.DELAY_RISK) == []


def test_a_failed_attempt_on_the_promised_day_raises_delay_risk_at_once(rig: Rig) -> None:
    rig.register(at=0, promised_by=times.iso(t(44 * H)))
    rig.scan(0, "picked_up", facility="STN-SHA-01")
    rig.scan(34 * H, "out_for_delivery", facility="STN-PEK-03")
    rig.scan(36 * H, "failed_attempt")  # the next round, 16 h later, is after the promise
    opened = rig.only(Kind.DELAY_RISK)
    assert (opened.opened_at_us, opened.evidence["probability_late"]) == (us(36 * H), 0.8)
    assert opened.evidence["eta"] == times.iso_us(us(52 * H))


def test_a_locker_parcel_is_due_hours_after_it_was_put_there_not_after_each_look(
    rig: Rig,
) -> None:
    rig.register(at=0, promised_by=times.iso(t(48 * H)))
    rig.scan(0, "picked_up", facility="STN-SHA-01")
    rig.scan(33 * H, "out_for_delivery", facility="STN-PEK-03")
    rig.scan(36 * H, "available_for_pickup", facility="LCK-PEK-03")  # collected by about 42 h
    rig.advance(46 * H + 59)
    assert rig.alerts(Kind.DELAY_RISK) == []
    rig.advance(47 * H + 30)  # still there an hour before the promise: it cannot make it now
    opened = rig.only(Kind.DELAY_RISK)
    assert opened.opened_at_us == us(47 * H + 1)
    assert opened.evidence["probability_late"] == 1.0


def test_delay_risk_clears_when_the_parcel_is_delivered(rig: Rig) -> None:
    rig.register(at=0, promised_by=times.iso(t(48 * H)))
    rig.scan(0, "picked_up", facility="STN-SHA-01")
    rig.scan(33 * H, "out_for_delivery", facility="STN-PEK-03")
    rig.scan(36 * H, "available_for_pickup", facility="LCK-PEK-03")
    rig.advance(47 * H + 30)
    assert rig.only(Kind.DELAY_RISK).state is State.OPEN
    rig.scan(47 * H + 40, "delivered")  # collected after all, in time
    risk = rig.only(Kind.DELAY_RISK)
    assert (risk.state, risk.closed_at_us) == (State.CLEARED, us(47 * H + 40))

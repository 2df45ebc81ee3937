"""Rules on scans, through the real writer on the event-time clock: for each kind, the exact
moment it opens, what clears it, and that a repeat updates the open alert instead of opening
another. Minutes count from T0; see :class:`tests.unit.test_rules.Rig`.
"""

from __future__ import annotations

from typing import Any

import pytest

from parcelguard import bootstrap
from parcelguard.domain import alerts as al
from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, State
from parcelguard.services.clock import ManualClock
from parcelguard.services.messages import AlertAction, RaiseAlert, Result
from tests.unit.test_rules import HOUR, TN, Rig, iso, t, us


@pytest.fixture
def rig(mem: bootstrap.System, clock: ManualClock) -> Rig:
    return Rig(mem, clock)


def arrive(rig: Rig, minutes: float, facility: str = "HUB-SHA", **kw: Any) -> None:
    rig.scan(minutes, facility=facility, substatus="arrived", **kw)


def depart(rig: Rig, minutes: float, facility: str = "HUB-SHA", **kw: Any) -> None:
    rig.scan(minutes, facility=facility, substatus="departed", vehicle_id="沪A12345", **kw)


# ---- dwell_exceeded ----


def test_dwell_alert_opens_at_arrival_plus_120_min_even_when_the_departure_scan_arrives_hours_later(
    rig: Rig,
) -> None:
    rig.register()
    arrive(rig, 0)
    depart(rig, 290, received=300)  # the deadline passed 3 hours before this scan arrived
    dwell = rig.only(Kind.DWELL_EXCEEDED)
    assert dwell.opened_at_us == us(120)
    assert dwell.alert_id == al.alert_id("acme", TN, "dwell_exceeded", us(120))
    assert dwell.evidence == {"facility_id": "HUB-SHA", "arrived_at": "2026-11-20T12:00:00Z",
                              "deadline": "2026-11-20T14:00:00Z", "dwell_max_min": 120.0}
    assert (dwell.state, dwell.closed_at_us) == (State.CLEARED, us(290))  # left at 290
    opened_and_closed = [h for h in rig.history(Kind.DWELL_EXCEEDED) if h[0] != "escalated"]
    assert opened_and_closed == [("opened", 120), ("cleared", 290)]


def test_dwell_alert_opens_at_the_deadline_on_a_clock_tick_alone(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0)
    rig.advance(119)
    assert rig.alerts(Kind.DWELL_EXCEEDED) == []
    rig.advance(120)
    dwell = rig.only(Kind.DWELL_EXCEEDED)
    assert (dwell.state, dwell.severity, dwell.opened_at_us) == (State.OPEN, Severity.WARNING,
                                                                 us(120))


def test_no_dwell_alert_when_the_parcel_leaves_before_the_deadline(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0)
    depart(rig, 119)
    rig.advance(24 * HOUR)
    assert rig.alerts(Kind.DWELL_EXCEEDED) == []


def test_more_scans_at_the_same_facility_neither_restart_the_dwell_clock_nor_open_another_alert(
    rig: Rig,
) -> None:
    rig.register()
    arrive(rig, 0)
    rig.scan(60, facility="HUB-SHA", substatus="sorted")
    rig.advance(120)
    rig.scan(150, facility="HUB-SHA", substatus="sorted")
    rig.advance(400)
    dwell = rig.only(Kind.DWELL_EXCEEDED)
    assert (dwell.state, dwell.opened_at_us, dwell.evidence["arrived_at"]) == (
        State.OPEN, us(120), iso(0))


def test_the_next_facility_clears_the_dwell_alert_and_a_new_dwell_there_opens_a_new_one(
    rig: Rig,
) -> None:
    rig.register()
    arrive(rig, 0)
    rig.advance(130)
    arrive(rig, 200, facility="HUB-PEK")  # no departure scan: the next arrival says it left
    rig.advance(320)
    first, second = rig.alerts(Kind.DWELL_EXCEEDED)
    assert (first.state, first.opened_at_us, first.closed_at_us) == (State.CLEARED, us(120), us(200))
    assert (second.state, second.opened_at_us, second.evidence["facility_id"]) == (
        State.OPEN, us(320), "HUB-PEK")
    assert second.alert_id != first.alert_id


def test_no_dwell_limit_at_a_delivery_station(rig: Rig) -> None:
    rig.register()
    rig.scan(0, facility="STA-BJ-07", substatus="arrived_at_station")
    rig.scan(30, facility="STA-BJ-07", substatus="sorted")
    rig.advance(12 * HOUR)
    assert rig.alerts(Kind.DWELL_EXCEEDED) == []


def test_a_shipments_own_dwell_max_min_overrides_its_profile(rig: Rig) -> None:
    rig.register(thresholds={"dwell_max_min": 30})
    arrive(rig, 0)
    rig.advance(29)
    assert rig.alerts(Kind.DWELL_EXCEEDED) == []
    rig.advance(30)
    dwell = rig.only(Kind.DWELL_EXCEEDED)
    assert (dwell.opened_at_us, dwell.evidence["deadline"], dwell.evidence["dwell_max_min"]) == (
        us(30), iso(30), 30.0)


def test_a_departure_scan_without_a_vehicle_stops_the_dwell_clock(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0)
    rig.scan(60, facility="HUB-SHA", substatus="departed")
    rig.advance(300)
    assert rig.alerts(Kind.DWELL_EXCEEDED) == []


def test_an_alert_is_never_closed_before_it_opened(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0)
    depart(rig, 100, received=300)
    dwell = rig.only(Kind.DWELL_EXCEEDED)
    assert dwell.state is State.CLEARED
    assert dwell.closed_at_us is not None
    assert dwell.closed_at_us >= dwell.opened_at_us


# ---- no_update ----


@pytest.mark.parametrize(("status", "hours", "where"), [
    ("available_for_pickup", 18, {"facility": "LOCKER-7"}),  # Kdniao 412
    ("out_for_delivery", 36, {"operator_id": "C-9"}),  # Kdniao 402
    ("in_transit", 48, {"facility": "HUB-SHA"}),
    ("failed_attempt", 30, {"operator_id": "C-9"}),
])
def test_no_update_opens_after_the_silence_of_its_status_and_the_next_scan_clears_it(
    rig: Rig, status: str, hours: int, where: dict[str, Any],
) -> None:
    rig.register()
    rig.scan(0, status, **where)
    rig.advance(hours * HOUR - 1)
    assert rig.alerts(Kind.NO_UPDATE) == []
    rig.advance(hours * HOUR)
    silent = rig.only(Kind.NO_UPDATE)
    assert (silent.opened_at_us, silent.severity) == (us(hours * HOUR), Severity.WARNING)
    assert silent.evidence == {"status": status, "last_update": iso(0),
                               "silence_hours": float(hours)}
    rig.scan(hours * HOUR + 30, "delivered")
    assert rig.only(Kind.NO_UPDATE).closed_at_us == us(hours * HOUR + 30)


def test_no_update_watches_a_registered_parcel_that_is_never_picked_up(rig: Rig) -> None:
    rig.register()
    rig.advance(24 * HOUR)
    silent = rig.only(Kind.NO_UPDATE)
    assert silent.opened_at_us == us(24 * HOUR)
    assert silent.evidence == {"status": "info_received", "last_update": None,
                               "silence_hours": 24.0}


def test_each_scan_restarts_the_silence_and_a_late_scan_does_not(rig: Rig) -> None:
    rig.register()
    rig.scan(0, facility="HUB-SHA")
    rig.scan(10 * HOUR, facility="HUB-NKG")
    rig.scan(5 * HOUR, facility="HUB-SZV", received=11 * HOUR)  # happened earlier: late
    rig.advance(58 * HOUR - 1)
    assert rig.alerts(Kind.NO_UPDATE) == []
    rig.advance(58 * HOUR)
    assert rig.only(Kind.NO_UPDATE).evidence["last_update"] == iso(10 * HOUR)


def test_a_delivery_recorded_late_ends_the_journey(rig: Rig) -> None:
    """A courier's PDA uploads the delivery after a later scan was known: the parcel is
    delivered, so neither silence nor loss is watched any longer."""
    rig.register()
    depart(rig, 0)
    rig.scan(10 * HOUR, "exception", facility="HUB-NKG")  # 地址不详, scanned after the fact
    rig.scan(9 * HOUR, "delivered", operator_id="C-9", received=11 * HOUR)
    rig.advance(30 * 24 * HOUR)
    assert rig.alerts(Kind.NO_UPDATE) == []
    assert rig.alerts(Kind.LOST_SUSPECTED) == []


def test_a_late_delivery_clears_the_silence_already_raised(rig: Rig) -> None:
    rig.register()
    depart(rig, 0)
    rig.scan(10 * HOUR, facility="HUB-NKG")
    rig.advance(60 * HOUR)  # no_update opened at 58 h
    rig.scan(9 * HOUR, "delivered", operator_id="C-9", received=61 * HOUR)
    silent = rig.only(Kind.NO_UPDATE)  # cleared when the delivery became known
    assert (silent.state, silent.closed_at_us) == (State.CLEARED, us(61 * HOUR))


def test_a_pickup_recorded_late_starts_the_journey_earlier(rig: Rig) -> None:
    rig.register()
    rig.scan(5 * HOUR, facility="HUB-SHA")
    rig.scan(1 * HOUR, "picked_up", operator_id="C-1", received=6 * HOUR)
    with rig.system.store.unit_of_work(write=False) as uow:
        record = uow.shipments.get("acme", TN)
    assert record is not None
    assert record.state.picked_up_at_us == us(1 * HOUR)  # the lane model learns from it


# ---- lost_suspected ----


def test_lost_suspected_opens_72_h_after_the_last_sighting_and_a_sighting_clears_it(
    rig: Rig,
) -> None:
    rig.register()
    depart(rig, 0)
    rig.advance(72 * HOUR - 1)
    assert rig.alerts(Kind.LOST_SUSPECTED) == []
    assert rig.only(Kind.NO_UPDATE).opened_at_us == us(48 * HOUR)  # the silence came first
    rig.advance(72 * HOUR)
    lost = rig.only(Kind.LOST_SUSPECTED)
    assert (lost.opened_at_us, lost.severity) == (us(72 * HOUR), Severity.CRITICAL)
    assert lost.evidence == {"status": "in_transit", "last_sighting": iso(0)}
    arrive(rig, 80 * HOUR, facility="HUB-PEK")
    assert rig.only(Kind.LOST_SUSPECTED).closed_at_us == us(80 * HOUR)
    assert rig.only(Kind.NO_UPDATE).closed_at_us == us(80 * HOUR)


def test_lost_suspected_opens_48_h_after_an_exception(rig: Rig) -> None:
    rig.register()
    rig.scan(0, "exception", facility="HUB-SHA")
    rig.advance(48 * HOUR - 1)
    assert rig.alerts(Kind.LOST_SUSPECTED) == []
    rig.advance(48 * HOUR)
    lost = rig.only(Kind.LOST_SUSPECTED)
    assert (lost.opened_at_us, lost.evidence["status"]) == (us(48 * HOUR), "exception")


def test_no_lost_suspected_while_customs_holds_the_parcel(rig: Rig) -> None:
    rig.register(category="cross_border")
    rig.scan(0, "customs", facility="CUS-PVG", substatus="customs_held")
    rig.advance(10 * 24 * HOUR)
    assert rig.alerts(Kind.LOST_SUSPECTED) == []
    rig.scan(10 * 24 * HOUR, "customs", facility="CUS-PVG", substatus="customs_cleared")
    rig.advance(13 * 24 * HOUR)  # released: lost is watched again, from the release
    assert rig.only(Kind.LOST_SUSPECTED).opened_at_us == us((10 * 24 + 72) * HOUR)


# ---- customs_delay and customs_held ----


def test_customs_delay_opens_48_h_after_customs_begins_and_clears_when_customs_clears(
    rig: Rig,
) -> None:
    rig.register(category="cross_border")
    rig.scan(0, "customs", facility="CUS-PVG", substatus="declared")
    rig.scan(20 * HOUR, "customs", facility="CUS-PVG", substatus="inspection")  # no restart
    rig.advance(48 * HOUR - 1)
    assert rig.alerts(Kind.CUSTOMS_DELAY) == []
    rig.advance(48 * HOUR)
    delay = rig.only(Kind.CUSTOMS_DELAY)
    assert (delay.opened_at_us, delay.severity) == (us(48 * HOUR), Severity.WARNING)
    assert delay.evidence == {"customs_since": iso(0), "clear_within_hours": 48.0}
    rig.scan(50 * HOUR, "customs", facility="CUS-PVG", substatus="customs_cleared")
    delay = rig.only(Kind.CUSTOMS_DELAY)
    assert (delay.state, delay.closed_at_us) == (State.CLEARED, us(50 * HOUR))


def test_customs_cleared_in_time_opens_no_customs_delay(rig: Rig) -> None:
    rig.register(category="cross_border")
    rig.scan(0, "customs", facility="CUS-PVG", substatus="declared")
    rig.scan(47 * HOUR, "customs", facility="CUS-PVG", substatus="customs_cleared")
    rig.advance(100 * HOUR)
    assert rig.alerts(Kind.CUSTOMS_DELAY) == []


def test_customs_held_opens_at_once_repeats_into_the_same_alert_and_clears_on_release(
    rig: Rig,
) -> None:
    rig.register(category="cross_border")
    rig.scan(0, "customs", facility="CUS-PVG", substatus="customs_held")
    held = rig.only(Kind.CUSTOMS_HELD)
    assert (held.state, held.severity, held.opened_at_us) == (State.OPEN, Severity.CRITICAL, us(0))
    assert (held.evidence["status"], held.evidence["facility_id"]) == ("customs", "CUS-PVG")
    rig.scan(30, "customs", facility="CUS-PVG", substatus="customs_held", description="补充材料")
    held = rig.only(Kind.CUSTOMS_HELD)
    assert (held.repeats, held.opened_at_us, held.updated_at_us) == (1, us(0), us(30))
    assert held.evidence["description"] == "补充材料"
    rig.scan(5 * HOUR, "customs", facility="CUS-PVG", substatus="customs_cleared")
    held = rig.only(Kind.CUSTOMS_HELD)
    assert (held.state, held.closed_at_us) == (State.CLEARED, us(5 * HOUR))


def test_a_customs_scan_recorded_late_opens_no_customs_alert(rig: Rig) -> None:
    """A carrier's push that lists its scans newest first: the customs scans behind the
    parcel's release say nothing about now."""
    rig.register(category="cross_border")
    rig.scan(30 * HOUR, "in_transit", facility="HUB-PVG")
    rig.scan(2 * HOUR, "customs", facility="CUS-PVG", substatus="customs_held", received=31 * HOUR)
    rig.scan(1 * HOUR, "customs", facility="CUS-PVG", substatus="declared", received=31 * HOUR)
    rig.advance(100 * HOUR)
    assert rig.alerts(Kind.CUSTOMS_HELD) == []
    assert rig.alerts(Kind.CUSTOMS_DELAY) == []


# ---- delivery_late ----


def test_delivery_late_opens_at_promised_by_exactly(rig: Rig) -> None:
    rig.register(promised_by=times.iso(t(10 * HOUR)))
    rig.scan(0, "picked_up", operator_id="C-1")
    rig.advance(10 * HOUR - 1)
    assert rig.alerts(Kind.DELIVERY_LATE) == []
    rig.advance(10 * HOUR)
    late = rig.only(Kind.DELIVERY_LATE)
    assert (late.opened_at_us, late.severity) == (us(10 * HOUR), Severity.WARNING)
    assert late.evidence == {"promised_by": iso(10 * HOUR), "status": "picked_up"}


def test_no_delivery_late_when_delivered_before_the_promise(rig: Rig) -> None:
    rig.register(promised_by=times.iso(t(10 * HOUR)))
    rig.scan(0, "picked_up", operator_id="C-1")
    rig.scan(10 * HOUR - 1, "delivered")
    rig.advance(30 * HOUR)
    assert rig.alerts(Kind.DELIVERY_LATE) == []


def test_a_late_delivery_leaves_delivery_late_open_for_a_person(rig: Rig) -> None:
    """The promise stays broken once broken: delivering late does not clear the alert (a
    merchant resolves it, e.g. after compensating the customer). See docs/decisions.md."""
    rig.register(promised_by=times.iso(t(10 * HOUR)))
    rig.scan(0, "picked_up", operator_id="C-1")
    rig.advance(10 * HOUR)
    rig.scan(12 * HOUR, "delivered")
    late = rig.only(Kind.DELIVERY_LATE)
    assert (late.state, late.closed_at_us) == (State.OPEN, None)


def test_a_delivery_scan_arriving_after_the_promise_clears_delivery_late_if_it_was_on_time(
    rig: Rig,
) -> None:
    """Carriers upload scans late: the alert opened when the promise passed, but the scan, when
    it comes, shows the parcel was delivered in time, so the alert clears by itself."""
    rig.register(promised_by=times.iso(t(10 * HOUR)))
    rig.scan(0, "picked_up", operator_id="C-1")
    rig.advance(11 * HOUR)
    assert rig.only(Kind.DELIVERY_LATE).state is State.OPEN
    rig.scan(9 * HOUR, "delivered", received=12 * HOUR)
    late = rig.only(Kind.DELIVERY_LATE)
    assert (late.state, late.closed_at_us) == (State.CLEARED, us(10 * HOUR))


# ---- misrouted ----


def test_a_scan_off_the_route_plan_opens_misrouted_and_another_one_repeats_into_it(
    rig: Rig,
) -> None:
    rig.register(route_plan=["HUB-SHA", "HUB-PEK"])
    arrive(rig, 0)
    assert rig.alerts(Kind.MISROUTED) == []
    arrive(rig, 60, facility="HUB-CAN")
    wrong = rig.only(Kind.MISROUTED)
    assert (wrong.opened_at_us, wrong.severity, wrong.evidence["facility_id"]) == (
        us(60), Severity.WARNING, "HUB-CAN")
    assert wrong.evidence["route_plan"] == ["HUB-PEK", "HUB-SHA"]
    arrive(rig, 90, facility="HUB-SZX")
    wrong = rig.only(Kind.MISROUTED)
    assert (wrong.repeats, wrong.opened_at_us, wrong.evidence["facility_id"]) == (
        1, us(60), "HUB-SZX")
    arrive(rig, 120, facility="HUB-PEK")  # back on the plan: the detour stays on record
    assert rig.only(Kind.MISROUTED).state is State.OPEN


def test_no_misrouted_without_a_route_plan(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0, facility="HUB-CAN")
    assert rig.alerts(Kind.MISROUTED) == []


# ---- damaged ----


@pytest.mark.parametrize("condition", ["damaged", "wet", "opened", "missing_items"])
def test_a_scan_noting_a_bad_condition_opens_damaged_at_once(rig: Rig, condition: str) -> None:
    rig.register()
    arrive(rig, 15, condition=condition, operator_id="EMP-0042")
    hurt = rig.only(Kind.DAMAGED)
    assert (hurt.opened_at_us, hurt.severity) == (us(15), Severity.CRITICAL)
    assert (hurt.evidence["condition"], hurt.evidence["operator_id"]) == (condition, "EMP-0042")


def test_an_intact_parcel_opens_no_damaged(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0, condition="intact")
    assert rig.alerts(Kind.DAMAGED) == []


def test_more_damage_repeats_into_the_open_damaged_alert_and_intact_does_not_clear_it(
    rig: Rig,
) -> None:
    rig.register()
    arrive(rig, 0, condition="wet")
    arrive(rig, 30, facility="HUB-NKG", condition="intact")
    arrive(rig, 50, facility="HUB-PEK", condition="damaged")
    hurt = rig.only(Kind.DAMAGED)
    assert (hurt.state, hurt.repeats, hurt.opened_at_us, hurt.updated_at_us) == (
        State.OPEN, 1, us(0), us(50))
    assert hurt.evidence["condition"] == "damaged"


# ---- carrier_exception ----


def test_carrier_exception_opens_at_the_scan_and_clears_when_the_journey_moves_on(
    rig: Rig,
) -> None:
    rig.register()
    arrive(rig, 0)
    rig.scan(30, "exception", facility="HUB-SHA", description="地址不详")
    exc = rig.only(Kind.CARRIER_EXCEPTION)
    assert (exc.opened_at_us, exc.severity, exc.evidence["description"]) == (
        us(30), Severity.WARNING, "地址不详")
    rig.scan(45, "exception", facility="HUB-SHA", description="联系不上收件人")
    exc = rig.only(Kind.CARRIER_EXCEPTION)
    assert (exc.repeats, exc.evidence["description"]) == (1, "联系不上收件人")
    depart(rig, 50)
    exc = rig.only(Kind.CARRIER_EXCEPTION)
    assert (exc.state, exc.closed_at_us) == (State.CLEARED, us(50))


def test_a_carrier_that_stops_tracking_a_parcel_on_its_way_opens_one_alert(rig: Rig) -> None:
    rig.register()
    rig.register("SF1400000002")
    rig.scan(0, facility="HUB-SHA")
    rig.scan(0, "delivered", tracking_no="SF1400000002", operator_id="C-9")

    def stopped(tn: str, minutes: float) -> RaiseAlert:
        return RaiseAlert("acme", tn, "carrier_exception:tracking_stopped",
                          Kind.CARRIER_EXCEPTION, Severity.WARNING, {"reason": "abort"},
                          t(minutes), while_travelling=True)

    (first,) = rig.system.ingestor.process([[stopped(TN, 10)]])[0]
    (again,) = rig.system.ingestor.process([[stopped(TN, 20)]])[0]
    (done,) = rig.system.ingestor.process([[stopped("SF1400000002", 10)]])[0]
    assert [o.result for o in (first, again, done)] == [
        Result.ACCEPTED, Result.DUPLICATE, Result.DUPLICATE]
    alert = rig.only(Kind.CARRIER_EXCEPTION)
    assert (alert.rule, alert.opened_at_us, alert.repeats) == (
        "carrier_exception:tracking_stopped", us(10), 0)
    assert rig.alerts(Kind.CARRIER_EXCEPTION, "SF1400000002") == []


def test_a_late_non_exception_scan_does_not_clear_carrier_exception(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0)
    rig.scan(120, "exception", facility="HUB-SHA")
    rig.scan(60, facility="HUB-SHA", substatus="sorted", received=150)  # happened before it
    assert rig.only(Kind.CARRIER_EXCEPTION).state is State.OPEN
    depart(rig, 200)
    assert rig.only(Kind.CARRIER_EXCEPTION).closed_at_us == us(200)


# ---- pod_unverified ----


@pytest.mark.parametrize("raw", [
    None, {"pod": {"photo": "p-1"}}, {"pod": {"id_verified": False}},
    {"pod": {"id_verified": "true"}},  # a string is not a verification
])
def test_a_high_value_parcel_delivered_without_a_verified_identity_opens_pod_unverified(
    rig: Rig, raw: dict[str, Any] | None,
) -> None:
    rig.register(category="high_value")
    rig.scan(0, "out_for_delivery", operator_id="C-9")
    rig.scan(40, "delivered", **({} if raw is None else {"raw": raw}))
    pod = rig.only(Kind.POD_UNVERIFIED)
    assert (pod.opened_at_us, pod.severity) == (us(40), Severity.CRITICAL)
    assert pod.evidence["pod"] == (None if raw is None else raw["pod"])


def test_a_verified_delivery_or_a_parcel_that_is_not_high_value_opens_no_pod_unverified(
    rig: Rig,
) -> None:
    rig.register(category="high_value")
    rig.scan(40, "delivered", raw={"pod": {"id_verified": True, "photo": "p-1"}})
    rig.register("PG0000000002")
    rig.scan(40, "delivered", tracking_no="PG0000000002")
    assert rig.alerts(Kind.POD_UNVERIFIED) == []
    assert rig.alerts(Kind.POD_UNVERIFIED, "PG0000000002") == []


# ---- status_regression ----


def test_a_backwards_move_opens_status_regression_and_another_repeats_into_it(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0)
    rig.scan(60, "picked_up", operator_id="C-1")
    back = rig.only(Kind.STATUS_REGRESSION)
    assert (back.opened_at_us, back.severity) == (us(60), Severity.WARNING)
    assert (back.evidence["status"], back.evidence["current_status"]) == ("picked_up", "in_transit")
    rig.scan(90, "info_received")  # kept on the timeline, not a regression
    rig.scan(100, "picked_up", operator_id="C-2")
    back = rig.only(Kind.STATUS_REGRESSION)
    assert (back.repeats, back.updated_at_us, back.evidence["operator_id"]) == (1, us(100), "C-2")


def test_a_late_scan_that_slots_in_before_is_not_a_regression(rig: Rig) -> None:
    rig.register()
    arrive(rig, 60)
    rig.scan(0, "picked_up", operator_id="C-1", received=70)
    assert rig.alerts(Kind.STATUS_REGRESSION) == []


def test_a_person_can_resolve_a_condition_alert_that_never_clears_by_itself(rig: Rig) -> None:
    rig.register()
    arrive(rig, 0, condition="opened")
    hurt = rig.only(Kind.DAMAGED)
    rig.act(hurt.alert_id, AlertAction.RESOLVE, at=30)
    assert (rig.only(Kind.DAMAGED).state, rig.only(Kind.DAMAGED).closed_at_us) == (
        State.RESOLVED, us(30))

"""Rules on sensor readings, through the real writer: each reading is judged at its own
timestamp, and the silence timer runs on the event-time clock. For each kind: the exact moment
it opens, what clears it, and that a repeat updates the open alert instead of opening another.
Minutes count from T0; see :class:`tests.unit.test_rules.Rig`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parcelguard import bootstrap
from parcelguard.domain.alerts import Kind, Severity, State
from parcelguard.rules import route
from parcelguard.services.clock import ManualClock
from tests.conftest import settings_for
from tests.unit.test_rules import TN, Rig, iso, us


@pytest.fixture
def rig(mem: bootstrap.System, clock: ManualClock) -> Rig:
    return Rig(mem, clock)


def readings(rig: Rig, measure: str, series: list[tuple[float, float]], device: str = "LOG-1") -> None:
    for minute, value in series:
        rig.reading(device, minute, **{measure: value})


def aboard(rig: Rig, unit: str = "REEFER-1", vehicle: str = "沪A12345") -> None:
    """A vehicle unit, and the parcel loaded onto its vehicle: its readings reach the parcel."""
    rig.vehicle_unit(unit, vehicle)
    rig.scan(0, facility="HUB-SHA", substatus="loaded", vehicle_id=vehicle)


# ---- shock ----


def test_shock_opens_above_the_fragile_limit_at_the_readings_time(rig: Rig) -> None:
    rig.register(category="fragile", devices=["LOG-1"])
    readings(rig, "shock_g", [(0, 0.4), (5, 5.0)])  # at the limit is within it
    assert rig.alerts(Kind.SHOCK) == []
    rig.reading("LOG-1", 7, seq=12, shock_g=5.1, lat=31.2, lon=121.4)
    hit = rig.only(Kind.SHOCK)
    assert (hit.opened_at_us, hit.severity) == (us(7), Severity.WARNING)
    assert hit.evidence == {"source": "device:LOG-1", "ts": "2026-11-20T20:07:00+08:00",
                            "seq": 12, "lat": 31.2, "lon": 121.4, "shock_g": 5.1, "peak_g": 5.1,
                            "limit_g": 5.0}


def test_shock_at_twice_the_limit_is_critical_and_a_repeat_never_lowers_the_severity(
    rig: Rig,
) -> None:
    rig.register(category="fragile", devices=["LOG-1"])
    readings(rig, "shock_g", [(0, 9.9)])
    assert rig.only(Kind.SHOCK).severity is Severity.WARNING
    readings(rig, "shock_g", [(5, 10.0)])
    hit = rig.only(Kind.SHOCK)
    assert (hit.severity, hit.repeats, hit.opened_at_us, hit.updated_at_us) == (
        Severity.CRITICAL, 1, us(0), us(5))
    readings(rig, "shock_g", [(10, 6.0), (15, 0.3)])  # milder, then calm: no clearing
    hit = rig.only(Kind.SHOCK)
    assert (hit.state, hit.severity, hit.repeats) == (State.OPEN, Severity.CRITICAL, 2)


def test_a_milder_repeat_keeps_the_peak_shock_in_the_evidence(rig: Rig) -> None:
    rig.register(category="fragile", devices=["LOG-1"])
    readings(rig, "shock_g", [(0, 10.0), (5, 6.0)])
    hit = rig.only(Kind.SHOCK)
    assert hit.severity is Severity.CRITICAL
    assert 10.0 in (hit.evidence.get("shock_g"), hit.evidence.get("peak_g"))


def test_shock_needs_a_limit_a_general_parcel_has_none_unless_the_shipment_sets_one(
    rig: Rig,
) -> None:
    rig.register(devices=["LOG-1"])
    rig.register("PG0000000002", devices=["LOG-2"], thresholds={"shock_max_g": 2.0})
    readings(rig, "shock_g", [(0, 3.0)], device="LOG-1")
    readings(rig, "shock_g", [(0, 3.0)], device="LOG-2")
    assert rig.alerts(Kind.SHOCK) == []
    hit = rig.only(Kind.SHOCK, "PG0000000002")
    assert (hit.evidence["limit_g"], hit.severity) == (2.0, Severity.WARNING)


# ---- tamper ----


def test_light_inside_a_high_value_box_opens_tamper(rig: Rig) -> None:
    rig.register(category="high_value", devices=["LOG-1"])
    readings(rig, "light_lux", [(0, 0.0), (10, 50.0)])  # at the limit is within it
    assert rig.alerts(Kind.TAMPER) == []
    readings(rig, "light_lux", [(12, 320.0)])
    opened = rig.only(Kind.TAMPER)
    assert (opened.opened_at_us, opened.severity) == (us(12), Severity.CRITICAL)
    assert (opened.evidence["light_lux"], opened.evidence["limit_lux"]) == (320.0, 50.0)
    readings(rig, "light_lux", [(13, 400.0), (20, 0.0)])
    opened = rig.only(Kind.TAMPER)
    assert (opened.state, opened.repeats, opened.evidence["light_lux"]) == (State.OPEN, 1, 400.0)


def test_light_from_a_vehicle_unit_is_not_tamper(rig: Rig) -> None:
    rig.register(category="high_value", devices=["LOG-1"])
    aboard(rig, unit="CAB-1")
    readings(rig, "light_lux", [(5, 800.0)], device="CAB-1")  # the cargo door, not the box
    assert rig.alerts(Kind.TAMPER) == []


# ---- temperature_excursion ----


def test_temperature_excursion_opens_after_15_min_out_of_range_and_clears_back_in_range(
    rig: Rig,
) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "temperature_c", [(0, 5.0), (5, 9.0), (10, 9.0), (15, 9.2)])
    assert rig.alerts(Kind.TEMPERATURE_EXCURSION) == []
    readings(rig, "temperature_c", [(20, 9.5)])  # out since 5: 15 minutes in one go
    warm = rig.only(Kind.TEMPERATURE_EXCURSION)
    assert (warm.opened_at_us, warm.severity) == (us(20), Severity.CRITICAL)
    assert warm.evidence == {"source": "device:LOG-1", "since": iso(5), "peak_c": 9.5,
                             "range_c": [2.0, 8.0], "minutes_out_now": 15.0,
                             "minutes_out_total": 15.0}
    readings(rig, "temperature_c", [(25, 9.1)])
    warm = rig.only(Kind.TEMPERATURE_EXCURSION)
    assert (warm.repeats, warm.evidence["minutes_out_now"], warm.evidence["peak_c"]) == (1, 20.0, 9.5)
    readings(rig, "temperature_c", [(30, 6.0)])
    warm = rig.only(Kind.TEMPERATURE_EXCURSION)
    assert (warm.state, warm.closed_at_us) == (State.CLEARED, us(30))


def test_a_short_cold_dip_opens_no_excursion(rig: Rig) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "temperature_c", [(0, 4.0), (5, 1.0), (10, 0.5), (15, 1.5), (20, 4.0)])
    assert rig.alerts(Kind.TEMPERATURE_EXCURSION) == []


def _short_excursions(cycles: int) -> list[tuple[float, float]]:
    """10-minute excursions, 10 minutes apart: each adds 10 minutes to the trip's total."""
    out: list[tuple[float, float]] = []
    for c in range(cycles):
        out += [(20 * c, 9.0), (20 * c + 5, 9.0), (20 * c + 10, 5.0), (20 * c + 15, 5.0)]
    return out


def test_the_cumulative_budget_opens_an_excursion_at_60_min_in_all_and_then_never_clears(
    rig: Rig,
) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "temperature_c", [*_short_excursions(5), (100, 9.0), (105, 9.0)])
    assert rig.alerts(Kind.TEMPERATURE_EXCURSION) == []  # 55 minutes in all, 5 at a time
    readings(rig, "temperature_c", [(110, 9.0)])
    spent = rig.only(Kind.TEMPERATURE_EXCURSION)
    assert spent.opened_at_us == us(110)
    assert (spent.evidence["minutes_out_now"], spent.evidence["minutes_out_total"]) == (10.0, 60.0)
    readings(rig, "temperature_c", [(115, 5.0), (120, 5.0), (180, 5.0)])
    assert rig.only(Kind.TEMPERATURE_EXCURSION).state is State.OPEN  # the budget is gone


def test_the_budget_is_spent_when_the_reading_that_completes_it_is_back_in_range(
    rig: Rig,
) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "temperature_c", [*_short_excursions(6), (120, 5.0), (180, 5.0)])
    assert rig.only(Kind.TEMPERATURE_EXCURSION).opened_at_us == us(110)  # 60 min in all by 110


def test_readings_without_a_temperature_do_not_shrink_the_excursion_total(rig: Rig) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    rig.reading("LOG-1", 0, temperature_c=9.0)
    for minute in range(1, 20):
        rig.reading("LOG-1", minute, lat=31.2, lon=121.4)
    rig.reading("LOG-1", 20, temperature_c=9.0)
    assert rig.only(Kind.TEMPERATURE_EXCURSION).evidence["minutes_out_total"] == 20.0


def test_a_reefer_in_range_does_not_clear_the_excursion_the_box_sensor_sees(rig: Rig) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    aboard(rig)
    for minute in range(0, 45, 5):
        rig.reading("LOG-1", minute, temperature_c=10.0)
        rig.reading("REEFER-1", minute + 1, temperature_c=4.0)
    warm = rig.only(Kind.TEMPERATURE_EXCURSION)
    assert (warm.state, warm.opened_at_us) == (State.OPEN, us(15))


def test_a_reefer_out_of_range_opens_the_parcels_excursion(rig: Rig) -> None:
    rig.register(category="cold_chain")
    aboard(rig)
    readings(rig, "temperature_c", [(0, 12.0), (10, 12.5), (15, 12.0)], device="REEFER-1")
    warm = rig.only(Kind.TEMPERATURE_EXCURSION)
    assert (warm.opened_at_us, warm.evidence["source"]) == (us(15), "vehicle:沪A12345")


def test_a_rebuilt_watch_remembers_a_reefer_excursion_in_progress(rig: Rig) -> None:
    rig.register(category="cold_chain")
    aboard(rig)
    readings(rig, "temperature_c", [(0, 12.0), (10, 12.0)], device="REEFER-1")
    rig.system.ingestor.live.evict(("acme", TN))
    readings(rig, "temperature_c", [(15, 12.0)], device="REEFER-1")
    assert rig.only(Kind.TEMPERATURE_EXCURSION).opened_at_us == us(15)


# ---- humidity_excursion ----


def test_humidity_excursion_opens_after_15_min_above_the_limit_and_clears_at_the_limit(
    rig: Rig,
) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "humidity_pct", [(0, 95.0), (5, 95.0), (10, 96.0)])
    assert rig.alerts(Kind.HUMIDITY_EXCURSION) == []
    readings(rig, "humidity_pct", [(15, 97.0)])
    damp = rig.only(Kind.HUMIDITY_EXCURSION)
    assert (damp.opened_at_us, damp.severity) == (us(15), Severity.WARNING)
    assert damp.evidence == {"source": "device:LOG-1", "humidity_pct": 97.0, "limit_pct": 90.0,
                             "since": iso(0)}
    readings(rig, "humidity_pct", [(20, 98.0)])
    damp = rig.only(Kind.HUMIDITY_EXCURSION)
    assert (damp.repeats, damp.evidence["humidity_pct"]) == (1, 98.0)
    readings(rig, "humidity_pct", [(25, 90.0)])
    damp = rig.only(Kind.HUMIDITY_EXCURSION)
    assert (damp.state, damp.closed_at_us) == (State.CLEARED, us(25))


# ---- temperature_trend ----


def test_temperature_trend_warns_when_the_slope_crosses_the_limit_within_30_min(rig: Rig) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "temperature_c", [(0, 5.0), (5, 5.5)])
    assert rig.alerts(Kind.TEMPERATURE_TREND) == []  # two points are not a trend
    readings(rig, "temperature_c", [(10, 6.0)])  # +6 °C/h: 8 °C in 20 minutes
    rising = rig.only(Kind.TEMPERATURE_TREND)
    assert (rising.opened_at_us, rising.severity) == (us(10), Severity.WARNING)
    assert rising.evidence == {"source": "device:LOG-1", "temperature_c": 6.0,
                               "slope_c_per_hour": 6.0, "limit_c": 8.0, "minutes_to_limit": 20.0}
    readings(rig, "temperature_c", [(15, 6.5)])
    rising = rig.only(Kind.TEMPERATURE_TREND)
    assert (rising.repeats, rising.evidence["minutes_to_limit"]) == (1, 15.0)
    readings(rig, "temperature_c", [(20, 5.0)])  # falls back: no breach ahead
    rising = rig.only(Kind.TEMPERATURE_TREND)
    assert (rising.state, rising.closed_at_us) == (State.CLEARED, us(20))
    assert rig.alerts(Kind.TEMPERATURE_EXCURSION) == []


def test_a_slow_drift_inside_the_range_is_no_trend(rig: Rig) -> None:
    rig.register(category="cold_chain", devices=["LOG-1"])
    readings(rig, "temperature_c", [(0, 5.0), (10, 5.1), (20, 5.2), (30, 5.3)])
    assert rig.alerts(Kind.TEMPERATURE_TREND) == []


def test_temperature_trend_watches_box_sensors_only(rig: Rig) -> None:
    rig.register(category="cold_chain")
    aboard(rig)
    readings(rig, "temperature_c", [(0, 5.0), (5, 5.5), (10, 6.0), (15, 6.5)], device="REEFER-1")
    assert rig.alerts(Kind.TEMPERATURE_TREND) == []


# ---- sensor_gap ----


def test_a_seq_jump_opens_sensor_gap_and_the_next_reading_in_sequence_clears_it(rig: Rig) -> None:
    rig.register(devices=["LOG-1"])
    rig.reading("LOG-1", 0, seq=1)
    rig.reading("LOG-1", 5, seq=2)
    assert rig.alerts(Kind.SENSOR_GAP) == []
    rig.reading("LOG-1", 10, seq=6)
    gap = rig.only(Kind.SENSOR_GAP)
    assert (gap.rule, gap.opened_at_us, gap.severity) == (
        "sensor_gap:device:LOG-1", us(10), Severity.INFO)
    assert (gap.evidence["missing_readings"], gap.evidence["after_seq"], gap.evidence["seq"]) == (
        3, 2, 6)
    rig.reading("LOG-1", 15, seq=7)
    gap = rig.only(Kind.SENSOR_GAP)
    assert (gap.state, gap.closed_at_us) == (State.CLEARED, us(15))


def test_sixty_silent_minutes_open_sensor_gap_at_the_last_reading_plus_60(rig: Rig) -> None:
    rig.register(devices=["LOG-1"])
    rig.reading("LOG-1", 0, seq=1)
    rig.reading("LOG-1", 10, seq=2)
    rig.advance(69)
    assert rig.alerts(Kind.SENSOR_GAP) == []
    rig.advance(70)
    gap = rig.only(Kind.SENSOR_GAP)
    assert (gap.opened_at_us, gap.severity) == (us(70), Severity.WARNING)
    assert gap.evidence == {"source": "device:LOG-1", "silent_since": iso(10), "silence_min": 60.0}
    rig.reading("LOG-1", 95, seq=3)
    gap = rig.only(Kind.SENSOR_GAP)
    assert (gap.state, gap.closed_at_us) == (State.CLEARED, us(95))


def test_delivery_clears_sensor_gap_and_stops_the_silence_timer(rig: Rig) -> None:
    rig.register(devices=["LOG-1"])
    rig.reading("LOG-1", 0, seq=1)
    rig.advance(60)
    assert rig.only(Kind.SENSOR_GAP).state is State.OPEN
    rig.scan(80, "delivered")
    gap = rig.only(Kind.SENSOR_GAP)
    assert (gap.state, gap.closed_at_us) == (State.CLEARED, us(80))
    rig.advance(24 * 60)
    assert len(rig.alerts(Kind.SENSOR_GAP)) == 1


def test_a_vehicle_units_silence_is_not_a_sensor_gap(rig: Rig) -> None:
    rig.register()
    aboard(rig, unit="GPS-1")
    rig.reading("GPS-1", 0, seq=1, lat=31.2, lon=121.4)
    rig.reading("GPS-1", 5, seq=9, lat=31.3, lon=121.4)
    rig.advance(6 * 60)
    assert rig.alerts(Kind.SENSOR_GAP) == []


# ---- route_deviation ----


def _at(rig: Rig, minute: float, facility: str, lat: float, lon: float, tracking_no: str = TN,
        **kw: object) -> None:
    rig.scan(minute, tracking_no=tracking_no,
             location={"facility_id": facility, "lat": lat, "lon": lon}, **kw)


def test_off_corridor_distance_is_to_the_nearest_leg() -> None:
    corridor = (("A", (0.0, 0.0)), ("B", (0.0, 2.0)), ("C", (2.0, 2.0)))
    assert route.off_corridor_km((0.0, 1.0), corridor) == (0.0, 0)
    assert route.off_corridor_km((1.0, 1.0), corridor)[0] == pytest.approx(111.2, abs=0.1)
    assert route.off_corridor_km((1.0, 2.5), corridor) == (pytest.approx(55.6, abs=0.1), 1)
    assert route.off_corridor_km((-1.0, -1.0), corridor)[0] == pytest.approx(157.2, abs=0.2)


def test_route_deviation_opens_at_the_fix_off_the_corridor_and_clears_well_inside_it(
    rig: Rig,
) -> None:
    rig.register(route_plan=["HUB-A", "HUB-B"])
    rig.vehicle_unit("CAB-1", "沪A12345")
    _at(rig, 0, "HUB-A", 30.0, 120.0, substatus="loaded", vehicle_id="沪A12345")
    rig.reading("CAB-1", 10, lat=31.0, lon=121.0)  # HUB-B's position is not known yet
    assert rig.alerts(Kind.ROUTE_DEVIATION) == []
    rig.register("SF1400000002", route_plan=["HUB-B"])
    _at(rig, 12, "HUB-B", 30.0, 122.0, tracking_no="SF1400000002")  # another parcel tells it
    rig.reading("CAB-1", 20, lat=30.1, lon=121.0)  # 11 km off: on the corridor
    assert rig.alerts(Kind.ROUTE_DEVIATION) == []
    rig.reading("CAB-1", 30, lat=30.6, lon=121.0)  # 66.3 km off; the leg allows 50 + 5% of 192
    opened = rig.only(Kind.ROUTE_DEVIATION)
    assert (opened.opened_at_us, opened.severity, opened.state) == (
        us(30), Severity.WARNING, State.OPEN)
    assert (opened.evidence["km_off_route"], opened.evidence["allowed_km"]) == (66.3, 59.6)
    assert opened.evidence["nearest_leg"] == ["HUB-A", "HUB-B"]
    assert opened.evidence["source"] == "vehicle:沪A12345"
    rig.reading("CAB-1", 35, lat=30.65, lon=121.0)
    rig.reading("CAB-1", 40, lat=30.5, lon=121.0)  # 55.2 km: inside the allowance, not well inside
    assert (rig.only(Kind.ROUTE_DEVIATION).state, rig.only(Kind.ROUTE_DEVIATION).repeats) == (
        State.OPEN, 1)
    rig.reading("CAB-1", 50, lat=30.3, lon=121.0)  # 32.9 km: back within 80% of it
    cleared = rig.only(Kind.ROUTE_DEVIATION)
    assert (cleared.state, cleared.closed_at_us) == (State.CLEARED, us(50))
    assert rig.alerts(Kind.ROUTE_DEVIATION, tracking_no="SF1400000002") == []  # not aboard


def test_no_route_deviation_without_a_route_plan(rig: Rig) -> None:
    rig.register()
    rig.vehicle_unit("CAB-1", "沪A12345")
    _at(rig, 0, "HUB-A", 30.0, 120.0, substatus="loaded", vehicle_id="沪A12345")
    rig.reading("CAB-1", 10, lat=40.0, lon=100.0)
    assert rig.alerts(Kind.ROUTE_DEVIATION) == []


def test_facility_positions_learnt_from_scans_survive_a_restart(rig: Rig, tmp_path: Path) -> None:
    rig.register(route_plan=["HUB-A", "HUB-B"])
    _at(rig, 0, "HUB-A", 30.0, 120.0)
    _at(rig, 5, "HUB-B", 30.0, 122.0)
    again = bootstrap.build(settings_for("memory://", tmp_path), clock=rig.clock,
                            store=rig.system.store)
    again.ingestor.start()
    assert again.ingestor.alerting.places == {"acme": {"HUB-A": (30.0, 120.0),
                                                       "HUB-B": (30.0, 122.0)}}


def test_a_backlog_uploaded_late_is_no_sensor_gap_and_silence_counts_from_its_arrival(
    rig: Rig,
) -> None:
    """A logger that was offline uploads two hours of readings at once: it was recording all
    along, so nothing opens; then it is silent for an hour after that upload, and that is."""
    rig.register(devices=["LOG-1"])
    for minute in range(0, 120, 10):
        rig.reading("LOG-1", minute, seq=minute // 10, received=130)
    assert rig.alerts(Kind.SENSOR_GAP) == []
    rig.advance(189)
    assert rig.alerts(Kind.SENSOR_GAP) == []
    rig.advance(190)
    gap = rig.only(Kind.SENSOR_GAP)
    assert gap.opened_at_us == us(190)  # an hour after we last heard from it

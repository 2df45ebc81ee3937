"""The simulator: a real network, deterministic lines in the replay format, precise labels."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
import pytest

from parcelguard.domain import times
from parcelguard.domain.shipment import Category
from parcelguard.ingest import wire
from parcelguard.simulator import ANOMALIES, Label, SimConfig, Simulation, china, distance_km

ALERT_KINDS = {
    "dwell_exceeded", "no_update", "temperature_excursion", "temperature_trend",
    "humidity_excursion", "shock", "tamper", "customs_delay", "customs_held", "delivery_late",
    "delay_risk", "route_deviation", "misrouted", "damaged", "lost_suspected",
    "carrier_exception", "pod_unverified", "sensor_gap", "status_regression",
}
CST = timezone(timedelta(hours=8))
Line = dict[str, Any]


class Run:
    """One simulation, streamed once, with the views the tests look at (computed once)."""

    def __init__(self, sim: Simulation) -> None:
        pairs = list(sim.stream())
        self.arrivals = [arrival for arrival, _ in pairs]
        self.lines = [line for _, line in pairs]
        self.labels = sim.labels
        self._types: dict[str, list[Line]] = defaultdict(list)
        for line in self.lines:
            self._types[line["type"]].append(line)

    def of_type(self, kind: str) -> list[Line]:
        return self._types[kind]

    @cached_property
    def shipments(self) -> dict[str, Line]:
        return {line["tracking_no"]: line for line in self.of_type("shipment")}

    @cached_property
    def events(self) -> dict[str, list[Line]]:
        """Each parcel's events, one per event (duplicates dropped), in event time."""
        found: dict[str, dict[str, Line]] = defaultdict(dict)
        for line in self.of_type("event"):
            key = json.dumps({k: v for k, v in line.items() if k != "received_at"})
            found[line["tracking_no"]][key] = line
        return {tn: sorted(by.values(), key=lambda e: at(e["occurred_at"]))
                for tn, by in found.items()}

    @cached_property
    def readings(self) -> dict[str, list[Line]]:
        by_device: dict[str, list[Line]] = defaultdict(list)
        for line in self.of_type("telemetry"):
            by_device[line["device_id"]].append(line)
        return by_device

    @cached_property
    def labelled_parcels(self) -> set[str]:
        return {label.tracking_no for label in self.labels}

    def labelled(self, anomaly: str) -> list[Label]:
        return [label for label in self.labels if label.anomaly == anomaly]


def run(config: SimConfig) -> Run:
    return Run(Simulation(config))


def at(text: str) -> datetime:
    return times.parse(text, "")


@pytest.fixture(scope="module")
def rich() -> Run:
    """Few parcels, most of them harmed, with sensors and clock lines."""
    return run(SimConfig(seed=5, shipments=160, anomaly_rate=0.8, telemetry=True,
                         clock_every=timedelta(minutes=30)))


@pytest.fixture(scope="module")
def plain() -> Run:
    """Many parcels, few anomalies, scans only: the shape of a benchmark run."""
    return run(SimConfig(seed=11, shipments=3000, anomaly_rate=0.1, telemetry=False))


def delivered_at(events: list[Line]) -> datetime:
    return next(at(e["occurred_at"]) for e in events if e["status"] == "delivered")


# ---- the network ----


def test_the_network_has_at_least_30_hubs_with_coordinates_inside_china() -> None:
    hubs = china().hubs
    assert len(hubs) >= 30
    assert len({h.id for h in hubs}) == len(hubs)
    for hub in hubs:
        assert 18.0 <= hub.lat <= 53.6, hub
        assert 73.5 <= hub.lon <= 135.1, hub
        assert hub.kind == "hub"
        assert re.fullmatch(r"HUB-[A-Z]{3}-[A-Z]{2,3}", hub.id)


def test_great_circle_distances_match_the_map() -> None:
    beijing, shanghai = china().cities["BJS"], china().cities["SHA"]
    assert distance_km(beijing.lat, beijing.lon, shanghai.lat, shanghai.lon) == pytest.approx(
        1067, abs=10)
    assert distance_km(31.23, 121.47, 31.23, 121.47) == 0.0


def test_super_hubs_link_directly_and_other_hubs_go_through_them() -> None:
    net = china()
    assert [h.id for h in net.route("SHA", "BJS")] == ["HUB-SHA-QP", "HUB-BJS-SY"]
    route = net.route("YIW", "URC")
    assert route[0].id == "HUB-YIW-FT"
    assert route[-1].id == "HUB-URC-MD"
    assert 3 <= len(route) <= 4
    assert [h.id for h in net.route("HGH", "HGH")] == ["HUB-HGH-XS"]
    assert net.route("YIW", "URC") == route


def test_each_city_has_stations_with_stable_ids_and_names() -> None:
    city = china().cities["SHA"]
    assert len(city.stations) >= 10
    station = city.stations[11]
    assert station.id == "STN-SHA-012"
    assert station.name.startswith("上海")
    assert station.name.endswith("营业部")
    assert distance_km(city.lat, city.lon, station.lat, station.lon) < 25


def test_cross_border_parcels_leave_through_an_airport_gateway_abroad() -> None:
    net = china()
    assert {g.id for g in net.gateways.values()} == {"GW-PVG", "GW-SZX", "GW-CAN"}
    assert {a.country for a in net.abroad.values()} >= {"SG", "MY", "JP", "KR", "US", "AU", "GB"}
    assert net.gateway_for("HGH").id == "GW-PVG"


# ---- the stream ----


def test_the_same_config_gives_identical_lines() -> None:
    config = SimConfig(seed=3, shipments=40, anomaly_rate=0.5)
    first = list(Simulation(config).lines())
    assert first == list(Simulation(config).lines())


def test_a_different_seed_gives_different_lines() -> None:
    a = list(Simulation(SimConfig(seed=3, shipments=40)).lines())
    b = list(Simulation(SimConfig(seed=4, shipments=40)).lines())
    assert a != b


def test_turning_telemetry_off_leaves_every_scan_unchanged() -> None:
    def scans(telemetry: bool) -> list[str]:
        sim = Simulation(SimConfig(seed=8, shipments=40, anomaly_rate=0.5, telemetry=telemetry))
        return sorted(json.dumps(line, ensure_ascii=False) for line in sim.lines()
                      if line["type"] in ("event", "shipment"))

    assert scans(True) == scans(False)


def test_lines_come_in_non_decreasing_arrival_order(rich: Run) -> None:
    assert rich.arrivals == sorted(rich.arrivals)
    for arrival, line in zip(rich.arrivals, rich.lines, strict=True):
        if "received_at" in line:
            assert at(line["received_at"]) == arrival


def test_every_line_decodes_and_converts_with_the_wire_module(rich: Run) -> None:
    kinds: Counter[str] = Counter()
    replay_line: Any = wire.ReplayLine  # a union, which decode's type[T] does not spell
    for line in rich.lines:
        decoded: object = wire.decode(json.dumps(line, ensure_ascii=False).encode(), replay_line)
        if isinstance(decoded, wire.WireShipment):
            wire.to_register(decoded, "acme", msgspec.json.encode)
        elif isinstance(decoded, wire.WireEvent):
            wire.to_event(decoded, "replay")
        elif isinstance(decoded, wire.WireReading):
            wire.to_reading(decoded)
        elif isinstance(decoded, wire.WireDevice):
            wire.to_device(decoded, "acme")
        kinds[type(decoded).__name__] += 1
    assert set(kinds) == {"WireShipment", "WireEvent", "WireReading", "WireDevice", "WireClock"}


def test_all_times_carry_an_offset_china_at_plus_eight(plain: Run) -> None:
    offsets = Counter(at(e["occurred_at"]).utcoffset() for e in plain.of_type("event"))
    assert offsets.most_common(1)[0][0] == timedelta(hours=8)
    assert len(offsets) > 1  # parcels delivered abroad are scanned in local time


def test_the_stream_is_lazy_and_memory_follows_the_parcels_in_flight() -> None:
    sim = Simulation(SimConfig(shipments=20_000, telemetry=False))
    first = list(itertools.islice(sim.lines(), 100))
    assert first[0]["type"] == "shipment"
    assert sim.progress.shipments < 20_000 / 40  # the first ten minutes of orders, no more

    spread = Simulation(SimConfig(shipments=2000, span=timedelta(days=40), telemetry=False))
    total = sum(1 for _ in spread.lines())
    assert total > 2000 * 15
    assert spread.progress.shipments == 2000
    assert spread.progress.most_pending < total / 8  # a few days of parcels, not forty


def test_clock_lines_tick_at_the_cadence_and_run_past_the_last_line(rich: Run) -> None:
    ticks = [at(line["at"]) for line in rich.of_type("clock")]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(ticks))
    last_other = max(a for a, line in zip(rich.arrivals, rich.lines, strict=True)
                     if line["type"] != "clock")
    assert ticks[-1] >= last_other + timedelta(days=2)


def test_each_vehicle_unit_is_registered_before_its_first_reading_and_counts_up(rich: Run) -> None:
    registered: set[str] = set()
    boxes = {d for s in rich.of_type("shipment") for d in s.get("devices", [])}
    seen_box: set[str] = set()
    last_seq: dict[str, int] = {}
    for line in rich.lines:
        if line["type"] == "device":
            assert line["kind"] == "vehicle_unit"
            assert line["device_id"] not in registered
            registered.add(line["device_id"])
        elif line["type"] == "shipment":
            seen_box.update(line.get("devices", []))
        elif line["type"] == "telemetry":
            device = line["device_id"]
            assert device in registered or device in seen_box
            assert line["seq"] == last_seq.get(device, -1) + 1
            last_seq[device] = line["seq"]
    assert registered
    assert boxes <= set(last_seq)


def test_trunk_lorries_carry_many_parcels(plain: Run) -> None:
    parcels = defaultdict(set)
    for e in plain.of_type("event"):
        if e.get("substatus") == "loaded":
            parcels[e["vehicle_id"]].add(e["tracking_no"])
    assert max(len(p) for p in parcels.values()) >= 5


def test_some_scans_arrive_hours_late_and_some_twice(plain: Run) -> None:
    events = plain.of_type("event")
    delays = [at(e["received_at"]) - at(e["occurred_at"]) for e in events]
    late = sum(d > timedelta(minutes=30) for d in delays) / len(events)
    assert all(d >= timedelta(seconds=5) for d in delays)
    assert 0.01 < late < 0.05
    copies = Counter(json.dumps({k: v for k, v in e.items() if k != "received_at"})
                     for e in events)
    twice = sum(n - 1 for n in copies.values()) / len(events)
    assert 0.003 < twice < 0.02
    assert any("event_id" in e for e in events)
    assert any("event_id" not in e for e in events)


def test_tracking_numbers_and_phones_look_like_the_carriers(plain: Run) -> None:
    styles = {"sf": r"SF\d{12}", "zto": r"7314\d{10}", "yto": r"YT\d{13}", "jd": r"JD\d{13}",
              "ems": r"(11\d{11}|E[A-Z]\d{9}CN)"}
    for tn, shipment in plain.shipments.items():
        assert re.fullmatch(styles[shipment["carrier"]], tn), tn
        if shipment["destination"]["country"] == "CN":
            assert re.fullmatch(r"1[3-9]\d{9}", shipment["recipient"]["phone"])


def test_every_category_appears_and_parcels_carry_their_sensors(plain: Run) -> None:
    shipments = list(plain.shipments.values())
    assert {s["category"] for s in shipments} == {c.value for c in Category}
    for s in shipments:
        prefix = {"cold_chain": "TL-", "fragile": "SK-", "high_value": "GT-"}.get(s["category"])
        assert [d[:3] for d in s.get("devices", [])] == ([prefix] if prefix else [])


def test_every_scan_is_at_a_facility_of_the_route_plan_unless_misrouted(plain: Run) -> None:
    misrouted = {label.tracking_no for label in plain.labelled("misroute")}
    for tn, events in plain.events.items():
        plan = set(plain.shipments[tn]["route_plan"])
        off = {e["location"]["facility_id"] for e in events
               if "facility_id" in e.get("location", {})} - plan
        assert bool(off) == (tn in misrouted), tn


# ---- timing ----


def test_a_same_city_parcel_is_delivered_within_two_days_of_pickup(plain: Run) -> None:
    checked = 0
    labelled = plain.labelled_parcels
    for tn, events in plain.events.items():
        s = plain.shipments[tn]
        statuses = {e["status"] for e in events}
        if (s["origin"]["city"] != s["destination"]["city"] or tn in labelled
                or statuses & {"failed_attempt", "available_for_pickup"}):
            continue
        picked = next(at(e["occurred_at"]) for e in events if e["status"] == "picked_up")
        assert timedelta(hours=6) < delivered_at(events) - picked <= timedelta(days=2), tn
        checked += 1
    assert checked >= 10


def test_shanghai_to_beijing_takes_one_to_three_days(plain: Run) -> None:
    spans = []
    labelled = plain.labelled_parcels
    for tn, events in plain.events.items():
        s = plain.shipments[tn]
        if (s["origin"]["city"], s["destination"]["city"]) == ("上海", "北京") and \
                tn not in labelled and not any(e["status"] == "failed_attempt" for e in events):
            picked = next(at(e["occurred_at"]) for e in events if e["status"] == "picked_up")
            spans.append(delivered_at(events) - picked)
    assert spans
    assert all(timedelta(days=1) <= d <= timedelta(days=3) for d in spans), spans


def test_unlabelled_parcels_are_delivered_by_their_promise(plain: Run) -> None:
    labelled = plain.labelled_parcels
    for tn, events in plain.events.items():
        if tn not in labelled:
            assert delivered_at(events) <= at(plain.shipments[tn]["promised_by"]), tn


# ---- anomalies and their labels ----


def test_every_anomaly_kind_appears_with_a_label(rich: Run) -> None:
    assert {label.anomaly for label in rich.labels} == set(ANOMALIES)
    shipments = rich.shipments
    for label in rich.labels:
        assert label.tracking_no in shipments
        assert label.carrier == shipments[label.tracking_no]["carrier"]
        assert set(label.expected_alerts) <= ALERT_KINDS
        assert set(label.details["may_also_raise"]) <= ALERT_KINDS
        assert label.end is None or label.start <= label.end


def test_labels_without_telemetry_expect_no_sensor_alerts(plain: Run) -> None:
    for label in plain.labels:
        assert not {"shock", "temperature_excursion"} & set(label.expected_alerts)


def test_a_late_delivery_is_delivered_after_its_promise(rich: Run) -> None:
    events = rich.events
    for label in rich.labelled("late_delivery"):
        promised = at(rich.shipments[label.tracking_no]["promised_by"])
        delivered = delivered_at(events[label.tracking_no])
        assert delivered > promised
        assert (label.start, label.end) == (promised, delivered)
        assert label.expected_alerts == ("delivery_late",)


def test_a_stuck_at_hub_window_is_the_arrival_and_departure_scans(rich: Run) -> None:
    events = rich.events
    for label in rich.labelled("stuck_at_hub"):
        at_hub = [e for e in events[label.tracking_no]
                  if e.get("location", {}).get("facility_id") == label.facility_id]
        arrived = next(at(e["occurred_at"]) for e in at_hub if e.get("substatus") == "arrived")
        departed = next(at(e["occurred_at"]) for e in at_hub if e.get("substatus") == "departed")
        assert (label.start, label.end) == (arrived, departed)
        assert timedelta(hours=8) <= departed - arrived <= timedelta(hours=30)


def test_a_lost_parcel_is_never_heard_of_after_its_last_sighting(rich: Run) -> None:
    events = rich.events
    devices = {tn: s.get("devices", []) for tn, s in rich.shipments.items()}
    for label in rich.labelled("lost"):
        assert max(at(e["occurred_at"]) for e in events[label.tracking_no]) == label.start
        assert label.end is not None
        assert label.end > label.start
        readings = [r for d in devices[label.tracking_no] for r in rich.readings[d]]
        assert all(at(r["ts"]) <= label.start for r in readings)
        assert (label.vehicle_id, label.facility_id, label.operator_id).count(None) == 2


def test_a_reefer_failure_warms_the_box_past_8c_for_over_half_an_hour(rich: Run) -> None:
    for label in rich.labelled("reefer_failure"):
        assert label.end is not None
        assert label.end - label.start > timedelta(minutes=30)
        (logger,) = rich.shipments[label.tracking_no]["devices"]
        readings = rich.readings[logger]
        hot = [at(r["ts"]) for r in readings if r["temperature_c"] > 8.0]
        assert hot
        slack = timedelta(minutes=10)  # one reading apart: the label follows the noiseless curve
        assert all(label.start - slack <= t <= label.end + slack for t in hot)
        assert 12 <= max(r["temperature_c"] for r in readings) <= 21
        loads = [e for e in rich.events[label.tracking_no] if e.get("substatus") == "loaded"]
        assert label.vehicle_id in {e["vehicle_id"] for e in loads}
        riders = {e["tracking_no"] for e in rich.of_type("event")
                  if e.get("vehicle_id") == label.vehicle_id}
        assert riders == {label.tracking_no}  # a failing reefer harms only its labelled parcel


def test_rough_handling_shows_a_spike_by_the_named_operator_and_a_damaged_scan(rich: Run) -> None:
    events = rich.events
    for label in rich.labelled("rough_handling"):
        (logger,) = rich.shipments[label.tracking_no]["devices"]
        peaks = [r for r in rich.readings[logger] if r["shock_g"] >= 8]
        assert len(peaks) == 1
        assert label.end is not None
        assert label.start <= at(peaks[0]["ts"]) <= label.end
        sorting = next(e for e in events[label.tracking_no] if e.get("substatus") == "sorting"
                       and e["location"]["facility_id"] == label.facility_id)
        assert sorting["operator_id"] == label.operator_id
        damaged = [e for e in events[label.tracking_no] if e.get("condition") == "damaged"]
        assert len(damaged) == 1
        assert at(damaged[0]["occurred_at"]) > label.end
        assert label.expected_alerts == ("shock", "damaged")


def test_a_misrouted_parcel_is_scanned_off_its_route_then_returns(rich: Run) -> None:
    for label in rich.labelled("misroute"):
        plan = rich.shipments[label.tracking_no]["route_plan"]
        wrong = label.details["wrong_facility_id"]
        assert wrong not in plan
        assert label.facility_id in plan
        events = rich.events[label.tracking_no]
        scanned = [e["location"]["facility_id"] for e in events if "location" in e
                   and "facility_id" in e["location"]]
        assert wrong in scanned
        assert scanned[-1] in plan  # back on its way in the end


def test_a_customs_hold_is_a_held_scan_at_the_labelled_gateway(rich: Run) -> None:
    for label in rich.labelled("customs_hold"):
        events = rich.events[label.tracking_no]
        held = [e for e in events if e.get("substatus") == "customs_held"]
        assert [at(e["occurred_at"]) for e in held] == [label.start]
        assert held[0]["location"]["facility_id"] == label.facility_id
        cleared_after = [e for e in events if e.get("substatus") == "customs_cleared"
                         and at(e["occurred_at"]) > label.start]
        assert bool(cleared_after) == (label.end is not None)
        assert rich.shipments[label.tracking_no]["category"] == "cross_border"


def test_a_wrong_recipient_signs_without_identity_check_and_is_reported(rich: Run) -> None:
    for label in rich.labelled("wrong_recipient"):
        events = rich.events[label.tracking_no]
        delivered = next(e for e in events if e["status"] == "delivered")
        assert delivered["raw"]["pod"]["id_verified"] is False
        assert delivered["operator_id"] == label.operator_id
        report = next(e for e in events if e["status"] == "exception")
        assert "错投" in report["description"]
        assert (label.start, label.end) == (at(delivered["occurred_at"]), at(report["occurred_at"]))


# ---- config and files ----


def test_a_config_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        SimConfig(start=datetime(2026, 11, 20))
    with pytest.raises(ValueError, match="anomaly_rate"):
        SimConfig(anomaly_rate=1.5)


def test_write_puts_events_and_labels_side_by_side(tmp_path: Path) -> None:
    sim = Simulation(SimConfig(seed=2, shipments=30, anomaly_rate=0.5, telemetry=False,
                               start=datetime(2026, 6, 1, 9, tzinfo=CST)))
    events, labels = sim.write(tmp_path / "out")
    lines = events.read_text(encoding="utf-8").splitlines()
    assert lines == [json.dumps(line, ensure_ascii=False, separators=(",", ":"))
                     for line in Simulation(sim.config).lines()]
    assert any("【" in line for line in lines)  # Chinese kept as text, not \\u escapes
    written = [json.loads(x) for x in labels.read_text(encoding="utf-8").splitlines()]
    assert written == sim.label_dicts()
    assert len(written) == len(sim.labels) > 0


def _pairs(it: Iterator[tuple[datetime, Line]], n: int) -> list[tuple[datetime, Line]]:
    return list(itertools.islice(it, n))


def test_stream_restarts_from_the_beginning_each_time() -> None:
    sim = Simulation(SimConfig(seed=9, shipments=10))
    assert _pairs(sim.stream(), 20) == _pairs(sim.stream(), 20)

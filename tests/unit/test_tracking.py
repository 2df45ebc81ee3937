from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parcelguard.domain.custody import HolderKind, vehicle_windows
from parcelguard.domain.events import Condition
from parcelguard.domain.status import Effect, Status
from parcelguard.domain.tracking import Track
from tests.factories import event, journey, shipment


def test_a_journey_ends_delivered_with_each_handover_recorded() -> None:
    track = Track(shipment(), 1)
    handovers = [r.handover for e in journey() if (r := track.record(e)) and r.handover]
    assert track.status is Status.DELIVERED
    assert [after.kind for _, after in handovers] == [
        HolderKind.COURIER, HolderKind.FACILITY, HolderKind.VEHICLE, HolderKind.FACILITY,
        HolderKind.COURIER, HolderKind.RECIPIENT,
    ]


def test_the_same_event_id_twice_is_a_duplicate() -> None:
    track = Track(shipment(), 1)
    e = event("e1", 0, "picked_up")
    assert track.record(e) is not None
    assert track.record(e) is None
    assert len(track.steps) == 1


def test_a_late_event_slots_in_without_moving_the_status_back() -> None:
    track = Track(shipment(), 1)
    track.record(event("e5", 20, "out_for_delivery", operator="C9"))
    rec = track.record(event("e2", 2, "in_transit", facility="HUB-SHA"))
    assert rec is not None
    assert rec.late
    assert rec.effect is Effect.APPLIED
    assert track.status is Status.OUT_FOR_DELIVERY
    assert rec.handover is None  # the courier, seen later, still holds it


def test_the_parcel_rides_a_vehicle_from_load_to_the_next_scan_elsewhere() -> None:
    track = Track(shipment(), 1)
    track.record(event("e3", 3, "in_transit", facility="HUB-SHA", substatus="loaded", vehicle="V1"))
    assert track.vehicle_id == "V1"
    rec = track.record(event("e4", 14, "in_transit", facility="HUB-BJS", substatus="unloaded"))
    assert rec is not None
    assert rec.vehicle_change == ("V1", None)
    assert track.vehicle_id is None


def test_vehicle_windows_span_load_to_unload() -> None:
    from parcelguard.domain import times

    events = journey()
    windows = vehicle_windows([(times.to_us(e.occurred_at), e) for e in events])
    assert [(w.vehicle_id, w.end_us is not None) for w in windows] == [("沪A1", True)]
    assert windows[0].start_us == times.to_us(events[2].occurred_at)
    assert windows[0].end_us == times.to_us(events[3].occurred_at)


def test_condition_changes_are_reported_once() -> None:
    track = Track(shipment(), 1)
    first = track.record(event("a", 1, "in_transit", facility="H1", condition=Condition.INTACT))
    second = track.record(event("b", 2, "in_transit", facility="H2", condition=Condition.DAMAGED))
    third = track.record(event("c", 3, "in_transit", facility="H3", condition=Condition.DAMAGED))
    assert first is not None
    assert first.condition_change == (None, Condition.INTACT)
    assert second is not None
    assert second.condition_change == (Condition.INTACT, Condition.DAMAGED)
    assert third is not None
    assert third.condition_change is None


@settings(max_examples=200)
@given(st.permutations(range(len(journey()))), st.lists(st.integers(0, 5), max_size=8))
def test_any_arrival_order_with_repeats_gives_the_same_state(
    order: list[int], repeats: list[int]
) -> None:
    events = journey()
    reference = Track.rebuild(shipment(), 1, events)
    track = Track(shipment(), 1)
    for i in order + repeats:
        track.record(events[i])
    assert track.status is reference.status
    assert track.steps == reference.steps
    assert track.effects == reference.effects
    assert track.holder == reference.holder
    assert track.vehicle_id == reference.vehicle_id

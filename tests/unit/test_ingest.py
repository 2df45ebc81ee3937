"""The single writer on the in-memory store: what each command does, batch by batch."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import DeviceKind
from parcelguard.ingest import wire
from parcelguard.services import queries
from parcelguard.services.clock import ManualClock
from parcelguard.services.messages import Command, NoteEstimate, RecordReading, RecordScan, Result
from tests.factories import at, event_json, shipment_json


def register(sys: bootstrap.System, tenant: str = "acme", **extra: Any) -> Command:
    w = wire.decode(json.dumps(shipment_json(**extra)).encode(), wire.WireShipment)
    return wire.to_register(w, tenant, sys.encode)


def scan(tenant: str = "acme", received_hours: float | None = None, **kw: Any) -> RecordScan:
    """A scan that arrives a minute after it happened, unless told otherwise."""
    w = wire.decode(json.dumps(event_json(**kw)).encode(), wire.WireEvent)
    arrival = received_hours if received_hours is not None else kw.get("hours", 0) + 1 / 60
    return RecordScan(tenant, wire.to_event(w), at(arrival))


def results(sys: bootstrap.System, *cmds: Command) -> list[Result]:
    (outcomes,) = sys.ingestor.process([list(cmds)])
    return [o.result for o in outcomes]


def test_registering_twice_is_a_duplicate_and_with_other_content_a_conflict(
    mem: bootstrap.System,
) -> None:
    assert results(mem, register(mem)) == [Result.ACCEPTED]
    assert results(mem, register(mem)) == [Result.DUPLICATE]
    assert results(mem, register(mem, order_ref="changed")) == [Result.CONFLICT]


def test_scans_update_status_and_duplicates_are_counted_not_stored(mem: bootstrap.System) -> None:
    results(mem, register(mem))
    first = scan(hours=1, status="picked_up")
    assert results(mem, first, first, scan(hours=2)) == [
        Result.ACCEPTED, Result.DUPLICATE, Result.ACCEPTED]
    with mem.store.unit_of_work() as uow:
        tl = queries.timeline(uow, "acme", "SF1400000001")
    assert [s.event.status for s in tl.events] == [Status.PICKED_UP, Status.IN_TRANSIT]
    assert tl.record.state.status is Status.IN_TRANSIT
    assert tl.record.state.event_count == 2


def test_a_scan_for_an_unregistered_or_foreign_parcel_is_rejected(mem: bootstrap.System) -> None:
    results(mem, register(mem, tenant="other"))
    (outcomes,) = mem.ingestor.process([[scan()]])
    assert outcomes[0].result is Result.REJECTED
    assert outcomes[0].field == "tracking_no"


def test_an_event_more_than_ten_minutes_ahead_of_arrival_is_quarantined_once(
    mem: bootstrap.System,
) -> None:
    results(mem, register(mem))
    ahead = scan(hours=5, received_hours=5 - 11 / 60)
    on_time = scan(hours=6, received_hours=6 - 9 / 60)
    assert results(mem, ahead, on_time) == [Result.QUARANTINED, Result.ACCEPTED]
    assert results(mem, ahead) == [Result.DUPLICATE]
    with mem.store.unit_of_work() as uow:
        tl = queries.timeline(uow, "acme", "SF1400000001")
    assert len(tl.events) == 1
    assert len(tl.quarantined) == 1


def test_a_batch_that_fails_leaves_nothing_behind_and_state_stays_consistent(
    mem: bootstrap.System, monkeypatch: pytest.MonkeyPatch,
) -> None:
    results(mem, register(mem))
    size = mem.ingestor.ledger.size

    def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(mem.store.unit_of_work().events), "add", broken)
    with pytest.raises(RuntimeError):
        mem.ingestor.process([[scan(hours=1, status="picked_up")]])
    monkeypatch.undo()
    assert mem.ingestor.ledger.size == size
    assert results(mem, scan(hours=1, status="picked_up")) == [Result.ACCEPTED]
    with mem.store.unit_of_work() as uow:
        assert len(queries.timeline(uow, "acme", "SF1400000001").events) == 1


def reading(device: str, minutes: int, **kw: Any) -> RecordReading:
    body = {"device_id": device, "ts": times.iso(at(minutes / 60)), **kw}
    w = wire.decode(json.dumps(body).encode(), wire.WireReading)
    return RecordReading("acme", wire.to_reading(w), at(100))


def test_box_sensor_readings_belong_to_their_shipment_and_repeat_readings_are_duplicates(
    mem: bootstrap.System,
) -> None:
    results(mem, register(mem, devices=["LOG-1"]))
    assert results(mem, reading("LOG-1", 0, temperature_c=4.0), reading("LOG-1", 0,
                   temperature_c=4.0), reading("LOG-1", 10, temperature_c=5.0)) == [
        Result.ACCEPTED, Result.DUPLICATE, Result.ACCEPTED]
    assert results(mem, reading("LOG-1", 10, temperature_c=5.0)) == [Result.DUPLICATE]
    assert results(mem, reading("NOBODY", 0)) == [Result.REJECTED]
    with mem.store.unit_of_work() as uow:
        pts = queries.series(uow, "acme", "SF1400000001", None, None)
    assert [p.stored.reading.temperature_c for p in pts] == [4.0, 5.0]


def test_vehicle_positions_become_the_parcels_while_it_is_aboard(mem: bootstrap.System) -> None:
    results(mem, register(mem))
    dev = wire.to_device(wire.WireDevice("GPS-1", DeviceKind.VEHICLE_UNIT, vehicle_id="沪A1"), "acme")
    assert results(mem, dev) == [Result.ACCEPTED]
    results(mem,
            scan(hours=1, substatus="loaded", vehicle_id="沪A1", location={"facility_id": "H1"}),
            scan(hours=3, substatus="unloaded", vehicle_id="沪A1", location={"facility_id": "H2"}))
    fixes = [reading("GPS-1", m, lat=31.0 + m / 100, lon=121.0) for m in (30, 90, 150, 200)]
    results(mem, *fixes)
    with mem.store.unit_of_work() as uow:
        pts = queries.series(uow, "acme", "SF1400000001", None, None)
    assert [(p.source, p.stored.reading.lat) for p in pts] == [
        ("vehicle:沪A1", 31.9), ("vehicle:沪A1", 32.5)]


def test_checkpoints_are_signed_every_n_entries(mem: bootstrap.System) -> None:
    results(mem, register(mem), *[scan(hours=h) for h in range(1, 12)])
    with mem.store.unit_of_work() as uow:
        cps = uow.ledger.checkpoints()
    assert [c.size for c in cps] == [12]


def test_a_checkpoint_is_also_signed_after_five_minutes(
    mem: bootstrap.System, clock: ManualClock,
) -> None:
    results(mem, register(mem))
    mem.ingestor.tick()
    with mem.store.unit_of_work() as uow:
        assert uow.ledger.checkpoints() == []
    clock.advance_to(clock.now() + timedelta(minutes=5))
    mem.ingestor.tick()
    with mem.store.unit_of_work() as uow:
        assert [c.size for c in uow.ledger.checkpoints()] == [uow.ledger.size()]


EVENTS = [("picked_up", 0, None), ("in_transit", 2, "H1"), ("in_transit", 5, "H2"),
          ("out_for_delivery", 9, None), ("delivered", 12, None), ("in_transit", 13, "H3")]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(range(len(EVENTS))), st.lists(st.integers(0, len(EVENTS) - 1), max_size=6),
       st.integers(1, 4))
def test_permutations_and_repeats_give_the_same_status_and_stored_set(
    mem: bootstrap.System, order: list[int], repeats: list[int], batch: int
) -> None:
    tn = f"SF{abs(hash((tuple(order), tuple(repeats), batch))) % 10**10:010d}"
    results(mem, register(mem, tracking_no=tn))
    cmds = [scan(tracking_no=tn, hours=EVENTS[i][1], status=EVENTS[i][0],
                 location={"facility_id": EVENTS[i][2]} if EVENTS[i][2] else None)
            for i in order + repeats]
    for i in range(0, len(cmds), batch):
        mem.ingestor.process([cmds[i : i + batch]])
    with mem.store.unit_of_work() as uow:
        tl = queries.timeline(uow, "acme", tn)
    assert tl.record.state.status is Status.DELIVERED
    assert tl.derived.status is Status.DELIVERED
    assert sorted(times.to_us(s.event.occurred_at) for s in tl.events) == sorted(
        times.to_us(at(h)) for _, h, _ in EVENTS)


def test_a_carrier_estimate_is_stored_for_a_tracked_parcel_and_written_again_only_when_it_moves(
    mem: bootstrap.System,
) -> None:
    def note(hours: float) -> NoteEstimate:
        return NoteEstimate("acme", "SF1400000001", "kdniao", at(hours), at(1))

    def stored() -> list[str]:
        with mem.store.unit_of_work(write=False) as uow:
            return [e.estimate for e in uow.integrations.estimates("acme", "SF1400000001")]

    assert results(mem, note(48)) == [Result.NOT_FOUND]  # not ours: nothing kept
    results(mem, register(mem))
    assert results(mem, note(48), note(48)) == [Result.ACCEPTED, Result.DUPLICATE]
    assert stored() == [times.iso(at(48))]
    assert results(mem, note(50)) == [Result.ACCEPTED]
    assert stored() == [times.iso(at(50))]

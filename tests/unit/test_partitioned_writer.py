"""The writer as a bus-mode worker runs it: commands tagged with their stream partition move
event time for that partition's timers only; a vehicle's reading copied to every partition
is stored once and applied once per parcel; committed stream positions are kept."""

from __future__ import annotations

import json
from typing import Any

from parcelguard import bootstrap
from parcelguard.domain.alerts import Kind
from parcelguard.domain.telemetry import Device, DeviceKind, Reading
from parcelguard.ingest import wire
from parcelguard.services.alerting import Change
from parcelguard.services.messages import (
    AdvanceClock,
    Command,
    Consumed,
    RecordReading,
    RecordScan,
    RegisterDevice,
    Result,
)
from tests.factories import at, event_json, shipment_json

A, B = "SF1400000001", "SF1400000002"  # partition 0 and partition 1 below


def partitioned(mem: bootstrap.System) -> list[Change]:
    mem.ingestor.alerting.part_of = lambda tn: 0 if tn == A else 1
    changes: list[Change] = []
    mem.ingestor.listeners.append(changes.extend)
    return changes


def run(mem: bootstrap.System, part: int, *cmds: Command) -> list[Result]:
    (outcomes,) = mem.ingestor.process([list(cmds)], [part])
    return [o.result for o in outcomes]


def register(mem: bootstrap.System, tn: str, **extra: Any) -> Command:
    w = wire.decode(json.dumps(shipment_json(tn, **extra)).encode(), wire.WireShipment)
    return wire.to_register(w, "acme", mem.encode)


def scan(tn: str, hours: float, **extra: Any) -> RecordScan:
    w = wire.decode(json.dumps(event_json(tn, hours=hours, **extra)).encode(), wire.WireEvent)
    return RecordScan("acme", wire.to_event(w), at(hours + 1 / 60))


def opened(changes: list[Change], kind: Kind) -> list[str]:
    return sorted(c.alert.tracking_no for c in changes if c.alert.kind is kind and c.what == "opened")


def test_a_partition_fires_only_its_own_parcels_deadlines(mem: bootstrap.System) -> None:
    changes = partitioned(mem)
    for tn, part in ((A, 0), (B, 1)):
        assert run(mem, part, register(mem, tn), scan(tn, 0, location={"facility_id": "HUB-SHA"},
                                                       substatus="arrived")) == [Result.ACCEPTED] * 2
    # partition 0's commands reach hour 3: its parcel has dwelt past 120 minutes; partition 1
    # may still have B's departure on its way, so B's deadline waits for partition 1's time
    run(mem, 0, AdvanceClock(at(3)))
    assert opened(changes, Kind.DWELL_EXCEEDED) == [A]
    run(mem, 1, AdvanceClock(at(2.5)))
    assert opened(changes, Kind.DWELL_EXCEEDED) == [A, B]


def test_an_idle_tick_fires_every_partition(mem: bootstrap.System, clock: Any) -> None:
    changes = partitioned(mem)
    for tn, part in ((A, 0), (B, 1)):
        run(mem, part, register(mem, tn), scan(tn, 0, location={"facility_id": "HUB-SHA"},
                                       substatus="arrived"))
    clock.advance_to(at(3))
    mem.ingestor.tick()
    assert opened(changes, Kind.DWELL_EXCEEDED) == [A, B]


def test_a_vehicle_reading_is_stored_by_one_partition_and_applied_by_each(
    mem: bootstrap.System,
) -> None:
    changes = partitioned(mem)
    unit = RegisterDevice(Device("acme", "GPS-V1", DeviceKind.VEHICLE_UNIT, vehicle_id="V1"))
    assert run(mem, 0, unit) == [Result.ACCEPTED]
    for tn, part in ((A, 0), (B, 1)):
        loaded = scan(tn, 0, vehicle_id="V1", substatus="loaded")
        run(mem, part, register(mem, tn, category="fragile"), loaded)
    jolt = Reading("GPS-V1", at(1), 1, shock_g=20.0)
    # the vehicle's own partition (1 here) keeps it; partition 0 gets a copy to apply
    assert run(mem, 1, RecordReading("acme", jolt, at(1.01))) == [Result.ACCEPTED]
    assert opened(changes, Kind.SHOCK) == [B]
    copy = RecordReading("acme", jolt, at(1.01), keep=False, vehicle_id="V1")
    assert run(mem, 0, copy) == [Result.ACCEPTED]
    assert opened(changes, Kind.SHOCK) == [A, B]
    with mem.store.unit_of_work(write=False) as uow:
        stored = uow.telemetry.of_vehicle("acme", "V1", 0, None, 100)
    assert [r.reading.device_id for r in stored] == ["GPS-V1"]
    # the same copy again (its request sent again in another grouping, so JetStream did not
    # drop it): applied once, as the partition's parcels are rebuilt from what it stored
    assert run(mem, 0, copy, copy) == [Result.DUPLICATE, Result.DUPLICATE]
    later = Reading("GPS-V1", at(1.5), 2, shock_g=20.0)
    again = RecordReading("acme", later, at(1.51), keep=False, vehicle_id="V1")
    assert run(mem, 0, again, again) == [Result.ACCEPTED, Result.DUPLICATE]


def test_committed_stream_positions_are_kept_with_the_batch(mem: bootstrap.System) -> None:
    assert run(mem, 3, register(mem, A), Consumed("INGEST", 3, 41)) == [Result.ACCEPTED] * 2
    run(mem, 3, Consumed("INGEST", 3, 42))
    run(mem, 5, Consumed("INGEST", 5, 7))
    with mem.store.unit_of_work(write=False) as uow:
        assert uow.offsets.all("INGEST") == {3: 42, 5: 7}
        assert uow.offsets.all("OTHER") == {}

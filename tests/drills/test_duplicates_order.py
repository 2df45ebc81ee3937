"""Duplicates and order drill (issue 8, drill 3): every event delivered one to five times, in any
order, through the real ingest pipeline (in-memory store).

Whatever the copies and the order: the stored events are exactly the distinct events, every
alert opens once, and a delivered parcel never goes back to an earlier status. Hypothesis
explores small networks; a seeded run sends 10,000 events (2,000 in ``make test``).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelguard import bootstrap
from parcelguard.domain.status import Status
from parcelguard.ingest import wire
from parcelguard.services.alerting import Change
from parcelguard.services.clock import ManualClock
from parcelguard.services.messages import Command, RecordScan
from parcelguard.services.notify import StatusChange
from tests.conftest import T0, settings_for
from tests.factories import at, event_json, shipment_json

FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
EVENTS = 10_000 if FULL else 2_000
# a parcel's journey; the second scan finds it damaged on every third parcel (an alert)
JOURNEY = (("picked_up", 0.0, None), ("in_transit", 2.0, "HUB-SHA"), ("in_transit", 5.0, None),
           ("out_for_delivery", 10.0, None), ("delivered", 12.0, None))


def _system(data_dir: Path) -> bootstrap.System:
    sys = bootstrap.build(settings_for("memory://", data_dir), clock=ManualClock(T0))
    sys.ingestor.start()
    with sys.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()
    return sys


def _parcels(sys: bootstrap.System, n: int) -> tuple[list[Command], list[RecordScan]]:
    shipments: list[Command] = []
    scans: list[RecordScan] = []
    for i in range(n):
        tn = f"SF18{i:08d}"
        w = wire.decode(json.dumps(shipment_json(tn)).encode(), wire.WireShipment)
        shipments.append(wire.to_register(w, "acme", sys.encode, at(-1)))
        for k, (status, hours, facility) in enumerate(JOURNEY):
            extra: dict[str, object] = {"location": {"facility_id": facility}} if facility else {}
            if k == 1 and i % 3 == 0:
                extra["condition"] = "damaged"
            e = wire.decode(json.dumps(event_json(
                tn, hours, status, event_id=f"{tn}-{k}", **extra)).encode(), wire.WireEvent)
            event = wire.to_event(e)
            scans.append(RecordScan("acme", event, event.occurred_at))
    return shipments, scans


def _deliver(sys: bootstrap.System, shipments: list[Command], deliveries: list[RecordScan],
             batch: int = 250) -> tuple[Counter[str], list[StatusChange]]:
    opened: Counter[str] = Counter()
    statuses: list[StatusChange] = []

    def listen(changes: list[Change]) -> None:
        opened.update(c.alert.alert_id for c in changes if c.what == "opened")

    sys.ingestor.listeners.append(listen)
    sys.ingestor.status_watchers.append(statuses.extend)
    sys.ingestor.process([shipments])
    for i in range(0, len(deliveries), batch):
        sys.ingestor.process([list(deliveries[i:i + batch])])
    return opened, statuses


def _check(sys: bootstrap.System, scans: list[RecordScan], opened: Counter[str],
           statuses: list[StatusChange]) -> None:
    wanted: dict[str, set[str]] = {}
    for s in scans:
        wanted.setdefault(s.event.tracking_no, set()).add(s.event.event_id)
    with sys.store.unit_of_work(write=False) as uow:
        for tn, ids in wanted.items():
            record = uow.shipments.get("acme", tn)
            assert record is not None
            stored = [row.event.event_id for row in uow.events.of(record.id)]
            assert sorted(stored) == sorted(ids), tn  # each once, none missing
            assert record.state.status is Status.DELIVERED, tn
    assert all(n == 1 for n in opened.values()), [a for a, n in opened.items() if n > 1]
    damaged = len([tn for tn in wanted if int(tn[4:]) % 3 == 0])
    assert len(opened) >= damaged  # at least the damage alerts opened, each once
    back = [c for c in statuses if c.before is Status.DELIVERED]
    assert back == [], back[:3]


def _copies(scans: list[RecordScan], rng: random.Random) -> list[RecordScan]:
    out = [s for s in scans for _ in range(rng.randint(1, 5))]
    rng.shuffle(out)
    return out


def test_ten_thousand_events_delivered_one_to_five_times_in_any_order(tmp_path: Path) -> None:
    rng = random.Random(3)
    sys = _system(tmp_path)
    shipments, scans = _parcels(sys, EVENTS // len(JOURNEY))
    copies = _copies(scans, rng)
    opened, statuses = _deliver(sys, shipments, copies)
    _check(sys, scans, opened, statuses)
    print(f"\nduplicates drill: {len(scans):,} events as {len(copies):,} deliveries in random "
          f"order -> {len(scans):,} stored, {len(opened)} alerts each opened once, "
          f"0 regressions from delivered")


@settings(max_examples=15 if not FULL else 60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(parcels=st.integers(1, 12), seed=st.integers(0, 2 ** 32), batch=st.integers(1, 40))
def test_any_copies_in_any_order_and_batching(tmp_path_factory: pytest.TempPathFactory,
                                              parcels: int, seed: int, batch: int) -> None:
    sys = _system(tmp_path_factory.mktemp("dup"))
    shipments, scans = _parcels(sys, parcels)
    opened, statuses = _deliver(sys, shipments, _copies(scans, random.Random(seed)), batch)
    _check(sys, scans, opened, statuses)

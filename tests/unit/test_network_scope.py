"""A carrier network's operations figures on the in-memory store, as on SQL (tests/web/test_ops.py):
its carrier's parcels of every tenant, one waybill of two merchants counted once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.domain.tenancy import Scope
from parcelguard.ingest.replay import Replay
from parcelguard.services import operations
from parcelguard.services.clock import ManualClock
from tests.conftest import settings_for
from tests.factories import at, event_json, shipment_json

WAITING = {"acme": [("SF6700000001", "sf", "HUB-N"), ("ZT6700000002", "zto", "HUB-N")],
           "other": [("SF6700000001", "sf", "HUB-N"), ("SF6700000003", "sf", "HUB-M")]}


def test_a_network_spans_tenants_on_the_memory_store(tmp_path: Path) -> None:
    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    system = bootstrap.build(settings_for("memory://", tmp_path), clock=clock)
    system.ingestor.start()
    for tenant, parcels in WAITING.items():
        with system.store.unit_of_work() as uow:
            uow.tenants.add(tenant, tenant, 0)
            uow.commit()
        lines = []
        for tn, carrier, hub in parcels:
            lines += [{"type": "shipment", **shipment_json(tn, carrier=carrier)},
                      {"type": "event", **event_json(tn, 11, carrier=carrier,
                                                     location={"facility_id": hub})}]
        summary = Replay(system.ingestor, clock, tenant, system.encode).feed(
            json.dumps(line, ensure_ascii=False).encode() for line in lines)
        assert summary.errors == []
    now = times.to_us(at(12))
    with system.store.unit_of_work(write=False) as uow:
        def board(scope: Scope) -> dict[str, int]:
            return {h.facility_id: h.on_hand
                    for h in operations.hub_board(uow, scope, now, 120.0)}

        assert board(Scope("sf-net", "sf")) == {"HUB-N": 1, "HUB-M": 1}
        assert board(Scope("acme")) == {"HUB-N": 2}
        assert board(Scope("other")) == {"HUB-N": 1, "HUB-M": 1}
        assert uow.operations.scanned(Scope("sf-net", "sf"), 0, now, "facility") == {
            "HUB-N": 1, "HUB-M": 1}
        assert uow.operations.scanned(Scope("acme"), 0, now, "facility") == {"HUB-N": 2}
    system.store.close()

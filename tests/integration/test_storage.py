"""The same storage tests against SQLite and PostgreSQL (the `db_url` fixture runs both)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from parcelguard.domain import times
from parcelguard.domain.events import Condition, Location
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.ledger.merkle import Node
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Device, DeviceKind, Reading
from parcelguard.services.ports import (
    NewShipment,
    ShipmentFilter,
    ShipmentState,
    StoredEvent,
    StoredReading,
)
from parcelguard.storage import migrate
from parcelguard.storage.sql import SqlStore
from parcelguard.storage.tables import metadata
from tests.factories import at, journey, shipment


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore.connect(db_url)
    migrate.upgrade(s.engine)
    try:
        yield s
    finally:
        s.close()


def add_shipment(store: SqlStore, tracking_no: str = "SF1400000001", tenant: str = "acme") -> int:
    with store.unit_of_work() as uow:
        if not uow.tenants.exists(tenant):
            uow.tenants.add(tenant, tenant, 0)
        sid = uow.shipments.add(NewShipment(shipment(tracking_no, tenant), "d" * 64, 1, b"x", None))
        uow.commit()
    return sid


def test_migrations_build_exactly_the_declared_schema(store: SqlStore) -> None:
    assert migrate.current(store.engine) == migrate.head()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_shipments_are_found_by_tenant_and_number_only(store: SqlStore) -> None:
    sid = add_shipment(store)
    add_shipment(store, tenant="other")
    with store.unit_of_work(write=False) as uow:
        mine = uow.shipments.get("acme", "SF1400000001")
        assert mine is not None
        assert mine.id == sid
        assert mine.shipment == shipment()
        assert uow.shipments.get("nobody", "SF1400000001") is None


def test_pages_follow_the_id_cursor_and_filters(store: SqlStore) -> None:
    ids = [add_shipment(store, f"SF14000000{i:02d}") for i in range(5)]
    with store.unit_of_work() as uow:
        uow.shipments.save_states([(ids[1], ShipmentState(status=Status.DELIVERED))])
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        first = uow.shipments.page("acme", ShipmentFilter(), None, 2)
        second = uow.shipments.page("acme", ShipmentFilter(), first[-1].id, 2)
        delivered = uow.shipments.page("acme", ShipmentFilter(status=Status.DELIVERED), None, 10)
    assert [r.id for r in first + second] == ids[:4]
    assert [r.id for r in delivered] == [ids[1]]


def test_many_states_are_saved_at_once_each_to_its_own_shipment(store: SqlStore) -> None:
    # several rows take PostgreSQL's one-statement path; vehicle_id is null in every row
    ids = [add_shipment(store, f"SF14000000{i:02d}") for i in range(3)]
    states = [
        ShipmentState(Status.IN_TRANSIT, 10, 11, 2, "facility", "HUB-SHA", None,
                      Location("HUB-SHA", "上海转运中心", "上海", 31.2, 121.4), None, 99, 5, None,
                      "上海|北京|sf|general", "1000-2000", 7, 6, 8, "lane"),
        ShipmentState(Status.DELIVERED, 20, 21, 9, "recipient", None, None, None,
                      Condition.DAMAGED, None, 5, 21, None, None, None, None, None, None),
        ShipmentState(),
    ]
    with store.unit_of_work() as uow:
        uow.shipments.save_states(list(zip(ids, states, strict=True)))
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        back = [uow.shipments.get("acme", f"SF14000000{i:02d}") for i in range(3)]
    assert [r.state for r in back if r is not None] == states


def test_events_come_back_in_event_time_order_with_their_offsets(store: SqlStore) -> None:
    sid = add_shipment(store)
    events = journey()
    with store.unit_of_work() as uow:
        uow.events.add([StoredEvent(sid, e, 5, i) for i, e in enumerate(reversed(events))])
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        back = uow.events.of(sid)
    assert [s.event for s in back] == events
    assert back[0].event.occurred_at.utcoffset() == events[0].occurred_at.utcoffset()


def test_the_same_event_cannot_be_stored_twice(store: SqlStore) -> None:
    sid = add_shipment(store)
    e = journey()[0]
    with store.unit_of_work() as uow:
        uow.events.add([StoredEvent(sid, e, 5, 0)])
        uow.commit()
    duplicate_key = (sqlite3.IntegrityError, psycopg.IntegrityError)  # raw cursor on the hot path
    with store.unit_of_work() as uow, pytest.raises(duplicate_key):
        uow.events.add([StoredEvent(sid, e, 6, 1)])


def test_readings_know_their_keys_and_vehicle_windows(store: SqlStore) -> None:
    add_shipment(store)
    rows = [StoredReading("acme", Reading("GPS-1", at(h), lat=31.0 + h), 1, None, "V1", 0)
            for h in range(4)]
    with store.unit_of_work() as uow:
        uow.telemetry.add(rows)
        uow.devices.put(Device("acme", "GPS-1", DeviceKind.VEHICLE_UNIT, vehicle_id="V1"))
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        keys = {("GPS-1", times.to_us(at(1))), ("GPS-1", times.to_us(at(9)))}
        assert uow.telemetry.known("acme", keys) == {("GPS-1", times.to_us(at(1)))}
        assert uow.telemetry.known("other", keys) == set()
        window = uow.telemetry.of_vehicle("acme", "V1", times.to_us(at(1)), times.to_us(at(3)), 10)
        assert [r.reading.lat for r in window] == [32.0, 33.0]
        assert uow.devices.get("acme", "GPS-1") == Device("acme", "GPS-1", DeviceKind.VEHICLE_UNIT,
                                                          vehicle_id="V1")


def sealed(i: int) -> Sealed:
    return Sealed(i, "scan.recorded", "acme", "SF1400000001", i, b'{"i":%d}' % i, bytes([i]) * 32)


def test_the_ledger_keeps_leaves_nodes_and_checkpoints(store: SqlStore) -> None:
    from parcelguard.services.ports import CheckpointRecord

    with store.unit_of_work() as uow:
        uow.ledger.append([sealed(i) for i in range(5)], [Node(8, 0, b"\x09" * 32)])
        uow.ledger.add_checkpoint(CheckpointRecord(5, b"\x01" * 32, 7, "note"))
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        assert uow.ledger.size() == 5
        assert uow.ledger.leaves(1, 3) == [b"\x01" * 32, b"\x02" * 32]
        assert uow.ledger.node(8, 0) == b"\x09" * 32
        assert uow.ledger.entry(4) == sealed(4)
        assert [e.index for e in uow.ledger.entries_of("acme", "SF1400000001")] == list(range(5))
        assert uow.ledger.latest_checkpoint() == CheckpointRecord(5, b"\x01" * 32, 7, "note")
        assert [i for i, _, _ in uow.ledger.scan(3)] == [3, 4]


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET kind = 'x'", "DELETE FROM ledger_entries",
    "DELETE FROM ledger_checkpoints", "UPDATE ledger_nodes SET level = 9",
])
def test_ledger_tables_refuse_updates_and_deletes(store: SqlStore, statement: str) -> None:
    with store.unit_of_work() as uow:
        uow.ledger.append([sealed(0)], [Node(8, 0, b"\x09" * 32)])
        from parcelguard.services.ports import CheckpointRecord

        uow.ledger.add_checkpoint(CheckpointRecord(1, b"\x01" * 32, 7, "note"))
        uow.commit()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    with store.unit_of_work(write=False) as uow:
        assert uow.ledger.size() == 1


def test_facility_positions_are_kept_per_tenant_and_moved_in_place(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        uow.tenants.add("acme", "acme", 0)
        uow.events.save_places([("acme", "HUB-SHA", 31.0, 121.0), ("other", "HUB-CAN", 23.13,
                                                                   113.26)])
        uow.events.save_places([("acme", "HUB-SHA", 31.23, 121.47)])  # it moved
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        assert uow.events.facility_positions() == [("acme", "HUB-SHA", 31.23, 121.47),
                                                   ("other", "HUB-CAN", 23.13, 113.26)]


def test_stream_positions_only_move_forward(store: SqlStore) -> None:
    """Bus mode: a worker that was replaced cannot move a partition's position back."""
    for seqs in ({3: 42, 5: 7}, {3: 41}, {5: 9}):
        with store.unit_of_work() as uow:
            uow.offsets.save("INGEST", seqs)
            uow.commit()
    with store.unit_of_work(write=False) as uow:
        assert uow.offsets.all("INGEST") == {3: 42, 5: 9}
        assert uow.offsets.all("OTHER") == {}

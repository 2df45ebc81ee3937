"""The SQL store: one unit of work is one connection and one transaction.

The writer's unit of work takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``); readers
take none. Bulk inserts go through executemany, which psycopg 3 pipelines on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parcelguard.domain import times
from parcelguard.domain.alerts import ACTIVE, Alert, Kind, Severity
from parcelguard.domain.alerts import State as AlertState
from parcelguard.domain.claims import Claim, Claimant, ClaimKind, ClaimState, Step
from parcelguard.domain.custom import CustomRule, Trigger
from parcelguard.domain.errors import Conflict, Unavailable
from parcelguard.domain.events import Condition, Location, TrackingEvent
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.ledger.merkle import Node
from parcelguard.domain.shipment import Category, MaskedRecipient, Place, Shipment, Thresholds
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Device, DeviceKind, Reading
from parcelguard.domain.tenancy import Role, Scope
from parcelguard.domain.webhooks import EventType, Message, MessageState
from parcelguard.services.ports import (
    AlertCounts,
    AlertFilter,
    AlertNote,
    ApiKeyRecord,
    Attempt,
    CarrierCounts,
    CarrierEstimate,
    CheckpointRecord,
    ClaimCounts,
    ClaimFilter,
    ConsumerMessage,
    EndpointRow,
    LookupFailures,
    NewShipment,
    PickupCode,
    QuarantinedEvent,
    RejectedPayload,
    ShipmentFilter,
    ShipmentRecord,
    ShipmentState,
    StoredEvent,
    StoredReading,
    SubscriptionRow,
)
from parcelguard.storage import engine as engines
from parcelguard.storage import tables as t
from parcelguard.storage.sql_disruptions import SqlDisruptions
from parcelguard.storage.sql_notices import SqlNotices
from parcelguard.storage.sql_operations import SqlOperations
from parcelguard.storage.sql_request_keys import SqlRequestKeys
from parcelguard.storage.sqlrepo import blob


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.checkpointer: engines.WalCheckpointer | None = None
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, ":memory:"):
            self.checkpointer = engines.WalCheckpointer(engine)
            self.checkpointer.start()

    @classmethod
    def connect(cls, url: str, *, allow_unsafe: bool = False) -> SqlStore:
        return cls(engines.create(url, allow_unsafe=allow_unsafe))

    def unit_of_work(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _place(text: str) -> Place:
    d = json.loads(text)
    return Place(d["city"], d.get("lat"), d.get("lon"), d.get("country", "CN"))


def _place_json(p: Place) -> str:
    return _dumps({"city": p.city, "lat": p.lat, "lon": p.lon, "country": p.country})


_json = msgspec.json.Encoder()


def _location_json(loc: Location | None) -> str | None:
    if loc is None:
        return None
    return _json.encode({"facility_id": loc.facility_id, "name": loc.name, "city": loc.city,
                         "lat": loc.lat, "lon": loc.lon}).decode()


def _location(text: str | None) -> Location | None:
    return None if text is None else Location(**json.loads(text))


def _dt(us: int | None, offset: int | None) -> Any:
    return None if us is None else times.from_us(us, offset or 0)


class _Repo:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self.uow = uow

    @property
    def conn(self) -> sa.Connection:
        return self.uow.conn

    def cursor(self) -> Any:
        """A DB-API cursor in this unit of work's transaction, for the hot paths."""
        return self.conn.connection.cursor()

    def sql(self, text: str) -> str:
        return _paramstyle(text, self.conn.dialect.paramstyle)

    def bulk(self, text: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """executemany straight to the driver: no per-row SQL expression work."""
        if rows:
            cur = self.cursor()
            try:
                cur.executemany(self.sql(text), rows)
            finally:
                cur.close()

    def insert(self, statement: Insert, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.conn.dialect.name != "postgresql":
            self.bulk(statement.sql, rows)
            return
        cur = self.cursor()
        try:
            with cur.copy(statement.copy) as copy:
                copy.set_types(statement.types)
                for row in rows:
                    copy.write_row(row)
        finally:
            cur.close()


class Insert:
    """A plain INSERT of many rows: binary COPY on PostgreSQL (one statement for the lot,
    against one execution per row for ``executemany``: a third of the time on both ends),
    else executemany. Same outcome either way, a broken unique key included: all fail."""

    def __init__(self, table: sa.Table, columns: Sequence[str]) -> None:
        self.sql = _insert_sql(table, columns)
        self.copy = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        self.types = [_pg_type(table.c[name]) for name in columns]


def _pg_type(column: sa.Column[Any]) -> str:
    """What binary COPY sends a column's values as."""
    kind = column.type
    for python, pg in ((sa.SmallInteger, "int2"), (sa.BigInteger, "int8"), (sa.Integer, "int4"),
                       (sa.Float, "float8"), (sa.LargeBinary, "bytea"), (sa.String, "text")):
        if isinstance(kind, python):  # sa.Text is a String
            return pg
    raise TypeError(f"no binary COPY type for {column.table.name}.{column.name} ({kind!r})")


def _insert_sql(table: sa.Table, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _paramstyle(sql: str, style: str) -> str:
    return sql if style == "qmark" else sql.replace("?", "%s")


class SqlTenants(_Repo):
    def add(self, tenant_id: str, name: str, created_at_us: int) -> None:
        self.conn.execute(t.tenants.insert().values(id=tenant_id, name=name, created_at=created_at_us))

    def exists(self, tenant_id: str) -> bool:
        return self.conn.execute(
            sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)
        ).first() is not None

    def all(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(sa.select(t.tenants.c.id, t.tenants.c.name).order_by(t.tenants.c.id))
        return [(r.id, r.name) for r in rows]

    def add_key(self, key: ApiKeyRecord) -> None:
        self.conn.execute(t.api_keys.insert().values(
            key_id=key.key_id, tenant_id=key.tenant_id, role=key.role.value,
            secret_hash=key.secret_hash, label=key.label, created_at=key.created_at_us,
            revoked_at=key.revoked_at_us, network=key.network,
        ))

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        row = self.conn.execute(sa.select(t.api_keys).where(t.api_keys.c.key_id == key_id)).first()
        return None if row is None else _key(row)

    def keys(self, tenant_id: str) -> list[ApiKeyRecord]:
        rows = self.conn.execute(
            sa.select(t.api_keys).where(t.api_keys.c.tenant_id == tenant_id)
            .order_by(t.api_keys.c.created_at)
        )
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str, at_us: int) -> bool:
        res = self.conn.execute(
            t.api_keys.update()
            .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at_us)
        )
        return res.rowcount == 1

    def networks(self) -> list[Scope]:
        c = t.api_keys.c
        live = sa.select(c.tenant_id, c.network).where(
            c.network.is_not(None), c.revoked_at.is_(None), c.role == Role.CARRIER.value)
        o = t.ops_alerts.c  # and those with alerts open: a revoked network's still clear
        still = sa.select(o.tenant_id, o.network).where(o.network.is_not(None),
                                                        o.cleared_at.is_(None))
        rows = self.conn.execute(sa.union(live, still))
        return sorted({Scope(r[0], r[1]) for r in rows},
                      key=lambda x: (x.tenant_id, x.network or ""))


def _key(r: sa.Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(r.key_id, r.tenant_id, Role(r.role), r.secret_hash, r.label,
                        r.created_at, r.revoked_at, r.network)


_SHIPMENT_COLUMNS = (
    "tenant_id", "tracking_no", "carrier", "category", "order_ref", "origin", "destination",
    "promised_by", "promised_offset", "declared_value_fen", "route_plan", "devices", "thresholds",
    "recipient_masked", "recipient_sealed", "lookup_digest", "spec_digest", "created_at",
)
_SHIPMENT_INSERT = _insert_sql(t.shipments, _SHIPMENT_COLUMNS) + " RETURNING id"
_STATE_COLUMNS = (
    "status", "status_changed_at", "last_event_at", "event_count", "holder_kind", "holder_id",
    "vehicle_id", "location", "condition", "next_deadline_at", "picked_up_at", "delivered_at",
    "lane", "band", "eta_at", "eta_low_at", "eta_high_at", "eta_basis",
)
_SHIPMENT_BY_NUMBER = (
    f"SELECT s.*, {', '.join('st.' + c for c in _STATE_COLUMNS)} FROM shipments s "
    "JOIN shipment_states st ON st.shipment_id = s.id WHERE s.tenant_id = ? AND s.tracking_no = ?"
)
_SHIPMENTS_NUMBERED = (
    f"SELECT s.*, {', '.join('st.' + c for c in _STATE_COLUMNS)} FROM shipments s "
    "JOIN shipment_states st ON st.shipment_id = s.id WHERE s.tracking_no = ? ORDER BY s.id LIMIT ?"
)
_STATE_INSERT = "INSERT INTO shipment_states (shipment_id, tenant_id) VALUES (?, ?)"
_JOINED = sa.join(t.shipments, t.shipment_states,
                  t.shipment_states.c.shipment_id == t.shipments.c.id)


def _shipment_row(new: NewShipment) -> tuple[Any, ...]:
    s, masked, promised = new.shipment, new.shipment.recipient, new.shipment.promised_by
    return (
        s.tenant_id, s.tracking_no, s.carrier, s.category.value, s.order_ref,
        _place_json(s.origin), _place_json(s.destination),
        times.to_us(promised) if promised else None,
        times.offset_min(promised) if promised else None, s.declared_value_fen,
        _dumps(list(s.route_plan)), _dumps(list(s.devices)), _dumps(s.thresholds.as_dict()),
        None if masked is None else _dumps(
            {"name": masked.name, "phone": masked.phone, "address": masked.address}),
        new.recipient_sealed, new.lookup_digest, new.spec_digest, new.created_at_us,
    )


class SqlShipments(_Repo):
    def add(self, new: NewShipment) -> int:
        cur = self.cursor()
        try:
            cur.execute(self.sql(_SHIPMENT_INSERT), _shipment_row(new))
            shipment_id = int(cur.fetchone()[0])
            cur.execute(self.sql(_STATE_INSERT), (shipment_id, new.shipment.tenant_id))
            return shipment_id
        finally:
            cur.close()

    def get(self, tenant_id: str, tracking_no: str) -> ShipmentRecord | None:
        cur = self.cursor()
        try:
            cur.execute(self.sql(_SHIPMENT_BY_NUMBER), (tenant_id, tracking_no))
            row = cur.fetchone()
            names = [d[0] for d in cur.description] if row is not None else []
        finally:
            cur.close()
        return None if row is None else _shipment(_Row(dict(zip(names, row, strict=True))))

    def numbered(self, tracking_no: str, limit: int = 20) -> list[ShipmentRecord]:
        cur = self.cursor()
        try:
            cur.execute(self.sql(_SHIPMENTS_NUMBERED), (tracking_no, limit))
            rows = cur.fetchall()
            names = [d[0] for d in cur.description] if rows else []
        finally:
            cur.close()
        return [_shipment(_Row(dict(zip(names, row, strict=True)))) for row in rows]

    def page(
        self, tenant_id: str, where: ShipmentFilter, after_id: int | None, limit: int
    ) -> list[ShipmentRecord]:
        c, st = t.shipments.c, t.shipment_states.c
        q = sa.select(t.shipments, *(st[name] for name in _STATE_COLUMNS)).select_from(_JOINED)
        q = q.where(c.tenant_id == tenant_id)
        if where.status is not None:
            q = q.where(st.tenant_id == tenant_id, st.status == where.status.value)
        if where.category is not None:
            q = q.where(c.category == where.category.value)
        if where.carrier is not None:
            q = q.where(c.carrier == where.carrier)
        if where.at_risk_before_us is not None:
            q = q.where(c.promised_by < where.at_risk_before_us,
                        st.status.not_in(("delivered", "returned")))
        if after_id is not None:
            q = q.where(c.id > after_id)
        return [_shipment(r) for r in self.conn.execute(q.order_by(c.id).limit(limit))]

    def save_states(self, states: Sequence[tuple[int, ShipmentState]]) -> None:
        rows = [
            (s.status.value, s.status_changed_at_us, s.last_event_at_us, s.event_count,
             s.holder_kind, s.holder_id, s.vehicle_id, _location_json(s.location),
             s.condition.value if s.condition else None, s.next_deadline_at_us,
             s.picked_up_at_us, s.delivered_at_us, s.lane, s.band, s.eta_us, s.eta_low_us,
             s.eta_high_us, s.eta_basis, sid)
            for sid, s in states
        ]
        if self.conn.dialect.name != "postgresql" or len(rows) == 1:
            self.bulk(_STATE_UPDATE, rows)
            return
        # the rows COPYed into a session's scratch table and applied by one UPDATE: a third of
        # the client's time of one UPDATE per row, which a worker spends in every batch. Each
        # shipment comes once (the writer's dirty states are a dict by shipment), as UPDATE FROM
        # needs: with two rows for one target it would apply either. Needs the TEMP privilege.
        cur = self.cursor()
        try:
            cur.execute(_STATES_SCRATCH)
            with cur.copy(_STATES_COPY) as copy:
                copy.set_types(_STATES_TYPES)
                for row in rows:
                    copy.write_row(row)
            cur.execute(_STATES_APPLY)
            cur.execute("TRUNCATE shipment_states_in")  # DELETE would leave it to grow: no
            #                                             autovacuum for temporary tables
        finally:
            cur.close()

    def transit_history(self, limit: int) -> list[tuple[str, str, float]]:
        rows = self.conn.exec_driver_sql(self.sql(
            "SELECT lane, band, delivered_at - picked_up_at FROM shipment_states "
            "WHERE delivered_at IS NOT NULL AND picked_up_at IS NOT NULL AND lane IS NOT NULL "
            "ORDER BY delivered_at DESC LIMIT ?"), (limit,))
        return [(r[0], r[1], r[2] / 3.6e9) for r in reversed(rows.all())]

    def deadlines(self) -> list[tuple[str, str, int]]:
        rows = self.conn.exec_driver_sql(
            "SELECT s.tenant_id, s.tracking_no, st.next_deadline_at FROM shipment_states st "
            "JOIN shipments s ON s.id = st.shipment_id WHERE st.next_deadline_at IS NOT NULL"
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    def aboard(self) -> list[tuple[str, str, str]]:
        rows = self.conn.exec_driver_sql(
            "SELECT s.tenant_id, s.tracking_no, st.vehicle_id FROM shipment_states st "
            "JOIN shipments s ON s.id = st.shipment_id WHERE st.vehicle_id IS NOT NULL"
        )
        return [(r[0], r[1], r[2]) for r in rows]


_STATE_UPDATE = (
    "UPDATE shipment_states SET " + ", ".join(f"{name} = ?" for name in _STATE_COLUMNS)
    + " WHERE shipment_id = ?"
)


_STATES_SCRATCH = (  # a temporary table lives as long as its session, and only there
    f"CREATE TEMP TABLE IF NOT EXISTS shipment_states_in AS SELECT {', '.join(_STATE_COLUMNS)}, "
    "shipment_id FROM shipment_states WITH NO DATA"
)
_STATES_COPY = (f"COPY shipment_states_in ({', '.join(_STATE_COLUMNS)}, shipment_id) FROM STDIN "
                "(FORMAT BINARY)")
_STATES_TYPES = [_pg_type(t.shipment_states.c[name]) for name in (*_STATE_COLUMNS, "shipment_id")]
_STATES_APPLY = (
    "UPDATE shipment_states AS st SET " + ", ".join(f"{n} = v.{n}" for n in _STATE_COLUMNS)
    + " FROM shipment_states_in AS v WHERE st.shipment_id = v.shipment_id"
)


class _Row:
    """Attribute access over a column-name mapping, like SQLAlchemy's Row."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(name) from None


def _shipment(r: Any) -> ShipmentRecord:
    masked = json.loads(r.recipient_masked) if r.recipient_masked else None
    shipment = Shipment(
        tenant_id=r.tenant_id, tracking_no=r.tracking_no, carrier=r.carrier,
        category=Category(r.category), origin=_place(r.origin), destination=_place(r.destination),
        promised_by=_dt(r.promised_by, r.promised_offset), order_ref=r.order_ref,
        declared_value_fen=r.declared_value_fen, route_plan=tuple(json.loads(r.route_plan)),
        devices=tuple(json.loads(r.devices)), thresholds=Thresholds(**json.loads(r.thresholds)),
        recipient=MaskedRecipient(**masked) if masked else None,
    )
    state = ShipmentState(
        status=Status(r.status), status_changed_at_us=r.status_changed_at,
        last_event_at_us=r.last_event_at, event_count=r.event_count, holder_kind=r.holder_kind,
        holder_id=r.holder_id, vehicle_id=r.vehicle_id, location=_location(r.location),
        condition=Condition(r.condition) if r.condition else None,
        next_deadline_at_us=r.next_deadline_at, picked_up_at_us=r.picked_up_at,
        delivered_at_us=r.delivered_at, lane=r.lane, band=r.band, eta_us=r.eta_at,
        eta_low_us=r.eta_low_at, eta_high_us=r.eta_high_at, eta_basis=r.eta_basis,
    )
    return ShipmentRecord(r.id, shipment, r.spec_digest, r.created_at, state,
                          r.recipient_sealed, r.lookup_digest)


def _event_json(e: TrackingEvent) -> str:
    loc = e.location
    return _dumps({
        "event_id": e.event_id, "tracking_no": e.tracking_no, "carrier": e.carrier,
        "occurred_at": times.iso(e.occurred_at), "status": e.status.value,
        "substatus": e.substatus, "location": None if loc is None else json.loads(
            _location_json(loc) or "null"),
        "operator_id": e.operator_id, "device_id": e.device_id, "vehicle_id": e.vehicle_id,
        "condition": e.condition.value if e.condition else None, "description": e.description,
        "source": e.source, "carrier_code": e.carrier_code,
    })


_EVENT_COLUMNS = (
    "shipment_id", "event_id", "occurred_at", "occurred_offset", "received_at", "status",
    "substatus", "carrier", "carrier_code", "source", "facility_id", "location_name", "city",
    "lat", "lon", "operator_id", "device_id", "vehicle_id", "condition", "description", "raw",
    "ledger_index",
)
_EVENT_INSERT = Insert(t.events, _EVENT_COLUMNS)


def _event_row(r: StoredEvent) -> tuple[Any, ...]:
    e, loc = r.event, r.event.location
    at = e.occurred_at
    return (
        r.shipment_id, e.event_id, times.to_us(at), times.offset_min(at), r.received_at_us,
        e.status.value, e.substatus, e.carrier, e.carrier_code, e.source,
        loc.facility_id if loc else None, loc.name if loc else None, loc.city if loc else None,
        loc.lat if loc else None, loc.lon if loc else None, e.operator_id, e.device_id,
        e.vehicle_id, e.condition.value if e.condition else None, e.description,
        r.raw_json.decode() if r.raw_json else None, r.ledger_index,
    )


_PLACE_UPSERT = (
    _insert_sql(t.facilities, ["tenant_id", "facility_id", "lat", "lon"])
    + " ON CONFLICT (tenant_id, facility_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon"
)


class SqlEvents(_Repo):
    def add(self, rows: Sequence[StoredEvent]) -> None:
        self.insert(_EVENT_INSERT, [_event_row(r) for r in rows])

    def save_places(self, rows: Sequence[tuple[str, str, float, float]]) -> None:
        self.bulk(_PLACE_UPSERT, list(rows))

    def facility_positions(self, tenant_id: str | None = None
                           ) -> list[tuple[str, str, float, float]]:
        c = t.facilities.c
        q = sa.select(c.tenant_id, c.facility_id, c.lat, c.lon)
        if tenant_id is not None:
            q = q.where(c.tenant_id == tenant_id)
        rows = self.conn.execute(q.order_by(c.tenant_id, c.facility_id))
        return [(r[0], r[1], float(r[2]), float(r[3])) for r in rows]

    def of(self, shipment_id: int) -> list[StoredEvent]:
        c = t.events.c
        rows = self.conn.execute(
            sa.select(t.events, t.shipments.c.tracking_no)
            .join(t.shipments, t.shipments.c.id == c.shipment_id)
            .where(c.shipment_id == shipment_id)
            .order_by(c.occurred_at, c.event_id)
        )
        return [_stored_event(r) for r in rows]

    def quarantine(self, rows: Sequence[QuarantinedEvent]) -> None:
        self.conn.execute(t.quarantined_events.insert(), [
            {"tenant_id": q.tenant_id, "tracking_no": q.event.tracking_no,
             "event_id": q.event.event_id, "event": _event_json(q.event),
             "received_at": q.received_at_us, "reason": q.reason}
            for q in rows
        ])

    def quarantined(self, tenant_id: str, tracking_no: str) -> list[QuarantinedEvent]:
        c = t.quarantined_events.c
        rows = self.conn.execute(
            sa.select(t.quarantined_events)
            .where(c.tenant_id == tenant_id, c.tracking_no == tracking_no).order_by(c.id)
        )
        return [QuarantinedEvent(r.tenant_id, _event_from_json(json.loads(r.event)),
                                 r.received_at, r.reason) for r in rows]

    def is_quarantined(self, tenant_id: str, tracking_no: str, event_id: str) -> bool:
        c = t.quarantined_events.c
        return self.conn.execute(
            sa.select(c.id).where(c.tenant_id == tenant_id, c.tracking_no == tracking_no,
                                  c.event_id == event_id).limit(1)
        ).first() is not None

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.events)).scalar_one())


def _event_from_json(d: dict[str, Any]) -> TrackingEvent:
    loc = d.get("location")
    return TrackingEvent(
        event_id=d["event_id"], tracking_no=d["tracking_no"], carrier=d["carrier"],
        occurred_at=times.parse(d["occurred_at"], "occurred_at"), status=Status(d["status"]),
        substatus=d.get("substatus"), location=Location(**loc) if loc else None,
        operator_id=d.get("operator_id"), device_id=d.get("device_id"),
        vehicle_id=d.get("vehicle_id"),
        condition=Condition(d["condition"]) if d.get("condition") else None,
        description=d.get("description"), source=d.get("source", "api"),
        carrier_code=d.get("carrier_code"),
    )


def _stored_event(r: sa.Row[Any]) -> StoredEvent:
    has_loc = any(v is not None for v in (r.facility_id, r.location_name, r.city, r.lat, r.lon))
    event = TrackingEvent(
        event_id=r.event_id, tracking_no=r.tracking_no, carrier=r.carrier,
        occurred_at=times.from_us(r.occurred_at, r.occurred_offset), status=Status(r.status),
        substatus=r.substatus,
        location=Location(r.facility_id, r.location_name, r.city, r.lat, r.lon) if has_loc else None,
        operator_id=r.operator_id, device_id=r.device_id, vehicle_id=r.vehicle_id,
        condition=Condition(r.condition) if r.condition else None, description=r.description,
        source=r.source, carrier_code=r.carrier_code,
        raw=json.loads(r.raw) if r.raw else None,
    )
    return StoredEvent(r.shipment_id, event, r.received_at, r.ledger_index,
                       r.raw.encode() if r.raw else None)


_READING_FIELDS = ("seq", "lat", "lon", "speed_kmh", "temperature_c", "humidity_pct", "shock_g",
                   "light_lux", "battery_pct")


_READING_INSERT = Insert(t.readings, (
    "tenant_id", "device_id", "ts", "ts_offset", *_READING_FIELDS, "shipment_id", "vehicle_id",
    "received_at", "ledger_index", "position",
))


_COPY_INSERT = _insert_sql(t.vehicle_copies, (
    "partition", "tenant_id", "device_id", "ts", "ts_offset", *_READING_FIELDS, "vehicle_id",
    "received_at", "ledger_index", "position",
)) + " ON CONFLICT DO NOTHING"  # a copy sent again after the bus's duplicate window


class SqlTelemetry(_Repo):
    def add(self, rows: Sequence[StoredReading]) -> None:
        self.insert(_READING_INSERT, [
            (r.tenant_id, r.reading.device_id, times.to_us(r.reading.ts),
             times.offset_min(r.reading.ts), *(getattr(r.reading, f) for f in _READING_FIELDS),
             r.shipment_id, r.vehicle_id, r.received_at_us, r.ledger_index, r.position)
            for r in rows
        ])

    def known(self, tenant_id: str, keys: set[tuple[str, int]],
              partition: int | None = None) -> set[tuple[str, int]]:
        if not keys:
            return set()
        table = t.readings if partition is None else t.vehicle_copies
        c = table.c
        found: set[tuple[str, int]] = set()
        devices = sorted({d for d, _ in keys})
        lo, hi = min(ts for _, ts in keys), max(ts for _, ts in keys)
        for i in range(0, len(devices), 500):
            rows = self.conn.execute(
                sa.select(c.device_id, c.ts).where(
                    c.tenant_id == tenant_id, c.device_id.in_(devices[i : i + 500]),
                    c.ts >= lo, c.ts <= hi,
                    *([] if partition is None else [c.partition == partition]),
                )
            )
            found.update(k for k in ((r.device_id, r.ts) for r in rows) if k in keys)
        return found

    def of_shipment(
        self, shipment_id: int, since_us: int | None, until_us: int | None, limit: int
    ) -> list[StoredReading]:
        c = t.readings.c
        q = sa.select(t.readings).where(c.shipment_id == shipment_id)
        return self._run(q, since_us, until_us, limit)

    def of_vehicle(
        self, tenant_id: str, vehicle_id: str, since_us: int, until_us: int | None, limit: int
    ) -> list[StoredReading]:
        c = t.readings.c
        q = sa.select(t.readings).where(c.tenant_id == tenant_id, c.vehicle_id == vehicle_id)
        return self._run(q, since_us, until_us, limit)

    def add_copies(self, partition: int, rows: Sequence[StoredReading]) -> None:
        self.bulk(_COPY_INSERT, [
            (partition, r.tenant_id, r.reading.device_id, times.to_us(r.reading.ts),
             times.offset_min(r.reading.ts), *(getattr(r.reading, f) for f in _READING_FIELDS),
             r.vehicle_id, r.received_at_us, r.ledger_index, r.position)
            for r in rows
        ])

    def copies_of_vehicle(
        self, partition: int, tenant_id: str, vehicle_id: str, since_us: int,
        until_us: int | None, limit: int,
    ) -> list[StoredReading]:
        c = t.vehicle_copies.c
        q = sa.select(t.vehicle_copies).where(c.partition == partition, c.tenant_id == tenant_id,
                                               c.vehicle_id == vehicle_id)
        return self._run(q, since_us, until_us, limit, t.vehicle_copies)

    def _run(
        self, q: sa.Select[Any], since: int | None, until: int | None, limit: int,
        table: sa.Table = t.readings,
    ) -> list[StoredReading]:
        c = table.c
        if since is not None:
            q = q.where(c.ts >= since)
        if until is not None:
            q = q.where(c.ts < until)
        rows = self.conn.execute(q.order_by(c.ts).limit(limit))
        return [
            StoredReading(
                r.tenant_id,
                Reading(r.device_id, times.from_us(r.ts, r.ts_offset),
                        **{f: getattr(r, f) for f in _READING_FIELDS}),
                r.received_at, getattr(r, "shipment_id", None), r.vehicle_id, r.ledger_index,
                r.position,
            )
            for r in rows
        ]


_DEVICE_UPSERT = (
    "INSERT INTO devices (tenant_id, device_id, kind, tracking_no, vehicle_id, facility_id) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, device_id) DO UPDATE SET "
    "kind = excluded.kind, tracking_no = excluded.tracking_no, "
    "vehicle_id = excluded.vehicle_id, facility_id = excluded.facility_id"
)
_DEVICE_GET = (
    "SELECT kind, tracking_no, vehicle_id, facility_id FROM devices "
    "WHERE tenant_id = ? AND device_id = ?"
)


class SqlDevices(_Repo):
    def put(self, device: Device) -> None:
        self.bulk(_DEVICE_UPSERT, [(device.tenant_id, device.device_id, device.kind.value,
                                    device.tracking_no, device.vehicle_id, device.facility_id)])

    def get(self, tenant_id: str, device_id: str) -> Device | None:
        cur = self.cursor()
        try:
            cur.execute(self.sql(_DEVICE_GET), (tenant_id, device_id))
            row = cur.fetchone()
        finally:
            cur.close()
        if row is None:
            return None
        kind, tracking_no, vehicle_id, facility_id = row
        return Device(tenant_id, device_id, DeviceKind(kind), tracking_no, vehicle_id, facility_id)

    def page(self, tenant_id: str, after: str | None, limit: int) -> list[Device]:
        c = t.devices.c
        q = sa.select(t.devices).where(c.tenant_id == tenant_id)
        if after is not None:
            q = q.where(c.device_id > after)
        return [Device(r.tenant_id, r.device_id, DeviceKind(r.kind), r.tracking_no, r.vehicle_id,
                       r.facility_id)
                for r in self.conn.execute(q.order_by(c.device_id).limit(limit))]


_ALERT_COLUMNS = (
    "alert_id", "tenant_id", "shipment_id", "tracking_no", "rule", "kind", "severity", "state",
    "opened_at", "updated_at", "acknowledged_at", "closed_at", "escalated_at", "assignee",
    "repeats", "evidence",
)
_ALERT_UPSERT = (
    _insert_sql(t.alerts, _ALERT_COLUMNS) + " ON CONFLICT (alert_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS[4:])
)


def _alert_row(alert: Alert, shipment_id: int) -> tuple[Any, ...]:
    a = alert
    return (a.alert_id, a.tenant_id, shipment_id, a.tracking_no, a.rule, a.kind.value,
            a.severity.value, a.state.value, a.opened_at_us, a.updated_at_us, a.acknowledged_at_us,
            a.closed_at_us, a.escalated_at_us, a.assignee, a.repeats,
            _json.encode(a.evidence).decode())


def _alert(r: Any) -> Alert:
    return Alert(r.alert_id, r.tenant_id, r.tracking_no, r.rule, Kind(r.kind), Severity(r.severity),
                 AlertState(r.state), r.opened_at, r.updated_at, json.loads(r.evidence), r.repeats,
                 r.acknowledged_at, r.closed_at, r.assignee, r.escalated_at)


class SqlAlerts(_Repo):
    def save(self, alerts: Sequence[tuple[Alert, int]]) -> None:
        self.bulk(_ALERT_UPSERT, [_alert_row(a, sid) for a, sid in alerts])

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        c = t.alerts.c
        r = self.conn.execute(
            sa.select(t.alerts).where(c.tenant_id == tenant_id, c.alert_id == alert_id)
        ).first()
        return None if r is None else _alert(r)

    def of_shipment(self, shipment_id: int) -> list[Alert]:
        rows = self.conn.execute(sa.select(t.alerts).where(t.alerts.c.shipment_id == shipment_id))
        return [_alert(r) for r in rows]

    def page(
        self, tenant_id: str, where: AlertFilter, before: tuple[int, str] | None, limit: int
    ) -> list[Alert]:
        c = t.alerts.c
        q = sa.select(t.alerts).where(c.tenant_id == tenant_id)
        if where.state is not None:
            q = q.where(c.state == where.state.value)
        if where.active:
            q = q.where(c.state.in_((AlertState.OPEN, AlertState.ACKNOWLEDGED)))
        if where.kind is not None:
            q = q.where(c.kind == where.kind.value)
        if where.severity is not None:
            q = q.where(c.severity == where.severity.value)
        if where.tracking_no is not None:
            q = q.where(c.tracking_no == where.tracking_no)
        if before is not None:
            q = q.where(sa.tuple_(c.opened_at, c.alert_id) < sa.tuple_(*before))
        q = q.order_by(c.opened_at.desc(), c.alert_id.desc()).limit(limit)
        return [_alert(r) for r in self.conn.execute(q)]

    def add_note(self, note: AlertNote) -> None:
        self.conn.execute(t.alert_notes.insert().values(
            alert_id=note.alert_id, tenant_id=note.tenant_id, at=note.at_us, author=note.author,
            text=note.text))

    def notes(self, alert_id: str) -> list[AlertNote]:
        c = t.alert_notes.c
        rows = self.conn.execute(sa.select(t.alert_notes).where(c.alert_id == alert_id).order_by(c.id))
        return [AlertNote(r.alert_id, r.tenant_id, r.at, r.author, r.text) for r in rows]


def _subscription(r: Any) -> SubscriptionRow:
    return SubscriptionRow(r.subscription_id, r.tenant_id, r.url, bytes(r.secret_sealed),
                           tuple(json.loads(r.events)), tuple(json.loads(r.kinds)),
                           bool(r.enabled), r.disabled_reason, r.created_at)


def _message(r: Any) -> Message:
    return Message(r.message_id, r.tenant_id, r.subscription_id, EventType(r.event), bytes(r.body),
                   r.created_at, r.next_attempt_at, r.attempts, MessageState(r.state),
                   r.last_error, r.delivered_at)


_MESSAGE_UPDATE = (
    "UPDATE webhook_messages SET next_attempt_at = ?, attempts = ?, state = ?, last_error = ?, "
    "delivered_at = ? WHERE message_id = ?"
)
_ATTEMPT_INSERT = _insert_sql(t.webhook_attempts, (
    "message_id", "attempt", "at", "status_code", "error", "duration_ms"))


class SqlWebhooks(_Repo):
    def add_subscription(self, row: SubscriptionRow) -> None:
        self.conn.execute(t.webhook_subscriptions.insert().values(
            subscription_id=row.subscription_id, tenant_id=row.tenant_id, url=row.url,
            secret_sealed=row.secret_sealed, events=_dumps(list(row.events)),
            kinds=_dumps(list(row.kinds)), enabled=row.enabled,
            disabled_reason=row.disabled_reason, created_at=row.created_at_us))

    def subscription(self, tenant_id: str, subscription_id: str) -> SubscriptionRow | None:
        c = t.webhook_subscriptions.c
        r = self.conn.execute(sa.select(t.webhook_subscriptions).where(
            c.tenant_id == tenant_id, c.subscription_id == subscription_id)).first()
        return None if r is None else _subscription(r)

    def subscriptions(self, tenant_id: str) -> list[SubscriptionRow]:
        c = t.webhook_subscriptions.c
        rows = self.conn.execute(sa.select(t.webhook_subscriptions).where(
            c.tenant_id == tenant_id).order_by(c.created_at, c.subscription_id))
        return [_subscription(r) for r in rows]

    def set_enabled(self, subscription_id: str, enabled: bool, reason: str | None) -> None:
        c = t.webhook_subscriptions.c
        self.conn.execute(t.webhook_subscriptions.update().where(
            c.subscription_id == subscription_id).values(enabled=enabled, disabled_reason=reason))

    def add_messages(self, messages: Sequence[Message]) -> None:
        if messages:
            self.conn.execute(t.webhook_messages.insert(), [{
                "message_id": m.message_id, "tenant_id": m.tenant_id,
                "subscription_id": m.subscription_id, "event": m.event.value, "body": m.body,
                "created_at": m.created_at_us, "next_attempt_at": m.next_attempt_at_us,
                "attempts": m.attempts, "state": m.state.value, "last_error": m.last_error,
                "delivered_at": m.delivered_at_us} for m in messages])

    def due(self, now_us: int, limit: int) -> list[Message]:
        c = t.webhook_messages.c
        rows = self.conn.execute(sa.select(t.webhook_messages).where(
            c.state == MessageState.PENDING.value, c.next_attempt_at <= now_us,
        ).order_by(c.next_attempt_at, c.message_id).limit(limit))
        return [_message(r) for r in rows]

    def message(self, message_id: str) -> Message | None:
        c = t.webhook_messages.c
        r = self.conn.execute(sa.select(t.webhook_messages).where(c.message_id == message_id)).first()
        return None if r is None else _message(r)

    def update_messages(self, messages: Sequence[Message]) -> None:
        self.bulk(_MESSAGE_UPDATE, [(m.next_attempt_at_us, m.attempts, m.state.value, m.last_error,
                                     m.delivered_at_us, m.message_id) for m in messages])

    def add_attempts(self, attempts: Sequence[Attempt]) -> None:
        self.bulk(_ATTEMPT_INSERT, [(a.message_id, a.attempt, a.at_us, a.status_code, a.error,
                                     a.duration_ms) for a in attempts])

    def messages(
        self, tenant_id: str, subscription_id: str | None, state: MessageState | None, limit: int
    ) -> list[Message]:
        c = t.webhook_messages.c
        q = sa.select(t.webhook_messages).where(c.tenant_id == tenant_id)
        if subscription_id is not None:
            q = q.where(c.subscription_id == subscription_id)
        if state is not None:
            q = q.where(c.state == state.value)
        rows = self.conn.execute(q.order_by(c.created_at.desc(), c.message_id.desc()).limit(limit))
        return [_message(r) for r in rows]

    def attempts(self, message_id: str) -> list[Attempt]:
        c = t.webhook_attempts.c
        rows = self.conn.execute(sa.select(t.webhook_attempts).where(
            c.message_id == message_id).order_by(c.id))
        return [Attempt(r.message_id, r.attempt, r.at, r.status_code, r.error, r.duration_ms)
                for r in rows]


_LEDGER_INSERT = Insert(
    t.ledger_entries, ("idx", "kind", "tenant_id", "tracking_no", "recorded_at", "body", "leaf")
)
_NODE_INSERT = Insert(t.ledger_nodes, ("level", "idx", "hash"))


LEDGER_LOCK = 0x5047_4C45_4447_4552  # "PGLEDGER": the advisory lock on the log's end


class SqlLedger(_Repo):
    def lock(self) -> None:
        # SQLite already admits one writing transaction at a time
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEDGER_LOCK})

    def append(self, entries: Sequence[Sealed], nodes: Sequence[Node]) -> None:
        self.insert(_LEDGER_INSERT, [
            (e.index, e.kind, e.tenant_id, e.tracking_no, e.recorded_at_us, e.body, e.leaf)
            for e in entries
        ])
        self.insert(_NODE_INSERT, [(n.level, n.index, n.hash) for n in nodes])

    def size(self) -> int:
        top = self.conn.execute(sa.select(sa.func.max(t.ledger_entries.c.idx))).scalar()
        return 0 if top is None else int(top) + 1

    def leaves(self, start: int, end: int) -> list[bytes]:
        c = t.ledger_entries.c
        rows = self.conn.execute(
            sa.select(c.leaf).where(c.idx >= start, c.idx < end).order_by(c.idx)
        )
        return [bytes(r.leaf) for r in rows]

    def node(self, level: int, index: int) -> bytes | None:
        c = t.ledger_nodes.c
        h = self.conn.execute(sa.select(c.hash).where(c.level == level, c.idx == index)).scalar()
        return None if h is None else bytes(h)

    def entry(self, index: int) -> Sealed | None:
        r = self.conn.execute(
            sa.select(t.ledger_entries).where(t.ledger_entries.c.idx == index)
        ).first()
        return None if r is None else _sealed(r)

    def entries_of(self, tenant_id: str, tracking_no: str) -> list[Sealed]:
        c = t.ledger_entries.c
        rows = self.conn.execute(
            sa.select(t.ledger_entries)
            .where(c.tenant_id == tenant_id, c.tracking_no == tracking_no).order_by(c.idx)
        )
        return [_sealed(r) for r in rows]

    def scan(self, start: int = 0) -> Iterator[tuple[int, bytes, bytes]]:
        c = t.ledger_entries.c
        q = sa.select(c.idx, c.body, c.leaf).where(c.idx >= start).order_by(c.idx)
        for r in self.conn.execution_options(yield_per=5000).execute(q):
            yield int(r.idx), blob(r.body), blob(r.leaf)

    def add_checkpoint(self, cp: CheckpointRecord) -> None:
        self.conn.execute(t.ledger_checkpoints.insert().values(
            size=cp.size, root=cp.root, created_at=cp.created_at_us, note=cp.note
        ))

    def latest_checkpoint(self) -> CheckpointRecord | None:
        c = t.ledger_checkpoints.c
        r = self.conn.execute(sa.select(t.ledger_checkpoints).order_by(c.size.desc()).limit(1)).first()
        return None if r is None else _checkpoint(r)

    def checkpoint(self, size: int) -> CheckpointRecord | None:
        c = t.ledger_checkpoints.c
        r = self.conn.execute(sa.select(t.ledger_checkpoints).where(c.size == size)).first()
        return None if r is None else _checkpoint(r)

    def checkpoints(self) -> list[CheckpointRecord]:
        c = t.ledger_checkpoints.c
        return [_checkpoint(r) for r in self.conn.execute(
            sa.select(t.ledger_checkpoints).order_by(c.size))]




def _sealed(r: sa.Row[Any]) -> Sealed:
    return Sealed(int(r.idx), r.kind, r.tenant_id, r.tracking_no, r.recorded_at, blob(r.body),
                  blob(r.leaf))


def _checkpoint(r: sa.Row[Any]) -> CheckpointRecord:
    return CheckpointRecord(int(r.size), bytes(r.root), r.created_at, r.note)


class SqlRules(_Repo):
    def add(self, rule: CustomRule) -> None:
        self.conn.execute(t.merchant_rules.insert().values(
            rule_id=rule.rule_id, tenant_id=rule.tenant_id, **_rule_values(rule),
            created_at=rule.created_at_us, revision=1))

    def get(self, tenant_id: str, rule_id: str) -> CustomRule | None:
        c = t.merchant_rules.c
        r = self.conn.execute(sa.select(t.merchant_rules).where(
            c.tenant_id == tenant_id, c.rule_id == rule_id, c.deleted_at.is_(None))).first()
        return None if r is None else _rule(r)

    def of_tenant(self, tenant_id: str) -> list[CustomRule]:
        c = t.merchant_rules.c
        return [_rule(r) for r in self.conn.execute(sa.select(t.merchant_rules).where(
            c.tenant_id == tenant_id, c.deleted_at.is_(None)).order_by(c.created_at, c.rule_id))]

    def enabled(self) -> list[CustomRule]:
        c = t.merchant_rules.c
        return [_rule(r) for r in self.conn.execute(sa.select(t.merchant_rules).where(
            c.enabled.is_(True), c.deleted_at.is_(None)).order_by(c.created_at, c.rule_id))]

    def update(self, rule: CustomRule) -> None:
        c = t.merchant_rules.c
        self.conn.execute(t.merchant_rules.update().where(c.rule_id == rule.rule_id)
                          .values(**_rule_values(rule), revision=c.revision + 1))

    def delete(self, tenant_id: str, rule_id: str, at_us: int) -> None:
        c = t.merchant_rules.c
        self.conn.execute(t.merchant_rules.update().where(
            c.tenant_id == tenant_id, c.rule_id == rule_id).values(
                deleted_at=at_us, updated_at=at_us, revision=c.revision + 1))

    def version(self) -> tuple[int, int]:
        c = t.merchant_rules.c
        rows, revisions = self.conn.execute(
            sa.select(sa.func.count(), sa.func.sum(c.revision))).one()
        return int(rows), int(revisions or 0)


def _rule_values(rule: CustomRule) -> dict[str, object]:
    return {"name": rule.name, "expression": rule.expression, "on_input": rule.on.value,
            "severity": rule.severity.value, "enabled": rule.enabled,
            "updated_at": rule.updated_at_us}


def _rule(r: sa.Row[Any]) -> CustomRule:
    return CustomRule(r.rule_id, r.tenant_id, r.name, r.expression, Trigger(r.on_input),
                      Severity(r.severity), bool(r.enabled), r.created_at, r.updated_at)


class SqlIntegrations(_Repo):
    def add_endpoint(self, row: EndpointRow) -> None:
        self.conn.execute(t.carrier_endpoints.insert().values(
            endpoint_id=row.endpoint_id, tenant_id=row.tenant_id, format=row.format, name=row.name,
            secret_sealed=row.secret_sealed, zone=row.zone, enabled=row.enabled,
            created_at=row.created_at_us))

    def endpoint(self, endpoint_id: str) -> EndpointRow | None:
        r = self.conn.execute(sa.select(t.carrier_endpoints).where(
            t.carrier_endpoints.c.endpoint_id == endpoint_id)).first()
        return None if r is None else _endpoint(r)

    def endpoints(self, tenant_id: str) -> list[EndpointRow]:
        c = t.carrier_endpoints.c
        rows = self.conn.execute(sa.select(t.carrier_endpoints).where(c.tenant_id == tenant_id)
                                 .order_by(c.created_at, c.endpoint_id))
        return [_endpoint(r) for r in rows]

    def set_endpoint_enabled(self, endpoint_id: str, enabled: bool) -> None:
        self.conn.execute(t.carrier_endpoints.update().where(
            t.carrier_endpoints.c.endpoint_id == endpoint_id).values(enabled=enabled))

    def add_rejected(self, row: RejectedPayload) -> int:
        result = self.conn.execute(t.rejected_payloads.insert().values(
            tenant_id=row.tenant_id, source=row.source, ref=row.ref, received_at=row.received_at_us,
            field=row.field, reason=row.reason, content_type=row.content_type,
            body_sealed=row.body_sealed, size=row.size))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def rejected(self, tenant_id: str, before_id: int | None, limit: int) -> list[RejectedPayload]:
        c = t.rejected_payloads.c
        q = sa.select(t.rejected_payloads).where(c.tenant_id == tenant_id)
        if before_id is not None:
            q = q.where(c.id < before_id)
        return [RejectedPayload(r.tenant_id, r.source, r.ref, r.received_at, r.field, r.reason,
                                r.content_type, blob(r.body_sealed), r.size, int(r.id))
                for r in self.conn.execute(q.order_by(c.id.desc()).limit(limit))]

    def set_estimates(self, rows: Sequence[CarrierEstimate]) -> None:
        self.bulk(_ESTIMATE_UPSERT, [(e.tenant_id, e.tracking_no, e.source, e.estimate,
                                      e.updated_at_us) for e in rows])

    def estimates(self, tenant_id: str, tracking_no: str) -> list[CarrierEstimate]:
        c = t.carrier_estimates.c
        rows = self.conn.execute(sa.select(t.carrier_estimates).where(
            c.tenant_id == tenant_id, c.tracking_no == tracking_no).order_by(c.source))
        return [CarrierEstimate(r.tenant_id, r.tracking_no, r.source, r.estimate, r.updated_at)
                for r in rows]


_ESTIMATE_UPSERT = (
    _insert_sql(t.carrier_estimates, ["tenant_id", "tracking_no", "source", "estimate",
                                      "updated_at"])
    + " ON CONFLICT (tenant_id, tracking_no, source) DO UPDATE SET estimate = excluded.estimate,"
    " updated_at = excluded.updated_at"
)


def _endpoint(r: sa.Row[Any]) -> EndpointRow:
    return EndpointRow(r.endpoint_id, r.tenant_id, r.format, r.name, blob(r.secret_sealed), r.zone,
                       bool(r.enabled), r.created_at)


class SqlReports(_Repo):
    def carriers(self, tenant_id: str, since_us: int, until_us: int) -> list[CarrierCounts]:
        rows = self.conn.execute(sa.text(_CARRIER_COUNTS), {
            "tenant": tenant_id, "since": since_us, "until": until_us})
        return [CarrierCounts(r.carrier, *(int(v or 0) for v in r[1:])) for r in rows]

    def alert_kinds(self, tenant_id: str, since_us: int, until_us: int) -> list[AlertCounts]:
        a, s = t.alerts.c, t.shipments.c
        q = (sa.select(s.carrier, a.kind, sa.func.count(), sa.func.count(a.acknowledged_at),
                       sa.func.sum(a.acknowledged_at - a.opened_at))
             .select_from(t.alerts.join(t.shipments, s.id == a.shipment_id))
             .where(a.tenant_id == tenant_id, a.opened_at >= since_us, a.opened_at < until_us)
             .group_by(s.carrier, a.kind).order_by(s.carrier, a.kind))
        return [AlertCounts(r[0], r[1], int(r[2]), int(r[3]), int(r[4] or 0))
                for r in self.conn.execute(q)]

    def active_alerts(self, tenant_id: str) -> dict[str, int]:
        a = t.alerts.c
        rows = self.conn.execute(sa.select(a.kind, sa.func.count()).where(
            a.tenant_id == tenant_id, a.state.in_([s.value for s in ACTIVE])).group_by(a.kind))
        return {str(kind): int(n) for kind, n in rows}

    def predicted_late(self, tenant_id: str, limit: int) -> list[ShipmentRecord]:
        c, st = t.shipments.c, t.shipment_states.c
        q = (sa.select(_JOINED).where(
            c.tenant_id == tenant_id, st.eta_at > c.promised_by, st.delivered_at.is_(None),
            st.status.not_in(("delivered", "returned")))
             .order_by((st.eta_at - c.promised_by).desc(), c.id).limit(limit))
        return [_shipment(r) for r in self.conn.execute(q)]

    def claims(self, tenant_id: str, since_us: int, until_us: int) -> list[ClaimCounts]:
        c, s = t.claims.c, t.shipments.c
        opened = sa.and_(c.opened_at >= since_us, c.opened_at < until_us)
        settled = sa.and_(c.settled_at >= since_us, c.settled_at < until_us)
        one = sa.case((opened, 1), else_=0)
        q = (sa.select(
            s.carrier, sa.func.sum(one),
            sa.func.sum(sa.case((sa.and_(opened, c.state != ClaimState.SETTLED.value), 1),
                                else_=0)),
            sa.func.sum(sa.case((settled, 1), else_=0)),
            sa.func.sum(sa.case((settled, c.settled_at - c.opened_at), else_=0)),
            sa.func.sum(sa.case((settled, c.amount_paid), else_=0)))
             .select_from(t.claims.join(t.shipments, s.id == c.shipment_id))
             .where(c.tenant_id == tenant_id, sa.or_(opened, settled))
             .group_by(s.carrier).order_by(s.carrier))
        return [ClaimCounts(r[0], *(int(v or 0) for v in r[1:])) for r in self.conn.execute(q)]


def _has_alert(kinds: str) -> str:
    return (f"EXISTS (SELECT 1 FROM alerts a WHERE a.shipment_id = s.id AND a.kind IN ({kinds}))")


_CARRIER_COUNTS = f"""
SELECT s.carrier,
  COUNT(*),
  SUM(CASE WHEN st.delivered_at IS NOT NULL AND s.promised_by IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN st.delivered_at IS NOT NULL AND s.promised_by IS NOT NULL
           AND st.delivered_at <= s.promised_by THEN 1 ELSE 0 END),
  SUM(CASE WHEN {_has_alert("'damaged'")} THEN 1 ELSE 0 END),
  SUM(CASE WHEN {_has_alert("'lost_suspected'")} THEN 1 ELSE 0 END),
  SUM(CASE WHEN s.category = 'cold_chain' THEN 1 ELSE 0 END),
  SUM(CASE WHEN s.category = 'cold_chain' AND {_has_alert("'temperature_excursion'")}
      THEN 1 ELSE 0 END),
  SUM(CASE WHEN st.delivered_at IS NOT NULL AND st.picked_up_at IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN st.delivered_at IS NOT NULL AND st.picked_up_at IS NOT NULL
           THEN st.delivered_at - st.picked_up_at ELSE 0 END)
FROM shipments s JOIN shipment_states st ON st.shipment_id = s.id
WHERE s.tenant_id = :tenant AND s.created_at >= :since AND s.created_at < :until
GROUP BY s.carrier ORDER BY s.carrier
"""


class SqlDeliveries(_Repo):
    def code(self, tenant_id: str, tracking_no: str) -> PickupCode | None:
        c = t.pickup_codes.c
        r = self.conn.execute(sa.select(t.pickup_codes).where(
            c.tenant_id == tenant_id, c.tracking_no == tracking_no)).first()
        return None if r is None else PickupCode(r.tenant_id, r.tracking_no, r.code_digest,
                                                 r.issued_at, r.failures, r.locked_at, r.used_at)

    def save_code(self, code: PickupCode) -> None:
        self.bulk(_CODE_UPSERT, [(code.tenant_id, code.tracking_no, code.code_digest,
                                  code.issued_at_us, code.failures, code.locked_at_us,
                                  code.used_at_us)])

    def add_message(self, m: ConsumerMessage) -> int:
        result = self.conn.execute(t.consumer_messages.insert().values(
            tenant_id=m.tenant_id, tracking_no=m.tracking_no, channel=m.channel,
            to_sealed=m.to_sealed, body_sealed=m.body_sealed, purpose=m.purpose,
            created_at=m.created_at_us, status=m.status))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def set_message_status(self, message_id: int, status: str) -> None:
        self.conn.execute(t.consumer_messages.update().where(
            t.consumer_messages.c.id == message_id).values(status=status))

    def messages(self, tenant_id: str, tracking_no: str) -> list[ConsumerMessage]:
        c = t.consumer_messages.c
        rows = self.conn.execute(sa.select(t.consumer_messages).where(
            c.tenant_id == tenant_id, c.tracking_no == tracking_no).order_by(c.id))
        return [ConsumerMessage(r.tenant_id, r.tracking_no, r.channel, blob(r.to_sealed),
                                blob(r.body_sealed), r.purpose, r.created_at, r.status,
                                int(r.id)) for r in rows]


_CODE_UPSERT = (
    _insert_sql(t.pickup_codes, ["tenant_id", "tracking_no", "code_digest", "issued_at",
                                 "failures", "locked_at", "used_at"])
    + " ON CONFLICT (tenant_id, tracking_no) DO UPDATE SET code_digest = excluded.code_digest,"
    " issued_at = excluded.issued_at, failures = excluded.failures,"
    " locked_at = excluded.locked_at, used_at = excluded.used_at"
)


class SqlLookups(_Repo):
    def failures(self, tracking_no: str) -> LookupFailures | None:
        c = t.lookup_failures.c
        r = self.conn.execute(sa.select(t.lookup_failures).where(
            c.tracking_no == tracking_no)).first()
        return None if r is None else LookupFailures(r.tracking_no, r.failures, r.first_at,
                                                     r.locked_until)

    def save_failures(self, row: LookupFailures) -> None:
        self.bulk(_FAILURES_UPSERT, [(row.tracking_no, row.failures, row.first_at_us,
                                      row.locked_until_us)])

    def clear(self, tracking_no: str) -> None:
        self.conn.execute(t.lookup_failures.delete().where(
            t.lookup_failures.c.tracking_no == tracking_no))

    def prune(self, before_us: int) -> int:
        c = t.lookup_failures.c
        done = self.conn.execute(t.lookup_failures.delete().where(
            c.first_at < before_us, sa.or_(c.locked_until.is_(None), c.locked_until < before_us)))
        return int(done.rowcount)


_FAILURES_UPSERT = (
    _insert_sql(t.lookup_failures, ["tracking_no", "failures", "first_at", "locked_until"])
    + " ON CONFLICT (tracking_no) DO UPDATE SET failures = excluded.failures,"
    " first_at = excluded.first_at, locked_until = excluded.locked_until"
)


_OFFSETS_UPSERT = (  # forward only: a stale writer cannot move a position back
    _insert_sql(t.bus_offsets, ["stream", "partition", "seq"])
    + " ON CONFLICT (stream, partition) DO UPDATE SET seq = excluded.seq"
    " WHERE bus_offsets.seq < excluded.seq"
)


class SqlOffsets(_Repo):
    def all(self, stream: str) -> dict[int, int]:
        c = t.bus_offsets.c
        rows = self.conn.execute(sa.select(c.partition, c.seq).where(c.stream == stream))
        return {int(r.partition): int(r.seq) for r in rows}

    def save(self, stream: str, seqs: Mapping[int, int]) -> None:
        self.bulk(_OFFSETS_UPSERT, [(stream, p, seq) for p, seq in seqs.items()])


def _claim_values(c: Claim) -> dict[str, Any]:
    return {"state": c.state.value, "updated_at": c.updated_at_us,
            "amount_approved": c.amount_approved, "amount_paid": c.amount_paid,
            "payment_ref": c.payment_ref, "liable": _json_or_none(c.liable),
            "finding": _json_or_none(c.finding), "analysis": _dumps(c.analysis),
            "decided_at": c.decided_at_us, "settled_at": c.settled_at_us}


def _json_or_none(value: object) -> str | None:
    return None if value is None else _dumps(value)


def _claim(r: Any) -> Claim:
    return Claim(r.claim_id, r.tenant_id, r.tracking_no, ClaimKind(r.kind), ClaimState(r.state),
                 Claimant(r.claimant), r.opened_by, r.description, r.currency,
                 int(r.amount_claimed), r.opened_at, r.updated_at, json.loads(r.analysis),
                 None if r.finding is None else json.loads(r.finding),
                 None if r.liable is None else json.loads(r.liable), r.amount_approved,
                 r.amount_paid, r.payment_ref, r.decided_at, r.settled_at)


class SqlClaims(_Repo):
    def add(self, claim: Claim, shipment_id: int, step: Step) -> None:
        c = claim
        try:
            with self.conn.begin_nested():  # a refused insert leaves the transaction usable
                self.conn.execute(t.claims.insert().values(
                    claim_id=c.claim_id, tenant_id=c.tenant_id, shipment_id=shipment_id,
                    tracking_no=c.tracking_no, kind=c.kind.value, claimant=c.claimant.value,
                    opened_by=c.opened_by, description=c.description, currency=c.currency,
                    amount_claimed=c.amount_claimed, opened_at=c.opened_at_us,
                    **_claim_values(c)))
        except sa.exc.IntegrityError:
            raise Conflict(f"the shipment has an unsettled {c.kind.value} claim already") from None
        self.add_step(step)

    def get(self, tenant_id: str, claim_id: str) -> Claim | None:
        c = t.claims.c
        r = self.conn.execute(sa.select(t.claims).where(
            c.tenant_id == tenant_id, c.claim_id == claim_id)).first()
        return None if r is None else _claim(r)

    def active_of(self, tenant_id: str, tracking_no: str, kind: ClaimKind,
                  claimant: Claimant) -> Claim | None:
        c = t.claims.c
        r = self.conn.execute(sa.select(t.claims).where(
            c.tenant_id == tenant_id, c.tracking_no == tracking_no, c.kind == kind.value,
            c.claimant == claimant.value, c.state != ClaimState.SETTLED.value)).first()
        return None if r is None else _claim(r)

    def move(self, claim: Claim, was: ClaimState, step: Step) -> bool:
        c = t.claims.c
        done = self.conn.execute(t.claims.update().where(
            c.claim_id == claim.claim_id, c.state == was.value).values(**_claim_values(claim)))
        if done.rowcount != 1:
            return False
        self.add_step(step)
        return True

    def add_step(self, step: Step) -> None:
        self.conn.execute(t.claim_steps.insert().values(
            claim_id=step.claim_id, at=step.at_us, actor=step.actor, action=step.action,
            state=step.state.value, note=step.note, data=_dumps(step.data)))

    def steps(self, claim_id: str) -> list[Step]:
        c = t.claim_steps.c
        rows = self.conn.execute(sa.select(t.claim_steps).where(c.claim_id == claim_id)
                                 .order_by(c.id))
        return [Step(r.claim_id, r.at, r.actor, r.action, ClaimState(r.state), r.note,
                     json.loads(r.data)) for r in rows]

    def page(self, tenant_id: str, where: ClaimFilter, before: tuple[int, str] | None,
             limit: int) -> list[Claim]:
        c = t.claims.c
        q = sa.select(t.claims).where(c.tenant_id == tenant_id)
        if where.state is not None:
            q = q.where(c.state == where.state.value)
        if where.active:
            q = q.where(c.state != ClaimState.SETTLED.value)
        if where.kind is not None:
            q = q.where(c.kind == where.kind.value)
        if where.tracking_no is not None:
            q = q.where(c.tracking_no == where.tracking_no)
        if before is not None:
            q = q.where(sa.tuple_(c.opened_at, c.claim_id) < sa.tuple_(*before))
        q = q.order_by(c.opened_at.desc(), c.claim_id.desc()).limit(limit)
        return [_claim(r) for r in self.conn.execute(q)]


class SqlUnitOfWork:
    def __init__(self, engine: Engine, *, write: bool) -> None:
        self.engine, self.write = engine, write
        self.tenants = SqlTenants(self)
        self.shipments = SqlShipments(self)
        self.events = SqlEvents(self)
        self.telemetry = SqlTelemetry(self)
        self.devices = SqlDevices(self)
        self.alerts = SqlAlerts(self)
        self.webhooks = SqlWebhooks(self)
        self.rules = SqlRules(self)
        self.integrations = SqlIntegrations(self)
        self.lookups = SqlLookups(self)
        self.reports = SqlReports(self)
        self.deliveries = SqlDeliveries(self)
        self.claims = SqlClaims(self)
        self.notices = SqlNotices(self)
        self.disruptions = SqlDisruptions(self)
        self.operations = SqlOperations(self)
        self.ledger = SqlLedger(self)
        self.offsets = SqlOffsets(self)
        self.request_keys = SqlRequestKeys(self)

    def __enter__(self) -> Self:
        try:
            self.conn = self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise Unavailable(f"the database is unavailable: {exc.orig}") from None
        self.conn.info["write"] = self.write
        self.conn.begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lost = isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
        except sa.exc.DBAPIError as failed:  # a raw cursor's error leaves it to the rollback
            if not failed.connection_invalidated:
                raise
            lost = True
        finally:
            self.conn.close()
        if lost:
            # the server went away (a restart, a failover): the pool reconnects. Whether a
            # commit that raised took effect is unknown, so writers' retries must be idempotent
            # (event ids, reading ids and message ids are)
            raise Unavailable("the database connection was lost; retry the request") from exc

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

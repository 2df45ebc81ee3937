"""The in-memory store: every repository port, in dictionaries, for unit tests and replay.

Writes are buffered in the unit of work and applied at commit, so a rolled-back batch
leaves nothing behind, as in the SQL store.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from parcelguard.domain import times
from parcelguard.domain.alerts import ACTIVE, Alert
from parcelguard.domain.claims import Claim, Claimant, ClaimKind, ClaimState, Step
from parcelguard.domain.custom import CustomRule
from parcelguard.domain.disruptions import Disruption
from parcelguard.domain.errors import Conflict
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.ledger.merkle import Node
from parcelguard.domain.shipment import Category
from parcelguard.domain.telemetry import Device
from parcelguard.domain.tenancy import Role, Scope
from parcelguard.domain.webhooks import Message, MessageState
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
    Delivered,
    EndpointRow,
    KeptAnswer,
    LookupFailures,
    NewShipment,
    Notice,
    NoticeSubscription,
    OnHand,
    OpsAlert,
    PickupCode,
    QuarantinedEvent,
    RejectedPayload,
    ShipmentFilter,
    ShipmentRecord,
    ShipmentState,
    StoredEvent,
    StoredReading,
    SubscriptionRow,
    Visit,
)


@dataclass
class _Data:
    tenants: dict[str, str] = field(default_factory=dict)
    keys: dict[str, ApiKeyRecord] = field(default_factory=dict)
    shipments: dict[int, ShipmentRecord] = field(default_factory=dict)
    by_number: dict[tuple[str, str], int] = field(default_factory=dict)
    events: dict[int, list[StoredEvent]] = field(default_factory=dict)
    quarantine: list[QuarantinedEvent] = field(default_factory=list)
    readings: list[StoredReading] = field(default_factory=list)
    reading_keys: set[tuple[str, str, int]] = field(default_factory=set)
    devices: dict[tuple[str, str], Device] = field(default_factory=dict)
    ledger: list[Sealed] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    alerts: dict[str, tuple[Alert, int]] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionRow] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    notes: list[AlertNote] = field(default_factory=list)
    rules: dict[str, tuple[CustomRule, int | None]] = field(default_factory=dict)  # deleted at
    rule_changes: int = 0
    endpoints: dict[str, EndpointRow] = field(default_factory=dict)
    rejected: list[RejectedPayload] = field(default_factory=list)
    estimates: dict[tuple[str, str, str], CarrierEstimate] = field(default_factory=dict)
    places: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    lookup_failures: dict[str, LookupFailures] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    copies: dict[tuple[int, str, str, int], StoredReading] = field(default_factory=dict)
    pickup_codes: dict[tuple[str, str], PickupCode] = field(default_factory=dict)
    consumer_messages: list[ConsumerMessage] = field(default_factory=list)
    claims: dict[str, tuple[Claim, int]] = field(default_factory=dict)  # with shipment id
    claim_steps: list[Step] = field(default_factory=list)
    notice_subscriptions: dict[str, NoticeSubscription] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    disruptions: dict[str, Disruption] = field(default_factory=dict)
    ops_alerts: dict[str, OpsAlert] = field(default_factory=dict)
    request_keys: dict[tuple[str, str, str], KeptAnswer] = field(default_factory=dict)
    next_id: int = 1


class MemoryStore:
    def __init__(self) -> None:
        self.data = _Data()
        self.lock = threading.RLock()

    def unit_of_work(self, *, write: bool = True) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    def close(self) -> None:
        pass


class _Repo:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.uow = uow

    @property
    def data(self) -> _Data:
        return self.uow.store.data

    def later(self, change: Callable[[], None]) -> None:
        self.uow.pending.append(change)


class MemoryTenants(_Repo):
    def add(self, tenant_id: str, name: str, created_at_us: int) -> None:
        if tenant_id in self.data.tenants:
            raise Conflict(f"tenant {tenant_id!r} exists already")
        self.later(lambda: self.data.tenants.__setitem__(tenant_id, name))

    def exists(self, tenant_id: str) -> bool:
        return tenant_id in self.data.tenants

    def all(self) -> list[tuple[str, str]]:
        return sorted(self.data.tenants.items())

    def add_key(self, key: ApiKeyRecord) -> None:
        self.later(lambda: self.data.keys.__setitem__(key.key_id, key))

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return self.data.keys.get(key_id)

    def keys(self, tenant_id: str) -> list[ApiKeyRecord]:
        return [k for k in self.data.keys.values() if k.tenant_id == tenant_id]

    def revoke_key(self, key_id: str, at_us: int) -> bool:
        key = self.data.keys.get(key_id)
        if key is None or key.revoked_at_us is not None:
            return False
        self.later(lambda: self.data.keys.__setitem__(key_id, replace(key, revoked_at_us=at_us)))
        return True

    def networks(self) -> list[Scope]:
        live = {Scope(k.tenant_id, k.network) for k in self.data.keys.values()
                if k.network is not None and k.revoked_at_us is None
                and k.role is Role.CARRIER}
        still = {a.scope for a in self.data.ops_alerts.values()
                 if a.network is not None and a.cleared_at_us is None}
        return sorted(live | still, key=lambda s: (s.tenant_id, s.network or ""))


class MemoryShipments(_Repo):
    def add(self, new: NewShipment) -> int:
        s = new.shipment
        key = (s.tenant_id, s.tracking_no)
        with self.uow.store.lock:
            if key in self.data.by_number:
                raise Conflict(f"shipment {s.tracking_no!r} exists already")
            shipment_id = self.data.next_id
            self.data.next_id += 1
        record = ShipmentRecord(shipment_id, s, new.spec_digest, new.created_at_us,
                                recipient_sealed=new.recipient_sealed,
                                lookup_digest=new.lookup_digest)

        def apply() -> None:
            self.data.shipments[shipment_id] = record
            self.data.by_number[key] = shipment_id

        self.later(apply)
        self.uow.fresh[key] = record
        return shipment_id

    def get(self, tenant_id: str, tracking_no: str) -> ShipmentRecord | None:
        fresh = self.uow.fresh.get((tenant_id, tracking_no))
        if fresh is not None:
            return fresh
        shipment_id = self.data.by_number.get((tenant_id, tracking_no))
        return None if shipment_id is None else self.data.shipments[shipment_id]

    def numbered(self, tracking_no: str, limit: int = 20) -> list[ShipmentRecord]:
        ids = sorted(i for (_, n), i in self.data.by_number.items() if n == tracking_no)
        return [self.data.shipments[i] for i in ids[:limit]]

    def page(
        self, tenant_id: str, where: ShipmentFilter, after_id: int | None, limit: int
    ) -> list[ShipmentRecord]:
        out = []
        for shipment_id in sorted(self.data.shipments):
            r = self.data.shipments[shipment_id]
            if after_id is not None and shipment_id <= after_id:
                continue
            if r.shipment.tenant_id != tenant_id or not _matches(r, where):
                continue
            out.append(r)
            if len(out) == limit:
                break
        return out

    def save_states(self, states: Sequence[tuple[int, ShipmentState]]) -> None:
        def apply() -> None:
            for shipment_id, state in states:
                self.data.shipments[shipment_id] = replace(
                    self.data.shipments[shipment_id], state=state
                )

        self.later(apply)

    def deadlines(self) -> list[tuple[str, str, int]]:
        return [(r.shipment.tenant_id, r.shipment.tracking_no, r.state.next_deadline_at_us)
                for r in self.data.shipments.values() if r.state.next_deadline_at_us is not None]

    def transit_history(self, limit: int) -> list[tuple[str, str, float]]:
        done = sorted((r.state for r in self.data.shipments.values()
                       if r.state.delivered_at_us and r.state.picked_up_at_us and r.state.lane),
                      key=lambda st: st.delivered_at_us or 0)
        return [(st.lane or "", st.band or "",
                 ((st.delivered_at_us or 0) - (st.picked_up_at_us or 0)) / 3.6e9)
                for st in done[-limit:]]

    def aboard(self) -> list[tuple[str, str, str]]:
        return [(r.shipment.tenant_id, r.shipment.tracking_no, r.state.vehicle_id)
                for r in self.data.shipments.values() if r.state.vehicle_id is not None]


def _matches(r: ShipmentRecord, where: ShipmentFilter) -> bool:
    s = r.shipment
    if where.status is not None and r.state.status is not where.status:
        return False
    if where.category is not None and s.category is not where.category:
        return False
    if where.carrier is not None and s.carrier != where.carrier:
        return False
    if where.at_risk_before_us is not None:
        if s.promised_by is None or r.state.status.value in ("delivered", "returned"):
            return False
        if times.to_us(s.promised_by) >= where.at_risk_before_us:
            return False
    return True


class MemoryEvents(_Repo):
    def add(self, rows: Sequence[StoredEvent]) -> None:
        def apply() -> None:
            for row in rows:
                self.data.events.setdefault(row.shipment_id, []).append(row)

        self.later(apply)

    def of(self, shipment_id: int) -> list[StoredEvent]:
        return list(self.data.events.get(shipment_id, []))

    def quarantine(self, rows: Sequence[QuarantinedEvent]) -> None:
        self.later(lambda: self.data.quarantine.extend(rows))

    def quarantined(self, tenant_id: str, tracking_no: str) -> list[QuarantinedEvent]:
        return [q for q in self.data.quarantine
                if q.tenant_id == tenant_id and q.event.tracking_no == tracking_no]

    def is_quarantined(self, tenant_id: str, tracking_no: str, event_id: str) -> bool:
        return any(q.event.event_id == event_id for q in self.quarantined(tenant_id, tracking_no))

    def count(self) -> int:
        return sum(len(v) for v in self.data.events.values())

    def save_places(self, rows: Sequence[tuple[str, str, float, float]]) -> None:
        def apply() -> None:
            for tenant_id, facility_id, lat, lon in rows:
                self.data.places[(tenant_id, facility_id)] = (lat, lon)

        self.later(apply)

    def facility_positions(self, tenant_id: str | None = None
                           ) -> list[tuple[str, str, float, float]]:
        return sorted((t, f, lat, lon) for (t, f), (lat, lon) in self.data.places.items()
                      if tenant_id is None or t == tenant_id)


class MemoryTelemetry(_Repo):
    def add(self, rows: Sequence[StoredReading]) -> None:
        def apply() -> None:
            for row in rows:
                self.data.readings.append(row)
                self.data.reading_keys.add(
                    (row.tenant_id, row.reading.device_id, times.to_us(row.reading.ts))
                )

        self.later(apply)

    def known(self, tenant_id: str, keys: set[tuple[str, int]],
              partition: int | None = None) -> set[tuple[str, int]]:
        if partition is not None:
            return {k for k in keys if (partition, tenant_id, *k) in self.data.copies}
        return {k for k in keys if (tenant_id, *k) in self.data.reading_keys}

    def of_shipment(
        self, shipment_id: int, since_us: int | None, until_us: int | None, limit: int
    ) -> list[StoredReading]:
        rows = [r for r in self.data.readings if r.shipment_id == shipment_id
                and _within(times.to_us(r.reading.ts), since_us, until_us)]
        return sorted(rows, key=lambda r: times.to_us(r.reading.ts))[:limit]

    def of_vehicle(
        self, tenant_id: str, vehicle_id: str, since_us: int, until_us: int | None, limit: int
    ) -> list[StoredReading]:
        rows = [r for r in self.data.readings
                if r.tenant_id == tenant_id and r.vehicle_id == vehicle_id
                and _within(times.to_us(r.reading.ts), since_us, until_us)]
        return sorted(rows, key=lambda r: times.to_us(r.reading.ts))[:limit]

    def add_copies(self, partition: int, rows: Sequence[StoredReading]) -> None:
        def apply() -> None:
            for row in rows:
                key = (partition, row.tenant_id, row.reading.device_id, times.to_us(row.reading.ts))
                self.data.copies.setdefault(key, row)

        self.later(apply)

    def copies_of_vehicle(
        self, partition: int, tenant_id: str, vehicle_id: str, since_us: int,
        until_us: int | None, limit: int,
    ) -> list[StoredReading]:
        rows = [r for (p, t, _, ts), r in self.data.copies.items()
                if p == partition and t == tenant_id and r.vehicle_id == vehicle_id
                and _within(ts, since_us, until_us)]
        return sorted(rows, key=lambda r: times.to_us(r.reading.ts))[:limit]


def _within(at: int, since: int | None, until: int | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


class MemoryDevices(_Repo):
    def put(self, device: Device) -> None:
        key = (device.tenant_id, device.device_id)
        self.later(lambda: self.data.devices.__setitem__(key, device))

    def get(self, tenant_id: str, device_id: str) -> Device | None:
        return self.data.devices.get((tenant_id, device_id))

    def page(self, tenant_id: str, after: str | None, limit: int) -> list[Device]:
        return sorted((d for (t, i), d in self.data.devices.items()
                       if t == tenant_id and (after is None or i > after)),
                      key=lambda d: d.device_id)[:limit]


class MemoryAlerts(_Repo):
    def save(self, alerts: Sequence[tuple[Alert, int]]) -> None:
        def apply() -> None:
            for alert, shipment_id in alerts:
                self.data.alerts[alert.alert_id] = (alert, shipment_id)

        self.later(apply)

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        found = self.data.alerts.get(alert_id)
        return found[0] if found and found[0].tenant_id == tenant_id else None

    def of_shipment(self, shipment_id: int) -> list[Alert]:
        return [a for a, sid in self.data.alerts.values() if sid == shipment_id]

    def page(
        self, tenant_id: str, where: AlertFilter, before: tuple[int, str] | None, limit: int
    ) -> list[Alert]:
        rows = [a for a, _ in self.data.alerts.values()
                if a.tenant_id == tenant_id and _alert_matches(a, where)
                and (before is None or (a.opened_at_us, a.alert_id) < before)]
        rows.sort(key=lambda a: (a.opened_at_us, a.alert_id), reverse=True)
        return rows[:limit]

    def add_note(self, note: AlertNote) -> None:
        self.later(lambda: self.data.notes.append(note))

    def notes(self, alert_id: str) -> list[AlertNote]:
        return [n for n in self.data.notes if n.alert_id == alert_id]


def _alert_matches(a: Alert, where: AlertFilter) -> bool:
    return ((where.state is None or a.state is where.state)
            and (not where.active or a.active)
            and (where.kind is None or a.kind is where.kind)
            and (where.severity is None or a.severity is where.severity)
            and (where.tracking_no is None or a.tracking_no == where.tracking_no))


class MemoryWebhooks(_Repo):
    def add_subscription(self, row: SubscriptionRow) -> None:
        self.later(lambda: self.data.subscriptions.__setitem__(row.subscription_id, row))

    def subscription(self, tenant_id: str, subscription_id: str) -> SubscriptionRow | None:
        row = self.data.subscriptions.get(subscription_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    def subscriptions(self, tenant_id: str) -> list[SubscriptionRow]:
        return sorted((r for r in self.data.subscriptions.values() if r.tenant_id == tenant_id),
                      key=lambda r: (r.created_at_us, r.subscription_id))

    def set_enabled(self, subscription_id: str, enabled: bool, reason: str | None) -> None:
        row = self.data.subscriptions[subscription_id]
        self.later(lambda: self.data.subscriptions.__setitem__(
            subscription_id, replace(row, enabled=enabled, disabled_reason=reason)))

    def add_messages(self, messages: Sequence[Message]) -> None:
        def apply() -> None:
            for m in messages:
                self.data.messages[m.message_id] = m

        self.later(apply)

    def due(self, now_us: int, limit: int) -> list[Message]:
        rows = [m for m in self.data.messages.values()
                if m.state is MessageState.PENDING and m.next_attempt_at_us <= now_us]
        return sorted(rows, key=lambda m: (m.next_attempt_at_us, m.message_id))[:limit]

    def message(self, message_id: str) -> Message | None:
        return self.data.messages.get(message_id)

    def update_messages(self, messages: Sequence[Message]) -> None:
        self.later(lambda: self.data.messages.update((m.message_id, m) for m in messages))

    def add_attempts(self, attempts: Sequence[Attempt]) -> None:
        self.later(lambda: self.data.attempts.extend(attempts))

    def messages(
        self, tenant_id: str, subscription_id: str | None, state: MessageState | None, limit: int
    ) -> list[Message]:
        rows = [m for m in self.data.messages.values() if m.tenant_id == tenant_id
                and (subscription_id is None or m.subscription_id == subscription_id)
                and (state is None or m.state is state)]
        return sorted(rows, key=lambda m: (m.created_at_us, m.message_id), reverse=True)[:limit]

    def attempts(self, message_id: str) -> list[Attempt]:
        return [a for a in self.data.attempts if a.message_id == message_id]


class MemoryLedger(_Repo):
    def lock(self) -> None:
        """One process, one writer: nothing to hold."""

    def append(self, entries: Sequence[Sealed], nodes: Sequence[Node]) -> None:
        def apply() -> None:
            self.data.ledger.extend(entries)
            for n in nodes:
                self.data.nodes[(n.level, n.index)] = n.hash

        self.later(apply)

    def size(self) -> int:
        return len(self.data.ledger)

    def leaves(self, start: int, end: int) -> list[bytes]:
        return [e.leaf for e in self.data.ledger[start:end]]

    def node(self, level: int, index: int) -> bytes | None:
        return self.data.nodes.get((level, index))

    def entry(self, index: int) -> Sealed | None:
        return self.data.ledger[index] if 0 <= index < len(self.data.ledger) else None

    def entries_of(self, tenant_id: str, tracking_no: str) -> list[Sealed]:
        return [e for e in self.data.ledger
                if e.tenant_id == tenant_id and e.tracking_no == tracking_no]

    def scan(self, start: int = 0) -> Iterator[tuple[int, bytes, bytes]]:
        for e in self.data.ledger[start:]:
            yield e.index, e.body, e.leaf

    def add_checkpoint(self, cp: CheckpointRecord) -> None:
        self.later(lambda: self.data.checkpoints.append(cp))

    def latest_checkpoint(self) -> CheckpointRecord | None:
        return self.data.checkpoints[-1] if self.data.checkpoints else None

    def checkpoint(self, size: int) -> CheckpointRecord | None:
        sizes = [c.size for c in self.data.checkpoints]
        i = bisect.bisect_left(sizes, size)
        return self.data.checkpoints[i] if i < len(sizes) and sizes[i] == size else None

    def checkpoints(self) -> list[CheckpointRecord]:
        return list(self.data.checkpoints)


class MemoryRules(_Repo):
    def _put(self, rule: CustomRule, deleted_at: int | None) -> None:
        def change() -> None:
            self.data.rules[rule.rule_id] = (rule, deleted_at)
            self.data.rule_changes += 1

        self.later(change)

    def add(self, rule: CustomRule) -> None:
        self._put(rule, None)

    def get(self, tenant_id: str, rule_id: str) -> CustomRule | None:
        rule, deleted = self.data.rules.get(rule_id, (None, None))
        return rule if rule is not None and rule.tenant_id == tenant_id and not deleted else None

    def of_tenant(self, tenant_id: str) -> list[CustomRule]:
        return [r for r, deleted in self._live() if r.tenant_id == tenant_id]

    def enabled(self) -> list[CustomRule]:
        return [r for r, _ in self._live() if r.enabled]

    def _live(self) -> list[tuple[CustomRule, int | None]]:
        return sorted((item for item in self.data.rules.values() if item[1] is None),
                      key=lambda item: (item[0].created_at_us, item[0].rule_id))

    def update(self, rule: CustomRule) -> None:
        self._put(rule, None)

    def delete(self, tenant_id: str, rule_id: str, at_us: int) -> None:
        self._put(self.data.rules[rule_id][0], at_us)

    def version(self) -> tuple[int, int]:
        return len(self.data.rules), self.data.rule_changes


class MemoryIntegrations(_Repo):
    def add_endpoint(self, row: EndpointRow) -> None:
        self.later(lambda: self.data.endpoints.__setitem__(row.endpoint_id, row))

    def endpoint(self, endpoint_id: str) -> EndpointRow | None:
        return self.data.endpoints.get(endpoint_id)

    def endpoints(self, tenant_id: str) -> list[EndpointRow]:
        return sorted((r for r in self.data.endpoints.values() if r.tenant_id == tenant_id),
                      key=lambda r: (r.created_at_us, r.endpoint_id))

    def set_endpoint_enabled(self, endpoint_id: str, enabled: bool) -> None:
        row = self.data.endpoints[endpoint_id]
        self.later(lambda: self.data.endpoints.__setitem__(endpoint_id,
                                                           replace(row, enabled=enabled)))

    def add_rejected(self, row: RejectedPayload) -> int:
        rejected_id = self.data.next_id
        self.data.next_id += 1
        self.later(lambda: self.data.rejected.append(replace(row, rejected_id=rejected_id)))
        return rejected_id

    def rejected(self, tenant_id: str, before_id: int | None, limit: int) -> list[RejectedPayload]:
        rows = [r for r in self.data.rejected if r.tenant_id == tenant_id
                and (before_id is None or (r.rejected_id or 0) < before_id)]
        return sorted(rows, key=lambda r: -(r.rejected_id or 0))[:limit]

    def set_estimates(self, rows: Sequence[CarrierEstimate]) -> None:
        def apply() -> None:
            for e in rows:
                self.data.estimates[(e.tenant_id, e.tracking_no, e.source)] = e

        self.later(apply)

    def estimates(self, tenant_id: str, tracking_no: str) -> list[CarrierEstimate]:
        return sorted((e for (t, n, _), e in self.data.estimates.items()
                       if t == tenant_id and n == tracking_no), key=lambda e: e.source)


class MemoryReports(_Repo):
    def _kinds_of(self) -> dict[int, set[str]]:
        kinds: dict[int, set[str]] = {}
        for alert, shipment_id in self.data.alerts.values():
            kinds.setdefault(shipment_id, set()).add(alert.kind.value)
        return kinds

    def carriers(self, tenant_id: str, since_us: int, until_us: int) -> list[CarrierCounts]:
        kinds = self._kinds_of()
        rows: dict[str, list[int]] = {}
        for r in self.data.shipments.values():
            s, st = r.shipment, r.state
            if s.tenant_id != tenant_id or not since_us <= r.created_at_us < until_us:
                continue
            k = kinds.get(r.id, set())
            promised = None if s.promised_by is None else times.to_us(s.promised_by)
            judged = st.delivered_at_us is not None and promised is not None
            cold = s.category is Category.COLD_CHAIN
            transit = st.delivered_at_us is not None and st.picked_up_at_us is not None
            row = rows.setdefault(s.carrier, [0] * 9)
            for i, v in enumerate((
                1, judged, judged and st.delivered_at_us <= promised,  # type: ignore[operator]
                "damaged" in k, "lost_suspected" in k, cold,
                cold and "temperature_excursion" in k, transit,
                (st.delivered_at_us - st.picked_up_at_us) if transit else 0,  # type: ignore[operator]
            )):
                row[i] += int(v)
        return [CarrierCounts(c, *v) for c, v in sorted(rows.items())]

    def alert_kinds(self, tenant_id: str, since_us: int, until_us: int) -> list[AlertCounts]:
        rows: dict[tuple[str, str], list[int]] = {}
        for alert, shipment_id in self.data.alerts.values():
            if alert.tenant_id != tenant_id or not since_us <= alert.opened_at_us < until_us:
                continue
            carrier = self.data.shipments[shipment_id].shipment.carrier
            row = rows.setdefault((carrier, alert.kind.value), [0, 0, 0])
            row[0] += 1
            if alert.acknowledged_at_us is not None:
                row[1] += 1
                row[2] += alert.acknowledged_at_us - alert.opened_at_us
        return [AlertCounts(c, k, *v) for (c, k), v in sorted(rows.items())]

    def active_alerts(self, tenant_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for alert, _ in self.data.alerts.values():
            if alert.tenant_id == tenant_id and alert.active:
                counts[alert.kind.value] = counts.get(alert.kind.value, 0) + 1
        return counts

    def predicted_late(self, tenant_id: str, limit: int) -> list[ShipmentRecord]:
        late = []
        for r in self.data.shipments.values():
            s, st = r.shipment, r.state
            if (s.tenant_id == tenant_id and s.promised_by is not None and st.eta_us is not None
                    and st.delivered_at_us is None
                    and st.status.value not in ("delivered", "returned")
                    and st.eta_us > times.to_us(s.promised_by)):
                late.append((st.eta_us - times.to_us(s.promised_by), r))
        late.sort(key=lambda p: (-p[0], p[1].id))
        return [r for _, r in late[:limit]]

    def claims(self, tenant_id: str, since_us: int, until_us: int) -> list[ClaimCounts]:
        rows: dict[str, list[int]] = {}
        for c, shipment_id in self.data.claims.values():
            opened = since_us <= c.opened_at_us < until_us
            settled = c.settled_at_us is not None and since_us <= c.settled_at_us < until_us
            if c.tenant_id != tenant_id or not (opened or settled):
                continue
            carrier = self.data.shipments[shipment_id].shipment.carrier
            row = rows.setdefault(carrier, [0] * 5)
            row[0] += opened
            row[1] += opened and c.state is not ClaimState.SETTLED
            if settled:
                row[2] += 1
                row[3] += c.settled_at_us - c.opened_at_us  # type: ignore[operator]
                row[4] += c.amount_paid or 0
        return [ClaimCounts(k, *v) for k, v in sorted(rows.items())]


class MemoryDeliveries(_Repo):
    def code(self, tenant_id: str, tracking_no: str) -> PickupCode | None:
        return self.data.pickup_codes.get((tenant_id, tracking_no))

    def save_code(self, code: PickupCode) -> None:
        self.later(lambda: self.data.pickup_codes.__setitem__(
            (code.tenant_id, code.tracking_no), code))

    def add_message(self, message: ConsumerMessage) -> int:
        message_id = self.data.next_id
        self.data.next_id += 1
        self.later(lambda: self.data.consumer_messages.append(
            replace(message, message_id=message_id)))
        return message_id

    def set_message_status(self, message_id: int, status: str) -> None:
        def apply() -> None:
            msgs = self.data.consumer_messages
            for i, m in enumerate(msgs):
                if m.message_id == message_id:
                    msgs[i] = replace(m, status=status)

        self.later(apply)

    def messages(self, tenant_id: str, tracking_no: str) -> list[ConsumerMessage]:
        return [m for m in self.data.consumer_messages
                if (m.tenant_id, m.tracking_no) == (tenant_id, tracking_no)]


class MemoryNotices(_Repo):
    def subscribe(self, sub: NoticeSubscription) -> None:
        for other in self.of_parcel(sub.tenant_id, sub.tracking_no):
            if other.to_digest == sub.to_digest and other.unsubscribed_at_us is None:
                raise Conflict("this address already follows the parcel")
        self.later(lambda: self.data.notice_subscriptions.__setitem__(sub.subscription_id, sub))

    def subscription(self, subscription_id: str) -> NoticeSubscription | None:
        return self.data.notice_subscriptions.get(subscription_id)

    def of_parcel(self, tenant_id: str, tracking_no: str) -> list[NoticeSubscription]:
        return [s for s in self.data.notice_subscriptions.values()
                if (s.tenant_id, s.tracking_no) == (tenant_id, tracking_no)]

    def following(self, parcels: Collection[tuple[str, str]]) -> list[NoticeSubscription]:
        wanted = set(parcels)
        return [s for s in self.data.notice_subscriptions.values()
                if (s.tenant_id, s.tracking_no) in wanted and s.unsubscribed_at_us is None]

    def unsubscribe(self, subscription_id: str, at_us: int) -> None:
        def apply() -> None:
            sub = self.data.notice_subscriptions.get(subscription_id)
            if sub is not None and sub.unsubscribed_at_us is None:
                self.data.notice_subscriptions[subscription_id] = replace(
                    sub, unsubscribed_at_us=at_us)

        self.later(apply)

    def add(self, notices: Sequence[Notice]) -> None:
        def apply() -> None:
            owed = {(n.subscription_id, n.topic, n.ref) for n in self.data.notices}
            for n in notices:
                if (n.subscription_id, n.topic, n.ref) not in owed:
                    owed.add((n.subscription_id, n.topic, n.ref))
                    self.data.notices.append(replace(n, notice_id=self.data.next_id))
                    self.data.next_id += 1

        self.later(apply)

    def due(self, now_us: int, limit: int) -> list[Notice]:
        due = [n for n in self.data.notices if n.state == "pending" and n.send_after_us <= now_us]
        return sorted(due, key=lambda n: (n.send_after_us, n.notice_id or 0))[:limit]

    def save(self, notice: Notice) -> None:
        def apply() -> None:
            for i, n in enumerate(self.data.notices):
                if n.notice_id == notice.notice_id:
                    self.data.notices[i] = notice

        self.later(apply)

    def of_subscription(self, subscription_id: str) -> list[Notice]:
        return [n for n in self.data.notices if n.subscription_id == subscription_id]


class MemoryDisruptions(_Repo):
    def add(self, d: Disruption) -> None:
        self.later(lambda: self.data.disruptions.__setitem__(d.disruption_id, d))

    def get(self, tenant_id: str, disruption_id: str) -> Disruption | None:
        d = self.data.disruptions.get(disruption_id)
        return d if d is not None and d.tenant_id == tenant_id else None

    def of_tenant(self, tenant_id: str) -> list[Disruption]:
        mine = [d for d in self.data.disruptions.values() if d.tenant_id == tenant_id]
        return sorted(mine, key=lambda d: d.created_at_us, reverse=True)

    def in_force(self, now_us: int) -> list[Disruption]:
        return sorted((d for d in self.data.disruptions.values() if d.in_force(now_us)),
                      key=lambda d: d.created_at_us)

    def cancel(self, disruption_id: str, at_us: int) -> None:
        def apply() -> None:
            d = self.data.disruptions.get(disruption_id)
            if d is not None and d.cancelled_at_us is None:
                self.data.disruptions[disruption_id] = replace(d, cancelled_at_us=at_us)

        self.later(apply)


class MemoryOperations(_Repo):
    def _of(self, scope: Scope) -> list[ShipmentRecord]:
        return [r for r in self.data.shipments.values()
                if (r.shipment.carrier == scope.network if scope.network
                    else r.shipment.tenant_id == scope.tenant_id)]

    def visits(self, scope: Scope, since_us: int, until_us: int) -> list[Visit]:
        out = []
        seen: set[tuple[str, str, int]] = set()  # a network's waybill of two merchants: once
        for r in self._of(scope):
            scans = sorted(((times.to_us(x.event.occurred_at), x.event.facility_id)
                            for x in self.data.events.get(r.id, [])
                            if scope.network in (None, x.event.carrier)), key=lambda p: p[0])
            scans = [(at, f) for at, f in scans if since_us <= at < until_us]
            for i, (at, facility) in enumerate(scans):
                if facility is None or (i and scans[i - 1][1] == facility):
                    continue  # not at a facility, or the same stay going on
                moved = next((j for j in range(i + 1, len(scans)) if scans[j][1] != facility),
                              None)
                left = None if moved is None else scans[moved - 1][0]  # its departure there
                if (facility, r.shipment.tracking_no, at) in seen:
                    continue
                seen.add((facility, r.shipment.tracking_no, at))
                out.append(Visit(facility, r.id, at, left,
                                 r.state.holder_kind == "facility"
                                 and r.state.holder_id == facility))
        return out

    def ops_alerts(self, scope: Scope, active_only: bool) -> list[OpsAlert]:
        found = [a for a in self.data.ops_alerts.values() if a.scope == scope
                 and (not active_only or a.cleared_at_us is None)]
        return sorted(found, key=lambda a: (-a.opened_at_us, a.alert_id))[:200]

    def save_ops_alert(self, alert: OpsAlert) -> None:
        self.later(lambda: self.data.ops_alerts.__setitem__(alert.alert_id, alert))

    def delivered(self, scope: Scope, since_us: int, until_us: int) -> list[Delivered]:
        out = []
        for r in self._of(scope):
            st = r.state
            if (st.delivered_at_us is not None and since_us <= st.delivered_at_us < until_us
                    and st.picked_up_at_us is not None and st.lane is not None):
                promised = r.shipment.promised_by
                out.append(Delivered(st.lane, st.picked_up_at_us, st.delivered_at_us,
                                     None if promised is None else times.to_us(promised)))
        return out

    def on_hand(self, scope: Scope) -> list[OnHand]:
        return [OnHand(r.state.holder_id or "", r.shipment.tracking_no, r.state.last_event_at_us)
                for r in self._of(scope)
                if r.state.holder_kind == "facility" and r.state.last_event_at_us is not None
                and r.state.status.value not in ("delivered", "returned")]

    def scanned(self, scope: Scope, since_us: int, until_us: int,
                group: str) -> dict[str, int]:
        seen: dict[str, set[object]] = {}
        for r in self._of(scope):
            parcel = r.shipment.tracking_no if scope.network else r.id
            for stored in self.data.events.get(r.id, []):
                e = stored.event
                at = times.to_us(e.occurred_at)
                if not since_us <= at < until_us or scope.network not in (None, e.carrier):
                    continue
                key = {"facility": e.facility_id, "operator": e.operator_id,
                       "device": e.device_id}.get(group) if group != "shift" else (
                    None if e.facility_id is None else f"{e.facility_id}|{times.shift_of(at)}")
                if key is not None:
                    seen.setdefault(key, set()).add(parcel)
        return {k: len(v) for k, v in seen.items()}

    def open_dwell(self, scope: Scope) -> list[tuple[str, str]]:
        mine = self._ids(scope)
        return [(facility, alert.tracking_no) for alert, shipment_id in self.data.alerts.values()
                if shipment_id in mine and alert.kind.value == "dwell_exceeded"
                and alert.state in ACTIVE
                and isinstance(facility := alert.evidence.get("facility_id"), str)]

    def with_alerts(self, scope: Scope, kinds: Sequence[str], since_us: int,
                    until_us: int) -> list[tuple[str, str]]:
        mine = self._ids(scope)
        found = {(a.tenant_id, a.tracking_no) for a, shipment_id in self.data.alerts.values()
                 if shipment_id in mine and a.kind.value in kinds
                 and since_us <= a.opened_at_us < until_us}
        return sorted(found, key=lambda x: (x[1], x[0]))

    def positions(self, scope: Scope,
                  facilities: Sequence[str]) -> dict[str, tuple[float, float]]:
        tenants = ({r.shipment.tenant_id for r in self._of(scope)} if scope.network
                   else {scope.tenant_id})
        out: dict[str, tuple[float, float]] = {}
        for (tenant, facility), place in sorted(self.data.places.items(),
                                                key=lambda x: (x[0][1], x[0][0])):
            if tenant in tenants and facility in facilities:
                out.setdefault(facility, place)
        return out

    def _ids(self, scope: Scope) -> set[int]:
        return {r.id for r in self._of(scope)}


class MemoryClaims(_Repo):
    def add(self, claim: Claim, shipment_id: int, step: Step) -> None:
        if self.active_of(claim.tenant_id, claim.tracking_no, claim.kind,
                          claim.claimant) is not None:
            raise Conflict(f"the shipment has an unsettled {claim.kind.value} claim already")
        self.later(lambda: self.data.claims.__setitem__(claim.claim_id, (claim, shipment_id)))
        self.add_step(step)

    def get(self, tenant_id: str, claim_id: str) -> Claim | None:
        found = self.data.claims.get(claim_id)
        return found[0] if found and found[0].tenant_id == tenant_id else None

    def active_of(self, tenant_id: str, tracking_no: str, kind: ClaimKind,
                  claimant: Claimant) -> Claim | None:
        return next((c for c, _ in self.data.claims.values()
                     if (c.tenant_id, c.tracking_no, c.kind, c.claimant)
                     == (tenant_id, tracking_no, kind, claimant)
                     and c.state is not ClaimState.SETTLED), None)

    def move(self, claim: Claim, was: ClaimState, step: Step) -> bool:
        found = self.data.claims.get(claim.claim_id)
        if found is None or found[0].state is not was:
            return False
        self.later(lambda: self.data.claims.__setitem__(claim.claim_id, (claim, found[1])))
        self.add_step(step)
        return True

    def add_step(self, step: Step) -> None:
        self.later(lambda: self.data.claim_steps.append(step))

    def steps(self, claim_id: str) -> list[Step]:
        return [s for s in self.data.claim_steps if s.claim_id == claim_id]

    def page(self, tenant_id: str, where: ClaimFilter, before: tuple[int, str] | None,
             limit: int) -> list[Claim]:
        rows = [c for c, _ in self.data.claims.values() if c.tenant_id == tenant_id
                and (where.state is None or c.state is where.state)
                and (not where.active or c.state is not ClaimState.SETTLED)
                and (where.kind is None or c.kind is where.kind)
                and (where.tracking_no is None or c.tracking_no == where.tracking_no)
                and (before is None or (c.opened_at_us, c.claim_id) < before)]
        rows.sort(key=lambda c: (c.opened_at_us, c.claim_id), reverse=True)
        return rows[:limit]


class MemoryLookups(_Repo):
    def failures(self, tracking_no: str) -> LookupFailures | None:
        return self.data.lookup_failures.get(tracking_no)

    def save_failures(self, row: LookupFailures) -> None:
        self.later(lambda: self.data.lookup_failures.__setitem__(row.tracking_no, row))

    def clear(self, tracking_no: str) -> None:
        def apply() -> None:
            self.data.lookup_failures.pop(tracking_no, None)

        self.later(apply)

    def prune(self, before_us: int) -> int:
        gone = [n for n, r in self.data.lookup_failures.items() if r.first_at_us < before_us
                and (r.locked_until_us is None or r.locked_until_us < before_us)]

        def apply() -> None:
            for n in gone:
                self.data.lookup_failures.pop(n, None)

        self.later(apply)
        return len(gone)


class MemoryOffsets(_Repo):
    def all(self, stream: str) -> dict[int, int]:
        return {p: seq for (s, p), seq in self.data.offsets.items() if s == stream}

    def save(self, stream: str, seqs: Mapping[int, int]) -> None:
        def apply() -> None:
            for p, seq in seqs.items():  # forward only
                self.data.offsets[(stream, p)] = max(seq, self.data.offsets.get((stream, p), 0))

        self.later(apply)


class MemoryRequestKeys(_Repo):
    def get(self, tenant_id: str, key_id: str, key: str) -> KeptAnswer | None:
        return self.data.request_keys.get((tenant_id, key_id, key))

    def keep(self, answer: KeptAnswer) -> None:
        def apply() -> None:
            self.data.request_keys.setdefault((answer.tenant_id, answer.key_id, answer.key),
                                              answer)

        self.later(apply)

    def purge(self, before_us: int) -> int:
        gone = [k for k, a in self.data.request_keys.items() if a.created_at_us < before_us]

        def apply() -> None:
            for k in gone:
                self.data.request_keys.pop(k, None)

        self.later(apply)
        return len(gone)


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.pending: list[Callable[[], None]] = []
        self.fresh: dict[tuple[str, str], ShipmentRecord] = {}
        self.tenants = MemoryTenants(self)
        self.shipments = MemoryShipments(self)
        self.events = MemoryEvents(self)
        self.telemetry = MemoryTelemetry(self)
        self.devices = MemoryDevices(self)
        self.alerts = MemoryAlerts(self)
        self.webhooks = MemoryWebhooks(self)
        self.rules = MemoryRules(self)
        self.integrations = MemoryIntegrations(self)
        self.lookups = MemoryLookups(self)
        self.reports = MemoryReports(self)
        self.deliveries = MemoryDeliveries(self)
        self.claims = MemoryClaims(self)
        self.notices = MemoryNotices(self)
        self.disruptions = MemoryDisruptions(self)
        self.operations = MemoryOperations(self)
        self.ledger = MemoryLedger(self)
        self.offsets = MemoryOffsets(self)
        self.request_keys = MemoryRequestKeys(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        with self.store.lock:
            for change in self.pending:
                change()
        self.pending.clear()
        self.fresh.clear()

    def rollback(self) -> None:
        self.pending.clear()
        self.fresh.clear()

"""Merchant notifications: subscriptions, and the outbox messages a batch writes.

Messages are written in the same commit as the change they announce, so a notification exists
if and only if its change does; a separate worker delivers them (``parcelguard.notify``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from parcelguard.domain import times
from parcelguard.domain.alerts import Alert
from parcelguard.domain.errors import InvalidInput, NotFound
from parcelguard.domain.status import Status
from parcelguard.domain.webhooks import (
    EventType,
    Message,
    Subscription,
    check_url,
    new_id,
    new_secret,
)
from parcelguard.services.alerting import Change
from parcelguard.services.ports import OpsAlert, Store, SubscriptionRow, UnitOfWork, Vault

ALERT_EVENTS = {
    "opened": EventType.ALERT_OPENED, "acknowledged": EventType.ALERT_ACKNOWLEDGED,
    "resolved": EventType.ALERT_RESOLVED, "cleared": EventType.ALERT_CLEARED,
    "escalated": EventType.ALERT_ESCALATED,
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    tenant_id: str
    tracking_no: str
    before: Status
    after: Status
    at_us: int
    event_id: str
    carrier: str
    verified_pod: bool = False  # its profile asks for identity-verified delivery (pickup codes)


def subscription(row: SubscriptionRow, vault: Vault) -> Subscription:
    return Subscription(row.subscription_id, row.tenant_id, row.url,
                        vault.open(row.secret_sealed).decode(),
                        frozenset(EventType(e) for e in row.events), frozenset(row.kinds),
                        row.enabled, row.disabled_reason, row.created_at_us)


def subscribe(store: Store, vault: Vault, tenant_id: str, url: str, events: Sequence[str],
              kinds: Sequence[str], allow_private: bool, now_us: int) -> tuple[SubscriptionRow, str]:
    """A new subscription; its signing secret is returned here and never again."""
    check_url(url, allow_private)
    chosen = list(events) or [e.value for e in EventType]
    for e in chosen:
        if e not in {t.value for t in EventType}:
            raise InvalidInput("events", f"unknown event {e!r}; expected some of "
                                         f"{', '.join(t.value for t in EventType)}")
    secret = new_secret()
    row = SubscriptionRow(new_id("sub"), tenant_id, url, vault.seal(secret.encode()),
                          tuple(dict.fromkeys(chosen)), tuple(dict.fromkeys(kinds)), True, None,
                          now_us)
    with store.unit_of_work() as uow:
        uow.webhooks.add_subscription(row)
        uow.commit()
    return row, secret


def set_enabled(store: Store, tenant_id: str, subscription_id: str, enabled: bool) -> SubscriptionRow:
    with store.unit_of_work() as uow:
        row = uow.webhooks.subscription(tenant_id, subscription_id)
        if row is None:
            raise NotFound(f"no webhook subscription {subscription_id!r}")
        uow.webhooks.set_enabled(subscription_id, enabled, None if enabled else "disabled by user")
        uow.commit()
        found = uow.webhooks.subscription(tenant_id, subscription_id)
    assert found is not None
    return found


def _body(event: EventType, at_us: int, data: dict[str, object]) -> bytes:
    return json.dumps({"type": event.value, "timestamp": times.iso_us(at_us), "data": data},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def alert_data(a: Alert) -> dict[str, object]:
    return {"alert_id": a.alert_id, "tracking_no": a.tracking_no, "rule": a.rule,
            "kind": a.kind.value, "severity": a.severity.value, "state": a.state.value,
            "opened_at": times.iso_us(a.opened_at_us), "updated_at": times.iso_us(a.updated_at_us),
            "assignee": a.assignee, "evidence": a.evidence}


def outbox(uow: UnitOfWork, vault: Vault, changes: Iterable[Change],
           statuses: Iterable[StatusChange], now_us: int) -> list[Message]:
    """The messages this batch's changes owe each tenant's subscriptions."""
    wanted: list[tuple[str, EventType, str | None, int, dict[str, object]]] = []
    for c in changes:
        event = ALERT_EVENTS.get(c.what)
        if event is not None:
            wanted.append((c.alert.tenant_id, event, c.alert.kind.value, c.alert.updated_at_us,
                           alert_data(c.alert)))
    for s in statuses:
        wanted.append((s.tenant_id, EventType.STATUS_CHANGED, None, s.at_us, {
            "tracking_no": s.tracking_no, "status": s.after.value,
            "previous_status": s.before.value, "at": times.iso_us(s.at_us),
            "event_id": s.event_id, "carrier": s.carrier}))
    if not wanted:
        return []
    subs: dict[str, list[Subscription]] = {}
    messages = []
    for tenant_id, event, kind, at_us, data in wanted:
        if tenant_id not in subs:
            subs[tenant_id] = [subscription(r, vault) for r in uow.webhooks.subscriptions(tenant_id)
                               if r.enabled]
        for sub in subs[tenant_id]:
            if sub.wants(event, kind):
                messages.append(Message(new_id("msg"), tenant_id, sub.subscription_id, event,
                                        _body(event, at_us, data), now_us, now_us))
    return messages


def ops_outbox(uow: UnitOfWork, vault: Vault, changes: Iterable[tuple[str, OpsAlert]],
               now_us: int) -> list[Message]:
    """The messages operations alerts (opened or cleared) owe each tenant's subscriptions."""
    messages = []
    subs: dict[str, list[Subscription]] = {}
    for what, a in changes:
        event = EventType.OPS_ALERT_OPENED if what == "opened" else EventType.OPS_ALERT_CLEARED
        if a.tenant_id not in subs:
            subs[a.tenant_id] = [subscription(r, vault)
                                 for r in uow.webhooks.subscriptions(a.tenant_id) if r.enabled]
        at_us = a.opened_at_us if a.cleared_at_us is None else a.cleared_at_us
        data: dict[str, object] = {
            "alert_id": a.alert_id, "facility_id": a.facility_id, "kind": a.kind,
            "network": a.network,
            "opened_at": times.iso_us(a.opened_at_us),
            "cleared_at": None if a.cleared_at_us is None else times.iso_us(a.cleared_at_us),
            "evidence": dict(a.evidence)}
        for sub in subs[a.tenant_id]:
            if sub.wants(event, a.kind):
                messages.append(Message(new_id("msg"), a.tenant_id, sub.subscription_id, event,
                                        _body(event, at_us, data), now_us, now_us))
    return messages

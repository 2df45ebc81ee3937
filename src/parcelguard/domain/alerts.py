"""Alerts: what a rule saw, and the life of the alert it opened.

One alert is open per (shipment, rule) at a time: a repeat of the same condition updates it.
Its life is ``open → acknowledged → resolved`` at a person's hand, or ``cleared`` by itself when
the condition ends. Resolved and cleared alerts are history; a new occurrence opens a new one.
Every moment is event time (UTC microseconds), so replay and the live server agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum

from parcelguard.domain.errors import Conflict


class Kind(StrEnum):
    DWELL_EXCEEDED = "dwell_exceeded"
    NO_UPDATE = "no_update"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    TEMPERATURE_TREND = "temperature_trend"
    HUMIDITY_EXCURSION = "humidity_excursion"
    SHOCK = "shock"
    TAMPER = "tamper"
    CUSTOMS_DELAY = "customs_delay"
    CUSTOMS_HELD = "customs_held"
    DELIVERY_LATE = "delivery_late"
    DELAY_RISK = "delay_risk"
    ROUTE_DEVIATION = "route_deviation"
    MISROUTED = "misrouted"
    DAMAGED = "damaged"
    LOST_SUSPECTED = "lost_suspected"
    CARRIER_EXCEPTION = "carrier_exception"
    POD_UNVERIFIED = "pod_unverified"
    SENSOR_GAP = "sensor_gap"
    STATUS_REGRESSION = "status_regression"
    CUSTOM = "custom"  # a merchant's CEL rule; the rule id names it


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class State(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLEARED = "cleared"


ACTIVE = frozenset({State.OPEN, State.ACKNOWLEDGED})


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's verdict at an event-time moment: the condition holds (raise) or has ended."""

    rule: str  # the rule's id: a kind for built-in rules, "custom:<id>" for merchant rules
    kind: Kind
    raised: bool
    at_us: int
    severity: Severity = Severity.WARNING
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    tenant_id: str
    tracking_no: str
    rule: str
    kind: Kind
    severity: Severity
    state: State
    opened_at_us: int
    updated_at_us: int
    evidence: dict[str, object]
    repeats: int = 0
    acknowledged_at_us: int | None = None
    closed_at_us: int | None = None  # resolved or cleared
    assignee: str | None = None
    escalated_at_us: int | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def alert_id(tenant_id: str, tracking_no: str, rule: str, opened_at_us: int) -> str:
    """Stable: the same data opens the same alert id in replay and live."""
    material = "\x1f".join((tenant_id, tracking_no, rule, str(opened_at_us)))
    return "al-" + hashlib.sha256(material.encode()).hexdigest()[:20]


def open_alert(tenant_id: str, tracking_no: str, s: Signal) -> Alert:
    return Alert(alert_id(tenant_id, tracking_no, s.rule, s.at_us), tenant_id, tracking_no,
                 s.rule, s.kind, s.severity, State.OPEN, s.at_us, s.at_us, dict(s.evidence))


def repeat(alert: Alert, s: Signal) -> Alert:
    """The condition seen again while the alert is active: fresher evidence, worse severity."""
    worse = max(alert.severity, s.severity, key=_RANK.__getitem__)
    return replace(alert, updated_at_us=s.at_us, evidence={**alert.evidence, **s.evidence},
                   severity=worse, repeats=alert.repeats + 1)


def clear(alert: Alert, at_us: int) -> Alert:
    return replace(alert, state=State.CLEARED, updated_at_us=at_us, closed_at_us=at_us)


def acknowledge(alert: Alert, at_us: int, who: str | None) -> Alert:
    if alert.state is not State.OPEN:
        raise Conflict(f"alert {alert.alert_id} is {alert.state.value}; only an open alert "
                       "can be acknowledged")
    return replace(alert, state=State.ACKNOWLEDGED, updated_at_us=at_us, acknowledged_at_us=at_us,
                   assignee=alert.assignee or who)


def resolve(alert: Alert, at_us: int) -> Alert:
    if not alert.active:
        raise Conflict(f"alert {alert.alert_id} is {alert.state.value} already")
    return replace(alert, state=State.RESOLVED, updated_at_us=at_us, closed_at_us=at_us)


def assign(alert: Alert, who: str | None, at_us: int) -> Alert:
    return replace(alert, assignee=who, updated_at_us=at_us)


def escalate(alert: Alert, at_us: int) -> Alert:
    worse = Severity.CRITICAL if alert.severity is not Severity.CRITICAL else alert.severity
    return replace(alert, escalated_at_us=at_us, severity=worse, updated_at_us=at_us)


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

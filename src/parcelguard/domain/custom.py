"""Merchant rules: a CEL condition over a shipment and one event or reading.

The condition sees ``shipment`` (tracking_no, carrier, category, status, origin and destination
city, declared value), ``event`` (for rules ``on: event``: status, substatus, carrier_code,
facility_id, city, condition, operator_id, device_id, vehicle_id, description) or ``reading``
(for rules ``on: reading``: source and every measure), and ``stats`` (event_count,
hours_since_pickup, dwell_minutes, open_alerts). While it holds, the rule's alert is open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from parcelguard.domain.alerts import Severity
from parcelguard.domain.errors import InvalidInput

VARIABLES = {"event": frozenset({"shipment", "event", "stats"}),
             "reading": frozenset({"shipment", "reading", "stats"})}
NAME = re.compile(r"[\w .:()-]{1,80}")


class Trigger(StrEnum):
    EVENT = "event"
    READING = "reading"


def alert_rule(rule_id: str) -> str:
    """The rule id its alerts carry: one open alert per shipment and merchant rule."""
    return f"custom:{rule_id}"


@dataclass(frozen=True, slots=True)
class CustomRule:
    rule_id: str
    tenant_id: str
    name: str
    expression: str
    on: Trigger
    severity: Severity
    enabled: bool = True
    created_at_us: int = 0
    updated_at_us: int = 0

    @property
    def rule(self) -> str:
        """The alert rule id: one open alert per shipment and merchant rule."""
        return alert_rule(self.rule_id)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name.strip()):
        raise InvalidInput("name", "expected 1-80 letters, digits, spaces or . : ( ) -")
    return name.strip()


def check_variables(used: set[str], on: Trigger) -> None:
    allowed = VARIABLES[on.value]
    unknown = sorted(used - allowed)
    if unknown:
        raise InvalidInput("expression", f"unknown variable {unknown[0]!r}: a rule on {on.value}s "
                                         f"can use {', '.join(sorted(allowed))}")

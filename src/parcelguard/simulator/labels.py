"""Ground truth: what went wrong with a simulated parcel, where, when and by whose hand.

Alert precision and recall are measured against these labels, and liability analysis is
checked against them, so a label names the exact culprit: the facility, vehicle, operator
and carrier, and the window in which the harm happened (``end`` None: it never ended).
``expected_alerts`` are the alert kinds (DESIGN.md) the pipeline must raise for it;
``details["may_also_raise"]`` lists kinds that would be reasonable follow-ons and should
not count as false positives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parcelguard.domain import times

ANOMALIES = (
    "rough_handling", "reefer_failure", "stuck_at_hub", "lost", "customs_hold", "misroute",
    "late_delivery", "wrong_recipient",
)


@dataclass(frozen=True, slots=True)
class Label:
    tracking_no: str
    anomaly: str
    expected_alerts: tuple[str, ...]
    start: datetime
    end: datetime | None
    carrier: str
    facility_id: str | None = None
    vehicle_id: str | None = None
    operator_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_no": self.tracking_no,
            "anomaly": self.anomaly,
            "expected_alerts": list(self.expected_alerts),
            "start": times.iso(self.start),
            "end": None if self.end is None else times.iso(self.end),
            "facility_id": self.facility_id,
            "vehicle_id": self.vehicle_id,
            "operator_id": self.operator_id,
            "carrier": self.carrier,
            "details": dict(self.details),
        }

    def to_json(self) -> str:
        """One NDJSON line, Chinese kept readable."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

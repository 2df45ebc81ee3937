"""Category profiles: the thresholds each kind of goods is watched with.

The shipped defaults live in ``parcelguard/profiles/default.yaml``; a deployment may replace
them. ``general`` holds every setting; other categories override some. A shipment's own
``thresholds`` override its category's on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.shipment import Category, Thresholds
from parcelguard.domain.status import Status


@dataclass(frozen=True, slots=True)
class Profile:
    dwell_max_min: float = 120.0
    silence_hours: Mapping[str, float] = field(default_factory=dict)  # by status
    lost_after_hours: float = 72.0
    lost_after_exception_hours: float = 48.0
    customs_clear_within_hours: float = 48.0
    escalate_after_min: float = 60.0
    shock_max_g: float | None = None
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    humidity_max_pct: float | None = None
    excursion_continuous_min: float = 15.0
    excursion_budget_min: float = 60.0
    trend_horizon_min: float = 30.0
    tamper_lux: float | None = None
    sensor_silence_min: float = 60.0
    require_verified_pod: bool = False
    route_deviation_km: float = 50.0
    delay_risk_probability: float = 0.5

    def with_thresholds(self, t: Thresholds) -> Profile:
        """This profile with a shipment's own overrides applied."""
        overrides: dict[str, Any] = dict(t.as_dict())
        return replace(self, **overrides) if overrides else self

    def silence_for(self, status: Status) -> float | None:
        hours = self.silence_hours.get(status.value)
        return None if hours is None else float(hours)


_FIELDS = {f.name: f for f in fields(Profile)}
_NUMBER = (int, float)


def _value(category: str, key: str, value: Any) -> Any:
    where = f"profiles.{category}.{key}"
    if key not in _FIELDS:
        raise InvalidInput(where, f"unknown setting; known settings: {', '.join(sorted(_FIELDS))}")
    if key == "silence_hours":
        if not isinstance(value, Mapping):
            raise InvalidInput(where, "expected a mapping of status to hours")
        known = {s.value for s in Status}
        for status, hours in value.items():
            if status not in known:
                raise InvalidInput(f"{where}.{status}", f"not a status; expected one of {sorted(known)}")
            if not isinstance(hours, _NUMBER) or hours <= 0:
                raise InvalidInput(f"{where}.{status}", "expected a positive number of hours")
        return dict(value)
    if key == "require_verified_pod":
        if not isinstance(value, bool):
            raise InvalidInput(where, "expected true or false")
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise InvalidInput(where, f"expected a number, got {value!r}")
    return float(value)


def from_mapping(data: Mapping[str, Any]) -> dict[Category, Profile]:
    """Profiles per category from parsed YAML; every error names the setting."""
    known = {c.value for c in Category}
    for name in data:
        if name not in known:
            raise InvalidInput(f"profiles.{name}", f"not a category; expected one of {sorted(known)}")
    general_raw = data.get("general") or {}
    base = Profile(**{k: _value("general", k, v) for k, v in general_raw.items()})
    out = {Category.GENERAL: base}
    for category in Category:
        if category is Category.GENERAL:
            continue
        raw = data.get(category.value) or {}
        out[category] = replace(base, **{k: _value(category.value, k, v) for k, v in raw.items()})
    return out

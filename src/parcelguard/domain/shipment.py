"""A shipment as the merchant registered it: what travels, from where to where, by when."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum

from parcelguard.domain.errors import InvalidInput

TRACKING_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,63}")
CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class Category(StrEnum):
    GENERAL = "general"
    FRAGILE = "fragile"
    COLD_CHAIN = "cold_chain"
    CROSS_BORDER = "cross_border"
    HIGH_VALUE = "high_value"


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    lat: float | None = None
    lon: float | None = None
    country: str = "CN"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Per-shipment overrides of the category profile; None means "use the profile"."""

    temp_min_c: float | None = None
    temp_max_c: float | None = None
    humidity_max_pct: float | None = None
    shock_max_g: float | None = None
    dwell_max_min: float | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, float]:
        return {n: v for n in self.names() if (v := getattr(self, n)) is not None}


@dataclass(frozen=True, slots=True)
class Recipient:
    """Personal data. Lives only on the way in: storage keeps it sealed and masked."""

    name: str
    phone: str
    address: str
    email: str | None = None  # where pickup codes go when mail is configured


@dataclass(frozen=True, slots=True)
class MaskedRecipient:
    name: str
    phone: str
    address: str


@dataclass(frozen=True, slots=True)
class Shipment:
    tenant_id: str
    tracking_no: str
    carrier: str
    category: Category
    origin: Place
    destination: Place
    promised_by: datetime | None = None
    order_ref: str | None = None
    declared_value_fen: int | None = None  # CNY in fen (分): money is never a float
    route_plan: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    recipient: MaskedRecipient | None = None


def check_tracking_no(value: str, field_name: str = "tracking_no") -> str:
    if not TRACKING_NO.fullmatch(value):
        raise InvalidInput(
            field_name,
            f"expected 3-64 letters, digits, '-' or '_' starting with a letter or digit, got {value!r}",
        )
    return value


def check_code(value: str, field_name: str) -> str:
    if not CODE.fullmatch(value):
        raise InvalidInput(
            field_name, f"expected a lowercase code of 1-32 letters, digits, '-' or '_', got {value!r}"
        )
    return value


def check_coordinates(lat: float | None, lon: float | None, field_name: str) -> None:
    if (lat is None) != (lon is None):
        raise InvalidInput(field_name, "give both lat and lon, or neither")
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise InvalidInput(f"{field_name}.lat", f"expected a latitude between -90 and 90, got {lat}")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise InvalidInput(
            f"{field_name}.lon", f"expected a longitude between -180 and 180, got {lon}"
        )

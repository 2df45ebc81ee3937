"""Our own wire formats (DESIGN.md "Wire contracts"), decoded into commands.

Decoding is per item: a batch of 1000 events with one bad item gives 999 commands and one
rejection naming the item's index, the field and what was expected. Nothing here raises for
bad input except :class:`Unparsable`, when the body is not JSON at all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import msgspec

from parcelguard.domain import privacy
from parcelguard.domain.errors import InvalidInput, TooLarge, Unparsable
from parcelguard.domain.events import Condition, Location, TrackingEvent, derive_event_id
from parcelguard.domain.shipment import (
    CODE,
    TRACKING_NO,
    Category,
    Place,
    Recipient,
    Shipment,
    Thresholds,
    check_coordinates,
)
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Device, DeviceKind, Reading
from parcelguard.services.messages import (
    RecordReading,
    RecordScan,
    RegisterDevice,
    RegisterShipment,
)

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Short = Annotated[str, msgspec.Meta(max_length=200)]
Time = Annotated[datetime, msgspec.Meta(tz=True)]  # RFC 3339, offset required, kept as sent
TrackingNo = Annotated[str, msgspec.Meta(pattern=f"^{TRACKING_NO.pattern}$")]
Code = Annotated[str, msgspec.Meta(pattern=f"^{CODE.pattern}$")]
MAX_ITEMS = 1000
TIME_EXAMPLE = "an RFC 3339 time with an offset, e.g. 2026-11-20T08:15:00+08:00"


class _Wire(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class WirePlace(_Wire):
    city: Short
    lat: float | None = None
    lon: float | None = None
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2)] = "CN"


class WireRecipient(_Wire):
    name: Short
    phone: Annotated[str, msgspec.Meta(max_length=32)]
    address: Text
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None


class WireThresholds(_Wire):
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    humidity_max_pct: float | None = None
    shock_max_g: float | None = None
    dwell_max_min: float | None = None


class WireShipment(_Wire, tag_field="type", tag="shipment"):
    tracking_no: TrackingNo
    carrier: Code
    origin: WirePlace
    destination: WirePlace
    category: Category = Category.GENERAL
    promised_by: Time | None = None
    order_ref: Short | None = None
    recipient: WireRecipient | None = None
    declared_value_cny: Annotated[float, msgspec.Meta(ge=0, le=1e12)] | None = None
    route_plan: Annotated[list[Id], msgspec.Meta(max_length=100)] = []
    devices: Annotated[list[Id], msgspec.Meta(max_length=50)] = []
    thresholds: WireThresholds | None = None
    received_at: Time | None = None  # replay only: when the order reached the system


class WireLocation(_Wire):
    facility_id: Id | None = None
    name: Short | None = None
    city: Short | None = None
    lat: float | None = None
    lon: float | None = None


class WireEvent(_Wire, tag_field="type", tag="event"):
    tracking_no: TrackingNo
    carrier: Code
    occurred_at: Time
    status: Status
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    substatus: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    location: WireLocation | None = None
    operator_id: Id | None = None
    device_id: Id | None = None
    vehicle_id: Id | None = None
    condition: Condition | None = None
    description: Text | None = None
    raw: dict[str, Any] | None = None
    received_at: Time | None = None  # replay only: when the event reached the system


class WireReading(_Wire, tag_field="type", tag="telemetry"):
    device_id: Id
    ts: Time
    seq: Annotated[int, msgspec.Meta(ge=0)] | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    temperature_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None
    light_lux: float | None = None
    battery_pct: float | None = None
    received_at: Time | None = None


class WireDevice(_Wire, tag_field="type", tag="device"):
    device_id: Id
    kind: DeviceKind
    tracking_no: Id | None = None
    vehicle_id: Id | None = None
    facility_id: Id | None = None


class WireClock(_Wire, tag_field="type", tag="clock"):
    at: Time


class WireDisruption(_Wire, tag_field="type", tag="disruption"):
    """A disruption declared in a recording (``POST /v1/disruptions`` live)."""

    kind: Short
    title: Short
    starts_at: Time
    ends_at: Time
    extra_delay_hours: float
    cities: list[Short] | None = None
    polygon: list[list[float]] | None = None
    facility_id: Id | None = None


ReplayLine = WireShipment | WireEvent | WireReading | WireDevice | WireClock | WireDisruption


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    ref: str | None
    field: str
    problem: str

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


# ---- errors from msgspec, in plain words ----

_WORDS = {
    "`str`": "a string", "`float`": "a number", "`int`": "an integer", "`null`": "null",
    "`object`": "an object", "`array`": "an array", "`bool`": "true or false",
}
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _plain(message: str) -> str:
    for code, word in _WORDS.items():
        message = message.replace(code, word)
    return message[:1].lower() + message[1:]


_ENUMS: dict[str, type[Enum]] = {
    "status": Status, "condition": Condition, "category": Category, "kind": DeviceKind,
}
_PATTERNS = {
    "tracking_no": "expected 3-64 letters, digits, '-' or '_', starting with a letter or digit",
    "carrier": "expected a lowercase code of 1-32 letters, digits, '-' or '_' (e.g. sf, zto)",
}


def explain(exc: msgspec.MsgspecError) -> tuple[str, str]:
    """(field path, problem) from a msgspec error message, in words a sender can act on."""
    m = _AT.match(str(exc))
    assert m is not None
    path = (m.group("path") or "").lstrip(".")
    msg = m.group("msg")
    leaf = path.rsplit(".", 1)[-1]
    if "`datetime` with a timezone" in msg:
        return path, f"the time has no offset; send {TIME_EXAMPLE}"
    if "RFC3339" in msg or "`datetime`" in msg:
        return path, f"expected {TIME_EXAMPLE}"
    enum_value = re.match(r"Invalid enum value (.*)", msg)
    if enum_value and leaf in _ENUMS:
        allowed = ", ".join(str(e.value) for e in _ENUMS[leaf])
        return path, f"expected one of {allowed}; got {enum_value.group(1)}"
    if "matching regex" in msg and leaf in _PATTERNS:
        return path, _PATTERNS[leaf]
    unknown = re.search(r"unknown field `([^`]+)`", msg)
    if unknown:
        return (f"{path}.{unknown.group(1)}".lstrip("."), "is not a field of this object")
    missing = re.search(r"missing required field `([^`]+)`", msg)
    if missing:
        return (f"{path}.{missing.group(1)}".lstrip("."), "is required")
    return path, _plain(msg)


def split(body: bytes, max_items: int = MAX_ITEMS) -> tuple[list[msgspec.Raw], bool]:
    """The items of a body holding one JSON object or an array of them."""
    head = body.lstrip()[:1]
    if head == b"[":
        try:
            items = msgspec.json.decode(body, type=list[msgspec.Raw])
        except msgspec.MsgspecError as exc:
            raise Unparsable("body", f"not valid JSON: {exc}") from None
        except RecursionError:
            raise Unparsable("body", "JSON nested too deeply") from None
        if len(items) > max_items:
            raise TooLarge(f"a batch holds at most {max_items} items, this one {len(items)}")
        if not items:
            raise InvalidInput("body", "the array is empty")
        return items, True
    if head == b"{":
        return [msgspec.Raw(body)], False
    raise Unparsable("body", "expected a JSON object or an array of objects")


T = TypeVar("T")


def decode(raw: bytes | msgspec.Raw, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: test it first
        raise InvalidInput(*explain(exc)) from None
    except msgspec.DecodeError as exc:
        raise Unparsable("", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise Unparsable("", "JSON nested too deeply") from None


# ---- wire → domain ----


def _place(p: WirePlace, field: str) -> Place:
    check_coordinates(p.lat, p.lon, field)
    return Place(p.city, p.lat, p.lon, p.country.upper())


def _finite(value: float | None, field: str, lo: float, hi: float) -> None:
    if value is not None and not lo <= value <= hi:
        raise InvalidInput(field, f"expected a value between {lo:g} and {hi:g}, got {value:g}")


def to_register(
    w: WireShipment, tenant_id: str, encode: Any, received_at: datetime | None = None
) -> RegisterShipment:
    """A registration; ``received_at`` is the server's clock (or, in replay, the line's own)."""
    recipient = None
    if w.recipient is not None:
        privacy.check_phone(w.recipient.phone)
        email = (privacy.check_email(w.recipient.email) if w.recipient.email is not None
                 else None)
        recipient = Recipient(w.recipient.name.strip(), w.recipient.phone, w.recipient.address,
                              email)
    thresholds = Thresholds(**msgspec.structs.asdict(w.thresholds)) if w.thresholds else Thresholds()
    lo, hi = thresholds.temp_min_c, thresholds.temp_max_c
    if lo is not None and hi is not None and lo >= hi:
        raise InvalidInput("thresholds", "temp_min_c must be below temp_max_c")
    shipment = Shipment(
        tenant_id=tenant_id,
        tracking_no=w.tracking_no,
        carrier=w.carrier,
        category=w.category,
        origin=_place(w.origin, "origin"),
        destination=_place(w.destination, "destination"),
        promised_by=w.promised_by,
        order_ref=w.order_ref,
        declared_value_fen=None if w.declared_value_cny is None else round(w.declared_value_cny * 100),
        route_plan=tuple(w.route_plan),
        devices=tuple(dict.fromkeys(w.devices)),
        thresholds=thresholds,
        recipient=privacy.mask(recipient) if recipient else None,
    )
    spec = msgspec.to_builtins(w)
    spec.pop("received_at", None)  # when it arrived is not what it is
    digest = hashlib.sha256(encode(spec)).hexdigest()
    return RegisterShipment(shipment, recipient, digest, received_at)


def to_event(w: WireEvent, source: str = "api") -> TrackingEvent:
    location = None
    if w.location is not None:
        loc = w.location
        if loc.lat is not None or loc.lon is not None:
            check_coordinates(loc.lat, loc.lon, "location")
        location = Location(loc.facility_id, loc.name, loc.city, loc.lat, loc.lon)
    event_id = w.event_id or derive_event_id(
        source, w.tracking_no, w.occurred_at, w.status, w.substatus,
        location.facility_id if location else None,
    )
    return TrackingEvent(
        event_id, w.tracking_no, w.carrier, w.occurred_at, w.status, w.substatus, location,
        w.operator_id, w.device_id, w.vehicle_id, w.condition, w.description, source, None,
        w.raw,
    )


def to_reading(w: WireReading) -> Reading:
    check_coordinates(w.lat, w.lon, "")
    _finite(w.speed_kmh, "speed_kmh", 0, 1000)
    _finite(w.temperature_c, "temperature_c", -100, 150)
    _finite(w.humidity_pct, "humidity_pct", 0, 100)
    _finite(w.shock_g, "shock_g", 0, 1000)
    _finite(w.light_lux, "light_lux", 0, 200_000)
    _finite(w.battery_pct, "battery_pct", 0, 100)
    return Reading(
        device_id=w.device_id, ts=w.ts, seq=w.seq, lat=w.lat, lon=w.lon,
        speed_kmh=w.speed_kmh, temperature_c=w.temperature_c, humidity_pct=w.humidity_pct,
        shock_g=w.shock_g, light_lux=w.light_lux, battery_pct=w.battery_pct,
    )


def to_device(w: WireDevice, tenant_id: str) -> RegisterDevice:
    kind = w.kind
    if kind is DeviceKind.BOX_SENSOR and not w.tracking_no:
        raise InvalidInput("tracking_no", "a box_sensor is bound to a shipment: give its tracking_no")
    if kind is DeviceKind.VEHICLE_UNIT and not w.vehicle_id:
        raise InvalidInput("vehicle_id", "a vehicle_unit is bound to a vehicle: give its vehicle_id")
    if kind is DeviceKind.FACILITY_SCANNER and not w.facility_id:
        raise InvalidInput("facility_id", "a facility_scanner is bound to a facility: give its facility_id")
    return RegisterDevice(Device(tenant_id, w.device_id, kind, w.tracking_no, w.vehicle_id,
                                 w.facility_id))


# ---- batches ----


def _ref(raw: msgspec.Raw, key: bytes) -> str | None:
    """A best-effort id for a rejected item (its event_id or device_id), for the answer."""
    m = re.search(rb'"' + key + rb'"\s*:\s*"([^"]{1,100})"', bytes(raw))
    return m.group(1).decode(errors="replace") if m else None


def _server_stamps(received_at: datetime | None) -> None:
    if received_at is not None:
        raise InvalidInput("received_at", "is set by the server on arrival; leave it out")


def _whole(body: bytes, kind: type[T]) -> list[T] | None:
    """Every item of an array body at once (one C call), or None if any item is bad (or the
    body is not an array): then the caller decodes item by item to say which and why."""
    if body.lstrip()[:1] != b"[":
        return None
    try:
        items = msgspec.json.decode(body, type=list[kind])  # type: ignore[valid-type]
    except (msgspec.MsgspecError, RecursionError):
        return None
    return items if 0 < len(items) <= MAX_ITEMS else None


def _per_item(body: bytes, kind: type[T], ref: bytes) -> tuple[list[T | Rejection], bool]:
    items, is_array = split(body)
    out: list[T | Rejection] = []
    for i, raw in enumerate(items):
        try:
            out.append(decode(raw, kind))
        except Unparsable:
            raise
        except InvalidInput as exc:
            out.append(Rejection(i, _ref(raw, ref), exc.field, exc.problem))
    return out, is_array


def events(
    body: bytes, tenant_id: str, received_at: datetime, source: str = "api"
) -> tuple[list[RecordScan | Rejection], bool]:
    whole = _whole(body, WireEvent)
    decoded, is_array = (whole, True) if whole is not None else _per_item(body, WireEvent,
                                                                          b"event_id")
    out: list[RecordScan | Rejection] = []
    for i, w in enumerate(decoded):
        if isinstance(w, Rejection):
            out.append(w)
            continue
        try:
            _server_stamps(w.received_at)
            out.append(RecordScan(tenant_id, to_event(w, source), received_at))
        except InvalidInput as exc:
            out.append(Rejection(i, w.event_id, exc.field, exc.problem))
    return out, is_array


def readings(
    body: bytes, tenant_id: str, received_at: datetime
) -> tuple[list[RecordReading | Rejection], bool]:
    whole = _whole(body, WireReading)
    decoded, is_array = (whole, True) if whole is not None else _per_item(body, WireReading,
                                                                          b"device_id")
    out: list[RecordReading | Rejection] = []
    for i, w in enumerate(decoded):
        if isinstance(w, Rejection):
            out.append(w)
            continue
        try:
            _server_stamps(w.received_at)
            out.append(RecordReading(tenant_id, to_reading(w), received_at))
        except InvalidInput as exc:
            out.append(Rejection(i, w.device_id, exc.field, exc.problem))
    return out, is_array

"""What every carrier push adapter shares: the one result shape, the status lookup, ids.

Every adapter takes the same five steps, in this order:

1. pick out of the raw body only what is signed (a form field, or the body itself);
2. verify the signature over those raw bytes, failing closed (:func:`same`);
3. decode into typed structs (:func:`decode_json`, :func:`convert`): a body that is not the
   format raises ``Unparsable``, a bad field ``InvalidInput`` naming its path;
4. map each item into a :class:`TrackingEvent` through the format's ``STATUS_CODES`` table
   (:meth:`Batch.add`): an unknown code becomes status ``unknown``, keeps its raw code in
   ``carrier_code`` and is counted, never dropped;
5. answer what the provider expects (:class:`Push` ``reply``).

Carrier times mostly lack an offset: :mod:`.localtime` reads them in the configured zone.
Optional extras a carrier sends (an estimated delivery, coordinates) are left out when they
cannot be read, rather than failing a push whose scans are fine.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

import msgspec

from parcelguard.domain.errors import InvalidInput, Unauthorized, Unparsable
from parcelguard.domain.events import ARRIVED, DEPARTED, Condition, Location, TrackingEvent, derive_event_id
from parcelguard.domain.shipment import CODE, check_coordinates
from parcelguard.domain.status import Status
from parcelguard.ingest import wire

JSON = "application/json"
OK_REPLY = b'{"ok":true}'
MAX_CODE = 40  # the width of events.carrier_code in storage
MAX_ID = 100  # the width of events.event_id
MAX_FIELDS = 100  # a carrier form has a handful; more is not a carrier

# The substatus vocabulary the tables use (free text in storage; these are the words we emit).
SUB_ARRIVED, SUB_DEPARTED = ARRIVED, DEPARTED  # arrival / departure scan at a facility
SUB_AT_STATION = "arrived_at_station"  # the delivery station: parcels wait for a round
SUB_DEST_CITY = "arrived_destination_city"
SUB_DEST_COUNTRY = "arrived_destination_country"
SUB_LEFT_ORIGIN = "departed_origin_country"
SUB_AWAITING_PICKUP = "awaiting_pickup"
SUB_CUSTOMS_PENDING = "customs_pending"
SUB_CUSTOMS_IN_PROGRESS = "customs_in_progress"
SUB_CUSTOMS_CLEARED = "customs_cleared"
SUB_CUSTOMS_HELD = "customs_held"


@dataclass(frozen=True, slots=True)
class Code:
    """What one carrier status code means to us."""

    status: Status
    substatus: str | None = None
    label: str = ""  # the carrier's own name for the code, for people reading the table
    condition: Condition | None = None  # e.g. "damaged" codes also say so about the parcel


Table = Mapping[str, Code]
UNKNOWN = Code(Status.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Push:
    """One verified, decoded push: the same shape for every format.

    ``unknown_codes`` counts items whose code is not in the table, whether they ended up as
    ``unknown`` or were mapped through a parent code (an unlisted AfterShip subtag through its
    tag): either way the table needs a look. ``stopped`` names tracking numbers the provider
    stopped tracking (Kuaidi100 abort/shutdown, 17TRACK TRACKING_STOPPED, AfterShip Expired),
    ``problems`` those it failed to track (Kdniao ``Success=false``), each with its reason.
    """

    format: str
    events: list[TrackingEvent]
    reply: bytes  # the body the provider expects back, with HTTP 200
    reply_type: str = JSON
    delivery_id: str | None = None  # the provider's id of this delivery, when it sends one
    estimated_delivery: dict[str, datetime] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    corrections: dict[str, str] = field(default_factory=dict)  # tracking_no -> corrected carrier
    unknown_codes: int = 0


def lookup(table: Table, code: str | None, parent: str | None = None) -> tuple[Code, bool]:
    """The meaning of ``code``, and whether the table is missing it.

    An unlisted code takes its ``parent``'s status (without a substatus) when the parent is
    listed, else ``unknown``; either way it is reported as missing. No code at all is
    ``unknown`` but not a missing code. Never raises: an unknown code is data, not an error.
    """
    if code is None:
        return UNKNOWN, False
    hit = table.get(code)
    if hit is not None:
        return hit, False
    up = table.get(parent) if parent is not None else None
    return (UNKNOWN if up is None else Code(up.status)), True


def text(value: object) -> str | None:
    """A code or label as text: numbers become their digits, blanks become None."""
    if isinstance(value, bool) or value is None:
        return None
    out = str(value).strip()
    return out or None


def carrier_code(raw: str | None, path: str) -> str:
    """Our carrier code: the provider's code lowercased (``SF`` → ``sf``), checked, not renamed."""
    code = (raw or "").strip().lower()
    if not CODE.fullmatch(code):
        raise InvalidInput(path, f"expected a carrier code of 1-32 letters, digits, '-' or '_', got {raw!r}")
    return code


def coordinates(lat: object, lon: object) -> tuple[float | None, float | None]:
    """Both coordinates when both are numbers in range, else neither (they are optional)."""
    la, lo = _number(lat), _number(lon)
    if la is None or lo is None:
        return None, None
    try:
        check_coordinates(la, lo, "")
    except InvalidInput:
        return None, None
    return la, lo


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def place(name: str | None = None, city: str | None = None, lat: object = None, lon: object = None
          ) -> Location | None:
    """A scan's location from whatever the carrier gave; None when it gave nothing."""
    la, lo = coordinates(lat, lon)
    name, city = (name or "").strip()[:200] or None, (city or "").strip()[:100] or None
    if name is None and city is None and la is None:
        return None
    return Location(name=name, city=city, lat=la, lon=lo)


def content_id(source: str, tracking_no: str, at: datetime, *words: str | None) -> str:
    """An event id from what a full-trace push repeats verbatim: the time and the scan's words.

    ``derive_event_id`` is given the carrier's own wording in place of our status, because the
    status we assign may change between pushes (the newest trace takes the shipment's state)
    while the scan does not.
    """
    detail = "\x1f".join(w or "" for w in words)
    return derive_event_id(source, tracking_no, at, "", detail, None)


def newest(times: list[datetime]) -> int:
    """Index of the latest time (the last one on a tie); -1 for none."""
    best = -1
    for i, t in enumerate(times):
        if best < 0 or t >= times[best]:
            best = i
    return best


@dataclass(slots=True)
class Batch:
    """Collects a push's events and side facts, then freezes them into a :class:`Push`."""

    format: str
    events: list[TrackingEvent] = field(default_factory=list)
    estimated_delivery: dict[str, datetime] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    corrections: dict[str, str] = field(default_factory=dict)
    unknown_codes: int = 0

    def add(
        self, tracking_no: str, carrier: str, at: datetime, hit: tuple[Code, bool], code: str | None,
        *, location: Location | None, description: str | None, raw: Mapping[str, Any] | None,
        event_id: str | None = None,
    ) -> None:
        meaning, unlisted = hit
        if unlisted:
            self.unknown_codes += 1
        if event_id is None or not 0 < len(event_id) <= MAX_ID:
            words = (description, location.name if location else None, location.city if location else None)
            event_id = content_id(self.format, tracking_no, at, *words)
        self.events.append(TrackingEvent(
            event_id, tracking_no, carrier, at, meaning.status, meaning.substatus, location,
            condition=meaning.condition, description=description, source=self.format,
            carrier_code=code[:MAX_CODE] if code else None, raw=raw,
        ))

    def done(self, reply: bytes, reply_type: str = JSON, delivery_id: str | None = None) -> Push:
        return Push(self.format, self.events, reply, reply_type, delivery_id, self.estimated_delivery,
                    self.stopped, self.problems, self.corrections, self.unknown_codes)


T = TypeVar("T")


def decode_json(raw: bytes | str, path: str) -> Any:
    """Untyped JSON, or ``Unparsable`` naming ``path`` (also for absurdly deep nesting)."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise Unparsable(path, f"not valid JSON: {str(exc)[:200]}") from None


def convert(obj: Any, kind: type[T], prefix: str) -> T:
    """``obj`` as the typed envelope ``kind``; a mismatch names the field's path under ``prefix``.

    Strings such as ``"true"`` and ``"3"`` are accepted for booleans and numbers: carriers are
    loose about JSON types. A wrong shape at the top is ``Unparsable``; deeper, ``InvalidInput``.
    """
    try:
        return msgspec.convert(obj, kind, strict=False)
    except msgspec.ValidationError as exc:
        path, problem = wire.explain(exc)
        if not path:
            raise Unparsable(prefix, problem) from None
        full = f"{prefix}.{path}" if prefix and not path.startswith("[") else f"{prefix}{path}"
        raise InvalidInput(full, problem) from None
    except RecursionError:
        raise Unparsable(prefix, "nested too deeply") from None


# ---- signatures: checked over the raw bytes before anything is parsed, failing closed ----


def need_secret(secret: str, fmt: str) -> None:
    if not secret:
        raise Unauthorized(f"no {fmt} secret is configured, so no {fmt} push can be verified or accepted")


def same(given: str | None, expected: str, what: str) -> None:
    """Constant-time comparison; a missing signature is refused, never skipped."""
    if not given:
        raise Unauthorized(f"missing {what}: every push must be signed")
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode()):
        raise Unauthorized(f"{what} does not match the body: check the configured secret")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its lowercase name, whatever the case the mapping keeps it in."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


class Unverified(Unparsable):
    """The body could not be read far enough to check its signature (a form that is not one):
    answered 400 like any unreadable push, but not kept, since anyone could have sent it."""


def signed_form(body: bytes, signed: tuple[str, ...]) -> dict[str, str]:
    """:func:`form` for a push whose signature is one of its fields."""
    try:
        return form(body, signed)
    except Unparsable as exc:
        raise Unverified(exc.field, exc.problem) from None


def form(body: bytes, signed: tuple[str, ...]) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` body (UTF-8), as ``parse_qsl`` reads
    them but several times faster on the percent-heavy bodies carriers send (see :func:`unquote`).

    A signed field sent twice is refused: which copy was signed would be anyone's guess.
    """
    pairs = [pair.partition(b"=") for pair in body.split(b"&") if pair]
    if len(pairs) > MAX_FIELDS:
        raise Unparsable("body", f"more than {MAX_FIELDS} form fields")
    fields: dict[str, str] = {}
    try:
        for raw_name, _, raw_value in pairs:
            name = unquote(raw_name)
            if name in fields and name in signed:
                raise Unparsable(name, "the field is sent twice; send it once")
            fields.setdefault(name, unquote(raw_value))
    except UnicodeDecodeError as exc:
        raise Unparsable("body", f"expected UTF-8 form fields (name=value&...): {exc}") from None
    return fields


def unquote(raw: bytes) -> str:
    """``urllib.parse.unquote_plus`` for bytes, in C: ``%XX`` becomes ``\\xXX`` (backslashes doubled
    first) for the documented ``unicode_escape`` codec. A stray ``%`` takes the slow, exact path."""
    raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        try:
            raw = raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x").decode("unicode_escape").encode("latin-1")
        except UnicodeDecodeError:
            raw = unquote_to_bytes(raw)
    return raw.decode("utf-8")

"""Time on the wire: RFC 3339 with a mandatory offset, kept as given.

An aware ``datetime`` carries both the instant and the sender's original offset, so the
domain keeps the ``datetime`` exactly as parsed. Storage splits it into UTC microseconds
(for ordering and indexes) and the offset in minutes (to give the local time back).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from parcelguard.domain.errors import InvalidInput

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_EXAMPLE = "an RFC 3339 time with an offset, e.g. 2026-11-20T08:15:00+08:00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ZONES: dict[int, timezone] = {}


def zone(offset_min: int) -> timezone:
    """A fixed-offset zone, shared between calls (there are few distinct offsets)."""
    tz = _ZONES.get(offset_min)
    if tz is None:
        tz = UTC if offset_min == 0 else timezone(timedelta(minutes=offset_min))
        _ZONES[offset_min] = tz
    return tz


def _rfc3339_shape(t: str) -> bool:
    """Cheap test that ``t`` is date T time with seconds and a ±HH:MM or Z offset."""
    return (
        len(t) >= 20 and t[4] == "-" and t[7] == "-" and t[10] in "T " and t[13] == ":"
        and t[16] == ":" and (t[-1] == "Z" or (t[-6] in "+-" and t[-3] == ":"))
    )


def parse(text: object, field: str) -> datetime:
    """Parse an RFC 3339 timestamp; a missing offset is an error naming ``field``.

    The common spelling goes through ``datetime.fromisoformat`` (fast, in C) once its shape
    is known to be RFC 3339; anything else takes the strict, slower path with precise errors.
    """
    if isinstance(text, str) and _rfc3339_shape(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return _parse_strict(text, field)


def _parse_strict(text: object, field: str) -> datetime:
    if not isinstance(text, str):
        raise InvalidInput(field, f"expected {_EXAMPLE}, got {type(text).__name__}")
    m = _RFC3339.fullmatch(text)
    if m is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", text):
            raise InvalidInput(field, f"the time {text!r} has no offset; send {_EXAMPLE}")
        raise InvalidInput(field, f"expected {_EXAMPLE}, got {text!r}")
    year, month, day, hour, minute, second, frac, z, sign, oh, om = m.groups()
    offset = 0 if z else (int(oh) * 60 + int(om)) * (1 if sign == "+" else -1)
    if abs(offset) >= 24 * 60:
        raise InvalidInput(field, f"offset out of range in {text!r}")
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59),
            micro, tzinfo=zone(offset),
        )
    except ValueError as exc:
        raise InvalidInput(field, f"not a valid date or time in {text!r}: {exc}") from None


def to_us(dt: datetime) -> int:
    """Microseconds since the Unix epoch (UTC) of an aware datetime."""
    return (dt - _EPOCH) // _MICROSECOND


def offset_min(dt: datetime) -> int:
    off = dt.utcoffset()
    return 0 if off is None else int(off.total_seconds()) // 60


def from_us(us: int, offset: int = 0) -> datetime:
    """The instant ``us`` shown in the original offset (minutes east of UTC)."""
    return (_EPOCH + timedelta(microseconds=us)).astimezone(zone(offset))


def iso(dt: datetime) -> str:
    """RFC 3339 text, keeping the datetime's own offset; 'Z' for UTC."""
    text = dt.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def iso_us(us: int, offset: int = 0) -> str:
    return iso(from_us(us, offset))


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def shift_of(at_us: int) -> str:
    """The work shift of a moment: ``day`` 08:00-20:00 China time, else ``night``."""
    hour = (at_us // 3_600_000_000 + 8) % 24
    return "day" if 8 <= hour < 20 else "night"

"""Carrier-local times: wall-clock text without an offset, read in a configured zone.

Chinese carriers write Beijing time as ``yyyy-MM-dd HH:mm:ss`` with no offset; AfterShip
checkpoints carry the carrier's local time, often without one. A time that has its own offset
(or ``Z``) keeps it; one without is read as wall time in the zone the caller configures
(``Asia/Shanghai`` by default). The result always carries a fixed offset (``+08:00``), like
every other time in the domain, so ids and storage see one spelling per instant. Years
outside 1970-2100 are refused: no parcel scan is that old or that far ahead.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
_LOCAL = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[T ]+(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII,
)
_YEARS = range(1970, 2101)
LOCAL_EXAMPLE = "a time like 2024-05-20 08:05:00 (read in the configured zone) or with an offset"


def _local(value: object, zone: tzinfo, day_end: bool | None) -> datetime | str:
    """The time, or why not. ``day_end`` None: a clock time is required; True: a bare date means
    the end of that day (an estimated delivery "by 20 May")."""
    if isinstance(value, str) and _plain(value):  # the common spelling, parsed in C
        try:
            naive = datetime.fromisoformat(value)
        except ValueError:
            pass  # the slow path below says what is wrong
        else:
            if naive.year in _YEARS:
                return _in(naive, zone, None)
    m = _LOCAL.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None or (day_end is None and m.group(4) is None):
        return f"expected {LOCAL_EXAMPLE}, got {value!r}"[:300]
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    if day_end and h is None:
        h, mi, s = "23", "59", "59"
    try:
        naive = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                         int((frac or "0")[:6].ljust(6, "0")))
    except ValueError as exc:
        return f"not a valid date or time in {value!r}: {exc}"
    if naive.year not in _YEARS:
        return f"the year of {value!r} is out of range"
    offset: int | None = None  # none given: the zone's
    if z:
        offset = 0
    elif sign:
        offset = (int(oh) * 60 + int(om)) * (1 if sign == "+" else -1)
        if abs(offset) >= 24 * 60:
            return f"offset out of range in {value!r}"
    return _in(naive, zone, offset)


def _plain(v: str) -> bool:
    """``yyyy-MM-dd HH:mm:ss`` (or with a ``T``), the shape nearly every carrier time has."""
    return len(v) == 19 and v[4] == v[7] == "-" and v[13] == v[16] == ":" and v[10] in " T"


def _in(naive: datetime, zone: tzinfo, offset: int | None) -> datetime:
    """``naive`` with ``offset`` minutes, or the offset ``zone`` has at that wall time."""
    if offset is None:
        off = zone.utcoffset(naive)
        offset = 0 if off is None else int(off.total_seconds() // 60)
    return datetime(naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second,
                    naive.microsecond, times.zone(offset))


def local_time(value: object, path: str, zone: tzinfo) -> datetime:
    """A carrier time: its own offset when it has one, else read as wall time in ``zone``."""
    out = _local(value, zone, None)
    if isinstance(out, str):
        raise InvalidInput(path, out)
    return out


def estimate(value: object, zone: tzinfo) -> datetime | None:
    """A carrier's estimated delivery, or None when absent or unreadable (it is only a forecast)."""
    out = _local(value, zone, True) if isinstance(value, str) and value.strip() else None
    return out if isinstance(out, datetime) else None

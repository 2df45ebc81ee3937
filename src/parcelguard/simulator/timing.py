"""Time in the simulator: whole seconds since the Unix epoch, local days and working hours.

Plain integers keep millions of scans cheap to compare and sort; they become RFC 3339 text
(with the place's own offset) only when a line is written. The rules of thumb here are what
sets the rhythm of a parcel's journey: couriers work 09:00-19:00, feeder vans leave stations
at fixed times, trunk lorries leave hubs on the hour and drive at ~65 km/h on roads ~25%
longer than the great circle, and delivery rounds start in the morning.
"""

from __future__ import annotations

from datetime import datetime

from parcelguard.domain import times

MINUTE, HOUR, DAY = 60, 3600, 86_400
ROAD_KMH, DETOUR, VAN_KMH, AIR_KMH = 65.0, 1.25, 40.0, 800.0
FEEDER_SLOTS = (12.0, 15.0, 18.0, 21.0, 23.0)  # local hours vans leave a station for the hub


def to_datetime(ts: int, offset_min: int) -> datetime:
    return datetime.fromtimestamp(ts, times.zone(offset_min))


_MINUTES: dict[int, tuple[str, str]] = {}  # minute and offset -> text around the seconds


def iso(ts: int, offset_min: int) -> str:
    """RFC 3339 text of ``ts`` in the given offset, as ``times.iso`` writes it.

    Formatting dominates the cost of a line, and scans cluster in time, so the text of
    each minute is made once by ``times.iso`` and only the seconds are filled in.
    """
    key = (ts // 60) * 4096 + offset_min + 2048
    parts = _MINUTES.get(key)
    if parts is None:
        if len(_MINUTES) > 100_000:
            _MINUTES.clear()
        text = times.iso(datetime.fromtimestamp(ts - ts % 60, times.zone(offset_min)))
        parts = _MINUTES[key] = (text[:17], text[19:])
    return f"{parts[0]}{ts % 60:02d}{parts[1]}"


def from_datetime(dt: datetime) -> int:
    return int(dt.timestamp())


def local_hour(ts: int, offset_min: int) -> float:
    return ((ts + offset_min * 60) % DAY) / HOUR


def day_start(ts: int, offset_min: int) -> int:
    """Local midnight (as epoch seconds) of the day ``ts`` falls in."""
    shift = offset_min * 60
    return (ts + shift) // DAY * DAY - shift


def at_hour(ts: int, offset_min: int, hour: float, days_later: int = 0) -> int:
    return day_start(ts, offset_min) + days_later * DAY + round(hour * HOUR)


def next_slot(ts: int, offset_min: int, hours: tuple[float, ...]) -> int:
    """The first of the daily local ``hours`` at or after ``ts``."""
    for days in (0, 1):
        for hour in hours:
            slot = at_hour(ts, offset_min, hour, days)
            if slot >= ts:
                return slot
    raise AssertionError("a daily slot always exists within two days")


def ceil_hour(ts: int) -> int:
    return ceil_to(ts, HOUR)


def ceil_to(ts: int, step: int) -> int:
    """The first multiple of ``step`` seconds at or after ``ts`` (departure grids)."""
    return -(-ts // step) * step


def end_of_day(ts: int, offset_min: int, days_later: int = 0) -> int:
    """23:59:59 local time, ``days_later`` days after the day of ``ts``."""
    return at_hour(ts, offset_min, 24.0, days_later) - 1


def drive(km: float) -> int:
    """Seconds a trunk lorry needs for a great-circle distance, with 15 min of manoeuvring."""
    return round(km * DETOUR / ROAD_KMH * HOUR) + 15 * MINUTE


def van(km: float) -> int:
    return round(km * 1.3 / VAN_KMH * HOUR) + 10 * MINUTE


def flight(km: float) -> int:
    """Block time of a cargo flight: cruise plus taxi, climb and descent."""
    return round(km / AIR_KMH * HOUR) + 50 * MINUTE


def standard_days(route_km: float) -> int:
    """The carriers' published time in days for a route of this length (hub to hub)."""
    for limit, days in ((80, 1), (600, 2), (1300, 3), (2000, 4), (2800, 5)):
        if route_km <= limit:
            return days
    return 6

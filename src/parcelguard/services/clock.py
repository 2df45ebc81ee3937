"""Clocks. Live servers read the wall clock (or a scaled one in the demo); replay and tests
move an event-time clock by hand, so timers fire at the same moments in both."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Moves only forward, only when told: the event-time clock of replay and tests."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, at: datetime) -> None:
        if at > self._now:
            self._now = at.astimezone(UTC)


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall clock from ``origin``."""

    def __init__(self, origin: datetime, speed: float) -> None:
        self.origin = origin.astimezone(UTC)
        self.speed = speed
        self._wall_origin = time.monotonic()

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._wall_origin
        return self.origin + timedelta(seconds=elapsed * self.speed)

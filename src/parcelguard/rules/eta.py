"""When will it arrive? Transit times learnt from delivered shipments, per lane.

A lane is origin city → destination city → carrier → category. Few lanes have enough history
of their own, so the model backs off to the distance band (and whether the parcel crosses a
border), and for a band it has never seen to a plain rule of thumb by distance. The estimate is
conditional on the time already spent: of the past parcels on the lane, only those that were
still on their way after as long as this one count. That is what makes a stuck parcel's
risk of being late rise while nothing is heard from it.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

MIN_SAMPLES = 20
KEEP = 500  # the most recent transit times kept per key
BANDS_KM = (300, 800, 1500, 2500, 5000)


@dataclass(frozen=True, slots=True)
class Estimate:
    median_h: float  # total transit hours from pickup
    low_h: float  # 10th percentile
    high_h: float  # 90th percentile
    p_late: float | None  # probability of arriving after the promise, if there is one
    basis: str  # lane | band | distance
    samples: int


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(a)))


def band_of(km: float | None, cross_border: bool) -> str:
    if km is None:
        return f"unknown|{cross_border}"
    band = next((b for b in BANDS_KM if km <= b), "far")
    return f"{band}|{cross_border}"


@dataclass
class Samples:
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))
    ordered: list[float] = field(default_factory=list)

    def add(self, hours: float) -> None:
        if len(self.recent) == KEEP:
            old = self.recent[0]
            del self.ordered[bisect.bisect_left(self.ordered, old)]
        self.recent.append(hours)
        bisect.insort(self.ordered, hours)


@dataclass
class LaneModel:
    by_key: dict[str, Samples] = field(default_factory=dict)

    def learn(self, lane: str, band: str, hours: float) -> None:
        if hours <= 0:
            return
        for key in (lane, band):
            self.by_key.setdefault(key, Samples()).add(hours)

    def estimate(self, lane: str, band: str, km: float | None, elapsed_h: float,
                 promise_h: float | None, floor_h: float = 0.0) -> Estimate:
        """Total transit hours, given that ``elapsed_h`` have passed and at least ``floor_h``
        remain (a parcel still at the origin hub needs its trunk leg)."""
        for basis, key in (("lane", lane), ("band", band)):
            s = self.by_key.get(key)
            if s is not None and len(s.ordered) >= MIN_SAMPLES:
                return _conditional(s.ordered, basis, elapsed_h, promise_h, floor_h)
        return _rule_of_thumb(km, elapsed_h, promise_h, floor_h, band.endswith("|True"))


    def crossing(self, lane: str, band: str, km: float | None, promise_h: float,
                 threshold: float) -> float:
        """The elapsed hours at which, with nothing heard, :meth:`estimate`'s lateness first
        reaches ``threshold`` (or a lane's tail gets too thin to follow and the estimate
        changes its method): when to look again."""
        for key in (lane, band):
            s = self.by_key.get(key)
            if s is not None and len(s.ordered) >= MIN_SAMPLES:
                return _crossing(s.ordered, promise_h, threshold)
        return _rule_of_thumb_crossing(km, promise_h, threshold, band.endswith("|True"))


def _late_share(still_going: int, late: int) -> float:
    """p_late as :func:`_conditional` computes it, for a tail of ``still_going`` parcels of
    which ``late`` end after the promise (the same float arithmetic, so the two agree)."""
    return 1 - (still_going - late) / still_going


def _crossing(ordered: list[float], promise_h: float, threshold: float) -> float:
    n = len(ordered)
    late = n - bisect.bisect_right(ordered, promise_h)
    # the most parcels still on their way at which the late share reaches the threshold
    most = min(n, math.floor(late / threshold)) if threshold > 0 else n
    while most > 0 and _late_share(most, late) < threshold:
        most -= 1
    most = max(most, 4)  # below 5 the estimate switches to its "slower than all" fallback
    if most >= n:
        return 0.0  # reached already
    return min(ordered[n - most - 1], promise_h)


def _rule_of_thumb_median(km: float | None, cross_border: bool) -> float:
    km = km or 1000.0
    return 120.0 + km / 5000.0 * 24.0 if cross_border else 24.0 + km / 900.0 * 24.0


def _rule_of_thumb_crossing(km: float | None, promise_h: float, threshold: float,
                            cross_border: bool) -> float:
    """Once slower than its median (before that it says nothing), the rule's lateness grows
    with the median it is pushed to, ``elapsed + 4``: it reaches the threshold when that median
    is ``promise / (1.35 - 0.7 * threshold)``."""
    median = _rule_of_thumb_median(km, cross_border)
    needed = promise_h / (1.35 - 0.7 * threshold) - 4.0
    past_median = median + 1 / 3.6e9  # a microsecond past it: "slower" is strict
    return min(max(past_median, needed), promise_h)


def _quantile(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def _conditional(ordered: list[float], basis: str, elapsed_h: float, promise_h: float | None,
                 floor_h: float) -> Estimate:
    at_least = elapsed_h + floor_h
    tail = ordered[bisect.bisect_right(ordered, at_least):]
    if len(tail) < 5:
        # slower than almost every parcel before it: expect it late by the lane's own spread
        spread = _quantile(ordered, 0.9) - _quantile(ordered, 0.5)
        tail = [at_least + spread * f for f in (0.25, 0.5, 1.0, 1.5, 2.0)]
    p_late = None
    if promise_h is not None:
        p_late = 1 - bisect.bisect_right(tail, promise_h) / len(tail)
    return Estimate(_quantile(tail, 0.5), _quantile(tail, 0.1), _quantile(tail, 0.9), p_late,
                    basis, len(ordered))


def _rule_of_thumb(km: float | None, elapsed_h: float, promise_h: float | None,
                   floor_h: float, cross_border: bool) -> Estimate:
    """Domestic: a day of handling plus ~900 km a day on the road. Across a border: five days
    (two customs clearances and a flight) plus a day per 5,000 km. Either ±35%.

    Too rough to warn on by itself: it gives a probability of lateness only once the parcel is
    already slower than the rule's own median.
    """
    median = _rule_of_thumb_median(km, cross_border)
    slow = elapsed_h + floor_h > median
    median = max(median, elapsed_h + floor_h + 4.0)
    low, high = median * 0.65, median * 1.35
    p_late = None
    if promise_h is not None and slow:
        p_late = min(1.0, max(0.0, (high - promise_h) / (high - low)))
    return Estimate(median, low, high, p_late, "distance", 0)

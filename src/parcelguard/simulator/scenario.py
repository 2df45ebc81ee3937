"""A seeded, deterministic simulation of parcels on the network, as replay lines.

    sim = Simulation(SimConfig(seed=7, shipments=10_000))
    for arrival, line in sim.stream(): ...      # in arrival order
    sim.labels                                  # complete once the stream is exhausted

Shipments are created lazily in order of their creation time and merged in arrival order
(:mod:`merge`), so memory grows with the parcels in flight, not with the length of the run.
All randomness for the parcels comes from one seeded ``random.Random`` (a ``Dice``); each
sensor has its own, seeded from the seed and its id, so turning telemetry off leaves every
scan unchanged. Nothing reads the wall clock or the global ``random``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from parcelguard.domain import times
from parcelguard.domain.shipment import CODE, Category
from parcelguard.simulator import anomalies, lines, network, telemetry, timing
from parcelguard.simulator.dice import Dice
from parcelguard.simulator.fleet import Fleet, Trip
from parcelguard.simulator.journey import Journey, Scan
from parcelguard.simulator.labels import Label
from parcelguard.simulator.merge import BUCKET, Merge, Parcel
from parcelguard.simulator.network import CHINA, Facility, Network
from parcelguard.simulator.orders import Draft, OrderMaker
from parcelguard.simulator.people import Staff

Line = dict[str, Any]
Source = Iterator[tuple[int, Line]]
NEVER = 2**62  # a clock that never ticks
DELAYING = frozenset({"stuck_at_hub", "misroute", "customs_hold", "late_delivery"})
MIX = (("general", 0.55), ("fragile", 0.15), ("cold_chain", 0.10), ("cross_border", 0.10),
       ("high_value", 0.10))


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. The same config always gives the same lines and labels."""

    seed: int = 1
    shipments: int = 1000
    start: datetime = datetime(2026, 11, 20, tzinfo=times.zone(CHINA))
    span: timedelta = timedelta(days=1)  # orders are placed evenly over this span
    anomaly_rate: float = 0.05  # share of shipments with an injected anomaly
    telemetry: bool = True
    clock_every: timedelta | None = None  # emit clock lines at this cadence
    clock_tail: timedelta = timedelta(days=3)  # keep the clock going after the last line
    carriers: tuple[str, ...] = ("sf", "zto", "yto", "jd", "ems")
    mix: tuple[tuple[str, float], ...] = MIX  # category weights
    # a hub that slows down: from ``congestion_at`` after the start, parcels arriving there
    # wait longer, up to ``congestion_extra`` more after ``congestion_ramp`` (nobody declares
    # it: the bottleneck detection has to find it)
    congested_hub: str | None = None
    congestion_at: timedelta = timedelta(hours=12)
    congestion_ramp: timedelta = timedelta(hours=4)
    congestion_extra: timedelta = timedelta(hours=8)
    # a storm over a city: its hubs hold parcels ``weather_extra`` longer during the window,
    # and a ``disruption`` line declares it when it starts (as an operator would)
    weather_city: str | None = None
    weather_at: timedelta = timedelta(hours=12)
    weather_for: timedelta = timedelta(hours=36)
    weather_extra: timedelta = timedelta(hours=12)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be an aware datetime, e.g. with tzinfo=+08:00")
        if self.shipments < 0 or self.span <= timedelta(0):
            raise ValueError("shipments must be >= 0 and span positive")
        if not 0.0 <= self.anomaly_rate <= 1.0:
            raise ValueError(f"anomaly_rate is a share between 0 and 1, got {self.anomaly_rate}")
        if not self.carriers or not all(CODE.fullmatch(c) for c in self.carriers):
            raise ValueError(f"carriers are lowercase codes like 'sf', got {self.carriers!r}")
        for name in ("congestion_ramp", "congestion_extra", "weather_for", "weather_extra"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.clock_every is not None and self.clock_every <= timedelta(0):
            raise ValueError("clock_every must be positive (or None for no clock lines)")
        known = {c.value for c in Category}
        weights = [w for _, w in self.mix]
        bad_weights = min(weights, default=-1) < 0 or not sum(weights)
        if bad_weights or any(c not in known for c, _ in self.mix):
            raise ValueError(f"mix takes (category, weight) pairs; categories: {sorted(known)}")


@dataclass(slots=True)
class Progress:
    """How far the current stream has got: for progress bars, and to see that it is lazy."""

    shipments: int = 0  # shipments generated so far
    most_pending: int = 0  # the most scan lines generated and not yet emitted
    labels: list[Label] = field(default_factory=list)


class Simulation:
    """Replay lines for a config, streamed lazily; see the module docstring."""

    def __init__(self, config: SimConfig, net: Network | None = None) -> None:
        self.config = config
        self.network = net or network.china()
        self.progress = Progress()

    @property
    def labels(self) -> list[Label]:
        """Labels of the shipments generated so far by the last stream: all of them once
        that stream is exhausted. Each new ``stream()`` or ``lines()`` starts afresh."""
        return list(self.progress.labels)

    def stream(self) -> Iterator[tuple[datetime, Line]]:
        """(arrival time, replay line), in non-decreasing arrival order."""
        for ts, line in self._merged():
            yield timing.to_datetime(ts, CHINA), line

    def lines(self) -> Iterator[Line]:
        for _, line in self._merged():
            yield line

    def label_dicts(self) -> list[dict[str, Any]]:
        return [label.to_dict() for label in self.progress.labels]

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``events.ndjson`` and (after it) ``labels.ndjson``; returns both paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        events, labels = folder / "events.ndjson", folder / "labels.ndjson"
        with events.open("w", encoding="utf-8") as out:
            for line in self.lines():
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        with labels.open("w", encoding="utf-8") as out:
            for label in self.progress.labels:
                out.write(label.to_json() + "\n")
        return events, labels

    def _merged(self) -> Source:
        self.progress = Progress()
        return _Run(self.config, self.network, self.progress).merged()


class _Run:
    """One pass of the simulation: the random state, the fleet and the merge."""

    def __init__(self, config: SimConfig, net: Network, progress: Progress) -> None:
        self.config, self.progress = config, progress
        self.rng = Dice(config.seed)
        self.merge = Merge()
        plates = {c.code: c.plate for c in net.cities.values()}
        self.fleet = Fleet(self.rng, plates, self._on_trip)
        self.staff = Staff(self.rng)
        self.maker = OrderMaker(self.rng, net, config.carriers, config.mix)
        self.start = timing.from_datetime(config.start)
        self.span = int(config.span.total_seconds())

    def slowdown(self, node: Facility, arrived: int) -> int:
        """Extra seconds a parcel arriving at ``node`` at ``arrived`` waits there."""
        c, extra = self.config, 0
        if node.id == c.congested_hub:
            into = arrived - (self.start + int(c.congestion_at.total_seconds()))
            if into > 0:
                share = min(1.0, into / c.congestion_ramp.total_seconds())
                extra += int(share * c.congestion_extra.total_seconds())
        if node.city == c.weather_city:
            begins = self.start + int(c.weather_at.total_seconds())
            if begins <= arrived < begins + int(c.weather_for.total_seconds()):
                extra += int(c.weather_extra.total_seconds())
        return extra

    def disruption(self) -> tuple[int, Line] | None:
        """The storm as an operator declares it, when it begins."""
        c = self.config
        if c.weather_city is None:
            return None
        begins = self.start + int(c.weather_at.total_seconds())
        return begins, {
            "type": "disruption", "kind": "weather", "title": f"暴雨：{c.weather_city}",
            "cities": [c.weather_city], "starts_at": timing.iso(begins, CHINA),
            "ends_at": timing.iso(begins + int(c.weather_for.total_seconds()), CHINA),
            "extra_delay_hours": c.weather_extra.total_seconds() / 3600}

    def merged(self) -> Source:
        total, made, merge = self.config.shipments, 0, self.merge
        declared = self.disruption()
        next_at = self._placed(0) if total else None
        clock = _Clock(self.config, self.start)
        bucket, last = self.start // BUCKET, self.start
        while next_at is not None or not merge.empty():
            end = (bucket + 1) * BUCKET
            with _collector_paused():
                while next_at is not None and next_at < end:
                    self._ship(next_at)
                    made += 1
                    next_at = self._placed(made) if made < total else None
                    if made % 1000 == 0 and next_at is not None:
                        self.fleet.prune(next_at)
                self.progress.shipments = made
                self.progress.most_pending = max(self.progress.most_pending, merge.pending)
                due = [(arrival, maker.line(item, arrival))
                       for arrival, maker, item in merge.take(bucket)]
            for arrival, line in due:
                if declared is not None and arrival >= declared[0]:
                    if declared[0] >= clock.next:
                        yield from clock.until(declared[0])
                    yield declared  # in arrival order with the rest
                    declared = None
                if arrival >= clock.next:
                    yield from clock.until(arrival)
                last = arrival
                yield arrival, line
            bucket += 1
        if declared is not None:
            yield declared
        yield from clock.tail(last)

    def _placed(self, i: int) -> int:
        """Creation times rise with ``i``, spread evenly over the span with some jitter."""
        return self.start + int((i + self.rng.random()) * self.span / self.config.shipments)

    def _on_trip(self, trip: Trip) -> None:
        if self.config.telemetry and trip.device_id is not None:
            self.merge.add_source(telemetry.vehicle_stream(trip, self.config.seed))

    def _ship(self, placed_at: int) -> None:
        kind = anomalies.pick(self.rng, self.config.anomaly_rate)
        draft = self.maker.make(placed_at, kind)
        slow = self.config.congested_hub or self.config.weather_city
        journey = Journey(self.rng, self.fleet, self.staff, draft.order, draft.twist,
                          self.slowdown if slow else None)
        scans = journey.build()
        if kind == "lost":
            anomalies.cut(self.rng, journey)
        promised = _promise(draft, scans, kind, bool(journey.facts.get("slowed")))
        if kind is not None:
            self.progress.labels.append(
                anomalies.label(journey, promised, self.config.telemetry, draft.devices))
        parcel = Parcel(draft.order, scans, lines.shipment_line(draft, promised))
        self.merge.add(placed_at, parcel, -1)
        for arrival, i in lines.schedule(self.rng, scans):
            self.merge.add(arrival, parcel, i)
        if self.config.telemetry:
            for device_id in draft.devices:
                plan = telemetry.plan_for(device_id, journey)
                self.merge.add_source(telemetry.box_stream(plan, self.config.seed))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bucket is built, never while the caller runs.

    Building allocates hundreds of thousands of small objects and no reference cycles; the
    collector would otherwise walk every parcel in flight again and again (a third of the run
    time). Refcounting still frees everything as usual.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _promise(draft: Draft, scans: list[Scan], kind: str | None, slowed: bool = False) -> int:
    """The published promise; stretched to the delivery day when nothing went wrong, so a
    parcel is late only when a labelled anomaly, a congested hub or a storm made it so."""
    promised = draft.order.promised_by
    if kind in DELAYING or slowed:
        return promised
    delivered = next((s.at for s in scans if s.status == "delivered"), None)
    if delivered is not None and delivered > promised:
        return timing.end_of_day(delivered, CHINA)
    return promised


class _Clock:
    """``clock`` lines every ``clock_every``, interleaved in arrival order."""

    def __init__(self, config: SimConfig, start: int) -> None:
        every = config.clock_every
        self.every = int(every.total_seconds()) if every else 0
        self.tail_s = int(config.clock_tail.total_seconds())
        self.next = start + self.every if every else NEVER

    def until(self, ts: int) -> Source:
        while self.next <= ts:
            yield self.next, lines.clock_line(self.next)
            self.next += self.every

    def tail(self, last: int) -> Source:
        """Keep time moving after the last line, so that silence timers still fire."""
        yield from self.until(last + self.tail_s)

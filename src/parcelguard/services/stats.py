"""Counters of the ingest pipeline, read by ``/metrics``. Only the writer thread writes them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = BATCH_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        i = 0
        while i < len(self.buckets) and value > self.buckets[i]:
            i += 1
        self.counts[i] += 1
        self.total += value
        self.n += 1


@dataclass
class Stats:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, result)
    unknown_status: Counter[str] = field(default_factory=Counter)  # by source
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, change)
    regressions: int = 0
    batch_seconds: Histogram = field(default_factory=Histogram)
    batch_items: int = 0
    failed_batches: int = 0
    queue_depth: int = 0
    ledger_size: int = 0
    tracked_shipments: int = 0

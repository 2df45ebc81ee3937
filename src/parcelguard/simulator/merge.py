"""Putting lines in arrival order without holding the whole run in memory.

Scans are known when their parcel is created, so they go straight into ten-minute buckets
by arrival time and are turned into wire dicts only when their bucket is emitted. Sensor
readings come from generators, one per device, merged with a heap and poured into the
bucket being emitted. A bucket can be emitted once every parcel created before its end
exists: nothing created later arrives earlier, because a parcel's first line is its own
creation and its sensors start at pickup, well after that.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from operator import itemgetter
from typing import Any, Protocol

from parcelguard.simulator import lines
from parcelguard.simulator.journey import Order, Scan

BUCKET = 600  # seconds; must stay below the time from an order to its first lorry (>= 70 min)
Line = dict[str, Any]
Source = Iterator[tuple[int, Line]]


class Maker(Protocol):
    def line(self, item: Any, arrival: int) -> Line: ...


class Parcel:
    """A parcel's shipment line and scans; ``line(i)`` builds the i-th scan's event line."""

    __slots__ = ("head", "order", "scans")

    def __init__(self, order: Order, scans: list[Scan], head: Line) -> None:
        self.order, self.scans, self.head = order, scans, head

    def line(self, item: Any, arrival: int) -> Line:
        if item < 0:
            return self.head
        return lines.event_line(self.order, self.scans[item], item, arrival)


class _Ready:
    """Lines built already (sensor readings) pass through as they are."""

    def line(self, item: Any, arrival: int) -> Line:
        line: Line = item
        return line


READY = _Ready()
Entry = tuple[int, Maker, Any]  # (arrival, maker, item)


class Merge:
    def __init__(self) -> None:
        self.buckets: dict[int, list[Entry]] = {}
        self.heap: list[tuple[int, int, Line, Source]] = []
        self.tie = 0  # orders sensors with equal arrival times in the heap
        self.pending = 0  # lines waiting in buckets

    def add(self, arrival: int, maker: Maker, item: Any) -> None:
        """A line due at ``arrival``, built by ``maker`` when its bucket is emitted."""
        bucket = self.buckets.get(arrival // BUCKET)
        if bucket is None:
            bucket = self.buckets[arrival // BUCKET] = []
        bucket.append((arrival, maker, item))
        self.pending += 1

    def add_source(self, source: Source) -> None:
        """A stream of ready lines in arrival order (a sensor)."""
        first = next(source, None)
        if first is not None:
            self.tie += 1
            heapq.heappush(self.heap, (first[0], self.tie, first[1], source))

    def empty(self) -> bool:
        return not self.buckets and not self.heap

    def take(self, bucket: int) -> list[Entry]:
        """Everything due in ``bucket``, sorted by arrival; ties keep the order they were
        added in (a stable sort), scans before readings."""
        entries = self.buckets.pop(bucket, [])
        self.pending -= len(entries)
        end, heap = (bucket + 1) * BUCKET, self.heap
        while heap and heap[0][0] < end:
            arrival, _, line, source = heap[0]
            entries.append((arrival, READY, line))
            following = next(source, None)
            if following is None:
                heapq.heappop(heap)
            else:
                self.tie += 1
                heapq.heapreplace(heap, (following[0], self.tie, following[1], source))
        entries.sort(key=itemgetter(0))
        return entries

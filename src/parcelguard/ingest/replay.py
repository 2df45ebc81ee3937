"""``parcelguard replay``: the whole pipeline, offline, on an event-time clock.

Lines are read in arrival order and go through the same decoders and the same ingestor as
live traffic. The clock is event time: each line moves it to the largest time seen so far
(its occurred_at, ts or ``clock.at``). An event's arrival time is its ``received_at`` when the
line carries one; without it, arrival is taken to be the moment the event happened, so
nothing is quarantined that a live server would have accepted on time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from parcelguard.domain.errors import InvalidInput
from parcelguard.ingest import wire
from parcelguard.services.clock import ManualClock
from parcelguard.services.ingest import Ingestor
from parcelguard.services.messages import Command, Outcome, RecordReading, RecordScan, Result

BATCH = 1000


@dataclass
class Summary:
    lines: int = 0
    results: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # the first few, "line N: reason"

    def count(self, kind: str, result: str) -> None:
        per = self.results.setdefault(kind, {})
        per[result] = per.get(result, 0) + 1


def _kind(cmd: Command) -> str:
    return type(cmd).__name__


def _later(a: datetime, b: datetime) -> datetime:
    return a if a >= b else b


class Replay:
    def __init__(self, ingestor: Ingestor, clock: ManualClock, tenant_id: str, encode: object):
        self.ingestor, self.clock, self.tenant_id, self.encode = ingestor, clock, tenant_id, encode
        self.summary = Summary()
        self._pending: list[tuple[int, Command]] = []

    def feed(self, lines: Iterable[bytes]) -> Summary:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            self.summary.lines += 1
            try:
                self._line(number, line)
            except InvalidInput as exc:
                self.summary.count("invalid", "rejected")
                if len(self.summary.errors) < 20:
                    self.summary.errors.append(f"line {number}: {exc.message}")
        self._flush()
        return self.summary

    def _line(self, number: int, line: bytes) -> None:
        item: wire.ReplayLine = wire.decode(line, wire.ReplayLine)  # type: ignore[arg-type]
        if isinstance(item, wire.WireClock):
            self._flush()
            self.clock.advance_to(item.at)
            return
        cmd: Command
        if isinstance(item, wire.WireShipment):
            cmd = wire.to_register(item, self.tenant_id, self.encode)
        elif isinstance(item, wire.WireDevice):
            cmd = wire.to_device(item, self.tenant_id)
        elif isinstance(item, wire.WireEvent):
            event = wire.to_event(item)
            arrival = self._arrival(item.received_at, event.occurred_at)
            cmd = RecordScan(self.tenant_id, event, arrival)
        else:
            reading = wire.to_reading(item)
            cmd = RecordReading(self.tenant_id, reading, self._arrival(item.received_at, reading.ts))
        self._pending.append((number, cmd))
        if len(self._pending) >= BATCH:
            self._flush()

    def _arrival(self, received_at: datetime | None, happened: datetime) -> datetime:
        if received_at is not None:
            return received_at
        return _later(happened, self.clock.now())

    def _flush(self) -> None:
        if not self._pending:
            return
        commands = [cmd for _, cmd in self._pending]
        (outcomes,) = self.ingestor.process([commands])
        for (number, cmd), out in zip(self._pending, outcomes, strict=True):
            self._account(number, cmd, out)
        self._pending.clear()

    def _account(self, number: int, cmd: Command, out: Outcome) -> None:
        self.summary.count(_kind(cmd), out.result.value)
        if out.result is Result.REJECTED and len(self.summary.errors) < 20:
            self.summary.errors.append(f"line {number}: {out.reason}")
        if out.result is Result.ACCEPTED:
            if isinstance(cmd, RecordScan):
                self.clock.advance_to(cmd.event.occurred_at)
            elif isinstance(cmd, RecordReading):
                self.clock.advance_to(cmd.reading.ts)


def read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    yield from stream


def write_alerts(out: IO[str], alerts: Iterable[dict[str, object]]) -> int:
    """One JSON object per line, keys sorted, so equal runs give byte-identical files."""
    n = 0
    for alert in alerts:
        out.write(json.dumps(alert, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
        out.write("\n")
        n += 1
    return n

"""``parcelguard replay``: the whole pipeline, offline, on an event-time clock.

Lines are read in arrival order and go through the same decoders and the same ingestor as
live traffic. The clock is event time: each line moves it to the largest time seen so far (its
``received_at`` when it has one, else its occurred_at or ts, or a ``clock`` line's ``at``), and
every rule deadline fires when the clock passes it, before the line that follows. An event
without ``received_at`` is taken to arrive when it happened (or at the clock, if that is later),
so nothing is quarantined that a live server would have accepted on time.

The output is one JSON line per alert state change, keys sorted, in the order the changes
happened (then by tracking number; one parcel's changes keep the order they were made in), so
the same input always gives byte-identical output, and a bus-mode run of it (``--bus``: the
lines go to the stream, the workers apply them, and the changes are read back from the custody
ledger they appended to) gives the same file as an embedded one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.ledger.entry import Kind as EntryKind
from parcelguard.ingest import wire
from parcelguard.services import disruptions
from parcelguard.services.alerting import Change, replay_line
from parcelguard.services.clock import ManualClock
from parcelguard.services.ingest import Ingestor
from parcelguard.services.messages import (
    AdvanceClock,
    Command,
    DisruptionsChanged,
    Outcome,
    RecordReading,
    RecordScan,
    Result,
)
from parcelguard.services.ports import Store, UnitOfWork

BATCH = 1000


@dataclass
class Summary:
    lines: int = 0
    results: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # the first few, "line N: reason"

    def count(self, kind: str, result: str) -> None:
        per = self.results.setdefault(kind, {})
        per[result] = per.get(result, 0) + 1


class Replay:
    def __init__(self, ingestor: Ingestor | None, clock: ManualClock, tenant_id: str,
                 encode: object, send: Callable[[list[Command]], list[Outcome]] | None = None,
                 store: Store | None = None):
        """``send`` takes each batch of commands instead of a local ingestor (bus mode: the
        commands go to the stream, workers apply them, and no alert lines come back here;
        disruptions are stored in ``store``)."""
        self.clock, self.tenant_id, self.encode = clock, tenant_id, encode
        self.store = store if ingestor is None else ingestor.store
        self.summary = Summary()
        self.changes: list[Change] = []
        self._pending: list[tuple[int, Command]] = []
        if send is not None:
            self.send = send
        elif ingestor is not None:
            self.send = lambda commands: ingestor.process([commands])[0]
            ingestor.listeners.append(self.changes.extend)
        else:
            raise TypeError("give the ingestor to replay into, or where to send the commands")

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
        cmd: Command
        if isinstance(item, wire.WireClock):
            self.clock.advance_to(item.at)
            cmd = AdvanceClock(item.at)
        elif isinstance(item, wire.WireShipment):
            at = self._arrive(item.received_at, self.clock.now())
            cmd = wire.to_register(item, self.tenant_id, self.encode, at)
        elif isinstance(item, wire.WireDevice):
            cmd = wire.to_device(item, self.tenant_id)
        elif isinstance(item, wire.WireDisruption):
            cmd = self._declare(item)
        elif isinstance(item, wire.WireEvent):
            event = wire.to_event(item)
            cmd = RecordScan(self.tenant_id, event, self._arrive(item.received_at, event.occurred_at))
        else:
            reading = wire.to_reading(item)
            cmd = RecordReading(self.tenant_id, reading, self._arrive(item.received_at, reading.ts))
        self._pending.append((number, cmd))
        if len(self._pending) >= BATCH:
            self._flush()

    def _declare(self, item: wire.WireDisruption) -> Command:
        """Store the disruption (as the API does), then tell the writer in stream order."""
        if self.store is None:
            raise InvalidInput("type", "disruptions replay into a local store only")
        self._flush()  # the commands before it are judged without it
        at = self.clock.now()
        disruptions.declare(self.store, self.tenant_id, disruptions.Declared(
            item.kind, item.title, times.to_us(item.starts_at), times.to_us(item.ends_at),
            item.extra_delay_hours, item.cities or (), item.facility_id, item.polygon),
            "replay", times.to_us(at))
        return DisruptionsChanged(self.tenant_id, at)

    def _arrive(self, received_at: datetime | None, happened: datetime) -> datetime:
        """The line's arrival, which is also where the clock now stands."""
        arrival = received_at if received_at is not None else max(happened, self.clock.now())
        self.clock.advance_to(arrival)
        return arrival

    def _flush(self) -> None:
        if not self._pending:
            return
        outcomes = self.send([cmd for _, cmd in self._pending])
        for (number, cmd), out in zip(self._pending, outcomes, strict=True):
            self._account(number, cmd, out)
        self._pending.clear()

    def _account(self, number: int, cmd: Command, out: Outcome) -> None:
        self.summary.count(type(cmd).__name__, out.result.value)
        if out.result is Result.REJECTED and len(self.summary.errors) < 20:
            self.summary.errors.append(f"line {number}: {out.reason}")

    def alert_lines(self) -> list[dict[str, object]]:
        return [replay_line(c) for c in self.changes if c.is_transition]


TRANSITIONS = ("opened", "acknowledged", "resolved", "cleared")


def ledger_lines(uow: UnitOfWork, tenant_id: str, start: int) -> list[dict[str, object]]:
    """The alert lines of a tenant's changes the ledger recorded from entry ``start`` on: what
    a bus-mode replay reads back once the workers have applied it."""
    out = []
    for _, body, _ in uow.ledger.scan(start):
        entry = json.loads(body)
        data = entry["data"]
        if (entry["kind"] == EntryKind.ALERT_CHANGED.value and entry["tenant"] == tenant_id
                and data["change"] in TRANSITIONS):
            out.append({"alert_id": data["alert_id"], "tracking_no": entry["tracking_no"],
                        "kind": data["kind"], "severity": data["severity"],
                        "state": data["state"], "at": data["at"], "evidence": data["evidence"]})
    return out


def write_alerts(out: IO[str], alerts: Iterable[dict[str, object]]) -> int:
    """One JSON object per line, keys sorted, in the order the changes happened (a stable
    sort: one parcel's changes at one moment keep theirs), so equal runs give byte-identical
    files whichever mode made them. Whole numbers are written as integers, as the ledger's
    canonical JSON holds them."""
    n = 0
    for alert in sorted(alerts, key=lambda a: (datetime.fromisoformat(str(a["at"])),
                                               str(a["tracking_no"]))):
        out.write(json.dumps(_plain(alert), ensure_ascii=False, sort_keys=True,
                             separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


def _plain(value: object) -> object:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

"""``parcelguard import FILE``: shipments, events or readings from NDJSON or CSV, in bulk.

The file is streamed (constant memory whatever its size) to a running server's API in batches
of 1000, so the server stays the only writer and every row gets the same validation as live
traffic. After each acknowledged batch the position in the file is saved next to it
(``FILE.import-state``), so an interrupted import resumes where it stopped; a batch sent again
after a crash is harmless (shipments and scans are idempotent, readings keyed by device and
time). Rows the server refuses go to ``FILE.rejected.ndjson`` with their line and the reason.

NDJSON lines are objects as the API takes them; a ``type`` field (``shipment``, ``event``,
``telemetry``, as in replay files) lets one file mix kinds, else ``--kind`` says what every line
is. CSV has a header row naming the API's fields, nested ones with dots (``origin.city``,
``location.facility_id``) and lists separated by ``|`` (``route_plan``, ``devices``); an empty
cell is an absent field.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from parcelguard.domain.errors import InvalidInput

BATCH = 1000
ROUTES = {"shipment": "/v1/shipments", "event": "/v1/events", "telemetry": "/v1/telemetry"}
NUMBERS = {"lat", "lon", "declared_value_cny", "seq", "speed_kmh", "temperature_c",
           "humidity_pct", "shock_g", "light_lux", "battery_pct"}
LISTS = {"route_plan", "devices"}
RETRIES = 8


@dataclass
class Row:
    line: int
    kind: str
    item: dict[str, Any]
    end: int  # byte offset just after the row


@dataclass
class State:
    offset: int = 0
    line: int = 0
    results: Counter[str] = field(default_factory=Counter)
    done: bool = False
    kept: int | None = None  # bytes of the rejected-rows file that belong to the saved position

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(data["offset"], data["line"], Counter(data["results"]), data["done"],
                   data.get("kept"))

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"offset": self.offset, "line": self.line,
                                   "results": dict(self.results), "done": self.done,
                                   "kept": self.kept}))
        os.replace(tmp, path)  # atomic: a crash leaves the old state or the new one


def _lines(f: IO[bytes], start: int, first_line: int) -> Iterator[tuple[int, bytes, int]]:
    """(line number, raw line, offset after it) from ``start``."""
    f.seek(start)
    offset, number = start, first_line
    for raw in f:
        offset += len(raw)
        number += 1
        yield number, raw, offset


def _ndjson(f: IO[bytes], state: State, kind: str | None) -> Iterator[Row | tuple[int, str]]:
    for number, raw, end in _lines(f, state.offset, state.line):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
            if not isinstance(item, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            yield number, f"not a JSON object: {exc}"
            continue
        line_kind = item.pop("type", None) or kind
        if line_kind not in ROUTES:
            yield number, (f"unknown type {line_kind!r}" if line_kind else
                           "no type: give the line a type or the import a --kind")
            continue
        item.pop("received_at", None)  # the server stamps arrivals
        yield Row(number, line_kind, item, end)


def _cell(name: str, value: str) -> Any:
    if name in LISTS:
        return [v.strip() for v in value.split("|") if v.strip()]
    if name in NUMBERS:
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value  # the server names the field and what it expects
    return value


def _nest(header: list[str], cells: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, value in zip(header, cells, strict=False):
        if value == "":
            continue
        *parents, leaf = name.strip().split(".")
        target = item
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = _cell(leaf, value)
    return item


def _csv(f: IO[bytes], state: State, kind: str) -> Iterator[Row | tuple[int, str]]:
    f.seek(0)
    header_raw = f.readline()
    header = next(csv.reader([header_raw.decode("utf-8-sig")]))
    start = max(state.offset, len(header_raw))
    tracked = {"end": start, "number": max(state.line, 1)}

    def physical() -> Iterator[str]:
        for number, raw, end in _lines(f, start, max(state.line, 1)):
            tracked["end"], tracked["number"] = end, number
            yield raw.decode("utf-8")

    for cells in csv.reader(physical()):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            yield tracked["number"], f"{len(cells)} cells for {len(header)} columns"
            continue
        yield Row(tracked["number"], kind, _nest(header, cells), tracked["end"])


@dataclass
class Importer:
    base_url: str
    key: str
    path: Path
    kind: str | None = None
    on_progress: Callable[[int], None] = lambda offset: None
    pause: Callable[[float], None] = time.sleep
    max_batches: int | None = None  # stop early (tests of resuming)

    @property
    def state_path(self) -> Path:
        return self.path.with_name(self.path.name + ".import-state")

    @property
    def rejected_path(self) -> Path:
        return self.path.with_name(self.path.name + ".rejected.ndjson")

    def run(self, restart: bool = False) -> State:
        if restart:
            self.state_path.unlink(missing_ok=True)
            self.rejected_path.unlink(missing_ok=True)
        state = State.load(self.state_path)
        if state.done:
            return state
        is_csv = self.path.suffix.lower() == ".csv"
        if is_csv and self.kind not in ROUTES:
            raise InvalidInput("kind", f"a CSV file needs --kind, one of {', '.join(ROUTES)}")
        headers = {"Authorization": f"Bearer {self.key}", "content-type": "application/json"}
        with (self.path.open("rb") as f, self.rejected_path.open("a", encoding="utf-8") as bad,
              httpx.Client(base_url=self.base_url, headers=headers, timeout=120) as client):
            if state.kept is not None and os.fstat(bad.fileno()).st_size > state.kept:
                bad.truncate(state.kept)  # set aside after the last save: read again now
            rows = _csv(f, state, self.kind or "") if is_csv else _ndjson(f, state, self.kind)
            batch: list[Row] = []
            unreadable: list[tuple[int, str]] = []  # set aside with the batch they precede
            sent = 0
            for row in rows:
                if isinstance(row, tuple):
                    unreadable.append(row)
                    continue
                if batch and (row.kind != batch[0].kind or len(batch) == BATCH):
                    self._send(client, batch, unreadable, state, bad)
                    sent += 1
                    if self.max_batches is not None and sent >= self.max_batches:
                        return state
                    batch = []
                batch.append(row)
            if batch:
                self._send(client, batch, unreadable, state, bad)
            if unreadable:  # after the last row
                self._send(client, [], unreadable, state, bad)
            state.done = True
            state.save(self.state_path)
        return state

    def _send(self, client: httpx.Client, batch: list[Row], unreadable: list[tuple[int, str]],
              state: State, bad: IO[str]) -> None:
        """Send a batch; then set aside, in line order, its refused rows and the unreadable
        lines before its end, and save the position: a resumed run starts just after it."""
        aside: list[tuple[int, str, str | None, dict[str, Any] | None]] = []
        if batch:
            answer = self._post(client, ROUTES[batch[0].kind],
                                json.dumps([r.item for r in batch], ensure_ascii=False).encode())
            state.results.update({k: answer[k] for k in
                                  ("accepted", "duplicate", "quarantined", "rejected")})
            for item in answer["items"]:
                if item["result"] in ("rejected", "conflict"):
                    row = batch[item["index"]]
                    aside.append((row.line, item.get("reason") or item["result"],
                                  item.get("field"), row.item))
        end = batch[-1].line if batch else None
        before = [u for u in unreadable if end is None or u[0] < end]
        unreadable[:] = [u for u in unreadable if end is not None and u[0] >= end]
        state.results["rejected"] += len(before)
        aside += [(line, reason, None, None) for line, reason in before]
        for line, reason, field_name, item in sorted(aside, key=lambda a: a[0]):
            self._reject(bad, line, reason, field_name, item)
        bad.flush()
        if batch:
            state.offset, state.line = batch[-1].end, batch[-1].line
        state.kept = os.fstat(bad.fileno()).st_size
        state.save(self.state_path)
        self.on_progress(state.offset)

    def _post(self, client: httpx.Client, route: str, body: bytes) -> dict[str, Any]:
        """POST with retries while the server is away or busy; 4xx other than 422 is fatal."""
        for attempt in range(RETRIES):
            try:
                r = client.post(route, content=body)
            except httpx.TransportError as exc:
                problem = f"the server did not answer ({exc})"
            else:
                if r.status_code in (200, 422):  # 422: every item refused, each named
                    answer: dict[str, Any] = r.json()
                    return answer
                if r.status_code < 500 and r.status_code != 429:
                    raise InvalidInput("file", f"the server refused the batch: HTTP "
                                               f"{r.status_code} {r.text[:300]}")
                problem = f"HTTP {r.status_code}"
            self.pause(min(30.0, 0.5 * 2 ** attempt))
        raise InvalidInput("file", f"gave up after {RETRIES} tries: {problem}; run the same "
                                   "command again to resume")

    @staticmethod
    def _reject(bad: IO[str], line: int, reason: str, field_name: str | None,
                item: dict[str, Any] | None) -> None:
        bad.write(json.dumps({"line": line, "field": field_name, "reason": reason, "item": item},
                             ensure_ascii=False) + "\n")

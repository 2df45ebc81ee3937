"""Live posting: replay a simulated stream against a running server at an accelerated clock.

Lines go out when the shared simulated clock reaches their arrival time, batched by kind
(shipments, device bindings, events, readings) and in arrival order, each with the key of
the role that would send it in real life: the merchant registers shipments and devices, the
carrier posts scans, the device gateway posts readings. A server that is briefly away is
retried with backoff; nothing is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

Line = dict[str, Any]
ROUTES = {"shipment": "/v1/shipments", "event": "/v1/events", "telemetry": "/v1/telemetry",
          "disruption": "/v1/disruptions", "device": "/v1/devices"}
ONE_BY_ONE = ("device", "disruption")  # routes that take one object, not an array
SERVER_STAMPS = ("type", "received_at")  # the server sets arrival time itself
MAX_SPAN = timedelta(minutes=2)  # of simulated arrivals in one batch


class Clock(Protocol):
    def now(self) -> datetime: ...


class CatchUpClock:
    """The server's clock in a live run that starts with history: while the backlog is being
    posted it stands at the arrival time of what is being sent, so rule timers fire in step with
    the data (a parcel's silence is not judged by a clock days ahead of its queued scans);
    once the poster has caught up it is the scaled clock."""

    def __init__(self, scaled: Clock, start: datetime) -> None:
        self.scaled = scaled
        self._mark: datetime | None = start

    def now(self) -> datetime:
        mark = self._mark
        return self.scaled.now() if mark is None else mark

    def sending(self, arrival: datetime) -> None:
        if self._mark is not None and arrival > self._mark:
            self._mark = arrival

    def caught_up(self) -> None:
        self._mark = None


@dataclass(frozen=True)
class Keys:
    merchant: str
    carrier: str
    gateway: str
    operator: str = ""  # declares the scenario's disruptions

    def for_kind(self, kind: str) -> str:
        return {"event": self.carrier, "telemetry": self.gateway,
                "disruption": self.operator}.get(kind, self.merchant)


@dataclass
class LiveStats:
    sim_time: datetime | None = None
    sent: dict[str, int] = field(default_factory=dict)  # lines posted, by kind
    results: dict[str, int] = field(default_factory=dict)  # accepted / duplicate / ...
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, n: int) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + n

    def count(self, answer: dict[str, Any]) -> None:
        for key in ("accepted", "duplicate", "quarantined", "rejected"):
            self.results[key] = self.results.get(key, 0) + int(answer.get(key, 0))
        for item in answer.get("items", []):
            if item.get("result") == "rejected" and len(self.errors) < 20:
                self.errors.append(f"{item.get('field')}: {item.get('reason')}")


class Poster:
    def __init__(self, base_url: str, keys: Keys, stats: LiveStats, batch: int = 500,
                 server_clock: CatchUpClock | None = None) -> None:
        self.base_url, self.keys, self.stats, self.batch = base_url, keys, stats, batch
        self.server_clock = server_clock
        self.pending: list[tuple[datetime, Line]] = []

    async def run(
        self, stream: Iterator[tuple[datetime, Line]], clock: Clock, speed: float,
        stop: asyncio.Event,
    ) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            for arrival, line in stream:
                if stop.is_set():
                    break
                wait = (arrival - clock.now()).total_seconds() / speed
                if wait > 0:
                    await self.flush(client)
                    if self.server_clock is not None:
                        self.server_clock.caught_up()
                    self.stats.sim_time = clock.now()
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=wait)
                        break
                    except TimeoutError:
                        pass
                self.stats.sim_time = arrival
                if self.pending and arrival - self.pending[0][0] > MAX_SPAN:
                    await self.flush(client)  # a batch covers minutes, not hours, of history
                self.pending.append((arrival, line))
                if len(self.pending) >= self.batch:
                    await self.flush(client)
            await self.flush(client)

    async def flush(self, client: httpx.AsyncClient) -> None:
        """Post what is pending, one run of same-kind lines at a time, in arrival order."""
        run: list[Line] = []
        until: datetime | None = None
        for arrival, line in self.pending:
            if run and line["type"] != run[0]["type"]:
                await self._post(client, run, until)
                run = []
            run.append(line)
            until = arrival
        if run:
            await self._post(client, run, until)
        self.pending.clear()

    async def _post(self, client: httpx.AsyncClient, run: list[Line],
                    until: datetime | None) -> None:
        if self.server_clock is not None and until is not None:
            self.server_clock.sending(until)  # the server's clock reaches these lines' arrival
        kind = run[0]["type"]
        bodies = [{k: v for k, v in line.items() if k not in SERVER_STAMPS} for line in run]
        if kind == "clock":
            return
        if kind in ONE_BY_ONE:
            for body in bodies:
                await self._send(client, ROUTES[kind], kind, body)
        else:
            await self._send(client, ROUTES[kind], kind, bodies)
        self.stats.add(kind, len(run))

    async def _send(self, client: httpx.AsyncClient, path: str, kind: str, body: object) -> None:
        headers = {"Authorization": f"Bearer {self.keys.for_kind(kind)}"}
        delay = 0.5
        while True:
            try:
                r = await client.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                problem = str(exc) or type(exc).__name__
            else:
                if r.status_code < 500:
                    self._answered(path, r)
                    return
                problem = f"HTTP {r.status_code}"
            self.stats.retries += 1
            if len(self.stats.errors) < 20:
                self.stats.errors.append(f"{path}: {problem}, retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _answered(self, path: str, r: httpx.Response) -> None:
        if not r.headers.get("content-type", "").startswith("application/json"):
            return
        answer = r.json()
        if isinstance(answer, dict) and "received" in answer:
            self.stats.count(answer)
        elif r.status_code >= 400 and len(self.stats.errors) < 20:
            self.stats.errors.append(f"{path}: {answer}")

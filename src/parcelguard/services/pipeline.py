"""Group commit: many senders, one writer thread, one transaction per batch.

Senders put their commands on a queue and wait. The writer takes everything waiting (up to
a limit), processes it as one batch in one commit, and only then answers each sender. Under
load batches grow by themselves, so durability costs one fsync per batch, not per event.
If a batch fails, its submissions are retried one by one so a single bad submission cannot
fail its neighbours.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import structlog

from parcelguard.domain.errors import Unavailable
from parcelguard.services.ingest import Ingestor
from parcelguard.services.messages import Command, Outcome

log = structlog.get_logger(__name__)
MAX_BATCH_ITEMS = 8000
IDLE_TICK_SECONDS = 1.0


@dataclass(slots=True)
class _Submission:
    commands: Sequence[Command]
    future: Future[list[Outcome]]
    part: int = 0  # bus mode: the stream partition the commands came from


class Submitter(Protocol):
    """Where entry points send commands: the local writer, or the bus (an API node in bus
    mode). Outcomes come back once the commands are durable."""

    @property
    def running(self) -> bool: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    async def submit(self, commands: Sequence[Command], *,
                     request: str | None = None) -> list[Outcome]:
        """``request``: the caller's idempotency key, scoped (the bus names the messages of
        commands that carry no id of their own after it, so a retried request is dropped)."""
    def submit_sync(self, commands: Sequence[Command]) -> list[Outcome]: ...
    def submit_future(self, commands: Sequence[Command], part: int = 0) -> Future[list[Outcome]]: ...


class Pipeline:
    def __init__(self, ingestor: Ingestor, max_items: int = MAX_BATCH_ITEMS) -> None:
        self.ingestor = ingestor
        self.max_items = max_items
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()  # no submission slips in behind the stop marker

    def start(self) -> None:
        self.ingestor.start()
        self._thread = threading.Thread(target=self._run, name="parcelguard-writer", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Finish everything already queued, then stop the writer."""
        if self._thread is None:
            return
        with self._lock:
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._thread = None

    async def submit(self, commands: Sequence[Command], *,
                     request: str | None = None) -> list[Outcome]:
        return await asyncio.wrap_future(self._enqueue(commands))

    def submit_sync(self, commands: Sequence[Command]) -> list[Outcome]:
        return self._enqueue(commands).result()

    def submit_future(self, commands: Sequence[Command], part: int = 0) -> Future[list[Outcome]]:
        """Queue without waiting; the future's callbacks run on the writer thread after the
        commit, so they must be quick."""
        return self._enqueue(commands, part)

    def _enqueue(self, commands: Sequence[Command], part: int = 0) -> Future[list[Outcome]]:
        future: Future[list[Outcome]] = Future()
        with self._lock:
            if self._closed or self._thread is None:
                future.set_exception(Unavailable("the server is not accepting writes; retry shortly"))
                return future
            self._queue.put(_Submission(commands, future, part))
        return future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_TICK_SECONDS)
            except queue.Empty:
                self._tick()
                continue
            if first is None:
                return
            batch, items, stop = [first], len(first.commands), False
            while items < self.max_items:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                items += len(nxt.commands)
            self.ingestor.stats.queue_depth = self._queue.qsize()
            self._process(batch)
            if stop:
                return

    def _tick(self) -> None:
        try:
            self.ingestor.tick()
        except Exception:
            log.exception("writer tick failed")

    def _process(self, batch: list[_Submission]) -> None:
        try:
            results = self.ingestor.process([s.commands for s in batch], [s.part for s in batch])
        except Exception as exc:
            if len(batch) == 1:
                if isinstance(exc, Unavailable):  # the database is away: senders retry
                    log.warning("batch failed", items=len(batch[0].commands), error=str(exc))
                else:
                    log.exception("batch failed", items=len(batch[0].commands))
                if not batch[0].future.cancelled():
                    batch[0].future.set_exception(_unavailable(exc))
                return
            log.warning("group commit failed; retrying submissions one by one", error=str(exc))
            for sub in batch:
                self._process([sub])
            return
        for sub, outcomes in zip(batch, results, strict=True):
            if not sub.future.cancelled():  # its sender gave up waiting; the commit stands
                sub.future.set_result(outcomes)


def _unavailable(exc: Exception) -> Exception:
    if isinstance(exc, Unavailable):
        return exc
    return Unavailable(f"the write could not be committed ({type(exc).__name__}); nothing "
                       "was stored, retry the request")

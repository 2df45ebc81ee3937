"""``parcelguard worker``: owns partitions of the ingest stream and applies them to the store.

A worker is the embedded writer with a different front door. For each partition it owns it
reads the stream in order from just after the position its last commit recorded (the position
is written in the same transaction as the data, so a worker killed at any moment resumes
exactly where its store stands: nothing lost, nothing applied twice), hands each fetched batch
to the writer as that partition's submission, and after the commit acknowledges the messages
and answers the API nodes waiting for outcomes. Partitions are held with PostgreSQL advisory
locks for the worker's life, so two workers never apply the same partition; a restarted or
replacement worker takes a free partition over from its recorded position.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

import nats
import sqlalchemy as sa
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from parcelguard.bus.codec import BATCH, Codec, decode_batch, encode_outcomes
from parcelguard.bus.publisher import INDEX_HEADER, REPLY_HEADER, TYPE_HEADER
from parcelguard.bus.status import consumer_name, partition_lock
from parcelguard.bus.stream import StreamSpec, ensure
from parcelguard.domain.errors import ParcelGuardError, Unavailable
from parcelguard.services import messages as m
from parcelguard.services.clock import Clock, ManualClock
from parcelguard.services.partitions import partition_of
from parcelguard.services.pipeline import Pipeline
from parcelguard.services.ports import Store, Vault

log = structlog.get_logger(__name__)
FETCH = 1000  # messages, and commands, a partition's submission gathers at most
FETCH_REQUEST_BYTES = 2 * 1024 * 1024  # what one fetch request may bring at once: its messages
FETCH_BYTES = 8 * 1024 * 1024  # arrive together, every partition fetches, and NATS cuts off a
#                                client 64 MiB behind; a batch message holds up to 128 KiB
RETRY_S = 1.0
LOCK_CHECK_S = 5.0



class Worker:
    def __init__(self, pipeline: Pipeline, store: Store, vault: Vault, clock: Clock, url: str,
                 spec: StreamSpec, partitions: Sequence[int], *, event_clock: bool = False) -> None:
        self.pipeline, self.store, self.clock = pipeline, store, clock
        self.url, self.spec = url, spec
        self.partitions = list(partitions)
        self.codec = Codec(vault)
        self.event_clock = event_clock
        self._locks: sa.Connection | None = None
        self.committed: dict[int, int] = {}  # stream position each partition has committed
        self.lost = False
        self._nc: Client | None = None
        owned = set(self.partitions)
        count = spec.partitions
        ingestor = pipeline.ingestor
        ingestor.watchers.append(self._changed)  # live pages on the API nodes follow commits
        ingestor.listeners.append(
            lambda changes: self._changed([(c.alert.tenant_id, c.alert.tracking_no)
                                           for c in changes]))
        self._loop: asyncio.AbstractEventLoop | None = None
        ingestor.ledger.shared = True
        ingestor.owns = lambda tn: partition_of(tn, count) in owned
        ingestor.alerting.part_of = lambda tn: partition_of(tn, count)
        if event_clock:
            # event time moves only with the stream: the idle tick signs checkpoints but fires
            # no deadline another partition's commands have not reached yet
            ingestor.fires_on_tick = False

    # ---- life ----

    def claim(self) -> None:
        """Hold this worker's partitions (PostgreSQL advisory locks, for the worker's life)."""
        engine = getattr(self.store, "engine", None)
        if engine is None or engine.dialect.name != "postgresql":
            raise Unavailable("workers share one store, which must be PostgreSQL: set "
                              "PARCELGUARD_DATABASE_URL=postgresql://... (SQLite admits one "
                              "writer; without a bus, `parcelguard serve` is that writer)")
        # autocommit: an idle transaction held for the worker's life could be cut by
        # idle_in_transaction_session_timeout, and the locks with it
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("SELECT set_config('application_name', :n, false)"),
                     {"n": f"parcelguard-worker {socket.gethostname()}:{os.getpid()}"})
        taken = [p for p in self.partitions if not conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": partition_lock(self.spec, p)}).scalar()]
        if taken:
            conn.invalidate()  # not back to the pool: it holds the locks it did get
            conn.close()
            raise Unavailable(f"partitions {taken} are held by another worker; give this one "
                              "other partitions (--partitions) or stop the other first")
        self._locks = conn

    def still_holds(self) -> bool:
        """Whether the session holding this worker's partitions is alive and holds them all."""
        if self._locks is None:
            return True
        try:
            held = self._locks.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()"
                " AND locktype = 'advisory' AND granted")).scalar()
        except sa.exc.SQLAlchemyError:
            return False
        return bool(held is not None and held >= len(self.partitions))

    async def _watch_locks(self, stop: asyncio.Event) -> None:
        """Stop (to be restarted) the moment the partitions' locks are gone: another worker
        may take them over, and two must never apply one partition."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # a stop ends the wait (and the worker) now
                await asyncio.wait_for(stop.wait(), LOCK_CHECK_S)
                return
            if not await asyncio.to_thread(self.still_holds):
                log.error("worker.lost_partitions", partitions=self.partitions)
                self.lost = True
                stop.set()

    def release(self) -> None:
        if self._locks is not None:
            self._locks.close()
            self._locks = None

    async def run(self, stop: asyncio.Event, start: Callable[[], None] = lambda: None) -> None:
        """Claim the partitions, then ``start`` the writer (it loads timers of the parcels
        now owned), then apply the stream until ``stop`` is set."""
        self.claim()
        try:
            start()
            self._loop = asyncio.get_running_loop()
            self._nc = await nats.connect(self.url.split(","), name="parcelguard-worker",
                                          max_reconnect_attempts=-1, reconnect_time_wait=0.5)
            js = self._nc.jetstream()
            await ensure(js, self.spec)
            with self.store.unit_of_work(write=False) as uow:
                positions = uow.offsets.all(self.spec.name)
            subs = [await self._subscribe(js, p, positions.get(p, 0)) for p in self.partitions]
            log.info("worker.started", partitions=self.partitions, positions=positions)
            self.committed = dict(positions)
            tasks = [asyncio.create_task(self._consume(js, p, sub, stop))
                     for p, sub in zip(self.partitions, subs, strict=True)]
            tasks.append(asyncio.create_task(self._watch_locks(stop)))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            stop.set()  # a partition's loop failed: stop the others and exit (to be restarted)
            await asyncio.gather(*tasks)
        finally:
            nc, self._nc, self._loop = self._nc, None, None
            if nc is not None:
                await nc.close()
            self.release()
        if self.lost:
            raise Unavailable(f"lost the locks on partitions {self.partitions}; stopped")

    async def _subscribe(self, js: JetStreamContext, partition: int,
                         committed: int) -> JetStreamContext.PullSubscription:
        """A consumer that starts right after the committed position (made afresh each
        start: what a dead worker fetched and never acknowledged comes again, in order)."""
        name = consumer_name(self.spec, partition)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(self.spec.name, name)
        await js.add_consumer(self.spec.name, ConsumerConfig(
            durable_name=name, filter_subject=self.spec.subject(partition),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=committed + 1,
            ack_policy=AckPolicy.EXPLICIT, ack_wait=300, max_ack_pending=FETCH * 4,
        ))
        return await js.pull_subscribe_bind(durable=name, stream=self.spec.name)

    def _changed(self, keys: list[tuple[str, str]]) -> None:
        """After a commit (on the writer's thread): tell the API nodes which shipments moved."""
        loop, nc = self._loop, self._nc
        if keys and loop is not None and nc is not None:
            body = json.dumps(sorted(set(keys))).encode()
            subject = self.spec.changes
            with contextlib.suppress(RuntimeError):  # the loop closed while a tick finished
                loop.call_soon_threadsafe(lambda: loop.create_task(nc.publish(subject, body)))

    # ---- the loop of one partition ----

    async def _consume(self, js: JetStreamContext, partition: int,
                       sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        expect = 1  # the consumer's next delivery number: every delivery counts, one by one
        while not stop.is_set():
            try:
                msgs = await self._fetch(sub)
            except (TimeoutError, NatsTimeout):
                continue
            numbers = [msg.metadata.sequence.consumer for msg in msgs]
            if numbers != list(range(expect, expect + len(msgs))):
                # deliveries this worker never received (the connection was cut: NATS counts
                # them delivered and sends them again only after ack_wait); applying what came
                # after them would move the position past them, so start again from it
                log.warning("worker.delivery_gap", partition=partition, expected=expect,
                            got=numbers[0])
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                sub = await self._subscribe(js, partition, self.committed.get(partition, 0))
                expect = 1
                continue
            expect += len(msgs)
            done = self.committed.get(partition, 0)
            fresh = [msg for msg in msgs if msg.metadata.sequence.stream > done]
            for msg in msgs:
                if msg.metadata.sequence.stream <= done:
                    await msg.ack()  # delivered again (an ack lost on the way): applied already
            if not fresh:
                continue
            commands, answers, unreadable = self._decode(fresh, partition)
            outcomes = None
            while outcomes is None and not stop.is_set():
                try:
                    outcomes = await self._apply(commands, partition)
                except ParcelGuardError as exc:  # the commit failed: nothing was stored
                    log.warning("worker.retry", partition=partition, error=exc.message)
                    await asyncio.sleep(RETRY_S)
            if outcomes is None:
                return  # stopping: what was not committed comes again to the next worker
            self.committed[partition] = fresh[-1].metadata.sequence.stream
            for msg in fresh:
                await msg.ack()
            await self._answer(answers, outcomes, unreadable)

    @staticmethod
    async def _fetch(sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """What is waiting, up to ``FETCH`` messages or ``FETCH_BYTES``, a few at a time: one
        request for a thousand batch messages would arrive at once and get this client cut
        off as a slow consumer. How many a request asks for follows the sizes seen: 16 batch
        messages, or a few hundred single commands."""
        msgs = await sub.fetch(16, timeout=0.5)
        size = sum(len(msg.data) for msg in msgs)
        asked = 16
        while len(msgs) < FETCH and size < FETCH_BYTES and len(msgs) >= asked:
            average = max(1, size // len(msgs))
            want = max(16, min(256, FETCH - len(msgs), FETCH_REQUEST_BYTES // average))
            try:
                more = await sub.fetch(want, timeout=0.01)
            except (TimeoutError, NatsTimeout):
                break
            msgs += more
            size += sum(len(msg.data) for msg in more)
            asked += want
            if len(more) < want:
                break
        return msgs

    def _decode(self, msgs: list[Msg], partition: int) -> tuple[
            list[m.Command], list[tuple[str, int, int]], list[tuple[str, int, m.Outcome]]]:
        """The commands of a fetched batch, closed by its stream position; who waits for
        which outcome (reply subject, request index, position in the batch)."""
        commands: list[m.Command] = []
        answers: list[tuple[str, int, int]] = []
        unreadable: list[tuple[str, int, m.Outcome]] = []
        for msg in msgs:
            headers = msg.headers or {}
            reply, index = headers.get(REPLY_HEADER), headers.get(INDEX_HEADER)
            kind = headers.get(TYPE_HEADER, "")
            try:
                items = (decode_batch(msg.data) if kind == BATCH else
                         [(kind, int(index) if reply and index else -1, msg.data)])
            except Exception as exc:  # one unreadable message must not stop its partition
                self._unreadable(partition, msg, exc)
                if reply and index and index.isdigit():
                    unreadable.append((reply, int(index), _cannot_read(exc)))
                continue
            for item_kind, position, body in items:
                try:
                    cmd = self.codec.decode(item_kind, body)
                except Exception as exc:
                    self._unreadable(partition, msg, exc)
                    if reply and position >= 0:
                        unreadable.append((reply, position, _cannot_read(exc)))
                    continue
                if reply and position >= 0:
                    answers.append((reply, position, len(commands)))
                commands.append(cmd)
        commands.append(m.Consumed(self.spec.name, partition, msgs[-1].metadata.sequence.stream))
        return commands, answers, unreadable

    def _unreadable(self, partition: int, msg: Msg, exc: Exception) -> None:
        log.error("worker.unreadable", partition=partition, seq=msg.metadata.sequence.stream,
                  error=str(exc))
        self.pipeline.ingestor.stats.outcomes[("bus_message", "rejected")] += 1

    async def _apply(self, commands: list[m.Command], partition: int) -> list[m.Outcome]:
        if self.event_clock:
            clock = self.clock
            assert isinstance(clock, ManualClock)
            latest = max((t for c in commands if (t := _time_of(c)) is not None), default=None)
            if latest is not None:
                clock.advance_to(latest)
        future = self.pipeline.submit_future(commands, partition)
        return await asyncio.wrap_future(future)

    async def _answer(self, answers: list[tuple[str, int, int]], outcomes: list[m.Outcome],
                      unreadable: list[tuple[str, int, m.Outcome]]) -> None:
        assert self._nc is not None
        by_reply: dict[str, list[tuple[int, m.Outcome]]] = defaultdict(list)
        for reply, index, position in answers:
            by_reply[reply].append((index, outcomes[position]))
        for reply, index, outcome in unreadable:
            by_reply[reply].append((index, outcome))
        for reply, items in by_reply.items():
            await self._nc.publish(reply, encode_outcomes(items))


def _cannot_read(exc: Exception) -> m.Outcome:
    return m.rejected(None, "command", f"the worker cannot read this message: {exc}")


def _time_of(cmd: m.Command) -> datetime | None:
    if isinstance(cmd, m.AdvanceClock):
        return cmd.at
    received: datetime | None = getattr(cmd, "received_at", None)
    return received

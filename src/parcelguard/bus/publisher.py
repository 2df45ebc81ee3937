"""An API node's side of bus mode: commands go to JetStream instead of a local writer.

:class:`BusPipeline` has the local pipeline's interface, so the API, the carrier receivers
and the MQTT subscriber submit exactly as they do in embedded mode. Each command becomes one
message on its parcel's partition, with ``Nats-Msg-Id`` derived from what it is (the event id
for a scan), so a sender's retry is recognised by JetStream's duplicate window and, past it, by
the worker's own de-duplication. A submission is acknowledged once JetStream has stored every
message; the node then waits a little for the worker's outcomes (replies on a private inbox)
so callers get the same answers as in embedded mode, or ``queued`` if the worker is slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field

import nats
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from parcelguard.bus import status
from parcelguard.bus.codec import BATCH, Codec, decode_outcomes, encode_batch
from parcelguard.bus.status import PartitionStatus
from parcelguard.bus.stream import StreamSpec, ensure
from parcelguard.domain import times
from parcelguard.domain.errors import Unavailable
from parcelguard.domain.telemetry import Device, DeviceKind
from parcelguard.services import messages as m
from parcelguard.services.partitions import partition_of
from parcelguard.services.ports import Store

log = structlog.get_logger(__name__)
DEVICE_TTL_S = 5.0  # how long a node trusts a binding it read from the store
LEARNT_TTL_S = 600.0  # ... and one it sent itself (workers may lag behind the stream)
REPLY_HEADER, INDEX_HEADER, TYPE_HEADER = "PG-Reply", "PG-Index", "PG-Type"
FED_ELSEWHERE = m.Outcome(m.Result.ACCEPTED, None, "for partitions another sender feeds")
MAX_MESSAGE = 128 * 1024  # a batch's bodies (NATS refuses over max_payload, 1 MiB by default)


@dataclass(frozen=True, slots=True)
class Route:
    """Where one command goes: its partition(s) and message id, or an answer right away."""

    partitions: tuple[int, ...] = ()
    msg_id: str = ""
    owner: int | None = None  # of a vehicle reading copied to every partition: who stores it
    vehicle_id: str | None = None  # ... and its vehicle, which the copies name
    answer: m.Outcome | None = None


def _once(request: str | None, place: int | str) -> str:
    """The message name of a command without an id of its own. Binding A, then B, then A again
    is legitimate: without a request key each gets a fresh name (a retry after a lost publish
    ack is then applied twice, which is why the API takes an Idempotency-Key)."""
    if request is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{request}\x1f{place}".encode()).hexdigest()[:40]


class Router:
    """Partitions by the parcel a command concerns (a vehicle's readings go to every
    partition, stored by the vehicle's own); reads bindings and alerts from the store."""

    def __init__(self, store: Store, partitions: int, only: frozenset[int] | None = None) -> None:
        """``only``: a sender that feeds some partitions (one of several replay feeders that
        together send a recording in parallel) publishes nothing for the others."""
        self.store, self.count, self.only = store, partitions, only
        self._devices: dict[tuple[str, str], tuple[float, Device]] = {}  # -> (until, binding)

    def route(self, cmd: m.Command, request: str | None = None, index: int = 0) -> Route:
        """``request``: the key of an idempotent request (scoped to its caller, route and body)
        and ``index`` the command's place in it: together they name the message of a command
        that carries no id of its own, so the same request sent again names it the same."""
        route = self._route(cmd, request, index)
        if self.only is None or route.answer is not None:
            return route
        mine = tuple(p for p in route.partitions if p in self.only)
        if not mine:
            return Route(answer=FED_ELSEWHERE)
        return Route(mine, route.msg_id, route.owner, vehicle_id=route.vehicle_id)

    def of(self, key: str) -> int:
        return partition_of(key, self.count)

    def _route(self, cmd: m.Command, request: str | None, index: int) -> Route:
        if isinstance(cmd, m.RecordScan):
            e = cmd.event
            return Route((self.of(e.tracking_no),), f"ev:{cmd.tenant_id}:{e.tracking_no}:{e.event_id}")
        if isinstance(cmd, m.RecordReading):
            return self._reading(cmd)
        if isinstance(cmd, m.RegisterShipment):
            s = cmd.shipment
            for device_id in s.devices:  # its readings follow it before the workers store it
                self._learn(Device(s.tenant_id, device_id, DeviceKind.BOX_SENSOR,
                                   tracking_no=s.tracking_no))
            return Route((self.of(s.tracking_no),), f"sh:{s.tenant_id}:{s.tracking_no}:{cmd.spec_digest}")
        if isinstance(cmd, m.AdvanceClock):
            return Route(tuple(range(self.count)), f"ck:{times.to_us(cmd.at)}")
        if isinstance(cmd, m.RulesChanged):
            return Route(tuple(range(self.count)), f"rl:{uuid.uuid4().hex}")
        if isinstance(cmd, m.DisruptionsChanged):
            return Route(tuple(range(self.count)), f"dis:{uuid.uuid4().hex}")
        if isinstance(cmd, m.RegisterDevice):
            d = cmd.device
            self._learn(d)
            return Route((self.of(d.tracking_no or d.vehicle_id or d.device_id),),
                         f"dv:{d.tenant_id}:{_once(request, index)}")
        if isinstance(cmd, m.ActOnAlert):
            with self.store.unit_of_work(write=False) as uow:
                alert = uow.alerts.get(cmd.tenant_id, cmd.alert_id)
            if alert is None:
                return Route(answer=m.Outcome(m.Result.NOT_FOUND, cmd.alert_id,
                                              f"no alert {cmd.alert_id!r}", "alert_id"))
            return Route((self.of(alert.tracking_no),), f"act:{cmd.tenant_id}:{_once(request, index)}")
        # a push's estimates and alerts are named by what they say, not where: a retried push
        # carries fewer new scans before them (those the first attempt stored are left out)
        if isinstance(cmd, m.NoteEstimate):
            what = f"{cmd.tracking_no}\x1f{cmd.source}\x1f{times.to_us(cmd.estimated_at)}"
            return Route((self.of(cmd.tracking_no),),
                         f"NoteEstimate:{cmd.tenant_id}:{_once(request, what)}")
        if isinstance(cmd, m.RaiseAlert):
            what = f"{cmd.tracking_no}\x1f{cmd.rule}"
            return Route((self.of(cmd.tracking_no),),
                         f"RaiseAlert:{cmd.tenant_id}:{_once(request, what)}")
        raise TypeError(f"{type(cmd).__name__} is not sent over the bus")

    def _reading(self, cmd: m.RecordReading) -> Route:
        r = cmd.reading
        msg_id = f"rd:{cmd.tenant_id}:{r.device_id}:{times.to_us(r.ts)}"
        device = self._device(cmd.tenant_id, r.device_id)
        if device is not None and device.kind is DeviceKind.VEHICLE_UNIT and device.vehicle_id:
            return Route(tuple(range(self.count)), msg_id, self.of(device.vehicle_id),
                         vehicle_id=device.vehicle_id)
        if device is not None and device.tracking_no:
            return Route((self.of(device.tracking_no),), msg_id)
        return Route((self.of(r.device_id),), msg_id)  # the worker answers for an unknown one

    def _device(self, tenant_id: str, device_id: str) -> Device | None:
        """A device's binding: as this node last sent or read it, else from the store."""
        key, now = (tenant_id, device_id), time.monotonic()
        cached = self._devices.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        with self.store.unit_of_work(write=False) as uow:
            device = uow.devices.get(tenant_id, device_id)
        if device is not None:  # an unknown device is asked for again next time
            self._remember(device, now + DEVICE_TTL_S)
        return device

    def _learn(self, device: Device) -> None:
        """A binding this node is sending: the workers may not have stored it yet."""
        self._remember(device, time.monotonic() + LEARNT_TTL_S)

    def _remember(self, device: Device, until: float) -> None:
        if len(self._devices) > 100_000:
            self._devices.clear()
        self._devices[(device.tenant_id, device.device_id)] = (until, device)


@dataclass(frozen=True, slots=True)
class _Item:
    """One command bound for one partition: (type, its index in the request if this copy is
    the one answered, else -1, body, message id)."""

    kind: str
    index: int
    body: bytes
    msg_id: str


def _chunks(items: list[_Item]) -> list[list[_Item]]:
    """Batches under ``MAX_MESSAGE`` bytes (NATS refuses a message over its max_payload)."""
    out: list[list[_Item]] = [[]]
    size = 0
    for x in items:
        if out[-1] and size + len(x.body) > MAX_MESSAGE:
            out.append([])
            size = 0
        out[-1].append(x)
        size += len(x.body) + 16
    return out


@dataclass
class _Waiting:
    future: asyncio.Future[None]
    outcomes: dict[int, m.Outcome] = field(default_factory=dict)
    expected: int = 0


class BusPipeline:
    """The pipeline of an API node in bus mode (same interface as the local one)."""

    def __init__(self, url: str, spec: StreamSpec, codec: Codec, router: Router,
                 reply_timeout_s: float) -> None:
        self.url, self.spec, self.codec, self.router = url, spec, codec, router
        self.reply_timeout_s = reply_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._inbox = ""
        self._waiting: dict[str, _Waiting] = {}
        self._inflight: set[Future[list[m.Outcome]]] = set()  # requests being sent
        self._closing = False
        # who wants to know which shipments a worker's commit changed (the live pages)
        self.watchers: list[Callable[[list[tuple[str, str]]], None]] = []

    # ---- life ----

    def start(self) -> None:
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="parcelguard-bus",
                                        daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._connect(), self._loop).result(30)

    async def _connect(self) -> None:
        self._nc = await nats.connect(self.url.split(","), name="parcelguard-api",
                                      max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5)
        self._js = self._nc.jetstream()
        await ensure(self._js, self.spec)
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        await self._nc.subscribe(self.spec.changes, cb=self._on_changed)
        log.info("bus.connected", url=self.url, stream=self.spec.name,
                 partitions=self.spec.partitions)

    @property
    def running(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        self._closing = True  # new requests are refused (retry: another node, or this again)
        # requests on their way finish first (stored and answered, or refused as unavailable):
        # a stopped loop would leave their callers waiting for ever
        wait(list(self._inflight), timeout=self.reply_timeout_s + 10)
        if self._nc is not None:
            asyncio.run_coroutine_threadsafe(self._nc.drain(), loop).result(10)
            self._nc = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def partitions(self, timeout_s: float = 5.0) -> list[PartitionStatus]:
        """Each partition's position, lag and owner (for /metrics)."""
        if self._loop is None or self._js is None:
            return []
        held = status.owners(self.router.store, self.spec)  # store reads here, not on the loop
        with self.router.store.unit_of_work(write=False) as uow:
            committed = uow.offsets.all(self.spec.name)
        return asyncio.run_coroutine_threadsafe(
            status.consumers(self._js, self.spec, committed, held), self._loop).result(timeout_s)

    def wait_applied(self, timeout_s: float) -> bool:
        """Wait until the workers have committed everything the stream holds now (a replay's
        end); False if they have not within ``timeout_s``."""
        if self._loop is None or self._js is None:
            return False
        last = asyncio.run_coroutine_threadsafe(status.heads(self._js, self.spec),
                                                self._loop).result(30)
        deadline = time.monotonic() + timeout_s
        while True:
            with self.router.store.unit_of_work(write=False) as uow:
                done = uow.offsets.all(self.spec.name)
            if all(done.get(p, 0) >= seq for p, seq in last.items()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    # ---- the pipeline's interface ----

    # Routing may read the store (bindings, alerts): it runs in the caller's thread (or a
    # worker thread for async callers), never on the bus loop that every request shares.

    async def submit(self, commands: Sequence[m.Command], *,
                     request: str | None = None) -> list[m.Outcome]:
        routes = await asyncio.to_thread(self._routes, commands, request)
        return await asyncio.wrap_future(self._schedule(commands, routes))

    def submit_sync(self, commands: Sequence[m.Command]) -> list[m.Outcome]:
        return self.submit_future(commands).result()

    def submit_future(self, commands: Sequence[m.Command], part: int = 0) -> Future[list[m.Outcome]]:
        return self._schedule(commands, self._routes(commands))

    def _routes(self, commands: Sequence[m.Command], request: str | None = None) -> list[Route]:
        return [self.router.route(cmd, request, i) for i, cmd in enumerate(commands)]

    def _schedule(self, commands: Sequence[m.Command], routes: list[Route]) -> Future[list[m.Outcome]]:
        if self._loop is None or self._closing:
            future: Future[list[m.Outcome]] = Future()
            future.set_exception(Unavailable("the server is not accepting writes; retry shortly"))
            return future
        sending = asyncio.run_coroutine_threadsafe(self._send(list(commands), routes), self._loop)
        self._inflight.add(sending)
        sending.add_done_callback(self._inflight.discard)
        return sending

    # ---- sending ----

    async def _send(self, commands: list[m.Command], routes: list[Route]) -> list[m.Outcome]:
        assert self._js is not None
        request = uuid.uuid4().hex
        reply_to = f"{self._inbox}.{request}"
        waiting = _Waiting(asyncio.get_running_loop().create_future())
        answers: dict[int, m.Outcome] = {}
        parts: dict[int, list[_Item]] = {}
        for i, (cmd, route) in enumerate(zip(commands, routes, strict=True)):
            if route.answer is not None:
                answers[i] = route.answer
                continue
            kind, body = self.codec.encode(cmd)
            answering = route.owner if route.owner is not None else route.partitions[0]
            if answering not in route.partitions:  # another feeder sends the stored copy
                answers[i] = FED_ELSEWHERE
            for p in route.partitions:
                body_p = body
                if route.owner is not None and p != route.owner:
                    assert isinstance(cmd, m.RecordReading)
                    copy = m.RecordReading(cmd.tenant_id, cmd.reading, cmd.received_at,
                                           keep=False, vehicle_id=route.vehicle_id)
                    body_p = self.codec.encode(copy)[1]
                parts.setdefault(p, []).append(
                    _Item(kind, i if p == answering else -1, body_p, f"{route.msg_id}:{p}"))
        sends = []
        for p, items in parts.items():
            for chunk in _chunks(items):
                waiting.expected += sum(1 for x in chunk if x.index >= 0)
                subject, data, headers = self._message(p, chunk, reply_to)
                sends.append((chunk, self._js.publish(subject, data, headers=headers)))
        self._waiting[request] = waiting
        try:
            acks = await asyncio.gather(*(s[1] for s in sends), return_exceptions=True)
            for (chunk, _), ack in zip(sends, acks, strict=True):
                if isinstance(ack, BaseException):
                    raise Unavailable(f"the bus did not store the message ({type(ack).__name__}); "
                                      "nothing is acknowledged, retry the request") from ack
                if ack.duplicate:  # stored before: the worker answered then
                    for x in chunk:
                        if x.index >= 0:
                            answers[x.index] = m.Outcome(m.Result.DUPLICATE)
                            waiting.expected -= 1
            if len(waiting.outcomes) < waiting.expected and self.reply_timeout_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiting.future), self.reply_timeout_s)
        finally:
            del self._waiting[request]
        answers |= waiting.outcomes
        return [answers.get(i, m.Outcome(m.Result.QUEUED)) for i in range(len(commands))]

    def _message(self, partition: int, items: list[_Item],
                 reply_to: str) -> tuple[str, bytes, dict[str, str]]:
        """One command as itself (its own id: JetStream's duplicate window sees it), or several
        as a batch whose id is made from theirs (a request sent again is dropped whole)."""
        if len(items) == 1:
            x = items[0]
            headers = {"Nats-Msg-Id": x.msg_id, TYPE_HEADER: x.kind}
            if x.index >= 0:
                headers |= {REPLY_HEADER: reply_to, INDEX_HEADER: str(x.index)}
            return self.spec.subject(partition), x.body, headers
        digest = hashlib.sha256("\n".join(x.msg_id for x in items).encode()).hexdigest()
        headers = {"Nats-Msg-Id": f"batch:{digest[:40]}", TYPE_HEADER: BATCH}
        if any(x.index >= 0 for x in items):
            headers[REPLY_HEADER] = reply_to
        return (self.spec.subject(partition),
                encode_batch([(x.kind, x.index, x.body) for x in items]), headers)

    async def _on_changed(self, msg: Msg) -> None:
        try:
            keys = [(str(t), str(n)) for t, n in json.loads(msg.data)]
        except (ValueError, TypeError):
            return
        for watcher in self.watchers:
            watcher(keys)

    async def _on_reply(self, msg: Msg) -> None:
        waiting = self._waiting.get(msg.subject.rsplit(".", 1)[1])
        if waiting is None:
            return  # answered after the request gave up waiting
        for index, outcome in decode_outcomes(msg.data):
            waiting.outcomes[index] = outcome
        if len(waiting.outcomes) >= waiting.expected and not waiting.future.done():
            waiting.future.set_result(None)

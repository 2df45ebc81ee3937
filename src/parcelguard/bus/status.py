"""Where each partition of the ingest stream stands: committed position, lag, owner, rate.

Read from three places: the store (the position each partition's last commit recorded), the
partition's JetStream consumer (what is still waiting for it) and PostgreSQL's lock table
(which worker process holds the partition).
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

import sqlalchemy as sa
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from parcelguard.bus.stream import StreamSpec
from parcelguard.services.ports import Store


def partition_lock(spec: StreamSpec, partition: int = 0) -> int:
    """The advisory lock a worker holds on a partition: named by the stream too, so streams
    (deployments, tests) sharing one PostgreSQL database never block each other."""
    return 0x5047_0000_0000_0000 + (zlib.crc32(spec.name.encode()) << 16) + partition


def consumer_name(spec: StreamSpec, partition: int) -> str:
    return f"{spec.name}-p{partition}"


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    partition: int
    committed: int  # stream sequence of the last message the store has applied
    lag: int | None  # messages of the partition not yet applied (None: no consumer yet)
    owner: str | None  # the worker process holding it
    acked: int | None  # messages its current consumer has acknowledged (for rates)


async def partitions(js: JetStreamContext, spec: StreamSpec, store: Store) -> list[PartitionStatus]:
    with store.unit_of_work(write=False) as uow:
        committed = uow.offsets.all(spec.name)
    return await consumers(js, spec, committed, owners(store, spec))


async def consumers(js: JetStreamContext, spec: StreamSpec, committed: dict[int, int],
                    held: dict[int, str]) -> list[PartitionStatus]:
    """Each partition's status, given its committed position and owner (read from the store)."""
    out = []
    for p in range(spec.partitions):
        try:
            info = await js.consumer_info(spec.name, consumer_name(spec, p))
            lag: int | None = (info.num_pending or 0) + (info.num_ack_pending or 0)
            acked = info.ack_floor.consumer_seq if info.ack_floor else 0
        except NotFoundError:
            lag = acked = None
        out.append(PartitionStatus(p, committed.get(p, 0), lag, held.get(p), acked))
    return out


async def heads(js: JetStreamContext, spec: StreamSpec) -> dict[int, int]:
    """Each partition's last message in the stream (0: none yet)."""
    last = {}
    for p in range(spec.partitions):
        try:
            last[p] = (await js.get_last_msg(spec.name, spec.subject(p))).seq or 0
        except NotFoundError:
            last[p] = 0
    return last


async def rates(js: JetStreamContext, spec: StreamSpec, store: Store,
                seconds: float = 1.0) -> tuple[list[PartitionStatus], dict[int, float]]:
    """Status, and messages applied per second per partition over ``seconds``."""
    before = await partitions(js, spec, store)
    await asyncio.sleep(seconds)
    after = await partitions(js, spec, store)
    per_s = {a.partition: max(0, (a.acked or 0) - (b.acked or 0)) / seconds
             for a, b in zip(after, before, strict=True) if a.acked is not None}
    return after, per_s


def owners(store: Store, spec: StreamSpec) -> dict[int, str]:
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        return {}
    query = sa.text(
        "SELECT (l.classid::bigint << 32 | l.objid::bigint) - :base AS partition,"
        " a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND (l.classid::bigint << 32 | l.objid::bigint) - :base BETWEEN 0 AND 65535")
    with engine.connect() as conn:
        return {int(r.partition): r.application_name for r in conn.execute(
            query, {"base": partition_lock(spec)})}

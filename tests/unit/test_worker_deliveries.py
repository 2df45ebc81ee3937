"""A worker that misses deliveries (its connection cut while NATS was sending: the server
counts them delivered and sends them again only after ack_wait) starts its partition again
from the committed position instead of applying what came after them."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from parcelguard.bus.codec import Codec
from parcelguard.bus.stream import StreamSpec
from parcelguard.bus.worker import Worker
from parcelguard.crypto.keys import AesGcmVault
from parcelguard.services import messages as m
from tests.factories import at

codec = Codec(AesGcmVault(b"\x07" * 32))


class Msg:
    def __init__(self, delivery: int, position: int) -> None:
        self.metadata = SimpleNamespace(sequence=SimpleNamespace(consumer=delivery,
                                                                 stream=position))
        kind, self.data = codec.encode(m.AdvanceClock(at(position)))
        self.headers = {"PG-Type": kind}
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


class Sub:
    def __init__(self, batches: list[list[Msg]], stop: asyncio.Event) -> None:
        self.batches, self.stop = batches, stop

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        if not self.batches:
            self.stop.set()
            raise TimeoutError
        return self.batches.pop(0)

    async def unsubscribe(self) -> None:
        pass


def test_a_gap_in_deliveries_starts_the_partition_again_from_its_position() -> None:
    applied: list[list[m.Command]] = []

    def submit(commands: list[m.Command], part: int) -> Future[list[m.Outcome]]:
        applied.append(commands)
        done: Future[list[m.Outcome]] = Future()
        done.set_result([m.Outcome(m.Result.ACCEPTED)] * len(commands))
        return done

    worker: Any = Worker.__new__(Worker)
    worker.codec, worker.spec, worker.event_clock = codec, StreamSpec(), False
    worker.pipeline = SimpleNamespace(submit_future=submit)
    worker.committed = {0: 10}
    worker._nc = SimpleNamespace(publish=None)  # nobody waits for these answers
    resubscribed: list[int] = []

    async def run() -> list[Msg]:
        stop = asyncio.Event()
        missed = [Msg(4, 14), Msg(5, 15)]  # deliveries 1-3 (positions 11-13) never arrived
        again = [Msg(1, 11), Msg(2, 12), Msg(3, 13), Msg(4, 14), Msg(5, 15)]

        async def subscribe(js: object, partition: int, committed: int) -> Sub:
            resubscribed.append(committed)
            return Sub([again], stop)

        worker._subscribe = subscribe
        await worker._consume(None, 0, Sub([missed], stop), stop)
        return missed + again

    missed_and_again = asyncio.run(run())
    assert resubscribed == [10]  # from the committed position
    (commands,) = applied
    assert [c.at for c in commands if isinstance(c, m.AdvanceClock)] == [at(p) for p in
                                                                          range(11, 16)]
    assert commands[-1] == m.Consumed(StreamSpec().name, 0, 15)
    assert worker.committed[0] == 15
    assert [x.acked for x in missed_and_again] == [False, False] + [True] * 5

"""Group commit: many senders share commits, and one bad submission fails alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from parcelguard import bootstrap
from parcelguard.domain.errors import Unavailable
from parcelguard.services.messages import Command, Outcome, RecordScan, Result
from parcelguard.services.pipeline import Pipeline
from tests.unit.test_ingest import register, scan


def test_senders_waiting_together_share_one_commit_and_get_their_own_outcomes(
    mem: bootstrap.System, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mem.ingestor.process([[register(mem)]])
    real, batches = mem.ingestor.process, []
    first_batch_running, all_queued = threading.Event(), threading.Event()

    def gated(subs: Sequence[Sequence[Command]], parts: Sequence[int]) -> list[list[Outcome]]:
        batches.append(len(subs))
        if len(batches) == 1:  # hold the writer while the other senders queue up
            first_batch_running.set()
            all_queued.wait(10)
        return real(subs, parts)

    monkeypatch.setattr(mem.ingestor, "process", gated)
    pipeline = Pipeline(mem.ingestor)
    pipeline.start()
    results: dict[int, list[Outcome]] = {}

    def send(i: int) -> None:
        results[i] = pipeline.submit_sync([scan(hours=i / 10, event_id=f"ev-{i}"),
                                           scan(hours=i / 10, event_id=f"ev-{i}")])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(40)]
    threads[0].start()
    assert first_batch_running.wait(10)
    for t in threads[1:]:
        t.start()
    while pipeline._queue.qsize() < 39:
        threading.Event().wait(0.01)
    all_queued.set()
    for t in threads:
        t.join()
    pipeline.stop()
    assert batches == [1, 39]
    assert all([o.result for o in results[i]] == [Result.ACCEPTED, Result.DUPLICATE]
               for i in range(40))
    assert results[7][1].ref == "ev-7"  # a duplicate names the event it repeats


def test_a_failing_submission_does_not_fail_the_others_in_its_batch(
    mem: bootstrap.System, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mem.ingestor.process([[register(mem)]])
    real = mem.ingestor.process

    def fragile(subs: Sequence[Sequence[Command]], parts: Sequence[int]) -> list[list[Outcome]]:
        if any(isinstance(c, RecordScan) and c.event.event_id == "poison" for s in subs for c in s):
            raise RuntimeError("constraint violated")
        return real(subs, parts)

    monkeypatch.setattr(mem.ingestor, "process", fragile)
    pipeline = Pipeline(mem.ingestor)
    pipeline._thread = threading.Thread()  # accept submissions, process by hand below
    good = pipeline._enqueue([scan(hours=1, event_id="good")])
    bad = pipeline._enqueue([scan(hours=2, event_id="poison")])
    pipeline._process([pipeline._queue.get(), pipeline._queue.get()])  # type: ignore[list-item]
    assert [o.result for o in good.result()] == [Result.ACCEPTED]
    with pytest.raises(Unavailable, match="nothing was stored"):
        bad.result()


def test_after_stop_submissions_are_refused_not_lost(mem: bootstrap.System) -> None:
    pipeline = Pipeline(mem.ingestor)
    pipeline.start()
    pipeline.stop()
    with pytest.raises(Unavailable):
        pipeline.submit_sync([register(mem)])

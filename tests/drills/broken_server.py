"""A deliberately broken build for the crash drill: ``parcelguard`` whose writer answers a write
as soon as it is queued, before its commit (write-behind). The crash drill must catch it losing
acknowledged events; run as ``python -m tests.drills.broken_server serve --port N``."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from parcelguard import cli
from parcelguard.services import pipeline
from parcelguard.services.messages import Command, Outcome, accepted

_enqueue = pipeline.Pipeline._enqueue


def _answer_first(self: pipeline.Pipeline, commands: Sequence[Command],
                  part: int = 0) -> Future[list[Outcome]]:
    _enqueue(self, commands, part)  # the writer commits it later; nobody waits for that
    early: Future[list[Outcome]] = Future()
    early.set_result([accepted() for _ in commands])
    return early


if __name__ == "__main__":
    pipeline.Pipeline._enqueue = _answer_first  # type: ignore[method-assign]
    cli.main()

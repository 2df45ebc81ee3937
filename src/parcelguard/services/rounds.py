"""A background job in rounds: every ``every_s`` seconds, or at once when nudged, on a thread
of its own, until stopped. A round that fails is logged and the next one comes as usual; a
round that reports a full batch is followed at once by another (a backlog)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class Rounds:
    def __init__(self, name: str, every_s: float, round_: Callable[[], bool]) -> None:
        """``round_`` does one round and says whether more is waiting (go again at once)."""
        self.name, self.every_s, self.round_ = name, every_s, round_
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """New work may be waiting: a round now rather than at the next tick."""
        self._wake.set()

    def stop(self) -> None:
        """Let the round in progress finish, then end."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.every_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while self.round_() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("round failed", job=self.name)

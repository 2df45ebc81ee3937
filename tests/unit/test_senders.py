"""Which process sends webhooks and consumer notices: the one told to (an embedded system by
default, in bus mode the worker owning partition 0), and only what the settings turn on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parcelguard import bootstrap
from parcelguard.services.clock import ManualClock
from tests.conftest import settings_for


class _Publisher:
    """Stands in for an API node's publisher: what makes a system a bus-mode API node."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _senders(tmp_path: Path, deliver: bool | None, *, api_node: bool = False,
             **settings: object) -> set[str]:
    system = bootstrap.build(settings_for("memory://", tmp_path, **settings),
                             clock=ManualClock(datetime(2026, 11, 1, tzinfo=UTC)))
    if api_node:
        system.pipeline = _Publisher()  # type: ignore[assignment]
    before = set(threading.enumerate())
    system.start(deliver=deliver)
    try:  # only the threads this system started (another test's may still be ending)
        started = set(threading.enumerate()) - before
        return {t.name for t in started} & {"webhook-deliverer", "notifier"}
    finally:
        system.stop()


@pytest.mark.parametrize("deliver", [None, True])
def test_the_sending_process_runs_what_the_settings_turn_on(tmp_path: Path,
                                                           deliver: bool | None) -> None:
    both = {"webhooks_enabled": True, "notices_enabled": True}
    assert _senders(tmp_path, deliver, **both) == {"webhook-deliverer", "notifier"}
    # a worker told to send (it owns partition 0) still honours webhooks_enabled=false
    assert _senders(tmp_path, deliver, webhooks_enabled=False,
                    notices_enabled=True) == {"notifier"}
    assert _senders(tmp_path, deliver, webhooks_enabled=True,
                    notices_enabled=False) == {"webhook-deliverer"}


def test_a_process_told_not_to_send_sends_nothing(tmp_path: Path) -> None:
    assert _senders(tmp_path, False, webhooks_enabled=True, notices_enabled=True) == set()


def test_an_api_node_sends_nothing_unless_told_to(tmp_path: Path) -> None:
    """In bus mode the worker owning partition 0 sends: an API node does not, by default."""
    both = {"webhooks_enabled": True, "notices_enabled": True}
    assert _senders(tmp_path, None, api_node=True, **both) == set()
    assert _senders(tmp_path, True, api_node=True, **both) == {"webhook-deliverer", "notifier"}

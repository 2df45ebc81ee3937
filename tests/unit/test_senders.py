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


def _senders(tmp_path: Path, deliver: bool | None, **settings: object) -> set[str]:
    system = bootstrap.build(settings_for("memory://", tmp_path, **settings),
                             clock=ManualClock(datetime(2026, 11, 1, tzinfo=UTC)))
    system.start(deliver=deliver)
    try:
        return {t.name for t in threading.enumerate()} & {"webhook-deliverer", "notifier"}
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

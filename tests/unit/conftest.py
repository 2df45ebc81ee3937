"""Unit tests build the real system through bootstrap, on the in-memory store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parcelguard import bootstrap
from parcelguard.services.clock import ManualClock
from tests.conftest import settings_for


@pytest.fixture
def mem(tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.System]:
    sys = bootstrap.build(settings_for("memory://", tmp_path, checkpoint_every=10), clock=clock)
    sys.ingestor.start()
    with sys.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.tenants.add("other", "Other", 0)
        uow.commit()
    return sys

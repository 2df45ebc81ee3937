"""Tamper drill on the stored ledger, on SQLite and PostgreSQL.

The attacker has raw database access: drops the append-only triggers, then edits, deletes,
swaps or truncates rows, or signs checkpoints with a key of their own. ``verify`` finds each
one, with the position.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from parcelguard import bootstrap
from parcelguard.crypto.keys import Ed25519Check, Ed25519Signer
from parcelguard.domain.ledger.merkle import leaf_hash
from parcelguard.services import ledger
from parcelguard.services.clock import ManualClock
from parcelguard.storage.sql import SqlStore
from parcelguard.storage.tables import APPEND_ONLY
from tests.conftest import settings_for
from tests.unit.test_ingest import register, scan


@pytest.fixture
def filled(db_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.System]:
    sys = bootstrap.build(settings_for(db_url, tmp_path, checkpoint_every=10), clock=clock)
    sys.ingestor.start()
    with sys.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()
    sys.ingestor.process([[register(sys)]])
    for h in range(34):
        sys.ingestor.process([[scan(hours=h / 4)]])
    try:
        yield sys
    finally:
        sys.store.close()


def attack(sys: bootstrap.System, *statements: str | tuple[str, dict[str, object]]) -> None:
    assert isinstance(sys.store, SqlStore)
    engine = sys.store.engine
    with engine.begin() as conn:
        for table in APPEND_ONLY:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            else:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        for st in statements:
            sql, params = (st, {}) if isinstance(st, str) else st
            conn.execute(sa.text(sql), params)


def findings(sys: bootstrap.System, check: object = None) -> set[tuple[str, int | None]]:
    with sys.store.unit_of_work(write=False) as uow:
        found = ledger.verify_store(uow, check or sys.check)  # type: ignore[arg-type]
    return {(f.problem, f.position) for f in found}


def body(sys: bootstrap.System, idx: int) -> bytes:
    with sys.store.unit_of_work(write=False) as uow:
        entry = uow.ledger.entry(idx)
    assert entry is not None
    return entry.body


def test_an_untouched_ledger_verifies(filled: bootstrap.System) -> None:
    assert findings(filled) == set()


def test_edit(filled: bootstrap.System) -> None:
    forged = body(filled, 17).replace(b"in_transit", b"delivered")
    attack(filled, ("UPDATE ledger_entries SET body = :b WHERE idx = 17", {"b": forged}))
    assert ("edited", 17) in findings(filled)


def test_edit_with_recomputed_hash(filled: bootstrap.System) -> None:
    forged = body(filled, 12).replace(b"in_transit", b"delivered")
    attack(filled, ("UPDATE ledger_entries SET body = :b, leaf = :l WHERE idx = 12",
                    {"b": forged, "l": leaf_hash(forged)}))
    found = findings(filled)
    assert ("chain", 12) in found
    assert ("root", 20) in found


def test_delete(filled: bootstrap.System) -> None:
    attack(filled, "DELETE FROM ledger_entries WHERE idx = 23")
    assert ("deleted", 23) in findings(filled)


def test_swap(filled: bootstrap.System) -> None:
    five, six = body(filled, 5), body(filled, 6)
    attack(filled,
           ("UPDATE ledger_entries SET body = :b, leaf = :l WHERE idx = 5",
            {"b": six, "l": leaf_hash(six)}),
           ("UPDATE ledger_entries SET body = :b, leaf = :l WHERE idx = 6",
            {"b": five, "l": leaf_hash(five)}))
    found = findings(filled)
    assert ("reordered", 5) in found
    assert ("reordered", 6) in found


def test_truncate(filled: bootstrap.System) -> None:
    attack(filled, "DELETE FROM ledger_entries WHERE idx >= 25")
    assert findings(filled) == {("truncated", 25)}


def test_wrong_key(filled: bootstrap.System) -> None:
    impostor = Ed25519Signer(filled.signer.name, b"\x09" * 32)
    found = findings(filled, Ed25519Check(impostor.verifier_key()))
    assert found == {("signature", 10), ("signature", 20), ("signature", 30)}


def test_a_forged_checkpoint_is_found(filled: bootstrap.System) -> None:
    impostor = Ed25519Signer(filled.signer.name, b"\x09" * 32)
    from parcelguard.domain.ledger.checkpoint import Checkpoint, format_note

    cp = Checkpoint(filled.signer.name, 40, b"\x00" * 32, 0)
    note = format_note(cp.body(), [impostor.sign(cp.body())])
    attack(filled, ("INSERT INTO ledger_checkpoints (size, root, created_at, note) "
                    "VALUES (40, :r, 0, :n)", {"r": b"\x00" * 32, "n": note}))
    assert findings(filled) == {("signature", 40), ("truncated", 35)}

"""Tamper drill on the in-memory ledger: every kind of tampering is found at its position."""

from __future__ import annotations

from dataclasses import replace

import pytest

from parcelguard import bootstrap
from parcelguard.crypto.keys import Ed25519Check, Ed25519Signer
from parcelguard.domain.ledger.audit import Finding
from parcelguard.services import ledger
from parcelguard.services.ports import UnitOfWork
from parcelguard.storage.memory import MemoryStore
from tests.unit.test_ingest import register, scan


@pytest.fixture
def filled(mem: bootstrap.System) -> bootstrap.System:
    """About 35 entries (scans and the alerts they raise), a checkpoint every 10 or more."""
    mem.ingestor.process([[register(mem)]])
    for h in range(34):
        mem.ingestor.process([[scan(hours=h / 4)]])
    return mem


def audit(sys: bootstrap.System) -> list[Finding]:
    uow: UnitOfWork
    with sys.store.unit_of_work() as uow:
        return ledger.verify_store(uow, sys.check)


def data(sys: bootstrap.System):  # type: ignore[no-untyped-def]
    assert isinstance(sys.store, MemoryStore)
    return sys.store.data


def sizes(sys: bootstrap.System) -> list[int]:
    return [c.size for c in data(sys).checkpoints]


def test_an_untouched_ledger_verifies(filled: bootstrap.System) -> None:
    assert audit(filled) == []
    assert len(sizes(filled)) >= 3
    assert all(b - a >= 10 for a, b in zip([0, *sizes(filled)], sizes(filled), strict=False))


def test_an_edited_entry_is_found_at_its_position(filled: bootstrap.System) -> None:
    entries = data(filled).ledger
    entries[17] = replace(entries[17], body=entries[17].body.replace(b"in_transit", b"delivered"))
    problems = {(f.problem, f.position) for f in audit(filled)}
    assert ("edited", 17) in problems
    assert ("root", min(s for s in sizes(filled) if s > 17)) in problems


def test_an_edit_with_a_recomputed_leaf_hash_breaks_the_chain_at_its_position(
    filled: bootstrap.System,
) -> None:
    from parcelguard.domain.ledger.merkle import leaf_hash

    entries = data(filled).ledger
    body = entries[12].body.replace(b"in_transit", b"delivered")
    entries[12] = replace(entries[12], body=body, leaf=leaf_hash(body))
    problems = {(f.problem, f.position) for f in audit(filled)}
    assert ("chain", 12) in problems
    assert ("edited", 12) not in problems


def test_a_deleted_entry_is_found(filled: bootstrap.System) -> None:
    del data(filled).ledger[23]
    problems = {(f.problem, f.position) for f in audit(filled)}
    assert ("deleted", 23) in problems


def test_swapped_entries_are_found(filled: bootstrap.System) -> None:
    entries = data(filled).ledger
    a, b = entries[5], entries[6]
    entries[5], entries[6] = replace(b, index=5), replace(a, index=6)
    problems = {(f.problem, f.position) for f in audit(filled)}
    assert ("reordered", 5) in problems
    assert ("reordered", 6) in problems


def test_a_truncated_log_is_found(filled: bootstrap.System) -> None:
    del data(filled).ledger[25:]
    findings = audit(filled)
    assert [(f.problem, f.position) for f in findings] == [("truncated", 25)]


def test_a_truncation_that_also_drops_checkpoints_is_caught_by_a_checkpoint_kept_elsewhere(
    filled: bootstrap.System,
) -> None:
    kept = data(filled).checkpoints[-1].note
    del data(filled).ledger[25:]
    del data(filled).checkpoints[2:]
    assert audit(filled) == []
    with filled.store.unit_of_work() as uow:
        findings = ledger.verify_store(uow, filled.check, [kept])
    assert [(f.problem, f.position) for f in findings] == [("truncated", 25)]


def test_checkpoints_signed_by_another_key_are_found(filled: bootstrap.System) -> None:
    impostor = Ed25519Signer(filled.signer.name, b"\x09" * 32)
    with filled.store.unit_of_work() as uow:
        findings = ledger.verify_store(uow, Ed25519Check(impostor.verifier_key()))
    assert [(f.problem, f.position) for f in findings] == [("signature", s) for s in sizes(filled)]

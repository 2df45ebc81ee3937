"""Appending to the custody ledger, signing checkpoints, and building proofs from storage.

Storage keeps every leaf hash and the interior nodes of level 8 and up (one row per 128
leaves); any other subtree hash is recomputed from at most 256 leaves. The writer keeps the
tree's right edge (a :class:`Frontier`) in memory so each append costs O(1) hashes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parcelguard.domain import times
from parcelguard.domain.errors import NotFound
from parcelguard.domain.ledger import merkle
from parcelguard.domain.ledger.audit import Finding, StoredEntry, audit
from parcelguard.domain.ledger.checkpoint import Checkpoint, format_note
from parcelguard.domain.ledger.entry import GENESIS, Draft, Sealed, seal
from parcelguard.domain.ledger.merkle import Frontier, Node, node_hash
from parcelguard.services.ports import (
    CheckpointRecord,
    Encoder,
    Ledger,
    SignatureCheck,
    Signer,
    UnitOfWork,
)

STORED_LEVEL = 8  # interior nodes at this level and above are stored
CHECKPOINT_EVERY = 1000
CHECKPOINT_INTERVAL_US = 5 * 60 * 1_000_000


class StoreReader:
    """Subtree hashes from a ledger repository, with the leaves of each tile cached."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._tiles: dict[int, list[bytes]] = {}

    def subtree(self, start: int, level: int) -> bytes:
        if level >= STORED_LEVEL:
            stored = self.ledger.node(level, start >> level)
            if stored is not None:
                return stored
            half = 1 << (level - 1)
            return node_hash(self.subtree(start, level - 1), self.subtree(start + half, level - 1))
        tile = start >> STORED_LEVEL
        leaves = self._tiles.get(tile)
        if leaves is None:
            base = tile << STORED_LEVEL
            leaves = self.ledger.leaves(base, base + (1 << STORED_LEVEL))
            self._tiles[tile] = leaves
        offset = start - (tile << STORED_LEVEL)
        return merkle.root_hash(merkle.LeafReader(leaves[offset : offset + (1 << level)]), 1 << level)


@dataclass(frozen=True, slots=True)
class Snapshot:
    frontier: Frontier
    prev: bytes
    checkpoint_size: int
    checkpoint_at_us: int


class LedgerWriter:
    def __init__(
        self, encode: Encoder, signer: Signer, origin: str,
        every: int = CHECKPOINT_EVERY, interval_us: int = CHECKPOINT_INTERVAL_US,
    ) -> None:
        self.encode, self.signer, self.origin = encode, signer, origin
        self.every, self.interval_us = every, interval_us
        self.frontier = Frontier()
        self.shared = False  # other writers append to the same store (see claim)
        self.prev = GENESIS
        self.checkpoint_size = 0
        self.checkpoint_at_us = 0

    def load(self, uow: UnitOfWork, now_us: int) -> None:
        size = uow.ledger.size()
        self.frontier = Frontier.restore(size, StoreReader(uow.ledger))
        last = uow.ledger.entry(size - 1) if size else None
        self.prev = last.leaf if last else GENESIS
        cp = uow.ledger.latest_checkpoint()
        self.checkpoint_size = cp.size if cp else 0
        self.checkpoint_at_us = cp.created_at_us if cp else now_us

    @property
    def size(self) -> int:
        return self.frontier.size

    def snapshot(self) -> Snapshot:
        return Snapshot(self.frontier.copy(), self.prev, self.checkpoint_size, self.checkpoint_at_us)

    def restore(self, snap: Snapshot) -> None:
        self.frontier = snap.frontier
        self.prev = snap.prev
        self.checkpoint_size, self.checkpoint_at_us = snap.checkpoint_size, snap.checkpoint_at_us

    def append(self, draft: Draft, now_us: int, nodes: list[Node]) -> Sealed:
        """Seal a draft at the end of the log; completed stored-level nodes go to ``nodes``."""
        sealed = seal(draft, self.frontier.size, self.prev, now_us, self.encode)
        nodes.extend(self.frontier.append(sealed.leaf, STORED_LEVEL))
        self.prev = sealed.leaf
        return sealed

    def claim(self, uow: UnitOfWork) -> int:
        """Make the end of the log ours until ``uow`` commits; returns the next index.

        One writer per store owns the log outright. When several writers share a store (bus
        mode: one per worker process), each takes the store's ledger lock for the rest of its
        transaction and first appends to its frontier whatever the others added since.
        """
        if not self.shared:
            return self.frontier.size
        self._catch_up(uow)  # most of the way without the lock (a quiet writer may be far behind)
        uow.ledger.lock()
        self._catch_up(uow)
        cp = uow.ledger.latest_checkpoint()
        if cp is not None and cp.size > self.checkpoint_size:
            self.checkpoint_size, self.checkpoint_at_us = cp.size, cp.created_at_us
        return self.frontier.size

    def _catch_up(self, uow: UnitOfWork) -> None:
        """Append to the frontier the leaves other writers have committed since."""
        size = uow.ledger.size()
        if size > self.frontier.size:
            for leaf in uow.ledger.leaves(self.frontier.size, size):
                self.frontier.append(leaf, STORED_LEVEL)  # their nodes are stored already
                self.prev = leaf

    def checkpoint_due(self, now_us: int) -> bool:
        grown = self.frontier.size - self.checkpoint_size
        return grown >= self.every or (
            grown > 0 and now_us - self.checkpoint_at_us >= self.interval_us
        )

    def checkpoint(self, now_us: int) -> CheckpointRecord:
        cp = Checkpoint(self.origin, self.frontier.size, self.frontier.root(), now_us)
        body = cp.body()
        note = format_note(body, [self.signer.sign(body)])
        self.checkpoint_size, self.checkpoint_at_us = cp.size, now_us
        return CheckpointRecord(cp.size, cp.root, now_us, note)


@dataclass(frozen=True, slots=True)
class Proof:
    index: int
    tree_size: int
    hashes: list[bytes]


def inclusion(uow: UnitOfWork, index: int, cp: CheckpointRecord, reader: StoreReader) -> Proof:
    return Proof(index, cp.size, merkle.inclusion_proof(reader, index, cp.size))


def consistency(uow: UnitOfWork, old_size: int, new_size: int) -> list[bytes]:
    size = uow.ledger.size()
    if not 0 <= old_size <= new_size <= size:
        raise NotFound(f"the ledger has {size} entries; ask for 0 <= first <= second <= {size}")
    return merkle.consistency_proof(StoreReader(uow.ledger), old_size, new_size)


def verify_store(uow: UnitOfWork, check: SignatureCheck, extra_notes: Iterable[str] = ()) -> list[Finding]:
    """Audit the whole stored ledger against its own checkpoints and any held elsewhere."""
    notes = [cp.note for cp in uow.ledger.checkpoints()] + list(extra_notes)
    entries = (StoredEntry(i, body, leaf) for i, body, leaf in uow.ledger.scan())
    return audit(entries, notes, check)


def describe(cp: CheckpointRecord) -> dict[str, object]:
    return {
        "tree_size": cp.size,
        "root_hash": cp.root.hex(),
        "created_at": times.iso_us(cp.created_at_us),
        "note": cp.note,
    }

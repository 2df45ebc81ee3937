"""Checking a stored ledger: finds edited, deleted, reordered and truncated entries.

The auditor reads entries in order of their stored position and checks, for each one, that
its bytes still hash to its stored leaf hash, that it sits at the index it names, and that it
names the previous entry's leaf hash. At each signed checkpoint it compares the Merkle root of
the entries so far, and at the end it checks that no checkpoint is larger than the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from parcelguard.domain.ledger.checkpoint import Signature, parse_body, parse_note
from parcelguard.domain.ledger.entry import GENESIS
from parcelguard.domain.ledger.merkle import Frontier, leaf_hash

SignatureCheck = Callable[[bytes, list[Signature]], bool]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    position: int  # the stored index column
    body: bytes
    leaf: bytes


@dataclass(frozen=True, slots=True)
class Finding:
    position: int | None
    problem: str  # edited | deleted | reordered | chain | root | truncated | signature
    message: str


class Auditor:
    def __init__(self, notes: Iterable[str], check_signature: SignatureCheck) -> None:
        self.findings: list[Finding] = []
        self.checkpoints: dict[int, bytes] = {}
        for note in notes:
            body, signatures = parse_note(note)
            cp = parse_body(body)
            if not check_signature(body, signatures):
                self.findings.append(
                    Finding(cp.size, "signature",
                            f"the checkpoint of size {cp.size} is not signed by the ledger key")
                )
            self.checkpoints[cp.size] = cp.root
        self.frontier = Frontier()
        self.prev_leaf = GENESIS
        self.after_gap = False
        self.count = 0

    def _find(self, position: int | None, problem: str, message: str) -> None:
        self.findings.append(Finding(position, problem, message))

    def feed(self, entry: StoredEntry) -> None:
        expected = self.count
        if entry.position > expected:
            self._find(expected, "deleted",
                       f"entries {expected}..{entry.position - 1} are missing")
            self.after_gap = True
        elif entry.position < expected:
            self._find(entry.position, "reordered",
                       f"position {entry.position} appears twice")
        actual = leaf_hash(entry.body)
        if actual != entry.leaf:
            self._find(entry.position, "edited",
                       f"entry {entry.position} was changed after it was recorded")
        try:
            body = json.loads(entry.body)
            named_index, named_prev = body["index"], bytes.fromhex(body["prev"])
        except (ValueError, KeyError, TypeError):
            self._find(entry.position, "edited", f"entry {entry.position} is not a ledger entry")
            named_index, named_prev = entry.position, self.prev_leaf
        if named_index != entry.position:
            self._find(entry.position, "reordered",
                       f"position {entry.position} holds entry {named_index}")
        elif named_prev != self.prev_leaf and not self.after_gap:
            self._find(entry.position - 1, "chain",
                       f"entry {entry.position - 1} was replaced: entry {entry.position} "
                       "names a different predecessor")
        self.after_gap = False
        self.prev_leaf = entry.leaf
        self.frontier.append(actual)
        self.count = max(self.count, entry.position + 1)
        root = self.checkpoints.get(self.frontier.size)
        if root is not None and root != self.frontier.root():
            self._find(self.frontier.size, "root",
                       f"the entries before position {self.frontier.size} do not match "
                       "the signed checkpoint of that size")

    def finish(self) -> list[Finding]:
        largest = max(self.checkpoints, default=0)
        if largest > self.frontier.size:
            self._find(self.frontier.size, "truncated",
                       f"a checkpoint covers {largest} entries but the log holds "
                       f"{self.frontier.size}: entries {self.frontier.size}..{largest - 1} are gone")
        return self.findings


def audit(
    entries: Iterable[StoredEntry], notes: Iterable[str], check_signature: SignatureCheck
) -> list[Finding]:
    auditor = Auditor(notes, check_signature)
    for entry in entries:
        auditor.feed(entry)
    return auditor.finish()

"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1.

Leaves hash as SHA-256(0x00 || entry), interior nodes as SHA-256(0x01 || left || right).
Proofs are built from a :class:`SubtreeReader` that answers the hash of any complete,
aligned subtree, so storage only needs the leaf hashes and a few stored interior nodes.
Verification follows the RFC's algorithms step by step and checks every hash's length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify, or its parameters are impossible."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class SubtreeReader(Protocol):
    def subtree(self, start: int, level: int) -> bytes:
        """Hash of the complete subtree of 2**level leaves starting at ``start``."""
        ...


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Node:
    level: int
    index: int  # position among the nodes of its level: start >> level
    hash: bytes


class Frontier:
    """The right edge of a tree: the complete subtrees that make up its ``size`` leaves.

    ``hashes`` holds one subtree per set bit of ``size``, largest first. Appending is O(1)
    amortised and the root O(log n), so the writer keeps one in memory.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        self.size = size
        self.hashes = hashes if hashes is not None else []

    @classmethod
    def restore(cls, size: int, reader: SubtreeReader) -> Frontier:
        hashes, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                hashes.append(reader.subtree(start, level))
                start += 1 << level
        return cls(size, hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.hashes))

    def append(self, leaf: bytes, report_from: int = 64) -> list[Node]:
        """Add a leaf hash; returns the completed interior nodes of level >= ``report_from``."""
        completed: list[Node] = []
        h, size, level, hashes = leaf, self.size, 0, self.hashes
        while size & 1:
            h = node_hash(hashes.pop(), h)
            size >>= 1
            level += 1
            if level >= report_from:
                completed.append(Node(level, (self.size + 1 >> level) - 1, h))
        hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            root = node_hash(h, root)
        return root


class LeafReader:
    """A reader over a list of leaf hashes held in memory (tests, small trees)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves

    def subtree(self, start: int, level: int) -> bytes:
        if level == 0:
            return self.leaves[start]
        half = 1 << (level - 1)
        return node_hash(self.subtree(start, level - 1), self.subtree(start + half, level - 1))


def _is_aligned_power(start: int, size: int) -> bool:
    return size & (size - 1) == 0 and start % size == 0


def range_hash(reader: SubtreeReader, start: int, end: int) -> bytes:
    """MTH of the leaves [start, end), for ranges arising in the RFC's recursion."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if _is_aligned_power(start, size):
        return reader.subtree(start, size.bit_length() - 1)
    k = split(size)
    return node_hash(range_hash(reader, start, start + k), range_hash(reader, start + k, end))


def root_hash(reader: SubtreeReader, size: int) -> bytes:
    return range_hash(reader, 0, size)


def inclusion_proof(reader: SubtreeReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(range_hash(reader, start + k, end))
            end = start + k
        else:
            path.append(range_hash(reader, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(reader: SubtreeReader, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            path.append(range_hash(reader, start + k, end))
            end = start + k
        else:
            path.append(range_hash(reader, start, start + k))
            m, start, complete = m - k, start + k, False
    if not complete:
        path.append(range_hash(reader, start, end))
    path.reverse()
    return path


def _check_sizes(*hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ProofError(f"a hash is {len(h)} bytes long, expected {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """Run RFC 9162 section 2.1.3.2 and return the root the proof leads to."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_sizes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    _check_sizes(root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"leaf {index} is not included in the tree of size {size} with this root")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 section 2.1.4.2: the tree ``new_root`` extends the tree ``old_root``."""
    _check_sizes(old_root, new_root, *proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {new_size} cannot extend size {old_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need an empty proof and equal roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the root of size {new_size}")

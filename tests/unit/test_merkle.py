"""RFC 9162 Merkle tree: the RFC 6962 reference vectors, and corrupted proofs rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parcelguard.domain.ledger import merkle as m

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "rfc6962_vectors.json").read_text())
LEAVES = [m.leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves_hex"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots_hex"]]
READER = m.LeafReader(LEAVES)


def hexes(hs: list[bytes]) -> list[str]:
    return [h.hex() for h in hs]


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert m.EMPTY_ROOT.hex() == VECTORS["empty_root_hex"]
    assert m.Frontier().root() == m.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_tree(size: int) -> None:
    assert m.root_hash(READER, size) == ROOTS[size - 1]
    frontier = m.Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    assert frontier.root() == ROOTS[size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-{c['size']}")
def test_inclusion_proofs_match_the_reference(case: dict[str, object]) -> None:
    index, size = int(case["index"]), int(case["size"])  # type: ignore[call-overload]
    proof = m.inclusion_proof(READER, index, size)
    assert hexes(proof) == case["proof"]
    m.verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize("case", VECTORS["consistency"],
                         ids=lambda c: f"{c['old_size']}-{c['new_size']}")
def test_consistency_proofs_match_the_reference(case: dict[str, object]) -> None:
    old, new = int(case["old_size"]), int(case["new_size"])  # type: ignore[call-overload]
    proof = m.consistency_proof(READER, old, new)
    assert hexes(proof) == case["proof"]
    m.verify_consistency(old, new, proof, ROOTS[old - 1], ROOTS[new - 1])


def corrupted_inclusions(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):  # type: ignore[no-untyped-def]
    yield "index-1", (index - 1, size, leaf, proof, root)
    yield "index+1", (index + 1, size, leaf, proof, root)
    yield "index^2", (index ^ 2, size, leaf, proof, root)
    yield "size*2", (index, size * 2, leaf, proof, root)
    yield "size/2", (index, size // 2, leaf, proof, root)
    yield "wrong leaf", (index, size, m.leaf_hash(b"wrong"), proof, root)
    yield "empty root", (index, size, leaf, proof, m.EMPTY_ROOT)
    yield "trailing root", (index, size, leaf, [*proof, root], root)
    yield "preceding root", (index, size, leaf, [root, *proof], root)
    yield "short hash", (index, size, leaf, [*proof[:-1], proof[-1][:31]] if proof else [b""], root)
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield f"flipped bit in proof[{i}]", (index, size, leaf, flipped, root)
    if proof:
        yield "removed component", (index, size, leaf, proof[:-1], root)


@pytest.mark.parametrize("case", VECTORS["inclusion"][1:], ids=lambda c: f"{c['index']}-{c['size']}")
def test_corrupted_inclusion_proofs_are_rejected(case: dict[str, object]) -> None:
    index, size = int(case["index"]), int(case["size"])  # type: ignore[call-overload]
    proof = [bytes.fromhex(h) for h in case["proof"]]  # type: ignore[attr-defined]
    for name, args in corrupted_inclusions(index, size, proof, ROOTS[size - 1], LEAVES[index]):
        with pytest.raises(m.ProofError):
            m.verify_inclusion(*args)
        assert name  # each corruption is named in the generator for the reader


@pytest.mark.parametrize("case", VECTORS["consistency"][1:],
                         ids=lambda c: f"{c['old_size']}-{c['new_size']}")
def test_corrupted_consistency_proofs_are_rejected(case: dict[str, object]) -> None:
    old, new = int(case["old_size"]), int(case["new_size"])  # type: ignore[call-overload]
    proof = [bytes.fromhex(h) for h in case["proof"]]  # type: ignore[attr-defined]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, proof, r1, r2), (old + 1, new, proof, r1, r2), (old ^ 2, new, proof, r1, r2),
        (old, new * 2, proof, r1, r2), (old, new // 2, proof, r1, r2),
        (old, new, proof, m.leaf_hash(b"x"), r2), (old, new, proof, r1, m.leaf_hash(b"x")),
        (old, new, proof, r2, r1), (old, new, [], r1, r2), (old, new, [*proof, r1], r1, r2),
        (old, new, [r2, *proof], r1, r2), (old, new, proof[:-1], r1, r2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, flipped, r1, r2))
    for args in probes:
        with pytest.raises(m.ProofError):
            m.verify_consistency(*args)


@given(st.integers(1, 600), st.data())
def test_every_leaf_of_any_tree_has_a_proof_that_verifies(size: int, data: st.DataObject) -> None:
    leaves = [m.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    reader = m.LeafReader(leaves)
    root = m.root_hash(reader, size)
    index = data.draw(st.integers(0, size - 1))
    m.verify_inclusion(index, size, leaves[index], m.inclusion_proof(reader, index, size), root)
    old = data.draw(st.integers(0, size))
    m.verify_consistency(old, size, m.consistency_proof(reader, old, size),
                         m.root_hash(reader, old), root)


@given(st.integers(0, 2000))
def test_a_frontier_restored_from_subtrees_has_the_same_root(size: int) -> None:
    leaves = [m.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    reader = m.LeafReader(leaves)
    assert m.Frontier.restore(size, reader).root() == m.root_hash(reader, size)

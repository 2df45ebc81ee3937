from __future__ import annotations

import pytest

from parcelguard.crypto.keys import Ed25519Check, Ed25519Signer
from parcelguard.domain.ledger.checkpoint import (
    Checkpoint,
    NoteError,
    format_note,
    parse_body,
    parse_note,
    parse_verifier_key,
)

SIGNER = Ed25519Signer("parcelguard.test/ledger", b"\x07" * 32)


def signed(cp: Checkpoint) -> str:
    body = cp.body()
    return format_note(body, [SIGNER.sign(body)])


def test_a_checkpoint_note_round_trips_and_verifies() -> None:
    cp = Checkpoint("parcelguard.test/ledger", 1024, b"\xab" * 32, 1_795_133_700_000_000)
    note = signed(cp)
    assert note.startswith("parcelguard.test/ledger\n1024\n")
    assert "\n\n\u2014 parcelguard.test/ledger " in note
    body, sigs = parse_note(note)
    assert parse_body(body) == cp
    assert Ed25519Check(SIGNER.verifier_key())(body, sigs)


def test_another_key_or_an_edited_body_does_not_verify() -> None:
    note = signed(Checkpoint("parcelguard.test/ledger", 5, b"\x01" * 32, 0))
    body, sigs = parse_note(note)
    other = Ed25519Signer("parcelguard.test/ledger", b"\x08" * 32)
    assert not Ed25519Check(other.verifier_key())(body, sigs)
    edited = body.replace(b"\n5\n", b"\n6\n")
    assert not Ed25519Check(SIGNER.verifier_key())(edited, sigs)


def test_verifier_keys_are_self_checking() -> None:
    name, public = parse_verifier_key(SIGNER.verifier_key())
    assert (name, public) == ("parcelguard.test/ledger", SIGNER.public_key)
    broken = SIGNER.verifier_key().replace("+", "+0", 1)
    with pytest.raises(NoteError):
        parse_verifier_key(broken)


@pytest.mark.parametrize("text", ["no blank line", "a\nb\n\n\u2014 x !!!\n", "a\n\nnot a sig\n"])
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_note(text)

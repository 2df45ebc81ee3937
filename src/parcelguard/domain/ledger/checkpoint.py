"""Signed checkpoints in the transparency-log note format (C2SP tlog-checkpoint, signed-note).

A checkpoint body is three lines and one extension line::

    parcelguard.example/ledger
    1024
    <base64 root hash>
    time 2026-11-20T08:15:00Z

The signed note appends a blank line and one line per signature,
``— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>``, so tools that read
Go's ``golang.org/x/mod/sumdb/note`` format can check it. Signing itself is a port: this
module only builds and parses the text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput

ED25519 = 0x01
DASH = "\u2014"


class NoteError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    timestamp_us: int

    def body(self) -> bytes:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
            f"time {times.iso_us(self.timestamp_us)}\n"
        ).encode()


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: bytes  # 4 bytes
    signature: bytes


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The one-line verifier key: ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
    encoded = base64.b64encode(bytes([ED25519]) + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>") from None
    if len(raw) != 33 or raw[0] != ED25519 or key_id(name, raw[1:]).hex() != hex_id:
        raise NoteError("the verifier key is not a consistent Ed25519 key")
    return name, raw[1:]


def format_note(body: bytes, signatures: list[Signature]) -> str:
    lines = [
        f"{DASH} {s.name} {base64.b64encode(s.key_id + s.signature).decode()}"
        for s in signatures
    ]
    return body.decode() + "\n" + "\n".join(lines) + "\n"


def parse_note(text: str) -> tuple[bytes, list[Signature]]:
    body, sep, sigs = text.partition("\n\n")
    if not sep:
        raise NoteError("a signed note needs a blank line between body and signatures")
    signatures = []
    for line in sigs.splitlines():
        if not line:
            continue
        try:
            dash, name, encoded = line.split(" ")
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError(f"malformed signature line {line!r}") from None
        if dash != DASH or len(raw) < 5:
            raise NoteError(f"malformed signature line {line!r}")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    return (body + "\n").encode(), signatures


def parse_body(body: bytes) -> Checkpoint:
    try:
        origin, size, root, *extensions = body.decode().rstrip("\n").split("\n")
        root_hash = base64.b64decode(root, validate=True)
        stamp = next(
            (e.removeprefix("time ") for e in extensions if e.startswith("time ")), None
        )
        ts = times.to_us(times.parse(stamp, "time")) if stamp else 0
        return Checkpoint(origin, int(size), root_hash, ts)
    except (ValueError, binascii.Error, InvalidInput) as exc:
        raise NoteError(f"not a checkpoint body: {exc}") from None

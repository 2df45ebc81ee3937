"""Ed25519 signing of ledger checkpoints, AES-GCM sealing of personal data, and key files.

In development, missing keys are generated under the data directory on first start; in
production they must be configured, and placeholder values are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parcelguard.domain.ledger.checkpoint import Signature, key_id, parse_verifier_key, verifier_key


class KeyProblem(ValueError):
    """A key is missing, malformed or a placeholder."""


class Ed25519Signer:
    def __init__(self, name: str, seed: bytes) -> None:
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes_raw()
        self._key_id = key_id(name, self.public_key)

    def sign(self, message: bytes) -> Signature:
        return Signature(self.name, self._key_id, self._key.sign(message))

    def verifier_key(self) -> str:
        return verifier_key(self.name, self.public_key)


class Ed25519Check:
    """Checks that a note carries a valid signature by one given verifier key."""

    def __init__(self, verifier: str) -> None:
        self.name, public = parse_verifier_key(verifier)
        self._id = key_id(self.name, public)
        self._key = Ed25519PublicKey.from_public_bytes(public)

    def __call__(self, body: bytes, signatures: list[Signature]) -> bool:
        for sig in signatures:
            if sig.name != self.name or sig.key_id != self._id:
                continue
            try:
                self._key.verify(sig.signature, body)
                return True
            except InvalidSignature:
                return False
        return False


class AesGcmVault:
    """AES-256-GCM with a random 96-bit nonce per value; HMAC-SHA256 digests for lookups."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KeyProblem("the data key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)
        self._mac_key = hashlib.sha256(b"parcelguard lookup digest\x00" + key).digest()

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return b"\x01" + nonce + self._aead.encrypt(nonce, plaintext, b"parcelguard")

    def open(self, sealed: bytes) -> bytes:
        if sealed[:1] != b"\x01":
            raise KeyProblem("unknown sealed-data version")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], b"parcelguard")
        except InvalidTag:
            raise KeyProblem("sealed data does not open with this data key") from None

    def digest(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()


PLACEHOLDERS = {"", "changeme", "change-me", "secret", "placeholder", "xxx", "test"}


def decode_key(value: str, what: str, size: int) -> bytes:
    if value.strip().lower() in PLACEHOLDERS:
        raise KeyProblem(f"the {what} is a placeholder; generate one with `parcelguard keys generate`")
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        raise KeyProblem(f"the {what} must be base64 of {size} random bytes") from None
    if len(raw) != size:
        raise KeyProblem(f"the {what} must be {size} bytes, got {len(raw)}")
    return raw


def load_or_create(path: Path, size: int, create: bool) -> bytes:
    """A key file holding base64 of ``size`` random bytes; made (mode 600) when allowed."""
    if path.exists():
        return decode_key(path.read_text(), f"key in {path}", size)
    if not create:
        raise KeyProblem(f"no key at {path}; configure one (see docs/operations.md)")
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(raw).decode() + "\n")
    return raw

"""Fast RFC 8785 encoding with msgspec, for values built with ``canonical.jnum``.

msgspec writes sorted keys, minimal string escapes and shortest round-trip doubles; for
every float that ``jnum`` lets through unchanged its spelling equals ECMAScript's, and the
floats it does not are :class:`Num` objects written verbatim. It sorts keys by code point,
which equals RFC 8785's UTF-16 order for keys inside the Basic Multilingual Plane (ledger
entries only have ASCII keys). Tests hold it to the ``rfc8785`` reference.
"""

from __future__ import annotations

import msgspec

from parcelguard.domain.ledger.canonical import Num


def _hook(value: object) -> msgspec.Raw:
    if isinstance(value, Num):
        return msgspec.Raw(value.text.encode())
    raise TypeError(f"{type(value).__name__} is not a JSON value")


_encoder = msgspec.json.Encoder(enc_hook=_hook, order="sorted")


def encode(value: object) -> bytes:
    return _encoder.encode(value)

"""RFC 8785 (JSON Canonicalization Scheme) serialisation of plain JSON values.

Object members are sorted by their names' UTF-16 code units, strings are escaped minimally
and numbers are written as ECMAScript writes a double. The tests compare this encoder with
the ``rfc8785`` reference package.

This module is the reference, in plain Python. Ingest uses a faster encoder (an adapter,
``parcelguard.crypto.canonical``) that agrees with it on every value built with
:func:`jnum`: ledger entries pass each float through ``jnum``, which turns integral floats
into integers and wraps the few doubles a generic encoder would spell differently from
ECMAScript in :class:`Num`, whose text is already canonical.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

_encode_str = json.encoder.encode_basestring
MAX_SAFE_INTEGER = 2**53 - 1


class NotCanonicalizable(ValueError):
    pass


class Num:
    """A number whose canonical text is fixed already (written as is, unquoted)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Num) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Num({self.text})"


def jnum(x: float | None) -> float | int | Num | None:
    """A float made safe for any shortest-round-trip JSON encoder to write canonically."""
    if x is None:
        return None
    if x.is_integer():
        if -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER:
            return int(x)
        return Num(number(x))
    if 1e-5 <= abs(x) < 1e16:
        return x
    return Num(number(x))


def dumps(value: object) -> bytes:
    return _encode(value).encode()


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be")


def _encode(value: object) -> str:
    if isinstance(value, str):
        return str(_encode_str(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return str(value)
        raise NotCanonicalizable(f"integer {value} is outside the IEEE 754 safe range")
    if isinstance(value, float):
        return number(value)
    if isinstance(value, Num):
        return value.text
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise NotCanonicalizable("object keys must be strings")
        items = [f"{_encode_str(key)}:{_encode(value[key])}" for key in sorted(value, key=_utf16)]
        return "{" + ",".join(items) + "}"
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise NotCanonicalizable(f"{type(value).__name__} is not a JSON value")


def number(x: float) -> str:
    """A double as ECMAScript's Number.prototype.toString writes it."""
    if not math.isfinite(x):
        raise NotCanonicalizable(f"{x} has no JSON representation")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    n = len(whole) + int(exp or 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = (digits if k == 1 else digits[0] + "." + digits[1:]) + (
            f"e+{e}" if e >= 0 else f"e-{-e}"
        )
    return sign + text

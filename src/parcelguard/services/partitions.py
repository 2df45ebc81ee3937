"""Partitions of the ingest stream in bus mode: which one a parcel (or vehicle) belongs to.

The hash must give the same answer in every process and every Python version, so it is
CRC-32 of the key's UTF-8 bytes (``hash()`` is salted per process).
"""

from __future__ import annotations

import zlib

from parcelguard.domain.errors import InvalidInput

DEFAULT_PARTITIONS = 16


def partition_of(key: str, count: int) -> int:
    return zlib.crc32(key.encode()) % count


def parse_range(text: str, count: int) -> list[int]:
    """``"0-7"``, ``"3"`` or ``"0-3,8-11"``: the partitions named, each checked against ``count``."""
    chosen: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            raise InvalidInput("partitions", f"expected ranges like 0-7 or 0-3,8-11, got {text!r}") \
                from None
        if not 0 <= lo <= hi < count:
            raise InvalidInput("partitions", f"expected partitions between 0 and {count - 1}, "
                               f"got {part.strip()!r}")
        chosen.update(range(lo, hi + 1))
    return sorted(chosen)

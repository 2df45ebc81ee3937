"""Carrier push adapters: one module per wire format, all with the same shape.

Each module has a ``FORMAT`` name, a ``STATUS_CODES`` table (data, not if-chains), a
``verify`` for its signature scheme, one ``parse`` and the entry point ``handle``, which
verifies the raw bytes first and fails closed, then parses::

    push = FORMATS["kdniao"].handle(body, headers, app_key, now=clock.now())
    push.events        # TrackingEvent list, source = the format name
    push.reply         # the bytes the provider expects back, with HTTP 200

``handle`` raises only ``Unauthorized`` (bad or missing signature), ``Unparsable`` (not the
format) and ``InvalidInput`` (a bad field, named by its path); ``generic`` also ``TooLarge``.
Adding a carrier is filling in the blanks of a copy of the closest module, then adding it to
``FORMATS`` and a folder of golden cases under ``tests/data/carriers/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Protocol

from parcelguard.ingest.carriers import aftership, generic, kdniao, kuaidi100, track17
from parcelguard.ingest.carriers.common import Push, Table


class Adapter(Protocol):
    """What every adapter module provides."""

    FORMAT: str
    STATUS_CODES: Table

    def handle(
        self, body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime,
        zone: tzinfo = ..., codes: Table = ...,
    ) -> Push: ...


FORMATS: Mapping[str, Adapter] = {
    m.FORMAT: m for m in (kdniao, kuaidi100, aftership, track17, generic)
}

__all__ = ["FORMATS", "Adapter", "Push"]

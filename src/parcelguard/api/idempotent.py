"""Idempotency-Key: a request a client may send again gets its first answer back.

Sent on a device binding or an alert action (changes without an id of their own), the key
makes a retry safe: within a day it is answered with the first answer, marked
``Idempotent-Replayed: true``, instead of being applied again (``services.idempotency``). In bus
mode the key also names the request's messages, so a retry after an answer that never came
(a 503 whose publish JetStream had stored) is dropped by JetStream's duplicate window.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Header
from fastapi.responses import Response

from parcelguard.api import errors
from parcelguard.bootstrap import System
from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput, ParcelGuardError
from parcelguard.domain.tenancy import Principal

log = structlog.get_logger(__name__)

REPLAYED = "Idempotent-Replayed"


def idempotency_key(
    key: Annotated[str | None, Header(
        alias="Idempotency-Key", description="a key of the caller's for this request (a UUID), "
        "sent again with its retries: for 24 h a retry gets the first answer back and changes "
        "nothing")] = None,
) -> str | None:
    if key is not None and not (0 < len(key) <= 200 and key.isascii() and key.isprintable()):
        raise InvalidInput("Idempotency-Key", "expected 1 to 200 printable ASCII characters, "
                           "e.g. a UUID made for the request and sent again with its retries")
    return key


RequestKey = Annotated[str | None, Depends(idempotency_key)]


@dataclass(frozen=True, slots=True)
class Keyed:
    """A request that may carry a key: ``what`` names its route and resource."""

    key: str | None
    caller: Principal
    what: str
    body: bytes = b""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.what.encode() + b"\x1f" + self.body).hexdigest()

    @property
    def request(self) -> str | None:
        """The name its commands' messages are made from in bus mode: the same request sent
        again by the same caller names them the same, any other request differently."""
        if self.key is None:
            return None
        return f"{self.caller.key_id}\x1f{self.fingerprint}\x1f{self.key}"


async def once(sys: System, req: Keyed, answer: Callable[[], Awaitable[Response]]) -> Response:
    """``answer()``, or with a key already answered the kept answer."""
    if req.key is None:
        return await answer()
    keys, who = sys.request_keys, (req.caller.tenant_id, req.caller.key_id, req.key)
    now = times.to_us(sys.clock.now())
    kept = await asyncio.to_thread(keys.begin, *who, req.fingerprint, now)
    if kept is not None:
        return Response(kept.body, kept.status, media_type="application/json",
                        headers={REPLAYED: "true"})
    given: tuple[int, bytes] | None = None
    try:
        try:
            response = await answer()
        except ParcelGuardError as exc:  # a refusal is an answer too: its retry gets it again
            response = errors.response(exc)
        given = (response.status_code, bytes(response.body))
        return response
    finally:
        try:
            await asyncio.to_thread(keys.end, *who, req.fingerprint, now, given)
        except ParcelGuardError as exc:  # the answer stands; a retry is then applied again
            log.warning("idempotency.not_kept", key_id=req.caller.key_id, reason=exc.message)

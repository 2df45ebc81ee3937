"""Request dependencies: the wired system and the authenticated caller."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from parcelguard.bootstrap import System
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.web import session

# Dependencies are async so FastAPI runs them on the event loop instead of hopping to the thread
# pool for each one. None blocks for long: a key is read from the database at most once per
# cache lifetime, and then only by primary key.


async def system(request: Request) -> System:
    sys: System = request.app.state.system
    return sys


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def principal(request: Request, sys: Annotated[System, Depends(system)]) -> Principal:
    """The key's holder; on reads without a key, the dashboard's signed-in merchant, so its
    pages link straight to the API's files (labels, dossiers, proofs). Writes always need the
    key itself: a cookie never authorises a change (no cross-site requests)."""
    token = _token(request)
    if token is None and request.method in ("GET", "HEAD"):
        signed = session.open_session(request, sys)
        if signed is not None:
            return signed[0]
    return sys.auth.authenticate(token)


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that authenticates the caller and requires ``permission``."""

    async def check(p: Annotated[Principal, Depends(principal)]) -> Principal:
        p.require(permission)
        return p

    return check


SystemDep = Annotated[System, Depends(system)]


def idempotency_key(
    key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str | None:
    """The caller's key for a request it may send again (a retry after no answer): in bus mode
    its commands' messages are named after it, so JetStream drops a copy that arrives within
    the stream's duplicate window (ten minutes)."""
    if key is not None and not (0 < len(key) <= 200 and key.isascii() and key.isprintable()):
        raise InvalidInput("Idempotency-Key", "expected 1 to 200 printable ASCII characters, "
                           "e.g. a UUID made for the request and sent again with its retries")
    return key


RequestKey = Annotated[str | None, Depends(idempotency_key)]


def scoped(key: str | None, caller: Principal, what: str, body: bytes | str = b"") -> str | None:
    """A request key kept apart from the same key sent by another caller, to another route or
    resource, or with another body: only the very same request sent again is recognised."""
    if key is None:
        return None
    data = body.encode() if isinstance(body, str) else body
    return f"{caller.key_id}\x1f{what}\x1f{hashlib.sha256(data).hexdigest()}\x1f{key}"

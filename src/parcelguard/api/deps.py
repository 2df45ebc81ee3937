"""Request dependencies: the wired system and the authenticated caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from parcelguard.bootstrap import System
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



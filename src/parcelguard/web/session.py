"""Dashboard sessions made from an API key.

Signing in with a key sets a cookie holding that key sealed under the data key (AES-GCM): the
key is checked again on every request, so revoking it ends the session within the
authenticator's cache lifetime, and nothing is stored on the server. The cookie is HttpOnly and
SameSite=Strict, and every form post must come from our own origin (no cross-site requests).
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlsplit

from fastapi import Request, Response

from parcelguard.bootstrap import System
from parcelguard.domain.errors import ParcelGuardError
from parcelguard.domain.tenancy import Permission, Principal

COOKIE = "pg_session"
MAX_AGE_S = 12 * 3600


def open_session(request: Request, sys: System) -> tuple[Principal, str] | None:
    """The signed-in caller and their key, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        sealed = sys.vault.open(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        data = json.loads(sealed)
        key, issued = str(data["session_key"]), int(data["issued"])
    except (ValueError, KeyError, TypeError):  # not ours, another data key, an old format
        return None
    # wall time, not the system's clock: that one is event time in replays and runs ×120 in
    # the demo, and a person's session lasts twelve real hours
    if not 0 <= time.time() - issued <= MAX_AGE_S:
        return None  # a copied cookie stops working when the session would have ended
    principal = check_key(sys, key)
    return None if principal is None else (principal, key)


def check_key(sys: System, key: str) -> Principal | None:
    """The key's holder, if it is valid and may see the dashboard."""
    try:
        principal = sys.auth.authenticate(key)
    except ParcelGuardError:
        return None
    if not principal.can(Permission.READ_ALERTS) or not principal.can(Permission.READ_SHIPMENTS):
        return None
    return principal


def start(response: Response, sys: System, key: str, secure: bool) -> None:
    payload = json.dumps({"session_key": key, "issued": int(time.time())}).encode()
    sealed = base64.urlsafe_b64encode(sys.vault.seal(payload)).decode().rstrip("=")
    response.set_cookie(COOKIE, sealed, max_age=MAX_AGE_S, httponly=True, samesite="strict",
                        secure=secure, path="/")


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def same_origin(request: Request) -> bool:
    """A form post from one of our own pages (browsers send Origin on every POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin == f"{request.url.scheme}://{request.url.netloc}"

"""The one place where errors become HTTP answers.

Every error body reads ``{"error": {"code", "message", "field"?}}``: what was wrong, and
for input errors the field and what to send instead. No input produces a 500; an error we did
not foresee is logged with its trace and answered 500 without details.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from parcelguard.domain import errors as e

log = structlog.get_logger(__name__)

STATUS: dict[type[e.ParcelGuardError], int] = {
    e.Unparsable: 400,
    e.InvalidInput: 422,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.TooLarge: 413,
    e.Locked: 423,
    e.RateLimited: 429,
    e.Unavailable: 503,
}


def status_of(exc: e.ParcelGuardError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return {"error": err}


def response(exc: e.ParcelGuardError) -> JSONResponse:
    """The answer to a domain error."""
    field = exc.field if isinstance(exc, e.InvalidInput) else None
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, e.Unauthorized) else None
    return JSONResponse(body(exc.code, exc.message, field), status_of(exc), headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(e.ParcelGuardError)
    async def _domain(_: Request, exc: e.ParcelGuardError) -> JSONResponse:
        return response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc)
        return JSONResponse(
            body("invalid_input", f"{field}: {first.get('msg', 'invalid')}", field), 422
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(body("internal", "an internal error occurred; it was logged"), 500)

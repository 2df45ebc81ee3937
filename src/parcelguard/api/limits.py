"""Request body limits: 413 before a byte over the limit is read into memory, and 408 for a
body that does not arrive in time (a client trickling its body would otherwise hold a
connection and a request for as long as it likes). Once the body is in, reads are not timed:
a streamed answer waits for the client's disconnect as long as it stays."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parcelguard.domain.errors import TooLarge


class BodyTooLarge(TooLarge):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the request body is over {max_bytes} bytes; send smaller batches")


class BodyTimeout(Exception):
    pass


class BodyLimit:
    """``larger``: paths (regular expressions, matched whole) that may carry more, e.g. a
    delivery with its photo."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Mapping[str, int] | None = None, read_timeout_s: float = 30.0) -> None:
        self.app, self.default, self.read_timeout_s = app, max_bytes, read_timeout_s
        self.larger = [(re.compile(p), n) for p, n in (larger or {}).items()]

    def _limit(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.fullmatch(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send, max_bytes)
                    return
        seen = 0
        started = complete = False

        async def limited() -> Message:
            nonlocal seen, complete
            if complete:  # the body is in: a disconnect may be waited for as long as it takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge(max_bytes)
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, max_bytes)
        except BodyTimeout:
            if not started:
                await _refuse(send, 408, "timeout", "the request body did not arrive within "
                              f"{self.read_timeout_s:g} s; send it whole, and promptly")

    async def _reject(self, send: Send, max_bytes: int) -> None:
        await _refuse(send, 413, "too_large", f"the request body is over {max_bytes} bytes; "
                      "send smaller batches")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": payload})

"""What every page shares: templates, our own static files and the npm assets, live changes.

Nothing is loaded from outside the server: htmx (with its SSE extension), Leaflet and uPlot are
served from ``node_modules`` (installed by ``make assets``), and the China basemap is decoded
once from ``echarts@4.9.0``'s compressed ``map/json/china.json`` (web/geo.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from parcelguard.bootstrap import System
from parcelguard.domain.errors import RateLimited, Unparsable
from parcelguard.reports import geo
from parcelguard.web.throttle import LOOKUPS_PER_MINUTE, PerClient
from parcelguard.web.view import local_us

HERE = Path(__file__).parent
NODE = Path("node_modules")
VENDOR = {  # URL folder -> folder in node_modules
    "htmx": NODE / "htmx.org" / "dist",
    "htmx-sse": NODE / "htmx-ext-sse" / "dist",
    "leaflet": NODE / "leaflet" / "dist",
    "uplot": NODE / "uplot" / "dist",
}
CHINA = NODE / "echarts" / "map" / "json" / "china.json"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
templates.env.globals["local"] = local_us  # UTC µs -> "11-24 08:15", China time
templates.env.filters["num"] = lambda v, digits=1: "—" if v is None else f"{v:,.{digits}f}"
Key = tuple[str, str]
ANY = "*"  # (tenant, ANY): any of the tenant's shipments
MAX_STREAMS = 20  # open event streams per parcel (or per tenant's dashboard)


async def _system(request: Request) -> System:
    sys: System = request.app.state.system
    return sys


SystemDep = Annotated[System, Depends(_system)]


class Hub:
    """Page streams waiting for a shipment to change, woken from the writer thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waiting: dict[Key, set[asyncio.Queue[None]]] = {}
        self._lock = threading.Lock()

    def admit(self, key: Key) -> None:
        """429 when ``key`` has as many live pages open as it may."""
        with self._lock:
            if len(self._waiting.get(key, ())) >= MAX_STREAMS:
                raise RateLimited(f"at most {MAX_STREAMS} live pages per parcel or dashboard")

    def watch(self, key: Key) -> asyncio.Queue[None]:
        """Register a stream; the caller forgets it when the stream ends (see event_stream)."""
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=8)
        with self._lock:
            self._waiting.setdefault(key, set()).add(queue)
        return queue

    def forget(self, key: Key, queue: asyncio.Queue[None]) -> None:
        with self._lock:
            queues = self._waiting.get(key)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._waiting[key]

    def changed(self, keys: Iterable[Key]) -> None:
        """Called by the writer after a commit: quick, never blocks."""
        if not self._waiting:
            return
        with self._lock:
            woken: set[asyncio.Queue[None]] = set()
            for key in keys:  # the shipment's page, and its tenant's dashboard
                woken.update(self._waiting.get(key, ()))
                woken.update(self._waiting.get((key[0], ANY), ()))
        for queue in woken:
            self.loop.call_soon_threadsafe(_nudge, queue)


def _nudge(queue: asyncio.Queue[None]) -> None:
    if not queue.full():  # a full queue will wake its reader anyway
        queue.put_nowait(None)


def hub(app: FastAPI) -> Hub:
    found: Hub | None = getattr(app.state, "hub", None)
    if found is None:
        found = app.state.hub = Hub(asyncio.get_running_loop())
        system: System = app.state.system
        system.ingestor.watchers.append(found.changed)
        system.ingestor.listeners.append(  # alert changes (acts on alerts change no shipment)
            lambda changes: found.changed([(c.alert.tenant_id, c.alert.tracking_no)
                                           for c in changes]))
    return found


HEARTBEAT_S = 15.0
Render = Callable[[], Awaitable[list[tuple[str, str]]]]


def event_stream(request: Request, key: Key, render: Render, settle_s: float = 0.0) -> Response:
    """Server-sent events: after each change of ``key`` (a burst of commits counts once, and
    waits ``settle_s`` for more), the events ``render`` gives as (name, data); a comment line
    every 15 s keeps proxies from closing a quiet stream."""

    hub(request.app).admit(key)  # 429 when too many are open already

    async def events() -> AsyncIterator[str]:
        # registered here, not before the response: a body that is never iterated (the
        # client left first) would never reach the finally that forgets it
        changes = hub(request.app).watch(key)
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    await asyncio.wait_for(changes.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if settle_s:
                    await asyncio.sleep(settle_s)
                while not changes.empty():
                    changes.get_nowait()
                for name, data in await render():
                    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
                    yield f"event: {name}\n{lines}\n"
        finally:
            hub(request.app).forget(key, changes)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def read_form(request: Request, max_fields: int = 10) -> dict[str, str]:
    """A small url-encoded form (first value of each field); 400 for anything else."""
    try:
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"),
                          max_num_fields=max_fields)
    except ValueError:
        raise Unparsable("form", f"expected a form of at most {max_fields} fields") from None
    return {k: v[0] for k, v in parsed.items()}


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status,
                                          headers=headers)
    response.headers["Cache-Control"] = "no-store"  # pages show live, personal data
    # share tokens never leave in a Referer; same-origin posts still carry their Origin
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def fragment(request: Request, name: str, **context: Any) -> str:
    return templates.get_template(name).render(request=request, **context)


def install(app: FastAPI) -> None:
    app.state.lookup_throttle = PerClient(LOOKUPS_PER_MINUTE)
    app.mount("/static/pg", StaticFiles(directory=HERE / "static"), name="pg-static")
    for name, folder in VENDOR.items():
        if folder.is_dir():
            app.mount(f"/static/vendor/{name}", StaticFiles(directory=folder),
                      name=f"vendor-{name}")

    @app.get("/static/geo/china.json", include_in_schema=False)
    def china() -> Response:
        if not CHINA.is_file():
            return JSONResponse({"error": {"code": "assets_missing", "message":
                                 "run `make assets` (npm ci) for the offline basemap"}}, 503)
        return Response(geo.china_geojson(CHINA), media_type="application/geo+json",
                        headers={"Cache-Control": "public, max-age=86400"})

"""``create_app(settings)``: the FastAPI application, with its resources in a lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from parcelguard import __version__, bootstrap
from parcelguard.api import errors, metrics, openapi
from parcelguard.api.limits import BodyLimit
from parcelguard.api.routers import (
    alerts,
    claims,
    devices,
    disruptions,
    health,
    hooks,
    ingest,
    ledger,
    notices,
    rules,
    shipments,
    webhooks,
)
from parcelguard.bus.publisher import BusPipeline
from parcelguard.config import Settings
from parcelguard.services import delivery
from parcelguard.web import claims as claim_pages
from parcelguard.web import dashboard, pages, track
from parcelguard.web import notices as notice_pages
from parcelguard.web import ops as ops_pages

SWAGGER = Path("node_modules") / "swagger-ui-dist"
DELIVERY_BODY = delivery.MAX_PHOTO + 1024 * 1024  # the photo, and the form's other fields


def create_app(settings: Settings | None = None, system: bootstrap.System | None = None) -> FastAPI:
    """Build the app. With ``system`` given, the caller owns its start and stop."""
    settings = settings or (system.settings if system else Settings())
    owned = system is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sys = system or bootstrap.build(settings)
        app.state.system = sys
        registry.register(metrics.StatsCollector(sys.stats))
        registry.register(metrics.HooksCollector(sys.hooks))
        if sys.mqtt is not None:
            registry.register(metrics.MqttCollector(sys.mqtt))
        if isinstance(sys.pipeline, BusPipeline):
            registry.register(metrics.BusCollector(sys.pipeline))
        if owned:
            sys.start()
        try:
            yield
        finally:
            if owned:
                sys.stop()

    app = FastAPI(
        title="ParcelGuard", version=__version__, lifespan=lifespan, docs_url=None,
        redoc_url=None,
        description="Parcel tracking with alerts and a tamper-evident custody ledger. "
        "Authenticate with `Authorization: Bearer <key>`.",
    )
    registry = CollectorRegistry()
    app.state.registry = registry
    errors.install(app)
    openapi.install(app)
    for router in (health.router, shipments.router, ingest.router, devices.router, alerts.router,
                   webhooks.router, rules.router, hooks.router, ledger.router, claims.router,
                   notices.router, disruptions.router):
        app.include_router(router)
    app.include_router(track.router)
    app.include_router(notice_pages.router)
    app.include_router(ops_pages.router)
    app.include_router(claim_pages.router)  # before the dashboard's /dashboard/{what}/...
    app.include_router(dashboard.router)
    pages.install(app)
    _docs(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       larger={r"/v1/shipments/[^/]+/delivery": DELIVERY_BODY},  # a photo
                       read_timeout_s=settings.body_timeout_s)
    app.add_middleware(metrics.HttpMetrics, registry=registry)
    return app


def _docs(app: FastAPI) -> None:
    """Swagger UI from our own static files (npm's swagger-ui-dist): no CDN, works offline."""
    if SWAGGER.is_dir():
        app.mount("/static/swagger", StaticFiles(directory=SWAGGER), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if not SWAGGER.is_dir():
            return HTMLResponse(
                "<p>API docs need the front-end assets: run <code>npm ci</code> in the project "
                "folder. The OpenAPI document is at <a href='/openapi.json'>/openapi.json</a>.</p>",
                status_code=503,
            )
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="ParcelGuard API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

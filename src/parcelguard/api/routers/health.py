"""Liveness, readiness and metrics. Open to scrapers and load balancers (no key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from parcelguard.api.deps import SystemDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store answers and the writer runs")
def readyz(sys: SystemDep) -> JSONResponse:
    try:
        with sys.store.unit_of_work(write=False) as uow:
            size = uow.ledger.size()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc)[:200]}, status_code=503)
    if not sys.pipeline.running:
        return JSONResponse({"status": "unavailable", "reason": "writer stopped"}, status_code=503)
    return JSONResponse({"status": "ready", "ledger_size": size})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)

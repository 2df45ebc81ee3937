"""Request bodies are decoded with msgspec (per item, fast); their schemas come from the same
msgspec structs, so the OpenAPI document describes exactly what the decoder accepts."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from parcelguard.ingest import wire

REF = "#/components/schemas/{name}"
_BODIES = (wire.WireShipment, wire.WireEvent, wire.WireReading, wire.WireDevice)
_, COMPONENTS = msgspec.json.schema_components(_BODIES, ref_template=REF)


def _ref(kind: type) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}


def body(kind: type, *, batch: bool = True, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` for a route that takes one ``kind`` object or an array of them."""
    schema: dict[str, Any] = _ref(kind)
    if batch:
        schema = {"oneOf": [_ref(kind), {"type": "array", "items": _ref(kind),
                                         "minItems": 1, "maxItems": wire.MAX_ITEMS}]}
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                              description=app.description)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
            doc["components"]["securitySchemes"] = {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "a key from `parcelguard keys create`"}
            }
            doc["security"] = [{"apiKey": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""The HTTP API: FastAPI app factory, routers, schemas, auth and the one error mapping."""

from parcelguard.api.app import create_app

__all__ = ["create_app"]

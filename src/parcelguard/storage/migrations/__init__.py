"""Alembic migrations of the ParcelGuard schema."""

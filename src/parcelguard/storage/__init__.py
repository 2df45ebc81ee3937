"""Storage adapters: SQLAlchemy Core for SQLite and PostgreSQL, and an in-memory store."""

"""Use cases: ingest, queries, keys and the ledger. Storage, crypto and clocks come in as ports."""

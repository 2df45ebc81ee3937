"""The domain: shipments, events, status, telemetry and the custody ledger.

Pure standard-library code. Nothing here does I/O or imports a framework.
"""

"""ParcelGuard: e-commerce logistics tracking with alerts and a tamper-evident custody ledger."""

__version__ = "0.1.0"

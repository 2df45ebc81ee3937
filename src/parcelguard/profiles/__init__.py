"""Shipped alert profiles (YAML), one file per deployment default."""

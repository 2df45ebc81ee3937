"""Crypto adapters: Ed25519 checkpoint signing, sealing of personal data, canonical JSON."""

"""Inbound adapters: bytes in, commands out. Wire formats, replay files, carrier pushes."""

"""Photos and other evidence, stored content-addressed: the name is the SHA-256 of the bytes.

A directory by default (``<data dir>/blobs/ab/cdef…``); anything with ``put`` and ``get``
(an object store) can stand in. Writing the same bytes twice stores them once; a file is
written to a temporary name and renamed, so a crash never leaves half a photo under its hash.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_HEX = re.compile(r"[0-9a-f]{64}")


class DirectoryBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self._path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return sha

    def get(self, sha256: str) -> bytes | None:
        if not _HEX.fullmatch(sha256):
            return None
        path = self._path(sha256)
        return path.read_bytes() if path.exists() else None

"""China's province outlines for the offline basemap, as plain GeoJSON.

``echarts@4.9.0`` ships ``map/json/china.json`` with its rings compressed: each ring is a string
of character pairs, each pair a zigzag-encoded step in x and y (character code minus 64) from the
previous point, starting at the ring's ``encodeOffsets``, in units of 1/1024 degree. Decoding it
here once gives every page the same GeoJSON without shipping a copy of the data.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCALE = 1024.0


def _zigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)


def decode_ring(encoded: str, offset: list[int], scale: float = SCALE) -> list[list[float]]:
    x, y = offset
    ring = []
    for i in range(0, len(encoded) - 1, 2):
        x += _zigzag(ord(encoded[i]) - 64)
        y += _zigzag(ord(encoded[i + 1]) - 64)
        ring.append([round(x / scale, 5), round(y / scale, 5)])
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])  # GeoJSON rings are closed
    return ring


def decode(data: dict[str, Any]) -> dict[str, Any]:
    """The GeoJSON a compressed echarts map stands for (returned as is when not compressed)."""
    if not data.get("UTF8Encoding"):
        return data
    scale = float(data.get("UTF8Scale") or SCALE)
    features = []
    for f in data["features"]:
        g = f["geometry"]
        offsets = g["encodeOffsets"]
        if g["type"] == "Polygon":
            coords: list[Any] = [decode_ring(r, o, scale)
                                 for r, o in zip(g["coordinates"], offsets, strict=True)]
        else:  # MultiPolygon
            coords = [[decode_ring(r, o, scale) for r, o in zip(poly, offs, strict=True)]
                      for poly, offs in zip(g["coordinates"], offsets, strict=True)]
        props = {k: f["properties"][k] for k in ("id", "name", "cp") if k in f["properties"]}
        features.append({"type": "Feature", "id": f.get("id"), "properties": props,
                         "geometry": {"type": g["type"], "coordinates": coords}})
    return {"type": "FeatureCollection", "features": features}


@functools.cache
def china_geojson(path: Path) -> bytes:
    return json.dumps(decode(json.loads(path.read_text(encoding="utf-8"))),
                      ensure_ascii=False, separators=(",", ":")).encode()

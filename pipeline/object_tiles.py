"""Objects clipped to tiles, the DOTA way, and what a tile's sample and catalog row say of them.

Large detection images are cut into overlapping tiles (DOTA: 1024 px, 200 px overlap), so an
object can straddle tiles. Each object is clipped to each tile as a polygon: kept when at least
``min_inside`` (default 0.7, DOTA's ImgSplit threshold) of its area is inside; a smaller part
is kept too but marked ``truncated`` (trainers and the DOTA metric ignore it, like a
``difficult`` object, so a half-visible plane neither teaches nor penalizes); an object that
does not reach into the tile is dropped. The oriented box is re-fitted to the clipped polygon
(minimum rotated rectangle) and the horizontal box is the clipped polygon's bounds, all in the
sample's pixel coordinates (window offset removed, resampling applied).

A sample's objects go into its ``KEY.json`` (``objects``: ``id``, the object's index in its
image's annotations, so the copies of one object in overlapping tiles are known as one when
images are put back together; ``class``; ``poly``, 4 corners; ``obb``, ``[cx, cy, w, h, angle]``
(radians, ``training.tasks.boxes`` convention); ``hbb``, ``[x1, y1, x2, y2]``; ``difficult``;
``truncated``); its catalog row gets ``classes`` (for
``ringmo query --label``) and ``object_counts`` (JSON, per class).
"""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import shapely
import shapely.affinity

from pipeline.objects import SceneObject, ring_polygon

MIN_INSIDE = 0.7


class TileObjects:
    """A scene's objects, indexed once, clipped per window on demand."""

    def __init__(self, objects: list[SceneObject], min_inside: float = MIN_INSIDE):
        self.objects = list(objects)
        self.min_inside = min_inside
        self.polygons = np.array([ring_polygon(o.ring) for o in self.objects], dtype=object)
        self.areas = shapely.area(self.polygons) if len(self.polygons) else np.zeros(0)
        self.tree = shapely.STRtree(self.polygons)

    def for_window(self, col: float, row: float, width: float, height: float,
                   sample_w: int, sample_h: int) -> list[dict]:
        """Objects of the window ``(col, row, width, height)`` (scene px) in sample pixels."""
        if not self.objects:
            return []
        tile = shapely.box(col, row, col + width, row + height)
        hits = np.sort(self.tree.query(tile, predicate="intersects"))
        sx, sy = sample_w / width, sample_h / height
        out = []
        for i in hits:
            if self.areas[i] <= 0:
                continue
            part = shapely.intersection(self.polygons[i], tile)
            inside = float(part.area / self.areas[i])
            if part.area <= 0:
                continue  # touches the tile's edge only
            part = shapely.affinity.affine_transform(part, [sx, 0, 0, sy, -col * sx, -row * sy])
            out.append({"id": int(i), **describe(self.objects[i], part, inside < self.min_inside)})
        return out


def _obb(rect: shapely.Polygon) -> tuple[list[list[float]], list[float]]:
    """Corners and ``[cx, cy, w, h, angle]`` of a rectangle (angle in ``[-pi/2, pi/2)``)."""
    corners = np.asarray(rect.exterior.coords)[:4]
    if len(corners) < 4:  # a degenerate (line) rectangle
        corners = np.concatenate([corners, corners[-1:].repeat(4 - len(corners), 0)])
    e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
    angle = math.atan2(e1[1], e1[0])
    angle = (angle + math.pi / 2) % math.pi - math.pi / 2
    cx, cy = corners.mean(0)
    return corners.round(2).tolist(), [round(float(cx), 2), round(float(cy), 2), round(float(np.hypot(*e1)), 2),
                                       round(float(np.hypot(*e2)), 2), round(angle, 6)]


def describe(obj: SceneObject, part, truncated: bool) -> dict:
    """The sample-JSON record of one clipped object."""
    rect = shapely.oriented_envelope(part)
    if rect.geom_type != "Polygon":  # a line or point: widen it a hair so it stays a rectangle
        rect = shapely.oriented_envelope(part.buffer(1e-3))
    poly, obb = _obb(rect)
    x1, y1, x2, y2 = (round(float(v), 2) for v in part.bounds)
    return {"class": obj.cls, "poly": poly, "obb": obb, "hbb": [x1, y1, x2, y2],
            "difficult": bool(obj.difficult), "truncated": bool(truncated)}


def row_columns(objects: list[dict]) -> dict:
    """Catalog columns of a tile: ``objects`` (JSON), ``classes`` and ``object_counts``."""
    counts = Counter(o["class"] for o in objects)
    return {"objects": json.dumps(objects, separators=(",", ":")),
            "classes": ",".join(sorted(counts)),
            "object_counts": json.dumps(dict(sorted(counts.items())), separators=(",", ":"))}

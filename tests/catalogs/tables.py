"""Synthetic catalog tables for catalog tests: random footprints with every catalog column."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import shapely

from catalogs.keys import tile_id_for
from catalogs.schema import CATALOG_SCHEMA, KEPT, conform


def random_catalog(n: int, seed: int = 0, *, nongeo: int = 0, diamonds: bool = False,
                   largest: float = 0.02) -> pa.Table:
    """``n`` georeferenced rows in a few clusters plus ``nongeo`` rows without a footprint;
    footprints (half-sides up to ``largest`` degrees) are lon/lat-aligned squares, or
    ``diamonds`` (squares turned 45°: half their bounding box lies outside them)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[2.35, 48.85], [7.5, 46.5], [-9.1, 38.7], [179.8, -17.0]])
    which = rng.integers(0, len(centres), n)
    lon = np.clip(centres[which, 0] + rng.normal(0, 0.3, n), -179.95, 179.95)
    lat = centres[which, 1] + rng.normal(0, 0.3, n)
    half = rng.uniform(0.001, largest, n)
    boxes = shapely.box(lon - half, lat - half, lon + half, lat + half)
    if diamonds:
        boxes = shapely.polygons(np.stack([np.stack([lon - half, lat], 1), np.stack([lon, lat + half], 1),
                                           np.stack([lon + half, lat], 1), np.stack([lon, lat - half], 1)], 1))
    total = n + nongeo
    sensors = np.array(["aerial", "sentinel2", "sentinel1"])[rng.integers(0, 3, total)]
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    acquired = [start + timedelta(days=int(d)) for d in rng.integers(0, 1500, total)]
    columns = {
        "tile_id": [tile_id_for("scene", i, 0, 1, 1, "g") for i in range(total)],
        "scene_id": [f"scene{i % 7}" for i in range(total)],
        "uri": [f"/data/scene{i % 7}.tif" for i in range(total)],
        "sensor": sensors.tolist(),
        "gsd_m": rng.choice([0.5, 10.0, 20.0], total).astype(np.float32),
        "acquired": pa.array(acquired, pa.timestamp("ms", tz="UTC")),
        "geometry": list(shapely.to_wkb(boxes)) + [None] * nongeo,
        "bbox": [
            {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}
            for x0, y0, x1, y1 in shapely.bounds(boxes)
        ] + [None] * nongeo,
        "lon": lon.tolist() + [None] * nongeo,
        "lat": lat.tolist() + [None] * nongeo,
        "georeferenced": [True] * n + [False] * nongeo,
        "quality": rng.uniform(0, 1, total).astype(np.float32),
        "split": rng.choice(["train", "val", "test"], total).tolist(),
        "status": [KEPT] * total,
        "format": ["png"] * total,
        "shard": [f"shards/train-{i % 3:06d}.tar" for i in range(total)],
        "offset": np.arange(total, dtype=np.int64) * 4096,
        "size": np.full(total, 4096, dtype=np.int64),
    }
    return conform(pa.table(columns), CATALOG_SCHEMA)

"""Tiny synthetic corpora for training tests: shards, catalog and manifest as the contract says.

Tiles are smooth fields plus rectangles ("parcels and roofs") and a little noise, so a tiny
model can learn to fill masked pixels from their neighbours. Offsets and sizes are recorded
from the tar writer's position exactly as the packer must record them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import shapely

from catalogs.geoparquet import write_geoparquet
from catalogs.keys import tile_id_for
from catalogs.layout import shard_name
from catalogs.schema import CATALOG_SCHEMA, KEPT, conform
from catalogs.tarformat import SampleTarWriter

_TO_CV = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}


def synthetic_tile(rng: np.random.Generator, size: int, bands: int, dtype=np.uint8) -> np.ndarray:
    """``[size, size, bands]`` of structured content in the dtype's range."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.zeros((size, size, bands))
    for b in range(bands):
        fx, fy, phase = rng.uniform(0.5, 2.0, 2).tolist() + [rng.uniform(0, 6.3)]
        base[:, :, b] = 0.5 + 0.3 * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
    for _ in range(int(rng.integers(2, 6))):
        y0, x0 = rng.integers(0, size - 4, 2)
        h, w = rng.integers(4, max(5, size // 3), 2)
        base[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0.1, 0.9, bands)
    base += rng.normal(0, 0.02, base.shape)
    top = {np.dtype(np.uint8): 255, np.dtype(np.float32): 0.5}.get(np.dtype(dtype), 4000)  # SAR gamma0 ~0..0.5
    return (np.clip(base, 0, 1) * top).astype(dtype)


def scene_like_tile(rng: np.random.Generator, size: int, bands: int, dtype=np.uint8) -> np.ndarray:
    """``[size, size, bands]`` whose bands share one scene, as real multispectral bands do (the
    real stacks under ``shared/realdata`` correlate 0.74-0.99 between bands): one structured field
    (``synthetic_tile``'s content) seen through each band's own gain and offset, plus a little
    band-specific texture and noise."""
    shared = synthetic_tile(rng, size, 1, np.float32)[:, :, 0] / 0.5  # [S, S] in 0..1
    own = synthetic_tile(rng, size, bands, np.float32) / 0.5  # [S, S, C]
    gain, offset = rng.uniform(0.5, 1.0, bands), rng.uniform(0.0, 0.3, bands)
    base = 0.85 * (offset + gain * shared[:, :, None]) + 0.15 * own
    top = {np.dtype(np.uint8): 255, np.dtype(np.float32): 0.5}.get(np.dtype(dtype), 4000)
    return (np.clip(base, 0, 1) * top).astype(dtype)


def encode(array: np.ndarray, fmt: str) -> bytes:
    if fmt == "npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()
    if fmt == "tif":
        from rasterio.io import MemoryFile

        h, w, c = array.shape
        with MemoryFile() as mem:
            with mem.open(driver="GTiff", width=w, height=h, count=c, dtype=str(array.dtype)) as dst:
                dst.write(np.moveaxis(array, 2, 0))
            return bytes(mem.read())
    img = cv2.cvtColor(array, _TO_CV[array.shape[2]]) if array.shape[2] in _TO_CV else array[:, :, 0]
    ok, buf = cv2.imencode(f".{fmt}", img, [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == "jpg" else [])
    assert ok
    return buf.tobytes()


def write_shard(path: Path, samples: list[tuple[str, bytes, str, dict]]) -> list[tuple[int, int]]:
    """Write ``(key, image bytes, fmt, meta)`` samples; return each one's (offset, size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle, SampleTarWriter(handle) as tar:
        return [tar.add(key, [(fmt, image), ("json", json.dumps(meta).encode())])
                for key, image, fmt, meta in samples]


def _write_corpus(root: Path, shard_samples: dict, rows: list[dict], stats: dict) -> Path:
    """Shards, ``catalog/tiles.parquet`` (rows placed at their samples' spans) and a manifest."""
    spans = {}
    for shard, samples in shard_samples.items():
        for (key, *_), span in zip(samples, write_shard(root / shard, samples)):
            spans[key] = span
    for row in rows:
        row["offset"], row["size"] = spans[row["tile_id"]]
    write_geoparquet(conform(pa.Table.from_pylist(rows), CATALOG_SCHEMA), root / "catalog" / "tiles.parquet")
    (root / "manifest.json").write_text(json.dumps({"stats": stats}))
    return root


def make_corpus(root: Path, n: int = 48, size: int = 64, bands: int = 3, fmt: str = "png",
                per_shard: int = 16, sensor: str = "aerial", dtype=np.uint8, seed: int = 0) -> Path:
    """A corpus at ``root``: shards, ``catalog/tiles.parquet`` and ``manifest.json`` with stats."""
    rng = np.random.default_rng(seed)
    rows, pixels, shard_samples = [], [], {}
    for i in range(n):
        tile = synthetic_tile(rng, size, bands, dtype)
        pixels.append(tile.reshape(-1, bands).astype(np.float64))
        key = tile_id_for(f"scene{i % 5}", i, 0, size, size, "test")
        lon, lat = -10 + 20 * i / n, 40 + (i % 7)
        meta = {"tile_id": key, "scene_id": f"scene{i % 5}", "sensor": sensor, "bands": [f"b{b}" for b in range(bands)],
                "dtype": np.dtype(dtype).name, "gsd_m": 1.0, "width": size, "height": size, "lon": lon, "lat": lat,
                "split": "train", "label": None}
        shard = shard_name("train", i // per_shard)
        shard_samples.setdefault(shard, []).append((key, encode(tile, fmt), fmt, meta))
        box = shapely.box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
        rows.append({"tile_id": key, "scene_id": meta["scene_id"], "uri": "synthetic", "sensor": sensor,
                     "band_count": bands, "dtype": meta["dtype"], "format": fmt, "width": size, "height": size,
                     "geometry": shapely.to_wkb(box), "lon": lon, "lat": lat, "status": KEPT, "split": "train",
                     "bbox": dict(zip(("xmin", "ymin", "xmax", "ymax"), box.bounds)), "shard": shard})
    allpix = np.concatenate(pixels)
    stats = {sensor: {"bands": [f"b{b}" for b in range(bands)], "dtype": np.dtype(dtype).name,
                      "mean": allpix.mean(0).tolist(), "std": allpix.std(0).tolist(), "count": n}}
    return _write_corpus(root, shard_samples, rows, stats)


# The layouts of /work/shared/realdata/geotiff (see its SOURCES.md): unidentified 8-bit RGB,
# Landsat 8 B2-B5 uint16 DN, Sentinel-2 20 m bands uint16, Sentinel-1 gamma0 VV float32.
REAL_LAYOUTS = (
    ("unknown", ("b1", "b2", "b3"), np.uint8, "png"),
    ("landsat8", ("blue", "green", "red", "nir"), np.uint16, "png"),
    ("sentinel2", ("B05", "B06", "B07", "B8A", "B11", "B12"), np.uint16, "npy"),
    ("sentinel1", ("VV",), np.float32, "tif"),
)


def make_mixed_corpus(root: Path, per_layout=(16, 10, 8, 6), size: int = 64, per_shard: int = 9,
                      layouts=REAL_LAYOUTS, seed: int = 0) -> Path:
    """A corpus mixing band layouts in its shards (globally shuffled, as the packer writes them),
    with a manifest keyed by layout (``workflows.assemble.normalization_stats``'s records)."""
    from catalogs.layouts import assumed_wavelengths, layout_key, layout_record
    from workflows.layouts import band_wavelengths

    rng = np.random.default_rng(seed)
    tiles, stats = [], {}
    for (sensor, bands, dtype, fmt), n in zip(layouts, per_layout):
        pixels = []
        for _ in range(n):
            tile = scene_like_tile(rng, size, len(bands), dtype)
            pixels.append(tile.reshape(-1, len(bands)).astype(np.float64))
            tiles.append((sensor, bands, np.dtype(dtype).name, fmt, tile))
        allpix = np.concatenate(pixels)
        wavelengths, gsd = band_wavelengths(sensor, bands)
        dname = np.dtype(dtype).name
        stats[layout_key(sensor, bands, dname)] = layout_record(
            sensor, bands, dname, allpix.mean(0), allpix.std(0), n, assumed_wavelengths(bands, dname, wavelengths), gsd)
    rows, shard_samples = [], {}
    for i, t in enumerate(rng.permutation(len(tiles)).tolist()):
        sensor, bands, dname, fmt, tile = tiles[t]
        key = tile_id_for(f"scene{t}", t, 0, size, size, "test")
        lon, lat = -10 + 20 * t / len(tiles), 40 + (t % 7)
        meta = {"tile_id": key, "scene_id": f"scene{t}", "sensor": sensor, "bands": list(bands), "dtype": dname,
                "gsd_m": 10.0, "width": size, "height": size, "lon": lon, "lat": lat, "split": "train", "label": None}
        shard = shard_name("train", i // per_shard)
        shard_samples.setdefault(shard, []).append((key, encode(tile, fmt), fmt, meta))
        box = shapely.box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
        rows.append({"tile_id": key, "scene_id": meta["scene_id"], "uri": "synthetic", "sensor": sensor,
                     "bands": ",".join(bands), "band_count": len(bands), "dtype": dname, "format": fmt,
                     "width": size, "height": size, "geometry": shapely.to_wkb(box), "lon": lon, "lat": lat,
                     "status": KEPT, "split": "train", "bbox": dict(zip(("xmin", "ymin", "xmax", "ymax"), box.bounds)),
                     "shard": shard})
    return _write_corpus(root, shard_samples, rows, stats)

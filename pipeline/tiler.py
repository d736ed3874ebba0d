"""The tile stage: one scene in, candidate rows and staged encoded samples out.

Reads go strip by strip (one row of tiles, chunked by columns on very wide scenes), so each
source block is decoded about once and memory is bounded by one strip plus one batch of
encoded tiles, never a scene. Scaling is fitted once per scene before tiling. Rejected tiles
are measured and recorded but never encoded: encoding is most of this stage's cost.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
from rasterio.enums import Resampling

from catalogs.keys import tile_id_for
from catalogs.schema import CANDIDATE_SCHEMA, KEPT, conform, empty_table
from pipeline.encode import choose_format, encode
from pipeline.gdal_env import gdal_env
from pipeline.hashing import phash_batch, pixel_hash
from pipeline.quality import QualityConfig, assess, band_stats, measure, verdict
from pipeline.scaling import Scaler, fit_scaler
from pipeline.scene import SceneInfo, SensorRule
from pipeline.strips import BandPlan, plan_bands, read_strip, scaler_sample
from pipeline.tile_rows import geo_columns, scene_columns
from pipeline.uris import to_gdal_path
from pipeline.windows import (
    TileGrid, chunk_columns, grid_key, grid_windows, sample_gsd, strip_window, tile_rows,
)


@dataclass(frozen=True)
class TileConfig:
    """Everything that decides which tiles a scene yields and how they are encoded."""

    grid: TileGrid = field(default_factory=TileGrid)
    quality: QualityConfig = field(default_factory=QualityConfig)
    format: str | None = None  # overrides the sensor rule's format when set
    jpeg_quality: int = 95
    webp_lossless: bool = True
    resampling: str = "average"  # a rasterio Resampling name, used when changing GSD
    batch_size: int = 64  # max tiles per strip read (and per pHash batch)
    max_strip_mb: float = 96.0  # wider strips are split by columns
    scaler_pixels: int = 1 << 20  # pixels of the decimated read that fits the scaler


@contextmanager
def open_source(uri: str):
    """Open a scene for reading with the project's GDAL settings (patched in tests)."""
    with gdal_env(uri), rasterio.open(to_gdal_path(uri)) as src:
        yield src


@dataclass(frozen=True)
class _Plan:
    bands: BandPlan
    scaler: Scaler  # source -> sample
    view: Scaler  # source -> 8-bit view for quality and pHash (same as scaler for uint8 out)
    sample_dtype: str
    fmt: str


def _make_plan(src, scene: SceneInfo, rule: SensorRule, config: TileConfig) -> _Plan:
    bands = plan_bands(src, scene.uri, rule.bands, rule.band_names)
    n = len(bands.indexes)
    needs_fit = np.dtype(bands.dtype) != np.uint8 or rule.scaling not in ("auto", "none")
    sample, valid = scaler_sample(src, bands, config.scaler_pixels) if needs_fit else (None, None)
    if sample is None:
        scaler = view = Scaler("none")
    else:
        scaler = fit_scaler(sample, valid, rule, bands.dtype)
        view = scaler
        if scaler.method == "none" and np.dtype(bands.dtype) != np.uint8:
            preview = SensorRule(name=rule.name, scaling="percentile", percentiles=rule.percentiles)
            view = fit_scaler(sample, valid, preview, bands.dtype)
    sample_dtype = scaler.out_dtype or bands.dtype
    fmt = choose_format(sample_dtype, n, config.format or rule.format)
    return _Plan(bands, scaler, view, sample_dtype, fmt)


def _strip_chunks(windows: np.ndarray, plan: _Plan, config: TileConfig, block_cols: int,
                  tile: int) -> list[np.ndarray]:
    """Groups of windows read by one strip each, bounded by ``max_strip_mb`` and batch size."""
    win = int(windows[0, 2])
    step = int(windows[1, 0] - windows[0, 0]) if len(windows) > 1 and windows[1, 1] == 0 else win
    if win != tile and (step * tile) % win:
        # Resampled overlapping windows do not land on whole sample pixels inside a common
        # strip, so each is read (and resampled) on its own.
        return [np.array([i]) for i in range(len(windows))]
    per_col = win * len(plan.bands.indexes) * np.dtype(plan.bands.dtype).itemsize
    max_cols = max(win, min(int(config.max_strip_mb * 1e6 / per_col), config.batch_size * step))
    chunks = []
    for group in tile_rows(windows):
        chunks.extend(chunk_columns(windows, group, max_cols, block_cols))
    return chunks


def _tile_stats(sample: np.ndarray, view: np.ndarray, valid: np.ndarray | None):
    """``(assessment of the 8-bit view, band means, band stds, pooled std)``.

    The verdict uses the 8-bit view; the stored statistics are in sample units.
    """
    if view is sample:
        a, mean, std = measure(sample, valid)
        return a, mean, std, a.std
    a = assess(view, valid)
    stats = band_stats(sample, valid)
    if stats is None:
        return a, None, None, 0.0
    mean, std = stats
    pooled = float(np.sqrt(max(np.mean(std**2 + mean**2) - np.mean(mean) ** 2, 0.0)))
    return a, mean, std, pooled


def _process_chunk(src, plan: _Plan, windows: np.ndarray, chunk: np.ndarray, config: TileConfig,
                   tile: int, resampling: Resampling):
    """Read one strip and yield ``(index, stats, sample, view)`` per window in the chunk."""
    col0, row0, w, h = strip_window(windows, chunk)
    win = int(windows[chunk[0], 2])
    out_hw = (h * tile // win, w * tile // win)
    strip, valid = read_strip(src, plan.bands, (col0, row0, w, h), out_hw, resampling)
    for i in chunk:
        ox = int(windows[i, 0] - col0) * tile // win
        oy = int(windows[i, 1] - row0) * tile // win
        raw = strip[oy:oy + tile, ox:ox + tile]
        tvalid = None if valid is None else valid[oy:oy + tile, ox:ox + tile]
        if tvalid is not None and tvalid.all():
            tvalid = None
        sample = plan.scaler.apply(raw)
        view = sample if plan.view is plan.scaler else plan.view.apply(raw)
        if tvalid is not None and plan.scaler.method != "none":
            sample[~tvalid] = 0
        if view is not sample and tvalid is not None:
            view[~tvalid] = 0
        stats = _tile_stats(sample, view, tvalid)
        yield int(i), stats, sample, view


def _rows_for_chunk(items, plan: _Plan, config: TileConfig, scene: SceneInfo, ids, geo):
    """Turn one chunk's tiles into candidate rows; hash and encode only the kept ones."""
    decided = []
    for i, (a, mean, std, pooled), sample, view in items:
        status, detail = verdict(a, config.quality)
        decided.append((i, a, mean, std, pooled, sample, view, status, detail))
    kept = [d for d in decided if d[7] == KEPT]
    phashes = dict(zip((d[0] for d in kept), phash_batch([d[6] for d in kept]).tolist()))
    profile = geo.profile_for if plan.fmt == "tif" else None
    for i, a, mean, std, pooled, sample, view, status, detail in decided:
        row = {
            "tile_id": ids[i], "valid_frac": a.valid_frac, "std": pooled,
            "entropy": a.entropy, "quality": a.quality, "status": status, "detail": detail,
            "band_mean": None if mean is None else mean.tolist(),
            "band_std": None if std is None else std.tolist(),
        }
        row.update(geo.row(i))
        data = None
        if status == KEPT:
            contiguous = np.ascontiguousarray(sample)
            row["pixel_hash"] = pixel_hash(contiguous)
            row["phash"] = phashes[i]
            data = encode(contiguous, plan.fmt, jpeg_quality=config.jpeg_quality,
                          webp_lossless=config.webp_lossless,
                          profile=profile(i) if profile else None)
        yield row, data


def iter_candidates(scene: SceneInfo, rule: SensorRule, config: TileConfig = TileConfig()
                    ) -> Iterator[tuple[dict, bytes | None]]:
    """Yield one ``(row, encoded bytes or None)`` per grid window, in row-major window order.

    Rows carry every CANDIDATE_SCHEMA column except the ``stage_*`` ones (set by
    :func:`stage_scene`). Bytes are ``None`` exactly for rows rejected by quality.
    """
    tile = config.grid.tile_size
    resampling = Resampling[config.resampling]
    with open_source(scene.uri) as src:
        plan = _make_plan(src, scene, rule, config)
        windows = grid_windows_for(scene, config.grid)
        if len(windows) == 0:
            return
        gkey = grid_key(config.grid)
        ids = [tile_id_for(scene.scene_id, *map(int, w), gkey) for w in windows]
        const = scene_columns(scene, plan.bands.names, plan.sample_dtype, plan.fmt,
                              sample_gsd(scene.gsd_m, config.grid), tile)
        geo = geo_columns(scene, windows, const)
        block_cols = src.block_shapes[plan.bands.indexes[0] - 1][1]
        for chunk in _strip_chunks(windows, plan, config, block_cols, tile):
            items = _process_chunk(src, plan, windows, chunk, config, tile, resampling)
            yield from _rows_for_chunk(items, plan, config, scene, ids, geo)


def grid_windows_for(scene: SceneInfo, grid: TileGrid) -> np.ndarray:
    """The scene's windows (non-georeferenced scenes have no GSD and are tiled natively)."""
    gsd = scene.gsd_m if scene.georeferenced else None
    return grid_windows(scene.width, scene.height, gsd, grid)


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Fixed writer options so the same rows give the same bytes on every run."""
    pq.write_table(table, path, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, row_group_size=1 << 16, store_schema=True)


def stage_scene(scene: SceneInfo, rule: SensorRule, config: TileConfig, staging_dir) -> Path:
    """Tile ``scene`` into ``staging_dir/{scene_id}.tiles`` + ``.parquet``; return the parquet.

    Both files are written under temporary names and renamed, the parquet last: its existence
    means the scene is done, so a rerun skips it (resume) and a killed run leaves no parquet.
    """
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    blob = staging / f"{scene.scene_id}.tiles"
    table_path = staging / f"{scene.scene_id}.parquet"
    if table_path.exists():
        return table_path
    suffix = f".{os.getpid()}.tmp"
    blob_tmp = blob.with_name(blob.name + suffix)
    rel = f"staging/{blob.name}"
    rows, offset = [], 0
    with open(blob_tmp, "wb") as fh:
        for row, data in iter_candidates(scene, rule, config):
            if data is not None:
                fh.write(data)
                row.update(stage_file=rel, stage_offset=offset, stage_size=len(data))
                offset += len(data)
            rows.append(row)
    os.replace(blob_tmp, blob)
    table = pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA) if rows else empty_table(CANDIDATE_SCHEMA)
    table_tmp = table_path.with_name(table_path.name + suffix)
    _write_parquet(conform(table, CANDIDATE_SCHEMA), table_tmp)
    os.replace(table_tmp, table_path)
    return table_path

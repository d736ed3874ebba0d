"""The tile stage: one scene in, candidate rows and staged encoded samples out.

Reads go strip by strip (one row of tiles, chunked by columns on very wide scenes), so each
source block is decoded about once and memory is bounded by one strip plus one batch of
encoded tiles, never a scene. Scaling is fitted once per scene before tiling. Rejected tiles
are measured and recorded but never encoded: encoding is most of this stage's cost.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError

from catalogs.keys import tile_id_for
from catalogs.layout import scene_blob, scene_candidates, within_staging
from catalogs.schema import CANDIDATE_SCHEMA, KEPT, NODATA, UNREADABLE, conform, empty_table
from catalogs.store import Store
from pipeline.dense import SceneLabels, class_pixels, dense_members, members_field, open_masks
from pipeline.encode import FORMATS, choose_format, encode
from pipeline.gdal_env import gdal_env, open_raster
from pipeline.hashing import phash_batch, pixel_hash
from pipeline.object_tiles import TileObjects, row_columns
from pipeline.quality import Assessment, QualityConfig, assess, band_stats, cloud_verdict, measure, verdict
from pipeline.sar import plan_fill, refine_kind
from pipeline.scaling import Scaler, fit_scaler, fit_view
from pipeline.scene import SceneError, SceneInfo, SensorRule
from pipeline.screening import Screen, check_upsample, open_screen
from pipeline.strips import BandPlan, read_strip, scaler_sample
from pipeline.candidate_columns import geo_columns, scene_columns
from pipeline.uris import to_gdal_path
from pipeline.windows import (
    TileGrid, chunk_columns, grid_key, grid_windows, sample_gsd, sample_shape, source_window_size,
    strip_window, tile_rows, whole_sample_gsd,
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
    max_upsample: float = 2.0  # refuse (status too_coarse) a --gsd that upsamples a scene more

    def __post_init__(self):
        if self.resampling not in Resampling.__members__:
            raise ValueError(f"unknown resampling {self.resampling!r}; expected a rasterio Resampling name")
        if self.format not in (None, "auto", *FORMATS):
            raise ValueError(f"unknown sample format {self.format!r}; expected one of {FORMATS}")
        if self.batch_size < 1 or self.max_strip_mb <= 0 or self.scaler_pixels < 1 or self.max_upsample <= 0:
            raise ValueError("batch_size, max_strip_mb, scaler_pixels and max_upsample must be positive")


@contextmanager
def open_scene(uri: str, cache_mb: float = 96.0):
    """Open a scene with the project's GDAL settings (patched in tests to record reads).

    The block cache only needs to hold one strip's blocks (strips that straddle block rows
    reuse them once), so it is sized to a strip instead of GDAL's share of RAM: on a 20k x 20k
    scene a full cache would be most of the task's memory and buy nothing.
    """
    cache_bytes = int(max(16.0, cache_mb) * 2**20)  # an int GDAL_CACHEMAX is in bytes
    with gdal_env(uri, GDAL_CACHEMAX=cache_bytes):
        try:
            src = open_raster(to_gdal_path(uri))
        except RasterioIOError as exc:
            raise SceneError(uri, f"could not be opened for tiling: {exc}") from exc
        with src:
            yield src


@dataclass(frozen=True)
class _Plan:
    """What a scene's tiles are made of, decided once before any tile is read."""

    bands: BandPlan
    scaler: Scaler  # source -> sample (identity unless the rule asks scale: display)
    view: Scaler  # source -> 8-bit view for quality and pHash (same as scaler for uint8 out)
    sample_dtype: str
    fmt: str
    sar: str | None = None  # SAR value kind (pipeline.sar), None for optical data


def _make_plan(src, scene: SceneInfo, rule: SensorRule, config: TileConfig) -> _Plan:
    """Bands, the scene's scalers (fitted on valid pixels of a decimated read) and the format.

    Samples keep native values unless the rule asks ``scale: display``; non-uint8 data gets
    an 8-bit view (percentiles, in dB for SAR) so quality and pHash see 8-bit pixels.
    """
    bands, kind = plan_fill(src, scene, rule)
    explicit = rule.scale == "display" and rule.scaling not in ("auto", "none")
    needs_fit = np.dtype(bands.dtype) != np.uint8 or explicit
    sample, valid = scaler_sample(src, bands, config.scaler_pixels) if needs_fit else (None, None)
    if kind is not None and sample is not None and rule.sar is None and np.dtype(bands.dtype).kind == "f":
        bands, kind = refine_kind(bands, kind, rule, scene, sample, valid)
    if sample is None:
        scaler = view = Scaler("none")
    else:
        scaler = fit_scaler(sample, valid, rule, bands.dtype, kind)
        view = scaler if scaler.method != "none" else fit_view(sample, valid, rule, bands.dtype, kind)
    sample_dtype = scaler.out_dtype or bands.dtype
    fmt = choose_format(sample_dtype, len(bands.indexes), config.format or rule.format)
    return _Plan(bands, scaler, view, sample_dtype, fmt, kind)


def _strip_chunks(windows: np.ndarray, plan: _Plan, config: TileConfig, block_cols: int,
                  win: int, step: int) -> list[np.ndarray]:
    """Groups of windows read by one strip each, bounded by ``max_strip_mb`` and batch size."""
    tile = config.grid.tile_size
    if win != tile and (step * tile) % win:
        # Resampled overlapping windows do not land on whole sample pixels inside a common
        # strip, so each is read (and resampled) on its own.
        return [np.array([i]) for i in range(len(windows))]
    # bytes per source column of the strip buffer (upsampling widens it by tile / win)
    pixel_bytes = len(plan.bands.indexes) * np.dtype(plan.bands.dtype).itemsize
    per_col = max(win, tile) * max(1.0, tile / win) * pixel_bytes
    max_cols = max(win, min(int(config.max_strip_mb * 2**20 / per_col), config.batch_size * step))
    chunks = []
    for group in tile_rows(windows):
        chunks.extend(chunk_columns(windows, group, max_cols, block_cols))
    return chunks


@dataclass
class _Tile:
    """One window on its way to a row: pixels, measurements and the decision."""

    index: int
    sample: np.ndarray | None = None  # [T, T, C] sample units
    view: np.ndarray | None = None  # [T, T, C] uint8 (the sample itself when uint8)
    valid: np.ndarray | None = None  # [T, T] bool, None = all valid
    error: str | None = None  # the read failed: status UNREADABLE
    cloud_frac: float | None = None  # None: not measured (no QA, no usable optical bands)
    shadow_frac: float | None = None


def _measure(t: _Tile) -> tuple[Assessment, list | None, list | None, float]:
    """(assessment of the 8-bit view, band means, band stds, pooled std in sample units)."""
    if t.view is t.sample:
        a, mean, std = measure(t.sample, t.valid)
        return a, _aslist(mean), _aslist(std), a.std
    a = assess(t.view, t.valid)
    stats = band_stats(t.sample, t.valid)
    if stats is None:
        return a, None, None, 0.0
    mean, std = stats
    pooled = float(np.sqrt(max(np.mean(std**2 + mean**2) - np.mean(mean) ** 2, 0.0)))
    return a, mean.tolist(), std.tolist(), pooled


def _aslist(values) -> list | None:
    return None if values is None else values.tolist()


def _read_screened(src, plan: _Plan, screen: Screen, window, out_hw, resampling: Resampling):
    """A strip, its validity with collars marked invalid, and its QA window (or None)."""
    strip, valid = read_strip(src, plan.bands, window, out_hw, resampling)
    collar = screen.collar_mask(strip, window)
    if collar is not None:
        valid = ~collar if valid is None else valid & ~collar
        strip[collar] = plan.bands.fill
    return strip, valid, screen.read_qa(window, out_hw)


def _read_chunk(src, plan: _Plan, screen: Screen, windows: np.ndarray, chunk: np.ndarray,
                tile_hw: tuple[int, int], resampling: Resampling) -> list[_Tile]:
    """Read one strip and cut it into ``tile_hw`` tiles; a failed strip is retried tile by tile."""
    th, tw = tile_hw
    col0, row0, w, h = strip_window(windows, chunk)
    win_w, win_h = int(windows[chunk[0], 2]), int(windows[chunk[0], 3])
    try:
        strip, valid, qa = _read_screened(src, plan, screen, (col0, row0, w, h),
                                          (h * th // win_h, w * tw // win_w), resampling)
    except RasterioIOError as exc:
        if len(chunk) > 1:  # isolate the bad window(s): retry one window at a time
            singles = (np.array([i]) for i in chunk)
            return [t for one in singles
                    for t in _read_chunk(src, plan, screen, windows, one, tile_hw, resampling)]
        return [_Tile(int(chunk[0]), error=f"read failed: {exc}")]
    tiles = []
    for i in chunk:
        ox = int(windows[i, 0] - col0) * tw // win_w
        oy = int(windows[i, 1] - row0) * th // win_h
        raw = strip[oy:oy + th, ox:ox + tw]
        tvalid = None if valid is None else valid[oy:oy + th, ox:ox + tw]
        if tvalid is not None and tvalid.all():
            tvalid = None
        cloud, shadow = screen.clouds(raw, tvalid, None if qa is None else qa[oy:oy + th, ox:ox + tw])
        # a view of the strip, not a copy: measuring and encoding read a tile whose rows are
        # strided as is, the pixel hash copies it into a reused buffer (a new copy cost ~0.5 ms
        # a 512² RGB tile, most of it faulting in new memory)
        sample = plan.scaler.apply(raw)
        view = sample if plan.view is plan.scaler else plan.view.apply(raw)
        if tvalid is not None:
            if plan.scaler.method != "none":
                sample[~tvalid] = 0
            if view is not sample:
                view[~tvalid] = 0
        tiles.append(_Tile(int(i), sample, view, tvalid, cloud_frac=cloud, shadow_frac=shadow))
    return tiles


def _rows_for_chunk(tiles: list[_Tile], plan: _Plan, config: TileConfig, ids, geo, dense=None,
                    objects: TileObjects | None = None):
    """Turn one chunk's tiles into candidate rows; hash and encode only the kept ones.

    ``dense`` (a :class:`_DenseReader`) appends the mask and second-date members of kept tiles
    to their staged bytes, cut from the same window; ``objects`` (detection) adds each window's
    clipped objects to its row.
    """
    rows = []
    for t in tiles:
        row = {"tile_id": ids[t.index], **geo.row(t.index)}
        if objects is not None:
            row.update(row_columns(objects.for_window(row["col_off"], row["row_off"], row["win_width"],
                                                      row["win_height"], row["width"], row["height"])))
        if t.error is not None:
            row.update(status=UNREADABLE, detail=t.error)
        elif geo.off_earth(t.index):
            row.update(valid_frac=0.0, status=NODATA, detail="off the Earth (no footprint)")
        else:
            a, mean, std, pooled = _measure(t)
            status, detail = verdict(a, config.quality)
            if status == KEPT:
                status, detail = cloud_verdict(t.cloud_frac, config.quality)
            row.update(valid_frac=a.valid_frac, std=pooled, entropy=a.entropy, quality=a.quality,
                       band_mean=mean, band_std=std, status=status, detail=detail,
                       cloud_frac=t.cloud_frac, shadow_frac=t.shadow_frac)
        rows.append(row)
    kept = [k for k, row in enumerate(rows) if row["status"] == KEPT]
    phashes = phash_batch([tiles[k].view for k in kept]).tolist()
    out: list[tuple[dict, bytes | None]] = [(row, None) for row in rows]
    for k, ph in zip(kept, phashes):
        t = tiles[k]
        sample = t.sample
        profile = geo.profile_for(t.index) if plan.fmt == "tif" else None
        data = encode(sample, plan.fmt, jpeg_quality=config.jpeg_quality,
                      webp_lossless=config.webp_lossless, profile=profile)
        rows[k].update(pixel_hash=pixel_hash(sample), phash=ph)
        if dense is not None:
            members, counts = dense.members(t.index, sample.shape[:2], plan, config)
            rows[k].update(members=members_field(members), class_pixels=counts)
            data += b"".join(m for _, m in members)
        out[k] = (rows[k], data)
    return out


def _on_scene_grid(pair, scene: SceneInfo, uri: str):
    """The second date as is when it shares the first's grid, else warped onto it (bilinear).

    Co-registered georeferenced scenes on other grids (another GSD, another CRS) are read
    through a ``WarpedVRT`` onto the first date's pixel grid, so both dates share every window.
    """
    same = (pair.width, pair.height) == (scene.width, scene.height)
    if pair.crs and scene.georeferenced and scene.crs:
        if same and tuple(pair.transform)[:6] == tuple(scene.transform)[:6]:
            return pair
        from affine import Affine
        from rasterio.vrt import WarpedVRT

        return WarpedVRT(pair, crs=scene.crs, transform=Affine(*scene.transform[:6]), width=scene.width,
                         height=scene.height, resampling=Resampling.bilinear)
    if not same:
        raise SceneError(scene.uri, f"second date {uri} is {pair.width}x{pair.height} px, the first "
                                    f"{scene.width}x{scene.height}, and they are not both georeferenced")
    return pair


class _DenseReader:
    """The mask (and, for change detection, the second date) of a scene's windows."""

    def __init__(self, scene: SceneInfo, labels: SceneLabels, windows: np.ndarray, resampling: Resampling):
        self.windows, self.resampling, self.pair = windows, resampling, None
        self.masks = open_masks(scene, labels)
        if labels.pair_uri:
            try:
                self.pair = open_raster(to_gdal_path(labels.pair_uri))
            except RasterioIOError as exc:
                raise SceneError(scene.uri, f"second date {labels.pair_uri} cannot be opened: {exc}") from exc
            self.pair = _on_scene_grid(self.pair, scene, labels.pair_uri)

    def members(self, index: int, tile_hw, plan: _Plan, config: TileConfig):
        """``([(member name, bytes)], per-class pixel counts)`` of window ``index``."""
        window = tuple(int(v) for v in self.windows[index])
        mask = self.masks.read(window, tuple(tile_hw))
        pair = None
        if self.pair is not None:
            raw, _ = read_strip(self.pair, plan.bands, window, tuple(tile_hw), self.resampling)
            pair = plan.scaler.apply(raw)
        members = dense_members(mask, pair, plan.fmt, jpeg_quality=config.jpeg_quality,
                                webp_lossless=config.webp_lossless)
        return members, class_pixels(mask)

    def close(self) -> None:
        self.masks.close()
        if self.pair is not None:
            source = getattr(self.pair, "src_dataset", None)
            self.pair.close()
            if source is not None:
                source.close()


def iter_candidates(scene: SceneInfo, rule: SensorRule, config: TileConfig = TileConfig(),
                    labels: SceneLabels | None = None, objects: TileObjects | None = None
                    ) -> Iterator[tuple[dict, bytes | None]]:
    """Yield one ``(row, encoded bytes or None)`` per grid window, in row-major window order.

    Rows carry every CANDIDATE_SCHEMA column except the ``stage_*`` ones (set by
    :func:`stage_scene`). Bytes are ``None`` exactly for rows not KEPT (quality rejections,
    unreadable windows). A scene that cannot be opened or planned raises. With ``labels``
    (dense tasks) the bytes of a kept row are the image followed by its ``members``; ``objects``
    (detection builds) adds each window's clipped objects to its row (``pipeline.object_tiles``).
    """
    grid = config.grid
    gsd = scene.gsd_m if scene.georeferenced else None  # no GSD known: tile natively
    check_upsample(scene, config.grid.target_gsd_m, config.max_upsample, rule.allow_upsample)
    windows = grid_windows(scene.width, scene.height, gsd, grid)
    win, step = source_window_size(gsd, grid)
    if len(windows) == 0:
        raise SceneError(scene.uri, f"{scene.width}x{scene.height} px is smaller than one tile "
                                    f"({win} source px at this GSD); edge=pad would keep it as one padded tile")
    tile_hw = sample_shape(scene.width, scene.height, grid)
    gkey = grid_key(grid)
    ids = [tile_id_for(scene.scene_id, *map(int, w), gkey) for w in windows]
    with open_scene(scene.read_uri or scene.uri, config.max_strip_mb) as src:
        plan = _make_plan(src, scene, rule, config)
        yield from _tile_scene(src, scene, plan, config, windows, ids, tile_hw, (win, step), labels, objects)


def _tile_scene(src, scene: SceneInfo, plan: _Plan, config: TileConfig, windows, ids, tile_hw, win_step,
                labels=None, objects=None):
    """Rows of every window of an open scene, strip by strip, screened."""
    grid, (win, step) = config.grid, win_step
    resampling = Resampling[config.resampling]
    gsd = scene.gsd_m if scene.georeferenced else None
    with open_screen(src, scene, plan.bands, sar=plan.sar is not None) as screen:
        out_gsd = whole_sample_gsd(gsd, scene.width, grid) if grid.whole else sample_gsd(gsd, grid)
        const = scene_columns(scene, plan.bands.names, plan.sample_dtype, plan.fmt, out_gsd, tile_hw[1])
        const["height"] = tile_hw[0]
        geo = geo_columns(scene, windows, const)
        block_cols = src.block_shapes[plan.bands.indexes[0] - 1][1]
        chunks = [np.arange(1)] if grid.whole else _strip_chunks(windows, plan, config, block_cols, win, step)
        dense = None if labels is None else _DenseReader(scene, labels, windows, resampling)
        try:
            for chunk in chunks:
                tiles = _read_chunk(src, plan, screen, windows, chunk, tile_hw, resampling)
                yield from _rows_for_chunk(tiles, plan, config, ids, geo, dense, objects)
        finally:
            if dense is not None:
                dense.close()


def _write_parquet(table: pa.Table, sink) -> None:
    """Fixed writer options so the same rows give the same bytes on every run."""
    pq.write_table(table, sink, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, row_group_size=1 << 16, store_schema=True)


def stage_scene(scene: SceneInfo, rule: SensorRule, config: TileConfig, staging_dir, *,
                checkpoint: Callable[[str], None] | None = None, labels: SceneLabels | None = None,
                objects: TileObjects | None = None) -> str:
    """Tile ``scene`` into ``staging_dir/{scene_id}.tiles`` + ``.parquet``; return the parquet.

    ``staging_dir`` is a local path or an fsspec URL. Both files are written atomically
    (:func:`catalogs.store.atomic_output`), the parquet last: its existence means the scene is
    done, so a rerun skips it (resume) and a killed run leaves no parquet. ``stage_file`` is
    relative to the corpus root, i.e. ``staging_dir`` is ``CORPUS/staging``. ``checkpoint`` (the
    build's fault-injection hook) is called with ``"candidate"`` after each row and
    ``"blob_renamed"`` between the two files. A failed write (disk full) raises an ``OSError``
    naming the file.
    """
    staging = Store(staging_dir)
    blob, table_name = scene_blob(scene.scene_id), within_staging(scene_candidates(scene.scene_id))
    if staging.exists(table_name):
        return staging.url(table_name)
    with staging.writing(within_staging(blob), streamed=True) as fh:
        rows = _write_blob(scene, rule, config, fh, blob, checkpoint, labels, objects)
    if checkpoint is not None:
        checkpoint("blob_renamed")
    table = pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA) if rows else empty_table(CANDIDATE_SCHEMA)
    with staging.writing(table_name) as fh:
        _write_parquet(conform(table, CANDIDATE_SCHEMA), fh)
    return staging.url(table_name)


def _write_blob(scene: SceneInfo, rule: SensorRule, config: TileConfig, fh, rel: str,
                checkpoint: Callable[[str], None] | None = None, labels: SceneLabels | None = None,
                objects: TileObjects | None = None) -> list[dict]:
    """Stream the scene's encoded samples into ``fh``; return the rows with their byte ranges."""
    rows, offset = [], 0
    for row, data in iter_candidates(scene, rule, config, labels, objects):
        if data is not None:
            fh.write(data)
            row.update(stage_file=rel, stage_offset=offset, stage_size=len(data))
            offset += len(data)
        rows.append(row)
        if checkpoint is not None:
            checkpoint("candidate")
    return rows



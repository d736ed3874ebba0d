"""Window maths for tiling: which source windows a tile grid produces, and how to read them.

Pure functions over integers and arrays (no file is opened), in the spirit of
``rasterio.windows``. Windows are ``[N, 4]`` int64 arrays of ``col_off, row_off, width, height``
in *source* pixel coordinates: when resampling to a target GSD a window covers
``tile_size * target / source`` source pixels and is resampled to ``tile_size`` on read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGES = ("pad", "drop", "shift")


@dataclass(frozen=True)
class TileGrid:
    """Tile size and stride in *sample* pixels; ``stride < tile_size`` makes tiles overlap.

    ``edge="pad"`` keeps the partial tiles at the right/bottom edges (filled with nodata, which
    the mask records); ``"drop"`` keeps only tiles fully inside the scene; ``"shift"`` moves the
    last window of a row or column back so it ends at the scene's edge (DOTA's ImgSplit: every
    pixel covered, no padding; a scene smaller than a tile gets one padded window).

    ``whole=True`` makes one window of the whole scene (a labeled image is one sample, as in
    UC Merced / AID / NWPU-RESISC45): ``tile_size`` is then the side it is resized to, or 0 to
    keep the image's own width and height. It reads the whole image at once, which is meant for
    image-sized inputs, not for scenes of tens of thousands of pixels.
    """

    tile_size: int = 512
    stride: int | None = None  # None: stride = tile_size (no overlap)
    target_gsd_m: float | None = None  # None: keep the source GSD
    edge: str = "pad"
    whole: bool = False

    def __post_init__(self):
        if self.whole:
            if self.tile_size < 0 or self.stride is not None or self.target_gsd_m is not None:
                raise ValueError("a whole-image grid takes only a resize side (tile_size >= 0; 0 keeps "
                                 "the size): no stride and no target GSD")
        elif self.tile_size <= 0:
            raise ValueError(f"tile_size must be positive, got {self.tile_size}")
        if self.stride is not None and self.stride <= 0:
            raise ValueError(f"stride must be positive, got {self.stride}")
        if self.edge not in EDGES:
            raise ValueError(f"edge must be one of {EDGES}, got {self.edge!r}")
        if self.target_gsd_m is not None and self.target_gsd_m <= 0:
            raise ValueError(f"target_gsd_m must be positive, got {self.target_gsd_m}")

    @property
    def step(self) -> int:
        return self.stride or self.tile_size


def grid_key(grid: TileGrid) -> str:
    """The grid part of a tile id: changes whenever the grid would produce other pixels."""
    if grid.whole:
        return f"whole{grid.tile_size or 'native'}"
    gsd = "native" if grid.target_gsd_m is None else f"{grid.target_gsd_m:g}"
    return f"t{grid.tile_size}s{grid.step}g{gsd}e{grid.edge}"


def source_scale(src_gsd: float | None, grid: TileGrid) -> float:
    """Source pixels per sample pixel (> 1 downsamples). 1 when there is nothing to resample.

    A scene of unknown GSD (not georeferenced) cannot be resampled to a GSD, so it is tiled
    at its native resolution.
    """
    if grid.target_gsd_m is None or not src_gsd:
        return 1.0
    return float(grid.target_gsd_m) / float(src_gsd)


def source_window_size(src_gsd: float | None, grid: TileGrid) -> tuple[int, int]:
    """(window size, window stride) in source pixels, rounded to whole pixels."""
    scale = source_scale(src_gsd, grid)
    size = max(1, int(round(grid.tile_size * scale)))
    step = max(1, int(round(grid.step * scale)))
    return size, step


def sample_gsd(src_gsd: float | None, grid: TileGrid) -> float | None:
    """The GSD the samples really have once the window size is rounded to whole pixels."""
    if not src_gsd:
        return None
    size, _ = source_window_size(src_gsd, grid)
    return float(src_gsd) * size / grid.tile_size


def sample_shape(width: int, height: int, grid: TileGrid) -> tuple[int, int]:
    """``(height, width)`` of every sample of a ``width`` x ``height`` scene, in sample pixels."""
    if grid.whole:
        return (height, width) if grid.tile_size == 0 else (grid.tile_size, grid.tile_size)
    return grid.tile_size, grid.tile_size


def whole_sample_gsd(src_gsd: float | None, width: int, grid: TileGrid) -> float | None:
    """The GSD of a whole-image sample (the source's, scaled by the resize along x)."""
    if not src_gsd:
        return None
    return float(src_gsd) * width / (grid.tile_size or width)


def _offsets(extent: int, size: int, step: int, edge: str) -> np.ndarray:
    if extent >= size:
        span = extent - size
        count = span // step + 1
        if edge == "shift" and span % step:  # one more window, ending at the edge
            return np.append(np.arange(count, dtype=np.int64) * step, span)
        if edge == "pad" and span % step:
            count += 1  # one more window, hanging over the edge, covers the remainder
    else:
        count = 1 if edge in ("pad", "shift") else 0
    return np.arange(count, dtype=np.int64) * step


def grid_windows(width: int, height: int, src_gsd: float | None, grid: TileGrid) -> np.ndarray:
    """All windows of ``grid`` over a ``width`` x ``height`` scene, row-major: ``[N, 4]``.

    Padded edge windows keep their full nominal size (they hang over the scene edge), so every
    window maps to exactly ``tile_size`` sample pixels and its footprint is the sample's.
    """
    if grid.whole:
        return np.array([[0, 0, width, height]], dtype=np.int64)
    size, step = source_window_size(src_gsd, grid)
    cols = _offsets(width, size, step, grid.edge)
    rows = _offsets(height, size, step, grid.edge)
    if cols.size == 0 or rows.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    out = np.empty((rr.size, 4), dtype=np.int64)
    out[:, 0] = cc.ravel()
    out[:, 1] = rr.ravel()
    out[:, 2] = size
    out[:, 3] = size
    return out


def tile_rows(windows: np.ndarray) -> list[np.ndarray]:
    """Indexes of ``windows`` grouped by ``row_off`` (one group per row of tiles), top to bottom.

    Reading one strip of source rows per group decodes each source block row once (or twice
    with overlapping strides) instead of once per tile that touches it.
    """
    if len(windows) == 0:
        return []
    order = np.lexsort((windows[:, 0], windows[:, 1]))
    rows = windows[order, 1]
    breaks = np.flatnonzero(np.diff(rows)) + 1
    return np.split(order, breaks)


def chunk_columns(
    windows: np.ndarray, group: np.ndarray, max_cols: int, block_cols: int | None = None
) -> list[np.ndarray]:
    """Split one row of tiles (``group``, sorted by column) into chunks whose strip is narrow.

    A chunk spans at most ``max_cols`` source columns (at least one tile), so a strip of a
    very wide scene stays bounded in memory. Chunk boundaries prefer source block edges.
    """
    chunks: list[np.ndarray] = []
    start = 0
    n = len(group)
    while start < n:
        first = windows[group[start], 0]
        end = start + 1
        while end < n and windows[group[end], 0] + windows[group[end], 2] - first <= max_cols:
            end += 1
        if block_cols and end < n and end - start > 1:
            aligned = [k for k in range(start + 1, end + 1) if windows[group[k], 0] % block_cols == 0]
            if aligned and aligned[-1] > start + 1:
                end = aligned[-1]
        chunks.append(group[start:end])
        start = end
    return chunks


def strip_window(windows: np.ndarray, chunk: np.ndarray) -> tuple[int, int, int, int]:
    """The union ``(col_off, row_off, width, height)`` of the windows in one chunk."""
    sel = windows[chunk]
    col0 = int(sel[:, 0].min())
    row0 = int(sel[:, 1].min())
    col1 = int((sel[:, 0] + sel[:, 2]).max())
    row1 = int((sel[:, 1] + sel[:, 3]).max())
    return col0, row0, col1 - col0, row1 - row0


def clip_window(window: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """``window`` intersected with the scene (width/height may be 0 when it lies outside)."""
    col, row, w, h = window
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + w, width), min(row + h, height)
    return c0, r0, max(c1 - c0, 0), max(r1 - r0, 0)

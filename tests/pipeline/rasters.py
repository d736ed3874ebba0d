"""Tiny test rasters written with rasterio, and the SceneInfo describing them.

The SceneInfo is built here directly (not through ingest) so tiler tests depend only on the
contract in ``pipeline.scene``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from pipeline.scene import SceneInfo

UTM = "EPSG:32631"


def textured(height: int, width: int, bands: int = 3, *, seed: int = 0, dtype="uint8",
             lo: float = 0, hi: float = 255) -> np.ndarray:
    """``[bands, H, W]`` smooth random texture spanning ``lo..hi`` (not noise: it has structure)."""
    rng = np.random.default_rng(seed)
    small = rng.random((bands, max(2, height // 16), max(2, width // 16)))
    yy = np.linspace(0, small.shape[1] - 1, height)
    xx = np.linspace(0, small.shape[2] - 1, width)
    y0 = np.floor(yy).astype(int).clip(0, small.shape[1] - 2)
    x0 = np.floor(xx).astype(int).clip(0, small.shape[2] - 2)
    fy = (yy - y0)[:, None]
    fx = (xx - x0)[None, :]
    s = small
    up = (s[:, y0][:, :, x0] * (1 - fy) * (1 - fx) + s[:, y0 + 1][:, :, x0] * fy * (1 - fx)
          + s[:, y0][:, :, x0 + 1] * (1 - fy) * fx + s[:, y0 + 1][:, :, x0 + 1] * fy * fx)
    up = up + 0.15 * rng.random(up.shape)
    up = (up - up.min()) / (up.max() - up.min())
    return (lo + up * (hi - lo)).astype(dtype)


def write_raster(path: Path, data: np.ndarray, *, gsd: float = 10.0, crs: str | None = UTM,
                 nodata=None, block: int = 256, masked: np.ndarray | None = None,
                 overviews: tuple[int, ...] = ()) -> Path:
    """Write ``data`` ``[B, H, W]`` as a tiled deflate GeoTIFF (no CRS when ``crs`` is None).

    ``masked`` ``[H, W]`` bool (True = invalid) is written as an internal mask band.
    """
    bands, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype=str(data.dtype),
                   compress="deflate", nodata=nodata)
    if height >= block and width >= block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if crs is not None:
        profile.update(crs=crs, transform=Affine(gsd, 0.0, 500000.0, 0.0, -gsd, 5000000.0))
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if masked is not None:
                dst.write_mask(np.where(masked, 0, 255).astype(np.uint8))
            if overviews:
                dst.build_overviews(list(overviews))
    return Path(path)


def scene_for(path: Path, *, sensor: str = "test", label: str | None = None) -> SceneInfo:
    """The SceneInfo of a raster written by :func:`write_raster` (content-derived id)."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    with rasterio.open(path) as src:
        georef = src.crs is not None
        return SceneInfo(
            scene_id=digest[:16], uri=str(path), driver=src.driver, width=src.width,
            height=src.height, band_count=src.count, dtypes=tuple(src.dtypes), nodata=src.nodata,
            crs=src.crs.to_string() if georef else "", transform=tuple(src.transform)[:6],
            georeferenced=georef, gsd_m=float(src.res[0]) if georef else None, footprint_wkb=None,
            sensor=sensor, acquired=None, checksum=f"sha256:{digest}", label=label,
            block_shape=tuple(src.block_shapes[0]),
        )

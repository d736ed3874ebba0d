"""The metadata columns of candidate rows: per-scene constants and per-window geography.

Footprints are computed for all of a scene's windows in one vectorized call before any pixel
is read, so the per-tile loop only looks values up.
"""

from __future__ import annotations

from datetime import timezone

import numpy as np
import shapely
from affine import Affine

from pipeline.footprint import window_footprints
from pipeline.scene import SceneInfo


def scene_columns(scene: SceneInfo, band_names, dtype: str, fmt: str, gsd: float | None,
                  tile: int) -> dict:
    """Columns every tile of the scene shares."""
    acquired = scene.acquired
    if acquired is not None and acquired.tzinfo is None:
        acquired = acquired.replace(tzinfo=timezone.utc)  # naive times are taken as UTC
    return {
        "scene_id": scene.scene_id, "uri": scene.uri, "sensor": scene.sensor,
        "platform": scene.platform, "product": scene.product, "sensor_source": scene.sensor_source,
        "bands": ",".join(band_names), "band_count": len(band_names), "dtype": dtype,
        "format": fmt, "gsd_m": gsd, "width": tile, "height": tile,
        "src_crs": scene.crs or "", "georeferenced": bool(scene.georeferenced),
        "acquired": acquired, "label": scene.label,
    }


def lonlat_centroids(geoms: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Centroids ``[N, 2]`` of lon/lat footprints, right for footprints split at the antimeridian.

    A footprint split into parts at ±180° has a plain centroid on the far side of the globe; its
    western parts are shifted by +360° first, and the centroid is wrapped back into [-180, 180).
    """
    centres = shapely.get_coordinates(shapely.centroid(geoms))
    split = (bounds[:, 2] - bounds[:, 0]) > 180.0
    for i in np.flatnonzero(split):
        shifted = shapely.transform(geoms[i], lambda xy: np.where(xy[:, :1] < 0, xy + [360.0, 0.0], xy))
        lon, lat = shapely.get_coordinates(shapely.centroid(shifted))[0]
        centres[i] = ((lon + 180.0) % 360.0) - 180.0, lat
    return centres


class GeoColumns:
    """Per-window columns (window, footprint, bbox, centroid) looked up by window index."""

    def __init__(self, scene: SceneInfo, windows: np.ndarray, const: dict):
        self._scene = scene
        self._windows = windows
        self._const = const
        n = len(windows)
        self._wkb = [None] * n
        self._bounds = np.full((n, 4), np.nan)
        self._centre = np.full((n, 2), np.nan)
        if scene.georeferenced and scene.crs and n:
            self._wkb = window_footprints(scene.transform, scene.crs, windows)
            on = np.array([w is not None for w in self._wkb])
            if on.any():
                geoms = shapely.from_wkb([w for w in self._wkb if w is not None])
                self._bounds[on] = shapely.bounds(geoms)
                self._centre[on] = lonlat_centroids(geoms, self._bounds[on])

    def off_earth(self, i: int) -> bool:
        """A window of a georeferenced scene with no place on Earth (geostationary disk corners)."""
        return self._scene.georeferenced and bool(self._scene.crs) and self._wkb[i] is None

    def row(self, i: int) -> dict:
        col, row, w, h = (int(v) for v in self._windows[i])
        out = dict(self._const)
        out.update(col_off=col, row_off=row, win_width=w, win_height=h)
        if self._wkb[i] is None:
            out.update(geometry=None, bbox=None, lon=None, lat=None)
            return out
        xmin, ymin, xmax, ymax = (float(v) for v in self._bounds[i])
        out.update(
            geometry=self._wkb[i],
            bbox={"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
            lon=float(self._centre[i, 0]), lat=float(self._centre[i, 1]),
        )
        return out

    def profile_for(self, i: int) -> dict | None:
        """CRS and sample-pixel transform of window ``i`` (for GeoTIFF samples)."""
        if not self._scene.georeferenced:
            return None
        col, row, w, _ = (int(v) for v in self._windows[i])
        scale = w / self._const["width"]
        transform = Affine(*self._scene.transform[:6]) @ Affine.translation(col, row) @ Affine.scale(scale)
        return {"crs": self._scene.crs, "transform": transform}


def geo_columns(scene: SceneInfo, windows: np.ndarray, const: dict) -> GeoColumns:
    return GeoColumns(scene, windows, const)

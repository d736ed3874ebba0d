"""Pure footprint geometry: pixel windows -> densified polygons in EPSG:4326, and GSD in metres.

Straight edges in a projected CRS are curves in longitude/latitude, so edges are densified
before reprojecting. Rings that cross the antimeridian are split into a MultiPolygon instead of
becoming a polygon that wraps the globe the wrong way; rings around a pole are closed through
the pole. Nothing here opens a file: inputs are an affine transform and a CRS.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Geod, Transformer
from shapely.affinity import translate
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

_WGS84 = Geod(ellps="WGS84")
#: Above this relative scale error at the scene centre a projected CRS's nominal pixel size
#: is not the ground distance (Mercator away from the equator), so the geodesic one is used.
_SCALE_TOLERANCE = 0.02


def _crs_key(crs) -> str:
    return crs if isinstance(crs, str) else crs.to_wkt()


@lru_cache(maxsize=64)
def _pyproj_crs(key: str) -> CRS:
    return CRS.from_user_input(key)


@lru_cache(maxsize=64)
def _to_lonlat(key: str) -> Transformer:
    return Transformer.from_crs(_pyproj_crs(key), CRS.from_epsg(4326), always_xy=True)


def _affine(transform) -> Affine:
    return transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])


def _ring_pixels(windows: np.ndarray, points_per_edge: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed rings of pixel coordinates along each window's edges: cols, rows [N, 4(p-1)+1]."""
    col0, row0, w, h = (windows[:, i : i + 1].astype(np.float64) for i in range(4))
    t = np.linspace(0.0, 1.0, max(points_per_edge, 2))[:-1][None, :]  # [1, p-1]
    one, zero = np.ones_like(t), np.zeros_like(t)
    cols = np.concatenate([col0 + t * w, col0 + w * one, col0 + w - t * w, col0 + zero], axis=1)
    rows = np.concatenate([row0 + zero, row0 + t * h, row0 + h * one, row0 + h - t * h], axis=1)
    return np.concatenate([cols, cols[:, :1]], axis=1), np.concatenate([rows, rows[:, :1]], axis=1)


def _lonlat_rings(transform, crs, windows: np.ndarray, points_per_edge: int):
    """Rings in lon/lat with ONE pyproj call for all windows: lon, lat [N, K]."""
    cols, rows = _ring_pixels(np.asarray(windows, dtype=np.float64).reshape(-1, 4), points_per_edge)
    a = _affine(transform)
    x = a.a * cols + a.b * rows + a.c
    y = a.d * cols + a.e * rows + a.f
    lon, lat = _to_lonlat(_crs_key(crs)).transform(x.ravel(), y.ravel(), errcheck=False)
    lon = np.asarray(lon, dtype=np.float64).reshape(x.shape)
    lat = np.asarray(lat, dtype=np.float64).reshape(x.shape)
    off = ~(np.isfinite(lon) & np.isfinite(lat))  # off the Earth (geostationary disk corners): inf
    lon[off], lat[off] = np.nan, np.nan
    lat = np.clip(lat, -90.0, 90.0)
    # Sources in 0..360 longitudes: fold only the points outside [-180, 180] so 180 stays 180.
    lon = np.where(np.abs(lon) > 180.0, (lon + 180.0) % 360.0 - 180.0, lon)
    return lon, lat


def _split_ring(lon: np.ndarray, lat: np.ndarray) -> BaseGeometry:
    """Slow path for one ring that crosses the antimeridian, encloses a pole or has bad points."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    if lon.size < 4:
        raise ValueError("footprint could not be projected to EPSG:4326 (no finite points)")
    step = np.diff(lon)
    step -= 360.0 * np.round(step / 360.0)
    unwrapped = lon[0] + np.concatenate([[0.0], np.cumsum(step)])
    coords = list(zip(unwrapped, lat))
    net = unwrapped[-1] - unwrapped[0]
    if abs(net) > 180.0:  # the ring winds around a pole: close it through the pole
        pole = 90.0 if np.mean(lat) > 0 else -90.0
        coords += [(unwrapped[-1], pole), (unwrapped[0], pole)]
    poly = shapely.make_valid(Polygon(coords))
    parts = []
    for k in (-1, 0, 1):
        piece = poly.intersection(box(-180.0 + 360 * k, -90.0, 180.0 + 360 * k, 90.0))
        if not piece.is_empty:
            parts.append(translate(piece, xoff=-360.0 * k))
    polys = [g for p in parts for g in getattr(p, "geoms", [p]) if isinstance(g, Polygon) and g.area > 0]
    merged = shapely.unary_union(polys)
    return merged if isinstance(merged, (Polygon, MultiPolygon)) else MultiPolygon(polys)


def _geometries(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Vectorized polygons for ordinary rings; the slow path only for the rare odd ones."""
    closing = np.concatenate([lon, lon[:, :1]], axis=1)
    jumps = np.abs(np.diff(closing, axis=1)) > 180.0
    odd = jumps.any(axis=1) | ~np.isfinite(lon).all(axis=1) | ~np.isfinite(lat).all(axis=1)
    coords = np.stack([lon, lat], axis=-1)  # [N, K, 2]
    geoms = np.empty(len(lon), dtype=object)
    if (~odd).any():
        geoms[~odd] = shapely.polygons(coords[~odd])
    for i in np.flatnonzero(odd):
        geoms[i] = _split_ring(lon[i], lat[i])
    return geoms


def densified_footprint(transform, width: int, height: int, crs, *, points_per_edge: int = 21):
    """The scene outline in EPSG:4326 (Polygon, or MultiPolygon when split at the antimeridian).

    ``transform`` is an affine (or its 6 coefficients a..f), ``crs`` anything pyproj accepts
    (rasterio CRS, pyproj CRS, "EPSG:32631", WKT). A scene whose edges leave the Earth (a
    geostationary full disk) is outlined by its pixels that have a place on Earth instead.
    """
    windows = np.array([[0, 0, width, height]], dtype=np.float64)
    lon, lat = _lonlat_rings(transform, crs, windows, points_per_edge)
    if np.isnan(lon).any():
        return _on_earth_outline(transform, width, height, crs)
    return _geometries(lon, lat)[0]


def _on_earth_outline(transform, width: int, height: int, crs, grid: int = 129):
    """Outline of the pixels that project onto the Earth, from a ``grid`` x ``grid`` lattice:
    the first and last on-Earth point of every lattice row, walked down the left side and up
    the right (exact for row-convex regions such as a geostationary disk)."""
    cols = np.linspace(0.0, width, grid)
    rows = np.linspace(0.0, height, grid)
    cc, rr = np.meshgrid(cols, rows)
    a = _affine(transform)
    x, y = a.a * cc + a.b * rr + a.c, a.d * cc + a.e * rr + a.f
    lon, lat = _to_lonlat(_crs_key(crs)).transform(x.ravel(), y.ravel(), errcheck=False)
    lon = np.asarray(lon, dtype=np.float64).reshape(cc.shape)
    lat = np.asarray(lat, dtype=np.float64).reshape(cc.shape)
    ok = np.isfinite(lon) & np.isfinite(lat)
    left, right = [], []
    for r in np.flatnonzero(ok.any(axis=1)):
        idx = np.flatnonzero(ok[r])
        left.append((lon[r, idx[0]], lat[r, idx[0]]))
        right.append((lon[r, idx[-1]], lat[r, idx[-1]]))
    ring = left + right[::-1]
    if len(ring) < 3:
        raise ValueError("no pixel of the scene projects onto the Earth")
    ring_lon, ring_lat = np.array(ring + ring[:1]).T
    return _split_ring(ring_lon, np.clip(ring_lat, -90.0, 90.0))


def window_footprints(transform, crs, windows, *, points_per_edge: int = 5) -> list[bytes | None]:
    """WKB footprints in EPSG:4326 of many pixel windows ``[N, 4]`` (col_off, row_off, w, h);
    ``None`` for a window off the Earth (fewer than 4 of its ring points project).

    Vectorized: one pyproj call and one shapely call per scene, because the tiler calls this
    for thousands of tiles per scene.
    """
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 4)
    if len(windows) == 0:
        return []
    lon, lat = _lonlat_rings(transform, crs, windows, points_per_edge)
    off = np.isnan(lon).sum(axis=1) > lon.shape[1] - 4  # off the Earth: no footprint (None)
    out: list[bytes | None] = [None] * len(windows)
    if (~off).any():
        wkb = shapely.to_wkb(_geometries(lon[~off], lat[~off])).tolist()
        for i, w in zip(np.flatnonzero(~off), wkb):
            out[i] = w
    return out


def _geodesic_gsd(a: Affine, crs, width: int, height: int) -> float:
    """Ground size of the centre pixel: geodesic lengths of its two edges, geometric mean."""
    cx, cy = width / 2.0, height / 2.0
    px = np.array([cx, cx + 1.0, cx])
    py = np.array([cy, cy, cy + 1.0])
    x = a.a * px + a.b * py + a.c
    y = a.d * px + a.e * py + a.f
    lon, lat = _to_lonlat(_crs_key(crs)).transform(x, y)
    _, _, dist = _WGS84.inv([lon[0], lon[0]], [lat[0], lat[0]], [lon[1], lon[2]], [lat[1], lat[2]])
    return float(np.sqrt(dist[0] * dist[1]))


def gsd_metres(transform, crs, width: int, height: int) -> float:
    """Ground sample distance in metres (side of a square with the pixel's area).

    Projected CRSs use the nominal pixel size times the axis unit factor (feet, metres), unless
    the projection's scale at the scene centre is off by more than 2% (e.g. Web Mercator at
    45°N), where the geodesic size is used. Geographic CRSs are always measured geodesically at
    the scene centre, so 0.001° at the equator is ~111 m.
    """
    a = _affine(transform)
    key = _crs_key(crs)
    pcrs = _pyproj_crs(key)
    if pcrs.is_geographic:
        return _geodesic_gsd(a, key, width, height)
    factor = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
    nominal = float(np.sqrt(abs(a.a * a.e - a.b * a.d)) * factor)
    if not pcrs.is_projected:
        return nominal
    try:
        geodesic = _geodesic_gsd(a, key, width, height)
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot invert keeps its nominal size
        return nominal
    if np.isfinite(geodesic) and geodesic > 0 and abs(geodesic / nominal - 1.0) > _SCALE_TOLERANCE:
        return geodesic
    return nominal

"""Group tile locations into a few regions so a worldwide map can zoom on each cluster.

Corpora usually cover a handful of places: at world scale each one is a dot, so the map shows
the world once and then one zoomed panel per region. Regions are connected components of the
occupied cells of a coarse lon/lat grid (8-neighbourhood), which is exact, deterministic and
cheap even for millions of points (only occupied grid cells are examined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Region:
    """A cluster of tiles: its bounds (degrees), centre and tile count; ``name`` is a letter.

    West/east may pass ±180 for a cluster on the antimeridian (east > 180 rather than wrapping).
    """

    name: str
    west: float
    south: float
    east: float
    north: float
    count: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.west + self.east) / 2.0, (self.south + self.north) / 2.0

    def label(self) -> str:
        lon, lat = self.centre
        lon = float(unwrap(lon, 0.0))
        return f"{abs(lat):.1f}°{'N' if lat >= 0 else 'S'} {abs(lon):.1f}°{'E' if lon >= 0 else 'W'}"


def unwrap(lon: np.ndarray | float, centre: float):
    """Longitudes shifted by whole turns to lie within 180° of ``centre`` (antimeridian-safe)."""
    return lon + 360.0 * np.round((centre - np.asarray(lon, dtype=np.float64)) / 360.0)


def _components(keys: list[tuple[int, int]], wrap: int) -> dict[tuple[int, int], int]:
    """Label 8-connected components of occupied grid cells (flood fill over a set); grid x
    wraps around every ``wrap`` columns so a cluster on the antimeridian stays one region."""
    occupied, label, next_label = set(keys), {}, 0
    for start in sorted(occupied):
        if start in label:
            continue
        label[start], stack = next_label, [start]
        while stack:
            x, y = stack.pop()
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    n = ((x + dx) % wrap, y + dy)
                    if n in occupied and n not in label:
                        label[n] = next_label
                        stack.append(n)
        next_label += 1
    return label


def find_regions(lon: np.ndarray, lat: np.ndarray, *, grid_deg: float = 1.0,
                 max_regions: int = 4) -> list[Region]:
    """The ``max_regions`` largest clusters of points (by count), named A, B, C, ..."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    if lon.size == 0:
        return []
    wrap = int(round(360.0 / grid_deg))
    gx = np.floor((lon + 180.0) / grid_deg).astype(np.int64) % wrap
    gy = np.floor(lat / grid_deg).astype(np.int64)
    cells, inverse = np.unique(np.stack([gx, gy], axis=1), axis=0, return_inverse=True)
    labels = _components([tuple(c) for c in cells.tolist()], wrap)
    point_label = np.array([labels[tuple(c)] for c in cells.tolist()])[inverse.reshape(-1)]
    found = []
    for value in np.unique(point_label):
        members = point_label == value
        near = unwrap(lon[members], float(lon[members][0]))
        found.append((int(members.sum()), float(near.min()), float(lat[members].min()),
                      float(near.max()), float(lat[members].max())))
    found.sort(key=lambda f: (-f[0], f[1], f[2]))
    return [Region(chr(ord("A") + i), w, s, e, n, count)
            for i, (count, w, s, e, n) in enumerate(found[:max_regions])]


def view_box(region: Region, *, pad_frac: float = 0.15, min_km: float = 2.0) -> tuple[float, float, float, float]:
    """(west, east, south, north) around a region, square on the ground, at least ``min_km``."""
    lon0, lat0 = region.centre
    km_per_deg_lat = 111.32
    km_per_deg_lon = km_per_deg_lat * max(math.cos(math.radians(lat0)), 0.05)
    width_km = (region.east - region.west) * km_per_deg_lon
    height_km = (region.north - region.south) * km_per_deg_lat
    side = max(width_km, height_km, min_km) * (1.0 + 2.0 * pad_frac)
    half_lon, half_lat = side / 2.0 / km_per_deg_lon, side / 2.0 / km_per_deg_lat
    return lon0 - half_lon, lon0 + half_lon, lat0 - half_lat, lat0 + half_lat

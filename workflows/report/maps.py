"""Map panels for the density figure: H3 hexagons, a graticule overview, region zooms.

No basemap is downloaded: the overview is a graticule around the regions the corpus covers,
and each region is drawn as its H3 cells coloured by tile count, with a scale bar. Longitudes
are unwrapped around each panel's centre so clusters on the antimeridian draw whole.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import h3
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from workflows.report.regions import Region, unwrap, view_box

CMAP = "viridis"


def h3_counts(cells) -> Counter:
    return Counter(c for c in cells if isinstance(c, str) and h3.is_valid_cell(c))


def _hexagon(cell: str, centre_lon: float = 0.0) -> np.ndarray:
    """Cell boundary as [N, 2] (lon, lat), every vertex within 180° of ``centre_lon``."""
    ring = np.array([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
    ring[:, 0] = unwrap(ring[:, 0], centre_lon)
    return ring


def grown(region: Region, cells: list[str]) -> Region:
    """The region widened to hold the whole hexagons of the cells whose centre lies in it."""
    rings, centre = [], region.centre[0]
    for cell in cells:
        lat, lon = h3.cell_to_latlng(cell)
        lon = unwrap(lon, centre)
        if region.west - 1 <= lon <= region.east + 1 and region.south - 1 <= lat <= region.north + 1:
            rings.append(_hexagon(cell, centre))
    if not rings:
        return region
    points = np.concatenate(rings)
    return replace(region, west=min(region.west, points[:, 0].min()), east=max(region.east, points[:, 0].max()),
                   south=min(region.south, points[:, 1].min()), north=max(region.north, points[:, 1].max()))


def overview_extent(regions: list[Region], *, min_lon: float = 60.0, min_lat: float = 30.0,
                    snap: float = 10.0) -> tuple[float, float, float, float]:
    """(west, east, south, north) of the overview: the regions plus margin, snapped to the grid.

    A corpus covering one continent gets a continental view instead of dots on a whole world.
    """
    if not regions:
        return -180.0, 180.0, -90.0, 90.0
    west, east = min(r.west for r in regions), max(r.east for r in regions)
    south, north = min(r.south for r in regions), max(r.north for r in regions)
    cx, cy = (west + east) / 2, (south + north) / 2
    half_x = max((east - west) * 0.6 + 5, min_lon / 2)
    half_y = max((north - south) * 0.6 + 5, min_lat / 2, half_x / 3)
    half_x = max(half_x, half_y * 1.2)
    west = max(-180.0, math.floor((cx - half_x) / snap) * snap)
    east = min(180.0, math.ceil((cx + half_x) / snap) * snap)
    south = max(-90.0, math.floor((cy - half_y) / snap) * snap)
    north = min(90.0, math.ceil((cy + half_y) / snap) * snap)
    return west, east, south, north


def _degrees(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):g}°{positive if value > 0 else negative if value < 0 else ''}"


def _graticule(ax, extent: tuple[float, float, float, float]) -> None:
    west, east, south, north = extent
    step = 10 if max(east - west, north - south) <= 120 else 30
    ax.set_facecolor("#f1f4f7")
    lons = [v for v in range(-180, 181, step) if west <= v <= east]
    lats = [v for v in range(-90, 91, step) if south <= v <= north]
    for lon in lons:
        ax.axvline(lon, color="white", lw=0.8, zorder=0)
    for lat in lats:
        ax.axhline(lat, color="white", lw=1.6 if lat == 0 else 0.8, zorder=0)
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect("equal")
    label_lons = lons[:: max(1, len(lons) // 6)]
    label_lats = lats[:: max(1, len(lats) // 5)]
    ax.set_xticks(label_lons, [_degrees(v, "E", "W") for v in label_lons])
    ax.set_yticks(label_lats, [_degrees(v, "N", "S") for v in label_lats])
    ax.tick_params(labelsize=7, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def world_panel(ax, counts: Counter, regions: list[Region], norm) -> None:
    _graticule(ax, overview_extent(regions))
    if counts:
        cells = sorted(counts, key=lambda c: counts[c])  # densest drawn on top
        lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).T
        ax.scatter(lon, lat, c=[counts[c] for c in cells], cmap=CMAP, norm=norm, s=16,
                   edgecolors="black", linewidths=0.25, zorder=3)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for region in regions:
        lon0, lat0 = region.centre
        half_x, half_y = max(region.east - region.west, 2.5) / 2 + 0.5, max(region.north - region.south, 2.5) / 2 + 0.5
        ax.add_patch(Rectangle((lon0 - half_x, lat0 - half_y), 2 * half_x, 2 * half_y, fill=False,
                               ec="#c53030", lw=0.9, zorder=4))
        ax.annotate(region.name, (lon0 + half_x, lat0 + half_y), fontsize=9, fontweight="bold",
                    color="#c53030", zorder=5, path_effects=halo)


def _scale_bar(ax, west: float, east: float, south: float, north: float) -> None:
    lat0 = (south + north) / 2
    km_per_deg = 111.32 * max(math.cos(math.radians(lat0)), 0.05)
    span_km = (east - west) * km_per_deg
    nice = [v for v in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if v <= span_km / 3] or [span_km / 3]
    length = nice[-1]
    x0, y0 = west + 0.06 * (east - west), south + 0.06 * (north - south)
    ax.plot([x0, x0 + length / km_per_deg], [y0, y0], color="black", lw=2, solid_capstyle="butt")
    ax.text(x0, y0 + 0.025 * (north - south), f"{length:g} km", fontsize=7)


def _label_cells(ax, cells: list[str], counts: Counter, norm, centre_lon: float) -> None:
    """Write each hexagon's count on it, dark on light colours and light on dark ones."""
    cmap = plt.get_cmap(CMAP)
    for cell in cells:
        lat, lon = h3.cell_to_latlng(cell)
        lon = unwrap(lon, centre_lon)
        r, g, b, _ = cmap(norm(counts[cell]))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.55
        ax.text(lon, lat, str(counts[cell]), ha="center", va="center", fontsize=7,
                color="white" if dark else "black", clip_on=True)


def region_panel(ax, counts: Counter, region: Region, norm, before: Counter | None = None) -> None:
    west, east, south, north = view_box(region)
    centre = region.centre[0]
    ax.set_facecolor("#f1f4f7")
    in_view = [c for c in (before or counts) if _in_box(h3.cell_to_latlng(c), west, east, south, north, centre)]
    shown = [c for c in in_view if counts.get(c, 0) > 0]
    few = len(in_view) <= 300  # with thousands of small cells, outlines would hide the colours
    if shown:
        polys = PolyCollection([_hexagon(c, centre) for c in shown], array=np.array([counts[c] for c in shown], dtype=float),
                               cmap=CMAP, norm=norm, edgecolors="white" if few else "face",
                               linewidths=0.6 if few else 0.2)
        ax.add_collection(polys)
        if len(shown) <= 40:
            _label_cells(ax, shown, counts, norm, centre)
    lost = [c for c in in_view if counts.get(c, 0) == 0]
    if lost:  # cells balancing emptied: outlined (few) or tinted (many), so a lost place shows
        ax.add_collection(PolyCollection([_hexagon(c, centre) for c in lost], facecolors="none" if few else "#feb2b2",
                                         edgecolors="#c53030" if few else "none", linewidths=0.8,
                                         linestyles="--"))
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1.0 / max(math.cos(math.radians((south + north) / 2)), 0.05))
    ax.set_xticks([])
    ax.set_yticks([])
    _scale_bar(ax, west, east, south, north)
    tiles = sum(counts[c] for c in shown)
    change = ""
    if before is not None:
        dropped = sum(before[c] for c in in_view) - tiles
        change = f" (−{dropped})" if dropped else " (all kept)"
    counts = f"{count_of(tiles, 'tile')}{change} · {count_of(len(shown), 'cell')}"
    ax.set_title(f"{region.name} · {region.label()}\n{counts}", fontsize=8.5)


def count_of(n: int, noun: str) -> str:
    """'1 tile', '3 tiles': figure titles name counts of one right."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _in_box(latlng, west, east, south, north, centre_lon: float, margin: float = 0.5) -> bool:
    lat, lon = latlng
    lon = unwrap(lon, centre_lon)
    return west - margin <= lon <= east + margin and south - margin <= lat <= north + margin


def resolution_label(counts: Counter) -> str:
    resolutions = sorted({h3.get_resolution(c) for c in counts})
    return ",".join(str(r) for r in resolutions) or "-"

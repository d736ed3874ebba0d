from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, box

from pipeline.footprint import densified_footprint, gsd_metres, window_footprints

UTM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)


def test_geographic_footprint_equals_bounds():
    t = Affine(0.01, 0.0, -20.0, 0.0, -0.01, 15.0)
    poly = densified_footprint(t, 300, 200, "EPSG:4326")
    assert isinstance(poly, Polygon) and poly.is_valid
    assert poly.symmetric_difference(box(-20.0, 13.0, -17.0, 15.0)).area < 1e-12


def test_utm_footprint_centroid_and_area_match_pyproj():
    width, height = 2000, 1000  # 20 km x 10 km
    poly = densified_footprint(UTM, width, height, "EPSG:32631")
    centre = Transformer.from_crs(32631, 4326, always_xy=True).transform(510000.0, 4995000.0)
    assert poly.centroid.x == pytest.approx(centre[0], abs=1e-4)
    assert poly.centroid.y == pytest.approx(centre[1], abs=1e-4)
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(poly)
    # UTM scale at the central meridian is 0.9996: ground area = map area / k^2.
    assert abs(area) == pytest.approx(20000 * 10000 / 0.9996**2, rel=2e-3)
    assert len(poly.exterior.coords) == 4 * 20 + 1


def test_densified_edges_follow_curvature():
    """A large Lambert scene's edges are curved in lon/lat; 2-point edges would miss area."""
    crs = "EPSG:3035"
    t = Affine(1000.0, 0.0, 3000000.0, 0.0, -1000.0, 4000000.0)
    dense = densified_footprint(t, 2000, 1500, crs, points_per_edge=41)
    coarse = densified_footprint(t, 2000, 1500, crs, points_per_edge=2)
    assert len(coarse.exterior.coords) == 5
    assert abs(dense.area - coarse.area) / dense.area > 1e-3


def test_antimeridian_scene_is_split_not_globe_spanning():
    t = Affine(100.0, 0.0, 700000.0, 0.0, -100.0, 5000000.0)  # UTM 60N east edge, past 180°
    geom = densified_footprint(t, 3000, 100, "EPSG:32660")
    assert isinstance(geom, MultiPolygon) and geom.is_valid
    east = [g for g in geom.geoms if g.bounds[2] == pytest.approx(180.0)]
    west = [g for g in geom.geoms if g.bounds[0] == pytest.approx(-180.0)]
    assert east and west
    assert geom.area < 10.0  # a wrong ring would cover ~360° of longitude


def test_geographic_scene_across_antimeridian_in_0_360():
    t = Affine(0.1, 0.0, 175.0, 0.0, -0.1, 10.0)  # 175..185 east in 0..360 longitudes
    geom = densified_footprint(t, 100, 50, "EPSG:4326")
    assert isinstance(geom, MultiPolygon)
    assert geom.area == pytest.approx(10.0 * 5.0)
    assert shapely.equals(geom, box(175, 5, 180, 10).union(box(-180, 5, -175, 10)))


def test_polar_scene_closes_through_pole():
    t = Affine(1000.0, 0.0, -500000.0, 0.0, -1000.0, 500000.0)  # polar stereo, pole at centre
    geom = densified_footprint(t, 1000, 1000, "EPSG:3413")
    assert geom.is_valid
    assert geom.bounds[3] == pytest.approx(90.0)
    assert geom.bounds[2] - geom.bounds[0] == pytest.approx(360.0)
    assert geom.bounds[1] > 80.0


def test_window_footprints_match_scene_footprint():
    wins = np.array([[0, 0, 100, 100], [100, 50, 30, 70], [0, 0, 2000, 1000]])
    wkbs = window_footprints(UTM, "EPSG:32631", wins, points_per_edge=5)
    assert len(wkbs) == 3 and all(isinstance(w, bytes) for w in wkbs)
    geoms = [shapely.from_wkb(w) for w in wkbs]
    whole = densified_footprint(UTM, 2000, 1000, "EPSG:32631", points_per_edge=5)
    assert shapely.equals_exact(geoms[2], whole, tolerance=1e-12)
    lon, lat = Transformer.from_crs(32631, 4326, always_xy=True).transform(
        UTM.c + 10 * 115, UTM.f - 10 * 85)
    assert geoms[1].centroid.x == pytest.approx(lon, abs=1e-6)
    assert geoms[1].centroid.y == pytest.approx(lat, abs=1e-6)


def test_window_footprints_vectorized_and_fast():
    cols, rows = np.meshgrid(np.arange(0, 20000, 256), np.arange(0, 20000, 256))
    wins = np.stack([cols.ravel(), rows.ravel(), np.full(cols.size, 256), np.full(cols.size, 256)], 1)
    import time

    start = time.perf_counter()
    wkbs = window_footprints(UTM, "EPSG:32631", wins)
    elapsed = time.perf_counter() - start
    assert len(wkbs) == len(wins) > 6000
    assert elapsed < 2.0  # ~0.05 s measured; per-window pyproj calls take > 10 s


def test_window_footprints_empty_and_antimeridian_rows():
    assert window_footprints(UTM, "EPSG:32631", np.zeros((0, 4))) == []
    t = Affine(100.0, 0.0, 700000.0, 0.0, -100.0, 5000000.0)
    wkbs = window_footprints(t, "EPSG:32660", [[0, 0, 100, 100], [0, 0, 3000, 100]])
    kinds = [shapely.from_wkb(w).geom_type for w in wkbs]
    assert kinds == ["Polygon", "MultiPolygon"]


def test_gsd_projected_uses_linear_unit():
    assert gsd_metres(UTM, "EPSG:32631", 100, 100) == pytest.approx(10.0)
    feet = Affine(1.0, 0.0, 2000000.0, 0.0, -1.0, 500000.0)  # NAD83 / California III (ftUS)
    assert gsd_metres(feet, "EPSG:2227", 100, 100) == pytest.approx(0.3048006, rel=1e-6)


def test_gsd_geographic_at_equator_and_high_latitude():
    equator = Affine(0.001, 0.0, 30.0, 0.0, -0.001, 0.05)
    assert gsd_metres(equator, "EPSG:4326", 100, 100) == pytest.approx(111.0, rel=0.01)
    north = Affine(0.001, 0.0, 30.0, 0.0, -0.001, 60.05)
    dx = 111320 * np.cos(np.radians(60)) * 0.001
    dy = 111412 * 0.001
    assert gsd_metres(north, "EPSG:4326", 100, 100) == pytest.approx(np.sqrt(dx * dy), rel=0.01)


def test_gsd_web_mercator_is_ground_distance():
    t = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 5621521.486)  # ~45°N
    assert gsd_metres(t, "EPSG:3857", 64, 64) == pytest.approx(10 * np.cos(np.radians(45)), rel=0.01)
    equator = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 1000.0)
    assert gsd_metres(equator, "EPSG:3857", 64, 64) == pytest.approx(10.0)


def test_accepts_rasterio_crs_and_tuple_transform():
    from rasterio.crs import CRS

    poly = densified_footprint(tuple(UTM)[:6], 10, 10, CRS.from_epsg(32631))
    assert poly.equals(densified_footprint(UTM, 10, 10, "EPSG:32631"))

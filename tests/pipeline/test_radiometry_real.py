"""The same radiometry checks on the real files of ``/work/shared/realdata`` (skipped without).

Never part of CI's weight: tests/pipeline/test_radiometry.py holds the generated imitations.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio

from catalogs.schema import KEPT
from pipeline.encode import decode
from pipeline.ingest import read_scene_info
from pipeline.quality import QualityConfig
from pipeline.scene import SensorRule, SourceRef
from pipeline.sensors import match_rule
from pipeline.tiler import TileConfig
from pipeline.windows import TileGrid
from tests.pipeline.test_radiometry import _stage

REAL = Path(os.environ.get("RINGMO_REALDATA", "/work/shared/realdata"))
GEO = REAL / "geotiff"
L8 = REAL / "products" / "landsat8_LC80200392015216LGN00"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="no /work/shared/realdata here")
CONFIG = TileConfig(grid=TileGrid(256, edge="drop"))


def _scene(path: Path, sensor: str | None = None):
    return read_scene_info(SourceRef(str(path), sensor=sensor))


def _source(path: Path, row) -> np.ndarray:
    with rasterio.open(path) as src:
        win = rasterio.windows.Window(row["col_off"], row["row_off"], row["win_width"], row["win_height"])
        return np.moveaxis(src.read(window=win), 0, 2)


def test_sentinel2_six_band_tiles_equal_the_source(tmp_path):
    path = GEO / "sattest_S2_T18SVG_20160112_20m_6band_stack.tif"
    scene = _scene(path, "sentinel2")
    rows, samples = _stage(scene, tmp_path, match_rule(scene.uri, hint=scene.sensor), CONFIG)
    kept = [r for r in rows if r["status"] == KEPT]
    assert kept and {r["dtype"] for r in kept} == {"uint16"}
    for row in kept:
        np.testing.assert_array_equal(decode(samples[row["tile_id"]], row["format"]), _source(path, row))


def test_landsat_four_band_stack_keeps_four_bands(tmp_path):
    path = GEO / "sattest_L8_LC80200392015216LGN00_B2-B5_stack.tif"
    scene = _scene(path, "landsat")
    rows, samples = _stage(scene, tmp_path, match_rule(scene.uri, hint=scene.sensor), CONFIG)
    kept = [r for r in rows if r["status"] == KEPT]
    assert kept and all(decode(samples[r["tile_id"]], r["format"]).shape == (256, 256, 4) for r in kept)


def test_sentinel1_rtc_float_tiles_keep_their_values(tmp_path):
    path = GEO / "riotiler_S1B_RTC_gamma0_VV_20200106.tif"
    scene = _scene(path)
    rule = match_rule(scene.uri, hint=scene.sensor)
    assert rule.name == "sentinel1"
    rows, samples = _stage(scene, tmp_path, rule, replace(CONFIG, quality=QualityConfig(min_valid_frac=0.0)))
    kept = [r for r in rows if r["status"] == KEPT]
    assert kept and {r["dtype"] for r in kept} == {"float32"}
    for row in kept:
        src = _source(path, row)
        valid = np.isfinite(src) & (src != 0)
        np.testing.assert_array_equal(decode(samples[row["tile_id"]], row["format"])[valid], src[valid])


def test_landsat_product_cloud_frac_agrees_with_its_bqa(tmp_path):
    path = GEO / "sattest_L8_LC80200392015216LGN00_B2-B5_stack.tif"
    scene = replace(_scene(path, "landsat"), qa_uri=str(L8 / "l8_BQA.tif"), qa_kind="landsat_bqa",
                    band_names=("B2", "B3", "B4", "B5"))
    rows, _ = _stage(scene, tmp_path, SensorRule(name="landsat"), replace(CONFIG, grid=TileGrid(128, edge="drop")))
    with rasterio.open(L8 / "l8_BQA.tif") as src:
        cloud = ((src.read(1) >> 14) & 3) == 3
    for row in rows:
        r, c = row["row_off"], row["col_off"]
        assert row["cloud_frac"] == pytest.approx(cloud[r:r + 128, c:c + 128].mean(), abs=0.02)
    assert max(r["cloud_frac"] for r in rows) > 0.1


def test_tci_jp2_collars_are_nodata(tmp_path):
    path = GEO / "riotiler-hist_S2_L2A_T19UDP_20170729_TCI.jp2"
    scene = _scene(path, "sentinel2")
    rows, _ = _stage(scene, tmp_path, SensorRule(name="sentinel2"),
                     replace(CONFIG, grid=TileGrid(64, edge="drop"), quality=QualityConfig(min_valid_frac=0.0)))
    with rasterio.open(path) as src:
        black = (src.read() <= 10).all(axis=0)
    # every tile: its collar pixels are exactly what is missing from valid_frac (+-3 %)
    invalid = np.mean([1 - r["valid_frac"] for r in rows])
    assert invalid == pytest.approx(black[: 64 * (658 // 64), : 64 * (658 // 64)].mean(), abs=0.03)
    assert invalid > 0.3


def test_quicklook_jpeg_white_collars_are_nodata(tmp_path):
    path = REAL / "aerial" / "riotiler-hist_S2_L1C_T19UDP_20170729_preview.jpg"
    scene = _scene(path)
    rows, _ = _stage(scene, tmp_path, SensorRule(name="aerial"),
                     replace(CONFIG, grid=TileGrid(49, edge="drop"), quality=QualityConfig(min_valid_frac=0.0)))
    invalid = np.mean([1 - r["valid_frac"] for r in rows])
    assert 0.4 < invalid < 0.55  # the white frame (48 % of pixels within 10 grey levels of 255)


@pytest.mark.slow
def test_grouped_landsat_product_build_gets_cloud_frac_from_its_bqa(tmp_path):
    """Through the product registry: the per-band files become one scene whose BQA screens it."""
    import pyarrow.parquet as pq

    from workflows.cli import main

    corpus = tmp_path / "corpus"
    assert main(["build", str(L8), str(corpus), "--tile-size", "128", "--scheduler", "sync", "--quiet"]) == 0
    rows = [*pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist(),
            *pq.read_table(corpus / "catalog" / "rejected.parquet").to_pylist()]
    with rasterio.open(L8 / "l8_BQA.tif") as src:
        cloud = ((src.read(1) >> 14) & 3) == 3
    assert rows and all(r["cloud_frac"] is not None for r in rows)
    for row in rows:
        r, c = row["row_off"], row["col_off"]
        assert row["cloud_frac"] == pytest.approx(cloud[r:r + 128, c:c + 128].mean(), abs=0.01)

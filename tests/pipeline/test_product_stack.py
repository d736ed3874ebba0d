"""Per-band products: grouped by name at discovery, stacked through a VRT at ingest."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipeline.ingest import read_scene_info
from pipeline.products.grouping import group_bands, split_band
from pipeline.scene import SceneError, SourceRef
from pipeline.sensors import rules_from_dicts
from pipeline.sources import discover
from tests.pipeline.products_data import band_pixels, write_band, write_landsat_product

REAL_LANDSAT = Path("/work/shared/realdata/products/landsat8_LC80200392015216LGN00")


@pytest.mark.parametrize("name, parts", [
    ("l8_B4.tif", ("l8_", "B4", ".tif")),
    ("LC08_L2SP_044034_20200101_20200110_02_T1_SR_B4.TIF", ("LC08_L2SP_044034_20200101_20200110_02_T1_", "B4", ".TIF")),
    ("LC08_L2SP_044034_20200101_20200110_02_T1_QA_PIXEL.TIF", ("LC08_L2SP_044034_20200101_20200110_02_T1_", "QA_PIXEL", ".TIF")),
    ("T31UFQ_20230615T103629_B8A_20m.jp2", ("T31UFQ_20230615T103629_", "B8A", "_20m.jp2")),
    ("CBERS_4_MUX_20171121_057_094_L2_BAND5.tif", ("CBERS_4_MUX_20171121_057_094_L2_", "BAND5", ".tif")),
    ("s1a-iw-grd-vh-20230101t054512-001.tiff", ("s1a-iw-grd-", "VH", "-20230101t054512-001.tiff")),
    ("B04.jp2", ("", "B04", ".jp2")),
    ("img_1.png", None),
    ("sattest_L8_B2-B5_stack.tif", None),
])
def test_split_band(name, parts):
    assert split_band(name) == parts


def test_group_bands_keeps_unrelated_files_apart():
    safe = "s1a-iw-grd-{}-20230101t054512-20230101t054537-046581-059512-00{}.tiff"
    refs = [SourceRef(uri=f"/d/{n}") for n in
            ("l8_B1.tif", "l8_B2.tif", "l8_BQA.tif", "img_1.png", "img_2.png", "other_B1.tif", "s_VV.tif", "s_VH.tif",
             safe.format("vv", 1), safe.format("vh", 2))]
    grouped = {r.uri: r for r in group_bands(refs)}
    assert sorted(grouped) == ["/d/img_1.png", "/d/img_2.png", "/d/l8_{band}.tif", "/d/other_B1.tif",
                               "/d/s1a-iw-grd-{band}-20230101t054512-20230101t054537-046581-059512.tiff",
                               "/d/s_{band}.tif"]
    assert grouped["/d/l8_{band}.tif"].members == (("B1", "/d/l8_B1.tif"), ("B2", "/d/l8_B2.tif"),
                                                  ("BQA", "/d/l8_BQA.tif"))


@pytest.fixture(scope="module")
def landsat_product(tmp_path_factory) -> Path:
    return write_landsat_product(tmp_path_factory.mktemp("raw") / "LC08_product")


def _product_ref(folder: Path) -> SourceRef:
    refs, problems = discover([str(folder)])
    assert problems == [] and len(refs) == 1 and refs[0].members
    return refs[0]


def test_landsat_imitation_becomes_one_named_multiband_scene(landsat_product, tmp_path):
    info = read_scene_info(_product_ref(landsat_product), product_dir=str(tmp_path))
    assert (info.sensor, info.platform, info.product, info.sensor_source) == ("landsat8", "landsat-8", "L1T", "sidecar")
    assert info.acquired.date() == datetime(2015, 8, 4, tzinfo=timezone.utc).date()
    assert info.band_names == ("B1", "B2", "B3", "B4", "B5", "B6", "B7")  # pan, cirrus, thermal left out
    assert (info.qa_kind, Path(info.qa_uri).name) == ("landsat_bqa", "l8_BQA.tif")
    assert info.driver == "VRT" and info.band_count == 7 and info.gsd_m == pytest.approx(30.0)
    assert info.uri == str(landsat_product / "l8_{band}.tif")
    with rasterio.open(info.read_uri) as vrt:
        assert vrt.descriptions == info.band_names
        for index, name in enumerate(info.band_names, start=1):  # no resampling: the members' own pixels
            assert np.array_equal(vrt.read(index), band_pixels(int(name[1:]), 96, 96))


def test_product_scene_id_comes_from_member_files_not_the_vrt_location(landsat_product, tmp_path):
    a = read_scene_info(_product_ref(landsat_product), product_dir=str(tmp_path / "a"))
    b = read_scene_info(_product_ref(landsat_product), product_dir=str(tmp_path / "b"))
    assert a.scene_id == b.scene_id and a.checksum == b.checksum and a.uri == b.uri
    assert a.read_uri != b.read_uri and Path(a.read_uri).read_bytes() == Path(b.read_uri).read_bytes()


def test_rule_selects_bands_by_name_and_the_finest_grid_wins(landsat_product, tmp_path):
    rules = rules_from_dicts([{"name": "landsat8", "bands": ["B4", "B3", "B8"]}])
    info = read_scene_info(_product_ref(landsat_product), rules, product_dir=str(tmp_path))
    assert info.band_names == ("B4", "B3", "B8")
    assert info.gsd_m == pytest.approx(15.0)
    with rasterio.open(info.read_uri) as vrt:
        red = vrt.read(1)
        assert red.shape == (vrt.height, vrt.width)
        # a 30 m pixel covers 2x2 of the 15 m grid (nearest upsampling, no new values)
        assert set(np.unique(red)) <= set(np.unique(band_pixels(4, 96, 96)))
    bad = rules_from_dicts([{"name": "landsat8", "bands": ["B4", "B12"]}])
    with pytest.raises(SceneError, match="B12"):
        read_scene_info(_product_ref(landsat_product), bad, product_dir=str(tmp_path))


def test_members_in_different_crs_are_rejected_naming_the_bands(tmp_path):
    write_band(tmp_path / "x_B1.tif", band_pixels(1, 32, 32), 30.0)
    write_band(tmp_path / "x_B2.tif", band_pixels(2, 32, 32), 30.0, crs="EPSG:32617")
    with pytest.raises(SceneError, match="different CRSs"):
        read_scene_info(_product_ref(tmp_path), product_dir=str(tmp_path / "vrt"))


def test_sentinel1_vv_vh_pair_is_one_scene(tmp_path):
    name = "S1A_IW_GRDH_1SDV_20230101T054512_20230101T054537_046581_059512_1234_{}.tif"
    for i, pol in enumerate(("VV", "VH")):
        write_band(tmp_path / name.format(pol), band_pixels(i + 1, 32, 32), 10.0)
    info = read_scene_info(_product_ref(tmp_path), product_dir=str(tmp_path / "vrt"))
    assert (info.sensor, info.platform, info.product) == ("sentinel1", "sentinel-1a", "GRD")
    assert info.band_names == ("VV", "VH") and info.sensor_source == "name"


@pytest.mark.skipif(not REAL_LANDSAT.is_dir(), reason="real data not available")
def test_real_landsat_product(tmp_path):
    info = read_scene_info(_product_ref(REAL_LANDSAT), product_dir=str(tmp_path))
    assert (info.sensor, info.platform, info.product, info.sensor_source) == ("landsat8", "landsat-8", "L1T", "sidecar")
    assert info.acquired.date().isoformat() == "2015-08-04"
    assert info.band_names == ("B1", "B2", "B3", "B4", "B5", "B6", "B7") and info.qa_kind == "landsat_bqa"


def test_band_names_say_what_they_are(tmp_path):
    from pipeline.strips import plan_bands
    from tests.pipeline.conftest import from_origin, write_tif

    composite = write_tif(tmp_path / "composite.tif", count=3, dtype="uint16", crs="EPSG:32631",
                          transform=from_origin(500000, 5000000, 30, 30))
    with rasterio.open(composite) as src:
        assert plan_bands(src, composite, None, None).names == ("b1", "b2", "b3")  # not "gray,b2,b3"
        known = ("B2", "B3", "B4")
        assert plan_bands(src, composite, None, None, known).names == known
        assert plan_bands(src, composite, ("B4", 1), None, known).indexes == (3, 1)
        with pytest.raises(SceneError, match="B9"):
            plan_bands(src, composite, ("B9",), None, known)
    rgb = write_tif(tmp_path / "rgb.tif", count=3, photometric="RGB", crs="EPSG:32631",
                    transform=from_origin(500000, 5000000, 1, 1))
    with rasterio.open(rgb) as src:
        assert plan_bands(src, rgb, None, None).names == ("red", "green", "blue")

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from catalogs.keys import scene_id_for
from pipeline.ingest import file_checksum, read_scene_info
from pipeline.scene import SceneError, SourceRef
from pipeline.sensors import rules_from_dicts
from tests.pipeline.conftest import from_origin, write_tif


def _info(path, **kwargs):
    return read_scene_info(SourceRef(uri=path), **kwargs)


def test_utm_scene_metadata(utm_tif):
    info = _info(utm_tif)
    digest = hashlib.sha256(open(utm_tif, "rb").read()).hexdigest()
    assert info.checksum == f"sha256:{digest}"
    assert info.scene_id == scene_id_for(info.checksum)
    assert (info.driver, info.width, info.height, info.band_count) == ("GTiff", 64, 48, 1)
    assert info.dtypes == ("uint8",)
    assert info.crs == "EPSG:32631" and info.georeferenced
    assert info.transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)
    assert info.gsd_m == pytest.approx(10.0)
    assert info.block_shape is not None and len(info.block_shape) == 2
    assert info.tags["TIFFTAG_DATETIME"] == "2021:03:04 05:06:07"
    assert info.acquired == datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert info.sensor == "unknown"
    centre = Transformer.from_crs(32631, 4326, always_xy=True).transform(500320, 4999760)
    poly = shapely.from_wkb(info.footprint_wkb)
    assert poly.centroid.x == pytest.approx(centre[0], abs=1e-5)
    assert poly.centroid.y == pytest.approx(centre[1], abs=1e-5)


def test_geographic_scene_footprint_is_bounds_and_gsd_in_metres(wgs84_tif):
    info = _info(wgs84_tif)
    assert info.crs == "EPSG:4326"
    poly = shapely.from_wkb(info.footprint_wkb)
    assert poly.symmetric_difference(shapely.box(10.0, -0.02, 10.05, 0.02)).area < 1e-12
    assert info.gsd_m == pytest.approx(111.0, rel=0.01)


def test_png_with_world_file_but_no_crs_is_not_georeferenced(png_world):
    info = _info(png_world)
    assert info.driver == "PNG" and info.band_count == 3
    assert info.transform == (0.5, 0.0, 1000.0, 0.0, -0.5, 2000.5)  # .pgw holds pixel centres
    assert not info.georeferenced and info.crs == "" and info.footprint_wkb is None
    assert info.gsd_m is None
    assert info.sensor == "unknown"  # a folder or file called "aerial" is no evidence


def test_png_with_world_file_and_prj_is_georeferenced(png_world):
    from pyproj import CRS

    base = os.path.splitext(png_world)[0]
    with open(base + ".png.aux.xml", "w") as handle:
        handle.write(f"<PAMDataset><SRS>{CRS.from_epsg(32633).to_wkt()}</SRS></PAMDataset>")
    info = _info(png_world)
    assert info.georeferenced and info.crs == "EPSG:32633"
    assert info.gsd_m == pytest.approx(0.5)


def test_world_file_with_esri_prj_sidecar(png_world):
    from pyproj import CRS

    with open(os.path.splitext(png_world)[0] + ".prj", "w") as handle:
        handle.write(CRS.from_epsg(32633).to_wkt("WKT1_ESRI"))
    info = _info(png_world)
    assert info.georeferenced and info.crs == "EPSG:32633"
    poly = shapely.from_wkb(info.footprint_wkb)
    lon, lat = Transformer.from_crs(32633, 4326, always_xy=True).transform(1015.0, 1990.5)
    assert poly.centroid.x == pytest.approx(lon, abs=1e-6)
    assert poly.centroid.y == pytest.approx(lat, abs=1e-6)


def test_jpeg_without_georeference(jpeg_plain):
    info = _info(jpeg_plain)
    assert info.driver == "JPEG" and not info.georeferenced
    assert info.footprint_wkb is None and info.sensor == "unknown"  # "drone" in the path proves nothing


def test_multiband_uint16_and_sentinel2_rule(uint16_4band):
    info = _info(uint16_4band)
    assert info.band_count == 4 and info.dtypes == ("uint16",) * 4
    assert info.nodata == 0.0 and info.block_shape == (16, 16)
    assert info.sensor == "sentinel2"
    assert info.acquired == datetime(2023, 6, 15, 10, 36, 29, tzinfo=timezone.utc)


def test_sar_float_scene(sar_float):
    info = _info(sar_float)
    assert info.sensor == "sentinel1" and info.dtypes == ("float32",)
    assert info.gsd_m == pytest.approx(20.0)


def test_mercator_gsd_is_ground_distance(mercator_tif):
    info = _info(mercator_tif)
    assert info.crs == "EPSG:3857"
    assert info.gsd_m == pytest.approx(10.0 * np.cos(np.radians(45.0)), rel=0.01)


def test_ref_hints_win_over_rules_and_tags(utm_tif):
    when = datetime(2020, 1, 2, tzinfo=timezone.utc)
    info = read_scene_info(SourceRef(uri=utm_tif, sensor="Landsat-8", acquired=when, label="farm"))
    assert (info.sensor, info.acquired, info.label) == ("landsat8", when, "farm")
    assert (info.platform, info.sensor_source) == ("landsat-8", "list")


def test_custom_rules(utm_tif):
    rules = rules_from_dicts([{"name": "mine", "pattern": "*utm*"}])
    assert _info(utm_tif, rules=rules).sensor == "mine"


@pytest.mark.parametrize(
    "fixture, words",
    [
        ("empty_tif", "empty file (0 bytes)"),
        ("corrupt_tif", "not a raster GDAL can open"),
        ("nodata_tif", "all pixels are nodata"),
    ],
)
def test_bad_scenes_raise_naming_the_file(request, fixture, words):
    path = request.getfixturevalue(fixture)
    with pytest.raises(SceneError) as err:
        _info(path)
    assert words in err.value.problem
    assert path in str(err.value) and err.value.uri == path


def test_corrupt_message_names_driver(corrupt_tif):
    with pytest.raises(SceneError, match="GTiff"):
        _info(corrupt_tif)


def test_truncated_pixel_data_is_rejected(tmp_path):
    full = write_tif(tmp_path / "full.tif", width=256, height=256, crs="EPSG:32631",
                     transform=from_origin(500000, 5000000, 1, 1), compress="deflate",
                     tiled=True, blockxsize=64, blockysize=64)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(open(full, "rb").read()[:20000])
    with pytest.raises(SceneError, match="pixel data could not be read.*TIFF"):
        _info(str(cut))


def test_missing_file(tmp_path):
    with pytest.raises(SceneError, match="file not found"):
        _info(str(tmp_path / "nope.tif"))


def test_directory_is_not_a_scene(tmp_path):
    with pytest.raises(SceneError, match="directory"):
        _info(str(tmp_path))


def test_decompression_bomb_guard(utm_tif):
    with pytest.raises(SceneError, match="exceeds the limits"):
        _info(utm_tif, max_pixels=1000)
    with pytest.raises(SceneError, match="exceeds the limits"):
        _info(utm_tif, max_side=50)


def test_non_invertible_transform(tmp_path):
    path = write_tif(tmp_path / "flat.tif", crs="EPSG:32631",
                     transform=(10.0, 0.0, 500000.0, 0.0, 0.0, 5000000.0))
    with pytest.raises(SceneError, match="not invertible"):
        _info(path)


def test_all_nan_float_without_nodata(tmp_path):
    data = np.full((1, 20, 20), np.nan, dtype="float32")
    path = write_tif(tmp_path / "nan.tif", width=20, height=20, dtype="float32", data=data,
                     crs="EPSG:32631", transform=from_origin(500000, 5000000, 1, 1))
    with pytest.raises(SceneError, match="all pixels are nodata"):
        _info(path)


def test_partial_nodata_scene_is_kept(tmp_path):
    data = np.zeros((1, 256, 256), dtype="uint8")
    data[0, 100:110, 200:210] = 7  # a small valid patch still survives the decimated probe
    path = write_tif(tmp_path / "patch.tif", width=256, height=256, data=data, nodata=0,
                     crs="EPSG:32631", transform=from_origin(500000, 5000000, 1, 1))
    assert _info(path).nodata == 0.0


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_gcp_only_scene_uses_affine_gcps(tmp_path):
    import rasterio
    from rasterio.control import GroundControlPoint as GCP

    path = write_tif(tmp_path / "gcps.tif", width=40, height=30)
    gcps = [GCP(0, 0, 500000, 5000000), GCP(0, 40, 500400, 5000000), GCP(30, 0, 500000, 4999700),
            GCP(30, 40, 500400, 4999700)]
    with rasterio.open(path, "r+") as ds:
        ds.gcps = (gcps, "EPSG:32631")
    info = _info(path)
    assert info.georeferenced and info.crs == "EPSG:32631"
    assert info.gsd_m == pytest.approx(10.0)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_gcps_an_affine_cannot_explain_are_not_used(tmp_path):
    import rasterio
    from rasterio.control import GroundControlPoint as GCP

    path = write_tif(tmp_path / "warped.tif", width=40, height=30)
    gcps = [GCP(0, 0, 500000, 5000000), GCP(0, 40, 500400, 5000000), GCP(30, 0, 500000, 4999700),
            GCP(30, 40, 500900, 4999100)]  # strongly non-affine corner
    with rasterio.open(path, "r+") as ds:
        ds.gcps = (gcps, "EPSG:32631")
    info = _info(path)
    assert not info.georeferenced and info.footprint_wkb is None


def test_checksum_can_be_skipped(utm_tif):
    info = _info(utm_tif, checksum=False)
    assert info.checksum == "" and len(info.scene_id) == 16


def test_same_bytes_at_two_paths_same_scene_id(tmp_path, utm_tif):
    copy = tmp_path / "copy.tif"
    copy.write_bytes(open(utm_tif, "rb").read())
    assert _info(str(copy)).scene_id == _info(utm_tif).scene_id


def test_remote_checksum_reads_only_the_head_and_tells_objects_apart():
    """Remote inputs get a content identity from length + ETag + first MiB, not a full download."""
    import fsspec

    fs = fsspec.filesystem("memory")
    payload = os.urandom(3 * (1 << 20) + 5)
    longer = payload + b"x"
    for name, data in (("a", payload), ("b", payload), ("c", longer)):
        fs.pipe_file(f"/ringmo-test/{name}.tif", data)
    try:
        got = {name: file_checksum(f"memory://ringmo-test/{name}.tif") for name in "abc"}
    finally:
        fs.rm("/ringmo-test", recursive=True)
    head = hashlib.sha256(f"{len(payload)}||".encode() + payload[: 1 << 20]).hexdigest()
    assert got["a"] == got["b"] == "sha256-head:" + head  # same bytes at two URLs: one scene
    assert got["c"] != got["a"]


def test_gdal_env_remote_options_only_for_remote_uris():
    from pipeline.gdal_env import gdal_options

    local = gdal_options("/data/x.tif")
    assert local["GDAL_CACHEMAX"] >= 1 << 20  # rasterio reads an int as bytes, not MB
    assert "GDAL_DISABLE_READDIR_ON_OPEN" not in local  # world files / .aux.xml still found
    remote = gdal_options("https://h/x.jp2?sig=abc")
    assert remote["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert ".jp2" in remote["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"].split(",")
    assert "CPL_VSIL_CURL_ALLOWED_EXTENSIONS" not in gdal_options("https://h/api/scene")
    assert gdal_options("s3://b/k.tif", GDAL_CACHEMAX=64)["GDAL_CACHEMAX"] == 64


def test_file_uri_is_read(utm_tif):
    info = read_scene_info(SourceRef(uri="file://" + utm_tif))
    assert info.georeferenced and info.width == 64


def _large_nodata_scene(path, patch=None):
    """A 1536 px tiled scene, nodata=0 everywhere except ``patch`` (row, col) slices."""
    data = np.zeros((1, 1536, 1536), dtype="uint8")
    if patch is not None:
        data[(0, *patch)] = 9
    return write_tif(path, width=1536, height=1536, data=data, nodata=0, crs="EPSG:32631",
                     transform=from_origin(500000, 5000000, 1, 1), tiled=True, blockxsize=256,
                     blockysize=256, compress="deflate")


def _reads(monkeypatch) -> list:
    import pipeline.ingest as ingest

    calls, real = [], ingest._valid_in
    monkeypatch.setattr(ingest, "_valid_in", lambda ds, window=None, out_shape=None: (
        calls.append("decimated" if window is None else "block"), real(ds, window, out_shape))[1])
    return calls


def test_large_scene_probes_sampled_blocks_not_a_full_decode(tmp_path, monkeypatch):
    calls = _reads(monkeypatch)
    _info(_large_nodata_scene(tmp_path / "big.tif", patch=(slice(0, 1536), slice(0, 1536))))
    assert calls == ["block"]  # the first sampled block has data: nothing else is decoded


def test_large_scene_valid_only_between_samples_is_kept_via_decimated_read(tmp_path, monkeypatch):
    calls = _reads(monkeypatch)
    # 64 px patch at the scene's corner: no sampled block covers it, the decimated read does
    assert _info(_large_nodata_scene(tmp_path / "corner.tif", patch=(slice(0, 64), slice(0, 64)))).nodata == 0.0
    assert calls == ["block"] * 9 + ["decimated"]


def test_large_all_nodata_scene_is_rejected_with_its_reason(tmp_path):
    with pytest.raises(SceneError, match="all pixels are nodata"):
        _info(_large_nodata_scene(tmp_path / "empty.tif"))


REAL_ALL_NODATA = "/work/shared/realdata/geotiff/rasterio_all-nodata.tif"


@pytest.mark.skipif(not os.path.exists(REAL_ALL_NODATA), reason="real data not present")
def test_real_all_nodata_scene_is_rejected():
    with pytest.raises(SceneError, match="all pixels are nodata"):
        _info(REAL_ALL_NODATA)

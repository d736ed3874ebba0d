"""Radiometry and screening on generated imitations of real products (CI carries these).

Each raster imitates what the real files showed: Sentinel-2/Landsat uint16 stacks without
nodata, a Sentinel-1 GRD (uint16 amplitude, ~2 % zero fill, no nodata flag), an RTC float32
gamma0 with NaN/0 fill, JPEG2000/JPEG quicklooks with black or white collars and JPEG noise,
a cloudy Landsat scene with its BQA, and a geostationary full disk.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from affine import Affine

from catalogs.schema import BLANK, CLOUD, KEPT, NODATA
from pipeline.encode import decode
from pipeline.quality import QualityConfig
from pipeline.scene import SceneError, SensorRule
from pipeline.sensors import match_rule
from pipeline.tiler import TileConfig, stage_scene
from pipeline.windows import TileGrid
from tests.pipeline.rasters import scene_for, textured, write_raster

CONFIG = TileConfig(grid=TileGrid(64))


def _stage(scene, tmp_path, rule, config=CONFIG, name="corpus"):
    path = Path(stage_scene(scene, rule, config, tmp_path / name / "staging"))
    table = pq.read_table(path)
    blob = tmp_path / name / "staging" / f"{scene.scene_id}.tiles"
    samples = {}
    data = blob.read_bytes() if blob.exists() else b""
    for row in table.to_pylist():
        if row["stage_offset"] is not None:
            samples[row["tile_id"]] = data[row["stage_offset"]:row["stage_offset"] + row["stage_size"]]
    return table.to_pylist(), samples


def _window(data, row):
    """The source window of a row, channels last."""
    c, r, w, h = row["col_off"], row["row_off"], row["win_width"], row["win_height"]
    return np.moveaxis(data[:, r:r + h, c:c + w], 0, 2)


def test_six_band_uint16_tile_equals_the_source_window_bit_for_bit(tmp_path):
    data = textured(128, 128, 6, seed=1, dtype="uint16", lo=200, hi=9000)
    scene = scene_for(write_raster(tmp_path / "s2_6band.tif", data, gsd=20.0, block=64), sensor="sentinel2")
    rows, samples = _stage(scene, tmp_path, match_rule("sentinel2_stack.tif", hint="sentinel2"))
    assert len(samples) == 4 and {r["dtype"] for r in rows} == {"uint16"}
    for row in rows:
        tile = decode(samples[row["tile_id"]], row["format"])
        assert tile.dtype == np.uint16 and tile.shape == (64, 64, 6)
        np.testing.assert_array_equal(tile, _window(data, row))
        np.testing.assert_allclose(row["band_mean"], _window(data, row).reshape(-1, 6).mean(0), rtol=0.02)


def test_four_band_uint16_stack_decodes_to_four_bands_in_plain_webdataset(tmp_path):
    webdataset = pytest.importorskip("webdataset")
    import zstandard

    data = textured(64, 64, 4, seed=2, dtype="uint16", lo=5000, hi=30000)
    scene = scene_for(write_raster(tmp_path / "l8_stack.tif", data, gsd=30.0, block=64), sensor="landsat")
    rows, samples = _stage(scene, tmp_path, SensorRule(name="landsat"))
    row = rows[0]
    assert row["format"] == "npy.zst"  # never a PNG: its 4th channel would be read as alpha
    shard = tmp_path / "shard.tar"
    with tarfile.open(shard, "w") as tar:
        for name, payload in ((f"{row['tile_id']}.{row['format']}", samples[row["tile_id"]]),
                              (f"{row['tile_id']}.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    # the README one-liner: a decoder for the .npy.zst extension, nothing from this project
    npy_zst = webdataset.handle_extension(
        "npy.zst", lambda b: np.load(io.BytesIO(zstandard.decompress(b))))
    sample = next(iter(webdataset.WebDataset(str(shard), shardshuffle=False).decode(npy_zst)))
    assert sample["npy.zst"].shape == (64, 64, 4)
    np.testing.assert_array_equal(sample["npy.zst"], _window(data, row))


def test_float_sar_values_are_kept_and_fill_is_nodata(tmp_path):
    """RTC gamma0 (float32 linear power) with NaN and 0 fill: stored as is, fill excluded."""
    rng = np.random.default_rng(3)
    gamma0 = rng.lognormal(np.log(0.05), 0.8, (1, 128, 128)).astype(np.float32)
    gamma0[0, :, :4] = 0.0  # unflagged zero fill (terrain-corrected border)
    gamma0[0, :4, :] = np.nan
    scene = scene_for(write_raster(tmp_path / "S1B_RTC_gamma0_VV.tif", gamma0, gsd=200.0, block=64),
                      sensor="sentinel1")
    rule = match_rule(scene.uri, hint=scene.sensor)
    assert rule.name == "sentinel1"
    config = replace(CONFIG, quality=QualityConfig(min_valid_frac=0.5))
    rows, samples = _stage(scene, tmp_path, rule, config)
    assert {r["dtype"] for r in rows} == {"float32"} and all(r["status"] == KEPT for r in rows)
    for row in rows:
        tile = decode(samples[row["tile_id"]], row["format"])
        src = _window(gamma0, row)
        valid = np.isfinite(src[..., 0]) & (src[..., 0] != 0)
        np.testing.assert_array_equal(tile[valid], src[valid])
        assert row["valid_frac"] == pytest.approx(valid.mean())
        assert row["band_mean"][0] == pytest.approx(src[valid].mean(), rel=0.1)  # valid pixels only


def _grd(tmp_path, fill_frac=0.02):
    """Sentinel-1 GRD-like amplitude DN: log-normal speckle over smooth terrain, zero fill."""
    rng = np.random.default_rng(4)
    terrain = textured(192, 192, 1, seed=4, dtype="float64", lo=4.5, hi=6.5)
    dn = np.exp(terrain + rng.normal(0, 0.5, terrain.shape)).clip(1, 65535).astype(np.uint16)
    dn[:, :, : int(192 * fill_frac * 3)] = 0  # slice-border fill, no nodata flag
    path = write_raster(tmp_path / "S1A_IW_GRDH_1SDV_20200101T000000_VV.tif", dn, gsd=10.0, block=64)
    return scene_for(path, sensor="sentinel1"), dn


def test_grd_tiles_are_not_saturated_nor_blank(tmp_path):
    scene, dn = _grd(tmp_path)
    rule = replace(match_rule(scene.uri, hint=scene.sensor), scale="display")
    rows, samples = _stage(scene, tmp_path, rule, replace(CONFIG, quality=QualityConfig(min_valid_frac=0.5)))
    assert not [r for r in rows if r["status"] == BLANK]
    for row in rows:
        if row["status"] != KEPT:
            continue
        tile = decode(samples[row["tile_id"]], row["format"])[..., 0]
        valid = _window(dn, row)[..., 0] > 0
        assert (tile[valid] == 255).mean() < 0.05 and (tile[valid] == 0).mean() < 0.05
        assert 60 < tile[valid].mean() < 200
    native, _ = _stage(scene, tmp_path, match_rule(scene.uri, hint=scene.sensor), replace(CONFIG, quality=QualityConfig(min_valid_frac=0.5)),
                       name="native")
    assert {r["dtype"] for r in native} == {"uint16"} and not [r for r in native if r["status"] == BLANK]
    edge = [r for r in native if r["col_off"] == 0]
    assert all(r["valid_frac"] < 0.95 for r in edge)  # the zero fill counts as nodata


def _qa_scene(tmp_path, kind, qa_factor=1):
    """A Landsat-like 4-band scene and a QA raster (same extent, ``qa_factor`` coarser)."""
    data = textured(128, 128, 4, seed=5, dtype="uint16", lo=6000, hi=12000)
    path = write_raster(tmp_path / "LC08_L1TP_020039_20150804_stack.tif", data, gsd=30.0, block=64)
    n = 128 // qa_factor
    rng = np.random.default_rng(6)
    cloudy = textured(n, n, 1, seed=7, dtype="float64", hi=1.0)[0] > 0.55
    cloudy[: n // 2, : n // 2] = True  # one tile mostly cloud
    shadow = ~cloudy & (rng.random((n, n)) < 0.1)
    if kind == "landsat_bqa":  # pre-collection: bits 14-15 cloud confidence
        qa = np.where(cloudy, 0b11 << 14, 0b01 << 14).astype(np.uint16)
    elif kind == "landsat_qa_pixel":
        qa = (np.where(cloudy, 1 << 3, 1 << 6) | np.where(shadow, 1 << 4, 0)).astype(np.uint16)
    else:  # s2_scl
        qa = np.where(cloudy, 9, np.where(shadow, 3, 4)).astype(np.uint8)
    qa_path = write_raster(tmp_path / f"qa_{kind}.tif", qa[None], gsd=30.0 * qa_factor, block=64)
    scene = replace(scene_for(path, sensor="landsat"), qa_uri=str(qa_path), qa_kind=kind,
                    band_names=("B2", "B3", "B4", "B5"))
    return scene, cloudy, shadow


@pytest.mark.parametrize("kind, factor", [("landsat_bqa", 1), ("landsat_qa_pixel", 1), ("s2_scl", 2)])
def test_cloud_frac_agrees_with_the_qa_band(tmp_path, kind, factor):
    scene, cloudy, shadow = _qa_scene(tmp_path, kind, factor)
    rows, _ = _stage(scene, tmp_path, SensorRule(name="landsat"),
                     replace(CONFIG, quality=QualityConfig(max_cloud=0.5)))
    for row in rows:
        r, c = row["row_off"] // factor, row["col_off"] // factor
        win = np.s_[r:r + 64 // factor, c:c + 64 // factor]
        assert row["cloud_frac"] == pytest.approx(cloudy[win].mean(), abs=0.03)
        if kind == "landsat_bqa":
            assert row["shadow_frac"] is None  # pre-collection BQA has no shadow bits
        else:
            assert row["shadow_frac"] == pytest.approx(shadow[win].mean(), abs=0.03)
        if row["cloud_frac"] > 0.5:
            assert row["status"] == CLOUD and row["detail"].startswith("cloud_frac")
    assert any(r["status"] == CLOUD for r in rows) and any(r["status"] == KEPT for r in rows)


def test_spectral_test_finds_a_white_cloud_without_qa(tmp_path):
    """No QA: the simplified Fmask test on TOA reflectance (Landsat DN * 2e-5 - 0.1)."""
    land = np.stack([textured(128, 128, 1, seed=s, dtype="float64", lo=lo, hi=hi)[0]
                     for s, (lo, hi) in enumerate([(0.06, 0.1), (0.06, 0.12), (0.05, 0.12), (0.25, 0.4)])])
    texture = textured(64, 64, 1, seed=11, dtype="float64", lo=-0.03, hi=0.03)[0]
    land[:, :64, :64] = np.array([0.45, 0.44, 0.43, 0.45])[:, None, None] + texture  # white cloud
    dn = ((land + 0.1) / 2e-5).astype(np.uint16)
    scene = replace(scene_for(write_raster(tmp_path / "landsat_b2_b5.tif", dn, gsd=30.0, block=64),
                              sensor="landsat"), band_names=("B2", "B3", "B4", "B5"))
    rows, _ = _stage(scene, tmp_path, SensorRule(name="landsat"))
    by_pos = {(r["row_off"], r["col_off"]): r for r in rows}
    assert by_pos[(0, 0)]["cloud_frac"] > 0.95 and by_pos[(0, 0)]["status"] == CLOUD
    assert by_pos[(64, 64)]["cloud_frac"] < 0.05 and by_pos[(64, 64)]["status"] == KEPT
    unknown = replace(scene, sensor="unknown", band_names=None)  # no reflectance scale: null
    rows, _ = _stage(unknown, tmp_path, SensorRule(name="unknown"), name="unknown")
    assert {r["cloud_frac"] for r in rows} == {None}


def _collared(tmp_path, colour: int, name: str):
    """A uint8 RGB quicklook whose footprint is a rotated square inside a constant collar, with
    JPEG-like noise on the collar and a dark lake inside the footprint."""
    n = 128
    img = textured(n, n, 3, seed=8, lo=60, hi=200)
    rr, cc = np.mgrid[:n, :n]
    inside = (np.abs(rr - n / 2) + np.abs(cc - n / 2)) < n * 0.55
    lake = (rr - 64) ** 2 + (cc - 64) ** 2 < 8 ** 2
    img[:, lake] = 3  # dark water, not connected to the border: stays valid
    noise = np.random.default_rng(9).integers(0, 6, (3, n, n))
    img[:, ~inside] = np.abs(colour - noise[:, ~inside])
    path = write_raster(tmp_path / name, img.astype(np.uint8), crs=None, block=64)
    return scene_for(path, sensor="aerial"), ~inside


@pytest.mark.parametrize("colour", [0, 255])
def test_border_collars_are_nodata_and_inner_dark_pixels_are_not(tmp_path, colour):
    scene, collar = _collared(tmp_path, colour, f"quicklook_{colour}.tif")
    rows, _ = _stage(scene, tmp_path, SensorRule(name="aerial"), replace(CONFIG, quality=QualityConfig(min_valid_frac=0.0)))
    for row in rows:
        r, c = row["row_off"], row["col_off"]
        expected = 1.0 - collar[r:r + 64, c:c + 64].mean()
        assert row["valid_frac"] == pytest.approx(expected, abs=0.03)
    total = np.mean([r["valid_frac"] for r in rows])
    assert total == pytest.approx(1 - collar.mean(), abs=0.02)
    strict, _ = _stage(scene, tmp_path, SensorRule(name="aerial"), name="strict")
    assert {r["status"] for r in strict} == {NODATA}  # every 64 px tile holds some collar


def test_geostationary_disk_stays_georeferenced_with_off_disk_tiles_nodata(tmp_path):
    from pipeline.ingest import read_scene_info
    from pipeline.scene import SourceRef
    from pyproj import CRS, Transformer

    crs = "+proj=geos +h=35786023 +lon_0=-75 +sweep=x +ellps=GRS80 +units=m +no_defs"
    ext, n = 5434894.0, 256
    px = 2 * ext / n
    cc, rr = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    x, y = -ext + cc * px, ext - rr * px
    lon, _ = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True).transform(
        x, y, errcheck=False)
    on = np.isfinite(lon)
    values = 1000 + 400 * np.sin(x / 3e5) * np.cos(y / 4e5) + np.random.default_rng(0).normal(0, 40, x.shape)
    data = np.where(on, values, 0).astype(np.uint16)[None]
    path = tmp_path / "goes16_abi_fulldisk.tif"
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="uint16", crs=crs,
                       transform=Affine(px, 0, -ext, 0, -px, ext), tiled=True, blockxsize=64,
                       blockysize=64) as dst:
        dst.write(data)
    scene = read_scene_info(SourceRef(str(path)))
    assert scene.georeferenced
    assert "geostationary" in CRS.from_user_input(scene.crs).coordinate_operation.method_name.lower()
    import shapely

    footprint = shapely.from_wkb(scene.footprint_wkb)
    west, south, east, north = footprint.bounds
    assert -160 < west < -145 and -5 < east < 10 and north > 70 and south < -70
    rows, _ = _stage(scene, tmp_path, SensorRule(name="goes"), TileConfig(grid=TileGrid(32)))
    corners = [r for r in rows if (r["row_off"], r["col_off"]) in {(0, 0), (0, 224), (224, 0), (224, 224)}]
    assert {r["status"] for r in corners} == {NODATA} and all(r["geometry"] is None for r in corners)
    assert all(r["detail"] == "off the Earth (no footprint)" for r in corners)
    limb = [r for r in rows if r["geometry"] is not None and r["valid_frac"] < 0.9]
    assert limb and {r["status"] for r in limb} == {NODATA}  # the zeros beyond the limb are collar
    centre = [r for r in rows if (r["row_off"], r["col_off"]) == (128, 128)][0]
    assert centre["status"] == KEPT and centre["geometry"] is not None and centre["valid_frac"] == 1.0


def test_upsampling_guard(tmp_path):
    data = textured(64, 64, 3, seed=10)
    scene = scene_for(write_raster(tmp_path / "coarse.tif", data, gsd=300.0, block=64))
    config = TileConfig(grid=TileGrid(64, target_gsd_m=100.0))  # 3x upsampling
    with pytest.raises(SceneError, match="upsampled 3.0x") as caught:
        _stage(scene, tmp_path, SensorRule(name="t"), config)
    assert caught.value.status == "too_coarse"
    rows, _ = _stage(scene, tmp_path, SensorRule(name="t", allow_upsample=True), config)
    assert rows
    rows, _ = _stage(scene, tmp_path, SensorRule(name="t"), replace(config, max_upsample=4.0), name="loose")
    assert rows


def test_sar_kind_from_rule_product_and_values(tmp_path):
    from pipeline.sar import is_sar, sar_kind

    scene, dn = _grd(tmp_path)
    generic = SensorRule(name="unknown")
    assert not is_sar(generic, scene) and is_sar(generic, replace(scene, product="GRD"))
    assert sar_kind(generic, scene, "uint16", None) == "amplitude"
    linear = np.array([0.01, 0.2, 0.05], np.float32)
    assert sar_kind(generic, scene, "float32", linear) == "linear"
    assert sar_kind(generic, scene, "float32", 10 * np.log10(linear)) == "db"
    assert sar_kind(SensorRule(name="x", sar="db"), scene, "float32", linear) == "db"
    # a registry-recognised GRD under a generic rule: zero fill is nodata, values stay native
    rows, samples = _stage(replace(scene, product="GRD"), tmp_path, generic,
                           replace(CONFIG, quality=QualityConfig(min_valid_frac=0.5)))
    edge = [r for r in rows if r["col_off"] == 0]
    assert all(r["valid_frac"] < 0.95 for r in edge)
    row = next(r for r in rows if r["status"] == KEPT)
    np.testing.assert_array_equal(decode(samples[row["tile_id"]], row["format"]), _window(dn, row))

from contextlib import contextmanager
from dataclasses import replace

import cv2
import numpy as np
import pyarrow.parquet as pq
from pathlib import Path

import pytest
import shapely

import pipeline.tiler as tiler
from pipeline.collars import CORNER
from catalogs.keys import tile_id_for
from catalogs.schema import BLANK, CANDIDATE_SCHEMA, KEPT, NODATA
from pipeline.encode import decode
from pipeline.hashing import pixel_hash
from pipeline.quality import QualityConfig
from pipeline.scene import SceneError, SensorRule
from pipeline.tiler import TileConfig, iter_candidates, stage_scene
from pipeline.windows import TileGrid, grid_key
from tests.pipeline.rasters import scene_for, textured, write_raster

RULE = SensorRule(name="test")
CONFIG = TileConfig(grid=TileGrid(128))


@pytest.fixture
def rgb_scene(tmp_path):
    data = textured(300, 400, 3, seed=1)  # 400 wide: 3 full tile columns + a 16 px remainder
    return scene_for(write_raster(tmp_path / "rgb.tif", data, block=128)), data


def _stage(scene, tmp_path, config=CONFIG, rule=RULE, name="corpus"):
    path = Path(stage_scene(scene, rule, config, tmp_path / name / "staging"))
    return pq.read_table(path), path


def _samples(table, path):
    blob = (path.parent.parent / table.column("stage_file")[0].as_py()).read_bytes()
    out = {}
    for row in table.to_pylist():
        if row["stage_offset"] is not None:
            data = blob[row["stage_offset"]:row["stage_offset"] + row["stage_size"]]
            out[row["tile_id"]] = decode(data, row["format"])
    return out


def test_staged_files_are_deterministic(rgb_scene, tmp_path):
    scene, _ = rgb_scene
    _, a = _stage(scene, tmp_path, name="a")
    _, b = _stage(scene, tmp_path, name="b")
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".tiles").read_bytes() == b.with_suffix(".tiles").read_bytes()
    assert not list(a.parent.glob("*.tmp"))


def test_rows_follow_the_schema_and_samples_match_the_source(rgb_scene, tmp_path):
    scene, data = rgb_scene
    table, path = _stage(scene, tmp_path)
    assert table.schema == CANDIDATE_SCHEMA
    assert table.num_rows == 12  # 4 columns (last one padded) x 3 rows (last one padded)
    samples = _samples(table, path)
    for row in table.to_pylist():
        assert row["tile_id"] == tile_id_for(scene.scene_id, row["col_off"], row["row_off"], 128, 128,
                                             grid_key(CONFIG.grid))
        if row["status"] != KEPT:
            continue
        c, r = row["col_off"], row["row_off"]
        sample = samples[row["tile_id"]]
        np.testing.assert_array_equal(sample, np.moveaxis(data[:, r:r + 128, c:c + 128], 0, 2))
        assert row["pixel_hash"] == pixel_hash(sample)
        assert row["bands"] == "red,green,blue" and row["format"] == "png" and row["gsd_m"] == 10.0
        np.testing.assert_allclose(row["band_mean"], sample.reshape(-1, 3).mean(0), atol=3)
    offsets = [(r["stage_offset"], r["stage_size"]) for r in table.to_pylist() if r["stage_size"]]
    assert [o for o, _ in offsets] == list(np.cumsum([0] + [s for _, s in offsets])[:-1])
    assert path.with_suffix(".tiles").stat().st_size == sum(s for _, s in offsets)


def test_footprints_and_non_georeferenced_scenes(rgb_scene, tmp_path):
    scene, data = rgb_scene
    table, _ = _stage(scene, tmp_path)
    row = table.to_pylist()[0]
    geom = shapely.from_wkb(row["geometry"])
    b = row["bbox"]
    assert geom.bounds == pytest.approx((b["xmin"], b["ymin"], b["xmax"], b["ymax"]))
    assert b["xmin"] < row["lon"] < b["xmax"] and b["ymin"] < row["lat"] < b["ymax"]
    plain = scene_for(write_raster(tmp_path / "plain.tif", data, crs=None, block=128))
    rows = _stage(plain, tmp_path, name="plain")[0].to_pylist()
    assert all(r["geometry"] is None and r["lon"] is None and r["gsd_m"] is None for r in rows)
    assert {r["georeferenced"] for r in rows} == {False}


class _RecordingDataset:
    """Wraps a rasterio dataset and records every read, to check the tiler's read pattern."""

    def __init__(self, src, log):
        self._src, self._log = src, log

    def __getattr__(self, name):
        return getattr(self._src, name)

    def read(self, indexes=None, **kwargs):
        window = kwargs.get("window")
        if window is None or (window.width, window.height) != (CORNER, CORNER):  # collar probes
            self._log.append(window)
        return self._src.read(indexes, **kwargs)


def _record_reads(monkeypatch):
    log = []
    real = tiler.open_scene

    @contextmanager
    def recording(uri, *args, **kwargs):
        with real(uri, *args, **kwargs) as src:
            yield _RecordingDataset(src, log)

    monkeypatch.setattr(tiler, "open_scene", recording)
    return log


def test_reads_are_windowed_strips(rgb_scene, tmp_path, monkeypatch):
    scene, _ = rgb_scene
    log = _record_reads(monkeypatch)
    full = _stage(scene, tmp_path, name="full")[0]
    assert len(log) == 3  # one strip per row of tiles: each source pixel read once
    assert all(w is not None and w.height <= 128 for w in log)
    log.clear()
    narrow = replace(CONFIG, max_strip_mb=128 * 200 * 3 / 1e6)  # at most 200 columns per strip
    chunked = _stage(scene, tmp_path, config=narrow, name="narrow")[0]
    assert all(w is not None and w.height <= 128 and w.width <= 200 for w in log)
    assert len(log) > 3
    assert chunked.column("pixel_hash").to_pylist() == full.column("pixel_hash").to_pylist()


def test_resume_skips_a_staged_scene(rgb_scene, tmp_path, monkeypatch):
    scene, _ = rgb_scene
    _, first = _stage(scene, tmp_path)
    log = _record_reads(monkeypatch)
    _, again = _stage(scene, tmp_path)
    assert again == first and log == []


def test_pad_versus_drop(rgb_scene, tmp_path):
    scene, _ = rgb_scene
    lenient = QualityConfig(min_valid_frac=0.0)
    padded, path = _stage(scene, tmp_path, config=TileConfig(grid=TileGrid(128), quality=lenient))
    dropped, _ = _stage(scene, tmp_path, config=TileConfig(grid=TileGrid(128, edge="drop")), name="d")
    assert padded.num_rows == 12 and dropped.num_rows == 6
    assert set(dropped.column("win_width").to_pylist()) == {128}
    edge = [r for r in padded.to_pylist() if r["col_off"] == 384 and r["row_off"] == 0][0]
    assert edge["valid_frac"] == pytest.approx(16 / 128)
    sample = _samples(padded, path)[edge["tile_id"]]
    assert sample.shape == (128, 128, 3) and (sample[:, 16:] == 0).all()


def test_rejections_are_measured_but_never_encoded(tmp_path, monkeypatch):
    data = textured(256, 384, 3, seed=2)
    data[:, :128, 128:256] = 77  # a flat tile -> blank
    data[:, :, 300:] = 0  # a collar filled with the nodata value -> nodata
    scene = scene_for(write_raster(tmp_path / "r.tif", data, nodata=0, block=128))
    encoded = []
    real = tiler.encode
    monkeypatch.setattr(tiler, "encode", lambda a, *args, **kw: encoded.append(1) or real(a, *args, **kw))
    rows = {(r["col_off"], r["row_off"]): r for r in _stage(scene, tmp_path)[0].to_pylist()}
    assert rows[(128, 0)]["status"] == BLANK and rows[(128, 0)]["detail"].startswith("std")
    assert rows[(256, 0)]["status"] == NODATA and rows[(256, 0)]["valid_frac"] == pytest.approx(44 / 128)
    assert rows[(0, 0)]["status"] == KEPT and rows[(0, 0)]["detail"] is None
    for r in rows.values():
        assert (r["stage_offset"] is None) == (r["status"] != KEPT)
        assert (r["phash"] is None) == (r["status"] != KEPT)
    assert len(encoded) == sum(r["status"] == KEPT for r in rows.values())


def test_internal_mask_band_marks_nodata(tmp_path):
    data = textured(128, 256, 3, seed=3)
    masked = np.zeros((128, 256), bool)
    masked[:, 200:] = True
    scene = scene_for(write_raster(tmp_path / "m.tif", data, masked=masked, block=128))
    rows = _stage(scene, tmp_path)[0].to_pylist()
    assert [r["valid_frac"] for r in rows] == [1.0, pytest.approx(72 / 128)]


def test_resampling_to_target_gsd(tmp_path):
    data = textured(512, 512, 3, seed=4)
    scene = scene_for(write_raster(tmp_path / "g.tif", data, gsd=10.0, block=256))
    config = TileConfig(grid=TileGrid(128, target_gsd_m=20.0))
    table, path = _stage(scene, tmp_path, config=config)
    assert table.num_rows == 4
    assert set(table.column("win_width").to_pylist()) == {256}
    assert set(table.column("gsd_m").to_pylist()) == {20.0}
    row = table.to_pylist()[3]
    sample = _samples(table, path)[row["tile_id"]]
    assert sample.shape == (128, 128, 3)
    src = np.moveaxis(data[:, 256:, 256:], 0, 2)
    expected = cv2.resize(src, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(sample.astype(int) - expected).max() <= 1


def test_band_selection_native_multispectral(tmp_path):
    data = textured(128, 128, 13, seed=5, dtype="uint16", hi=10000)
    scene = scene_for(write_raster(tmp_path / "s2.tif", data, block=128))
    rule = SensorRule(name="s2", bands=(4, 3, 2), band_names=("B4", "B3", "B2"))
    table, path = _stage(scene, tmp_path, rule=rule)
    row = table.to_pylist()[0]
    assert (row["bands"], row["band_count"], row["dtype"], row["format"]) == ("B4,B3,B2", 3, "uint16", "npy.zst")
    sample = _samples(table, path)[row["tile_id"]]
    np.testing.assert_array_equal(sample, np.moveaxis(data[[3, 2, 1]], 0, 2))
    assert row["band_mean"][0] == pytest.approx(data[3].mean(), rel=0.02)


def test_uint16_display_rule_is_stretched_to_full_uint8_range(tmp_path):
    data = textured(256, 256, 4, seed=6, dtype="uint16", lo=300, hi=3000)
    scene = scene_for(write_raster(tmp_path / "u16.tif", data, block=128, overviews=(2,)))
    config = replace(CONFIG, scaler_pixels=4096)  # fitted from the overview
    table, path = _stage(scene, tmp_path, config=config, rule=SensorRule(name="t", scale="display"))
    assert set(table.column("format").to_pylist()) == {"npy.zst"}  # 4 bands: never RGBA PNG
    assert set(table.column("dtype").to_pylist()) == {"uint8"}
    samples = np.stack(list(_samples(table, path).values()))
    assert samples.shape[-1] == 4
    for b in range(4):
        assert samples[..., b].min() == 0 and samples[..., b].max() == 255


def test_scaler_sample_without_overviews_reads_blocks(tmp_path, monkeypatch):
    data = textured(512, 512, 2, seed=7, dtype="uint16", lo=100, hi=900)
    scene = scene_for(write_raster(tmp_path / "b.tif", data, block=128))
    log = _record_reads(monkeypatch)
    _stage(scene, tmp_path, config=replace(CONFIG, scaler_pixels=4096))
    assert len(log) == 16 + 4  # a 4x4 grid of source blocks, then one strip per row of tiles
    assert all((w.width, w.height) == (128, 128) for w in log[:16])
    assert all((w.width, w.height) == (512, 128) for w in log[16:])


def test_sar_float_to_db(tmp_path):
    tex = textured(128, 128, 1, seed=8, dtype="float64", lo=0, hi=1)
    linear = (10 ** ((-25 + 25 * tex) / 10)).astype(np.float32)
    linear[0, :8, :8] = np.nan
    scene = scene_for(write_raster(tmp_path / "sar.tif", linear, block=128), sensor="sar")
    rule = SensorRule(name="sar", scale="display", scaling="sar_db")
    table, path = _stage(scene, tmp_path, config=replace(CONFIG, quality=QualityConfig(min_valid_frac=0.5)),
                         rule=rule)
    row = table.to_pylist()[0]
    assert (row["dtype"], row["format"], row["band_count"], row["status"]) == ("uint8", "png", 1, KEPT), (row["status"], row["detail"], row["format"])
    assert row["valid_frac"] == pytest.approx(1 - 64 / 128**2)
    sample = _samples(table, path)[row["tile_id"]][..., 0].astype(float)
    expected = tex[0] * 255
    assert np.abs(sample - expected)[8:, 8:].max() <= 1.0
    assert (sample[:8, :8] == 0).all()


def test_iter_candidates_rows_and_bytes_agree(rgb_scene):
    scene, _ = rgb_scene
    pairs = list(iter_candidates(scene, RULE, CONFIG))
    assert len(pairs) == 12
    assert all((data is None) == (row["status"] != KEPT) for row, data in pairs)
    assert all(set(row) <= set(CANDIDATE_SCHEMA.names) for row, _ in pairs)


def test_unreadable_window_is_recorded_not_fatal(rgb_scene, tmp_path, monkeypatch):
    from rasterio.errors import RasterioIOError

    scene, _ = rgb_scene
    real = tiler.open_scene

    class Flaky(_RecordingDataset):
        def read(self, indexes=None, **kwargs):
            w = kwargs["window"]
            if w.row_off == 128 and w.col_off <= 128 < w.col_off + w.width:
                raise RasterioIOError("corrupt block")
            return self._src.read(indexes, **kwargs)

    @contextmanager
    def flaky(uri, *args, **kwargs):
        with real(uri, *args, **kwargs) as src:
            yield Flaky(src, [])

    monkeypatch.setattr(tiler, "open_scene", flaky)
    rows = _stage(scene, tmp_path)[0].to_pylist()
    bad = [r for r in rows if r["status"] == "unreadable"]
    assert [(r["col_off"], r["row_off"]) for r in bad] == [(128, 128)]
    assert "corrupt block" in bad[0]["detail"] and bad[0]["stage_offset"] is None
    assert sum(r["status"] == KEPT for r in rows if r["row_off"] == 128) == 2  # neighbours retried


def test_resampled_overlapping_windows(tmp_path, monkeypatch):
    data = textured(300, 300, 3, seed=9)
    scene = scene_for(write_raster(tmp_path / "o.tif", data, gsd=10.0, block=128))
    log = _record_reads(monkeypatch)
    # 96 px windows every 72 px land on whole sample pixels (every 48): one strip per row
    exact, path = _stage(scene, tmp_path, config=TileConfig(grid=TileGrid(64, stride=48, target_gsd_m=15.0)))
    assert (len(log), exact.num_rows) == (4, 16)
    assert {s.shape for s in _samples(exact, path).values()} == {(64, 64, 3)}
    log.clear()
    # 83 px windows every 62 px do not: each window is read and resampled on its own
    odd, path = _stage(scene, tmp_path, config=TileConfig(grid=TileGrid(64, stride=48, target_gsd_m=13.0)),
                       name="odd")
    assert len(log) == odd.num_rows == 25
    assert all(w.width <= 83 and w.height <= 83 for w in log)
    assert {s.shape for s in _samples(odd, path).values()} == {(64, 64, 3)}


def test_geotiff_samples_carry_their_window_georeferencing(rgb_scene, tmp_path):
    from rasterio.io import MemoryFile

    scene, _ = rgb_scene
    table, path = _stage(scene, tmp_path, config=replace(CONFIG, format="tif"))
    row = table.to_pylist()[5]
    blob = path.with_suffix(".tiles").read_bytes()
    sample = blob[row["stage_offset"]:row["stage_offset"] + row["stage_size"]]
    with MemoryFile(sample) as mem, mem.open() as src:
        assert src.crs.to_string() == scene.crs
        assert src.transform.c == scene.transform[2] + row["col_off"] * 10.0
        assert src.transform.f == scene.transform[5] - row["row_off"] * 10.0


@pytest.mark.parametrize("kwargs", [dict(resampling="smooth"), dict(format="bmp"), dict(batch_size=0)])
def test_invalid_tile_configs_are_rejected(kwargs):
    with pytest.raises(ValueError):
        TileConfig(**kwargs)


def test_unusable_scene_raises_scene_error_and_leaves_nothing(rgb_scene, tmp_path):
    scene, _ = rgb_scene
    staging = tmp_path / "corpus" / "staging"
    with pytest.raises(SceneError, match="band"):
        stage_scene(scene, SensorRule(name="x", bands=(5,)), CONFIG, staging)
    assert list(staging.iterdir()) == []
    with pytest.raises(SceneError, match="opened"):
        stage_scene(replace(scene, uri=str(tmp_path / "gone.tif")), RULE, CONFIG, staging)
    assert list(staging.iterdir()) == []

"""The corpus builder end to end on the sample scenes (small scale, in-process engine)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import cv2
import geopandas
import pyarrow.parquet as pq
import webdataset as wds

from catalogs.geoparquet import read_geo_metadata
from catalogs.manifest import read_manifest
from tests.workflows.conftest import small_build_config
from workflows import tasks
from workflows.build import build


def test_bad_inputs_are_recorded_and_the_run_completes(built_corpus):
    corpus, summary = built_corpus
    rejected = {r["uri"].rsplit("/", 1)[-1]: r["error"] for r in summary["rejected_inputs"]}
    assert any("truncated" in name for name in rejected), rejected
    assert any("empty" in name for name in rejected), rejected
    assert all(error for error in rejected.values())
    scenes = pq.read_table(corpus / "catalog" / "scenes.parquet").to_pylist()
    assert {s["uri"] for s in scenes if s["status"] == "rejected"} >= {r["uri"] for r in summary["rejected_inputs"]}
    assert summary["tiles"]["kept"] > 50
    assert summary["scenes"]["read"] >= 10


def test_accounting_identity(built_corpus):
    corpus, summary = built_corpus
    kept = pq.read_table(corpus / "catalog" / "tiles.parquet")
    rejected = pq.read_table(corpus / "catalog" / "rejected.parquet")
    assert kept.num_rows + rejected.num_rows == summary["tiles"]["candidates"]
    assert set(kept.column("status").to_pylist()) == {"kept"}
    assert "kept" not in set(rejected.column("status").to_pylist())
    ids = kept.column("tile_id").to_pylist() + rejected.column("tile_id").to_pylist()
    assert len(ids) == len(set(ids))


def test_shards_open_with_plain_webdataset(built_corpus):
    corpus, _ = built_corpus
    kept = pq.read_table(corpus / "catalog" / "tiles.parquet")
    urls = sorted(str(p) for p in (corpus / "shards").glob("*.tar"))
    keys = [s["__key__"] for s in wds.WebDataset(urls, shardshuffle=False)]
    assert sorted(keys) == sorted(kept.column("tile_id").to_pylist())


def test_offsets_point_at_the_exact_sample(built_corpus):
    corpus, _ = built_corpus
    for row in pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist()[::7]:
        with open(corpus / row["shard"], "rb") as handle:
            handle.seek(row["offset"])
            fragment = handle.read(row["size"])
        with tarfile.open(fileobj=io.BytesIO(fragment + b"\0" * 1024)) as tar:
            names = tar.getnames()
            meta = json.loads(tar.extractfile(f"{row['tile_id']}.json").read())
        assert names == [f"{row['tile_id']}.{row['format']}", f"{row['tile_id']}.json"]
        assert meta["tile_id"] == row["tile_id"] and meta["split"] == row["split"]


def test_catalog_is_geoparquet_and_manifest_checksums_shards(built_corpus):
    corpus, _ = built_corpus
    geo = read_geo_metadata(corpus / "catalog" / "tiles.parquet")
    assert geo["version"] == "1.1.0"
    frame = geopandas.read_parquet(corpus / "catalog" / "tiles.parquet")
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.notna().sum() > 0
    manifest = read_manifest(str(corpus))
    assert manifest["stages"]["pack"] == "done"
    for shard in manifest["shards"]:
        assert hashlib.sha256((corpus / shard["path"]).read_bytes()).hexdigest() == shard["sha256"]
    assert manifest["stats"], "normalization stats per sensor"
    for stats in manifest["stats"].values():
        assert len(stats["mean"]) == len(stats["std"]) == len(stats["bands"])


def test_gsd_on_plain_images_warns_once_and_too_coarse_is_a_scene_status(tmp_path):
    import warnings

    from tests.pipeline.rasters import scene_for, textured, write_raster
    from workflows.assemble import _scene_status
    from workflows.build import _warn_gsd_ignored
    from workflows.build_config import BuildConfig

    plain = scene_for(write_raster(tmp_path / "photo.tif", textured(32, 32, 3), crs=None, block=32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_gsd_ignored(BuildConfig(gsd=10.0), [plain, plain])
        _warn_gsd_ignored(BuildConfig(), [plain])
    assert len(caught) == 1 and "--gsd 10 is ignored for 2 input(s)" in str(caught[0].message)
    assert _scene_status("a.tif", "a.tif: too_coarse: GSD 2000 m would be upsampled 20.0x") == "too_coarse"
    assert _scene_status("a.tif", "a.tif: tiling failed: broken") == "rejected"
    assert _scene_status("a.tif", None) == "ok"


def test_rejected_lines_name_the_file_once(built_corpus):
    _, summary = built_corpus
    for rejected in summary["rejected_inputs"]:
        assert rejected["uri"] not in rejected["error"], rejected


def test_scenes_are_tiled_with_opencv_on_one_thread(raw_scenes, tmp_path, monkeypatch):
    """One task per core: OpenCV's own pool would spin on the cores the other tasks need."""
    seen, stage_scene = [], tasks.stage_scene

    def recording(*args, **kwargs):
        seen.append(cv2.getNumThreads())
        return stage_scene(*args, **kwargs)

    monkeypatch.setattr(tasks, "stage_scene", recording)
    cv2.setNumThreads(2)
    try:
        build(small_build_config(raw_scenes, tmp_path / "corpus"), progress=False)
        assert seen and set(seen) == {1}
        assert cv2.getNumThreads() == 2  # the caller's own setting afterwards
    finally:
        cv2.setNumThreads(-1)

"""Regression tests: commands that write leave the corpus consistent, and refuse to clobber.

Each test reproduces one integrity bug of issue 11 (curate left stale shards, a build over
another corpus replaced it silently, scenes.parquet lost its metadata, empty inputs exited 0)
and the staging compaction of issue 17 (a corpus is not stored twice).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin

from catalogs.errors import CorpusError, InputError
from workflows.build import build
from workflows.validate import ERROR, validate_corpus

from tests.workflows.conftest import small_build_config


def _errors(corpus: Path) -> list:
    return [f for f in validate_corpus(str(corpus)) if f.severity == ERROR]


def _digests(corpus: Path) -> dict[str, str]:
    files = sorted([*corpus.glob("shards/*.tar"), *corpus.glob("catalog/*.parquet")])
    return {str(p.relative_to(corpus)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _bytes(paths) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


@pytest.fixture()
def fresh_corpus(built_corpus, tmp_path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(built_corpus[0], corpus)
    return corpus


def test_curate_repacks_so_validate_passes_and_equals_a_fresh_build(fresh_corpus, raw_scenes, tmp_path):
    kept = pq.read_table(fresh_corpus / "catalog/tiles.parquet").num_rows
    for settings in ({"target_size": kept // 3}, {"target_size": kept // 2, "dedup_distance": 4},
                     {"target_size": None, "alpha": 1.0}):
        config = small_build_config(raw_scenes, fresh_corpus, **settings)
        build(config, progress=False, reuse_inputs=True)
        assert _errors(fresh_corpus) == [], settings
    fresh = tmp_path / "fresh"
    build(small_build_config(raw_scenes, fresh, target_size=None, alpha=1.0), progress=False)
    assert _digests(fresh_corpus) == _digests(fresh)


def test_staging_after_a_build_is_small_and_curate_brings_set_aside_tiles_back(fresh_corpus, raw_scenes):
    shards = _bytes(fresh_corpus.glob("shards/*"))
    assert not list(fresh_corpus.glob("staging/*.tiles"))  # kept bytes live in the shards only
    # Staged pixels left: only the set-aside candidates (metadata files are small next to
    # real shards; benchmarks/ measures the whole corpus against its shards at scale).
    assert _bytes(fresh_corpus.glob("staging/*.rest")) <= 0.1 * shards
    config = small_build_config(raw_scenes, fresh_corpus, target_size=10)
    build(config, progress=False, reuse_inputs=True)
    assert pq.read_table(fresh_corpus / "catalog/tiles.parquet").num_rows == 10
    build(small_build_config(raw_scenes, fresh_corpus), progress=False, reuse_inputs=True)
    assert _errors(fresh_corpus) == []
    assert _bytes(fresh_corpus.glob("shards/*")) == shards  # every balanced-out tile came back


def test_keep_staging_keeps_every_staged_candidate(raw_scenes, tmp_path):
    corpus = tmp_path / "kept"
    build(small_build_config(raw_scenes, corpus, keep_staging=True), progress=False)
    assert list(corpus.glob("staging/*.tiles")) and not list(corpus.glob("staging/*.rest"))


def test_build_refuses_a_corpus_of_other_inputs_unless_overwrite(fresh_corpus, raw_scenes, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    _raster(other / "scene.tif", np.random.default_rng(0).integers(1, 255, (3, 200, 200), dtype=np.uint8))
    before = _digests(fresh_corpus)
    with pytest.raises(CorpusError, match="other inputs"):
        build(small_build_config(other, fresh_corpus), progress=False)
    assert _digests(fresh_corpus) == before
    with pytest.raises(CorpusError, match="tiling settings"):
        build(small_build_config(raw_scenes, fresh_corpus, tile_size=64), progress=False)
    build(small_build_config(raw_scenes, fresh_corpus), progress=False)  # the same inputs resume
    assert _digests(fresh_corpus) == before
    build(small_build_config(other, fresh_corpus, overwrite=True), progress=False)
    assert _errors(fresh_corpus) == []
    scenes = pq.read_table(fresh_corpus / "catalog/scenes.parquet").column("uri").to_pylist()
    assert scenes == [str(other / "scene.tif")]


def test_build_refuses_a_directory_with_corpus_files_but_no_manifest(tmp_path, raw_scenes):
    corpus = tmp_path / "half"
    (corpus / "shards").mkdir(parents=True)
    (corpus / "shards" / "train-000000.tar").write_bytes(b"")
    with pytest.raises(CorpusError, match="no manifest"):
        build(small_build_config(raw_scenes, corpus), progress=False)


def _raster(path: Path, pixels: np.ndarray, nodata=None) -> None:
    bands, height, width = pixels.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=bands,
                       dtype=pixels.dtype, crs="EPSG:32631", nodata=nodata,
                       transform=from_origin(448000, 5412000, 1.0, 1.0)) as dst:
        dst.write(pixels)


def test_scenes_table_keeps_metadata_when_the_first_input_is_rejected(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    _raster(raw / "a_all_nodata.tif", np.zeros((3, 128, 128), np.uint8), nodata=0)
    _raster(raw / "b_good.tif", np.random.default_rng(1).integers(1, 255, (3, 256, 256), dtype=np.uint8))
    build(small_build_config(raw, tmp_path / "corpus"), progress=False)
    rows = {Path(r["uri"]).name: r for r in pq.read_table(tmp_path / "corpus/catalog/scenes.parquet").to_pylist()}
    assert rows["a_all_nodata.tif"]["status"] != rows["b_good.tif"]["status"]
    good = rows["b_good.tif"]
    assert good["driver"] == "GTiff" and good["width"] == 256 and good["band_count"] == 3
    assert good["src_crs"] == "EPSG:32631" and good["gsd_m"] == pytest.approx(1.0) and good["geometry"]


@pytest.mark.parametrize("make", [
    lambda root: root / "missing",
    lambda root: (root / "empty").mkdir() or root / "empty",
    lambda root: ((root / "texts").mkdir(), (root / "texts" / "notes.txt").write_text("hi"))[0] or root / "texts",
], ids=["missing", "empty", "only-text"])
def test_nothing_to_build_from_is_an_error_that_writes_nothing(tmp_path, make):
    source = make(tmp_path)
    with pytest.raises(InputError, match="nothing to build from") as raised:
        build(small_build_config(source, tmp_path / "corpus"), progress=False)
    assert str(source) in str(raised.value)
    assert not (tmp_path / "corpus").exists()


def test_a_build_whose_every_scene_is_rejected_is_an_error_but_records_them(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    _raster(raw / "blank.tif", np.zeros((1, 128, 128), np.uint8), nodata=0)
    with pytest.raises(InputError, match="no input scene could be read") as raised:
        build(small_build_config(raw, tmp_path / "corpus"), progress=False)
    assert "blank.tif" in str(raised.value)
    scenes = pq.read_table(tmp_path / "corpus/catalog/scenes.parquet").to_pylist()
    assert [s["status"] for s in scenes] == ["rejected"] and "nodata" in scenes[0]["error"]

"""Labeled builds: one whole-image sample per file (or resized, or tiled on request), labels,
stratified splits, classes in the manifest and the split-leak check."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from catalogs.errors import ConfigError
from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.cli import main
from workflows.samples.labeled import write_labeled_set

CLASSES = ("farmland", "forest", "river")
PER_CLASS = 8
SIZE = 48


@pytest.fixture(scope="module")
def labeled_raw(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("labeled")
    write_labeled_set(raw, classes=CLASSES, per_class=PER_CLASS, size=SIZE, seed=3)
    return raw


def _build(raw: Path, corpus: Path, **kw) -> dict:
    config = BuildConfig(inputs=(str(raw),), corpus=str(corpus), labels="from-folders", scheduler="sync",
                         split=(0.5, 0.25, 0.25), seed=1, **kw)
    return build(config, progress=False)


def _tiles(corpus: Path):
    return pq.read_table(corpus / "catalog" / "tiles.parquet").to_pandas()


def test_labeled_build_keeps_each_image_whole_with_label_and_stratified_split(labeled_raw, tmp_path):
    summary = _build(labeled_raw, tmp_path / "c")
    tiles = _tiles(tmp_path / "c")
    assert summary["tiles"]["candidates"] == len(CLASSES) * PER_CLASS == len(tiles)
    assert set(tiles.width) == {SIZE} and set(tiles.height) == {SIZE}
    assert tiles.uri.is_unique  # one sample per file
    assert all(Path(u).parent.name == label for u, label in zip(tiles.uri, tiles.label))
    counts = tiles.groupby(["label", "split"]).size().unstack(fill_value=0)
    assert (counts["train"] == PER_CLASS // 2).all() and (counts["test"] == PER_CLASS // 4).all()
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["classes"] == sorted(CLASSES)


def test_resize_and_non_square_images(labeled_raw, tmp_path):
    odd = tmp_path / "raw"
    (odd / "wide").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(odd / "wide" / f"w{i}.png"), rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    _build(odd, tmp_path / "native")
    native = _tiles(tmp_path / "native")
    assert set(zip(native.width, native.height)) == {(56, 40)}
    _build(odd, tmp_path / "resized", resize=32)
    assert set(zip(*[_tiles(tmp_path / "resized")[k] for k in ("width", "height")])) == {(32, 32)}


def test_cli_tile_size_tiles_labeled_images_and_reports_leaks(labeled_raw, tmp_path, capsys):
    corpus = tmp_path / "tiled"
    assert main(["build", str(labeled_raw), str(corpus), "--labels", "from-folders", "--tile-size", "16",
                 "--scheduler", "sync", "--quiet", "--split", "0.6,0.2,0.2"]) == 0
    tiles = _tiles(corpus)
    assert tiles.groupby("uri").size().max() > 1  # tiled, not whole
    assert tiles.label.notna().all()
    leaks = json.loads((corpus / "manifest.json").read_text())["leaks"]
    assert leaks["checked"] == len(tiles) and leaks["pairs"] is not None


def test_whole_image_rejects_tiling_settings(labeled_raw, tmp_path):
    with pytest.raises(ConfigError, match="resize"):
        _build(labeled_raw, tmp_path / "bad", stride=8)

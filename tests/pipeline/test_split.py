"""Splits: whole blocks per split, fractions, determinism, stratification by label."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from catalogs.schema import CANDIDATE_SCHEMA, conform
from pipeline.split import SplitConfig, assign_splits, block_keys


def tiles(n: int = 4000, labels=None, georeferenced: bool = True, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(-170, 170, n), rng.uniform(-70, 70, n)
    return conform(
        pa.table(
            {
                "tile_id": [f"{i:016x}" for i in range(n)],
                "scene_id": [f"scene{i // 5}" for i in range(n)],
                "uri": ["mem://x"] * n,
                "sensor": ["rgb"] * n,
                "georeferenced": [georeferenced] * n,
                "lon": lon if georeferenced else [None] * n,
                "lat": lat if georeferenced else [None] * n,
                "label": labels if labels is not None else [None] * n,
            }
        ),
        CANDIDATE_SCHEMA,
    )


def by_block(table: pa.Table, splits: list[str], resolution: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for b, s in zip(block_keys(table, resolution).tolist(), splits):
        out.setdefault(b, set()).add(s)
    return out


def test_no_block_straddles_splits_and_fractions_hold():
    table = tiles()
    config = SplitConfig(block_resolution=2, seed=3)
    splits = assign_splits(table, config).to_pylist()
    blocks = by_block(table, splits, 2)
    assert len(blocks) > 500 and all(len(s) == 1 for s in blocks.values())
    fractions = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert fractions["train"] == pytest.approx(0.8, abs=0.05)
    assert fractions["val"] == pytest.approx(0.1, abs=0.03) and fractions["test"] == pytest.approx(0.1, abs=0.03)


def test_deterministic_and_stable_when_scenes_are_added():
    table = tiles()
    config = SplitConfig(block_resolution=2, seed=1)
    first = assign_splits(table, config).to_pylist()
    grown = pa.concat_tables([table, tiles(1000, seed=9)])
    assert assign_splits(grown, config).to_pylist()[: table.num_rows] == first
    assert assign_splits(table, SplitConfig(block_resolution=2, seed=2)).to_pylist() != first


def test_non_georeferenced_rows_split_by_scene():
    table = tiles(georeferenced=False)
    splits = assign_splits(table, SplitConfig()).to_pylist()
    blocks = by_block(table, splits, 3)
    assert all(b.startswith("src:") for b in blocks) and all(len(s) == 1 for s in blocks.values())


def test_stratified_by_label_gives_every_class_its_share():
    n = 2000
    labels = ["rare" if i < 100 else ("forest" if i % 2 else "urban") for i in range(n)]
    table = tiles(n, labels=labels, georeferenced=False)
    splits = np.asarray(assign_splits(table, SplitConfig(seed=5)).to_pylist())
    for name in ("rare", "forest", "urban"):
        mine = splits[np.asarray(labels) == name]
        assert (mine == "val").mean() == pytest.approx(0.1, abs=0.03)
        assert (mine == "test").mean() == pytest.approx(0.1, abs=0.03)
    blocks = by_block(table, splits.tolist(), 3)
    assert all(len(s) == 1 for s in blocks.values())  # still whole scenes


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError, match="fractions"):
        assign_splits(tiles(10), SplitConfig(train=-1.0))


def test_split_by_scene_keeps_each_georeferenced_scene_whole():
    table = tiles(400)
    splits = np.asarray(assign_splits(table, SplitConfig(by="scene")).to_pylist())
    scenes = np.asarray(table.column("scene_id").to_pylist())
    assert all(len(set(splits[scenes == s])) == 1 for s in set(scenes))
    assert set(splits) == {"train", "val", "test"}


def test_split_by_folders_takes_the_official_split_and_draws_the_rest():
    from pipeline.split import folder_split

    assert folder_split("/data/LEVIR-CD/test/A/test_7.png") == "test"
    assert folder_split("/data/potsdam/img_dir/Val/2_13_0_0.png") == "val"
    assert folder_split("/data/x/training/a.png") == "train" and folder_split("/data/test.png") is None
    table = tiles(40, georeferenced=False)
    uris = [f"/d/{('train', 'val', 'other')[i % 3]}/img{i}.png" for i in range(40)]
    table = table.set_column(table.column_names.index("uri"), "uri", pa.array(uris))
    splits = assign_splits(table, SplitConfig(by="folders")).to_pylist()
    for uri, split in zip(uris, splits):
        if "/other/" not in uri:
            assert split == uri.split("/")[2]

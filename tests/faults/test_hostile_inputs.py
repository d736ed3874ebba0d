"""Broken and hostile inputs: each is rejected with a message naming the file, or handled;
the build completes, every input is accounted for, and the corpus validates."""

from __future__ import annotations

import json
import math
import os

import pyarrow.parquet as pq
import pytest
import shapely

from pipeline.sources import discover
from tests.faults.conftest import config_for
from tests.faults.hostile import HOSTILE, texture, write_hostile, write_tif
from workflows.build import build
from workflows.validate import validate_corpus


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    raw = tmp_path_factory.mktemp("hostile")
    paths = write_hostile(raw)
    corpus = tmp_path_factory.mktemp("hostile_corpus")
    summary = build(config_for(raw, corpus), progress=False)
    scenes = {os.path.basename(r["uri"]): r for r in pq.read_table(corpus / "catalog" / "scenes.parquet").to_pylist()}
    tiles = [*pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist(),
             *pq.read_table(corpus / "catalog" / "rejected.parquet").to_pylist()]
    return corpus, paths, summary, scenes, tiles


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_input_has_its_outcome(hostile_build, name):
    corpus, paths, summary, scenes, tiles = hostile_build
    kind, what = HOSTILE[name][1]
    row = scenes[name]
    mine = [t for t in tiles if os.path.basename(t["uri"]) == name]
    if kind == "rejected":
        assert row["status"] == "rejected" and not mine
        assert what in row["error"], row["error"]
        reported = {r["uri"]: r["error"] for r in summary["rejected_inputs"]}
        assert str(paths[name]) in reported[str(paths[name])] or reported[str(paths[name])].startswith(what) \
            or what in reported[str(paths[name])]
        return
    assert row["status"] == "ok", row["error"]
    kept = [t for t in mine if t["status"] == "kept"]
    assert kept, f"{name}: no tile kept ({[t['detail'] for t in mine]})"
    if what == "finite":
        for t in kept:
            assert all(math.isfinite(v) for v in t["band_mean"] + t["band_std"])
    if what == "not_georeferenced":
        assert all(t["geometry"] is None and t["cell"].startswith("src:") for t in kept)
    if what == "antimeridian":
        for t in kept:
            bounds = shapely.from_wkb(t["geometry"]).bounds
            assert -180.0 <= bounds[0] and bounds[2] <= 180.0


def test_tile_straddling_the_antimeridian_is_placed_at_180(hostile_build):
    _, _, _, _, tiles = hostile_build
    straddling = [t for t in tiles if t["uri"].endswith("antimeridian.tif")
                  and shapely.from_wkb(t["geometry"]).geom_type == "MultiPolygon"]
    assert straddling
    assert all(abs(t["lon"]) > 179.0 for t in straddling)


def test_nothing_is_lost_and_the_corpus_validates(hostile_build):
    corpus, paths, summary, scenes, tiles = hostile_build
    assert set(scenes) == set(HOSTILE)  # every input file has a row, ok or rejected
    assert summary["tiles"]["candidates"] == len(tiles) == len({t["tile_id"] for t in tiles})
    per_scene = {name: sum(os.path.basename(t["uri"]) == name for t in tiles) for name in scenes}
    assert all(scenes[n]["candidates"] == per_scene[n] for n in scenes)
    assert validate_corpus(corpus) == []
    stats = json.loads((corpus / "manifest.json").read_text())["stats"]
    assert all(math.isfinite(v) for s in stats.values() for v in s["mean"] + s["std"])


def test_malformed_stac_and_listings_are_reported_by_name(tmp_path):
    good = tmp_path / "good.tif"
    HOSTILE["good.tif"][0](good)
    (tmp_path / "truncated.json").write_text('{"type": "Feature", "assets": {"data": {"hr')
    (tmp_path / "array.json").write_text("[1, 2, 3]")
    (tmp_path / "no_assets.json").write_text(json.dumps({"type": "Feature", "id": "x1", "assets": {}}))
    (tmp_path / "weird_type.json").write_text(json.dumps({"type": "Banana"}))
    (tmp_path / "ok.json").write_text(json.dumps(
        {"type": "Feature", "id": "x2", "assets": {"data": {"href": "good.tif"}}}))
    inputs = [str(tmp_path / n) for n in ("truncated.json", "array.json", "no_assets.json",
                                          "weird_type.json", "ok.json", "missing.txt")]
    refs, problems = discover(inputs)
    assert [r.uri for r in refs] == [str(good)]
    named = {os.path.basename(where) for where, _ in problems}
    assert named == {"truncated.json", "array.json", "no_assets.json", "weird_type.json", "missing.txt"}


def test_symlinks_out_of_the_root_are_skipped_and_reported(tmp_path):
    outside, root = tmp_path / "outside", tmp_path / "root"
    outside.mkdir(), root.mkdir()
    HOSTILE["good.tif"][0](outside / "secret.tif")
    (root / "inner").mkdir()
    HOSTILE["good.tif"][0](root / "inner" / "a.tif")
    (root / "link.tif").symlink_to(outside / "secret.tif")
    (root / "linkdir").symlink_to(outside)
    (root / "inside_link.tif").symlink_to(root / "inner" / "a.tif")
    refs, problems = discover([str(root)])
    assert [os.path.basename(r.uri) for r in refs] == ["a.tif"]  # the inside link is the same file
    assert len(problems) == 2 and all("points outside" in message for _, message in problems)
    assert any("link.tif" in m for _, m in problems) and any("linkdir" in m for _, m in problems)


def test_duplicated_inputs_give_one_scene_and_no_duplicate_tiles(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    HOSTILE["good.tif"][0](raw / "good.tif")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{raw / 'good.tif'}\nraw/good.tif\nraw/../raw/good.tif\n")
    corpus = tmp_path / "corpus"
    config = config_for(raw, corpus, inputs=(str(raw), str(listing), str(raw / "good.tif")))
    summary = build(config, progress=False)
    assert summary["scenes"]["read"] == 1
    kept = pq.read_table(corpus / "catalog" / "tiles.parquet").column("tile_id").to_pylist()
    assert len(kept) == len(set(kept)) == summary["tiles"]["candidates"] == 4
    assert validate_corpus(corpus) == []


def test_labels_with_parent_paths_and_odd_characters(tmp_path):
    """A label table may name files by ``../`` paths and labels may hold any characters;
    files of the build that the table does not label are rejected by name, not dropped."""
    raw, tables = tmp_path / "raw", tmp_path / "tables"
    (raw / "a").mkdir(parents=True), tables.mkdir()
    for seed, name in enumerate(("x 1.tif", "ü#2.tif", "unlabeled.tif")):
        write_tif(raw / "a" / name, texture(3, seed=100 + seed))
    table = tables / "labels.csv"
    table.write_text('uri,label\n"../raw/a/x 1.tif","class, with comma"\n../raw/a/ü#2.tif,../evil\n'
                     "../../etc/passwd,nope\n")
    corpus = tmp_path / "corpus"
    summary = build(config_for(raw, corpus, labels=str(table), whole_image=False), progress=False)
    rejected = {os.path.basename(r["uri"]): r["error"] for r in summary["rejected_inputs"]}
    assert list(rejected) == ["unlabeled.tif"] and "no label" in rejected["unlabeled.tif"]
    labels = set(pq.read_table(corpus / "catalog" / "tiles.parquet").column("label").to_pylist())
    assert labels == {"class, with comma", "../evil"}
    assert validate_corpus(corpus) == []

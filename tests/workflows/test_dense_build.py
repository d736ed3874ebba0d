"""Dense labeled builds (``--task segmentation|change``): masks and second dates cut from the same
window as the image, exactly; vector labels rasterized onto the right pixels; accounting."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin

from catalogs.tarformat import parse_fragment
from training.decode import decode_image
from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.cli import main

TILE = 32


def _texture(rng, shape) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


X0, Y0 = 500_000.0, 5_000_000.0  # top-left corner of the georeferenced test scenes (UTM 31N)


def _utm_scene(path: Path, rng) -> dict:
    """A 64x64 1 m RGB texture scene at (X0, Y0) in EPSG:32631; returns its rasterio profile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs="EPSG:32631",
                   transform=from_origin(X0, Y0, 1.0, 1.0))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(_texture(rng, (64, 64, 3)), 2, 0))
    return profile


def _blocks(rng, h, w, classes=4, cell=8) -> np.ndarray:
    return np.kron(rng.integers(0, classes, (h // cell, w // cell)), np.ones((cell, cell))).astype(np.uint8)


def _rgb_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array)


def _samples(corpus: Path):
    """(catalog row, webdataset sample dict) of every kept tile."""
    rows = pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist()
    for row in rows:
        with open(corpus / row["shard"], "rb") as fh:
            fh.seek(row["offset"])
            yield row, parse_fragment(fh.read(row["size"]))


def _build(inputs, corpus: Path, report: bool = False, **kw) -> dict:
    """Build; the corpus card (slow figures, tested elsewhere) only when ``report``."""
    config = BuildConfig(inputs=tuple(str(i) for i in inputs), corpus=str(corpus), scheduler="sync",
                         tile_size=TILE, split=(0.5, 0.25, 0.25), seed=1, **kw)
    if report:
        return build(config, progress=False)
    with mock.patch("workflows.report.write_report", lambda root, **_: "(report skipped)"):
        return build(config, progress=False)


@pytest.fixture(scope="module")
def seg_raw(tmp_path_factory) -> Path:
    """mmsegmentation layout: img_dir/train/*.png + ann_dir/train/*.png, plus an unmatched image."""
    root = tmp_path_factory.mktemp("seg")
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        _rgb_png(root / "img_dir" / "train" / f"{name}.png", _texture(rng, (96, 80, 3)))
        _rgb_png(root / "ann_dir" / "train" / f"{name}.png", _blocks(rng, 96, 80))
    _rgb_png(root / "img_dir" / "train" / "orphan.png", _texture(rng, (64, 64, 3)))
    (root / "classes.txt").write_text("road\nbuilding\nwater\ntree\n")
    return root


def test_segmentation_masks_in_shards_equal_the_source_on_each_window(seg_raw, tmp_path):
    corpus = tmp_path / "seg"
    summary = _build([seg_raw / "img_dir"], corpus, True, task="segmentation", masks=str(seg_raw / "ann_dir"),
                     classes=str(seg_raw / "classes.txt"))
    assert [r["uri"].endswith("orphan.png") for r in summary["rejected_inputs"]] == [True]
    assert "no mask" in summary["rejected_inputs"][0]["error"]
    checked = 0
    for row, sample in _samples(corpus):
        assert sorted(k for k in sample if not k.startswith("__")) == ["json", "mask.png", "png"]
        stem = Path(row["uri"]).stem
        source = cv2.imread(str(seg_raw / "ann_dir" / "train" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        image = cv2.cvtColor(cv2.imread(row["uri"]), cv2.COLOR_BGR2RGB)
        window = np.s_[row["row_off"]:row["row_off"] + TILE, row["col_off"]:row["col_off"] + TILE]
        mask = decode_image(sample["mask.png"], "png")[:, :, 0]
        np.testing.assert_array_equal(mask, source[window])
        np.testing.assert_array_equal(decode_image(sample["png"], "png"), image[window])
        assert row["class_pixels"] == np.bincount(source[window].ravel(), minlength=1).tolist()
        assert json.loads(bytes(sample["json"]))["members"] == ["mask.png"]
        checked += 1
    assert checked == summary["tiles"]["kept"] == 3 * 6  # 96x80 px -> 3 x 2 tiles of 32
    rows = pq.read_table(corpus / "catalog" / "tiles.parquet", columns=["uri", "split"]).to_pylist()
    assert all(len({r["split"] for r in rows if r["uri"] == u}) == 1 for u in {r["uri"] for r in rows})
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["task"] == "segmentation" and manifest["classes"] == ["road", "building", "water", "tree"]
    assert manifest["ignore_index"] == 255 and sum(manifest["class_pixels"].values()) == checked * TILE * TILE
    assert main(["validate", str(corpus)]) == 0


def test_change_pairs_share_the_window_and_labels_become_0_1(tmp_path):
    """LEVIR-CD layout: A/, B/, label/ with the same names and labels in {0, 255}."""
    rng = np.random.default_rng(1)
    for name in ("t1", "t2"):
        _rgb_png(tmp_path / "A" / f"{name}.png", _texture(rng, (64, 64, 3)))
        _rgb_png(tmp_path / "B" / f"{name}.png", _texture(rng, (64, 64, 3)))
        _rgb_png(tmp_path / "label" / f"{name}.png", (_blocks(rng, 64, 64, 2) * 255).astype(np.uint8))
    corpus = tmp_path / "cd"
    _build([tmp_path / "A"], corpus, task="change", pair=str(tmp_path / "B"), masks=str(tmp_path / "label"))
    rows = 0
    for row, sample in _samples(corpus):
        name = Path(row["uri"]).name
        window = np.s_[row["row_off"]:row["row_off"] + TILE, row["col_off"]:row["col_off"] + TILE]
        b = cv2.cvtColor(cv2.imread(str(tmp_path / "B" / name)), cv2.COLOR_BGR2RGB)
        label = cv2.imread(str(tmp_path / "label" / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(decode_image(sample["b.png"], "png"), b[window])
        np.testing.assert_array_equal(decode_image(sample["mask.png"], "png")[:, :, 0], (label[window] > 0))
        rows += 1
    assert rows == 8
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["classes"] == ["no_change", "change"] and manifest["members"] == ["mask.png", "b.png"]


def test_vector_labels_rasterize_onto_the_known_pixels(tmp_path):
    """A georeferenced 64x64 scene (1 m, UTM) and a polygon covering pixels rows 8..19, cols 40..55."""
    rng = np.random.default_rng(2)
    raw = tmp_path / "raw"
    _utm_scene(raw / "scene.tif", rng)
    ring = [[X0 + 40, Y0 - 8], [X0 + 56, Y0 - 8], [X0 + 56, Y0 - 20], [X0 + 40, Y0 - 20], [X0 + 40, Y0 - 8]]
    (tmp_path / "fields.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32631"}},
        "features": [{"type": "Feature", "properties": {"crop": "wheat"},
                      "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    (tmp_path / "classes.yaml").write_text("classes: [background, wheat]\n")
    corpus = tmp_path / "vec"
    _build([raw], corpus, task="segmentation", masks=str(tmp_path / "fields.geojson"),
           classes=str(tmp_path / "classes.yaml"), class_attribute="crop")
    expected = np.zeros((64, 64), np.uint8)
    expected[8:20, 40:56] = 1
    seen = 0
    for row, sample in _samples(corpus):
        window = np.s_[row["row_off"]:row["row_off"] + TILE, row["col_off"]:row["col_off"] + TILE]
        np.testing.assert_array_equal(decode_image(sample["mask.png"], "png")[:, :, 0], expected[window])
        seen += 1
    assert seen == 4


def test_label_raster_on_another_grid_is_warped_with_nearest(tmp_path):
    """A 2 m label raster over a 1 m scene: each label pixel covers 2x2 image pixels."""
    rng = np.random.default_rng(3)
    raw = tmp_path / "raw"
    image = _utm_scene(raw / "scene.tif", rng)
    coarse = rng.integers(0, 3, (32, 32)).astype(np.uint8)
    label = dict(image, width=32, height=32, count=1, transform=from_origin(X0, Y0, 2.0, 2.0))
    with rasterio.open(tmp_path / "labels.tif", "w", **label) as dst:
        dst.write(coarse[None])
    corpus = tmp_path / "warp"
    _build([raw], corpus, task="segmentation", masks=str(tmp_path / "labels.tif"))
    expected = np.kron(coarse, np.ones((2, 2), np.uint8))
    for row, sample in _samples(corpus):
        window = np.s_[row["row_off"]:row["row_off"] + TILE, row["col_off"]:row["col_off"] + TILE]
        np.testing.assert_array_equal(decode_image(sample["mask.png"], "png")[:, :, 0], expected[window])
    assert json.loads((corpus / "manifest.json").read_text())["classes"] == ["0", "1", "2"]


def test_colour_coded_masks_and_isprs_names_with_a_class_file(tmp_path):
    """ISPRS Potsdam style: top_potsdam_2_10_RGB.tif ~ top_potsdam_2_10_label.tif, RGB-coded classes."""
    rng = np.random.default_rng(4)
    colours = {(255, 255, 255): 0, (0, 0, 255): 1, (0, 255, 0): 2}
    index = _blocks(rng, 64, 64, classes=3)
    coded = np.zeros((64, 64, 3), np.uint8)
    for colour, i in colours.items():
        coded[index == i] = colour
    coded[:8, :8] = (255, 0, 255)  # a colour not in the class file: ignored
    _rgb_png(tmp_path / "images" / "top_potsdam_2_10_RGB.png", _texture(rng, (64, 64, 3)))
    _rgb_png(tmp_path / "labels" / "top_potsdam_2_10_label.png", coded)
    (tmp_path / "classes.yaml").write_text(
        "- {name: impervious, color: [255, 255, 255]}\n- {name: building, color: [0, 0, 255]}\n"
        "- {name: tree, color: [0, 255, 0]}\n")
    corpus = tmp_path / "isprs"
    _build([tmp_path / "images"], corpus, task="segmentation", masks=str(tmp_path / "labels"),
           classes=str(tmp_path / "classes.yaml"))
    expected = index.copy()
    expected[:8, :8] = 255
    rows = 0
    for row, sample in _samples(corpus):
        window = np.s_[row["row_off"]:row["row_off"] + TILE, row["col_off"]:row["col_off"] + TILE]
        np.testing.assert_array_equal(decode_image(sample["mask.png"], "png")[:, :, 0], expected[window])
        rows += 1
    assert rows == 4


def test_label_folder_holding_the_images_too(tmp_path):
    """LoveDA style: --masks Train with images_png/ (the input) beside masks_png/."""
    from workflows.dense_labels import DenseMatcher, read_classes

    for part in ("images_png", "masks_png"):
        (tmp_path / "Train" / "Urban" / part).mkdir(parents=True)
        (tmp_path / "Train" / "Urban" / part / "1366.png").write_bytes(b"x")
    images = str(tmp_path / "Train" / "Urban" / "images_png")
    matcher = DenseMatcher("segmentation", str(tmp_path / "Train"), read_classes(None, "segmentation"), [images])
    labels, problem = matcher.labels_for(f"{images}/1366.png")
    assert problem is None and labels.mask_uri.endswith("masks_png/1366.png")


def test_one_root_for_pairs_and_labels_of_every_split(tmp_path):
    """LEVIR-CD as shipped: --pair LEVIR --masks LEVIR over train/A and test/A, official splits kept."""
    rng = np.random.default_rng(5)
    for split in ("train", "test"):
        for i in range(2):
            name = f"{split}_{i}.png"
            _rgb_png(tmp_path / "LEVIR" / split / "A" / name, _texture(rng, (32, 32, 3)))
            _rgb_png(tmp_path / "LEVIR" / split / "B" / name, _texture(rng, (32, 32, 3)))
            _rgb_png(tmp_path / "LEVIR" / split / "label" / name, (_blocks(rng, 32, 32, 2) * 255).astype(np.uint8))
    root = tmp_path / "LEVIR"
    corpus = tmp_path / "levir"
    summary = _build([root / "train" / "A", root / "test" / "A"], corpus, task="change", pair=str(root),
                     masks=str(root), split_by="folders")
    assert summary["tiles"]["kept"] == 4 and not summary["rejected_inputs"]
    for row, sample in _samples(corpus):
        path = Path(row["uri"])
        assert row["split"] == path.parent.parent.name
        b = cv2.cvtColor(cv2.imread(str(path.parent.parent / "B" / path.name)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(decode_image(sample["b.png"], "png"), b)


def test_georeferenced_second_date_on_another_grid_is_warped_onto_the_first(tmp_path):
    """Date B at 2 m over date A at 1 m: B's window is B resampled onto A's grid."""
    rng = np.random.default_rng(6)
    a = _utm_scene(tmp_path / "A" / "s.tif", rng)
    (tmp_path / "B").mkdir()
    coarse = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # flat 8x8 blocks
    with rasterio.open(tmp_path / "B" / "s.tif", "w", **dict(a, width=32, height=32,
                                                            transform=from_origin(X0, Y0, 2.0, 2.0))) as dst:
        dst.write(np.moveaxis(coarse, 2, 0))
    label = dict(a, count=1)
    with rasterio.open(tmp_path / "label.tif", "w", **label) as dst:
        dst.write(np.zeros((1, 64, 64), np.uint8))
    corpus = tmp_path / "cd"
    _build([tmp_path / "A"], corpus, task="change", pair=str(tmp_path / "B"), masks=str(tmp_path / "label.tif"))
    expected = np.kron(coarse, np.ones((2, 2, 1), np.uint8))
    for row, sample in _samples(corpus):
        window = np.s_[row["row_off"]:row["row_off"] + TILE, row["col_off"]:row["col_off"] + TILE]
        b = decode_image(sample["b.png"], "png")
        inner = np.s_[4:-4, 4:-4]  # away from block edges, where bilinear blends neighbours
        got, want = b[inner].astype(int), expected[window][inner].astype(int)
        assert np.mean(np.abs(got - want) <= 1) > 0.8


def test_curate_restores_dense_samples_from_the_shards(tmp_path):
    """Compacted staging: a re-curation repacks image, mask and second date from the shards alone."""
    rng = np.random.default_rng(7)
    for i in range(4):
        _rgb_png(tmp_path / "A" / f"p{i}.png", _texture(rng, (32, 32, 3)))
        _rgb_png(tmp_path / "B" / f"p{i}.png", _texture(rng, (32, 32, 3)))
        _rgb_png(tmp_path / "label" / f"p{i}.png", (_blocks(rng, 32, 32, 2) * 255).astype(np.uint8))
    corpus = tmp_path / "cd"
    _build([tmp_path / "A"], corpus, task="change", pair=str(tmp_path / "B"), masks=str(tmp_path / "label"))
    before = {row["tile_id"]: {k: bytes(v) for k, v in s.items() if k in ("png", "mask.png", "b.png")}
              for row, s in _samples(corpus)}
    for folder in ("A", "B", "label"):  # the sources are gone: only the shards can give the bytes back
        for path in (tmp_path / folder).iterdir():
            path.unlink()
    with mock.patch("workflows.report.write_report", lambda root, **_: "(report skipped)"):
        assert main(["curate", str(corpus), "--seed", "5", "--split", "0.25,0.5,0.25", "--quiet"]) == 0
    after = {row["tile_id"]: {k: bytes(v) for k, v in s.items() if k in ("png", "mask.png", "b.png")}
             for row, s in _samples(corpus)}
    assert after == before and len(after) == 4

"""The generated sample data keeps its promises: every input kind, determinism, real texture,
and labeled classes separable by texture but not by colour."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.warp import transform as reproject_points

from workflows.samples import DEFAULT_CLASSES, write_labeled_set, write_sample_scenes
from workflows.samples.__main__ import main as samples_main

SCALE = 0.25


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> list[Path]:
    return write_sample_scenes(tmp_path_factory.mktemp("scenes"), seed=0, scale=SCALE)


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("labeled")
    return root, write_labeled_set(root, per_class=30, size=64, seed=0)


def _open_all(paths):
    """name -> (profile-ish dict, pixels or None when unreadable)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for p in paths:
            with rasterio.open(p) as src:
                meta = {"crs": src.crs, "count": src.count, "dtype": src.dtypes[0],
                        "transform": src.transform, "nodata": src.nodata, "tags": src.tags(),
                        "blocks": src.block_shapes[0], "desc": src.descriptions,
                        "centre": src.transform @ (src.width / 2, src.height / 2)}
                try:
                    meta["pixels"], meta["valid"] = src.read(), src.dataset_mask() > 0
                except RasterioIOError:
                    meta["pixels"] = meta["valid"] = None
            out[p.name] = meta
    return out


def test_same_seed_gives_identical_bytes(scenes, tmp_path):
    again = write_sample_scenes(tmp_path / "again", seed=0, scale=SCALE)
    assert [p.name for p in again] == [p.name for p in scenes]
    for a, b in zip(scenes, again):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = write_sample_scenes(tmp_path / "other", seed=1, scale=SCALE)
    assert other[0].read_bytes() != scenes[0].read_bytes()


def test_set_contains_every_promised_kind(scenes):
    assert 15 <= len(scenes) <= 25
    meta = _open_all(scenes)
    crss = {m["crs"].to_epsg() for m in meta.values() if m["crs"]}
    assert {32631, 32632, 4326, 3857} <= crss
    kinds = {(m["count"], m["dtype"]) for m in meta.values()}
    assert {(3, "uint8"), (4, "uint16"), (1, "float32")} <= kinds
    s2 = [n for n in meta if re.match(r"S2[AB]_MSIL2A_2023\d{4}_.*\.tif$", n)]
    s1 = [n for n in meta if re.match(r"S1[AB]_IW_GRDH_.*_2023\d{4}_.*\.tif$", n)]
    assert len(s2) >= 3 and len(s1) >= 2
    assert all(meta[n]["desc"] == ("B2", "B3", "B4", "B8") and meta[n]["dtype"] == "uint16" for n in s2)
    assert all(meta[n]["count"] == 1 and meta[n]["dtype"] == "float32" for n in s1)
    jpegs = [n for n in meta if n.lower().endswith(".jpg")]
    assert len(jpegs) >= 3 and all(meta[n]["crs"] is None for n in jpegs)
    tifs = [m for n, m in meta.items() if n.endswith(".tif")]
    assert all(re.fullmatch(r"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d", m["tags"]["TIFFTAG_DATETIME"])
               for m in tifs)
    assert all(m["blocks"] == (256, 256) and m["nodata"] == 0 for m in tifs)


def test_rotations_collars_blank_and_corrupt(scenes):
    meta = _open_all(scenes)
    rotated = [n for n, m in meta.items() if m["crs"] and m["transform"].b != 0]
    readable = {n: m for n, m in meta.items() if m["pixels"] is not None and m["crs"]}
    fractions = {n: m["valid"].mean() for n, m in readable.items()}
    collared = [n for n, f in fractions.items() if 0.3 < f < 0.95]
    blank = [n for n, f in fractions.items() if f == 0]
    corrupt = [n for n, m in meta.items() if m["pixels"] is None]
    assert len(rotated) + len(collared) >= 3 and rotated and collared
    assert len(blank) == 1 and len(corrupt) == 1
    assert corrupt[0].endswith(".tif")


def test_overlapping_crops_show_the_same_ground(scenes):
    meta = _open_all([p for p in scenes if p.name.startswith("aerial_paris_000")])
    a, b = meta["aerial_paris_0001_20220614.tif"], meta["aerial_paris_0002_20220614.tif"]
    dc = round((b["transform"].c - a["transform"].c) / a["transform"].a)
    dr = round((b["transform"].f - a["transform"].f) / a["transform"].e)
    assert 0 < dc < a["pixels"].shape[2] and 0 < dr < a["pixels"].shape[1]
    pa = a["pixels"][:, dr:, dc:].astype(np.int16)
    pb = b["pixels"][:, : pa.shape[1], : pa.shape[2]].astype(np.int16)
    assert np.abs(pa - pb).mean() < 3  # same ground, independent sensor noise


def test_scenes_cluster_in_three_regions(scenes):
    meta = _open_all(scenes)
    centres = []
    for m in meta.values():
        if m["crs"]:
            x, y = m["centre"]
            lon, lat = reproject_points(m["crs"], "EPSG:4326", [x], [y])
            centres.append((lon[0], lat[0]))
    centres = np.array(centres)
    for lon, lat in [(2.35, 48.85), (7.86, 46.69), (-9.14, 38.72)]:
        near = np.hypot(centres[:, 0] - lon, centres[:, 1] - lat) < 0.5
        assert near.sum() >= 4, (lon, lat)


def _lag1_and_std(band: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """Correlation of horizontally adjacent valid pixels, and std of valid pixels."""
    both = valid[:, 1:] & valid[:, :-1]
    x, y = band[:, 1:][both], band[:, :-1][both]
    return float(np.corrcoef(x, y)[0, 1]), float(band[valid].std())


def test_textures_are_spatially_structured(scenes):
    meta = _open_all(scenes)
    checked = 0
    for name, m in meta.items():
        if m["pixels"] is None or (m["crs"] and not m["valid"].any()):
            continue
        band = m["pixels"][0].astype(np.float64)
        if m["dtype"] == "float32":
            band = 10 * np.log10(np.maximum(band, 1e-5))  # SAR is judged in dB
        valid = m["valid"] if m["crs"] else np.ones(band.shape, bool)
        rho, std = _lag1_and_std(band, valid)
        min_std = {"uint8": 8.0, "uint16": 100.0, "float32": 1.0}[m["dtype"]]
        assert rho > 0.5 and std > min_std, (name, rho, std)
        checked += 1
    assert checked >= 18


def test_labeled_layout_and_determinism(labeled, tmp_path):
    root, classes = labeled
    assert classes == list(DEFAULT_CLASSES) and len(classes) >= 5
    for c in classes:
        files = sorted((root / c).glob("*.png"))
        assert len(files) == 30
        assert cv2.imread(str(files[0])).shape == (64, 64, 3)
    again = tmp_path / "again"
    write_labeled_set(again, classes=classes[:2], per_class=3, size=64, seed=0)
    for c in classes[:2]:
        for f in sorted((again / c).glob("*.png")):
            assert f.read_bytes() == (root / c / f.name).read_bytes()


def _texture_features(grey: np.ndarray) -> np.ndarray:
    """Contrast-normalised, rotation-invariant texture statistics of one grey image."""
    g = (grey - grey.mean()) / (grey.std() + 1e-6)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy)
    theta = np.arctan2(gy, gx)
    w = mag.sum() + 1e-6
    coherence = [np.abs((mag * np.exp(1j * k * theta)).sum()) / w for k in (2, 4)]
    power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    yy, xx = np.indices(g.shape) - np.array(g.shape)[:, None, None] // 2
    r = np.hypot(yy, xx)
    rings = [power[(r >= lo) & (r < hi)].sum() for lo, hi in [(1, 3), (3, 6), (6, 12), (12, 32)]]
    rings = np.log(np.asarray(rings) / power.sum() + 1e-9)
    edges = [(mag > t).mean() for t in (1.0, 2.0, 4.0)]
    return np.concatenate([[mag.mean(), mag.std()], coherence, rings, edges])


def _nearest_centroid_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Fit centroids on even-indexed samples, score on odd ones (features z-scored)."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    train, test = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    labels = np.unique(y)
    cent = np.stack([x[train & (y == c)].mean(0) for c in labels])
    pred = labels[np.argmin(((x[test][:, None] - cent[None]) ** 2).sum(-1), axis=1)]
    return float((pred == y[test]).mean())


def test_labeled_classes_differ_by_texture_not_colour(labeled):
    root, classes = labeled
    colour, texture, y = [], [], []
    for k, c in enumerate(classes):
        for f in sorted((root / c).glob("*.png")):
            img = cv2.imread(str(f)).astype(np.float32) / 255
            colour.append(img.reshape(-1, 3).mean(0))
            texture.append(_texture_features(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)))
            y.append(k)
    y = np.array(y)
    acc_colour = _nearest_centroid_accuracy(np.array(colour), y)
    acc_texture = _nearest_centroid_accuracy(np.array(texture), y)
    print(f"mean-colour accuracy {acc_colour:.2f}, texture accuracy {acc_texture:.2f}")
    assert acc_colour < 0.4
    assert acc_texture > 0.7 and acc_texture > acc_colour + 0.35


def test_module_cli_writes_labeled_set(tmp_path, capsys):
    samples_main([str(tmp_path), "--labeled", "--per-class", "2", "--size", "32"])
    assert len(list(tmp_path.glob("*/*.png"))) == 2 * len(DEFAULT_CLASSES)
    assert "classes" in capsys.readouterr().out

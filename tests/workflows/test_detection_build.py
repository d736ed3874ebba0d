"""`ringmo build --task detection`: DOTA labels through the builder into samples and catalog."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from pipeline.objects import read_dota
from workflows.cli import main
from workflows.samples.detection import write_detection_set


@pytest.fixture(scope="module")
def detection_corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("det")
    write_detection_set(root / "images", root / "labelTxt", count=3, size=224, seed=5)
    (root / "images" / "unlabeled.png").write_bytes((root / "images" / "P0000.png").read_bytes()[:-1] + b"\0")
    corpus = root / "corpus"
    assert main(["build", str(root / "images"), str(corpus), "--task", "detection", "--labels",
                 str(root / "labelTxt"), "--tile-size", "128", "--stride", "96", "--scheduler", "sync",
                 "--quiet"]) == 0
    return root, corpus


def _samples(corpus: Path) -> dict[str, dict]:
    out = {}
    for shard in sorted((corpus / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    out[member.name[:-5]] = json.load(io.BytesIO(tar.extractfile(member).read()))
    return out


def test_every_object_inside_a_tile_is_in_its_sample(detection_corpus):
    root, corpus = detection_corpus
    tiles = pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist()
    samples = _samples(corpus)
    assert len(tiles) == 3 * 4 and len(samples) == len(tiles)
    checked = 0
    for row in tiles:
        scene = Path(row["uri"]).stem
        objects = read_dota((root / "labelTxt" / f"{scene}.txt").read_text())
        window = shapely.box(row["col_off"], row["row_off"], row["col_off"] + 128, row["row_off"] + 128)
        found = samples[row["tile_id"]]["objects"]
        for obj in objects:
            polygon = shapely.Polygon(obj.ring)
            if not window.contains(polygon):
                continue
            x1, y1, x2, y2 = polygon.bounds
            expected = [x1 - row["col_off"], y1 - row["row_off"], x2 - row["col_off"], y2 - row["row_off"]]
            match = [o for o in found if o["class"] == obj.cls and np.allclose(o["hbb"], expected, atol=0.02)]
            assert len(match) == 1 and not match[0]["truncated"] and match[0]["difficult"] == obj.difficult
            checked += 1
        counts = json.loads(row["object_counts"])
        assert sum(counts.values()) == len(found)
        assert all(o["class"] in ("vehicle", "building") for o in found)
    assert checked > 20


def test_manifest_classes_query_by_label_and_validate(detection_corpus, capsys):
    _, corpus = detection_corpus
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["classes"] == ["building", "vehicle"] and manifest["task"] == "detection"
    assert any("no annotations" in r["error"] for r in manifest["summary"]["rejected_inputs"])
    tiles = pq.read_table(corpus / "catalog" / "tiles.parquet", columns=["classes"]).column("classes").to_pylist()
    capsys.readouterr()
    assert main(["query", str(corpus), "--label", "building", "--format", "count"]) == 0
    assert int(capsys.readouterr().out.strip()) == sum("building" in c.split(",") for c in tiles) > 0
    assert main(["validate", str(corpus)]) == 0


def _voc(objects) -> str:
    parts = ["<annotation><filename>x.jpg</filename>"]
    for name, corners in objects:
        keys = ("x_left_top", "y_left_top", "x_right_top", "y_right_top", "x_right_bottom", "y_right_bottom",
                "x_left_bottom", "y_left_bottom")
        box = "".join(f"<{k}>{v}</{k}>" for k, v in zip(keys, np.asarray(corners).reshape(-1)))
        parts.append(f"<object><name>{name}</name><difficult>0</difficult><robndbox>{box}</robndbox></object>")
    return "".join(parts) + "</annotation>"


def test_dior_style_xml_keeps_images_whole(tmp_path):
    """DIOR-R: 800 px JPEGs with <robndbox> XML; without --tile-size each image is one sample."""
    import cv2

    from workflows.samples.detection import render

    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    expected = {}
    for n in range(2):
        image, objects = render(np.random.default_rng(n), 96, vehicles=3, buildings=1)
        image = image[:80]  # non-square, as many real images are
        kept = [(cls, corners) for cls, corners, _ in objects if corners[:, 1].max() < 80]
        cv2.imwrite(str(tmp_path / "JPEGImages" / f"{n:05d}.jpg"), image)
        (tmp_path / "Annotations" / f"{n:05d}.xml").write_text(_voc(kept))
        expected[f"{n:05d}"] = sorted(cls for cls, _ in kept)
    corpus = tmp_path / "corpus"
    assert main(["build", str(tmp_path / "JPEGImages"), str(corpus), "--task", "detection", "--labels",
                 str(tmp_path / "Annotations"), "--scheduler", "sync", "--quiet"]) == 0
    tiles = pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist()
    samples = _samples(corpus)
    assert sorted(Path(t["uri"]).stem for t in tiles) == sorted(expected)
    for row in tiles:
        assert (row["width"], row["height"]) == (96, 80)
        found = samples[row["tile_id"]]["objects"]
        assert sorted(o["class"] for o in found) == expected[Path(row["uri"]).stem]
        assert not any(o["truncated"] for o in found)


def test_sample_detection_set_has_known_non_overlapping_boxes(tmp_path):
    assert main(["samples", str(tmp_path), "--detection", "--seed", "2"]) == 0
    first = (tmp_path / "images" / "P0000.png").read_bytes()
    assert main(["samples", str(tmp_path / "again"), "--detection", "--seed", "2"]) == 0
    assert (tmp_path / "again" / "images" / "P0000.png").read_bytes() == first  # same seed, same bytes
    import cv2

    for label in sorted((tmp_path / "labelTxt").glob("*.txt")):
        image = cv2.imread(str(tmp_path / "images" / f"{label.stem}.png"))
        objects = read_dota(label.read_text(), str(label))
        polygons = [shapely.Polygon(o.ring) for o in objects]
        assert {o.cls for o in objects} == {"vehicle", "building"}
        assert all(shapely.box(0, 0, image.shape[1], image.shape[0]).contains(p) for p in polygons)
        assert not any(a.intersects(b) for i, a in enumerate(polygons) for b in polygons[i + 1:])


def test_vector_labels_of_a_georeferenced_scene_land_in_their_tiles(tmp_path):
    """A GeoTIFF (0.5 m UTM pixels) with a GeoPackage of polygons: objects mapped through each
    tile's transform into sample pixels."""
    import geopandas
    import rasterio
    from affine import Affine

    from workflows.samples.detection import render

    image, _ = render(np.random.default_rng(0), 128, vehicles=0, buildings=0)
    (tmp_path / "scenes").mkdir()
    transform = Affine(0.5, 0.0, 500000.0, 0.0, -0.5, 5000000.0)
    with rasterio.open(tmp_path / "scenes" / "scene.tif", "w", driver="GTiff", width=128, height=128, count=3,
                       dtype="uint8", crs="EPSG:32631", transform=transform) as dst:
        dst.write(image.transpose(2, 0, 1))
    # pixel boxes (10..20, 10..16) in tile (0, 0) and (70..90, 80..100) in tile (64, 64)
    pixel_boxes = {"car": (10, 10, 20, 16), "pool": (70, 80, 90, 100)}
    geoms = [shapely.box(500000 + x1 * 0.5, 5000000 - y2 * 0.5, 500000 + x2 * 0.5, 5000000 - y1 * 0.5)
             for x1, y1, x2, y2 in pixel_boxes.values()]
    frame = geopandas.GeoDataFrame({"category": list(pixel_boxes)}, geometry=geoms, crs="EPSG:32631")
    frame.to_crs("EPSG:4326").to_file(tmp_path / "objects.gpkg")  # another CRS than the scene's
    corpus = tmp_path / "corpus"
    assert main(["build", str(tmp_path / "scenes"), str(corpus), "--task", "detection", "--labels",
                 str(tmp_path / "objects.gpkg"), "--tile-size", "64", "--scheduler", "sync", "--quiet"]) == 0
    samples = _samples(corpus)
    found = {}
    for row in pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist():
        for obj in samples[row["tile_id"]]["objects"]:
            found[obj["class"]] = ((row["col_off"], row["row_off"]), obj["hbb"])
    assert found["car"][0] == (0, 0) and np.allclose(found["car"][1], [10, 10, 20, 16], atol=0.05)
    assert found["pool"][0] == (64, 64) and np.allclose(found["pool"][1], [6, 16, 26, 36], atol=0.05)

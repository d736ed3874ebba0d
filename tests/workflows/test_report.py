"""The corpus report: files, self-contained HTML, balance measures, duplicate thumbnails."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import h3
import numpy as np
import pyarrow as pa
import pytest

from catalogs.geoparquet import write_geoparquet
from catalogs.store import Store
from catalogs.manifest import write_manifest
from catalogs.schema import CATALOG_SCHEMA
from catalogs.tarformat import SampleTarWriter
from pipeline.encode import encode
from workflows.report import write_report
from workflows.report.data import load_corpus
from workflows.report.metrics import balance_summary, lorenz
from workflows.report.regions import find_regions
from workflows.report.thumbs import load_clusters, to_display

PARIS, LISBON = (2.35, 48.85), (-9.14, 38.72)


def _image(seed: int, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    return np.clip(base.astype(np.int16) + shift, 0, 255).astype(np.uint8)


def _row(tile_id: str, status: str, place=None, **extra) -> dict:
    lon, lat = place if place else (None, None)
    row = {"tile_id": tile_id, "scene_id": f"scene-{tile_id[:2]}", "uri": f"/raw/{tile_id[:2]}.tif",
           "sensor": extra.pop("sensor", "aerial"), "gsd_m": extra.pop("gsd_m", 0.5), "format": "png",
           "dtype": "uint8", "band_count": 3, "bands": "red,green,blue", "width": 32, "height": 32,
           "lon": lon, "lat": lat, "georeferenced": place is not None, "status": status,
           "quality": 0.8, "phash": extra.pop("phash", 0)}
    row.update(extra)
    return row


class FakeCorpus:
    """Writes a tiny corpus: catalog tables, a staging blob and one shard, like a build does."""

    def __init__(self, root: Path):
        self.root, self.rows, self.blob, self.shard = root, [], bytearray(), io.BytesIO()
        self.tar = SampleTarWriter(self.shard)

    def add(self, row: dict, image: np.ndarray) -> None:
        data = encode(image, "png")
        row.update(stage_file="staging/blob.tiles", stage_offset=len(self.blob), stage_size=len(data))
        self.blob += data
        if row["status"] == "kept":
            start, size = self.tar.add(row["tile_id"], [("png", data), ("json", b"{}")])
            row.update(shard="shards/train-000000.tar", offset=start, size=size, split="train")
        self.rows.append(row)

    def write(self) -> Path:
        self.tar.close()
        (self.root / "staging").mkdir(parents=True)
        (self.root / "staging" / "blob.tiles").write_bytes(bytes(self.blob))
        (self.root / "shards").mkdir()
        (self.root / "shards" / "train-000000.tar").write_bytes(self.shard.getvalue())
        rows = [{f.name: r.get(f.name) for f in CATALOG_SCHEMA} for r in self.rows]
        table = pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)
        kept = pa.array([r["status"] == "kept" for r in self.rows])
        write_geoparquet(table.filter(kept), self.root / "catalog" / "tiles.parquet")
        write_geoparquet(table.filter(pa.compute.invert(kept)), self.root / "catalog" / "rejected.parquet")
        write_manifest(str(self.root), {"config": {"h3_resolution": 6, "alpha": 0.5, "tile_size": 32},
                                        "shards": [{"path": "shards/train-000000.tar", "bytes": 1}]})
        return self.root


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Paris: 3 kept + 2 balanced_out + 3 duplicates of p0; Lisbon: 2 kept + 1 duplicate of l0 +
    1 nodata; one non-georeferenced kept tile (cells are left null: the report fills them)."""
    fake = FakeCorpus(tmp_path / "corpus")
    for i in range(3):
        fake.add(_row(f"p{i}" + "0" * 14, "kept", (PARIS[0] + 0.01 * i, PARIS[1]), phash=0), _image(i))
    for i in range(2):
        fake.add(_row(f"pb{i}" + "0" * 13, "balanced_out", (PARIS[0], PARIS[1] + 0.01 * i)), _image(10 + i))
    for i, bits in enumerate((3, 1, 6)):
        fake.add(_row(f"pd{i}" + "0" * 13, "duplicate", PARIS, duplicate_of="p0" + "0" * 14,
                      phash=(1 << bits) - 1), _image(0, shift=5 * (i + 1)))
    for i in range(2):
        fake.add(_row(f"l{i}" + "0" * 14, "kept", (LISBON[0], LISBON[1] + 0.01 * i), sensor="sentinel2",
                      gsd_m=10.0), _image(20 + i))
    fake.add(_row("ld0" + "0" * 13, "duplicate", LISBON, duplicate_of="l0" + "0" * 14), _image(20))
    fake.add(_row("ln0" + "0" * 13, "nodata", LISBON), _image(30))
    fake.add(_row("j0" + "0" * 14, "kept", None, sensor="jpeg", gsd_m=None), _image(40))
    return fake.write()


def _embedded_and_external(page: str) -> tuple[int, list[str]]:
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    return sum(r.startswith("data:image/png;base64,") for r in refs), [r for r in refs if not r.startswith("data:")]


def test_report_files_embed_every_figure(corpus):
    html_path = Path(write_report(corpus))
    assert html_path == corpus / "report" / "index.html"
    figures = sorted((corpus / "report" / "figures").glob("*.png"))
    assert [p.stem for p in figures] == ["balance", "density_map", "duplicates", "histograms", "status"]
    page = html_path.read_text()
    embedded, external = _embedded_and_external(page)
    assert embedded == len(figures) and external == []
    assert "<link" not in page and "<script" not in page and "url(" not in page
    readme = (corpus / "report" / "README.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert sorted(linked) == sorted(f"figures/{p.name}" for p in figures)
    assert all((corpus / "report" / link).exists() for link in linked)
    assert "| duplicate | 4 |" in readme and "| balanced_out | 2 |" in readme


def test_report_is_deterministic(corpus):
    write_report(corpus)
    first = {p.name: p.read_bytes() for p in (corpus / "report").rglob("*") if p.is_file()}
    write_report(corpus)
    second = {p.name: p.read_bytes() for p in (corpus / "report").rglob("*") if p.is_file()}
    assert first == second


def test_balance_figures_match_hand_computed_values():
    figures = balance_summary(["a", "a", "a", "b"], ["a", "b", None])
    before, after = figures["before"], figures["after"]
    # p = (3/4, 1/4): H / ln 2 = 0.811278; Gini = sum |xi - xj| / (2 n^2 mean) = 4 / 16
    assert before["normalized_entropy"] == pytest.approx(0.811278, abs=1e-6)
    assert before["gini"] == pytest.approx(0.25)
    assert (before["cells_covered"], before["tiles"]) == (2, 4)
    assert after["normalized_entropy"] == pytest.approx(1.0) and after["gini"] == pytest.approx(0.0)
    # counts (1, 2, 3, 6): Gini = 2 * (1 + 4 + 9 + 24) / (4 * 12) - 5 / 4 = 0.3333
    three = balance_summary(["a"] + ["b"] * 2 + ["c"] * 3 + ["d"] * 6, [])
    assert three["before"]["gini"] == pytest.approx(1 / 3)
    assert math.isnan(three["after"]["gini"]) and three["after"]["cells_covered"] == 0
    x, y = lorenz(np.array([3, 1]))
    assert x.tolist() == [0.0, 0.5, 1.0] and y.tolist() == [0.0, 0.25, 1.0]


def test_report_shows_balance_before_and_after(corpus):
    write_report(corpus)
    readme = (corpus / "report" / "README.md").read_text()
    data = load_corpus(corpus)
    paris = h3.latlng_to_cell(PARIS[1], PARIS[0], 6)
    assert set(data.rows["cell"]) >= {paris, "src:scene-j0"}
    assert "| tiles | 8 | 6 |" in readme  # before = kept + balanced_out
    before = data.rows[data.rows["status"].isin(["kept", "balanced_out"])]
    expected = {h3.latlng_to_cell(r.lat, r.lon, 6) if r.georeferenced else f"src:{r.scene_id}"
                for r in before.itertuples()}
    after = {c for c, s in zip(data.rows["cell"], data.rows["status"]) if s == "kept"}
    assert set(before["cell"]) == expected
    assert f"| cells covered | {len(expected)} | {len(after)} |" in readme


def test_duplicate_clusters_from_planted_rows(corpus):
    clusters = load_clusters(Store(corpus), load_corpus(corpus).rows)
    assert [c.representative.tile_id for c in clusters] == ["p0" + "0" * 14, "l0" + "0" * 14]
    paris = clusters[0]
    assert paris.total == 3 and paris.representative.role == "kept"
    assert [t.bits for t in paris.duplicates] == [1, 3, 6]  # closest first
    assert all(t.image is not None and t.image.shape == (32, 32, 3) for t in [paris.representative, *paris.duplicates])
    np.testing.assert_array_equal(paris.representative.image, _image(0))


def test_staging_removed_reads_kept_from_shards(corpus):
    shutil.rmtree(corpus / "staging")
    clusters = load_clusters(Store(corpus), load_corpus(corpus).rows)
    np.testing.assert_array_equal(clusters[0].representative.image, _image(0))
    assert all(t.image is None and "staging" in t.note for t in clusters[0].duplicates)
    write_report(corpus)
    assert "could not be shown" in (corpus / "report" / "README.md").read_text()


def test_no_duplicates_is_said_and_stale_figure_removed(corpus):
    write_report(corpus)
    assert (corpus / "report" / "figures" / "duplicates.png").exists()
    fake = FakeCorpus(corpus.parent / "plain")
    fake.add(_row("k0" + "0" * 14, "kept", PARIS), _image(1))
    shutil.copytree(corpus / "report", fake.root / "report")
    write_report(fake.write())
    assert "No duplicates found." in (fake.root / "report" / "README.md").read_text()
    assert not (fake.root / "report" / "figures" / "duplicates.png").exists()


def test_to_display_uses_a_fixed_stretch_and_keeps_uint8():
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 4000, (16, 16, 4)).astype(np.uint16)
    shown = to_display(wide, (np.zeros(4), np.full(4, 4000.0)))
    assert shown.shape == (16, 16, 3) and shown.dtype == np.uint8 and shown.max() >= 250 and shown.min() <= 5
    # no per-image auto-stretch: a nearly white (saturated) tile stays white
    white = np.full((8, 8, 1), 60000, np.uint16) + rng.integers(0, 50, (8, 8, 1)).astype(np.uint16)
    assert to_display(white).min() >= 230  # the dtype range when no corpus stretch is known
    assert to_display(white, (np.array([0.0]), np.array([60000.0]))).min() == 255
    grey = rng.integers(0, 255, (8, 8, 1), dtype=np.uint8)
    np.testing.assert_array_equal(to_display(grey), grey[:, :, 0])


def test_corpus_stretch_pools_the_kept_band_statistics():
    import pandas as pd

    from workflows.report.thumbs import corpus_stretch

    rows = pd.DataFrame({"status": ["kept", "kept", "blank"], "sensor": ["s2"] * 3, "bands": ["a,b"] * 3,
                         "dtype": ["uint16"] * 3, "band_mean": [[100.0, 10.0], [300.0, 10.0], [9e9, 9e9]],
                         "band_std": [[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]})
    lo, hi = corpus_stretch(rows, k=1.0)[("s2", "a,b", "uint16")]
    np.testing.assert_allclose(lo, [100.0, 9.0])
    np.testing.assert_allclose(hi, [300.0, 11.0])


def test_regions_group_clusters_by_size():
    lon = np.array([2.3, 2.4, 2.35, -9.1, -9.2, np.nan])
    lat = np.array([48.8, 48.9, 48.85, 38.7, 38.75, 10.0])
    regions = find_regions(lon, lat)
    assert [(r.name, r.count) for r in regions] == [("A", 3), ("B", 2)]
    assert regions[0].west == pytest.approx(2.3) and regions[1].north == pytest.approx(38.75)


def test_report_of_a_built_corpus(built_corpus):
    corpus, summary = built_corpus
    page = Path(write_report(corpus)).read_text()
    embedded, external = _embedded_and_external(page)
    assert embedded >= 4 and external == []
    readme = (corpus / "report" / "README.md").read_text()
    assert f"**{summary['tiles']['kept']}** tiles kept" in readme
    assert json.loads((corpus / "manifest.json").read_text())["config"]["tile_size"] == 96

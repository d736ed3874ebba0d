"""A large build draws its report figures in a helper process, from the curated table, while it
writes its shards: the same figures ``ringmo report`` draws from the catalog afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.scene import SourceRef
from catalogs.store import Store
from workflows import engine
from workflows.build import build
from workflows.report import background, write_report
from tests.workflows.conftest import small_build_config


def _figures(corpus: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((corpus / "report" / "figures").glob("*.png"))}


def test_input_bytes_counts_every_band_file_and_remote_inputs_as_large(tmp_path):
    one, two = tmp_path / "a.tif", tmp_path / "b_B1.tif"
    one.write_bytes(b"x" * 1000)
    two.write_bytes(b"y" * 300)
    product = SourceRef(str(tmp_path / "b_{band}.tif"), members=(("B1", str(two)),))
    assert background.input_bytes([SourceRef(str(one)), product]) == 1300
    assert background.input_bytes([SourceRef(str(tmp_path / "gone.tif"))]) == 0  # ingest reports it
    assert background.input_bytes([SourceRef(str(one)), SourceRef("s3://bucket/scene.tif")]) == float("inf")


def test_the_helper_starts_only_for_large_inputs_with_a_core_to_spare(tmp_path, monkeypatch):
    scene = tmp_path / "a.tif"
    scene.write_bytes(b"x" * 1000)
    monkeypatch.setattr(background, "HELPER_MIN_INPUT_BYTES", 1001)
    for refs, spare, remote_corpus in [([SourceRef(str(scene))], 1, False),  # small inputs
                                       ([SourceRef(str(scene))] * 2, 0, False),  # workers on every core
                                       ([SourceRef(str(scene))] * 2, 1, True),  # report drawn, then uploaded
                                       (None, 1, False)]:  # `ringmo curate`: no listing
        corpus = Store("s3://bucket/corpus" if remote_corpus else str(tmp_path / "corpus"))
        with background.FigureDrawer(corpus) as figures:
            figures.start(refs, spare)
            figures.draw()
            assert figures.drawn_here and figures.result() is None


def test_engines_count_the_cores_their_tasks_keep_busy(monkeypatch):
    monkeypatch.setattr(engine, "default_workers", lambda: 8)
    assert engine.Engine(None).spare_cores == 7  # in process: the build's own process works
    assert engine.Engine(object(), busy_cores=8).spare_cores == 0  # a local cluster on every core
    assert engine.Engine(object(), busy_cores=0).spare_cores == 8  # a cluster elsewhere


@pytest.mark.slow
def test_figures_drawn_by_the_helper_equal_the_report_command(raw_scenes, tmp_path, monkeypatch):
    monkeypatch.setattr(background, "HELPER_MIN_INPUT_BYTES", 0)
    monkeypatch.setattr(engine, "default_workers", lambda: 4)  # a core to spare, whatever runs this
    drawers = []
    monkeypatch.setattr(background.FigureDrawer, "start", _recording(background.FigureDrawer.start, drawers))
    corpus = tmp_path / "corpus"
    build(small_build_config(raw_scenes, corpus, keep_staging=True), progress=False)
    assert drawers == [False]  # the helper, not the build's process, drew them
    drawn = _figures(corpus)
    assert {"status.png", "density_map.png", "histograms.png", "balance.png"} <= set(drawn)
    write_report(corpus)  # `ringmo report`: from the catalog, in this process
    assert _figures(corpus) == drawn


@pytest.mark.parametrize("dies", ["before it is asked", "while it draws"])
def test_a_failing_helper_leaves_the_figures_to_the_build(raw_scenes, tmp_path, monkeypatch, dies):
    monkeypatch.setattr(background, "HELPER_MIN_INPUT_BYTES", 0)
    monkeypatch.setattr(engine, "default_workers", lambda: 4)
    draw = background.FigureDrawer.draw

    def draw_and_die(self):
        if dies == "before it is asked":
            _kill(self._helper)
        draw(self)
        if dies == "while it draws":
            _kill(self._helper)

    monkeypatch.setattr(background.FigureDrawer, "draw", draw_and_die)
    corpus = tmp_path / "corpus"
    summary = build(small_build_config(raw_scenes, corpus), progress=False)
    assert Path(summary["report"]).exists()
    assert {"status.png", "density_map.png", "histograms.png", "balance.png"} <= set(_figures(corpus))


def _kill(process) -> None:
    process.kill()
    process.wait()


def _recording(start, seen: list):
    def wrapped(self, refs, spare_cores):
        start(self, refs, spare_cores)
        seen.append(self.drawn_here)
    return wrapped

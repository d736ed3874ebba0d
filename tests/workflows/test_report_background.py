"""A large build draws its report figures in a helper process, from the curated table, while it
writes its shards: the same figures ``ringmo report`` draws from the catalog afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.scene import SourceRef
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


@pytest.mark.slow
def test_figures_drawn_by_the_helper_equal_the_report_command(raw_scenes, tmp_path, monkeypatch):
    monkeypatch.setattr(background, "HELPER_MIN_INPUT_BYTES", 0)
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
    def wrapped(self, refs):
        start(self, refs)
        seen.append(self.drawn_here)
    return wrapped

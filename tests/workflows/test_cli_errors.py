"""Every ``ringmo`` command on bad input: one line ``ringmo: error: <what>: <why>``, exit 2 (usage or
config) or 1 (data or state), no traceback; ``--debug`` / ``RINGMO_DEBUG=1`` show it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from catalogs.geoparquet import write_geoparquet
from catalogs.query import read_catalog
from tests.training.corpus import make_corpus
from workflows.cli import commands, main

ROOT = Path(__file__).resolve().parents[2]
BOWTIE = "POLYGON ((-10 40, 10 48, 10 40, -10 48, -10 40))"  # self-intersecting, over the synthetic tiles


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict:
    """An unlabeled and a labeled corpus, and the bad files the cases name."""
    root = tmp_path_factory.mktemp("cli-errors")
    corpus = make_corpus(root / "corpus", n=12, size=32, per_shard=12)
    labeled = make_corpus(root / "labeled", n=12, size=32, per_shard=12)
    tiles = read_catalog(str(labeled))
    labels = pa.array(["forest", "river"] * (tiles.num_rows // 2), pa.string())
    write_geoparquet(tiles.set_column(tiles.schema.get_field_index("label"), "label", labels),
                     labeled / "catalog" / "tiles.parquet")
    (root / "typo.yaml").write_text("modle: swin_base\n")
    (root / "bad.geojson").write_text('{"type": "Polygon", "coordinates": [[0, 0], [1\n')
    (root / "bowtie.wkt").write_text(BOWTIE)
    (root / "notckpt.pt").write_bytes(b"these bytes are not a checkpoint\n")
    return {"corpus": str(corpus), "labeled": str(labeled), "tmp": str(root), "missing": str(root / "nowhere")}


NOT_A_CORPUS = ("{missing}: not a corpus: no such file or directory", 1)
# (argv, the one error line after "ringmo: error: " as a regex, exit code)
CASES = [
    *[(argv, *NOT_A_CORPUS) for argv in (
        "query {missing}", "stats {missing}", "validate {missing}", "report {missing}", "curate {missing}",
        "pretrain --corpus {missing} --out {tmp}/run", "finetune --data {missing} --out {tmp}/ft --init random")],
    ("query {corpus} --bbox 0 10 1 5", r"--bbox: ymin 10.0 > ymax 5.0: the order is XMIN YMIN XMAX YMAX", 2),
    ("query {corpus} --bbox 10 0 5 1", r"--bbox: xmin 10.0 > xmax 5.0: give --antimeridian for a box that "
     r"crosses the antimeridian, or swap them", 2),
    ("pretrain --corpus {corpus} --out {tmp}/run --bbox 10 0 5 1", r"--bbox: xmin 10.0 > xmax 5.0: give "
     r"--antimeridian .*", 2),
    ("query {corpus} --bbox 1 2 3", r"--bbox: takes 4 numbers XMIN YMIN XMAX YMAX, got 3", 2),
    ("query {corpus} --polygon POLYGON((0_0,_1", r"--polygon: not a WKT or GeoJSON geometry \(.+\)", 2),
    ("query {corpus} --polygon @{tmp}/bad.geojson", r"{tmp}/bad.geojson: not a WKT or GeoJSON geometry \(.+\)", 1),
    ("query {corpus} --polygon @{tmp}/none.wkt", r"{tmp}/none.wkt: no such file \(--polygon @FILE\)", 1),
    ("query {corpus} --date-from 2020-13-45", r"--date-from: '2020-13-45' is not an ISO date "
     r"\(YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS\)", 2),
    ("query {corpus} --date-from 2021-01-01 --date-to 2020-01-01",
     r"--date-from/--date-to: 2021-01-01 is after 2020-01-01", 2),
    ("query {corpus} --sensor sentinel-2", r"--sensor sentinel-2: not in the catalog of {corpus} \(it has: aerial\)", 2),
    ("query {corpus} --split holdout", r"--split holdout: not in the catalog of {corpus} \(it has: train\)", 2),
    ("query {corpus} --label cat", r"--label cat: not in the catalog of {corpus} \(an unlabeled corpus\)", 2),
    ("query {labeled} --label cat", r"--label cat: not in the catalog of {labeled} \(it has: forest, river\)", 2),
    ("query {corpus} --format parquet", r"--format parquet: needs --output FILE", 2),
    ("pretrain --corpus {corpus} --out {tmp}/run --date-from 2030-01-01",
     r"{corpus}: the selection holds no samples: the catalog query \(the selection flags\) matched no row; "
     r"`ringmo query CORPUS ... --format count` shows what matches", 1),
    ("pretrain --corpus {corpus} --out {tmp}/run --config {tmp}/typo.yaml",
     r"{tmp}/typo.yaml: unknown setting\(s\) \['modle'\]; known: \[.*\]", 2),
    ("build {corpus} {tmp}/new --config {tmp}/typo.yaml", r"{tmp}/typo.yaml: unknown setting\(s\) \['modle'\]; .*", 2),
    ("build {tmp}/no-such-scenes {tmp}/new", r"{tmp}/no-such-scenes: no such file or directory \(a build input\)", 1),
    ("finetune --data {labeled} --out {tmp}/ft --checkpoint {tmp}/notckpt.pt --model vit_nano",
     r"{tmp}/notckpt.pt: not a checkpoint: neither a `ringmo pretrain` checkpoint nor a timm state dict "
     r"\(.pt/.pth/.safetensors\) \(\w+\)", 1),
    ("finetune --data {labeled} --out {tmp}/ft --checkpoint {tmp}/none.pt", r"{tmp}/none.pt: no such checkpoint file", 1),
    ("export {tmp}/notckpt.pt --out {tmp}/export", r"{tmp}/notckpt.pt: not a checkpoint: .*", 1),
    ("finetune --data {corpus} --out {tmp}/ft --init random --model vit_nano",
     r"{corpus}: has no labeled samples: it is a pretraining corpus; fine-tuning and evaluation need a labeled "
     r"one \(`ringmo build --labels from-folders\|LABELS.csv ...`\)", 1),
    ("evaluate --classifier {tmp}/none --data {labeled}",
     r"{tmp}/none: not a classifier: no classifier.json \(give a `ringmo finetune --out` directory\)", 1),
    ("finetune --data {labeled} --init random", r"--out: required", 2),
    ("query {corpus} --min-quality 3", r"--min-quality: 3.0 is not in \[0, 1\]", 2),
    ("query {corpus} --polygon POINT_EMPTY", r"--polygon: the geometry is empty", 2),
    ("build {corpus} {tmp}/new --split 0.5", r"--split: takes three fractions train,val,test \(>= 0, positive sum\), "
     r"got 0.5", 2),
    ("build {corpus} {tmp}/new --tile-size 0", r"--tile-size: must be > 0, got 0", 2),
    ("pretrain --corpus {corpus} --out {tmp}/run --model nosuch", r"--model: unknown model 'nosuch'; registered: .*", 2),
]


def _argv(template: str, places: dict) -> list[str]:
    return [part.format(**places).replace("_", " ") if part.startswith(("POLYGON", "POINT")) else part.format(**places)
            for part in template.split()]


@pytest.mark.parametrize("template, message, code", CASES, ids=[c[0].split(" {")[0] + f"-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_and_an_exit_code(places, capsys, template, message, code):
    assert main(_argv(template, places)) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    pattern = "ringmo: error: " + message.format(**{k: re.escape(v) for k, v in places.items()})
    lines = [line for line in err.splitlines() if not line.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), err


def test_report_on_a_missing_corpus_creates_nothing(places, capsys):
    assert main(["report", places["missing"]]) == 1
    assert not Path(places["missing"]).exists()


def test_a_missing_build_input_writes_no_corpus(places, capsys):
    assert main(["build", f"{places['tmp']}/no-such-scenes", f"{places['tmp']}/never"]) == 1
    assert not Path(places["tmp"], "never").exists()


def test_antimeridian_box_needs_the_flag_and_then_selects(places, capsys):
    assert main(["query", places["corpus"], "--bbox", "170", "-90", "-170", "90", "--antimeridian",
                 "--format", "count"]) == 0
    assert capsys.readouterr().out.strip() == "0"  # synthetic tiles lie at -10..10 degrees


def test_self_intersecting_polygon_is_made_valid_with_a_warning(places, capsys):
    assert main(["query", places["corpus"], "--polygon", f"@{places['tmp']}/bowtie.wkt", "--format", "count"]) == 0
    out, err = capsys.readouterr()
    assert int(out) > 0
    assert re.fullmatch(r"ringmo: warning: .*bowtie.wkt: the polygon is invalid \(Self-intersection.*\); using "
                        r"shapely.make_valid of it instead\n", err), err


def test_pretraining_a_labeled_corpus_warns(places):
    from catalogs.errors import RingmoWarning
    from training.index import index_from_catalog

    with pytest.warns(RingmoWarning, match="a labeled corpus"):
        assert len(index_from_catalog(places["labeled"])) == 12


def test_query_to_geojson_says_what_it_wrote(places, tmp_path, capsys):
    out = tmp_path / "sel.geojson"
    assert main(["query", places["corpus"], "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"12 tiles -> {out}\n"
    assert len(json.loads(out.read_text())["features"]) == 12


def _crash(args):
    raise RuntimeError("boom")


def _interrupt(args):
    raise KeyboardInterrupt


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(places, monkeypatch, capsys):
    monkeypatch.setattr(commands, "stats", _crash)
    assert main(["stats", places["corpus"]]) == 1
    assert capsys.readouterr().err == ("ringmo: error: internal error: RuntimeError: boom "
                                       "(rerun with --debug for the traceback)\n")
    assert main(["stats", places["corpus"], "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("ringmo: error: internal error: RuntimeError: boom\n")
    monkeypatch.setenv("RINGMO_DEBUG", "1")
    assert main(["query", places["missing"]]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_interrupt_exits_130_quietly(places, monkeypatch, capsys):
    monkeypatch.setattr(commands, "stats", _interrupt)
    assert main(["stats", places["corpus"]]) == 130
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_the_trainer_module_reports_errors_the_same_way(places):
    """``python -m training.pretrain`` (what torchrun runs) goes through the same error path."""
    done = subprocess.run([sys.executable, "-m", "training.pretrain", "--corpus", places["missing"], "--out",
                           f"{places['tmp']}/run"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"ringmo: error: {places['missing']}: not a corpus: no such file or directory"
    assert "Traceback" not in done.stderr

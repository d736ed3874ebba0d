"""The ``ringmo`` CLI: build and query as a user types them."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import shapely

from catalogs.query import Query, read_catalog
from workflows.cli import main
from tests.workflows.conftest import TILE


def test_build_then_query_from_the_command_line(raw_scenes, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    config = tmp_path / "build.yaml"
    config.write_text(f"tile_size: {TILE}\nseed: 7\nshard_max_count: 40\n")
    assert main(["build", str(raw_scenes), str(corpus), "--config", str(config), "--scheduler", "sync",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "rejected" in out and "truncated" in out and "kept:" in out
    assert main(["query", str(corpus), "--sensor", "aerial", "--format", "count"]) == 0
    count = int(capsys.readouterr().out.strip())
    assert count == read_catalog(str(corpus), Query(sensors=("aerial",))).num_rows > 0


@pytest.mark.parametrize("fmt", ["table", "geojson", "keys", "shards"])
def test_query_formats(built_corpus, capsys, fmt):
    corpus, _ = built_corpus
    bbox = ["2.0", "48.5", "2.8", "49.2"]  # Paris
    assert main(["query", str(corpus), "--bbox", *bbox, "--format", fmt]) == 0
    out = capsys.readouterr().out
    expected = read_catalog(str(corpus), Query(bbox=(2.0, 48.5, 2.8, 49.2)))
    assert expected.num_rows > 0
    if fmt == "geojson":
        features = json.loads(out)["features"]
        assert len(features) == expected.num_rows
        assert all(shapely.geometry.shape(f["geometry"]).intersects(shapely.box(2.0, 48.5, 2.8, 49.2))
                   for f in features)
    elif fmt == "keys":
        assert sorted(out.split()) == sorted(expected.column("tile_id").to_pylist())
    elif fmt == "shards":
        assert all(line.endswith(".tar") for line in out.split())
    else:
        assert f"{expected.num_rows} tiles" in out


def test_query_to_geoparquet_and_stats(built_corpus, tmp_path, capsys):
    corpus, summary = built_corpus
    out = tmp_path / "paris.parquet"
    assert main(["query", str(corpus), "--bbox", "2.0", "48.5", "2.8", "49.2", "--format", "parquet",
                 "-o", str(out)]) == 0
    assert pq.read_table(out).num_rows == read_catalog(str(corpus), Query(bbox=(2.0, 48.5, 2.8, 49.2))).num_rows
    assert main(["stats", str(corpus)]) == 0
    text = capsys.readouterr().out
    assert f"candidates: {summary['tiles']['candidates']}" in text and "(ok)" in text


@pytest.mark.parametrize("command", ["build", "curate", "query", "stats", "validate", "report", "samples",
                                     "demo", "pretrain", "finetune", "evaluate", "export"])
def test_every_command_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"ringmo {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, missing", [(["build"], "INPUT, CORPUS"), (["build", "raw"], "CORPUS")])
def test_build_without_a_corpus_says_what_is_missing(argv, missing, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"the following arguments are required: {missing}" in capsys.readouterr().err


def test_query_format_follows_the_output_suffix(built_corpus, tmp_path, capsys):
    corpus, _ = built_corpus
    bbox = ["2.0", "48.5", "2.8", "49.2"]
    expected = read_catalog(str(corpus), Query(bbox=(2.0, 48.5, 2.8, 49.2))).num_rows
    assert main(["query", str(corpus), "--bbox", *bbox, "-o", str(tmp_path / "a.geojson")]) == 0
    assert len(json.loads((tmp_path / "a.geojson").read_text())["features"]) == expected
    assert main(["query", str(corpus), "--bbox", *bbox, "-o", str(tmp_path / "a.parquet")]) == 0
    assert pq.read_table(tmp_path / "a.parquet").num_rows == expected
    assert main(["query", str(corpus), "--bbox", *bbox, "-o", str(tmp_path / "a.txt")]) == 0
    assert f"{expected} tiles" in (tmp_path / "a.txt").read_text()

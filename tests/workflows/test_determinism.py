"""Same inputs + config + seed => byte-identical shards and catalog; interrupted runs resume."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from catalogs.errors import CorpusError
from catalogs.manifest import read_manifest
from workflows.build import build
from tests.workflows.conftest import small_build_config


def corpus_digest(corpus: Path) -> dict[str, str]:
    files = sorted([*corpus.glob("shards/*.tar"), *corpus.glob("catalog/*.parquet")])
    return {str(p.relative_to(corpus)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def comparable_manifest(corpus: Path) -> dict:
    manifest = read_manifest(str(corpus))
    manifest["config"].pop("corpus")
    manifest["config"].pop("scheduler")
    manifest["config"].pop("workers")
    manifest.pop("timings")  # wall seconds of that run
    return manifest


@pytest.mark.slow
def test_local_cluster_build_equals_in_process_build(raw_scenes, built_corpus, tmp_path):
    reference, _ = built_corpus
    other = tmp_path / "cluster"
    build(small_build_config(raw_scenes, other, scheduler=None, workers=2), progress=False)
    assert corpus_digest(other) == corpus_digest(reference)
    assert comparable_manifest(other) == comparable_manifest(reference)


def test_interrupted_build_resumes_to_identical_bytes(raw_scenes, built_corpus, tmp_path):
    reference, _ = built_corpus
    corpus = tmp_path / "resumed"
    config = small_build_config(raw_scenes, corpus)
    build(config, progress=False)
    first_scene = sorted(p for p in (corpus / "staging").glob("*.parquet") if p.stem != "curated")[0]
    first_scene.unlink()  # as if killed while tiling that scene
    shard = sorted((corpus / "shards").glob("*.tar"))[-1]
    shard.unlink()  # as if killed while packing it
    (corpus / "staging" / "packed" / f"{shard.stem}.json").unlink()
    for path in (corpus / "catalog").glob("*.parquet"):
        path.unlink()
    build(config, progress=False)
    assert corpus_digest(corpus) == corpus_digest(reference)


def test_changing_tiling_settings_on_a_corpus_is_refused(raw_scenes, built_corpus):
    corpus, _ = built_corpus
    with pytest.raises(CorpusError, match="tile_size"):
        build(small_build_config(raw_scenes, corpus, tile_size=64), progress=False)

"""Shared fixtures for workflow tests: the sample scenes and a corpus built from them once."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.samples import write_sample_scenes

SAMPLE_SCALE = 0.25
TILE = 96


def small_build_config(raw: Path, corpus: Path, **overrides) -> BuildConfig:
    settings = dict(inputs=(str(raw),), corpus=str(corpus), tile_size=TILE, scheduler="sync",
                    shard_max_count=40, h3_resolution=6, seed=7)
    settings.update(overrides)
    return BuildConfig(**settings)


@pytest.fixture(scope="session")
def raw_scenes(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_sample_scenes(raw, seed=0, scale=SAMPLE_SCALE)
    return raw


@pytest.fixture(scope="session")
def built_corpus(raw_scenes, tmp_path_factory) -> tuple[Path, dict]:
    corpus = tmp_path_factory.mktemp("corpus")
    summary = build(small_build_config(raw_scenes, corpus), progress=False)
    return corpus, summary

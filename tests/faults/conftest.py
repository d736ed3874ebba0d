"""Fixtures for the fault suite: a small raw set, a reference build, and a CLI runner that
builds in a subprocess (so SIGKILL from ``workflows.faults`` kills a real process)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catalogs.manifest import read_manifest
from workflows.build_config import BuildConfig
from workflows.samples import write_sample_scenes

ROOT = Path(__file__).resolve().parents[2]
TILE = 96
#: A few sample scenes of every kind (multispectral, SAR, aerial, plain JPEG, a corrupt file).
SUBSET = ("S2A_MSIL2A_20230612_T31UDQ_paris.tif", "S1A_IW_GRDH_1SDV_20230301_paris_VV.tif",
          "aerial_paris_0001_20220614.tif", "aerial_alps_0001_20220802.tif", "DJI_0001.JPG",
          "aerial_paris_0099_20220614_truncated.tif")
FLAGS = ("--tile-size", str(TILE), "--shard-max-count", "8", "--h3-resolution", "6", "--seed", "7")


def config_for(raw: Path, corpus: Path, **overrides) -> BuildConfig:
    settings = dict(inputs=(str(raw),), corpus=str(corpus), tile_size=TILE, scheduler="sync",
                    shard_max_count=8, h3_resolution=6, seed=7)
    settings.update(overrides)
    return BuildConfig(**settings)


def run_cli(*args: str, fault: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m workflows.cli ARGS`` in a fresh process, with ``RINGMO_FAULT`` set or not."""
    env = {k: v for k, v in os.environ.items() if k != "RINGMO_FAULT"}
    if fault:
        env["RINGMO_FAULT"] = fault
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "workflows.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def cli_build(raw: Path, corpus: Path, *extra: str, fault: str | None = None) -> subprocess.CompletedProcess:
    return run_cli("build", str(raw), str(corpus), *FLAGS, "--quiet", *extra, fault=fault)


def corpus_digest(corpus: Path) -> dict[str, str]:
    """sha256 of every shard and catalog file, plus the manifest minus run-specific settings."""
    files = sorted([*corpus.glob("shards/*.tar"), *corpus.glob("catalog/*.parquet")])
    digest = {str(p.relative_to(corpus)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    manifest = read_manifest(str(corpus))
    for key in ("corpus", "scheduler", "workers"):
        manifest.get("config", {}).pop(key, None)
    manifest.pop("timings", None)  # wall seconds of that run
    digest["manifest"] = hashlib.sha256(repr(sorted(manifest.items())).encode()).hexdigest()
    return digest


@pytest.fixture(scope="session")
def raw_subset(tmp_path_factory) -> Path:
    full = tmp_path_factory.mktemp("raw_full")
    write_sample_scenes(full, seed=0, scale=0.25)
    raw = tmp_path_factory.mktemp("raw")
    for name in SUBSET:
        shutil.copyfile(full / name, raw / name)
    return raw


@pytest.fixture(scope="session")
def reference(raw_subset, tmp_path_factory) -> Path:
    """An uninterrupted ``ringmo build`` of ``raw_subset`` (what every faulted run must equal)."""
    corpus = tmp_path_factory.mktemp("reference") / "corpus"
    result = cli_build(raw_subset, corpus, "--scheduler", "sync")
    assert result.returncode == 0, result.stderr[-2000:]
    return corpus

"""A corpus written straight to an S3-compatible object store (moto on loopback).

The build is killed with SIGKILL mid-pack, resumed with the same command on a Dask
LocalCluster whose worker processes write to the store themselves, and must equal the local
reference build byte for byte; ``ringmo validate``, ``stats`` and the report work on the URL.
"""

from __future__ import annotations

import signal

import fsspec
import pytest

from catalogs.manifest import read_manifest
from tests.faults.conftest import cli_build, corpus_digest, run_cli
from workflows.validate import validate_corpus


def _download(url: str, into) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    for remote in fs.find(path):
        rel = remote[len(path):].lstrip("/")
        if rel.startswith(("shards/", "catalog/", "manifest.json")):
            target = into / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(fs.cat_file(remote))


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["tile.done:2", "pack.renamed:2"])
def test_build_to_s3_resumes_after_kill_and_equals_local_build(raw_subset, reference, s3, tmp_path, fault):
    url = s3.url("corpora/paris")
    killed = cli_build(raw_subset, url, "--scheduler", "sync", fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    fs = fsspec.filesystem("s3")
    assert read_manifest(url)["stages"] == {"build": "running"}
    assert not fs.exists(f"{s3.bucket}/corpora/paris/catalog/tiles.parquet")
    assert not [p for p in fs.find(s3.bucket) if p.endswith(".tmp")], "no temp objects on the store"

    resumed = cli_build(raw_subset, url, "--workers", "2")  # LocalCluster: workers write to S3
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    fs.invalidate_cache()  # our listing above predates the resumed run
    assert f"catalog: {url}/catalog/tiles.parquet" in resumed.stdout

    local = tmp_path / "downloaded"
    _download(url, local)
    assert corpus_digest(local) == corpus_digest(reference)
    assert validate_corpus(url) == []
    assert fs.exists(f"{s3.bucket}/corpora/paris/report/index.html")
    assert fs.exists(f"{s3.bucket}/corpora/paris/report/figures/density_map.png")
    stats = run_cli("stats", url)
    assert stats.returncode == 0 and "(ok)" in stats.stdout, stats.stderr[-2000:]


def test_validate_names_a_corrupted_shard_on_s3(raw_subset, reference, s3):
    """Copying a local corpus up is a supported way to publish it; validate checks it remotely."""
    url = s3.url("published")
    fs = fsspec.filesystem("s3")
    fs.put(str(reference) + "/", f"{s3.bucket}/published", recursive=True)
    assert validate_corpus(url) == []
    shard = sorted(p for p in fs.find(f"{s3.bucket}/published/shards") if p.endswith(".tar"))[0]
    data = bytearray(fs.cat_file(shard))
    data[700] ^= 0xFF
    fs.pipe_file(shard, bytes(data))
    findings = validate_corpus(url)
    assert any(f.path == "shards/" + shard.rsplit("/", 1)[-1] and "sha256" in f.message for f in findings), findings


def test_build_from_s3_prefix_to_s3(raw_subset, reference, s3):
    """Inputs listed under an S3 prefix and read through /vsis3/, corpus written to S3."""
    fs = fsspec.filesystem("s3")
    fs.put(str(raw_subset) + "/", f"{s3.bucket}/raw", recursive=True)
    url = s3.url("from-s3")
    built = cli_build(s3.url("raw/"), url, "--scheduler", "sync")
    assert built.returncode == 0, built.stderr[-3000:]
    assert validate_corpus(url) == []
    summary, expected = read_manifest(url)["summary"], read_manifest(str(reference))["summary"]
    assert summary["tiles"] == expected["tiles"] and summary["scenes"] == expected["scenes"]
    assert [r["uri"] for r in summary["rejected_inputs"]] == [s3.url("raw/aerial_paris_0099_20220614_truncated.tif")]


def test_commands_reading_s3_exit_cleanly(reference, s3):
    """Arrow threads holding Python file objects at interpreter exit used to abort about 1 run
    in 4 of a command that read a catalog from S3 (exit -6 after correct output); every run
    here must exit 0 with the same answer as the local corpus."""
    fsspec.filesystem("s3").put(str(reference) + "/", f"{s3.bucket}/published", recursive=True)
    url = s3.url("published")
    bbox = ("--bbox", "2.0", "48.5", "2.8", "49.2")
    local = run_cli("query", str(reference), *bbox, "--format", "count")
    assert local.returncode == 0
    for _ in range(6):
        remote = run_cli("query", url, *bbox, "--format", "count")
        assert remote.returncode == 0, remote.stderr[-2000:]
        assert remote.stdout == local.stdout

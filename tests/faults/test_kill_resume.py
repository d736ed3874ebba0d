"""SIGKILL the build at named points of every stage, rerun it, and get the uninterrupted bytes.

Kills come from ``workflows.faults`` inside a real ``ringmo build`` subprocess (in-process
scheduler, so the call counts and therefore the kill moments are deterministic).
"""

from __future__ import annotations

import signal

import pytest

from tests.faults.conftest import cli_build, corpus_digest, run_cli
from workflows.faults import POINTS
from workflows.validate import validate_corpus

KILLED = -signal.SIGKILL

#: (point, call number) killed in turn on ONE corpus, in build order: each rerun resumes the
#: previous kill and is itself killed further on. Mid-scene and mid-shard points appear twice.
CHAIN = (
    ("build.started", 1), ("ingest.read", 2), ("ingest.recorded", 3), ("tile.candidate", 3),
    ("tile.blob_renamed", 1), ("tile.done", 2), ("tile.candidate", 6), ("curate.written", 1),
    ("pack.sample", 3), ("pack.renamed", 1), ("pack.sample", 10), ("pack.recorded", 2),
    ("assemble.started", 1), ("report.started", 1),
)


def test_chain_covers_every_point():
    assert {point for point, _ in CHAIN} == set(POINTS)


@pytest.mark.slow
def test_killed_at_every_point_in_turn_resumes_to_identical_bytes(raw_subset, reference, tmp_path):
    corpus = tmp_path / "corpus"
    for point, n in CHAIN:
        result = cli_build(raw_subset, corpus, "--scheduler", "sync", fault=f"{point}:{n}")
        assert result.returncode == KILLED, f"{point}:{n} was not reached:\n{result.stderr[-2000:]}"
    result = cli_build(raw_subset, corpus, "--scheduler", "sync")
    assert result.returncode == 0, result.stderr[-2000:]
    assert corpus_digest(corpus) == corpus_digest(reference)
    assert [f for f in validate_corpus(corpus)] == []


@pytest.mark.parametrize("fault", ["tile.candidate:5", "pack.sample:4"])
def test_kill_mid_write_then_resume(raw_subset, reference, tmp_path, fault):
    """Mid-scene and mid-shard: the partial temp file is left behind, never mistaken for output."""
    corpus = tmp_path / "corpus"
    killed = cli_build(raw_subset, corpus, "--scheduler", "sync", fault=fault)
    assert killed.returncode == KILLED
    assert list(corpus.glob("staging/*.tmp")) or list(corpus.glob("shards/.*.tmp"))
    check = run_cli("validate", str(corpus))
    assert check.returncode == 1 and "did not finish" in check.stdout
    resumed = cli_build(raw_subset, corpus, "--scheduler", "sync")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert corpus_digest(corpus) == corpus_digest(reference)
    assert not list(corpus.glob("staging/*.tmp")) and not list(corpus.glob("shards/.*.tmp"))
    assert run_cli("validate", str(corpus)).returncode == 0


def test_kill_after_a_finished_build_leaves_it_marked_unfinished(raw_subset, reference, tmp_path):
    """A rerun killed before it rewrote the catalog must not pass for a finished build."""
    corpus = tmp_path / "corpus"
    assert cli_build(raw_subset, corpus, "--scheduler", "sync").returncode == 0
    assert cli_build(raw_subset, corpus, "--scheduler", "sync", fault="assemble.started:1").returncode == KILLED
    assert any("did not finish" in f.message for f in validate_corpus(corpus))
    assert cli_build(raw_subset, corpus, "--scheduler", "sync").returncode == 0
    assert corpus_digest(corpus) == corpus_digest(reference)

"""A Dask worker process SIGKILLed mid-task: the task runs again elsewhere, same bytes."""

from __future__ import annotations

import pytest

from tests.faults.conftest import cli_build, corpus_digest
from workflows.validate import validate_corpus


@pytest.mark.slow
@pytest.mark.parametrize("point", ["tile.candidate:2", "pack.sample:3"])
def test_worker_killed_mid_task_is_retried_to_identical_bytes(raw_subset, reference, tmp_path, point):
    marker = tmp_path / "killed-once"
    corpus = tmp_path / "corpus"
    result = cli_build(raw_subset, corpus, "--workers", "2", fault=f"{point}:{marker}")
    assert marker.exists(), "no worker reached the fault point"
    assert result.returncode == 0, result.stderr[-3000:]
    assert corpus_digest(corpus) == corpus_digest(reference)
    assert validate_corpus(corpus) == []

"""``ringmo validate`` finds each kind of damage and ``--repair`` fixes what is safe to fix."""

from __future__ import annotations

import shutil

import pytest

from tests.faults.conftest import corpus_digest, run_cli
from workflows.validate import repair_corpus, validate_corpus


@pytest.fixture
def corpus(reference, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(reference, copy)
    return copy


def test_a_whole_corpus_is_valid(corpus):
    assert validate_corpus(corpus) == []


def test_one_flipped_byte_in_a_shard_is_found_and_the_cli_exits_nonzero(corpus):
    shard = sorted((corpus / "shards").glob("*.tar"))[0]
    data = bytearray(shard.read_bytes())
    data[2000] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = run_cli("validate", str(corpus))
    assert result.returncode == 1
    assert f"shards/{shard.name}: sha256 does not match the manifest" in result.stdout


def test_missing_catalog_is_rebuilt_byte_identical_from_staging(corpus, reference):
    (corpus / "catalog" / "tiles.parquet").unlink()
    (corpus / "catalog" / "rejected.parquet").unlink()
    assert {f.message for f in validate_corpus(corpus)} == {"missing"}
    result = run_cli("validate", str(corpus), "--repair")
    assert result.returncode == 0 and "rebuilt catalog/tiles.parquet" in result.stdout
    assert corpus_digest(corpus) == corpus_digest(reference)


def test_catalog_is_rebuilt_from_sample_metadata_without_staging(corpus):
    shutil.rmtree(corpus / "staging")
    (corpus / "catalog" / "tiles.parquet").write_bytes(b"not parquet")
    assert any("unreadable" in f.message for f in validate_corpus(corpus))
    assert any("KEY.json" in action for action in repair_corpus(corpus))
    assert validate_corpus(corpus) == []


def test_sample_without_row_and_row_without_sample_are_both_found(corpus):
    import pyarrow.parquet as pq

    table = pq.read_table(corpus / "catalog" / "tiles.parquet")
    pq.write_table(table.slice(1), corpus / "catalog" / "tiles.parquet")  # drop one row
    messages = [f.message for f in validate_corpus(corpus)]
    assert any("has no catalog row" in m for m in messages)
    assert any("staged candidates lack a catalog row" in m for m in messages)


def test_corrupt_shard_repair_removes_it_and_a_rebuild_restores_it(corpus, reference, raw_subset):
    from tests.faults.conftest import cli_build

    shard = sorted((corpus / "shards").glob("*.tar"))[-1]
    shard.write_bytes(shard.read_bytes()[:3000])
    assert any("removed" in action for action in repair_corpus(corpus))
    assert cli_build(raw_subset, corpus, "--scheduler", "sync").returncode == 0
    assert corpus_digest(corpus) == corpus_digest(reference)
    assert validate_corpus(corpus) == []

"""``catalogs.store``: the one "is this local" test and the one atomic writer."""

from __future__ import annotations

import pytest

from catalogs.store import atomic_output, is_local, scheme_of, write_atomic


@pytest.mark.parametrize("url,local", [
    ("corpus/shards/train-000000.tar", True), ("/abs/x.tif", True), ("file:///abs/x.tif", True),
    ("C://data/x.tif", True), ("s3://bucket/key", False), ("HTTPS://host/x.tar", False),
    ("gs://b/k", False), ("pipe:cat x.tar", False),
])
def test_is_local(url, local):
    assert is_local(url) is local


def test_scheme_is_lower_case_and_empty_for_paths():
    assert scheme_of("HTTPS://host/x") == "https" and scheme_of("/x") == "" and scheme_of("C://x") == ""


def test_write_atomic_publishes_whole_files_only(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_atomic(target, "first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_output(target, durable=True) as handle:
        handle.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "first"  # the old file stands, no temp file is left
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"

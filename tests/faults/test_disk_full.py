"""A full disk at write time stops the build with the file named; after space is freed, the
same command resumes to the bytes of an uninterrupted build (and no scene is blamed for it)."""

from __future__ import annotations

import builtins
import errno
import os

import pytest

import catalogs.pagecache
import catalogs.store
from tests.faults.conftest import FLAGS, corpus_digest
from workflows.cli import main
from workflows.validate import validate_corpus


class _FillingFile:
    """A file whose writes fail with ENOSPC once ``budget`` bytes have been written."""

    def __init__(self, handle, budget: int):
        self._handle, self._left = handle, budget

    def write(self, data) -> int:
        if len(data) > self._left:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def _disk_fills_after(budget: int, where: str):
    """``open`` for ``catalogs.store``: files under ``/{where}/`` fill up after ``budget`` bytes."""
    def fake_open(path, mode="r", *args, **kwargs):
        handle = builtins.open(path, mode, *args, **kwargs)
        return _FillingFile(handle, budget) if "w" in mode and f"/{where}/" in str(path) else handle
    return fake_open


def _direct_writes_fill_after(budget: int, where: str):
    """``_pwrite_all`` for ``catalogs.pagecache`` (streamed files written with direct I/O): files
    under ``/{where}/`` fill up after ``budget`` bytes."""
    real, left = catalogs.pagecache._pwrite_all, {}

    def fake_pwrite_all(fd, view, offset):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if f"/{where}/" in path:
            left.setdefault(path, budget)
            if len(view) > left[path]:
                raise OSError(errno.ENOSPC, "No space left on device")
            left[path] -= len(view)
        real(fd, view, offset)
    return fake_pwrite_all


@pytest.mark.parametrize("where", ["staging", "shards"])
def test_full_disk_stops_the_build_naming_the_file_then_resumes(raw_subset, reference, tmp_path,
                                                                 monkeypatch, capsys, where):
    corpus = tmp_path / "corpus"
    argv = ["build", str(raw_subset), str(corpus), *FLAGS, "--quiet", "--scheduler", "sync"]
    monkeypatch.setattr(catalogs.store, "open", _disk_fills_after(30_000, where), raising=False)
    monkeypatch.setattr(catalogs.pagecache, "_pwrite_all", _direct_writes_fill_after(30_000, where))
    assert main(argv) == 1
    message = capsys.readouterr().err
    assert message.startswith("ringmo: error: ") and message.count("\n") == 1 and "Traceback" not in message
    assert "No space left on device" in message and f"{corpus}/{where}/" in message, message
    assert "run the same command again" in message
    assert not list(corpus.glob("staging/*.error.json")), "a full disk must not reject a scene"
    monkeypatch.undo()
    assert main(argv) == 0
    capsys.readouterr()
    assert corpus_digest(corpus) == corpus_digest(reference)
    assert validate_corpus(corpus) == []

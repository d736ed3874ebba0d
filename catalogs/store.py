"""A corpus root on a local disk or behind any fsspec URL (``s3://``, ``gs://``, ``az://``...).

Every file of a build is written with :func:`atomic_output`, so a file that exists is complete
and a rerun may trust it (that is how a killed build resumes):

- on a local disk the bytes go to a temp name in the target's directory, renamed on success;
- on an object store they go to a local temp file uploaded with one ``put`` on success. An
  object store never shows a half-uploaded object, so the guarantee is the same as the rename,
  and a process killed mid-write leaves nothing remote (only an inert local temp file).

Storage failures (full disk, quota, read-only file system) are told apart from bad input: they
are not the scene's fault, so they stop the build with the file named instead of rejecting it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from catalogs.pagecache import streamed as streaming

STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def is_storage_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


@contextmanager
def naming_write_errors(path):
    """Re-raise a storage error that names no file (ENOSPC from ``write``) with ``path`` in it."""
    try:
        yield
    except OSError as exc:
        if not is_storage_error(exc) or exc.filename is not None:
            raise
        raise OSError(exc.errno, f"{exc.strerror} while writing", str(path)) from exc


def scheme_of(url: str | os.PathLike) -> str:
    """The lower-case URL scheme, or "" for a local path (a Windows drive letter is no scheme)."""
    text = str(url)
    if "://" not in text:
        return ""
    scheme = text.split("://", 1)[0].lower()
    return "" if len(scheme) == 1 else scheme


def is_local(url: str | os.PathLike) -> bool:
    """A path on this machine: a plain path or ``file://`` (not a URL, not a ``pipe:`` command).

    The one test of "is this local" in the project: every module asks it here.
    """
    return scheme_of(url) in ("", "file") and not str(url).startswith("pipe:")


def local_path(url: str | os.PathLike) -> Path:
    text = str(url)
    return Path(text[len("file://"):] if text.startswith("file://") else text)


def join(root: str | os.PathLike, relative: str) -> str:
    """``root/relative`` for paths and URLs alike."""
    return f"{str(root).rstrip('/')}/{relative}"


@contextmanager
def atomic_output(target: str | os.PathLike, *, durable: bool = False,
                  streamed: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``target`` through; published only if the block succeeds.

    The one way this project writes a file (see the module docstring). ``durable`` flushes the
    bytes to the disk before the rename, for files whose loss a power cut must not cause
    (training checkpoints); build outputs skip it, a rerun rewrites what a crash lost.
    ``streamed`` is for large files written once (staging blobs, shards): they skip the page
    cache, or it keeps only their last windows (:func:`catalogs.pagecache.streamed`).
    """
    if is_local(target):
        path = local_path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one writer per process
        try:
            with naming_write_errors(tmp), open(tmp, "wb") as handle:
                if streamed:
                    with streaming(handle) as writer:
                        yield writer
                else:
                    yield handle
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return
    fs, remote = fsspec.core.url_to_fs(str(target))
    fd, tmp = tempfile.mkstemp(prefix="ringmo-upload-", suffix=".part")
    try:
        with naming_write_errors(tmp), os.fdopen(fd, "wb") as handle:
            if streamed:
                with streaming(handle) as writer:
                    yield writer
            else:
                yield handle
        try:
            fs.put_file(tmp, remote)
        except Exception as exc:  # noqa: BLE001 - any client error becomes a named OSError
            raise OSError(f"{target}: upload failed: {type(exc).__name__}: {exc}") from exc
    finally:
        os.unlink(tmp)


def write_atomic(target: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``target`` through :func:`atomic_output`."""
    with atomic_output(target) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def read_parquet_file(handle: BinaryIO, columns: list[str] | None = None,
                      row_groups: Callable[[pq.FileMetaData], list[int]] | None = None) -> pa.Table:
    """Read Parquet from a Python file object on the calling thread only.

    Arrow's threaded and pre-buffered reads hand the Python file (and buffers wrapping Python
    bytes) to its own threads, which may drop the last reference during interpreter exit and
    abort the process ("terminate called without an active exception": about 1 run in 4 of a
    CLI reading a catalog from S3, apache/arrow#39162). Reading here keeps every Python object
    on this thread; for catalog-sized files the lost parallelism is negligible. ``row_groups``
    picks the row groups to read from the file's metadata (all when None). Asked-for columns
    the file lacks are left out (older catalogs lack newer optional columns).
    """
    parquet = pq.ParquetFile(handle, pre_buffer=False)
    if columns is not None:
        columns = [c for c in columns if c in parquet.schema_arrow.names]
    if row_groups is None:
        return parquet.read(columns=columns, use_threads=False)
    return parquet.read_row_groups(row_groups(parquet.metadata), columns=columns, use_threads=False)


class Store:
    """Files under one root, addressed by paths relative to it (``"shards/train-000000.tar"``).

    Picklable (it holds the root string only), so Dask tasks carry it to workers, which open
    their own client to the store.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = str(root).rstrip("/") or "/"
        self.local = is_local(self.root)
        self._fs = None

    def __getstate__(self) -> dict:
        return {"root": self.root, "local": self.local, "_fs": None}

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    @property
    def fs(self):
        """The store's fsspec filesystem, without a listings cache: other processes (workers,
        a resumed run) change the store under us, and a stale listing would hide their files."""
        if self._fs is None:
            self._fs = fsspec.core.url_to_fs(self.root, use_listings_cache=False)[0]
        return self._fs

    def url(self, rel: str) -> str:
        """The full path (local) or URL (remote) of ``rel``."""
        return str(local_path(self.root) / rel) if self.local else join(self.root, rel)

    def _remote(self, rel: str) -> str:
        return fsspec.core.url_to_fs(join(self.root, rel))[1]

    def exists(self, rel: str) -> bool:
        return Path(self.url(rel)).exists() if self.local else self.fs.exists(self._remote(rel))

    def size(self, rel: str) -> int:
        return Path(self.url(rel)).stat().st_size if self.local else int(self.fs.size(self._remote(rel)))

    def open(self, rel: str) -> BinaryIO:
        """A seekable binary reader (remote reads are ranged GETs)."""
        return open(self.url(rel), "rb") if self.local else self.fs.open(self._remote(rel), "rb")

    def read_bytes(self, rel: str) -> bytes:
        return Path(self.url(rel)).read_bytes() if self.local else self.fs.cat_file(self._remote(rel))

    def read_range(self, rel: str, offset: int, size: int) -> bytes:
        if not self.local:
            return self.fs.cat_file(self._remote(rel), start=offset, end=offset + size)
        with open(self.url(rel), "rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    def read_ranges(self, ranges: list[tuple[str, int, int]]) -> list[bytes]:
        """The bytes of many ``(rel, offset, size)`` ranges (concurrent on async stores)."""
        if self.local:
            return [self.read_range(*r) for r in ranges]
        paths = [self._remote(rel) for rel, _, _ in ranges]
        starts = [offset for _, offset, _ in ranges]
        ends = [offset + size for _, offset, size in ranges]
        return self.fs.cat_ranges(paths, starts, ends)

    def writing(self, rel: str, *, streamed: bool = False):
        """``atomic_output`` for ``rel``."""
        return atomic_output(self.url(rel), streamed=streamed)

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.writing(rel) as handle:
            handle.write(data)

    def read_json(self, rel: str):
        return json.loads(self.read_bytes(rel))

    def write_json(self, rel: str, obj) -> None:
        self.write_bytes(rel, json.dumps(obj, sort_keys=True, default=str).encode())

    def read_parquet(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        if self.local:
            return pq.read_table(self.url(rel), columns=columns)
        with self.open(rel) as handle:
            return read_parquet_file(handle, columns=columns)

    def glob(self, pattern: str) -> list[str]:
        """Relative names matching ``pattern`` (``"shards/*.tar"``), sorted."""
        if self.local:
            root = local_path(self.root)
            return sorted(str(p.relative_to(root)) for p in root.glob(pattern))
        prefix = self._remote("")
        return sorted(p[len(prefix):].lstrip("/") for p in self.fs.glob(self._remote(pattern)))

    def remove_tree(self, rel: str) -> None:
        """Delete the directory (or prefix) ``rel`` and everything under it, if it exists."""
        if self.local:
            shutil.rmtree(self.url(rel), ignore_errors=True)
        elif self.fs.exists(self._remote(rel)):
            self.fs.rm(self._remote(rel), recursive=True)

    def remove(self, rel: str) -> None:
        """Delete ``rel`` if it exists."""
        if self.local:
            Path(self.url(rel)).unlink(missing_ok=True)
        elif self.fs.exists(self._remote(rel)):
            self.fs.rm_file(self._remote(rel))

"""Streamed writes and once-only reads: same bytes as plain I/O, and the page cache let go."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import sys
import threading

import numpy as np
import pytest

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from catalogs import pagecache
from catalogs.pagecache import WriteBehind, read_once
from catalogs.store import atomic_output

PAGE = mmap.PAGESIZE


def _resident_pages(path) -> int:
    """Pages of ``path`` in the page cache (``mincore`` on a private mapping of it)."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY)
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapped))  # the view is freed at once
        vector = (ctypes.c_ubyte * ((size + PAGE - 1) // PAGE))()
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) == 0
        return sum(v & 1 for v in vector)
    finally:
        mapped.close()


@pytest.fixture
def droppable(tmp_path):
    """Skip where the kernel cannot drop this file system's pages (tmpfs, non-Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("mincore and page-cache advice are Linux calls")
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(64 * PAGE))
    fd = os.open(probe, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if _resident_pages(probe) > 0:
        pytest.skip("this file system keeps its pages (tmpfs?)")
    return tmp_path


def _chunks(seed: int, count: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, int(rng.integers(1, 50_000)), dtype=np.uint8).tobytes() for _ in range(count)]


def test_write_behind_writes_the_same_bytes_and_tells_positions(tmp_path):
    chunks = _chunks(0, 60)
    with open(tmp_path / "streamed", "wb") as handle:
        writer = WriteBehind(handle, window=64 * 1024)
        for chunk in chunks:
            assert writer.write(chunk) == len(chunk)
        assert writer.tell() == sum(map(len, chunks))
    assert (tmp_path / "streamed").read_bytes() == b"".join(chunks)


def test_write_behind_writes_plainly_where_it_cannot_stream():
    """A pipe takes no writeback or advice: the bytes still go through, nothing is raised."""
    read_end, write_end = os.pipe()
    received = []
    reader = threading.Thread(target=lambda: received.append(os.fdopen(read_end, "rb").read()))
    reader.start()
    data = os.urandom(1_000_000)
    with os.fdopen(write_end, "wb") as handle:
        writer = WriteBehind(handle, window=64 * 1024)
        for start in range(0, len(data), 100_000):
            writer.write(data[start:start + 100_000])
    reader.join()
    assert received == [data]


def test_write_behind_lets_go_of_written_windows(droppable):
    path, window = droppable / "streamed", 256 * 1024
    data = os.urandom(32 * window)
    with open(path, "wb") as handle:
        writer = WriteBehind(handle, window=window)
        for start in range(0, len(data), 50_000):
            writer.write(data[start:start + 50_000])
    # all but the last two or three windows are back with the kernel
    assert _resident_pages(path) * PAGE <= 3 * window + 50_000
    assert path.read_bytes() == data


def test_streamed_atomic_output_publishes_the_same_file(tmp_path):
    chunks = _chunks(1, 40)
    with atomic_output(tmp_path / "a.bin", streamed=True) as handle:
        for chunk in chunks:
            handle.write(chunk)
    assert (tmp_path / "a.bin").read_bytes() == b"".join(chunks)
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_read_once_returns_ranges_in_order_and_short_past_the_end(tmp_path):
    files = {name: os.urandom(300_000) for name in ("a", "b")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    rng = np.random.default_rng(2)
    ranges = []
    for _ in range(50):
        name = str(rng.choice(list(files)))
        offset = int(rng.integers(0, 290_000))
        ranges.append((str(tmp_path / name), offset, int(rng.integers(1, 10_000))))
    ranges.append((str(tmp_path / "a"), 299_000, 5_000))  # runs past the end
    got = list(read_once(ranges, ahead=3))
    want = [files[os.path.basename(p)][o:o + s] for p, o, s in ranges]
    assert got == want
    assert len(got[-1]) == 1_000


def test_read_once_lets_go_of_what_it_read(droppable):
    path = droppable / "staged"
    data = os.urandom(256 * PAGE)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    assert _resident_pages(path) > 200  # just written: cached
    # samples of uneven sizes that share pages (and the kernel's larger folios), read shuffled
    bounds = np.r_[0, np.sort(np.random.default_rng(3).choice(len(data), 15, replace=False)), len(data)]
    order = np.random.default_rng(4).permutation(16)
    ranges = [(str(path), int(bounds[i]), int(bounds[i + 1] - bounds[i])) for i in order]
    chunks = dict(zip(order, read_once(ranges)))
    assert b"".join(chunks[i] for i in range(16)) == data
    assert _resident_pages(path) == 0


# ------------------------------------------------------------------------------ direct I/O

needs_direct = pytest.mark.skipif(not pagecache._O_DIRECT, reason="no O_DIRECT on this platform")


@pytest.fixture
def direct(tmp_path, monkeypatch):
    """Small buffers (so a test crosses many), and a file system that takes direct I/O."""
    monkeypatch.setattr(pagecache, "BUFFER", 64 * 1024)
    monkeypatch.setattr(pagecache, "_BUFFERS", pagecache._Buffers())
    with open(tmp_path / "probe", "wb") as handle:
        if pagecache.DirectWriter.over(handle) is None:
            pytest.skip("this file system takes no direct I/O")
    return tmp_path


@needs_direct
def test_direct_writer_writes_the_same_bytes_across_buffers_and_tells_positions(direct):
    chunks = _chunks(5, 80) + [b"", os.urandom(200_000)]  # the last write spans several buffers
    position = 0
    with open(direct / "out", "wb") as handle:
        writer = pagecache.DirectWriter.over(handle)
        for chunk in chunks:
            assert writer.write(chunk) == len(chunk)
            position += len(chunk)
            assert writer.tell() == position
        writer.finish()
    assert (direct / "out").read_bytes() == b"".join(chunks)


@needs_direct
def test_direct_writer_small_file_and_empty_file(direct):
    for name, data in (("small", b"abc"), ("empty", b"")):
        with atomic_output(direct / name, streamed=True) as handle:
            assert isinstance(handle, pagecache.DirectWriter)
            handle.write(data)
        assert (direct / name).read_bytes() == data


@needs_direct
def test_direct_writes_leave_nothing_cached(direct, droppable):
    data = os.urandom(40 * 64 * 1024 + 123)
    with atomic_output(direct / "out", streamed=True) as handle:
        for start in range(0, len(data), 70_000):
            handle.write(data[start:start + 70_000])
    assert _resident_pages(direct / "out") == 0
    ranges = [(str(direct / "out"), start, 70_000) for start in range(0, len(data), 70_000)]
    assert b"".join(read_once(ranges)) == data
    assert _resident_pages(direct / "out") == 0


@needs_direct
def test_a_failed_background_write_is_raised_naming_the_file_and_publishes_nothing(direct, monkeypatch):
    calls = []

    def full_disk(fd, view, offset):
        calls.append(offset)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        os.pwrite(fd, view, offset)

    monkeypatch.setattr(pagecache, "_pwrite_all", full_disk)
    with pytest.raises(OSError, match="No space left") as caught:
        with atomic_output(direct / "out", streamed=True) as handle:
            for _ in range(20):
                handle.write(os.urandom(64 * 1024))
    assert caught.value.errno == errno.ENOSPC and ".out." in str(caught.value.filename)
    assert list(direct.iterdir()) == [direct / "probe"]


@needs_direct
def test_an_error_in_the_block_stops_the_writer_and_publishes_nothing(direct):
    threads = threading.active_count()
    with pytest.raises(ValueError):
        with atomic_output(direct / "out", streamed=True) as handle:
            handle.write(os.urandom(300 * 1024))
            raise ValueError("caller failed")
    assert list(direct.iterdir()) == [direct / "probe"]
    assert threading.active_count() == threads


@needs_direct
def test_a_refused_direct_write_goes_through_the_cache(direct, monkeypatch):
    """A file system stricter than ALIGN answers EINVAL: the write is retried without O_DIRECT."""
    real = os.pwrite
    refused = []

    def strict(fd, view, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & pagecache._O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, view, offset)

    monkeypatch.setattr(pagecache.os, "pwrite", strict)
    data = os.urandom(5 * 64 * 1024 + 7)
    with atomic_output(direct / "out", streamed=True) as handle:
        handle.write(data)
    assert refused == [0] and (direct / "out").read_bytes() == data


def test_without_direct_io_streamed_writes_go_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(pagecache, "_O_DIRECT", 0)
    data = os.urandom(100_000)
    with atomic_output(tmp_path / "out", streamed=True) as handle:
        assert isinstance(handle, WriteBehind)
        handle.write(data)
    assert (tmp_path / "out").read_bytes() == data
    ranges = [(str(tmp_path / "out"), 10, 50), (str(tmp_path / "out"), 99_990, 50)]
    assert list(read_once(ranges)) == [data[10:60], data[99_990:]]


def test_direct_spans_join_neighbours_and_split_elsewhere(monkeypatch):
    monkeypatch.setattr(pagecache, "BUFFER", 64 * 1024)
    a, b = "a", "b"
    ranges = [(a, 100, 1000), (a, 1100, 5000),  # follow on: one span
              (a, 6100 + 5000, 100),  # a small gap: same span
              (a, 6100 + 5000 + 100 + 2**20 + 1, 10),  # past the gap limit: a new span
              (b, 0, 10),  # another file
              (b, 0, 10),  # backwards
              (b, 10, 200_000)]  # longer than a buffer: its own span
    spans = pagecache.direct_spans(ranges)
    assert [(p, start, count) for p, start, _, count in spans] == [
        (a, 0, 3), (a, (6100 + 5000 + 100 + 2**20 + 1) // 4096 * 4096, 1), (b, 0, 1), (b, 0, 1), (b, 0, 1)]
    for path, start, length, _ in spans:
        assert start % 4096 == 0 and length % 4096 == 0
    assert spans[0][2] == 12288 and spans[-1][2] == 200_704

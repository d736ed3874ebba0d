"""Stream large files through the page cache without keeping them there.

A build writes every kept sample twice (its scene's staging blob, then its shard) and reads the
staging back once: bytes written once and read at most once more. Left to the kernel, all of
them stay cached. A 2·10⁶-tile build pushes ~1.6 TB through a cache that holds a small part of
it and evicts everything else first. On virtual machines whose host backs guest memory only when
it is first touched and takes freed memory back (free-page reporting: Firecracker, many cloud
VMs), every cached page is new memory the host must fault in: ~3 s per GiB on the benchmark
machine (BENCHMARKS.md, "seconds to touch 1 GiB"), ~0.3 s on bare metal. A 4-band build of 2048
tiles spent 26 s of its 64 s there.

Streaming keeps a few windows of each file cached and drops the rest once the disk has it. The
freed pages are reused at once by the next window, so a build touches the same tens of MiB
again and again instead of gigabytes of new memory:

- :class:`WriteBehind` wraps a file being written: every :data:`WINDOW` bytes it starts the
  window's writeback (``sync_file_range``), waits for the window before it and drops that one
  (``posix_fadvise(DONTNEED)``, which only drops clean pages: nothing unwritten is lost);
- :func:`read_once` reads ``(path, offset, size)`` ranges in the caller's order, asks the
  kernel for the next few ahead (``WILLNEED``, so the disk works while the caller does) and
  drops what has been read. The kernel caches files in folios of up to a few MiB and drops
  only folios wholly inside the range it is given, so a folio shared by two samples goes when
  both are read: each drop covers the whole run of read bytes around the range.

Both only advise the kernel. Where these calls do not exist (macOS, Windows) they are plain
writes and reads; the bytes are the same everywhere.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO

#: Bytes between two writeback requests of a :class:`WriteBehind` (two windows stay cached).
WINDOW = 32 * 2**20
#: Ranges :func:`read_once` asks the kernel to read ahead of the one being returned.
READ_AHEAD = 8

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4  # SYNC_FILE_RANGE_* of <fcntl.h>
#: Answers of a file that cannot be streamed (a pipe, a file system without the call): it is
#: then written plainly. Any other failure (a full disk, an I/O error) is the write's own.
_UNSTREAMABLE = frozenset({errno.ESPIPE, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})
_FADVISE = getattr(os, "posix_fadvise", None)


def _libc_sync_file_range():
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError, TypeError):  # not Linux (Windows: no CDLL(None))
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _libc_sync_file_range()


def _advise(fd: int, offset: int, size: int, advice_name: str) -> None:
    """Advice only: a file that takes none (a pipe) is read and written all the same."""
    if _FADVISE is None or size <= 0:
        return
    try:
        _FADVISE(fd, offset, size, getattr(os, advice_name))
    except OSError as exc:
        if exc.errno not in _UNSTREAMABLE:
            raise


class WriteBehind:
    """A write-only view of an open local file that hands written windows back to the kernel.

    Only ``write`` is intercepted; everything else (``tell``, ``flush``, ``fileno``...) is the
    wrapped file's. The file must be written from its start, sequentially (how staging blobs and
    shards are written). A failed writeback (a full disk) raises the ``OSError`` here, where
    the caller's write would have met it; a file that cannot be streamed is written plainly.
    """

    def __init__(self, handle: BinaryIO, window: int = WINDOW):
        self._handle, self._fd, self._window = handle, handle.fileno(), window
        self._written = self._started = self._dropped = 0
        self._streaming = _SYNC_FILE_RANGE is not None

    def write(self, data) -> int:
        count = self._handle.write(data)
        self._written += len(data) if count is None else count
        if self._streaming and self._written - self._started >= self._window:
            try:
                self._hand_back()
            except OSError as exc:
                if exc.errno not in _UNSTREAMABLE:
                    raise
                self._streaming = False
        return count

    def _hand_back(self) -> None:
        self._handle.flush()
        self._sync(self._started, self._written, _WRITE)  # start this window's writeback
        if self._started > self._dropped:  # the window before: wait until on disk, then drop
            self._sync(self._dropped, self._started, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
            _advise(self._fd, self._dropped, self._started - self._dropped, "POSIX_FADV_DONTNEED")
            self._dropped = self._started
        self._started = self._written

    def _sync(self, start: int, end: int, flags: int) -> None:
        if _SYNC_FILE_RANGE(self._fd, start, end - start, flags) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    def __getattr__(self, name):
        return getattr(self._handle, name)


def read_once(ranges: Sequence[tuple[str, int, int]], ahead: int = READ_AHEAD) -> Iterator[bytes]:
    """The bytes of each local ``(path, offset, size)`` range, in order, dropped from the cache
    after use. A range past the end of its file comes back short (the caller names the file)."""
    fds: dict[str, int] = {}
    consumed: dict[str, _Runs] = {}

    def opened(path: str) -> int:
        if path not in fds:
            fds[path], consumed[path] = os.open(path, os.O_RDONLY), _Runs()
        return fds[path]

    try:
        for path, offset, size in ranges[:ahead]:
            _advise(opened(path), offset, size, "POSIX_FADV_WILLNEED")
        for index, (path, offset, size) in enumerate(ranges):
            if index + ahead < len(ranges):
                next_path, next_offset, next_size = ranges[index + ahead]
                _advise(opened(next_path), next_offset, next_size, "POSIX_FADV_WILLNEED")
            fd = opened(path)
            data = os.pread(fd, size, offset)
            start, end = consumed[path].add(offset, offset + size)
            _advise(fd, start, end - start, "POSIX_FADV_DONTNEED")
            yield data
    finally:
        for fd in fds.values():
            os.close(fd)


class _Runs:
    """The read byte ranges of one file, merged where they touch (staged samples do)."""

    def __init__(self):
        self._end_of: dict[int, int] = {}  # run start -> run end
        self._start_of: dict[int, int] = {}  # run end -> run start

    def add(self, start: int, end: int) -> tuple[int, int]:
        """Record ``[start, end)``; return the run that now holds it."""
        if end in self._end_of:
            end = self._end_of.pop(end)
            del self._start_of[end]
        if start in self._start_of:
            start = self._start_of.pop(start)
            del self._end_of[start]
        self._end_of[start], self._start_of[end] = end, start
        return start, end

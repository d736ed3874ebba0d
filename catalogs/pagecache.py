"""Stream large files past the page cache instead of through it.

A build writes every kept sample twice (its scene's staging blob, then its shard) and reads the
staging back once: bytes written once and read at most once more. Left to the kernel, all of
them stay cached. A 2·10⁶-tile build pushes ~1.6 TB through a cache that holds a small part of
it and evicts everything else first. On virtual machines whose host backs guest memory only when
it is first touched and takes freed memory back (free-page reporting: Firecracker, many cloud
VMs), every cached page is new memory the host must fault in: ~3 s per GiB on the benchmark
machine (BENCHMARKS.md, "seconds to touch 1 GiB"), ~0.3 s on bare metal. A 4-band build of 2048
tiles spent 26 s of its 64 s there.

Where the file system takes direct I/O (Linux ``O_DIRECT``: ext4, XFS, btrfs, tmpfs since 6.6),
the bytes skip the cache altogether (the benchmark machine: 2 GB written in 1.0 s and 0.2
CPU-seconds, against 1.7 s and 0.9 through the cache):

- :class:`DirectWriter` copies what it is given into a few reused, page-aligned buffers of
  :data:`BUFFER` bytes and a thread writes each full one at its place in the file while the
  caller goes on; the tail is written padded to the block size and the file cut back to length;
- :func:`read_once` reads the caller's ``(path, offset, size)`` ranges in aligned spans of up
  to :data:`BUFFER` bytes (neighbouring ranges share one read), a thread reading ahead.

Elsewhere both go through the cache and hand it back as they go:

- :class:`WriteBehind` wraps a file being written: every :data:`WINDOW` bytes it starts the
  window's writeback (``sync_file_range``), waits for the window before it and drops that one
  (``posix_fadvise(DONTNEED)``, which only drops clean pages: nothing unwritten is lost);
- :func:`read_once` asks the kernel for the next few ranges ahead (``WILLNEED``) and drops what
  has been read. The kernel caches files in folios of up to a few MiB and drops only folios
  wholly inside the range it is given, so a folio shared by two samples goes when both are
  read: each drop covers the whole run of read bytes around the range.

Where none of these calls exist (macOS, Windows) they are plain writes and reads; the bytes
are the same everywhere.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Bytes between two writeback requests of a :class:`WriteBehind` (two windows stay cached).
WINDOW = 32 * 2**20
#: Ranges :func:`read_once` asks the kernel to read ahead of the one being returned (through the
#: cache; direct reads go :data:`SPANS_AHEAD` spans ahead).
READ_AHEAD = 8
#: Bytes of one direct-I/O buffer: a write or read of this size keeps a disk streaming.
BUFFER = 8 * 2**20
#: Direct I/O moves whole blocks at aligned offsets: 4096 covers 512-byte and 4K-sector disks.
ALIGN = 4096
#: Full buffers a :class:`DirectWriter` may have waiting for its thread.
WRITE_DEPTH = 2
#: Spans (up to :data:`BUFFER` bytes each) the thread of a direct :func:`read_once` reads ahead.
SPANS_AHEAD = 2
_O_DIRECT = getattr(os, "O_DIRECT", 0)

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
    """The bytes of each local ``(path, offset, size)`` range, in order, read past the page cache
    (direct I/O) or dropped from it after use. A range past the end of its file comes back short
    (the caller names the file)."""
    if _O_DIRECT and ranges:
        return _read_direct(ranges)
    return _read_advised(ranges, ahead)


def _read_advised(ranges: Sequence[tuple[str, int, int]], ahead: int) -> Iterator[bytes]:
    """:func:`read_once` through the page cache: ``ahead`` ranges asked for, each run of read
    bytes dropped."""
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
            consumed[path].drop(fd, offset, offset + size)
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

    def drop(self, fd: int, start: int, end: int) -> None:
        """Record ``[start, end)`` of ``fd`` as read and drop the whole run holding it from the
        cache (folios shared with neighbours go once those are read too)."""
        low, high = self.add(start, end)
        _advise(fd, low, high - low, "POSIX_FADV_DONTNEED")


# ------------------------------------------------------------------------------ direct I/O


class _Buffers:
    """Page-aligned buffers of :data:`BUFFER` bytes, reused across files: each is new memory
    once per process (the cost this module avoids), then only rewritten."""

    def __init__(self, keep: int = 8):
        self._free: list[mmap.mmap] = []
        self._keep, self._lock = keep, threading.Lock()

    def take(self, size: int = 0) -> mmap.mmap:
        """A buffer of at least ``size`` bytes (:data:`BUFFER` when smaller)."""
        if size <= BUFFER:
            with self._lock:
                if self._free:
                    return self._free.pop()
            size = BUFFER
        return mmap.mmap(-1, size)  # anonymous mappings start page-aligned

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(buffer) == BUFFER and len(self._free) < self._keep:
                self._free.append(buffer)
                return
        buffer.close()


_BUFFERS = _Buffers()


def _round_up(count: int) -> int:
    return -(-count // ALIGN) * ALIGN


def _set_direct(fd: int, on: bool) -> bool:
    """Switch direct I/O on or off for an open file; ``False`` where the file system (or the
    platform) takes none."""
    if not _O_DIRECT or fcntl is None:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT if on else flags & ~_O_DIRECT)
    except OSError:
        return False
    return True


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    """Write all of ``view`` at ``offset``; a file system that refuses an aligned direct write
    (EINVAL: stricter alignment than :data:`ALIGN`) gets this and every later write through
    the cache."""
    while len(view):
        try:
            written = os.pwrite(fd, view, offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL or not _set_direct(fd, False):
                raise
            continue
        view, offset = view[written:], offset + written


class DirectWriter:
    """A write-only, sequential file that skips the page cache (see the module docstring).

    ``write`` copies into the current buffer; each full buffer goes to a thread that writes it
    at its offset while the caller fills the next (at most :data:`WRITE_DEPTH` wait). A write
    error of the thread (a full disk) is raised by the next ``write`` or by :meth:`finish`.
    Use :func:`streamed` rather than building one: it falls back where direct I/O is refused.
    """

    def __init__(self, fd: int):
        self._fd, self._position, self._queued = fd, 0, 0
        self._buffer = _BUFFERS.take()
        self._view, self._fill = memoryview(self._buffer), 0
        self._thread: threading.Thread | None = None
        self._full: queue.Queue = queue.Queue(WRITE_DEPTH)
        self._spare: queue.Queue = queue.Queue()
        self._in_flight, self._error, self._abandoned = 0, None, False

    @classmethod
    def over(cls, handle: BinaryIO) -> DirectWriter | None:
        """A writer on ``handle``'s file, which must be empty so far; ``None`` where its file
        system (or this platform) takes no direct I/O."""
        handle.flush()
        fd = handle.fileno()
        if handle.tell() != 0 or not _set_direct(fd, True):
            return None
        return cls(fd)

    def write(self, data) -> int:
        source = memoryview(data).cast("B")
        count, start = len(source), 0
        while start < count:
            take = min(count - start, BUFFER - self._fill)
            self._view[self._fill:self._fill + take] = source[start:start + take]
            self._fill += take
            start += take
            if self._fill == BUFFER:
                self._hand_over(BUFFER)
        self._position += count
        return count

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing to do: full buffers are on their way, :meth:`finish` writes the tail."""

    def finish(self) -> None:
        """Write the tail (padded to a block, then cut back), wait for the thread, and return the
        file to plain I/O at its full length."""
        try:
            tail = self._fill
            if tail:
                padded = _round_up(tail)
                self._view[tail:padded] = bytes(padded - tail)
                if self._thread is None:  # a small file: no thread was ever needed
                    _pwrite_all(self._fd, self._view[:padded], self._queued)
                else:
                    self._hand_over(padded)
            self._stop()
            self._raise_error()
            os.ftruncate(self._fd, self._position)
        finally:
            self._stop()  # when a write error was raised before the thread was told to stop
            self._release()
            _set_direct(self._fd, False)

    def abandon(self) -> None:
        """Stop after an error of the caller: nothing more is written."""
        self._abandoned = True
        try:
            self._stop()
        finally:
            self._release()

    def _hand_over(self, count: int) -> None:
        self._raise_error()
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="direct-writer", daemon=True)
            self._thread.start()
        self._view.release()
        self._full.put((self._buffer, self._queued, count))
        self._in_flight += 1
        self._queued += count
        if self._in_flight <= WRITE_DEPTH:
            self._buffer = _BUFFERS.take()
        else:  # wait for the thread to give one back
            self._buffer = self._spare.get()
            self._in_flight -= 1
        self._view, self._fill = memoryview(self._buffer), 0

    def _drain(self) -> None:
        while (item := self._full.get()) is not None:
            buffer, offset, count = item
            if self._error is None and not self._abandoned:
                try:
                    with memoryview(buffer) as view:
                        _pwrite_all(self._fd, view[:count], offset)
                except Exception as exc:  # noqa: BLE001 - raised in the caller's thread
                    self._error = exc
            self._spare.put(buffer)

    def _stop(self) -> None:
        if self._thread is not None:
            self._full.put(None)
            self._thread.join()
            self._thread = None

    def _raise_error(self) -> None:
        if self._error is not None:  # kept: the thread writes nothing more after it
            raise self._error

    def _release(self) -> None:
        self._view.release()
        _BUFFERS.give(self._buffer)
        while not self._spare.empty():
            _BUFFERS.give(self._spare.get())


@contextmanager
def streamed(handle: BinaryIO) -> Iterator[DirectWriter | WriteBehind]:
    """Write a large, new file through ``handle`` without keeping it in the page cache: direct
    I/O where the file system takes it, :class:`WriteBehind` elsewhere. On an exception in the
    block nothing more is written (the caller discards the file)."""
    writer = DirectWriter.over(handle)
    if writer is None:
        yield WriteBehind(handle)
        return
    try:
        yield writer
    except BaseException:
        writer.abandon()
        raise
    writer.finish()


def direct_spans(ranges: Sequence[tuple[str, int, int]], gap: int = 2**20) -> list[tuple[str, int, int, int]]:
    """``(path, start, length, ranges)``: aligned reads covering ``ranges`` in order, each taking
    the consecutive ranges of one file that follow on (up to ``gap`` bytes skipped between two)
    and fit in :data:`BUFFER` bytes; a longer range gets a read of its own."""
    spans: list[list] = []
    end = 0
    for path, offset, size in ranges:
        span = spans[-1] if spans else None
        if span is None or path != span[0] or not end <= offset <= end + gap \
                or _round_up(offset + size) - span[1] > BUFFER:
            span = [path, offset // ALIGN * ALIGN, 0, 0]
            spans.append(span)
        span[2] = max(span[2], _round_up(offset + size) - span[1])
        span[3] += 1
        end = offset + size
    return [tuple(span) for span in spans]


def _read_direct(ranges: Sequence[tuple[str, int, int]]) -> Iterator[bytes]:
    """:func:`read_once` with direct I/O: a thread reads the spans of :func:`direct_spans` into
    reused aligned buffers, up to :data:`SPANS_AHEAD` of them ahead of the caller."""
    spans = direct_spans(ranges)
    filled: queue.Queue = queue.Queue(SPANS_AHEAD)
    stop = threading.Event()
    fds: dict[str, int] = {}

    def opened(path: str) -> int:
        if path not in fds:
            fd = os.open(path, os.O_RDONLY)
            _set_direct(fd, True)  # a file system that takes no direct I/O is read through the cache
            fds[path] = fd
        return fds[path]

    def read_spans() -> None:
        consumed: dict[str, _Runs] = {}
        index = 0
        try:
            for path, start, length, count in spans:
                if stop.is_set():
                    return
                buffer = _BUFFERS.take(length)
                fd = opened(path)
                with memoryview(buffer) as view:
                    got = _pread_into(fd, view[:length], start)
                for _, offset, size in ranges[index:index + count]:  # pages cached by a plain write
                    consumed.setdefault(path, _Runs()).drop(fd, offset, offset + size)
                index += count
                filled.put((buffer, got))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            filled.put(exc)

    reader = threading.Thread(target=read_spans, name="direct-reader", daemon=True)
    reader.start()
    try:
        index = 0
        for _, start, _, count in spans:
            item = filled.get()
            if isinstance(item, BaseException):
                raise item
            buffer, got = item
            try:
                with memoryview(buffer) as view:
                    for path, offset, size in ranges[index:index + count]:
                        low = offset - start
                        yield bytes(view[low:max(low, min(low + size, got))])
            finally:
                _BUFFERS.give(buffer)
            index += count
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting for room, then let it see the stop
            try:
                item = filled.get(timeout=0.05)
            except queue.Empty:
                continue
            if not isinstance(item, BaseException):
                _BUFFERS.give(item[0])
        for fd in fds.values():
            os.close(fd)


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset`` until it is full or the file ends; the bytes read. A file
    system that refuses an aligned direct read gets this and later reads through the cache."""
    got = 0
    while got < len(view):
        try:
            count = os.preadv(fd, [view[got:]], offset + got)
        except OSError as exc:
            if exc.errno != errno.EINVAL or not _set_direct(fd, False):
                raise
            continue
        got += count
        if count == 0 or count % ALIGN:  # the end of the file
            break
    return got

"""The sample tar format of shards: how samples are written and read back, in one place.

This is the contract between the producer (``pipeline.shards``) and every reader (the trainer's
decoder and header scan, ``ringmo validate``, the report's thumbnails). A shard is a tar of
members named ``KEY.EXT``; the members of one sample are consecutive and share their ``KEY``
(webdataset's rule: the key runs to the first dot of the file name, see :func:`split_key`). A
sample's span ``(offset, size)`` runs from the first header of its first member (GNU long-name
and pax headers included) to the end of its last member's padding: what the catalog records
and what a reader fetches as a *fragment*.

Writing goes through :class:`SampleTarWriter`: fixed headers (mtime 0, root owner with empty
names, mode 0444, ustar) so the same samples give byte-identical shards. Reading parses the
512-byte headers directly (ustar, GNU long names, pax paths): a few microseconds per sample,
zero-copy on a memory-mapped fragment, and headers only where the stream can seek.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from catalogs.errors import SampleError

BLOCK = 512
_ZERO_BLOCK = b"\0" * BLOCK
_REGULAR = (b"0", b"\0", b"7")  # regular file kinds; every other kind is passed over
_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")  # webdataset's key/extension split


def member_name(key: str, ext: str) -> str:
    """The tar member name of a sample's ``ext`` member: ``KEY.EXT``."""
    return f"{key}.{ext}"


def split_key(name: str) -> tuple[str, str]:
    """``("dir/KEY", "ext")`` as webdataset splits a member name (extension lower-cased)."""
    match = _KEY_EXT.match(name)
    if not match:
        raise SampleError(name, "tar member has no extension")
    return match.group(1), match.group(2).lower()


def padded(size: int) -> int:
    """Bytes a payload of ``size`` occupies in the tar (rounded up to whole blocks)."""
    return (size + BLOCK - 1) // BLOCK * BLOCK


# ---------------------------------------------------------------------------------- writing


_RECORD = 20 * BLOCK  # tar's record: the archive's length is a multiple of it (as tarfile pads)
_USTAR_FIXED = (b"0000444\0" + b"0000000\0" * 2)  # mode 0444, uid and gid 0


def member_header(name: str, size: int) -> bytes:
    """The 512-byte ustar header of a regular member: mtime 0, root owner with empty names,
    mode 0444, the same bytes ``tarfile`` writes (``TarInfo.tobuf`` in ustar format) built
    without its per-field machinery (~3 instead of ~85 µs: two members a sample). Names that
    do not fit the 100-byte field, or are not ASCII, go through ``tarfile`` itself."""
    if not name.isascii() or len(name) > 100 or size >= 8**11:  # tarfile encodes, splits or refuses
        return _member_info(name, size).tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")
    encoded = name.encode("ascii")
    header = bytearray(BLOCK)
    header[0:len(encoded)] = encoded
    header[100:124] = _USTAR_FIXED
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"00000000000\0"  # mtime
    header[148:156] = b" " * 8  # the checksum counts its own field as spaces
    header[156:157] = tarfile.REGTYPE
    header[257:265] = tarfile.POSIX_MAGIC  # device numbers stay empty: not a device
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _member_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class SampleTarWriter:
    """Writes samples into a binary file object as a shard; ``add`` returns each one's span.

    The bytes are those of ``tarfile`` writing the same members (ustar headers from
    :func:`member_header`, payloads padded to whole blocks, two zero blocks and padding to a
    whole record at the end), written straight through: no per-member copy of the payload.
    Use as a context manager: on success the tar's end blocks are written; on an exception
    nothing more is written (the caller's atomic output discards the file). ``sha256()`` is the
    digest of every byte written, available after the block.
    """

    def __init__(self, fileobj):
        self._out, self._sha, self._position = fileobj, hashlib.sha256(), 0

    def _write(self, data) -> None:
        self._out.write(data)
        self._sha.update(data)
        self._position += len(data)

    def add(self, key: str, members: Iterable[tuple[str, bytes]]) -> tuple[int, int]:
        """Write one sample's ``(ext, payload)`` members in order; return its ``(offset, size)``."""
        start = self._position
        for ext, data in members:
            size = len(data)
            self._write(member_header(member_name(key, ext), size))
            self._write(data)
            if size % BLOCK:
                self._write(_ZERO_BLOCK[size % BLOCK:])
        return start, self._position - start

    def close(self) -> None:
        end = self._position + 2 * BLOCK
        self._write(bytes(2 * BLOCK + -end % _RECORD))

    def sha256(self) -> str:
        return self._sha.hexdigest()

    def __enter__(self) -> "SampleTarWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()


# ---------------------------------------------------------------------------------- reading


class Member(NamedTuple):  # a tuple: built once per member on the loader's hot path
    """A regular file of a tar: its name, where it starts and ends, and its bytes if read."""

    name: str
    start: int  # first header (long-name and pax headers included)
    end: int  # end of the padded payload
    payload: bytes | memoryview | None  # None when read with ``payloads=False``


class _View:
    """A fragment in memory as a stream whose reads are zero-copy views."""

    def __init__(self, data: bytes | memoryview):
        self.view, self.pos = memoryview(data), 0

    def read(self, size: int) -> memoryview:
        out = self.view[self.pos : self.pos + size]
        self.pos += len(out)
        return out

    def seekable(self) -> bool:
        return True

    def seek(self, count: int, whence: int = os.SEEK_CUR) -> None:
        self.pos += count


def _number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for huge sizes
        return int.from_bytes(field[1:], "big")
    text = field.rstrip(b"\0 ").strip()
    return int(text, 8) if text else 0


def _checksum_ok(header: bytes) -> bool:
    """The header checksum as tar computes it (the field itself counted as spaces)."""
    stored = _number(header[148:156])
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    signed = unsigned - 256 * sum(b > 127 for b in header[:148] + header[156:])
    return stored in (unsigned, signed)


def _pax_path(payload: bytes) -> str | None:
    for record in payload.decode("utf-8", "replace").split("\n"):
        _, _, kv = record.partition(" ")
        if kv.startswith("path="):
            return kv[5:]
    return None


def _ustar_name(header: bytes) -> str:
    prefix = header[345:500].rstrip(b"\0").decode("utf-8")
    base = header[0:100].rstrip(b"\0").decode("utf-8")
    return f"{prefix}/{base}" if prefix else base


def _skip(stream, count: int) -> None:
    if hasattr(stream, "seekable") and stream.seekable():
        stream.seek(count, os.SEEK_CUR)
        return
    while count > 0:
        count -= len(stream.read(min(count, 1 << 20)) or b"\0" * count)


def _truncated(what: str, got: int, wanted: int) -> SampleError:
    return SampleError(what, f"truncated ({got} of {wanted} bytes)")


def iter_members(stream, *, payloads: bool = True, strict: bool = False) -> Iterator[Member]:
    """The regular files of a tar stream (anything with ``read``; bytes for a fragment).

    ``payloads=False`` reads only headers, seeking past the data where the stream can. With
    ``strict`` a bad header checksum or a truncated header or payload raises
    :class:`SampleError`; otherwise reading simply stops where the bytes end. (Inlined: this
    loop runs for every sample the trainer reads.)
    """
    if isinstance(stream, (bytes, bytearray, memoryview)):
        stream = _View(stream)
    pos, start, long_name = 0, None, None
    while True:
        header = bytes(stream.read(BLOCK))
        if len(header) < BLOCK or header == _ZERO_BLOCK:
            if strict and 0 < len(header) < BLOCK:
                raise _truncated(f"tar header at byte {pos}", len(header), BLOCK)
            return
        if strict and not _checksum_ok(header):
            raise SampleError(f"tar header at byte {pos}", "bad checksum (not a tar, or corrupted)")
        start = pos if start is None else start
        size, kind = _number(header[124:136]), header[156:157]
        pos += BLOCK + padded(size)
        if kind in (b"L", b"x") or (payloads and kind in _REGULAR):
            data = stream.read(padded(size))
            if strict and len(data) < size:
                raise _truncated(f"tar member at byte {pos - padded(size)}", len(data), size)
            data = data[:size]
        else:
            data = _skip(stream, padded(size))
        if kind in (b"L", b"x"):
            data = bytes(data)
            long_name = data.rstrip(b"\0").decode("utf-8") if kind == b"L" else _pax_path(data) or long_name
            continue
        name = long_name or _ustar_name(header)
        member_start, start, long_name = start, None, None
        if kind in _REGULAR:
            yield Member(name, member_start, pos, data)


@dataclass
class SampleSpan:
    """One sample found in a shard: its key, span and ``{ext: payload}`` (when read)."""

    key: str
    offset: int
    size: int
    members: dict


def iter_samples(stream, *, payloads: bool = True, strict: bool = False) -> Iterator[SampleSpan]:
    """The samples of a shard in order: consecutive members sharing a key (see the module doc)."""
    current: SampleSpan | None = None
    for member in iter_members(stream, payloads=payloads, strict=strict):
        key, ext = split_key(member.name)
        if current is not None and current.key == key:
            current.size = member.end - current.offset
        else:
            if current is not None:
                yield current
            current = SampleSpan(key, member.start, member.end - member.start, {})
        current.members[ext] = member.payload
    if current is not None:
        yield current


def scan_samples(stream) -> list[tuple[str, int, int]]:
    """``(key, offset, size)`` of every sample of a shard, reading only headers where it seeks."""
    return [(s.key, s.offset, s.size) for s in iter_samples(stream, payloads=False)]


def fragment_member(fragment: bytes | memoryview, name: str) -> bytes | None:
    """The payload of member ``name`` (``KEY.EXT``) of a one-sample fragment, or None."""
    key, ext = split_key(name)
    sample = parse_fragment(fragment)
    data = sample.get(ext) if sample["__key__"] == key else None
    return None if data is None else bytes(data)


def parse_fragment(fragment: bytes | memoryview) -> dict:
    """A webdataset sample dict of one fragment: ``{"__key__": KEY, ext: payload bytes, ...}``."""
    sample: dict = {}
    for member in iter_members(fragment):
        key, ext = split_key(member.name)
        if sample.setdefault("__key__", key) != key:
            raise SampleError("tar fragment", f"holds two samples: {sample['__key__']!r} and {key!r}")
        sample[ext] = member.payload
    if "__key__" not in sample:
        raise SampleError("tar fragment", "empty")
    return sample

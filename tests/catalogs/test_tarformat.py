"""The sample tar format: what the writer writes is what every reader reads, byte for byte."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from catalogs.errors import SampleError
from catalogs.tarformat import (SampleTarWriter, _member_info, fragment_member, iter_samples, member_header,
                                member_name, parse_fragment, scan_samples, split_key)

SAMPLES = [("0123456789abcdef", [("png", b"p" * 700), ("json", b'{"a": 1}')]),
           ("fedcba9876543210", [("npy", b"n" * 1024), ("json", b"{}")])]


def _shard() -> tuple[bytes, list[tuple[int, int]], str]:
    buffer = io.BytesIO()
    with SampleTarWriter(buffer) as tar:
        spans = [tar.add(key, members) for key, members in SAMPLES]
    return buffer.getvalue(), spans, tar.sha256()


def test_writer_spans_digest_and_fixed_headers():
    data, spans, digest = _shard()

    assert digest == hashlib.sha256(data).hexdigest()
    assert spans == [(0, 512 + 1024 + 512 + 512), (2560, 512 + 1024 + 512 + 512)]
    assert data == _shard()[0]  # deterministic
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:  # a plain tar to any reader
        members = tar.getmembers()
    assert [m.name for m in members] == [member_name(k, e) for k, ms in SAMPLES for e, _ in ms]
    assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0o444, 0, 0, "", "")}


@pytest.mark.parametrize("count", [0, 1, 2, 30])
def test_writer_writes_what_tarfile_writes(count):
    """Headers built by hand, payloads written straight through: the bytes of ``tarfile``
    adding the same members (end blocks and record padding included)."""
    samples = [(f"{i:016x}", [("png", bytes([i]) * (i * 997 % 3000)), ("json", b'{"i": %d}' % i)])
               for i in range(count)]
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, members in samples:
            for ext, data in members:
                tar.addfile(_member_info(member_name(key, ext), len(data)), io.BytesIO(data))
    written = io.BytesIO()
    with SampleTarWriter(written) as tar:
        for key, members in samples:
            tar.add(key, members)
    assert written.getvalue() == expected.getvalue()
    assert tar.sha256() == hashlib.sha256(expected.getvalue()).hexdigest()


@pytest.mark.parametrize("name", ["a.b", "x" * 96 + ".png", "k" * 99 + "j", "dir/" * 20 + "key.json", "é.png"])
@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 10**9, 8**11 - 1])
def test_member_header_is_tarfile_s(name, size):
    expected = _member_info(name, size).tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")
    assert member_header(name, size) == expected


def test_readers_agree_with_the_writer():
    data, spans, _ = _shard()
    assert scan_samples(io.BytesIO(data)) == [(k, o, s) for (k, _), (o, s) in zip(SAMPLES, spans)]
    for (key, members), (offset, size) in zip(SAMPLES, spans):
        sample = parse_fragment(data[offset:offset + size])
        assert sample["__key__"] == key
        assert {ext: bytes(v) for ext, v in sample.items() if ext != "__key__"} == dict(members)
    spans_read = [(s.key, s.offset, s.size, {e: bytes(v) for e, v in s.members.items()})
                  for s in iter_samples(io.BytesIO(data), strict=True)]
    assert spans_read == [(k, o, s, dict(m)) for (k, m), (o, s) in zip(SAMPLES, spans)]


def test_key_split_is_webdataset_s():
    assert split_key("dir.v2/abc.seg.PNG") == ("dir.v2/abc", "seg.png")
    with pytest.raises(SampleError):
        split_key("noextension")


def test_strict_reading_names_corruption_and_truncation():
    data, _, _ = _shard()
    flipped = bytearray(data)
    flipped[10] ^= 0xFF  # inside the first header's name
    with pytest.raises(SampleError, match="checksum"):
        list(iter_samples(io.BytesIO(bytes(flipped)), strict=True))
    with pytest.raises(SampleError, match="truncated"):
        list(iter_samples(io.BytesIO(data[:700]), strict=True))
    assert [s.key for s in iter_samples(io.BytesIO(data[:3072]))] == [SAMPLES[0][0], SAMPLES[1][0]]


def test_one_member_of_a_fragment():
    data, spans, _ = _shard()
    (key, members), (offset, size) = SAMPLES[1], spans[1]
    fragment = data[offset:offset + size]
    assert fragment_member(fragment, f"{key}.npy") == dict(members)["npy"]
    assert fragment_member(fragment, f"{key}.png") is None and fragment_member(fragment, "other.npy") is None


def test_fragments_with_two_samples_or_none_are_errors():
    data, spans, _ = _shard()
    with pytest.raises(SampleError, match="two samples"):
        parse_fragment(data[:spans[1][0] + spans[1][1]])
    with pytest.raises(SampleError, match="empty"):
        parse_fragment(b"\0" * 1024)

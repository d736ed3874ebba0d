"""The loader's PNG decoder: ISA-L inflate + a compiled unfilter, optionally only the top rows.

A loader core spends nearly all its time decoding PNG, and nearly all of a PNG decode is
inflating the IDAT stream (the packer writes UP-filtered rows deflated by ISA-L; UP's unfilter,
unlike SUB's, vectorizes). ISA-L's inflate (``isal``) does it ~2x faster than zlib, so this
decoder is 1.3-1.6x libspng per core (``benchmarks/loader.py``). A random crop never needs the
rows below it: ``rows`` stops inflating there, which saves another ~5 % on RingMo's crop scales.

Only what the codec needs is handled here: non-interlaced 8- or 16-bit grey, grey+alpha, RGB
and RGBA (every PNG the packer writes, and most others). Anything else (palette, interlaced,
1-4-bit) gets ``None`` so the caller can fall back to a general decoder. The pixels are the
ones any PNG reader returns; 16-bit samples come back in native byte order.
"""

from __future__ import annotations

import struct
import sys

import numba
import numpy as np

from catalogs.pngformat import CHANNELS, SIGNATURE

try:  # ISA-L inflate when installed (a dependency); zlib gives the same bytes, slower
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - optional speed-up
    import zlib as _zlib

_CHUNK = struct.Struct(">I4s")  # a chunk's length and type


def png_header(payload) -> tuple[int, int, int, int, int] | None:
    """``(height, width, bit depth, colour type, interlace)`` from the IHDR chunk, None when the
    bytes are not a PNG."""
    data = memoryview(payload)
    if len(data) < 33 or bytes(data[:8]) != SIGNATURE or bytes(data[12:16]) != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return height, width, depth, colour, interlace


def png_array(payload) -> tuple[tuple[int, int, int], np.dtype] | None:
    """``((H, W, C), dtype)`` of the array :func:`decode_png` returns for a whole PNG, None
    when it would not decode it (not a PNG, or a kind left to a general decoder)."""
    header = png_header(payload)
    if header is None or not header[0] or not header[1]:
        return None
    height, width, depth, colour, interlace = header
    if not _handled(depth, colour, interlace):
        return None
    return (height, width, CHANNELS[colour]), np.dtype(np.uint8 if depth == 8 else np.uint16)


def _handled(depth: int, colour: int, interlace: int) -> bool:
    """Whether :func:`decode_png` decodes this kind of PNG (else it is left to a general decoder)."""
    return depth in (8, 16) and colour in CHANNELS and not interlace


def decode_png(payload, rows: int | None = None, out: np.ndarray | None = None) -> np.ndarray | None:
    """``[rows, W, C]`` (all rows when ``rows`` is None) in the PNG's dtype, or None for a PNG
    this decoder does not handle (palette, interlaced, under 8 bits). Raises ``ValueError``
    for a damaged file.

    ``out``: a C-contiguous ``[H, W, C]`` array of the PNG's size and dtype (a slot of a batch
    buffer) to decode into, saving the copy of every pixel into the batch; the result is then
    ``out[:rows]``. An ``out`` that does not fit is ignored."""
    header = png_header(payload)
    if header is None:
        raise ValueError("not a PNG (no signature or IHDR)")
    height, width, depth, colour, interlace = header
    if not height or not width:
        raise ValueError(f"PNG of {width}x{height} pixels")
    if not _handled(depth, colour, interlace):
        return None
    channels = CHANNELS[colour]
    rows = height if rows is None else max(1, min(int(rows), height))
    bpp = channels * depth // 8  # bytes per pixel: the filters' left neighbour distance
    stride = width * bpp
    want = rows * (stride + 1)  # every row starts with its filter-type byte
    raw = _zlib.decompressobj().decompress(_idat(payload), want)
    if len(raw) < want:
        raise ValueError(f"PNG data ends after {len(raw) // (stride + 1)} of {rows} rows")
    dtype = np.dtype(np.uint8 if depth == 8 else np.uint16)
    into = out is not None and out.shape == (height, width, channels) and out.dtype == dtype \
        and out.flags.c_contiguous
    target = out[:rows].view(np.uint8).reshape(rows, stride) if into else np.empty((rows, stride), np.uint8)
    if not _unfilter(np.frombuffer(raw, dtype=np.uint8), target, bpp):
        raise ValueError("PNG row with an unknown filter type")
    if into:
        if depth == 16 and sys.byteorder == "little":
            out[:rows].byteswap(inplace=True)  # PNG samples are big-endian
        return out[:rows]
    if depth == 16:
        return target.view(">u2").astype(np.uint16).reshape(rows, width, channels)
    return target.reshape(rows, width, channels)


def _idat(payload) -> bytes:
    """The concatenated IDAT chunk data (the zlib stream)."""
    data = memoryview(payload)
    parts, i = [], 8
    while i + 8 <= len(data):
        length, kind = _CHUNK.unpack_from(data, i)
        if kind == b"IDAT":
            parts.append(data[i + 8 : i + 8 + length])
        elif parts or kind == b"IEND":
            break  # IDAT chunks are consecutive: the stream is complete
        i += 12 + length
    if not parts:
        raise ValueError("PNG without image data (no IDAT chunk)")
    return parts[0] if len(parts) == 1 else b"".join(parts)


@numba.njit(cache=True, nogil=True)
def _unfilter(raw, out, bpp):  # pragma: no cover - compiled
    """Undo the five PNG row filters (None, Sub, Up, Average, Paeth) of ``raw`` into ``out``
    ``[rows, stride]``; False on an unknown filter byte."""
    rows, stride = out.shape
    for y in range(rows):
        base = y * (stride + 1) + 1
        kind = raw[base - 1]
        row = out[y]
        if kind == 0:
            for x in range(stride):
                row[x] = raw[base + x]
        elif kind == 1:
            for x in range(min(bpp, stride)):
                row[x] = raw[base + x]
            for x in range(bpp, stride):
                row[x] = (raw[base + x] + row[x - bpp]) & 255
        elif kind == 2:
            if y == 0:
                for x in range(stride):
                    row[x] = raw[base + x]
            else:
                up = out[y - 1]
                for x in range(stride):
                    row[x] = (raw[base + x] + up[x]) & 255
        elif kind == 3:
            for x in range(stride):
                left = np.int32(row[x - bpp]) if x >= bpp else np.int32(0)
                above = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
                row[x] = (np.int32(raw[base + x]) + (left + above) // 2) & 255
        elif kind == 4:
            for x in range(stride):
                a = np.int32(row[x - bpp]) if x >= bpp else np.int32(0)
                b = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
                c = np.int32(out[y - 1, x - bpp]) if (y > 0 and x >= bpp) else np.int32(0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                row[x] = (np.int32(raw[base + x]) + pred) & 255
        else:
            return False
    return True

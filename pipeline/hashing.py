"""Exact and perceptual hashes of samples, for deduplication on metadata alone.

``pixel_hash`` identifies identical decoded pixels (two encodings of the same pixels hash
the same). ``phash_batch`` is the 64-bit DCT perceptual hash, vectorized: one OpenCV grey +
INTER_AREA resize per tile, then a single batched DCT as two matrix products (measured
~6x faster than ``imagehash.phash`` per tile). Bit order matches ``imagehash``: row-major
over the 8x8 low-frequency block, most significant bit first.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numba
import numpy as np
import xxhash

HASH_SIZE = 8  # 8x8 low-frequency DCT block -> 64 bits
_DCT_SIZE = 32
_CHUNK = 1024  # tiles per batched DCT: bounds the float64 thumbnails to ~8 MB


def pixel_hash(array: np.ndarray) -> str:
    """Hex XXH3-128 over dtype, shape and the C-ordered bytes of ``array``.

    XXH3 hashes a 512² RGB tile in ~0.01 ms where blake2b takes ~0.8 ms (7% of the tiler's time
    per tile); exact-duplicate detection needs no cryptographic strength, only 128 bits. A tile
    cut from a strip (strided rows) is first copied into a scratch buffer this thread reuses:
    a new array each time cost ~0.5 ms a 512² RGB tile in a build, most of it faulting in
    new memory; row-by-row updates ~0.3 ms.
    """
    h = xxhash.xxh3_128()
    h.update(f"{array.dtype.str}|{array.shape}|".encode("ascii"))
    h.update(memoryview(_contiguous(array)).cast("B"))
    return h.hexdigest()


_SCRATCH = threading.local()


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` itself when C-contiguous, else its copy in this thread's scratch buffer (valid
    until the next call)."""
    if array.flags.c_contiguous:
        return array
    scratch = getattr(_SCRATCH, "buffer", None)
    if scratch is None or scratch.nbytes < array.nbytes:
        scratch = _SCRATCH.buffer = np.empty(array.nbytes, np.uint8)
    out = scratch[:array.nbytes].view(array.dtype).reshape(array.shape)
    np.copyto(out, array)
    return out


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``D`` so that ``D @ x @ D.T`` is the 2-D DCT of ``x``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float64)


@numba.njit(cache=True)
def _block_band_means(tile: np.ndarray, size: int) -> np.ndarray:
    """``[size, size]`` float64: the mean over bands and over each block of a C-contiguous
    ``[H, W, C]`` integer tile whose sides are multiples of ``size`` (exact integer sums, one pass)."""
    h, w, c = tile.shape
    bh, bw = h // size, w // size
    sums = np.zeros((size, size), np.int64)
    rows = tile.reshape(h, w * c)  # a block's bands and columns are one contiguous run of a row
    span = bw * c
    for y in range(h):
        row, pixels = y // bh, rows[y]
        for bx in range(size):
            total = 0
            for i in range(bx * span, (bx + 1) * span):
                total += pixels[i]
            sums[row, bx] += total
    return sums / float(bh * bw * c)


def _grey_small(tile: np.ndarray) -> np.ndarray:
    """A ``[32, 32]`` float64 grey thumbnail (luma for 3 bands, band mean otherwise)."""
    if tile.ndim == 3 and tile.shape[2] not in (1, 3) and tile.dtype.kind in "iu" \
            and tile.shape[0] % _DCT_SIZE == 0 and tile.shape[1] % _DCT_SIZE == 0:
        # INTER_AREA at an integer factor is the block mean; fused with the band mean it is
        # one pass over the tile instead of a float32 band-mean copy (5x faster at 4 bands)
        return _block_band_means(np.ascontiguousarray(tile), _DCT_SIZE)
    if tile.ndim == 2:
        grey = tile
    elif tile.shape[2] == 3:
        grey = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY)  # OpenCV takes rows strided apart
    elif tile.shape[2] == 1:
        grey = tile[:, :, 0]
    else:
        grey = tile.mean(axis=2, dtype=np.float32)
    grey = np.ascontiguousarray(grey)
    small = cv2.resize(grey, (_DCT_SIZE, _DCT_SIZE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float64)


def phash_batch(tiles) -> np.ndarray:
    """64-bit pHashes ``[N]`` uint64 of uint8 tiles (a list of ``[H, W, C]`` or ``[N, H, W, C]``).

    The median threshold skips the DC coefficient (as the original pHash does): DC is the
    mean brightness and would otherwise pull the median toward one side.
    """
    n = len(tiles)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    return np.concatenate([_phash_chunk(tiles[i:i + _CHUNK]) for i in range(0, n, _CHUNK)])


def _phash_chunk(tiles) -> np.ndarray:
    n = len(tiles)
    thumbs = np.stack([_grey_small(t) for t in tiles])  # [N, 32, 32]
    d = _dct_matrix(_DCT_SIZE)[:HASH_SIZE]  # only the 8 lowest frequencies are kept
    low = (d @ thumbs @ d.T).reshape(n, -1)  # [N, 64]
    median = np.median(low[:, 1:], axis=1, keepdims=True)
    bits = low > median  # [N, 64]
    packed = np.packbits(bits, axis=1)  # [N, 8] bytes, MSB first
    return packed.view(">u8").reshape(n).astype(np.uint64)


def hamming(a, b) -> np.ndarray | int:
    """Bit distance between uint64 hashes (scalars or broadcastable arrays)."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    d = np.bitwise_count(x)
    return int(d) if d.ndim == 0 else d.astype(np.int64)

"""Seeded, order-free random numbers keyed by strings (tile ids, scene ids, block ids).

Balancing and splitting must give each item the same draw whatever the row order, worker
count or corpus growth: a draw is a hash of (seed, key), never the next value of a stream.
"""

from __future__ import annotations

import hashlib

import numpy as np

def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijective mix of uint64 values (vectorized)."""
    with np.errstate(over="ignore"):  # wrap-around multiplication is the point
        z = np.atleast_1d(np.asarray(x, dtype=np.uint64)) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def string_keys(values) -> np.ndarray:
    """uint64 per string: 16-hex ids (tile ids) are parsed in bulk, anything else hashed."""
    arr = np.asarray(values, dtype=str)
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if arr.dtype.itemsize == 16 * 4:
        codes = arr.view(np.uint32).reshape(-1, 16).astype(np.int64)
        nibble = np.where(codes <= 57, codes - 48, (codes | 32) - 87)
        if ((nibble >= 0) & (nibble < 16)).all() and np.char.str_len(arr).min() == 16:
            shifts = np.uint64(4) * np.arange(15, -1, -1, dtype=np.uint64)
            return np.bitwise_or.reduce(nibble.astype(np.uint64) << shifts, axis=1)
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(v.encode("utf-8"), digest_size=8).digest(), "little") for v in arr.tolist()),
        dtype=np.uint64,
        count=arr.size,
    )


def seeded_uniform(values, seed: int, stream: str = "") -> np.ndarray:
    """A uniform draw in [0, 1) per string, fixed by (seed, stream, string)."""
    salt = string_keys([f"{stream}|{int(seed)}"])[0]
    z = splitmix64(string_keys(values) ^ splitmix64(np.uint64(salt))[0])
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53

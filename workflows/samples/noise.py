"""Seeded, vectorized noise and coordinate primitives the terrain generators are built from.

Everything here is pure numpy/OpenCV on whole arrays (no per-pixel Python) so a megapixel
field costs milliseconds; every random step takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import cv2
import numpy as np

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0xFF51AFD7ED558CCD)
_M4 = np.uint64(0xC4CEB9FE1A85EC53)


def fractal_noise(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    cells: float = 4.0,
    octaves: int = 5,
    persistence: float = 0.5,
) -> np.ndarray:
    """Sum of value-noise octaves scaled to [0, 1].

    ``cells`` is how many noise cells span the longer side at the coarsest octave; each octave
    doubles it. Upsampling small random grids with bicubic resize is the cheap way to get
    smooth, spatially correlated fields (landscape-like), unlike per-pixel white noise.
    """
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2.0**octave
        gh = max(2, int(round(n * h / max(h, w))) + 2)
        gw = max(2, int(round(n * w / max(h, w))) + 2)
        if gh > h or gw > w:
            break
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    return normalize(out)


def normalize(a: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1] (a constant array becomes zeros)."""
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-12:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def grid_coords(shape: tuple[int, int], angle_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by ``angle_deg`` about the centre: (u along, v across)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x -= w / 2.0
    y -= h / 2.0
    t = np.deg2rad(angle_deg)
    c, s = np.float32(np.cos(t)), np.float32(np.sin(t))
    return x * c + y * s, -x * s + y * c


def warp(
    u: np.ndarray, v: np.ndarray, rng: np.random.Generator, amplitude: float, cells: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Displace coordinates by smooth noise so straight grids become organic."""
    du = fractal_noise(u.shape, rng, cells=cells, octaves=3) - 0.5
    dv = fractal_noise(u.shape, rng, cells=cells, octaves=3) - 0.5
    return u + 2 * amplitude * du, v + 2 * amplitude * dv


def hash_uniform(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic uniform [0, 1) value per integer cell (a, b): per-cell attributes without loops."""
    with np.errstate(over="ignore"):
        x = a.astype(np.int64).view(np.uint64) * _M1
        x ^= b.astype(np.int64).view(np.uint64) * _M2
        x ^= np.uint64(salt & 0xFFFFFFFFFFFFFFFF) * _M4
        x ^= x >> np.uint64(33)
        x *= _M3
        x ^= x >> np.uint64(33)
        x *= _M4
        x ^= x >> np.uint64(33)
    return (x >> np.uint64(11)).astype(np.float64).astype(np.float32) * np.float32(2.0**-53)


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (no-op for tiny sigma); float32 in, float32 out."""
    if sigma < 0.3:
        return a.astype(np.float32, copy=False)
    return cv2.GaussianBlur(a.astype(np.float32, copy=False), (0, 0), sigma)


def hillshade(height: np.ndarray, azimuth_deg: float = 315.0, strength: float = 1.0) -> np.ndarray:
    """Directional shading of a height field, ~1 on flat ground, as sunlight would give."""
    gy, gx = np.gradient(height.astype(np.float32))
    t = np.deg2rad(azimuth_deg)
    slope = gx * np.float32(np.cos(t)) - gy * np.float32(np.sin(t))
    return np.clip(1.0 + strength * slope, 0.2, 1.8).astype(np.float32)


def shift(a: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate an image by (dx, dy) pixels, zero-filled (used to cast shadows)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = a.shape[:2]
    return cv2.warpAffine(a.astype(np.float32, copy=False), m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Soft threshold: 0 below edge0, 1 above edge1, smooth in between."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)

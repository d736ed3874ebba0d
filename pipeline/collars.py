"""Constant-value collars: the black or white frame around imagery that has no nodata flag.

JPEG2000 true-colour images, JPEG quicklooks and drone mosaics put the area outside the
footprint at 0 (or 255) without saying so: 37 % of the real Sentinel-2 TCI and 48 % of the
L1C quicklook are such a frame, and as "valid" pixels they pass the quality filter and teach
the model black borders. A collar is told from dark water or white cloud by two facts: it is
(nearly) one constant value in every band, and it touches the image border. Its colour is the
one found at the scene's corners (a scene footprint that does not fill its raster leaves the
corners empty), so saturated clouds in a black-collared scene stay valid.

Detection is bounded: one decimated read of the whole scene (<= ``MAX_SIDE`` px on the long
side, from overviews when present) finds the border-connected regions; each strip then marks
its own pixels that have the collar colour and lie in (or one low-resolution pixel next to) such
a region. Scenes whose corners show no collar colour cost four tiny corner reads and no more.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from rasterio.enums import Resampling

MAX_SIDE = 1024  # long side of the decimated read the border-connected regions are found on
CORNER = 4  # side of the corner windows that decide whether a scene can have a collar
_UINT8_TOLERANCE = 10  # JPEG/JPEG2000 noise around a flat 0 or 255 (real TCI/quicklook: <= 10)


@dataclass(frozen=True)
class Collars:
    """A scene's collar colour(s) and where its border-connected collar regions are."""

    low: float | None  # collar when every band <= low (black frames), None if not present
    high: float | None  # collar when every band >= high (white frames)
    region: np.ndarray  # [h, w] bool at low resolution: collar or next to it
    height: int  # scene size in source pixels
    width: int

    def candidate(self, data: np.ndarray) -> np.ndarray:
        """``[H, W]`` bool: pixels of ``data`` ``[H, W, C]`` in a collar colour."""
        out = np.zeros(data.shape[:2], bool)
        if self.low is not None:
            out |= (data <= self.low).all(axis=2)
        if self.high is not None:
            out |= (data >= self.high).all(axis=2)
        return out

    def mask_for(self, data: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray | None:
        """``[H, W]`` bool, True on collar pixels of a strip read from source ``window``
        (col, row, width, height) into ``data`` ``[H, W, C]``; ``None`` when there are none."""
        col, row, w, h = window
        out_h, out_w = data.shape[:2]
        rh, rw = self.region.shape
        rows = ((row + (np.arange(out_h) + 0.5) * h / out_h) * rh / self.height).astype(np.intp)
        cols = ((col + (np.arange(out_w) + 0.5) * w / out_w) * rw / self.width).astype(np.intp)
        rows, cols = np.clip(rows, 0, rh - 1), np.clip(cols, 0, rw - 1)
        near = self.region[rows[:, None], cols[None, :]]
        if not near.any():
            return None
        collar = near & self.candidate(data)
        return collar if collar.any() else None


def _limits(dtype: str) -> tuple[float, float, float]:
    """(black, white, tolerance) of a dtype: JPEG-noise tolerant for uint8, exact otherwise."""
    dt = np.dtype(dtype)
    info = np.iinfo(dt)
    tol = _UINT8_TOLERANCE if dt == np.uint8 else 0
    return float(info.min), float(info.max), float(tol)


def corner_colours(corners: list[np.ndarray], dtype: str) -> tuple[float | None, float | None]:
    """(low, high) thresholds of the collar colours seen in any corner window, or None each."""
    black, white, tol = _limits(dtype)
    low = high = None
    for c in corners:
        if (c <= black + tol).all(axis=-1).mean() > 0.5:
            low = black + tol
        if (c >= white - tol).all(axis=-1).mean() > 0.5:
            high = white - tol
    return low, high


def border_regions(candidate: np.ndarray) -> np.ndarray:
    """``[h, w]`` bool: the connected regions of ``candidate`` that touch the image border,
    grown by one pixel so the full-resolution test covers their low-resolution edge."""
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros(candidate.shape, bool)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.zeros(count, bool)
    touching[np.unique(edge)] = True
    touching[0] = False  # label 0 is the background (not a collar colour)
    region = touching[labels]
    return cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _corner_reads(src, indexes) -> list[np.ndarray]:
    from rasterio.windows import Window

    w, h = src.width, src.height
    k = min(CORNER, w, h)
    spots = [(0, 0), (w - k, 0), (0, h - k), (w - k, h - k)]
    return [np.moveaxis(src.read(indexes, window=Window(c, r, k, k)), 0, 2) for c, r in spots]


def detect_collars(src, indexes: tuple[int, ...], dtype: str) -> Collars | None:
    """The scene's collars, or ``None`` (no collar colour in its corners, or none connected).

    Only for integer data without a mask or nodata of its own (the caller decides).
    """
    low, high = corner_colours(_corner_reads(src, indexes), dtype)
    if low is None and high is None:
        return None
    scale = max(1.0, max(src.width, src.height) / MAX_SIDE)
    shape = (len(indexes), max(1, int(src.height / scale)), max(1, int(src.width / scale)))
    small = np.moveaxis(src.read(indexes, out_shape=shape, resampling=Resampling.nearest), 0, 2)
    probe = Collars(low, high, np.ones(shape[1:], bool), src.height, src.width)
    region = border_regions(probe.candidate(small))
    if not region.any():
        return None
    return Collars(low, high, region, src.height, src.width)

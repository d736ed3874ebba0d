"""Per-tile quality: how much of a tile is valid and how much information it carries.

Statistics are computed on the tile's 8-bit view (the uint8 sample itself, or the native
sample mapped through the scene's preview stretch), so thresholds mean the same thing for
every sensor. Large tiles are measured on a regular subsample of pixels: std and entropy of
~65k pixels are as decisive as those of 786k and cost a tenth (this is the tiler's hot path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalogs.schema import BLANK, KEPT, NODATA

_ENTROPY_FULL = 7.0  # bits; natural imagery sits around 6-7.5, so >= 7 counts as full detail
_MAX_STAT_PIXELS = 1 << 16


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the tile-stage filter (8-bit units).

    ``min_valid_frac`` 0.9 keeps edge tiles with a thin collar (they still teach the model)
    but rejects tiles that are mostly fill; ``min_std`` 2 rejects flat fill, saturated or
    constant-colour tiles; ``min_entropy`` 1.5 bits rejects near-binary tiles (open water with
    a few glints, clipped clouds).
    """

    min_valid_frac: float = 0.9
    min_std: float = 2.0
    min_entropy: float = 1.5


@dataclass(frozen=True)
class Assessment:
    valid_frac: float
    std: float  # of valid pixels, all bands pooled, 8-bit units
    entropy: float  # Shannon entropy (bits) of the 8-bit histogram of valid pixels
    quality: float  # in [0, 1]: valid_frac * min(1, entropy / 7 bits)

    def __iter__(self):
        return iter((self.valid_frac, self.std, self.entropy, self.quality))


def subsample_step(height: int, width: int, limit: int = _MAX_STAT_PIXELS) -> int:
    """The pixel step (in both axes) that leaves at most ~``limit`` pixels of a tile."""
    step = 1
    while (height // step) * (width // step) > limit:
        step *= 2
    return step


def assess(tile: np.ndarray, valid_mask: np.ndarray | None) -> Assessment:
    """Measure a uint8 ``[H, W, C]`` tile; ``valid_mask`` ``[H, W]`` is True on valid pixels."""
    h, w = tile.shape[:2]
    if valid_mask is None:
        valid_frac = 1.0
    else:
        valid_frac = float(np.count_nonzero(valid_mask)) / float(h * w)
    if valid_frac == 0.0:
        return Assessment(0.0, 0.0, 0.0, 0.0)
    step = subsample_step(h, w)
    sub = tile[::step, ::step]
    if valid_mask is not None and valid_frac < 1.0:
        values = sub[valid_mask[::step, ::step]]
    else:
        values = sub
    values = values.reshape(-1)
    if values.size == 0:  # valid pixels exist but none fell on the subsample grid
        values = tile[valid_mask].reshape(-1)
    std = float(values.std(dtype=np.float64))
    counts = np.bincount(values, minlength=256)
    p = counts[counts > 0] / values.size
    entropy = float(-(p * np.log2(p)).sum())
    quality = valid_frac * min(1.0, entropy / _ENTROPY_FULL)
    return Assessment(valid_frac, std, entropy, quality)


def verdict(assessment: Assessment, config: QualityConfig) -> tuple[str, str | None]:
    """``(status, detail)``: KEPT with no detail, or NODATA/BLANK with the measured reason."""
    a = assessment
    if a.valid_frac < config.min_valid_frac:
        return NODATA, f"valid_frac {a.valid_frac:.3f} < {config.min_valid_frac:g}"
    if a.std < config.min_std:
        return BLANK, f"std {a.std:.2f} < {config.min_std:g}"
    if a.entropy < config.min_entropy:
        return BLANK, f"entropy {a.entropy:.2f} bits < {config.min_entropy:g}"
    return KEPT, None

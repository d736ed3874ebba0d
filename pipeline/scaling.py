"""Map source pixel values to sample values, with one mapping per scene.

The mapping is fitted once per scene from a decimated read (overviews or a sparse sample of
windows), never per tile: per-tile stretches would make the same ground look different in
neighbouring tiles and would hide flat tiles from the quality filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.scene import SensorRule

METHODS = ("none", "percentile", "minmax", "sar_db")
_DB_FLOOR = 1e-10  # linear power below this is treated as -100 dB (log of zero is undefined)


@dataclass(frozen=True)
class Scaler:
    """A per-band affine map ``(x - lo) / (hi - lo) * 255`` clipped to uint8, or identity.

    ``sar_db`` first converts linear values to decibels (``db_factor * log10``: 10 for power
    such as calibrated sigma0, 20 for amplitude DN) unless the input is already in dB
    (``input_db``), then maps ``lo..hi`` dB.
    """

    method: str
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()
    input_db: bool = False
    db_factor: float = 10.0

    @property
    def out_dtype(self) -> str | None:
        """The sample dtype it produces; ``None`` means "the source dtype" (method none)."""
        return None if self.method == "none" else "uint8"

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Scale an ``[H, W, C]`` (or ``[..., C]``) array; identity for ``none``."""
        if self.method == "none":
            return array
        x = array.astype(np.float32, copy=False)
        if self.method == "sar_db" and not self.input_db:
            x = np.float32(self.db_factor) * np.log10(np.maximum(x, _DB_FLOOR))
        lo = np.asarray(self.lo, dtype=np.float32)
        hi = np.asarray(self.hi, dtype=np.float32)
        gain = 255.0 / np.maximum(hi - lo, np.float32(1e-12))
        y = (x - lo) * gain
        y = np.nan_to_num(y, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(y, 0.0, 255.0, out=y)
        return (y + 0.5).astype(np.uint8)


def choose_method(rule: SensorRule, dtype: str, bands: int) -> str:
    """Resolve ``rule.scaling`` ("auto" included) for a source ``dtype`` and band count.

    auto: uint8 -> none; integers -> percentile; float single band -> sar_db (SAR backscatter
    is the common single-band float product); float multi-band -> percentile. A rule asking
    for native output never scales.
    """
    if rule.out_dtype == "native":
        return "none"
    if rule.scaling != "auto":
        if rule.scaling not in METHODS:
            raise ValueError(f"unknown scaling {rule.scaling!r}; expected auto or one of {METHODS}")
        return rule.scaling
    kind = np.dtype(dtype).kind
    if np.dtype(dtype) == np.uint8:
        return "none"
    if kind in "iu":
        return "percentile"
    if kind == "f":
        return "sar_db" if bands == 1 else "percentile"
    raise ValueError(f"cannot scale pixels of dtype {dtype} (complex data needs an explicit rule)")


def _valid_values(sample: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``[K, C]`` float64 values of valid, finite pixels from an ``[H, W, C]`` sample."""
    flat = sample.reshape(-1, sample.shape[-1]).astype(np.float64, copy=False)
    keep = np.isfinite(flat).all(axis=1)
    if valid is not None:
        keep &= valid.reshape(-1)
    return flat[keep]


def _fit_sar(values: np.ndarray, rule: SensorRule, dtype: str, bands: int) -> Scaler:
    """Float input: calibrated linear power (or dB when negatives occur) mapped through the
    rule's absolute ``db_range``. Integer input: uncalibrated amplitude DN (e.g. Sentinel-1
    GRD), whose dB have no absolute meaning, so the range is the scene's dB percentiles."""
    if np.dtype(dtype).kind == "f":
        input_db = bool(values.size) and bool((values < 0).any())
        lo, hi = rule.db_range
        return Scaler("sar_db", (float(lo),) * bands, (float(hi),) * bands, input_db)
    db = 20.0 * np.log10(np.maximum(values, _DB_FLOOR))
    if db.size == 0:
        return Scaler("sar_db", (0.0,) * bands, (1.0,) * bands, db_factor=20.0)
    lo, hi = np.percentile(db, rule.percentiles, axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return Scaler("sar_db", tuple(float(v) for v in lo), tuple(float(v) for v in hi), db_factor=20.0)


def fit_scaler(
    sample_pixels: np.ndarray, nodata_mask: np.ndarray | None, rule: SensorRule, dtype: str
) -> Scaler:
    """Fit the scene's scaler on ``sample_pixels`` ``[H, W, C]`` (a decimated read).

    ``nodata_mask`` is True where pixels are *valid* (GDAL mask convention) or ``None``.
    A scene without any valid pixel gets a degenerate scaler; its tiles are all rejected as
    nodata anyway.
    """
    bands = sample_pixels.shape[-1]
    method = choose_method(rule, dtype, bands)
    if method == "none":
        return Scaler("none")
    values = _valid_values(sample_pixels, nodata_mask)
    if method == "sar_db":
        return _fit_sar(values, rule, dtype, bands)
    if values.size == 0:
        return Scaler(method, (0.0,) * bands, (1.0,) * bands)
    if method == "percentile":
        p_lo, p_hi = rule.percentiles
        lo, hi = np.percentile(values, [p_lo, p_hi], axis=0)
    else:  # minmax
        lo, hi = values.min(axis=0), values.max(axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)  # a constant band maps to 0 instead of dividing by 0
    return Scaler(method, tuple(float(v) for v in lo), tuple(float(v) for v in hi))

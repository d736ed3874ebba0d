"""Map source pixel values to sample values, with one mapping per scene.

The mapping is fitted once per scene from a decimated read (overviews or a sparse sample of
windows), never per tile: per-tile stretches would make the same ground look different in
neighbouring tiles and would hide flat tiles from the quality filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
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
        """Scale an ``[H, W, C]`` (or ``[..., C]``) array; identity for ``none``.

        8- and 16-bit integer tiles go through a per-band table of every possible value
        (:func:`_table`): the same bytes as the float path, one gather pass instead of six
        float passes (a 512² 4-band uint16 tile: ~6 ms -> ~1 ms).
        """
        if self.method == "none":
            return array
        if array.ndim == 3 and array.dtype.kind in "iu" and array.dtype.itemsize <= 2 and self.lo:
            offset, table = _table(self, array.dtype.str, array.shape[2])
            return _gather(array, table, offset)
        return self._compute(array)

    def _compute(self, array: np.ndarray) -> np.ndarray:
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


@lru_cache(maxsize=32)
def _table(scaler: Scaler, dtype: str, bands: int) -> tuple[int, np.ndarray]:
    """``(offset, [bands, 2**bits] uint8)``: ``scaler`` applied to every value of ``dtype``
    (cached per scaler, dtype and band count: a scene's tiles share one)."""
    info = np.iinfo(np.dtype(dtype))
    values = np.arange(info.min, info.max + 1, dtype=np.int64).astype(dtype)  # [K]
    table = scaler._compute(np.repeat(values[:, None], bands, axis=1))  # [K, C]
    return -int(info.min), np.ascontiguousarray(table.T)


@numba.njit(cache=True)
def _gather(array: np.ndarray, table: np.ndarray, offset: int) -> np.ndarray:
    """``out[y, x, b] = table[b, array[y, x, b] + offset]`` for an ``[H, W, C]`` integer array."""
    h, w, c = array.shape
    out = np.empty((h, w, c), np.uint8)
    for b in range(c):  # band by band: one band's table (64 KiB for 16 bits) stays in cache
        band = table[b]
        for y in range(h):
            for x in range(w):
                out[y, x, b] = band[np.int64(array[y, x, b]) + offset]
    return out


def choose_method(rule: SensorRule, dtype: str, bands: int, sar: bool = False) -> str:
    """Resolve the display stretch of ``rule`` ("auto" included) for a dtype and band count.

    Native rules (the default) never scale. Display rules with auto: uint8 -> none; SAR rules
    -> sar_db; other integers -> percentile; float single band -> sar_db (the common
    single-band float product is SAR backscatter); float multi-band -> percentile.
    """
    if rule.scale != "display":
        return "none"
    if rule.scaling != "auto":
        if rule.scaling not in METHODS:
            raise ValueError(f"unknown scaling {rule.scaling!r}; expected auto or one of {METHODS}")
        return rule.scaling
    return _auto_method(dtype, bands, sar=sar or rule.sar is not None)


def _auto_method(dtype: str, bands: int, sar: bool) -> str:
    kind = np.dtype(dtype).kind
    if np.dtype(dtype) == np.uint8:
        return "none"
    if sar:
        return "sar_db"
    if kind in "iu":
        return "percentile"
    if kind == "f":
        return "sar_db" if bands == 1 else "percentile"
    raise ValueError(f"cannot scale pixels of dtype {dtype} (complex data needs an explicit rule)")


_FIT_PIXELS = 1 << 18  # percentiles of 262k pixels are as good as of millions, at a 16th of the cost


def _valid_values(sample: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``[K, C]`` float64 values of valid, finite pixels from an ``[H, W, C]`` sample (every
    n-th pixel of a large sample: a regular, deterministic decimation)."""
    step = max(1, -(-sample.shape[0] * sample.shape[1] // _FIT_PIXELS))
    flat = sample.reshape(-1, sample.shape[-1])[::step].astype(np.float64)
    if valid is not None:
        valid = valid.reshape(-1)[::step]
    keep = np.isfinite(flat).all(axis=1)
    if valid is not None:
        keep &= valid
    return flat[keep]


def _fit_sar(values: np.ndarray, rule: SensorRule, bands: int, kind: str, absolute: bool) -> Scaler:
    """A dB stretch fitted on valid pixels only (zeros of amplitude/linear data are fill and
    would read as -200 dB, the cause of white GRD tiles).

    ``linear`` data displayed for users (``absolute``) maps the rule's absolute ``db_range``
    (calibrated dB mean the same in every scene); amplitude DN (uncalibrated) and every
    8-bit view use the scene's dB percentiles.
    """
    input_db, factor = kind == "db", (20.0 if kind == "amplitude" else 10.0)
    if absolute and kind != "amplitude":
        lo, hi = rule.db_range
        return Scaler("sar_db", (float(lo),) * bands, (float(hi),) * bands, input_db, factor)
    if not input_db:
        values = values[(values > 0).all(axis=1)]
    if values.size == 0:
        return Scaler("sar_db", (0.0,) * bands, (1.0,) * bands, input_db, factor)
    db = values if input_db else factor * np.log10(values)
    lo, hi = np.percentile(db, rule.percentiles, axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return Scaler("sar_db", tuple(float(v) for v in lo), tuple(float(v) for v in hi), input_db, factor)


def _fit(values: np.ndarray, method: str, rule: SensorRule, bands: int) -> Scaler:
    if values.size == 0:
        return Scaler(method, (0.0,) * bands, (1.0,) * bands)
    if method == "percentile":
        lo, hi = np.percentile(values, rule.percentiles, axis=0)
    else:  # minmax
        lo, hi = values.min(axis=0), values.max(axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)  # a constant band maps to 0 instead of dividing by 0
    return Scaler(method, tuple(float(v) for v in lo), tuple(float(v) for v in hi))


def fit_scaler(sample_pixels: np.ndarray, nodata_mask: np.ndarray | None, rule: SensorRule, dtype: str,
               sar_kind: str | None = None) -> Scaler:
    """Fit the scene's display scaler on ``sample_pixels`` ``[H, W, C]`` (a decimated read).

    ``nodata_mask`` is True where pixels are *valid* (GDAL mask convention) or ``None``; only
    valid pixels enter the fit. ``sar_kind`` (``pipeline.sar``) says what SAR values are. A
    scene without any valid pixel gets a degenerate scaler (its tiles are rejected anyway).
    """
    bands = sample_pixels.shape[-1]
    method = choose_method(rule, dtype, bands, sar=sar_kind is not None)
    if method == "none":
        return Scaler("none")
    values = _valid_values(sample_pixels, nodata_mask)
    if method == "sar_db":
        kind = sar_kind or ("amplitude" if np.dtype(dtype).kind in "iu" else
                            "db" if values.size and (values < 0).any() else "linear")
        return _fit_sar(values, rule, bands, kind, absolute=True)
    return _fit(values, method, rule, bands)


def fit_view(sample_pixels: np.ndarray, nodata_mask: np.ndarray | None, rule: SensorRule, dtype: str,
             sar_kind: str | None = None) -> Scaler:
    """The 8-bit view quality and pHash see: identity for uint8, else a per-scene stretch on
    valid pixels (percentiles; in dB for SAR), whatever the samples are stored as."""
    if np.dtype(dtype) == np.uint8:
        return Scaler("none")
    values = _valid_values(sample_pixels, nodata_mask)
    bands = sample_pixels.shape[-1]
    if sar_kind is not None:
        return _fit_sar(values, rule, bands, sar_kind, absolute=False)
    return _fit(values, "percentile", rule, bands)

"""What a SAR raster's values are, and which of them are fill.

Three kinds of single-polarisation SAR values reach the tiler, and each needs its own
treatment (Sentinel-1 product specification, ESA S1-RS-MDA-52-7441 §2.3; ASF RTC guide):
- ``amplitude``: uncalibrated digital numbers of a GRD product (uint16); ``20*log10`` gives
  relative dB with no absolute meaning, so any display stretch is fitted per scene;
- ``linear``: calibrated backscatter (sigma0 / gamma0 / beta0, power, float, >= 0, typically
  0.001..1); ``10*log10`` gives absolute dB (-25..0 dB over land);
- ``db``: values already in decibels (float, mostly negative).
In amplitude and linear data an exact 0 is no signal at all: it is the fill of GRD slice
borders and of terrain-corrected products (no nodata flag, ~2 % of a GRD scene), and a zero in
a statistic or a stretch would read as -infinity dB. NaN is fill in every kind; an exact 0 in
dB data is a valid value (1.0 linear).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from pipeline.scene import SceneInfo, SensorRule
from pipeline.strips import BandPlan, plan_bands

KINDS = ("amplitude", "linear", "db")
_LINEAR_WORDS = re.compile(r"sigma0|gamma0|beta0|sigma_?nought|gamma_?nought|rtc|calibrat", re.I)
_DB_WORDS = re.compile(r"(?<![a-z])db(?![a-z])|decibel", re.I)


_SAR_PRODUCTS = re.compile(r"^(GRD[HMF]?|SLC|RTC|GTC|GEC|SSC|MGD|SGF|SCN[AB]?)(\b|_)", re.I)


def is_sar(rule: SensorRule, scene: SceneInfo | None = None) -> bool:
    """SAR scenes: the rule says so (an explicit ``sar`` kind or the SAR stretch), or the
    product registry named a SAR product type (GRD, SLC, RTC, ...)."""
    if rule.sar is not None or rule.scaling == "sar_db":
        return True
    return bool(scene is not None and scene.product and _SAR_PRODUCTS.match(scene.product))


def _evidence(scene: SceneInfo | None) -> str:
    if scene is None:
        return ""
    parts = [scene.uri, scene.product or "", *scene.tags.keys(), *scene.tags.values()]
    return " ".join(parts)


def sar_kind(rule: SensorRule, scene: SceneInfo | None, dtype: str, values: np.ndarray | None) -> str:
    """The kind of SAR values: the rule's word first, then the product's words, then values.

    Integer data is amplitude DN (calibrated products are float); float values decide next
    (more than 1 % negative: dB, else linear); without values, a product, path or tag word
    (dB vs sigma0/gamma0/RTC) decides, linear by default.
    """
    if rule.sar is not None:
        return rule.sar
    if np.dtype(dtype).kind in "iu":
        return "amplitude"
    if values is not None:
        finite = values[np.isfinite(values)]
        if finite.size:  # power and amplitude are never negative; dB of land mostly are
            return "db" if (finite < 0).mean() > 0.01 else "linear"
    words = _evidence(scene)
    if _DB_WORDS.search(words) and not _LINEAR_WORDS.search(words):
        return "db"
    return "linear"


def zero_is_fill(kind: str) -> bool:
    """Whether an exact 0 marks missing data for this kind (see the module docstring)."""
    return kind in ("amplitude", "linear")


def plan_fill(src, scene: SceneInfo, rule: SensorRule) -> tuple[BandPlan, str | None]:
    """Bands with their unflagged fill (the rule's nodata; zeros of SAR amplitude/linear) and
    the SAR kind as far as dtype and product tell it (None for optical data)."""
    fills = () if rule.nodata is None else (float(rule.nodata),)
    bands = plan_bands(src, scene.uri, rule.bands, rule.band_names, scene.band_names, fills)
    if not is_sar(rule, scene):
        return bands, None
    kind = sar_kind(rule, scene, bands.dtype, None)
    if zero_is_fill(kind):
        bands = replace(bands, fill_values=(*bands.fill_values, 0.0))
    return bands, kind


def refine_kind(bands: BandPlan, kind: str, rule: SensorRule, scene: SceneInfo, sample, valid):
    """Float SAR: the values decide linear vs dB; in dB an exact 0 is data, not fill."""
    kind = sar_kind(rule, scene, bands.dtype, sample if valid is None else sample[valid])
    if not zero_is_fill(kind) and rule.nodata != 0.0:
        bands = replace(bands, fill_values=tuple(v for v in bands.fill_values if v != 0.0))
    return bands, kind

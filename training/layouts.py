"""The band layouts of a run: what the loader normalizes with and what the model builds inputs for.

A layout (``catalogs.layouts``: sensor + bands + dtype) is resolved once per run from the sample
index (the catalog says each row's layout) and the corpus manifest (statistics, and each band's
centre wavelength and native GSD when the producer knew them). The trainer never asks the
product registry: what it knows of a band is what the manifest recorded. A layout without manifest
statistics (an older corpus keyed by sensor, or a bare shard list) falls back to the sensor's
entry of matching width, then to an estimate from its first samples.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass


from catalogs.errors import UsageError
from catalogs.layouts import assumed_wavelengths, parse_layout_key
from training.normalize import BandStats, pixel_stats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunLayout:
    """One layout of a run, as the loader and the model see it."""

    key: str  # catalogs.layouts.layout_key ("" for a shard list without catalog)
    bands: int
    dtype: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    wavelengths_nm: tuple[float, ...] | None = None  # None: not placeable in the spectrum
    gsd_m: tuple[float | None, ...] | None = None
    count: int = 0  # samples of the selection

    @property
    def stats(self) -> BandStats:
        return BandStats(self.mean, self.std)

    def to_dict(self) -> dict:
        """Plain types, for checkpoints (``weights_only``) and model cards."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> RunLayout:
        tup = lambda v: None if v is None else tuple(v)  # noqa: E731
        return cls(d["key"], int(d["bands"]), d["dtype"], tuple(d["mean"]), tuple(d["std"]),
                   tup(d.get("wavelengths_nm")), tup(d.get("gsd_m")), int(d.get("count", 0)))


def manifest_entry(records: dict, key: str, bands: int) -> dict | None:
    """The manifest ``stats`` record of layout ``key``: by key, else by sensor (manifests written
    before layouts), else the only record of that width."""
    sensor = parse_layout_key(key)[0] if key.count("/") == 2 else key
    for candidate in (records.get(key), records.get(sensor)):
        if candidate is not None and len(candidate.get("mean", ())) == bands:
            return candidate
    fitting = [r for r in records.values() if len(r.get("mean", ())) == bands]
    return fitting[0] if len(fitting) == 1 else None


def resolve_layout(key: str, bands: int, records: dict, count: int, estimate) -> RunLayout:
    """A run layout from its manifest record, or from ``estimate() -> BandStats`` without one."""
    entry = manifest_entry(records, key, bands)
    sensor, names, dtype = parse_layout_key(key) if key.count("/") == 2 else (key, (), "")
    if entry is None:
        log.warning("no corpus statistics for layout %r: normalizing with an estimate from its samples", key)
        stats = estimate()
        mean, std, known, gsd = stats.mean, stats.std, None, None
    else:
        mean, std = tuple(map(float, entry["mean"])), tuple(map(float, entry["std"]))
        known, gsd = entry.get("wavelengths_nm"), entry.get("gsd_m")
        dtype = dtype or entry.get("dtype", "")
    names = names or tuple(f"b{i + 1}" for i in range(bands))
    wavelengths = assumed_wavelengths(names, dtype, known)
    return RunLayout(key, bands, dtype, mean, std, wavelengths, None if gsd is None else tuple(gsd), count)


def estimate(samples) -> BandStats:
    """Band mean and std of decoded ``(key, image, meta)`` samples of one layout."""
    return pixel_stats(image for _, image, _ in samples)


def find_layout(layouts: tuple[RunLayout, ...], name: str | None, bands: int | None = None) -> int:
    """Index of the layout named ``name`` (its key, a unique substring of it, or its number); with
    no name, the only layout, else the one of ``bands`` bands placed in the visible spectrum (RGB)."""
    if name is not None:
        if name.isdigit() and int(name) < len(layouts):
            return int(name)
        hits = [i for i, l in enumerate(layouts) if l.key == name] or \
               [i for i, l in enumerate(layouts) if name in l.key]
        if len(hits) != 1:
            raise UsageError("--layout", f"{name!r} matches {len(hits)} of {[l.key for l in layouts]}")
        return hits[0]
    if len(layouts) == 1:
        return 0
    fitting = [i for i, l in enumerate(layouts) if bands is None or l.bands == bands]
    visible = [i for i in fitting if is_visible(layouts[i])]
    for choice in (visible, fitting):
        if choice:
            return max(choice, key=lambda i: layouts[i].count)
    raise UsageError("--layout", f"no layout with {bands} bands among {[l.key for l in layouts]}; name one")


def is_visible(layout: RunLayout) -> bool:
    """Whether every band lies in the visible range (400-700 nm): an RGB-like layout."""
    return layout.wavelengths_nm is not None and all(400 <= w <= 700 for w in layout.wavelengths_nm)

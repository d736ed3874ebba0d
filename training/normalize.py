"""Band normalization, in one place: where the statistics come from and how samples use them.

Samples are standardized per band with the corpus statistics of their band layout (the
manifest's ``stats``, written by the build), never ImageNet's: any band count, any dtype. A bare shard list
without a manifest falls back to estimates from a few decoded samples, with a warning.

Two callers, one arithmetic: the MIM stream ships tiles in their sample dtype and standardizes
whole batches on the device (:func:`standardize_batch`, 4x fewer bytes through the loader than
float32 for uint8); the labeled dataset standardizes each item in its worker
(:func:`standardize`). Both floor the std at :data:`MIN_STD`, so a constant band gives zeros
rather than infinities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from catalogs.errors import CorpusError
from catalogs.layouts import layout_key
from catalogs.manifest import read_manifest

log = logging.getLogger(__name__)

MIN_STD = 1e-6


@dataclass(frozen=True)
class BandStats:
    """Per-band mean and std in sample units (from the corpus manifest's ``stats``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class StatsTable:
    """Picks the statistics of a sample (the manifest's ``stats`` are keyed by layout)."""

    stats: dict

    def for_sample(self, meta: dict, bands: int) -> BandStats:
        """By the sample's layout key, else its sensor (manifests before layouts), else the only
        statistics of that band count."""
        key = layout_key(meta.get("sensor"), meta.get("bands"), meta.get("dtype"), bands)
        chosen = next((s for s in (self.stats.get(key), self.stats.get(meta.get("sensor")))
                       if s is not None and len(s.mean) == bands), None)
        if chosen is None:
            fitting = [s for s in self.stats.values() if len(s.mean) == bands]
            if len(fitting) != 1:
                raise KeyError(f"no statistics for sensor {meta.get('sensor')!r} ({bands} bands); "
                               f"have {sorted(self.stats)}")
            chosen = fitting[0]
        return chosen


def stats_from_manifest(corpus: str) -> dict[str, BandStats]:
    """``{stats key (layout key; sensor in older corpora): BandStats}`` from the manifest (may be empty)."""
    stats = read_manifest(corpus).get("stats") or {}
    return {key: BandStats(tuple(map(float, v["mean"])), tuple(map(float, v["std"])))
            for key, v in stats.items()}


def manifest_stats_table(corpus: str) -> StatsTable:
    """The manifest's statistics of ``corpus``; raises when it has none (labeled corpora must)."""
    stats = stats_from_manifest(corpus)
    if not stats:
        raise CorpusError(corpus, "the manifest has no normalization statistics (was the build finished?)")
    return StatsTable(stats)


def pixel_stats(images) -> BandStats:
    """Band mean and std over every pixel of ``[H, W, C]`` images of one band set."""
    pixels = np.concatenate([image.reshape(-1, image.shape[2]).astype(np.float64) for image in images])
    return BandStats(tuple(pixels.mean(0).tolist()), tuple(np.maximum(pixels.std(0), MIN_STD).tolist()))


def estimate_stats(samples) -> dict[str, BandStats]:
    """Per-sensor band statistics of decoded ``(key, image, meta)`` samples (no manifest)."""
    groups: dict[str, list[np.ndarray]] = {}
    for _, image, meta in samples:
        groups.setdefault(str(meta.get("sensor", "")), []).append(image)
    out = {sensor: pixel_stats(images) for sensor, images in groups.items()}
    log.warning("no corpus statistics: normalizing with estimates from %d sample(s)", len(samples))
    return out


def standardize(tile: np.ndarray, band: BandStats) -> np.ndarray:
    """``[H, W, C]`` float32 tile standardized per band."""
    return (tile - np.asarray(band.mean, np.float32)) / np.maximum(np.asarray(band.std, np.float32), MIN_STD)


def standardize_batch(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``image [B, C, H, W]`` standardized with each sample's ``mean``/``std`` ``[B, C]``."""
    return (image - mean[:, :, None, None]) / std.clamp_min(MIN_STD)[:, :, None, None]  # [B, C, H, W]

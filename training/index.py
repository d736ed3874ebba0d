"""The sample index the stream plans over: every sample's shard, byte offset and size.

It comes from the catalog (a query selects rows, so only their bytes are ever read) or, for a
bare list of shard URLs, from a cached tar header scan. Both give the same thing: integer arrays
sorted by (shard, offset), on which ``training.plan`` computes each epoch's order without
touching the data. Normalization statistics come from the corpus manifest alongside.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from catalogs.errors import InputError, RingmoWarning
from catalogs.layout import join
from catalogs.manifest import read_manifest
from training.sources import expand_urls, shard_samples
from training.transforms import BandStats

log = logging.getLogger(__name__)

_CATALOG_COLUMNS = ["tile_id", "shard", "offset", "size", "sensor", "band_count"]


@dataclass(frozen=True)
class SampleIndex:
    """Samples sorted by (shard, offset); ``shard`` indexes ``urls``."""

    urls: tuple[str, ...]
    shard: np.ndarray  # int64 [M]
    offset: np.ndarray  # int64 [M]
    size: np.ndarray  # int64 [M]

    def __len__(self) -> int:
        return len(self.offset)

    def counts(self) -> np.ndarray:
        """Samples per shard, in ``urls`` order: ``[S]``."""
        return np.bincount(self.shard, minlength=len(self.urls)).astype(np.int64)

    def total_bytes(self, positions: np.ndarray | None = None) -> int:
        return int(self.size.sum() if positions is None else self.size[positions].sum())


def _sorted_index(urls: list[str], shard: np.ndarray, offset: np.ndarray, size: np.ndarray) -> SampleIndex:
    order = np.lexsort((offset, shard))
    return SampleIndex(tuple(urls), shard[order].astype(np.int64), offset[order].astype(np.int64),
                       size[order].astype(np.int64))


def index_from_table(table: pa.Table, corpus: str) -> SampleIndex:
    """Index of catalog rows (columns shard, offset, size; shard relative to ``corpus``)."""
    if table.num_rows == 0:
        raise InputError(corpus, "the selection holds no samples: the catalog query (the selection flags) "
                         "matched no row; `ringmo query CORPUS ... --format count` shows what matches")
    shards = table.column("shard").to_pylist()
    names = sorted(set(shards))
    ids = {name: i for i, name in enumerate(names)}
    return _sorted_index(
        [join(corpus, name) for name in names],
        np.array([ids[s] for s in shards], dtype=np.int64),
        table.column("offset").to_numpy(),
        table.column("size").to_numpy(),
    )


def index_from_catalog(corpus: str, query=None) -> SampleIndex:
    """Index of the catalog rows of ``corpus`` matching a ``catalogs.query.Query``."""
    from catalogs.query import read_catalog

    table = read_catalog(corpus, query, columns=[*_CATALOG_COLUMNS, "label"])
    check_one_layout(table)
    labeled = table.num_rows - table.column("label").null_count
    if table.num_rows and labeled == table.num_rows:
        warnings.warn(f"{corpus}: a labeled corpus (every selected sample has a class label): pretraining ignores "
                      "the labels; a labeled corpus is meant for `ringmo finetune/evaluate --data`", RingmoWarning,
                      stacklevel=2)
    return index_from_table(table.select(_CATALOG_COLUMNS), corpus)


def check_one_layout(table: pa.Table) -> None:
    """Batches need one band count: refuse a selection that mixes them, naming the sensors."""
    layouts: dict = {}
    for sensor, bands in zip(table.column("sensor").to_pylist(), table.column("band_count").to_pylist()):
        layouts.setdefault(bands, set()).add(sensor)
    if len(layouts) > 1:
        detail = "; ".join(f"{b} bands: {sorted(s)}" for b, s in sorted(layouts.items(), key=str))
        raise InputError("selection", f"mixes band counts ({detail}); select one layout, e.g. --sensor")


def index_from_shards(patterns: list[str] | str, cache_dir: str | None = None) -> SampleIndex:
    """Index of every sample of the shards (header scan per shard, cached in ``cache_dir``)."""
    urls = expand_urls(patterns)
    shard, offset, size = [], [], []
    for i, url in enumerate(urls):
        for _, off, length in shard_samples(url, cache_dir):
            shard.append(i)
            offset.append(off)
            size.append(length)
    if not offset:
        raise InputError(str(patterns), f"no samples in {len(urls)} shard(s)")
    return _sorted_index(urls, np.array(shard), np.array(offset), np.array(size))


def corpus_of_shards(urls: tuple[str, ...]) -> str | None:
    """The corpus root when shards sit at ``CORPUS/shards/*.tar`` with a manifest, else None.

    Remote shard URLs are looked up the same way (one small manifest read), so a run given
    ``s3://bucket/corpus/shards/*.tar`` normalizes with the build's statistics instead of
    downloading samples to estimate them.
    """
    first = urls[0]
    if first.startswith("pipe:"):
        return None
    if "://" in first and not first.startswith("file://"):
        root = first.rsplit("/", 2)[0]
        try:
            return root if read_manifest(root) else None
        except (OSError, ValueError):  # no manifest we can read there: estimate stats instead
            return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(first.removeprefix("file://"))))
    return root if os.path.exists(os.path.join(root, "manifest.json")) else None


def stats_from_manifest(corpus: str) -> dict[str, BandStats]:
    """``{stats key (sensor): BandStats}`` from the corpus manifest (may be empty)."""
    stats = read_manifest(corpus).get("stats") or {}
    return {key: BandStats(tuple(map(float, v["mean"])), tuple(map(float, v["std"])))
            for key, v in stats.items()}


def estimate_stats(samples) -> dict[str, BandStats]:
    """Per-sensor band statistics of decoded ``(key, image, meta)`` samples (no manifest)."""
    groups: dict[str, list[np.ndarray]] = {}
    for _, image, meta in samples:
        groups.setdefault(str(meta.get("sensor", "")), []).append(
            image.reshape(-1, image.shape[2]).astype(np.float64))
    out = {}
    for sensor, arrays in groups.items():
        pixels = np.concatenate(arrays)
        out[sensor] = BandStats(tuple(pixels.mean(0).tolist()), tuple(np.maximum(pixels.std(0), 1e-6).tolist()))
    log.warning("no corpus statistics: normalizing with estimates from %d sample(s)", len(samples))
    return out


@dataclass(frozen=True)
class StatsTable:
    """Picks the statistics of a sample by its sensor (the manifest's stats key)."""

    stats: dict

    def for_sample(self, meta: dict, bands: int) -> BandStats:
        chosen = self.stats.get(meta.get("sensor"))
        if chosen is None:
            fitting = [s for s in self.stats.values() if len(s.mean) == bands]
            if len(fitting) != 1:
                raise KeyError(f"no statistics for sensor {meta.get('sensor')!r} ({bands} bands); "
                               f"have {sorted(self.stats)}")
            chosen = fitting[0]
        return chosen

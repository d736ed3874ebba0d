"""The sample index the stream plans over: every sample's shard, byte offset and size.

It comes from the catalog (a query selects rows, so only their bytes are ever read) or, for a
bare list of shard URLs, from a cached tar header scan. Both give the same thing: integer arrays
sorted by (shard, offset), on which ``training.plan`` computes each epoch's order without
touching the data. Normalization statistics live in ``training.normalize``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from catalogs.errors import InputError, RingmoWarning
from catalogs.layout import MANIFEST
from catalogs.layouts import layout_key
from catalogs.store import is_local, join, local_path
from catalogs.manifest import read_manifest
from training.sources import expand_urls, shard_samples

_CATALOG_COLUMNS = ["tile_id", "shard", "offset", "size", "sensor", "bands", "band_count", "dtype"]


@dataclass(frozen=True)
class SampleIndex:
    """Samples sorted by (shard, offset); ``shard`` indexes ``urls``, ``layout`` indexes ``layouts``.

    Layouts come from the catalog (sensor, bands, dtype per row); a bare shard list has one
    unnamed layout (``layouts == ()``), its band count probed from the first sample.
    """

    urls: tuple[str, ...]
    shard: np.ndarray  # int64 [M]
    offset: np.ndarray  # int64 [M]
    size: np.ndarray  # int64 [M]
    layout: np.ndarray | None = None  # int64 [M]; None: one layout
    layouts: tuple[str, ...] = ()  # catalogs.layouts.layout_key of each layout id
    band_counts: tuple[int, ...] = ()  # bands of each layout (catalog band_count)

    def layout_ids(self) -> np.ndarray:
        """Each sample's layout id, ``[M]`` (zeros when the index has one layout)."""
        return np.zeros(len(self.offset), dtype=np.int64) if self.layout is None else self.layout

    def __len__(self) -> int:
        return len(self.offset)

    def counts(self) -> np.ndarray:
        """Samples per shard, in ``urls`` order: ``[S]``."""
        return np.bincount(self.shard, minlength=len(self.urls)).astype(np.int64)

    def total_bytes(self, positions: np.ndarray | None = None) -> int:
        return int(self.size.sum() if positions is None else self.size[positions].sum())


def _sorted_index(urls: list[str], shard: np.ndarray, offset: np.ndarray, size: np.ndarray,
                  layout: np.ndarray | None = None, layouts: tuple = (), band_counts: tuple = ()) -> SampleIndex:
    order = np.lexsort((offset, shard))
    return SampleIndex(tuple(urls), shard[order].astype(np.int64), offset[order].astype(np.int64),
                       size[order].astype(np.int64), None if layout is None else layout[order].astype(np.int64),
                       layouts, band_counts)


def _layouts_of(table: pa.Table) -> tuple[np.ndarray | None, tuple[str, ...], tuple[int, ...]]:
    """``(layout id per row, layout keys sorted, band count per layout)`` of catalog rows."""
    if "sensor" not in table.column_names or "band_count" not in table.column_names:
        return None, (), ()
    column = {n: table.column(n).to_pylist() if n in table.column_names else [None] * table.num_rows
              for n in ("sensor", "bands", "band_count", "dtype")}
    keys = [layout_key(s, b, d, c) for s, b, c, d in zip(column["sensor"], column["bands"], column["band_count"],
                                                           column["dtype"])]
    names = sorted(set(keys))
    counts = {k: int(c or 0) for k, c in zip(keys, column["band_count"])}
    ids = {k: i for i, k in enumerate(names)}
    return np.array([ids[k] for k in keys], dtype=np.int64), tuple(names), tuple(counts[k] for k in names)


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
        *_layouts_of(table),
    )


def index_from_catalog(corpus: str, query=None) -> SampleIndex:
    """Index of the catalog rows of ``corpus`` matching a ``catalogs.query.Query``."""
    from catalogs.query import read_catalog

    table = read_catalog(corpus, query, columns=[*_CATALOG_COLUMNS, "label"])
    labeled = table.num_rows - table.column("label").null_count
    if table.num_rows and labeled == table.num_rows:
        warnings.warn(f"{corpus}: a labeled corpus (every selected sample has a class label): pretraining ignores "
                      "the labels; a labeled corpus is meant for `ringmo finetune/evaluate --data`", RingmoWarning,
                      stacklevel=2)
    return index_from_table(table.select(_CATALOG_COLUMNS), corpus)


def check_one_layout(table: pa.Table) -> None:
    """A labeled set feeds one classifier input: refuse a selection that mixes band counts, naming
    the sensors (pretraining plans one layout per batch instead)."""
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
    if not is_local(first):
        root = first.rsplit("/", 2)[0]
        try:
            return root if read_manifest(root) else None
        except (OSError, ValueError):  # no manifest we can read there: estimate stats instead
            return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(local_path(first))))
    return root if os.path.exists(os.path.join(root, MANIFEST)) else None

"""Labeled samples of a corpus for fine-tuning: a map-style dataset read by byte range.

Labeled sets are small (thousands to tens of thousands of images), so random access by index
is simpler than the MIM stream: each item is one ``(shard, offset, size)`` read through the
same ``Fetcher`` and ``decode_sample`` as pretraining, augmented (training) or only resized
(evaluation) by ``training.transforms``, then standardized with the corpus statistics of the
sample's sensor. Class indexes follow the manifest's ``classes`` list, so every split and every
run of one corpus agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader

from catalogs.errors import InputError
from catalogs.manifest import read_manifest
from catalogs.query import Query, read_catalog
from training.data import Fetcher
from training.decode import decode_augmented, decode_sample
from training.fetched import FetchedSamples
from training.index import SampleIndex, check_one_layout, index_from_table
from training.normalize import StatsTable, standardize
from training.transforms import AugmentConfig

_COLUMNS = ["tile_id", "shard", "offset", "size", "label", "split", "sensor", "band_count"]


@dataclass(frozen=True)
class LabeledRows:
    """The samples of one split: their byte ranges, class indexes and the class names."""

    index: SampleIndex
    targets: np.ndarray  # int64 [N], index into classes
    keys: tuple[str, ...]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.targets)


def corpus_classes(corpus: str) -> tuple[str, ...]:
    """Class names of a labeled corpus (manifest ``classes``, else the catalog's labels)."""
    classes = read_manifest(corpus).get("classes")
    if classes:
        return tuple(classes)
    labels = read_catalog(corpus, columns=["label"]).column("label")
    found = sorted(set(pc.drop_null(labels).to_pylist()))
    if not found:
        raise InputError(corpus, "has no labeled samples: it is a pretraining corpus; fine-tuning and evaluation "
                         "need a labeled one (`ringmo build --labels from-folders|LABELS.csv ...`)")
    return tuple(found)


def labeled_rows(corpus: str, split: str, classes: tuple[str, ...] | None = None) -> LabeledRows:
    """Kept, labeled rows of ``split``, in (shard, offset) order so reads run forwards."""
    known = corpus_classes(corpus)  # refuses an unlabeled corpus with a message that says so
    classes = classes or known
    table = read_catalog(corpus, Query(splits=(split,)), columns=_COLUMNS)
    table = table.filter(pc.is_valid(table.column("label")))
    if table.num_rows == 0:
        raise InputError(corpus, f"no labeled samples in split {split!r}")
    check_one_layout(table)
    table = table.sort_by([("shard", "ascending"), ("offset", "ascending")])
    lookup = {name: i for i, name in enumerate(classes)}
    labels = table.column("label").to_pylist()
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        raise InputError(corpus, f"labels {unknown} are not among the classes {list(classes)}")
    return LabeledRows(index_from_table(table, corpus), np.array([lookup[v] for v in labels], np.int64),
                       tuple(table.column("tile_id").to_pylist()), tuple(classes))


class LabeledImages(FetchedSamples):
    """``(image [C, S, S] float32 standardized, class index)`` per item.

    Training draws come from a generator seeded by ``(seed, epoch, item)``: reruns and any
    worker count see the same crops. Readers open lazily, once per worker process.
    """

    def __init__(self, rows: LabeledRows, stats: StatsTable, augment_cfg: AugmentConfig, seed: int = 0):
        super().__init__(rows.index, seed)
        self.rows, self.stats, self.augment_cfg = rows, stats, augment_cfg

    def __getitem__(self, i: int):
        _, tile, meta = decode_augmented(self.fragment(i), self.augment_cfg, self.rng(i))
        tile = tile.astype(np.float32)  # [S, S, C]
        tile = standardize(tile, self.stats.for_sample(meta, tile.shape[2]))
        return torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1))), int(self.rows.targets[i])


def band_count(rows: LabeledRows) -> int:
    """Input channels of the rows (the first sample's bands)."""
    fetcher = Fetcher(rows.index)
    try:
        _, image, _ = decode_sample(fetcher.fetch(np.arange(1))[0])
    finally:
        fetcher.close()
    return int(image.shape[2])


def make_loader(dataset: LabeledImages, batch_size: int, *, shuffle: bool, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False) -> DataLoader:
    """A seeded ``DataLoader`` (its own generator: the global torch RNG stays the model's)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=drop_last, generator=torch.Generator().manual_seed(seed),
                      persistent_workers=False)


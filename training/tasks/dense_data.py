"""Dense samples of a labeled corpus: image, class mask and (change) the second date, per item.

A dense sample in a shard is ``KEY.<fmt>`` (the image, date A for change), ``KEY.mask.png`` (one
band of class indexes, 255 = ignore), ``KEY.b.<fmt>`` (date B, change only) and ``KEY.json``.
Items are read by byte range like ``training.labeled``; training draws one flip/rotation per
item from a generator seeded by ``(seed, epoch, item)`` and applies it to every member alike,
so image and mask stay aligned pixel for pixel. Masks are never interpolated (nearest only).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow.compute as pc
import torch

from catalogs.manifest import read_manifest
from catalogs.query import Query, read_catalog
from catalogs.tarformat import parse_fragment
from training.decode import IMAGE_EXTENSIONS, decode_image
from training.fetched import FetchedSamples
from training.index import SampleIndex, check_one_layout, index_from_table
from training.normalize import StatsTable, manifest_stats_table, standardize
from training.transforms import _orient, resize

IGNORE = 255
_COLUMNS = ["tile_id", "shard", "offset", "size", "split", "sensor", "band_count", "members"]


@dataclass(frozen=True)
class DenseCorpus:
    """What a dense corpus says of itself (manifest): its task, classes and ignore index."""

    root: str
    task: str
    classes: tuple[str, ...]
    ignore_index: int = IGNORE


def dense_corpus(corpus: str) -> DenseCorpus:
    """The task and classes of a corpus built with ``ringmo build --task ...``."""
    manifest = read_manifest(corpus)
    task = manifest.get("task")
    if task not in ("segmentation", "change"):
        raise ValueError(f"{corpus} is not a dense corpus (manifest task {task!r}): build it with "
                         "`ringmo build ... --task segmentation|change --masks ...`")
    return DenseCorpus(corpus, task, tuple(manifest["classes"]), int(manifest.get("ignore_index", IGNORE)))


def dense_rows(corpus: str, split: str) -> SampleIndex:
    """Byte ranges of the dense samples of ``split``, in (shard, offset) order."""
    table = read_catalog(corpus, Query(splits=(split,)), columns=_COLUMNS)
    table = table.filter(pc.is_valid(table.column("members")))
    if table.num_rows == 0:
        raise ValueError(f"{corpus}: no dense samples in split {split!r}")
    check_one_layout(table)
    return index_from_table(table.sort_by([("shard", "ascending"), ("offset", "ascending")]), corpus)


def has_split(corpus: str, split: str) -> bool:
    try:
        dense_rows(corpus, split)
    except ValueError:
        return False
    return True


def _image_member(sample: dict) -> str:
    for ext in IMAGE_EXTENSIONS:
        if ext in sample:
            return ext
    raise ValueError(f"sample {sample.get('__key__')} has no image member ({sorted(sample)})")


def decode_dense(fragment) -> dict:
    """``{"key", "image" [H,W,C], "mask" [H,W] uint8, "b" [H,W,C] or None, "meta"}``."""
    import json

    sample = parse_fragment(fragment)
    ext = _image_member(sample)
    pair = next((k for k in sample if k.startswith("b.")), None)
    return {"key": sample["__key__"], "image": decode_image(sample[ext], ext),
            "mask": decode_image(sample["mask.png"], "png")[:, :, 0],
            "b": decode_image(sample[pair], pair.split(".", 1)[1]) if pair else None,
            "meta": json.loads(bytes(sample["json"])) if "json" in sample else {}}


class DenseSamples(FetchedSamples):
    """``(image [C,S,S] float32, mask [S,S] int64)``, or ``((a, b), mask)`` for change pairs.

    Images are resized to ``img_size`` (bilinear) and masks with nearest; training adds one
    random flip / 90-degree turn shared by all members. Standardized with the corpus statistics.
    """

    def __init__(self, index: SampleIndex, stats: StatsTable, img_size: int, train: bool, seed: int = 0):
        super().__init__(index, seed)
        self.stats, self.img_size, self.train = stats, img_size, train

    def raw(self, i: int) -> dict:
        return decode_dense(self.fragment(i))

    def _norm(self, image: np.ndarray, meta: dict) -> torch.Tensor:
        image = resize(image, self.img_size).astype(np.float32)  # [S, S, C]
        image = standardize(image, self.stats.for_sample(meta, image.shape[2]))
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def __getitem__(self, i: int):
        item = self.raw(i)
        mask = item["mask"]
        if mask.shape != (self.img_size, self.img_size):
            mask = cv2.resize(mask, (self.img_size, self.img_size), interpolation=cv2.INTER_NEAREST)
        members = [item["image"]] + ([item["b"]] if item["b"] is not None else [])
        if self.train:
            draws = self.rng(i).integers(0, 4, size=3)
            hflip, vflip, turns = bool(draws[0] % 2), bool(draws[1] % 2), int(draws[2])
            members = [_orient(m, hflip, vflip, turns) for m in members]
            mask = _orient(mask[:, :, None], hflip, vflip, turns)[:, :, 0]
        tensors = [self._norm(m, item["meta"]) for m in members]
        target = torch.from_numpy(mask.astype(np.int64))
        return (tuple(tensors) if len(tensors) == 2 else tensors[0]), target


def dense_dataset(corpus: str, split: str, img_size: int, train: bool, seed: int = 0) -> DenseSamples:
    return DenseSamples(dense_rows(corpus, split), manifest_stats_table(corpus), img_size, train, seed)

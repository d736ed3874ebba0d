"""Detection samples of a corpus built with ``ringmo build --task detection``: image + objects.

Each item is one tile, read by byte range like the classification set (``training.labeled``),
standardized with the corpus statistics, resized to the model's input side, and its objects
(from ``KEY.json``, see ``pipeline.object_tiles``) scaled with it. ``difficult`` and
``truncated`` objects are kept but flagged ``ignore``: trainers neither reward nor penalize
predictions on them, and the DOTA metric does not count them. Training draws a seeded
horizontal/vertical flip per ``(seed, epoch, item)``. ``tile_info`` says where the tile sits in
its image, so predictions can be put back on whole images before scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader

from catalogs.manifest import read_manifest
from catalogs.query import Query, read_catalog
from training.decode import decode_sample
from training.fetched import FetchedSamples
from training.index import SampleIndex, check_one_layout, index_from_table
from training.normalize import StatsTable, standardize

_COLUMNS = ["tile_id", "shard", "offset", "size", "split", "sensor", "band_count", "uri", "col_off", "row_off",
            "win_width", "win_height", "width", "height", "objects"]


@dataclass(frozen=True)
class DetectionRows:
    """The tiles of one split, their byte ranges and placement in their images."""

    index: SampleIndex
    tiles: list[dict]  # catalog rows (uri, col_off, row_off, win_width, width, ...) in index order
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tiles)


def detection_classes(corpus: str) -> tuple[str, ...]:
    manifest = read_manifest(corpus)
    if manifest.get("task") != "detection" or not manifest.get("classes"):
        raise ValueError(f"{corpus} is not a detection corpus: build it with `ringmo build IMAGES OUT --task "
                         "detection --labels ANNOTATIONS`")
    return tuple(manifest["classes"])


def detection_rows(corpus: str, split: str, classes: tuple[str, ...]) -> DetectionRows:
    table = read_catalog(corpus, Query(splits=(split,)), columns=_COLUMNS)
    if table.num_rows == 0:
        raise ValueError(f"{corpus}: no samples in split {split!r}")
    check_one_layout(table)
    table = table.sort_by([("shard", "ascending"), ("offset", "ascending")])
    table = table.filter(pc.is_valid(table.column("objects")))
    return DetectionRows(index_from_table(table, corpus), table.drop_columns(["objects"]).to_pylist(), classes)


def objects_to_targets(objects: list[dict], classes: tuple[str, ...], scale: float) -> dict:
    """Tensors of one tile's objects at ``scale`` (input side / sample side)."""
    lookup = {name: i for i, name in enumerate(classes)}
    n = len(objects)
    hbb = np.array([o["hbb"] for o in objects], np.float32).reshape(n, 4) * scale
    obb = np.array([o["obb"] for o in objects], np.float32).reshape(n, 5)
    obb[:, :4] *= scale
    return {"hbb": torch.from_numpy(hbb), "obb": torch.from_numpy(obb),
            "labels": torch.tensor([lookup[o["class"]] for o in objects], dtype=torch.int64),
            "ignore": torch.tensor([bool(o["difficult"] or o["truncated"]) for o in objects], dtype=torch.bool),
            "ids": torch.tensor([int(o.get("id", -1)) for o in objects], dtype=torch.int64)}


def flip_targets(target: dict, side: int, axis: int) -> dict:
    """Targets of an image flipped along ``axis`` (1: left-right, 0: up-down) of a ``side`` square."""
    hbb, obb = target["hbb"].clone(), target["obb"].clone()
    lo, hi = (0, 2) if axis == 1 else (1, 3)
    hbb[:, lo], hbb[:, hi] = side - target["hbb"][:, hi], side - target["hbb"][:, lo]
    obb[:, 1 - axis] = side - obb[:, 1 - axis]
    obb[:, 4] = torch.remainder(-obb[:, 4] + math.pi / 2, math.pi) - math.pi / 2  # mirror turns the angle
    return {**target, "hbb": hbb, "obb": obb}


@dataclass(frozen=True)
class Letterbox:
    factor: float  # input pixels per sample pixel
    pad: tuple  # index of the margin (rows, cols) in the input


def letterbox(image: np.ndarray, side: int) -> tuple[np.ndarray, Letterbox]:
    """``image`` scaled by one factor so its longer side is ``side``, padded (bottom, right) to a
    square: boxes scale by the same factor, so oriented boxes stay rectangles."""
    h, w = image.shape[:2]
    factor = side / max(h, w)
    nh, nw = max(1, round(h * factor)), max(1, round(w * factor))
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        image = image.reshape(nh, nw, -1)
    out = np.zeros((side, side, image.shape[2]), image.dtype)
    out[:nh, :nw] = image
    margin = np.ones((side, side), bool)
    margin[:nh, :nw] = False
    return out, Letterbox(factor, np.nonzero(margin))


class DetectionTiles(FetchedSamples):
    """``(image [C, S, S] float32 standardized, target dict)`` per tile."""

    def __init__(self, rows: DetectionRows, stats: StatsTable, img_size: int, train: bool, seed: int = 0):
        super().__init__(rows.index, seed)
        self.rows, self.stats, self.img_size, self.train = rows, stats, img_size, train

    def __getitem__(self, i: int):
        _, image, meta = decode_sample(self.fragment(i))  # [H, W, C]
        image, scale = letterbox(image, self.img_size)
        image = standardize(image.astype(np.float32), self.stats.for_sample(meta, image.shape[2]))
        image[scale.pad] = 0.0  # the letterbox margin reads as the mean
        target = objects_to_targets(meta.get("objects", []), self.rows.classes, scale.factor)
        if self.train:
            rng = self.rng(i)
            for axis in (1, 0):
                if rng.random() < 0.5:
                    image = np.flip(image, axis)
                    target = flip_targets(target, self.img_size, axis)
        target["index"] = int(i)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), target

    def tile_info(self, i: int) -> dict:
        """Where tile ``i`` sits in its image and the scene pixels per input pixel."""
        row = self.rows.tiles[i]
        letterboxed = self.img_size / max(row["width"], row["height"])  # input px per sample px
        return {"uri": row["uri"], "x0": row["col_off"], "y0": row["row_off"],
                "scale": row["win_width"] / row["width"] / letterboxed}


def collate(batch):
    return torch.stack([image for image, _ in batch]), [target for _, target in batch]


def make_loader(dataset: DetectionTiles, batch_size: int, *, shuffle: bool, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed))

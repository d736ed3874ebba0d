"""Train/val/test assignment by spatial blocks, so near-duplicates cannot leak across splits.

Overlapping tiles and near-duplicates sit next to each other on the ground, so the unit of
assignment is a block: a coarse H3 cell of the footprint centroid (georeferenced tiles) or the
source scene (the rest). A tile inherits its block's split; dedup has already merged copies
within overlapping footprints, and a coarse block keeps what remains of neighbouring tiles
together (only pairs straddling a block border can be split apart).

A block's split is a hash of (seed, block): adding scenes never moves existing blocks. For
labeled corpora, ``stratify_by_label`` instead orders each label's blocks by that hash and cuts
them at the split fractions of the label's tile count, so every class gets its share even when
it has few blocks (at the price of possibly moving blocks of that label when it grows).
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.seeded import seeded_uniform

SPLITS = ("train", "val", "test")
SPLIT_BY = ("block", "scene", "folders")
_FOLDER_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "test": "test", "testing": "test"}


@dataclass(frozen=True)
class SplitConfig:
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    block_resolution: int = 3  # H3 resolution of blocks (3: ~12,000 km², ~60 km edge)
    seed: int = 0
    stratify_by_label: bool = True  # only acts when the table has labels
    # block: H3 blocks (georeferenced) or scenes; scene: always the source scene (benchmark
    # images); folders: a train/val/test folder in the source path (a dataset's official split),
    # scenes without one drawn by scene
    by: str = "block"

    def __post_init__(self):
        if self.by not in SPLIT_BY:
            raise ValueError(f"split by must be one of {SPLIT_BY}, got {self.by!r}")


def folder_split(uri: str) -> str | None:
    """``train``/``val``/``test`` when a folder of ``uri`` is named so (the last such folder)."""
    found = None
    for part in uri.replace("\\", "/").split("/")[:-1]:
        found = _FOLDER_SPLITS.get(part.lower(), found)
    return found


def block_keys(table: pa.Table, resolution: int, by: str = "block") -> np.ndarray:
    """Block of each row: ``h3:<cell>`` at ``resolution``, or ``src:<scene_id>``."""
    if by != "block":
        return np.asarray([f"src:{s}" for s in table.column("scene_id").to_pylist()], dtype=object)
    lon = table.column("lon").to_numpy(zero_copy_only=False).astype(np.float64)
    lat = table.column("lat").to_numpy(zero_copy_only=False).astype(np.float64)
    geo = pc.fill_null(table.column("georeferenced"), False).to_numpy(zero_copy_only=False).astype(bool)
    geo &= np.isfinite(lon) & np.isfinite(lat)
    to_cell = h3.latlng_to_cell
    return np.asarray(
        [
            f"h3:{to_cell(y, x, resolution)}" if g else f"src:{s}"
            for x, y, g, s in zip(lon.tolist(), lat.tolist(), geo.tolist(), table.column("scene_id").to_pylist())
        ],
        dtype=object,
    )


def _cut(position: np.ndarray, config: SplitConfig) -> np.ndarray:
    """Split name for positions in [0, 1) along the cumulative fractions."""
    fractions = np.asarray([config.train, config.val, config.test], dtype=np.float64)
    if (fractions < 0).any() or fractions.sum() <= 0:
        raise ValueError(f"split fractions must be >= 0 with a positive sum, got {fractions.tolist()}")
    edges = np.cumsum(fractions / fractions.sum())
    return np.asarray(SPLITS, dtype=object)[np.minimum(np.searchsorted(edges, position, side="right"), 2)]


def assign_splits(table: pa.Table, config: SplitConfig = SplitConfig()) -> pa.Array:
    """Split of every row of ``table`` (deterministic under ``config.seed``)."""
    if table.num_rows == 0:
        return pa.array([], type=pa.string())
    blocks = block_keys(table, config.block_resolution, config.by)
    names, block = np.unique(blocks.astype(str), return_inverse=True)
    draw = seeded_uniform(names, config.seed, stream="split")
    labels = table.column("label") if "label" in table.column_names else None
    if not config.stratify_by_label or labels is None or labels.null_count == table.num_rows:
        drawn = _cut(draw, config)[block]
    else:
        drawn = _stratified(block, draw, labels, config)
    if config.by == "folders":
        preset = [folder_split(u) for u in table.column("uri").to_pylist()]
        drawn = np.asarray([p or d for p, d in zip(preset, drawn)], dtype=object)
    return pa.array(drawn.tolist(), type=pa.string())


def _stratified(block: np.ndarray, draw: np.ndarray, labels, config: SplitConfig) -> np.ndarray:
    """Per label, blocks in draw order are cut at the fractions of that label's tile count."""
    label_names, label = np.unique(np.asarray(pc.fill_null(labels, "").to_pylist(), dtype=str), return_inverse=True)
    counts = np.zeros((draw.shape[0], label_names.shape[0]), dtype=np.int64)
    np.add.at(counts, (block, label), 1)
    block_label = counts.argmax(axis=1)  # a block follows its most common label
    size = counts.sum(axis=1)
    split_of_block = np.empty(draw.shape[0], dtype=object)
    for value in np.unique(block_label):
        members = np.flatnonzero(block_label == value)
        members = members[np.argsort(draw[members], kind="stable")]
        cumulative = np.cumsum(size[members])
        midpoint = (cumulative - size[members] / 2.0) / cumulative[-1]
        split_of_block[members] = _cut(midpoint, config)
    return split_of_block[block]

"""Pack kept tiles into WebDataset tar shards, recording each sample's byte range.

Planning (pure) shuffles the kept rows of each split with a seed and cuts them into
size-bounded shards; writing moves already-encoded bytes from staging into a tar, never
decoding pixels. The tar format (fixed headers, so the same plan gives byte-identical shards)
belongs to :mod:`catalogs.tarformat`; each shard is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from catalogs.layout import shard_name
from catalogs.pagecache import read_once
from catalogs.store import Store
from catalogs.tarformat import BLOCK, SampleTarWriter
from pipeline.dense import parse_members
SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True)
class PackConfig:
    """Shard bounds: a shard closes when the next sample would pass either limit."""

    max_bytes: int = 256 * 1024 * 1024
    max_count: int = 10_000
    seed: int = 0


@dataclass(frozen=True)
class ShardPlan:
    """One shard to write: its path (relative to the corpus root) and its rows' tile ids, in order."""

    shard: str
    tile_ids: tuple[str, ...]


def _split_rank(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split), split) if split in SPLIT_ORDER else (len(SPLIT_ORDER), split)


def plan_shards(kept: pa.Table, config: PackConfig) -> list[ShardPlan]:
    """Shuffle each split's rows with the seed and cut them into bounded shards.

    The shuffle starts from rows sorted by tile id, so the plan depends only on which tiles are
    kept and on the seed, never on the order scenes finished tiling.
    """
    ids = np.asarray(kept.column("tile_id").to_pylist(), dtype=object)
    splits = np.asarray(kept.column("split").to_pylist(), dtype=object)
    estimated = kept.column("stage_size").to_numpy() + 2 * BLOCK + 1024  # image + json
    plans: list[ShardPlan] = []
    for rank, split in enumerate(sorted(set(splits), key=_split_rank)):
        rows = np.flatnonzero(splits == split)
        rows = rows[np.argsort(ids[rows], kind="stable")]
        rows = rows[np.random.default_rng([config.seed, rank]).permutation(len(rows))]
        plans.extend(_cut(split, ids[rows], estimated[rows], config))
    return plans


def _cut(split: str, ids: np.ndarray, sizes: np.ndarray, config: PackConfig) -> list[ShardPlan]:
    plans, current, current_bytes = [], [], 0
    for tile_id, size in zip(ids, sizes):
        if current and (len(current) >= config.max_count or current_bytes + size > config.max_bytes):
            plans.append(ShardPlan(shard_name(split, len(plans)), tuple(current)))
            current, current_bytes = [], 0
        current.append(tile_id)
        current_bytes += int(size)
    if current:
        plans.append(ShardPlan(shard_name(split, len(plans)), tuple(current)))
    return plans


def sample_metadata(row: dict) -> bytes:
    """The ``KEY.json`` member: what a consumer needs without opening the catalog."""
    acquired = row.get("acquired")
    meta = {
        "tile_id": row["tile_id"],
        "scene_id": row["scene_id"],
        "uri": row["uri"],
        "sensor": row["sensor"],
        "bands": (row.get("bands") or "").split(",") if row.get("bands") else [],
        "dtype": row["dtype"],
        "format": row["format"],
        "gsd_m": None if row.get("gsd_m") is None else round(float(row["gsd_m"]), 6),
        "width": row["width"],
        "height": row["height"],
        "lon": row.get("lon"),
        "lat": row.get("lat"),
        "src_crs": row.get("src_crs") or None,
        "acquired": acquired.isoformat() if acquired is not None else None,
        "quality": None if row.get("quality") is None else round(float(row["quality"]), 6),
        "cell": row.get("cell"),
        "split": row.get("split"),
        "label": row.get("label"),
    }
    if row.get("members"):  # dense samples: the members that follow the image (pipeline.dense)
        meta["members"] = [name for name, _ in parse_members(row["members"])]
    if row.get("objects") is not None:  # detection corpora: the tile's clipped objects
        meta["objects"] = json.loads(row["objects"])
    return json.dumps(meta, sort_keys=True).encode()


def write_shard(rows: list[dict], corpus_root: str | os.PathLike, shard: str, *,
                checkpoint: Callable[[str], None] | None = None) -> tuple[list[dict], str]:
    """Write one shard from staged bytes; return per-row placement and the shard's sha256.

    ``corpus_root`` is a local path or an fsspec URL. ``rows`` are candidate rows (with
    ``stage_file/offset/size``) in shard order. Placement rows carry tile_id, shard, offset,
    size (all members with headers) and the image sha256. The shard is written atomically
    (:func:`catalogs.store.atomic_output`: a temp name carrying the pid, so a task run twice at
    once cannot interleave two writers in one file, or one upload on an object store).
    ``checkpoint("sample")`` is called after each sample (the build's fault-injection hook). A
    failed write (disk full) raises an ``OSError`` naming the file and publishes nothing.
    """
    store = Store(corpus_root)
    placements = []
    with store.writing(shard, streamed=True) as raw, SampleTarWriter(raw) as tar:
        for row, staged in staged_samples(store, rows):
            image, extras = _split_members(row, staged)
            offset, size = tar.add(row["tile_id"], [(row["format"], image), *extras, ("json", sample_metadata(row))])
            placements.append({
                "tile_id": row["tile_id"], "shard": shard, "offset": offset,
                "size": size, "sha256": hashlib.sha256(image).hexdigest(),
            })
            if checkpoint is not None:
                checkpoint("sample")
    return placements, tar.sha256()


def _split_members(row: dict, staged: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The image and the dense members (``mask.png``, ``b.<fmt>``) staged after it."""
    members = parse_members(row.get("members"))
    end = len(staged) - sum(size for _, size in members)
    image, extras = staged[:end], []
    for name, size in members:
        extras.append((name, staged[end:end + size]))
        end += size
    return image, extras


def staged_samples(store: Store, rows: list[dict], batch: int = 64):
    """(row, staged bytes) in ``rows`` order.

    Local staging is read ahead and dropped from the page cache once read
    (:func:`catalogs.pagecache.read_once`: each staged byte is read once, by this pack). Remote
    staging is fetched a batch of exact byte ranges at a time (``cat_ranges``, concurrent on
    async stores such as S3), so memory stays at one batch and no staged byte is downloaded twice.
    """
    if store.local:
        ranges = [(store.url(r["stage_file"]), r["stage_offset"], r["stage_size"]) for r in rows]
        for row, data in zip(rows, read_once(ranges)):
            yield row, _checked(store, row, data)
        return
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        ranges = [(r["stage_file"], r["stage_offset"], r["stage_size"]) for r in chunk]
        for row, data in zip(chunk, store.read_ranges(ranges)):
            yield row, _checked(store, row, data)


def _checked(store: Store, row: dict, data: bytes) -> bytes:
    if len(data) != row["stage_size"]:
        raise OSError(f"{store.url(row['stage_file'])}: staged sample {row['tile_id']} is truncated "
                      f"({len(data)} of {row['stage_size']} bytes)")
    return data

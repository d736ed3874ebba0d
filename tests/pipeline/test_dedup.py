"""Dedup: planted duplicates found, look-alikes kept, representatives and geography respected."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely

from benchmarks.dedup import planted_set
from catalogs.schema import BLANK, CANDIDATE_SCHEMA, DUPLICATE, KEPT, conform
from pipeline.dedup import DedupConfig, dedup, overlap_blocks, rotations
from pipeline.hashing import phash_batch


def candidates(phash, quality=None, gsd=None, boxes=None, pixel_hash=None, status=None) -> pa.Table:
    """A candidate table; ``boxes`` = (xmin, ymin, xmax, ymax) per row, None = not georeferenced."""
    n = len(phash)
    boxes = boxes if boxes is not None else [None] * n
    geoms = [shapely.to_wkb(shapely.box(*b)) if b is not None else None for b in boxes]
    table = pa.table(
        {
            "tile_id": [f"{i:016x}" for i in range(n)],
            "scene_id": [f"scene{i % 3}" for i in range(n)],
            "uri": ["mem://x"] * n,
            "sensor": ["rgb"] * n,
            "phash": pa.array(np.asarray(phash, dtype=np.uint64)),
            "quality": pa.array(quality if quality is not None else [0.5] * n, type=pa.float32()),
            "gsd_m": pa.array(gsd if gsd is not None else [1.0] * n, type=pa.float32()),
            "georeferenced": [b is not None for b in boxes],
            "geometry": pa.array(geoms, type=pa.binary()),
            "bbox": [dict(zip(("xmin", "ymin", "xmax", "ymax"), b)) if b else None for b in boxes],
            "pixel_hash": pixel_hash if pixel_hash is not None else [f"p{i}" for i in range(n)],
            "status": status if status is not None else [KEPT] * n,
        }
    )
    return conform(table, CANDIDATE_SCHEMA)


def scores(out: pa.Table, group: np.ndarray) -> tuple[float, float]:
    """Precision of drops (named representative is a copy of the same original) and recall."""
    status = np.asarray(out.column("status").to_pylist())
    dup_of = out.column("duplicate_of").to_pylist()
    index = {t: i for i, t in enumerate(out.column("tile_id").to_pylist())}
    dropped = np.flatnonzero(status == DUPLICATE)
    right = sum(group[index[dup_of[i]]] == group[i] for i in dropped)
    planted = group.shape[0] - np.unique(group).shape[0]
    return right / max(len(dropped), 1), right / planted


@pytest.fixture(scope="module")
def planted():
    images, group = planted_set(400, seed=11)
    return phash_batch(images), group


def test_planted_duplicates_found_and_look_alikes_kept(planted):
    hashes, group = planted
    out = dedup(candidates(hashes), DedupConfig())
    precision, recall = scores(out, group)
    assert precision >= 0.98
    assert recall >= 0.9


def test_rotated_copies_need_rotation_invariance():
    images, group = planted_set(300, seed=12, edits=("rot90",))
    hashes = phash_batch(images)
    plain = scores(dedup(candidates(hashes), DedupConfig()), group)
    turned = scores(dedup(candidates(hashes), DedupConfig(rotation_invariant=True)), group)
    assert plain[1] < 0.5  # only copies of one original rotated alike match each other
    assert turned[1] >= 0.8 and turned[0] >= 0.95


def test_rotations_of_rotations_compose():
    h = np.random.default_rng(0).integers(0, 2**63, 50).astype(np.uint64)
    r = rotations(h)
    assert np.array_equal(rotations(r[:, 1])[:, 1], r[:, 2])  # 90 + 90 = 180
    assert np.array_equal(rotations(r[:, 2])[:, 2], h)  # 180 + 180 = identity


def test_representative_is_best_quality_then_finest_gsd_then_id():
    same = [0xABCDEF] * 4
    out = dedup(candidates(same, quality=[0.5, 0.9, 0.9, 0.9], gsd=[0.3, 2.0, 1.0, 1.0]))
    status, dup_of = out.column("status").to_pylist(), out.column("duplicate_of").to_pylist()
    assert status == [DUPLICATE, DUPLICATE, KEPT, DUPLICATE]
    assert dup_of == ["0000000000000002", "0000000000000002", None, "0000000000000002"]


def test_exact_duplicates_by_pixel_hash_across_places():
    out = dedup(candidates([1, 2**63 - 1], boxes=[(0, 0, 1, 1), (50, 50, 51, 51)], pixel_hash=["same", "same"]))
    assert out.column("status").to_pylist() == [KEPT, DUPLICATE]
    assert out.column("detail").to_pylist()[1].startswith("exact")


def test_overlap_restriction():
    boxes = [
        (0.0, 0.0, 0.01, 0.01),  # a
        (0.001, 0.0, 0.011, 0.01),  # 90 % over a: a duplicate
        (0.01, 0.0, 0.02, 0.01),  # touches a's edge: a neighbour, not a copy
        (30.0, 30.0, 30.01, 30.01),  # the same look far away
    ]
    out = dedup(candidates([7] * 4, quality=[0.9, 0.5, 0.5, 0.5], boxes=boxes))
    assert out.column("status").to_pylist() == [KEPT, DUPLICATE, KEPT, KEPT]
    merged = dedup(candidates([7] * 4, boxes=boxes), DedupConfig(require_overlap=False))
    assert merged.column("status").to_pylist().count(KEPT) == 1


def test_ungeoreferenced_tiles_match_anything():
    out = dedup(candidates([7, 7, 7], quality=[0.9, 0.5, 0.5], boxes=[(0, 0, 0.01, 0.01), None, None]))
    assert out.column("status").to_pylist() == [KEPT, DUPLICATE, DUPLICATE]


def test_overlapping_footprints_share_a_block_across_borders():
    rng = np.random.default_rng(3)
    lo = rng.uniform(-1, 1, (400, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(0.01, 0.05, (400, 2))], axis=1)
    member, block = overlap_blocks(boxes, cell_deg=0.05)
    shared = {}
    for m, b in zip(member.tolist(), block.tolist()):
        shared.setdefault(m, set()).add(b)
    geoms = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    i, j = np.triu_indices(400, 1)
    hit = shapely.intersects(geoms[i], geoms[j])
    assert hit.sum() > 50
    assert all(shared[a] & shared[b] for a, b in zip(i[hit], j[hit]))


def test_default_cell_is_twice_the_99th_percentile_extent_and_cells_wrap_the_antimeridian():
    rng = np.random.default_rng(5)
    lo = rng.uniform(-10, 10, (1000, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(0.001, 0.02, (1000, 2))], axis=1)
    extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    default, explicit = overlap_blocks(boxes), overlap_blocks(boxes, cell_deg=2 * np.percentile(extent, 99))
    assert all(np.array_equal(a, b) for a, b in zip(default, explicit))
    # a box across 180° and one just east of -180° overlap, so they must share a cell
    member, block = overlap_blocks(np.array([[179.995, 0.0, -179.995, 0.01], [-179.999, 0.0, -179.99, 0.01]]),
                                   cell_deg=0.05)
    assert set(block[member == 0].tolist()) & set(block[member == 1].tolist())


def test_only_kept_rows_take_part_and_every_drop_names_a_kept_tile(planted):
    hashes, group = planted
    status = [BLANK if i % 7 == 0 else KEPT for i in range(len(hashes))]
    out = dedup(candidates(hashes, status=status))
    final = out.column("status").to_pylist()
    assert all(final[i] == BLANK for i in range(0, len(hashes), 7))
    kept = {t for t, s in zip(out.column("tile_id").to_pylist(), final) if s == KEPT}
    dups = [d for d, s in zip(out.column("duplicate_of").to_pylist(), final) if s == DUPLICATE]
    assert dups and all(d in kept for d in dups)


def _with_layouts(table: pa.Table, sensors, bands) -> pa.Table:
    table = table.set_column(table.column_names.index("sensor"), "sensor", pa.array(sensors))
    table = table.set_column(table.column_names.index("bands"), "bands", pa.array(bands))
    return table.set_column(table.column_names.index("dtype"), "dtype", pa.array(["uint8"] * table.num_rows))


def test_duplicates_are_searched_within_one_band_layout():
    """VV vs VH of one scene and a single band vs the stack holding it are not copies; the same
    band set from two products of one place still is (exact and near alike)."""
    box = (10.0, 45.0, 10.1, 45.1)
    near = [0x0F0F_0F0F_0F0F_0F0F, 0x0F0F_0F0F_0F0F_0F0E]
    table = candidates([near[0], near[1], near[0], near[1], near[0], near[0]], boxes=[box] * 6,
                       pixel_hash=["same"] * 6)
    table = _with_layouts(table, ["sentinel1", "sentinel1", "landsat8", "landsat8", "sentinel1", "landsat8"],
                          ["VV", "VH", "B4", "B2,B3,B4,B5", "VV", "B4"])
    out = dedup(table, DedupConfig())
    status = out.column("status").to_pylist()
    dup_of = out.column("duplicate_of").to_pylist()
    assert status[:4] == [KEPT] * 4
    assert (status[4], dup_of[4]) == (DUPLICATE, "0000000000000000")  # VV again: exact copy of row 0
    assert (status[5], dup_of[5]) == (DUPLICATE, "0000000000000002")  # B4 again
    near_only = candidates(near * 2, boxes=[box] * 4)
    near_only = _with_layouts(near_only, ["sentinel1"] * 4, ["VV", "VH", "VH", "VV"])
    out = dedup(near_only, DedupConfig())
    assert out.column("duplicate_of").to_pylist() == [None, None, "0000000000000001", "0000000000000000"]

"""Exact and near-duplicate removal over the candidate table (metadata only, never pixels).

Exact duplicates share ``pixel_hash`` (decoded pixels, so two encodings of one image match),
wherever they come from. Near duplicates are pHash pairs within ``max_distance`` bits, found by
``pipeline.hashsearch`` and merged into clusters with union-find; each cluster keeps one
representative, chosen deterministically: best ``quality``, then finest ``gsd_m``, then the
smallest ``tile_id``. Every dropped row gets ``status = duplicate`` and names its representative
in ``duplicate_of``.

Why a default of 10 bits: on textured 64–128 px images (``benchmarks/dedup.py``) JPEG q70,
±10 % brightness and a 90 % resize move the pHash by ≤ 4 bits (p99), a 1–3 % crop by ≤ 10 (p99),
while unrelated images and same-style look-alikes are ≥ 18 bits apart (1st percentile 22).

Geography: by default a georeferenced pair only counts when the footprints overlap (by
``min_overlap`` of the smaller one), so look-alike ocean or desert tiles far apart, or merely
adjacent, are not merged. That also makes the search cheap: tiles are blocked on a lon/lat grid
and a tile joins every cell its bbox touches, so two intersecting footprints always share a
cell (the shared point lies in one) and a pair is never lost at a block border. Tiles without a
georeference are compared with everything (a global pass).

Rotation: pHash bits of a 90°-rotated image follow from the DCT (rotation = transpose + sign
flip of odd frequencies), but the median threshold moves with the flipped signs, so bits derived
from the stored hash are off by ~4 bits (median; p99 10) from the rotated image's true pHash.
``rotation_invariant`` uses these derived hashes (no extra columns); storing the three rotated
hashes at tile time would remove that error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from catalogs.layouts import layout_key
from catalogs.schema import DUPLICATE, KEPT
from pipeline.hashsearch import radius_pairs


@dataclass(frozen=True)
class DedupConfig:
    """How near two tiles must be to count as one."""

    max_distance: int = 10  # pHash bits
    require_overlap: bool = True  # georeferenced pairs must overlap on the ground
    min_overlap: float = 0.5  # intersection area / smaller footprint area; > 0 always required
    rotation_invariant: bool = False  # also match copies rotated by 90/180/270 degrees
    recall: float = 1.0  # of the hash search at max_distance; < 1 allows seeded LSH (big global passes)
    seed: int = 0


def representative_rank(table: pa.Table) -> np.ndarray:
    """Rank of each row as a representative (0 = best): quality desc, gsd_m asc, tile_id asc."""
    quality = _floats(table, "quality", -np.inf)
    gsd = _floats(table, "gsd_m", np.inf)
    ids = np.asarray(table.column("tile_id").to_pylist(), dtype=str)
    order = np.lexsort((ids, gsd, -quality))
    rank = np.empty(table.num_rows, dtype=np.int64)
    rank[order] = np.arange(table.num_rows)
    return rank


def _floats(table: pa.Table, name: str, missing: float) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, missing)
    values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    return np.where(np.isnan(values), missing, values)


def dedup(table: pa.Table, config: DedupConfig = DedupConfig()) -> pa.Table:
    """``table`` with duplicates marked: ``status``, ``duplicate_of`` and ``detail`` set.

    Only rows whose status is ``kept`` (or null: not yet decided) take part; other rows pass
    through untouched. Exact duplicates go first, then near duplicates among what is left.
    Both are searched within one band layout (sensor + bands + dtype, ``catalogs.layouts``):
    the VV and VH bands of one scene, or one band and a stack holding it, are not copies.
    """
    n = table.num_rows
    status = np.asarray(pc.fill_null(table.column("status"), KEPT).to_pylist(), dtype=object)
    duplicate_of = np.full(n, None, dtype=object)
    if "duplicate_of" in table.column_names:
        duplicate_of[:] = table.column("duplicate_of").to_pylist()
    detail = np.asarray(table.column("detail").to_pylist(), dtype=object)
    ids = np.asarray(table.column("tile_id").to_pylist(), dtype=object)
    rank = representative_rank(table)

    layouts = layout_ids(table)
    active = np.flatnonzero(status == KEPT)
    labels = _exact_groups(table, active, layouts)
    _mark(active, labels, rank, ids, status, duplicate_of, detail, lambda i, r: "exact: same pixel_hash")

    active = np.flatnonzero((status == KEPT) & pc.is_valid(table.column("phash")).to_numpy(zero_copy_only=False))
    hashes = pc.fill_null(table.column("phash"), 0).to_numpy().astype(np.uint64)
    a, b = _near_pairs_per_layout(table, active, layouts, config)
    labels = connected_components(active.shape[0], a, b)
    variants = rotations(hashes) if config.rotation_invariant else hashes[:, None]
    describe = lambda i, r: f"near: phash distance {_distance(variants, i, r)}"  # noqa: E731
    _mark(active, labels, rank, ids, status, duplicate_of, detail, describe)

    out = table
    for name, values in (("status", status), ("detail", detail), ("duplicate_of", duplicate_of)):
        column = pa.array(values.tolist(), type=pa.string())
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, column)
        else:
            out = out.append_column(name, column)
    return out


def _distance(variants: np.ndarray, i: int, j: int) -> int:
    """Smallest pHash distance between any rotation of row ``i`` and row ``j``."""
    return int(np.bitwise_count(variants[i] ^ variants[j, 0]).min())


def layout_ids(table: pa.Table) -> np.ndarray:
    """Per row, a small integer naming its band layout (``catalogs.layouts.layout_key``)."""
    def column(name):
        return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows

    keys = [layout_key(s, b, d) for s, b, d in zip(column("sensor"), column("bands"), column("dtype"))]
    _, ids = np.unique(np.asarray(keys, dtype=str), return_inverse=True) if keys else (None, np.zeros(0))
    return np.asarray(ids, dtype=np.int64).reshape(-1)


def _near_pairs_per_layout(table: pa.Table, active: np.ndarray, layouts: np.ndarray, config: DedupConfig
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``near_pairs`` run once per layout; positions index ``active``."""
    found_a, found_b = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for layout in np.unique(layouts[active]):
        members = np.flatnonzero(layouts[active] == layout)
        a, b = near_pairs(table, active[members], config)
        found_a.append(members[a])
        found_b.append(members[b])
    return np.concatenate(found_a), np.concatenate(found_b)


def _exact_groups(table: pa.Table, active: np.ndarray, layouts: np.ndarray) -> np.ndarray:
    """Cluster label per active row: equal for equal layout and ``pixel_hash``, unique when the
    hash is null."""
    values = table.column("pixel_hash").take(pa.array(active)).to_pylist()
    keys = np.asarray([f"{layouts[i]}|{v}" if v is not None else f"\0row{i}" for i, v in zip(active, values)],
                      dtype=object)
    _, labels = np.unique(keys.astype(str), return_inverse=True) if keys.size else (None, keys)
    return np.asarray(labels, dtype=np.int64)


def _mark(active, labels, rank, ids, status, duplicate_of, detail, describe) -> None:
    """Every non-representative member of a cluster becomes a duplicate of its representative."""
    if active.shape[0] == 0:
        return
    order = np.lexsort((rank[active], labels))
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    rep_of = np.maximum.accumulate(np.where(first, np.arange(order.shape[0]), 0))
    for pos in np.flatnonzero(~first):
        row, rep = active[order[pos]], active[order[rep_of[pos]]]
        status[row], duplicate_of[row], detail[row] = DUPLICATE, ids[rep], describe(row, rep)


def rotations(hashes: np.ndarray) -> np.ndarray:
    """``[N, 4]`` pHashes of the image and its 90/180/270° rotations, derived from the bits.

    Bit ``8u + v`` (MSB first, ``pipeline.hashing`` order) is DCT coefficient (u, v). A
    rotation by 90° transposes the block and flips the sign of odd rows; 180° flips coefficients
    with odd u + v. The DC bit is kept. Approximate: see the module docstring.
    """
    h = np.asarray(hashes, dtype=np.uint64)
    shifts = np.uint64(63) - np.arange(64, dtype=np.uint64)
    bits = ((h[:, None] >> shifts) & np.uint64(1)).astype(bool).reshape(-1, 8, 8)  # [N, u, v]
    u, v = np.arange(8)[:, None], np.arange(8)[None, :]
    rot90 = bits.transpose(0, 2, 1) ^ (u % 2 == 1)
    rot180 = bits ^ ((u + v) % 2 == 1)
    rot270 = bits.transpose(0, 2, 1) ^ (v % 2 == 1)
    out = [h]
    for rotated in (rot90, rot180, rot270):
        rotated[:, 0, 0] = bits[:, 0, 0]
        out.append(np.packbits(rotated.reshape(-1, 64), axis=1).view(">u8").reshape(-1).astype(np.uint64))
    return np.stack(out, axis=1)


def near_pairs(table: pa.Table, rows: np.ndarray, config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a, b)`` of positions into ``rows`` that are near duplicates under ``config``."""
    hashes = table.column("phash").take(pa.array(rows)).to_numpy(zero_copy_only=False).astype(np.uint64)
    geo = _georeferenced(table, rows)
    if config.require_overlap and geo.any():
        bounds = _bounds(table, rows[geo])
        members, blocks = overlap_blocks(bounds)
        a, b = _search(hashes, (np.flatnonzero(geo)[members], blocks), config)
        if (~geo).any():  # tiles without a place may copy anything: one global pass for them
            ga, gb = _search(hashes, None, config)
            keep = ~(geo[ga] & geo[gb])
            a, b = np.concatenate([a, ga[keep]]), np.concatenate([b, gb[keep]])
        both = geo[a] & geo[b]
        fine = np.ones(a.shape[0], dtype=bool)
        fine[both] = footprints_overlap(table, rows[a[both]], rows[b[both]], config.min_overlap)
        a, b = a[fine], b[fine]
    else:
        a, b = _search(hashes, None, config)
    return a, b


def _search(hashes: np.ndarray, blocks, config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """``radius_pairs`` over the hashes (and, if asked, their rotations) with ``blocks``."""
    n = hashes.shape[0]
    if not config.rotation_invariant:
        return radius_pairs(hashes, config.max_distance, blocks, recall=config.recall, seed=config.seed)
    variants = rotations(hashes).T.reshape(-1)  # [4 * N]: all originals, then all rot90, ...
    if blocks is None:
        blocks = np.zeros(n, dtype=np.int64)
    if isinstance(blocks, tuple):
        blocks = (np.concatenate([blocks[0] + k * n for k in range(4)]), np.tile(blocks[1], 4))
    else:
        blocks = np.tile(blocks, 4)
    a, b = radius_pairs(variants, config.max_distance, blocks, recall=config.recall, seed=config.seed)
    a, b = a % n, b % n
    keep = a != b
    codes = np.unique(np.minimum(a, b)[keep] * n + np.maximum(a, b)[keep])
    return codes // n, codes % n


def _georeferenced(table: pa.Table, rows: np.ndarray) -> np.ndarray:
    geo = pc.fill_null(table.column("georeferenced"), False).take(pa.array(rows))
    has_geometry = pc.is_valid(table.column("geometry")).take(pa.array(rows))
    return (geo.to_numpy(zero_copy_only=False) & has_geometry.to_numpy(zero_copy_only=False)).astype(bool)


def _bounds(table: pa.Table, rows: np.ndarray) -> np.ndarray:
    """``[N, 4]`` xmin, ymin, xmax, ymax from the ``bbox`` covering (or the geometry)."""
    if "bbox" in table.column_names and table.column("bbox").null_count == 0:
        bbox = table.column("bbox").take(pa.array(rows)).combine_chunks()
        return np.stack([bbox.field(k).to_numpy(zero_copy_only=False) for k in ("xmin", "ymin", "xmax", "ymax")], 1)
    geoms = shapely.from_wkb(table.column("geometry").take(pa.array(rows)).to_numpy(zero_copy_only=False))
    return shapely.bounds(geoms)


def overlap_blocks(bounds: np.ndarray, cell_deg: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(member, block)``: every lon/lat grid cell each bbox touches.

    Two intersecting footprints share a point, that point lies in a cell, and both bboxes touch
    it: so blocked search loses no overlapping pair. The cell is twice the 99th percentile of
    bbox extents (most tiles touch 1–4 cells); bboxes crossing the antimeridian (xmin > xmax)
    wrap around. Compiled passes over the bounds (extents, cell counts, then the pairs) and a
    percentile that partitions the extents in place: at 10⁷ tiles numpy's version held ten
    float or int temporaries as long as the corpus, and touching that much new memory was most
    of the blocked search's time.
    """
    bounds = np.ascontiguousarray(bounds, dtype=np.float64)
    if cell_deg is None:
        extent = _extents(bounds)
        cell_deg = float(max(2.0 * np.percentile(extent, 99, overwrite_input=True), 1e-7)) if extent.size else 1.0
        del extent
    columns = int(np.ceil(360.0 / cell_deg))
    total = _count_cells(bounds, cell_deg)
    member = np.empty(total, dtype=np.int64)
    block = np.empty_like(member)
    _fill_cells(bounds, cell_deg, columns, member, block)
    return member, block


@numba.njit(cache=True)
def _east(box):
    """A bbox row's xmax, past 180° when the box crosses the antimeridian (xmin > xmax)."""
    return box[2] + 360.0 if box[2] < box[0] else box[2]


@numba.njit(cache=True)
def _cell_range(box, cell_deg):
    """``(ix0, ix1, iy0, iy1)``: the grid cells a bbox row touches."""
    return (np.int64(np.floor((box[0] + 180.0) / cell_deg)), np.int64(np.floor((_east(box) + 180.0) / cell_deg)),
            np.int64(np.floor((box[1] + 90.0) / cell_deg)), np.int64(np.floor((box[3] + 90.0) / cell_deg)))


@numba.njit(cache=True)
def _extents(bounds):
    out = np.empty(bounds.shape[0], dtype=np.float64)
    for i in range(bounds.shape[0]):
        out[i] = max(_east(bounds[i]) - bounds[i, 0], bounds[i, 3] - bounds[i, 1])
    return out


@numba.njit(cache=True)
def _count_cells(bounds, cell_deg):
    total = 0
    for i in range(bounds.shape[0]):
        ix0, ix1, iy0, iy1 = _cell_range(bounds[i], cell_deg)
        total += (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
    return total


@numba.njit(cache=True)
def _fill_cells(bounds, cell_deg, columns, member, block):
    """Write every (bbox, cell) pair in one pass, ordered by member."""
    k = 0
    for i in range(bounds.shape[0]):
        ix0, ix1, iy0, iy1 = _cell_range(bounds[i], cell_deg)
        for cy in range(iy0, iy1 + 1):
            for x in range(ix0, ix1 + 1):
                member[k] = i
                block[k] = cy * columns + x % columns
                k += 1


def footprints_overlap(table: pa.Table, a: np.ndarray, b: np.ndarray, min_overlap: float) -> np.ndarray:
    """Whether footprints of rows ``a[k]`` and ``b[k]`` overlap by ``min_overlap`` (and > 0)."""
    if a.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    rows = np.unique(np.concatenate([a, b]))
    geoms = shapely.from_wkb(table.column("geometry").take(pa.array(rows)).to_numpy(zero_copy_only=False))
    ga, gb = geoms[np.searchsorted(rows, a)], geoms[np.searchsorted(rows, b)]
    shared = shapely.area(shapely.intersection(ga, gb))
    smaller = np.minimum(shapely.area(ga), shapely.area(gb))
    ratio = np.divide(shared, smaller, out=np.zeros_like(shared), where=smaller > 0)
    return (shared > 0) & (ratio >= min_overlap)


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label (its smallest member) of each of ``n`` nodes joined by edges ``a–b``."""
    return _union_find(n, np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))


@numba.njit(cache=True)
def _union_find(n, a, b):
    parent = np.arange(n)
    for k in range(a.shape[0]):
        x, y = a[k], b[k]
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        while parent[y] != y:
            parent[y] = parent[parent[y]]
            y = parent[y]
        if x != y:
            parent[max(x, y)] = min(x, y)  # the smaller root wins: labels are the minima
    for i in range(n):
        parent[i] = parent[parent[i]]
    return parent

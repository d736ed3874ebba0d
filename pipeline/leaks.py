"""Split leaks: kept near-duplicates that sit in different splits (a test image seen in training).

Dedup merges near-duplicates before splits are drawn, so a leak only remains when a setting kept
both copies (``require_overlap`` keeps far-apart look-alikes, a smaller ``--dedup-distance``
at build time than asked here). The check is one global pHash radius search over kept rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.hashsearch import radius_pairs

MAX_ROWS = 500_000  # a global search beyond this costs minutes (docs/ARCHITECTURE.md, measured facts); report it skipped


def cross_split_pairs(table: pa.Table, max_distance: int, examples: int = 10) -> dict:
    """``{"checked", "pairs", "by_splits", "examples"}`` of kept rows within ``max_distance`` bits.

    ``table`` holds ``tile_id``, ``split`` and ``phash`` of kept rows; ``examples`` lists the
    closest pairs first as ``[tile_a, tile_b, distance, split_a, split_b]``.
    """
    usable = table.filter(pc.is_valid(table.column("phash")))
    if usable.num_rows > MAX_ROWS:
        return {"checked": 0, "pairs": None, "skipped": f"{usable.num_rows} rows > {MAX_ROWS}"}
    hashes = usable.column("phash").to_numpy(zero_copy_only=False).astype(np.uint64)
    a, b = radius_pairs(hashes, max_distance)
    splits = np.asarray(usable.column("split").to_pylist(), dtype=object)
    leak = splits[a] != splits[b]
    a, b = a[leak], b[leak]
    distance = np.bitwise_count(hashes[a] ^ hashes[b]).astype(np.int64)
    order = np.argsort(distance, kind="stable")
    ids = usable.column("tile_id").to_pylist()
    by_splits: dict[str, int] = {}
    for i, j in zip(a.tolist(), b.tolist()):
        key = "/".join(sorted((str(splits[i]), str(splits[j]))))
        by_splits[key] = by_splits.get(key, 0) + 1
    listed = [[ids[a[k]], ids[b[k]], int(distance[k]), splits[a[k]], splits[b[k]]] for k in order[:examples]]
    return {"checked": usable.num_rows, "pairs": int(a.shape[0]), "by_splits": dict(sorted(by_splits.items())),
            "examples": listed}


def cross_corpus_pairs(corpus: pa.Table, against: pa.Table, max_distance: int) -> list[tuple[int, int, int]]:
    """``(row in corpus, row in against, distance)`` of near-duplicates between two tables.

    Both tables hold a ``phash`` column (rows without one are never paired). One radius search
    runs over the union; only pairs with one member on each side are kept, closest first. A
    pretraining corpus that holds a downstream test image (or a re-encoded, slightly shifted
    copy) inflates that benchmark silently: this is the check that finds it.
    """
    left = pc.fill_null(corpus.column("phash"), 0).to_numpy(zero_copy_only=False)  # uint64, never float
    right = pc.fill_null(against.column("phash"), 0).to_numpy(zero_copy_only=False)
    valid_l = np.flatnonzero(pc.is_valid(corpus.column("phash")).to_numpy(zero_copy_only=False))
    valid_r = np.flatnonzero(pc.is_valid(against.column("phash")).to_numpy(zero_copy_only=False))
    hashes = np.concatenate([left[valid_l], right[valid_r]]).astype(np.uint64)
    a, b = radius_pairs(hashes, max_distance)
    n = len(valid_l)
    across = (a < n) & (b >= n)  # radius_pairs gives i < j, so a corpus row comes first
    a, b = a[across], b[across]
    distance = np.bitwise_count(hashes[a] ^ hashes[b]).astype(np.int64)
    order = np.lexsort((b, a, distance))
    return [(int(valid_l[a[k]]), int(valid_r[b[k] - n]), int(distance[k])) for k in order]

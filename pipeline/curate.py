"""The curate stage: dedup -> balance -> split over the whole candidate table (metadata only).

Order matters: duplicates are removed before balancing so they never use up a cell's quota,
and splits are drawn over what is finally kept. Every candidate leaves with exactly one
status (``kept`` or a reason) and ``accounting`` proves it: candidates = kept + Σ rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from catalogs.schema import CATALOG_SCHEMA, DUPLICATE, KEPT, REASONS, conform
from pipeline.balance import BalanceConfig, balance
from pipeline.dedup import DedupConfig, dedup
from pipeline.split import SplitConfig, assign_splits


@dataclass(frozen=True)
class CurateConfig:
    dedup: DedupConfig = field(default_factory=DedupConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    split: SplitConfig = field(default_factory=SplitConfig)


def curate(candidates: pa.Table, config: CurateConfig = CurateConfig()) -> pa.Table:
    """Candidates with ``status``, ``detail``, ``duplicate_of``, ``cell`` and ``split`` decided.

    A null status (not rejected by the tile stage) counts as ``kept``. ``split`` is set on kept
    rows only; packing fills ``shard``, ``offset``, ``size`` and ``sha256`` later.
    """
    table = conform(candidates, CATALOG_SCHEMA)
    table = table.set_column(table.column_names.index("status"), "status", pc.fill_null(table.column("status"), KEPT))
    table = balance(dedup(table, config.dedup), config.balance)
    kept = pc.equal(table.column("status"), KEPT).combine_chunks()
    splits = pa.nulls(table.num_rows, pa.string())
    if pc.any(kept).as_py():
        assigned = assign_splits(table.filter(kept), config.split)
        splits = pc.replace_with_mask(splits, kept, assigned)
    table = table.set_column(table.column_names.index("split"), "split", splits)
    return conform(table, CATALOG_SCHEMA)


def accounting(table: pa.Table) -> dict:
    """Counts per status, checked: every row has exactly one known status and the identity holds.

    Raises ``ValueError`` naming the broken invariant (a null or unknown status, a duplicate
    without the representative it names, a kept row without a split).
    """
    status = table.column("status").to_pylist()
    counts = {name: 0 for name in (KEPT, *REASONS)}
    problems = []
    for value in status:
        if value not in counts:
            problems.append(f"unknown status {value!r}")
            continue
        counts[value] += 1
    ids = table.column("tile_id").to_pylist()
    known = {i: s for i, s in zip(ids, status)}
    for tid, value, rep in zip(ids, status, table.column("duplicate_of").to_pylist()):
        if (value == DUPLICATE) != (rep is not None):
            problems.append(f"{tid}: status {value!r} with duplicate_of={rep!r}")
        elif rep is not None and known.get(rep) in (None, DUPLICATE):
            problems.append(f"{tid}: duplicate_of {rep!r} is not a representative row")
    if "split" in table.column_names:
        missing = sum(1 for v, s in zip(status, table.column("split").to_pylist()) if v == KEPT and s is None)
        if missing:
            problems.append(f"{missing} kept rows without a split")
    rejected = sum(counts[r] for r in REASONS)
    if counts[KEPT] + rejected != len(status):
        problems.append(f"{len(status)} candidates != {counts[KEPT]} kept + {rejected} rejected")
    if problems:
        raise ValueError("accounting failed: " + "; ".join(problems[:10]))
    return {"candidates": len(status), "kept": counts[KEPT], "rejected": rejected, **counts}

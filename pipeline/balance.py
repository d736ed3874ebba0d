"""Geographic (and sensor/GSD) balancing of the kept candidates, deterministic under a seed.

Pretraining corpora are dominated by a few heavily imaged places. Temperature sampling
flattens that: cell ``c`` with ``n_c`` tiles gets a share ∝ ``n_c^alpha`` of the target size
(alpha = 1 keeps the natural distribution, alpha = 0 is uniform over occupied cells), and a
cell with fewer tiles than its share gives the rest to the others (water-filling).

Water-filling is done with one sort: the tile of within-cell rank ``k`` gets the virtual time
``(k + 1/2) / n_c^alpha``; taking tiles in time order serves every cell at a rate ∝ its weight
until it runs dry, so the first ``target_size`` tiles are exactly the water-filled caps. Sensor
and GSD quotas (maximum fractions of the target) and ``max_per_scene`` are applied on the
same order, so what a quota removes is the least needed tile of its group.

Within a cell the order is a seeded weighted random sample without replacement (Efraimidis–
Spirakis keys ``u^(1/quality)``): better tiles are more likely kept, yet not always the same
kind of tile. ``u`` is a hash of (seed, tile_id), so the draw does not depend on row order.
Non-georeferenced tiles are balanced by source: their cell is ``src:<scene_id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import h3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalogs.schema import BALANCED_OUT, KEPT
from pipeline.seeded import seeded_uniform


@dataclass(frozen=True)
class BalanceConfig:
    """How to balance; ``target_size=None`` applies only the caps and quotas (no cell caps)."""

    h3_resolution: int = 5  # ~250 km² cells
    alpha: float = 0.5
    target_size: int | None = None
    max_per_scene: int | None = None
    sensor_quotas: Mapping[str, float] | None = None  # sensor -> max fraction of the target
    gsd_quotas: Mapping[float, float] | None = None  # GSD upper bound (m) -> max fraction
    seed: int = 0


def assign_cells(table: pa.Table, resolution: int) -> pa.Array:
    """H3 cell of each footprint centroid, or ``src:<scene_id>`` when not georeferenced."""
    lon = table.column("lon").to_numpy(zero_copy_only=False).astype(np.float64)
    lat = table.column("lat").to_numpy(zero_copy_only=False).astype(np.float64)
    geo = pc.fill_null(table.column("georeferenced"), False).to_numpy(zero_copy_only=False).astype(bool)
    geo &= np.isfinite(lon) & np.isfinite(lat)
    scenes = table.column("scene_id").to_pylist()
    to_cell = h3.latlng_to_cell
    cells = [
        to_cell(y, x, resolution) if g else f"src:{s}"
        for x, y, g, s in zip(lon.tolist(), lat.tolist(), geo.tolist(), scenes)
    ]
    return pa.array(cells, type=pa.string())


def priority(table: pa.Table, seed: int) -> np.ndarray:
    """Seeded weighted-sampling key per row (larger = kept first): log(u) / quality."""
    u = seeded_uniform(table.column("tile_id").to_pylist(), seed, stream="balance")
    quality = table.column("quality").to_numpy(zero_copy_only=False).astype(np.float64)
    weight = np.clip(np.nan_to_num(quality, nan=0.5), 0.01, 1.0)
    return np.log(np.maximum(u, 1e-300)) / weight


def _rank_within(groups: np.ndarray, order_key: np.ndarray) -> np.ndarray:
    """0-based rank of each row inside its group when the group is sorted by ``order_key``."""
    order = np.lexsort((order_key, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, order.shape[0]]))
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0]) - first
    return rank


def _codes(values) -> np.ndarray:
    return np.unique(np.asarray(values, dtype=str), return_inverse=True)[1].astype(np.int64)


def balance(table: pa.Table, config: BalanceConfig = BalanceConfig()) -> pa.Table:
    """``table`` with ``cell`` filled and over-represented kept rows set to ``balanced_out``."""
    cells = table.column("cell") if "cell" in table.column_names else None
    if cells is None or cells.null_count:
        cells = assign_cells(table, config.h3_resolution)
    status = np.asarray(pc.fill_null(table.column("status"), KEPT).to_pylist(), dtype=object)
    detail = np.asarray(table.column("detail").to_pylist(), dtype=object)
    rows = np.flatnonzero(status == KEPT)
    sub = table.take(pa.array(rows))
    reasons = _drop_reasons(sub, _codes(pc.take(cells, pa.array(rows)).to_pylist()), config)
    for row, reason in zip(rows.tolist(), reasons.tolist()):
        if reason:
            status[row], detail[row] = BALANCED_OUT, reason
    out = table
    for name, values in (("status", status.tolist()), ("detail", detail.tolist()), ("cell", cells)):
        column = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, column)
        else:
            out = out.append_column(name, column)
    return out


def _drop_reasons(sub: pa.Table, cell: np.ndarray, config: BalanceConfig) -> np.ndarray:
    """Reason per row of ``sub`` (all kept so far): "" = stays kept."""
    n = sub.num_rows
    reasons = np.full(n, "", dtype=object)
    if n == 0:
        return reasons
    prio = priority(sub, config.seed)
    alive = np.ones(n, dtype=bool)
    if config.max_per_scene is not None:
        over = _rank_within(_codes(sub.column("scene_id").to_pylist()), -prio) >= config.max_per_scene
        reasons[over], alive = "max_per_scene", ~over
    time = np.full(n, np.inf)
    idx = np.flatnonzero(alive)
    rank = _rank_within(cell[idx], -prio[idx])
    counts = np.bincount(cell[idx], minlength=cell.max() + 1).astype(np.float64)
    time[idx] = (rank + 0.5) / counts[cell[idx]] ** config.alpha
    cell_draw = seeded_uniform(np.asarray(cell, dtype=str), config.seed, stream="cells")
    order = np.lexsort((-prio, cell_draw, time))  # time order; ties by a seeded cell draw
    order = order[alive[order]]
    target = config.target_size if config.target_size is not None else order.shape[0]
    for name, groups, quotas in _quota_groups(sub, config):
        labels, codes = np.unique(groups[order], return_inverse=True)
        caps = np.array([int(np.floor(quotas[g] * target)) if g in quotas else n for g in labels.tolist()])
        over = _rank_within(codes, np.arange(order.shape[0])) >= caps[codes]
        reasons[order[over]] = name
        order = order[~over]
    reasons[order[target:]] = "cell cap"
    return reasons


def _quota_groups(sub: pa.Table, config: BalanceConfig):
    """(reason, group label per row, {label: max fraction}) for each configured quota."""
    if config.sensor_quotas:
        yield "sensor quota", np.asarray(sub.column("sensor").to_pylist(), dtype=str), dict(config.sensor_quotas)
    if config.gsd_quotas:
        quotas = {float(bound): float(q) for bound, q in config.gsd_quotas.items()}
        bounds = np.asarray(sorted(quotas), dtype=np.float64)
        gsd = np.nan_to_num(sub.column("gsd_m").to_numpy(zero_copy_only=False).astype(np.float64), nan=np.inf)
        position = np.searchsorted(bounds, gsd, side="left")  # bin = smallest bound >= gsd
        names = np.asarray([str(b) for b in bounds.tolist()] + ["above"])
        yield "gsd quota", names[position], {str(b): q for b, q in quotas.items()}


def balance_figures(cells_before, cells_after) -> dict:
    """Normalized entropy (H / ln K over the K occupied cells), Gini and cells covered."""
    out = {}
    for name, cells in (("before", cells_before), ("after", cells_after)):
        values = cells.to_pylist() if hasattr(cells, "to_pylist") else list(cells)
        _, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
        p = counts / max(counts.sum(), 1)
        entropy = float(-(p * np.log(p)).sum() / np.log(len(counts))) if len(counts) > 1 else 1.0
        sorted_counts = np.sort(counts).astype(np.float64)
        k = sorted_counts.shape[0]
        gini = float((2 * np.arange(1, k + 1) - k - 1) @ sorted_counts / (k * sorted_counts.sum())) if k else 0.0
        out.update({f"entropy_{name}": entropy, f"gini_{name}": gini, f"cells_{name}": int(k), f"tiles_{name}": len(values)})
    return out

"""Geo-balancing a skewed catalog: normalized cell entropy and Gini before/after, and seconds.

The catalog (10⁶ rows; 10⁵ with ``--quick``) mimics a real archive: 2,000 places with Zipf
popularity (a few cities imaged again and again), tiles spread around each place, 5 % aerial
images without a georeference (balanced by source). The baseline is a uniform random sample of
the same size, i.e. what one gets without balancing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmarks.figures import Figure, stopwatch
from catalogs.schema import CANDIDATE_SCHEMA, KEPT, conform
from pipeline.balance import BalanceConfig, assign_cells, balance, balance_figures


def skewed_catalog(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    places = 2000
    popularity = 1.0 / np.arange(1, places + 1) ** 1.1
    place = rng.choice(places, n, p=popularity / popularity.sum())
    centers = np.stack([rng.uniform(-170, 170, places), rng.uniform(-60, 70, places)], axis=1)
    lonlat = centers[place] + rng.normal(0, 0.3, (n, 2))
    geo = rng.uniform(size=n) > 0.05
    return conform(
        pa.table(
            {
                "tile_id": [f"{i:016x}" for i in range(n)],
                "scene_id": [f"p{p}-{i % 20}" if g else f"aerial{i % 500}" for i, (p, g) in enumerate(zip(place, geo))],
                "uri": pa.array(["mem://x"] * n),
                "sensor": np.where(rng.uniform(size=n) < 0.3, "sentinel2", "aerial").tolist(),
                "georeferenced": geo,
                "lon": np.where(geo, lonlat[:, 0], np.nan),
                "lat": np.where(geo, lonlat[:, 1], np.nan),
                "quality": pa.array(rng.uniform(0.2, 1.0, n), type=pa.float32()),
                "status": pa.array([KEPT] * n),
            }
        ),
        CANDIDATE_SCHEMA,
    )


def run(quick: bool) -> list[Figure]:
    n = 100_000 if quick else 1_000_000
    table = skewed_catalog(n)
    target = n // 5
    config = BalanceConfig(h3_resolution=4, alpha=0.3, target_size=target, seed=0)
    with stopwatch() as cells_s:
        cells = assign_cells(table, config.h3_resolution)
    with stopwatch() as balance_s:
        out = balance(table.append_column("cell", cells), config)
    kept = np.asarray(out.column("status").to_pylist()) == KEPT
    all_cells = np.asarray(cells.to_pylist(), dtype=object)
    random = np.random.default_rng(1).choice(n, target, replace=False)
    ours = balance_figures(all_cells, all_cells[kept])
    base = balance_figures(all_cells, all_cells[random])
    tag = f"{n:.0e} rows -> {target:.0e}, H3 res 4, alpha 0.3"
    name = "uniform random sample"
    return [
        Figure("balance", f"normalized cell entropy, {tag}", ours["entropy_after"], base["entropy_after"], name, "",
               ours["entropy_after"] / base["entropy_after"], "> 1"),
        Figure("balance", f"normalized cell entropy before, {tag}", ours["entropy_before"], None, "-", "", None),
        Figure("balance", f"Gini of cell counts, {tag}", ours["gini_after"], base["gini_after"], name, "",
               base["gini_after"] / ours["gini_after"], "> 1 (lower Gini)"),
        Figure("balance", f"cells covered, {tag}", ours["cells_after"], base["cells_after"], name, "cells",
               ours["cells_after"] / base["cells_after"], "≥ 1"),
        Figure("balance", f"assign_cells seconds, {tag}", cells_s[0], None, "-", "s", None),
        Figure("balance", f"balance seconds, {tag}", balance_s[0], None, "-", "s", None),
    ]
